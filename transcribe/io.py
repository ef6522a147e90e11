"""Atomic file output shared by every writer (MIDI, activations, calibration, charts)."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from .errors import OutputError


def check_writable(path, overwrite: bool = False) -> Path:
    """Check that ``path`` may be written.

    Raises
    ------
    OutputError
        If the file exists and ``overwrite`` is false, or its folder is missing
        or not writable.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: output exists; pass --overwrite to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{path}: output folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: output folder {parent} is not writable; choose another with -o")
    return path


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed,
    so no partial output is ever left behind.

    Raises
    ------
    OutputError
        If the folder is not writable or the disk is full.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write to {parent} ({exc.strerror}); "
                          "choose a writable output folder") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600; outputs get normal permissions
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            if exc.errno == errno.ENOSPC:
                raise OutputError(f"{path}: disk full while writing; free space and retry") from None
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc}); "
                              "check the output folder") from None
        raise


def read_yaml(path, error, what: str, missing_fix: str, max_bytes: int = 1_000_000):
    """Read a YAML file with ``yaml.safe_load``; every failure is a one-line ``error``.

    Parameters
    ----------
    path : path-like
    error : type
        The :class:`~transcribe.errors.DrumscribeError` subclass to raise.
    what : str
        What the file is, for messages ("config file").
    missing_fix : str
        The fix suggested when the file does not exist.
    max_bytes : int
        Larger files are refused.

    Returns
    -------
    object
        The plain data (``!!python`` tags are refused by ``safe_load``).
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found; {missing_fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read {what} ({exc})") from None
    if len(text) > max_bytes:
        raise error(f"{path}: {what} is implausibly large (over {max_bytes // 1_000_000} MB)")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        if "python/" in str(exc):  # a !!python/... tag, refused by safe_load
            raise error(f"{at}: invalid YAML (a Python tag in the {what}: {problem}); only "
                        "plain YAML is accepted, no !!python tags") from None
        cm = getattr(exc, "context_mark", None)
        where = (f" {exc.context}" + (f" (opened at line {cm.line + 1})" if cm is not None else "")
                 if getattr(exc, "context", None) else "")
        raise error(f"{at}: invalid YAML ({problem}{where}); fix the {what}'s syntax "
                    "there") from None
    except RecursionError:
        raise error(f"{path}: YAML nesting too deep") from None
