"""CDS Hooks front door: discovery, the two services, feedback (CDS Hooks 2.0, integration.md §1).

    GET  /cds-services                      discovery, from the JSON files in cds-hooks/
    POST /cds-services/radlite-report-review   patient-view: cards about recent radiology reports
    POST /cds-services/radlite-imaging-order   order-select / order-sign: priors, follow-ups, duplicates
    POST /cds-services/{id}/feedback        accepted / overridden cards

Example requests: cds-hooks/README.md. Every hook request is kept (inbound_messages,
channel "cds-hook", the access token scrubbed), refused feedback too (channel
"cds-feedback"; a body over the size limit is kept by plugin.security), every card served
is stored and audited, and a report about another patient than context.patientId never
yields a card. Errors are OperationOutcomes: 400 malformed, 401 JWT (no detail), 404
unknown service, 412 required prefetch unavailable, 413 too large, 415 not JSON (by its
Content-Type, its charset or bytes not UTF-8, or a Content-Encoding such as gzip).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import math
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from adapters import fhir
from adapters.cds.cards import CardFor, order_cards, pending_card, report_cards
from adapters.cds.models import (
    CdsRequest,
    CdsResponse,
    Discovery,
    FeedbackRequest,
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
    ServiceDefinition,
    parse_context,
    prefetch_faults,
    wire,
)
from adapters.fhir.inbound import (
    bundle_index,
    canonical_hash,
    contained_patient,
    same_patient,
    subject_patient_id,
)
from models.types import Analysis, RadiologyReport
from plugin import audit
from plugin.deps import PipelineDep, SettingsDep
from plugin.fhir_client import PrefetchError, fetch_results, hook_patient, inline_attachments, resolve_prefetch
from plugin.pipeline import Actor, Pipeline
from plugin.security import Caller, CallerDep, scrub_head
from plugin.storage import queries
from plugin.storage.db import session_scope
from plugin.storage.tables import CardServed, Feedback

log = logging.getLogger("radlite.cds")

router = APIRouter(tags=["cds-hooks"])

DEFINITIONS_DIR = Path(__file__).resolve().parents[2] / "cds-hooks"
REPORT_REVIEW = "radlite-report-review"
IMAGING_ORDER = "radlite-imaging-order"
MAX_REPORTS = 10
"""Most reports analysed per hook (newest first): the hook must stay fast."""
SKIP_STATUSES = {"cancelled", "entered-in-error", "registered"}
FHIR_JSON = "application/fhir+json"
REQUIRED_EXT = "org.radlite.required-prefetch"


# ---- service definitions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    id: str
    definitions: tuple[ServiceDefinition, ...]

    def definition(self, hook: str) -> ServiceDefinition | None:
        return next((d for d in self.definitions if d.hook == hook), None)


@lru_cache(maxsize=4)
def load_services(directory: Path | None = None) -> dict[str, Service]:
    """Service id -> its definitions (one per hook), read once from the JSON files.

    An empty result is an error: a CDS service that announces nothing is never right, and
    the usual cause (the package installed without cds-hooks/) should stop the start-up.
    """
    directory = directory or DEFINITIONS_DIR
    by_id: dict[str, list[ServiceDefinition]] = {}
    for path in sorted(directory.glob("*.json")):
        definition = ServiceDefinition.model_validate_json(path.read_text("utf-8"))
        if definition.id not in (REPORT_REVIEW, IMAGING_ORDER):
            log.warning("service definition with id %s names no service this plugin runs; skipped", definition.id)
            continue
        by_id.setdefault(definition.id, []).append(definition)
    if not by_id:
        raise RuntimeError(f"no CDS Hooks service definitions in {directory}; set RADLITE_CDS_SERVICES_DIR")
    return {sid: Service(sid, tuple(defs)) for sid, defs in by_id.items()}


# ---- responses and bookkeeping ----------------------------------------------------------------


def _oo(status: int, text: str, code: str = "invalid") -> JSONResponse:
    body = fhir.operation_outcome(text, code="invalid")
    body["issue"][0]["code"] = code
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def json_media(content_type: str | None) -> bool:
    """Whether a request's Content-Type is JSON (or absent: some clients send none).

    CDS Hooks requests and feedback are JSON (spec §1.3, §1.7); `application/json`,
    `application/fhir+json`, any other `+json` type and the DSTU2 `application/json+fhir` (which
    the doors already accept in Accept) are read, anything else is a 415.
    """
    media = (content_type or "").split(";")[0].strip().lower()
    return not media or media in ("application/json", "application/json+fhir") or (
        media.startswith("application/") and media.endswith("+json"))


def coded(content_encoding: str | None) -> bool:
    """Whether the body carries a content coding (gzip, deflate, br...): the doors read identity bodies only.

    RFC 9110 §8.4.1: a server MAY answer 415 to a content coding it does not accept, and then SHOULD name
    what it accepts in Accept-Encoding (§12.5.3). Read as it came, a gzip body is bytes that are not
    JSON, and the caller would be told its JSON is broken; decompressing it would let a small body
    grow past the size limit.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    return any(c != "identity" for c in codings)


CODED_TEXT = "Content-Encoding is not supported: send the JSON body uncompressed (identity)"
NOT_CODED = {"Accept-Encoding": "identity"}


MAX_JSON_DEPTH = 100
"""Deepest nesting of objects and arrays read. FHIR and CDS Hooks content nests a few dozen levels at
most (a Parameters holding a Bundle of Bundles of reports with contained resources and extensions);
every reader downstream (pydantic, fhir.resources, the hashing of canonical JSON) recurses per level,
so deeper input must be refused here, as a 400, not end in a RecursionError (500) later on."""


class JsonError(ValueError):
    """A body that is not JSON the doors read; the message names the fault, never a value."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose member names are unique, else JsonError.

    RFC 8259 §4: with duplicate names the behaviour of a reader is unpredictable (most keep the
    last, some the first); I-JSON (RFC 7493 §2.3) forbids them. Two `patientId`s or two `subject`s
    could name two patients, and which one a reader takes must never be a guess.
    """
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            shown = key if len(key) <= 64 and key.isprintable() else "(a member)"
            raise JsonError(f"duplicate member name '{shown}' in a JSON object (RFC 8259 §4)")
        out[key] = value
    return out


def _too_deep(value: Any, limit: int) -> bool:
    """Whether objects/arrays nest deeper than `limit` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        if not children:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


class UnsupportedEncoding(JsonError):
    """JSON in another encoding than UTF-8, by its declared charset or its own bytes: the doors answer 415."""


_UTF8 = frozenset({"utf-8", "utf-8-sig"})


def _charset(content_type: str | None) -> str | None:
    """The `charset` parameter of a Content-Type (quotes dropped), None when there is none."""
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'")
    return None


def body_text(raw: bytes, content_type: str | None = None) -> str:
    """The body as text: UTF-8 only (RFC 8259 §8.1; FHIR http: "UTF-8 only"), a leading UTF-8 BOM ignored.

    One rule for every JSON door, decided by the bytes (RFC 8259 §11: a `charset` parameter "really
    has no effect on compliant recipients"), the label only naming the fault:
    - bytes that are UTF-8 are read whatever charset the request declares (plain ASCII labelled
      ISO-8859-1, the HTTP/1.1 default many client libraries still add, or UTF-8 mislabelled);
    - bytes that are not UTF-8 under a declared other charset (ISO-8859-1, windows-1252, UTF-16, an
      unknown name) are UnsupportedEncoding (415), naming the charset;
    - JSON in UTF-16 or UTF-32 (told by a BOM or the NUL pattern of RFC 4627 §3) is in an encoding
      we do not take: UnsupportedEncoding (415) too, declared or not;
    - a UTF-8 BOM is dropped (RFC 8259 §8.1 lets a parser ignore it);
    - bytes that are not UTF-8 and are no JSON in another Unicode encoding either (a lone BOM) are
      malformed: JsonError (400).
    The message names the encoding fault, never the bytes.
    """
    declared = _charset(content_type)
    if declared and not _is_utf8(raw):
        shown = declared if len(declared) <= 40 and declared.isprintable() else "(a charset)"
        try:
            name = codecs.lookup(declared).name
        except LookupError:
            raise UnsupportedEncoding(f"unknown charset '{shown}'; JSON is exchanged in UTF-8 only "
                                      "(RFC 8259 §8.1)") from None
        if name not in _UTF8:
            raise UnsupportedEncoding(f"the body is declared charset={shown}; JSON is exchanged in UTF-8 only "
                                      "(RFC 8259 §8.1, FHIR http): send it as UTF-8 with charset=utf-8")
    detected = json.detect_encoding(raw)
    if detected not in _UTF8:
        try:  # JSON in UTF-16/32 is a format we do not take; bytes that are no JSON in any encoding are malformed
            _parse(raw.decode(detected))
        except (UnicodeDecodeError, JsonError):
            raise JsonError("the body is not UTF-8 encoded JSON") from None
        raise UnsupportedEncoding("the body is UTF-16 or UTF-32 encoded; JSON is exchanged in UTF-8 only "
                                  "(RFC 8259 §8.1, FHIR http)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise JsonError("the body is not UTF-8 encoded JSON") from None


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return True


def read_json(raw: bytes, content_type: str | None = None) -> Any:
    """The body parsed as JSON; ValueError (JsonError) for anything the doors do not read as such.

    Refused: bytes in another encoding than UTF-8 (UnsupportedEncoding, a 415; see body_text),
    malformed JSON, duplicate member names, and nesting deeper than MAX_JSON_DEPTH. The standard
    parser recurses per nesting level: a few kilobytes of `[[[[` would otherwise end in
    RecursionError, a 500 instead of a 400.
    """
    return _parse(body_text(raw, content_type))


def _no_constant(name: str) -> Any:
    """RFC 8259 §6: `NaN`, `Infinity` and `-Infinity` are not JSON (Python's reader takes them by default)."""
    raise JsonError(f"'{name}' is not a JSON number (RFC 8259 §6)")


_DOUBLE_MAX = sys.float_info.max
_DOUBLE_DIGITS = len(str(int(_DOUBLE_MAX)))
"""Digits of the largest finite IEEE 754 double (309): an integer with more is past its range."""


def _finite_float(text: str) -> float:
    """RFC 8259 §6: a number past the range of IEEE 754 doubles (`1e400`) is not interoperable; refused.

    Python's reader would make it infinity, a value no JSON number is (and which json.dumps writes
    back as `Infinity`, not JSON at all). A number too small for a double (`1e-400`) only loses
    precision, as a long fraction does, and is read as it is.
    """
    value = float(text)
    if math.isinf(value):
        raise JsonError("a number is larger than any IEEE 754 double (RFC 8259 §6: not interoperable)")
    return value


def _finite_int(text: str) -> int:
    """An integer within the range of IEEE 754 doubles (RFC 8259 §6), else JsonError (never a 4300-digit parse)."""
    digits = text.lstrip("-")
    if len(digits) > _DOUBLE_DIGITS or (len(digits) == _DOUBLE_DIGITS and int(digits) > _DOUBLE_MAX):
        raise JsonError("a number is larger than any IEEE 754 double (RFC 8259 §6: not interoperable)")
    return int(text)


def _parse(text: str | bytes) -> Any:
    try:
        data = json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant,
                          parse_float=_finite_float, parse_int=_finite_int)
    except RecursionError as exc:
        raise JsonError("JSON nested too deeply") from exc
    except UnicodeDecodeError as exc:
        raise JsonError("the body is not UTF-8 encoded JSON") from exc
    except json.JSONDecodeError as exc:  # its message names the place (line, column), not the text
        raise JsonError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if _too_deep(data, MAX_JSON_DEPTH):
        raise JsonError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return data


_ACCESS_TOKEN_TEXT = re.compile(r'("access_token"\s*:\s*")((?:[^"\\]|\\.)*)')


def _scrub_wide(raw: bytes) -> bytes:
    """A body in UTF-16/32 that is not JSON, with its access_token values starred, kept in its encoding.

    The byte pattern of scrub_head cannot see a token whose characters are two or four bytes wide.
    """
    encoding = json.detect_encoding(raw)
    if encoding in _UTF8:
        return scrub_head(raw)
    text = raw.decode(encoding, errors="replace")
    return _ACCESS_TOKEN_TEXT.sub(r"\1***", text).encode(encoding, errors="replace")


def _scrubbed(raw: bytes) -> bytes:
    """The request as stored: the fhirAuthorization access token never reaches the database."""
    try:
        data = _parse(raw)  # any Unicode encoding (a UTF-16 body is refused, but its token is scrubbed all the same)
    except ValueError:  # UnicodeDecodeError is one
        return _scrub_wide(raw)  # not JSON, but a token may still be in it
    if isinstance(data, dict) and isinstance(data.get("fhirAuthorization"), dict):
        if "access_token" in data["fhirAuthorization"]:
            data["fhirAuthorization"]["access_token"] = "***"
            text = json.dumps(data, ensure_ascii=False)
            try:
                return text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate (\udc80) the parser let through: keep it escaped
                return json.dumps(data).encode("ascii")
    return raw


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _printable(text: str, limit: int) -> str:
    """Caller-derived text fit for a bounded column: control characters replaced, cut to `limit`."""
    return _CONTROL.sub("?", text)[:limit]


def _validation_text(exc: ValidationError) -> str:
    """Where the request is wrong, without echoing values (they may hold PHI)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(body)"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return _printable("; ".join(parts), 1000)


def _store_rejected(pipeline: Pipeline, raw: bytes, error: str, *, caller: Caller, service_id: str,
                    control_id: str | None, content_type: str | None, channel: str = "cds-hook") -> None:
    with session_scope(pipeline.sessions) as s:
        row = queries.store_inbound(s, channel=channel, raw=_scrubbed(raw), status="rejected", peer=caller.actor,
                                    control_id=_printable(control_id, 255) if control_id else None,
                                    content_type=_printable(content_type or "", 128) or None,
                                    error=_printable(error, 2000))
        audit.record(s, audit.MessageRejected(
            actor=caller.actor, actor_kind="jwt" if caller.iss else "http", input_hash=row.sha256,
            detail={"inbound_id": row.id, "channel": channel, "service": service_id,
                    "error": _printable(error, 500)},
        ))


def _store_received(pipeline: Pipeline, raw: bytes, req: CdsRequest, *, caller: Caller, service_id: str,
                    patient_id: str, content_type: str | None) -> int:
    with session_scope(pipeline.sessions) as s:
        row = queries.store_inbound(s, channel="cds-hook", raw=_scrubbed(raw), status="processing", peer=caller.actor,
                                    control_id=req.hookInstance,
                                    content_type=_printable(content_type or "", 128) or None)
        audit.record(s, audit.HookRequest(
            actor=caller.actor, actor_kind="jwt" if caller.iss else "http", patient_id=patient_id,
            input_hash=row.sha256,
            detail={"inbound_id": row.id, "service": service_id, "hook": req.hook, "hookInstance": req.hookInstance,
                    "prefetch_keys": sorted((req.prefetch or {}).keys()), "user": req.context.get("userId"),
                    "fhir_authorization": req.fhirAuthorization is not None},
        ))
        return row.id


def _finish(pipeline: Pipeline, inbound_id: int, status: str, error: str | None = None) -> None:
    with session_scope(pipeline.sessions) as s:
        queries.finish_inbound(s, inbound_id=inbound_id, status=status, error=error)


# ---- reports from prefetch --------------------------------------------------------------------


Located = tuple[dict[str, Any], dict[str, dict[str, Any]]]
"""A DiagnosticReport and the index of the Bundle it came in (empty when it came alone)."""


def _resources(value: Any, index: dict[str, dict[str, Any]] | None = None) -> list[Located]:
    """DiagnosticReports in a prefetch value (a resource or a Bundle, possibly nested), each
    with its Bundle's index, so `result` references to included Observations resolve."""
    if not isinstance(value, dict):
        return []
    kind = value.get("resourceType")
    if kind == "DiagnosticReport":
        return [(value, index or {})]
    if kind == "Bundle":
        inner = {**(index or {}), **bundle_index(value)}
        out: list[Located] = []
        entries = value.get("entry")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                out += _resources(entry.get("resource"), inner)
        return out
    return []


@dataclass(frozen=True)
class _UnreadableOther:
    """A DiagnosticReport about another patient that could not be read: named by ids and hashes only."""

    report_id: str | None
    report_patient: str | None
    subject_sha256: str | None
    source_hash: str


@dataclass
class _Sorted:
    mine: list[RadiologyReport]
    other_patient: list[RadiologyReport]
    unreadable: int
    other_unreadable: list[_UnreadableOther]


_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _unreadable_other(resource: dict[str, Any], index: dict[str, dict[str, Any]],
                      patient_id: str, context_patient: dict[str, Any] | None = None) -> _UnreadableOther | None:
    """An unreadable report whose subject is not the hook's patient (or names none), else None.

    The subject is resolved as the adapter resolves it for a readable report, so the same
    report is set aside whether or not its text can be read. A reference or id that is not a
    FHIR id (it may hold a name) is kept as its sha256 only.
    """
    subject = resource.get("subject")
    report_patient = subject_patient_id(subject, index, resource.get("contained"))
    local = _contained_subject(resource)
    if local is None and report_patient == patient_id:
        return None
    if local is not None and same_patient(local, context_patient):
        return None  # a contained Patient is the hook's by a shared identifier only, never by its spelling
    reference = subject.get("reference") if isinstance(subject, dict) else None
    rid = resource.get("id")
    return _UnreadableOther(
        report_id=rid if isinstance(rid, str) and _FHIR_ID.match(rid) else None,
        report_patient=report_patient,
        subject_sha256=audit.text_digest(reference) if isinstance(reference, str) and report_patient is None else None,
        source_hash=canonical_hash(resource),
    )


_STATUS_RANK = {"amended": 3, "corrected": 3, "appended": 3, "final": 2, "preliminary": 1, "partial": 1}
"""How far along its workflow a report version is (FHIR R4 diagnostic-report-status); `unknown` ranks lowest."""


def _later_version(report: RadiologyReport, kept: RadiologyReport) -> bool:
    """Whether `report` supersedes `kept`, another version of the same exam (same accession) in one prefetch.

    EHRs often keep the preliminary and the final report of one exam as two DiagnosticReports with one
    accession, and a search returns both in any order: the final (or amended, corrected) one is the
    report, the preliminary never stands in for it. Between versions of one status the later issued wins.
    """
    return version_rank(report) > version_rank(kept)


def version_rank(report: RadiologyReport) -> tuple[int, float]:
    """Where a report version stands among versions of its exam: its status rank, then when it was issued."""
    when = report.issued or report.effective
    return _STATUS_RANK.get(report.status or "", 0), when.timestamp() if when else 0.0


def _contained_subject(resource: dict[str, Any]) -> dict[str, Any] | None:
    """The contained Patient a DiagnosticReport's subject points at (`#pt`), else None."""
    subject = resource.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    return contained_patient(ref.strip(), resource.get("contained")) if isinstance(ref, str) else None


def _reports(prefetch: dict[str, Any], patient_id: str, fetched: dict[str, dict[str, Any]] | None = None) -> _Sorted:
    """This patient's readable reports (newest first, at most MAX_REPORTS), other patients' set apart.

    `fetched`: resources read from fhirServer (result Observations) by the reference used.
    """
    mine: dict[str, RadiologyReport] = {}
    other: list[RadiologyReport] = []
    context_patient = hook_patient(prefetch, patient_id)
    other_unreadable: list[_UnreadableOther] = []
    unreadable = 0
    for value in prefetch.values():
        for resource, index in _resources(value, dict(fetched or {})):
            try:
                report = fhir.report_from_diagnostic_report(resource, index=index, ignore_unknown=True)
            except (fhir.FhirInputError, ValueError) as exc:
                unreadable += 1
                log.info("prefetch DiagnosticReport unreadable: %s", type(exc).__name__)
                stray = _unreadable_other(resource, index, patient_id, context_patient)
                if stray is not None:
                    other_unreadable.append(stray)
                continue
            local = _contained_subject(resource)
            if local is not None:
                # A contained Patient has no logical id: it is the hook's patient only when one of its
                # identifiers (system and value) is one of the context Patient's; its record number
                # merely spelled like the context id is no match (ids and record numbers are apart).
                if same_patient(local, context_patient):
                    report = report.model_copy(update={"patient_id": patient_id})
                else:
                    other.append(report)
                    continue
            if report.patient_id != patient_id:
                other.append(report)
            elif report.status not in SKIP_STATUSES:
                key = queries.report_key(report)
                if key not in mine or _later_version(report, mine[key]):
                    mine[key] = report
    newest = sorted(mine.values(), key=lambda r: (r.effective or r.issued).timestamp() if (r.effective or r.issued)
                    else 0.0, reverse=True)
    return _Sorted(newest[:MAX_REPORTS], other, unreadable, other_unreadable)


def _set_aside(pipeline: Pipeline, found: _Sorted, *, caller: Caller, patient_id: str,
               hook_instance: str, service_id: str) -> None:
    """Patient safety: another patient's report is never shown; each one is a `safety.anomaly`,
    readable or not (an unreadable one is named by its id and the sha256 of the resource)."""
    kind = "jwt" if caller.iss else "http"
    common = {"anomaly": "report subject is not the hook's patient", "hookInstance": hook_instance,
              "service": service_id}
    with session_scope(pipeline.sessions) as s:
        for report in found.other_patient:
            audit.record(s, audit.SafetyAnomaly(
                actor=caller.actor, actor_kind=kind, patient_id=patient_id,
                report_key=queries.report_key(report), accession=report.accession, input_hash=report.content_hash,
                detail={**common, "readable": True, "report_patient": report.patient_id,
                        "report_id": report.report_id, "source_hash": report.source_hash},
            ))
        for stray in found.other_unreadable:
            audit.record(s, audit.SafetyAnomaly(
                actor=caller.actor, actor_kind=kind, patient_id=patient_id, input_hash=stray.source_hash,
                detail={**common, "readable": False, "report_patient": stray.report_patient,
                        "report_id": stray.report_id, "subject_sha256": stray.subject_sha256,
                        "source_hash": stray.source_hash},
            ))
    log.warning("hook %s: %d report(s) about another patient set aside (%d unreadable)", hook_instance,
                len(found.other_patient) + len(found.other_unreadable), len(found.other_unreadable))


def _keep_reports(
    pipeline: Pipeline, reports: list[RadiologyReport], inbound_id: int, caller: Caller
) -> None:
    with session_scope(pipeline.sessions) as s:
        for report in reports:
            row, is_new = queries.store_report(s, report=report, inbound_id=inbound_id)
            if is_new:  # each new report version is audited, whichever door it came in by
                audit.record(s, audit.report_stored(report, row, inbound_id=inbound_id, actor=caller.actor,
                                                    actor_kind="jwt" if caller.iss else "http"))


async def _analyse(pipeline: Pipeline, reports: list[RadiologyReport], actor: Actor, budget: float) -> list[Analysis]:
    """All reports analysed side by side; each waits at most `budget`, so the hook does too."""
    outcomes = await asyncio.gather(*(pipeline.analyse(r, actor=actor, budget_s=budget) for r in reports),
                                    return_exceptions=True)
    out: list[Analysis] = []
    for report, outcome in zip(reports, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            log.warning("analysis of report %s failed: %s", report.content_hash[:12], type(outcome).__name__)
            continue
        out.append(outcome)
    return out


def _serve(pipeline: Pipeline, served: list[CardFor], *, service_id: str, req: CdsRequest, patient_id: str,
           caller: Caller, inbound_id: int) -> None:
    """Store each card served and audit it (the uuid is the feedback join key)."""
    with session_scope(pipeline.sessions) as s:
        for item in served:
            card, analysis = item.card, item.analysis
            report = analysis.report if analysis else None
            analysis_id = None
            if analysis is not None:
                row = queries.find_analysis(s, content_hash=analysis.report.content_hash,
                                            manifest_version=analysis.manifest_version)
                analysis_id = row.id if row else None
            card_json = wire(card)
            s.add(CardServed(
                card_uuid=card.uuid or "", service_id=service_id, hook=req.hook, hook_instance=req.hookInstance,
                patient_id=patient_id, report_key=queries.report_key(report) if report else None,
                analysis_id=analysis_id, indicator=card.indicator, card_json=card_json,
            ))
            audit.record(s, audit.CardServedEvent(
                actor=caller.actor, actor_kind="jwt" if caller.iss else "http", patient_id=patient_id,
                report_key=queries.report_key(report) if report else None,
                accession=report.accession if report else None,
                input_hash=report.content_hash if report else None,
                detail={"card_uuid": card.uuid, "service": service_id, "hookInstance": req.hookInstance,
                        "indicator": card.indicator, "analysis_id": analysis_id,
                        # the summary quotes the exam and report words: the card itself is in cards_served
                        "summary_sha256": audit.text_digest(card.summary),
                        "inbound_id": inbound_id, "demo": bool(analysis and analysis.demo),
                        "topic": card.source.topic.code if card.source.topic else None},
            ))
        queries.finish_inbound(s, inbound_id=inbound_id, status="done")


# ---- draft orders ------------------------------------------------------------------------------


def _entry_names(entry: dict[str, Any]) -> set[str]:
    """The names a selection may use for a draftOrders entry: `Type/id` and its fullUrl."""
    names: set[str] = set()
    resource = entry.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("id"), str):
        names.add(f"{resource.get('resourceType')}/{resource['id']}")
    if isinstance(entry.get("fullUrl"), str):
        names.add(entry["fullUrl"])
    return names


def _chosen(selection: str, names: set[str]) -> bool:
    """A selection names an entry: exactly, or as an absolute URL ending in `/Type/id`."""
    return selection in names or any(n.count("/") == 1 and selection.endswith("/" + n) for n in names)


def _draft_orders(context: PatientViewContext) -> list[dict[str, Any]]:
    """The drafted resources the order hook is about: for order-select, the selected ones.

    Hooks-lib: `selections` hold references like `ServiceRequest/103` into draftOrders. An
    unsaved draft may have no id, so a client can only name it by its entry's fullUrl
    (`urn:uuid:...`); an absolute URL is matched by its `Type/id` tail. When no selection
    names an entry, every draft is considered (better than none).
    """
    if not isinstance(context, OrderSignContext):
        return []
    entries = [e for e in context.draftOrders.entry or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    if isinstance(context, OrderSelectContext):
        picked = [e for e in entries if any(_chosen(sel, _entry_names(e)) for sel in context.selections)]
        entries = picked or entries
    return [e["resource"] for e in entries]


# ---- routes -------------------------------------------------------------------------------------


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request (OperationOutcome)"},
    401: {"description": "Missing or invalid JWT"},
    404: {"description": "Unknown service (OperationOutcome)"},
    412: {"description": "Required prefetch data not available (OperationOutcome)"},
    413: {"description": "Request too large (OperationOutcome)"},
    415: {"description": "Body is not JSON by its Content-Type (OperationOutcome)"},
}


# Each door also answers with a trailing slash, in place: the framework would redirect (307) to
# the slashless URL built from the request's own scheme and host, which behind a TLS proxy is
# http://, and many EHR HTTP clients do not follow a redirect of a POST at all.
@router.api_route("/cds-services", methods=["HEAD"], include_in_schema=False)
@router.api_route("/cds-services/", methods=["HEAD"], include_in_schema=False)  # RFC 9110 §9.1: HEAD where GET is
@router.get("/cds-services/", include_in_schema=False)
@router.get("/cds-services", summary="CDS Hooks discovery", response_model=Discovery, response_model_exclude_none=True,
            responses={401: _ERRORS[401]})
async def discovery(_caller: CallerDep, settings: SettingsDep) -> JSONResponse:
    """The services this plugin runs: one entry per (service, hook), from cds-hooks/*.json."""
    services = [d for s in load_services(settings.cds_services_dir).values() for d in s.definitions]
    return JSONResponse(wire(Discovery(services=services)))


@router.post("/cds-services/{service_id}/", include_in_schema=False)
@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS service (CDS Hooks 2.0 request)",
    response_model=CdsResponse,
    response_model_exclude_none=True,
    responses={k: v for k, v in _ERRORS.items()},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": CdsRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}},
)
async def call_service(service_id: str, request: Request, caller: CallerDep, pipeline: PipelineDep,
                       settings: SettingsDep) -> JSONResponse:
    service = load_services(settings.cds_services_dir).get(service_id)
    raw = await request.body()
    content_type = request.headers.get("content-type")

    async def reject(status: int, text: str, code: str = "invalid", control_id: str | None = None) -> JSONResponse:
        await run_in_threadpool(_store_rejected, pipeline, raw, text, caller=caller, service_id=service_id,
                                control_id=control_id, content_type=content_type)
        return _oo(status, text, code)

    if service is None:
        return await reject(404, f"Unknown CDS service '{service_id[:64]}'", "not-found")
    if not json_media(content_type):
        return await reject(415, "A CDS Hooks request is JSON: send Content-Type application/json",
                            "not-supported")
    if coded(request.headers.get("content-encoding")):
        response = await reject(415, CODED_TEXT, "not-supported")
        response.headers.update(NOT_CODED)
        return response
    try:
        body = read_json(raw, content_type)
    except UnsupportedEncoding as exc:
        return await reject(415, f"Body is not UTF-8 JSON: {exc}", "not-supported")
    except ValueError as exc:
        return await reject(400, f"Body is not JSON: {exc}", "structure")
    if not isinstance(body, dict):
        return await reject(400, "Body is not a JSON object", "structure")
    instance = body.get("hookInstance") if isinstance(body.get("hookInstance"), str) else None
    try:
        req = CdsRequest.model_validate(body)
    except ValidationError as exc:
        return await reject(400, f"Invalid CDS Hooks request: {_validation_text(exc)}", control_id=instance)
    definition = service.definition(req.hook)
    if definition is None:
        hooks = ", ".join(d.hook for d in service.definitions)
        return await reject(400, f"Service '{service_id}' does not answer hook '{req.hook[:64]}' (only {hooks})",
                            "not-supported", instance)
    try:
        context = parse_context(req.hook, req.context)
    except ValidationError as exc:
        return await reject(400, f"Invalid context for {req.hook}: {_validation_text(exc)}", control_id=instance)
    faults = prefetch_faults(req.prefetch, (definition.prefetch or {}).keys())
    if faults:
        where = ", ".join(f"prefetch.{k}" for k in faults)
        return await reject(400, _printable(f"Invalid CDS Hooks request: {where}: a prefetch value is a FHIR "
                                            "resource or null (CDS Hooks 2.0 §1.4)", 1000), control_id=instance)
    patient_id = context.patientId

    inbound_id = await run_in_threadpool(_store_received, pipeline, raw, req, caller=caller, service_id=service_id,
                                         patient_id=patient_id, content_type=content_type)
    required = list((definition.extension or {}).get(REQUIRED_EXT) or [])
    try:
        prefetched = await resolve_prefetch(req, definition.prefetch or {}, required=required,
                                            timeout_s=settings.fhir_timeout_seconds,
                                            allow_http=settings.environment == "development")
    except PrefetchError as exc:
        await run_in_threadpool(_finish, pipeline, inbound_id, "rejected", f"412: {exc}")
        return _oo(412, f"Required prefetch not available: {exc}", "processing")

    # Report text given only by url (presentedForm -> Binary, as most EHRs send it) is fetched inline.
    await inline_attachments(prefetched.data, req, timeout_s=settings.fhir_timeout_seconds,
                             allow_http=settings.environment == "development", patient_id=patient_id)
    # So is report text held only in result Observations the prefetch search did not include.
    results = await fetch_results(prefetched.data, req, timeout_s=settings.fhir_timeout_seconds,
                                  allow_http=settings.environment == "development", patient_id=patient_id)
    found = _reports(prefetched.data, patient_id, results)
    if found.other_patient or found.other_unreadable:
        await run_in_threadpool(_set_aside, pipeline, found, caller=caller, patient_id=patient_id,
                                hook_instance=req.hookInstance, service_id=service_id)
    if found.mine:
        await run_in_threadpool(_keep_reports, pipeline, found.mine, inbound_id, caller)
    actor = Actor(id=caller.actor, kind="jwt" if caller.iss else "http")
    analyses = await _analyse(pipeline, found.mine, actor, settings.hook_budget_seconds)
    # Belt and braces: only analyses of this patient's reports reach the card builders.
    analyses = [a for a in analyses if a.report.patient_id == patient_id]

    served: list[CardFor] = []
    if service_id == REPORT_REVIEW:
        for a in analyses:
            served += [CardFor(c, a) for c in report_cards(a, patient_id=patient_id, fhir_server=req.fhirServer)]
    else:
        served += order_cards(_draft_orders(context), analyses, patient_id=patient_id, fhir_server=req.fhirServer)
    pending = [a for a in analyses if a.pending]
    if pending:
        served.append(CardFor(pending_card(len(pending), demo=any(a.demo for a in pending)), None))

    response = CdsResponse(cards=[cf.card for cf in served])
    payload = wire(response)
    await run_in_threadpool(_serve, pipeline, served, service_id=service_id, req=req, patient_id=patient_id,
                            caller=caller, inbound_id=inbound_id)
    log.info("hook %s service=%s reports=%d cards=%d pending=%d", req.hookInstance, service_id, len(found.mine),
             len(served), len(pending))
    return JSONResponse(payload)


@router.post("/cds-services/{service_id}/feedback/", include_in_schema=False)
@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on cards (accepted / overridden)",
    responses={k: v for k, v in _ERRORS.items() if k in (400, 401, 404, 413, 415)},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": FeedbackRequest.model_json_schema(ref_template="#/components/schemas/{model}")}}}},
)
async def feedback(service_id: str, request: Request, caller: CallerDep, pipeline: PipelineDep,
                   settings: SettingsDep) -> JSONResponse:
    """Store each feedback item once (the same item may be sent again) and audit it.

    Refused feedback is kept for review like a refused hook request (channel "cds-feedback").
    """
    raw = await request.body()
    content_type = request.headers.get("content-type")

    async def reject(status: int, text: str, code: str = "invalid") -> JSONResponse:
        await run_in_threadpool(_store_rejected, pipeline, raw, text, caller=caller, service_id=service_id,
                                control_id=None, content_type=content_type, channel="cds-feedback")
        return _oo(status, text, code)

    if service_id not in load_services(settings.cds_services_dir):
        return await reject(404, f"Unknown CDS service '{service_id[:64]}'", "not-found")
    if not json_media(content_type):
        return await reject(415, "Feedback is JSON: send Content-Type application/json", "not-supported")
    if coded(request.headers.get("content-encoding")):
        response = await reject(415, CODED_TEXT, "not-supported")
        response.headers.update(NOT_CODED)
        return response
    try:
        body = read_json(raw, content_type)  # read as a hook request is (UTF-8 only, a BOM ignored)
    except UnsupportedEncoding as exc:
        return await reject(415, f"Body is not UTF-8 JSON: {exc}", "not-supported")
    except ValueError as exc:
        return await reject(400, f"Body is not JSON: {exc}", "structure")
    try:
        parsed = FeedbackRequest.model_validate(body)
    except ValidationError as exc:
        return await reject(400, f"Invalid feedback: {_validation_text(exc)}")
    bad_times = [i for i, item in enumerate(parsed.feedback) if not _real_instant(item.outcomeTimestamp)]
    if bad_times:  # shaped like RFC 3339 but no moment in time (2026-02-30, 25:00): nothing is stored
        where = ", ".join(f"feedback.{i}.outcomeTimestamp" for i in bad_times[:5])
        return await reject(400, f"Invalid feedback: {where}: not a real date and time (RFC 3339)")
    stored = await run_in_threadpool(_store_feedback, pipeline, parsed, service_id=service_id, caller=caller)
    log.info("feedback service=%s items=%d new=%d", service_id, len(parsed.feedback), stored)
    return JSONResponse({})


def _real_instant(stamp: str) -> bool:
    """Whether an RFC 3339 date-time (already checked for its shape) names a real moment.

    RFC 3339 §5.6 allows lower-case `t`/`z` and a leap second (`:60`), which Python's parser
    does not take as such; both are normalised before parsing.
    """
    text = stamp.upper().replace("Z", "+00:00")
    text = re.sub(r"(T\d{2}:\d{2}):60", r"\1:59", text)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _store_feedback(pipeline: Pipeline, parsed: FeedbackRequest, *, service_id: str, caller: Caller) -> int:
    new = 0
    for item in parsed.feedback:
        key = (item.card, item.outcome, item.outcomeTimestamp)
        reason = item.overrideReason.model_dump(mode="json", exclude_none=True) if item.overrideReason else None
        accepted = [s.id for s in item.acceptedSuggestions or []]
        try:
            with session_scope(pipeline.sessions) as s:
                exists = s.scalar(select(Feedback.id).where(Feedback.card_uuid == key[0], Feedback.outcome == key[1],
                                                            Feedback.outcome_timestamp == key[2]))
                if exists is not None:
                    continue
                s.add(Feedback(card_uuid=item.card, service_id=service_id, outcome=item.outcome,
                               outcome_timestamp=item.outcomeTimestamp, accepted_suggestions=accepted,
                               override_reason=reason))
                s.flush()
                served = s.scalars(select(CardServed).where(CardServed.card_uuid == item.card)).first()
                # Feedback belongs to the service that served the card (spec §1.7: {id}/feedback):
                # a card of another service is not joined, and the mismatch is named for review.
                card = served if served is not None and served.service_id == service_id else None
                detail: dict[str, Any] = {
                    "card_uuid": item.card, "service": service_id, "outcome": item.outcome,
                    "outcomeTimestamp": item.outcomeTimestamp, "acceptedSuggestions": accepted,
                    "overrideReason": audit.override_reason_detail(reason), "known_card": card is not None}
                if served is not None and card is None:
                    detail["card_served_by"] = served.service_id
                audit.record(s, audit.FeedbackReceived(
                    actor=caller.actor, actor_kind="jwt" if caller.iss else "http",
                    patient_id=card.patient_id if card else None, report_key=card.report_key if card else None,
                    detail=detail,
                ))
                new += 1
        except IntegrityError:  # another replica stored the same item first
            continue
    return new
