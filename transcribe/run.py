"""The run's explicit inputs: what the command line set, frozen, for every hook.

:class:`RunOptions` is built once per run (``transcribe`` builds it from its
arguments; library callers pass one to :class:`~drumscribe.transcribe.api.TranscriptionSession`
or :class:`~drumscribe.transcribe.pipeline.Postprocessor`) and reaches every hook as
``context.run``. It is immutable: a plugin cannot change what another plugin sees,
and the caller's :class:`~drumscribe.transcribe.config.Config` is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, FrozenSet, Mapping, Optional

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class RunOptions:
    """What the command line set for this run.

    Attributes
    ----------
    threshold : float or None
        ``--threshold T``: one threshold for every class.
    class_thresholds : mapping of str -> float
        ``--threshold CLASS=T``.
    exports : frozenset of str
        The export writers asked for: ``"chart"`` (``--chart DIR``), ``"preview"``
        (``--preview``). A ``drumscribe_export`` implementation writes only when
        its name is in here.
    overwrite : bool
        ``--overwrite``: existing outputs may be replaced (exports included).
    options : mapping of str -> object
        The values of the command-line options that plugins added with
        ``drumscribe_add_arguments``, by argparse ``dest`` (``{"bpm": 120.0}``);
        an option not given on the command line is absent. Read them with
        :meth:`option`.

    Examples
    --------
    >>> run = RunOptions(threshold=0.4, options={"bpm": 120.0})
    >>> run.option("bpm"), run.option("offset", 0.0)
    (120.0, 0.0)
    """

    threshold: Optional[float] = None
    class_thresholds: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    exports: FrozenSet[str] = frozenset()
    overwrite: bool = False
    options: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)

    def __post_init__(self):
        object.__setattr__(self, "class_thresholds",
                           MappingProxyType({str(k): float(v) for k, v in dict(self.class_thresholds).items()}))
        object.__setattr__(self, "exports", frozenset(self.exports))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def option(self, dest: str, default: Any = None) -> Any:
        """The value of a plugin's command-line option, or ``default`` when not given."""
        value = self.options.get(dest)
        return default if value is None else value
