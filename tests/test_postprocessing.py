"""The postprocessing stage: threshold precedence, peak picking properties, plugins."""

import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from drumscribe.calibration.calfile import CalibrationFile, write_calibration
from drumscribe.plugins.peak_picking import pick_peaks
from drumscribe.transcribe.activations import Activations
from drumscribe.transcribe.config import Config, config_from_dict, load_config
from drumscribe.transcribe.errors import CalibrationFileError, ConfigError, PluginError
from drumscribe.transcribe.run import RunOptions
from drumscribe.transcribe.pipeline import Postprocessor, make_plugin_manager
from drumscribe.transcribe.vocabulary import CLASS_NAMES

CLASSES = list(CLASS_NAMES)


def peaks_activation(n=500, fps=100.0, seed=0, classes=CLASSES):
    """Activations with bumps of known heights: class j has peaks at frames 50+40k."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0, 0.05, size=(n, len(classes))).astype(np.float32)
    for j in range(len(classes)):
        for k, f in enumerate(range(50, n - 5, 40)):
            h = 0.15 + 0.8 * ((k + j) % 9) / 8
            v[f - 1:f + 2, j] = [h * 0.5, h, h * 0.4]
    return Activations(v, fps, classes)


def test_builtins_load_from_entry_points():
    pm, info = make_plugin_manager()
    for name in ("fixed_threshold", "class_thresholds", "calibrated", "class_groups", "peak_picking"):
        assert name in info and "entry point" in info[name].source
    assert "drumscribe_pick_onsets" in info["peak_picking"].hooks


def test_default_threshold_is_half():
    act = peaks_activation()
    res = Postprocessor(Config(), CLASSES).run(act)
    assert res.thresholds == {c: 0.5 for c in CLASSES}
    assert all(o.strength >= 0.5 for o in res.onsets)
    assert len(res.onsets) > 0


def test_threshold_precedence(tmp_path):
    """command line > class_thresholds > calibration file > onset_threshold."""
    cal = tmp_path / "cal.yaml"
    write_calibration(cal, CalibrationFile(CLASSES, {c: 0.41 for c in CLASSES}))
    cfg = config_from_dict({"postprocessing": {
        "onset_threshold": 0.2, "calibration_file": str(cal),
        "class_thresholds": {"kick": 0.3, "snare_head": 0.35}}})
    run = RunOptions(class_thresholds={"kick": 0.9})
    th, src = Postprocessor(cfg, CLASSES, run=run).thresholds(peaks_activation())
    assert th["kick"] == 0.9 and "command line" in src["kick"]
    assert th["snare_head"] == 0.35 and "class_thresholds" in src["snare_head"]
    assert th["crash"] == 0.41 and "calibration" in src["crash"]
    cfg2 = config_from_dict({"postprocessing": {"onset_threshold": 0.2}})
    th2, src2 = Postprocessor(cfg2, CLASSES).thresholds(peaks_activation())
    assert th2["crash"] == 0.2 and src2["crash"] == "postprocessing.onset_threshold"
    run = RunOptions(threshold=0.7, class_thresholds={"kick": 0.9})  # beats config and file
    th3, _ = Postprocessor(cfg, CLASSES, run=run).thresholds(peaks_activation())
    assert th3["snare_head"] == 0.7 and th3["crash"] == 0.7 and th3["kick"] == 0.9


@settings(max_examples=60, deadline=None)
@given(x=arrays(np.float32, st.integers(1, 300), elements=st.floats(0, 1, width=32)),
       t1=st.floats(0, 1), t2=st.floats(0, 1), gap=st.floats(0, 120))
def test_raising_threshold_never_adds_onsets(x, t1, t2, gap):
    lo, hi = sorted((t1, t2))
    f_lo, _ = pick_peaks(x, lo, 100.0, gap)
    f_hi, h_hi = pick_peaks(x, hi, 100.0, gap)
    assert set(f_hi.tolist()) <= set(f_lo.tolist())
    assert np.all(h_hi >= hi)
    if f_hi.size > 1:  # sorted and at least the minimum gap apart (10 ms frames)
        assert np.all(np.diff(f_hi) * 10.0 >= gap - 1e-6)
        assert np.all(np.diff(f_hi) >= 2)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 1000), th=st.floats(0.05, 0.95), bump=st.floats(0, 0.5))
def test_pipeline_monotone_in_every_class(seed, th, bump):
    act = peaks_activation(300, seed=seed)
    pp = Postprocessor(Config(), CLASSES)
    low = pp.run(act, thresholds={c: th for c in CLASSES}).onsets
    high = pp.run(act, thresholds={c: min(1.0, th + bump) for c in CLASSES}).onsets
    assert set(high) <= set(low)


def test_min_gap_respected():
    x = np.zeros(200, np.float32)
    x[[10, 12, 14, 40, 43]] = [0.6, 0.9, 0.7, 0.8, 0.8]
    frames, _ = pick_peaks(x, 0.5, 100.0, 30.0)
    assert frames.tolist() == [12, 40, 43]
    frames, _ = pick_peaks(x, 0.5, 100.0, 50.0)
    assert frames.tolist() == [12, 40]


PLUGIN_SRC = '''
from drumscribe.transcribe.hookspecs import hookimpl, Onset

@hookimpl
def drumscribe_pick_onsets(activations, thresholds):
    # one onset per class at its global maximum, whatever the threshold
    out = []
    for j, c in enumerate(activations.classes):
        i = int(activations.values[:, j].argmax())
        if activations.values[i, j] >= thresholds[c]:
            out.append(Onset(i / activations.fps, c, 100, float(activations.values[i, j])))
    return out
'''


def test_plugin_by_module_path_replaces_picker(tmp_path, monkeypatch):
    (tmp_path / "argmax_picker.py").write_text(PLUGIN_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    act = peaks_activation()
    pp = Postprocessor(Config(), CLASSES, plugins=["argmax_picker"])
    res = pp.run(act)
    assert res.picker == "argmax_picker"
    assert len(res.onsets) == len(CLASSES)
    # and by file path
    pp2 = Postprocessor(Config(), CLASSES, plugins=[str(tmp_path / "argmax_picker.py")])
    assert pp2.run(act).onsets == res.onsets


def test_plugin_that_raises_is_named(tmp_path, monkeypatch):
    (tmp_path / "boom.py").write_text(textwrap.dedent('''
        from drumscribe.transcribe.hookspecs import hookimpl
        @hookimpl
        def drumscribe_filter_onsets(onsets):
            raise RuntimeError("kaput")
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    pp = Postprocessor(Config(), CLASSES, plugins=["boom"])
    with pytest.raises(PluginError, match=r"plugin 'boom' raised in drumscribe_filter_onsets: RuntimeError: kaput"):
        pp.run(peaks_activation())


def test_plugin_wrong_return_shape_and_import_error(tmp_path, monkeypatch):
    (tmp_path / "badshape.py").write_text(textwrap.dedent('''
        from drumscribe.transcribe.hookspecs import hookimpl
        @hookimpl(tryfirst=True)
        def drumscribe_pick_onsets():
            return 42
    '''))
    (tmp_path / "broken_import.py").write_text("import does_not_exist_xyz\n")
    (tmp_path / "typo_hook.py").write_text(textwrap.dedent('''
        from drumscribe.transcribe.hookspecs import hookimpl
        @hookimpl
        def drumscribe_pick_onset(activations):
            return []
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"'badshape' returned int from drumscribe_pick_onsets"):
        Postprocessor(Config(), CLASSES, plugins=["badshape"]).run(peaks_activation())
    with pytest.raises(PluginError, match=r"plugin 'broken_import' failed to import: ModuleNotFoundError"):
        Postprocessor(Config(), CLASSES, plugins=["broken_import"])
    with pytest.raises(PluginError, match=r"typo_hook.*drumscribe_pick_onset"):
        Postprocessor(Config(), CLASSES, plugins=["typo_hook"])


def test_threshold_layer_out_of_range_is_refused(tmp_path, monkeypatch):
    (tmp_path / "badth.py").write_text(textwrap.dedent('''
        from drumscribe.transcribe.hookspecs import hookimpl, ThresholdLayer
        @hookimpl
        def drumscribe_thresholds(classes):
            return ThresholdLayer({"kick": 1.5}, "bad", 99)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"'badth' returned threshold 1.5 for 'kick'"):
        Postprocessor(Config(), CLASSES, plugins=["badth"]).run(peaks_activation())


def test_disable_plugin_and_missing_picker():
    pp = Postprocessor(Config(), CLASSES, disable=["peak_picking"])
    with pytest.raises(PluginError, match="no plugin picked onsets"):
        pp.run(peaks_activation())


def test_class_groups_and_disabled_classes():
    cfg = config_from_dict({"postprocessing": {
        "class_groups": {"hihat": ["hihat_closed", "hihat_pedal"]},
        "disabled_classes": ["ride_bell"], "class_thresholds": {"hihat": 0.3}}})
    act = peaks_activation()
    res = Postprocessor(cfg, CLASSES).run(act)
    assert "hihat" in res.activations.classes
    assert "hihat_closed" not in res.activations.classes and "ride_bell" not in res.activations.classes
    col = res.activations.column("hihat")
    expect = np.maximum(act.column("hihat_closed"), act.column("hihat_pedal"))
    np.testing.assert_array_equal(col, expect)
    assert res.thresholds["hihat"] == 0.3
    assert {o.drum for o in res.onsets} <= set(res.activations.classes)


def test_works_for_other_class_lists():
    eleven = CLASSES[:11]
    act = peaks_activation(classes=eleven)
    res = Postprocessor(Config(), eleven).run(act)
    assert set(res.thresholds) == set(eleven)
    custom = ["kick", "snare", "cowbell"]
    res = Postprocessor(Config(), custom).run(peaks_activation(classes=custom))
    assert {o.drum for o in res.onsets} <= set(custom)


@pytest.mark.parametrize("text, match", [
    ("postprocessing: {onset_threshold: 1.5}", r"onset_threshold = 1.5 is outside \[0, 1\]"),
    ("postprocessing: {class_thresholds: {kick: high}}", r"class_thresholds.kick must be a number"),
    ("postprocesing: {}", r"unknown section\(s\) postprocesing"),
    ("postprocessing: {min_gap: 3}", r"unknown key\(s\) postprocessing.min_gap"),
    ("export: {note_map: {kick: 300}}", r"note_map.kick = 300 must be a MIDI note"),
    ("!!python/object/apply:os.system ['echo hi']", r"invalid YAML"),
    ("postprocessing: [1, 2", r"invalid YAML"),
    ("- just\n- a list", r"must be a mapping"),
])
def test_config_validation_errors(tmp_path, text, match):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match) as ei:
        load_config(p)
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)


def test_config_unknown_class_is_named():
    cfg = config_from_dict({"postprocessing": {"class_thresholds": {"cowbell": 0.3}}})
    with pytest.raises(ConfigError, match="unknown class 'cowbell'"):
        Postprocessor(cfg, CLASSES)


def test_config_relative_calibration_path(tmp_path):
    (tmp_path / "c.yaml").write_text("postprocessing: {calibration_file: cal.yaml}\n")
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.postprocessing.calibration_file == str(tmp_path / "cal.yaml")


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.update(classes=d["classes"][:-1]), r"thresholds for classes the file does not list: crash"),
    (lambda d: d["thresholds"].update(kick=1.2), r"threshold of kick = 1.2 must be a finite number in \[0.0, 1.0\]"),
    (lambda d: d["thresholds"].pop("snare_head"), r"no threshold for snare_head"),
    (lambda d: d.update(format_version=99), r"format version 99 is not supported"),
    (lambda d: d.pop("drumscribe_calibration"), r"not a drumscribe calibration file"),
])
def test_calibration_file_validation(tmp_path, mutate, match):
    import yaml
    cal = CalibrationFile(CLASSES, {c: 0.4 for c in CLASSES}, model_fingerprint="ab" * 32)
    d = cal.to_dict()
    mutate(d)
    p = tmp_path / "cal.yaml"
    p.write_text(yaml.safe_dump(d))
    cfg = config_from_dict({"postprocessing": {"calibration_file": str(p)}})
    with pytest.raises(CalibrationFileError, match=match):
        Postprocessor(cfg, CLASSES)


def test_calibration_file_refused_for_other_model(tmp_path):
    p = tmp_path / "cal.yaml"
    write_calibration(p, CalibrationFile(CLASSES, {c: 0.4 for c in CLASSES}, model_fingerprint="ab" * 32))
    cfg = config_from_dict({"postprocessing": {"calibration_file": str(p)}})
    with pytest.raises(CalibrationFileError, match="fitted for another model.*--force"):
        Postprocessor(cfg, CLASSES, model_fingerprint="cd" * 32)
    th, _ = Postprocessor(cfg, CLASSES, model_fingerprint="cd" * 32, force=True).thresholds(peaks_activation())
    assert th["kick"] == 0.4
    with pytest.raises(CalibrationFileError, match="classes do not match the model.*missing cowbell"):
        Postprocessor(cfg, CLASSES[:-1] + ["cowbell"])
