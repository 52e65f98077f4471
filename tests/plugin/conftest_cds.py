"""Helpers for the CDS Hooks tests: real keys, signed JWTs, a real FHIR server and JWKS on loopback.

Imported by tests/plugin/test_cds*.py and test_jwt*.py (`from conftest_cds import ...`, as the
audit tests import conftest_audit: a site-packages `tests` package shadows ours).
The FHIR endpoint is a small Starlette app served by uvicorn in a thread on a free port; it
records the Authorization header of every request so tests can assert the token arrived.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.settings import Settings
from plugin.storage.tables import CardServed, InboundMessage, Report

ISSUER = "https://ehr.synthetic.example"
ES_KID = "es384-test-key"
RS_KID = "rs384-test-key"


@dataclass
class Keys:
    es: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    rs: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwks(self) -> dict[str, Any]:
        es = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.es.public_key()))
        rs = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rs.public_key()))
        es.update(kid=ES_KID, use="sig", alg="ES384")
        rs.update(kid=RS_KID, use="sig", alg="RS384")
        return {"keys": [es, rs]}


def mint(keys: Keys, aud: str, *, alg: str = "ES384", iss: str = ISSUER, jti: str | None = None,
         exp_in: int = 300, iat_offset: int = 0, jku: str | None = None, kid: str | None = None,
         extra_header: dict[str, Any] | None = None) -> str:
    """A CDS Hooks client JWT as the sandbox makes them (typ JWT, kid, optional jku)."""
    now = int(time.time()) + iat_offset
    claims = {"iss": iss, "aud": aud, "iat": now, "exp": now + exp_in, "jti": jti or str(uuid.uuid4()),
              "sub": "client-app"}
    header: dict[str, Any] = {"typ": "JWT", "kid": kid or (RS_KID if alg.startswith(("RS", "PS")) else ES_KID)}
    if jku:
        header["jku"] = jku
    header.update(extra_header or {})
    key = keys.rs if alg.startswith(("RS", "PS")) else keys.es
    return jwt.encode(claims, key, algorithm=alg, headers=header)


def cds_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for one test app: no worker, no MLLP, JWT off unless a test turns it on."""
    values: dict[str, Any] = {"database_url": database_url, "http_port": 0, "mllp_port": 0, "mllp_enabled": False,
                              "worker_enabled": False, "jwt_required": False, "_env_file": None}
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LoopbackServer:
    """uvicorn in a thread, serving a Starlette app on 127.0.0.1:<free port>."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("loopback server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class FhirServer:
    """What the fake FHIR server serves and what it saw."""

    resources: dict[str, Any]
    page_size: int = 1
    jwks: dict[str, Any] | None = None
    seen_auth: list[str | None] = field(default_factory=list)
    seen_paths: list[str] = field(default_factory=list)
    jwks_hits: int = 0
    base: str = ""

    def app(self) -> Starlette:
        async def search(request: Request) -> JSONResponse:
            self.seen_auth.append(request.headers.get("authorization"))
            self.seen_paths.append(request.url.path + ("?" + request.url.query if request.url.query else ""))
            kind = request.path_params["kind"]
            patient = request.query_params.get("patient")
            page = int(request.query_params.get("page", "0"))
            matches = [r for r in self.resources.get(kind, [])
                       if not patient or (r.get("subject") or {}).get("reference") == f"Patient/{patient}"]
            chunk = matches[page * self.page_size:(page + 1) * self.page_size]
            bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                                      "entry": [{"resource": r} for r in chunk]}
            if (page + 1) * self.page_size < len(matches):
                bundle["link"] = [{"relation": "next",
                                   "url": f"{self.base}/{kind}?patient={patient}&page={page + 1}"}]
            return JSONResponse(bundle, media_type="application/fhir+json")

        async def read(request: Request) -> JSONResponse:
            self.seen_auth.append(request.headers.get("authorization"))
            kind, rid = request.path_params["kind"], request.path_params["rid"]
            for r in self.resources.get(kind, []):
                if r.get("id") == rid:
                    return JSONResponse(r, media_type="application/fhir+json")
            return JSONResponse({"resourceType": "OperationOutcome", "issue": [
                {"severity": "error", "code": "not-found"}]}, status_code=404)

        async def jwks(_request: Request) -> JSONResponse:
            self.jwks_hits += 1
            return JSONResponse(self.jwks or {"keys": []})

        return Starlette(routes=[Route("/.well-known/jwks.json", jwks), Route("/{kind}", search),
                                 Route("/{kind}/{rid}", read)])


def serve_fhir(server: FhirServer) -> Iterator[FhirServer]:
    with LoopbackServer(server.app()) as loop:
        server.base = loop.base
        yield server


def run_app(factory: Callable[[], FastAPI]) -> Iterator[str]:
    """Serve a real app over loopback (for schemathesis / socket-level tests)."""
    with LoopbackServer(factory()) as loop:
        yield loop.base


# ---- reading what a door answered and kept (shared by the CDS and HTTP door tests) ----------------


def rows(client: Any, table: Any) -> list[Any]:
    """Every row of `table` in the app's database."""
    with client.app.state.sessions() as s:
        return list(s.scalars(select(table)).all())


def kept(client: Any, channel: str = "cds-hook") -> list[InboundMessage]:
    """What a door kept for review on `channel`."""
    return [r for r in rows(client, InboundMessage) if r.channel == channel]


def outcome(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """A refusal: the status, and an OperationOutcome body (first issue `code` when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"]
    assert all(i["severity"] in ("error", "fatal") and i["code"] for i in body["issue"])
    if code is not None:
        assert body["issue"][0]["code"] == code, body
    return body


@dataclass
class Ehr:
    """An EHR's FHIR server on loopback: searches, reads, and Binary bytes served as the EHR stores them
    (the HTTP round files; `seen` holds each path, with its query for searches, and bearer token)."""

    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    binaries: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)
    base: str = ""

    def app(self) -> Starlette:
        async def search(request: Request) -> JSONResponse:
            self.seen.append((request.url.path + "?" + request.url.query, request.headers.get("authorization")))
            kind, patient = request.path_params["kind"], request.query_params.get("patient")
            found = [r for r in self.resources.get(kind, [])
                     if not patient or (r.get("subject") or {}).get("reference") == f"Patient/{patient}"]
            return JSONResponse({"resourceType": "Bundle", "type": "searchset", "total": len(found),
                                 "entry": [{"fullUrl": f"{self.base}/{kind}/{r['id']}", "resource": r,
                                            "search": {"mode": "match"}} for r in found]},
                                media_type="application/fhir+json")

        async def read(request: Request) -> Response:
            self.seen.append((request.url.path, request.headers.get("authorization")))
            kind, rid = request.path_params["kind"], request.path_params["rid"]
            if kind == "Binary" and rid in self.binaries:
                body, content_type = self.binaries[rid]
                return Response(body, headers={"Content-Type": content_type})
            for r in self.resources.get(kind, []):
                if r.get("id") == rid:
                    return JSONResponse(r, media_type="application/fhir+json")
            return JSONResponse({"resourceType": "OperationOutcome",
                                 "issue": [{"severity": "error", "code": "not-found"}]}, status_code=404)

        return Starlette(routes=[Route("/{kind}", search), Route("/{kind}/{rid}", read)])

    def paths(self) -> list[str]:
        return [p for p, _ in self.seen]


def serve_ehr(ehr: Ehr) -> Iterator[Ehr]:
    with LoopbackServer(ehr.app()) as loop:
        ehr.base = loop.base
        yield ehr


def b64(data: str | bytes, encoding: str = "utf-8") -> str:
    return base64.b64encode(data.encode(encoding) if isinstance(data, str) else data).decode("ascii")


# ---- FHIR resources as EHRs send them (shared by the HTTP round files) -------------------------------------

RADIOLOGY = {"coding": [{"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"}]}
ACSN = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]}


def radiology_report(rid: str, text: str | None, *, patient: str, effective: str, issued: str,
                     accession: str | None = None, **extra: Any) -> dict[str, Any]:
    """A radiology DiagnosticReport as a US Core EHR returns it: CT chest, the text as UTF-8 text/plain.

    `accession` adds an ACSN identifier; `extra` sets or replaces any element (None where a test
    needs an element absent is the test's own business: the value is set as given).
    """
    out: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": rid,
        "status": "final",
        "category": [RADIOLOGY],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "CT Chest"}],
                 "text": "CT CHEST LOW DOSE SCREENING"},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": effective,
        "issued": issued,
    }
    if accession is not None:
        out["identifier"] = [{"type": ACSN, "value": accession}]
    if text is not None:
        out["presentedForm"] = [{"contentType": "text/plain; charset=utf-8", "data": b64(text)}]
    out.update(extra)
    return out


def result_observation(oid: str, loinc: str, text: str, *, patient: str) -> dict[str, Any]:
    """A report section as a `result` Observation (LOINC 18782-3 findings, 19005-8 impression)."""
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "subject": {"reference": f"Patient/{patient}"}, "valueString": text}


def stored(client: Any) -> dict[str, dict[str, Any]]:
    """What the reader made of each stored report, by report id."""
    return {r.report_id: r.report_json for r in rows(client, Report)}


def refused(client: Any, response: Any, status: int, code: str | None = None,
            channel: str = "cds-hook") -> dict[str, Any]:
    """A refusal: OperationOutcome body, the request kept as rejected, no card served, no report stored."""
    body = outcome(response, status, code)
    assert [r.status for r in kept(client, channel)] == ["rejected"]
    assert rows(client, CardServed) == [] and stored(client) == {}
    return body


def analysed(response: Any) -> list[dict[str, Any]]:
    """The Observations of a 200 `$analyze` answer (a FHIR transaction Bundle)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]
