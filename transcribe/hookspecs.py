"""Hook specifications of the postprocessing stage: every hook, documented, in one place.

The stage turns an :class:`~transcribe.activations.Activations` matrix into a
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
6. :func:`drumscribe_export` -- *collected*: after the MIDI file is written,
   writers for other formats (charts) return the paths they wrote.

Before all of these, when ``transcribe`` builds its command line,
:func:`drumscribe_add_arguments` lets each plugin add its own options; their
values reach every hook, with the rest of what the command line set, in the
immutable ``context.run`` (:class:`~transcribe.run.RunOptions`).

Plugins are called in pluggy's order: later-registered first, ``tryfirst``
before and ``trylast`` after the rest. Built-ins are registered first, so a
third-party plugin runs before them unless it says ``trylast``. An
implementation may accept any subset of a hook's arguments (pluggy's opt-in
arguments), so new arguments never break an old plugin.

Every argument is passed by keyword. A hook that raises, or returns a value of
the wrong type, stops the song with a :class:`~transcribe.errors.PluginError`
that names the plugin and the hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Union

import pluggy

from .run import RunOptions

if TYPE_CHECKING:  # pragma: no cover
    from .activations import Activations
    from .config import Config

PROJECT = "drumscribe"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# Threshold layer priorities used by the built-ins (highest wins).
PRIORITY_GLOBAL = 0
"""``postprocessing.onset_threshold`` (the old fixed 0.5)."""
PRIORITY_CALIBRATION = 10
"""Per-class thresholds from a calibration file."""
PRIORITY_CONFIG = 20
"""``postprocessing.class_thresholds`` in the config file."""
PRIORITY_COMMAND_LINE = 30
"""``--threshold`` on the command line."""


class Onset(NamedTuple):
    """One detected drum hit.

    Attributes
    ----------
    time : float
        Onset time in seconds from the start of the audio.
    drum : str
        Class name (a column of the activations).
    velocity : int
        MIDI velocity 1..127.
    strength : float
        Activation at the peak, in [0, 1].
    """

    time: float
    drum: str
    velocity: int
    strength: float


@dataclass
class ThresholdLayer:
    """Thresholds offered by one plugin.

    Attributes
    ----------
    values : dict of str -> float
        Threshold in [0, 1] per class (a subset of the classes is fine).
    source : str
        Where the values come from, shown by ``--verbose`` and stored in the
        MIDI metadata (e.g. ``"calibration file cal.yaml"``).
    priority : int
        Layers with higher priority win class by class; see ``PRIORITY_*``.
    """

    values: Dict[str, float]
    source: str
    priority: int = PRIORITY_CONFIG


@dataclass
class Context:
    """What every hook may ask for besides the data it transforms.

    Attributes
    ----------
    config : Config
        The validated configuration (``config.postprocessing``,
        ``config.export``, ``config.plugins_config``).
    model_classes : list of str
        The model's own class list (before any grouping).
    model_fingerprint : str
        sha256 of the checkpoint, or "" when unknown.
    run : RunOptions
        What the command line set, immutable: ``run.threshold`` and
        ``run.class_thresholds`` (``--threshold``), ``run.exports`` (the export
        writers asked for), ``run.overwrite`` and ``run.option(dest)`` (the
        options plugins added with ``drumscribe_add_arguments``).
    force : bool
        ``--force``: accept a calibration file made for another model.
    verbose : bool
        ``--verbose``.
    log : callable
        ``log(message)``: printed with ``--verbose`` only (a no-op otherwise).
    state : dict
        Per-song scratch space shared between hooks (reset for each song).
    store : dict
        Run-wide scratch space (e.g. a file read once in ``drumscribe_configure``);
        key it by your plugin's name.
    """

    config: "Config"
    model_classes: List[str] = field(default_factory=list)
    model_fingerprint: str = ""
    run: RunOptions = field(default_factory=RunOptions)
    force: bool = False
    verbose: bool = False
    log: Callable[[str], None] = lambda msg: None
    state: Dict[str, Any] = field(default_factory=dict)
    store: Dict[str, Any] = field(default_factory=dict)
    sections_read: Set[str] = field(default_factory=set, repr=False)

    def plugin_config(self, name: str) -> dict:
        """This plugin's own section, ``plugins_config.<name>`` ({} if absent).

        Ask for it in ``drumscribe_configure``: a section that no loaded plugin
        asked for by then (and that is no plugin's name) is a configuration
        error with a "did you mean", since it is most likely a typo.
        """
        self.sections_read.add(name)
        return dict(self.config.plugins_config.get(name) or {})


@hookspec
def drumscribe_configure(context: Context) -> None:
    """Validate configuration before any song is processed.

    Called once per pipeline, for every plugin. Read your section with
    ``context.plugin_config("<your name>")`` and raise
    :class:`~transcribe.errors.ConfigError` (naming your plugin) when it is
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
    previous one. Return a new :class:`~transcribe.activations.Activations`
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


@hookspec
def drumscribe_export(onsets: List[Onset], activations: "Activations", thresholds: Dict[str, float], audio_path: str, out_dir: str, context: Context) -> Optional[List[str]]:
    """Write extra output formats for a song (all results collected).

    Called once per song after the MIDI file is written. Write only when your
    export's name is in ``context.run.exports`` (e.g. ``{"chart", "preview"}``);
    replace existing outputs only when ``context.run.overwrite``. Write
    atomically (:func:`transcribe.io.atomic_write`). The result is the contract:
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
    :class:`~transcribe.errors.ConfigError` naming the flag.

    Parameters
    ----------
    parser : argparse._ArgumentGroup
        The plugin's own group of the ``transcribe`` parser.
    """
