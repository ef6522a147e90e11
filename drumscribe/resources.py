"""Files shipped inside the package: the default model and its calibration.

Both are package data found with :mod:`importlib.resources`, so they are there
after ``pip install drumscribe-*.whl`` as well as in an editable checkout.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

MODEL_ENV = "DRUMSCRIBE_MODEL"


def shipped_model() -> Path:
    """The model shipped with the package (``models/default.pt`` in the repository)."""
    return Path(str(resources.files("drumscribe.models") / "default.pt"))


def shipped_calibration() -> Path:
    """The calibration fitted for :func:`shipped_model` (``calibration/default.yaml``)."""
    import drumscribe.calibration as _calibration  # the package whose data it is

    return Path(str(resources.files(_calibration) / "default.yaml"))


def default_model_path() -> Path:
    """The model used when none is given: ``$DRUMSCRIBE_MODEL``, else :func:`shipped_model`."""
    return Path(os.environ.get(MODEL_ENV) or shipped_model())


def is_shipped_model(path) -> bool:
    """True when ``path`` is the shipped model file (the only one the shipped calibration fits)."""
    try:
        return Path(path).resolve() == shipped_model().resolve()
    except OSError:  # pragma: no cover - unreadable path
        return False
