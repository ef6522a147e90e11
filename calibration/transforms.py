"""Audio transforms applied to decoded samples before the model, for robustness checks.

A transform maps a mono float32 array at the model's rate to another one. It
has a ``key`` that names it in the prediction cache, so the predictions of the
transformed audio never mix with those of the original
(:class:`drumscribe.calibration.data.PredictionCache`).

These are evaluation tools (``scripts/evaluate.py --lowpass/--gain-db``,
``bench/bench_robustness.py``): the transform is applied to the whole file at
once, so it suits validation clips, not hour-long songs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

LOWPASS_ORDER = 8
"""Butterworth order of :class:`AudioTransform`'s low-pass (run forwards and backwards)."""


@dataclass(frozen=True)
class AudioTransform:
    """Steep low-pass, then gain.

    Parameters
    ----------
    lowpass_hz : float, optional
        Cut-off of an 8th-order Butterworth low-pass applied with
        ``scipy.signal.sosfiltfilt`` (zero phase, so onsets do not move;
        the magnitude falls as a 16th-order filter's). None: no filter.
    gain_db : float
        Gain in dB, applied after the filter. Samples are not clipped, so
        this tests the level only, not distortion.
    """

    lowpass_hz: Optional[float] = None
    gain_db: float = 0.0

    @property
    def identity(self) -> bool:
        """True when the transform changes nothing."""
        return self.lowpass_hz is None and self.gain_db == 0.0

    @property
    def key(self) -> str:
        """A short name for cache files and tables (``"lp10000_g+20"``; ``""`` for identity)."""
        parts = []
        if self.lowpass_hz is not None:
            parts.append(f"lp{self.lowpass_hz:g}")
        if self.gain_db != 0.0:
            parts.append(f"g{self.gain_db:+g}")
        return "_".join(parts)

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """The transformed samples (float32).

        Raises
        ------
        ValueError
            If the cut-off is not below the Nyquist frequency.
        """
        x = np.asarray(samples, dtype=np.float64)
        if self.lowpass_hz is not None:
            from scipy.signal import butter, sosfiltfilt

            if not 0 < self.lowpass_hz < sample_rate / 2:
                raise ValueError(f"low-pass cut-off {self.lowpass_hz:g} Hz must lie in "
                                 f"(0, {sample_rate / 2:g}) Hz")
            sos = butter(LOWPASS_ORDER, self.lowpass_hz, btype="low", fs=sample_rate, output="sos")
            if x.size > 3 * (2 * len(sos) + 1):  # sosfiltfilt's padding needs a few samples
                x = sosfiltfilt(sos, x)
        if self.gain_db != 0.0:
            x = x * 10.0 ** (self.gain_db / 20.0)
        return x.astype(np.float32)
