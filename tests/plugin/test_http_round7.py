"""Round 7 of the HTTP doors: requests from EHRs and FHIR clients none of the earlier rounds sent.

Bodies in another encoding than UTF-8 (RFC 8259 §8.1, FHIR http "UTF-8 only": 415), reports whose
status says there is nothing to analyse (`registered`: 422 on `$analyze`, skipped by the hook),
modifier extensions (FHIR R4 extensibility: never read as if absent), hooks the discovery document
does not advertise, prefetch paged by `next` links or lost to an expired fhirAuthorization token
(CDS Hooks 2.0 §1.4: 412), DiagnosticReport renditions and elements EHRs send, Accept / `_format` /
Content-Type variants, bodies near the size of a busy patient's history, trailing slashes, methods
not served, and JWTs with edge-case `aud`, `iss`, `exp`, `iat`, `nbf` and `jti` (§1.8). Real app,
demo model, SQLite, real FHIR servers on loopback, real signed JWTs. Every refusal is a 4xx
OperationOutcome naming the fault, and the request is kept for review.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest_cds import (
    ISSUER,
    Ehr,
    FhirServer,
    Keys,
    LoopbackServer,
    analysed,
    b64,
    cds_settings,
    kept,
    mint,
    outcome,
    radiology_report,
    refused,
    result_observation,
    serve_ehr,
    serve_fhir,
    stored,
)
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from adapters.cds.models import CdsResponse, empty_paths, summary_length
from plugin.app import create_app

REVIEW = "/cds-services/radlite-report-review"
ORDER = "/cds-services/radlite-imaging-order"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
PATIENT = "r7-pt-30977"
BASE = "https://cds.r7.example"
FINDINGS = "Spiculated 14 mm solid nodule in the left lower lobe, new since the prior screening."
LUNG = (
    "EXAM: CT chest low dose screening\n\nFINDINGS:\n" + FINDINGS + "\nNo pleural effusion.\n\n"
    "IMPRESSION:\nNew spiculated left lower lobe nodule. Lung-RADS 4X. PET/CT or tissue sampling is recommended."
)
ACCENTED = "CT THORAX - nodule sous-pleural, réévaluation à 3 mois"
CONCLUSION = "Right thyroid nodule, ACR TI-RADS TR5. Fine needle aspiration is recommended."


# ---- fixtures and builders ---------------------------------------------------------------------------------


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(sqlite_url, hook_budget_seconds=0.1), ensemble=ensemble)) as c:
        yield c


def dr(rid: str, text: str | None = LUNG, **extra: Any) -> dict[str, Any]:
    return radiology_report(rid, text, patient=PATIENT, effective="2026-06-09T14:05:00-04:00",
                            issued="2026-06-09T15:31:07-04:00", accession=f"R7-{rid}", **extra)


def obs(oid: str, loinc: str, text: str) -> dict[str, Any]:
    return result_observation(oid, loinc, text, patient=PATIENT)


def searchset(*resources: dict[str, Any], base: str = "https://ehr.r7.example/fhir/r4") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r.get('id', i)}", "resource": r,
                       "search": {"mode": "match" if r["resourceType"] == "DiagnosticReport" else "include"}}
                      for i, r in enumerate(resources)]}


def auth(token: str = "r7-token") -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": "user/DiagnosticReport.read user/Observation.read user/Binary.read", "subject": "radlite"}


def draft_orders(*extra: dict[str, Any]) -> dict[str, Any]:
    ct = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order",
          "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "71260",
                               "display": "CT chest with contrast"}]},
          "subject": {"reference": f"Patient/{PATIENT}"}}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": "urn:uuid:5f0c7a52-1d3b-4b8e-a1f2-6c9d0e7b3a41", "resource": ct},
                      *({"resource": r} for r in extra)]}


def hook(name: str = "patient-view", reports: Any = ..., **extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"userId": "PractitionerRole/r7-hosp-22", "patientId": PATIENT, "encounterId": "r7-enc-5"}
    if name in ("order-select", "order-sign"):
        ctx["draftOrders"] = draft_orders()
    if name == "order-select":
        ctx["selections"] = ["urn:uuid:5f0c7a52-1d3b-4b8e-a1f2-6c9d0e7b3a41"]
    body: dict[str, Any] = {"hookInstance": str(uuid.uuid4()), "hook": name, "context": ctx,
                            "prefetch": {"patient": {"resourceType": "Patient", "id": PATIENT},
                                         "reports": searchset(dr("r7-dr")) if reports is ... else reports}}
    body.update(extra)
    return body


def spec_cards(response: Any) -> list[dict[str, Any]]:
    """A 200 answer whose cards are each well formed per CDS Hooks 2.0 §1.6."""
    assert response.status_code == 200, response.text
    body = response.json()
    CdsResponse.model_validate(body)
    assert set(body) <= {"cards", "systemActions"} and empty_paths(body) == []
    for card in body["cards"]:
        assert 0 < summary_length(card["summary"]) < 140 and uuid.UUID(card["uuid"])
    return body["cards"]


def post_fhir(client: TestClient, body: Any, query: str = "?tasks=rads_assignment", raw: bytes | None = None,
              **headers: str) -> Any:
    return client.post(ANALYZE + query, content=raw if raw is not None else json.dumps(body).encode(),
                       headers={"Content-Type": "application/fhir+json", **headers})


def diagnostics(body: dict[str, Any]) -> str:
    return " ".join(i.get("diagnostics", "") for i in body["issue"])


# ---- 1. JSON is UTF-8 (RFC 8259 §8.1; FHIR http) ---------------------------------------------------------------


def report_bytes(encoding: str, bom: bytes = b"") -> bytes:
    """A report whose code.text holds accented letters, so its bytes differ between encodings."""
    return bom + json.dumps(dr("r7-enc", code={"text": ACCENTED}), ensure_ascii=False).encode(encoding)


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/fhir+json; charset=ISO-8859-1", report_bytes("latin-1")),
        ("application/fhir+json;charset=windows-1252", report_bytes("cp1252")),
        ("application/json; charset=utf-16", report_bytes("utf-16")),
        ("application/fhir+json; charset=UTF-16LE", report_bytes("utf-16-le")),
        ("application/fhir+json", report_bytes("utf-16")),  # undeclared, but the BOM says UTF-16
        ("application/fhir+json", report_bytes("utf-32")),
        ("application/fhir+json", report_bytes("utf-16-be")),  # no BOM: the NUL pattern says UTF-16
        ("application/fhir+json; charset=klingon-8", report_bytes("latin-1")),
    ],
)
def test_analyze_a_body_in_another_encoding_than_utf8_is_415_naming_it(client: TestClient, content_type: str,
                                                                      raw: bytes) -> None:
    body = refused(client, post_fhir(client, None, raw=raw, **{"Content-Type": content_type}), 415,
                   "not-supported", channel="http-fhir")
    assert "UTF-8" in diagnostics(body) and ACCENTED not in json.dumps(body, ensure_ascii=False)
    assert kept(client, "http-fhir")[0].raw == raw  # kept as it came, for review


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/fhir+json; charset=utf8", report_bytes("utf-8")),
        ('application/fhir+json; charset="UTF-8"; fhirVersion=4.0', report_bytes("utf-8")),
        ("application/fhir+json", report_bytes("utf-8", bom=b"\xef\xbb\xbf")),  # RFC 8259 §8.1: may be ignored
        # Plain ASCII labelled ISO-8859-1 (the HTTP/1.1 default some client libraries add): the same bytes in UTF-8.
        ("application/fhir+json; charset=ISO-8859-1", json.dumps(dr("r7-enc")).encode("ascii")),
        # RFC 8259 §11: a charset parameter has no effect on a compliant recipient; UTF-8 bytes are read as such.
        ("application/fhir+json; charset=ISO-8859-1", report_bytes("utf-8")),
        ("application/fhir+json; charset=klingon-8", report_bytes("utf-8")),
        ("application/json+fhir", report_bytes("utf-8")),  # the DSTU2 media type, as Accept already takes it
    ],
)
def test_analyze_reads_utf8_whatever_its_label_says_when_the_bytes_agree(client: TestClient, content_type: str,
                                                                        raw: bytes) -> None:
    analysed(post_fhir(client, None, raw=raw, **{"Content-Type": content_type}))
    assert FINDINGS in stored(client)["r7-enc"]["findings"]


@pytest.mark.parametrize("raw", [report_bytes("latin-1"), b"\xff\xfe", "FINDINGS: no JSON".encode("utf-16")])
def test_analyze_undeclared_bytes_that_are_no_json_in_any_unicode_encoding_stay_400(client: TestClient,
                                                                                    raw: bytes) -> None:
    """Not UTF-8, and no JSON in another encoding either (Latin-1 bytes, a lone BOM, UTF-16 prose): malformed."""
    body = refused(client, post_fhir(client, None, raw=raw), 400, "structure", channel="http-fhir")
    assert "UTF-8" in diagnostics(body)


@pytest.mark.parametrize(
    ("content_type", "encoding"),
    [("application/json; charset=ISO-8859-1", "latin-1"), ("application/json; charset=utf-16", "utf-16"),
     ("application/json", "utf-32")],
)
def test_a_hook_request_not_in_utf8_is_415_kept_and_its_token_scrubbed(client: TestClient, content_type: str,
                                                                      encoding: str) -> None:
    req = hook(fhirServer="https://ehr.r7.example/fhir/r4", fhirAuthorization=auth("r7-secret-token-value"))
    req["context"]["userId"] = "Practitioner/r7-Müller"  # non-ASCII, so Latin-1 bytes are not UTF-8
    raw = json.dumps(req, ensure_ascii=False).encode(encoding)
    body = refused(client, client.post(REVIEW, content=raw, headers={"Content-Type": content_type}), 415,
                   "not-supported")
    assert "UTF-8" in diagnostics(body)
    [row] = kept(client)
    for enc in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le"):
        assert "r7-secret-token-value".encode(enc) not in row.raw


def test_feedback_not_in_utf8_is_415_and_kept(client: TestClient) -> None:
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-06-09T19:22:05Z",
            "overrideReason": {"userComment": "Déjà programmé"}}
    raw = json.dumps({"feedback": [item]}, ensure_ascii=False).encode("latin-1")
    response = client.post(REVIEW + "/feedback", content=raw,
                           headers={"Content-Type": "application/json; charset=ISO-8859-1"})
    assert "UTF-8" in diagnostics(outcome(response, 415, "not-supported"))
    assert [r.status for r in kept(client, "cds-feedback")] == ["rejected"]


@pytest.mark.parametrize(
    ("path", "channel", "encoding"),
    [(ANALYZE, "http-fhir", "gzip"), (REVIEW, "cds-hook", "gzip"), (REVIEW + "/feedback", "cds-feedback", "deflate"),
     (ANALYZE, "http-fhir", "identity, br")],
)
def test_a_compressed_body_is_415_naming_the_coding_and_kept(client: TestClient, path: str, channel: str,
                                                            encoding: str) -> None:
    """RFC 9110 §8.4.1 / §12.5.3: a content coding the server does not take is a 415 with Accept-Encoding,
    not a 400 saying the (compressed) JSON is broken."""
    body = {ANALYZE: dr("r7-gz"), REVIEW: hook()}.get(path, {"feedback": []})
    raw = gzip.compress(json.dumps(body).encode()) if encoding == "gzip" else zlib.compress(json.dumps(body).encode())
    response = client.post(path, content=raw, headers={"Content-Type": "application/json", "Content-Encoding": encoding})
    assert "Content-Encoding" in diagnostics(refused(client, response, 415, "not-supported", channel=channel))
    assert response.headers["accept-encoding"] == "identity"
    assert kept(client, channel)[0].raw == raw


def test_an_identity_content_encoding_is_read(client: TestClient) -> None:
    response = client.post(ANALYZE + "?tasks=rads_assignment", content=json.dumps(dr("r7-id")).encode(),
                           headers={"Content-Type": "application/fhir+json", "Content-Encoding": "identity"})
    analysed(response)


# ---- 2. what the report's status allows (FHIR R4 diagnostic-report-status) -------------------------------------


@pytest.mark.parametrize(
    ("status", "text"),
    [("registered", LUNG), ("registered", None), ("cancelled", None), ("entered-in-error", None)],
)
def test_analyze_a_report_with_nothing_to_analyse_is_422_saying_why(client: TestClient, status: str,
                                                                   text: str | None) -> None:
    """Refused for its status, text or no text: a registered report has "nothing yet available"."""
    body = refused(client, post_fhir(client, dr("r7-st", text=text, status=status)), 422, "business-rule",
                   channel="http-fhir")
    assert body["issue"][0]["expression"] == ["DiagnosticReport.status"]
    assert status in diagnostics(body)
    assert status in kept(client, "http-fhir")[0].error


@pytest.mark.parametrize("status", ["partial", "appended", "unknown"])
def test_analyze_reads_the_other_statuses(client: TestClient, status: str) -> None:
    analysed(post_fhir(client, dr("r7-ok", status=status)))
    assert stored(client)["r7-ok"]["status"] == status


def test_analyze_a_bundle_of_registered_and_final_reads_the_final_only(client: TestClient) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": dr("r7-reg", text=None, status="registered")}, {"resource": dr("r7-fin")}]}
    analysed(post_fhir(client, bundle))
    assert set(stored(client)) == {"r7-fin"}


def test_the_hook_skips_a_registered_report_the_way_analyze_refuses_it(client: TestClient) -> None:
    reports = searchset(dr("r7-hook-reg", text=None, status="registered"), dr("r7-hook-fin"))
    spec_cards(client.post(REVIEW, json=hook(reports=reports)))
    assert set(stored(client)) == {"r7-hook-fin"}


# ---- 3. modifier extensions (FHIR R4 extensibility) -----------------------------------------------------------


MODIFIER = [{"url": "https://ehr.r7.example/fhir/StructureDefinition/report-retracted", "valueBoolean": True}]


@pytest.mark.parametrize(
    ("edit", "expression"),
    [
        (lambda r: r.update(modifierExtension=MODIFIER), "DiagnosticReport.modifierExtension"),
        (lambda r: r.update(media=[{"link": {"reference": "Media/r7-key-image"}, "modifierExtension": MODIFIER}]),
         "DiagnosticReport.media[0].modifierExtension"),
        (lambda r: r.update(result=[{"reference": "#imp"}],
                            contained=[{**obs("imp", "19005-8", "Lung-RADS 4X."), "modifierExtension": MODIFIER}]),
         "DiagnosticReport.contained[0].modifierExtension"),
    ],
)
def test_analyze_refuses_a_report_with_a_modifier_extension_naming_where(client: TestClient, edit: Any,
                                                                         expression: str) -> None:
    report = dr("r7-mod")
    edit(report)
    body = refused(client, post_fhir(client, report), 400, "not-supported", channel="http-fhir")
    assert [i["expression"] for i in body["issue"]] == [[expression]]


def test_the_hook_sets_a_report_with_a_modifier_extension_aside(client: TestClient) -> None:
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(dr("r7-hook-mod", modifierExtension=MODIFIER),
                                                               dr("r7-hook-plain")))))
    assert set(stored(client)) == {"r7-hook-plain"}


def test_ordinary_extensions_everywhere_are_read(client: TestClient) -> None:
    """Plain extensions add, never change, meaning: on the report, on a primitive (`_status`), on an attachment."""
    ext = [{"url": "https://ehr.r7.example/fhir/StructureDefinition/reading-room", "valueString": "RR-3"}]
    report = dr("r7-ext", extension=ext, _status={"extension": ext})
    report["presentedForm"][0]["extension"] = ext
    analysed(post_fhir(client, report))
    assert FINDINGS in stored(client)["r7-ext"]["findings"]


# ---- 4. hooks the discovery document does not advertise ----------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [(REVIEW, "encounter-discharge"), (REVIEW, "encounter-start"), (ORDER, "appointment-book"),
     (REVIEW, "org.example.diagnosticreport-review"), (REVIEW, "order-sign"), (ORDER, "patient-view")],
)
def test_a_hook_the_service_does_not_serve_is_400_naming_it_and_kept(client: TestClient, path: str,
                                                                    name: str) -> None:
    req = hook("patient-view")
    req["hook"] = name
    body = refused(client, client.post(path, json=req), 400, "not-supported")
    assert name in diagnostics(body)
    assert kept(client)[0].control_id == req["hookInstance"]


def test_discovery_names_every_hook_a_service_serves(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    served = {(s["id"], s["hook"]) for s in services}
    assert served == {("radlite-report-review", "patient-view"), ("radlite-imaging-order", "order-select"),
                      ("radlite-imaging-order", "order-sign")}


def test_order_sign_with_a_medication_draft_beside_the_imaging_order(client: TestClient) -> None:
    req = hook("order-sign")
    req["context"]["draftOrders"] = draft_orders(
        {"resourceType": "MedicationRequest", "id": "r7-med", "status": "draft", "intent": "order",
         "medicationCodeableConcept": {"text": "iohexol 350 mg I/mL"}, "subject": {"reference": f"Patient/{PATIENT}"}})
    spec_cards(client.post(ORDER, json=req))
    assert kept(client)[0].status == "done" and "r7-dr" in stored(client)


def test_order_select_naming_its_draft_by_full_url(client: TestClient) -> None:
    spec_cards(client.post(ORDER, json=hook("order-select")))
    assert kept(client)[0].status == "done"


# ---- 5. prefetch: pages, other entries, fetched, lost (CDS Hooks 2.0 §1.4) -----------------------------------------


def test_a_prefetched_page_with_a_next_link_is_completed_from_fhir_server(client: TestClient) -> None:
    older = dr("r7-page2", effectiveDateTime="2025-12-01T10:00:00-05:00")
    server = FhirServer(resources={"DiagnosticReport": [dr("r7-page1"), older]}, page_size=1)
    for fake in serve_fhir(server):
        first = searchset(dr("r7-page1"))
        first["link"] = [{"relation": "self", "url": f"{fake.base}/DiagnosticReport?patient={PATIENT}"},
                         {"relation": "next", "url": f"{fake.base}/DiagnosticReport?patient={PATIENT}&page=1"}]
        spec_cards(client.post(REVIEW, json=hook(reports=first, fhirServer=fake.base, fhirAuthorization=auth())))
        assert fake.seen_auth == ["Bearer r7-token"]
    assert set(stored(client)) == {"r7-page1", "r7-page2"}


def test_a_next_link_to_another_origin_is_not_followed_and_gets_no_token(client: TestClient) -> None:
    elsewhere = FhirServer(resources={"DiagnosticReport": [dr("r7-elsewhere")]})
    ehr = Ehr()
    for other in serve_fhir(elsewhere):
        for fake in serve_ehr(ehr):
            first = searchset(dr("r7-here"))
            first["link"] = [{"relation": "next", "url": f"{other.base}/DiagnosticReport?patient={PATIENT}&page=0"}]
            spec_cards(client.post(REVIEW, json=hook(reports=first, fhirServer=fake.base,
                                                     fhirAuthorization=auth())))
            assert other.seen_auth == []
    assert set(stored(client)) == {"r7-here"}


def test_a_next_link_without_a_fhir_server_reads_the_page_it_has(client: TestClient) -> None:
    first = searchset(dr("r7-only-page"))
    first["link"] = [{"relation": "next", "url": "https://ehr.r7.example/fhir/r4/DiagnosticReport?page=2"}]
    spec_cards(client.post(REVIEW, json=hook(reports=first)))
    assert set(stored(client)) == {"r7-only-page"}


def test_a_searchset_of_every_kind_of_entry_reads_the_reports_and_their_included_results(client: TestClient) -> None:
    report = dr("r7-mix", text=None, result=[{"reference": "Observation/r7-find"}, {"reference": "Observation/r7-imp"}])
    bundle = searchset(
        report, obs("r7-find", "18782-3", FINDINGS), obs("r7-imp", "19005-8", "Lung-RADS 4X."),
        {"resourceType": "Patient", "id": PATIENT},
        {"resourceType": "DocumentReference", "id": "r7-doc", "status": "current",
         "content": [{"attachment": {"contentType": "text/plain", "data": b64(CONCLUSION)}}]},
        {"resourceType": "ImagingStudy", "id": "r7-study", "status": "available",
         "subject": {"reference": f"Patient/{PATIENT}"}},
    )
    bundle["entry"].append({"resource": {"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "processing", "diagnostics": "2 reports not shown (restricted)"}]},
        "search": {"mode": "outcome"}})
    spec_cards(client.post(REVIEW, json=hook(reports=bundle)))
    saved = stored(client)
    assert set(saved) == {"r7-mix"}
    assert FINDINGS in saved["r7-mix"]["findings"] and "4X" in saved["r7-mix"]["impression"]


@pytest.mark.parametrize(("mount", "given"), [("", "/"), ("/fhir/r4", ""), ("/fhir/r4", "/")])
def test_an_omitted_key_is_fetched_from_a_fhir_server_given_with_or_without_a_slash(
    client: TestClient, mount: str, given: str
) -> None:
    """fhirServer is a base URL, often with a path (`/fhir/r4`) and sometimes a trailing slash."""
    ehr = Ehr(resources={"DiagnosticReport": [dr("r7-fetched")]})
    app = Starlette(routes=[Mount(mount, app=ehr.app())]) if mount else ehr.app()
    with LoopbackServer(app) as loop:
        ehr.base = loop.base + mount
        req = hook(fhirServer=ehr.base + given, fhirAuthorization=auth())
        del req["prefetch"]["reports"]
        spec_cards(client.post(REVIEW, json=req))
    assert [(p.split("?")[0], a) for p, a in ehr.seen] == [(mount + "/DiagnosticReport", "Bearer r7-token")]
    assert "r7-fetched" in stored(client)


def test_a_prefetched_operation_outcome_is_fetched_again(client: TestClient) -> None:
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    ehr = Ehr(resources={"DiagnosticReport": [dr("r7-refetched")]})
    for fake in serve_ehr(ehr):
        spec_cards(client.post(REVIEW, json=hook(reports=failed, fhirServer=fake.base, fhirAuthorization=auth())))
        assert len(ehr.seen) == 1
    assert "r7-refetched" in stored(client)


def test_a_prefetched_operation_outcome_without_a_server_is_412_naming_the_key(client: TestClient) -> None:
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    body = outcome(client.post(REVIEW, json=hook(reports=failed)), 412, "processing")
    assert "reports" in diagnostics(body)
    assert [r.status for r in kept(client)] == ["rejected"]


def refusing_server() -> Starlette:
    """A FHIR server whose token has expired: 401 with the RFC 6750 challenge, an OperationOutcome body."""
    async def refuse(_request: Request) -> JSONResponse:
        return JSONResponse({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]},
                            status_code=401, media_type="application/fhir+json",
                            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return Starlette(routes=[Route("/{path:path}", refuse)])


@pytest.mark.parametrize("name", ["patient-view", "order-sign"])
def test_an_expired_fhir_authorization_token_is_412_saying_so(client: TestClient, name: str) -> None:
    """§1.4: required data neither prefetched nor fetchable is a 412; the OperationOutcome says the token was
    refused, so the EHR's integrator knows to fix the token, not the service. The token is never kept."""
    with LoopbackServer(refusing_server()) as ehr:
        req = hook(name, fhirServer=ehr.base, fhirAuthorization={**auth("r7-expired-token"), "expires_in": 1})
        del req["prefetch"]["reports"]
        body = outcome(client.post(ORDER if name != "patient-view" else REVIEW, json=req), 412, "processing")
    assert "401" in diagnostics(body) and "token" in diagnostics(body)
    [row] = kept(client)
    assert row.status == "rejected" and b"r7-expired-token" not in row.raw


def test_a_single_report_read_instead_of_a_search_is_taken(client: TestClient) -> None:
    spec_cards(client.post(REVIEW, json=hook(reports=dr("r7-single"))))
    assert "r7-single" in stored(client)


def test_a_batch_response_of_searchsets_is_taken(client: TestClient) -> None:
    batch = {"resourceType": "Bundle", "type": "batch-response",
             "entry": [{"resource": searchset(dr("r7-batch")), "response": {"status": "200 OK"}}]}
    spec_cards(client.post(REVIEW, json=hook(reports=batch)))
    assert "r7-batch" in stored(client)


def test_a_busy_patients_history_is_read_newest_first_up_to_ten(client: TestClient) -> None:
    """Twenty reports over twenty months (a long oncology follow-up): the ten newest are read, so the hook stays
    bounded however long the history the EHR sends."""
    reports = [dr(f"r7-h{i:02d}", effectiveDateTime=f"{2025 + i // 12}-{i % 12 + 1:02d}-10T09:00:00Z")
               for i in range(20)]
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(*reports))))
    newest = sorted(reports, key=lambda r: r["effectiveDateTime"], reverse=True)[:10]
    assert set(stored(client)) == {r["id"] for r in newest}


# ---- 6. DiagnosticReport renditions and elements ------------------------------------------------------------------


HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Report R7</title><style>p { margin: 0 }</style></head><body>"
    "<h1>CT CHEST</h1><h2>Findings</h2><p>" + FINDINGS + "</p><h2>Impression</h2>"
    "<p>Lung-RADS 4X &amp; PET/CT recommended.</p></body></html>"
)


def pem_lines(data: str) -> str:
    """base64 in 64-character lines with LF, as PEM and many Java encoders write it."""
    return "\n".join(data[i:i + 64] for i in range(0, len(data), 64))


@pytest.mark.parametrize(
    "form",
    [
        {"contentType": 'text/plain; charset="utf-8"', "data": b64(LUNG)},
        {"contentType": "text/plain;charset=US-ASCII", "data": b64(LUNG.replace("×", "x"), "ascii")},
        {"contentType": "text/plain; charset=utf-8", "data": pem_lines(b64(LUNG))},
        {"contentType": "text/html; charset=UTF-8", "data": b64(HTML_PAGE)},
        {"contentType": "text/plain", "language": "en-US", "title": "CT CHEST", "creation": "2026-06-09T15:30:00-04:00",
         "size": len(LUNG.encode()), "data": b64(LUNG)},
    ],
)
def test_analyze_reads_each_rendition_as_declared(client: TestClient, form: dict[str, Any]) -> None:
    analysed(post_fhir(client, dr("r7-form", presentedForm=[form])))
    saved = stored(client)["r7-form"]
    assert FINDINGS in saved["findings"] and "margin" not in saved["findings"] and "4X" in saved["impression"]


def test_a_conclusion_alone_is_the_impression(client: TestClient) -> None:
    analysed(post_fhir(client, dr("r7-concl", text=None, conclusion=CONCLUSION, code={"text": "US THYROID"})))
    assert stored(client)["r7-concl"]["impression"] == CONCLUSION


def test_contained_findings_and_impression_observations_are_both_read(client: TestClient) -> None:
    report = dr("r7-cont", text=None, result=[{"reference": "#f"}, {"reference": "#i"}],
                contained=[{**obs("f", "18782-3", FINDINGS), "id": "f"},
                           {**obs("i", "19005-8", "New spiculated nodule. Lung-RADS 4X."), "id": "i"}])
    analysed(post_fhir(client, report))
    saved = stored(client)["r7-cont"]
    assert FINDINGS in saved["findings"] and "4X" in saved["impression"]


def test_a_contained_binary_named_by_url_is_read(client: TestClient) -> None:
    report = dr("r7-bin", text=None, presentedForm=[{"contentType": "text/plain", "url": "#rpt"}],
                contained=[{"resourceType": "Binary", "id": "rpt", "contentType": "text/plain; charset=utf-8",
                            "data": b64(LUNG)}])
    analysed(post_fhir(client, report))
    assert FINDINGS in stored(client)["r7-bin"]["findings"]


def test_an_effective_period_gives_the_exam_time_its_start(client: TestClient) -> None:
    report = dr("r7-period", effectivePeriod={"start": "2026-06-09T13:40:00-04:00", "end": "2026-06-09T14:25:00-04:00"})
    del report["effectiveDateTime"]
    analysed(post_fhir(client, report))
    assert stored(client)["r7-period"]["effective"].startswith("2026-06-09T13:40:00")


def test_effective_date_time_and_period_together_are_400_naming_the_choice(client: TestClient) -> None:
    """FHIR R4 choice types: one of effective[x] only."""
    report = dr("r7-both", effectivePeriod={"start": "2026-06-09T13:40:00-04:00"})
    body = refused(client, post_fhir(client, report), 400, channel="http-fhir")
    assert "effective" in json.dumps(body["issue"])


# ---- 7. headers: Accept, _format, Content-Type ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept"),
    [("", "application/fhir+json;q=0.9, application/json;q=0.8"), ("", "application/json+fhir"),
     ("", "application/*"), ("&_format=JSON", None), ("&_format=application/json", "application/xml")],
)
def test_accept_and_format_admitting_json_are_answered(client: TestClient, query: str, accept: str | None) -> None:
    analysed(post_fhir(client, dr("r7-acc"), "?tasks=rads_assignment" + query, **({"Accept": accept} if accept else {})))


@pytest.mark.parametrize(
    ("query", "accept"),
    [("", "application/xml"), ("", "application/fhir+json; fhirVersion=3.0"), ("&_format=xml", None),
     ("", "application/fhir+json;q=0, text/html")],
)
def test_accept_and_format_excluding_fhir_r4_json_are_406_and_kept(client: TestClient, query: str,
                                                                  accept: str | None) -> None:
    response = post_fhir(client, dr("r7-406"), "?tasks=rads_assignment" + query, **({"Accept": accept} if accept else {}))
    refused(client, response, 406, "not-supported", channel="http-fhir")


# ---- 8. trailing slashes and methods ----------------------------------------------------------------------------------


def test_analyze_with_a_trailing_slash_is_answered_in_place(client: TestClient) -> None:
    response = client.post(ANALYZE + "/?tasks=rads_assignment", content=json.dumps(dr("r7-slash")).encode(),
                           headers={"Content-Type": "application/fhir+json"}, follow_redirects=False)
    analysed(response)


@pytest.mark.parametrize("path", [ORDER + "/", REVIEW + "/feedback/"])
def test_cds_doors_with_a_trailing_slash_are_answered_in_place(client: TestClient, path: str) -> None:
    body = hook("order-sign") if "feedback" not in path else {"feedback": [
        {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-06-09T19:22:05Z"}]}
    response = client.post(path, json=body, follow_redirects=False)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PUT", REVIEW + "/feedback", {"POST"}), ("GET", ANALYZE + "/", {"POST"}), ("DELETE", ORDER + "/", {"POST"})],
)
def test_a_method_not_served_is_405_with_allow(client: TestClient, method: str, path: str, allowed: set[str]) -> None:
    response = client.request(method, path, follow_redirects=False)
    outcome(response, 405, "not-supported")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


@pytest.mark.parametrize(
    ("path", "status"),
    [("/fhir/metadata", 200), ("/fhir/CodeSystem/radlite", 200), ("/fhir/StructureDefinition", 200),
     ("/fhir/OperationDefinition/DiagnosticReport-analyze", 200), ("/fhir/StructureDefinition/r7-no-such", 404)],
)
def test_head_is_served_wherever_get_is(client: TestClient, path: str, status: int) -> None:
    """RFC 9110 §9.1: a general-purpose server supports HEAD wherever GET; the status and type are GET's."""
    response = client.head(path)
    assert response.status_code == status == client.get(path).status_code
    assert response.headers["content-type"].startswith("application/fhir+json")


# ---- 9. JWT edge cases (CDS Hooks 2.0 §1.8) -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture()
def secured(sqlite_url: str, ensemble: Any, keys: Keys, tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    settings = cds_settings(sqlite_url, jwt_required=True, public_base_url=BASE, jwt_leeway_seconds=5,
                            trusted_issuers=json.dumps([{"iss": ISSUER, "jwks_path": str(path)}]),
                            hook_budget_seconds=0.1)
    with TestClient(create_app(settings, ensemble=ensemble)) as c:
        yield c


def claims_token(keys: Keys, **claims: Any) -> str:
    """An ES384 token with exactly these claims over sensible defaults (None drops a claim)."""
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "r7-ehr", "aud": BASE + REVIEW, "iat": now, "exp": now + 300,
            "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, keys.es, algorithm="ES384",
                      headers={"typ": "JWT", "kid": "es384-test-key"})


def call(c: TestClient, token: str, path: str = REVIEW) -> Any:
    return c.post(path, json=hook(reports=None), headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    "aud",
    [[BASE + REVIEW, "https://other.example/cds-services/x"], BASE + REVIEW + "/", [BASE + REVIEW],
     "HTTPS://CDS.R7.Example" + REVIEW, "https://cds.r7.example:443" + REVIEW],  # RFC 3986 §6.2.2-§6.2.3
)
def test_an_audience_naming_the_endpoint_is_accepted(secured: TestClient, keys: Keys, aud: Any) -> None:
    assert spec_cards(call(secured, claims_token(keys, aud=aud))) == []


@pytest.mark.parametrize(
    "aud",
    [BASE + "/cds-services", BASE + ORDER, BASE + REVIEW + "?x=1", BASE.replace("https", "http") + REVIEW,
     "https://cds.r7.example.evil.example" + REVIEW, [], BASE, "https://cds.r7.example:8443" + REVIEW,
     BASE + REVIEW.upper(), "https://user@cds.r7.example" + REVIEW, 42],
)
def test_an_audience_not_naming_the_endpoint_is_401_and_nothing_is_kept(secured: TestClient, keys: Keys,
                                                                      aud: Any) -> None:
    response = call(secured, claims_token(keys, aud=aud))
    outcome(response, 401, "login")
    assert response.headers["www-authenticate"] == "Bearer" and kept(secured) == []


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        ({"exp": -2, "iat": -200}, 200),  # expired 2 s ago: within the 5 s leeway
        ({"exp": -60, "iat": -300}, 401),
        ({"iat": 120, "exp": 300}, 401),  # issued in the future
        ({"nbf": 120}, 401),  # not yet valid
        ({"iss": ISSUER + "/"}, 401),  # not the allow-listed issuer, by one slash
        ({"jti": None}, 401),
        ({"exp": None}, 401),
        ({"tenant": "r7-hospital-east"}, 200),  # optional, opaque
    ],
)
def test_token_time_and_identity_claims(secured: TestClient, keys: Keys, claims: dict[str, Any],
                                        status: int) -> None:
    """exp, iat and nbf are given as seconds from now, turned into times when the test runs."""
    now = int(time.time())
    timed = {k: now + v if k in ("exp", "iat", "nbf") and isinstance(v, int) else v for k, v in claims.items()}
    response = call(secured, claims_token(keys, **timed))
    assert response.status_code == status, response.text
    if status == 401:
        assert kept(secured) == []


def test_a_replayed_token_is_401_the_second_time(secured: TestClient, keys: Keys) -> None:
    token = claims_token(keys)
    spec_cards(call(secured, token))
    outcome(call(secured, token), 401, "login")


def test_analyze_takes_a_token_for_its_own_url_only(secured: TestClient, keys: Keys) -> None:
    headers = {"Content-Type": "application/fhir+json"}
    good = claims_token(keys, aud=BASE + ANALYZE)
    analysed(secured.post(ANALYZE + "?tasks=rads_assignment", content=json.dumps(dr("r7-jwt")).encode(),
                          headers={**headers, "Authorization": f"Bearer {good}"}))
    wrong = mint(keys, BASE + REVIEW)
    outcome(secured.post(ANALYZE, content=json.dumps(dr("r7-jwt-2")).encode(),
                         headers={**headers, "Authorization": f"Bearer {wrong}"}), 401, "login")
    assert set(stored(secured)) == {"r7-jwt"}
