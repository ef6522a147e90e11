"""Clip-level audio augmentation that keeps labels aligned.

Every step is causal or zero-phase at the onset (reverb adds energy only after
the direct sound), so labels stay put; the sample-rate change scales them.
"""

from __future__ import annotations

from typing import List, Tuple

import numpy as np
from scipy.signal import fftconvolve, lfilter

SR = 44100


def eq_tilt(x: np.ndarray, amount: float) -> np.ndarray:
    """Tilt the spectrum: ``amount`` > 0 brightens, < 0 darkens (about ±1)."""
    lp = lfilter([0.15], [1, -0.85], x).astype(np.float32)
    return (x + amount * (x - lp) - 0.5 * max(0.0, -amount) * x + 0.5 * max(0.0, -amount) * lp).astype(np.float32)


def peaking_eq(x: np.ndarray, freq: float, gain_db: float, q: float, sr: int = SR) -> np.ndarray:
    """A second-order peaking filter: ``gain_db`` at ``freq`` Hz, bandwidth set by ``q``.

    The usual bilinear-transform design of a resonant bell (unity gain far from
    ``freq``); causal, so onsets keep their place.
    """
    a = 10 ** (gain_db / 40)
    w = 2 * np.pi * freq / sr
    alpha = np.sin(w) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w), 1 - alpha / a])
    return lfilter(b / den[0], den / den[0], x).astype(np.float32)


def reverb(x: np.ndarray, rng: np.random.Generator, rt60: float, wet: float) -> np.ndarray:
    """Convolve with a synthetic exponentially decaying noise impulse response."""
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    ir = rng.standard_normal(n).astype(np.float32) * np.exp(-6.9 * t / rt60).astype(np.float32)
    ir = lfilter([0.3], [1, -0.7], ir).astype(np.float32)
    ir[: int(0.008 * SR)] *= np.linspace(0, 1, int(0.008 * SR))  # pre-delay ramp
    ir /= np.sqrt(np.sum(ir ** 2)) + 1e-9
    wet_sig = fftconvolve(x, ir)[: len(x)].astype(np.float32)
    return (x + wet * wet_sig).astype(np.float32)


def compress(x: np.ndarray, threshold_db: float, ratio: float) -> np.ndarray:
    """Feed-forward compressor with a 5 ms attack / 100 ms release envelope."""
    env = np.abs(x)
    a = np.exp(-1.0 / (0.005 * SR))
    env = lfilter([1 - a], [1, -a], env)
    thr = 10 ** (threshold_db / 20)
    gain = np.ones_like(env)
    over = env > thr
    gain[over] = (thr * (env[over] / thr) ** (1 / ratio)) / env[over]
    r = np.exp(-1.0 / (0.1 * SR))
    gain = lfilter([1 - r], [1, -r], gain - 1) + 1
    return (x * gain).astype(np.float32)


def change_rate(x: np.ndarray, factor: float) -> np.ndarray:
    """Resample so the clip plays ``factor`` times longer (pitch and tempo change together)."""
    import soxr

    return soxr.resample(x, SR, SR * factor).astype(np.float32)


def augment(x: np.ndarray, labels: List[Tuple[float, str, int]], rng: np.random.Generator,
            strength: float = 1.0) -> Tuple[np.ndarray, List[Tuple[float, str, int]], dict]:
    """Apply random gain, EQ tilt, reverb, compression, noise and a small
    sample-rate change.

    Parameters
    ----------
    x : np.ndarray
        Mono clip at 44.1 kHz.
    labels : list of (time, class, velocity)
    rng : np.random.Generator
    strength : float
        0 disables augmentation; 1 is the default ranges.

    Returns
    -------
    (np.ndarray, list, dict)
        Audio, labels (times scaled by the rate change) and the parameters used.
    """
    params = {}
    if strength <= 0:
        return x, labels, params
    if rng.random() < 0.7:
        params["tilt"] = float(rng.uniform(-0.8, 0.8))
        x = eq_tilt(x, params["tilt"])
    if rng.random() < 0.5:
        params["rt60"] = float(rng.uniform(0.2, 1.2))
        params["wet"] = float(rng.uniform(0.05, 0.35)) * strength
        x = reverb(x, rng, params["rt60"], params["wet"])
    if rng.random() < 0.4:
        x = x / (np.abs(x).max() + 1e-9)
        params["comp_db"] = float(rng.uniform(-24, -8))
        x = compress(x, params["comp_db"], float(rng.uniform(2, 6)))
    if rng.random() < 0.3:
        factor = float(1 + rng.uniform(-0.03, 0.03) * strength)
        params["rate"] = factor
        x = change_rate(x, factor)
        labels = [(t * factor, c, v) for t, c, v in labels]
    peak = np.abs(x).max() + 1e-9
    x = x / peak * float(10 ** (rng.uniform(-12, -1) / 20))
    if rng.random() < 0.5:
        params["noise_db"] = float(rng.uniform(-70, -40))
        x = x + rng.standard_normal(len(x)).astype(np.float32) * float(10 ** (params["noise_db"] / 20))
    return np.clip(x, -1, 1).astype(np.float32), labels, params
