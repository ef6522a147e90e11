"""The bad-input table: hostile and broken files through the command-line tools.

Each row builds one bad input in ``tmp_path``, runs it through ``transcribe``
(``transcribe.cli.main``) or ``calibrate`` (``calibration.cli.main``), and checks
the exit code, the one-line message (it must name the file and match the
expected pattern) and that no partial output exists (no new file in the output
folder but the expected ones, no ``.part`` temporary anywhere).

The outcomes are written to ``docs/reliability.md`` only on request, when
``DRUMSCRIBE_WRITE_DOCS=1`` is set (``bash scripts/update_reliability_doc.sh``);
rows not run in that session (``-k``, or the slow row without ``--runslow``)
keep their previous line. An ordinary run never writes a tracked file; it checks
that the document lists every row instead.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from calibration.calfile import CalibrationFile
from calibration.cli import main as calibrate_main
from transcribe.activations import Activations, save_activations
from transcribe.annotations import write_text_annotations
from transcribe.cli import main as transcribe_main
from transcribe.features import FeatureSettings
from transcribe.model import ArchSettings, build_model, file_sha256, save_checkpoint
from transcribe.vocabulary import CLASS_NAMES

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "reliability.md"
CLASSES = list(CLASS_NAMES)
ROW_TIMEOUT = 120
TINY = ArchSettings(conv2d_channels=(2,), conv1d_channels=(8,), rnn_hidden=4, rnn_layers=1)


class Evil:
    """Unpickling this would create a marker file (code execution)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
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


ROWS: list = []


def row(id, input, tried, expected, code, pattern="", new_files=(), slow=False, check=None):
    def deco(fn):
        ROWS.append(Row(id, input, tried, expected, code, pattern, fn, tuple(new_files), slow, check))
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
        from transcribe.cli import main
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
    "valid MIDI, peak RSS growth < 400 MB", 0, new_files=("song.mid",))(
    lambda env: _long_file(env, 8))
row("long_file_3h", "3-hour 4 kHz WAV (--runslow)", "transcribe in a subprocess",
    "valid MIDI, peak RSS growth < 400 MB", 0, new_files=("song.mid",), slow=True)(
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
    return Outcome(rc, err, names=env.out / "song.mid")


row("out_dir_not_writable", "output folder without write permission (os.access patched: root "
    "ignores modes)", "transcribe SONG -o DIR", "error: not writable", 1,
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


# ------------------------------------------------------------------- the test

RESULTS: dict = {}


def _files(folder: Path) -> set:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")} if folder.exists() else set()


@pytest.fixture(scope="module", autouse=True)
def _render_doc():
    yield
    if RESULTS and os.environ.get("DRUMSCRIBE_WRITE_DOCS") == "1":
        write_doc(RESULTS)


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
    try:
        out = r.run(env)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        monkeypatch.undo()
    record["code"] = out.code
    assert "Traceback" not in out.err, out.err
    if r.pattern:
        lines = [ln for ln in out.err.splitlines() if str(out.names) in ln]
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
  on); `2` usage or setup error (bad model, config, calibration file, output folder) before
  any song is read; `70` internal error; `130` interrupted with Ctrl-C (`interrupted: N
  done, rerun to resume`).
- **Atomic outputs.** Every file (MIDI, `.npz`, calibration, charts) is written to a
  temporary `.<name>.*.part` beside it and renamed when complete; on any error, a full disk
  or Ctrl-C the temporary is removed. A rerun skips finished outputs unless `--overwrite`.
- **No code from data files.** Checkpoints load with `torch.load(weights_only=True)`; YAML
  (config, calibration) with `yaml.safe_load`, so `!!python` tags are refused, and error
  messages use a bounded repr, so alias bombs are never expanded; predictions load with
  `numpy.load(allow_pickle=False)`.
- **Readers are fuzzed.** `tests/test_fuzz.py` feeds random bytes and mutated valid files
  (flipped, truncated, inserted, overwritten bytes) to every reader: audio, annotations,
  config, calibration, predictions, checkpoints. Each must return a valid value or raise a
  `DrumscribeError` with a one-line message naming the file; no other exception, no hang.
  The default run (and CI) uses 30 examples per reader; a longer run:

      DRUMSCRIBE_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz.py

- **Memory.** Audio is streamed; the long-file rows measure the peak RSS growth of a
  transcription in a subprocess (8 minutes by default, 3 hours with `--runslow`).

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


def write_doc(results: dict) -> None:
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
    DOC.parent.mkdir(exist_ok=True)
    text = PREFACE + "\n".join(lines) + "\n"
    from transcribe.io import atomic_write

    with atomic_write(DOC, "w") as fh:
        fh.write(text)
