"""Audio input: any file soundfile reads (WAV, FLAC, OGG, MP3) as mono float32
blocks at the model's sample rate, streamed so an hour-long file never sits in
memory whole."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Sequence

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


MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768000
MAX_SAMPLE_VALUE = 1000.0
"""Float samples beyond this magnitude (60 dB over full scale) mean a damaged file."""


def _tags_only(path) -> bool:
    """Whether the file starts with a tag block (ID3, APE) rather than unknown bytes."""
    try:
        with open(os.fsencode(path), "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    return head.startswith((b"ID3", b"APETAGEX"))


def _open(path):
    import soundfile as sf

    from .io import check_regular

    path = Path(path)
    st = check_regular(path, AudioError, "audio file", "check the path")
    if st.st_size == 0:
        raise AudioError(f"{path}: file is empty (0 bytes); re-export the audio")
    try:
        # bytes: a file name in any encoding (undecodable bytes are surrogate escapes in str)
        with native_stderr_silenced():  # the decoder's own "Note: ..." lines
            return sf.SoundFile(os.fsencode(path))
    except Exception as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = re.sub(r"^Error opening .*?: ", "", msg)
        if "possibly a pipe" in msg or "does not exist" in msg or "Format not recognised" in msg:
            # libsndfile's generic texts: it found no stream it knows
            msg = ("no audio stream found: the file holds only tags or metadata" if _tags_only(path)
                   else "no audio stream in a known format was found")
        raise AudioError(f"{path}: not a readable audio file ({msg[:160]}); convert it to "
                         "WAV, FLAC, OGG or MP3") from None


def _wav_chunks(fh, size: int):
    """Yield ``(id, offset, declared size)`` of each RIFF chunk, by seeking (any
    number of chunks, wherever ``data`` starts)."""
    pos = 12
    for _ in range(100_000):
        if pos + 8 > size:
            return
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            return
        cid, n = head[:4], int.from_bytes(head[4:8], "little")
        yield cid, pos, n
        pos += 8 + n + (n & 1)


def _is_chunk_id(cid: bytes) -> bool:
    return len(cid) == 4 and all(32 <= b < 127 for b in cid)


def _wav_problem(path: Path, fmt: str):
    """What is wrong with a RIFF/WAVE file's ``data`` chunk size, or None.

    libsndfile silently shortens a file whose ``data`` chunk claims more bytes
    than it holds (a lost ending), and silently drops audio that follows a
    ``data`` chunk declaring too few (a header never finalised)."""
    if fmt != "WAV":
        return None
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            for cid, pos, n in _wav_chunks(fh, size):
                if cid != b"data":
                    continue
                present = size - (pos + 8)
                if n == 0xFFFFFFFF:
                    return None
                # a few bytes short is writer sloppiness (odd padding), not a lost ending
                if n > present + 4096:
                    return (f"WAV file is truncated (data chunk declares {n} bytes, the file "
                            f"holds {present}); re-export or re-download it")
                after = pos + 8 + n + (n & 1)
                junk = 0
                while after + 8 <= size:
                    fh.seek(after)
                    h = fh.read(8)
                    m = int.from_bytes(h[4:8], "little")
                    if not _is_chunk_id(h[:4]) or after + 8 + m > size + 1:
                        junk = size - after
                        break
                    after += 8 + m + (m & 1)
                if junk > 4096:
                    return (f"WAV header declares {n} bytes of audio, but {junk} more bytes "
                            "follow the data chunk (a header that was never finalised, as "
                            "after a crashed recording); re-export the file")
                return None
    except OSError:
        return None
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
        if not sr or not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
            raise AudioError(f"{path}: sample rate {sr} Hz is implausible (drumscribe reads "
                             f"{MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz); the header is damaged "
                             "or the file was exported wrongly: re-export it")
        if f.channels < 1 or f.channels > MAX_CHANNELS:
            raise AudioError(f"{path}: {f.channels} channels is not supported (1..{MAX_CHANNELS})")
        problem = _wav_problem(path, f.format)
        if problem is not None:
            raise AudioError(f"{path}: {problem}")
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
                peak = float(np.abs(mono).max()) if mono.size else 0.0
                if peak > MAX_SAMPLE_VALUE:
                    raise AudioError(f"{path}: sample values reach {peak:.3g} at "
                                     f"{got / sr:.2f} s, far outside [-1, 1] (float audio is "
                                     "normalised to ±1); the file is damaged: normalise or "
                                     "re-export it")
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


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:  # a name too long, a loop of links: the song's own error says so
        return False


def expand_inputs(inputs: Sequence[str]) -> List[Path]:
    """Files as given, folders expanded to the audio files inside (sorted, recursive)."""
    out: List[Path] = []
    for s in inputs:
        p = Path(s)
        if _is_dir(p):
            out.extend(sorted(q for q in p.rglob("*")
                              if q.is_file() and q.suffix.lower() in AUDIO_EXTENSIONS))
        else:
            out.append(p)
    return out
