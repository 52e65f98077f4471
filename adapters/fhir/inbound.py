"""FHIR R4 DiagnosticReport (alone or in a Bundle) -> RadiologyReport.

The structure is checked with fhir.resources' R4B models (the nearest to R4 4.0.1 the
library ships, see spec §3), after R5-only elements are set aside so that R5 senders
are tolerated. What fhir.resources does not check (required code bindings, strict
base64) is checked here. Any fault becomes a FhirInputError naming its place.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any, get_args

from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from pydantic import TypeAdapter, ValidationError
from striprtf.striprtf import rtf_to_text as _striprtf

from adapters.fhir import codes
from adapters.fhir.errors import FhirInputError, Issue, IssueCode
from adapters.sections import HEADINGS, report_fields
from models.types import RadiologyReport, ReportStatus

__all__ = ["ANALYZE_PARAMETERS", "AnalyzeInput", "analyze_parameters", "bundle_index", "reports_from_resource",
           "report_from_diagnostic_report", "html_to_text", "rtf_to_text", "canonical_hash", "subject_patient_id",
           "contained_patient", "patient_identifiers", "same_patient", "attachment_language", "chosen_language",
           "looks_binary"]

_STATUSES: frozenset[str] = frozenset(get_args(ReportStatus))
_R5_STATUS = {"modified": "amended"}
# Elements R5 added to DiagnosticReport / Attachment; R4B's models reject them, we ignore them.
_R5_ONLY_DR = ("study", "note", "supportingInfo", "composition")
_R5_ONLY_ATTACHMENT = ("height", "width", "frames", "duration", "pages")
_BUNDLE_TYPES = frozenset({"document", "message", "transaction", "transaction-response", "batch",
                           "batch-response", "history", "searchset", "collection"})
# FHIR base64Binary: base64 alphabet with optional white space (R4 regex `(\s*([0-9a-zA-Z\+\=]){4}\s*)+`
# plus '/', which the regex forgets but every encoder emits).
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
_DATETIME = TypeAdapter(datetime)
# LOINC 59776-5 "Procedure findings Narrative": what several EHRs code the findings Observation with.
_LOINC_PROCEDURE_FINDINGS = "59776-5"


def canonical_hash(resource: dict[str, Any]) -> str:
    """sha256 of the resource's canonical JSON (sorted keys, no white space)."""
    raw = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def reports_from_resource(resource: dict[str, Any], *, textless: Collection[str] = ()) -> list[RadiologyReport]:
    """The radiology reports in a DiagnosticReport or a Bundle of them (other entries are skipped).

    `textless`: statuses whose reports are returned without text when they hold none (see
    report_from_diagnostic_report), so a caller can refuse them for their status.
    """
    if not isinstance(resource, dict):
        raise FhirInputError("The body is not a FHIR resource (a JSON object).", code="structure")
    kind = resource.get("resourceType")
    if kind == "DiagnosticReport":
        return [report_from_diagnostic_report(resource, textless=textless)]
    if kind == "Bundle":
        return _reports_from_bundle(resource, textless=textless)
    if kind == "Parameters":
        return _reports_from_parameters(resource, textless=textless)
    if kind is None:
        raise FhirInputError(Issue(code="required", expression="resourceType", diagnostics="resourceType is missing"))
    shown = kind if isinstance(kind, str) and len(kind) <= 64 and kind.isalnum() else "(not a resource type)"
    raise FhirInputError(Issue(code="not-supported", expression="resourceType",
                               diagnostics=f"Expected a DiagnosticReport or a Bundle of them, got {shown}"))


def _reports_from_parameters(params: dict[str, Any], *, textless: Collection[str] = ()) -> list[RadiologyReport]:
    """`$analyze` called the way FHIR operations are (a Parameters body): the resource parameters' reports.

    A generic FHIR client POSTs a Parameters resource to an operation; each parameter
    that carries a DiagnosticReport or a Bundle (whatever its name) is read as if sent alone.
    """
    items = params.get("parameter")
    if not isinstance(items, list):
        raise FhirInputError(Issue(code="required", expression="Parameters.parameter",
                                   diagnostics="Parameters holds no parameter"))
    reports: list[RadiologyReport] = []
    issues: list[Issue] = []
    found = False
    for i, item in enumerate(items):
        res = item.get("resource") if isinstance(item, dict) else None
        if not isinstance(res, dict) or res.get("resourceType") not in ("DiagnosticReport", "Bundle"):
            continue
        found = True
        try:
            reports += reports_from_resource(res, textless=textless)
        except FhirInputError as exc:
            where = f"Parameters.parameter[{i}].resource"
            issues += [i_.model_copy(update={"expression": _under(where, i_.expression)}) for i_ in exc.issues]
    if issues:
        raise FhirInputError(issues)
    if not found:
        raise FhirInputError(Issue(code="required", expression="Parameters.parameter",
                                   diagnostics="no parameter holds a DiagnosticReport or a Bundle"))
    return reports


ANALYZE_PARAMETERS = frozenset({"resource", "tasks"})
"""The in-parameters of `$analyze` (adapters/fhir/capability.py, OperationDefinition)."""


@dataclass(frozen=True)
class AnalyzeInput:
    """What a Parameters body asks of `$analyze` besides its reports."""

    tasks: str | None
    """The `tasks` valueString(s), comma-joined; None when not given."""
    unknown: list[Issue]
    """Parameters the operation does not define: ignored, or refused under `Prefer: handling=strict`."""


def analyze_parameters(params: dict[str, Any]) -> AnalyzeInput:
    """The `tasks` and unknown parameters of a Parameters body; FhirInputError for a defined one of the wrong type.

    FHIR operations: each parameter has the type its OperationDefinition gives. `resource` is a
    Resource, carried in `parameter.resource`: a `valueReference` would have to be fetched from a
    server the caller did not name (and the door fetches nothing), a `value[x]` is no resource.
    `tasks` is a string (`valueString`). A parameter with another name is named in `unknown`.
    """
    items = params.get("parameter")
    if not isinstance(items, list):
        return AnalyzeInput(None, [])  # reports_from_resource names the fault
    tasks: list[str] = []
    issues: list[Issue] = []
    unknown: list[Issue] = []
    for i, item in enumerate(items):
        where = f"Parameters.parameter[{i}]"
        if not isinstance(item, dict):
            issues.append(Issue(code="structure", expression=where, diagnostics="a parameter must be an object"))
            continue
        name = item.get("name")
        values = [k for k in item if k.startswith("value")]
        if not isinstance(name, str) or not name.strip():
            issues.append(Issue(code="required", expression=f"{where}.name", diagnostics="a parameter needs a name"))
        elif name == "resource" and not isinstance(item.get("resource"), dict):
            if "valueReference" in item:
                issues.append(Issue(code="not-supported", expression=f"{where}.valueReference",
                                    diagnostics="a resource by reference is not fetched: send it in parameter.resource"))
            else:
                issues.append(Issue(code="value", expression=where,
                                    diagnostics="parameter 'resource' carries a resource (parameter.resource)"))
        elif name == "tasks":
            value = item.get("valueString")
            if not isinstance(value, str) or values != ["valueString"] or "resource" in item:
                issues.append(Issue(code="value", expression=where,
                                    diagnostics="parameter 'tasks' is a string (valueString)"))
            else:
                tasks.append(value)
        elif name not in ANALYZE_PARAMETERS:
            shown = name if len(name) <= 64 and name.isprintable() else "(a name)"
            unknown.append(Issue(code="not-supported", expression=f"{where}.name",
                                 diagnostics=f"$analyze has no parameter '{shown}'"))
    if issues:
        raise FhirInputError(issues)
    return AnalyzeInput(",".join(tasks) if tasks else None, unknown)


def _under(prefix: str, expression: str | None) -> str:
    """An issue's expression re-rooted under the parameter that held the resource."""
    if not expression:
        return prefix
    head, dot, rest = expression.partition(".")
    return f"{prefix}.{rest}" if dot and head in ("DiagnosticReport", "Bundle") else f"{prefix}.{expression}"


_MAX_BUNDLE_DEPTH = 3
"""Bundles inside Bundles read this deep (a batch-response of searchsets needs 1)."""


def _reports_from_bundle(bundle: dict[str, Any], depth: int = 0, *,
                        textless: Collection[str] = ()) -> list[RadiologyReport]:
    issues: list[Issue] = []
    btype = bundle.get("type")
    if btype is None:
        issues.append(Issue(code="required", expression="Bundle.type", diagnostics="Bundle.type is required"))
    elif btype not in _BUNDLE_TYPES:
        issues.append(Issue(code="value", expression="Bundle.type", diagnostics="Bundle.type is not a bundle-type code"))
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        issues.append(Issue(code="structure", expression="Bundle.entry", diagnostics="Bundle.entry must be an array"))
        entries = []
    index = bundle_index(bundle)
    reports: list[RadiologyReport] = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            issues.append(Issue(code="structure", expression=where, diagnostics="a Bundle entry must be an object"))
            continue
        res = entry.get("resource")
        if res is None:
            continue
        if not isinstance(res, dict):
            issues.append(Issue(code="structure", expression=f"{where}.resource", diagnostics="must be a resource"))
            continue
        if res.get("resourceType") == "Bundle" and depth < _MAX_BUNDLE_DEPTH:
            # A batch-response (or a message) carries its search results as Bundles in entries.
            try:
                reports += _reports_from_bundle(res, depth + 1, textless=textless)
            except FhirInputError as exc:
                issues += [i.model_copy(update={"expression": _under(f"{where}.resource", i.expression)})
                           for i in exc.issues]
            continue
        if res.get("resourceType") != "DiagnosticReport":
            continue
        try:
            reports.append(report_from_diagnostic_report(res, path=f"{where}.resource", index=index,
                                                         textless=textless))
        except FhirInputError as exc:
            issues.extend(exc.issues)
    if issues:
        raise FhirInputError(issues)
    return reports


def bundle_index(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A Bundle's resources by fullUrl and by `Type/id`, to resolve references between entries.

    A search Bundle with `_include=DiagnosticReport:result` carries the report's
    Observations beside it; `result` references reach them through this index.
    """
    index: dict[str, dict[str, Any]] = {}
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            res = entry["resource"]
            if isinstance(entry.get("fullUrl"), str):
                index[entry["fullUrl"]] = res
            if isinstance(res.get("resourceType"), str) and isinstance(res.get("id"), str):
                index[f"{res['resourceType']}/{res['id']}"] = res
    return index


def report_from_diagnostic_report(
    dr: dict[str, Any], *, path: str = "DiagnosticReport", index: dict[str, dict[str, Any]] | None = None,
    ignore_unknown: bool = False, textless: Collection[str] = (),
) -> RadiologyReport:
    """One DiagnosticReport -> RadiologyReport; `index` resolves references inside a Bundle.

    `ignore_unknown`: elements R4 does not define are ignored instead of refused (FHIR R4
    JSON rules let a reader do either). The CDS Hooks door reads an EHR's prefetch this way:
    a report the clinician should see is never dropped for a vendor's extra element. The
    `$analyze` door refuses them, so a sender learns its resource is not R4.

    `textless`: statuses that need no text (FHIR R4: `registered` has "nothing yet available", a
    `cancelled` exam was not done, `entered-in-error` should not exist). A report of such a status
    whose text cannot be had is read without sections instead of refused for its text, so the
    caller answers with the real reason, its status.
    """
    if not isinstance(dr, dict) or dr.get("resourceType") != "DiagnosticReport":
        raise FhirInputError(Issue(code="invalid", expression=path, diagnostics="not a DiagnosticReport"))
    r4 = _as_r4(dr)
    issues = _base64_issues(r4, path)
    issues += _structure_issues(r4, path, skip={i.expression for i in issues}, ignore_unknown=ignore_unknown)
    issues += [i for i in _modifier_issues(r4, path) if i.expression not in {j.expression for j in issues}]
    status = r4.get("status")
    if isinstance(status, str) and status not in _STATUSES:
        issues.append(Issue(code="value", expression=f"{path}.status",
                            diagnostics="status is not a diagnostic-report-status code"))
    if issues:
        raise FhirInputError(issues)
    index = index or {}
    try:
        sections = _text_sections(r4, path, index)
    except FhirInputError:
        if status not in textless:
            raise
        sections = {}
    source_hash = canonical_hash(dr)
    identifiers = [i for i in r4.get("identifier", []) if isinstance(i.get("value"), str)]
    accession = _accession(identifiers)
    report_id = r4.get("id") or (identifiers[0]["value"] if identifiers else f"fhir-{source_hash[:16]}")
    code = r4.get("code", {})
    codings = [c for c in code.get("coding", []) if isinstance(c, dict)]
    procedure = code.get("text") or next((c["display"] for c in codings if c.get("display")), None)
    procedure = procedure or sections.pop("procedure", None)
    effective = r4.get("effectiveDateTime") or (r4.get("effectivePeriod") or {}).get("start")
    return RadiologyReport(
        report_id=report_id,
        patient_id=subject_patient_id(r4.get("subject"), index, r4.get("contained")),
        accession=accession,
        modality=_modality(r4),
        procedure=procedure,
        procedure_code=next((c["code"] for c in codings if c.get("code")), None),
        status=status,
        effective=_when(effective),
        issued=_when(r4.get("issued")),
        findings=sections.get("findings"),
        impression=sections.get("impression"),
        addendum=sections.get("addendum"),
        source_format="fhir",
        source_hash=source_hash,
    )


# ---- structure -------------------------------------------------------------------------


def _as_r4(dr: dict[str, Any]) -> dict[str, Any]:
    """A copy without nulls (the models take null as absent), R5-only elements and R5 status codes."""
    out = {k: v for k, v in _without_nulls(dr).items() if k not in _R5_ONLY_DR}
    if isinstance(out.get("status"), str):
        out["status"] = _R5_STATUS.get(out["status"], out["status"])
    forms = out.get("presentedForm")
    if isinstance(forms, list):
        out["presentedForm"] = [
            {k: v for k, v in f.items() if k not in _R5_ONLY_ATTACHMENT} if isinstance(f, dict) else f for f in forms
        ]
    return out


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value if v is not None]
    return value


def _base64_issues(dr: dict[str, Any], path: str) -> list[Issue]:
    """Strict base64 check: the library's decoder drops stray characters and could decode garbage."""
    forms = dr.get("presentedForm")
    if not isinstance(forms, list):
        return []
    issues = []
    for i, form in enumerate(forms):
        data = form.get("data") if isinstance(form, dict) else None
        if isinstance(data, str) and _decode_base64(data) is None:
            issues.append(Issue(code="value", expression=f"{path}.presentedForm[{i}].data",
                                diagnostics="presentedForm data is not valid base64"))
    return issues


def _decode_base64(data: str) -> bytes | None:
    if not _BASE64.match(data):
        return None
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _structure_issues(dr: dict[str, Any], path: str, skip: set[str | None], *,
                      ignore_unknown: bool = False) -> list[Issue]:
    try:
        DiagnosticReport.model_validate(dr)
    except ValidationError as exc:
        issues, skipped = [], False
        for err in exc.errors(include_input=False, include_url=False):
            where = _fhirpath(path, err.get("loc", ()))
            kind = str(err.get("type", ""))
            if where in skip or (ignore_unknown and "extra" in kind):
                skipped = True
                continue
            code: IssueCode = "required" if "missing" in kind else "structure" if "extra" in kind else "value"
            msg = "unknown element" if code == "structure" else str(err.get("msg", "invalid"))[:200]
            issues.append(Issue(code=code, expression=where, diagnostics=msg))
        if issues or skipped:
            return issues
        return [Issue(code="invalid", expression=path, diagnostics="not a valid DiagnosticReport")]
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
        # fhir.resources raises plain errors on some malformed shapes (e.g. non-string keys).
        return [Issue(code="structure", expression=path, diagnostics=f"not a valid DiagnosticReport ({type(exc).__name__})")]
    return []


def _modifiers(value: Any, where: str = "") -> list[str]:
    """Paths (relative, FHIRPath-like) of every non-empty `modifierExtension` in a resource, walked without recursion."""
    found: list[str] = []
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, dict):
            if item.get("modifierExtension"):
                found.append(f"{at}.modifierExtension" if at else "modifierExtension")
            stack.extend((v, f"{at}.{k}" if at else k) for k, v in item.items()
                         if k != "modifierExtension" and isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(item) if isinstance(v, dict | list))
    return sorted(found)


def _modifier_issues(dr: dict[str, Any], path: str) -> list[Issue]:
    """A modifier extension anywhere in the report (contained resources too) is refused, naming where.

    FHIR R4 extensibility: a modifier extension changes the meaning of the element that holds it
    (a negation, "not for clinical use", a different subject), and an application that does not
    know it SHALL NOT process the element as if it were not there. None is known here, so such a
    report is never read as if plain (the CDS hook sets it aside, `$analyze` refuses it).
    """
    return [Issue(code="not-supported", expression=f"{path}.{where}",
                  diagnostics="a modifierExtension changes the meaning of this report and none is understood "
                              "here (FHIR R4 extensibility): the report is not read")
            for where in _modifiers(dr)[:5]]


def _fhirpath(base: str, loc: tuple[Any, ...]) -> str:
    out = base
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part.removesuffix('__ext')}"
    return out


# ---- text --------------------------------------------------------------------------------


def _text_sections(dr: dict[str, Any], path: str, index: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Findings/impression/addendum (and an EXAM: procedure) from the best text source.

    Order: presentedForm text/plain, then text/html; the findings and impression
    Observations in `result`; the narrative text.div; `conclusion` fills a missing impression.
    """
    text, issues = _presented_text(dr, path)
    out: dict[str, str] = {}
    if text is not None:
        out = report_fields(text)
    if not out.get("findings") and not out.get("impression"):
        out = _observation_sections(dr, index) or out
    if not out.get("findings") and not out.get("impression"):
        div = (dr.get("text") or {}).get("div")
        if isinstance(div, str):
            out = report_fields(html_to_text(div))
    conclusion = dr.get("conclusion")
    if not out.get("impression") and isinstance(conclusion, str) and conclusion.strip():
        out["impression"] = conclusion.strip()
        # An unheaded text that ends with the conclusion would otherwise repeat it in the findings.
        findings = out.get("findings", "").rstrip()
        if findings.endswith(out["impression"]):
            out["findings"] = findings[: -len(out["impression"])].rstrip()
            if not out["findings"]:
                del out["findings"]
    if not out.get("findings") and not out.get("impression"):
        raise FhirInputError(issues or [Issue(
            code="required", expression=f"{path}.presentedForm",
            diagnostics="no report text: none in presentedForm, result Observations, text.div or conclusion")])
    return out


def _presented_text(dr: dict[str, Any], path: str) -> tuple[str | None, list[Issue]]:
    """The report text of presentedForm, and why each attachment not read was not.

    Of the renditions (plain, html, rtf) the simplest faithful one is read. Attachments in several
    languages (Attachment.language; an untagged one is in the report's own DiagnosticReport.language)
    are translations of one report: English (the language the rules and models read), else the report's
    language, else untagged text, else the first language met is read, never two languages run together.
    Attachments of the chosen rendition and language that differ (a report and its addendum sent as two
    attachments) are all read, in order, each once: nothing the radiologist wrote is dropped.
    """
    forms = dr.get("presentedForm") or []
    issues: list[Issue] = []
    found: list[tuple[str, str | None, str]] = []
    base = _language(dr.get("language"))
    for i, form in enumerate(forms):
        media, params = _content_type(form.get("contentType"))
        kind = "plain" if media in ("text/plain", "text/markdown") else "html" if media in (
            "text/html", "application/xhtml+xml") else "rtf" if media in _RTF_MEDIA else None
        if not media and isinstance(form.get("data"), str):
            issues.append(Issue(code="required", expression=f"{path}.presentedForm[{i}].contentType",
                                diagnostics="attachment data without a contentType (att-1)"))
            continue
        if kind is None:
            # Reported only when no other source has text: PDF and RTF need extractors we do not ship.
            issues.append(Issue(code="not-supported", expression=f"{path}.presentedForm[{i}].contentType",
                                diagnostics="only text/plain, text/html and text/rtf report text is read"))
            continue
        data = form.get("data")
        if not isinstance(data, str):
            if form.get("url"):
                issues.append(Issue(code="not-supported", expression=f"{path}.presentedForm[{i}].url",
                                    diagnostics="attachments by url are not fetched; send the data inline"))
            continue
        raw = _decode_base64(data) or b""
        if kind != "rtf" and looks_binary(raw, form.get("contentType")):
            # Declared text, but the bytes are a PDF, an image or a word-processor file: never read.
            issues.append(Issue(code="not-supported", expression=f"{path}.presentedForm[{i}].data",
                                diagnostics="presentedForm data declared as text is not text (binary content)"))
            continue
        if kind == "rtf":
            if not raw.lstrip().startswith(b"{\\rtf"):  # never read other bytes (a PDF, say) as text
                issues.append(Issue(code="not-supported", expression=f"{path}.presentedForm[{i}].contentType",
                                    diagnostics="text/rtf data that is not RTF ({\\rtf...) is not read"))
                continue
            # RTF is 7-bit: its own \ansicpg (or \u escapes) says how bytes map to characters.
            text = rtf_to_text(raw.decode("latin-1"))
            if text.strip():
                found.append((kind, _language(form.get("language")) or base, text))
            continue
        declared = params.get("charset", "").strip("\"'").lower()
        charset = declared or "utf-8"
        try:
            codecs.lookup(charset)
        except LookupError:
            issues.append(Issue(code="not-supported", expression=f"{path}.presentedForm[{i}].contentType",
                                diagnostics="unknown charset"))
            continue
        try:
            text = raw.decode("utf-8-sig" if codecs.lookup(charset).name == "utf-8" else charset)
        except UnicodeDecodeError:
            if declared:
                issues.append(Issue(code="value", expression=f"{path}.presentedForm[{i}].data",
                                    diagnostics=f"presentedForm data is not valid {charset} text"))
                continue
            # No charset declared and not UTF-8: Windows-1252 is what such senders write (as in
            # HL7 v2 feeds); a declared charset is taken at its word and never second-guessed.
            text = raw.decode("cp1252", errors="replace")
        if media == "text/markdown":
            text = _unmark(text)
        text = text if kind == "plain" else html_to_text(text)
        if not text.strip():
            continue  # an empty rendition: another attachment (or source) may hold the text
        found.append((kind, _language(form.get("language")) or base, text))
    if not found:
        return None, issues
    wanted = _chosen_language({lang for _, lang, _ in found}, base, found[0][1])
    for kind in ("plain", "html", "rtf"):  # the simplest faithful rendition first
        texts = [t for k, lang, t in found if k == kind and lang == wanted]
        if texts:
            # the same text sent twice (once tagged, once not; CRLF and LF) is read once
            distinct: dict[str, str] = {}
            for t in texts:
                distinct.setdefault(" ".join(t.split()), t.strip())
            return "\n\n".join(distinct.values()), issues
    return None, issues


def attachment_language(form: Any, dr: dict[str, Any]) -> str | None:
    """The language an attachment is in, as presentedForm is read: its own tag, else the report's, else None."""
    tag = form.get("language") if isinstance(form, dict) else None
    return _language(tag) or _language(dr.get("language"))


def chosen_language(present: set[str | None], dr: dict[str, Any], first: str | None) -> str | None:
    """The language of presentedForm that is read (see _presented_text): English, the report's, untagged, first."""
    return _chosen_language(present, _language(dr.get("language")), first)


def _language(tag: Any) -> str | None:
    """The primary language subtag of a BCP 47 tag (`en-US` -> `en`), None when there is none."""
    if not isinstance(tag, str) or not tag.strip():
        return None
    return tag.strip().split("-")[0].split("_")[0].lower()


def _chosen_language(present: set[str | None], report: str | None, first: str | None) -> str | None:
    """Which language of presentedForm is read: English, else the report's, else untagged, else the first met."""
    for choice in ("en", report):
        if choice is not None and choice in present:
            return choice
    return None if None in present else first


_RTF_MEDIA = frozenset({"text/rtf", "application/rtf"})
_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"II*\x00", b"MM\x00*")
"""Signatures of documents no text rendition is: PDF, PNG, JPEG, GIF, ZIP (DOCX), OLE (DOC), TIFF."""


def looks_binary(raw: bytes, *content_types: Any) -> bool:
    """Bytes that are not text (a PDF, an image, a word-processor file), whatever type they were given.

    A sender may label any bytes text/plain; decoded anyway they would become report text full of
    stray characters, read by the models as if written by the radiologist. NUL bytes mark binary
    content, except in UTF-16/32 text (named by a BOM or a charset) and a C string's terminating NULs.
    """
    if raw.lstrip().startswith(_MAGIC):
        return True
    wide = raw.startswith((b"\xff\xfe", b"\xfe\xff")) or any(
        isinstance(t, str) and ("utf-16" in t.lower() or "utf-32" in t.lower()) for t in content_types)
    return not wide and b"\x00" in raw.rstrip(b"\x00")[:8192]


def rtf_to_text(rtf: str) -> str:
    """Plain text of an RTF document (what EHRs such as Epic put in presentedForm as text/rtf).

    striprtf skips the destinations that hold no report text (font and colour tables,
    pictures, `{\\*...}` groups), follows `\\ansicpg`, per-font charsets and `\\ucN`, and ends
    lines at paragraph marks; undecodable bytes are dropped rather than refused. A non-breaking
    space (`\\~`) is a plain space in report text.
    """
    return str(_striprtf(rtf, errors="ignore")).replace("\xa0", " ").strip()


def _unmark(text: str) -> str:
    """Markdown emphasis and heading markers removed, so '**FINDINGS:**' is seen as a heading.

    ATX headings are treated as html_to_text treats <h1>-<h6>: one naming a section becomes
    'Name:', a leading one that does not (the exam title) is dropped.
    """
    out: list[str] = []
    for line in re.sub(r"(\*\*|__)", "", text).splitlines():
        m = re.match(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)[ \t#]*$", line)
        if not m:
            out.append(line)
            continue
        title = m.group(1).strip()
        if title.rstrip(":").strip().lower() in HEADINGS:
            out.append(title if title.endswith(":") else f"{title}:")
        elif any(o.strip() for o in out):
            out.append(title)
    return "\n".join(out)


def _content_type(value: Any) -> tuple[str, dict[str, str]]:
    if not isinstance(value, str):
        return "", {}
    media, *rest = value.split(";")
    params = {}
    for p in rest:
        key, _, val = p.partition("=")
        params[key.strip().lower()] = val.strip()
    return media.strip().lower(), params


_NO_RESULT = frozenset({"registered", "cancelled", "entered-in-error"})
"""Observation statuses that hold no result (FHIR R4 observation-status): "no result yet available", "the
observation was not done", "should not have existed". Such an Observation's value is never report text."""


def _same_subject(obs: dict[str, Any], dr: dict[str, Any], index: dict[str, dict[str, Any]]) -> bool:
    """Whether a result Observation is about the report's subject (or names none, as contained ones often do).

    Patient safety: an Observation a Bundle includes (or a report contains) about another patient is
    never read as this report's text. The same reference, or the same resolved Patient id, is the same subject.
    """
    subject = obs.get("subject")
    if subject is None:
        return True
    if subject == dr.get("subject"):
        return True
    # `#pt` is resolved in the container (FHIR R4 §2.3): a contained Observation's in the report's own
    # `contained`, an Observation of the Bundle in its own.
    siblings = dr.get("contained")
    inside = isinstance(siblings, list) and any(c is obs for c in siblings)
    mine = subject_patient_id(dr.get("subject"), index, siblings)
    return mine is not None and subject_patient_id(subject, index, siblings if inside else obs.get("contained")) == mine


def _observation_sections(dr: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, str]:
    contained = {f"#{c['id']}": c for c in dr.get("contained", []) if isinstance(c.get("id"), str)}
    parts: dict[str, list[str]] = {}
    wanted = {codes.LOINC_FINDINGS: "findings", _LOINC_PROCEDURE_FINDINGS: "findings",
              codes.LOINC_IMPRESSION: "impression", codes.LOINC_ADDENDUM: "addendum"}
    for ref in dr.get("result", []):
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str):
            continue
        # A versioned reference (`Observation/1/_history/2`, FHIR references) names the same resource.
        target = target.strip().split("/_history/")[0]
        obs = contained.get(target) or index.get(target) or index.get("/".join(target.split("/")[-2:]))
        if not obs or obs.get("resourceType") != "Observation" or not isinstance(obs.get("valueString"), str) \
                or _modifiers(obs):  # its meaning is changed in a way we do not know: never read as report text
            continue
        if obs.get("status") in _NO_RESULT or not _same_subject(obs, dr, index):
            continue  # no result to read (FHIR R4 observation-status), or about someone else: never this report
        for c in (obs.get("code") or {}).get("coding", []):
            if isinstance(c, dict) and c.get("system") == codes.LOINC and c.get("code") in wanted:
                parts.setdefault(wanted[c["code"]], []).append(obs["valueString"].strip())
                break
    return {k: "\n".join(v) for k, v in parts.items() if any(v)}


class _TextExtractor(HTMLParser):
    """XHTML -> text lines: block elements end lines, <br/> breaks them, headings are marked.

    The standard library's parser is enough here: narrative is well-formed XHTML and we
    only need its text and line structure, not a DOM.
    """

    _BLOCK = frozenset({"p", "div", "li", "tr", "table", "ul", "ol", "pre", "blockquote", "section",
                        "h1", "h2", "h3", "h4", "h5", "h6", "hr", "dt", "dd", "caption", "thead", "tbody"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[str, bool]] = []
        self._buf: list[str] = []
        self._heading = 0
        self._skip = 0
        self._pre = 0

    def _flush(self) -> None:
        text = "".join(self._buf)
        text = text if self._pre else re.sub(r"\s+", " ", text)
        for ln in text.split("\n"):
            if ln.strip():
                self.lines.append((ln.strip(), self._heading > 0))
        self._buf = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "br":
            self._buf.append("\n" if self._pre else "\x00")
        elif tag in self._BLOCK:
            self._flush_with_breaks()
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self._heading += 1
            if tag == "pre":
                self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self._flush_with_breaks()
            if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
                self._heading = max(0, self._heading - 1)
            if tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._buf.append(data)

    def _flush_with_breaks(self) -> None:
        # <br/> was kept as \x00 so white-space collapsing cannot eat it; now it ends a line.
        pieces = "".join(self._buf).split("\x00")
        for piece in pieces:
            self._buf = [piece]
            self._flush()
        self._buf = []

    def close(self) -> None:
        super().close()
        self._flush_with_breaks()


def html_to_text(markup: str) -> str:
    """Plain text of (X)HTML narrative, one line per block or <br/>.

    Leading headings that are not section headings (the exam title) are dropped; a
    heading naming a section ("Findings") becomes "Findings:" so the section splitter sees it.
    """
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    out: list[str] = []
    for text, is_heading in parser.lines:
        name = text.rstrip(":").strip().lower()
        if is_heading and name in HEADINGS:
            out.append(text if text.endswith(":") else f"{text}:")
        elif is_heading and not out:
            continue
        else:
            out.append(text)
    return "\n".join(out)


# ---- identity, patient, modality, time -------------------------------------------------


def _accession(identifiers: list[dict[str, Any]]) -> str | None:
    for ident in identifiers:
        typ = ident.get("type") or {}
        if any(isinstance(c, dict) and c.get("code") == "ACSN" for c in typ.get("coding", [])):
            return ident["value"]
    for ident in identifiers:
        if "accession" in str(ident.get("system", "")).lower():
            return ident["value"]
    return identifiers[0]["value"] if identifiers else None


_PATIENT_REF = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def subject_patient_id(subject: Any, index: dict[str, dict[str, Any]], contained: Any = None) -> str | None:
    """The patient a `subject` reference names: its `Patient/<id>`, a Bundle entry's id, or a contained Patient.

    `contained`: the `contained` list of the resource the reference is in. A contained Patient (`#pt`)
    has no id of its own (FHIR R4 §2.3: a contained id is local to its container, never a Patient's
    logical id, so it is never taken as one); it is named by its medical record number, see
    contained_patient_id.
    """
    if not isinstance(subject, dict) or not isinstance(subject.get("reference"), str):
        return None
    ref = subject["reference"].strip()
    if ref.startswith("#"):
        return contained_patient_id(contained_patient(ref, contained))
    m = _PATIENT_REF.search(ref)
    if m:
        return m.group(1)
    target = index.get(ref)
    if target and target.get("resourceType") == "Patient" and isinstance(target.get("id"), str):
        return target["id"]
    return None


def contained_patient(ref: Any, contained: Any) -> dict[str, Any] | None:
    """The contained Patient a local reference (`#pt`) points at, None for anything else."""
    if not isinstance(ref, str) or not ref.startswith("#") or not isinstance(contained, list):
        return None
    found = next((c for c in contained if isinstance(c, dict) and c.get("id") == ref[1:]), None)
    return found if found is not None and found.get("resourceType") == "Patient" else None


_ID_RANK = {"MR": 0, "MRN": 1, "PI": 2, "PT": 3, "PN": 4}
"""Identifier types (HL7 v2-0203) that key a patient record, most preferred first, as PID-3 is read."""
_NOT_A_PATIENT_KEY = frozenset({"SS", "SSN", "DL", "PPN", "NPI", "DN", "MCN", "MC", "MA", "HC", "AN", "VN"})
"""National, licence, insurance, account and visit numbers: about the person or a visit, never the patient id."""


def patient_identifiers(patient: Any) -> list[tuple[str | None, str, str]]:
    """A Patient's usable identifiers as (system, value, v2-0203 type code), in the order given.

    Old identifiers (`use: old`, FHIR R4: no longer valid) and blank values are left out.
    """
    out: list[tuple[str | None, str, str]] = []
    idents = patient.get("identifier") if isinstance(patient, dict) else None
    for ident in idents if isinstance(idents, list) else []:
        if not isinstance(ident, dict) or ident.get("use") == "old":
            continue
        value = ident.get("value")
        if not isinstance(value, str) or not value.strip():
            continue
        typ = ident.get("type")
        codings = typ.get("coding") if isinstance(typ, dict) else None
        kind = next((str(c.get("code")).upper() for c in codings if isinstance(c, dict) and c.get("code")), "") \
            if isinstance(codings, list) else ""
        system = ident.get("system") if isinstance(ident.get("system"), str) else None
        out.append((system, value.strip(), kind))
    return out


def same_patient(one: Any, other: Any) -> bool:
    """Whether two Patient resources share an identifier: the same `system` and `value` (neither blank).

    The patient matching a contained Patient (which has no logical id) allows: an identifier without a
    system names no record for sure (an MRN of one hospital may be another's), so it never matches.
    """
    mine = {(system, value) for system, value, _kind in patient_identifiers(one) if system and system.strip()}
    return bool(mine & {(system, value) for system, value, _kind in patient_identifiers(other) if system})


def contained_patient_id(patient: dict[str, Any] | None) -> str | None:
    """The id a contained Patient is known by: its medical record number (as HL7 PID-3 is read).

    Identifiers are ranked by type (MR, then the other patient-record types, then untyped ones);
    national, licence, insurance and visit numbers never name the patient. None when no identifier
    does: the report then has no patient, and the CDS hook sets it aside as not the hook's patient.
    """
    ranked = [(_ID_RANK.get(kind, 5), n, value) for n, (_system, value, kind) in enumerate(patient_identifiers(patient))
              if kind not in _NOT_A_PATIENT_KEY]
    return min(ranked)[2] if ranked else None


_V2_0074 = {"CT": "CT", "NMR": "MR", "MR": "MR", "MRI": "MR", "RUS": "US", "US": "US", "VUS": "US", "OUS": "US",
            "CUS": "US", "MG": "MG", "NMS": "NM", "PET": "PT", "PT": "PT", "CR": "CR", "DX": "DX"}
_DICOM = frozenset({"CT", "MR", "US", "MG", "CR", "DX", "PT", "NM", "XA", "RF", "OT"})
# Words in procedure names, most specific first: PET/CT is PET, "MG ... W/ US" is mammography.
_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("PT", frozenset({"PET", "PT"})),
    ("MG", frozenset({"MG", "MAMMO", "MAMMOGRAM", "MAMMOGRAPHY", "TOMOSYNTHESIS"})),
    ("CT", frozenset({"CT", "CTA", "CAT"})),
    ("MR", frozenset({"MR", "MRI", "MRA", "MRCP"})),
    ("US", frozenset({"US", "ULTRASOUND", "SONOGRAPHY", "SONOGRAM", "DOPPLER", "ECHO"})),
    ("CR", frozenset({"CR"})),
    ("DX", frozenset({"DX"})),
    ("XR", frozenset({"XR", "RADIOGRAPH", "RADIOGRAPHY", "XRAY", "RX"})),
)


def _modality(dr: dict[str, Any]) -> str | None:
    """DICOM modality from coded category/code, else from words of the procedure name."""
    concepts = [dr.get("code") or {}, *(dr.get("category") or [])]
    for cc in concepts:
        for c in cc.get("coding", []) if isinstance(cc, dict) else []:
            if not isinstance(c, dict):
                continue
            if c.get("system") == codes.DICOM_DCM and c.get("code") in _DICOM:
                return c["code"]
            if c.get("system") == codes.V2_0074 and c.get("code") in _V2_0074:
                return _V2_0074[c["code"]]
    texts = []
    for cc in concepts:
        if isinstance(cc, dict):
            texts.append(str(cc.get("text") or ""))
            texts += [str(c.get("display") or "") for c in cc.get("coding", []) if isinstance(c, dict)]
    words = set(re.findall(r"[A-Z]+", " ".join(texts).upper().replace("X-RAY", "XRAY")))
    for modality, cues in _WORDS:
        if words & cues:
            if modality == "XR":
                # Plain radiographs: portable studies are computed radiography (CR) in most
                # departments, fixed-room studies digital radiography (DX).
                return "CR" if "PORTABLE" in words else "DX"
            return modality
    return None


def _when(value: Any) -> datetime | None:
    """FHIR dateTime/instant -> datetime; a partial date (YYYY, YYYY-MM) becomes its first day."""
    if not isinstance(value, str):
        return None
    if re.fullmatch(r"\d{4}", value):
        value += "-01-01"
    elif re.fullmatch(r"\d{4}-\d{2}", value):
        value += "-01"
    try:
        return _DATETIME.validate_python(value)
    except ValidationError:
        return None
