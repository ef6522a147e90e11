"""The grid of tempi that the beat tracker scores and the beat network's tempo output uses."""

from __future__ import annotations

import math

import numpy as np


def tempo_grid(min_bpm: float, max_bpm: float) -> np.ndarray:
    """Tempi in 1 % steps from ``min_bpm`` up to at most ``max_bpm`` (BPM)."""
    return min_bpm * 1.01 ** np.arange(int(math.log(max_bpm / min_bpm) / math.log(1.01)) + 1)
