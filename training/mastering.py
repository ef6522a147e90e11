"""Make a rendered mix sound like a record: mastering chain, band limits, lossy codecs.

None of these steps moves an onset: the filters are zero-phase, the dynamics
processors act on gain only, and a codec's delay is measured by cross-
correlation with its input and removed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Dict, Tuple

import numpy as np

SR = 44100


def lowpass(x: np.ndarray, cutoff_hz: float, order: int = 10) -> np.ndarray:
    """Steep zero-phase Butterworth low-pass (``order`` per pass, applied forwards and backwards)."""
    from scipy.signal import butter, sosfiltfilt

    if cutoff_hz >= SR / 2 * 0.99:
        return x.astype(np.float32)
    sos = butter(order, cutoff_hz, btype="low", fs=SR, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


def loudness_lufs(x: np.ndarray) -> float:
    """Integrated loudness (ITU-R BS.1770, pyloudnorm); -inf for silence."""
    import pyloudnorm

    if len(x) < SR // 2 or not np.any(x):
        return float("-inf")
    return float(pyloudnorm.Meter(SR).integrated_loudness(x.astype(np.float64)))


def master(x: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, Dict[str, float]]:
    """A random mastering chain: EQ tilt, bus compression, loudness to
    -14 ... -8 LUFS, limiting and soft clipping.

    Returns
    -------
    (np.ndarray, dict)
        The mastered mix and the parameters used.
    """
    import pedalboard as pb

    prm: Dict[str, float] = {}
    chain = []
    if rng.random() < 0.8:
        prm["low_shelf_db"] = float(rng.uniform(-4, 5))
        prm["high_shelf_db"] = float(rng.uniform(-6, 5))
        chain += [pb.LowShelfFilter(float(rng.uniform(80, 250)), prm["low_shelf_db"]),
                  pb.HighShelfFilter(float(rng.uniform(3000, 9000)), prm["high_shelf_db"])]
    if rng.random() < 0.8:
        prm["bus_comp_db"] = float(rng.uniform(-24, -10))
        chain.append(pb.Compressor(threshold_db=prm["bus_comp_db"], ratio=float(rng.uniform(1.5, 4)),
                                   attack_ms=float(rng.uniform(5, 30)), release_ms=float(rng.uniform(80, 300))))
    peak = float(np.abs(x).max()) + 1e-9
    y = (x / peak * 0.5).astype(np.float32)
    if chain:
        y = pb.Pedalboard(chain)(y[None, :], float(SR))[0].astype(np.float32)
    target = float(rng.uniform(-14, -8))
    prm["lufs_target"] = target
    lufs = loudness_lufs(y)
    if np.isfinite(lufs):
        y = y * float(10 ** ((target - lufs) / 20))
    drive = float(rng.uniform(1.0, 2.0)) if rng.random() < 0.5 else 0.0
    if drive:
        prm["soft_clip"] = drive
    ceiling = float(rng.uniform(-2, -0.3))
    release = float(rng.uniform(30, 200))
    src = y
    for _ in range(5):  # limiting changes the loudness: adjust the drive into it until the target holds
        z = (np.tanh(drive * src) / np.tanh(drive)).astype(np.float32) if drive else src
        z = pb.Limiter(threshold_db=ceiling, release_ms=release)(z[None, :].astype(np.float32), float(SR))[0]
        got = loudness_lufs(z)
        if not np.isfinite(got) or abs(got - target) < 1.0:
            break
        src = src * float(10 ** (float(np.clip(0.8 * (target - got), -12.0, 12.0)) / 20))
    return np.clip(np.nan_to_num(z), -1, 1).astype(np.float32), prm


def _align(ref: np.ndarray, y: np.ndarray, max_lag: int = 4096) -> np.ndarray:
    """``y`` shifted so that it lines up with ``ref`` (integer lag from cross-correlation)."""
    from scipy.signal import fftconvolve

    n = min(len(ref), len(y), SR * 10)
    a = ref[:n].astype(np.float64)
    b = np.concatenate([y[: n + max_lag].astype(np.float64), np.zeros(max(0, n + max_lag - len(y)))])
    xc = fftconvolve(b, a[::-1], mode="valid")  # xc[k] = sum a[i] b[i + k]
    lag = int(np.argmax(xc[: max_lag + 1]))
    out = y[lag:lag + len(ref)]
    if len(out) < len(ref):
        out = np.concatenate([out, np.zeros(len(ref) - len(out), np.float32)])
    return out.astype(np.float32)


def codec(x: np.ndarray, kind: str, quality: float) -> np.ndarray:
    """Encode and decode through a lossy codec, delay removed.

    Parameters
    ----------
    x : np.ndarray
        Mono float32 at 44.1 kHz.
    kind : str
        ``mp3`` (``lame``, ``quality`` = bitrate in kbps) or ``ogg`` (``oggenc``,
        ``quality`` = -1 ... 10).
    """
    import soundfile as sf

    with tempfile.TemporaryDirectory() as td:
        src = os.path.join(td, "in.wav")
        sf.write(src, np.clip(x, -1, 1), SR, subtype="PCM_16")
        if kind == "mp3":
            enc = os.path.join(td, "out.mp3")
            subprocess.run(["lame", "--quiet", "-b", str(int(quality)), src, enc], check=True, timeout=120)
            dec = os.path.join(td, "dec.wav")
            subprocess.run(["lame", "--quiet", "--decode", enc, dec], check=True, timeout=120)
        elif kind == "ogg":
            enc = os.path.join(td, "out.ogg")
            subprocess.run(["oggenc", "-Q", "-q", f"{quality:g}", "-o", enc, src], check=True, timeout=120)
            dec = enc
        else:
            raise ValueError(f"unknown codec {kind!r}")
        y, _ = sf.read(dec, dtype="float32", always_2d=True)
    return _align(x, y.mean(axis=1))


def record_chain(x: np.ndarray, rng: np.random.Generator, p_master: float = 0.75,
                 p_lowpass: float = 0.65, p_codec: float = 0.4) -> Tuple[np.ndarray, Dict[str, float]]:
    """Mastering, then a random steep low-pass (5-16 kHz), then a lossy codec, each at random.

    Returns
    -------
    (np.ndarray, dict)
        Audio and the parameters used.
    """
    prm: Dict[str, float] = {}
    if rng.random() < p_master:
        x, m = master(x, rng)
        prm.update(m)
    if rng.random() < p_lowpass:
        prm["lowpass_hz"] = float(np.exp(rng.uniform(np.log(5000), np.log(16000))))
        x = lowpass(x, prm["lowpass_hz"], order=int(rng.integers(6, 13)))
    if rng.random() < p_codec:
        if rng.random() < 0.6:
            prm["mp3_kbps"] = float(rng.choice([64, 96, 128, 160, 192, 256]))
            x = codec(x, "mp3", prm["mp3_kbps"])
        else:
            prm["ogg_q"] = float(rng.choice([-1, 0, 1, 2, 3, 5]))
            x = codec(x, "ogg", prm["ogg_q"])
    return x, prm
