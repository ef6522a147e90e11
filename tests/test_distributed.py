"""Dask: the same batch and the same calibration on a LocalCluster of 2 worker processes."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from drumscribe.calibration.api import fit_calibration  # noqa: E402
from drumscribe.calibration.cli import main as calibrate  # noqa: E402
from test_batch import ckpt, no_temporaries, song, valid_midi  # noqa: E402,F401
from test_calibration_cli import PLUGIN as PICKER  # noqa: E402
from test_calibration_cli import make_set  # noqa: E402
from drumscribe.transcribe import distributed as tdist  # noqa: E402
from drumscribe.transcribe.activations import Activations, save_activations  # noqa: E402
from drumscribe.transcribe.api import transcribe_many  # noqa: E402
from drumscribe.transcribe.cli import main as transcribe  # noqa: E402
from drumscribe.transcribe.vocabulary import CLASS_NAMES  # noqa: E402

SLOW_PLUGIN = '''
import time
from drumscribe.transcribe.hookspecs import hookimpl

@hookimpl
def drumscribe_transform_activations(activations, context):
    time.sleep(float(context.config.plugins_config.get("slow", {}).get("seconds", 0)))
'''


@pytest.fixture
def small_window(monkeypatch):
    """Two tasks in flight at a time, so the batches below refill the queue as songs finish."""
    import drumscribe.calibration.distributed as cdist

    for mod in (tdist, cdist):
        monkeypatch.setattr(mod, "in_flight_limit", lambda client: 2)


@pytest.fixture(scope="module")
def client():
    c = tdist.local_client(2)  # 2 single-threaded worker processes
    yield c
    tdist.close_client(c)


@pytest.fixture
def own_client():
    """A cluster of its own for tests that kill workers (the shared one stays whole)."""
    c = tdist.local_client(2)
    yield c
    tdist.close_client(c)


def ADDR(client) -> str:
    return client.scheduler_info()["address"]


def batch(root: Path) -> list:
    """Good songs, corrupt files and duplicates (a path given twice, a stem in two folders)."""
    src = root / "songs"
    (src / "sub").mkdir(parents=True)
    song(src / "a.wav", 3)
    song(src / "sub" / "b.wav", 2, 1)
    song(src / "c.wav", 2, 2)
    song(src / "sub" / "a.wav", 2, 3)  # same stem as a.wav: one output name
    (src / "empty.wav").write_bytes(b"")
    (src / "text.mp3").write_text("I am not an mp3\n" * 10)
    half = (src / "a.wav").read_bytes()
    (src / "sub" / "cut.wav").write_bytes(half[:len(half) // 3])
    return [str(src), str(src / "c.wav")]  # c.wav twice


def run_cli(argv, capsys):
    rc = transcribe(argv)
    cap = capsys.readouterr()
    out = re.sub(r"\[\d+\.\d s\]", "[T s]", cap.out)  # per-song timings differ between runs
    err = re.findall(r"(?:error|failed|interrupted): [^\r\n]*", cap.err)  # not the bar
    return rc, out, err


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_batch_with_bad_and_duplicate_files_same_as_one_process(tmp_path, ckpt, client, capsys,
                                                                small_window):
    inputs = batch(tmp_path)
    common = ["--model", ckpt, "--threshold", "0.0", "--save-activations"]
    one = run_cli(inputs + ["-o", str(tmp_path / "one")] + common, capsys)
    client.run(lambda: tdist.MODEL_LOADS.update(count=0))
    dask = run_cli(inputs + ["-o", str(tmp_path / "dask"), "--scheduler",
                             ADDR(client)] + common, capsys)
    assert one[0] == dask[0] == 1
    assert dask[1] == one[1].replace(str(tmp_path / "one"), str(tmp_path / "dask"))
    # the same path given twice is one song; a/x and sub/x get their own outputs (issue 15)
    assert "done: 4 transcribed, 0 skipped, 3 failed" in dask[1]
    assert dask[2] == one[2] and len(dask[2]) == 6  # 3 errors, 3 "failed:" lines, same order
    assert tree(tmp_path / "dask") == tree(tmp_path / "one")
    loads = client.run(lambda: tdist.MODEL_LOADS["count"])
    assert sum(loads.values()) >= 1 and max(loads.values()) == 1  # once per worker
    # resume: everything is skipped the same way; with --overwrite the later duplicate wins
    again = run_cli(inputs + ["-o", str(tmp_path / "dask"), "--scheduler",
                              ADDR(client)] + common, capsys)
    assert again[0] == 1 and "done: 0 transcribed, 4 skipped, 3 failed" in again[1]
    for where in ("one", "dask"):
        extra = ["--scheduler", ADDR(client)] if where == "dask" else []
        res = run_cli(inputs + ["-o", str(tmp_path / where), "--overwrite"] + common + extra,
                      capsys)
        assert res[0] == 1
    assert tree(tmp_path / "dask") == tree(tmp_path / "one")


def test_workers_flag_and_library_api(tmp_path, ckpt, capsys):
    src = tmp_path / "songs"
    src.mkdir()
    for k in range(3):
        song(src / f"s{k}.wav", 2, k)
    one = run_cli([str(src), "-o", str(tmp_path / "one"), "--model", ckpt], capsys)
    two = run_cli([str(src), "-o", str(tmp_path / "two"), "--model", ckpt, "--workers", "2"],
                  capsys)
    assert one[0] == two[0] == 0
    assert tree(tmp_path / "two") == tree(tmp_path / "one")
    with tdist.local_client(2) as c:
        rep = transcribe_many([src], tmp_path / "lib", client=c, model=ckpt, say=lambda m: None,
                              progress=False)
    assert sorted(rep.done) == sorted(str(p) for p in src.iterdir())
    assert tree(tmp_path / "lib") == tree(tmp_path / "one")


def test_usage_errors(capsys):
    with pytest.raises(SystemExit):
        transcribe(["x.wav", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"])
    assert "exclude each other" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        calibrate(["--predictions", "p", "-o", "c.yaml", "--workers", "0"])
    assert "--workers must be >= 1" in capsys.readouterr().err


def test_killed_worker_loses_no_song_and_leaves_no_partial_output(tmp_path, ckpt, own_client,
                                                                  capsys):
    client = own_client
    src = tmp_path / "songs"
    src.mkdir()
    for k in range(6):
        song(src / f"s{k}.wav", 2, k)
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_PLUGIN)
    cfg = tmp_path / "slow.yaml"
    cfg.write_text("plugins_config:\n  slow: {seconds: 1.5}\n")
    common = ["--model", ckpt, "--plugin", str(plugin), "--save-activations"]
    pids = client.run(os.getpid)
    killed = []

    def kill_one_busy_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                time.sleep(0.7)  # inside the song's 1.5 s
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.05)

    t = threading.Thread(target=kill_one_busy_worker)
    t.start()
    dask = run_cli([str(src), "-o", str(tmp_path / "dask"), "--config", str(cfg), "--scheduler",
                    ADDR(client)] + common, capsys)
    t.join()
    assert killed
    one = run_cli([str(src), "-o", str(tmp_path / "one")] + common, capsys)
    assert dask[0] == one[0] == 0
    assert "done: 6 transcribed, 0 skipped, 0 failed" in dask[1]
    assert tree(tmp_path / "dask") == tree(tmp_path / "one")  # complete, identical, nothing else
    no_temporaries(tmp_path / "dask")
    for p in (tmp_path / "dask").glob("*.mid"):
        assert valid_midi(p) >= 0


@pytest.mark.slow  # worker restarts: minutes on a busy machine
def test_song_that_kills_every_worker_is_one_failed_file(tmp_path, ckpt, capsys):
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        client = tdist.local_client(2)  # Dask gives a task up at its first lost worker
    try:
        _song_that_kills(tmp_path, ckpt, client, capsys)
    finally:
        tdist.close_client(client)


def _song_that_kills(tmp_path, ckpt, client, capsys):
    src = tmp_path / "songs"
    src.mkdir()
    for k in range(2):
        song(src / f"s{k}.wav", 2, k)
    song(src / "crash.wav", 2, 9)
    plugin = tmp_path / "crash.py"
    plugin.write_text("import os\nfrom drumscribe.transcribe.hookspecs import hookimpl\n\n@hookimpl\n"
                      "def drumscribe_transform_activations(activations, context):\n"
                      "    if activations.source.endswith('crash.wav'):\n        os._exit(1)\n")
    rc, out, err = run_cli([str(src), "-o", str(tmp_path / "out"), "--model", ckpt, "--plugin",
                            str(plugin), "--scheduler", ADDR(client)], capsys)
    assert rc == 1
    assert "done: 2 transcribed, 0 skipped, 1 failed" in out
    assert err[0] == (f"error: {src / 'crash.wav'}: every worker that tried it died (out of "
                      "memory or crashed); nothing was written for it")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["s0.mid", "s1.mid"]


def other_model_file(folder: Path) -> None:
    v = np.full((500, len(CLASS_NAMES)), 0.01, np.float32)
    save_activations(folder / "other.npz", Activations(v, 100.0, list(CLASS_NAMES), "cd" * 32, ""))
    (folder / "other.tsv").write_text("1.0\tkick\t100\n")


@pytest.mark.parametrize("how", ["event", "frame", "plugin picker and class groups"])
def test_calibration_byte_identical(tmp_path, client, how, capsys, small_window):
    val = make_set(tmp_path / "val", n_files=4)
    (val / "bad.npz").write_bytes(b"junk")  # unreadable
    (val / "bad.tsv").write_text("0.1\tkick\t100\n")
    (val / "nolabels.npz").write_bytes((val / "song0.npz").read_bytes())  # no ground truth
    other_model_file(val)  # another model's predictions: skipped with the same words
    args = ["--predictions", str(val), "--level", how if how in ("event", "frame") else "event"]
    if how.startswith("plugin"):  # GridStats: the plugin's picker at each grid threshold
        (tmp_path / "picker.py").write_text(PICKER)
        (tmp_path / "cfg.yaml").write_text(
            "postprocessing:\n  class_groups:\n    hihat: [hihat_closed, hihat_pedal]\n")
        args += ["--plugin", str(tmp_path / "picker.py"), "--config", str(tmp_path / "cfg.yaml")]
    rc1 = calibrate(args + ["-o", str(tmp_path / "one.yaml"), "--report", str(tmp_path / "r1")])
    err1 = [x for x in re.split(r"[\r\n]", capsys.readouterr().err) if "skipped" in x]
    rc2 = calibrate(args + ["-o", str(tmp_path / "dask.yaml"), "--report", str(tmp_path / "r2"),
                            "--scheduler", ADDR(client)])
    err2 = [x for x in re.split(r"[\r\n]", capsys.readouterr().err) if "skipped" in x]
    assert rc1 == rc2 == 1
    assert (tmp_path / "dask.yaml").read_bytes() == (tmp_path / "one.yaml").read_bytes()
    assert tree(tmp_path / "r2") == tree(tmp_path / "r1")
    assert [x[x.index("skipped"):] for x in err2] == [x[x.index("skipped"):] for x in err1]
    assert any("another model" in x for x in err2)


def test_fit_calibration_on_audio_with_client(tmp_path, ckpt, client):
    data = tmp_path / "val"
    data.mkdir()
    for k in range(3):
        song(data / f"v{k}.wav", 2, k)
        (data / f"v{k}.tsv").write_text("0.25\tkick\t100\n0.5\tsnare_head\t100\n1.0\tkick\t100\n")
    one = fit_calibration(tmp_path / "one.yaml", model=ckpt, data=data,
                          cache_dir=tmp_path / "cache1")
    two = fit_calibration(tmp_path / "two.yaml", model=ckpt, data=data,
                          cache_dir=tmp_path / "cache2", client=client)
    assert one.status == two.status == 0
    assert (tmp_path / "two.yaml").read_bytes() == (tmp_path / "one.yaml").read_bytes()
    assert two.calibration.classes == list(CLASS_NAMES)
    assert len(list((tmp_path / "cache2").rglob("*.npz"))) == 3  # the workers filled the cache
    # the calibration drives transcribe; its path, as given, is recorded in each MIDI file
    cal = os.path.relpath(tmp_path / "two.yaml")
    for where in ("one", "dask"):
        extra = ["--scheduler", ADDR(client)] if where == "dask" else []
        assert transcribe([str(data), "-o", str(tmp_path / where), "--model", ckpt,
                           "--calibration", cal, "-q"] + extra) == 0
    assert tree(tmp_path / "dask") == tree(tmp_path / "one")
    assert f"calibration file {cal}".encode() in (tmp_path / "dask" / "v0.mid").read_bytes()


def test_dask_is_imported_only_when_asked(tmp_path, ckpt):
    import subprocess
    import sys

    src = tmp_path / "s.wav"
    song(src, 1)
    code = ("import sys\nfrom drumscribe.transcribe.cli import main\n"
            f"rc = main([{str(src)!r}, '-o', {str(tmp_path / 'o')!r}, '--model', {ckpt!r}, '-q'])\n"
            "import drumscribe.calibration.cli, drumscribe.calibration.api, drumscribe.transcribe.distributed\n"
            "print(rc, sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent.parent, check=True).stdout
    assert out.split("\n")[-2] == "0 []"


def test_missing_dask_is_one_line_with_the_install_hint(tmp_path, ckpt, monkeypatch, capsys):
    import sys

    src = tmp_path / "s.wav"
    song(src, 1)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    rc = transcribe([str(src), "-o", str(tmp_path / "o"), "--model", ckpt, "--workers", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err == ["error: --workers/--scheduler need dask.distributed, which is not installed; "
                   "install it with: pip install 'drumscribe[dask]'"]
    assert not (tmp_path / "o" / "s.mid").exists()
