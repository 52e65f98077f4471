"""The pipeline: stored analyses are reused, the hook budget is honoured, statements win."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from models.types import RadiologyReport, TaskName
from plugin import audit
from plugin.pipeline import Actor, Pipeline
from plugin.storage.db import make_engine, make_sessionmaker, session_scope, upgrade
from plugin.storage.tables import AnalysisRow, AuditEvent, TaskResultRow

ACTOR = Actor(id="test", kind="cli")


@pytest.fixture()
def pipeline(db_url: str, ensemble: Any, settings_for: Any):  # type: ignore[no-untyped-def]
    upgrade(db_url)
    engine = make_engine(db_url)
    p = Pipeline(settings_for(db_url), make_sessionmaker(engine), ensemble)
    yield p
    p.close()
    engine.dispose()


def _runs(p: Pipeline) -> int:
    with p.sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event_type == "task.run")) or 0


def mammo(category: str = "4A") -> RadiologyReport:
    return RadiologyReport(
        report_id="r-mg", accession="ACC-MG-1", patient_id="p1", modality="MG",
        procedure="MG DIAGNOSTIC LEFT",
        findings="Left breast: 8 mm irregular mass at 2 o'clock with indistinct margins.",
        impression=f"Suspicious left breast mass. BI-RADS {category}: Suspicious. Recommend ultrasound-guided biopsy.",
    )


def test_second_analysis_of_the_same_content_runs_no_model(pipeline: Pipeline) -> None:
    first = pipeline.analyse_sync(mammo(), actor=ACTOR, tasks=[TaskName.rads_assignment, TaskName.m_staging])
    runs = _runs(pipeline)
    assert runs == 2
    # Same content from another door (different id, no accession): answered from storage.
    other_door = mammo().model_copy(update={"report_id": "fhir-123", "accession": None, "source_format": "fhir"})
    second = pipeline.analyse_sync(other_door, actor=ACTOR, tasks=[TaskName.rads_assignment, TaskName.m_staging])
    assert _runs(pipeline) == runs
    assert [r.model_dump() for r in second.results] == [r.model_dump() for r in first.results]


def test_results_given_from_storage_are_audited_for_the_request_that_got_them(pipeline: Pipeline) -> None:
    """No task.run is written for a stored result, so a task.reused row says what the second request was given."""
    first = pipeline.analyse_sync(mammo(), actor=ACTOR, tasks=[TaskName.rads_assignment])
    with pipeline.sessions() as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.event_type == "task.reused")).all() == []
    reader = Actor(id="ehr-client", kind="cds-hooks")
    pipeline.analyse_sync(mammo(), actor=reader, tasks=[TaskName.rads_assignment, TaskName.m_staging])
    with pipeline.sessions() as s:
        [reused] = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "task.reused")).all()
        [run] = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "task.run",
                                                   AuditEvent.detail["task"].as_string() == "rads_assignment")).all()
    assert (reused.actor, reused.actor_kind, reused.patient_id, reused.accession) == ("ehr-client", "cds-hooks", "p1",
                                                                                      "ACC-MG-1")
    # m_staging ran fresh (a task.run of its own); the RADS result came from the first run's analysis.
    assert reused.detail["tasks"] == ["rads_assignment"]
    assert reused.detail["analysis_id"] == run.detail["analysis_id"]
    assert reused.input_hash == first.report.content_hash


def test_stated_category_wins_and_carries_its_evidence(pipeline: Pipeline) -> None:
    analysis = pipeline.analyse_sync(mammo("4A"), actor=ACTOR, tasks=[TaskName.rads_assignment])
    result = analysis.result(TaskName.rads_assignment)
    assert result is not None
    assert (result.value.system, result.value.category) == ("BI-RADS", "4A")
    assert result.decided_by in ("rules", "model+rules")
    assert any("BI-RADS 4A" in e.sentence for e in result.evidence)
    if result.decided_by == "rules":
        assert result.disagreement is not None  # the model said something else, and it is kept
    assert result.model.model_id and result.input_hash


def test_hook_budget_returns_what_is_ready_and_the_rest_is_stored(pipeline: Pipeline) -> None:
    report = RadiologyReport(
        report_id="r-ct", patient_id="p2", modality="CT", procedure="CT CHEST W CONTRAST STAGING",
        findings="Known right lung adenocarcinoma. 3.2 cm right upper lobe mass. Enlarged right hilar node 1.6 cm. "
        "Comparison: CT 2024-01-03; the mass has increased from 2.1 cm.",
        impression="Right upper lobe mass with ipsilateral hilar adenopathy. No distant metastases.",
    )
    analysis = asyncio.run(pipeline.analyse(report, actor=ACTOR, budget_s=0.001))
    assert analysis.pending, "nothing can finish in a millisecond"
    planned = {p.task for p in analysis.plan}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        with pipeline.sessions() as s:
            stored = set(s.scalars(select(TaskResultRow.task)))
        if {t.value for t in planned} <= stored:
            break
        time.sleep(0.2)
    assert {t.value for t in planned} <= stored
    later = asyncio.run(pipeline.analyse(report, actor=ACTOR, budget_s=0.001))
    assert not later.pending and {r.task for r in later.results} == planned


def _task_runs(p: Pipeline) -> list[AuditEvent]:
    with p.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.event_type == "task.run").order_by(AuditEvent.seq)))


def test_a_task_run_is_audited_with_what_compliance_needs(pipeline: Pipeline) -> None:
    """Issue 6: model id, file sha256, prompt hash, result, evidence, confidence and latency per run."""
    report = mammo()
    result = pipeline.analyse_sync(report, actor=ACTOR, tasks=[TaskName.rads_assignment]).results[0]
    [event] = _task_runs(pipeline)
    assert (event.actor, event.actor_kind) == ("test", "cli")
    assert (event.patient_id, event.accession) == ("p1", "ACC-MG-1")
    assert event.input_hash == result.input_hash and event.input_hash
    d = event.detail
    assert d["task"] == "rads_assignment"
    assert d["model_id"] == result.model.model_id and d["model_sha256"] == result.model.sha256
    assert d["prompt_hash"] == result.prompt_hash and d["prompt_hash"]
    assert d["value"]["category"] == "4A" and d["confidence"] == result.confidence
    # Evidence by offsets and sentence hash: the sentences are report text, which the trail never holds.
    assert d["evidence"] == [{"start": e.start, "end": e.end, "text_hash": audit.text_digest(e.sentence)}
                             for e in result.evidence]
    assert any("BI-RADS 4A" in e.sentence for e in result.evidence)
    assert isinstance(d["latency_ms"], int | float)  # recorded; its size is a benchmark matter


def test_analysis_is_redone_only_when_the_content_or_the_manifest_changes(pipeline: Pipeline) -> None:
    report = mammo()
    pipeline.analyse_sync(report, actor=ACTOR, tasks=[TaskName.rads_assignment])
    assert len(_task_runs(pipeline)) == 1
    # The stored analysis becomes one made under an earlier manifest: it must not be reused.
    with session_scope(pipeline.sessions) as s:
        row = s.scalars(select(AnalysisRow).where(AnalysisRow.content_hash == report.content_hash)).one()
        row.manifest_version = "an-earlier-manifest"
    pipeline.analyse_sync(report, actor=ACTOR, tasks=[TaskName.rads_assignment])
    assert len(_task_runs(pipeline)) == 2
    pipeline.analyse_sync(report, actor=ACTOR, tasks=[TaskName.rads_assignment])
    assert len(_task_runs(pipeline)) == 2  # same content, same manifest: from storage
    corrected = report.model_copy(update={"impression": report.impression + " Addendum: biopsy scheduled."})
    pipeline.analyse_sync(corrected, actor=ACTOR, tasks=[TaskName.rads_assignment])
    assert len(_task_runs(pipeline)) == 3


def test_the_plan_and_its_reasons_are_stored_with_the_analysis(pipeline: Pipeline) -> None:
    report = mammo()
    analysis = asyncio.run(pipeline.analyse(report, actor=ACTOR, budget_s=0.001))  # the plan is stored up front
    with pipeline.sessions() as s:
        row = s.scalars(select(AnalysisRow).where(AnalysisRow.content_hash == report.content_hash)).one()
    assert row.manifest_version == pipeline.manifest_version
    assert [p["task"] for p in row.plan_json] == [p.task.value for p in analysis.plan]
    assert "rads_assignment" in [p["task"] for p in row.plan_json]
    assert all(isinstance(p["reason"], str) and p["reason"].strip() for p in row.plan_json)


def test_the_demo_models_invented_findings_are_left_out_and_audited(pipeline: Pipeline) -> None:
    # The demo model reads changes and chest labels into a film with no comparison and no
    # pathology; grounding must leave none of them in what we return, and say so in the audit.
    film = RadiologyReport(
        report_id="r-cr", accession="ACC-CR-1", patient_id="p2", modality="CR", procedure="XR CHEST 2 VIEWS",
        findings="Comparison: None available.\nThe lungs are clear without focal consolidation. No pleural effusion "
                 "or pneumothorax. Heart size is normal. Mild thoracic spondylosis.",
        impression="No acute cardiopulmonary abnormality.",
    )
    analysis = pipeline.analyse_sync(film, actor=ACTOR,
                                     tasks=[TaskName.temporal_comparison, TaskName.abnormality_detection])
    temporal = analysis.result(TaskName.temporal_comparison)
    chest = analysis.result(TaskName.abnormality_detection)
    assert temporal is not None and chest is not None
    assert temporal.value.changes == []
    assert {k for k, v in chest.value.labels.items() if v != "negative"} == {"no finding"}
    with pipeline.sessions() as s:
        details = [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.event_type == "task.run"))]
    notes = {d["task"]: d["note"] for d in details}
    # Each note, when present, names what was left out; the raw output keeps the model's words. The note quotes
    # them, so the trail holds its sha256 and length (the note itself is in task_results).
    for task, result in ((TaskName.temporal_comparison, temporal), (TaskName.abnormality_detection, chest)):
        assert notes[task.value] == (
            {"sha256": audit.text_digest(result.note), "chars": len(result.note)} if result.note else None)
        if result.note:
            assert result.note.startswith("Grounding:")
