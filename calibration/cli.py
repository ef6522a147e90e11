"""``calibrate``: fit per-class onset thresholds on validation data.

A thin layer over :mod:`calibration.data`, :mod:`calibration.sweep`,
:mod:`calibration.objectives` and :mod:`calibration.report`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import List, Optional

from drumscribe import __version__
from transcribe.cli import HelpFormatter
from transcribe.errors import DrumscribeError, report_internal_error

USAGE = ("calibrate (--predictions DIR [--data DIR] | --model M --data DIR) -o calibration.yaml "
         "[--report DIR] [--objective NAME] [--level event|frame] [--window-ms 50] [--config C] "
         "[--plugin P] [--quiet] [--overwrite]")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``calibrate`` command."""
    p = argparse.ArgumentParser(
        prog="calibrate", usage=USAGE,
        description="Fit per-class onset thresholds on validation data and write a calibration "
                    "file for transcribe (--calibration) plus an optional analysis report.",
        formatter_class=HelpFormatter)
    p.add_argument("--predictions", metavar="DIR", default=None,
                   help="folder of NAME.npz predictions (transcribe --save-activations) with "
                        "NAME.mid/.tsv/.txt ground truth beside them or in --data")
    p.add_argument("--model", metavar="M", default=None,
                   help="checkpoint to run over the audio in --data (predictions are cached)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="folder of audio (with --model) or of ground truth (with --predictions)")
    p.add_argument("-o", "--output", required=True, metavar="calibration.yaml",
                   help="calibration file to write")
    p.add_argument("--report", metavar="DIR", default=None,
                   help="also write CSV tables, plots and analysis_report.txt here")
    p.add_argument("--objective", default="f1",
                   help="f1, fbeta:B, recall@precision=P, game or global")
    p.add_argument("--level", choices=("event", "frame"), default="event",
                   help="score picked onsets (event) or frames (frame)")
    p.add_argument("--window-ms", type=float, default=50.0,
                   help="onset matching tolerance (± ms)")
    p.add_argument("--widen", type=int, default=0,
                   help="frame targets: also mark this many frames on each side of an onset")
    p.add_argument("--fallback", type=float, default=0.5,
                   help="threshold kept for classes without positives")
    p.add_argument("--config", default=None, help="YAML config (class groups, min gap, plugins)")
    p.add_argument("--plugin", action="append", default=[], metavar="P",
                   help="extra postprocessing plugin by module path or .py file")
    p.add_argument("--disable-plugin", action="append", default=[], metavar="NAME",
                   help="do not load this plugin")
    p.add_argument("--cache-dir", default=None,
                   help="prediction cache for --model (default: ~/.cache/drumscribe/predictions)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (with --model)")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    p.add_argument("--debug", action="store_true", help="print the traceback of an error")
    p.add_argument("--version", action="version", version=f"%(prog)s (drumscribe) {__version__}")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command; returns 0 (ok), 1 (written, but some files failed), 2 (usage/setup)
    or 70 (internal error: a bug, reported with "internal error, please report")."""
    try:
        return _main(argv)
    except Exception as exc:  # not a DrumscribeError: a bug here or in a plugin
        return report_internal_error("calibrate", exc, "--debug" in (sys.argv[1:] if argv is None else argv))


def _main(argv: Optional[List[str]]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.predictions) == bool(args.model):
        parser.error("give exactly one of --predictions DIR or --model M")
    if args.model and not args.data:
        parser.error("--model needs --data DIR (audio with ground truth)")
    if not 0.0 <= args.fallback <= 1.0:
        parser.error("--fallback must be in [0, 1]")
    if args.widen < 0:
        parser.error("--widen must be >= 0")

    def err(msg):
        print(msg, file=sys.stderr)

    def say(msg):
        if not args.quiet:
            print(msg)

    from .objectives import parse_objective

    try:
        objective = parse_objective(args.objective)
    except DrumscribeError as exc:
        err(f"error: --objective: {exc}")
        return 2
    if not args.window_ms > 0:
        err(f"error: --window-ms must be > 0, got {args.window_ms}")
        return 2
    try:
        return _run(args, objective, say, err)
    except DrumscribeError as exc:
        err(f"error: {exc}")
        if args.debug:
            import traceback
            traceback.print_exc()
        return 2


def _run(args, objective, say, err) -> int:
    from transcribe.config import Config, load_config
    from transcribe.io import check_writable
    from transcribe.pipeline import Postprocessor

    from . import data, report, sweep
    from .calfile import write_calibration
    from .objectives import choose_thresholds

    out = check_writable(args.output, args.overwrite)
    if args.report:
        rdir = Path(args.report)
        if rdir.exists() and any(rdir.iterdir()) and not args.overwrite:
            raise DrumscribeError(f"{rdir}: report folder exists and is not empty; pass --overwrite "
                                  "or choose another --report")
    cfg = load_config(args.config) if args.config else Config()
    if args.model:
        from transcribe.inference import Transcriber

        transcriber = Transcriber(args.model, device=args.device)
        cache = data.PredictionCache(transcriber, args.cache_dir or data.default_cache_dir())
        items, skipped = data.audio_items(args.data, cache)
        model_classes, fingerprint = transcriber.classes, transcriber.checkpoint.fingerprint
    else:
        items, skipped = data.prediction_items(args.predictions, args.data)
        model_classes = fingerprint = None
        for it in items:
            try:
                act = it.load()
            except DrumscribeError:
                continue
            model_classes, fingerprint = act.classes, act.model_fingerprint
            break
    for name, why in skipped:
        err(f"skipped: {name}: {why}")
    if not items or model_classes is None:
        raise DrumscribeError("no validation file with ground truth could be read; see the "
                              "messages above")
    post = Postprocessor(cfg, model_classes, fingerprint, plugins=args.plugin,
                         disable=args.disable_plugin)
    groups = dict(cfg.postprocessing.class_groups)
    progress = None
    if not args.quiet:
        from tqdm import tqdm

        def progress(xs):
            return tqdm(xs, desc="calibrate", unit="file", file=sys.stderr)

    result = sweep.sweep(items, post, level=args.level, window_ms=args.window_ms,
                         widen=args.widen, progress=progress, warn=err)
    result.skipped = list(skipped)
    choices = choose_thresholds(result.curves(), objective, args.fallback, groups=groups)
    conf = sweep.confusion(items, post, {c: ch.threshold for c, ch in choices.items()},
                           args.window_ms)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = report.class_summary(result, choices, groups, conf)
    for w in caught:
        if not args.quiet:
            err(f"warning: {w.message}")
    cal = report.build_calibration(result, choices, summary, objective, args.window_ms,
                                   args.fallback, groups)
    write_calibration(out, cal)
    if args.report:
        report.write_report(args.report, result, choices, summary, objective, args.window_ms,
                            conf, groups, args.fallback)
    say(f"calibrated {len(result.classes)} classes on {len(result.files)} files "
        f"(objective {objective}, {result.level} level, ±{args.window_ms:g} ms, "
        f"picker {result.picker})")
    for line in report.summary_table(summary):
        say(line)
    for c, ch in choices.items():
        if ch.note:
            say(f"note: {c}: {ch.note}")
    say(f"wrote {out}" + (f" and the report in {Path(args.report)}/" if args.report else ""))
    return 1 if result.failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
