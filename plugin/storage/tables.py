"""SQLAlchemy 2 tables: the durable state of the service.

Everything that matters for correctness lives here, not in process memory: the inbound
messages are the work queue (claimed with FOR UPDATE SKIP LOCKED on PostgreSQL), the
analyses are the cache the hooks answer from, and audit_events is the append-only trail.
The schema changes only through Alembic revisions in plugin/migrations/versions/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger primary keys that still autoincrement on SQLite (which only does so for INTEGER).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class InboundMessage(Base):
    """Every message or request that came in, raw, before anything else happens to it."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(32), doc="mllp | http-hl7 | http-fhir | cds-hook | cli")
    peer: Mapped[str | None] = mapped_column(String(255), doc="Remote address or JWT iss/sub.")
    sender: Mapped[str | None] = mapped_column(String(255), doc="Sending application^facility (HL7).")
    control_id: Mapped[str | None] = mapped_column(String(255), index=True, doc="MSH-10 or hookInstance.")
    content_type: Mapped[str | None] = mapped_column(String(128))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(
        String(16), default="received", index=True,
        doc="received | queued | processing | done | error | rejected | duplicate | batch (a batch file kept whole)",
    )
    error_code: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text, doc="Why it was refused or failed (no PHI).")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_key: Mapped[str | None] = mapped_column(String(255), index=True)


class OutboundMessage(Base):
    """An HL7 v2 message we owe someone (an application ACK, results as ORU^R01), kept until delivered.

    The outbox pattern: the row is written in the same transaction as the outcome it
    reports, and a sender thread delivers it, so a crash or an unreachable engine loses nothing.
    """

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(16), doc="app-ack | oru")
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"), index=True)
    sender: Mapped[str | None] = mapped_column(String(255), doc="Who it is for: MSH-3^MSH-4 of the message answered.")
    destination: Mapped[str | None] = mapped_column(String(255), doc="host:port; empty when no route is configured.")
    wait_for_commit: Mapped[bool] = mapped_column(default=True)
    control_id: Mapped[str] = mapped_column(String(64), index=True, doc="Our MSH-10.")
    code: Mapped[str] = mapped_column(String(4), doc="MSA-1 of an application ACK (AA, AE, AR); empty for ORU.")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(
        String(16), default="pending", index=True, doc="pending | sending | sent | failed | unroutable"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reply_code: Mapped[str | None] = mapped_column(String(4), doc="MSA-1 of the peer's commit ACK.")
    last_error: Mapped[str | None] = mapped_column(Text, doc="Why the last send failed (no PHI).")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Report(Base):
    """One version of one report. A corrected version supersedes, never overwrites, the earlier."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    report_key: Mapped[str] = mapped_column(String(255), index=True, doc="Accession, else source report id.")
    report_id: Mapped[str] = mapped_column(String(255))
    patient_id: Mapped[str | None] = mapped_column(String(255), index=True)
    accession: Mapped[str | None] = mapped_column(String(255), index=True)
    modality: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    effective: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    report_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    superseded_by: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnalysisRow(Base):
    """The analysis of one report content under one model manifest version."""

    __tablename__ = "analyses"
    __table_args__ = (UniqueConstraint("content_hash", "manifest_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    manifest_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending", doc="pending | partial | done | error")
    plan_json: Mapped[list[Any]] = mapped_column(JSON, default=list)
    facts_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors_json: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class TaskResultRow(Base):
    """One typed task result of an analysis, as TaskResult JSON plus the columns we query."""

    __tablename__ = "task_results"
    __table_args__ = (UniqueConstraint("analysis_id", "task"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analyses.id"), index=True)
    task: Mapped[str] = mapped_column(String(32))
    input_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    model_id: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    result_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CardServed(Base):
    """Each CDS Hooks card we returned, so feedback and audit can join on its uuid."""

    __tablename__ = "cards_served"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(String(64), unique=True)
    service_id: Mapped[str] = mapped_column(String(128))
    hook: Mapped[str] = mapped_column(String(64))
    hook_instance: Mapped[str] = mapped_column(String(128), index=True)
    patient_id: Mapped[str | None] = mapped_column(String(255), index=True)
    report_key: Mapped[str | None] = mapped_column(String(255))
    analysis_id: Mapped[int | None] = mapped_column(ForeignKey("analyses.id"))
    indicator: Mapped[str] = mapped_column(String(16))
    card_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    served_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    """CDS Hooks feedback items; the same item sent twice is stored once."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("card_uuid", "outcome", "outcome_timestamp"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(String(64), index=True)
    service_id: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    outcome_timestamp: Mapped[str] = mapped_column(String(64))
    accepted_suggestions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    override_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SeenJti(Base):
    """JWT ids already used; kept until the token could no longer be valid (replay guard)."""

    __tablename__ = "seen_jti"

    jti_hash: Mapped[str] = mapped_column(String(64), primary_key=True, doc="sha256 of iss + jti.")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditEvent(Base):
    """Append-only audit trail; each row carries the hash of the one before it."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    event_type: Mapped[str] = mapped_column(String(48), index=True)
    actor: Mapped[str | None] = mapped_column(String(255), index=True, doc="JWT iss/sub, MLLP peer, audit user.")
    actor_kind: Mapped[str | None] = mapped_column(String(32))
    patient_id: Mapped[str | None] = mapped_column(String(255), index=True)
    report_key: Mapped[str | None] = mapped_column(String(255), index=True)
    accession: Mapped[str | None] = mapped_column(String(255), index=True)
    input_hash: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditArchive(Base):
    """A batch of audit events moved to NDJSON by retention, with the chain head it ended at."""

    __tablename__ = "audit_archives"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    path: Mapped[str] = mapped_column(Text)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64))
    event_count: Mapped[int] = mapped_column(Integer)


Index("ix_inbound_queue", InboundMessage.status, InboundMessage.id)
