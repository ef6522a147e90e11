"""Silence what native libraries print on stderr (mpg123's ``Note: Illegal
Audio-MPEG-Header ...`` when libsndfile probes a file that is not MPEG audio).

Our own one-line message says what went wrong; the decoder's lines would only
come before it and confuse. Python-level ``sys.stderr`` is not touched.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for the duration (no-op when it cannot)."""
    try:
        fd = sys.__stderr__.fileno() if sys.__stderr__ is not None else 2
        saved = os.dup(fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with contextlib.suppress(Exception):
            sys.__stderr__.flush()
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
