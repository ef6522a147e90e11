"""Recorded guitar strums for the accompaniment: a real instrument's onsets.

The GM SoundFont guitars of :mod:`drumscribe.training.accompaniment` are
synthesised one string at a time; a strummed acoustic guitar in a record has
a noisy, broadband attack that a drum model can take for a tom or a snare.
This module plays the recorded strums of Hydrogen's ``belofilms_GuitarStrums``
kit (Debian ``hydrogen-drumkits-effects``, CC BY 3.0, Gabriel Verdugo Soto:
24 chords, each as down strokes, up strokes and plain strums, 96 kHz stereo)
as a rhythm part at the drums' tempo: eighth-note patterns of down and up
strokes over a chord per bar, some let ring and some stopped by the hand.

All randomness comes from the ``rng`` passed in; the samples are read once
per process.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

SR = 44100
STRUM_DIR = Path("/usr/share/hydrogen/data/drumkits/belofilms_GuitarStrums")
PACKAGE = "hydrogen-drumkits-effects"
_NAME = re.compile(r"^(?P<chord>.+?)(?:_(?P<dir>DOWN|UP|Down|Up))?_(?P<n>\d+)(?:wav)?\.flac$")


@lru_cache(maxsize=2)
def load_strums(folder: str = str(STRUM_DIR)) -> Dict[str, Dict[str, List[np.ndarray]]]:
    """The kit's strums, mono float32 at 44.1 kHz, by chord and stroke.

    Returns
    -------
    dict
        ``{chord: {"down": [...], "up": [...]}}``; plain strums count as down
        strokes. Chords lacking either stroke borrow the other.

    Raises
    ------
    FileNotFoundError
        When the kit is not installed (the message names the package).
    """
    import soundfile as sf
    from scipy.signal import resample_poly

    d = Path(folder)
    files = sorted(d.glob("*.flac")) if d.is_dir() else []
    if not files:
        raise FileNotFoundError(f"{d}: no guitar strums; apt-get install -y {PACKAGE}")
    out: Dict[str, Dict[str, List[np.ndarray]]] = {}
    for f in files:
        m = _NAME.match(f.name)
        if not m:
            continue
        x, sr = sf.read(str(f), dtype="float32", always_2d=True)
        x = x.mean(axis=1)
        if sr != SR:
            g = np.gcd(int(sr), SR)
            x = resample_poly(x, SR // g, int(sr) // g).astype(np.float32)
        stroke = "up" if (m.group("dir") or "").lower() == "up" else "down"
        out.setdefault(m.group("chord"), {"down": [], "up": []})[stroke].append(x)
    for strokes in out.values():
        if not strokes["down"]:
            strokes["down"] = strokes["up"]
        if not strokes["up"]:
            strokes["up"] = strokes["down"]
    return out


def strum_part(duration: float, tempo: float, rng: np.random.Generator, downbeat: float = 0.0,
               folder: str = str(STRUM_DIR)) -> Tuple[np.ndarray, List[float]]:
    """A strummed rhythm guitar of ``duration`` seconds at ``tempo`` BPM.

    Parameters
    ----------
    duration, tempo : float
    rng : np.random.Generator
    downbeat : float
        Time of a downbeat; bars are laid from it.
    folder : str
        The strum kit's folder.

    Returns
    -------
    (np.ndarray, list of float)
        Mono float32 audio and the strum onset times (seconds).
    """
    strums = load_strums(folder)
    chords = sorted(strums)
    spb = 60.0 / max(tempo, 30.0)
    bar = 4 * spb
    prog = [chords[int(rng.integers(len(chords)))] for _ in range(4)]
    bars_per_chord = 1 if rng.random() < 0.6 else 2
    # a strumming pattern per song, over eighth notes: down on the beats, up between
    pattern = [k for k in range(8) if k == 0 or rng.random() < (0.75 if k % 2 == 0 else 0.45)]
    if rng.random() < 0.25:  # sparse: whole and half notes, let ring
        pattern = [0] if rng.random() < 0.5 else [0, 4]
    ring = float(rng.uniform(0.3, 1.0))  # share of strokes that ring on into the next one
    swing = float(rng.uniform(0, 0.06)) * spb if rng.random() < 0.25 else 0.0
    n = int(round(duration * SR))
    out = np.zeros(n, np.float32)
    onsets: List[float] = []
    first = downbeat - bar * np.ceil(downbeat / bar)
    starts = []
    b = 0
    t0 = first
    while t0 < duration:
        chord = prog[(b // bars_per_chord) % len(prog)]
        for k in pattern:
            s = t0 + k * spb / 2 + (swing if k % 2 else 0.0) + float(rng.normal(0, 0.006))
            if -0.05 < s < duration:
                starts.append((s, chord, "down" if k % 2 == 0 else "up"))
        b += 1
        t0 += bar
    for i, (s, chord, stroke) in enumerate(starts):
        takes = strums[chord][stroke]
        x = takes[int(rng.integers(len(takes)))]
        gain = float(10 ** (rng.uniform(-6, 0) / 20)) * (0.8 if stroke == "up" else 1.0)
        nxt = starts[i + 1][0] if i + 1 < len(starts) else duration
        length = len(x)
        if rng.random() >= ring:  # stopped by the hand at the next stroke
            length = min(length, max(1, int((nxt - s) * SR) + int(0.02 * SR)))
        seg = x[:length] * gain
        fade = min(len(seg), int(0.02 * SR))
        if fade > 1 and length < len(x):
            seg = seg.copy()
            seg[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        a = int(round(s * SR))
        lo, hi = max(a, 0), min(a + len(seg), n)
        if hi > lo:
            out[lo:hi] += seg[lo - a:hi - a]
            if s >= 0:
                onsets.append(round(s, 4))
    return out, onsets
