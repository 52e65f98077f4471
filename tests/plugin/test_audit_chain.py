"""The hash chain on SQLite and PostgreSQL: append, verify, tamper detection, triggers, grants, retention."""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import conftest_audit as fx
import pytest
from conftest_audit import AuditDb, seed_report
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from plugin import audit
from plugin.storage.db import make_engine, make_sessionmaker
from plugin.storage.tables import AuditArchive, AuditEvent

_pg_database, _sqlite_template, audit_db = fx._pg_database, fx._sqlite_template, fx.audit_db  # shared fixtures
DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


def _verify(db: AuditDb, **kw: object) -> audit.VerifyResult:
    with db.sessions() as s:
        return audit.verify(s, **kw)  # type: ignore[arg-type]


def test_events_link_into_a_chain_that_verifies(audit_db: AuditDb) -> None:
    seqs = seed_report(audit_db)
    assert seqs == list(range(1, len(seqs) + 1))
    with audit_db.sessions() as s:
        rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert rows[0].prev_hash == audit.GENESIS
    for before, row in zip(rows, rows[1:], strict=False):
        assert row.prev_hash == before.hash
        assert row.hash == audit.chain_hash(row.prev_hash, audit.row_payload(row))
    result = _verify(audit_db)
    assert result.ok and result.checked == len(rows)
    assert (result.head_seq, result.head_hash) == (rows[-1].seq, rows[-1].hash)


def test_an_edited_row_is_the_first_broken_link(audit_db: AuditDb) -> None:
    seed_report(audit_db)
    audit_db.tamper("UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3")
    result = _verify(audit_db)
    assert not result.ok and result.broken_seq == 3
    assert "edited" in (result.reason or "")


def test_an_edited_and_rehashed_row_breaks_the_next_link(audit_db: AuditDb) -> None:
    seed_report(audit_db)
    with audit_db.sessions() as s:
        row = s.get(AuditEvent, 2)
        assert row is not None
        payload = audit.row_payload(row) | {"detail": {"status": "preliminary"}}
        forged = audit.chain_hash(row.prev_hash, payload)
    audit_db.tamper("UPDATE audit_events SET detail = :d, hash = :h WHERE seq = 2",
                    d=json.dumps({"status": "preliminary"}), h=forged)
    result = _verify(audit_db)
    assert not result.ok and result.broken_seq == 3
    assert "does not link" in (result.reason or "")


def test_a_deleted_row_is_detected(audit_db: AuditDb) -> None:
    seed_report(audit_db)
    audit_db.tamper("DELETE FROM audit_events WHERE seq = 4")
    result = _verify(audit_db)
    assert not result.ok and result.broken_seq == 5
    assert "expected row 4" in (result.reason or "")


def test_a_row_inserted_out_of_order_is_detected(audit_db: AuditDb) -> None:
    seqs = seed_report(audit_db)
    with audit_db.sessions.begin() as s:
        second = s.get(AuditEvent, 2)
        assert second is not None
        # Appended at the right seq, but chained to an older row, as a replayed or back-dated insert would be.
        row = AuditEvent(seq=seqs[-1] + 1, occurred_at=datetime.now(UTC), event_type="feedback.received",
                         actor="x", detail={"outcome": "overridden"}, prev_hash=second.hash, hash="")
        row.hash = audit.chain_hash(row.prev_hash, audit.row_payload(row))
        s.add(row)
    result = _verify(audit_db)
    assert not result.ok and result.broken_seq == seqs[-1] + 1


def test_an_anchor_kept_outside_catches_rows_cut_off_the_end(audit_db: AuditDb) -> None:
    seed_report(audit_db)
    head = _verify(audit_db)
    audit_db.tamper("DELETE FROM audit_events WHERE seq = :s", s=head.head_seq)
    assert _verify(audit_db).ok  # a bare chain cannot see a truncated tail ...
    cut = _verify(audit_db, anchor=(head.head_seq, head.head_hash))
    assert not cut.ok and "missing" in (cut.reason or "")  # ... the anchor does
    assert _verify(audit_db, anchor=(2, _verify(audit_db).head_hash)).ok is False


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = 'x'", "DELETE FROM audit_events",
                                       "UPDATE audit_archives SET last_hash = 'x'", "DELETE FROM audit_archives"])
def test_triggers_refuse_update_and_delete(audit_db: AuditDb, statement: str, tmp_path: Path) -> None:
    seed_report(audit_db)
    with audit_db.sessions.begin() as s:  # so audit_archives has a row for the row triggers to guard
        audit.archive(s, before=datetime.now(UTC) - timedelta(microseconds=1), archive_dir=tmp_path)
        s.add(AuditArchive(path="x", first_seq=0, last_seq=0, last_hash="0" * 64, file_sha256="0" * 64, event_count=0))
    with pytest.raises(DBAPIError, match="append-only"):
        with audit_db.sessions.begin() as s:
            s.execute(text(statement))
    assert _verify(audit_db).ok


@pytest.mark.postgres
@pytest.mark.parametrize("audit_db", ["postgres"], indirect=True)  # roles are a PostgreSQL feature
def test_documented_grants_give_the_service_role_insert_but_no_delete(audit_db: AuditDb) -> None:
    block = DOCS.read_text().split("<!-- grants:begin -->")[1].split("<!-- grants:end -->")[0]
    sql = block.split("```sql")[1].split("```")[0]
    suffix = uuid.uuid4().hex[:8]
    app_role, owner_role = f"radlite_app_{suffix}", f"radlite_owner_{suffix}"
    dbname = audit_db.url.rsplit("/", 1)[1]
    sql = sql.replace("radlite_app", app_role).replace("radlite_owner", owner_role)
    sql = sql.replace("ON DATABASE radlite ", f'ON DATABASE "{dbname}" ')
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", sql).split(";") if s.strip()]
    admin = create_engine(audit_db.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            for st in statements:
                c.execute(text(st))
        seed_report(audit_db)
        app_engine = make_engine(audit_db.url.replace("postgres@", f"{app_role}@"))
        try:
            app_sessions = make_sessionmaker(app_engine)
            with app_sessions.begin() as s:
                row = audit.record(s, audit.AuditRead(actor="compliance", actor_kind="audit-user"))
                assert audit.verify(s).ok
            for bad in ("DELETE FROM audit_events", "UPDATE audit_events SET actor = 'x'", "TRUNCATE audit_events"):
                with pytest.raises(DBAPIError, match="permission denied"):
                    with app_sessions.begin() as s:
                        s.execute(text(bad))
            with pytest.raises(DBAPIError, match="must be owner"):
                with app_sessions.begin() as s, audit.append_only_suspended(s):
                    pass
        finally:
            app_engine.dispose()
        assert row.seq == 7 and _verify(audit_db).ok
    finally:
        with admin.connect() as c:
            for role in (app_role, owner_role):
                c.execute(text(f"DROP OWNED BY {role}"))
                c.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


def test_concurrent_writers_never_fork_the_chain(audit_db: AuditDb) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        engine = make_engine(audit_db.url)  # one engine per writer, as separate replicas would have
        try:
            sessions = make_sessionmaker(engine)
            for i in range(8):
                with sessions.begin() as s:
                    audit.record(s, audit.TaskRun(actor=f"w{n}", detail={"i": i}))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = _verify(audit_db)
    assert result.ok and result.checked == 32 and result.head_seq == 32


def _age(db: AuditDb, seqs: list[int], days: int) -> None:
    """Back-date rows the honest way: rebuild the chain from them on (test setup, not tampering)."""
    with db.sessions.begin() as s, audit.append_only_suspended(s):
        rows = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        prev = audit.GENESIS
        for row in rows:
            if row.seq in seqs:
                row.occurred_at = row.occurred_at - timedelta(days=days)
            row.prev_hash = prev
            row.hash = audit.chain_hash(prev, audit.row_payload(row))
            prev = row.hash
        s.flush()


def test_archive_moves_old_events_to_ndjson_and_the_chain_still_verifies(audit_db: AuditDb, tmp_path: Path) -> None:
    seqs = seed_report(audit_db)
    _age(audit_db, seqs[:4], days=400)
    with audit_db.sessions.begin() as s:
        result = audit.archive(s, before=audit.retention_cutoff(365), archive_dir=tmp_path, actor="ops")
    assert result is not None and (result.first_seq, result.last_seq, result.event_count) == (1, 4, 4)
    lines = [json.loads(x) for x in result.path.read_text().splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4] and lines[-1]["hash"] == result.last_hash
    head = json.loads(result.path.with_suffix(".head.json").read_text())
    assert head["last_hash"] == result.last_hash and head["file_sha256"] == result.file_sha256
    with audit_db.sessions() as s:
        remaining = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
        assert remaining[0].seq == 5 and remaining[0].prev_hash == result.last_hash
        assert remaining[-1].event_type == "audit.archived"
        assert s.scalars(select(AuditArchive)).one().last_hash == result.last_hash
    full = _verify(audit_db, check_archives=True)
    assert full.ok and full.start_seq == 5 and full.archives == 1
    audit_db.record(audit.AuditRead(actor="after"))
    assert _verify(audit_db).ok
    with audit_db.sessions.begin() as s:  # nothing old enough left
        assert audit.archive(s, before=audit.retention_cutoff(365), archive_dir=tmp_path) is None


def test_archiving_everything_keeps_the_chain_going(audit_db: AuditDb, tmp_path: Path) -> None:
    seed_report(audit_db)
    with audit_db.sessions.begin() as s:
        first = audit.archive(s, before=datetime.now(UTC) + timedelta(seconds=1), archive_dir=tmp_path)
    with audit_db.sessions.begin() as s:  # the first run's audit.archived event is all that is left
        second = audit.archive(s, before=datetime.now(UTC) + timedelta(seconds=1), archive_dir=tmp_path)
    assert first and second and second.first_seq == first.last_seq + 1
    result = _verify(audit_db, check_archives=True)
    assert result.ok and result.archives == 2 and result.start_seq == second.last_seq + 1


def test_a_changed_or_missing_archive_file_is_reported(audit_db: AuditDb, tmp_path: Path) -> None:
    seed_report(audit_db)
    with audit_db.sessions.begin() as s:
        result = audit.archive(s, before=datetime.now(UTC) + timedelta(seconds=1), archive_dir=tmp_path)
    assert result is not None
    result.path.write_text(result.path.read_text().replace("accepted", "overridden"))
    broken = _verify(audit_db, check_archives=True)
    assert not broken.ok and "sha256" in (broken.reason or "")
    result.path.unlink()
    assert "missing" in (_verify(audit_db, check_archives=True).reason or "")
    assert _verify(audit_db).ok  # the live table alone is intact


def test_a_forged_archive_row_does_not_hide_deleted_rows(audit_db: AuditDb) -> None:
    seed_report(audit_db)
    with audit_db.sessions.begin() as s:
        third = s.get(AuditEvent, 3)
        assert third is not None
        s.add(AuditArchive(path="/nowhere.ndjson", first_seq=1, last_seq=3, last_hash=third.hash,
                           file_sha256="0" * 64, event_count=3))
    audit_db.tamper("DELETE FROM audit_events WHERE seq <= 3")
    result = _verify(audit_db)
    assert not result.ok and "no audit.archived event" in (result.reason or "")


def test_archive_refuses_a_broken_chain(audit_db: AuditDb, tmp_path: Path) -> None:
    seed_report(audit_db)
    audit_db.tamper("UPDATE audit_events SET patient_id = 'other' WHERE seq = 1")
    with pytest.raises(audit.AuditChainBroken), audit_db.sessions.begin() as s:
        audit.archive(s, before=datetime.now(UTC) + timedelta(seconds=1), archive_dir=tmp_path)
    assert not list(tmp_path.glob("*.ndjson"))
    with audit_db.sessions() as s:
        assert s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq).limit(1)) == 1


def test_a_changed_model_or_setting_at_start_is_an_event_of_its_own(audit_db: AuditDb) -> None:
    def start(sha: str, budget: float) -> list[str]:
        with audit_db.sessions.begin() as s:
            rows = audit.record_configuration(s, audit.ConfigLoaded(actor="radlite", actor_kind="system", detail={
                "manifest_version": sha[:8], "hook_budget_seconds": budget,
                "models": [{"id": "extraction", "sha256": sha}, {"id": "rules", "sha256": None}]}))
            return [r.event_type for r in rows]

    assert start("a" * 64, 1.5) == ["config.loaded"]
    assert start("a" * 64, 1.5) == ["config.loaded"]
    assert start("b" * 64, 1.5) == ["config.loaded", "model.changed"]
    assert start("b" * 64, 2.0) == ["config.loaded", "config.changed"]
    with audit_db.sessions() as s:
        changed = audit.search(s, audit.AuditFilter(event_types=["model.changed"]))[0].detail
        setting = audit.search(s, audit.AuditFilter(event_types=["config.changed"]))[0].detail
    assert changed["changes"] == [{"id": "extraction", "before": {"id": "extraction", "sha256": "a" * 64},
                                   "after": {"id": "extraction", "sha256": "b" * 64}}]
    assert setting["changes"] == {"hook_budget_seconds": {"before": 1.5, "after": 2.0}}
    assert _verify(audit_db).ok
