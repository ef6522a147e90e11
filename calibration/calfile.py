"""The calibration file: the one module that reads and writes it.

A calibration file is YAML::

    format_version: 1
    drumscribe_calibration: true
    classes: [kick, snare_head, ...]      # the model's class list, in order
    model_fingerprint: sha256 hex of the checkpoint ("" when unknown)
    objective: f1
    level: event
    window_ms: 50.0
    fallback_threshold: 0.5
    groups: {hihat: [hihat_closed, hihat_pedal]}   # class groups the onsets were made with
    disabled_classes: [ride_bell]                  # classes dropped when fitting
    onset_plugins: [class_groups, peak_picking]    # plugins that shaped the onsets
    data_groups: {kit_a: 12, kit_b: 9}             # validation files per data group
    min_support: 50
    thresholds: {kick: 0.41, ...}                  # classes and groups
    methods: {kick: per-class, ride: global, ...}  # what the transfer check kept
    transfer: {folds: 5, macro_f1: {...}, per_class: {...}}
    domain: {material: drums-only, audio: {...}, activations: {...}}
    per_class:
      kick: {support: 812, roc_auc: 0.99, pr_auc: 0.93,
             at_threshold: {precision: .., recall: .., f1: ..},
             at_0_5: {precision: .., recall: .., f1: ..},
             note: "good AUC, threshold was wrong"}

Reading validates every field and, when the caller passes the model's classes
and fingerprint, refuses a file made for another model unless ``force``;
:func:`check_setup` refuses a run whose class groups, disabled classes or
onset plugins differ from those the file was fitted with (version 2 files).
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from drumscribe.transcribe.errors import CalibrationFileError

FORMAT_VERSION = 2
"""Version of the calibration file format written by this module."""


@dataclass
class CalibrationFile:
    """Per-class thresholds fitted for one model.

    Attributes
    ----------
    classes : list of str
        The model's class list, in output order.
    thresholds : dict of str -> float
        Chosen threshold per class (or group) in [0, 1].
    model_fingerprint : str
        sha256 of the checkpoint the thresholds were fitted for, or "".
    objective, level : str
        What was optimised, and at frame or event level.
    window_ms : float
        Onset matching tolerance used at event level.
    fallback_threshold : float
        Threshold kept for classes without support.
    groups : dict of str -> list of str
        Merged class groups the thresholds refer to, if any.
    per_class : dict
        Diagnostics per class: support, AUCs, metrics at the chosen threshold
        and at 0.5, and a diagnosis note.
    disabled_classes : list of str
        ``postprocessing.disabled_classes`` of the fit.
    onset_plugins : list of str or None
        Plugins that shaped the onsets (None: not recorded, as in version 1
        files; then not checked).
    data_groups : dict of str -> int
        Validation files per data group.
    min_support : int
    methods : dict of str -> str
        Per class, where its threshold comes from (per-class, global, fixed 0.5...).
    transfer : dict
        The leave-one-group-out table (plain data), if it was run.
    domain : dict
        What the calibration material looked like (:mod:`drumscribe.calibration.domain`).
    global_threshold : float or None
        The robust single threshold of the same fit (the transfer check's
        "global"; ``scripts/evaluate.py`` compares with it).
    """

    classes: List[str]
    thresholds: Dict[str, float]
    model_fingerprint: str = ""
    objective: str = "f1"
    level: str = "event"
    window_ms: float = 50.0
    fallback_threshold: float = 0.5
    groups: Dict[str, List[str]] = field(default_factory=dict)
    per_class: Dict[str, dict] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    disabled_classes: List[str] = field(default_factory=list)
    onset_plugins: Optional[List[str]] = None
    data_groups: Dict[str, int] = field(default_factory=dict)
    min_support: int = 0
    methods: Dict[str, str] = field(default_factory=dict)
    transfer: Dict[str, object] = field(default_factory=dict)
    domain: Dict[str, object] = field(default_factory=dict)
    global_threshold: Optional[float] = None

    def to_dict(self) -> dict:
        """Plain-data form, as written to YAML."""
        return {
            "drumscribe_calibration": True,
            "format_version": int(self.format_version),
            "classes": list(self.classes),
            "model_fingerprint": str(self.model_fingerprint),
            "objective": str(self.objective),
            "level": str(self.level),
            "window_ms": float(self.window_ms),
            "fallback_threshold": float(self.fallback_threshold),
            "groups": {k: list(v) for k, v in self.groups.items()},
            "disabled_classes": list(self.disabled_classes),
            "onset_plugins": list(self.onset_plugins) if self.onset_plugins is not None else None,
            "data_groups": {str(k): int(v) for k, v in self.data_groups.items()},
            "min_support": int(self.min_support),
            "global_threshold": (None if self.global_threshold is None
                                 else round(float(self.global_threshold), 6)),
            "thresholds": {k: round(float(v), 6) for k, v in self.thresholds.items()},
            "methods": {str(k): str(v) for k, v in self.methods.items()},
            "transfer": _plain(self.transfer),
            "domain": _plain(self.domain),
            "per_class": _plain(self.per_class),
        }


def _plain(obj):
    """Convert numpy scalars and containers into YAML-safe plain types."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        obj = obj.item()
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else round(obj, 6)
    return obj


def write_calibration(path, cal: CalibrationFile) -> None:
    """Write ``cal`` to ``path`` as YAML, atomically.

    Raises
    ------
    CalibrationFileError
        If the content does not validate (it is checked before writing).
    OutputError
        If the file cannot be written.
    """
    from drumscribe.transcribe.io import atomic_write

    data = cal.to_dict()
    validate_calibration_dict(data, path)
    text = "# drumscribe calibration file: per-class onset thresholds.\n" + yaml.safe_dump(
        data, sort_keys=False, default_flow_style=None, width=100
    )
    with atomic_write(path, "w") as fh:
        fh.write(text)


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 4, 4, 60, 60


def _brief(value) -> str:
    """A bounded repr for messages (a YAML alias bomb must not be expanded)."""
    return _REPR.repr(value)


def _num(value, what, path, lo=None, hi=None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalibrationFileError(f"{path}: {what} must be a number, got {_brief(value)}")
    v = float(value)
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f" in [{lo}, {hi}]" if lo is not None and hi is not None else ""
        raise CalibrationFileError(f"{path}: {what} = {_brief(value)} must be a finite number{rng}")
    return v


def validate_calibration_dict(data, path="<calibration>") -> CalibrationFile:
    """Validate the plain-data form of a calibration file.

    Raises
    ------
    CalibrationFileError
        Naming the file and the field at fault.
    """
    if not isinstance(data, dict) or not data.get("drumscribe_calibration"):
        raise CalibrationFileError(
            f"{path}: not a drumscribe calibration file (no 'drumscribe_calibration: true'); "
            "create one with the calibrate command"
        )
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CalibrationFileError(f"{path}: format_version must be an integer")
    if version > FORMAT_VERSION or version < 1:  # version 1 files (no setup record) still read
        raise CalibrationFileError(
            f"{path}: calibration format version {version} is not supported (this drumscribe "
            f"reads version {FORMAT_VERSION}); re-run calibrate"
        )
    classes = data.get("classes")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise CalibrationFileError(f"{path}: 'classes' must be a non-empty list of class names")
    if len(set(classes)) != len(classes):
        raise CalibrationFileError(f"{path}: 'classes' has duplicates")
    groups = data.get("groups") or {}
    if not isinstance(groups, dict):
        raise CalibrationFileError(f"{path}: 'groups' must be a mapping of name -> class list")
    owner: Dict[str, str] = {}
    for g, members in groups.items():
        if not isinstance(members, list) or not members or any(m not in classes for m in members):
            raise CalibrationFileError(
                f"{path}: group {_brief(g)} must list classes of the model ({', '.join(classes)})")
        if g in classes:
            raise CalibrationFileError(f"{path}: group {_brief(g)} is named like a class; "
                                       "re-run calibrate with a group name of its own")
        for m in members:
            if m in owner and owner[m] != g:
                raise CalibrationFileError(f"{path}: class {m!r} is in two groups ({owner[m]} "
                                           f"and {g}); a class can belong to one group only")
            owner[m] = g
    thresholds = data.get("thresholds")
    if not isinstance(thresholds, dict):
        raise CalibrationFileError(f"{path}: 'thresholds' must be a mapping of class -> threshold")
    known = set(classes) | set(groups)
    extra = sorted(set(thresholds) - known)
    if extra:
        raise CalibrationFileError(
            f"{path}: thresholds for classes the file does not list: {', '.join(map(str, extra))}")
    grouped = {m for ms in groups.values() for m in ms}
    missing = [c for c in classes if c not in thresholds and c not in grouped]
    missing_g = [g for g in groups if g not in thresholds]
    if missing or missing_g:
        raise CalibrationFileError(
            f"{path}: no threshold for {', '.join(missing + missing_g)}; re-run calibrate "
            "or add them")
    th = {k: _num(v, f"threshold of {k}", path, 0.0, 1.0) for k, v in thresholds.items()}
    fp = data.get("model_fingerprint", "")
    if fp is None:
        fp = ""
    if not isinstance(fp, str):
        raise CalibrationFileError(f"{path}: model_fingerprint must be a string")
    level = data.get("level", "event")
    if level not in ("event", "frame"):
        raise CalibrationFileError(f"{path}: level must be 'event' or 'frame', got {_brief(level)}")
    objective = data.get("objective", "f1")
    if not isinstance(objective, str):
        raise CalibrationFileError(f"{path}: objective must be a string such as 'f1', got "
                                   f"{_brief(objective)}")
    per_class = data.get("per_class") or {}
    if not isinstance(per_class, dict):
        raise CalibrationFileError(f"{path}: 'per_class' must be a mapping")
    disabled = data.get("disabled_classes") or []
    if not isinstance(disabled, list) or not all(isinstance(c, str) for c in disabled):
        raise CalibrationFileError(f"{path}: 'disabled_classes' must be a list of class names")
    plugins = data.get("onset_plugins")
    if plugins is not None and (not isinstance(plugins, list)
                                or not all(isinstance(c, str) for c in plugins)):
        raise CalibrationFileError(f"{path}: 'onset_plugins' must be a list of plugin names")
    extras = {}
    for key in ("data_groups", "methods", "transfer", "domain"):
        v = data.get(key) or {}
        if not isinstance(v, dict):
            raise CalibrationFileError(f"{path}: '{key}' must be a mapping")
        extras[key] = v
    return CalibrationFile(
        classes=list(classes),
        thresholds=th,
        model_fingerprint=fp,
        objective=objective,
        level=level,
        window_ms=_num(data.get("window_ms", 50.0), "window_ms", path, 0.0, 10000.0),
        fallback_threshold=_num(data.get("fallback_threshold", 0.5), "fallback_threshold",
                                path, 0.0, 1.0),
        groups={str(k): list(v) for k, v in groups.items()},
        per_class=per_class,
        format_version=version,
        disabled_classes=list(disabled),
        onset_plugins=None if plugins is None else list(plugins),
        data_groups={str(k): int(v) if isinstance(v, int) else 0 for k, v in extras["data_groups"].items()},
        min_support=int(data.get("min_support") or 0) if isinstance(data.get("min_support") or 0, int) else 0,
        methods={str(k): str(v) for k, v in extras["methods"].items()},
        transfer=extras["transfer"],
        domain=extras["domain"],
        global_threshold=(None if data.get("global_threshold") is None else
                          _num(data.get("global_threshold"), "global_threshold", path, 0.0, 1.0)),
    )


def read_calibration(path, classes: Optional[Sequence[str]] = None,
                     fingerprint: Optional[str] = None, force: bool = False) -> CalibrationFile:
    """Read and validate a calibration file.

    Parameters
    ----------
    path : path-like
        The YAML file.
    classes : sequence of str, optional
        The model's class list; the file must list the same classes in the same
        order.
    fingerprint : str, optional
        The model's sha256; the file's recorded fingerprint must equal it.
    force : bool
        Accept a class-list or fingerprint mismatch (classes the model lacks
        are then ignored, classes the file lacks use the fallback).

    Raises
    ------
    CalibrationFileError
        If the file is unreadable, invalid, or made for another model.
    """
    from drumscribe.transcribe.io import MAX_YAML_BYTES, read_yaml

    path = Path(path)
    data = read_yaml(path, CalibrationFileError, "calibration file",
                     "check the path or create it with the calibrate command", MAX_YAML_BYTES)
    cal = validate_calibration_dict(data, path)
    if classes is not None and list(classes) != cal.classes and not force:
        missing = [c for c in classes if c not in cal.classes]
        extra = [c for c in cal.classes if c not in classes]
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing)}")
        if extra:
            detail.append(f"extra {', '.join(extra)}")
        if not detail:
            detail.append("different order")
        raise CalibrationFileError(
            f"{path}: calibration classes do not match the model ({'; '.join(detail)}); "
            "re-run calibrate for this model or pass --force")
    if (fingerprint and cal.model_fingerprint and fingerprint != cal.model_fingerprint
            and not force):
        raise CalibrationFileError(
            f"{path}: calibration was fitted for another model (fingerprint "
            f"{cal.model_fingerprint[:12]}…, this model {fingerprint[:12]}…); re-run calibrate "
            "for this model or pass --force")
    return cal


def plugin_key(name: str) -> str:
    """A plugin's name as compared between runs (a ``.py`` path by its file stem)."""
    n = str(name)
    if n.endswith(".py") or "/" in n or "\\" in n:
        return Path(n).stem
    return n


def setup_mismatches(cal: CalibrationFile, class_groups: Dict[str, List[str]],
                     disabled_classes: Sequence[str], onset_plugins: Sequence[str]) -> List[str]:
    """What differs between the run and the setup ``cal`` was fitted with, by name.

    Returns
    -------
    list of str
        One phrase per difference (empty when they agree). Version 1 files
        recorded only the class groups.
    """
    out = []
    want = {g: sorted(m) for g, m in cal.groups.items()}
    have = {g: sorted(m) for g, m in (class_groups or {}).items()}
    for g in sorted(set(want) | set(have)):
        if g not in have:
            out.append(f"class group {g} {want[g]} was used for fitting but is not configured")
        elif g not in want:
            out.append(f"class group {g} {have[g]} is configured but was not used for fitting")
        elif want[g] != have[g]:
            out.append(f"class group {g} is {have[g]} here but was {want[g]} for fitting")
    if cal.format_version >= 2:
        a, b = set(cal.disabled_classes), set(disabled_classes or [])
        if a - b:
            out.append(f"disabled class(es) {', '.join(sorted(a - b))} were disabled for fitting "
                       "but are enabled here")
        if b - a:
            out.append(f"class(es) {', '.join(sorted(b - a))} are disabled here but were not for fitting")
    if cal.onset_plugins is not None:
        a = {plugin_key(p) for p in cal.onset_plugins}
        b = {plugin_key(p) for p in onset_plugins or []}
        if a - b:
            out.append(f"onset plugin(s) {', '.join(sorted(a - b))} shaped the fitted onsets but "
                       "are not loaded")
        if b - a:
            out.append(f"onset plugin(s) {', '.join(sorted(b - a))} are loaded but did not shape "
                       "the fitted onsets")
    return out
