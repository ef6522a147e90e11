"""Numpy sampler: renders (time, class, velocity) events with a :class:`~drumscribe.training.kits.Kit`.

Per clip, each played class gets a random pitch (resampling), decay, EQ tilt,
level and voice; hits pick a velocity layer and a round-robin sample. An open
hi-hat is choked by the next closed or pedal hat. A delayed, dark copy of the
mix imitates room/overhead bleed. :func:`render_clip` adds the accompaniment
(an arranged one from :mod:`drumscribe.training.accompaniment`, or the small numpy
synth below) and the record chain. Labels are written
for what is heard (see :data:`drumscribe.training.kits.SUBSTITUTES`) at the hit's audible
onset: every sample's onset sits ``PREROLL`` samples into it.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
from scipy.signal import lfilter

from .augment import augment, eq_tilt, peaking_eq
from .kits import PREROLL, SR, Kit

Event = Tuple[float, str, int]
HATS_CHOKING = ("hihat_closed", "hihat_pedal")


def _prep(sample: np.ndarray, pitch: float, decay: float, tilt: float,
          bells: Tuple[Tuple[float, float, float], ...] = ()) -> np.ndarray:
    if abs(pitch - 1.0) > 1e-3:
        n = int(len(sample) / pitch)
        sample = np.interp(np.arange(n) * pitch, np.arange(len(sample)), sample).astype(np.float32)
    if decay < 10:
        t = np.arange(len(sample), dtype=np.float32) / SR
        sample = sample * np.exp(-np.maximum(t - 0.03, 0) / decay).astype(np.float32)
    if abs(tilt) > 0.05:
        sample = eq_tilt(sample, tilt)
    for freq, gain_db, q in bells:
        sample = peaking_eq(sample, freq, gain_db, q)
    return sample.astype(np.float32)


CYMBALS = ("hihat_closed", "hihat_pedal", "hihat_open", "ride", "ride_bell", "crash")

WIDE_PITCH = {"drum": 0.23, "cymbal": 0.10}
"""Half-width, in natural-log units, of the per-class pitch range at ``timbre`` 1
(0.23: about ±4 semitones for kick, snare and toms; 0.10: ±1.7 for hi-hats and cymbals),
against ±6 % (±1 semitone) otherwise."""


def _wide_timbre(c: str, timbre: float, rng: np.random.Generator):
    """A class's pitch factor and resonances for a clip rendered with ``timbre`` > 0.

    Real kits differ from the training kits in tuning and in their shells' and
    microphones' resonances; drawing both widely per clip and class keeps the
    model from learning a class by one kit's exact spectrum.
    """
    half = timbre * WIDE_PITCH["cymbal" if c in CYMBALS else "drum"]
    pitch = float(np.exp(rng.uniform(-half, half)))
    bells = tuple((float(np.exp(rng.uniform(np.log(80.0), np.log(9000.0)))),
                   float(rng.uniform(-9.0, 9.0) * timbre), float(rng.uniform(0.7, 2.5)))
                  for _ in range(int(rng.integers(1, 3))))
    return pitch, bells


def render_events(kit: Kit, events: List[Event], duration: float, rng: np.random.Generator,
                  vary: bool = True, bleed: bool = True,
                  cymbal_db: float = 0.0, timbre: float = 0.0) -> Tuple[np.ndarray, List[Event]]:
    """Mix the kit's samples at the event times.

    Parameters
    ----------
    kit : Kit
    events : list of (time, class, velocity)
        Wanted hits; classes the kit cannot play even by substitution are dropped.
    duration : float
        Clip length in seconds.
    rng : np.random.Generator
    vary : bool
        Randomise pitch, decay, EQ and level per class.
    bleed : bool
        Add the room/bleed copy.
    cymbal_db : float
        Extra level of hi-hats and cymbals relative to the drums (negative:
        quieter, as in many real mixes).
    timbre : float
        0 (default) keeps the narrow per-class variation above; above 0 (up to 1)
        each class also gets a wider pitch range (:data:`WIDE_PITCH`) and one or two
        random resonances of up to ±9 dB x ``timbre`` (80 Hz - 9 kHz), drawn after
        the usual parameters so that ``timbre`` 0 renders exactly as before.

    Returns
    -------
    (np.ndarray, list of (time, class, velocity))
        Mono float32 audio and the labels of what is heard.
    """
    n = int(round(duration * SR))
    out = np.zeros(n + SR * 5, np.float32)
    classes = sorted({kit.resolve(c) for _, c, _ in events} - {None})
    prm: Dict[str, Tuple[float, float, float, float, int]] = {}
    bells: Dict[str, Tuple[Tuple[float, float, float], ...]] = {}
    for c in classes:
        if vary:
            prm[c] = (float(rng.uniform(0.94, 1.06)), float(rng.choice([99.0, rng.uniform(0.15, 1.5)])),
                      float(rng.uniform(-0.5, 0.5)), float(10 ** (rng.uniform(-4, 3) / 20)),
                      int(rng.integers(len(kit.voices[c]))))
        else:
            prm[c] = (1.0, 99.0, 0.0, 1.0, 0)
        if c in CYMBALS and cymbal_db:
            p = prm[c]
            prm[c] = (p[0], p[1], p[2], p[3] * float(10 ** (cymbal_db / 20)), p[4])
    if vary and timbre > 0:
        for c in classes:
            pitch, bells[c] = _wide_timbre(c, timbre, rng)
            p = prm[c]
            prm[c] = (pitch, p[1], p[2], p[3], p[4])
    cache: Dict[int, np.ndarray] = {}
    played = []
    for t, c, v in sorted(events):
        h = kit.resolve(c)
        if h is None or not 0 <= t < duration:
            continue
        played.append((float(t), h, int(v)))
    hat_times = np.array([t for t, h, _ in played if h in HATS_CHOKING])
    labels: List[Event] = []
    for t, h, v in played:
        pitch, decay, tilt, gain, voice = prm[h]
        raw, lgain = kit.pick(h, v, rng, voice)
        key = id(raw)
        s = cache.get(key)
        if s is None:
            s = cache[key] = _prep(raw, pitch, decay, tilt, bells.get(h, ()))
        start = int(round(t * SR)) - int(round(PREROLL / pitch))
        if start < 0:
            continue
        seg = s
        if h == "hihat_open" and len(hat_times):
            later = hat_times[hat_times > t + 0.005]
            if len(later):
                keep = int((later[0] - t) * SR) + int(round(PREROLL / pitch))
                if keep < len(seg):
                    seg = seg[:keep + 220].copy()
                    seg[-220:] *= np.linspace(1, 0, 220, dtype=np.float32)
        amp = gain * lgain * (max(v, 1) / 127.0) ** 1.6
        end = min(start + len(seg), len(out))
        out[start:end] += amp * seg[: end - start]
        labels.append((t, h, v))
    out = out[:n]
    if bleed:
        d = int(rng.uniform(0.003, 0.012) * SR)
        room = lfilter([0.1], [1, -0.9], out).astype(np.float32)
        out[d:] += float(rng.uniform(0.05, 0.3)) * room[:-d] if d else 0
    return out, labels


# ------------------------------------------------------------- accompaniment

_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
_PROGS = ([0, 5, 3, 4], [0, 3, 4, 4], [0, 4, 5, 3], [5, 3, 0, 4], [1, 4, 0, 0])


def _tone(freq: float, length: int, rng, kind: str) -> np.ndarray:
    t = np.arange(length, dtype=np.float32) / SR
    ph = 2 * np.pi * freq * t
    if kind == "bass":
        y = np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.25 * np.sin(3 * ph)
        env = np.exp(-t / 0.4)
        att = 0.008
    elif kind == "pad":
        y = np.sin(ph) + 0.3 * np.sin(2 * ph + 1) + 0.15 * np.sin(3 * ph)
        env = np.ones_like(t)
        att = 0.06
    else:
        y = np.sign(np.sin(ph)) * 0.3 + np.sin(ph)
        env = np.exp(-t / 0.25)
        att = 0.01
    a = max(1, int(att * SR))
    env[:a] *= np.linspace(0, 1, a)
    r = min(length // 3, 2000)
    env[-r:] *= np.linspace(1, 0, r)
    return (y * env).astype(np.float32)


def accompaniment(duration: float, tempo: float, rng: np.random.Generator) -> np.ndarray:
    """Synthesise a bass line, chords and a lead at ``tempo`` (numpy only).

    Returns
    -------
    np.ndarray
        Mono float32 audio of ``duration`` seconds, peak-normalised.
    """
    n = int(duration * SR)
    out = np.zeros(n + SR * 2, np.float32)
    spb = 60.0 / tempo
    key = 40 + int(rng.integers(12))
    prog = _PROGS[int(rng.integers(len(_PROGS)))]
    bar = 4 * spb
    parts = rng.random(3) < np.array([0.9, 0.7, 0.5])
    for b in range(int(duration / bar) + 1):
        deg = prog[b % len(prog)]
        root = key + _SCALE[deg % 7]
        t0 = b * bar
        if parts[0]:
            for beat in range(4):
                if rng.random() < 0.8:
                    s = int((t0 + beat * spb) * SR)
                    note = root - 12 + (12 if rng.random() < 0.2 else 0)
                    y = _tone(440 * 2 ** ((note - 69) / 12), int(spb * SR), rng, "bass")
                    out[s:s + len(y)] += 0.8 * y[: max(0, len(out) - s)]
        if parts[1]:
            s = int(t0 * SR)
            for k in (0, 2, 4):
                note = key + 12 + _SCALE[(deg + k) % 7] + 12 * ((deg + k) // 7)
                y = _tone(440 * 2 ** ((note - 69) / 12), int(bar * SR), rng, "pad")
                out[s:s + len(y)] += 0.25 * y[: max(0, len(out) - s)]
        if parts[2]:
            for e in range(8):
                if rng.random() < 0.5:
                    s = int((t0 + e * spb / 2) * SR)
                    note = key + 24 + _SCALE[int(rng.integers(7))]
                    y = _tone(440 * 2 ** ((note - 69) / 12), int(spb * SR), rng, "lead")
                    out[s:s + len(y)] += 0.3 * y[: max(0, len(out) - s)]
    out = out[:n]
    return out / (np.abs(out).max() + 1e-9)


def render_clip(kit: Kit, events: List[Event], duration: float, tempo: float, seed: int,
                accomp_p: float = 0.85, augment_strength: float = 1.0, downbeat: float = 0.0,
                record: bool = True, drums: bool = True,
                accomp_db: Tuple[float, float] = (-10.0, 10.0),
                timbre: float = 0.0, strums: float = 0.0) -> Tuple[np.ndarray, List[Event], dict]:
    """Render one training clip: drums, accompaniment, augmentation, record chain.

    Parameters
    ----------
    kit : Kit
    events : list of (time, class, velocity)
    duration, tempo : float
    seed : int
        All randomness of the clip derives from it.
    accomp_p : float
        Probability of an accompaniment (an arrangement rendered from GM
        SoundFonts, :mod:`drumscribe.training.accompaniment`; one in ten is the older
        numpy synth), mixed ``accomp_db`` relative to the drums.
    augment_strength : float
        Passed to :func:`drumscribe.training.augment.augment`.
    downbeat : float
        A downbeat of the drums, in seconds (bars of the accompaniment start there).
    record : bool
        Apply :func:`drumscribe.training.mastering.record_chain` (mastering, band limit, codec).
    drums : bool
        False renders an accompaniment-only clip (no drums, no labels).
    accomp_db : (float, float)
        Range of the accompaniment's level, RMS against the drums' RMS, in dB
        (uniform; the default -10 ... +10 is the shipped corpus's).
    timbre : float
        Wider per-class pitch and resonances (:func:`render_events`); 0 as shipped.
    strums : float
        Probability that an arranged accompaniment also holds a recorded guitar
        strumming (:func:`drumscribe.training.accompaniment.music`); 0 as shipped.

    Returns
    -------
    (np.ndarray, list, dict)
        Audio, labels and info (``accomp_db``: accompaniment level relative to
        the drums in dB, or None; ``cymbal_db``; the augmentation and record
        chain parameters).
    """
    from .mastering import record_chain

    rng = np.random.default_rng(seed)
    cymbal_db = float(rng.uniform(-15, -4)) if rng.random() < 0.5 else 0.0
    info: Dict[str, Optional[float]] = {"accomp_db": None, "cymbal_db": round(cymbal_db, 1)}
    if drums:
        x, labels = render_events(kit, events, duration, rng, cymbal_db=cymbal_db, timbre=timbre)
        x, labels, aug = augment(x, labels, rng, augment_strength)
        info.update(aug)
    else:
        x, labels = np.zeros(int(round(duration * SR)), np.float32), []
    factor = float(info.get("rate", 1.0) or 1.0)
    if not drums or rng.random() < accomp_p:
        kicks = [t for t, c, _ in labels if c == "kick"]
        if rng.random() < 0.1:
            acc = accompaniment(len(x) / SR, tempo / factor, rng)
            info["accomp"] = "synth"
        else:
            from .accompaniment import music

            acc, roles = music(len(x) / SR, tempo / factor, rng, downbeat * factor, kicks, strums=strums)
            info["accomp"] = "+".join(roles)
        acc = np.concatenate([acc, np.zeros(max(0, len(x) - len(acc)), np.float32)])[: len(x)]
        level_db = float(rng.uniform(accomp_db[0], accomp_db[1]))
        rd = float(np.sqrt(np.mean(x ** 2)))
        ra = float(np.sqrt(np.mean(acc ** 2))) + 1e-9
        if rd > 1e-6:
            x = x + acc * (rd / ra) * float(10 ** (level_db / 20))
            info["accomp_db"] = round(level_db, 1)
        else:
            x = acc * (0.1 / ra)
    if record:
        x, rec = record_chain(x, rng)
        info.update(rec)
    peak = float(np.abs(x).max()) + 1e-9
    x = x / peak * float(10 ** (rng.uniform(-10, -0.1) / 20))
    return x.astype(np.float32), labels, info
