"""What a class is heard as: the output classes around a reference class's onsets."""

import numpy as np

from drumscribe.calibration.evaluate import heard_as, heard_as_table
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


def test_heard_as_counts_the_output_classes_near_each_reference_onset(tmp_path):
    rng = np.random.default_rng(3)
    toms = np.arange(1.0, 21.0, 1.0)  # 20 floor toms, one a second
    v = np.zeros((int(23 * FPS), len(CLASSES)), np.float32)
    j = {c: i for i, c in enumerate(CLASSES)}
    as_kick = rng.permutation(20)[:12]
    as_snare = rng.permutation(20)[:7]
    as_tom = rng.permutation(20)[:4]
    for k in as_kick:  # within the ±50 ms window
        _peak(v, j["kick"], toms[k] + rng.choice([-0.03, 0.0, 0.03]))
    for k in as_snare:
        _peak(v, j["snare_head"], toms[k])
    for k in as_tom:
        _peak(v, j["floor_tom"], toms[k] + 0.01)
    far = [k for k in range(20) if k not in as_kick][:3]
    for k in far:  # 120 ms away: not near this tom, nor the next one
        _peak(v, j["ride"], toms[k] + 0.12)
    _peak(v, j["kick"], 0.5)  # a kick with no tom near it changes nothing
    ann = tmp_path / "song.tsv"
    write_text_annotations(ann, [(float(t), "floor_tom", 100) for t in toms] + [(0.5, "kick", 100)])
    act = Activations(v, FPS, CLASSES, "ab" * 32, "song.wav")
    items = [Item("song", lambda: act, ann)]
    pp = Postprocessor(Config(), CLASSES, "ab" * 32)
    h = heard_as(items, ["floor_tom", "kick"], {c: 0.5 for c in CLASSES}, 0.05, pp)
    assert h.support == {"floor_tom": 20, "kick": 1}
    assert h.share("floor_tom", "kick") == 12 / 20
    assert h.share("floor_tom", "snare_head") == 7 / 20
    assert h.share("floor_tom", "floor_tom") == 4 / 20
    assert "ride" not in h.hits["floor_tom"]
    assert h.hits["kick"] == {"kick": 1}
    # a lower window would miss the kicks placed 30 ms off
    h20 = heard_as(items, ["floor_tom"], {c: 0.5 for c in CLASSES}, 0.02, pp)
    assert h20.share("floor_tom", "kick") < 12 / 20
    rows = heard_as_table(h, CLASSES)
    assert rows[2] == "| floor_tom | 20 | kick 60%, snare_head 35%, floor_tom 20% |"
    # at a higher threshold the weaker peaks vanish
    quiet = heard_as(items, ["floor_tom"], {c: 0.95 for c in CLASSES}, 0.05, pp)
    assert quiet.hits["floor_tom"] == {}
    assert heard_as_table(quiet, CLASSES)[2] == "| floor_tom | 20 | nothing |"
