"""FHIR test helpers shared by the outbound and profile tests: model identities and an
analysis with every kind of result, built on a dev report."""

from __future__ import annotations

from typing import Any

from models.text import evidence_for
from models.types import (
    Analysis,
    ChexpertValue,
    CriticalFinding,
    Disagreement,
    EntitiesValue,
    FollowUp,
    ModelIdentity,
    MStageValue,
    NliValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskResult,
    TemporalChange,
    TemporalValue,
    TextValue,
)

DEMO = ModelIdentity(model_id="smollm2-135m-demo", sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                     backend="llama_cpp", role="extraction", version="Q4_1", demo=True)
REAL = ModelIdentity(model_id="radlite-qwen2.5-3b", sha256="ab" * 32, backend="http", role="generation", version="1.0")
RULES = ModelIdentity(model_id="rules", backend="rules", role="rules", version="1")


def comparable(value: Any) -> Any:
    """JSON as fhir.resources writes it back: numbers as floats (it keeps no decimal precision)."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return float(value)


def result(task: TaskName, value: Any, report: RadiologyReport, model: ModelIdentity, needles: list[str],
           **kw: Any) -> TaskResult:
    text = report.text()
    evidence = [e for e in (evidence_for(text, n) for n in needles) if e]
    return TaskResult(task=task, value=value, confidence=kw.pop("confidence", 0.87), evidence=evidence, model=model,
                      **kw)


def analysis(report: RadiologyReport, model: ModelIdentity) -> Analysis:
    """Every result type on one report, plus a disagreement, a critical finding and a follow-up."""
    text = report.text()
    first = report.impression.splitlines()[0] if report.impression else text.splitlines()[0]
    results = [
        result(TaskName.rads_assignment, RadsValue(system="BI-RADS", category="0"), report, model, ["BI-RADS"],
               decided_by="model+rules",
               disagreement=Disagreement(model_value="BI-RADS 2", rules_value="BI-RADS 0", model=model,
                                         note="The report states the category.")),
        result(TaskName.n_staging, NStageValue(involvement=True, stage="N1"), report, model, []),
        result(TaskName.m_staging, MStageValue(stage="M0"), report, model, []),
        result(TaskName.abnormality_detection, ChexpertValue(labels={"no finding": "negative", "edema": "uncertain",
                                                                     "pleural effusion": "positive"}),
               report, model, []),
        result(TaskName.radiology_ner, EntitiesValue(anatomy=["left breast"], present=["focal asymmetry"],
                                                     absent=["calcifications"], uncertain=["mass"],
                                                     changes=["new"]), report, model, ["asymmetry"]),
        result(TaskName.temporal_comparison, TemporalValue(changes=[
            TemporalChange(finding="focal asymmetry", change="new"),
            TemporalChange(finding="breast composition", change="unchanged")]), report, model, ["not present"]),
        result(TaskName.radiology_nli, NliValue(label="entailment"), report, model, []),
        result(TaskName.impression_generation, TextValue(text=first), report, model, [], confidence=0.5),
        result(TaskName.radiology_qa, TextValue(text="Left breast."), report, model, [], input_hash="q1"),
    ]
    facts = ReportFacts(
        critical=[CriticalFinding(term="tension pneumothorax", evidence=[evidence_for(text, first[:20])])],
        follow_ups=[FollowUp(text="Diagnostic mammogram and ultrasound.", procedure="MG diagnostic",
                             interval="P6M", evidence=[]),
                    FollowUp(text="Follow-up as clinically indicated.", interval="soon")],
    )
    return Analysis(report=report, manifest_version="test-1", results=results, facts=facts)
