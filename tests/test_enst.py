"""drumscribe.training.enst: a tiny fake ENST snapshot -> drums/ and mixes/ folders."""

from __future__ import annotations

import csv
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from drumscribe.training.enst import (accompaniment_weight, build_enst, map_label, parse_enst_annotation,
                                     tempo_from_name, unmix_minus_one)
from drumscribe.transcribe.annotations import read_annotations
from drumscribe.transcribe.errors import AnnotationError

SR = 44100

PHRASE_TXT = """\
0.100 bd
0.200 sd
0.250 sd-
0.300 rs
0.350 cs
0.400 chh
0.450 ohh
0.500 lft
0.550 lt
0.600 ltr
0.650 lmt
0.700 mt
0.750 mtr
0.800 rc3
0.850 cr1
0.900 ch5
0.950 spl2
1.000 c1
1.050 cb
1.100 sweep
"""

EXPECTED = {
    "kick": [0.1], "snare_head": [0.2, 0.25], "snare_rim": [0.3], "side_stick": [0.35],
    "hihat_closed": [0.4], "hihat_open": [0.45], "floor_tom": [0.5, 0.55, 0.6],
    "high_mid_tom": [0.65, 0.7, 0.75], "ride": [0.8], "crash": [0.85, 0.9, 0.95, 1.0],
}

PIECE = "drummer_2_130_MIDI-minus-one_rock-113_sticks"


def _write(path, x, sr=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype="PCM_16")


@pytest.fixture
def snapshot(tmp_path):
    """A fake snapshot: one phrase, one minus-one piece (and a fold copy), one unannotated wav."""
    root = tmp_path / "snap"
    t = np.arange(SR * 2) / SR
    # phrase at a quiet level (peak 0.25), stereo, 48 kHz: must come out mono 44.1 kHz, peak 1
    phrase = 0.25 * np.sin(2 * np.pi * 220 * np.arange(48000 * 2) / 48000)
    _write(root / "drummer_1" / "001_phrase_rock_simple_slow_sticks.wav",
           np.stack([phrase, phrase], axis=1), 48000)
    (root / "drummer_1" / "001_phrase_rock_simple_slow_sticks.txt").write_text(PHRASE_TXT)
    _write(root / "drummer_1" / "002_phrase_no_annotation.wav", phrase)
    # minus-one piece: drums in the first second only, accompaniment in the second only,
    # both at peak 0.6, so the mix holds drums at 2/3 and accompaniment at 1/3 of the peak.
    # As in the real snapshot, <stem>.wav is the drums plus a third of the accompaniment.
    drums = np.where(t < 1.0, 0.6 * np.sin(2 * np.pi * 100 * t), 0.0)
    acc = np.where(t >= 1.0, 0.6 * np.sin(2 * np.pi * 330 * t), 0.0)
    for folder in ("accompaniment_all_drummers", "accompaniment_all_drummers_train_2fold"):
        d = root / folder
        _write(d / f"{PIECE}.wav", drums + acc / 3)
        _write(d / f"{PIECE}_acc.wav", acc)
        (d / f"{PIECE}.txt").write_text("0.5 bd\n0.5 chh\n1.5 cb\n")
    return root


def _rows(out):
    with open(out / "manifest.csv") as fh:
        return list(csv.DictReader(fh))


def _check_outputs(out):
    rows = _rows(out)
    assert [(r["set"], r["clip"]) for r in rows] == [
        ("drums", "d1_001_phrase_rock_simple_slow_sticks"),
        ("drums", "d2_130_MIDI-minus-one_rock-113_sticks"),
        ("mixes", "d2_130_MIDI-minus-one_rock-113_sticks"),
    ]
    assert [r["drummer"] for r in rows] == ["1", "2", "2"]
    assert [r["tempo_bpm"] for r in rows] == ["", "113.0", "113.0"]
    assert float(rows[0]["duration_s"]) == pytest.approx(2.0, abs=1e-3)
    assert "research" in (out / "README.txt").read_text().lower()

    # mapping and dropped labels (cb, sweep) through the project's own reader
    ann = read_annotations(out / "drums" / "d1_001_phrase_rock_simple_slow_sticks.tsv")
    got = {k: list(np.round(v, 3)) for k, v in ann.onsets.items() if len(v)}
    assert got == EXPECTED
    mix_ann = read_annotations(out / "mixes" / "d2_130_MIDI-minus-one_rock-113_sticks.tsv")
    assert {k: list(v) for k, v in mix_ann.onsets.items()} == {"kick": [0.5], "hihat_closed": [0.5]}

    # peak normalisation, mono, rate
    x, sr = sf.read(str(out / "drums" / "d1_001_phrase_rock_simple_slow_sticks.wav"))
    assert sr == SR and x.ndim == 1
    assert np.max(np.abs(x)) == pytest.approx(1.0, abs=1e-3)

    # mixing ratio: drums part at the peak, accompaniment part at half of it
    m, sr = sf.read(str(out / "mixes" / "d2_130_MIDI-minus-one_rock-113_sticks.wav"))
    assert sr == SR
    assert np.max(np.abs(m[: SR - 100])) == pytest.approx(1.0, abs=1e-3)
    assert np.max(np.abs(m[SR + 100:])) == pytest.approx(0.5, abs=2e-3)
    d, _ = sf.read(str(out / "drums" / "d2_130_MIDI-minus-one_rock-113_sticks.wav"))
    # the drums set has no accompaniment in it: the third of it in <stem>.wav is taken out
    # (what is left is 16-bit rounding, -80 dB)
    assert np.max(np.abs(d[: SR - 100])) == pytest.approx(1.0, abs=1e-3)
    assert np.max(np.abs(d[SR + 100:])) < 1e-4
    assert rows[1]["source"] == (f"accompaniment_all_drummers/{PIECE}.wav - "
                                 f"accompaniment_all_drummers/{PIECE}_acc.wav / 3")


def test_folder_snapshot(snapshot, tmp_path):
    out = tmp_path / "out"
    build_enst(snapshot, out, progress=None)
    _check_outputs(out)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    build_enst(snapshot, out)  # idempotent: same files, same bytes, nothing left over
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_git_snapshot(snapshot, tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    git = ["git", "-C", str(snapshot), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "snap"], check=True)
    out = tmp_path / "out_git"
    build_enst(snapshot / ".git", out)
    _check_outputs(out)


def test_unmix_minus_one():
    rng = np.random.default_rng(0)
    drums, acc = rng.standard_normal(20000), 3 * rng.standard_normal(20000)
    assert accompaniment_weight(drums + acc / 3, acc) == pytest.approx(1 / 3, abs=0.02)
    got, w = unmix_minus_one(drums + acc / 3, acc)
    assert w == pytest.approx(1 / 3) and np.allclose(got, drums)
    got, w = unmix_minus_one(drums, acc)  # already the drums alone: left as it is
    assert w == 0.0 and np.array_equal(got, drums)
    with pytest.raises(ValueError, match=r"piece\.wav: holds its accompaniment at weight 0\.7"):
        unmix_minus_one(drums + 0.7 * acc, acc, "piece.wav")


def test_labels():
    assert map_label("rc4") == "ride" and map_label("lmt") == "high_mid_tom"
    assert map_label("cb") is None and map_label("sweep") is None
    with pytest.raises(AnnotationError):
        map_label("xyz")
    with pytest.raises(AnnotationError, match=":2:"):
        parse_enst_annotation("0.1 bd\n0.2 tambourine\n", "f.txt")
    assert tempo_from_name("drummer_3_156_MIDI-minus-one_rock'n'roll-188_sticks") == 188.0
    assert tempo_from_name("drummer_3_158_MIDI-minus-one_soul-120-marvin-gaye_sticks") == 120.0
    assert tempo_from_name("drummer_3_150_MIDI-minus-one_grunge_sticks") is None
