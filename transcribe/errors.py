"""Exceptions raised by drumscribe.

Every error a user can cause derives from :class:`DrumscribeError` and carries a
one-line message that names the file at fault and, where there is one, the fix.
The command-line tools print that line and exit non-zero instead of showing a
traceback.
"""


class DrumscribeError(ValueError):
    """Base class of all drumscribe errors caused by input or configuration."""


class VocabularyError(DrumscribeError):
    """A class name or note is not in the vocabulary."""


class AudioError(DrumscribeError):
    """An audio file cannot be read or holds no usable audio."""


class ActivationError(DrumscribeError):
    """An activation matrix or predictions file is malformed."""


class AnnotationError(DrumscribeError):
    """A ground-truth annotation file is malformed."""


class ConfigError(DrumscribeError):
    """A YAML configuration file is malformed or invalid."""


class CalibrationFileError(DrumscribeError):
    """A calibration file is malformed or does not match the model."""


class CheckpointError(DrumscribeError):
    """A model checkpoint cannot be loaded."""


class PluginError(DrumscribeError):
    """A postprocessing plugin failed to load or raised in a hook."""


class OutputError(DrumscribeError):
    """An output file cannot be written (exists, folder not writable, disk full)."""
