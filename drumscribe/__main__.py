"""``python -m drumscribe``: the ``transcribe`` command."""

import sys

from transcribe.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
