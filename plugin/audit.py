"""The audit trail: one typed event per audited action, chained by hashes.

Each row stores sha256(prev_hash + canonical JSON of the row), so editing, deleting or
re-ordering any row breaks every link after it. Rows are only ever inserted; the
service's database role needs INSERT and SELECT on audit_events, nothing more.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from plugin.storage.tables import AuditEvent

GENESIS = "0" * 64

# One writer per process, held from the first audit write of a transaction until it
# commits or rolls back (two open transactions reading the same chain head would fork
# it). On PostgreSQL an advisory transaction lock extends this to every replica.
_WRITE_LOCK = threading.RLock()
_PG_LOCK_KEY = 0x5241444C  # "RADL"
_HELD = "radlite.audit_lock"


def _release(session: Session, *_: object) -> None:
    if session.info.pop(_HELD, False):
        _WRITE_LOCK.release()


for _name in ("after_commit", "after_rollback", "after_soft_rollback"):
    event.listen(Session, _name, _release)


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """Base of all audited actions: who, about which patient/report, and a hash of the input."""

    event_type: ClassVar[str] = "event"
    actor: str | None = None
    actor_kind: str | None = None  # jwt | mllp | http | cli | audit-user | system
    patient_id: str | None = None
    report_key: str | None = None
    accession: str | None = None
    input_hash: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MessageReceived(AuditRecord):
    event_type: ClassVar[str] = "message.received"


@dataclass(frozen=True, kw_only=True)
class MessageRejected(AuditRecord):
    event_type: ClassVar[str] = "message.rejected"


@dataclass(frozen=True, kw_only=True)
class ReportStored(AuditRecord):
    event_type: ClassVar[str] = "report.stored"


@dataclass(frozen=True, kw_only=True)
class TaskRun(AuditRecord):
    event_type: ClassVar[str] = "task.run"


@dataclass(frozen=True, kw_only=True)
class HookRequest(AuditRecord):
    event_type: ClassVar[str] = "hook.request"


@dataclass(frozen=True, kw_only=True)
class CardServedEvent(AuditRecord):
    event_type: ClassVar[str] = "card.served"


@dataclass(frozen=True, kw_only=True)
class FeedbackReceived(AuditRecord):
    event_type: ClassVar[str] = "feedback.received"


@dataclass(frozen=True, kw_only=True)
class SafetyAnomaly(AuditRecord):
    event_type: ClassVar[str] = "safety.anomaly"


@dataclass(frozen=True, kw_only=True)
class ConfigLoaded(AuditRecord):
    event_type: ClassVar[str] = "config.loaded"


@dataclass(frozen=True, kw_only=True)
class AuditRead(AuditRecord):
    event_type: ClassVar[str] = "audit.read"


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_payload(row: AuditEvent) -> dict[str, Any]:
    """The fields the hash covers (everything but the hash itself)."""
    occurred = row.occurred_at
    if occurred.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        occurred = occurred.replace(tzinfo=UTC)
    return {
        "seq": row.seq,
        "occurred_at": occurred.astimezone(UTC).isoformat(timespec="microseconds"),
        "event_type": row.event_type,
        "actor": row.actor,
        "actor_kind": row.actor_kind,
        "patient_id": row.patient_id,
        "report_key": row.report_key,
        "accession": row.accession,
        "input_hash": row.input_hash,
        "detail": row.detail,
    }


def chain_hash(prev_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(payload)).encode("utf-8")).hexdigest()


def record(session: Session, event: AuditRecord) -> AuditEvent:
    """Append `event` to the chain inside the caller's transaction and flush it."""
    if not session.info.get(_HELD):
        _WRITE_LOCK.acquire()
        session.info[_HELD] = True
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    # The lock stays held until the transaction ends (see _release).
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    prev_hash = last.hash if last else GENESIS
    data = asdict(event)
    row = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        occurred_at=datetime.now(UTC),
        event_type=event.event_type,
        actor=data["actor"],
        actor_kind=data["actor_kind"],
        patient_id=data["patient_id"],
        report_key=data["report_key"],
        accession=data["accession"],
        input_hash=data["input_hash"],
        detail=json.loads(canonical(data["detail"])),
        prev_hash=prev_hash,
        hash="",
    )
    row.hash = chain_hash(prev_hash, row_payload(row))
    session.add(row)
    session.flush()
    return row
