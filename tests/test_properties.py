"""Property-based tests: the postprocessing stage on arbitrary activations, and
round trips of the three file formats drumscribe writes and reads back
(predictions ``.npz``, calibration YAML, annotation ``.tsv``)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from drumscribe.calibration.calfile import CalibrationFile, read_calibration, write_calibration
from drumscribe.transcribe.activations import Activations, load_activations, save_activations
from drumscribe.transcribe.annotations import read_annotations, write_text_annotations
from drumscribe.transcribe.config import config_from_dict
from drumscribe.transcribe.pipeline import Postprocessor
from drumscribe.transcribe.vocabulary import CLASS_NAMES

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

class_lists = st.lists(st.sampled_from(CLASS_NAMES), min_size=1, max_size=5, unique=True)
unit = st.one_of(st.floats(0, 1, width=32), st.sampled_from([0.0, 0.5, 1.0]))
fps_values = st.sampled_from([50.0, 100.0, 86.1328125, 200.0])


@st.composite
def activations(draw, min_frames=0, max_frames=400):
    classes = draw(class_lists)
    n = draw(st.integers(min_frames, max_frames))
    values = draw(arrays(np.float32, (n, len(classes)), elements=unit))
    return Activations(values, draw(fps_values), classes)


@st.composite
def threshold_maps(draw, classes):
    return {c: draw(st.floats(0, 1)) for c in classes}


@SETTINGS
@given(act=activations(), data=st.data(), gap=st.floats(0, 200),
       glob=st.floats(0, 1), bump=st.floats(0, 1))
def test_postprocessor_on_arbitrary_activations(act, data, gap, glob, bump):
    """Never crashes; onsets sorted, inside the song, one min gap apart per class;
    raising thresholds never adds an onset."""
    per = data.draw(threshold_maps(act.classes))
    cfg = config_from_dict({"postprocessing": {"onset_threshold": glob, "min_gap_ms": gap,
                                               "class_thresholds": per}})
    pp = Postprocessor(cfg, act.classes)
    res = pp.run(act)
    assert res.thresholds == {c: per[c] for c in act.classes}
    times = [o.time for o in res.onsets]
    assert times == sorted(times)
    for o in res.onsets:
        assert 0.0 <= o.time < act.duration
        assert o.drum in act.classes
        assert 1 <= o.velocity <= 127
        # the picker compares in the activations' float32
        assert o.strength >= np.float32(res.thresholds[o.drum])
    for c in act.classes:
        tc = np.array([o.time for o in res.onsets if o.drum == c])
        if tc.size > 1:
            assert np.all(np.diff(tc) >= gap / 1000.0 - 1e-9)
            assert np.all(np.diff(tc) > 0)

    higher = {c: min(1.0, per[c] + bump * data.draw(st.floats(0, 1))) for c in act.classes}
    res_hi = pp.run(act, thresholds=higher)
    assert set(res_hi.onsets) <= set(res.onsets)


@SETTINGS
@given(act=activations(min_frames=1, max_frames=50), seed=st.integers(0, 10))
def test_postprocessor_is_deterministic(act, seed):
    cfg = config_from_dict({"postprocessing": {"onset_threshold": 0.3}})
    a = Postprocessor(cfg, act.classes).run(act).onsets
    b = Postprocessor(cfg, act.classes).run(act.replace(act.values.copy())).onsets
    assert a == b


@SETTINGS
@given(act=activations(min_frames=1), fingerprint=st.text("0123456789abcdef", max_size=64),
       source=st.text(max_size=40).filter(lambda s: "\x00" not in s))
def test_activations_npz_round_trip(tmp_path_factory, act, fingerprint, source):
    act = Activations(act.values, act.fps, act.classes, fingerprint, source)
    path = tmp_path_factory.mktemp("npz") / "a.npz"
    save_activations(path, act)
    back = load_activations(path)
    np.testing.assert_array_equal(back.values, act.values)
    assert back.values.dtype == np.float32
    assert back.fps == act.fps and back.classes == act.classes
    assert back.model_fingerprint == fingerprint and back.source == source
    assert not list(path.parent.glob("*.part"))


names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


@st.composite
def calibrations(draw):
    classes = draw(st.lists(st.one_of(st.sampled_from(CLASS_NAMES), names), min_size=1,
                            max_size=8, unique=True))
    groups = {}
    if len(classes) >= 2 and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(classes), min_size=1, max_size=3, unique=True))
        gname = draw(names.filter(lambda n: n not in classes))
        groups[gname] = members
    keys = list(classes) + list(groups)
    th = {k: round(draw(st.floats(0, 1)), 6) for k in keys}
    per_class = {c: {"support": draw(st.integers(0, 10**6)),
                     "roc_auc": draw(st.one_of(st.none(), st.floats(0, 1))),
                     "note": draw(st.text(max_size=30))}
                 for c in draw(st.lists(st.sampled_from(classes), max_size=3, unique=True))}
    return CalibrationFile(
        classes=classes, thresholds=th,
        model_fingerprint=draw(st.text("0123456789abcdef", max_size=64)),
        objective=draw(st.sampled_from(["f1", "fbeta:0.5", "recall@precision=0.9", "game"])),
        level=draw(st.sampled_from(["event", "frame"])),
        window_ms=draw(st.floats(0.5, 200).map(lambda v: round(v, 3))),
        fallback_threshold=round(draw(st.floats(0, 1)), 6),
        groups=groups, per_class=per_class)


@SETTINGS
@given(cal=calibrations())
def test_calibration_file_round_trip(tmp_path_factory, cal):
    path = tmp_path_factory.mktemp("cal") / "cal.yaml"
    write_calibration(path, cal)
    back = read_calibration(path, classes=cal.classes, fingerprint=cal.model_fingerprint or None)
    assert back.classes == cal.classes and back.groups == cal.groups
    assert back.thresholds == cal.thresholds
    assert back.model_fingerprint == cal.model_fingerprint
    assert (back.objective, back.level) == (cal.objective, cal.level)
    assert math.isclose(back.window_ms, cal.window_ms, abs_tol=1e-6)
    assert back.fallback_threshold == cal.fallback_threshold
    for c, d in cal.per_class.items():
        assert back.per_class[c]["support"] == d["support"]
        assert back.per_class[c]["note"] == d["note"]
        if d["roc_auc"] is None:
            assert back.per_class[c]["roc_auc"] is None
        else:
            assert abs(back.per_class[c]["roc_auc"] - d["roc_auc"]) <= 1e-6


onset_rows = st.lists(st.tuples(st.floats(0, 20000, allow_nan=False), st.sampled_from(CLASS_NAMES),
                                st.integers(1, 127)), max_size=60)


@SETTINGS
@given(rows=onset_rows, ext=st.sampled_from([".tsv", ".txt"]))
def test_annotation_tsv_round_trip(tmp_path_factory, rows, ext):
    path = tmp_path_factory.mktemp("ann") / f"a{ext}"
    write_text_annotations(path, rows)
    ann = read_annotations(path)
    for c in CLASS_NAMES:
        want = sorted((round(t, 6), v) for t, name, v in rows if name == c)
        got_t, got_v = ann.times(c), ann.velocities.get(c, np.zeros(0, int))
        assert len(got_t) == len(want)
        if want:
            np.testing.assert_allclose(got_t, [t for t, _ in want], atol=1e-6)
            assert np.all(np.diff(got_t) >= 0)
            # equal times may swap velocities: compare the multiset per time
            assert sorted(zip(np.round(got_t, 6), got_v.tolist())) == want
