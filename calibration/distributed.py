"""``calibrate`` on Dask: per-file statistics as tasks, reduced into the one-process statistics.

The same sweep runs on every validation file as its own task
(:func:`drumscribe.calibration.sweep.sweep` over a one-file list), on a worker that keeps
its postprocessor (and, with ``--model``, its model) loaded. The statistics are
integer counts, so adding them up (:meth:`HistogramStats.merge`,
:meth:`GridStats.merge`) in any order gives exactly the counts one process
accumulates, and the calibration file is byte-identical. The rules that depend
on file order — the first usable file fixes the model's classes and
fingerprint, later files from another model are skipped with the same
message — are applied by the client in file order, from small per-file
headers; the large histograms are merged on the workers, one running sum per
model, and only the final sum comes to the client.

Dask is imported only when this module's functions run.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import uuid
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from drumscribe.transcribe.distributed import (Completions, DistributedError, cached_per_thread,
                                    in_flight_limit, token_of)
from drumscribe.transcribe.errors import DrumscribeError

from .sweep import DEFAULT_BINS, Item, SweepResult, check_level_window, confusion, sweep

_NO_USABLE = "no usable validation file"


# ----------------------------------------------------------------------------- worker side

@dataclass
class PostprocessorSpec:
    """The arguments of the client's :class:`~drumscribe.transcribe.pipeline.Postprocessor`."""

    config: object
    model_classes: List[str]
    fingerprint: str
    plugins: List[str] = field(default_factory=list)
    disable: List[str] = field(default_factory=list)

    def build(self):
        from drumscribe.transcribe.pipeline import Postprocessor

        return Postprocessor(self.config, self.model_classes, self.fingerprint,
                             plugins=self.plugins, disable=self.disable)


def postprocessor_for(spec: PostprocessorSpec):
    """The worker thread's postprocessor for ``spec`` (built once)."""
    return cached_per_thread("post-" + token_of(spec), spec.build)


class RemoteCache:
    """Stands in for :class:`drumscribe.calibration.data.PredictionCache` in the items sent to workers.

    ``load(path)`` runs on a worker: its thread's own model and cache (loaded
    once) give the activations, so the model is never shipped with a task.
    """

    def __init__(self, model, fingerprint: str, cache_dir, device: str = "cpu"):
        self.model = os.path.abspath(model)
        self.fingerprint = fingerprint
        self.cache_dir = os.path.abspath(cache_dir)
        self.device = device

    def _cache(self):
        from drumscribe.transcribe.distributed import MODEL_LOADS, _worker_name
        from drumscribe.transcribe.inference import Transcriber

        from .data import PredictionCache

        def build():
            tr = Transcriber(self.model, device=self.device)
            if tr.checkpoint.fingerprint != self.fingerprint:
                raise DistributedError(f"worker {_worker_name()}: model {self.model} has sha256 "
                                       f"{tr.checkpoint.fingerprint[:12]}, the client's has "
                                       f"{self.fingerprint[:12]}; give every worker the same model")
            MODEL_LOADS["count"] += 1
            return PredictionCache(tr, self.cache_dir)

        return cached_per_thread("model-" + token_of((self.model, self.fingerprint,
                                                      self.cache_dir, self.device)), build)

    def load(self, audio_path):
        return self._cache().load(audio_path)


@dataclass
class FileHead:
    """What the client needs of one file to apply the file-order rules (small).

    ``model_classes``/``fingerprint`` are None when the activations could not be
    loaded; ``message`` is the reason a file was skipped.
    """

    ok: bool
    message: str = ""
    model_classes: Optional[List[str]] = None
    fingerprint: Optional[str] = None
    classes: Optional[List[str]] = None
    picker: str = ""
    by_group: Optional[object] = None  # the file's GroupStats (one group, small)
    domain: Optional[List[dict]] = None  # the file's domain entries (``describe``)


@dataclass
class FileStats:
    head: FileHead
    frame: object = None
    event: object = None


def file_stats_task(spec: PostprocessorSpec, item: Item, level: str, window_ms: float,
                    widen: int, bins: int, grid, describe_audio: Optional[bool] = None) -> FileStats:
    """One file's sweep statistics on a worker (with its domain description when
    ``describe_audio`` is not None)."""
    post = postprocessor_for(spec)
    collector = None
    if describe_audio is not None:
        from .domain import Collector

        collector = Collector(audio=describe_audio)
    seen: Dict[str, object] = {}

    def load():
        act = item.load()
        seen["classes"], seen["fingerprint"] = list(act.classes), act.model_fingerprint
        return act

    warned: List[str] = []
    try:
        res = sweep([dataclasses.replace(item, load=load)], post,
                    level=level, window_ms=window_ms, widen=widen, bins=bins, grid=grid,
                    warn=warned.append, describe=collector)
    except DrumscribeError as exc:
        if not (len(warned) == 1 and str(exc).startswith(_NO_USABLE)):
            raise
        return FileStats(FileHead(False, warned[0][len("skipped: "):], seen.get("classes"),
                                  seen.get("fingerprint")))
    head = FileHead(True, "", list(res.model_classes), res.fingerprint, list(res.classes),
                    res.picker, res.by_group, collector.files if collector is not None else None)
    return FileStats(head, res.frame, res.event)


def _head(fs: FileStats) -> FileHead:
    return fs.head


def _merge(a: FileStats, b: FileStats) -> FileStats:
    event = None if a.event is None else a.event.merge(b.event)
    return FileStats(a.head, a.frame.merge(b.frame), event)


def confusion_task(spec: PostprocessorSpec, item: Item, thresholds: Dict[str, float],
                   window_ms: float):
    """:func:`drumscribe.calibration.sweep.confusion` of one file on a worker."""
    return confusion([item], postprocessor_for(spec), thresholds, window_ms)


# ----------------------------------------------------------------------------- client side

def _killed(fut) -> bool:
    from distributed import KilledWorker

    return fut.status == "error" and isinstance(fut.exception(), KilledWorker)


def sweep_on(client, spec: PostprocessorSpec, items: Iterable[Item], postprocessor=None,
             level: str = "event", window_ms: float = 50.0, widen: int = 0,
             bins: int = DEFAULT_BINS, grid: Optional[Sequence[float]] = None,
             progress: Optional[Callable[[Iterable], Iterable]] = None,
             warn: Callable[[str], None] = lambda m: None,
             describe: Optional[Callable] = None) -> SweepResult:
    """:func:`drumscribe.calibration.sweep.sweep` with each file a task on ``client``'s workers.

    Takes the same arguments (``postprocessor`` is unused: workers build their
    own from ``spec``) and returns the same :class:`SweepResult`, counts for
    counts; ``warn`` gets the same messages in file order. ``describe`` may
    only be a :class:`drumscribe.calibration.domain.Collector`: the workers measure each
    file and the client adds the entries in file order. A file on which
    every worker that tried it died is skipped like an unreadable file.

    Raises
    ------
    DrumscribeError
        If no file could be used.
    """
    check_level_window(level, window_ms)
    items = list(items)
    describe_audio = None
    if describe is not None:
        if not hasattr(describe, "files"):
            raise DrumscribeError("a distributed sweep describes files with a "
                                  "drumscribe.calibration.domain.Collector only")
        describe_audio = bool(describe.audio)
    run = uuid.uuid4().hex[:8]
    stats: List[Optional[object]] = [None] * len(items)
    index: Dict[str, int] = {}
    got: List[Optional[FileHead]] = [None] * len(items)
    sums: Dict[Tuple, object] = {}  # (model classes, fingerprint) -> future of the running sum
    done = Completions(client, total=len(items))
    window = in_flight_limit(client)

    def submit(i):
        stats[i] = client.submit(file_stats_task, spec, items[i], level, window_ms, widen, bins,
                                 grid, describe_audio, key=f"calibrate-stats-{run}-{i}", pure=False)
        h = client.submit(_head, stats[i], key=f"calibrate-head-{run}-{i}", pure=False)
        index[h.key] = i
        done.add(h)

    queued = min(window, len(items))
    for i in range(queued):
        submit(i)
    try:
        for h in (progress(done) if progress else done):
            i = index.pop(h.key)
            if _killed(h):
                got[i] = FileHead(False, f"{items[i].name}: every worker that read it died "
                                         "(out of memory or crashed)")
            else:
                got[i] = h.result()  # a bug in a plugin is raised here, as in one process
            if got[i].ok:
                k = (tuple(got[i].model_classes), got[i].fingerprint)
                sums[k] = stats[i] if k not in sums else client.submit(
                    _merge, sums[k], stats[i], key=f"calibrate-sum-{run}-{i}", pure=False)
            stats[i] = None  # the running sum holds it now
            if queued < len(items):
                submit(queued)
                queued += 1
    except BaseException:
        client.cancel([f for f in stats + list(sums.values()) if f is not None])
        raise
    first: Optional[FileHead] = None
    files: List[str] = []
    failed: List[Tuple[str, str]] = []
    group_of: Dict[str, str] = {}
    by_group = None
    for item, h in zip(items, got):  # the file-order rules of sweep(), same words
        msg = None
        if first is not None and h.model_classes is not None:
            if h.model_classes != first.model_classes:
                msg = (f"{item.name}: classes {h.model_classes} differ from the other "
                       f"files' {first.model_classes}; calibrate one model at a time")
            elif h.fingerprint != first.fingerprint:
                msg = (f"{item.name}: predictions come from another model "
                       f"(fingerprint {h.fingerprint[:12] or 'unknown'}, "
                       f"others {first.fingerprint[:12] or 'unknown'}); "
                       "calibrate one model at a time")
        if msg is None and not h.ok:
            msg = h.message
        if msg is not None:
            warn(f"skipped: {msg}")
            failed.append((item.name, msg))
            continue
        if first is None:
            first = h
        files.append(item.name)
        if h.by_group is not None:  # the same per-group counts, added in file order
            from .robust import GroupStats

            if by_group is None:
                by_group = GroupStats(h.by_group.classes, h.by_group.thresholds)
            for g, name in enumerate(h.by_group.groups):
                by_group.add(name, h.by_group.tp[g], h.by_group.fp[g], h.by_group.n_ref[g])
                group_of[item.name] = name
        if describe is not None and h.domain:
            describe.files.extend(h.domain)
    if first is None:
        raise DrumscribeError("no usable validation file (each was skipped); see the messages above")
    key = (tuple(first.model_classes), first.fingerprint)
    total = sums.pop(key).result()
    client.cancel(list(sums.values()))
    return SweepResult(list(first.classes), list(first.model_classes), first.fingerprint,
                       total.frame, total.event, level, files=files, failed=failed,
                       picker=first.picker, by_group=by_group, group_of=group_of)


def confusion_on(client, spec: PostprocessorSpec, items: Iterable[Item], postprocessor=None,
                 thresholds: Optional[Dict[str, float]] = None, window_ms: float = 50.0):
    """:func:`drumscribe.calibration.sweep.confusion` with each file a task; the same three values."""
    import numpy as np

    items = list(items)
    run = uuid.uuid4().hex[:8]
    parts: List[Optional[tuple]] = [None] * len(items)
    index: Dict[str, int] = {}
    done = Completions(client)
    window = in_flight_limit(client)

    def submit(i):
        f = client.submit(confusion_task, spec, items[i], dict(thresholds or {}), window_ms,
                          key=f"calibrate-confusion-{run}-{i}", pure=False)
        index[f.key] = i
        done.add(f)
        return f

    live = {f.key: f for f in (submit(i) for i in range(min(window, len(items))))}
    queued = len(live)
    try:
        for f in done:
            live.pop(f.key, None)
            parts[index.pop(f.key)] = None if _killed(f) else f.result()
            if queued < len(items):
                g = submit(queued)
                live[g.key] = g
                queued += 1
    except BaseException:
        client.cancel(list(live.values()))
        raise
    classes = misses = table = None
    for part in parts:
        if part is None or not part[0]:
            continue
        c, m, t = part
        if classes is None:
            classes, misses, table = list(c), m.copy(), t.copy()
        elif list(c) == classes:
            misses += m
            table += t
    if classes is None:
        return [], np.zeros(0, np.int64), np.zeros((0, 0), np.int64)
    return classes, misses, table


def runners(client, config, model_classes, fingerprint, plugins=(), disable=()):
    """``(sweep, confusion)`` with the signatures of :mod:`drumscribe.calibration.sweep`'s, run on ``client``."""
    spec = PostprocessorSpec(config, list(model_classes), fingerprint, list(plugins),
                             list(disable))
    return functools.partial(sweep_on, client, spec), functools.partial(confusion_on, client, spec)
