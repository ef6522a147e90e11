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


def test_percussive_split_keeps_hits_and_damps_sustained_tones():
    """A held 1 kHz tone under clicks: the split keeps the clicks and leaves about
    ``floor`` of the tone; floor 1 is the input unchanged."""
    t = np.arange(2 * SR) / SR
    tone = 0.3 * np.sin(2 * np.pi * 1000 * t)
    clicks = np.zeros_like(t)
    at = np.arange(SR // 4, 2 * SR - SR // 4, SR // 4)
    clicks[at] = 1.0
    x = tone + clicks
    for floor in (0.0, 0.3):
        y = AudioTransform(percussive_floor=floor)(x, SR)
        assert y.shape == x.shape and y.dtype == np.float32
        # the tone, measured between the clicks
        gaps = np.concatenate([y[a + 2000:a + SR // 4 - 2000] for a in at[:-1]])
        ref = np.concatenate([tone[a + 2000:a + SR // 4 - 2000] for a in at[:-1]])
        assert _rms(gaps) == pytest.approx(max(floor, 0.0) * _rms(ref), abs=0.05 * _rms(ref))
        # each click survives: its sample stays the largest of its neighbourhood
        for a in at:
            assert np.argmax(np.abs(y[a - 200:a + 200])) == pytest.approx(200, abs=2)
            assert abs(y[a]) > 0.5
    assert np.allclose(AudioTransform(percussive_floor=1.0)(x, SR), x, atol=1e-6)
    tr = AudioTransform(lowpass_hz=10000, percussive_floor=0.3)
    assert not tr.identity and tr.key == "perc0.3_lp10000"
    with pytest.raises(ValueError, match="floor"):
        AudioTransform(percussive_floor=1.5)(x, SR)


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
