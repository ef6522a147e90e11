"""One onset stage for transcribe and calibrate, called through pluggy's own machinery."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drumscribe.calibration.calfile import read_calibration
from drumscribe.calibration.cli import main as calibrate
from drumscribe.calibration.sweep import Item, confusion, onsets_by_class, sweep
from drumscribe.calibration.metrics import count_matches
from drumscribe.transcribe import hookspecs, types as ds_types
from drumscribe.transcribe.activations import Activations, load_activations
from drumscribe.transcribe.annotations import read_annotations, write_text_annotations
from drumscribe.transcribe.config import Config, config_from_dict
from drumscribe.transcribe.errors import CalibrationFileError, PluginError
from drumscribe.transcribe.hookspecs import hookimpl
from drumscribe.transcribe.pipeline import Postprocessor
from drumscribe.transcribe.vocabulary import CLASS_NAMES

from test_calibration_cli import FP, make_set

CLASSES = list(CLASS_NAMES)

DROP_HIHAT = '''
from drumscribe.transcribe.hookspecs import hookimpl

@hookimpl
def drumscribe_filter_onsets(onsets):
    return [o for o in onsets if o.drum != "hihat_closed"]
'''


@pytest.fixture(scope="module")
def valset(tmp_path_factory):
    return make_set(tmp_path_factory.mktemp("stage_val"), n_files=3)


def _items(folder):
    return [Item(str(p), (lambda p=p: load_activations(p)), p.with_suffix(".tsv"))
            for p in sorted(folder.glob("*.npz"))]


def test_types_moved_and_reexported():
    for name in ("Onset", "ThresholdLayer", "Context", "Candidates", "PRIORITY_CALIBRATION"):
        assert getattr(hookspecs, name) is getattr(ds_types, name)
    assert "class Onset" not in open(hookspecs.__file__).read()


def test_filter_plugin_calibrate_and_transcribe_agree(valset, tmp_path):
    """calibrate counts exactly the onsets transcribe writes, filters included."""
    plug = tmp_path / "drop_hihat.py"
    plug.write_text(DROP_HIHAT)
    out = tmp_path / "cal.yaml"
    assert calibrate(["--predictions", str(valset), "-o", str(out), "-q", "--plugin", str(plug),
                      "--min-support", "10"]) == 0
    cal = read_calibration(out)
    assert cal.onset_plugins == ["class_groups", "peak_picking", str(plug)]
    # what calibrate measured for hi-hats: nothing detected
    assert cal.per_class["hihat_closed"]["at_threshold"]["recall"] == 0.0
    # what transcribe writes with the same plugins and the calibration: no hi-hat either,
    # and for every class the counts calibrate reported
    cfg = config_from_dict({"postprocessing": {"calibration_file": str(out)}})
    pp = Postprocessor(cfg, CLASSES, FP, plugins=[str(plug)])
    tp = {c: 0 for c in CLASSES}
    n_est = {c: 0 for c in CLASSES}
    n_ref = {c: 0 for c in CLASSES}
    for it in _items(valset):
        res = pp.run(it.load())
        est = onsets_by_class(res.onsets, CLASSES)
        ann = read_annotations(it.annotation)
        for c in CLASSES:
            r = np.sort(ann.times(c))
            tp[c] += count_matches(r, est[c], 0.05) if r.size and est[c].size else 0
            n_est[c] += est[c].size
            n_ref[c] += r.size
    assert n_est["hihat_closed"] == 0
    for c in ("kick", "snare_head", "hihat_closed", "hihat_pedal"):
        m = cal.per_class[c]["at_threshold"]
        assert tp[c] / n_ref[c] == pytest.approx(m["recall"], abs=1e-6), c
        if n_est[c]:
            assert tp[c] / n_est[c] == pytest.approx(m["precision"], abs=1e-6), c
    # the confusion analysis sees the same onsets
    classes, misses, _ = confusion(_items(valset), pp, cal.thresholds)
    assert misses[classes.index("hihat_closed")] == n_ref["hihat_closed"]


def test_calibration_refuses_another_onset_setup_by_name(valset, tmp_path):
    plug = tmp_path / "drop_hihat.py"
    plug.write_text(DROP_HIHAT)
    out = tmp_path / "cal.yaml"
    assert calibrate(["--predictions", str(valset), "-o", str(out), "-q", "--plugin", str(plug),
                      "--min-support", "10", "--transfer", "no"]) == 0
    cfg = config_from_dict({"postprocessing": {"calibration_file": str(out)}})
    with pytest.raises(CalibrationFileError, match=r"onset plugin\(s\) drop_hihat shaped the fitted "
                                                   r"onsets but are not loaded.*--force"):
        Postprocessor(cfg, CLASSES, FP)
    warned = []
    Postprocessor(cfg, CLASSES, FP, force=True, warn=warned.append)
    assert len(warned) == 1 and "drop_hihat" in warned[0] and "--force" in warned[0]
    # class groups and disabled classes too
    grouped = config_from_dict({"postprocessing": {
        "calibration_file": str(out), "class_groups": {"hihat": ["hihat_closed", "hihat_pedal"]},
        "disabled_classes": ["crash"]}})
    with pytest.raises(CalibrationFileError, match=r"class group hihat .* is configured but was not "
                                                   r"used for fitting; class\(es\) crash are disabled"):
        Postprocessor(grouped, CLASSES, FP, plugins=[str(plug)])


class WrapperPlugin:
    """A timing-style wrapper, an old-style hookwrapper and a tryfirst filter."""

    def __init__(self):
        self.calls = []

    @hookimpl(wrapper=True)
    def drumscribe_pick_onsets(self, activations):
        self.calls.append("wrap-before")
        result = yield
        self.calls.append(f"wrap-after {len(result)}")
        return result[:1]  # a wrapper may change the answer

    @hookimpl(hookwrapper=True)
    def drumscribe_transform_activations(self):
        self.calls.append("old-style")
        yield


def test_wrapper_hookimpls_run_and_monitoring_sees_every_call(valset):
    plugin = WrapperPlugin()
    pp = Postprocessor(Config(), CLASSES, FP, plugins=[plugin])
    seen = []
    pp.pm.add_hookcall_monitoring(lambda name, impls, kw: seen.append(name),
                                  lambda outcome, name, impls, kw: None)
    res = pp.run(_items(valset)[0].load())
    assert plugin.calls[0] == "old-style" and "wrap-before" in plugin.calls
    assert any(c.startswith("wrap-after ") and int(c.split()[1]) > 1 for c in plugin.calls)
    assert len(res.onsets) == 1 and res.picker == "peak_picking"
    assert {"drumscribe_transform_activations", "drumscribe_thresholds",
            "drumscribe_pick_onsets", "drumscribe_filter_onsets"} <= set(seen)
    # a wrapper around picking may change the answer: the sweep must not use the candidates
    assert not pp.exact_candidates_possible()
    assert "grid" in sweep(_items(valset)[:1], pp, grid=[0.3, 0.6]).picker


def test_firstresult_tryfirst_and_errors_name_plugin_and_hook():
    act = Activations(np.zeros((50, len(CLASSES)), np.float32), 100.0, CLASSES)

    class First:
        @hookimpl(tryfirst=True)
        def drumscribe_pick_onsets(self):
            return None  # pass: the next picker answers

    class Broken:
        @hookimpl
        def drumscribe_onset_candidates(self):
            raise ValueError("nope")

    pp = Postprocessor(Config(), CLASSES, plugins=[First()])
    assert pp.run(act).picker == "peak_picking"
    pp = Postprocessor(Config(), CLASSES, plugins=[Broken()])
    with pytest.raises(PluginError, match=r"raised in drumscribe_onset_candidates: ValueError: nope"):
        pp.pm.hook.drumscribe_onset_candidates(activations=act, context=pp.context)


def test_builtin_candidates_and_when_the_exact_sweep_is_allowed(tmp_path):
    pp = Postprocessor(Config(), CLASSES)
    assert pp.exact_candidates_possible()
    x = np.zeros((60, len(CLASSES)), np.float32)
    x[[10, 30], 0] = [0.4, 0.9]
    act = Activations(x, 100.0, CLASSES)
    cand = pp.candidates(act)
    assert isinstance(cand, ds_types.Candidates)
    assert cand.frames["kick"][cand.heights["kick"] > 0].tolist() == [10, 30]
    assert cand.above("kick", 0.5)[0].tolist() == [0.3]
    plug = tmp_path / "drop_hihat.py"
    plug.write_text(DROP_HIHAT)
    filtered = Postprocessor(Config(), CLASSES, plugins=[str(plug)])
    assert not filtered.exact_candidates_possible() and filtered.candidates(act) is None


def _random_set(seed, n_files, fps=100.0):
    rng = np.random.default_rng(seed)
    items = []
    for k in range(n_files):
        n = int(rng.integers(50, 400))
        v = (rng.random((n, len(CLASSES))) ** 3).astype(np.float32)
        v[rng.random(v.shape) < 0.3] = 0.0
        refs = {c: np.sort(rng.uniform(0, n / fps, size=int(rng.integers(0, 12)))) for c in CLASSES[:4]}
        act = Activations(v, fps, CLASSES, FP)
        items.append((act, refs))
    return items


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_files=st.integers(1, 3),
       group_cfg=st.booleans())
def test_sweep_equals_whole_stage_at_every_threshold(tmp_path_factory, seed, n_files, group_cfg):
    """With only built-ins, the one-pass sweep's counts equal running the stage at each threshold."""
    folder = tmp_path_factory.mktemp("prop")
    data = _random_set(seed, n_files)
    items = []
    for k, (act, refs) in enumerate(data):
        rows = [(float(t), c, 100) for c, ts in refs.items() for t in ts]
        ann = folder / f"f{k}.tsv"
        write_text_annotations(ann, rows)
        items.append(Item(f"f{k}", (lambda a=act: a), ann, group=f"g{k % 2}"))
    cfg = config_from_dict({"postprocessing": {"class_groups": {"hihat": ["hihat_closed", "hihat_pedal"]}}}
                           if group_cfg else {})
    pp = Postprocessor(cfg, CLASSES, FP)
    res = sweep(items, pp, bins=1024)
    assert "exact" in res.picker
    curves = res.curves()
    rng = np.random.default_rng(seed)
    ks = np.unique(np.r_[0, 1023, 512, rng.integers(0, 1024, size=12)])
    for k in ks:
        t = k / 1024
        tp = {c: 0 for c in res.classes}
        fp = {c: 0 for c in res.classes}
        for it in items:
            out = pp.run(it.load(), thresholds={c: t for c in res.classes})
            est = onsets_by_class(out.onsets, res.classes)
            ref = read_annotations(it.annotation).restricted(res.classes, cfg.postprocessing.class_groups)
            for c in res.classes:
                r = np.sort(ref.times(c))
                m = count_matches(r, est[c], 0.05) if r.size and est[c].size else 0
                tp[c] += m
                fp[c] += est[c].size - m
        for c in res.classes:
            cv = curves[c]
            i = cv.index_at(t)
            assert (cv.tp[i], cv.fp[i]) == (tp[c], fp[c]), (c, t)
            j = res.classes.index(c)
            gk = int(np.searchsorted(res.by_group.thresholds, t - 1e-12))
            assert res.by_group.tp[:, j, gk].sum() == tp[c] and res.by_group.fp[:, j, gk].sum() == fp[c]
