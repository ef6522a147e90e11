#!/usr/bin/env python
"""Benchmark: songs per minute and calibration audio hours per minute on 1, 2 and N Dask workers.

    python bench/bench_scale.py [--workers 1,2,4] [--songs 8] [--seconds 240]
                                [--cal-files 4] [--model models/default.pt]

Every row is a :class:`distributed.LocalCluster` of single-threaded worker
processes (``OMP_NUM_THREADS=1``, one thread each) started for that row, so
the ratio to one worker measures what more workers add, nothing else. The
songs are generated stereo MP3s with a drum-like pattern; the calibration set
is ``--cal-files`` more of them with ``.tsv`` ground truth, calibrated with
``--model`` from scratch (a fresh prediction cache, so the model runs on every
file). Before timing, each worker transcribes one warm-up song (model loading,
imports), so the figures are steady-state throughput; cluster start-up is
printed separately. "peak MB per worker" is the largest peak RSS of a worker
process of the row. The first row, "one process", is the plain command's loop
(no Dask) with one torch thread, for reference.

The machine load (``os.getloadavg``) is printed before and after: other busy
processes make more workers look worse than they are.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def make_set(folder: Path, n: int, seconds: float, seed: int, truth: bool) -> list:
    import numpy as np
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    sr = 44100
    paths = []
    for k in range(n):
        rng = np.random.default_rng(seed + k)
        x = 0.02 * rng.standard_normal(int(seconds * sr)).astype(np.float32)
        times = np.arange(0.25, seconds - 0.5, 0.25)  # eighth notes at 120 BPM
        m = int(0.08 * sr)
        env = np.exp(-np.arange(m) / (0.01 * sr)).astype(np.float32)
        for t in times:
            i = int(t * sr)
            x[i:i + m] += 0.4 * rng.standard_normal(m).astype(np.float32) * env
        p = folder / f"song{seed + k:04d}.mp3"
        sf.write(p, np.stack([x, x], 1), sr, format="MP3", subtype="MPEG_LAYER_III")
        if truth:
            (folder / f"{p.stem}.tsv").write_text(
                "".join(f"{t:.4f}\t{'kick' if j % 2 == 0 else 'hihat_closed'}\t100\n"
                        for j, t in enumerate(times)))
        paths.append(p)
    return paths


def warm_up(client, session, song: Path, out: Path) -> None:
    """One song on every worker (model load, imports), before the clock starts."""
    from drumscribe.transcribe.api import plan_batch
    from drumscribe.transcribe.distributed import SessionSpec, transcribe_task

    spec = SessionSpec.from_session(session)
    futs = []
    for i, w in enumerate(client.scheduler_info()["workers"]):
        plan = plan_batch([song], Path(out) / str(i))[0]  # one folder per worker: no clash
        futs.append(client.submit(transcribe_task, spec, plan, plan.missing(True),
                                  workers=[w], allow_other_workers=False, pure=False))
    client.gather(futs)


def warm_up_calibration(client, session, song: Path, cache: Path) -> None:
    """Load calibrate's model on every worker (the warm-up song's predictions are cached)."""
    from drumscribe.calibration.distributed import RemoteCache

    remote = RemoteCache(session.options["model"], session.transcriber.checkpoint.fingerprint,
                         cache)
    client.gather([client.submit(remote.load, str(song), workers=[w], allow_other_workers=False,
                                 pure=False) for w in client.scheduler_info()["workers"]])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(ROOT / "models" / "default.pt"))
    p.add_argument("--workers", default=None,
                   help="comma-separated worker counts (default 1,2,<cpu count>)")
    p.add_argument("--songs", type=int, default=8)
    p.add_argument("--seconds", type=float, default=240.0, help="length of each song")
    p.add_argument("--cal-files", type=int, default=4)
    args = p.parse_args(argv)
    counts = ([int(x) for x in args.workers.split(",")] if args.workers
              else sorted({1, 2, os.cpu_count() or 1}))

    import torch

    torch.set_num_threads(1)
    from drumscribe.calibration.api import fit_calibration
    from drumscribe.transcribe.api import TranscriptionSession, transcribe_files, transcribe_many
    from drumscribe.transcribe.distributed import local_client, worker_peak_rss_mb

    quiet = dict(say=lambda m: None, err=lambda m: None, progress=False)
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        songs = make_set(d / "songs", args.songs, args.seconds, 0, False)
        warm = make_set(d / "warm", 1, 10.0, 5000, False)[0]
        cal = d / "cal"
        make_set(cal, args.cal_files, args.seconds, 1000, True)
        cal_hours = args.cal_files * args.seconds / 3600
        session = TranscriptionSession(model=args.model)

        transcribe_files(session, [warm], d / "o-warm", overwrite=True, **quiet)
        t0 = time.perf_counter()
        transcribe_files(session, songs, d / "o-one", **quiet)
        one = time.perf_counter() - t0
        rows.append(("one process (no Dask)", 60 * args.songs / one, None, None, None))
        for n in counts:
            t0 = time.perf_counter()
            with local_client(n) as client:
                client.wait_for_workers(n)
                startup = time.perf_counter() - t0
                warm_up(client, session, warm, d / "o-warm")
                out = d / f"o-{n}"
                t0 = time.perf_counter()
                rep = transcribe_many(songs, out, client=client, session=session, **quiet)
                t_songs = time.perf_counter() - t0
                assert len(rep.done) == args.songs, rep
                cache = d / f"cache-{n}"
                warm_up_calibration(client, session, warm, cache)
                t0 = time.perf_counter()
                fit_calibration(d / f"cal-{n}.yaml", model=args.model, data=cal, cache_dir=cache,
                                client=client)
                t_cal = time.perf_counter() - t0
                peak = max(worker_peak_rss_mb(client).values())
            rows.append((f"{n} worker{'s' if n > 1 else ''}", 60 * args.songs / t_songs,
                         60 * cal_hours / t_cal, peak, startup))
            shutil.rmtree(cache, ignore_errors=True)
        same = {(d / f"cal-{n}.yaml").read_bytes() for n in counts}
    load1 = os.getloadavg()
    base = next(r for r in rows if r[0] == "1 worker") if 1 in counts else None
    print(f"{args.songs} songs of {args.seconds:.0f} s (stereo MP3), calibration on "
          f"{args.cal_files} files = {cal_hours * 60:.0f} min of audio; {os.cpu_count()} CPU "
          f"cores; load average {load0[0]:.2f} before, {load1[0]:.2f} after")
    print("| run | songs/min | vs 1 worker | calibration audio h/min | vs 1 worker | "
          "peak MB per worker | cluster start s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, spm, hpm, peak, startup in rows:
        r1 = f"{spm / base[1]:.2f}x" if base else "-"
        r2 = f"{hpm / base[2]:.2f}x" if base and hpm else "-"
        print(f"| {name} | {spm:.1f} | {r1} | {hpm:.2f} | {r2} | {peak:.0f} | {startup:.1f} |"
              if hpm else f"| {name} | {spm:.1f} | {r1} | - | - | - | - |")
    print(f"calibration files identical for every worker count: {len(same) == 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
