"""Round 8b of the HTTP doors: the gaps round 8 found, as EHRs and FHIR clients would send them.

Numbers past the range of IEEE 754 doubles (RFC 8259 §6), a DiagnosticReport whose subject is a
contained Patient (FHIR R4 §2.3), the `tenant` claim against a per-issuer allow-list (CDS Hooks 2.0
trusting CDS Clients, checklist step 4), report text in two languages where the one read is given by url
(the language choice of the inbound adapter), and a client that sends its allow-listed `jku` while its
keys are pinned in a file. Real app, demo model, SQLite, real FHIR servers and JWKS on loopback, real
signed JWTs; each test states the expected status and body.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest_cds import (
    ES_KID,
    ISSUER,
    Ehr,
    FhirServer,
    Keys,
    b64,
    cds_settings,
    kept,
    outcome,
    radiology_report,
    rows,
    serve_ehr,
    serve_fhir,
)
from fastapi.testclient import TestClient
from pydantic import ValidationError

from adapters.cds.models import CdsResponse
from plugin.app import create_app
from plugin.settings import TrustedIssuer
from plugin.storage.tables import AuditEvent, CardServed, InboundMessage, Report, SeenJti

REVIEW = "/cds-services/radlite-report-review"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
PATIENT = "r8b-pt-31077"
BASE = "https://cds.r8b.example"
MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.4421.1"
MRN = "MRN-00417-R8B"
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
SS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}]}
FINDINGS = "Spiculated 14 mm solid nodule in the left upper lobe, new since the prior screening."
LUNG = ("EXAM: CT chest low dose screening\n\nFINDINGS:\n" + FINDINGS + "\nNo pleural effusion.\n\n"
        "IMPRESSION:\nNew spiculated left upper lobe nodule. Lung-RADS 4X. PET/CT is recommended.")
SPANISH = ("EXAMEN: TC de tórax de baja dosis\n\nHALLAZGOS:\nNódulo sólido espiculado de 14 mm en el lóbulo "
           "superior izquierdo.\n\nIMPRESIÓN:\nNódulo nuevo. Lung-RADS 4X.")
FRENCH = ("EXAMEN : TDM thoracique faible dose\n\nRÉSULTATS :\nNodule solide spiculé de 14 mm du lobe supérieur "
          "gauche.\n\nCONCLUSION :\nNodule nouveau. Lung-RADS 4X.")
GERMAN = "BEFUND:\nSpikulierter solider Rundherd von 14 mm im linken Oberlappen.\n\nBEURTEILUNG:\nLung-RADS 4X."


# ---- fixtures and builders -----------------------------------------------------------------------------------


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(sqlite_url, hook_budget_seconds=0.1), ensemble=ensemble)) as c:
        yield c


def dr(rid: str, text: str | None = LUNG, **extra: Any) -> dict[str, Any]:
    return radiology_report(rid, text, patient=PATIENT, effective="2026-08-03T14:05:00-04:00",
                            issued="2026-08-03T15:22:10-04:00", accession=f"R8B-{rid}", **extra)


def searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"https://ehr.r8b.example/fhir/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


def patient(pid: str = PATIENT, *identifiers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if identifiers:
        out["identifier"] = list(identifiers)
    return out


def mrn(value: str = MRN, system: str | None = MRN_SYSTEM, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": MR, "value": value, **extra}
    if system:
        out["system"] = system
    return out


def hook(reports: Any, pt: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hookInstance": str(uuid.uuid4()), "hook": "patient-view",
        "context": {"userId": "Practitioner/r8b-dr-okafor", "patientId": PATIENT},
        "prefetch": {"patient": pt or patient(PATIENT, mrn()), "reports": reports}}
    body.update(extra)
    return body


def auth(token: str = "r8b-token") -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": "user/DiagnosticReport.read user/Binary.read", "subject": "radlite"}


def contained_dr(rid: str, contained_patient: dict[str, Any], text: str | None = LUNG, **extra: Any) -> dict[str, Any]:
    return dr(rid, text, subject={"reference": "#pt"}, contained=[{**contained_patient, "id": "pt"}], **extra)


def cards(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    CdsResponse.model_validate(body)
    return body["cards"]


def stored(client: TestClient) -> dict[str, Report]:
    return {r.report_id: r for r in rows(client, Report)}


def anomalies(client: TestClient) -> list[AuditEvent]:
    return [e for e in rows(client, AuditEvent) if e.event_type == "safety.anomaly"]


def analysed(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"]


def post_fhir(client: TestClient, body: Any) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(ANALYZE + "?tasks=rads_assignment", content=raw,
                       headers={"Content-Type": "application/fhir+json"})


def diagnostics(body: dict[str, Any]) -> str:
    return " ".join(i.get("diagnostics", "") for i in body["issue"])


def form(text: str, language: str | None, **extra: Any) -> dict[str, Any]:
    out = {"contentType": "text/plain; charset=utf-8", "data": b64(text), **extra}
    if language:
        out["language"] = language
    return out


def by_url(url: str, language: str | None) -> dict[str, Any]:
    out = {"contentType": "text/plain", "url": url}
    if language:
        out["language"] = language
    return out


def text_of(report: Report) -> str:
    return " ".join(report.report_json.get(k) or "" for k in ("findings", "impression", "addendum"))


# ---- 1. numbers past the range of IEEE 754 doubles (RFC 8259 §6) ------------------------------------------


def with_number(body: dict[str, Any], number: str) -> bytes:
    """The request with an Observation valueQuantity holding `number` as written (json.dumps cannot write it)."""
    obs = {"resourceType": "Observation", "id": "r8b-size", "status": "final",
           "code": {"coding": [{"system": "http://loinc.org", "code": "21889-1"}]},
           "subject": {"reference": f"Patient/{PATIENT}"},
           "valueQuantity": {"value": "@NUMBER@", "unit": "mm", "system": "http://unitsofmeasure.org", "code": "mm"}}
    body["prefetch"]["sizes"] = obs
    return json.dumps(body).replace('"@NUMBER@"', number).encode()


@pytest.mark.parametrize("number", ["1e400", "-1.5E+309", "1" + "0" * 309, "9" * 5000])
def test_a_hook_with_a_number_too_big_for_a_double_is_400_and_kept(client: TestClient, number: str) -> None:
    """`1e400` would be read as infinity (and written back as `Infinity`, no JSON): refused as 400 structure."""
    raw = with_number(hook(searchset(dr("r8b-big")), fhirServer="https://ehr.r8b.example/fhir",
                           fhirAuthorization=auth("r8b-secret-token")), number)
    response = client.post(REVIEW, content=raw, headers={"Content-Type": "application/json"})
    body = outcome(response, 400, "structure")
    assert "RFC 8259 §6" in diagnostics(body) and number[:20] not in diagnostics(body)
    [row] = kept(client)
    assert row.status == "rejected" and b"r8b-big" in row.raw and b"r8b-secret-token" not in row.raw
    assert rows(client, CardServed) == [] and stored(client) == {}


@pytest.mark.parametrize("number", ["1e-400", "1.7976931348623157e308", "12345678901234567890", "-0.0"])
def test_numbers_within_the_double_range_are_read(client: TestClient, number: str) -> None:
    """A tiny number only loses precision (like a long fraction), the largest double and a long integer fit."""
    raw = with_number(hook(searchset(dr("r8b-fine"))), number)
    cards(client.post(REVIEW, content=raw, headers={"Content-Type": "application/json"}))
    assert set(stored(client)) == {"r8b-fine"}


def test_analyze_with_a_number_too_big_for_a_double_is_400_and_kept(client: TestClient) -> None:
    report = json.dumps(dr("r8b-an-big")).replace(
        '"status": ', '"extension": [{"url": "http://example.org/fhir/dose", "valueDecimal": 2.5e999}], "status": ')
    body = outcome(post_fhir(client, report.encode()), 400, "structure")
    assert "RFC 8259 §6" in diagnostics(body)
    assert [r.status for r in kept(client, "http-fhir")] == ["rejected"] and stored(client) == {}


def test_feedback_with_a_number_too_big_for_a_double_is_400_and_kept(client: TestClient) -> None:
    item = {"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": "2026-08-03T15:30:00Z",
            "extension": {"org.r8b.dwell": "@NUMBER@"}}
    raw = json.dumps({"feedback": [item]}).replace('"@NUMBER@"', "1e400").encode()
    response = client.post(REVIEW + "/feedback", content=raw, headers={"Content-Type": "application/json"})
    assert "RFC 8259 §6" in diagnostics(outcome(response, 400, "structure"))
    assert [r.status for r in kept(client, "cds-feedback")] == ["rejected"]


# ---- 2. a subject that is a contained Patient (FHIR R4 §2.3) ---------------------------------------------------


def test_analyze_a_contained_patient_is_named_by_its_medical_record_number(client: TestClient) -> None:
    """An engine's resource with the patient contained: the results carry the patient, never the local id `pt`."""
    pt = patient("ignored", {"system": "http://hl7.org/fhir/sid/us-ssn", "type": SS, "value": "999-41-0417"}, mrn())
    observations = analysed(post_fhir(client, contained_dr("r8b-cont", pt)))
    assert observations and stored(client)["r8b-cont"].patient_id == MRN
    subjects = {json.dumps(o.get("subject"), sort_keys=True) for o in observations}
    assert len(subjects) == 1 and MRN in subjects.pop()
    assert all("Patient/pt" not in json.dumps(o) and "999-41-0417" not in json.dumps(o) for o in observations)


def test_analyze_an_old_record_number_is_passed_over_for_the_current_one(client: TestClient) -> None:
    pt = patient("x", mrn("MRN-OLD-1", use="old"), {"system": "urn:oid:1.2.3.99", "value": "R8B-UNTYPED-7"})
    analysed(post_fhir(client, contained_dr("r8b-old", pt)))
    assert stored(client)["r8b-old"].patient_id == "R8B-UNTYPED-7"


@pytest.mark.parametrize("pt", [
    {"resourceType": "Patient"},  # only the local id
    patient("x", {"system": "http://hl7.org/fhir/sid/us-ssn", "type": SS, "value": "999-41-0417"}),
    patient("x", mrn(value="   ")),
])
def test_analyze_a_contained_patient_without_a_record_number_gives_no_patient(client: TestClient,
                                                                               pt: dict[str, Any]) -> None:
    """No identifier that keys a patient record: the results name no patient (never `pt`, never a national id)."""
    observations = analysed(post_fhir(client, contained_dr("r8b-noid", pt)))
    assert observations and all("subject" not in o for o in observations)
    assert stored(client)["r8b-noid"].patient_id is None


def test_analyze_a_contained_observation_of_the_contained_patient_is_report_text(client: TestClient) -> None:
    """Result Observations contained beside the Patient name it `#pt` too: the same subject, read as text."""
    impression = {"resourceType": "Observation", "id": "imp", "status": "final", "subject": {"reference": "#pt"},
                  "code": {"coding": [{"system": "http://loinc.org", "code": "19005-8"}]},
                  "valueString": "Left upper lobe nodule. Lung-RADS 4A."}
    other = {"resourceType": "Observation", "id": "imp2", "status": "final", "subject": {"reference": "#pt2"},
             "code": {"coding": [{"system": "http://loinc.org", "code": "18782-3"}]},
             "valueString": "Lung-RADS 1: negative screening."}
    report = dr("r8b-cobs", text=None, subject={"reference": "#pt"},
                contained=[{**patient("pt", mrn())}, {**patient("pt2", mrn("MRN-99120-OTHER"))}, impression, other],
                result=[{"reference": "#imp"}, {"reference": "#imp2"}])
    analysed(post_fhir(client, report))
    got = stored(client)["r8b-cobs"]
    assert got.patient_id == MRN and "Lung-RADS 4A" in text_of(got) and "negative screening" not in text_of(got)


def test_the_hook_reads_a_contained_patient_sharing_an_identifier_with_the_context_patient(
        client: TestClient) -> None:
    """Same system and value as the prefetched Patient's MRN: the hook's patient; stored under context.patientId."""
    cards(client.post(REVIEW, json=hook(searchset(contained_dr("r8b-hk", patient("x", mrn()))))))
    got = stored(client)
    assert set(got) == {"r8b-hk"} and got["r8b-hk"].patient_id == PATIENT and anomalies(client) == []


@pytest.mark.parametrize(("local", "context_pt"), [
    (patient("x", mrn("MRN-55120")), patient(PATIENT, mrn())),  # another record number
    (patient("x", mrn(system="urn:oid:1.2.3.4.5")), patient(PATIENT, mrn())),  # same number, another hospital
    (patient("x", mrn(system=None)), patient(PATIENT, mrn(system=None))),  # no system: no sure match
    (patient("x", mrn(PATIENT)), patient(PATIENT)),  # an MRN spelled like the context id is no id
    (patient("x", mrn()), patient("r8b-another-pt", mrn())),  # the prefetched Patient is not the context's
])
def test_the_hook_sets_aside_a_contained_patient_that_is_not_the_context_patient(
        client: TestClient, local: dict[str, Any], context_pt: dict[str, Any]) -> None:
    response = client.post(REVIEW, json=hook(searchset(contained_dr("r8b-other", local)), pt=context_pt))
    assert cards(response) == [] and stored(client) == {} and rows(client, CardServed) == []
    [event] = anomalies(client)
    assert event.patient_id == PATIENT and event.detail["readable"] is True


def test_the_hook_sets_aside_an_unreadable_report_of_another_contained_patient(client: TestClient) -> None:
    report = contained_dr("r8b-unread", patient("x", mrn("MRN-55120")), text=None)
    assert cards(client.post(REVIEW, json=hook(searchset(report)))) == []
    [event] = anomalies(client)
    assert event.detail["readable"] is False and event.detail["report_id"] == "r8b-unread"


def test_the_hook_fetches_text_by_url_for_a_matched_contained_patient_only(client: TestClient) -> None:
    mine = contained_dr("r8b-url-mine", patient("x", mrn()), text=None,
                        presentedForm=[by_url("Binary/r8b-mine", None)])
    theirs = contained_dr("r8b-url-theirs", patient("x", mrn("MRN-55120")), text=None,
                          presentedForm=[by_url("Binary/r8b-theirs", None)])
    ehr = Ehr(binaries={"r8b-mine": (LUNG.encode(), "text/plain"), "r8b-theirs": (LUNG.encode(), "text/plain")})
    for fake in serve_ehr(ehr):
        cards(client.post(REVIEW, json=hook(searchset(mine, theirs), fhirServer=fake.base,
                                            fhirAuthorization=auth())))
        assert fake.paths() == ["/Binary/r8b-mine"]  # minimum necessary: nothing read for the other patient
    assert set(stored(client)) == {"r8b-url-mine"} and FINDINGS in text_of(stored(client)["r8b-url-mine"])


# ---- 3. the tenant claim (CDS Hooks 2.0: "tenant is allowed, if used") ----------------------------------------


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def secured_app(sqlite_url: str, ensemble: Any, issuers: list[dict[str, Any]]) -> Iterator[TestClient]:
    settings = cds_settings(sqlite_url, jwt_required=True, public_base_url=BASE, jwt_leeway_seconds=10,
                            trusted_issuers=json.dumps(issuers), hook_budget_seconds=0.1)
    with TestClient(create_app(settings, ensemble=ensemble)) as c:
        yield c


@pytest.fixture()
def key_file(keys: Keys, tmp_path: Path) -> Path:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    return path


@pytest.fixture()
def tenanted(sqlite_url: str, ensemble: Any, key_file: Path) -> Iterator[TestClient]:
    yield from secured_app(sqlite_url, ensemble, [{"iss": ISSUER, "jwks_path": str(key_file),
                                                   "tenants": ["r8b-hospital-west", "2ddd6c3a-8e9a-44c6"]}])


def token(keys: Keys, *, aud: str = BASE + REVIEW, header: dict[str, Any] | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "r8b-ehr", "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4()),
            **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, keys.es, algorithm="ES384",
                      headers={"typ": "JWT", "kid": ES_KID, **(header or {})})


def call(c: TestClient, tok: str) -> Any:
    return c.post(REVIEW, json=hook(None), headers={"Authorization": f"Bearer {tok}"})


@pytest.mark.parametrize("tenant", ["r8b-hospital-west", "2ddd6c3a-8e9a-44c6"])
def test_an_allowed_tenant_is_taken(tenanted: TestClient, keys: Keys, tenant: str) -> None:
    assert cards(call(tenanted, token(keys, tenant=tenant))) == []
    assert [r.status for r in kept(tenanted)] == ["done"] and len(rows(tenanted, SeenJti)) == 1


@pytest.mark.parametrize("tenant", ["r8b-hospital-east", "R8B-HOSPITAL-WEST", None, ["r8b-hospital-west"], 42])
def test_a_tenant_not_allowed_or_missing_is_401_and_nothing_is_stored(tenanted: TestClient, keys: Keys,
                                                                       tenant: Any) -> None:
    """Opaque ids compare exactly; an issuer with an allow-list needs one of them. 401 without detail, nothing kept."""
    body = outcome(call(tenanted, token(keys, tenant=tenant)), 401, "login")
    assert diagnostics(body) == "Unauthorized"
    assert rows(tenanted, InboundMessage) == [] and rows(tenanted, SeenJti) == [] and rows(tenanted, Report) == []


def test_discovery_refuses_a_tenant_not_allowed(tenanted: TestClient, keys: Keys) -> None:
    aud = BASE + "/cds-services"
    headers = {"Authorization": f"Bearer {token(keys, aud=aud, tenant='r8b-hospital-east')}"}
    outcome(tenanted.get("/cds-services", headers=headers), 401, "login")
    ok = {"Authorization": f"Bearer {token(keys, aud=aud, tenant='r8b-hospital-west')}"}
    assert tenanted.get("/cds-services", headers=ok).status_code == 200


def test_tenants_are_per_issuer(sqlite_url: str, ensemble: Any, keys: Keys, key_file: Path) -> None:
    """Another issuer without an allow-list takes any tenant (or none); the first still checks its own."""
    other = "https://ehr-east.r8b.example"
    for c in secured_app(sqlite_url, ensemble, [
            {"iss": ISSUER, "jwks_path": str(key_file), "tenants": ["r8b-hospital-west"]},
            {"iss": other, "jwks_path": str(key_file)}]):
        cards(call(c, token(keys, iss=other, tenant="r8b-hospital-east")))
        cards(call(c, token(keys, iss=other)))
        outcome(call(c, token(keys, tenant="r8b-hospital-east")), 401, "login")


def test_an_empty_tenant_list_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="tenants"):
        TrustedIssuer(iss=ISSUER, jku="https://ehr.r8b.example/jwks", tenants=[])


# ---- 4. a jku sent beside keys pinned in a file --------------------------------------------------------------


@pytest.fixture()
def pinned(sqlite_url: str, ensemble: Any, keys: Keys, key_file: Path) -> Iterator[tuple[TestClient, FhirServer]]:
    """The issuer's jku is allow-listed and its keys pinned in a file: the jku is a label, never fetched."""
    for fake in serve_fhir(FhirServer(resources={}, jwks=keys.jwks())):
        jku = fake.base + "/.well-known/jwks.json"
        for c in secured_app(sqlite_url, ensemble, [{"iss": ISSUER, "jku": jku, "jwks_path": str(key_file)}]):
            yield c, fake


def test_a_pinned_issuer_takes_its_allow_listed_jku_without_fetching_it(pinned: tuple[TestClient, FhirServer],
                                                                        keys: Keys) -> None:
    c, fake = pinned
    jku = fake.base + "/.well-known/jwks.json"
    cards(call(c, token(keys, header={"jku": jku})))
    cards(call(c, token(keys)))  # no jku at all: the out-of-band keys
    assert fake.jwks_hits == 0


def test_a_pinned_issuer_refuses_any_other_jku(pinned: tuple[TestClient, FhirServer], keys: Keys) -> None:
    c, fake = pinned
    outcome(call(c, token(keys, header={"jku": "https://attacker.example/jwks.json"})), 401, "login")
    outcome(call(c, token(keys, header={"jku": fake.base + "/.well-known/other.json"})), 401, "login")
    assert fake.jwks_hits == 0 and rows(c, InboundMessage) == []


def test_a_pinned_key_set_without_the_kid_is_401_and_the_jku_is_not_asked(pinned: tuple[TestClient, FhirServer],
                                                                          keys: Keys) -> None:
    c, fake = pinned
    jku = fake.base + "/.well-known/jwks.json"
    outcome(call(c, token(keys, header={"jku": jku, "kid": "r8b-not-pinned"})), 401, "login")
    assert fake.jwks_hits == 0


def test_a_file_only_issuer_still_refuses_the_sandbox_jku(sqlite_url: str, ensemble: Any, keys: Keys,
                                                          key_file: Path) -> None:
    """With no jku allow-listed, a token naming one is refused (CDS Hooks 2.0: allow-list `iss` and `jku`)."""
    for c in secured_app(sqlite_url, ensemble, [{"iss": ISSUER, "jwks_path": str(key_file)}]):
        jku = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
        outcome(call(c, token(keys, header={"jku": jku})), 401, "login")
        cards(call(c, token(keys)))


# ---- 5. the language read decides what is fetched by url -----------------------------------------------------


@pytest.mark.parametrize(("forms", "language"), [
    ([form(SPANISH, "es"), by_url("Binary/r8b-en", "en")], None),
    ([form(SPANISH, "es-MX"), by_url("Binary/r8b-en", "en-US")], "es"),
    ([form(SPANISH, None), by_url("Binary/r8b-en", "en")], "es"),  # the untagged original is Spanish
    ([form(SPANISH, "es"), by_url("Binary/r8b-en", None)], "en"),  # the untagged one is in the report's English
])
def test_english_given_by_url_is_fetched_beside_spanish_inline(client: TestClient, forms: list[dict[str, Any]],
                                                               language: str | None) -> None:
    extra = {"language": language} if language else {}
    report = dr("r8b-lang", text=None, presentedForm=forms, **extra)
    for fake in serve_ehr(Ehr(binaries={"r8b-en": (LUNG.encode(), "text/plain; charset=utf-8")})):
        cards(client.post(REVIEW, json=hook(searchset(report), fhirServer=fake.base, fhirAuthorization=auth())))
        assert fake.paths() == ["/Binary/r8b-en"]
    got = stored(client)["r8b-lang"]
    assert FINDINGS in got.report_json["findings"] and "Nódulo" not in text_of(got)


@pytest.mark.parametrize(("forms", "language", "wanted"), [
    ([form(LUNG, "en"), by_url("Binary/r8b-es", "es")], None, FINDINGS),  # English inline: nothing to fetch
    ([form(FRENCH, "fr"), by_url("Binary/r8b-de", "de")], "fr", "spiculé"),  # the report's French is inline
    ([form(FRENCH, None), by_url("Binary/r8b-de", "de")], None, "spiculé"),  # untagged beats another language
])
def test_nothing_is_fetched_when_the_language_read_is_inline(client: TestClient, forms: list[dict[str, Any]],
                                                             language: str | None, wanted: str) -> None:
    extra = {"language": language} if language else {}
    report = dr("r8b-inl", text=None, presentedForm=forms, **extra)
    ehr = Ehr(binaries={"r8b-es": (SPANISH.encode(), "text/plain"), "r8b-de": (GERMAN.encode(), "text/plain")})
    for fake in serve_ehr(ehr):
        cards(client.post(REVIEW, json=hook(searchset(report), fhirServer=fake.base, fhirAuthorization=auth())))
        assert fake.paths() == []
    assert wanted in text_of(stored(client)["r8b-inl"])


def test_analyze_reads_english_from_a_contained_binary_beside_spanish_inline(client: TestClient) -> None:
    binary = {"resourceType": "Binary", "id": "en", "contentType": "text/plain; charset=utf-8", "data": b64(LUNG)}
    report = dr("r8b-an-lang", text=None, contained=[binary],
                presentedForm=[form(SPANISH, "es"), by_url("#en", "en")])
    analysed(post_fhir(client, report))
    got = stored(client)["r8b-an-lang"]
    assert FINDINGS in got.report_json["findings"] and "Nódulo" not in text_of(got)
