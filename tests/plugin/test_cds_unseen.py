"""CDS Hooks 2.0 requests the dev set does not hold, shaped as real EHRs send them.

Real app, real demo model, real SQLite, and a real FHIR server on loopback (conftest_cds)
for the prefetch the client leaves out. Every 200 answer is checked card by card against
the spec (§1.6): summary < 140, indicator, source.label, uuid (we take feedback), well-formed
suggestions, actions and links, and the demo-model notice on every card a demo model had
a hand in.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest_cds import FhirServer, LoopbackServer, cds_settings, outcome, rows, serve_fhir
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters import fhir
from adapters.cds.models import CdsResponse, empty_paths, summary_length
from models.types import DEMO_NOTICE, TaskName, TaskRequest
from plugin.app import create_app
from plugin.storage import queries
from plugin.storage.db import session_scope
from plugin.storage.tables import AuditEvent, CardServed, Feedback, InboundMessage, Report

REVIEW = "/cds-services/radlite-report-review"
ORDER = "/cds-services/radlite-imaging-order"
PATIENT = "unseen-pat-42"
REPORT_TEXT = ("EXAM: CT CHEST LOW DOSE SCREENING\n\nFINDINGS:\nSolid nodule in the right upper lobe measuring "
               "9 mm, new since the prior screening.\nNo lymphadenopathy.\n\nIMPRESSION:\nNew 9 mm solid right "
               "upper lobe nodule. Lung-RADS 4A: suspicious. Low-dose chest CT in 3 months is recommended.")


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    app = create_app(cds_settings(sqlite_url, hook_budget_seconds=0.1), ensemble=ensemble)
    with TestClient(app) as c:
        yield c


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def lung_report(rid: str = "unseen-dr-1", **extra: Any) -> dict[str, Any]:
    dr: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": rid, "status": "final",
        "category": [{"coding": [{"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "CT Chest"}],
                 "text": "CT CHEST LOW DOSE SCREENING"},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": "2025-05-06T08:30:00-04:00", "issued": "2025-05-06T10:02:11-04:00",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "ACSN"}]}, "value": "UNSEEN-ACC-1"}],
        "presentedForm": [{"contentType": "text/html; charset=utf-8", "data": b64(
            "<html><body><p><b>FINDINGS:</b><br>Solid nodule in the right upper lobe measuring 9&nbsp;mm, new "
            "since the prior screening.<br>No lymphadenopathy.</p><p><b>IMPRESSION:</b><br>New 9 mm solid right "
            "upper lobe nodule. Lung-RADS 4A: suspicious. Low-dose chest CT in 3 months is recommended.</p>"
            "</body></html>")}],
    }
    dr.update(extra)
    return dr


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"https://ehr.example/fhir/{r['resourceType']}/{r.get('id', 'x')}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


def hook(name: str = "patient-view", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hookInstance": str(uuid.uuid4()), "hook": name, "fhirServer": "https://ehr.example/fhir",
        "context": {"userId": "PractitionerRole/unseen-role-7", "patientId": PATIENT},
        "prefetch": {"patient": {"resourceType": "Patient", "id": PATIENT},
                     "reports": searchset(lung_report())},
    }
    body.update(extra)
    return body


def auth(token: str = "unseen-token-1", **extra: Any) -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 270,
            "scope": "user/DiagnosticReport.read user/Patient.read", "subject": "radlite-cds", **extra}


def image_order(rid: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "ServiceRequest", "id": rid, "status": "draft", "intent": "order",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}]}],
            "code": {"text": text}, "subject": {"reference": f"Patient/{PATIENT}"},
            "occurrenceDateTime": "2025-08-06", **extra}


def draft_orders(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}



def seed_stated_rads(client: TestClient, request: dict[str, Any]) -> None:
    """Store the rules engine's reading of the stated RADS category, as an earlier analysis would have."""
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    for report in fhir.reports_from_resource(request["prefetch"]["reports"]):
        stated = pipeline.ensemble.rules.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
        assert stated is not None
        with session_scope(pipeline.sessions) as s:
            row = queries.get_or_create_analysis(s, content_hash=report.content_hash,
                                                 manifest_version=pipeline.manifest_version)
            queries.save_result(s, analysis_id=row.id, result=stated)


def spec_cards(response: Any) -> list[dict[str, Any]]:
    """A 200 CDS Hooks response whose every card is well formed per CDS Hooks 2.0 §1.6."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) <= {"cards", "systemActions"} and isinstance(body["cards"], list)
    CdsResponse.model_validate(body)
    assert empty_paths(body) == []
    for card in body["cards"]:
        assert isinstance(card["summary"], str) and 0 < summary_length(card["summary"]) < 140
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]
        uuid.UUID(card["uuid"])  # we take feedback, so every card has its uuid
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any")
            for s in card["suggestions"]:
                assert s["label"] and uuid.UUID(s["uuid"])
                for a in s.get("actions", []):
                    assert a["type"] in ("create", "update", "delete") and a["description"]
                    if a["type"] == "delete":
                        assert "/" in a["resourceId"] and "resource" not in a
                    else:
                        assert a["resource"]["resourceType"]
        for reason in card.get("overrideReasons", []):
            assert reason["code"] and reason["system"] and reason["display"]
        for link in card.get("links", []):
            assert link["label"] and link["type"] in ("absolute", "smart")
            assert urlsplit(link["url"]).scheme in ("http", "https") and urlsplit(link["url"]).netloc
            assert "appContext" not in link or link["type"] == "smart"
        # the demo-model notice travels with every card a demo model had a hand in
        assert (DEMO_NOTICE in card.get("detail", "")) == (DEMO_NOTICE in card["source"]["label"])
    return body["cards"]



# ---- discovery ---------------------------------------------------------------------------------


def test_discovery_shape_is_exactly_the_spec(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["services"] and empty_paths(body) == []
    allowed = {"hook", "title", "description", "id", "prefetch", "usageRequirements", "extension"}
    for service in body["services"]:
        assert set(service) <= allowed and {"hook", "description", "id"} <= set(service)
        assert service["id"].replace("-", "").isalnum()
        for template in service.get("prefetch", {}).values():
            # relative FHIR URLs; tokens only from root-level context fields (spec §1.4)
            assert not template.startswith(("/", "http")) and "{{context.patientId}}" in template
            assert "{{context.draftOrders" not in template and "{{context.selections" not in template
        for key in service.get("extension", {}):
            assert "." in key  # reverse-domain names
    assert {(s["id"], s["hook"]) for s in body["services"]} == {
        ("radlite-report-review", "patient-view"), ("radlite-imaging-order", "order-select"),
        ("radlite-imaging-order", "order-sign")}


# ---- patient-view ------------------------------------------------------------------------------


def test_patient_view_from_html_report_gives_spec_cards_with_links_and_feedback(client: TestClient) -> None:
    req = hook()
    seed_stated_rads(client, req)
    cards = spec_cards(client.post(REVIEW, json=req))
    rads = [c for c in cards if c["source"]["topic"]["code"] == "rads"]
    assert rads and "Lung-RADS 4A" in rads[0]["summary"] and rads[0]["indicator"] == "warning"
    assert any(link["url"] == "https://ehr.example/fhir/DiagnosticReport/unseen-dr-1" for link in rads[0]["links"])
    assert all(c["uuid"] in {r.card_uuid for r in rows(client, CardServed)} for c in cards)
    # feedback on that card: the shapes an EHR sends (CDS Hooks 2.0 §1.7)
    card = rads[0]
    items = [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2025-05-06T14:10:02.315Z",
              "overrideReason": {"reason": card["overrideReasons"][0]}},
             {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2025-05-06T14:11:00-04:00",
              "overrideReason": {"userComment": "CT already booked for August"}},
             {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2025-05-06T14:12:00Z",
              "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}]
    response = client.post(REVIEW + "/feedback", json={"feedback": items})
    assert response.status_code == 200 and response.json() == {}
    assert sorted(f.outcome for f in rows(client, Feedback)) == ["accepted", "overridden", "overridden"]
    events = [e for e in rows(client, AuditEvent) if e.event_type == "feedback.received"]
    assert len(events) == 3 and all(e.patient_id == PATIENT for e in events)


def test_null_prefetch_is_no_data_and_nothing_is_fetched(client: TestClient) -> None:
    server = FhirServer(resources={"DiagnosticReport": [lung_report()]})
    for fake in serve_fhir(server):
        req = hook(fhirServer=fake.base, fhirAuthorization=auth())
        req["prefetch"]["reports"] = None
        assert spec_cards(client.post(REVIEW, json=req)) == []
        assert fake.seen_paths == [] and fake.seen_auth == []


def test_absent_prefetch_is_fetched_and_report_text_by_url_is_read(client: TestClient) -> None:
    """Prefetch left out entirely; the EHR's reports give their text only as a Binary url, as most do."""
    html = ("<p>FINDINGS:<br>Solid 9 mm nodule in the right upper lobe, new.</p>"
            "<p>IMPRESSION:<br>Lung-RADS 4A. Low-dose chest CT in 3 months.</p>")
    by_url = lung_report("unseen-dr-url", presentedForm=[
        {"contentType": "application/pdf", "url": "Binary/unseen-pdf"},
        {"contentType": "text/html", "url": "Binary/unseen-html", "title": "Report"}])
    binary = {"resourceType": "Binary", "id": "unseen-html", "contentType": "text/html", "data": b64(html)}
    server = FhirServer(resources={"DiagnosticReport": [by_url], "Binary": [binary],
                                   "Patient": [{"resourceType": "Patient", "id": PATIENT}]})
    for fake in serve_fhir(server):
        req = hook(fhirServer=fake.base + "/", fhirAuthorization=auth("unseen-token-2", token_type="bearer"))
        del req["prefetch"]
        cards = spec_cards(client.post(REVIEW, json=req))
        assert cards  # the report was read (its analysis is served or in progress)
        assert set(fake.seen_auth) == {"Bearer unseen-token-2"}
        assert any(p.startswith(f"/DiagnosticReport?patient={PATIENT}") for p in fake.seen_paths)
        assert "/Binary/unseen-pdf" not in "".join(fake.seen_paths)
    stored = rows(client, Report)
    assert [r.report_id for r in stored] == ["unseen-dr-url"]
    assert all(b"unseen-token-2" not in r.raw for r in rows(client, InboundMessage))


def test_prefetched_operation_outcome_is_fetched_again(client: TestClient) -> None:
    server = FhirServer(resources={"DiagnosticReport": [lung_report()]}, page_size=5)
    for fake in serve_fhir(server):
        req = hook(fhirServer=fake.base, fhirAuthorization=auth())
        req["prefetch"]["reports"] = {"resourceType": "OperationOutcome",
                                      "issue": [{"severity": "error", "code": "timeout"}]}
        assert spec_cards(client.post(REVIEW, json=req))
        assert [p for p in fake.seen_paths if p.startswith("/DiagnosticReport")]


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_fhir_server_error_is_412_naming_the_key(client: TestClient, status: int) -> None:
    async def refuse(_request: Request) -> JSONResponse:
        return JSONResponse({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "security"}]},
                            status_code=status, media_type="application/fhir+json")

    app = Starlette(routes=[Route("/{path:path}", refuse)])
    with LoopbackServer(app) as server:
        req = hook(fhirServer=server.base, fhirAuthorization=auth("unseen-token-3"))
        del req["prefetch"]["reports"]
        body = outcome(client.post(REVIEW, json=req), 412)
    assert body["issue"][0]["code"] == "processing" and "reports" in body["issue"][0]["diagnostics"]
    assert "unseen-token-3" not in str(body)
    assert rows(client, CardServed) == []


def test_no_relevant_reports_gives_empty_cards(client: TestClient) -> None:
    lab = {"resourceType": "DiagnosticReport", "id": "lab-1", "status": "final",
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": "58410-2", "display": "CBC panel"}]},
           "subject": {"reference": f"Patient/{PATIENT}"}, "result": [{"reference": "Observation/hgb-1"}]}
    voided = lung_report("unseen-dr-void", status="entered-in-error")
    cancelled = lung_report("unseen-dr-cancel", status="cancelled")
    req = hook()
    req["prefetch"]["reports"] = searchset(lab, voided, cancelled)
    assert spec_cards(client.post(REVIEW, json=req)) == []
    assert client.post(REVIEW, json=hook(prefetch={"reports": {"resourceType": "Bundle", "type": "searchset",
                                                               "total": 0}})).json() == {"cards": []}


def test_unknown_fields_and_a_guid_spelled_hook_instance_are_tolerated(client: TestClient) -> None:
    """Unknown fields are allowed by the spec; a null optional field is read as absent (Postel), not refused.
    hookInstance must be a UUID (§1.3; test_http_round4 refuses other values), in any letter case."""
    req = hook(hookInstance="7D3E4C1A-0B2F-4E5D-9C8B-1A2B3C4D5E6F", extension={"com.example.ehr.session": "abc"},
               fhirAuthorization=auth(patient=PATIENT, extension={"com.example": 1}))
    req["context"].update(encounterId="unseen-enc-1", **{"com.example.tab": "summary"})
    req["prefetch"]["encounter"] = {"resourceType": "Encounter", "id": "unseen-enc-1", "status": "in-progress",
                                    "class": {"code": "AMB"}}
    assert spec_cards(client.post(REVIEW, json=req))
    [kept] = [r for r in rows(client, InboundMessage) if r.channel == "cds-hook"]
    assert kept.control_id == "7D3E4C1A-0B2F-4E5D-9C8B-1A2B3C4D5E6F" and b"unseen-token-1" not in kept.raw
    assert spec_cards(client.post(REVIEW, json=hook(fhirServer=None)))


# ---- errors ------------------------------------------------------------------------------------


def test_unknown_service_is_404_with_operation_outcome(client: TestClient) -> None:
    body = outcome(client.post("/cds-services/radlite-unknown", json=hook()), 404)
    assert body["issue"][0]["code"] == "not-found"
    outcome(client.post("/cds-services/radlite-unknown/feedback", json={"feedback": []}), 404)


@pytest.mark.parametrize(("edit", "named"), [
    (lambda r: r["context"].pop("patientId"), "patientId"),
    (lambda r: r["context"].pop("userId"), "userId"),
    (lambda r: r.pop("context"), "context"),
    (lambda r: r.pop("hookInstance"), "hookInstance"),
    (lambda r: r.update(context="Patient/unseen-pat-42"), "context"),
    (lambda r: r.update(fhirServer="urn:ehr:fhir"), "fhirServer"),
    (lambda r: r.update(fhirAuthorization=auth()) or r.pop("fhirServer"), "fhirAuthorization"),
    (lambda r: r.update(fhirAuthorization={"token_type": "Bearer"}), "access_token"),
])
def test_malformed_requests_are_400_naming_the_field_and_kept(client: TestClient, edit: Any, named: str) -> None:
    req = hook()
    edit(req)
    body = outcome(client.post(REVIEW, json=req), 400)
    assert named in body["issue"][0]["diagnostics"]
    [kept] = [r for r in rows(client, InboundMessage) if r.channel == "cds-hook"]
    assert kept.status == "rejected" and kept.error
    assert rows(client, CardServed) == []


def test_hook_the_service_does_not_serve_is_400(client: TestClient) -> None:
    body = outcome(client.post(REVIEW, json=hook("encounter-discharge")), 400)
    assert body["issue"][0]["code"] == "not-supported"
    req = hook("order-sign")
    req["context"]["draftOrders"] = draft_orders(image_order("o1", "CT CHEST"))
    outcome(client.post(REVIEW, json=req), 400)


def test_bodies_that_are_not_a_request_object(client: TestClient) -> None:
    for content in (b"", b"[]", b"null", b"\xff\xfe{", b'{"hook": "patient-view",'):
        outcome(client.post(REVIEW, content=content, headers={"Content-Type": "application/json"}), 400)


def test_bad_feedback_is_400_with_operation_outcome(client: TestClient) -> None:
    card = str(uuid.uuid4())
    for bad in ({"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2025-05-06T14:12:00Z"}]},
                {"feedback": [{"card": card, "outcome": "overridden"}]},
                {"feedback": [{"card": card, "outcome": "dismissed", "outcomeTimestamp": "2025-05-06T14:12:00Z"}]},
                {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2025-05-06T14:12:00Z",
                               "overrideReason": {}}]},
                {"card": card, "outcome": "overridden", "outcomeTimestamp": "2025-05-06T14:12:00Z"}):
        outcome(client.post(REVIEW + "/feedback", json=bad), 400)
    assert rows(client, Feedback) == []
    # feedback about a card we never served is kept (idempotently), not refused
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2025-05-06T14:12:00Z"}
    for _ in range(2):
        assert client.post(ORDER + "/feedback", json={"feedback": [item]}).json() == {}
    assert len(rows(client, Feedback)) == 1


# ---- order-select / order-sign ---------------------------------------------------------------


def test_order_select_with_several_draft_orders_answers_for_the_selection(client: TestClient) -> None:
    chest = image_order("draft-chest", "CT CHEST LOW DOSE (3-month follow-up)")
    head = image_order("draft-head", "MRI BRAIN WITHOUT CONTRAST")
    med = {"resourceType": "MedicationRequest", "id": "draft-med", "status": "draft", "intent": "order",
           "medicationCodeableConcept": {"text": "Amoxicillin 500 mg"}, "subject": {"reference": f"Patient/{PATIENT}"}}
    req = hook("order-select")
    req["context"].update(draftOrders=draft_orders(med, head, chest), selections=["ServiceRequest/draft-chest"])
    seed_stated_rads(client, req)
    cards = spec_cards(client.post(ORDER, json=req))
    assert [c for c in cards if c["source"]["topic"]["code"] == "prior-imaging"]

    req = hook("order-select")  # only the brain MRI selected: the chest CT is no prior for it
    req["context"].update(draftOrders=draft_orders(med, head, chest), selections=["ServiceRequest/draft-head"])
    cards = spec_cards(client.post(ORDER, json=req))
    assert not [c for c in cards if c["source"]["topic"]["code"] == "prior-imaging"]


def test_order_sign_flags_a_duplicate_among_several_orders(client: TestClient) -> None:
    repeat = image_order("draft-repeat", "CT CHEST WITHOUT CONTRAST", occurrenceDateTime="2025-05-13")
    other = image_order("draft-knee", "XR KNEE LEFT 3 VIEWS", occurrenceDateTime="2025-05-13")
    unsigned = {"fullUrl": "urn:uuid:0f9b0a56-93a8-4b5b-bb39-4c1a5c7b5e11",
                "resource": {k: v for k, v in image_order("x", "US ABDOMEN").items() if k != "id"}}
    req = hook("order-sign")
    req["context"]["draftOrders"] = draft_orders(other, repeat)
    req["context"]["draftOrders"]["entry"].append(unsigned)
    seed_stated_rads(client, req)
    cards = spec_cards(client.post(ORDER, json=req))
    dup = [c for c in cards if c["source"]["topic"]["code"] == "duplicate-imaging"]
    assert len(dup) == 1 and dup[0]["indicator"] == "warning"
    [action] = dup[0]["suggestions"][0]["actions"]
    assert action == {"type": "delete", "resourceId": "ServiceRequest/draft-repeat",
                      "description": action["description"]}


def test_order_hooks_need_their_context(client: TestClient) -> None:
    req = hook("order-select")
    req["context"]["draftOrders"] = draft_orders(image_order("o1", "CT CHEST"))
    assert "selections" in outcome(client.post(ORDER, json=req), 400)["issue"][0]["diagnostics"]
    req = hook("order-sign")
    req["context"]["draftOrders"] = image_order("o1", "CT CHEST")  # a resource, not a Bundle
    assert "draftOrders" in outcome(client.post(ORDER, json=req), 400)["issue"][0]["diagnostics"]
    req = copy.deepcopy(req)
    req["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection"}  # nothing drafted
    cards = spec_cards(client.post(ORDER, json=req))
    assert not [c for c in cards if c["source"]["topic"]["code"] in ("prior-imaging", "duplicate-imaging")]
