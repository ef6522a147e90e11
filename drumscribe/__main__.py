"""``python -m drumscribe``: the ``transcribe`` command."""

import sys

from drumscribe.transcribe.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
