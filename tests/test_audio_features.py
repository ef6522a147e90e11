"""Audio input, features and chunked inference."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch

from drumscribe.transcribe.audio import audio_info, load_audio, stream_audio
from drumscribe.transcribe.errors import AudioError, CheckpointError
from drumscribe.transcribe.features import FeatureExtractor, FeatureSettings
from drumscribe.transcribe.inference import Transcriber
from drumscribe.transcribe.model import ArchSettings, build_model, load_checkpoint, save_checkpoint
from drumscribe.transcribe.vocabulary import CLASS_NAMES

SR = 44100


def clicks(sr, seconds=3.0, times=(0.5, 1.25, 2.0), channels=1):
    """Short noise bursts at known times."""
    n = int(seconds * sr)
    x = np.zeros((n, channels), np.float32)
    rng = np.random.default_rng(0)
    for t in times:
        i = int(t * sr)
        m = int(0.03 * sr)
        burst = rng.standard_normal(m).astype(np.float32) * np.exp(-np.arange(m) / (0.005 * sr))
        x[i:i + m] += 0.5 * burst[:, None]
    return x


def first_onsets(y, sr, thr=0.05):
    """Times where the signal first exceeds thr after at least 0.2 s of quiet."""
    idx = np.flatnonzero(np.abs(y) > thr)
    out, last = [], -10 * sr
    for i in idx:
        if i - last > 0.2 * sr:
            out.append(i / sr)
        last = i
    return np.array(out)


@pytest.mark.parametrize("fmt, subtype, ext", [
    ("WAV", "PCM_16", "wav"), ("WAV", "FLOAT", "wav"), ("FLAC", "PCM_24", "flac"),
    ("OGG", "VORBIS", "ogg"), ("MP3", "MPEG_LAYER_III", "mp3")])
@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000, 96000])
def test_formats_and_rates_read_at_model_rate(tmp_path, fmt, subtype, ext, sr):
    if fmt == "MP3" and sr not in (8000, 22050, 44100, 48000):
        pytest.skip("MP3 has no 96 kHz")
    x = clicks(sr, channels=2)
    p = tmp_path / f"s.{ext}"
    sf.write(p, x, sr, format=fmt, subtype=subtype)
    y = load_audio(p, SR)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / SR - audio_info(p).duration) < 0.06  # codecs may pad a frame
    on = first_onsets(y, SR)
    # MP3 and Vorbis encoders delay the signal by a few ms at most
    np.testing.assert_allclose(on[:3], [0.5, 1.25, 2.0], atol=0.006 if fmt in ("WAV", "FLAC") else 0.06)


def test_stereo_is_mixed_to_mono(tmp_path):
    x = np.zeros((SR, 2), np.float32)
    x[:, 0] = 0.5
    x[:, 1] = -0.1
    sf.write(tmp_path / "st.wav", x, SR, subtype="FLOAT")
    y = load_audio(tmp_path / "st.wav", SR)
    np.testing.assert_allclose(y, 0.2, atol=1e-6)


def test_streamed_features_equal_whole_array():
    fe = FeatureExtractor()
    x = np.random.default_rng(1).standard_normal(SR * 7 + 123).astype(np.float32) * 0.1
    whole = fe.compute(x)
    blocks = [x[i:i + 9999] for i in range(0, x.size, 9999)]
    streamed = torch.cat(list(fe.stream(blocks, frames_per_chunk=173)))
    assert whole.shape == (fe.n_frames(x.size), fe.settings.n_mels)
    torch.testing.assert_close(whole, streamed, rtol=1e-4, atol=1e-4)


def test_mel_frames_are_the_stft_magnitude_through_the_filterbank():
    # the definition: |STFT| (Hann window, no centring) times the mel
    # filterbank; the extractor's faster magnitude must give the same numbers, bit for bit
    fe = FeatureExtractor()
    s = fe.settings
    x = np.random.default_rng(3).standard_normal(s.n_fft + 50 * s.hop).astype(np.float32) * 0.3
    spec = torch.stft(torch.from_numpy(x), n_fft=s.n_fft, hop_length=s.hop, window=torch.hann_window(s.n_fft),
                      center=False, return_complex=True)
    assert torch.equal(fe._frames(x), spec.abs().T @ fe.fb)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    arch = ArchSettings(conv2d_channels=(2,), conv1d_channels=(16,), rnn_hidden=8, rnn_layers=1)
    m = build_model(CLASS_NAMES, FeatureSettings(), arch)
    p = tmp_path_factory.mktemp("ck") / "tiny.pt"
    save_checkpoint(p, m, CLASS_NAMES, FeatureSettings())
    return p


def test_chunked_inference_matches_window_layout(tiny_ckpt):
    """Results do not depend on block size or batch size (deterministic)."""
    x = np.random.default_rng(2).standard_normal(SR * 25).astype(np.float32) * 0.1
    a = Transcriber(tiny_ckpt, core_frames=1000, context_frames=100, batch_size=8).activations_from_samples(x)
    b = Transcriber(tiny_ckpt, core_frames=1000, context_frames=100, batch_size=1).activations_from_samples(x)
    assert a.values.shape == (FeatureExtractor().n_frames(x.size), len(CLASS_NAMES))
    np.testing.assert_allclose(a.values, b.values, atol=1e-5)
    c = Transcriber(tiny_ckpt).activations_from_samples(x)
    np.testing.assert_array_equal(a.values, c.values)


def test_checkpoint_round_trip_and_class_mismatch(tiny_ckpt, tmp_path):
    ck = load_checkpoint(tiny_ckpt)
    assert ck.classes == list(CLASS_NAMES) and ck.features == FeatureSettings()
    p2 = tmp_path / "again.pt"
    save_checkpoint(p2, ck.model, ck.classes, ck.features)
    ck2 = load_checkpoint(p2)
    for (k, v), (k2, v2) in zip(ck.model.state_dict().items(), ck2.model.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    with pytest.raises(CheckpointError, match="differ from the expected"):
        load_checkpoint(tiny_ckpt, expect_classes=list(CLASS_NAMES)[:11])


def test_eleven_class_checkpoint_runs(tmp_path):
    classes = list(CLASS_NAMES)[:11]
    m = build_model(classes, FeatureSettings(), ArchSettings(conv1d_channels=(8,), rnn_hidden=4, rnn_layers=1))
    save_checkpoint(tmp_path / "m11.pt", m, classes, FeatureSettings())
    act = Transcriber(tmp_path / "m11.pt").activations_from_samples(np.zeros(SR, np.float32))
    assert act.classes == classes and act.values.shape[1] == 11


def test_pickle_payload_checkpoint_is_refused(tmp_path):
    p = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"format": "drumscribe-checkpoint", "x": Evil()}, p)
    with pytest.raises(CheckpointError, match=r"refused: the checkpoint holds Python objects"):
        load_checkpoint(p)
    assert not marker.exists()


@pytest.mark.parametrize("content, match", [
    (b"", "file is empty"), (b"hello, I am text\n" * 10, "not a readable audio file")])
def test_bad_audio_errors(tmp_path, content, match):
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(AudioError, match=match) as ei:
        list(stream_audio(p, SR))
    assert str(p) in str(ei.value)


@pytest.mark.parametrize("minutes", [5, pytest.param(60, marks=pytest.mark.slow)])
def test_long_file_in_bounded_memory(tmp_path, tiny_ckpt, minutes):
    """Long audio streams through features and the model in bounded memory.

    Reading an hour whole at 44.1 kHz would take 635 MB for the samples alone
    (plus the STFT); the streamed path must stay far below that. The hour runs
    with ``--runslow``; the default run streams five minutes under a bound
    (150 MB) that reading the file whole into the STFT would already break.
    """
    p = tmp_path / "long.wav"
    sr = 8000
    with sf.SoundFile(p, "w", sr, 1, subtype="PCM_16") as f:
        block = (0.1 * np.sin(np.arange(sr * 60) * 0.05)).astype(np.float32)
        for _ in range(minutes):
            f.write(block)
    code = textwrap.dedent(f"""
        import resource, numpy as np
        from drumscribe.transcribe.inference import Transcriber
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        act = Transcriber({str(tiny_ckpt)!r}, core_frames=2000, batch_size=4).activations_from_file({str(p)!r})
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(act.values.shape[0], base // 1024, peak // 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    frames, base_mb, peak_mb = map(int, out.stdout.split())
    assert frames == minutes * 60 * 100 + 1
    assert peak_mb - base_mb < (300 if minutes >= 60 else 150), (base_mb, peak_mb)
