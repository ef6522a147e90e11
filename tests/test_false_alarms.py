"""Where false alarms lie: duplicates, off-time hits, other classes' hits, nothing."""

import numpy as np
import pytest

from drumscribe.calibration.evaluate import evaluate, false_alarms, false_alarms_table
from drumscribe.calibration.sweep import Item
from drumscribe.transcribe.activations import Activations
from drumscribe.transcribe.annotations import write_text_annotations
from drumscribe.transcribe.config import Config
from drumscribe.transcribe.pipeline import Postprocessor
from drumscribe.transcribe.vocabulary import CLASS_NAMES

CLASSES = list(CLASS_NAMES)
FPS = 100.0


def _peak(v, j, t, height=0.9):
    f = int(round(t * FPS))
    v[f - 2:f + 3, j] = np.maximum(v[f - 2:f + 3, j], height * np.array([0.3, 0.7, 1.0, 0.7, 0.3]))


def _song(tmp_path):
    kicks = np.arange(1.0, 11.0)          # 10 kicks, one a second
    snares = kicks + 0.5                  # 10 snares between them
    hats = kicks[:3]                      # 3 hi-hats played with the first kicks
    v = np.zeros((int(16 * FPS), len(CLASSES)), np.float32)
    j = {c: i for i, c in enumerate(CLASSES)}
    for t in snares:
        _peak(v, j["snare_head"], t)      # every snare found
    for t in kicks[:4]:
        _peak(v, j["snare_head"], t)      # 4 kicks also heard as snares (3 of them with a hat)
    for t in snares[:2]:
        _peak(v, j["snare_head"], t + 0.11)  # 2 snares followed by a second, late onset
    for t in (12.2, 12.6, 13.0):
        _peak(v, j["snare_head"], t)      # 3 snares where nothing is played
    ann = tmp_path / "song.tsv"
    write_text_annotations(ann, [(float(t), "kick", 100) for t in kicks]
                           + [(float(t), "snare_head", 100) for t in snares]
                           + [(float(t), "hihat_closed", 100) for t in hats])
    act = Activations(v, FPS, CLASSES, "ab" * 32, "song.wav")
    return [Item("song", lambda: act, ann)]


def test_false_alarms_are_sorted_by_what_lies_under_them(tmp_path):
    items = _song(tmp_path)
    pp = Postprocessor(Config(), CLASSES, "ab" * 32)
    th = {c: 0.5 for c in CLASSES}
    fa = false_alarms(items, th, 0.05, pp)
    assert fa.detections["snare_head"] == 19
    assert fa.false["snare_head"] == 9
    assert fa.duplicate["snare_head"] == 0
    assert fa.off_time["snare_head"] == 2
    assert fa.on_other["snare_head"] == 4
    assert fa.on_nothing["snare_head"] == 3
    # one false alarm on a kick and a hat played together counts for both
    assert fa.on["snare_head"] == {"kick": 4, "hihat_closed": 3}
    # the false alarms are evaluate()'s false positives, class by class
    ev = evaluate(items, th, window=0.05, postprocessor=pp)
    assert {c: ev.classes[c].fp for c in CLASSES} == fa.false
    # with a 120 ms window the late onsets lie within it of a snare already matched:
    # duplicates, no longer off-time
    wide = false_alarms(items, th, 0.12, pp, near_s=0.2)
    assert wide.duplicate["snare_head"] == 2 and wide.off_time["snare_head"] == 0
    # and the misses of kick (no output at all) are no false alarms
    assert fa.detections["kick"] == 0 and fa.false["kick"] == 0
    rows = false_alarms_table(fa, CLASSES)
    assert rows[2] == "| snare_head | 19 | 9 | 0% | 22% | 44%: kick 44%, hihat_closed 33% | 33% |"
    assert len(rows) == 3  # classes without false alarms are left out


def test_near_must_exceed_the_window(tmp_path):
    pp = Postprocessor(Config(), CLASSES, "ab" * 32)
    with pytest.raises(ValueError, match="must exceed the window"):
        false_alarms(_song(tmp_path), {c: 0.5 for c in CLASSES}, 0.05, pp, near_s=0.05)
