"""CI fixture: a third-party plugin that raises every class's threshold to 0.9.

It outranks the command line, the config and the calibration file, so any test
of drumscribe that lets installed plugins in would see different thresholds.
The CI step ``.ci/plugins/run_suite_with_plugins.sh`` installs it (with the two
example plugins) and runs the whole suite, which must still pass.
"""

from drumscribe.transcribe.hookspecs import PRIORITY_COMMAND_LINE, ThresholdLayer, hookimpl

__version__ = "0.1.0"


@hookimpl
def drumscribe_thresholds(classes):
    return ThresholdLayer({c: 0.9 for c in classes}, "raise_thresholds plugin",
                          priority=PRIORITY_COMMAND_LINE + 1)
