"""``transcribe``: songs in, drum MIDI files out. A thin layer over :mod:`drumscribe.transcribe.api`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, List, Optional

from drumscribe import __version__

from . import distributed  # imports Dask only when asked
from .audio import AUDIO_EXTENSIONS, expand_inputs
from .errors import DrumscribeError, report_internal_error


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown only where there is one to show (not None, False or [], and not
    twice when the help text already says it)."""

    def _get_help_string(self, action):
        if action.default in (None, False, []) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser(pm=None) -> argparse.ArgumentParser:
    """The argument parser of the ``transcribe`` command, with the options that the
    plugins of ``pm`` add (default: the built-ins')."""
    p = argparse.ArgumentParser(
        prog="transcribe",
        description="Transcribe drums in songs to MIDI (General MIDI drums or a game's note map).",
        formatter_class=HelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="SONG",
                   help="audio files (WAV, FLAC, OGG, MP3) or folders of them")
    p.add_argument("-o", "--output-dir", default=None,
                   help="folder for <stem>.mid (default: the current folder)")
    p.add_argument("--model", default=None, help="checkpoint (.pt); default: the shipped model")
    p.add_argument("--config", default=None, help="YAML config file")
    p.add_argument("--calibration", default=None,
                   help="calibration file with per-class thresholds (overrides the config's)")
    p.add_argument("--no-calibration", action="store_true",
                   help="ignore the default and configured calibration files")
    p.add_argument("--threshold", action="append", default=[], metavar="T|CLASS=T",
                   help="global threshold, or CLASS=T for one class; beats every other source")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="extra postprocessing plugin by module path or .py file")
    p.add_argument("--disable-plugin", action="append", default=[], metavar="NAME",
                   help="do not load this plugin")
    p.add_argument("--list-plugins", action="store_true", help="list loaded plugins and exit")
    p.add_argument("--save-activations", action="store_true",
                   help="also write <stem>.npz activations (the predictions format calibrate reads)")
    p.add_argument("--chart", default=None, metavar="DIR",
                   help="also write a rhythm-game chart folder (needs a chart export plugin)")
    p.add_argument("--preview", action="store_true",
                   help="also write <stem>.png: activations, thresholds, onsets and beat grid")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--force", action="store_true",
                   help="accept a calibration file made for another model")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="print thresholds and their sources, and which plugin picked onsets")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    p.add_argument("--debug", action="store_true", help="print the traceback of an error")
    p.add_argument("--version", action="version", version=f"%(prog)s (drumscribe) {__version__}")
    distributed.add_arguments(p)
    add_plugin_arguments(p, pm if pm is not None else _builtin_manager())
    return p


def _builtin_manager():
    from .pipeline import make_plugin_manager

    try:
        return make_plugin_manager(entry_points="builtin")[0]
    except DrumscribeError:  # not installed: no plugin options
        return None


def add_plugin_arguments(parser: argparse.ArgumentParser, pm) -> List[str]:
    """Let each plugin add its options (``drumscribe_add_arguments``) in its own
    argument group; returns the ``dest`` names they added.

    Raises
    ------
    PluginError
        If a plugin's options clash with others or the hook raises.
    """
    from .pipeline import _call, _impls

    before = {a.dest for a in parser._actions}
    if pm is None:
        return []
    for impl in _impls(pm, "drumscribe_add_arguments"):
        group = parser.add_argument_group(f"options of plugin {impl.plugin_name}")
        _call(impl, "drumscribe_add_arguments", {"parser": group})
    return [a.dest for a in parser._actions if a.dest not in before]


def _plugin_manager(argv):
    """The plugins this command line loads (``--plugin``, ``--disable-plugin``,
    the config's lists), found before the full parser is built."""
    from .config import Config, load_config
    from .pipeline import make_plugin_manager

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    pre.add_argument("--disable-plugin", action="append", default=[])
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    cfg = load_config(known.config) if known.config else Config()
    return make_plugin_manager(list(cfg.postprocessing.plugins) + known.plugin,
                               list(cfg.postprocessing.disable_plugins) + known.disable_plugin)[0]


def _parse_thresholds(values: List[str], parser) -> tuple:
    glob, per = None, {}
    for v in values:
        if "=" in v:
            k, _, t = v.partition("=")
            try:
                per[k.strip()] = float(t)
            except ValueError:
                parser.error(f"--threshold {v}: {t!r} is not a number")
        else:
            try:
                glob = float(v)
            except ValueError:
                parser.error(f"--threshold {v}: not a number (use T or CLASS=T)")
    for k, t in list(per.items()) + ([("global", glob)] if glob is not None else []):
        if not 0.0 <= t <= 1.0:
            parser.error(f"--threshold {k}={t}: thresholds must be in [0, 1]")
    return glob, per


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command; returns the exit status (0 ok, 1 some file failed, 2 usage/setup,
    130/143/129 interrupted by SIGINT/SIGTERM/SIGHUP)."""
    reports: list = []
    # the song being written is discarded whole on a signal; a rerun resumes
    return run_command("transcribe", lambda: _main(argv, reports),
                       lambda: len(reports[0].done) if reports else 0, argv)


def run_command(tool: str, body: Callable[[], int], done: Callable[[], int],
                argv: Optional[List[str]]) -> int:
    """Run a command's ``body`` the way both commands do: file names in any encoding
    on the terminal, SIGINT/SIGTERM/SIGHUP turned into one line "interrupted: N
    done, rerun to resume" (``N = done()``) and exit 130/143/129, and any
    exception that is not a :class:`DrumscribeError` reported as an internal
    error (exit 70; the traceback with ``--debug``)."""
    from .signals import exit_code, ignore_signals, interruptible

    _safe_streams()
    with interruptible():
        try:
            return body()
        except KeyboardInterrupt as exc:
            ignore_signals()
            print(f"interrupted: {done()} done, rerun to resume", file=sys.stderr)
            return exit_code(exc)
        except Exception as exc:  # not a DrumscribeError: a bug here or in a plugin
            return report_internal_error(tool, exc,
                                         "--debug" in (sys.argv[1:] if argv is None else argv))


def _safe_streams() -> None:
    """File names in any encoding reach the terminal (undecodable bytes escaped)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


def _main(argv, reports: list) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        pm = _plugin_manager(argv)
    except DrumscribeError as exc:
        if not {"-h", "--help", "--version"} & set(argv):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        pm = None
    parser = build_parser(pm)
    plugin_dests = add_plugin_arguments(argparse.ArgumentParser(add_help=False), pm)
    args = parser.parse_args(argv)
    if not args.inputs and not args.list_plugins:
        parser.error("give at least one SONG (or --list-plugins)")
    if args.calibration and args.no_calibration:
        parser.error("--calibration and --no-calibration exclude each other")
    distributed.check_arguments(args, parser)
    glob, per = _parse_thresholds(args.threshold, parser)
    if args.chart and Path(args.chart).exists() and not Path(args.chart).is_dir():
        print(f"error: {args.chart}: --chart needs a folder, and this is a file; choose a folder "
              "(it is created if missing)", file=sys.stderr)
        return 2
    options = {d: getattr(args, d) for d in plugin_dests if getattr(args, d, None) is not None}

    from . import api  # heavy imports only after --help

    def say(msg):
        if not args.quiet:
            print(msg)

    try:
        if args.list_plugins:
            for line in api.describe_plugins(args.plugin, args.disable_plugin, args.config):
                print(line)
            return 0
        session = api.TranscriptionSession(
            model=args.model, config=args.config, calibration=args.calibration,
            use_calibration=not args.no_calibration, threshold=glob, class_thresholds=per,
            plugins=args.plugin, disable_plugins=args.disable_plugin, force=args.force,
            device=args.device, verbose=args.verbose, log=say, overwrite=args.overwrite,
            options=options)
    except DrumscribeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.debug:
            import traceback
            traceback.print_exc()
        return 2
    if args.verbose:
        for line in session.describe():
            say(line)
    files = expand_inputs(args.inputs)
    if not files:
        print(f"error: {', '.join(args.inputs)}: no audio files "
              f"({', '.join(AUDIO_EXTENSIONS)}) found in the given folders", file=sys.stderr)
        return 1
    report = api.BatchReport()
    reports.append(report)
    if distributed.wanted(args):  # --workers N / --scheduler: the same batch on Dask
        return distributed.run_cli(args, session, files, say, report)
    try:  # errors before the first song (clashing outputs, unwritable folders) are setup errors
        api.transcribe_files(session, files, args.output_dir, overwrite=args.overwrite,
                             save_activations=args.save_activations, chart_dir=args.chart,
                             preview=args.preview, say=say,
                             err=lambda m: print(m, file=sys.stderr),
                             progress=not (args.quiet or args.verbose), report=report)
    except DrumscribeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if not report.failed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
