"""``report.html``: the calibration report as one self-contained page.

No external files, fonts or scripts: the curves are inline SVG drawn from a
JSON block by a short script, so the page works offline and can be mailed.
Hovering a curve shows the threshold and precision, recall and F1 there; the
chosen threshold is marked. Below the curves: the summary (diagnosis, merge
advice, flags), the transfer table, each group's own best threshold per class,
the confusion table and the calibration material.
"""

from __future__ import annotations

import html
import json
from typing import Dict, List

import numpy as np

from .domain import describe
from .phrases import flags, merge_text

POINTS = 201
"""Curve points per class in the page (thresholds 0, 0.005, ... 1)."""

_STYLE = """
body{font:14px system-ui,sans-serif;margin:20px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ccc;border-radius:6px;padding:6px;width:300px}
.card h3{font-size:13px;margin:2px 0 4px}
svg{background:#fafafa;cursor:crosshair}
.tip{font:12px monospace;height:16px;color:#333}
table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
td:first-child,th:first-child{text-align:left}
.bad{background:#fde2e2}.good{background:#e3f6e3}
pre{background:#f4f4f4;padding:8px}
"""

_SCRIPT = """
const DATA = JSON.parse(document.getElementById('curve-data').textContent);
const W = 280, H = 170, PAD = 24;
const COLORS = {precision: '#1f77b4', recall: '#ff7f0e', f1: '#2ca02c'};
function sx(t) { return PAD + t * (W - PAD - 6); }
function sy(v) { return H - PAD - v * (H - PAD - 6); }
const NS = 'http://www.w3.org/2000/svg';
function el(name, attrs) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
let drawn = 0;
for (const c of DATA.classes) {
  const svg = document.getElementById('svg-' + c.id);
  const tip = document.getElementById('tip-' + c.id);
  svg.appendChild(el('line', {x1: PAD, y1: sy(0), x2: W - 6, y2: sy(0), stroke: '#999'}));
  svg.appendChild(el('line', {x1: PAD, y1: sy(0), x2: PAD, y2: sy(1), stroke: '#999'}));
  svg.appendChild(el('text', {x: 2, y: sy(1) + 4, 'font-size': 9}));
  svg.lastChild.textContent = '1';
  svg.appendChild(el('text', {x: W - 16, y: H - 8, 'font-size': 9}));
  svg.lastChild.textContent = 't=1';
  if (!c.t.length) { tip.textContent = 'no positives'; continue; }
  for (const k of ['precision', 'recall', 'f1']) {
    const pts = c.t.map((t, i) => sx(t).toFixed(1) + ',' + sy(c[k][i]).toFixed(1)).join(' ');
    svg.appendChild(el('polyline', {points: pts, fill: 'none', stroke: COLORS[k], 'stroke-width': 1.5}));
  }
  svg.appendChild(el('line', {x1: sx(0.5), y1: sy(0), x2: sx(0.5), y2: sy(1), stroke: '#bbb',
                              'stroke-dasharray': '3,3'}));
  svg.appendChild(el('line', {x1: sx(c.chosen), y1: sy(0), x2: sx(c.chosen), y2: sy(1),
                              stroke: '#000', 'stroke-width': 1}));
  svg.appendChild(el('circle', {cx: sx(c.chosen), cy: sy(c.chosen_f1), r: 4, fill: '#000',
                                class: 'chosen'}));
  const cursor = el('line', {x1: 0, y1: sy(0), x2: 0, y2: sy(1), stroke: '#d62728',
                             visibility: 'hidden'});
  svg.appendChild(cursor);
  const base = 'chosen ' + c.chosen.toFixed(3) + ' (' + c.method + '): F1 ' + c.chosen_f1.toFixed(3);
  tip.textContent = base;
  svg.addEventListener('mousemove', ev => {
    const r = svg.getBoundingClientRect();
    const t = Math.min(1, Math.max(0, (ev.clientX - r.left - PAD) / (W - PAD - 6)));
    let i = 0;
    while (i + 1 < c.t.length && c.t[i + 1] <= t) i++;
    cursor.setAttribute('x1', sx(c.t[i])); cursor.setAttribute('x2', sx(c.t[i]));
    cursor.setAttribute('visibility', 'visible');
    tip.textContent = 't ' + c.t[i].toFixed(3) + '  P ' + c.precision[i].toFixed(3) +
      '  R ' + c.recall[i].toFixed(3) + '  F1 ' + c.f1[i].toFixed(3);
  });
  svg.addEventListener('mouseleave', () => { cursor.setAttribute('visibility', 'hidden');
                                             tip.textContent = base; });
  drawn++;
}
document.body.setAttribute('data-curves-drawn', String(drawn));
"""


def _e(x) -> str:
    return html.escape(str(x))


def _num(x, nd=3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _curve_data(result, choices, summary) -> dict:
    curves = result.curves()
    out = []
    grid = np.linspace(0, 1, POINTS)
    for k, c in enumerate(result.classes):
        cv = curves[c]
        entry = {"name": c, "id": f"c{k}", "t": [], "precision": [], "recall": [], "f1": [],
                 "chosen": float(choices[c].threshold), "chosen_f1": 0.0,
                 "method": str(summary[c].get("method") or "")}
        if cv.defined:
            # every grid point at once (Curve.at rebuilds the curve's arrays on each call:
            # POINTS calls per class made the page the slowest part of --report)
            idx = cv.indices_at(grid)
            entry["t"] = [round(float(t), 4) for t in grid]
            for key, arr in (("precision", cv.precision), ("recall", cv.recall), ("f1", cv.f1)):
                entry[key] = [round(float(v), 4) for v in np.asarray(arr)[idx]]
            entry["chosen_f1"] = round(float(cv.at(choices[c].threshold)["f1"]), 4)
        out.append(entry)
    return {"classes": out}


def _table(head: List[str], rows: List[List[str]], classes: List[str] = None) -> str:
    h = "".join(f"<th>{_e(x)}</th>" for x in head)
    body = []
    for i, r in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(x)}</td>" for x in r) + "</tr>")
    return f"<table><tr>{h}</tr>{''.join(body)}</table>"


def html_report(result, choices, summary: Dict[str, dict], objective, window_ms, confusion_info=None,
                transfer=None, fit=None, group_best=None) -> str:
    """The page's text (see the module docstring)."""
    data = _curve_data(result, choices, summary)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             "<title>drumscribe calibration report</title>", f"<style>{_STYLE}</style></head><body>",
             "<h1>drumscribe calibration report</h1>",
             f"<p>objective <b>{_e(objective)}</b>, {_e(result.level)} level, ±{window_ms:g} ms, "
             f"{len(result.files)} files in {len(set(result.group_of.values()))} groups, picker "
             f"{_e(result.picker)}; model {_e((result.fingerprint or 'unknown')[:12])}</p>",
             "<h2>Precision, recall and F1 against the threshold</h2>",
             "<p>Hover a plot to read the values; black line and dot: the chosen threshold; "
             "dashed: 0.5. Blue precision, orange recall, green F1.</p><div class='grid'>"]
    for c in data["classes"]:
        s = summary[c["name"]]
        parts.append(f"<div class='card'><h3>{_e(c['name'])} (n={s['support']})</h3>"
                     f"<svg id='svg-{c['id']}' width='280' height='170'></svg>"
                     f"<div class='tip' id='tip-{c['id']}'></div></div>")
    parts.append("</div><h2>Summary</h2>")
    rows, marks = [], []
    for c, s in summary.items():
        at_t, at_5 = s["at_threshold"] or {}, s["at_0_5"] or {}
        iv = s.get("interval")
        rows.append([c, s["support"], _num(s["roc_auc"]), _num(s["pr_auc"]), f"{s['threshold']:.3f}",
                     f"{iv[0]:.3f}-{iv[1]:.3f}" if iv else "-", s.get("method") or "-",
                     _num(at_t.get("f1")), _num(at_5.get("f1")), s["diagnosis"], merge_text(s),
                     flags(s) or "-"])
        marks.append("bad" if s["diagnosis"].startswith(("poor", "class")) else "")
    parts.append(_table(["class", "support", "ROC AUC", "AP", "threshold", "90% interval", "kept",
                         "F1 chosen", "F1 0.5", "diagnosis", "merge advice", "flags"], rows, marks))
    if transfer is not None:
        parts.append(f"<h2>Transfer check (leave one group out, {transfer.folds} groups)</h2>")
        rows, marks = [], []
        for c in transfer.counts["fixed 0.5"]:
            a, _, fn = transfer.counts["fixed 0.5"][c]
            if c not in transfer.f1["fixed 0.5"]:
                rows.append([c, a + fn, "-", "-", "-", "fallback"])
                marks.append("")
                continue
            rows.append([c, a + fn] + [f"{transfer.f1[m][c]:.3f}" for m in ("per-class", "global", "fixed 0.5")]
                        + [transfer.kept.get(c, "-")])
            marks.append("good" if transfer.kept.get(c) == "per-class" else "")
        rows.append(["macro", ""] + [f"{transfer.macro_f1[m]:.3f}" for m in ("per-class", "global", "fixed 0.5")]
                    + [""])
        marks.append("")
        parts.append(_table(["class", "support", "per-class F1", "global F1", "0.5 F1", "kept"], rows,
                            marks))
    if group_best:
        parts.append("<h2>Best threshold per group</h2><p>Each group's own best threshold (groups "
                     "with enough onsets of the class); F1 own: the best pooled F1 with a threshold "
                     "per group, which no single threshold can beat; F1 kept: at the kept "
                     "threshold.</p>")
        rows = [[c, len(b.groups)] + [f"{x:.3f}" for x in np.percentile(b.best, [0, 50, 100])]
                + [f"{b.pooled_own:.3f}", f"{b.pooled_kept:.3f}", f"{b.pooled_own - b.pooled_kept:+.3f}"]
                for c, b in group_best.items()]
        parts.append(_table(["class", "groups", "min", "median", "max", "F1 own", "F1 kept", "gap"], rows))
    if confusion_info and len(confusion_info[0]):
        classes, misses, table = confusion_info
        parts.append("<h2>Confusion of misses</h2><p>Row A, column B: onsets of A missed by A but "
                     "within the window of a false alarm of B.</p>")
        rows = [[ca, int(misses[a])] + [("." if a == b else int(table[a, b])) for b in range(len(classes))]
                for a, ca in enumerate(classes)]
        parts.append(_table(["A \\ B", "misses"] + list(classes), rows))
    parts.append("<h2>Calibration material (domain guard)</h2><pre>"
                 + _e("\n".join(describe(result.domain))) + "</pre>")
    payload = json.dumps(data).replace("</", "<\\/")
    parts.append(f"<script type='application/json' id='curve-data'>{payload}</script>")
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "\n".join(parts)
