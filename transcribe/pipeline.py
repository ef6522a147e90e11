"""The postprocessing stage: a plugin manager factory and activations -> onsets.

Built-in plugins are found through the ``drumscribe`` entry-point group, exactly
like third-party ones; more can be named by module path (``--plugin
my_pkg.my_plugin`` or ``postprocessing.plugins`` in the config).
"""

from __future__ import annotations

import contextvars
import functools
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
from .run import RunOptions
from .types import Candidates, Context, Onset, ThresholdLayer

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


ONSET_HOOKS = ("drumscribe_transform_activations", "drumscribe_pick_onsets",
               "drumscribe_onset_candidates", "drumscribe_filter_onsets")
"""Hooks whose implementations shape the onsets (recorded in calibration files)."""

_ANSWERED: contextvars.ContextVar = contextvars.ContextVar("drumscribe_answered", default=None)
_CALL: contextvars.ContextVar = contextvars.ContextVar("drumscribe_call", default=None)


def _is_wrapper(impl) -> bool:
    return bool(impl.hookwrapper or getattr(impl, "wrapper", False))


def _impls(pm: pluggy.PluginManager, hook_name: str):
    """Hook implementations (wrappers left out) in pluggy's call order."""
    caller = getattr(pm.hook, hook_name)
    return [i for i in reversed(caller.get_hookimpls()) if not _is_wrapper(i)]


def picker_order(pm: pluggy.PluginManager) -> List[str]:
    """Plugins implementing the picking hook, in call order (the first answer wins)."""
    return [i.plugin_name for i in _impls(pm, "drumscribe_pick_onsets")]


def onset_plugins(pm: pluggy.PluginManager) -> List[str]:
    """Registered plugins that shape onsets (:data:`ONSET_HOOKS`), in registration order."""
    shaping = {i.plugin_name for h in ONSET_HOOKS for i in _impls(pm, h)}
    return [name for name, _ in pm.list_name_plugin() if name in shaping]


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


# ----------------------------------------------------------------------------- checking answers

def _classes(kwargs):
    act = kwargs.get("activations")
    return list(act.classes) if act is not None else None


def _onset_list(result, plugin, hook, kwargs) -> List[Onset]:
    classes = _classes(kwargs)
    if not isinstance(result, (list, tuple)):
        raise PluginError(f"plugin {plugin!r} returned {type(result).__name__} from "
                          f"{hook}; expected a list of Onset")
    out = []
    for o in result:
        try:
            o = Onset(float(o[0]), str(o[1]), int(o[2]), float(o[3]))
        except Exception:
            raise PluginError(f"plugin {plugin!r} returned {o!r} from {hook}; "
                              "expected Onset(time, drum, velocity, strength)") from None
        if classes is not None and o.drum not in classes:
            raise PluginError(f"plugin {plugin!r} returned an onset of unknown class "
                              f"{o.drum!r} from {hook}")
        out.append(o)
    order = {c: i for i, c in enumerate(classes or [])}
    out.sort(key=lambda o: (o.time, order.get(o.drum, 0)))
    return out


def _layers(result, plugin, hook, kwargs):
    for layer in (result if isinstance(result, (list, tuple)) else [result]):
        if not isinstance(layer, ThresholdLayer) or not isinstance(layer.values, dict):
            raise PluginError(f"plugin {plugin!r} returned {type(layer).__name__} "
                              f"from {hook}; expected a ThresholdLayer")
        for k, v in layer.values.items():
            try:
                ok = 0.0 <= float(v) <= 1.0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise PluginError(f"plugin {plugin!r} returned threshold {v!r} "
                                  f"for {k!r} from {hook}; thresholds must be in [0, 1]")
    return result


def _activations(result, plugin, hook, kwargs):
    if not isinstance(result, Activations):
        raise PluginError(f"plugin {plugin!r} returned {type(result).__name__} from "
                          f"{hook}; expected Activations or None")
    return result


def _candidates(result, plugin, hook, kwargs):
    classes = _classes(kwargs) or list(getattr(result, "frames", {}) or [])
    if (not isinstance(result, Candidates) or set(result.frames) != set(classes)
            or set(result.heights) != set(classes)):
        raise PluginError(f"plugin {plugin!r} returned {type(result).__name__} from {hook}; "
                          f"expected Candidates with frames and heights for {', '.join(classes)}")
    return result


def _paths(result, plugin, hook, kwargs):
    if not isinstance(result, (list, tuple)):
        raise PluginError(f"plugin {plugin!r} returned {type(result).__name__} "
                          f"from {hook}; expected a list of paths")
    return [str(p) for p in result]


_CHECKS = {
    "drumscribe_transform_activations": _activations,
    "drumscribe_thresholds": _layers,
    "drumscribe_pick_onsets": _onset_list,
    "drumscribe_filter_onsets": _onset_list,
    "drumscribe_onset_candidates": _candidates,
    "drumscribe_export": _paths,
}


def _guard(impl, hook_name: str) -> None:
    """Make ``impl`` name its plugin and hook when it fails, and check its answer.

    pluggy still does all the calling (order, ``firstresult``, wrappers,
    monitoring); the guard only wraps the implementation's own function, once.
    """
    fn = impl.function
    if getattr(fn, "_drumscribe_guarded", False) or _is_wrapper(impl):
        return
    plugin, argnames, check = impl.plugin_name, tuple(impl.argnames), _CHECKS.get(hook_name)

    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        try:
            res = fn(*args, **kwargs)
        except DrumscribeError as exc:
            if isinstance(exc, PluginError) or plugin in str(exc):  # named once is enough
                raise
            raise type(exc)(f"plugin {plugin!r} in {hook_name}: {exc}") from None
        except Exception as exc:
            raise PluginError(f"plugin {plugin!r} raised in {hook_name}: "
                              f"{type(exc).__name__}: {exc}") from exc
        if res is not None:
            if check is not None:
                call = _CALL.get()
                given = dict(call[1]) if call is not None and call[0] == hook_name else {}
                given.update(zip(argnames, args))
                given.update(kwargs)
                res = check(res, plugin, hook_name, given)
            _ANSWERED.set(plugin)
        return res

    guarded._drumscribe_guarded = True  # type: ignore[attr-defined]
    impl.function = guarded


def guard_hooks(pm: pluggy.PluginManager) -> None:
    """Guard every implementation of every drumscribe hook (see :func:`_guard`)."""
    for name in dir(hookspecs):
        if name.startswith("drumscribe_"):
            for impl in getattr(pm.hook, name).get_hookimpls():
                _guard(impl, name)


def call_hook(caller, hook_name: str, **kwargs):
    """``caller(**kwargs)`` (a pluggy hook caller), telling the guards what was passed."""
    token = _CALL.set((hook_name, kwargs))
    try:
        return caller(**kwargs)
    finally:
        _CALL.reset(token)


def call_chained(pm: pluggy.PluginManager, hook_name: str, value_arg: str, **kwargs):
    """Call a chained hook: each implementation gets the previous one's output.

    Each step is one pluggy call (``pm.subset_hook_caller``) that leaves out
    the other non-wrapper implementations, so wrappers, ``tryfirst``/``trylast``
    and hook-call monitoring apply to every step. An answer of ``None`` passes
    the value on unchanged.

    Returns
    -------
    The last value.
    """
    impls = _impls(pm, hook_name)
    plugins = [i.plugin for i in impls]
    caller = getattr(pm.hook, hook_name)
    value = kwargs[value_arg]
    if not impls:  # still one pluggy call, so wrappers and monitoring see the hook
        call_hook(caller, hook_name, **kwargs)
        return value
    for k in range(len(impls)):
        others = plugins[:k] + plugins[k + 1:]
        step = pm.subset_hook_caller(hook_name, remove_plugins=others) if others else caller
        kwargs[value_arg] = value
        res = call_hook(step, hook_name, **kwargs)
        if res:
            value = res[-1]
    return value


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
    """The onset stage: activations -> onsets through the hooks, for every caller.

    ``transcribe``, the calibration sweep and confusion analysis and
    ``scripts/evaluate.py`` all get their onsets from :meth:`run` (or from
    :meth:`transform` followed by :meth:`onsets`, which is the same), so
    filters apply everywhere.

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
    warn : callable, optional
        One-line warnings that are always shown (default: stderr).
    pm : pluggy.PluginManager, optional
        Use this manager instead of making one (for tests).
    run : RunOptions, optional
        What the command line set (``context.run``); default: nothing.
    """

    def __init__(self, config: Config, model_classes: Sequence[str], model_fingerprint: str = "",
                 plugins: Sequence[str] = (), disable: Sequence[str] = (), force: bool = False,
                 verbose: bool = False, log=None, pm: Optional[pluggy.PluginManager] = None,
                 entry_points: Union[bool, str] = True, warn=None,
                 run: Optional[RunOptions] = None):
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
        guard_hooks(pm)
        self.pm = pm
        extra = {"warn": warn} if warn is not None else {}
        self.context = Context(config=config, model_classes=list(model_classes), run=run,
                               model_fingerprint=model_fingerprint, force=force, verbose=verbose,
                               log=(log if verbose else None) or (lambda m: None),
                               onset_plugins=onset_plugins(pm), **extra)
        pm.hook.drumscribe_configure(context=self.context)
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
        answers = call_hook(self.pm.hook.drumscribe_thresholds, "drumscribe_thresholds",
                            classes=classes, activations=activations, context=self.context)
        layers = []
        for order, res in enumerate(answers):  # pluggy's call order
            for layer in (res if isinstance(res, (list, tuple)) else [res]):
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
        onsets, picker = self.onsets(act, th)
        return PostprocessResult(onsets, th, src, act, picker)

    def transform(self, activations: Activations) -> Activations:
        """Run the chained transform hooks only (class groups, smoothing...)."""
        return call_chained(self.pm, "drumscribe_transform_activations", "activations",
                            activations=activations, context=self.context)

    def onsets(self, activations: Activations, thresholds: Dict[str, float]) -> Tuple[List[Onset], str]:
        """Pick and filter transformed activations at ``thresholds``: what ``transcribe`` outputs.

        Returns
        -------
        onsets : list of Onset
        picker : str
        """
        onsets, picker = self.pick(activations, thresholds)
        onsets = call_chained(self.pm, "drumscribe_filter_onsets", "onsets", onsets=list(onsets),
                              activations=activations, thresholds=thresholds, context=self.context)
        return onsets, picker

    @property
    def picker_names(self) -> List[str]:
        """Plugins implementing the picking hook, in call order (the first answer wins)."""
        return picker_order(self.pm)

    def exact_candidates_possible(self) -> bool:
        """True when the candidates hook can stand for the whole stage after the transforms.

        That is when every picker also declares candidates, no plugin filters
        onsets, and no wrapper surrounds picking, candidates or filtering (a
        wrapper may change the answer).
        """
        pickers = {i.plugin for i in _impls(self.pm, "drumscribe_pick_onsets")}
        declares = {i.plugin for i in _impls(self.pm, "drumscribe_onset_candidates")}
        wrapped = any(_is_wrapper(i) for h in ("drumscribe_pick_onsets", "drumscribe_onset_candidates",
                                               "drumscribe_filter_onsets")
                      for i in getattr(self.pm.hook, h).get_hookimpls())
        return bool(pickers) and pickers == declares and not wrapped and not _impls(
            self.pm, "drumscribe_filter_onsets")

    def uses_builtin_picker(self) -> bool:
        """Kept for callers of the old name: :meth:`exact_candidates_possible`."""
        return self.exact_candidates_possible()

    def candidates(self, activations: Activations) -> Optional[Candidates]:
        """Threshold-free candidates of transformed activations, when they are exact.

        Returns None when :meth:`exact_candidates_possible` is false or no
        picker declared any; the caller must then run :meth:`onsets` per threshold.
        """
        if not self.exact_candidates_possible():
            return None
        return call_hook(self.pm.hook.drumscribe_onset_candidates, "drumscribe_onset_candidates",
                         activations=activations, context=self.context)

    def pick(self, activations: Activations, thresholds: Dict[str, float]) -> Tuple[List[Onset], str]:
        """Run the first-result picking hook only; returns onsets and the picker's name."""
        token = _ANSWERED.set(None)
        try:
            res = call_hook(self.pm.hook.drumscribe_pick_onsets, "drumscribe_pick_onsets",
                            activations=activations, thresholds=thresholds, context=self.context)
            picker = _ANSWERED.get() or "?"
        finally:
            _ANSWERED.reset(token)
        if res is None:
            raise PluginError("no plugin picked onsets; do not disable peak_picking without "
                              "installing another picker")
        if self.context.verbose:
            self.context.log(f"onsets picked by plugin {picker!r}")
        return list(res), picker

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
        answers = call_hook(
            self.pm.hook.drumscribe_export, "drumscribe_export", onsets=onsets, activations=activations, thresholds=thresholds,
            audio_path=str(audio_path), out_dir=str(out_dir), context=self.context)
        return [str(p) for paths in answers for p in paths]  # pluggy's call order


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
