"""Built-in export: ``<stem>.png``, a picture of what the transcription saw.

Active with ``transcribe ... --preview`` (``"preview"`` in
``context.run.exports``); the picture goes next to the MIDI file. Top: the
activations of every class as a heat map, the picked onsets as dots and the
beat grid (downbeats bold). Bottom: each class's activation curve in its own
band with its threshold as a dashed line and its onsets as ticks. The beat grid
is the chart's tempo map (same options: ``--bpm``, ``--tempo-from``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drumscribe.transcribe.hookspecs import hookimpl
from drumscribe.transcribe.io import atomic_write, check_writable


def render_preview(path, activations, thresholds, onsets, tempo_map=None, title: str = "") -> None:
    """Draw the preview and write it atomically as PNG.

    Parameters
    ----------
    path : path-like
    activations : Activations
    thresholds : dict of str -> float
    onsets : list of Onset
    tempo_map : TempoMap, optional
    title : str
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    classes = list(activations.classes)
    n_cls = len(classes)
    dur = max(activations.duration, 1e-3)
    width = float(np.clip(dur / 4.0, 8.0, 60.0))
    fig = Figure(figsize=(width, 2.0 + 0.55 * n_cls * 2), dpi=80)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.3]})
    ax1.imshow(activations.values.T, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=1,
               extent=(0, dur, -0.5, n_cls - 0.5), interpolation="nearest")
    ax1.set_yticks(range(n_cls))
    ax1.set_yticklabels(classes, fontsize=7)
    row = {c: i for i, c in enumerate(classes)}
    on = [(o.time, row[o.drum]) for o in onsets if o.drum in row]
    if on:
        t, r = zip(*on)
        ax1.scatter(t, r, s=6, c="cyan", marker="o", linewidths=0)
    t_axis = np.arange(activations.n_frames) / activations.fps
    for i, c in enumerate(classes):
        base = n_cls - 1 - i
        ax2.plot(t_axis, base + 0.9 * activations.values[:, i], lw=0.6, color=f"C{i % 10}")
        th = thresholds.get(c)
        if th is not None:
            ax2.hlines(base + 0.9 * th, 0, dur, colors=f"C{i % 10}", linestyles="dashed", lw=0.6)
        ot = [o.time for o in onsets if o.drum == c]
        if ot:
            ax2.vlines(ot, base, base + 0.95, colors="k", lw=0.5)
    ax2.set_yticks([n_cls - 1 - i + 0.45 for i in range(n_cls)])
    ax2.set_yticklabels(classes, fontsize=7)
    ax2.set_ylim(-0.1, n_cls)
    ax2.set_xlim(0, dur)
    ax2.set_xlabel("time (s); dashed: thresholds; grey lines: beats, bold: downbeats")
    if tempo_map is not None:
        num = tempo_map.time_signature[0]
        for i, b in enumerate(tempo_map.beats):
            if b > dur:
                break
            down = i >= tempo_map.downbeat and (i - tempo_map.downbeat) % num == 0
            for ax in (ax1, ax2):
                ax.axvline(b, color="white" if ax is ax1 else "0.5",
                           lw=1.0 if down else 0.3, alpha=0.8 if down else 0.5)
    ax1.set_title(title or "activations, onsets and beat grid", fontsize=9)
    fig.tight_layout()
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png")


@hookimpl
def drumscribe_export(onsets, activations, thresholds, audio_path, out_dir, context):
    """Write ``<stem>.png`` when ``--preview`` asked for it."""
    if "preview" not in context.run.exports:
        return None
    from drumscribe.plugins.chart_export import tempo_map_for

    stem = Path(audio_path).stem
    path = Path(out_dir) / f"{stem}.png"
    path.parent.mkdir(parents=True, exist_ok=True)  # the --chart folder may not exist yet
    check_writable(path, overwrite=context.run.overwrite)
    tm = tempo_map_for(context, onsets, activations, audio_path) if onsets else None
    render_preview(path, activations, thresholds, onsets, tm, title=stem)
    return [str(path)]
