"""Training on a tiny corpus rendered in the test: AUC logging, loss goes down, resume."""

import csv
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from synth import make_kit
from drumscribe.training.dataset import frame_targets, load_split
from drumscribe.training.grooves import generate_groove
from drumscribe.training.kits import load_hydrogen
from drumscribe.training.render import render_clip
from drumscribe.training.train import TrainConfig, auc_metrics, train
from drumscribe.transcribe.annotations import read_annotations, write_text_annotations
from drumscribe.transcribe.model import load_checkpoint

CLASSES = ["kick", "snare_head", "hihat_closed", "crash"]


def test_auc_metrics_match_sklearn_and_skip_empty_classes():
    rng = np.random.default_rng(0)
    y = (rng.random((2000, 3)) < 0.05).astype(float)
    y[:, 2] = 0  # no positives
    p = np.clip(y * 0.4 + rng.random((2000, 3)) * 0.6, 0, 1)
    with pytest.warns(RuntimeWarning, match="undefined.*c"):
        m = auc_metrics(y, p, ["a", "b", "c"])
    for i in range(2):
        assert m[f"val_roc_auc_class_{i}"] == pytest.approx(roc_auc_score(y[:, i], p[:, i]), abs=1e-12)
        assert m[f"val_pr_auc_class_{i}"] == pytest.approx(average_precision_score(y[:, i], p[:, i]), abs=1e-12)
    assert m["val_roc_auc_class_2"] is None and m["val_pr_auc_class_2"] is None
    assert m["val_roc_auc_macro"] == pytest.approx(np.mean([roc_auc_score(y[:, i], p[:, i]) for i in range(2)]))


def test_frame_targets_soft_neighbours(tmp_path):
    p = tmp_path / "a.tsv"
    write_text_annotations(p, [(0.10, "kick", 100), (0.50, "crash", 90), (0.51, "crash", 90)])
    y = frame_targets(read_annotations(p), CLASSES, 100, 100.0, soft=0.5)
    assert y[10, 0] == 1 and y[9, 0] == 0.5 and y[11, 0] == 0.5 and y[12, 0] == 0
    assert y[50, 3] == 1 and y[51, 3] == 1 and y[49, 3] == 0.5 and y[52, 3] == 0.5
    assert y[:, 1].sum() == 0


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    kit = load_hydrogen(make_kit(tmp_path_factory.mktemp("kits")))
    for split, n in (("train", 6), ("val", 2)):
        (root / split).mkdir()
        for i in range(n):
            seed = i + (100 if split == "val" else 0)
            events, tempo = generate_groove("rock", seed, 6.0)
            audio, labels, _ = render_clip(kit, events, 6.0, tempo, seed, accomp_p=0.0, augment_strength=0.2)
            sf.write(root / split / f"c{i}.flac", audio, 44100)
            write_text_annotations(root / split / f"c{i}.tsv", labels)
    return root


def test_short_training_run_lowers_loss_and_resumes(tiny_corpus, tmp_path):
    torch.manual_seed(0)
    cfg = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "m.pt"), run_dir=str(tmp_path / "run"),
                      classes=CLASSES, epochs=3, steps_per_epoch=12, batch_size=4, crop_frames=200,
                      lr=3e-3, patience=10, threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = train(cfg, log=lambda m: None)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    for k in ["val_roc_auc_macro", "val_pr_auc_macro"] + [f"val_roc_auc_class_{i}" for i in range(4)]:
        assert k in rows[0]
    # the logged AUCs equal scikit-learn's on the best model's own predictions
    ck = load_checkpoint(tmp_path / "m.pt")
    assert ck.classes == CLASSES and ck.training["epoch"] == best["epoch"]
    clips = load_split(tiny_corpus / "val", CLASSES, ck.features, progress=False)
    with torch.inference_mode():
        probs = np.concatenate([torch.sigmoid(ck.model(torch.from_numpy(c.features.astype(np.float32))[None]))[0].numpy()
                                for c in clips])
    hard = np.concatenate([c.hard for c in clips])
    row = rows[best["epoch"]]
    for i in range(len(CLASSES)):
        if hard[:, i].any():
            assert float(row[f"val_roc_auc_class_{i}"]) == pytest.approx(roc_auc_score(hard[:, i], probs[:, i]), abs=2e-4)
        else:
            assert row[f"val_roc_auc_class_{i}"] == ""
    # resume continues where it stopped
    cfg.epochs, cfg.resume = 4, True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        train(cfg, log=lambda m: None)
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]


def test_split_channels_from_a_one_channel_model_keep_every_epoch(tiny_corpus, tmp_path):
    """--init from a one-channel model into a percussive/harmonic model, every epoch kept."""
    torch.manual_seed(0)
    common = dict(corpus=str(tiny_corpus), classes=CLASSES, steps_per_epoch=4, batch_size=4,
                  crop_frames=200, patience=10, threads=1)
    one = TrainConfig(out=str(tmp_path / "one.pt"), run_dir=str(tmp_path / "r1"), epochs=1, **common)
    two = TrainConfig(out=str(tmp_path / "two.pt"), run_dir=str(tmp_path / "r2"), epochs=2,
                      init=str(tmp_path / "one.pt"), background_frames=21, percussive_bands=9,
                      keep_epochs=True, **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        train(one, log=lambda m: None)
        logs = []
        train(two, log=logs.append)
    assert any("weights from" in m for m in logs)
    first = load_checkpoint(tmp_path / "one.pt")
    kept = [load_checkpoint(tmp_path / "r2" / f"epoch{e}.pt") for e in (0, 1)]
    for e, ck in enumerate(kept):
        assert ck.training["epoch"] == e and ck.features.channels == 2
        assert ck.features.percussive_bands == 9 and ck.model.conv2d[0].weight.shape[1] == 2
    # the percussive channel started from the one-channel weights, the harmonic one from zero:
    # after 8 small steps the first stays near its start and the second near zero
    w_old = first.model.conv2d[0].weight.detach()[:, 0]
    w = kept[0].model.conv2d[0].weight.detach()
    assert float((w[:, 0] - w_old).abs().mean()) < 0.5 * float(w_old.abs().mean())
    assert float(w[:, 1].abs().mean()) < 0.5 * float(w_old.abs().mean())
    last = load_checkpoint(tmp_path / "r2" / "last.pt")
    for k, v in last.model.state_dict().items():
        assert torch.equal(v, kept[1].model.state_dict()[k])


def test_a_bad_channel_layout_stops_training_in_one_line(tiny_corpus, tmp_path):
    cfg = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "m.pt"), run_dir=str(tmp_path / "run"),
                      classes=CLASSES, epochs=1, percussive_bands=9)
    with pytest.raises(SystemExit, match="--percussive-bands 9: feature setting percussive_bands needs "
                                         "background_frames"):
        train(cfg, log=lambda m: None)
    assert not (tmp_path / "m.pt").exists()


def test_train_extra_adds_clips_of_another_split(tiny_corpus, tmp_path):
    n_train = len(list((tiny_corpus / "train").glob("*.tsv")))
    n_extra = len(list((tiny_corpus / "val").glob("*.tsv")))
    logs = []
    cfg = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "m.pt"), run_dir=str(tmp_path / "run"),
                      classes=CLASSES, epochs=1, steps_per_epoch=2, batch_size=4, crop_frames=200, threads=1,
                      train_extra=str(tiny_corpus / "val"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        train(cfg, log=logs.append)
    assert f"train clips: {n_train + n_extra}," in " ".join(logs)
    assert load_checkpoint(tmp_path / "m.pt").training["config"]["train_extra"] == str(tiny_corpus / "val")


def test_average_checkpoints_means_the_weights_and_refuses_a_mismatch(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    shipped = root / "models" / "default.pt"
    base = torch.load(str(shipped), map_location="cpu", weights_only=True)
    moved = dict(base, state_dict={k: (v + 0.02 if torch.is_floating_point(v) else v + 7)
                                   for k, v in base["state_dict"].items()})
    torch.save(moved, str(tmp_path / "b.pt"))
    script = [sys.executable, str(root / "scripts" / "average_checkpoints.py")]
    run = subprocess.run(script + [str(shipped), str(tmp_path / "b.pt"), "-o", str(tmp_path / "avg.pt")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    avg = torch.load(str(tmp_path / "avg.pt"), map_location="cpu", weights_only=True)
    for k, v in base["state_dict"].items():
        if torch.is_floating_point(v):
            assert torch.allclose(avg["state_dict"][k], v + 0.01, atol=1e-6), k
        else:  # counters come from the last checkpoint
            assert torch.equal(avg["state_dict"][k], v + 7), k
    assert avg["training"]["averaged_from"] == [str(shipped), str(tmp_path / "b.pt")]
    ck = load_checkpoint(tmp_path / "avg.pt")
    assert ck.classes == load_checkpoint(shipped).classes
    assert ck.fingerprint != load_checkpoint(shipped).fingerprint
    # the output is never overwritten without --overwrite, and other runs' checkpoints are refused
    again = subprocess.run(script + [str(shipped), "-o", str(tmp_path / "avg.pt")], capture_output=True, text=True)
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr
    torch.save(dict(base, classes=list(base["classes"])[::-1]), str(tmp_path / "c.pt"))
    bad = subprocess.run(script + [str(shipped), str(tmp_path / "c.pt"), "-o", str(tmp_path / "x.pt")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "classes differs" in bad.stderr and not (tmp_path / "x.pt").exists()


def test_wider_convolutions_from_a_narrower_model(tiny_corpus, tmp_path):
    """--conv2d-channels / --conv1d-channels with --init: the checkpoint carries the wider
    architecture, and a bad width is one line before anything is written."""
    torch.manual_seed(0)
    common = dict(corpus=str(tiny_corpus), classes=CLASSES, steps_per_epoch=3, batch_size=4,
                  crop_frames=200, patience=10, threads=1, epochs=1)
    narrow = TrainConfig(out=str(tmp_path / "narrow.pt"), run_dir=str(tmp_path / "r1"), **common)
    wide = TrainConfig(out=str(tmp_path / "wide.pt"), run_dir=str(tmp_path / "r2"),
                       init=str(tmp_path / "narrow.pt"), conv2d_channels="12", conv1d_channels="128,160",
                       **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        train(narrow, log=lambda m: None)
        logs = []
        train(wide, log=logs.append)
    ck = load_checkpoint(tmp_path / "wide.pt")
    assert ck.arch.conv2d_channels == (12,) and ck.arch.conv1d_channels == (128, 160)
    assert ck.model.conv2d[0].weight.shape[0] == 12
    # 2-D conv and its batch norm (5), the 1-D conv reading it, the second 1-D conv and its
    # batch norm (5), the GRU's input weights in both directions (2)
    assert any("weights from" in m and "grown: 13 tensors" in m for m in logs)
    bad = TrainConfig(out=str(tmp_path / "bad.pt"), run_dir=str(tmp_path / "r3"), conv2d_channels="8,x",
                      **common)
    with pytest.raises(SystemExit, match="--conv2d-channels '8,x': give at most 16 integers in 1..4096"):
        train(bad, log=lambda m: None)
    assert not (tmp_path / "bad.pt").exists()
    # wider than a checkpoint may hold (load_checkpoint would refuse it), and more
    # frequency pooling than 80 bands allow: both refused before any feature is computed
    for widths, match in (("5000", "--conv2d-channels '5000': give at most 16 integers in 1..4096"),
                          ("8,8,8,8", "--conv2d-channels 8,8,8,8: too much frequency pooling for n_mels")):
        cfg = TrainConfig(out=str(tmp_path / "bad.pt"), run_dir=str(tmp_path / "r3"), conv2d_channels=widths,
                          **common)
        with pytest.raises(SystemExit, match=match):
            train(cfg, log=lambda m: None)
    assert not (tmp_path / "bad.pt").exists() and not (tmp_path / "r3").exists()


def test_validate_checkpoints_prints_the_runs_own_validation_figure(tiny_corpus, tmp_path):
    """scripts/validate_checkpoints.py scores a checkpoint as train.py selected it, on the
    val split plus an extra folder (here the train split stands in for one)."""
    import subprocess
    import sys
    from pathlib import Path

    torch.manual_seed(1)
    cfg = TrainConfig(corpus=str(tiny_corpus), out=str(tmp_path / "m.pt"), run_dir=str(tmp_path / "run"),
                      classes=CLASSES, epochs=2, steps_per_epoch=4, batch_size=4, crop_frames=200,
                      patience=10, threads=1, val_extra=str(tiny_corpus / "train"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best = train(cfg, log=lambda m: None)
    row = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))[best["epoch"]]
    script = Path(__file__).resolve().parents[1] / "scripts" / "validate_checkpoints.py"
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "m.pt"), "--corpus", str(tiny_corpus),
                          "--val-extra", str(tiny_corpus / "train"), "--cache-dir", str(tmp_path / "feat")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    line = [ln for ln in run.stdout.splitlines() if ln.startswith(f"| {tmp_path / 'm.pt'} |")]
    pr, roc = (float(x) for x in line[0].strip("| ").split("|")[1:3])
    assert pr == pytest.approx(float(row["val_pr_auc_macro"]), abs=1e-4)
    assert roc == pytest.approx(float(row["val_roc_auc_macro"]), abs=1e-4)
    # a missing folder is one line and a non-zero exit
    bad = subprocess.run([sys.executable, str(script), str(tmp_path / "m.pt"), "--corpus", str(tmp_path / "none")],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no such folder" in bad.stderr and bad.stdout == ""
