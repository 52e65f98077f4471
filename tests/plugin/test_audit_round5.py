"""Compliance review, round 5: the trail is complete end to end and its tampering is named by kind.

Real app, real demo model, real SQLite and PostgreSQL (migrated by Alembic). Tampering is done the way
an attacker with owner rights would (triggers lifted, SQL on the table). No case repeats round 4:
here the unreadable DiagnosticReport of another patient, what `verify` says for each kind of tamper
(and the CLI and page with it), savepoints and two processes appending at once, one HL7 message's
whole life including the ACK delivered to a real MLLP peer, free text kept out of task and card
events, export edges with offsets, and archives under anchors.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import conftest_audit as fx
import pytest
from conftest_audit import AUDIT_PASSWORD, AUDIT_USER, AuditDb, audit_settings, seed_report
from conftest_cds import cds_settings
from fastapi.testclient import TestClient
from sqlalchemy import select

from plugin import audit, outbox
from plugin.app import create_app
from plugin.storage.db import make_engine, make_sessionmaker
from plugin.storage.tables import AuditEvent

_sqlite_template, _pg_database = fx._sqlite_template, fx._pg_database  # shared fixtures
audit_db, sqlite_audit_db = fx.audit_db, fx.sqlite_audit_db

NAME_FAMILY, NAME_GIVEN = "BRANWELLIC", "OTTOLINE"
STREET = "88 Quarrender Row"
SENTENCE = "Ill-defined 22 mm hypodense lesion in hepatic segment VII"
SECRETS = (NAME_FAMILY, NAME_GIVEN, STREET, SENTENCE, "Quarrender", "19580213", "hypodense lesion")
MRN = "MRN-550913"
REVIEW = "/cds-services/radlite-report-review"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def rows_after(sessions: Any, after: int = 0) -> list[AuditEvent]:
    with sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))


def head_seq(sessions: Any) -> int:
    with sessions() as s:
        return audit.chain_head(s)[0]


def no_free_text(sessions: Any) -> None:
    """Every row verifies and none (ids, detail, actor) holds a name, street, birth date or report words."""
    with sessions() as s:
        result = audit.verify(s)
        assert result.ok, result.reason
        for row in s.scalars(select(AuditEvent)):
            flat = audit.canonical(audit.row_payload(row)).upper()
            for secret in SECRETS:
                assert secret.upper() not in flat, (row.seq, row.event_type, secret)


# ---- CDS Hooks: another patient's report, readable or not ------------------------------------------


def diagnostic_report(rid: str, patient: str, *, readable: bool = True) -> dict[str, Any]:
    """A DiagnosticReport as an EHR's prefetch holds it; `readable=False` is one with no usable text
    (a presentedForm that is not base64), as EHRs send when the text lives in a PACS viewer."""
    text_body = f"FINDINGS:\n{SENTENCE}.\n\nIMPRESSION:\nIndeterminate liver lesion. LI-RADS 4. MRI recommended."
    form = ({"contentType": "text/plain", "data": base64.b64encode(text_body.encode()).decode()} if readable
            else {"contentType": "text/plain", "data": "%%% not base64 %%%"})
    return {
        "resourceType": "DiagnosticReport", "id": rid, "status": "final",
        "category": [{"coding": [{"system": "http://loinc.org", "code": "LP29684-5"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24558-9"}], "text": "CT ABDOMEN"},
        "subject": {"reference": f"Patient/{patient}", "display": f"{NAME_GIVEN} {NAME_FAMILY}"},
        "effectiveDateTime": "2026-05-02T07:15:00-04:00",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "ACSN"}]}, "value": f"ACC-{rid}"}],
        "presentedForm": [form],
    }


def hook(*reports: dict[str, Any]) -> dict[str, Any]:
    return {
        "hookInstance": str(uuid.uuid4()), "hook": "patient-view", "fhirServer": "https://ehr.r5.example/fhir",
        "context": {"userId": "Practitioner/r5-7", "patientId": "pt-r5-1"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "pt-r5-1", "name": [{"family": NAME_FAMILY}]},
            "reports": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in reports]},
        },
    }


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    app = create_app(cds_settings(sqlite_url, hook_budget_seconds=30.0), ensemble=ensemble)
    with TestClient(app) as c:
        yield c


def test_an_unreadable_report_about_another_patient_is_a_safety_anomaly_with_ids_only(client: TestClient) -> None:
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    start = head_seq(sessions)
    body = hook(diagnostic_report("r5-mine", "pt-r5-1", readable=False),
                diagnostic_report("r5-other-unreadable", "pt-r5-999", readable=False),
                diagnostic_report("r5-other-readable", "pt-r5-888"))
    answer = client.post(REVIEW, json=body)
    assert answer.status_code == 200 and answer.json()["cards"] == []
    anomalies = [e for e in rows_after(sessions, start) if e.event_type == "safety.anomaly"]
    by_report = {e.detail["report_id"]: e for e in anomalies}
    # Both reports of other patients are set aside and audited; this patient's unreadable one is not an anomaly.
    assert set(by_report) == {"r5-other-unreadable", "r5-other-readable"}
    stray = by_report["r5-other-unreadable"]
    assert stray.detail["readable"] is False and stray.detail["report_patient"] == "pt-r5-999"
    assert stray.detail["hookInstance"] == body["hookInstance"] and stray.patient_id == "pt-r5-1"
    assert HEX64.match(stray.input_hash or "") and stray.input_hash == stray.detail["source_hash"]
    assert by_report["r5-other-readable"].detail["readable"] is True
    no_free_text(sessions)


def test_an_unreadable_report_whose_subject_is_not_a_patient_id_is_audited_by_hash(client: TestClient) -> None:
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    start = head_seq(sessions)
    stray = diagnostic_report("r5-odd", "x", readable=False)
    stray["subject"] = {"reference": f"urn:names:{NAME_FAMILY}", "display": NAME_GIVEN}
    assert client.post(REVIEW, json=hook(stray)).status_code == 200
    [anomaly] = [e for e in rows_after(sessions, start) if e.event_type == "safety.anomaly"]
    assert anomaly.detail["report_patient"] is None
    assert anomaly.detail["subject_sha256"] == audit.text_digest(f"urn:names:{NAME_FAMILY}")
    no_free_text(sessions)


# ---- tamper: every kind named, on both databases ----------------------------------------------------


def _verify(db: AuditDb, **kwargs: Any) -> audit.VerifyResult:
    with db.sessions() as s:
        return audit.verify(s, **kwargs)


def _seed(db: AuditDb) -> list[int]:
    return seed_report(db, patient=MRN, accession="ACC-R5-T") + seed_report(db, patient=MRN, accession="ACC-R5-U",
                                                                            card="card-r5-2", hook_instance="hi-r5-2")


def test_an_update_is_named_edited(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET accession = 'ACC-OTHER' WHERE seq = 5")
    result = _verify(audit_db)
    assert (result.ok, result.broken_seq, result.kind) == (False, 5, audit.EDITED)


def test_a_delete_names_the_missing_rows(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("DELETE FROM audit_events WHERE seq IN (6, 7)")
    result = _verify(audit_db)
    assert (result.broken_seq, result.kind) == (8, audit.DELETED)
    assert "6..7" in (result.reason or "")


def test_a_delete_hidden_by_renumbering_is_still_a_delete(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("DELETE FROM audit_events WHERE seq = 4")
    # Shift every later row down one, through a negative detour (seq is the primary key).
    audit_db.tamper("UPDATE audit_events SET seq = -seq WHERE seq > 4")
    audit_db.tamper("UPDATE audit_events SET seq = -seq - 1 WHERE seq < 0")
    result = _verify(audit_db)
    assert (result.broken_seq, result.kind) == (4, audit.DELETED)
    assert "written as row 5" in (result.reason or "")


def test_a_row_slipped_in_with_later_rows_renumbered_is_an_insert(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET seq = -seq WHERE seq >= 4")
    audit_db.tamper("UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0")
    with audit_db.sessions() as s:
        third = s.get(AuditEvent, 3)
        assert third is not None
        forged = AuditEvent(seq=4, occurred_at=third.occurred_at, event_type="feedback.received",
                            actor="https://ehr.example/iss|dr-who", actor_kind="jwt", detail={"outcome": "accepted"},
                            prev_hash=third.hash, hash="")
        forged.hash = audit.chain_hash(third.hash, audit.row_payload(forged))
        values = {c: getattr(forged, c) for c in ("seq", "occurred_at", "event_type", "actor", "actor_kind",
                                                  "prev_hash", "hash")}
    with audit_db.sessions.begin() as s:
        s.execute(AuditEvent.__table__.insert().values(**values, detail={"outcome": "accepted"}))
    result = _verify(audit_db)
    assert (result.broken_seq, result.kind) == (5, audit.INSERTED), result.reason
    assert "row(s) 4 were inserted" in (result.reason or "")


def test_a_row_inserted_with_a_skipped_seq_is_an_insert(audit_db: AuditDb) -> None:
    seqs = _seed(audit_db)
    with audit_db.sessions.begin() as s:
        last = s.get(AuditEvent, seqs[-1])
        assert last is not None
        row = AuditEvent(seq=seqs[-1] + 5, occurred_at=datetime.now(UTC), event_type="card.served", actor="x",
                         detail={"card_uuid": "forged"}, prev_hash=last.hash, hash="")
        row.hash = audit.chain_hash(last.hash, audit.row_payload(row))
        s.add(row)
    result = _verify(audit_db)
    assert (result.broken_seq, result.kind) == (seqs[-1] + 5, audit.INSERTED)


def test_two_rows_swapped_are_named_reordered(audit_db: AuditDb) -> None:
    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET seq = -1 WHERE seq = 3")
    audit_db.tamper("UPDATE audit_events SET seq = 3 WHERE seq = 4")
    audit_db.tamper("UPDATE audit_events SET seq = 4 WHERE seq = -1")
    result = _verify(audit_db)
    assert (result.broken_seq, result.kind) == (3, audit.REORDERED)
    assert "after row 4" in (result.reason or "")


def test_a_truncated_tail_is_named_with_the_anchor(audit_db: AuditDb) -> None:
    seqs = _seed(audit_db)
    good = _verify(audit_db)
    audit_db.tamper("DELETE FROM audit_events WHERE seq > :s", s=seqs[-1] - 3)
    assert _verify(audit_db).ok  # the bare chain cannot see it ...
    cut = _verify(audit_db, anchor=(good.head_seq, good.head_hash))
    assert (cut.ok, cut.broken_seq, cut.kind) == (False, seqs[-1], audit.TRUNCATED)  # ... the anchor does
    assert f"{seqs[-1] - 2}..{seqs[-1]}" in (cut.reason or "")
    # Rows cut and new ones appended since: the anchor row exists again, with another hash.
    for _ in range(4):
        audit_db.record(audit.AuditRead(actor="compliance", actor_kind="audit-user", detail={"page": "search"}))
    again = _verify(audit_db, anchor=(good.head_seq, good.head_hash))
    assert (again.ok, again.broken_seq) == (False, seqs[-1])


def test_cli_verify_names_the_row_and_the_kind(audit_db: AuditDb, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from plugin.cli import app as cli_app

    _seed(audit_db)
    audit_db.tamper("UPDATE audit_events SET seq = -1 WHERE seq = 7")
    audit_db.tamper("UPDATE audit_events SET seq = 7 WHERE seq = 8")
    audit_db.tamper("UPDATE audit_events SET seq = 8 WHERE seq = -1")
    monkeypatch.setenv("RADLITE_DATABASE_URL", audit_db.url)
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    said = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 1
    assert "event 7" in said and "reordered" in said, said


def test_the_page_reports_rows_cut_off_after_it_last_verified(sqlite_audit_db: AuditDb, tmp_path: Path,
                                                                ensemble: Any) -> None:
    seed_report(sqlite_audit_db)
    app = create_app(audit_settings(sqlite_audit_db, tmp_path), ensemble=ensemble)
    auth = (AUDIT_USER, AUDIT_PASSWORD)
    with TestClient(app) as c:
        first = c.get("/audit", params={"verify": "1"}, auth=auth)
        assert first.status_code == 200 and "verified" in first.text.lower()
        witnessed = head_seq(sqlite_audit_db.sessions) - 1  # the page's own audit.read came after its check
        sqlite_audit_db.tamper("DELETE FROM audit_events WHERE seq >= :s", s=witnessed - 1)
        second = c.get("/audit", params={"verify": "1"}, auth=auth)
        assert second.status_code == 200
        assert "rows were removed from the end" in second.text and f"{witnessed}" in second.text


# ---- concurrency: savepoints, two processes -----------------------------------------------------


def test_a_savepoint_rolled_back_keeps_the_writer_lock_until_commit(audit_db: AuditDb) -> None:
    """queries.save_result rolls a savepoint back when a replica stored the result first; a writer in
    another thread must still wait for this transaction's audit rows before reading the head."""
    errors: list[BaseException] = []
    other_started = threading.Event()

    def other_writer() -> None:
        engine = make_engine(audit_db.url)
        try:
            other_started.set()
            with make_sessionmaker(engine).begin() as s:
                audit.record(s, audit.AuditRead(actor="other", actor_kind="cli", detail={"command": "verify"}))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            engine.dispose()

    with audit_db.sessions.begin() as s:
        audit.record(s, audit.TaskRun(actor="worker-1", actor_kind="worker", detail={"task": "rads_assignment"}))
        try:
            with s.begin_nested():
                raise LookupError("result stored by another replica")
        except LookupError:
            pass
        thread = threading.Thread(target=other_writer)
        thread.start()
        other_started.wait()
        time.sleep(0.3)  # give the other writer every chance to read the head too early
        audit.record(s, audit.AnalysisFailed(actor="worker-1", actor_kind="worker", detail={"attempt": 1}))
    thread.join()
    assert not errors, errors
    result = _verify(audit_db)
    assert result.ok and result.head_seq == 3, result.reason


def _append_from_process(url: str, label: str, count: int, barrier: Any) -> None:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    barrier.wait()
    for i in range(count):
        with sessions.begin() as s:
            audit.record(s, audit.TaskRun(actor=label, actor_kind="worker", detail={"i": i}))
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("audit_db", ["postgres"], indirect=True)  # SQLite: one writing process (docs/audit.md)
def test_two_processes_appending_at_once_never_fork_the_chain(audit_db: AuditDb) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_append_from_process, args=(audit_db.url, f"replica-{n}", 25, barrier))
             for n in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    with audit_db.sessions() as s:
        prevs = list(s.scalars(select(AuditEvent.prev_hash)))
    assert len(prevs) == len(set(prevs)) == 50  # no two rows claim the same predecessor
    result = _verify(audit_db)
    assert result.ok and result.head_seq == 50


# ---- completeness: one HL7 message's whole life ----------------------------------------------------


class CommitAckPeer:
    """An interface engine on MLLP that answers every message with a commit ACK (MSA|CA)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\x1c\r" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.received.append(data)
                control = re.search(rb"MSH\|[^\r]*?\|(?:[^|\r]*\|){6}([^|\r]*)", data)
                ack = ("MSH|^~\\&|ENGINE|NORTHWING|RADLITE|NORTHWING|20260502101500||ACK|E-1|P|2.5.1\r"
                       f"MSA|CA|{control.group(1).decode() if control else ''}\r")
                conn.sendall(b"\x0b" + ack.encode() + b"\x1c\r")

    def close(self) -> None:
        self.sock.close()


def oru(control_id: str, accession: str) -> str:
    return "\r".join([
        f"MSH|^~\\&|SYNRIS|NORTHWING|RADLITE|NORTHWING|20260502100000||ORU^R01^ORU_R01|{control_id}|P|2.5.1"
        "|||NE|AL",
        f"PID|1||{MRN}^^^NORTHWING^MR||{NAME_FAMILY}^{NAME_GIVEN}||19580213|F|||{STREET}^^Eastport^ME^04631",
        f"OBR|1||{accession}|74177^CT ABDOMEN PELVIS W CONTRAST^C4|||20260502093000|||||||||||||||||CT|F",
        f"OBX|1|TX|&GDT^Report^L|1|FINDINGS: {SENTENCE}. No biliary dilatation.||||||F",
        "OBX|2|TX|&IMP^Impression^L|1|IMPRESSION: LI-RADS 4 observation. Multiphase MRI recommended.||||||F",
    ]) + "\r"


def test_one_hl7_message_is_audited_from_arrival_to_the_ack_the_engine_took(sqlite_url: str, ensemble: Any) -> None:
    peer = CommitAckPeer()
    settings = cds_settings(sqlite_url, hl7_routes=[{"sender": "*", "host": "127.0.0.1", "port": peer.port}],
                            outbox_timeout_seconds=5)
    try:
        with TestClient(create_app(settings, ensemble=ensemble)) as c:
            sessions = c.app.state.sessions  # type: ignore[attr-defined]
            start = head_seq(sessions)
            answer = c.post("/hl7/v2", content=oru("R5-LIFE-1", "ACC-R5-LIFE").encode(),
                            headers={"Content-Type": "x-application/hl7-v2+er7"})
            assert answer.status_code == 200
            pipeline = c.app.state.pipeline  # type: ignore[attr-defined]
            while pipeline.process_next("r5-worker"):
                pass
            for _ in range(50):  # the app's own sender may get there first; either way it is delivered once
                if any(e.event_type == "outbound.sent" for e in rows_after(sessions, start)):
                    break
                outbox.deliver_next(sessions, settings)
            got = [e for e in rows_after(sessions, start) if not e.event_type.startswith("audit.")]
    finally:
        peer.close()
    kinds = [e.event_type for e in got]
    received = got[0]
    assert kinds[:2] == ["message.received", "report.stored"], kinds
    inbound_id = received.detail["inbound_id"]
    assert received.actor_kind in ("http", "http-hl7") or received.actor, received.actor
    assert got[1].detail["inbound_id"] == inbound_id and got[1].detail["status"] == "final"
    tasks = [e for e in got if e.event_type == "task.run"]
    assert tasks and all(e.accession == "ACC-R5-LIFE" and e.patient_id == MRN for e in tasks)
    assert all(e.detail["model_id"] and (e.detail["backend"] == "rules" or HEX64.match(e.detail["model_sha256"]))
               for e in tasks)
    queued = kinds.index("outbound.queued")
    assert queued > max(i for i, k in enumerate(kinds) if k == "task.run")
    assert kinds[-1] == "outbound.sent" and kinds.count("outbound.sent") == 1
    sent = got[-1]
    assert sent.detail["inbound_id"] == inbound_id and sent.detail["reply"] == "CA"
    assert sent.actor == f"127.0.0.1:{peer.port}" and got[queued].detail["code"] == "AA"
    assert b"MSA|AA|R5-LIFE-1" in peer.received[0]
    no_free_text(sessions)


# ---- no free text in task and card events ------------------------------------------------------


def test_entities_and_changes_are_kept_as_hashes_and_rads_as_codes(client: TestClient) -> None:
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    start = head_seq(sessions)
    answer = client.post(ANALYZE + "?tasks=radiology_ner,temporal_comparison,rads_assignment",
                         json=diagnostic_report("r5-ner", "pt-r5-1"), headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code == 200
    tasks = {e.detail["task"]: e.detail for e in rows_after(sessions, start) if e.event_type == "task.run"}
    assert {"radiology_ner", "temporal_comparison", "rads_assignment"} <= set(tasks)
    ner = tasks["radiology_ner"]["value"]
    assert ner["kind"] == "entities"
    assert all(HEX64.match(h) for k, v in ner.items() if k != "kind" for h in v)
    for change in tasks["temporal_comparison"]["value"]["changes"]:
        assert HEX64.match(change["finding"]["sha256"]) and change["change"] in (
            "new", "worsened", "improved", "resolved", "unchanged")
    rads = tasks["rads_assignment"]["value"]
    assert rads["kind"] == "rads" and "category" in rads
    no_free_text(sessions)


def test_a_free_text_answer_is_kept_as_its_hash_and_length() -> None:
    answer = f"The {SENTENCE.lower()} is most likely a hemangioma."
    event = audit.TaskRun(actor="cli", detail={"task": "radiology_qa", "value": {"kind": "text", "text": answer},
                                               "disagreement": {"model_value": answer, "rules_value": "none",
                                                                "note": answer}})
    assert event.detail["value"] == {"kind": "text", "text": {"sha256": audit.text_digest(answer),
                                                              "chars": len(answer)}}
    assert SENTENCE not in audit.canonical(event.detail)


def test_a_served_card_is_audited_by_uuid_and_summary_hash(client: TestClient) -> None:
    sessions = client.app.state.sessions  # type: ignore[attr-defined]
    start = head_seq(sessions)
    answer = client.post(REVIEW, json=hook(diagnostic_report("r5-card", "pt-r5-1")))
    cards = answer.json()["cards"]
    assert cards
    served = {e.detail["card_uuid"]: e for e in rows_after(sessions, start) if e.event_type == "card.served"}
    for card in cards:
        assert served[card["uuid"]].detail["summary_sha256"] == audit.text_digest(card["summary"])
        assert "summary" not in served[card["uuid"]].detail
    no_free_text(sessions)


# ---- export edges and archives --------------------------------------------------------------------


def _set_times(db: AuditDb, when: dict[int, datetime]) -> None:
    """Test setup: give rows chosen instants and rebuild the chain honestly from them on."""
    with db.sessions.begin() as s, audit.append_only_suspended(s):
        prev = audit.GENESIS
        for row in s.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            if row.seq in when:
                row.occurred_at = when[row.seq]
            row.prev_hash = prev
            row.hash = audit.chain_hash(prev, audit.row_payload(row))
            prev = row.hash
        s.flush()


def test_export_covers_exactly_the_range_asked_with_offsets(audit_db: AuditDb) -> None:
    seqs = seed_report(audit_db)
    instants = ["2026-03-31T21:59:59.999999+00:00", "2026-03-31T22:00:00+00:00", "2026-04-01T12:00:00+00:00",
                "2026-04-01T23:59:59.999999+00:00", "2026-04-02T00:00:00+00:00", "2026-04-02T03:00:00+00:00"]
    _set_times(audit_db, {seq: datetime.fromisoformat(t) for seq, t in zip(seqs, instants, strict=True)})
    assert _verify(audit_db).ok

    def exported(since: str | None, until: str | None) -> list[int]:
        flt = audit.AuditFilter(since=audit.parse_when(since), until=audit.parse_when(until, end_of_day=True))
        with audit_db.sessions() as s:
            return [json.loads(line)["seq"] for line in
                    (audit.ndjson_line(r) for r in audit.iter_events(s, flt))]

    # A day in UTC: both ends inclusive, the next midnight excluded.
    assert exported("2026-04-01", "2026-04-01") == seqs[2:4]
    # Midnight in Oslo (+02:00) is 22:00 UTC the day before: inclusive start, exclusive instant end.
    assert exported("2026-04-01T00:00:00+02:00", "2026-04-02T00:00:00+00:00") == seqs[1:4]
    assert exported("2026-04-01T19:59:59.999999-04:00", "2026-04-01T22:00:00-05:00") == seqs[3:5]
    assert exported(None, "2026-03-31T22:00:00Z") == seqs[:1]


def test_archiving_keeps_old_anchors_and_every_later_verify_good(audit_db: AuditDb, tmp_path: Path) -> None:
    seqs = seed_report(audit_db)
    early = _verify(audit_db)  # an anchor kept outside, before anything was archived
    old = datetime.now(UTC) - timedelta(days=4000)
    _set_times(audit_db, {s: old + timedelta(minutes=s) for s in seqs[:4]})
    with audit_db.sessions() as s:  # anchors taken after the setup rebuilt the chain
        mid_anchor = (2, s.get(AuditEvent, 2).hash)  # type: ignore[union-attr]
        head_anchor = audit.chain_head(s)
    with audit_db.sessions.begin() as s:
        first = audit.archive(s, before=old + timedelta(minutes=3, seconds=30), archive_dir=tmp_path / "a")
    assert first is not None and (first.first_seq, first.last_seq) == (1, 3)
    with audit_db.sessions.begin() as s:
        second = audit.archive(s, before=datetime.now(UTC) - timedelta(days=1), archive_dir=tmp_path / "a")
    assert second is not None and second.first_seq == 4
    assert _verify(audit_db, check_archives=True).ok
    assert _verify(audit_db, anchor=mid_anchor).ok  # archived in the first file
    assert _verify(audit_db, anchor=head_anchor).ok
    wrong = _verify(audit_db, anchor=(2, early.head_hash))  # row 2 of the file is not that
    assert not wrong.ok and wrong.broken_seq == 2
    audit_db.record(audit.AuditRead(actor="compliance", actor_kind="audit-user", detail={"page": "search"}))
    assert _verify(audit_db, check_archives=True, anchor=head_anchor).ok
