"""Round 4 of the HTTP doors: CDS Hooks 2.0 and FHIR requests shaped as Epic, Oracle Health, the CDS
Hooks sandbox and generic FHIR clients send them, none taken from the dev set.

Real app, real demo model, real SQLite (PostgreSQL where column types and bounds matter), real JWTs
and a real JWKS / FHIR server on loopback (conftest_cds). Every 200 hook answer is checked card by
card against CDS Hooks 2.0 §1.6 (and the demo notice); every refusal must be an OperationOutcome
with a fitting issue code and be kept for review as an InboundMessage row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from conftest_cds import ES_KID, ISSUER, FhirServer, Keys, cds_settings, kept, mint, outcome, rows, serve_fhir
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from adapters import fhir
from adapters.cds.models import CdsResponse, empty_paths, summary_length
from adapters.fhir.inbound import rtf_to_text
from models.types import DEMO_NOTICE, TaskName, TaskRequest
from plugin.app import create_app
from plugin.security import Caller
from plugin.storage import queries
from plugin.storage.db import session_scope
from plugin.storage.tables import AuditEvent, CardServed, Feedback, InboundMessage, Report

REVIEW = "/cds-services/radlite-report-review"
ORDER = "/cds-services/radlite-imaging-order"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
PATIENT = "eRx4.Pq7-r4"
BASE = "https://cds.r4.example"
LUNG = (
    "FINDINGS:\nSolid nodule in the right upper lobe measuring 9 mm, new since the prior screening.\n"
    "No lymphadenopathy.\n\nIMPRESSION:\nNew 9 mm solid right upper lobe nodule. Lung-RADS 4A: suspicious. "
    "Low-dose chest CT in 3 months is recommended."
)
THYROID = (
    "FINDINGS:\nRight lobe: 1.6 cm solid hypoechoic nodule with irregular margins.\n\n"
    "IMPRESSION:\nRight thyroid nodule, ACR TI-RADS TR5. Fine needle aspiration is recommended."
)
FEEDBACK_ITEM = {"outcome": "overridden", "outcomeTimestamp": "2026-03-02T09:15:00Z"}


# ---- fixtures -------------------------------------------------------------------------------------


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


def secured_app(url: str, ensemble: Any, jwks: FhirServer) -> Any:
    issuers = [{"iss": ISSUER, "jku": jwks.base + "/.well-known/jwks.json"}]
    settings = cds_settings(
        url,
        jwt_required=True,
        public_base_url=BASE,
        trusted_issuers=json.dumps(issuers),
        jwt_leeway_seconds=5,
        hook_budget_seconds=0.1,
    )
    return create_app(settings, ensemble=ensemble)


@pytest.fixture()
def secured(sqlite_url: str, ensemble: Any, jwks: FhirServer) -> Iterator[TestClient]:
    with TestClient(secured_app(sqlite_url, ensemble, jwks)) as c:
        yield c


# ---- builders -------------------------------------------------------------------------------------


def b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode("ascii")


def dr(rid: str = "r4-dr-1", text: str = LUNG, **extra: Any) -> dict[str, Any]:
    """A radiology DiagnosticReport as a US Core EHR returns it."""
    out: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "category": [
            {"coding": [{"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"}]}
        ],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "CT Chest"}],
            "text": "CT CHEST LOW DOSE SCREENING",
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": "2026-02-10T08:30:00-05:00",
        "issued": "2026-02-10T10:02:11-05:00",
        "identifier": [
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]
                },
                "value": f"ACC-{rid}",
            }
        ],
        "presentedForm": [{"contentType": "text/plain", "data": b64(text)}],
    }
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


def obs(oid: str, loinc: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "valueString": text,
    }


def searchset(*resources: dict[str, Any], extra: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    entries = [
        {
            "fullUrl": f"https://ehr.r4.example/fhir/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": entries + list(extra),
    }


def hook(name: str = "patient-view", reports: Any = ..., **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hookInstance": str(uuid.uuid4()),
        "hook": name,
        "fhirServer": "https://ehr.r4.example/fhir",
        "context": {"userId": "Practitioner/r4-doc", "patientId": PATIENT},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": PATIENT},
            "reports": searchset(dr()) if reports is ... else reports,
        },
    }
    body.update(extra)
    return body


def auth(token: str = "r4-access-token", **fields: Any) -> dict[str, Any]:
    out = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/DiagnosticReport.read user/Patient.read",
        "subject": "radlite-cds",
    }
    out.update(fields)
    return {k: v for k, v in out.items() if v is not None}


def service_request(rid: str | None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "occurrenceDateTime": "2026-05-10",
    }
    if rid:
        out["id"] = rid
    out.update(fields)
    return out


def draft(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": list(entries)}




def stored_reports(client: TestClient) -> dict[str, Report]:
    return {r.report_id: r for r in rows(client, Report)}


def seed_stated_rads(client: TestClient, resource: dict[str, Any]) -> None:
    """Store the rules engine's reading of the stated RADS category, as an earlier analysis would have."""
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    for report in fhir.reports_from_resource(resource):
        stated = pipeline.ensemble.rules.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
        assert stated is not None
        with session_scope(pipeline.sessions) as s:
            row = queries.get_or_create_analysis(
                s, content_hash=report.content_hash, manifest_version=pipeline.manifest_version
            )
            queries.save_result(s, analysis_id=row.id, result=stated)


def spec_cards(response: Any) -> list[dict[str, Any]]:
    """A 200 answer whose cards are each well formed per CDS Hooks 2.0 §1.6, demo marked."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) <= {"cards", "systemActions"} and isinstance(body["cards"], list)
    CdsResponse.model_validate(body)
    assert empty_paths(body) == []
    for card in body["cards"]:
        assert 0 < summary_length(card["summary"]) < 140 and card["indicator"] in (
            "info",
            "warning",
            "critical",
        )
        assert card["source"]["label"] and uuid.UUID(card["uuid"])
        assert (DEMO_NOTICE in card.get("detail", "")) == (DEMO_NOTICE in card["source"]["label"])
        if "suggestions" in card:
            assert card["selectionBehavior"] in ("at-most-one", "any")
            for action in (a for s in card["suggestions"] for a in s.get("actions", [])):
                assert action["description"] and action["type"] in ("create", "update", "delete")
                assert ("resource" in action) != (action["type"] == "delete")
        for reason in card.get("overrideReasons", []):
            assert reason["code"] and reason["system"] and reason["display"]
    return body["cards"]



def topics(cards: list[dict[str, Any]]) -> set[str]:
    return {c["source"]["topic"]["code"] for c in cards if "topic" in c["source"]}


def analysed(response: Any) -> list[dict[str, Any]]:
    """The Observations of a 200 `$analyze` answer (a transaction Bundle), AI-labelled and preliminary."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    observations = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
    for o in observations:
        assert o["status"] == "preliminary"
        assert "AIAST" in {s["code"] for s in o["meta"]["security"]}
    demo_devices = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Device"
        and any(t["code"] == "demo-model" for t in e["resource"]["meta"].get("tag", []))
    ]
    assert demo_devices, "the demo model took part and must be named as such"
    return observations


def post_fhir(
    client: TestClient,
    body: Any,
    content_type: str = "application/fhir+json",
    query: str = "?tasks=rads_assignment",
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(ANALYZE + query, content=raw, headers={"Content-Type": content_type})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def quiet_hook() -> dict[str, Any]:
    """A valid request with no report data: the security is under test, not the model."""
    return hook(reports=None)


# ---- 1. discovery and paths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept", [None, "application/json", "application/fhir+json", "*/*", "application/json, text/plain, */*"]
)
def test_discovery_with_and_without_trailing_slash_answers_in_place(
    client: TestClient, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    plain = client.get("/cds-services", headers=headers, follow_redirects=False)
    slashed = client.get("/cds-services/", headers=headers, follow_redirects=False)
    assert plain.status_code == slashed.status_code == 200  # no 307 to an http:// URL behind a TLS proxy
    assert plain.json() == slashed.json()
    services = plain.json()["services"]
    assert {(s["id"], s["hook"]) for s in services} == {
        ("radlite-report-review", "patient-view"),
        ("radlite-imaging-order", "order-select"),
        ("radlite-imaging-order", "order-sign"),
    }
    assert all(s["description"] and "{{context.patientId}}" in s["prefetch"]["reports"] for s in services)


def test_service_and_feedback_urls_with_a_trailing_slash_are_served_not_redirected(
    client: TestClient,
) -> None:
    cards = spec_cards(client.post(REVIEW + "/", json=hook(), follow_redirects=False))
    assert cards and "r4-dr-1" in stored_reports(client)
    item = {"card": cards[0]["uuid"], **FEEDBACK_ITEM}
    response = client.post(REVIEW + "/feedback/", json={"feedback": [item]}, follow_redirects=False)
    assert response.status_code == 200 and response.json() == {}
    assert [f.card_uuid for f in rows(client, Feedback)] == [cards[0]["uuid"]]


def test_patient_view_on_the_order_service_is_400_and_an_unadvertised_service_404(client: TestClient) -> None:
    outcome(client.post(ORDER, json=hook()), 400, "not-supported")
    outcome(client.post("/cds-services/radlite-patient-view", json=hook()), 404, "not-found")
    assert [r.status for r in kept(client)] == ["rejected", "rejected"]


def test_discovery_signed_for_the_slashed_url_is_accepted(secured: TestClient, keys: Keys) -> None:
    assert (
        secured.get("/cds-services/", headers=bearer(mint(keys, BASE + "/cds-services/"))).status_code == 200
    )
    assert (
        secured.get("/cds-services/", headers=bearer(mint(keys, BASE + "/cds-services"))).status_code == 200
    )


# ---- 2. hookInstance is a UUID (spec §1.3) ------------------------------------------------------------


@pytest.mark.parametrize(
    "instance",
    [
        "epic-7Hq2-0001",
        "42",
        "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}",
        "3f2504e04f8911d39a0c0305e82c3301",
        "3f2504e0-4f89-11d3-9a0c-0305e82c330",
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301\n",
        "h" * 300,
    ],
)
def test_a_hook_instance_that_is_not_a_uuid_is_400_and_kept(client: TestClient, instance: str) -> None:
    body = outcome(client.post(REVIEW, json=hook(hookInstance=instance)), 400, "invalid")
    assert "hookInstance" in body["issue"][0]["diagnostics"] and "UUID" in body["issue"][0]["diagnostics"]
    [row] = kept(client)
    assert row.status == "rejected" and row.control_id and len(row.control_id) <= 255
    assert rows(client, CardServed) == [] and stored_reports(client) == {}


@pytest.mark.parametrize("value", [12345, None, ["3f2504e0-4f89-11d3-9a0c-0305e82c3301"]])
def test_a_hook_instance_that_is_not_a_string_is_400(client: TestClient, value: Any) -> None:
    outcome(client.post(REVIEW, json=hook(hookInstance=value)), 400, "invalid")
    assert kept(client)[0].control_id is None


@pytest.mark.parametrize(
    "instance",
    [
        "3F2504E0-4F89-11D3-9A0C-0305E82C3301",  # upper case (.NET Guid)
        "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301",  # RFC 4122 URN form
        "15210fb2-c8a4-51d7-9655-bfc3647bff69",
    ],
)  # version 5
def test_uuid_spellings_are_accepted(client: TestClient, instance: str) -> None:
    spec_cards(client.post(REVIEW, json=hook(hookInstance=instance, reports=None)))
    [row] = kept(client)
    assert row.control_id == instance and row.status == "done"


# ---- 3. patient-view prefetch shapes ----------------------------------------------------------------


def test_search_bundle_with_an_operation_outcome_entry_still_gives_cards(client: TestClient) -> None:
    warning = {
        "resource": {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "warning", "code": "incomplete", "diagnostics": "Some results were suppressed"}
            ],
        },
        "search": {"mode": "outcome"},
    }
    cards = spec_cards(client.post(REVIEW, json=hook(reports=searchset(dr(), extra=(warning,)))))
    assert cards and "r4-dr-1" in stored_reports(client)


def test_prefetch_keys_we_do_not_advertise_are_ignored(client: TestClient) -> None:
    req = hook(reports=None)
    req["prefetch"]["radReports"] = searchset(dr("r4-unadvertised"))
    req["prefetch"]["org.example.problems"] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    assert spec_cards(client.post(REVIEW, json=req)) == []
    assert "r4-unadvertised" not in stored_reports(client)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"scope": None, "subject": None},
        {"expires_in": None},
        {"expires_in": 299.7},
        {"token_type": "bearer"},
        {"patient": PATIENT, "scope": "patient/*.read"},
    ],
)
def test_partial_prefetch_is_fetched_with_the_bearer_token_whatever_the_optional_fields(
    client: TestClient, fields: dict[str, Any]
) -> None:
    server = FhirServer(
        resources={
            "DiagnosticReport": [dr("r4-fetched")],
            "Patient": [{"resourceType": "Patient", "id": PATIENT}],
        },
        page_size=5,
    )
    for fake in serve_fhir(server):
        req = hook(fhirServer=fake.base + "/", fhirAuthorization=auth("r4-fetch-token", **fields))
        del req["prefetch"]["reports"]  # the patient key is present, the reports key is not
        cards = spec_cards(client.post(REVIEW, json=req))
        assert cards and set(fake.seen_auth) == {"Bearer r4-fetch-token"}
        assert any(p.startswith("/DiagnosticReport?patient=") for p in fake.seen_paths)
    assert "r4-fetched" in stored_reports(client)
    assert all(b"r4-fetch-token" not in r.raw for r in rows(client, InboundMessage))


def test_a_null_prefetch_object_means_fetch_everything(client: TestClient) -> None:
    server = FhirServer(resources={"DiagnosticReport": [dr("r4-all-fetched")]}, page_size=5)
    for fake in serve_fhir(server):
        req = hook(fhirServer=fake.base, fhirAuthorization=auth(), prefetch=None)
        spec_cards(client.post(REVIEW, json=req))
    assert "r4-all-fetched" in stored_reports(client)


def test_paged_prefetch_with_a_relative_next_link_is_completed(client: TestClient) -> None:
    second = dr(
        "r4-page2", text=THYROID, effectiveDateTime="2025-11-02T09:00:00Z", code={"text": "US THYROID"}
    )
    server = FhirServer(resources={"DiagnosticReport": [dr("r4-page1"), second]})
    for fake in serve_fhir(server):
        first = searchset(dr("r4-page1"))
        first["total"] = 2
        first["link"] = [
            {"relation": "self", "url": f"DiagnosticReport?patient={PATIENT}"},
            {"relation": "next", "url": f"DiagnosticReport?patient={PATIENT}&page=1"},
        ]
        spec_cards(
            client.post(REVIEW, json=hook(reports=first, fhirServer=fake.base, fhirAuthorization=auth()))
        )
        assert fake.seen_auth == ["Bearer r4-access-token"]
    assert {"r4-page1", "r4-page2"} <= set(stored_reports(client))


@pytest.mark.parametrize(
    "link",
    [
        {"relation": "next", "url": "{other}/DiagnosticReport?page=1"},
        {"relation": "next"},
        {"relation": "next", "url": 7},
        {"relation": "next", "url": ""},
    ],
)
def test_a_next_link_we_cannot_follow_keeps_the_page_and_leaks_no_token(
    client: TestClient, link: dict[str, Any]
) -> None:
    """A next link on another origin (an internal host name) or without a usable url: the page is used."""
    other = FhirServer(resources={"DiagnosticReport": [dr("r4-elsewhere")]})
    for far in serve_fhir(other):
        for near in serve_fhir(FhirServer(resources={})):
            page = searchset(dr("r4-first-page"))
            page["link"] = [
                {k: v.format(other=far.base) if isinstance(v, str) else v for k, v in link.items()}
            ]
            spec_cards(
                client.post(REVIEW, json=hook(reports=page, fhirServer=near.base, fhirAuthorization=auth()))
            )
            assert far.seen_auth == [] and near.seen_auth == []
    assert set(stored_reports(client)) == {"r4-first-page"}


def test_report_text_given_only_as_an_rtf_binary_is_fetched_and_read(client: TestClient) -> None:
    rtf = (
        "{\\rtf1\\ansi\\ansicpg1252{\\fonttbl{\\f0 Arial;}}\\f0\\b FINDINGS:\\b0\\par "
        + THYROID.split("\n")[1]
        + "\\par\\b IMPRESSION:\\b0\\par Right thyroid nodule, ACR TI-RADS TR5. Fine needle aspiration is "
        "recommended.\\par}"
    )
    binary = {"resourceType": "Binary", "id": "r4-rtf", "contentType": "text/rtf", "data": b64(rtf)}
    report = dr(
        "r4-by-url",
        code={"text": "US THYROID"},
        presentedForm=[
            {"contentType": "application/pdf", "url": "Binary/r4-pdf"},
            {"contentType": "text/rtf", "url": "Binary/r4-rtf"},
        ],
    )
    server = FhirServer(resources={"Binary": [binary]})
    for fake in serve_fhir(server):
        spec_cards(
            client.post(
                REVIEW, json=hook(reports=searchset(report), fhirServer=fake.base, fhirAuthorization=auth())
            )
        )
        assert fake.seen_auth == ["Bearer r4-access-token"]
    stored = stored_reports(client)["r4-by-url"].report_json
    assert "TI-RADS TR5" in stored["impression"] and "{" not in stored["findings"]


# ---- 4. order-select / order-sign draftOrders ---------------------------------------------------------


def lung_prior() -> dict[str, Any]:
    return searchset(dr("r4-prior"))


def ct_chest_codings() -> dict[str, Any]:
    return {
        "coding": [
            {
                "system": "http://www.ama-assn.org/go/cpt",
                "code": "71271",
                "display": "CT chest low dose screening",
            },
            {"system": "http://loinc.org", "code": "24627-2", "display": "CT Chest"},
            {"system": "http://www.radlex.org", "code": "RPID16", "display": "CT CHEST WO IV CONTRAST"},
            {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.696580", "code": "IMG1234"},
        ]
    }


def test_order_select_with_several_codings_and_a_type_id_selection(client: TestClient) -> None:
    chest = {
        "fullUrl": "https://ehr.r4.example/fhir/ServiceRequest/r4-chest",
        "resource": service_request("r4-chest", code=ct_chest_codings()),
    }
    knee = {
        "fullUrl": "https://ehr.r4.example/fhir/ServiceRequest/r4-knee",
        "resource": service_request("r4-knee", code={"text": "MRI KNEE RIGHT WITHOUT CONTRAST"}),
    }
    req = hook("order-select", reports=lung_prior())
    req["context"].update(draftOrders=draft(knee, chest), selections=["ServiceRequest/r4-chest"])
    seed_stated_rads(client, req["prefetch"]["reports"])
    assert "prior-imaging" in topics(spec_cards(client.post(ORDER, json=req)))


def test_order_sign_text_only_with_reason_body_site_laterality_and_contained_condition(
    client: TestClient,
) -> None:
    laterality = {
        "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-laterality",
        "valueCodeableConcept": {
            "coding": [{"system": "http://snomed.info/sct", "code": "24028007", "display": "Right"}]
        },
    }
    order = service_request(
        None,
        code={"text": "CT chest without contrast"},
        reasonCode=[
            {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/sid/icd-10-cm",
                        "code": "R91.1",
                        "display": "Solitary pulmonary nodule",
                    }
                ]
            }
        ],
        reasonReference=[{"reference": "#nodule"}],
        contained=[
            {
                "resourceType": "Condition",
                "id": "nodule",
                "code": {"text": "Lung nodule"},
                "subject": {"reference": f"Patient/{PATIENT}"},
            }
        ],
        bodySite=[
            {
                "coding": [{"system": "http://snomed.info/sct", "code": "51185008", "display": "Thorax"}],
                "extension": [laterality],
            }
        ],
    )
    req = hook("order-sign", reports=lung_prior())
    req["context"]["draftOrders"] = draft(
        {"resource": order}
    )  # no fullUrl: an entry as the sandbox builds it
    seed_stated_rads(client, req["prefetch"]["reports"])
    assert "prior-imaging" in topics(spec_cards(client.post(ORDER, json=req)))


def test_order_sign_with_a_medication_request_mixed_in(client: TestClient) -> None:
    med = {
        "resourceType": "MedicationRequest",
        "id": "r4-med",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "197361",
                    "display": "Amlodipine 5 MG",
                }
            ]
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
    }
    chest = service_request("r4-chest2", code=ct_chest_codings())
    req = hook("order-sign", reports=lung_prior())
    req["context"]["draftOrders"] = draft(
        {"fullUrl": "urn:uuid:6f1b0b33-1b86-4f0e-8f57-2f5bfb1c1f01", "resource": med},
        {"fullUrl": "urn:uuid:0e1a8d1e-5c8e-4f6e-9a43-8d2a5d0b7a11", "resource": chest},
    )
    seed_stated_rads(client, req["prefetch"]["reports"])
    cards = spec_cards(client.post(ORDER, json=req))
    assert "prior-imaging" in topics(cards)
    assert all("Amlodipine" not in c["summary"] for c in cards)


def test_order_select_naming_no_entry_falls_back_to_every_draft(client: TestClient) -> None:
    chest = {"resource": service_request("r4-chest3", code={"text": "CT CHEST LOW DOSE"})}
    req = hook("order-select", reports=lung_prior())
    req["context"].update(draftOrders=draft(chest), selections=["ServiceRequest/not-in-the-bundle"])
    seed_stated_rads(client, req["prefetch"]["reports"])
    assert "prior-imaging" in topics(spec_cards(client.post(ORDER, json=req)))


@pytest.mark.parametrize(
    "context_edit",
    [
        lambda ctx: ctx.update(selections=[]),
        lambda ctx: ctx.update(draftOrders=[{"resourceType": "ServiceRequest", "id": "x"}]),
        lambda ctx: ctx.update(draftOrders={"resourceType": "Parameters"}),
        lambda ctx: ctx.pop("patientId"),
    ],
)
def test_order_select_context_that_does_not_fit_the_hook_is_400(
    client: TestClient, context_edit: Any
) -> None:
    req = hook("order-select")
    req["context"].update(
        draftOrders=draft({"resource": service_request("o", code={"text": "CT"})}),
        selections=["ServiceRequest/o"],
    )
    context_edit(req["context"])
    outcome(client.post(ORDER, json=req), 400, "invalid")
    assert kept(client)[0].status == "rejected" and rows(client, CardServed) == []


# ---- 5. JWT variants (spec §1.8) --------------------------------------------------------------------


def claims_token(keys: Keys, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": BASE + REVIEW,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        "sub": "client-app",
    }
    body.update(claims)
    return jwt.encode(
        {k: v for k, v in body.items() if v is not None},
        keys.es,
        algorithm="ES384",
        headers={"typ": "JWT", "kid": ES_KID},
    )


def hs256_with_public_key(keys: Keys) -> str:
    """The classic key-confusion attack: HMAC-signed with the issuer's public key (PEM) as the secret."""
    pem = keys.es.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())

    def part(obj: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=")

    signing = (
        part({"alg": "HS256", "typ": "JWT", "kid": ES_KID})
        + b"."
        + part({"iss": ISSUER, "aud": BASE + REVIEW, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())})
    )
    signature = base64.urlsafe_b64encode(hmac.new(pem, signing, hashlib.sha256).digest()).rstrip(b"=")
    return (signing + b"." + signature).decode()


@pytest.mark.parametrize(
    "variant",
    [
        "nbf-future",
        "unknown-iss",
        "hs256-public-key",
        "alg-none",
        "aud-discovery",
        "aud-other-host",
        "iat-missing",
        "exp-string",
    ],
)
def test_refused_tokens_are_401_without_detail_and_nothing_kept(
    secured: TestClient, keys: Keys, variant: str
) -> None:
    now = int(time.time())
    token = {
        "nbf-future": lambda: claims_token(keys, nbf=now + 600),
        "unknown-iss": lambda: claims_token(keys, iss="https://sandbox.cds-hooks.org"),
        "hs256-public-key": lambda: hs256_with_public_key(keys),
        "alg-none": lambda: jwt.encode(
            {"iss": ISSUER, "aud": BASE + REVIEW, "iat": now, "exp": now + 300, "jti": "none-1"},
            None,
            algorithm="none",
            headers={"kid": ES_KID},
        ),
        "aud-discovery": lambda: claims_token(keys, aud=BASE + "/cds-services"),
        "aud-other-host": lambda: claims_token(keys, aud="https://cds.elsewhere.example" + REVIEW),
        "iat-missing": lambda: claims_token(keys, iat=None),
        "exp-string": lambda: claims_token(keys, exp="tomorrow"),
    }[variant]()
    response = secured.post(REVIEW, json=quiet_hook(), headers=bearer(token))
    body = outcome(response, 401, "login")
    assert (
        body["issue"][0]["diagnostics"] == "Unauthorized" and response.headers["www-authenticate"] == "Bearer"
    )
    assert kept(secured) == [] and rows(secured, CardServed) == []


@pytest.mark.parametrize(
    "claims",
    [
        {"nbf": -60},
        {"iat": 3},
        {"exp": -3},
        {"tenant": "org-42"},
        {"aud": [BASE + REVIEW, "https://other.example"]},
        {"aud": BASE + REVIEW + "/"},
    ],
)
def test_tokens_within_clock_skew_and_optional_claims_are_accepted(
    secured: TestClient, keys: Keys, claims: dict[str, Any]
) -> None:
    now = int(time.time())
    values = {k: (now + v if k in ("nbf", "iat") else v) for k, v in claims.items()}
    if "exp" in claims:  # expired 3 s ago, issued 5 min before: within the 5 s leeway
        values = {"iat": now - 300, "exp": now + claims["exp"]}
    assert (
        spec_cards(secured.post(REVIEW, json=quiet_hook(), headers=bearer(claims_token(keys, **values))))
        == []
    )


def test_a_jku_equal_to_the_allow_listed_one_is_accepted(
    secured: TestClient, keys: Keys, jwks: FhirServer
) -> None:
    token = mint(keys, BASE + REVIEW, jku=jwks.base + "/.well-known/jwks.json")
    assert spec_cards(secured.post(REVIEW, json=quiet_hook(), headers=bearer(token))) == []


def test_a_replayed_token_on_feedback_is_401(secured: TestClient, keys: Keys) -> None:
    token = mint(keys, BASE + REVIEW + "/feedback")
    item = {"card": str(uuid.uuid4()), **FEEDBACK_ITEM}
    assert (
        secured.post(REVIEW + "/feedback", json={"feedback": [item]}, headers=bearer(token)).status_code
        == 200
    )
    outcome(
        secured.post(REVIEW + "/feedback", json={"feedback": [item]}, headers=bearer(token)), 401, "login"
    )
    assert len(rows(secured, Feedback)) == 1


def test_a_very_long_or_odd_sub_never_overflows_the_caller_columns() -> None:
    short = Caller(iss=ISSUER, sub="client-app")
    assert short.actor == f"{ISSUER}|client-app"
    for sub in ("s" * 400, "app\x00one", "x" * 250, "app\udc80one"):
        actor = Caller(iss=ISSUER, sub=sub).actor
        assert actor is not None and len(actor) <= 255 and "\x00" not in actor and actor.startswith(ISSUER)
        actor.encode("utf-8")  # storable: no lone surrogate
        assert actor == Caller(iss=ISSUER, sub=sub).actor  # the same caller keeps the same actor


def test_a_very_long_jwt_sub_is_stored_on_postgres(
    pg_url: str, ensemble: Any, jwks: FhirServer, keys: Keys
) -> None:
    def token(aud: str) -> str:
        return claims_token(keys, aud=BASE + aud, sub="urn:oid:" + "1.2." * 120)

    with TestClient(secured_app(pg_url, ensemble, jwks)) as c:
        spec_cards(c.post(REVIEW, json=quiet_hook(), headers=bearer(token(REVIEW))))
        outcome(
            c.post(
                REVIEW, content=b"{", headers={**bearer(token(REVIEW)), "Content-Type": "application/json"}
            ),
            400,
            "structure",
        )
        item = {"card": str(uuid.uuid4()), **FEEDBACK_ITEM}
        assert (
            c.post(
                REVIEW + "/feedback", json={"feedback": [item]}, headers=bearer(token(REVIEW + "/feedback"))
            ).status_code
            == 200
        )
        analysed(c.post(ANALYZE + "?tasks=rads_assignment", json=dr(), headers=bearer(token(ANALYZE))))
        peers = {r.peer for r in rows(c, InboundMessage)}
        actors = {e.actor for e in rows(c, AuditEvent) if e.actor_kind == "jwt"}
    assert len(peers) == 1 and peers == actors
    [peer] = peers
    assert peer.startswith(ISSUER + "|sha256:") and len(peer) <= 255


# ---- 6. feedback ------------------------------------------------------------------------------------


def test_accepted_feedback_with_suggestions_joins_the_card_served(client: TestClient) -> None:
    cards = spec_cards(client.post(REVIEW, json=hook()))
    card = next((c for c in cards if c.get("suggestions")), cards[0])
    suggestion = card.get("suggestions", [{"uuid": str(uuid.uuid4())}])[0]["uuid"]
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": "2026-03-02T09:15:00.123-05:00",
    }
    response = client.post(REVIEW + "/feedback", json={"feedback": [item, item]})
    assert response.status_code == 200 and response.json() == {}
    [stored] = rows(client, Feedback)
    assert stored.accepted_suggestions == [suggestion]
    [event] = [e for e in rows(client, AuditEvent) if e.event_type == "feedback.received"]
    assert event.detail["known_card"] is True and event.patient_id == PATIENT


def test_overridden_with_a_reason_and_an_unknown_card_are_stored(client: TestClient) -> None:
    reason = {
        "reason": {
            "system": "http://radlite.org/fhir/CodeSystem/radlite",
            "code": "already-scheduled",
            "display": "Follow-up already scheduled",
        },
        "userComment": "Booked for May",
    }
    items = [
        {"card": str(uuid.uuid4()), "overrideReason": reason, **FEEDBACK_ITEM},
        {"card": str(uuid.uuid4()), "overrideReason": {"userComment": "Not relevant"}, **FEEDBACK_ITEM},
    ]
    assert client.post(REVIEW + "/feedback", json={"feedback": items}).status_code == 200
    assert sorted(f.override_reason.get("userComment") for f in rows(client, Feedback)) == [
        "Booked for May",
        "Not relevant",
    ]
    events = [e for e in rows(client, AuditEvent) if e.event_type == "feedback.received"]
    assert [e.detail["known_card"] for e in events] == [False, False]


def test_feedback_with_lower_case_rfc3339_letters_or_a_bom_is_taken(client: TestClient) -> None:
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-03-02t09:15:00z"}
    raw = b"\xef\xbb\xbf" + json.dumps({"feedback": [item]}).encode()
    response = client.post(REVIEW + "/feedback", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 200 and response.json() == {}
    assert [f.outcome_timestamp for f in rows(client, Feedback)] == ["2026-03-02t09:15:00z"]


@pytest.mark.parametrize(
    "item",
    [
        {"outcome": "ignored", "outcomeTimestamp": "2026-03-02T09:15:00Z"},  # cds-fb-1
        {"outcome": "accepted", "outcomeTimestamp": "2026-03-02T09:15:00Z"},  # cds-fb-2
        {
            "outcome": "overridden",
            "outcomeTimestamp": "2026-03-02T09:15:00Z",
            "overrideReason": {},
        },  # cds-fb-3
        {"outcome": "overridden", "outcomeTimestamp": "2026-03-02 09:15"},  # not RFC 3339
        {"outcome": "overridden", "outcomeTimestamp": "2026-03-02T09:15:00"},  # no offset
        {"outcome": "overridden"},  # outcomeTimestamp is required
        {"outcome": "overridden", "outcomeTimestamp": "2026-03-02T09:15:00Z", "card": "card\x00uuid"},
    ],
)
def test_feedback_that_breaks_the_spec_is_400_and_kept(client: TestClient, item: dict[str, Any]) -> None:
    body = {"feedback": [{"card": str(uuid.uuid4()), **item}]}
    outcome(client.post(REVIEW + "/feedback", json=body), 400, "invalid")
    [row] = kept(client, "cds-feedback")
    assert row.status == "rejected" and rows(client, Feedback) == []


# ---- 7. FHIR $analyze --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["preliminary", "final", "amended", "corrected", "appended"])
def test_analyze_reads_every_status_that_carries_a_result(client: TestClient, status: str) -> None:
    observations = analysed(post_fhir(client, dr(f"r4-{status}", status=status)))
    assert any("4A" in json.dumps(o) for o in observations)
    assert [r.status for r in kept(client, "http-fhir")] == ["done"]


@pytest.mark.parametrize("status", ["cancelled", "entered-in-error"])
def test_analyze_refuses_a_cancelled_or_erroneous_report_with_422(client: TestClient, status: str) -> None:
    body = outcome(post_fhir(client, dr(f"r4-{status}", status=status)), 422, "business-rule")
    assert body["issue"][0]["expression"] == ["DiagnosticReport.status"]
    [row] = kept(client, "http-fhir")
    assert row.status == "rejected" and "not analysed" in row.error
    assert stored_reports(client) == {}


def test_analyze_a_bundle_mixing_final_and_entered_in_error_reads_only_the_final(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": dr("r4-good")},
            {"resource": dr("r4-void", text=THYROID, status="entered-in-error")},
        ],
    }
    observations = analysed(post_fhir(client, bundle))
    assert observations and "TR5" not in json.dumps(observations)
    assert set(stored_reports(client)) == {"r4-good"}


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [
        ("text/plain; charset=ISO-8859-1", "latin-1"),
        ('text/plain; charset="windows-1252"', "cp1252"),
        ("text/plain;charset=UTF-8", "utf-8"),
        ("text/plain", "cp1252"),  # undeclared, not UTF-8: Windows-1252
    ],
)
def test_analyze_decodes_the_declared_charset(client: TestClient, content_type: str, encoding: str) -> None:
    text = LUNG.replace("No lymphadenopathy.", "No lymphadenopathy; caf\u00e9-au-lait spots noted.")
    report = dr("r4-charset", presentedForm=[{"contentType": content_type, "data": b64(text, encoding)}])
    analysed(post_fhir(client, report))
    assert "caf\u00e9-au-lait" in stored_reports(client)["r4-charset"].report_json["findings"]


def test_analyze_reads_rtf_when_it_is_the_only_rendition(client: TestClient) -> None:
    rtf = (
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fnil\\fcharset0 Arial;}}"
        "{\\colortbl ;\\red0\\green0"
        "\\blue0;}{\\*\\generator Riched20 10.0.19041}\\viewkind4\\uc1\\pard\\b\\f0\\fs22 FINDINGS:\\b0\\par "
        "Solid nodule in the right upper lobe measuring 9\\~mm \\endash  new."
        "\\line Caf\\'e9 \\u8805? 2 cm.\\par "
        "\\b IMPRESSION:\\b0\\par Lung-RADS 4A. Low-dose chest CT in 3 months.\\par}"
    )
    report = dr(
        "r4-rtf",
        presentedForm=[
            {"contentType": "application/pdf", "data": b64("%PDF-1.4 ...")},
            {"contentType": "text/rtf", "data": b64(rtf)},
        ],
    )
    observations = analysed(post_fhir(client, report))
    assert any("4A" in json.dumps(o) for o in observations)
    stored = stored_reports(client)["r4-rtf"].report_json
    assert "9 mm \u2013 new." in stored["findings"] and "Caf\u00e9 \u2265 2 cm." in stored["findings"]
    assert "Arial" not in stored["findings"] and "Riched20" not in stored["findings"]


def test_analyze_never_reads_other_bytes_declared_as_rtf(client: TestClient) -> None:
    report = dr(
        "r4-fake-rtf", presentedForm=[{"contentType": "application/rtf", "data": b64("%PDF-1.7 " + LUNG)}]
    )
    body = outcome(post_fhir(client, report), 400, "not-supported")
    assert body["issue"][0]["expression"] == ["DiagnosticReport.presentedForm[0].contentType"]
    assert [r.status for r in kept(client, "http-fhir")] == ["rejected"] and stored_reports(client) == {}


def test_rtf_reader_skips_destinations_and_reads_unicode() -> None:
    rtf = (
        "{\\rtf1\\ansi{\\fonttbl{\\f0 Times;}}{\\info{\\author Dr X}}{\\field{\\*\\fldinst HYPERLINK "
        "\"http://x\"}{\\fldrslt see PACS}}\\par \\uc2 size \\u8776\\'3f\\'3f 9\\~mm\\tab end\\par}"
    )
    assert rtf_to_text(rtf) == "see PACS\nsize \u2248 9 mm\tend"


def test_analyze_pdf_with_a_conclusion_reads_the_conclusion(client: TestClient) -> None:
    report = dr(
        "r4-pdf",
        conclusion="New 9 mm solid right upper lobe nodule. Lung-RADS 4A.",
        presentedForm=[{"contentType": "application/pdf", "data": b64("%PDF-1.4 fake"), "title": "Report"}],
    )
    analysed(post_fhir(client, report))
    assert stored_reports(client)["r4-pdf"].report_json["impression"].startswith("New 9 mm")


def test_analyze_bundle_with_observations_and_entries_without_full_url(client: TestClient) -> None:
    report = dr(
        "r4-bundled",
        presentedForm=None,
        result=[{"reference": "Observation/r4-f"}, {"reference": "Observation/r4-i"}],
    )
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": report, "search": {"mode": "match"}},
            {"resource": obs("r4-f", "18782-3", LUNG.split("\n")[1]), "search": {"mode": "include"}},
            {
                "resource": obs("r4-i", "19005-8", "Lung-RADS 4A. Low-dose chest CT in 3 months."),
                "search": {"mode": "include"},
            },
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "information", "code": "informational"}],
                },
                "search": {"mode": "outcome"},
            },
        ],
    }
    analysed(post_fhir(client, bundle, "application/fhir+json; fhirVersion=4.0"))
    assert stored_reports(client)["r4-bundled"].report_json["impression"].startswith("Lung-RADS 4A")


def test_analyze_a_batch_response_of_searchset_bundles(client: TestClient) -> None:
    """A client ran its searches as a batch and posts the batch-response: each entry holds a searchset."""
    batch = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [
            {"resource": searchset(dr("r4-batch-1")), "response": {"status": "200 OK"}},
            {
                "resource": searchset(dr("r4-batch-2", text=THYROID, code={"text": "US THYROID"})),
                "response": {"status": "200 OK"},
            },
        ],
    }
    observations = analysed(post_fhir(client, batch))
    assert {"r4-batch-1", "r4-batch-2"} == set(stored_reports(client))
    assert any("TR5" in json.dumps(o) for o in observations) and any(
        "4A" in json.dumps(o) for o in observations
    )
    bad = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [{"resource": searchset(dr("r4-batch-3", status="done"))}],
    }
    body = outcome(post_fhir(client, bad), 400, "value")
    assert body["issue"][0]["expression"] == ["Bundle.entry[0].resource.entry[0].resource.status"]


def test_analyze_parameters_wrapper_with_a_contained_observation_report(client: TestClient) -> None:
    report = dr(
        "r4-contained",
        presentedForm=None,
        contained=[obs("imp", "19005-8", "Right thyroid nodule, ACR TI-RADS TR5.")],
        result=[{"reference": "#imp"}],
        code={"text": "US THYROID"},
    )
    params = {"resourceType": "Parameters", "parameter": [{"name": "report", "resource": report}]}
    observations = analysed(post_fhir(client, params, "application/json"))
    assert any("TR5" in json.dumps(o) for o in observations)


@pytest.mark.parametrize(
    "content_type",
    [
        "application/fhir+json; fhirVersion=4.0.1",
        "application/fhir+json;fhirVersion=4.3",
        "application/json; fhirversion=4.0",
    ],
)
def test_analyze_reads_r4_content_by_its_fhir_version_parameter(
    client: TestClient, content_type: str
) -> None:
    analysed(post_fhir(client, dr("r4-version"), content_type))


@pytest.mark.parametrize(
    ("accept", "query", "status"),
    [
        ("application/fhir+xml", "", 406),
        ("application/xml, text/xml;q=0.9", "", 406),
        (None, "&_format=xml", 406),
        ("application/fhir+xml", "&_format=json", 200),  # _format wins over Accept (FHIR http)
        ("application/fhir+json;q=1.0, application/fhir+xml;q=0.5", "", 200),
        ("application/json+fhir", "", 200),  # the DSTU2 spelling
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "", 200),  # a browser
    ],
)
def test_analyze_answers_406_when_the_caller_accepts_no_json(
    client: TestClient, accept: str | None, query: str, status: int
) -> None:
    headers = {"Content-Type": "application/fhir+json", **({"Accept": accept} if accept else {})}
    response = client.post(
        ANALYZE + "?tasks=rads_assignment" + query, content=json.dumps(dr("r4-accept")).encode(), headers=headers
    )
    if status == 200:
        analysed(response)
        return
    outcome(response, 406, "not-supported")
    [row] = kept(client, "http-fhir")
    assert row.status == "rejected" and "406" in row.error and stored_reports(client) == {}


@pytest.mark.parametrize("version", ["3.0", "1.0.2", "6.0"])
def test_analyze_refuses_content_of_another_fhir_version_with_415(client: TestClient, version: str) -> None:
    outcome(
        post_fhir(client, dr("r4-stu3"), f"application/fhir+json; fhirVersion={version}"),
        415,
        "not-supported",
    )
    [row] = kept(client, "http-fhir")
    assert row.status == "rejected" and "fhirVersion" in row.error and stored_reports(client) == {}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}, 400, "not-supported"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "tasks", "valueString": "ner"}]},
            400,
            "required",
        ),
        ({"resourceType": "Bundle", "type": "collection", "entry": []}, 400, "required"),
        ({"resourceType": "Bundle", "type": "list", "entry": [{"resource": dr()}]}, 400, "value"),
        (b'{"resourceType": "DiagnosticReport", "status": "final",}', 400, "structure"),
        (b"[" * 50_000, 400, "structure"),  # nested too deeply for the parser: not a 500
    ],
)
def test_analyze_refusals_are_operation_outcomes_and_kept(
    client: TestClient, body: Any, status: int, code: str
) -> None:
    outcome(post_fhir(client, body), status, code)
    [row] = kept(client, "http-fhir")
    assert row.status == "rejected" and row.error


# ---- 8. hostile bodies and column bounds -------------------------------------------------------------


@pytest.mark.parametrize(("path", "channel"), [(REVIEW, "cds-hook"), (REVIEW + "/feedback", "cds-feedback")])
def test_json_nested_too_deeply_is_400_not_500_and_kept(client: TestClient, path: str, channel: str) -> None:
    raw = b'{"hook": "patient-view", "context": ' + b"[" * 50_000
    outcome(client.post(path, content=raw, headers={"Content-Type": "application/json"}), 400)
    [row] = kept(client, channel)
    assert row.status == "rejected" and row.raw == raw


def test_health_is_503_without_detail_when_the_database_is_gone(pg_url: str, ensemble: Any) -> None:
    with TestClient(create_app(cds_settings(pg_url), ensemble=ensemble), raise_server_exceptions=False) as c:
        healthy = c.get("/health")
        assert healthy.status_code == 200 and healthy.json()["status"] == "ok"
        admin = create_engine(pg_url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{pg_url.rsplit("/", 1)[1]}" WITH (FORCE)'))
        admin.dispose()
        response = c.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["manifest_version"] == healthy.json()["manifest_version"] and "Traceback" not in response.text


def test_caller_strings_that_postgres_cannot_store_are_400_or_bounded(pg_url: str, ensemble: Any) -> None:
    long_type = "application/json; profile=" + "x" * 300
    with TestClient(create_app(cds_settings(pg_url, hook_budget_seconds=0.1), ensemble=ensemble)) as c:
        req = hook(reports=None)
        req["context"]["patientId"] = "p\x00q"
        outcome(c.post(REVIEW, json=req), 400, "invalid")
        req = hook(reports=None)
        req["context"]["userId"] = "Practitioner/\x00"
        outcome(c.post(REVIEW, json=req), 400, "invalid")
        outcome(c.post(REVIEW, json=hook(hookInstance="a\x00" * 200)), 400, "invalid")
        raw = (
            json.dumps(hook(fhirAuthorization=auth("pg-secret", scope="x")))
            .encode()
            .replace(b'"x"', b'"\\udc80"')
        )
        outcome(c.post(REVIEW, content=raw, headers={"Content-Type": "application/json"}), 400, "invalid")
        outcome(c.post("/cds-services/review%00" + "x" * 300, json=quiet_hook()), 404, "not-found")
        outcome(c.post("/cds-services/review%00/feedback", json={"feedback": []}), 404, "not-found")
        spec_cards(
            c.post(REVIEW, content=json.dumps(quiet_hook()).encode(), headers={"Content-Type": long_type})
        )
        analysed(
            c.post(
                ANALYZE + "?tasks=rads_assignment",
                content=json.dumps(dr()).encode(),
                headers={"Content-Type": "application/fhir+json; fhirVersion=4.0; " + "p=q; " * 40},
            )
        )
        stored = sorted(rows(c, InboundMessage), key=lambda r: r.id)
    assert [r.status for r in stored] == ["rejected"] * 6 + ["done", "done"]
    assert all(r.error is None or "\x00" not in r.error for r in stored)
    assert all(b"pg-secret" not in r.raw for r in stored)
    assert all(r.content_type is None or len(r.content_type) <= 128 for r in stored)
    assert all(
        r.control_id is None or ("\x00" not in r.control_id and len(r.control_id) <= 255) for r in stored
    )


# ---- 9. EHR habits the spec does not ask for, read the way they are meant ----------------------------


def test_a_patient_reference_as_patient_id_names_the_same_patient(client: TestClient) -> None:
    """Some EHRs send context.patientId as "Patient/<id>": reading it as another patient would set
    every report aside and hide every card."""
    req = hook()
    req["context"]["patientId"] = f"Patient/{PATIENT}"
    spec_cards(client.post(REVIEW, json=req))
    assert "r4-dr-1" in stored_reports(client)
    assert not [e for e in rows(client, AuditEvent) if e.event_type == "safety.anomaly"]


def test_another_patients_reference_is_still_set_aside(client: TestClient) -> None:
    req = hook()
    req["context"]["patientId"] = "Patient/r4-someone-else"
    assert spec_cards(client.post(REVIEW, json=req)) == []
    anomalies = [e for e in rows(client, AuditEvent) if e.event_type == "safety.anomaly"]
    assert anomalies and anomalies[0].patient_id == "r4-someone-else"


def test_head_on_health_and_discovery_answers_like_get(client: TestClient) -> None:
    assert client.head("/health").status_code == 200
    assert client.head("/cds-services").status_code == 200
