"""Validation inputs for calibration: predictions or audio, paired with ground truth.

``--predictions DIR``
    ``NAME.npz`` predictions (the format ``transcribe --save-activations``
    writes), each paired with ``NAME.mid|.midi|.tsv|.txt`` in the same folder
    or in ``--data DIR``.
``--model M --data DIR``
    Audio ``NAME.wav|.flac|.ogg|.mp3`` with ground truth beside it; the model
    runs once per file and its predictions are cached under
    ``CACHE/<model sha256[:16]>/<audio sha256>.npz``, so a second calibration
    of the same model on the same audio reads the cache. With an audio
    transform (:mod:`drumscribe.calibration.transforms`) the file is
    ``<audio sha256>.<transform key>.npz``.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import warnings

from drumscribe.transcribe.activations import load_activations, save_activations
from drumscribe.transcribe.annotations import ANNOTATION_EXTENSIONS, read_annotations, suspicious_annotations
from drumscribe.transcribe.audio import AUDIO_EXTENSIONS
from drumscribe.transcribe.errors import DrumscribeError

from .sweep import Item



class DataWarning(UserWarning):
    """Something in the validation data looks wrong but the file is still used."""


def checked(load: Callable, annotation) -> Callable:
    """``load`` followed by a check of the ground truth against the audio's length.

    Ground truth whose every onset lies beyond the audio (mostly times in
    milliseconds) makes the file fail with an :class:`AnnotationError`; some
    onsets beyond it, or duplicated onsets, give a :class:`DataWarning`.
    """
    from drumscribe.transcribe.errors import AnnotationError

    from drumscribe.transcribe.errors import ActivationError

    def run():
        act = load()
        if act.n_frames == 0:
            raise ActivationError("predictions hold 0 frames; the "
                                  "audio was empty or the file is damaged: re-create it")
        ann = read_annotations(annotation)
        found, error = suspicious_annotations(ann, act.duration)
        if error:
            raise AnnotationError(f"{annotation}: {error}")
        for w in found:
            warnings.warn(DataWarning(f"{annotation}: {w}"))
        return act
    run.unchecked = load
    return run


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/drumscribe/predictions`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "drumscribe" / "predictions"


def _annotation_for(stem: str, folders: List[Path]) -> Optional[Path]:
    for folder in folders:
        for ext in ANNOTATION_EXTENSIONS:
            cand = folder / f"{stem}{ext}"
            if cand.is_file():
                return cand
    return None


def _check_dir(path, flag) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise DrumscribeError(f"{p}: {flag} folder not found; give a folder of validation files")
    return p


def prediction_items(pred_dir, data_dir=None) -> Tuple[List[Item], List[Tuple[str, str]]]:
    """Pair ``NAME.npz`` predictions with ground truth.

    Parameters
    ----------
    pred_dir : path-like
        Folder of ``.npz`` predictions (searched recursively).
    data_dir : path-like or list of them, optional
        Other folders holding the ground truth (same stems).

    Returns
    -------
    items : list of Item
    skipped : list of (str, str)
        Predictions without ground truth, and why.

    Raises
    ------
    DrumscribeError
        If a folder is missing or holds no predictions.
    """
    pred_dir = _check_dir(pred_dir, "--predictions")
    dirs = [] if not data_dir else [data_dir] if isinstance(data_dir, (str, os.PathLike)) else list(data_dir)
    datas = [_check_dir(d, "--data") for d in dirs]
    files = sorted(p for p in pred_dir.rglob("*.npz") if p.is_file())
    if not files:
        raise DrumscribeError(f"{pred_dir}: no .npz predictions found; write them with "
                              "transcribe --save-activations")
    items, skipped = [], []
    for f in files:
        folders = [f.parent] + datas
        ann = _annotation_for(f.stem, folders)
        if ann is None:
            skipped.append((str(f), f"no ground truth {f.stem}.mid/.tsv/.txt next to it"
                                    + (f" or in {', '.join(map(str, datas))}" if datas else "")))
            continue
        items.append(Item(str(f), checked(lambda p=f: load_activations(p), ann), ann))
    return items, skipped


class PredictionCache:
    """Predictions of one model, cached by the audio file's content hash.

    Parameters
    ----------
    transcriber : drumscribe.transcribe.inference.Transcriber
    cache_dir : path-like
    transform : drumscribe.calibration.transforms.AudioTransform, optional
        Applied to the decoded samples before the model (the whole file is
        loaded at once then); its ``key`` is part of the cache file name.
    """

    def __init__(self, transcriber, cache_dir, transform=None):
        self.transcriber = transcriber
        self.transform = None if transform is None or transform.identity else transform
        fp = transcriber.checkpoint.fingerprint or "unknown-model"
        self.folder = Path(cache_dir) / fp[:16]
        self.hits = 0
        self.misses = 0

    def path_for(self, audio_path) -> Path:
        """Where the predictions of ``audio_path`` are cached."""
        from drumscribe.transcribe.model import file_sha256

        tag = f".{self.transform.key}" if self.transform is not None else ""
        return self.folder / f"{file_sha256(audio_path)}{tag}.npz"

    def load(self, audio_path):
        """Activations of ``audio_path``, from the cache or by running the model."""
        path = self.path_for(audio_path)
        if path.is_file():
            try:
                act = load_activations(path)
                if act.model_fingerprint == self.transcriber.checkpoint.fingerprint:
                    self.hits += 1
                    return act
            except DrumscribeError:
                pass  # a damaged cache entry is recomputed
        act = self._run(audio_path)
        self.misses += 1
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_activations(path, act)
        except (OSError, DrumscribeError):
            pass  # caching is best effort
        return act

    def _run(self, audio_path):
        if self.transform is None:
            return self.transcriber.activations_from_file(audio_path)
        from drumscribe.transcribe.audio import load_audio

        sr = self.transcriber.checkpoint.features.sample_rate
        samples = self.transform(load_audio(audio_path, sr), sr)
        return self.transcriber.activations_from_samples(samples, source=str(audio_path))


def audio_items(data_dir, cache: PredictionCache) -> Tuple[List[Item], List[Tuple[str, str]]]:
    """Pair audio files in ``data_dir`` (recursively) with their ground truth.

    Returns
    -------
    items : list of Item
        Loading an item runs the model (or reads the cache).
    skipped : list of (str, str)
    """
    data = _check_dir(data_dir, "--data")
    files = sorted(p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise DrumscribeError(f"{data}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    items, skipped = [], []
    for f in files:
        ann = _annotation_for(f.stem, [f.parent])
        if ann is None:
            skipped.append((str(f), f"no ground truth {f.stem}.mid/.tsv/.txt next to it"))
            continue
        items.append(Item(str(f), checked(lambda p=f: cache.load(p), ann), ann))
    return items, skipped


GROUP_BY = "folder, folder:N, file, or column:NAME[,NAME...] (a --manifest column or sidecar JSON key)"


def read_manifest(path) -> Dict[str, Dict[str, str]]:
    """Rows of a CSV manifest keyed by file stem (column ``clip``, ``file``, ``name`` or ``stem``).

    A key with a folder, ``mixes/song1``, is first matched by the file ``song1`` in a
    folder ``mixes`` (the last folder of the key counts), so that two data roots
    holding files of the same name (a drum stem and its mix) can go into different
    groups; a bare stem matches that stem in any folder; a folder-qualified key
    whose folder matches no file still matches its stem last.

    Raises
    ------
    DrumscribeError
        If the file cannot be read or has no key column.
    """
    import csv

    p = Path(path)
    try:
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DrumscribeError(f"{p}: cannot read the manifest ({exc})") from None
    if not rows:
        raise DrumscribeError(f"{p}: the manifest has no rows")
    key = next((k for k in ("clip", "file", "name", "stem") if k in rows[0]), None)
    if key is None:
        raise DrumscribeError(f"{p}: the manifest needs a 'clip', 'file', 'name' or 'stem' column "
                              f"(it has {', '.join(rows[0])})")
    out: Dict[str, Dict[str, str]] = {}
    for r in rows:
        if not r.get(key):
            continue
        name = PurePosixPath(str(r[key]).replace("\\", "/"))
        if len(name.parts) > 1:  # "folder/stem": a file of that folder first
            out[f"{name.parts[-2]}/{name.stem}"] = r
            out.setdefault(f"*/{name.stem}", r)
        else:
            out[name.stem] = r
    return out


def _manifest_row(f: Path, rows) -> Dict[str, str]:
    """The row for file ``f``: the ``folder/stem`` row of its own folder, else its bare
    stem's, else the first folder-qualified row of that stem."""
    return (rows.get(f"{f.parent.name}/{f.stem}") or rows.get(f.stem)
            or rows.get(f"*/{f.stem}") or {})


def _column_group(f: Path, rows, keys) -> Optional[str]:
    import json

    row = _manifest_row(f, rows)
    side = {}
    sc = f.with_suffix(".json")
    if sc.is_file():
        try:
            side = json.loads(sc.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            side = {}
        if not isinstance(side, dict):
            side = {}
    for k in keys:
        for source in (row, side):
            if source.get(k) not in (None, ""):
                return f"{k}={source[k]}"
    return None


def assign_groups(items: List[Item], roots: Sequence, group_by: str = "folder",
                  manifest=None) -> str:
    """Set ``item.group`` for every item; returns a note when the grouping fell back.

    ``folder``: the file's folder relative to its ``--data`` root (prefixed by
    the root's name, so two roots never share a group); ``folder:N``: the first
    N folder levels below the root; ``file``: every file its own group;
    ``column:NAME``: the manifest's column NAME (files are matched by stem), or
    else key NAME of the ``STEM.json`` sidecar beside the file (the corpus
    writes ``kit_family`` and ``kit_id`` there); ``column:A,B`` takes the first
    of A, B that a file has.
    With ``folder`` and a single resulting group, every file becomes a group.

    Raises
    ------
    DrumscribeError
        For an unknown ``group_by``, a missing manifest or a file the
        manifest does not list.
    """
    roots = [Path(os.path.abspath(r)) for r in roots]  # not resolve(): keep symlinked trees
    kind, _, arg = str(group_by).partition(":")
    if kind not in ("folder", "file", "column") or (kind == "column" and not arg) or (
            kind == "folder" and arg and not arg.isdigit()) or (kind == "file" and arg):
        raise DrumscribeError(f"--group-by {group_by!r}: expected {GROUP_BY}")
    rows = read_manifest(manifest) if kind == "column" and manifest is not None else {}
    keys = [k for k in arg.split(",") if k] if kind == "column" else []
    for it in items:
        f = Path(os.path.abspath(it.name))
        if kind == "file":
            it.group = it.name
        elif kind == "column":
            it.group = _column_group(f, rows, keys)
            if it.group is None:
                raise DrumscribeError(
                    f"{it.name}: no {' or '.join(keys)} for it in "
                    + (f"the manifest {manifest} or " if manifest else "")
                    + f"a sidecar {f.stem}.json; see --group-by and --manifest")
        else:
            root = next((r for r in roots if r == f.parent or r in f.parents), f.parent)
            rel = f.parent.relative_to(root).parts
            if arg:
                rel = rel[:int(arg)]
            it.group = "/".join((root.name,) + tuple(rel))
    if kind == "folder" and not arg and len({it.group for it in items}) == 1 and len(items) > 1:
        for it in items:
            it.group = it.name
        return "all files are in one folder: every file is a group of its own (see --group-by)"
    return ""
