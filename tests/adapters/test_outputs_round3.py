"""Cards and Observations for realistic results the dev set does not hold, across all ten RADS systems.

Each report is written by hand (procedure, findings, impression stating the category) and
read into typed results the way the pipeline does: evidence sentences located in
`report.text()`, a model identity with its GGUF hash and a confidence. For every category
of the contract (shared/spec/radlite-contract.md) and every LI-RADS row of
rads-management.md, the card must say the table's management, carry the table's
indicator, quote its evidence, name the model, its file hash and confidence, carry the
demo notice, and every resource it suggests must validate as FHIR R4 (fhircraft,
fhirkit, fhir.resources) and against our own profile.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import test_fhir_profiles

from adapters.cds.cards import NO_EVIDENCE, add_duration, report_cards
from adapters.cds.guidelines import SOURCES, Guideline, guideline_for
from adapters.cds.models import Card, CdsResponse, empty_paths, summary_length, wire
from adapters.fhir import codes, observation_for, observations_for
from models.parsers import RADS_CATEGORIES
from models.text import evidence_for
from models.types import (
    DEMO_NOTICE,
    Analysis,
    CriticalFinding,
    FollowUp,
    ModelIdentity,
    MStageValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskResult,
)

DEMO = ModelIdentity(model_id="smollm2-135m-demo", sha256="c0ffee" + "ab" * 29, backend="llama_cpp",
                     role="extraction", version="Q4_1", demo=True)
# The profile validators of test_fhir_profiles.py (fixtures `profile_models`, `profile_problems`), shared
# here under their own names: pytest finds fixtures by module attribute name.
globals().update(profile_models=test_fhir_profiles.profile_models,
                 profile_problems=test_fhir_profiles.profile_problems)

REAL = ModelIdentity(model_id="radlite-qwen2.5-3b", sha256="5e" * 32, backend="http", role="generation", version="1.0")
WHEN = datetime(2025, 3, 14, 8, 15, tzinfo=UTC)

# system -> (procedure, modality, findings sentence); the impression states the category.
STUDIES: dict[str, tuple[str, str, str]] = {
    "BI-RADS": ("MG DIAGNOSTIC LEFT", "MG", "Left breast 2 o'clock: 8 mm irregular mass with indistinct margins."),
    "Lung-RADS": ("CT CHEST LOW DOSE SCREENING", "CT", "Right upper lobe solid nodule measuring 9 mm, previously 6 mm."),
    "LI-RADS": ("MRI ABDOMEN W WO CONTRAST", "MR", "Segment 7 observation 2.3 cm with nonrim arterial enhancement."),
    "TI-RADS": ("US THYROID", "US", "Right lobe solid hypoechoic nodule with smooth margins."),
    "PI-RADS": ("MRI PROSTATE W WO CONTRAST", "MR", "Left peripheral zone lesion with focal restricted diffusion."),
    "O-RADS": ("US PELVIS TRANSVAGINAL", "US", "Right adnexal multilocular cyst with a smooth inner wall."),
    "NI-RADS": ("CT NECK WITH CONTRAST", "CT", "Post-treatment changes at the left base of tongue."),
    "CAD-RADS": ("CT CORONARY ANGIOGRAPHY", "CT", "Proximal LAD mixed plaque with stenosis."),
    "VI-RADS": ("MRI PELVIS BLADDER", "MR", "Left lateral bladder wall tumour, 2.8 cm, abutting the muscle layer."),
    "GB-RADS": ("US ABDOMEN LIMITED GALLBLADDER", "US", "Gallbladder wall thickening, 5 mm, with layered pattern."),
}
EXTRA_LIRADS = ("LR-NC", "LR-TR Nonevaluable")
"""In rads-management.md (and the rules engine) but not in the model's label set: still carded right."""
CASES = [(s, c) for s, cats in RADS_CATEGORIES.items() for c in cats] + [("LI-RADS", c) for c in EXTRA_LIRADS]


def report_for(system: str, impression: str, *, procedure: str | None = None, findings: str | None = None,
               report_id: str = "unseen-r3-1") -> RadiologyReport:
    proc, modality, default_findings = STUDIES[system]
    return RadiologyReport(report_id=report_id, patient_id="pat-r3", accession="ACC-R3-0001", modality=modality,
                           procedure=procedure or proc, effective=WHEN, issued=WHEN, source_format="fhir",
                           findings=findings or default_findings, impression=impression)


def task_result(report: RadiologyReport, task: TaskName, value: Any, needles: list[str],
                model: ModelIdentity = DEMO, confidence: float = 0.83) -> TaskResult:
    text = report.text()
    evidence = [e for e in (evidence_for(text, n) for n in needles) if e]
    assert len(evidence) == len(needles), "every needle is a sentence of the report"
    return TaskResult(task=task, value=value, confidence=confidence, evidence=evidence, model=model)


def rads_case(system: str, category: str, *, model: ModelIdentity = DEMO, impression: str | None = None,
              facts: ReportFacts | None = None) -> tuple[Analysis, TaskResult]:
    value = RadsValue(system=system, category=category)
    stated = impression or f"{value.label}: assessment as described."
    report = report_for(system, stated)
    result = task_result(report, TaskName.rads_assignment, value, [stated], model)
    return Analysis(report=report, manifest_version="r3", results=[result], facts=facts or ReportFacts()), result


def rads_card(cards: list[Card]) -> Card:
    [card] = [c for c in cards if c.source.topic and c.source.topic.code == "rads"]
    return card


def resources(card: Card, kind: str) -> list[dict[str, Any]]:
    return [a.resource for s in card.suggestions or [] for a in s.actions or []
            if a.resource and a.resource["resourceType"] == kind]


def guideline(system: str, category: str) -> Guideline:
    g = guideline_for(system, category)
    assert g is not None, (system, category)
    return g


# ---- every category of every system ----------------------------------------------------------------


@pytest.mark.parametrize(("system", "category"), CASES, ids=[f"{s} {c}" for s, c in CASES])
def test_rads_card_says_the_table_and_shows_its_basis(system: str, category: str) -> None:
    analysis, result = rads_case(system, category)
    g = guideline(system, category)
    card = rads_card(report_cards(analysis, patient_id="pat-r3"))
    body = wire(CdsResponse(cards=[card]))["cards"][0]
    assert empty_paths(body) == [] and summary_length(card.summary) < 140
    assert card.indicator == g.indicator and card.indicator != "critical"
    assert RadsValue(system=system, category=category).label in card.summary
    assert not re.search(r";\s*none\b", card.summary), card.summary  # advice, never a bare "none"
    detail = card.detail or ""
    assert f"{g.management}." in detail and f"Follow-up: {g.follow_up}." in detail  # the table's words
    assert ("Actionable finding (ACR)" in detail) == g.actionable
    assert f"> {result.evidence[0].sentence}" in detail
    assert DEMO.model_id in detail and DEMO.sha256[:12] in detail and "confidence 0.83" in detail
    assert DEMO_NOTICE in card.source.label and DEMO_NOTICE in detail
    assert card.uuid and card.overrideReasons and all(r.display for r in card.overrideReasons)
    assert card.source.topic is not None and card.source.url == SOURCES[system][1]


@pytest.mark.parametrize(("system", "category"), CASES, ids=[f"{s} {c}" for s, c in CASES])
def test_rads_card_orders_only_the_tables_interval(system: str, category: str, validate_r4: Any) -> None:
    analysis, _ = rads_case(system, category)
    g = guideline(system, category)
    card = rads_card(report_cards(analysis, patient_id="pat-r3"))
    orders = resources(card, "ServiceRequest")
    assert len(orders) == (1 if g.order else 0)
    if not orders or g.order is None:
        return
    sr = orders[0]
    validate_r4(sr)
    assert (sr["status"], sr["intent"], sr["code"]["text"]) == ("draft", "proposal", g.order.text)
    assert sr["subject"] == {"reference": "Patient/pat-r3"} and DEMO_NOTICE in sr["note"][0]["text"]
    for iso in filter(None, (g.order.earliest, g.order.latest)):
        assert f"P{iso[1:]}" in g.follow_up, (iso, g.follow_up)  # no interval the table does not give
    start, end = (add_duration(WHEN.date(), iso) if iso else WHEN.date() for iso in (g.order.earliest, g.order.latest))
    when = sr.get("occurrencePeriod") or {"start": sr.get("occurrenceDateTime"), "end": sr.get("occurrenceDateTime")}
    if g.order.earliest or g.order.latest:
        assert (when["start"], when["end"]) == (start.isoformat(), end.isoformat())
    else:
        assert "occurrencePeriod" not in sr and "occurrenceDateTime" not in sr


@pytest.mark.parametrize("model", [DEMO, REAL], ids=["demo", "real"])
@pytest.mark.parametrize(("system", "category"), [("LI-RADS", "LR-TR Viable"), ("Lung-RADS", "4X"), ("O-RADS", "0"),
                                                  ("NI-RADS", "2a"), ("BI-RADS", "0"), ("BI-RADS", "6"),
                                                  ("CAD-RADS", "4A"), ("TI-RADS", "TR5"), ("VI-RADS", "4"),
                                                  ("GB-RADS", "3"), ("PI-RADS", "3")])
def test_rads_observation_is_valid_r4_profiled_and_identified(system: str, category: str, model: ModelIdentity,
                                                              validate_r4: Any, profile_problems: Any) -> None:
    analysis, result = rads_case(system, category, model=model)
    card = rads_card(report_cards(analysis, patient_id="pat-r3"))
    [obs] = resources(card, "Observation")
    assert obs == {**observation_for(result, analysis.report), "issued": obs["issued"]}
    validate_r4(obs)
    assert profile_problems(obs) == []
    assert obs["status"] == "preliminary" and obs["category"] == [codes.IMAGING_CATEGORY]
    assert obs["valueCodeableConcept"]["text"] == result.value.label  # type: ignore[union-attr]
    assert obs["subject"] == {"reference": "Patient/pat-r3"} and obs["effectiveDateTime"] == "2025-03-14T08:15:00Z"
    assert "derivedFrom" not in obs, "R4 derivedFrom cannot hold a DiagnosticReport"
    exts = {e["url"]: e for e in obs["extension"]}
    assert exts[codes.EXT_AI_CONFIDENCE]["valueDecimal"] == 0.83
    deriv = exts[codes.EXT_DERIVATION_REFERENCE]["extension"]
    offset, length = deriv[1]["valueInteger"], deriv[2]["valueInteger"]
    assert analysis.report.text()[offset:offset + length] == result.evidence[0].sentence
    assert any(result.evidence[0].sentence in n["text"] for n in obs["note"])
    [performer] = obs["performer"]
    assert model.model_id in performer["display"]
    device = performer["extension"][0]
    assert device["url"] == codes.EXT_ALTERNATE_REFERENCE
    assert device["valueReference"]["identifier"] == {"system": codes.MODEL_SHA256_SYSTEM, "value": model.sha256}
    demo_tag = {"system": codes.RADLITE_CS, "code": codes.DEMO_TAG_CODE, "display": DEMO_NOTICE}
    assert (demo_tag in obs["meta"].get("tag", [])) == model.demo
    assert (DEMO_NOTICE in json.dumps(obs)) == model.demo


def test_no_applicable_rads_gives_no_card_and_an_absent_value(validate_r4: Any, profile_problems: Any) -> None:
    report = report_for("Lung-RADS", "No acute cardiopulmonary process.", procedure="CT CHEST WITH CONTRAST")
    result = task_result(report, TaskName.rads_assignment, RadsValue(applicable=False), [])
    cards = report_cards(Analysis(report=report, manifest_version="r3", results=[result]), patient_id="pat-r3")
    assert not [c for c in cards if c.source.topic and c.source.topic.code == "rads"]
    obs = observation_for(result, report)
    validate_r4(obs)
    assert profile_problems(obs) == []
    assert obs["dataAbsentReason"]["text"] == "No applicable RADS" and "valueCodeableConcept" not in obs


# ---- named clinical situations ---------------------------------------------------------------------


def test_cad_rads_4a_with_modifiers_keeps_the_category_and_names_the_modifiers() -> None:
    analysis, _ = rads_case("CAD-RADS", "4A", impression="CAD-RADS 4A/P2/HRP: severe proximal LAD stenosis.")
    card = rads_card(report_cards(analysis, patient_id="pat-r3"))
    assert card.indicator == "warning" and "invasive coronary angiography" in card.summary.lower()
    detail = card.detail or ""
    assert "**Modifiers stated:** P2, HRP (not part of the category)" in detail
    assert "I+ or HRP favours ICA/intensified therapy" in detail
    assert "Consider invasive coronary angiography or functional assessment." in detail
    assert guideline("CAD-RADS", "4A/P2/HRP").category == "4A"
    plain, _ = rads_case("CAD-RADS", "2", impression="CAD-RADS 2/P1: mild non-obstructive plaque.")
    assert "I+ or HRP" not in (rads_card(report_cards(plain, patient_id="p")).detail or "")


@pytest.mark.parametrize(("size", "indicator", "advice"), [
    (None, "info", "size-dependent: FNA if >=1.5 cm; follow-up if >=1.0 cm"),
    ("0.8 cm", "info", "no further testing; nodule 0.8 cm < 1 cm"),
    ("1.2 cm", "info", "thyroid US in 1 year"),
    ("1.7 cm", "warning", "US-guided thyroid FNA"),
])
def test_ti_rads_tr4_advice_follows_the_measured_size(size: str | None, indicator: str, advice: str) -> None:
    findings = f"Right lobe solid hypoechoic nodule measuring {size}." if size else None
    report = report_for("TI-RADS", "TI-RADS TR4: moderately suspicious nodule.", findings=findings)
    needles = ["TI-RADS TR4: moderately suspicious nodule."] + ([findings] if findings else [])
    result = task_result(report, TaskName.rads_assignment, RadsValue(system="TI-RADS", category="TR4"), needles)
    card = rads_card(report_cards(Analysis(report=report, manifest_version="r3", results=[result]),
                                  patient_id="pat-r3"))
    assert card.indicator == indicator and card.summary.endswith(advice), card.summary


@pytest.mark.parametrize(("value", "label", "snomed"), [
    (NStageValue(involvement=False, stage="N0"), "cN0", "1229967007"),
    (NStageValue(involvement=True, stage="N1"), "cN1", None),
    (NStageValue(involvement=True, stage="N2"), "cN2", None),
    (NStageValue(involvement=True, stage="N3"), "cN3", "1229984001"),
    (NStageValue(involvement=True), None, None),
    (MStageValue(stage="M0"), "cM0", "1229901006"),
    (MStageValue(stage="M1"), "cM1", None),
])
def test_staging_card_and_observation(value: Any, label: str | None, snomed: str | None, validate_r4: Any,
                                      profile_problems: Any) -> None:
    sentence = "Enlarged left supraclavicular lymph node, 1.8 cm short axis."
    report = report_for("Lung-RADS", "Findings as described.", procedure="CT CHEST WITH CONTRAST STAGING",
                        findings=sentence)
    task = TaskName.n_staging if isinstance(value, NStageValue) else TaskName.m_staging
    result = task_result(report, task, value, [sentence])
    [card] = report_cards(Analysis(report=report, manifest_version="r3", results=[result]), patient_id="pat-r3")
    assert card.source.topic and card.source.topic.code == "staging" and card.indicator == "info"
    assert f"> {sentence}" in (card.detail or "") and DEMO_NOTICE in card.source.label
    [obs] = resources(card, "Observation")
    validate_r4(obs)
    assert profile_problems(obs) == []
    assert obs["method"]["coding"][0]["code"] == "897275008"
    values = obs["valueCodeableConcept"]["coding"]
    sct = [c["code"] for c in values if c["system"] == codes.SNOMED]
    assert sct == ([snomed] if snomed else []), "SNOMED CT only where verified"
    if label is None:
        assert values == [codes.local("n-involvement")] and "N+" in card.summary
    else:
        assert obs["valueCodeableConcept"]["text"] == label and value.stage in card.summary


@pytest.mark.parametrize(("term", "certainty", "acr"), [
    ("tension pneumothorax", "definite", "category 1:"), ("intracranial hemorrhage", "definite", "category 1:"),
    ("pulmonary embolism", "uncertain", "pulmonary embolism: category 1-2"),
    ("pneumothorax", "definite", "pneumothorax: category 1-2"), ("free air", "uncertain", "category 1:"),
])
def test_critical_card_definite_and_suspected(term: str, certainty: str, acr: str, validate_r4: Any,
                                              profile_problems: Any) -> None:
    sentence = f"{'Possible' if certainty == 'uncertain' else 'New'} {term}."
    report = report_for("Lung-RADS", sentence, procedure="CT CHEST WITH CONTRAST",
                        findings="Lungs otherwise clear.")
    finding = CriticalFinding(term=term, certainty=certainty,  # type: ignore[arg-type]
                              evidence=[evidence_for(report.text(), sentence)])  # type: ignore[list-item]
    rads = task_result(report, TaskName.rads_assignment, RadsValue(applicable=False), [])
    analysis = Analysis(report=report, manifest_version="r3", results=[rads], facts=ReportFacts(critical=[finding]))
    cards = report_cards(analysis, patient_id="pat-r3")
    card = cards[0]
    assert card.indicator == "critical" and card.source.topic and card.source.topic.code == "critical"
    assert finding.label in card.summary and (("suspected" in card.summary) == (certainty == "uncertain"))
    detail = card.detail or ""
    assert f"> {sentence}" in detail and acr in detail and DEMO_NOTICE in detail
    assert ("hedged wording" in detail) == (certainty == "uncertain")
    [obs] = resources(card, "Observation")
    validate_r4(obs)
    assert profile_problems(obs) == []
    assert obs["interpretation"] == [codes.CRITICAL_INTERPRETATION]
    assert obs["valueCodeableConcept"]["text"] == finding.label
    assert any("Suspected" in n["text"] for n in obs["note"]) == (certainty == "uncertain")
    assert obs["performer"][0]["extension"][0]["valueReference"]["identifier"]["value"] == "rules"


def test_laterality_discrepancy_card_quotes_the_other_side() -> None:
    report = report_for("BI-RADS", "Suspicious right breast mass at 10 o'clock. BI-RADS 4B.",
                        procedure="US BREAST LEFT LIMITED", findings="Right breast: 11 mm irregular hypoechoic mass.")
    analysis = Analysis(report=report, manifest_version="r3", facts=ReportFacts(laterality="right"))
    [card] = report_cards(analysis, patient_id="pat-r3")
    assert card.indicator == "warning" and card.source.topic and card.source.topic.code == "laterality"
    assert "LEFT" in card.summary and "RIGHT" in card.summary and summary_length(card.summary) < 140
    assert "> Suspicious right breast mass at 10 o'clock." in (card.detail or "")
    assert empty_paths(wire(card)) == []


def test_report_follow_up_card_orders_the_reports_interval(validate_r4: Any, profile_problems: Any) -> None:
    sentence = "Recommend follow-up chest CT in 3 months."
    report = report_for("Lung-RADS", sentence, procedure="CT CHEST WITH CONTRAST",
                        findings="Right middle lobe 7 mm ground-glass nodule.")
    follow = FollowUp(text=sentence, procedure="CT chest", interval="P3M",
                      evidence=[evidence_for(report.text(), sentence)])  # type: ignore[list-item]
    rads = task_result(report, TaskName.rads_assignment, RadsValue(applicable=False), [])
    analysis = Analysis(report=report, manifest_version="r3", results=[rads], facts=ReportFacts(follow_ups=[follow]))
    [card] = report_cards(analysis, patient_id="pat-r3")
    assert card.source.topic and card.source.topic.code == "follow-up" and card.indicator == "info"
    assert "ct chest in 3 months" in card.summary.lower() and f"> {sentence}" in (card.detail or "")
    [sr] = resources(card, "ServiceRequest")
    validate_r4(sr)
    assert sr["occurrenceDateTime"] == "2025-06-14"
    [obs] = resources(card, "Observation")
    validate_r4(obs)
    assert profile_problems(obs) == []
    assert obs["component"][1]["valueQuantity"]["code"] == "mo"


def test_a_claim_without_evidence_says_so() -> None:
    report = report_for("PI-RADS", "PI-RADS 4.")
    result = TaskResult(task=TaskName.rads_assignment, value=RadsValue(system="PI-RADS", category="4"),
                        confidence=0.61, evidence=[], model=REAL)
    card = rads_card(report_cards(Analysis(report=report, manifest_version="r3", results=[result]),
                                  patient_id="pat-r3"))
    assert NO_EVIDENCE in (card.detail or "") and "confidence 0.61" in (card.detail or "")


@pytest.mark.parametrize("system", ["VI-RADS", "GB-RADS"])
def test_non_acr_systems_are_not_linked_to_an_acr_page(system: str) -> None:
    analysis, _ = rads_case(system, "4")
    card = rads_card(report_cards(analysis, patient_id="pat-r3"))
    assert card.source.url is None and "acr.org" not in json.dumps(wire(card))


def test_every_card_and_resource_of_a_demo_analysis_is_marked(validate_r4: Any) -> None:
    """One busy report: RADS with a report recommendation, a critical result, staging; demo everywhere."""
    impression = "Lung-RADS 4B: 16 mm spiculated right upper lobe nodule."
    rec = "Recommend PET/CT."
    report = report_for("Lung-RADS", f"{impression} {rec}",
                        findings="Small left pneumothorax. Enlarged right hilar lymph node.")
    text = report.text()
    results = [task_result(report, TaskName.rads_assignment, RadsValue(system="Lung-RADS", category="4B"), [impression]),
               task_result(report, TaskName.n_staging, NStageValue(involvement=True, stage="N1"),
                           ["Enlarged right hilar lymph node."])]
    facts = ReportFacts(critical=[CriticalFinding(term="pneumothorax", evidence=[evidence_for(text, "Small left")])],  # type: ignore[list-item]
                        follow_ups=[FollowUp(text=rec, procedure="PET/CT", evidence=[evidence_for(text, rec)])])  # type: ignore[list-item]
    analysis = Analysis(report=report, manifest_version="r3", results=results, facts=facts)
    cards = report_cards(analysis, patient_id="pat-r3")
    assert [c.indicator for c in cards] == ["critical", "warning", "info"]
    assert "> Recommend PET/CT." in (rads_card(cards).detail or "")  # quoted on the RADS card, not a second card
    for card in cards:
        assert DEMO_NOTICE in card.source.label and DEMO_NOTICE in (card.detail or "")
        for obs in resources(card, "Observation"):
            assert obs["meta"]["tag"][0]["code"] == codes.DEMO_TAG_CODE
    for obs in observations_for(analysis):
        validate_r4(obs)
        assert any(DEMO_NOTICE in n["text"] for n in obs["note"])
