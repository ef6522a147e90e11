"""Exceptions raised by drumscribe.

Every error a user can cause derives from :class:`DrumscribeError` and carries a
one-line message that names the file at fault and, where there is one, the fix.
The command-line tools print that line and exit non-zero instead of showing a
traceback (``--debug`` shows it). Any other exception is a bug in drumscribe or a
plugin: the tools print ``internal error, please report`` (see
:func:`report_internal_error`).

A ``DrumscribeError`` is deliberately not a ``ValueError``: a ``ValueError`` from
a programming mistake must not be mistaken for bad input.
"""

from __future__ import annotations

import difflib
import sys
import traceback
from typing import Iterable

EXIT_INTERNAL_ERROR = 70
"""Exit status after an internal error (``EX_SOFTWARE`` of sysexits.h)."""


class DrumscribeError(Exception):
    """Base class of all drumscribe errors caused by input or configuration."""


class VocabularyError(DrumscribeError):
    """A class name or note is not in the vocabulary."""


class AudioError(DrumscribeError):
    """An audio file cannot be read or holds no usable audio."""


class ActivationError(DrumscribeError):
    """An activation matrix or predictions file is malformed."""


class AnnotationError(DrumscribeError):
    """A ground-truth annotation file is malformed."""


class ConfigError(DrumscribeError):
    """A YAML configuration file is malformed or invalid."""


class CalibrationFileError(DrumscribeError):
    """A calibration file is malformed or does not match the model."""


class CheckpointError(DrumscribeError):
    """A model checkpoint cannot be loaded."""


class PluginError(DrumscribeError):
    """A postprocessing plugin failed to load or raised in a hook."""


class OutputError(DrumscribeError):
    """An output file cannot be written (exists, folder not writable, disk full)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices``, or ``""``.

    Examples
    --------
    >>> did_you_mean("kik", ["kick", "snare_head"])
    " (did you mean 'kick'?)"
    >>> did_you_mean("zzz", ["kick"])
    ''
    """
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def report_internal_error(prog: str, exc: BaseException, debug: bool) -> int:
    """Print a bug (an exception that is not a :class:`DrumscribeError`) on stderr.

    One line ``PROG: internal error, please report: TYPE: MESSAGE``, then the
    traceback with ``--debug`` or a hint to rerun with it. Returns
    :data:`EXIT_INTERNAL_ERROR`.
    """
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    print(f"{prog}: internal error, please report: {type(exc).__name__}: {first}"[:300],
          file=sys.stderr)
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    else:
        print(f"{prog}: rerun with --debug for the traceback", file=sys.stderr)
    return EXIT_INTERNAL_ERROR
