"""The YAML configuration file: loading (``yaml.safe_load``) and validation.

Example::

    postprocessing:
      onset_threshold: 0.5          # global fallback
      class_thresholds: {kick: 0.3, snare_head: 0.35}
      calibration_file: calibration/default.yaml
      min_gap_ms: 30
      plugins: [my_package.my_plugin]
      disable_plugins: [calibrated]
      class_groups: {hihat: [hihat_closed, hihat_pedal]}
      disabled_classes: [ride_bell]
    export:
      note_map: {kick: 36, snare_head: 38}
      note_duration_ms: 50
    plugins_config:
      hysteresis: {low: 0.2}

Unknown keys are errors, so a typo never silently does nothing. Relative paths
(``calibration_file``) are resolved against the config file's folder.
"""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional


from .errors import ConfigError, did_you_mean


@dataclass
class PostprocessingConfig:
    """The ``postprocessing`` section."""

    onset_threshold: float = 0.5
    class_thresholds: Dict[str, float] = field(default_factory=dict)
    calibration_file: Optional[str] = None
    min_gap_ms: float = 30.0
    plugins: List[str] = field(default_factory=list)
    disable_plugins: List[str] = field(default_factory=list)
    class_groups: Dict[str, List[str]] = field(default_factory=dict)
    disabled_classes: List[str] = field(default_factory=list)


@dataclass
class ExportConfig:
    """The ``export`` section."""

    note_map: Dict[str, int] = field(default_factory=dict)
    note_duration_ms: float = 50.0


@dataclass
class Config:
    """A validated configuration.

    Attributes
    ----------
    postprocessing : PostprocessingConfig
    export : ExportConfig
    plugins_config : dict
        Per-plugin sections, validated by each plugin.
    path : str
        The file it was read from ("" for defaults).
    lines : dict of str -> int
        Line of each key in that file (``"postprocessing.class_thresholds.kick"``),
        so messages can say ``file:line``.

    What the command line sets is not stored here: it is the run's
    :class:`~drumscribe.transcribe.run.RunOptions` (``context.run``).
    """

    postprocessing: PostprocessingConfig = field(default_factory=PostprocessingConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    plugins_config: Dict[str, dict] = field(default_factory=dict)
    path: str = ""
    lines: Dict[str, int] = field(default_factory=dict, repr=False, compare=False)


_SECTIONS = {"postprocessing", "export", "plugins_config"}


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 2, 4, 4, 60, 60


def _brief(value) -> str:
    """A bounded repr for messages (a YAML alias bomb must not be expanded)."""
    return _REPR.repr(value)


def _where(path, key):
    return f"{path}: {key}"


def _threshold(value, where) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} must be a number in [0, 1], got {_brief(value)}")
    v = float(value)
    if not math.isfinite(v) or not 0.0 <= v <= 1.0:
        raise ConfigError(f"{where} = {_brief(value)} is outside [0, 1]; thresholds are probabilities")
    return v


def _str_list(value, where) -> List[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must be a list of names, got {_brief(value)}")
    return list(value)


def config_from_dict(data: Any, path: str = "<config>") -> Config:
    """Validate the plain-data form of a configuration.

    Raises
    ------
    ConfigError
        Naming the file and key at fault.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping with sections "
                          f"{', '.join(sorted(_SECTIONS))}")
    unknown = sorted(set(map(str, data)) - _SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}"
                          f"{did_you_mean(unknown[0], _SECTIONS)}; expected "
                          f"{', '.join(sorted(_SECTIONS))}")
    cfg = Config(path=str(path))
    pp = data.get("postprocessing") or {}
    if not isinstance(pp, dict):
        raise ConfigError(f"{path}: postprocessing must be a mapping")
    known = set(PostprocessingConfig.__dataclass_fields__)
    bad = sorted(set(map(str, pp)) - known)
    if bad:
        raise ConfigError(f"{path}: unknown key(s) postprocessing.{', postprocessing.'.join(bad)}"
                          f"{did_you_mean(bad[0], known)}; known: {', '.join(sorted(known))}")
    p = cfg.postprocessing
    if "onset_threshold" in pp:
        p.onset_threshold = _threshold(pp["onset_threshold"], _where(path, "postprocessing.onset_threshold"))
    ct = pp.get("class_thresholds") or {}
    if not isinstance(ct, dict):
        raise ConfigError(f"{path}: postprocessing.class_thresholds must map class -> threshold")
    p.class_thresholds = {str(k): _threshold(v, _where(path, f"postprocessing.class_thresholds.{k}"))
                          for k, v in ct.items()}
    cal = pp.get("calibration_file")
    if cal is not None:
        if not isinstance(cal, str) or not cal:
            raise ConfigError(f"{path}: postprocessing.calibration_file must be a path")
        calp = Path(cal)
        if not calp.is_absolute() and path not in ("<config>", ""):
            calp = Path(path).parent / calp
        p.calibration_file = str(calp)
    if "min_gap_ms" in pp:
        g = pp["min_gap_ms"]
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0:
            raise ConfigError(f"{path}: postprocessing.min_gap_ms must be a number >= 0, got {_brief(g)}")
        p.min_gap_ms = float(g)
    p.plugins = _str_list(pp.get("plugins"), _where(path, "postprocessing.plugins"))
    p.disable_plugins = _str_list(pp.get("disable_plugins"), _where(path, "postprocessing.disable_plugins"))
    groups = pp.get("class_groups") or {}
    if not isinstance(groups, dict):
        raise ConfigError(f"{path}: postprocessing.class_groups must map group -> [classes]")
    owner: Dict[str, str] = {}
    for g, members in groups.items():
        members = _str_list(members, _where(path, f"postprocessing.class_groups.{g}"))
        if not members:
            raise ConfigError(f"{path}: postprocessing.class_groups.{g} is empty")
        for m in members:
            if m in owner and owner[m] != str(g):
                raise ConfigError(f"{path}: class {m!r} is in two groups "
                                  f"(postprocessing.class_groups.{owner[m]} and .{g}); a class "
                                  "can belong to one group only")
            owner[m] = str(g)
        p.class_groups[str(g)] = members
    p.disabled_classes = _str_list(pp.get("disabled_classes"), _where(path, "postprocessing.disabled_classes"))

    ex = data.get("export") or {}
    if not isinstance(ex, dict):
        raise ConfigError(f"{path}: export must be a mapping")
    bad = sorted(set(map(str, ex)) - set(ExportConfig.__dataclass_fields__))
    if bad:
        raise ConfigError(f"{path}: unknown key(s) export.{', export.'.join(bad)}"
                          f"{did_you_mean(bad[0], ExportConfig.__dataclass_fields__)}")
    nm = ex.get("note_map") or {}
    if not isinstance(nm, dict):
        raise ConfigError(f"{path}: export.note_map must map class -> MIDI note")
    for k, v in nm.items():
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 127:
            raise ConfigError(f"{path}: export.note_map.{k} = {_brief(v)} must be a MIDI note 0..127")
        cfg.export.note_map[str(k)] = int(v)
    if "note_duration_ms" in ex:
        d = ex["note_duration_ms"]
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= 10000:
            raise ConfigError(f"{path}: export.note_duration_ms must be in (0, 10000], got {_brief(d)}")
        cfg.export.note_duration_ms = float(d)

    pc = data.get("plugins_config") or {}
    if not isinstance(pc, dict) or not all(isinstance(v, dict) or v is None for v in pc.values()):
        raise ConfigError(f"{path}: plugins_config must map plugin name -> mapping")
    cfg.plugins_config = {str(k): dict(v or {}) for k, v in pc.items()}
    return cfg


def load_config(path) -> Config:
    """Read and validate a YAML config file with ``yaml.safe_load``.

    Raises
    ------
    ConfigError
        If the file is missing, not YAML, uses Python tags, or is invalid.
    """
    from .io import read_yaml

    path = Path(path)
    data = read_yaml(path, ConfigError, "config file", "check the path given to --config")
    lines = key_lines(path.read_text(encoding="utf-8"))
    try:
        cfg = config_from_dict(data, str(path))
    except ConfigError as exc:
        raise ConfigError(_with_line(str(exc), str(path), lines)) from None
    cfg.lines = lines
    return cfg


def key_lines(text: str, depth: int = 3, limit: int = 10_000) -> Dict[str, int]:
    r"""Line (1-based) of each mapping key down to ``depth`` levels, as dotted paths.

    Uses ``yaml.compose`` (nodes only, no objects built); aliases are not
    followed, and at most ``limit`` keys are recorded.

    Examples
    --------
    >>> key_lines("postprocessing:\n  onset_threshold: 0.4\n")
    {'postprocessing': 1, 'postprocessing.onset_threshold': 2}
    """
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: Dict[str, int] = {}

    def walk(node, prefix, level):
        if not isinstance(node, yaml.MappingNode) or level >= depth:
            return
        for k, v in node.value:
            if len(out) >= limit or not isinstance(k, yaml.ScalarNode):
                return
            name = f"{prefix}{k.value}"
            out.setdefault(name, k.start_mark.line + 1)
            walk(v, name + ".", level + 1)

    walk(root, "", 0)
    return out


def _with_line(message: str, path: str, lines: Mapping[str, int]) -> str:
    """``path: ...`` -> ``path:LINE: ...`` for the key the message names first."""
    head = f"{path}: "
    if not message.startswith(head) or not lines:
        return message
    body = message[len(head):]
    found = []
    for key, line in lines.items():
        m = re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", body)
        if m:
            found.append((m.start(), -len(key), line))
    if not found:
        return message
    return f"{path}:{min(found)[2]}: {body}"


def _at(cfg: "Config", key: str) -> str:
    """``file:line`` of ``key`` in the config (or just the file, or "config")."""
    where = cfg.path or "config"
    return f"{where}:{cfg.lines[key]}" if key in cfg.lines else where


def check_classes(cfg: Config, classes: List[str], cli_class_thresholds: Mapping[str, float] = {}) -> None:
    """Check that every class the config names exists in the model (or a group).

    Raises
    ------
    ConfigError
        Naming the unknown class and the known ones.
    """
    p = cfg.postprocessing
    groups = p.class_groups
    names = set(classes) | set(groups)
    where = cfg.path or "config"
    for g, members in groups.items():
        if g in classes:
            raise ConfigError(f"{where}: class_groups.{g} is named like a class of the model; "
                              "give the group a name of its own (e.g. "
                              f"{g}_group)")
        for m in members:
            if m not in classes:
                raise ConfigError(f"{where}: class_groups.{g} names {m!r}, which the model does "
                                  f"not have (model classes: {', '.join(classes)})")
    merged = {m: g for g, members in groups.items() for m in members}
    for key, mapping in (("class_thresholds", p.class_thresholds),
                         ("--threshold", cli_class_thresholds),
                         ("note_map", cfg.export.note_map)):
        for k in mapping:
            section = "export" if key == "note_map" else "postprocessing"
            at = key if key == "--threshold" else f"{_at(cfg, f'{section}.{key}.{k}')}: {key}"
            if k not in names:
                raise ConfigError(f"{at} names unknown class {k!r}{did_you_mean(k, names)}; "
                                  f"model classes: {', '.join(classes)}")
            if k in merged and key != "note_map":
                raise ConfigError(f"{at} names {k!r}, which class_groups in {where} merges into "
                                  f"{merged[k]!r}; set the threshold of {merged[k]!r} instead")
    for k in p.disabled_classes:
        if k not in names:
            raise ConfigError(f"{_at(cfg, 'postprocessing.disabled_classes')}: disabled_classes names unknown class {k!r}"
                              f"{did_you_mean(k, names)}; model classes: {', '.join(classes)}")
    disabled = set(p.disabled_classes)
    grouped = {m for ms in groups.values() for m in ms}
    outputs = {c for c in classes if c not in grouped} | set(groups)  # after merging groups
    if (outputs and outputs <= disabled) or (classes and set(classes) <= disabled):
        raise ConfigError(f"{_at(cfg, 'postprocessing.disabled_classes')}: disabled_classes "
                          "disables every class; nothing would be transcribed: enable at least one")
