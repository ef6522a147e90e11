"""Ground-truth onset annotations: the one place that reads and writes them.

Formats, chosen by extension:

``.mid`` / ``.midi``
    General MIDI drum notes (any channel), mapped to classes through the
    vocabulary's GM table. Note-ons with velocity 0 are note-offs.
``.tsv`` / ``.txt``
    One onset per line: ``time_seconds<TAB>class_name`` or
    ``time_seconds<TAB>gm_note``; optional third column velocity. Blank lines
    and lines starting with ``#`` are ignored. Whitespace other than tabs is
    accepted as a separator.

Annotations are returned as :class:`Annotations`: a sorted onset time array per
class, for the classes the caller asks for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .errors import AnnotationError
from .vocabulary import GM_TO_CLASS, CLASS_NAMES, is_known

ANNOTATION_EXTENSIONS = (".mid", ".midi", ".tsv", ".txt")


@dataclass
class Annotations:
    """Reference onsets per class.

    Attributes
    ----------
    onsets : dict of str -> np.ndarray
        Sorted onset times in seconds for each class (possibly empty).
    velocities : dict of str -> np.ndarray
        MIDI velocities (1..127) aligned with ``onsets``; 100 when unknown.
    source : str
        The file they were read from.
    """

    onsets: Dict[str, np.ndarray]
    velocities: Dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def times(self, name: str) -> np.ndarray:
        """Onset times of class ``name`` (empty if none)."""
        return self.onsets.get(name, np.zeros(0))

    def restricted(self, classes: Sequence[str], groups: Optional[Dict[str, List[str]]] = None) -> "Annotations":
        """Annotations for ``classes`` only; ``groups`` maps a new name to member classes."""
        out, vel = {}, {}
        for c in classes:
            members = (groups or {}).get(c, [c])
            ts = [self.onsets.get(m, np.zeros(0)) for m in members]
            vs = [self.velocities.get(m, np.full(len(t), 100)) for m, t in zip(members, ts)]
            t = np.concatenate(ts) if ts else np.zeros(0)
            v = np.concatenate(vs) if vs else np.zeros(0, int)
            order = np.argsort(t, kind="stable")
            out[c], vel[c] = t[order], v[order]
        return Annotations(out, vel, self.source)


MAX_ANNOTATION_BYTES = 64 * 1024 * 1024
"""Larger annotation files are refused before reading."""


def suspicious_annotations(ann: "Annotations", duration: float, name="") -> Tuple[List[str], Optional[str]]:
    """What looks wrong in ground truth for ``duration`` seconds of audio.

    Returns
    -------
    warnings : list of str
        Onsets beyond the end of the audio; duplicated onsets (same class,
        within 1 ms).
    error : str or None
        Set when every onset lies beyond the audio, mostly because the times
        are in milliseconds: the file cannot be used.

    Examples
    --------
    >>> a = Annotations({"kick": np.array([500.0, 1000.0])}, {}, "x.tsv")
    >>> suspicious_annotations(a, 10.0)[1]
    'all 2 onsets lie after the end of the audio (10.00 s; the last at 1000.00 s): are the times in milliseconds? annotation times are in seconds'
    """
    times = [np.asarray(t, dtype=np.float64) for t in ann.onsets.values()]
    alltimes = np.concatenate(times) if times else np.zeros(0)
    warnings: List[str] = []
    if alltimes.size == 0:
        return warnings, None
    late = alltimes > duration + 0.05
    if late.all():
        hint = (" are the times in milliseconds? annotation times are in seconds"
                if alltimes.max() > 100 * max(duration, 1e-9) / 2 else
                " is this the ground truth of another song?")
        return warnings, (f"all {alltimes.size} onsets lie after the end of the audio "
                          f"({duration:.2f} s; the last at {alltimes.max():.2f} s):{hint}")
    if late.any():
        warnings.append(f"{int(late.sum())} of {alltimes.size} onsets lie after the end of the "
                        f"audio ({duration:.2f} s; the last at {alltimes.max():.2f} s) and can never "
                        "be matched; is this the ground truth of this song?")
    dups = sum(int((np.diff(np.sort(t)) < 1e-3).sum()) for t in times if t.size > 1)
    if dups:
        warnings.append(f"{dups} duplicated onsets (same class within 1 ms); each copy counts as "
                        "a separate hit to find: remove the duplicates")
    return warnings, None


def _finish(events: Dict[str, List[Tuple[float, int]]], source: str) -> Annotations:
    onsets, vels = {}, {}
    for name, evs in events.items():
        evs.sort()
        onsets[name] = np.array([t for t, _ in evs], dtype=np.float64)
        vels[name] = np.array([v for _, v in evs], dtype=np.int64)
    return Annotations(onsets, vels, source)


def read_midi_annotations(path, strict: bool = True) -> Annotations:
    """Read General MIDI drum onsets from a MIDI file.

    Parameters
    ----------
    path : path-like
        A standard MIDI file.
    strict : bool
        If true, a note that is not a known GM drum note is an error; else it
        is skipped.

    Raises
    ------
    AnnotationError
        If the file is not a MIDI file, or (strict) holds unknown drum notes.
    """
    import mido

    import io

    from .io import read_bounded

    path = Path(path)
    data = read_bounded(path, MAX_ANNOTATION_BYTES, AnnotationError, "annotation file")
    try:
        mid = mido.MidiFile(file=io.BytesIO(data))
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError...
        raise AnnotationError(f"{path}: not a readable MIDI file ({exc})") from None
    events: Dict[str, List[Tuple[float, int]]] = {}
    t = 0.0
    try:
        for msg in mid:  # merged tracks, times in seconds
            t += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                name = GM_TO_CLASS.get(msg.note)
                if name is None:
                    if strict:
                        raise AnnotationError(
                            f"{path}: note {msg.note} at {t:.3f} s is not a General MIDI drum "
                            "note drumscribe knows; map it to a GM drum note or remove it"
                        )
                    continue
                events.setdefault(name, []).append((t, int(msg.velocity)))
    except AnnotationError:
        raise
    except Exception as exc:
        raise AnnotationError(f"{path}: cannot read MIDI events ({exc})") from None
    return _finish(events, str(path))


def read_text_annotations(path) -> Annotations:
    """Read ``time<TAB>class_or_note[<TAB>velocity]`` lines.

    Raises
    ------
    AnnotationError
        Naming the file and line, for a bad time, unknown class or note.
    """
    from .io import read_bounded

    path = Path(path)
    data = read_bounded(path, MAX_ANNOTATION_BYTES, AnnotationError, "annotation file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not a UTF-8 text file; annotations must be "
                              "'time<TAB>class' lines") from None
    events: Dict[str, List[Tuple[float, int]]] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) < 2:
            raise AnnotationError(f"{path}:{lineno}: expected 'time<TAB>class', got {line!r}")
        try:
            t = float(parts[0])
        except ValueError:
            raise AnnotationError(f"{path}:{lineno}: onset time {parts[0]!r} is not a number "
                                  "(times are in seconds)") from None
        if not np.isfinite(t) or t < 0:
            raise AnnotationError(f"{path}:{lineno}: onset time {parts[0]} must be a finite "
                                  "number of seconds >= 0")
        label = parts[1]
        if label.lstrip("-").isdigit():
            name = GM_TO_CLASS.get(int(label))
            if name is None:
                raise AnnotationError(f"{path}:{lineno}: MIDI note {label} is not a known "
                                      "General MIDI drum note")
        elif is_known(label):
            name = label
        else:
            raise AnnotationError(f"{path}:{lineno}: unknown class {label!r}; use one of "
                                  f"{', '.join(CLASS_NAMES)} or a GM note number")
        vel = 100
        if len(parts) >= 3:
            try:
                vel = int(float(parts[2]))
            except ValueError:
                raise AnnotationError(f"{path}:{lineno}: velocity {parts[2]!r} is not a number") from None
            if not 0 < vel < 128:
                raise AnnotationError(f"{path}:{lineno}: velocity {vel} outside 1..127")
        events.setdefault(name, []).append((t, vel))
    return _finish(events, str(path))


def read_annotations(path, strict: bool = True) -> Annotations:
    """Read an annotation file, choosing the reader by extension.

    Raises
    ------
    AnnotationError
        If the extension is unknown or the file is malformed.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext in (".mid", ".midi"):
        return read_midi_annotations(path, strict=strict)
    if ext in (".tsv", ".txt"):
        return read_text_annotations(path)
    raise AnnotationError(f"{path}: unknown annotation format {ext!r}; use "
                          f"{', '.join(ANNOTATION_EXTENSIONS)}")


def find_annotation(audio_path) -> Optional[Path]:
    """The annotation file next to an audio file (same stem), or None."""
    audio_path = Path(audio_path)
    for ext in ANNOTATION_EXTENSIONS:
        cand = audio_path.with_suffix(ext)
        if cand.exists() and cand != audio_path:
            return cand
    return None


def write_text_annotations(path, onsets: Iterable[Tuple[float, str, int]]) -> None:
    """Write ``(time, class, velocity)`` triples as a ``.tsv`` annotation file, atomically."""
    from .io import atomic_write

    rows = sorted(onsets)
    with atomic_write(path, "w") as fh:
        for t, name, vel in rows:
            fh.write(f"{t:.6f}\t{name}\t{int(vel)}\n")
