"""Calibration metrics against scikit-learn and mir_eval, and the streaming statistics."""

import warnings

import mir_eval
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score

from drumscribe.calibration import metrics
from drumscribe.calibration.metrics import Curve, MetricError, count_matches, frame_targets, onset_f_measure
from drumscribe.calibration.objectives import ObjectiveError, best_interval_middle, choose_thresholds, parse_objective
from drumscribe.calibration.sweep import GridStats, HistogramStats, kept_peaks

labels_scores = st.integers(2, 60).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5001, 0.7, 0.9, 1.0]) | st.floats(0, 1),
             min_size=n, max_size=n)))


@settings(max_examples=150, deadline=None)
@given(labels_scores)
def test_exact_pr_curve_equals_sklearn(data):
    y, s = np.array(data[0]), np.array(data[1])
    if y.sum() == 0:
        y[0] = 1
    p, r, t = metrics.precision_recall_curve(y, s)
    ps, rs, ts = precision_recall_curve(y, s)
    assert_allclose(t, ts)
    assert_allclose(p, ps)
    assert_allclose(r, rs)


@settings(max_examples=150, deadline=None)
@given(labels_scores)
def test_roc_auc_and_ap_equal_sklearn(data):
    y, s = np.array(data[0]), np.array(data[1])
    y[0], y[1] = 1, 0
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert metrics.average_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_undefined_aucs_are_nan_not_half():
    y = np.zeros(10, int)
    s = np.linspace(0, 1, 10)
    assert np.isnan(metrics.roc_auc(y, s))
    assert np.isnan(metrics.average_precision(y, s))
    assert not Curve(np.array([0.5]), np.array([0.0]), np.array([3.0]), 0).defined


def test_bad_inputs_raise():
    with pytest.raises(MetricError, match="equal length"):
        metrics.roc_auc([0, 1], [0.5])
    with pytest.raises(MetricError, match="sorted"):
        count_matches([0.5, 0.1], [0.2])
    with pytest.raises(MetricError, match="window"):
        count_matches([0.1], [0.1], window=0)


def test_frame_targets_rounding_and_widening():
    y = frame_targets([0.0, 0.104, 0.996], 100, 100.0, widen=0)
    assert np.flatnonzero(y).tolist() == [0, 10]  # 0.996 s -> frame 100 is past the end
    y = frame_targets([0.5], 100, 100.0, widen=2)
    assert np.flatnonzero(y).tolist() == [48, 49, 50, 51, 52]


def _random_scores(rng, n, pos_rate=0.05):
    y = rng.random(n) < pos_rate
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.15), 0, 1).astype(np.float32)
    return y, s


def test_histogram_stats_close_to_exact():
    rng = np.random.default_rng(1)
    y, s = _random_scores(rng, 60000)
    h = HistogramStats(["a"])
    h.add_frames(s[:, None], y[:, None])
    assert abs(h.roc_auc("a") - roc_auc_score(y, s)) < 1e-4
    assert abs(h.average_precision("a") - average_precision_score(y, s)) < 1e-4
    cv = h.curve("a")
    # counts at every grid threshold are exact
    for t in rng.random(50):
        i = cv.index_at(t)
        tg = cv.thresholds[i]
        pred = s >= tg
        assert cv.tp[i] == np.sum(pred & y) and cv.fp[i] == np.sum(pred & ~y)
    # max F1 over the grid vs the exact max over all distinct scores
    p, r, _ = precision_recall_curve(y, s)
    f_exact = np.max(np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0))
    assert abs(np.max(cv.f1) - f_exact) < 1e-3


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_histogram_exact_on_quantised_scores(seed):
    rng = np.random.default_rng(seed)
    b = 1 << 16
    n = int(rng.integers(2, 300))
    s = (rng.integers(0, b, n) / b).astype(np.float32)
    y = rng.random(n) < 0.3
    y[0], y[1] = True, False
    h = HistogramStats(["a"], bins=b)
    h.add_frames(s[:, None], y[:, None])
    ps, rs, ts = precision_recall_curve(y, s)
    cv = h.curve("a")
    idx = np.rint(ts.astype(np.float64) * b).astype(int)
    assert_allclose(cv.recall[idx], rs[:-1])
    ok = (cv.tp + cv.fp)[idx] > 0
    assert_allclose(cv.precision[idx][ok], ps[:-1][ok])
    assert h.roc_auc("a") == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert h.average_precision("a") == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_merge_equals_concatenation():
    rng = np.random.default_rng(2)
    ya, sa = _random_scores(rng, 5000)
    yb, sb = _random_scores(rng, 7000)
    A = np.stack([sa, sa[::-1]], 1), np.stack([ya, ya[::-1]], 1)
    B = np.stack([sb, sb[::-1]], 1), np.stack([yb, yb[::-1]], 1)
    ha, hb, hab = (HistogramStats(["x", "y"], bins=1024) for _ in range(3))
    ha.add_frames(*A)
    hb.add_frames(*B)
    hab.add_frames(np.concatenate([A[0], B[0]]), np.concatenate([A[1], B[1]]))
    m = ha.merge(hb)
    assert_array_equal(m.pos, hab.pos)
    assert_array_equal(m.neg, hab.neg)
    assert_array_equal(m.n_ref, hab.n_ref)
    g1, g2 = GridStats(["x"], [0.2, 0.5]), GridStats(["x"], [0.2, 0.5])
    g1.tp[:] = [[3, 1]]
    g2.tp[:] = [[2, 2]]
    assert g1.merge(g2).tp.tolist() == [[5, 3]]
    with pytest.raises(MetricError):
        ha.merge(HistogramStats(["x"], bins=1024))


times = st.lists(st.integers(0, 400), max_size=25).map(lambda v: np.sort(np.array(v, float) / 100.0))


@settings(max_examples=300, deadline=None)
@given(times, times, st.sampled_from([0.02, 0.05, 0.1]))
def test_greedy_matching_equals_mir_eval(ref, est, window):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = mir_eval.onset.f_measure(ref, est, window=window)
        n_mir = len(mir_eval.util.match_events(ref, est, window)) if ref.size and est.size else 0
    assert count_matches(ref, est, window) == n_mir
    assert_allclose(onset_f_measure(ref, est, window), expected)


@settings(max_examples=200, deadline=None)
@given(times, st.lists(st.tuples(st.integers(0, 400), st.integers(0, 10)), max_size=30),
       st.sampled_from([0.03, 0.05, 0.1]))
def test_nested_event_counts_equal_matching_at_every_threshold(ref, peaks, window):
    peaks = sorted(set(peaks))
    t = np.array([p[0] for p in peaks], float) / 100.0
    h = np.array([p[1] for p in peaks], float) / 10.0
    kept = kept_peaks(ref, t, h, window)
    for th in np.linspace(0, 1, 11):
        sel = h >= th
        assert int((kept & sel).sum()) == count_matches(ref, t[sel], window)


def test_objective_parsing():
    assert parse_objective("F1").kind == "f1"
    assert parse_objective("fbeta:0.5").beta == 0.5
    assert parse_objective("recall@precision=0.9").precision_floor == 0.9
    for bad in ("f2", "fbeta:0", "recall@precision=1.5", "recall@precision=", ""):
        with pytest.raises(ObjectiveError, match="valid objectives: f1, fbeta:B"):
            parse_objective(bad)


def _curve(f1_like_tp, n_ref=10):
    th = np.linspace(0, 1, len(f1_like_tp), endpoint=False)
    tp = np.asarray(f1_like_tp, float)
    return Curve(th, tp, np.zeros_like(tp), n_ref)


def test_plateau_resolves_to_middle():
    cv = Curve(np.arange(10) / 10, np.array([10, 10, 10, 10, 10, 10, 8, 5, 2, 0], float),
               np.array([9, 6, 0, 0, 0, 0, 0, 0, 0, 0], float), 10)
    ch = choose_thresholds({"kick": cv}, parse_objective("f1"))
    assert ch["kick"].threshold == pytest.approx(0.3)  # plateau 0.2..0.5, middle index
    assert best_interval_middle(np.array([np.nan, np.nan]), np.arange(2.0)) is None


def test_game_global_and_recall_at_precision():
    th = np.arange(10) / 10
    tp = np.array([10, 10, 10, 9, 9, 8, 6, 4, 2, 0], float)
    fp = np.array([20, 9, 4, 2, 1, 0, 0, 0, 0, 0], float)
    cv = Curve(th, tp, fp, 10)
    game = choose_thresholds({"kick": cv}, parse_objective("game"))["kick"]
    # best F1 among thresholds with F1 > .75 and recall > .8 (0.2 meets them too, at lower precision)
    assert game.threshold == pytest.approx(0.4)
    hard = Curve(th, tp * 0.5, fp, 10)
    ch = choose_thresholds({"kick": hard}, parse_objective("game"))["kick"]
    assert "unreachable" in ch.note and "max F1" in ch.note
    rp = choose_thresholds({"kick": cv}, parse_objective("recall@precision=0.9"))["kick"]
    assert rp.threshold == pytest.approx(0.4)
    other = Curve(th, np.array([5, 5, 5, 5, 5, 5, 5, 5, 5, 0], float),
                  np.array([5, 5, 5, 5, 5, 5, 5, 5, 5, 0], float), 5)
    glob = choose_thresholds({"kick": cv, "crash": other, "ride": Curve(th, tp * 0, fp, 0)},
                             parse_objective("global"))
    assert glob["kick"].threshold == glob["crash"].threshold
    assert not glob["ride"].defined and glob["ride"].threshold == 0.5
