"""The calibrated-versus-baselines verdict of scripts/evaluate.py."""
from drumscribe.calibration.evaluate import Counts, Evaluation, macro_f1, markdown_table, versus


def _ev(**f1s):
    """An evaluation whose classes have 100 references and the given TP (F1 = tp / 100 with fp = fn)."""
    ev = Evaluation()
    for c, tp in f1s.items():
        ev.classes[c] = Counts(tp=tp, fp=100 - tp, fn=100 - tp)
    return ev


def test_versus_names_each_loss_with_its_figures():
    evals = {"0.5": _ev(kick=80, snare=60, tom=30), "global": _ev(kick=70, snare=65, tom=30),
             "calibrated": _ev(kick=85, snare=62, tom=30)}
    lines = versus(evals, ["kick", "snare", "tom"])
    assert lines[0] == "macro F1: calibrated 0.590 vs 0.5 0.567 / global 0.550 (wins)"
    assert lines[1] == ("3 classes with >= 50 onsets: calibrated wins on 1, ties on 1, loses on 1: "
                        "snare (0.620 vs 0.600 / 0.650)")


def test_versus_leaves_out_small_classes_and_sees_a_macro_loss():
    evals = {"0.5": _ev(kick=80, rim=50), "calibrated": _ev(kick=80, rim=10)}
    evals["calibrated"].classes["rim"] = Counts(tp=1, fp=0, fn=9)  # 10 references only
    lines = versus(evals, ["kick", "rim"])
    assert lines[0].endswith("(loses)")
    assert lines[1] == "1 classes with >= 50 onsets: calibrated wins on 0, ties on 1, loses on 0"
    assert versus(evals, ["kick", "rim"], min_support=5)[1].endswith("loses on 1: rim (0.182 vs 0.500)")


def test_macro_f1_matches_the_table_and_skips_classes_without_references():
    ev = _ev(kick=80, snare=40)
    ev.classes["rim"] = Counts(tp=0, fp=5, fn=0)
    assert macro_f1(ev, ["kick", "snare", "rim"]) == (0.8 + 0.4) / 2
    last = markdown_table({"x": ev}, ["kick", "snare", "rim"])[-1]
    assert last.startswith("| **macro F1** (mean over the 2 classes with support) | | 0.600 |")
    assert versus({"x": ev}, ["kick"]) == []
