"""song.ini: the writer and the reader."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from .chart import Chart


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
    rows = [("name", clean(chart.name)), ("artist", clean(chart.artist)),
            ("album", clean(chart.album)), ("genre", clean(chart.genre)), ("year", clean(chart.year)),
            ("charter", "drumscribe"), ("delay", "0"),
            ("song_length", str(int(round(chart.audio_length * 1000)))),
            ("preview_start_time", "0"), ("pro_drums", "True"), ("five_lane_drums", "False"),
            ("diff_drums", str(d)), ("diff_drums_real", str(d)), ("diff_guitar", "-1"),
            ("diff_bass", "-1"), ("diff_keys", "-1"), ("diff_vocals", "-1")]
    return "[song]\n" + "".join(f"{k} = {v}\n" for k, v in rows)


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
