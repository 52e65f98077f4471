"""models.evaluation on the dev set with the rules runner, and the scoring rules on hand-made answers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from models.evaluation import (
    RADS_NONE,
    RADS_STATED,
    chexpert_accuracy,
    evaluate,
    load_cases,
    rads_outcome,
    rules_facts,
    rules_runner,
    temporal_jaccard,
)
from models.rules import RULES_IDENTITY
from models.types import RadsValue, TaskName, TaskRequest, TaskResult, TemporalChange, TemporalValue, TextValue


@pytest.fixture(scope="module")
def rules_report(dev: Path):
    return evaluate(dev / "reports.jsonl", runners={"rules": rules_runner()}, facts={"rules": rules_facts()}, progress=False)


def test_cases_are_built_per_labelled_task(dev: Path) -> None:
    cases = load_cases(dev / "reports.jsonl")
    groups = {c.group for c in cases}
    assert {RADS_STATED, RADS_NONE, "n_staging", "m_staging", "abnormality_detection", "temporal_comparison",
            "impression_generation"} <= groups
    assert sum(c.group == RADS_NONE for c in cases) == 19
    assert sum(c.group == "abnormality_detection" for c in cases) == 8
    impressions = [c for c in cases if c.group == "impression_generation"]
    assert impressions and all(c.request.report.impression is None for c in impressions)
    nli = load_cases(dev / "nli.jsonl")
    assert len(nli) == 30 and all(c.request.hypothesis and c.request.premise for c in nli)


def test_unknown_file_shape_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text(json.dumps({"foo": 1}) + "\n")
    with pytest.raises(ValueError, match="neither"):
        load_cases(bad)


def test_rules_runner_on_dev(rules_report) -> None:
    d = rules_report.as_dict()
    stated = d["scores"][RADS_STATED]["rules"]
    assert stated["n"] == 21 and stated["score"] == pytest.approx(1.0)
    assert d["scores"]["rads_assignment"]["rules"]["answered_score"] == pytest.approx(1.0)
    # Studies no RADS system covers (chest films, head CTs ...) get "No applicable RADS"; never a category.
    none = d["scores"][RADS_NONE]["rules"]
    assert none["answered"] == 19 and none["answered_score"] == pytest.approx(1.0)
    assert d["scores"]["abnormality_detection"]["rules"]["score"] >= 0.95
    assert d["scores"]["impression_generation"]["rules"]["answered"] == 0
    assert set(d["per_system"]) == {"BI-RADS", "LI-RADS", "Lung-RADS", "TI-RADS", "PI-RADS", "O-RADS", "NI-RADS",
                                    "CAD-RADS", "VI-RADS", "GB-RADS"}
    assert d["scores"]["rads_assignment [applicable]"]["rules"]["n"] == 26
    assert d["scores"]["rads_assignment"]["rules"]["n"] == 45  # "no applicable RADS" is a class of the task
    assert d["scores"]["critical"]["rules"]["n"] == 45 and d["scores"]["laterality"]["rules"]["n"] == 45
    assert d["critical_terms"]["rules"]["tp"] == 5 and d["skipped"] == []
    inferred = d["scores"]["rads_assignment [inferred]"]["rules"]
    assert inferred["n"] == 5 and inferred["answered"] == 4 and inferred["answered_score"] == pytest.approx(1.0)
    assert d["scores"]["n_staging"]["rules"]["answered_score"] == pytest.approx(1.0)
    sev = d["severity"]["rules"]
    # 21 stated + 4 derived from the described features (models/rules/criteria.py), none wrong
    assert sev["exact"] == 25 and sev.get("overcall", 0) == 0 and sev.get("undercall", 0) == 0


def test_render_prints_the_three_tables(rules_report) -> None:
    out = io.StringIO()
    rules_report.render(Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    for needle in ("RadLite metrics", "RADS accuracy per system", "severity profile", "rads_assignment [stated]",
                   "CheXpert accuracy per label", "Critical results", "laterality", "nothing skipped",
                   "per-label accuracy", "ROUGE-L", "Jaccard", "GB-RADS"):
        assert needle in text


@pytest.mark.parametrize(
    ("pred", "gold", "outcome"),
    [
        (RadsValue(system="BI-RADS", category="4A"), RadsValue(system="BI-RADS", category="4A"), "exact"),
        (RadsValue(system="BI-RADS", category="4a"), RadsValue(system="BI-RADS", category="4A"), "exact"),
        (RadsValue(system="LI-RADS", category="5"), RadsValue(system="LI-RADS", category="LR-5"), "exact"),
        (RadsValue(system="BI-RADS", category="5"), RadsValue(system="BI-RADS", category="4B"), "overcall"),
        (RadsValue(system="TI-RADS", category="TR2"), RadsValue(system="TI-RADS", category="TR4"), "undercall"),
        (RadsValue(system="PI-RADS", category="4"), RadsValue(system="BI-RADS", category="4"), "other"),
        (RadsValue(applicable=False), RadsValue(system="BI-RADS", category="2"), "other"),
        (None, RadsValue(system="BI-RADS", category="2"), "abstain"),
    ],
)
def test_rads_severity_outcome(pred: RadsValue | None, gold: RadsValue, outcome: str) -> None:
    assert rads_outcome(pred, gold) == outcome


def test_temporal_jaccard_matches_findings_loosely() -> None:
    gold = [("LLL superior segment solid nodule", "new"), ("RML 3 mm nodule", "unchanged")]
    assert temporal_jaccard([("new nodule in the left lower lobe", "new"), ("right middle lobe nodule", "unchanged")],
                            gold) == pytest.approx(1.0)
    assert temporal_jaccard([("left lower lobe nodule", "worsened")], gold) == pytest.approx(0.0)
    assert temporal_jaccard([("left lower lobe nodule", "new"), ("pleural effusion", "new")], gold) == pytest.approx(1 / 3)
    assert temporal_jaccard([], []) == pytest.approx(1.0)


def test_chexpert_absent_labels_count_as_negative() -> None:
    gold = {"pneumothorax": "negative", "no finding": "positive"}
    assert chexpert_accuracy({"no finding": "positive"}, gold) == pytest.approx(1.0)
    assert chexpert_accuracy({"no finding": "negative", "edema": "uncertain"}, gold) == pytest.approx(12 / 14)


def _answer(request: TaskRequest) -> TaskResult | None:
    """A fixed runner: echoes the findings as impression, calls every RADS BI-RADS 5, everything new."""
    if request.task == TaskName.impression_generation:
        value = TextValue(text=request.report.findings or "")
    elif request.task == TaskName.rads_assignment:
        value = RadsValue(system="BI-RADS", category="5")
    elif request.task == TaskName.temporal_comparison:
        value = TemporalValue(changes=[TemporalChange(finding="nodule", change="new")])
    elif request.task == TaskName.m_staging:
        raise RuntimeError("backend down")
    else:
        return None
    return TaskResult(task=request.task, value=value, confidence=0.5, model=RULES_IDENTITY)


def test_other_runners_are_scored_and_failures_abstain(dev: Path) -> None:
    report = evaluate(dev / "reports.jsonl", runners={"fixed": _answer}, progress=False).as_dict()
    rouge = report["scores"]["impression_generation"]["fixed"]
    assert rouge["answered"] == 45 and 0.0 < rouge["score"] < 1.0
    sev = report["severity"]["fixed"]
    assert sev["overcall"] > 0 and sev["other"] > 0 and sev["exact"] >= 1
    assert 0 < report["per_system"]["BI-RADS"]["fixed"]["accuracy"] < 1
    assert report["per_system"]["PI-RADS"]["fixed"]["accuracy"] == 0
    m = report["scores"]["m_staging"]["fixed"]
    assert m["errors"] == 6 and m["answered"] == 0
    assert 0 < report["scores"]["temporal_comparison"]["fixed"]["score"] < 1


def test_progress_bar_runs_on_a_console(dev: Path) -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False, color_system=None)
    report = evaluate(dev / "nli.jsonl", runners={"rules": rules_runner()}, progress=True, console=console)
    assert report.as_dict()["scores"]["radiology_nli"]["rules"]["n"] == 30
    assert "30/30" in out.getvalue()
