"""The audit trail: one typed event per audited action, chained by hashes.

Each row stores sha256(prev_hash + canonical JSON of the row), so editing, deleting or
re-ordering any row breaks every link after it. Rows are only ever inserted; the
service's database role needs INSERT and SELECT on audit_events, nothing more.

Beside the writer this module holds what compliance staff need to read the trail:
`verify` (the first broken link), `search` / `timeline` (filters), NDJSON and FHIR R4
AuditEvent export, and `archive` (retention: rows older than the configured period go
to an NDJSON file with their chain head, then leave the table; see docs/audit.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
import traceback
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar, TextIO

from fhir.resources.R4B.auditevent import AuditEvent as FhirAuditEvent
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Select, event, func, or_, select, text
from sqlalchemy.orm import Session

from plugin.storage.tables import AuditArchive, AuditEvent, CardServed

GENESIS = "0" * 64

# One writer per process, held from the first audit write of a transaction until it
# commits or rolls back (two open transactions reading the same chain head would fork
# it). On PostgreSQL an advisory transaction lock extends this to every replica.
_WRITE_LOCK = threading.RLock()
_PG_LOCK_KEY = 0x5241444C  # "RADL"
_HELD = "radlite.audit_lock"

# Created by migration 0002; the names are repeated there on purpose (a migration is a frozen snapshot).
APPEND_ONLY_TRIGGERS = ("audit_events_no_update", "audit_events_no_delete")
PG_APPEND_ONLY_TRIGGER = "audit_events_append_only"


_ROLLING_BACK = "radlite.audit_rolling_back"


def _release_lock(session: Session) -> None:
    if _HELD in session.info:
        del session.info[_HELD]
        _WRITE_LOCK.release()


def _on_rollback(session: Session) -> None:
    # Fires just before after_transaction_end for the transaction being rolled back (savepoint or not).
    session.info[_ROLLING_BACK] = True


def _on_end(session: Session, ended: Any) -> None:
    """Release the writer lock with the transaction that took it, never with a savepoint inside it.

    A savepoint rolled back inside a longer transaction (queries.save_result does this when a
    replica stored the result first) must not release it: the transaction's earlier audit rows
    are still uncommitted, and another writer reading the head now would fork the chain. A
    savepoint that took the lock and is rolled back does release it (its rows are gone, and
    PostgreSQL drops an advisory lock taken in a savepoint rolled back to); one that commits
    hands the lock to its parent.
    """
    rolled_back = session.info.pop(_ROLLING_BACK, False)
    if session.info.get(_HELD) is not ended:
        return
    if ended.parent is None or rolled_back:
        _release_lock(session)
    else:
        session.info[_HELD] = ended.parent


event.listen(Session, "after_rollback", _on_rollback)
event.listen(Session, "after_transaction_end", _on_end)


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
    """A model or rules task ran. Its value keeps codes (RADS category, stage, labels); words a model
    wrote or read from the report (an answer, entities, changes) are kept as sha256 (see task_value_detail)."""

    event_type: ClassVar[str] = "task.run"

    def __post_init__(self) -> None:
        if "value" in self.detail or self.detail.get("disagreement") or isinstance(self.detail.get("note"), str):
            object.__setattr__(self, "detail", task_run_detail(self.detail))


@dataclass(frozen=True, kw_only=True)
class TaskReused(AuditRecord):
    """Requested tasks answered from the stored results of an earlier run (same report content, same models):
    no task.run is written for them, so without this row the trail would not show what this request was given.
    Detail: analysis id and tasks; their values are in that analysis's task.run events."""

    event_type: ClassVar[str] = "task.reused"


@dataclass(frozen=True, kw_only=True)
class AnalysisFailed(AuditRecord):
    """A planned task did not run to a result (it raised, or was cancelled at shutdown), or the worker's
    analysis of a message failed (retried or given up); detail: which tasks, exception type only."""

    event_type: ClassVar[str] = "analysis.failed"


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
class ConfigChanged(AuditRecord):
    """A setting changed while running (detail: which keys, old and new values without secrets)."""

    event_type: ClassVar[str] = "config.changed"


@dataclass(frozen=True, kw_only=True)
class ModelChanged(AuditRecord):
    """A model file, adapter or manifest entry was added, replaced or removed (detail: ids and sha256)."""

    event_type: ClassVar[str] = "model.changed"


@dataclass(frozen=True, kw_only=True)
class AuditRead(AuditRecord):
    """Someone read the audit log (page view, export, verify); detail says what they asked for."""

    event_type: ClassVar[str] = "audit.read"


@dataclass(frozen=True, kw_only=True)
class AuditArchived(AuditRecord):
    """Retention moved a prefix of the chain to an NDJSON file; vouches for the audit_archives row."""

    event_type: ClassVar[str] = "audit.archived"


@dataclass(frozen=True, kw_only=True)
class OutboundQueued(AuditRecord):
    """An HL7 message we owe (an application ACK) was written to the outbox (or left unroutable)."""

    event_type: ClassVar[str] = "outbound.queued"


@dataclass(frozen=True, kw_only=True)
class OutboundSent(AuditRecord):
    """An outbound message reached its destination (and was commit-acknowledged, when asked)."""

    event_type: ClassVar[str] = "outbound.sent"


@dataclass(frozen=True, kw_only=True)
class OutboundRetried(AuditRecord):
    """A delivery attempt failed and another is scheduled (detail: attempt, reply, when it is retried)."""

    event_type: ClassVar[str] = "outbound.retried"


@dataclass(frozen=True, kw_only=True)
class OutboundFailed(AuditRecord):
    """An outbound message was refused by its destination or ran out of attempts; kept for review."""

    event_type: ClassVar[str] = "outbound.failed"


EVENT_CLASSES: tuple[type[AuditRecord], ...] = (
    MessageReceived, MessageRejected, HookRequest, ReportStored, TaskRun, AnalysisFailed, CardServedEvent,
    FeedbackReceived,
    SafetyAnomaly, ConfigLoaded, ConfigChanged, ModelChanged, AuditRead, AuditArchived,
    OutboundQueued, OutboundSent, OutboundRetried, OutboundFailed,
)
EVENT_TYPES: tuple[str, ...] = tuple(c.event_type for c in EVENT_CLASSES)


# ---- detail without free text ------------------------------------------------------------------
# The trail links actions to patients through ids; it never holds report text, names or other free
# text a caller wrote. Where such text matters, the detail keeps its sha256 (the full text stays in
# its own table: reports, inbound_messages, feedback), so a reviewer can still prove which text it was.

# HL7 table 0357 (message error condition codes): what an ERR-3 code means, without the quoted value.
HL7_ERROR_TEXT: dict[str, str] = {
    "0": "Message accepted", "100": "Segment sequence error", "101": "Required field missing",
    "102": "Data type error", "103": "Table value not found", "104": "Value too long",
    "200": "Unsupported message type", "201": "Unsupported event code", "202": "Unsupported processing id",
    "203": "Unsupported version id", "204": "Unknown key identifier", "205": "Duplicate key identifier",
    "206": "Application record locked", "207": "Application internal error",
}


def text_digest(value: str) -> str:
    """sha256 of a free text, so the trail can name a text without holding it."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def hl7_error_detail(ack: str, err_code: str, location: str) -> dict[str, str]:
    """An HL7 refusal as the trail keeps it: codes and location only. The error text an adapter builds
    may quote the offending field (a name or free text when a sender shifted a field); it is not kept."""
    return {"ack": ack, "err_code": err_code, "location": location,
            "error": HL7_ERROR_TEXT.get(err_code, "Message error")}


def evidence_detail(evidence: Iterable[Any]) -> list[dict[str, Any]]:
    """Evidence spans by offsets and sentence hash: the sentences are report text."""
    return [{"start": e.start, "end": e.end, "text_hash": text_digest(e.sentence)} for e in evidence]


def _text_ref(value: str) -> dict[str, Any]:
    return {"sha256": text_digest(value), "chars": len(value)}


# Task values whose every field is a code or a label from a closed list: kept as they are.
_CODED_VALUE_KINDS = frozenset({"rads", "n_stage", "m_stage", "nli", "chexpert"})


def task_value_detail(value: Any) -> Any:
    """A task value as the trail keeps it: coded values whole; free text (a QA or summary answer, entity
    phrases, temporal findings and cues, all words from the report or a model) as sha256 and length."""
    kind = value.get("kind") if isinstance(value, dict) else None
    if not isinstance(value, dict) or kind is None or kind in _CODED_VALUE_KINDS:
        return value
    if kind == "text":
        return {"kind": kind, "text": _text_ref(str(value.get("text") or ""))}
    if kind == "temporal":
        changes = [c for c in value.get("changes") or [] if isinstance(c, dict)]
        return {"kind": kind, "changes": [
            {"change": c.get("change"), "finding": _text_ref(str(c.get("finding") or "")),
             "cue": _text_ref(c["cue"]) if isinstance(c.get("cue"), str) else None} for c in changes]}
    if kind == "entities":
        return {"kind": kind, **{k: [text_digest(str(v)) for v in items]
                                 for k, items in value.items() if k != "kind" and isinstance(items, list)}}
    # An unknown kind: keep its shape, hash every string in it.
    return {k: (v if k == "kind" else text_digest(canonical(v))) for k, v in value.items()}


def task_run_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail of a task.run event without free text: the value and a disagreement's two values go
    through task_value_detail's rules (a disagreement about a coded task names its two labels). The result's
    note is kept as sha256 and length: it quotes the report ("described in words, not written as a stage:
    '...'", "nodes used: ...") or an exception's message; the full note stays in task_results."""
    out = dict(detail)
    if isinstance(detail.get("note"), str):
        out["note"] = _text_ref(detail["note"])
    if "value" not in detail and not detail.get("disagreement"):
        return out
    value = detail.get("value")
    out["value"] = task_value_detail(value)
    disagreement = detail.get("disagreement")
    coded = task_value_detail(value) is value
    if isinstance(disagreement, dict) and not coded:
        out["disagreement"] = {k: (_text_ref(v) if k in ("model_value", "rules_value", "note") and isinstance(v, str)
                                   else v) for k, v in disagreement.items()}
    return out


def override_reason_detail(reason: dict[str, Any] | None) -> dict[str, Any] | None:
    """A feedback override reason: the coded reason as sent, the clinician's comment as a hash and length."""
    if not reason:
        return reason
    out = {k: v for k, v in reason.items() if k != "userComment"}
    comment = reason.get("userComment")
    if isinstance(comment, str):
        out["userComment_sha256"] = text_digest(comment)
        out["userComment_chars"] = len(comment)
    return out


def failure_text(exc: BaseException) -> str:
    """An exception as the application log may hold it: its type and where it was raised, never its
    message (database, parser and HTTP errors quote the values they refused, which may be PHI)."""
    where = "".join(traceback.format_tb(exc.__traceback__))
    return f"{type(exc).__name__}\n{where}".rstrip()


def report_stored(report: Any, row: Any, *, inbound_id: int | None, actor: str | None,
                  actor_kind: str | None) -> ReportStored:
    """The `report.stored` event for a new report version, the same from every door (HL7 worker,
    FHIR $analyze, CDS Hooks prefetch): `report` a RadiologyReport, `row` its stored Report row."""
    return ReportStored(
        actor=actor, actor_kind=actor_kind, patient_id=report.patient_id, report_key=row.report_key,
        accession=report.accession, input_hash=report.content_hash,
        detail={"inbound_id": inbound_id, "report_row": row.id, "status": report.status,
                "source_hash": report.source_hash},
    )


# ---- the chain ---------------------------------------------------------------------------------


def canonical(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:  # SQLite hands back naive datetimes; they were stored as UTC
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def row_payload(row: Any) -> dict[str, Any]:
    """The fields the hash covers (everything but the hash itself); `row` is an ORM or Core row."""
    return {
        "seq": row.seq,
        "occurred_at": _utc(row.occurred_at).isoformat(timespec="microseconds"),
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


def _hold_write_lock(session: Session) -> None:
    """Take the chain's writer lock for the rest of this transaction (see _on_end)."""
    if _HELD not in session.info:
        _WRITE_LOCK.acquire()
        try:
            connection = session.connection()  # begins the transaction the lock belongs to
            if connection.dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            # The innermost transaction now open: the lock lives as long as it (or its parents) do.
            session.info[_HELD] = session.get_nested_transaction() or session.get_transaction()
        except BaseException:
            _WRITE_LOCK.release()
            raise


def latest_archive(session: Session) -> AuditArchive | None:
    return session.scalars(select(AuditArchive).order_by(AuditArchive.last_seq.desc()).limit(1)).first()


def chain_head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the newest event, counting archived ones; (0, GENESIS) for an empty trail."""
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    if last is not None:
        return last.seq, last.hash
    arch = latest_archive(session)  # everything was archived: continue from the archived head
    if arch is not None:
        return arch.last_seq, arch.last_hash
    return 0, GENESIS


# Column sizes of audit_events (plugin/storage/tables.py): PostgreSQL refuses a longer value, SQLite keeps it.
_COLUMN_LIMITS = {"actor": 255, "actor_kind": 32, "patient_id": 255, "report_key": 255, "accession": 255,
                  "input_hash": 64}


def _storable_text(value: str) -> str:
    """A string every supported database stores and hashes as given. A lone surrogate (a JSON body may carry
    one as an escape) has no UTF-8 form, and PostgreSQL text refuses NUL: both are written as escapes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value.replace("\x00", "\\u0000")


def _storable(value: Any) -> Any:
    """A detail as JSON every database keeps: strings as _storable_text, NaN and infinities (which
    PostgreSQL's json refuses; a request body may carry them) as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, str):
        return _storable_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {(_storable_text(k) if isinstance(k, str) else k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_storable(v) for v in value]
    return value


def _column(name: str, value: str | None, oversized: dict[str, Any]) -> str | None:
    """An id column's value as stored: storable, and within the column's size. A longer value (a JWT subject,
    a sender's id) keeps its head and a digest of the whole, and the detail names its sha256 and length."""
    if value is None:
        return None
    text_value = _storable_text(str(value))
    limit = _COLUMN_LIMITS[name]
    if len(text_value) <= limit:
        return text_value
    digest = text_digest(text_value)
    oversized[name] = {"sha256": digest, "chars": len(text_value)}
    return f"{text_value[: limit - 17]}~{digest[:16]}"


def record(session: Session, event: AuditRecord) -> AuditEvent:
    """Append `event` to the chain inside the caller's transaction and flush it.

    Whatever the caller hands in is recorded, never refused: ids and detail are made storable first
    (see _column and _storable), so an odd value from outside cannot make the event, or the action
    it belongs to, fail on one database and not the other.
    """
    _hold_write_lock(session)  # held until the transaction ends
    last_seq, prev_hash = chain_head(session)
    data = asdict(event)
    oversized: dict[str, Any] = {}
    columns = {name: _column(name, data[name], oversized) for name in _COLUMN_LIMITS}
    detail = _storable(data["detail"])
    if not isinstance(detail, dict):
        detail = {"value": detail}
    if oversized:
        detail = {**detail, "oversized": oversized}
    row = AuditEvent(
        seq=last_seq + 1,
        occurred_at=datetime.now(UTC),
        event_type=event.event_type,
        **columns,
        detail=json.loads(canonical(detail)),
        prev_hash=prev_hash,
        hash="",
    )
    row.hash = chain_hash(prev_hash, row_payload(row))
    session.add(row)
    session.flush()
    return row


def record_configuration(session: Session, loaded: ConfigLoaded) -> list[AuditEvent]:
    """Record a start-up's configuration, plus a model.changed / config.changed event for what differs
    from the previous start, so a swapped model file or a changed setting is an event of its own."""
    previous = session.scalars(
        select(AuditEvent).where(AuditEvent.event_type == ConfigLoaded.event_type)
        .order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    rows = [record(session, loaded)]
    if previous is None:
        return rows
    old, new = previous.detail or {}, rows[0].detail or {}

    def by_id(detail: dict[str, Any]) -> dict[str, Any]:
        return {str(m.get("id")): m for m in detail.get("models") or [] if isinstance(m, dict)}

    before, after = by_id(old), by_id(new)
    models = [{"id": k, "before": before.get(k), "after": after.get(k)}
              for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    if models:
        rows.append(record(session, ModelChanged(
            actor=loaded.actor, actor_kind=loaded.actor_kind, detail={
                "changes": models, "manifest_version": {"before": old.get("manifest_version"),
                                                        "after": new.get("manifest_version")},
                "previous_config_seq": previous.seq}
        )))
    settings = {k: {"before": old.get(k), "after": new.get(k)} for k in sorted(set(old) | set(new))
                if k not in ("models", "manifest_version") and old.get(k) != new.get(k)}
    if settings:
        rows.append(record(session, ConfigChanged(
            actor=loaded.actor, actor_kind=loaded.actor_kind,
            detail={"changes": settings, "previous_config_seq": previous.seq},
        )))
    return rows


# ---- verify ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of walking the chain; `broken_seq` is the first row whose link does not hold."""

    ok: bool
    checked: int
    start_seq: int
    start_hash: str
    head_seq: int
    head_hash: str
    archives: int
    broken_seq: int | None = None
    reason: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    kind: str | None = None  # edited | deleted | inserted | reordered | truncated | archive (see verify)


def _rows(session: Session, stmt: Select[Any], batch: int = 1000) -> Iterator[Any]:
    # Core rows streamed in batches: a long trail is never held in memory (nor in the ORM identity map).
    # Callers that may stop early wrap this in closing(): an open server-side cursor would block
    # later statements of the same transaction on PostgreSQL (ALTER TABLE during archive).
    result = session.execute(stmt.execution_options(yield_per=batch))
    try:
        yield from result
    finally:
        result.close()


def _archive_line_ok(line: dict[str, Any], prev: str) -> str | None:
    stored = line.get("hash")
    payload = {k: v for k, v in line.items() if k not in ("hash", "prev_hash")}
    if line.get("prev_hash") != prev:
        return "prev_hash does not match the hash before it"
    if chain_hash(prev, payload) != stored:
        return "content does not match its hash"
    return None


def verify_archives(session: Session) -> tuple[bool, int | None, str | None]:
    """Check every archive file: its sha256, its internal chain, and the link to the archive before it."""
    prev = GENESIS
    for arch in session.scalars(select(AuditArchive).order_by(AuditArchive.last_seq)):
        path = Path(arch.path)
        if not path.is_file():
            return False, arch.first_seq, f"archive file {path.name} is missing"
        if _file_sha256(path) != arch.file_sha256:
            return False, arch.first_seq, f"archive file {path.name} does not match its recorded sha256"
        with path.open(encoding="utf-8") as fh:
            for n, raw in enumerate(fh):
                line = json.loads(raw)
                problem = _archive_line_ok(line, prev)
                if problem:
                    return False, line.get("seq", arch.first_seq + n), f"archived row {problem}"
                prev = line["hash"]
        if prev != arch.last_hash:
            return False, arch.last_seq, f"archive file {path.name} does not end at its recorded chain head"
    return True, None, None


# What broke, as `VerifyResult.kind` names it (the CLI and the page print the reason, which says it too).
EDITED, DELETED, INSERTED, REORDERED, TRUNCATED, ARCHIVE = (
    "edited", "deleted", "inserted", "reordered", "truncated", "archive")
_RENUMBER_SEARCH = 10_000  # how far back a renumbered row's original seq is looked for (sha256 each)


def _written_as(row: Any) -> int | None:
    """The seq a row was written with, when only its seq changed since (rows deleted or inserted before
    it and the rest renumbered to hide it); None when no nearby seq makes its hash hold."""
    payload = row_payload(row)
    for distance in range(1, _RENUMBER_SEARCH + 1):
        for seq in (row.seq + distance, row.seq - distance):
            if seq > 0 and chain_hash(row.prev_hash, {**payload, "seq": seq}) == row.hash:
                return seq
    return None


def _diagnose_link(session: Session, row: Any) -> tuple[str, str]:
    """Why `row` does not link to the row before it: (kind, reason). Uses the unique index on hash.

    Every row before `row` verified, so a row it links to further back already has a successor:
    either `row` is a second successor (inserted: a fork), or rows were inserted before it and it
    was renumbered. A link to a later row means rows were reordered.
    """
    linked = session.scalar(select(AuditEvent.seq).where(AuditEvent.hash == row.prev_hash))
    intact = chain_hash(row.prev_hash, row_payload(row)) == row.hash
    written_as = None if intact else _written_as(row)
    head = f"row {row.seq} does not link to the row before it"
    if linked is not None and linked > row.seq:
        return REORDERED, f"{head}: it was written after row {linked}, which now follows it (rows reordered)"
    if linked is not None and linked < row.seq - 1:
        if intact:
            return INSERTED, (f"{head}: it claims row {linked} as its predecessor, which row {linked + 1} "
                              "already follows, so it was inserted (a fork of the chain)")
        if written_as is not None:
            between = f"{linked + 1}" if linked + 1 == row.seq - 1 else f"{linked + 1}..{row.seq - 1}"
            return INSERTED, (f"{head}: it was written as row {written_as} right after row {linked}, so row(s) "
                              f"{between} were inserted and the rest renumbered")
    if written_as is not None and written_as > row.seq:
        return DELETED, (f"{head}: it was written as row {written_as}, so {written_as - row.seq} row(s) before "
                         "it were deleted and the rest renumbered")
    if not intact:
        return EDITED, f"{head}, and its own content does not match its hash: it was edited"
    return EDITED, (f"{head}: the row before it was edited and re-hashed, or replaced "
                    "(rows deleted or inserted before it)")


def _diagnose_gap(row: Any, expect_seq: int, prev: str) -> tuple[str, str]:
    """A seq gap: rows deleted, unless the row after the gap links to the one before it (then it was
    inserted with a seq of its own choosing)."""
    missing = f"{expect_seq}" if row.seq == expect_seq + 1 else f"{expect_seq}..{row.seq - 1}"
    if row.prev_hash == prev:
        return INSERTED, (f"expected row {expect_seq}, found {row.seq}: row {row.seq} links to row "
                          f"{expect_seq - 1}, so it was inserted with a skipped seq")
    return DELETED, f"expected row {expect_seq}, found {row.seq}: row(s) {missing} were deleted"


def _archived_hash(session: Session, seq: int) -> tuple[str | None, str | None]:
    """(hash, problem) of an archived row, read from its archive file (whose sha256 the database keeps)."""
    arch = session.scalars(select(AuditArchive).where(AuditArchive.first_seq <= seq, AuditArchive.last_seq >= seq)
                           .limit(1)).first()
    if arch is None:
        return None, f"anchor row {seq} is neither in the table nor in an archive"
    if seq == arch.last_seq:
        return arch.last_hash, None
    path = Path(arch.path)
    if not path.is_file() or _file_sha256(path) != arch.file_sha256:
        return None, f"anchor row {seq} is archived in {path.name}, which is missing or changed"
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            line = json.loads(raw)
            if line.get("seq") == seq:
                return line.get("hash"), None
    return None, f"anchor row {seq} is not in its archive file {path.name}"


def verify(
    session: Session, *, anchor: tuple[int, str] | None = None, check_archives: bool = False
) -> VerifyResult:
    """Walk the chain from the latest archive head (or genesis) and report the first broken link.

    Names what broke (`kind`): an edited row (content no longer matches its hash), deleted rows
    (a seq gap, or rows renumbered after a deletion), an inserted row (a skipped seq, or a row
    that links past it), reordered rows (a row linking to one that now comes after it), a forged
    archive row (no `audit.archived` event in the chain vouches for it) and, when an `anchor`
    (seq, hash) kept outside the database is given, rows cut off the end. An anchor that has
    since been archived is checked against its archive file.
    """
    arch = latest_archive(session)
    n_archives = session.scalar(select(func.count()).select_from(AuditArchive)) or 0
    start_seq = arch.last_seq + 1 if arch else 1
    start_hash = arch.last_hash if arch else GENESIS
    expect_seq, prev, checked = start_seq, start_hash, 0
    vouched = arch is None
    anchor_seen = anchor is None

    def broken(seq: int | None, kind: str, reason: str) -> VerifyResult:
        return VerifyResult(False, checked, start_seq, start_hash, expect_seq - 1, prev, n_archives, seq, reason,
                            kind=kind)

    if check_archives:
        ok, seq, reason = verify_archives(session)
        if not ok:
            return broken(seq, ARCHIVE, reason or "archive broken")
    if anchor is not None and anchor[0] < start_seq:
        archived, problem_text = _archived_hash(session, anchor[0])
        if problem_text:
            return broken(anchor[0], ARCHIVE, problem_text)
        if archived != anchor[1]:
            return broken(anchor[0], EDITED, f"archived row {anchor[0]} does not match the anchor kept outside "
                                             "the database")
        anchor_seen = True
    bad_row: Any = None
    problem: tuple[int, str, str] | None = None
    with closing(_rows(session, select(AuditEvent.__table__).order_by(AuditEvent.seq))) as rows:
        for row in rows:
            if row.seq < expect_seq:
                problem = (row.seq, INSERTED, f"row {row.seq} is at or before the archived chain head "
                                              f"{start_seq - 1}: it was inserted")
            elif row.seq > expect_seq:
                problem = (row.seq, *_diagnose_gap(row, expect_seq, prev))
            elif row.prev_hash != prev:
                bad_row = row  # diagnosed once the stream is closed (it needs a query of its own)
            elif chain_hash(row.prev_hash, row_payload(row)) != row.hash:
                problem = (row.seq, EDITED, f"row {row.seq} was edited: its content does not match its hash")
            elif anchor is not None and row.seq == anchor[0] and row.hash != anchor[1]:
                problem = (row.seq, EDITED, f"row {row.seq} does not match the anchor kept outside the database "
                                            "(it was re-written, or the rows from it on were replaced)")
            if problem or bad_row is not None:
                break
            if arch is not None and not vouched and row.event_type == AuditArchived.event_type:
                d = row.detail or {}
                vouched = d.get("last_seq") == arch.last_seq and d.get("last_hash") == arch.last_hash
            anchor_seen = anchor_seen or (anchor is not None and row.seq == anchor[0])
            prev, expect_seq, checked = row.hash, expect_seq + 1, checked + 1
    if bad_row is not None:
        problem = (bad_row.seq, *_diagnose_link(session, bad_row))
    if problem:
        return broken(*problem)
    if not vouched:
        return broken(start_seq, ARCHIVE,
                      f"archive ending at row {start_seq - 1} has no audit.archived event in the chain")
    if not anchor_seen and anchor is not None:
        gone = f"{anchor[0]}" if anchor[0] == expect_seq else f"{expect_seq}..{anchor[0]}"
        return broken(anchor[0], TRUNCATED, f"anchor row {anchor[0]} is missing: rows were removed from the end "
                                            f"(row(s) {gone} at least; the table ends at row {expect_seq - 1})")
    return VerifyResult(True, checked, start_seq, start_hash, expect_seq - 1, prev, n_archives)


# ---- search ------------------------------------------------------------------------------------


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite stores datetimes without an offset; comparing needs both sides in UTC.
    return None if value is None else _utc(value)


class AuditFilter(BaseModel):
    """What compliance staff filter on; empty fields do not filter. `until` is exclusive."""

    patient_id: str | None = Field(default=None, description="Patient id as received (PID-3 or FHIR id).")
    accession: str | None = Field(default=None, description="Accession number.")
    report_key: str | None = Field(default=None, description="Report key (accession, else source report id).")
    actor: str | None = Field(default=None, description="Who: JWT iss/sub, MLLP peer, audit user.")
    event_types: list[str] = Field(default_factory=list, description="Event types, e.g. task.run.")
    since: datetime | None = Field(default=None, description="Events at or after this instant.")
    until: datetime | None = Field(default=None, description="Events before this instant.")
    max_seq: int | None = Field(default=None, ge=0, description="Events up to this seq (an export's snapshot).")

    @field_validator("patient_id", "accession", "report_key", "actor", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("since", "until", mode="after")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return _as_utc(value)

    def as_detail(self) -> dict[str, Any]:
        """The filter as it goes into an audit.read event."""
        return {k: v for k, v in self.model_dump(mode="json").items() if v not in (None, [])}


def parse_when(value: str | None, *, end_of_day: bool = False) -> datetime | None:
    """An ISO date or date-time from a form or the command line; a bare date means its start (or its end)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) == 10:
        day = datetime.fromisoformat(value).date()
        if end_of_day:
            day = day + timedelta(days=1)
        return datetime.combine(day, time(), tzinfo=UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return _utc(parsed)


def _filtered(stmt: Select[Any], flt: AuditFilter) -> Select[Any]:
    if flt.patient_id:
        stmt = stmt.where(AuditEvent.patient_id == flt.patient_id)
    if flt.accession:
        stmt = stmt.where(AuditEvent.accession == flt.accession)
    if flt.report_key:
        stmt = stmt.where(AuditEvent.report_key == flt.report_key)
    if flt.actor:
        stmt = stmt.where(AuditEvent.actor == flt.actor)
    if flt.event_types:
        stmt = stmt.where(AuditEvent.event_type.in_(flt.event_types))
    if flt.since:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.since)
    if flt.until:
        stmt = stmt.where(AuditEvent.occurred_at < flt.until)
    if flt.max_seq is not None:
        stmt = stmt.where(AuditEvent.seq <= flt.max_seq)
    return stmt


def search(session: Session, flt: AuditFilter, *, limit: int = 100, offset: int = 0) -> list[AuditEvent]:
    """One page of matching events, newest first."""
    stmt = _filtered(select(AuditEvent), flt).order_by(AuditEvent.seq.desc()).limit(limit).offset(offset)
    return list(session.scalars(stmt))


def count(session: Session, flt: AuditFilter) -> int:
    return session.scalar(_filtered(select(func.count()).select_from(AuditEvent), flt)) or 0


def iter_events(session: Session, flt: AuditFilter) -> Iterator[Any]:
    """Every matching event, oldest first, streamed (for export)."""
    return _rows(session, _filtered(select(AuditEvent.__table__), flt).order_by(AuditEvent.seq))


def known_event_types(session: Session) -> list[str]:
    present = set(session.scalars(select(AuditEvent.event_type).distinct()))
    return sorted(present | set(EVENT_TYPES))


_LINK_KEYS = ("card_uuid", "card_uuids", "hook_instance")


def _links(detail: dict[str, Any] | None) -> set[str]:
    """Ids that tie an event to others of the same report: card uuids and the hook instance."""
    out: set[str] = set()
    for key in _LINK_KEYS:
        value = (detail or {}).get(key)
        if isinstance(value, str):
            out.add(value)
        elif isinstance(value, list):
            out.update(v for v in value if isinstance(v, str))
    return out


def timeline(session: Session, report: str) -> list[AuditEvent]:
    """Everything that happened to one report, oldest first: arrival, tasks, cards, feedback, reads.

    A report is named by its report key or accession. Feedback carries only the card uuid,
    and a hook request may arrive before the report is known, so events without the report
    key are joined through the card uuids and hook instances of the events that have it.
    """
    own = list(session.scalars(
        select(AuditEvent).where(or_(AuditEvent.report_key == report, AuditEvent.accession == report))
        .order_by(AuditEvent.seq)
    ))
    if not own:
        return []
    links: set[str] = set().union(*(_links(e.detail) for e in own))
    links.update(session.scalars(select(CardServed.card_uuid).where(CardServed.report_key == report)))
    links.update(session.scalars(select(CardServed.hook_instance).where(CardServed.report_key == report)))
    seen = {e.seq for e in own}
    patients = {e.patient_id for e in own if e.patient_id}
    unkeyed = select(AuditEvent).where(AuditEvent.report_key.is_(None), AuditEvent.accession.is_(None))
    candidates: list[AuditEvent] = []
    if links:
        candidates += session.scalars(
            unkeyed.where(AuditEvent.event_type == FeedbackReceived.event_type, AuditEvent.seq > min(seen))
        )
        if patients:
            candidates += session.scalars(unkeyed.where(AuditEvent.patient_id.in_(patients),
                                                        AuditEvent.event_type != AuditRead.event_type))
    extra = [e for e in candidates if e.seq not in seen and _links(e.detail) & links]
    return sorted({e.seq: e for e in own + extra}.values(), key=lambda e: e.seq)


# ---- export ------------------------------------------------------------------------------------


def ndjson_line(row: Any) -> str:
    """One event as a JSON line carrying its chain links, so a file can be re-verified on its own."""
    return canonical({**row_payload(row), "prev_hash": row.prev_hash, "hash": row.hash})


def write_ndjson(rows: Iterable[Any], out: TextIO) -> int:
    n = 0
    for row in rows:
        out.write(ndjson_line(row) + "\n")
        n += 1
    return n


DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RADLITE_EVENT = "urn:radlite:audit-event-type"

# event type -> (AuditEvent.type coding, subtype coding or None, action). DICOM (DCM) event ids where one fits
# (PS3.15 A.5 / IHE ATNA), else the FHIR audit-event-type "rest"; our own code always goes in subtype too.
_FHIR_TYPES: dict[str, tuple[tuple[str, str, str], tuple[str, str, str] | None, str]] = {
    "message.received": ((DCM, "110107", "Import"), None, "C"),
    "message.rejected": ((DCM, "110107", "Import"), None, "C"),
    "hook.request": ((AUDIT_EVENT_TYPE, "rest", "RESTful Operation"), None, "E"),
    "report.stored": ((DCM, "110111", "Procedure Record"), None, "C"),
    "task.run": ((DCM, "110111", "Procedure Record"), None, "E"),
    "task.reused": ((DCM, "110111", "Procedure Record"), None, "R"),
    "analysis.failed": ((DCM, "110111", "Procedure Record"), None, "E"),
    "card.served": ((DCM, "110106", "Export"), None, "R"),
    "feedback.received": ((DCM, "110107", "Import"), None, "C"),
    "safety.anomaly": ((DCM, "110113", "Security Alert"), None, "E"),
    "config.loaded": ((DCM, "110100", "Application Activity"), (DCM, "110120", "Application Start"), "E"),
    "config.changed": ((DCM, "110113", "Security Alert"), (DCM, "110131", "Software Configuration"), "U"),
    "model.changed": ((DCM, "110113", "Security Alert"), (DCM, "110131", "Software Configuration"), "U"),
    "audit.read": ((DCM, "110101", "Audit Log Used"), None, "R"),
    "audit.archived": ((DCM, "110101", "Audit Log Used"), None, "D"),
    "outbound.queued": ((DCM, "110106", "Export"), None, "C"),
    "outbound.sent": ((DCM, "110106", "Export"), None, "E"),
    "outbound.retried": ((DCM, "110106", "Export"), None, "E"),
    "outbound.failed": ((DCM, "110106", "Export"), None, "E"),
}
_FAILED = {"message.rejected": "4", "safety.anomaly": "4", "outbound.retried": "4", "outbound.failed": "4",
           "analysis.failed": "8"}
_FHIR_ID = "^[A-Za-z0-9.-]{1,64}$"


def _coding(c: tuple[str, str, str]) -> dict[str, str]:
    return {"system": c[0], "code": c[1], "display": c[2]}


def _detail_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return canonical(value) if isinstance(value, dict | list) else json.dumps(value)


def fhir_audit_event(row: Any) -> dict[str, Any]:
    """One event as a FHIR R4 AuditEvent (validated with fhir.resources R4B, identical for this resource)."""
    kind, sub, action = _FHIR_TYPES.get(row.event_type, ((AUDIT_EVENT_TYPE, "rest", "RESTful Operation"), None, "E"))
    detail: dict[str, Any] = row.detail or {}
    subtypes = [{"system": RADLITE_EVENT, "code": row.event_type}]
    if sub:
        subtypes.insert(0, _coding(sub))
    outcome = str(detail.get("audit_outcome")) if str(detail.get("audit_outcome")) in {"0", "4", "8", "12"} else None
    agent: dict[str, Any] = {
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                             "code": "humanuser" if row.actor_kind in ("audit-user", "cli") else "dataprocessor"}]},
        "who": {"identifier": {"system": f"urn:radlite:actor:{row.actor_kind or 'unknown'}",
                               "value": row.actor or "unknown"}},
        "requestor": True,
    }
    if detail.get("sender"):
        agent["name"] = str(detail["sender"])
    entities: list[dict[str, Any]] = []
    if row.patient_id:
        what = ({"reference": f"Patient/{row.patient_id}"} if re.match(_FHIR_ID, row.patient_id)
                else {"identifier": {"value": row.patient_id}})
        entities.append({
            "what": what,
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1",
                     "display": "Person"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
        })
    if row.report_key or row.accession:
        ident: dict[str, Any] = {"value": row.accession or row.report_key}
        if row.accession:
            ident["type"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]}
        report_entity: dict[str, Any] = {
            "what": {"identifier": ident},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                     "display": "System Object"},
            "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "3", "display": "Report"},
        }
        if row.report_key:
            report_entity["name"] = row.report_key
        entities.append(report_entity)
    record_details = [{"type": "prev_hash", "valueString": row.prev_hash}, {"type": "hash", "valueString": row.hash}]
    if row.input_hash:
        record_details.append({"type": "input_sha256", "valueString": row.input_hash})
    record_details += [{"type": k, "valueString": _detail_value(v)} for k, v in sorted(detail.items()) if v is not None]
    entities.append({
        "what": {"identifier": {"system": "urn:radlite:audit-seq", "value": str(row.seq)}},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                 "display": "System Object"},
        "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4",
                 "display": "Domain Resource"},
        "description": f"RadLite audit record {row.seq} ({row.event_type})",
        "detail": record_details,
    })
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"radlite-audit-{row.seq}",
        "type": _coding(kind),
        "subtype": subtypes,
        "action": action,
        "recorded": _utc(row.occurred_at).isoformat(timespec="microseconds"),
        "outcome": outcome or _FAILED.get(row.event_type, "0"),
        "agent": [agent],
        "source": {
            "site": "RadLite CDS",
            "observer": {"display": "RadLite CDS"},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4",
                      "display": "Application Server"}],
        },
        "entity": entities,
    }
    return json.loads(FhirAuditEvent.model_validate(resource).model_dump_json())


def write_fhir_ndjson(rows: Iterable[Any], out: TextIO) -> int:
    """FHIR Bulk Data style: one AuditEvent resource per line."""
    n = 0
    for row in rows:
        out.write(json.dumps(fhir_audit_event(row), separators=(",", ":"), ensure_ascii=False) + "\n")
        n += 1
    return n


# ---- retention ---------------------------------------------------------------------------------


class AuditChainBroken(RuntimeError):
    """Archiving refuses to move a broken chain out of the database (it would hide the evidence)."""


@dataclass(frozen=True)
class ArchiveResult:
    path: Path
    first_seq: int
    last_seq: int
    prev_hash: str
    last_hash: str
    file_sha256: str
    event_count: int


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def append_only_suspended(session: Session) -> Iterator[None]:
    """Lift the append-only triggers inside the current transaction (maintenance only).

    PostgreSQL: `ALTER TABLE ... DISABLE TRIGGER` needs the table owner, which the service
    role is not; the change is transactional, so a failure rolls it back. SQLite has no
    roles: the triggers are dropped and re-created from their stored SQL in the same transaction.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text(f"ALTER TABLE audit_events DISABLE TRIGGER {PG_APPEND_ONLY_TRIGGER}"))
        yield
        session.execute(text(f"ALTER TABLE audit_events ENABLE TRIGGER {PG_APPEND_ONLY_TRIGGER}"))
        return
    saved = session.execute(text(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
    )).all()
    for name, _sql in saved:
        session.execute(text(f'DROP TRIGGER "{name}"'))
    yield
    for _name, sql in saved:
        session.execute(text(sql))


def retention_cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


def archive(session: Session, *, before: datetime, archive_dir: Path, actor: str | None = None) -> ArchiveResult | None:
    """Move events older than `before` to NDJSON, then out of the table. None when nothing is that old.

    Order, so nothing is silently lost: verify the chain; write the file (atomic rename) and its
    `.head.json`; insert the audit_archives row (file sha256 and chain head); delete the rows
    with the append-only trigger lifted; append an `audit.archived` event that vouches for the
    archive row. All in one transaction, which the caller commits; run it as the table owner.
    """
    _hold_write_lock(session)
    check = verify(session)
    if not check.ok:
        raise AuditChainBroken(f"chain broken at row {check.broken_seq}: {check.reason}")
    cutoff = _utc(before)
    rows: list[Any] = []
    # A contiguous prefix of the chain: stop at the first row not older than the cutoff.
    with closing(_rows(session, select(AuditEvent.__table__).order_by(AuditEvent.seq))) as stream:
        for row in stream:
            if _utc(row.occurred_at) >= cutoff:
                break
            rows.append(row)
    if not rows:
        return None
    first, last = rows[0], rows[-1]
    archive_dir.mkdir(parents=True, exist_ok=True)
    path = (archive_dir / f"audit-{first.seq:012d}-{last.seq:012d}.ndjson").resolve()
    tmp = path.with_suffix(".ndjson.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        write_ndjson(rows, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    digest = _file_sha256(path)
    head = {"first_seq": first.seq, "last_seq": last.seq, "prev_hash": first.prev_hash, "last_hash": last.hash,
            "file_sha256": digest, "event_count": len(rows), "before": cutoff.isoformat()}
    path.with_suffix(".head.json").write_text(json.dumps(head, indent=2) + "\n", encoding="utf-8")
    session.add(AuditArchive(path=str(path), first_seq=first.seq, last_seq=last.seq, last_hash=last.hash,
                             file_sha256=digest, event_count=len(rows)))
    session.flush()  # opens the write transaction before any DDL (SQLite runs DDL inside it then)
    with append_only_suspended(session):
        session.execute(AuditEvent.__table__.delete().where(AuditEvent.seq.between(first.seq, last.seq)))
    record(session, AuditArchived(actor=actor, actor_kind="cli", detail={**head, "file": path.name}))
    return ArchiveResult(path, first.seq, last.seq, first.prev_hash, last.hash, digest, len(rows))
