"""The beat network: its input for any class list, its checkpoint checks, its training
data, and what the tracker does with it."""

import numpy as np
import pytest
import torch

from drumscribe.charts import beat_net as BN
from drumscribe.charts import beats as B
from drumscribe.training import beat_train


def test_features_follow_the_groups_of_any_class_list():
    classes = ["snare", "kick", "cowbell", "crash"]
    v = np.zeros((5, 4), np.float32)
    v[0, 0], v[1, 1], v[2, 2], v[3, 3] = 0.9, 0.8, 0.7, 0.6
    x = BN.beat_features(v, classes)
    assert x.shape == (5, len(BN.FEATURES))
    col = {n: j for j, n in enumerate(BN.FEATURES)}
    assert x[0, col["snare"]] == pytest.approx(0.9) and x[1, col["kick"]] == pytest.approx(0.8)
    assert x[3, col["cymbals"]] == pytest.approx(0.6)
    assert x[2, :-1].max() == 0 and x[2, col["all"]] == pytest.approx(0.7)  # a cowbell has no group
    assert not x[:, col["toms"]].any() and not x[:, col["hihat"]].any()
    # NaN in, finite out
    v[4, 0] = np.nan
    assert np.isfinite(BN.beat_features(v, classes)).all()


def _save(path, obj):
    torch.save(obj, path)
    return path


def test_checkpoint_round_trip_and_refusals(tmp_path):
    torch.manual_seed(0)
    model = BN.BeatModel(BN.BeatNet(hidden=8, levels=3), 100.0, "test")
    good = _save(tmp_path / "b.pt", model.state())
    back = BN.load_beat_model(good)
    v = np.random.default_rng(0).uniform(0, 1, (300, 3))
    a, b = model.activations(v, ["kick", "snare_head", "hihat_closed"], 100.0), \
        back.activations(v, ["kick", "snare_head", "hihat_closed"], 100.0)
    assert np.allclose(a.beat, b.beat) and np.allclose(a.downbeat, b.downbeat)
    assert a.beat.shape == (300,) and ((a.beat > 0) & (a.beat < 1)).all()
    with pytest.raises(BN.BeatModelError, match="runs at 100 fps"):
        model.activations(v, ["kick", "snare_head", "hihat_closed"], 50.0)

    st = model.state()
    nan = {**st, "state_dict": {k: torch.full_like(t, float("nan")) for k, t in st["state_dict"].items()}}
    cases = {
        "missing": (tmp_path / "none.pt", "beat model not found"),
        "garbage": (tmp_path / "g.pt", "not a readable beat checkpoint"),
        "kind": (_save(tmp_path / "k.pt", {**st, "kind": "drumscribe-model"}), "not a drumscribe beat"),
        "features": (_save(tmp_path / "f.pt", {**st, "features": ["kick"]}), "input columns"),
        "fps": (_save(tmp_path / "r.pt", {**st, "fps": 0.0}), "fps 0.0 outside"),
        "levels": (_save(tmp_path / "l.pt", {**st, "levels": 40}), "levels 40 outside"),
        "shape": (_save(tmp_path / "s.pt", {**st, "hidden": 9}), "do not fit"),
        "nan": (_save(tmp_path / "n.pt", nan), "NaN or inf"),
    }
    (tmp_path / "g.pt").write_bytes(b"\x00not a zip" * 10)
    for name, (path, words) in cases.items():
        with pytest.raises(BN.BeatModelError, match=words) as e:
            BN.load_beat_model(path)
        assert str(path) in str(e.value), name
        assert "\n" not in str(e.value)


def test_an_ensemble_averages_its_members_and_round_trips(tmp_path):
    torch.manual_seed(1)
    members = [BN.BeatModel(BN.BeatNet(hidden=8, levels=3), 100.0, f"m{i}") for i in range(3)]
    ens = BN.ensemble(members)
    assert len(ens.nets) == 3 and ens.trained_on == "m0; m1; m2"
    classes = ["kick", "snare_head", "hihat_closed"]
    v = np.random.default_rng(1).uniform(0, 1, (400, 3))
    acts = [m.activations(v, classes, 100.0) for m in members]
    got = ens.activations(v, classes, 100.0)
    for field in ("beat", "downbeat", "tempo"):
        want = np.mean([getattr(a, field) for a in acts], axis=0)
        assert np.allclose(getattr(got, field), want), field
        assert not np.allclose(getattr(acts[0], field), want), field  # the members differ
    assert got.tempo.sum() == pytest.approx(1.0)
    st = ens.state()
    assert st["format"] == 2 and len(st["members"]) == 3 and "state_dict" not in st
    back = BN.load_beat_model(_save(tmp_path / "e.pt", st))
    assert np.allclose(back.activations(v, classes, 100.0).beat, got.beat)
    # a one-member model keeps format 1, so older readers load it
    assert members[0].state()["format"] == 1

    with pytest.raises(BN.BeatModelError, match="one shape"):
        BN.ensemble([members[0], BN.BeatModel(BN.BeatNet(hidden=4, levels=3), 100.0)])
    with pytest.raises(BN.BeatModelError, match="frame rates"):
        BN.ensemble([members[0], BN.BeatModel(BN.BeatNet(hidden=8, levels=3), 50.0)])
    with pytest.raises(BN.BeatModelError, match="1..16"):
        BN.ensemble([])
    for bad, words in (({**st, "members": []}, "1..16 members"),
                       ({**st, "members": st["members"][:1] + [{"x": torch.zeros(1)}]}, "do not fit"),
                       ({**st, "format": 3}, "format 1 or 2")):
        path = _save(tmp_path / "bad.pt", bad)
        with pytest.raises(BN.BeatModelError, match=words):
            BN.load_beat_model(path)


def test_finished_members_are_recognised(tmp_path):
    out = tmp_path / "b.seed0.pt"
    assert not beat_train.finished(out, 5)
    torch.save(BN.BeatModel(BN.BeatNet(hidden=4, levels=1), 100.0).state(), out)
    assert not beat_train.finished(out, 5)  # no state file: maybe stopped mid-write
    torch.save({"epoch": 3}, out.with_suffix(".state"))
    assert not beat_train.finished(out, 5) and beat_train.finished(out, 3)


def test_clip_beats_and_training_examples():
    beats, down = beat_train.clip_beats(120.0, 0.75, 10.0)
    assert beats[0] == pytest.approx(0.25) and np.allclose(np.diff(beats), 0.5)
    assert beats[down][0] == pytest.approx(0.75) and np.allclose(np.diff(beats[down]), 2.0)
    assert beats[-1] < 10.0
    rng = np.random.default_rng(0)
    x = np.zeros((1000, len(BN.FEATURES)), np.float32)
    x[np.round(beats * 100).astype(int), 0] = 1.0
    rec = {"values": x, "fps": 100.0, "beats": beats, "down": down, "drums": True, "tempo": 120.0}
    for _ in range(20):
        xs, ys, tempo = beat_train.make_example(rec, 800, rng)
        assert xs.shape == (800, len(BN.FEATURES)) and ys.shape == (800, 2)
        assert 0 <= xs.min() and xs.max() <= 1
        # the targets sit on the (stretched) beats: every full-height beat target has
        # its neighbours at 0.5 and downbeats are beats
        on = np.flatnonzero(ys[:, 0] == 1.0)
        assert on.size >= 8
        period = np.median(np.diff(on))
        assert 0.8 * 50 - 1 <= period <= 1.25 * 50 + 1
        assert 6000.0 / tempo == pytest.approx(period, abs=1.0)  # the tempo target follows the stretch
        assert set(np.flatnonzero(ys[:, 1] == 1.0)) <= set(on)
    # a wider stretch range reaches tempi the default never does, and the tempo target follows
    periods = []
    for _ in range(40):
        xs, ys, tempo = beat_train.make_example(rec, 800, rng, (0.6, 1.6))
        on = np.flatnonzero(ys[:, 0] == 1.0)
        periods.append(np.median(np.diff(on)))
        assert 6000.0 / tempo == pytest.approx(periods[-1], abs=1.0)
    assert 0.6 * 50 - 1 <= min(periods) < 0.8 * 50 - 1 and 1.25 * 50 + 1 < max(periods) <= 1.6 * 50 + 1
    # with a tempo range the stretch is clipped to it: 120 BPM never goes past 150 or under 100
    tempi = [beat_train.make_example(rec, 800, rng, (0.5, 2.0), (100.0, 150.0))[2] for _ in range(40)]
    assert 100.0 - 1e-6 <= min(tempi) and max(tempi) <= 150.0 + 1e-6
    assert min(tempi) == pytest.approx(100.0) and max(tempi) == pytest.approx(150.0)


def test_tempo_loss_leaves_out_tempi_far_outside_the_bins():
    logits = torch.zeros((3, BN.tempo_bins().size))
    assert torch.isfinite(beat_train._tempo_loss(logits, [120.0, 900.0, 0.0]))
    assert float(beat_train._tempo_loss(logits, [900.0, 0.0])) == 0.0
    assert float(beat_train._tempo_loss(logits, [120.0, 900.0])) == pytest.approx(
        float(beat_train._tempo_loss(logits[:1], [120.0])))


def test_tempo_loss_is_lowest_at_the_true_tempo():
    bins = BN.tempo_bins()
    assert bins[0] == BN.TEMPO_MIN and bins[-1] <= BN.TEMPO_MAX
    at = {}
    for bpm in (60.0, 120.0, 240.0):
        logits = torch.full((1, bins.size), -10.0)
        logits[0, int(np.argmin(np.abs(bins - bpm)))] = 10.0
        at[bpm] = float(beat_train._tempo_loss(logits, [120.0]))
    assert at[120.0] < at[60.0] and at[120.0] < at[240.0]
    assert float(beat_train._tempo_loss(torch.zeros((2, bins.size)), [0.0, 0.0])) == 0.0


def test_tracker_reads_the_network_and_falls_back_without_it():
    """A network whose beat output peaks every 60 frames and downbeat output every 240
    makes the tracker follow it (100 BPM, bars where it says), even where the drums
    themselves say 200 BPM (a kick every 30 frames, no snare, so no backbeat to weigh
    against it); at another frame rate the classic analysis is used."""
    fps = 100.0
    n = 3000
    v = np.zeros((n, 2))
    v[np.arange(100, n - 50, 30), 0] = 0.9  # kick every 30 frames: 200 BPM

    class Fixed(BN.BeatModel):
        def activations(self, values, classes, fps_):
            b = np.full(values.shape[0], 0.01)
            d = np.full(values.shape[0], 0.01)
            b[np.arange(100, values.shape[0] - 50, 60)] = 0.95
            d[np.arange(220, values.shape[0] - 50, 240)] = 0.95
            return BN.BeatActivations(b, d, fps_)

    fixed = Fixed(BN.BeatNet(hidden=4, levels=1), fps)
    tr = B.track(v, ["kick", "snare_head"], fps, beat_model=fixed)
    assert 60.0 / np.median(np.diff(tr.beats)) == pytest.approx(100.0, rel=0.02)
    down = tr.beats[tr.bar_position == 0]
    assert np.allclose((down * fps - 220) / 240, np.round((down * fps - 220) / 240), atol=0.05)
    assert tr.beat_activations is not None
    classic = B.track(v, ["kick", "snare_head"], fps, beat_model=None)
    other_rate = B.track(v, ["kick", "snare_head"], fps, beat_model=Fixed(BN.BeatNet(hidden=4, levels=1), 50.0))
    assert classic.beat_activations is None and other_rate.beat_activations is None
    assert np.allclose(classic.beats, other_rate.beats)
    with pytest.raises(TypeError, match="beat_model"):
        B.track(v, ["kick", "snare_head"], fps, beat_model="models/beats.pt")


def test_shipped_beat_network_loads():
    model = BN.default_beat_model()
    if model is None:
        pytest.skip(f"no shipped beat network at {BN.DEFAULT_BEAT_MODEL}")
    assert model.fps == 100.0 and "train" in model.trained_on
    assert sum(p.numel() for p in model.net.parameters()) < 200_000


def test_network_unsure_between_octaves_warns_with_the_other_tempo():
    """When the network's tempo output gives 100 and 200 BPM the same probability, the
    tempo map warns and names the other reading with --bpm; when it is sure, no warning."""
    from drumscribe.charts.tempo import track_tempo

    fps = 100.0
    n = 3000
    v = np.zeros((n, 2))
    v[np.arange(100, n - 50, 30), 0] = 0.9
    v[np.arange(115, n - 50, 30), 1] = 0.9
    bins = BN.tempo_bins()

    class Fixed(BN.BeatModel):
        def __init__(self, tempi):
            super().__init__(BN.BeatNet(hidden=4, levels=1), fps)
            self.tempi = tempi

        def activations(self, values, classes, fps_):
            b = np.full(values.shape[0], 0.02)
            b[np.arange(100, values.shape[0] - 50, 30)] = 0.9
            b[np.arange(115, values.shape[0] - 50, 30)] = 0.5
            t = np.full(bins.size, 1e-4)
            for bpm in self.tempi:
                t[np.argmin(np.abs(bins - bpm))] = 1.0
            return BN.BeatActivations(b, np.full(values.shape[0], 0.1), fps_, t / t.sum())

    onsets = list(np.flatnonzero(v.max(axis=1) > 0.5) / fps)
    unsure = track_tempo(v, ["kick", "snare_head"], fps, onset_times=onsets, song="s.wav",
                         beat_model=Fixed([200.0, 100.0]))
    sure = track_tempo(v, ["kick", "snare_head"], fps, onset_times=onsets, song="s.wav",
                       beat_model=Fixed([200.0]))
    assert 60.0 / np.median(np.diff(sure.beats)) == pytest.approx(200.0, rel=0.02)
    assert not [w for w in sure.warnings if "ambiguous" in w]
    amb = [w for w in unsure.warnings if "ambiguous" in w]
    assert len(amb) == 1 and "s.wav" in amb[0] and "--bpm" in amb[0]
    got = 60.0 / np.median(np.diff(unsure.beats))
    other = "--bpm 100" if got > 150 else "--bpm 20"  # the reading not taken
    assert other in amb[0], amb[0]
    assert unsure.suggested_bpm == pytest.approx(float(other.split()[1]), rel=0.02)
