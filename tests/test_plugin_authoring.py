"""A plugin author's path, done as docs/plugins.md says: write, install, list, run, break.

The guide's example package is written from the guide's own code blocks into a
temporary folder, installed with ``pip install --no-deps --no-build-isolation
--target`` (no network) next to the two example packages, and driven through
the command line in subprocesses with ``PYTHONPATH`` pointing at that folder.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from transcribe.cli import main
from transcribe.config import Config
from transcribe.errors import ConfigError, PluginError
from transcribe.features import FeatureSettings
from transcribe.hookspecs import PRIORITY_GLOBAL, Onset, ThresholdLayer, hookimpl
from transcribe.model import ArchSettings, build_model, save_checkpoint
from transcribe.pipeline import Postprocessor
from transcribe.testing import make_activations, onset_times, run_postprocessing
from transcribe.vocabulary import CLASS_NAMES, DRUM_CLASSES

from test_plugin_docs import gen

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "plugins" / "examples"
SR = 44100
HIHAT_NOTES = {c.gm_note for c in DRUM_CLASSES if c.name.startswith("hihat")}
BROKEN_SETUP = """\
[metadata]
name = drumscribe-broken
version = 0.2.0

[options]
py_modules = drumscribe_broken

[options.entry_points]
drumscribe =
    broken = drumscribe_broken
"""


def _pip_target(site, *packages):
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps",
                           "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                           "-q", "--target", str(site), *map(str, packages)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _copy_package(src, dst):
    """Copy a package folder without tests or build leftovers (pip builds in place)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(
        "tests", "build", "*.egg-info", "__pycache__"))
    return dst


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Installed plugin folders, a tiny checkpoint and a short noise song."""
    tmp = tmp_path_factory.mktemp("authoring")
    src = tmp / "src"
    for rel, content in gen.example_files().items():  # the guide's package, as written
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(content)
    doc_pkg = src / "drumscribe-no-hihat"
    shutil.rmtree(doc_pkg / "tests")
    pkgs = [doc_pkg] + [_copy_package(EXAMPLES / n, src / n) for n in ("hysteresis", "adaptive")]
    _pip_target(tmp / "site", *pkgs)
    broken = src / "drumscribe-broken"
    broken.mkdir()
    (broken / "setup.cfg").write_text(BROKEN_SETUP)
    shutil.copy(doc_pkg / "pyproject.toml", broken)
    (broken / "drumscribe_broken.py").write_text("import drumscribe_missing_dependency\n")
    _pip_target(tmp / "site_broken", broken)

    torch.manual_seed(0)
    arch = ArchSettings(conv2d_channels=(2,), conv1d_channels=(8,), rnn_hidden=4, rnn_layers=1)
    ckpt = tmp / "m.pt"
    save_checkpoint(ckpt, build_model(CLASS_NAMES, FeatureSettings(), arch), CLASS_NAMES,
                    FeatureSettings())
    song = tmp / "song.wav"
    rng = np.random.default_rng(0)
    sf.write(song, 0.1 * rng.standard_normal(SR * 2).astype(np.float32), SR)
    return types.SimpleNamespace(tmp=tmp, site=tmp / "site", site_broken=tmp / "site_broken",
                                 ckpt=ckpt, song=song)


def _run(args, site, cwd):
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("DRUMSCRIBE_MODEL", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def _transcribe(world, out, *extra):
    return _run([sys.executable, "-m", "transcribe.cli", str(world.song), "-o", str(out),
                 "--model", str(world.ckpt), "--threshold", "0.0", *extra], world.site, world.tmp)


def _notes(path):
    return [m.note for m in mido.MidiFile(path).tracks[0] if m.type == "note_on" and m.velocity]


def _transcribe_cmd():
    script = Path(sys.executable).parent / "transcribe"
    return [str(script)] if script.exists() else [sys.executable, "-m", "transcribe"]


def test_installed_packages_are_listed(world):
    proc = _run(_transcribe_cmd() + ["--list-plugins"], world.site, world.tmp)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "no_hihat           drumscribe-no-hihat 0.1.0 (entry point drumscribe_no_hihat)" in out
    assert "hysteresis         drumscribe-hysteresis 0.1.0 (entry point drumscribe_hysteresis)" in out
    assert "adaptive           drumscribe-adaptive 0.1.0 (entry point drumscribe_adaptive)" in out
    assert "hooks: drumscribe_configure, drumscribe_filter_onsets" in out
    assert "hooks: drumscribe_configure, drumscribe_thresholds, drumscribe_transform_activations" in out
    assert "onsets picked by   hysteresis (then peak_picking)" in out
    assert "fixed_threshold    drumscribe 0.1.0" in out  # the built-ins are still there


def test_plugin_changes_the_midi_and_can_be_disabled(world):
    examples_off = ["--disable-plugin", "hysteresis", "--disable-plugin", "adaptive"]
    on = _transcribe(world, world.tmp / "on", *examples_off)
    off = _transcribe(world, world.tmp / "off", *examples_off, "--disable-plugin", "no_hihat")
    assert on.returncode == 0 and off.returncode == 0, on.stderr + off.stderr
    midi_on, midi_off = world.tmp / "on" / "song.mid", world.tmp / "off" / "song.mid"
    assert midi_on.read_bytes() != midi_off.read_bytes()
    assert HIHAT_NOTES & set(_notes(midi_off))
    assert not HIHAT_NOTES & set(_notes(midi_on))
    assert sorted(n for n in _notes(midi_off) if n not in HIHAT_NOTES) == sorted(_notes(midi_on))


def test_installed_picker_wins_and_says_so(world):
    proc = _transcribe(world, world.tmp / "all", "-v")
    assert proc.returncode == 0, proc.stderr
    assert "onsets picked by plugin 'hysteresis'" in proc.stdout
    assert "plugin: adaptive (drumscribe-adaptive 0.1.0" in proc.stdout


def test_python_m_transcribe(world):
    proc = _run([sys.executable, "-m", "transcribe", "--help"], world.site, world.tmp)
    assert proc.returncode == 0 and "--list-plugins" in proc.stdout


def test_plugin_that_fails_to_import_is_one_line(world):
    proc = _run(_transcribe_cmd() + ["--list-plugins"], world.site_broken, world.tmp)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: plugin 'broken' from drumscribe-broken 0.2.0 failed to "
                               "load: ModuleNotFoundError")
    proc = _run(_transcribe_cmd() + ["--list-plugins", "--disable-plugin", "broken"],
                world.site_broken, world.tmp)
    assert proc.returncode == 0 and "broken" not in proc.stdout


# A plugin that fails on every song fails the setup check (postprocessing and MIDI export
# tried once on silent activations before any song): one error, exit 2 (issue 15).
BROKEN = {
    "raises_in_hook": ("""
        @hookimpl
        def drumscribe_filter_onsets(onsets):
            return [o for o in onsets if o.drum != onsets[10**6].drum]
        """, 2, "raised in drumscribe_filter_onsets: IndexError"),
    "thresholds_not_a_layer": ("""
        @hookimpl
        def drumscribe_thresholds(classes):
            return {c: 0.5 for c in classes}
        """, 2, "returned dict from drumscribe_thresholds; expected a ThresholdLayer"),
    "onsets_wrong_shape": ("""
        @hookimpl
        def drumscribe_pick_onsets(activations):
            return [(0.1, "kick")]
        """, 2, "returned (0.1, 'kick') from drumscribe_pick_onsets; expected Onset("),
    "transform_returns_array": ("""
        @hookimpl
        def drumscribe_transform_activations(activations):
            return activations.values
        """, 2, "returned ndarray from drumscribe_transform_activations; expected Activations"),
    "configure_raises": ("""
        @hookimpl
        def drumscribe_configure(context):
            raise ConfigError("plugins_config.bad.k must be a number (plugin 'bad')")
        """, 2, "in drumscribe_configure: plugins_config.bad.k must be a number"),
    "misspelt_hook": ("""
        @hookimpl
        def drumscribe_pick_onset(activations):
            return []
        """, 2, "is invalid"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_plugin_is_one_error_line_naming_it_and_the_hook(case, world, tmp_path, capsys):
    body, status, message = BROKEN[case]
    plugin = tmp_path / f"{case}.py"
    plugin.write_text("from transcribe.errors import ConfigError\n"
                      "from transcribe.hookspecs import hookimpl\n" + textwrap.dedent(body))
    rc = main([str(world.song), "-o", str(tmp_path / "out"), "--model", str(world.ckpt),
               "--threshold", "0.0", "--plugin", str(plugin), "-q"])
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert rc == status
    assert len(errors) == 1, err
    assert f"plugin '{plugin}'" in errors[0] and message in errors[0], errors[0]
    assert "Traceback" not in err


def _tour_plugin(log):
    """A module implementing every hook, recording the order it is called in."""
    mod = types.ModuleType("tour")

    @hookimpl
    def drumscribe_configure(context):
        log.append("configure")
        if context.plugin_config("tour").get("fail"):
            raise ConfigError("plugins_config.tour.fail is set (plugin 'tour')")

    @hookimpl
    def drumscribe_transform_activations(activations):
        log.append("transform_activations")
        v = activations.values.copy()
        v[:, activations.classes.index("crash")] = 0.0  # silence the crash column
        return activations.replace(v)

    @hookimpl
    def drumscribe_thresholds(classes):
        log.append("thresholds")
        # ties with fixed_threshold's layer: the third-party plugin is called first and wins
        return ThresholdLayer({"kick": 0.85}, "tour", PRIORITY_GLOBAL)

    @hookimpl
    def drumscribe_pick_onsets():
        log.append("pick_onsets")
        return None  # let the next picker (peak_picking) answer

    @hookimpl
    def drumscribe_filter_onsets(onsets):
        log.append("filter_onsets")
        return [o for o in onsets if o.drum != "snare_head"]

    @hookimpl
    def drumscribe_export(onsets, out_dir, context):
        log.append("export")
        if "tour" not in context.state.get("exports", ()):
            return None
        path = Path(out_dir) / "tour.txt"
        path.write_text("\n".join(f"{o.time:.2f} {o.drum}" for o in onsets))
        return [str(path)]

    for f in (drumscribe_configure, drumscribe_transform_activations, drumscribe_thresholds,
              drumscribe_pick_onsets, drumscribe_filter_onsets, drumscribe_export):
        setattr(mod, f.__name__, f)
    return mod


def test_every_hook_in_order_through_the_testing_helper(tmp_path):
    log = []
    tour = _tour_plugin(log)
    act = make_activations({"kick": [(0.5, 0.9), (1.0, 0.8)], "snare_head": [(0.75, 0.9)],
                            "crash": [(0.5, 0.9)], "ride": [(1.25, 0.6)]})
    res = run_postprocessing(act, plugins=[tour])
    assert log == ["configure", "transform_activations", "thresholds", "pick_onsets",
                   "filter_onsets"]
    assert res.picker == "peak_picking"
    assert res.thresholds["kick"] == 0.85 and res.sources["kick"] == "tour"
    assert [(o.time, o.drum) for o in res.onsets] == [(0.5, "kick"), (1.25, "ride")]
    assert onset_times(run_postprocessing(act, plugins=[tour], disable=["tour"])) == [
        0.5, 0.5, 0.75, 1.0, 1.25]
    pp = Postprocessor(Config(), act.classes, plugins=[tour])
    assert pp.export(res.onsets, res.activations, res.thresholds, "song.wav", tmp_path,
                     exports={"tour"}) == [str(tmp_path / "tour.txt")]
    assert (tmp_path / "tour.txt").read_text() == "0.50 kick\n1.25 ride"
    with pytest.raises(ConfigError, match=r"plugin 'tour' in drumscribe_configure: "
                                          r"plugins_config\.tour\.fail"):
        run_postprocessing(act, plugins=[tour], config={"plugins_config": {"tour": {"fail": 1}}})


def test_testing_helper_accepts_paths_arrays_and_threshold_values(tmp_path):
    plugin = tmp_path / "argmax.py"
    plugin.write_text(textwrap.dedent("""
        from transcribe.hookspecs import Onset, hookimpl
        @hookimpl
        def drumscribe_pick_onsets(activations, thresholds):
            j = int(activations.values.max(axis=0).argmax())
            i = int(activations.values[:, j].argmax())
            c = activations.classes[j]
            ok = activations.values[i, j] >= thresholds[c]
            return [Onset(i / activations.fps, c, 100, float(activations.values[i, j]))] if ok else []
    """))
    values = np.zeros((50, 2), np.float32)
    values[[10, 30], 0] = [0.6, 0.9]
    res = run_postprocessing(values, plugins=[str(plugin)], classes=["kick", "snare_head"], fps=50)
    assert res.picker == str(plugin) and onset_times(res) == [0.6]
    assert run_postprocessing(values, plugins=[str(plugin)], classes=["kick", "snare_head"],
                              fps=50, thresholds=0.95).onsets == []
    with pytest.raises(Exception, match="pass classes"):
        run_postprocessing(values)
    with pytest.raises(PluginError, match="no plugin picked onsets"):
        run_postprocessing(values, classes=["kick", "snare_head"], disable=["peak_picking"])
    act = make_activations({"kick": [(0.0, 1.0), (0.99, 0.5)]}, duration=1.0, noise=0.01)
    assert act.values.shape == (100, len(CLASS_NAMES)) and act.values.max() <= 1.0
    assert act.column("kick")[0] == pytest.approx(1.0, abs=0.01)
    assert isinstance(run_postprocessing(act).onsets[0], Onset)
