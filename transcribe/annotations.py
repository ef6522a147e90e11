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

    path = Path(path)
    try:
        mid = mido.MidiFile(path)
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
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not a UTF-8 text file; annotations must be "
                              "'time<TAB>class' lines") from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror})") from None
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
