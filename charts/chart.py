"""Rhythm-game drum charts: onsets + tempo map -> notes.mid, notes.chart, song.ini.

The chart is built in four steps (see ``docs/charts.md`` for the tables):

1. **Lanes.** Every class maps to a lane of 4-lane pro drums: ``kick``,
   ``red``, or ``yellow``/``blue``/``green`` as a cymbal or a tom
   (:data:`DEFAULT_LANES`, overridden by ``plugins_config.chart.lanes``). A
   class group (``postprocessing.class_groups``) takes its first member's lane;
   a class named like a vocabulary group (``hihat``, ``toms``...) takes
   :data:`GROUP_LANES`; any other class is skipped with a warning.
2. **Grid.** Onsets are snapped to the tempo map (:mod:`transcribe.quantize`).
3. **Expert.** Notes at one position become gems with the collision rule: one
   gem per lane and position; several classes on one pad merge into one gem;
   when a cymbal and a tom want the same colour the cymbal keeps it and the
   tom moves to the first free tom lane of :data:`TOM_ALTERNATIVES`
   (yellow -> blue -> green, blue -> green -> yellow, green -> blue -> yellow),
   or is dropped when all are taken.
4. **Difficulties.** Hard, Medium and Easy are reduced from the level above by
   :data:`REDUCTIONS`; a reduction that would leave nothing keeps the kick and
   snare backbone, or else the most important gem of each beat.

Writers are pure (chart -> text, :class:`mido.MidiFile`) and
:func:`write_chart_folder` writes every file atomically after checking that
all of them may be written.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import mido
import numpy as np

from transcribe.errors import ConfigError
from transcribe.hookspecs import Onset
from transcribe.io import atomic_write, check_writable
from .quantize import QuantizeReport, grid_divisions, quantize_onsets
from .tempo import TempoMap
from transcribe.vocabulary import group_of

PAD_LANES = ("yellow", "blue", "green")
LANES = ("kick", "red") + PAD_LANES
DIFFICULTIES = ("Expert", "Hard", "Medium", "Easy")

LANE_NAMES: Dict[str, Optional[Tuple[str, bool]]] = {
    "kick": ("kick", False),
    "red": ("red", False),
    "yellow_cymbal": ("yellow", True),
    "yellow_tom": ("yellow", False),
    "blue_cymbal": ("blue", True),
    "blue_tom": ("blue", False),
    "green_cymbal": ("green", True),
    "green_tom": ("green", False),
    "none": None,
}
"""Lane names accepted in ``plugins_config.chart.lanes`` -> (lane, is_cymbal)."""

DEFAULT_LANES: Dict[str, str] = {
    "kick": "kick",
    "snare_head": "red",
    "snare_rim": "red",
    "side_stick": "red",
    "hihat_closed": "yellow_cymbal",
    "hihat_pedal": "yellow_cymbal",
    "hihat_open": "yellow_cymbal",
    "ride": "blue_cymbal",
    "ride_bell": "blue_cymbal",
    "crash": "green_cymbal",
    "high_mid_tom": "yellow_tom",  # alternative: blue_tom
    "floor_tom": "green_tom",
}
"""Default lane of each vocabulary class (the vocabulary's class list is not repeated:
classes missing here fall back to :data:`GROUP_LANES` by their group)."""

GROUP_LANES: Dict[str, str] = {
    "kick": "kick", "snare": "red", "hihat": "yellow_cymbal", "toms": "blue_tom",
    "cymbals": "green_cymbal",
}
"""Lane of a class named like (or belonging to) a vocabulary group."""

TOM_ALTERNATIVES: Dict[str, Tuple[str, ...]] = {
    "yellow": ("blue", "green"),
    "blue": ("green", "yellow"),
    "green": ("blue", "yellow"),
}
"""Where a tom goes when a cymbal holds its colour, in order of preference."""

PRIORITY: Tuple[Tuple[str, bool], ...] = (
    ("red", False), ("kick", False), ("green", True), ("yellow", False), ("blue", False),
    ("green", False), ("blue", True), ("yellow", True),
)
"""Which gem survives when a difficulty allows fewer gems at once (first wins)."""


@dataclass(frozen=True)
class Reduction:
    """How one difficulty is reduced from the one above it.

    Attributes
    ----------
    divisions : tuple of int
        Allowed positions per beat (2 = eighths, 3 = eighth triplets, 1 = beats).
    max_pads : int
        Most red/yellow/blue/green gems at one position.
    max_total : int or None
        Most gems at one position counting the kick.
    drop_ghosts : bool
        Drop ghost notes.
    """

    divisions: Tuple[int, ...]
    max_pads: int
    max_total: Optional[int]
    drop_ghosts: bool = True


REDUCTIONS: Dict[str, Reduction] = {
    "Hard": Reduction((2, 3), max_pads=2, max_total=None),
    "Medium": Reduction((1,), max_pads=2, max_total=2),
    "Easy": Reduction((1,), max_pads=1, max_total=2),
}
"""Hard: eighths and eighth triplets, two hands and a kick. Medium: beats only, two
gems at once. Easy: beats only, one pad plus the kick. All drop ghost notes."""

EXPERT_MID_NOTES = {"kick": 96, "red": 97, "yellow": 98, "blue": 99, "green": 100}
MID_DIFF_OFFSET = {"Expert": 0, "Hard": -12, "Medium": -24, "Easy": -36}
TOM_MARKERS = {"yellow": 110, "blue": 111, "green": 112}
CHART_NOTES = {"kick": 0, "red": 1, "yellow": 2, "blue": 3, "green": 4}
CHART_CYMBAL = {"yellow": 66, "blue": 67, "green": 68}
CHART_ACCENT = {"red": 34, "yellow": 35, "blue": 36, "green": 37}
CHART_GHOST = {"red": 40, "yellow": 41, "blue": 42, "green": 43}
MID_RESOLUTION = 480
CHART_RESOLUTION = 192
PLAYABLE_AUDIO = (".ogg", ".mp3", ".wav", ".opus")


# ----------------------------------------------------------------------------
# options


@dataclass
class ChartOptions:
    """``plugins_config.chart`` (validated by :func:`chart_options`)."""

    lanes: Dict[str, str] = field(default_factory=dict)
    grid: Tuple[int, ...] = (16, 12)
    max_shift_ms: float = 60.0
    dynamics: bool = True
    accent_ratio: float = 1.3
    ghost_ratio: float = 0.5
    subfolder: bool = True
    overwrite: bool = False
    copy_audio: bool = True
    artist: str = "Unknown Artist"
    name: Optional[str] = None
    time_signature: int = 4
    bpm: Optional[float] = None
    offset: Optional[float] = None
    tempo_from: Optional[str] = None


def chart_options(section: Mapping, where: str = "plugins_config.chart") -> ChartOptions:
    """Validate the chart plugin's config section.

    Raises
    ------
    ConfigError
        Naming the key and the fix, for unknown keys or bad values.
    """
    section = dict(section or {})
    opts = ChartOptions()
    known = set(ChartOptions.__dataclass_fields__)
    for k in section:
        if k not in known:
            raise ConfigError(f"{where}: unknown key {k!r}; known keys: {', '.join(sorted(known))}")

    def num(key, lo=None, hi=None):
        v = section[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ConfigError(f"{where}.{key} must be a number, got {v!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ConfigError(f"{where}.{key} must be in [{lo}, {hi}], got {v!r}")
        return float(v)

    def flag(key):
        v = section[key]
        if not isinstance(v, bool):
            raise ConfigError(f"{where}.{key} must be true or false, got {v!r}")
        return v

    if "lanes" in section:
        lanes = section["lanes"] or {}
        if not isinstance(lanes, Mapping):
            raise ConfigError(f"{where}.lanes must map class -> lane (e.g. high_mid_tom: blue_tom)")
        for c, lane in lanes.items():
            lane = "none" if lane is None else lane
            if lane not in LANE_NAMES:
                raise ConfigError(f"{where}.lanes.{c}: unknown lane {lane!r}; use one of "
                                  f"{', '.join(LANE_NAMES)}")
            opts.lanes[str(c)] = lane
    if "grid" in section:
        g = section["grid"]
        g = [g] if isinstance(g, int) and not isinstance(g, bool) else g
        if not isinstance(g, (list, tuple)):
            raise ConfigError(f"{where}.grid must be a list of note values such as [16, 12]")
        try:
            grid_divisions(g)
        except Exception as exc:
            raise ConfigError(f"{where}.grid: {exc}") from None
        opts.grid = tuple(int(x) for x in g)
    if "max_shift_ms" in section:
        opts.max_shift_ms = num("max_shift_ms", 0, 1000)
    if "accent_ratio" in section:
        opts.accent_ratio = num("accent_ratio", 1, 10)
    if "ghost_ratio" in section:
        opts.ghost_ratio = num("ghost_ratio", 0, 1)
    for key in ("dynamics", "subfolder", "overwrite", "copy_audio"):
        if key in section:
            setattr(opts, key, flag(key))
    for key in ("artist", "name", "tempo_from"):
        if key in section and section[key] is not None:
            if not isinstance(section[key], (str, Path)):
                raise ConfigError(f"{where}.{key} must be a string, got {section[key]!r}")
            setattr(opts, key, str(section[key]))
    if "time_signature" in section:
        opts.time_signature = int(num("time_signature", 1, 32))
    if section.get("bpm") is not None:
        opts.bpm = num("bpm", 20, 400)
    if section.get("offset") is not None:
        opts.offset = num("offset", 0, None)
    if opts.bpm is not None and opts.tempo_from:
        raise ConfigError(f"{where}: bpm and tempo_from exclude each other")
    return opts


def resolve_lanes(classes: Sequence[str], overrides: Optional[Mapping[str, str]] = None,
                  groups: Optional[Mapping[str, Sequence[str]]] = None
                  ) -> Tuple[Dict[str, Tuple[str, bool]], List[str]]:
    """Lane of every class.

    Parameters
    ----------
    classes : sequence of str
    overrides : mapping of class -> lane name, optional
        ``plugins_config.chart.lanes``; ``none`` drops a class.
    groups : mapping of group -> member classes, optional
        ``postprocessing.class_groups``: a group takes its first member's lane.

    Returns
    -------
    lanes : dict of class -> (lane, is_cymbal)
        Classes without a lane are absent.
    warnings : list of str
    """
    overrides = dict(overrides or {})
    groups = dict(groups or {})
    out: Dict[str, Tuple[str, bool]] = {}
    warnings = []

    def lane_name(c: str) -> Optional[str]:
        if c in overrides:
            return overrides[c]
        if c in DEFAULT_LANES:
            return DEFAULT_LANES[c]
        if c in groups and groups[c]:
            return lane_name(groups[c][0])
        if c in GROUP_LANES:
            return GROUP_LANES[c]
        g = group_of(c)
        return GROUP_LANES.get(g) if g else None

    for c in classes:
        name = lane_name(c)
        if name is None:
            warnings.append(f"class {c!r} has no chart lane and is left out of the chart; map it "
                            "in plugins_config.chart.lanes (e.g. {c}: blue_tom)".replace("{c}", c))
            continue
        spec = LANE_NAMES.get(name)
        if spec is not None:
            out[c] = spec
    return out, warnings


# ----------------------------------------------------------------------------
# gems


@dataclass(frozen=True)
class Gem:
    """One chart note.

    Attributes
    ----------
    position : Fraction
        In beats from tick 0.
    lane : str
        ``kick``, ``red``, ``yellow``, ``blue`` or ``green``.
    cymbal : bool
        Yellow/blue/green only: cymbal (True) or tom (False).
    dynamic : str
        ``""``, ``"accent"`` or ``"ghost"``.
    classes : tuple of str
        The transcription classes behind the gem.
    """

    position: Fraction
    lane: str
    cymbal: bool = False
    dynamic: str = ""
    classes: Tuple[str, ...] = ()

    def tick(self, resolution: int) -> int:
        """Tick at ``resolution`` ticks per beat."""
        return int(round(self.position * resolution))


@dataclass
class CollisionReport:
    """Toms moved or dropped by the lane collision rule."""

    moved: int = 0
    dropped: int = 0
    merged: int = 0


def note_dynamics(velocities: Mapping[str, Sequence[int]], velocity: int, drum: str,
                  accent_ratio: float, ghost_ratio: float) -> str:
    """``accent``/``ghost``/``""`` from a velocity relative to its class's median."""
    vs = velocities.get(drum)
    if not vs:
        return ""
    med = float(np.median(vs))
    if velocity >= accent_ratio * med and velocity > med:
        return "accent"
    if velocity <= ghost_ratio * med:
        return "ghost"
    return ""


def _merge_dynamic(dyns: Iterable[str]) -> str:
    dyns = list(dyns)
    if "accent" in dyns:
        return "accent"
    if dyns and all(d == "ghost" for d in dyns):
        return "ghost"
    return ""


def build_expert(notes: Sequence, lanes: Mapping[str, Tuple[str, bool]], dynamics: bool = True,
                 accent_ratio: float = 1.3, ghost_ratio: float = 0.5
                 ) -> Tuple[List[Gem], CollisionReport]:
    """Expert gems from quantised notes, applying the lane collision rule.

    Parameters
    ----------
    notes : sequence of QuantizedNote
    lanes : mapping of class -> (lane, is_cymbal)
        Notes of other classes are ignored.
    dynamics : bool
        Mark accents and ghosts (relative to each class's median velocity).
    accent_ratio, ghost_ratio : float

    Returns
    -------
    gems : list of Gem
        Sorted by position then lane.
    report : CollisionReport
    """
    vel: Dict[str, List[int]] = {}
    for n in notes:
        vel.setdefault(n.onset.drum, []).append(int(n.onset.velocity))
    by_pos: Dict[Fraction, List] = {}
    for n in notes:
        if n.onset.drum in lanes:
            by_pos.setdefault(n.position, []).append(n)
    report = CollisionReport()
    gems: List[Gem] = []
    for pos in sorted(by_pos):
        slots: Dict[str, Tuple[bool, List[str], List[str]]] = {}  # lane -> (cymbal, classes, dyns)
        group = by_pos[pos]
        # cymbals (and kick/red) first: a cymbal keeps its colour
        ordered = sorted(group, key=lambda n: (not lanes[n.onset.drum][1], n.onset.drum))
        for n in ordered:
            lane, cym = lanes[n.onset.drum]
            dyn = (note_dynamics(vel, n.onset.velocity, n.onset.drum, accent_ratio, ghost_ratio)
                   if dynamics and lane != "kick" else "")
            if lane not in slots:
                slots[lane] = (cym, [n.onset.drum], [dyn])
                continue
            have_cym, cls, dyns = slots[lane]
            if have_cym == cym:  # the same pad: one gem
                cls.append(n.onset.drum)
                dyns.append(dyn)
                report.merged += 1
                continue
            # a tom meets a cymbal on its colour: move the tom
            target = next((alt for alt in TOM_ALTERNATIVES.get(lane, ()) if alt not in slots), None)
            if target is None:
                target = next((alt for alt in TOM_ALTERNATIVES.get(lane, ())
                               if not slots[alt][0]), None)
                if target is None:
                    report.dropped += 1
                    continue
                slots[target][1].append(n.onset.drum)
                slots[target][2].append(dyn)
                report.moved += 1
                continue
            slots[target] = (False, [n.onset.drum], [dyn])
            report.moved += 1
        for lane in LANES:
            if lane in slots:
                cym, cls, dyns = slots[lane]
                gems.append(Gem(pos, lane, cym if lane in PAD_LANES else False,
                                _merge_dynamic(dyns), tuple(sorted(set(cls)))))
    return gems, report


def _priority(g: Gem) -> int:
    key = (g.lane, g.cymbal if g.lane in PAD_LANES else False)
    return PRIORITY.index(key) if key in PRIORITY else len(PRIORITY)


def _on_grid(pos: Fraction, divisions: Sequence[int]) -> bool:
    return any((pos * d).denominator == 1 for d in divisions)


def _limit(gems: List[Gem], rule: Reduction) -> List[Gem]:
    out = []
    by_pos: Dict[Fraction, List[Gem]] = {}
    for g in gems:
        by_pos.setdefault(g.position, []).append(g)
    for pos in sorted(by_pos):
        pads, total = 0, 0
        for g in sorted(by_pos[pos], key=_priority):
            if g.lane != "kick" and pads >= rule.max_pads:
                continue
            if rule.max_total is not None and total >= rule.max_total:
                continue
            out.append(g)
            total += 1
            pads += g.lane != "kick"
    return sorted(out, key=lambda g: (g.position, LANES.index(g.lane)))


def reduce_gems(gems: Sequence[Gem], rule: Reduction) -> List[Gem]:
    """One difficulty down: the gems of ``gems`` allowed by ``rule``.

    Never empty when ``gems`` is not: if the rule keeps nothing, the kick and
    red gems on the rule's grid are kept, else the most important gem of each
    beat (see :data:`PRIORITY`).
    """
    gems = list(gems)
    keep = [g for g in gems if _on_grid(g.position, rule.divisions)
            and not (rule.drop_ghosts and g.dynamic == "ghost")]
    out = _limit(keep, rule)
    if out or not gems:
        return out
    backbone = [g for g in gems if g.lane in ("kick", "red") and _on_grid(g.position, rule.divisions)]
    out = _limit(backbone, rule)
    if out:
        return out
    per_beat: Dict[int, Gem] = {}
    for g in sorted(gems, key=lambda g: (g.position, _priority(g))):
        per_beat.setdefault(math.floor(g.position), g)
    return _limit(list(per_beat.values()), rule)


# ----------------------------------------------------------------------------
# the chart


@dataclass
class Chart:
    """Everything the writers need.

    Attributes
    ----------
    name, artist : str
    tempo_map : TempoMap
    difficulties : dict of str -> list of Gem
        ``Expert``, ``Hard``, ``Medium``, ``Easy``.
    song_length : float
        Seconds.
    audio_name : str or None
        File name of the audio copy (``song.ogg``).
    dynamics : bool
        Whether accents/ghosts are marked.
    """

    name: str
    artist: str
    tempo_map: TempoMap
    difficulties: Dict[str, List[Gem]]
    song_length: float
    audio_name: Optional[str] = None
    dynamics: bool = True

    def end_beat(self) -> int:
        """Beat of the ``end`` event: two beats after the last gem or the song's end."""
        last = max((g.position for gs in self.difficulties.values() for g in gs), default=0)
        return int(math.ceil(max(float(last) + 2, float(self.tempo_map.beat_at(self.song_length)))))


@dataclass
class ChartReport:
    """What :func:`make_chart` did."""

    quantize: QuantizeReport
    collisions: CollisionReport
    warnings: List[str] = field(default_factory=list)


def make_chart(onsets: Sequence[Onset], tempo_map: TempoMap, classes: Sequence[str],
               options: Optional[ChartOptions] = None, name: str = "song", song_length: float = 0.0,
               groups: Optional[Mapping[str, Sequence[str]]] = None,
               audio_name: Optional[str] = None) -> Tuple[Chart, ChartReport]:
    """Quantise, map to lanes, resolve collisions and build the four difficulties.

    Parameters
    ----------
    onsets : sequence of Onset
    tempo_map : TempoMap
    classes : sequence of str
        The activations' classes.
    options : ChartOptions, optional
    name : str
    song_length : float
    groups : mapping, optional
        ``postprocessing.class_groups``.
    audio_name : str, optional

    Returns
    -------
    Chart, ChartReport
    """
    options = options or ChartOptions()
    lanes, warnings = resolve_lanes(classes, options.lanes, groups)
    q = quantize_onsets([o for o in onsets if o.drum in lanes], tempo_map, options.grid,
                        options.max_shift_ms)
    expert, col = build_expert(q.notes, lanes, options.dynamics, options.accent_ratio,
                               options.ghost_ratio)
    diffs = {"Expert": expert}
    prev = expert
    for level in DIFFICULTIES[1:]:
        prev = reduce_gems(prev, REDUCTIONS[level])
        diffs[level] = prev
    if not expert:
        warnings.append("the chart has no notes: no onsets were found in a charted class")
    if col.dropped:
        warnings.append(f"{col.dropped} tom notes dropped: every tom lane was taken by a cymbal")
    chart = Chart(options.name or name, options.artist, tempo_map, diffs, float(song_length),
                  audio_name, options.dynamics)
    return chart, ChartReport(q, col, warnings)


# ----------------------------------------------------------------------------
# writers


def _tempo_values(tm: TempoMap, per_segment) -> List[Tuple[int, int]]:
    """Integer tempo values per change with error diffusion (no drift from rounding).

    ``per_segment(n_beats, seconds) -> (value, seconds_as_written)``.
    """
    changes = tm.tempo_changes()
    out = []
    written_t = 0.0
    for k, (beat, _) in enumerate(changes):
        end = changes[k + 1][0] if k + 1 < len(changes) else len(tm.beats) - 1
        value, dur = per_segment(end - beat, tm.beats[end] - written_t)
        out.append((beat, value))
        written_t += dur
    return out


def chart_tempos(tm: TempoMap) -> List[Tuple[int, int]]:
    """``(beat, milli-BPM)`` for .chart ``B`` events."""
    def seg(n, secs):
        v = max(1, int(round(n * 60000.0 / secs)))
        return v, n * 60000.0 / v
    return _tempo_values(tm, seg)


def midi_tempos(tm: TempoMap) -> List[Tuple[int, int]]:
    """``(beat, microseconds per quarter)`` for MIDI set_tempo events."""
    def seg(n, secs):
        v = min(0xFFFFFF, max(1, int(round(secs * 1e6 / n))))
        return v, n * v / 1e6
    return _tempo_values(tm, seg)


def _quote(s: str) -> str:
    return '"' + str(s).replace('"', "'").replace("\n", " ") + '"'


def chart_text(chart: Chart, resolution: int = CHART_RESOLUTION) -> str:
    """The notes.chart file (Moonscraper / Clone Hero) as text."""
    lines = ["[Song]", "{"]
    song = [("Name", _quote(chart.name)), ("Artist", _quote(chart.artist)),
            ("Charter", _quote("drumscribe")), ("Offset", "0"), ("Resolution", str(resolution)),
            ("Player2", "bass"), ("Difficulty", "0"), ("PreviewStart", "0"), ("PreviewEnd", "0"),
            ("Genre", _quote("")), ("MediaType", _quote("cd"))]
    if chart.audio_name:
        song.append(("MusicStream", _quote(chart.audio_name)))
    lines += [f"  {k} = {v}" for k, v in song]
    lines += ["}", "[SyncTrack]", "{"]
    sync = []
    for beat, num, den in chart.tempo_map.time_signatures():
        exp = int(round(math.log2(den)))
        sync.append((beat * resolution, 0, f"TS {num}" + ("" if exp == 2 else f" {exp}")))
    for beat, mbpm in chart_tempos(chart.tempo_map):
        sync.append((beat * resolution, 1, f"B {mbpm}"))
    lines += [f"  {t} = {v}" for t, _, v in sorted(sync)]
    lines += ["}", "[Events]", "{", f"  {chart.end_beat() * resolution} = E \"end\"", "}"]
    for level in DIFFICULTIES:
        lines += [f"[{level}Drums]", "{"]
        rows = set()
        for g in chart.difficulties.get(level, []):
            t = g.tick(resolution)
            rows.add((t, CHART_NOTES[g.lane]))
            if g.lane in CHART_CYMBAL and g.cymbal:
                rows.add((t, CHART_CYMBAL[g.lane]))
            if chart.dynamics and g.dynamic == "accent" and g.lane in CHART_ACCENT:
                rows.add((t, CHART_ACCENT[g.lane]))
            if chart.dynamics and g.dynamic == "ghost" and g.lane in CHART_GHOST:
                rows.add((t, CHART_GHOST[g.lane]))
        lines += [f"  {t} = N {n} 0" for t, n in sorted(rows)]
        lines.append("}")
    return "\n".join(lines) + "\n"


def notes_mid(chart: Chart, resolution: int = MID_RESOLUTION) -> mido.MidiFile:
    """The notes.mid file (Clone Hero / Rock Band / YARG)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=resolution)
    # tempo track
    meta = []
    for beat, num, den in chart.tempo_map.time_signatures():
        meta.append((beat * resolution, 0, mido.MetaMessage(
            "time_signature", numerator=num, denominator=den, clocks_per_click=24,
            notated_32nd_notes_per_beat=8)))
    for beat, us in midi_tempos(chart.tempo_map):
        meta.append((beat * resolution, 1, mido.MetaMessage("set_tempo", tempo=us)))
    mid.tracks.append(_track(chart.name, meta))
    # drums
    events = []
    if chart.dynamics:
        events.append((0, 0, mido.MetaMessage("text", text="[ENABLE_CHART_DYNAMICS]")))
    gem_len = max(1, resolution // 8)
    notes: Dict[int, Dict[int, int]] = {}  # note -> tick -> velocity
    lane_ticks: Dict[str, List[int]] = {}
    toms: Dict[str, set] = {}
    for level in DIFFICULTIES:
        for g in chart.difficulties.get(level, []):
            t = g.tick(resolution)
            note = EXPERT_MID_NOTES[g.lane] + MID_DIFF_OFFSET[level]
            vel = 100
            if chart.dynamics and g.lane != "kick":
                vel = {"accent": 127, "ghost": 1}.get(g.dynamic, 100)
            notes.setdefault(note, {})[t] = vel
            lane_ticks.setdefault(g.lane, []).append(t)
            if g.lane in TOM_MARKERS and not g.cymbal:
                toms.setdefault(g.lane, set()).add(t)
    for note, ticks in notes.items():
        ts = sorted(ticks)
        for i, t in enumerate(ts):
            end = t + gem_len if i + 1 == len(ts) else min(t + gem_len, ts[i + 1])
            events.append((t, 2, mido.Message("note_on", channel=9, note=note, velocity=ticks[t])))
            events.append((max(end, t + 1), 1, mido.Message("note_off", channel=9, note=note,
                                                            velocity=0)))
    for lane, ticks in toms.items():  # a marker must end before the lane's next gem
        all_ticks = sorted(set(lane_ticks[lane]))
        for t in sorted(ticks):
            nxt = [u for u in all_ticks if u > t]
            end = t + gem_len if not nxt else min(t + gem_len, nxt[0] - 1)
            note = TOM_MARKERS[lane]
            events.append((t, 2, mido.Message("note_on", channel=9, note=note, velocity=100)))
            events.append((max(end, t + 1), 1, mido.Message("note_off", channel=9, note=note,
                                                            velocity=0)))
    mid.tracks.append(_track("PART DRUMS", events))
    end = chart.end_beat() * resolution
    ev = [(0, 0, mido.MetaMessage("text", text="[music_start]")),
          (end, 0, mido.MetaMessage("text", text="[music_end]")),
          (end + resolution, 0, mido.MetaMessage("text", text="[end]"))]
    mid.tracks.append(_track("EVENTS", ev))
    return mid


def _track(name: str, events) -> mido.MidiTrack:
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("track_name", name=name, time=0))
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1], getattr(e[2], "note", 0))):
        tr.append(msg.copy(time=tick - now))
        now = tick
    tr.append(mido.MetaMessage("end_of_track", time=0))
    return tr


def drums_difficulty(chart: Chart) -> int:
    """song.ini ``diff_drums`` (0..6) from Expert's chords per second."""
    gems = chart.difficulties.get("Expert", [])
    pos = sorted({g.position for g in gems})
    if len(pos) < 2:
        return 0
    t = chart.tempo_map.time_at(np.asarray([float(p) for p in pos]))
    nps = len(pos) / max(1.0, float(t[-1] - t[0]))
    return int(np.searchsorted([2.0, 3.0, 4.0, 5.0, 6.5, 8.0], nps, side="right"))


def song_ini_text(chart: Chart) -> str:
    """The song.ini file."""
    d = drums_difficulty(chart)

    def clean(s):
        return str(s).replace("\n", " ").strip()
    rows = [("name", clean(chart.name)), ("artist", clean(chart.artist)), ("album", ""),
            ("genre", ""), ("year", ""), ("charter", "drumscribe"), ("delay", "0"),
            ("song_length", str(int(round(chart.song_length * 1000)))),
            ("preview_start_time", "0"), ("pro_drums", "True"), ("five_lane_drums", "False"),
            ("diff_drums", str(d)), ("diff_drums_real", str(d)), ("diff_guitar", "-1"),
            ("diff_bass", "-1"), ("diff_keys", "-1"), ("diff_vocals", "-1")]
    return "[song]\n" + "".join(f"{k} = {v}\n" for k, v in rows)


def chart_files(folder: Path, audio_path=None) -> Dict[str, Path]:
    """The paths the chart folder will hold (``notes.mid``, ``notes.chart``,
    ``song.ini`` and ``song.<ext>`` for the audio)."""
    folder = Path(folder)
    out = {"mid": folder / "notes.mid", "chart": folder / "notes.chart", "ini": folder / "song.ini"}
    if audio_path is not None:
        out["audio"] = folder / f"song{Path(audio_path).suffix.lower()}"
    return out


def write_chart_folder(folder, chart: Chart, audio_path=None, overwrite: bool = False) -> List[str]:
    """Write notes.mid, notes.chart, song.ini and a copy of the audio into ``folder``.

    Every target is checked before anything is written, and each file is
    written atomically, so a failure never leaves a partial file.

    Raises
    ------
    OutputError
        If a file exists (and not ``overwrite``) or the folder is not writable.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from transcribe.errors import OutputError
        raise OutputError(f"{folder}: cannot create the chart folder ({exc.strerror})") from None
    files = chart_files(folder, audio_path)
    for p in files.values():
        check_writable(p, overwrite)
    mid = notes_mid(chart)
    text = chart_text(chart)
    ini = song_ini_text(chart)
    with atomic_write(files["mid"], "wb") as fh:
        mid.save(file=fh)
    with atomic_write(files["chart"], "wb") as fh:
        fh.write(text.encode("utf-8"))
    with atomic_write(files["ini"], "wb") as fh:
        fh.write(ini.encode("utf-8"))
    if "audio" in files:
        with open(audio_path, "rb") as src, atomic_write(files["audio"], "wb") as fh:
            shutil.copyfileobj(src, fh, 1 << 20)
    return [str(p) for p in files.values()]


def audio_warning(audio_path) -> Optional[str]:
    """A warning when the game may not play the audio's format."""
    ext = Path(audio_path).suffix.lower()
    if ext not in PLAYABLE_AUDIO:
        return (f"the audio is copied as song{ext}, which Clone Hero may not play; convert it to "
                ".ogg or .mp3")
    return None


def groups_of(config) -> Dict[str, List[str]]:
    """``postprocessing.class_groups`` of a Config, or {}."""
    try:
        return dict(config.postprocessing.class_groups or {})
    except AttributeError:
        return {}


__all__ = [
    "Chart", "ChartOptions", "ChartReport", "CollisionReport", "Gem", "Reduction",
    "DEFAULT_LANES", "GROUP_LANES", "LANE_NAMES", "REDUCTIONS", "TOM_ALTERNATIVES",
    "build_expert", "chart_options", "chart_text", "make_chart", "notes_mid", "reduce_gems",
    "resolve_lanes", "song_ini_text", "write_chart_folder",
]
