"""Accompaniment that is music: arrangements at the drums' tempo, rendered from
General MIDI SoundFonts with fluidsynth and processed with real effects.

An arrangement is a few :class:`Part` objects (bass line, distorted or clean
guitars with strums, palm mutes and power chords, keyboard comping, pads, a
lead or vocal-like line) over one chord progression, in 4/4 bars that start
on the drums' downbeat. The bass follows the kick where the drums are known,
as bass players do, so the model hears bass onsets on and off the kicks.
Parts are rendered one by one (each its own program, in-process through
``pyfluidsynth``) and get their own effects (``pedalboard``: amp distortion
and cabinet filtering for distorted guitars, chorus, compression, reverb).
All randomness comes from the ``rng`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

SR = 44100
SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/sf_GMbank.sf2")
"""General MIDI SoundFonts for the accompaniment (their drum kits play no part here);
FluidR3 twice, as it is the best of them. MuseScore General (sf3) is left out: it
takes seconds to load, and every part loads its SoundFont afresh."""

ROLES: Dict[str, Tuple[Tuple[int, ...], float]] = {
    # role: (GM programs, probability of the part in an arrangement)
    "bass": ((32, 33, 34, 35, 36, 38, 39), 0.85),
    "dist_guitar": ((29, 30), 0.45),
    "clean_guitar": ((24, 25, 26, 27, 28), 0.4),
    "keys": ((0, 1, 2, 4, 5, 16, 17, 18, 19, 7), 0.35),
    "pad": ((48, 49, 50, 51, 52, 88, 89, 90, 91, 94, 95), 0.35),
    "lead": ((52, 53, 54, 56, 65, 66, 71, 73, 80, 81, 29, 30), 0.45),
}
_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
_MINOR = np.array([0, 2, 3, 5, 7, 8, 10])
_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 0, 3, 4),
                 (0, 6, 5, 4), (0, 3, 0, 4), (1, 4, 0, 0))

Note = Tuple[float, float, int, int]  # start s, duration s, pitch, velocity


@dataclass
class Part:
    """One instrument of an arrangement."""

    role: str
    program: int
    notes: List[Note] = field(default_factory=list)


def _chord(key: int, scale: np.ndarray, degree: int, size: int = 3) -> List[int]:
    """Pitches (above ``key``) of the diatonic chord on ``degree``."""
    out = []
    for k in range(size):
        d = degree + 2 * k
        out.append(key + int(scale[d % 7]) + 12 * (d // 7))
    return out


def arrange(duration: float, tempo: float, rng: np.random.Generator, downbeat: float = 0.0,
            kick_times: Optional[Sequence[float]] = None) -> List[Part]:
    """Write an arrangement of ``duration`` seconds at ``tempo`` BPM.

    Parameters
    ----------
    duration, tempo : float
    rng : np.random.Generator
    downbeat : float
        Time of a downbeat (bars are laid from it, forwards and backwards).
    kick_times : sequence of float, optional
        The drums' kicks, which the bass follows in some arrangements.

    Returns
    -------
    list of Part
        At least two parts.
    """
    spb = 60.0 / max(tempo, 30.0)
    bar = 4 * spb
    key = int(rng.integers(40, 52))
    scale = _MAJOR if rng.random() < 0.55 else _MINOR
    prog = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    bars_per_chord = 1 if rng.random() < 0.7 else 2
    first = downbeat - bar * np.ceil(downbeat / bar)
    bars = [first + i * bar for i in range(int(np.ceil((duration - first) / bar)) + 1)]
    roles = [r for r, (_, p) in ROLES.items() if rng.random() < p]
    while len(roles) < 2:
        r = list(ROLES)[int(rng.integers(len(ROLES)))]
        if r not in roles:
            roles.append(r)
    kicks = np.asarray(sorted(kick_times or []), dtype=float)
    parts = []
    for role in roles:
        programs = ROLES[role][0]
        part = Part(role, int(programs[int(rng.integers(len(programs)))]))
        style = int(rng.integers(3))
        swing = float(rng.uniform(0, 0.08)) * spb if rng.random() < 0.2 else 0.0
        for bi, t0 in enumerate(bars):
            deg = prog[(bi // bars_per_chord) % len(prog)]
            chord = _chord(key, scale, deg, 3)
            root = chord[0]
            if role == "bass":
                if style == 0 and len(kicks):
                    starts = kicks[(kicks >= t0) & (kicks < t0 + bar)].tolist() or [t0]
                elif style == 1:
                    starts = [t0 + k * spb / 2 for k in range(8)]
                else:
                    starts = [t0 + k * spb for k in range(4) if k == 0 or rng.random() < 0.75]
                for i, s in enumerate(starts):
                    nxt = starts[i + 1] if i + 1 < len(starts) else t0 + bar
                    p = root - 12 + (12 if rng.random() < 0.12 else 0) + (7 if rng.random() < 0.1 else 0)
                    part.notes.append((s, max(0.06, 0.9 * (nxt - s)), p, int(rng.integers(80, 120))))
            elif role == "dist_guitar":
                power = [root, root + 7, root + 12]
                if style == 0:  # palm-muted eighth chugs
                    for k in range(8):
                        s = t0 + k * spb / 2 + (swing if k % 2 else 0)
                        for p in power[:2]:
                            part.notes.append((s, float(rng.uniform(0.06, 0.12)), p, int(rng.integers(70, 105))))
                elif style == 1:  # sustained power chords
                    hits = [0.0, 2 * spb] if rng.random() < 0.5 else [0.0]
                    for h in hits:
                        for p in power:
                            part.notes.append((t0 + h, bar / len(hits) * 0.95, p, int(rng.integers(90, 120))))
                else:  # riff: muted chugs with accented open chords
                    for k in range(8):
                        s = t0 + k * spb / 2
                        if rng.random() < 0.3:
                            for p in power:
                                part.notes.append((s, spb * 0.9, p, 110))
                        elif rng.random() < 0.7:
                            part.notes.append((s, 0.08, power[0], int(rng.integers(70, 100))))
            elif role == "clean_guitar":
                voicing = sorted({p + 12 for p in chord} | {chord[0] + 24, chord[1] + 24, chord[2] + 12})
                if style == 2:  # arpeggio
                    for k in range(8):
                        p = voicing[int(rng.integers(len(voicing)))]
                        part.notes.append((t0 + k * spb / 2, spb * 0.9, p, int(rng.integers(60, 100))))
                else:  # strums, down and up, strings staggered
                    pattern = [k for k in range(8) if k in (0, 4) or rng.random() < 0.55]
                    for k in pattern:
                        s = t0 + k * spb / 2 + (swing if k % 2 else 0)
                        down = k % 2 == 0
                        order = voicing if down else voicing[::-1]
                        gap = float(rng.uniform(0.006, 0.02))
                        vel = int(rng.integers(70, 115)) - (0 if down else 15)
                        for i, p in enumerate(order):
                            part.notes.append((s + i * gap, spb * (1.0 if style == 0 else 0.45), p, vel))
            elif role == "keys":
                notes = [p + 12 for p in chord] + ([chord[0] + 24] if rng.random() < 0.5 else [])
                if style == 0:  # offbeat comping
                    hits = [t0 + (k + 0.5) * spb for k in range(4)]
                    dur = spb * 0.4
                elif style == 1:  # block chords on the beats
                    hits = [t0 + k * spb for k in range(4)]
                    dur = spb * 0.9
                else:  # held
                    hits = [t0]
                    dur = bar * 0.97
                for s in hits:
                    for p in notes:
                        part.notes.append((s, dur, p, int(rng.integers(55, 100))))
            elif role == "pad":
                if bi % bars_per_chord == 0:
                    for p in chord + [chord[0] + 12]:
                        part.notes.append((t0, bar * bars_per_chord * 0.98, p + 12, int(rng.integers(50, 90))))
            else:  # lead / vocal-like line
                t = t0
                while t < t0 + bar - 1e-6:
                    d = spb * float(rng.choice([0.5, 0.5, 1, 1, 1.5, 2]))
                    if rng.random() < 0.75:
                        deg_n = int(rng.integers(0, 9))
                        p = key + 24 + int(scale[deg_n % 7]) + 12 * (deg_n // 7)
                        part.notes.append((t, min(d, t0 + bar - t) * 0.95, p, int(rng.integers(70, 115))))
                    t += d
        part.notes = [n for n in part.notes if n[0] < duration and n[0] + n[1] > 0]
        part.notes = [(max(0.0, s), d, p, v) for s, d, p, v in part.notes]
        parts.append(part)
    return parts


BLOCK = 64


def _synth(sf_path: str):
    """A fresh fluidsynth synthesizer with ``sf_path`` loaded.

    Fresh for every accompaniment: a synthesizer's output depends on what it
    rendered before (its voices' modulators run on the synth's own clock), and
    the corpus must not depend on which clips a worker rendered first.
    """
    import fluidsynth

    fs = fluidsynth.Synth(gain=0.4, samplerate=float(SR), **{"synth.reverb.active": 0,
                                                             "synth.chorus.active": 0,
                                                             "synth.cpu-cores": 1})
    return fs, fs.sfload(sf_path)


def _write_float(fs, n: int) -> np.ndarray:
    """``n`` stereo frames as float32 (interleaved), without the int16 path's dither."""
    import ctypes

    import fluidsynth

    buf = np.zeros(2 * n, np.float32)
    ptr = buf.ctypes.data_as(ctypes.c_void_p)
    fn = fluidsynth._fl.fluid_synth_write_float
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                   ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    fn(ctypes.c_void_p(fs.synth), n, ptr, 0, 2, ptr, 1, 2)
    return buf


def _silence(fs) -> None:
    """Stop every voice at once and flush, so a render never hears the previous one."""
    fs.cc(0, 120, 0)  # all sound off
    fs.cc(0, 121, 0)  # reset controllers
    fs.system_reset()
    _write_float(fs, 4096)


def render_parts(parts: Sequence[Part], duration: float, sf_path: str) -> List[np.ndarray]:
    """Render parts, in order, to mono float32 audio of ``duration`` seconds each,
    on one fresh synthesizer (so the result depends on nothing rendered before)."""
    fs, sfid = _synth(sf_path)
    try:
        return [_render(fs, sfid, part, duration) for part in parts]
    finally:
        fs.delete()


def _render(fs, sfid: int, part: Part, duration: float) -> np.ndarray:
    fs.program_select(0, sfid, 0, part.program)
    events = []
    for s, d, p, v in part.notes:
        events.append((s, 1, p, v))
        events.append((s + d, 0, p, 0))
    events.sort(key=lambda e: (e[0], e[1]))
    # fluidsynth applies events at 64-sample block edges: keep every call on them,
    # so that a render does not depend on what the synth rendered before
    n_total = -(-int(duration * SR) // BLOCK) * BLOCK
    chunks = []
    pos = 0
    for t, on, p, v in events:
        k = min(int(round(t * SR / BLOCK)) * BLOCK, n_total)
        if k > pos:
            chunks.append(_write_float(fs, k - pos))
            pos = k
        if on:
            fs.noteon(0, int(np.clip(p, 0, 127)), int(np.clip(v, 1, 127)))
        else:
            fs.noteoff(0, int(np.clip(p, 0, 127)))
    if pos < n_total:
        chunks.append(_write_float(fs, n_total - pos))
    _silence(fs)
    x = np.concatenate(chunks).reshape(-1, 2).mean(axis=1)
    return x[:int(duration * SR)]


def effects(role: str, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The part's effect chain (pedalboard), chosen at random for its role."""
    import pedalboard as pb

    chain = []
    if role == "dist_guitar" or (role == "lead" and rng.random() < 0.4) or (role == "clean_guitar" and rng.random() < 0.25):
        drive = float(rng.uniform(18, 38)) if role == "dist_guitar" else float(rng.uniform(6, 18))
        chain += [pb.HighpassFilter(float(rng.uniform(70, 140))), pb.Distortion(drive_db=drive),
                  pb.LowpassFilter(float(rng.uniform(3500, 7000))), pb.Gain(-drive * 0.6)]
    if role in ("clean_guitar", "keys", "pad", "lead") and rng.random() < 0.5:
        chain.append(pb.Chorus(rate_hz=float(rng.uniform(0.3, 2.0)), depth=float(rng.uniform(0.1, 0.4)),
                               mix=float(rng.uniform(0.2, 0.5))))
    if role in ("bass", "dist_guitar", "keys") and rng.random() < 0.6:
        chain.append(pb.Compressor(threshold_db=float(rng.uniform(-30, -12)), ratio=float(rng.uniform(2, 6)),
                                   attack_ms=float(rng.uniform(2, 20)), release_ms=float(rng.uniform(60, 250))))
    if rng.random() < 0.6:
        chain.append(pb.Reverb(room_size=float(rng.uniform(0.1, 0.8)), wet_level=float(rng.uniform(0.05, 0.35)),
                               dry_level=1.0, damping=float(rng.uniform(0.2, 0.8))))
    if not chain:
        return x
    y = pb.Pedalboard(chain)(x[None, :].astype(np.float32), float(SR))[0]
    return np.nan_to_num(y[: len(x)]).astype(np.float32)


def music(duration: float, tempo: float, rng: np.random.Generator, downbeat: float = 0.0,
          kick_times: Optional[Sequence[float]] = None,
          soundfonts: Sequence[str] = SOUNDFONTS, strums: float = 0.0) -> Tuple[np.ndarray, List[str]]:
    """Arrange, render and mix an accompaniment.

    Parameters
    ----------
    duration, tempo : float
    rng : np.random.Generator
    downbeat : float
    kick_times : sequence of float, optional
    soundfonts : sequence of str
    strums : float
        Probability of one more part, a recorded acoustic guitar strumming
        (:mod:`drumscribe.training.strums`), put through a guitar's effects. At 0
        (the shipped corpus) no random number is drawn for it, so the result is
        as before.

    Returns
    -------
    (np.ndarray, list of str)
        Mono float32 audio of ``duration`` seconds (RMS-normalised to 0.1; silent
        when nothing rendered) and the roles it holds.
    """
    fonts = [f for f in soundfonts if Path(f).exists()]
    if not fonts:
        raise FileNotFoundError("no General MIDI SoundFont found; apt-get install -y fluid-soundfont-gm")
    sf_path = fonts[int(rng.integers(len(fonts)))]
    parts = arrange(duration, tempo, rng, downbeat, kick_times)
    n = int(duration * SR)
    mix = np.zeros(n, np.float32)
    for part, x in zip(parts, render_parts(parts, duration, sf_path)):
        x = effects(part.role, x, rng)
        r = float(np.sqrt(np.mean(x ** 2)))
        if r < 1e-6:
            continue
        level = 10 ** (float(rng.uniform(-8, 0)) / 20)
        if part.role == "pad":
            level *= 0.5
        mix[: len(x)] += x * (level / r)
    roles = [p.role for p in parts]
    if strums > 0 and rng.random() < strums:
        from . import strums as recorded

        x, _ = recorded.strum_part(duration, tempo, rng, downbeat, folder=str(recorded.STRUM_DIR))
        x = effects("dist_guitar" if rng.random() < 0.35 else "clean_guitar", x, rng)
        r = float(np.sqrt(np.mean(x ** 2)))
        if r > 1e-6:
            mix += x[:n] * (float(10 ** (rng.uniform(-4, 2) / 20)) / r)  # x holds round(), mix int() samples
            roles.append("real_strum")
    r = float(np.sqrt(np.mean(mix ** 2)))
    if r > 0:
        mix *= 0.1 / r
    return mix, roles
