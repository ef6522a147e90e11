"""Audio input: any file soundfile reads (WAV, FLAC, OGG, MP3) as mono float32
blocks at the model's sample rate, streamed so an hour-long file never sits in
memory whole."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import AudioError
from .native import native_stderr_silenced

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff")
"""File extensions treated as audio when a folder is given."""

BLOCK_SECONDS = 10.0
MAX_CHANNELS = 64


@dataclass
class AudioInfo:
    """Facts about an audio file.

    Attributes
    ----------
    path : str
    sample_rate : int
    channels : int
    frames : int
        Samples per channel (0 if unknown).
    duration : float
        Seconds.
    format : str
    """

    path: str
    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str


def _open(path):
    import soundfile as sf

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: audio file not found; check the path")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes); re-export the audio")
    try:
        with native_stderr_silenced():  # the decoder's own "Note: ..." lines
            return sf.SoundFile(str(path))
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = msg.replace(f"Error opening {str(path)!r}: ", "")
        if "does not exist" in msg or "Format not recognised" in msg:  # libsndfile's generic text
            msg = "no audio stream in a known format was found"
        raise AudioError(f"{path}: not a readable audio file ({msg[:160]}); convert it to "
                         "WAV, FLAC, OGG or MP3") from None


def _wav_truncation(path: Path, fmt: str):
    """Check a RIFF/WAVE header: (declared, present) data bytes when the
    ``data`` chunk claims more bytes than the file holds, else None. libsndfile
    silently shortens such files, which would drop the end of a song."""
    if fmt != "WAV":
        return None
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        cid, n = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if cid == b"data":
            present = size - (pos + 8)
            # a few bytes short is writer sloppiness (odd padding), not a lost ending
            if n != 0xFFFFFFFF and n > present + 4096:
                return n, present
            return None
        pos += 8 + n + (n & 1)
    return None


def audio_info(path) -> AudioInfo:
    """Read an audio file's header.

    Raises
    ------
    AudioError
        If the file is missing, empty or not a supported audio format.
    """
    with _open(path) as f:
        return AudioInfo(str(path), f.samplerate, f.channels, max(0, f.frames),
                         max(0, f.frames) / f.samplerate if f.samplerate else 0.0, f.format)


def stream_audio(path, sample_rate: int, block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Yield mono float32 blocks of ``path`` resampled to ``sample_rate``.

    Channels are averaged; resampling uses soxr's streaming resampler, so the
    result is the same as resampling the whole file at once up to rounding.

    Raises
    ------
    AudioError
        If the file cannot be read, is truncated mid-way, or holds no samples.
    """
    import soxr

    path = Path(path)
    f = _open(path)
    with f:
        sr = f.samplerate
        if not sr or sr <= 0:
            raise AudioError(f"{path}: invalid sample rate {sr}")
        if f.channels < 1 or f.channels > MAX_CHANNELS:
            raise AudioError(f"{path}: {f.channels} channels is not supported (1..{MAX_CHANNELS})")
        cut = _wav_truncation(path, f.format)
        if cut is not None:
            raise AudioError(f"{path}: WAV file is truncated (data chunk declares {cut[0]} bytes, "
                             f"the file holds {cut[1]}); re-export or re-download it")
        rs = soxr.ResampleStream(sr, sample_rate, 1, dtype="float32") if sr != sample_rate else None
        blocksize = max(1024, int(block_seconds * sr))
        got = 0
        try:
            while True:
                data = f.read(blocksize, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                got += data.shape[0]
                mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
                if not np.isfinite(mono).all():
                    mono = np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0)
                last = data.shape[0] < blocksize
                out = rs.resample_chunk(mono, last=last) if rs is not None else mono.copy()
                if out.size:
                    yield out
                if last:
                    rs = None
                    break
        except AudioError:
            raise
        except Exception as exc:
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise AudioError(f"{path}: audio data is corrupt or truncated after {got / sr:.2f} s "
                             f"({msg[:120]}); re-export the file") from None
        if rs is not None:
            tail = rs.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if tail.size:
                yield tail
        if got == 0:
            raise AudioError(f"{path}: holds no audio samples (zero length); nothing to transcribe")


def load_audio(path, sample_rate: int) -> np.ndarray:
    """The whole file as one mono float32 array at ``sample_rate`` (for short files)."""
    blocks = list(stream_audio(path, sample_rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
