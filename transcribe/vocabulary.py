"""The drum vocabulary: output classes in model order and their General MIDI notes.

This module is the single definition of the drum classes. Everything else (the
model's output layer, annotation readers, MIDI export, calibration) takes a class
list as an argument and uses the helpers here to map between names and notes, so
a checkpoint that carries another class list (the seed's models had 11 outputs)
works everywhere.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from .errors import VocabularyError


class DrumClass(NamedTuple):
    """One drum class.

    Attributes
    ----------
    name : str
        Identifier used in configs, calibration files and annotations.
    gm_note : int
        General MIDI percussion note written for this class by default.
    gm_inputs : tuple of int
        General MIDI notes that map onto this class when reading annotations.
    group : str
        Coarse group used for the five-group evaluation (kick, snare, toms,
        hihat, cymbals).
    core : bool
        Whether the class is a core class for rhythm games.
    """

    name: str
    gm_note: int
    gm_inputs: Tuple[int, ...]
    group: str
    core: bool


DRUM_CLASSES: Tuple[DrumClass, ...] = (
    DrumClass("kick", 36, (35, 36), "kick", True),
    DrumClass("snare_head", 38, (38,), "snare", True),
    DrumClass("snare_rim", 40, (40,), "snare", True),
    DrumClass("side_stick", 37, (37,), "snare", False),
    DrumClass("hihat_closed", 42, (42,), "hihat", True),
    DrumClass("hihat_pedal", 44, (44,), "hihat", True),
    DrumClass("hihat_open", 46, (46,), "hihat", True),
    DrumClass("floor_tom", 43, (41, 43), "toms", False),
    DrumClass("high_mid_tom", 48, (45, 47, 48, 50), "toms", False),
    DrumClass("ride", 51, (51, 59), "cymbals", True),
    DrumClass("ride_bell", 53, (53,), "cymbals", False),
    DrumClass("crash", 49, (49, 52, 55, 57), "cymbals", False),
)
"""The 12 classes of the default model, in model output order."""

CLASS_NAMES: Tuple[str, ...] = tuple(c.name for c in DRUM_CLASSES)
"""Names of :data:`DRUM_CLASSES` in model order."""

GROUPS: Tuple[str, ...] = ("kick", "snare", "toms", "hihat", "cymbals")
"""The five coarse groups used for evaluation on unseen kits."""

_BY_NAME: Dict[str, DrumClass] = {c.name: c for c in DRUM_CLASSES}

GM_TO_CLASS: Dict[int, str] = {
    note: c.name for c in DRUM_CLASSES for note in c.gm_inputs
}
"""General MIDI note -> class name, for reading annotations."""


def drum_class(name: str) -> DrumClass:
    """Return the :class:`DrumClass` called ``name``.

    Raises
    ------
    VocabularyError
        If ``name`` is not a known class.
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise VocabularyError(
            f"unknown drum class {name!r}; known classes: {', '.join(CLASS_NAMES)}"
        ) from None


def is_known(name: str) -> bool:
    """Whether ``name`` is one of the vocabulary's classes."""
    return name in _BY_NAME


def is_core(name: str) -> bool:
    """Whether ``name`` is a core class for rhythm games.

    Core classes are kick, snare (head and rim), hi-hats and ride. Unknown
    classes (from a custom checkpoint) are not core.
    """
    c = _BY_NAME.get(name)
    return bool(c and c.core)


def group_of(name: str) -> Optional[str]:
    """Coarse group of a class, or None for a class outside the vocabulary."""
    c = _BY_NAME.get(name)
    return c.group if c else None


def default_note_map(classes: Sequence[str]) -> Dict[str, int]:
    """General MIDI output notes for ``classes``.

    Parameters
    ----------
    classes : sequence of str
        Class names, e.g. a checkpoint's class list.

    Raises
    ------
    VocabularyError
        If a class has no default General MIDI note (a custom class must be
        given a note in ``export.note_map``).
    """
    out = {}
    for name in classes:
        if name not in _BY_NAME:
            raise VocabularyError(
                f"class {name!r} has no default General MIDI note; "
                "give it one in the config under export.note_map"
            )
        out[name] = _BY_NAME[name].gm_note
    return out


def gm_note_to_class(note: int, classes: Optional[Iterable[str]] = None) -> Optional[str]:
    """Map a General MIDI drum note to a class name.

    Parameters
    ----------
    note : int
        MIDI note number.
    classes : iterable of str, optional
        Restrict to these classes; a note whose class is not among them maps to
        None.

    Returns
    -------
    str or None
        The class name, or None when the note is not a known drum note.
    """
    name = GM_TO_CLASS.get(int(note))
    if name is None:
        return None
    if classes is not None and name not in set(classes):
        return None
    return name


def validate_classes(classes: Sequence[str]) -> List[str]:
    """Check a class list: non-empty, unique, string names.

    Returns
    -------
    list of str
        The same names as a list.

    Raises
    ------
    VocabularyError
        If the list is empty, has duplicates or non-string entries.
    """
    classes = list(classes)
    if not classes:
        raise VocabularyError("class list is empty")
    if any(not isinstance(c, str) or not c for c in classes):
        raise VocabularyError(f"class names must be non-empty strings, got {classes!r}")
    if len(set(classes)) != len(classes):
        raise VocabularyError(f"class list has duplicates: {classes!r}")
    return classes
