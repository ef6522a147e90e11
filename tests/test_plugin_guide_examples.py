"""The thresholds plugin and the per-passage filter of docs/plugins.md, with the
tests the guide gives for them, run exactly as written (not installed)."""

import importlib.util
import sys

import pytest

from test_plugin_docs import gen
from drumscribe.transcribe import hookspecs

PACKAGE = hookspecs.__name__.rsplit(".", 1)[0]  # the package the guide's imports name

EXAMPLES = {"drumscribe-quiet-cymbals": ("drumscribe_quiet_cymbals", "test_quiet_cymbals", 3),
            "drumscribe-passages": ("drumscribe_passages", "test_passages", 1)}


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("folder", sorted(EXAMPLES))
def test_guide_example_and_its_tests(folder, tmp_path, monkeypatch):
    module, test_module, n_tests = EXAMPLES[folder]
    files = {k: v for k, v in gen.example_files().items() if k.startswith(folder + "/")}
    assert {f"{folder}/{module}.py", f"{folder}/tests/{test_module}.py"} <= set(files)
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    plugin = _load(module, tmp_path / folder / f"{module}.py")
    monkeypatch.setitem(sys.modules, module, plugin)
    tests = _load(f"doc_{test_module}", tmp_path / folder / "tests" / f"{test_module}.py")
    names = [n for n in dir(tests) if n.startswith("test_")]
    assert len(names) == n_tests
    for n in names:
        getattr(tests, n)()


def test_guide_states_every_import_path():
    text = gen.DOC.read_text(encoding="utf-8")
    for mod in ("hookspecs", "errors", "activations", "testing", "io"):
        assert f"from {PACKAGE}.{mod} import" in text
