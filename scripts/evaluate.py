#!/usr/bin/env python
"""Event-level evaluation of a model on labelled folders, at 0.5 and at calibrated thresholds.

    python scripts/evaluate.py --model models/default.pt --calibration calibration/default.yaml \
        --data corpus/test --data corpus/unseen

Prints, per folder, a markdown table of F1 / precision / recall at ±50 ms per class,
for the core and other classes, and for the five coarse groups, then the five-group
F1 on one line per threshold setting (``--brief``: only those lines), then whether the
calibrated thresholds beat the fixed 0.5 and the calibration's global threshold: in
macro F1 and per class with at least ``--min-support`` onsets, naming the losses. Onsets come from
the same postprocessing stage as ``transcribe`` (``Postprocessor.run``: transforms,
pickers and filters), with the plugins and config given here; pass the ones the
calibration file was fitted with, or it is refused by name.

``--lowpass HZ`` and ``--gain-db DB`` transform the decoded audio before the model
(a steep zero-phase low-pass, then a gain; see calibration/transforms.py), to check
how the model copes with band-limited or louder/quieter recordings. ``--percussive F``
first keeps the audio's percussive part plus ``F`` of the rest (a median-filtering
percussive/harmonic split), to measure how much the accompaniment's sustained partials
cost on full mixes.

``--heard-as floor_tom,crash`` also prints, for those reference classes, the share of
their onsets that have an output onset of each class within the window, at 0.5 and
calibrated: what the model hears a class it misses as
(:func:`drumscribe.calibration.evaluate.heard_as`).

``--false-alarms`` also prints, per class, where its false alarms lie, at 0.5 and
calibrated: a duplicate of a matched hit, off-time (a true onset of the class within
150 ms but outside the window), on another class's true onset (which ones), or on no
true onset at all (:func:`drumscribe.calibration.evaluate.false_alarms`).
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
    p.add_argument("--percussive", type=float, default=None, metavar="FLOOR",
                   help="keep the percussive part of the audio plus FLOOR (0-1) of the rest, before the model")
    p.add_argument("--brief", action="store_true", help="print only the five-group F1 lines")
    p.add_argument("--heard-as", default=None, metavar="CLASS,CLASS",
                   help="also print, for these reference classes, which classes the stage outputs "
                        "within the window of their onsets (what a missed class is heard as)")
    p.add_argument("--false-alarms", action="store_true",
                   help="also print, per class, where its false alarms lie (duplicate, off-time, "
                        "on another class's onset, on no onset)")
    p.add_argument("--min-support", type=int, default=50,
                   help="classes with fewer reference onsets are left out of the per-class verdict")
    p.add_argument("--config", default=None, help="transcribe config (class groups, plugins)")
    p.add_argument("--plugin", action="append", default=[], help="extra postprocessing plugin")
    p.add_argument("--force", action="store_true", help="accept a calibration fitted otherwise")
    args = p.parse_args(argv)
    if args.percussive is not None and not 0.0 <= args.percussive <= 1.0:
        p.error(f"--percussive {args.percussive:g}: the floor must lie in [0, 1]")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from drumscribe.calibration.data import PredictionCache, audio_items, default_cache_dir
    from drumscribe.calibration.evaluate import (evaluate, false_alarms, false_alarms_table, groups_line, heard_as,
                                                 heard_as_table, markdown_table, versus)
    from drumscribe.calibration.transforms import AudioTransform
    from drumscribe.transcribe.config import Config, load_config
    from drumscribe.transcribe.inference import Transcriber
    from drumscribe.transcribe.pipeline import Postprocessor

    tr = Transcriber(args.model)
    ck = tr.checkpoint
    transform = AudioTransform(args.lowpass, args.gain_db, args.percussive)
    cache = PredictionCache(tr, args.cache_dir or default_cache_dir(), transform)
    w = args.window_ms / 1000.0
    def config(calibration):
        cfg = load_config(args.config) if args.config else Config()
        cfg.postprocessing.calibration_file = calibration
        return cfg

    from drumscribe.calibration.calfile import read_calibration

    fixed = Postprocessor(config(None), ck.classes, ck.fingerprint, plugins=args.plugin)
    cal, g = None, None
    if args.calibration != "none":
        cal = Postprocessor(config(args.calibration), ck.classes, ck.fingerprint, plugins=args.plugin,
                            force=args.force)
        g = read_calibration(args.calibration).global_threshold
    names = list(ck.classes) + list(fixed.config.postprocessing.class_groups)
    refs = [c.strip() for c in args.heard_as.split(",") if c.strip()] if args.heard_as else []
    unknown = [c for c in refs if c not in ck.classes]
    if unknown:
        p.error(f"--heard-as {','.join(unknown)}: not a class of {args.model} ({', '.join(ck.classes)})")
    for d in args.data:
        items, skipped = audio_items(d, cache)
        evals = {"0.5": evaluate(items, {c: 0.5 for c in names}, window=w, postprocessor=fixed,
                                 progress=True)}
        if g is not None:  # the calibration's one global threshold, for the model card's comparison
            evals[f"global {g:.3f}"] = evaluate(items, {c: g for c in names}, window=w,
                                                postprocessor=fixed)
        if cal is not None:
            evals["calibrated"] = evaluate(items, None, window=w, postprocessor=cal)
        what = f", audio {transform.key}" if transform.key else ""
        print(f"\n### {d} ({evals['0.5'].files} files, ±{args.window_ms:g} ms{what})\n")
        if not args.brief:
            print("\n".join(markdown_table(evals, ck.classes)))
            print()
        for name, e in evals.items():
            print(f"five-group F1 at {name + ':':<12} {groups_line(e)}")
        for line in versus(evals, ck.classes, min_support=args.min_support):
            print(line)
        if refs:
            for name, pp, th in (("0.5", fixed, {c: 0.5 for c in names}), ("calibrated", cal, None)):
                if pp is None:
                    continue
                print(f"\nheard as, at {name}:\n")
                print("\n".join(heard_as_table(heard_as(items, refs, th, w, pp), ck.classes)))
        if args.false_alarms:
            for name, pp, th in (("0.5", fixed, {c: 0.5 for c in names}), ("calibrated", cal, None)):
                if pp is None:
                    continue
                print(f"\nfalse alarms, at {name}:\n")
                print("\n".join(false_alarms_table(false_alarms(items, th, w, pp), ck.classes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
