"""Property-based requests from the OpenAPI document (schemathesis): the CDS endpoints never answer 5xx.

Bounded (a few examples per operation, no shrinking of slow cases) so it stays fast. The
hook budget is tiny: generated requests hold no real reports, and the point is the input
handling, not the models.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from conftest_cds import cds_settings
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.core import NotSet

from plugin.app import create_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, ensemble: Any) -> Any:
    url = f"sqlite:///{tmp_path_factory.mktemp('cds-openapi') / 'radlite.db'}"
    cfg = cds_settings(url, hook_budget_seconds=0.05, max_request_bytes=200_000)
    app = create_app(cfg, ensemble=ensemble)
    with TestClient(app) as c:
        yield c


def test_cds_operations_never_5xx(client: TestClient) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    ops = [op.ok() for op in schema.get_all_operations() if op.ok().path.startswith("/cds-services")]
    assert {(o.method.upper(), o.path) for o in ops} >= {
        ("GET", "/cds-services"), ("POST", "/cds-services/{service_id}"), ("POST", "/cds-services/{service_id}/feedback")}
    for op in ops:
        _never_5xx(client, op)


def _never_5xx(client: TestClient, op: Any) -> None:
    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def check(case: Any) -> None:
        body = None if isinstance(case.body, NotSet) else case.body
        response = client.request(case.method, case.formatted_path, headers=dict(case.headers or {}),
                                  params=case.query, json=body)
        assert response.status_code < 500, (op.path, response.status_code, response.text[:300])

    check()
