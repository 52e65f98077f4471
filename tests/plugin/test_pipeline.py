"""The pipeline: stored analyses are reused, the hook budget is honoured, statements win."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import func, select

from models.types import RadiologyReport, TaskName
from plugin.pipeline import Actor, Pipeline
from plugin.storage.db import make_engine, make_sessionmaker, upgrade
from plugin.storage.tables import AuditEvent, TaskResultRow

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
