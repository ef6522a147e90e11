"""Streaming threshold sweeps with mergeable sufficient statistics.

Frame level
    :class:`HistogramStats` keeps, per class, a histogram of the scores of
    positive frames and one of negative frames on ``bins`` (default 2**16)
    equal bins over [0, 1]. Because ``floor(s * bins) >= k`` exactly when
    ``s >= k / bins``, the counts at every grid threshold ``k / bins`` are
    exact; AUCs differ from the exact ones only by ties inside a bin.
    Statistics of two sets of files add up (:meth:`HistogramStats.merge`).

Event level, declared candidates
    A picker's onsets at threshold ``t`` are, when it declares them
    (``drumscribe_onset_candidates``, as the built-in picker does), the
    threshold-free candidates with height ``>= t``. Matchable subsets of peaks form a
    matroid (a transversal matroid of the matching graph), so adding peaks in
    decreasing height and keeping each one that enlarges the maximum matching
    gives, for every threshold at once, ``TP(t) = #kept peaks with height >= t``.
    Kept heights go into the "positive" histogram, the others into the
    "negative" one, so the same :class:`HistogramStats` serves both levels and
    the event-level curve is exact at every grid threshold.

Event level, whole stage
    When a plugin could change the result (a picker that declares no
    candidates, a filter, a wrapper), :func:`sweep` runs the stage's pick and
    filter hooks (``Postprocessor.onsets``) at each threshold of a coarser grid
    (:class:`GridStats`), so calibration sees exactly what ``transcribe`` does.

Groups
    Counts are also kept per group of files (:class:`drumscribe.calibration.robust.GroupStats`,
    1024 thresholds), for the robust fit and the leave-one-group-out check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from drumscribe.plugins.peak_picking import candidate_peaks
from drumscribe.transcribe.errors import DrumscribeError

from .metrics import (Curve, MetricError, _ap_from_cumulative, _greedy_match, _roc_auc_from_cumulative,
                      frame_targets, near)

DEFAULT_BINS = 1 << 16
"""Histogram bins over [0, 1]: thresholds on a 1/65536 grid."""

DEFAULT_PLUGIN_GRID = np.round(np.arange(0.02, 0.981, 0.02), 6)
"""Thresholds tried when a plugin picks onsets (one ``pick`` call each)."""

_CHUNK = 1 << 18


class HistogramStats:
    """Per-class score histograms of positive and negative items.

    Parameters
    ----------
    classes : sequence of str
    bins : int >= 2
        Equal-width bins over [0, 1].
    level : {"frame", "event"}
        What the items are: frames (positives are target frames) or picked
        peaks (positives are peaks kept by the matching).

    Attributes
    ----------
    pos, neg : np.ndarray of int64, shape (n_classes, bins)
    n_ref : np.ndarray of int64, shape (n_classes,)
        Number of positives (positive frames, or reference onsets).
    """

    def __init__(self, classes: Sequence[str], bins: int = DEFAULT_BINS, level: str = "frame"):
        if int(bins) < 2:
            raise MetricError(f"bins must be >= 2, got {bins!r}")
        self.classes = list(classes)
        self.bins = int(bins)
        self.level = level
        c = len(self.classes)
        self.pos = np.zeros((c, self.bins), dtype=np.int64)
        self.neg = np.zeros((c, self.bins), dtype=np.int64)
        self.n_ref = np.zeros(c, dtype=np.int64)

    def _bin(self, scores: np.ndarray) -> np.ndarray:
        q = (np.asarray(scores, dtype=np.float32) * np.float32(self.bins)).astype(np.int32)
        np.clip(q, 0, self.bins - 1, out=q)
        return q

    def add_frames(self, values: np.ndarray, targets: np.ndarray) -> None:
        """Add frames of all classes.

        Parameters
        ----------
        values : np.ndarray, shape (n_frames, n_classes)
            Scores in [0, 1].
        targets : np.ndarray of bool, shape (n_frames, n_classes)
        """
        values = np.asarray(values)
        targets = np.asarray(targets, dtype=bool)
        c = len(self.classes)
        if values.ndim != 2 or values.shape[1] != c or targets.shape != values.shape:
            raise MetricError(f"expected values and targets of shape (n, {c}), got "
                              f"{values.shape} and {targets.shape}")
        if values.size and not (0 <= values.min() and values.max() <= 1):  # False for NaN too
            raise MetricError("scores must be finite and in [0, 1]: did you pass logits?")
        b = self.bins
        w = b + 1  # one spare bin per class for scores of exactly 1.0 (folded back below)
        offsets = (np.arange(c, dtype=np.int32) * w)[None, :]
        allc = np.zeros(c * w, dtype=np.int64)
        posc = np.zeros(c * w, dtype=np.int64)
        buf = np.empty((min(_CHUNK, values.shape[0]), c), dtype=np.float32)
        for a in range(0, values.shape[0], _CHUNK):
            v = values[a:a + _CHUNK]
            m = np.multiply(v, np.float32(b), out=buf[:v.shape[0]], dtype=np.float32)
            q = m.astype(np.int32)
            q += offsets
            allc += np.bincount(q.ravel(), minlength=c * w)
            qp = q[targets[a:a + _CHUNK]]
            if qp.size:
                posc += np.bincount(qp, minlength=c * w)
        allc = allc.reshape(c, w)
        posc = posc.reshape(c, w)
        allc[:, b - 1] += allc[:, b]
        posc[:, b - 1] += posc[:, b]
        allc, posc = allc[:, :b], posc[:, :b]
        self.pos += posc
        self.neg += allc - posc
        self.n_ref += posc.sum(axis=1)

    def add_events(self, j: int, tp_heights, fp_heights, n_ref: int) -> None:
        """Add one file's peaks of class index ``j``: kept (TP) and other (FP) heights."""
        b = self.bins
        tp = np.asarray(tp_heights)
        fp = np.asarray(fp_heights)
        if tp.size:
            self.pos[j] += np.bincount(self._bin(tp), minlength=b)
        if fp.size:
            self.neg[j] += np.bincount(self._bin(fp), minlength=b)
        self.n_ref[j] += int(n_ref)

    def merge(self, other: "HistogramStats") -> "HistogramStats":
        """Statistics of both sets of files (a new object).

        Raises
        ------
        MetricError
            If the class lists, bins or levels differ.
        """
        if other.classes != self.classes or other.bins != self.bins or other.level != self.level:
            raise MetricError("cannot merge statistics with different classes, bins or level")
        out = HistogramStats(self.classes, self.bins, self.level)
        out.pos = self.pos + other.pos
        out.neg = self.neg + other.neg
        out.n_ref = self.n_ref + other.n_ref
        return out

    @property
    def thresholds(self) -> np.ndarray:
        """The grid thresholds ``k / bins``."""
        return np.arange(self.bins, dtype=np.float64) / self.bins

    def curve(self, name: str) -> Curve:
        """The exact curve of class ``name`` on the threshold grid."""
        j = self.classes.index(name)
        tp = np.cumsum(self.pos[j][::-1])[::-1].astype(np.float64)
        fp = np.cumsum(self.neg[j][::-1])[::-1].astype(np.float64)
        return Curve(self.thresholds, tp, fp, int(self.n_ref[j]))

    def curves(self) -> Dict[str, Curve]:
        """:meth:`curve` of every class."""
        return {c: self.curve(c) for c in self.classes}

    def _cum(self, name):
        j = self.classes.index(name)
        return np.cumsum(self.neg[j][::-1]), np.cumsum(self.pos[j][::-1])

    def roc_auc(self, name: str) -> float:
        """ROC AUC of class ``name`` (frame level); NaN without positives or negatives."""
        return _roc_auc_from_cumulative(*self._cum(name))

    def average_precision(self, name: str) -> float:
        """Average precision (PR AUC) of class ``name``; NaN without positives."""
        return _ap_from_cumulative(*self._cum(name))

    def roc_points(self, name: str) -> Tuple[np.ndarray, np.ndarray]:
        """False and true positive rates at decreasing thresholds (for plots)."""
        fps, tps = self._cum(name)
        return (np.r_[0.0, fps / max(fps[-1], 1)], np.r_[0.0, tps / max(tps[-1], 1)])


class GridStats:
    """TP/FP counts per class at a fixed list of thresholds (plugin pickers).

    Parameters
    ----------
    classes : sequence of str
    thresholds : sequence of float
        Increasing thresholds.
    """

    level = "event"

    def __init__(self, classes: Sequence[str], thresholds: Sequence[float]):
        self.classes = list(classes)
        self.grid = np.asarray(thresholds, dtype=np.float64)
        if self.grid.ndim != 1 or self.grid.size == 0 or np.any(np.diff(self.grid) <= 0):
            raise MetricError("the threshold grid must be a non-empty increasing list")
        c, g = len(self.classes), self.grid.size
        self.tp = np.zeros((c, g), dtype=np.int64)
        self.fp = np.zeros((c, g), dtype=np.int64)
        self.n_ref = np.zeros(c, dtype=np.int64)

    def merge(self, other: "GridStats") -> "GridStats":
        """Statistics of both sets of files (a new object)."""
        if other.classes != self.classes or not np.array_equal(other.grid, self.grid):
            raise MetricError("cannot merge statistics with different classes or grids")
        out = GridStats(self.classes, self.grid)
        out.tp, out.fp, out.n_ref = self.tp + other.tp, self.fp + other.fp, self.n_ref + other.n_ref
        return out

    def curve(self, name: str) -> Curve:
        j = self.classes.index(name)
        return Curve(self.grid.copy(), self.tp[j].astype(float), self.fp[j].astype(float),
                     int(self.n_ref[j]))

    def curves(self) -> Dict[str, Curve]:
        return {c: self.curve(c) for c in self.classes}


# ----------------------------------------------------------------------------- event matching

def kept_peaks(ref: np.ndarray, times: np.ndarray, heights: np.ndarray, window: float) -> np.ndarray:
    """Which peaks the matroid greedy keeps (see the module docstring).

    Parameters
    ----------
    ref : np.ndarray
        Sorted reference onset times.
    times, heights : np.ndarray
        Candidate peak times (sorted) and heights.
    window : float > 0

    Returns
    -------
    np.ndarray of bool
        ``kept``; for every ``t``, ``(kept & (heights >= t)).sum()`` is the
        maximum number of one-to-one matches between ``ref`` and the peaks
        with height ``>= t``.
    """
    n = times.size
    kept = np.zeros(n, dtype=bool)
    if n == 0 or ref.size == 0:
        return kept
    lo = np.searchsorted(ref, times - window, side="left")
    hi = np.searchsorted(ref, times + window, side="right")
    near = np.flatnonzero(hi > lo)
    if near.size == 0:
        return kept
    # Components of the matching graph: consecutive references k, k+1 are linked
    # when some near peak sees both (its window covers a contiguous run of refs).
    lo_n, hi_n = lo[near], hi[near]
    diff = np.bincount(lo_n, minlength=ref.size + 1) - np.bincount(hi_n - 1, minlength=ref.size + 1)
    link = np.cumsum(diff)[:ref.size - 1] > 0
    comp = np.r_[0, np.cumsum(~link)]  # component id of each reference
    est_comp = comp[lo_n]
    n_comp = int(comp[-1]) + 1
    comp_refs = np.bincount(comp, minlength=n_comp)
    h = heights[near]
    simple = comp_refs[est_comp] == 1
    # one reference: keep its highest peak (earliest on ties)
    sidx = np.flatnonzero(simple)
    if sidx.size:
        # est_comp is non-decreasing (peaks are in time order): reduce per run
        sc, sh = est_comp[sidx], h[sidx]
        starts = np.flatnonzero(np.r_[True, sc[1:] != sc[:-1]])
        run_max = np.maximum.reduceat(sh, starts)
        run_id = np.cumsum(np.r_[False, sc[1:] != sc[:-1]])
        cand = np.flatnonzero(sh >= run_max[run_id])
        first = cand[np.r_[True, run_id[cand][1:] != run_id[cand][:-1]]]
        kept[near[sidx[first]]] = True
    # several references: matroid greedy on the few peaks involved
    cidx = np.flatnonzero(~simple)
    if cidx.size:
        ref_start = np.searchsorted(comp, np.arange(n_comp), side="left")
        ref_end = np.searchsorted(comp, np.arange(n_comp), side="right")
        groups = np.split(cidx, np.flatnonzero(np.diff(est_comp[cidx])) + 1)
        for grp in groups:
            c = est_comp[grp[0]]
            r = ref[ref_start[c]:ref_end[c]]
            t_g, h_g = times[near[grp]], h[grp]
            acc: List[int] = []
            for k in np.lexsort((np.arange(grp.size), -h_g)):
                if len(acc) == r.size:
                    break
                trial = sorted(acc + [int(k)])
                ri, _ = _greedy_match(r, t_g[trial], window)
                if ri.size == len(trial):
                    acc.append(int(k))
            kept[near[grp[acc]]] = True
    return kept


def event_heights(x: np.ndarray, ref: np.ndarray, fps: float, gap: int,
                  window: float) -> Tuple[np.ndarray, np.ndarray]:
    """Heights of kept (TP) and other (FP) candidate peaks of one class of one file.

    Parameters
    ----------
    x : np.ndarray, shape (n_frames,)
        Activations of the class.
    ref : np.ndarray
        Sorted reference onset times in seconds.
    fps : float
    gap : int
        ``gap_frames(min_gap_ms, fps)`` of the built-in picker.
    window : float
        Matching tolerance in seconds.
    """
    idx = candidate_peaks(x, gap)
    h = np.asarray(x, dtype=np.float32)[idx]
    kept = kept_peaks(np.asarray(ref, dtype=np.float64), idx / float(fps), h, window)
    return h[kept], h[~kept]


# ----------------------------------------------------------------------------- the sweep

@dataclass
class Item:
    """One validation file: a way to get its activations and its ground truth.

    Attributes
    ----------
    name : str
        Shown in messages.
    load : callable
        ``load() -> Activations``.
    annotation : path-like
        The ground-truth file.
    group : str
        The group (song, kit, session) the file belongs to; "" makes the
        file a group of its own.
    """

    name: str
    load: Callable
    annotation: object
    group: str = ""


@dataclass
class SweepResult:
    """Everything a sweep learnt from the validation files.

    Attributes
    ----------
    classes : list of str
        Calibrated classes (after transforms: groups appear as one class).
    model_classes : list of str
        The model's own classes.
    fingerprint : str
        Model fingerprint of the predictions.
    frame : HistogramStats
        Frame-level statistics (always; the AUCs come from here).
    event : HistogramStats or GridStats or None
        Event-level statistics (``level="event"``).
    level : str
    files : list of str
        Files used.
    skipped : list of (str, str)
        Files skipped and why.
    failed : list of (str, str)
        Files that could not be read, and the error.
    picker : str
        "peak_picking (nested sweep)" or the plugin name with "(grid sweep)".
    by_group : drumscribe.calibration.robust.GroupStats or None
        Counts per group at the calibration level (what the robust fit and
        the transfer check use).
    group_of : dict of str -> str
        Group of each file used.
    domain : dict
        Description of the material (:mod:`drumscribe.calibration.domain`), when measured.
    """

    classes: List[str]
    model_classes: List[str]
    fingerprint: str
    frame: HistogramStats
    event: Optional[object]
    level: str
    files: List[str] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    failed: List[Tuple[str, str]] = field(default_factory=list)
    picker: str = ""
    by_group: Optional[object] = None
    group_of: Dict[str, str] = field(default_factory=dict)
    domain: Dict[str, object] = field(default_factory=dict)

    def curves(self) -> Dict[str, Curve]:
        """Curves at the calibration level."""
        stats = self.event if self.level == "event" else self.frame
        return stats.curves()


def onsets_by_class(onsets, classes) -> Dict[str, np.ndarray]:
    """Sorted onset times per class (every class of ``classes`` present)."""
    out: Dict[str, list] = {c: [] for c in classes}
    for o in onsets:
        out[o.drum].append(o.time)
    return {c: np.sort(np.asarray(v, dtype=np.float64)) for c, v in out.items()}


def _hist_delta(stats: HistogramStats, before_pos, before_neg, idx) -> Tuple[np.ndarray, np.ndarray]:
    """Counts (C, len(idx)) of the items added since ``before_*`` at the thresholds ``idx``."""
    dp = stats.pos - before_pos
    dn = stats.neg - before_neg
    tp = np.cumsum(dp[:, ::-1], axis=1)[:, ::-1][:, idx]
    fp = np.cumsum(dn[:, ::-1], axis=1)[:, ::-1][:, idx]
    return tp, fp


def _group_index(bins: int) -> np.ndarray:
    from .robust import GROUP_POINTS, coarse_indices

    step = bins // (GROUP_POINTS - 1)
    if step >= 1 and bins % (GROUP_POINTS - 1) == 0:
        return np.arange(0, bins, step)
    return coarse_indices(bins)


def check_level_window(level: str, window_ms: float) -> None:
    """Refuse a sweep level other than ``event``/``frame`` or a window that is not > 0."""
    if level not in ("event", "frame"):
        raise MetricError(f"level must be 'event' or 'frame', got {level!r}")
    if not window_ms > 0:
        raise MetricError(f"--window-ms must be > 0, got {window_ms!r}")


def sweep(items: Iterable[Item], postprocessor, level: str = "event", window_ms: float = 50.0,
          widen: int = 0, bins: int = DEFAULT_BINS, grid: Optional[Sequence[float]] = None,
          progress: Optional[Callable[[Iterable], Iterable]] = None,
          warn: Callable[[str], None] = lambda m: None,
          describe: Optional[Callable] = None) -> SweepResult:
    """Stream over validation files and collect threshold statistics.

    Every onset counted comes from the postprocessing stage that
    ``transcribe`` runs (:class:`~drumscribe.transcribe.pipeline.Postprocessor`): its
    transforms, then either the picker's declared candidates (exact at every
    threshold, when :meth:`~drumscribe.transcribe.pipeline.Postprocessor.candidates`
    allows it) or its pick and filter hooks at each threshold of ``grid``.

    Parameters
    ----------
    items : iterable of Item
    postprocessor : drumscribe.transcribe.pipeline.Postprocessor
    level : {"event", "frame"}
    window_ms : float > 0
        Onset matching tolerance.
    widen : int >= 0
        Frame targets widened by this many frames on each side.
    bins : int
        Histogram resolution.
    grid : sequence of float, optional
        Thresholds for the whole-stage sweep (default 0.02 .. 0.98 step 0.02).
    progress : callable, optional
        Wraps the item iterable (e.g. ``tqdm``).
    warn : callable
        Receives a one-line message for each skipped or failed file.
    describe : callable, optional
        ``describe(item, activations, transformed)`` is called per file (the
        domain description collects its statistics this way).

    Returns
    -------
    SweepResult

    Raises
    ------
    DrumscribeError
        If no file could be used.
    """
    from drumscribe.transcribe.annotations import read_annotations

    from .robust import GroupStats

    check_level_window(level, window_ms)
    window = window_ms / 1000.0
    groups = dict(postprocessor.config.postprocessing.class_groups)
    exact = postprocessor.exact_candidates_possible()
    grid = np.asarray(DEFAULT_PLUGIN_GRID if grid is None else grid, dtype=np.float64)
    gidx = _group_index(bins)
    res: Optional[SweepResult] = None
    failed: List[Tuple[str, str]] = []
    it = progress(items) if progress else items
    for item in it:
        try:
            ann = read_annotations(item.annotation)
            act = item.load()
            if res is not None:
                if act.classes != res.model_classes:
                    raise DrumscribeError(f"{item.name}: classes {act.classes} differ from the other "
                                          f"files' {res.model_classes}; calibrate one model at a time")
                if act.model_fingerprint != res.fingerprint:
                    raise DrumscribeError(f"{item.name}: predictions come from another model "
                                          f"(fingerprint {act.model_fingerprint[:12] or 'unknown'}, "
                                          f"others {res.fingerprint[:12] or 'unknown'}); "
                                          "calibrate one model at a time")
            postprocessor.context.state = {}
            tact = postprocessor.transform(act)
            cand = postprocessor.candidates(tact) if level == "event" and exact else None
            if level == "event" and exact and cand is None:
                raise DrumscribeError(f"{item.name}: no picker declared onset candidates")
        except DrumscribeError as exc:
            msg = str(exc) if item.name in str(exc) else f"{item.name}: {exc}"
            warn(f"skipped: {msg}")
            failed.append((item.name, msg))
            continue
        if res is None:
            classes = list(tact.classes)
            event = None
            if level == "event":
                event = HistogramStats(classes, bins, "event") if exact else GridStats(classes, grid)
            pickers = postprocessor.picker_names
            picker = (f"{pickers[0] if pickers else '?'} (exact sweep over declared candidates)"
                      if exact else
                      f"{pickers[0] if pickers else '?'} + filters "
                      f"(whole-stage grid sweep, {grid.size} thresholds)")
            res = SweepResult(classes, list(act.classes), act.model_fingerprint,
                              HistogramStats(classes, bins, "frame"), event, level, picker=picker)
            cal_th = (np.arange(bins, dtype=np.float64)[gidx] / bins
                      if level == "frame" or exact else grid)
            res.by_group = GroupStats(classes, cal_th)
        group = item.group or item.name
        ref = ann.restricted(tact.classes, groups)
        n = tact.n_frames
        targets = np.stack([frame_targets(ref.times(c), n, tact.fps, widen) for c in tact.classes],
                           axis=1) if n else np.zeros((0, len(tact.classes)), bool)
        n_ref_frames = None
        if level == "frame":
            bp, bn = res.frame.pos.copy(), res.frame.neg.copy()
            res.frame.add_frames(tact.values, targets)
            tp, fp = _hist_delta(res.frame, bp, bn, gidx)
            n_ref_frames = targets.sum(axis=0)
            res.by_group.add(group, tp, fp, n_ref_frames)
        else:
            res.frame.add_frames(tact.values, targets)
            n_refs = np.array([ref.times(c).size for c in tact.classes], np.int64)
            if exact:
                bp, bn = res.event.pos.copy(), res.event.neg.copy()
                for j, c in enumerate(tact.classes):
                    r = ref.times(c)
                    h = np.asarray(cand.heights[c], dtype=np.float32)
                    kept = kept_peaks(np.asarray(r, np.float64), cand.times(c), h, window)
                    res.event.add_events(j, h[kept], h[~kept], r.size)
                tp, fp = _hist_delta(res.event, bp, bn, gidx)
            else:
                tp = np.zeros((len(tact.classes), grid.size), np.int64)
                fp = np.zeros_like(tp)
                for k, t in enumerate(grid):
                    onsets, _ = postprocessor.onsets(tact, {c: float(t) for c in tact.classes})
                    est = onsets_by_class(onsets, tact.classes)
                    for j, c in enumerate(tact.classes):
                        m = _greedy_match(ref.times(c), est[c], window)[0].size
                        tp[j, k] += m
                        fp[j, k] += est[c].size - m
                res.event.tp += tp
                res.event.fp += fp
                res.event.n_ref += n_refs
            res.by_group.add(group, tp, fp, n_refs)
        if describe is not None:
            describe(item, act, tact)
        res.files.append(item.name)
        res.group_of[item.name] = group
    if res is None:
        raise DrumscribeError("no usable validation file (each was skipped); see the messages above")
    res.failed = failed
    return res


# ----------------------------------------------------------------------------- confusion

def confusion(items: Iterable[Item], postprocessor, thresholds: Dict[str, float],
              window_ms: float = 50.0) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """Cross-class confusion of misses at the chosen thresholds.

    For each class A, the reference onsets of A left unmatched by A's
    detections are counted per other class B when a *false alarm* of B (a
    detection of B that matches no onset of B) lies within the window, so a
    hi-hat played together with a snare is not blamed on the snare.

    Parameters
    ----------
    items : iterable of Item
    postprocessor : Postprocessor
    thresholds : dict of str -> float
        Per calibrated class.
    window_ms : float

    Returns
    -------
    classes : list of str
    misses : np.ndarray of int, shape (n,)
        Unmatched reference onsets per class.
    table : np.ndarray of int, shape (n, n)
        ``table[a, b]``: misses of class a near a detection of class b.
    """
    from drumscribe.transcribe.annotations import read_annotations

    groups = dict(postprocessor.config.postprocessing.class_groups)
    window = window_ms / 1000.0
    classes: Optional[List[str]] = None
    misses = table = None
    for item in items:
        try:
            ann = read_annotations(item.annotation)
            postprocessor.context.state = {}
            tact = postprocessor.transform(item.load())
        except DrumscribeError:
            continue
        if classes is None:
            classes = list(tact.classes)
            misses = np.zeros(len(classes), dtype=np.int64)
            table = np.zeros((len(classes), len(classes)), dtype=np.int64)
        if list(tact.classes) != classes:
            continue
        onsets, _ = postprocessor.onsets(tact, {c: float(thresholds.get(c, 0.5)) for c in classes})
        est = onsets_by_class(onsets, classes)
        ref = ann.restricted(classes, groups)
        unmatched_ref, false_alarms = {}, {}
        for ca in classes:
            r, e = ref.times(ca), est[ca]
            ri, ei = _greedy_match(r, e, window)
            keep_r = np.ones(r.size, dtype=bool)
            keep_r[ri] = False
            keep_e = np.ones(e.size, dtype=bool)
            keep_e[ei] = False
            unmatched_ref[ca], false_alarms[ca] = r[keep_r], e[keep_e]
        for a, ca in enumerate(classes):
            ru = unmatched_ref[ca]
            misses[a] += ru.size
            if not ru.size:
                continue
            for b, cb in enumerate(classes):
                fb = false_alarms[cb]  # B's detections that match no B onset
                if b == a or not fb.size:
                    continue
                table[a, b] += int(np.count_nonzero(near(ru, fb, window)))
    if classes is None:
        return [], np.zeros(0, np.int64), np.zeros((0, 0), np.int64)
    return classes, misses, table
