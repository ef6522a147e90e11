"""Thresholds that transfer: grouped statistics, robust per-class choice, leave-one-group-out check.

Validation files come in *groups* (songs, kits, recording sessions). The sweep
keeps true/false positive counts per group, class and threshold
(:class:`GroupStats`); everything here works on those counts, so no file is
read twice.

Choosing a class's threshold (:func:`fit`)

1. Each objective turns pooled counts into a score per threshold
   (:func:`objective_scores`): F-beta, recall where precision reaches the
   floor, or F1 where the game targets are met (a threshold that misses them
   always scores below one that meets them).
2. Groups are resampled with replacement (``n_boot`` bootstrap resamples); the
   score is averaged over the resamples, so a threshold that is best only
   thanks to one group loses.
3. The averaged score is replaced by its minimum over ``±step`` (``SMOOTH``,
   0.05) around each threshold, so a point next to a recall cliff (where a small step up
   loses many onsets) is never chosen; among thresholds within ``tol`` of the
   best, the middle of the widest interval is taken.
4. The spread of the per-resample best thresholds gives a 90 % interval.
5. A class with fewer than ``min_support`` reference onsets keeps the global
   threshold; between ``min_support`` and twice that it is shrunk linearly
   toward the global one.

:func:`transfer` fits on all groups but one, scores the held-out group, and
repeats for every group: per class and in macro, for the per-class
thresholds, one global threshold and the fixed 0.5. :func:`decide` keeps,
per class, the method that did best on the pooled held-out counts. With a
``confidence`` above 0 (``calibrate --transfer-confidence 0.9``) that win must also
hold in that share of the bootstrap resamples of the held-out groups, so that a win
carried by one group out of seven does not pass; the simpler method is then kept and
the report says why. The default is 0 (:data:`CONFIDENCE`), the rule the shipped
calibration was fitted with; docs/calibration.md gives what 0.9 changed on the
shipped model's validation data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from drumscribe.transcribe.vocabulary import is_core

from .metrics import MetricError
from .objectives import GAME_TARGETS, GLOBAL_WEIGHTS, Objective

GROUP_POINTS = 1025
"""Thresholds kept per group when the sweep's grid is finer (0, 1/1024, ... 1)."""

FIXED = 0.5
"""The old fixed threshold, the baseline of the transfer check."""

SMOOTH = 0.05
"""Half-width of the window whose worst averaged score the robust choice maximises.

Chosen on ENST-Drums grouped by drummer with the shipped model (leave-one-drummer-out
macro F1 of the per-class thresholds: 0.348 at 0.02, 0.353 at 0.03, 0.358 at 0.05)."""

CONFIDENCE = 0.0
"""Share of group-bootstrap resamples of the held-out counts in which a method must beat
the simpler one it replaces (:func:`decide`). 0 keeps the plain best pooled held-out
score, as the shipped calibration does; 0.9 is a one-sided 90 % test, set a priori."""

DECISION_BOOT = 2000
"""Bootstrap resamples of the held-out groups behind :func:`decide`."""

CLIFF_STEP = 0.02
"""Threshold step over which a recall drop counts as a cliff."""

CLIFF_DROP = 0.10
"""Recall lost within ``CLIFF_STEP`` above a threshold that makes it a recall cliff."""

METHODS = ("per-class", "global", "fixed 0.5")


class GroupStats:
    """True/false positive counts per group, class and threshold.

    Parameters
    ----------
    classes : sequence of str
    thresholds : array_like, shape (T,)
        Increasing thresholds at which counts are kept.

    Attributes
    ----------
    groups : list of str
    tp, fp : np.ndarray of int64, shape (G, C, T)
        Detections at threshold ``>= thresholds[k]`` that match / do not match.
    n_ref : np.ndarray of int64, shape (G, C)
    """

    def __init__(self, classes: Sequence[str], thresholds):
        self.classes = list(classes)
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        if self.thresholds.ndim != 1 or not self.thresholds.size or np.any(np.diff(self.thresholds) <= 0):
            raise MetricError("group thresholds must be a non-empty increasing list")
        self.groups: List[str] = []
        self._tp: List[np.ndarray] = []
        self._fp: List[np.ndarray] = []
        self._n: List[np.ndarray] = []

    def _slot(self, group: str) -> int:
        if group not in self.groups:
            c, t = len(self.classes), self.thresholds.size
            self.groups.append(group)
            self._tp.append(np.zeros((c, t), np.int64))
            self._fp.append(np.zeros((c, t), np.int64))
            self._n.append(np.zeros(c, np.int64))
        return self.groups.index(group)

    def add(self, group: str, tp: np.ndarray, fp: np.ndarray, n_ref: np.ndarray) -> None:
        """Add counts of shape (C, T) and (C,) to ``group``."""
        g = self._slot(str(group))
        self._tp[g] += np.asarray(tp, np.int64)
        self._fp[g] += np.asarray(fp, np.int64)
        self._n[g] += np.asarray(n_ref, np.int64)

    @property
    def tp(self) -> np.ndarray:
        return np.stack(self._tp) if self._tp else np.zeros((0, len(self.classes), self.thresholds.size), np.int64)

    @property
    def fp(self) -> np.ndarray:
        return np.stack(self._fp) if self._fp else np.zeros((0, len(self.classes), self.thresholds.size), np.int64)

    @property
    def n_ref(self) -> np.ndarray:
        return np.stack(self._n) if self._n else np.zeros((0, len(self.classes)), np.int64)

    def support(self) -> Dict[str, int]:
        """Reference onsets per class over all groups."""
        n = self.n_ref.sum(axis=0)
        return {c: int(n[j]) for j, c in enumerate(self.classes)}


def coarse_indices(n_thresholds: int, points: int = GROUP_POINTS) -> np.ndarray:
    """Indices of at most ``points`` evenly spread thresholds of a finer grid."""
    if n_thresholds <= points:
        return np.arange(n_thresholds)
    return np.unique(np.round(np.linspace(0, n_thresholds - 1, points)).astype(int))


# ----------------------------------------------------------------------------- objectives

def _fbeta(tp, fp, n, beta):
    b2 = beta * beta
    den = (1 + b2) * tp + b2 * (n - tp) + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (1 + b2) * tp / np.where(den > 0, den, 1), 0.0)


def _pr(tp, fp, n):
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
        rec = np.where(n > 0, tp / np.where(n > 0, n, 1), 0.0)
    return prec, rec


def objective_scores(objective: Objective, tp, fp, n_ref, core: bool) -> np.ndarray:
    """Score of pooled counts at each threshold (higher is better).

    Parameters
    ----------
    objective : Objective
    tp, fp : np.ndarray, shape (..., T)
    n_ref : np.ndarray, shape (...)
    core : bool
        Core class (game targets).

    Returns
    -------
    np.ndarray, shape (..., T)
        ``fbeta``/``f1``/``global``: F-beta. ``recall@precision=P``: recall where
        precision >= P, else ``precision - P - 1`` (< -1). ``game``: F1 where
        F1 and recall exceed the targets, else ``F1 - 1``.
    """
    tp = np.asarray(tp, np.float64)
    fp = np.asarray(fp, np.float64)
    n = np.asarray(n_ref, np.float64)[..., None]
    if objective.kind in ("f1", "fbeta", "global"):
        return _fbeta(tp, fp, n, objective.beta if objective.kind == "fbeta" else 1.0)
    prec, rec = _pr(tp, fp, n)
    if objective.kind == "recall@precision":
        p = objective.precision_floor
        return np.where(prec >= p - 1e-12, rec, prec - p - 1.0)
    if objective.kind == "game":
        f_t, r_t = GAME_TARGETS[bool(core)]
        f1 = _fbeta(tp, fp, n, 1.0)
        return np.where((f1 > f_t) & (rec > r_t), f1, f1 - 1.0)
    raise MetricError(f"unknown objective {objective}")  # pragma: no cover


def window_min(score: np.ndarray, thresholds: np.ndarray, step: float = SMOOTH) -> np.ndarray:
    """``min(score[t - step .. t + step])`` per threshold (last axis).

    Thresholds whose window reaches past the grid's ends get ``-inf``: a
    threshold within ``step`` of 0 or 1 cannot show that its neighbourhood is
    safe, so it is never chosen (a threshold of 0 keeps every candidate).
    """
    score = np.asarray(score, np.float64)
    lo = np.searchsorted(thresholds, thresholds - step - 1e-12, side="left")
    hi = np.searchsorted(thresholds, thresholds + step + 1e-12, side="right")
    out = np.empty_like(score)
    for k in range(thresholds.size):  # T is small (<= 1025)
        out[..., k] = score[..., lo[k]:hi[k]].min(axis=-1)
    inside = (thresholds - step >= thresholds[0] - 1e-9) & (thresholds + step <= thresholds[-1] + 1e-9)
    if inside.any():
        out[..., ~inside] = -np.inf
    return out


def widest_middle(score: np.ndarray, thresholds: np.ndarray, tol: float) -> int:
    """Index in the middle of the widest run of thresholds within ``tol`` of the best score."""
    best = np.nanmax(score)
    on = score >= best - tol
    idx = np.flatnonzero(on)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    widths = [thresholds[r[-1]] - thresholds[r[0]] for r in runs]
    run = runs[int(np.argmax(widths))]
    mid = 0.5 * (thresholds[run[0]] + thresholds[run[-1]])
    return int(run[np.argmin(np.abs(thresholds[run] - mid))])


def recall_cliff(tp: np.ndarray, n_ref: int, thresholds: np.ndarray, t: float,
                 step: float = CLIFF_STEP, drop: float = CLIFF_DROP) -> Optional[float]:
    """Recall lost between ``t`` and ``t + step`` when that is more than ``drop``, else None.

    Parameters
    ----------
    tp : np.ndarray, shape (T,)
        Pooled true positives per threshold.
    """
    if n_ref <= 0:
        return None
    i = int(np.searchsorted(thresholds, t - 1e-12))
    j = int(np.searchsorted(thresholds, t + step - 1e-12))
    i, j = min(i, thresholds.size - 1), min(j, thresholds.size - 1)
    lost = (float(tp[i]) - float(tp[j])) / n_ref
    return lost if lost > drop else None


# ----------------------------------------------------------------------------- fitting

@dataclass
class ClassFit:
    """The robust threshold of one class.

    Attributes
    ----------
    threshold : float
        After shrinkage toward the global threshold.
    fitted : float
        The class's own robust threshold (before shrinkage).
    interval : (float, float)
        90 % bootstrap interval of the class's best threshold.
    support : int
    weight : float
        Share of the class's own threshold (0: global kept, 1: its own).
    cliff : float or None
        Recall lost just above ``threshold`` when it sits at a recall cliff.
    note : str
    """

    threshold: float
    fitted: float
    interval: Tuple[float, float]
    support: int
    weight: float
    cliff: Optional[float] = None
    note: str = ""


@dataclass
class Fit:
    """Per-class and global robust thresholds."""

    classes: Dict[str, ClassFit]
    global_threshold: float
    global_interval: Tuple[float, float]
    objective: str
    min_support: int
    n_boot: int


def _weights(n_groups: int, n_boot: int, rng) -> np.ndarray:
    if n_groups == 1 or n_boot <= 0:
        return np.ones((1, n_groups))
    return rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)


def _core_of(groups: Optional[Dict[str, list]], core: Callable[[str], bool]):
    groups = groups or {}
    return lambda c: any(core(m) for m in groups.get(c, [c]))


def _choose(scores_b: np.ndarray, thresholds: np.ndarray, tol: float, step: float):
    """(index, interval) from per-resample scores (B, T)."""
    mean = scores_b.mean(axis=0)
    i = widest_middle(window_min(mean, thresholds, step), thresholds, tol)
    best = thresholds[np.argmax(window_min(scores_b, thresholds, step), axis=1)]
    lo, hi = np.percentile(best, [5, 95]) if best.size > 1 else (thresholds[i], thresholds[i])
    return i, (float(lo), float(hi))


def fit(stats: GroupStats, objective: Objective, min_support: int = 50, fallback: float = 0.5,
        n_boot: int = 200, seed: int = 0, tol: float = 0.005, step: float = SMOOTH,
        groups: Optional[Dict[str, list]] = None, core: Callable[[str], bool] = is_core,
        mask: Optional[np.ndarray] = None, spread: float = 0.0) -> Fit:
    """Robust per-class and global thresholds (see the module docstring).

    Parameters
    ----------
    stats : GroupStats
    objective : Objective
    min_support : int >= 1
        Below this many reference onsets a class keeps the global threshold.
    fallback : float
        Threshold of classes without positives.
    n_boot : int
        Bootstrap resamples of the groups.
    seed : int
    tol : float
        Score tolerance of "near the best".
    step : float
        Half-width of the window whose worst score is maximised.
    groups : dict, optional
        Class groups (a group is core when a member is).
    core : callable
    mask : np.ndarray of bool, shape (G,), optional
        Groups to use (the transfer check leaves one out).
    spread : float >= 0
        When > 0, a class whose 90 % interval is ``w`` wide keeps only
        ``1 - w / spread`` of its own threshold's share (groups that disagree
        pull it toward the global threshold); 0 turns this off.

    Returns
    -------
    Fit
    """
    if min_support < 1:
        raise MetricError(f"min_support must be >= 1, got {min_support!r}")
    is_core_name = _core_of(groups, core)
    th = stats.thresholds
    tp, fp, n = stats.tp, stats.fp, stats.n_ref
    if mask is not None:
        tp, fp, n = tp[mask], fp[mask], n[mask]
    if not tp.shape[0]:
        raise MetricError("no groups to fit on")
    w = _weights(tp.shape[0], n_boot, np.random.default_rng(seed))
    tpb = np.tensordot(w, tp.astype(np.float64), axes=(1, 0))  # (B, C, T)
    fpb = np.tensordot(w, fp.astype(np.float64), axes=(1, 0))
    nb = w @ n  # (B, C)
    support = n.sum(axis=0)
    per_scores = {}
    for j, c in enumerate(stats.classes):
        if support[j] > 0:
            per_scores[c] = objective_scores(objective, tpb[:, j], fpb[:, j], nb[:, j], is_core_name(c))
    # global: weighted macro of the classes' scores (core 0.8, other 0.2)
    core_s = [s for c, s in per_scores.items() if is_core_name(c)]
    other_s = [s for c, s in per_scores.items() if not is_core_name(c)]
    if per_scores:
        w_core, w_other = GLOBAL_WEIGHTS
        if not core_s:
            w_core, w_other = 0.0, 1.0
        elif not other_s:
            w_core, w_other = 1.0, 0.0
        gscore = np.zeros((w.shape[0], th.size))
        if core_s:
            gscore += w_core * np.mean(core_s, axis=0)
        if other_s:
            gscore += w_other * np.mean(other_s, axis=0)
        gi, g_int = _choose(gscore, th, tol, step)
        g_t = float(th[gi])
    else:
        g_t, g_int = float(fallback), (float(fallback), float(fallback))
    out: Dict[str, ClassFit] = {}
    pooled_tp = tp.sum(axis=0)
    for j, c in enumerate(stats.classes):
        s = int(support[j])
        if s == 0:
            out[c] = ClassFit(float(fallback), float(fallback), (float(fallback),) * 2, 0, 0.0, None,
                              f"no positives in the validation data; kept the fallback {fallback:g}")
            continue
        if objective.kind == "global":
            t = g_t
            out[c] = ClassFit(t, t, g_int, s, 0.0, recall_cliff(pooled_tp[j], s, th, t),
                              "one global threshold")
            continue
        i, interval = _choose(per_scores[c], th, tol, step)
        own = float(th[i])
        wgt = float(np.clip((s - min_support) / float(min_support), 0.0, 1.0))
        if spread > 0:
            wgt *= float(np.clip(1.0 - (interval[1] - interval[0]) / spread, 0.0, 1.0))
        t = g_t + wgt * (own - g_t)
        t = float(th[int(np.argmin(np.abs(th - t)))])  # stay on the grid the counts are exact on
        if s < min_support:
            note = f"support {s} < minimum {min_support}: kept the global threshold {g_t:.3f}"
        elif wgt < 1.0:
            why = (f"support {s} < {2 * min_support}" if s < 2 * min_support else
                   f"groups disagree (interval {interval[0]:.2f}-{interval[1]:.2f})")
            note = (f"{why}: moved {wgt:.0%} of the way from the global "
                    f"{g_t:.3f} to its own {own:.3f}")
        else:
            note = ""
        out[c] = ClassFit(t, own, interval, s, wgt, recall_cliff(pooled_tp[j], s, th, t), note)
    return Fit(out, g_t, g_int, str(objective), int(min_support), int(w.shape[0]))


# ----------------------------------------------------------------------------- transfer

def _at(stats_tp, stats_fp, thresholds, t):
    k = min(int(np.searchsorted(thresholds, t - 1e-9)), thresholds.size - 1)
    return stats_tp[..., k], stats_fp[..., k]


@dataclass
class Transfer:
    """Leave-one-group-out scores of the three methods.

    Attributes
    ----------
    counts : dict of method -> dict of class -> (tp, fp, fn)
        Summed over held-out groups.
    score, f1 : dict of method -> dict of class -> float
        The objective's score and F1 of those counts.
    macro_score, macro_f1 : dict of method -> float
        Over classes with positives.
    kept : dict of str -> str
        The method kept per class (:func:`decide`).
    folds : int
    fold_counts : dict of method -> np.ndarray, shape (folds, classes, 3)
        TP, FP, FN of each held-out group.
    win_share : dict of str -> dict of method -> float
        Per class, for ``global`` and ``per-class``: the share of bootstrap
        resamples of the held-out groups in which the method beat the simpler one
        it was weighed against (:func:`decide`).
    versus : dict of str -> dict of method -> str
        That simpler method, per class and method.
    confidence : float
        The share :func:`decide` asked for.
    groups : list of str
        The held-out group of each fold.
    materials : list of str
        The material of each fold (group), when :func:`decide` also checked each
        material on its own; empty otherwise.
    material_loss : dict of str -> dict of method -> (material, score, simpler score)
        Per class, a method that scored higher overall but lost to the simpler
        one on the held-out groups of one material (:func:`decide`).
    """

    counts: Dict[str, Dict[str, Tuple[int, int, int]]]
    score: Dict[str, Dict[str, float]]
    f1: Dict[str, Dict[str, float]]
    macro_score: Dict[str, float]
    macro_f1: Dict[str, float]
    kept: Dict[str, str] = field(default_factory=dict)
    folds: int = 0
    fold_counts: Dict[str, np.ndarray] = field(default_factory=dict)
    win_share: Dict[str, Dict[str, float]] = field(default_factory=dict)
    versus: Dict[str, Dict[str, str]] = field(default_factory=dict)
    confidence: float = CONFIDENCE
    groups: List[str] = field(default_factory=list)
    materials: List[str] = field(default_factory=list)
    material_loss: Dict[str, Dict[str, Tuple[str, float, float]]] = field(default_factory=dict)


def transfer(stats: GroupStats, objective: Objective, min_support: int = 50, fallback: float = 0.5,
             n_boot: int = 50, seed: int = 0, groups: Optional[Dict[str, list]] = None,
             core: Callable[[str], bool] = is_core, confidence: float = CONFIDENCE,
             materials: Optional[Dict[str, str]] = None, **kw) -> Transfer:
    """Leave-one-group-out check of per-class, global and fixed-0.5 thresholds.

    For each group: fit (:func:`fit`) on the other groups, count TP/FP/FN of the
    held-out group at the per-class thresholds, the global threshold and 0.5.
    Counts are summed over the held-out groups per class; :func:`decide` then keeps
    a method per class (``confidence`` and ``materials``: see there).
    ``materials`` maps each group to its material ("drums-only", "full mix":
    :func:`drumscribe.calibration.domain.group_materials`).

    Raises
    ------
    MetricError
        With fewer than two groups.
    """
    G = len(stats.groups)
    if G < 2:
        raise MetricError("the transfer check needs at least two groups (see --group-by)")
    is_core_name = _core_of(groups, core)
    th = stats.thresholds
    tp, fp, n = stats.tp, stats.fp, stats.n_ref
    per_fold = {m: np.zeros((G, len(stats.classes), 3), np.int64) for m in METHODS}
    for h in range(G):
        mask = np.ones(G, bool)
        mask[h] = False
        f = fit(stats, objective, min_support, fallback, n_boot, seed + h, groups=groups, core=core,
                mask=mask, **kw)
        for j, c in enumerate(stats.classes):
            for m, t in (("per-class", f.classes[c].threshold), ("global", f.global_threshold),
                         ("fixed 0.5", FIXED)):
                a, b = _at(tp[h, j], fp[h, j], th, t)
                per_fold[m][h, j] = (int(a), int(b), int(n[h, j] - a))
    acc = {m: per_fold[m].sum(axis=0) for m in METHODS}
    counts, score, f1 = {}, {}, {}
    for m in METHODS:
        counts[m], score[m], f1[m] = {}, {}, {}
        for j, c in enumerate(stats.classes):
            a, b, fn = (int(x) for x in acc[m][j])
            counts[m][c] = (a, b, fn)
            if a + fn == 0:
                continue
            s = objective_scores(objective, np.array([[a]]), np.array([[b]]), np.array([a + fn]),
                                 is_core_name(c))
            score[m][c] = float(s[0, 0])
            f1[m][c] = float(2 * a / (2 * a + b + fn)) if a + b + fn else 0.0
    macro_score = {m: float(np.mean(list(score[m].values()))) if score[m] else float("nan") for m in METHODS}
    macro_f1 = {m: float(np.mean(list(f1[m].values()))) if f1[m] else float("nan") for m in METHODS}
    out = Transfer(counts, score, f1, macro_score, macro_f1, folds=G, fold_counts=per_fold,
                   groups=list(stats.groups))
    fold_materials = [materials.get(g, "") for g in stats.groups] if materials else None
    out.kept = decide(out, objective, confidence, seed=seed, core=is_core_name,
                      materials=fold_materials, min_support=min_support)
    return out


def decide(tr: Transfer, objective: Objective, confidence: float = CONFIDENCE, seed: int = 0,
           core: Callable[[str], bool] = is_core, n_boot: int = DECISION_BOOT,
           materials: Optional[Sequence[str]] = None, min_support: int = 50) -> Dict[str, str]:
    """Per class, the method that held-out groups favour; ties go to the simpler method.

    Simpler means fixed 0.5, then global, then per-class. Starting from the fixed
    0.5, a method replaces the one kept so far when its score on the pooled
    held-out counts is higher *and* it scores higher in at least ``confidence`` of
    ``n_boot`` bootstrap resamples of the held-out groups (each resample draws the
    groups with replacement and pools their counts). A win that rests on one
    group is not enough. With ``confidence`` 0 this is the plain best pooled score.

    With ``materials`` (the material of each fold, e.g. "drums-only" or "full
    mix") and more than one material among them, a method must also not score
    lower than the one it replaces on the pooled held-out counts of each
    material in which the class has at least ``min_support`` reference onsets:
    a threshold that wins on drum recordings and loses on mixes does not
    transfer to mixes, and the simpler method is kept.

    Classes without positives keep "fixed 0.5" (their fallback). Fills
    ``tr.win_share``, ``tr.versus``, ``tr.confidence``, ``tr.materials`` and
    ``tr.material_loss``.
    """
    kept: Dict[str, str] = {}
    tr.confidence = float(confidence)
    tr.win_share, tr.versus = {}, {}
    tr.material_loss = {}
    named = sorted({x for x in materials or () if x})  # a group without measured audio has ""
    tr.materials = list(materials) if materials is not None and len(named) > 1 else []
    by_material = {mat: np.array([x == mat for x in tr.materials]) for mat in named} if tr.materials else {}
    order = ("fixed 0.5", "global") if objective.kind == "global" else ("fixed 0.5", "global", "per-class")
    have_folds = bool(tr.fold_counts) and tr.folds >= 2
    w = _weights(tr.folds, n_boot, np.random.default_rng(seed)) if have_folds else None
    names = list(tr.counts["fixed 0.5"])
    for j, c in enumerate(names):
        if c not in tr.score["fixed 0.5"]:
            kept[c] = "fixed 0.5"
            continue

        def boot(m):
            a, b, fn = (w @ tr.fold_counts[m][:, j, :].astype(np.float64)).T
            return objective_scores(objective, a[:, None], b[:, None], a + fn, core(c))[:, 0]

        def material_loss(m, simpler):
            """The first material on which ``m`` scores below ``simpler``, or None."""
            for mat, rows in by_material.items():
                a, b, fn = tr.fold_counts[m][rows, j, :].sum(axis=0)
                a0, b0, fn0 = tr.fold_counts[simpler][rows, j, :].sum(axis=0)
                if a + fn < min_support:
                    continue
                sm, s0 = (float(objective_scores(objective, np.array([[x]]), np.array([[y]]),
                                                 np.array([x + z]), core(c))[0, 0])
                          for x, y, z in ((a, b, fn), (a0, b0, fn0)))
                if sm < s0 - 1e-9:
                    return mat, sm, s0
            return None

        best = order[0]
        tr.win_share[c], tr.versus[c] = {}, {}
        for m in order[1:]:
            tr.versus[c][m] = best
            share = 1.0
            if w is not None:
                share = float(np.mean(boot(m) > boot(best) + 1e-12))
            tr.win_share[c][m] = share
            if tr.score[m][c] > tr.score[best][c] + 1e-9 and share >= confidence - 1e-12:
                loss = material_loss(m, best) if by_material else None
                if loss is None:
                    best = m
                else:
                    tr.material_loss.setdefault(c, {})[m] = loss
        kept[c] = best
    return kept


def shipped_thresholds(f: Fit, kept: Optional[Dict[str, str]]) -> Dict[str, Tuple[float, str]]:
    """Threshold and its method per class: the transfer check's choice, or the fit's."""
    out = {}
    for c, cf in f.classes.items():
        m = (kept or {}).get(c)
        if cf.support == 0:
            out[c] = (cf.threshold, "fallback (no positives)")
        elif m == "fixed 0.5":
            out[c] = (FIXED, m)
        elif cf.weight == 0.0 and m != "global":
            out[c] = (f.global_threshold, "global (support below the minimum)")
        elif m == "global":
            out[c] = (f.global_threshold, "global")
        else:
            out[c] = (cf.threshold, "per-class" if cf.weight >= 1.0 else "per-class (shrunk)")
    return out


# ----------------------------------------------------------------------------- spread over groups

GROUP_MIN_ONSETS = 20
"""Reference onsets a group needs in a class for :func:`group_best` to score it alone."""


@dataclass
class GroupBest:
    """Each group's own best threshold for one class, against the one kept.

    Attributes
    ----------
    groups : list of str
        The groups with at least ``min_onsets`` reference onsets of the class.
    best : np.ndarray, shape (G,)
        Each group's best threshold by the objective (the middle of its widest
        run of equal best scores).
    f1_own, f1_kept : np.ndarray, shape (G,)
        Each group's F1 at its own best threshold and at the kept one.
    pooled_own : float
        The highest F1 of those groups' counts summed when every group may have
        a threshold of its own (:func:`best_pooled_f1`): no single threshold
        can do better.
    pooled_kept : float
        The same groups' pooled F1, all at the kept threshold.
    """

    groups: List[str]
    best: np.ndarray
    f1_own: np.ndarray
    f1_kept: np.ndarray
    pooled_own: float
    pooled_kept: float


def best_pooled_f1(tp: np.ndarray, fp: np.ndarray, n_ref: np.ndarray, start: int) -> Tuple[float, np.ndarray]:
    """The highest F1 of counts summed over groups when each group has a threshold of its own.

    Pooled F1 is ``2A / (2A + B)`` with ``A`` the summed true positives and
    ``B`` the summed false positives and misses. Dinkelbach's method finds its
    maximum over one threshold index per group: at the current F1 ``F``, each
    group takes the index maximising ``2 tp - F (2 tp + fp + n - tp)`` (the
    groups separate), then ``F`` is recomputed; ``F`` never falls and stops
    when it no longer rises. Since one threshold for every group is among the
    choices, the result is at least the pooled F1 of any single threshold.

    Parameters
    ----------
    tp, fp : np.ndarray, shape (G, T)
    n_ref : np.ndarray, shape (G,)
    start : int
        The threshold index every group starts from.

    Returns
    -------
    f1 : float
    index : np.ndarray of int, shape (G,)
        Each group's threshold index at that F1.
    """
    tp = np.asarray(tp, np.float64)
    fp = np.asarray(fp, np.float64)
    n = np.asarray(n_ref, np.float64)[:, None]
    rows = np.arange(tp.shape[0])
    idx = np.full(tp.shape[0], int(start))
    f = float(_fbeta(tp[rows, idx].sum(), fp[rows, idx].sum(), n.sum(), 1.0))
    for _ in range(100):  # converges in a few steps; the bound keeps a bad input finite
        cand = np.argmax(2 * tp - f * (2 * tp + fp + n - tp), axis=1)
        g = float(_fbeta(tp[rows, cand].sum(), fp[rows, cand].sum(), n.sum(), 1.0))
        if g <= f + 1e-12:
            break
        f, idx = g, cand
    return f, idx


def group_best(stats: GroupStats, objective: Objective, kept: Dict[str, float],
               min_onsets: int = GROUP_MIN_ONSETS, groups: Optional[Dict[str, list]] = None,
               core: Callable[[str], bool] = is_core) -> Dict[str, GroupBest]:
    """Per class, where each group's own best threshold lies and what it would gain.

    A threshold that transfers is one the groups roughly agree on. When each
    group's best threshold lies far from the others', and the pooled F1 with a
    threshold per group (``pooled_own``) is well above the F1 at the kept
    threshold (``pooled_kept``), no single threshold, however it is fitted,
    can recover the difference: the model's scores mean different things in
    different groups. When the two are close, the threshold is not what holds
    the class back.

    Parameters
    ----------
    stats : GroupStats
    objective : Objective
        Each group's best threshold maximises this objective's score.
    kept : dict of str -> float
        The threshold kept per class; classes missing here are left out. It is
        scored at the first threshold of ``stats`` at or above it.
    min_onsets : int
        Groups with fewer reference onsets of a class are left out of it.
    groups : dict, optional
        Class groups (a group is core when a member is), as for :func:`fit`.
    core : callable
        Whether a class is core (for the ``game`` objective's targets).

    Returns
    -------
    dict of str -> GroupBest
        Classes with at least one group of ``min_onsets`` onsets.
    """
    th = stats.thresholds
    tp, fp, n = stats.tp, stats.fp, stats.n_ref
    core = _core_of(groups, core)
    out: Dict[str, GroupBest] = {}
    for j, c in enumerate(stats.classes):
        if c not in kept:
            continue
        gs = np.flatnonzero(n[:, j] >= max(1, int(min_onsets)))
        if not gs.size:
            continue
        k = min(int(np.searchsorted(th, float(kept[c]) - 1e-9)), th.size - 1)
        scores = objective_scores(objective, tp[gs, j, :], fp[gs, j, :], n[gs, j], core(c))
        best_i = np.array([widest_middle(s, th, 1e-12) for s in scores])
        ng = n[gs, j]
        bound, _ = best_pooled_f1(tp[gs, j, :], fp[gs, j, :], ng, k)
        out[c] = GroupBest(
            groups=[stats.groups[g] for g in gs], best=th[best_i],
            f1_own=_fbeta(tp[gs, j, best_i], fp[gs, j, best_i], ng, 1.0),
            f1_kept=_fbeta(tp[gs, j, k], fp[gs, j, k], ng, 1.0),
            pooled_own=bound,
            pooled_kept=float(_fbeta(tp[gs, j, k].sum(), fp[gs, j, k].sum(), ng.sum(), 1.0)))
    return out
