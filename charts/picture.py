"""A picture of a chart as the game shows it: a highway per difficulty, read back from
the chart folder's notes.mid (or notes.chart).

    python -m drumscribe.charts.picture "charts/My Song" docs/chart.png [--bars 8] [--start-bar 4]

Lanes left to right: red, yellow, blue, green; the kick is a bar across the
highway. Cymbals are round gems, snare and toms square ones; accents are larger, ghosts
smaller. Time runs upwards; bar lines are solid, beats dotted. Star Power
phrases are shaded silver, drum fills (activation lanes) blue, and sections are
named at the left. Nothing is taken from the chart engine's memory: what is
drawn is what the file says.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

LANE_X = {"red": 0, "yellow": 1, "blue": 2, "green": 3}
COLOURS = {"kick": "#f28c28", "red": "#e03131", "yellow": "#f5c400", "blue": "#1c7ed6",
           "green": "#2f9e44"}
LEVELS = ("Expert", "Hard", "Medium", "Easy")


def read_back(folder):
    """ChartData of the folder's notes.mid, else notes.chart."""
    folder = Path(folder)
    if (folder / "notes.mid").exists():
        from .mid_format import read_notes_mid
        return read_notes_mid(folder / "notes.mid")
    from .chart_format import read_chart
    return read_chart(folder / "notes.chart")


def draw(folder, out, bars: int = 8, start_bar: Optional[int] = None, title: str = "") -> Path:
    """Draw ``bars`` bars of every difficulty side by side into the PNG ``out``.

    ``start_bar`` defaults to the first bar holding a drum fill (else Star Power,
    else the first note), minus two.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    data = read_back(folder)
    res = data.resolution
    num = data.time_signatures[0][1] if data.time_signatures else 4
    bar_ticks = num * res
    if start_bar is None:
        anchor = (data.fills or data.star_power or [(min(
            (n.tick for n in data.notes.get("Expert", [])), default=0), 0)])[0][0]
        start_bar = max(0, anchor // bar_ticks - 2)
    t0, t1 = start_bar * bar_ticks, (start_bar + bars) * bar_ticks
    fig, axes = plt.subplots(1, len(LEVELS), figsize=(3.0 * len(LEVELS), 9), sharey=True)
    fig.patch.set_facecolor("#111")
    for ax, level in zip(axes, LEVELS):
        ax.set_facecolor("#1b1b1b")
        ax.set_xlim(-0.6, 3.6)
        ax.set_ylim(t0 / res, t1 / res)
        ax.set_xticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        for s, e in data.star_power:
            if e >= t0 and s <= t1:
                ax.add_patch(Rectangle((-0.6, s / res), 4.2, (e - s) / res, color="#c8c8d8",
                                       alpha=0.18, lw=0))
        for s, e in data.fills:
            if e >= t0 and s <= t1:
                ax.add_patch(Rectangle((-0.6, s / res), 4.2, (e - s) / res, color="#3b82f6",
                                       alpha=0.22, lw=0))
        for b in range(t0 // res, t1 // res + 1):
            bar_line = b * res % bar_ticks == 0
            ax.axhline(b, color="#ddd" if bar_line else "#555", lw=1.2 if bar_line else 0.6,
                       ls="-" if bar_line else ":", zorder=1)
        for x in range(4):
            ax.axvline(x, color="#333", lw=8, zorder=0)
        for n in data.notes.get(level, []):
            if not t0 <= n.tick <= t1:
                continue
            y = n.tick / res
            scale = 1.35 if n.dynamic == "accent" else 0.7 if n.dynamic == "ghost" else 1.0
            if n.lane == "kick":
                ax.add_patch(Rectangle((-0.5, y - 0.04), 4.0, 0.08, color=COLOURS["kick"], zorder=2))
                continue
            ax.scatter([LANE_X[n.lane]], [y], s=150 * scale, marker="o" if n.cymbal else "s",
                       color=COLOURS[n.lane], edgecolors="white", linewidths=1.0, zorder=3)
        ax.set_title(level, color="white", fontsize=13)
        if ax is axes[0]:
            ax.tick_params(axis="y", colors="#aaa")
            ax.set_ylabel("beat", color="#aaa")
            for tick, text in data.events:
                if text.startswith("[section ") or text.startswith("section "):
                    if t0 <= tick <= t1:
                        ax.text(-0.55, tick / res + 0.1, text.strip("[]")[8:], color="#9fe",
                                fontsize=9, va="bottom")
    fig.suptitle(title or Path(folder).name, color="white", fontsize=14)
    fig.text(0.5, 0.01, "round: cymbal  square: snare or tom  orange bar: kick  silver: Star Power  "
             "blue: drum fill", color="#aaa", ha="center", fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    out = Path(out)
    fig.savefig(out, dpi=80, facecolor=fig.get_facecolor())
    plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Draw a chart folder's highways as a PNG.",
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("out")
    ap.add_argument("--bars", type=int, default=8)
    ap.add_argument("--start-bar", type=int, default=None)
    ap.add_argument("--title", default="")
    args = ap.parse_args(argv)
    print(draw(args.folder, args.out, args.bars, args.start_bar, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
