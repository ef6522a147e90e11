"""Turn a sweep into a calibration file, a terminal table and a report folder.

Report folder contents:

``threshold_results.csv``
    Precision, recall, F1 of every class at 0.10 .. 0.80 (step 0.05) and at
    the chosen thresholds, plus ``core`` and ``overall`` macro rows.
``threshold_curves.png``
    P/R/F1 against the threshold per class, chosen point marked.
``pr_roc_curves.png``
    Frame-level precision-recall and ROC curves per class.
``analysis_report.txt``
    AUCs, best thresholds, gain over 0.5, game-target check, diagnosis per
    class, cross-class confusion with merge advice, and the YAML snippet to
    paste into a transcribe config.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from transcribe.vocabulary import is_core

from .calfile import CalibrationFile
from .metrics import Curve, safe_mean
from .objectives import GAME_TARGETS, Choice, Objective, best_interval_middle

GRID = tuple(round(0.10 + 0.05 * i, 2) for i in range(15))
"""Thresholds of the CSV table: 0.10 .. 0.80 step 0.05."""

GOOD_AUC = 0.90
"""Frame ROC AUC from which a class's scores are called well ranked."""

GOOD_AP = 0.25
"""Frame average precision below which the ranking is called poor, whatever the ROC AUC."""

MIN_GAIN = 0.05
"""F1 gain over 0.5 from which "the threshold was wrong"."""

DIAG_WRONG = "good AUC, threshold was wrong"
DIAG_FINE = "good AUC, threshold 0.5 was fine"
DIAG_POOR = "poor AUC, the model needs work"
DIAG_CLASS = "class-specific issue"
DIAG_NONE = "no positives in the validation data; kept the fallback threshold"


def _f(x) -> Optional[float]:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _core(name: str, groups: Dict[str, List[str]]) -> bool:
    return any(is_core(m) for m in groups.get(name, [name]))


def class_summary(result, choices: Dict[str, Choice], groups: Optional[Dict[str, List[str]]] = None,
                  confusion_info=None) -> Dict[str, dict]:
    """Per-class diagnostics at the chosen thresholds.

    Parameters
    ----------
    result : calibration.sweep.SweepResult
    choices : dict of str -> Choice
    groups : dict, optional
        Class groups (a group is core when a member is).
    confusion_info : tuple, optional
        ``(classes, misses, table)`` from :func:`calibration.sweep.confusion`.

    Returns
    -------
    dict of str -> dict
        ``support, roc_auc, pr_auc, threshold, at_threshold, at_0_5, gain,
        best_f1_threshold, best_recall_threshold, game, core, diagnosis, note,
        confused_with``.
    """
    groups = groups or {}
    curves = result.curves()
    out = {}
    conf = _confusion_advice(confusion_info)
    undefined: List[str] = []
    for c in result.classes:
        cv: Curve = curves[c]
        ch = choices[c]
        core = _core(c, groups)
        entry = {"support": int(cv.n_ref), "core": core, "threshold": float(ch.threshold)}
        if not cv.defined:
            undefined.append(c)
            entry.update(roc_auc=None, pr_auc=None, at_threshold=None, at_0_5=None, gain=None,
                         best_f1_threshold=None, best_recall_threshold=None, game=None,
                         diagnosis=DIAG_NONE, note=ch.note, confused_with=None)
            out[c] = entry
            continue
        roc = _f(result.frame.roc_auc(c))
        ap = _f(result.frame.average_precision(c))
        at_t, at_5 = cv.at(ch.threshold), cv.at(0.5)
        f1 = cv.f1
        i_best = best_interval_middle(f1, cv.thresholds)
        rec = np.where(cv.precision > 0, cv.recall, -np.inf)
        # max recall: the highest threshold that still reaches the best recall
        i_rec = int(np.flatnonzero(cv.recall >= np.nanmax(cv.recall) - 1e-12)[-1])
        f_t, r_t = GAME_TARGETS[core]
        game = {"target_f1": f_t, "target_recall": r_t,
                "met": bool(at_t["f1"] > f_t and at_t["recall"] > r_t)}
        gain = at_t["f1"] - at_5["f1"]
        confused = conf.get(c)
        # Frame ROC AUC is high for any sparse class; a good ranking also needs
        # a reasonable average precision before the threshold can be blamed.
        if roc is None:
            diag = DIAG_CLASS
        elif roc < GOOD_AUC or (ap is not None and ap < GOOD_AP):
            diag = DIAG_POOR
        elif gain >= MIN_GAIN and at_t["f1"] >= f_t:
            diag = DIAG_WRONG
        elif at_t["f1"] >= f_t:
            diag = DIAG_FINE
        else:  # well ranked frames, yet the events stay below the class's F1 target
            diag = DIAG_CLASS
        if confused and diag != DIAG_WRONG:
            diag = DIAG_CLASS
        entry.update(roc_auc=roc, pr_auc=ap, at_threshold=_metrics(at_t), at_0_5=_metrics(at_5),
                     gain=float(gain),
                     best_f1_threshold=float(cv.thresholds[i_best]) if i_best is not None else None,
                     best_recall_threshold=float(cv.thresholds[i_rec]) if np.isfinite(rec).any() else None,
                     game=game, diagnosis=diag, note=ch.note, confused_with=confused)
        out[c] = entry
    if undefined:
        warnings.warn(f"no positives in the validation data for {', '.join(undefined)}: their "
                      "metrics are undefined, they are left out of the macro averages and keep "
                      "the fallback threshold", RuntimeWarning, stacklevel=2)
    return out


def _metrics(m: dict) -> dict:
    return {k: m[k] for k in ("precision", "recall", "f1")}


def _confusion_advice(info) -> Dict[str, dict]:
    """Classes whose misses are mostly detected as another class."""
    if not info:
        return {}
    classes, misses, table = info
    out = {}
    for a, ca in enumerate(classes):
        if misses[a] < 3 or table.shape[1] < 2:
            continue
        row = table[a].copy()
        row[a] = -1
        b = int(np.argmax(row))
        if row[b] >= 0.5 * misses[a]:
            out[ca] = {"class": classes[b], "misses": int(misses[a]), "near_other": int(row[b])}
    return out


def build_calibration(result, choices: Dict[str, Choice], summary: Dict[str, dict],
                      objective: Objective, window_ms: float, fallback: float = 0.5,
                      groups: Optional[Dict[str, List[str]]] = None) -> CalibrationFile:
    """The calibration file for a sweep and its chosen thresholds."""
    groups = {g: list(m) for g, m in (groups or {}).items() if g in result.classes}
    per_class = {}
    for c, s in summary.items():
        per_class[c] = {k: s[k] for k in ("support", "roc_auc", "pr_auc", "at_threshold", "at_0_5")}
        note = s["note"] if s["support"] == 0 and s["note"] else (
            s["diagnosis"] + (f"; {s['note']}" if s["note"] else ""))
        if s.get("confused_with"):
            cw = s["confused_with"]
            note += f"; {cw['near_other']} of {cw['misses']} misses were detected as {cw['class']}"
        per_class[c]["note"] = note
    return CalibrationFile(
        classes=list(result.model_classes),
        thresholds={c: float(choices[c].threshold) for c in result.classes},
        model_fingerprint=result.fingerprint,
        objective=str(objective),
        level=result.level,
        window_ms=float(window_ms),
        fallback_threshold=float(fallback),
        groups=groups,
        per_class=per_class,
    )


# ----------------------------------------------------------------------------- text

def _fmt(x, nd=3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def summary_table(summary: Dict[str, dict]) -> List[str]:
    """Lines of the terminal summary table."""
    head = f"{'class':<14} {'support':>7} {'ROC':>6} {'AP':>6} {'thr':>6} {'F1@thr':>7} {'F1@0.5':>7}  diagnosis"
    lines = [head, "-" * len(head)]
    for c, s in summary.items():
        at_t = s["at_threshold"] or {}
        at_5 = s["at_0_5"] or {}
        lines.append(f"{c:<14} {s['support']:>7d} {_fmt(s['roc_auc']):>6} {_fmt(s['pr_auc']):>6} "
                     f"{s['threshold']:>6.3f} {_fmt(at_t.get('f1')):>7} {_fmt(at_5.get('f1')):>7}  "
                     f"{s['diagnosis']}")
    m_t = safe_mean((s["at_threshold"] or {}).get("f1") for s in summary.values())
    m_5 = safe_mean((s["at_0_5"] or {}).get("f1") for s in summary.values())
    lines.append(f"{'macro':<14} {'':>7} {_fmt(safe_mean(s['roc_auc'] for s in summary.values())):>6} "
                 f"{_fmt(safe_mean(s['pr_auc'] for s in summary.values())):>6} {'':>6} "
                 f"{_fmt(m_t):>7} {_fmt(m_5):>7}")
    return lines


def yaml_snippet(choices: Dict[str, Choice]) -> str:
    """The ``postprocessing.class_thresholds`` block to paste into a transcribe config."""
    lines = ["postprocessing:", "  class_thresholds:"]
    lines += [f"    {c}: {ch.threshold:.4f}" for c, ch in choices.items()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- report folder

def threshold_rows(result, choices: Dict[str, Choice], groups=None) -> List[dict]:
    """Rows of ``threshold_results.csv``."""
    groups = groups or {}
    curves = result.curves()
    rows = []
    points = [(f"{t:.2f}", {c: t for c in result.classes}) for t in GRID]
    points.append(("chosen", {c: choices[c].threshold for c in result.classes}))
    for label, th in points:
        per = {}
        for c in result.classes:
            cv = curves[c]
            m = cv.at(th[c])
            per[c] = m
            rows.append({"class": c, "point": label, "threshold": round(th[c], 6),
                         "support": cv.n_ref, "precision": m["precision"], "recall": m["recall"],
                         "f1": m["f1"]})
        for agg, members in (("core", [c for c in result.classes if _core(c, groups)]),
                             ("overall", list(result.classes))):
            ms = [per[c] for c in members if curves[c].defined]
            rows.append({"class": agg, "point": label,
                         "threshold": round(th[members[0]], 6) if members and label != "chosen" else "",
                         "support": int(sum(curves[c].n_ref for c in members)),
                         "precision": safe_mean(m["precision"] for m in ms),
                         "recall": safe_mean(m["recall"] for m in ms),
                         "f1": safe_mean(m["f1"] for m in ms)})
    return rows


def analysis_text(result, choices, summary, objective, window_ms, confusion_info=None,
                  fallback: float = 0.5) -> str:
    """The text of ``analysis_report.txt``."""
    buf = io.StringIO()
    w = buf.write
    w("drumscribe threshold analysis\n=============================\n\n")
    w(f"model fingerprint: {result.fingerprint or 'unknown'}\n")
    w(f"files: {len(result.files)} used, {len(result.skipped)} without ground truth, "
      f"{len(result.failed)} failed\n")
    w(f"objective: {objective}   level: {result.level}   window: {window_ms:g} ms   "
      f"picker: {result.picker}\n\n")
    w("Macro averages (classes with positives)\n")
    w(f"  ROC AUC {_fmt(safe_mean(s['roc_auc'] for s in summary.values()))}   "
      f"PR AUC {_fmt(safe_mean(s['pr_auc'] for s in summary.values()))}   "
      f"F1 at chosen {_fmt(safe_mean((s['at_threshold'] or {}).get('f1') for s in summary.values()))}   "
      f"F1 at 0.5 {_fmt(safe_mean((s['at_0_5'] or {}).get('f1') for s in summary.values()))}\n")
    undefined = [c for c, s in summary.items() if s["support"] == 0]
    if undefined:
        w(f"  left out (no positives, fallback {fallback:g} kept): {', '.join(undefined)}\n")
    w("\nSummary\n")
    for line in summary_table(summary):
        w("  " + line + "\n")
    w("\nPer class\n")
    for c, s in summary.items():
        w(f"\n[{c}] {'core' if s['core'] else 'other'}, support {s['support']}\n")
        if s["support"] == 0:
            w(f"  {s['diagnosis']}\n")
            continue
        at_t, at_5 = s["at_threshold"], s["at_0_5"]
        w(f"  ROC AUC {_fmt(s['roc_auc'])}  PR AUC {_fmt(s['pr_auc'])}\n")
        w(f"  chosen threshold {s['threshold']:.4f}: P {at_t['precision']:.3f} R {at_t['recall']:.3f} "
          f"F1 {at_t['f1']:.3f}\n")
        w(f"  at 0.5:                   P {at_5['precision']:.3f} R {at_5['recall']:.3f} "
          f"F1 {at_5['f1']:.3f}   gain {s['gain']:+.3f}\n")
        w(f"  best threshold for max F1: {_fmt(s['best_f1_threshold'], 4)}   "
          f"for max recall: {_fmt(s['best_recall_threshold'], 4)}\n")
        g = s["game"]
        w(f"  game targets (F1 > {g['target_f1']:g}, recall > {g['target_recall']:g}): "
          f"{'met' if g['met'] else 'NOT met'}\n")
        w(f"  diagnosis: {s['diagnosis']}\n")
        if s["note"]:
            w(f"  note: {s['note']}\n")
    if confusion_info and len(confusion_info[0]):
        classes, misses, table = confusion_info
        w("\nCross-class confusion of misses at the chosen thresholds\n")
        w("  row A, column B: reference onsets of A missed by A's detections but within the window "
          "of a false alarm of B (a B detection that matches no B onset)\n")
        width = max(8, max(len(c) for c in classes) + 1)
        corner = "A \\ B"
        w("  " + f"{corner:<{width}}" + f"{'misses':>8}" + "".join(f"{c[:width - 1]:>{width}}" for c in classes) + "\n")
        for a, ca in enumerate(classes):
            w("  " + f"{ca:<{width}}" + f"{int(misses[a]):>8}"
              + "".join(f"{('.' if a == b else str(int(table[a, b]))):>{width}}" for b in range(len(classes)))
              + "\n")
        advice = _confusion_advice(confusion_info)
        if advice:
            w("\n  Merge recommendations\n")
            for ca, d in advice.items():
                w(f"  - {d['near_other']} of {d['misses']} misses of {ca} were detected as {d['class']}: "
                  f"consider merging them: postprocessing: {{class_groups: "
                  f"{{{ca}_{d['class']}: [{ca}, {d['class']}]}}}}\n")
        else:
            w("\n  No class's misses are dominated by another class; no merge recommended.\n")
    w("\nPaste into a transcribe config (or use the calibration file with --calibration):\n\n")
    w(yaml_snippet(choices))
    return buf.getvalue()


def write_report(folder, result, choices: Dict[str, Choice], summary: Dict[str, dict],
                 objective: Objective, window_ms: float, confusion_info=None, groups=None,
                 fallback: float = 0.5) -> List[Path]:
    """Write the report folder; returns the paths written."""
    from transcribe.io import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    rows = threshold_rows(result, choices, groups)
    with atomic_write(folder / "threshold_results.csv", "w") as fh:
        wr = csv.DictWriter(fh, fieldnames=["class", "point", "threshold", "support",
                                            "precision", "recall", "f1"], lineterminator="\n")
        wr.writeheader()
        for r in rows:
            wr.writerow({k: ("" if v is None else (f"{v:.6f}" if isinstance(v, float) else v))
                         for k, v in r.items()})
    written.append(folder / "threshold_results.csv")
    text = analysis_text(result, choices, summary, objective, window_ms, confusion_info, fallback)
    with atomic_write(folder / "analysis_report.txt", "w") as fh:
        fh.write(text)
    written.append(folder / "analysis_report.txt")
    written += _plots(folder, result, choices)
    return written


def _grid_shape(n: int):
    cols = min(4, max(1, n))
    return cols, int(math.ceil(n / cols))


def _thin(curve: Curve, n: int = 2000) -> np.ndarray:
    k = len(curve.thresholds)
    return np.unique(np.linspace(0, k - 1, min(n, k)).astype(int))


def _plots(folder: Path, result, choices) -> List[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from transcribe.io import atomic_write

    curves = result.curves()
    classes = list(result.classes)
    cols, rows = _grid_shape(len(classes))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, c in zip(axes.ravel(), classes):
        cv = curves[c]
        ax.set_title(f"{c} (n={cv.n_ref})", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        if cv.defined:
            i = _thin(cv)
            t = cv.thresholds[i]
            ax.plot(t, cv.precision[i], label="precision")
            ax.plot(t, cv.recall[i], label="recall")
            ax.plot(t, cv.f1[i], label="F1")
            m = cv.at(choices[c].threshold)
            ax.plot([choices[c].threshold], [m["f1"]], "ko")
            ax.axvline(0.5, color="grey", lw=0.5, ls="--")
        else:
            ax.text(0.5, 0.5, "no positives", ha="center")
        ax.set_xlabel("threshold", fontsize=8)
    for ax in axes.ravel()[len(classes):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{result.level}-level precision/recall/F1 vs threshold (dot: chosen)")
    fig.tight_layout()
    out = []
    with atomic_write(folder / "threshold_curves.png", "wb") as fh:
        fig.savefig(fh, format="png", dpi=80)
    plt.close(fig)
    out.append(folder / "threshold_curves.png")

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 5))
    for c in classes:
        cv = result.frame.curve(c)
        if not cv.defined:
            continue
        i = _thin(cv)
        ax1.plot(cv.recall[i], cv.precision[i], label=c, lw=1)
        fpr, tpr = result.frame.roc_points(c)
        j = np.unique(np.linspace(0, len(fpr) - 1, min(2000, len(fpr))).astype(int))
        ax2.plot(fpr[j], tpr[j], label=c, lw=1)
    ax1.set(xlabel="recall", ylabel="precision", title="frame-level precision-recall", xlim=(0, 1),
            ylim=(0, 1.02))
    ax2.set(xlabel="false positive rate", ylabel="true positive rate", title="frame-level ROC",
            xlim=(0, 1), ylim=(0, 1.02))
    ax2.plot([0, 1], [0, 1], color="grey", lw=0.5, ls="--")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    with atomic_write(folder / "pr_roc_curves.png", "wb") as fh:
        fig.savefig(fh, format="png", dpi=80)
    plt.close(fig)
    out.append(folder / "pr_roc_curves.png")
    return out
