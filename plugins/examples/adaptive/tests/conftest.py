"""Make ``drumscribe_adaptive`` importable without installing it.

The module is loaded from its file rather than by putting the example folder
on ``sys.path``: a ``*.egg-info`` left there by a local build would otherwise
register the plugin's entry point in every plugin manager of the test session.
"""

import importlib.util
import sys
from pathlib import Path

MODULE = "drumscribe_adaptive"

if MODULE not in sys.modules:
    _path = Path(__file__).resolve().parent.parent / f"{MODULE}.py"
    _spec = importlib.util.spec_from_file_location(MODULE, _path)
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules[MODULE] = _mod
    _spec.loader.exec_module(_mod)
