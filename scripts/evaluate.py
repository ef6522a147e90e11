#!/usr/bin/env python
"""Event-level evaluation of a model on labelled folders, at 0.5 and at calibrated thresholds.

    python scripts/evaluate.py --model models/default.pt --calibration calibration/default.yaml \
        --data corpus/test --data corpus/unseen

Prints, per folder, a markdown table of F1 / precision / recall at ±50 ms per class,
for the core and other classes, and for the five coarse groups. Onsets come from the
same postprocessing stage as ``transcribe`` (``Postprocessor.run``: transforms, pickers
and filters), with the plugins and config given here; pass the ones the calibration
file was fitted with, or it is refused by name.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="models/default.pt")
    p.add_argument("--calibration", default="calibration/default.yaml")
    p.add_argument("--data", action="append", required=True, help="folder of audio + .tsv/.mid")
    p.add_argument("--window-ms", type=float, default=50.0)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--config", default=None, help="transcribe config (class groups, plugins)")
    p.add_argument("--plugin", action="append", default=[], help="extra postprocessing plugin")
    p.add_argument("--force", action="store_true", help="accept a calibration fitted otherwise")
    args = p.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from calibration.data import PredictionCache, audio_items, default_cache_dir
    from calibration.evaluate import evaluate, markdown_table
    from transcribe.config import Config, load_config
    from transcribe.inference import Transcriber
    from transcribe.pipeline import Postprocessor

    tr = Transcriber(args.model)
    ck = tr.checkpoint
    cache = PredictionCache(tr, args.cache_dir or default_cache_dir())
    w = args.window_ms / 1000.0
    def config(calibration):
        cfg = load_config(args.config) if args.config else Config()
        cfg.postprocessing.calibration_file = calibration
        return cfg

    from calibration.calfile import read_calibration

    fixed = Postprocessor(config(None), ck.classes, ck.fingerprint, plugins=args.plugin)
    cal = Postprocessor(config(args.calibration), ck.classes, ck.fingerprint, plugins=args.plugin,
                        force=args.force)
    names = list(ck.classes) + list(fixed.config.postprocessing.class_groups)
    g = read_calibration(args.calibration).global_threshold
    for d in args.data:
        items, skipped = audio_items(d, cache)
        evals = {"0.5": evaluate(items, {c: 0.5 for c in names}, window=w, postprocessor=fixed,
                                 progress=True)}
        if g is not None:  # the calibration's one global threshold, for the model card's comparison
            evals[f"global {g:.3f}"] = evaluate(items, {c: g for c in names}, window=w,
                                                postprocessor=fixed)
        evals["calibrated"] = evaluate(items, None, window=w, postprocessor=cal)
        print(f"\n### {d} ({evals['0.5'].files} files, ±{args.window_ms:g} ms)\n")
        print("\n".join(markdown_table(evals, ck.classes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
