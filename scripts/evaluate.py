#!/usr/bin/env python
"""Event-level evaluation of a model on labelled folders, at 0.5 and at calibrated thresholds.

    python scripts/evaluate.py --model models/default.pt --calibration calibration/default.yaml \
        --data corpus/test --data corpus/unseen

Prints, per folder, a markdown table of F1 / precision / recall at ±50 ms per class,
for the core and other classes, and for the five coarse groups, then the five-group
F1 on one line per threshold setting (``--brief``: only those lines).

``--lowpass HZ`` and ``--gain-db DB`` transform the decoded audio before the model
(a steep zero-phase low-pass, then a gain; see calibration/transforms.py), to check
how the model copes with band-limited or louder/quieter recordings.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="models/default.pt")
    p.add_argument("--calibration", default="calibration/default.yaml",
                   help="calibration file, or 'none' to score the fixed 0.5 only")
    p.add_argument("--data", action="append", required=True, help="folder of audio + .tsv/.mid")
    p.add_argument("--window-ms", type=float, default=50.0)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--lowpass", type=float, default=None, metavar="HZ",
                   help="low-pass the audio at HZ (8th-order Butterworth, zero phase) before the model")
    p.add_argument("--gain-db", type=float, default=0.0, metavar="DB",
                   help="apply this gain (dB, no clipping) to the audio before the model")
    p.add_argument("--brief", action="store_true", help="print only the five-group F1 lines")
    args = p.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from calibration.data import PredictionCache, audio_items, default_cache_dir
    from calibration.evaluate import evaluate, groups_line, markdown_table
    from calibration.transforms import AudioTransform
    from transcribe.config import config_from_dict
    from transcribe.inference import Transcriber
    from transcribe.pipeline import Postprocessor

    tr = Transcriber(args.model)
    ck = tr.checkpoint
    transform = AudioTransform(args.lowpass, args.gain_db)
    cache = PredictionCache(tr, args.cache_dir or default_cache_dir(), transform)
    w = args.window_ms / 1000.0
    fixed = Postprocessor(config_from_dict({}), ck.classes, ck.fingerprint)
    cal = None
    if args.calibration != "none":
        cal = Postprocessor(config_from_dict({"postprocessing": {"calibration_file": args.calibration}}),
                            ck.classes, ck.fingerprint)
    for d in args.data:
        items, skipped = audio_items(d, cache)
        e_fixed = evaluate(items, {c: 0.5 for c in ck.classes}, window=w, postprocessor=fixed,
                           progress=True)
        e_cal = evaluate(items, None, window=w, postprocessor=cal) if cal is not None else None
        what = f", audio {transform.key}" if transform.key else ""
        print(f"\n### {d} ({e_fixed.files} files, ±{args.window_ms:g} ms{what})\n")
        if not args.brief:
            runs = {"0.5": e_fixed} if e_cal is None else {"0.5": e_fixed, "calibrated": e_cal}
            print("\n".join(markdown_table(runs, ck.classes)))
            print()
        print(f"five-group F1 at 0.5:        {groups_line(e_fixed)}")
        if e_cal is not None:
            print(f"five-group F1 at calibrated: {groups_line(e_cal)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
