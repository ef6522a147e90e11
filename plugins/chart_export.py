"""Built-in export: a rhythm-game chart folder for Clone Hero, YARG and Rock Band.

Active when ``transcribe ... --chart DIR`` asks for it (``"chart"`` in
``context.run.exports``). For each song it writes ``DIR/<stem>/``
(or ``DIR`` itself with ``subfolder: false``) holding ``notes.mid``,
``notes.chart``, ``song.ini`` and a copy of the audio as ``song.<ext>``. The
GM MIDI file is left unquantised; only the chart is snapped to the beat grid.

Configuration (``plugins_config.chart``; see ``docs/charts.md``)::

    plugins_config:
      chart:
        lanes: {high_mid_tom: blue_tom}   # class -> lane, merged over the defaults
        grid: [16, 12]                    # sixteenths and eighth triplets
        max_shift_ms: 60
        dynamics: true                    # accents / ghost notes
        subfolder: true
        artist: Unknown Artist

The plugin adds ``--bpm``, ``--offset`` and ``--tempo-from`` to ``transcribe``
(``drumscribe_add_arguments``); given, they beat the config's ``bpm``,
``offset`` and ``tempo_from`` (read from ``context.run``). Warnings (default tempo, short lead-in, low tracking
confidence, unmapped classes) are printed to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from transcribe import charts
from transcribe.errors import OutputError
from transcribe.hookspecs import hookimpl
from transcribe.tempo import tempo_map_for_song

NAME = "chart"
CLI_OPTIONS = ("bpm", "offset", "tempo_from")


@hookimpl
def drumscribe_add_arguments(parser):
    """``--bpm``, ``--offset``, ``--tempo-from``: the chart's tempo map."""
    parser.add_argument("--bpm", type=float, default=None,
                        help="chart: fixed tempo instead of beat tracking (20..400)")
    parser.add_argument("--offset", type=float, default=None,
                        help="chart: time of the first downbeat in seconds (with --bpm)")
    parser.add_argument("--tempo-from", default=None, metavar="MIDI",
                        help="chart: take the tempo map from this MIDI file")


def options(context) -> charts.ChartOptions:
    """The validated options, parsed once per run."""
    store = context.store.setdefault(NAME, {})
    if "options" not in store:
        given = {k: context.run.option(k) for k in CLI_OPTIONS if context.run.option(k) is not None}
        where = f"plugins_config.{NAME}" + (" or --bpm/--offset/--tempo-from" if given else "")
        store["options"] = charts.chart_options({**context.plugin_config(NAME), **given}, where)
    return store["options"]


def warn(context, message: str) -> None:
    """Print a warning to stderr (always, even with ``--quiet``)."""
    print(f"warning: {message}", file=sys.stderr)


def tempo_map_for(context, onsets, activations, audio_path=""):
    """The song's tempo map, computed once per song and shared with the preview.

    Warnings are printed the first time.
    """
    tm = context.state.get("chart_tempo_map")
    if tm is None:
        opts = options(context)
        tm = tempo_map_for_song(activations.values, activations.classes, activations.fps,
                                [o.time for o in onsets], activations.duration,
                                bpm=opts.bpm, offset=opts.offset, tempo_from=opts.tempo_from,
                                numerator=opts.time_signature)
        context.state["chart_tempo_map"] = tm
        name = Path(audio_path).name if audio_path else "song"
        for w in tm.warnings:
            warn(context, f"{name}: {w}")
        bpms = [b for _, b in tm.tempo_changes()]
        context.log(f"  tempo map ({tm.source}): {len(bpms)} tempo events, "
                    f"{min(bpms):.2f}-{max(bpms):.2f} BPM, confidence {tm.confidence:.2f}")
    return tm


@hookimpl
def drumscribe_configure(context):
    """Validate ``plugins_config.chart``."""
    options(context)


@hookimpl
def drumscribe_export(onsets, activations, audio_path, out_dir, context):
    """Write the chart folder when ``--chart`` asked for it."""
    if "chart" not in context.run.exports:
        return None
    opts = options(context)
    audio = Path(audio_path)
    folder = Path(out_dir) / audio.stem if opts.subfolder else Path(out_dir)
    tm = tempo_map_for(context, onsets, activations, audio_path)
    copy = opts.copy_audio and audio.is_file()
    audio_name = charts.chart_files(folder, audio)["audio"].name if copy else None
    chart, report = charts.make_chart(onsets, tm, activations.classes, opts, name=audio.stem,
                                      song_length=activations.duration,
                                      groups=charts.groups_of(context.config),
                                      audio_name=audio_name)
    warnings = list(report.warnings)
    if copy:
        w = charts.audio_warning(audio)
        if w:
            warnings.append(w)
    for w in warnings:
        warn(context, f"{audio.name}: {w}")
    overwrite = context.run.overwrite or opts.overwrite  # --overwrite or config
    try:
        paths = charts.write_chart_folder(folder, chart, audio if copy else None, overwrite)
    except OutputError as exc:
        if "exists" not in str(exc):
            raise
        raise OutputError(f"{exc}: the chart folder {folder} already holds a chart; remove it, "
                          "choose another --chart folder, or pass --overwrite") from None
    q = report.quantize
    context.log(f"  chart: {q.summary()}; " + ", ".join(
        f"{lvl} {len(chart.difficulties[lvl])}" for lvl in charts.DIFFICULTIES) + " gems")
    return paths
