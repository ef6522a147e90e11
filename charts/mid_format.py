"""notes.mid (Clone Hero / Rock Band / YARG): the writer and the reader.

Track ``PART DRUMS``: Expert 96..100, Hard 84..88, Medium 72..76, Easy 60..64; a
yellow/blue/green note is a cymbal unless a tom marker (110/111/112) covers its tick;
velocity 127/1 are accent/ghost with ``[ENABLE_CHART_DYNAMICS]``; 116 Star Power;
120..124 together a drum fill. Track ``EVENTS``: ``[section Name]``, ``[music_start]``,
``[music_end]``, ``[end]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import mido

from .tempo import TempoMap
from .chart import (DIFFICULTIES, Chart, ChartData, ChartNote, ChartReadError, _sort,
                    _tempo_values)

MID_RESOLUTION = 480
EXPERT_MID_NOTES = {"kick": 96, "red": 97, "yellow": 98, "blue": 99, "green": 100}
MID_DIFF_OFFSET = {"Expert": 0, "Hard": -12, "Medium": -24, "Easy": -36}
TOM_MARKERS = {"yellow": 110, "blue": 111, "green": 112}
STAR_POWER_NOTE = 116
FILL_NOTES = (120, 121, 122, 123, 124)
MID_BASE = {"Expert": 96, "Hard": 84, "Medium": 72, "Easy": 60}
TOM_MARKER_LANE = {v: k for k, v in TOM_MARKERS.items()}
LANE_ORDER = ("kick", "red", "yellow", "blue", "green")


def midi_tempos(tm: TempoMap) -> List[Tuple[int, int]]:
    """``(beat, microseconds per quarter)`` for MIDI set_tempo events."""
    def seg(n, secs):
        v = min(0xFFFFFF, max(1, int(round(secs * 1e6 / n))))
        return v, n * v / 1e6
    return _tempo_values(tm, seg)


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
    phrases = [(p, (STAR_POWER_NOTE,)) for p in chart.star_power]
    phrases += [(p, FILL_NOTES) for p in chart.fills]
    for p, pitches in phrases:  # a phrase covers the gems from its start to its end tick
        a = int(round(p.start * resolution))
        b = int(round(p.end * resolution)) + max(1, resolution // 16)
        for note in pitches:
            events.append((a, 2, mido.Message("note_on", channel=9, note=note, velocity=100)))
            events.append((b, 1, mido.Message("note_off", channel=9, note=note, velocity=0)))
    mid.tracks.append(_track("PART DRUMS", events))
    end = int(round(chart.end_position() * resolution))
    ev = [(0, 0, mido.MetaMessage("text", text="[music_start]"))]
    ev += [(int(beat * resolution), 0, mido.MetaMessage("text", text=f"[section {name}]"))
           for beat, name in chart.sections]
    ev += [(end, 1, mido.MetaMessage("text", text="[music_end]")),
           (end, 2, mido.MetaMessage("text", text="[end]"))]
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
    data.star_power = sorted(spans.get(STAR_POWER_NOTE, []))
    data.fills = sorted(spans.get(FILL_NOTES[0], []))
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


