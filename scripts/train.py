#!/usr/bin/env python
"""Train the drumscribe CRNN on a rendered corpus.

    python scripts/make_corpus.py corpus --hours-train 6 --hours-val 0.6 --hours-test 0.5 \
        --unseen-hours 0.5 --seed 0 --jobs 2
    python scripts/train.py --corpus corpus --out models/default.pt --run-dir runs/default

Logs metrics.csv and TensorBoard files to the run folder; --resume continues from
<run-dir>/last.pt.
"""
import argparse
import sys
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drumscribe.training.train import TrainConfig, train  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name == "classes":
            continue
        flag = "--" + f.name.replace("_", "-")
        val = getattr(defaults, f.name)
        if isinstance(val, bool):
            p.add_argument(flag, action="store_true")
        else:
            p.add_argument(flag, type=type(val), default=val)
    args = p.parse_args(argv)
    cfg = TrainConfig(**{k: v for k, v in vars(args).items()})
    best = train(cfg)
    if best:
        print(f"best epoch {best['epoch']}: val_loss {best['val_loss']:.4f}, "
              f"roc_auc_macro {best['val_roc_auc_macro']}, pr_auc_macro {best['val_pr_auc_macro']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
