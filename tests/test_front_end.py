"""The loudness-robust front end: features and onsets do not depend on the file's level."""

from pathlib import Path

import numpy as np
import pytest
import torch

from drumscribe.transcribe.audio import load_audio
from drumscribe.transcribe.features import LEVEL_FLOOR, FeatureExtractor, FeatureSettings

ROOT = Path(__file__).resolve().parent.parent
SONG = ROOT / "examples" / "example.mp3"


def song(seconds=30.0, seed=0):
    """Noise bed with decaying hits, a loud passage in the middle."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 44100)
    x = rng.standard_normal(n).astype(np.float32) * 0.01
    for t in rng.uniform(0, seconds - 0.2, 120):
        i = int(t * 44100)
        x[i:i + 4000] += (rng.standard_normal(4000) * np.exp(-np.arange(4000) / 500)).astype(np.float32) * 0.3
    x[n // 3: n // 2] *= 4
    return x


@pytest.mark.parametrize("gain_db", [-20.0, -6.0, 6.0, 20.0])
def test_features_do_not_depend_on_gain(gain_db):
    fe = FeatureExtractor(FeatureSettings(level_norm_s=3.0))
    x = song()
    a = fe.compute(x)
    b = fe.compute(x * np.float32(10 ** (gain_db / 20)))
    assert float((a - b).abs().max()) < 1e-3
    # the level-dependent front end is not invariant
    old = FeatureExtractor(FeatureSettings())
    assert float((old.compute(x) - old.compute(x * np.float32(10 ** (gain_db / 20)))).abs().max()) > 0.1


def test_level_normalised_stream_equals_whole_array_for_any_chunking():
    fe = FeatureExtractor(FeatureSettings(level_norm_s=3.0))
    x = song(12.0, seed=3)
    whole = fe.compute(x)
    for block, chunk in ((1000, 7), (44100, 64), (300_000, 3000)):
        parts = torch.cat(list(fe.stream([x[i:i + block] for i in range(0, len(x), block)],
                                         frames_per_chunk=chunk)))
        assert parts.shape == whole.shape
        assert float((parts - whole).abs().max()) < 1e-4


def test_level_follows_the_music_and_silence_has_a_floor():
    fe = FeatureExtractor(FeatureSettings(level_norm_s=3.0))
    x = song(30.0)
    x[-5 * 44100:] = 0  # digital silence at the end
    f = fe.compute(x).numpy()
    assert f.min() >= LEVEL_FLOOR - 1e-6
    assert np.allclose(f[-200:], LEVEL_FLOOR)
    # a passage 12 dB louder reads only a little higher once the level has followed it
    quiet, loud = f[500:900].mean(), f[1300:1450].mean()
    assert abs(loud - quiet) < 2.0


def test_old_checkpoints_keep_their_front_end():
    assert FeatureSettings.from_dict({k: v for k, v in FeatureSettings().to_dict().items()
                                      if k != "level_norm_s"}).level_norm_s == 0.0


def test_shipped_model_gain_changes_no_onset():
    """±20 dB of gain on the bundled song: every onset keeps its class and frame."""
    from drumscribe.transcribe.api import TranscriptionSession

    session = TranscriptionSession()
    if session.transcriber.checkpoint.features.level_norm_s <= 0:
        pytest.fail("the shipped model should use the loudness-robust front end (level_norm_s > 0)")
    x = load_audio(SONG, 44100)
    ref = None
    for gain_db in (0.0, -20.0, 20.0):
        act = session.transcriber.activations_from_samples(x * np.float32(10 ** (gain_db / 20)))
        onsets = sorted((round(o.time, 3), o.drum) for o in session.postprocess(act).onsets)
        if ref is None:
            ref = onsets
            assert len(ref) > 50
        else:
            assert onsets == ref, gain_db
