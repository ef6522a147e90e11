"""Threshold metrics, in pure numpy: exact curves, AUCs, onset matching.

Everything here maps arrays to arrays and checks its inputs. The exact curves
follow scikit-learn's definitions (``precision_recall_curve``, ``roc_auc_score``,
``average_precision_score``); onset matching follows
``mir_eval.onset.f_measure``. The streaming statistics in
:mod:`drumscribe.calibration.sweep` produce :class:`Curve` objects, which the objectives in
:mod:`drumscribe.calibration.objectives` optimise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from drumscribe.transcribe.errors import DrumscribeError


class MetricError(DrumscribeError):
    """Bad input to a metric (shape, range, ordering)."""


# ----------------------------------------------------------------------------- targets

def frame_targets(onsets, n_frames: int, fps: float, widen: int = 0) -> np.ndarray:
    """Binary frame targets from onset times.

    An onset at ``t`` seconds marks frame ``round(t * fps)`` and, with
    ``widen=k``, the ``k`` frames on each side. Frames outside
    ``0 .. n_frames-1`` are dropped.

    Parameters
    ----------
    onsets : array_like of float
        Onset times in seconds.
    n_frames : int >= 0
    fps : float > 0
    widen : int >= 0

    Returns
    -------
    np.ndarray of bool, shape (n_frames,)

    Examples
    --------
    >>> frame_targets([0.0, 0.031], 6, 100, widen=1).astype(int).tolist()
    [1, 1, 1, 1, 1, 0]
    """
    if widen < 0 or int(widen) != widen:
        raise MetricError(f"widen must be an integer >= 0, got {widen!r}")
    if not fps > 0:
        raise MetricError(f"fps must be > 0, got {fps!r}")
    t = np.asarray(onsets, dtype=np.float64).ravel()
    if t.size and not np.isfinite(t).all():
        raise MetricError("onset times contain NaN or inf")
    y = np.zeros(int(n_frames), dtype=bool)
    if not t.size or not n_frames:
        return y
    idx = np.rint(t * fps).astype(np.int64)
    for k in range(-int(widen), int(widen) + 1):
        j = idx + k
        j = j[(j >= 0) & (j < n_frames)]
        y[j] = True
    return y


# ----------------------------------------------------------------------------- exact curves

def _check_binary(y_true, scores) -> Tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise MetricError(f"y_true and scores must be 1-D of equal length, got {y.shape} and {s.shape}")
    if y.size and not np.isin(y, (0, 1)).all():
        raise MetricError("y_true must hold 0/1 (or bool) labels")
    if s.size and not np.isfinite(s).all():
        raise MetricError("scores contain NaN or inf")
    return y.astype(bool), s


def binary_clf_counts(y_true, scores) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True/false positive counts at every distinct score, by one sort.

    Parameters
    ----------
    y_true : array_like of {0, 1}, shape (n,)
    scores : array_like of float, shape (n,)

    Returns
    -------
    fps, tps : np.ndarray of int64
        Counts of negatives/positives with ``score >= thresholds[i]``.
    thresholds : np.ndarray
        Distinct scores in decreasing order.
    """
    y, s = _check_binary(y_true, scores)
    order = np.argsort(s, kind="mergesort")[::-1]
    s, y = s[order], y[order]
    distinct = np.flatnonzero(np.diff(s)) if s.size else np.zeros(0, np.int64)
    last = np.r_[distinct, y.size - 1] if y.size else np.zeros(0, np.int64)
    tps = np.cumsum(y, dtype=np.int64)[last]
    fps = (last + 1) - tps
    return fps, tps, s[last]


def precision_recall_curve(y_true, scores) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at every distinct score (scikit-learn's definition).

    Returns
    -------
    precision, recall : np.ndarray, shape (m + 1,)
        Ending with precision 1 and recall 0; precision is 0 where nothing is
        predicted; recall is 1 everywhere if there are no positives.
    thresholds : np.ndarray, shape (m,)
        Increasing.
    """
    fps, tps, th = binary_clf_counts(y_true, scores)
    ps = tps + fps
    precision = np.divide(tps, ps, out=np.zeros(ps.shape, dtype=np.float64), where=ps != 0)
    if tps.size == 0 or tps[-1] == 0:
        recall = np.ones(tps.shape, dtype=np.float64)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], th[::-1]


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve (ties count one half); NaN if one class is absent."""
    fps, tps, _ = binary_clf_counts(y_true, scores)
    return _roc_auc_from_cumulative(fps, tps)


def average_precision(y_true, scores) -> float:
    """Average precision ``sum_n (R_n - R_{n-1}) P_n`` (scikit-learn's PR AUC); NaN without positives."""
    fps, tps, _ = binary_clf_counts(y_true, scores)
    return _ap_from_cumulative(fps, tps)


def _roc_auc_from_cumulative(fps: np.ndarray, tps: np.ndarray) -> float:
    """ROC AUC from cumulative counts at decreasing thresholds (trapezoids)."""
    if fps.size == 0 or fps[-1] == 0 or tps[-1] == 0:
        return float("nan")
    f = np.r_[0, fps].astype(np.float64)
    t = np.r_[0, tps].astype(np.float64)
    area = np.sum(np.diff(f) * (t[1:] + t[:-1])) / 2.0
    return float(area / (f[-1] * t[-1]))


def _ap_from_cumulative(fps: np.ndarray, tps: np.ndarray) -> float:
    if tps.size == 0 or tps[-1] == 0:
        return float("nan")
    ps = (tps + fps).astype(np.float64)
    precision = np.divide(tps, ps, out=np.zeros(ps.shape), where=ps != 0)
    recall = tps / float(tps[-1])
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# ----------------------------------------------------------------------------- F scores

def fbeta_from_counts(tp, fp, fn, beta: float = 1.0) -> np.ndarray:
    """F-beta from counts; 0 where there is nothing to score.

    ``F = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP)``.
    """
    if not beta > 0:
        raise MetricError(f"beta must be > 0, got {beta!r}")
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    b2 = beta * beta
    num = (1 + b2) * tp
    den = num + b2 * fn + fp
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


@dataclass
class Curve:
    """Detection counts of one class at increasing thresholds.

    Attributes
    ----------
    thresholds : np.ndarray, shape (m,)
        Increasing thresholds; a detection counts when its score is ``>= t``.
    tp, fp : np.ndarray of float, shape (m,)
        True and false positives at each threshold.
    n_ref : int
        Number of positives (reference onsets or positive frames).
    """

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    n_ref: int

    @property
    def defined(self) -> bool:
        """False when the class has no positives (metrics are undefined)."""
        return self.n_ref > 0

    @property
    def fn(self) -> np.ndarray:
        return self.n_ref - self.tp

    @property
    def precision(self) -> np.ndarray:
        """TP / (TP + FP); 1 where nothing is predicted (no false alarms)."""
        ps = self.tp + self.fp
        return np.divide(self.tp, ps, out=np.ones(ps.shape), where=ps > 0)

    @property
    def recall(self) -> np.ndarray:
        """TP / n_ref; NaN when the class has no positives."""
        if self.n_ref <= 0:
            return np.full(self.tp.shape, np.nan)
        return self.tp / float(self.n_ref)

    def fbeta(self, beta: float = 1.0) -> np.ndarray:
        """F-beta at each threshold (NaN without positives)."""
        if self.n_ref <= 0:
            return np.full(self.tp.shape, np.nan)
        return fbeta_from_counts(self.tp, self.fp, self.fn, beta)

    @property
    def f1(self) -> np.ndarray:
        return self.fbeta(1.0)

    def index_at(self, t: float) -> int:
        """Index of the smallest curve threshold ``>= t`` (the last one if none)."""
        return int(self.indices_at(np.asarray([t], dtype=np.float64))[0])

    def indices_at(self, ts: np.ndarray) -> np.ndarray:
        """:meth:`index_at` of every threshold in ``ts`` at once."""
        i = np.searchsorted(self.thresholds, np.asarray(ts, dtype=np.float64) - 1e-12, side="left")
        return np.minimum(i, len(self.thresholds) - 1)

    def at(self, t: float) -> dict:
        """Precision, recall, F1 and counts at threshold ``t`` (None when undefined)."""
        i = self.index_at(t)
        tp, fp = float(self.tp[i]), float(self.fp[i])
        if self.n_ref <= 0:
            return {"precision": None, "recall": None, "f1": None, "tp": int(tp), "fp": int(fp),
                    "fn": 0}
        return {"precision": float(self.precision[i]), "recall": float(self.recall[i]),
                "f1": float(self.f1[i]), "tp": int(tp), "fp": int(fp), "fn": int(self.n_ref - tp)}


# ----------------------------------------------------------------------------- onset matching

def _check_events(t, what) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1:
        raise MetricError(f"{what} must be a 1-D array of times, got shape {t.shape}")
    if t.size and not np.isfinite(t).all():
        raise MetricError(f"{what} contain NaN or inf")
    if t.size > 1 and np.any(np.diff(t) < 0):
        raise MetricError(f"{what} must be sorted in increasing order")
    return t


def match_onsets(ref, est, window: float = 0.05) -> Tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of sorted onset lists within ``±window`` seconds.

    A greedy two-pointer sweep: with both lists sorted and a symmetric window,
    an estimate too early for the current reference is too early for every
    later one, and a reference too early for the current estimate is too early
    for every later one, so matching the earliest compatible pair is optimal and
    the count equals mir_eval's maximum bipartite matching. The window test is
    ``est - window <= ref <= est + window``, as in ``mir_eval.util``.

    Parameters
    ----------
    ref, est : array_like of float
        Sorted onset times in seconds.
    window : float > 0

    Returns
    -------
    ref_idx, est_idx : np.ndarray of int
        Indices of the matched pairs.

    Raises
    ------
    MetricError
        If an input is not sorted, not 1-D, or the window is not positive.
    """
    if not window > 0:
        raise MetricError(f"window must be > 0 seconds, got {window!r}")
    r = _check_events(ref, "reference onsets")
    e = _check_events(est, "estimated onsets")
    return _greedy_match(r, e, float(window))


def near(ref: np.ndarray, est: np.ndarray, w: float) -> np.ndarray:
    """For each time of ``ref``, whether some time of the sorted ``est`` lies within ±``w``."""
    lo = np.searchsorted(est, ref - w, side="left")
    hi = np.searchsorted(est, ref + w, side="right")
    return hi > lo


def _greedy_match(r: np.ndarray, e: np.ndarray, w: float) -> Tuple[np.ndarray, np.ndarray]:
    ri, ei = [], []
    i = j = 0
    n, m = len(r), len(e)
    rl, el = r.tolist(), e.tolist()
    while i < n and j < m:
        if rl[i] > el[j] + w:
            j += 1
        elif rl[i] < el[j] - w:
            i += 1
        else:
            ri.append(i)
            ei.append(j)
            i += 1
            j += 1
    return np.asarray(ri, dtype=np.int64), np.asarray(ei, dtype=np.int64)


def count_matches(ref, est, window: float = 0.05) -> int:
    """Number of one-to-one matches within ``±window`` (see :func:`match_onsets`)."""
    return int(len(match_onsets(ref, est, window)[0]))


def onset_f_measure(ref, est, window: float = 0.05) -> Tuple[float, float, float]:
    """F-measure, precision, recall of onsets, as ``mir_eval.onset.f_measure``.

    Returns 0 for all three when either list is empty (mir_eval's convention).

    Examples
    --------
    >>> onset_f_measure([0.1, 0.5, 1.0], [0.12, 0.9])
    (0.4, 0.5, 0.3333333333333333)
    """
    r = _check_events(ref, "reference onsets")
    e = _check_events(est, "estimated onsets")
    if r.size == 0 or e.size == 0:
        return 0.0, 0.0, 0.0
    k = count_matches(r, e, window)
    p, rc = k / e.size, k / r.size
    f = 0.0 if k == 0 else 2 * p * rc / (p + rc)
    return f, p, rc


def safe_mean(values) -> Optional[float]:
    """Mean of the finite, non-None values; None when there are none."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else None
