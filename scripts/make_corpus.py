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
    ap.add_argument("--accomp-db", type=float, nargs=2, default=[-10.0, 10.0], metavar=("LOW", "HIGH"),
                    help="range of the accompaniment's level against the drums, RMS dB (default: -10 10)")
    ap.add_argument("--kit-cache", default=None, metavar="DIR",
                    help="the kits' one-shot cache (default OUT_DIR/_kit_cache; point it at another "
                         "corpus's to skip rendering the kits again)")
    ap.add_argument("--timbre", type=float, default=0.0, metavar="S",
                    help="wider per-class pitch (up to +-4 semitones at 1) and random resonances "
                         "(up to +-9 dB at 1) in every clip, so that unseen real kits sound like "
                         "something the model knows (default 0: as the shipped corpus)")
    ap.add_argument("--strums", type=float, default=0.0, metavar="P",
                    help="probability of a recorded acoustic guitar strumming in each arranged "
                         "accompaniment (Debian hydrogen-drumkits-effects; default 0: as the shipped corpus)")
    ap.add_argument("--no-drums-share", type=float, default=0.06, metavar="F",
                    help="share of accompaniment-only clips in train and val (default 0.06)")
    ap.add_argument("--muldjord-share", type=float, default=0.25, metavar="F",
                    help="share of each split's clips played on the MuldjordKit, the one recorded "
                         "multi-microphone kit (default 0.25: as the shipped corpus)")
    ap.add_argument("--install", action="store_true", help="apt-get install the kit packages when missing")
    ap.add_argument("--muldjord", default=None,
                    help="MuldjordKit samples folder (default $DRUMSCRIBE_MULDJORD or data/muldjord)")
    ap.add_argument("--muldjord-from-git", default=None, metavar="GIT_DIR",
                    help="extract the MuldjordKit samples from a fetched snapshot of "
                         "github:sfzinstruments/DrumGizmo.MuldjordKit into --muldjord first")
    a = ap.parse_args(argv)
    if not 0 <= a.timbre <= 2:
        ap.error(f"--timbre {a.timbre:g}: use a strength from 0 (as the shipped corpus) to 2")
    if not 0 <= a.muldjord_share <= 1:
        ap.error(f"--muldjord-share {a.muldjord_share:g}: use a share from 0 to 1")
    if not 0 <= a.strums <= 1 or not 0 <= a.no_drums_share < 1:
        ap.error(f"--strums {a.strums:g} / --no-drums-share {a.no_drums_share:g}: use shares from 0 to 1")
    from drumscribe.training.corpus import build_corpus
    from drumscribe.training.kits import MULDJORD_DIR, ensure_packages, registry

    if a.install:
        ensure_packages()
    mdir = Path(a.muldjord or MULDJORD_DIR)
    if a.muldjord_from_git:
        from drumscribe.training.muldjord import extract

        print(f"MuldjordKit samples: {extract(a.muldjord_from_git, mdir)}")
    build_corpus(a.out_dir, {"train": a.hours_train, "val": a.hours_val, "test": a.hours_test,
                             "unseen": a.unseen_hours}, a.seed, a.clip_seconds, a.jobs,
                 kits=registry(muldjord_dir=mdir), accomp_db=tuple(a.accomp_db), kit_cache=a.kit_cache,
                 timbre=a.timbre, strums=a.strums, no_drums_fraction=a.no_drums_share,
                 muldjord_share=a.muldjord_share)
    return 0


if __name__ == "__main__":
    sys.exit(main())
