"""The sustained-background feature channel and models that read it."""

import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter

from drumscribe.transcribe.errors import CheckpointError
from drumscribe.transcribe.features import LEVEL_FLOOR, FeatureExtractor, FeatureSettings, with_background
from drumscribe.transcribe.inference import Transcriber
from drumscribe.transcribe.model import ArchSettings, build_model, load_checkpoint, save_checkpoint
from drumscribe.transcribe.vocabulary import CLASS_NAMES
from drumscribe.training.train import grow_state

SR = 44100
TINY = ArchSettings(conv2d_channels=(4,), conv1d_channels=(16,), rnn_hidden=8, rnn_layers=1)


def chord_and_hits(seconds=8.0, seed=0):
    """A sustained two-note chord from 2 s on, and short noise hits throughout."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    x = rng.standard_normal(n).astype(np.float32) * 0.003  # a noise bed: no digital silence
    x[2 * SR:] += (0.3 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 330 * t)))[2 * SR:]
    hits = np.arange(0.25, seconds - 0.1, 0.5)
    for h in hits:
        i = int(h * SR)
        x[i:i + 2000] += (rng.standard_normal(2000) * np.exp(-np.arange(2000) / 200)).astype(np.float32)
    return x, hits


def test_background_is_the_centred_median_of_each_band():
    x, _ = chord_and_hits()
    raw = FeatureExtractor(FeatureSettings(level_norm_s=0))
    mel = np.expm1(raw.compute(x).numpy()) / 10.0  # back to linear magnitudes
    f = FeatureExtractor(FeatureSettings(level_norm_s=0, background_frames=21)).compute(x).numpy()
    assert f.shape == (mel.shape[0], 160)
    np.testing.assert_allclose(f[:, :80], np.log1p(10 * mel), atol=1e-4)
    np.testing.assert_allclose(f[:, 80:], np.log1p(10 * median_filter(mel, size=(21, 1), mode="nearest")),
                               atol=1e-4)


@pytest.mark.parametrize("block,chunk", [(997, 5), (44100, 64), (10 ** 6, 3000)])
def test_background_stream_equals_whole_array_for_any_chunking(block, chunk):
    fe = FeatureExtractor(FeatureSettings(level_norm_s=3.0, background_frames=21))
    x, _ = chord_and_hits(seed=2)
    whole = fe.compute(x)
    parts = torch.cat(list(fe.stream([x[i:i + block] for i in range(0, len(x), block)],
                                     frames_per_chunk=chunk)))
    assert parts.shape == whole.shape
    assert float((parts - whole).abs().max()) < 1e-4


def test_background_keeps_the_chord_and_drops_the_hits():
    fe = FeatureExtractor(FeatureSettings(level_norm_s=3.0, background_frames=21))
    x, hits = chord_and_hits()
    f = fe.compute(x).numpy()
    mel, bg = f[:, :80], f[:, 80:]
    fps = fe.settings.fps
    # before the chord, a hit stands out in the mel channel and not in the background
    early = [int(round(h * fps)) for h in hits if h < 1.9]
    quiet = [k + 20 for k in early]  # between hits
    assert (mel[early].mean() - mel[quiet].mean()) > 2.0
    assert abs(bg[early].mean() - bg[quiet].mean()) < 0.5
    # the chord's band stays up in the background a frame after it starts
    band = int(np.argmax(bg[int(4 * fps)]))
    assert bg[int(2.2 * fps):, band].min() > bg[:int(1.8 * fps), band].max() + 2.0


def test_background_needs_an_odd_width():
    with pytest.raises(ValueError, match="odd"):
        list(with_background([torch.ones(5, 3)], 4))


def test_background_does_not_depend_on_gain():
    fe = FeatureExtractor(FeatureSettings(level_norm_s=3.0, background_frames=21))
    x, _ = chord_and_hits()
    a, b = fe.compute(x), fe.compute(x * np.float32(10 ** (-20 / 20)))
    assert float((a - b).abs().max()) < 1e-3


def test_two_channel_checkpoint_round_trips_and_transcribes(tmp_path):
    feats = FeatureSettings(level_norm_s=3.0, background_frames=21)
    torch.manual_seed(0)
    m = build_model(CLASS_NAMES, feats, TINY)
    assert m.conv2d[0].weight.shape[1] == 2 and m.input_norm.num_features == 160
    save_checkpoint(tmp_path / "bg.pt", m, CLASS_NAMES, feats)
    ck = load_checkpoint(tmp_path / "bg.pt")
    assert ck.features == feats
    x, _ = chord_and_hits(3.0)
    act = Transcriber(ck, core_frames=1000, context_frames=100).activations_from_samples(x)
    f = FeatureExtractor(feats).compute(x)
    assert act.values.shape == (f.shape[0], len(CLASS_NAMES))
    # one window: 100 frames of zero context, the song, zeros to 1200 frames
    window = torch.cat([torch.zeros(100, 160), f, torch.zeros(1100 - f.shape[0], 160)])
    with torch.inference_mode():
        direct = torch.sigmoid(m.eval()(window[None]))[0, 100:100 + f.shape[0]].numpy()
    np.testing.assert_allclose(act.values, direct, atol=1e-5)


def test_even_background_width_in_a_checkpoint_is_refused(tmp_path):
    feats = FeatureSettings(background_frames=21)
    save_checkpoint(tmp_path / "bg.pt", build_model(CLASS_NAMES, feats, TINY), CLASS_NAMES, feats)
    d = torch.load(tmp_path / "bg.pt", weights_only=True)
    d["features"]["background_frames"] = 20
    torch.save(d, tmp_path / "even.pt")
    with pytest.raises(CheckpointError, match="background_frames = 20 must be 0 or odd"):
        load_checkpoint(tmp_path / "even.pt")


def test_grown_model_starts_as_the_one_channel_model():
    """A one-channel model's weights in a two-channel model: same outputs, whatever the background."""
    torch.manual_seed(1)
    one = build_model(CLASS_NAMES, FeatureSettings(level_norm_s=3.0), TINY).eval()
    two = build_model(CLASS_NAMES, FeatureSettings(level_norm_s=3.0, background_frames=21), TINY).eval()
    with torch.no_grad():  # a trained-looking input normalisation
        one.input_norm.running_mean.uniform_(-3, 0)
        one.input_norm.running_var.uniform_(0.5, 2)
    state = grow_state(one.state_dict(), two.state_dict())
    two.load_state_dict(state)  # every tensor found a place; input_norm's first 80 are the old ones
    with torch.no_grad():
        two.input_norm.running_var[80:] = 1.0
    mel = torch.randn(2, 50, 80)
    with torch.inference_mode():
        a = one(mel)
        b = two(torch.cat([mel, torch.randn(2, 50, 80) * 5], dim=2))
    assert float((a - b).abs().max()) < 1e-5
    # and the background weights are really there to learn
    assert two.conv2d[0].weight.shape[1] == 2 and float(two.conv2d[0].weight.detach()[:, 1].abs().sum()) == 0.0


def test_percussive_split_adds_up_and_separates_hits_from_the_chord():
    x, hits = chord_and_hits()
    split = FeatureSettings(level_norm_s=0, background_frames=21, percussive_bands=9)
    f = np.expm1(FeatureExtractor(split).compute(x).numpy()) / 10.0
    mel = np.expm1(FeatureExtractor(FeatureSettings(level_norm_s=0)).compute(x).numpy()) / 10.0
    perc, harm = f[:, :80], f[:, 80:]
    np.testing.assert_allclose(perc + harm, mel, rtol=1e-3, atol=1e-6)
    fps = split.fps
    # during the chord, its bands are harmonic; a hit's frame is mostly percussive
    band = int(np.argmax(mel[int(4 * fps) + 20]))
    steady = slice(int(3 * fps), int(7 * fps))
    assert harm[steady, band].sum() > 0.9 * mel[steady, band].sum()
    onsets = [int(round(h * fps)) for h in hits if h > 2.5]
    assert perc[onsets].sum() > 0.6 * mel[onsets].sum()


@pytest.mark.parametrize("block,chunk", [(997, 5), (10 ** 6, 3000)])
def test_percussive_split_stream_equals_whole_array_and_ignores_gain(block, chunk):
    fe = FeatureExtractor(FeatureSettings(level_norm_s=3.0, background_frames=21, percussive_bands=9))
    x, _ = chord_and_hits(seed=4)
    whole = fe.compute(x)
    parts = torch.cat(list(fe.stream([x[i:i + block] for i in range(0, len(x), block)],
                                     frames_per_chunk=chunk)))
    assert parts.shape == whole.shape == (fe.n_frames(x.size), 160)
    assert float((parts - whole).abs().max()) < 1e-4
    # a gain change moves nothing but values near the floor, where the split leaves
    # almost nothing (the log's epsilon is not scaled)
    diff = (fe.compute(x * np.float32(0.1)) - whole).abs()
    assert float(diff[whole > LEVEL_FLOOR + 6].max()) < 1e-3
    assert float(diff.max()) < 0.05


@pytest.mark.parametrize("change,match", [({"percussive_bands": 8}, "percussive_bands = 8 must be 0 or odd"),
                                          ({"background_frames": 0}, "percussive_bands needs")])
def test_bad_percussive_settings_in_a_checkpoint_are_refused(tmp_path, change, match):
    feats = FeatureSettings(background_frames=21, percussive_bands=9)
    save_checkpoint(tmp_path / "hp.pt", build_model(CLASS_NAMES, feats, TINY), CLASS_NAMES, feats)
    d = torch.load(tmp_path / "hp.pt", weights_only=True)
    d["features"].update(change)
    torch.save(d, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(tmp_path / "bad.pt")


@pytest.mark.parametrize("kwargs,match", [({"percussive_bands": 9}, "percussive_bands needs background_frames"),
                                          ({"background_frames": 20}, "background_frames = 20 must be 0 or odd"),
                                          ({"background_frames": 21, "percussive_bands": 4},
                                           "percussive_bands = 4 must be 0 or odd")])
def test_a_bad_channel_layout_is_refused_before_anything_is_computed(kwargs, match):
    """Not silently a one-channel model whose checkpoint would then be refused."""
    with pytest.raises(ValueError, match=match):
        FeatureSettings(**kwargs)


def test_a_wider_model_grown_from_a_narrow_one_starts_as_it_and_its_new_units_learn():
    """Wider 2-D and 1-D convolutions from a narrow model's weights: same outputs, live new units."""
    torch.manual_seed(2)
    feats = FeatureSettings(level_norm_s=3.0)
    narrow = build_model(CLASS_NAMES, feats, TINY)
    mel = torch.randn(3, 60, 80)
    narrow.train()
    with torch.no_grad():  # batch statistics that are not the fresh 0 / 1
        for _ in range(3):
            narrow(mel * 2 + 1)
    narrow.eval()
    wide_arch = ArchSettings(conv2d_channels=(7,), conv1d_channels=(24,), rnn_hidden=8, rnn_layers=1)
    wide = build_model(CLASS_NAMES, feats, wide_arch)
    state = grow_state(narrow.state_dict(), wide.state_dict())
    assert set(state) == set(wide.state_dict())
    wide.load_state_dict(state)
    wide.eval()
    with torch.inference_mode():
        np.testing.assert_allclose(wide(mel).numpy(), narrow(mel).numpy(), atol=1e-5)
    # the new filters are the fresh initialisation, not zeros, and their batch norm is live
    w = wide.conv2d[0].weight.detach()
    assert float(w[4:].abs().mean()) > 0.01 and torch.equal(wide.conv2d[1].weight.detach()[4:], torch.ones(3))
    assert float(wide.conv2d[1].running_var[4:].min()) == 1.0
    # the weights that read the new units start at zero and get a gradient at once
    w1 = wide.conv1d[0].weight  # (24, 7 * 20, 3): inputs 80.. are the new filters' bands
    assert float(w1.detach()[:16, 4 * 20:].abs().sum()) == 0.0
    wide.train()
    wide(mel).sum().backward()
    assert float(w1.grad[:16, 4 * 20:].abs().sum()) > 0.0


def test_growing_the_recurrent_layers_is_refused_by_name():
    narrow = build_model(CLASS_NAMES, FeatureSettings(level_norm_s=3.0), TINY)
    bigger_rnn = build_model(CLASS_NAMES, FeatureSettings(level_norm_s=3.0),
                             ArchSettings(conv2d_channels=(4,), conv1d_channels=(16,), rnn_hidden=12,
                                          rnn_layers=1))
    with pytest.raises(ValueError, match=r"rnn\.weight_ih_l0: a GRU or head tensor \(24, 16\) cannot be grown"):
        grow_state(narrow.state_dict(), bigger_rnn.state_dict())
