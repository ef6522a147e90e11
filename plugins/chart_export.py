"""Built-in export: a rhythm-game chart folder for Clone Hero, YARG and Rock Band.

The bridge between the core transcription and the chart engine (the
``charts`` package, which ``transcribe`` never imports). Active when
``transcribe ... --chart DIR`` asks for it (``"chart"`` in
``context.run.exports``). For each song it writes ``DIR/<stem>/`` (or
``DIR`` itself with ``subfolder: false``) holding ``notes.mid`` (or
``notes.chart`` with ``--chart-format chart``), ``song.ini``, the audio as
``song.ogg`` and ``album.jpg``/``.png`` when the file carries art. Title,
artist, album, genre and year come from ``--title`` ... ``--year``, else the
file's tags. The GM MIDI file is left unquantised; only the chart is snapped
to the beat grid.

Configuration (``plugins_config.chart``; see ``docs/charts.md``)::

    plugins_config:
      chart:
        lanes: {high_mid_tom: blue_tom}   # class -> lane, merged over the defaults
        grid: [16, 12]                    # sixteenths and eighth triplets
        max_shift_ms: 60
        dynamics: true                    # accents / ghost notes
        subfolder: true
        hihat_pedal: none                 # or kick / yellow_cymbal: chart the pedal
        chart_format: mid                 # or chart
        star_power: true                  # also fills, sections, album_art

The plugin adds ``--bpm``, ``--offset``, ``--tempo-from``, ``--chart-format`` and
``--title``/``--artist``/``--album``/``--genre``/``--year`` to ``transcribe``
(``drumscribe_add_arguments``); given, they beat the config's ``bpm``,
``offset``, ``tempo_from``, ``chart_format``, ``name``, ``artist``, ... (read
from ``context.run``). Warnings (default tempo, short lead-in, low tracking
confidence, unmapped classes) are printed to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path

from drumscribe.charts import chart as charts
from drumscribe.charts import folder as chart_folder
from drumscribe.charts.metadata import read_tags
from drumscribe.charts.tempo import tempo_map_for_song
from drumscribe.transcribe.errors import OutputError
from drumscribe.transcribe.hookspecs import hookimpl

NAME = "chart"
CLI_OPTIONS = ("bpm", "offset", "tempo_from", "chart_format", "title", "artist", "album",
               "genre", "year")
"""Command-line options of this plugin (``context.run`` dests)."""
CONFIG_KEY = {"title": "name"}
"""The ``plugins_config.chart`` key of an option, where it differs from its dest."""


@hookimpl
def drumscribe_add_arguments(parser):
    """``--bpm``, ``--offset``, ``--tempo-from``: the chart's tempo map."""
    parser.add_argument("--bpm", type=float, default=None,
                        help="chart: fixed tempo instead of beat tracking (20..400)")
    parser.add_argument("--offset", type=float, default=None,
                        help="chart: time of the first downbeat in seconds (with --bpm)")
    parser.add_argument("--tempo-from", default=None, metavar="MIDI",
                        help="chart: take the tempo map from this MIDI file")
    parser.add_argument("--chart-format", choices=("mid", "chart"), default=None,
                        help="chart: write notes.mid (default) or notes.chart, never both")
    for tag in ("title", "artist", "album", "genre", "year"):
        parser.add_argument(f"--{tag}", default=None,
                            help=f"chart: the song's {tag} (default: the audio file's tags)")


def options(context) -> charts.ChartOptions:
    """The validated options, parsed once per run."""
    store = context.store.setdefault(NAME, {})
    if "options" not in store:
        given = {CONFIG_KEY.get(k, k): context.run.option(k) for k in CLI_OPTIONS
                 if context.run.option(k) is not None}
        where = f"plugins_config.{NAME}" + (
            " or " + "/".join("--" + k.replace("_", "-") for k in CLI_OPTIONS
                              if context.run.option(k) is not None) if given else "")
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
        name = Path(audio_path).name if audio_path else "song"
        tm = tempo_map_for_song(activations.values, activations.classes, activations.fps,
                                [o.time for o in onsets], activations.duration,
                                bpm=opts.bpm, offset=opts.offset, tempo_from=opts.tempo_from,
                                numerator=opts.time_signature, song=name)
        if not (opts.copy_audio and audio_path and Path(audio_path).is_file()):
            tm = tm.from_audio_start()  # no song.ogg to pad: tick 0 is the audio's start
        context.state["chart_tempo_map"] = tm
        for w in tm.warnings:
            warn(context, w if w.startswith(name) else f"{name}: {w}")
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
    audio_name = "song.ogg" if copy else None
    tags, art = read_tags(audio) if audio.is_file() else ({}, None)
    chart, report = charts.make_chart(onsets, tm, activations.classes, opts, name=audio.stem,
                                      song_length=activations.duration,
                                      groups=charts.groups_of(context.config),
                                      audio_name=audio_name, metadata=tags)
    warnings = list(report.warnings)
    missing = [k for k, v in (("artist", chart.artist != "Unknown Artist"), ("album", chart.album),
                              ("genre", chart.genre), ("year", chart.year)) if not v]
    if missing:
        warnings.append(f"no {', '.join(missing)} in the file's tags: the games list the song "
                        f"without them; pass {' '.join('--' + k for k in missing)}")
    for w in warnings:
        warn(context, f"{audio.name}: {w}")
    overwrite = context.run.overwrite or opts.overwrite  # --overwrite or config
    try:
        paths = chart_folder.write_chart_folder(folder, chart, audio if copy else None, overwrite,
                                                opts.chart_format, art if opts.album_art else None)
    except OutputError as exc:
        if "exists" not in str(exc):
            raise
        raise OutputError(f"{exc}: the chart folder {folder} already holds a chart; remove it, "
                          "choose another --chart folder, or pass --overwrite") from None
    q = report.quantize
    context.log(f"  chart: {q.summary()}; " + ", ".join(
        f"{lvl} {len(chart.difficulties[lvl])}" for lvl in charts.DIFFICULTIES)
        + f" gems, {len(chart.star_power)} Star Power phrases, {len(chart.fills)} fills, "
        f"{len(chart.sections)} sections")
    return paths
