"""Training data and training loop of the beat network (:mod:`drumscribe.charts.beat_net`).

Every corpus clip knows its beats: a constant tempo and the time of a downbeat
(``tempo`` and ``downbeat`` in the manifest), the groove generator's and Groove MIDI's
4/4 grid. The network learns from the drum model's own activations of the training
clips, so it sees what the tracker will see at run time, made harder on purpose:

- time stretch, by default by 0.8-1.25 (``stretch``; resampling the activations and the
  beat grid), so the tempo distribution of the corpus is not all it knows;
- per-group gain (0.4-1.2), dropped groups (each 15 %), additive noise and false
  hits, so sparse and noisy drums are familiar;
- accompaniment-only clips with no beat targets, so activations of no drums give
  no beats.

Targets are the beat (downbeat) frames, with the neighbouring frames at 0.5.
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from drumscribe.charts.beat_net import FEATURES, BeatModel, BeatNet, beat_features, tempo_bins
from drumscribe.transcribe.io import atomic_write


def clip_beats(tempo: float, downbeat: float, seconds: float) -> Tuple[np.ndarray, np.ndarray]:
    """Beat times in [0, seconds) and which of them are downbeats (4/4)."""
    spb = 60.0 / tempo
    k0 = -int(math.floor(downbeat / spb))
    k1 = int(math.ceil((seconds - downbeat) / spb))
    k = np.arange(k0, k1 + 1)
    t = downbeat + k * spb
    keep = (t >= 0) & (t < seconds)
    return t[keep], (k[keep] % 4 == 0)


def cache_activations(corpus: Path, split: str, model_path: Path, cache: Path,
                      log=print) -> List[Dict]:
    """Run the drum model over the split's clips once; return one record per clip.

    Each record: ``{"name", "values" (n, len(FEATURES)), "fps", "beats", "down", "drums",
    "tempo"}``.
    Activations are cached as ``cache/<clip>.npz`` (features already summarised).
    """
    from drumscribe.transcribe.inference import Transcriber

    cache.mkdir(parents=True, exist_ok=True)
    rows = [r for r in csv.DictReader(open(corpus / "manifest.csv", newline="")) if r["split"] == split]
    tr: Optional[Transcriber] = None
    out = []
    t0 = time.time()
    for i, r in enumerate(rows):
        name = r["clip"]
        f = cache / f"{name}.npz"
        if not f.exists():
            if tr is None:
                tr = Transcriber(model_path)
            act = tr.activations_from_file(corpus / split / f"{name}.flac")
            with atomic_write(f) as fh:  # a unique temporary file: runs sharing a cache never collide
                np.savez_compressed(fh, x=beat_features(act.values, act.classes), fps=act.fps)
            if (i + 1) % 50 == 0:
                log(f"  activations {i + 1}/{len(rows)} ({time.time() - t0:.0f} s)")
        z = np.load(f)
        x, fps = z["x"], float(z["fps"])
        drums = not r["source"].startswith("nodrums")
        seconds = x.shape[0] / fps
        if drums and r["tempo"] and r["downbeat"] != "":
            beats, down = clip_beats(float(r["tempo"]), float(r["downbeat"]), seconds)
        else:
            beats, down = np.zeros(0), np.zeros(0, dtype=bool)
        out.append({"name": name, "values": x, "fps": fps, "beats": beats, "down": down,
                    "drums": drums, "tempo": float(r["tempo"]) if drums and r["tempo"] else 0.0})
    return out


def _targets(times: np.ndarray, n: int, fps: float) -> np.ndarray:
    y = np.zeros(n, dtype=np.float32)
    f = np.round(times * fps).astype(np.int64)
    f = f[(f >= 0) & (f < n)]
    for d in (-1, 1):
        g = np.clip(f + d, 0, n - 1)
        y[g] = np.maximum(y[g], 0.5)
    y[f] = 1.0
    return y


STRETCH = (0.8, 1.25)
"""Default range of the time stretch (a factor >1 slows the clip down), drawn log-uniformly."""


def make_example(rec: Dict, frames: int, rng: np.random.Generator,
                 stretch_range: Tuple[float, float] = STRETCH,
                 tempo_range: Optional[Tuple[float, float]] = None) -> Tuple[np.ndarray, np.ndarray, float]:
    """One augmented crop: inputs (frames, n_features), targets (frames, 2) and the
    crop's tempo (BPM after the stretch; 0 without drums).

    ``stretch_range``: the clip is slowed down by a factor drawn log-uniformly from
    it (below 1: sped up); a wider range than the default shows every groove at more
    tempi, so that the tempo must be read from the pattern (where the snare and kick
    sit) more than from how fast the hits come. ``tempo_range`` (BPM): the stretch is
    clipped so that the crop's tempo stays inside it (a 190 BPM groove sped up by 1/0.6
    is no song; None, the default, does not clip).
    """
    x, fps = rec["values"], rec["fps"]
    lo_s, hi_s = stretch_range
    stretch = float(np.exp(rng.uniform(np.log(lo_s), np.log(hi_s))))  # >1: slower
    if tempo_range is not None and rec.get("tempo"):
        stretch = float(np.clip(stretch, rec["tempo"] / tempo_range[1], rec["tempo"] / tempo_range[0]))
    n_src = x.shape[0]
    n_new = int(n_src * stretch)
    a = int(rng.integers(0, n_new - frames + 1)) if n_new > frames else 0
    m = min(frames, n_new - a)
    src_pos = np.arange(a, a + m) / stretch  # only the crop's frames are resampled
    if stretch < 1:  # fewer frames: each keeps the larger of its two sources (no lost peaks)
        lo = np.floor(src_pos).astype(np.int64).clip(0, n_src - 1)
        xs = np.maximum(x[lo], x[np.minimum(lo + 1, n_src - 1)])
    else:  # more frames: the nearest source frame (peaks keep their height)
        xs = x[np.round(src_pos).astype(np.int64).clip(0, n_src - 1)]
    beats = rec["beats"] * stretch
    down = beats[rec["down"]] if rec["down"].size else np.zeros(0)
    yb = _targets(beats - a / fps, m, fps)
    yd = _targets(down - a / fps, m, fps)
    if xs.shape[0] < frames:
        pad = frames - xs.shape[0]
        xs = np.pad(xs, ((0, pad), (0, 0)))
        yb, yd = np.pad(yb, (0, pad)), np.pad(yd, (0, pad))
    xs = xs.astype(np.float32, copy=True)
    g = len(FEATURES) - 1
    gain = rng.uniform(0.4, 1.2, g)
    drop = rng.random(g) < 0.15
    if drop.all():
        drop[int(rng.integers(g))] = False
    gain[drop] = 0.0
    xs[:, :g] *= gain
    if rng.random() < 0.5:  # false hits: short random spikes
        n_fa = int(rng.integers(0, frames // 25))
        where = rng.integers(0, frames, n_fa)
        cols = rng.integers(0, g, n_fa)
        xs[where, cols] = np.maximum(xs[where, cols], rng.uniform(0.2, 0.9, n_fa))
    xs[:, :g] += rng.uniform(0, 0.08) * rng.random((frames, g)).astype(np.float32)
    xs[:, :g] = np.clip(xs[:, :g], 0, 1)
    xs[:, g] = xs[:, :g].max(axis=1)
    return xs, np.stack([yb, yd], axis=1), (rec["tempo"] / stretch if rec.get("tempo") else 0.0)


_BINS = np.log(tempo_bins())


def _tempo_loss(logits: torch.Tensor, tempi) -> torch.Tensor:
    """Cross-entropy of the tempo output against a target smeared over +-2 % (crops
    without drums are left out)."""
    keep = [i for i, t in enumerate(tempi) if t > 0]
    if keep:
        target = np.exp(-0.5 * ((_BINS[None, :] - np.log(np.asarray([tempi[i] for i in keep]))[:, None])
                                / 0.01) ** 2)
        inside = target.sum(axis=1) > 1e-12  # far outside the bins: no tempo target
        keep = [i for i, ok in zip(keep, inside) if ok]
        target = target[inside]
    if not keep:
        return logits.sum() * 0.0
    target = torch.from_numpy((target / target.sum(axis=1, keepdims=True)).astype(np.float32))
    return -(target * torch.log_softmax(logits[keep], dim=1)).sum(dim=1).mean()


def train(records: List[Dict], epochs: int = 30, steps_per_epoch: int = 100, batch: int = 16,
          frames: int = 1500, hidden: int = 24, lr: float = 3e-3, seed: int = 0,
          pos_weight: float = 1.0, tempo_weight: float = 0.1,
          stretch: Tuple[float, float] = STRETCH, log=print, out: Optional[Path] = None,
          trained_on: str = "") -> BeatModel:
    """Train a :class:`BeatNet` for a fixed number of steps (no model selection).

    ``pos_weight`` 1 keeps the outputs calibrated probabilities: a larger one
    lifts every output, the off-beats' too, and the DBN then prefers twice the
    tempo (each off-beat above 1/16 pays its way as a beat).

    ``stretch``: the time-stretch range of :func:`make_example`; any other than the
    default also keeps every crop's tempo within the tempo output's bins
    (:func:`drumscribe.charts.beat_net.tempo_bins`; the default run, which trained
    ``models/beats.pt``, does not).

    Checkpoints ``out`` (the model) and ``out.with_suffix('.state')`` (optimiser) at
    every epoch; a rerun with the same ``out`` resumes from the last epoch.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    fps = records[0]["fps"]
    net = BeatNet(len(FEATURES), hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
    start = 0
    state_path = out.with_suffix(".state") if out is not None else None
    if state_path is not None and state_path.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        start = int(st["epoch"])
        rng = np.random.default_rng([seed, start])
        log(f"resumed at epoch {start}")
    pos_w = torch.tensor([pos_weight, pos_weight])
    loss_fn = nn.BCEWithLogitsLoss(reduction="none", pos_weight=pos_w)
    bins = tempo_bins()
    keep_in = None if tuple(stretch) == STRETCH else (float(bins[0]), float(bins[-1]))
    drum_recs = [r for r in records if r["drums"]]
    other = [r for r in records if not r["drums"]]
    for ep in range(start, epochs):
        net.train()
        t0, total = time.time(), 0.0
        for _ in range(steps_per_epoch):
            xs, ys, ts = [], [], []
            for _ in range(batch):
                pool = other if other and rng.random() < 0.06 else drum_recs
                x, y, t = make_example(pool[int(rng.integers(len(pool)))], frames, rng, stretch, keep_in)
                xs.append(x)
                ys.append(y)
                ts.append(t)
            xb = torch.from_numpy(np.stack(xs))
            yb = torch.from_numpy(np.stack(ys))
            frame_logits, tempo_logits = net(xb)
            loss = loss_fn(frame_logits, yb).mean()
            if tempo_logits is not None:
                loss = loss + tempo_weight * _tempo_loss(tempo_logits, ts)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            total += float(loss.detach())
        log(f"epoch {ep + 1}/{epochs}: loss {total / steps_per_epoch:.4f} ({time.time() - t0:.0f} s)")
        if out is not None:
            save_model(_snapshot(net, fps, trained_on), out)
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "epoch": ep + 1}, state_path.with_suffix(".statepart"))
            state_path.with_suffix(".statepart").replace(state_path)
    return _snapshot(net, fps, trained_on)


def _snapshot(net: BeatNet, fps: float, trained_on: str) -> BeatModel:
    """A BeatModel holding a copy of ``net`` (BeatModel puts its network in eval mode,
    and training goes on)."""
    model = BeatModel(BeatNet(len(FEATURES), net.hidden, net.levels, net.has_tempo), fps, trained_on)
    model.net.load_state_dict(net.state_dict())
    return model


def save_model(model: BeatModel, out: Path) -> None:
    """Write ``model``'s checkpoint to ``out`` whole or not at all (via ``out.part``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part")
    torch.save(model.state(), tmp)
    tmp.replace(out)


def finished(out: Path, epochs: int) -> bool:
    """Whether ``out`` holds a network trained for ``epochs`` epochs, as its state file
    (:func:`train`) records. A checkpoint without its state file does not count: a
    run stopped between the two writes leaves one behind."""
    state = out.with_suffix(".state")
    if not (out.is_file() and state.is_file()):
        return False
    return int(torch.load(state, map_location="cpu", weights_only=True)["epoch"]) >= epochs


def split_dev(records: List[Dict], every: int = 10) -> Tuple[List[Dict], List[Dict]]:
    """Hold out every ``every``-th clip (by name order) as a development set."""
    recs = sorted(records, key=lambda r: r["name"])
    dev = [r for i, r in enumerate(recs) if i % every == 0]
    return [r for i, r in enumerate(recs) if i % every != 0], dev


def evaluate_dev(model: BeatModel, records: List[Dict], tol: float = 0.04) -> Dict[str, float]:
    """Tempo right (within ``tol``, from the tracked beats' median period), and
    mir_eval F-measure of the beats and of the downbeats, of the tracker with
    ``model`` (None: the classic tracker) on clips with drums.

    The records hold the summarised features, which stand in for activations
    of a class list with one class per group (``kick``, ``snare``, ``hihat``,
    ``toms``, ``cymbals``), so the tracker's onset strength sees the same groups.
    ``warned_right`` and ``warned_wrong`` count the clips, of those with the tempo
    right and wrong, on which the chart would warn that the tempo is ambiguous
    (:func:`drumscribe.charts.tempo.ambiguous_alternative`); ``second_right`` and
    ``second_wrong`` those on which, without that warning, it would warn that the
    classic tempo score reads twice or half the tempo
    (:func:`drumscribe.charts.tempo.second_opinion`).
    """
    import mir_eval

    from drumscribe.charts import beats as tracker
    from drumscribe.charts.tempo import ambiguous_alternative, second_opinion

    classes = list(FEATURES[:-1])
    ok, fs, ds, warned, second = [], [], [], [], []
    for r in records:
        if not r["drums"] or r["beats"].size < 8:
            continue
        values = r["values"][:, :-1].astype(np.float64)
        tr = tracker.track(values, classes, r["fps"], beat_model=model)
        if tr is None:
            ok.append(False)
            fs.append(0.0)
            ds.append(0.0)
            warned.append(False)
            second.append(False)
            continue
        bpm = 60.0 / float(np.median(np.diff(tr.beats)))
        ok.append(abs(bpm / r["tempo"] - 1) <= tol)
        warned.append(bool(ambiguous_alternative(tr)))
        second.append(not warned[-1] and bool(second_opinion(tr, tracker.onset_strength(values, classes,
                                                                                        r["fps"]))))
        fs.append(float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(r["beats"], 0.0),
                                                mir_eval.beat.trim_beats(tr.beats, 0.0))))
        ds.append(float(mir_eval.beat.f_measure(r["beats"][r["down"]], tr.beats[tr.bar_position == 0])))
    return {"clips": float(len(ok)), "tempo_ok": float(np.mean(ok)) if ok else 0.0,
            "beat_f": float(np.mean(fs)) if fs else 0.0,
            "downbeat_f": float(np.mean(ds)) if ds else 0.0,
            "warned_right": float(sum(w for w, o in zip(warned, ok) if o)),
            "warned_wrong": float(sum(w for w, o in zip(warned, ok) if not o)),
            "second_right": float(sum(w for w, o in zip(second, ok) if o)),
            "second_wrong": float(sum(w for w, o in zip(second, ok) if not o))}


def describe(records: List[Dict]) -> str:
    """One line: clips, hours, beats."""
    secs = sum(r["values"].shape[0] / r["fps"] for r in records)
    return (f"{len(records)} clips ({secs / 3600:.2f} h), {sum(r['beats'].size for r in records)} beats, "
            f"{sum(not r['drums'] for r in records)} without drums")


def save_summary(path: Path, info: Dict) -> None:
    """Write the training summary as JSON."""
    path.write_text(json.dumps(info, indent=1) + "\n")
