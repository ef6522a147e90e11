"""Groove MIDI Dataset (Gillick et al. 2019, CC BY 4.0) performances as events."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

from drumscribe.transcribe.annotations import read_midi_annotations

GMD_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "groove_midi"

EXTRA_NOTES = {22: "hihat_closed", 26: "hihat_open", 58: "floor_tom"}
"""TD-11 notes outside the GM table (closed hat edge, open hat edge, floor tom rim)."""


@dataclass(frozen=True)
class Performance:
    """One GMD performance (a row of ``info.csv``)."""

    gmd_id: str
    path: str
    style: str
    bpm: float
    duration: float
    split: str  # train | validation
    drummer: str


def list_performances(gmd_dir=GMD_DIR, min_duration: float = 8.0) -> List[Performance]:
    """Performances listed in ``info.csv`` that are at least ``min_duration`` s long."""
    gmd_dir = Path(gmd_dir)
    info = gmd_dir / "info.csv"
    if not info.exists():
        return []
    out = []
    with open(info, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if float(row["duration"]) < min_duration or row["time_signature"] != "4-4":
                continue
            p = gmd_dir / row["midi_filename"]
            if p.exists():
                out.append(Performance(row["id"], str(p), row["style"], float(row["bpm"]),
                                       float(row["duration"]), row["split"], row["drummer"]))
    return out


def load_events(perf: Performance) -> List[Tuple[float, str, int]]:
    """All drum hits of a performance as sorted ``(time, class, velocity)``.

    GM notes are read with :func:`drumscribe.transcribe.annotations.read_midi_annotations`
    (``strict=False``); the TD-11 extra notes of :data:`EXTRA_NOTES` are added.
    """
    import mido

    ann = read_midi_annotations(perf.path, strict=False)
    events = [(float(t), c, int(v)) for c, ts in ann.onsets.items()
              for t, v in zip(ts, ann.velocities.get(c, [100] * len(ts)))]
    t = 0.0
    for msg in mido.MidiFile(perf.path):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0 and msg.note in EXTRA_NOTES:
            events.append((t, EXTRA_NOTES[msg.note], int(msg.velocity)))
    events.sort()
    return events
