"""Built-in: per-class thresholds from the config (``postprocessing.class_thresholds``)
and from the command line (``--threshold CLASS=T``, highest priority of all)."""

from drumscribe.transcribe.hookspecs import PRIORITY_COMMAND_LINE, PRIORITY_CONFIG, ThresholdLayer, hookimpl


@hookimpl
def drumscribe_thresholds(classes, context):
    """Offer the config's and the command line's per-class thresholds."""
    cfg = context.config
    layers = []
    if cfg.postprocessing.class_thresholds:
        layers.append(ThresholdLayer(
            {c: v for c, v in cfg.postprocessing.class_thresholds.items() if c in classes},
            f"config class_thresholds ({cfg.path or 'config'})", PRIORITY_CONFIG))
    if context.run.class_thresholds:
        layers.append(ThresholdLayer(
            {c: v for c, v in context.run.class_thresholds.items() if c in classes},
            "command line --threshold CLASS=T", PRIORITY_COMMAND_LINE + 1))
    return layers or None
