"""Built-in onset picker: local maxima above the class threshold, a minimum gap apart.

A frame ``i`` is an onset of a class when its activation ``x[i]``

- is at least the class threshold,
- is strictly greater than every value in the ``g`` frames before it, and
- is at least every value in the ``g`` frames after it,

where ``g = max(1, ceil(min_gap_ms * fps / 1000) - 1)``. Two onsets of one class
are therefore at least ``g + 1`` frames (``>= min_gap_ms``) apart, the earliest
frame of a plateau wins, and because the threshold only filters a set that does
not depend on it, raising a threshold never adds an onset (the calibration
sweeps rely on this). Velocity grows linearly with the peak height.
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np

from drumscribe.transcribe.hookspecs import Candidates, Onset, hookimpl


def gap_frames(min_gap_ms: float, fps: float) -> int:
    """Frames ``g`` on each side that a peak must dominate (>= 1)."""
    return max(1, int(math.ceil(min_gap_ms * fps / 1000.0 - 1e-9)) - 1)


def candidate_peaks(x: np.ndarray, g: int) -> np.ndarray:
    """Frame indices of the threshold-free peaks of ``x`` (see module docstring).

    Parameters
    ----------
    x : np.ndarray, shape (n_frames,)
    g : int >= 1

    Returns
    -------
    np.ndarray of int
        Sorted frame indices.
    """
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pad = np.full(g, -np.inf, dtype=np.float32)
    xp = np.concatenate([pad, x, pad])
    left = np.full(n, -np.inf, dtype=np.float32)
    right = np.full(n, -np.inf, dtype=np.float32)
    for k in range(1, g + 1):
        np.maximum(left, xp[g - k:g - k + n], out=left)
        np.maximum(right, xp[g + k:g + k + n], out=right)
    return np.flatnonzero((x > left) & (x >= right))


def pick_peaks(x: np.ndarray, threshold: float, fps: float, min_gap_ms: float = 30.0) -> Tuple[np.ndarray, np.ndarray]:
    """Onset frames and heights of one class's activation.

    Parameters
    ----------
    x : np.ndarray, shape (n_frames,)
        Activations in [0, 1].
    threshold : float in [0, 1]
    fps : float > 0
    min_gap_ms : float >= 0

    Returns
    -------
    frames : np.ndarray of int
    heights : np.ndarray of float

    Examples
    --------
    >>> frames, h = pick_peaks(np.array([0, .2, .9, .3, 0, .6, .1]), 0.5, 100)
    >>> frames.tolist()
    [2, 5]
    """
    idx = candidate_peaks(x, gap_frames(min_gap_ms, fps))
    h = np.asarray(x)[idx]
    keep = h >= threshold
    return idx[keep], h[keep]


def velocity_from_strength(strength) -> np.ndarray:
    """MIDI velocity (1..127) from a peak height in [0, 1]."""
    return np.clip(np.round(1 + 126 * np.asarray(strength, dtype=float)), 1, 127).astype(int)


def candidates_of(activations, min_gap_ms: float) -> Candidates:
    """The threshold-free candidate peaks of every class (see the module docstring)."""
    g = gap_frames(min_gap_ms, activations.fps)
    frames, heights = {}, {}
    for j, name in enumerate(activations.classes):
        x = activations.values[:, j]
        idx = candidate_peaks(x, g)
        frames[name], heights[name] = idx, x[idx]
    return Candidates(frames, heights, activations.fps)


@hookimpl(trylast=True)
def drumscribe_onset_candidates(activations, context) -> Candidates:
    """Declare the candidates: this picker's onsets are those with height >= threshold."""
    return candidates_of(activations, context.config.postprocessing.min_gap_ms)


@hookimpl(trylast=True)
def drumscribe_pick_onsets(activations, thresholds: Dict[str, float], context) -> List[Onset]:
    """Pick local maxima above each class's threshold, ``min_gap_ms`` apart."""
    cand = candidates_of(activations, context.config.postprocessing.min_gap_ms)
    out: List[Onset] = []
    for name in activations.classes:
        times, heights = cand.above(name, thresholds[name])
        vels = velocity_from_strength(heights)
        out.extend(Onset(float(t), name, int(v), float(h)) for t, h, v in zip(times, heights, vels))
    return out
