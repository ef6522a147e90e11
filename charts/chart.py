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
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from drumscribe.transcribe.errors import ConfigError, DrumscribeError
from drumscribe.transcribe.hookspecs import Onset
from . import events as song_events
from .quantize import QuantizeReport, grid_divisions, quantize_onsets
from .tempo import TempoMap
from drumscribe.transcribe.vocabulary import group_of

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
    "hihat_pedal": "none",  # plugins_config.chart.hihat_pedal maps it (e.g. kick)
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
        Allowed pad positions per beat (2 = eighths, 3 = eighth triplets, 1 = beats).
    max_pads : int
        Most red/yellow/blue/green gems at one position.
    max_total : int or None
        Most gems at one position counting the kick.
    drop_ghosts : bool
        Drop ghost notes.
    kick_every : Fraction or None
        Kicks only on multiples of this many beats from tick 0 (a downbeat);
        None: on the pad positions.
    """

    divisions: Tuple[int, ...]
    max_pads: int
    max_total: Optional[int]
    drop_ghosts: bool = True
    kick_every: Optional[Fraction] = None


EXPERT_RULE = Reduction((48,), max_pads=2, max_total=None, drop_ghosts=False)
"""Expert keeps every position but, as published charts do, never more than two
pads (two hands) plus the kick at once."""

REDUCTIONS: Dict[str, Reduction] = {
    "Hard": Reduction((2, 3), max_pads=2, max_total=None, kick_every=Fraction(1, 2)),
    "Medium": Reduction((2,), max_pads=2, max_total=2, kick_every=Fraction(1)),
    "Easy": Reduction((1,), max_pads=1, max_total=2, kick_every=Fraction(2)),
}
"""Hard: eighths and eighth triplets, two hands and a kick, kicks on eighths. Medium:
eighths, two gems at once, kicks on the beat. Easy: beats only, one pad plus the kick,
kicks on beats 1 and 3. All drop ghost notes; each level is reduced from the one above,
so note density falls by difficulty."""

STRICTER: Tuple[Reduction, ...] = (
    Reduction((2, 3), max_pads=2, max_total=None, kick_every=Fraction(1)),
    Reduction((2,), max_pads=1, max_total=2, kick_every=Fraction(1)),
    Reduction((1,), max_pads=1, max_total=2, kick_every=Fraction(2)),
    Reduction((1,), max_pads=1, max_total=1, kick_every=Fraction(4)),
    Reduction((Fraction(1, 2),), max_pads=1, max_total=1, kick_every=Fraction(4)),
)
"""When a level's own rule leaves it identical to the level above (a slow song with
nothing faster than eighths), the first of these stricter rules that changes it is used,
so every difficulty differs from the one above (scan-chart's ``difficultyNotReduced``)."""

MIN_GAP_MS = 20.0
"""Gem positions closer than this are merged (scan-chart's ``brokenNote`` is <= 15 ms)."""

PLAYABLE_AUDIO = (".ogg", ".mp3", ".wav", ".opus")
CHART_FORMATS = ("mid", "chart")
"""``--chart-format``: the games load notes.mid when both exist, so only one is written."""


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
    artist: Optional[str] = None
    name: Optional[str] = None
    album: Optional[str] = None
    genre: Optional[str] = None
    year: Optional[str] = None
    hihat_pedal: str = "none"
    chart_format: str = "mid"
    star_power: bool = True
    fills: bool = True
    sections: bool = True
    album_art: bool = True
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
    for key in ("dynamics", "subfolder", "overwrite", "copy_audio", "star_power", "fills",
                "sections", "album_art"):
        if key in section:
            setattr(opts, key, flag(key))
    for key in ("artist", "name", "album", "genre", "year", "tempo_from"):
        if key in section and section[key] is not None:
            if not isinstance(section[key], (str, Path, int)) or isinstance(section[key], bool):
                raise ConfigError(f"{where}.{key} must be a string, got {section[key]!r}")
            setattr(opts, key, str(section[key]))
    if "hihat_pedal" in section:
        lane = "none" if section["hihat_pedal"] is None else section["hihat_pedal"]
        if lane not in LANE_NAMES:
            raise ConfigError(f"{where}.hihat_pedal: unknown lane {lane!r}; use one of "
                              f"{', '.join(LANE_NAMES)} (default none: the pedal is not charted)")
        opts.hihat_pedal = lane
    if "chart_format" in section:
        if section["chart_format"] not in CHART_FORMATS:
            raise ConfigError(f"{where}.chart_format must be one of {', '.join(CHART_FORMATS)}, "
                              f"got {section['chart_format']!r}")
        opts.chart_format = section["chart_format"]
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


def _allowed(g: Gem, rule: Reduction) -> bool:
    if rule.drop_ghosts and g.dynamic == "ghost":
        return False
    if g.lane == "kick" and rule.kick_every is not None:
        return (g.position / rule.kick_every).denominator == 1
    return _on_grid(g.position, rule.divisions)


def reduce_gems(gems: Sequence[Gem], rule: Reduction) -> List[Gem]:
    """One difficulty down: the gems of ``gems`` allowed by ``rule``.

    Never empty when ``gems`` is not: if the rule keeps nothing, the kick and
    red gems on the rule's grid are kept, else the most important gem of each
    beat (see :data:`PRIORITY`).
    """
    gems = list(gems)
    keep = [g for g in gems if _allowed(g, rule)]
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


def reduce_level(gems: Sequence[Gem], rule: Reduction) -> List[Gem]:
    """:func:`reduce_gems` with ``rule``, or with the first of :data:`STRICTER` (that is
    at least as strict) when ``rule`` changes nothing."""
    gems = list(gems)
    out = reduce_gems(gems, rule)
    if out != gems or not gems:
        return out
    for stricter in STRICTER:
        if min(stricter.divisions) > min(rule.divisions):
            continue
        cand = reduce_gems(gems, stricter)
        if cand != gems and cand:
            return cand
    return out


def merge_close(gems: Sequence[Gem], tempo_map: TempoMap, min_gap_ms: float) -> List[Gem]:
    """Gems whose positions lie under ``min_gap_ms`` after the previous position move
    onto it (one gem per lane; the earlier gem wins), so no two chords are so close
    that they read as a charting mistake."""
    positions = sorted({g.position for g in gems})
    if len(positions) < 2:
        return list(gems)
    times = tempo_map.time_at(np.asarray([float(p) for p in positions]))
    target: Dict[Fraction, Fraction] = {}
    anchor, anchor_t = positions[0], times[0]
    for p, t in zip(positions, times):
        if (t - anchor_t) * 1000.0 < min_gap_ms and p != anchor:
            target[p] = anchor
        else:
            anchor, anchor_t = p, t
    out: Dict[Tuple[Fraction, str], Gem] = {}
    for g in sorted(gems, key=lambda g: g.position):
        pos = target.get(g.position, g.position)
        key = (pos, g.lane)
        if key not in out:
            out[key] = Gem(pos, g.lane, g.cymbal, g.dynamic, g.classes)
    merged = sorted(out.values(), key=lambda g: (g.position, LANES.index(g.lane)))
    return _limit(merged, EXPERT_RULE)


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
    album: str = ""
    genre: str = ""
    year: str = ""
    star_power: List = field(default_factory=list)
    fills: List = field(default_factory=list)
    sections: List[Tuple[Fraction, str]] = field(default_factory=list)

    @property
    def audio_length(self) -> float:
        """Seconds of the chart's audio (the song plus the tempo map's leading silence)."""
        return self.song_length + self.tempo_map.pad_s

    def end_position(self) -> Fraction:
        """Beat of the ``end`` event: inside the audio (50 ms before it ends), and not
        before the last gem."""
        last = max((g.position for gs in self.difficulties.values() for g in gs), default=Fraction(0))
        inside = Fraction(math.floor(float(self.tempo_map.beat_at(self.song_length - 0.05)) * 48), 48)
        return max(inside, last)


@dataclass
class ChartReport:
    """What :func:`make_chart` did."""

    quantize: QuantizeReport
    collisions: CollisionReport
    warnings: List[str] = field(default_factory=list)


def make_chart(onsets: Sequence[Onset], tempo_map: TempoMap, classes: Sequence[str],
               options: Optional[ChartOptions] = None, name: str = "song", song_length: float = 0.0,
               groups: Optional[Mapping[str, Sequence[str]]] = None,
               audio_name: Optional[str] = None,
               metadata: Optional[Mapping[str, str]] = None) -> Tuple[Chart, ChartReport]:
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
    metadata : mapping, optional
        Tags of the audio file (``title``, ``artist``, ``album``, ``genre``,
        ``year``); the options' values win.

    Returns
    -------
    Chart, ChartReport
    """
    options = options or ChartOptions()
    overrides = dict(options.lanes)
    overrides.setdefault("hihat_pedal", options.hihat_pedal)
    lanes, warnings = resolve_lanes(classes, overrides, groups)
    q = quantize_onsets([o for o in onsets if o.drum in lanes], tempo_map, options.grid,
                        options.max_shift_ms)
    expert, col = build_expert(q.notes, lanes, options.dynamics, options.accent_ratio,
                               options.ghost_ratio)
    expert = _limit(expert, EXPERT_RULE)
    expert = [g for g in expert  # a gem snapped past the audio's end cannot be played
              if float(tempo_map.time_at(float(g.position))) <= float(song_length) - 0.01
              or not song_length]
    expert = merge_close(expert, tempo_map, MIN_GAP_MS)
    diffs = {"Expert": expert}
    prev = expert
    for level in DIFFICULTIES[1:]:
        prev = reduce_level(prev, REDUCTIONS[level])
        diffs[level] = prev
    if not expert:
        warnings.append("the chart has no notes: no onsets were found in a charted class")
    if col.dropped:
        warnings.append(f"{col.dropped} tom notes dropped: every tom lane was taken by a cymbal")
    meta = dict(metadata or {})
    chart = Chart(options.name or meta.get("title") or name,
                  options.artist or meta.get("artist") or "Unknown Artist", tempo_map, diffs,
                  float(song_length), audio_name, options.dynamics,
                  album=options.album or meta.get("album") or "",
                  genre=options.genre or meta.get("genre") or "",
                  year=options.year or meta.get("year") or "")
    num = tempo_map.time_signature[0]
    n_bars = max(1, int(math.ceil(float(chart.end_position()) / num)))
    if options.sections:
        chart.sections = song_events.sections(expert, n_bars, num)
    if options.star_power:
        chart.star_power = song_events.star_power(diffs, n_bars, num)
    if options.fills:
        chart.fills = song_events.fills(diffs, chart.star_power, n_bars, num)
    return chart, ChartReport(q, col, warnings)


# ----------------------------------------------------------------------------
# tempo values and read-back types (shared by the format modules)


def _tempo_values(tm: TempoMap, per_segment) -> List[Tuple[int, int]]:
    """Integer tempo values per change with error diffusion (no drift from rounding).

    ``per_segment(n_beats, seconds) -> (value, seconds_as_written)``.
    """
    changes = tm.tempo_changes()
    out = []
    written_t = float(tm.beats[0])  # tick 0 (at or before the audio start)
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


class ChartReadError(DrumscribeError):
    """A chart file cannot be read."""


class ChartNote(NamedTuple):
    """A gem read from a chart."""

    tick: int
    lane: str
    cymbal: bool
    dynamic: str


@dataclass
class ChartData:
    """What a chart file says.

    Attributes
    ----------
    resolution : int
        Ticks per beat.
    tempos : list of (tick, bpm)
    time_signatures : list of (tick, numerator, denominator)
    notes : dict of difficulty -> list of ChartNote
        Sorted by tick then lane.
    song : dict
        ``[Song]`` entries (.chart) or the first track's name (.mid).
    events : list of (tick, text)
        Global events (sections, end).
    star_power, fills : list of (start_tick, end_tick)
        Star Power phrases and drum fills (activation lanes).
    """

    resolution: int
    tempos: List[Tuple[int, float]] = field(default_factory=list)
    time_signatures: List[Tuple[int, int, int]] = field(default_factory=list)
    notes: Dict[str, List[ChartNote]] = field(default_factory=dict)
    song: Dict[str, str] = field(default_factory=dict)
    events: List[Tuple[int, str]] = field(default_factory=list)
    star_power: List[Tuple[int, int]] = field(default_factory=list)
    fills: List[Tuple[int, int]] = field(default_factory=list)

    def seconds(self, tick: float) -> float:
        """Time in seconds of a tick (integrating the tempo events)."""
        t, last_tick, bpm = 0.0, 0, self.tempos[0][1] if self.tempos else 120.0
        for et, eb in self.tempos:
            if et >= tick:
                break
            t += (et - last_tick) / self.resolution * 60.0 / bpm
            last_tick, bpm = et, eb
        return t + (tick - last_tick) / self.resolution * 60.0 / bpm


LANE_ORDER = LANES


def _sort(notes: List[ChartNote]) -> List[ChartNote]:
    return sorted(notes, key=lambda n: (n.tick, LANE_ORDER.index(n.lane)))


def groups_of(config) -> Dict[str, List[str]]:
    """``postprocessing.class_groups`` of a Config, or {}."""
    try:
        return dict(config.postprocessing.class_groups or {})
    except AttributeError:
        return {}


__all__ = [
    "Chart", "ChartData", "ChartNote", "ChartOptions", "ChartReport", "CollisionReport", "Gem",
    "Reduction", "DEFAULT_LANES", "EXPERT_RULE", "GROUP_LANES", "LANE_NAMES", "REDUCTIONS",
    "TOM_ALTERNATIVES", "build_expert", "chart_options", "make_chart", "reduce_gems",
    "resolve_lanes",
]
