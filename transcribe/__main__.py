"""``python -m drumscribe.transcribe``: the ``transcribe`` command (same as ``python -m drumscribe.transcribe.cli``)."""

import sys

from .cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
