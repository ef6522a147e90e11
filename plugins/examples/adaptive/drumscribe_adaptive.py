"""drumscribe plugin: per-song adaptive thresholds from the activations' statistics.

For every class the threshold is a statistic of that class's activation over
the whole song -- ``mean + k * std`` (default) or a high percentile -- clipped
to ``[floor, ceil]``. A quiet mix, where the model is less sure of every hit,
gets lower thresholds; a class the model hears everywhere gets a higher one.

Priority: ``PRIORITY_ADAPTIVE = 15``, between the calibration file (10) and the
config's ``postprocessing.class_thresholds`` (20). It therefore replaces the
global ``onset_threshold`` and the calibrated thresholds, while per-class
values from the config and ``--threshold`` on the command line still win.

Optionally it also smooths the activations first (``smooth``: a normalised
Hamming window of that many frames, as madmom's onset peak picker does with
its ``smooth`` parameter) in ``drumscribe_transform_activations``.

Configuration (``plugins_config.adaptive``)::

    plugins_config:
      adaptive:
        method: std        # or "percentile"
        k: 2.0             # method std: mean + k * std
        percentile: 99.0   # method percentile
        floor: 0.3         # clip the threshold to [floor, ceil]
        ceil: 0.8
        smooth: 0          # frames of Hamming smoothing (0 or 1: off)
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from drumscribe.transcribe.errors import ConfigError
from drumscribe.transcribe.hookspecs import PRIORITY_CALIBRATION, PRIORITY_CONFIG, ThresholdLayer, hookimpl

__version__ = "0.1.0"

NAME = "adaptive"
"""The entry-point name, also the ``plugins_config`` section."""
PRIORITY_ADAPTIVE = (PRIORITY_CALIBRATION + PRIORITY_CONFIG) // 2
"""15: above the calibration file, below the config's class_thresholds."""
DEFAULTS: Dict[str, object] = {"method": "std", "k": 2.0, "percentile": 99.0,
                               "floor": 0.3, "ceil": 0.8, "smooth": 0}
METHODS = ("std", "percentile")


def _number(cfg, key, lo, hi):
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
        raise ConfigError(f"plugins_config.{NAME}.{key} must be a number in [{lo:g}, {hi:g}], "
                          f"got {v!r} (plugin {NAME!r})")
    return float(v)


def settings(context) -> dict:
    """The validated settings, defaults filled in (parsed once per run).

    Raises
    ------
    ConfigError
        Naming the plugin and the key at fault.
    """
    store = context.store.setdefault(NAME, {})
    if "settings" in store:
        return store["settings"]
    cfg = context.plugin_config(NAME)
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"plugins_config.{NAME}: unknown key {unknown[0]!r} "
                          f"(plugin {NAME!r} knows: {', '.join(DEFAULTS)})")
    s = {**DEFAULTS, **cfg}
    if s["method"] not in METHODS:
        raise ConfigError(f"plugins_config.{NAME}.method must be one of {', '.join(METHODS)}, "
                          f"got {s['method']!r} (plugin {NAME!r})")
    out = {"method": s["method"], "k": _number(s, "k", 0, 100),
           "percentile": _number(s, "percentile", 0, 100),
           "floor": _number(s, "floor", 0, 1), "ceil": _number(s, "ceil", 0, 1)}
    if out["floor"] > out["ceil"]:
        raise ConfigError(f"plugins_config.{NAME}.floor ({out['floor']:g}) must not exceed "
                          f"ceil ({out['ceil']:g}) (plugin {NAME!r})")
    smooth = s["smooth"]
    if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 0:
        raise ConfigError(f"plugins_config.{NAME}.smooth must be a whole number of frames >= 0, "
                          f"got {smooth!r} (plugin {NAME!r})")
    out["smooth"] = smooth
    store["settings"] = out
    return out


def adaptive_threshold(x: np.ndarray, method: str = "std", k: float = 2.0,
                       percentile: float = 99.0, floor: float = 0.3, ceil: float = 0.8) -> float:
    """One class's threshold from its activation over a song.

    Parameters
    ----------
    x : np.ndarray, shape (n_frames,)
        Activations in [0, 1].
    method : {"std", "percentile"}
        ``mean + k * std`` or ``percentile(x, percentile)``.
    k : float >= 0
    percentile : float in [0, 100]
    floor, ceil : float in [0, 1], floor <= ceil

    Returns
    -------
    float
        In ``[floor, ceil]``.

    Examples
    --------
    >>> x = np.zeros(100); x[::10] = 0.9
    >>> round(adaptive_threshold(x), 3)   # mean 0.09, std 0.27
    0.63
    >>> adaptive_threshold(np.zeros(100))
    0.3
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        stat = floor
    elif method == "percentile":
        stat = float(np.percentile(x, percentile))
    else:
        stat = float(x.mean() + k * x.std())
    return float(min(ceil, max(floor, stat)))


def smooth_activations(values: np.ndarray, frames: int) -> np.ndarray:
    """Smooth every column with a normalised Hamming window of ``frames`` frames.

    Parameters
    ----------
    values : np.ndarray, shape (n_frames, n_classes)
    frames : int >= 0
        Window length; 0 or 1 returns ``values`` unchanged.

    Returns
    -------
    np.ndarray, same shape, values in [0, 1]
    """
    frames = min(int(frames), values.shape[0])
    if frames <= 1:
        return values
    w = np.hamming(frames)
    w /= w.sum()
    out = np.stack([np.convolve(values[:, j], w, mode="same") for j in range(values.shape[1])],
                   axis=1)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


@hookimpl
def drumscribe_configure(context):
    """Validate ``plugins_config.adaptive`` before any song."""
    settings(context)


@hookimpl
def drumscribe_transform_activations(activations, context):
    """Smooth the activations when ``smooth`` > 1; otherwise leave them alone."""
    n = settings(context)["smooth"]
    if n <= 1:
        return None
    return activations.replace(smooth_activations(activations.values, n))


@hookimpl
def drumscribe_thresholds(classes, activations, context):
    """Offer one threshold per class from the song's own activations."""
    s = settings(context)
    values = {c: adaptive_threshold(activations.values[:, j], s["method"], s["k"],
                                    s["percentile"], s["floor"], s["ceil"])
              for j, c in enumerate(classes)}
    how = (f"mean + {s['k']:g} std" if s["method"] == "std"
           else f"percentile {s['percentile']:g}")
    return ThresholdLayer(values, f"adaptive ({how}, clipped to [{s['floor']:g}, {s['ceil']:g}])",
                          PRIORITY_ADAPTIVE)
