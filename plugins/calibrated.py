"""Built-in: per-class thresholds from a calibration file.

The file (``postprocessing.calibration_file`` or ``--calibration``) is read once,
when the pipeline is configured, and must match the model's classes and
fingerprint unless ``--force``, and must have been fitted with this run's class
groups, disabled classes and onset-shaping plugins (refused by name, or a
warning with ``--force``). Classes without a fitted threshold fall through to
lower-priority layers.

Domain guard: when the file describes its calibration material
(:mod:`drumscribe.calibration.domain`), each song's audio and activations are compared
with it and a song out of that range gets a one-line warning naming the song
and the calibration file (``plugins_config: {calibrated: {domain_guard: false}}``
turns it off; it reads the first 30 s of each song once more).
"""

from pathlib import Path

from drumscribe.calibration.calfile import read_calibration, setup_mismatches
from drumscribe.transcribe.errors import CalibrationFileError
from drumscribe.transcribe.hookspecs import PRIORITY_CALIBRATION, ThresholdLayer, hookimpl

_KEY = "calibrated.file"


@hookimpl
def drumscribe_configure(context):
    """Read and check the calibration file up front, so errors come before any song."""
    path = context.config.postprocessing.calibration_file
    if not path:
        return
    cal = read_calibration(path, classes=context.model_classes,
                           fingerprint=context.model_fingerprint, force=context.force)
    p = context.config.postprocessing
    diff = setup_mismatches(cal, p.class_groups, p.disabled_classes, context.onset_plugins)
    if diff:
        msg = (f"{path}: the calibration does not match this run's onset setup: {'; '.join(diff)}")
        if not context.force:
            raise CalibrationFileError(msg + "; use the setup it was fitted with, re-run calibrate, "
                                             "or pass --force")
        context.warn(msg + " (--force: used anyway)")
    context.store[_KEY] = cal


def domain_warning(cal, path, activations) -> str:
    """The one-line domain warning for a song, or "" when it is within the calibration's range."""
    from drumscribe.calibration import domain

    if not cal.domain:
        return ""
    song = activations.source or "this song"
    audio = None
    if activations.source and Path(activations.source).is_file() and (cal.domain.get("audio") or {}):
        audio = domain.audio_features(activations.source)
    problems = domain.check(cal.domain, audio, domain.activation_features(activations))
    if not problems:
        return ""
    return (f"{song}: outside the range of calibration file {path}: {'; '.join(problems)}; "
            "its thresholds may not hold here")


@hookimpl
def drumscribe_thresholds(classes, activations, context):
    """Offer the calibration file's thresholds (and warn once per song outside its domain)."""
    cal = context.store.get(_KEY)
    if cal is None:
        return None
    if not context.state.get(_KEY + ".checked") and context.plugin_config("calibrated").get(
            "domain_guard", True):
        context.state[_KEY + ".checked"] = True
        msg = domain_warning(cal, context.config.postprocessing.calibration_file, activations)
        if msg:
            context.warn(msg)
    values = {c: cal.thresholds[c] for c in classes if c in cal.thresholds}
    return ThresholdLayer(values, f"calibration file {context.config.postprocessing.calibration_file}",
                          PRIORITY_CALIBRATION)
