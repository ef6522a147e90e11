"""Plain values of the postprocessing stage: what hooks receive and return.

They live here, not in :mod:`drumscribe.transcribe.hookspecs`, so that code which only
handles onsets (MIDI, charts, calibration) needs no plugin machinery;
``drumscribe.transcribe.hookspecs`` re-exports every name, so plugins that import
``Onset`` or ``ThresholdLayer`` from there keep working.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, NamedTuple, Set, Tuple

import numpy as np

from .run import RunOptions

if TYPE_CHECKING:  # pragma: no cover
    from .config import Config

__all__ = ["PRIORITY_GLOBAL", "PRIORITY_CALIBRATION", "PRIORITY_CONFIG", "PRIORITY_COMMAND_LINE",
           "Onset", "ThresholdLayer", "Candidates", "Context"]


def _warn_stderr(message: str) -> None:
    import sys

    print(f"warning: {message}", file=sys.stderr)


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


@dataclass(frozen=True)
class Candidates:
    """Threshold-free onset candidates a picker declares (``drumscribe_onset_candidates``).

    A picker that returns these promises: at any thresholds, the onsets it
    picks are exactly the candidates of each class whose ``heights`` are
    ``>= threshold``, at time ``frames / fps``. The calibration sweep then gets
    the exact curve at every threshold from one pass.

    Attributes
    ----------
    frames : dict of str -> np.ndarray of int
        Sorted candidate frames per class (every class of the activations).
    heights : dict of str -> np.ndarray of float32
        The activation at each candidate, the value compared with the threshold.
    fps : float
        Frame rate of ``frames``.
    """

    frames: Dict[str, np.ndarray]
    heights: Dict[str, np.ndarray]
    fps: float

    def times(self, name: str) -> np.ndarray:
        """Candidate times of class ``name`` in seconds."""
        return np.asarray(self.frames[name], dtype=np.float64) / float(self.fps)

    def above(self, name: str, threshold: float) -> Tuple[np.ndarray, np.ndarray]:
        """Times and heights of the candidates of ``name`` at ``threshold``."""
        h = np.asarray(self.heights[name])
        keep = h >= np.float32(threshold)
        return self.times(name)[keep], h[keep]


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
    warn : callable
        ``warn(message)``: a one-line warning that is always shown (stderr by
        default), e.g. the calibration's domain guard.
    onset_plugins : list of str
        Names of the registered plugins that shape onsets (implement the
        transform, pick, candidates or filter hooks), in registration order;
        the calibration file records them.
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
    warn: Callable[[str], None] = _warn_stderr
    onset_plugins: List[str] = field(default_factory=list)
    sections_read: Set[str] = field(default_factory=set, repr=False)

    def plugin_config(self, name: str) -> dict:
        """This plugin's own section, ``plugins_config.<name>`` ({} if absent).

        Ask for it in ``drumscribe_configure``: a section that no loaded plugin
        asked for by then (and that is no plugin's name) is a configuration
        error with a "did you mean", since it is most likely a typo.
        """
        self.sections_read.add(name)
        return dict(self.config.plugins_config.get(name) or {})


