"""A category the report states but its system does not define ('BI-RADS 7', 'LR-TR Nonprogressing')
leaves RadLite as the report's words, never as the model's category: FHIR Observation (text-only value,
a note, valid R4), HL7 ORU (text-only CWE plus NTE), and a warning card with no order."""

from __future__ import annotations

import json
from typing import Any

import fhirpathpy
import hl7
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirpathpy.models import models as fhirpath_models

from adapters.cds.cards import report_cards
from adapters.cds.models import CdsResponse, empty_paths, wire
from adapters.fhir import observation_for, observations_for, structure_definition, transaction_bundle
from adapters.hl7 import analysis_to_oru, unescape
from models.ensemble import _reconcile
from models.rules import RulesEngine
from models.types import (
    DEMO_NOTICE,
    Analysis,
    Evidence,
    ModelIdentity,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskRequest,
    TaskResult,
)

DEMO = ModelIdentity(model_id="smollm2-135m-demo", sha256="b179c9523d0e" * 5 + "abcd", backend="llama_cpp",
                     role="generation", demo=True)
ENGINE = RulesEngine()


def _report(impression: str, procedure: str) -> RadiologyReport:
    return RadiologyReport(report_id="dr-unlisted-1", patient_id="pat-1", accession="ACC-U1", procedure=procedure,
                           findings="Post-treatment changes.", impression=impression, source_format="fhir")


def _analysis(impression: str, procedure: str, model_value: RadsValue) -> Analysis:
    """The real rules result reconciled with a (demo) model answer, as the ensemble does."""
    report = _report(impression, procedure)
    stated = ENGINE.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
    assert stated is not None and isinstance(stated.value, RadsValue) and stated.value.unlisted
    model = TaskResult(task=TaskName.rads_assignment, value=model_value, confidence=0.55, model=DEMO,
                       evidence=[Evidence(sentence="model evidence")], decided_by="model", raw_output="x")
    return Analysis(report=report, manifest_version="t", results=[_reconcile(model, stated)], facts=ReportFacts())


CASES = [
    ("BI-RADS 7: known malignancy after neoadjuvant therapy.", "MG DIAG MAMMO BILAT",
     RadsValue(system="BI-RADS", category="4"), "BI-RADS 7", "BI-RADS 4"),
    ("Treated segment 7 observation after SBRT: LR-TR Nonprogressing.", "MRI LIVER",
     RadsValue(system="LI-RADS", category="LR-TR Viable"), "LR-TR Nonprogressing", "LR-TR Viable"),
    ("CAD-RADS 4 - severe stenosis of the proximal LAD.", "CT CORONARY ANGIOGRAPHY",
     RadsValue(system="CAD-RADS", category="4A"), "CAD-RADS 4", "CAD-RADS 4A"),
]


# ---- FHIR -------------------------------------------------------------------------------------------


def _rads_invariant_holds(obs: dict[str, Any]) -> bool:
    sd = structure_definition("radlite-rads-assessment")
    expr = next(c["expression"] for e in sd["differential"]["element"] for c in e.get("constraint", [])
                if c["key"] == "radlite-rads-value")
    # The R4 model lets `value` resolve to valueCodeableConcept (a choice type), as a validator does.
    return fhirpathpy.evaluate(obs, expr, {"resource": obs}, fhirpath_models["r4"]) == [True]


@pytest.mark.parametrize(("impression", "procedure", "model_value", "stated", "model_said"), CASES)
def test_fhir_observation_carries_the_report_words(impression: str, procedure: str, model_value: RadsValue,
                                                    stated: str, model_said: str, validate_r4: Any) -> None:
    analysis = _analysis(impression, procedure, model_value)
    obs = observation_for(analysis.results[0], analysis.report)
    validate_r4(obs)
    value = obs["valueCodeableConcept"]
    assert value == {"text": stated}  # no coding: it is no category RadLite knows
    assert "interpretation" not in obs and "dataAbsentReason" not in obs
    notes = [n["text"] for n in obs["note"]]
    assert any(n.startswith("Not a category RadLite knows") and stated in n for n in notes)
    disagreement = next(n for n in notes if n.startswith("Model and rules disagree"))
    assert f"the model answered '{model_said}'" in disagreement and f"the rules read '{stated}'" in disagreement
    assert model_said not in json.dumps(value) and DEMO_NOTICE in " ".join(notes)
    assert _rads_invariant_holds(obs)
    get_fhir_model_class("Observation").model_validate(obs)


def test_fhir_invariant_still_rejects_a_text_value_without_a_note() -> None:
    analysis = _analysis(*CASES[0][:3])
    obs = observation_for(analysis.results[0], analysis.report)
    assert _rads_invariant_holds(obs)
    assert not _rads_invariant_holds({k: v for k, v in obs.items() if k != "note"})


def test_fhir_bundle_with_unlisted_value_validates(validate_r4: Any) -> None:
    analysis = _analysis(*CASES[1][:3])
    bundle = transaction_bundle(analysis)
    validate_r4(bundle)
    [obs] = [o for o in observations_for(analysis) if o["code"]["text"].startswith("LI-RADS")]
    assert obs["valueCodeableConcept"]["text"] == "LR-TR Nonprogressing"


def test_a_valid_category_keeps_its_codes() -> None:
    report = _report("BI-RADS 4A.", "MG DIAG MAMMO BILAT")
    stated = ENGINE.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
    assert stated is not None
    obs = observation_for(stated, report)
    assert _rads_invariant_holds(obs)
    uncoded = dict(obs, valueCodeableConcept={"text": "BI-RADS 4A"})
    uncoded.pop("note", None)
    assert not _rads_invariant_holds(uncoded)  # a category without its code and without a note is refused
    assert obs["valueCodeableConcept"]["coding"] and obs["valueCodeableConcept"]["text"] == "BI-RADS 4A"
    assert not any("Not a category RadLite knows" in n["text"] for n in obs.get("note", []))


# ---- HL7 ORU ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("impression", "procedure", "model_value", "stated", "model_said"), CASES)
def test_oru_sends_a_text_only_cwe_never_the_model_category(impression: str, procedure: str, model_value: RadsValue,
                                                            stated: str, model_said: str) -> None:
    er7 = analysis_to_oru(_analysis(impression, procedure, model_value))
    msg = hl7.parse(er7)
    [obx] = msg.segments("OBX")
    assert str(obx[2]) == "CWE" and str(obx[8]) == "" and str(obx[11]) == "P"
    cwe = [unescape(p) for p in str(obx[5]).split("^")]
    system = stated.split()[0] if stated.split()[0].endswith("RADS") else "LI-RADS"
    assert cwe == ["STATED-UNLISTED", f"{stated} (as stated; not a {system} category)", "L"]
    assert model_said not in str(obx[5]).replace(stated, "")
    notes = [unescape(str(s[3])) for s in msg.segments("NTE")]
    assert any(n.startswith("Not a category RadLite knows") and stated in n for n in notes)
    assert f"Disagreement: model said {model_said}, report states {stated}" in notes
    assert DEMO_NOTICE in notes


def test_oru_known_category_is_unchanged() -> None:
    report = _report("Lung-RADS 4A.", "CT LOW DOSE LUNG CANCER SCREENING")
    stated = ENGINE.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
    assert stated is not None
    er7 = analysis_to_oru(Analysis(report=report, manifest_version="t", results=[stated]))
    [obx] = hl7.parse(er7).segments("OBX")
    assert str(obx[5]) == "4A^Lung-RADS 4A^L" and str(obx[8]) == "A"


# ---- cards -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("impression", "procedure", "model_value", "stated", "model_said"), CASES)
def test_card_is_a_warning_with_no_order(impression: str, procedure: str, model_value: RadsValue, stated: str,
                                         model_said: str) -> None:
    analysis = _analysis(impression, procedure, model_value)
    cards = report_cards(analysis, patient_id="pat-1", fhir_server="https://fhir.example/r4")
    [card] = [c for c in cards if c.source.topic and c.source.topic.code == "rads"]
    system = analysis.results[0].value.system
    assert card.indicator == "warning"
    assert card.summary.endswith(f"report states {stated}, not a {system} category; check the report")
    assert not card.suggestions  # no guideline order, and no chart entry built on it
    detail = card.detail or ""
    assert f"The report states {stated}" in detail and "no guideline management or order" in detail
    assert f"model {model_said}" in detail  # the model's reading is shown as what it is
    assert "> " in detail  # the sentence the statement rests on
    assert DEMO_NOTICE in detail and DEMO_NOTICE in card.source.label
    body = wire(CdsResponse(cards=cards))
    assert empty_paths(body) == []
    assert "ServiceRequest" not in json.dumps(body)


def test_card_without_demo_model_has_no_demo_notice() -> None:
    report = _report("Lung-RADS 5. Large mass.", "CT LOW DOSE LUNG CANCER SCREENING")
    stated = ENGINE.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
    assert stated is not None and stated.value.unlisted
    analysis = Analysis(report=report, manifest_version="t", results=[stated])
    [card] = [c for c in report_cards(analysis, patient_id="pat-1") if c.source.topic and c.source.topic.code == "rads"]
    assert card.indicator == "warning" and "Lung-RADS 5" in card.summary
    assert DEMO_NOTICE not in (card.detail or "") and DEMO_NOTICE not in card.source.label


def test_known_category_card_warns_when_the_report_also_states_an_unlisted_one() -> None:
    report = _report("Right breast: BI-RADS 2, benign. Left breast: BI-RADS 7.", "MG DIAG MAMMO BILAT")
    stated = ENGINE.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
    assert stated is not None and stated.value.category == "2" and stated.note and "BI-RADS 7" in stated.note
    analysis = Analysis(report=report, manifest_version="t", results=[stated])
    [card] = [c for c in report_cards(analysis, patient_id="pat-1") if c.source.topic and c.source.topic.code == "rads"]
    assert card.indicator == "warning" and "BI-RADS 7" in (card.detail or "")
    plain = _report("BI-RADS 2, benign.", "MG DIAG MAMMO BILAT")
    result = ENGINE.stated(TaskRequest(task=TaskName.rads_assignment, report=plain))
    assert result is not None
    [info] = [c for c in report_cards(Analysis(report=plain, manifest_version="t", results=[result]), patient_id="p")
              if c.source.topic and c.source.topic.code == "rads"]
    assert info.indicator == "info"
