#!/usr/bin/env python
"""Five-group F1 of a model under audio changes: low-pass and gain.

Usage::

    python bench/bench_robustness.py --model models/default.pt --data /work/enst/drums \
        [--data /work/enst/mixes] [--threshold 0.5] [--threads 1]

For each folder it prints a markdown table with one row per condition: the
original audio, a 10 kHz steep low-pass, +20 dB and -20 dB (no clipping; see
calibration/transforms.py), each with its five-group F1 (kick / snare / toms /
hi-hat / cymbals+ride, ±50 ms) and the change from the original, plus the tom
ratio (predicted tom onsets / reference tom onsets). Thresholds are the
shipped calibration's unless ``--threshold`` fixes one for every class.
Predictions are cached per condition (the transform is part of the cache key).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONDITIONS = (("original", None, 0.0), ("low-pass 10 kHz", 10000.0, 0.0),
              ("+20 dB", None, 20.0), ("-20 dB", None, -20.0))


def _cell(f, base):
    if f is None:
        return "n/a"
    if base is None:
        return f"{f:.3f}"
    return f"{f:.3f} ({f - base:+.3f})"


def main(argv=None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="models/default.pt")
    p.add_argument("--calibration", default="calibration/default.yaml")
    p.add_argument("--data", action="append", default=None,
                   help="folder of audio + .tsv (default: /work/enst/drums)")
    p.add_argument("--threshold", type=float, default=None,
                   help="one threshold for every class instead of the calibration")
    p.add_argument("--window-ms", type=float, default=50.0)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from drumscribe.calibration.data import PredictionCache, audio_items, default_cache_dir
    from drumscribe.calibration.evaluate import group_f1, evaluate
    from drumscribe.calibration.transforms import AudioTransform
    from drumscribe.transcribe.config import config_from_dict
    from drumscribe.transcribe.inference import Transcriber
    from drumscribe.transcribe.pipeline import Postprocessor
    from drumscribe.transcribe.vocabulary import GROUPS

    tr = Transcriber(args.model)
    ck = tr.checkpoint
    if args.threshold is None:
        conf = {"postprocessing": {"calibration_file": args.calibration}}
        thresholds, how = None, f"calibration {args.calibration}"
    else:
        conf, thresholds = {}, {c: args.threshold for c in ck.classes}
        how = f"threshold {args.threshold:g}"
    pp = Postprocessor(config_from_dict(conf), ck.classes, ck.fingerprint)
    for d in args.data or ["/work/enst/drums"]:
        rows, base = [], None
        for name, lp, gain in CONDITIONS:
            cache = PredictionCache(tr, args.cache_dir or default_cache_dir(), AudioTransform(lp, gain))
            items, _ = audio_items(d, cache)
            ev = evaluate(items, thresholds, window=args.window_ms / 1000.0, postprocessor=pp)
            f1 = group_f1(ev)
            toms = ev.groups.get("toms")
            ratio = (toms.tp + toms.fp) / toms.support if toms and toms.support else None
            rows.append((name, f1, ratio))
            if base is None:
                base = (f1, ratio, ev.files)
        print(f"\n### {d} ({base[2]} files, {Path(args.model).name}, {how}, ±{args.window_ms:g} ms)\n")
        print("| audio | " + " | ".join(GROUPS) + " | tom ratio |")
        print("|---" * (len(GROUPS) + 2) + "|")
        for i, (name, f1, ratio) in enumerate(rows):
            cells = [_cell(f1[g], None if i == 0 else base[0][g]) for g in GROUPS]
            r = "n/a" if ratio is None else f"{ratio:.2f}"
            print(f"| {name} | " + " | ".join(cells) + f" | {r} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
