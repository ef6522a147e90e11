#!/usr/bin/env python
"""Render the bundled example song: examples/example.mp3 + examples/example.tsv.

A generated rock groove (with a tom fill, crashes, open hi-hats and ghost notes)
played on the Hydrogen kit GMRockKit -- a kit of the corpus's *test* split, never
trained on -- with a synthetic bass/chords accompaniment underneath. The .tsv
holds the known onsets (time, class, velocity) that the README's first command
is checked against.

    python scripts/make_example.py [--out examples] [--seed 7]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from drumscribe.training.grooves import generate_groove  # noqa: E402
from drumscribe.training.kits import HYDROGEN_DIR, load_hydrogen  # noqa: E402
from drumscribe.training.render import render_clip  # noqa: E402
from drumscribe.transcribe.annotations import write_text_annotations  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="examples")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--kit", default=str(Path(HYDROGEN_DIR) / "GMRockKit"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kit = load_hydrogen(args.kit, role="test")
    events, tempo = generate_groove("rock", args.seed, args.seconds, tempo=104.0)
    audio, labels, info = render_clip(kit, events, args.seconds, tempo, args.seed,
                                      accomp_p=1.0, augment_strength=0.3)
    audio = 0.8 * audio / max(1e-9, float(np.abs(audio).max()))
    sf.write(out / "example.mp3", audio, 44100, format="MP3", subtype="MPEG_LAYER_III")
    write_text_annotations(out / "example.tsv", labels)
    print(f"wrote {out / 'example.mp3'} ({args.seconds:.0f} s, {tempo:.0f} BPM, {len(labels)} onsets, "
          f"kit {Path(args.kit).name}, info {info})")


if __name__ == "__main__":
    main()
