"""Tempo maps and quantisation on generated songs with a known beat grid."""

from fractions import Fraction

import mido
import numpy as np
import pytest

from drumscribe.transcribe.hookspecs import Onset
from drumscribe.charts.quantize import QuantizeError, grid_divisions, quantize_onsets
from drumscribe.charts.tempo import (TempoError, TempoMap, fixed_tempo, tempo_from_midi,
                              tempo_map_for_song, track_tempo)
from drumscribe.transcribe.vocabulary import CLASS_NAMES

FPS = 100.0


def true_beats(kind, n_beats=96, start=2.5):
    """Beat times of a generated song: constant, accelerating, or two tempo changes."""
    if kind == "constant":
        bpm = np.full(n_beats, 117.3)
    elif kind == "accelerating":
        bpm = np.linspace(96.0, 136.0, n_beats)
    else:
        bpm = np.r_[np.full(32, 100.0), np.full(32, 128.0), np.full(n_beats - 64, 90.0)]
    return start + np.r_[0.0, np.cumsum(60.0 / bpm[:-1])]


def groove(beats):
    """(time, class) of a rock groove: eighth hi-hats, kick on 1 and 3 (and 3-e-and-a),
    snare on 2 and 4, a crash every four bars."""
    notes = []
    for i, b in enumerate(beats):
        p = (beats[i + 1] if i + 1 < len(beats) else 2 * b - beats[i - 1]) - b
        notes += [(b, "hihat_closed"), (b + p / 2, "hihat_closed")]
        notes.append((b, "kick" if i % 2 == 0 else "snare_head"))
        if i % 4 == 2:
            notes.append((b + 3 * p / 4, "kick"))
        if i % 16 == 0:
            notes.append((b, "crash"))
    return notes


def render(notes, duration, seed=0, width_s=0.012, noise=0.04):
    """Activations with a Gaussian peak (random height) per note plus uniform noise."""
    rng = np.random.default_rng(seed)
    classes = list(CLASS_NAMES)
    n = int(duration * FPS)
    v = rng.uniform(0.0, noise, (n, len(classes)))
    t = np.arange(n) / FPS
    for tn, c in notes:
        j = classes.index(c)
        lo, hi = max(0, int((tn - 0.1) * FPS)), min(n, int((tn + 0.1) * FPS))
        peak = rng.uniform(0.7, 1.0) * np.exp(-0.5 * ((t[lo:hi] - tn) / width_s) ** 2)
        v[lo:hi, j] = np.maximum(v[lo:hi, j], peak)
    return v.astype(np.float32), classes


def tracked(kind, seed=0):
    beats = true_beats(kind)
    notes = groove(beats)
    v, classes = render(notes, beats[-1] + 2.0, seed)
    tm = track_tempo(v, classes, FPS, onset_times=[t for t, _ in notes])
    return beats, notes, tm


def grid_errors(tm, beats):
    """Error (s) of the nearest grid beat to each true beat, and the matched indices."""
    idx = np.array([int(np.argmin(np.abs(tm.beats - b))) for b in beats])
    return np.abs(tm.beats[idx] - beats), idx


@pytest.mark.parametrize("kind", ["constant", "accelerating", "two_changes"])
def test_beat_grid_within_10ms_without_drift(kind):
    beats, _, tm = tracked(kind)
    err, idx = grid_errors(tm, beats)
    # a ramp is charted as constant-tempo segments (markers only where a line no longer
    # fits): within 21 ms there, 10 ms elsewhere
    tol = 0.021 if kind == "accelerating" else 0.010
    assert err.max() < tol, f"{kind}: max beat error {err.max() * 1000:.2f} ms"
    # one grid beat per true beat, none skipped or inserted: no cumulative drift
    assert np.all(np.diff(idx) == 1)
    assert err[-8:].mean() < (0.008 if kind == "accelerating" else 0.006)
    # the downbeat is a bar line of the groove (kick + crash on beat 0)
    assert (idx[0] - tm.downbeat) % 4 == 0
    assert tm.confidence >= 0.4 and not any("confidence" in w for w in tm.warnings)
    # tick 0 is a downbeat at or before the audio's start, 2 s or more before the first note
    assert tm.downbeat == 0 and tm.beats[0] <= 0 and beats[0] - tm.beats[0] >= 2.0
    assert tm.time_signatures() == [(0, 4, 4)] and tm.beats[-1] >= beats[-1]


@pytest.mark.parametrize("kind", ["constant", "two_changes"])
def test_human_timing_and_noise_keep_one_tempo_per_section(kind):
    """Notes played with 5 ms jitter over a noisier activation floor."""
    beats = true_beats(kind)
    rng = np.random.default_rng(5)
    notes = [(t + rng.normal(0, 0.005), c) for t, c in groove(beats)]
    v, classes = render(notes, beats[-1] + 2.0, seed=1, noise=0.15)
    tm = track_tempo(v, classes, FPS, onset_times=[t for t, _ in notes])
    err, idx = grid_errors(tm, beats)
    assert err.max() < 0.010 and np.all(np.diff(idx) == 1)
    assert len(tm.tempo_changes()) <= (3 if kind == "constant" else 8)


def test_tempo_events_follow_the_song():
    beats, _, tm = tracked("constant")
    changes = tm.tempo_changes()
    assert len(changes) == 1  # no lead-in beat: the audio gets leading silence instead
    assert changes[-1][1] == pytest.approx(117.3, abs=0.05)
    beats, _, tm = tracked("two_changes")
    bpms = [b for i, b in tm.tempo_changes()]
    assert len(bpms) == 3
    assert bpms == pytest.approx([100.0, 128.0, 90.0], abs=0.1)
    beats, _, tm = tracked("accelerating")
    bpms = [b for i, b in tm.tempo_changes()]
    assert len(bpms) > 5 and np.all(np.diff(bpms) > 0)  # tempo drifts up, event by event


def test_lead_in_and_default_warnings():
    v, classes = render([(0.5, "kick"), (1.0, "kick")], 5.0)
    tm = track_tempo(v, classes, FPS, onset_times=[0.5, 1.0])
    assert tm.source == "default" and tm.confidence == 0.0
    assert any("default 120 BPM" in w for w in tm.warnings)
    assert 0.5 - tm.beats[0] >= 2.0  # leading silence instead of a short lead-in
    beats, _, tm = tracked("constant")
    assert not tm.warnings  # first note at 2.5 s, confident


def test_low_confidence_warns_on_arrhythmic_onsets():
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(3.0, 40.0, 150))
    notes = [(t, ["kick", "snare_head", "hihat_closed"][i % 3]) for i, t in enumerate(times)]
    v, classes = render(notes, 42.0)
    tm = track_tempo(v, classes, FPS, onset_times=times)
    assert tm.confidence < 0.4
    assert any("confidence is low" in w for w in tm.warnings)


def test_fixed_bpm_keeps_fractional_tempo_and_offset():
    tm = fixed_tempo(117.3, 2.0, 30.0)
    assert -4 * 60 / 117.3 < tm.beats[0] <= 0 and tm.downbeat == 0
    assert np.min(np.abs(tm.beats - 2.0)) < 1e-9
    assert tm.tempo_changes()[-1][1] == pytest.approx(117.3)
    assert tm.beats[-1] >= 30.0
    sig = tm.time_signatures()
    assert sig[-1] == (tm.downbeat % 4, 4, 4) or sig == [(0, 4, 4)]
    with pytest.raises(TempoError, match="bpm must be between"):
        fixed_tempo(5, 0.0, 10.0)


def test_bpm_override_finds_the_downbeat():
    beats = true_beats("constant")
    v, classes = render(groove(beats), beats[-1] + 2)
    tm = tempo_map_for_song(v, classes, FPS, [beats[0]], bpm=117.3)
    err, idx = grid_errors(tm, beats)
    assert err.max() < 0.010
    assert (idx[0] - tm.downbeat) % 4 == 0


def test_tempo_from_midi(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=96)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0))
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100.0), time=0))
    tr.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(150.0), time=96 * 8))
    path = tmp_path / "tempo.mid"
    mid.save(path)
    tm = tempo_from_midi(path, 20.0)
    assert tm.time_signature == (3, 4)
    assert tm.beats[8] == pytest.approx(8 * 0.6, abs=1e-6)
    assert tm.beats[12] == pytest.approx(8 * 0.6 + 4 * 0.4, abs=1e-6)
    with pytest.raises(TempoError, match="cannot read"):
        tempo_from_midi(tmp_path / "missing.mid", 10.0)


def test_tempo_map_checks_its_input():
    with pytest.raises(TempoError, match="strictly increasing"):
        TempoMap(np.array([0.0, 1.0, 1.0]))
    with pytest.raises(TempoError, match="at least two"):
        TempoMap(np.array([0.0]))
    tm = TempoMap(np.arange(10) * 0.5, downbeat=3)
    assert tm.time_signatures() == [(0, 3, 4), (3, 4, 4)]
    assert tm.beat_at(1.25) == pytest.approx(2.5)
    assert tm.time_at(2.5) == pytest.approx(1.25)


# --- quantisation ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["constant", "accelerating", "two_changes"])
def test_quantised_notes_match_generating_positions(kind):
    beats, notes, tm = tracked(kind)
    rng = np.random.default_rng(1)
    # known positions: sixteenths and eighth triplets, played up to 8 ms off
    truth = []
    for i in range(4, 90, 3):
        for frac in (Fraction(0), Fraction(1, 4), Fraction(1, 3), Fraction(3, 4), Fraction(2, 3)):
            t = np.interp(i + float(frac), np.arange(len(beats)), beats)
            truth.append((Fraction(i) + frac, t + rng.uniform(-0.008, 0.008)))
    onsets = [Onset(float(t), "snare_head", 90, 0.8) for _, t in truth]
    rep = quantize_onsets(onsets, tm)
    base = int(np.argmin(np.abs(tm.beats - beats[0])))  # grid index of true beat 0
    got = sorted(n.position - base for n in rep.notes)
    assert got == sorted(p for p, _ in truth)
    assert rep.unsnapped == 0 and rep.merged == 0
    assert rep.max_shift_ms < (30 if kind == "accelerating" else 20) and rep.mean_shift_ms < 10


def test_quantise_never_merges_classes_and_respects_max_shift():
    tm = fixed_tempo(120.0, 0.0, 10.0)
    ons = [Onset(1.01, "kick", 100, 0.9), Onset(1.0, "snare_head", 100, 0.9),
           Onset(1.02, "kick", 80, 0.5),  # same class, same slot: next-nearest slot or merged
           Onset(3.07, "hihat_closed", 100, 0.9)]
    rep = quantize_onsets(ons, tm, grid=[16], max_shift_ms=30)
    kinds = [(n.onset.drum, n.position) for n in rep.notes]
    assert ("kick", Fraction(2)) in kinds and ("snare_head", Fraction(2)) in kinds
    # the second kick has no free slot within 30 ms: merged into the first, louder one kept
    assert rep.merged == 1 and len(rep.notes) == 3
    assert [n.onset.velocity for n in rep.notes if n.onset.drum == "kick"] == [100]
    hh = [n for n in rep.notes if n.onset.drum == "hihat_closed"][0]
    assert not hh.snapped and rep.unsnapped == 1  # 3.07 s is 70 ms from 3.0, 55 ms from 3.125
    assert hh.position == Fraction(round(3.07 * 2 * 48), 48)
    assert rep.max_shift_ms == pytest.approx(10.0)  # unsnapped notes are not counted


def test_quantise_picks_the_nearer_grid_per_note():
    tm = fixed_tempo(60.0, 0.0, 10.0)  # one beat per second
    rep = quantize_onsets([Onset(2.34, "kick", 100, 1.0), Onset(3.26, "kick", 100, 1.0)], tm)
    assert [n.position for n in rep.notes] == [Fraction(7, 3), Fraction(13, 4)]
    with pytest.raises(QuantizeError, match="multiple of 4"):
        grid_divisions([10])
    with pytest.raises(QuantizeError, match="max_shift_ms"):
        quantize_onsets([], tm, max_shift_ms=-1)


def test_short_lead_in_merges_into_the_first_beat():
    # without song.ogg to pad, tick 0 is the audio's start:
    tm = fixed_tempo(120.0, 0.1, 3.0).from_audio_start()  # 0.1 s: too short for a beat
    assert tm.beats[:4] == pytest.approx([0.0, 0.6, 1.1, 1.6])
    assert tm.tempo_changes()[0][1] == pytest.approx(100.0)  # lead-in 0.6 s
    assert tm.tempo_changes()[1][1] == pytest.approx(120.0)
