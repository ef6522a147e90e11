#!/usr/bin/env python
"""Benchmark: chart folders of real transcriptions, checked by scan-chart.

    python bench/bench_charts.py [--cache /tmp/drumscribe_beats] [--enst /work/enst/mixes]
                                 [--out /tmp/drumscribe_charts]

Runs ``transcribe SONG --chart DIR`` (the shipped model, calibration and plugins)
on the rendered clips of ``bench/bench_beats.py`` and on the ENST minus-one mixes,
with ``--artist/--album/--genre/--year`` given, then scans every folder with
scan-chart (``tests/scan_chart``, ``npm ci --prefix tests/scan_chart``) and
prints per song the issues, tempo markers, Star Power phrases, fills, sections
and the notes per difficulty, and in total how many songs have each issue.

Goal (issue 12): no invalidChord, badEndEvent, noSections, multipleChart or
missingValue; Star Power phrases and fills in every chart; Medium and Easy differ
on every song longer than 30 s; note density falls by difficulty.
"""
from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
GOAL = ("invalidChord", "badEndEvent", "noSections", "multipleChart", "missingValue")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--cache", default="/tmp/drumscribe_beats", help="bench_beats.py's clips")
    ap.add_argument("--enst", default="/work/enst/mixes")
    ap.add_argument("--out", default="/tmp/drumscribe_charts")
    args = ap.parse_args(argv)
    from drumscribe.charts.mid_format import read_notes_mid

    songs = sorted(Path(args.cache).glob("clip*.flac"))
    if Path(args.enst).is_dir():
        songs += sorted(Path(args.enst).glob("*minus-one*.wav"))
    if not songs:
        print("no songs: run bench/bench_beats.py first (it renders the clips)")
        return 1
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "drumscribe.transcribe", *map(str, songs), "--chart", str(out / "charts"),
           "-o", str(out / "midi"), "-q", "--artist", "Bench", "--album", "Bench clips",
           "--genre", "Rock", "--year", "2026"]
    subprocess.run(cmd, check=True, cwd=ROOT)
    node = shutil.which("node")
    folders = sorted((out / "charts").iterdir())
    res = subprocess.run([node, str(ROOT / "tests" / "scan_chart" / "scan.js"), *map(str, folders)],
                         capture_output=True, text=True, check=True, cwd=ROOT / "tests" / "scan_chart")
    tally = collections.Counter()
    bad = []
    for line in res.stdout.splitlines():
        r = json.loads(line)
        name = Path(r["folder"]).name
        issues = sorted(set(r["issues"]))
        tally.update(issues)
        counts = {c["difficulty"]: c["count"] for c in r["noteCounts"]}
        mid = read_notes_mid(Path(r["folder"]) / "notes.mid")
        med = [(n.tick, n.lane) for n in mid.notes["Medium"]]
        easy = [(n.tick, n.lane) for n in mid.notes["Easy"]]
        long = r["song_length"] > 30000
        differ = med != easy
        falls = counts["expert"] > counts["hard"] > counts["medium"] > counts["easy"] > 0
        sp = min(t["starPower"] for t in r["tracks"])
        fills = min(t["fills"] for t in r["tracks"])
        ok = (not set(issues) & set(GOAL)) and sp > 0 and fills > 0 and (differ or not long) and falls
        if not ok:
            bad.append(name)
        print(f"{name[:44]:44s} {'ok ' if ok else 'BAD'} tempos {r['tempos']:2d} SP {sp:2d} fills "
              f"{fills:2d} sections {r['sections']:2d} notes E/H/M/Ea {counts['expert']:4d}/"
              f"{counts['hard']:4d}/{counts['medium']:4d}/{counts['easy']:4d} "
              f"M!=E {differ!s:5s} issues {','.join(issues) or '-'}")
    print()
    print(f"{len(folders)} charts; songs with each issue: "
          + (", ".join(f"{k} {v}" for k, v in sorted(tally.items())) or "none"))
    print(f"goal issues ({', '.join(GOAL)}): {sum(tally[k] for k in GOAL)}; "
          f"charts failing a goal: {len(bad)} {bad}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
