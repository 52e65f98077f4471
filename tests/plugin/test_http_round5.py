"""Round 5 of the HTTP doors: CDS Hooks 2.0 and FHIR R4 requests none of the earlier rounds sent.

fhirAuthorization in its spec shapes (and missing), prefetch partly given so the rest must be read
from fhirServer (a real FHIR stub on loopback that serves Binary bytes, Observations and searches),
report renditions in several media types and charsets, every hook the discovery document
advertises with its hooks-lib context, feedback items as CDS Hooks 2.0 §1.7 writes them, JWT key
rotation and jku handling (§1.8), and the FHIR door's `_format` / Binary handling. Real app, demo
model, SQLite, real JWTs. Every refusal is a 4xx OperationOutcome and is kept for review.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest_cds import (
    ES_KID,
    ISSUER,
    Ehr,
    FhirServer,
    Keys,
    analysed,
    b64,
    cds_settings,
    kept,
    mint,
    outcome,
    radiology_report,
    result_observation,
    rows,
    serve_ehr,
    serve_fhir,
)
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from adapters import fhir
from adapters.cds.models import CdsResponse, empty_paths, summary_length
from models.types import TaskName, TaskRequest
from plugin.app import create_app
from plugin.storage import queries
from plugin.storage.db import session_scope
from plugin.storage.tables import AuditEvent, CardServed, Feedback, Report

REVIEW = "/cds-services/radlite-report-review"
ORDER = "/cds-services/radlite-imaging-order"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
PATIENT = "Tq5.bW-20931"
BASE = "https://cds.r5.example"
LUNG = (
    "EXAM: CT chest low dose screening\n\nFINDINGS:\nSolid nodule in the right upper lobe measuring 9 × 7 mm, "
    "new since the prior screening.\nNo mediastinal lymphadenopathy.\n\nIMPRESSION:\nNew solid right upper lobe "
    "nodule. Lung-RADS 4A. Low-dose chest CT in 3 months is recommended."
)
LUNG_HTML = (
    "<html><body><h2>CT CHEST LOW DOSE</h2><p><b>FINDINGS:</b><br/>Solid nodule in the right upper lobe "
    "measuring 9 × 7 mm, new since the prior screening.</p><p><b>IMPRESSION:</b><br/>New solid right upper "
    "lobe nodule. Lung-RADS 4A. Low-dose chest CT in 3 months is recommended.</p></body></html>"
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
CONCLUSION = "Right thyroid nodule, ACR TI-RADS TR5. Fine needle aspiration is recommended."


# ---- fixtures -------------------------------------------------------------------------------------


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(sqlite_url, hook_budget_seconds=0.1), ensemble=ensemble)) as c:
        yield c


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


# ---- builders -------------------------------------------------------------------------------------


def dr(rid: str, text: str | None = LUNG, **extra: Any) -> dict[str, Any]:
    """A radiology DiagnosticReport as a US Core EHR returns it, about this file's patient."""
    return radiology_report(rid, text, patient=PATIENT, effective="2026-04-14T07:50:00+02:00",
                            issued="2026-04-14T09:12:40+02:00", accession=f"ACC-{rid}", **extra)


def obs(oid: str, loinc: str, text: str) -> dict[str, Any]:
    return result_observation(oid, loinc, text, patient=PATIENT)


def searchset(*resources: dict[str, Any], base: str = "https://ehr.r5.example/fhir") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match" if r["resourceType"] == "DiagnosticReport" else "include"}}
                      for r in resources]}


def hook(name: str = "patient-view", reports: Any = ..., **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hookInstance": str(uuid.uuid4()),
        "hook": name,
        "context": {"userId": "PractitionerRole/r5-rad-7", "patientId": PATIENT, "encounterId": "enc-r5-1"},
        "prefetch": {"patient": {"resourceType": "Patient", "id": PATIENT},
                     "reports": searchset(dr("r5-dr")) if reports is ... else reports},
    }
    body.update(extra)
    return body


def auth(token: str = "r5-access-token", **fields: Any) -> dict[str, Any]:
    out = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
           "scope": "user/DiagnosticReport.read user/Observation.read user/Binary.read", "subject": "radlite-cds"}
    out.update(fields)
    return {k: v for k, v in out.items() if v is not None}


def draft_orders() -> dict[str, Any]:
    order = {"resourceType": "ServiceRequest", "id": "r5-order-1", "status": "draft", "intent": "order",
             "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005",
                                       "display": "Imaging"}]}],
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "71271",
                                  "display": "CT chest low dose screening"}], "text": "CT CHEST LOW DOSE"},
             "subject": {"reference": f"Patient/{PATIENT}"}, "occurrenceDateTime": "2026-07-14"}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": "urn:uuid:5b9a4c2e-7d1f-4e8a-9c3b-1f2e3d4c5b6a", "resource": order}]}


def spec_cards(response: Any) -> list[dict[str, Any]]:
    """A 200 answer whose cards are each well formed per CDS Hooks 2.0 §1.6."""
    assert response.status_code == 200, response.text
    body = response.json()
    CdsResponse.model_validate(body)
    assert set(body) <= {"cards", "systemActions"} and empty_paths(body) == []
    for card in body["cards"]:
        assert 0 < summary_length(card["summary"]) < 140 and uuid.UUID(card["uuid"])
    return body["cards"]


def stored(client: TestClient) -> dict[str, dict[str, Any]]:
    """What the reader made of each stored report (findings, impression, ...), by report id."""
    return {r.report_id: r.report_json for r in rows(client, Report)}


def seed_stated_rads(client: TestClient, resource: dict[str, Any]) -> None:
    """Store the rules engine's reading of the stated RADS category, as an earlier analysis would have."""
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    for report in fhir.reports_from_resource(resource):
        stated = pipeline.ensemble.rules.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
        assert stated is not None
        with session_scope(pipeline.sessions) as s:
            row = queries.get_or_create_analysis(s, content_hash=report.content_hash,
                                                 manifest_version=pipeline.manifest_version)
            queries.save_result(s, analysis_id=row.id, result=stated)


# ---- 1. fhirAuthorization (spec §1.5) and fhirServer --------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda a: a.update(token_type="MAC"), "token_type"),  # fixed value Bearer
        (lambda a: a.pop("access_token"), "access_token"),  # REQUIRED
        (lambda a: a.update(access_token=""), "access_token"),  # no empty strings (§1.3)
        (lambda a: a.update(expires_in=-300), "expires_in"),  # a lifetime in seconds
    ],
)
def test_a_fhir_authorization_that_breaks_the_spec_is_400_and_kept_without_the_token(
    client: TestClient, edit: Any, named: str
) -> None:
    fa = auth("r5-secret-token-9f")
    edit(fa)
    req = hook(fhirServer="https://ehr.r5.example/fhir", fhirAuthorization=fa)
    body = outcome(client.post(REVIEW, json=req), 400, "invalid")
    assert named in body["issue"][0]["diagnostics"]
    [row] = kept(client)
    assert row.status == "rejected" and row.control_id == req["hookInstance"]
    assert b"r5-secret-token-9f" not in row.raw and rows(client, CardServed) == []


def test_fhir_server_without_a_token_and_reports_omitted_is_412_and_nothing_is_fetched(client: TestClient) -> None:
    """§1.5: a service presents the client's token to fhirServer; without one it cannot read the reports."""
    ehr = Ehr(resources={"DiagnosticReport": [dr("r5-on-server")]})
    for fake in serve_ehr(ehr):
        req = hook(fhirServer=fake.base)
        del req["prefetch"]["reports"]
        body = outcome(client.post(REVIEW, json=req), 412, "processing")
        assert "reports" in body["issue"][0]["diagnostics"]
        assert fake.seen == []
    [row] = kept(client)
    assert row.status == "rejected" and row.error.startswith("412") and stored(client) == {}


def test_fhir_server_without_a_token_and_reports_prefetched_answers_from_the_prefetch(client: TestClient) -> None:
    ehr = Ehr()
    for fake in serve_ehr(ehr):
        req = hook(fhirServer=fake.base)
        del req["prefetch"]["patient"]  # not given and not fetchable: not required either
        spec_cards(client.post(REVIEW, json=req))
        assert fake.seen == []
    assert "Lung-RADS 4A" in stored(client)["r5-dr"]["impression"]


def test_a_prefetched_operation_outcome_without_a_token_to_refetch_is_412(client: TestClient) -> None:
    """Spec §1.4: the client SHOULD send an OperationOutcome when its prefetch failed; it is no data to use,
    and with no fhirAuthorization the reports cannot be had otherwise (a null would mean "no data": 200)."""
    failed = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout", "diagnostics": "DiagnosticReport search timed out"}]}
    body = outcome(client.post(REVIEW, json=hook(reports=failed, fhirServer="https://ehr.r5.example/fhir")),
                   412, "processing")
    assert "reports" in body["issue"][0]["diagnostics"] and kept(client)[0].status == "rejected"
    assert spec_cards(client.post(REVIEW, json=hook(reports=None, fhirServer="https://ehr.r5.example/fhir"))) == []


def test_patient_scoped_token_fetches_the_omitted_reports_and_their_result_observations(client: TestClient) -> None:
    """Partial prefetch (patient given, reports omitted); the report's text is only in `result` Observations."""
    report = dr("r5-results", text=None, result=[{"reference": "Observation/r5-find"},
                                                   {"reference": "Observation/r5-imp"}])
    ehr = Ehr(resources={
        "DiagnosticReport": [report],
        "Observation": [obs("r5-find", "18782-3", "Solid nodule in the right upper lobe measuring 9 mm."),
                        obs("r5-imp", "19005-8", "New 9 mm solid nodule. Lung-RADS 4A.")],
    })
    fa = auth("r5-patient-token", scope="patient/DiagnosticReport.read patient/Observation.read", patient=PATIENT)
    for fake in serve_ehr(ehr):
        req = hook(fhirServer=fake.base, fhirAuthorization=fa)
        del req["prefetch"]["reports"]
        spec_cards(client.post(REVIEW, json=req))
        assert {a for _, a in fake.seen} == {"Bearer r5-patient-token"}
        assert {"/Observation/r5-find", "/Observation/r5-imp"} <= set(fake.paths())
    text = stored(client)["r5-results"]
    assert "9 mm" in text["findings"] and "Lung-RADS 4A" in text["impression"]


def test_a_result_observation_about_another_patient_is_not_read(client: TestClient) -> None:
    report = dr("r5-mixed-results", text=None, conclusion="No acute cardiopulmonary abnormality.",
                result=[{"reference": "Observation/r5-wrong-pt"}])
    wrong = obs("r5-wrong-pt", "19005-8", "Lung-RADS 4X: very suspicious.")
    wrong["subject"] = {"reference": "Patient/someone-else"}
    for fake in serve_ehr(Ehr(resources={"Observation": [wrong]})):
        spec_cards(client.post(REVIEW, json=hook(reports=searchset(report), fhirServer=fake.base,
                                                 fhirAuthorization=auth())))
        assert fake.paths() == ["/Observation/r5-wrong-pt"]
    assert stored(client)["r5-mixed-results"]["impression"] == "No acute cardiopulmonary abnormality."


def test_result_observations_on_another_origin_are_never_fetched_with_the_token(client: TestClient) -> None:
    other = Ehr(resources={"Observation": [obs("r5-far", "19005-8", "Lung-RADS 4A.")]})
    for far in serve_ehr(other):
        report = dr("r5-far-results", text=None, result=[{"reference": f"{far.base}/Observation/r5-far"}],
                    conclusion="No acute cardiopulmonary abnormality.")
        for fake in serve_ehr(Ehr()):
            req = hook(reports=searchset(report), fhirServer=fake.base, fhirAuthorization=auth())
            spec_cards(client.post(REVIEW, json=req))
        assert far.seen == []
    assert stored(client)["r5-far-results"]["impression"] == "No acute cardiopulmonary abnormality."


def test_nothing_is_fetched_for_a_report_about_another_patient(client: TestClient) -> None:
    """Minimum necessary: the token reads only what this patient's reports need; another patient's
    report in the prefetch (an EHR fault) is set aside unread and audited."""
    foreign = dr("r5-foreign", text=None, subject={"reference": "Patient/someone-else"}, conclusion="Lung-RADS 2.",
                 presentedForm=[{"contentType": "text/plain", "url": "Binary/r5-foreign-bin"}],
                 result=[{"reference": "Observation/r5-foreign-imp"}])
    mine = dr("r5-mine", text=None, result=[{"reference": "Observation/r5-mine-imp"}])
    ehr = Ehr(resources={"Observation": [obs("r5-mine-imp", "19005-8", "New 9 mm nodule. Lung-RADS 4A."),
                                         obs("r5-foreign-imp", "19005-8", "Lung-RADS 2.")]},
              binaries={"r5-foreign-bin": (LUNG.encode(), "text/plain")})
    for fake in serve_ehr(ehr):
        req = hook(reports=searchset(foreign, mine), fhirServer=fake.base, fhirAuthorization=auth())
        spec_cards(client.post(REVIEW, json=req))
        assert fake.paths() == ["/Observation/r5-mine-imp"]
    assert set(stored(client)) == {"r5-mine"}
    assert [e.detail["report_id"] for e in rows(client, AuditEvent) if e.event_type == "safety.anomaly"] == [
        "r5-foreign"]


# ---- 2. report renditions in the prefetch --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "text", "encoding"),
    [
        ("text/plain; charset=ISO-8859-1", LUNG, "latin-1"),
        ("text/plain;charset=windows-1252", LUNG, "cp1252"),
        ("text/html; charset=iso-8859-1", LUNG_HTML, "latin-1"),
        ('text/plain; charset="utf-8"', LUNG, "utf-8"),
    ],
)
def test_prefetched_text_is_decoded_by_its_declared_charset(
    client: TestClient, content_type: str, text: str, encoding: str
) -> None:
    report = dr("r5-charset", presentedForm=[{"contentType": content_type, "data": b64(text, encoding)}])
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report))))
    assert "9 × 7 mm" in stored(client)["r5-charset"]["findings"]


def test_a_pdf_only_report_is_set_aside_a_pdf_with_conclusion_reads_the_conclusion(client: TestClient) -> None:
    pdf_only = dr("r5-pdf-only", presentedForm=[{"contentType": "application/pdf", "data": b64(PDF),
                                                  "title": "Final report"}])
    pdf_and_conclusion = dr("r5-pdf-conc", presentedForm=[{"contentType": "application/pdf", "data": b64(PDF)}],
                            conclusion=CONCLUSION, code={"text": "US THYROID"})
    plain = dr("r5-plain")
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(pdf_only, pdf_and_conclusion, plain))))
    reports = stored(client)
    assert "r5-pdf-only" not in reports  # nothing to read: never decoded PDF bytes
    assert reports["r5-pdf-conc"]["impression"] == CONCLUSION and not reports["r5-pdf-conc"].get("findings")
    assert "Lung-RADS 4A" in reports["r5-plain"]["impression"]


def test_a_contained_binary_named_by_url_is_read_without_any_fhir_server(client: TestClient) -> None:
    report = dr("r5-contained-bin", text=None,
                contained=[{"resourceType": "Binary", "id": "rpt", "contentType": "text/plain; charset=ISO-8859-1",
                            "data": b64(LUNG, "latin-1")}],
                presentedForm=[{"contentType": "text/plain", "url": "#rpt"}])
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report))))
    assert "9 × 7 mm" in stored(client)["r5-contained-bin"]["findings"]


def test_a_binary_included_in_the_search_bundle_is_read_without_a_fetch(client: TestClient) -> None:
    binary = {"resourceType": "Binary", "id": "r5-bin-1", "contentType": "text/html", "data": b64(LUNG_HTML)}
    report = dr("r5-included-bin", text=None, presentedForm=[{"contentType": "text/html", "url": "Binary/r5-bin-1"}])
    for fake in serve_ehr(Ehr()):
        req = hook(reports=searchset(report, binary), fhirServer=fake.base, fhirAuthorization=auth())
        spec_cards(client.post(REVIEW, json=req))
        assert fake.seen == []
    assert "Lung-RADS 4A" in stored(client)["r5-included-bin"]["impression"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (LUNG.encode("latin-1"), "text/plain; charset=ISO-8859-1"),  # the raw bytes, typed by the server
        (LUNG.encode("utf-16"), "text/plain; charset=UTF-16"),  # NUL bytes, yet text
        (LUNG.encode("cp1252"), "application/octet-stream"),  # the server does not say: the attachment's type stands
        (json.dumps({"resourceType": "Binary", "contentType": "text/plain; charset=ISO-8859-1",
                     "data": b64(LUNG, "latin-1")}).encode(), "application/json+fhir"),  # DSTU2-era media type
        (json.dumps({"resourceType": "Binary", "contentType": "text/html",
                     "data": b64(LUNG_HTML)}).encode(), "application/fhir+json; fhirVersion=4.0; charset=utf-8"),
    ],
)
def test_a_binary_fetched_by_url_is_read_by_the_media_type_of_its_bytes(
    client: TestClient, body: bytes, content_type: str
) -> None:
    report = dr("r5-by-url", text=None, presentedForm=[{"contentType": "text/plain", "url": "Binary/r5-remote"}])
    ehr = Ehr(binaries={"r5-remote": (body, content_type)})
    for fake in serve_ehr(ehr):
        req = hook(reports=searchset(report), fhirServer=fake.base, fhirAuthorization=auth("r5-bin-token"))
        spec_cards(client.post(REVIEW, json=req))
        assert fake.seen == [("/Binary/r5-remote", "Bearer r5-bin-token")]
    text = stored(client)["r5-by-url"]
    assert "9 × 7 mm" in text["findings"] and "resourceType" not in text["findings"] and "<" not in text["findings"]


def test_pdf_bytes_served_for_a_text_url_are_never_read_as_report_text(client: TestClient) -> None:
    report = dr("r5-pdf-served", text=None, conclusion=CONCLUSION, code={"text": "US THYROID"},
                presentedForm=[{"contentType": "text/plain", "url": "Binary/r5-pdf"}])
    ehr = Ehr(binaries={"r5-pdf": (PDF, "application/pdf")})
    for fake in serve_ehr(ehr):
        spec_cards(client.post(REVIEW, json=hook(reports=searchset(report), fhirServer=fake.base,
                                                 fhirAuthorization=auth())))
    text = stored(client)["r5-pdf-served"]
    assert text["impression"] == CONCLUSION and not text.get("findings")


# ---- 3. every advertised hook with its hooks-lib context -------------------------------------------------


def advertised_context(name: str) -> dict[str, Any]:
    """The context hooks-lib STU1 defines for the hook, with an EHR's vendor fields beside it."""
    context: dict[str, Any] = {"userId": "Practitioner/r5-doc", "patientId": PATIENT, "encounterId": "enc-r5-2",
                               "com.epic.workstation": "RAD-WS-14"}
    if name in ("order-select", "order-sign"):
        context["draftOrders"] = draft_orders()
    if name == "order-select":
        context["selections"] = ["urn:uuid:5b9a4c2e-7d1f-4e8a-9c3b-1f2e3d4c5b6a"]
    return context


def test_each_advertised_hook_answers_with_its_context_and_ignores_unknown_fields(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("radlite-report-review", "patient-view"),
        ("radlite-imaging-order", "order-select"),
        ("radlite-imaging-order", "order-sign"),
    }
    prior = searchset(dr("r5-prior"))
    seed_stated_rads(client, prior)
    for service in services:
        req = hook(service["hook"], reports=prior, context=advertised_context(service["hook"]),
                   extension={"com.example.ehr-build": "2026.04"}, fhirVersion="4.0.1")
        cards = spec_cards(client.post(f"/cds-services/{service['id']}", json=req))
        assert cards, service  # the prior Lung-RADS 4A report is relevant to each


@pytest.mark.parametrize(
    ("name", "edit", "named"),
    [
        ("patient-view", lambda c: c.pop("userId"), "userId"),
        ("patient-view", lambda c: c.pop("patientId"), "patientId"),
        ("order-sign", lambda c: c.pop("draftOrders"), "draftOrders"),
        ("order-sign", lambda c: c.update(draftOrders=draft_orders()["entry"]), "draftOrders"),
        ("order-select", lambda c: c.pop("selections"), "selections"),
        ("order-select", lambda c: c.pop("draftOrders"), "draftOrders"),
    ],
)
def test_a_missing_required_context_field_is_400_naming_it(client: TestClient, name: str, edit: Any,
                                                            named: str) -> None:
    context = advertised_context(name)
    edit(context)
    req = hook(name, context=context)
    path = REVIEW if name == "patient-view" else ORDER
    body = outcome(client.post(path, json=req), 400, "invalid")
    assert named in body["issue"][0]["diagnostics"]
    [row] = kept(client)
    assert row.status == "rejected" and row.control_id == req["hookInstance"] and rows(client, CardServed) == []


@pytest.mark.parametrize("context", [None, "Patient/" + PATIENT, [PATIENT]])
def test_a_context_that_is_not_an_object_is_400(client: TestClient, context: Any) -> None:
    req = hook()
    if context is None:
        del req["context"]
    else:
        req["context"] = context
    body = outcome(client.post(REVIEW, json=req), 400, "invalid")
    assert "context" in body["issue"][0]["diagnostics"] and kept(client)[0].status == "rejected"


# ---- 4. feedback (spec §1.7) --------------------------------------------------------------------------


def served_card(client: TestClient) -> dict[str, Any]:
    reports = searchset(dr("r5-fb"))
    seed_stated_rads(client, reports)
    cards = spec_cards(client.post(REVIEW, json=hook(reports=reports)))
    return next(c for c in cards if c.get("overrideReasons"))


def test_several_feedback_items_in_one_post_are_each_stored_and_joined(client: TestClient) -> None:
    card = served_card(client)
    suggestion = (card.get("suggestions") or [{"uuid": str(uuid.uuid4())}])[0].get("uuid", str(uuid.uuid4()))
    reason = card["overrideReasons"][0]
    unknown = str(uuid.uuid4())
    items = [
        {"card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": [{"id": suggestion}],
         "outcomeTimestamp": "2026-04-14T09:20:11Z"},
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-04-14T09:21:02.531Z",
         "overrideReason": {"reason": reason, "userComment": "Follow-up CT already booked for July."}},
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-04-14T11:21:40+02:00",
         "overrideReason": {"userComment": "Patient declined further imaging."}},
        {"card": unknown, "outcome": "overridden", "outcomeTimestamp": "2026-04-14T09:22:00Z"},
    ]
    response = client.post(REVIEW + "/feedback", json={"feedback": items})
    assert response.status_code == 200 and response.json() == {}
    saved = {(f.card_uuid, f.outcome_timestamp): f for f in rows(client, Feedback)}
    assert len(saved) == 4
    assert saved[(card["uuid"], "2026-04-14T09:20:11Z")].accepted_suggestions == [suggestion]
    both = saved[(card["uuid"], "2026-04-14T09:21:02.531Z")].override_reason
    assert both["reason"]["code"] == reason["code"] and both["userComment"].startswith("Follow-up CT")
    events = [e for e in rows(client, AuditEvent) if e.event_type == "feedback.received"]
    assert sorted(e.detail["known_card"] for e in events) == [False, True, True, True]
    assert {e.patient_id for e in events if e.detail["known_card"]} == {PATIENT}


def test_feedback_on_a_card_of_another_service_is_kept_but_not_joined_to_it(client: TestClient) -> None:
    """Spec §1.7: feedback goes to `{baseUrl}/cds-services/{id}/feedback` of the service that served the card."""
    card = served_card(client)
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-04-14T09:25:00Z"}
    assert client.post(ORDER + "/feedback", json={"feedback": [item]}).status_code == 200
    [saved] = rows(client, Feedback)
    assert saved.service_id == "radlite-imaging-order"
    [event] = [e for e in rows(client, AuditEvent) if e.event_type == "feedback.received"]
    assert event.detail["known_card"] is False and event.patient_id is None
    assert event.detail["card_served_by"] == "radlite-report-review"


@pytest.mark.parametrize(
    "stamp",
    ["2026-04-14T09:20:11.123456Z", "2026-04-14T04:20:11-05:00", "2016-12-31T23:59:60Z", "2026-04-14T09:20:11+00:00"],
)
def test_rfc3339_outcome_timestamps_are_taken(client: TestClient, stamp: str) -> None:
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": stamp}
    assert client.post(REVIEW + "/feedback", json={"feedback": [item]}).status_code == 200
    assert [f.outcome_timestamp for f in rows(client, Feedback)] == [stamp]


@pytest.mark.parametrize(
    "stamp",
    ["2026-02-30T09:20:11Z", "2026-04-14T24:30:00Z", "2026-04-14T09:20:11", "2026-04-14", 1776158411],
)
def test_an_outcome_timestamp_that_is_no_rfc3339_instant_is_400_and_nothing_is_stored(
    client: TestClient, stamp: Any
) -> None:
    good = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-04-14T09:20:11Z"}
    bad = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": stamp}
    body = outcome(client.post(REVIEW + "/feedback", json={"feedback": [good, bad]}), 400, "invalid")
    assert "outcomeTimestamp" in body["issue"][0]["diagnostics"]
    assert rows(client, Feedback) == [] and kept(client, "cds-feedback")[0].status == "rejected"


# ---- 5. JWT (spec §1.8) ---------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def quiet() -> dict[str, Any]:
    return hook(reports=None)


def es_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig", alg="ES384")
    return jwk


def signed(key: ec.EllipticCurvePrivateKey, kid: str, aud: str | list[str] | None, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "r5-ehr-client", "aud": aud, "iat": now, "exp": now + 300,
            "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm="ES384",
                      headers={"typ": "JWT", "kid": kid})


def secured(url: str, ensemble: Any, issuer: dict[str, Any]) -> Any:
    settings = cds_settings(url, jwt_required=True, public_base_url=BASE, trusted_issuers=json.dumps([issuer]),
                            jwt_leeway_seconds=5, hook_budget_seconds=0.1)
    return create_app(settings, ensemble=ensemble)


def test_a_rotated_kid_in_the_out_of_band_jwks_file_is_taken_at_once(
    sqlite_url: str, ensemble: Any, keys: Keys, tmp_path: Path
) -> None:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    new_key = ec.generate_private_key(ec.SECP384R1())
    with TestClient(secured(sqlite_url, ensemble, {"iss": ISSUER, "jwks_path": str(path)})) as c:
        assert spec_cards(c.post(REVIEW, json=quiet(), headers=bearer(mint(keys, BASE + REVIEW)))) == []
        path.write_text(json.dumps({"keys": [*keys.jwks()["keys"], es_jwk(new_key, "es384-2026-05")]}))
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a coarse file clock
        token = signed(new_key, "es384-2026-05", BASE + REVIEW)
        assert spec_cards(c.post(REVIEW, json=quiet(), headers=bearer(token))) == []
        # a kid in neither version of the file is still refused
        stranger = signed(ec.generate_private_key(ec.SECP384R1()), "es384-unknown", BASE + REVIEW)
        outcome(c.post(REVIEW, json=quiet(), headers=bearer(stranger)), 401, "login")


def test_a_jku_naming_another_key_set_is_401_and_never_fetched(sqlite_url: str, ensemble: Any, keys: Keys) -> None:
    attacker_key = ec.generate_private_key(ec.SECP384R1())
    for trusted in serve_fhir(FhirServer(resources={}, jwks=keys.jwks())):
        for attacker in serve_fhir(FhirServer(resources={}, jwks={"keys": [es_jwk(attacker_key, ES_KID)]})):
            app = secured(sqlite_url, ensemble, {"iss": ISSUER, "jku": trusted.base + "/.well-known/jwks.json"})
            with TestClient(app) as c:
                now = int(time.time())
                token = jwt.encode({"iss": ISSUER, "aud": BASE + REVIEW, "iat": now, "exp": now + 300,
                                    "jti": str(uuid.uuid4())}, attacker_key, algorithm="ES384",
                                   headers={"typ": "JWT", "kid": ES_KID,
                                            "jku": attacker.base + "/.well-known/jwks.json"})
                outcome(c.post(REVIEW, json=quiet(), headers=bearer(token)), 401, "login")
                assert kept(c) == []
            assert attacker.jwks_hits == 0


@pytest.mark.parametrize("missing", ["jti", "exp", "iss", "aud"])
def test_a_token_without_a_required_claim_is_401(sqlite_url: str, ensemble: Any, keys: Keys, missing: str,
                                                 tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    with TestClient(secured(sqlite_url, ensemble, {"iss": ISSUER, "jwks_path": str(path)})) as c:
        token = (signed(keys.es, ES_KID, None) if missing == "aud"
                 else signed(keys.es, ES_KID, BASE + REVIEW, **{missing: None}))
        body = outcome(c.post(REVIEW, json=quiet(), headers=bearer(token)), 401, "login")
        assert body["issue"][0]["diagnostics"] == "Unauthorized" and kept(c) == []


def test_one_token_for_service_and_feedback_is_single_use_and_aud_may_end_in_a_slash(
    sqlite_url: str, ensemble: Any, keys: Keys, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    with TestClient(secured(sqlite_url, ensemble, {"iss": ISSUER, "jwks_path": str(path)})) as c:
        both = signed(keys.es, ES_KID, [BASE + REVIEW, BASE + REVIEW + "/feedback"])
        assert spec_cards(c.post(REVIEW, json=quiet(), headers=bearer(both))) == []
        item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-04-14T09:20:11Z"}
        outcome(c.post(REVIEW + "/feedback", json={"feedback": [item]}, headers=bearer(both)), 401, "login")
        slashed = signed(keys.es, ES_KID, BASE + REVIEW + "/feedback/")
        assert c.post(REVIEW + "/feedback", json={"feedback": [item]}, headers=bearer(slashed)).status_code == 200


# ---- 6. FHIR door ------------------------------------------------------------------------------------


def post_fhir(client: TestClient, body: Any, query: str = "?tasks=rads_assignment", **headers: str) -> Any:
    return client.post(ANALYZE + query, content=json.dumps(body).encode(),
                       headers={"Content-Type": "application/fhir+json", **headers})


def test_analyze_reads_a_contained_binary_named_by_url(client: TestClient) -> None:
    report = dr("r5-fhir-contained", text=None,
                contained=[{"resourceType": "Binary", "id": "txt", "contentType": "text/plain; charset=ISO-8859-1",
                            "data": b64(LUNG, "latin-1")}],
                presentedForm=[{"contentType": "text/plain", "url": "#txt"}])
    observations = analysed(post_fhir(client, report))
    assert any("Lung-RADS" in json.dumps(o) for o in observations)
    assert "9 × 7 mm" in stored(client)["r5-fhir-contained"]["findings"]


def test_analyze_reads_a_parameters_document_bundle_with_its_binary_entry(client: TestClient) -> None:
    binary = {"resourceType": "Binary", "id": "doc-bin", "contentType": "text/html", "data": b64(LUNG_HTML)}
    report = dr("r5-fhir-doc", text=None, presentedForm=[{"contentType": "text/html", "url": "Binary/doc-bin"}])
    document = {"resourceType": "Bundle", "type": "collection",
                "entry": [{"fullUrl": "urn:uuid:0f4e8a52-3c1b-4d9e-8f7a-6b5c4d3e2f10", "resource": report},
                          {"fullUrl": "https://ehr.r5.example/fhir/Binary/doc-bin", "resource": binary}]}
    params = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": document}]}
    analysed(post_fhir(client, params))
    assert "Lung-RADS 4A" in stored(client)["r5-fhir-doc"]["impression"]


@pytest.mark.parametrize("prefer", ["return=minimal", "return=representation", "return=OperationOutcome"])
def test_analyze_answers_its_result_whatever_the_return_preference(client: TestClient, prefer: str) -> None:
    """FHIR R4 defines `Prefer: return=` for create/update/patch only; RFC 7240 §2: a preference not
    supported is ignored, so the operation still answers its output (and claims no Preference-Applied)."""
    response = post_fhir(client, dr("r5-prefer"), Prefer=prefer)
    assert analysed(response) and "preference-applied" not in response.headers


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/fhir+json; fhirVersion=3.0", 406),  # an STU3 client: we write R4 only
        ("application/fhir+json; fhirVersion=5.0", 406),
        ("application/json;q=0, application/fhir+xml", 406),  # JSON explicitly refused (RFC 9110 q=0)
        ("application/fhir+json; fhirVersion=4.0", 200),
        ("application/fhir+json;fhirVersion=3.0, application/fhir+json;fhirVersion=4.0;q=0.5", 200),
    ],
)
def test_analyze_honours_the_fhir_version_and_q_the_caller_accepts(client: TestClient, accept: str,
                                                                   status: int) -> None:
    response = post_fhir(client, dr("r5-accept-version"), Accept=accept)
    if status == 200:
        analysed(response)
        return
    outcome(response, 406, "not-supported")
    assert kept(client, "http-fhir")[0].status == "rejected" and stored(client) == {}


def test_a_binary_url_the_body_does_not_hold_is_still_refused_naming_it(client: TestClient) -> None:
    report = dr("r5-fhir-missing-bin", text=None, presentedForm=[{"contentType": "text/plain", "url": "#gone"}])
    body = outcome(post_fhir(client, report), 400)
    assert any("presentedForm" in (i.get("expression") or [""])[0] for i in body["issue"])
    assert kept(client, "http-fhir")[0].status == "rejected"


@pytest.mark.parametrize(
    "path", ["/fhir/StructureDefinition", "/fhir/StructureDefinition/radlite-rads-assessment",
             "/fhir/CodeSystem/radlite"]
)
@pytest.mark.parametrize(
    ("query", "accept", "status"),
    [
        ("?_format=xml", None, 406),
        ("", "application/fhir+xml", 406),
        ("?_format=application/fhir%2Bxml", "application/fhir+json", 406),  # _format wins over Accept
        ("?_format=json", "application/fhir+xml", 200),
        ("", "application/fhir+json", 200),
    ],
)
def test_conformance_reads_honour_format_and_accept(
    client: TestClient, path: str, query: str, accept: str | None, status: int
) -> None:
    response = client.get(path + query, headers={"Accept": accept} if accept else {})
    if status == 406:
        outcome(response, 406, "not-supported")
        return
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["resourceType"] in ("Bundle", "StructureDefinition", "CodeSystem")
