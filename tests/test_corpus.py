"""Tests of the rendered-corpus generator (run without the Debian kit packages)."""

import csv

import numpy as np
import pytest
import soundfile as sf

from drumscribe.transcribe.annotations import read_annotations
from drumscribe.training import corpus as corpus_mod
from drumscribe.training.grooves import STYLES, generate_groove
from drumscribe.training.kits import KitSpec, load_hydrogen
from drumscribe.training.render import render_clip, render_events

from synth import LEAD_IN, SR, make_kit  # noqa: E402


def detect_onset(x, t, win=0.04):
    """Independent onset detector: first point after the previous sound's tail
    where the high-passed envelope rises a quarter of the way to its peak."""
    d = np.abs(np.diff(x, prepend=0.0))
    env = np.convolve(d, np.ones(22) / 22, mode="same")
    a, b, c = int((t - win) * SR), int((t - 0.01) * SR), int((t + win) * SR)
    base = env[a:b].max()
    seg = env[b:c]
    thr = base + 0.25 * (seg.max() - base)
    return (b + np.flatnonzero(seg >= thr)[0]) / SR


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    return load_hydrogen(make_kit(tmp_path_factory.mktemp("kits")))


def test_labels_align_with_audio(kit):
    events = [(0.5 + 0.8 * i, c, 100) for i, c in enumerate(
        ["kick", "snare_head", "hihat_closed", "floor_tom", "crash", "kick", "hihat_open", "snare_head"])]
    for seed in range(3):
        audio, labels, info = render_clip(kit, events, 7.0, 120, seed, accomp_p=0.0, augment_strength=1.0)
        assert len(labels) == len(events)
        errs = [abs(detect_onset(audio, t) - t) for t, _, _ in labels]
        assert max(errs) < 0.005, (errs, info)


def test_lead_in_latency_measured(kit):
    assert all(abs(l - LEAD_IN * 1000) < 3 for l in kit.latencies_ms)


def test_determinism(kit):
    ev, tempo = generate_groove("funk", 3, 8.0)
    a1, l1, _ = render_clip(kit, ev, 8.0, tempo, 7)
    a2, l2, _ = render_clip(kit, ev, 8.0, tempo, 7)
    assert np.array_equal(a1, a2) and l1 == l2
    assert generate_groove("rock", 5, 10.0) == generate_groove("rock", 5, 10.0)


def test_rimshot_without_rim_sample_is_snare_head(kit):
    assert "snare_rim" not in kit.voices
    _, labels = render_events(kit, [(0.5, "snare_rim", 100), (1.0, "ride", 90)], 2.0,
                              np.random.default_rng(0))
    assert labels[0][1] == "snare_head"
    assert labels[1][1] == "crash"  # ride played on the crash


def test_rim_sample_used_when_present(tmp_path):
    k = load_hydrogen(make_kit(tmp_path, with_rim=True))
    _, labels = render_events(k, [(0.5, "snare_rim", 100)], 1.0, np.random.default_rng(0))
    assert labels[0][1] == "snare_rim"


@pytest.mark.parametrize("style", sorted(STYLES))
def test_grooves_cover_styles(style):
    lo, hi = STYLES[style]
    assert 60 <= lo <= hi <= 220
    for seed in range(3):
        ev, tempo = generate_groove(style, seed, 20.0)
        assert lo <= tempo <= hi
        assert len(ev) > 20
        assert all(0 <= t < 20.0 for t, _, _ in ev)
        assert all(1 <= v <= 127 for _, _, v in ev)
        classes = {c for _, c, _ in ev}
        assert classes & {"kick", "snare_head", "snare_rim", "side_stick"}


def test_corpus_splits_and_manifest(tmp_path):
    try:  # the corpus's accompaniment is rendered with fluidsynth
        import fluidsynth  # noqa: F401
    except Exception:
        pytest.skip("pyfluidsynth or libfluidsynth missing (apt-get install -y fluidsynth)")
    kits = []
    for name in ("KitA", "KitB", "KitC", "KitD"):
        make_kit(tmp_path / "kits", name)
        kits.append(KitSpec(f"hydrogen:{name}", f"hydrogen:{name}", "train", "hydrogen",
                            str(tmp_path / "kits" / name)))
    kits[3] = KitSpec("hydrogen:KitD", "hydrogen:KitD", "reserved", "hydrogen", kits[3].path)
    old_val, old_test = corpus_mod.VAL_KITS, corpus_mod.TEST_KITS
    corpus_mod.VAL_KITS, corpus_mod.TEST_KITS = ("hydrogen:KitB",), ("hydrogen:KitC",)
    try:
        hours = {"train": 0.01, "val": 0.005, "test": 0.005, "unseen": 0.005}
        out = tmp_path / "corpus"
        rows = corpus_mod.build_corpus(out, hours, seed=1, clip_seconds=6.0, kits=kits,
                                       gmd_dir=tmp_path / "nogmd", log=lambda *a: None)
        plan2 = corpus_mod.plan(kits, hours, 1, 6.0, tmp_path / "nogmd")
    finally:
        corpus_mod.VAL_KITS, corpus_mod.TEST_KITS = old_val, old_test
    with open(out / "manifest.csv") as fh:
        man = list(csv.DictReader(fh))
    assert [r["clip"] for r in man] == [r["clip"] for r in rows]
    kit_split, src_split = {}, {}
    for r in man:
        assert kit_split.setdefault(r["kit_id"], r["split"]) == r["split"]
        assert src_split.setdefault(r["source"], r["split"]) == r["split"]
        audio, sr = sf.read(out / r["split"] / f"{r['clip']}.flac")
        assert sr == SR and abs(len(audio) / SR - 6.0) < 0.3
        ann = read_annotations(out / r["split"] / f"{r['clip']}.tsv")
        n_onsets = sum(len(v) for v in ann.onsets.values())
        if r["source"].startswith("nodrums:"):  # accompaniment-only clips: music, no drum at all
            assert n_onsets == 0 and r["split"] in ("train", "val") and r["accomp"]
        else:
            assert n_onsets > 0
    assert kit_split == {"hydrogen:KitA": "train", "hydrogen:KitB": "val",
                         "hydrogen:KitC": "test", "hydrogen:KitD": "unseen"}
    # determinism of the plan
    assert sorted((c.clip, c.source, c.kit.kit_id, c.seed) for c in plan2) == \
           sorted((r["clip"], r["source"], r["kit_id"], int(r["seed"])) for r in man)


def test_gmd_split_disjoint():
    from drumscribe.training.groove_midi import GMD_DIR, list_performances

    if not (GMD_DIR / "info.csv").exists():
        pytest.skip("Groove MIDI Dataset not present")
    kits = [KitSpec(f"k{i}", f"f{i}", "train", "hydrogen") for i in range(3)]
    old_val, old_test = corpus_mod.VAL_KITS, corpus_mod.TEST_KITS
    corpus_mod.VAL_KITS, corpus_mod.TEST_KITS = ("f1",), ("f2",)
    try:
        clips = corpus_mod.plan(kits, {"train": 1, "val": 1, "test": 1}, 0, 20.0)
    finally:
        corpus_mod.VAL_KITS, corpus_mod.TEST_KITS = old_val, old_test
    split_of = {p.gmd_id: p.split for p in list_performances()}
    seen = {}
    for c in clips:
        if c.source.startswith("gmd:"):
            gid = c.source[4:]
            assert split_of[gid] == ("train" if c.split == "train" else "validation")
            seen.setdefault(gid, set()).add(c.split)
    assert all(len(s) == 1 for s in seen.values())


def test_an_interrupted_build_resumes_only_clips_rendered_with_the_same_options(tmp_path):
    try:  # the clip's accompaniment is rendered with fluidsynth
        import fluidsynth  # noqa: F401
    except Exception:
        pytest.skip("pyfluidsynth or libfluidsynth missing (apt-get install -y fluidsynth)")
    import dataclasses
    import json

    make_kit(tmp_path / "kits", "KitA")
    kit = KitSpec("hydrogen:KitA", "hydrogen:KitA", "train", "hydrogen", str(tmp_path / "kits" / "KitA"))
    spec = corpus_mod.ClipSpec("train_00000", "train", "gen:rock:5", kit, 5, 3.0)
    out, cache = tmp_path / "corpus", tmp_path / "cache"
    flac, done = out / "train" / "train_00000.flac", out / "train" / "train_00000.json"
    first = corpus_mod.render_one(spec, out, cache)
    stamp = flac.stat().st_mtime_ns
    assert corpus_mod.render_one(spec, out, cache) == first and flac.stat().st_mtime_ns == stamp
    assert "timbre" not in json.loads(done.read_text())  # the shipped corpus's rows, as they were
    wider = dataclasses.replace(spec, timbre=1.0)
    row = corpus_mod.render_one(wider, out, cache)  # another option: rendered again
    assert flac.stat().st_mtime_ns != stamp and json.loads(done.read_text())["timbre"] == 1.0
    stamp = flac.stat().st_mtime_ns
    again = corpus_mod.render_one(wider, out, cache)  # resumed; the option is no manifest column
    assert again == row and set(again) <= set(corpus_mod.MANIFEST_FIELDS) and flac.stat().st_mtime_ns == stamp
    # the same clip drawn on another kit (e.g. another --muldjord-share) is rendered again
    make_kit(tmp_path / "kits", "KitB")
    kit_b = KitSpec("hydrogen:KitB", "hydrogen:KitB", "train", "hydrogen", str(tmp_path / "kits" / "KitB"))
    moved = corpus_mod.render_one(dataclasses.replace(wider, kit=kit_b), out, cache)
    assert moved["kit_id"] == "hydrogen:KitB" and flac.stat().st_mtime_ns != stamp


def test_build_creates_a_missing_output_folder(tmp_path):
    # the README's first corpus command (MuldjordKit only, no hours) on a fresh machine
    out = tmp_path / "new" / "corpus"
    rows = corpus_mod.build_corpus(out, {"train": 0, "val": 0, "test": 0}, kits=[],
                                   gmd_dir=tmp_path / "nogmd", log=lambda *a: None)
    assert rows == []
    with open(out / "manifest.csv") as fh:
        assert list(csv.DictReader(fh)) == []


def _pitch(x, n=1 << 17):
    """The strongest frequency below 1 kHz (the synthetic tom is a 100 Hz sine in noise)."""
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    freqs = np.fft.rfftfreq(n, 1 / SR)
    low = freqs < 1000
    return float(freqs[low][np.argmax(mag[low])])


def test_wider_timbre_spreads_a_class_and_keeps_labels_in_place(kit):
    """--timbre: per class a wider pitch and random resonances; onsets stay put; 0 is as before."""
    hit = [(0.2, "floor_tom", 100)]
    spread = {}
    for timbre in (0.0, 1.0):
        cents = []
        for seed in range(24):
            x, _ = render_events(kit, hit, 0.8, np.random.default_rng(seed), bleed=False, timbre=timbre)
            cents.append(np.log(_pitch(x[int(0.2 * SR):int(0.6 * SR)])))
        spread[timbre] = np.std(cents)
    assert spread[1.0] > 2 * spread[0.0] and spread[0.0] < 0.05, spread  # ±6 % against ±4 semitones
    x0, l0 = render_events(kit, hit, 0.8, np.random.default_rng(5), timbre=0.0)
    x1, l1 = render_events(kit, hit, 0.8, np.random.default_rng(5))
    assert np.array_equal(x0, x1) and l0 == l1  # 0 draws nothing more
    events = [(0.5 + 0.8 * i, c, 100) for i, c in enumerate(
        ["kick", "snare_head", "hihat_closed", "floor_tom", "crash", "high_mid_tom", "snare_head"])]
    for seed in range(3):
        a, labels, _ = render_clip(kit, events, 6.5, 120, seed, accomp_p=0.0, timbre=1.0)
        b, _, _ = render_clip(kit, events, 6.5, 120, seed, accomp_p=0.0, timbre=1.0)
        assert np.array_equal(a, b)
        errs = [abs(detect_onset(a, t) - t) for t, _, _ in labels]
        assert max(errs) < 0.005, errs


@pytest.mark.parametrize("share", [0.0, 0.25, 1.0])
def test_muldjord_share_sets_the_share_of_clips_on_the_recorded_kit(tmp_path, share):
    kits = [KitSpec(f"muldjord:{i}", "muldjord", "train", "muldjord") for i in range(3)]
    kits += [KitSpec(f"hydrogen:K{i}", f"hydrogen:K{i}", "train", "hydrogen") for i in range(3)]
    clips = corpus_mod.plan(kits, {"train": 2.0}, 3, 20.0, tmp_path / "nogmd", muldjord_share=share)
    on_kit = np.mean([c.kit.family == "muldjord" for c in clips])
    assert len(clips) == 360
    # a binomial share of 360 draws: within four standard deviations of the asked share
    assert abs(on_kit - share) <= 4 * np.sqrt(share * (1 - share) / len(clips)) + 1e-12
    if share == 1.0:
        assert {c.kit.kit_id for c in clips} == {k.kit_id for k in kits[:3]}
