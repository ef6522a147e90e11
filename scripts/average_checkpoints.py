#!/usr/bin/env python
"""Average the weights of several checkpoints of one training run (weight averaging).

    python scripts/average_checkpoints.py runs/v8/epoch9.pt runs/v8/epoch10.pt ... -o runs/v8/avg.pt

Snapshots of one fine-tuning run lie close together in weight space; their
mean often scores like the better snapshots with less epoch-to-epoch noise
(Izmailov et al., "Averaging Weights Leads to Wider Optima", 2018). Runs
fine-tuned from the same weights with different data or settings can be
averaged the same way, a "model soup" (Wortsman et al., 2022); pick among such
averages on validation data (``scripts/validate_checkpoints.py``,
``scripts/evaluate.py`` on the ENST sets), never on the reserved kits. Every
floating-point tensor (batch-norm running statistics included) is averaged;
integer tensors (batch counters) are taken from the last checkpoint. The
checkpoints must share class list, architecture and features; the output
records which files it averaged (``training.averaged_from``) and refuses to
overwrite an existing file unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def average(paths):
    """The averaged checkpoint dictionary of ``paths`` (in the format they share)."""
    import torch

    if not paths:
        raise ValueError("no checkpoints to average")
    ckpts = [torch.load(str(p), map_location="cpu", weights_only=True) for p in paths]
    first = ckpts[0]
    for p, c in zip(paths[1:], ckpts[1:]):
        for key in ("classes", "arch", "features"):
            if c.get(key) != first.get(key):
                raise ValueError(f"{p}: its {key} differs from {paths[0]}'s; average checkpoints of one model layout only")
        if set(c["state_dict"]) != set(first["state_dict"]):
            raise ValueError(f"{p}: its tensors differ from {paths[0]}'s")
    state = {}
    for name, last in ckpts[-1]["state_dict"].items():
        if torch.is_floating_point(last):
            state[name] = torch.stack([c["state_dict"][name].float() for c in ckpts]).mean(0).to(last.dtype)
        else:
            state[name] = last.clone()
    out = dict(ckpts[-1])
    out["state_dict"] = state
    training = dict(out.get("training") or {})
    training["averaged_from"] = [str(p) for p in paths]
    out["training"] = training
    return out


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args(argv)
    import torch

    from drumscribe.transcribe.errors import OutputError
    from drumscribe.transcribe.io import atomic_write

    out = Path(a.out)
    if out.exists() and not a.overwrite:
        print(f"{out}: exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    missing = [p for p in a.checkpoints if not Path(p).is_file()]
    if missing:
        print(f"{missing[0]}: no such checkpoint", file=sys.stderr)
        return 2
    try:
        ckpt = average(a.checkpoints)
    except (ValueError, KeyError) as exc:
        print(f"average_checkpoints: {exc}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(out, "wb") as fh:  # no partial file on failure
            torch.save(ckpt, fh)
    except OutputError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{out}: the mean of {len(a.checkpoints)} checkpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main())
