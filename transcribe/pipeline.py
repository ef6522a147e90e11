"""The postprocessing stage: a plugin manager factory and activations -> onsets.

Built-in plugins are found through the ``drumscribe`` entry-point group, exactly
like third-party ones; more can be named by module path (``--plugin
my_pkg.my_plugin`` or ``postprocessing.plugins`` in the config).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import pluggy

from . import hookspecs
from .activations import Activations
from .config import Config, check_classes
from .errors import ConfigError, DrumscribeError, PluginError, did_you_mean
from .hookspecs import Context, Onset, ThresholdLayer
from .run import RunOptions

ENTRY_POINT_GROUP = "drumscribe"
DISTRIBUTION = "drumscribe"
AUTOLOAD_ENV = "DRUMSCRIBE_DISABLE_PLUGIN_AUTOLOAD"
"""Set to ``1`` to load only the built-in plugins from entry points (as pytest's
``PYTEST_DISABLE_PLUGIN_AUTOLOAD``): third-party plugins then load only when named."""


def builtin_plugins() -> Tuple[str, ...]:
    """Names of the built-in plugins: this distribution's own ``drumscribe`` entry
    points (listed once, in setup.cfg); empty when it is not installed."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return ()
    return tuple(sorted(ep.name for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP))


def _dist_name(ep) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else "?"


@dataclass
class PluginInfo:
    """Where a registered plugin came from (for ``--list-plugins``)."""

    name: str
    source: str
    version: str
    hooks: List[str]


def _hooks_of(pm: pluggy.PluginManager, plugin) -> List[str]:
    return sorted(h.name for h in (pm.get_hookcallers(plugin) or []))


def load_module_plugin(spec: str):
    """Import a plugin given as a module path (``pkg.mod``) or a ``.py`` file path.

    Raises
    ------
    PluginError
        If it cannot be imported.
    """
    try:
        if spec.endswith(".py") or "/" in spec or "\\" in spec:
            path = Path(spec)
            if not path.is_file():
                raise PluginError(f"plugin file {spec} not found")
            name = f"drumscribe_user_plugin_{path.stem}"
            mspec = importlib.util.spec_from_file_location(name, path)
            if mspec is None or mspec.loader is None:
                raise PluginError(f"plugin file {spec} cannot be imported (not a Python file?)")
            module = importlib.util.module_from_spec(mspec)
            sys.modules[name] = module
            mspec.loader.exec_module(module)
            return module
        return importlib.import_module(spec)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(f"plugin {spec!r} failed to import: {type(exc).__name__}: {exc}") from None


def make_plugin_manager(plugins: Sequence = (), disable: Iterable[str] = (),
                        entry_points: Union[bool, str] = True) -> Tuple[pluggy.PluginManager, Dict[str, PluginInfo]]:
    """Create a fresh plugin manager with built-in, installed and named plugins.

    Parameters
    ----------
    plugins : sequence of str or module
        Extra plugins by module path, ``.py`` file path, or as imported module
        objects (registered under their ``__name__``). A plugin that is already
        registered (e.g. through its entry point) is not registered twice.
    disable : sequence of str
        Plugin names not to register (entry-point names, module paths or
        module ``__name__``).
    entry_points : bool or "builtin"
        Load the ``drumscribe`` entry-point group (built-ins and installed
        third-party plugins); ``"builtin"`` (or ``$DRUMSCRIBE_DISABLE_PLUGIN_AUTOLOAD=1``)
        loads only the built-ins.

    Returns
    -------
    pm : pluggy.PluginManager
    info : dict of str -> PluginInfo

    Raises
    ------
    PluginError
        If a plugin fails to import (naming it and its package version), a
        plugin implements an unknown hook, or the built-ins are missing because
        the package is not installed.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    info: Dict[str, PluginInfo] = {}
    disable = set(disable)
    if entry_points:
        builtins = builtin_plugins()
        if not builtins:
            raise PluginError("built-in plugins not found: the drumscribe entry points are not "
                              "installed; run 'pip install -e .' in the project folder")
        only_builtins = entry_points == "builtin" or os.environ.get(AUTOLOAD_ENV) == "1"
        eps = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
                     key=lambda ep: (_dist_name(ep) != DISTRIBUTION, ep.name))
        for ep in eps:
            if ep.name in disable or ep.name in info:
                continue
            if only_builtins and _dist_name(ep) != DISTRIBUTION:
                continue
            dist = getattr(ep, "dist", None)
            dname = dist.metadata["Name"] if dist is not None else "?"
            dver = dist.version if dist is not None else "?"
            try:
                module = ep.load()
            except Exception as exc:
                raise PluginError(f"plugin {ep.name!r} from {dname} {dver} failed to load: "
                                  f"{type(exc).__name__}: {exc}") from None
            _register(pm, module, ep.name)
            info[ep.name] = PluginInfo(ep.name, f"{dname} {dver} (entry point {ep.value})",
                                       dver, _hooks_of(pm, module))
    for spec in plugins:
        if isinstance(spec, str):
            name = spec
            if name in disable or name in info:
                continue
            module = load_module_plugin(spec)
        else:  # an imported module (or any object with hookimpls), e.g. from tests
            module = spec
            name = getattr(module, "__name__", None) or type(module).__name__
            if name in disable or name in info:
                continue
        if pm.is_registered(module):  # already loaded, e.g. through its entry point
            continue
        _register(pm, module, name)
        info[name] = PluginInfo(name, f"module {getattr(module, '__file__', None) or name}", "",
                                _hooks_of(pm, module))
    return pm, info


def check_plugin_sections(config: Config, known: Iterable[str], log=None) -> None:
    """Refuse a ``plugins_config`` section that no loaded plugin reads when it is
    close to one that is read (a typo); a section of a plugin that is simply not
    loaded this time is only mentioned through ``log`` (``-v``).

    Raises
    ------
    ConfigError
        Naming the section, the file and the closest known section.
    """
    known = sorted(set(known))
    for name in sorted(set(config.plugins_config) - set(known)):
        hint = did_you_mean(name, known)
        message = f"{config.path or 'config'}: plugins_config.{name} is read by no loaded plugin"
        if hint:
            raise ConfigError(f"{message}{hint}; fix the name or load its plugin")
        if log is not None:
            log(f"note: {message} (is its plugin disabled?)")


def _register(pm, module, name):
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        raise PluginError(f"plugin {name!r} is invalid: {exc}") from None
    except ValueError as exc:
        raise PluginError(f"plugin {name!r} could not be registered: {exc}") from None
    # check_pending raises for unknown drumscribe_* hooks


def _impls(pm: pluggy.PluginManager, hook_name: str):
    """Hook implementations in pluggy's call order."""
    caller = getattr(pm.hook, hook_name)
    return [i for i in reversed(caller.get_hookimpls())
            if not (i.hookwrapper or getattr(i, "wrapper", False))]


def picker_order(pm: pluggy.PluginManager) -> List[str]:
    """Plugins implementing the picking hook, in call order (the first answer wins)."""
    return [i.plugin_name for i in _impls(pm, "drumscribe_pick_onsets")]


def _call(impl, hook_name: str, kwargs: dict):
    args = {k: kwargs[k] for k in impl.argnames}
    try:
        return impl.function(**args)
    except DrumscribeError as exc:
        if isinstance(exc, PluginError) or impl.plugin_name in str(exc):  # named once is enough
            raise
        raise type(exc)(f"plugin {impl.plugin_name!r} in {hook_name}: {exc}") from None
    except Exception as exc:
        raise PluginError(f"plugin {impl.plugin_name!r} raised in {hook_name}: "
                          f"{type(exc).__name__}: {exc}") from exc


def _check_onsets(result, impl, hook_name, classes) -> List[Onset]:
    if not isinstance(result, (list, tuple)):
        raise PluginError(f"plugin {impl.plugin_name!r} returned {type(result).__name__} from "
                          f"{hook_name}; expected a list of Onset")
    out = []
    for o in result:
        try:
            o = Onset(float(o[0]), str(o[1]), int(o[2]), float(o[3]))
        except Exception:
            raise PluginError(f"plugin {impl.plugin_name!r} returned {o!r} from {hook_name}; "
                              "expected Onset(time, drum, velocity, strength)") from None
        if o.drum not in classes:
            raise PluginError(f"plugin {impl.plugin_name!r} returned an onset of unknown class "
                              f"{o.drum!r} from {hook_name}")
        out.append(o)
    out.sort(key=lambda o: (o.time, classes.index(o.drum)))
    return out


@dataclass
class PostprocessResult:
    """Output of :meth:`Postprocessor.run`.

    Attributes
    ----------
    onsets : list of Onset
        Sorted by time.
    thresholds : dict of str -> float
        The threshold used for each class of ``activations``.
    sources : dict of str -> str
        Where each threshold came from.
    activations : Activations
        The transformed activations the onsets were picked from.
    picker : str
        Name of the plugin that picked the onsets.
    """

    onsets: List[Onset]
    thresholds: Dict[str, float]
    sources: Dict[str, str]
    activations: Activations
    picker: str


class Postprocessor:
    """Runs the postprocessing hooks over activation matrices.

    Parameters
    ----------
    config : Config
    model_classes : list of str
        The model's class list.
    model_fingerprint : str
    plugins : sequence of str
        Extra plugins by module path (added to ``config.postprocessing.plugins``).
    disable : sequence of str
        Plugins not to load (added to ``config.postprocessing.disable_plugins``).
    force, verbose : bool
    log : callable
    pm : pluggy.PluginManager, optional
        Use this manager instead of making one (for tests).
    run : RunOptions, optional
        What the command line set (``context.run``); default: nothing.
    """

    def __init__(self, config: Config, model_classes: Sequence[str], model_fingerprint: str = "",
                 plugins: Sequence[str] = (), disable: Sequence[str] = (), force: bool = False,
                 verbose: bool = False, log=None, pm: Optional[pluggy.PluginManager] = None,
                 entry_points: Union[bool, str] = True, run: Optional[RunOptions] = None):
        self.config = config
        run = run if run is not None else RunOptions()
        check_classes(config, list(model_classes), run.class_thresholds)
        if pm is None:
            pm, self.plugin_info = make_plugin_manager(
                list(config.postprocessing.plugins) + list(plugins),
                list(config.postprocessing.disable_plugins) + list(disable),
                entry_points=entry_points)
        else:
            self.plugin_info = {}
        self.pm = pm
        self.context = Context(config=config, model_classes=list(model_classes), run=run,
                               model_fingerprint=model_fingerprint, force=force, verbose=verbose,
                               log=(log if verbose else None) or (lambda m: None))
        for impl in _impls(pm, "drumscribe_configure"):
            _call(impl, "drumscribe_configure", {"context": self.context})
        check_plugin_sections(config, self.context.sections_read | {n for n, _ in pm.list_name_plugin()},
                              self.context.log)

    def thresholds(self, activations: Activations) -> Tuple[Dict[str, float], Dict[str, str]]:
        """Merge the threshold layers offered by plugins for ``activations``.

        Returns
        -------
        thresholds, sources : dict of str -> float, dict of str -> str

        Raises
        ------
        PluginError
            If a layer is malformed or a class gets no threshold.
        """
        classes = list(activations.classes)
        layers = []
        hook = "drumscribe_thresholds"
        for order, impl in enumerate(_impls(self.pm, hook)):
            res = _call(impl, hook, {"classes": classes, "activations": activations,
                                     "context": self.context})
            if res is None:
                continue
            for layer in (res if isinstance(res, (list, tuple)) else [res]):
                if not isinstance(layer, ThresholdLayer) or not isinstance(layer.values, dict):
                    raise PluginError(f"plugin {impl.plugin_name!r} returned {type(layer).__name__} "
                                      f"from {hook}; expected a ThresholdLayer")
                for k, v in layer.values.items():
                    try:
                        ok = 0.0 <= float(v) <= 1.0
                    except (TypeError, ValueError):
                        ok = False
                    if not ok:
                        raise PluginError(f"plugin {impl.plugin_name!r} returned threshold {v!r} "
                                          f"for {k!r} from {hook}; thresholds must be in [0, 1]")
                layers.append((layer.priority, -order, layer))
        layers.sort(key=lambda t: (t[0], t[1]), reverse=True)
        out, sources = {}, {}
        for c in classes:
            for _, _, layer in layers:
                if c in layer.values:
                    out[c] = float(layer.values[c])
                    sources[c] = layer.source
                    break
            else:
                raise PluginError(f"no plugin offered a threshold for class {c!r}; enable "
                                  "fixed_threshold or set postprocessing.onset_threshold")
        return out, sources

    def run(self, activations: Activations,
            thresholds: Optional[Dict[str, float]] = None) -> PostprocessResult:
        """Transform, threshold, pick and filter: activations -> onsets.

        Parameters
        ----------
        activations : Activations
        thresholds : dict, optional
            Use these thresholds instead of asking the threshold plugins
            (calibration sweeps do this); classes not given use the plugins'.
        """
        self.context.state = {}
        act = self.transform(activations)
        if thresholds is not None and set(act.classes) <= set(thresholds):
            th = {c: float(thresholds[c]) for c in act.classes}
            src = {c: "given" for c in act.classes}
        else:
            th, src = self.thresholds(act)
            if thresholds:
                for c, v in thresholds.items():
                    if c in th:
                        th[c], src[c] = float(v), "given"
        onsets, picker = self.pick(act, th)
        hook = "drumscribe_filter_onsets"
        for impl in _impls(self.pm, hook):
            res = _call(impl, hook, {"onsets": list(onsets), "activations": act,
                                     "thresholds": th, "context": self.context})
            if res is None:
                continue
            onsets = _check_onsets(res, impl, hook, act.classes)
        return PostprocessResult(onsets, th, src, act, picker)

    def transform(self, activations: Activations) -> Activations:
        """Run the chained transform hooks only (class groups, smoothing...)."""
        act = activations
        hook = "drumscribe_transform_activations"
        for impl in _impls(self.pm, hook):
            res = _call(impl, hook, {"activations": act, "context": self.context})
            if res is None:
                continue
            if not isinstance(res, Activations):
                raise PluginError(f"plugin {impl.plugin_name!r} returned {type(res).__name__} from "
                                  f"{hook}; expected Activations or None")
            act = res
        return act

    @property
    def picker_names(self) -> List[str]:
        """Plugins implementing the picking hook, in call order (the first answer wins)."""
        return picker_order(self.pm)

    def uses_builtin_picker(self) -> bool:
        """True when only the built-in ``peak_picking`` plugin picks onsets, so
        threshold sweeps may use its nested fast path."""
        return self.picker_names == ["peak_picking"]

    def pick(self, activations: Activations, thresholds: Dict[str, float]) -> Tuple[List[Onset], str]:
        """Run the first-result picking hook only; returns onsets and the picker's name."""
        hook = "drumscribe_pick_onsets"
        for impl in _impls(self.pm, hook):
            res = _call(impl, hook, {"activations": activations, "thresholds": thresholds,
                                     "context": self.context})
            if res is None:
                continue
            if self.context.verbose:
                self.context.log(f"onsets picked by plugin {impl.plugin_name!r}")
            return _check_onsets(res, impl, hook, activations.classes), impl.plugin_name
        raise PluginError("no plugin picked onsets; do not disable peak_picking without "
                          "installing another picker")

    def export(self, onsets, activations, thresholds, audio_path, out_dir,
               exports: Optional[Iterable[str]] = None, overwrite: Optional[bool] = None) -> List[str]:
        """Call the export writers; returns the paths they wrote.

        ``exports`` (e.g. ``{"chart"}``) and ``overwrite`` replace
        ``context.run.exports`` and ``context.run.overwrite`` for this call when given.
        """
        if exports is not None or overwrite is not None:
            run = self.context.run
            self.context.run = replace(run, exports=run.exports if exports is None else frozenset(exports),
                                       overwrite=run.overwrite if overwrite is None else bool(overwrite))
        written: List[str] = []
        hook = "drumscribe_export"
        for impl in _impls(self.pm, hook):
            res = _call(impl, hook, {"onsets": onsets, "activations": activations,
                                     "thresholds": thresholds, "audio_path": str(audio_path),
                                     "out_dir": str(out_dir), "context": self.context})
            if res is None:
                continue
            if not isinstance(res, (list, tuple)):
                raise PluginError(f"plugin {impl.plugin_name!r} returned {type(res).__name__} "
                                  f"from {hook}; expected a list of paths")
            written.extend(str(p) for p in res)
        return written


def postprocess(activations: Activations, config: Optional[Config] = None, **kwargs) -> PostprocessResult:
    """Run the postprocessing stage once (convenience for scripts and tests).

    Parameters
    ----------
    activations : Activations
    config : Config, optional
        Defaults to ``Config()``.
    **kwargs
        Passed to :class:`Postprocessor`.
    """
    config = config or Config()
    pp = Postprocessor(config, activations.classes, **kwargs)
    return pp.run(activations)
