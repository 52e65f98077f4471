"""Dev-data fixtures for the adapter tests.

shared/ lies beside the repository root (CI clones the repo into another folder and lays
a copy of shared/ next to it); RADLITE_DEV_DATA overrides the location.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`good_hl7`: each good dev HL7 message file name, one test per file."""
    if "good_hl7" in metafunc.fixturenames:
        expected = DEV / "hl7" / "expected.json"
        names = sorted(json.loads(expected.read_text(encoding="utf-8"))) if expected.is_file() else []
        metafunc.parametrize("good_hl7", names)
