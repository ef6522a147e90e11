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


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    """A tiny untrained 12-class checkpoint (seed 0): fast, deterministic, for tests
    of messages and options rather than of accuracy."""
    import torch

    from drumscribe.transcribe.features import FeatureSettings
    from drumscribe.transcribe.model import ArchSettings, build_model, save_checkpoint
    from drumscribe.transcribe.vocabulary import CLASS_NAMES

    torch.manual_seed(0)
    p = tmp_path_factory.mktemp("m") / "m.pt"
    tiny = ArchSettings(conv2d_channels=(2,), conv1d_channels=(8,), rnn_hidden=4, rnn_layers=1)
    save_checkpoint(p, build_model(CLASS_NAMES, FeatureSettings(), tiny), CLASS_NAMES, FeatureSettings())
    return str(p)
