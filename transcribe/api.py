"""Library API behind the ``transcribe`` command: model + config + plugins -> MIDI files."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from drumscribe.resources import default_model_path, is_shipped_model, shipped_calibration

from .activations import Activations, save_activations
from .config import Config, load_config
from .errors import DrumscribeError, OutputError
from .io import check_writable
from .midi import onsets_to_midi, resolve_note_map, threshold_metadata, write_midi
from .pipeline import Postprocessor, PostprocessResult, make_plugin_manager, picker_order
from .run import RunOptions


def describe_plugins(plugins: Sequence[str] = (), disable: Sequence[str] = (),
                     config_path: Optional[str] = None) -> List[str]:
    """Lines describing each loaded plugin, for ``transcribe --list-plugins``.

    For each plugin: its name, where it comes from (distribution and version and
    entry point, or module file and ``__version__``) and the hooks it
    implements; last, the order in which the first-result picking hook asks the
    pickers (the first that answers picks the onsets).

    Parameters
    ----------
    plugins : sequence of str
        Extra plugins (``--plugin``).
    disable : sequence of str
        Plugins not to load (``--disable-plugin``).
    config_path : path-like, optional
        Config whose ``postprocessing.plugins`` and ``disable_plugins`` apply.

    Returns
    -------
    list of str

    Raises
    ------
    PluginError
        If a plugin fails to load (naming it and its package version).
    """
    cfg = load_config(config_path) if config_path else Config()
    pm, info = make_plugin_manager(list(cfg.postprocessing.plugins) + list(plugins),
                                   list(cfg.postprocessing.disable_plugins) + list(disable))
    configure_plugins(pm, cfg)
    lines = []
    for name, pi in info.items():
        source = pi.source
        version = getattr(pm.get_plugin(name), "__version__", None)
        if not pi.version and isinstance(version, str):
            source = f"{source}, version {version}"
        lines.append(f"{name:<18} {source}")
        lines.append(f"{'':<18} hooks: {', '.join(pi.hooks) or '-'}")
    pickers = picker_order(pm)
    lines.append(f"{'onsets picked by':<18} " + (
        f"{pickers[0]}" + (f" (then {', '.join(pickers[1:])})" if pickers[1:] else "")
        if pickers else "nobody: no picking plugin is loaded"))
    return lines


def configure_plugins(pm, cfg: Config) -> None:
    """Run ``drumscribe_configure`` as a transcription would (no model: the default
    vocabulary, ``force``), so ``--list-plugins`` reports a plugin's config error too."""
    from .hookspecs import Context
    from .pipeline import _call, _impls, check_plugin_sections
    from .vocabulary import CLASS_NAMES

    context = Context(config=cfg, model_classes=list(CLASS_NAMES), force=True)
    for impl in _impls(pm, "drumscribe_configure"):
        _call(impl, "drumscribe_configure", {"context": context})
    check_plugin_sections(cfg, context.sections_read | {n for n, _ in pm.list_name_plugin()})


class TranscriptionSession:
    """A loaded model, configuration and postprocessing stage, reused across songs.

    Parameters
    ----------
    model : path-like, optional
        Checkpoint; default :func:`default_model_path`.
    config : path-like or Config, optional
    calibration : path-like, optional
        Calibration file; beats the config's ``calibration_file``.
    use_calibration : bool
        If false, no calibration file is used at all. If true and neither the
        config nor ``calibration`` names one, the shipped
        ``calibration/default.yaml`` is used when the model is the shipped one
        (not for ``$DRUMSCRIBE_MODEL`` or ``--model``, whatever they name).
    threshold : float, optional
        ``--threshold T``.
    class_thresholds : dict, optional
        ``--threshold CLASS=T``.
    plugins, disable_plugins : sequence of str
    force, verbose : bool
    device : str
    log : callable
    overwrite : bool
        ``--overwrite`` (``context.run.overwrite``).
    options : dict, optional
        Values of the options plugins added to the command line
        (``drumscribe_add_arguments``), by ``dest``: ``{"bpm": 120.0}``.

    All of these form the run's immutable :class:`~transcribe.run.RunOptions`
    (``context.run`` in every hook); a ``Config`` passed in is copied, never
    modified.
    """

    def __init__(self, model=None, config=None, calibration=None, use_calibration: bool = True,
                 threshold: Optional[float] = None, class_thresholds: Optional[Dict[str, float]] = None,
                 plugins: Sequence[str] = (), disable_plugins: Sequence[str] = (),
                 force: bool = False, device: str = "cpu", verbose: bool = False,
                 log: Optional[Callable[[str], None]] = None, overwrite: bool = False,
                 options: Optional[Dict[str, Any]] = None):
        from .inference import Transcriber

        self.log = log or (lambda m: None)
        cfg = copy.deepcopy(config) if isinstance(config, Config) else (
            load_config(config) if config else Config())
        self.run = RunOptions(threshold=threshold, class_thresholds=class_thresholds or {},
                              overwrite=overwrite, options=options or {})
        model_path = Path(model) if model else default_model_path()
        if calibration:
            cfg.postprocessing.calibration_file = str(calibration)
        elif not use_calibration:
            cfg.postprocessing.calibration_file = None
        elif cfg.postprocessing.calibration_file is None and is_shipped_model(model_path):
            cfg.postprocessing.calibration_file = str(shipped_calibration())
        self.config = cfg
        self.transcriber = Transcriber(model_path, device=device)
        ck = self.transcriber.checkpoint
        self.post = Postprocessor(cfg, ck.classes, ck.fingerprint, plugins=plugins,
                                  disable=disable_plugins, force=force, verbose=verbose,
                                  log=self.log, run=self.run)
        self.note_map_overrides = dict(cfg.export.note_map)

    def describe(self) -> List[str]:
        """Lines for ``--verbose``: model, plugins."""
        ck = self.transcriber.checkpoint
        lines = [f"model: {ck.path} (sha256 {ck.fingerprint[:12]}, {len(ck.classes)} classes, "
                 f"{ck.features.fps:g} fps)"]
        for name, pi in self.post.plugin_info.items():
            lines.append(f"plugin: {name} ({pi.source})")
        return lines

    def activations(self, path) -> Activations:
        """Model activations of one audio file."""
        return self.transcriber.activations_from_file(path)

    def postprocess(self, act: Activations) -> PostprocessResult:
        """Onsets and thresholds for activations."""
        return self.post.run(act)

    def midi_for(self, result: PostprocessResult):
        """The MIDI file for a postprocessing result."""
        notes = resolve_note_map(result.activations.classes, self.note_map_overrides,
                                 self.config.postprocessing.class_groups)
        meta = ["drumscribe transcription"] + threshold_metadata(result.thresholds, result.sources)
        return onsets_to_midi(result.onsets, notes,
                              note_duration_ms=self.config.export.note_duration_ms, metadata=meta)


def make_output_dir(out_dir) -> Path:
    """Create the output folder (and parents).

    Raises
    ------
    OutputError
        If it cannot be created (a file is in the way, no permission).
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create output folder ({exc.strerror}); "
                          "choose another with -o") from None
    return out


@dataclass
class BatchReport:
    """What happened to each file of a batch."""

    done: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    failed: Dict[str, str] = field(default_factory=dict)


def _summary(result: PostprocessResult) -> str:
    counts: Dict[str, int] = {}
    for o in result.onsets:
        counts[o.drum] = counts.get(o.drum, 0) + 1
    parts = [f"{c} {counts[c]}" for c in result.activations.classes if counts.get(c)]
    return f"{len(result.onsets)} onsets" + (f" ({', '.join(parts)})" if parts else "")


def transcribe_file(session: TranscriptionSession, path, out_dir=None, overwrite: bool = False,
                    save_activations_file: bool = False, chart_dir=None, preview: bool = False):
    """Transcribe one song; returns (midi_path, result, extra_paths).

    Raises
    ------
    DrumscribeError
        For unreadable audio, plugin failures or unwritable outputs; no partial
        output is left behind.
    """
    path = Path(path)
    out = Path(out_dir) if out_dir else path.parent
    midi_path = out / f"{path.stem}.mid"
    check_writable(midi_path, overwrite)
    npz_path = out / f"{path.stem}.npz"
    if save_activations_file:
        check_writable(npz_path, overwrite)
    act = session.activations(path)
    if act.n_frames == 0:
        raise DrumscribeError(f"{path}: no audio frames; nothing to transcribe")
    result = session.postprocess(act)
    mid = session.midi_for(result)
    extra = []
    if save_activations_file:
        save_activations(npz_path, act)
        extra.append(str(npz_path))
    try:
        write_midi(midi_path, mid)
    except BaseException:  # Ctrl-C or a full disk: no .npz without its .mid, so a rerun resumes
        if save_activations_file:
            npz_path.unlink(missing_ok=True)
        raise
    exports = set()
    if chart_dir:
        exports.add("chart")
    if preview:
        exports.add("preview")
    if exports:
        target = chart_dir if chart_dir else out
        extra += session.post.export(result.onsets, result.activations, result.thresholds,
                                     path, target, exports, overwrite=overwrite)
    return midi_path, result, extra


def transcribe_files(session: TranscriptionSession, files: Sequence, out_dir=None,
                     overwrite: bool = False, save_activations: bool = False, chart_dir=None,
                     preview: bool = False, say=print, err=print, progress: bool = True,
                     report: Optional[BatchReport] = None) -> BatchReport:
    """Transcribe many songs; a failing song is reported and the batch goes on.

    Existing outputs are skipped (resume) unless ``overwrite``. Pass ``report``
    to follow progress (the command line reads it after Ctrl-C).
    """
    from tqdm import tqdm

    report = report if report is not None else BatchReport()
    if out_dir:
        make_output_dir(out_dir)
    bar = tqdm(files, unit="song", disable=not progress or len(files) < 2, leave=False)
    for f in bar:
        f = Path(f)
        midi_path = Path(out_dir or f.parent) / f"{f.stem}.mid"
        if midi_path.exists() and not overwrite:
            report.skipped.append(str(f))
            say(f"{f}: {midi_path} exists, skipped (pass --overwrite to redo)")
            continue
        t0 = time.perf_counter()
        try:
            mp, result, extra = transcribe_file(session, f, out_dir, overwrite, save_activations,
                                                chart_dir, preview)
        except DrumscribeError as exc:
            msg = str(exc)
            if str(f) not in msg:
                msg = f"{f}: {msg}"
            report.failed[str(f)] = msg
            err(f"error: {msg}")
            continue
        except MemoryError:
            report.failed[str(f)] = f"{f}: out of memory"
            err(f"error: {f}: out of memory")
            continue
        report.done.append(str(f))
        if session.post.context.verbose:
            for c in result.thresholds:
                say(f"  threshold {c:<13} {result.thresholds[c]:.3f}  ({result.sources[c]})")
        dt = time.perf_counter() - t0
        say(f"{f} -> {mp}: {_summary(result)} [{dt:.1f} s]"
            + (f"; also {', '.join(extra)}" if extra else ""))
    if len(files) > 1:  # a single song's error was its one line already
        say(f"done: {len(report.done)} transcribed, {len(report.skipped)} skipped, "
            f"{len(report.failed)} failed")
        for f, msg in report.failed.items():
            err(f"failed: {msg}")
    return report
