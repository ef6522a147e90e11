"""drumscribe: turn songs into drum charts.

audio -> features -> CRNN activations -> pluggy postprocessing -> onsets -> MIDI.

Everything the distribution installs lives under this one package, so nothing
collides with another project's top-level ``plugins`` or ``calibration``. The
repository keeps its folders (``transcribe/``, ``plugins/``, ``calibration/``,
``training/``, ``models/``); setup.cfg's ``package_dir`` maps each of them to
``drumscribe.<folder>``. Importing this package loads no torch.
"""

import os as _os

__version__ = "0.1.0"

# In a source checkout that is not installed (``python scripts/transcribe.py``), the
# subpackages are the repository's top-level folders next to this one. An installed
# wheel has them inside this folder, and an editable install maps them itself.
_here = _os.path.dirname(_os.path.abspath(__file__))
_root = _os.path.dirname(_here)
if (not _os.path.isdir(_os.path.join(_here, "transcribe"))
        and _os.path.isfile(_os.path.join(_root, "transcribe", "__init__.py"))
        and _os.path.isfile(_os.path.join(_root, "setup.cfg"))):
    __path__.append(_root)  # type: ignore[name-defined]  # noqa: F821
