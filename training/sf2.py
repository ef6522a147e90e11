"""Minimal SoundFont (SF2/SF3) preset-header reader.

Only the ``phdr`` chunk of the ``pdta`` list is read: it names every preset
with its bank and program number, which is all the corpus generator needs to
find the drum kits (bank 128) of a SoundFont.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import List, NamedTuple

from drumscribe.transcribe.errors import DrumscribeError

PHDR_RECORD = 38  # 20-byte name, preset, bank, bag index (H each), library, genre, morphology (I each)


class Preset(NamedTuple):
    """One SoundFont preset header."""

    name: str
    bank: int
    program: int


def _chunks(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        cid = data[pos:pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4:pos + 8])
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)


def read_presets(path) -> List[Preset]:
    """List the presets of a SoundFont file.

    Parameters
    ----------
    path : path-like
        An ``.sf2`` or ``.sf3`` file.

    Returns
    -------
    list of Preset
        Every preset except the terminal ``EOP`` record, in file order.

    Raises
    ------
    DrumscribeError
        If the file is not a RIFF ``sfbk`` file or has no ``phdr`` chunk.
    """
    path = Path(path)
    data = path.read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise DrumscribeError(f"{path}: not a SoundFont (RIFF sfbk) file")
    for cid, off, size in _chunks(data, 12, len(data)):
        if cid == b"LIST" and data[off:off + 4] == b"pdta":
            for sub, soff, ssize in _chunks(data, off + 4, off + size):
                if sub == b"phdr":
                    out = []
                    n = ssize // PHDR_RECORD
                    for i in range(n - 1):  # last record is EOP
                        rec = data[soff + i * PHDR_RECORD: soff + (i + 1) * PHDR_RECORD]
                        name = rec[:20].split(b"\0", 1)[0].decode("latin-1").strip()
                        program, bank = struct.unpack("<HH", rec[20:24])
                        out.append(Preset(name, bank, program))
                    return out
    raise DrumscribeError(f"{path}: no phdr chunk (damaged SoundFont?)")


def drum_presets(path) -> List[Preset]:
    """The drum-kit presets (bank 128) of a SoundFont, sound-effect kits excluded."""
    return [p for p in read_presets(path)
            if p.bank == 128 and "sfx" not in p.name.lower() and "effect" not in p.name.lower()]
