"""The audit review page for compliance staff: `/audit`, read-only, behind its own credential.

Closed unless RADLITE_AUDIT_USER and RADLITE_AUDIT_PASSWORD are set (404 then, so the page
is never open by default); HTTP Basic otherwise, compared in constant time. Every view and
export is itself an `audit.read` event. Server-rendered Jinja2 with autoescape, no JavaScript:
the filter is a GET form, so every view is a URL that can be bookmarked and exported.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session, sessionmaker

from plugin import audit
from plugin.settings import Settings

log = logging.getLogger("radlite.audit.page")

PLUGIN_DIR = Path(__file__).resolve().parent.parent
CSS = PLUGIN_DIR / "static" / "audit.css"
PAGE_SIZE = 50
VERIFY_TTL = timedelta(seconds=30)  # a full walk of a long chain is not repeated on every click

# autoescape on for everything: report ids, actors and detail JSON come from outside.
_templates = Environment(
    loader=FileSystemLoader(PLUGIN_DIR / "templates"), autoescape=True, undefined=StrictUndefined,
    trim_blocks=True, lstrip_blocks=True,
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

def redact_access_record(record: logging.LogRecord) -> bool:
    """Drop the query string of `/audit` URLs from the server's access log line.

    The page is a GET form: its URLs carry patient ids (MRNs) and accessions, which the access log
    (uvicorn: client, method, path with query, version, status) would otherwise write on every view.
    The query is replaced by a prefix of its sha256, so repeated views can still be matched up.
    """
    args = record.args
    if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
        path, _, query = args[2].partition("?")
        if query and path.rstrip("/").startswith("/audit"):
            query_digest = hashlib.sha256(query.encode("utf-8")).hexdigest()[:12]
            record.args = (*args[:2], f"{path}?query-sha256={query_digest}", *args[3:])
    return True


class _AccessLogRedaction(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return redact_access_record(record)


def _install_access_log_redaction() -> None:
    """Once per process; logging.config (as uvicorn runs it) keeps filters already on a logger."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _AccessLogRedaction) for f in access.filters):
        access.addFilter(_AccessLogRedaction())


_install_access_log_redaction()

router = APIRouter(prefix="/audit", tags=["audit"], include_in_schema=False)
_basic = HTTPBasic(auto_error=False, realm="RadLite audit")


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def _refused_actor(typed: str, user_ok: bool) -> str:
    """Who a refused sign-in names: the configured user when that is what was typed, else only a digest of
    what was typed. People type their password into the user field; the trail must not keep it, yet repeated
    attempts with one wrong name still show as one actor."""
    return typed if user_ok else f"unknown-user:{audit.text_digest(typed)[:16]}"


def audit_user(
    request: Request, credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)]
) -> str:
    """The signed-in compliance user. 404 when no credential is configured, 401 on a wrong one."""
    settings = _settings(request)
    password = settings.audit_password.get_secret_value() if settings.audit_password else ""
    if not settings.audit_user or not password:
        raise HTTPException(status_code=404)
    challenge = {"WWW-Authenticate": 'Basic realm="RadLite audit", charset="UTF-8"'}
    if credentials is None:
        raise HTTPException(status_code=401, detail="Sign in to the audit page.", headers=challenge)
    # Both comparisons always run, in constant time, so timing tells nothing about which part was wrong.
    user_ok = secrets.compare_digest(credentials.username.encode("utf-8"), settings.audit_user.encode("utf-8"))
    password_ok = secrets.compare_digest(credentials.password.encode("utf-8"), password.encode("utf-8"))
    if not (user_ok and password_ok):
        with _sessions(request)() as s:
            audit.record(s, audit.AuditRead(
                actor=_refused_actor(credentials.username, user_ok), actor_kind="audit-user",
                detail={"path": request.url.path, "audit_outcome": "8", "refused": "wrong user name or password",
                        "peer": request.client.host if request.client else None},
            ))
            s.commit()
        log.warning("audit page: sign-in refused")
        raise HTTPException(status_code=401, detail="Wrong user name or password.", headers=challenge)
    return credentials.username


UserDep = Annotated[str, Depends(audit_user)]


# ---- page contexts: one typed dataclass per page ------------------------------------------------


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    archives: int
    broken_seq: int | None
    reason: str | None
    checked_at: str
    verify_url: str


@dataclass(frozen=True)
class EventView:
    seq: int
    occurred_at: str
    event_type: str
    stage: str
    actor: str | None
    actor_kind: str | None
    patient_id: str | None
    accession: str | None
    report_key: str | None
    input_hash: str | None
    prev_hash: str
    hash: str
    summary: str
    detail_json: str
    timeline_url: str | None


@dataclass(frozen=True)
class SearchPage:
    user: str
    css_url: str
    search_url: str
    chain: ChainStatus
    patient: str
    accession: str
    report: str
    actor: str
    since: str
    until: str
    event_types: list[str]
    selected_types: list[str]
    events: list[EventView]
    total: int
    page: int
    pages: int
    prev_url: str | None
    next_url: str | None
    export_ndjson_url: str
    export_fhir_url: str
    error: str | None = None


@dataclass(frozen=True)
class TimelinePage:
    user: str
    css_url: str
    chain: ChainStatus
    report: str
    patients: list[str]
    events: list[EventView]
    stages: list[str]
    search_url: str
    export_ndjson_url: str
    export_fhir_url: str
    feedback_count: int = 0
    notes: list[str] = field(default_factory=list)


# ---- helpers ------------------------------------------------------------------------------------

_STAGES = {
    "message.received": "Arrived", "message.rejected": "Rejected", "hook.request": "Hook request",
    "report.stored": "Stored", "task.run": "Model task", "task.reused": "Stored result given",
    "analysis.failed": "Analysis failed",
    "card.served": "Card shown",
    "feedback.received": "Clinician feedback", "safety.anomaly": "Safety check", "config.loaded": "Configuration",
    "config.changed": "Configuration", "model.changed": "Model change", "audit.read": "Audit read",
    "audit.archived": "Archived", "outbound.queued": "ACK owed", "outbound.sent": "ACK delivered",
    "outbound.retried": "ACK retried", "outbound.failed": "ACK not delivered",
}


def _summary(event_type: str, d: dict[str, Any]) -> str:
    """One line a reviewer can scan; the full detail stays one click away."""
    if event_type == "task.run":
        value = d.get("value")
        parts = [f"{d.get('task', '?')} by {d.get('model_id', '?')}"]
        if d.get("model_sha256"):
            parts.append(f"file {str(d['model_sha256'])[:12]}")
        if value is not None:
            parts.append("result " + (json.dumps(value, ensure_ascii=False)[:120]))
        if d.get("confidence") is not None:
            parts.append(f"confidence {d['confidence']}")
        if d.get("latency_ms") is not None:
            parts.append(f"{d['latency_ms']} ms")
        if d.get("evidence"):
            parts.append(f"{len(d['evidence'])} evidence span(s)")
        return "; ".join(parts)
    keys = ("status", "channel", "sender", "hook", "service_id", "indicator", "summary", "outcome", "card_uuid",
            "task", "tasks", "error", "attempt", "final", "page", "format", "refused", "results", "file",
            "event_count")
    shown = [f"{k}={d[k]}" for k in keys if d.get(k) not in (None, "", [])]
    return "; ".join(str(s) for s in shown)[:300]


def _event_view(row: Any, request: Request) -> EventView:
    detail = row.detail or {}
    key = row.report_key or row.accession
    return EventView(
        seq=row.seq,
        occurred_at=audit.row_payload(row)["occurred_at"].replace("+00:00", "Z"),
        event_type=row.event_type,
        stage=_STAGES.get(row.event_type, row.event_type),
        actor=row.actor,
        actor_kind=row.actor_kind,
        patient_id=row.patient_id,
        accession=row.accession,
        report_key=row.report_key,
        input_hash=row.input_hash,
        prev_hash=row.prev_hash,
        hash=row.hash,
        summary=_summary(row.event_type, detail),
        detail_json=json.dumps(detail, indent=2, ensure_ascii=False, sort_keys=True),
        timeline_url=f"{request.url_for('audit_timeline')}?{urlencode({'report': key})}" if key else None,
    )


def _chain_status(request: Request, session: Session, *, fresh: bool) -> ChainStatus:
    """The chain's state, re-checked at most every VERIFY_TTL (or now when asked).

    The head of the last good check is kept in the process as an anchor outside the database, so
    rows cut off the end after it (which the hash chain alone cannot see) are reported as such.
    """
    state = request.app.state
    cache: tuple[datetime, audit.VerifyResult] | None = getattr(state, "audit_verify_cache", None)
    now = datetime.now(UTC)
    if fresh or cache is None or now - cache[0] > VERIFY_TTL:
        witness: tuple[int, str] | None = getattr(state, "audit_verified_head", None)
        result = audit.verify(session, anchor=witness)
        if result.ok and result.head_seq > 0:
            state.audit_verified_head = (result.head_seq, result.head_hash)
        cache = (now, result)
        state.audit_verify_cache = cache
    v = cache[1]
    kept = [(k, val) for k, val in request.query_params.multi_items() if k != "verify"]
    return ChainStatus(
        ok=v.ok, checked=v.checked, head_seq=v.head_seq, head_hash=v.head_hash, archives=v.archives,
        broken_seq=v.broken_seq, reason=v.reason, checked_at=v.checked_at.isoformat(timespec="seconds"),
        verify_url=f"{request.url.path}?{urlencode([*kept, ('verify', '1')])}",
    )


def _render(template: str, page: Any) -> HTMLResponse:
    return HTMLResponse(_templates.get_template(template).render(page=page), headers=_HEADERS)


@dataclass(frozen=True)
class FilterForm:
    """The filter fields exactly as typed, shared by the search page and its export links."""

    patient: str
    accession: str
    report: str
    actor: str
    types: list[str]
    since: str
    until: str

    def params(self) -> list[tuple[str, str]]:
        items = [("patient", self.patient), ("accession", self.accession), ("report", self.report),
                 ("user", self.actor), ("since", self.since), ("until", self.until)]
        return [(k, v) for k, v in items if v] + [("type", t) for t in self.types if t]

    def build(self) -> audit.AuditFilter:
        try:
            return audit.AuditFilter(
                patient_id=self.patient, accession=self.accession, report_key=self.report, actor=self.actor,
                event_types=[t for t in self.types if t], since=audit.parse_when(self.since),
                until=audit.parse_when(self.until, end_of_day=True),
            )
        except ValueError as exc:
            raise ValueError(f"Dates must be YYYY-MM-DD or an ISO date-time ({exc.__class__.__name__}).") from exc


Text = Annotated[str, Query(max_length=255)]


def filter_form(
    patient: Text = "", accession: Text = "", report: Text = "", user: Text = "",
    types: Annotated[list[str], Query(alias="type")] = [],  # noqa: B006 - FastAPI copies defaults per request
    since: Text = "", until: Text = "",
) -> FilterForm:
    return FilterForm(patient, accession, report, user, list(types), since, until)


FilterDep = Annotated[FilterForm, Depends(filter_form)]


def _record_read(session: Session, user: str, request: Request, flt: audit.AuditFilter | None,
                 **detail: Any) -> None:
    audit.record(session, audit.AuditRead(
        actor=user, actor_kind="audit-user",
        patient_id=flt.patient_id if flt else None, accession=flt.accession if flt else None,
        report_key=flt.report_key if flt else None,
        detail={"path": request.url.path, "filter": flt.as_detail() if flt else {}, **detail},
    ))
    session.commit()  # releases the chain's writer lock at once


# ---- routes -------------------------------------------------------------------------------------


@router.get("/audit.css", name="audit_css")
def stylesheet(user: UserDep) -> FileResponse:
    return FileResponse(CSS, media_type="text/css", headers={"Cache-Control": "private, max-age=300"})


@router.get("", name="audit_search")
@router.get("/", include_in_schema=False)
def search_page(
    request: Request, user: UserDep, form: FilterDep,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1, verify: Annotated[str, Query(max_length=8)] = "",
) -> HTMLResponse:
    """Search and filter the trail: patient, accession, report, user, event type, date range."""
    params = form.params()
    error, flt = None, None
    try:
        flt = form.build()
    except ValueError as exc:
        error = str(exc)
    total, events = 0, []
    with _sessions(request)() as s:
        if flt is not None:
            total = audit.count(s, flt)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        if flt is not None:
            rows = audit.search(s, flt, limit=PAGE_SIZE, offset=(min(page, pages) - 1) * PAGE_SIZE)
            events = [_event_view(r, request) for r in rows]
        chain = _chain_status(request, s, fresh=bool(verify))
        types = audit.known_event_types(s)
        _record_read(s, user, request, flt, page="search", results=total, page_no=page, error=error)
    base = str(request.url_for("audit_search"))
    export = str(request.url_for("audit_export"))

    def page_url(n: int) -> str:
        return f"{base}?{urlencode([*params, ('page', str(n))])}"

    return _render("audit/search.html", SearchPage(
        user=user, css_url=str(request.url_for("audit_css")), search_url=base, chain=chain, patient=form.patient,
        accession=form.accession, report=form.report, actor=form.actor, since=form.since, until=form.until,
        event_types=types, selected_types=form.types,
        events=events, total=total, page=min(page, pages), pages=pages,
        prev_url=page_url(page - 1) if page > 1 else None, next_url=page_url(page + 1) if page < pages else None,
        export_ndjson_url=f"{export}?{urlencode([*params, ('format', 'ndjson')])}",
        export_fhir_url=f"{export}?{urlencode([*params, ('format', 'fhir')])}", error=error,
    ))


@router.get("/timeline", name="audit_timeline")
def timeline_page(request: Request, user: UserDep, report: Annotated[str, Query(min_length=1, max_length=255)],
                  verify: Annotated[str, Query(max_length=8)] = "") -> HTMLResponse:
    """One report from arrival to feedback: what came in, what the models said, what was shown, what was done."""
    with _sessions(request)() as s:
        rows = audit.timeline(s, report)
        events = [_event_view(r, request) for r in rows]
        chain = _chain_status(request, s, fresh=bool(verify))
        patients = sorted({r.patient_id for r in rows if r.patient_id})
        _record_read(s, user, request, audit.AuditFilter(report_key=report), page="timeline", results=len(rows))
    stages = list(dict.fromkeys(e.stage for e in events))
    export = str(request.url_for("audit_export"))
    notes = [] if events else [f"No audit events name report {report!r}."]
    return _render("audit/timeline.html", TimelinePage(
        user=user, css_url=str(request.url_for("audit_css")), chain=chain, report=report, patients=patients,
        events=events, stages=stages, search_url=str(request.url_for("audit_search")),
        export_ndjson_url=f"{export}?{urlencode({'timeline': report, 'format': 'ndjson'})}",
        export_fhir_url=f"{export}?{urlencode({'timeline': report, 'format': 'fhir'})}",
        feedback_count=sum(e.event_type == "feedback.received" for e in events), notes=notes,
    ))


@router.get("/export", name="audit_export")
def export(
    request: Request, user: UserDep, form: FilterDep,
    fmt: Annotated[str, Query(alias="format", pattern="^(ndjson|fhir)$")] = "ndjson",
    timeline: Annotated[str, Query(max_length=255)] = "",
) -> StreamingResponse:
    """Exactly what the filter shows, oldest first: chain rows as NDJSON, or FHIR R4 AuditEvents as NDJSON.

    `timeline=REPORT` exports what the timeline page of that report shows: its own events and the hook
    requests and feedback joined to it through card uuids and hook instances, which carry no report key.
    """
    try:
        flt = form.build()
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    sessions = _sessions(request)
    with sessions() as s:
        # The export is what the filter showed when asked: it stops before its own audit.read event.
        flt = flt.model_copy(update={"max_seq": audit.chain_head(s)[0]})
        if timeline.strip():
            _record_read(s, user, request, audit.AuditFilter(report_key=timeline, max_seq=flt.max_seq),
                         page="export", format=fmt, timeline=timeline.strip())
        else:
            _record_read(s, user, request, flt, page="export", format=fmt)

    def rows(s: Session) -> Iterator[Any]:
        if timeline.strip():
            yield from (r for r in audit.timeline(s, timeline.strip()) if r.seq <= (flt.max_seq or 0))
        else:
            yield from audit.iter_events(s, flt)

    def lines() -> Iterator[str]:
        # Its own session: the response streams after the route returned.
        with sessions() as s:
            for row in rows(s):
                if fmt == "ndjson":
                    yield audit.ndjson_line(row) + "\n"
                else:
                    yield json.dumps(audit.fhir_audit_event(row), separators=(",", ":"), ensure_ascii=False) + "\n"

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"radlite-audit-{stamp}.{'fhir.' if fmt == 'fhir' else ''}ndjson"
    media = "application/fhir+ndjson" if fmt == "fhir" else "application/x-ndjson"
    disposition = f'attachment; filename="{name}"'
    return StreamingResponse(lines(), media_type=media, headers={**_HEADERS, "Content-Disposition": disposition})
