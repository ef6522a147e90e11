"""Build the rendered training corpus: FLAC clips + ``.tsv`` labels + manifest.

Splits are disjoint by kit and by performance:

* ``train``: training kits not held out; GMD train performances; generated grooves.
* ``val``: the kits of :data:`VAL_KITS` (a whole SoundFont family and two
  Hydrogen kits); GMD validation performances of even index; generated grooves.
* ``test``: the kits of :data:`TEST_KITS`; GMD validation performances of odd index.
* ``unseen``: reserved kits only (AVL drumkits, ForzeeStereo, The Black Pearl).

Generated grooves are unique per clip (their seed derives from the clip's),
so no performance is shared between splits.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from drumscribe.transcribe.annotations import write_text_annotations
from drumscribe.transcribe.io import atomic_write

from .groove_midi import GMD_DIR, list_performances, load_events
from .grooves import STYLES, generate_groove
from .kits import KitSpec, cached_kit, registry

VAL_KITS = ("sf2:TimGM6mb", "hydrogen:BJA_Pacific", "hydrogen:HardElectro1", "muldjord:9")
TEST_KITS = ("sf2:sf_GMbank", "hydrogen:GMRockKit", "hydrogen:rumpf_kit_z01_h2")
SPLITS = ("train", "val", "test", "unseen")
MANIFEST_FIELDS = ("clip", "split", "source", "kit_id", "kit_family", "tempo", "downbeat", "accomp_db",
                   "accomp", "cymbal_db", "lowpass_hz", "codec", "lufs_target", "seed")


def kit_split(spec: KitSpec) -> str:
    """The split a kit belongs to (matched on its family or its id)."""
    if spec.role == "reserved":
        return "unseen"
    if spec.family in VAL_KITS or spec.kit_id in VAL_KITS:
        return "val"
    if spec.family in TEST_KITS or spec.kit_id in TEST_KITS:
        return "test"
    return "train"


@dataclass
class ClipSpec:
    """Everything needed to render one clip (picklable, for worker processes)."""

    clip: str
    split: str
    source: str
    kit: KitSpec
    seed: int
    clip_seconds: float
    gmd_path: str = ""
    gmd_offset: float = 0.0
    tempo: float = 0.0
    drums: bool = True
    accomp_db: Tuple[float, float] = (-10.0, 10.0)
    timbre: float = 0.0
    strums: float = 0.0


CLIP_OPTIONS = ("timbre", "strums")
""":class:`ClipSpec` options recorded in a clip's ``.json`` when not 0 (so that clips of the
shipped corpus keep their rows) and checked when an interrupted build resumes."""


def plan(kits: Sequence[KitSpec], hours: Dict[str, float], seed: int, clip_seconds: float = 20.0,
         gmd_dir=GMD_DIR, gmd_fraction: float = 0.5, no_drums_fraction: float = 0.06,
         muldjord_share: float = 0.25) -> List[ClipSpec]:
    """Decide every clip of the corpus (deterministic from ``seed``).

    Parameters
    ----------
    kits : sequence of KitSpec
        The registry (see :func:`drumscribe.training.kits.registry`).
    hours : dict
        Hours of audio per split name.
    seed : int
    clip_seconds : float
    gmd_dir : path-like
        Groove MIDI Dataset folder; absent -> generated grooves only.
    gmd_fraction : float
        Share of clips cut from GMD performances.
    no_drums_fraction : float
        Share of accompaniment-only clips (no drums, no labels) in train and val,
        so that a guitar strum is learned as no drum at all.
    muldjord_share : float
        Share of a split's clips played on the MuldjordKit mic mixes (the one
        recorded multi-microphone kit) when the split has them.
    """
    rng = np.random.default_rng(seed)
    perfs = list_performances(gmd_dir)
    val_perfs = sorted((p for p in perfs if p.split == "validation"), key=lambda p: p.gmd_id)
    pools = {
        "train": [p for p in perfs if p.split == "train"],
        "val": val_perfs[0::2],
        "test": val_perfs[1::2],
        "unseen": val_perfs,
    }
    styles = sorted(STYLES)
    clips: List[ClipSpec] = []
    for split in SPLITS:
        h = hours.get(split, 0.0)
        split_kits = [k for k in kits if kit_split(k) == split]
        if h <= 0 or not split_kits:
            continue
        n = int(np.ceil(h * 3600 / clip_seconds))
        for i in range(n):
            cseed = int(rng.integers(2 ** 31))
            mk = [k for k in split_kits if k.family == "muldjord"]
            others = [k for k in split_kits if k.family != "muldjord"] or mk
            group = mk if mk and rng.random() < muldjord_share else others
            kit = group[int(rng.integers(len(group)))]
            name = f"{split}_{i:05d}"
            pool = pools[split]
            if split in ("train", "val") and rng.random() < no_drums_fraction:
                style = styles[int(rng.integers(len(styles)))]
                clips.append(ClipSpec(name, split, f"nodrums:{style}:{cseed}", kit, cseed, clip_seconds,
                                      drums=False))
            elif pool and rng.random() < gmd_fraction:
                p = pool[int(rng.integers(len(pool)))]
                off = float(rng.uniform(0, max(0.0, p.duration - clip_seconds)))
                clips.append(ClipSpec(name, split, f"gmd:{p.gmd_id}", kit, cseed, clip_seconds,
                                      p.path, round(off, 3), p.bpm))
            else:
                style = styles[int(rng.integers(len(styles)))]
                clips.append(ClipSpec(name, split, f"gen:{style}:{cseed}", kit, cseed, clip_seconds))
    return clips


_KITS: Dict[str, object] = {}


def render_one(spec: ClipSpec, out_dir, cache_dir) -> dict:
    """Render one clip to ``out_dir/<split>/<clip>.flac`` and ``.tsv``; return its manifest row."""
    import soundfile as sf

    from .groove_midi import Performance
    from .render import render_clip

    d = Path(out_dir) / spec.split
    done = d / f"{spec.clip}.json"
    if done.exists() and (d / f"{spec.clip}.flac").exists() and (d / f"{spec.clip}.tsv").exists():
        row = json.loads(done.read_text())
        options = {k: float(row.pop(k, 0.0)) for k in CLIP_OPTIONS}  # popped: not manifest columns
        if (row.get("seed") == spec.seed and row.get("source") == spec.source
                and row.get("kit_id") == spec.kit.kit_id  # another --muldjord-share can move a clip's kit
                and all(options[k] == getattr(spec, k) for k in CLIP_OPTIONS)):
            return row  # rendered by an earlier, interrupted run
    kit = _KITS.get(spec.kit.kit_id)
    if kit is None:
        kit = _KITS[spec.kit.kit_id] = cached_kit(spec.kit, cache_dir)
    if spec.gmd_path:
        perf = Performance(spec.source, spec.gmd_path, "", spec.tempo, 0.0, "", "")
        events = [(t - spec.gmd_offset, c, v) for t, c, v in load_events(perf)
                  if spec.gmd_offset <= t < spec.gmd_offset + spec.clip_seconds]
        tempo = spec.tempo
        downbeat = (-spec.gmd_offset) % (240.0 / tempo)  # GMD performances start on a downbeat
    else:
        style = spec.source.split(":")[1]
        events, tempo, downbeat = generate_groove(style, spec.seed, spec.clip_seconds, return_downbeat=True)
    audio, labels, info = render_clip(kit, events, spec.clip_seconds, tempo, spec.seed, downbeat=downbeat,
                                      drums=spec.drums, accomp_db=spec.accomp_db, timbre=spec.timbre,
                                      strums=spec.strums)
    d.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    sf.write(buf, audio, 44100, format="FLAC", subtype="PCM_16")
    with atomic_write(d / f"{spec.clip}.flac", "wb") as fh:
        fh.write(buf.getvalue())
    write_text_annotations(d / f"{spec.clip}.tsv", labels)
    row = {"clip": spec.clip, "split": spec.split, "source": spec.source, "kit_id": spec.kit.kit_id,
            "kit_family": spec.kit.family, "tempo": round(float(tempo), 2),
            "downbeat": round(float(downbeat), 4),
            "accomp_db": "" if info.get("accomp_db") is None else info["accomp_db"],
            "accomp": info.get("accomp", ""), "cymbal_db": info.get("cymbal_db", ""),
            "lowpass_hz": round(info["lowpass_hz"]) if "lowpass_hz" in info else "",
            "codec": (f"mp3:{info['mp3_kbps']:g}" if "mp3_kbps" in info else
                      f"ogg:{info['ogg_q']:g}" if "ogg_q" in info else ""),
            "lufs_target": round(info["lufs_target"], 1) if "lufs_target" in info else "",
            "seed": spec.seed}
    with atomic_write(done, "w") as fh:  # last: marks the clip complete (a rerun resumes)
        extra = {k: getattr(spec, k) for k in CLIP_OPTIONS if getattr(spec, k)}
        fh.write(json.dumps(dict(row, **extra)))
    return row


def _warm(args):
    spec, cache_dir = args
    cached_kit(spec, cache_dir)
    return spec.kit_id


def _work(args):
    return render_one(*args)


def build_corpus(out_dir, hours: Dict[str, float], seed: int = 0, clip_seconds: float = 20.0,
                 jobs: int = 1, kits: Optional[Sequence[KitSpec]] = None, gmd_dir=GMD_DIR,
                 log=print, accomp_db: Tuple[float, float] = (-10.0, 10.0),
                 kit_cache=None, timbre: float = 0.0, strums: float = 0.0,
                 no_drums_fraction: float = 0.06, muldjord_share: float = 0.25) -> List[dict]:
    """Build the corpus and write ``out_dir/manifest.csv``.

    Parameters
    ----------
    out_dir : path-like
    hours : dict
        Hours per split (``train``, ``val``, ``test``, ``unseen``).
    seed : int
    clip_seconds : float
    jobs : int
        Worker processes.
    kits : sequence of KitSpec, optional
        Defaults to :func:`drumscribe.training.kits.registry` (complete kits only are used
        once loaded: a kit that cannot play kick/snare and two more classes is
        skipped).
    gmd_dir : path-like
    log : callable
    accomp_db : (float, float)
        Range of the accompaniment's level against the drums (RMS, dB) in every
        clip (see :func:`drumscribe.training.render.render_clip`).
    kit_cache : path-like, optional
        The kits' one-shot cache (default ``out_dir/_kit_cache``); another
        corpus's cache is reused as it is.
    timbre : float
        Wider per-class pitch and resonances in every clip
        (:func:`drumscribe.training.render.render_events`); 0 as the shipped corpus.
    strums : float
        Probability of a recorded guitar strumming in each arranged
        accompaniment (:func:`drumscribe.training.accompaniment.music`); 0 as the
        shipped corpus.
    no_drums_fraction : float
        Share of accompaniment-only clips in train and val (:func:`plan`).
    muldjord_share : float
        Share of a split's clips played on the MuldjordKit mic mixes (:func:`plan`);
        0.25 as the shipped corpus.

    Returns
    -------
    list of dict
        The manifest rows.
    """
    import multiprocessing as mp

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)  # a fresh machine has no corpus folder yet
    cache_dir = Path(kit_cache) if kit_cache else out_dir / "_kit_cache"
    t0 = time.time()
    kits = list(kits if kits is not None else registry())
    needed = [k for k in kits if hours.get(kit_split(k), 0) > 0]
    ctx = mp.get_context("spawn") if jobs > 1 else None
    if ctx:
        with ctx.Pool(jobs) as pool:
            list(pool.imap_unordered(_warm, [(k, cache_dir) for k in needed]))
    else:
        for k in needed:
            _warm((k, cache_dir))
    usable = [k for k in needed if cached_kit(k, cache_dir).complete()]
    log(f"kits ready: {len(usable)}/{len(needed)} usable in {time.time() - t0:.1f}s")
    clips = [dataclasses.replace(c, accomp_db=tuple(accomp_db), timbre=float(timbre), strums=float(strums))
             for c in plan(usable, hours, seed, clip_seconds, gmd_dir, no_drums_fraction=no_drums_fraction,
                           muldjord_share=muldjord_share)]
    clips.sort(key=lambda c: (c.kit.kit_id, c.clip))
    t1 = time.time()
    args = [(c, out_dir, cache_dir) for c in clips]
    if ctx:
        with ctx.Pool(jobs) as pool:
            rows = list(pool.imap(_work, args, chunksize=4))
    else:
        rows = [_work(a) for a in args]
    rows.sort(key=lambda r: r["clip"])
    with atomic_write(out_dir / "manifest.csv", "w") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        w.writeheader()
        w.writerows(rows)
    log(f"rendered {len(rows)} clips ({len(rows) * clip_seconds / 3600:.2f} h) in {time.time() - t1:.1f}s")
    return rows
