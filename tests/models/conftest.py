"""Shared fixtures of the model tests: the packaged demo manifest, one loaded demo model, the
demo ensemble (session-scoped: loading a GGUF once per run keeps the suite fast) and the dev set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.backends.llama import LlamaBackend, LoadedModel
from models.ensemble import Ensemble
from models.manifest import Manifest, load_manifest
from models.types import RadiologyReport, TaskName, TaskRequest

DEV = Path("/work/shared/data/dev")


@pytest.fixture(scope="session")
def demo_manifest() -> Manifest:
    return load_manifest()


@pytest.fixture(scope="session")
def demo_ensemble() -> Iterator[Ensemble]:
    """The packaged ensemble: SmolLM2-135M demo model for both roles plus the rules engine."""
    ens = Ensemble.load()
    yield ens
    ens.close()


@pytest.fixture(scope="session")
def demo_backend(demo_ensemble: Ensemble) -> LlamaBackend:
    """The generation-role llama.cpp backend of the demo ensemble (the loaded demo file)."""
    backend = demo_ensemble.backend_for(TaskName.rads_assignment)
    assert isinstance(backend, LlamaBackend)
    return backend


@pytest.fixture(scope="session")
def demo_model(demo_backend: LlamaBackend) -> LoadedModel:
    return demo_backend.model


def _rows(name: str) -> list[dict]:
    path = DEV / name
    if not path.is_file():
        pytest.skip(f"dev data {path} not present")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def dev_rows() -> list[dict]:
    return _rows("reports.jsonl")


@pytest.fixture(scope="session")
def dev_report_objects(dev_rows: list[dict]) -> dict[str, RadiologyReport]:
    return {
        r["id"]: RadiologyReport(report_id=r["id"], modality=r["modality"], procedure=r["procedure"],
                                 findings=r["findings"], impression=r["impression"], prior_text=r["prior"])
        for r in dev_rows
    }


@pytest.fixture(scope="session")
def dev_nli() -> list[TaskRequest]:
    return [
        TaskRequest(task=TaskName.radiology_nli, report=RadiologyReport(report_id=r["id"], findings=r["premise"]),
                    premise=r["premise"], hypothesis=r["hypothesis"])
        for r in _rows("nli.jsonl")
    ]
