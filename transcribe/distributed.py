"""Run a ``transcribe`` batch on Dask: songs become tasks, each worker loads the model once.

Three ways to run the same batch, with the same outputs, messages, summary and
exit status:

* one process (the default, no Dask needed);
* ``--workers N``: a :class:`distributed.LocalCluster` of N single-threaded
  worker processes on this machine;
* ``--scheduler ADDRESS``: the workers of a running Dask scheduler (an SSH
  cluster, Kubernetes, a batch system). Songs, model, config and output folder
  must be at the same paths on every worker (a shared file system).

How one process is reproduced exactly
    The client decides what one process would decide before any work: it plans
    every song's outputs (:func:`drumscribe.transcribe.api.plan_batch`, with the same setup
    errors), finishes or removes what an interrupted run left, and a song whose
    every planned output exists is "skipped" (resume); otherwise the task
    writes the song's missing outputs as one unit
    (:class:`drumscribe.transcribe.io.OutputUnit`), as one process does. Songs with the
    same output name run one after another in batch order, each started after
    the previous finished, exactly as in a sequential loop. Everything a task prints
    is collected on the worker and printed by the client in batch order; the
    report lists files in batch order.

Lost workers
    A worker that dies (killed, out of memory) loses only the song it was
    working on: the scheduler gives that task to another worker. A song's
    outputs are committed as one journalled unit, so a kill never leaves a
    half-written song; what a killed task left for its song is finished or
    removed when the song is retried. When
    Dask gives a song up (its workers died more than
    ``distributed.scheduler.allowed-failures`` times, perhaps only because
    another song on the same worker killed it), it is tried once more after the
    other songs, alone on the cluster; if its worker dies again, it is
    reported as failed, like any other bad file.

Dask is an optional extra (``pip install 'drumscribe[dask]'``); this module
imports it only inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import os
import pickle
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .errors import DrumscribeError

INSTALL_HINT = "install it with: pip install 'drumscribe[dask]'"


class DistributedError(DrumscribeError):
    """Dask is missing, the cluster cannot be reached, or a worker cannot set up."""


def require_distributed():
    """Import :mod:`distributed` or say how to install it.

    Raises
    ------
    DistributedError
        If Dask's distributed scheduler is not installed.
    """
    try:
        import distributed
    except ImportError:
        raise DistributedError("--workers/--scheduler need dask.distributed, which is not "
                               f"installed; {INSTALL_HINT}") from None
    return distributed


# ----------------------------------------------------------------------------- clients

def add_arguments(parser) -> None:
    """Add ``--workers`` and ``--scheduler`` (shared by ``transcribe`` and ``calibrate``)."""
    g = parser.add_argument_group("scaling out (Dask; pip install 'drumscribe[dask]')")
    g.add_argument("--workers", type=int, default=1, metavar="N",
                   help="run on N single-threaded local worker processes (1: this process, "
                        "no Dask)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on the workers of this Dask scheduler (tcp://host:8786 or a "
                        "scheduler file); paths must be the same on every worker")


def check_arguments(args, parser) -> None:
    """``parser.error`` for ``--workers`` below 1 or given together with ``--scheduler``."""
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.scheduler and args.workers != 1:
        parser.error("--workers and --scheduler exclude each other (the scheduler's cluster "
                     "decides the number of workers)")


def wanted(args) -> bool:
    """True when the command line asks for Dask (``--workers N > 1`` or ``--scheduler``)."""
    return bool(args.scheduler) or args.workers > 1


def local_client(n_workers: int, threads_per_worker: int = 1, memory_limit="auto", **kwargs):
    """A client of a new :class:`distributed.LocalCluster` of worker processes.

    Parameters
    ----------
    n_workers : int >= 1
    threads_per_worker : int >= 1
        Tasks run at once per worker; each thread holds its own model. Dask
        starts workers with ``OMP_NUM_THREADS=1``, so each task uses one core.
    memory_limit : str or int
        Per worker; Dask restarts a worker that exceeds it (its song is retried).
    **kwargs
        More :class:`~distributed.LocalCluster` arguments.

    Returns
    -------
    distributed.Client
        Closing it (``with local_client(2) as client`` or ``.close()``) also
        closes its cluster.
    """
    import logging

    distributed = require_distributed()
    if int(n_workers) < 1 or int(threads_per_worker) < 1:
        raise DistributedError(f"need at least one worker and one thread, got {n_workers} "
                               f"workers x {threads_per_worker} threads")
    kwargs.setdefault("dashboard_address", ":0")  # any free port: never "8787 is in use"
    kwargs.setdefault("silence_logs", logging.ERROR)
    import dask

    # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536 to return memory to the
    # OS sooner; for this workload (large arrays per song) it costs about 30% more
    # CPU per song (0.30 s instead of 0.23 s of thread time for a 30 s MP3 here).
    # The nanny reads the setting when it is made, so restarted workers keep it.
    # worker-saturation 1.0: a worker holds only the songs it is running, so a worker
    # killed by one song does not count as a failure of songs merely queued on it.
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                          "distributed.scheduler.worker-saturation": 1.0}):
        # A client that starts its own LocalCluster closes it when it is closed.
        return distributed.Client(n_workers=int(n_workers),
                                  threads_per_worker=int(threads_per_worker), processes=True,
                                  memory_limit=memory_limit, set_as_default=False, **kwargs)


def close_client(client) -> None:
    """Close a client (and the cluster :func:`local_client` started with it)."""
    with contextlib.suppress(Exception):
        client.close()


@contextlib.contextmanager
def client_for(workers: int = 1, scheduler: Optional[str] = None):
    """``with client_for(args.workers, args.scheduler) as client``: None for one process.

    Raises
    ------
    DistributedError
        If Dask is missing or the scheduler cannot be reached.
    """
    if not scheduler and int(workers) <= 1:
        yield None
        return
    client = None
    try:
        with _sigint_deferred():  # Ctrl-C while the cluster starts: stop once it can be closed
            client = _connect(scheduler) if scheduler else local_client(workers)
        yield client
    finally:
        if client is not None:
            close_client(client)


@contextlib.contextmanager
def _sigint_deferred():
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: got.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
    if got:
        raise KeyboardInterrupt


def _connect(scheduler: str):
    distributed = require_distributed()
    try:
        if scheduler.endswith(".json") and Path(scheduler).is_file():
            return distributed.Client(scheduler_file=scheduler, timeout="30s",
                                      set_as_default=False)
        return distributed.Client(scheduler, timeout="30s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise DistributedError(f"--scheduler {scheduler}: cannot connect ({exc}); start one "
                               "with `dask scheduler` and give its address") from None


class Completions:
    """Futures as they complete, with a length, so ``tqdm(it)`` shows a total.

    Parameters
    ----------
    client : distributed.Client
    futures : iterable of Future
        The first futures; :meth:`add` more while iterating.
    total : int, optional
        The length to report (default: the number of first futures).
    """

    def __init__(self, client, futures=(), total: Optional[int] = None):
        from distributed import as_completed

        futures = list(futures)
        self.total = len(futures) if total is None else int(total)
        self._ac = as_completed(futures, loop=client.loop)

    def add(self, future) -> None:
        self._ac.add(future)

    def __len__(self):
        return self.total

    def __iter__(self):
        return iter(self._ac)


def worker_peak_rss_mb(client) -> Dict[str, float]:
    """Peak resident memory of each worker process in MB (for the benchmark)."""
    def peak():
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    return client.run(peak)


# ----------------------------------------------------------------------------- worker side

_LOCAL = threading.local()
MODEL_LOADS = {"count": 0}
"""Models loaded by this process (tests read it on each worker)."""


def token_of(obj) -> str:
    """A stable key for a picklable setup (same setup, same key, on any machine)."""
    import cloudpickle

    return hashlib.sha256(cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()


def cached_per_thread(token: str, build: Callable[[], object], keep: int = 2):
    """``build()`` once per worker thread and ``token``; the newest ``keep`` are kept."""
    cache = getattr(_LOCAL, "cache", None)
    if cache is None:
        cache = _LOCAL.cache = {}
    if token in cache:
        return cache[token]
    value = build()
    while len(cache) >= keep:
        cache.pop(next(iter(cache)))
    cache[token] = value
    return value


@dataclass
class SessionSpec:
    """What a worker needs to build the client's :class:`~drumscribe.transcribe.api.TranscriptionSession`.

    Attributes
    ----------
    options : dict
        The session's constructor arguments (``session.options``).
    fingerprint : str
        The model's sha256 on the client; a worker that loads another model refuses.
    cwd : str
        The client's working folder (relative song paths are resolved against it
        on a worker that runs elsewhere).
    """

    options: dict
    fingerprint: str
    cwd: str = field(default_factory=os.getcwd)

    @classmethod
    def from_session(cls, session) -> "SessionSpec":
        return cls(copy.deepcopy(session.options), session.transcriber.checkpoint.fingerprint)

    def options_here(self) -> dict:
        """The options, with relative paths made absolute when this process runs elsewhere.

        Unchanged in the client's folder, so that paths recorded in outputs
        (threshold sources in the MIDI file) are the ones one process records.
        """
        if os.getcwd() == self.cwd:
            return self.options
        opts = dict(self.options)
        for k in ("model", "calibration"):
            if opts.get(k):
                opts[k] = os.path.join(self.cwd, opts[k])
        if opts.get("config") and not hasattr(opts["config"], "postprocessing"):
            opts["config"] = os.path.join(self.cwd, opts["config"])
        opts["plugins"] = [os.path.join(self.cwd, p) if str(p).endswith(".py") else p
                           for p in opts.get("plugins", ())]
        return opts


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"process {os.getpid()}"


def _session_for(spec: SessionSpec):
    from .api import TranscriptionSession

    def build():
        box: List[Tuple[str, str]] = []
        try:
            session = TranscriptionSession(**spec.options_here(),
                                           log=lambda m: box.append(("out", m)))
        except (DrumscribeError, ValueError) as exc:
            raise DistributedError(f"worker {_worker_name()}: cannot set up transcription "
                                   f"({exc}); every worker must see the model, config and "
                                   "songs at the same paths") from None
        got = session.transcriber.checkpoint.fingerprint
        if got != spec.fingerprint:
            raise DistributedError(f"worker {_worker_name()}: model {spec.options.get('model')} "
                                   f"has sha256 {got[:12]}, the client's has "
                                   f"{spec.fingerprint[:12]}; give every worker the same model")
        MODEL_LOADS["count"] += 1
        return session, box

    return cached_per_thread(token_of(spec), build)


@dataclass
class Outcome:
    """What happened to one song: ``status`` ("done", "skipped", "failed"), its messages."""

    status: str
    messages: List[Tuple[str, str]] = field(default_factory=list)
    error: str = ""


def _skip_message(f: Path, midi_path: Path) -> Outcome:
    return Outcome("skipped", [("out", f"{f}: {midi_path} exists, skipped (pass --overwrite to redo)")])


def _absolute(plan, cwd: str):
    """``plan`` with its relative paths made the client's (a worker may run elsewhere)."""
    import dataclasses

    def fix(p):
        return p if p is None or Path(p).is_absolute() else Path(cwd) / p

    return dataclasses.replace(plan, input=fix(plan.input),
                               outputs={k: fix(v) for k, v in plan.outputs.items()},
                               export_dir=fix(plan.export_dir))


def transcribe_task(spec: SessionSpec, plan, kinds: Sequence[str]) -> Outcome:
    """One song on a worker: the body of :func:`drumscribe.transcribe.api.transcribe_files`' loop.

    The client has planned the song's outputs (:func:`drumscribe.transcribe.api.plan_batch`),
    finished or removed what an interrupted run left and chosen the outputs
    still ``kinds`` to write; the worker writes them as one unit
    (:class:`drumscribe.transcribe.io.OutputUnit`), exactly as one process does. A task
    redone after its worker died finds either nothing of the song or the
    whole committed unit, never a part of it.
    """
    from .api import _summary, _transcribe_planned, recover_outputs

    session, box = _session_for(spec)
    box.clear()
    if os.getcwd() != spec.cwd:  # a worker elsewhere: relative paths are the client's
        plan = _absolute(plan, spec.cwd)
    f = plan.input
    recover_outputs([plan])  # what an earlier attempt on a worker that died left
    t0 = time.perf_counter()
    try:
        mp, result, extra = _transcribe_planned(session, plan, list(kinds))
    except DrumscribeError as exc:
        msg = str(exc)
        if str(f) not in msg:
            msg = f"{f}: {msg}"
        return Outcome("failed", box[:] + [("err", f"error: {msg}")], msg)
    except MemoryError:
        return Outcome("failed", box[:] + [("err", f"error: {f}: out of memory")],
                       f"{f}: out of memory")
    msgs = box[:]
    if session.post.context.verbose:
        for c in result.thresholds:
            msgs.append(("out", f"  threshold {c:<13} {result.thresholds[c]:.3f}  "
                                f"({result.sources[c]})"))
    dt = time.perf_counter() - t0
    kept = [k for k in plan.outputs if k not in kinds]
    msgs.append(("out", f"{f} -> {mp}: {_summary(result)} [{dt:.1f} s]"
                        + (f"; also {', '.join(extra)}" if extra else "")
                        + (f" (kept the existing {', '.join(kept)})" if kept else "")))
    return Outcome("done", msgs)


# ----------------------------------------------------------------------------- client side

def in_flight_limit(client, per_thread: int = 4, least: int = 64) -> int:
    """How many tasks to keep queued: enough to feed every worker thread, not a million."""
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # noqa: BLE001 - a scheduler that cannot say: the floor
        threads = 0
    return max(least, per_thread * threads)


def transcribe_on(client, session, files: Sequence, out_dir=None, overwrite: bool = False,
                  save_activations: bool = False, chart_dir=None, preview: bool = False,
                  say=print, err=print, progress: bool = True, report=None):
    """:func:`drumscribe.transcribe.api.transcribe_files` with each song a task on ``client``'s workers.

    Same arguments, outputs, messages (in batch order), report and summary as
    the one-process function; see the module docstring for how.

    Returns
    -------
    drumscribe.transcribe.api.BatchReport

    Raises
    ------
    DistributedError
        If a worker cannot load the session's model, config or plugins.
    """
    from distributed import KilledWorker, as_completed
    from tqdm import tqdm

    from .api import (BatchReport, _chart_subfolder, make_output_dir, plan_batch, recover_outputs,
                      say_summary)

    report = report if report is not None else BatchReport()
    plans = plan_batch(files, out_dir, save_activations, chart_dir, preview,
                       _chart_subfolder(session))  # the same plan, checks and recovery as
    for folder in dict.fromkeys(fo for p in plans for fo in p.folders):  # one process
        make_output_dir(folder)
    for name, what in recover_outputs(plans).items():
        if what == "finished":
            say(f"{name}: finished writing the outputs of an interrupted run")
    files = [p.input for p in plans]
    spec = SessionSpec.from_session(session)
    chains: Dict[str, deque] = {}
    for i, p in enumerate(plans):  # songs sharing a unit folder and name: one after another
        chains.setdefault(str(p.key).casefold(), deque()).append(i)
    stem_of = {i: k for k, chain in chains.items() for i in chain}
    outcomes: List[Optional[Outcome]] = [None] * len(files)
    index: Dict[str, int] = {}
    ac = as_completed(loop=client.loop)
    bar = tqdm(total=len(files), unit="song", disable=not progress or len(files) < 2, leave=False)
    run = uuid.uuid4().hex[:8]
    printed = 0

    def launch(stem):
        chain = chains[stem]
        while chain:
            i = chain.popleft()
            plan = plans[i]
            kinds = plan.missing(overwrite)
            if not kinds:
                outcomes[i] = _skip_message(plan.input, plan.outputs["midi"])
                bar.update(1)
                continue
            submit(i, kinds)
            return

    def submit(i, kinds, attempt=""):
        fut = client.submit(transcribe_task, spec, plans[i], list(kinds), pure=False, retries=0,
                            key=f"transcribe-{run}-{i}-{files[i].name}{attempt}")
        index[fut.key] = i
        pending[fut.key] = fut
        started[i] = kinds
        ac.add(fut)

    def flush():
        nonlocal printed
        while printed < len(files) and outcomes[printed] is not None:
            f, o = files[printed], outcomes[printed]
            if o.status == "done":
                report.done.append(str(f))
            elif o.status == "skipped":
                report.skipped.append(str(f))
            else:
                report.failed[str(f)] = o.error
            for stream, text in o.messages:
                (say if stream == "out" else err)(text)
            printed += 1

    pending: Dict[str, object] = {}
    heads = deque(chains)  # stems in batch order; at most `window` songs queued at once
    window = in_flight_limit(client)

    def fill():
        while heads and len(pending) < window:
            launch(heads.popleft())

    started: Dict[int, list] = {}
    suspects: deque = deque()  # songs whose workers died: tried once more, each alone
    alone = set()
    try:
        fill()
        flush()
        while True:
            for fut in ac:
                i = index.pop(fut.key)
                pending.pop(fut.key, None)
                if fut.status == "error" and isinstance(fut.exception(), KilledWorker):
                    fut.release()
                    if i not in alone:  # maybe lost with a worker another song killed
                        suspects.append(i)
                        continue
                    msg = (f"{files[i]}: every worker that tried it died (out of memory or "
                           "crashed); nothing was written for it")
                    outcomes[i] = Outcome("failed", [("err", f"error: {msg}")], msg)
                else:
                    outcomes[i] = fut.result()  # raises DistributedError, or a plugin's bug
                    fut.release()
                bar.update(1)
                launch(stem_of[i])  # the next song of the same name, now that this is done
                fill()
                flush()
            if not suspects:
                break
            i = suspects.popleft()  # nothing else is running now
            alone.add(i)
            submit(i, started[i], "-alone")
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel([f for f in pending.values() if f.status != "finished"])
            for key, fut in pending.items():  # finished, not yet seen: count them (Ctrl-C)
                if fut.status == "finished":
                    outcomes[index[key]] = fut.result()
            flush()
        raise
    finally:
        bar.close()
    flush()
    say_summary(report, len(files), say, err)
    return report


def run_cli(args, session, files, say, report) -> int:
    """The ``transcribe`` command's batch with ``--workers N`` or ``--scheduler``; exit status."""
    import sys

    try:
        with client_for(args.workers, args.scheduler) as client:
            transcribe_on(client, session, files, args.output_dir, overwrite=args.overwrite,
                          save_activations=args.save_activations, chart_dir=args.chart,
                          preview=args.preview, say=say, err=lambda m: print(m, file=sys.stderr),
                          progress=not args.quiet, report=report)
    except DistributedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if not report.failed else 1
