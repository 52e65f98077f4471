"""FHIR front door: `POST /fhir/DiagnosticReport/$analyze` with a DiagnosticReport or a Bundle of them.

The answer is one transaction Bundle holding the Observations, the Devices and the
Provenance of every report, ready to POST to a FHIR server (conditional creates, so
sending it twice creates nothing new). Refusals are OperationOutcomes, the body kept for
review: 400 unreadable, 401 JWT, 406 the caller accepts no JSON, 413 too large, 415 not FHIR
JSON (also a body not in UTF-8, by its charset or its bytes) or not R4 by its `fhirVersion`, 422 nothing
to analyse (registered, cancelled or entered-in-error reports only; the CDS hook skips the same ones).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from adapters import fhir
from adapters.fhir.capability import capability_statement, operation_definition
from adapters.fhir.inbound import analyze_parameters
from models.types import TaskName
from plugin import audit
from plugin.deps import PipelineDep, SettingsDep
from plugin.fhir_client import inline_local
from plugin.pipeline import Actor
from plugin.routes.cds_hooks import (
    CODED_TEXT,
    NOT_CODED,
    UnsupportedEncoding,
    coded,
    json_media,
    read_json,
    version_rank,
)
from plugin.security import CallerDep
from plugin.settings import Settings
from plugin.storage import queries
from plugin.storage.db import session_scope

router = APIRouter(tags=["fhir"])

FHIR_JSON = "application/fhir+json"
NOT_ANALYSED: dict[str, str] = {
    "registered": "a registered DiagnosticReport has no results yet (FHIR R4 diagnostic-report-status: "
                  "\"nothing yet available\"); send it again once it is partial, preliminary or final",
    "cancelled": "a cancelled DiagnosticReport is not analysed: the examination was not started or not "
                 "completed (FHIR R4 diagnostic-report-status)",
    "entered-in-error": "an entered-in-error DiagnosticReport is not analysed: it should not have existed "
                        "(FHIR R4 diagnostic-report-status)",
}
"""DiagnosticReport statuses never analysed, with why (the CDS hook skips the same ones): a report with
nothing available yet, one that was not done, or one that should never have existed, must not give
rise to new Observations. Every other status (partial, preliminary, final, amended, corrected,
appended, unknown) carries a result and is analysed."""


def outcome_response(status: int, outcome: dict[str, Any]) -> JSONResponse:
    return JSONResponse(outcome, status_code=status, media_type=FHIR_JSON)


READ_VERSIONS = frozenset({"4.0", "4.0.1", "4.3", "4.3.0", "5.0", "5.0.0"})
"""`fhirVersion` values of the media type whose content the door reads: R4, and R4B/R5, whose
DiagnosticReport differs only in elements the reader sets aside."""


def fhir_version(content_type: str | None) -> str | None:
    """The `fhirVersion` parameter of a FHIR media type (`application/fhir+json; fhirVersion=4.0`), if any."""
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "fhirversion":
            return value.strip().strip("\"'")
    return None


_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})


WRITE_VERSIONS = frozenset({"4.0", "4.0.1"})
"""`fhirVersion` values of what the doors answer: R4 only (R4B/R5 are read, never written)."""


def _media_range(text: str) -> tuple[str, dict[str, str]]:
    """A media range (`application/fhir+json; fhirVersion=4.0; q=0.9`) as its type and lower-cased parameter names.

    A space inside the type is a `+` that a query string decoded (`?_format=application/fhir+json`
    sent unencoded, as many clients do): a media type never holds a space (RFC 9110 §8.3.1).
    """
    media, *params = text.split(";")
    values = {}
    for param in params:
        name, _, value = param.partition("=")
        values[name.strip().lower()] = value.strip().strip("\"'")
    return media.strip().lower().replace(" ", "+"), values


def _takes_ours(media: str, params: dict[str, str]) -> bool:
    """Whether one range admits FHIR R4 JSON: a JSON or wildcard type, not refused (q=0), no other fhirVersion."""
    try:
        if float(params.get("q", "1")) <= 0:
            return False
    except ValueError:
        pass  # a malformed q is read as the default (RFC 9110 leaves it to the server)
    if media not in _JSON_FORMATS and "json" not in media and media not in ("*/*", "application/*"):
        return False
    return params.get("fhirversion", "4.0") in WRITE_VERSIONS


def answers_json(accept: str | None, fmt: str | None) -> bool:
    """Whether the caller can read our answer (FHIR R4 JSON), by `_format` or else by its Accept header.

    FHIR http: a format (or, by the `fhirVersion` parameter, a FHIR version) the server cannot
    produce is a 406, not a body the client cannot parse. A missing or wildcard Accept, and any
    JSON type (also the DSTU2 `application/json+fhir`), is fine.
    """
    if fmt:
        media, params = _media_range(fmt)
        return media in _JSON_FORMATS and params.get("fhirversion", "4.0") in WRITE_VERSIONS
    ranges = [_media_range(r) for r in (accept or "").split(",") if r.strip()]
    return not ranges or any(_takes_ours(media, params) for media, params in ranges)


def not_acceptable(request: Request, fmt: str | None) -> JSONResponse | None:
    """406 with an OperationOutcome when the caller reads no JSON (by `_format`, else Accept); None otherwise."""
    if answers_json(request.headers.get("accept"), fmt):
        return None
    return outcome_response(406, fhir.operation_outcome(
        "The answer is FHIR JSON (application/fhir+json); the request accepts no JSON.", code="not-supported"))


FORMAT_QUERY = Query(default=None, alias="_format", description="FHIR `_format`: json only (else 406).")


def parse_tasks(tasks: str | None) -> list[TaskName] | None:
    if not tasks:
        return None
    return [TaskName(t.strip()) for t in tasks.split(",") if t.strip()]


QUERY_PARAMETERS = frozenset({"tasks", "_format", "_pretty"})
"""Query parameters `$analyze` reads: its primitive in-parameter and the two FHIR defines for every interaction."""


def preferences(headers: list[str]) -> dict[str, str]:
    """The `Prefer` header(s) as name -> value (RFC 7240: comma-separated, names case-insensitive).

    A `;` is taken as a separator too: some FHIR clients write `return=minimal; handling=strict`,
    which RFC 7240 reads as parameters of the first preference.
    """
    out: dict[str, str] = {}
    for header in headers:
        for item in re.split(r"[,;]", header):
            name, _, value = item.partition("=")
            if name.strip():
                out.setdefault(name.strip().lower(), value.strip().strip('"').lower())
    return out


def unknown_query(names: list[str]) -> list[fhir.Issue]:
    """Query parameters `$analyze` does not define, as issues (refused under `handling=strict` only)."""
    out = []
    for name in dict.fromkeys(names):
        if name not in QUERY_PARAMETERS:
            shown = name if len(name) <= 64 and name.isprintable() else "(a name)"
            out.append(fhir.Issue(code="not-supported", diagnostics=f"$analyze has no query parameter '{shown}'"))
    return out


# Answered with a trailing slash too, in place (as the CDS doors are): the framework's redirect (307) names
# the request's own scheme, http:// behind a TLS proxy, and many FHIR clients do not follow it for a POST.
@router.post("/fhir/DiagnosticReport/$analyze/", include_in_schema=False)
@router.post(
    "/fhir/DiagnosticReport/$analyze",
    summary="Analyse FHIR R4 DiagnosticReports; answer a transaction Bundle of Observations and Provenance.",
    response_class=JSONResponse,
)
async def analyze_diagnostic_report(
    request: Request,
    caller: CallerDep,
    pipeline: PipelineDep,
    tasks: str | None = Query(default=None, description="Comma-separated task names; default: the planner's choice."),
    fmt: str | None = Query(default=None, alias="_format", description="FHIR `_format`: json only."),
) -> JSONResponse:
    raw = await request.body()
    # The header is the caller's: bounded and printable, as its column (String(128)) needs.
    content_type = re.sub(r"[\x00-\x1f\x7f]", "?", request.headers.get("content-type") or "")[:128] or None
    # The verified caller (iss|sub) when a token came, else the client address (JWT off, development).
    peer = caller.actor or (request.client.host if request.client else None)
    kind = "jwt" if caller.iss else "http"

    def store(status: str, error: str | None = None, arrived: list[Any] | None = None) -> int:
        first = arrived[0] if arrived else None
        with session_scope(pipeline.sessions) as s:
            row = queries.store_inbound(s, channel="http-fhir", raw=raw, status=status, peer=peer,
                                        content_type=content_type, error=error)
            event = audit.MessageRejected if status == "rejected" else audit.MessageReceived
            # Like an HL7 arrival: the first report's patient and accession, so a search by patient finds it.
            audit.record(s, event(actor=peer, actor_kind=kind, input_hash=row.sha256,
                                  patient_id=first.patient_id if first else None,
                                  report_key=queries.report_key(first) if first else None,
                                  accession=first.accession if first else None,
                                  detail={"inbound_id": row.id, "channel": "http-fhir", "status": status,
                                          "error": error, "reports": len(arrived) if arrived else None}))
            return row.id

    try:
        requested = parse_tasks(tasks)
    except ValueError as exc:
        await run_in_threadpool(store, "rejected", f"unknown task: {exc}")
        return outcome_response(400, fhir.operation_outcome(f"Unknown task in 'tasks': {exc}", code="value"))
    # FHIR R4 search (Prefer: handling): strict asks for an error on any parameter the server does not
    # know, lenient (and no preference) for it to be ignored. $analyze takes parameters as a search does.
    strict = preferences(request.headers.getlist("prefer")).get("handling") == "strict"
    unknown = unknown_query(list(request.query_params.keys()))
    if strict and unknown:
        await run_in_threadpool(store, "rejected", "unknown query parameter (Prefer: handling=strict)")
        return outcome_response(400, fhir.operation_outcome(unknown))
    if not answers_json(request.headers.get("accept"), fmt):
        await run_in_threadpool(store, "rejected", "406: the caller accepts no format we answer in (FHIR JSON)")
        return outcome_response(406, fhir.operation_outcome(
            "The answer is FHIR JSON (application/fhir+json); the request accepts no JSON.", code="not-supported"))
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if not json_media(media):
        # FHIR's http rules: a format the server does not support is 415, not a parse error (400).
        # The media type is not echoed (caller input); XML, forms and text all land here.
        await run_in_threadpool(store, "rejected", "unsupported media type; send FHIR JSON")
        return outcome_response(415, fhir.operation_outcome(
            "Only FHIR JSON (application/fhir+json or application/json) is accepted.", code="not-supported"))
    if coded(request.headers.get("content-encoding")):
        await run_in_threadpool(store, "rejected", "415: " + CODED_TEXT)
        response = outcome_response(415, fhir.operation_outcome(CODED_TEXT, code="not-supported"))
        response.headers.update(NOT_CODED)
        return response
    version = fhir_version(request.headers.get("content-type"))
    if version is not None and version not in READ_VERSIONS:
        # FHIR http.html (the fhirVersion parameter): content of a version the server does not read is a 415.
        await run_in_threadpool(store, "rejected", "unsupported fhirVersion in Content-Type")
        return outcome_response(415, fhir.operation_outcome(
            "Only FHIR R4 content is read (fhirVersion 4.0; R4B and R5 shapes are tolerated).",
            code="not-supported"))
    try:
        resource = read_json(raw, request.headers.get("content-type"))
    except UnsupportedEncoding as exc:
        # FHIR http: UTF-8 only. A charset (declared, or by the bytes) we do not read is a 415, as a media type is.
        await run_in_threadpool(store, "rejected", f"415: {exc}")
        return outcome_response(415, fhir.operation_outcome(f"Body is not UTF-8 FHIR JSON: {exc}",
                                                            code="not-supported"))
    except ValueError as exc:
        await run_in_threadpool(store, "rejected", str(exc)[:2000])
        return outcome_response(400, fhir.operation_outcome(f"Body is not a FHIR JSON resource: {exc}",
                                                            code="structure"))
    try:
        if not isinstance(resource, dict):
            raise ValueError("the body is not a JSON object")
        given = analyze_parameters(resource) if resource.get("resourceType") == "Parameters" else None
        if given is not None and strict and given.unknown:
            raise fhir.FhirInputError(given.unknown)
        inline_local(resource)  # report text by url to a Binary the body holds (contained or an entry)
        # a missing report is named before a bad task; a report not analysed for its status needs no text
        reports = fhir.reports_from_resource(resource, textless=NOT_ANALYSED.keys())
        if given is not None and given.tasks is not None and requested is None:
            requested = _body_tasks(given.tasks)  # the query's `tasks`, when given, decides
    except (ValueError, UnicodeDecodeError) as exc:
        issues = exc.operation_outcome() if isinstance(exc, fhir.FhirInputError) else fhir.operation_outcome(
            f"Body is not a FHIR JSON resource: {exc}", code="structure")
        await run_in_threadpool(store, "rejected", str(exc)[:2000])
        return outcome_response(400, issues)
    if not reports:
        await run_in_threadpool(store, "rejected", "no DiagnosticReport in the body")
        return outcome_response(400, fhir.operation_outcome("The body holds no DiagnosticReport.", code="required"))
    skipped = list(dict.fromkeys(r.status for r in reports if r.status in NOT_ANALYSED))
    reports = [r for r in reports if r.status not in NOT_ANALYSED]
    if not reports:
        # Well-formed, but nothing the operation may act on: FHIR answers a business rule with 422,
        # one issue per status met, saying why it is not analysed.
        await run_in_threadpool(store, "rejected", "not analysed: DiagnosticReport status " + ", ".join(skipped))
        return outcome_response(422, fhir.operation_outcome(
            [fhir.Issue(code="business-rule", expression="DiagnosticReport.status", diagnostics=NOT_ANALYSED[s_])
             for s_ in skipped]))

    inbound_id = await run_in_threadpool(store, "processing", None, reports)
    actor = Actor(id=peer, kind=kind)
    bundles: list[dict[str, Any]] = []

    def keep() -> None:
        # Versions of one exam in one body (a preliminary beside its final) are stored in workflow order,
        # so the final (amended, corrected) one ends as the current version, whatever order they came in.
        with session_scope(pipeline.sessions) as s:
            for report in sorted(reports, key=version_rank):
                row, is_new = queries.store_report(s, report=report, inbound_id=inbound_id)
                if is_new:  # each new report version is audited, whichever door it came in by
                    audit.record(s, audit.report_stored(report, row, inbound_id=inbound_id, actor=peer,
                                                        actor_kind=kind))
    await run_in_threadpool(keep)
    for report in reports:
        analysis = await pipeline.analyse(report, actor=actor, budget_s=None, tasks=requested)
        bundles.append(fhir.transaction_bundle(analysis))
    await run_in_threadpool(_finish, pipeline, inbound_id)
    # merged: Devices shared by several reports keep one entry (one fullUrl per Bundle, bdl-7)
    return JSONResponse(fhir.merge_transactions(bundles), media_type=FHIR_JSON,
                        headers={"Preference-Applied": "handling=strict"} if strict else None)


def _body_tasks(value: str) -> list[TaskName] | None:
    """The tasks a Parameters `tasks` valueString asks for (read only when the query names none).

    FHIR operations let a primitive parameter come in the URL or in the body. The URL is read
    first, as it always was; the choice only selects analyses, it never changes what one finds.
    """
    try:
        return parse_tasks(value)
    except ValueError as exc:
        raise fhir.FhirInputError(fhir.Issue(code="value", expression="Parameters.parameter.valueString",
                                             diagnostics=f"Unknown task in 'tasks': {exc}")) from None


def _finish(pipeline: Any, inbound_id: int) -> None:
    with session_scope(pipeline.sessions) as s:
        queries.finish_inbound(s, inbound_id=inbound_id, status="done")


# RFC 9110 §9.1: a general-purpose server supports HEAD wherever it supports GET (the server sends no body).
@router.api_route("/fhir/CodeSystem/radlite", methods=["HEAD"], include_in_schema=False)
@router.get(
    "/fhir/CodeSystem/radlite",
    summary="The CodeSystem of our local codes (canonical http://radlite.org/fhir/CodeSystem/radlite).",
    response_class=JSONResponse,
)
async def local_code_system(request: Request, fmt: str | None = FORMAT_QUERY) -> JSONResponse:
    """Public terminology, no PHI: a FHIR server or terminology service loads it to resolve our codes."""
    return not_acceptable(request, fmt) or JSONResponse(fhir.code_system(), media_type=FHIR_JSON)


def fhir_base(request: Request, settings: Settings) -> str:
    """Our FHIR base as clients reach it: RADLITE_PUBLIC_BASE_URL + /fhir, else the request's own."""
    root = settings.public_base_url or str(request.base_url)
    return root.rstrip("/") + "/fhir"


@router.api_route("/fhir/StructureDefinition", methods=["HEAD"], include_in_schema=False)
@router.get(
    "/fhir/StructureDefinition",
    summary="Our Observation profiles as a searchset Bundle (canonical base http://radlite.org/fhir/StructureDefinition).",
    response_class=JSONResponse,
)
async def structure_definitions(
    request: Request,
    settings: SettingsDep,
    url: str | None = Query(default=None, description="Canonical URL of one profile (how a server resolves it)."),
    fmt: str | None = FORMAT_QUERY,
) -> JSONResponse:
    """Public conformance resources, no PHI: the profiles each Observation's meta.profile names."""
    return not_acceptable(request, fmt) or JSONResponse(
        fhir.structure_definition_bundle(fhir_base(request, settings), url=url), media_type=FHIR_JSON)


@router.api_route("/fhir/StructureDefinition/{profile_id}", methods=["HEAD"], include_in_schema=False)
@router.get(
    "/fhir/StructureDefinition/{profile_id}",
    summary="One Observation profile by id; 404 with an OperationOutcome for an id we do not publish.",
    response_class=JSONResponse,
)
async def structure_definition(profile_id: str, request: Request, fmt: str | None = FORMAT_QUERY) -> JSONResponse:
    refused = not_acceptable(request, fmt)
    if refused is not None:
        return refused
    try:
        return JSONResponse(fhir.structure_definition(profile_id), media_type=FHIR_JSON)
    except KeyError:
        # The id is not echoed: a path segment is caller input, kept out of replies.
        return outcome_response(404, fhir.operation_outcome("No StructureDefinition with this id.", code="not-found"))


@router.api_route("/fhir/metadata", methods=["HEAD"], include_in_schema=False)
@router.get(
    "/fhir/metadata",
    summary="The CapabilityStatement of the FHIR door (FHIR R4 `[base]/metadata`).",
    response_class=JSONResponse,
)
async def metadata(request: Request, settings: SettingsDep, fmt: str | None = FORMAT_QUERY) -> JSONResponse:
    """Public conformance, no PHI: FHIR clients read it first to learn the version and what is served."""
    return not_acceptable(request, fmt) or JSONResponse(capability_statement(fhir_base(request, settings)),
                                                         media_type=FHIR_JSON)


@router.api_route("/fhir/OperationDefinition/{definition_id}", methods=["HEAD"], include_in_schema=False)
@router.get(
    "/fhir/OperationDefinition/{definition_id}",
    summary="The OperationDefinition of $analyze; 404 with an OperationOutcome for any other id.",
    response_class=JSONResponse,
)
async def operation_definition_read(definition_id: str, request: Request, fmt: str | None = FORMAT_QUERY) -> JSONResponse:
    definition = operation_definition()
    if definition_id != definition["id"]:
        return not_acceptable(request, fmt) or outcome_response(
            404, fhir.operation_outcome("No OperationDefinition with this id.", code="not-found"))
    return not_acceptable(request, fmt) or JSONResponse(definition, media_type=FHIR_JSON)
