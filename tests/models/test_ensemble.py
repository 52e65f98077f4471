"""The ensemble: routing, one Llama per file, rules cross-check (stated values win, disagreement kept)."""

from __future__ import annotations

import pytest

from models.catalog import CATALOG
from models.ensemble import Ensemble, _reconcile
from models.types import (
    ChexpertValue,
    Evidence,
    ModelIdentity,
    MStageValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    TaskName,
    TaskRequest,
    TaskResult,
)

MODEL = ModelIdentity(model_id="m", sha256="a" * 64, backend="llama_cpp", role="generation", demo=True)
RULES = ModelIdentity(model_id="radlite-rules", backend="rules", role="rules")


def _result(task: TaskName, value, who: ModelIdentity, conf: float) -> TaskResult:
    return TaskResult(task=task, value=value, confidence=conf, model=who, evidence=[Evidence(sentence=who.model_id)],
                      decided_by="model", raw_output="x", prompt_hash="p" if who is MODEL else None)


def test_disagreement_stated_value_wins_and_both_are_kept() -> None:
    model = _result(TaskName.rads_assignment, RadsValue(system="BI-RADS", category="3"), MODEL, 0.6)
    stated = _result(TaskName.rads_assignment, RadsValue(system="BI-RADS", category="4A"), RULES, 0.99)
    out = _reconcile(model, stated)
    assert out.value == stated.value and out.decided_by == "rules" and out.model == RULES
    assert out.disagreement is not None
    assert (out.disagreement.model_value, out.disagreement.rules_value) == ("BI-RADS 3", "BI-RADS 4A")
    assert out.disagreement.model == MODEL and out.prompt_hash == "p"


def test_agreement_raises_confidence() -> None:
    model = _result(TaskName.m_staging, MStageValue(stage="M1"), MODEL, 0.4)
    stated = _result(TaskName.m_staging, MStageValue(stage="M1"), RULES, 0.99)
    out = _reconcile(model, stated)
    assert out.decided_by == "model+rules" and out.confidence == 0.99 and out.disagreement is None
    assert out.model == MODEL and {e.sentence for e in out.evidence} == {"m", "radlite-rules"}


def test_n_stage_without_number_agrees_with_stated_stage() -> None:
    model = _result(TaskName.n_staging, NStageValue(involvement=True), MODEL, 0.5)
    stated = _result(TaskName.n_staging, NStageValue(involvement=True, stage="N2"), RULES, 0.99)
    out = _reconcile(model, stated)
    assert out.decided_by == "model+rules" and out.value.stage == "N2"


def test_chexpert_is_reconciled_label_by_label() -> None:
    model = _result(TaskName.abnormality_detection,
                    ChexpertValue(labels={"edema": "positive", "fracture": "negative", "no finding": "negative"}),
                    MODEL, 0.5)
    stated = _result(TaskName.abnormality_detection, ChexpertValue(labels={"edema": "negative"}), RULES, 0.99)
    out = _reconcile(model, stated)
    assert out.value.labels == {"edema": "negative", "fracture": "negative", "no finding": "negative"}
    assert out.decided_by == "rules" and out.disagreement.model_value == "edema: positive"


def test_one_llama_per_file_and_describe(demo_ensemble: Ensemble) -> None:
    gen = demo_ensemble.backend_for(TaskName.rads_assignment)
    ext = demo_ensemble.backend_for(TaskName.radiology_ner)
    assert gen.identity.role == "generation" and ext.identity.role == "extraction"
    assert gen.model is ext.model  # both demo roles share the one loaded GGUF
    rows = demo_ensemble.describe()
    assert {r["id"] for r in rows} == {m.id for m in demo_ensemble.manifest.models}
    assert all(r["loaded"] and r["demo"] and r["backend"] == "llama_cpp" for r in rows)
    assert demo_ensemble.manifest_version.startswith(demo_ensemble.manifest.version + "+")


def test_stated_rads_wins_over_the_demo_model(demo_ensemble: Ensemble, dev_rows: list[dict],
                                              dev_report_objects: dict[str, RadiologyReport]) -> None:
    stated_rows = [r for r in dev_rows if r["labels"]["rads"] and r["labels"]["rads"]["stated"]][:3]
    assert stated_rows
    for row in stated_rows:
        result = demo_ensemble.run(TaskRequest(task=TaskName.rads_assignment, report=dev_report_objects[row["id"]]))
        truth = RadsValue(system=row["labels"]["rads"]["system"], category=row["labels"]["rads"]["category"])
        assert result.value.label == truth.label, row["id"]
        assert result.decided_by in {"rules", "model+rules"}
        assert (result.disagreement is not None) == (result.decided_by == "rules")
        assert result.evidence


def test_unstated_task_keeps_the_model_answer(demo_ensemble: Ensemble, dev_nli: list[TaskRequest]) -> None:
    result = demo_ensemble.run(dev_nli[0])
    assert result.decided_by == "model" and result.model.demo
    assert CATALOG[TaskName.radiology_nli].value_text(result.value) in CATALOG[TaskName.radiology_nli].labels
    assert demo_ensemble.facts(dev_nli[0].report) is not None


def test_a_report_longer_than_the_context_keeps_its_stated_value(demo_ensemble: Ensemble) -> None:
    """The model cannot read a 5,000-token report with n_ctx 2048; the category the report
    states still stands, with the reason, and a task with nothing stated fails loudly."""
    from models.backends.base import ContextOverflow

    long = RadiologyReport(
        report_id="long-1", modality="CT", procedure="CT CHEST LOW DOSE SCREENING",
        findings=" ".join(["The right upper lobe nodule measures 6 mm, unchanged from 2024-01-01."] * 220),
        impression="Stable 6 mm right upper lobe nodule. Lung-RADS 2: benign appearance. Annual LDCT.",
    )
    result = demo_ensemble.run(TaskRequest(task=TaskName.rads_assignment, report=long))
    assert (result.value.system, result.value.category) == ("Lung-RADS", "2")
    assert result.decided_by == "rules" and result.note and "exceeds n_ctx" in result.note
    with pytest.raises(ContextOverflow, match="exceeds n_ctx"):
        demo_ensemble.run(TaskRequest(task=TaskName.radiology_ner, report=long))


def test_a_described_stage_keeps_its_note_when_reconciled() -> None:
    described = _result(TaskName.m_staging, MStageValue(stage="M0"), RULES, 0.9).model_copy(
        update={"note": "M0 described in words, not written as a stage: 'No distant metastases'"})
    agree = _reconcile(_result(TaskName.m_staging, MStageValue(stage="M0"), MODEL, 0.5), described)
    assert agree.note == described.note and agree.decided_by == "model+rules"
    differ = _reconcile(_result(TaskName.m_staging, MStageValue(stage="M1"), MODEL, 0.5), described)
    assert differ.note == described.note and differ.disagreement is not None
    assert differ.disagreement.note.startswith("the report describes M0")
