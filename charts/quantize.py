"""Snap onsets to a tempo map's grid for charts (the GM MIDI stays unquantised).

Each onset is moved to the nearest position of any allowed grid -- by default
sixteenth notes (4 per beat) and eighth-note triplets (the "1/12" grid, 3 per
beat) -- chosen per note, unless that would move it more than
``max_shift_ms``; such a note keeps its own position (on a 1/48 beat grid) and
is counted as unsnapped. Two onsets of the same class that land on one grid
position are one gem: the second tries its next-nearest grid position first
and is merged (loudest velocity kept) only if none is free. Onsets of
different classes are never merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Dict, List, Sequence, Tuple

import numpy as np

from drumscribe.transcribe.errors import DrumscribeError
from drumscribe.transcribe.hookspecs import Onset
from .tempo import TempoMap

FINE_DIVISIONS = 48
"""Unsnapped notes are kept on a 1/48-beat grid (exact in 192 and 480 ticks per beat)."""


class QuantizeError(DrumscribeError):
    """Invalid quantisation settings."""


@dataclass(frozen=True)
class QuantizedNote:
    """An onset on the chart grid.

    Attributes
    ----------
    onset : Onset
        The original onset (time unchanged).
    position : Fraction
        Position in beats from tick 0 (the start of the audio).
    time : float
        The grid position in seconds.
    shift_ms : float
        Signed move ``(time - onset.time) * 1000``.
    snapped : bool
        False when no grid position was within ``max_shift_ms``.
    """

    onset: Onset
    position: Fraction
    time: float
    shift_ms: float
    snapped: bool


@dataclass
class QuantizeReport:
    """What quantisation did: notes and how far they moved."""

    notes: List[QuantizedNote] = field(default_factory=list)
    merged: int = 0
    unsnapped: int = 0

    @property
    def mean_shift_ms(self) -> float:
        """Mean absolute move of the snapped notes (0 when none)."""
        s = [abs(n.shift_ms) for n in self.notes if n.snapped]
        return float(np.mean(s)) if s else 0.0

    @property
    def max_shift_ms(self) -> float:
        """Largest absolute move of a snapped note (0 when none)."""
        s = [abs(n.shift_ms) for n in self.notes if n.snapped]
        return float(np.max(s)) if s else 0.0

    def summary(self) -> str:
        """One line for the log."""
        return (f"quantised {len(self.notes)} notes: mean shift {self.mean_shift_ms:.1f} ms, "
                f"max {self.max_shift_ms:.1f} ms, {self.unsnapped} off-grid, "
                f"{self.merged} merged")


def grid_divisions(grid: Sequence[int]) -> Tuple[int, ...]:
    """Divisions per beat of note values (16 -> 4, 12 -> 3, 8 -> 2, 32 -> 8).

    Raises
    ------
    QuantizeError
        If a value is not a positive multiple of 4 note value (a quarter-note
        beat must split into whole grid steps).
    """
    out = []
    for g in grid:
        if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g < 4 or g % 4:
            raise QuantizeError(f"grid value {g!r} is not a note value such as 16 (sixteenths) "
                                "or 12 (eighth triplets): use a positive multiple of 4")
        out.append(int(g) // 4)
    if not out:
        raise QuantizeError("grid is empty; use e.g. [16, 12]")
    return tuple(out)


def quantize_onsets(onsets: Sequence[Onset], tempo_map: TempoMap, grid: Sequence[int] = (16, 12),
                    max_shift_ms: float = 60.0) -> QuantizeReport:
    """Snap onsets to the grid.

    Parameters
    ----------
    onsets : sequence of Onset
    tempo_map : TempoMap
    grid : sequence of int
        Note values allowed (16 = sixteenth notes, 12 = eighth triplets); on a
        tie the first listed wins.
    max_shift_ms : float >= 0
        Largest allowed move.

    Returns
    -------
    QuantizeReport
        Notes sorted by position then class.

    Raises
    ------
    QuantizeError
        For a bad grid or a negative ``max_shift_ms``.

    Examples
    --------
    >>> from drumscribe.charts.tempo import fixed_tempo
    >>> tm = fixed_tempo(120, 0.0, 10.0)
    >>> r = quantize_onsets([Onset(0.26, "kick", 100, 0.9)], tm)
    >>> r.notes[0].position, round(r.notes[0].shift_ms, 1)
    (Fraction(1, 2), -10.0)
    """
    divs = grid_divisions(grid)
    max_shift = float(max_shift_ms)
    if not max_shift >= 0:
        raise QuantizeError(f"max_shift_ms must be >= 0, got {max_shift_ms!r}")
    report = QuantizeReport()
    taken: Dict[Tuple[str, Fraction], int] = {}  # (class, position) -> index in notes
    notes: List[QuantizedNote] = []
    for o in sorted(onsets, key=lambda o: (o.time, o.drum)):
        b = float(tempo_map.beat_at(o.time))
        cands = []
        for order, d in enumerate(divs):
            k = round(b * d)
            for kk in (k, k - 1 if b * d < k else k + 1):  # nearest and next-nearest
                pos = Fraction(int(kk), d)
                if pos < 0:
                    continue
                t = float(tempo_map.time_at(float(pos)))
                cands.append((abs(t - o.time), order, pos, t))
        cands.sort(key=lambda c: (round(c[0], 9), c[1]))
        cands = [c for c in cands if c[0] * 1000.0 <= max_shift + 1e-9]
        chosen = None
        for _, _, pos, t in cands:
            if (o.drum, pos) not in taken:
                chosen = (pos, t, True)
                break
        if chosen is None and cands:  # every nearby slot holds this class: merge
            pos = cands[0][2]
            i = taken[(o.drum, pos)]
            old = notes[i]
            if o.velocity > old.onset.velocity:
                notes[i] = QuantizedNote(o._replace(time=old.onset.time), old.position, old.time,
                                         old.shift_ms, old.snapped)
            report.merged += 1
            continue
        if chosen is None:
            pos = Fraction(round(b * FINE_DIVISIONS), FINE_DIVISIONS)
            if pos < 0:
                pos = Fraction(0)
            t = float(tempo_map.time_at(float(pos)))
            chosen = (pos, t, False)
            report.unsnapped += 1
            if (o.drum, pos) in taken:
                report.merged += 1
                continue
        pos, t, snapped = chosen
        taken[(o.drum, pos)] = len(notes)
        notes.append(QuantizedNote(o, pos, t, (t - o.time) * 1000.0, snapped))
    notes.sort(key=lambda n: (n.position, n.onset.drum))
    report.notes = notes
    return report
