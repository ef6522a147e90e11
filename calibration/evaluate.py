"""Event-level evaluation of a model on a labelled folder (the model card's numbers).

Onsets are picked through the same postprocessing stage as ``transcribe`` and
matched one-to-one within ±``window`` seconds (as ``mir_eval.onset``); counts
are summed over files (micro average) per class and per coarse group (kick,
snare, toms, hihat, cymbals), where a group's references and detections are the
union of its members' onsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from drumscribe.transcribe.config import Config
from drumscribe.transcribe.pipeline import Postprocessor
from drumscribe.transcribe.vocabulary import GROUPS, group_of, is_core

from .metrics import count_matches, match_onsets, near
from .sweep import onsets_by_class


@dataclass
class Counts:
    """True positives, false positives and false negatives."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, ref: np.ndarray, est: np.ndarray, window: float) -> None:
        """Match sorted ``ref`` and ``est`` and add the counts."""
        k = count_matches(ref, est, window) if ref.size and est.size else 0
        self.tp += k
        self.fp += est.size - k
        self.fn += ref.size - k

    @property
    def support(self) -> int:
        """Reference onsets."""
        return self.tp + self.fn

    @property
    def precision(self) -> Optional[float]:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> Optional[float]:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> Optional[float]:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else None


@dataclass
class Evaluation:
    """Per-class, per-group and core counts."""

    classes: Dict[str, Counts] = field(default_factory=dict)
    groups: Dict[str, Counts] = field(default_factory=dict)
    core: Counts = field(default_factory=Counts)
    other: Counts = field(default_factory=Counts)
    files: int = 0


def _stage_outputs(items, thresholds: Optional[Mapping[str, float]], config: Optional[Config],
                   postprocessor: Optional[Postprocessor], progress: bool = False):
    """Per file: the classes, the ground truth restricted to them and the stage's onsets
    per class (sorted), through ``postprocessor`` (built from ``config`` and the first
    file's activations when None)."""
    from tqdm import tqdm

    from drumscribe.transcribe.annotations import read_annotations

    pp = postprocessor
    for item in tqdm(list(items), disable=not progress, leave=False, desc="evaluate"):
        act = item.load()
        if pp is None:
            pp = Postprocessor(config or Config(), act.classes, act.model_fingerprint)
        res = pp.run(act, thresholds=dict(thresholds) if thresholds else None)
        classes = res.activations.classes
        ann = read_annotations(item.annotation).restricted(classes, pp.config.postprocessing.class_groups)
        yield classes, ann, onsets_by_class(res.onsets, classes)


def evaluate(items, thresholds: Optional[Mapping[str, float]] = None, config: Optional[Config] = None,
             window: float = 0.05, postprocessor: Optional[Postprocessor] = None,
             progress: bool = False) -> Evaluation:
    """Evaluate predictions against ground truth.

    Parameters
    ----------
    items : iterable of drumscribe.calibration.sweep.Item
        Each with ``load()`` -> Activations and ``annotation`` path.
    thresholds : mapping of class -> float, optional
        Thresholds to use; default: what the plugins choose (calibration
        file, config...).
    config : Config, optional
    window : float
        Matching tolerance in seconds.
    postprocessor : Postprocessor, optional
    """
    ev = Evaluation()
    for classes, ann, est in _stage_outputs(items, thresholds, config, postprocessor, progress):
        by_group_ref: Dict[str, List[np.ndarray]] = {}
        by_group_est: Dict[str, List[np.ndarray]] = {}
        for c in classes:
            r = np.sort(ann.times(c))
            e = est[c]
            ev.classes.setdefault(c, Counts()).add(r, e, window)
            (ev.core if is_core(c) else ev.other).add(r, e, window)
            g = group_of(c)
            if g is not None:
                by_group_ref.setdefault(g, []).append(r)
                by_group_est.setdefault(g, []).append(e)
        for g in by_group_ref:
            ev.groups.setdefault(g, Counts()).add(np.sort(np.concatenate(by_group_ref[g])),
                                                  np.sort(np.concatenate(by_group_est[g])), window)
        ev.files += 1
    return ev


@dataclass
class HeardAs:
    """What the stage output around the reference onsets of some classes.

    Attributes
    ----------
    support : dict of str -> int
        Reference onsets per asked class.
    hits : dict of str -> dict of str -> int
        ``hits[ref][out]``: how many of ``ref``'s onsets have an output onset of
        class ``out`` within the window (one reference onset can count for several
        output classes).
    """

    support: Dict[str, int] = field(default_factory=dict)
    hits: Dict[str, Dict[str, int]] = field(default_factory=dict)

    def share(self, ref: str, out: str) -> float:
        """Share of ``ref``'s onsets with an ``out`` onset within the window."""
        n = self.support.get(ref, 0)
        return self.hits.get(ref, {}).get(out, 0) / n if n else float("nan")


def heard_as(items, refs: Sequence[str], thresholds: Optional[Mapping[str, float]] = None,
             window: float = 0.05, postprocessor: Optional[Postprocessor] = None) -> HeardAs:
    """Which classes the stage outputs around the reference onsets of ``refs``.

    For a class the model misses, this says what it hears instead (real floor
    toms heard as kick and snare, open hi-hats as ride). Onsets come from the
    same stage as :func:`evaluate`.

    Parameters
    ----------
    items : iterable of drumscribe.calibration.sweep.Item
    refs : sequence of str
        Reference classes to look at.
    thresholds, window, postprocessor
        As for :func:`evaluate`.
    """
    out = HeardAs({c: 0 for c in refs}, {c: {} for c in refs})
    for classes, ann, est in _stage_outputs(items, thresholds, None, postprocessor):
        for c in refs:
            r = np.sort(ann.times(c))
            out.support[c] += int(r.size)
            for k in classes:
                n = int(np.count_nonzero(near(r, est[k], window)))
                if n:
                    out.hits[c][k] = out.hits[c].get(k, 0) + n
    return out


def heard_as_table(h: HeardAs, classes: Sequence[str], min_share: float = 0.05) -> List[str]:
    """Markdown lines: per reference class, its support and the share of its onsets
    with an output onset of each class nearby (shares below ``min_share`` left out)."""
    lines = ["| reference class | onsets | output within the window (share of its onsets) |",
             "|---|---:|---|"]
    for c, n in h.support.items():
        parts = sorted(((h.share(c, k), k) for k in classes if h.share(c, k) >= min_share), reverse=True)
        text = ", ".join(f"{k} {s:.0%}" for s, k in parts) or "nothing"
        lines.append(f"| {c} | {n} | {text} |")
    return lines


@dataclass
class FalseAlarms:
    """Where a class's false alarms lie, relative to the true onsets of every class.

    Each false alarm (an output onset left unmatched by the one-to-one matching)
    is put in the first of these that holds:

    ``duplicate``
        a true onset of the same class lies within the window (it was matched to
        another output onset);
    ``off_time``
        a true onset of the same class lies within ``near_s`` seconds (outside the
        window: a late or early hit, or an unannotated neighbour such as a ghost note);
    ``on_other``
        a true onset of another class lies within the window (the model hears
        that hit as this class); ``on[k]`` counts them per other class ``k``, so one
        false alarm on a kick and a hi-hat played together counts for both;
    ``on_nothing``
        no true onset of any class within the window (accompaniment, noise, or a
        hit the annotation lacks).

    Attributes
    ----------
    detections, false : dict of str -> int
        Output onsets and false alarms per class.
    duplicate, off_time, on_other, on_nothing : dict of str -> int
        The four kinds above, per class; they add up to ``false``.
    on : dict of str -> dict of str -> int
        ``on[c][k]``: false alarms of ``c`` at a true onset of ``k``.
    """

    detections: Dict[str, int] = field(default_factory=dict)
    false: Dict[str, int] = field(default_factory=dict)
    duplicate: Dict[str, int] = field(default_factory=dict)
    off_time: Dict[str, int] = field(default_factory=dict)
    on_other: Dict[str, int] = field(default_factory=dict)
    on_nothing: Dict[str, int] = field(default_factory=dict)
    on: Dict[str, Dict[str, int]] = field(default_factory=dict)


def _within(t: np.ndarray, ref: np.ndarray, w: float) -> np.ndarray:
    return near(t, ref, w) if ref.size else np.zeros(t.size, bool)


def false_alarms(items, thresholds: Optional[Mapping[str, float]] = None, window: float = 0.05,
                 postprocessor: Optional[Postprocessor] = None, near_s: float = 0.15) -> FalseAlarms:
    """Sort every class's false alarms by what lies under them (see :class:`FalseAlarms`).

    The counterpart of :func:`heard_as`: that one says what a missed class is heard
    as, this one what the model's surplus onsets are. Onsets come from the same
    stage as :func:`evaluate`, and ``false`` equals its false positives.

    Parameters
    ----------
    items, thresholds, window, postprocessor
        As for :func:`evaluate`.
    near_s : float
        How far (seconds) a true onset of the same class may lie to make a false
        alarm ``off_time``; must exceed ``window``.
    """
    if not near_s > window:
        raise ValueError(f"near_s {near_s:g} must exceed the window {window:g}")
    out = FalseAlarms()
    for classes, ann, est in _stage_outputs(items, thresholds, None, postprocessor):
        refs = {c: np.sort(ann.times(c)) for c in classes}
        for c in classes:
            e, r = est[c], refs[c]
            for d in (out.detections, out.false, out.duplicate, out.off_time, out.on_other, out.on_nothing):
                d.setdefault(c, 0)
            on = out.on.setdefault(c, {})
            out.detections[c] += int(e.size)
            matched = np.zeros(e.size, bool)
            if e.size and r.size:
                matched[match_onsets(r, e, window)[1]] = True
            fa = e[~matched]
            out.false[c] += int(fa.size)
            dup = _within(fa, r, window)
            off = ~dup & _within(fa, r, near_s)
            rest = fa[~dup & ~off]
            hit_any = np.zeros(rest.size, bool)
            for k in classes:
                if k == c or not refs[k].size:
                    continue
                h = _within(rest, refs[k], window)
                if h.any():
                    on[k] = on.get(k, 0) + int(h.sum())
                    hit_any |= h
            out.duplicate[c] += int(dup.sum())
            out.off_time[c] += int(off.sum())
            out.on_other[c] += int(hit_any.sum())
            out.on_nothing[c] += int((~hit_any).sum())
    return out


def false_alarms_table(fa: FalseAlarms, classes: Sequence[str], top: int = 3) -> List[str]:
    """Markdown lines: per class with false alarms, how many and where they lie
    (shares of its false alarms; the ``top`` other classes they sit on)."""
    lines = ["| class | detections | false alarms | duplicate | off-time | on another hit (top classes) "
             "| on no hit |", "|---|---:|---:|---:|---:|---|---:|"]
    for c in classes:
        n = fa.false.get(c, 0)
        if not n:
            continue
        parts = sorted(((v, k) for k, v in fa.on.get(c, {}).items()), key=lambda x: (-x[0], x[1]))[:top]
        where = ", ".join(f"{k} {v / n:.0%}" for v, k in parts)
        dup, off, other, nothing = (f"{d.get(c, 0) / n:.0%}"
                                    for d in (fa.duplicate, fa.off_time, fa.on_other, fa.on_nothing))
        lines.append(f"| {c} | {fa.detections[c]} | {n} | {dup} | {off} "
                     f"| {other}" + (f": {where}" if where else "") + f" | {nothing} |")
    return lines


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def group_f1(ev: Evaluation) -> Dict[str, Optional[float]]:
    """F1 of each of the five groups (None for a group with no references and no detections)."""
    return {g: ev.groups.get(g, Counts()).f1 for g in GROUPS}


def groups_line(ev: Evaluation) -> str:
    """The five-group F1 on one line: ``kick 0.800  snare 0.620  toms 0.200 ...``."""
    return "  ".join(f"{g} {_fmt(f)}" for g, f in group_f1(ev).items())


def markdown_table(evals: Mapping[str, Evaluation], classes: Sequence[str]) -> List[str]:
    """A markdown table with F1 / precision / recall per class for each named evaluation."""
    names = list(evals)
    head = "| class | support | " + " | ".join(f"{n} F1 | {n} P | {n} R" for n in names) + " |"
    lines = [head, "|" + "---|" * (2 + 3 * len(names))]
    rows = [(c, {n: evals[n].classes.get(c, Counts()) for n in names}) for c in classes]
    rows_macro = {n: macro_f1(evals[n], classes) for n in names}
    n_cls = max((len(_with_support(evals[n], classes)) for n in names), default=0)
    rows.append(("**core** (kick, snare, hi-hats, ride)", {n: evals[n].core for n in names}))
    rows.append(("**other**", {n: evals[n].other for n in names}))
    for g in GROUPS:
        rows.append((f"group: {g}", {n: evals[n].groups.get(g, Counts()) for n in names}))
    for label, cs in rows:
        sup = next(iter(cs.values())).support
        cells = " | ".join(f"{_fmt(c.f1)} | {_fmt(c.precision)} | {_fmt(c.recall)}" for c in cs.values())
        lines.append(f"| {label} | {sup} | {cells} |")
    cells = " | ".join(f"{_fmt(rows_macro[n])} | | " for n in names)
    lines.append(f"| **macro F1** (mean over the {n_cls} classes with support) | | {cells} |")
    return lines


def _with_support(ev: Evaluation, classes: Sequence[str]) -> List[str]:
    """The ``classes`` that have reference onsets in ``ev``."""
    return [c for c in classes if ev.classes.get(c, Counts()).support]


def macro_f1(ev: Evaluation, classes: Sequence[str]) -> Optional[float]:
    """Mean F1 over the ``classes`` with reference onsets (None when none has any)."""
    v = [ev.classes[c].f1 for c in _with_support(ev, classes)]
    return sum(v) / len(v) if v else None


def versus(evals: Mapping[str, Evaluation], classes: Sequence[str], target: str = "calibrated",
           min_support: int = 50, eps: float = 5e-4) -> List[str]:
    """Does ``target`` beat every other evaluation, in macro F1 and per class?

    The lines say the macro F1 of each setting, then, over the classes with at
    least ``min_support`` reference onsets, where ``target`` wins against all
    others, ties the best of them (within ``eps``) or loses, naming the losses
    with their F1 figures. This is the check of the "per-class thresholds beat
    the fixed 0.5 and one global threshold" goal, for one folder.
    """
    others = [n for n in evals if n != target]
    if target not in evals or not others:
        return []
    m = {n: macro_f1(evals[n], classes) for n in evals}
    best_other = max((m[n] for n in others if m[n] is not None), default=None)
    if m[target] is None or best_other is None:
        verdict = "n/a"
    else:
        verdict = ("wins" if m[target] > best_other + eps
                   else "ties" if m[target] >= best_other - eps else "loses")
    lines = [f"macro F1: {target} {_fmt(m[target])} vs "
             + " / ".join(f"{n} {_fmt(m[n])}" for n in others) + f" ({verdict})"]
    won, tied, lost = [], [], []
    for c in classes:
        t = evals[target].classes.get(c, Counts())
        if t.support < min_support:
            continue
        f = {n: evals[n].classes.get(c, Counts()).f1 or 0.0 for n in evals}
        top = max(f[n] for n in others)
        if f[target] > top + eps:
            won.append(c)
        elif f[target] >= top - eps:
            tied.append(c)
        else:
            lost.append(f"{c} ({_fmt(f[target])} vs " + " / ".join(_fmt(f[n]) for n in others) + ")")
    n = len(won) + len(tied) + len(lost)
    lines.append(f"{n} classes with >= {min_support} onsets: {target} wins on {len(won)}, ties on "
                 f"{len(tied)}, loses on {len(lost)}" + (": " + ", ".join(lost) if lost else ""))
    return lines
