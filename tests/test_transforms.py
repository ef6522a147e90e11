"""drumscribe.calibration.transforms and the transform-aware prediction cache."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from drumscribe.calibration.data import PredictionCache
from drumscribe.calibration.transforms import AudioTransform

SR = 44100


def _rms(x):
    return float(np.sqrt(np.mean(x[SR // 10:-SR // 10] ** 2)))


def test_lowpass_and_gain():
    t = np.arange(SR) / SR
    low, high = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 15000 * t)
    lp = AudioTransform(lowpass_hz=10000)
    assert _rms(lp(low, SR)) == pytest.approx(_rms(low), rel=1e-3)
    assert _rms(lp(high, SR)) < 1e-3 * _rms(high)  # steep: > 60 dB down half an octave above
    assert np.allclose(AudioTransform(gain_db=20)(low, SR), 10 * low, atol=1e-5)
    assert np.allclose(AudioTransform(gain_db=-20)(low, SR), 0.1 * low, atol=1e-6)
    assert AudioTransform().identity and AudioTransform().key == ""
    assert AudioTransform(10000, 20).key == "lp10000_g+20"
    with pytest.raises(ValueError):
        AudioTransform(lowpass_hz=30000)(low, SR)


class _FakeTranscriber:
    def __init__(self):
        self.checkpoint = SimpleNamespace(fingerprint="f" * 64, features=SimpleNamespace(sample_rate=SR))
        self.seen = []

    def activations_from_file(self, path):
        raise AssertionError("a transform must make the cache decode and transform the samples")

    def activations_from_samples(self, samples, source=""):
        from drumscribe.transcribe.activations import Activations

        self.seen.append(float(np.max(np.abs(samples))))
        return Activations(np.zeros((3, 1), np.float32), 100.0, ["kick"], self.checkpoint.fingerprint, source)


def test_cache_key_and_hook(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(str(wav), 0.5 * np.sin(np.arange(SR) / 10.0), SR, subtype="FLOAT")
    tr = _FakeTranscriber()
    plain = PredictionCache(tr, tmp_path / "cache")
    loud = PredictionCache(tr, tmp_path / "cache", AudioTransform(gain_db=6.0))
    lp = PredictionCache(tr, tmp_path / "cache", AudioTransform(lowpass_hz=8000))
    paths = {plain.path_for(wav), loud.path_for(wav), lp.path_for(wav)}
    assert len(paths) == 3
    assert PredictionCache(tr, tmp_path / "cache", AudioTransform()).path_for(wav) == plain.path_for(wav)
    loud.load(wav)
    assert tr.seen == [pytest.approx(0.5 * 10 ** (6 / 20), rel=1e-4)]
    loud.load(wav)  # second time from the cache
    assert loud.hits == 1 and loud.misses == 1 and len(tr.seen) == 1
