"""The record-like corpus: MuldjordKit mic mixes, arranged accompaniment,
mastering / band limits / codecs, accompaniment-only clips."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from drumscribe.training.grooves import generate_groove
from drumscribe.training.kits import load_hydrogen
from drumscribe.training.mastering import SR, codec, loudness_lufs, lowpass, master
from drumscribe.training.muldjord import load_muldjord, mic_mix
from drumscribe.training.render import render_clip

from synth import make_kit

HAVE_SF2 = Path("/usr/share/sounds/sf2/TimGM6mb.sf2").exists() or Path("/usr/share/sounds/sf2/FluidR3_GM.sf2").exists()
try:
    import fluidsynth  # noqa: F401
    HAVE_FLUID = HAVE_SF2
except Exception:  # the library or libfluidsynth is missing
    HAVE_FLUID = False
needs_fluid = pytest.mark.skipif(not HAVE_FLUID, reason="pyfluidsynth, libfluidsynth or a GM SoundFont missing "
                                                       "(apt-get install -y fluidsynth fluid-soundfont-gm)")


def clicks(times, n, seed=0):
    """Noise bursts at ``times`` (s): a test signal with sharp onsets."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n, np.float32)
    for t in times:
        i = int(t * SR)
        m = min(3000, n - i)
        x[i:i + m] += (rng.standard_normal(m) * np.exp(-np.arange(m) / 400)).astype(np.float32) * 0.5
    return x


def first_onset(x, thr=0.05):
    return int(np.flatnonzero(np.abs(x) > thr * np.abs(x).max())[0])


@pytest.mark.parametrize("kind,q", [("mp3", 64), ("mp3", 192), ("ogg", 0)])
def test_codec_keeps_onsets_in_place(kind, q):
    if shutil.which("lame" if kind == "mp3" else "oggenc") is None:
        pytest.skip(f"{kind} encoder not installed (apt-get install -y lame vorbis-tools)")
    x = clicks([0.5, 1.23, 2.0], 3 * SR)
    y = codec(x, kind, q)
    assert len(y) == len(x)
    # the codec's delay is removed: best lag 0, onsets within 2 ms (pre-echo sits below a quarter of the peak)
    lags = np.arange(-300, 301)
    xc = [np.dot(x[400:-400], y[400 + k:len(y) - 400 + k]) for k in lags]
    assert abs(int(lags[int(np.argmax(xc))])) <= 2
    assert abs(first_onset(y, 0.25) - first_onset(x, 0.25)) < 0.002 * SR
    assert np.corrcoef(x, y)[0, 1] > 0.5  # noise bursts are the hardest material for a codec


def test_lowpass_is_steep_and_zero_phase():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(2 * SR).astype(np.float32)
    y = lowpass(x, 8000.0)
    X, Y = np.abs(np.fft.rfft(x)), np.abs(np.fft.rfft(y))
    f = np.fft.rfftfreq(len(x), 1 / SR)
    above = (Y[f > 10000] ** 2).sum() / (X[f > 10000] ** 2).sum()
    below = (Y[f < 6000] ** 2).sum() / (X[f < 6000] ** 2).sum()
    assert 10 * np.log10(above) < -40 and below > 0.95
    c = clicks([0.7], SR)
    assert abs(first_onset(lowpass(c, 8000.0)) - first_onset(c)) < 0.001 * SR


def test_master_reaches_record_loudness():
    # a drum-like mix: hits over a continuous bed, far quieter than a record
    bed = np.random.default_rng(9).standard_normal(10 * SR).astype(np.float32) * 0.2
    x = (clicks(np.arange(0.1, 9.5, 0.25), 10 * SR) + bed) * 0.05
    assert loudness_lufs(x) < -30
    for seed in range(4):
        y, prm = master(x, np.random.default_rng(seed))
        assert np.abs(y).max() <= 1.0
        assert -14.5 <= prm["lufs_target"] <= -8
        assert prm["lufs_target"] - 2 < loudness_lufs(y) < prm["lufs_target"] + 2, (loudness_lufs(y), prm)


def _fake_muldjord(root: Path) -> Path:
    """A two-piece kit in MuldjordKit's layout: Samples/<piece>/<n>-<piece>-<mic>.flac."""
    rng = np.random.default_rng(0)
    for piece, freq in (("Snare", 200.0), ("HihatClosed", 7000.0), ("KdrumL", 55.0)):
        d = root / "Samples" / piece
        d.mkdir(parents=True)
        for n in (1, 2, 3):
            t = np.arange(int(0.3 * SR)) / SR
            hit = (np.sin(2 * np.pi * freq * t) + 0.2 * rng.standard_normal(len(t))) * np.exp(-t / 0.05) * (0.2 * n)
            for mic, g in (("OHL", 0.5), ("Snare_top", 1.0 if piece == "Snare" else 0.1), ("AmbL", 0.2),
                           ("Trigger", 1.0)):
                sf.write(d / f"{n}-{piece}-{mic}.flac", (g * hit).astype(np.float32), SR)
    return root


def test_muldjord_mic_mixes(tmp_path):
    root = _fake_muldjord(tmp_path / "Muldjord")
    a, b = load_muldjord(root, 0), load_muldjord(root, 1)
    assert set(a.voices) == {"snare_head", "hihat_closed", "kick"}
    assert a.complete()
    layers = a.voices["snare_head"][0]
    assert len(layers) == 3
    # layers keep the natural dynamics: gains rise with the hit's loudness, the loudest is 1
    gains = [l.gain for l in layers]
    assert gains == sorted(gains) and gains[-1] == pytest.approx(1.0)
    assert gains[0] == pytest.approx(1 / 3, rel=0.05)
    # another mic mix is another sound (overheads vs close mics)
    assert mic_mix(0) != mic_mix(1)
    assert not np.allclose(a.voices["hihat_closed"][0][0].samples[0][:2000],
                           b.voices["hihat_closed"][0][0].samples[0][:2000])


@needs_fluid
def test_accompaniment_is_deterministic_and_follows_the_drums():
    from drumscribe.training.accompaniment import arrange, music

    kicks = [0.25, 1.25, 2.25, 3.0]
    parts = arrange(8.0, 120.0, np.random.default_rng(3), downbeat=0.25, kick_times=kicks)
    assert len(parts) >= 2 and all(p.notes for p in parts)
    a, roles = music(8.0, 120.0, np.random.default_rng(5), 0.25, kicks)
    b, _ = music(8.0, 120.0, np.random.default_rng(5), 0.25, kicks)
    assert np.array_equal(a, b) and np.sqrt(np.mean(a ** 2)) == pytest.approx(0.1, rel=1e-3)
    # whatever was rendered in between
    music(8.0, 90.0, np.random.default_rng(6))
    c, _ = music(8.0, 120.0, np.random.default_rng(5), 0.25, kicks)
    assert np.array_equal(a, c)
    # bars start on the downbeat: every part's notes sit on the 8th/16th grid (strums spread a little)
    for p in parts:
        offs = [((s - 0.25) / 0.25) % 1 for s, _, _, _ in p.notes if s > 0]
        near = [min(o, 1 - o) < 0.25 for o in offs]
        assert np.mean(near) > 0.8, p.role


@needs_fluid
def test_accompaniment_only_clip_has_no_labels(tmp_path):
    kit = load_hydrogen(make_kit(tmp_path / "kits"))
    ev, tempo = generate_groove("rock", 1, 6.0)
    audio, labels, info = render_clip(kit, ev, 6.0, tempo, 11, drums=False)
    assert labels == [] and info["accomp"] and np.abs(audio).max() > 0.05


@needs_fluid
def test_mixed_clip_accompaniment_level_range(tmp_path):
    kit = load_hydrogen(make_kit(tmp_path / "kits"))
    levels = []
    for seed in range(8):
        ev, tempo, down = generate_groove("funk", seed, 6.0, return_downbeat=True)
        audio, labels, info = render_clip(kit, ev, 6.0, tempo, seed, accomp_p=1.0, downbeat=down)
        assert labels and np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
        levels.append(info["accomp_db"])
    assert all(-10 <= v <= 10 for v in levels) and max(levels) - min(levels) > 5


def test_accompaniment_level_range_is_an_option(tmp_path):
    # a louder-accompaniment corpus (make_corpus.py --accomp-db 8 22): the level drawn lies in
    # the range, and the drums' RMS against the accompaniment's follows it
    kit = load_hydrogen(make_kit(tmp_path / "kits"))
    ev, tempo, down = generate_groove("rock", 3, 6.0, return_downbeat=True)
    _, _, default = render_clip(kit, ev, 6.0, tempo, 3, accomp_p=1.0, downbeat=down, record=False)
    _, _, same = render_clip(kit, ev, 6.0, tempo, 3, accomp_p=1.0, downbeat=down, record=False,
                             accomp_db=(-10.0, 10.0))
    assert same == default  # the default range is the shipped corpus's, draw for draw
    levels = [render_clip(kit, ev, 6.0, tempo, s, accomp_p=1.0, downbeat=down, record=False,
                          accomp_db=(8.0, 22.0))[2]["accomp_db"] for s in range(6)]
    assert all(8.0 <= v <= 22.0 for v in levels) and max(levels) - min(levels) > 3


def _strum_kit(folder, chords=("Amajor", "Dminor"), sr=96000):
    """A tiny strum kit laid out as Hydrogen's belofilms_GuitarStrums (96 kHz stereo flac):
    a plain strum, a down and an up stroke per chord, each a decaying chord of partials."""
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(0.6 * sr)) / sr
    for i, chord in enumerate(chords):
        for stroke in ("", "_DOWN", "_UP"):
            f0 = 110.0 * (1 + 0.25 * i) * (1.5 if stroke == "_UP" else 1.0)
            x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3, 5)) * np.exp(-t / 0.2) * 0.3
            sf.write(folder / f"{chord}{stroke}_00.flac", np.stack([x, x], 1), sr, subtype="PCM_24")
    return folder


def test_recorded_strums_play_on_the_beat_grid(tmp_path):
    from drumscribe.training.strums import SR as STRUM_SR, load_strums, strum_part

    folder = str(_strum_kit(tmp_path / "strums"))
    kit = load_strums(folder)
    assert sorted(kit) == ["Amajor", "Dminor"] and all(len(v["up"]) == 1 and len(v["down"]) == 2 for v in kit.values())
    assert len(kit["Amajor"]["up"][0]) == int(0.6 * STRUM_SR)  # resampled from 96 kHz
    x, onsets = strum_part(8.0, 120.0, np.random.default_rng(2), downbeat=0.1, folder=folder)
    y, again = strum_part(8.0, 120.0, np.random.default_rng(2), downbeat=0.1, folder=folder)
    assert np.array_equal(x, y) and onsets == again and len(x) == 8 * STRUM_SR
    # every strum starts on the eighth-note grid from the downbeat (humanised by a few ms)
    offs = [((t - 0.1) / 0.25) % 1 for t in onsets]
    assert len(onsets) >= 16 and max(min(o, 1 - o) for o in offs) * 0.25 < 0.03
    # and is heard there: the audio rises at each onset
    for t in onsets[:10]:
        i = int(t * STRUM_SR)
        before = np.abs(x[max(0, i - 2000):max(1, i - 200)]).mean() if i > 2000 else 0.0
        assert np.abs(x[i + 100:i + 2000]).mean() > before
    with pytest.raises(FileNotFoundError, match="hydrogen-drumkits-effects"):
        load_strums(str(tmp_path / "absent"))


@needs_fluid
def test_strums_join_the_accompaniment_only_when_asked(tmp_path, monkeypatch):
    from drumscribe.training import strums as recorded
    from drumscribe.training.accompaniment import music

    monkeypatch.setattr(recorded, "STRUM_DIR", _strum_kit(tmp_path / "strums"))
    a, roles = music(6.0, 100.0, np.random.default_rng(4), 0.2)
    b, same = music(6.0, 100.0, np.random.default_rng(4), 0.2, strums=0.0)
    assert np.array_equal(a, b) and roles == same and "real_strum" not in roles  # as shipped, draw for draw
    c, with_strums = music(6.0, 100.0, np.random.default_rng(4), 0.2, strums=1.0)
    assert with_strums[-1] == "real_strum" and with_strums[:-1] == roles
    assert not np.allclose(a, c) and np.sqrt(np.mean(c ** 2)) == pytest.approx(0.1, rel=1e-3)
