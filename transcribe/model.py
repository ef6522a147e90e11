"""The CRNN and its checkpoint format (the one place that reads and writes checkpoints).

A checkpoint is one ``torch.save``\\ d dict of plain types and tensors, loaded with
``torch.load(weights_only=True)`` so it can never run code::

    {"format": "drumscribe-checkpoint", "format_version": 1,
     "classes": [...], "arch": {...}, "features": {...},
     "state_dict": {...}, "training": {...}}
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from .errors import CheckpointError
from .features import FeatureSettings, channel_problem
from .vocabulary import validate_classes

CHECKPOINT_FORMAT = "drumscribe-checkpoint"
MAX_CHECKPOINT_BYTES = 2 * 1024 ** 3
"""Larger checkpoint files are refused before reading (the shipped one is under 2 MB)."""
MAX_CHECKPOINT_MEMBERS = 10_000
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class ArchSettings:
    """CRNN hyper-parameters; stored in every checkpoint.

    Attributes
    ----------
    conv2d_channels : tuple of int
        Output channels of each 2-D conv block over (time, frequency): 3x3
        conv, batch norm, ReLU, max-pooling over frequency by ``pool``.
    pool : int
        Frequency pooling factor of each 2-D block.
    conv1d_channels : tuple of int
        Output channels of each 1-D conv block over time (kernel 3), applied
        to the flattened (channels x frequency) features; cheap on a CPU.
    rnn_hidden : int
        Hidden size of each direction of the bidirectional GRU.
    rnn_layers : int
    dropout : float
    """

    conv2d_channels: Tuple[int, ...] = (8,)
    pool: int = 4
    conv1d_channels: Tuple[int, ...] = (128, 128)
    rnn_hidden: int = 64
    rnn_layers: int = 2
    dropout: float = 0.2

    def to_dict(self) -> dict:
        """Plain-data form for checkpoints."""
        d = asdict(self)
        d["conv2d_channels"] = list(self.conv2d_channels)
        d["conv1d_channels"] = list(self.conv1d_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ArchSettings":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        d = dict(d)
        for k in ("conv2d_channels", "conv1d_channels"):
            if k in d:
                d[k] = tuple(int(v) for v in d[k])
        return cls(**d)


class CRNN(nn.Module):
    """Conv blocks, a bidirectional GRU and a linear head.

    Input: features of shape (batch, frames, channels * n_mels), the channels
    side by side (:attr:`FeatureSettings.n_features`). Output: one logit per
    class and frame, shape (batch, frames, n_classes); apply a sigmoid for
    probabilities (training uses ``BCEWithLogitsLoss``). The 2-D blocks learn
    local time-frequency patterns; the 1-D blocks mix all bands per frame
    cheaply; the GRU adds context in both directions.

    Parameters
    ----------
    n_mels : int
    n_classes : int
    arch : ArchSettings
    channels : int
        Feature channels per frame (:attr:`FeatureSettings.channels`: 1 for mel
        frames, 2 for mel and its background or a percussive/harmonic split).
    """

    def __init__(self, n_mels: int, n_classes: int, arch: ArchSettings = ArchSettings(),
                 channels: int = 1):
        super().__init__()
        self.arch = arch
        self.channels = channels
        self.input_norm = nn.BatchNorm1d(channels * n_mels)
        blocks = []
        c_in, f = channels, n_mels
        for c_out in arch.conv2d_channels:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(), nn.MaxPool2d((1, arch.pool))]
            c_in, f = c_out, f // arch.pool
        if f < 1:
            raise ValueError("too much frequency pooling for n_mels")
        self.conv2d = nn.Sequential(*blocks)
        blocks = []
        d_in = c_in * f
        for c_out in arch.conv1d_channels:
            blocks += [nn.Conv1d(d_in, c_out, 3, padding=1, bias=False), nn.BatchNorm1d(c_out),
                       nn.ReLU(), nn.Dropout(arch.dropout)]
            d_in = c_out
        self.conv1d = nn.Sequential(*blocks)
        self.rnn = nn.GRU(d_in, arch.rnn_hidden, num_layers=arch.rnn_layers,
                          batch_first=True, bidirectional=True,
                          dropout=arch.dropout if arch.rnn_layers > 1 else 0.0)
        self.head = nn.Linear(2 * arch.rnn_hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, frames, n_classes) for features (batch, frames, channels * n_mels)."""
        b, t, d = x.shape
        x = self.input_norm(x.transpose(1, 2)).transpose(1, 2)
        if self.channels == 1:
            x = x.unsqueeze(1)  # (b, 1, t, f)
        else:  # (b, ch, t, f), contiguous: a strided view would send the convolution down a
            # slower, hungrier memory-format path
            x = x.reshape(b, t, self.channels, d // self.channels).transpose(1, 2).contiguous()
        h = self.conv2d(x)  # (b, c, t, f')
        h = h.permute(0, 1, 3, 2).reshape(b, -1, t)  # (b, c*f', t)
        h = self.conv1d(h).transpose(1, 2)  # (b, t, c1)
        h, _ = self.rnn(h)
        return self.head(h)


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes
    ----------
    model : CRNN
        In eval mode.
    classes : list of str
    features : FeatureSettings
    arch : ArchSettings
    fingerprint : str
        sha256 of the checkpoint file ("" if not from a file).
    training : dict
        Free-form training metadata (data, epochs, metrics).
    path : str
    """

    model: CRNN
    classes: List[str]
    features: FeatureSettings
    arch: ArchSettings
    fingerprint: str = ""
    training: Dict = field(default_factory=dict)
    path: str = ""


def file_sha256(path) -> str:
    """sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_model(classes, features: FeatureSettings = FeatureSettings(),
                arch: ArchSettings = ArchSettings()) -> CRNN:
    """A fresh CRNN for ``classes``."""
    return CRNN(features.n_mels, len(validate_classes(classes)), arch, features.channels)


def save_checkpoint(path, model: CRNN, classes, features: FeatureSettings,
                    training: Optional[dict] = None, extra: Optional[dict] = None) -> str:
    """Write a checkpoint atomically; returns its sha256.

    Parameters
    ----------
    path : path-like
    model : CRNN
    classes : list of str
    features : FeatureSettings
    training : dict, optional
        Plain-data metadata (strings, numbers, lists, dicts).
    extra : dict, optional
        Extra plain-data entries (e.g. optimizer state for resuming).
    """
    from .io import atomic_write

    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "classes": list(validate_classes(classes)),
        "arch": model.arch.to_dict(),
        "features": features.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "training": dict(training or {}),
    }
    if extra:
        payload.update(extra)
    with atomic_write(path, "wb") as fh:
        torch.save(payload, fh)
    return file_sha256(path)


def read_checkpoint_dict(path) -> dict:
    """Load a checkpoint's raw dict with ``weights_only=True``.

    Raises
    ------
    CheckpointError
        If the file is missing, not a torch file, or carries a pickle payload
        (code) that weights-only loading refuses.
    """
    from .io import open_regular

    path = Path(path)
    fh = open_regular(path, CheckpointError, "checkpoint", "pass --model with a .pt file "
                      "written by scripts/train.py", MAX_CHECKPOINT_BYTES)
    with fh:
        _check_archive(fh, path)
        fh.seek(0)
        data = _torch_load(fh, path)
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a drumscribe checkpoint (no 'format: "
                              f"{CHECKPOINT_FORMAT}'); train one with scripts/train.py")
    version = data.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version!r} is not supported "
                              f"(this drumscribe reads version {CHECKPOINT_VERSION}); retrain or "
                              "upgrade drumscribe")
    return data


def _check_archive(fh, path: Path) -> None:
    """Refuse a checkpoint whose zip archive could make torch allocate more than
    the file holds: only stored (uncompressed) members, as ``torch.save`` writes
    them, a bounded number of them, their sizes summing to at most the file's."""
    size = os.fstat(fh.fileno()).st_size
    try:
        with zipfile.ZipFile(fh) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable drumscribe checkpoint (not a torch zip "
                              f"archive: {msg}; not a torch .pt archive: a text file, or a "
                              "truncated download?); pass --model with a .pt written by "
                              "scripts/train.py (torch.save)") from None
    if len(infos) > MAX_CHECKPOINT_MEMBERS:
        raise CheckpointError(f"{path}: not a readable drumscribe checkpoint ({len(infos)} "
                              f"archive members; torch.save writes far fewer)")
    packed = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
    declared = sum(i.file_size for i in infos)
    if packed or declared > size:
        raise CheckpointError(
            f"{path}: refused: the checkpoint's archive declares {declared} bytes of content in "
            f"a {size}-byte file" + (f" ({len(packed)} compressed members)" if packed else "")
            + "; torch.save stores members uncompressed, so this is damaged or hostile (a zip "
            "bomb); only load checkpoints written by drumscribe")


def _torch_load(fh, path: Path):
    try:
        return torch.load(fh, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"{path}: refused: the checkpoint holds Python objects that weights-only loading "
            f"does not allow ({first[:160]}); only load checkpoints written by drumscribe"
        ) from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, OSError, ValueError, AttributeError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable drumscribe checkpoint ({msg[:200]})") from None
    except MemoryError:
        raise CheckpointError(f"{path}: not a readable drumscribe checkpoint (it declares "
                              "tensors too large to load); the file is damaged") from None
    except Exception as exc:  # torch raises assorted types on hostile input
        raise CheckpointError(f"{path}: not a readable drumscribe checkpoint "
                              f"({type(exc).__name__})") from None


# (key, lowest, highest, integer?) of every numeric checkpoint setting
_FEATURE_RANGES = (("sample_rate", 1000, 768000, True), ("n_fft", 16, 65536, True),
                   ("hop", 1, 65536, True), ("n_mels", 1, 1024, True),
                   ("fmin", 0.0, 384000.0, False), ("fmax", 1.0, 384000.0, False),
                   ("log_scale", 1e-6, 1e6, False), ("background_frames", 0, 1001, True),
                   ("percussive_bands", 0, 1001, True))
MAX_CONV_BLOCKS = 16
"""Most conv blocks of either kind a checkpoint may list."""
MAX_CONV_CHANNELS = 4096
"""Most channels of one conv block."""
_ARCH_RANGES = (("pool", 1, 64, True), ("rnn_hidden", 1, 4096, True), ("rnn_layers", 1, 16, True),
                ("dropout", 0.0, 0.99, False))


def _check_number(value, key, lo, hi, integer, path):
    ok_type = (isinstance(value, int) if integer else isinstance(value, (int, float)))
    if isinstance(value, bool) or not ok_type or not (lo <= value <= hi):
        kind = "an integer" if integer else "a number"
        raise CheckpointError(f"{path}: checkpoint setting {key} = {str(value)[:40]} must be "
                              f"{kind} in {lo}..{hi}; the checkpoint is damaged: retrain or "
                              "use another")


def check_settings(data: dict, path) -> None:
    """Range-check every numeric setting of a raw checkpoint dict, before any
    array is allocated from them.

    Raises
    ------
    CheckpointError
        Naming the setting, its value and the allowed range.
    """
    feats, arch = data.get("features"), data.get("arch")
    if not isinstance(feats, dict) or not isinstance(arch, dict):
        raise CheckpointError(f"{path}: checkpoint is incomplete or inconsistent (no features "
                              "or arch settings); retrain it")
    for key, lo, hi, integer in _FEATURE_RANGES:
        if key in feats:
            _check_number(feats[key], f"features.{key}", lo, hi, integer, path)
    for key, lo, hi, integer in _ARCH_RANGES:
        if key in arch:
            _check_number(arch[key], f"arch.{key}", lo, hi, integer, path)
    for key in ("conv2d_channels", "conv1d_channels"):
        chans = arch.get(key, [])
        if not isinstance(chans, (list, tuple)) or len(chans) > MAX_CONV_BLOCKS:
            raise CheckpointError(f"{path}: checkpoint setting arch.{key} must be a list of at "
                                  f"most {MAX_CONV_BLOCKS} channel counts; the checkpoint is damaged")
        for c in chans:
            _check_number(c, f"arch.{key}", 1, MAX_CONV_CHANNELS, True, path)
    sr, n_fft, hop = feats.get("sample_rate", 44100), feats.get("n_fft", 2048), feats.get("hop", 441)
    if hop > n_fft:
        raise CheckpointError(f"{path}: checkpoint setting features.hop = {hop} exceeds "
                              f"features.n_fft = {n_fft}; the checkpoint is damaged")
    problem = channel_problem(feats.get("background_frames", 0), feats.get("percussive_bands", 0))
    if problem:
        raise CheckpointError(f"{path}: checkpoint setting features.{problem}; the checkpoint "
                              "is damaged")
    fmin, fmax = feats.get("fmin", 30.0), feats.get("fmax", 17000.0)
    if not fmin < fmax <= sr / 2:
        raise CheckpointError(f"{path}: checkpoint settings features.fmin = {fmin} and fmax = "
                              f"{fmax} must satisfy fmin < fmax <= sample_rate / 2 = {sr / 2:g}; "
                              "the checkpoint is damaged")


def _check_weights(model: "CRNN", state: dict, path) -> None:
    """The state dict must fill exactly the model's parameters, all finite."""
    with torch.device("meta"):
        expect = sum(t.numel() for t in model.state_dict().values())
    got = sum(t.numel() for t in state.values() if isinstance(t, torch.Tensor))
    if got != expect:
        raise CheckpointError(f"{path}: checkpoint is incomplete or inconsistent (the weights "
                              f"hold {got} numbers, its architecture needs {expect}); retrain it")
    for k, t in state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{path}: checkpoint weights contain NaN or inf ({k}); the "
                                  "training diverged: retrain or use another checkpoint")


def load_checkpoint(path, expect_classes=None) -> Checkpoint:
    """Load a checkpoint into a :class:`Checkpoint` with the model in eval mode.

    Parameters
    ----------
    path : path-like
    expect_classes : list of str, optional
        Refuse a checkpoint whose class list differs.

    Raises
    ------
    CheckpointError
        For unreadable, hostile, incompatible or mismatched checkpoints.
    """
    path = Path(path)
    data = read_checkpoint_dict(path)
    check_settings(data, path)
    try:
        classes = validate_classes(data["classes"])
        features = FeatureSettings.from_dict(data["features"])
        arch = ArchSettings.from_dict(data["arch"])
        if not isinstance(data.get("state_dict"), dict):
            raise KeyError("state_dict")
        with torch.device("meta"):
            shape = CRNN(features.n_mels, len(classes), arch, features.channels)
        _check_weights(shape, data["state_dict"], path)
        model = CRNN(features.n_mels, len(classes), arch, features.channels)
        model.load_state_dict(data["state_dict"])
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path}: checkpoint is incomplete or inconsistent "
                              f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from None
    if expect_classes is not None and list(expect_classes) != classes:
        raise CheckpointError(f"{path}: checkpoint classes {classes} differ from the expected "
                              f"{list(expect_classes)}")
    model.eval()
    return Checkpoint(model, classes, features, arch, file_sha256(path),
                      dict(data.get("training") or {}), str(path))
