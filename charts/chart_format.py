"""notes.chart (Moonscraper / Clone Hero text format): the writer and the reader.

Conventions (from the public format descriptions): ``N 0`` kick, ``1`` red, ``2``
yellow, ``3`` blue, ``4`` green; a yellow/blue/green note is a tom unless ``N 66``/
``67``/``68`` sits on the same tick; accents ``N 34..37``, ghosts ``N 40..43``; tempo
``B`` is BPM x 1000; ``S 2 len`` Star Power, ``S 64 len`` a drum fill; sections are
``E "section Name"`` in ``[Events]``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Dict, List, Tuple

from .tempo import TempoMap
from .chart import (DIFFICULTIES, Chart, ChartData, ChartNote, ChartReadError, _sort,
                    _tempo_values)

CHART_RESOLUTION = 192
CHART_NOTES = {"kick": 0, "red": 1, "yellow": 2, "blue": 3, "green": 4}
CHART_CYMBAL = {"yellow": 66, "blue": 67, "green": 68}
CHART_ACCENT = {"red": 34, "yellow": 35, "blue": 36, "green": 37}
CHART_GHOST = {"red": 40, "yellow": 41, "blue": 42, "green": 43}
LANE_OF_CHART = {v: k for k, v in CHART_NOTES.items()}
CYMBAL_OF_CHART = {v: k for k, v in CHART_CYMBAL.items()}
ACCENT_OF_CHART = {v: k for k, v in CHART_ACCENT.items()}
GHOST_OF_CHART = {v: k for k, v in CHART_GHOST.items()}


def chart_tempos(tm: TempoMap) -> List[Tuple[int, int]]:
    """``(beat, milli-BPM)`` for .chart ``B`` events."""
    def seg(n, secs):
        v = max(1, int(round(n * 60000.0 / secs)))
        return v, n * 60000.0 / v
    return _tempo_values(tm, seg)


def _quote(s: str) -> str:
    return '"' + str(s).replace('"', "'").replace("\n", " ") + '"'


def chart_text(chart: Chart, resolution: int = CHART_RESOLUTION) -> str:
    """The notes.chart file (Moonscraper / Clone Hero) as text."""
    lines = ["[Song]", "{"]
    song = [("Name", _quote(chart.name)), ("Artist", _quote(chart.artist)),
            ("Album", _quote(chart.album)), ("Year", _quote(f", {chart.year}" if chart.year else "")),
            ("Charter", _quote("drumscribe")), ("Offset", "0"), ("Resolution", str(resolution)),
            ("Player2", "bass"), ("Difficulty", "0"), ("PreviewStart", "0"), ("PreviewEnd", "0"),
            ("Genre", _quote(chart.genre)), ("MediaType", _quote("cd"))]
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
    lines += ["}", "[Events]", "{"]
    lines += [f"  {int(beat * resolution)} = E \"section {name}\"" for beat, name in chart.sections]
    lines += [f"  {int(round(chart.end_position() * resolution))} = E \"end\"", "}"]
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
        specials = [(int(round(p.start * resolution)), 2, int(round(p.length * resolution)))
                    for p in chart.star_power]
        specials += [(int(round(p.start * resolution)), 64, int(round(p.length * resolution)))
                     for p in chart.fills]
        out = [(t, 0, f"N {n} 0") for t, n in rows] + [(t, 1, f"S {k} {n}") for t, k, n in specials]
        lines += [f"  {t} = {v}" for t, _, v in sorted(out)]
        lines.append("}")
    return "\n".join(lines) + "\n"


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
    for level in DIFFICULTIES:
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
            elif parts and parts[0] == "S" and level == "Expert" and len(parts) >= 3:
                span = (int(key), int(key) + int(parts[2]))
                {"2": data.star_power, "64": data.fills}.get(parts[1], []).append(span)
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


