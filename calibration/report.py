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
    class (:func:`diagnose`), merge advice and recall-cliff flags as columns
    of their own, the transfer table, each group's own best threshold per
    class against the kept one (:func:`group_best_table`), the calibration
    material (domain guard), cross-class confusion, and the YAML snippet to
    paste into a transcribe config.
``report.html``
    One self-contained page (:mod:`drumscribe.calibration.html`): hoverable P/R/F1 curves
    per class with the chosen point, the summary, transfer and confusion
    tables.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from drumscribe.transcribe.vocabulary import is_core

from .calfile import CalibrationFile
from .metrics import Curve, safe_mean
from .objectives import GAME_TARGETS, Choice, Objective, best_interval_middle
from .phrases import flags, merge_text
from .robust import CLIFF_DROP, CLIFF_STEP, GROUP_MIN_ONSETS, group_best

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

MERGE_SHARE = 0.5
"""Share of a class's misses another class must take before a merge is suggested."""

MERGE_MIN = 5
"""... and at least this many of them."""


def _f(x) -> Optional[float]:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _core(name: str, groups: Dict[str, List[str]]) -> bool:
    return any(is_core(m) for m in groups.get(name, [name]))


def diagnose(roc: Optional[float], ap: Optional[float], f1_chosen: float, f1_at_05: float,
             core: bool) -> str:
    """The diagnosis of one class, exactly the rule of docs/calibration.md.

    1. frame ROC AUC undefined (no negative frames) -> "class-specific issue";
    2. ROC AUC < ``GOOD_AUC`` or average precision < ``GOOD_AP`` -> "poor AUC";
    3. F1 at the chosen threshold reaching the class's game F1 target (0.75
       core, 0.50 other): gain over 0.5 >= ``MIN_GAIN`` -> "threshold was
       wrong", else "threshold 0.5 was fine";
    4. otherwise -> "class-specific issue".

    Merge advice never changes the diagnosis (it is a column of its own).

    Examples
    --------
    >>> diagnose(0.99, 0.09, 0.8, 0.8, True)
    'poor AUC, the model needs work'
    >>> diagnose(0.99, 0.9, 0.966, 0.95, True)
    'good AUC, threshold 0.5 was fine'
    """
    if roc is None:
        return DIAG_CLASS
    if roc < GOOD_AUC or (ap is not None and ap < GOOD_AP):
        return DIAG_POOR
    f_t = GAME_TARGETS[bool(core)][0]
    if f1_chosen >= f_t:
        return DIAG_WRONG if f1_chosen - f1_at_05 >= MIN_GAIN else DIAG_FINE
    return DIAG_CLASS


def merge_advice(confusion_info, diagnoses: Dict[str, str], core: Callable[[str], bool],
                 min_share: float = MERGE_SHARE, min_count: int = MERGE_MIN) -> Dict[str, dict]:
    """Classes whose misses are mostly detected as one other class.

    Advice for A toward B is given only when B takes at least ``min_share`` of
    A's misses and at least ``min_count`` of them, and never between two core
    classes that are both fine (F1 reaching the target: "threshold was wrong"
    or "0.5 was fine").
    """
    if not confusion_info:
        return {}
    classes, misses, table = confusion_info
    fine = {c for c, d in diagnoses.items() if d in (DIAG_WRONG, DIAG_FINE)}
    out = {}
    for a, ca in enumerate(classes):
        if misses[a] < min_count or table.shape[1] < 2:
            continue
        row = table[a].copy()
        row[a] = -1
        b = int(np.argmax(row))
        cb = classes[b]
        if row[b] < min_count or row[b] < min_share * misses[a]:
            continue
        if core(ca) and core(cb) and ca in fine and cb in fine:
            continue
        out[ca] = {"class": cb, "misses": int(misses[a]), "near_other": int(row[b])}
    return out


def class_summary(result, choices: Dict[str, Choice], groups: Optional[Dict[str, List[str]]] = None,
                  confusion_info=None, fit=None, methods: Optional[Dict[str, str]] = None) -> Dict[str, dict]:
    """Per-class diagnostics at the chosen thresholds.

    Parameters
    ----------
    result : drumscribe.calibration.sweep.SweepResult
    choices : dict of str -> Choice
    groups : dict, optional
        Class groups (a group is core when a member is).
    confusion_info : tuple, optional
        ``(classes, misses, table)`` from :func:`drumscribe.calibration.sweep.confusion`.
    fit : drumscribe.calibration.robust.Fit, optional
        The robust fit (interval, support weight, notes).
    methods : dict of str -> str, optional
        Where each shipped threshold comes from (per-class, global, fixed 0.5).

    Returns
    -------
    dict of str -> dict
        ``support, roc_auc, pr_auc, threshold, method, interval, at_threshold,
        at_0_5, gain, best_f1_threshold, best_recall_threshold, game, core,
        diagnosis, note, merge, cliff``.
    """
    groups = groups or {}
    curves = result.curves()
    out = {}
    undefined: List[str] = []
    for c in result.classes:
        cv: Curve = curves[c]
        ch = choices[c]
        core = _core(c, groups)
        cf = fit.classes.get(c) if fit is not None else None
        entry = {"support": int(cv.n_ref), "core": core, "threshold": float(ch.threshold),
                 "method": (methods or {}).get(c, "per-class"),
                 "interval": list(cf.interval) if cf is not None and cv.defined else None,
                 "merge": None, "cliff": None}
        if not cv.defined:
            undefined.append(c)
            entry.update(roc_auc=None, pr_auc=None, at_threshold=None, at_0_5=None, gain=None,
                         best_f1_threshold=None, best_recall_threshold=None, game=None,
                         diagnosis=DIAG_NONE, note=ch.note, method="fallback (no positives)")
            out[c] = entry
            continue
        roc = _f(result.frame.roc_auc(c))
        ap = _f(result.frame.average_precision(c))
        at_t, at_5 = cv.at(ch.threshold), cv.at(0.5)
        i_best = best_interval_middle(cv.f1, cv.thresholds)
        rec = np.where(cv.precision > 0, cv.recall, -np.inf)
        # max recall: the highest threshold that still reaches the best recall
        i_rec = int(np.flatnonzero(cv.recall >= np.nanmax(cv.recall) - 1e-12)[-1])
        f_t, r_t = GAME_TARGETS[core]
        game = {"target_f1": f_t, "target_recall": r_t,
                "met": bool(at_t["f1"] > f_t and at_t["recall"] > r_t)}
        gain = at_t["f1"] - at_5["f1"]
        up = cv.at(min(1.0, ch.threshold + CLIFF_STEP))
        lost = at_t["recall"] - up["recall"]
        entry.update(roc_auc=roc, pr_auc=ap, at_threshold=_metrics(at_t), at_0_5=_metrics(at_5),
                     gain=float(gain),
                     best_f1_threshold=float(cv.thresholds[i_best]) if i_best is not None else None,
                     best_recall_threshold=float(cv.thresholds[i_rec]) if np.isfinite(rec).any() else None,
                     game=game, diagnosis=diagnose(roc, ap, at_t["f1"], at_5["f1"], core),
                     note=ch.note, cliff=float(lost) if lost > CLIFF_DROP else None)
        out[c] = entry
    advice = merge_advice(confusion_info, {c: e["diagnosis"] for c, e in out.items()},
                          lambda n: _core(n, groups))
    for c, adv in advice.items():
        if c in out:
            out[c]["merge"] = adv
    if undefined:
        warnings.warn(f"no positives in the validation data for {', '.join(undefined)}: their "
                      "metrics are undefined, they are left out of the macro averages and keep "
                      "the fallback threshold", RuntimeWarning, stacklevel=2)
    return out


def _metrics(m: dict) -> dict:
    return {k: m[k] for k in ("precision", "recall", "f1")}


def _confusion_advice(info) -> Dict[str, dict]:
    """Merge advice from a confusion table alone (no diagnoses: every pair allowed)."""
    return merge_advice(info, {}, lambda n: False)


def build_calibration(result, choices: Dict[str, Choice], summary: Dict[str, dict],
                      objective: Objective, window_ms: float, fallback: float = 0.5,
                      groups: Optional[Dict[str, List[str]]] = None, disabled: Sequence[str] = (),
                      onset_plugins: Optional[Sequence[str]] = None, fit=None, transfer=None,
                      domain: Optional[dict] = None) -> CalibrationFile:
    """The calibration file for a sweep and its chosen thresholds."""
    groups = {g: list(m) for g, m in (groups or {}).items() if g in result.classes}
    per_class = {}
    for c, s in summary.items():
        per_class[c] = {k: s[k] for k in ("support", "roc_auc", "pr_auc", "at_threshold", "at_0_5")}
        per_class[c]["method"] = s.get("method")
        if s.get("interval"):
            per_class[c]["interval"] = [round(float(x), 4) for x in s["interval"]]
        note = s["note"] if s["support"] == 0 and s["note"] else (
            s["diagnosis"] + (f"; {s['note']}" if s["note"] else ""))
        if s.get("cliff"):
            note += f"; recall cliff: {s['cliff']:.0%} of recall lost within +{CLIFF_STEP:g}"
        per_class[c]["note"] = note
        if s.get("merge"):
            m = s["merge"]
            per_class[c]["merge"] = (f"{m['near_other']} of {m['misses']} misses were detected as "
                                     f"{m['class']}")
    data_groups: Dict[str, int] = {}
    for g in result.group_of.values():
        data_groups[g] = data_groups.get(g, 0) + 1
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
        disabled_classes=list(disabled),
        onset_plugins=None if onset_plugins is None else list(onset_plugins),
        data_groups=data_groups,
        min_support=int(fit.min_support) if fit is not None else 0,
        methods={c: str(s.get("method")) for c, s in summary.items()},
        transfer=transfer_dict(transfer) if transfer is not None else {},
        domain=dict(domain or {}),
        global_threshold=float(fit.global_threshold) if fit is not None else None,
    )


def transfer_dict(tr) -> dict:
    """Plain data of a :class:`drumscribe.calibration.robust.Transfer` (for the calibration file)."""
    out = {"folds": int(tr.folds),
           "confidence": _f(tr.confidence),
           "macro_f1": {m: _f(v) for m, v in tr.macro_f1.items()},
           "macro_score": {m: _f(v) for m, v in tr.macro_score.items()},
           "per_class": {c: {"kept": tr.kept.get(c),
                             **{m: _f(tr.f1[m].get(c)) for m in tr.f1},
                             **({"win_share": {m: _f(v) for m, v in tr.win_share[c].items()}}
                                if c in tr.win_share else {})}
                         for c in tr.counts["fixed 0.5"]}}
    if tr.materials:
        out["materials"] = dict(zip(tr.groups, tr.materials))
        for c, lost in tr.material_loss.items():
            out["per_class"][c]["lost_on_material"] = {m: {"material": mat, "score": _f(a), "simpler": _f(b)}
                                                       for m, (mat, a, b) in lost.items()}
    return out


def kept_reason(tr, c: str) -> str:
    """Why the transfer check kept its method for class ``c`` (one phrase)."""
    kept = tr.kept.get(c)
    share = tr.win_share.get(c, {})
    if c not in tr.score.get("fixed 0.5", {}):
        return "no positives"
    if kept is None:
        return "-"
    parts = []
    if kept != "fixed 0.5" and kept in share:
        need = f" (>= {tr.confidence:.0%})" if tr.confidence > 0 else ""
        parts.append(f"beat {tr.versus[c][kept]} in {share[kept]:.0%} of resamples{need}")
    lost = tr.material_loss.get(c, {})
    for m in ("per-class", "global"):
        if m in lost and m != kept:
            mat, sm, s0 = lost[m]
            parts.append(f"{m} scored higher but lost to {tr.versus[c][m]} on the held-out {mat} "
                         f"groups ({sm:.3f} vs {s0:.3f})")
            continue
        if m in share and m != kept and tr.score[m][c] > tr.score[kept][c] + 1e-9:
            parts.append(f"{m} scored higher but beat {tr.versus[c][m]} in only {share[m]:.0%} "
                         f"of resamples (< {tr.confidence:.0%})")
            break
    if parts:
        return "; ".join(parts)
    return "no other method scored higher"


# ----------------------------------------------------------------------------- text

def _fmt(x, nd=3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def summary_table(summary: Dict[str, dict]) -> List[str]:
    """Lines of the terminal summary table."""
    head = (f"{'class':<14} {'support':>7} {'ROC':>6} {'AP':>6} {'thr':>6} {'kept':<18} "
            f"{'F1@thr':>7} {'F1@0.5':>7}  {'diagnosis':<34} {'merge advice':<28} flags")
    lines = [head, "-" * len(head)]
    for c, s in summary.items():
        at_t = s["at_threshold"] or {}
        at_5 = s["at_0_5"] or {}
        lines.append(f"{c:<14} {s['support']:>7d} {_fmt(s['roc_auc']):>6} {_fmt(s['pr_auc']):>6} "
                     f"{s['threshold']:>6.3f} {str(s.get('method') or '-')[:18]:<18} "
                     f"{_fmt(at_t.get('f1')):>7} {_fmt(at_5.get('f1')):>7}  "
                     f"{s['diagnosis'][:34]:<34} {merge_text(s):<28} {flags(s)}".rstrip())
    m_t = safe_mean((s["at_threshold"] or {}).get("f1") for s in summary.values())
    m_5 = safe_mean((s["at_0_5"] or {}).get("f1") for s in summary.values())
    lines.append(f"{'macro':<14} {'':>7} {_fmt(safe_mean(s['roc_auc'] for s in summary.values())):>6} "
                 f"{_fmt(safe_mean(s['pr_auc'] for s in summary.values())):>6} {'':>6} {'':<18} "
                 f"{_fmt(m_t):>7} {_fmt(m_5):>7}")
    return lines


def transfer_table(tr, summary: Optional[Dict[str, dict]] = None) -> List[str]:
    """Lines of the leave-one-group-out table: held-out F1 per method, per class and macro."""
    head = (f"{'class':<14} {'support':>7} {'per-class':>10} {'global':>8} {'0.5':>8}  {'kept':<10} why")
    rule = (f"a method is kept over a simpler one only when it also wins in {tr.confidence:.0%} of "
            "bootstrap resamples of the groups" if tr.confidence > 0 else
            "the best pooled score is kept; 'why' gives the share of bootstrap resamples of the "
            "groups in which it won")
    if tr.materials:
        rule += ("; a method must also not lose to the simpler one on the held-out groups of any "
                 f"one material ({', '.join(sorted({x for x in tr.materials if x}))})")
    lines = [f"leave-one-group-out over {tr.folds} groups: F1 on each held-out group's onsets "
             f"(counts summed over the groups); {rule}", head, "-" * len(head)]
    for c in tr.counts["fixed 0.5"]:
        a, b, fn = tr.counts["fixed 0.5"][c]
        sup = a + fn
        if c not in tr.f1["fixed 0.5"]:
            lines.append(f"{c:<14} {sup:>7d} {'-':>10} {'-':>8} {'-':>8}  fallback (no positives)")
            continue
        lines.append(f"{c:<14} {sup:>7d} {tr.f1['per-class'][c]:>10.3f} {tr.f1['global'][c]:>8.3f} "
                     f"{tr.f1['fixed 0.5'][c]:>8.3f}  {tr.kept.get(c, '-'):<10} {kept_reason(tr, c)}")
    lines.append(f"{'macro':<14} {'':>7} {tr.macro_f1['per-class']:>10.3f} {tr.macro_f1['global']:>8.3f} "
                 f"{tr.macro_f1['fixed 0.5']:>8.3f}")
    return lines


def group_best_table(best) -> List[str]:
    """Lines of the table of each group's own best threshold per class.

    Parameters
    ----------
    best : dict of str -> drumscribe.calibration.robust.GroupBest
    """
    if not best:
        return [f"no class has {GROUP_MIN_ONSETS} or more reference onsets in any one group"]
    head = (f"{'class':<14} {'groups':>6} {'min':>6} {'25%':>6} {'median':>6} {'75%':>6} {'max':>6} "
            f"{'F1 own':>7} {'F1 kept':>7} {'gap':>6}")
    lines = ["each group's own best threshold, over the groups with enough onsets of the class "
             "(min .. max); 'F1 own' is the best F1 of those groups' pooled onsets with a threshold "
             "per group, which no single threshold can beat, 'F1 kept' the same at the kept "
             "threshold. A wide spread "
             "with a large gap: the model's scores mean different things in different groups, and "
             "no threshold transfers; a small gap: the threshold is not what holds the class back",
             head, "-" * len(head)]
    for c, b in best.items():
        q = "".join(f" {x:>6.3f}" for x in np.percentile(b.best, [0, 25, 50, 75, 100]))
        lines.append(f"{c:<14} {len(b.groups):>6}{q} {b.pooled_own:>7.3f} {b.pooled_kept:>7.3f} "
                     f"{b.pooled_own - b.pooled_kept:>+6.3f}")
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
                  fallback: float = 0.5, transfer=None, fit=None, group_best=None) -> str:
    """The text of ``analysis_report.txt``."""
    from .domain import describe
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
    n_groups = len(set(result.group_of.values()))
    w(f"  data groups: {n_groups}"
      + (f"   minimum support {fit.min_support}, {fit.n_boot} bootstrap resamples of the groups, "
         f"global threshold {fit.global_threshold:.3f} "
         f"(90% interval {fit.global_interval[0]:.3f}-{fit.global_interval[1]:.3f})" if fit else "")
      + "\n")
    w("\nSummary (kept: where the threshold comes from; merge advice and flags are separate "
      "from the diagnosis)\n")
    for line in summary_table(summary):
        w("  " + line + "\n")
    if transfer is not None:
        w("\nTransfer check\n")
        for line in transfer_table(transfer, summary):
            w("  " + line + "\n")
    if group_best is not None:
        w("\nBest threshold per group\n")
        for line in group_best_table(group_best):
            w("  " + line + "\n")
    w("\nCalibration material (domain guard)\n")
    for line in describe(result.domain):
        w("  " + line + "\n")
    w("\nPer class\n")
    for c, s in summary.items():
        w(f"\n[{c}] {'core' if s['core'] else 'other'}, support {s['support']}\n")
        if s["support"] == 0:
            w(f"  {s['diagnosis']}\n")
            continue
        at_t, at_5 = s["at_threshold"], s["at_0_5"]
        w(f"  ROC AUC {_fmt(s['roc_auc'])}  PR AUC {_fmt(s['pr_auc'])}\n")
        if s.get("interval"):
            w(f"  kept: {s.get('method')}; 90% bootstrap interval of the class's own best threshold "
              f"{s['interval'][0]:.3f}-{s['interval'][1]:.3f}\n")
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
        w(f"  merge advice: {merge_text(s)}\n")
        if s.get("cliff"):
            w(f"  flag: recall cliff, {s['cliff']:.0%} of recall is lost within +{CLIFF_STEP:g}\n")
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
        advice = {c: s["merge"] for c, s in summary.items() if s.get("merge")}
        if advice:
            w("\n  Merge recommendations\n")
            for ca, d in advice.items():
                w(f"  - {d['near_other']} of {d['misses']} misses of {ca} were detected as {d['class']}: "
                  f"consider merging them: postprocessing: {{class_groups: "
                  f"{{{ca}_{d['class']}: [{ca}, {d['class']}]}}}}\n")
        else:
            w(f"\n  No merge recommended (advice needs one class to take >= {MERGE_SHARE:.0%} and >= "
              f"{MERGE_MIN} of another's misses, and is never given between two core classes that "
              "are both fine).\n")
    w("\nPaste into a transcribe config (or use the calibration file with --calibration):\n\n")
    w(yaml_snippet(choices))
    return buf.getvalue()


def write_report(folder, result, choices: Dict[str, Choice], summary: Dict[str, dict],
                 objective: Objective, window_ms: float, confusion_info=None, groups=None,
                 fallback: float = 0.5, transfer=None, fit=None) -> List[Path]:
    """Write the report folder; returns the paths written."""
    from drumscribe.transcribe.io import atomic_write

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
    best = None
    if result.by_group is not None:
        best = group_best(result.by_group, objective, {c: ch.threshold for c, ch in choices.items()},
                          groups=groups)
    text = analysis_text(result, choices, summary, objective, window_ms, confusion_info, fallback,
                         transfer, fit, best)
    with atomic_write(folder / "analysis_report.txt", "w") as fh:
        fh.write(text)
    written.append(folder / "analysis_report.txt")
    from .html import html_report

    with atomic_write(folder / "report.html", "w") as fh:
        fh.write(html_report(result, choices, summary, objective, window_ms, confusion_info,
                             transfer, fit, best))
    written.append(folder / "report.html")
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

    from drumscribe.transcribe.io import atomic_write

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
    # fixed margins (in inches, so any grid size fits): tight_layout measured every
    # label's extent and was half the cost of --report
    w, h = 4 * cols, 3 * rows
    fig.subplots_adjust(left=0.5 / w, right=1 - 0.15 / w, bottom=0.55 / h, top=1 - 0.6 / h,
                        wspace=0.3, hspace=0.75)
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
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.11, top=0.93, wspace=0.22)
    with atomic_write(folder / "pr_roc_curves.png", "wb") as fh:
        fig.savefig(fh, format="png", dpi=80)
    plt.close(fig)
    out.append(folder / "pr_roc_curves.png")
    return out
