"""The /audit review page through the real app (create_app, lifespan, demo ensemble): auth, filters, export."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import conftest_audit as fx
import pytest
from conftest_audit import AUDIT_PASSWORD, AUDIT_USER, AuditDb, audit_settings, seed_report
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent as R4BAuditEvent

from plugin import audit
from plugin.app import create_app

_sqlite_template, sqlite_audit_db = fx._sqlite_template, fx.sqlite_audit_db  # shared fixtures
AUTH = (AUDIT_USER, AUDIT_PASSWORD)


@pytest.fixture()
def client(sqlite_audit_db: AuditDb, tmp_path: Path, ensemble: Any) -> Iterator[TestClient]:
    app = create_app(audit_settings(sqlite_audit_db, tmp_path), ensemble=ensemble)
    with TestClient(app) as c:
        yield c


def _reads(db: AuditDb) -> list[Any]:
    with db.sessions() as s:
        return audit.search(s, audit.AuditFilter(event_types=["audit.read"]))


@pytest.mark.parametrize("path", ["/audit", "/audit/", "/audit/timeline?report=ACC-1", "/audit/export",
                                  "/audit/audit.css"])
def test_the_page_is_closed_unless_a_credential_is_configured(
    sqlite_audit_db: AuditDb, tmp_path: Path, ensemble: Any, path: str
) -> None:
    settings = audit_settings(sqlite_audit_db, tmp_path, audit_user=None, audit_password=None)
    with TestClient(create_app(settings, ensemble=ensemble)) as c:
        assert c.get(path).status_code == 404
        assert c.get(path, auth=AUTH).status_code == 404
    half = audit_settings(sqlite_audit_db, tmp_path, audit_password=None)  # a user without a password is closed too
    with TestClient(create_app(half, ensemble=ensemble)) as c:
        assert c.get(path, auth=(AUDIT_USER, "")).status_code == 404


def test_wrong_or_missing_credentials_get_401_and_a_refusal_is_recorded(client: TestClient,
                                                                        sqlite_audit_db: AuditDb) -> None:
    missing = client.get("/audit")
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Basic")
    assert _reads(sqlite_audit_db) == []
    for auth in ((AUDIT_USER, "nope"), ("mallory", AUDIT_PASSWORD), (AUDIT_USER.upper(), AUDIT_PASSWORD)):
        assert client.get("/audit", auth=auth).status_code == 401
    refused = _reads(sqlite_audit_db)
    assert len(refused) == 3 and all(r.detail["audit_outcome"] == "8" for r in refused)
    # The configured user is named; anything else typed (a password in the user field) only as a digest.
    unknown = {f"unknown-user:{hashlib.sha256(n.encode()).hexdigest()[:16]}" for n in ("mallory", AUDIT_USER.upper())}
    assert {r.actor for r in refused} == {AUDIT_USER} | unknown
    assert not any("mallory" in json.dumps(r.detail) for r in refused)


def test_search_filters_and_every_view_is_recorded(client: TestClient, sqlite_audit_db: AuditDb) -> None:
    seed_report(sqlite_audit_db)
    seed_report(sqlite_audit_db, patient="SYN-P-2", accession="ACC-2", card="card-uuid-2", hook_instance="hi-2")
    page = client.get("/audit", params={"patient": "SYN-P-2"}, auth=AUTH)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in page.headers[
        "content-security-policy"]
    html = page.text
    assert 'id="result-count">5 event(s)' in html
    assert "ACC-2" in html and "ACC-1" not in html
    assert "Chain verified" in html
    typed = client.get("/audit", params=[("type", "task.run"), ("type", "feedback.received")], auth=AUTH).text
    assert 'id="result-count">4 event(s)' in typed
    by_user = client.get("/audit", params={"user": "10.0.0.7"}, auth=AUTH).text
    assert 'id="result-count">4 event(s)' in by_user
    reads = _reads(sqlite_audit_db)
    assert [r.detail["page"] for r in reads] == ["search"] * 3
    assert reads[-1].patient_id == "SYN-P-2" and reads[-1].actor == AUDIT_USER
    assert reads[-2].detail["filter"]["event_types"] == ["task.run", "feedback.received"]


def test_bad_dates_are_shown_not_crashed_on(client: TestClient) -> None:
    page = client.get("/audit", params={"since": "not-a-date"}, auth=AUTH)
    assert page.status_code == 200 and "Dates must be" in page.text
    assert client.get("/audit/export", params={"until": "31/12/2026"}, auth=AUTH).status_code == 400


def test_what_came_from_outside_is_escaped(client: TestClient, sqlite_audit_db: AuditDb) -> None:
    sqlite_audit_db.record(audit.HookRequest(actor="<script>alert(1)</script>", patient_id='"><img src=x>',
                                             detail={"hook": "<b>x</b>"}))
    html = client.get("/audit", auth=AUTH).text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"><img src=x>' not in html and "<b>x</b>" not in html


def test_timeline_shows_one_report_from_arrival_to_feedback(client: TestClient, sqlite_audit_db: AuditDb) -> None:
    seed_report(sqlite_audit_db)
    html = client.get("/audit/timeline", params={"report": "ACC-1"}, auth=AUTH).text
    order = [html.index(f'class="stage-{t}"') for t in ("message-received", "report-stored", "task-run",
                                                         "hook-request", "card-served", "feedback-received")]
    assert order == sorted(order)
    assert "rads_assignment by smollm2-demo" in html and "confidence 0.91" in html and "118 ms" in html
    assert "1 feedback item(s)" in html
    assert _reads(sqlite_audit_db)[-1].detail["page"] == "timeline"
    assert client.get("/audit/timeline", auth=AUTH).status_code == 422


def test_export_gives_exactly_what_the_filter_shows(client: TestClient, sqlite_audit_db: AuditDb) -> None:
    seed_report(sqlite_audit_db)
    seed_report(sqlite_audit_db, patient="SYN-P-2", accession="ACC-2", card="card-uuid-2", hook_instance="hi-2")
    fhir = client.get("/audit/export", params={"patient": "SYN-P-2", "format": "fhir"}, auth=AUTH)
    assert fhir.status_code == 200 and fhir.headers["content-type"].startswith("application/fhir+ndjson")
    resources = [R4BAuditEvent.model_validate_json(x) for x in fhir.text.splitlines()]
    assert len(resources) == 5 and all(r.entity[0].what.reference == "Patient/SYN-P-2" for r in resources)
    rows = [json.loads(x) for x in client.get("/audit/export", params={"type": "card.served"}, auth=AUTH).text
            .splitlines()]
    assert [r["event_type"] for r in rows] == ["card.served", "card.served"]
    exports = [r for r in _reads(sqlite_audit_db) if r.detail["page"] == "export"]
    assert [r.detail["format"] for r in exports] == ["ndjson", "fhir"]


def test_a_broken_chain_is_shown(client: TestClient, sqlite_audit_db: AuditDb) -> None:
    seed_report(sqlite_audit_db)
    assert "Chain verified" in client.get("/audit", auth=AUTH).text
    sqlite_audit_db.tamper("UPDATE audit_events SET patient_id = 'SYN-P-9' WHERE seq = 3")
    html = client.get("/audit", params={"verify": "1"}, auth=AUTH).text
    assert "Chain BROKEN at event #3" in html


def test_a_message_through_the_front_door_is_findable(client: TestClient, dev: Path) -> None:
    raw = (dev / "hl7" / "oru-01.hl7").read_bytes()
    ack = client.post("/hl7/v2", content=raw, headers={"content-type": "x-application/hl7-v2+er7"})
    assert ack.status_code == 200
    html = client.get("/audit", params={"type": "message.received"}, auth=AUTH).text
    assert 'id="result-count">1 event(s)' in html
    assert "SYN-D-100001" in html and "SYN-D-ACC-0001" in html
    assert client.get("/audit/audit.css", auth=AUTH).headers["content-type"].startswith("text/css")


def test_a_restart_with_another_setting_records_a_config_change(sqlite_audit_db: AuditDb, tmp_path: Path,
                                                                ensemble: Any) -> None:
    for budget in (1.5, 1.5, 2.5):
        with TestClient(create_app(audit_settings(sqlite_audit_db, tmp_path, hook_budget_seconds=budget),
                                   ensemble=ensemble)):
            pass
    with sqlite_audit_db.sessions() as s:
        types = [r.event_type for r in audit.search(s, audit.AuditFilter(event_types=["config.loaded",
                                                                                        "config.changed"]))]
    assert types == ["config.changed", "config.loaded", "config.loaded", "config.loaded"]
