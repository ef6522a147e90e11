"""Batches: good and bad files together, Ctrl-C in the middle, resume, determinism."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from drumscribe.transcribe.cli import main
from drumscribe.transcribe.features import FeatureSettings
from drumscribe.transcribe.model import ArchSettings, build_model, save_checkpoint
from drumscribe.transcribe.vocabulary import CLASS_NAMES

SR = 8000
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    arch = ArchSettings(conv2d_channels=(2,), conv1d_channels=(8,), rnn_hidden=4, rnn_layers=1)
    p = tmp_path_factory.mktemp("ck") / "tiny.pt"
    save_checkpoint(p, build_model(CLASS_NAMES, FeatureSettings(), arch), CLASS_NAMES,
                    FeatureSettings())
    return str(p)


def song(path: Path, seconds: float, seed: int = 0) -> Path:
    """Noise bursts on a quiet bed, written block by block."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        left = int(seconds * SR)
        while left > 0:
            n = min(left, SR * 10)
            x = 0.01 * rng.standard_normal(n)
            x[::SR // 4] = 0.9
            f.write(x.astype(np.float32))
            left -= n
    return path


def valid_midi(path: Path) -> int:
    """Parse a MIDI file completely; returns its number of notes."""
    mid = mido.MidiFile(path)
    assert mid.tracks[0][-1].type == "end_of_track"
    return sum(1 for m in mid if m.type == "note_on" and m.velocity > 0)


def no_temporaries(*folders):
    for d in folders:
        assert not [p for p in Path(d).rglob("*") if p.name.endswith(".part")]


def test_good_and_bad_files_in_one_batch(tmp_path, ckpt, capsys):
    src = tmp_path / "songs"
    (src / "sub").mkdir(parents=True)
    good = [song(src / "a.wav", 3), song(src / "sub" / "b.wav", 2, 1), song(src / "c.wav", 2, 2)]
    sf.write(src / "d.flac", np.zeros(SR, np.float32), SR, format="FLAC")
    good.append(src / "d.flac")
    (src / "empty.wav").write_bytes(b"")
    (src / "text.mp3").write_text("I am not an mp3\n" * 10)
    half = (src / "a.wav").read_bytes()
    (src / "sub" / "cut.wav").write_bytes(half[:len(half) // 3])
    bad = [src / "empty.wav", src / "text.mp3", src / "sub" / "cut.wav"]
    out = tmp_path / "out"
    rc = main([str(src), "-o", str(out), "--model", ckpt, "--threshold", "0.0"])
    cap = capsys.readouterr()
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p.stem}.mid" for p in good)
    for p in good:
        assert valid_midi(out / f"{p.stem}.mid") > 0
    assert "done: 4 transcribed, 0 skipped, 3 failed" in cap.out
    summary = cap.err[cap.err.index("failed: "):].splitlines()
    assert len(summary) == 3 and all(ln.startswith("failed: ") for ln in summary)
    for p in bad:
        assert sum(str(p) in ln for ln in summary) == 1, (p, summary)
    assert "Traceback" not in cap.err
    no_temporaries(out, src)


def _cli(*args, **kw):
    code = ("import sys, torch; torch.set_num_threads(1); from drumscribe.transcribe.cli import main; "
            "sys.exit(main())")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_ctrl_c_leaves_only_complete_files_and_resume_finishes(tmp_path, ckpt):
    src = tmp_path / "songs"
    src.mkdir()
    names = [f"s{i}" for i in range(4)]
    for i, n in enumerate(names):
        song(src / f"{n}.wav", 30, seed=i)
    out = tmp_path / "out"
    args = [src, "-o", out, "--model", ckpt, "--threshold", "0.0", "--save-activations"]

    proc = _cli(*args)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and list(out.glob("*.mid"))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and last.endswith(" done, rerun to resume"), stderr
    done = int(last.split()[1])
    mids = sorted(out.glob("*.mid"))
    # a song whose .mid was renamed into place just before Ctrl-C may not be counted yet
    assert 1 <= len(mids) < len(names) and done in (len(mids), len(mids) - 1), (done, mids)
    for m in mids:  # each output is complete, with its activations
        assert valid_midi(m) > 0 and (out / f"{m.stem}.npz").is_file()
    # and no activations file of the interrupted song is left to block the rerun
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [m.name for m in mids] + [f"{m.stem}.npz" for m in mids])
    no_temporaries(out)
    stamps = {m.name: m.stat().st_mtime_ns for m in mids}

    # resume: finished songs are skipped, the rest are done
    proc = _cli(*args)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert f"{len(mids)} skipped, 0 failed" in stdout
    assert sorted(p.stem for p in out.glob("*.mid")) == names
    for name, stamp in stamps.items():
        assert (out / name).stat().st_mtime_ns == stamp

    # determinism: the interrupted-and-resumed outputs equal an uninterrupted run's bytes
    # (run the same way, one torch thread: float sums depend on the thread count)
    ref = tmp_path / "ref"
    refproc = _cli(*args[:1], "-o", ref, *args[3:], "-q")
    _, err = refproc.communicate(timeout=300)
    assert refproc.returncode == 0, err
    for n in names:
        assert (out / f"{n}.mid").read_bytes() == (ref / f"{n}.mid").read_bytes(), n
        assert (out / f"{n}.npz").read_bytes() == (ref / f"{n}.npz").read_bytes(), n
    no_temporaries(out, ref)


def test_overwrite_redoes_every_file_identically(tmp_path, ckpt, capsys):
    src = tmp_path / "songs"
    src.mkdir()
    for i in range(3):
        song(src / f"s{i}.wav", 2, seed=i)
    out = tmp_path / "out"
    base = [str(src), "-o", str(out), "--model", ckpt, "--threshold", "0.2"]
    assert main(base) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(base) == 0
    assert "done: 0 transcribed, 3 skipped, 0 failed" in capsys.readouterr().out
    (out / "s1.mid").unlink()  # a lost output is redone on resume, the others skipped
    assert main(base) == 0
    assert "done: 1 transcribed, 2 skipped, 0 failed" in capsys.readouterr().out
    assert main(base + ["--overwrite"]) == 0
    assert "done: 3 transcribed, 0 skipped, 0 failed" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    no_temporaries(out)


def test_interrupt_before_any_song_is_one_line(tmp_path, ckpt, monkeypatch, capsys):
    """Ctrl-C while the model loads: one line, exit 130, nothing written."""
    import drumscribe.transcribe.api as api

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "TranscriptionSession", interrupted)
    s = song(tmp_path / "s.wav", 1)
    assert main([str(s), "-o", str(tmp_path / "out"), "--model", ckpt]) == 130
    assert capsys.readouterr().err == "interrupted: 0 done, rerun to resume\n"
    assert not (tmp_path / "out").exists()
