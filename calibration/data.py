"""Validation inputs for calibration: predictions or audio, paired with ground truth.

``--predictions DIR``
    ``NAME.npz`` predictions (the format ``transcribe --save-activations``
    writes), each paired with ``NAME.mid|.midi|.tsv|.txt`` in the same folder
    or in ``--data DIR``.
``--model M --data DIR``
    Audio ``NAME.wav|.flac|.ogg|.mp3`` with ground truth beside it; the model
    runs once per file and its predictions are cached under
    ``CACHE/<model sha256[:16]>/<audio sha256>.npz``, so a second calibration
    of the same model on the same audio reads the cache.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import warnings

from transcribe.activations import load_activations, save_activations
from transcribe.annotations import ANNOTATION_EXTENSIONS, read_annotations, suspicious_annotations
from transcribe.audio import AUDIO_EXTENSIONS
from transcribe.errors import DrumscribeError

from .sweep import Item



class DataWarning(UserWarning):
    """Something in the validation data looks wrong but the file is still used."""


def checked(load: Callable, annotation) -> Callable:
    """``load`` followed by a check of the ground truth against the audio's length.

    Ground truth whose every onset lies beyond the audio (mostly times in
    milliseconds) makes the file fail with an :class:`AnnotationError`; some
    onsets beyond it, or duplicated onsets, give a :class:`DataWarning`.
    """
    from transcribe.errors import AnnotationError

    from transcribe.errors import ActivationError

    def run():
        act = load()
        if act.n_frames == 0:
            raise ActivationError("predictions hold 0 frames; the "
                                  "audio was empty or the file is damaged: re-create it")
        ann = read_annotations(annotation)
        found, error = suspicious_annotations(ann, act.duration)
        if error:
            raise AnnotationError(f"{annotation}: {error}")
        for w in found:
            warnings.warn(DataWarning(f"{annotation}: {w}"))
        return act
    run.unchecked = load
    return run


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/drumscribe/predictions`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "drumscribe" / "predictions"


def _annotation_for(stem: str, folders: List[Path]) -> Optional[Path]:
    for folder in folders:
        for ext in ANNOTATION_EXTENSIONS:
            cand = folder / f"{stem}{ext}"
            if cand.is_file():
                return cand
    return None


def _check_dir(path, flag) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise DrumscribeError(f"{p}: {flag} folder not found; give a folder of validation files")
    return p


def prediction_items(pred_dir, data_dir=None) -> Tuple[List[Item], List[Tuple[str, str]]]:
    """Pair ``NAME.npz`` predictions with ground truth.

    Parameters
    ----------
    pred_dir : path-like
        Folder of ``.npz`` predictions (searched recursively).
    data_dir : path-like, optional
        Another folder holding the ground truth (same stems).

    Returns
    -------
    items : list of Item
    skipped : list of (str, str)
        Predictions without ground truth, and why.

    Raises
    ------
    DrumscribeError
        If a folder is missing or holds no predictions.
    """
    pred_dir = _check_dir(pred_dir, "--predictions")
    data = _check_dir(data_dir, "--data") if data_dir else None
    files = sorted(p for p in pred_dir.rglob("*.npz") if p.is_file())
    if not files:
        raise DrumscribeError(f"{pred_dir}: no .npz predictions found; write them with "
                              "transcribe --save-activations")
    items, skipped = [], []
    for f in files:
        folders = [f.parent] + ([data] if data else [])
        ann = _annotation_for(f.stem, folders)
        if ann is None:
            skipped.append((str(f), f"no ground truth {f.stem}.mid/.tsv/.txt next to it"
                                    + (f" or in {data}" if data else "")))
            continue
        items.append(Item(str(f), checked(lambda p=f: load_activations(p), ann), ann))
    return items, skipped


class PredictionCache:
    """Predictions of one model, cached by the audio file's content hash.

    Parameters
    ----------
    transcriber : transcribe.inference.Transcriber
    cache_dir : path-like
    """

    def __init__(self, transcriber, cache_dir):
        self.transcriber = transcriber
        fp = transcriber.checkpoint.fingerprint or "unknown-model"
        self.folder = Path(cache_dir) / fp[:16]
        self.hits = 0
        self.misses = 0

    def path_for(self, audio_path) -> Path:
        """Where the predictions of ``audio_path`` are cached."""
        from transcribe.model import file_sha256

        return self.folder / f"{file_sha256(audio_path)}.npz"

    def load(self, audio_path):
        """Activations of ``audio_path``, from the cache or by running the model."""
        path = self.path_for(audio_path)
        if path.is_file():
            try:
                act = load_activations(path)
                if act.model_fingerprint == self.transcriber.checkpoint.fingerprint:
                    self.hits += 1
                    return act
            except DrumscribeError:
                pass  # a damaged cache entry is recomputed
        act = self.transcriber.activations_from_file(audio_path)
        self.misses += 1
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_activations(path, act)
        except (OSError, DrumscribeError):
            pass  # caching is best effort
        return act


def audio_items(data_dir, cache: PredictionCache) -> Tuple[List[Item], List[Tuple[str, str]]]:
    """Pair audio files in ``data_dir`` (recursively) with their ground truth.

    Returns
    -------
    items : list of Item
        Loading an item runs the model (or reads the cache).
    skipped : list of (str, str)
    """
    data = _check_dir(data_dir, "--data")
    files = sorted(p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise DrumscribeError(f"{data}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    items, skipped = [], []
    for f in files:
        ann = _annotation_for(f.stem, [f.parent])
        if ann is None:
            skipped.append((str(f), f"no ground truth {f.stem}.mid/.tsv/.txt next to it"))
            continue
        items.append(Item(str(f), checked(lambda p=f: cache.load(p), ann), ann))
    return items, skipped
