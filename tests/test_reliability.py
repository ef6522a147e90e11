"""The bad-input table: hostile and broken files through the command-line tools.

Each row builds one bad input in ``tmp_path``, runs it through ``transcribe``
(``drumscribe.transcribe.cli.main``) or ``calibrate`` (``drumscribe.calibration.cli.main``), and checks
the exit code, the one-line message (it must name the file and match the
expected pattern) and that no partial output exists (no new file in the output
folder but the expected ones, no ``.part`` temporary anywhere).

Each row must also finish within ``MAX_ROW_SECONDS`` per command and grow the
process's peak memory by less than ``MAX_ROW_GROWTH_MB``.

``test_doc_is_up_to_date`` renders ``docs/reliability.md`` from the outcomes:
with ``DRUMSCRIBE_WRITE_DOCS=1`` (``bash scripts/update_reliability_doc.sh``) it
writes the file, otherwise it fails when the
file is stale (tests never rewrite tracked files). Rows not run in this session
(``-k``, or slow rows without ``--runslow``) keep their previous line.
``test_kill_harness`` (``--runslow``) kills batches at random moments.
"""

from __future__ import annotations

import errno
import os
import re
import resource
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from drumscribe.calibration.calfile import CalibrationFile
from drumscribe.calibration.cli import main as _calibrate_main
from drumscribe.transcribe.activations import Activations, load_activations, save_activations
from drumscribe.transcribe.annotations import write_text_annotations
from drumscribe.transcribe.cli import main as _transcribe_main
from drumscribe.transcribe.features import FeatureSettings
from drumscribe.transcribe.model import ArchSettings, build_model, file_sha256, save_checkpoint
from drumscribe.transcribe.vocabulary import CLASS_NAMES

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "reliability.md"
CLASSES = list(CLASS_NAMES)
ROW_TIMEOUT = 120
MAX_ROW_SECONDS = 5.0  # CPU seconds a command may use (the long-file rows aside)
MAX_ROW_WALL = 60.0  # wall seconds: a command blocked this long hangs (generous: shared CPUs)
MAX_ROW_GROWTH_MB = 1024  # peak RSS of the test process may grow by less than this per row
WRITE_DOCS = os.environ.get("DRUMSCRIBE_WRITE_DOCS") == "1"
TINY = ArchSettings(conv2d_channels=(2,), conv1d_channels=(8,), rnn_hidden=4, rnn_layers=1)


CALL_SECONDS: list = []  # how long each command of the current row took


def _timed(main):
    """``main`` that records (CPU seconds, wall seconds) of each call.

    A command is too slow when it uses over MAX_ROW_SECONDS of CPU, or hangs
    (blocked, using no CPU) for over MAX_ROW_WALL seconds; CPU time does not grow
    when other jobs share the machine, wall time does."""
    def run(argv):
        t0, c0 = time.monotonic(), time.process_time()
        try:
            return main(argv)
        finally:
            CALL_SECONDS.append((time.process_time() - c0, time.monotonic() - t0))
    return run


transcribe_main = _timed(_transcribe_main)
calibrate_main = _timed(_calibrate_main)


class Evil:
    """Unpickling this would create a marker file (code execution)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (imported once here, not timed as a row's hang)

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("models")
    save_checkpoint(d / "m12.pt", build_model(CLASSES, FeatureSettings(), TINY), CLASSES,
                    FeatureSettings())
    save_checkpoint(d / "m11.pt", build_model(CLASSES[:11], FeatureSettings(), TINY), CLASSES[:11],
                    FeatureSettings())
    return d


@dataclass
class Env:
    tmp: Path
    models: Path
    out: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture

    @property
    def ckpt(self) -> str:
        return str(self.models / "m12.pt")

    def wav(self, name="song.wav", seconds=2.0, sr=22050, channels=1, data=None, **kw) -> Path:
        p = self.tmp / name
        if data is None:
            rng = np.random.default_rng(0)
            data = (0.2 * rng.standard_normal((int(seconds * sr), channels))).astype(np.float32)
        sf.write(p, data, sr, **kw)
        return p

    def transcribe(self, *args):
        rc = transcribe_main([*map(str, args), "-o", str(self.out), "-q"])
        cap = self.capsys.readouterr()
        return rc, cap.out, cap.err

    def calibrate(self, pred_dir):
        rc = calibrate_main(["--predictions", str(pred_dir), "-o", str(self.out / "cal.yaml"), "-q"])
        cap = self.capsys.readouterr()
        return rc, cap.out, cap.err

    def predictions(self, bad_npz: Optional[Callable[[Path], None]] = None,
                    bad_truth: Optional[Callable[[Path], None]] = None) -> Path:
        """A predictions folder: one good pair g.npz+g.tsv and one pair b.* made bad."""
        d = self.tmp / "preds"
        d.mkdir(exist_ok=True)
        rng = np.random.default_rng(1)
        v = (rng.uniform(0, 0.1, (600, len(CLASSES)))).astype(np.float32)
        rows = []
        for k, f in enumerate(range(50, 560, 50)):
            v[f, k % len(CLASSES)] = 0.9
            rows.append((f / 100.0, CLASSES[k % len(CLASSES)], 100))
        act = Activations(v, 100.0, CLASSES, file_sha256(self.ckpt), "g.wav")
        for stem in ("g", "b"):
            save_activations(d / f"{stem}.npz", act)
            write_text_annotations(d / f"{stem}.tsv", rows)
        if bad_npz:
            (d / "b.npz").unlink()
            bad_npz(d / "b.npz")
        if bad_truth:
            (d / "b.tsv").unlink()
            bad_truth(d)
        return d


@dataclass
class Outcome:
    code: int
    err: str
    names: Optional[Path] = None  # the file the message must name; None for a success row


@dataclass
class Row:
    id: str
    input: str
    tried: str
    expected: str
    code: int
    pattern: str  # regex the one-line message must match ("" for success rows)
    run: Callable[[Env], Outcome]
    new_files: tuple = ()  # files the output folder may gain (success rows: the .mid)
    slow: bool = False
    check: Optional[Callable[[Env], None]] = None  # extra assertions (no marker file...)
    long: bool = False  # legitimately longer than MAX_ROW_SECONDS (long audio)


ROWS: list = []


def row(id, input, tried, expected, code, pattern="", new_files=(), slow=False, check=None,
        long=False):
    def deco(fn):
        assert id not in {r.id for r in ROWS}, f"row id {id} used twice"
        ROWS.append(Row(id, input, tried, expected, code, pattern, fn, tuple(new_files), slow, check,
                        long))
        return fn
    return deco


def song_row(id, input, expected, code, pattern, make):
    """A song through ``transcribe`` (exit 1: the batch reports the failed song)."""
    def run(env):
        p = make(env)
        return Outcome(*env.transcribe(p, "--model", env.ckpt)[::2], names=p)
    row(id, input, "transcribe SONG", expected, code, pattern,
        new_files=("song.mid",) if code == 0 else ())(run)


def _cut(fraction=None, keep=None, **write):
    def make(env):
        p = env.wav(**write)
        b = p.read_bytes()
        p.write_bytes(b[:keep] if keep is not None else b[:int(len(b) * fraction)])
        return p
    return make


# --------------------------------------------------------------- audio rows

def _raw(name, content):
    def make(env):
        p = env.tmp / name
        p.write_bytes(content)
        return p
    return make


song_row("empty_file", "0-byte song.wav", "error: file is empty", 1, r"file is empty \(0 bytes\); re-export",
         _raw("song.wav", b""))
song_row("wav_truncated_half", "WAV cut in half", "error: truncated", 1,
         r"WAV file is truncated .*; re-export or re-download", _cut(0.5))
song_row("wav_truncated_header", "WAV cut to its 44-byte header", "error: truncated", 1,
         r"WAV file is truncated .*; re-export", _cut(keep=44))
song_row("flac_truncated_half", "FLAC cut in half", "error: corrupt or truncated", 1,
         r"audio data is corrupt or truncated .*; re-export the file",
         _cut(0.5, name="song.flac", format="FLAC"))
song_row("flac_truncated_header", "FLAC cut to 60 bytes", "error: not readable", 1,
         r"not a readable audio file .*; convert it to WAV, FLAC, OGG or MP3",
         _cut(keep=60, name="song.flac", format="FLAC"))
song_row("mp3_truncated_header", "MP3 cut to 60 bytes", "error: not readable", 1,
         r"not a readable audio file .*; convert it", _cut(keep=60, name="song.mp3", format="MP3"))
song_row("mp3_truncated_half", "MP3 cut in half", "transcribes the decodable part (MP3 frames are "
         "independent; a short stream is not detectable without an index)", 0, "",
         _cut(0.5, name="song.mp3", format="MP3"))
song_row("text_named_wav", "a text file named song.wav", "error: not readable", 1,
         r"not a readable audio file .*; convert it to WAV",
         _raw("song.wav", b"hello, I am a text file\n" * 20))
song_row("zero_length_audio", "WAV with a valid header and 0 frames", "error: no samples", 1,
         r"holds no audio samples \(zero length\); nothing to transcribe",
         lambda env: env.wav(data=np.zeros((0, 1), np.float32)))
song_row("silence", "10 s of digital silence", "valid MIDI", 0, "",
         lambda env: env.wav(data=np.zeros((220500, 1), np.float32)))
song_row("clipping_noise", "full-scale clipped noise", "valid MIDI", 0, "",
         lambda env: env.wav(data=np.clip(3 * np.random.default_rng(0).standard_normal((44100, 2)),
                                          -1, 1).astype(np.float32)))
song_row("nan_inf_samples", "float WAV with NaN and inf samples", "valid MIDI (non-finite samples "
         "read as 0)", 0, "",
         lambda env: env.wav(data=np.where(np.arange(44100)[:, None] % 7 == 0, np.nan,
                                           np.where(np.arange(44100)[:, None] % 11 == 0, np.inf, 0.1)
                                           ).astype(np.float32), subtype="FLOAT"))
song_row("8khz_mono", "8 kHz mono WAV", "valid MIDI", 0, "", lambda env: env.wav(sr=8000))
song_row("192khz_8ch", "192 kHz 8-channel WAV", "valid MIDI", 0, "",
         lambda env: env.wav(sr=192000, channels=8, seconds=1.5, subtype="PCM_24"))


def _long_file(env, minutes):
    """A long 4 kHz song written block by block, transcribed in a subprocess whose
    peak RSS growth is measured.

    The untrained model fires on every local maximum (about 110 onsets a second),
    and the MIDI file is built in memory (about 1.5 kB per onset with mido), so a
    high threshold keeps the onset count realistic: the row measures streaming."""
    p = env.tmp / "song.wav"
    sr = 4000
    with sf.SoundFile(p, "w", sr, 1, subtype="PCM_16") as f:
        block = (0.1 * np.sin(np.arange(sr * 60) * 0.05)).astype(np.float32)
        block[::sr // 2] = 0.9  # a click twice a second
        for _ in range(minutes):
            f.write(block)
    code = textwrap.dedent(f"""
        import resource, sys, torch
        torch.set_num_threads(1)
        from drumscribe.transcribe.cli import main
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rc = main([{str(p)!r}, "--model", {env.ckpt!r}, "-o", {str(env.out)!r}, "-q",
                   "--threshold", "0.99"])
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print("RSS", rc, (peak - base) // 1024)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=1800)
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("RSS")]
    assert last, proc.stderr[-2000:]
    _, rc, grow_mb = last[-1].split()
    assert int(grow_mb) < 400, f"peak RSS grew by {grow_mb} MB"
    return Outcome(int(rc), proc.stderr)


row("long_file_8min", "8-minute 4 kHz WAV (default run)", "transcribe in a subprocess",
    "valid MIDI, peak RSS growth < 400 MB", 0, new_files=("song.mid",), long=True)(
    lambda env: _long_file(env, 8))
row("long_file_3h", "3-hour 4 kHz WAV (--runslow)", "transcribe in a subprocess",
    "valid MIDI, peak RSS growth < 400 MB", 0, new_files=("song.mid",), slow=True, long=True)(
    lambda env: _long_file(env, 180))


# ---------------------------------------------------------- predictions rows

def pred_row(id, input, expected, pattern, make, check=None):
    def run(env):
        d = env.predictions(bad_npz=make)
        rc, _, err = env.calibrate(d)
        return Outcome(rc, err, names=d / "b.npz")
    row(id, input, "calibrate --predictions (one good, one bad)", expected, 1, pattern,
        new_files=("cal.yaml",), check=check)(run)


def _npz(**arrays):
    def make(p):
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)
    return make


_GOOD = dict(fps=np.float64(100.0), classes=np.array(CLASSES))
pred_row("npz_nan", "predictions with NaN and inf", "error: NaN", r"activations contain NaN or inf",
         _npz(values=np.full((100, 12), np.nan, np.float32), **_GOOD))
pred_row("npz_logits", "predictions outside [0, 1]", "error: did you pass logits",
         r"outside \[0, 1\]: did you pass logits\? apply a sigmoid",
         _npz(values=np.full((100, 12), 3.0, np.float32), **_GOOD))
pred_row("npz_wrong_shape", "predictions of shape (100, 5) for 12 classes", "error: shape",
         r"expected activations of shape \(n_frames, 12\)",
         _npz(values=np.zeros((100, 5), np.float32), **_GOOD))
pred_row("npz_1d", "1-D predictions", "error: shape", r"expected activations of shape",
         _npz(values=np.zeros(100, np.float32), **_GOOD))
pred_row("npz_missing_keys", "an .npz without fps and classes", "error: lacks fps, classes",
         r"lacks fps, classes; write it with transcribe --save-activations",
         _npz(values=np.zeros((10, 12), np.float32)))


def _pickled_npz(p):
    with open(p, "wb") as fh:
        np.savez(fh, values=np.array([Evil(p.parent / "PWNED")], dtype=object), **_GOOD)


def _pickled_npy(p):
    with open(p, "wb") as fh:
        np.save(fh, np.array([Evil(p.parent / "PWNED")], dtype=object), allow_pickle=True)


def _no_marker(env):
    assert not (env.tmp / "preds" / "PWNED").exists(), "a pickle payload ran"


pred_row("npz_pickled_object", ".npz whose values are a pickled object array with a payload",
         "error: pickles refused; payload not run", r"contains pickled objects, which are refused",
         _pickled_npz, check=_no_marker)
pred_row("npy_pickled_as_npz", "np.save(allow_pickle=True) object array named .npz",
         "error: pickles refused; payload not run", r"contains pickled objects, which are refused",
         _pickled_npy, check=_no_marker)


# -------------------------------------------------------------- annotation rows

def ann_row(id, input, expected, pattern, name, content):
    def run(env):
        def bad(d):
            p = d / name
            p.write_bytes(content() if callable(content) else content)
        d = env.predictions(bad_truth=bad)
        rc, _, err = env.calibrate(d)
        return Outcome(rc, err, names=d / name)
    row(id, input, "calibrate --predictions (one good, one bad)", expected, 1, pattern,
        new_files=("cal.yaml",))(run)


ann_row("tsv_bad_time", ".tsv line 2 with time 'abc'", "error naming line 2",
        r"b\.tsv:2: onset time 'abc' is not a number", "b.tsv", b"0.5\tkick\nabc\tsnare_head\n")
ann_row("tsv_negative_time", ".tsv with a negative time", "error naming line 1",
        r"b\.tsv:1: onset time -1 must be a finite number of seconds >= 0", "b.tsv", b"-1\tkick\n")
ann_row("tsv_unknown_class", ".tsv with class 'cowbell'", "error: unknown class",
        r"b\.tsv:1: unknown class 'cowbell'; use one of", "b.tsv", b"1.0\tcowbell\n")
ann_row("tsv_one_column", ".tsv line without a class", "error: expected time<TAB>class",
        r"b\.tsv:1: expected 'time<TAB>class'", "b.tsv", b"1.0\n")
ann_row("tsv_bad_velocity", ".tsv with velocity 300", "error: velocity",
        r"b\.tsv:1: velocity 300 outside 1\.\.127", "b.tsv", b"1.0\tkick\t300\n")
ann_row("tsv_not_utf8", "Latin-1 bytes in a .tsv", "error: not UTF-8",
        r"b\.tsv: not a UTF-8 text file", "b.tsv", b"1.0\tkick \xe9\xff\n")


def _midi_bytes(note):
    import io

    mid = mido.MidiFile()
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.Message("note_on", channel=9, note=36, velocity=100, time=0))
    tr.append(mido.Message("note_on", channel=9, note=note, velocity=100, time=480))
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


ann_row("mid_unknown_note", ".mid annotation with note 60 (not a GM drum)", "error naming the note",
        r"b\.mid: note 60 at 0\.500 s is not a General MIDI drum note .*; map it", "b.mid",
        lambda: _midi_bytes(60))
ann_row("mid_garbage", ".mid annotation holding text", "error: not a MIDI file",
        r"b\.mid: not a readable MIDI file", "b.mid", b"this is not midi\n")


# ------------------------------------------------- calibration, config, checkpoint

def _cal(env, name="cal.yaml", classes=CLASSES, thresholds=None, fingerprint=None, **kw) -> Path:
    p = env.tmp / name
    th = thresholds if thresholds is not None else {c: 0.4 for c in classes}
    data = CalibrationFile(list(classes), th, fingerprint if fingerprint is not None
                           else file_sha256(env.ckpt), **kw).to_dict()
    import yaml

    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


def setup_row(id, input, expected, pattern, make, flag, check=None, model=None):
    """A setup error through ``transcribe``: exit 2 before any song."""
    def run(env):
        song = env.wav()
        p = make(env)
        rc, _, err = env.transcribe(song, "--model", model(env) if model else env.ckpt, flag, p)
        return Outcome(rc, err, names=p)
    row(id, input, f"transcribe SONG {flag} FILE", expected, 2, pattern, check=check)(run)


def _edit_cal(mutate):
    def make(env):
        import yaml

        p = _cal(env)
        data = yaml.safe_load(p.read_text())
        mutate(data)
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return p
    return make


setup_row("cal_missing_class", "calibration without 'crash' (class and threshold)",
          "error: classes do not match", r"calibration classes do not match the model \(missing crash\)"
          r"; re-run calibrate for this model or pass --force",
          _edit_cal(lambda d: (d["classes"].remove("crash"), d["thresholds"].pop("crash"))),
          "--calibration")
setup_row("cal_missing_threshold", "calibration listing 'crash' without a threshold",
          "error: no threshold", r"no threshold for crash; re-run calibrate or add them",
          _edit_cal(lambda d: d["thresholds"].pop("crash")), "--calibration")
setup_row("cal_extra_class", "calibration with a threshold for 'cowbell'", "error: extra class",
          r"thresholds for classes the file does not list: cowbell",
          _edit_cal(lambda d: d["thresholds"].update(cowbell=0.3)), "--calibration")
setup_row("cal_renamed_class", "calibration with 'kick' renamed 'bass_drum'", "error: classes do not "
          "match", r"do not match the model \(missing kick; extra bass_drum\)",
          _edit_cal(lambda d: (d["classes"].__setitem__(0, "bass_drum"),
                               d["thresholds"].__setitem__("bass_drum", d["thresholds"].pop("kick")))),
          "--calibration")
setup_row("cal_threshold_above_1", "calibration threshold 1.5", "error: outside [0, 1]",
          r"threshold of kick = 1\.5 must be a finite number in \[0\.0, 1\.0\]",
          _edit_cal(lambda d: d["thresholds"].update(kick=1.5)), "--calibration")
setup_row("cal_threshold_negative", "calibration threshold -0.1", "error: outside [0, 1]",
          r"threshold of snare_head = -0\.1 must be a finite number in \[0\.0, 1\.0\]",
          _edit_cal(lambda d: d["thresholds"].update(snare_head=-0.1)), "--calibration")
setup_row("cal_threshold_nan", "calibration threshold .nan", "error: not finite",
          r"threshold of kick = nan must be a finite number",
          _edit_cal(lambda d: d["thresholds"].update(kick=float("nan"))), "--calibration")
setup_row("cal_other_fingerprint", "calibration fitted for another model (fingerprint)",
          "error: another model", r"calibration was fitted for another model .*pass --force",
          lambda env: _cal(env, fingerprint="f" * 64), "--calibration")
setup_row("ckpt_other_classes", "11-class checkpoint with a calibration file for the 12-class model",
          "error: classes do not match", r"calibration classes do not match the model "
          r"\(extra crash\); re-run calibrate",
          lambda env: _cal(env), "--calibration", model=lambda env: str(env.models / "m11.pt"))
row("ckpt_other_classes_own_cal", "11-class checkpoint with its own calibration file",
    "transcribe --model m11.pt --calibration", "valid MIDI", 0, new_files=("song.mid",))(
    lambda env: Outcome(*env.transcribe(
        env.wav(), "--model", env.models / "m11.pt", "--calibration",
        _cal(env, classes=CLASSES[:11], fingerprint=file_sha256(env.models / "m11.pt")))[::2]))


def _bomb(prefix: str, indent: str, suffix: str = "") -> str:
    """Billion laughs: nine levels of nine aliases (9**9 strings if expanded)."""
    lines = [prefix, f'{indent}- &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for n in "bcdefghi":
        lines.append(f"{indent}- &{n} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = n
    return "\n".join(lines) + "\n" + suffix


def _text(name, text):
    def make(env):
        p = env.tmp / name
        p.write_text(text(env) if callable(text) else text)
        return p
    return make


setup_row("config_yaml_bomb", "config: billion-laughs aliases in postprocessing.plugins",
          "error quickly, aliases not expanded", r"postprocessing\.plugins must be a list of names",
          _text("c.yaml", _bomb("postprocessing:\n  plugins:", "    ")), "--config")
setup_row("cal_yaml_bomb", "calibration: billion-laughs aliases as a threshold",
          "error quickly, aliases not expanded", r"threshold of kick must be a number",
          _text("cal.yaml", lambda env: _bomb("bomb:", "  ", _cal(env).read_text().replace(
              "kick: 0.4", "kick: *i"))), "--calibration")


def _marker_not_created(env):
    assert not (env.tmp / "PWNED").exists(), "a !!python tag ran code"


setup_row("config_python_tag", "config with !!python/object/apply:os.system", "error: plain YAML "
          "only; nothing runs", r"invalid YAML .*only plain YAML is accepted, no !!python tags",
          _text("c.yaml", lambda env: f"postprocessing: !!python/object/apply:os.system "
                f"['touch {env.tmp / 'PWNED'}']\n"), "--config", check=_marker_not_created)
setup_row("cal_python_tag", "calibration with !!python/object/new", "error: plain YAML only",
          r"invalid YAML .*only plain YAML is accepted",
          _text("cal.yaml", lambda env: f"thresholds: !!python/object/apply:os.system "
                f"['touch {env.tmp / 'PWNED'}']\n"), "--calibration", check=_marker_not_created)


def model_row(id, input, expected, pattern, make, check=None):
    def run(env):
        p = make(env)
        rc, _, err = env.transcribe(env.wav(), "--model", p)
        return Outcome(rc, err, names=p)
    row(id, input, "transcribe SONG --model FILE", expected, 2, pattern, check=check)(run)


def _evil_ckpt(env):
    p = env.tmp / "evil.pt"
    torch.save({"format": "drumscribe-checkpoint", "format_version": 1,
                "x": Evil(env.tmp / "PWNED")}, p)
    return p


def _half_ckpt(env):
    p = env.tmp / "half.pt"
    b = (env.models / "m12.pt").read_bytes()
    p.write_bytes(b[:len(b) // 2])
    return p


model_row("ckpt_pickle_payload", "checkpoint carrying a pickle payload (opens a file)",
          "refused by weights_only; payload not run",
          r"refused: the checkpoint holds Python objects .*only load checkpoints written by drumscribe",
          _evil_ckpt, check=_marker_not_created)
model_row("ckpt_truncated", "checkpoint cut in half", "error: not readable",
          r"not a readable drumscribe checkpoint", _half_ckpt)
model_row("ckpt_not_drumscribe", "a torch file of plain tensors", "error: not a drumscribe "
          "checkpoint", r"not a drumscribe checkpoint .*train one with scripts/train\.py",
          lambda env: torch.save({"w": torch.zeros(3)}, env.tmp / "w.pt") or env.tmp / "w.pt")


# ----------------------------------------------------------------- output rows

def _out_under_file(env):
    blocker = env.tmp / "blocker"
    blocker.write_text("a regular file where the output folder should be")
    env.out = blocker / "sub"
    rc, _, err = env.transcribe(env.wav(), "--model", env.ckpt)
    env.out = blocker.parent / "out"
    return Outcome(rc, err, names=blocker / "sub")


row("out_dir_under_file", "-o a path below a regular file", "transcribe SONG -o FILE/sub",
    "error: cannot create output folder", 2, r"cannot create output folder .*; choose another with -o")(
    _out_under_file)


def _out_not_writable(env):
    real = os.access
    env.monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == env.out
                            else real(p, mode, *a, **k))
    rc, _, err = env.transcribe(env.wav(), "--model", env.ckpt)
    return Outcome(rc, err, names=env.out)


row("out_dir_not_writable", "output folder without write permission (os.access patched: root "
    "ignores modes)", "transcribe SONG -o DIR", "setup error before any song: not writable", 2,
    r"output folder .* is not writable; choose another with -o")(_out_not_writable)


def _disk_full(env):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    song = env.wav()
    env.monkeypatch.setattr(os, "fsync", full)
    rc, _, err = env.transcribe(song, "--model", env.ckpt)
    return Outcome(rc, err, names=env.out / "song.mid")


row("disk_full", "disk full while writing (os.fsync raises ENOSPC)", "transcribe SONG",
    "error: disk full; no .part left", 1, r"disk full while writing; free space and retry")(_disk_full)


# ------------------------------------------- round 2 (issue 15): outputs as units

def _two_songs(env, a, b, **kw):
    for rel in (a, b):
        (env.tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        env.wav(rel, **kw)
    return env.tmp / a, env.tmp / b


def _collision(a, b, *extra):
    def run(env):
        pa, pb = _two_songs(env, a, b)
        rc, out, err = env.transcribe(pa, pb, "--model", env.ckpt, *extra)
        return Outcome(rc, err)
    return run


def _check_keys(*names):
    def check(env):
        got = sorted(_files(env.out))
        assert got == sorted(names), got
        mids = [mido.MidiFile(env.out / n) for n in names if n.endswith(".mid")]
        assert all(m.tracks for m in mids)
    return check


row("stem_clash_folders", "a/x.wav and b/x.wav", "transcribe a/x.wav b/x.wav -o out",
    "both transcribed, as out/a/x.mid and out/b/x.mid (names from the shared folder)", 0,
    new_files=("a", "b", "a/x.mid", "b/x.mid"), check=_check_keys("a", "b", "a/x.mid", "b/x.mid"))(
    _collision("a/x.wav", "b/x.wav"))
row("stem_clash_extensions", "x.wav and x.flac", "transcribe x.wav x.flac -o out",
    "both transcribed, as x.wav.mid and x.flac.mid", 0, new_files=("x.wav.mid", "x.flac.mid"),
    check=_check_keys("x.wav.mid", "x.flac.mid"))(lambda env: Outcome(*env.transcribe(
        env.wav("x.wav"), env.wav("x.flac", format="FLAC"), "--model", env.ckpt)[::2]))
row("stem_clash_case", "X.wav and x.wav (clash on case-insensitive file systems)",
    "transcribe d1/X.wav d2/x.wav -o out", "both transcribed, as d1/X.mid and d2/x.mid", 0,
    new_files=("d1", "d2", "d1/X.mid", "d2/x.mid"),
    check=_check_keys("d1", "d2", "d1/X.mid", "d2/x.mid"))(_collision("d1/X.wav", "d2/x.wav"))


def _clash_overwrite(env):
    pa, pb = _two_songs(env, "a/x.wav", "b/x.wav")
    env.wav("b/x.wav", seconds=3.0)  # different audio: the two results must both survive
    env.transcribe(pa, pb, "--model", env.ckpt)
    first = {n: (env.out / n).read_bytes() for n in ("a/x.mid", "b/x.mid")}
    rc, _, err = env.transcribe(pa, pb, "--model", env.ckpt, "--overwrite")
    assert first["a/x.mid"] != first["b/x.mid"]
    assert {n: (env.out / n).read_bytes() for n in first} == first
    return Outcome(rc, err)


row("stem_clash_overwrite", "a/x.wav and b/x.wav, different audio, run twice with --overwrite",
    "transcribe ... --overwrite", "each result kept under its own name; nothing replaced", 0,
    new_files=("a", "b", "a/x.mid", "b/x.mid"))(_clash_overwrite)


def _clash_recursive(env):
    d = env.tmp / "songs"
    for rel in ("x.wav", "live/x.wav", "live/y.wav"):
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        env.wav(f"songs/{rel}")
    return Outcome(*env.transcribe(d, "--model", env.ckpt)[::2])


row("stem_clash_recursive", "a folder holding x.wav and live/x.wav", "transcribe FOLDER -o out",
    "all three songs transcribed: x.mid, live/x.mid, y.mid", 0,
    new_files=("x.mid", "live", "live/x.mid", "y.mid"),
    check=_check_keys("x.mid", "live", "live/x.mid", "y.mid"))(_clash_recursive)


def _same_twice(env):
    p = env.wav()
    rc, out, err = env.transcribe(p, p, "--model", env.ckpt)
    return Outcome(rc, err)


row("same_input_twice", "song.wav given twice", "transcribe song.wav song.wav",
    "transcribed once", 0, new_files=("song.mid",))(_same_twice)


def _key_clash(env):
    a = env.wav("x.wav.flac", format="FLAC")  # stem 'x.wav', the key x.wav and x.flac also need
    b, c = env.wav("x.wav"), env.wav("x.flac", format="FLAC")
    rc, _, err = env.transcribe(b, c, a, "--model", env.ckpt)
    return Outcome(rc, err, names=a)


row("stem_clash_unresolvable", "x.wav, x.flac and x.wav.flac (x.wav.flac's stem is x.wav)",
    "transcribe x.wav x.flac x.wav.flac", "setup error naming both, before any song", 2,
    r"would both write the outputs named x\.wav; rename one")(_key_clash)


def _input_named_mid(env):
    song = env.wav("song.mid", format="WAV")  # audio named .mid
    before = song.read_bytes()
    env.monkeypatch.chdir(env.tmp)
    rc = transcribe_main(["song.mid", "--model", env.ckpt, "--overwrite", "-q"])
    cap = env.capsys.readouterr()
    assert song.read_bytes() == before, "the input was replaced by its own MIDI"
    return Outcome(rc, cap.err.replace("song.mid:", f"{song}:", 1), names=song)


row("output_replaces_input", "an audio file named song.mid, in the current folder",
    "transcribe song.mid --overwrite (no -o)", "setup error: the output would replace the input; "
    "input untouched", 2, r"its own output song\.mid would replace it; choose another -o")(
    _input_named_mid)


def _default_cwd(env):
    src = env.tmp / "songs"
    src.mkdir()
    song = env.wav("songs/song.wav")
    env.monkeypatch.chdir(env.out)
    rc = transcribe_main([str(song), "--model", env.ckpt, "-q"])
    assert not (src / "song.mid").exists(), "output written next to the input"
    return Outcome(rc, env.capsys.readouterr().err)


row("no_o_goes_to_cwd", "no -o", "cd out; transcribe songs/song.wav",
    "song.mid in the current folder, nothing next to the input", 0, new_files=("song.mid",))(
    _default_cwd)


def _chart_clash_input(env):
    d = env.tmp / "charts" / "song"
    d.mkdir(parents=True)
    song = env.wav("charts/song/song.wav")
    rc, _, err = env.transcribe(song, "--model", env.ckpt, "--chart", env.tmp / "charts",
                                "--overwrite")
    assert song.is_file()
    return Outcome(rc, err, names=song)


row("chart_folder_holds_input", "charts/song/song.wav with --chart charts --overwrite",
    "transcribe SONG --chart DIR --overwrite", "setup error: the chart folder holds the input", 2,
    r"the chart folder .* holds this input and would replace it")(_chart_clash_input)


def _orphan_npz(env):
    song = env.wav()
    save_activations(env.out / "song.npz", Activations(np.zeros((10, 12), np.float32), 100.0,
                                                        CLASSES, "", "old"))
    rc, out, err = env.transcribe(song, "--model", env.ckpt, "--save-activations")
    assert (env.out / "song.mid").is_file()
    assert load_activations(env.out / "song.npz").source == "old", "an existing output was replaced"
    return Outcome(rc, err)


row("orphan_npz_resumed", "song.npz left without song.mid (a kill between the two writes)",
    "transcribe SONG --save-activations (rerun)", "the missing MIDI is made; the .npz kept", 0,
    new_files=("song.mid", "song.npz"))(_orphan_npz)


def _committed_unit(env):
    """A kill after the journal: some outputs moved, some still staged."""
    from drumscribe.transcribe.io import OutputUnit

    song = env.wav()
    rc, _, _ = env.transcribe(song, "--model", env.ckpt, "--save-activations")
    ref = {n: (env.out / n).read_bytes() for n in ("song.mid", "song.npz")}
    unit = OutputUnit("song", env.out)
    for n in ref:
        staged = unit.stage(env.out / n)
        staged.write_bytes(ref[n])
        (env.out / n).unlink()
    entries = [[str(s), str(f)] for s, f in unit.moves]
    import json

    (unit.journal).write_text(json.dumps({"moves": entries, "folders": [str(env.out)]}))
    os.replace(unit.moves[0][0], env.out / "song.mid")  # the kill came after the first move
    rc, out, err = env.transcribe(song, "--model", env.ckpt, "--save-activations")
    assert {n: (env.out / n).read_bytes() for n in ref} == ref
    return Outcome(rc, err)


row("kill_mid_commit", "a kill after song.mid was moved into place, before song.npz",
    "rerun transcribe SONG --save-activations", "the journalled commit is finished; both outputs "
    "identical to an uninterrupted run", 0, new_files=("song.mid", "song.npz"))(_committed_unit)


def _stale_staging(env):
    song = env.wav()
    stage = env.out / ".song.drumscribe.part" / "0"
    stage.mkdir(parents=True)
    (stage / "song.mid").write_bytes(b"MThd half")
    (env.out / ".song.mid.ab12cd34.part").write_bytes(b"MThd half")
    return Outcome(*env.transcribe(song, "--model", env.ckpt)[::2])


row("stale_temporaries_removed", "an uncommitted staging folder and a .part file of song.mid",
    "transcribe SONG (rerun)", "both removed; song.mid written", 0, new_files=("song.mid",))(
    _stale_staging)


def _foreign_part(env):
    song = env.wav()
    (env.out / ".other.mid.ab12cd34.part").write_bytes(b"not ours")
    rc, _, err = env.transcribe(song, "--model", env.ckpt)
    assert (env.out / ".other.mid.ab12cd34.part").is_file(), "a temporary of another song was removed"
    (env.out / ".other.mid.ab12cd34.part").unlink()
    return Outcome(rc, err)


row("foreign_temporaries_kept", "a .part file of a song not in the batch",
    "transcribe SONG", "left alone (only temporaries of planned outputs are removed)", 0,
    new_files=("song.mid",))(_foreign_part)


def _chart_then(env, first, second, check_chart=True, prepare=None):
    song = env.wav()
    charts = env.tmp / "charts"
    env.transcribe(song, "--model", env.ckpt, *first)
    if prepare:
        prepare(env, charts)
    rc, out, err = env.transcribe(song, "--model", env.ckpt, *[str(a).replace("CHARTS", str(charts))
                                                              for a in second])
    if check_chart:
        assert sorted(p.name for p in (charts / "song").iterdir()) == [
            "notes.mid", "song.ini", "song.ogg"]
    return Outcome(rc, err)


row("chart_for_transcribed_song", "song.mid exists; now --chart is asked for",
    "transcribe SONG --chart DIR", "the chart is made (the MIDI kept)", 0,
    new_files=("song.mid",))(lambda env: _chart_then(env, [], ["--chart", "CHARTS"]))


def _chart_failed_then_retried(env):
    song = env.wav()
    charts = env.tmp / "charts"
    from drumscribe.charts import folder as ch

    env.monkeypatch.setattr(ch, "notes_mid", lambda *a, **k: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    rc1, _, err1 = env.transcribe(song, "--model", env.ckpt, "--chart", charts)
    assert rc1 == 1 and not (env.out / "song.mid").exists() and not (charts / "song").exists(), err1
    env.monkeypatch.undo()
    rc, _, err = env.transcribe(song, "--model", env.ckpt, "--chart", charts)
    assert sorted(p.name for p in (charts / "song").iterdir()) == [
        "notes.mid", "song.ini", "song.ogg"]
    return Outcome(rc, err)


row("chart_failed_retried", "the chart failed (disk full) on the first run",
    "transcribe SONG --chart DIR, twice", "first run: nothing of the song written (no MIDI without "
    "its chart); rerun: all written", 0, new_files=("song.mid",))(_chart_failed_then_retried)


def _partial_chart_folder(env):
    song = env.wav()
    charts = env.tmp / "charts"
    env.transcribe(song, "--model", env.ckpt, "--chart", charts)
    ref = {p.name: p.read_bytes() for p in (charts / "song").iterdir()}
    (charts / "song" / "notes.mid").unlink()  # what an older drumscribe left after a kill
    rc, out, err = env.transcribe(song, "--model", env.ckpt, "--chart", charts, "--overwrite")
    # song.ogg is re-encoded (Ogg streams get a random serial number): compare it by name
    got = {p.name: p.read_bytes() for p in (charts / "song").iterdir()}
    assert sorted(got) == sorted(ref)
    assert {k: v for k, v in got.items() if k != "song.ogg"} == {
        k: v for k, v in ref.items() if k != "song.ogg"}
    return Outcome(rc, err)


row("chart_half_folder_redone", "a chart folder missing notes.mid (left by an older version)",
    "transcribe SONG --chart DIR --overwrite", "the whole folder replaced, identical to a clean "
    "run", 0, new_files=("song.mid",))(_partial_chart_folder)


def _all_outputs_skip(env):
    song = env.wav()
    env.transcribe(song, "--model", env.ckpt, "--save-activations")
    (env.out / "song.npz").unlink()
    rc, out, err = env.transcribe(song, "--model", env.ckpt, "--save-activations")
    assert (env.out / "song.npz").is_file()
    return Outcome(rc, err)


row("resume_missing_npz", "song.mid exists, song.npz missing", "transcribe SONG --save-activations",
    "only song.npz written (a song is skipped only when every output asked for exists)", 0,
    new_files=("song.mid", "song.npz"))(_all_outputs_skip)


# ---------------------------------------------------------------- signals

def _signal_batch(env, sig):
    songs = [env.wav(f"s{i}.wav") for i in range(3)]
    from drumscribe.transcribe import inference

    real = inference.Transcriber.activations_from_file
    calls = []

    def second_kills(self, path):
        calls.append(path)
        if len(calls) == 2:
            env.t_signal = __import__("time").monotonic()
            os.kill(os.getpid(), sig)
        return real(self, path)

    env.monkeypatch.setattr(inference.Transcriber, "activations_from_file", second_kills)
    rc, _, err = env.transcribe(*songs, "--model", env.ckpt, "--save-activations")
    assert __import__("time").monotonic() - env.t_signal < 1.0, "did not stop within a second"
    assert sorted(_files(env.out)) == ["s0.mid", "s0.npz"]
    return Outcome(rc, err)


for _sig, _code in (("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)):
    row(f"transcribe_{_sig.lower()}", f"{_sig} during the second of three songs",
        "transcribe 3 songs --save-activations", f"one line, exit {_code}; song 1 complete, "
        "nothing of song 2", _code, r"^interrupted: 1 done, rerun to resume$",
        new_files=("s0.mid", "s0.npz"))(lambda env, s=getattr(signal, _sig): _signal_batch(env, s))


def _signal_calibrate(env, sig, report=True):
    d = env.predictions()
    from drumscribe.calibration import data

    real = data.load_activations
    calls = []

    def second_kills(p):
        calls.append(p)
        if len(calls) == 3:  # calibrate reads the first file, then sweeps: b.npz, g.npz
            os.kill(os.getpid(), sig)
        return real(p)

    env.monkeypatch.setattr(data, "load_activations", second_kills)
    args = ["--predictions", str(d), "-o", str(env.out / "cal.yaml"), "-q"]
    if report:
        args += ["--report", str(env.out / "report")]
    rc = calibrate_main(args)
    err = env.capsys.readouterr().err
    assert not (env.out / "report").exists() and not (env.out / "cal.yaml").exists()
    return Outcome(rc, err)


for _sig, _code in (("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)):
    row(f"calibrate_{_sig.lower()}", f"{_sig} while calibrate reads the second file",
        "calibrate --predictions DIR -o cal.yaml --report R", f"one line, exit {_code}; no "
        "cal.yaml, no half report", _code, r"^interrupted: 1 done, rerun to resume$")(
        lambda env, s=getattr(signal, _sig): _signal_calibrate(env, s))


def _calibrate_disk_full_report(env):
    d = env.predictions()
    from drumscribe.calibration import report

    def half(folder, *a, **k):
        Path(folder, "threshold_results.csv").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    env.monkeypatch.setattr(report, "write_report", half)
    args = ["--predictions", str(d), "-o", str(env.out / "cal.yaml"), "-q", "--report",
            str(env.out / "report")]
    rc = calibrate_main(args)
    err = env.capsys.readouterr().err
    assert not (env.out / "cal.yaml").exists() and not (env.out / "report").exists()
    env.monkeypatch.undo()
    rc2 = calibrate_main(args)
    assert rc2 == 0 and (env.out / "cal.yaml").is_file()
    assert (env.out / "report" / "analysis_report.txt").is_file()
    return Outcome(rc, err.replace("error: ", f"error: {env.out / 'report'}: ", 1)
                   if str(env.out / "report") not in err else err, names=env.out / "report")


row("calibrate_disk_full_report", "disk full while the report is written",
    "calibrate ... --report R, then again", "no cal.yaml without its report; the rerun writes "
    "both", 2, r"cannot write the report \(No space left on device\)",
    new_files=("cal.yaml", "report") + tuple(f"report/{n}" for n in (
        "analysis_report.txt", "pr_roc_curves.png", "report.html", "threshold_curves.png",
        "threshold_results.csv")))(
    _calibrate_disk_full_report)


def _calibrate_resume_journal(env):
    from drumscribe.transcribe.io import OutputUnit
    import json

    d = env.predictions()
    args = ["--predictions", str(d), "-o", str(env.out / "cal.yaml"), "-q", "--report",
            str(env.out / "report")]
    assert calibrate_main(args) == 0
    ref = (env.out / "cal.yaml").read_bytes()
    unit = OutputUnit("cal.yaml", env.out, [env.out])
    s_cal, s_rep = unit.stage(env.out / "cal.yaml"), unit.stage(env.out / "report")
    os.replace(env.out / "report", s_rep)
    os.replace(env.out / "cal.yaml", s_cal)
    unit.journal.write_text(json.dumps({"moves": [[str(s_cal), str(env.out / "cal.yaml")],
                                                  [str(s_rep), str(env.out / "report")]],
                                        "folders": [str(env.out)]}))
    os.replace(s_cal, env.out / "cal.yaml")  # killed after the first move
    rc = calibrate_main(args)
    assert (env.out / "cal.yaml").read_bytes() == ref and (env.out / "report").is_dir()
    return Outcome(rc, env.capsys.readouterr().err)


row("calibrate_kill_mid_commit", "calibrate killed after cal.yaml was moved, before the report",
    "rerun calibrate ... --report R", "the commit is finished: cal.yaml and the whole report", 0,
    new_files=("cal.yaml", "report") + tuple(f"report/{n}" for n in (
        "analysis_report.txt", "pr_roc_curves.png", "report.html", "threshold_curves.png",
        "threshold_results.csv")))(_calibrate_resume_journal)


# ------------------------------------------------------- bounded reads: FIFOs, devices

def _fifo(env, name="pipe.yaml"):
    p = env.tmp / name
    os.mkfifo(p)
    return p


setup_row("fifo_config", "a FIFO as --config", "error at once, no hang",
          r"config file is a FIFO \(named pipe\), not a regular file", _fifo, "--config")
setup_row("fifo_calibration", "a FIFO as --calibration", "error at once, no hang",
          r"calibration file is a FIFO \(named pipe\), not a regular file", _fifo, "--calibration")
def _config_cal_fifo(env):
    fifo = _fifo(env, "cal.fifo")
    c = _text("c.yaml", "postprocessing:\n  calibration_file: cal.fifo\n")(env)
    rc, _, err = env.transcribe(env.wav(), "--model", env.ckpt, "--config", c)
    return Outcome(rc, err, names=fifo)


row("fifo_config_calibration_file", "a config whose calibration_file is a FIFO",
    "transcribe SONG --config FILE", "error at once, no hang", 2,
    r"calibration file is a FIFO \(named pipe\), not a regular file")(_config_cal_fifo)
setup_row("fifo_tempo_from", "a FIFO as --tempo-from", "error at once, no hang",
          r"--tempo-from MIDI file is a FIFO", lambda env: _fifo(env, "tempo.mid"), "--tempo-from")
setup_row("dev_zero_config", "/dev/zero as --config", "error at once, nothing read",
          r"config file is a character device, not a regular file",
          lambda env: Path("/dev/zero"), "--config")
setup_row("dev_urandom_calibration", "/dev/urandom as --calibration", "error at once, nothing read",
          r"calibration file is a character device", lambda env: Path("/dev/urandom"),
          "--calibration")
setup_row("dir_config", "a folder as --config", "error: a folder",
          r"config file is a folder, not a regular file", lambda env: env.tmp, "--config")
setup_row("dev_zero_tempo_from", "/dev/zero as --tempo-from", "error at once",
          r"--tempo-from MIDI file is a character device", lambda env: Path("/dev/zero"),
          "--tempo-from")
setup_row("tempo_from_garbage", "a text file as --tempo-from", "error before any song (no MIDI "
          "without its chart)", r"--tempo-from is not a readable MIDI file",
          _text("t.mid", "not midi at all\n"), "--tempo-from")
setup_row("config_symlink_to_fifo", "--config a symlink to a FIFO", "error at once",
          r"config file is a FIFO", lambda env: (_fifo(env, "p"), os.symlink(env.tmp / "p",
                                                  env.tmp / "c.yaml"), env.tmp / "c.yaml")[2],
          "--config")


def _calibrate_flag(flag_value, *extra):
    def run(env):
        d = env.predictions()
        v = flag_value(env) if callable(flag_value) else flag_value
        try:
            rc = calibrate_main(["--predictions", str(d), "-o", str(env.out / "cal.yaml"), "-q",
                                 *[str(x) for x in extra], *([str(v)] if v is not None else [])])
        except SystemExit as exc:  # argparse's usage errors
            rc = exc.code
        return Outcome(rc, env.capsys.readouterr().err,
                       names=v if isinstance(v, Path) else None)
    return run


row("calibrate_fifo_config", "a FIFO as calibrate --config", "calibrate --config FIFO",
    "error at once, no hang", 2, r"config file is a FIFO")(
    _calibrate_flag(lambda env: _fifo(env), "--config"))
row("calibrate_dev_zero_config", "/dev/zero as calibrate --config", "calibrate --config /dev/zero",
    "error at once", 2, r"config file is a character device")(
    _calibrate_flag(Path("/dev/zero"), "--config"))
row("calibrate_widen_huge", "--widen 100000000", "calibrate --level frame --widen 100000000",
    "usage error at once", 2, r"--widen must be between 0 and 50 frames")(
    _calibrate_flag(None, "--level", "frame", "--widen", "100000000"))
row("calibrate_window_huge", "--window-ms 1e9", "calibrate --window-ms 1e9", "usage error", 2,
    r"--window-ms must be in \(0, 1000\]")(_calibrate_flag(None, "--window-ms", "1e9"))
row("calibrate_report_is_file", "--report naming a regular file", "calibrate --report FILE",
    "setup error", 2, r"--report names a file, not a folder")(
    _calibrate_flag(lambda env: (env.tmp / "r.txt").write_text("x") and env.tmp / "r.txt",
                    "--report"))
row("calibrate_output_is_dir", "-o naming a folder", "calibrate -o DIR", "setup error", 2,
    r"-o names a folder; give the calibration file")(
    lambda env: Outcome(calibrate_main(["--predictions", str(env.predictions()), "-o",
                                        str(env.out), "-q"]), env.capsys.readouterr().err,
                        names=env.out))
row("calibrate_device_gpu", "calibrate --model M --device gpu", "calibrate --device gpu",
    "setup error, no traceback", 2, r"--device gpu: not a device drumscribe runs on")(
    lambda env: Outcome(calibrate_main(["--model", env.ckpt, "--data", str(env.tmp), "-o",
                                        str(env.out / "cal.yaml"), "--device", "gpu", "-q"]),
                        env.capsys.readouterr().err))


def _big_text(name, size, head=""):
    def make(env):
        p = env.tmp / name
        with open(p, "w") as fh:
            fh.write(head)
            line = "# " + "x" * 98 + "\n"
            fh.write(line * (size // len(line)))
        return p
    return make


setup_row("cal_file_10mb", "a 10 MB calibration file", "error at once (no 24 s parse)",
          r"calibration file is implausibly large \(\d+ bytes, the limit is 524288\)",
          _big_text("cal.yaml", 10_000_000), "--calibration")
setup_row("config_2mb", "a 2 MB config file", "error at once", r"config file is implausibly large",
          _big_text("c.yaml", 2_000_000), "--config")
setup_row("config_dup_key", "config with postprocessing.min_gap_ms given twice",
          "error: key given twice (YAML keeps the last silently)",
          r"invalid YAML \(key 'min_gap_ms' appears twice \(lines 2 and 3\)\); give each key once",
          _text("c.yaml", "postprocessing:\n  min_gap_ms: 20\n  min_gap_ms: 30\n"), "--config")
setup_row("cal_dup_key", "calibration with the threshold of kick given twice",
          "error: key given twice", r"key 'kick' appears twice",
          _text("cal.yaml", lambda env: _cal(env).read_text().replace(
              "  kick: 0.4\n", "  kick: 0.4\n  kick: 0.9\n", 1)), "--calibration")
setup_row("config_class_two_groups", "config: crash in two class groups", "error: one group per "
          "class", r"class 'crash' is in two groups .*; a class can belong to one group only",
          _text("c.yaml", "postprocessing:\n  class_groups: {a: [kick, crash], b: [crash, ride]}\n"),
          "--config")
setup_row("cal_class_two_groups", "calibration: crash in two groups", "error: one group per class",
          r"class 'crash' is in two groups",
          _edit_cal(lambda d: d.update(groups={"a": ["kick", "crash"], "b": ["crash", "ride"]},
                                       thresholds={**d["thresholds"], "a": 0.4, "b": 0.4})),
          "--calibration")
setup_row("config_group_named_like_class", "config: a group named kick", "setup error once, "
          "exit 2, before the model runs", r"class_groups\.kick is named like a class",
          _text("c.yaml", "postprocessing:\n  class_groups: {kick: [hihat_closed, hihat_pedal]}\n"),
          "--config")
setup_row("config_all_disabled", "config: every class disabled", "setup error once",
          r"disables every class; nothing would be transcribed",
          _text("c.yaml", "postprocessing:\n  disabled_classes: [" + ", ".join(CLASSES) + "]\n"),
          "--config")
setup_row("config_note_map_group_unknown", "config: note_map for an unknown class",
          "setup error once", r"note_map names unknown class 'cowbell'",
          _text("c.yaml", "export:\n  note_map: {cowbell: 56}\n"), "--config")


def _two_song_setup(env, *args):
    songs = [env.wav(f"s{i}.wav") for i in range(2)]
    return env.transcribe(*songs, "--model", env.ckpt, *args)


def _ckpt_with(env, name, features=None, classes=CLASSES, mutate=None):
    torch.manual_seed(0)
    p = env.tmp / name
    model = build_model(classes, FeatureSettings(), TINY)
    if mutate:
        mutate(model)
    save_checkpoint(p, model, classes, features or FeatureSettings())
    return p


def _nan_weights(m):
    with torch.no_grad():
        m.head.weight[0, 0] = float("nan")


model_row("ckpt_nan_weights", "checkpoint with a NaN weight", "setup error once (not per song "
          "as 'activations contain NaN')", r"checkpoint weights contain NaN or inf \(head\.weight\)",
          lambda env: _ckpt_with(env, "nan.pt", mutate=_nan_weights))
model_row("ckpt_hop_0", "checkpoint with features.hop = 0", "setup error before any song",
          r"checkpoint setting features\.hop = 0 must be an integer in 1\.\.65536",
          lambda env: _ckpt_with(env, "h.pt", FeatureSettings(hop=0)))
model_row("ckpt_nfft_0", "checkpoint with features.n_fft = 0", "setup error before any song",
          r"checkpoint setting features\.n_fft = 0 must be an integer in 16\.\.65536",
          lambda env: _ckpt_with(env, "n.pt", FeatureSettings(n_fft=0)))
model_row("ckpt_sample_rate_0", "checkpoint with features.sample_rate = 0", "setup error",
          r"features\.sample_rate = 0 must be an integer in 1000\.\.768000",
          lambda env: _ckpt_with(env, "s.pt", FeatureSettings(sample_rate=0)))
model_row("ckpt_sample_rate_negative", "checkpoint with features.sample_rate = -44100",
          "setup error", r"features\.sample_rate = -44100 must be",
          lambda env: _ckpt_with(env, "s.pt", FeatureSettings(sample_rate=-44100)))
model_row("ckpt_nfft_2_31", "checkpoint with features.n_fft = 2**31", "setup error",
          r"features\.n_fft = 2147483648 must be an integer in 16\.\.65536",
          lambda env: _ckpt_with(env, "n.pt", FeatureSettings(n_fft=2 ** 31)))
model_row("ckpt_fmax_above_nyquist", "checkpoint with fmax above half the sample rate",
          "setup error", r"fmin < fmax <= sample_rate / 2",
          lambda env: _ckpt_with(env, "f.pt", FeatureSettings(fmax=30000.0)))
model_row("ckpt_class_without_note", "11 known classes and 'shaker' (no GM note)",
          "setup error once, before any song", r"class 'shaker' has no MIDI note; give it one",
          lambda env: _ckpt_with(env, "shaker.pt", classes=CLASSES[:11] + ["shaker"]))


def _zip_bomb(env):
    import zipfile

    p = env.tmp / "bomb.pt"
    good = zipfile.ZipFile(env.models / "m12.pt")
    with zipfile.ZipFile(p, "w") as z:
        for info in good.infolist():
            z.writestr(info.filename, good.read(info.filename))
    with zipfile.ZipFile(p, "a", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data/bomb", bytes(64 * 1024 * 1024))
    return p


model_row("ckpt_zip_bomb", "checkpoint whose zip holds a deflated 64 MB member (a zip bomb)",
          "refused before torch unpacks it", r"refused: the checkpoint's archive declares \d+ "
          r"bytes of content in a \d+-byte file \(1 compressed members\)", _zip_bomb)


def _storage_bomb(env):
    import struct
    import zipfile

    p = env.tmp / "big.pt"
    src = zipfile.ZipFile(env.models / "m12.pt")
    with zipfile.ZipFile(p, "w") as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):  # the first storage declares 2**31 elements
                i = data.index(b"X\x03\x00\x00\x00cpu")
                j = data.index(b"t", i)
                data = data[:j - 2] + b"J" + struct.pack("<i", 2 ** 31 - 1) + data[j:] \
                    if data[j - 2:j - 1] == b"K" else data
            z.writestr(info.filename, data)
    return p


model_row("ckpt_storage_bomb", "checkpoint whose storage declares 2**31 elements (asks 8 GiB)",
          "refused without allocating", r"not a readable drumscribe checkpoint", _storage_bomb)
model_row("ckpt_fifo", "a FIFO as --model", "error at once, no hang",
          r"checkpoint is a FIFO \(named pipe\), not a regular file", lambda env: _fifo(env, "m.pt"))
model_row("ckpt_dev_zero", "/dev/zero as --model", "error at once",
          r"checkpoint is a character device", lambda env: Path("/dev/zero"))
model_row("ckpt_legacy_pickle", "a pre-zip (legacy) torch file", "error: not a torch zip archive",
          r"not a torch zip archive", lambda env: (torch.save({"w": torch.zeros(2)},
                                                              env.tmp / "old.pt",
                                                              _use_new_zipfile_serialization=False),
                                                   env.tmp / "old.pt")[1])

row("device_gpu", "--device gpu", "transcribe SONG --device gpu", "setup error, no traceback", 2,
    r"--device gpu: not a device drumscribe runs on; use cpu, cuda, cuda:N or auto")(
    lambda env: Outcome(*env.transcribe(env.wav(), "--model", env.ckpt, "--device", "gpu")[::2]))
row("device_meta", "--device meta", "transcribe SONG --device meta", "setup error, no traceback",
    2, r"--device meta: not a device")(
    lambda env: Outcome(*env.transcribe(env.wav(), "--model", env.ckpt, "--device", "meta")[::2]))
row("device_cuda_99", "--device cuda:99", "transcribe SONG --device cuda:99", "setup error", 2,
    r"--device cuda:99")(
    lambda env: Outcome(*env.transcribe(env.wav(), "--model", env.ckpt, "--device", "cuda:99")[::2]))


def _unwritable_once(env):
    real = os.access
    env.monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == env.out
                            else real(p, mode, *a, **k))
    rc, _, err = _two_song_setup(env)
    assert err.count("not writable") == 1, err
    return Outcome(rc, err, names=env.out)


row("out_not_writable_once", "unwritable -o with two songs", "transcribe 2 songs -o DIR",
    "one setup error, exit 2, before the model runs", 2, r"is not writable; choose another with -o")(
    _unwritable_once)


def _setup_once(env):
    p = _text("c.yaml", "postprocessing:\n  class_groups: {kick: [hihat_closed]}\n")(env)
    from drumscribe.transcribe import inference

    ran = []
    env.monkeypatch.setattr(inference.Transcriber, "activations_from_file",
                            lambda self, path: ran.append(path))
    rc, _, err = _two_song_setup(env, "--config", p)
    assert not ran, "the model ran before the setup error"
    assert err.count("error:") == 1, err
    return Outcome(rc, err, names=p)


row("setup_error_once", "a bad config with two songs", "transcribe 2 songs --config BAD",
    "one error, exit 2, no song read", 2, r"named like a class")(_setup_once)


def _calibration_files_seen(env) -> list:
    """The calibration file of every TranscriptionSession made from now on (filled as they are)."""
    from drumscribe.transcribe import api

    seen = []
    real = api.TranscriptionSession.__init__

    def spy(self, *a, **k):
        real(self, *a, **k)
        seen.append(self.config.postprocessing.calibration_file)

    env.monkeypatch.setattr(api.TranscriptionSession, "__init__", spy)
    return seen


def _explicit_default(env):
    seen = _calibration_files_seen(env)
    rc, _, err = env.transcribe(env.wav(), "--model", REPO / "models" / "default.pt")
    from drumscribe.resources import shipped_calibration

    assert seen == [str(shipped_calibration())], seen
    return Outcome(rc, err)


row("explicit_default_model", "--model models/default.pt (the shipped model, named)",
    "transcribe SONG --model models/default.pt", "the shipped calibration applies, as without "
    "--model", 0, new_files=("song.mid",))(_explicit_default)


def _env_other_model(env):
    seen = _calibration_files_seen(env)
    env.monkeypatch.setenv("DRUMSCRIBE_MODEL", env.ckpt)
    rc = transcribe_main([str(env.wav()), "-o", str(env.out), "-q"])
    assert seen == [None], seen
    return Outcome(rc, env.capsys.readouterr().err)


row("env_model_other", "$DRUMSCRIBE_MODEL naming another model", "transcribe SONG",
    "the shipped calibration is not applied to it", 0, new_files=("song.mid",))(_env_other_model)


# ---------------------------------------------------------------- audio words

def _fifo_song(env):
    return _fifo(env, "song.wav")


song_row("fifo_as_audio", "a FIFO named song.wav", "error naming a FIFO (not 'empty')", 1,
         r"audio file is a FIFO \(named pipe\), not a regular file", _fifo_song)
song_row("dir_named_wav", "an empty folder named song.wav", "a folder is searched for audio; "
         "none found, said with the folder's name", 1, r"no audio files \(\.wav, .*\) found",
         lambda env: (env.tmp / "song.wav").mkdir() or env.tmp / "song.wav")


def _dev_song(env):
    p = env.tmp / "song.wav"
    os.symlink("/dev/zero", p)
    return p


song_row("device_as_audio", "song.wav a symlink to /dev/zero", "error naming a device", 1,
         r"audio file is a character device, not a regular file", _dev_song)


def _wav_zero_header(env):
    p = env.wav(seconds=2.0)
    b = bytearray(p.read_bytes())
    i = b.index(b"data")
    b[i + 4:i + 8] = (0).to_bytes(4, "little")
    p.write_bytes(bytes(b))
    return p


song_row("wav_header_zero_bytes", "WAV whose header declares 0 data bytes (audio follows)",
         "error: header never finalised (not 'holds no samples')", 1,
         r"WAV header declares 0 bytes of audio, but \d+ more bytes follow", _wav_zero_header)


def _wav_short_header(env):
    p = env.wav(seconds=2.0)
    b = bytearray(p.read_bytes())
    i = b.index(b"data")
    n = int.from_bytes(b[i + 4:i + 8], "little")
    b[i + 4:i + 8] = (n // 2).to_bytes(4, "little")
    p.write_bytes(bytes(b))
    return p


song_row("wav_header_declares_half", "WAV whose header declares half the data it holds",
         "error (not rc 0 with half the onsets)", 1,
         r"WAV header declares 44100 bytes of audio, but 44100 more bytes follow", _wav_short_header)


def _wav_late_data(env):
    """A 100 KB LIST chunk before the data chunk, then the file cut in half."""
    import struct

    p = env.wav(seconds=2.0)
    b = p.read_bytes()
    i = b.index(b"data")
    junk = b"LIST" + struct.pack("<I", 100_000) + b"\0" * 100_000
    b = b[:i] + junk + b[i:]
    b = b[:4] + struct.pack("<I", len(b) - 8) + b[8:]
    p.write_bytes(b[:i + len(junk) + 8 + 40_000])
    return p


song_row("wav_data_after_64k_truncated", "truncated WAV whose data chunk starts after 100 KB",
         "error: truncated (the check walks every chunk)", 1,
         r"WAV file is truncated \(data chunk declares 88200 bytes, the file holds 40000\)",
         _wav_late_data)


def _wav_trailing_chunk(env):
    import struct

    p = env.wav(seconds=1.0)
    b = p.read_bytes() + b"LIST" + struct.pack("<I", 10_000) + b"\0" * 10_000
    b = b[:4] + struct.pack("<I", len(b) - 8) + b[8:]
    p.write_bytes(b)
    return p


song_row("wav_trailing_list_chunk", "WAV with a 10 KB LIST chunk after the data",
         "valid MIDI (a real chunk after the data is fine)", 0, "", _wav_trailing_chunk)


def _id3_only(env):
    p = env.tmp / "song.mp3"
    p.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + b"\x00" * 200)
    return p


song_row("mp3_id3_only", "an MP3 holding only an ID3 tag", "error: no audio stream (not 'is not a "
         "regular file (possibly a pipe?)')", 1,
         r"not a readable audio file \(no audio stream found: the file holds only tags", _id3_only)
song_row("huge_finite_samples", "float WAV with samples of 1e30", "error naming the samples (not "
         "'activations contain NaN')", 1, r"sample values reach 1e\+30 at .*far outside \[-1, 1\]",
         lambda env: env.wav(data=np.full((22050, 1), 1e30, np.float32), subtype="FLOAT"))
song_row("wav_1hz", "a 1 Hz, 100-sample WAV", "error at once (not 54 s of resampling)", 1,
         r"sample rate 1 Hz is implausible \(drumscribe reads 1000\.\.768000 Hz\)",
         lambda env: env.wav(data=np.zeros((100, 1), np.float32), sr=1))


def _latin1_name(env):
    p = env.tmp / os.fsdecode(b"caf\xe9 song.wav")
    os.replace(env.wav("plain.wav"), p)
    rc, out, err = env.transcribe(p, "--model", env.ckpt, "--save-activations")
    assert (env.out / os.fsdecode(b"caf\xe9 song.mid")).is_file()
    return Outcome(rc, err)


row("latin1_file_name", "a valid WAV whose file name is Latin-1 bytes (not UTF-8)",
    "transcribe SONG --save-activations", "valid MIDI and .npz under the same (undecodable) name",
    0, new_files=(os.fsdecode(b"caf\xe9 song.mid"), os.fsdecode(b"caf\xe9 song.npz")))(_latin1_name)


def _long_stem(env, n):
    p = env.wav("x" * n + ".wav")
    rc, out, err = env.transcribe(p, "--model", env.ckpt, "--save-activations")
    return Outcome(rc, err)


row("long_stem_251", "a 251-character stem", "transcribe SONG --save-activations",
    "valid MIDI and .npz (temporaries use a shortened name)", 0,
    new_files=("x" * 251 + ".mid", "x" * 251 + ".npz"))(lambda env: _long_stem(env, 251))


row("long_stem_255_name", "an input file name of 255 bytes (y*250.flac)",
    "transcribe SONG", "valid MIDI", 0, new_files=("y" * 250 + ".mid",))(
    lambda env: Outcome(*env.transcribe(env.wav("y" * 250 + ".flac", format="FLAC"), "--model",
                                        env.ckpt)[::2]))


def _too_long_arg(env):
    good = env.wav()
    bad = env.tmp / ("q" * 300 + ".wav")
    rc, out, err = env.transcribe(bad, good, "--model", env.ckpt)
    assert (env.out / "song.mid").is_file(), "the batch stopped at the long name"
    return Outcome(rc, err, names=bad)


row("name_component_over_255", "a path whose file name is 300 bytes, then a good song",
    "transcribe LONG good.wav", "that file fails with one line; the batch goes on", 1,
    r"a name in the path is longer than the file system allows \(255 bytes\); rename it",
    new_files=("song.mid",))(_too_long_arg)


def _multibyte_long(env):
    stem = "é" * 126  # 252 bytes in UTF-8: <stem>.mid would be 256 bytes
    p = env.tmp / "in"
    p.mkdir()
    src = env.wav("song.wav")
    dst = p / (stem[:125] + ".wav")
    os.replace(src, dst)
    return Outcome(*env.transcribe(dst, "--model", env.ckpt)[::2])


row("multibyte_long_stem", "a 125-character stem of 2-byte characters (250 bytes)",
    "transcribe SONG", "valid MIDI", 0, new_files=("é" * 125 + ".mid",))(_multibyte_long)


# ------------------------------------------------- calibrate: suspicious data

def _ann(content):
    def bad(d):
        (d / "b.tsv").write_text(content)
    return bad


def _cal_run(env, **kw):
    d = env.predictions(**kw)
    rc, _, err = env.calibrate(d)
    return rc, err, d


def _ms_annotations(env):
    rows = "".join(f"{f * 10:.1f}\t{CLASSES[k % 12]}\n" for k, f in enumerate(range(50, 560, 50)))
    rc, err, d = _cal_run(env, bad_truth=_ann(rows))
    return Outcome(rc, err, names=d / "b.tsv")


row("ann_in_milliseconds", "ground truth in milliseconds (every onset beyond the 6 s audio)",
    "calibrate --predictions (one good, one in ms)", "that file skipped, named, with the hint", 1,
    r"all 11 onsets lie after the end of the audio \(6\.00 s; the last at 5500\.00 s\): are the "
    r"times in milliseconds\?", new_files=("cal.yaml",))(_ms_annotations)


def _ms_only(env):
    d = env.tmp / "preds"
    _cal_run(env)
    (d / "g.tsv").write_text("".join(f"{f * 10:.1f}\tkick\n" for f in range(50, 560, 50)))
    (d / "b.tsv").write_text("".join(f"{f * 10:.1f}\tkick\n" for f in range(50, 560, 50)))
    (env.out / "cal.yaml").unlink()
    rc, _, err = env.calibrate(d)
    return Outcome(rc, err, names=d / "b.tsv")


row("ann_all_in_milliseconds", "every ground-truth file in milliseconds",
    "calibrate --predictions DIR", "error, no calibration written (not an all-0.5 file with rc 0)",
    2, r"are the times in milliseconds\?")(_ms_only)


def _late_some(env):
    rows = "0.5\tkick\n1.0\tsnare_head\n30.0\tkick\n40.0\tcrash\n"
    rc, err, d = _cal_run(env, bad_truth=_ann(rows))
    return Outcome(rc, err, names=d / "b.tsv")


row("ann_beyond_audio", "2 of 4 ground-truth onsets after the end of the audio",
    "calibrate --predictions", "a warning naming the file; calibration written", 0,
    r"warning: .*b\.tsv: 2 of 4 onsets lie after the end of the audio", new_files=("cal.yaml",))(
    _late_some)


def _dups(env):
    rows = "0.5\tkick\n0.5\tkick\n1.0\tsnare_head\n1.0004\tsnare_head\n2.0\tcrash\n"
    rc, err, d = _cal_run(env, bad_truth=_ann(rows))
    return Outcome(rc, err, names=d / "b.tsv")


row("ann_duplicates", "duplicated ground-truth onsets (same class, within 1 ms)",
    "calibrate --predictions", "a warning naming the file and the count", 0,
    r"warning: .*b\.tsv: 2 duplicated onsets \(same class within 1 ms\)", new_files=("cal.yaml",))(
    _dups)
pred_row("npz_zero_frames", "predictions with 0 frames", "error: 0 frames",
         r"predictions hold 0 frames", _npz(values=np.zeros((0, 12), np.float32), **_GOOD))
pred_row("npz_3m_frames", "predictions of 3 million frames (8.3 h at 100 fps)",
         "error: implausibly long", r"predictions of 3000000 frames at 100 fps \(8\.3 h\) are "
         r"implausibly long", _npz(values=np.zeros((3_000_000, 12), np.float32), **_GOOD))
pred_row("npz_fps_tiny", "predictions with fps 1e-9", "error: implausible fps",
         r"fps = 1e-09 is implausible",
         _npz(values=np.zeros((100, 12), np.float32), fps=np.float64(1e-9),
              classes=np.array(CLASSES)))
pred_row("npz_fps_string", "predictions whose fps is a string", "error: fps must be a number",
         r"fps must be a number", _npz(values=np.zeros((100, 12), np.float32),
                                      fps=np.array("fast"), classes=np.array(CLASSES)))


def _npz_bomb(p):
    """A small compressed .npz whose central directory declares a 4 GB member
    (what a zip bomb looks like to a reader that trusts the header)."""
    import struct

    with open(p, "wb") as fh:
        np.savez_compressed(fh, values=np.zeros((100, 12), np.float32), **_GOOD)
    b = bytearray(p.read_bytes())
    i = b.index(b"PK\x01\x02")  # the first central directory entry: values.npy
    b[i + 24:i + 28] = struct.pack("<I", 0xFFFFFFF0)
    p.write_bytes(bytes(b))


pred_row("npz_zip_bomb", "compressed .npz whose header declares a 4 GB array",
         "refused before unpacking", r"predictions file declares \d+ bytes of arrays \(the limit "
         r"is 536870912\)", _npz_bomb)


def _pred_fifo(env):
    d = env.predictions()
    (d / "b.npz").unlink()
    os.mkfifo(d / "b.npz")
    rc, _, err = env.calibrate(d)
    return Outcome(rc, err)


row("npz_fifo", "a FIFO named b.npz among the predictions", "calibrate --predictions DIR",
    "not a regular file: not read, no hang (the good file calibrates)", 0, new_files=("cal.yaml",))(
    _pred_fifo)


def _ann_fifo(env):
    d = env.predictions()
    (d / "b.tsv").unlink()
    os.mkfifo(d / "b.tsv")
    rc, _, err = env.calibrate(d)
    return Outcome(rc, err, names=d / "b.npz")


row("ann_fifo", "a FIFO named b.tsv as ground truth", "calibrate --predictions DIR",
    "b skipped (no ground truth), no hang; g calibrates", 0, r"no ground truth b\.mid/\.tsv/\.txt",
    new_files=("cal.yaml",))(_ann_fifo)


# ------------------------------------------------------------------- the test

RESULTS: dict = {}


def _files(folder: Path) -> set:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")} if folder.exists() else set()


def _excerpt(text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<tmp>").replace(str(REPO), "<repo>")
    text = re.sub(r"/tmp/pytest-of-[^/]+/pytest-\d+/[^/]+\d+", "<tmp>", text)
    text = re.sub(r"\b[0-9a-f]{12}…", "…", text)
    return (text[:150] + "…" if len(text) > 150 else text).replace("|", "\\|")


@pytest.mark.parametrize("r", [pytest.param(r, marks=[pytest.mark.slow] if r.slow else [], id=r.id)
                               for r in ROWS])
def test_bad_input(r: Row, tmp_path, model_dir, monkeypatch, capsys):
    env = Env(tmp_path, model_dir, tmp_path / "out", monkeypatch, capsys)
    env.out.mkdir()
    before = _files(env.out)
    record = {"row": r, "code": None, "excerpt": "", "passed": False}
    RESULTS[r.id] = record

    def hang(signum, frame):
        raise TimeoutError(f"row {r.id} took more than {ROW_TIMEOUT} s")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(ROW_TIMEOUT if not r.slow else 3600)
    t0 = time.monotonic()
    CALL_SECONDS.clear()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        out = r.run(env)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        monkeypatch.undo()
    elapsed = time.monotonic() - t0
    grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    record["code"] = out.code
    assert "Traceback" not in out.err, out.err
    if not r.long:
        cpu, wall = max(CALL_SECONDS, default=(0.0, elapsed))
        assert cpu < MAX_ROW_SECONDS, f"a command of row {r.id} used {cpu:.1f} s of CPU"
        assert max(w for _, w in CALL_SECONDS or [(0, elapsed)]) < MAX_ROW_WALL, (
            f"a command of row {r.id} took {wall:.1f} s (a hang?)")
    assert grew < MAX_ROW_GROWTH_MB, f"row {r.id}: peak memory grew by {grew:.0f} MB"
    if r.pattern:
        lines = ([ln for ln in out.err.splitlines() if str(out.names) in ln] if out.names is not None
                 else out.err.strip().splitlines()[-1:])
        assert lines, f"no message names {out.names}: {out.err!r}"
        line = lines[0]
        record["excerpt"] = _excerpt(line, tmp_path)
        assert re.search(r.pattern, line), line
        # every message about the file repeats the same single line
        assert all(ln.split(": ", 1)[1] == line.split(": ", 1)[1] for ln in lines), lines
    else:
        record["excerpt"] = "(no error)"
    assert out.code == r.code, out.err
    # no partial output: only the expected new files, no temporaries anywhere
    new = _files(env.out) - before
    assert new <= set(r.new_files), new
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".part")]
    for name in r.new_files:
        if name.endswith(".mid"):
            mid = mido.MidiFile(env.out / name)
            assert mid.tracks and any(m.type == "end_of_track" for m in mid.tracks[0])
    if r.check:
        r.check(env)
    record["passed"] = True


# ------------------------------------------------------------ the kill harness

KILLS = int(os.environ.get("DRUMSCRIBE_KILLS", "200"))
KILL_SIGNALS = ("SIGKILL", "SIGTERM", "SIGHUP", "SIGINT")


def _child(tool: str, args, cwd):
    code = ("import sys, torch; torch.set_num_threads(1); "
            f"from {'drumscribe.transcribe.cli' if tool == 'transcribe' else 'drumscribe.calibration.cli'} import main; "
            "print('started', file=sys.stderr, flush=True); sys.exit(main())")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _tree(root: Path) -> dict:
    """Relative path -> bytes of every finished file (temporaries listed as None)."""
    out = {}
    for q in sorted(root.rglob("*")):
        rel = q.relative_to(root).as_posix()
        if any(part.endswith(".part") for part in rel.split("/")):
            out[rel] = None
        elif q.is_file():
            out[rel] = q.read_bytes()
    return out


@pytest.mark.slow
def test_kill_harness(tmp_path, model_dir):
    """Random kills of ``transcribe`` and ``calibrate`` at random moments in a batch.

    After every kill, each output present is complete and byte-identical to an
    uninterrupted run's (temporaries aside); now and then a rerun must finish
    everything and leave no temporary, after which random outputs are deleted
    so the next runs have work to do. ``DRUMSCRIBE_KILLS`` sets the number of
    kills (200 by default).
    """
    import random
    import shutil

    rng = random.Random(int(os.environ.get("DRUMSCRIBE_KILL_SEED", "15")))
    songs = tmp_path / "songs"
    (songs / "a").mkdir(parents=True)
    (songs / "b").mkdir()
    noise = np.random.default_rng(0)
    for i, rel in enumerate(["s0.wav", "s1.wav", "s2.flac", "a/x.wav", "b/x.wav"]):
        x = (0.02 * noise.standard_normal(22050 * 8)).astype(np.float32)
        x[:: 22050 // 4] = 0.9 * (i + 1) / 5
        sf.write(songs / rel, x, 22050)
    preds = tmp_path / "preds"
    preds.mkdir()
    v0 = np.random.default_rng(1).uniform(0, 0.1, (800, len(CLASSES))).astype(np.float32)
    for k in range(6):
        v = v0.copy()
        rows = []
        for j, f in enumerate(range(40 + k, 760, 37)):
            v[f, (j + k) % len(CLASSES)] = 0.6 + 0.05 * (j % 7)
            rows.append((f / 100.0, CLASSES[(j + k) % len(CLASSES)], 100))
        save_activations(preds / f"p{k}.npz", Activations(v, 100.0, CLASSES,
                                                          file_sha256(model_dir / "m12.pt"), ""))
        write_text_annotations(preds / f"p{k}.tsv", rows)

    def commands(root: Path):
        t = ["transcribe", [songs, "-o", root / "out", "--model", model_dir / "m12.pt",
                            "--save-activations", "--chart", root / "charts", "-q",
                            "--threshold", "0.3", "--bpm", "120"]]
        c = ["calibrate", ["--predictions", preds, "-o", root / "cal" / "cal.yaml",
                           "--report", root / "cal" / "report", "-q"]]
        return {"transcribe": t, "calibrate": c}

    def run_all(root: Path, timeout=600):
        (root / "cal").mkdir(parents=True, exist_ok=True)
        took = {}
        for name, (tool, args) in commands(root).items():
            cal = root / "cal"
            if (name == "calibrate" and (cal / "cal.yaml").exists() and (cal / "report").exists()
                    and not [q for q in cal.iterdir() if q.name.endswith(".part")]):
                continue  # complete: calibrate refuses to overwrite without --overwrite
            proc = _child(tool, args, tmp_path)
            assert proc.stderr.readline() == "started\n"
            t0 = time.monotonic()
            out, err = proc.communicate(timeout=timeout)
            took[name] = time.monotonic() - t0  # the work, after Python and torch started
            assert proc.returncode == 0, (name, err)
            assert "Traceback" not in err, err
        return took

    ref_root = tmp_path / "ref"
    took = run_all(ref_root)
    ref = _tree(ref_root)
    assert len([k for k in ref if k.endswith(".mid")]) >= 5 + 5  # GM MIDI + chart notes.mid
    assert all(v is not None for v in ref.values())
    again = tmp_path / "ref2"  # the reference itself must be reproducible
    run_all(again)
    assert _tree(again) == ref, "two uninterrupted runs differ"

    root = tmp_path / "kill"
    (root / "cal").mkdir(parents=True)
    stats = {"kills": 0, "reruns": 0, "codes": {}, "partial_states": 0}

    def check_invariant(tree):
        for rel, data in tree.items():
            if data is None:
                continue  # a temporary; the next run removes or finishes it
            assert rel in ref, f"unexpected output {rel}"
            assert data == ref[rel], f"{rel} differs from the uninterrupted run's"

    def rerun_and_check():
        run_all(root)
        tree = _tree(root)
        assert tree == ref, sorted(set(tree) ^ set(ref))
        stats["reruns"] += 1
        victims = [p for p in (root / "out").rglob("*") if p.is_file()]
        victims += [p for p in (root / "charts").iterdir()]
        for v in rng.sample(victims, k=rng.randint(1, len(victims))):
            shutil.rmtree(v) if v.is_dir() else v.unlink()
        if rng.random() < 0.7:  # the calibration file and its report go together
            (root / "cal" / "cal.yaml").unlink()
            shutil.rmtree(root / "cal" / "report")
        if rng.random() < 0.2:
            shutil.rmtree(root / "out")
            shutil.rmtree(root / "charts", ignore_errors=True)

    while stats["kills"] < KILLS:
        name = "transcribe" if rng.random() < 0.7 else "calibrate"
        tool, args = commands(root)[name]
        sig = getattr(signal, rng.choice(KILL_SIGNALS))
        proc = _child(tool, args, tmp_path)
        if rng.random() < 0.9:  # mostly during the work; sometimes while Python starts
            assert proc.stderr.readline() == "started\n"
            delay = rng.uniform(0.0, took[name] * 1.1)
        else:
            delay = rng.uniform(0.0, 1.0)
        try:
            proc.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(sig)
            t0 = time.monotonic()
            _, err = proc.communicate(timeout=60)
            if sig != signal.SIGKILL and "interrupted:" in err:
                assert time.monotonic() - t0 < 5.0, "stopping took over 5 s"
                assert proc.returncode == 128 + sig, (proc.returncode, err)
                assert "Traceback" not in err, err
            stats["kills"] += 1
            stats["codes"][proc.returncode] = stats["codes"].get(proc.returncode, 0) + 1
        tree = _tree(root)
        check_invariant(tree)
        if tree != ref:
            stats["partial_states"] += 1
        if rng.random() < 0.12:
            rerun_and_check()
    run_all(root)
    assert _tree(root) == ref
    stats["reruns"] += 1
    print(f"kill harness: {stats['kills']} kills, {stats['reruns']} complete reruns, "
          f"{stats['partial_states']} interrupted states checked, exit codes {stats['codes']}")


def test_doc_is_up_to_date():
    """docs/reliability.md shows what the rows above just did (this test runs after them).

    Tests never rewrite tracked files: with ``DRUMSCRIBE_WRITE_DOCS=1`` the
    document is regenerated; otherwise a stale document fails here.
    """
    text = render_doc(RESULTS)
    if WRITE_DOCS:
        from drumscribe.transcribe.io import atomic_write

        with atomic_write(DOC, "w") as fh:
            fh.write(text)
        return
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    missing = [r.id for r in ROWS if f"| `{r.id}` |" not in current]
    assert not missing, (f"docs/reliability.md lacks rows {missing}; regenerate it with "
                         "bash scripts/update_reliability_doc.sh")
    if all(r.id in RESULTS for r in ROWS if not r.slow) or not RESULTS:
        stale = [ln.split("|")[1].strip() for ln in set(text.splitlines()) - set(current.splitlines())
                 if ln.startswith("| `")]
        assert text == current, (f"docs/reliability.md is out of date (rows {stale[:8]}); "
                                 "regenerate it with bash scripts/update_reliability_doc.sh")


def test_doc_rows_all_pass():
    """The Done-when of issue 15: at least 100 rows, every one recorded as passing."""
    current = DOC.read_text(encoding="utf-8")
    rows = [ln for ln in current.splitlines() if ln.startswith("| `")]
    assert len(rows) >= 100, len(rows)
    assert all(ln.rstrip().endswith("| pass |") for ln in rows), [
        ln[:60] for ln in rows if not ln.rstrip().endswith("| pass |")]


def test_doc_lists_every_row():
    """A new row without regenerating docs/reliability.md fails here."""
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    missing = [r.id for r in ROWS if f"| `{r.id}` |" not in text]
    assert text.startswith(PREFACE), ("docs/reliability.md has an outdated preface; "
                                      "regenerate it with bash scripts/update_reliability_doc.sh")
    assert not missing, (f"docs/reliability.md lacks rows {missing}; regenerate it with "
                         "bash scripts/update_reliability_doc.sh")


# ------------------------------------------------------------ the document

PREFACE = """\
# Reliability: bad inputs, hostile files, faults in a batch

<!-- Generated by `bash scripts/update_reliability_doc.sh` (tests/test_reliability.py,
     PREFACE and write_doc). Do not edit by hand: edit the generator and rerun. -->

*This file is generated by `bash scripts/update_reliability_doc.sh`; do not edit it by
hand.* Rows not run in a session (`-k`, or slow rows without `--runslow`) keep their last
recorded line.

## What is guaranteed

- **One-line errors.** Every error a user can cause is a `DrumscribeError` (not a
  `ValueError`, so a bug is never taken for bad input) whose message is one line naming the
  file at fault and the fix. The commands print `error: <message>` and a traceback only with
  `--debug`. Any other exception is a bug: `internal error, please report: ...`.
- **Exit codes.** `transcribe` and `calibrate`: `0` all done; `1` some files failed (each is
  named as it fails and, in a batch of several, again in the final summary; the batch goes
  on); `2` usage or setup
  error, reported once before any song is read: a bad model, config or calibration file,
  clashing or unwritable outputs, and whatever postprocessing or MIDI export would refuse
  for every song (both are tried once on silent activations before the first song);
  `70` internal error; `130`, `143`, `129` interrupted by SIGINT (Ctrl-C), SIGTERM, SIGHUP: one line
  `interrupted: N done, rerun to resume`, within a second, nothing half written.
- **Output names.** A song's outputs are named after its stem (`songs/x.wav` ->
  `x.mid`, `x.npz`, `x.png`, chart folder `x/`) and go to `-o`, or to the current folder
  without `-o` (never next to the input unless asked). When two inputs of one batch would
  get the same name (same stem in different folders, or `x.wav` and `x.flac`; compared
  without case, as macOS and Windows file systems do), each is named after its path
  relative to the folder they share: `a/x.wav`, `b/x.wav` -> `a/x.mid`, `b/x.mid`; if that
  still clashes the extension is kept: `x.wav`, `x.flac` -> `x.wav.mid`, `x.flac.mid`. A
  name longer than 255 bytes is cut and given `~` and 8 hex digits of its hash. The same
  file given twice is transcribed once. An output that would replace an input, or a chart
  folder holding an input, is a setup error naming both. All of this is decided before
  any song is read.
- **A song's outputs are one unit.** MIDI, `.npz`, chart folder and preview are written
  into a staging folder `.<name>.drumscribe.part` beside their final place; a journal
  (`COMMIT.json`) is written atomically, then each is renamed into place (signals are held
  for those milliseconds). A kill before the journal leaves only staging folders, which
  the next run removes with its own stale `.part` temporaries; a kill after it leaves a
  journal, which the next run finishes. So after a rerun every output of a song is
  complete or absent. The calibration file and its `--report` folder form one unit the
  same way.
- **Resume per output.** A song is skipped only when every output asked for exists;
  otherwise only the missing ones are written (asking for `--chart` of a transcribed song
  makes the chart; a chart that failed is retried), unless `--overwrite` redoes all.
- **Bounded reads.** Every file is checked to be a regular file, on the open descriptor,
  before a byte is read (opened without blocking, so a FIFO never hangs), and its size is
  bounded first: config and calibration files 512 KB, `--tempo-from` 16 MB, annotations
  64 MB, predictions 512 MB (also the sum their zip headers declare), checkpoints 2 GB.
  A checkpoint's zip archive must hold only stored members whose sizes sum to at most
  the file's (a zip bomb is refused before torch unpacks it), and every numeric setting
  (sample rate, FFT size, hop, mel bands, band edges, layer sizes) is range-checked, and
  the weights counted and checked finite, before any tensor is built from them. Audio
  sample rates must be 1 kHz .. 768 kHz; float samples beyond ±1000 are refused. Flags
  are range-checked up front (`--widen` 0..50, `--window-ms` (0, 1000], `--device` cpu,
  cuda, cuda:N, mps or auto).
- **Suspicious data is named.** Ground truth whose every onset lies after the end of the
  audio (times in milliseconds, or another song's) fails that file with a hint; some
  onsets beyond the audio, or duplicated onsets, give a warning. Predictions with 0
  frames, more than 6 hours, or an fps outside 1..10000 are refused. A key given twice in
  a YAML file, a class in two groups and a group named like a class are errors.
- **No code from data files.** Checkpoints load with `torch.load(weights_only=True)`; YAML
  (config, calibration) with a `yaml.SafeLoader`, so `!!python` tags are refused, and
  error messages use a bounded repr, so alias bombs are never expanded; predictions load
  with `numpy.load(allow_pickle=False)`.
- **File names.** A file name in any encoding the file system allows works (undecodable
  bytes are kept as they are; messages escape them), and so do stems up to the 255-byte
  limit (temporaries use shortened names).
- **Readers are fuzzed.** `tests/test_fuzz.py` feeds random bytes and mutated valid files
  (flipped, truncated, inserted, overwritten bytes) to every reader: audio, annotations,
  config, calibration, predictions, checkpoints. Each must return a valid value or raise a
  `DrumscribeError` with a one-line message naming the file; no other exception, no hang.
  The default run (and CI) uses 30 examples per reader; a longer run:

      DRUMSCRIBE_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py

- **Kills at any moment.** `test_kill_harness` (with `--runslow`) kills `transcribe` and
  `calibrate` batches with SIGKILL, SIGTERM, SIGHUP or SIGINT at random moments, checks
  after every kill that each output present is byte-identical to an uninterrupted run's,
  and reruns now and then, which must finish everything and leave no temporary. A longer
  run: `DRUMSCRIBE_KILLS=2000 python -m pytest tests/test_reliability.py --runslow -k kill`.
  The 200-kill run (`DRUMSCRIBE_KILLS=200 python -m pytest tests/test_reliability.py
  --runslow -k kill_harness`) passed at commit 474187f in 1442 s; before that it found
  two faults in `song.ogg`, both fixed with a test in `tests/test_charts.py`: a random
  Ogg serial number (a rerun wrote other bytes), and a signal inside libsndfile's write
  callback that was swallowed, so a corrupt `song.ogg` was committed.
- **Time and memory.** Every command of every row below uses less than 5 s of CPU (the
  long-file rows aside; on an idle machine each finishes within 5 s, most within 0.5 s),
  none blocks (60 s of wall time would fail it, for machines shared with other jobs), and
  each row grows the test process's peak memory by less than 1 GB. Audio is streamed;
  the long-file rows measure the peak RSS growth of a transcription in a subprocess (8
  minutes by default, 3 hours with `--runslow`).

Batch behaviour (good and bad files, Ctrl-C, resume, byte-identical reruns) is tested in
`tests/test_batch.py`; properties of postprocessing and round trips of the file formats in
`tests/test_properties.py`.

## The bad-input table

Paths in messages are shown as `<tmp>`.

| id | input | what was tried | expected outcome | exit | message excerpt | result |
|---|---|---|---|---|---|---|
"""


def _previous_lines() -> dict:
    if not DOC.exists():
        return {}
    out = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| `([^`]+)` \|", line)
        if m:
            out[m.group(1)] = line
    return out


def render_doc(results: dict) -> str:
    """The document: PREFACE and one line per row (rows not run keep their last line)."""
    prev = _previous_lines()
    lines = []
    for r in ROWS:
        res = results.get(r.id)
        if res is None:
            lines.append(prev.get(r.id, f"| `{r.id}` | {r.input} | {r.tried} | {r.expected} | "
                                        f"{r.code} | | not run |"))
            continue
        code = "" if res["code"] is None else res["code"]
        lines.append(f"| `{r.id}` | {r.input} | {r.tried} | {r.expected} | {code} | "
                     f"{res['excerpt']} | {'pass' if res['passed'] else 'FAIL'} |")
    return PREFACE + "\n".join(lines) + "\n"
