"""drumscribe plugin: hysteresis onset picking (two thresholds per class).

An onset starts where a class's activation crosses its threshold (the *high*
threshold) and its peak is searched while the activation stays above a lower
level, ``low``; the activation must fall below ``low`` before the next onset of
that class can start. A hit whose activation wobbles (0.9, 0.45, 0.8) gives one
onset instead of two, while two hits separated by a real dip give two.

Configuration (``plugins_config.hysteresis`` in the YAML config)::

    plugins_config:
      hysteresis:
        low: 0.2     # activation level in [0, 1] that ends an onset

``low`` defaults to half the run's global threshold (``--threshold T`` or
``postprocessing.onset_threshold``: 0.25 by default). It is one fixed level for
the run and never follows the per-class thresholds, so that raising a threshold
can never add an onset (the calibration sweeps rely on it); a class threshold
below ``low`` acts as ``low``. Onsets of one class are at least
``postprocessing.min_gap_ms`` apart: of two nearby candidates the higher one
wins, whatever the thresholds.

The plugin implements ``drumscribe_pick_onsets``, a first-result hook: once
installed it replaces the built-in ``peak_picking`` (which is ``trylast``).
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np

from drumscribe.transcribe.errors import ConfigError
from drumscribe.transcribe.hookspecs import Onset, hookimpl

__version__ = "0.1.0"

NAME = "hysteresis"
"""The entry-point name, also the ``plugins_config`` section."""
KEYS = ("low",)


def _low(context) -> float:
    """The validated ``low`` level of this run."""
    cfg = context.plugin_config(NAME)
    unknown = sorted(set(cfg) - set(KEYS))
    if unknown:
        raise ConfigError(f"plugins_config.{NAME}: unknown key {unknown[0]!r} "
                          f"(plugin {NAME!r} knows: {', '.join(KEYS)})")
    if "low" not in cfg:
        glob = context.run.threshold
        if glob is None:
            glob = context.config.postprocessing.onset_threshold
        return 0.5 * float(glob)
    low = cfg["low"]
    if isinstance(low, bool) or not isinstance(low, (int, float)) or not 0.0 <= low <= 1.0:
        raise ConfigError(f"plugins_config.{NAME}.low must be a number in [0, 1], got {low!r} "
                          f"(plugin {NAME!r})")
    return float(low)


def gap_frames(min_gap_ms: float, fps: float) -> int:
    """Frames ``g`` within which a higher candidate suppresses a lower one (>= 1)."""
    return max(1, int(math.ceil(min_gap_ms * fps / 1000.0 - 1e-9)) - 1)


def hysteresis_candidates(x: np.ndarray, low: float, gap: int) -> np.ndarray:
    """Threshold-free onset candidates of one class.

    Every maximal run of frames with ``x >= low`` offers its peak (the first
    frame of its maximum); of two offered peaks at most ``gap`` frames apart the
    higher survives (the earlier on a tie).

    Parameters
    ----------
    x : np.ndarray, shape (n_frames,)
        Activations in [0, 1].
    low : float in [0, 1]
    gap : int >= 1

    Returns
    -------
    np.ndarray of int
        Sorted frame indices, more than ``gap`` frames apart.

    Examples
    --------
    >>> hysteresis_candidates(np.array([0, .9, .45, .8, 0, 0, .7, 0]), 0.3, 1).tolist()
    [1, 6]
    """
    x = np.asarray(x, dtype=np.float64)
    mask = np.concatenate([[False], x >= low, [False]])
    edges = np.flatnonzero(np.diff(mask.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    peaks = np.array([s + int(np.argmax(x[s:e])) for s, e in zip(starts, ends)], dtype=np.int64)
    if peaks.size < 2:
        return peaks
    h = x[peaks]
    keep = np.ones(peaks.size, dtype=bool)
    for i in range(peaks.size):
        j = i - 1
        while j >= 0 and peaks[i] - peaks[j] <= gap:
            if h[j] >= h[i]:
                keep[i] = False
            j -= 1
        j = i + 1
        while j < peaks.size and peaks[j] - peaks[i] <= gap:
            if h[j] > h[i]:
                keep[i] = False
            j += 1
    return peaks[keep]


def pick_hysteresis(x: np.ndarray, threshold: float, low: float, fps: float,
                    min_gap_ms: float = 30.0) -> Tuple[np.ndarray, np.ndarray]:
    """Onset frames and heights of one class by hysteresis.

    Parameters
    ----------
    x : np.ndarray, shape (n_frames,)
        Activations in [0, 1].
    threshold : float in [0, 1]
        The high threshold: a run's peak must reach it.
    low : float in [0, 1]
        The level that ends a run.
    fps : float > 0
    min_gap_ms : float >= 0

    Returns
    -------
    frames : np.ndarray of int
    heights : np.ndarray of float

    Examples
    --------
    >>> x = np.array([0, .6, .9, .45, .8, .1, 0, .7, .2, 0])
    >>> pick_hysteresis(x, 0.5, 0.3, 100, min_gap_ms=10)[0].tolist()
    [2, 7]
    >>> pick_hysteresis(x, 0.5, 0.5, 100, min_gap_ms=10)[0].tolist()  # 0.45 < low ends a run
    [2, 4, 7]
    """
    idx = hysteresis_candidates(x, low, gap_frames(min_gap_ms, fps))
    h = np.asarray(x, dtype=np.float64)[idx]
    keep = h >= threshold
    return idx[keep], h[keep]


@hookimpl
def drumscribe_configure(context):
    """Validate ``plugins_config.hysteresis`` before any song."""
    _low(context)


@hookimpl
def drumscribe_pick_onsets(activations, thresholds: Dict[str, float], context) -> List[Onset]:
    """Pick one onset per excursion above ``low`` that reaches the class threshold."""
    from drumscribe.plugins.peak_picking import velocity_from_strength

    low = _low(context)
    gap = context.config.postprocessing.min_gap_ms
    out: List[Onset] = []
    for j, name in enumerate(activations.classes):
        frames, heights = pick_hysteresis(activations.values[:, j], thresholds[name], low,
                                          activations.fps, gap)
        for f, h, v in zip(frames, heights, velocity_from_strength(heights)):
            out.append(Onset(f / activations.fps, name, int(v), float(h)))
    return out
