"""Data access as keyword-only functions taking a session; shared by routes, worker, CLI and tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.types import PlannedTask, RadiologyReport, ReportFacts, TaskResult
from plugin.storage.tables import AnalysisRow, InboundMessage, Report, TaskResultRow, utcnow


def sha256_bytes(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# ---- inbound messages: the durable work queue ---------------------------------------------


def store_inbound(
    session: Session,
    *,
    channel: str,
    raw: bytes,
    status: str,
    peer: str | None = None,
    sender: str | None = None,
    control_id: str | None = None,
    content_type: str | None = None,
    error_code: str | None = None,
    error: str | None = None,
) -> InboundMessage:
    row = InboundMessage(
        channel=channel, raw=raw, sha256=sha256_bytes(raw), status=status, peer=peer, sender=sender,
        control_id=control_id, content_type=content_type, error_code=error_code, error=error,
    )
    session.add(row)
    session.flush()
    return row


def find_duplicate(session: Session, *, sender: str | None, control_id: str | None, sha256: str) -> InboundMessage | None:
    """An earlier accepted copy of the same message (a sender's retry after a lost ACK)."""
    if not control_id:
        return None
    stmt = (
        select(InboundMessage)
        .where(
            InboundMessage.control_id == control_id,
            InboundMessage.sender == sender,
            InboundMessage.sha256 == sha256,
            InboundMessage.status.in_(("queued", "processing", "done")),
        )
        .order_by(InboundMessage.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def claim_next(session: Session, *, worker_id: str, stale_after: timedelta = timedelta(minutes=10)) -> InboundMessage | None:
    """Claim the oldest queued message (or one whose worker died) for this worker.

    PostgreSQL: FOR UPDATE SKIP LOCKED, so replicas never take the same row. SQLite has a
    single writer, and the conditional UPDATE below is the claim.
    """
    stale = utcnow() - stale_after
    claimable = (InboundMessage.status == "queued") | (
        (InboundMessage.status == "processing") & (InboundMessage.claimed_at < stale)
    )
    stmt = select(InboundMessage.id).where(claimable).order_by(InboundMessage.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    msg_id = session.scalar(stmt)
    if msg_id is None:
        return None
    result = session.execute(
        update(InboundMessage)
        .where(InboundMessage.id == msg_id, claimable)
        .values(status="processing", claimed_by=worker_id, claimed_at=utcnow(), attempts=InboundMessage.attempts + 1)
    )
    if result.rowcount != 1:  # another worker won the race
        return None
    return session.get(InboundMessage, msg_id)


def finish_inbound(
    session: Session, *, inbound_id: int, status: str, error: str | None = None, error_code: str | None = None,
    report_key: str | None = None,
) -> None:
    values: dict[str, object] = {"status": status, "error": error, "error_code": error_code}
    if report_key is not None:
        values["report_key"] = report_key
    session.execute(update(InboundMessage).where(InboundMessage.id == inbound_id).values(**values))


# ---- reports ------------------------------------------------------------------------------


def report_key(report: RadiologyReport) -> str:
    """Accession identifies an exam across versions and doors; else the source report id."""
    return report.accession or report.report_id


def store_report(session: Session, *, report: RadiologyReport, inbound_id: int | None) -> tuple[Report, bool]:
    """Store a report version; returns (row, is_new).

    The same content again is not a new version. A different content for the same key
    (a corrected or amended report) becomes the current version and supersedes the rest,
    which stay in the table. A draft (preliminary, partial, registered) that arrives after the
    signed report of its exam (a resend, or two feeds out of order) is kept, already superseded
    by that signed version: it never stands in for the report the radiologist signed.
    """
    key = report_key(report)
    current = session.scalars(
        select(Report).where(Report.report_key == key, Report.superseded_by.is_(None)).order_by(Report.id)
    ).all()
    for row in current:
        if row.content_hash == report.content_hash and row.status == report.status:
            return row, False
    signed = next((row for row in reversed(current) if row.status in _SIGNED), None)
    if signed is not None and report.status in _DRAFT:
        kept = session.scalars(select(Report).where(Report.report_key == key, Report.status == report.status,
                                                    Report.content_hash == report.content_hash)).first()
        if kept is not None:
            return kept, False  # that draft again
        late = _report_row(report, key, inbound_id)
        late.superseded_by = signed.id
        session.add(late)
        session.flush()
        return late, True
    new = _report_row(report, key, inbound_id)
    session.add(new)
    session.flush()
    for row in current:
        row.superseded_by = new.id
    return new, True


_SIGNED = frozenset({"final", "amended", "corrected", "appended"})
_DRAFT = frozenset({"preliminary", "partial", "registered"})
"""FHIR R4 diagnostic-report-status: versions a radiologist signed, and drafts that come before them."""


def _report_row(report: RadiologyReport, key: str, inbound_id: int | None) -> Report:
    return Report(
        report_key=key, report_id=report.report_id, patient_id=report.patient_id, accession=report.accession,
        modality=report.modality, status=report.status, content_hash=report.content_hash,
        effective=report.effective, report_json=report.model_dump(mode="json"), inbound_id=inbound_id,
    )


def current_reports_for_patient(session: Session, *, patient_id: str, limit: int = 50) -> list[Report]:
    stmt = (
        select(Report)
        .where(Report.patient_id == patient_id, Report.superseded_by.is_(None))
        .order_by(Report.effective.desc().nullslast(), Report.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


# ---- analyses -----------------------------------------------------------------------------


def get_or_create_analysis(session: Session, *, content_hash: str, manifest_version: str) -> AnalysisRow:
    stmt = select(AnalysisRow).where(
        AnalysisRow.content_hash == content_hash, AnalysisRow.manifest_version == manifest_version
    )
    row = session.scalars(stmt).first()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = AnalysisRow(content_hash=content_hash, manifest_version=manifest_version, plan_json=[], facts_json={})
            session.add(row)
    except IntegrityError:  # created concurrently by another worker or replica
        row = session.scalars(stmt).one()
    return row


def find_analysis(session: Session, *, content_hash: str, manifest_version: str) -> AnalysisRow | None:
    return session.scalars(
        select(AnalysisRow).where(AnalysisRow.content_hash == content_hash, AnalysisRow.manifest_version == manifest_version)
    ).first()


def load_results(session: Session, *, analysis_id: int) -> list[TaskResult]:
    rows = session.scalars(select(TaskResultRow).where(TaskResultRow.analysis_id == analysis_id).order_by(TaskResultRow.id))
    return [TaskResult.model_validate(r.result_json) for r in rows]


def save_result(session: Session, *, analysis_id: int, result: TaskResult) -> bool:
    """Store a task result once; False when it was already there (another worker stored it)."""
    try:
        with session.begin_nested():
            session.add(
                TaskResultRow(
                    analysis_id=analysis_id, task=result.task.value, input_hash=result.input_hash,
                    model_id=result.model.model_id, model_sha256=result.model.sha256,
                    result_json=result.model_dump(mode="json"),
                )
            )
        return True
    except IntegrityError:
        return False


def save_plan_and_facts(
    session: Session, *, analysis: AnalysisRow, plan: list[PlannedTask], facts: ReportFacts | None = None
) -> None:
    known = {p["task"] for p in analysis.plan_json}
    merged = list(analysis.plan_json) + [p.model_dump(mode="json") for p in plan if p.task.value not in known]
    analysis.plan_json = merged
    if facts is not None:
        analysis.facts_json = facts.model_dump(mode="json")
    analysis.updated_at = datetime.now(UTC)


def set_analysis_status(session: Session, *, analysis_id: int, status: str, errors: dict[str, str] | None = None) -> None:
    values: dict[str, object] = {"status": status, "updated_at": datetime.now(UTC)}
    if errors is not None:
        values["errors_json"] = errors
    session.execute(update(AnalysisRow).where(AnalysisRow.id == analysis_id).values(**values))
