"""Library API behind the ``calibrate`` command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from drumscribe.transcribe.errors import DrumscribeError


@dataclass
class CalibrationRun:
    """What :func:`fit_calibration` wrote.

    Attributes
    ----------
    path : Path
        The calibration file.
    status : int
        0, or 1 when some validation files could not be used (they were named
        through ``err``), as the command's exit status.
    calibration : drumscribe.calibration.calfile.CalibrationFile
        The file, read back and validated.
    """

    path: Path
    status: int
    calibration: object


def fit_calibration(output, *, predictions=None, data=None, model=None, report=None,
                    objective: str = "f1", level: str = "event", window_ms: float = 50.0,
                    widen: int = 0, fallback: float = 0.5, config=None,
                    plugins: Sequence[str] = (), disable_plugins: Sequence[str] = (),
                    cache_dir=None, device: str = "cpu", overwrite: bool = False, client=None,
                    say: Optional[Callable[[str], None]] = None,
                    err: Optional[Callable[[str], None]] = None) -> CalibrationRun:
    """Fit per-class thresholds and write a calibration file, as ``calibrate`` does.

    The arguments are the command's options (``predictions`` is
    ``--predictions DIR``, ``report`` is ``--report DIR``, ...) and the run is the
    command's own code, so the file is the one the command writes.

    Parameters
    ----------
    output : path-like
        The calibration file to write.
    predictions, data, model
        ``predictions=DIR`` (``.npz`` from ``transcribe --save-activations``,
        ground truth beside them or in ``data``), or ``model=M, data=DIR`` (audio
        with ground truth; predictions cached in ``cache_dir``).
    client : distributed.Client, optional
        Run the per-file statistics as tasks on its workers; the statistics,
        and so the file, are exactly those of one process.
    say, err : callable, optional
        Receive progress and summary lines, and warnings and skipped files
        (default: dropped).

    Returns
    -------
    CalibrationRun

    Raises
    ------
    DrumscribeError
        For invalid options, unreadable inputs or an unwritable output.

    Examples
    --------
    >>> from drumscribe.calibration.api import fit_calibration                # doctest: +SKIP
    >>> from drumscribe.transcribe.distributed import local_client            # doctest: +SKIP
    >>> with local_client(4) as client:                            # doctest: +SKIP
    ...     run = fit_calibration("cal.yaml", model="models/default.pt",
    ...                           data="corpus/val", client=client)
    """
    from . import cli
    from .calfile import read_calibration
    from .objectives import parse_objective

    if (predictions is None) == (model is None):
        raise DrumscribeError("give exactly one of predictions=DIR or model=M")
    if model is not None and data is None:
        raise DrumscribeError("model=M needs data=DIR (audio with ground truth)")
    if level not in ("event", "frame"):
        raise DrumscribeError(f"level must be 'event' or 'frame', got {level!r}")
    if not 0.0 <= fallback <= 1.0:
        raise DrumscribeError(f"fallback must be in [0, 1], got {fallback}")
    if int(widen) < 0:
        raise DrumscribeError(f"widen must be >= 0, got {widen}")
    if not window_ms > 0:
        raise DrumscribeError(f"window_ms must be > 0, got {window_ms}")
    argv = ["-o", str(output), "--objective", str(objective), "--level", str(level),
            "--window-ms", repr(float(window_ms)), "--widen", str(int(widen)),
            "--fallback", repr(float(fallback)), "--device", str(device)]
    for flag, value in (("--predictions", predictions), ("--data", data), ("--model", model),
                        ("--report", report), ("--config", config), ("--cache-dir", cache_dir)):
        if value is not None:
            argv += [flag, str(value)]
    argv += [a for p in plugins for a in ("--plugin", str(p))]
    argv += [a for p in disable_plugins for a in ("--disable-plugin", str(p))]
    argv += ["--overwrite"] if overwrite else []
    argv += ["--quiet"] if say is None else []
    args = cli.build_parser().parse_args(argv)
    status = cli._run(args, parse_objective(objective), say or (lambda m: None),
                      err or (lambda m: None), {"done": 0}, client)
    return CalibrationRun(Path(output), status, read_calibration(output))
