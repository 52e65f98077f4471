"""FHIR front door: `$analyze` answers a transaction Bundle; invalid input gets 400 with an
OperationOutcome and is kept for review."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from plugin.app import create_app
from plugin.storage.tables import InboundMessage


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any, settings_for: Any):  # type: ignore[no-untyped-def]
    app = create_app(settings_for(sqlite_url, worker_enabled=False), ensemble=ensemble)
    with TestClient(app) as c:
        yield c


def test_bad_resources_get_operation_outcome_and_are_kept(client: TestClient, dev: Path) -> None:
    expected = json.loads((dev / "fhir" / "bad" / "expected.json").read_text())
    for name in expected:
        body = (dev / "fhir" / "bad" / name).read_bytes()
        response = client.post("/fhir/DiagnosticReport/$analyze", content=body,
                               headers={"Content-Type": "application/fhir+json"})
        assert response.status_code in (400, 422), name
        outcome = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"] and all(i["severity"] in ("error", "fatal") for i in outcome["issue"])
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(InboundMessage).where(InboundMessage.channel == "http-fhir")).all()
    assert len(rows) == len(expected) and all(r.status == "rejected" and r.error for r in rows)
    assert {r.raw for r in rows} == {(dev / "fhir" / "bad" / n).read_bytes() for n in expected}


def test_missing_status_names_status(client: TestClient, dev: Path) -> None:
    body = (dev / "fhir" / "bad" / "missing-status.json").read_bytes()
    outcome = client.post("/fhir/DiagnosticReport/$analyze", content=body).json()
    assert "status" in json.dumps(outcome)


def test_not_json_is_400(client: TestClient) -> None:
    response = client.post("/fhir/DiagnosticReport/$analyze", content=b"MSH|^~\\&|not json")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_analyze_returns_a_transaction_bundle(client: TestClient, dev: Path) -> None:
    body = (dev / "fhir" / "dr-03.json").read_bytes()  # US thyroid, TI-RADS TR4 stated
    response = client.post("/fhir/DiagnosticReport/$analyze?tasks=rads_assignment", content=body)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert "Observation" in kinds and "Provenance" in kinds
    text = json.dumps(bundle)
    assert "TR4" in text
    assert "demo model, not for clinical use" in text
    assert all(e["request"]["method"] in ("POST", "PUT") for e in bundle["entry"])
    # every Observation names its profile, and we serve that profile
    for obs in (e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"):
        [url] = obs["meta"]["profile"]
        served = client.get("/fhir/StructureDefinition/" + url.rsplit("/", 1)[1])
        assert served.status_code == 200 and served.json()["url"] == url


def test_health_reports_the_database_and_the_manifest(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["manifest_version"] == client.app.state.ensemble.manifest_version  # type: ignore[attr-defined]
    assert {m["id"] for m in body["models"]} and all(m["sha256"] for m in body["models"])
    assert not any("path" in m for m in body["models"])  # no file system layout to anonymous callers


def test_local_code_system_is_served(client: TestClient) -> None:
    response = client.get("/fhir/CodeSystem/radlite")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "CodeSystem" and body["url"] == "http://radlite.org/fhir/CodeSystem/radlite"
    assert {"bi-rads-4A", "chexpert-pleural-effusion", "critical-pneumothorax"} <= {c["code"] for c in body["concept"]}


def test_profiles_are_served(client: TestClient) -> None:
    response = client.get("/fhir/StructureDefinition")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert bundle["total"] == len(bundle["entry"]) == 11
    for entry in bundle["entry"]:
        sd = entry["resource"]
        assert sd["resourceType"] == "StructureDefinition" and sd["type"] == "Observation"
        assert sd["url"] == f"http://radlite.org/fhir/StructureDefinition/{sd['id']}"
        assert entry["fullUrl"] == f"http://testserver/fhir/StructureDefinition/{sd['id']}"
        assert client.get(entry["fullUrl"]).json() == sd
    impression = "http://radlite.org/fhir/StructureDefinition/radlite-impression"
    found = client.get("/fhir/StructureDefinition", params={"url": impression}).json()
    assert found["total"] == 1 and found["entry"][0]["resource"]["url"] == impression
    assert client.get("/fhir/StructureDefinition", params={"url": "http://example.org/x"}).json() == {
        "resourceType": "Bundle", "type": "searchset", "total": 0}


def test_unknown_profile_is_404_with_operation_outcome(client: TestClient) -> None:
    response = client.get("/fhir/StructureDefinition/radlite-no-such-profile")
    assert response.status_code == 404 and response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "not-found"
    assert "radlite-no-such-profile" not in response.text


# ---- requests outside the dev set (media types, bodies, Parameters) ----------------------------

_REPORT = ("FINDINGS:\nThyroid: 1.4 cm solid hypoechoic nodule in the right lobe.\n\n"
           "IMPRESSION:\nTI-RADS TR4 right thyroid nodule.")


def _dr(**extra: Any) -> dict[str, Any]:
    import base64

    dr = {"resourceType": "DiagnosticReport", "id": "door-unseen-1", "status": "final",
          "code": {"text": "US THYROID"}, "subject": {"reference": "Patient/door-pat-1"},
          "presentedForm": [{"contentType": "text/plain; charset=utf-8",
                             "data": base64.b64encode(_REPORT.encode()).decode()}]}
    dr.update(extra)
    return dr


def _kept(client: TestClient) -> list[InboundMessage]:
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(InboundMessage).where(InboundMessage.channel == "http-fhir")).all())


@pytest.mark.parametrize("content_type", ["application/fhir+json", "application/json; charset=utf-8",
                                          "application/fhir+json; fhirVersion=4.0", None])
def test_json_media_types_and_a_parameters_body_are_analysed(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    params = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": _dr()}]}
    for body in (_dr(), params):
        response = client.post("/fhir/DiagnosticReport/$analyze?tasks=rads_assignment",
                               content=json.dumps(body).encode(), headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/fhir+json")
        assert "TR4" in response.text


def test_xml_is_415_and_unreadable_bodies_are_400_all_kept(client: TestClient) -> None:
    xml = b'<DiagnosticReport xmlns="http://hl7.org/fhir"><status value="final"/></DiagnosticReport>'
    response = client.post("/fhir/DiagnosticReport/$analyze", content=xml,
                           headers={"Content-Type": "application/fhir+xml"})
    assert response.status_code == 415 and response.json()["issue"][0]["code"] == "not-supported"
    bodies = [b"", b"[]", b"null", b'"DiagnosticReport"', b"\xff\xfe\x00", b'{"resourceType": "DiagnosticReport"']
    for body in bodies:
        response = client.post("/fhir/DiagnosticReport/$analyze", content=body,
                               headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 400, body
        assert response.json()["resourceType"] == "OperationOutcome"
    kept = _kept(client)
    assert len(kept) == 1 + len(bodies) and all(r.status == "rejected" and r.error for r in kept)


@pytest.mark.parametrize(("resource", "expression", "code"), [
    (_dr(presentedForm=[{"contentType": "application/pdf", "data": "JVBERi0xLjQ="}]),
     "DiagnosticReport.presentedForm[0].contentType", "not-supported"),
    (_dr(status=None), "DiagnosticReport.status", "required"),
    (_dr(resourceType="DocumentReference"), "resourceType", "not-supported"),
])
def test_unreadable_reports_name_the_fault(client: TestClient, resource: dict[str, Any], expression: str,
                                           code: str) -> None:
    response = client.post("/fhir/DiagnosticReport/$analyze", content=json.dumps(resource).encode(),
                           headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["code"] == code and issue["expression"] == [expression]
    [kept] = _kept(client)
    assert kept.status == "rejected" and expression in kept.error


def test_huge_body_is_413(client: TestClient) -> None:
    limit = client.app.state.settings.max_request_bytes  # type: ignore[attr-defined]
    big = _dr(conclusion="x" * (limit + 1))
    response = client.post("/fhir/DiagnosticReport/$analyze", content=json.dumps(big).encode(),
                           headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 413 and response.json()["resourceType"] == "OperationOutcome"
