"""docs/plugins.md stays true: generated hook reference, a test per hook, working example."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from drumscribe.transcribe import hookspecs
from drumscribe.transcribe.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "plugins.md"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load_script():
    if "gen_plugin_docs" not in sys.modules:  # its dataclass needs the module registered
        spec = importlib.util.spec_from_file_location(
            "gen_plugin_docs", ROOT / "scripts" / "gen_plugin_docs.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["gen_plugin_docs"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["gen_plugin_docs"]


gen = _load_script()
HOOKS = sorted(n for n in dir(hookspecs) if n.startswith("drumscribe_"))


def test_hook_reference_is_up_to_date():
    _, current, _ = gen.split_doc(DOC.read_text(encoding="utf-8"))
    assert current == gen.render_reference(), (
        "docs/plugins.md is out of date with transcribe/hookspecs.py: "
        "run 'python scripts/gen_plugin_docs.py'")
    assert gen.main(["--check"]) == 0


def test_every_hook_is_in_the_reference_with_its_kind():
    text = DOC.read_text(encoding="utf-8")
    assert len(HOOKS) == 8  # 7 call points + drumscribe_add_arguments (issues 11, 13)
    for name in HOOKS:
        assert f"### {name}\n" in text
    assert "*first result*" in text.split("### drumscribe_pick_onsets")[1].split("###")[0]
    assert "*first result*" in text.split("### drumscribe_onset_candidates")[1].split("###")[0]
    assert "*chained*" in text.split("### drumscribe_filter_onsets")[1].split("###")[0]
    assert "*collected*" in text.split("### drumscribe_thresholds")[1].split("###")[0]


def test_generator_sees_a_changed_hookspec(tmp_path):
    src = (ROOT / "transcribe" / "hookspecs.py").read_text(encoding="utf-8")
    new = src + ('\n\n@hookspec\ndef drumscribe_new_hook(onsets: List[Onset]) -> None:\n'
                 '    """Something new (all results collected)."""\n')
    assert "### drumscribe_new_hook" in gen.render_reference(new)
    doc = tmp_path / "plugins.md"
    doc.write_text("intro\n" + gen.BEGIN + "\nstale\n" + gen.END + "\nafter\n")
    assert gen.main(["--check", "--doc", str(doc)]) == 1
    assert gen.main(["--doc", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith(gen.END + "\nafter\n")
    assert gen.main(["--check", "--doc", str(doc)]) == 0
    with pytest.raises(SystemExit, match="cannot tell the kind"):
        gen.render_reference(src + '\n\n@hookspec\ndef drumscribe_vague():\n    """Hm."""\n')


def test_every_hook_has_a_test():
    """Each hook's name appears in some test module other than this one."""
    texts = [p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py")
             if p.name != Path(__file__).name]
    untested = [h for h in HOOKS if not any(h in t for t in texts)]
    assert not untested, f"hooks without a test in tests/test_*.py: {untested}"


def test_documented_flags_exist():
    text = DOC.read_text(encoding="utf-8")
    options = {s for a in build_parser()._actions for s in a.option_strings}
    for flag in ("--plugin", "--disable-plugin", "--list-plugins", "-v", "--threshold",
                 "--config"):
        assert flag in text and flag in options


def test_the_guides_example_plugin_and_its_test_work(tmp_path, monkeypatch):
    """The plugin and test file of docs/plugins.md, run as written (not installed)."""
    files = gen.example_files()
    assert {"drumscribe-no-hihat/drumscribe_no_hihat.py", "drumscribe-no-hihat/setup.cfg",
            "drumscribe-no-hihat/pyproject.toml",
            "drumscribe-no-hihat/tests/test_no_hihat.py"} <= set(files)
    assert re.search(r"drumscribe =\n\s+no_hihat = drumscribe_no_hihat",
                     files["drumscribe-no-hihat/setup.cfg"])
    module_lines = [ln for ln in files["drumscribe-no-hihat/drumscribe_no_hihat.py"].splitlines()
                    if ln.strip() and not ln.lstrip().startswith(("#", '"""'))]
    assert len(module_lines) <= 20  # "a complete plugin in about ten lines"
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    plugin = _load("drumscribe_no_hihat", tmp_path / "drumscribe-no-hihat/drumscribe_no_hihat.py")
    monkeypatch.setitem(sys.modules, "drumscribe_no_hihat", plugin)
    tests = _load("doc_test_no_hihat", tmp_path / "drumscribe-no-hihat/tests/test_no_hihat.py")
    names = [n for n in dir(tests) if n.startswith("test_")]
    assert len(names) == 2
    for n in names:
        getattr(tests, n)()
