"""Read drum charts back: notes.chart and notes.mid -> tempo events and gems.

Used to check what :mod:`transcribe.charts` wrote, and to compare a chart with
a transcription. Only what drum charts need is read: resolution, tempo and
time-signature events, and per difficulty the gems with lane, cymbal/tom flag
and accent/ghost marking.

Conventions (from the public format descriptions):

- .chart: ``N 0`` kick, ``1`` red, ``2`` yellow, ``3`` blue, ``4`` green; a
  yellow/blue/green note is a tom unless ``N 66``/``67``/``68`` sits on the same
  tick; accents ``N 34..37`` and ghosts ``N 40..43``; tempo ``B`` is BPM x 1000.
- .mid: track ``PART DRUMS``; Expert 96..100, Hard 84..88, Medium 72..76, Easy
  60..64; a yellow/blue/green note is a cymbal unless a tom marker (110/111/112)
  covers its tick (``start <= tick < end``); velocity 127/1 are accent/ghost
  when the track holds ``[ENABLE_CHART_DYNAMICS]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

from transcribe.errors import DrumscribeError

LANE_OF_CHART = {0: "kick", 1: "red", 2: "yellow", 3: "blue", 4: "green"}
CYMBAL_OF_CHART = {66: "yellow", 67: "blue", 68: "green"}
ACCENT_OF_CHART = {34: "red", 35: "yellow", 36: "blue", 37: "green"}
GHOST_OF_CHART = {40: "red", 41: "yellow", 42: "blue", 43: "green"}
MID_BASE = {"Expert": 96, "Hard": 84, "Medium": 72, "Easy": 60}
LANE_ORDER = ("kick", "red", "yellow", "blue", "green")
TOM_MARKER_LANE = {110: "yellow", 111: "blue", 112: "green"}


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
        Global events.
    """

    resolution: int
    tempos: List[Tuple[int, float]] = field(default_factory=list)
    time_signatures: List[Tuple[int, int, int]] = field(default_factory=list)
    notes: Dict[str, List[ChartNote]] = field(default_factory=dict)
    song: Dict[str, str] = field(default_factory=dict)
    events: List[Tuple[int, str]] = field(default_factory=list)

    def seconds(self, tick: float) -> float:
        """Time in seconds of a tick (integrating the tempo events)."""
        t, last_tick, bpm = 0.0, 0, self.tempos[0][1] if self.tempos else 120.0
        for et, eb in self.tempos:
            if et >= tick:
                break
            t += (et - last_tick) / self.resolution * 60.0 / bpm
            last_tick, bpm = et, eb
        return t + (tick - last_tick) / self.resolution * 60.0 / bpm


def _sort(notes: List[ChartNote]) -> List[ChartNote]:
    return sorted(notes, key=lambda n: (n.tick, LANE_ORDER.index(n.lane)))


def read_chart(path) -> ChartData:
    """Read a ``notes.chart`` file.

    Raises
    ------
    ChartReadError
        If the file is missing, lacks ``Resolution`` or has malformed lines.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChartReadError(f"{path}: cannot read chart ({exc})") from None
    sections: Dict[str, List[Tuple[str, str]]] = {}
    current = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line == "{":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = []
        elif line == "}":
            current = None
        elif current is not None:
            key, sep, value = line.partition("=")
            if not sep:
                raise ChartReadError(f"{path}:{lineno}: expected 'key = value', got {line!r}")
            sections[current].append((key.strip(), value.strip()))
    song = {k: v.strip('"') for k, v in sections.get("Song", [])}
    try:
        res = int(song["Resolution"])
    except (KeyError, ValueError):
        raise ChartReadError(f"{path}: [Song] lacks a valid Resolution") from None
    data = ChartData(res, song=song)
    for key, value in sections.get("SyncTrack", []):
        parts = value.split()
        try:
            tick = int(key)
            if parts[0] == "B":
                data.tempos.append((tick, int(parts[1]) / 1000.0))
            elif parts[0] == "TS":
                exp = int(parts[2]) if len(parts) > 2 else 2
                data.time_signatures.append((tick, int(parts[1]), 2 ** exp))
        except (ValueError, IndexError):
            raise ChartReadError(f"{path}: bad [SyncTrack] entry {key} = {value}") from None
    data.tempos.sort()
    data.time_signatures.sort()
    for key, value in sections.get("Events", []):
        m = re.match(r'E\s+"?(.*?)"?$', value)
        if m:
            data.events.append((int(key), m.group(1)))
    for level in MID_BASE:
        rows = sections.get(f"{level}Drums")
        if rows is None:
            continue
        by_tick: Dict[int, set] = {}
        for key, value in rows:
            parts = value.split()
            if parts and parts[0] == "N":
                try:
                    by_tick.setdefault(int(key), set()).add(int(parts[1]))
                except (ValueError, IndexError):
                    raise ChartReadError(f"{path}: bad note {key} = {value}") from None
        notes = []
        for tick, types in by_tick.items():
            for t in types:
                lane = LANE_OF_CHART.get(t)
                if lane is None:
                    continue
                cym = any(CYMBAL_OF_CHART.get(c) == lane for c in types)
                dyn = ("accent" if any(ACCENT_OF_CHART.get(c) == lane for c in types) else
                       "ghost" if any(GHOST_OF_CHART.get(c) == lane for c in types) else "")
                notes.append(ChartNote(tick, lane, cym, dyn))
        data.notes[level] = _sort(notes)
    return data


def read_notes_mid(path) -> ChartData:
    """Read the drums of a ``notes.mid`` file (with mido).

    Raises
    ------
    ChartReadError
        If the file cannot be read or has no ``PART DRUMS`` track.
    """
    import mido

    path = Path(path)
    try:
        mid = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ChartReadError(f"{path}: cannot read MIDI file ({exc})") from None
    data = ChartData(mid.ticks_per_beat)
    drums = None
    for i, track in enumerate(mid.tracks):
        tick = 0
        name = ""
        for msg in track:
            tick += msg.time
            if msg.type == "track_name":
                name = msg.name
            elif msg.type == "set_tempo":
                data.tempos.append((tick, mido.tempo2bpm(msg.tempo)))
            elif msg.type == "time_signature":
                data.time_signatures.append((tick, msg.numerator, msg.denominator))
            elif msg.type == "text" and name == "EVENTS":
                data.events.append((tick, msg.text))
        if i == 0:
            data.song["Name"] = name
        if name == "PART DRUMS":
            drums = track
    data.tempos.sort()
    data.time_signatures.sort()
    if drums is None:
        raise ChartReadError(f"{path}: no 'PART DRUMS' track")
    dynamics = False
    starts: Dict[int, List[Tuple[int, int]]] = {}  # note -> [(tick, velocity)]
    spans: Dict[int, List[Tuple[int, int]]] = {}  # note -> [(start, end)]
    open_: Dict[int, int] = {}
    tick = 0
    for msg in drums:
        tick += msg.time
        if msg.type == "text" and msg.text.strip("[]") == "ENABLE_CHART_DYNAMICS":
            dynamics = True
        elif msg.type == "note_on" and msg.velocity > 0:
            starts.setdefault(msg.note, []).append((tick, msg.velocity))
            open_[msg.note] = tick
        elif msg.type in ("note_off", "note_on"):
            if msg.note in open_:
                spans.setdefault(msg.note, []).append((open_.pop(msg.note), tick))
    markers = {lane: spans.get(n, []) for n, lane in TOM_MARKER_LANE.items()}
    for level, base in MID_BASE.items():
        notes = []
        for k, lane in enumerate(LANE_ORDER):
            for t, vel in starts.get(base + k, []):
                cym = False
                if lane in ("yellow", "blue", "green"):
                    cym = not any(s <= t < e for s, e in markers[lane])
                dyn = ""
                if dynamics and lane != "kick":
                    dyn = "accent" if vel == 127 else "ghost" if vel == 1 else ""
                notes.append(ChartNote(t, lane, cym, dyn))
        data.notes[level] = _sort(notes)
    return data


def read_song_ini(path) -> Dict[str, str]:
    """``key = value`` pairs of a song.ini's ``[song]`` section (keys lower-case)."""
    out = {}
    section = None
    for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].lower()
        elif section == "song" and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip().lower()] = v.strip()
    return out
