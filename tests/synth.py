"""Synthetic audio for tests: a tiny Hydrogen-style drum kit written to disk."""

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 44100
LEAD_IN = 0.030  # silent lead-in of every synthetic sample


def _one_shot(freq, decay, seed):
    rng = np.random.default_rng(seed)
    n = int(0.4 * SR)
    t = np.arange(n) / SR
    y = (np.sin(2 * np.pi * freq * t) + 0.3 * rng.standard_normal(n)) * np.exp(-t / decay)
    att = int(0.002 * SR)
    y[:att] *= np.linspace(0, 1, att)
    return np.concatenate([np.zeros(int(LEAD_IN * SR)), 0.8 * y]).astype(np.float32)


def make_kit(root: Path, name="TinyKit", with_rim=False) -> Path:
    d = root / name
    d.mkdir(parents=True)
    insts = [("Kick", 60, 0.2), ("Snare", 200, 0.1), ("Hat Closed", 6000, 0.03),
             ("Hat Open", 7000, 0.3), ("Tom Low", 100, 0.2), ("Crash", 5000, 0.5)]
    if with_rim:
        insts.append(("Snare Rimshot", 300, 0.1))
    xml = ["<drumkit_info><name>%s</name><instrumentList>" % name]
    for i, (n, f, dec) in enumerate(insts):
        fn = n.replace(" ", "_").lower()
        sf.write(d / f"{fn}_soft.wav", 0.5 * _one_shot(f, dec, i), 48000 if i % 2 else SR)
        sf.write(d / f"{fn}_hard.wav", _one_shot(f, dec, i + 10), SR)
        xml.append(f"<instrument><id>{i}</id><name>{n}</name>"
                   f"<layer><filename>{fn}_soft.wav</filename><min>0</min><max>0.5</max><gain>1</gain></layer>"
                   f"<layer><filename>{fn}_hard.wav</filename><min>0.5</min><max>1</max><gain>1</gain></layer>"
                   "</instrument>")
    xml.append("</instrumentList></drumkit_info>")
    (d / "drumkit.xml").write_text("".join(xml))
    return d
