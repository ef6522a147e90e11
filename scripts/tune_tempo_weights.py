#!/usr/bin/env python
"""Score the beat tracker's backbeat weight on clips the tempo benchmark does not hold.

    python scripts/tune_tempo_weights.py --corpus corpus --model models/default.pt \\
        --beat-model models/beats.pt --cache runs/beats/acts --backbeat 0,1,1.5 \\
        [--classic-margin 0,0.1,0.3]

For every weight of :data:`drumscribe.charts.beats.NETWORK_BACKBEAT_WEIGHT` listed,
the tracker with the beat network runs over the clips held out of the beat network's
training (every tenth clip of ``corpus/train``, as ``scripts/train_beats.py`` holds them
out) and over ``corpus/val``, and prints tempo right (within 4 %), beat and downbeat
F-measure (:func:`drumscribe.training.beat_train.evaluate_dev`), and on how many of the
right and of the wrong tempos the chart would warn that the tempo is ambiguous, and on how
many (without that warning) that the classic tempo score reads twice or half the tempo. The drum model's
activations are cached in ``--cache`` (the same cache as ``scripts/train_beats.py``),
by clip name only: give every drum model a cache of its own.
``--classic-margin`` scores, with every backbeat weight, the margins of
:data:`drumscribe.charts.beats.CLASSIC_OCTAVE_MARGIN` listed (0, the shipped value, turns
:func:`drumscribe.charts.beats.classic_octave` off).
``bench/bench_beats.py`` scores the chosen weight on its own clips.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--model", type=Path, default=Path("models/default.pt"))
    ap.add_argument("--beat-model", type=Path, default=Path("models/beats.pt"))
    ap.add_argument("--cache", type=Path, default=Path("runs/beats/acts"))
    ap.add_argument("--backbeat", default="0,1",
                    help="comma-separated backbeat weights to score (default: %(default)s)")
    ap.add_argument("--classic-margin", default="0",
                    help="comma-separated classic-octave margins to score (default: %(default)s)")
    a = ap.parse_args(argv)
    from drumscribe.charts import beats
    from drumscribe.charts.beat_net import load_beat_model
    from drumscribe.training import beat_train

    weights = [float(w) for w in a.backbeat.split(",") if w.strip()]
    margins = [float(m) for m in a.classic_margin.split(",") if m.strip()]
    _, dev = beat_train.split_dev(beat_train.cache_activations(a.corpus, "train", a.model, a.cache))
    val = beat_train.cache_activations(a.corpus, "val", a.model, a.cache)
    model = load_beat_model(a.beat_model)
    shipped, shipped_margin = beats.NETWORK_BACKBEAT_WEIGHT, beats.CLASSIC_OCTAVE_MARGIN
    print("| backbeat weight | classic margin | clips | tempo right | beat F-measure | downbeat F-measure | "
          "ambiguity warning: right tempos | wrong tempos | octave warning: right tempos | wrong tempos |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    try:
        for w in weights:
            for m in margins:
                beats.NETWORK_BACKBEAT_WEIGHT, beats.CLASSIC_OCTAVE_MARGIN = w, m
                for name, recs in (("held out of training", dev), ("corpus/val", val)):
                    r = beat_train.evaluate_dev(model, recs)
                    right = round(r["tempo_ok"] * r["clips"])
                    print(f"| {w:g}{' (shipped)' if w == shipped else ''} | "
                          f"{m:g}{' (shipped)' if m == shipped_margin else ''} | {name} | "
                          f"{right} of {r['clips']:.0f} ({r['tempo_ok']:.1%}) | {r['beat_f']:.3f} | "
                          f"{r['downbeat_f']:.3f} | {r['warned_right']:.0f} of {right} | "
                          f"{r['warned_wrong']:.0f} of {r['clips'] - right:.0f} | "
                          f"{r['second_right']:.0f} of {right} | {r['second_wrong']:.0f} of "
                          f"{r['clips'] - right:.0f} |", flush=True)
    finally:
        beats.NETWORK_BACKBEAT_WEIGHT, beats.CLASSIC_OCTAVE_MARGIN = shipped, shipped_margin
    return 0


if __name__ == "__main__":
    sys.exit(main())
