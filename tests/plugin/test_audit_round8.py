"""Compliance review, round 8: odd values from outside, tampering at the edges, notes, CLI and page exports.

Real SQLite and PostgreSQL (migrated by Alembic), the real app with the demo model, the real CLI. No case
repeats rounds 4 and 5: here values a sender or an EHR can put in an id or a detail that one database
stores and another refuses (a lone surrogate from a JSON escape, NUL, NaN, an id longer than its column),
tampering at the first row, of a hash or prev_hash alone, of two rows' details, of non-adjacent rows, a
whole chain re-hashed after an edit, a task's note that quotes the report, every event type as a FHIR
AuditEvent, the CLI's refusals and records, and the timeline's export holding what the timeline shows.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import conftest_audit as fx
import pytest
from conftest_audit import AUDIT_PASSWORD, AUDIT_USER, AuditDb, audit_settings, seed_report
from conftest_cds import cds_settings
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent as R4BAuditEvent
from sqlalchemy import create_engine, select, text
from typer.testing import CliRunner

from plugin import audit
from plugin.app import create_app
from plugin.cli_audit import audit_app
from plugin.storage.tables import AuditEvent

_sqlite_template, _pg_database = fx._sqlite_template, fx._pg_database  # shared fixtures
audit_db, sqlite_audit_db = fx.audit_db, fx.sqlite_audit_db

SENTENCE = "Conglomerate of necrotic right level IIA nodes measuring 31 mm"
NAME_FAMILY = "VANTERPOOL"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
REVIEW = "/cds-services/radlite-report-review"
AUTH = (AUDIT_USER, AUDIT_PASSWORD)


def _verify(db: AuditDb, **kw: Any) -> audit.VerifyResult:
    with db.sessions() as s:
        return audit.verify(s, **kw)


def _rows(db: AuditDb) -> list[AuditEvent]:
    with db.sessions() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _seed(db: AuditDb) -> list[int]:
    return seed_report(db, patient="MRN-80801", accession="ACC-R8-A") + seed_report(
        db, patient="MRN-80802", accession="ACC-R8-B", card="card-r8-b", hook_instance="hi-r8-b")


# ---- values from outside that one database stores and another refuses -------------------------------


def test_a_lone_surrogate_in_an_id_and_the_detail_is_recorded_and_verifies(audit_db: AuditDb) -> None:
    """json.loads turns an escape like \\udc80 in a FHIR body into a lone surrogate: it has no UTF-8 form."""
    seq = audit_db.record(audit.MessageRejected(actor="10.0.0.9", actor_kind="http", patient_id="pt-\udc80",
                                                accession="ACC-\ud800", detail={"sender": "RIS\udfff", "k": ["\udc80"]}))
    [row] = [r for r in _rows(audit_db) if r.seq == seq]
    assert row.patient_id == "pt-\\udc80" and row.accession == "ACC-\\ud800"
    assert row.detail == {"sender": "RIS\\udfff", "k": ["\\udc80"]}
    assert _verify(audit_db).ok


def test_nul_in_an_id_is_recorded_on_every_database(audit_db: AuditDb) -> None:
    """PostgreSQL text refuses NUL; a sender's id with one must not make the event (and its message) fail."""
    seq = audit_db.record(audit.MessageReceived(actor="10.0.0.9\x00", actor_kind="mllp", patient_id="MRN\x001",
                                                detail={"control_id": "C\x00"}))
    [row] = [r for r in _rows(audit_db) if r.seq == seq]
    assert "\x00" not in (row.actor or "") + (row.patient_id or "") + json.dumps(row.detail)
    assert row.patient_id == "MRN\\u00001"
    assert _verify(audit_db).ok


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_in_a_detail_are_recorded_as_words(audit_db: AuditDb, number: float) -> None:
    """A JSON body may carry NaN or Infinity (Python's json reads them); PostgreSQL's json refuses them."""
    seq = audit_db.record(audit.FeedbackReceived(actor="jwt|u", actor_kind="jwt", detail={
        "card_uuid": "c-1", "overrideReason": {"reason": {"code": "x"}, "score": number}}))
    [row] = [r for r in _rows(audit_db) if r.seq == seq]
    assert row.detail["overrideReason"]["score"] in ("NaN", "Infinity", "-Infinity")
    assert _verify(audit_db).ok


def test_an_id_longer_than_its_column_is_kept_with_the_digest_of_the_whole(audit_db: AuditDb) -> None:
    """A JWT issuer URL and subject can pass 255 characters; PostgreSQL refuses what SQLite keeps."""
    actor = "https://login.ehr.example.org/tenants/" + "a" * 300 + "|dr-long"
    seq = audit_db.record(audit.HookRequest(actor=actor, actor_kind="jwt", patient_id="pt-1"))
    [row] = [r for r in _rows(audit_db) if r.seq == seq]
    assert row.actor is not None and len(row.actor) == 255 and row.actor.startswith("https://login.ehr.example.org/")
    assert row.detail["oversized"]["actor"] == {"sha256": audit.text_digest(actor), "chars": len(actor)}
    assert row.actor.endswith(audit.text_digest(actor)[:16])
    assert _verify(audit_db).ok


def test_values_json_may_store_differently_still_verify(audit_db: AuditDb) -> None:
    """Unicode, big and small numbers, tuples, nested nulls: the hash covers what is read back."""
    audit_db.record(audit.ConfigLoaded(actor="system", actor_kind="system", detail={
        "site": "Zürich 東京 \u2028", "big": 2**70, "tiny": 1e-7, "one": 1.0, "pair": (1, 2), "n": [{"b": None}],
        "flag": True, "empty": ""}))
    assert _verify(audit_db).ok


# ---- tampering at the edges ------------------------------------------------------------------------


def test_deleting_the_first_row_is_named_deleted(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("DELETE FROM audit_events WHERE seq = 1")
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 2, audit.DELETED)
    assert "row(s) 1 were deleted" in (result.reason or "")


def test_a_row_slipped_in_before_the_first_is_an_insert(audit_db: AuditDb) -> None:
    _seed(audit_db)
    with audit_db.sessions() as s:
        first = s.get(AuditEvent, 1)
        assert first is not None
        forged = AuditEvent(seq=0, occurred_at=first.occurred_at, event_type="audit.read", actor="x",
                            actor_kind="cli", detail={}, prev_hash=audit.GENESIS, hash="")
        forged.hash = audit.chain_hash(audit.GENESIS, audit.row_payload(forged))
        values = {c: getattr(forged, c) for c in ("seq", "occurred_at", "event_type", "actor", "actor_kind",
                                                  "prev_hash", "hash")}
    with audit_db.sessions.begin() as s:
        s.execute(AuditEvent.__table__.insert().values(**values, detail={}))
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 0, audit.INSERTED)


def test_a_changed_prev_hash_alone_is_named(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET prev_hash = :h WHERE seq = 3", h="9" * 64)
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 3, audit.EDITED)


def test_a_replaced_hash_is_named_at_its_row(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET hash = :h WHERE seq = 4", h="8" * 64)
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 4, audit.EDITED)


def test_two_rows_whose_details_were_swapped_are_edited(audit_db: AuditDb) -> None:
    _seed(audit_db)
    rows = {r.seq: r.detail for r in _rows(audit_db)}
    audit_db.tamper("UPDATE audit_events SET detail = :d WHERE seq = 2", d=json.dumps(rows[5]))
    audit_db.tamper("UPDATE audit_events SET detail = :d WHERE seq = 5", d=json.dumps(rows[2]))
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 2, audit.EDITED)


def test_rows_swapped_far_apart_are_reordered(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET seq = -1 WHERE seq = 2")
    audit_db.tamper("UPDATE audit_events SET seq = 2 WHERE seq = 9")
    audit_db.tamper("UPDATE audit_events SET seq = 9 WHERE seq = -1")
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 2, audit.REORDERED)


def test_a_chain_rehashed_after_an_edit_is_caught_by_the_anchor(audit_db: AuditDb) -> None:
    """An owner who edits a row and re-computes every hash after it leaves a chain that verifies: only a
    head kept outside the database shows that the rows are not the ones it vouched for."""
    _seed(audit_db)
    good = _verify(audit_db)
    audit_db.tamper("UPDATE audit_events SET detail = :d WHERE seq = 3",
                    d=json.dumps({"task": "rads_assignment", "value": {"system": "BI-RADS", "category": "2"}}))
    prev = audit.GENESIS
    for row in _rows(audit_db):
        digest = audit.chain_hash(prev, audit.row_payload(row))
        # hash is unique: park each row's new hash under a temporary one first is not needed, they all change.
        audit_db.tamper("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s", p=prev, h=digest,
                        s=row.seq)
        prev = digest
    assert _verify(audit_db).ok
    caught = _verify(audit_db, anchor=(good.head_seq, good.head_hash))
    assert (caught.ok, caught.broken_seq, caught.kind) == (False, good.head_seq, audit.EDITED)


def test_the_event_type_changed_is_edited(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET event_type = 'audit.read' WHERE seq = 6")
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 6, audit.EDITED)


def test_a_time_moved_by_one_microsecond_is_edited(audit_db: AuditDb) -> None:
    _seed(audit_db)
    [row] = [r for r in _rows(audit_db) if r.seq == 5]
    moved = row.occurred_at.replace(microsecond=(row.occurred_at.microsecond + 1) % 1_000_000)
    audit_db.tamper("UPDATE audit_events SET occurred_at = :t WHERE seq = 5", t=moved)
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 5, audit.EDITED)


def test_a_patient_id_set_to_null_is_edited(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET patient_id = NULL WHERE seq = 8")
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 8, audit.EDITED)


def test_every_row_deleted_is_seen_only_with_the_anchor(audit_db: AuditDb) -> None:
    _seed(audit_db)
    good = _verify(audit_db)
    audit_db.tamper("DELETE FROM audit_events")
    empty = _verify(audit_db)
    assert empty.ok and empty.checked == 0
    cut = _verify(audit_db, anchor=(good.head_seq, good.head_hash))
    assert (cut.ok, cut.broken_seq, cut.kind) == (False, good.head_seq, audit.TRUNCATED)


def test_a_rolled_back_event_leaves_no_gap(audit_db: AuditDb) -> None:
    audit_db.record(audit.AuditRead(actor="a", actor_kind="cli"))
    with audit_db.sessions() as s:
        audit.record(s, audit.AuditRead(actor="b", actor_kind="cli"))
        s.rollback()
    audit_db.record(audit.AuditRead(actor="c", actor_kind="cli"))
    assert [(r.seq, r.actor) for r in _rows(audit_db)] == [(1, "a"), (2, "c")]
    assert _verify(audit_db).ok


# ---- no report text in task events -----------------------------------------------------------------


@pytest.mark.parametrize("note", [
    f"N2 described in words, not written as a stage: '{SENTENCE}'",
    f"N2 derived from the described nodes by the AJCC 8th rule for oropharynx; nodes used: {SENTENCE}",
    f"model not run (ConnectionError: upstream said {SENTENCE}); the value the report states stands",
])
def test_a_task_note_that_quotes_the_report_is_kept_as_its_hash(audit_db: AuditDb, note: str) -> None:
    seq = audit_db.record(audit.TaskRun(actor="w", actor_kind="worker", report_key="ACC-N", detail={
        "task": "n_staging", "value": {"kind": "n_stage", "stage": "N2"}, "note": note, "confidence": 0.6}))
    [row] = [r for r in _rows(audit_db) if r.seq == seq]
    flat = audit.canonical(audit.row_payload(row))
    assert SENTENCE not in flat and "IIA nodes" not in flat
    assert row.detail["note"] == {"sha256": audit.text_digest(note), "chars": len(note)}
    assert row.detail["value"] == {"kind": "n_stage", "stage": "N2"}  # a code stays readable


def test_a_note_alone_without_a_value_is_hashed_too() -> None:
    detail = audit.TaskRun(detail={"task": "radiology_qa", "note": SENTENCE}).detail
    assert detail["note"] == {"sha256": audit.text_digest(SENTENCE), "chars": len(SENTENCE)}


def test_an_unknown_value_kind_keeps_its_shape_without_words() -> None:
    detail = audit.TaskRun(detail={"task": "x", "value": {"kind": "summary", "text": SENTENCE,
                                                            "items": [SENTENCE]}}).detail
    assert detail["value"]["kind"] == "summary" and SENTENCE not in audit.canonical(detail)


def test_a_real_staging_task_note_reaches_the_trail_as_a_hash(sqlite_url: str, ensemble: Any) -> None:
    """Through the FHIR door: a report that states N in words gets a note quoting it; the trail keeps its hash."""
    report = (f"FINDINGS:\n{SENTENCE}. No distant metastases.\n\nIMPRESSION:\nOropharyngeal carcinoma with "
              "nodal disease.")
    resource = {
        "resourceType": "DiagnosticReport", "id": "r8-note", "status": "final",
        "code": {"text": "CT NECK W CONTRAST"}, "subject": {"reference": "Patient/pt-r8"},
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "ACSN"}]}, "value": "ACC-R8-NOTE"}],
        "presentedForm": [{"contentType": "text/plain", "data": base64.b64encode(report.encode()).decode()}],
    }
    app = create_app(cds_settings(sqlite_url, hook_budget_seconds=30.0), ensemble=ensemble)
    with TestClient(app) as c:
        answer = c.post(ANALYZE + "?tasks=m_staging,n_staging", json=resource,
                        headers={"Content-Type": "application/fhir+json"})
        assert answer.status_code == 200
        with c.app.state.sessions() as s:  # type: ignore[attr-defined]
            runs = list(s.scalars(select(AuditEvent).where(AuditEvent.event_type == "task.run")))
            assert audit.verify(s).ok
    assert runs
    for run in runs:
        flat = audit.canonical(audit.row_payload(run))
        assert SENTENCE not in flat and "No distant metastases" not in flat, run.detail
        note = run.detail.get("note")
        assert note is None or set(note) == {"sha256", "chars"}


def test_a_fhir_body_with_a_surrogate_escape_in_its_accession_is_answered_and_audited(sqlite_url: str,
                                                                                     ensemble: Any) -> None:
    body = ('{"resourceType": "DiagnosticReport", "id": "r8-sur", "status": "final", "code": {"text": "XR CHEST"},'
            ' "subject": {"reference": "Patient/pt-r8"}, "identifier": [{"value": "ACC-\\udc80"}],'
            ' "conclusion": "No acute cardiopulmonary process."}')
    app = create_app(cds_settings(sqlite_url, hook_budget_seconds=30.0), ensemble=ensemble)
    with TestClient(app) as c:
        answer = c.post(ANALYZE + "?tasks=radiology_ner", content=body.encode(),
                        headers={"Content-Type": "application/fhir+json"})
        assert answer.status_code < 500, answer.text
        with c.app.state.sessions() as s:  # type: ignore[attr-defined]
            kinds = [r.event_type for r in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
            assert audit.verify(s).ok
    assert "message.received" in kinds or "message.rejected" in kinds


# ---- FHIR export of every event type --------------------------------------------------------------


@pytest.mark.parametrize("cls", audit.EVENT_CLASSES, ids=[c.event_type for c in audit.EVENT_CLASSES])
def test_every_event_type_exports_as_a_valid_r4_audit_event(audit_db: AuditDb, cls: type[audit.AuditRecord]) -> None:
    seq = audit_db.record(cls(actor="10.0.0.1|x", actor_kind="mllp", patient_id="MRN|80801", accession="ACC-F",
                              report_key="ACC-F", input_hash="a" * 64, detail={"status": "x", "n": 1}))
    [row] = [r for r in _rows(audit_db) if r.seq == seq]
    resource = audit.fhir_audit_event(row)
    R4BAuditEvent.model_validate(resource)
    assert {"system": audit.RADLITE_EVENT, "code": cls.event_type} in resource["subtype"]
    expected = {"message.rejected": "4", "safety.anomaly": "4", "outbound.retried": "4", "outbound.failed": "4",
                "analysis.failed": "8"}.get(cls.event_type, "0")
    assert resource["outcome"] == expected
    patient = resource["entity"][0]["what"]
    assert patient == {"identifier": {"value": "MRN|80801"}}  # not a FHIR id: an identifier, never a bad reference
    details = {d["type"]: d["valueString"] for d in resource["entity"][-1]["detail"]}
    assert details["hash"] == row.hash and details["prev_hash"] == row.prev_hash


# ---- the CLI ---------------------------------------------------------------------------------------


@pytest.fixture()
def cli_env(audit_db: AuditDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuditDb:
    monkeypatch.setenv("RADLITE_DATABASE_URL", audit_db.url)
    monkeypatch.setenv("RADLITE_AUDIT_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.chdir(tmp_path)
    return audit_db


def _said(result: Any) -> str:
    """What the command printed, with the console's line wrapping undone."""
    return " ".join((result.output + (result.stderr if result.stderr_bytes is not None else "")).split())


@pytest.mark.parametrize("anchor", ["12", "x:" + "a" * 64, "3:abc", "-1:" + "a" * 64])
def test_cli_verify_refuses_a_malformed_anchor(cli_env: AuditDb, anchor: str) -> None:
    seed_report(cli_env)
    result = CliRunner().invoke(audit_app, ["verify", "--anchor", anchor])
    assert result.exit_code == 2 and "SEQ:SHA256" in _said(result)


def test_cli_verify_with_its_printed_anchor_catches_a_cut_tail(cli_env: AuditDb) -> None:
    seed_report(cli_env)
    first = CliRunner().invoke(audit_app, ["verify"])
    assert first.exit_code == 0
    anchor = _said(first).split("anchor: ")[1].split()[0]
    cli_env.tamper("DELETE FROM audit_events WHERE seq >= :s", s=int(anchor.split(":")[0]) - 1)
    assert CliRunner().invoke(audit_app, ["verify"]).exit_code == 0  # the chain alone cannot see it
    cut = CliRunner().invoke(audit_app, ["verify", "--anchor", anchor])
    assert cut.exit_code == 1 and "removed from the end" in _said(cut)


def test_cli_on_a_missing_sqlite_file_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "radlite.db"
    monkeypatch.setenv("RADLITE_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.chdir(tmp_path)
    for command in (["verify"], ["export"]):
        result = CliRunner().invoke(audit_app, command)
        assert result.exit_code == 2 and "no database" in _said(result)
    assert not missing.exists()


def test_cli_on_an_unmigrated_database_says_upgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "empty.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE other (id INTEGER)"))
    engine.dispose()
    monkeypatch.setenv("RADLITE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(audit_app, ["verify"])
    assert result.exit_code == 2 and "radlite db upgrade" in _said(result)


@pytest.mark.parametrize("args", [
    ["--type", "no.such.event"],
    ["--since", "2026-05-02", "--until", "2026-05-01"],
    ["--since", "02/05/2026"],
])
def test_cli_export_refuses_what_cannot_be_answered(cli_env: AuditDb, args: list[str]) -> None:
    seed_report(cli_env)
    before = len(_rows(cli_env))
    result = CliRunner().invoke(audit_app, ["export", *args])
    assert result.exit_code == 2, _said(result)
    assert len(_rows(cli_env)) == before  # a refused command read nothing, so it records no read


def test_cli_export_records_its_read_with_the_filter_and_the_count(cli_env: AuditDb, tmp_path: Path) -> None:
    _seed(cli_env)
    out = tmp_path / "one.ndjson"
    result = CliRunner().invoke(audit_app, ["export", "--accession", "ACC-R8-B", "--output", str(out)])
    assert result.exit_code == 0, _said(result)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines and {x["accession"] for x in lines} == {"ACC-R8-B"}
    with cli_env.sessions() as s:
        [read] = audit.search(s, audit.AuditFilter(event_types=["audit.read"]))
        assert audit.verify(s).ok
    assert read.accession == "ACC-R8-B" and read.actor_kind == "cli"
    assert read.detail["results"] == len(lines) and read.detail["filter"] == {"accession": "ACC-R8-B"}


# ---- the page: the timeline's export holds what the timeline shows ----------------------------------


@pytest.fixture()
def page(sqlite_audit_db: AuditDb, tmp_path: Path, ensemble: Any) -> Iterator[TestClient]:
    app = create_app(audit_settings(sqlite_audit_db, tmp_path), ensemble=ensemble)
    with TestClient(app) as c:
        yield c


def test_the_timeline_export_holds_the_hook_and_feedback_it_shows(page: TestClient,
                                                                    sqlite_audit_db: AuditDb) -> None:
    seqs = seed_report(sqlite_audit_db, patient="MRN-80803", accession="ACC-R8-T", card="card-r8-t",
                       hook_instance="hi-r8-t")
    html = page.get("/audit/timeline", params={"report": "ACC-R8-T"}, auth=AUTH).text
    assert "Clinician feedback" in html and "Hook request" in html
    links = [part.split('"')[0].replace("&amp;", "&") for part in html.split('href="')[1:]]
    [ndjson] = [u for u in links if "/audit/export" in u and "format=ndjson" in u]
    exported = [json.loads(x) for x in page.get(ndjson, auth=AUTH).text.splitlines()]
    # The hook request and the feedback carry no report key; the timeline joins them, so must its export.
    assert [x["seq"] for x in exported if x["event_type"] != "audit.read"] == seqs
    assert {x["event_type"] for x in exported if x["seq"] not in seqs} == {"audit.read"}  # the view of the page
    [fhir] = [u for u in links if "/audit/export" in u and "format=fhir" in u]
    assert len(page.get(fhir, auth=AUTH).text.splitlines()) == len(exported) + 1  # and the ndjson export's read
    with sqlite_audit_db.sessions() as s:
        reads = audit.search(s, audit.AuditFilter(event_types=["audit.read"]))
    exports = [r for r in reads if r.detail.get("page") == "export"]
    assert exports and all(r.report_key == "ACC-R8-T" and r.detail["timeline"] == "ACC-R8-T" for r in exports)


def test_a_timeline_of_an_unknown_report_says_so_and_is_recorded(page: TestClient,
                                                                  sqlite_audit_db: AuditDb) -> None:
    seed_report(sqlite_audit_db)
    answer = page.get("/audit/timeline", params={"report": "ACC-NOT-HERE"}, auth=AUTH)
    assert answer.status_code == 200 and "No audit events name report" in answer.text
    with sqlite_audit_db.sessions() as s:
        [read] = audit.search(s, audit.AuditFilter(event_types=["audit.read"]))
    assert read.report_key == "ACC-NOT-HERE" and read.detail["results"] == 0


def test_a_search_for_a_surrogate_or_nul_is_answered_not_crashed(page: TestClient, sqlite_audit_db: AuditDb) -> None:
    seed_report(sqlite_audit_db)
    answer = page.get("/audit", params={"patient": "MRN\x00%ud800", "user": str(uuid.uuid4())}, auth=AUTH)
    assert answer.status_code == 200
    assert _verify(sqlite_audit_db).ok


# ---- a feedback body with NaN, on both databases ----------------------------------------------------


def test_feedback_with_nan_in_its_override_reason_is_answered_and_audited(db_url: str, ensemble: Any) -> None:
    """Python's json (and so a JSON body) reads NaN; the feedback must still be answered clearly and audited."""
    report = ("FINDINGS:\nSpiculated 14 mm right upper lobe nodule.\n\nIMPRESSION:\nSuspicious nodule. Lung-RADS 4B. "
              "PET/CT is recommended.")
    resource = {
        "resourceType": "DiagnosticReport", "id": "r8-fb", "status": "final", "code": {"text": "CT CHEST"},
        "subject": {"reference": "Patient/pt-r8-fb"},
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "ACSN"}]}, "value": "ACC-R8-FB"}],
        "presentedForm": [{"contentType": "text/plain", "data": base64.b64encode(report.encode()).decode()}],
    }
    body = {"hookInstance": str(uuid.uuid4()), "hook": "patient-view", "fhirServer": "https://ehr.r8.example/fhir",
            "context": {"userId": "Practitioner/r8", "patientId": "pt-r8-fb"},
            "prefetch": {"patient": {"resourceType": "Patient", "id": "pt-r8-fb"},
                         "reports": {"resourceType": "Bundle", "type": "searchset",
                                     "entry": [{"resource": resource}]}}}
    app = create_app(cds_settings(db_url, hook_budget_seconds=30.0), ensemble=ensemble)
    with TestClient(app) as c:
        cards = c.post(REVIEW, json=body).json()["cards"]
        assert cards
        with c.app.state.sessions() as s:  # type: ignore[attr-defined]
            mark = audit.chain_head(s)[0]
        raw = ('{"feedback": [{"card": "CARD", "outcome": "overridden", "overrideReason": {"reason": '
               '{"code": "other", "system": "urn:r8"}, "weight": NaN}, "outcomeTimestamp": "2026-11-29T10:00:00Z"}]}'
               ).replace("CARD", cards[0]["uuid"])
        answer = c.post(REVIEW + "/feedback", content=raw.encode(), headers={"Content-Type": "application/json"})
        assert answer.status_code < 500, answer.text
        with c.app.state.sessions() as s:  # type: ignore[attr-defined]
            after = list(s.scalars(select(AuditEvent).where(AuditEvent.seq > mark)))
            assert audit.verify(s).ok
    assert after and after[0].event_type in ("feedback.received", "message.rejected")
