"""The FHIR door's CapabilityStatement (`/fhir/metadata`) and the OperationDefinition of $analyze."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.fhir.capability import ANALYZE_URL, capability_statement, operation_definition
from adapters.fhir.profiles import profile_ids, structure_definition
from models.types import TaskName
from plugin.app import create_app

BASE = "https://cds.example.org/fhir"


def test_both_resources_are_valid_r4(validate_r4: Any) -> None:
    validate_r4(capability_statement(BASE))
    validate_r4(operation_definition())


def test_the_statement_promises_what_the_door_serves() -> None:
    cs = capability_statement(BASE)
    assert cs["fhirVersion"] == "4.0.1" and cs["kind"] == "instance"
    assert cs["implementation"]["url"] == BASE and cs["url"] == BASE + "/metadata"
    [rest] = cs["rest"]
    by_type = {r["type"]: r for r in rest["resource"]}
    assert by_type["DiagnosticReport"]["operation"] == [{"name": "analyze", "definition": ANALYZE_URL}]
    assert by_type["Observation"]["supportedProfile"] == [structure_definition(p)["url"] for p in profile_ids()]
    assert "interaction" not in by_type["Observation"]  # produced by $analyze, never read back
    assert {i["code"] for i in by_type["StructureDefinition"]["interaction"]} == {"read", "search-type"}


def test_the_operation_names_every_task_and_its_bundle() -> None:
    op = operation_definition()
    assert op["url"] == ANALYZE_URL and op["code"] == "analyze" and op["resource"] == ["DiagnosticReport"]
    assert (op["type"], op["instance"], op["system"]) == (True, False, False)
    tasks = next(p for p in op["parameter"] if p["name"] == "tasks")["documentation"]
    assert all(t.value in tasks for t in TaskName)
    out = [p for p in op["parameter"] if p["use"] == "out"]
    assert [(p["name"], p["type"]) for p in out] == [("return", "Bundle")]


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any, settings_for: Any):  # type: ignore[no-untyped-def]
    app = create_app(settings_for(sqlite_url, worker_enabled=False, public_base_url="https://cds.example.org"),
                     ensemble=ensemble)
    with TestClient(app) as c:
        yield c


def test_metadata_and_operation_definition_are_served_without_a_token(client: TestClient, validate_r4: Any) -> None:
    r = client.get("/fhir/metadata")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    validate_r4(r.json())
    assert r.json()["implementation"]["url"] == BASE
    op_id = ANALYZE_URL.rsplit("/", 1)[1]
    r = client.get(f"/fhir/OperationDefinition/{op_id}")
    assert r.status_code == 200 and r.json()["url"] == ANALYZE_URL


def test_unknown_definition_and_unreadable_format_get_an_operation_outcome(client: TestClient) -> None:
    r = client.get("/fhir/OperationDefinition/Patient-everything")
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    r = client.get("/fhir/metadata", params={"_format": "xml"})
    assert r.status_code == 406 and r.json()["resourceType"] == "OperationOutcome"
    r = client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"})
    assert r.status_code == 406
