"""Generated drum performances: (time, class, velocity) events from a seed.

Each style is a bar-based pattern on a 16th (or triplet 12th) grid with
per-bar variation, crashes on phrase starts, fills across the toms at phrase
ends, ghost notes, flams, open/closed/pedal hi-hats, side stick, ride bell and
rimshots, then humanised in timing and velocity.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import numpy as np

Event = Tuple[float, str, int]

STYLES: Dict[str, Tuple[float, float]] = {
    "rock": (90, 160), "funk": (80, 120), "pop": (90, 130), "metal": (140, 220),
    "shuffle": (80, 140), "jazz": (100, 220), "halftime": (60, 90), "disco": (110, 130),
    "ballad": (60, 80),
}
"""Style -> tempo range in BPM (all inside 60..220)."""

TRIPLET = {"shuffle", "jazz"}


def _bar(style: str, rng: np.random.Generator, bar_idx: int, variant: Dict) -> List[Tuple[float, str, float]]:
    """One bar's hits as (position in beats, class, velocity 0..1)."""
    steps = 12 if style in TRIPLET else 16
    per_beat = steps // 4
    hits: List[Tuple[float, str, float]] = []

    def add(step, cls, vel):
        hits.append((step / per_beat, cls, vel))

    timekeeper = variant["timekeeper"]
    if style in TRIPLET:
        for b in range(4):
            if style == "jazz":
                add(b * 3, "ride", 0.75 if b % 2 else 0.6)
                if b % 2:
                    add(b * 3 + 2, "ride", 0.5)
                if b % 2:
                    add(b * 3, "hihat_pedal", 0.55)
            else:
                add(b * 3, timekeeper, 0.8)
                add(b * 3 + 2, timekeeper, 0.5)
        if style == "shuffle":
            for s in variant["kick"]:
                add(s, "kick", 0.85)
            for b in (1, 3):
                add(b * 3, "snare_rim" if rng.random() < 0.15 else "snare_head", 0.9)
            if rng.random() < 0.5:
                add(int(rng.choice([5, 11])), "snare_head", 0.2)  # ghost
        else:
            if rng.random() < 0.6:
                add(int(rng.integers(steps)), "kick", 0.4)
            for _ in range(int(rng.integers(0, 3))):
                add(int(rng.integers(steps)), "snare_head", 0.25 + 0.3 * rng.random())
            if rng.random() < 0.2:
                add(int(rng.choice([2, 5, 8, 11])), "side_stick", 0.5)
        return hits

    sub = variant["sub"]  # 2 = 8ths, 1 = 16ths, 4 = quarters
    for s in range(0, steps, sub):
        accent = 0.85 if s % 4 == 0 else 0.6
        cls = timekeeper
        if style == "disco":
            cls = "hihat_open" if s % 4 == 2 else "hihat_closed"
        elif timekeeper == "hihat_closed" and s == 14 and rng.random() < variant["open_p"]:
            cls = "hihat_open"
        elif timekeeper == "ride" and s % 4 == 0 and rng.random() < variant["bell_p"]:
            cls = "ride_bell"
        add(s, cls, accent)
    if timekeeper == "ride" and style != "metal":
        for b in (1, 3):
            add(b * 4, "hihat_pedal", 0.6)
    for s in variant["kick"]:
        add(s, "kick", 0.9)
    if style == "metal" and variant["double"]:
        for s in range(0, steps, 1 if variant["double"] == 2 else 2):
            add(s, "kick", 0.8)
    backbeat = (8,) if style == "halftime" else (4, 12)
    snare_cls = "side_stick" if (style == "ballad" and variant["stick"]) else "snare_head"
    for s in backbeat:
        c = snare_cls
        if c == "snare_head" and rng.random() < variant["rim_p"]:
            c = "snare_rim"
        add(s, c, 0.9)
        if rng.random() < 0.08:  # flam grace note
            hits.append((s / per_beat - 0.025 * variant["bps"], "snare_head", 0.35))
    if style in ("funk", "pop", "halftime", "rock"):
        for s in range(1, steps, 2):
            if rng.random() < variant["ghost_p"] and s not in backbeat:
                add(s, "snare_head", 0.15 + 0.15 * rng.random())
    return hits


def _fill(rng: np.random.Generator, style: str) -> List[Tuple[float, str, float]]:
    """Fill over the last 1 or 2 beats of a bar (16ths or triplets)."""
    per_beat = 3 if style in TRIPLET else 4
    beats = int(rng.integers(1, 3))
    start = 4 - beats
    order = ["snare_head", "high_mid_tom", "high_mid_tom", "floor_tom", "floor_tom"]
    n = beats * per_beat
    out = []
    for i in range(n):
        if rng.random() < 0.15:
            continue
        cls = order[min(len(order) - 1, int(i * len(order) / n))]
        if rng.random() < 0.2:
            cls = str(rng.choice(order))
        out.append((start + i / per_beat, cls, 0.6 + 0.35 * rng.random()))
    out.append((start + (n - 1) / per_beat, "kick", 0.7))
    return out


def generate_groove(style: str, seed: int, duration: float, tempo: float = None,
                    return_downbeat: bool = False):
    """Generate a humanised drum performance.

    Parameters
    ----------
    style : str
        One of :data:`STYLES`.
    seed : int
        Random seed; equal seeds give equal performances.
    duration : float
        Length in seconds; events lie in ``[0, duration)``.
    tempo : float, optional
        BPM; drawn from the style's range when omitted.

    return_downbeat : bool
        Also return the time of the first downbeat at or after 0.

    Returns
    -------
    (list of (time, class, velocity), float[, float])
        Events sorted by time, the tempo in BPM[, the first downbeat in seconds].
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    rng = np.random.default_rng(seed)
    lo, hi = STYLES[style]
    tempo = float(tempo if tempo is not None else rng.uniform(lo, hi))
    spb = 60.0 / tempo
    kick_sets = {
        "rock": [[0, 8], [0, 6, 8], [0, 8, 10], [0, 3, 8, 10]],
        "funk": [[0, 3, 10], [0, 6, 9, 14], [0, 3, 7, 10], [0, 10, 13]],
        "pop": [[0, 8], [0, 6, 8, 10], [0, 7, 8]],
        "metal": [[0, 4, 8, 12], [0, 2, 8, 10]],
        "halftime": [[0, 6, 10], [0, 3, 14], [0, 10]],
        "disco": [[0, 4, 8, 12]],
        "ballad": [[0, 8], [0, 10], [0, 6, 8]],
        "shuffle": [[0, 6], [0, 5, 6], [0, 8]],
        "jazz": [[]],
    }
    variant = {
        "timekeeper": str(rng.choice(["hihat_closed"] * 3 + ["ride"])) if style not in ("disco",) else "hihat_closed",
        "sub": int(rng.choice([1, 2] if style in ("funk", "disco") else [2, 2, 1, 4] if style == "metal" else [2, 2, 1])),
        "open_p": float(rng.uniform(0, 0.5)),
        "bell_p": float(rng.uniform(0, 0.4)),
        "rim_p": float(rng.uniform(0, 0.4 if style in ("rock", "metal") else 0.1)),
        "ghost_p": float(rng.uniform(0.1, 0.4) if style == "funk" else rng.uniform(0, 0.12)),
        "double": int(rng.choice([1, 2])) if style == "metal" else 0,
        "stick": bool(rng.random() < 0.6),
        "bps": 1.0 / spb,
    }
    if style == "metal" and variant["double"]:
        variant["timekeeper"] = str(rng.choice(["hihat_closed", "ride", "crash"]))
    patterns = kick_sets[style]
    phrase = int(rng.choice([4, 8]))
    timing_sd = rng.uniform(0.003, 0.012)
    vel_sd = rng.uniform(0.04, 0.1)
    n_bars = int(np.ceil(duration / (4 * spb))) + 1
    events: List[Event] = []
    offset = rng.uniform(0, 4 * spb) * -1  # start mid-bar sometimes
    for bar in range(n_bars):
        variant["kick"] = list(patterns[int(rng.integers(len(patterns)))]) if (bar % 2 == 0 or rng.random() < 0.3) else variant.get("kick", patterns[0])
        if style in TRIPLET:
            variant["kick"] = [s * 3 // 4 for s in variant["kick"]]
        hits = _bar(style, rng, bar, variant)
        if bar % phrase == phrase - 1 and rng.random() < 0.7:
            cut = 4 - 2
            hits = [h for h in hits if h[0] < cut or h[1] in ("hihat_pedal",)] + _fill(rng, style)
        if bar % phrase == 0:
            hits = [h for h in hits if not (h[0] == 0 and h[1] in ("hihat_closed", "hihat_open", "ride"))]
            hits.append((0.0, "crash", 0.95))
            hits.append((0.0, "kick", 0.9))
        seen = set()
        for pos, cls, v in hits:
            key = (round(pos, 4), cls)
            if key in seen:
                continue
            seen.add(key)
            t = offset + (bar * 4 + pos) * spb + rng.normal(0, timing_sd)
            vel = int(np.clip(round(127 * (v + rng.normal(0, vel_sd))), 1, 127))
            if 0.0 <= t < duration:
                events.append((round(float(t), 6), cls, vel))
    events.sort()
    if return_downbeat:
        return events, tempo, float(offset % (4 * spb))
    return events, tempo
