#!/usr/bin/env python
"""Same as the ``calibrate`` command: ``python scripts/calibrate.py --predictions DIR -o cal.yaml``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drumscribe.calibration.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
