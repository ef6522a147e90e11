"""The CRNN and its checkpoint format (the one place that reads and writes checkpoints).

A checkpoint is one ``torch.save``\\ d dict of plain types and tensors, loaded with
``torch.load(weights_only=True)`` so it can never run code::

    {"format": "drumscribe-checkpoint", "format_version": 1,
     "classes": [...], "arch": {...}, "features": {...},
     "state_dict": {...}, "training": {...}}
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from .errors import CheckpointError
from .features import FeatureSettings
from .vocabulary import validate_classes

CHECKPOINT_FORMAT = "drumscribe-checkpoint"
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

    Input: features of shape (batch, frames, n_mels). Output: one logit per
    class and frame, shape (batch, frames, n_classes); apply a sigmoid for
    probabilities (training uses ``BCEWithLogitsLoss``). The 2-D blocks learn
    local time-frequency patterns; the 1-D blocks mix all bands per frame
    cheaply; the GRU adds context in both directions.

    Parameters
    ----------
    n_mels : int
    n_classes : int
    arch : ArchSettings
    """

    def __init__(self, n_mels: int, n_classes: int, arch: ArchSettings = ArchSettings()):
        super().__init__()
        self.arch = arch
        self.input_norm = nn.BatchNorm1d(n_mels)
        blocks = []
        c_in, f = 1, n_mels
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
        """Logits of shape (batch, frames, n_classes) for features (batch, frames, n_mels)."""
        b, t, _ = x.shape
        x = self.input_norm(x.transpose(1, 2)).transpose(1, 2)
        h = self.conv2d(x.unsqueeze(1))  # (b, c, t, f')
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
    return CRNN(features.n_mels, len(validate_classes(classes)), arch)


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
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found; pass --model with a .pt file "
                              "written by scripts/train.py")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; torch's own text misleads
        raise CheckpointError(f"{path}: not a readable drumscribe checkpoint (not a torch .pt "
                              "archive: a text file, or a truncated download?); pass --model with "
                              "a .pt written by scripts/train.py")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"{path}: refused: the checkpoint holds Python objects that weights-only loading "
            f"does not allow ({first[:160]}); only load checkpoints written by drumscribe"
        ) from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, OSError, ValueError, AttributeError) as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable drumscribe checkpoint ({msg[:200]})") from None
    except Exception as exc:  # torch raises assorted types on hostile input
        raise CheckpointError(f"{path}: not a readable drumscribe checkpoint "
                              f"({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a drumscribe checkpoint (no 'format: "
                              f"{CHECKPOINT_FORMAT}'); train one with scripts/train.py")
    version = data.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {version!r} is not supported "
                              f"(this drumscribe reads version {CHECKPOINT_VERSION}); retrain or "
                              "upgrade drumscribe")
    return data


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
    try:
        classes = validate_classes(data["classes"])
        features = FeatureSettings.from_dict(data["features"])
        arch = ArchSettings.from_dict(data["arch"])
        model = CRNN(features.n_mels, len(classes), arch)
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
