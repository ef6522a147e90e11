"""A small convolutional network that turns drum activations into beat and downbeat activations.

The drum model says *what* was hit and when; which of those hits are the beats, and
which beat starts a bar, is a question of the groove's conventions (a samba's surdo,
a halftime feel, a shuffle), learned here from the training corpus, whose every clip
knows its beats exactly (:mod:`drumscribe.training.beat_train`). The network reads only
the drum activations, summarised per vocabulary group (:func:`beat_features`), so it
works for any class list a drum checkpoint carries.

Its output is what the beat tracker's dynamic Bayesian network decodes
(:mod:`drumscribe.charts.beats`), in the manner of S. Boeck, F. Krebs and G. Widmer,
"Joint beat and downbeat tracking with recurrent neural networks" (ISMIR 2016): a
network's activation, then a bar-pointer state space over it; the network is a
temporal convolutional one (dilated convolutions, as in M. Davies and S. Boeck,
"Temporal convolutional networks for musical audio beat tracking", EUSIPCO 2019),
which runs fast on a CPU. The network and its training are written for this project.

A model may be an ensemble of networks of one shape trained from different seeds
(:func:`ensemble`): its activations are the mean of the members' probabilities (beat,
downbeat and the tempo distribution). The shipped model is one network: an ensemble of
three seeds scored exactly as it did (models/README.md).

Checkpoint format (``torch.save`` of a dict, read with ``weights_only=True``):
``{"format": 1, "kind": "drumscribe-beats", "fps": float, "features": [names],
"hidden": int, "levels": int, "tempo": bool, "state_dict": {...}, "trained_on": str}``
for one network; format 2 has ``"members": [state_dict, ...]`` in place of
``"state_dict"`` (an ensemble, :data:`MAX_MEMBERS` at most).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from drumscribe.transcribe.errors import DrumscribeError
from drumscribe.transcribe.vocabulary import GROUPS, group_of

from .tempi import tempo_grid

FEATURES = ("kick", "snare", "hihat", "toms", "cymbals", "all")
"""Input columns: the highest activation of each vocabulary group, and of all classes."""

DEFAULT_BEAT_MODEL = Path(__file__).resolve().parent.parent / "models" / "beats.pt"
"""The shipped beat network (next to the shipped drum model)."""

MAX_BYTES = 16 << 20
"""A beat checkpoint larger than this is refused before it is unpacked."""

MAX_MEMBERS = 16
"""Most networks an ensemble checkpoint may hold."""


class BeatModelError(DrumscribeError):
    """A beat checkpoint that cannot be used."""


def beat_features(values: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """The network's input: (n_frames, len(FEATURES)) float32 in [0, 1].

    Each group column is the maximum over the classes of that vocabulary group
    (zeros when the class list has none); ``all`` is the maximum over every class.
    """
    values = np.asarray(values, dtype=np.float32)
    n = values.shape[0]
    out = np.zeros((n, len(FEATURES)), dtype=np.float32)
    for j, g in enumerate(FEATURES[:-1]):
        idx = [k for k, c in enumerate(classes) if c == g or (c not in GROUPS and group_of(c) == g)]
        if idx:
            out[:, j] = values[:, idx].max(axis=1)
    if values.shape[1]:
        out[:, -1] = values.max(axis=1)
    return np.clip(np.nan_to_num(out), 0.0, 1.0)


TEMPO_MIN, TEMPO_MAX = 40.0, 250.0
"""Range of the tempo output (BPM)."""


def tempo_bins() -> np.ndarray:
    """BPM of each tempo output: 1 % steps from :data:`TEMPO_MIN` to :data:`TEMPO_MAX`."""
    return tempo_grid(TEMPO_MIN, TEMPO_MAX)


class BeatNet(nn.Module):
    """A temporal convolutional network: a 5-frame convolution, then residual blocks of
    dilated convolutions (dilation 1, 2, 4, ... 256: about 20 s of context each way),
    then two sigmoid outputs per frame (beat, downbeat) and, from the blocks' outputs
    averaged over time, a softmax over tempi (:func:`tempo_bins`) for the whole input
    (multi-task, as in S. Boeck, M. Davies, P. Knees, "Multi-task learning of tempo and
    beat", ISMIR 2019).

    Parameters
    ----------
    n_in : int
        Input columns.
    hidden : int
        Channels.
    levels : int
        Residual blocks (dilations ``2 ** 0 .. 2 ** (levels - 1)``).
    tempo : bool
        Whether the tempo output exists.
    """

    def __init__(self, n_in: int = len(FEATURES), hidden: int = 24, levels: int = 9,
                 tempo: bool = True):
        super().__init__()
        self.hidden = int(hidden)
        self.levels = int(levels)
        self.has_tempo = bool(tempo)
        self.front = nn.Sequential(nn.Conv1d(n_in, hidden, 5, padding=2), nn.ELU())
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv1d(hidden, hidden, 5, padding=2 * 2 ** i, dilation=2 ** i), nn.ELU(),
                          nn.Dropout(0.1))
            for i in range(levels))
        self.out = nn.Conv1d(hidden, 2, 1)
        if self.has_tempo:
            self.tempo = nn.Sequential(nn.Dropout(0.1), nn.Linear(hidden, len(tempo_bins())))

    def forward(self, x: torch.Tensor):
        """Frame logits (batch, frames, 2: beat, downbeat) and tempo logits (batch,
        n_tempi; None without the tempo output), from (batch, frames, n_in)."""
        h = self.front(x.transpose(1, 2))
        skip = torch.zeros_like(h[:, :, 0])
        for block in self.blocks:
            b = block(h)
            skip = skip + b.mean(dim=2)
            h = h + b
        tempo = self.tempo(skip) if self.has_tempo else None
        return self.out(h).transpose(1, 2), tempo


@dataclass
class BeatActivations:
    """Per-frame beat and downbeat probabilities, and the song's tempo distribution."""

    beat: np.ndarray
    downbeat: np.ndarray
    fps: float
    tempo: Optional[np.ndarray] = None
    """Probability of each tempo of :func:`tempo_bins` (None without the tempo output)."""


class BeatModel:
    """A loaded beat network, or an ensemble of networks of one shape.

    Parameters
    ----------
    net : BeatNet or sequence of BeatNet
        One network, or the members of an ensemble (same ``hidden``, ``levels``
        and tempo output); an ensemble's activations are the mean of the
        members' probabilities.
    fps : float
        Frame rate the network was trained at (the drum activations' rate).
    """

    def __init__(self, net: Union[BeatNet, Sequence[BeatNet]], fps: float, trained_on: str = ""):
        nets = [net] if isinstance(net, BeatNet) else list(net)
        if not nets:
            raise ValueError("a beat model needs at least one network")
        shape = {(n.hidden, n.levels, n.has_tempo) for n in nets}
        if len(shape) != 1:
            raise ValueError(f"an ensemble's networks must have one shape, got {sorted(shape)}")
        self.nets = [n.eval() for n in nets]
        self.fps = float(fps)
        self.trained_on = trained_on

    @property
    def net(self) -> BeatNet:
        """The first (for one network, the only) member."""
        return self.nets[0]

    def runs_at(self, fps: float) -> bool:
        """Whether activations at ``fps`` frames per second are the network's rate."""
        return abs(float(fps) - self.fps) <= 1e-6 * self.fps

    def activations(self, values: np.ndarray, classes: Sequence[str], fps: float) -> BeatActivations:
        """Beat and downbeat activations of a drum activation matrix.

        Raises
        ------
        BeatModelError
            When ``fps`` is not the network's frame rate.
        """
        if not self.runs_at(fps):
            raise BeatModelError(f"the beat network runs at {self.fps:g} fps, the activations are "
                                 f"at {fps:g}: track with a drum model at {self.fps:g} fps")
        x = torch.from_numpy(beat_features(values, classes))[None]
        p_sum, t_sum = None, None
        with torch.inference_mode():
            for net in self.nets:
                frames, tempo = net(x)
                p = torch.sigmoid(frames)[0].numpy().astype(np.float64)
                p_sum = p if p_sum is None else p_sum + p
                if tempo is not None:
                    t = torch.softmax(tempo[0], 0).numpy().astype(np.float64)
                    t_sum = t if t_sum is None else t_sum + t
        k = float(len(self.nets))
        p = p_sum / k
        return BeatActivations(p[:, 0], p[:, 1], float(fps), None if t_sum is None else t_sum / k)

    def state(self) -> dict:
        """The checkpoint dict (see the module docstring)."""
        n = self.net
        head = {"kind": "drumscribe-beats", "fps": self.fps, "features": list(FEATURES),
                "hidden": n.hidden, "levels": n.levels, "tempo": n.has_tempo,
                "trained_on": self.trained_on}
        sds = [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in self.nets]
        if len(sds) == 1:
            return {"format": 1, **head, "state_dict": sds[0]}
        return {"format": 2, **head, "members": sds}


def ensemble(models: Sequence[BeatModel], trained_on: str = "") -> BeatModel:
    """One model whose activations are the mean of ``models``' (same shape and fps).

    Raises
    ------
    BeatModelError
        When the models differ in frame rate or shape, or there are none or too many.
    """
    models = list(models)
    if not 1 <= len(models) <= MAX_MEMBERS:
        raise BeatModelError(f"an ensemble takes 1..{MAX_MEMBERS} beat models, got {len(models)}")
    if len({m.fps for m in models}) != 1:
        raise BeatModelError(f"beat models at different frame rates {sorted({m.fps for m in models})}")
    try:
        return BeatModel([n for m in models for n in m.nets], models[0].fps,
                         trained_on or "; ".join(dict.fromkeys(m.trained_on for m in models)))
    except ValueError as e:
        raise BeatModelError(str(e)) from None


def load_beat_model(path: Union[str, Path, None] = None) -> BeatModel:
    """Load a beat checkpoint (default :data:`DEFAULT_BEAT_MODEL`).

    Raises
    ------
    BeatModelError
        Missing, oversized, unreadable or not a beat checkpoint.
    """
    path = Path(path) if path is not None else DEFAULT_BEAT_MODEL
    if not path.is_file():
        raise BeatModelError(f"{path}: beat model not found: pass a beat checkpoint made by "
                             "scripts/train_beats.py, or --bpm")
    if path.stat().st_size > MAX_BYTES:
        raise BeatModelError(f"{path}: {path.stat().st_size} bytes is too large for a beat model")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
        raise BeatModelError(f"{path}: not a readable beat checkpoint ({type(e).__name__}): "
                             "re-create it with scripts/train_beats.py") from None
    if not isinstance(ck, dict) or ck.get("kind") != "drumscribe-beats" or ck.get("format") not in (1, 2):
        raise BeatModelError(f"{path}: not a drumscribe beat checkpoint (kind drumscribe-beats, "
                             "format 1 or 2)")
    if list(ck.get("features", [])) != list(FEATURES):
        raise BeatModelError(f"{path}: its input columns {ck.get('features')} are not {list(FEATURES)}")
    fps, hidden, levels = ck.get("fps"), ck.get("hidden"), ck.get("levels")
    if not isinstance(fps, (int, float)) or not 1 <= fps <= 1000:
        raise BeatModelError(f"{path}: fps {fps!r} outside 1..1000")
    if not isinstance(hidden, int) or not 1 <= hidden <= 1024:
        raise BeatModelError(f"{path}: hidden {hidden!r} outside 1..1024")
    if not isinstance(levels, int) or not 1 <= levels <= 16:
        raise BeatModelError(f"{path}: levels {levels!r} outside 1..16")
    sds = [ck.get("state_dict")] if ck["format"] == 1 else ck.get("members")
    if not isinstance(sds, list) or not 1 <= len(sds) <= MAX_MEMBERS:
        raise BeatModelError(f"{path}: an ensemble checkpoint needs 1..{MAX_MEMBERS} members")
    nets = []
    for sd in sds:
        net = BeatNet(len(FEATURES), hidden, levels, bool(ck.get("tempo", False)))
        try:
            net.load_state_dict(sd)
        except (RuntimeError, KeyError, TypeError, AttributeError) as e:
            raise BeatModelError(f"{path}: weights do not fit the beat network ({e.__class__.__name__})") from None
        if not all(torch.isfinite(v).all() for v in net.state_dict().values()):
            raise BeatModelError(f"{path}: weights hold NaN or inf")
        nets.append(net)
    return BeatModel(nets, float(fps), str(ck.get("trained_on", "")))


_DEFAULT: Optional[BeatModel] = None


def default_beat_model() -> Optional[BeatModel]:
    """The shipped beat network, loaded once; None when it is not installed."""
    global _DEFAULT
    if _DEFAULT is None and DEFAULT_BEAT_MODEL.is_file():
        _DEFAULT = load_beat_model(DEFAULT_BEAT_MODEL)
    return _DEFAULT
