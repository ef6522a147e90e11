"""Explicit inputs: the command line reaches hooks as the immutable ``context.run``;
plugins add their own options; exports are asked for through ``context.run``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import soundfile as sf

from drumscribe.transcribe.api import TranscriptionSession
from drumscribe.transcribe.cli import build_parser, main
from drumscribe.transcribe.config import config_from_dict
from drumscribe.transcribe.pipeline import Postprocessor
from drumscribe.transcribe.run import RunOptions
from drumscribe.transcribe.testing import make_activations


PLUGIN = """\
from drumscribe.transcribe.hookspecs import hookimpl

SEEN = []


@hookimpl
def drumscribe_add_arguments(parser):
    parser.add_argument("--echo-level", type=float, default=None, help="echo: a level")


@hookimpl
def drumscribe_configure(context):
    SEEN.append((context.run.option("echo_level"), context.run.threshold,
                 dict(context.run.class_thresholds), context.run.overwrite))


@hookimpl
def drumscribe_export(context):
    SEEN.append(("export", sorted(context.run.exports), context.run.overwrite))
    return None
"""


@pytest.fixture
def echo(tmp_path, monkeypatch):
    (tmp_path / "echo_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import echo_plugin
    importlib.reload(echo_plugin)
    return echo_plugin


def test_run_options_are_immutable():
    run = RunOptions(threshold=0.3, class_thresholds={"kick": 0.4}, exports={"chart"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.threshold = 0.9
    with pytest.raises(TypeError):
        run.class_thresholds["kick"] = 0.9
    assert run.exports == frozenset({"chart"}) and run.option("missing", 1) == 1


def test_a_plugin_adds_its_option_and_reads_it_from_context_run(echo, tiny_ckpt, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--plugin", "echo_plugin", "--help"])
    out = capsys.readouterr().out
    assert "options of plugin echo_plugin:" in out and "--echo-level" in out
    song = tmp_path / "s.wav"
    sf.write(song, 0.1 * np.random.default_rng(0).standard_normal(22050).astype(np.float32), 22050)
    rc = main([str(song), "--model", tiny_ckpt, "--plugin", "echo_plugin", "--echo-level", "0.25",
               "--threshold", "0.6", "--threshold", "kick=0.7", "-o", str(tmp_path / "o"),
               "--preview", "--overwrite"])
    assert rc == 0, capsys.readouterr().err
    assert echo.SEEN[0] == (0.25, 0.6, {"kick": 0.7}, True)
    assert echo.SEEN[-1] == ("export", ["preview"], True)


def test_plugin_options_are_not_core_flags():
    core = build_parser(pm=None)  # the built-ins' options are there ...
    assert "--bpm" in core.format_help()
    from drumscribe.transcribe.pipeline import make_plugin_manager

    pm, _ = make_plugin_manager(disable=["chart_export"], entry_points="builtin")
    with pytest.raises(SystemExit):  # ... only because the chart plugin adds them
        build_parser(pm).parse_args(["song.wav", "--bpm", "100"])


def test_the_callers_config_is_not_modified(tiny_ckpt):
    cfg = config_from_dict({"postprocessing": {"onset_threshold": 0.4}})
    before = dataclasses.asdict(cfg)
    session = TranscriptionSession(model=tiny_ckpt, config=cfg, threshold=0.7,
                                   class_thresholds={"kick": 0.2}, options={"bpm": 100.0})
    assert dataclasses.asdict(cfg) == before
    assert session.post.context.run.threshold == 0.7
    assert session.post.context.run.option("bpm") == 100.0


def test_exports_use_context_run_not_state(echo, tmp_path):
    act = make_activations({"kick": [(0.5, 0.9)]})
    pp = Postprocessor(config_from_dict({}), act.classes, plugins=[echo])
    res = pp.run(act)
    pp.export(res.onsets, res.activations, res.thresholds, "song.wav", tmp_path, exports={"x"})
    assert echo.SEEN[-1] == ("export", ["x"], False)
    assert "exports" not in pp.context.state and "overwrite" not in pp.context.state


def test_bpm_errors_name_the_flag(tiny_ckpt, tmp_path, capsys):
    song = tmp_path / "s.wav"
    sf.write(song, np.zeros(22050, np.float32), 22050)
    rc = main([str(song), "--model", tiny_ckpt, "--bpm", "1000", "--chart", str(tmp_path / "c")])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--bpm" in err and "\n" not in err, err


