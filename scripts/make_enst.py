#!/usr/bin/env python
"""Build the ENST-Drums validation folders (drums/, mixes/, manifest.csv); research use only.

See training/enst.py for what is kept and the label mapping.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    """Command-line entry point."""
    from drumscribe.training.enst import DEFAULT_SNAPSHOT, build_enst

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--snapshot", default=str(DEFAULT_SNAPSHOT),
                    help="the snapshot's git directory or a plain folder copy (default: %(default)s)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "enst"),
                    help="output folder (default: enst/ at the repository root)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    show = None if a.quiet else (lambda r: print(f"{r['set']:5s} {r['clip']}  {r['duration_s']:.1f} s",
                                                 flush=True))
    rows = build_enst(a.snapshot, a.out, progress=show)
    for s in ("drums", "mixes"):
        sel = [r for r in rows if r["set"] == s]
        print(f"{s}: {len(sel)} files, {sum(r['duration_s'] for r in sel) / 60:.1f} min")
    print(f"wrote {a.out} (licence: research use only; never train on it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
