"""The transcribe command end to end: outputs, batches, atomic writes, verbosity."""

import os

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from drumscribe.transcribe.activations import load_activations
from drumscribe.transcribe.cli import main
from drumscribe.transcribe.features import FeatureSettings
from drumscribe.transcribe.io import atomic_write
from drumscribe.transcribe.errors import OutputError
from drumscribe.transcribe.midi import onsets_to_midi, resolve_note_map
from drumscribe.transcribe.hookspecs import Onset
from drumscribe.transcribe.model import ArchSettings, build_model, save_checkpoint
from drumscribe.transcribe.vocabulary import CLASS_NAMES

SR = 44100


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A small checkpoint whose head is biased so that it fires everywhere:
    the file-handling paths are exercised without a trained model."""
    torch.manual_seed(0)
    arch = ArchSettings(conv2d_channels=(2,), conv1d_channels=(8,), rnn_hidden=4, rnn_layers=1)
    m = build_model(CLASS_NAMES, FeatureSettings(), arch)
    p = tmp_path_factory.mktemp("ck") / "m.pt"
    save_checkpoint(p, m, CLASS_NAMES, FeatureSettings())
    return str(p)


@pytest.fixture()
def songs(tmp_path):
    d = tmp_path / "songs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        sf.write(d / f"{name}.wav", 0.1 * rng.standard_normal(SR * 2).astype(np.float32), SR)
    (d / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    (d / "notes.txt").write_text("not audio, ignored by folder expansion")
    return d


def test_batch_with_one_corrupt_file(songs, tmp_path, ckpt, capsys):
    out = tmp_path / "out"
    rc = main([str(songs), "-o", str(out), "--model", ckpt, "--threshold", "0.0", "--save-activations"])
    cap = capsys.readouterr()
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.mid", "a.npz", "b.mid", "b.npz"]
    assert "corrupt.wav" in cap.err and "not a readable audio file" in cap.err
    assert "done: 2 transcribed, 0 skipped, 1 failed" in cap.out
    act = load_activations(out / "a.npz")
    assert act.classes == list(CLASS_NAMES) and act.fps == 100.0
    mid = mido.MidiFile(out / "a.mid")
    notes = [m for m in mid if m.type == "note_on" and m.velocity > 0]
    assert notes and all(m.channel == 9 for m in notes)
    texts = [m.text for m in mid.tracks[0] if m.type == "text"]
    assert any("threshold kick = 0.0000 (command line --threshold)" in t for t in texts)


def test_resume_skips_and_overwrite_replaces(songs, tmp_path, ckpt, capsys):
    out = tmp_path / "out"
    song = str(songs / "a.wav")
    assert main([song, "-o", str(out), "--model", ckpt]) == 0
    stamp = (out / "a.mid").stat().st_mtime_ns
    assert main([song, "-o", str(out), "--model", ckpt]) == 0
    assert "exists, skipped" in capsys.readouterr().out
    assert (out / "a.mid").stat().st_mtime_ns == stamp
    assert main([song, "-o", str(out), "--model", ckpt, "--overwrite"]) == 0


def test_same_input_gives_identical_bytes(songs, tmp_path, ckpt):
    for d in ("o1", "o2"):
        assert main([str(songs / "a.wav"), "-o", str(tmp_path / d), "--model", ckpt, "--threshold", "0.3"]) == 0
    assert (tmp_path / "o1" / "a.mid").read_bytes() == (tmp_path / "o2" / "a.mid").read_bytes()


def test_verbose_prints_threshold_sources(songs, tmp_path, ckpt, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("postprocessing: {class_thresholds: {kick: 0.3}, onset_threshold: 0.6}\n")
    assert main([str(songs / "a.wav"), "-o", str(tmp_path / "o"), "--model", ckpt, "--config", str(cfg),
                 "--threshold", "snare_head=0.2", "-v"]) == 0
    out = capsys.readouterr().out
    assert "threshold kick          0.300  (config class_thresholds" in out
    assert "threshold snare_head    0.200  (command line --threshold CLASS=T)" in out
    assert "threshold crash         0.600  (postprocessing.onset_threshold)" in out
    assert "onsets picked by plugin 'peak_picking'" in out


def test_list_plugins(capsys):
    assert main(["--list-plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("fixed_threshold", "class_thresholds", "calibrated", "peak_picking", "class_groups"):
        assert name in out
    assert "entry point drumscribe.plugins.peak_picking" in out


def test_setup_errors_are_one_line(tmp_path, ckpt, capsys):
    song = tmp_path / "s.wav"
    sf.write(song, np.zeros(SR, np.float32), SR)
    assert main([str(song), "--model", str(tmp_path / "missing.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "missing.pt: checkpoint not found" in err and "\n" not in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("postprocessing: {onset_threshold: 2}\n")
    assert main([str(song), "--model", ckpt, "--config", str(bad)]) == 2
    assert "outside [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(song), "--threshold", "kick=1.5"])


def test_output_folder_that_is_a_file(tmp_path, ckpt, capsys):
    song = tmp_path / "s.wav"
    sf.write(song, np.zeros(SR, np.float32), SR)
    (tmp_path / "blocker").write_text("a file where the output folder should be")
    rc = main([str(song), "-o", str(tmp_path / "blocker" / "sub"), "--model", ckpt])
    assert rc == 2
    err = capsys.readouterr().err
    assert "blocker/sub: cannot create output folder" in err and err.count("\n") == 1


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.mid"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write(b"partial")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as fh:
            fh.write(b"new partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 1


def test_disk_full_is_reported_and_cleaned(tmp_path, monkeypatch):
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    target = tmp_path / "y.mid"
    with pytest.raises(OutputError, match="disk full"):
        with atomic_write(target) as fh:
            monkeypatch.setattr(os, "fsync", full)
            fh.write(b"data")
    assert list(tmp_path.iterdir()) == []


def test_midi_note_map_and_readback(tmp_path):
    onsets = [Onset(0.5, "kick", 100, 0.8), Onset(0.5, "snare_head", 90, 0.7),
              Onset(1.0, "kick", 64, 0.5), Onset(1.01, "kick", 64, 0.5)]
    notes = resolve_note_map(["kick", "snare_head"], {"snare_head": 40})
    mid = onsets_to_midi(onsets, notes)
    p = tmp_path / "m.mid"
    mid.save(p)
    t, got = 0.0, []
    for msg in mido.MidiFile(p):
        t += msg.time
        if msg.type == "note_on" and msg.velocity:
            got.append((t, msg.note, msg.velocity))
    want = [(0.5, 36, 100), (0.5, 40, 90), (1.0, 36, 64), (1.01, 36, 64)]
    assert [g[1:] for g in got] == [w[1:] for w in want]
    tick = 60 / 120 / 480  # one tick at 120 BPM
    np.testing.assert_allclose([g[0] for g in got], [w[0] for w in want], atol=tick / 2 + 1e-9)
