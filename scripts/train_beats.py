#!/usr/bin/env python
"""Train the beat network on the corpus's training clips.

    python scripts/train_beats.py --corpus corpus --model models/default.pt \\
        --cache runs/beats/acts --out models/beats.pt [--epochs 30]

The drum model is run once over ``corpus/train`` (activations cached in ``--cache``),
then the network trains for a fixed number of steps on nine in ten clips; the tenth
clip is held out and scored at the end (tempo right, beat F-measure). No model
selection: the last epoch is the model; the Groove MIDI validation performances that
``bench/bench_beats.py`` scores are never trained on.
A rerun resumes from the last epoch's checkpoint.

``--extra-corpus corpus_loud`` (repeatable) adds another corpus's training clips
(activations cached in ``--cache/extra-<name>``, as clip names repeat across corpora),
with every tenth of them held out in the same way; the held-out figures are printed
for the first corpus's clips (comparable with a run without extras) and for all.

With ``--seeds 0,1,2`` one network is trained per seed (``OUT.seed0.pt``, ...; each
resumable, and skipped when its state file says it is finished) and ``--out`` is their ensemble, whose
activations are the mean of the members' (:func:`drumscribe.charts.beat_net.ensemble`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--model", type=Path, default=Path("models/default.pt"))
    ap.add_argument("--cache", type=Path, default=Path("runs/beats/acts"))
    ap.add_argument("--out", type=Path, default=Path("runs/beats/beats.pt"))
    ap.add_argument("--extra-corpus", type=Path, action="append", default=[],
                    help="another corpus whose train split is trained on too (repeatable)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch")
    ap.add_argument("--hidden", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", default=None,
                    help="comma-separated seeds: train one network per seed, --out is their ensemble")
    ap.add_argument("--tempo-weight", type=float, default=0.2, help="weight of the tempo loss")
    ap.add_argument("--stretch", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
                    help="time-stretch range of the training crops (factor > 1 slows down; "
                         "default 0.8 1.25)")
    a = ap.parse_args(argv)
    if a.stretch is not None and not (0.2 <= a.stretch[0] <= a.stretch[1] <= 5.0):
        ap.error(f"--stretch {a.stretch[0]:g} {a.stretch[1]:g}: give LOW <= HIGH, both within 0.2 ... 5")
    import torch

    from drumscribe.training import beat_train

    torch.set_num_threads(max(1, torch.get_num_threads()))
    t0 = time.time()
    recs = beat_train.cache_activations(a.corpus, "train", a.model, a.cache)
    train, dev = beat_train.split_dev(recs)
    dev_main = list(dev)
    for extra in a.extra_corpus:
        recs_x = beat_train.cache_activations(extra, "train", a.model, a.cache / f"extra-{extra.name}")
        train_x, dev_x = beat_train.split_dev(recs_x)
        train, dev = train + train_x, dev + dev_x
    print(f"training data: {beat_train.describe(train)}; held out: {beat_train.describe(dev)} "
          f"({time.time() - t0:.0f} s)", flush=True)
    corpora = " + ".join(f"{c}/train" for c in [a.corpus, *a.extra_corpus])
    trained_on = f"{corpora} activations of {a.model.name} (every 10th clip held out)"
    kw = dict(epochs=a.epochs, steps_per_epoch=a.steps, hidden=a.hidden, tempo_weight=a.tempo_weight,
              trained_on=trained_on, log=lambda m: print(m, flush=True))
    if a.stretch is not None:
        kw["stretch"] = tuple(a.stretch)
        kw["trained_on"] = f"{trained_on}; time stretch {a.stretch[0]:g}-{a.stretch[1]:g}"
    if a.seeds is None:
        model = beat_train.train(train, seed=a.seed, out=a.out, **kw)
    else:
        from drumscribe.charts.beat_net import ensemble, load_beat_model

        seeds = [int(x) for x in a.seeds.split(",") if x.strip()]
        members = []
        for seed in seeds:
            path = a.out.with_name(f"{a.out.stem}.seed{seed}.pt")
            if beat_train.finished(path, a.epochs):
                print(f"seed {seed}: {path} is finished", flush=True)
                members.append(load_beat_model(path))
            else:
                print(f"seed {seed}: training {path}", flush=True)
                members.append(beat_train.train(train, seed=seed, out=path, **kw))
            res = beat_train.evaluate_dev(members[-1], dev)
            print(f"held-out clips (seed {seed}): tempo right {res['tempo_ok']:.1%}, "
                  f"beat F-measure {res['beat_f']:.3f}, downbeat F-measure {res['downbeat_f']:.3f}",
                  flush=True)
        model = ensemble(members, f"{trained_on}; ensemble of seeds {','.join(map(str, seeds))}")
        beat_train.save_model(model, a.out)
    sets = [("", dev_main)] + ([(" of all corpora", dev)] if a.extra_corpus else [])
    for label, clips in sets:
        for name, m in (("beat network", model), ("classic tracker", None)):
            res = beat_train.evaluate_dev(m, clips)
            print(f"held-out clips{label} ({name}): {res['clips']:.0f}, tempo right {res['tempo_ok']:.1%}, "
                  f"beat F-measure {res['beat_f']:.3f}, downbeat F-measure {res['downbeat_f']:.3f}")
    print(f"wrote {a.out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
