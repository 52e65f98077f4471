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
