#!/usr/bin/env python
"""Benchmark: beat tracking and tempo on rendered clips and the ENST minus-one pieces.

    python bench/bench_beats.py [--cache /tmp/drumscribe_beats] [--model models/default.pt]
                                [--enst /work/enst/mixes] [--clips 24] [--changing 8]

Every clip is rendered once with the test-split kits (drumscribe.training.render) from a
generated groove whose beat times are known exactly, or from a Groove MIDI
validation performance (played to a click: beat k at k * 60 / bpm), then run through the
shipped model (:class:`drumscribe.transcribe.inference.Transcriber`): the tracker sees the
model's own activations, never the true onsets. Activations are cached in
``--cache`` so the tracker can be re-scored in seconds.

Printed per clip and in total:

- ``F``: :func:`mir_eval.beat.f_measure` (70 ms window) of the tracked beats
  against the true ones (rendered clips only);
- ``tempo ok``: the tracked tempo is within 4 % of the true one (no octave
  error): for a constant-tempo clip the median tracked beat period, for a
  changing-tempo clip the tracked period at 90 % of the true beats; for an ENST
  piece the tempo in its name (country-120 ...) against the median period;
- ``x2``: the same, but twice or half the true tempo also counts (how many of the
  wrong tempi are octave errors);
- ``markers``: tempo events the chart would get (1 for a steady song);
- ``tempo warning``: the chart warns that the tempo is ambiguous or may be off by an
  octave (counted in the table for the right and for the wrong tempos).

Goal (issue 12): tempo ok on >= 95 % of the rendered clips and on every ENST
piece with a tempo in its name, beat F-measure >= 0.90 on the rendered clips.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STYLES = ("rock", "funk", "pop", "metal", "shuffle", "halftime", "disco", "ballad")
KITS = ("hydrogen:GMRockKit", "sf2:sf_GMbank")
TEMPO_TOL = 0.04


class _Recorder:
    """Wraps a numpy Generator and records its ``uniform`` draws (to recover the
    groove generator's bar offset, which it does not return)."""

    def __init__(self, rng):
        self._rng = rng
        self.uniform_calls = []

    def uniform(self, low=0.0, high=1.0, size=None):
        v = self._rng.uniform(low, high, size)
        self.uniform_calls.append((low, high, v))
        return v

    def __getattr__(self, name):
        return getattr(self._rng, name)


def groove_with_beats(style, seed, duration, tempo):
    """Events of :func:`drumscribe.training.grooves.generate_groove` and its beat times."""
    from drumscribe.training import grooves

    made = []
    real = np.random.default_rng

    def recording(seed_):
        r = _Recorder(real(seed_))
        made.append(r)
        return r
    grooves.np.random.default_rng = recording
    try:
        events, tempo = grooves.generate_groove(style, seed, duration, tempo)
    finally:
        grooves.np.random.default_rng = real
    spb = 60.0 / tempo
    offset = -next(v for lo, hi, v in made[0].uniform_calls
                   if lo == 0 and abs(hi - 4 * spb) < 1e-12)
    k0 = int(np.ceil(-offset / spb))
    beats = offset + spb * np.arange(k0, int((duration - offset) / spb) + 1)
    beats = beats[(beats >= 0) & (beats < duration)]
    down = beats[np.round((beats - offset) / spb).astype(int) % 4 == 0]
    return events, tempo, beats, down


def warp(events, beats, tempo, new_bpm_of_beat):
    """Move events from a constant-tempo performance onto a changing tempo curve.

    ``new_bpm_of_beat(b)`` gives the BPM at (fractional) beat ``b`` of the
    original grid (beat 0 = ``beats[0]``). Returns new events and beat times.
    """
    spb = 60.0 / tempo
    grid = np.arange(-8, len(beats) + 8, 1 / 48.0)
    secs = np.r_[0.0, np.cumsum(60.0 / new_bpm_of_beat(grid[:-1]) / 48.0)]
    secs = secs - np.interp(0.0, grid, secs) + beats[0]

    def to_new(t):
        return float(np.interp((t - beats[0]) / spb, grid, secs))
    new_events = [(to_new(t), c, v) for t, c, v in events]
    new_beats = np.array([to_new(b) for b in beats])
    return new_events, new_beats


def render_clips(cache: Path, n_constant: int, n_changing: int, seconds: float = 30.0):
    """Render (once) the evaluation clips into ``cache``; return their manifest."""
    import soundfile as sf

    from drumscribe.training.corpus import TEST_KITS  # noqa: F401  (documents where KITS come from)
    from drumscribe.training.kits import cached_kit, registry
    from drumscribe.training.render import accompaniment, render_events

    manifest_path = cache / "clips.json"
    if manifest_path.exists():
        rows = json.loads(manifest_path.read_text())
        if len([r for r in rows if not r["changing"]]) >= n_constant and \
                len([r for r in rows if r["changing"]]) >= n_changing:
            return rows
    specs = {s.kit_id: s for s in registry()}
    kits = [cached_kit(next(s for k, s in specs.items() if k == kid or s.family == kid),
                       cache / "kits") for kid in KITS]
    rows = []
    for i in range(n_constant + n_changing):
        changing = i >= n_constant
        style = STYLES[i % len(STYLES)]
        rng = np.random.default_rng(1000 + i)
        lo, hi = {"halftime": (60, 90), "ballad": (60, 80), "metal": (140, 200),
                  "disco": (110, 130), "funk": (80, 120), "shuffle": (80, 140)}.get(style, (88, 160))
        tempo = float(rng.uniform(lo, hi))
        dur = seconds + (15.0 if changing else 0.0)
        events, tempo, beats, down = groove_with_beats(style, 1000 + i, dur, tempo)
        kind = "constant"
        if changing:
            if i % 2:
                a, b = tempo, tempo * float(rng.choice([0.8, 1.2]))
                n = len(beats)
                kind = f"ramp {a:.0f}->{b:.0f}"
                events, beats_new = warp(events, beats, tempo,
                                         lambda x: a + (b - a) * np.clip(x / n, 0, 1))
            else:
                a, b = tempo, tempo * float(rng.choice([0.85, 1.15]))
                n = len(beats) // 2
                kind = f"step {a:.0f}->{b:.0f}"
                events, beats_new = warp(events, beats, tempo, lambda x: np.where(x < n, a, b))
            down = beats_new[np.isin(beats, down)]
            beats = beats_new
            events = [e for e in events if 0 <= e[0] < dur]
            beats = beats[beats < dur]
            down = down[down < dur]
        kit = kits[i % len(kits)]
        audio, labels = render_events(kit, events, dur, rng)
        if not changing and rng.random() < 0.6:
            acc = accompaniment(dur, tempo, rng)
            level = 10 ** (float(rng.uniform(-14, -3)) / 20)
            rd, ra = np.sqrt(np.mean(audio ** 2)) + 1e-9, np.sqrt(np.mean(acc ** 2)) + 1e-9
            audio = audio + acc * (rd / ra) * level
        audio = (audio / (np.abs(audio).max() + 1e-9) * 0.8).astype(np.float32)
        name = f"clip{i:02d}_{style}"
        sf.write(str(cache / f"{name}.flac"), audio, 44100, format="FLAC", subtype="PCM_16")
        rows.append({"name": name, "audio": str(cache / f"{name}.flac"), "style": style,
                     "tempo": tempo, "kind": kind, "changing": changing,
                     "beats": [float(b) for b in beats], "downbeats": [float(b) for b in down],
                     "kit": kit.kit_id})
    manifest_path.write_text(json.dumps(rows))
    return rows


def render_gmd_clips(cache: Path, n: int, gmd_dir, seconds: float = 30.0):
    """Render (once) ``n`` Groove MIDI validation performances (played to a click at the
    listed BPM: beat k at ``k * 60 / bpm`` s of the MIDI file) as ``seconds`` clips
    starting on a bar line."""
    import soundfile as sf

    from drumscribe.training.groove_midi import list_performances, load_events
    from drumscribe.training.kits import cached_kit, registry
    from drumscribe.training.render import render_events

    path = cache / "gmd.json"
    if path.exists():
        rows = json.loads(path.read_text())
        if len(rows) >= n:
            return rows[:n]
    perfs = [p for p in list_performances(gmd_dir) if p.split == "validation" and "_beat_" in p.path
             and p.duration >= seconds + 4]
    seen, chosen = set(), []
    for p in sorted(perfs, key=lambda p: (p.style, p.path)):  # one per style first
        if p.style.split("/")[0] not in seen:
            seen.add(p.style.split("/")[0])
            chosen.append(p)
    chosen += [p for p in perfs if p not in chosen]
    specs = {s.kit_id: s for s in registry()}
    kits = [cached_kit(next(s for k, s in specs.items() if k == kid or s.family == kid),
                       cache / "kits") for kid in KITS]
    rows = []
    for i, perf in enumerate(chosen[:n]):
        spb = 60.0 / perf.bpm
        events = load_events(perf)
        start = 4 * spb * int(np.ceil((events[0][0] + 2 * spb) / (4 * spb)))
        ev = [(t - start + 1.0, c, v) for t, c, v in events if start - 1.0 <= t < start + seconds - 1.0]
        beats = 1.0 + spb * np.arange(int((seconds - 1.0) / spb))
        rng = np.random.default_rng(2000 + i)
        audio, _ = render_events(kits[i % len(kits)], ev, seconds, rng)
        audio = (audio / (np.abs(audio).max() + 1e-9) * 0.8).astype(np.float32)
        name = f"gmd{i:02d}_{perf.style.replace('/', '-')}"
        sf.write(str(cache / f"{name}.flac"), audio, 44100, format="FLAC", subtype="PCM_16")
        rows.append({"name": name, "audio": str(cache / f"{name}.flac"), "style": perf.style,
                     "tempo": perf.bpm, "kind": "GMD", "changing": False,
                     "beats": [float(b) for b in beats], "downbeats": [float(b) for b in beats[::4]],
                     "source": perf.path})
    path.write_text(json.dumps(rows))
    return rows


def enst_pieces(folder: Path):
    """ENST minus-one mixes with a tempo in their name."""
    rows = []
    for p in sorted(folder.glob("*minus-one*.wav")):
        m = re.search(r"-(\d{2,3})(?:[-_]|$)", p.stem)
        if m:
            rows.append({"name": p.stem, "audio": str(p), "tempo": float(m.group(1)),
                         "changing": False, "kind": "ENST", "beats": None})
    return rows


def activations(row, cache: Path, transcriber):
    """The model's activations of a clip (cached as .npz)."""
    from drumscribe.transcribe.activations import load_activations, save_activations

    path = cache / "act" / f"{row['name']}.npz"
    if path.exists():
        return load_activations(path)
    act = transcriber().activations_from_file(row["audio"])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_activations(path, act)
    return act


def tempo_ok(row, tm, ratio=1.0):
    """Whether the tracked map has the right tempo (see the module docstring), and the
    tracked tempo; with ``ratio``, whether it has ``ratio`` times the right tempo."""
    true = row["tempo"] * ratio
    if row.get("beats") is None or not row["changing"]:
        if row.get("beats"):
            b = np.asarray(row["beats"])
            lo, hi = b[0], b[-1]
        else:
            lo, hi = 0.0, tm.beats[-1]
        inside = (tm.beats[:-1] >= lo) & (tm.beats[:-1] <= hi)
        per = np.median(tm.periods[inside]) if inside.any() else np.median(tm.periods)
        return abs(60.0 / per / true - 1) <= TEMPO_TOL, 60.0 / per
    b = np.asarray(row["beats"])
    true_bpm = ratio * 60.0 / np.diff(b)
    mids = b[:-1] + np.diff(b) / 2
    i = np.clip(np.searchsorted(tm.beats, mids) - 1, 0, len(tm.periods) - 1)
    got = 60.0 / tm.periods[i]
    ok = np.abs(got / true_bpm - 1) <= TEMPO_TOL
    return ok.mean() >= 0.9, float(np.median(got))


def evaluate(rows, cache, transcriber, verbose=True, beat_model="default"):
    import mir_eval

    from drumscribe.charts.tempo import tempo_map_for_song
    from drumscribe.transcribe.config import Config
    from drumscribe.transcribe.pipeline import Postprocessor

    out = []
    posts = {}

    def pp(act):
        if act.model_fingerprint not in posts:
            cfg = Config()
            cal = ROOT / "calibration" / "default.yaml"
            cfg.postprocessing.calibration_file = str(cal) if cal.exists() else None
            posts[act.model_fingerprint] = Postprocessor(cfg, act.classes, act.model_fingerprint)
        return posts[act.model_fingerprint]
    for row in rows:
        act = activations(row, cache, transcriber)
        onsets = pp(act).run(act).onsets
        tm = tempo_map_for_song(act.values, act.classes, act.fps, [o.time for o in onsets],
                                act.duration, beat_model=beat_model)
        ok, bpm = tempo_ok(row, tm)
        octave = ok or any(tempo_ok(row, tm, r)[0] for r in (2.0, 0.5))
        f = None
        if row.get("beats"):
            ref = mir_eval.beat.trim_beats(np.asarray(row["beats"]), 0.0)
            est = tm.beats[(tm.beats > 0) & (tm.beats <= act.duration)]
            f = mir_eval.beat.f_measure(ref, mir_eval.beat.trim_beats(est, 0.0))
        markers = len(tm.tempo_changes())
        warned = tm.suggested_bpm is not None
        res = {"name": row["name"], "kind": row["kind"], "true": row["tempo"], "got": bpm,
               "ok": bool(ok), "octave_ok": bool(octave), "F": f, "markers": markers, "confidence": tm.confidence,
               "warned": warned}
        out.append(res)
        if verbose:
            fs = "  -  " if f is None else f"{f:.3f}"
            print(f"{row['name']:48s} {row['kind']:14s} true {row['tempo']:6.1f} got {bpm:6.1f} "
                  f"{'ok ' if ok else ('x2 ' if octave else 'BAD')} F {fs} markers {markers:2d} conf {tm.confidence:.2f}"
                  + (" tempo warning" if warned else ""),
                  flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--cache", default="/tmp/drumscribe_beats")
    ap.add_argument("--model", default=str(ROOT / "models" / "default.pt"))
    ap.add_argument("--enst", default="/work/enst/mixes")
    ap.add_argument("--clips", type=int, default=24, help="constant-tempo clips")
    ap.add_argument("--changing", type=int, default=8, help="changing-tempo clips")
    ap.add_argument("--gmd", type=int, default=40, help="Groove MIDI validation performances (at most)")
    ap.add_argument("--gmd-dir", default="/work/shared/data/groove_midi")
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--trackers", default="network,classic",
                    help="comma-separated: network (the beat network + DBN), classic (the "
                         "hand-made onset-strength analysis + DBN); each is scored on every clip")
    ap.add_argument("--beat-model", default=str(ROOT / "models" / "beats.pt"),
                    help="the beat network checkpoint for the network tracker")
    ap.add_argument("--classic-margin", type=float, default=None,
                    help="drumscribe.charts.beats.CLASSIC_OCTAVE_MARGIN for this run (shipped: 0, "
                         "the classic reading never replaces the network's)")
    args = ap.parse_args(argv)
    if args.classic_margin is not None:
        from drumscribe.charts import beats as _beats

        _beats.CLASSIC_OCTAVE_MARGIN = args.classic_margin
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    tr = []

    def transcriber():
        if not tr:
            from drumscribe.transcribe.inference import Transcriber
            tr.append(Transcriber(args.model))
        return tr[0]
    rows = render_clips(cache, args.clips, args.changing)
    try:
        gmd = render_gmd_clips(cache, args.gmd, args.gmd_dir) if args.gmd else []
        if args.gmd and not gmd:
            print(f"(no Groove MIDI performances in {args.gmd_dir})")
        rows += gmd
    except (OSError, StopIteration, ValueError) as exc:  # no dataset or kits here
        print(f"(no Groove MIDI clips: {exc})")
    from drumscribe.charts.beat_net import load_beat_model

    trackers = []
    for name in args.trackers.split(","):
        if name == "classic":
            trackers.append(("classic", None))
        elif name == "network":
            trackers.append((f"network ({Path(args.beat_model).name})", load_beat_model(args.beat_model)))
        else:
            ap.error(f"--trackers: unknown tracker {name!r} (classic, network)")
    results = {}
    for label, bm in trackers:
        print(f"\n== tracker: {label}")
        rendered = evaluate(rows, cache, transcriber, beat_model=bm)
        enst = (evaluate(enst_pieces(Path(args.enst)), cache, transcriber, beat_model=bm)
                if Path(args.enst).is_dir() else [])
        results[label] = (rendered, enst)
    print("\n| tracker | set | songs | tempo right | right up to x2 or /2 | beat F-measure | one tempo marker "
          "| tempo warning: right tempos | wrong tempos |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, (rendered, enst) in results.items():
        sets = (("rendered, constant tempo", [r for r in rendered if r["kind"] == "constant"]),
                ("rendered, changing tempo", [r for r in rendered if r["kind"] not in ("constant", "GMD")]),
                ("Groove MIDI (validation)", [r for r in rendered if r["kind"] == "GMD"]),
                ("all rendered", rendered),
                ("ENST minus-one", enst))
        for name, rs in sets:
            if not rs:
                continue
            f = [r["F"] for r in rs if r["F"] is not None]
            steady = [r["markers"] for r in rs if r["kind"] in ("constant", "ENST", "GMD")]
            print(f"| {label} | {name} | {len(rs)} | {np.mean([r['ok'] for r in rs]):.1%} | "
                  f"{np.mean([r['octave_ok'] for r in rs]):.1%} | "
                  + (f"{np.mean(f):.3f}" if f else "-") + " | "
                  + (f"{np.mean([m == 1 for m in steady]):.1%}" if steady else "-") + " | "
                  + f"{sum(r['warned'] for r in rs if r['ok'])} of {sum(r['ok'] for r in rs)} | "
                  + f"{sum(r['warned'] for r in rs if not r['ok'])} of {sum(not r['ok'] for r in rs)} |")
    if args.json:
        Path(args.json).write_text(json.dumps({k: r + e for k, (r, e) in results.items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
