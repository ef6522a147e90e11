"""Built-in: one global threshold for every class.

``postprocessing.onset_threshold`` (default 0.5, the old fixed cut) is the
lowest-priority fallback; ``--threshold T`` on the command line overrides
everything.
"""

from drumscribe.transcribe.hookspecs import PRIORITY_COMMAND_LINE, PRIORITY_GLOBAL, ThresholdLayer, hookimpl


@hookimpl
def drumscribe_thresholds(classes, context):
    """Offer the global fallback and the command line's global threshold."""
    layers = [ThresholdLayer({c: context.config.postprocessing.onset_threshold for c in classes},
                             "postprocessing.onset_threshold", PRIORITY_GLOBAL)]
    if context.run.threshold is not None:
        layers.append(ThresholdLayer({c: context.run.threshold for c in classes},
                                     "command line --threshold", PRIORITY_COMMAND_LINE))
    return layers
