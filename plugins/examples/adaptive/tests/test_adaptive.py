"""Tests of the adaptive thresholds plugin, through the whole postprocessing stage."""

import numpy as np
import pytest

import drumscribe_adaptive as adaptive
from drumscribe.calibration.calfile import CalibrationFile, write_calibration
from drumscribe.transcribe.errors import ConfigError
from drumscribe.transcribe.testing import make_activations, onset_times, run_postprocessing
from drumscribe.transcribe.vocabulary import CLASS_NAMES

HITS = {"kick": [(t, 0.9) for t in np.arange(0.5, 4.0, 0.5)],
        "snare_head": [(t, 0.35) for t in np.arange(0.75, 4.0, 0.5)]}


def song(scale=1.0, noise=0.05):
    act = make_activations(HITS, duration=4.5, noise=noise, seed=1)
    return act.replace(act.values * np.float32(scale))


def test_quiet_snare_is_found_and_noise_is_not():
    fixed = run_postprocessing(song())                      # 0.5 everywhere: no snare at 0.35
    res = run_postprocessing(song(), plugins=[adaptive])
    assert onset_times(fixed, "snare_head") == []
    assert len(onset_times(res, "snare_head")) == 7 and len(onset_times(res, "kick")) == 7
    assert res.thresholds["crash"] == 0.3                   # silent class: the floor
    assert {o.drum for o in res.onsets} == {"kick", "snare_head"}
    assert res.sources["kick"].startswith("adaptive (mean + 2 std")


def test_a_quieter_mix_gives_the_same_onsets():
    loud = run_postprocessing(song(1.0, noise=0.0), plugins=[adaptive],
                              config={"plugins_config": {"adaptive": {"floor": 0.05}}})
    quiet = run_postprocessing(song(0.6, noise=0.0), plugins=[adaptive],
                               config={"plugins_config": {"adaptive": {"floor": 0.05}}})
    assert onset_times(quiet) == onset_times(loud) and len(loud.onsets) == 14
    assert quiet.thresholds["kick"] == pytest.approx(0.6 * loud.thresholds["kick"], rel=1e-5)


def test_priority_between_calibration_and_config(tmp_path):
    cal = tmp_path / "cal.yaml"
    write_calibration(cal, CalibrationFile(list(CLASS_NAMES), {c: 0.11 for c in CLASS_NAMES}))
    cfg = {"postprocessing": {"calibration_file": str(cal), "class_thresholds": {"kick": 0.7}}}
    res = run_postprocessing(song(), plugins=[adaptive], config=cfg)
    assert res.thresholds["kick"] == 0.7 and "class_thresholds" in res.sources["kick"]
    assert res.sources["snare_head"].startswith("adaptive")    # beats the calibration file
    assert adaptive.PRIORITY_ADAPTIVE == 15


def test_percentile_method_and_smoothing():
    cfg = {"plugins_config": {"adaptive": {"method": "percentile", "percentile": 50,
                                           "floor": 0.0, "ceil": 1.0, "smooth": 5}}}
    res = run_postprocessing(song(noise=0.0), plugins=[adaptive], config=cfg)
    assert res.thresholds["crash"] == 0.0
    k = res.activations.column("kick")
    assert k.max() < 0.9 and np.isclose(k.sum(), song(noise=0.0).column("kick").sum(), rtol=1e-3)


@pytest.mark.parametrize("section, match", [
    ({"k": -1}, r"plugins_config\.adaptive\.k must be a number in \[0, 100\], got -1"),
    ({"floor": 0.9, "ceil": 0.5}, r"plugins_config\.adaptive\.floor \(0\.9\) must not exceed"),
    ({"method": "median"}, r"plugins_config\.adaptive\.method must be one of std, percentile"),
    ({"smooth": 2.5}, r"plugins_config\.adaptive\.smooth must be a whole number"),
    ({"ceil": "high"}, r"plugins_config\.adaptive\.ceil must be a number"),
    ({"florr": 0.2}, r"plugins_config\.adaptive: unknown key 'florr' \(plugin 'adaptive'"),
])
def test_bad_config_is_refused_naming_plugin_and_key(section, match):
    with pytest.raises(ConfigError, match=match):
        run_postprocessing(song(), plugins=[adaptive],
                           config={"plugins_config": {"adaptive": section}})
