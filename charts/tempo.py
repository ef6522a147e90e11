"""Tempo maps for charts: beat and downbeat tracking from drum activations.

A chart needs a beat grid: every gem sits on a tick, and ticks are counted in
beats. This module turns a song's drum activations into a :class:`TempoMap`
(beat times, the first downbeat, the time signature, a confidence) or builds
one from a fixed BPM or from another MIDI file's tempo map.

The tracker is a small dynamic-programming beat tracker after Ellis (2007),
"Beat tracking by dynamic programming":

1. an onset-strength envelope is the weighted sum of the activation columns
   (kick and snare weigh most). The CRNN's activations already peak at drum
   onsets, so unlike an audio envelope no spectral flux is needed;
2. a global tempo comes from the envelope's autocorrelation weighted by a
   log-normal prior around 120 BPM, and a local tempo per 8 s window from the
   autocorrelation near the global period, so the tempo may drift or jump;
3. the beat sequence maximises the envelope at the beats minus a penalty
   ``tightness * log(interval / local_period) ** 2`` per interval, solved by
   dynamic programming and backtracking;
4. every beat is refined to the envelope peak within 50 ms (parabolic
   interpolation, sub-frame precision), then the beats are fitted with a
   continuous piecewise-linear function of the beat index whose knots are
   placed greedily where a straight line no longer fits within
   ``knot_tolerance_ms``: a steady song gets one tempo, a song with tempo
   changes gets a tempo event at each change, an accelerating song a tempo
   event every few beats, and no error accumulates because every knot is
   anchored to tracked beats;
5. the downbeat phase (4/4 by default) is the phase whose beats carry the
   most kick and crash and the least snare (the rock backbone: kick on 1 and
   3, snare on 2 and 4).

librosa's ``beat_track`` implements the same algorithm but is not a
dependency of drumscribe (it pulls numba and llvmlite), works on audio rather
than on the drum activations we already have, and returns beats on the frame
grid with one global tempo; so the tracker is written here in ~200 lines of
numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from transcribe.errors import DrumscribeError
from transcribe.vocabulary import GROUPS, group_of

DEFAULT_BPM = 120.0
"""Tempo used when nothing better is known."""
MIN_LEAD_IN_S = 2.0
"""Players need this much time before the first note; less gives a warning."""
LOW_CONFIDENCE = 0.4
"""Tracking confidence below this gives a warning."""
MIN_ONSETS = 8
"""Fewer onsets than this are not tracked; the map is the default BPM."""

GROUP_WEIGHTS = {"kick": 1.0, "snare": 1.0, "hihat": 0.5, "toms": 0.6, "cymbals": 0.6}
"""Envelope weight of each vocabulary group (classes outside it weigh 0.5)."""


class TempoError(DrumscribeError):
    """A tempo option or tempo source file is invalid."""


@dataclass
class TempoMap:
    """A beat grid: the times of all beats from the start of the audio.

    Attributes
    ----------
    beats : np.ndarray of float
        Strictly increasing beat times in seconds. ``beats[0] == 0`` (the
        chart's tick 0 is the start of the audio); the first interval may be a
        shortened or lengthened lead-in beat. The grid runs past the end of
        the song.
    downbeat : int
        Index into ``beats`` of the first downbeat; earlier beats form a
        pickup.
    time_signature : tuple of int
        ``(numerator, denominator)``, e.g. ``(4, 4)``.
    confidence : float
        In [0, 1]; 1 for a map given by the user.
    source : str
        ``"tracked"``, ``"bpm"``, ``"midi <file>"`` or ``"default"``.
    warnings : list of str
        Problems worth telling the user about.
    """

    beats: np.ndarray
    downbeat: int = 0
    time_signature: Tuple[int, int] = (4, 4)
    confidence: float = 1.0
    source: str = "tracked"
    warnings: List[str] = field(default_factory=list)

    def __post_init__(self):
        self.beats = np.asarray(self.beats, dtype=np.float64)
        if self.beats.ndim != 1 or self.beats.size < 2:
            raise TempoError("a tempo map needs at least two beats")
        if not np.all(np.diff(self.beats) > 0):
            raise TempoError("beat times must be strictly increasing")
        if not 0 <= self.downbeat < self.beats.size:
            raise TempoError(f"downbeat index {self.downbeat} outside the {self.beats.size} beats")

    @property
    def periods(self) -> np.ndarray:
        """Seconds per beat of each interval ``beats[i] .. beats[i + 1]``."""
        return np.diff(self.beats)

    def beat_at(self, t) -> np.ndarray:
        """Fractional beat index of times ``t`` (linear within a beat; the first
        and last periods are extended beyond the grid)."""
        t = np.asarray(t, dtype=np.float64)
        b, p = self.beats, self.periods
        i = np.clip(np.searchsorted(b, t, side="right") - 1, 0, b.size - 2)
        return i + (t - b[i]) / p[i]

    def time_at(self, beat) -> np.ndarray:
        """Time in seconds of fractional beat indices (inverse of :meth:`beat_at`)."""
        beat = np.asarray(beat, dtype=np.float64)
        b, p = self.beats, self.periods
        i = np.clip(np.floor(beat).astype(np.int64), 0, b.size - 2)
        return b[i] + (beat - i) * p[i]

    def tempo_changes(self, rel_tol: float = 1e-6) -> List[Tuple[int, float]]:
        """``(beat_index, bpm)`` at the start and wherever the tempo changes.

        BPMs are not rounded; consecutive intervals whose periods differ by
        less than ``rel_tol`` (relative) share one event.
        """
        out: List[Tuple[int, float]] = []
        last = None
        for i, p in enumerate(self.periods):
            if last is None or abs(p - last) > rel_tol * last:
                out.append((i, 60.0 / p))
                last = p
        return out

    def time_signatures(self) -> List[Tuple[int, int, int]]:
        """``(beat_index, numerator, denominator)`` events.

        A pickup of ``k`` beats before the first downbeat becomes a short first
        measure (``k mod numerator`` beats) so that bar lines fall on the
        downbeats.
        """
        num, den = self.time_signature
        pick = self.downbeat % num
        if pick == 0:
            return [(0, num, den)]
        return [(0, pick, den), (pick, num, den)]


# ----------------------------------------------------------------------------
# envelope and tempo estimation


def class_weights(classes: Sequence[str]) -> np.ndarray:
    """Envelope weight of each class (see :data:`GROUP_WEIGHTS`)."""
    w = []
    for c in classes:
        g = c if c in GROUPS else group_of(c)
        w.append(GROUP_WEIGHTS.get(g, 0.5))
    return np.asarray(w, dtype=np.float64)


def onset_envelope(values: np.ndarray, classes: Sequence[str]) -> np.ndarray:
    """Onset-strength envelope of an activation matrix.

    Parameters
    ----------
    values : np.ndarray, shape (n_frames, n_classes)
        Activations in [0, 1].
    classes : sequence of str

    Returns
    -------
    np.ndarray, shape (n_frames,)
        Weighted sum of the columns minus its median (the noise floor),
        clipped at 0.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(classes):
        raise TempoError(f"expected activations of shape (n, {len(classes)}), got {values.shape}")
    env = values @ class_weights(classes)
    if env.size:
        env = np.maximum(env - np.median(env), 0.0)
    return env


def _autocorr(x: np.ndarray, max_lag: int) -> np.ndarray:
    x = x - x.mean()
    n = x.size
    size = 1 << int(math.ceil(math.log2(max(2, 2 * n))))
    f = np.fft.rfft(x, size)
    ac = np.fft.irfft(f * np.conj(f), size)[:max_lag + 1]
    return ac / (np.arange(n, n - max_lag - 1, -1).clip(1))  # unbiased


def _parabolic(y: np.ndarray, i: int) -> float:
    if 0 < i < y.size - 1:
        a, b, c = y[i - 1], y[i], y[i + 1]
        den = a - 2 * b + c
        if den < 0:
            return i + 0.5 * (a - c) / den
    return float(i)


def estimate_period(env: np.ndarray, fps: float, prior_bpm: float = DEFAULT_BPM,
                    min_bpm: float = 40.0, max_bpm: float = 240.0, around: Optional[float] = None,
                    spread: float = 0.9) -> Tuple[float, float]:
    """Beat period (frames) from the envelope's autocorrelation.

    Parameters
    ----------
    env : np.ndarray
    fps : float
    prior_bpm : float
        Centre of the log-normal tempo prior.
    min_bpm, max_bpm : float
    around : float, optional
        Search only within +-35 % of this period (frames), for local tempo.
    spread : float
        Width of the prior in octaves.

    Returns
    -------
    period : float
        Frames per beat (sub-frame).
    strength : float
        Normalised autocorrelation at that period (0 when flat).
    """
    lo = max(2, int(math.floor(60.0 * fps / max_bpm)))
    hi = int(math.ceil(60.0 * fps / min_bpm))
    if around is not None:
        lo = max(lo, int(math.floor(around / 1.35)))
        hi = min(hi, int(math.ceil(around * 1.35)))
    hi = min(hi, env.size // 2)
    if hi <= lo + 1 or not np.any(env > 0):
        return 60.0 * fps / prior_bpm, 0.0
    ac = _autocorr(env, hi + 1)
    lags = np.arange(lo, hi + 1)
    centre = around if around is not None else 60.0 * fps / prior_bpm
    width = 0.25 if around is not None else spread
    weight = np.exp(-0.5 * (np.log2(lags / centre) / width) ** 2)
    score = ac[lo:hi + 1] * weight
    k = int(np.argmax(score))
    period = lo + _parabolic(score, k) - 0.0
    strength = float(max(ac[lo + k], 0.0) / ac[0]) if ac[0] > 0 else 0.0
    return float(period), strength


def local_periods(env: np.ndarray, fps: float, global_period: float,
                  window_s: float = 8.0, hop_s: float = 2.0) -> np.ndarray:
    """Beat period (frames) for every frame, from windowed autocorrelations."""
    n = env.size
    win, hop = int(window_s * fps), int(hop_s * fps)
    if n <= win:
        return np.full(n, global_period)
    centres, periods = [], []
    for start in range(0, n - win // 2, hop):
        seg = env[start:start + win]
        if seg.size < win // 2 or not np.any(seg > 0):
            continue
        p, s = estimate_period(seg, fps)
        if s > 0:
            centres.append(start + seg.size / 2.0)
            periods.append(p)
    if not periods:
        return np.full(n, global_period)
    periods = np.asarray(periods)
    if periods.size >= 3:  # median of three against single-window outliers
        padded = np.concatenate([[periods[0]], periods, [periods[-1]]])
        periods = np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)
    return np.interp(np.arange(n), centres, periods)


# ----------------------------------------------------------------------------
# dynamic programming


def track_beats_dp(env: np.ndarray, periods: np.ndarray, tightness: float = 100.0) -> np.ndarray:
    """Beat frames maximising envelope minus tempo-deviation penalties (Ellis 2007).

    Parameters
    ----------
    env : np.ndarray, shape (n,)
        Onset envelope (normalised inside).
    periods : np.ndarray, shape (n,)
        Expected beat period (frames) at each frame.
    tightness : float > 0
        Weight of the ``log(interval / period) ** 2`` penalty.

    Returns
    -------
    np.ndarray of int
        Increasing beat frames.
    """
    n = env.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    sd = env.std()
    local = env / sd if sd > 0 else env.copy()
    score = np.zeros(n)
    back = np.full(n, -1, dtype=np.int64)
    for t in range(n):
        tau = periods[t]
        hi = t - int(round(tau / 2.0))
        if hi < 0:
            score[t] = local[t]
            continue
        lo = max(0, t - int(round(2.0 * tau)))
        prev = np.arange(lo, hi + 1)
        cand = score[lo:hi + 1] - tightness * np.log((t - prev) / tau) ** 2
        k = int(np.argmax(cand))
        if cand[k] > 0:
            score[t] = local[t] + cand[k]
            back[t] = prev[k]
        else:
            score[t] = local[t]
    # end on the last strong local maximum of the cumulative score
    is_max = np.r_[False, (score[1:-1] > score[:-2]) & (score[1:-1] >= score[2:]), False]
    maxima = np.flatnonzero(is_max)
    if maxima.size == 0:
        end = int(np.argmax(score))
    else:
        good = maxima[score[maxima] >= 0.5 * np.median(score[maxima])]
        end = int(good[-1]) if good.size else int(maxima[-1])
    beats = [end]
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    return np.asarray(beats[::-1], dtype=np.int64)


def refine_beats(beat_frames: np.ndarray, env: np.ndarray, fps: float,
                 radius_s: float = 0.05) -> np.ndarray:
    """Beat times (s) moved to the envelope peak within ``radius_s`` (sub-frame)."""
    r = max(1, int(round(radius_s * fps)))
    out = []
    level = np.median(env[beat_frames]) if beat_frames.size else 0.0
    for f in beat_frames:
        lo, hi = max(0, f - r), min(env.size, f + r + 1)
        seg = env[lo:hi]
        k = int(np.argmax(seg))
        if seg[k] > 0.2 * level and 0 < k < seg.size - 1:
            out.append((lo + _parabolic(seg, k)) / fps)
        else:
            out.append(f / fps)
    return np.asarray(out)


def beat_jitter(beat_times: np.ndarray) -> float:
    """Robust estimate of the timing noise (s) of single beats.

    From the median absolute deviation of the second differences, which are
    ``sqrt(6)`` times the noise for a steady or smoothly drifting tempo and
    are not affected by a few tempo jumps.
    """
    y = np.asarray(beat_times, dtype=np.float64)
    if y.size < 5:
        return 0.0
    d2 = np.diff(y, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def fit_grid(beat_times: np.ndarray, tolerance_s: float = 0.004,
             max_tolerance_s: float = 0.015, curvature_s: float = 0.004) -> np.ndarray:
    """Continuous piecewise-linear fit of beat times over the beat index.

    Knots are placed greedily: a segment grows while a least-squares line fits
    all its beats within the tolerance, ``3.5`` times the beats' own jitter
    (:func:`beat_jitter`) clipped to ``[tolerance_s, max_tolerance_s]``, so a
    humanly played steady song gets one tempo rather than one per beat; a
    segment of 8 beats or more also ends where a parabola fitted to it departs
    from the line by more than ``curvature_s`` (a drifting tempo). The knot
    values are then solved jointly (least squares over hat functions), so
    the tempo is constant between knots, the grid is continuous and the
    jitter is averaged out.

    Parameters
    ----------
    beat_times : np.ndarray
        Tracked beat times, increasing.
    tolerance_s, max_tolerance_s, curvature_s : float > 0

    Returns
    -------
    np.ndarray
        Fitted beat times, same length.
    """
    y = np.asarray(beat_times, dtype=np.float64)
    n = y.size
    if n < 3:
        return y.copy()
    tolerance_s = float(np.clip(3.5 * beat_jitter(y), tolerance_s, max_tolerance_s))
    knots = [0]
    s = 0
    while s < n - 1:
        e = s + 1
        while e + 1 < n:
            x = np.arange(s, e + 2)
            line = np.polyval(np.polyfit(x, y[s:e + 2], 1), x)
            if np.max(np.abs(line - y[s:e + 2])) > tolerance_s:
                break
            # a drifting tempo: stop where a parabola departs from the line
            if x.size >= 8 and np.max(np.abs(
                    np.polyval(np.polyfit(x, y[s:e + 2], 2), x) - line)) > curvature_s:
                break
            e += 1
        knots.append(e)
        s = e
    knots = np.asarray(knots)
    idx = np.arange(n)
    basis = np.zeros((n, knots.size))
    for j, k in enumerate(knots):
        if j > 0:
            left = knots[j - 1]
            m = (idx >= left) & (idx <= k)
            basis[m, j] = (idx[m] - left) / (k - left)
        if j + 1 < knots.size:
            right = knots[j + 1]
            m = (idx >= k) & (idx <= right)
            basis[m, j] = (right - idx[m]) / (right - k)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    fitted = basis @ coef
    if not np.all(np.diff(fitted) > 0):
        return y.copy()
    return fitted


# ----------------------------------------------------------------------------
# grid completion, downbeats, confidence


def extend_grid(beats: np.ndarray, duration: float) -> Tuple[np.ndarray, int]:
    """Extend beats back to time 0 and forward past ``duration``.

    Beats are extrapolated backwards with the first period. The remainder
    before the earliest one becomes a lead-in beat starting at 0 (merged with
    the next beat when shorter than half a period).

    Returns
    -------
    beats : np.ndarray
        Starting at 0.0.
    shift : int
        How many beats were prepended (add it to indices into the old beats).
    """
    beats = np.asarray(beats, dtype=np.float64)
    p0, p1 = beats[1] - beats[0], beats[-1] - beats[-2]
    k = int(math.floor(beats[0] / p0 + 1e-9))
    first = beats[0] - k * p0  # in [0, p0)
    pre = first + p0 * np.arange(k)
    shift = k
    if first > 1e-6:
        if first < 0.5 * p0:  # merge the short remainder into the next beat
            if pre.size:
                pre = pre[1:]
            else:
                beats = beats[1:]
            shift -= 1
        pre = np.concatenate([[0.0], pre])
        shift += 1
    beats = np.concatenate([pre, beats])
    k_end = max(1, int(math.ceil((duration - beats[-1]) / p1)) + 1)
    beats = np.concatenate([beats, beats[-1] + p1 * np.arange(1, k_end + 1)])
    return beats, shift


def beat_strength(times: np.ndarray, column: Optional[np.ndarray], fps: float,
                  radius_s: float = 0.04) -> np.ndarray:
    """Maximum of an activation column within ``radius_s`` of each time."""
    if column is None:
        return np.zeros(len(times))
    r = max(1, int(round(radius_s * fps)))
    out = np.zeros(len(times))
    for i, t in enumerate(times):
        f = int(round(t * fps))
        lo, hi = max(0, f - r), min(column.size, f + r + 1)
        if hi > lo:
            out[i] = column[lo:hi].max()
    return out


def _group_column(values: np.ndarray, classes: Sequence[str], group: str) -> Optional[np.ndarray]:
    idx = [j for j, c in enumerate(classes) if c == group or group_of(c) == group]
    if not idx:
        return None
    return values[:, idx].max(axis=1)


def downbeat_phase(beat_times: np.ndarray, values: np.ndarray, classes: Sequence[str],
                   fps: float, numerator: int = 4) -> int:
    """Index (0..numerator-1) into ``beat_times`` of the first downbeat.

    Each phase is scored by kick minus snare on its strong beats (1 and 3 in
    4/4), snare minus kick on the others, plus crash on beat 1 and a bonus
    for kick on beat 1 over beat 3. Ties go to the earliest phase.
    """
    if len(beat_times) < numerator:
        return 0
    kick = beat_strength(beat_times, _group_column(values, classes, "kick"), fps)
    snare = beat_strength(beat_times, _group_column(values, classes, "snare"), fps)
    crash = beat_strength(beat_times, _group_column(values, classes, "cymbals"), fps)
    strong = np.zeros(numerator)
    strong[0] = 1.0
    if numerator % 2 == 0:
        strong[numerator // 2] = 1.0
    best, best_score = 0, -np.inf
    for ph in range(numerator):
        pos = (np.arange(len(beat_times)) - ph) % numerator
        s = np.where(strong[pos] > 0, kick - snare, snare - kick).sum()
        s += 0.5 * (kick[pos == 0].sum() - kick[pos == numerator // 2].sum())
        s += crash[pos == 0].sum()
        if s > best_score + 1e-9:
            best, best_score = ph, s
    return best


def grid_confidence(beats: np.ndarray, env: np.ndarray, fps: float,
                    tolerance_s: float = 0.03) -> float:
    """How much of the envelope falls near the grid, beyond chance, in [0, 1].

    The envelope mass within ``tolerance_s`` of the eighth-note grid or the
    eighth-triplet grid (whichever holds more) is compared with the share of
    time those windows cover.
    """
    if env.size == 0 or env.sum() <= 0 or len(beats) < 2:
        return 0.0
    t = np.arange(env.size) / fps
    tm = TempoMap(np.asarray(beats), 0)
    pos = tm.beat_at(t)
    period = np.interp(pos, np.arange(len(beats) - 1) + 0.5, np.diff(beats))
    best = 0.0
    for div in (2, 3):
        d = np.abs(pos * div - np.round(pos * div)) / div * period  # seconds to grid
        near = d <= tolerance_s
        chance = near.mean()
        share = env[near].sum() / env.sum()
        if chance < 1:
            best = max(best, (share - chance) / (1 - chance))
    return float(np.clip(best, 0.0, 1.0))


# ----------------------------------------------------------------------------
# public entry points


def track_tempo(values: np.ndarray, classes: Sequence[str], fps: float,
                duration: Optional[float] = None, onset_times: Optional[Sequence[float]] = None,
                numerator: int = 4, knot_tolerance_ms: float = 4.0,
                tightness: float = 100.0) -> TempoMap:
    """Track beats and downbeats in drum activations.

    Parameters
    ----------
    values : np.ndarray, shape (n_frames, n_classes)
        Activations in [0, 1].
    classes : sequence of str
    fps : float > 0
    duration : float, optional
        Song length in seconds (default: the frames' duration).
    onset_times : sequence of float, optional
        The picked onsets; used for the lead-in warning and to decide whether
        there is enough to track (default: envelope peaks).
    numerator : int
        Beats per bar (4).
    knot_tolerance_ms : float
        See :func:`fit_grid`.
    tightness : float
        See :func:`track_beats_dp`.

    Returns
    -------
    TempoMap
        With ``source="tracked"``, or ``"default"`` (120 BPM) when there are
        fewer than :data:`MIN_ONSETS` onsets.

    Examples
    --------
    >>> fps = 100.0
    >>> v = np.zeros((1200, 1)); v[np.round(np.arange(2, 11, 0.5) * fps).astype(int), 0] = 1
    >>> tm = track_tempo(v, ["kick"], fps)
    >>> round(tm.tempo_changes()[-1][1])
    120
    """
    values = np.asarray(values, dtype=np.float64)
    fps = float(fps)
    if not fps > 0:
        raise TempoError(f"fps must be positive, got {fps}")
    duration = float(duration if duration is not None else values.shape[0] / fps)
    env = onset_envelope(values, classes)
    if onset_times is None:
        pk = np.flatnonzero(np.r_[False, (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:])
                                  & (env[1:-1] > 0.1 * (env.max() if env.size else 0)), False])
        onset_times = pk / fps
    onset_times = np.sort(np.asarray(list(onset_times), dtype=np.float64))
    if onset_times.size < MIN_ONSETS:
        first = onset_times[0] if onset_times.size else 0.0
        tm = fixed_tempo(DEFAULT_BPM, first, duration, numerator=numerator)
        tm.source, tm.confidence = "default", 0.0
        tm.warnings.insert(0, f"tempo map is the default {DEFAULT_BPM:g} BPM: only "
                              f"{onset_times.size} onsets, too few to track the beat; "
                              "pass --bpm/--offset or --tempo-from")
        tm.warnings += lead_in_warnings(onset_times)
        return tm
    period, _ = estimate_period(env, fps)
    periods = local_periods(env, fps, period)
    frames = track_beats_dp(env, periods, tightness)
    # keep the beats that span the notes (a quarter period of slack)
    lo, hi = onset_times[0] * fps, onset_times[-1] * fps
    keep = (frames >= lo - 0.25 * periods[frames]) & (frames <= hi + 0.25 * periods[frames])
    frames = frames[keep]
    warnings: List[str] = []
    if frames.size < 4:
        tm = fixed_tempo(60.0 * fps / period, onset_times[0], duration, numerator=numerator)
        tm.source, tm.confidence = "default", 0.0
        tm.warnings.insert(0, "beat tracking found too few beats; the tempo map is a constant "
                              f"{60.0 * fps / period:.2f} BPM from the autocorrelation")
        tm.warnings += lead_in_warnings(onset_times)
        return tm
    # drop leading and trailing beats that no onset supports (placed by the DP alone)
    r = max(1, int(round(0.03 * fps)))
    level = np.median(env[frames])
    support = np.array([env[max(0, f - r):f + r + 1].max() > 0.2 * level for f in frames])
    if support.any():
        first, last = np.flatnonzero(support)[[0, -1]]
        frames = frames[first:last + 1]
    times = refine_beats(frames, env, fps)
    times = np.maximum.accumulate(times)
    ok = np.r_[True, np.diff(times) > 1e-3]
    times = fit_grid(times[ok], knot_tolerance_ms / 1000.0)
    phase = downbeat_phase(times, values, classes, fps, numerator)
    beats, shift = extend_grid(times, duration)
    conf = grid_confidence(beats, env, fps)
    if conf < LOW_CONFIDENCE:
        warnings.append(f"beat tracking confidence is low ({conf:.2f} < {LOW_CONFIDENCE}); check "
                        "the chart's tempo or pass --bpm/--offset or --tempo-from")
    warnings += lead_in_warnings(onset_times)
    return TempoMap(beats, phase + shift, (numerator, 4), conf, "tracked", warnings)


def lead_in_warnings(onset_times: Sequence[float]) -> List[str]:
    """A warning when the first note comes under :data:`MIN_LEAD_IN_S` into the song."""
    if len(onset_times) and float(np.min(onset_times)) < MIN_LEAD_IN_S:
        return [f"the first note is {float(np.min(onset_times)):.2f} s into the song (under "
                f"{MIN_LEAD_IN_S:g} s): players get little time before it; consider adding "
                "silence to the start of the audio"]
    return []


def fixed_tempo(bpm: float, offset: float, duration: float, numerator: int = 4,
                denominator: int = 4) -> TempoMap:
    """A constant-tempo map with a downbeat at ``offset`` seconds.

    Raises
    ------
    TempoError
        If ``bpm`` is not in [20, 400] or ``offset`` is negative.
    """
    bpm, offset = float(bpm), float(offset)
    if not 20.0 <= bpm <= 400.0:
        raise TempoError(f"bpm must be between 20 and 400, got {bpm:g}")
    if offset < 0 or not math.isfinite(offset):
        raise TempoError(f"offset must be a time >= 0 in seconds, got {offset:g}")
    p = 60.0 / bpm
    seed = offset + p * np.arange(2)
    beats, shift = extend_grid(seed, max(duration, offset + p))
    return TempoMap(beats, shift, (numerator, denominator), 1.0, "bpm", [])


def best_offset(bpm: float, values: np.ndarray, classes: Sequence[str], fps: float,
                numerator: int = 4) -> float:
    """First-downbeat time for a given BPM: the phase with most envelope on beats."""
    env = onset_envelope(values, classes)
    p = 60.0 / bpm
    n = env.size
    if n == 0 or env.sum() <= 0:
        return 0.0
    best, best_s = 0.0, -1.0
    for ph in np.arange(0.0, p, 1.0 / fps):
        idx = np.round((ph + p * np.arange(int(n / fps / p) + 1)) * fps).astype(int)
        s = env[idx[idx < n]].sum()
        if s > best_s:
            best, best_s = ph, s
    beats = best + p * np.arange(int((n / fps - best) / p) + 1)
    phase = downbeat_phase(beats, values, classes, fps, numerator)
    return float(best + phase * p)


def tempo_from_midi(path, duration: float) -> TempoMap:
    """The tempo map of a MIDI file (its set_tempo and first time_signature).

    Raises
    ------
    TempoError
        If the file cannot be read or has no ticks per beat.
    """
    import mido

    path = Path(path)
    try:
        mid = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise TempoError(f"{path}: cannot read the MIDI file for --tempo-from ({exc})") from None
    tpb = mid.ticks_per_beat
    if not tpb or tpb <= 0:
        raise TempoError(f"{path}: MIDI file has no ticks per beat (SMPTE timing is not supported)")
    tempos, sigs = [], []
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
            elif msg.type == "time_signature":
                sigs.append((tick, msg.numerator, msg.denominator))
    tempos.sort(key=lambda e: e[0])  # stable: the last event at a tick wins
    tempos = [e for i, e in enumerate(tempos) if i + 1 == len(tempos) or tempos[i + 1][0] != e[0]]
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, 500000))
    warnings = []
    sigs.sort()
    num, den = (sigs[0][1], sigs[0][2]) if sigs else (4, 4)
    if len({(n, d) for _, n, d in sigs}) > 1:
        warnings.append(f"{path}: only the first time signature ({num}/{den}) is used")
    # seconds at each tempo event, then beat k at tick k * tpb
    starts, secs = [], []
    t = 0.0
    for i, (tick, tempo) in enumerate(tempos):
        if i:
            t += (tick - tempos[i - 1][0]) / tpb * tempos[i - 1][1] / 1e6
        starts.append(tick)
        secs.append(t)
    beats = []
    k = 0
    while len(beats) < 3 or beats[-1] <= duration:
        tick = k * tpb
        i = int(np.searchsorted(starts, tick, side="right")) - 1
        beats.append(secs[i] + (tick - starts[i]) / tpb * tempos[i][1] / 1e6)
        k += 1
    first_sig_tick = sigs[0][0] if sigs else 0
    downbeat = int(round(first_sig_tick / tpb))
    return TempoMap(np.asarray(beats), downbeat, (num, den), 1.0, f"midi {path.name}", warnings)


def tempo_map_for_song(values: np.ndarray, classes: Sequence[str], fps: float,
                       onset_times: Sequence[float], duration: Optional[float] = None,
                       bpm: Optional[float] = None, offset: Optional[float] = None,
                       tempo_from=None, numerator: int = 4) -> TempoMap:
    """The chart's tempo map from the user's options, else tracked.

    ``tempo_from`` (a MIDI file) wins, then ``bpm`` (with ``offset``, the
    first downbeat; found from the activations when not given), else
    :func:`track_tempo`. Lead-in and confidence warnings are in
    ``TempoMap.warnings``.
    """
    duration = float(duration if duration is not None else len(values) / fps)
    onset_times = list(onset_times)
    if tempo_from:
        tm = tempo_from_midi(tempo_from, duration)
        tm.warnings += lead_in_warnings(onset_times)
        return tm
    if bpm is not None:
        if offset is None:
            offset = best_offset(float(bpm), values, classes, fps, numerator)
        tm = fixed_tempo(float(bpm), float(offset), duration, numerator)
        tm.warnings += lead_in_warnings(onset_times)
        return tm
    return track_tempo(values, classes, fps, duration, onset_times, numerator)
