"""Stopping on SIGINT, SIGTERM and SIGHUP: one exception, one exit code per signal.

While :func:`interruptible` is active, each of the three signals raises
:class:`Interrupted` in the main thread, so ``finally`` blocks and
:func:`drumscribe.transcribe.io.atomic_write` remove temporaries exactly as for Ctrl-C.
The command prints ``interrupted: N done, rerun to resume`` and exits with
``128 + signal number``: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP).
"""

from __future__ import annotations

import contextlib
import signal
import threading

SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class Interrupted(KeyboardInterrupt):
    """Raised by :func:`interruptible`'s handler; ``exit_code`` is ``128 + signum``."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code(exc: BaseException) -> int:
    """The exit status for an interruption (130 for a plain KeyboardInterrupt)."""
    return getattr(exc, "exit_code", 128 + int(signal.SIGINT))


def _raise(signum, frame):
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible():
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Interrupted`; restore the old
    handlers on exit. Outside the main thread (no signal handlers can be set)
    it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def ignore_signals() -> None:
    """Ignore further signals while the interruption is being reported (a second
    Ctrl-C must not turn the one-line message into a traceback)."""
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)
