"""Dev-data fixtures for the adapter tests, and the app with its MLLP listener for the HL7 door tests.

shared/ lies beside the repository root (CI clones the repo into another folder and lays
a copy of shared/ next to it); RADLITE_DEV_DATA overrides the location.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import fhirkit
import pytest
from conftest_fhir import comparable
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class

from adapters.fhir import reports_from_resource
from models.types import RadiologyReport
from plugin.app import create_app

DEV = Path(os.environ.get("RADLITE_DEV_DATA") or Path(__file__).resolve().parents[2].parent / "shared/data/dev")


@pytest.fixture(scope="session")
def dev_dir() -> Path:
    if not DEV.is_dir():
        pytest.fail(f"dev data not found at {DEV}; set RADLITE_DEV_DATA")
    return DEV


@pytest.fixture(scope="session")
def hl7_dir(dev_dir: Path) -> Path:
    return dev_dir / "hl7"


@pytest.fixture(scope="session")
def dev_reports(dev_dir: Path) -> dict[str, dict[str, Any]]:
    """reports.jsonl by report id."""
    lines = (dev_dir / "reports.jsonl").read_text(encoding="utf-8").splitlines()
    return {r["id"]: r for r in map(json.loads, filter(None, lines))}


@pytest.fixture(scope="session")
def load_expected() -> Any:
    """Reader of a folder's expected.json (file name -> expectations)."""

    def load(folder: Path) -> dict[str, dict[str, Any]]:
        return json.loads((folder / "expected.json").read_text(encoding="utf-8"))

    return load


@pytest.fixture(scope="module")
def dev_fhir_reports(dev_dir: Path) -> dict[str, RadiologyReport]:
    index = json.loads((dev_dir / "fhir/index.json").read_text())
    out = {}
    for name, rid in index.items():
        [report] = reports_from_resource(json.loads((dev_dir / "fhir" / name).read_text()))
        out[rid] = report
    return out


# ---- offline FHIR R4 validators, built once per session --------------------------------------


@pytest.fixture(scope="session")
def fhircraft_factory() -> Any:
    """fhircraft's R4 model factory, internet access off: it caches every model it builds."""
    from fhircraft.fhir.resources.factory import FHIRModelFactory

    factory = FHIRModelFactory("R4")
    factory.disable_internet_access()
    return factory


class _CoreModels(dict[str, Any]):
    """R4 core resource models by resourceType, built on first use (the first build takes ~15 s)."""

    def __init__(self, factory: Any) -> None:
        super().__init__()
        self._factory = factory

    def __missing__(self, kind: str) -> Any:
        self[kind] = self._factory.build(canonical_url=f"http://hl7.org/fhir/StructureDefinition/{kind}")
        return self[kind]


@pytest.fixture(scope="session")
def fhircraft_models(fhircraft_factory: Any) -> dict[str, Any]:
    return _CoreModels(fhircraft_factory)


@pytest.fixture(scope="session")
def validate_r4(fhircraft_models: dict[str, Any]) -> Any:
    def check(resource: dict[str, Any]) -> None:
        kind = resource["resourceType"]
        assert fhirkit.validate(resource) == [], kind
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fhircraft_models[kind].model_validate(resource)
        invariant_warnings = [str(w.message) for w in caught if "FhirValidationWarning" in type(w.message).__name__]
        assert invariant_warnings == [], (kind, invariant_warnings)
        model = get_fhir_model_class(kind).model_validate(resource)
        again = json.loads(model.model_dump_json())
        assert comparable(again) == comparable(resource), kind
    return check


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`good_hl7`: each good dev HL7 message file name, one test per file."""
    if "good_hl7" in metafunc.fixturenames:
        expected = DEV / "hl7" / "expected.json"
        names = sorted(json.loads(expected.read_text(encoding="utf-8"))) if expected.is_file() else []
        metafunc.parametrize("good_hl7", names)


@pytest.fixture()
def app_mllp(db_url: str, ensemble: Any, settings_for: Any):  # type: ignore[no-untyped-def]
    """The app on `db_url` with its MLLP listener and no worker: (app, HTTP client)."""
    app = create_app(settings_for(db_url, mllp_enabled=True, worker_enabled=False), ensemble=ensemble)
    with TestClient(app) as client:
        yield app, client


@pytest.fixture()
def app_sqlite(sqlite_url: str, ensemble: Any, settings_for: Any):  # type: ignore[no-untyped-def]
    """The app on SQLite with its MLLP listener and no worker: (app, HTTP client)."""
    app = create_app(settings_for(sqlite_url, mllp_enabled=True, worker_enabled=False), ensemble=ensemble)
    with TestClient(app) as client:
        yield app, client
