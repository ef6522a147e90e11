"""ENST-Drums as a real-audio validation set: ``wav + tsv`` folders in our vocabulary.

Licence: ENST-Drums may be used for research only. This set is for validation,
model selection, calibration checks and the model card; it is never training
data for the shipped model, and none of its audio is committed.

Input is a local copy of the public snapshot ``georgid/ENST-drums-dataset``:
either its git directory (read with ``git ls-tree`` / ``git cat-file``; blobs
missing from a partial clone are skipped) or a plain folder copy of its files.

What is kept
------------
A *drum recording* is a ``.wav`` with an ENST annotation ``.txt`` of the same
stem in the same folder (``<stem>_acc.wav`` files are accompaniments, never
drum recordings). The snapshot repeats many files across its ``*_train``,
``*_test`` and ``*_fold`` folders; recordings are deduplicated by the content of
their audio, keeping the first path in sorted order (so ``drummer_N/`` and
``accompaniment_all_drummers/`` win over the fold copies). A drum recording
whose folder also holds ``<stem>_acc.wav`` is a *minus-one piece* and is also
written as a mix.

Outputs (under ``OUT``)
-----------------------
``drums/<clip>.wav``, ``drums/<clip>.tsv``
    Every drum recording, mono, 44.1 kHz, peak-normalised to full scale, 16-bit.
    For a minus-one piece this is the drums alone (see *Minus-one pieces*).
``mixes/<clip>.wav``, ``mixes/<clip>.tsv``
    Every minus-one piece as ``2/3 * drums + 1/3 * accompaniment`` (the drums
    alone and the accompaniment as recorded, the shorter zero-padded), then
    peak-normalised.
``manifest.csv``
    ``clip, set, drummer, source, duration_s, tempo_bpm`` (tempo only where the
    source name carries it, e.g. ``..._MIDI-minus-one_rock-113_sticks``).
``README.txt``
    The licence note.

Minus-one pieces
----------------
In this snapshot a minus-one piece's ``<stem>.wav`` is not the drums alone: it
is the drum recording plus one third of ``<stem>_acc.wav``, the accompaniment,
sample for sample. Measured on the 17 pieces: where accompaniment plays before
the first annotated drum onset (11 pieces), ``<stem>.wav`` is at -25 ... -45
dBFS and ``<stem>.wav - <stem>_acc.wav / 3`` at -59 ... -95 dBFS; the least-squares weight
of the accompaniment in ``<stem>.wav`` is 0.333-0.335 on every piece; and what is left
is uncorrelated with the accompaniment (|r| < 0.02). In ``<stem>.wav`` the
accompaniment is 9-17 dB louder (RMS) than the drums. :func:`unmix_minus_one`
takes the accompaniment back out, so ``drums/`` holds drums only, as its name
says, and the mix is made from the drums alone. The weight is measured per
piece (:func:`accompaniment_weight`): one near 1/3 is taken as exactly 1/3,
one near 0 (a snapshot whose ``<stem>.wav`` is the drums alone) as 0, and any
other is an error naming the file.

Label mapping
-------------
ENST labels are a base name plus an optional instrument number (``rc3`` is
ride cymbal number 3 of that drummer's kit, ``cr1`` crash number 1). The base
name maps as follows; any other label is an error, so a new label is never
silently lost.

=========  ==================================  ================
ENST       instrument                          drumscribe class
=========  ==================================  ================
``bd``     bass drum                           ``kick``
``sd``     snare drum                          ``snare_head``
``sd-``    snare drum, second snare label      ``snare_head``
           (only in drummer 1's takes)
``rs``     rim shot                            ``snare_rim``
``cs``     cross stick                         ``side_stick``
``chh``    closed hi-hat                       ``hihat_closed``
``ohh``    open hi-hat                         ``hihat_open``
``lft``    low floor tom                       ``floor_tom``
``lt``     low tom                             ``floor_tom``
``ltr``    low tom, hit on the rim             ``floor_tom``
``lmt``    low-mid tom                         ``high_mid_tom``
``mt``     mid tom                             ``high_mid_tom``
``mtr``    mid tom, hit on the rim             ``high_mid_tom``
``rc``     ride cymbal                         ``ride``
``cr``     crash cymbal                        ``crash``
``ch``     chinese cymbal                      ``crash``
``spl``    splash cymbal                       ``crash``
``c``      other cymbal                        ``crash``
``cb``     cowbell                             dropped
``sweep``  brush sweep                         dropped
``sticks`` sticks hit together                 dropped
=========  ==================================  ================

ENST has no hi-hat pedal or ride bell label, so ``hihat_pedal`` and
``ride_bell`` never occur. ENST has no velocities; every onset gets 100.
Labels present in the snapshot: bd, sd, sd-, cs, chh, ohh, lft, lt, ltr, lmt,
mt, mtr, rc2-rc4, cr1, cr2, cr5, ch1, ch5, spl2, c1, c4, cb.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from drumscribe.transcribe.annotations import write_text_annotations
from drumscribe.transcribe.errors import AnnotationError
from drumscribe.transcribe.io import atomic_write

DEFAULT_SNAPSHOT = Path("/work/.mirror/georgid+ENST-drums-dataset/repo")
"""Where the session's snapshot of the repository lives."""

SAMPLE_RATE = 44100
DRUMS_GAIN = 2.0 / 3.0
"""Weight of the drum recording in a minus-one mix."""
ACCOMP_GAIN = 1.0 / 3.0
"""Weight of the accompaniment in a minus-one mix."""
ACCOMP_IN_RECORDING = 1.0 / 3.0
"""Weight of the accompaniment inside a minus-one piece's ``<stem>.wav`` in the snapshot."""
WEIGHT_TOLERANCE = 0.03
"""How far a measured accompaniment weight may lie from 1/3 (or 0) and still be taken as it."""

LABEL_MAP: Dict[str, Optional[str]] = {
    "bd": "kick",
    "sd": "snare_head",
    "sd-": "snare_head",
    "rs": "snare_rim",
    "cs": "side_stick",
    "chh": "hihat_closed",
    "ohh": "hihat_open",
    "lft": "floor_tom",
    "lt": "floor_tom",
    "ltr": "floor_tom",
    "lmt": "high_mid_tom",
    "mt": "high_mid_tom",
    "mtr": "high_mid_tom",
    "rc": "ride",
    "cr": "crash",
    "ch": "crash",
    "spl": "crash",
    "c": "crash",
    "cb": None,
    "sweep": None,
    "sticks": None,
}
"""ENST base label -> drumscribe class (None: dropped). See the module docstring."""

MANIFEST_FIELDS = ("clip", "set", "drummer", "source", "duration_s", "tempo_bpm")

README_TEXT = """\
ENST-Drums validation set, built by drumscribe's scripts/make_enst.py.

Licence: ENST-Drums is licensed for RESEARCH USE ONLY.
Use these files for validation, model selection, calibration checks and the
model card only. Never train the shipped model on them, never redistribute
them, never commit them to the repository.

drums/   each annotated drum recording, mono 44.1 kHz, peak-normalised (a minus-one
         piece: its drums alone, the snapshot's <stem>.wav less a third of <stem>_acc.wav)
mixes/   each minus-one piece: drums x 2/3 + accompaniment x 1/3, peak-normalised
manifest.csv  clip, set, drummer, source, duration_s, tempo_bpm
Label mapping: see the docstring of training/enst.py.
"""

_LABEL_RE = re.compile(r"([a-z]+-?)(\d*)")
_TEMPO_RE = re.compile(r"minus-one_[A-Za-z'-]*?-(\d{2,3})(?:[-_]|$)")
_DRUMMER_RE = re.compile(r"(?:^|[/_])drummer_(\d+)")


def map_label(label: str) -> Optional[str]:
    """The drumscribe class of an ENST label, or None when it is dropped.

    Raises
    ------
    AnnotationError
        If the label is not in :data:`LABEL_MAP` (after removing an instrument number).
    """
    m = _LABEL_RE.fullmatch(label.strip().lower())
    base = m.group(1) if m else label
    if base not in LABEL_MAP:
        raise AnnotationError(f"unknown ENST label {label!r}; add it to drumscribe.training.enst.LABEL_MAP")
    return LABEL_MAP[base]


def parse_enst_annotation(text: str, source: str = "") -> List[Tuple[float, str, int]]:
    """Parse an ENST ``time label`` annotation into ``(time, class, velocity)`` triples.

    Parameters
    ----------
    text : str
        The file's contents: one ``time<whitespace>label`` per line.
    source : str
        Name used in error messages.

    Returns
    -------
    list of (float, str, int)
        Sorted onsets in our vocabulary, velocity 100; dropped labels are left out.

    Raises
    ------
    AnnotationError
        For a malformed line or an unknown label.
    """
    out = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise AnnotationError(f"{source}:{lineno}: expected 'time label', got {line!r}")
        try:
            t = float(parts[0])
        except ValueError:
            raise AnnotationError(f"{source}:{lineno}: time {parts[0]!r} is not a number") from None
        try:
            name = map_label(parts[1])
        except AnnotationError as exc:
            raise AnnotationError(f"{source}:{lineno}: {exc}") from None
        if name is not None:
            out.append((t, name, 100))
    return sorted(out)


# ----------------------------------------------------------------------------- sources

class FolderSource:
    """A plain folder copy of the snapshot.

    Parameters
    ----------
    root : path-like
    """

    def __init__(self, root):
        self.root = Path(root)

    def files(self) -> Dict[str, str]:
        """Every file, as relative POSIX path -> "" (content keys are computed on demand)."""
        out = {}
        for dirpath, _, names in os.walk(self.root):
            for n in names:
                p = Path(dirpath) / n
                rel = p.relative_to(self.root).as_posix()
                out[rel] = ""
        return out

    def content_key(self, rel: str) -> str:
        """A hash of the file's bytes."""
        return hashlib.sha1(self.read(rel)).hexdigest()

    def read(self, rel: str) -> bytes:
        """The bytes of ``rel``."""
        return (self.root / rel).read_bytes()


class GitSource:
    """The snapshot's git directory, read without a work tree.

    Only blobs present in the object store are listed (the snapshot is partial).

    Parameters
    ----------
    git_dir : path-like
    rev : str
    """

    def __init__(self, git_dir, rev: str = "HEAD"):
        self.git_dir = Path(git_dir)
        self.rev = rev
        self._sha: Dict[str, str] = {}

    def _git(self, *args, input: Optional[bytes] = None) -> bytes:
        return subprocess.run(["git", "-C", str(self.git_dir), *args], input=input,
                              capture_output=True, check=True).stdout

    def files(self) -> Dict[str, str]:
        """Relative path -> blob id, for the blobs that are present."""
        listing = {}
        for line in self._git("ls-tree", "-r", "-z", self.rev).split(b"\0"):
            if not line:
                continue
            meta, path = line.split(b"\t", 1)
            _, kind, sha = meta.split()
            if kind == b"blob":
                listing[path.decode("utf-8", "surrogateescape")] = sha.decode()
        shas = sorted(set(listing.values()))
        check = self._git("cat-file", "--batch-check", input=("\n".join(shas) + "\n").encode())
        present = {ln.split()[0] for ln in check.decode().splitlines() if not ln.endswith("missing")}
        self._sha = {p: s for p, s in listing.items() if s in present}
        return dict(self._sha)

    def content_key(self, rel: str) -> str:
        """The blob id (a hash of the content)."""
        if not self._sha:
            self.files()
        return self._sha[rel]

    def read(self, rel: str) -> bytes:
        """The bytes of ``rel``."""
        return self._git("cat-file", "blob", self.content_key(rel))


def open_source(path):
    """A :class:`GitSource` for a git directory, else a :class:`FolderSource`."""
    path = Path(path)
    if (path / "objects").is_dir() and (path / "HEAD").is_file():
        return GitSource(path)
    if (path / ".git").is_dir():
        return GitSource(path / ".git")
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no ENST snapshot here; fetch github:georgid/ENST-drums-dataset "
                                "or pass --snapshot")
    return FolderSource(path)


# ----------------------------------------------------------------------------- discovery

@dataclass
class Recording:
    """One annotated drum recording found in the snapshot.

    Attributes
    ----------
    clip : str
        Output name (``d<drummer>_<stem>``, only ``[A-Za-z0-9_.-]``).
    drummer : int
    source : str
        Path of the drum ``.wav`` inside the snapshot.
    annotation : str
        Path of its ENST ``.txt``.
    accompaniment : str
        Path of ``<stem>_acc.wav`` for a minus-one piece, else "".
    tempo_bpm : float or None
        Tempo read from the name, when it carries one.
    """

    clip: str
    drummer: int
    source: str
    annotation: str
    accompaniment: str = ""
    tempo_bpm: Optional[float] = None


def _drummer(rel: str) -> int:
    m = _DRUMMER_RE.findall(rel)
    if not m:
        raise ValueError(f"{rel}: cannot tell the drummer from the path")
    return int(m[-1])


def _clip_name(drummer: int, stem: str) -> str:
    stem = re.sub(r"^drummer_\d+_", "", stem)
    stem = re.sub(r"[^A-Za-z0-9_.-]", "", stem)
    return f"d{drummer}_{stem}"


def tempo_from_name(name: str) -> Optional[float]:
    """The tempo a minus-one name carries (``..._rock-113_...`` -> 113.0), else None."""
    m = _TEMPO_RE.search(name)
    return float(m.group(1)) if m else None


def find_recordings(source) -> List[Recording]:
    """Every distinct annotated drum recording in ``source``, sorted by clip name.

    Parameters
    ----------
    source : FolderSource or GitSource

    Returns
    -------
    list of Recording
        Deduplicated by the drum audio's content (first path in sorted order wins).
    """
    files = source.files()
    seen: Dict[str, Recording] = {}
    for rel in sorted(files):
        if not rel.endswith(".wav") or rel.endswith("_acc.wav"):
            continue
        stem = rel[:-4]
        if stem + ".txt" not in files:
            continue
        key = source.content_key(rel)
        if key in seen:
            continue
        drummer = _drummer(rel)
        name = stem.rsplit("/", 1)[-1]
        acc = stem + "_acc.wav" if stem + "_acc.wav" in files else ""
        seen[key] = Recording(_clip_name(drummer, name), drummer, rel, stem + ".txt", acc,
                              tempo_from_name(name))
    recs = sorted(seen.values(), key=lambda r: r.clip)
    names = [r.clip for r in recs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"different recordings share clip names: {sorted(dup)}")
    return recs


# ----------------------------------------------------------------------------- audio

def read_mono(data: bytes, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode audio bytes to mono float64 at ``sample_rate``."""
    import soundfile as sf

    x, sr = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    x = x.mean(axis=1)
    if sr != sample_rate:
        import soxr

        x = soxr.resample(x, sr, sample_rate)
    return x


def peak_normalise(x: np.ndarray, peak: float = 1.0) -> np.ndarray:
    """Scale ``x`` so its largest magnitude is ``peak`` (silence is returned unchanged)."""
    m = float(np.max(np.abs(x))) if len(x) else 0.0
    return x * (peak / m) if m > 0 else x


def accompaniment_weight(recording: np.ndarray, accompaniment: np.ndarray) -> float:
    """Least-squares weight ``w`` of ``accompaniment`` in ``recording`` (``recording ~ drums + w * acc``).

    Drums and accompaniment are uncorrelated, so ``<recording, acc> / <acc, acc>``
    measures how much accompaniment the recording holds (the shorter is zero-padded).
    """
    n = min(len(recording), len(accompaniment))
    a = np.asarray(accompaniment[:n], dtype=np.float64)
    energy = float(np.dot(a, a))
    return float(np.dot(np.asarray(recording[:n], dtype=np.float64), a) / energy) if energy > 0 else 0.0


def unmix_minus_one(recording: np.ndarray, accompaniment: np.ndarray,
                    name: str = "") -> Tuple[np.ndarray, float]:
    """The drums alone of a minus-one piece: ``recording - ACCOMP_IN_RECORDING * accompaniment``.

    The weight is measured (:func:`accompaniment_weight`). Near
    :data:`ACCOMP_IN_RECORDING` the exact weight is subtracted; near 0 (the
    recording is already the drums alone) nothing is. Any other weight raises
    ValueError naming ``name``: the snapshot is not laid out as this module
    expects, and its mixes would be wrong.

    Returns
    -------
    drums : ndarray
    weight : float
        The weight subtracted (``ACCOMP_IN_RECORDING`` or 0.0).
    """
    w = accompaniment_weight(recording, accompaniment)
    if abs(w) <= WEIGHT_TOLERANCE:
        return np.asarray(recording, dtype=np.float64), 0.0
    if abs(w - ACCOMP_IN_RECORDING) > WEIGHT_TOLERANCE:
        raise ValueError(f"{name or 'recording'}: holds its accompaniment at weight {w:.3f}, "
                         f"neither 0 nor {ACCOMP_IN_RECORDING:.3f}; cannot take the drums apart "
                         "(check the snapshot)")
    out = np.asarray(recording, dtype=np.float64).copy()
    n = min(len(out), len(accompaniment))
    out[:n] -= ACCOMP_IN_RECORDING * np.asarray(accompaniment[:n], dtype=np.float64)
    return out, ACCOMP_IN_RECORDING


def mix_minus_one(drums: np.ndarray, accompaniment: np.ndarray) -> np.ndarray:
    """``DRUMS_GAIN * drums + ACCOMP_GAIN * accompaniment``, the shorter zero-padded, peak-normalised."""
    n = max(len(drums), len(accompaniment))
    mix = np.zeros(n)
    mix[:len(drums)] += DRUMS_GAIN * drums
    mix[:len(accompaniment)] += ACCOMP_GAIN * accompaniment
    return peak_normalise(mix)


def _write_wav(path: Path, x: np.ndarray) -> None:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    with atomic_write(path, "wb") as fh:
        fh.write(buf.getvalue())


# ----------------------------------------------------------------------------- build

def build_enst(snapshot=DEFAULT_SNAPSHOT, out_dir="enst", progress=None) -> List[dict]:
    """Write the ENST validation folders (see the module docstring).

    Every file is written atomically and the output depends only on the
    snapshot, so running it again reproduces the same folders.

    Parameters
    ----------
    snapshot : path-like
        The snapshot's git directory or a plain folder copy.
    out_dir : path-like
        Output folder (created).
    progress : callable, optional
        Called with each manifest row as it is written.

    Returns
    -------
    list of dict
        The manifest rows.
    """
    source = open_source(snapshot)
    out = Path(out_dir)
    for sub in ("drums", "mixes"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rows = []
    for rec in find_recordings(source):
        labels = parse_enst_annotation(source.read(rec.annotation).decode("utf-8"), rec.annotation)
        drums = read_mono(source.read(rec.source))
        src = rec.source
        if rec.accompaniment:
            acc = read_mono(source.read(rec.accompaniment))
            drums, w = unmix_minus_one(drums, acc, rec.source)
            if w:
                src = f"{rec.source} - {rec.accompaniment} / {1 / w:g}"
        sets = [("drums", peak_normalise(drums), src)]
        if rec.accompaniment:
            sets.append(("mixes", mix_minus_one(drums, acc), f"{src} as drums + {rec.accompaniment}"))
        for set_name, audio, what in sets:
            _write_wav(out / set_name / f"{rec.clip}.wav", audio)
            write_text_annotations(out / set_name / f"{rec.clip}.tsv", labels)
            row = {"clip": rec.clip, "set": set_name, "drummer": rec.drummer, "source": what,
                   "duration_s": round(len(audio) / SAMPLE_RATE, 3),
                   "tempo_bpm": "" if rec.tempo_bpm is None else rec.tempo_bpm}
            rows.append(row)
            if progress is not None:
                progress(row)
    rows.sort(key=lambda r: (r["set"], r["clip"]))
    with atomic_write(out / "manifest.csv", "w") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    with atomic_write(out / "README.txt", "w") as fh:
        fh.write(README_TEXT)
    return rows
