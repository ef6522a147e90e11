"""Built-in: merge classes into groups and drop disabled classes, without retraining.

``postprocessing.class_groups: {hihat: [hihat_closed, hihat_pedal]}`` replaces the
members' columns by one column named after the group (the members' maximum),
placed where the first member was; the group gets one threshold and one output
note (``export.note_map.<group>``, or the first member's note).
``postprocessing.disabled_classes`` drops classes (or groups) from the output.
"""

import numpy as np

from drumscribe.transcribe.hookspecs import hookimpl


def merge_groups(values, classes, groups, disabled=()):
    """Merge grouped columns by maximum and drop disabled ones.

    Parameters
    ----------
    values : np.ndarray, shape (n_frames, n_classes)
    classes : list of str
    groups : dict of str -> list of str
    disabled : iterable of str

    Returns
    -------
    values : np.ndarray
    classes : list of str
    """
    member_of = {m: g for g, ms in groups.items() for m in ms}
    out_cols, out_names, done = [], [], set()
    for j, c in enumerate(classes):
        g = member_of.get(c)
        if g is None:
            out_cols.append(values[:, j])
            out_names.append(c)
        elif g not in done:
            idx = [classes.index(m) for m in groups[g]]
            out_cols.append(values[:, idx].max(axis=1))
            out_names.append(g)
            done.add(g)
    disabled = set(disabled)
    keep = [i for i, n in enumerate(out_names) if n not in disabled]
    if not keep:
        return np.zeros((values.shape[0], 0), dtype=values.dtype), []
    return np.stack([out_cols[i] for i in keep], axis=1), [out_names[i] for i in keep]


@hookimpl(tryfirst=True)
def drumscribe_transform_activations(activations, context):
    """Apply ``class_groups`` and ``disabled_classes``."""
    p = context.config.postprocessing
    if not p.class_groups and not p.disabled_classes:
        return None
    values, classes = merge_groups(activations.values, activations.classes, p.class_groups,
                                   p.disabled_classes)
    if not classes:
        from drumscribe.transcribe.errors import ConfigError
        raise ConfigError("disabled_classes removes every class; keep at least one")
    return activations.replace(values, classes)
