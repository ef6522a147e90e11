"""Library API behind the ``transcribe`` command: model + config + plugins -> MIDI files."""

from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from drumscribe.resources import default_model_path, is_shipped_model, shipped_calibration

from .activations import Activations, save_activations
from .audio import expand_inputs
from .config import Config, load_config
from .errors import DrumscribeError, OutputError
from .io import check_writable
from .midi import onsets_to_midi, resolve_note_map, threshold_metadata, write_midi
from .pipeline import Postprocessor, PostprocessResult, make_plugin_manager, picker_order
from .run import RunOptions


def check_tempo_midi(path) -> None:
    """Check up front that ``--tempo-from`` is a readable MIDI file.

    Raises
    ------
    ConfigError
        If it is missing, not a regular file, too large or not MIDI.
    """
    import io as _io

    import mido

    from .errors import ConfigError
    from .io import read_bounded

    data = read_bounded(path, 16 * 1024 * 1024, ConfigError, "--tempo-from MIDI file",
                        "give the MIDI file whose tempo map the chart should use")
    try:
        mido.MidiFile(file=_io.BytesIO(data))
    except Exception as exc:  # mido raises assorted types on damaged files
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: --tempo-from is not a readable MIDI file ({first}); give a "
                          "MIDI file with a tempo map") from None


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

    All of these form the run's immutable :class:`~drumscribe.transcribe.run.RunOptions`
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

        self.options = copy.deepcopy(dict(  # to build the same session on a Dask worker
            model=model, config=config, calibration=calibration, use_calibration=use_calibration,
            threshold=threshold, class_thresholds=class_thresholds, plugins=list(plugins),
            disable_plugins=list(disable_plugins), force=force, device=device, verbose=verbose,
            overwrite=overwrite, options=dict(options or {})))
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
        tempo_from = self.run.option("tempo_from") or (cfg.plugins_config.get("chart") or {}).get(
            "tempo_from")
        if tempo_from:
            check_tempo_midi(tempo_from)
        self.config = cfg
        self.transcriber = Transcriber(model_path, device=device)
        ck = self.transcriber.checkpoint
        self.post = Postprocessor(cfg, ck.classes, ck.fingerprint, plugins=plugins,
                                  disable=disable_plugins, force=force, verbose=verbose,
                                  log=self.log, run=self.run)
        self.note_map_overrides = dict(cfg.export.note_map)
        self._check_setup()

    def _check_setup(self) -> None:
        """Run postprocessing and MIDI export once on silent activations, so that
        errors of the setup (class groups, disabled classes, note map, plugin
        options) are reported once, before any song, instead of for every song."""
        import numpy as np

        ck = self.transcriber.checkpoint
        act = Activations(np.zeros((64, len(ck.classes)), np.float32), ck.features.fps,
                          list(ck.classes), ck.fingerprint, "<setup check>")
        log, self.post.context.log = self.post.context.log, (lambda m: None)
        try:
            self.midi_for(self.post.run(act))
        except DrumscribeError as exc:
            msg = str(exc)
            named = [str(ck.path)] + ([self.config.path] if self.config.path else [])
            if not any(n in msg for n in named):  # e.g. a class of the model without a note
                raise type(exc)(f"{ck.path}: {msg}") from None
            raise
        finally:
            self.post.context.log = log

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
    """Create the output folder (and parents) and check that it is writable.

    Raises
    ------
    OutputError
        If it cannot be created (a file is in the way, no permission) or is
        not writable.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create output folder ({_os_words(exc)}); "
                          "choose another with -o") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"{out}: output folder {out} is not writable; choose another with -o")
    return out


def _os_words(exc: OSError) -> str:
    from .io import _oserror_words

    return _oserror_words(exc)


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


# ------------------------------------------------------------------ output plan

OUTPUT_KINDS = ("midi", "activations", "chart", "preview")
"""What a song can produce, in the order they are reported."""


@dataclass
class SongPlan:
    """Where one song's outputs go.

    Attributes
    ----------
    input : Path
        The audio file.
    key : PurePosixPath
        The output name without extension, relative to the output folders
        (see :func:`output_keys`).
    outputs : dict of str -> Path
        Final path of each output asked for: ``midi`` (``<key>.mid``),
        ``activations`` (``<key>.npz``), ``chart`` (the chart folder
        ``<chart>/<key>/``) and ``preview`` (``<key>.png``).
    export_dir : Path or None
        Folder the export plugins write into (the chart folder's parent).
    """

    input: Path
    key: PurePosixPath
    outputs: Dict[str, Path]
    export_dir: Optional[Path] = None
    chart_subfolder: bool = True

    @property
    def folders(self) -> List[Path]:
        """Every folder the song writes into."""
        out = []
        for p in list(self.outputs.values()) + ([self.export_dir] if self.export_dir else []):
            q = p.parent if p != self.export_dir else p
            if q not in out:
                out.append(q)
        return out

    def unit(self):
        from .io import OutputUnit

        return OutputUnit(self.key.name, self.outputs["midi"].parent, self.folders)

    def exists(self, kind: str) -> bool:
        """Whether the output ``kind`` is complete (units are committed whole)."""
        p = self.outputs[kind]
        if kind == "chart":
            if self.chart_subfolder:
                return p.is_dir()
            return (p / "notes.mid").is_file() or (p / "notes.chart").is_file()
        return p.is_file()

    def missing(self, overwrite: bool = False) -> List[str]:
        """The outputs still to write (all of them with ``overwrite``)."""
        return [k for k in self.outputs if overwrite or not self.exists(k)]

    def export_name(self, name: str) -> str:
        """Final name of an entry an export plugin wrote for this song: the
        input's stem is replaced by the key's name (``x.png`` -> ``a/x.png``)."""
        stem = self.input.stem
        if name == stem:
            return self.key.name
        if name.startswith(stem + "."):
            return self.key.name + name[len(stem):]
        return name


def _fold(key) -> str:
    return str(key).casefold()


def output_keys(files: Sequence) -> List[Tuple[Path, PurePosixPath]]:
    """Give each input a distinct output name (the rule is in docs/reliability.md).

    An input's outputs are named after its stem (``songs/x.wav`` -> ``x.mid``).
    Inputs whose stems clash (compared without case, as macOS and Windows
    file systems do) are named after their paths relative to the folder they
    share: ``a/x.wav`` and ``b/x.wav`` -> ``a/x.mid`` and ``b/x.mid``; if that
    still clashes the extension is kept: ``x.wav`` and ``x.flac`` ->
    ``x.wav.mid`` and ``x.flac.mid``. A name longer than the file system allows
    is cut and given a hash (:func:`drumscribe.transcribe.io.short_name`). The same file
    given twice is transcribed once.

    Returns
    -------
    list of (Path, PurePosixPath)
        Each distinct input with its key, in input order.

    Raises
    ------
    OutputError
        If two inputs still get the same name, naming both.
    """
    from .io import short_name

    seen, unique = set(), []
    for f in files:
        f = Path(f)
        real = os.path.realpath(f)
        if real in seen:
            continue
        seen.add(real)
        unique.append(f)
    by_stem: Dict[str, List[Path]] = {}
    for f in unique:
        by_stem.setdefault(f.stem.casefold(), []).append(f)
    keys: Dict[Path, PurePosixPath] = {}
    for group in by_stem.values():
        if len(group) == 1:
            keys[group[0]] = PurePosixPath(group[0].stem)
            continue
        absp = [Path(os.path.abspath(f)) for f in group]
        common = Path(os.path.commonpath([str(a.parent) for a in absp]))
        rel = [a.relative_to(common) for a in absp]
        cand = [PurePosixPath(*r.parent.parts, r.stem) for r in rel]
        folded = [_fold(c) for c in cand]
        for i, f in enumerate(group):
            if folded.count(folded[i]) > 1:
                cand[i] = PurePosixPath(*rel[i].parent.parts, rel[i].name)
            keys[f] = cand[i]
    keys = {f: PurePosixPath(*[short_name(part, room=4) for part in k.parts])
            for f, k in keys.items()}
    owner: Dict[str, Path] = {}
    for f in unique:
        k = _fold(keys[f])
        if k in owner:
            raise OutputError(f"{owner[k]} and {f} would both write the outputs named "
                              f"{keys[f]}; rename one or transcribe them in separate runs "
                              "with different -o")
        owner[k] = f
    return [(f, keys[f]) for f in unique]


def plan_batch(files: Sequence, out_dir=None, save_activations: bool = False, chart_dir=None,
               preview: bool = False, chart_subfolder: bool = True) -> List[SongPlan]:
    """Where every song's outputs go; checked before any song is read.

    Outputs go to ``out_dir``, or to the current folder when it is None (never
    next to the input unless asked). The preview goes into the chart folder
    when ``chart_dir`` is given.

    Raises
    ------
    OutputError
        If two inputs would write the same output, an output would replace an
        input, or several songs would share one chart folder.
    """
    out = Path(out_dir) if out_dir else Path(".")
    pairs = output_keys(files)
    export_root = Path(chart_dir) if chart_dir else (out if preview else None)
    if chart_dir and not chart_subfolder and len(pairs) > 1:
        raise OutputError(f"{chart_dir}: plugins_config.chart.subfolder is false, so every song "
                          "would write the same chart files; give one song per run or drop "
                          "subfolder: false")
    plans = []
    for f, key in pairs:
        base = out.joinpath(*key.parent.parts)
        outputs = {"midi": base / f"{key.name}.mid"}
        if save_activations:
            outputs["activations"] = base / f"{key.name}.npz"
        export_dir = export_root.joinpath(*key.parent.parts) if export_root is not None else None
        if chart_dir and export_dir is not None:
            outputs["chart"] = export_dir / key.name if chart_subfolder else export_dir
        if preview and export_dir is not None:
            outputs["preview"] = export_dir / f"{key.name}.png"
        plans.append(SongPlan(f, key, outputs, export_dir, chart_subfolder))
    inputs = {os.path.realpath(p.input): p.input for p in plans}
    for plan in plans:
        for kind, final in plan.outputs.items():
            real = os.path.realpath(final)
            if real in inputs:
                if os.path.realpath(plan.input) == real:
                    raise OutputError(f"{plan.input}: its own output {final} would replace it; "
                                      "choose another -o or rename the audio file")
                raise OutputError(f"{inputs[real]}: the output {final} of {plan.input} would "
                                  "replace this input; choose another -o")
            if kind == "chart":
                inside = [i for r, i in inputs.items() if r.startswith(real.rstrip(os.sep) + os.sep)]
                if inside:
                    raise OutputError(f"{inside[0]}: the chart folder {final} of {plan.input} "
                                      "holds this input and would replace it; choose another "
                                      "--chart folder")
    return plans


def recover_outputs(plans: Sequence[SongPlan]) -> Dict[str, str]:
    """Finish or remove what an interrupted run left for these songs.

    A committed output unit is moved into place, an uncommitted one's staging
    folders and every stale temporary of a planned output are removed.

    Returns
    -------
    dict
        ``{input: "finished" | "removed"}`` for the songs that had leftovers.
    """
    from .io import _remove, stale_temporaries

    done = {}
    listings: Dict[Path, List[str]] = {}

    def listing(folder: Path) -> List[str]:
        if folder not in listings:
            try:
                listings[folder] = [n for n in os.listdir(folder) if n.endswith(".part")]
            except OSError:
                listings[folder] = []
        return listings[folder]

    for plan in plans:
        if not plan.outputs["midi"].parent.is_dir():
            continue
        what = plan.unit().recover()
        for final in plan.outputs.values():
            for tmp in stale_temporaries(final, listing(final.parent)):
                _remove(tmp)
                what = what or "removed"
        if what:
            done[str(plan.input)] = what
    return done


def _chart_subfolder(session) -> bool:
    opts = (getattr(session.config, "plugins_config", None) or {}).get("chart") or {}
    return bool(opts.get("subfolder", True))


def transcribe_file(session: TranscriptionSession, path, out_dir=None, overwrite: bool = False,
                    save_activations_file: bool = False, chart_dir=None, preview: bool = False):
    """Transcribe one song; returns (midi_path, result, extra_paths).

    Outputs are named after the song's stem and go to ``out_dir`` (default:
    the current folder). Only the outputs that do not exist yet are written
    (all of them with ``overwrite``), together as one unit.

    Raises
    ------
    DrumscribeError
        For unreadable audio, plugin failures or unwritable outputs; no partial
        output is left behind.
    """
    plan = plan_batch([path], out_dir, save_activations_file, chart_dir, preview,
                      _chart_subfolder(session))[0]
    kinds = plan.missing(overwrite)
    if not kinds:
        raise OutputError(f"{plan.outputs['midi']}: output exists; pass --overwrite to replace it")
    return _transcribe_planned(session, plan, kinds)


def _transcribe_planned(session: TranscriptionSession, plan: SongPlan, kinds: Sequence[str]):
    """Run the model over one song and write the outputs ``kinds`` as one unit."""
    
    for kind in kinds:
        if kind != "chart":
            check_writable(plan.outputs[kind], overwrite=True)
    act = session.activations(plan.input)
    if act.n_frames == 0:
        raise DrumscribeError(f"{plan.input}: no audio frames; nothing to transcribe")
    result = session.postprocess(act)
    mid = session.midi_for(result)
    unit = plan.unit()
    extra: List[str] = []
    try:
        if "midi" in kinds:
            write_midi(unit.stage(plan.outputs["midi"]), mid)
        if "activations" in kinds:
            save_activations(unit.stage(plan.outputs["activations"]), act)
            extra.append(str(plan.outputs["activations"]))
        exports = [k for k in ("chart", "preview") if k in kinds]
        if exports:
            assert plan.export_dir is not None  # planned with chart_dir or preview
            export_dir = plan.export_dir
            stage = unit.staging(export_dir) / "export"
            stage.mkdir()
            session.post.export(result.onsets, result.activations, result.thresholds,
                                plan.input, stage, set(exports), overwrite=True)
            for entry in sorted(stage.iterdir()):
                final = export_dir / plan.export_name(entry.name)
                unit.moves.append((entry, final))
                extra.append(str(final) + ("/" if entry.is_dir() else ""))
        unit.commit()
    except DrumscribeError as exc:
        msg = unit.public(str(exc))
        unit.discard()
        raise type(exc)(msg) from None
    except BaseException:  # Ctrl-C, a kill signal or a full disk: nothing of this song appears
        unit.discard()
        raise
    return plan.outputs["midi"], result, extra


def transcribe_files(session: TranscriptionSession, files: Sequence, out_dir=None,
                     overwrite: bool = False, save_activations: bool = False, chart_dir=None,
                     preview: bool = False, say=print, err=print, progress: bool = True,
                     report: Optional[BatchReport] = None) -> BatchReport:
    """Transcribe many songs; a failing song is reported and the batch goes on.

    Before any song: outputs are planned (:func:`plan_batch`; clashes and
    outputs that would replace an input are errors), the output folders are
    created and checked, and what an interrupted run left is finished or
    removed (:func:`recover_outputs`). A song is skipped only when every
    output asked for exists (unless ``overwrite``); otherwise its missing
    outputs are written, together. Pass ``report`` to follow progress (the
    command line reads it after Ctrl-C).

    Raises
    ------
    OutputError
        For the setup errors above, before any song is read.
    """
    from tqdm import tqdm

    report = report if report is not None else BatchReport()
    plans = plan_batch(files, out_dir, save_activations, chart_dir, preview,
                       _chart_subfolder(session))
    for folder in dict.fromkeys(f for p in plans for f in p.folders):
        make_output_dir(folder)
    for name, what in recover_outputs(plans).items():
        if what == "finished":
            say(f"{name}: finished writing the outputs of an interrupted run")
    bar = tqdm(plans, unit="song", disable=not progress or len(plans) < 2, leave=False)
    for plan in bar:
        f = plan.input
        kinds = plan.missing(overwrite)
        if not kinds:
            report.skipped.append(str(f))
            say(f"{f}: {plan.outputs['midi']} exists, skipped (pass --overwrite to redo)")
            continue
        t0 = time.perf_counter()
        try:
            mp, result, extra = _transcribe_planned(session, plan, kinds)
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
        kept = [k for k in plan.outputs if k not in kinds]
        say(f"{f} -> {mp}: {_summary(result)} [{dt:.1f} s]"
            + (f"; also {', '.join(extra)}" if extra else "")
            + (f" (kept the existing {', '.join(kept)})" if kept else ""))
    say_summary(report, len(plans), say, err)
    return report


def say_summary(report, n_files: int, say, err) -> None:
    """The batch's closing lines (one process and ``--workers`` alike): counts, then
    each failed file; nothing for a single song, whose error was its one line."""
    if n_files > 1:
        say(f"done: {len(report.done)} transcribed, {len(report.skipped)} skipped, "
            f"{len(report.failed)} failed")
        for msg in report.failed.values():
            err(f"failed: {msg}")


def transcribe_many(paths: Sequence, out_dir=None, *, client=None,
                    session: Optional[TranscriptionSession] = None, overwrite: bool = False,
                    save_activations: bool = False, chart_dir=None, preview: bool = False,
                    say=print, err=print, progress: bool = True,
                    report: Optional[BatchReport] = None, **session_options) -> BatchReport:
    """Transcribe songs in one process, or as tasks on a Dask cluster (``client``).

    Both give the same outputs, messages, report and summary
    (:mod:`drumscribe.transcribe.distributed` says how).

    Parameters
    ----------
    paths : sequence of path-like
        Audio files, or folders of them (searched recursively, as ``transcribe`` does).
    out_dir : path-like, optional
        Folder for ``<stem>.mid``; default next to each song.
    client : distributed.Client, optional
        Run on its workers; each worker loads the model once. Make one with
        :func:`drumscribe.transcribe.distributed.local_client` or ``distributed.Client(address)``.
    session : TranscriptionSession, optional
        A loaded session; otherwise one is made from ``**session_options``
        (the arguments of :class:`TranscriptionSession`).
    overwrite, save_activations, chart_dir, preview, say, err, progress, report
        As for :func:`transcribe_files`.

    Returns
    -------
    BatchReport

    Raises
    ------
    DrumscribeError
        For setup errors (model, config, plugins, output folder); errors of one
        song are reported and the batch goes on.

    Examples
    --------
    >>> from drumscribe.transcribe.api import transcribe_many                # doctest: +SKIP
    >>> from drumscribe.transcribe.distributed import local_client           # doctest: +SKIP
    >>> with local_client(4) as client:                           # doctest: +SKIP
    ...     report = transcribe_many(["music/"], "out/", client=client)
    """
    if session is None:
        session = TranscriptionSession(**session_options)
    elif session_options:
        raise TypeError(f"give a session or session options, not both ({', '.join(session_options)})")
    files = expand_inputs([str(p) for p in paths])
    kwargs = dict(overwrite=overwrite, save_activations=save_activations, chart_dir=chart_dir,
                  preview=preview, say=say, err=err, progress=progress, report=report)
    if client is None:
        return transcribe_files(session, files, out_dir, **kwargs)
    from .distributed import transcribe_on

    return transcribe_on(client, session, files, out_dir, **kwargs)
