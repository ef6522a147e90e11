"""MuldjordKit: a recorded multi-microphone Tama kit (CC BY 4.0) as sample kits.

The kit (``github:sfzinstruments/DrumGizmo.MuldjordKit``) holds, for every
hit of every kit piece, one mono FLAC per microphone: close microphones
(kick L/R, snare top/bottom, hi-hat, four toms, ride L/R), overheads L/R and
ambience L/R, all sample-aligned. A *mic mix* gives each microphone a gain; a
hit's sample is the sum of its microphone files under that mix, so every hit
carries the bleed of every microphone, as in a studio recording. Each
:func:`mic_mix` variant becomes one :class:`~drumscribe.training.kits.Kit`
(``muldjord:<i>``).

Kit pieces and classes:

===========================  ==============
folder                       class
===========================  ==============
KdrumL, KdrumR               kick (two voices)
Snare                        snare_head
HihatClosed                  hihat_closed
HihatOpen                    hihat_open
Tom1, Tom2, Tom3             high_mid_tom (three voices)
Tom4                         floor_tom
RideL, RideR                 ride (two voices)
RideLBell, RideRBell         ride_bell (two voices)
CrashL, CrashR, China        crash (three voices)
===========================  ==============

``SnareRest`` (a damped snare) and the ``Trigger`` channel are left out.
Velocity layers follow the files' own loudness (the kit's samples keep their
natural dynamics).
"""

from __future__ import annotations

import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

PIECES: Dict[str, str] = {
    "KdrumL": "kick", "KdrumR": "kick", "Snare": "snare_head",
    "HihatClosed": "hihat_closed", "HihatOpen": "hihat_open",
    "Tom1": "high_mid_tom", "Tom2": "high_mid_tom", "Tom3": "high_mid_tom", "Tom4": "floor_tom",
    "RideL": "ride", "RideR": "ride", "RideLBell": "ride_bell", "RideRBell": "ride_bell",
    "CrashL": "crash", "CrashR": "crash", "China": "crash",
}
CLOSE_MICS = ("KdrumL", "KdrumR", "Snare_top", "Snare_bottom", "Hihat", "Tom1", "Tom2", "Tom3",
              "Tom4", "RideL", "RideR")
ROOM_MICS = ("OHL", "OHR", "AmbL", "AmbR")
N_VARIANTS = 10
"""Mic-mix variants in the registry (``muldjord:0`` ... ``muldjord:9``)."""


def samples_dir(root) -> Path:
    """The ``Samples`` folder under a MuldjordKit copy (the root or any parent)."""
    root = Path(root)
    for cand in (root, root / "Samples", root / "DrumGizmo" / "MuldjordKit" / "Samples"):
        if (cand / "Snare").is_dir():
            return cand
    raise FileNotFoundError(f"{root}: no MuldjordKit Samples folder; run "
                            "scripts/make_corpus.py --muldjord-from-git GIT_DIR to extract it")


def extract(git_dir, out_dir) -> Path:
    """Extract the samples of a fetched MuldjordKit git snapshot to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(git_dir), "archive", "HEAD", "DrumGizmo/MuldjordKit/Samples",
                              "LICENSE", "README.md"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out_dir)], input=archive, check=True)
    return samples_dir(out_dir)


def mic_mix(index: int) -> Dict[str, float]:
    """Microphone gains (linear) of variant ``index`` (deterministic).

    Variant 0 is close-mic heavy, 1 overhead heavy, 2 room heavy; the others are
    random: close mics -14..0 dB each, overheads -6..+6 dB, ambience -20..0 dB.
    """
    rng = np.random.default_rng(4242 + index)
    if index == 0:
        db = {m: 0.0 for m in CLOSE_MICS} | {"OHL": -8.0, "OHR": -8.0, "AmbL": -20.0, "AmbR": -20.0}
    elif index == 1:
        db = {m: -16.0 for m in CLOSE_MICS} | {"OHL": 0.0, "OHR": 0.0, "AmbL": -10.0, "AmbR": -10.0}
        db["KdrumL"] = db["KdrumR"] = db["Snare_top"] = -6.0
    elif index == 2:
        db = {m: -14.0 for m in CLOSE_MICS} | {"OHL": -6.0, "OHR": -6.0, "AmbL": 0.0, "AmbR": 0.0}
    else:
        db = {m: float(rng.uniform(-14, 0)) for m in CLOSE_MICS}
        db.update({m: float(rng.uniform(-6, 6)) for m in ("OHL", "OHR")})
        db.update({m: float(rng.uniform(-20, 0)) for m in ("AmbL", "AmbR")})
    return {m: float(10 ** (v / 20)) for m, v in db.items()}


@lru_cache(maxsize=2)
def _hits(sdir: str) -> Dict[str, List[Dict[str, np.ndarray]]]:
    """Piece -> hits in file order -> mic -> samples (read once per process)."""
    import soundfile as sf

    out: Dict[str, List[Dict[str, np.ndarray]]] = {}
    for piece in PIECES:
        d = Path(sdir) / piece
        if not d.is_dir():
            continue
        by_hit: Dict[int, Dict[str, np.ndarray]] = {}
        for p in d.glob("*.flac"):
            m = re.match(rf"(\d+)-{re.escape(piece)}-(.+)\.flac$", p.name)
            if not m or m.group(2) == "Trigger":
                continue
            x, sr = sf.read(str(p), dtype="float32", always_2d=False)
            if sr != 44100:
                import soxr
                x = soxr.resample(x, sr, 44100).astype(np.float32)
            by_hit.setdefault(int(m.group(1)), {})[m.group(2)] = x
        out[piece] = [by_hit[k] for k in sorted(by_hit)]
    return out


def _mix(mics: Dict[str, np.ndarray], gains: Dict[str, float]) -> np.ndarray:
    n = max(len(x) for x in mics.values())
    y = np.zeros(n, np.float32)
    for m, x in mics.items():
        y[:len(x)] += gains.get(m, 0.0) * x
    return y


def load_muldjord(root, index: int, role: str = "train"):
    """The MuldjordKit under mic mix ``index`` as a :class:`~drumscribe.training.kits.Kit`.

    Each hit is a velocity layer: hits sorted by loudness split the 0..1
    velocity range evenly, and each layer keeps its loudness relative to the
    piece's loudest hit as its gain.
    """
    from .kits import SR, Kit, Layer, prepare_sample

    sdir = samples_dir(root)
    gains = mic_mix(index)
    kit = Kit(f"muldjord:{index}", "muldjord", role)
    for piece, hits in _hits(str(sdir)).items():
        prepared: List[Tuple[float, np.ndarray]] = []
        for mics in hits:
            x = _mix(mics, gains)
            y, lat = prepare_sample(x, SR)
            if y is None:
                continue
            kit.latencies_ms.append(1000.0 * lat / SR)
            prepared.append((float(np.abs(x).max()), y))
        if not prepared:
            continue
        prepared.sort(key=lambda t: t[0])
        top = prepared[-1][0]
        n = len(prepared)
        # the samples are peak-normalised; the layer gain restores each hit's level
        layers = [Layer(i / n, (i + 1) / n, [y], peak / top) for i, (peak, y) in enumerate(prepared)]
        kit.add(PIECES[piece], layers)
    return kit
