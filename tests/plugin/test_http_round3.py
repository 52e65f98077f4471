"""Round 3 of the HTTP doors: oversized bodies kept for review, and requests shaped as EHRs send them.

Real app, real demo model, real SQLite (PostgreSQL where column bounds matter), real JWTs and
a real JWKS / FHIR server on loopback (conftest_cds). Every 200 hook answer is checked card by
card against CDS Hooks 2.0 §1.6; every refusal must be an OperationOutcome and kept for review.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from conftest_cds import ES_KID, ISSUER, RS_KID, FhirServer, Keys, cds_settings, kept, mint, outcome, rows, serve_fhir
from fastapi.testclient import TestClient

from adapters import fhir
from adapters.cds.models import CdsResponse, empty_paths, summary_length
from models.types import TaskName, TaskRequest
from plugin.app import create_app
from plugin.security import KEEP_BYTES, MIN_DRAIN_BYTES, scrub_head
from plugin.storage import queries
from plugin.storage.db import session_scope
from plugin.storage.tables import AuditEvent, CardServed, Feedback, InboundMessage, Report

REVIEW = "/cds-services/radlite-report-review"
ORDER = "/cds-services/radlite-imaging-order"
PATIENT = "r3-pat-7"
BASE = "https://cds.synthetic.example"
LUNG = ("FINDINGS:\nSolid nodule in the right upper lobe measuring 9 mm, new since the prior screening.\n"
        "No lymphadenopathy.\n\nIMPRESSION:\nNew 9 mm solid right upper lobe nodule. Lung-RADS 4A: suspicious. "
        "Low-dose chest CT in 3 months is recommended.")
FINDINGS_ONLY = "Solid nodule in the right upper lobe measuring 9 mm, new since the prior screening."
IMPRESSION_ONLY = "New 9 mm solid right upper lobe nodule. Lung-RADS 4A. Low-dose chest CT in 3 months."


# ---- fixtures and builders ----------------------------------------------------------------------


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    app = create_app(cds_settings(sqlite_url, hook_budget_seconds=0.1), ensemble=ensemble)
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture()
def jwks(keys: Keys) -> Iterator[FhirServer]:
    yield from serve_fhir(FhirServer(resources={}, jwks=keys.jwks()))


@pytest.fixture()
def secured(sqlite_url: str, ensemble: Any, jwks: FhirServer) -> Iterator[TestClient]:
    issuers = [{"iss": ISSUER, "jku": jwks.base + "/.well-known/jwks.json"}]
    settings = cds_settings(sqlite_url, jwt_required=True, public_base_url=BASE, trusted_issuers=json.dumps(issuers),
                            jwt_leeway_seconds=5, hook_budget_seconds=0.1)
    with TestClient(create_app(settings, ensemble=ensemble)) as c:
        yield c


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def dr(rid: str = "r3-dr-1", **extra: Any) -> dict[str, Any]:
    """A radiology DiagnosticReport as US Core EHRs send it (text given by `extra`)."""
    out: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": rid, "status": "final",
        "category": [{"coding": [{"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "CT Chest"}],
                 "text": "CT CHEST LOW DOSE SCREENING"},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": "2025-05-06T08:30:00-04:00", "issued": "2025-05-06T10:02:11-04:00",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "ACSN"}]}, "value": f"ACC-{rid}"}],
    }
    out.update(extra)
    return out


def plain(text: str = LUNG, content_type: str = "text/plain") -> list[dict[str, Any]]:
    return [{"contentType": content_type, "data": b64(text)}]


def obs(oid: str, loinc: str, text: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": f"Patient/{PATIENT}"}, "valueString": text}


def searchset(*resources: dict[str, Any], include: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    entries = [{"fullUrl": f"https://ehr.example/fhir/{r['resourceType']}/{r['id']}", "resource": r,
                "search": {"mode": "match"}} for r in resources]
    entries += [{"fullUrl": f"https://ehr.example/fhir/{r['resourceType']}/{r['id']}", "resource": r,
                 "search": {"mode": "include"}} for r in include]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}


def hook(name: str = "patient-view", reports: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hookInstance": str(uuid.uuid4()), "hook": name, "fhirServer": "https://ehr.example/fhir",
        "context": {"userId": "Practitioner/r3-doc-1", "patientId": PATIENT},
        "prefetch": {"patient": {"resourceType": "Patient", "id": PATIENT},
                     "reports": reports if reports is not None else searchset(dr(presentedForm=plain()))},
    }
    body.update(extra)
    return body


def auth(token: str = "r3-access-token") -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": "user/DiagnosticReport.read user/Patient.read", "subject": "radlite-cds"}


def service_request(rid: str | None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order",
                           "subject": {"reference": f"Patient/{PATIENT}"}, "occurrenceDateTime": "2025-08-06"}
    if rid:
        out["id"] = rid
    out.update(fields)
    return out


def draft(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": list(entries)}




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


def spec_cards(response: Any) -> list[dict[str, Any]]:
    """A 200 answer whose cards are each well formed per CDS Hooks 2.0 §1.6."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) <= {"cards", "systemActions"} and isinstance(body["cards"], list)
    CdsResponse.model_validate(body)
    assert empty_paths(body) == []
    for card in body["cards"]:
        assert 0 < summary_length(card["summary"]) < 140 and card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"] and uuid.UUID(card["uuid"])
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any")
            for action in (a for s in card["suggestions"] for a in s.get("actions", [])):
                assert action["description"] and action["type"] in ("create", "update", "delete")
                assert ("resource" in action) != (action["type"] == "delete")
    for action in body.get("systemActions", []):
        assert action["description"] and action["type"] in ("create", "update", "delete")
    return body["cards"]



def topics(cards: list[dict[str, Any]]) -> set[str]:
    return {c["source"]["topic"]["code"] for c in cards if "topic" in c["source"]}


# ---- 1. oversized bodies are refused AND kept ---------------------------------------------------


def padded_hook(limit: int) -> bytes:
    """A hook request over the limit, its access token near the start, as an EHR with a huge prefetch sends it."""
    req = hook(fhirAuthorization=auth("r3-secret-token-must-not-be-stored"))
    req["prefetch"]["reports"] = searchset(dr(presentedForm=plain(LUNG + " " + "x" * limit)))
    raw = json.dumps({"fhirAuthorization": req.pop("fhirAuthorization"), **req}).encode()
    assert len(raw) > limit
    return raw


def assert_kept_413(client: TestClient, channel: str, body: bytes, *, complete: bool = True) -> InboundMessage:
    [row] = kept(client, channel)
    assert (row.status, row.error_code) == ("rejected", "413")
    assert row.raw == scrub_head(body[:KEEP_BYTES])  # the head, and only the head, token starred
    [event] = [e for e in rows(client, AuditEvent)
               if e.event_type == "message.rejected" and e.detail.get("inbound_id") == row.id]
    assert event.detail["size_complete"] is complete and event.detail["kept_bytes"] == min(KEEP_BYTES, len(body))
    if complete:
        assert row.sha256 == hashlib.sha256(body).hexdigest() == event.input_hash
        assert event.detail["size"] == len(body) and f"{len(body)} bytes" in row.error
    return row


def test_oversized_hook_is_413_and_kept_scrubbed_with_size_and_sha256(client: TestClient) -> None:
    limit = client.app.state.settings.max_request_bytes  # type: ignore[attr-defined]
    body = padded_hook(limit)
    outcome(client.post(REVIEW, content=body, headers={"Content-Type": "application/json"}), 413)
    row = assert_kept_413(client, "cds-hook", body)
    assert b"r3-secret-token" not in row.raw and b'"access_token": "***"' in row.raw


def stream_through(client: TestClient, path: str, chunks: Iterator[bytes], content_type: str) -> int:
    """POST a body that really arrives chunk by chunk (no Content-Length); returns the status.

    TestClient reads a streamed body whole and hands it to the app as one message, so the
    app is driven here through the client's own event-loop portal with one ASGI message per
    chunk, as uvicorn delivers a chunked upload.
    """
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"content-type", content_type.encode()),
                         (b"transfer-encoding", b"chunked")],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "state": {}}
    messages = ({"type": "http.request", "body": c, "more_body": True} for c in chunks)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages, {"type": "http.request", "body": b"", "more_body": False})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    assert client.portal is not None
    client.portal.call(run)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


@pytest.mark.parametrize(("path", "channel", "content_type"), [
    ("/fhir/DiagnosticReport/$analyze", "http-fhir", "application/fhir+json"),
    ("/hl7/v2", "http-hl7", "x-application/hl7-v2+er7"),
    (REVIEW + "/feedback", "cds-feedback", "application/json"),
    (REVIEW, "cds-hook", "application/json"),
])
def test_oversized_chunked_body_is_hashed_while_streaming_and_kept(client: TestClient, path: str, channel: str,
                                                                     content_type: str) -> None:
    limit = client.app.state.settings.max_request_bytes  # type: ignore[attr-defined]
    pieces = [b"MSH|^~\\&|RIS|HOSP|RADLITE|HOSP|20250506||ORU^R01|R3-1|P|2.5.1\r"] + [
        bytes([65 + i % 26]) * 10_000 for i in range(limit // 10_000 + 30)]
    assert stream_through(client, path, iter(pieces), content_type) == 413
    assert_kept_413(client, channel, b"".join(pieces))
    # the same body sent whole (TestClient: one message with Content-Length) is kept the same way
    outcome(client.post(path, content=b"".join(pieces), headers={"Content-Type": content_type}), 413)
    first, second = kept(client, channel)
    assert (first.sha256, first.raw) == (second.sha256, second.raw)


def test_body_past_the_drain_bound_is_kept_with_a_lower_bound(client: TestClient) -> None:
    chunk = b"y" * (1 << 20)
    count = MIN_DRAIN_BYTES // len(chunk) + 8
    assert stream_through(client, "/fhir/DiagnosticReport/$analyze", (chunk for _ in range(count)),
                          "application/fhir+json") == 413
    row = assert_kept_413(client, "http-fhir", chunk * 2, complete=False)
    assert "more than" in row.error and "first" in row.error
    [event] = [e for e in rows(client, AuditEvent) if e.detail.get("inbound_id") == row.id]
    assert MIN_DRAIN_BYTES < event.detail["size"] < count * len(chunk)


def test_scrubbing_a_cut_slice_still_hides_the_token() -> None:
    cut = b'{"fhirAuthorization": {"token_type": "Bearer", "access_token": "eyJhbGciOi.partial'
    assert scrub_head(cut) == b'{"fhirAuthorization": {"token_type": "Bearer", "access_token": "***'
    whole = b'{"access_token":"a\\"b", "x": 1}'
    assert scrub_head(whole) == b'{"access_token":"***", "x": 1}'


def test_oversized_from_an_unauthenticated_caller_is_401_and_not_kept(secured: TestClient, keys: Keys) -> None:
    limit = secured.app.state.settings.max_request_bytes  # type: ignore[attr-defined]
    body = padded_hook(limit)
    assert secured.post(REVIEW, content=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert kept(secured) == []
    token = mint(keys, BASE + REVIEW)
    outcome(secured.post(REVIEW, content=body, headers={"Content-Type": "application/json",
                                                         "Authorization": f"Bearer {token}"}), 413)
    row = assert_kept_413(secured, "cds-hook", body)
    assert row.peer == f"{ISSUER}|client-app"


# ---- 2a. CDS Hooks: discovery, routing errors, content types -----------------------------------


def test_routing_errors_on_the_cds_door_are_operation_outcomes(client: TestClient) -> None:
    assert outcome(client.get(REVIEW), 405)["issue"][0]["code"] == "not-supported"
    assert outcome(client.post(REVIEW + "/feedback/extra", json={}), 404)["issue"][0]["code"] == "not-found"
    assert outcome(client.put("/cds-services", json={}), 405)
    other = client.get("/no-such-door")  # other doors keep the framework's error shape
    assert other.status_code == 404 and "fhir" not in other.headers["content-type"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_hook_that_is_not_json_by_content_type_is_415_and_kept(client: TestClient, content_type: str) -> None:
    body = outcome(client.post(REVIEW, content=json.dumps(hook()).encode(), headers={"Content-Type": content_type}),
                   415)
    assert body["issue"][0]["code"] == "not-supported"
    [row] = kept(client)
    assert row.status == "rejected" and "JSON" in row.error


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/fhir+json",
                                          "APPLICATION/JSON"])
def test_json_content_types_are_read(client: TestClient, content_type: str) -> None:
    req = hook(reports=None)
    req["prefetch"]["reports"] = None
    assert spec_cards(client.post(REVIEW, content=json.dumps(req).encode(),
                                  headers={"Content-Type": content_type})) == []


@pytest.mark.parametrize("raw", [b'{"hook": "patient-view", "hookInstance": "x", "context": {}', b"{'hook': 1}",
                                 b'\xef\xbb\xbf{"hook": "patient-view"}', b"hook=patient-view"])
def test_malformed_json_is_400_and_kept(client: TestClient, raw: bytes) -> None:
    outcome(client.post(REVIEW, content=raw, headers={"Content-Type": "application/json"}), 400)
    assert [r.raw for r in kept(client)] == [raw] and kept(client)[0].status == "rejected"


def test_wrong_hook_for_each_service_is_400_not_supported(client: TestClient) -> None:
    assert outcome(client.post(ORDER, json=hook()), 400)["issue"][0]["code"] == "not-supported"
    sign = hook("order-sign")
    sign["context"]["draftOrders"] = draft({"resource": service_request("o1", code={"text": "CT CHEST"})})
    assert outcome(client.post(REVIEW, json=sign), 400)["issue"][0]["code"] == "not-supported"
    assert len(kept(client)) == 2 and rows(client, CardServed) == []


def test_ids_longer_than_their_columns_are_400_not_500_on_postgres(pg_url: str, ensemble: Any) -> None:
    app = create_app(cds_settings(pg_url, hook_budget_seconds=0.1), ensemble=ensemble)
    with TestClient(app) as c:
        outcome(c.post(REVIEW, json=hook(hookInstance="h" * 200)), 400)
        req = hook()
        req["context"]["patientId"] = "p" * 300
        outcome(c.post(REVIEW, json=req), 400)
        item = {"card": "c" * 80, "outcome": "overridden", "outcomeTimestamp": "2025-05-06T14:12:00Z"}
        outcome(c.post(REVIEW + "/feedback", json={"feedback": [item]}), 400)
        item = {"card": str(uuid.uuid4()), "outcome": "overridden",
                "outcomeTimestamp": "2025-05-06T14:12:00." + "1" * 80 + "Z"}
        outcome(c.post(REVIEW + "/feedback", json={"feedback": [item]}), 400)
        assert len(kept(c)) == 2 and len(kept(c, "cds-feedback")) == 2


# ---- 2b. patient-view prefetch shapes ----------------------------------------------------------


def stored_reports(client: TestClient) -> dict[str, Report]:
    return {r.report_id: r for r in rows(client, Report)}


def test_plain_text_with_charset_and_epic_extensions_and_unknown_fields_is_read(client: TestClient) -> None:
    report = dr("r3-epic", presentedForm=plain(LUNG, "text/plain; charset=utf-8"),
                extension=[{"url": "http://open.epic.com/FHIR/StructureDefinition/extension/report-status",
                            "valueCodeableConcept": {"text": "Final"}}],
                meta={"versionId": "3", "lastUpdated": "2025-05-06T14:02:11Z"},
                epicResultPriority="routine")  # an element R4 does not define: ignored on this door
    req = hook(reports=searchset(report), extension={"com.epic.cdshooks.request.bpa-trigger-action": "4"})
    req["context"]["com.epic.tab"] = "chart-review"
    assert spec_cards(client.post(REVIEW, json=req))
    assert "r3-epic" in stored_reports(client)


def test_html_report_in_a_single_prefetched_resource_is_read(client: TestClient) -> None:
    html = "<div><h2>CT CHEST</h2><p><b>FINDINGS:</b><br/>" + FINDINGS_ONLY + "</p><p><b>IMPRESSION:</b><br/>" + \
        IMPRESSION_ONLY + "</p></div>"
    req = hook(reports=dr("r3-html", presentedForm=plain(html, "text/html")))
    spec_cards(client.post(REVIEW, json=req))
    assert stored_reports(client)["r3-html"].report_json["impression"].startswith("New 9 mm solid")


def test_conclusion_only_report_is_read(client: TestClient) -> None:
    req = hook(reports=searchset(dr("r3-concl", conclusion=IMPRESSION_ONLY, conclusionCode=[
        {"coding": [{"system": "http://snomed.info/sct", "code": "427359005", "display": "Solitary lung nodule"}]}])))
    spec_cards(client.post(REVIEW, json=req))
    assert stored_reports(client)["r3-concl"].report_json["impression"] == IMPRESSION_ONLY


def test_contained_observations_give_findings_and_impression(client: TestClient) -> None:
    report = dr("r3-contained", contained=[obs("f", "18782-3", FINDINGS_ONLY), obs("i", "19005-8", IMPRESSION_ONLY)],
                result=[{"reference": "#f"}, {"reference": "#i"}])
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report))))
    stored = stored_reports(client)["r3-contained"].report_json
    assert (stored["findings"], stored["impression"]) == (FINDINGS_ONLY, IMPRESSION_ONLY)


def test_result_references_to_included_observations_resolve(client: TestClient) -> None:
    """A search with _include=DiagnosticReport:result: the text lives in the included Observations."""
    report = dr("r3-incl", result=[{"reference": "Observation/r3-f"}, {"reference": "Observation/r3-i"}])
    bundle = searchset(report, include=(obs("r3-f", "18782-3", FINDINGS_ONLY), obs("r3-i", "19005-8", IMPRESSION_ONLY)))
    spec_cards(client.post(REVIEW, json=hook(reports=bundle)))
    assert stored_reports(client)["r3-incl"].report_json["impression"] == IMPRESSION_ONLY


def test_unreadable_and_foreign_reports_are_set_aside_not_fatal(client: TestClient) -> None:
    no_text = dr("r3-notext")
    bad_b64 = dr("r3-bad64", presentedForm=[{"contentType": "text/plain", "data": "not base64 at all!"}])
    other = dr("r3-other", presentedForm=plain(), subject={"reference": "Patient/someone-else"})
    good = dr("r3-good", presentedForm=plain())
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(no_text, bad_b64, other, good))))
    assert set(stored_reports(client)) == {"r3-good"}
    anomalies = [e for e in rows(client, AuditEvent) if e.event_type == "safety.anomaly"]
    assert len(anomalies) == 1 and anomalies[0].patient_id == PATIENT


def test_null_patient_key_extra_keys_and_no_encounter_are_fine(client: TestClient) -> None:
    req = hook()
    req["prefetch"]["patient"] = None
    req["prefetch"]["encounter"] = {"resourceType": "Encounter", "id": "e1", "status": "in-progress",
                                    "class": {"code": "AMB"}}
    req["context"].pop("encounterId", None)
    req["context"]["userId"] = "PractitionerRole/r3-role"
    spec_cards(client.post(REVIEW, json=req))
    assert "r3-dr-1" in stored_reports(client)


def test_required_prefetch_missing_without_a_server_is_412_and_kept(client: TestClient) -> None:
    req = hook(fhirServer=None)
    del req["prefetch"]["reports"]
    body = outcome(client.post(REVIEW, json=req), 412)
    assert body["issue"][0]["code"] == "processing" and "reports" in body["issue"][0]["diagnostics"]
    [row] = kept(client)
    assert row.status == "rejected" and row.error.startswith("412")


def test_a_paged_prefetch_bundle_is_completed_from_fhir_server(client: TestClient) -> None:
    second = dr("r3-page2", presentedForm=plain(), effectiveDateTime="2024-11-02T09:00:00Z")
    server = FhirServer(resources={"DiagnosticReport": [dr("r3-page1", presentedForm=plain()), second]})
    for fake in serve_fhir(server):
        first = searchset(dr("r3-page1", presentedForm=plain()))
        first["total"] = 2
        first["link"] = [{"relation": "self", "url": f"{fake.base}/DiagnosticReport?patient={PATIENT}"},
                         {"relation": "next", "url": f"{fake.base}/DiagnosticReport?patient={PATIENT}&page=1"}]
        req = hook(reports=first, fhirServer=fake.base, fhirAuthorization=auth("r3-page-token"))
        spec_cards(client.post(REVIEW, json=req))
        assert fake.seen_auth == ["Bearer r3-page-token"]
    assert {"r3-page1", "r3-page2"} <= set(stored_reports(client))
    assert all(b"r3-page-token" not in r.raw for r in rows(client, InboundMessage))


def test_absent_prefetch_is_fetched_with_included_observations(client: TestClient) -> None:
    report = dr("r3-fetched", result=[{"reference": "Observation/r3-fo"}])
    impression = obs("r3-fo", "19005-8", IMPRESSION_ONLY)
    server = FhirServer(resources={"DiagnosticReport": [report]}, page_size=5)
    for fake in serve_fhir(server):
        req = hook(fhirServer=fake.base, fhirAuthorization=auth("r3-fetch-token"))
        del req["prefetch"]["reports"]
        spec_cards(client.post(REVIEW, json=req))
        assert set(fake.seen_auth) == {"Bearer r3-fetch-token"}
    # the server's search had no _include: the reference cannot resolve, the report has no text and is skipped
    assert "r3-fetched" not in stored_reports(client)
    req = hook(reports=searchset(report, include=(impression,)))
    spec_cards(client.post(REVIEW, json=req))
    assert "r3-fetched" in stored_reports(client)


def test_fhir_authorization_without_fhir_server_and_http_server_in_production(client: TestClient) -> None:
    req = hook(fhirAuthorization=auth())
    del req["fhirServer"]
    assert "fhirAuthorization" in outcome(client.post(REVIEW, json=req), 400)["issue"][0]["diagnostics"]
    assert all(b"r3-access-token" not in r.raw for r in kept(client))


# ---- 2c. order-select / order-sign with draftOrders as EHRs shape them -------------------------


def lung_prefetch() -> dict[str, Any]:
    return searchset(dr("r3-prior", presentedForm=plain()))


def test_order_sign_epic_shape_coded_only_with_urn_fullurl(client: TestClient) -> None:
    """Unsaved draft with no id, only a urn:uuid fullUrl; the code CPT-coded with a display only, no text."""
    order = service_request(None, code={"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "71250",
                                                    "display": "CT CHEST W/O CONTRAST"}]},
                            extension=[{"url": "http://open.epic.com/FHIR/StructureDefinition/extension/order-class",
                                        "valueCoding": {"code": "1", "display": "Normal"}}],
                            priority="routine")
    req = hook("order-sign", reports=lung_prefetch())
    req["context"]["draftOrders"] = draft({"fullUrl": "urn:uuid:5c1a3e1e-6b7b-4b41-9a4f-1f8e2b0d9a11", "resource": order})
    seed_stated_rads(client, req["prefetch"]["reports"])
    cards = spec_cards(client.post(ORDER, json=req))
    assert "prior-imaging" in topics(cards)


@pytest.mark.parametrize("selection", ["urn:uuid:0b7f0c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b",
                                       "https://ehr.example/fhir/ServiceRequest/r3-chest"])
def test_order_select_selections_by_fullurl_or_absolute_url(client: TestClient, selection: str) -> None:
    chest = {"fullUrl": "urn:uuid:0b7f0c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b",
             "resource": service_request("r3-chest", code={"text": "CT CHEST LOW DOSE"})}
    head = {"fullUrl": "urn:uuid:7d1e0a2b-3c4d-4e5f-9a0b-1c2d3e4f5a6b",
            "resource": service_request("r3-head", code={"text": "MRI BRAIN WITHOUT CONTRAST"})}
    req = hook("order-select", reports=lung_prefetch())
    req["context"].update(draftOrders=draft(head, chest), selections=[selection])
    seed_stated_rads(client, req["prefetch"]["reports"])
    assert "prior-imaging" in topics(spec_cards(client.post(ORDER, json=req)))
    req = hook("order-select", reports=lung_prefetch())
    req["context"].update(draftOrders=draft(head, chest), selections=[head["fullUrl"]])
    assert "prior-imaging" not in topics(spec_cards(client.post(ORDER, json=req)))


def test_order_sign_with_only_non_imaging_or_resourceless_entries(client: TestClient) -> None:
    med = {"resourceType": "MedicationRequest", "id": "r3-med", "status": "draft", "intent": "order",
           "medicationCodeableConcept": {"text": "Amoxicillin 500 mg"}, "subject": {"reference": f"Patient/{PATIENT}"}}
    req = hook("order-sign", reports=lung_prefetch())
    req["context"]["draftOrders"] = draft({"resource": med}, {"request": {"method": "POST", "url": "ServiceRequest"}},
                                          {"fullUrl": "urn:uuid:1", "resource": None})
    cards = spec_cards(client.post(ORDER, json=req))
    assert not topics(cards) & {"prior-imaging", "duplicate-imaging"}


def test_order_sign_cerner_shape_with_body_site_and_category(client: TestClient) -> None:
    order = service_request("r3-cerner", category=[{"coding": [{"system": "http://snomed.info/sct",
                                                                  "code": "363679005", "display": "Imaging"}]}],
                            code={"coding": [{"system": "http://loinc.org", "code": "30745-4"}], "text": "CT"},
                            bodySite=[{"text": "Chest"}], reasonCode=[{"text": "Follow-up lung nodule"}],
                            requester={"reference": "Practitioner/r3-doc-1"})
    req = hook("order-sign", reports=lung_prefetch())
    req["context"]["draftOrders"] = draft({"resource": order})
    seed_stated_rads(client, req["prefetch"]["reports"])
    cards = spec_cards(client.post(ORDER, json=req))
    assert "prior-imaging" in topics(cards)


def test_order_select_without_draft_orders_is_400_naming_it(client: TestClient) -> None:
    req = hook("order-select")
    req["context"]["selections"] = ["ServiceRequest/x"]
    assert "draftOrders" in outcome(client.post(ORDER, json=req), 400)["issue"][0]["diagnostics"]
    assert kept(client)[0].status == "rejected"


# ---- 2d. feedback --------------------------------------------------------------------------------


def test_feedback_echoing_a_coding_with_extra_fields_is_taken(client: TestClient) -> None:
    reason = {"system": "http://example.org/cds/override", "code": "already-scheduled",
              "display": "Follow-up already scheduled", "userSelected": True}
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2025-05-06T14:12:00Z",
            "overrideReason": {"reason": reason, "userComment": "booked"}, "com.epic.extra": 1}
    response = client.post(REVIEW + "/feedback", json={"feedback": [item]})
    assert response.status_code == 200 and response.json() == {}
    assert [f.outcome for f in rows(client, Feedback)] == ["overridden"]


def test_refused_feedback_is_kept_for_review(client: TestClient) -> None:
    outcome(client.post(REVIEW + "/feedback", content=b"not json", headers={"Content-Type": "application/json"}), 400)
    outcome(client.post(REVIEW + "/feedback", content=b"<feedback/>", headers={"Content-Type": "text/xml"}), 415)
    outcome(client.post("/cds-services/nope/feedback", json={"feedback": []}), 404)
    stored = kept(client, "cds-feedback")
    assert [r.raw for r in stored][:2] == [b"not json", b"<feedback/>"] and len(stored) == 3
    assert all(r.status == "rejected" and r.error for r in stored)


# ---- 2e. JWT variants on the service and feedback endpoints ------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def quiet_hook() -> dict[str, Any]:
    req = hook()
    req["prefetch"]["reports"] = None  # the security is under test, not the model
    return req


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_recommended_algorithms_are_accepted_on_the_service(secured: TestClient, keys: Keys, alg: str) -> None:
    assert spec_cards(secured.post(REVIEW, json=quiet_hook(), headers=bearer(mint(keys, BASE + REVIEW, alg=alg)))) == []


@pytest.mark.parametrize("variant", ["missing-kid", "expired", "other-service-aud", "foreign-jku", "kid-of-other-alg",
                                     "typ-not-jwt", "no-jti"])
def test_jwt_variants_are_401_without_detail_and_nothing_is_kept(secured: TestClient, keys: Keys,
                                                                 variant: str) -> None:
    aud = BASE + REVIEW
    token = {
        "missing-kid": lambda: raw_token(keys, aud, header={"typ": "JWT"}),
        "expired": lambda: mint(keys, aud, iat_offset=-600, exp_in=300),
        "other-service-aud": lambda: mint(keys, BASE + ORDER),
        "foreign-jku": lambda: mint(keys, aud, jku="https://attacker.example/.well-known/jwks.json"),
        "kid-of-other-alg": lambda: mint(keys, aud, alg="ES384", kid=RS_KID),
        "typ-not-jwt": lambda: mint(keys, aud, extra_header={"typ": "at+jwt"}),
        "no-jti": lambda: raw_token(keys, aud, drop="jti"),
    }[variant]()
    response = secured.post(REVIEW, json=quiet_hook(), headers=bearer(token))
    body = outcome(response, 401)
    assert body["issue"][0]["diagnostics"] == "Unauthorized" and response.headers["www-authenticate"] == "Bearer"
    assert kept(secured) == [] and rows(secured, CardServed) == []


def raw_token(keys: Keys, aud: str, *, header: dict[str, Any] | None = None, drop: str | None = None) -> str:
    """An ES384 token with exactly this header (no kid unless given) and one claim left out."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()), "sub": "client-app"}
    claims.pop(drop or "", None)
    return jwt.encode(claims, keys.es, algorithm="ES384", headers=header or {"typ": "JWT", "kid": ES_KID})


def test_feedback_accepts_its_own_or_its_service_audience_only(secured: TestClient, keys: Keys) -> None:
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2025-05-06T14:12:00Z"}
    url = REVIEW + "/feedback"
    for aud in (BASE + url, BASE + REVIEW):
        assert secured.post(url, json={"feedback": [item]}, headers=bearer(mint(keys, aud))).status_code == 200
    for aud in (BASE + "/cds-services", BASE + ORDER, BASE + ORDER + "/feedback"):
        outcome(secured.post(url, json={"feedback": [item]}, headers=bearer(mint(keys, aud))), 401)


# ---- 2f. FHIR door ---------------------------------------------------------------------------------


def test_fhir_door_reads_a_parameters_bundle_with_referenced_observations(client: TestClient) -> None:
    report = dr("r3-param", result=[{"reference": "Observation/r3-pf"}, {"reference": "Observation/r3-pi"}])
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "https://ehr.example/fhir/DiagnosticReport/r3-param", "resource": report},
        {"fullUrl": "https://ehr.example/fhir/Observation/r3-pf", "resource": obs("r3-pf", "18782-3", FINDINGS_ONLY)},
        {"fullUrl": "https://ehr.example/fhir/Observation/r3-pi", "resource": obs("r3-pi", "19005-8", IMPRESSION_ONLY)},
        {"resource": {"resourceType": "Patient", "id": PATIENT}}]}
    params = {"resourceType": "Parameters", "parameter": [{"name": "tasks", "valueString": "ner"},
                                                         {"name": "bundle", "resource": bundle}]}
    response = client.post("/fhir/DiagnosticReport/$analyze?tasks=rads_assignment", content=json.dumps(params),
                           headers={"Content-Type": "application/fhir+json; fhirVersion=4.0"})
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "transaction" and "r3-param" in stored_reports(client)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/pdf"])
def test_fhir_door_refuses_non_json_media_with_415_and_keeps_it(client: TestClient, content_type: str) -> None:
    body = json.dumps(dr(presentedForm=plain())).encode()
    outcome(client.post("/fhir/DiagnosticReport/$analyze", content=body, headers={"Content-Type": content_type}), 415)
    [row] = kept(client, "http-fhir")
    assert row.status == "rejected" and row.raw == body


def test_fhir_door_is_strict_about_unknown_elements_the_hook_door_is_not(client: TestClient) -> None:
    report = dr("r3-strict", presentedForm=plain(), vendorFlag=True)
    body = outcome(client.post("/fhir/DiagnosticReport/$analyze", content=json.dumps(report),
                               headers={"Content-Type": "application/fhir+json"}), 400)
    assert body["issue"][0]["code"] == "structure" and body["issue"][0]["expression"] == ["DiagnosticReport.vendorFlag"]
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report))))
    assert "r3-strict" in stored_reports(client)


def test_fhir_door_routing_errors_are_operation_outcomes(client: TestClient) -> None:
    outcome(client.get("/fhir/DiagnosticReport/$analyze"), 405)
    outcome(client.post("/fhir/Observation/$analyze", json={}), 404)
