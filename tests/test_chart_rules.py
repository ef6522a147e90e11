"""Game-legal gems, Star Power, fills, sections, end event and metadata (issue 12)."""

from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from drumscribe.charts.chart import DIFFICULTIES, REDUCTIONS, ChartOptions, chart_options, make_chart
from drumscribe.charts.folder import write_chart_folder
from drumscribe.charts.metadata import read_tags
from drumscribe.charts.mid_format import read_notes_mid
from drumscribe.charts.song_ini import read_song_ini
from drumscribe.charts.tempo import fixed_tempo
from drumscribe.transcribe.errors import ConfigError
from drumscribe.transcribe.hookspecs import Onset
from drumscribe.transcribe.vocabulary import CLASS_NAMES

BPM = 120.0


def busy_song(bars=40, first=2.0, seed=0):
    """Onsets of a 120 BPM song: 16 bars of a hi-hat groove, then ride and toms, with
    crashes, pedal hi-hats and four-way chords (kick + snare + hi-hat + crash + tom)."""
    rng = np.random.default_rng(seed)
    spb = 60.0 / BPM
    out = []
    for bar in range(bars):
        for beat in range(4):
            b = first + (bar * 4 + beat) * spb
            second = bar >= 16
            for k in range(4 if second else 2):  # sixteenth ride or eighth hi-hat
                out.append(Onset(b + k * spb / (4 if second else 2),
                                 "ride" if second else "hihat_closed", int(rng.integers(60, 110)), 0.9))
            out.append(Onset(b, "kick" if beat % 2 == 0 else "snare_head", 100, 0.9))
            out.append(Onset(b + spb / 2, "hihat_pedal", 80, 0.9))
            if beat == 3 and bar % 4 == 3:  # a fill on the toms, ending on a crash
                out += [Onset(b + k * spb / 4, "high_mid_tom" if k < 2 else "floor_tom", 100, 0.9)
                        for k in range(4)]
            if beat == 0 and bar % 4 == 0:  # crash + tom + snare + kick + hi-hat at once
                out += [Onset(b, "crash", 120, 0.9), Onset(b, "floor_tom", 100, 0.9),
                        Onset(b, "snare_head", 100, 0.9)]
            if second and beat == 2:
                out.append(Onset(b + 3 * spb / 4, "kick", 100, 0.9))
    return sorted(out), first + bars * 4 * spb + 1.0


@pytest.fixture(scope="module")
def chart():
    onsets, length = busy_song()
    tm = fixed_tempo(BPM, 2.0, length, first_note=2.0)
    c, _ = make_chart(onsets, tm, list(CLASS_NAMES), ChartOptions(), name="Busy",
                      song_length=length)
    return c


def test_at_most_two_pads_plus_kick_at_every_difficulty(chart):
    for level in DIFFICULTIES:
        by_pos = {}
        for g in chart.difficulties[level]:
            by_pos.setdefault(g.position, []).append(g)
        for pos, gems in by_pos.items():
            pads = [g for g in gems if g.lane != "kick"]
            assert len(pads) <= 2, (level, pos, gems)
            assert len({g.lane for g in gems}) == len(gems)  # one gem per lane: no cymbal+tom
            if level == "Easy":
                assert len(pads) <= 1 and len(gems) <= 2
            if REDUCTIONS.get(level) and REDUCTIONS[level].max_total:
                assert len(gems) <= REDUCTIONS[level].max_total


def test_hihat_pedal_is_not_a_pad_unless_mapped():
    onsets, length = busy_song(bars=4)
    tm = fixed_tempo(BPM, 2.0, length)
    pedal_times = {o.time for o in onsets if o.drum == "hihat_pedal"}
    c, _ = make_chart(onsets, tm, list(CLASS_NAMES), ChartOptions(), song_length=length)
    assert not any("hihat_pedal" in g.classes for g in c.difficulties["Expert"])
    c, _ = make_chart(onsets, tm, list(CLASS_NAMES), chart_options({"hihat_pedal": "kick"}),
                      song_length=length)
    pedal = [g for g in c.difficulties["Expert"] if "hihat_pedal" in g.classes]
    assert len(pedal) == len(pedal_times) and all(g.lane == "kick" for g in pedal)
    with pytest.raises(ConfigError, match="hihat_pedal"):
        chart_options({"hihat_pedal": "purple"})


def test_density_falls_and_medium_differs_from_easy(chart):
    counts = [len(chart.difficulties[lvl]) for lvl in DIFFICULTIES]
    assert counts[0] > counts[1] > counts[2] > counts[3] > 0
    med = {(g.position, g.lane) for g in chart.difficulties["Medium"]}
    easy = {(g.position, g.lane) for g in chart.difficulties["Easy"]}
    hard = {(g.position, g.lane) for g in chart.difficulties["Hard"]}
    assert med != easy and med != hard and easy < med


def test_end_event_inside_the_audio_and_after_the_last_gem(chart):
    end = chart.end_position()
    last = max(g.position for gs in chart.difficulties.values() for g in gs)
    assert end >= last
    assert float(chart.tempo_map.time_at(float(end))) <= chart.song_length


def test_star_power_and_fills_as_published_charts_space_them(chart):
    sp, fills = chart.star_power, chart.fills
    assert len(sp) >= 4
    starts = [float(p.start) for p in sp]
    assert min(np.diff(starts)) >= 4 * 4  # a phrase every 4+ bars, one bar long
    assert all(p.length <= 4 for p in sp)
    assert fills and float(fills[0].start) > float(sp[1].start)  # after Star Power can exist
    for f in fills:
        assert not any(p.start <= f.end and f.start <= p.end for p in sp)  # no overlap
        for level in DIFFICULTIES:
            gems = chart.difficulties[level]
            assert any(g.position == f.end for g in gems)  # ends on the activation gem
    for p in sp:
        for level in DIFFICULTIES:
            assert any(p.holds(g.position) for g in chart.difficulties[level])


def test_sections_where_the_drum_pattern_changes(chart):
    beats = [int(b) for b, _ in chart.sections]
    names = [n for _, n in chart.sections]
    assert beats[0] == 0 and len(set(names)) == len(names)
    # the groove changes at bar 16 of the song (tick 0 is one bar before bar 0)
    first_bar = int(round(float(chart.tempo_map.beat_at(2.0))))
    assert any(abs(b - (first_bar + 64)) <= 4 for b in beats), beats


def _tagged_ogg(path, with_art=True):
    import base64

    from mutagen.flac import Picture
    from mutagen.oggvorbis import OggVorbis

    sf.write(path, np.zeros((44100 * 3, 2), np.float32), 44100, format="OGG", subtype="VORBIS")
    f = OggVorbis(path)
    f["title"], f["artist"], f["album"], f["genre"], f["date"] = (
        "Tagged", "The Taggers", "Tags", "Rock", "2021-05-01")
    if with_art:
        pic = Picture()
        pic.type, pic.mime, pic.data = 3, "image/png", b"\x89PNG\r\n\x1a\nfake"
        f["metadata_block_picture"] = [base64.b64encode(pic.write()).decode("ascii")]
    f.save()


def test_tags_fill_song_ini_and_flags_win(tmp_path):
    audio = tmp_path / "in.ogg"
    _tagged_ogg(audio)
    tags, art = read_tags(audio)
    assert tags == {"title": "Tagged", "artist": "The Taggers", "album": "Tags", "genre": "Rock",
                    "year": "2021"}
    assert art and art[1] == ".png"
    onsets, length = busy_song(bars=4)
    tm = fixed_tempo(BPM, 2.0, length, first_note=2.0)
    c, _ = make_chart(onsets, tm, list(CLASS_NAMES), chart_options({"genre": "Funk"}),
                      song_length=length, metadata=tags)
    paths = write_chart_folder(tmp_path / "out", c, audio, album_art=art)
    assert sorted(p.split("/")[-1] for p in paths) == ["album.png", "notes.mid", "song.ini",
                                                       "song.ogg"]
    ini = read_song_ini(tmp_path / "out" / "song.ini")
    assert (ini["name"], ini["artist"], ini["album"], ini["genre"], ini["year"]) == (
        "Tagged", "The Taggers", "Tags", "Funk", "2021")
    # song.ogg = the leading silence + the audio
    info = sf.info(str(tmp_path / "out" / "song.ogg"))
    assert info.channels == 2
    assert info.duration == pytest.approx(3.0 + tm.pad_s, abs=0.05)
    assert int(ini["song_length"]) == int(round((length + tm.pad_s) * 1000))


def test_mid_has_star_power_fills_sections_and_one_end(chart, tmp_path):
    import mido

    write_chart_folder(tmp_path, chart)
    mid = mido.MidiFile(tmp_path / "notes.mid")
    drums = [m for m in mid.tracks[1] if m.type == "note_on" and m.velocity > 0]
    assert sum(m.note == 116 for m in drums) == len(chart.star_power)
    for n in range(120, 125):
        assert sum(m.note == n for m in drums) == len(chart.fills)
    texts = [m.text for m in mid.tracks[2] if m.type == "text"]
    assert texts.count("[end]") == 1
    assert sum(t.startswith("[section ") for t in texts) == len(chart.sections)
    back = read_notes_mid(tmp_path / "notes.mid")
    assert len(back.notes["Expert"]) == len(chart.difficulties["Expert"])
    assert Fraction(0) == chart.sections[0][0]


def test_picture_of_a_chart_folder(chart, tmp_path):
    """drumscribe.charts.picture draws what the written notes.mid holds (docs/chart.png)."""
    import matplotlib.image as mpimg

    from drumscribe.charts.picture import main

    write_chart_folder(tmp_path / "song", chart)
    assert main([str(tmp_path / "song"), str(tmp_path / "chart.png"), "--bars", "4"]) == 0
    img = mpimg.imread(tmp_path / "chart.png")
    assert img.shape[0] > 300 and img.shape[1] > 600
