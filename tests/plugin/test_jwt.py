"""CDS Hooks JWT security (spec §1.8) against a real app, real keys and a real JWKS on loopback.

Discovery is the endpoint under test (it needs no model), with `aud` = its URL.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest_cds import ES_KID, ISSUER, FhirServer, Keys, cds_settings, mint, serve_fhir
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from plugin.app import create_app
from plugin.storage.tables import AuditEvent, InboundMessage

BASE = "https://cds.synthetic.example"
AUD = BASE + "/cds-services"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture()
def jwks_server(keys: Keys) -> Iterator[FhirServer]:
    yield from serve_fhir(FhirServer(resources={}, jwks=keys.jwks()))


def _client(sqlite_url: str, ensemble: Any, issuers: list[dict[str, Any]]) -> Iterator[TestClient]:
    settings = cds_settings(sqlite_url, jwt_required=True, public_base_url=BASE,
                            trusted_issuers=json.dumps(issuers), jwt_leeway_seconds=5)
    app = create_app(settings, ensemble=ensemble)
    with TestClient(app) as c:
        yield c


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any, jwks_server: FhirServer) -> Iterator[TestClient]:
    jku = jwks_server.base + "/.well-known/jwks.json"
    yield from _client(sqlite_url, ensemble, [{"iss": ISSUER, "jku": jku}])


def jku_of(server: FhirServer) -> str:
    return server.base + "/.well-known/jwks.json"


def call(client: TestClient, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get("/cds-services", headers=headers).status_code


def test_es384_and_rs384_accepted_and_jwks_cached(client: TestClient, keys: Keys, jwks_server: FhirServer) -> None:
    jku = jku_of(jwks_server)
    assert call(client, mint(keys, AUD, alg="ES384", jku=jku)) == 200
    assert call(client, mint(keys, AUD, alg="RS384", jku=jku)) == 200
    assert call(client, mint(keys, [AUD, "https://other.example"], alg="ES384")) == 200  # type: ignore[arg-type]
    assert jwks_server.jwks_hits == 1  # fetched once, then cached


@pytest.mark.parametrize("alg", ["PS384", "RS256", "RS512"])
def test_other_asymmetric_algorithms_accepted(client: TestClient, keys: Keys, alg: str) -> None:
    assert call(client, mint(keys, AUD, alg=alg)) == 200


def test_missing_and_malformed_tokens_refused(client: TestClient) -> None:
    assert call(client, None) == 401
    response = client.get("/cds-services", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert call(client, "not.a.jwt") == 401


def test_none_algorithm_refused(client: TestClient) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 300, "jti": "n1"}, None,
                       algorithm="none", headers={"kid": ES_KID})
    assert call(client, token) == 401


def test_hmac_refused_even_with_the_public_key_as_secret(client: TestClient, keys: Keys) -> None:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 300, "jti": "h1"}
    assert call(client, jwt.encode(claims, "a-shared-secret-of-32-bytes-xxxxx", algorithm="HS256",
                                   headers={"kid": ES_KID})) == 401


def test_expired_future_and_too_long_refused(client: TestClient, keys: Keys) -> None:
    assert call(client, mint(keys, AUD, iat_offset=-400, exp_in=300)) == 401  # expired 100 s ago
    assert call(client, mint(keys, AUD, iat_offset=120)) == 401  # issued in the future
    assert call(client, mint(keys, AUD, exp_in=7200)) == 401  # lives longer than jwt_max_age_seconds


def test_wrong_audience_refused(client: TestClient, keys: Keys) -> None:
    assert call(client, mint(keys, BASE + "/cds-services/radlite-report-review")) == 401
    assert call(client, mint(keys, "https://evil.example/cds-services")) == 401


def test_unknown_issuer_and_foreign_jku_refused(client: TestClient, keys: Keys) -> None:
    assert call(client, mint(keys, AUD, iss="https://unknown.example")) == 401
    assert call(client, mint(keys, AUD, jku="https://attacker.example/jwks.json")) == 401


def test_wrong_key_refused(client: TestClient) -> None:
    assert call(client, mint(Keys(), AUD)) == 401  # signed by a key not in the issuer's JWKS


def test_replayed_jti_refused(client: TestClient, keys: Keys) -> None:
    token = mint(keys, AUD, jti="once-only")
    assert call(client, token) == 200
    assert call(client, token) == 401
    assert call(client, mint(keys, AUD, jti="once-only")) == 401  # a new token with a used jti too


def test_401_has_no_detail(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 401
    body = response.json()
    assert body["issue"][0]["diagnostics"] == "Unauthorized" and response.headers["www-authenticate"] == "Bearer"


def test_out_of_band_jwks_file(sqlite_url: str, ensemble: Any, keys: Keys, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    for c in _client(sqlite_url, ensemble, [{"iss": ISSUER, "jwks_path": str(path)}]):
        assert call(c, mint(keys, AUD, alg="RS384")) == 200
        assert call(c, mint(keys, AUD, alg="ES384", jku="https://any.example/jwks")) == 401  # no jku allow-listed


def test_service_endpoint_checks_its_own_audience(client: TestClient, keys: Keys) -> None:
    url = "/cds-services/radlite-report-review"
    bad = client.post(url, json={}, headers={"Authorization": f"Bearer {mint(keys, AUD)}"})
    assert bad.status_code == 401  # discovery's aud is not valid for the service
    ok = client.post(url, json={}, headers={"Authorization": f"Bearer {mint(keys, BASE + url)}"})
    assert ok.status_code == 400  # authenticated; the empty body is then refused as a bad request


def test_the_audit_names_the_verified_caller_of_a_hook(client: TestClient, keys: Keys, dev: Path) -> None:
    """Issue 6: an inbound hook is audited with who sent it: the JWT's iss and sub."""
    url = "/cds-services/radlite-report-review"
    req = json.loads((dev / "cds" / "patient-view-02.json").read_text())
    req["prefetch"]["reports"] = None  # "no data": the audit is what is under test, not the model
    response = client.post(url, json=req, headers={"Authorization": f"Bearer {mint(keys, BASE + url)}"})
    assert response.status_code == 200, response.text
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        hooks = list(s.scalars(select(AuditEvent).where(AuditEvent.event_type == "hook.request")))
    assert len(hooks) == 1
    event = hooks[0]
    assert (event.actor, event.actor_kind) == (f"{ISSUER}|client-app", "jwt")
    assert event.patient_id == req["context"]["patientId"] and event.input_hash
    assert event.detail["hookInstance"] == req["hookInstance"]


def test_turning_jwt_off_is_loud_in_development_and_refused_in_production(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="radlite.settings"):
        cds_settings(sqlite_url, jwt_required=False)
    loud = [r for r in caplog.records if r.name == "radlite.settings" and r.levelno >= logging.WARNING]
    assert loud and "UNSAFE" in loud[0].getMessage() and "JWT_REQUIRED" in loud[0].getMessage()
    with pytest.raises(ValidationError, match="not allowed in production"):
        cds_settings(sqlite_url, jwt_required=False, environment="production")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="radlite.settings"):
        cds_settings(sqlite_url, jwt_required=True, environment="production")
    assert not [r for r in caplog.records if r.name == "radlite.settings"]


def test_with_jwt_off_a_token_that_is_sent_is_still_checked(sqlite_url: str, ensemble: Any, keys: Keys) -> None:
    settings = cds_settings(sqlite_url, jwt_required=False, public_base_url=BASE)  # no trusted issuer at all
    with TestClient(create_app(settings, ensemble=ensemble)) as c:
        assert call(c, None) == 200  # development: anonymous calls pass
        assert call(c, mint(keys, AUD)) == 401  # but a token from an issuer we do not trust never does
        assert call(c, "not.a.jwt") == 401


@pytest.mark.parametrize(("path", "body", "content_type"), [
    ("/fhir/DiagnosticReport/$analyze", b"{}", "application/fhir+json"),
    ("/hl7/v2", b"MSH|^~\\&|RIS|HOSP|RADLITE|HOSP|20260101120000||ORU^R01|C1|P|2.5.1\rPID|1||123\r", "x-application/hl7-v2+er7"),
])
def test_the_fhir_and_hl7_http_doors_need_the_same_token(
    client: TestClient, keys: Keys, path: str, body: bytes, content_type: str
) -> None:
    """$analyze and HL7 over HTTP read PHI like the hooks do: no token, no entry, nothing stored;
    with a token for that URL the request is judged (here refused as bad input) and kept with its caller."""
    headers = {"Content-Type": content_type}
    assert client.post(path, content=body, headers=headers).status_code == 401
    wrong = {**headers, "Authorization": f"Bearer {mint(keys, AUD)}"}  # discovery's aud is not this door's
    assert client.post(path, content=body, headers=wrong).status_code == 401
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        assert list(s.scalars(select(InboundMessage))) == []
    ok = {**headers, "Authorization": f"Bearer {mint(keys, BASE + path)}"}
    response = client.post(path, content=body, headers=ok)
    assert response.status_code == 400, response.text  # authenticated; the body itself is refused
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = list(s.scalars(select(InboundMessage)))
    assert [(r.status, r.peer) for r in rows] == [("rejected", f"{ISSUER}|client-app")]
