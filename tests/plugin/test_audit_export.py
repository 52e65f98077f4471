"""Search, timeline and export (NDJSON, FHIR R4 AuditEvent) on SQLite and PostgreSQL, plus the CLI."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import conftest_audit as fx
import pytest
from conftest_audit import AuditDb, seed_report
from fhir.resources.R4B.auditevent import AuditEvent as R4BAuditEvent
from sqlalchemy import select
from typer.testing import CliRunner

from plugin import audit
from plugin.cli_audit import audit_app
from plugin.storage.tables import AuditEvent

_pg_database, _sqlite_template, audit_db = fx._pg_database, fx._sqlite_template, fx.audit_db  # shared fixtures


def _two_reports(db: AuditDb) -> None:
    seed_report(db)
    seed_report(db, patient="SYN-P-2", accession="ACC-2", card="card-uuid-2", hook_instance="hook-inst-2")


def _seqs(rows: list[AuditEvent]) -> list[int]:
    return [r.seq for r in rows]


def test_filters_by_patient_accession_user_type_and_dates(audit_db: AuditDb) -> None:
    _two_reports(audit_db)
    with audit_db.sessions() as s:
        by_patient = audit.search(s, audit.AuditFilter(patient_id="SYN-P-2"))
        assert by_patient and {r.patient_id for r in by_patient} == {"SYN-P-2"}
        assert audit.count(s, audit.AuditFilter(patient_id="SYN-P-2")) == len(by_patient) == 5
        assert {r.accession for r in audit.search(s, audit.AuditFilter(accession="ACC-1"))} == {"ACC-1"}
        jwt = audit.search(s, audit.AuditFilter(actor="https://ehr.example/iss|dr-who"))
        assert {r.event_type for r in jwt} == {"hook.request", "card.served", "feedback.received"} and len(jwt) == 6
        tasks = audit.search(s, audit.AuditFilter(event_types=["task.run", "card.served"], accession="ACC-2"))
        assert sorted(r.event_type for r in tasks) == ["card.served", "task.run"]
        assert _seqs(audit.search(s, audit.AuditFilter(), limit=3)) == [12, 11, 10]  # newest first, paged
        assert _seqs(audit.search(s, audit.AuditFilter(), limit=3, offset=3)) == [9, 8, 7]
        now = datetime.now(UTC)
        assert audit.count(s, audit.AuditFilter(since=now - timedelta(hours=1))) == 12
        assert audit.count(s, audit.AuditFilter(until=now - timedelta(hours=1))) == 0
        assert audit.count(s, audit.AuditFilter(since=now + timedelta(hours=1))) == 0
        today = now.date().isoformat()
        assert audit.count(s, audit.AuditFilter(since=audit.parse_when(today),
                                                until=audit.parse_when(today, end_of_day=True))) == 12


def test_parse_when_reads_dates_and_instants() -> None:
    assert audit.parse_when("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert audit.parse_when("2026-03-01", end_of_day=True) == datetime(2026, 3, 2, tzinfo=UTC)
    assert audit.parse_when("2026-03-01T10:00:00+02:00") == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert audit.parse_when("2026-03-01T10:00:00Z") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert audit.parse_when("  ") is None
    with pytest.raises(ValueError):
        audit.parse_when("yesterday")


def test_timeline_joins_hook_and_feedback_through_card_and_hook_ids(audit_db: AuditDb) -> None:
    _two_reports(audit_db)
    with audit_db.sessions() as s:
        events = audit.timeline(s, "ACC-1")
        assert [e.event_type for e in events] == [
            "message.received", "report.stored", "task.run", "hook.request", "card.served", "feedback.received"]
        assert all(e.patient_id in (None, "SYN-P-1") for e in events)
        assert audit.timeline(s, "no-such-report") == []
        other = audit.timeline(s, "ACC-2")
        assert [e.detail.get("card_uuid") for e in other if e.event_type == "feedback.received"] == ["card-uuid-2"]


def test_ndjson_export_lines_reverify_offline(audit_db: AuditDb) -> None:
    _two_reports(audit_db)
    out = io.StringIO()
    with audit_db.sessions() as s:
        n = audit.write_ndjson(audit.iter_events(s, audit.AuditFilter()), out)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert n == len(lines) == 12
    prev = audit.GENESIS
    for line in lines:  # what an auditor would do with the file and nothing else
        body = {k: v for k, v in line.items() if k not in ("hash", "prev_hash")}
        assert line["prev_hash"] == prev and audit.chain_hash(prev, body) == line["hash"]
        prev = line["hash"]


def test_fhir_export_is_valid_r4_audit_events_with_dicom_codes(audit_db: AuditDb) -> None:
    seed_report(audit_db)
    audit_db.record(audit.AuditRead(actor="compliance", actor_kind="audit-user", detail={"page": "search"}))
    audit_db.record(audit.MessageRejected(actor="10.0.0.9", actor_kind="mllp", detail={"err_code": "101"}))
    out = io.StringIO()
    with audit_db.sessions() as s:
        audit.write_fhir_ndjson(audit.iter_events(s, audit.AuditFilter()), out)
        rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    resources = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(resources) == len(rows)
    for res, row in zip(resources, rows, strict=True):
        model = R4BAuditEvent.model_validate(res)
        assert model.subtype and model.subtype[-1].code == row.event_type
        assert model.id == f"radlite-audit-{row.seq}"
        details = {d.type: d.valueString for d in model.entity[-1].detail}
        assert details["hash"] == row.hash and details["prev_hash"] == row.prev_hash
    by_type = {r["subtype"][-1]["code"]: r for r in resources}
    received = by_type["message.received"]
    assert (received["type"]["code"], received["action"], received["outcome"]) == ("110107", "C", "0")
    assert received["entity"][0]["what"] == {"reference": "Patient/SYN-P-1"}
    assert received["entity"][1]["what"]["identifier"]["type"]["coding"][0]["code"] == "ACSN"
    assert received["agent"][0]["who"]["identifier"]["value"] == "10.0.0.7"
    assert received["agent"][0]["name"] == "SYN_RIS^SYNTH_GENERAL"
    assert by_type["audit.read"]["type"]["code"] == "110101"
    assert by_type["card.served"]["type"]["code"] == "110106"
    assert by_type["message.rejected"]["outcome"] == "4"
    task = {d["type"]: d["valueString"] for d in by_type["task.run"]["entity"][-1]["detail"]}
    assert task["model_id"] == "smollm2-demo" and json.loads(task["value"])["category"] == "4A"


def test_a_patient_id_that_is_not_a_fhir_id_goes_in_an_identifier(audit_db: AuditDb) -> None:
    audit_db.record(audit.MessageReceived(patient_id="12345^^^HOSP^MR", actor="peer"))
    with audit_db.sessions() as s:
        res = audit.fhir_audit_event(s.scalars(select(AuditEvent)).one())
    assert res["entity"][0]["what"] == {"identifier": {"value": "12345^^^HOSP^MR"}}


# ---- the CLI ------------------------------------------------------------------------------------


@pytest.fixture()
def cli_env(audit_db: AuditDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AuditDb:
    monkeypatch.setenv("RADLITE_DATABASE_URL", audit_db.url)
    monkeypatch.setenv("RADLITE_AUDIT_ARCHIVE_DIR", str(tmp_path / "archive"))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    return audit_db


def test_cli_verify_passes_then_fails_with_the_broken_row(cli_env: AuditDb) -> None:
    seed_report(cli_env)
    ok = CliRunner().invoke(audit_app, ["verify"])
    assert ok.exit_code == 0, ok.output
    assert "OK 6 event(s)" in ok.output
    anchor = ok.output.split("anchor: ")[1].split()[0]
    assert CliRunner().invoke(audit_app, ["verify", "--anchor", anchor]).exit_code == 0
    cli_env.tamper("UPDATE audit_events SET accession = 'ACC-9' WHERE seq = 2")
    bad = CliRunner().invoke(audit_app, ["verify"])
    assert bad.exit_code == 1
    assert "BROKEN at event 2" in bad.output
    with cli_env.sessions() as s:  # each verify was itself recorded as a read of the audit log
        reads = audit.search(s, audit.AuditFilter(event_types=["audit.read"]))
    assert [r.detail["ok"] for r in reads] == [False, True, True]


def test_cli_export_filters_and_writes_fhir(cli_env: AuditDb, tmp_path: Path) -> None:
    _two_reports(cli_env)
    out = tmp_path / "p2.ndjson"
    result = CliRunner().invoke(audit_app, ["export", "--patient", "SYN-P-2", "--since",
                                            datetime.now(UTC).date().isoformat(), "--format", "fhir",
                                            "--output", str(out)])
    assert result.exit_code == 0, result.output
    resources = [R4BAuditEvent.model_validate_json(x) for x in out.read_text().splitlines()]
    assert len(resources) == 5
    assert all(r.entity[0].what.reference == "Patient/SYN-P-2" for r in resources)
    raw = CliRunner().invoke(audit_app, ["export", "--type", "feedback.received"])
    lines = [json.loads(x) for x in raw.stdout.splitlines() if x.startswith("{")]
    assert [x["event_type"] for x in lines] == ["feedback.received"] * 2
    bad = CliRunner().invoke(audit_app, ["export", "--since", "last tuesday"])
    assert bad.exit_code == 2


def test_cli_archive_uses_the_retention_setting(cli_env: AuditDb, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seed_report(cli_env)
    nothing = CliRunner().invoke(audit_app, ["archive"])  # default retention: six years, nothing that old
    assert nothing.exit_code == 0 and "nothing older" in nothing.output
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    done = CliRunner().invoke(audit_app, ["archive", "--before", future])
    assert done.exit_code == 0, done.output
    assert len(list((tmp_path / "archive").glob("audit-*.ndjson"))) == 1
    assert CliRunner().invoke(audit_app, ["verify", "--archives"]).exit_code == 0


def test_an_event_with_only_an_accession_still_names_the_report(audit_db: AuditDb) -> None:
    audit_db.record(audit.CardServedEvent(accession="ACC-7", actor="x", actor_kind="jwt"))
    with audit_db.sessions() as s:
        res = audit.fhir_audit_event(s.scalars(select(AuditEvent)).one())
    report = res["entity"][0]
    assert report["what"]["identifier"]["value"] == "ACC-7" and "name" not in report
    assert report["role"]["code"] == "3"
