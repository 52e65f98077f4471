"""The audit page in a real browser: Debian's headless Chromium driven by Playwright, against uvicorn.

A report arrives through the real HL7-over-HTTP front door; its model run, card and feedback
are recorded the way the pipeline and CDS service record them. The browser signs in, filters,
opens the report's timeline and keeps a screenshot in test-artifacts/ (gitignored, kept by CI).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import conftest_audit as fx
import httpx
import pytest
import uvicorn
from conftest_audit import AUDIT_PASSWORD, AUDIT_USER, AuditDb, audit_settings

from plugin import audit
from plugin.app import create_app

CHROMIUM = Path(os.environ.get("RADLITE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

_sqlite_template, sqlite_audit_db = fx._sqlite_template, fx.sqlite_audit_db  # shared fixtures

pytestmark = pytest.mark.browser


@pytest.fixture()
def server(sqlite_audit_db: AuditDb, tmp_path: Path, ensemble: Any) -> Iterator[str]:
    """The real app on a free loopback port, served by uvicorn in a thread."""
    app = create_app(audit_settings(sqlite_audit_db, tmp_path), ensemble=ensemble)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=30)


def test_compliance_user_filters_opens_a_timeline_and_we_keep_a_screenshot(
    server: str, sqlite_audit_db: AuditDb, dev: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing in CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    raw = (dev / "hl7" / "oru-01.hl7").read_bytes()
    ack = httpx.post(f"{server}/hl7/v2", content=raw, headers={"content-type": "x-application/hl7-v2+er7"})
    assert ack.status_code == 200
    with sqlite_audit_db.sessions() as s:
        arrived = audit.search(s, audit.AuditFilter(event_types=["message.received"]))[0]
    patient, accession = arrived.patient_id, arrived.accession
    assert patient and accession
    ids = {"patient_id": patient, "report_key": arrived.report_key, "accession": accession}
    sqlite_audit_db.record(audit.TaskRun(actor="worker-1", actor_kind="worker", input_hash="c" * 64, detail={
        "task": "rads_assignment", "model_id": "smollm2-135m-demo", "model_sha256": "b179c952" + "0" * 56,
        "prompt_hash": "e" * 64, "value": {"system": "BI-RADS", "category": "1"}, "confidence": 0.97,
        "latency_ms": 212, "evidence": [{"start": 0, "end": 48}]}, **ids))
    sqlite_audit_db.record(audit.CardServedEvent(actor="https://ehr.example|dr-ada", actor_kind="jwt", detail={
        "card_uuid": "5b0e1c7e-card", "indicator": "info", "summary": "BI-RADS 1 (stated)"}, **ids))
    sqlite_audit_db.record(audit.FeedbackReceived(actor="https://ehr.example|dr-ada", actor_kind="jwt", detail={
        "card_uuid": "5b0e1c7e-card", "outcome": "accepted"}))
    sqlite_audit_db.record(audit.MessageReceived(actor="10.9.9.9", actor_kind="mllp", patient_id="SYN-OTHER",
                                                 accession="ACC-OTHER", report_key="ACC-OTHER"))

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        try:
            ctx = browser.new_context(http_credentials={"username": AUDIT_USER, "password": AUDIT_PASSWORD},
                                      viewport={"width": 1360, "height": 900})
            page = ctx.new_page()
            page.goto(f"{server}/audit")
            expect(page.locator("#chain-status")).to_contain_text("Chain verified")
            page.fill("input[name=patient]", patient)
            page.check("input[name=type][value='message.received']")
            page.check("input[name=type][value='task.run']")
            page.check("input[name=type][value='card.served']")
            page.click("button[type=submit]")
            expect(page.locator("#result-count")).to_have_text("3 event(s)")
            assert "ACC-OTHER" not in page.content()
            assert f"patient={patient}" in page.url
            page.screenshot(path=str(ARTIFACTS / "audit-search.png"), full_page=True)

            page.locator("a.timeline-link").first.click()
            expect(page.locator("#timeline-report")).to_have_text(arrived.report_key or accession)
            stages = page.locator("#timeline > li .stage").all_inner_texts()
            assert [s.strip().lower() for s in stages[:4]] == ["arrived", "model task", "card shown",
                                                                "clinician feedback"]
            page.locator("#timeline details").nth(1).locator("summary").click()
            expect(page.locator("#timeline details").nth(1)).to_contain_text("smollm2-135m-demo")
            page.screenshot(path=str(ARTIFACTS / "audit-page.png"), full_page=True)

            with page.expect_download() as dl:
                page.goto(f"{server}/audit")
                page.fill("input[name=patient]", patient)
                page.click("button[type=submit]")
                page.click("#export-fhir")
            lines = Path(dl.value.path()).read_text().splitlines()
            assert lines and all('"resourceType":"AuditEvent"' in x for x in lines)
        finally:
            browser.close()
    assert (ARTIFACTS / "audit-page.png").stat().st_size > 10_000
    with sqlite_audit_db.sessions() as s:
        pages = [r.detail["page"] for r in audit.search(s, audit.AuditFilter(event_types=["audit.read"]))]
    assert {"search", "timeline", "export"} <= set(pages)
