"""Activation matrices and the predictions file format (``.npz``, no pickles).

An :class:`Activations` keeps the frame rate and the class list with the values,
as madmom's ``Activations`` does, so calibration and re-picking never need to
re-run the model. This module is the one place that reads and writes the
predictions format that ``transcribe --save-activations`` writes and
``calibrate --predictions`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from .errors import ActivationError
from .vocabulary import validate_classes

FORMAT_VERSION = 1
"""Version of the ``.npz`` predictions format."""


def validate_activations(values: np.ndarray, fps: float, classes: Sequence[str]) -> None:
    """Check an activation matrix.

    Parameters
    ----------
    values : np.ndarray, shape (n_frames, n_classes)
        Per-frame probabilities in [0, 1].
    fps : float > 0
        Frames per second.
    classes : sequence of str
        Class names, one per column.

    Raises
    ------
    ActivationError
        If the shape, range or frame rate is wrong.
    """
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f":
        raise ActivationError(
            f"activations must be a float array, got {type(values).__name__}"
            f"{'' if not isinstance(values, np.ndarray) else ' of ' + str(values.dtype)}"
        )
    if values.ndim != 2 or values.shape[1] != len(classes):
        raise ActivationError(
            f"expected activations of shape (n_frames, {len(classes)}) for classes "
            f"{list(classes)}, got {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ActivationError("activations contain NaN or inf")
    if values.size and (values.min() < 0 or values.max() > 1):
        raise ActivationError(
            "activation values outside [0, 1]: did you pass logits? apply a sigmoid first"
        )
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise ActivationError(f"fps must be a number, got {fps!r}") from None
    if not np.isfinite(fps) or fps <= 0:
        raise ActivationError(f"fps must be a positive number, got {fps!r}")


@dataclass
class Activations:
    """Per-frame class probabilities with their frame rate and class list.

    Parameters
    ----------
    values : np.ndarray, shape (n_frames, n_classes), float32
        Probabilities in [0, 1].
    fps : float
        Frames per second; frame ``i`` is centred at ``i / fps`` seconds.
    classes : list of str
        Class name of each column.
    model_fingerprint : str, optional
        sha256 of the checkpoint that produced the values, when known.
    source : str, optional
        The audio file the values were computed from.
    """

    values: np.ndarray
    fps: float
    classes: List[str]
    model_fingerprint: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self.classes = validate_classes(self.classes)
        validate_activations(self.values, self.fps, self.classes)
        self.values = np.ascontiguousarray(self.values, dtype=np.float32)
        self.fps = float(self.fps)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.values.shape[0])

    @property
    def duration(self) -> float:
        """Duration covered by the frames, in seconds."""
        return self.n_frames / self.fps

    def column(self, name: str) -> np.ndarray:
        """Values of class ``name``."""
        return self.values[:, self.classes.index(name)]

    def replace(self, values: np.ndarray, classes: Optional[Sequence[str]] = None) -> "Activations":
        """A copy with other values (and optionally another class list)."""
        return Activations(
            values=values,
            fps=self.fps,
            classes=list(classes) if classes is not None else list(self.classes),
            model_fingerprint=self.model_fingerprint,
            source=self.source,
        )

    def save(self, path) -> None:
        """Write a ``.npz`` predictions file atomically (see :func:`save_activations`)."""
        save_activations(path, self)


def save_activations(path, act: Activations) -> None:
    """Write activations to ``path`` as an uncompressed ``.npz`` without pickles.

    The file holds ``values`` (float32), ``fps``, ``classes`` (unicode array),
    ``model_fingerprint``, ``source`` and ``format_version``. It is written to a
    temporary file and renamed, so a crash never leaves a partial file.
    """
    from .io import atomic_write

    path = Path(path)
    with atomic_write(path, "wb") as fh:
        np.savez(
            fh,
            values=act.values.astype(np.float32),
            fps=np.float64(act.fps),
            classes=np.array(act.classes, dtype=np.str_),
            model_fingerprint=np.array(act.model_fingerprint, dtype=np.str_),
            source=np.array(act.source, dtype=np.str_),
            format_version=np.int64(FORMAT_VERSION),
        )


def load_activations(path) -> Activations:
    """Read a predictions file written by :func:`save_activations`.

    Also accepts files written by other tools as long as they hold ``values``
    (or ``activations``), ``fps`` and ``classes`` arrays. Pickled objects are
    refused.

    Raises
    ------
    ActivationError
        With the file name and the fix, if the file is not a valid predictions
        file.
    """
    from .io import open_regular

    path = Path(path)
    fh = open_regular(path, ActivationError, "predictions file", "check the path",
                      MAX_PREDICTIONS_BYTES)
    with fh:
        values, fps, classes, fp, source = _read_npz(fh, path)
    if values.dtype.kind not in "f":
        raise ActivationError(f"{path}: values must be floating point, got {values.dtype}")
    if np.ndim(fps) != 0:
        raise ActivationError(f"{path}: fps must be a scalar")
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        raise ActivationError(f"{path}: fps must be a number, got {str(fps)[:40]!r}") from None
    if not (np.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise ActivationError(f"{path}: fps = {float(fps):g} is implausible (predictions run at "
                              f"{MIN_FPS:g}..{MAX_FPS:g} frames per second); re-create the file "
                              "with transcribe --save-activations")
    if values.ndim >= 1 and values.shape[0] / float(fps) > MAX_HOURS * 3600:
        raise ActivationError(f"{path}: predictions of {values.shape[0]} frames at {float(fps):g} "
                              f"fps ({values.shape[0] / float(fps) / 3600:.1f} h) are implausibly "
                              f"long (at most {MAX_HOURS} h); split the audio or re-create the file")
    try:
        return Activations(values=values, fps=float(fps), classes=classes,
                           model_fingerprint=fp, source=source)
    except ActivationError as exc:
        raise ActivationError(f"{path}: {exc}") from None
    except Exception as exc:  # vocabulary errors on class list
        raise ActivationError(f"{path}: {exc}") from None


MAX_PREDICTIONS_BYTES = 512 * 1024 ** 2
"""Predictions files, or the arrays they declare, larger than this are refused before
reading (6 hours of 12 classes at 100 fps take 100 MB)."""
MIN_FPS, MAX_FPS = 1.0, 10000.0
MAX_HOURS = 6


def _check_header(data, vkey: str, path: Path) -> None:
    """Refuse implausibly long predictions from the array header, before the
    values are read."""
    try:
        fps = float(data["fps"])
        with data.zip.open(f"{vkey}.npy") as member:
            version = np.lib.format.read_magic(member)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, _, _ = read(member)
    except Exception:  # anything odd: the full read below names it
        return
    if shape and MIN_FPS <= fps <= MAX_FPS and shape[0] / fps > MAX_HOURS * 3600:
        raise ActivationError(f"{path}: predictions of {shape[0]} frames at {fps:g} fps "
                              f"({shape[0] / fps / 3600:.1f} h) are implausibly long (at most "
                              f"{MAX_HOURS} h); split the audio or re-create the file")


def _read_npz(fh, path: Path):
    import zipfile

    try:
        with zipfile.ZipFile(fh) as z:
            declared = sum(i.file_size for i in z.infolist())
    except Exception:  # not a zip: np.load says what it is
        declared = 0
    if declared > MAX_PREDICTIONS_BYTES:
        raise ActivationError(f"{path}: predictions file declares {declared} bytes of arrays "
                              f"(the limit is {MAX_PREDICTIONS_BYTES}); the file is damaged or "
                              "hostile: re-create it")
    fh.seek(0)
    try:
        with np.load(fh, allow_pickle=False) as data:
            keys = set(data.files)
            vkey = "values" if "values" in keys else "activations" if "activations" in keys else None
            missing = [k for k in ("fps", "classes") if k not in keys]
            if vkey is None or missing:
                need = (["values"] if vkey is None else []) + missing
                raise ActivationError(
                    f"{path}: predictions file lacks {', '.join(need)}; write it with "
                    "transcribe --save-activations or numpy.savez(values=..., fps=..., classes=...)"
                )
            version = int(data["format_version"]) if "format_version" in keys else FORMAT_VERSION
            if version > FORMAT_VERSION:
                raise ActivationError(
                    f"{path}: predictions format version {version} is newer than this "
                    f"drumscribe reads ({FORMAT_VERSION}); upgrade drumscribe"
                )
            _check_header(data, vkey, path)
            values = data[vkey]
            fps = data["fps"]
            classes = [str(c) for c in np.atleast_1d(data["classes"]).tolist()]
            fp = str(data["model_fingerprint"]) if "model_fingerprint" in keys else ""
            source = str(data["source"]) if "source" in keys else ""
            return values, fps, classes, fp, source
    except ActivationError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise ActivationError(
                f"{path}: predictions file contains pickled objects, which are refused; "
                "save plain numeric and string arrays"
            ) from None
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ActivationError(f"{path}: not a valid .npz predictions file ({msg})") from None
    except MemoryError:
        raise ActivationError(f"{path}: predictions file declares an array too large to load; "
                              "the file is damaged, re-create it") from None
    except Exception as exc:  # zipfile, zlib and numpy raise assorted types on damaged files
        msg = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ActivationError(f"{path}: not a valid .npz predictions file ({msg}); re-create it "
                              "with transcribe --save-activations") from None


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    """Times in seconds of frames ``0 .. n_frames-1``."""
    return np.arange(n_frames, dtype=np.float64) / float(fps)
