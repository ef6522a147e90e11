"""Training data: corpus clips -> cached feature matrices and frame targets.

Each clip ``NAME.flac`` + ``NAME.tsv`` of a corpus split becomes a float16
feature matrix (through the same :class:`~drumscribe.transcribe.features.FeatureExtractor`
that inference uses) and a target matrix built from the annotations with
:func:`frame_targets`. Features are cached as ``.npy`` under
``<corpus>/_features/<settings hash>/`` so later runs skip the audio.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import torch

from drumscribe.transcribe.annotations import Annotations, read_annotations
from drumscribe.transcribe.audio import AUDIO_EXTENSIONS, load_audio
from drumscribe.transcribe.features import FeatureExtractor, FeatureSettings
from drumscribe.transcribe.io import atomic_write



def frame_targets(ann: Annotations, classes: Sequence[str], n_frames: int, fps: float,
                  soft: float = 0.0) -> np.ndarray:
    """Frame target matrix (n_frames, n_classes) from onset annotations.

    Frame ``round(t * fps)`` of an onset gets 1; with ``soft > 0`` its two
    neighbours get ``soft`` (widened targets) unless they are onsets themselves.

    Parameters
    ----------
    ann : Annotations
    classes : sequence of str
    n_frames : int
    fps : float
    soft : float in [0, 1)
    """
    from drumscribe.calibration.metrics import frame_targets as onset_frames

    y = np.zeros((n_frames, len(classes)), dtype=np.float32)
    for j, c in enumerate(classes):
        t = ann.times(c)
        f = np.round(t * fps)
        t = t[(f >= 0) & (f < n_frames)]  # onsets outside the clip widen nothing
        if soft > 0:
            y[onset_frames(t, n_frames, fps, widen=1), j] = soft
        y[onset_frames(t, n_frames, fps), j] = 1.0
    return y


def settings_key(settings: FeatureSettings) -> str:
    """Short hash naming a feature cache folder."""
    blob = json.dumps(settings.to_dict(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass
class Clip:
    """One clip: features (n_frames, n_mels) float16, targets (n_frames, n_classes)."""

    name: str
    features: np.ndarray
    targets: np.ndarray
    hard: np.ndarray


def list_clips(split_dir) -> List[Path]:
    """Audio files with an annotation next to them, sorted."""
    split_dir = Path(split_dir)
    out = []
    for p in sorted(split_dir.iterdir()):
        if p.suffix.lower() in AUDIO_EXTENSIONS and p.with_suffix(".tsv").exists():
            out.append(p)
    return out


def load_split(split_dir, classes: Sequence[str], settings: FeatureSettings = FeatureSettings(),
               cache_dir=None, soft: float = 0.5, limit: Optional[int] = None,
               progress: bool = True) -> List[Clip]:
    """Load (and cache) the clips of one corpus split.

    Parameters
    ----------
    split_dir : path-like
        e.g. ``corpus/train``.
    classes : sequence of str
        Target columns, in model order.
    settings : FeatureSettings
    cache_dir : path-like, optional
        Default ``<corpus>/_features/<settings hash>/<split>``.
    soft : float
        Widened-target value for the onset frame's neighbours.
    limit : int, optional
        Load at most this many clips.
    """
    from tqdm import tqdm

    split_dir = Path(split_dir)
    if cache_dir is None:
        cache_dir = split_dir.parent / "_features" / settings_key(settings) / split_dir.name
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    fe = FeatureExtractor(settings)
    clips = []
    files = list_clips(split_dir)[:limit]
    for p in tqdm(files, desc=f"features {split_dir.name}", disable=not progress, leave=False):
        cache = cache_dir / (p.stem + ".npy")
        if cache.exists():
            feats = np.load(cache, allow_pickle=False)
        else:
            x = load_audio(p, settings.sample_rate)
            feats = fe.compute(x).numpy().astype(np.float16)
            with atomic_write(cache) as fh:  # a unique temporary file: runs sharing a cache never collide
                np.save(fh, feats)
        ann = read_annotations(p.with_suffix(".tsv"))
        targets = frame_targets(ann, classes, feats.shape[0], settings.fps, soft)
        hard = (targets == 1.0).astype(np.float32)  # soft < 1: only onset frames are 1
        clips.append(Clip(p.stem, feats, targets, hard))
    return clips


class CropSampler:
    """Random fixed-length crops of clips, as training batches.

    Parameters
    ----------
    clips : list of Clip
    crop_frames : int
    seed : int
    """

    def __init__(self, clips: List[Clip], crop_frames: int = 400, seed: int = 0):
        self.clips = [c for c in clips if c.features.shape[0] >= 8]
        self.crop = crop_frames
        self.rng = np.random.default_rng(seed)
        lengths = np.array([c.features.shape[0] for c in self.clips], dtype=np.float64)
        self.p = lengths / lengths.sum()

    def batch(self, size: int):
        """A batch ``(features, targets)`` of shape (size, crop, ·) as tensors."""
        xs, ys = [], []
        for i in self.rng.choice(len(self.clips), size=size, p=self.p):
            c = self.clips[i]
            n = c.features.shape[0]
            if n <= self.crop:
                f = np.zeros((self.crop, c.features.shape[1]), np.float32)
                y = np.zeros((self.crop, c.targets.shape[1]), np.float32)
                f[:n], y[:n] = c.features, c.targets
            else:
                s = int(self.rng.integers(0, n - self.crop + 1))
                f, y = c.features[s:s + self.crop], c.targets[s:s + self.crop]
            xs.append(np.asarray(f, np.float32))
            ys.append(np.asarray(y, np.float32))
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))
