"""A chart folder: notes.mid (or notes.chart), song.ini, song.ogg and album art.

:func:`write_chart_folder` checks every target before writing anything and
writes each file atomically, so a failure never leaves a partial folder. The
audio is written as OGG Vorbis (``song.ogg``, what Clone Hero and YARG play
best) with the tempo map's leading silence (:attr:`drumscribe.charts.tempo.TempoMap.pad_s`)
put in front, so tick 0 is a downbeat and the first note comes at least 2 s in.
"""

from __future__ import annotations

import contextlib
import shutil
import zlib
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from drumscribe.transcribe.errors import OutputError
from drumscribe.transcribe.io import atomic_write, check_writable, temp_prefix

from .chart import PLAYABLE_AUDIO, Chart
from .chart_format import chart_text
from .mid_format import notes_mid
from .song_ini import song_ini_text

OGG_RATE = 44100


def chart_files(folder: Path, audio_path=None, chart_format: str = "mid",
                art_ext: Optional[str] = None) -> Dict[str, Path]:
    """The paths the chart folder will hold: ``notes.mid`` or ``notes.chart``
    (never both: the games load notes.mid and ignore the other), ``song.ini``,
    ``song.ogg`` when there is audio and ``album.<ext>`` when there is art."""
    folder = Path(folder)
    out = {chart_format: folder / f"notes.{chart_format}", "ini": folder / "song.ini"}
    if audio_path is not None:
        out["audio"] = folder / "song.ogg"
    if art_ext:
        out["art"] = folder / f"album{art_ext}"
    return out


def ogg_bytes(audio_path, pad_s: float = 0.0, tmp_dir=None) -> bytes:
    """The audio file as OGG Vorbis bytes (channels and rate kept, 44.1 kHz when the
    decoder only gives the model's mono stream), ``pad_s`` seconds of silence first.

    The encoder writes into a temporary file (in ``tmp_dir``, named like the
    temporaries of ``song.ogg`` so that a rerun removes one a kill left), by
    file descriptor: libsndfile then never calls back into Python. Encoding
    into a Python file object would run a callback per block, and a signal
    arriving inside one is swallowed by the callback (the block is lost, the
    file is corrupt, and the batch goes on as if nothing happened).

    Raises
    ------
    OutputError
        If the audio cannot be decoded or encoded.
    """
    import os
    import tempfile

    import soundfile as sf

    try:
        data, rate = sf.read(str(audio_path), dtype="float32", always_2d=True)
    except Exception:  # formats libsndfile cannot read: our own decoder (mono)
        from drumscribe.transcribe.audio import load_audio
        try:
            data, rate = load_audio(audio_path, OGG_RATE)[:, None], OGG_RATE
        except Exception as exc:
            raise OutputError(f"{audio_path}: cannot decode the audio for song.ogg ({exc})") from None
    if pad_s > 0:
        data = np.concatenate([np.zeros((int(round(pad_s * rate)), data.shape[1]), np.float32), data])
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix("song.ogg"), suffix=".part", dir=tmp_dir)
    except OSError as exc:
        raise OutputError(f"{tmp_dir or tempfile.gettempdir()}: cannot write song.ogg there "
                          f"({exc.strerror}); choose a writable output folder") from None
    try:
        with os.fdopen(fd, "w+b") as fh:
            try:
                write_ogg(fh.fileno(), data, int(rate))
            except Exception as exc:
                raise OutputError(f"cannot encode song.ogg ({exc}); libsndfile needs Vorbis "
                                  "support") from None
            fh.seek(0)
            raw = fh.read()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return set_ogg_serial(raw, zlib.crc32(data.tobytes()))


_BITREV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _ogg_crc(page: bytes) -> int:
    """The Ogg page checksum (CRC-32, polynomial 0x04c11db7, not reflected, init 0), by
    zlib's reflected CRC-32 over the bit-reversed bytes."""
    raw = zlib.crc32(page.translate(_BITREV), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def set_ogg_serial(ogg: bytes, serial: int) -> bytes:
    """``ogg`` with every page's stream serial number set to ``serial`` (checksums
    recomputed).

    libsndfile picks a random serial number per file, so the same audio would
    give different bytes on every run; with the serial taken from the audio, a
    rerun writes a byte-identical song.ogg. Input that is not a chain of Ogg
    pages is returned unchanged.
    """
    out = bytearray(ogg)
    serial_b = (int(serial) & 0xFFFFFFFF).to_bytes(4, "little")
    pos = 0
    while pos + 27 <= len(out):
        if out[pos:pos + 4] != b"OggS":
            return bytes(ogg)
        nseg = out[pos + 26]
        size = 27 + nseg + sum(out[pos + 27:pos + 27 + nseg])
        if pos + size > len(out):
            return bytes(ogg)
        out[pos + 14:pos + 18] = serial_b
        out[pos + 22:pos + 26] = b"\0\0\0\0"
        out[pos + 22:pos + 26] = _ogg_crc(bytes(out[pos:pos + size])).to_bytes(4, "little")
        pos += size
    return bytes(out) if pos == len(out) else bytes(ogg)


def write_ogg(target, data: np.ndarray, rate: int, block: int = 16384) -> None:
    """Encode ``data`` (frames[, channels]) as OGG Vorbis into a path, an open file
    descriptor (left open) or a file object.

    Written in blocks: libsndfile 1.2's Vorbis encoder crashes on one large write
    (a minute of audio or more).
    """
    import soundfile as sf

    data = np.asarray(data, dtype=np.float32)
    data = data[:, None] if data.ndim == 1 else data
    kw = {"closefd": False} if isinstance(target, int) else {}
    with sf.SoundFile(target, "w", int(rate), data.shape[1], format="OGG", subtype="VORBIS", **kw) as f:
        for i in range(0, len(data), block):
            f.write(data[i:i + block])


def write_chart_folder(folder, chart: Chart, audio_path=None, overwrite: bool = False,
                       chart_format: str = "mid", album_art=None) -> List[str]:
    """Write the chart, song.ini, song.ogg and album art into ``folder``.

    Parameters
    ----------
    folder : path
    chart : Chart
    audio_path : path, optional
        Encoded to ``song.ogg`` with ``chart.tempo_map.pad_s`` of leading silence.
    overwrite : bool
    chart_format : ``"mid"`` or ``"chart"``
    album_art : (bytes, ext), optional
        From :func:`drumscribe.charts.metadata.read_tags`.

    Raises
    ------
    OutputError
        If a file exists (and not ``overwrite``) or the folder is not writable.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the chart folder ({exc.strerror})") from None
    files = chart_files(folder, audio_path, chart_format, album_art[1] if album_art else None)
    for p in files.values():
        check_writable(p, overwrite)
    audio = ogg_bytes(audio_path, chart.tempo_map.pad_s, folder) if audio_path is not None else None
    if chart_format == "mid":
        with atomic_write(files["mid"], "wb") as fh:
            notes_mid(chart).save(file=fh)
    else:
        with atomic_write(files["chart"], "wb") as fh:
            fh.write(chart_text(chart).encode("utf-8"))
    with atomic_write(files["ini"], "wb") as fh:
        fh.write(song_ini_text(chart).encode("utf-8"))
    if audio is not None:
        with atomic_write(files["audio"], "wb") as fh:
            fh.write(audio)
    if album_art:
        with atomic_write(files["art"], "wb") as fh:
            fh.write(album_art[0])
    return [str(p) for p in files.values()]


def copy_file(src, dst) -> None:
    """Copy ``src`` to ``dst`` atomically."""
    with open(src, "rb") as fh_in, atomic_write(dst, "wb") as fh:
        shutil.copyfileobj(fh_in, fh, 1 << 20)


def audio_warning(audio_path) -> Optional[str]:
    """A warning when the input's format is not one the games play (it is re-encoded
    as song.ogg anyway; the warning only says so)."""
    ext = Path(audio_path).suffix.lower()
    if ext not in PLAYABLE_AUDIO:
        return f"the audio ({ext}) is re-encoded as song.ogg for the games"
    return None
