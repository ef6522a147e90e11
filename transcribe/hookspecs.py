"""Hook specifications of the postprocessing stage: every hook, documented, in one place.

The stage turns an :class:`~drumscribe.transcribe.activations.Activations` matrix into a
list of :class:`Onset` events. It runs these hooks, in this order, once per
song:

1. :func:`drumscribe_configure` -- every plugin, once per pipeline; validate
   your own config section here.
2. :func:`drumscribe_transform_activations` -- *chained*: each plugin gets the
   previous plugin's output and may return a new ``Activations`` (or ``None``
   to leave it unchanged).
3. :func:`drumscribe_thresholds` -- *collected*: every plugin may return a
   :class:`ThresholdLayer`; layers are merged by ``priority`` (highest wins,
   class by class).
4. :func:`drumscribe_pick_onsets` -- *first result*: the first plugin that
   returns a list wins; the built-in peak picker runs last (``trylast``).
5. :func:`drumscribe_filter_onsets` -- *chained*: each plugin gets the previous
   onset list and may return a new one (or ``None``).
6. :func:`drumscribe_onset_candidates` -- *first result*, called by
   ``calibrate`` only: a picker declares its threshold-free candidates so the
   sweep gets the exact curve at every threshold in one pass.
7. :func:`drumscribe_export` -- *collected*: after the MIDI file is written,
   writers for other formats (charts) return the paths they wrote.

Every hook is called through ``pm.hook.<name>(...)``, pluggy's own calling, so
``tryfirst``/``trylast``, ``firstresult``, ``wrapper=True`` (and old-style
``hookwrapper=True``) implementations and ``pm.add_hookcall_monitoring`` work as
pluggy documents. A *chained* hook is one pluggy call per implementation
(:func:`drumscribe.transcribe.pipeline.call_chained`): a wrapper of a chained hook runs
around each step.

Before all of these, when ``transcribe`` builds its command line,
:func:`drumscribe_add_arguments` lets each plugin add its own options; their
values reach every hook, with the rest of what the command line set, in the
immutable ``context.run`` (:class:`~drumscribe.transcribe.run.RunOptions`).

Plugins are called in pluggy's order: later-registered first, ``tryfirst``
before and ``trylast`` after the rest. Built-ins are registered first, so a
third-party plugin runs before them unless it says ``trylast``. An
implementation may accept any subset of a hook's arguments (pluggy's opt-in
arguments), so new arguments never break an old plugin.

Every argument is passed by keyword. A hook that raises, or returns a value of
the wrong type, stops the song with a :class:`~drumscribe.transcribe.errors.PluginError`
that names the plugin and the hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

import pluggy

from .run import RunOptions  # noqa: F401 (re-exported for plugins)

if TYPE_CHECKING:  # pragma: no cover
    from .activations import Activations

PROJECT = "drumscribe"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# The plain types moved to drumscribe.transcribe.types; re-exported for plugins that import them here.
from .types import (PRIORITY_CALIBRATION, PRIORITY_COMMAND_LINE, PRIORITY_CONFIG,  # noqa: E402,F401
                    PRIORITY_GLOBAL, Candidates, Context, Onset, ThresholdLayer)


@hookspec
def drumscribe_configure(context: Context) -> None:
    """Validate configuration before any song is processed.

    Called once per pipeline, for every plugin. Read your section with
    ``context.plugin_config("<your name>")`` and raise
    :class:`~drumscribe.transcribe.errors.ConfigError` (naming your plugin) when it is
    invalid.

    Parameters
    ----------
    context : Context
        The run's configuration and model facts.
    """


@hookspec
def drumscribe_transform_activations(activations: "Activations", context: Context) -> Optional["Activations"]:
    """Transform the activation matrix before thresholds are chosen (chained).

    Called once per song. Each implementation receives the output of the
    previous one. Return a new :class:`~drumscribe.transcribe.activations.Activations`
    (e.g. smoothed values, or merged class groups with a new class list) or
    ``None`` to pass it on unchanged.

    Parameters
    ----------
    activations : Activations
        ``values`` of shape (n_frames, n_classes) in [0, 1], ``fps``,
        ``classes``.
    context : Context
    """


@hookspec
def drumscribe_thresholds(classes: Sequence[str], activations: "Activations", context: Context) -> Union[ThresholdLayer, List[ThresholdLayer], None]:
    """Offer per-class thresholds (all results collected).

    Called once per song, after the transforms. Every layer returned is
    merged: for each class the value of the layer with the highest
    ``priority`` wins (ties: the plugin called first). A class that no layer
    covers is an error.

    Parameters
    ----------
    classes : sequence of str
        The classes of the (transformed) activations.
    activations : Activations
        The transformed activations, for adaptive thresholds.
    context : Context

    Returns
    -------
    ThresholdLayer, list of ThresholdLayer, or None
    """


@hookspec(firstresult=True)
def drumscribe_pick_onsets(activations: "Activations", thresholds: Dict[str, float], context: Context) -> Optional[List[Onset]]:
    """Pick onsets from activations (first result wins).

    Called once per song. The first implementation that returns a list (even an
    empty one) ends the hook; the built-in ``peak_picking`` plugin is
    ``trylast`` so any other picker replaces it. A picker must never add an
    onset when a threshold is raised.

    Parameters
    ----------
    activations : Activations
    thresholds : dict of str -> float
        The merged threshold for every class of ``activations``.
    context : Context

    Returns
    -------
    list of Onset or None
        Onsets of any order; the stage sorts them by time.
    """


@hookspec
def drumscribe_filter_onsets(onsets: List[Onset], activations: "Activations", thresholds: Dict[str, float], context: Context) -> Optional[List[Onset]]:
    """Filter or edit the onset list (chained).

    Called once per song after picking. Each implementation receives the
    previous one's output; return a new list or ``None`` to keep it. Use it for
    rules such as "drop a hi-hat within 20 ms of a snare". (Dropping whole
    classes is ``postprocessing.disabled_classes``, done by the built-in
    ``class_groups`` transform.)

    Parameters
    ----------
    onsets : list of Onset
        Sorted by time.
    activations : Activations
    thresholds : dict of str -> float
    context : Context
    """


@hookspec(firstresult=True)
def drumscribe_onset_candidates(activations: "Activations", context: Context) -> Optional[Candidates]:
    """Declare the picker's threshold-free onset candidates (first result wins).

    Called by ``calibrate`` once per validation file, after the transforms,
    never by ``transcribe``. A picker implements it when its onsets at any
    thresholds are exactly the candidates whose height is ``>= threshold``
    (see :class:`Candidates`); the built-in ``peak_picking`` does. The sweep
    uses the candidates only when no registered plugin could change the
    result: every picker declares candidates, no plugin filters onsets and no
    wrapper surrounds picking. Otherwise it runs the whole stage (pick and
    filter hooks) at each threshold of a grid.

    Parameters
    ----------
    activations : Activations
        The transformed activations.
    context : Context

    Returns
    -------
    Candidates or None
    """


@hookspec
def drumscribe_export(onsets: List[Onset], activations: "Activations", thresholds: Dict[str, float], audio_path: str, out_dir: str, context: Context) -> Optional[List[str]]:
    """Write extra output formats for a song (all results collected).

    Called once per song after the MIDI file is written. Write only when your
    export's name is in ``context.run.exports`` (e.g. ``{"chart", "preview"}``);
    replace existing outputs only when ``context.run.overwrite``. Write
    atomically (:func:`drumscribe.transcribe.io.atomic_write`). The result is the contract:
    return the list of paths written (``transcribe`` prints them), or ``None``
    when the plugin has nothing to write.

    Parameters
    ----------
    onsets : list of Onset
    activations : Activations
    thresholds : dict of str -> float
    audio_path : str
        The song's audio file.
    out_dir : str
        Folder for the outputs.
    context : Context
    """


@hookspec
def drumscribe_add_arguments(parser: Any) -> None:
    """Add this plugin's command-line options to ``transcribe`` (called for every plugin).

    Called when ``transcribe`` builds its parser, before any other hook, with an
    argparse argument group titled after the plugin (as madmom's processors'
    ``add_arguments`` and pytest's ``pytest_addoption``): call
    ``parser.add_argument("--my-flag", ...)``. The values given on the command
    line reach every hook as ``context.run.option(dest)``; the core never reads
    them. Validate them in :func:`drumscribe_configure` and raise
    :class:`~drumscribe.transcribe.errors.ConfigError` naming the flag.

    Parameters
    ----------
    parser : argparse._ArgumentGroup
        The plugin's own group of the ``transcribe`` parser.
    """
