"""HL7 v2 out: application ACKs owed after processing (enhanced mode, MSH-16) and results as
ORU^R01 for an engine that routes them onward, kept until delivered.

The outbox pattern: a message is written to `outbound_messages` in the same transaction
that records the outcome it reports, and a sender thread delivers it over MLLP: an
application ACK to the route configured for its sender (`RADLITE_HL7_ROUTES`), results to
`RADLITE_HL7_RESULTS_ROUTE`. An engine that is
down gets the message later (retries with doubling delays); one that refuses it, or a
sender with no route, leaves the row for review. Nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

import hl7.mllp
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from adapters import hl7 as hl7v2
from models.types import Analysis
from plugin import audit
from plugin.settings import Hl7Destination, Settings
from plugin.storage.db import session_scope
from plugin.storage.tables import OutboundMessage, utcnow

log = logging.getLogger("radlite.outbox")

MAX_RETRY_DELAY = timedelta(minutes=15)
STALE_SENDING = timedelta(minutes=5)


@dataclass(frozen=True)
class SendOutcome:
    """What one delivery attempt came to: delivered, or why not and whether to try again."""

    delivered: bool
    reply_code: str | None = None
    error: str | None = None
    retry: bool = True


def sender_of(header: hl7v2.MshHeader) -> str:
    """MSH-3^MSH-4 as sent: the key of routes and of duplicate detection."""
    return f"{header.sending_app}^{header.sending_facility}"


def enqueue_app_ack(
    session: Session, settings: Settings, *, header: hl7v2.MshHeader, inbound_id: int,
    error: hl7v2.Hl7Error | None = None,
) -> OutboundMessage | None:
    """Write the application ACK the message's MSH-16 asks for (None when it asks for none)."""
    if not header.wants_app_ack(error=error is not None):
        return None
    sender = sender_of(header)
    route = settings.route_for(sender)
    wait = route.wait_for_commit if route else True
    control_id = hl7v2.new_control_id()
    text = hl7v2.application_ack(header, control_id=control_id, error=error, accept_ack_type="AL" if wait else "NE")
    return _write(
        session, kind="app-ack", inbound_id=inbound_id, sender=sender, destination=route, control_id=control_id,
        code="AA" if error is None else error.ack_code, raw=text.encode(header.codec, errors="replace"),
        detail={"answers_control_id": header.control_id},
    )


def enqueue_results(
    session: Session, settings: Settings, *, analysis: Analysis, header: hl7v2.MshHeader, inbound_id: int,
) -> OutboundMessage | None:
    """Write the analysis as ORU^R01 for the results route (None when no route is set: sending is off)."""
    route = settings.hl7_results_route
    if route is None:
        return None
    control_id = hl7v2.new_control_id()
    text = hl7v2.analysis_to_oru(analysis, header=header, control_id=control_id)
    return _write(
        session, kind="oru", inbound_id=inbound_id, sender=sender_of(header), destination=route,
        control_id=control_id, code="", raw=text.encode("utf-8"),  # analysis_to_oru declares UNICODE UTF-8
        detail={"report_content_hash": analysis.report.content_hash, "results": len(analysis.results)},
    )


def _write(
    session: Session, *, kind: str, inbound_id: int, sender: str, destination: Hl7Destination | None,
    control_id: str, code: str, raw: bytes, detail: dict[str, object],
) -> OutboundMessage:
    """One outbox row and its audit event, in the caller's transaction."""
    row = OutboundMessage(
        kind=kind, inbound_id=inbound_id, sender=sender, destination=destination.address if destination else None,
        wait_for_commit=destination.wait_for_commit if destination else True, control_id=control_id, code=code,
        raw=raw, status="pending" if destination else "unroutable", attempts=0, next_attempt_at=utcnow(),
        last_error=None if destination else "no route in RADLITE_HL7_ROUTES for this sender",
    )
    session.add(row)
    session.flush()
    audit.record(session, audit.OutboundQueued(
        actor="radlite", actor_kind="system",
        detail={"outbound_id": row.id, "kind": kind, "inbound_id": inbound_id, "sender": sender, "code": code,
                "destination": row.destination, "status": row.status, "control_id": control_id, **detail},
    ))
    if destination is None:
        log.warning("outbound=%s (%s) for inbound=%s has no route; kept for review", row.id, kind, inbound_id)
    return row


# ---- delivery ------------------------------------------------------------------------------


async def _exchange(host: str, port: int, payload: bytes, *, wait: bool, timeout: float) -> bytes | None:
    # python-hl7's asyncio MLLP streams do the framing; its blocking MLLPClient reads a
    # single recv() with no timeout, which can cut a reply short or hang the sender.
    reader, writer = await asyncio.wait_for(hl7.mllp.open_hl7_connection(host, port), timeout)
    try:
        writer.writeblock(payload)
        await asyncio.wait_for(writer.drain(), timeout)
        if not wait:
            return None
        return await asyncio.wait_for(reader.readblock(), timeout)
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), timeout)
        except (OSError, TimeoutError):
            pass


def reply_code(reply: bytes) -> str | None:
    """MSA-1 of a commit ACK, or None when the bytes hold no MSA."""
    text = hl7v2.normalise(reply).decode("latin-1")  # MSA-1 is ASCII whatever MSH-18 says
    for segment in text.split("\r"):
        fields = segment.split(segment[3]) if segment.startswith("MSA") and len(segment) > 3 else []
        if len(fields) > 1:
            return fields[1].strip().upper()
    return None


def send_once(destination: str, payload: bytes, *, wait: bool, timeout: float) -> SendOutcome:
    """One MLLP delivery; CA/AA delivered, CR/AR try later, CE/AE refused for good (content)."""
    host, _, port = destination.rpartition(":")
    try:
        reply = asyncio.run(_exchange(host, int(port), payload, wait=wait, timeout=timeout))
    except (OSError, TimeoutError, asyncio.IncompleteReadError, hl7.mllp.InvalidBlockError) as exc:
        return SendOutcome(False, error=f"{type(exc).__name__}: {exc}"[:500])
    if not wait:
        return SendOutcome(True)
    code = reply_code(reply or b"")
    if code in ("CA", "AA"):
        return SendOutcome(True, reply_code=code)
    if code in ("CE", "AE"):
        return SendOutcome(False, reply_code=code, error=f"peer answered {code}", retry=False)
    return SendOutcome(False, reply_code=code, error=f"peer answered {code or 'no MSA'}")


def _claim_due(session: Session) -> OutboundMessage | None:
    now = utcnow()
    due = (OutboundMessage.status == "pending") & (OutboundMessage.next_attempt_at <= now)
    stale = (OutboundMessage.status == "sending") & (OutboundMessage.next_attempt_at <= now - STALE_SENDING)
    stmt = select(OutboundMessage.id).where(due | stale).order_by(OutboundMessage.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    row_id = session.scalar(stmt)
    if row_id is None:
        return None
    claimed = session.execute(
        update(OutboundMessage).where(OutboundMessage.id == row_id, due | stale)
        .values(status="sending", attempts=OutboundMessage.attempts + 1, next_attempt_at=now)
    )
    return session.get(OutboundMessage, row_id) if claimed.rowcount == 1 else None


def deliver_next(sessions: sessionmaker[Session], settings: Settings) -> bool:
    """Deliver the oldest due outbound message. False when nothing is due."""
    with session_scope(sessions) as s:
        row = _claim_due(s)
        if row is None:
            return False
        row_id, destination, payload, wait, attempts = row.id, row.destination, row.raw, row.wait_for_commit, row.attempts
    outcome = send_once(destination or "", payload, wait=wait, timeout=settings.outbox_timeout_seconds)
    with session_scope(sessions) as s:
        row = s.get(OutboundMessage, row_id)
        assert row is not None
        row.reply_code = outcome.reply_code
        row.last_error = outcome.error
        if outcome.delivered:
            row.status, row.sent_at = "sent", utcnow()
            event: audit.AuditRecord = audit.OutboundSent(
                actor=destination, actor_kind="mllp-out",
                detail={"outbound_id": row_id, "inbound_id": row.inbound_id, "reply": outcome.reply_code,
                        "attempts": attempts})
        elif outcome.retry and attempts < settings.outbox_max_attempts:
            delay = min(timedelta(seconds=settings.outbox_retry_seconds * 2 ** (attempts - 1)), MAX_RETRY_DELAY)
            row.status, row.next_attempt_at = "pending", utcnow() + delay
            event = audit.OutboundRetried(  # every attempt is part of the record, not only the last
                actor=destination, actor_kind="mllp-out",
                detail={"outbound_id": row_id, "inbound_id": row.inbound_id, "reply": outcome.reply_code,
                        "attempts": attempts, "retry_in_s": delay.total_seconds(), "error": outcome.error})
            log.info("outbound=%s attempt %s failed; retry in %ss", row_id, attempts, int(delay.total_seconds()))
        else:
            row.status = "failed"
            event = audit.OutboundFailed(
                actor=destination, actor_kind="mllp-out",
                detail={"outbound_id": row_id, "inbound_id": row.inbound_id, "reply": outcome.reply_code,
                        "attempts": attempts, "error": outcome.error})
            log.warning("outbound=%s parked as failed after %s attempts", row_id, attempts)
        audit.record(s, event)
    return True


def requeue(session: Session, outbound_id: int, settings: Settings) -> OutboundMessage:
    """Put a failed or unroutable message back in line (after a route was added, say)."""
    row = session.get(OutboundMessage, outbound_id)
    if row is None:
        raise LookupError(f"no outbound message {outbound_id}")
    if row.status not in ("failed", "unroutable"):
        raise ValueError(f"outbound message {outbound_id} is {row.status}, not failed or unroutable")
    route = settings.hl7_results_route if row.kind == "oru" else settings.route_for(row.sender)
    if route is None:
        raise ValueError(f"no route configured for outbound message {outbound_id} ({row.kind})")
    row.destination, row.status, row.attempts, row.next_attempt_at = route.address, "pending", 0, utcnow()
    return row


class OutboxSender:
    """A thread that delivers due outbound messages; a send never holds up analysis."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, poll_seconds: float = 1.0) -> None:
        self.sessions = sessions
        self.settings = settings
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="radlite-outbox", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = deliver_next(self.sessions, self.settings)
            except Exception as exc:  # the database is down, say; keep going
                log.error("outbox loop error: %s", audit.failure_text(exc))
                busy = False
            if not busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
