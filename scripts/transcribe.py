#!/usr/bin/env python
"""Same as the ``transcribe`` command: ``python scripts/transcribe.py SONG -o OUT``."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from drumscribe.transcribe.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
