"""Built-in: per-class thresholds from a calibration file.

The file (``postprocessing.calibration_file`` or ``--calibration``) is read once,
when the pipeline is configured, and must match the model's classes and
fingerprint unless ``--force``, and must have been fitted with this run's class
groups, disabled classes and onset-shaping plugins (refused by name, or a
warning with ``--force``). Classes without a fitted threshold fall through to
lower-priority layers.
"""

from calibration.calfile import read_calibration, setup_mismatches
from transcribe.errors import CalibrationFileError
from transcribe.hookspecs import PRIORITY_CALIBRATION, ThresholdLayer, hookimpl

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


@hookimpl
def drumscribe_thresholds(classes, context):
    """Offer the calibration file's thresholds."""
    cal = context.store.get(_KEY)
    if cal is None:
        return None
    values = {c: cal.thresholds[c] for c in classes if c in cal.thresholds}
    return ThresholdLayer(values, f"calibration file {context.config.postprocessing.calibration_file}",
                          PRIORITY_CALIBRATION)
