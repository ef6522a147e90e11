"""The beat tracker (drumscribe.charts.beats): its parts on exact signals, then the whole chain on
rendered songs through the shipped model's own activations (not the true onsets)."""

from pathlib import Path

import numpy as np
import pytest

from drumscribe.charts import beats as B
from drumscribe.charts.tempo import track_tempo
from drumscribe.transcribe.vocabulary import CLASS_NAMES

FPS = 100.0
ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "default.pt"


def groove_notes(bpm, n_beats, start=2.0, hats=True, kick_and=True, jitter=0.0, seed=0,
                 bpm_of_beat=None):
    """(beats, [(time, class, velocity)]) of a rock groove: kick on 1 and 3, snare on 2
    and 4, eighth hi-hats, a crash every four bars."""
    rng = np.random.default_rng(seed)
    bpms = np.full(n_beats, float(bpm)) if bpm_of_beat is None else bpm_of_beat(np.arange(n_beats))
    beats = start + np.r_[0.0, np.cumsum(60.0 / bpms[:-1])]
    notes = []
    for i, b in enumerate(beats[:-1]):
        p = beats[i + 1] - b
        j = lambda: rng.normal(0, jitter) if jitter else 0.0  # noqa: E731
        if hats:
            notes += [(b + j(), "hihat_closed", 90), (b + p / 2 + j(), "hihat_closed", 70)]
        notes.append((b + j(), "kick" if i % 2 == 0 else "snare_head", 110))
        if kick_and and i % 4 == 2:
            notes.append((b + p / 2 + j(), "kick", 100))
        if i % 16 == 0:
            notes.append((b + j(), "crash", 120))
    return beats, notes


def activations(notes, duration, seed=0, noise=0.04):
    rng = np.random.default_rng(seed)
    classes = list(CLASS_NAMES)
    n = int(duration * FPS)
    v = rng.uniform(0.0, noise, (n, len(classes)))
    t = np.arange(n) / FPS
    for tn, c, _ in notes:
        k = classes.index(c)
        lo, hi = max(0, int((tn - 0.1) * FPS)), min(n, int((tn + 0.1) * FPS))
        v[lo:hi, k] = np.maximum(v[lo:hi, k], rng.uniform(0.7, 1.0)
                                 * np.exp(-0.5 * ((t[lo:hi] - tn) / 0.012) ** 2))
    return v.astype(np.float32), classes


# --- parts -----------------------------------------------------------------------


def test_viterbi_puts_beats_on_the_clicks():
    env = np.zeros(3000)
    clicks = np.round(np.arange(1.0, 29.0, 0.6) * FPS).astype(int)  # 100 BPM
    env[clicks] = 1.0
    got = B.viterbi_beats(env, FPS, 70, 140)
    assert np.array_equal(got[(got >= clicks[0]) & (got <= clicks[-1])], clicks)


@pytest.mark.parametrize("bpm", [72.0, 90.0, 117.0, 150.0])
def test_backbeat_resolves_the_tempo_octave(bpm):
    """Eighth hi-hats fit x2, dotted figures x4/3; the snare on 2 and 4 picks the tempo."""
    beats, notes = groove_notes(bpm, int(bpm / 2))
    v, classes = activations(notes, beats[-1] + 1)
    est = B.estimate_tempo(B.onset_strength(v, classes, FPS))
    assert est.bpm == pytest.approx(bpm, rel=0.03)
    assert est.margin > 0


@pytest.mark.parametrize("bpm", [90.0, 101.0])
def test_backbeat_picks_the_octave_a_beat_network_leaves_open(bpm):
    """A beat activation on every eighth note and a tempo output split evenly between
    the tempo and its double: the network alone reads the double; the snare on 2 and 4
    of the drum activations (the backbeat term) reads the played tempo."""
    beats, notes = groove_notes(bpm, int(bpm / 2))
    v, classes = activations(notes, beats[-1] + 1)
    oss = B.onset_strength(v, classes, FPS)
    bpms = B.tempo_grid(B.MIN_BPM, B.MAX_BPM)
    backbeat = B.backbeat_scores(oss, bpms)

    def at(x, t):
        return x[np.argmin(np.abs(np.log(bpms / t)))]
    assert at(backbeat, bpm) > at(backbeat, 2 * bpm) + 1.0
    assert at(backbeat, bpm) > at(backbeat, bpm / 2) + 1.0
    beat = np.zeros(v.shape[0])
    for b in beats[:-1]:
        beat[[int(round(b * FPS)), int(round((b + 30.0 / bpm) * FPS))]] = 1.0
    from drumscribe.charts.beat_net import tempo_bins

    bins = tempo_bins()
    p = sum(np.exp(-0.5 * (np.log(bins / t) / 0.03) ** 2) for t in (bpm, 2 * bpm))
    p = p / p.sum()
    alone = B._estimate(*B.activation_tempo_scores(beat, FPS, tempo_probs=p))
    assert alone.bpm == pytest.approx(2 * bpm, rel=0.03)
    both = B._estimate(*B.activation_tempo_scores(beat, FPS, tempo_probs=p, oss=oss))
    assert both.bpm == pytest.approx(bpm, rel=0.03)
    # without a snare the term is zero and leaves the network's reading alone
    no_snare = B.OnsetStrength(oss.env, oss.kick, np.zeros_like(oss.snare), oss.cymbal, FPS)
    assert not B.backbeat_scores(no_snare, bpms).any()
    same = B._estimate(*B.activation_tempo_scores(beat, FPS, tempo_probs=p, oss=no_snare))
    assert same.bpm == pytest.approx(alone.bpm, rel=1e-9)


def test_segments_one_line_for_a_steady_noisy_song_and_a_knot_at_a_step():
    rng = np.random.default_rng(0)
    steady = 2 + 0.5 * np.arange(200) + rng.normal(0, 0.012, 200)  # 12 ms human jitter
    assert list(B.segment_tempo(steady)) == [0, 199]
    step = np.r_[0.6 * np.arange(40), 0.6 * 39 + 0.45 * np.arange(1, 41)]
    assert list(B.segment_tempo(step)) == [0, 39, 79]


def test_bar_positions_follow_kick_and_snare():
    beats, notes = groove_notes(110, 64)
    v, classes = activations(notes, beats[-1] + 1)
    pos = B.bar_positions(beats, B.onset_strength(v, classes, FPS))
    assert np.array_equal(pos, np.arange(len(beats)) % 4)


def test_tracked_map_one_marker_and_downbeat_at_tick_0():
    beats, notes = groove_notes(97.3, 96, jitter=0.008, seed=2)
    v, classes = activations(notes, beats[-1] + 2, noise=0.15)
    tm = track_tempo(v, classes, FPS, onset_times=[t for t, _, _ in notes])
    assert len(tm.tempo_changes()) == 1
    assert tm.tempo_changes()[0][1] == pytest.approx(97.3, rel=0.002)
    i = int(np.argmin(np.abs(tm.beats - beats[0])))
    assert abs(tm.beats[i] - beats[0]) < 0.01 and i % 4 == 0  # bar lines on the downbeats
    assert not tm.warnings


def test_low_confidence_warning_names_the_song_and_the_fix():
    rng = np.random.default_rng(3)
    times = np.sort(rng.uniform(3.0, 40.0, 150))
    notes = [(t, ["kick", "snare_head", "hihat_closed"][i % 3], 100) for i, t in enumerate(times)]
    v, classes = activations(notes, 42.0)
    tm = track_tempo(v, classes, FPS, onset_times=times, song="free.wav")
    warn = [w for w in tm.warnings if "confidence is low" in w]
    assert tm.confidence < 0.4 and warn
    assert warn[0].startswith("free.wav: ") and "--bpm" in warn[0] and "--tempo-from" in warn[0]


def halftime_notes(bpm, n_beats, start=2.0):
    """A halftime groove: eighth hi-hats, kick on 1, snare on 3 (once a bar)."""
    p, notes = 60.0 / bpm, []
    for i in range(n_beats):
        b = start + i * p
        notes += [(b, "hihat_closed", 90), (b + p / 2, "hihat_closed", 70)]
        if i % 4 in (0, 2):
            notes.append((b, "kick" if i % 4 == 0 else "snare_head", 110))
        if i % 8 == 7:
            notes.append((b + p / 2, "kick", 100))
    return notes


def test_octave_warning_when_the_onset_strength_reads_twice_the_tempo():
    from drumscribe.charts.tempo import second_opinion

    # a halftime groove: the beat network reads 70 BPM, the onset strength alone 140
    notes = halftime_notes(70.0, 40)
    v, classes = activations(notes, 40 * 60 / 70.0 + 4.0)
    tm = track_tempo(v, classes, FPS, onset_times=[t for t, _, _ in notes], song="half.wav")
    assert tm.tempo_changes()[0][1] == pytest.approx(70.0, rel=0.01)
    warn = [w for w in tm.warnings if "off by an octave" in w]
    assert len(warn) == 1 and warn[0].startswith("half.wav: the tempo (70.0 BPM)")
    other = float(warn[0].split("pass --bpm ")[1].split()[0])
    assert other == pytest.approx(140.0, rel=0.02) and "--tempo-from" in warn[0]
    assert tm.suggested_bpm == pytest.approx(other, abs=0.05)  # the same tempo, for programs
    assert tm.from_audio_start().suggested_bpm == tm.suggested_bpm
    # the classic tracker's own map has no second opinion to give
    oss = B.onset_strength(v.astype(np.float64), classes, FPS)
    classic = B.track(v.astype(np.float64), classes, FPS, beat_model=None)
    assert classic is not None and second_opinion(classic, oss) is None
    # a rock groove: both read 104, no octave warning
    beats, notes = groove_notes(104.0, 64)
    v, classes = activations(notes, beats[-1] + 2)
    tm = track_tempo(v, classes, FPS, onset_times=[t for t, _, _ in notes])
    assert tm.tempo_changes()[0][1] == pytest.approx(104.0, rel=0.01)
    assert not [w for w in tm.warnings if "octave" in w or "ambiguous" in w]
    assert tm.suggested_bpm is None


def test_classic_octave_takes_the_classic_reading_only_within_the_margin(monkeypatch):
    """Off by default; with a margin above the classic score's preference, a network
    tempo half the played one is replaced by the classic reading (margin 0, so the chart
    warns); a preference at or above the margin, or an agreeing reading, keeps it."""
    beats, notes = groove_notes(100.0, 64)
    v, classes = activations(notes, beats[-1] + 1)
    oss = B.onset_strength(v.astype(np.float64), classes, FPS)
    bpms = B.tempo_grid(B.MIN_BPM, B.MAX_BPM)
    flat = np.zeros(bpms.size)
    half = B.TempoEstimate(50.0, 1.0, bpms, flat)
    assert B.classic_octave(half, oss) is half  # the shipped margin, 0: never
    _, scores = B.tempo_scores(oss)
    pref = float(scores.max() - scores[B.near_tempo(bpms, 50.0)].max())
    assert pref > 0
    got = B.classic_octave(half, oss, margin=pref + 0.01)
    assert got.bpm == pytest.approx(100.0, rel=0.03) and got.margin == 0.0
    assert B.classic_octave(half, oss, margin=pref - 0.01) is half
    agree = B.TempoEstimate(100.0, 1.0, bpms, flat)
    assert B.classic_octave(agree, oss, margin=10.0) is agree
    # the module constant is the default margin
    monkeypatch.setattr(B, "CLASSIC_OCTAVE_MARGIN", pref + 0.01)
    assert B.classic_octave(half, oss).bpm == pytest.approx(100.0, rel=0.03)


# --- rendered songs, the model's own activations -----------------------------------


def _kit(tmp_path):
    from drumscribe.training.kits import HYDROGEN_DIR, load_hydrogen

    real = Path(HYDROGEN_DIR) / "GMRockKit"
    if (real / "drumkit.xml").exists():
        return load_hydrogen(real, "test")
    from synth import make_kit
    return load_hydrogen(make_kit(tmp_path), "test")


@pytest.fixture(scope="module")
def transcriber():
    if not MODEL.exists():
        pytest.skip("models/default.pt is not in this checkout")
    from drumscribe.transcribe.inference import Transcriber
    return Transcriber(MODEL)


@pytest.mark.parametrize("kind", ["full", "sparse", "noisy"])
def test_rendered_steady_song_gets_one_tempo_marker(kind, transcriber, tmp_path):
    """Done when: a steady song gets exactly one tempo marker, also when its drums are
    sparse or noisy, from the model's activations of rendered audio."""
    from drumscribe.training.augment import SR
    from drumscribe.training.render import accompaniment, render_events

    bpm = 104.0
    beats, notes = groove_notes(bpm, 56, start=1.3, hats=kind != "sparse",
                                kick_and=kind != "sparse", jitter=0.006, seed=4)
    if kind == "sparse":  # kick and snare only, and every fourth bar left out
        notes = [n for n in notes if int((n[0] - beats[0]) / (240.0 / bpm)) % 4 != 3]
    rng = np.random.default_rng(7)
    dur = beats[-1] + 1.5
    audio, _ = render_events(_kit(tmp_path), notes, dur, rng)
    if kind == "noisy":
        acc = accompaniment(dur, bpm, rng)[:audio.size]
        audio = audio[:acc.size]
        audio = audio + acc * np.sqrt(np.mean(audio ** 2) / (np.mean(acc ** 2) + 1e-12))
        audio = audio + rng.normal(0, 0.3 * np.sqrt(np.mean(audio ** 2)), audio.size)
    act = transcriber.activations_from_samples(
        _to_model_rate(audio.astype(np.float32), SR, transcriber.checkpoint.features.sample_rate))
    tm = track_tempo(act.values, act.classes, act.fps)
    changes = tm.tempo_changes()
    assert len(changes) == 1, f"{kind}: {changes}"
    assert changes[0][1] == pytest.approx(bpm, rel=0.04), f"{kind}: {changes}"


def _to_model_rate(x, sr, target):
    if sr == target:
        return x
    import soxr
    return soxr.resample(x, sr, target).astype(np.float32)
