"""NLI where the words of both texts settle it; everything else is the model's.

Unseen pairs (not from the dev set), the dev set as a precision floor, the pipeline's own use
(a report's impression against its findings) and the ensemble with the demo model.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from models.rules import RulesEngine
from models.rules.engine import DESCRIBED_CONFIDENCE
from models.rules.nli import stated_nli
from models.types import NliValue, RadiologyReport, TaskName, TaskRequest


@pytest.mark.parametrize(
    ("premise", "hypothesis", "label"),
    [
        ("No pleural effusion.", "Small left pleural effusion.", "contradiction"),
        ("No fracture.", "There is a rib fracture.", "contradiction"),
        ("Heart size is normal.", "Cardiomegaly.", "contradiction"),
        ("Right lower lobe consolidation.", "The lungs are clear.", "contradiction"),
        ("Stable 4 mm right lower lobe nodule.", "The right lower lobe nodule is new.", "contradiction"),
        ("The left pleural effusion has resolved.", "The left pleural effusion has increased.", "contradiction"),
        ("Possible small left pneumothorax.", "There is a left pneumothorax.", "neutral"),
        ("Patchy opacity may represent early pneumonia.", "The patient has pneumonia.", "neutral"),
        ("Small right pleural effusion.", "There is a pleural effusion.", "entailment"),
        ("Mild cardiomegaly.", "The heart is enlarged.", "entailment"),
        ("No pneumothorax. Lungs clear.", "There is no pneumothorax.", "entailment"),
        ("Interval increase in the left pleural effusion.", "The left pleural effusion has increased.", "entailment"),
    ],
)
def test_pairs_the_words_settle(premise: str, hypothesis: str, label: str) -> None:
    found = stated_nli(premise, hypothesis)
    assert found is not None and found.label == label, found
    assert found.reason


@pytest.mark.parametrize(
    ("premise", "hypothesis"),
    [
        ("Small right pleural effusion.", "The pleural effusion is malignant."),  # adds a cause
        ("Small right pleural effusion.", "There is a large pleural effusion."),  # another size
        ("No acute fracture. Old healed left rib fractures.", "There is an acute rib fracture."),
        ("Endotracheal tube in place.", "The patient is intubated for pneumonia."),
        ("9 mm oval mass in the right breast.", "The breast mass is a fibroadenoma."),
        ("Right IJ sheath in place.", "Status post chest tube removal."),  # devices are many things
        ("No acute intracranial hemorrhage.", "The patient has migraines."),
    ],
)
def test_pairs_left_to_the_model(premise: str, hypothesis: str) -> None:
    assert stated_nli(premise, hypothesis) is None


def test_dev_pairs_answered_are_all_right(dev: Any) -> None:
    rows = [json.loads(line) for line in (dev / "nli.jsonl").read_text().splitlines() if line.strip()]
    answered = [(r, stated_nli(r["premise"], r["hypothesis"])) for r in rows]
    answered = [(r, f) for r, f in answered if f is not None]
    assert len(answered) >= 8
    assert all(f.label == r["label"] for r, f in answered), [(r["id"], f.label) for r, f in answered]


def test_no_dev_report_impression_contradicts_its_findings(dev: Any) -> None:
    """The pipeline tests each impression against its findings: a consistent report gives no discrepancy."""
    engine = RulesEngine()
    for line in (dev / "reports.jsonl").read_text().splitlines():
        row = json.loads(line)
        report = RadiologyReport(report_id=row["id"], modality=row["modality"], procedure=row["procedure"],
                                 findings=row["findings"], impression=row["impression"])
        request = TaskRequest(task=TaskName.radiology_nli, report=report, premise=report.body(),
                              hypothesis=report.impression)
        result = engine.stated(request)
        assert result is None or result.value.label != "contradiction", row["id"]  # type: ignore[union-attr]


def test_a_discrepancy_in_a_report_is_read_with_its_evidence_and_wins_in_the_ensemble(ensemble: Any) -> None:
    report = RadiologyReport(report_id="t-nli", modality="DX", procedure="XR CHEST 2 VIEWS",
                             findings="Lungs are clear. No pleural effusion. No pneumothorax.",
                             impression="Small left pleural effusion.")
    request = TaskRequest(task=TaskName.radiology_nli, report=report, premise=report.body(),
                          hypothesis=report.impression)
    stated = RulesEngine().stated(request)
    assert stated is not None and stated.value == NliValue(label="contradiction")
    assert stated.confidence == DESCRIBED_CONFIDENCE and "pleural effusion" in (stated.note or "")
    text = report.text()
    assert stated.evidence and all(text[e.start : e.end] == e.sentence for e in stated.evidence)  # type: ignore[index]
    result = ensemble.run(request)
    assert result.value == NliValue(label="contradiction") and "rules" in result.decided_by
