"""The labelled evaluation set (vocab/eval/protocol_set.tsv) and the held-out figures README reports:
set size, provenance and split; held-out precision >= 0.95 and coverage >= 0.70 per major modality."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ev():
    spec = importlib.util.spec_from_file_location("protocol_eval", ROOT / "extras" / "eval" / "protocol_eval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_set_shape(ev):
    rows = ev.read_set()
    assert len(rows) >= 1500
    assert all(r["source"].startswith(("written:", "radlex-short:")) for r in rows)
    assert {r["modality"] for r in rows} >= {"CT", "MR", "CR", "DX", "US", "MG", "NM", "PT", "RF", "XA"}
    by_split = Counter((r["modality"], r["split"]) for r in rows)
    for mod in ("CT", "MR", "US", "DX"):  # stratified: every major modality on both sides, ~40% held out
        share = by_split[(mod, "heldout")] / (by_split[(mod, "heldout")] + by_split[(mod, "dev")])
        assert 0.35 <= share <= 0.45
    assert {r["failure_class"] for r in rows} >= {"tokenisation", "negation", "range", "radiopharmaceutical",
                                                    "modality-conflict", "anatomy-nesting", "route", "cta"}


@pytest.mark.slow
@pytest.mark.parametrize("loinc_table", [False, True])
def test_heldout_precision_and_coverage(ev, loinc_table):
    held = [r for r in ev.read_set() if r["split"] == "heldout"]
    sc = ev.scores(held, ev.matcher_predictions(held, loinc_table), 0.85)
    for group in ("CT", "XR", "MR", "US"):
        made, correct, mappable, _n, made_mappable = sc[group]
        assert correct / made >= 0.95, (group, sc[group])
        assert made_mappable / mappable >= 0.70, (group, sc[group])


def test_baseline_runs(ev):
    rows = ev.read_set()[:50]
    preds = ev.tfidf_predictions(rows)
    assert len(preds) == 50 and all(0.0 <= c <= 1.0 for _l, c in preds)
