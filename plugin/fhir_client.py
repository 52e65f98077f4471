"""Prefetch for CDS Hooks: take what the client sent, fetch what it left out from fhirServer.

Spec §1.4: a key the client omitted is "not fetched" (we may fetch it with the
fhirAuthorization bearer token), a key that is null means "no data" (never fetched).
Search Bundles are followed through their `next` links. When a required key can be
neither had from the request nor fetched, the hook answers 412. The access token is
never logged and never sent to any origin but fhirServer's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from adapters.cds.models import CdsRequest

log = logging.getLogger("radlite.fhir_client")

__all__ = ["MAX_PAGES", "PrefetchError", "PrefetchResult", "inline_attachments", "render_template",
           "resolve_prefetch"]

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
                reasons[key] = f"fhirServer fetch failed ({type(exc).__name__})"
                if value is not ... and not _is_outcome(value):
                    out.data[key] = value
    finally:
        if own:
            await http.aclose()
    missing = [k for k in required if k not in out.data]
    if missing:
        raise PrefetchError(missing, reasons)
    return out


# ---- report text given by url ------------------------------------------------------------------

MAX_ATTACHMENTS = 20
"""Most presentedForm urls fetched per hook (the hook analyses at most 10 reports)."""
MAX_ATTACHMENT_BYTES = 2_000_000
_READABLE = ("text/plain", "text/markdown", "text/html", "application/xhtml+xml",
             "text/rtf", "application/rtf")


def _media(content_type: Any) -> str:
    return content_type.split(";")[0].strip().lower() if isinstance(content_type, str) else ""


def _diagnostic_reports(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "DiagnosticReport":
        return [value]
    if value.get("resourceType") == "Bundle":
        return [dr for e in value.get("entry") or [] if isinstance(e, dict) for dr in _diagnostic_reports(e.get("resource"))]
    return []


def _url_form(dr: dict[str, Any]) -> int | None:
    """Index of the presentedForm to fetch: none when readable text is already inline."""
    forms = [f if isinstance(f, dict) else {} for f in dr.get("presentedForm") or []]
    if any(_media(f.get("contentType")) in _READABLE and isinstance(f.get("data"), str) for f in forms):
        return None
    for wanted in _READABLE:  # plain text first, as the inbound adapter prefers it
        for i, f in enumerate(forms):
            if _media(f.get("contentType")) == wanted and isinstance(f.get("url"), str) and f["url"]:
                return i
    return None


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
    if _media(content_type) in ("application/fhir+json", "application/json"):
        binary = json.loads(body)
        if not isinstance(binary, dict) or binary.get("resourceType") != "Binary" or not isinstance(
                binary.get("data"), str):
            raise ValueError("not a Binary with data")
        return base64.b64decode(binary["data"]), binary.get("contentType")
    return body, content_type


async def inline_attachments(
    data: dict[str, Any],
    request: CdsRequest,
    *,
    timeout_s: float,
    allow_http: bool = False,
    client: httpx.AsyncClient | None = None,
) -> int:
    """Report text that DiagnosticReports give only by url, fetched and put inline; returns how many.

    EHRs commonly send `presentedForm: [{"contentType": "text/html", "url": "Binary/..."}]`
    rather than inline data; without the text such a report cannot be read at all. The url
    is fetched from fhirServer with the fhirAuthorization token, and only when it is on
    fhirServer's origin (the token is fhirServer's alone). Failures leave the report as it
    was (it is then read from whatever else it holds, or skipped).
    """
    server, auth = request.fhirServer, request.fhirAuthorization
    if not server or auth is None or (not allow_http and not server.startswith("https://")):
        return 0
    base = server.rstrip("/") + "/"
    targets: list[tuple[dict[str, Any], int, str]] = []
    for value in data.values():
        for dr in _diagnostic_reports(value):
            i = _url_form(dr)
            if i is None:
                continue
            url = urljoin(base, dr["presentedForm"][i]["url"])
            if _same_origin(url, base) and len(targets) < MAX_ATTACHMENTS:
                targets.append((dr, i, url))
    if not targets:
        return 0
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)
    try:
        got = await asyncio.gather(*(_attachment(http, url, auth.access_token) for _, _, url in targets),
                                   return_exceptions=True)
    finally:
        if own:
            await http.aclose()
    done = 0
    for (dr, i, _url), result in zip(targets, got, strict=True):
        if isinstance(result, BaseException) or result is None:
            # The exception text may hold the URL: its type only.
            log.warning("presentedForm url not fetched: %s", type(result).__name__ if result else "too large")
            continue
        raw, fetched_type = result
        form = dict(dr["presentedForm"][i])
        declared = form.get("contentType")
        # The attachment's own media type stands; a charset the server names fills a missing one.
        if "charset" not in str(declared).lower() and _media(fetched_type) == _media(declared) and fetched_type:
            form["contentType"] = fetched_type
        form["data"] = base64.b64encode(raw).decode("ascii")
        dr["presentedForm"] = [*dr["presentedForm"][:i], form, *dr["presentedForm"][i + 1:]]
        done += 1
    return done
