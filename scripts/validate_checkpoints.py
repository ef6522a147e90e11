#!/usr/bin/env python
"""Score checkpoints on the validation data the way ``scripts/train.py`` selects epochs.

    python scripts/validate_checkpoints.py runs/v12/epoch12.pt runs/soup/s3.pt \\
        --corpus corpus --val-extra /work/enst/drums,/work/enst/mixes

For each checkpoint: the frame-level macro PR AUC and ROC AUC over the classes with
positives, on ``CORPUS/val`` plus the ``--val-extra`` folders, computed by the
training code's own functions (``training.train.load_validation``, ``predict_clips``
and ``auc_metrics``), so a figure here equals the ``pr`` column of the run's log for
the same weights and data. Use it to choose among checkpoints that no training run scored, such as
averages of several runs (``scripts/average_checkpoints.py``), on validation data
only. Prints a Markdown table, one row per checkpoint in the order given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def score(ck, clips):
    """Macro PR AUC and ROC AUC of a loaded checkpoint on validation clips.

    Parameters
    ----------
    ck : drumscribe.transcribe.model.Checkpoint
    clips : list of drumscribe.training.dataset.Clip
        Loaded with ``ck``'s classes and feature settings
        (``training.train.load_validation``).

    Returns
    -------
    dict
        ``val_pr_auc_macro``, ``val_roc_auc_macro`` and the per-class figures.
    """
    import numpy as np

    from drumscribe.training.train import auc_metrics, predict_clips

    logits = np.concatenate(predict_clips(ck.model, clips))
    hard = np.concatenate([c.hard for c in clips])
    return auc_metrics(hard, 1.0 / (1.0 + np.exp(-logits)), ck.classes)


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--corpus", default="corpus", help="corpus folder; its val split is scored (default corpus)")
    ap.add_argument("--val-extra", default="", metavar="DIRS",
                    help="comma-separated folders of audio + tsv scored with the val split, as in scripts/train.py")
    ap.add_argument("--cache-dir", default=None,
                    help="feature cache for the --val-extra folders (default: a _features folder beside each)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    a = ap.parse_args(argv)
    import torch

    from drumscribe.training.dataset import settings_key
    from drumscribe.training.train import load_validation
    from drumscribe.transcribe.errors import CheckpointError
    from drumscribe.transcribe.model import load_checkpoint

    if a.threads:
        torch.set_num_threads(a.threads)
    if not (Path(a.corpus) / "val").is_dir():
        print(f"{a.corpus}/val: no such folder; build the corpus with scripts/make_corpus.py", file=sys.stderr)
        return 2
    extras = [e.strip() for e in a.val_extra.split(",") if e.strip()]
    for e in extras:
        if not Path(e).is_dir():
            print(f"{e}: no such folder (--val-extra)", file=sys.stderr)
            return 2
    print("| checkpoint | val PR AUC (macro) | val ROC AUC (macro) |")
    print("|---|---:|---:|")
    status = 0
    loaded = {}  # checkpoints of one class list and feature layout share their clips
    for p in a.checkpoints:
        try:
            ck = load_checkpoint(p)
            key = (tuple(ck.classes), settings_key(ck.features))
            if key not in loaded:
                loaded[key] = load_validation(a.corpus, extras, ck.classes, ck.features,
                                              extra_cache=a.cache_dir, progress=False)
            m = score(ck, loaded[key])
        except (CheckpointError, OSError) as exc:
            print(f"{p}: {exc}", file=sys.stderr)
            status = 2
            continue
        print(f"| {p} | {m['val_pr_auc_macro']:.4f} | {m['val_roc_auc_macro']:.4f} |", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
