"""Prefetch for CDS Hooks: take what the client sent, fetch what it left out from fhirServer.

Spec §1.4: a key the client omitted is "not fetched" (we may fetch it with the
fhirAuthorization bearer token), a key that is null means "no data" (never fetched).
Search Bundles are followed through their `next` links. When a required key can be
neither had from the request nor fetched, the hook answers 412. Report text given by url
(a Binary) or held in `result` Observations is read the same way. The access token is
never logged and never sent to any origin but fhirServer's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from adapters.cds.models import CdsRequest
from adapters.fhir.inbound import (
    attachment_language,
    bundle_index,
    chosen_language,
    contained_patient,
    looks_binary,
    same_patient,
)

log = logging.getLogger("radlite.fhir_client")

__all__ = ["MAX_PAGES", "PrefetchError", "PrefetchResult", "fetch_results", "inline_attachments", "inline_local",
           "render_template", "resolve_prefetch"]

MAX_PAGES = 10
"""Most Bundle pages followed per prefetch key; a bound so a looping server cannot hold the hook."""

_TOKEN = re.compile(r"\{\{\s*([A-Za-z0-9_.]+)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class PrefetchError(Exception):
    """A required prefetch key could not be had: the hook answers 412 with these keys."""

    def __init__(self, missing: list[str], reasons: dict[str, str]) -> None:
        self.missing = missing
        self.reasons = reasons
        super().__init__(", ".join(f"{k}: {reasons.get(k, 'not available')}" for k in missing))


@dataclass
class PrefetchResult:
    data: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    pages: int = 0


def render_template(template: str, context: dict[str, Any]) -> str | None:
    """The template with its tokens filled from the context, or None when a token has no value.

    Only root-level primitive context fields and the user*Id tokens are allowed (spec §1.4);
    values are URL-encoded so a context value cannot add query parameters.
    """
    missing = False

    def fill(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1)
        value: Any = None
        if name.startswith("context."):
            key = name[len("context."):]
            if "." not in key:
                value = context.get(key)
        elif name in _USER_TOKENS:
            user = str(context.get("userId") or "")
            kind, _, ident = user.partition("/")
            value = ident if kind == _USER_TOKENS[name] and ident else None
        if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
            missing = True
            return ""
        return quote(str(value), safe="")

    out = _TOKEN.sub(fill, template)
    return None if missing else out


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def next_link(bundle: Any) -> str | None:
    """The url of a Bundle's `next` link, if it has a usable one (a string, not empty)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return None
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    return next((lk["url"] for lk in links if isinstance(lk, dict) and lk.get("relation") == "next"
                 and isinstance(lk.get("url"), str) and lk["url"].strip()), None)


def _entries(bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


async def _fetch(client: httpx.AsyncClient, base: str, relative: str, token: str) -> tuple[dict[str, Any], int]:
    """GET base/relative and follow Bundle next links on the same origin; entries are merged."""
    url = urljoin(base.rstrip("/") + "/", relative.lstrip("/"))
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    result: dict[str, Any] | None = None
    pages = 0
    while url and pages < MAX_PAGES:
        if not _same_origin(url, base):  # the bearer token belongs to fhirServer alone
            log.warning("prefetch: next link to another origin ignored")
            break
        resp = await client.get(url, headers=headers)
        pages += 1
        resp.raise_for_status()
        body = resp.json()
        if not isinstance(body, dict) or "resourceType" not in body:
            raise ValueError("fhirServer answered something that is not a FHIR resource")
        if result is None:
            result = body
        elif body.get("resourceType") == "Bundle":
            result["entry"] = _entries(result) + _entries(body)
        if body.get("resourceType") != "Bundle":
            break
        url = next_link(body)
        if url:
            url = urljoin(base.rstrip("/") + "/", url)
    if result is None:
        # The first url was on another origin (a prefetched Bundle's next link): nothing fetched.
        raise ValueError("the url is not on fhirServer's origin")
    if result.get("resourceType") == "Bundle":
        result = {k: v for k, v in result.items() if k != "link"}
    return result, pages


async def resolve_prefetch(
    request: CdsRequest,
    templates: dict[str, str],
    *,
    required: list[str],
    timeout_s: float,
    allow_http: bool = False,
    client: httpx.AsyncClient | None = None,
) -> PrefetchResult:
    """Every template key's data: from the request, else fetched, else absent.

    Raises PrefetchError when a key in `required` ends up absent. A prefetched
    OperationOutcome (the client's fetch failed) counts as absent and is fetched again.
    A prefetched Bundle with a `next` link is completed from fhirServer when we can.
    """
    sent = request.prefetch or {}
    out = PrefetchResult()
    reasons: dict[str, str] = {}
    server = request.fhirServer
    auth = request.fhirAuthorization
    can_fetch = bool(server and auth)
    if server and not allow_http and not server.startswith("https://"):
        can_fetch = False
        reasons_default = "fhirServer is not https"
    else:
        reasons_default = "no fhirServer/fhirAuthorization to fetch it with"
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
    try:
        for key, template in templates.items():
            value: Any = sent[key] if key in sent else ...
            if value is None:  # the client says there is no data: not a reason to fetch
                out.data[key] = None
                continue
            next_url = next_link(value)
            has_next = next_url is not None
            if value is not ... and not _is_outcome(value) and not (has_next and can_fetch):
                out.data[key] = value
                continue
            if not can_fetch:
                if value is not ... and not _is_outcome(value):
                    out.data[key] = value  # an incomplete page is better than nothing
                else:
                    reasons[key] = reasons_default
                continue
            assert server is not None and auth is not None
            try:
                if next_url is not None and isinstance(value, dict):
                    rest, pages = await _fetch(http, server, next_url, auth.access_token)
                    merged = {k: v for k, v in value.items() if k != "link"}
                    merged["entry"] = _entries(value) + _entries(rest)
                    out.data[key] = merged
                else:
                    relative = render_template(template, request.context)
                    if relative is None:
                        reasons[key] = "the template's context token has no value"
                        continue
                    out.data[key], pages = await _fetch(http, server, relative, auth.access_token)
                out.pages += pages
                out.fetched.append(key)
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
                # The exception text may hold the URL (with a patient id): log its type only.
                log.warning("prefetch %s from fhirServer failed: %s", key, type(exc).__name__)
                reasons[key] = _failure(exc)
                if value is not ... and not _is_outcome(value):
                    out.data[key] = value
    finally:
        if own:
            await http.aclose()
    missing = [k for k in required if k not in out.data]
    if missing:
        raise PrefetchError(missing, reasons)
    return out


def _failure(exc: Exception) -> str:
    """Why a fetch from fhirServer failed, for the 412 OperationOutcome: the HTTP status when one came.

    A 401 or 403 is what an expired or too narrow fhirAuthorization token gets (spec §1.5: the token
    is short-lived); naming it tells the integrator what to fix. Never the URL (it holds the patient id).
    """
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status in (401, 403):
            return (f"fhirServer answered {status}: the fhirAuthorization token was refused "
                    "(expired, or its scope does not cover the read)")
        return f"fhirServer answered {status}"
    return f"fhirServer fetch failed ({type(exc).__name__})"


# ---- report text given by url ------------------------------------------------------------------

MAX_ATTACHMENTS = 20
"""Most presentedForm urls fetched per hook (the hook analyses at most 10 reports)."""
MAX_ATTACHMENT_BYTES = 2_000_000
MAX_RESULTS = 40
"""Most `result` Observations fetched per hook: findings and impression are one or two per report."""
_READABLE = ("text/plain", "text/markdown", "text/html", "application/xhtml+xml",
             "text/rtf", "application/rtf")
_UNINFORMATIVE = ("", "application/octet-stream", "binary/octet-stream")
"""Media types a server sends when it does not say what the bytes are: the attachment's own type stands."""

Located = tuple[dict[str, Any], dict[str, dict[str, Any]]]
"""A DiagnosticReport and the index (fullUrl and `Type/id`) of the Bundle it came in."""


def _media(content_type: Any) -> str:
    return content_type.split(";")[0].strip().lower() if isinstance(content_type, str) else ""


def _located_reports(value: Any, index: dict[str, dict[str, Any]] | None = None, depth: int = 0) -> list[Located]:
    """DiagnosticReports in a resource, a Bundle (nested too) or a Parameters, each with its Bundle's index."""
    if not isinstance(value, dict) or depth > 3:
        return []
    kind, index = value.get("resourceType"), index or {}
    if kind == "DiagnosticReport":
        return [(value, index)]
    if kind == "Bundle":
        inner = {**index, **bundle_index(value)}
        entries = value.get("entry")
        return [located for e in entries if isinstance(e, dict)
                for located in _located_reports(e.get("resource"), inner, depth + 1)] if isinstance(entries, list) else []
    if kind == "Parameters":
        params = value.get("parameter")
        return [located for p in params if isinstance(p, dict)
                for located in _located_reports(p.get("resource"), index, depth + 1)] if isinstance(params, list) else []
    return []


def _forms(dr: dict[str, Any]) -> list[dict[str, Any]]:
    """presentedForm as a list of objects, positions kept (a malformed item becomes {})."""
    forms = dr.get("presentedForm")
    return [f if isinstance(f, dict) else {} for f in forms] if isinstance(forms, list) else []


def _has_inline_text(dr: dict[str, Any]) -> bool:
    return any(_media(f.get("contentType")) in _READABLE and isinstance(f.get("data"), str) and f["data"].strip()
               for f in _forms(dr))


def _inline(form: dict[str, Any]) -> bool:
    return _media(form.get("contentType")) in _READABLE and isinstance(form.get("data"), str) \
        and bool(form["data"].strip())


def _by_url(form: dict[str, Any]) -> bool:
    return _media(form.get("contentType")) in _READABLE and not _inline(form) \
        and isinstance(form.get("url"), str) and bool(form["url"].strip())


def _url_form(dr: dict[str, Any]) -> int | None:
    """Index of the presentedForm to fetch: none when readable text in the language read is already inline.

    The language is chosen as the inbound adapter reads presentedForm (English, else the report's
    language, else untagged text, else the first met; attachments given inline and by url alike), so
    a Spanish rendition sent inline never keeps the English one given by url from being fetched.
    """
    forms = _forms(dr)
    candidates = [(i, f) for i, f in enumerate(forms) if _inline(f) or _by_url(f)]
    if not candidates:
        return None
    languages = [attachment_language(f, dr) for _, f in candidates]
    wanted = chosen_language(set(languages), dr, languages[0])
    chosen = [(i, f) for (i, f), lang in zip(candidates, languages, strict=True) if lang == wanted]
    if any(_inline(f) for _, f in chosen):
        return None
    for media in _READABLE:  # plain text first, as the inbound adapter prefers it
        for i, f in chosen:
            if _media(f.get("contentType")) == media:
                return i
    return None


def _tail(reference: str) -> str:
    """`Type/id` of a reference, relative or absolute (history suffix dropped)."""
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


def hook_patient(data: dict[str, Any], patient_id: str | None) -> dict[str, Any] | None:
    """The hook's Patient resource (id = context.patientId) when the prefetch holds it, alone or in a Bundle."""
    stack: list[Any] = list(data.values()) if patient_id is not None else []
    while stack:
        value = stack.pop()
        if not isinstance(value, dict):
            continue
        if value.get("resourceType") == "Patient" and value.get("id") == patient_id:
            return value
        if value.get("resourceType") == "Bundle" and isinstance(value.get("entry"), list):
            stack += [e.get("resource") for e in value["entry"] if isinstance(e, dict)]
    return None


def _about(dr: dict[str, Any], index: dict[str, dict[str, Any]], patient_id: str | None,
           patient: dict[str, Any] | None = None) -> bool:
    """Whether the report's subject is the hook's patient (None: no patient to check against).

    Nothing is fetched for a report about anyone else (minimum necessary): it is set aside
    unread in any case (docs/cds-hooks.md, patient safety). A contained Patient (`#pt`) is the
    hook's patient only when it shares an identifier with `patient`, the hook's Patient resource.
    """
    if patient_id is None:
        return True
    subject = dr.get("subject")
    ref = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(ref, str):
        return False
    if ref.strip().startswith("#"):
        local = contained_patient(ref.strip(), dr.get("contained"))
        return local is not None and same_patient(local, patient)
    if _tail(ref) == f"Patient/{patient_id}":
        return True
    target = index.get(ref)
    return isinstance(target, dict) and target.get("resourceType") == "Patient" and target.get("id") == patient_id


def _local_binary(url: str, dr: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The Binary a presentedForm url names when the request itself holds it: contained (`#id`) or a Bundle entry."""
    if url.startswith("#"):
        contained = dr.get("contained")
        found = next((c for c in contained if isinstance(c, dict) and c.get("id") == url[1:]), None) \
            if isinstance(contained, list) else None
    else:
        found = index.get(url) or index.get(_tail(url))
    return found if isinstance(found, dict) and found.get("resourceType") == "Binary" else None


def _binary_content(binary: dict[str, Any]) -> tuple[bytes, str | None] | None:
    """A Binary resource's bytes and media type; None when its data is missing or not base64."""
    data = binary.get("data")
    if not isinstance(data, str):
        return None
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    content_type = binary.get("contentType")
    return raw, content_type if isinstance(content_type, str) else None


def _inlined(form: dict[str, Any], raw: bytes, actual_type: str | None) -> dict[str, Any] | None:
    """The attachment with its bytes inline, or None when they are not readable report text.

    The media type of the bytes (Binary.contentType, or the answer's Content-Type) says what
    they are: a readable type other than the declared one replaces it, an unreadable one (a
    PDF served for a "text/plain" url) is never read as text. A charset the attachment
    declares stands; one the server names fills a missing one.
    """
    declared, actual = form.get("contentType"), _media(actual_type)
    if looks_binary(raw, declared, actual_type) or (actual not in _UNINFORMATIVE and actual not in _READABLE):
        return None
    out = dict(form)
    if actual not in _UNINFORMATIVE and actual != _media(declared):
        out["contentType"] = actual_type
    elif actual not in _UNINFORMATIVE and "charset" not in str(declared).lower():
        out["contentType"] = actual_type
    out["data"] = base64.b64encode(raw).decode("ascii")
    return out


def _put_form(dr: dict[str, Any], i: int, form: dict[str, Any]) -> None:
    forms = dr["presentedForm"]
    dr["presentedForm"] = [*forms[:i], form, *forms[i + 1:]]


def inline_local(resource: Any) -> int:
    """Report text given by url to a Binary the request itself holds, put inline; returns how many.

    A `presentedForm.url` of `#id` names a contained Binary, and a search Bundle may carry
    the Binary as an entry (`_include`, or a document Bundle): such text needs no fetch and
    no token, so it is read on every door.
    """
    done = 0
    for dr, index in _located_reports(resource):
        i = _url_form(dr)
        if i is None:
            continue
        binary = _local_binary(dr["presentedForm"][i]["url"].strip(), dr, index)
        content = _binary_content(binary) if binary is not None else None
        form = _inlined(dr["presentedForm"][i], *content) if content is not None else None
        if form is not None:
            _put_form(dr, i, form)
            done += 1
    return done


async def _attachment(client: httpx.AsyncClient, url: str, token: str) -> tuple[bytes, str | None] | None:
    """The bytes behind a presentedForm url: a FHIR Binary (JSON) or the raw content; None if too big."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json, text/plain;q=0.9, */*;q=0.5"}
    async with client.stream("GET", url, headers=headers) as resp:
        resp.raise_for_status()
        chunks, size = [], 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > MAX_ATTACHMENT_BYTES:
                return None
            chunks.append(chunk)
        body, content_type = b"".join(chunks), resp.headers.get("content-type")
    # Any JSON type is a Binary resource: application/fhir+json, application/json, the DSTU2
    # application/json+fhir; never its JSON read as the report text.
    if "json" in _media(content_type):
        binary = json.loads(body)
        content = _binary_content(binary) if isinstance(binary, dict) and binary.get("resourceType") == "Binary" \
            else None
        if content is None:
            raise ValueError("not a Binary with data")
        return content
    return body, content_type


def _fetchable(request: CdsRequest, allow_http: bool) -> tuple[str, str] | None:
    """fhirServer's base (with a trailing slash) and the token, when the service may fetch from it."""
    server, auth = request.fhirServer, request.fhirAuthorization
    if not server or auth is None or (not allow_http and not server.startswith("https://")):
        return None
    return server.rstrip("/") + "/", auth.access_token


async def inline_attachments(
    data: dict[str, Any],
    request: CdsRequest,
    *,
    timeout_s: float,
    allow_http: bool = False,
    client: httpx.AsyncClient | None = None,
    patient_id: str | None = None,
) -> int:
    """Report text that DiagnosticReports give only by url, put inline; returns how many.

    EHRs commonly send `presentedForm: [{"contentType": "text/html", "url": "Binary/..."}]`
    rather than inline data; without the text such a report cannot be read at all. A Binary
    the request holds (contained, or a Bundle entry) is read as it is; any other url is
    fetched from fhirServer with the fhirAuthorization token, and only when it is on
    fhirServer's origin (the token is fhirServer's alone), and only for reports about
    `patient_id` when it is given. Failures leave the report as it was (it is then read from
    whatever else it holds, or skipped).
    """
    done = sum(inline_local(value) for value in data.values())
    fetchable = _fetchable(request, allow_http)
    if fetchable is None:
        return done
    base, token = fetchable
    patient = hook_patient(data, patient_id)
    targets: list[tuple[dict[str, Any], int, str]] = []
    for value in data.values():
        for dr, index in _located_reports(value):
            i = _url_form(dr)
            if i is None or not _about(dr, index, patient_id, patient) or dr["presentedForm"][i]["url"].strip().startswith("#"):
                continue  # a contained Binary that is not there: nothing on the server to ask for
            url = urljoin(base, dr["presentedForm"][i]["url"].strip())
            if _same_origin(url, base) and len(targets) < MAX_ATTACHMENTS:
                targets.append((dr, i, url))
    if not targets:
        return done
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
    try:
        got = await asyncio.gather(*(_attachment(http, url, token) for _, _, url in targets),
                                   return_exceptions=True)
    finally:
        if own:
            await http.aclose()
    for (dr, i, _url), result in zip(targets, got, strict=True):
        if isinstance(result, BaseException) or result is None:
            # The exception text may hold the URL: its type only.
            log.warning("presentedForm url not fetched: %s", type(result).__name__ if result else "too large")
            continue
        form = _inlined(dr["presentedForm"][i], *result)
        if form is None:
            log.warning("presentedForm url answered bytes that are not report text; not read")
            continue
        _put_form(dr, i, form)
        done += 1
    return done


# ---- report text in result Observations ---------------------------------------------------------


def _missing_results(dr: dict[str, Any], index: dict[str, dict[str, Any]]) -> list[str]:
    """`result` references to Observations neither contained nor in the report's Bundle."""
    if _has_inline_text(dr):
        return []  # the text is there: the Observations would add nothing the reader takes
    refs = dr.get("result")
    out: list[str] = []
    for ref in refs if isinstance(refs, list) else []:
        target = ref.get("reference") if isinstance(ref, dict) else None
        if not isinstance(target, str) or not target.strip() or target.startswith("#"):
            continue
        target = target.strip()
        if target in index or _tail(target) in index or not _tail(target).startswith("Observation/"):
            continue
        out.append(target)
    return out


async def _read_observation(client: httpx.AsyncClient, url: str, token: str) -> dict[str, Any]:
    resp = await client.get(url, headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"})
    resp.raise_for_status()
    body = resp.json()
    if not isinstance(body, dict) or body.get("resourceType") != "Observation":
        raise ValueError("fhirServer answered something that is not an Observation")
    return body


async def fetch_results(
    data: dict[str, Any],
    request: CdsRequest,
    *,
    timeout_s: float,
    allow_http: bool = False,
    client: httpx.AsyncClient | None = None,
    patient_id: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Observations that reports without inline text name in `result`, read from fhirServer.

    Some EHRs send a radiology DiagnosticReport whose findings and impression live only in
    its `result` Observations (LOINC 18782-3 / 19005-8), and the prefetch search does not
    `_include` them. They are read with the fhirAuthorization token, on fhirServer's origin
    only, for reports about `patient_id` (when given), at most MAX_RESULTS per hook; the
    answer indexes them by the reference used, for the reader to resolve `result` with. An
    Observation about another patient is dropped; a failed read leaves the report as it was.
    """
    fetchable = _fetchable(request, allow_http)
    if fetchable is None:
        return {}
    base, token = fetchable
    patient = hook_patient(data, patient_id)
    wanted: dict[str, str] = {}
    for value in data.values():
        for dr, index in _located_reports(value):
            if not _about(dr, index, patient_id, patient):
                continue
            for target in _missing_results(dr, index):
                url = urljoin(base, target)
                if _same_origin(url, base) and len(wanted) < MAX_RESULTS:
                    wanted.setdefault(url, target)
    if not wanted:
        return {}
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
    try:
        got = await asyncio.gather(*(_read_observation(http, url, token) for url in wanted), return_exceptions=True)
    finally:
        if own:
            await http.aclose()
    out: dict[str, dict[str, Any]] = {}
    for (url, target), result in zip(wanted.items(), got, strict=True):
        if isinstance(result, BaseException):
            log.warning("result Observation not fetched: %s", type(result).__name__)
            continue
        if patient_id is not None and not _about(result, {}, patient_id) and result.get("subject") is not None:
            log.warning("result Observation about another patient than the hook's; not read")
            continue
        out[target] = out[url] = out[_tail(target)] = result
    return out
