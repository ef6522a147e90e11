import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="run slow checks (training, long fuzzing)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)



def pytest_configure(config):
    """The suite's answers must not depend on third-party plugins installed next to
    drumscribe: entry points load only the built-ins, from the first fixture on
    (module-scoped ones included). Tests that install plugins on purpose run their
    subprocesses without this variable."""
    os.environ["DRUMSCRIBE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
