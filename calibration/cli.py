"""``calibrate``: fit per-class onset thresholds on validation data.

A thin layer over :mod:`drumscribe.calibration.data`, :mod:`drumscribe.calibration.sweep`,
:mod:`drumscribe.calibration.objectives` and :mod:`drumscribe.calibration.report`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import List, Optional

from drumscribe import __version__
from drumscribe.transcribe import distributed  # imports Dask only when asked
from drumscribe.transcribe.cli import HelpFormatter
from drumscribe.transcribe.errors import DrumscribeError

USAGE = ("calibrate (--predictions DIR [--data DIR] | --model M --data DIR [--data DIR ...]) "
         "-o calibration.yaml [--group-by folder|folder:N|file|column:NAME [--manifest CSV]] "
         "[--min-support 50] [--transfer [auto|yes|no]] [--report DIR] [--objective NAME] "
         "[--level event|frame] [--window-ms 50] [--config C] [--plugin P] [--quiet] [--overwrite]")


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
    p.add_argument("--data", metavar="DIR", action="append", default=[],
                   help="folder of audio (with --model) or of ground truth (with --predictions); "
                        "repeat for several")
    p.add_argument("--group-by", default="folder", metavar="HOW",
                   help="what makes a data group (song, kit, session): folder (the file's folder "
                        "below its --data root), folder:N (the first N levels), file, or "
                        "column:NAME[,NAME...] (a --manifest column, else the key of the file's "
                        "STEM.json sidecar)")
    p.add_argument("--manifest", default=None, metavar="CSV",
                   help="CSV with a clip/file/name/stem column and the --group-by column")
    p.add_argument("--min-support", type=int, default=50,
                   help="below this many reference onsets a class keeps the global threshold "
                        "(up to twice this it is shrunk toward it)")
    p.add_argument("--bootstrap", type=int, default=200,
                   help="bootstrap resamples of the groups for the robust choice")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--smooth", type=float, default=0.05,
                   help="the robust choice maximises the worst averaged score within ± this")
    p.add_argument("--transfer", nargs="?", const="yes", default="auto", choices=("auto", "yes", "no"),
                   help="leave-one-group-out check that decides per class between its own "
                        "threshold, the global one and 0.5 (auto: when there are >= 2 groups)")
    p.add_argument("--transfer-confidence", type=float, default=0.0, metavar="SHARE",
                   help="the transfer check keeps a method over a simpler one only when it also wins "
                        "in this share of bootstrap resamples of the held-out groups, e.g. 0.9 "
                        "(default 0: the best pooled held-out score)")
    p.add_argument("--transfer-by-material", action="store_true",
                   help="the transfer check also holds each material (drums-only or full mix, "
                        "from the tonal share of each group's audio) on its own: a method that "
                        "loses to a simpler one on the held-out groups of one material is not kept")
    p.add_argument("--no-audio-stats", action="store_true",
                   help="do not measure the audio for the domain description")
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
    distributed.add_arguments(p)
    return p


MAX_WIDEN = 50
"""Frames marked on each side of an onset at most (0.5 s at 100 fps)."""


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command; returns 0 (ok), 1 (written, but some files failed), 2 (usage/setup)
    or 130/143/129 (interrupted by SIGINT/SIGTERM/SIGHUP: nothing written)
    or 70 (internal error: a bug, reported with "internal error, please report")."""
    from drumscribe.transcribe.cli import run_command

    counter = {"done": 0}
    return run_command("calibrate", lambda: _main(argv, counter), lambda: counter["done"], argv)


def _main(argv: Optional[List[str]], counter) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.predictions) == bool(args.model):
        parser.error("give exactly one of --predictions DIR or --model M")
    if args.model and not args.data:
        parser.error("--model needs --data DIR (audio with ground truth)")
    if args.predictions and len(args.data) > 1:
        parser.error("with --predictions, give at most one --data folder of ground truth")
    if args.min_support < 1:
        parser.error("--min-support must be >= 1")
    if not 0 <= args.smooth <= 0.5:
        parser.error("--smooth must be in [0, 0.5]")
    if not 0 <= args.transfer_confidence <= 1:
        parser.error("--transfer-confidence must be in [0, 1]")
    if args.transfer_by_material and args.no_audio_stats:
        parser.error("--transfer-by-material needs the audio measured; drop --no-audio-stats")
    if args.manifest and not str(args.group_by).startswith("column:"):  # noqa: SIM102
        parser.error("--manifest needs --group-by column:NAME")
    if not 0.0 <= args.fallback <= 1.0:
        parser.error("--fallback must be in [0, 1]")
    if not 0 <= args.widen <= MAX_WIDEN:
        parser.error(f"--widen must be between 0 and {MAX_WIDEN} frames")
    if not 0 < args.window_ms <= 1000:
        parser.error(f"--window-ms must be in (0, 1000], got {args.window_ms:g}")
    distributed.check_arguments(args, parser)

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
    try:
        with distributed.client_for(args.workers, args.scheduler) as client:  # None: this process
            return _run(args, objective, say, err, counter, client)
    except DrumscribeError as exc:
        err(f"error: {exc}")
        if args.debug:
            import traceback
            traceback.print_exc()
        return 2


def _unit(out: Path, rdir: Optional[Path]):
    from drumscribe.transcribe.io import OutputUnit

    return OutputUnit(out.name, out.parent if str(out.parent) else Path("."),
                      [rdir.parent if str(rdir.parent) else Path(".")] if rdir else [])


def _run(args, objective, say, err, counter, client=None) -> int:
    from drumscribe.transcribe.config import Config, load_config
    from drumscribe.transcribe.errors import OutputError
    from drumscribe.transcribe.io import check_writable
    from drumscribe.transcribe.pipeline import Postprocessor

    from . import data, domain, report, robust, sweep
    from .calfile import write_calibration
    from .objectives import Choice

    out = Path(args.output)
    rdir = Path(args.report) if args.report else None
    if out.is_dir():
        raise OutputError(f"{out}: -o names a folder; give the calibration file to write "
                          "(e.g. calibration.yaml)")
    if rdir is not None and rdir.exists() and not rdir.is_dir():
        raise OutputError(f"{rdir}: --report names a file, not a folder; choose a folder for "
                          "the report")
    unit = _unit(out, rdir)
    if out.parent.is_dir() and unit.recover() == "finished":
        say(f"finished writing {out}" + (f" and report {rdir}/" if rdir else "")
            + " from an interrupted run")
        return 0
    from drumscribe.transcribe.io import _remove, stale_temporaries

    for tmp in stale_temporaries(out):
        _remove(tmp)
    check_writable(out, args.overwrite)
    if rdir is not None and rdir.exists() and any(rdir.iterdir()) and not args.overwrite:
        raise DrumscribeError(f"{rdir}: report folder exists and is not empty; pass --overwrite "
                              "or choose another --report")
    cfg = load_config(args.config) if args.config else Config()
    if args.model:
        from drumscribe.transcribe.inference import Transcriber

        transcriber = Transcriber(args.model, device=args.device)
        cache = data.PredictionCache(transcriber, args.cache_dir or data.default_cache_dir())
        if client is not None:  # the model runs on the workers, loaded once by each
            from .distributed import RemoteCache

            cache = RemoteCache(args.model, transcriber.checkpoint.fingerprint,
                                args.cache_dir or data.default_cache_dir(), args.device)
        items, skipped = [], []
        for d in args.data:
            i, s = data.audio_items(d, cache)
            items += i
            skipped += s
        roots = list(args.data)
        model_classes, fingerprint = transcriber.classes, transcriber.checkpoint.fingerprint
    else:
        items, skipped = data.prediction_items(args.predictions, args.data or None)
        roots = [args.predictions]
        model_classes = fingerprint = None
        for it in items:
            try:
                act = getattr(it.load, "unchecked", it.load)()
            except DrumscribeError:
                continue
            model_classes, fingerprint = act.classes, act.model_fingerprint
            break
    for name, why in skipped:
        err(f"skipped: {name}: {why}")
    if not items or model_classes is None:
        raise DrumscribeError("no validation file with ground truth could be read; see the "
                              "messages above")
    group_note = data.assign_groups(items, roots, args.group_by, args.manifest)
    if group_note:
        say(f"note: {group_note}")
    post = Postprocessor(cfg, model_classes, fingerprint, plugins=args.plugin,
                         disable=args.disable_plugin)
    groups = dict(cfg.postprocessing.class_groups)
    def progress(xs):
        from tqdm import tqdm

        for x in tqdm(xs, desc="calibrate", unit="file", file=sys.stderr, disable=args.quiet):
            yield x
            counter["done"] += 1

    shown = set()

    def show(caught):
        for w in caught:
            line = f"warning: {w.message}"
            if line not in shown:
                shown.add(line)
                err(line)

    sweep_files, confusion = sweep.sweep, sweep.confusion
    if client is not None:  # the same two passes, one task per file
        from .distributed import runners

        sweep_files, confusion = runners(client, cfg, model_classes, fingerprint, args.plugin,
                                         args.disable_plugin)
    collector = domain.Collector(audio=not args.no_audio_stats)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", data.DataWarning)
        result = sweep_files(items, post, level=args.level, window_ms=args.window_ms,
                             widen=args.widen, progress=progress, warn=err, describe=collector)
    show(caught)
    result.skipped = list(skipped)
    result.domain = collector.profile()
    fit = robust.fit(result.by_group, objective, args.min_support, args.fallback, args.bootstrap,
                     args.seed, groups=groups, step=args.smooth)
    n_groups = len(result.by_group.groups)
    tr = None
    if args.transfer == "yes" and n_groups < 2:
        raise DrumscribeError(f"--transfer needs at least two data groups, got {n_groups}; "
                              "see --group-by")
    if args.transfer == "yes" or (args.transfer == "auto" and n_groups >= 2):
        tr = robust.transfer(result.by_group, objective, args.min_support, args.fallback,
                             max(10, args.bootstrap // 4), args.seed, groups=groups,
                             step=args.smooth, confidence=args.transfer_confidence,
                             materials=(domain.group_materials(collector.files)
                                        if args.transfer_by_material else None))
    shipped = robust.shipped_thresholds(fit, tr.kept if tr else None)
    choices = {c: Choice(t, fit.classes[c].support > 0, fit.classes[c].note)
               for c, (t, _) in shipped.items()}
    methods = {c: m for c, (_, m) in shipped.items()}
    with warnings.catch_warnings(record=True):
        conf = confusion(items, post, {c: ch.threshold for c, ch in choices.items()},
                         args.window_ms)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = report.class_summary(result, choices, groups, conf, fit=fit, methods=methods)
    for w in caught:
        if not args.quiet:
            err(f"warning: {w.message}")
    cal = report.build_calibration(result, choices, summary, objective, args.window_ms,
                                   args.fallback, groups, cfg.postprocessing.disabled_classes,
                                   post.context.onset_plugins, fit, tr, result.domain)
    try:  # the calibration file and its report appear together or not at all
        write_calibration(unit.stage(out), cal)
        if rdir is not None:
            staged = unit.stage(rdir)
            staged.mkdir()
            report.write_report(staged, result, choices, summary, objective, args.window_ms,
                                conf, groups, args.fallback, transfer=tr, fit=fit)
        unit.commit()
    except DrumscribeError as exc:
        msg = unit.public(str(exc))
        unit.discard()
        raise type(exc)(msg) from None
    except OSError as exc:  # a report writer that let an OSError through
        unit.discard()
        raise OutputError(f"{rdir or out}: cannot write the report ({exc.strerror or exc}); "
                          "free space or choose another folder, then rerun") from None
    except BaseException:
        unit.discard()
        raise
    say(f"calibrated {len(result.classes)} classes on {len(result.files)} files in {n_groups} "
        f"groups (objective {objective}, {result.level} level, ±{args.window_ms:g} ms, "
        f"picker {result.picker})")
    for line in report.summary_table(summary):
        say(line)
    if tr is not None:
        for line in report.transfer_table(tr, summary):
            say(line)
    for c, ch in choices.items():
        if ch.note:
            say(f"note: {c}: {ch.note}")
    say("calibration material: " + "; ".join(x.strip() for x in domain.describe(result.domain)[:4]))
    say(f"wrote {out}" + (f" and the report in {Path(args.report)}/ (report.html)"
                          if args.report else ""))
    return 1 if result.failed else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
