"""Helpers for testing postprocessing plugins in a few lines.

A plugin author's test builds an activation matrix with :func:`make_activations`
and runs the whole postprocessing stage -- the built-in plugins plus the plugin
under test, and no other installed plugin -- with :func:`run_postprocessing`::

    import my_plugin
    from drumscribe.transcribe.testing import make_activations, run_postprocessing

    def test_drops_hihats():
        act = make_activations({"kick": [(0.5, 0.9)], "hihat_closed": [(1.0, 0.9)]})
        res = run_postprocessing(act, plugins=[my_plugin])
        assert [o.drum for o in res.onsets] == ["kick"]

Each call makes a fresh plugin manager (nothing is shared between tests) and
does not need a model, audio or the command line.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .activations import Activations
from .config import Config, config_from_dict, load_config
from .errors import ActivationError
from .pipeline import Postprocessor, PostprocessResult
from .vocabulary import CLASS_NAMES

PEAK_SHAPE: Tuple[float, ...] = (0.35, 1.0, 0.6, 0.3, 0.12)
"""Relative height of the frames around a peak (one frame before it, three after):
a fast attack and an exponential-looking decay, as a trained CRNN produces."""
PEAK_OFFSET = 1
"""Index of the peak frame in :data:`PEAK_SHAPE`."""


def make_activations(peaks: Optional[Mapping[str, Iterable[Tuple[float, float]]]] = None,
                     duration: Optional[float] = None, fps: float = 100.0,
                     classes: Optional[Sequence[str]] = None, noise: float = 0.0,
                     seed: int = 0) -> Activations:
    """Build an activation matrix with peaks of known times and heights.

    Each peak puts ``height`` at the frame nearest ``time_s`` and the decaying
    :data:`PEAK_SHAPE` around it; overlapping peaks of one class combine by
    maximum. Optional uniform noise in ``[0, noise)`` is added everywhere and the
    result is clipped to [0, 1].

    Parameters
    ----------
    peaks : dict of str -> list of (float, float), optional
        ``{class: [(time_s, height), ...]}``; heights in [0, 1].
    duration : float > 0, optional
        Length in seconds; default: one second after the last peak (at least 1 s).
    fps : float > 0
        Frame rate.
    classes : sequence of str, optional
        Column order; default the model vocabulary
        (:data:`drumscribe.transcribe.vocabulary.CLASS_NAMES`), or, when some class of
        ``peaks`` is not in it, the classes of ``peaks`` in the given order.
    noise : float in [0, 1)
        Amplitude of the uniform background noise.
    seed : int
        Seed of the noise.

    Returns
    -------
    Activations

    Raises
    ------
    ActivationError
        If a class of ``peaks`` is not in ``classes``, or a time or height is
        out of range.

    Examples
    --------
    >>> act = make_activations({"kick": [(0.5, 0.9)]}, duration=1.0)
    >>> act.values.shape[0]
    100
    >>> round(float(act.column("kick")[50]), 3), round(float(act.column("kick")[51]), 3)
    (0.9, 0.54)
    """
    peaks = {str(k): list(v) for k, v in (peaks or {}).items()}
    if classes is None:
        classes = list(CLASS_NAMES) if set(peaks) <= set(CLASS_NAMES) else list(peaks)
    classes = list(classes)
    unknown = [c for c in peaks if c not in classes]
    if unknown:
        raise ActivationError(f"make_activations: classes {unknown} of peaks are not in "
                              f"classes {classes}")
    if not 0.0 <= noise < 1.0:
        raise ActivationError(f"make_activations: noise must be in [0, 1), got {noise!r}")
    times = [t for v in peaks.values() for t, _ in v]
    if duration is None:
        duration = max([1.0] + [t + 1.0 for t in times])
    n = int(round(duration * fps))
    if n <= 0:
        raise ActivationError(f"make_activations: duration {duration!r} s gives no frames")
    values = np.zeros((n, len(classes)), dtype=np.float32)
    shape = np.asarray(PEAK_SHAPE, dtype=np.float32)
    for c, plist in peaks.items():
        col = values[:, classes.index(c)]
        for t, h in plist:
            if not 0.0 <= h <= 1.0:
                raise ActivationError(f"make_activations: height {h!r} of {c} at {t} s is "
                                      "outside [0, 1]")
            f = int(round(t * fps))
            if not 0 <= f < n:
                raise ActivationError(f"make_activations: time {t!r} s of {c} is outside "
                                      f"[0, {duration}) s; pass a longer duration")
            lo, hi = max(0, f - PEAK_OFFSET), min(n, f - PEAK_OFFSET + len(shape))
            seg = shape[lo - (f - PEAK_OFFSET):hi - (f - PEAK_OFFSET)] * np.float32(h)
            np.maximum(col[lo:hi], seg, out=col[lo:hi])
    if noise > 0:
        rng = np.random.default_rng(seed)
        values += rng.uniform(0.0, noise, size=values.shape).astype(np.float32)
    return Activations(np.clip(values, 0.0, 1.0), fps, classes)


def _as_config(config) -> Config:
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return config_from_dict(dict(config), "<run_postprocessing config>")
    return load_config(config)


def run_postprocessing(activations: Union[Activations, np.ndarray], plugins: Sequence = (),
                       config=None, classes: Optional[Sequence[str]] = None, fps: float = 100.0,
                       thresholds: Union[None, float, Dict[str, float]] = None,
                       disable: Sequence[str] = (), verbose: bool = False,
                       log=None, installed: bool = False) -> PostprocessResult:
    """Run the postprocessing stage with some plugins, as ``transcribe`` would.

    A fresh plugin manager gets the built-in plugins (through drumscribe's own
    entry points) and then ``plugins``; ``drumscribe_configure`` runs, then the
    song's hooks. Other installed plugins are left out unless ``installed=True``,
    so a plugin's test gives the same answer whatever else is installed.

    Parameters
    ----------
    activations : Activations or np.ndarray, shape (n_frames, n_classes)
        A bare array gets ``classes`` and ``fps``.
    plugins : sequence of module or str
        Plugins under test: imported modules, module paths (``"pkg.mod"``) or
        ``.py`` file paths.
    config : dict, Config or path-like, optional
        The configuration, e.g. ``{"plugins_config": {"my_plugin": {"k": 1}}}``;
        a dict is validated like a YAML file. Default ``Config()``.
    classes : sequence of str, optional
        Class names of a bare array; default the model vocabulary when the
        column count matches it.
    fps : float > 0
        Frame rate of a bare array.
    thresholds : float or dict of str -> float, optional
        Use these thresholds instead of the threshold plugins' (a float sets
        every class), as the calibration sweeps do.
    disable : sequence of str
        Plugins not to load, by name (e.g. ``["peak_picking"]``).
    verbose : bool
        Set ``context.verbose``; messages go to ``log``.
    log : callable, optional
        ``log(message)``.
    installed : bool
        Also load every installed third-party plugin, as ``transcribe`` does.

    Returns
    -------
    PostprocessResult
        ``onsets``, ``thresholds``, ``sources``, ``activations`` (after the
        transforms) and ``picker`` (the plugin that picked the onsets).

    Raises
    ------
    ConfigError
        If the config, or a plugin's ``drumscribe_configure``, rejects it.
    PluginError
        If a plugin fails to load, raises, or returns a wrong value.
    ActivationError
        If a bare array has the wrong shape or values.
    """
    if isinstance(activations, Activations):
        act = activations
    else:
        values = np.asarray(activations, dtype=np.float32)
        if classes is None:
            if values.ndim == 2 and values.shape[1] == len(CLASS_NAMES):
                classes = list(CLASS_NAMES)
            else:
                raise ActivationError(f"run_postprocessing: pass classes for an array of shape "
                                      f"{values.shape} (the vocabulary has {len(CLASS_NAMES)})")
        act = Activations(values, fps, list(classes))
    cfg = _as_config(config)
    th = None
    if thresholds is not None:
        if isinstance(thresholds, Mapping):
            th = {str(k): float(v) for k, v in thresholds.items()}
        else:
            th = {c: float(thresholds) for c in act.classes}
    pp = Postprocessor(cfg, act.classes, plugins=list(plugins), disable=list(disable),
                       verbose=verbose, log=log, entry_points=True if installed else "builtin")
    return pp.run(act, thresholds=th)


def onset_times(result: PostprocessResult, drum: Optional[str] = None) -> List[float]:
    """Onset times of a result (of one class, or all), rounded to the millisecond.

    Parameters
    ----------
    result : PostprocessResult
    drum : str, optional

    Returns
    -------
    list of float
    """
    return [round(o.time, 3) for o in result.onsets if drum is None or o.drum == drum]
