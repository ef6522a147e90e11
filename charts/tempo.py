"""Tempo maps for charts: a beat grid from tracked beats, a fixed BPM or a MIDI file.

A chart needs a beat grid: every gem sits on a tick, and ticks are counted in
beats. This module turns a song's drum activations into a :class:`TempoMap`
(beat times, the first downbeat, the time signature, a confidence) with the
tracker of :mod:`drumscribe.charts.beats`, or builds one from a fixed BPM or from another
MIDI file's tempo map.

Tick 0 is a downbeat at or before the start of the audio: the chart folder's
``song.ogg`` starts with ``TempoMap.pad_s`` seconds of silence, so a steady song
needs exactly one tempo marker (no short lead-in beat) and every song gets at
least :data:`MIN_LEAD_IN_S` seconds before its first note. When the audio is
not written (``copy_audio: false``) :meth:`TempoMap.from_audio_start` gives a
map whose tick 0 is the audio's first sample instead (with a lead-in beat).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from drumscribe.transcribe.errors import DrumscribeError

from . import beats as beat_tracker

DEFAULT_BPM = 120.0
"""Tempo used when nothing better is known."""
MIN_LEAD_IN_S = 2.0
"""Players need this much time before the first note; less gives a warning."""
LOW_CONFIDENCE = 0.4
"""Tracking confidence below this gives a warning."""
MIN_ONSETS = 8
"""Fewer onsets than this are not tracked; the map is the default BPM."""

OCTAVE_MARGIN = 0.03
"""Below this score margin (:attr:`drumscribe.charts.beats.TempoEstimate.margin`) the warning
names the tempo relative that fitted almost as well (classic tracker)."""
NETWORK_OCTAVE_MARGIN = 0.5
"""The same with the beat network, whose scores include its log tempo probability (on the
clips held out of its training, with the shipped drum model and beat network, it warns
on 2 of 81 right tempos and 1 of 5 wrong ones: ``scripts/tune_tempo_weights.py``)."""


OCTAVE_TOLERANCE = 0.04
"""How close (log ratio, about 4 %) to twice or half the tracked tempo another reading must
be to count as its octave (:func:`second_opinion`, through
:func:`drumscribe.charts.beats.near_tempo`)."""


class TempoError(DrumscribeError):
    """A tempo option or tempo source file is invalid."""


@dataclass
class TempoMap:
    """A beat grid: the times of all beats from the start of the audio.

    Attributes
    ----------
    beats : np.ndarray of float
        Strictly increasing beat times in seconds of the input audio.
        ``beats[0] <= 0`` is the chart's tick 0: the chart's audio starts with
        ``-beats[0]`` seconds of silence (:attr:`pad_s`). The grid runs past
        the end of the song.
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
    suggested_bpm : float or None
        For a tracked map whose tempo may be off by an octave (it is ambiguous,
        or the onset strength alone reads twice or half of it), the tempo its
        warning suggests passing with ``--bpm``; None otherwise.
    """

    beats: np.ndarray
    downbeat: int = 0
    time_signature: Tuple[int, int] = (4, 4)
    confidence: float = 1.0
    source: str = "tracked"
    warnings: List[str] = field(default_factory=list)
    suggested_bpm: Optional[float] = None

    def __post_init__(self):
        self.beats = np.asarray(self.beats, dtype=np.float64)
        if self.beats.ndim != 1 or self.beats.size < 2:
            raise TempoError("a tempo map needs at least two beats")
        if not np.all(np.diff(self.beats) > 0):
            raise TempoError("beat times must be strictly increasing")
        if self.beats[0] > 1e-9:
            raise TempoError(f"the first beat (tick 0) must be at or before the audio's start, "
                             f"got {self.beats[0]:.3f} s")
        if not 0 <= self.downbeat < self.beats.size:
            raise TempoError(f"downbeat index {self.downbeat} outside the {self.beats.size} beats")

    @property
    def pad_s(self) -> float:
        """Seconds of silence the chart's audio needs before the input audio."""
        return float(max(0.0, -self.beats[0]))

    def from_audio_start(self) -> "TempoMap":
        """The same grid with tick 0 at the audio's first sample (no padding).

        The beats before time 0 are dropped and the remainder becomes a lead-in
        beat (see :func:`extend_grid`), so there may be a second tempo marker.
        """
        if self.pad_s == 0:
            return self
        first = int(np.searchsorted(self.beats, 0.0, side="right"))
        beats, shift = extend_grid(self.beats[first:], float(self.beats[-1]))
        downbeat = (self.downbeat - first) % self.time_signature[0] + shift
        while downbeat >= beats.size:
            downbeat -= self.time_signature[0]
        return TempoMap(beats, max(0, downbeat), self.time_signature, self.confidence,
                        self.source, list(self.warnings), self.suggested_bpm)

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
# grid building, confidence


def padded_grid(beats: np.ndarray, downbeat: int, duration: float, numerator: int,
                first_note: Optional[float]) -> np.ndarray:
    """Extend beats backwards by whole bars from the first downbeat and forwards
    past ``duration``.

    The grid starts on a downbeat at or before time 0 and, when ``first_note``
    is given, at least :data:`MIN_LEAD_IN_S` before it (the chart's audio gets
    the difference as leading silence). The first and last periods are repeated.
    """
    beats = np.asarray(beats, dtype=np.float64)[downbeat:]
    p0, p1 = beats[1] - beats[0], beats[-1] - beats[-2]
    bar = numerator * p0
    lead = 0.0 if first_note is None else MIN_LEAD_IN_S
    first = beats[0] if first_note is None else min(beats[0], float(first_note))
    start = beats[0]
    while start > 1e-9 or first - start < lead - 1e-9:
        start -= bar
    n_pre = int(round((beats[0] - start) / p0))
    pre = beats[0] - p0 * np.arange(n_pre, 0, -1)
    k_end = max(1, int(math.ceil((duration - beats[-1]) / p1)) + 1)
    post = beats[-1] + p1 * np.arange(1, k_end + 1)
    return np.concatenate([pre, beats, post])


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


def _default_map(bpm, onset_times, duration, numerator, why) -> TempoMap:
    first = float(onset_times[0]) if len(onset_times) else 0.0
    tm = fixed_tempo(bpm, first, duration, numerator=numerator, first_note=first)
    tm.source, tm.confidence = "default", 0.0
    tm.warnings.insert(0, why)
    return tm


def track_tempo(values: np.ndarray, classes: Sequence[str], fps: float,
                duration: Optional[float] = None, onset_times: Optional[Sequence[float]] = None,
                numerator: int = 4, song: str = "", beat_model="default") -> TempoMap:
    """Track beats and downbeats in drum activations (:func:`drumscribe.charts.beats.track`).

    Parameters
    ----------
    values : np.ndarray, shape (n_frames, n_classes)
        Activations in [0, 1].
    classes : sequence of str
    fps : float > 0
    duration : float, optional
        Song length in seconds (default: the frames' duration).
    onset_times : sequence of float, optional
        The picked onsets; decide whether there is enough to track and where
        the first note is (default: frames where the envelope is high).
    numerator : int
        Beats per bar (4).
    song : str
        Named in the warnings.
    beat_model : BeatModel, "default" or None
        The beat network (see :func:`drumscribe.charts.beats.track`).

    Returns
    -------
    TempoMap
        With ``source="tracked"``, or ``"default"`` (120 BPM) when there are
        fewer than :data:`MIN_ONSETS` onsets or fewer than 4 beats. Tempo
        events only where a straight line no longer fits the beats
        (:func:`drumscribe.charts.beats.segment_tempo`); ``confidence`` is the share of
        onset strength on the grid beyond chance times the share of beats
        that an onset supports.

    Examples
    --------
    >>> fps = 100.0
    >>> v = np.zeros((1200, 1)); v[np.round(np.arange(2, 11, 0.5) * fps).astype(int), 0] = 1
    >>> tm = track_tempo(v, ["kick"], fps)
    >>> [round(b) for _, b in tm.tempo_changes()]
    [120]
    """
    values = np.asarray(values, dtype=np.float64)
    fps = float(fps)
    if not fps > 0:
        raise TempoError(f"fps must be positive, got {fps}")
    if values.ndim != 2 or values.shape[1] != len(classes):
        raise TempoError(f"expected activations of shape (n, {len(classes)}), got {values.shape}")
    duration = float(duration if duration is not None else values.shape[0] / fps)
    who = f"{song}: " if song else ""
    oss = beat_tracker.onset_strength(values, classes, fps)
    if onset_times is None:
        env = oss.env
        onset_times = np.flatnonzero(np.r_[False, (env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:])
                                           & (env[1:-1] > 0.2), False]) / fps
    onset_times = np.sort(np.asarray(list(onset_times), dtype=np.float64))
    fix = "pass --bpm (and --offset) or a tempo map from a MIDI file with --tempo-from"
    if onset_times.size < MIN_ONSETS:
        tm = _default_map(DEFAULT_BPM, onset_times, duration, numerator,
                          f"{who}the tempo map is the default {DEFAULT_BPM:g} BPM: only "
                          f"{onset_times.size} onsets, too few to track the beat; {fix}")
        return tm
    tr = beat_tracker.track(values, classes, fps, numerator, onset_times=onset_times,
                            beat_model=beat_model)
    if tr is None:
        return _default_map(DEFAULT_BPM, onset_times, duration, numerator,
                            f"{who}beat tracking found too few beats; the tempo map is the "
                            f"default {DEFAULT_BPM:g} BPM; {fix}")
    down = int(np.flatnonzero(tr.bar_position == 0)[0]) if (tr.bar_position == 0).any() else 0
    if down + 2 > tr.beats.size:
        down = 0
    beats = padded_grid(tr.beats, down, duration, numerator, float(onset_times[0]))
    conf = grid_confidence(beats, oss.env, fps) * tr.support
    warnings: List[str] = []
    bpm = 60.0 / float(np.median(np.diff(tr.beats)))
    if conf < LOW_CONFIDENCE:
        warnings.append(f"{who}beat tracking confidence is low ({conf:.2f} < {LOW_CONFIDENCE}): "
                        f"the chart's beat grid may be wrong; {fix}")
    alt = ambiguous_alternative(tr)
    other = None if alt else second_opinion(tr, oss)
    if alt:
        warnings.append(f"{who}the tempo ({bpm:.1f} BPM) is ambiguous: {alt:.1f} BPM fits almost "
                        f"as well; if the chart feels twice too fast or too slow, pass --bpm "
                        f"{alt:.1f} or --tempo-from a MIDI file")
    elif other:
        warnings.append(f"{who}the tempo ({bpm:.1f} BPM) may be off by an octave: the drums' onset "
                        f"strength alone reads {other:.1f} BPM; if the chart feels twice too fast or "
                        f"too slow, pass --bpm {other:.1f} or --tempo-from a MIDI file")
    return TempoMap(beats, 0, (numerator, 4), conf, "tracked", warnings, alt or other)


def ambiguous_alternative(tr) -> Optional[float]:
    """The tempo relative (x2, /2, x3/2 ...) that fits almost as well as the tracked tempo of
    ``tr`` (:class:`drumscribe.charts.beats.Tracked`), or None when the tempo is clear: its
    score margin is at least :data:`NETWORK_OCTAVE_MARGIN` with the beat network,
    :data:`OCTAVE_MARGIN` with the classic tracker. The chart warns when there is one."""
    if tr.tempo.margin >= (OCTAVE_MARGIN if tr.beat_activations is None else NETWORK_OCTAVE_MARGIN):
        return None
    return _runner_up(tr.tempo)


def second_opinion(tr, oss) -> Optional[float]:
    """The classic tracker's tempo when it is twice or half the beat network's, else None.

    ``tr`` is a :class:`drumscribe.charts.beats.Tracked` made with the beat network
    (None is returned for the classic tracker's own), ``oss`` the song's
    :class:`drumscribe.charts.beats.OnsetStrength`. The classic tempo score
    (:func:`drumscribe.charts.beats.estimate_tempo`, milliseconds for a song) reads
    the octave from the onset strength alone, the network from what it learned on
    rendered songs; on real mixes they disagree where the network is wrong
    (``docs/charts.md``), so the chart warns with the other reading.
    """
    if tr.beat_activations is None or tr.beats.size < 2:
        return None
    bpm = 60.0 / float(np.median(np.diff(tr.beats)))
    other = float(beat_tracker.estimate_tempo(oss).bpm)
    octave = beat_tracker.near_tempo(np.array([2.0 * bpm, 0.5 * bpm]), other, OCTAVE_TOLERANCE)
    return other if octave.any() else None


def _runner_up(est) -> Optional[float]:
    best = None
    for r in beat_tracker.OCTAVE_RATIOS:
        near = beat_tracker.near_tempo(est.bpms, est.bpm * r)
        if near.any():
            k = np.flatnonzero(near)[np.argmax(est.scores[near])]
            if best is None or est.scores[k] > est.scores[best]:
                best = k
    return None if best is None else float(est.bpms[best])


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



def lead_in_warnings(onset_times: Sequence[float]) -> List[str]:
    """A warning when the first note comes under :data:`MIN_LEAD_IN_S` into the song."""
    if len(onset_times) and float(np.min(onset_times)) < MIN_LEAD_IN_S:
        return [f"the first note is {float(np.min(onset_times)):.2f} s into the song (under "
                f"{MIN_LEAD_IN_S:g} s): players get little time before it; consider adding "
                "silence to the start of the audio"]
    return []


def fixed_tempo(bpm: float, offset: float, duration: float, numerator: int = 4,
                denominator: int = 4, first_note: Optional[float] = None) -> TempoMap:
    """A constant-tempo map with a downbeat at ``offset`` seconds.

    Tick 0 is a downbeat whole bars before ``offset``, at or before the audio's
    start and :data:`MIN_LEAD_IN_S` before ``first_note`` (see :func:`padded_grid`).

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
    beats = padded_grid(offset + p * np.arange(2), 0, max(duration, offset + p), numerator,
                        first_note)
    return TempoMap(beats, 0, (numerator, denominator), 1.0, "bpm", [])


def best_offset(bpm: float, values: np.ndarray, classes: Sequence[str], fps: float,
                numerator: int = 4) -> float:
    """First-downbeat time for a given BPM: the phase with most onset strength on
    the beats, then the bar position from :func:`drumscribe.charts.beats.bar_positions`."""
    oss = beat_tracker.onset_strength(values, classes, fps)
    env = oss.env
    p = 60.0 / bpm
    n = env.size
    if n == 0 or env.sum() <= 0:
        return 0.0
    phases = np.arange(0.0, p, 1.0 / fps)
    grid = p * np.arange(int(n / fps / p) + 1)
    idx = np.round((phases[:, None] + grid[None, :]) * fps).astype(np.int64)
    score = np.where(idx < n, env[np.minimum(idx, n - 1)], 0.0).sum(axis=1)
    best = float(phases[int(np.argmax(score))])
    beats = best + p * np.arange(int((n / fps - best) / p) + 1)
    pos = beat_tracker.bar_positions(beats, oss, numerator)
    down = np.flatnonzero(pos == 0)
    return float(beats[down[0]]) if down.size else best


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
                       tempo_from=None, numerator: int = 4, song: str = "",
                       beat_model="default") -> TempoMap:
    """The chart's tempo map from the user's options, else tracked.

    ``tempo_from`` (a MIDI file) wins, then ``bpm`` (with ``offset``, the
    first downbeat; found from the activations when not given), else
    :func:`track_tempo` (with ``beat_model``). Lead-in and confidence warnings
    are in ``TempoMap.warnings``.
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
        first = min(onset_times) if onset_times else None
        return fixed_tempo(float(bpm), float(offset), duration, numerator, first_note=first)
    return track_tempo(values, classes, fps, duration, onset_times, numerator, song=song,
                       beat_model=beat_model)
