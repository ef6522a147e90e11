"""Beat, tempo and downbeat tracking on drum activations, with a dynamic Bayesian network.

With the shipped beat network (:mod:`drumscribe.charts.beat_net`, the default of
:func:`track`) the tempo octave is scored from its beat and tempo probabilities, the
drums' backbeat arbitrating between the octaves (:func:`activation_tempo_scores`),
the DBN rewards its beat probability, a segment's octave is checked by its tempo
output on that segment alone, and its downbeat probability joins the bar-position
HMM. Without it (the *classic* tracker) the four
steps below read the activations directly, all in numpy:

1. **Onset strength.** The activation columns are summed with per-group
   weights (kick and snare weigh most) into an envelope in [0, 1]; the kick,
   snare and cymbal groups are kept apart for the metrical analysis.
2. **Tempo octave.** Every tempo from 50 to 220 BPM (1 % steps) is scored by
   the envelope's autocorrelation at one, two and four beats, a log-normal
   prior around 115 BPM, and the *backbeat*: in a rock/pop/funk groove the
   snare comes back every two beats but not every beat, and kick and snare
   alternate one beat apart. The backbeat term is what tells 90 BPM from
   120 (x4/3), 180 (x2) or 60 (x2/3): at those the snare no longer sits on
   beats 2 and 4. The best tempo fixes the range the network may use
   (/1.45 .. x1.45), so the decoding cannot jump an octave.
3. **Beats.** A bar-pointer style state space (Krebs, Boeck & Widmer 2015):
   one state per (tempo, position in the beat), tempo an integer number of
   frames per beat. Position advances one frame per frame; at the end of a
   beat the tempo may change with probability ``exp(-lambda |t'/t - 1|)``.
   The first 1/16 of each beat is a "beat" state that rewards onset strength
   (madmom's observation model). The most likely state sequence is found by
   a Viterbi pass vectorised over states: per frame one shift of the state
   vector plus a (tempi x tempi) max for the beat boundaries.
4. **Downbeats.** A second small HMM over the tracked beats, whose states are
   the bar positions (1..4 in 4/4): the position advances by one each beat
   (a jump costs ``log(1e-3)``); beats 1 and 3 reward kick, 2 and 4 snare, 1
   crash. Its Viterbi path gives the bar position of every beat.

References: F. Krebs, S. Boeck, G. Widmer, "An efficient state-space model for
joint tempo and meter tracking", ISMIR 2015; S. Boeck, F. Krebs, G. Widmer,
"Joint beat and downbeat tracking with recurrent neural networks", ISMIR 2016
(madmom's ``DBNBeatTrackingProcessor`` / ``DBNDownBeatTrackingProcessor``). The
code here is an independent numpy implementation of the published model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Optional, Sequence, Tuple

import numpy as np

from drumscribe.transcribe.vocabulary import GROUPS, group_of

from .tempi import tempo_grid

if TYPE_CHECKING:
    from .beat_net import BeatActivations

GROUP_WEIGHTS = {"kick": 1.0, "snare": 1.0, "hihat": 0.5, "toms": 0.6, "cymbals": 0.6}
"""Envelope weight of each vocabulary group (classes outside it weigh 0.5)."""

MIN_BPM, MAX_BPM = 50.0, 220.0
"""Tempo range searched for the tempo octave."""
PRIOR_BPM = 115.0
"""Centre of the tempo prior (log-normal, one octave wide)."""
RANGE = 1.45
"""The network's tempo range is the chosen tempo /RANGE .. x RANGE."""
GAP_BEATS = 4
MIN_BLOCK_BEATS = 8
"""See :func:`main_blocks`."""
BACKBONE_WEIGHT = 0.5
"""Share of kick and snare in :func:`beat_salience`."""
HIT_FLOOR = 0.3
"""Kick/snare/cymbal probabilities below this are ignored by the metrical analysis
(accompaniment leaks into them at that level on real mixes)."""
EDGE_BEATS = 12
"""A tempo segment this short at the start or end of the tracked beats is dropped when
its neighbour is at least twice as long."""
TRANSITION_LAMBDA = 100.0
TEMPO_WEIGHT = 0.5
"""Weight of the beat network's log tempo probability in :func:`activation_tempo_scores`."""
NETWORK_BACKBEAT_WEIGHT = 1.0
"""Weight of :func:`backbeat_scores` in :func:`activation_tempo_scores` (the tracker
with the beat network). Chosen on clips none of the benchmark's: the beat network's
held-out training clips and the corpus's validation clips, with the ENST minus-one
pieces (``docs/charts.md``)."""
SEGMENT_OCTAVE_ODDS = 3.0
"""See :func:`fix_segment_octaves`."""
CLASSIC_OCTAVE_MARGIN = 0.0
"""See :func:`classic_octave`: the classic tempo score's largest preference for the
network's half or double tempo at which that reading replaces the network's (0: never)."""
DOWNBEAT_WEIGHT = 0.5
"""Weight of the beat network's downbeat log-odds in :func:`bar_positions`."""
OBSERVATION_LAMBDA = 16


@dataclass
class OnsetStrength:
    """Per-frame signals the tracker reads (all shape (n_frames,), in [0, 1])."""

    env: np.ndarray
    kick: np.ndarray
    snare: np.ndarray
    cymbal: np.ndarray
    fps: float


def _group_columns(values: np.ndarray, classes: Sequence[str], group: str) -> np.ndarray:
    idx = [j for j, c in enumerate(classes) if c == group or group_of(c) == group]
    if not idx:
        return np.zeros(values.shape[0])
    return values[:, idx].max(axis=1)


def class_weights(classes: Sequence[str]) -> np.ndarray:
    """Envelope weight of each class (see :data:`GROUP_WEIGHTS`)."""
    w = []
    for c in classes:
        g = c if c in GROUPS else group_of(c)
        w.append(GROUP_WEIGHTS.get(g, 0.5))
    return np.asarray(w, dtype=np.float64)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x - np.median(x), 0.0) if x.size else x
    top = np.percentile(x, 99.5) if x.size else 0.0
    return np.clip(x / top, 0.0, 1.0) if top > 0 else np.zeros_like(x)


def onset_strength(values: np.ndarray, classes: Sequence[str], fps: float) -> OnsetStrength:
    """The tracker's input signals from an activation matrix (n_frames, n_classes)."""
    values = np.asarray(values, dtype=np.float64)
    env = values @ class_weights(classes)
    def hits(group):  # probabilities above the false-alarm floor, not rescaled
        return np.clip((_group_columns(values, classes, group) - HIT_FLOOR) / (1 - HIT_FLOOR), 0, 1)
    return OnsetStrength(_normalise(env), hits("kick"), hits("snare"), hits("cymbals"), float(fps))


# ----------------------------------------------------------------------------
# tempo octave


def _smooth(x: np.ndarray, fps: float, sd_s: float = 0.015) -> np.ndarray:
    r = max(1, int(round(3 * sd_s * fps)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / (sd_s * fps)) ** 2)
    return np.convolve(x, k / k.sum(), mode="same")


def _xcorr(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised cross-correlation sum_t a[t] b[t + lag] for lags 0..max_lag."""
    a = a - a.mean()
    b = b - b.mean()
    n = a.size
    size = 1 << int(math.ceil(math.log2(max(2, 2 * n))))
    r = np.fft.irfft(np.conj(np.fft.rfft(a, size)) * np.fft.rfft(b, size), size)[:max_lag + 1]
    r = r / np.arange(n, n - max_lag - 1, -1).clip(1) * n
    den = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return r / den if den > 0 else np.zeros(max_lag + 1)


def _at(curve: np.ndarray, lags: np.ndarray) -> np.ndarray:
    return np.interp(lags, np.arange(curve.size), curve, right=0.0)


@dataclass
class TempoEstimate:
    """The chosen tempo and how clearly it beat its octave relatives."""

    bpm: float
    margin: float
    """Score of the best tempo minus the best of its x2, /2, x3/2, x2/3, x4/3, x3/4 relatives."""
    bpms: np.ndarray
    scores: np.ndarray


def _lags(bpms: np.ndarray, fps: float, n_frames: int) -> Tuple[np.ndarray, int]:
    """Beat periods (frames) of ``bpms`` and the largest lag (4 beats) a signal of
    ``n_frames`` frames is correlated over."""
    tau = 60.0 * fps / bpms
    return tau, min(int(math.ceil(4 * tau.max())) + 2, max(1, n_frames - 1))


def near_tempo(bpms: np.ndarray, bpm: float, tol: float = 0.03) -> np.ndarray:
    """Mask of the tempi of ``bpms`` within ``tol`` (log ratio, about 3 %) of ``bpm``."""
    return np.abs(np.log(bpms / bpm)) < tol


def _comb(ac: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Autocorrelation ``ac`` at 1, 2 and 4 beats of period ``tau`` (weights 1, 1/2,
    1/4), scaled to a maximum of 1."""
    comb = (_at(ac, tau) + 0.5 * _at(ac, 2 * tau) + 0.25 * _at(ac, 4 * tau)) / 1.75
    return comb / max(comb.max(), 1e-9)


def backbeat_scores(oss: OnsetStrength, bpms: np.ndarray) -> np.ndarray:
    """The backbeat term of the tempo score, at every tempo of ``bpms``.

    The snare's autocorrelation at two beats minus at one beat, plus the
    kick/snare cross-correlation at one beat minus at two beats: high where the
    snare comes back every other beat and kick and snare alternate one beat
    apart (beats 2 and 4 of a rock, pop or funk groove), low at twice or half
    that tempo. Zero at every tempo when the kick or the snare never sounds.
    """
    fps = oss.fps
    bpms = np.asarray(bpms, dtype=np.float64)
    backbeat = np.zeros_like(bpms)
    kick, snare = _smooth(oss.kick, fps), _smooth(oss.snare, fps)
    if not (snare.any() and kick.any()):
        return backbeat
    tau, max_lag = _lags(bpms, fps, oss.env.size)
    ss = _xcorr(snare, snare, max_lag)
    ks = _xcorr(kick, snare, max_lag)
    sk = _xcorr(snare, kick, max_lag)
    alt = 0.5 * (_at(ks, tau) + _at(sk, tau)) - 0.5 * (_at(ks, 2 * tau) + _at(sk, 2 * tau))
    return (_at(ss, 2 * tau) - _at(ss, tau)) + alt


def tempo_scores(oss: OnsetStrength, min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM,
                 backbeat_weight: float = 0.5, prior_weight: float = 0.5,
                 fine_weight: float = 3.0) -> Tuple[np.ndarray, np.ndarray]:
    """Score of every tempo (1 % steps from ``min_bpm`` to ``max_bpm``).

    ``comb + backbeat_weight * backbeat + prior_weight * prior - fine_weight * fine``:

    - ``comb``: the envelope's autocorrelation at 1, 2 and 4 beats (weights 1,
      1/2, 1/4), scaled to a maximum of 1;
    - ``backbeat``: :func:`backbeat_scores`;
    - ``prior``: ``-0.5 * (log2(bpm / 115) / 1 octave) ** 2``;
    - ``fine``: the envelope's autocorrelation at 1/8 beat (32nd notes), which
      a tempo half as fast as the played one shows where the hi-hat plays
      sixteenths.

    The weights were set on the rendered clips and ENST pieces of
    ``bench/bench_beats.py``.
    """
    fps = oss.fps
    bpms = tempo_grid(min_bpm, max_bpm)
    tau, max_lag = _lags(bpms, fps, oss.env.size)
    env = _smooth(oss.env, fps)
    ac = _xcorr(env, env, max_lag)
    comb = _comb(ac, tau)
    backbeat = backbeat_scores(oss, bpms)
    sharp = _xcorr(_smooth(oss.env, fps, 0.01), _smooth(oss.env, fps, 0.01), max_lag)
    fine = np.maximum(_at(sharp, tau / 8), 0.0)
    prior = -0.5 * np.log2(bpms / PRIOR_BPM) ** 2
    return bpms, comb + backbeat_weight * backbeat + prior_weight * prior - fine_weight * fine


OCTAVE_RATIOS = (2.0, 0.5, 1.5, 2.0 / 3.0, 4.0 / 3.0, 0.75)


def estimate_tempo(oss: OnsetStrength, **kw) -> TempoEstimate:
    """The best-scoring tempo (see :func:`tempo_scores`)."""
    return _estimate(*tempo_scores(oss, **kw))


def activation_tempo_scores(beat: np.ndarray, fps: float, min_bpm: float = MIN_BPM,
                            max_bpm: float = MAX_BPM, tempo_probs: Optional[np.ndarray] = None,
                            tempo_weight: float = TEMPO_WEIGHT, prior_weight: float = 0.2,
                            half_weight: float = 0.5, oss: Optional[OnsetStrength] = None,
                            backbeat_weight: Optional[float] = None
                            ) -> Tuple[np.ndarray, np.ndarray]:
    """Score of every tempo (1 % steps) from a beat network's outputs.

    ``comb - half_weight * half + prior_weight * prior + tempo_weight * log p
    + backbeat_weight * backbeat``:
    ``comb`` is the beat activation's autocorrelation at 1, 2 and 4 beats
    (weights 1, 1/2, 1/4, scaled to a maximum of 1), ``half`` its
    autocorrelation at half a beat (a beat between the beats: the tempo is twice
    this one), ``prior`` as in :func:`tempo_scores`, ``p`` the network's
    tempo output (``tempo_probs``, over :func:`drumscribe.charts.beat_net.tempo_bins`,
    floored at 1e-4), and ``backbeat`` :func:`backbeat_scores` of the drum
    activations' onset strength ``oss`` (left out when ``oss`` is None;
    ``backbeat_weight`` None is :data:`NETWORK_BACKBEAT_WEIGHT`). The
    comb places the tempo to 1 %; the tempo output, a judgement over the whole
    song, and the backbeat, where the snare sits, are what pick the octave.

    The backbeat only arbitrates between octaves: it is added within 3 % of the
    best tempo of the other terms, its half and its double; every other tempo
    gets the lowest of those values, so the choice can move to the half or
    double tempo but never to another relative (x3/2, x4/3), where a
    kick/snare pattern can also fit.
    """
    bpms = tempo_grid(min_bpm, max_bpm)
    tau, max_lag = _lags(bpms, fps, beat.size)
    b = _smooth(np.asarray(beat, dtype=np.float64), fps, 0.01)
    ac = _xcorr(b, b, max_lag)
    comb = _comb(ac, tau)
    half = np.maximum(_at(ac, tau / 2), 0.0)
    prior = -0.5 * np.log2(bpms / PRIOR_BPM) ** 2
    score = comb - half_weight * half + prior_weight * prior
    if tempo_probs is not None:
        from .beat_net import tempo_bins

        grid = np.log(tempo_bins())
        logp = np.log(np.maximum(np.asarray(tempo_probs, dtype=np.float64), 1e-4))
        score = score + tempo_weight * np.interp(np.log(bpms), grid, logp)
    if backbeat_weight is None:
        backbeat_weight = NETWORK_BACKBEAT_WEIGHT
    if oss is not None and backbeat_weight:
        best = bpms[int(np.argmax(score))]
        octaves = np.zeros(bpms.size, dtype=bool)
        for r in (0.5, 1.0, 2.0):
            octaves |= near_tempo(bpms, best * r)
        backbeat = backbeat_scores(oss, bpms)
        score = score + backbeat_weight * np.where(octaves, backbeat, backbeat[octaves].min())
    return bpms, score


def _estimate(bpms: np.ndarray, scores: np.ndarray) -> TempoEstimate:
    k = int(np.argmax(scores))
    best = float(bpms[k])
    rel = []
    for r in OCTAVE_RATIOS:
        near = near_tempo(bpms, best * r)
        if near.any():
            rel.append(scores[near].max())
    margin = float(scores[k] - max(rel)) if rel else 1.0
    return TempoEstimate(best, margin, bpms, scores)


# ----------------------------------------------------------------------------
# beat DBN


def beat_salience(oss: OnsetStrength, backbone: float = BACKBONE_WEIGHT) -> np.ndarray:
    """What the network's beat states reward: the onset strength, with kick and snare
    (which sit on the beats in most grooves, while hi-hats fill the off-beats) given
    ``backbone`` of the weight, so the beats do not slip onto the off-beats."""
    ks = _smooth(np.maximum(oss.kick, oss.snare), oss.fps, 0.005)
    top = ks.max()
    ks = ks / top if top > 0 else ks
    return np.clip((1 - backbone) * oss.env + backbone * ks, 0.0, 1.0)


def viterbi_beats(env: np.ndarray, fps: float, min_bpm: float, max_bpm: float,
                  transition_lambda: float = TRANSITION_LAMBDA,
                  observation_lambda: int = OBSERVATION_LAMBDA) -> np.ndarray:
    """Beat frames: Viterbi decoding of the beat/tempo state space.

    Parameters
    ----------
    env : np.ndarray, shape (n,)
        Onset strength in [0, 1].
    fps : float
    min_bpm, max_bpm : float
        Tempo range of the state space.
    transition_lambda : float
        Tempo change penalty (higher keeps the tempo steadier).
    observation_lambda : int
        The first ``1/observation_lambda`` of each beat are beat states.

    Returns
    -------
    np.ndarray of int
        The frame of each beat: the envelope's maximum within each run of
        beat states on the decoded path.
    """
    n = env.size
    if n < 2:
        return np.zeros(0, dtype=np.int64)
    tmin = max(2, int(math.floor(60.0 * fps / max_bpm)))
    tmax = max(tmin + 1, int(math.ceil(60.0 * fps / min_bpm)))
    taus = np.arange(tmin, tmax + 1)
    k_n = taus.size
    starts = np.r_[0, np.cumsum(taus)[:-1]]
    ends = starts + taus - 1
    n_states = int(taus.sum())
    pos = np.arange(n_states) - np.repeat(starts, taus)
    beat_state = pos < np.maximum(1, np.repeat(taus, taus) / observation_lambda)
    ratio = taus[None, :] / taus[:, None]
    log_a = -transition_lambda * np.abs(ratio - 1.0)
    log_a -= np.log(np.exp(log_a).sum(axis=1, keepdims=True))
    p = np.clip(env, 1e-3, 1 - 1e-3)
    reward = np.log(p * (observation_lambda - 1) / (1 - p))  # beat vs non-beat state
    delta = np.where(beat_state, reward[0], 0.0) - np.log(n_states)
    back = np.zeros((n, k_n), dtype=np.int32)
    bonus = beat_state.astype(np.float64)
    new = np.empty(n_states)
    for t in range(1, n):
        new[1:] = delta[:-1]
        cand = delta[ends][:, None] + log_a
        bp = np.argmax(cand, axis=0)
        new[starts] = cand[bp, np.arange(k_n)]
        back[t] = bp
        new += reward[t] * bonus
        delta = new - new.max()
    # backtrack
    block = np.repeat(np.arange(k_n), taus)
    s = int(np.argmax(delta))
    path = np.empty(n, dtype=np.int64)
    for t in range(n - 1, -1, -1):
        path[t] = s
        if t == 0:
            break
        if pos[s] == 0:
            s = int(ends[back[t, block[s]]])
        else:
            s -= 1
    on = beat_state[path]
    edges = np.flatnonzero(np.diff(np.r_[0, on.astype(np.int8), 0]))
    beats = []
    for a, b in zip(edges[::2], edges[1::2]):
        beats.append(a + int(np.argmax(env[a:b])))
    return np.asarray(beats, dtype=np.int64)


def refine(frames: np.ndarray, env: np.ndarray, fps: float, radius_s: float = 0.04) -> np.ndarray:
    """Beat times (s): each beat frame moved to the envelope peak within ``radius_s``,
    with parabolic interpolation (sub-frame)."""
    r = max(1, int(round(radius_s * fps)))
    out = np.empty(frames.size)
    for i, f in enumerate(frames):
        lo, hi = max(0, f - r), min(env.size, f + r + 1)
        seg = env[lo:hi]
        k = int(np.argmax(seg))
        x = float(lo + k)
        if 0 < k < seg.size - 1 and seg[k] > 0:
            a, b, c = seg[k - 1], seg[k], seg[k + 1]
            den = a - 2 * b + c
            if den < 0:
                x += 0.5 * (a - c) / den
        out[i] = x / fps if seg.size and seg[k] > 0.05 else f / fps
    return out


# ----------------------------------------------------------------------------
# downbeats


def _strength_at(times: np.ndarray, x: np.ndarray, fps: float, radius_s: float = 0.04) -> np.ndarray:
    r = max(1, int(round(radius_s * fps)))
    f = np.clip(np.round(np.asarray(times) * fps).astype(np.int64), 0, max(0, x.size - 1))
    if x.size == 0:
        return np.zeros(f.size)
    win = np.clip(f[:, None] + np.arange(-r, r + 1)[None, :], 0, x.size - 1)
    return x[win].max(axis=1)


def bar_positions(beat_times: np.ndarray, oss: OnsetStrength, numerator: int = 4,
                  jump_log_p: float = math.log(1e-3),
                  downbeat: Optional[np.ndarray] = None) -> np.ndarray:
    """Bar position (0 = downbeat) of every beat, by Viterbi over bar positions.

    Each beat's observation: kick on 1 and 3, snare on 2 and 4, a crash on 1;
    with a beat network's ``downbeat`` activation (per frame, at ``oss.fps``),
    plus the activation's log-odds on 1 (its peak within 40 ms), so where the
    network is sure it decides, and where it is not the drums do.
    """
    n = len(beat_times)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    k = _strength_at(beat_times, oss.kick, oss.fps)
    s = _strength_at(beat_times, oss.snare, oss.fps)
    c = _strength_at(beat_times, oss.cymbal, oss.fps)
    strong = np.zeros(numerator, dtype=bool)
    strong[0] = True
    if numerator % 2 == 0:
        strong[numerator // 2] = True
    obs = np.where(strong[None, :], (k - s)[:, None], (s - k)[:, None])
    obs[:, 0] += 0.5 * k + 0.7 * c
    if numerator % 2 == 0 and numerator > 2:
        obs[:, numerator // 2] -= 0.5 * k
    if downbeat is not None:
        d = np.clip(_strength_at(beat_times, np.asarray(downbeat, dtype=np.float64), oss.fps),
                    1e-3, 1 - 1e-3)
        obs[:, 0] += DOWNBEAT_WEIGHT * (np.log(d) - np.log1p(-d))
    trans = np.full((numerator, numerator), jump_log_p)
    trans[np.arange(numerator), (np.arange(numerator) + 1) % numerator] = 0.0
    delta = obs[0].copy()
    back = np.zeros((n, numerator), dtype=np.int64)
    for i in range(1, n):
        cand = delta[:, None] + trans
        back[i] = np.argmax(cand, axis=0)
        delta = cand[back[i], np.arange(numerator)] + obs[i]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(delta))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


# ----------------------------------------------------------------------------
# tempo segments


def beat_jitter(beat_times: np.ndarray) -> float:
    """Robust timing noise (s) of single beats, from the second differences."""
    y = np.asarray(beat_times, dtype=np.float64)
    if y.size < 5:
        return 0.0
    d2 = np.diff(y, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


def segment_tempo(beat_times: np.ndarray, min_beats: int = 8, sigma_floor_s: float = 0.008,
                  penalty: float = 40.0, min_change: float = 0.015) -> np.ndarray:
    """Beat indices where the tempo changes: optimal segmentation into straight lines.

    Each segment of beats is fitted by a line (constant tempo); the split
    minimises ``sum(residual^2) / sigma^2 + penalty * n_segments`` (dynamic
    programming over all split points, segments of ``min_beats`` or more), with
    ``sigma`` the beats' own jitter (:func:`beat_jitter`, at least
    ``sigma_floor_s``). Neighbouring segments whose tempos differ by less than
    ``min_change`` (relative) are then merged: a steady song, however noisy its
    beats, is one segment.

    Returns
    -------
    np.ndarray of int
        Knot indices, starting with 0 and ending with ``len(beat_times) - 1``.
    """
    y = np.asarray(beat_times, dtype=np.float64)
    n = y.size
    if n < 2 * min_beats:
        return np.array([0, n - 1])
    sigma = max(beat_jitter(y), sigma_floor_s)
    i = np.arange(n, dtype=np.float64)
    c = [np.r_[0, np.cumsum(v)] for v in (np.ones(n), i, i * i, y, i * y, y * y)]

    def rss(a, b):  # beats a..b-1 (vectorised over a)
        s0, s1, s2, sy, sxy, syy = (cc[b] - cc[a] for cc in c)
        den = s0 * s2 - s1 * s1
        den = np.where(den == 0, 1e-12, den)
        slope = (s0 * sxy - s1 * sy) / den
        icpt = (sy - slope * s1) / s0
        return np.maximum(syy - 2 * icpt * sy - 2 * slope * sxy + icpt * icpt * s0
                          + 2 * icpt * slope * s1 + slope * slope * s2, 0.0)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    arg = np.zeros(n + 1, dtype=np.int64)
    for b in range(min_beats, n + 1):
        a = np.arange(0, b - min_beats + 1)
        a = a[np.isfinite(best[a])]
        if a.size == 0:
            continue
        cost = best[a] + rss(a, b) / sigma ** 2 + penalty
        k = int(np.argmin(cost))
        best[b], arg[b] = cost[k], a[k]
    knots = []
    b = n
    while b > 0:
        a = int(arg[b])
        knots.append(a)
        b = a
    knots = sorted(set(knots)) + [n - 1]
    # a tempo "change" smaller than min_change is timing noise, not a change: merge
    while len(knots) > 2:
        periods = [np.polyfit(i[a:b + 1], y[a:b + 1], 1)[0] for a, b in zip(knots[:-1], knots[1:])]
        rel = [abs(p1 / p0 - 1) for p0, p1 in zip(periods[:-1], periods[1:])]
        j = int(np.argmin(rel))
        if rel[j] >= min_change:
            break
        del knots[j + 1]
    # the beat where the tempo changes lies on both lines: the split puts it in
    # either segment, so each inner knot may sit one beat early or late for the
    # continuous fit; keep the position with the smaller residual
    for j in range(1, len(knots) - 1):
        best_k, best_r = knots[j], np.inf
        for k in (knots[j] - 1, knots[j], knots[j] + 1):
            if not knots[j - 1] < k < knots[j + 1]:
                continue
            trial = knots[:j] + [k] + knots[j + 1:]
            r = float(np.sum((fit_segments(y, np.asarray(trial)) - y) ** 2))
            if r < best_r - 1e-12:
                best_k, best_r = k, r
        knots[j] = best_k
    return np.asarray(knots)


def fit_segments(beat_times: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Continuous piecewise-linear least-squares fit of beat time over beat index."""
    y = np.asarray(beat_times, dtype=np.float64)
    n = y.size
    knots = np.unique(np.asarray(knots, dtype=np.int64))
    if knots.size < 2:
        return y.copy()
    idx = np.arange(n, dtype=np.float64)
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
    return fitted if np.all(np.diff(fitted) > 0) else y.copy()


def _slice(oss: OnsetStrength, a: int, b: int) -> OnsetStrength:
    return OnsetStrength(oss.env[a:b], oss.kick[a:b], oss.snare[a:b], oss.cymbal[a:b], oss.fps)


def fix_segment_octaves(beats: np.ndarray, knots: np.ndarray, oss: OnsetStrength,
                        min_seconds: float = 6.0, margin: float = 0.1,
                        segment_tempo: Optional[Callable[[int, int], np.ndarray]] = None) -> np.ndarray:
    """Halve or double the beats of a tempo segment that the network tracked an
    octave off.

    The network's range (/RANGE .. x RANGE around the song's tempo) cannot
    always hold a song whose tempo moves a lot (100 -> 128 -> 90 BPM): in the
    slow part the double tempo may be in range and fit the eighth notes. Each
    segment of ``min_seconds`` or more is scored on its own with
    :func:`tempo_scores`; if half (double) its tempo scores ``margin`` higher,
    every other beat is dropped (the phase with more kick, snare and onset
    strength kept) or a beat is put halfway between each pair.

    With a beat network, ``segment_tempo(first_frame, end_frame)`` gives its tempo
    output for the segment's frames alone: the segment's octave is changed when
    half (double) the tempo is more than ``SEGMENT_OCTAVE_ODDS`` times as likely.
    """
    beats = np.asarray(beats, dtype=np.float64)
    fps = oss.fps
    pieces = []
    for j in range(len(knots) - 1):
        a, b = int(knots[j]), int(knots[j + 1])
        seg = beats[a:b + 1] if j == len(knots) - 2 else beats[a:b]
        if seg.size < 4 or seg[-1] - seg[0] < min_seconds:
            pieces.append(seg)
            continue
        bpm = 60.0 / float(np.median(np.diff(seg)))
        a_f, b_f = int(seg[0] * fps), int(seg[-1] * fps) + 1
        if segment_tempo is not None:
            from .beat_net import tempo_bins

            bpms = tempo_bins()
            sc = np.log(np.maximum(segment_tempo(a_f, b_f), 1e-6))
            seg_margin = math.log(SEGMENT_OCTAVE_ODDS)
        else:
            bpms, sc = tempo_scores(_slice(oss, a_f, b_f), min_bpm=30.0, max_bpm=320.0)
            seg_margin = margin

        def near(t):
            m = np.abs(np.log(bpms / t)) < 0.04
            return float(sc[m].max()) if m.any() else -np.inf
        now, half, double = near(bpm), near(bpm / 2), near(bpm * 2)
        if half > now + seg_margin and half >= double:
            w = (_strength_at(seg, oss.kick, fps) + _strength_at(seg, oss.snare, fps)
                 + _strength_at(seg, oss.env, fps))
            ph = int(np.argmax([w[0::2].sum(), w[1::2].sum()]))
            seg = seg[ph::2]
        elif double > now + seg_margin:
            mids = seg[:-1] + np.diff(seg) / 2
            seg = np.sort(np.r_[seg, mids])
        pieces.append(seg)
    out = np.concatenate(pieces) if pieces else beats
    return out[np.r_[True, np.diff(out) > 1e-3]]


def main_blocks(frames: np.ndarray, strength: np.ndarray, gap_beats: int = GAP_BEATS,
                min_block: int = MIN_BLOCK_BEATS) -> np.ndarray:
    """The beats from the first to the last *block* of the song's drums.

    A beat is supported when an onset within 30 ms has ``0.3`` of the median
    strength. Runs of ``gap_beats`` or more unsupported beats split the beats
    into blocks; blocks with fewer than ``min_block`` supported beats before the
    first or after the last long block (a few hits in an intro or an outro,
    with the network guessing the tempo through the gap) are dropped, as are the
    unsupported beats at either end.
    """
    ok = strength > 0.3 * np.median(strength)
    if not ok.any():
        return frames
    idx = np.flatnonzero(ok)
    # blocks of supported beats separated by >= gap_beats unsupported ones
    splits = np.flatnonzero(np.diff(idx) > gap_beats) + 1
    blocks = np.split(idx, splits)
    long = [b for b in blocks if b.size >= min_block]
    if not long:
        return frames[idx[0]:idx[-1] + 1]
    return frames[long[0][0]:long[-1][-1] + 1]


@dataclass
class Tracked:
    """What :func:`track` found (times in seconds of the audio)."""

    beats: np.ndarray
    """Fitted beat times (a straight line per tempo segment)."""
    raw_beats: np.ndarray
    """The decoded beats before fitting."""
    bar_position: np.ndarray
    knots: np.ndarray
    tempo: TempoEstimate
    support: float
    """Share of beats with an onset within 40 ms."""
    beat_activations: Optional["BeatActivations"] = None
    """The beat network's output, when one was used."""


def track(values: np.ndarray, classes: Sequence[str], fps: float, numerator: int = 4,
          min_bpm: float = MIN_BPM, max_bpm: float = MAX_BPM,
          onset_times: Optional[Sequence[float]] = None,
          beat_model="default") -> Optional[Tracked]:
    """Beats, bar positions and tempo segments of an activation matrix.

    Beats before the first and after the last onset (``onset_times``, else
    frames with strong onset strength) by more than half a beat, and leading
    or trailing beats without onset support, are the network's guesses through
    silence or noise and are dropped. Returns None when fewer than 4 beats are
    found.

    ``beat_model``: a :class:`drumscribe.charts.beat_net.BeatModel`, ``"default"``
    (the shipped beat network, :func:`drumscribe.charts.beat_net.default_beat_model`)
    or None. With a beat network, its beat activation is what the tempo score
    and the DBN read, and its downbeat activation places the bar lines; without
    one (None, not installed, or activations at another frame rate) the
    hand-made onset-strength analysis of the module docstring is used.
    """
    oss = onset_strength(values, classes, fps)
    beat_model = _resolve(beat_model)
    bact = _beat_activations(beat_model, values, classes, fps)
    if bact is not None:
        est = _estimate(*activation_tempo_scores(bact.beat, fps, min_bpm, max_bpm, bact.tempo, oss=oss))
        est = classic_octave(est, oss, min_bpm, max_bpm)
        salience = bact.beat
    else:
        est = estimate_tempo(oss, min_bpm=min_bpm, max_bpm=max_bpm)
        salience = beat_salience(oss)
    frames = viterbi_beats(salience, fps, est.bpm / RANGE, est.bpm * RANGE)
    if frames.size:
        # beats before the first / after the last onset are the network's guess: drop them
        if onset_times is not None and len(onset_times):
            act = np.asarray(onset_times, dtype=np.float64) * fps
        else:
            act = np.flatnonzero(oss.env > 0.2)
        if act.size:
            r = 0.5 * 60.0 * fps / est.bpm
            frames = frames[(frames >= np.min(act) - r) & (frames <= np.max(act) + r)]
    if frames.size >= 4:  # and leading / trailing beats that no onset supports
        frames = main_blocks(frames, _strength_at(frames / fps, oss.env, fps, 0.03))
    if frames.size < 4:
        return None
    raw = np.maximum.accumulate(refine(frames, oss.env, fps))
    keep = np.r_[True, np.diff(raw) > 1e-3]
    raw = raw[keep]
    if raw.size < 4:
        return None
    knots = segment_tempo(raw)
    if len(knots) > 2:
        seg_tempo = None
        if bact is not None and bact.tempo is not None:
            def seg_tempo(a_f, b_f):
                return beat_model.activations(values[a_f:b_f], classes, fps).tempo
        fixed = fix_segment_octaves(raw, knots, oss, segment_tempo=seg_tempo)
        if fixed.size != raw.size:
            raw = fixed
            knots = segment_tempo(raw)
    # a short tempo segment at either end of a long steady one is most often the
    # network following an intro or outro without drums (or noise): drop it, the
    # grid is extended there with its neighbour's tempo (a ramp, all short
    # segments, keeps them)
    if len(knots) > 2 and knots[1] - knots[0] < EDGE_BEATS <= (knots[2] - knots[1]) / 2:
        raw, knots = raw[knots[1]:], knots[1:] - knots[1]
    if len(knots) > 2 and knots[-1] - knots[-2] < EDGE_BEATS <= (knots[-2] - knots[-3]) / 2:
        raw, knots = raw[:knots[-2] + 1], knots[:-1]
    beats = fit_segments(raw, knots)
    pos = bar_positions(beats, oss, numerator, downbeat=None if bact is None else bact.downbeat)
    support = float(np.mean(_strength_at(raw, oss.env, fps) > 0.2))
    return Tracked(beats, raw, pos, knots, est, support, bact)


def classic_octave(est: TempoEstimate, oss: OnsetStrength, min_bpm: float = MIN_BPM,
                   max_bpm: float = MAX_BPM, margin: Optional[float] = None) -> TempoEstimate:
    """The beat network's tempo ``est``, or the classic reading when it is an octave off.

    The classic tempo score (:func:`tempo_scores`, from the drums' onset strength) is
    read at the network's tempo and at its double and half. When its best tempo is
    one of those two and it prefers it by less than ``margin`` (None:
    :data:`CLASSIC_OCTAVE_MARGIN`), that tempo is taken, with margin 0 so that the
    chart warns that the tempo is ambiguous. A large preference is what the classic
    score shows on a halftime groove (a snare once a bar reads as a backbeat at
    twice the tempo), where the network is right. Shipped off: on the clips the
    tracker's weights are chosen on it gave fewer right tempos at every margin tried
    (``docs/charts.md``).
    """
    margin = CLASSIC_OCTAVE_MARGIN if margin is None else margin
    if margin <= 0:
        return est
    classic = estimate_tempo(oss, min_bpm=min_bpm, max_bpm=max_bpm)
    if not near_tempo(np.array([2.0, 0.5]) * est.bpm, classic.bpm).any():
        return est
    here = near_tempo(classic.bpms, est.bpm)
    if not here.any() or float(classic.scores.max() - classic.scores[here].max()) >= margin:
        return est
    return TempoEstimate(classic.bpm, 0.0, est.bpms, est.scores)


def _resolve(beat_model):
    from .beat_net import BeatModel, default_beat_model

    if isinstance(beat_model, str) and beat_model == "default":
        return default_beat_model()
    if beat_model is not None and not isinstance(beat_model, BeatModel):
        raise TypeError(f"beat_model must be a BeatModel, 'default' or None, not {type(beat_model).__name__}")
    return beat_model


def _beat_activations(beat_model, values, classes, fps):
    """The beat network's activations, or None (no network, or another frame rate)."""
    if beat_model is None:
        return None
    if not beat_model.runs_at(fps):
        return None
    return beat_model.activations(values, classes, fps)
