"""Fixtures for the audit tests: real SQLite and PostgreSQL databases upgraded by Alembic.

Imported by tests/plugin/test_audit*.py (`from conftest_audit import ...`). Migrating is the
slow part, so each backend is migrated once per session: SQLite tests get a copy of a
migrated file, PostgreSQL tests share one fresh database whose tables are emptied between
tests (with triggers off for the wipe only, as the superuser that owns the test database).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from plugin import audit
from plugin.settings import Settings
from plugin.storage.db import make_engine, make_sessionmaker, upgrade

PG_ADMIN_URL = os.environ.get("RADLITE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AUDIT_USER = "compliance"
AUDIT_PASSWORD = "pa55-Word-for-tests"  # not a sample secret (Settings refuses those in production)


@dataclass
class AuditDb:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def record(self, event: audit.AuditRecord) -> int:
        with self.sessions.begin() as s:
            return audit.record(s, event).seq

    def tamper(self, sql: str, **params: Any) -> None:
        """Change rows the way an attacker with owner rights would: triggers lifted, hashes untouched."""
        with self.sessions.begin() as s:
            with audit.append_only_suspended(s):
                s.execute(text(sql), params)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit-template") / "radlite.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 in CI")
        pytest.skip("PostgreSQL not reachable")
    name = f"radlite_audit_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wipe_pg(engine: Engine) -> None:
    with engine.begin() as c:
        c.execute(text("SET LOCAL session_replication_role = replica"))  # skips the append-only triggers
        for table in ("audit_events", "audit_archives", "feedback", "cards_served", "task_results", "analyses",
                      "reports", "inbound_messages"):  # DELETE: far quicker than TRUNCATE on near-empty tables
            c.execute(text(f"DELETE FROM {table}"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def audit_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditDb]:
    """An empty, migrated database; every test using it runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "radlite.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("_pg_database")
    engine = make_engine(url)
    if request.param == "postgres":
        _wipe_pg(engine)
    try:
        yield AuditDb(url, engine, make_sessionmaker(engine))
    finally:
        engine.dispose()


@pytest.fixture()
def sqlite_audit_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditDb]:
    """SQLite only, for the page tests (the page runs the same queries the chain tests prove on both)."""
    path = tmp_path / "radlite.db"
    shutil.copy(request.getfixturevalue("_sqlite_template"), path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        yield AuditDb(f"sqlite:///{path}", engine, make_sessionmaker(engine))
    finally:
        engine.dispose()


def audit_settings(db: AuditDb, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "http_port": 0,
        "mllp_enabled": False,
        "worker_enabled": False,
        "jwt_required": False,
        "audit_user": AUDIT_USER,
        "audit_password": AUDIT_PASSWORD,
        "audit_archive_dir": tmp_path / "archive",
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def seed_report(db: AuditDb, *, patient: str = "SYN-P-1", accession: str = "ACC-1", card: str = "card-uuid-1",
                hook_instance: str = "hook-inst-1") -> list[int]:
    """One report's life as the pipeline and the CDS service record it: arrival to feedback."""
    common = {"patient_id": patient, "report_key": accession, "accession": accession}
    return [
        db.record(audit.MessageReceived(actor="10.0.0.7", actor_kind="mllp", input_hash="a" * 64,
                                        detail={"channel": "mllp", "sender": "SYN_RIS^SYNTH_GENERAL",
                                                "status": "queued"},
                                        **common)),
        db.record(audit.ReportStored(actor="worker-1", actor_kind="worker", input_hash="b" * 64,
                                     detail={"status": "final"}, **common)),
        db.record(audit.TaskRun(actor="10.0.0.7", actor_kind="worker", input_hash="c" * 64, detail={
            "task": "rads_assignment", "model_id": "smollm2-demo", "model_sha256": "d" * 64, "prompt_hash": "e" * 64,
            "value": {"system": "BI-RADS", "category": "4A"}, "confidence": 0.91, "latency_ms": 118,
            "evidence": [{"start": 10, "end": 42, "text_hash": "f" * 64}]}, **common)),
        db.record(audit.HookRequest(actor="https://ehr.example/iss|dr-who", actor_kind="jwt", patient_id=patient,
                                    detail={"hook": "patient-view", "hook_instance": hook_instance})),
        db.record(audit.CardServedEvent(actor="https://ehr.example/iss|dr-who", actor_kind="jwt", detail={
            "card_uuid": card, "indicator": "warning", "hook_instance": hook_instance}, **common)),
        db.record(audit.FeedbackReceived(actor="https://ehr.example/iss|dr-who", actor_kind="jwt", detail={
            "card_uuid": card, "outcome": "accepted"})),
    ]
