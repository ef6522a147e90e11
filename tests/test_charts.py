"""Chart export: lanes, collisions, difficulties, writers read back three ways, end to end."""

import io
import re
from fractions import Fraction

import mido
import numpy as np
import pytest
import soundfile as sf

from drumscribe.charts import chart as charts
from drumscribe.charts.chart import (REDUCTIONS, ChartOptions, Gem, build_expert, chart_options, make_chart,
                          reduce_gems, resolve_lanes)
from drumscribe.charts.chart_format import CHART_NOTES, read_chart
from drumscribe.charts.folder import write_chart_folder
from drumscribe.charts.mid_format import EXPERT_MID_NOTES, read_notes_mid
from drumscribe.charts.song_ini import read_song_ini
from drumscribe.transcribe.config import Config
from drumscribe.transcribe.errors import ConfigError, OutputError
from drumscribe.transcribe.hookspecs import Onset
from drumscribe.charts.quantize import quantize_onsets
from drumscribe.charts.tempo import fixed_tempo, track_tempo
from drumscribe.transcribe.vocabulary import CLASS_NAMES

FPS = 100.0


def song(kind="two_changes", n_beats=48, start=2.5, seed=0):
    """Beats, groove notes (with sixteenth kicks and a ghost snare) and activations."""
    if kind == "constant":
        bpm = np.full(n_beats, 117.3)
    elif kind == "accelerating":
        bpm = np.linspace(100.0, 130.0, n_beats)
    else:
        bpm = np.r_[np.full(16, 100.0), np.full(16, 128.0), np.full(n_beats - 32, 90.0)]
    beats = start + np.r_[0.0, np.cumsum(60.0 / bpm[:-1])]
    notes = []
    for i, b in enumerate(beats[:-1]):
        p = beats[i + 1] - b
        notes += [(b, "hihat_closed", 100), (b + p / 2, "hihat_closed", 90)]
        notes.append((b, "kick" if i % 2 == 0 else "snare_head", 100))
        if i % 4 == 2:
            notes.append((b + 3 * p / 4, "kick", 100))  # a sixteenth
        if i % 4 == 3:
            notes.append((b + p / 4, "snare_head", 30))  # a ghost note on a sixteenth
        if i % 16 == 0:
            notes.append((b, "crash", 120))
        if i == 20:
            notes.append((b, "high_mid_tom", 100))  # collides with the hi-hat
    rng = np.random.default_rng(seed)
    classes = list(CLASS_NAMES)
    n = int((beats[-1] + 2) * FPS)
    v = rng.uniform(0, 0.04, (n, len(classes)))
    t = np.arange(n) / FPS
    for tn, c, _ in notes:
        j = classes.index(c)
        v[:, j] = np.maximum(v[:, j], rng.uniform(0.7, 1) * np.exp(-0.5 * ((t - tn) / 0.012) ** 2))
    onsets = [Onset(float(tn), c, vel, 0.9) for tn, c, vel in notes]
    return beats, onsets, v.astype(np.float32), classes


def q(pos, drum, vel=100):
    """A quantised note at beat ``pos`` on a 60 BPM grid."""
    tm = fixed_tempo(60.0, 0.0, 100.0)
    return quantize_onsets([Onset(float(pos), drum, vel, 0.9)], tm).notes[0]


LANES, _ = resolve_lanes(CLASS_NAMES)


# --- lanes and collisions ---------------------------------------------------------


def test_default_lanes_and_overrides():
    assert LANES["kick"] == ("kick", False)
    assert LANES["snare_rim"] == ("red", False) and LANES["side_stick"] == ("red", False)
    assert LANES["hihat_open"] == ("yellow", True) and LANES["ride_bell"] == ("blue", True)
    assert LANES["crash"] == ("green", True) and LANES["floor_tom"] == ("green", False)
    assert LANES["high_mid_tom"] == ("yellow", False)
    lanes, _ = resolve_lanes(CLASS_NAMES, {"high_mid_tom": "blue_tom", "ride_bell": "none"})
    assert lanes["high_mid_tom"] == ("blue", False) and "ride_bell" not in lanes


def test_unknown_classes_skipped_with_warning_and_groups_follow_members():
    lanes, warns = resolve_lanes(["kick", "cowbell", "hats", "toms"],
                                 groups={"hats": ["hihat_closed", "hihat_open"]})
    assert "cowbell" not in lanes and any("cowbell" in w for w in warns)
    assert lanes["hats"] == ("yellow", True) and lanes["toms"] == ("blue", False)
    lanes, warns = resolve_lanes(["cowbell"], {"cowbell": "green_cymbal"})
    assert lanes == {"cowbell": ("green", True)} and not warns


def test_collision_rule_keeps_cymbal_and_moves_tom():
    notes = [q(1, "hihat_closed"), q(1, "high_mid_tom"), q(2, "crash"), q(2, "floor_tom"),
             q(3, "hihat_closed"), q(3, "hihat_open"), q(3, "snare_head"), q(3, "snare_rim")]
    gems, rep = build_expert(notes, LANES, dynamics=False)
    at = {(g.position, g.lane): g.cymbal for g in gems}
    assert at[(1, "yellow")] is True and at[(1, "blue")] is False  # hi-hat stays, tom -> blue
    assert at[(2, "green")] is True and at[(2, "blue")] is False   # crash stays, floor tom -> blue
    assert [g.lane for g in gems if g.position == 3] == ["red", "yellow"]  # same pads merge
    assert rep.moved == 2 and rep.merged == 2 and rep.dropped == 0
    # every colour taken by a cymbal: a tom cannot go anywhere
    lanes = dict(LANES, ride=("blue", True))
    gems, rep = build_expert([q(1, "hihat_closed"), q(1, "ride"), q(1, "crash"), q(1, "floor_tom")],
                             lanes, dynamics=False)
    assert rep.dropped == 1 and all(g.cymbal for g in gems)
    # never two gems on one lane at one position
    assert len({(g.position, g.lane) for g in gems}) == len(gems)


def test_dynamics_relative_to_class_median():
    notes = [q(i, "snare_head", 90) for i in range(1, 8)] + [q(8, "snare_head", 127),
                                                             q(9, "snare_head", 30)]
    gems, _ = build_expert(notes, LANES)
    dyn = {g.position: g.dynamic for g in gems}
    assert dyn[8] == "accent" and dyn[9] == "ghost" and dyn[1] == ""


# --- difficulties -----------------------------------------------------------------


def _busy_expert():
    notes = []
    for i in range(16):
        for k in range(4):
            notes.append(q(i + k / 4, "hihat_closed", 100))
        notes.append(q(i, "kick" if i % 2 == 0 else "snare_head"))
        notes.append(q(i + 0.75, "kick"))
        notes.append(q(i + 0.25, "snare_head", 20))  # ghost
        if i % 4 == 0:
            notes.append(q(i, "crash", 120))
    return build_expert(notes, LANES)[0]


def test_difficulties_are_reduced_never_empty_and_nested():
    expert = _busy_expert()
    levels = {"Expert": expert}
    prev = expert
    for lvl in ("Hard", "Medium", "Easy"):
        prev = reduce_gems(prev, REDUCTIONS[lvl])
        levels[lvl] = prev
    sizes = [len(levels[l]) for l in charts.DIFFICULTIES]
    assert all(s > 0 for s in sizes) and sizes == sorted(sizes, reverse=True)
    assert sizes[0] > sizes[1] > sizes[2]  # Hard differs from Expert (it had sixteenths)
    ex = {(g.position, g.lane, g.cymbal) for g in expert}
    for lvl in ("Hard", "Medium", "Easy"):
        gems = levels[lvl]
        assert {(g.position, g.lane, g.cymbal) for g in gems} <= ex  # flags kept
        assert not any(g.dynamic == "ghost" for g in gems)
        rule = REDUCTIONS[lvl]
        assert all(any((g.position * d).denominator == 1 for d in rule.divisions) for g in gems)
        for pos in {g.position for g in gems}:
            at = [g for g in gems if g.position == pos]
            assert sum(g.lane != "kick" for g in at) <= rule.max_pads
            assert rule.max_total is None or len(at) <= rule.max_total
    assert any(g.lane == "kick" for g in levels["Easy"])
    assert any(g.lane == "red" for g in levels["Easy"])


def test_reduction_falls_back_to_backbone_rather_than_empty():
    only_fast = [Gem(Fraction(4 * i + 1, 4), "yellow", True) for i in range(8)]
    for lvl in ("Hard", "Medium", "Easy"):
        out = reduce_gems(only_fast, REDUCTIONS[lvl])
        assert out and len(out) <= len(only_fast)
    ghosts = [Gem(Fraction(i), "red", False, "ghost") for i in range(4)]
    assert reduce_gems(ghosts, REDUCTIONS["Hard"])  # ghosts are the backbone here


# --- writing and reading back ------------------------------------------------------


def _parse_chart_independently(text):
    """A minimal .chart parser after the public format description: sections of
    ``tick = TYPE values`` lines; B is BPM x 1000; N 66-68 mark cymbals."""
    sections, cur = {}, None
    for line in text.splitlines():
        line = line.strip()
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            cur = sections.setdefault(m.group(1), [])
        elif cur is not None and "=" in line:
            k, v = [s.strip() for s in line.split("=", 1)]
            cur.append((k, v))
    res = int(dict(sections["Song"])["Resolution"])
    tempos = [(int(k), int(v.split()[1]) / 1000) for k, v in sections["SyncTrack"]
              if v.startswith("B ")]
    drums = {}
    for name in ("Expert", "Hard", "Medium", "Easy"):
        at = {}
        for k, v in sections[f"{name}Drums"]:
            typ, num = v.split()[0], int(v.split()[1])
            if typ == "N":
                at.setdefault(int(k), set()).add(num)
        out = []
        for tick, nums in at.items():
            for n in nums & {0, 1, 2, 3, 4}:
                out.append((tick, n, (n + 64) in nums))
        drums[name] = sorted(out)
    return res, tempos, drums


def _seconds(tick, tempos, res):
    t, last, bpm = 0.0, 0, tempos[0][1]
    for et, eb in tempos:
        if et >= tick:
            break
        t += (et - last) / res * 60 / bpm
        last, bpm = et, eb
    return t + (tick - last) / res * 60 / bpm


@pytest.fixture(scope="module", params=["constant", "accelerating", "two_changes"])
def written(request, tmp_path_factory):
    beats, onsets, v, classes = song(request.param)
    tm = track_tempo(v, classes, FPS, onset_times=[o.time for o in onsets])
    chart, rep = make_chart(onsets, tm, classes, ChartOptions(), name="Test Song",
                            song_length=len(v) / FPS, audio_name="song.wav")
    folder = tmp_path_factory.mktemp(request.param)
    audio = folder / "in.wav"
    sf.write(audio, np.zeros(4410, np.float32), 44100)
    paths = write_chart_folder(folder / "chart", chart, audio)
    write_chart_folder(folder / "chart", chart, None, overwrite=True, chart_format="chart")
    return beats, onsets, tm, chart, rep, folder / "chart", paths


def test_writes_every_file(written):
    *_, folder, paths = written
    assert sorted(p.split("/")[-1] for p in paths) == ["notes.mid", "song.ini", "song.ogg"]
    info = sf.info(str(folder / "song.ogg"))
    assert info.format == "OGG" and info.subtype == "VORBIS"
    assert not list(folder.glob("*.part"))


def test_chart_reads_back_with_tempo_and_notes(written):
    beats, onsets, tm, chart, rep, folder, _ = written
    text = (folder / "notes.chart").read_text()
    res, tempos, drums = _parse_chart_independently(text)
    ours = read_chart(folder / "notes.chart")
    assert res == ours.resolution == 192
    assert tempos == ours.tempos
    assert ours.song["MusicStream"] == "song.wav" and "Offset" in ours.song
    assert ours.time_signatures[0][0] == 0
    # tempo events: the tempo map's changes, B as integer milli-BPM
    assert len(tempos) == len(tm.tempo_changes())
    for (tick, bpm), (beat, true_bpm) in zip(tempos, tm.tempo_changes()):
        assert tick == beat * 192 and bpm == pytest.approx(true_bpm, abs=0.01)
    # every grid beat's tick lands on the grid time: no drift from rounding
    for i in range(0, len(tm.beats), 7):  # tick 0 is tm.beats[0] (<= 0: leading silence)
        assert _seconds(i * 192, tempos, 192) == pytest.approx(tm.beats[i] - tm.beats[0], abs=1e-3)
    for level in charts.DIFFICULTIES:
        gems = chart.difficulties[level]
        want = sorted((g.tick(192), CHART_NOTES[g.lane], g.cymbal) for g in gems)
        assert drums[level] == want
        assert [(n.tick, n.lane, n.cymbal) for n in ours.notes[level]] == \
            [(g.tick(192), g.lane, g.cymbal) for g in gems]
    # Expert gems sit where the notes were played (tracked grid, 16th/12th snapping)
    times = sorted({round(_seconds(t, tempos, 192) + tm.beats[0], 4) for t, _, _ in drums["Expert"]})
    played = np.array(sorted({o.time for o in onsets}))
    for t in times:
        # a ramp is charted as constant-tempo segments: up to ~21 ms there
        assert np.min(np.abs(played - t)) < 0.025


def test_notes_mid_reads_back_with_mido_and_reader(written):
    beats, onsets, tm, chart, rep, folder, _ = written
    mid = mido.MidiFile(folder / "notes.mid")
    assert mid.ticks_per_beat == 480
    names = [t.name for t in mid.tracks]
    assert names[1:] == ["PART DRUMS", "EVENTS"]
    tempo = [(m.tempo) for m in mid.tracks[0] if m.type == "set_tempo"]
    assert len(tempo) == len(tm.tempo_changes())
    texts = [m.text for t in mid.tracks for m in t if m.type == "text"]
    assert "[ENABLE_CHART_DYNAMICS]" in texts and "[end]" in texts and "[music_start]" in texts
    # raw mido: Expert gems on notes 96..100, tom markers 110..112
    tick, expert = 0, []
    for m in mid.tracks[1]:
        tick += m.time
        if m.type == "note_on" and m.velocity > 0 and 96 <= m.note <= 100:
            expert.append((tick, m.note))
    want = sorted((g.tick(480), EXPERT_MID_NOTES[g.lane]) for g in chart.difficulties["Expert"])
    assert sorted(expert) == want
    ours = read_notes_mid(folder / "notes.mid")
    for level in charts.DIFFICULTIES:
        assert [(n.tick, n.lane, n.cymbal, n.dynamic) for n in ours.notes[level]] == \
            [(g.tick(480), g.lane, g.cymbal, g.dynamic if g.lane != "kick" else "")
             for g in chart.difficulties[level]]
    for i in range(0, len(tm.beats), 7):
        assert ours.seconds(i * 480) == pytest.approx(tm.beats[i] - tm.beats[0], abs=1e-4)
    # the tom at beat 20 (collision with the hi-hat) moved to blue and is a tom in both files
    toms = [n for n in ours.notes["Expert"] if n.lane == "blue" and not n.cymbal]
    assert len(toms) == 1 and rep.collisions.moved == 1
    ghosts = [n for n in ours.notes["Expert"] if n.dynamic == "ghost"]
    assert ghosts and all(n.lane == "red" for n in ghosts)
    assert not any(n.dynamic == "ghost" for n in ours.notes["Hard"])


def test_song_ini(written):
    *_, chart, rep, folder, _ = written
    ini = read_song_ini(folder / "song.ini")
    assert ini["name"] == "Test Song" and ini["charter"] == "drumscribe"
    assert ini["pro_drums"] == "True" and ini["delay"] == "0"
    assert 0 <= int(ini["diff_drums"]) <= 6 and int(ini["song_length"]) > 0
    assert ini["artist"] == "Unknown Artist"


def test_refuses_to_overwrite(written, tmp_path):
    *_, chart, rep, folder, _ = written
    with pytest.raises(OutputError, match="exists"):
        write_chart_folder(folder, chart)
    write_chart_folder(folder, chart, overwrite=True)


def test_options_are_validated():
    assert chart_options({"grid": [16], "lanes": {"high_mid_tom": "blue_tom"}}).grid == (16,)
    with pytest.raises(ConfigError, match="unknown key 'gird'"):
        chart_options({"gird": [16]})
    with pytest.raises(ConfigError, match="unknown lane 'purple'"):
        chart_options({"lanes": {"kick": "purple"}})
    with pytest.raises(ConfigError, match="grid"):
        chart_options({"grid": [10]})
    with pytest.raises(ConfigError, match="exclude"):
        chart_options({"bpm": 120, "tempo_from": "x.mid"})


def test_plugin_config_error_names_the_plugin():
    from drumscribe.transcribe.pipeline import Postprocessor

    cfg = Config()
    cfg.plugins_config["chart"] = {"max_shift_ms": "fast"}
    with pytest.raises(ConfigError, match="chart_export.*max_shift_ms"):
        Postprocessor(cfg, list(CLASS_NAMES))


# --- end to end -------------------------------------------------------------------


def test_one_command_makes_a_chart_folder(tmp_path, monkeypatch, capsys):
    """Done when: ``transcribe SONG --chart DIR`` writes notes.mid (notes.chart only with
    --chart-format chart), song.ini and song.ogg, and the GM MIDI stays unquantised."""
    from drumscribe.transcribe import cli, inference
    from drumscribe.transcribe.activations import Activations
    from drumscribe.transcribe.features import FeatureSettings
    from drumscribe.transcribe.model import build_model, save_checkpoint

    beats, onsets, v, classes = song("two_changes", n_beats=40)
    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, build_model(classes), classes, FeatureSettings())
    wav = tmp_path / "My Song.wav"
    sf.write(wav, np.zeros(int(44100 * len(v) / FPS), np.float32), 44100)
    # deterministic activations instead of the random model's
    monkeypatch.setattr(inference.Transcriber, "activations_from_file",
                        lambda self, p: Activations(v, FPS, classes, "", str(p)))
    out = tmp_path / "charts"
    rc = cli.main([str(wav), "--chart", str(out), "--model", str(ckpt), "--no-calibration",
                   "-o", str(tmp_path / "midi"), "--preview", "--threshold", "0.5"])
    assert rc == 0, capsys.readouterr().err
    folder = out / "My Song"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.mid", "song.ini", "song.ogg"]
    assert (out / "My Song.png").stat().st_size > 0
    rc = cli.main([str(wav), "--chart", str(tmp_path / "c1"), "--model", str(ckpt),
                   "--no-calibration", "-o", str(tmp_path / "midi1"), "--threshold", "0.5",
                   "--chart-format", "chart", "--artist", "A", "--album", "B", "--genre", "C",
                   "--year", "1999"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "c1" / "My Song").iterdir()) == [
        "notes.chart", "song.ini", "song.ogg"]
    ini = read_song_ini(tmp_path / "c1" / "My Song" / "song.ini")
    assert (ini["artist"], ini["album"], ini["genre"], ini["year"]) == ("A", "B", "C", "1999")
    ch = read_chart(tmp_path / "c1" / "My Song" / "notes.chart")
    md = read_notes_mid(folder / "notes.mid")
    assert len(ch.notes["Expert"]) == len(md.notes["Expert"]) > 50
    assert all(ch.notes[l] for l in charts.DIFFICULTIES)
    # the GM MIDI keeps the picked frame times (not snapped)
    gm = mido.MidiFile(tmp_path / "midi" / "My Song.mid")
    t, hits = 0.0, []
    for m in gm:
        t += m.time
        if m.type == "note_on" and m.velocity > 0:
            hits.append(t)
    frames = np.array(hits) * FPS
    assert np.allclose(frames, np.round(frames), atol=0.05)
    # --bpm and --offset reach the chart
    rc = cli.main([str(wav), "--chart", str(tmp_path / "c2"), "--model", str(ckpt),
                   "--no-calibration", "-o", str(tmp_path / "m2"), "--bpm", "100", "--offset",
                   str(beats[0])])
    assert rc == 0
    assert read_notes_mid(tmp_path / "c2" / "My Song" / "notes.mid").tempos[-1][1] == pytest.approx(100.0)
    # an existing chart folder is kept unless --overwrite; only the missing MIDI is written
    args = [str(wav), "--chart", str(tmp_path / "c2"), "--model", str(ckpt), "--no-calibration",
            "-o", str(tmp_path / "m2"), "--bpm", "120", "--overwrite"]
    before = (tmp_path / "c2" / "My Song" / "notes.mid").read_bytes()
    assert cli.main(args[:-1] + ["-o", str(tmp_path / "m3")]) == 0
    assert "kept the existing chart" in capsys.readouterr().out
    assert (tmp_path / "m3" / "My Song.mid").is_file()
    assert (tmp_path / "c2" / "My Song" / "notes.mid").read_bytes() == before
    assert cli.main(args) == 0
    assert read_notes_mid(tmp_path / "c2" / "My Song" / "notes.mid").tempos[-1][1] == pytest.approx(120.0)


def test_song_ogg_is_byte_identical_across_runs(tmp_path):
    """libsndfile picks a random Ogg serial per file; song.ogg takes its serial from the
    audio instead, so a rerun (or a resumed batch) writes the same bytes, and every page
    still carries a valid checksum (it decodes)."""
    from drumscribe.charts.folder import ogg_bytes, set_ogg_serial

    x = (0.1 * np.random.default_rng(3).standard_normal((44100 * 3, 2))).astype(np.float32)
    src = tmp_path / "song.wav"
    sf.write(src, x, 44100)
    a, b = ogg_bytes(src), ogg_bytes(src)
    assert a == b
    assert a[:4] == b"OggS"
    y, rate = sf.read(io.BytesIO(a))
    assert rate == 44100 and y.shape == x.shape
    # the serial is set on every page, and a different serial gives different bytes
    # that libsndfile still accepts (it checks each page's CRC)
    other = set_ogg_serial(a, 7)
    assert other != a and other.count(b"OggS") == a.count(b"OggS")
    assert sf.read(io.BytesIO(other))[0].shape == x.shape
    assert set_ogg_serial(b"not an ogg file", 7) == b"not an ogg file"


def test_a_signal_while_song_ogg_is_encoded_stops_the_song(tmp_path):
    """A signal during the encoding raises (the run stops, nothing is committed) and the
    encoder's temporary is gone. (Encoding into a Python file object ran a callback per
    block; an interrupt inside it was swallowed and a corrupt song.ogg was committed:
    the 200-kill harness found one.)"""
    import signal

    from drumscribe.charts.folder import ogg_bytes

    x = (0.1 * np.random.default_rng(4).standard_normal((44100 * 120, 2))).astype(np.float32)
    src = tmp_path / "long.wav"
    sf.write(src, x, 44100)
    out = tmp_path / "chart"
    out.mkdir()

    def stop(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, stop)
    try:
        for where in ({}, {"tmp_dir": out}):
            signal.setitimer(signal.ITIMER_REAL, 0.3)
            with pytest.raises(KeyboardInterrupt):
                ogg_bytes(src, 0.0, **where)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert list(out.iterdir()) == []
