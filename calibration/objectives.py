"""What a calibration maximises: objectives over exact threshold curves.

``f1`` (default)
    Maximise F1 per class.
``fbeta:B``
    Maximise F-beta per class (B > 1 favours recall).
``recall@precision=P``
    Maximise recall per class among thresholds whose precision is at least P.
``game``
    The best-F1 threshold among those that meet the rhythm-game targets (core
    classes: F1 > 0.75 and recall > 0.80; others: F1 > 0.50 and recall >
    0.60), so it never trades precision for more recall than the targets
    demand; where a class cannot meet them, its max-F1 threshold, with a note.
``global``
    One threshold for every class, maximising
    ``0.8 * mean core F1 + 0.2 * mean other F1``.

Ties and plateaus are resolved toward the middle of the widest best interval,
which keeps the threshold away from the edges where a slightly different
validation set would change the counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import numpy as np

from drumscribe.transcribe.errors import DrumscribeError
from drumscribe.transcribe.vocabulary import is_core

from .metrics import Curve

VALID = "f1, fbeta:B (B > 0), recall@precision=P (0 < P <= 1), game, global"

GAME_TARGETS = {True: (0.75, 0.80), False: (0.50, 0.60)}
"""(F1, recall) targets that must be exceeded, for core (True) and other classes."""

GLOBAL_WEIGHTS = (0.8, 0.2)
"""Weights of mean core F1 and mean other F1 in the ``global`` objective."""


class ObjectiveError(DrumscribeError):
    """An objective string cannot be parsed."""


@dataclass(frozen=True)
class Objective:
    """A parsed objective.

    Attributes
    ----------
    kind : {"f1", "fbeta", "recall@precision", "game", "global"}
    beta : float
    precision_floor : float
    """

    kind: str
    beta: float = 1.0
    precision_floor: float = 0.0

    def __str__(self) -> str:
        if self.kind == "fbeta":
            return f"fbeta:{self.beta:g}"
        if self.kind == "recall@precision":
            return f"recall@precision={self.precision_floor:g}"
        return self.kind


def parse_objective(text: str) -> Objective:
    """Parse an objective name.

    Examples
    --------
    >>> parse_objective("fbeta:2").beta
    2.0
    >>> str(parse_objective("recall@precision=0.9"))
    'recall@precision=0.9'

    Raises
    ------
    ObjectiveError
        With the list of valid objectives.
    """
    s = str(text).strip().lower()
    if s in ("f1", "game", "global"):
        return Objective(s)
    m = re.fullmatch(r"fbeta:([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)", s)
    if m and float(m.group(1)) > 0:
        return Objective("fbeta", beta=float(m.group(1)))
    m = re.fullmatch(r"recall@precision=([0-9]*\.?[0-9]+)", s)
    if m and 0 < float(m.group(1)) <= 1:
        return Objective("recall@precision", precision_floor=float(m.group(1)))
    raise ObjectiveError(f"unknown objective {text!r}; valid objectives: {VALID}")


@dataclass
class Choice:
    """The threshold chosen for one class.

    Attributes
    ----------
    threshold : float
    defined : bool
        False when the class had no positives (the fallback was kept).
    note : str
        How it was chosen, when not plainly (fallbacks, unreachable targets).
    """

    threshold: float
    defined: bool = True
    note: str = ""


def best_interval_middle(score: np.ndarray, thresholds: np.ndarray, tol: float = 1e-12) -> Optional[int]:
    """Index in the middle of the widest run of thresholds where ``score`` is maximal.

    Non-finite scores are never best. Returns None when no score is finite.

    Examples
    --------
    >>> best_interval_middle(np.array([0., 1., 1., 1., 0., 1.]), np.arange(6.))
    2
    """
    score = np.asarray(score, dtype=np.float64)
    ok = np.isfinite(score)
    if not ok.any():
        return None
    best = score[ok].max()
    on = ok & (score >= best - tol)
    idx = np.flatnonzero(on)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    widths = [thresholds[r[-1]] - thresholds[r[0]] for r in runs]
    run = runs[int(np.argmax(widths))]
    return int(run[(len(run) - 1) // 2])


def _max_f(curve: Curve, beta: float, fallback: float, name: str) -> Choice:
    f = curve.fbeta(beta)
    i = best_interval_middle(f, curve.thresholds)
    if i is None or f[i] <= 0:
        return Choice(fallback, True, f"F{beta:g} is 0 at every threshold; kept {fallback:g}")
    return Choice(float(curve.thresholds[i]))


def choose_thresholds(curves: Dict[str, Curve], objective: Objective, fallback: float = 0.5,
                      core: Callable[[str], bool] = is_core,
                      groups: Optional[Dict[str, list]] = None) -> Dict[str, Choice]:
    """Choose a threshold per class.

    Parameters
    ----------
    curves : dict of str -> Curve
    objective : Objective
    fallback : float
        Kept for classes without positives.
    core : callable
        ``core(name)``; a group counts as core when any member is.
    groups : dict of str -> list of str, optional
        Class groups (for deciding whether a group is core).

    Returns
    -------
    dict of str -> Choice
    """
    groups = groups or {}

    def is_core_name(c):
        return any(core(m) for m in groups.get(c, [c]))

    out: Dict[str, Choice] = {}
    defined = {c: cv for c, cv in curves.items() if cv.defined}
    for c, cv in curves.items():
        if not cv.defined:
            out[c] = Choice(fallback, False, f"no positives in the validation data; kept the "
                                             f"fallback {fallback:g}")
    if objective.kind == "global":
        if defined:
            th = next(iter(defined.values())).thresholds
            core_f = [cv.f1 for c, cv in defined.items() if is_core_name(c)]
            other_f = [cv.f1 for c, cv in defined.items() if not is_core_name(c)]
            for cv in defined.values():
                if not np.array_equal(cv.thresholds, th):
                    raise DrumscribeError("global objective needs curves on one threshold grid")
            w_core, w_other = GLOBAL_WEIGHTS
            if not core_f:
                w_core, w_other = 0.0, 1.0
            elif not other_f:
                w_core, w_other = 1.0, 0.0
            score = np.zeros(th.shape)
            if core_f:
                score += w_core * np.mean(core_f, axis=0)
            if other_f:
                score += w_other * np.mean(other_f, axis=0)
            i = best_interval_middle(score, th)
            t = float(th[i]) if i is not None and score[i] > 0 else fallback
            for c in defined:
                out[c] = Choice(t, True, "one global threshold")
        return {c: out[c] for c in curves}
    for c, cv in defined.items():
        if objective.kind in ("f1", "fbeta"):
            out[c] = _max_f(cv, objective.beta, fallback, c)
        elif objective.kind == "recall@precision":
            p = objective.precision_floor
            score = np.where(cv.precision >= p - 1e-12, cv.recall, -np.inf)
            i = best_interval_middle(score, cv.thresholds)
            if i is None or score[i] <= 0:
                ch = _max_f(cv, 1.0, fallback, c)
                ch.note = (f"precision {p:g} unreachable with any recall; used max F1"
                           + (f" ({ch.note})" if ch.note else ""))
                out[c] = ch
            else:
                out[c] = Choice(float(cv.thresholds[i]))
        elif objective.kind == "game":
            f_t, r_t = GAME_TARGETS[is_core_name(c)]
            ok = (cv.f1 > f_t) & (cv.recall > r_t)
            if ok.any():
                i = best_interval_middle(np.where(ok, cv.f1, -np.inf), cv.thresholds)
                out[c] = Choice(float(cv.thresholds[i]), True,
                                f"game targets met (F1 > {f_t:g}, recall > {r_t:g})")
            else:
                ch = _max_f(cv, 1.0, fallback, c)
                ch.note = (f"game targets (F1 > {f_t:g}, recall > {r_t:g}) unreachable "
                           f"(best F1 {np.nanmax(cv.f1):.3f}, best recall {np.nanmax(cv.recall):.3f}); "
                           "used max F1")
                out[c] = ch
        else:  # pragma: no cover - parse_objective guards this
            raise ObjectiveError(f"unknown objective {objective}; valid objectives: {VALID}")
    return {c: out[c] for c in curves}
