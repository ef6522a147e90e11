"""Short phrases of a class summary, shared by the text report and ``report.html``.

A summary is one entry of :func:`drumscribe.calibration.report.class_summary`.
"""

from __future__ import annotations

from .robust import CLIFF_STEP


def flags(s: dict) -> str:
    """The class's flags: a recall cliff at the kept threshold, low support ("" for none)."""
    out = []
    if s.get("cliff"):
        out.append(f"recall cliff (-{s['cliff']:.0%} within +{CLIFF_STEP:g})")
    if s.get("method", "").startswith("global (support"):
        out.append("low support")
    return ", ".join(out)


def merge_text(s: dict) -> str:
    """The merge advice of a class, or "-"."""
    m = s.get("merge")
    return f"with {m['class']} ({m['near_other']}/{m['misses']} misses)" if m else "-"
