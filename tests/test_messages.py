"""Each user-facing message of issue 13 is one line: the file (and the YAML line),
the cause in our words and the fix; bugs are told apart from user errors.

Every test runs a command as ``main([...])`` and asserts the single line it
prints on stderr (``capfd`` also sees what native libraries write on fd 2).
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
import soundfile as sf

from drumscribe.calibration.cli import main as calibrate_main
from drumscribe.transcribe import api
from drumscribe.transcribe.cli import main
from drumscribe.transcribe.errors import DrumscribeError, EXIT_INTERNAL_ERROR
from drumscribe.transcribe.vocabulary import CLASS_NAMES

@pytest.fixture(scope="module")
def song(tmp_path_factory):
    p = tmp_path_factory.mktemp("s") / "song.wav"
    sf.write(p, 0.1 * np.random.default_rng(0).standard_normal(22050).astype(np.float32), 22050)
    return str(p)


def one_line(capfd, *names):
    """The only line on stderr; it names every one of ``names``."""
    cap = capfd.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1, cap.err
    for n in names:
        assert str(n) in lines[0], lines[0]
    return lines[0]


def _yaml(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_text_file_named_mp3(tmp_path, tiny_ckpt, capfd):
    bad = tmp_path / "notes.mp3"
    bad.write_text("this is a text file, not audio\n" * 20)
    assert main([str(bad), "--model", tiny_ckpt, "-o", str(tmp_path / "o")]) == 1
    line = one_line(capfd, bad)  # no decoder "Note: ..." lines, no "failed: ..." repeat
    assert re.fullmatch(r"error: .*notes\.mp3: not a readable audio file \(no audio stream in a "
                        r"known format was found\); convert it to WAV, FLAC, OGG or MP3", line)
    assert "does not exist" not in line


def test_yaml_syntax_error_names_the_line(tmp_path, song, tiny_ckpt, capfd):
    cfg = _yaml(tmp_path, """\
        postprocessing:
          onset_threshold: 0.5
          class_thresholds: {kick: 0.3
        """)
    assert main([song, "--model", tiny_ckpt, "--config", str(cfg), "-o", str(tmp_path / "o")]) == 2
    line = one_line(capfd, f"{cfg}:4:1")
    assert "opened at line 3" in line and "fix the config file's syntax there" in line
    assert "!!python" not in line


def test_plugins_config_typo_did_you_mean(tmp_path, song, tiny_ckpt, capfd):
    cfg = _yaml(tmp_path, "plugins_config:\n  chartt: {grid: [16]}\n")
    assert main([song, "--model", tiny_ckpt, "--config", str(cfg), "-o", str(tmp_path / "o")]) == 2
    line = one_line(capfd, cfg)
    assert line.endswith("plugins_config.chartt is read by no loaded plugin (did you mean "
                         "'chart'?); fix the name or load its plugin")


def test_threshold_on_merged_class(tmp_path, song, tiny_ckpt, capfd):
    cfg = _yaml(tmp_path, "postprocessing:\n  class_groups: {hihat: [hihat_closed, hihat_pedal]}\n")
    assert main([song, "--model", tiny_ckpt, "--config", str(cfg), "--threshold", "hihat_closed=0.3",
                 "-o", str(tmp_path / "o")]) == 2
    line = one_line(capfd, cfg)
    assert line == (f"error: --threshold names 'hihat_closed', which class_groups in {cfg} merges "
                    "into 'hihat'; set the threshold of 'hihat' instead")


@pytest.mark.parametrize("where", ["config", "command line"])
def test_misspelt_class_did_you_mean(tmp_path, song, tiny_ckpt, capfd, where):
    args = [song, "--model", tiny_ckpt, "-o", str(tmp_path / "o")]
    if where == "config":
        cfg = _yaml(tmp_path, "postprocessing:\n  class_thresholds: {kik: 0.3}\n")
        args += ["--config", str(cfg)]
        prefix = f"error: {cfg}:2: class_thresholds"  # the YAML line of the key
    else:
        args += ["--threshold", "kik=0.3"]
        prefix = "error: --threshold"  # not "config: --threshold"
    assert main(args) == 2
    line = one_line(capfd)
    assert line.startswith(f"{prefix} names unknown class 'kik' (did you mean 'kick'?); "
                           "model classes: kick, ")


def test_unknown_key_did_you_mean(tmp_path, song, tiny_ckpt, capfd):
    cfg = _yaml(tmp_path, "postprocessing:\n  onset_treshold: 0.4\n")
    assert main([song, "--model", tiny_ckpt, "--config", str(cfg), "-o", str(tmp_path / "o")]) == 2
    line = one_line(capfd, f"{cfg}:2: ")
    assert "postprocessing.onset_treshold (did you mean 'onset_threshold'?)" in line
    sec = _yaml(tmp_path, "export: {}\npostprocesing:\n  x: 1\n", "s.yaml")
    assert main([song, "--model", tiny_ckpt, "--config", str(sec), "-o", str(tmp_path / "o")]) == 2
    assert one_line(capfd).startswith(f"error: {sec}:2: unknown section(s) postprocesing (did you "
                                      "mean 'postprocessing'?)")


def test_chart_pointing_at_a_file_is_refused_before_the_model(tmp_path, song, capfd):
    f = tmp_path / "afile"
    f.write_text("x")
    missing_model = tmp_path / "no-such-model.pt"  # never opened: the check comes first
    assert main([song, "--chart", str(f), "--model", str(missing_model)]) == 2
    line = one_line(capfd, f)
    assert line == (f"error: {f}: --chart needs a folder, and this is a file; choose a folder "
                    "(it is created if missing)")


def test_text_file_as_model(tmp_path, song, capfd):
    m = tmp_path / "model.pt"
    m.write_text("not a model\n")
    assert main([song, "--model", str(m), "-o", str(tmp_path / "o")]) == 2
    line = one_line(capfd, m)
    assert "not a torch .pt archive" in line and "pass --model with a .pt" in line
    assert "Weights only" not in line and "PyTorch" not in line


@pytest.mark.parametrize("command", [main, calibrate_main])
def test_help_shows_each_default_once(command, capsys):
    with pytest.raises(SystemExit):
        command(["--help"])
    out = capsys.readouterr().out
    assert "(default: None)" not in out and "(default: False)" not in out
    assert "(default: cpu)" in out
    assert not [ln for ln in out.split("\n  -") if ln.count("default") > 1]


def test_verbose_without_progress_bar(tmp_path, song, tiny_ckpt, capfd):
    import shutil

    shutil.copy(song, tmp_path / "b.wav")
    assert main([song, str(tmp_path / "b.wav"), "--model", tiny_ckpt, "-o", str(tmp_path / "o"),
                 "-v"]) == 0
    err = capfd.readouterr().err
    assert "song/s" not in err and "%|" not in err, err


def test_calibrate_report_path_printed_once(tmp_path, capsys):
    from test_calibration_cli import make_set

    preds = make_set(tmp_path / "preds", n_files=1, seconds=8)
    rc = calibrate_main(["--predictions", str(preds), "-o", str(tmp_path / "cal.yaml"),
                         "--report", str(tmp_path / "report") + "/", "-q"])
    assert rc == 0
    rc = calibrate_main(["--predictions", str(preds), "-o", str(tmp_path / "cal2.yaml"),
                         "--report", str(tmp_path / "report2") + "/"])
    out = capsys.readouterr().out
    assert f"and the report in {tmp_path / 'report2'}/" in out and "//" not in out


def test_relative_calibration_file_resolves_against_the_config_folder(tmp_path, monkeypatch):
    from drumscribe.calibration.calfile import CalibrationFile, write_calibration

    (tmp_path / "conf").mkdir()
    write_calibration(tmp_path / "conf" / "cal.yaml",
                      CalibrationFile(list(CLASS_NAMES), {c: 0.42 for c in CLASS_NAMES}))
    cfg = _yaml(tmp_path / "conf", "postprocessing:\n  calibration_file: cal.yaml\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    from drumscribe.transcribe.config import load_config

    assert load_config(cfg).postprocessing.calibration_file == str(tmp_path / "conf" / "cal.yaml")


def test_user_errors_are_not_value_errors():
    assert not issubclass(DrumscribeError, ValueError)


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_is_an_internal_error(tmp_path, song, tiny_ckpt, capfd, monkeypatch, debug):
    def broken(*a, **k):
        raise ValueError("boom")  # a programming error, even though it is a ValueError

    monkeypatch.setattr(api, "_transcribe_planned", broken)  # the batch's per-song step
    rc = main([song, "--model", tiny_ckpt, "-o", str(tmp_path / "o")] + (["--debug"] if debug else []))
    assert rc == EXIT_INTERNAL_ERROR
    err = capfd.readouterr().err
    first = err.splitlines()[0]
    assert first == "transcribe: internal error, please report: ValueError: boom"
    if debug:
        assert "Traceback (most recent call last)" in err
    else:
        assert err.splitlines()[1:] == ["transcribe: rerun with --debug for the traceback"]


def test_debug_shows_the_traceback_of_a_user_error(tmp_path, song, capfd):
    assert main([song, "--model", str(tmp_path / "none.pt"), "--debug"]) == 2
    err = capfd.readouterr().err
    assert err.startswith("error: ") and "Traceback (most recent call last)" in err


def test_plugin_error_names_the_plugin_once(tmp_path, song, tiny_ckpt, capfd, monkeypatch):
    (tmp_path / "named_plugin.py").write_text(textwrap.dedent("""\
        from drumscribe.transcribe.errors import ConfigError
        from drumscribe.transcribe.hookspecs import hookimpl

        @hookimpl
        def drumscribe_configure(context):
            raise ConfigError("plugins_config.named_plugin: k must be a number; set k: 1")
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    rc = main([song, "--model", tiny_ckpt, "--plugin", "named_plugin", "-o", str(tmp_path / "o")])
    assert rc == 2
    assert one_line(capfd) == "error: plugins_config.named_plugin: k must be a number; set k: 1"


def test_context_log_follows_verbose(tmp_path, song, tiny_ckpt, capfd):
    plugin = tmp_path / "talker.py"
    plugin.write_text(textwrap.dedent("""\
        from drumscribe.transcribe.hookspecs import hookimpl

        @hookimpl
        def drumscribe_configure(context):
            context.log("talker: hello")
        """))
    base = [song, "--model", tiny_ckpt, "--plugin", str(plugin), "--overwrite"]
    assert main(base + ["-o", str(tmp_path / "a")]) == 0
    assert "talker: hello" not in capfd.readouterr().out
    assert main(base + ["-o", str(tmp_path / "b"), "-v"]) == 0
    assert "talker: hello" in capfd.readouterr().out


def test_list_plugins_runs_configure(tmp_path, capfd):
    cfg = _yaml(tmp_path, "plugins_config:\n  chart: {grid: [7]}\n")
    assert main(["--list-plugins", "--config", str(cfg)]) == 2
    line = one_line(capfd)
    assert line.startswith("error: ") and "grid" in line
    typo = _yaml(tmp_path, "plugins_config:\n  chartt: {}\n", "t.yaml")
    assert main(["--list-plugins", "--config", str(typo)]) == 2
    assert "did you mean 'chart'?" in one_line(capfd, typo)
