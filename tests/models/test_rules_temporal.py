"""Temporal changes the report states in words, and how they meet the model's answer.

Unseen phrasings (not from the dev set), the dev set as a floor, and the ensemble's per-finding
merge: a change the report writes wins, the model adds what the rules did not read.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.ensemble import _reconcile_temporal
from models.evaluation import temporal_jaccard
from models.rules import RulesEngine
from models.rules.temporal import same_finding, stated_changes
from models.types import (
    ModelIdentity,
    RadiologyReport,
    TaskName,
    TaskRequest,
    TaskResult,
    TemporalChange,
    TemporalValue,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Interval increase in size of the right hepatic lobe lesion, now 3.1 cm (previously 2.4 cm).",
         [("right hepatic lobe lesion", "worsened")]),
        ("The left pleural effusion has decreased in size.", [("left pleural effusion", "improved")]),
        ("Resolution of the previously seen right middle lobe consolidation.",
         [("right middle lobe consolidation", "resolved")]),
        ("Stable 4 mm left lower lobe nodule.", [("left lower lobe nodule", "unchanged")]),
        ("The right pneumothorax is no longer visible.", [("right pneumothorax", "resolved")]),
        ("Interval development of a small right pleural effusion.", [("small right pleural effusion", "new")]),
        ("Mediastinal lymphadenopathy is unchanged compared to prior.", [("Mediastinal lymphadenopathy", "unchanged")]),
        ("Increasing bibasilar opacities, likely atelectasis.", [("bibasilar atelectasis", "worsened")]),
        ("Left lower lobe collapse has resolved.", [("Left lower lobe collapse", "resolved")]),
        ("The 1.2 cm thyroid nodule in the right lobe is slightly larger, now 1.6 cm.",
         [("thyroid nodule in the right lobe", "worsened")]),
        ("Multiple hepatic metastases, increased in size and number.", [("hepatic metastases", "worsened")]),
        ("Possible new small left effusion.", [("small left effusion", "new")]),
        ("IMPRESSION:\n1. Enlarging right upper lobe mass, now 4.2 cm, previously 3.0 cm.\n2. Unchanged small hiatal hernia.",
         [("right upper lobe mass", "worsened"), ("small hiatal hernia", "unchanged")]),
        ("There has been interval worsening of the left lower lobe consolidation.",
         [("left lower lobe consolidation", "worsened")]),
        ("The previously described right adnexal cyst has resolved.", [("right adnexal cyst", "resolved")]),
        ("The ground-glass nodule in the left upper lobe measures 12 mm (previously 8 mm).",
         [("ground-glass nodule in the left upper lobe", "worsened")]),
        ("The right lower lobe nodule measures 6 mm (previously 9 mm).", [("right lower lobe nodule", "improved")]),
        ("Small bilateral pleural effusions, decreased from prior.", [("Small bilateral pleural effusions", "improved")]),
        ("New compression deformity of L1 vertebral body.", [("compression deformity of L1 vertebral body", "new")]),
        ("Worsening multifocal airspace disease.", [("multifocal airspace disease", "worsened")]),
        ("Decreased size of the left hilar mass.", [("left hilar mass", "improved")]),
        ("The right lower lobe nodule measures 6 mm, unchanged from 2022.", [("right lower lobe nodule", "unchanged")]),
        ("Again seen is a 2 cm left renal cyst.", [("left renal cyst", "unchanged")]),
        ("LEFT: There is a new 8 mm irregular mass at 2 o'clock, not present on the prior study.",
         [("left irregular mass at 2 o'clock", "new")]),
        ("Liver: Two new hypodense lesions measuring up to 1.4 cm, consistent with metastases.",
         [("metastases", "new")]),
        ("Worsening pulmonary edema and enlarging bilateral pleural effusions, consistent with worsening CHF.",
         [("pulmonary edema", "worsened"), ("bilateral pleural effusions", "worsened")]),
        ("Lymph nodes: Retroperitoneal node now 8 mm short axis (previously 15 mm).",
         [("Retroperitoneal node", "improved")]),
        ("Worsening left lower lobe opacity, may represent aspiration or atelectasis.",
         [("left lower lobe opacity", "worsened")]),
        ("Small right effusion with adjacent right basilar atelectasis, slightly increased.",
         [("Small right effusion", "worsened"), ("right basilar atelectasis", "worsened")]),
    ],
)
def test_stated_changes_in_unseen_phrasings(text: str, expected: list[tuple[str, str]]) -> None:
    got = [(c.finding, c.change) for c in stated_changes(text)]
    assert sorted(got) == sorted(expected)


@pytest.mark.parametrize(
    "text",
    [
        "No new pulmonary nodules.",
        "No new or enlarging lymph nodes.",
        "The lungs are clear without new consolidation.",
        "No evidence of new metastatic disease.",
        "Recommend follow-up CT in 3 months to document resolution.",
        "Heart size is normal and unchanged.",
        "Ventricles and sulci are age-appropriate and unchanged.",
        "Comparison: CT chest 1/1/2024, which showed a new nodule.",
        "History: new onset chest pain, increasing dyspnea.",
        "The endotracheal tube has been removed.",
        "Findings are stable compared with 2023.",
        "No pneumothorax. Lungs are clear. No change from prior.",
        "Enlarged mediastinal lymph nodes up to 1.5 cm.",
    ],
)
def test_no_change_is_read_where_none_is_stated(text: str) -> None:
    found = [(c.finding, c.change) for c in stated_changes(text)]
    assert found == [], found


def test_a_finding_stated_twice_is_one_change_with_both_sentences() -> None:
    text = ("FINDINGS:\nThe previously noted small left apical pneumothorax has resolved.\n\n"
            "IMPRESSION:\nResolution of the left apical pneumothorax.")
    found = stated_changes(text)
    assert [(c.finding, c.change) for c in found] == [("small left apical pneumothorax", "resolved")]
    assert len(found[0].spans) == 2


def test_sides_keep_findings_apart() -> None:
    assert same_finding("left pleural effusion", "Small left pleural effusions")
    assert not same_finding("left pleural effusion", "right pleural effusion")
    assert not same_finding("right upper lobe nodule", "right lower lobe nodule")
    assert same_finding("bibasilar atelectasis", "bilateral basilar atelectasis")


def _dev_rows(dev: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (dev / "reports.jsonl").read_text().splitlines() if line.strip()]


def test_dev_set_floor_and_no_changes_in_reports_that_compare_nothing(dev: Any) -> None:
    engine = RulesEngine()
    scores = []
    for row in _dev_rows(dev):
        report = RadiologyReport(report_id=row["id"], modality=row["modality"], procedure=row["procedure"],
                                 findings=row["findings"], impression=row["impression"], prior_text=row["prior"])
        result = engine.stated(TaskRequest(task=TaskName.temporal_comparison, report=report))
        pred = [(c.finding, c.change) for c in result.value.changes] if result else []  # type: ignore[union-attr]
        gold = row["labels"]["temporal"]
        if gold is None:
            assert pred == [], (row["id"], pred)
            continue
        for ev in result.evidence if result else []:
            assert result is not None and result.note
            assert report.text()[ev.start : ev.end] == ev.sentence
        scores.append(temporal_jaccard(pred, [(g["finding"], g["change"]) for g in gold]))
    assert len(scores) == 14
    assert sum(scores) / len(scores) >= 0.85


def _result(value: TemporalValue, who: ModelIdentity, decided: str) -> TaskResult:
    return TaskResult(task=TaskName.temporal_comparison, value=value, confidence=0.6, evidence=[], model=who,
                      decided_by=decided, prompt_hash=None, input_hash="0" * 64, raw_output="")


def test_the_reports_words_win_per_finding_and_the_model_adds_the_rest() -> None:
    model_id = ModelIdentity(model_id="m", sha256="a" * 64, backend="llama_cpp", role="extraction", demo=True)
    rules_id = ModelIdentity(model_id="radlite-rules", sha256=None, backend="rules", role="rules")
    model = _result(TemporalValue(changes=[
        TemporalChange(finding="left pleural effusion", change="improved"),
        TemporalChange(finding="cardiomegaly", change="unchanged"),
        TemporalChange(finding="right pneumothorax", change="resolved"),
    ]), model_id, "model")
    stated = _result(TemporalValue(changes=[
        TemporalChange(finding="Small left pleural effusion", change="worsened", cue="slightly increased"),
        TemporalChange(finding="Cardiomegaly", change="unchanged", cue="similar to prior"),
    ]), rules_id, "rules")
    merged = _reconcile_temporal(model, stated)
    pairs = [(c.finding, c.change) for c in merged.value.changes]  # type: ignore[union-attr]
    assert pairs == [("Small left pleural effusion", "worsened"), ("Cardiomegaly", "unchanged"),
                     ("right pneumothorax", "resolved")]
    assert merged.decided_by == "rules"
    assert merged.disagreement is not None
    assert merged.disagreement.model_value == "left pleural effusion: improved"
    assert merged.disagreement.rules_value == "Small left pleural effusion: worsened"
    agreeing = _reconcile_temporal(_result(TemporalValue(changes=[
        TemporalChange(finding="cardiomegaly", change="unchanged")]), model_id, "model"), stated)
    assert agreeing.decided_by == "model+rules" and agreeing.disagreement is None


def test_the_ensemble_returns_the_stated_changes_with_the_demo_model(ensemble: Any) -> None:
    report = RadiologyReport(
        report_id="t-temporal", modality="CR", procedure="XR CHEST PORTABLE",
        findings="Comparison: 2026-01-02.\nThe right pneumothorax has resolved. Left basilar atelectasis, increased.",
        impression="Resolved right pneumothorax. Increasing left basilar atelectasis.",
    )
    result = ensemble.run(TaskRequest(task=TaskName.temporal_comparison, report=report))
    pairs = {(c.finding.lower(), c.change) for c in result.value.changes}
    assert ("right pneumothorax", "resolved") in pairs
    assert ("left basilar atelectasis", "worsened") in pairs
    assert "rules" in result.decided_by
    assert any("pneumothorax has resolved" in e.sentence for e in result.evidence)
