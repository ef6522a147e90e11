"""Fuzzing the readers: random bytes and mutated valid files.

Every reader that takes a user's file (audio, annotations, config, calibration,
predictions, checkpoint) must either return a valid value or raise a
:class:`~drumscribe.transcribe.errors.DrumscribeError` subclass whose message is one line
and names the file. Any other exception, a multi-line message, or a hang
(more than ``HANG_SECONDS`` for one input) fails.

The number of examples per reader comes from ``DRUMSCRIBE_FUZZ_EXAMPLES``
(default 30, which the default test run and CI use). A longer run::

    DRUMSCRIBE_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import signal
import tempfile
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drumscribe.calibration.calfile import CalibrationFile, read_calibration, write_calibration
from drumscribe.transcribe.activations import Activations, load_activations, save_activations
from drumscribe.transcribe.annotations import read_annotations, write_text_annotations
from drumscribe.transcribe.audio import stream_audio
from drumscribe.transcribe.config import load_config
from drumscribe.transcribe.errors import DrumscribeError
from drumscribe.transcribe.features import FeatureSettings
from drumscribe.transcribe.model import ArchSettings, build_model, load_checkpoint, save_checkpoint

EXAMPLES = int(os.environ.get("DRUMSCRIBE_FUZZ_EXAMPLES", "30"))
HANG_SECONDS = 20
CLASSES = ["kick", "snare_head", "hihat_closed"]


# ---------------------------------------------------------------- seed files

def _wav() -> bytes:
    buf = io.BytesIO()
    x = (0.3 * np.sin(np.arange(4000) * 0.07)).astype(np.float32)
    sf.write(buf, x, 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def _flac() -> bytes:
    buf = io.BytesIO()
    x = (0.3 * np.sin(np.arange(4000) * 0.07)).astype(np.float32)
    sf.write(buf, x, 8000, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _midi() -> bytes:
    mid = mido.MidiFile(type=1)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    for i, note in enumerate((36, 38, 42, 36)):
        tr.append(mido.Message("note_on", channel=9, note=note, velocity=100, time=0 if i == 0 else 240))
        tr.append(mido.Message("note_off", channel=9, note=note, velocity=0, time=10))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


CONFIG_TEXT = b"""postprocessing:
  onset_threshold: 0.4
  class_thresholds: {kick: 0.3, snare_head: 0.35}
  min_gap_ms: 30
  class_groups: {hihat: [hihat_closed, hihat_pedal]}
  disabled_classes: [ride_bell]
export:
  note_map: {kick: 36}
  note_duration_ms: 50
plugins_config:
  hysteresis: {low: 0.2}
"""


def _seed_files(folder: Path) -> dict:
    """Valid example files, one per reader, as bytes."""
    seeds = {"wav": _wav(), "flac": _flac(), "mid": _midi(), "yaml": CONFIG_TEXT}
    write_calibration(folder / "cal.yaml", CalibrationFile(CLASSES, {"kick": 0.3, "snare_head": 0.4,
                                                                    "hihat_closed": 0.5}))
    seeds["cal"] = (folder / "cal.yaml").read_bytes()
    act = Activations(np.random.default_rng(0).uniform(0, 1, (20, 3)).astype(np.float32), 100.0,
                      CLASSES, "abc", "song.wav")
    save_activations(folder / "a.npz", act)
    seeds["npz"] = (folder / "a.npz").read_bytes()
    write_text_annotations(folder / "a.tsv", [(0.5, "kick", 100), (1.0, "snare_head", 90),
                                              (1.25, "hihat_closed", 80)])
    seeds["tsv"] = (folder / "a.tsv").read_bytes()
    import torch

    torch.manual_seed(0)
    arch = ArchSettings(conv2d_channels=(1,), conv1d_channels=(2,), rnn_hidden=2, rnn_layers=1)
    save_checkpoint(folder / "m.pt", build_model(CLASSES, FeatureSettings(), arch), CLASSES,
                    FeatureSettings())
    seeds["pt"] = (folder / "m.pt").read_bytes()
    return seeds


_TMP = Path(tempfile.mkdtemp(prefix="drumscribe-fuzz-"))
atexit.register(shutil.rmtree, _TMP, True)
SEEDS = _seed_files(_TMP)


# ----------------------------------------------------------------- mutations

@st.composite
def mutated(draw, seed: bytes):
    """``seed`` with a few byte flips, truncations, insertions and deletions."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite"]))
        n = len(data)
        pos = draw(st.integers(0, max(0, n)))
        if op == "flip" and n:
            pos = min(pos, n - 1)
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == "overwrite" and n:
            # interesting integers where headers keep sizes and counts
            val = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF,
                                        0xFFFFFFFF]))
            width = draw(st.sampled_from([1, 2, 4]))
            data[pos:pos + width] = (val & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    return bytes(data)


def inputs(seed: bytes):
    return st.one_of(st.binary(max_size=512), mutated(seed), mutated(seed), mutated(seed))


# ------------------------------------------------------------------ harness

class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def check_reader(reader, data: bytes, name: str):
    """Write ``data`` to a file called ``name`` and run ``reader`` on it."""
    path = _TMP / name
    path.write_bytes(data)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_SECONDS)
    try:
        reader(path)
    except Hang:
        pytest.fail(f"{reader.__name__} hung for more than {HANG_SECONDS} s on {data[:64]!r}...")
    except DrumscribeError as exc:
        msg = str(exc)
        assert "\n" not in msg, f"multi-line message: {msg!r}"
        assert str(path) in msg, f"message does not name the file: {msg!r}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _audio(path):
    n = 0
    for block in stream_audio(path, 16000):
        assert block.dtype == np.float32 and block.ndim == 1 and np.isfinite(block).all()
        n += block.size
    assert n > 0


def _annotations(path):
    ann = read_annotations(path)
    for name, t in ann.onsets.items():
        assert np.all(np.isfinite(t)) and np.all(t >= 0) and np.all(np.diff(t) >= 0)
        assert ann.velocities[name].shape == t.shape


def _config(path):
    load_config(path)


def _calibration(path):
    cal = read_calibration(path)
    assert all(0.0 <= v <= 1.0 for v in cal.thresholds.values())


def _activations(path):
    act = load_activations(path)
    v = act.values
    assert v.ndim == 2 and v.shape[1] == len(act.classes) and np.isfinite(v).all()
    assert act.fps > 0


def _checkpoint(path):
    ck = load_checkpoint(path)
    assert ck.classes


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

READERS = [
    ("wav", _audio, "x.wav"), ("flac", _audio, "x.flac"), ("mid", _annotations, "x.mid"),
    ("tsv", _annotations, "x.tsv"), ("yaml", _config, "x.yaml"), ("cal", _calibration, "cal.yaml"),
    ("npz", _activations, "x.npz"), ("pt", _checkpoint, "x.pt"),
]


@pytest.mark.parametrize("kind, reader, name", READERS, ids=[r[0] for r in READERS])
def test_reader_never_raises_foreign_errors(kind, reader, name):
    @FUZZ
    @given(data=inputs(SEEDS[kind]))
    def run(data):
        check_reader(reader, data, name)

    run()


@pytest.mark.parametrize("kind, reader, name", READERS, ids=[r[0] for r in READERS])
def test_seed_files_are_valid(kind, reader, name):
    """The unmutated seeds read cleanly, so the fuzzing starts from valid files."""
    path = _TMP / f"seed-{name}"
    path.write_bytes(SEEDS[kind])
    reader(path)
