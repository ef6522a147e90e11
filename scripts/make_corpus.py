#!/usr/bin/env python
"""Build the rendered drum-transcription training corpus (see training/README.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out_dir")
    ap.add_argument("--hours-train", type=float, default=4.0)
    ap.add_argument("--hours-val", type=float, default=0.5)
    ap.add_argument("--hours-test", type=float, default=0.5)
    ap.add_argument("--unseen-hours", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clip-seconds", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--install", action="store_true", help="apt-get install the kit packages when missing")
    a = ap.parse_args(argv)
    from training.corpus import build_corpus
    from training.kits import ensure_packages

    if a.install:
        ensure_packages()
    build_corpus(a.out_dir, {"train": a.hours_train, "val": a.hours_val, "test": a.hours_test,
                             "unseen": a.unseen_hours}, a.seed, a.clip_seconds, a.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
