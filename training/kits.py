"""Drum kits as velocity-layered one-shot samples.

Every sound source (Hydrogen drumkits, SoundFont drum presets, folders of
one-shot files) is turned into a :class:`Kit`: for each drum class, a list of
*voices* (e.g. two crash cymbals), each a list of velocity layers, each layer a
list of round-robin samples (float32 mono at 44100 Hz). Samples are trimmed so
that index :data:`PREROLL` is their audible onset; the renderer places a hit at
``t - PREROLL / SR`` so the label sits on the audible onset.

Substitution (what a kit without a class plays, and how the hit is labelled:
always as what is heard):

=============  =====================================
wanted         played (and labelled) as, in order
=============  =====================================
snare_rim      snare_head
side_stick     snare_rim, snare_head
hihat_pedal    hihat_closed
hihat_open     hihat_closed
ride_bell      ride, crash
ride           crash
crash          ride
floor_tom      high_mid_tom
high_mid_tom   floor_tom
snare_head     snare_rim
kick           (dropped: neither played nor labelled)
hihat_closed   hihat_pedal
=============  =====================================
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from drumscribe.transcribe.errors import DrumscribeError
from drumscribe.transcribe.io import atomic_write
from drumscribe.transcribe.vocabulary import CLASS_NAMES, drum_class

SR = 44100
PREROLL = 44  # samples (1 ms) kept before the detected onset
MAX_SAMPLE_S = 4.0

SUBSTITUTES: Dict[str, Tuple[str, ...]] = {
    "snare_rim": ("snare_head",),
    "side_stick": ("snare_rim", "snare_head"),
    "hihat_pedal": ("hihat_closed",),
    "hihat_open": ("hihat_closed",),
    "ride_bell": ("ride", "crash"),
    "ride": ("crash",),
    "crash": ("ride",),
    "floor_tom": ("high_mid_tom",),
    "high_mid_tom": ("floor_tom",),
    "snare_head": ("snare_rim",),
    "kick": (),
    "hihat_closed": ("hihat_pedal",),
}
"""Class -> classes played instead when a kit lacks it (labelled as played)."""

HYDROGEN_DIR = Path("/usr/share/hydrogen/data/drumkits")
HYDROGEN_TRAIN = ("ColomboAcousticDrumkit", "Millo-Drums_v.1", "Millo_MultiLayered2",
                  "Millo_MultiLayered3", "BJA_Pacific", "rumpf_kit_z01_h2", "Audiophob",
                  "VariBreaks", "circAfrique v4", "Gimme A Hand 1.0", "ElectricEmpireKit",
                  "HardElectro1", "GMRockKit", "TR808EmulationKit")
HYDROGEN_RESERVED = ("ForzeeStereo", "The Black Pearl 1.0")
SF2_TRAIN = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
             "/usr/share/sounds/sf2/sf_GMbank.sf2", "/usr/share/sounds/sf3/MuseScore_General_Full.sf3")
SF2_RESERVED = ("/usr/share/sounds/sf2/Black_Pearl_4_LV2.sf2", "/usr/share/sounds/sf2/Red_Zeppelin_4_LV2.sf2")
MULDJORD_DIR = Path(os.environ.get("DRUMSCRIBE_MULDJORD", "data/muldjord"))
"""Where the MuldjordKit samples are extracted (see :mod:`drumscribe.training.muldjord`)."""
ONESHOT_DIRS = ("/usr/share/lmms/samples/drums", "/usr/share/sonic-pi/samples")
N_ONESHOT_KITS = 6
APT_PACKAGES = ("fluidsynth fluid-soundfont-gm fluid-soundfont-gs timgm6mb-soundfont csound-soundfont "
                "musescore-general-soundfont hydrogen-drumkits hydrogen-data freepats lmms-common "
                "sonic-pi-samples avldrums.lv2-soundfont hydrogen-drumkits-effects")

# --------------------------------------------------------------------- naming

_RULES: Sequence[Tuple[str, Optional[str]]] = (
    # excluded first
    (r"clap|cowbell|shaker|conga|clave|tambourine|agogo|maraca|snap|woodblock|waterglass|"
     r"zap|\bfx\b|roll|swish|choke|flink|cabasa|triangle|bell mute|bell hit|dununba1 bell|"
     r"head mute|djembe\d tone|semi|cymbal_closed|cymbal_pedal|cymbal_soft|cymbal_hard|cymbal_open|"
     r"click|metronome|cajon slap|nasty", None),
    (r"djembe\d bass|cajon thump|kick|bass ?drum|bassdrum|\bbd\b|drum_bass|heavy_kick", "kick"),
    (r"djembe\d slap", "snare_head"),
    (r"side ?stick|sidestick|cross ?stick|rim ?click|\bstick\b", "side_stick"),
    (r"rim ?shot|snare.*rim|rim\d*$", "snare_rim"),
    (r"snare", "snare_head"),
    (r"(hh|hat).*(pedal|foot|\bpd\b)|(pedal|foot).*(hh|hat)", "hihat_pedal"),
    (r"(hh|hat).*(open|\bop\b|opened|free)|open.*(hh|hat)|ohh", "hihat_open"),
    (r"hh|hat", "hihat_closed"),
    (r"ride.*(bell|cup)|^bell$|ride-cup", "ride_bell"),
    (r"ride", "ride"),
    (r"crash|splash|china|^cymbal|[- ]cymbal", "crash"),
    (r"(floor|low|\blo\b|tom_lo).*tom|tom.*(floor|low|\blo\b)|dununba1 head hit", "floor_tom"),
    (r"tom|sangban1 head hit|kenkeni1 head hit|bongo", "high_mid_tom"),
)


def classify_name(name: str) -> Optional[str]:
    """Map an instrument or file name to a drum class by keywords.

    Parameters
    ----------
    name : str
        E.g. ``"Hat Closed"``, ``"c3 - bass drum 1"``, ``"drum_tom_lo_hard"``.

    Returns
    -------
    str or None
        The class name, or None for instruments the corpus leaves out
        (claps, cowbells, unnamed slots...).
    """
    n = re.sub(r"[_.]", " ", name.lower()).strip()
    n = re.sub(r"\s+", " ", n)
    raw = name.lower()
    for pattern, cls in _RULES:
        if re.search(pattern, n) or re.search(pattern, raw):
            return cls
    return None


# ------------------------------------------------------------------- samples

def find_onset(x: np.ndarray, frac: float = 0.1) -> int:
    """Index of the audible onset of a one-shot: first sample whose 0.5 ms
    peak envelope reaches ``frac`` of the sample's peak.

    Parameters
    ----------
    x : np.ndarray
        Mono samples.
    frac : float
        Threshold relative to the peak.
    """
    a = np.abs(x)
    peak = float(a.max()) if len(a) else 0.0
    if peak <= 0:
        return 0
    idx = np.flatnonzero(a >= frac * peak)
    return int(idx[0]) if len(idx) else 0


def prepare_sample(x: np.ndarray, sr: int) -> Tuple[Optional[np.ndarray], int]:
    """Mono-mix, resample to 44.1 kHz, trim to the onset minus :data:`PREROLL`,
    cut silence at the end and normalise the peak to 1.

    Returns
    -------
    (np.ndarray or None, int)
        The prepared sample (None if silent) and the onset latency removed,
        in samples at 44.1 kHz.
    """
    import soxr

    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if sr != SR:
        x = soxr.resample(x, sr, SR).astype(np.float32)
    if len(x) == 0 or float(np.abs(x).max()) < 1e-5:
        return None, 0
    on = find_onset(x)
    start = max(0, on - PREROLL)
    y = x[start:start + int(MAX_SAMPLE_S * SR)].copy()
    if on - start < PREROLL:  # pad so the onset is always at PREROLL
        y = np.concatenate([np.zeros(PREROLL - (on - start), np.float32), y])
    y[:PREROLL] *= np.linspace(0, 1, PREROLL, dtype=np.float32)  # no click from the lead-in
    a = np.abs(y)
    thr = a.max() * 1e-3
    last = np.flatnonzero(a > thr)
    y = y[:max(last[-1] + 1, PREROLL + 64)]
    fade = min(len(y) // 4, 441)
    y[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    y /= np.abs(y).max()
    return y.astype(np.float32), on


def load_audio_file(path) -> Tuple[np.ndarray, int]:
    """Read an audio file with soundfile (float32)."""
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=False)
    return x, sr


# ----------------------------------------------------------------------- kit

@dataclass
class Layer:
    """A velocity layer: hits with velocity in ``[vmin, vmax]`` (0..1) pick one
    of ``samples`` (round robin) at ``gain``."""

    vmin: float
    vmax: float
    samples: List[np.ndarray]
    gain: float = 1.0


@dataclass
class Kit:
    """A playable drum kit.

    Attributes
    ----------
    kit_id : str
        Registry id, e.g. ``hydrogen:GMRockKit`` or ``sf2:FluidR3_GM:0``.
    family : str
        Source family (one SoundFont file, ``hydrogen:<kit>`` or ``oneshot``).
    role : str
        ``train`` or ``reserved``.
    voices : dict of str -> list of list of Layer
        Class -> voices -> velocity layers.
    latencies_ms : list of float
        Onset latencies removed from its samples, in ms.
    """

    kit_id: str
    family: str
    role: str
    voices: Dict[str, List[List[Layer]]] = field(default_factory=dict)
    latencies_ms: List[float] = field(default_factory=list)

    def add(self, cls: str, layers: List[Layer]) -> None:
        """Add a voice (list of layers) for ``cls``; empty layers are ignored."""
        layers = [l for l in layers if l.samples]
        if layers:
            self.voices.setdefault(cls, []).append(layers)

    def resolve(self, cls: str) -> Optional[str]:
        """The class this kit plays (and the label written) for a wanted ``cls``."""
        if cls in self.voices:
            return cls
        for sub in SUBSTITUTES.get(cls, ()):
            if sub in self.voices:
                return sub
        return None

    def pick(self, cls: str, velocity: int, rng: np.random.Generator, voice: int = 0) -> Tuple[np.ndarray, float]:
        """Choose a sample of the played class ``cls`` for a MIDI velocity.

        Returns
        -------
        (np.ndarray, float)
            The sample and the layer gain.
        """
        voices = self.voices[cls]
        layers = voices[voice % len(voices)]
        v = velocity / 127.0
        cands = [l for l in layers if l.vmin - 1e-6 <= v <= l.vmax + 1e-6]
        if not cands:
            cands = [min(layers, key=lambda l: min(abs(v - l.vmin), abs(v - l.vmax)))]
        layer = cands[int(rng.integers(len(cands)))]
        return layer.samples[int(rng.integers(len(layer.samples)))], layer.gain

    def complete(self) -> bool:
        """Whether the kit can play at least a kick or a snare and some hi-hat or cymbal."""
        return bool((self.resolve("kick") or self.resolve("snare_head")) and len(self.voices) >= 3)


# ------------------------------------------------------------------ loaders

def _text(el, tag, default=""):
    sub = el.find(tag)
    return sub.text.strip() if sub is not None and sub.text else default


def load_hydrogen(kit_dir, role: str = "train") -> Kit:
    """Load a Hydrogen ``drumkit.xml`` kit.

    Instruments are mapped to classes with :func:`classify_name` (their name,
    else their first sample's file name); unmapped instruments are left out.
    Layers keep Hydrogen's velocity ranges; layers sharing a range become
    round-robin alternatives.

    Parameters
    ----------
    kit_dir : path-like
        Folder holding ``drumkit.xml`` and the samples.
    role : str
        ``train`` or ``reserved``.
    """
    kit_dir = Path(kit_dir)
    xml_path = kit_dir / "drumkit.xml"
    text = xml_path.read_text(encoding="utf-8", errors="replace")
    if "<!ENTITY" in text or "<!DOCTYPE" in text:
        raise DrumscribeError(f"{xml_path}: DTDs/entities are not accepted")
    text = re.sub(r'xmlns="[^"]*"', "", text)  # newer kits carry a namespace
    root = ET.fromstring(text)
    kit = Kit(f"hydrogen:{kit_dir.name}", f"hydrogen:{kit_dir.name}", role)
    for inst in root.iter("instrument"):
        name = _text(inst, "name")
        layer_els = list(inst.iter("layer"))
        if not layer_els:
            fn = _text(inst, "filename")
            if fn:
                layer_els = [ET.fromstring(f"<layer><filename>{fn}</filename></layer>")]
        cls = classify_name(name) if name and not name.isdigit() else None
        if cls is None and layer_els and (not name or name.isdigit() or name.startswith("Sample")):
            cls = classify_name(Path(_text(layer_els[0], "filename")).stem)
        if cls is None:
            continue
        # a snare instrument whose samples are rimshots
        if cls == "snare_head" and layer_els and re.search(r"rim", _text(layer_els[0], "filename").lower()):
            cls = "snare_rim"
        ranges: Dict[Tuple[float, float], Layer] = {}
        for lay in layer_els:
            fn = _text(lay, "filename")
            if not fn:
                continue
            path = kit_dir / fn
            if not path.exists():
                continue
            try:
                x, sr = load_audio_file(path)
            except Exception:
                continue
            y, lat = prepare_sample(x, sr)
            if y is None:
                continue
            kit.latencies_ms.append(1000.0 * lat / SR)
            vmin = float(_text(lay, "min", "0") or 0)
            vmax = float(_text(lay, "max", "1") or 1)
            gain = float(_text(lay, "gain", "1") or 1)
            key = (round(vmin, 3), round(vmax, 3))
            ranges.setdefault(key, Layer(vmin, vmax, [], gain)).samples.append(y)
        kit.add(cls, list(ranges.values()))
    return kit


SF2_VELOCITIES = (40, 80, 120)
SF2_NOTE_GAP_S = 2.5


def _sf2_notes() -> Dict[str, List[int]]:
    out = {}
    for c in CLASS_NAMES:
        dc = drum_class(c)
        notes = [dc.gm_note] + [n for n in dc.gm_inputs if n != dc.gm_note]
        out[c] = notes[:2]
    return out


def render_sf2_kit(sf2_path, bank: int, program: int, workdir) -> Dict[Tuple[str, int, int], np.ndarray]:
    """Render each class's notes of one SoundFont drum preset at several
    velocities through the ``fluidsynth`` CLI.

    Returns
    -------
    dict of (class, note, velocity) -> raw float32 mono audio at 44.1 kHz
    """
    import mido
    import soundfile as sf

    if not shutil_which("fluidsynth"):
        raise DrumscribeError("fluidsynth is not installed; run: apt-get install -y fluidsynth")
    workdir = Path(workdir)
    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=500000))  # 1 beat = 0.5 s
    ch = 9 if bank == 128 else 0
    if bank != 128:
        tr.append(mido.Message("control_change", channel=ch, control=0, value=bank & 127))
    tr.append(mido.Message("program_change", channel=ch, program=program, time=0))
    gap_ticks = int(SF2_NOTE_GAP_S * 960)
    order = []
    first = True
    for cls, notes in _sf2_notes().items():
        for note in notes:
            for vel in SF2_VELOCITIES:
                tr.append(mido.Message("note_on", channel=ch, note=note, velocity=vel, time=480 if first else 0))
                tr.append(mido.Message("note_off", channel=ch, note=note, velocity=0, time=gap_ticks))
                first = False
                order.append((cls, note, vel))
    tr.append(mido.MetaMessage("end_of_track", time=960))
    mpath = workdir / "kit.mid"
    wpath = workdir / "kit.wav"
    mid.save(str(mpath))
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-o", "synth.reverb.active=0",
                    "-o", "synth.chorus.active=0", "-F", str(wpath), "-r", str(SR), str(sf2_path), str(mpath)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
    x, sr = sf.read(str(wpath), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    out = {}
    for i, key in enumerate(order):
        a = int((0.5 + i * SF2_NOTE_GAP_S) * sr)
        out[key] = x[a:a + int((SF2_NOTE_GAP_S - 0.05) * sr)]
    return out


def shutil_which(cmd: str) -> Optional[str]:
    """``shutil.which`` (kept here so tests can monkeypatch it)."""
    import shutil

    return shutil.which(cmd)


def load_sf2(sf2_path, bank: int, program: int, name: str, role: str = "train") -> Kit:
    """Turn a SoundFont drum preset into a sample kit (see :func:`render_sf2_kit`).

    Notes the preset does not sound (silent output) are treated as missing, so
    the substitution table applies. The first rendered sample's onset gives the
    renderer's latency (fluidsynth output starts late by a constant amount).
    """
    sf2_path = Path(sf2_path)
    fam = f"sf2:{sf2_path.stem}"
    kit = Kit(f"{fam}:{program}" if bank == 128 else f"{fam}:{bank}-{program}", fam, role)
    with tempfile.TemporaryDirectory() as td:
        raw = render_sf2_kit(sf2_path, bank, program, td)
    by_voice: Dict[Tuple[str, int], List[Layer]] = {}
    n = len(SF2_VELOCITIES)
    edges = [0.0] + [(SF2_VELOCITIES[i] + SF2_VELOCITIES[i + 1]) / 254.0 for i in range(n - 1)] + [1.0]
    for (cls, note, vel), x in raw.items():
        y, lat = prepare_sample(x, SR)
        if y is None or np.abs(x).max() < 1e-3:
            continue
        lat_total = lat - int(0 * SR)
        kit.latencies_ms.append(1000.0 * lat_total / SR)
        i = SF2_VELOCITIES.index(vel)
        # keep relative loudness between velocity layers (the sampler normalised them)
        by_voice.setdefault((cls, note), []).append(Layer(edges[i], edges[i + 1], [y], float(np.abs(x).max())))
    for (cls, note), layers in by_voice.items():
        top = max(l.gain for l in layers)
        for l in layers:
            l.gain = l.gain / top
        kit.add(cls, layers)
    return kit


def oneshot_pool(dirs: Sequence[str] = ONESHOT_DIRS) -> Dict[str, List[Path]]:
    """Class -> one-shot files found in ``dirs`` (classified by file name)."""
    pool: Dict[str, List[Path]] = {}
    for d in dirs:
        d = Path(d)
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            if p.suffix.lower() not in (".wav", ".flac", ".ogg"):
                continue
            if "sonic-pi" in str(d) and not p.name.startswith("drum_"):
                continue
            cls = classify_name(p.stem)
            if cls:
                pool.setdefault(cls, []).append(p)
    return pool


def load_oneshot(index: int, pool: Dict[str, List[Path]], role: str = "train") -> Kit:
    """Assemble random kit number ``index`` piece by piece from a one-shot pool
    (deterministic: each class draws up to two files with a seed of ``index``)."""
    rng = np.random.default_rng(1000 + index)
    kit = Kit(f"oneshot:{index}", "oneshot", role)
    for cls in CLASS_NAMES:
        files = pool.get(cls, [])
        if not files:
            continue
        chosen = rng.choice(len(files), size=min(2, len(files)), replace=False)
        samples = []
        for i in chosen:
            y, lat = prepare_sample(*load_audio_file(files[int(i)]))
            if y is not None:
                samples.append(y)
                kit.latencies_ms.append(1000.0 * lat / SR)
        kit.add(cls, [Layer(0.0, 1.0, samples)])
    return kit


# ----------------------------------------------------------------- registry

@dataclass(frozen=True)
class KitSpec:
    """A registry entry: how to load one kit."""

    kit_id: str
    family: str
    role: str
    kind: str  # hydrogen | sf2 | oneshot | muldjord
    path: str = ""
    bank: int = 0
    program: int = 0
    name: str = ""


def registry(hydrogen_dir=HYDROGEN_DIR, muldjord_dir=MULDJORD_DIR) -> List[KitSpec]:
    """List the kits available on this machine.

    Returns
    -------
    list of KitSpec
        Training kits (role ``train``) and the reserved evaluation kits (role
        ``reserved``: AVL drumkits, Hydrogen ForzeeStereo and The Black
        Pearl), in a fixed order. Missing packages simply give fewer kits.
    """
    from .sf2 import drum_presets, read_presets

    out: List[KitSpec] = []
    hd = Path(hydrogen_dir)
    for names, role in ((HYDROGEN_TRAIN, "train"), (HYDROGEN_RESERVED, "reserved")):
        for n in names:
            if (hd / n / "drumkit.xml").exists():
                out.append(KitSpec(f"hydrogen:{n}", f"hydrogen:{n}", role, "hydrogen", str(hd / n)))
    for files, role in ((SF2_TRAIN, "train"), (SF2_RESERVED, "reserved")):
        for f in files:
            if not Path(f).exists():
                continue
            stem = Path(f).stem
            presets = read_presets(f) if role == "reserved" else drum_presets(f)
            for p in presets:
                if re.search(r"march|metronome|cm-64", p.name.lower()):
                    continue
                kid = f"sf2:{stem}:{p.program}" if p.bank == 128 else f"sf2:{stem}:{p.bank}-{p.program}"
                out.append(KitSpec(kid, f"sf2:{stem}", role, "sf2", f, p.bank, p.program, p.name))
    try:
        from .muldjord import N_VARIANTS, samples_dir

        mdir = str(samples_dir(muldjord_dir))
        out += [KitSpec(f"muldjord:{i}", "muldjord", "train", "muldjord", mdir, program=i)
                for i in range(N_VARIANTS)]
    except FileNotFoundError:
        pass
    if oneshot_pool():
        for i in range(N_ONESHOT_KITS):
            out.append(KitSpec(f"oneshot:{i}", "oneshot", "train", "oneshot"))
    return out


def load_kit(spec: KitSpec) -> Kit:
    """Load the kit a :class:`KitSpec` describes."""
    if spec.kind == "hydrogen":
        kit = load_hydrogen(spec.path, spec.role)
    elif spec.kind == "sf2":
        kit = load_sf2(spec.path, spec.bank, spec.program, spec.name, spec.role)
    elif spec.kind == "muldjord":
        from .muldjord import load_muldjord

        kit = load_muldjord(spec.path, spec.program, spec.role)
    elif spec.kind == "oneshot":
        kit = load_oneshot(int(spec.kit_id.split(":")[1]), oneshot_pool(), spec.role)
    else:
        raise DrumscribeError(f"unknown kit kind {spec.kind!r}")
    kit.kit_id, kit.family, kit.role = spec.kit_id, spec.family, spec.role
    return kit


def _cache_name(kit_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", kit_id) + ".npz"


def save_kit(fh, kit: Kit) -> None:
    """Write a kit as a plain ``.npz`` (sample arrays + a JSON layout; no pickles)."""
    arrays: Dict[str, np.ndarray] = {}
    voices = {}
    for cls, vs in kit.voices.items():
        voices[cls] = []
        for layers in vs:
            out = []
            for layer in layers:
                idx = []
                for smp in layer.samples:
                    key = f"s{len(arrays)}"
                    arrays[key] = np.asarray(smp, dtype=np.float32)
                    idx.append(key)
                out.append({"vmin": layer.vmin, "vmax": layer.vmax, "gain": layer.gain, "samples": idx})
            voices[cls].append(out)
    meta = {"kit_id": kit.kit_id, "family": kit.family, "role": kit.role,
            "latencies_ms": [float(v) for v in kit.latencies_ms], "voices": voices}
    np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)


def read_kit(path) -> Kit:
    """Read a kit written by :func:`save_kit` (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        kit = Kit(meta["kit_id"], meta["family"], meta["role"],
                  latencies_ms=list(meta["latencies_ms"]))
        for cls, vs in meta["voices"].items():
            for layers in vs:
                kit.voices.setdefault(cls, []).append(
                    [Layer(l["vmin"], l["vmax"], [data[k] for k in l["samples"]], l["gain"])
                     for l in layers])
    return kit


def cached_kit(spec: KitSpec, cache_dir) -> Kit:
    """Load a kit through the one-shot cache under ``cache_dir`` (built on first use)."""
    cache_dir = Path(cache_dir)
    path = cache_dir / _cache_name(spec.kit_id)
    if path.exists():
        return read_kit(path)
    kit = load_kit(spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as fh:
        save_kit(fh, kit)
    return kit


def ensure_packages() -> None:
    """Install the Debian packages holding the kits when ``fluidsynth`` or the
    Hydrogen kits are missing (needs root; does nothing otherwise)."""
    if shutil_which("fluidsynth") and HYDROGEN_DIR.exists() and Path(SF2_TRAIN[0]).exists():
        return
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return
    subprocess.run(f"apt-get update && apt-get install -y {APT_PACKAGES}", shell=True, check=False)
