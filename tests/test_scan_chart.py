"""Charts checked by the community's own scanner: scan-chart (npm), as Clone Hero and YARG
chart sites use it. Skipped (with the reason) when node or scan-chart is missing; install
it with ``npm install --prefix tests/scan_chart`` (scripts/run_tests.sh does, when npm is
there). The chart folders are made by ``transcribe --chart`` itself."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

HERE = Path(__file__).resolve().parent / "scan_chart"
SCANNER = HERE / "scan.js"
FORBIDDEN = {"invalidChord", "badEndEvent", "noSections", "multipleChart", "missingValue",
             "smallLeadingSilence", "difficultyForbiddenNote", "emptyStarPower", "emptyFlexLane",
             "noDrumActivationLanes", "badStarPower", "misalignedTimeSignature"}
"""Issues a drumscribe chart must never have (``noAlbumArt`` only when the file has none)."""


def _node():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (apt-get install nodejs npm)")
    if not (HERE / "node_modules" / "scan-chart").is_dir():
        pytest.skip("scan-chart is not installed: npm install --prefix tests/scan_chart")
    return node


def scan(folders):
    """scan-chart's findings for each chart folder (see tests/scan_chart/scan.js)."""
    node = _node()
    out = subprocess.run([node, str(SCANNER)] + [str(f) for f in folders], cwd=HERE,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def _song(seconds=70.0, bpm=112.0, first=1.2, seed=0):
    """Activations (12 classes) of a rock song with a groove change at its middle."""
    from drumscribe.transcribe.vocabulary import CLASS_NAMES

    rng = np.random.default_rng(seed)
    fps, spb = 100.0, 60.0 / bpm
    classes = list(CLASS_NAMES)
    n = int(seconds * fps)
    v = rng.uniform(0, 0.03, (n, len(classes)))
    t = np.arange(n) / fps
    notes = []
    k = 0
    while first + k * spb < seconds - 1.5:
        b = first + k * spb
        late = b > seconds / 2
        notes += [(b, "ride" if late else "hihat_closed"), (b + spb / 2, "hihat_closed")]
        notes.append((b, "kick" if k % 2 == 0 else "snare_head"))
        if k % 4 == 2 and late:
            notes.append((b + 3 * spb / 4, "kick"))
        if k % 16 == 15:
            notes += [(b + spb / 4, "high_mid_tom"), (b + spb / 2, "floor_tom"),
                      (b + 3 * spb / 4, "floor_tom")]
        if k % 16 == 0:
            notes += [(b, "crash"), (b, "floor_tom"), (b, "hihat_pedal")]
        k += 1
    for tn, c in notes:
        j = classes.index(c)
        v[:, j] = np.maximum(v[:, j], rng.uniform(0.7, 1) * np.exp(-0.5 * ((t - tn) / 0.012) ** 2))
    return v.astype(np.float32), classes, fps


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    _node()
    from drumscribe.charts.folder import write_ogg
    from drumscribe.transcribe import cli, inference
    from drumscribe.transcribe.activations import Activations
    from drumscribe.transcribe.features import FeatureSettings
    from drumscribe.transcribe.model import build_model, save_checkpoint

    tmp = tmp_path_factory.mktemp("scan")
    v, classes, fps = _song()
    ckpt = tmp / "tiny.pt"
    save_checkpoint(ckpt, build_model(classes), classes, FeatureSettings())
    plain = tmp / "Plain Song.wav"
    sf.write(plain, np.zeros(int(44100 * len(v) / fps), np.float32), 44100)
    tagged = tmp / "Tagged Song.ogg"
    write_ogg(str(tagged), np.zeros(int(44100 * len(v) / fps), np.float32), 44100)
    tag_ogg(tagged, {"title": "Tagged", "artist": "The Taggers", "album": "Tags",
                     "genre": "Rock", "date": "2021"}, _png())
    mp = pytest.MonkeyPatch()
    mp.setattr(inference.Transcriber, "activations_from_file",
               lambda self, p: Activations(v, fps, classes, "", str(p)))
    try:
        base = ["--model", str(ckpt), "--no-calibration", "--threshold", "0.5", "-q"]
        assert cli.main([str(plain), "--chart", str(tmp / "charts"), "-o", str(tmp / "m1"),
                         "--artist", "A Band", "--album", "An Album", "--genre", "Rock",
                         "--year", "2024"] + base) == 0
        assert cli.main([str(tagged), "--chart", str(tmp / "charts"), "-o", str(tmp / "m2")]
                        + base) == 0
        assert cli.main([str(plain), "--chart", str(tmp / "charts_chart"), "-o", str(tmp / "m3"),
                         "--chart-format", "chart", "--title", "Plain", "--artist", "A Band",
                         "--album", "An Album", "--genre", "Rock", "--year", "2024"] + base) == 0
    finally:
        mp.undo()
    return {"flags": tmp / "charts" / "Plain Song", "tags": tmp / "charts" / "Tagged Song",
            "chart": tmp / "charts_chart" / "Plain Song"}


def tag_ogg(path, tags, png=None):
    """Write Vorbis comments (and a front-cover picture) into an OGG file (mutagen)."""
    import base64

    from mutagen.flac import Picture
    from mutagen.oggvorbis import OggVorbis

    f = OggVorbis(path)
    for k, val in tags.items():
        f[k] = val
    if png is not None:
        pic = Picture()
        pic.type, pic.mime, pic.data, pic.width, pic.height, pic.depth = 3, "image/png", png, 500, 500, 24
        f["metadata_block_picture"] = [base64.b64encode(pic.write()).decode("ascii")]
    f.save()


def _png():
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(5, 5), dpi=100)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@pytest.mark.parametrize("which", ["flags", "tags", "chart"])
def test_scan_chart_finds_no_issue(folders, which):
    """Done when: scan-chart reports no invalidChord, badEndEvent, noSections,
    multipleChart or missingValue; the chart has Star Power phrases and drum fills."""
    (res,) = scan([folders[which]])
    issues = set(res["issues"])
    assert res["playable"] and not issues & FORBIDDEN, res["details"]
    if which != "tags":
        assert issues <= {"noAlbumArt"}, res["details"]  # the input file has no art
    else:
        assert not issues, res["details"]
        assert (res["name"], res["artist"], res["album"], res["year"]) == (
            "Tagged", "The Taggers", "Tags", "2021")
    assert res["drumType"] == 1  # four-lane pro drums (cymbals and toms)
    assert res["sections"] >= 2 and res["tempos"] == 1
    for tr in res["tracks"]:
        assert tr["starPower"] >= 2 and tr["fills"] >= 1, tr
    counts = {c["difficulty"]: c["count"] for c in res["noteCounts"]}
    assert counts["expert"] > counts["hard"] > counts["medium"] > counts["easy"] > 0
