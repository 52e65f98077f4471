"""The way a report travels: receive, store, ACK, plan, run, check, store, audit.

HL7 input is stored durably and only then acknowledged; the models run later, in the
worker, so an ACK never waits on a model. Hooks ask `analyse()`, which answers from the
stored analysis of the same report content and model manifest when there is one, and
otherwise runs what is missing within a time budget, leaving the rest running.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adapters import hl7 as hl7v2
from models.ensemble import Ensemble
from models.types import Analysis, PlannedTask, RadiologyReport, ReportFacts, TaskName, TaskRequest, TaskResult
from plugin import audit, outbox
from plugin.planner import plan_report
from plugin.settings import Settings
from plugin.storage import queries
from plugin.storage.db import session_scope
from plugin.storage.tables import InboundMessage

log = logging.getLogger("radlite.pipeline")

HOOK_PRIORITY = 0
INGEST_PRIORITY = 10


@dataclass(frozen=True)
class Receipt:
    """What the sender is told: the ACK text, its MSA-1 code and the ERR-3 code if any."""

    ack: str
    code: str
    err_code: str | None = None
    inbound_id: int | None = None
    wanted: bool = True
    """False when the sender's MSH-15 (enhanced mode: NE, or ER/SU not matching) asks for no accept ACK."""
    encoding: str = "utf-8"
    """Python codec of the message's MSH-18, which the ACK echoes: its bytes are written in it."""

    def ack_bytes(self) -> bytes:
        return self.ack.encode(self.encoding, errors="replace")


@dataclass(frozen=True)
class BatchReceipt:
    """What a batch's sender is told: the ACK batch, and each message's receipt behind it."""

    ack: str
    receipts: list[Receipt]
    batch_errors: list[hl7v2.Hl7Error]
    encoding: str = "utf-8"
    wanted: bool = True  # a batch is always answered; an empty ACK batch means all accepted
    inbound_id: int | None = None
    """The row keeping the whole batch file as it came (None if it could not be stored)."""

    def ack_bytes(self) -> bytes:
        return self.ack.encode(self.encoding, errors="replace")

    @property
    def ok(self) -> bool:
        """Every message accepted (AA/CA) and nothing wrong with the envelope."""
        return not self.batch_errors and all(r.code in ("AA", "CA") for r in self.receipts)

    @property
    def storage_failed(self) -> bool:
        """A message could not be stored (ERR 207): the sender should resend the batch."""
        return any(r.err_code == "207" for r in self.receipts)


@dataclass(frozen=True)
class Actor:
    """Who set an action off: a JWT issuer/subject, an MLLP peer, a CLI user, the worker."""

    id: str | None
    kind: str  # jwt | mllp | http | cli | worker | system
    facility: str | None = None


class ModelQueue:
    """One thread that runs model work in priority order (hooks before ingest backlog).

    A plain ThreadPoolExecutor has no priorities, and the models are CPU-bound: running
    two tasks at once on these cores only splits memory bandwidth. Identical work that is
    already queued or running is shared rather than repeated.
    """

    def __init__(self) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Future[Any], Callable[[], Any]]] = queue.PriorityQueue()
        self._counter = itertools.count()
        self._inflight: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="radlite-models", daemon=True)
        self._stopping = False
        self._thread.start()

    def submit(self, key: str, priority: int, fn: Callable[[], Any]) -> Future[Any]:
        with self._lock:
            existing = self._inflight.get(key)
            if existing is not None and not existing.done():
                return existing
            fut: Future[Any] = Future()
            self._inflight[key] = fut
        fut.add_done_callback(lambda _f, k=key: self._forget(k, _f))
        self._queue.put((priority, next(self._counter), fut, fn))
        return fut

    def _forget(self, key: str, fut: Future[Any]) -> None:
        with self._lock:
            if self._inflight.get(key) is fut:
                del self._inflight[key]

    def _loop(self) -> None:
        while True:
            _prio, _n, fut, fn = self._queue.get()
            if self._stopping:
                # cancel() alone does not wake concurrent.futures.wait(); this does (and returns False).
                fut.cancel()
                fut.set_running_or_notify_cancel()
                continue
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # handed to whoever waits on the future
                fut.set_exception(exc)

    def stop(self) -> None:
        self._stopping = True


@dataclass
class _Started:
    analysis_id: int
    plan: list[PlannedTask]
    results: dict[TaskName, TaskResult]
    futures: dict[TaskName, Future[TaskResult]]
    facts: ReportFacts
    errors: dict[str, str]
    actor: Actor | None = None


class Pipeline:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], ensemble: Ensemble) -> None:
        self.settings = settings
        self.sessions = sessions
        self.ensemble = ensemble
        self.models = ModelQueue()
        self.on_outbound: Callable[[], None] | None = None
        """Called after an application ACK was written to the outbox (wakes the sender thread)."""

    @property
    def manifest_version(self) -> str:
        return self.ensemble.manifest_version

    # ---- analysis ---------------------------------------------------------------------------

    def requests_for(self, report: RadiologyReport, plan: list[PlannedTask], question: str | None = None) -> list[TaskRequest]:
        out = []
        for p in plan:
            if p.task == TaskName.radiology_nli:
                out.append(TaskRequest(task=p.task, report=report, premise=report.body(), hypothesis=report.impression))
            else:
                out.append(TaskRequest(task=p.task, report=report, question=question))
        return out

    def _start(
        self, report: RadiologyReport, *, tasks: list[TaskName] | None, actor: Actor, priority: int,
        question: str | None = None,
    ) -> _Started:
        plan = plan_report(report, tasks).tasks
        with session_scope(self.sessions) as s:
            row = queries.get_or_create_analysis(s, content_hash=report.content_hash, manifest_version=self.manifest_version)
            stored = {r.task: r for r in queries.load_results(s, analysis_id=row.id)}
            facts = ReportFacts.model_validate(row.facts_json) if row.facts_json else None
            if facts is None:
                facts = self.ensemble.facts(report)
            queries.save_plan_and_facts(s, analysis=row, plan=plan, facts=facts)
            analysis_id = row.id
            errors = dict(row.errors_json or {})
        futures: dict[TaskName, Future[TaskResult]] = {}
        for request in self.requests_for(report, plan, question):
            if request.task in stored and request.task != TaskName.radiology_qa:
                continue
            key = f"{analysis_id}:{request.task.value}:{request.question or ''}"
            futures[request.task] = self.models.submit(
                key, priority, lambda req=request: self._run_task(analysis_id, req, actor)
            )
        # Every stored result goes back with the answer (_finish), the planned ones and any an earlier request added.
        reused = [t.value for t in stored if t not in futures]
        if reused:
            self._record_reused(report, analysis_id, reused, actor)
        return _Started(analysis_id, plan, stored, futures, facts, errors, actor)

    def _record_reused(self, report: RadiologyReport, analysis_id: int, tasks: list[str], actor: Actor) -> None:
        """What this request was given from storage: the trail names it as it names a fresh task.run."""
        with session_scope(self.sessions) as s:
            audit.record(s, audit.TaskReused(
                actor=actor.id, actor_kind=actor.kind, patient_id=report.patient_id,
                report_key=queries.report_key(report), accession=report.accession, input_hash=report.content_hash,
                detail={"analysis_id": analysis_id, "tasks": tasks, "manifest_version": self.manifest_version},
            ))

    def _run_task(self, analysis_id: int, request: TaskRequest, actor: Actor) -> TaskResult:
        result = self.ensemble.run(request)
        report = request.report
        with session_scope(self.sessions) as s:
            if request.task != TaskName.radiology_qa:  # answers to free questions are not cached
                queries.save_result(s, analysis_id=analysis_id, result=result)
            audit.record(
                s,
                audit.TaskRun(
                    actor=actor.id, actor_kind=actor.kind, patient_id=report.patient_id,
                    report_key=queries.report_key(report), accession=report.accession, input_hash=result.input_hash,
                    detail={
                        "task": result.task.value, "model_id": result.model.model_id, "model_sha256": result.model.sha256,
                        "model_version": result.model.version,  # the rules engine has no file: its version
                        "backend": result.model.backend, "demo": result.model.demo, "prompt_hash": result.prompt_hash,
                        "value": result.value.model_dump(mode="json"), "decided_by": result.decided_by,
                        "confidence": result.confidence, "latency_ms": result.latency_ms,
                        "tokens_prompt": result.tokens_prompt, "tokens_generated": result.tokens_generated,
                        "evidence": audit.evidence_detail(result.evidence),
                        "disagreement": result.disagreement.model_dump(mode="json") if result.disagreement else None,
                        "note": result.note,
                        "analysis_id": analysis_id,
                    },
                ),
            )
        log.info("task %s done analysis=%s model=%s", request.task.value, analysis_id, result.model.model_id)
        return result

    def _finish(self, started: _Started, report: RadiologyReport) -> Analysis:
        results = dict(started.results)
        errors = dict(started.errors)
        pending: list[TaskName] = []
        failed: dict[str, str] = {}  # task -> exception type (or "cancelled"), for the audit trail
        for task, fut in started.futures.items():
            if not fut.done():
                pending.append(task)
            elif fut.cancelled():
                errors[task.value] = failed[task.value] = "cancelled"
            elif fut.exception() is not None:
                exc = fut.exception()
                errors[task.value] = f"{type(exc).__name__}: {exc}"
                failed[task.value] = type(exc).__name__
                log.warning("task %s failed analysis=%s: %s", task.value, started.analysis_id, type(exc).__name__)
            else:
                results[task] = fut.result()
        planned = [p.task for p in started.plan]
        status = "partial" if pending else ("error" if errors and not results else "done")
        with session_scope(self.sessions) as s:
            queries.set_analysis_status(s, analysis_id=started.analysis_id, status=status, errors=errors)
            if failed:  # a task without a result is as much a part of the record as one with
                actor = started.actor
                audit.record(s, audit.AnalysisFailed(
                    actor=actor.id if actor else None, actor_kind=actor.kind if actor else None,
                    patient_id=report.patient_id, report_key=queries.report_key(report),
                    accession=report.accession, input_hash=report.content_hash,
                    detail={"analysis_id": started.analysis_id, "tasks": failed, "status": status},
                ))
        ordered = [results[t] for t in planned if t in results] + [r for t, r in results.items() if t not in planned]
        return Analysis(
            report=report, manifest_version=self.manifest_version, plan=started.plan, results=ordered,
            facts=started.facts, pending=pending, errors=errors,
            demo_models=any(m.demo for m in self.ensemble.manifest.models),
        )

    def analyse_sync(
        self, report: RadiologyReport, *, actor: Actor, tasks: list[TaskName] | None = None,
        question: str | None = None, priority: int = INGEST_PRIORITY,
    ) -> Analysis:
        """Analyse and wait for every planned task (worker and CLI)."""
        started = self._start(report, tasks=tasks, actor=actor, priority=priority, question=question)
        wait_futures(list(started.futures.values()))
        return self._finish(started, report)

    async def analyse(
        self, report: RadiologyReport, *, actor: Actor, budget_s: float | None = None,
        tasks: list[TaskName] | None = None, question: str | None = None,
    ) -> Analysis:
        """Analyse for an interactive caller: wait at most `budget_s`, the rest keeps running."""
        started = await asyncio.to_thread(
            self._start, report, tasks=tasks, actor=actor, priority=HOOK_PRIORITY, question=question
        )
        if started.futures:
            waiting = [asyncio.wrap_future(f) for f in started.futures.values()]
            await asyncio.wait(waiting, timeout=budget_s)
        return await asyncio.to_thread(self._finish, started, report)

    def analysis_id(self, content_hash: str) -> int | None:
        with session_scope(self.sessions) as s:
            row = queries.find_analysis(s, content_hash=content_hash, manifest_version=self.manifest_version)
            return row.id if row else None

    # ---- HL7 v2 in ----------------------------------------------------------------------------

    def receive_hl7(self, raw: bytes, *, channel: str, peer: str | None, content_type: str | None = None) -> Receipt:
        """Store the message, then answer the ACK. Runs no model.

        The raw bytes are committed before anything else is tried, so a message that
        cannot be parsed, or a crash after this point, loses nothing.
        """
        header = hl7v2.peek_header(raw)
        sender = outbox.sender_of(header) if header else None
        try:
            with session_scope(self.sessions) as s:
                row = queries.store_inbound(
                    s, channel=channel, raw=raw, status="received", peer=peer, sender=sender,
                    control_id=header.control_id if header else None, content_type=content_type,
                )
                inbound_id, sha = row.id, row.sha256
        except Exception as exc:
            log.error("could not store inbound message from %s: %s", channel, audit.failure_text(exc))
            return _receipt(hl7v2.ack_for_storage_failure(header), "207", header=header)

        try:
            parsed = hl7v2.parse_oru(raw)
        except hl7v2.Hl7Error as err:
            answered = err.header or header
            queued = None
            with session_scope(self.sessions) as s:
                queries.finish_inbound(s, inbound_id=inbound_id, status="rejected", error=err.text, error_code=err.err_code)
                audit.record(s, audit.MessageRejected(
                    actor=peer, actor_kind=channel, input_hash=sha,
                    detail={"inbound_id": inbound_id, "channel": channel, "sender": sender,
                            **audit.hl7_error_detail(err.ack_code, err.err_code, err.location)},
                ))
                if answered is not None and not answered.wants_accept_ack(error=True):
                    # No commit ACK goes back (MSH-15 NE/SU), so the error reaches the sender as the
                    # application ACK its MSH-16 asks for, or not at all.
                    queued = outbox.enqueue_app_ack(s, self.settings, header=answered, inbound_id=inbound_id, error=err)
            self._wake_outbox(queued is not None)
            log.info("rejected inbound=%s code=%s location=%s", inbound_id, err.err_code, err.location)
            return _receipt(hl7v2.build_ack(answered, error=err), err.err_code, inbound_id, header=answered)

        with session_scope(self.sessions) as s:
            dup = (queries.find_duplicate(s, sender=sender, control_id=parsed.header.control_id, sha256=sha)
                   or _same_content_copy(s, sender=sender, control_id=parsed.header.control_id, raw=raw,
                                         inbound_id=inbound_id))
            first = parsed.reports[0] if parsed.reports else None
            status = "duplicate" if dup is not None and dup.id != inbound_id else "queued"
            queries.finish_inbound(s, inbound_id=inbound_id, status=status,
                                   report_key=queries.report_key(first) if first else None)
            audit.record(s, audit.MessageReceived(
                actor=peer, actor_kind=channel, patient_id=first.patient_id if first else None,
                report_key=queries.report_key(first) if first else None, accession=first.accession if first else None,
                input_hash=sha,
                detail={"inbound_id": inbound_id, "channel": channel, "sender": sender, "status": status,
                        "control_id": parsed.header.control_id, "reports": len(parsed.reports),
                        "charset": parsed.charset_used, "warnings": len(parsed.warnings),
                        "duplicate_of": dup.id if dup and status == "duplicate" else None},
            ))
        return _receipt(hl7v2.build_ack(parsed.header), None, inbound_id, header=parsed.header)

    def receive_oversized_hl7(self, head: bytes, *, size: int, sha256: str, complete: bool, limit: int,
                              channel: str, peer: str | None) -> Receipt:
        """A message over the size limit: its head, size and sha256 kept as rejected, AR 207 answered.

        Nothing is lost and memory stays bounded: the reviewer sees who sent what (the MSH and the
        first lines are in the head) and the sender gets an ACK it can act on instead of a closed
        connection it would retry forever. As for oversized HTTP bodies (plugin/security.py).
        """
        header = hl7v2.peek_header(head)
        sender = outbox.sender_of(header) if header else None
        size_text = f"{size}" if complete else f"more than {size}"
        error = (f"message of {size_text} bytes is over the {limit}-byte limit; raw holds its first {len(head)} bytes, "
                 f"sha256 is of the {'whole message' if complete else f'first {size} bytes'}")
        err = hl7v2.Hl7Error("AR", "207", "", f"message over the {limit}-byte size limit; not read (do not resend "
                             "unchanged: split the report or send its text without embedded documents)", header)
        try:
            with session_scope(self.sessions) as s:
                row = queries.store_inbound(s, channel=channel, raw=head, status="rejected", peer=peer, sender=sender,
                                            control_id=header.control_id if header else None, error_code="207",
                                            error=error)
                row.sha256 = sha256
                inbound_id = row.id
                audit.record(s, audit.MessageRejected(
                    actor=peer, actor_kind=channel, input_hash=sha256,
                    detail={"inbound_id": inbound_id, "channel": channel, "sender": sender, "size": size,
                            "size_complete": complete, "kept_bytes": len(head), "limit": limit,
                            **audit.hl7_error_detail("AR", "207", "")},
                ))
        except Exception as exc:
            log.error("could not store an oversized message from %s: %s", channel, audit.failure_text(exc))
            return _receipt(hl7v2.ack_for_storage_failure(header), "207", header=header)
        log.info("rejected oversized inbound=%s size=%s sha256=%s", inbound_id, size_text, sha256[:12])
        return _receipt(hl7v2.build_ack(header, error=err), "207", inbound_id, header=header)

    def receive_hl7_batch(
        self, raw: bytes, batch: hl7v2.Hl7Batch, *, channel: str, peer: str | None, content_type: str | None = None
    ) -> BatchReceipt:
        """Each message of a batch through `receive_hl7` (stored, judged, ACKed on its own), then
        one ACK batch for the lot.

        The whole file is kept first, as it came, in a row of status "batch" (the worker never
        takes it): the envelope (FHS/BHS/BTS/FTS, the sender's counts) is what a reviewer needs
        to see when a count did not match, and only this copy holds it.
        """
        envelope_id = self._keep_batch(raw, channel=channel, peer=peer, content_type=content_type)
        receipts = [self.receive_hl7(m, channel=channel, peer=peer, content_type=content_type) for m in batch.messages]
        errors = batch.all_errors
        if envelope_id is not None:
            self._close_batch(envelope_id, receipts, errors, channel=channel, peer=peer)
        acks = [r.ack if r.wanted else None for r in receipts]
        return BatchReceipt(ack=hl7v2.build_batch_ack(batch, acks), receipts=receipts, batch_errors=errors,
                            encoding=batch.codec, inbound_id=envelope_id)

    def _keep_batch(self, raw: bytes, *, channel: str, peer: str | None, content_type: str | None) -> int | None:
        try:
            with session_scope(self.sessions) as s:
                return queries.store_inbound(s, channel=channel, raw=raw, status="batch", peer=peer,
                                             content_type=content_type).id
        except Exception as exc:
            # Each message is still stored on its own (and answered 207 if that fails too).
            log.error("could not store inbound batch from %s: %s", channel, audit.failure_text(exc))
            return None

    def _close_batch(
        self, envelope_id: int, receipts: list[Receipt], errors: list[hl7v2.Hl7Error], *, channel: str,
        peer: str | None,
    ) -> None:
        """Record what the batch held and what was wrong with its envelope (codes and locations only)."""
        faults = [audit.hl7_error_detail(e.ack_code, e.err_code, e.location) for e in errors]
        with session_scope(self.sessions) as s:
            row = s.get(InboundMessage, envelope_id)
            if errors:
                queries.finish_inbound(s, inbound_id=envelope_id, status="batch", error_code=errors[0].err_code,
                                       error="; ".join(e.text for e in errors)[:2000])
            event = audit.MessageRejected if errors else audit.MessageReceived
            audit.record(s, event(
                actor=peer, actor_kind=channel, input_hash=row.sha256 if row else None,
                detail={"inbound_id": envelope_id, "channel": channel, "batch": True,
                        "messages": [r.inbound_id for r in receipts], "acks": [r.code for r in receipts],
                        "errors": faults},
            ))
        for fault in faults:
            log.info("batch inbound=%s from %s: %s %s at %s", envelope_id, channel, fault["ack"], fault["err_code"],
                     fault["location"])

    # ---- worker -------------------------------------------------------------------------------

    def process_next(self, worker_id: str) -> bool:
        """Take one queued inbound message, store its reports and analyse them. False when idle."""
        with session_scope(self.sessions) as s:
            msg = queries.claim_next(s, worker_id=worker_id)
            if msg is None:
                return False
            inbound_id, raw, peer, attempts = msg.id, msg.raw, msg.peer, msg.attempts
            raw_sha256, report_key = msg.sha256, msg.report_key
        try:
            parsed = hl7v2.parse_oru(raw)
            actor = Actor(id=peer, kind="worker")
            analyses: list[Analysis] = []
            for report in parsed.reports:
                with session_scope(self.sessions) as s:
                    row, is_new = queries.store_report(s, report=report, inbound_id=inbound_id)
                    if is_new:
                        audit.record(s, audit.ReportStored(
                            actor=worker_id, actor_kind="worker", patient_id=report.patient_id,
                            report_key=row.report_key, accession=report.accession, input_hash=report.content_hash,
                            detail={"inbound_id": inbound_id, "report_row": row.id, "status": report.status,
                                    "source_hash": report.source_hash},
                        ))
                if report.status in ("registered", "cancelled", "entered-in-error"):
                    # Kept and audited above; nothing to analyse or show. "registered" (OBR-25 O/I/S: no
                    # results yet) is skipped as the CDS hook skips it and $analyze refuses it (422).
                    continue
                analyses.append(self.analyse_sync(report, actor=actor))
        except Exception as exc:
            final = attempts >= self.settings.worker_max_attempts
            log.warning("inbound=%s attempt %s failed: %s", inbound_id, attempts, type(exc).__name__)
            queued = None
            with session_scope(self.sessions) as s:
                queries.finish_inbound(s, inbound_id=inbound_id, status="error" if final else "queued",
                                       error=f"{type(exc).__name__}: {exc}"[:2000])
                audit.record(s, audit.AnalysisFailed(
                    actor=worker_id, actor_kind="worker", input_hash=raw_sha256, report_key=report_key,
                    detail={"inbound_id": inbound_id, "attempt": attempts, "final": final,
                            "error": type(exc).__name__},
                ))
                header = hl7v2.peek_header(raw)
                if final and header is not None:
                    # AR, not AE: the content was accepted; we failed it (ERR 207), a resend may succeed.
                    failure = hl7v2.Hl7Error("AR", "207", "", "application internal error: the analysis failed", header)
                    queued = outbox.enqueue_app_ack(s, self.settings, header=header, inbound_id=inbound_id, error=failure)
            self._wake_outbox(queued is not None)
            return True
        with session_scope(self.sessions) as s:
            queries.finish_inbound(s, inbound_id=inbound_id, status="done")
            queued = [outbox.enqueue_results(s, self.settings, analysis=a, header=parsed.header, inbound_id=inbound_id)
                      for a in analyses]
            queued.append(outbox.enqueue_app_ack(s, self.settings, header=parsed.header, inbound_id=inbound_id))
        self._wake_outbox(any(q is not None for q in queued))
        return True

    def _wake_outbox(self, written: bool) -> None:
        """After the transaction that wrote outbound messages committed: deliver them now."""
        if written and self.on_outbound is not None:
            self.on_outbound()

    def close(self) -> None:
        self.models.stop()


def _same_content_copy(s: Session, *, sender: str | None, control_id: str, raw: bytes,
                       inbound_id: int) -> InboundMessage | None:
    """An earlier accepted copy of this message that differs only in transport (framing, line ends,
    trailing delimiters) or MSH-7: a resend, not a new message. A different content under a reused
    MSH-10 (a corrected report from a sender that recycles ids) is not one, and is processed."""
    if not control_id:
        return None
    rows = s.scalars(
        select(InboundMessage).where(
            InboundMessage.control_id == control_id, InboundMessage.sender == sender,
            InboundMessage.status.in_(("queued", "processing", "done")), InboundMessage.id != inbound_id,
        ).order_by(InboundMessage.id)
    ).all()
    if not rows:
        return None
    key = hl7v2.content_key(raw)
    return next((row for row in rows if hl7v2.content_key(row.raw) == key), None)


def _receipt(ack: str, err_code: str | None, inbound_id: int | None = None,
             header: hl7v2.MshHeader | None = None) -> Receipt:
    msa = next((seg for seg in ack.split("\r") if seg.startswith("MSA")), "MSA|")
    fields = msa.split(msa[3] if len(msa) > 3 else "|")
    code = fields[1] if len(fields) > 1 else ""
    wanted = header.wants_accept_ack(error=code not in ("AA", "CA")) if header is not None else True
    return Receipt(ack=ack, code=code, err_code=err_code, inbound_id=inbound_id, wanted=wanted,
                   encoding=header.codec if header is not None else "utf-8")
