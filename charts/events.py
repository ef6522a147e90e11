"""What a chart needs besides gems: sections, Star Power phrases and drum fills.

All three work on bars of the chart (tick 0 is a downbeat, see
:mod:`drumscribe.charts.tempo`), in beats from tick 0, and read only the gems:

- **Sections** start where the drum pattern changes. Each bar is described by
  the lanes it plays at each sixteenth (a 5 x 4*numerator count matrix of the
  Expert gems); a section starts at a bar whose pattern differs from the mean
  of the previous two bars (cosine similarity below :data:`NOVELTY`), at least
  :data:`MIN_SECTION_BARS` after the last one, and where the music starts after
  silence. Sections with the same pattern share a letter: ``Intro`` (no
  notes), ``Groove A``, ``Groove B``, ``Groove A 2`` ...
- **Star Power phrases** are one bar long and spaced as published charts
  space them: one every :data:`SP_SPACING_BARS` bars (fewer bars on short
  songs, so a 30 s clip still gets three), on bars every difficulty plays.
- **Drum fills** (activation lanes) let the player deploy Star Power. The game
  shows them only once Star Power is available, so they start after the
  second phrase; each covers the bar before a downbeat with a gem (the
  activation note, included in the fill), halfway between two phrases, never
  overlapping one.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Dict, List, Sequence, Tuple

import numpy as np

NOVELTY = 0.6
MIN_SECTION_BARS = 4
SP_SPACING_BARS = 8
LANE_INDEX = {"kick": 0, "red": 1, "yellow": 2, "blue": 3, "green": 4}


@dataclass(frozen=True)
class Phrase:
    """A span of the chart in beats: ``start <= position <= end``."""

    start: Fraction
    end: Fraction

    @property
    def length(self) -> Fraction:
        return self.end - self.start

    def holds(self, position) -> bool:
        return self.start <= position <= self.end


def bar_patterns(gems: Sequence, n_bars: int, numerator: int = 4) -> np.ndarray:
    """(n_bars, 5 * 4 * numerator) gem counts per bar, lane and sixteenth."""
    steps = 4 * numerator
    out = np.zeros((n_bars, 5 * steps))
    for g in gems:
        pos = float(g.position)
        bar = int(pos // numerator)
        if 0 <= bar < n_bars:
            step = int(round((pos - bar * numerator) * 4)) % steps
            out[bar, LANE_INDEX[g.lane] * steps + step] += 1
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(a @ b / (na * nb))


def sections(gems: Sequence, n_bars: int, numerator: int = 4) -> List[Tuple[Fraction, str]]:
    """``(beat, name)`` of every section (the first at beat 0)."""
    n_bars = max(1, n_bars)
    pat = bar_patterns(gems, n_bars, numerator)
    starts = [0]
    for b in range(1, n_bars):
        if b - starts[-1] < MIN_SECTION_BARS:
            continue
        ref = pat[max(0, b - 2):b].mean(axis=0)
        now = pat[b:b + 2].mean(axis=0)
        silent_before = not pat[max(0, b - 1)].any()
        if (silent_before and pat[b].any()) or _cos(ref, now) < NOVELTY:
            starts.append(b)
    names: List[Tuple[Fraction, str]] = []
    seen: List[Tuple[np.ndarray, str]] = []
    counts: Dict[str, int] = {}
    for i, b in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else n_bars
        mean = pat[b:end].mean(axis=0)
        if not mean.any():
            label = "Intro" if i == 0 else "Break"
        else:
            label = next((lab for p, lab in seen if _cos(p, mean) >= NOVELTY + 0.2), None)
            if label is None:
                label = f"Groove {chr(ord('A') + min(25, len(seen)))}"
                seen.append((mean, label))
        counts[label] = counts.get(label, 0) + 1
        names.append((Fraction(b * numerator), label if counts[label] == 1
                      else f"{label} {counts[label]}"))
    return names


def _bars_with_notes(difficulties: Dict[str, Sequence], n_bars: int, numerator: int) -> np.ndarray:
    """(n_bars,) True where every difficulty has a gem in the bar."""
    ok = np.ones(n_bars, dtype=bool)
    for gems in difficulties.values():
        has = np.zeros(n_bars, dtype=bool)
        for g in gems:
            b = int(float(g.position) // numerator)
            if 0 <= b < n_bars:
                has[b] = True
        ok &= has
    return ok


def _downbeat_gems(difficulties: Dict[str, Sequence], n_bars: int, numerator: int) -> np.ndarray:
    """(n_bars + 1,) True where every difficulty has a gem on the bar's downbeat."""
    ok = np.ones(n_bars + 1, dtype=bool)
    for gems in difficulties.values():
        has = np.zeros(n_bars + 1, dtype=bool)
        for g in gems:
            if g.position % numerator == 0:
                b = int(g.position // numerator)
                if 0 <= b <= n_bars:
                    has[b] = True
        ok &= has
    return ok


def star_power(difficulties: Dict[str, Sequence], n_bars: int,
               numerator: int = 4) -> List[Phrase]:
    """One-bar Star Power phrases on bars every difficulty plays (see module doc)."""
    playable = _bars_with_notes(difficulties, n_bars, numerator)
    idx = np.flatnonzero(playable)
    if idx.size == 0:
        return []
    spacing = int(np.clip((idx[-1] - idx[0]) // 4, 3, SP_SPACING_BARS))
    out: List[Phrase] = []
    b = int(idx[0]) + 1 if idx.size > 1 else int(idx[0])
    while b < n_bars:
        cand = idx[idx >= b]
        if cand.size == 0:
            break
        bar = int(cand[0])
        start = Fraction(bar * numerator)
        out.append(Phrase(start, start + numerator - Fraction(1, 4)))
        b = bar + spacing
    return out


def fills(difficulties: Dict[str, Sequence], phrases: Sequence[Phrase], n_bars: int,
          numerator: int = 4) -> List[Phrase]:
    """Drum fills (activation lanes) between Star Power phrases (see module doc)."""
    if len(phrases) < 2:
        return []
    playable = _bars_with_notes(difficulties, n_bars, numerator)
    landing = _downbeat_gems(difficulties, n_bars, numerator)
    sp_bars = {int(p.start // numerator) for p in phrases}
    out: List[Phrase] = []
    bounds = [int(p.start // numerator) for p in phrases[1:]] + [n_bars]
    for a, b in zip(bounds[:-1], bounds[1:]):
        mid = (a + b) // 2
        for bar in sorted(range(a + 1, b), key=lambda x: abs(x - mid)):
            nxt = bar + 1
            if (playable[bar] and nxt <= n_bars and landing[nxt] and bar not in sp_bars
                    and nxt not in sp_bars):
                out.append(Phrase(Fraction(bar * numerator), Fraction(nxt * numerator)))
                break
    return out
