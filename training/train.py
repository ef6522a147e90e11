"""Training loop for the drumscribe CRNN, with per-class ROC/PR AUC every validation epoch.

After every validation epoch the loop logs, to TensorBoard (when installed) and
to ``metrics.csv`` beside it: ``val_loss``, ``val_roc_auc_macro``,
``val_pr_auc_macro`` and ``val_roc_auc_class_<i>`` / ``val_pr_auc_class_<i>``
for every class index, computed with scikit-learn on frame targets. A class
without positives in validation is reported as undefined (empty cell) and left
out of the macro averages with a warning. Model selection (and early stopping)
is on validation loss by default (``select_on``; the AUCs can be chosen when the
validation kits shift the loss); ``last.pt`` in the run folder resumes a run.
"""

from __future__ import annotations

import csv
import math
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from drumscribe.transcribe.features import FeatureSettings
from drumscribe.transcribe.model import (MAX_CONV_BLOCKS, MAX_CONV_CHANNELS, ArchSettings, build_model,
                                         read_checkpoint_dict, save_checkpoint)
from drumscribe.transcribe.vocabulary import CLASS_NAMES

from .dataset import Clip, CropSampler, load_split, settings_key


def auc_metrics(y_true: np.ndarray, y_score: np.ndarray, classes: Sequence[str],
                prefix: str = "val_") -> Dict[str, Optional[float]]:
    """Per-class and macro ROC AUC and PR AUC (average precision), with scikit-learn.

    Parameters
    ----------
    y_true : np.ndarray, shape (n_frames, n_classes)
        Binary frame targets.
    y_score : np.ndarray, shape (n_frames, n_classes)
        Scores (probabilities).
    classes : sequence of str
    prefix : str

    Returns
    -------
    dict
        ``<prefix>roc_auc_class_<i>``, ``<prefix>pr_auc_class_<i>`` (None when
        class ``i`` has no positives or no negatives), and the macro averages
        over the defined classes (None when none is defined).
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    out: Dict[str, Optional[float]] = {}
    rocs, prs, undefined = [], [], []
    for i, c in enumerate(classes):
        t = y_true[:, i] > 0.5
        if t.all() or not t.any():
            out[f"{prefix}roc_auc_class_{i}"] = None
            out[f"{prefix}pr_auc_class_{i}"] = None
            undefined.append(c)
            continue
        roc = float(roc_auc_score(t, y_score[:, i]))
        pr = float(average_precision_score(t, y_score[:, i]))
        out[f"{prefix}roc_auc_class_{i}"] = roc
        out[f"{prefix}pr_auc_class_{i}"] = pr
        rocs.append(roc)
        prs.append(pr)
    if undefined:
        warnings.warn(f"AUC undefined (no positive frames) for {', '.join(undefined)}; "
                      "left out of the macro averages", RuntimeWarning, stacklevel=2)
    out[f"{prefix}roc_auc_macro"] = float(np.mean(rocs)) if rocs else None
    out[f"{prefix}pr_auc_macro"] = float(np.mean(prs)) if prs else None
    return out


@dataclass
class TrainConfig:
    """Everything a training run needs; stored in the checkpoint's metadata.

    ``level_norm_s`` selects the loudness-robust front end
    (:class:`drumscribe.transcribe.features.FeatureSettings`; 0 is the older
    level-dependent one). ``val_extra`` adds comma-separated folders of audio
    + ``.tsv`` (e.g. real recordings) to the validation clips that select the
    model; ``train_extra`` adds comma-separated rendered splits (e.g. the
    ``train`` folder of a second corpus built with ``--accomp-db 10 20``) to the
    training clips. ``init`` starts the weights from a checkpoint of the same
    architecture (its input normalisation is re-estimated); a checkpoint with
    fewer feature channels, or narrower convolutions, also serves
    (:func:`grow_state`: the weights that read a new channel start at zero, so
    training starts from the old model's outputs). ``conv2d_channels`` and
    ``conv1d_channels`` (comma-separated, e.g. ``"16"`` and ``"128,128"``; empty
    is :class:`~drumscribe.transcribe.model.ArchSettings`' default) set the
    convolutions' widths.
    ``background_frames`` adds the sustained-background channel, and
    ``percussive_bands`` makes the two channels a percussive/harmonic split
    (:class:`~drumscribe.transcribe.features.FeatureSettings`).
    ``keep_epochs`` also writes every epoch's model to ``<run_dir>/epoch<N>.pt``,
    for choosing among them on other data afterwards.
    """

    corpus: str = "corpus"
    out: str = "models/default.pt"
    run_dir: str = "runs/default"
    classes: List[str] = field(default_factory=lambda: list(CLASS_NAMES))
    epochs: int = 100
    steps_per_epoch: int = 200
    batch_size: int = 24
    crop_frames: int = 400
    lr: float = 2e-3
    weight_decay: float = 1e-4
    max_pos_weight: float = 10.0
    soft_targets: float = 0.5
    patience: int = 8
    select_on: str = "val_loss"
    max_minutes: float = 60.0
    seed: int = 0
    threads: int = 0
    limit_clips: int = 0
    resume: bool = False
    level_norm_s: float = 3.0
    val_extra: str = ""
    train_extra: str = ""
    init: str = ""
    background_frames: int = 0
    percussive_bands: int = 0
    keep_epochs: bool = False
    conv2d_channels: str = ""
    conv1d_channels: str = ""


def grow_state(old: Dict[str, torch.Tensor], new: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Fit an older model's weights into a model with more inputs or wider convolutions.

    A tensor whose shape matches is kept. One that is larger in some dimension
    (the first convolution of a model with an extra feature channel; a
    convolution with more output channels and the layers that read them) gets
    the old values in its leading slice; the weights by which an old unit
    would read a new one are zero, and the rest (the new units' own weights,
    batch-norm scales and statistics) keep their values in ``new``, the fresh
    model's initialisation. So the grown model computes exactly what the old
    one did, and the new units are alive from the first step: their outputs
    are nonzero, so the zero weights that read them get gradients. Tensors that
    would have to shrink are left out.

    Parameters
    ----------
    old : dict
        State dict of the older model.
    new : dict
        State dict of the freshly built model to initialise (gives the shapes
        and the new units' initial values).

    Raises
    ------
    ValueError
        When the recurrent layers or the head would have to grow anywhere but
        in the GRU's input size: their gates and directions are stacked inside
        each tensor, so a leading slice would not hold the old weights.
    """
    out = {}
    for k, v in old.items():
        if k not in new:
            continue
        target = new[k]
        if v.shape == target.shape:
            out[k] = v
        elif v.dim() == target.dim() and all(a <= b for a, b in zip(v.shape, target.shape)):
            input_only = re.fullmatch(r"rnn\.weight_ih_l0(_reverse)?", k) and v.shape[0] == target.shape[0]
            if (k.startswith("rnn.") or k.startswith("head.")) and not input_only:
                raise ValueError(f"{k}: a GRU or head tensor {tuple(v.shape)} cannot be grown to "
                                 f"{tuple(target.shape)}; keep rnn_hidden and rnn_layers")
            grown = target.detach().clone()
            grown[tuple(slice(0, n) for n in v.shape)] = v
            if v.dim() >= 2 and target.shape[1] > v.shape[1]:
                grown[:v.shape[0], v.shape[1]:] = 0  # old units do not read the new ones
            out[k] = grown
    return out


def arch_settings(cfg: "TrainConfig") -> ArchSettings:
    """The :class:`ArchSettings` that ``cfg``'s width options ask for."""
    def widths(text, flag):
        try:
            vals = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            vals = ()
        if not vals or min(vals) < 1 or max(vals) > MAX_CONV_CHANNELS or len(vals) > MAX_CONV_BLOCKS:
            raise SystemExit(f"--{flag} {text!r}: give at most {MAX_CONV_BLOCKS} integers in "
                             f"1..{MAX_CONV_CHANNELS} separated by commas, e.g. 16 or 128,128 "
                             "(what a checkpoint may hold)")
        return vals
    kw = {}
    if cfg.conv2d_channels.strip():
        kw["conv2d_channels"] = widths(cfg.conv2d_channels, "conv2d-channels")
    if cfg.conv1d_channels.strip():
        kw["conv1d_channels"] = widths(cfg.conv1d_channels, "conv1d-channels")
    return ArchSettings(**kw)


def _pos_weights(clips: List[Clip], n_classes: int, cap: float) -> torch.Tensor:
    pos = np.zeros(n_classes)
    tot = 0
    for c in clips:
        pos += c.hard.sum(axis=0)
        tot += c.hard.shape[0]
    neg = tot - pos
    w = np.sqrt(neg / np.maximum(pos, 1.0))
    return torch.tensor(np.clip(w, 1.0, cap), dtype=torch.float32)


def predict_clips(model: nn.Module, clips: List[Clip], batch: int = 16):
    """Model probabilities and summed BCE inputs for whole clips (eval mode)."""
    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(clips), batch):
            group = clips[i:i + batch]
            n = max(c.features.shape[0] for c in group)
            x = torch.zeros(len(group), n, group[0].features.shape[1])
            for k, c in enumerate(group):
                x[k, :c.features.shape[0]] = torch.from_numpy(c.features.astype(np.float32))
            logits = model(x)
            for k, c in enumerate(group):
                outs.append(logits[k, :c.features.shape[0]].numpy())
    return outs


def load_validation(corpus, extras: Sequence[str], classes: Sequence[str], settings: FeatureSettings,
                    soft: float = 0.5, limit: Optional[int] = None, extra_cache=None,
                    progress: bool = True) -> List[Clip]:
    """The validation clips: ``corpus/val`` plus each folder of ``extras`` (blank entries skipped).

    ``extra_cache`` is the root of the extra folders' feature caches
    (``<extra_cache>/<settings key>/<folder name>``); None keeps :func:`load_split`'s default.
    """
    clips = load_split(Path(corpus) / "val", classes, settings, soft=soft, limit=limit, progress=progress)
    for extra in filter(None, (e.strip() for e in extras)):
        cache = None if extra_cache is None else Path(extra_cache) / settings_key(settings) / Path(extra).name
        clips += load_split(extra, classes, settings, soft=soft, limit=limit, cache_dir=cache, progress=progress)
    return clips


def validate(model, clips: List[Clip], loss_fn, classes) -> Dict[str, Optional[float]]:
    """Validation loss and AUC metrics over whole clips."""
    logits = predict_clips(model, clips)
    L = np.concatenate(logits)
    Y = np.concatenate([c.targets for c in clips])
    H = np.concatenate([c.hard for c in clips])
    loss = float(loss_fn(torch.from_numpy(L), torch.from_numpy(Y)).item())
    P = 1.0 / (1.0 + np.exp(-L))
    m = {"val_loss": loss}
    m.update(auc_metrics(H, P, classes))
    return m


class MetricsLog:
    """CSV (and TensorBoard, when installed) metric logger."""

    def __init__(self, run_dir: Path, classes: Sequence[str]):
        self.path = run_dir / "metrics.csv"
        n = len(classes)
        self.columns = (["epoch", "step", "minutes", "train_loss", "val_loss",
                         "val_roc_auc_macro", "val_pr_auc_macro"]
                        + [f"val_roc_auc_class_{i}" for i in range(n)]
                        + [f"val_pr_auc_class_{i}" for i in range(n)])
        if not self.path.exists():
            with open(self.path, "w", newline="") as fh:
                csv.writer(fh).writerow(self.columns)
        try:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(run_dir / "tensorboard"))
        except Exception:  # tensorboard not installed
            self.tb = None

    def write(self, row: Dict):
        with open(self.path, "a", newline="") as fh:
            csv.writer(fh).writerow(["" if row.get(c) is None else
                                     (f"{row[c]:.6f}" if isinstance(row[c], float) else row[c])
                                     for c in self.columns])
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("epoch", "step") and isinstance(v, (int, float)) and v is not None:
                    self.tb.add_scalar(k, v, row["epoch"])
            self.tb.flush()


def train(cfg: TrainConfig, log=print) -> Dict:
    """Train a model; returns the best validation metrics.

    The best model (lowest validation loss) is written to ``cfg.out`` as a
    drumscribe checkpoint; ``<run_dir>/last.pt`` holds the latest state for
    ``resume``.
    """
    from tqdm import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    try:
        settings = FeatureSettings(level_norm_s=cfg.level_norm_s, background_frames=cfg.background_frames,
                                   percussive_bands=cfg.percussive_bands)
    except ValueError as exc:  # a bad channel layout: say which options
        raise SystemExit(f"--background-frames {cfg.background_frames} --percussive-bands "
                         f"{cfg.percussive_bands}: {exc}") from None
    arch = arch_settings(cfg)
    try:  # before any feature is computed: a layout the model cannot take is one line
        model = build_model(cfg.classes, settings, arch)
    except ValueError as exc:
        raise SystemExit(f"--conv2d-channels {cfg.conv2d_channels or 'default'}: {exc}") from None
    corpus = Path(cfg.corpus)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    Path(cfg.out).parent.mkdir(parents=True, exist_ok=True)
    limit = cfg.limit_clips or None
    train_clips = load_split(corpus / "train", cfg.classes, settings, soft=cfg.soft_targets, limit=limit)
    for extra in filter(None, (v.strip() for v in cfg.train_extra.split(","))):
        train_clips += load_split(extra, cfg.classes, settings, soft=cfg.soft_targets, limit=limit)
    val_clips = load_validation(corpus, cfg.val_extra.split(","), cfg.classes, settings, soft=cfg.soft_targets,
                                limit=limit, extra_cache=run_dir / "_val_features")
    if not train_clips or not val_clips:
        raise SystemExit(f"{corpus}: no train/val clips found; build the corpus with "
                         "scripts/make_corpus.py first")
    log(f"train clips: {len(train_clips)}, val clips: {len(val_clips)}")
    if cfg.init and not cfg.resume:
        d = read_checkpoint_dict(cfg.init)
        state = {k: v for k, v in d["state_dict"].items() if not k.startswith("input_norm.")}
        grown = grow_state(state, model.state_dict())
        n_grown = sum(1 for k, v in grown.items() if v.shape != state[k].shape)
        missing, _ = model.load_state_dict(grown, strict=False)
        log(f"weights from {cfg.init} (input normalisation re-estimated; grown: {n_grown} tensors, "
            f"new: {len(missing)} tensors)")
    pw = _pos_weights(train_clips, len(cfg.classes), cfg.max_pos_weight)
    log("pos_weight: " + ", ".join(f"{c} {w:.1f}" for c, w in zip(cfg.classes, pw.tolist())))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.select_on not in SELECT_MODES:
        raise SystemExit(f"--select-on must be one of {', '.join(SELECT_MODES)}")
    sign = SELECT_MODES[cfg.select_on]  # +1: lower is better, -1: higher is better
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
    start_epoch, best, bad_epochs, minutes_before = 0, math.inf, 0, 0.0
    last = run_dir / "last.pt"
    if cfg.resume and last.exists():
        d = read_checkpoint_dict(last)
        model.load_state_dict(d["state_dict"])
        opt.load_state_dict(d["optimizer"])
        sched.load_state_dict(d["scheduler"])
        start_epoch = int(d["epoch"]) + 1
        if d.get("select_on", "val_loss") == cfg.select_on:
            best = float(d["best_score"] if "best_score" in d else d["best_val_loss"])
            bad_epochs = int(d["bad_epochs"])
        else:  # selection criterion changed: the next epoch becomes the best so far
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2)
            log(f"model selection now on {cfg.select_on}; best reset")
        minutes_before = float(d["minutes"])
        log(f"resumed from {last} at epoch {start_epoch}")
    sampler = CropSampler(train_clips, cfg.crop_frames, seed=cfg.seed + start_epoch)
    metrics_log = MetricsLog(run_dir, cfg.classes)
    t0 = time.time()
    best_metrics: Dict = {}
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        losses = []
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"epoch {epoch}", leave=False)
        for _ in bar:
            x, y = sampler.batch(cfg.batch_size)
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        m = validate(model, val_clips, loss_fn, cfg.classes)
        minutes = minutes_before + (time.time() - t0) / 60
        row = {"epoch": epoch, "step": (epoch + 1) * cfg.steps_per_epoch, "minutes": minutes,
               "train_loss": float(np.mean(losses)), **m}
        metrics_log.write(row)
        score = sign * (m[cfg.select_on] if m[cfg.select_on] is not None else -sign * math.inf)
        sched.step(score)
        improved = score < best - 1e-5
        log(f"epoch {epoch}: train {row['train_loss']:.4f} val {m['val_loss']:.4f} "
            f"roc {m['val_roc_auc_macro'] or float('nan'):.4f} pr {m['val_pr_auc_macro'] or float('nan'):.4f}"
            f" [{minutes:.1f} min]{' *' if improved else ''}")
        trained = {"config": asdict(cfg), "epoch": epoch, "val_metrics": _plain(row),
                   "data": "rendered corpus (training/README.md): Groove MIDI Dataset (CC BY 4.0) "
                           "and generated grooves through the training kits"}
        if improved:
            best, bad_epochs, best_metrics = score, 0, row
            save_checkpoint(cfg.out, model, cfg.classes, settings, training=trained)
        else:
            bad_epochs += 1
        save_checkpoint(last, model, cfg.classes, settings, training={"config": asdict(cfg)},
                        extra={"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                               "epoch": epoch, "best_score": best, "select_on": cfg.select_on,
                               "bad_epochs": bad_epochs,
                               "minutes": minutes})
        if cfg.keep_epochs:
            save_checkpoint(run_dir / f"epoch{epoch}.pt", model, cfg.classes, settings, training=trained)
        if bad_epochs >= cfg.patience:
            log(f"early stopping after {epoch + 1} epochs")
            break
        if minutes >= cfg.max_minutes:
            log(f"time budget of {cfg.max_minutes} min reached")
            break
    return best_metrics


SELECT_MODES = {"val_loss": 1.0, "val_pr_auc_macro": -1.0, "val_roc_auc_macro": -1.0}
"""Model-selection criteria and their direction (+1: lower is better)."""


def _plain(row: Dict) -> Dict:
    return {k: (None if v is None else (float(v) if isinstance(v, (float, np.floating)) else v))
            for k, v in row.items()}
