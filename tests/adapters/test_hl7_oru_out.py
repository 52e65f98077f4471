"""ORU^R01 out: results as OBX with status P, model identity and the demo notice as NTE."""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7 import MshHeader, analysis_to_oru, unescape
from models.types import (
    DEMO_NOTICE,
    Analysis,
    ChexpertValue,
    CriticalFinding,
    Disagreement,
    ModelIdentity,
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

DEMO = ModelIdentity(model_id="smollm2-135m-demo", sha256="b179c9523d0e" + "0" * 52, backend="llama_cpp",
                     role="generation", demo=True)
RULES = ModelIdentity(model_id="rules", backend="rules", role="rules")
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def _analysis() -> Analysis:
    report = RadiologyReport(
        report_id="ACC|1", accession="ACC|1", patient_id="SYN-1", modality="CT", procedure="CT CHEST & ABD",
        procedure_code="74176", findings="x", impression="y", source_format="hl7v2",
    )
    return Analysis(
        report=report,
        manifest_version="m1",
        results=[
            TaskResult(task=TaskName.rads_assignment, value=RadsValue(system="Lung-RADS", category="4A"),
                       confidence=0.9, model=RULES, decided_by="rules"),
            TaskResult(task=TaskName.n_staging, value=NStageValue(involvement=False, stage="N0"), confidence=0.6,
                       model=DEMO, disagreement=Disagreement(model_value="N1", rules_value="N0", note="stated")),
            TaskResult(task=TaskName.abnormality_detection, confidence=0.5, model=DEMO,
                       value=ChexpertValue(labels={"pleural effusion": "positive", "no finding": "negative"})),
            TaskResult(task=TaskName.temporal_comparison, confidence=0.5, model=DEMO,
                       value=TemporalValue(changes=[TemporalChange(finding="RUL nodule", change="worsened")])),
            TaskResult(task=TaskName.impression_generation, confidence=0.5, model=DEMO,
                       value=TextValue(text="Line one | with pipe\nLine two ^ caret")),
        ],
        facts=ReportFacts(critical=[CriticalFinding(term="pulmonary embolism")], laterality="right"),
        pending=[TaskName.radiology_qa],
    )


def test_oru_out_structure_and_values() -> None:
    header = MshHeader(sending_app="RIS", sending_facility="H", receiving_app="RADLITE", control_id="C1",
                       message_type="ORU", trigger="R01", processing_id="T", version="2.4")
    er7 = analysis_to_oru(_analysis(), header=header, now=NOW)
    assert er7.endswith("\r") and "\n" not in er7
    msg = hl7.parse(er7)
    msh = msg.segment("MSH")
    assert (str(msh[5]), str(msh[6]), str(msh[9]), str(msh[11]), str(msh[12])) == ("RIS", "H", "ORU^R01^ORU_R01", "T", "2.5.1")
    assert unescape(str(msg.segment("OBR")[3])) == "ACC|1"
    assert str(msg.segment("OBR")[25]) == "P"
    obx = msg.segments("OBX")
    assert all(str(o[11]) == "P" for o in obx)
    assert [int(str(o[1])) for o in obx] == list(range(1, len(obx) + 1))
    rads = obx[0]
    assert (str(rads[2]), str(rads[3]), str(rads[5])) == ("CWE", "RID50134^Lung-RADS assessment^RADLEX", "4A^Lung-RADS 4A^L")
    n_stage = obx[1]
    assert str(n_stage[3]).startswith("21906-3^") and str(n_stage[5]) == "cN0^cN0^L^1229967007^cN0^SCT"
    text = next(o for o in obx if str(o[2]) == "TX")
    assert [unescape(str(r)) for r in text[5]] == ["Line one | with pipe", "Line two ^ caret"]
    critical = next(o for o in obx if "CRITICAL" in str(o[3]))
    assert str(critical[8]) == "AA"
    parsed = parse_message(er7, validation_level=VALIDATION_LEVEL.TOLERANT)
    assert parsed.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"


def test_every_demo_result_set_carries_model_and_notice() -> None:
    er7 = analysis_to_oru(_analysis(), now=NOW)
    segments = [s for s in er7.split("\r") if s]
    # Group: OBX lines of one sub-id followed by their NTE lines.
    sets: dict[str, list[str]] = {}
    current = None
    for seg in segments:
        fields = seg.split("|")
        if fields[0] == "OBX":
            current = fields[4]
            sets.setdefault(current, [])
        elif fields[0] == "NTE" and current is not None:
            sets[current].append(fields[3])
    assert len(sets) == 6  # five results plus the rules-engine facts
    assert "Task rads_assignment; model rules (rules)" in sets["1"] and DEMO_NOTICE not in sets["1"]
    for sub_id in ("2", "3", "4", "5"):
        assert DEMO_NOTICE in sets[sub_id]
        assert any("smollm2-135m-demo (llama_cpp, sha256 b179c9523d0e)" in n for n in sets[sub_id])
    assert any(n.startswith("Disagreement: model said N1") for n in sets["2"])
    obr_notes = [s.split("|")[3] for s in segments[segments.index(next(s for s in segments if s.startswith("OBR"))) + 1:]
                 if s.startswith("NTE")][:3]
    assert DEMO_NOTICE in obr_notes and any("radiology_qa" in n for n in obr_notes)


def test_no_demo_notice_without_demo_model() -> None:
    analysis = _analysis()
    only_rules = analysis.model_copy(update={"results": analysis.results[:1]})
    assert DEMO_NOTICE not in analysis_to_oru(only_rules)


def test_a_suspected_critical_result_says_so_in_its_obx() -> None:
    analysis = _analysis()
    analysis.facts.critical = [CriticalFinding(term="pulmonary embolism", certainty="uncertain")]
    header = MshHeader(sending_app="RIS", sending_facility="H", receiving_app="RADLITE", control_id="C2",
                       message_type="ORU", trigger="R01", processing_id="T", version="2.5.1")
    msg = hl7.parse(analysis_to_oru(analysis, header=header, now=NOW))
    critical = next(o for o in msg.segments("OBX") if "CRITICAL" in str(o[3]))
    assert str(critical[5]) == "pulmonary embolism^suspected pulmonary embolism^L" and str(critical[8]) == "AA"
