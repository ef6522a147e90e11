"""Tests of the hysteresis picking plugin, through the whole postprocessing stage."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import drumscribe_hysteresis as hyst
from drumscribe.transcribe.errors import ConfigError
from drumscribe.transcribe.testing import make_activations, onset_times, run_postprocessing

WOBBLE = [0.0, 0.6, 0.9, 0.45, 0.8, 0.1, 0.0, 0.0, 0.7, 0.2, 0.0, 0.0]


def wobbly():
    """One kick hit whose activation dips to 0.45 and rises again, then a second hit."""
    x = np.zeros((100, 1), np.float32)
    x[10:10 + len(WOBBLE), 0] = WOBBLE
    return x


def test_replaces_the_builtin_picker():
    act = make_activations({"kick": [(0.5, 0.9), (1.0, 0.8)]})
    res = run_postprocessing(act, plugins=[hyst])
    assert res.picker == "drumscribe_hysteresis"
    assert onset_times(res) == [0.5, 1.0]


def test_wobble_is_one_onset_where_peak_picking_sees_two():
    cfg = {"postprocessing": {"min_gap_ms": 10}, "plugins_config": {"hysteresis": {"low": 0.3}}}
    builtin = run_postprocessing(wobbly(), classes=["kick"], config=cfg)
    res = run_postprocessing(wobbly(), plugins=[hyst], classes=["kick"], config=cfg)
    assert onset_times(builtin) == [0.12, 0.14, 0.18]
    assert onset_times(res) == [0.12, 0.18]
    cfg["plugins_config"]["hysteresis"]["low"] = 0.5  # the dip to 0.45 now ends the onset
    assert onset_times(run_postprocessing(wobbly(), plugins=[hyst], classes=["kick"],
                                          config=cfg)) == [0.12, 0.14, 0.18]


def test_default_low_is_half_the_global_threshold():
    # low = 0.25: the dip to 0.45 keeps the first hit one onset
    res = run_postprocessing(wobbly(), plugins=[hyst], classes=["kick"])
    assert onset_times(res) == [0.12, 0.18]
    res = run_postprocessing(wobbly(), plugins=[hyst], classes=["kick"],
                             config={"postprocessing": {"onset_threshold": 0.95}})
    assert onset_times(res) == []


@pytest.mark.parametrize("low, match", [
    (1.5, r"plugins_config\.hysteresis\.low must be a number in \[0, 1\], got 1\.5"),
    ("high", r"plugins_config\.hysteresis\.low must be a number in \[0, 1\], got 'high'"),
    (True, r"plugins_config\.hysteresis\.low must be a number"),
])
def test_bad_low_is_refused_naming_the_plugin(low, match):
    with pytest.raises(ConfigError, match=match):
        run_postprocessing(wobbly(), plugins=[hyst], classes=["kick"],
                           config={"plugins_config": {"hysteresis": {"low": low}}})


def test_unknown_key_is_refused():
    with pytest.raises(ConfigError, match=r"plugins_config\.hysteresis: unknown key 'lo'"):
        run_postprocessing(wobbly(), plugins=[hyst], classes=["kick"],
                           config={"plugins_config": {"hysteresis": {"lo": 0.2}}})


@settings(max_examples=80, deadline=None)
@given(x=arrays(np.float32, st.integers(1, 200), elements=st.floats(0, 1, width=32)),
       t1=st.floats(0, 1), t2=st.floats(0, 1), low=st.floats(0, 1), gap=st.floats(0, 120))
def test_raising_threshold_never_adds_onsets(x, t1, t2, low, gap):
    lo, hi = sorted((t1, t2))
    f_lo, _ = hyst.pick_hysteresis(x, lo, low, 100.0, gap)
    f_hi, h_hi = hyst.pick_hysteresis(x, hi, low, 100.0, gap)
    assert set(f_hi.tolist()) <= set(f_lo.tolist())
    assert np.all(h_hi >= hi) and np.all(x[f_hi] >= low)
    if f_hi.size > 1:
        assert np.all(np.diff(f_hi) * 10.0 >= gap - 1e-6)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), th=st.floats(0.05, 0.95), bump=st.floats(0, 0.5))
def test_pipeline_is_monotone_with_the_default_low(seed, th, bump):
    rng = np.random.default_rng(seed)
    peaks = {"kick": [(t, float(rng.uniform(0.1, 1))) for t in np.arange(0.2, 2.8, 0.13)],
             "snare_head": [(t, float(rng.uniform(0.1, 1))) for t in np.arange(0.25, 2.8, 0.21)]}
    act = make_activations(peaks, duration=3.0, noise=0.3, seed=seed)
    low = run_postprocessing(act, plugins=[hyst], thresholds=th).onsets
    high = run_postprocessing(act, plugins=[hyst], thresholds=min(1.0, th + bump)).onsets
    assert set(high) <= set(low)
