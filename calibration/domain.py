"""The domain guard: what the calibration material looked like, and whether a song does.

Thresholds fitted on drum-only recordings do not hold on full mixes (the
model's peaks are lower there), so a calibration file stores a compact
description of its material and ``transcribe`` compares each song with it.

Per file, :func:`audio_features` measures (on at most ``MAX_SECONDS`` of
audio, at 22.05 kHz):

``tonal``
    Median over frames of the share of 1-5 kHz energy that is *tonal*: in
    bins that are a local maximum along frequency, at least ``TONAL_PEAK_DB``
    above the median of their neighbourhood, and sustained for about half a
    second. Drum-only recordings are mostly decaying transients (ENST-Drums
    phrases: 0.05-0.3); a mix adds sustained partials (ENST minus-one mixes:
    0.55-0.9).
``bandwidth_hz``
    Highest frequency of the long-term spectrum within 60 dB of its maximum
    (low after lossy coding or a low-pass).
``loudness_dbfs``
    RMS level of the loudest half of 100 ms blocks, in dB full scale.

and :func:`activation_features` measures, per class, ``peak_level``: the 90th
percentile of the heights of the picker-style candidate peaks above 0.1
(None with fewer than 5 such peaks).

:func:`profile` summarises the files (smallest, median and largest value per
feature, and ``material``: "drums-only" when the median tonal share is below
``MIX_TONAL``); :func:`check` names what a song has out of that range.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

SAMPLE_RATE = 22050
MAX_SECONDS = 30.0
N_FFT = 2048
HOP = 512
TONAL_PEAK_DB = 10.0
TONAL_BAND = (1000.0, 5000.0)
SUSTAIN_FRAMES = 21
"""A tonal peak must last about half a second (21 hops of 23 ms) to count."""
BANDWIDTH_DB = 60.0
MIX_TONAL = 0.45
"""Median tonal share from which calibration material counts as a mix (see docs/calibration.md)."""

PEAK_FLOOR = 0.1
MIN_PEAKS = 5
AUDIO_FEATURES = ("tonal", "bandwidth_hz", "loudness_dbfs")
MARGIN = {"tonal": 0.05, "bandwidth_hz": 1500.0, "loudness_dbfs": 6.0, "peak_level": 0.10}
"""Absolute slack beyond the calibration's range before a song is out of range."""


def _spectrogram(x: np.ndarray) -> np.ndarray:
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    n = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    frames = x[idx] * np.hanning(N_FFT).astype(np.float32)[None, :]
    return np.abs(np.fft.rfft(frames, axis=1)).astype(np.float32) ** 2  # (n, bins) power


def audio_features_of(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Optional[Dict[str, float]]:
    """Tonal share, bandwidth and loudness of mono samples (see the module docstring).

    Returns None for silence.
    """
    from scipy.ndimage import maximum_filter1d, median_filter

    x = np.asarray(samples, dtype=np.float32)
    if not x.size or not np.any(x):
        return None
    p = _spectrogram(x)
    if float(p.sum()) <= 0:
        return None
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate)
    db = 10 * np.log10(p + 1e-12)
    local_med = median_filter(db, size=(1, 31), mode="nearest")
    peak = (db >= maximum_filter1d(db, 5, axis=1)) & (db - local_med > TONAL_PEAK_DB)
    peak = maximum_filter1d(peak.astype(np.uint8), 3, axis=1)  # the peak's skirt
    sustained = median_filter(peak, size=(SUSTAIN_FRAMES, 1), mode="nearest").astype(bool)
    band = (freqs >= TONAL_BAND[0]) & (freqs <= TONAL_BAND[1])
    pb, sb = p[:, band], sustained[:, band]
    e = pb.sum(axis=1)
    ok = e > e.max() * 1e-4
    tonal = float(np.median((pb * sb).sum(axis=1)[ok] / e[ok])) if ok.any() else 0.0
    spec_db = 10 * np.log10(p.mean(axis=0) + 1e-20)
    bandwidth = float(freqs[np.flatnonzero(spec_db > spec_db.max() - BANDWIDTH_DB)[-1]])
    blk = int(0.1 * sample_rate)
    nb = max(1, x.size // blk)
    rms = (np.sqrt(np.mean(x[:nb * blk].reshape(nb, -1) ** 2, axis=1) + 1e-20) if x.size >= blk
           else np.sqrt(np.array([np.mean(x ** 2) + 1e-20])))
    loud = np.sort(rms)[len(rms) // 2:]
    loudness = float(20 * np.log10(np.sqrt(np.mean(loud ** 2)) + 1e-12))
    return {"tonal": round(tonal, 4), "bandwidth_hz": round(bandwidth, 1),
            "loudness_dbfs": round(loudness, 2)}


def audio_features(path, max_seconds: float = MAX_SECONDS) -> Optional[Dict[str, float]]:
    """:func:`audio_features_of` the first ``max_seconds`` of an audio file; None if unreadable."""
    from drumscribe.transcribe.audio import stream_audio
    from drumscribe.transcribe.errors import DrumscribeError

    try:
        blocks, n = [], 0
        for b in stream_audio(path, SAMPLE_RATE):
            blocks.append(b)
            n += b.size
            if n >= max_seconds * SAMPLE_RATE:
                break
    except (DrumscribeError, OSError):
        return None
    if not blocks:
        return None
    x = np.concatenate(blocks)[:int(max_seconds * SAMPLE_RATE)]
    return audio_features_of(x)


def activation_features(activations) -> Dict[str, Optional[float]]:
    """Per class, the 90th percentile of candidate peak heights above 0.1 (None if < 5 peaks)."""
    from drumscribe.plugins.peak_picking import candidate_peaks

    out = {}
    for j, c in enumerate(activations.classes):
        x = activations.values[:, j]
        h = x[candidate_peaks(x, 2)]
        h = h[h >= PEAK_FLOOR]
        out[c] = round(float(np.percentile(h, 90)), 4) if h.size >= MIN_PEAKS else None
    return out


class Collector:
    """Collects per-file features during a calibration sweep (``sweep(describe=...)``)."""

    def __init__(self, audio: bool = True):
        self.audio = audio
        self.files: List[dict] = []

    def __call__(self, item, activations, transformed) -> None:
        entry = {"group": str(getattr(item, "group", "")), "activations": activation_features(transformed)}
        src = activations.source or str(item.name)
        if self.audio and src and Path(src).suffix.lower() not in (".npz",) and Path(src).is_file():
            entry["audio"] = audio_features(src)
        self.files.append(entry)

    def profile(self) -> dict:
        return profile(self.files)


def _range(values: Sequence[float]) -> Optional[dict]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if not v.size:
        return None
    # the whole range: a file of the calibration material itself is never out of range
    return {"lo": round(float(v.min()), 4), "median": round(float(np.median(v)), 4),
            "hi": round(float(v.max()), 4), "n": int(v.size)}


def material_of(tonal_median: float) -> str:
    """"full mix" from :data:`MIX_TONAL` of median tonal share up, else "drums-only"."""
    return "drums-only" if tonal_median < MIX_TONAL else "full mix"


def group_materials(files: Sequence[dict]) -> Dict[str, str]:
    """The material of each data group, from the median tonal share of its files.

    Parameters
    ----------
    files : sequence of dict
        :class:`Collector` entries (``group`` and ``audio`` keys).

    Returns
    -------
    dict of str -> str
        Group -> "drums-only" or "full mix", for groups with measured audio.
    """
    tonal: Dict[str, List[float]] = {}
    for f in files:
        a = f.get("audio")
        if a and a.get("tonal") is not None and math.isfinite(a["tonal"]):
            tonal.setdefault(str(f.get("group", "")), []).append(float(a["tonal"]))
    return {g: material_of(float(np.median(v))) for g, v in tonal.items()}


def profile(files: Sequence[dict]) -> dict:
    """The calibration file's ``domain`` section from per-file features."""
    audio = [f.get("audio") for f in files if f.get("audio")]
    out: dict = {"files": len(files), "audio": {}, "activations": {}}
    for k in AUDIO_FEATURES:
        r = _range([a[k] for a in audio])
        if r:
            out["audio"][k] = r
    classes = list(dict.fromkeys(c for f in files for c in f.get("activations", {})))
    for c in classes:
        r = _range([f["activations"].get(c) for f in files])
        if r:
            out["activations"][c] = {"peak_level": r}
    tonal = out["audio"].get("tonal")
    out["material"] = "unknown (no audio measured)" if tonal is None else material_of(tonal["median"])
    return out


def _outside(value, r, margin) -> bool:
    return value is not None and r is not None and (value < r["lo"] - margin or value > r["hi"] + margin)


def check(domain: dict, audio: Optional[dict], act_feats: Dict[str, Optional[float]]) -> List[str]:
    """Phrases naming what a song has outside the calibration's range (empty: in range)."""
    if not domain:
        return []
    out = []
    dom_audio = domain.get("audio") or {}
    material = domain.get("material", "")
    if audio:
        t = dom_audio.get("tonal")
        if t and material == "drums-only" and audio["tonal"] >= MIX_TONAL and _outside(
                audio["tonal"], t, MARGIN["tonal"]):
            out.append(f"calibrated on drum-only recordings; this song is a full mix "
                       f"(tonal share {audio['tonal']:.2f}, calibration {t['lo']:.2f}-{t['hi']:.2f})")
        elif t and material == "full mix" and audio["tonal"] < MIX_TONAL and _outside(
                audio["tonal"], t, MARGIN["tonal"]):
            out.append(f"calibrated on full mixes; this song sounds drums-only "
                       f"(tonal share {audio['tonal']:.2f}, calibration {t['lo']:.2f}-{t['hi']:.2f})")
        elif t and _outside(audio["tonal"], t, MARGIN["tonal"]):
            out.append(f"tonal share {audio['tonal']:.2f} (calibration {t['lo']:.2f}-{t['hi']:.2f})")
        for k, unit in (("bandwidth_hz", " Hz"), ("loudness_dbfs", " dBFS")):
            r = dom_audio.get(k)
            if _outside(audio.get(k), r, MARGIN[k]):
                out.append(f"{k.split('_')[0]} {audio[k]:g}{unit} (calibration {r['lo']:g}-{r['hi']:g})")
    peaks = []
    for c, v in (act_feats or {}).items():
        r = ((domain.get("activations") or {}).get(c) or {}).get("peak_level")
        if _outside(v, r, MARGIN["peak_level"]):
            peaks.append(f"{c} {v:.2f} ({r['lo']:.2f}-{r['hi']:.2f})")
    if peaks:
        out.append("activation peak levels out of range: " + ", ".join(peaks))
    return out


def describe(domain: dict) -> List[str]:
    """Lines describing a ``domain`` section (for ``calibrate --report`` and the terminal)."""
    if not domain:
        return ["no domain description (calibration made before the domain guard)"]
    lines = [f"material: {domain.get('material', '?')} ({domain.get('files', '?')} files)"]
    for k, r in (domain.get("audio") or {}).items():
        lines.append(f"  {k:<14} median {r['median']:g}  range {r['lo']:g} .. {r['hi']:g}")
    acts = domain.get("activations") or {}
    if acts:
        lines.append("  activation peak level (90th percentile of peaks > 0.1) per class:")
        for c, d in acts.items():
            r = d["peak_level"]
            lines.append(f"    {c:<14} median {r['median']:.3f}  range {r['lo']:.3f} .. {r['hi']:.3f}"
                         f"  ({r['n']} files)")
    return lines
