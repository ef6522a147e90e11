"""Audio transforms applied to decoded samples before the model, for robustness checks.

A transform maps a mono float32 array at the model's rate to another one. It
has a ``key`` that names it in the prediction cache, so the predictions of the
transformed audio never mix with those of the original
(:class:`drumscribe.calibration.data.PredictionCache`).

These are evaluation tools (``scripts/evaluate.py --lowpass/--gain-db/--percussive``,
``bench/bench_robustness.py``): the transform is applied to the whole file at
once, so it suits validation clips, not hour-long songs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

LOWPASS_ORDER = 8
"""Butterworth order of :class:`AudioTransform`'s low-pass (run forwards and backwards)."""

HPSS_FFT, HPSS_HOP, HPSS_MEDIAN = 2048, 512, 17
"""STFT size, hop and median-filter length (frames along time, bins along frequency) of
the percussive/harmonic split."""


def percussive(samples: np.ndarray, sample_rate: int, floor: float) -> np.ndarray:
    """The percussive part of ``samples``, plus ``floor`` of the rest.

    A median-filtering percussive/harmonic split (D. FitzGerald, "Harmonic/percussive
    separation using median filtering", DAFx 2010): the STFT magnitude median-filtered
    along time (sustained partials) and along frequency (broadband hits) gives a soft
    mask ``P**2 / (P**2 + H**2)``; the output is the STFT times ``floor + (1 - floor) *
    mask``, inverted. ``floor`` 1 returns the input; 0 the percussive part alone.
    """
    from scipy.ndimage import median_filter
    from scipy.signal import istft, stft

    x = np.asarray(samples, dtype=np.float64)
    if x.size < HPSS_FFT or floor >= 1.0:
        return x
    _, _, z = stft(x, sample_rate, nperseg=HPSS_FFT, noverlap=HPSS_FFT - HPSS_HOP)
    mag = np.abs(z)
    harm = median_filter(mag, size=(1, HPSS_MEDIAN))
    perc = median_filter(mag, size=(HPSS_MEDIAN, 1))
    mask = perc ** 2 / (perc ** 2 + harm ** 2 + 1e-20)
    _, y = istft(z * (floor + (1.0 - floor) * mask), sample_rate, nperseg=HPSS_FFT,
                 noverlap=HPSS_FFT - HPSS_HOP)
    return np.pad(y[:x.size], (0, max(0, x.size - y.size)))


@dataclass(frozen=True)
class AudioTransform:
    """Percussive/harmonic split, steep low-pass, then gain.

    Parameters
    ----------
    lowpass_hz : float, optional
        Cut-off of an 8th-order Butterworth low-pass applied with
        ``scipy.signal.sosfiltfilt`` (zero phase, so onsets do not move;
        the magnitude falls as a 16th-order filter's). None: no filter.
    gain_db : float
        Gain in dB, applied after the filter. Samples are not clipped, so
        this tests the level only, not distortion.
    percussive_floor : float, optional
        When given (0 ... 1), first keep the percussive part of the audio plus
        this share of the rest (:func:`percussive`): how much a model's false
        alarms owe to the accompaniment's sustained partials. None: no split.
    """

    lowpass_hz: Optional[float] = None
    gain_db: float = 0.0
    percussive_floor: Optional[float] = None

    @property
    def identity(self) -> bool:
        """True when the transform changes nothing."""
        return self.lowpass_hz is None and self.gain_db == 0.0 and self.percussive_floor is None

    @property
    def key(self) -> str:
        """A short name for cache files and tables (``"lp10000_g+20"``; ``""`` for identity)."""
        parts = []
        if self.percussive_floor is not None:
            parts.append(f"perc{self.percussive_floor:g}")
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
            If the cut-off is not below the Nyquist frequency, or the
            percussive floor is outside [0, 1].
        """
        x = np.asarray(samples, dtype=np.float64)
        if self.percussive_floor is not None:
            if not 0.0 <= self.percussive_floor <= 1.0:
                raise ValueError(f"percussive floor {self.percussive_floor:g} must lie in [0, 1]")
            x = percussive(x, sample_rate, self.percussive_floor)
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
