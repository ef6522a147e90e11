#!/usr/bin/env python
"""Benchmark the calibration fit against scikit-learn and a memory-read floor.

Usage::

    python bench/bench_calibration.py [--frames 10000000] [--classes 11] [--hours 10]

On the same synthetic (frames x classes) scores and targets it times

- ``floor``: reading the arrays once (a sum over the scores, a count of the targets);
- ``ours``: the frame-level fit (histogram statistics, then the exact curves,
  ROC AUC and average precision of every class);
- ``sklearn``: ``precision_recall_curve`` + ``roc_auc_score`` +
  ``average_precision_score`` per class;
- ``grid15``: a plain numpy sweep over the 15 thresholds 0.10 .. 0.80;

and prints ratios and the largest differences from scikit-learn (F1 at the 15
grid thresholds, ROC AUC, AP). It then times the event-level sweep (peak
picking + one-to-one matching at every threshold) over ``--hours`` of audio at
100 frames per second.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drumscribe.calibration.sweep import HistogramStats, event_heights  # noqa: E402
from drumscribe.plugins.peak_picking import gap_frames  # noqa: E402

GRID = np.round(np.arange(0.10, 0.8001, 0.05), 2)


def synthetic(frames, classes, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random((frames, classes), dtype=np.float32) < 0.03
    s = rng.standard_normal((frames, classes), dtype=np.float32)
    s *= 0.15
    s += 0.3
    s += 0.4 * y
    np.clip(s, 0, 1, out=s)
    return s, y


def timeit(fn, repeat=1):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def ours(s, y):
    h = HistogramStats([f"c{j}" for j in range(s.shape[1])])
    h.add_frames(s, y)
    res = {}
    for c in h.classes:
        cv = h.curve(c)
        res[c] = (cv, h.roc_auc(c), h.average_precision(c))
    return res


def sklearn_fit(s, y):
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

    res = {}
    for j in range(s.shape[1]):
        p, r, t = precision_recall_curve(y[:, j], s[:, j])
        res[f"c{j}"] = ((p, r, t), roc_auc_score(y[:, j], s[:, j]),
                        average_precision_score(y[:, j], s[:, j]))
    return res


def grid15(s, y):
    out = np.zeros((len(GRID), s.shape[1], 2), dtype=np.int64)
    for k, t in enumerate(GRID):
        pred = s >= t
        out[k, :, 0] = np.count_nonzero(pred & y, axis=0)
        out[k, :, 1] = np.count_nonzero(pred, axis=0)
    return out


def floor(s, y):
    return float(s.sum()) + np.count_nonzero(y)


def f1_from_sklearn(p, r, t, th):
    i = np.searchsorted(t, th, side="left")
    pp, rr = p[i], r[i]
    return 0.0 if pp + rr == 0 else 2 * pp * rr / (pp + rr)


def event_bench(hours, classes, fps=100.0, seed=1):
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * fps)
    x = np.clip(rng.random((n, classes), dtype=np.float32) * 0.3, 0, 1)
    refs = []
    for j in range(classes):
        # half the 16th notes of a 120 bpm grid (125 ms apart): ~4 onsets per second
        grid = np.arange(2, n - 3, 12.5).astype(np.int64)
        on = np.unique(np.clip(grid[rng.random(grid.size) < 0.5] + rng.integers(-2, 3, 1), 1, n - 2))
        x[on, j] = 0.5 + 0.5 * rng.random(on.size, dtype=np.float32)
        refs.append(np.sort((on + rng.integers(-2, 3, on.size)).clip(0)) / fps)
    g = gap_frames(30.0, fps)
    stats = HistogramStats([f"c{j}" for j in range(classes)], level="event")
    t = time.perf_counter()
    for j in range(classes):
        tp, fp = event_heights(x[:, j], np.sort(refs[j]), fps, g, 0.05)
        stats.add_events(j, tp, fp, refs[j].size)
    curves = [stats.curve(c) for c in stats.classes]
    return time.perf_counter() - t, n, curves


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=10_000_000)
    ap.add_argument("--classes", type=int, default=11)
    ap.add_argument("--hours", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    s, y = synthetic(args.frames, args.classes)
    t_floor, _ = timeit(lambda: floor(s, y), args.repeat)
    t_ours, mine = timeit(lambda: ours(s, y), args.repeat)
    t_grid, _ = timeit(lambda: grid15(s, y), 1)
    t_sk, ref = timeit(lambda: sklearn_fit(s, y), 1)
    d_f1 = d_auc = d_ap = 0.0
    for c in mine:
        cv, auc, apv = mine[c]
        (p, r, t), auc_s, ap_s = ref[c]
        d_auc = max(d_auc, abs(auc - auc_s))
        d_ap = max(d_ap, abs(apv - ap_s))
        for th in GRID:
            tg = cv.thresholds[cv.index_at(th)]  # the histogram's grid point for th
            d_f1 = max(d_f1, abs(cv.at(th)["f1"] - f1_from_sklearn(p, r, t, tg)))
    print(f"frame-level fit: {args.frames:,} frames x {args.classes} classes "
          f"({s.nbytes / 1e6:.0f} MB of float32 scores)\n")
    print("| step | seconds | vs sklearn | vs floor |")
    print("|---|---:|---:|---:|")
    for name, tt in (("floor: read the arrays once (sum)", t_floor),
                     ("ours: histogram stats + curves + ROC AUC + AP, all classes", t_ours),
                     ("sklearn: precision_recall_curve + roc_auc_score + average_precision_score", t_sk),
                     ("numpy 15-threshold grid sweep (0.10..0.80)", t_grid)):
        print(f"| {name} | {tt:.3f} | {t_sk / tt:.1f}x faster | {tt / t_floor:.1f}x |")
    print(f"\nmax |difference| vs sklearn: F1 at the 15 grid thresholds {d_f1:.2e}, "
          f"ROC AUC {d_auc:.2e}, AP {d_ap:.2e}")
    t_ev, n, _ = event_bench(args.hours, args.classes)
    print(f"\nevent-level sweep (candidate peaks + matroid matching + histogram, every threshold): "
          f"{args.hours:g} h at 100 fps = {n:,} frames x {args.classes} classes: {t_ev:.2f} s")


if __name__ == "__main__":
    main()
