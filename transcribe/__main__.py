"""``python -m transcribe``: the ``transcribe`` command (same as ``python -m transcribe.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
