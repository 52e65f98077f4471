"""Prefetch for CDS Hooks: take what the client sent, fetch what it left out from fhirServer.

Spec §1.4: a key the client omitted is "not fetched" (we may fetch it with the
fhirAuthorization bearer token), a key that is null means "no data" (never fetched).
Search Bundles are followed through their `next` links. When a required key can be
neither had from the request nor fetched, the hook answers 412. The access token is
never logged and never sent to any origin but fhirServer's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import httpx

from adapters.cds.models import CdsRequest

log = logging.getLogger("radlite.fhir_client")

__all__ = ["MAX_PAGES", "PrefetchError", "PrefetchResult", "render_template", "resolve_prefetch"]

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
            result.setdefault("entry", []).extend(body.get("entry") or [])
        if body.get("resourceType") != "Bundle":
            break
        url = next((lk.get("url") for lk in body.get("link") or [] if isinstance(lk, dict)
                    and lk.get("relation") == "next" and isinstance(lk.get("url"), str)), None)
        if url:
            url = urljoin(base.rstrip("/") + "/", url)
    assert result is not None  # the loop ran at least once (MAX_PAGES >= 1)
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
            has_next = isinstance(value, dict) and value.get("resourceType") == "Bundle" and any(
                isinstance(lk, dict) and lk.get("relation") == "next" for lk in value.get("link") or [])
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
                if has_next and isinstance(value, dict):
                    next_url = next(lk["url"] for lk in value["link"] if lk.get("relation") == "next")
                    rest, pages = await _fetch(http, server, next_url, auth.access_token)
                    merged = {k: v for k, v in value.items() if k != "link"}
                    merged["entry"] = list(value.get("entry") or []) + list(rest.get("entry") or [])
                    out.data[key] = merged
                else:
                    relative = render_template(template, request.context)
                    if relative is None:
                        reasons[key] = "the template's context token has no value"
                        continue
                    out.data[key], pages = await _fetch(http, server, relative, auth.access_token)
                out.pages += pages
                out.fetched.append(key)
            except (httpx.HTTPError, ValueError) as exc:
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
