"""CDS Hooks wire types, the guideline table and cards from an Analysis (no model, no database)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from adapters import fhir
from adapters.cds.cards import add_duration, order_cards, ordered_side, pending_card, report_cards
from adapters.cds.guidelines import GUIDELINES, guideline_for, normalise_category
from adapters.cds.models import (
    SUMMARY_LIMIT,
    Card,
    CdsRequest,
    CdsResponse,
    FeedbackItem,
    empty_paths,
    parse_context,
    summary_length,
    truncate_summary,
    wire,
)
from models.types import (
    DEMO_NOTICE,
    Analysis,
    CriticalFinding,
    Evidence,
    FollowUp,
    ModelIdentity,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskResult,
)

DEMO = ModelIdentity(model_id="demo", sha256="b179c9523d0e" * 4, backend="llama_cpp", role="extraction", demo=True)
SOURCE = {"label": "RadLite CDS"}


def dev_report(dev: Path, name: str) -> Any:
    request = json.loads((dev / "cds" / name).read_text())
    return request, fhir.reports_from_resource(request["prefetch"]["reports"])[0]


def rads_analysis(report: Any, system: str, category: str, *, critical: bool = False) -> Analysis:
    result = TaskResult(task=TaskName.rads_assignment, value=RadsValue(system=system, category=category),
                        confidence=0.9, evidence=[Evidence(sentence=f"{system} {category}: assessment.")], model=DEMO,
                        decided_by="model+rules")  # stated in the report: the radiologist's, whatever the study
    facts = ReportFacts(critical=[CriticalFinding(term="pneumothorax", evidence=[Evidence(sentence="Pneumothorax.")])]
                        if critical else [],
                        follow_ups=[FollowUp(text="Recommend follow-up in 6 months.", interval="P6M")])
    return Analysis(report=report, manifest_version="t", results=[result], facts=facts)


def test_every_guideline_row_is_complete() -> None:
    assert len({s for s, _ in GUIDELINES}) == 10
    for (system, category), g in GUIDELINES.items():
        assert g.meaning and g.management and g.follow_up and g.indicator in ("info", "warning"), (system, category)
        if g.order is not None:
            start = date(2025, 1, 31)
            for iso in (g.order.earliest, g.order.latest):
                due = start if iso is None else add_duration(start, iso)
                assert iso is None or due > start, (system, category, iso)  # calendar arithmetic, not a timing


@pytest.mark.parametrize(("system", "category", "indicator"), [
    ("BI-RADS", "4", "warning"), ("BI-RADS", "5", "warning"), ("BI-RADS", "3", "info"), ("LI-RADS", "LR-5", "warning"),
    ("Lung-RADS", "4A", "warning"), ("Lung-RADS", "4B", "warning"), ("PI-RADS", "4", "warning"),
    ("PI-RADS", "5", "warning"), ("PI-RADS", "3", "info"), ("CAD-RADS", "2", "info"),
])
def test_indicators_follow_the_table(system: str, category: str, indicator: str) -> None:
    g = guideline_for(system, category)
    assert g is not None and g.indicator == indicator


def test_category_spellings_are_normalised() -> None:
    assert normalise_category("LI-RADS", "LI-RADS 5") == "LR-5" == normalise_category("LI-RADS", "LR5")
    assert normalise_category("TI-RADS", "4") == "TR4"
    assert normalise_category("NI-RADS", "2A") == "2a"
    assert normalise_category("CAD-RADS", "4a/P2") == "4A"
    assert guideline_for("birads", "4b") is not None and guideline_for("Lung-RADS", "9") is None


def test_ti_rads_management_depends_on_size() -> None:
    assert guideline_for("TI-RADS", "TR4", size_cm=1.6).indicator == "warning"  # type: ignore[union-attr]
    small = guideline_for("TI-RADS", "TR4", size_cm=0.8)
    assert small is not None and small.indicator == "info" and small.order is None


def test_add_duration_clamps_month_ends() -> None:
    assert add_duration(date(2025, 8, 31), "P6M") == date(2026, 2, 28)
    assert add_duration(date(2025, 3, 18), "P1Y") == date(2026, 3, 18)


@pytest.mark.parametrize("text", ["x" * 300, "é" * 200, "e\u0301" * 150, "😀" * 100, "word " * 60])
def test_summary_truncation_is_unicode_safe(text: str) -> None:
    out = truncate_summary(text)
    assert summary_length(out) < SUMMARY_LIMIT and out.endswith("…")
    Card(summary=out, indicator="info", source=SOURCE)  # type: ignore[arg-type]


def test_card_invariants_are_enforced() -> None:
    with pytest.raises(ValidationError):  # cds-resp-6
        Card(summary="s", indicator="info", source=SOURCE, suggestions=[{"label": "x"}])  # type: ignore[arg-type, list-item]
    with pytest.raises(ValidationError):  # cds-resp-1
        Card(summary="s", indicator="info", source=SOURCE, selectionBehavior="at-most-one",  # type: ignore[arg-type]
             suggestions=[{"label": "a", "isRecommended": True}, {"label": "b", "isRecommended": True}])  # type: ignore[list-item]
    with pytest.raises(ValidationError):  # cds-resp-2
        Card(summary="s", indicator="info", source=SOURCE, selectionBehavior="any",  # type: ignore[arg-type]
             suggestions=[{"label": "a", "actions": [{"type": "delete", "description": "d"}]}])  # type: ignore[list-item]
    with pytest.raises(ValidationError):  # cds-resp-4
        Card(summary="s", indicator="info", source=SOURCE, overrideReasons=[{"code": "c", "system": "s"}])  # type: ignore[arg-type, list-item]
    with pytest.raises(ValidationError):  # summary < 140
        Card(summary="x" * 140, indicator="info", source=SOURCE)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):  # no empty strings
        Card(summary="", indicator="info", source=SOURCE)  # type: ignore[arg-type]


def test_request_and_feedback_rules() -> None:
    with pytest.raises(ValidationError):  # cds-r-1
        CdsRequest.model_validate({"hook": "patient-view", "hookInstance": "x", "context": {},
                                   "fhirAuthorization": {"access_token": "t", "token_type": "Bearer",
                                                         "expires_in": 1, "scope": "s", "subject": "c"}})
    with pytest.raises(ValidationError):
        parse_context("order-sign", {"userId": "Practitioner/1", "patientId": "p"})
    with pytest.raises(ValidationError):  # cds-fb-3
        FeedbackItem.model_validate({"card": "c", "outcome": "overridden", "outcomeTimestamp": "2025-01-01T00:00:00Z",
                                     "overrideReason": {}})
    with pytest.raises(ValidationError):  # cds-fb-1
        FeedbackItem.model_validate({"card": "c", "outcome": "ignored", "outcomeTimestamp": "2025-01-01T00:00:00Z"})


def test_report_cards_are_valid_and_carry_the_basis(dev: Path) -> None:
    _req, report = dev_report(dev, "order-sign-01.json")
    cards = report_cards(rads_analysis(report, "BI-RADS", "4B", critical=True), patient_id=report.patient_id,
                         fhir_server="https://fhir.synthetic.example/r4")
    assert [c.indicator for c in cards][:2] == ["critical", "warning"]
    body = wire(CdsResponse(cards=cards))
    assert empty_paths(body) == []
    for card in body["cards"]:
        assert DEMO_NOTICE in card["detail"] and DEMO_NOTICE in card["source"]["label"]
        assert card["overrideReasons"] and card["uuid"]
    rads = body["cards"][1]
    assert "BI-RADS category 4B" in json.dumps(rads) and "biopsy" in rads["detail"].lower()
    # Issue 2: summary under 140 characters; the detail quotes the evidence and names the model and its file.
    assert all(len(card["summary"]) < 140 for card in body["cards"])
    assert "> BI-RADS 4B: assessment." in rads["detail"]
    assert DEMO.model_id in rads["detail"] and DEMO.sha256[:12] in rads["detail"]
    assert "> Pneumothorax." in body["cards"][0]["detail"]
    sr = rads["suggestions"][0]["actions"][0]["resource"]
    assert sr["resourceType"] == "ServiceRequest" and sr["subject"]["reference"] == f"Patient/{report.patient_id}"
    assert any(link["url"].endswith("/DiagnosticReport/syn-dr-d-003") for link in rads["links"])


def test_report_text_cannot_inject_markdown(dev: Path) -> None:
    _req, report = dev_report(dev, "order-sign-01.json")
    analysis = rads_analysis(report, "BI-RADS", "3")
    analysis.results[0].evidence[0] = Evidence(sentence="[click](https://evil.example) <img src=x> **bold**")
    detail = report_cards(analysis, patient_id="p")[0].detail or ""
    assert "\\[click\\](" in detail and "\\<img" in detail and "\\*\\*bold" in detail  # all shown literally
    assert "[click](" not in detail.replace("\\[click\\](", "")


def test_order_cards_prior_and_duplicate(dev: Path) -> None:
    req, report = dev_report(dev, "order-sign-03.json")
    orders = [e["resource"] for e in req["context"]["draftOrders"]["entry"]]
    analysis = Analysis(report=report, manifest_version="t")
    out = order_cards(orders, [analysis], patient_id=report.patient_id)
    topics = [cf.card.source.topic.code for cf in out if cf.card.source.topic]
    assert topics.count("duplicate-imaging") == 1 and "prior-imaging" in topics
    CdsResponse(cards=[cf.card for cf in out])
    unrelated = [dict(orders[0], code={"text": "MRI BRAIN WO CONTRAST"})]
    assert order_cards(unrelated, [analysis], patient_id=report.patient_id) == []


def test_pending_card() -> None:
    card = pending_card(2, demo=True)
    assert card.indicator == "info" and empty_paths(wire(card)) == []


def test_summaries_read_well_for_benign_and_acronym_led_advice(dev: Path) -> None:
    """No bare "none" as the advice, and an order text such as "US-guided FNA" keeps its acronym."""
    _req, report = dev_report(dev, "order-sign-01.json")
    benign = report_cards(rads_analysis(report, "GB-RADS", "2"), patient_id=report.patient_id)
    summary = next(c.summary for c in benign if "GB-RADS" in c.summary)
    assert not summary.rstrip().endswith("none") and "no follow-up" in summary
    analysis = rads_analysis(report, "TI-RADS", "TR4")
    analysis.results[0].evidence[0] = Evidence(sentence="Right lobe nodule, 2.1 x 1.6 cm, TR4.")
    thyroid = report_cards(analysis, patient_id=report.patient_id)
    summary = next(c.summary for c in thyroid if "TI-RADS" in c.summary)
    assert "US-guided" in summary and "uS" not in summary, summary


@pytest.mark.parametrize(("procedure", "side"), [
    ("MG DIAGNOSTIC LEFT", "left"), ("US BREAST LT", "left"), ("XR KNEE RT 3 VIEWS", "right"),
    ("MG SCREENING BILATERAL", "bilateral"), ("XR L SPINE 2V", None), ("CT CHEST", None),
    ("US RIGHT AND LEFT KIDNEY", None), ("Left and right breast MRI", None),
])
def test_ordered_side_reads_the_procedure(procedure: str, side: str | None) -> None:
    assert ordered_side(procedure) == side


def _sided_analysis(procedure: str, found: str | None) -> Analysis:
    from models.types import RadiologyReport

    report = RadiologyReport(report_id="lat-1", modality="US", procedure=procedure,
                             findings="Right breast: 9 mm irregular hypoechoic mass at 10 o'clock.",
                             impression="Suspicious right breast mass. BI-RADS 4. Recommend biopsy.")
    return Analysis(report=report, manifest_version="t", results=[], facts=ReportFacts(laterality=found))


def test_a_finding_on_the_other_side_than_ordered_gives_a_warning_card() -> None:
    cards = report_cards(_sided_analysis("US BREAST LEFT LIMITED", "right"), patient_id="p1")
    lateral = [c for c in cards if c.source.topic and c.source.topic.code == "laterality"]
    assert len(lateral) == 1
    card = lateral[0]
    assert card.indicator == "warning" and "LEFT" in card.summary and "RIGHT" in card.summary
    assert "Suspicious right breast mass" in card.detail


@pytest.mark.parametrize(("procedure", "found"), [
    ("US BREAST RIGHT", "right"), ("US BREAST BILATERAL", "right"), ("US BREAST LEFT", "bilateral"),
    ("US BREAST LEFT", None), ("US BREAST", "right"),
])
def test_no_laterality_card_when_sides_agree_or_are_not_both_single(procedure: str, found: str | None) -> None:
    cards = report_cards(_sided_analysis(procedure, found), patient_id="p1")
    assert not [c for c in cards if c.source.topic and c.source.topic.code == "laterality"]
