"""CDS Hooks security: the client's JWT bearer (spec §1.8), CORS and request size limits.

The JWT is checked as the CDS Hooks best practices list it: allow-listed `iss`, its
allow-listed `jku` only (never a URL taken from the token; keys pinned in a file when the
issuer has one), the issuer's allowed `tenant` when it lists them, an asymmetric algorithm,
`aud` equal to the endpoint URL, `exp`/`iat` with a small leeway, and a `jti` seen only
once. The jti store is the `seen_jti` table, so a token replayed to another replica is
refused too. Every failure is a 401 without detail; the reason is logged without the token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.fhir import operation_outcome
from plugin import audit
from plugin.settings import Settings, TrustedIssuer
from plugin.storage import queries
from plugin.storage.db import session_scope
from plugin.storage.tables import SeenJti

log = logging.getLogger("radlite.security")

__all__ = [
    "ALLOWED_ALGORITHMS",
    "AuthError",
    "Caller",
    "CallerDep",
    "JwtVerifier",
    "install_http_guards",
    "require_caller",
]

ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "ES512", "RS256", "RS512", "PS256", "PS384", "PS512")
"""Asymmetric only: `none` and every HMAC (HS*) are refused (spec §1.8). ES384/RS384 are recommended."""

JWKS_CACHE_SECONDS = 300
JWKS_FORCED_REFRESHES = 10
"""Most refetches of one JWK Set URL that unknown kids may cause per JWKS_CACHE_SECONDS."""


class AuthError(Exception):
    """Why a token was refused; for the log only, never for the caller."""


@dataclass(frozen=True)
class Caller:
    """Who called: the verified `iss` and `sub`, or an anonymous caller when JWT is off."""

    iss: str | None
    sub: str | None = None
    tenant: str | None = None
    jti_hash: str | None = None

    @property
    def actor(self) -> str | None:
        """`iss|sub`, as stored in `peer` and audit `actor` (both String(255)).

        `sub` is the client's to choose: one too long for the columns, or holding control
        characters (PostgreSQL refuses NUL), is replaced by its sha256, so the same caller
        always gets the same actor and the row is never lost to an overflow.
        """
        if self.iss is None:
            return None
        full = f"{self.iss}|{self.sub}" if self.sub else self.iss
        if len(full) <= ACTOR_MAX and not _CONTROL.search(full) and _encodable(full):
            return full
        digest = hashlib.sha256(full.encode("utf-8", "surrogatepass")).hexdigest()
        tail = f"|sha256:{digest}"
        iss = _CONTROL.sub("?", self.iss).encode("utf-8", "replace").decode("utf-8")
        return iss[: ACTOR_MAX - len(tail)] + tail


def _encodable(text: str) -> bool:
    """Whether `text` is valid UTF-8 once stored (a lone surrogate from JSON `\\udc80` is not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


ACTOR_MAX = 255
"""Width of the columns a caller is written to (inbound_messages.peer, audit_events.actor)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class JwtVerifier:
    """Verifies CDS Hooks JWTs against the allow-listed issuers; one per app (caches JWKS)."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self._issuers: dict[str, TrustedIssuer] = {i.iss: i for i in settings.trusted_issuers}
        self._clients: dict[str, jwt.PyJWKClient] = {}
        self._files: dict[str, tuple[float, int | None, jwt.PyJWKSet]] = {}
        self._refreshes: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    # -- keys --

    def _key_from_file(self, path: Path, kid: str) -> jwt.PyJWK:
        """The key for `kid` from an out-of-band JWKS file, cached; re-read when the file changed.

        Key rotation: the client starts signing with a new kid as soon as the operator has put
        it in the file, so an unknown kid re-reads a file whose modification time moved (as
        PyJWKClient refetches a jku once), rather than refusing until the cache expires.
        """
        with self._lock:
            cached = self._files.get(str(path))
            stale = cached is None or time.monotonic() - cached[0] > JWKS_CACHE_SECONDS
            if not stale and cached is not None and _find_kid(cached[2], kid) is None:
                stale = _mtime(path) != cached[1]
            if stale:
                cached = (time.monotonic(), _mtime(path),
                          jwt.PyJWKSet.from_dict(json.loads(path.read_text("utf-8"))))
                self._files[str(path)] = cached
        key = _find_kid(cached[2], kid)
        if key is None:
            raise AuthError("kid not in the out-of-band JWKS")
        return key

    def _key_from_jku(self, jku: str, kid: str) -> jwt.PyJWK:
        """The key for `kid` from the issuer's allow-listed JWK Set URL, cached; refetched for an unknown kid.

        Key rotation: a client that starts signing with a new kid has published it in its set, so an
        unknown kid refetches the set at once (PyJWT's own refresh waits out a cooldown after every
        fetch, which refused a freshly rotated key for up to 30 s). The refetches an unknown kid may
        cause are bounded (JWKS_FORCED_REFRESHES per JWKS_CACHE_SECONDS and URL), so tokens with made-up
        kids cannot turn us into a flood against the client's key server.
        """
        with self._lock:
            client = self._clients.get(jku)
            if client is None:
                client = jwt.PyJWKClient(jku, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS,
                                         timeout=int(max(1, self.settings.fhir_timeout_seconds)),
                                         cooldown_duration=0)
                self._clients[jku] = client
        try:
            key = _find_kid(client.get_jwk_set(), kid)
            if key is None and self._may_refresh(jku):
                key = _find_kid(client.get_jwk_set(refresh=True), kid)
        except jwt.PyJWTError as exc:  # PyJWKClientError (fetch), PyJWKSetError (no usable key)
            raise AuthError(f"JWKS lookup failed: {type(exc).__name__}") from exc
        if key is None:
            raise AuthError("kid not in the issuer's JWK Set")
        return key

    def _may_refresh(self, jku: str) -> bool:
        """Whether an unknown kid may refetch this JWK Set now (a bounded number per cache period)."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._refreshes.get(jku, []) if now - t < JWKS_CACHE_SECONDS]
            allowed = len(recent) < JWKS_FORCED_REFRESHES
            if allowed:
                recent.append(now)
            self._refreshes[jku] = recent
        return allowed

    def _signing_key(self, issuer: TrustedIssuer, header: dict[str, Any]) -> jwt.PyJWK:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("no kid")
        jku = header.get("jku")
        if jku is not None and jku != issuer.jku:
            # CDS Hooks 2.0 (trusting CDS Clients): services keep an allowlist of `iss` and `jku`. A
            # file-only issuer allow-lists no jku, so a token naming one is refused, never fetched.
            raise AuthError("jku is not the allow-listed one for this issuer")
        if issuer.jwks_path is not None:
            # Keys exchanged out of band are the trust anchor (pinned): the allow-listed jku a client
            # also sends (the sandbox always does) is a hint the file answers, and is never fetched.
            return self._key_from_file(issuer.jwks_path, kid)
        assert issuer.jku is not None  # TrustedIssuer guarantees one key source
        return self._key_from_jku(issuer.jku, kid)

    # -- the check --

    def verify(self, token: str, audience: str | list[str]) -> Caller:
        """Claims of a valid token for `audience` (or any of a list), the jti recorded; AuthError otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {type(exc).__name__}") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"algorithm {alg!r} not allowed")
        if str(header.get("typ", "JWT")).upper() != "JWT":
            raise AuthError("typ is not JWT")
        issuer = self._issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise AuthError("issuer not allow-listed")
        # PyJWT refuses a key whose type does not fit `alg`; HMAC is excluded above, so a
        # public key can never be used as an HMAC secret.
        key = self._signing_key(issuer, header)
        leeway = self.settings.jwt_leeway_seconds
        try:
            claims = jwt.decode(
                token, key.key, algorithms=[alg], issuer=issuer.iss, leeway=leeway,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_iat": True, "verify_aud": False},
            )
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            # TypeError: PyJWT refusing a key of another family than `alg` (an RSA kid in an ES384 token).
            raise AuthError(f"invalid token: {type(exc).__name__}") from exc
        if not _names_endpoint(claims["aud"], audience):
            raise AuthError("aud does not name this endpoint")
        now = time.time()
        iat, exp = float(claims["iat"]), float(claims["exp"])
        max_age = self.settings.jwt_max_age_seconds
        if iat > now + leeway:
            raise AuthError("iat in the future")
        if iat < now - max_age - leeway:
            raise AuthError("token older than the allowed age")
        if exp - iat > max_age:
            raise AuthError("token lifetime longer than allowed")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("empty jti")
        tenant = claims.get("tenant")
        if issuer.tenants is not None and (not isinstance(tenant, str) or tenant not in issuer.tenants):
            # Checklist step 4 (tenant allowed, if used): refused before the jti is recorded, so a
            # refused token leaves nothing behind (the 401 is logged without the token or tenant).
            raise AuthError("tenant missing or not allowed for this issuer")
        jti_hash = hashlib.sha256(f"{issuer.iss}\x1f{jti}".encode()).hexdigest()
        self._remember_jti(jti_hash, datetime.fromtimestamp(exp, UTC) + timedelta(seconds=leeway))
        return Caller(iss=issuer.iss, sub=claims.get("sub") if isinstance(claims.get("sub"), str) else None,
                      tenant=tenant if isinstance(tenant, str) else None, jti_hash=jti_hash)

    def _remember_jti(self, jti_hash: str, expires_at: datetime) -> None:
        """Insert the jti in its own transaction: a primary-key clash anywhere means replay."""
        try:
            with session_scope(self.sessions) as s:
                s.execute(delete(SeenJti).where(SeenJti.expires_at < datetime.now(UTC)))
                s.add(SeenJti(jti_hash=jti_hash, expires_at=expires_at))
                s.flush()
        except IntegrityError as exc:
            raise AuthError("jti replayed") from exc


def _find_kid(keys: jwt.PyJWKSet, kid: str) -> jwt.PyJWK | None:
    """The key with this kid that may verify signatures (RFC 7517 §4.2: not one published for encryption)."""
    return next((key for key in keys.keys if key.key_id == kid and key.public_key_use in ("sig", None)), None)


def _mtime(path: Path) -> int | None:
    """The file's modification time in nanoseconds (None when it is gone: the next read says why)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _names_endpoint(aud: Any, audience: str | list[str]) -> bool:
    """Whether the `aud` claim (a string or an array of them, spec §1.8) names one of our endpoint URLs.

    Compared as URLs, not as strings (RFC 3986 §6.2.2-§6.2.3): scheme and host in any letter case,
    the default port written or not, a trailing slash or not. The path, query and everything else
    must be the same: `aud` is the URL of the endpoint called, never another one on the same host.
    """
    claimed = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    wanted = {_normal_url(url) for url in ([audience] if isinstance(audience, str) else audience)} - {None}
    return any(isinstance(a, str) and _normal_url(a) in wanted for a in claimed)


_DEFAULT_PORTS = {"https": 443, "http": 80}


def _normal_url(url: str) -> str | None:
    """An absolute http(s) URL in RFC 3986 normal form for comparison; None for anything else (never equal)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    host = f"[{host}]" if ":" in host else host
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, parts.fragment))


def _audience(request: Request, settings: Settings) -> list[str]:
    """The URLs the client may put in `aud`: public_base_url + path, else the request URL.

    Spec §1.8: `aud` is the URL of the endpoint called. For feedback
    (`/cds-services/{id}/feedback`) the service's own URL is accepted too: the spec's
    examples name only discovery and service URLs, so a client may well sign feedback with
    the URL of the service whose cards it is about; the jti store still makes every token
    single-use, so this widens nothing an attacker could replay.
    """
    if settings.public_base_url:
        url = settings.public_base_url.rstrip("/") + request.url.path
    else:
        url = str(request.url.replace(query="", fragment=""))
    urls = [url]
    if request.url.path.startswith("/cds-services/") and url.rstrip("/").endswith("/feedback"):
        urls.append(url.rstrip("/").removesuffix("/feedback"))
    return urls


def _verifier(request: Request) -> JwtVerifier:
    state = request.app.state
    verifier = getattr(state, "jwt_verifier", None)
    if verifier is None:
        verifier = JwtVerifier(state.settings, state.sessions)
        state.jwt_verifier = verifier
    return verifier


class Unauthorized(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=401, detail="Unauthorized", headers={"WWW-Authenticate": "Bearer"})


async def require_caller(request: Request) -> Caller:
    """FastAPI dependency: the verified caller, or 401 (no detail).

    A token that is sent is always checked, also when `jwt_required` is off; without a
    token the call passes only when `jwt_required` is off (development).
    """
    settings: Settings = request.app.state.settings
    header = request.headers.get("authorization")
    if not header:
        if settings.jwt_required:
            log.info("401 on %s: no bearer token", request.url.path)
            raise Unauthorized()
        return Caller(iss=None)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        log.info("401 on %s: not a bearer token", request.url.path)
        raise Unauthorized()
    try:
        caller = await run_in_threadpool(_verifier(request).verify, token.strip(), _audience(request, settings))
    except AuthError as exc:
        log.info("401 on %s: %s", request.url.path, exc)
        raise Unauthorized() from None
    setattr(request.state, CALLER_STATE, caller)
    return caller


CallerDep = Annotated[Caller, Depends(require_caller)]


# ---- HTTP guards: CORS and body size ------------------------------------------------------------


class _TooLarge(Exception):
    pass


KEEP_BYTES = 64 * 1024
"""Bytes of an oversized body kept for review: the head of the message (MSH segment, hookInstance,
resourceType, the first report lines) tells a reviewer what it was and who sent it, and 64 KiB per
refusal keeps a flood of oversized requests from filling the database."""

DRAIN_FACTOR = 8
"""An oversized body is read to its end (to hash it and size it) up to DRAIN_FACTOR x the limit,
at least MIN_DRAIN_BYTES; past that reading stops, the size is recorded as a lower bound and the
hash covers what was read. The bound keeps one sender from holding a connection open forever."""
MIN_DRAIN_BYTES = 64 * 1024 * 1024

_ACCESS_TOKEN = re.compile(rb'("access_token"\s*:\s*")((?:[^"\\]|\\.)*)')
CALLER_STATE = "radlite_caller"
"""Key in the request state where `require_caller` leaves the verified caller (for the 413 record)."""


class _Tally:
    """An oversized body seen chunk by chunk: its size, sha256 and first KEEP_BYTES, never more."""

    def __init__(self, keep: int = KEEP_BYTES) -> None:
        self.keep = keep
        self.head = bytearray()
        self.size = 0
        self.digest = hashlib.sha256()
        self.ended = False

    def add(self, message: Message) -> None:
        chunk = message.get("body", b"")
        self.size += len(chunk)
        self.digest.update(chunk)
        if len(self.head) < self.keep:
            self.head += chunk[: self.keep - len(self.head)]
        self.ended = not message.get("more_body", False)


def scrub_head(head: bytes) -> bytes:
    """The kept slice with every `"access_token": "..."` value starred, also one cut off at the end.

    A truncated body is not JSON, so the request's own scrubber cannot parse it; the token
    (fhirAuthorization) must never reach the database all the same.
    """
    return _ACCESS_TOKEN.sub(rb"\1***", head)


def _channel(path: str) -> str:
    """The inbound channel a refused body was meant for (as the route would have stored it)."""
    if path.startswith("/cds-services/") and path.rstrip("/").endswith("/feedback"):
        return "cds-feedback"
    for prefix, channel in (("/cds-services", "cds-hook"), ("/fhir", "http-fhir"), ("/hl7", "http-hl7")):
        if path.startswith(prefix):
            return channel
    return "http"


def _keep_oversized(scope: Scope, tally: _Tally, limit: int) -> None:
    """Store the refused body's head, size and sha256 with a message.rejected audit event."""
    app = scope.get("app")
    sessions = getattr(getattr(app, "state", None), "sessions", None)
    if sessions is None:  # no lifespan ran (nothing to store into)
        log.warning("413: no database to keep the refused body in")
        return
    caller = (scope.get("state") or {}).get(CALLER_STATE)
    client = scope.get("client")
    actor = caller.actor if isinstance(caller, Caller) and caller.iss else (client[0] if client else None)
    kind = "jwt" if isinstance(caller, Caller) and caller.iss else "http"
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").decode("latin-1")[:128] or None
    channel, whole = _channel(scope.get("path", "")), tally.digest.hexdigest()
    size = f"{tally.size}" if tally.ended else f"more than {tally.size}"
    error = (f"413: body of {size} bytes is over the {limit}-byte limit; raw holds its first {len(tally.head)} "
             f"bytes, sha256 is of the {'whole body' if tally.ended else f'first {tally.size} bytes'}")
    with session_scope(sessions) as s:
        row = queries.store_inbound(s, channel=channel, raw=scrub_head(bytes(tally.head)), status="rejected",
                                    peer=actor, content_type=content_type, error_code="413", error=error)
        row.sha256 = whole
        audit.record(s, audit.MessageRejected(
            actor=actor, actor_kind=kind, input_hash=whole,
            detail={"inbound_id": row.id, "channel": channel, "status": 413, "error": error, "size": tally.size,
                    "size_complete": tally.ended, "kept_bytes": len(tally.head), "sha256": whole, "limit": limit},
        ))
    log.info("413 on %s: inbound=%s size=%s sha256=%s", channel, row.id, size, whole[:12])


class BodySizeLimit:
    """Refuses bodies over `limit` bytes with 413 and an OperationOutcome, and keeps them for review.

    The refusal happens when the route reads the body, so a caller the route refuses first
    (401) is answered as such and nothing of it is stored. A declared Content-Length over the
    limit is refused on the first read, before any byte reaches the route; a chunked body is
    counted as it arrives. Either way the rest of the body is then read without being held
    (sha256 and size computed as it streams, up to a drain bound) and the first KEEP_BYTES
    are stored, so memory stays bounded and nothing is lost.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.drain_limit = max(MIN_DRAIN_BYTES, DRAIN_FACTOR * limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        try:
            too_big = declared is not None and int(declared) > self.limit
        except ValueError:
            await _outcome(400, "Content-Length is not a number", "structure")(scope, receive, send)
            return
        tally = _Tally()
        started = False
        # A declared length within the limit cannot be exceeded (the server enforces it), so
        # only a chunked body is tallied while the route reads it.
        chunked = declared is None

        async def counted() -> Message:
            if started:  # a streaming response listening for disconnect: the body is nothing to it
                return await receive()
            if too_big:
                raise _TooLarge()
            message = await receive()
            if chunked and message["type"] == "http.request":
                tally.add(message)
                if tally.size > self.limit:
                    raise _TooLarge()
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if started:
                raise
            await self._drain(receive, tally)
            await self._keep(scope, tally)
            await _outcome(413, f"Request body larger than {self.limit} bytes", "too-long")(scope, receive, send)

    async def _drain(self, receive: Receive, tally: _Tally) -> None:
        """Read the rest of the body into the tally (hash and size only), up to the drain bound."""
        while not tally.ended and tally.size <= self.drain_limit:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            tally.add(message)

    async def _keep(self, scope: Scope, tally: _Tally) -> None:
        try:
            await run_in_threadpool(_keep_oversized, scope, tally, self.limit)
        except SQLAlchemyError as exc:
            # The answer stays 413 (the body is too large whatever happens to the copy).
            log.error("413: the refused body could not be kept: %s", type(exc).__name__)


def outcome_body(text: str, code: str) -> dict[str, Any]:
    """An OperationOutcome with an issue type outside the FHIR adapter's short list (login, too-long)."""
    body = operation_outcome(text, code="processing")
    body["issue"][0]["code"] = code
    return body


def _outcome(status: int, text: str, code: str) -> JSONResponse:
    return JSONResponse(outcome_body(text, code), status_code=status, media_type="application/fhir+json")


def install_http_guards(app: FastAPI, settings: Settings) -> None:
    """CORS for browser CDS clients (the sandbox) and the request size limit.

    Allow-Credentials is only sent with an explicit origin list: browsers refuse it
    next to `*`, and bearer tokens need no cookies anyway.
    """
    origins = list(settings.cors_origins)
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials="*" not in origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "Authorization"],
        expose_headers=["Origin", "Accept", "Content-Location", "Location", "X-Requested-With"],
        max_age=600,
    )

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_request: Request, _exc: Unauthorized) -> JSONResponse:
        return JSONResponse(outcome_body("Unauthorized", "login"), status_code=401, media_type="application/fhir+json",
                            headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        """Routing errors (404 no such path, 405 wrong method) on the CDS and FHIR doors as OperationOutcome."""
        if not request.url.path.startswith(OUTCOME_PATHS):
            return await http_exception_handler(request, exc)
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return JSONResponse(outcome_body(_REASONS.get(exc.status_code, "Request refused"), code),
                            status_code=exc.status_code, media_type="application/fhir+json", headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (RFC 9110 §15.5.6: a 405 carries them in Allow).

    The router names only the methods of the first route whose path matched, but one URL may be
    served by several routes (`/cds-services` by GET and by HEAD); each method is asked of the
    router as the request itself would be (included routers answer for their routes).
    """
    scope = {k: v for k, v in request.scope.items() if k in ("type", "path", "root_path", "app")}
    return [method for method in _METHODS
            if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in request.app.router.routes)]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


OUTCOME_PATHS = ("/cds-services", "/fhir")
"""Doors whose callers (EHRs, FHIR clients) read an OperationOutcome for any error."""
_REASONS = {404: "No such endpoint", 405: "Method not allowed on this endpoint"}
