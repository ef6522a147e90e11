"""Onsets -> a General MIDI drum file (mido): one track on channel 10.

The file holds a tempo event (120 BPM unless told otherwise), a track name, one
note per onset with its velocity and a short fixed duration, and text events
recording the threshold of every class and where it came from. Writing is
atomic and deterministic (the same onsets give the same bytes).
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import mido

from .errors import VocabularyError
from .hookspecs import Onset
from .vocabulary import default_note_map, is_known

DRUM_CHANNEL = 9  # channel 10, counted from 1
TICKS_PER_BEAT = 480


def resolve_note_map(classes: Sequence[str], overrides: Optional[Mapping[str, int]] = None,
                     groups: Optional[Mapping[str, Sequence[str]]] = None) -> Dict[str, int]:
    """Output note for each class (or group) in ``classes``.

    A class takes ``overrides[name]``, else its General MIDI note; a group takes
    ``overrides[group]``, else its first member's note.

    Raises
    ------
    VocabularyError
        If a class has no note.
    """
    overrides = dict(overrides or {})
    groups = dict(groups or {})
    out = {}
    for c in classes:
        if c in overrides:
            out[c] = int(overrides[c])
        elif c in groups:
            first = groups[c][0]
            out[c] = int(overrides.get(first, default_note_map([first])[first]))
        elif is_known(c):
            out[c] = default_note_map([c])[c]
        else:
            raise VocabularyError(f"class {c!r} has no MIDI note; give it one in the config "
                                  "under export.note_map")
    return out


def onsets_to_midi(onsets: Sequence[Onset], note_map: Mapping[str, int], bpm: float = 120.0,
                   note_duration_ms: float = 50.0, metadata: Sequence[str] = (),
                   track_name: str = "Drums") -> mido.MidiFile:
    """Build a MIDI file from onsets.

    Parameters
    ----------
    onsets : sequence of Onset
    note_map : mapping of class -> MIDI note
    bpm : float
        Tempo written to the file (times are exact whatever the tempo).
    note_duration_ms : float
        Length of every note; shortened so a note ends before the next hit of
        the same note.
    metadata : sequence of str
        Lines stored as text meta events at time 0.
    track_name : str
    """
    ticks_per_s = TICKS_PER_BEAT * bpm / 60.0
    dur = max(1, int(round(note_duration_ms / 1000.0 * ticks_per_s)))
    events = []  # (tick, order, message)
    vel_of: Dict[tuple, int] = {}  # (note, tick) -> loudest velocity of the hits there
    for o in onsets:
        key = (int(note_map[o.drum]), int(round(o.time * ticks_per_s)))
        vel_of[key] = max(int(o.velocity), vel_of.get(key, 0))
    by_note: Dict[int, List[int]] = {}
    for note, tick in vel_of:
        by_note.setdefault(note, []).append(tick)
    for note, ticks in by_note.items():
        ticks.sort()
        for i, t in enumerate(ticks):
            end = t + dur if i + 1 == len(ticks) else min(t + dur, ticks[i + 1])
            vel = min(127, max(1, vel_of[(note, t)]))
            events.append((t, 1, note, mido.Message("note_on", channel=DRUM_CHANNEL, note=note, velocity=vel)))
            events.append((end, 0, note, mido.Message("note_off", channel=DRUM_CHANNEL, note=note, velocity=0)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("track_name", name=track_name, time=0))
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    for line in metadata:
        track.append(mido.MetaMessage("text", text=str(line)[:1000], time=0))
    now = 0
    for tick, _, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return mid


def write_midi(path, mid: mido.MidiFile) -> None:
    """Write ``mid`` to ``path`` atomically (temporary file, then rename)."""
    from .io import atomic_write

    with atomic_write(path, "wb") as fh:
        mid.save(file=fh)


def threshold_metadata(thresholds: Mapping[str, float], sources: Mapping[str, str]) -> List[str]:
    """Text lines ``drumscribe threshold <class> = <value> (<source>)`` for the MIDI file."""
    return [f"drumscribe threshold {c} = {thresholds[c]:.4f} ({sources.get(c, '?')})"
            for c in thresholds]
