"""Round 6 of the HTTP doors: CDS Hooks 2.0 and FHIR R4 `$analyze` requests from EHRs not seen before.

Each hook the discovery document lists, with its context fields missing, mistyped or padded with
unknown fields (CDS Hooks 2.0 §1.3: unknown fields are ignored); prefetch values of every shape a
client may send (§1.4: a resource, null for "no data", an OperationOutcome, an empty searchset);
fhirAuthorization without its optional-in-practice fields (§1.5); DiagnosticReport renditions a
reader must not misread; `$analyze` called as FHIR R4 operations are (Parameters with `resource`
and `tasks`, `Prefer: handling`, `_format`, Accept); JSON the doors must refuse (duplicate member
names, nesting too deep) and methods they do not serve. Real app, demo model, SQLite, a real FHIR
server on loopback. Every refusal is a 4xx OperationOutcome, kept for review.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest_cds import (
    Ehr,
    analysed,
    b64,
    cds_settings,
    kept,
    outcome,
    radiology_report,
    result_observation,
    rows,
    serve_ehr,
)
from fastapi.testclient import TestClient

from adapters.cds.models import CdsResponse, empty_paths, summary_length
from plugin.app import create_app
from plugin.storage.tables import AuditEvent, CardServed, InboundMessage, Report

REVIEW = "/cds-services/radlite-report-review"
ORDER = "/cds-services/radlite-imaging-order"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
PATIENT = "r6-Pt.4471"
FINDINGS = "Solid nodule in the right upper lobe measuring 9 × 7 mm, new since the prior screening."
LUNG = (
    "EXAM: CT chest low dose screening\n\nFINDINGS:\n" + FINDINGS + "\nNo mediastinal lymphadenopathy.\n\n"
    "IMPRESSION:\nNew solid right upper lobe nodule. Lung-RADS 4A. Low-dose chest CT in 3 months is recommended."
)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
CONCLUSION = "Right thyroid nodule, ACR TI-RADS TR5. Fine needle aspiration is recommended."


# ---- fixtures and builders ---------------------------------------------------------------------------


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(sqlite_url, hook_budget_seconds=0.1), ensemble=ensemble)) as c:
        yield c


def dr(rid: str, text: str | None = LUNG, **extra: Any) -> dict[str, Any]:
    """A radiology DiagnosticReport as a US Core EHR returns it, about this file's patient."""
    return radiology_report(rid, text, patient=PATIENT, effective="2026-05-02T08:10:00+02:00",
                            issued="2026-05-02T09:40:12+02:00", **extra)


def obs(oid: str, loinc: str, text: str) -> dict[str, Any]:
    return result_observation(oid, loinc, text, patient=PATIENT)


def searchset(*resources: dict[str, Any], base: str = "https://ehr.r6.example/fhir") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r.get('id', i)}", "resource": r}
                      for i, r in enumerate(resources)]}


def draft_orders() -> dict[str, Any]:
    order = {"resourceType": "ServiceRequest", "id": "r6-order", "status": "draft", "intent": "order",
             "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "71271",
                                  "display": "CT chest low dose screening"}]},
             "subject": {"reference": f"Patient/{PATIENT}"}}
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": "urn:uuid:9d1c0a3e-55b2-4c6f-8e1d-3a7b9c0d2e4f", "resource": order}]}


def context(hook_name: str) -> dict[str, Any]:
    """The context hooks-lib STU1 gives the hook."""
    out: dict[str, Any] = {"userId": "Practitioner/r6-doc", "patientId": PATIENT}
    if hook_name in ("order-select", "order-sign"):
        out["draftOrders"] = draft_orders()
    if hook_name == "order-select":
        out["selections"] = ["ServiceRequest/r6-order"]
    return out


def hook(name: str = "patient-view", reports: Any = ..., **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hookInstance": str(uuid.uuid4()),
        "hook": name,
        "context": context(name),
        "prefetch": {"patient": {"resourceType": "Patient", "id": PATIENT},
                     "reports": searchset(dr("r6-dr")) if reports is ... else reports},
    }
    body.update(extra)
    return body


def url_for(name: str) -> str:
    return REVIEW if name == "patient-view" else ORDER


def spec_cards(response: Any) -> list[dict[str, Any]]:
    """A 200 answer whose cards are each well formed per CDS Hooks 2.0 §1.6."""
    assert response.status_code == 200, response.text
    body = response.json()
    CdsResponse.model_validate(body)
    assert set(body) <= {"cards", "systemActions"} and empty_paths(body) == []
    for card in body["cards"]:
        assert 0 < summary_length(card["summary"]) < 140 and uuid.UUID(card["uuid"])
    return body["cards"]


def stored(client: TestClient) -> dict[str, dict[str, Any]]:
    """What the reader made of each stored report, by report id."""
    return {r.report_id: r.report_json for r in rows(client, Report)}


def anomalies(client: TestClient) -> list[dict[str, Any]]:
    return [e.detail for e in rows(client, AuditEvent) if e.event_type == "safety.anomaly"]


def refused(client: TestClient, response: Any, status: int, code: str | None = None,
            channel: str = "cds-hook") -> dict[str, Any]:
    """A refusal: OperationOutcome body, the request kept as rejected, no card served."""
    body = outcome(response, status, code)
    assert [r.status for r in kept(client, channel)] == ["rejected"]
    assert rows(client, CardServed) == []
    return body


ADVERTISED = ["patient-view", "order-select", "order-sign"]


# ---- 1. each advertised hook's context (hooks-lib STU1) -------------------------------------------------


def test_discovery_lists_the_hooks_these_tests_send(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    assert sorted(s["hook"] for s in services) == sorted(ADVERTISED)


@pytest.mark.parametrize("name", ADVERTISED)
@pytest.mark.parametrize("missing", ["userId", "patientId"])
def test_a_required_context_field_missing_is_400_naming_it(client: TestClient, name: str, missing: str) -> None:
    req = hook(name)
    del req["context"][missing]
    body = refused(client, client.post(url_for(name), json=req), 400, "invalid")
    assert missing in body["issue"][0]["diagnostics"]
    assert kept(client)[0].control_id == req["hookInstance"]


@pytest.mark.parametrize("name", ADVERTISED)
@pytest.mark.parametrize(
    ("name_field", "value"),
    [("patientId", 4471), ("patientId", ["r6-Pt.4471"]), ("userId", {"reference": "Practitioner/x"}),
     ("encounterId", 881), ("patientId", "")],
)
def test_a_context_field_of_the_wrong_type_is_400_naming_it(
    client: TestClient, name: str, name_field: str, value: Any
) -> None:
    """hooks-lib: userId, patientId and encounterId are strings (FHIR ids / Type/id); an empty string is
    no value at all (§1.3)."""
    req = hook(name)
    req["context"][name_field] = value
    body = refused(client, client.post(url_for(name), json=req), 400, "invalid")
    assert name_field in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize("name", ADVERTISED)
def test_unknown_fields_everywhere_are_ignored(client: TestClient, name: str) -> None:
    """§1.3: a service ignores fields it does not know, at the top level, in context and in fhirAuthorization."""
    req = hook(name, reports=None, extension={"com.vendor.build": {"n": [1, 2, {"deep": True}]}},
               **{"com.vendor.session": "ab12", "specVersion": "2.0"})
    req["context"].update({"com.vendor.department": {"id": "RAD-3", "flags": [True, False]},
                           "dispatchedOrders": ["ServiceRequest/zz"], "appointments": {"resourceType": "Bundle"}})
    req["prefetch"]["com.vendor.user"] = "Practitioner/r6-doc"  # a key we never asked for, of any shape
    req["prefetch"]["problems"] = [{"resourceType": "Condition"}]
    assert spec_cards(client.post(url_for(name), json=req)) == []
    [row] = kept(client)
    assert row.status == "done"


@pytest.mark.parametrize(
    ("name", "edit", "named"),
    [
        ("order-sign", lambda c: c.update(draftOrders=[draft_orders()]), "draftOrders"),  # an array, not a Bundle
        ("order-sign", lambda c: c.update(draftOrders={"resourceType": "ServiceRequest"}), "draftOrders"),
        ("order-select", lambda c: c.update(selections="ServiceRequest/r6-order"), "selections"),
        ("order-select", lambda c: c.update(selections=[]), "selections"),  # no empty arrays (§1.3)
        ("order-select", lambda c: c.pop("selections"), "selections"),
    ],
)
def test_order_context_fields_of_the_wrong_shape_are_400(client: TestClient, name: str, edit: Any, named: str) -> None:
    req = hook(name)
    edit(req["context"])
    body = refused(client, client.post(ORDER, json=req), 400, "invalid")
    assert named in body["issue"][0]["diagnostics"]


def test_draft_orders_bundle_without_entries_answers_without_order_cards(client: TestClient) -> None:
    req = hook("order-sign", reports=None)
    req["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection"}
    assert spec_cards(client.post(ORDER, json=req)) == []


@pytest.mark.parametrize("instance", ["r6-call-1", "9d1c0a3e55b24c6f8e1d3a7b9c0d2e4f", "{9d1c0a3e-55b2-4c6f-8e1d-3a7b9c0d2e4f}"])
def test_a_hook_instance_that_is_not_a_uuid_string_form_is_400(client: TestClient, instance: str) -> None:
    req = hook(hookInstance=instance)
    body = refused(client, client.post(REVIEW, json=req), 400, "invalid")
    assert "hookInstance" in body["issue"][0]["diagnostics"]


# ---- 2. prefetch values (spec §1.4) ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["DiagnosticReport?patient=r6-Pt.4471", [searchset(dr("r6-list"))],
                                   {"entry": []}, 17])
def test_an_advertised_prefetch_key_holding_no_resource_is_400_naming_it(client: TestClient, value: Any) -> None:
    """§1.4: a prefetch value is what the FHIR read or search returned (a resource) or null: a template
    string, an array or a bare object is a client fault, named so its integrator can fix it."""
    req = hook(reports=value)
    body = refused(client, client.post(REVIEW, json=req), 400, "invalid")
    assert "prefetch.reports" in body["issue"][0]["diagnostics"]


def test_null_reports_mean_no_data_even_with_a_fhir_server_to_ask(client: TestClient) -> None:
    """§1.4 (2.0.1): "If the CDS Client has no data to populate a template prefetch key, the prefetch template
    key MUST have a value of null"; a key the client could not fetch is omitted instead. So null is
    answered at once, without a round trip to fhirServer; an omitted key is fetched."""
    ehr = Ehr(resources={"DiagnosticReport": [dr("r6-on-server")]})
    for fake in serve_ehr(ehr):
        fa = {"access_token": "r6-token", "token_type": "Bearer", "expires_in": 300,
              "scope": "user/DiagnosticReport.read", "subject": "radlite"}
        assert spec_cards(client.post(REVIEW, json=hook(reports=None, fhirServer=fake.base,
                                                        fhirAuthorization=fa))) == []
        assert fake.seen == []
        omitted = hook(fhirServer=fake.base, fhirAuthorization=fa)
        del omitted["prefetch"]["reports"]
        spec_cards(client.post(REVIEW, json=omitted))
        assert [(p.split("?")[0], a) for p, a in fake.seen] == [("/DiagnosticReport", "Bearer r6-token")]
    assert set(stored(client)) == {"r6-on-server"}


@pytest.mark.parametrize(
    "bundle",
    [
        {"resourceType": "Bundle", "type": "searchset", "total": 0},  # `entry` absent
        {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []},
        {"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [{"resource": {
            "resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "incomplete"}]},
            "search": {"mode": "outcome"}}]},
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": "https://ehr.r6.example/fhir/X/1"}]},
    ],
)
def test_an_empty_search_bundle_answers_no_cards(client: TestClient, bundle: dict[str, Any]) -> None:
    assert spec_cards(client.post(REVIEW, json=hook(reports=bundle))) == []
    assert kept(client)[0].status == "done" and stored(client) == {}


def test_a_search_bundle_of_several_resource_types_reads_only_the_reports(client: TestClient) -> None:
    bundle = searchset(
        {"resourceType": "Patient", "id": PATIENT},
        dr("r6-mixed"),
        obs("r6-unrelated", "8310-5", "37.2 C"),
        {"resourceType": "ImagingStudy", "id": "r6-study", "status": "available",
         "subject": {"reference": f"Patient/{PATIENT}"}},
        {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]},
    )
    spec_cards(client.post(REVIEW, json=hook(reports=bundle)))
    assert set(stored(client)) == {"r6-mixed"}
    assert FINDINGS in stored(client)["r6-mixed"]["findings"]


# ---- 3. fhirAuthorization (spec §1.5) --------------------------------------------------------------------


@pytest.mark.parametrize(
    "fa",
    [
        {"access_token": "r6-t", "token_type": "Bearer"},  # no expires_in, scope, subject
        {"access_token": "r6-t", "token_type": "bearer", "expires_in": 60},  # RFC 6749 §5.1: case-insensitive
        {"access_token": "r6-t", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
         "subject": "radlite", "patient": PATIENT, "com.vendor.tenant": "t-7"},
    ],
)
def test_fhir_authorization_without_its_optional_in_practice_fields_still_fetches(
    client: TestClient, fa: dict[str, Any]
) -> None:
    ehr = Ehr(resources={"DiagnosticReport": [dr("r6-fetched")]})
    for fake in serve_ehr(ehr):
        req = hook(fhirServer=fake.base, fhirAuthorization=fa)
        del req["prefetch"]["reports"]
        spec_cards(client.post(REVIEW, json=req))
        assert {a for _, a in fake.seen} == {"Bearer r6-t"}
    assert "r6-fetched" in stored(client)
    assert b"r6-t" not in kept(client)[0].raw


@pytest.mark.parametrize("token_type", ["DPoP", "MAC", "Basic", ""])
def test_a_token_type_other_than_bearer_is_400_and_the_token_is_not_kept(client: TestClient,
                                                                      token_type: str) -> None:
    """§1.5: token_type is fixed "Bearer"; the service could only present any other kind wrongly."""
    fa = {"access_token": "r6-secret-not-kept", "token_type": token_type, "expires_in": 300,
          "scope": "user/DiagnosticReport.read", "subject": "radlite"}
    req = hook(fhirServer="https://ehr.r6.example/fhir", fhirAuthorization=fa)
    body = refused(client, client.post(REVIEW, json=req), 400, "invalid")
    assert "token_type" in body["issue"][0]["diagnostics"]
    assert b"r6-secret-not-kept" not in kept(client)[0].raw


# ---- 4. DiagnosticReport renditions in the prefetch -------------------------------------------------------


def mime_lines(data: str) -> str:
    """base64 broken into 76-character lines with CRLF, as MIME encoders write it."""
    return "\r\n".join(data[i:i + 76] for i in range(0, len(data), 76)) + "\r\n"


@pytest.mark.parametrize(
    "form",
    [
        {"contentType": "text/plain; charset=ISO-8859-1", "data": mime_lines(b64(LUNG, "latin-1"))},
        {"contentType": "TEXT/PLAIN;CHARSET=windows-1252", "data": b64(LUNG, "cp1252")},
        {"contentType": "text/plain; charset=UTF-16", "data": b64(LUNG, "utf-16")},
        {"contentType": "text/html; charset=iso-8859-1",
         "data": b64("<p>FINDINGS:<br/>" + FINDINGS + "</p><p>IMPRESSION:<br/>Lung-RADS 4A.</p>", "latin-1")},
    ],
)
def test_text_renditions_are_read_by_their_declared_charset(client: TestClient, form: dict[str, Any]) -> None:
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(dr("r6-rendition", presentedForm=[form])))))
    assert FINDINGS in stored(client)["r6-rendition"]["findings"]


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("text/plain", PDF), ("text/plain; charset=utf-8", PNG), ("text/html", PDF), ("text/markdown", PNG)],
)
def test_bytes_declared_as_text_that_are_not_text_are_never_read(
    client: TestClient, content_type: str, data: bytes
) -> None:
    """A PDF or an image labelled text/*: decoded it would be report text full of stray characters.
    With a conclusion the report is read from that; without one it is set aside unread."""
    with_conclusion = dr("r6-fake-text", presentedForm=[{"contentType": content_type, "data": b64(data)}],
                         conclusion=CONCLUSION, code={"text": "US THYROID"})
    alone = dr("r6-fake-alone", presentedForm=[{"contentType": content_type, "data": b64(data)}])
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(with_conclusion, alone))))
    reports = stored(client)
    assert set(reports) == {"r6-fake-text"}
    assert reports["r6-fake-text"]["impression"] == CONCLUSION and not reports["r6-fake-text"].get("findings")


@pytest.mark.parametrize("content_type", ["application/pdf", "image/jpeg", "application/octet-stream",
                                          "application/msword"])
def test_renditions_of_a_non_text_type_are_not_read_but_the_conclusion_is(client: TestClient,
                                                                          content_type: str) -> None:
    report = dr("r6-nontext", presentedForm=[{"contentType": content_type, "data": b64(LUNG)}],
                conclusion=CONCLUSION, code={"text": "US THYROID"})
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report))))
    assert stored(client)["r6-nontext"] == {**stored(client)["r6-nontext"], "impression": CONCLUSION}
    assert FINDINGS not in json.dumps(stored(client)["r6-nontext"])


@pytest.mark.parametrize(
    "reference",
    ["Observation/r6-imp", "Observation/r6-imp/_history/3", "https://ehr.r6.example/fhir/Observation/r6-imp",
     "https://ehr.r6.example/fhir/Observation/r6-imp/_history/3"],
)
def test_result_references_relative_absolute_and_versioned_reach_the_included_observation(
    client: TestClient, reference: str
) -> None:
    """FHIR references: a versioned reference (`/_history/n`) names the same resource as the plain one."""
    report = dr("r6-results", text=None, result=[{"reference": reference}])
    bundle = searchset(report, obs("r6-imp", "19005-8", "New 9 mm solid nodule. Lung-RADS 4A."))
    spec_cards(client.post(REVIEW, json=hook(reports=bundle)))
    assert "Lung-RADS 4A" in stored(client)["r6-results"]["impression"]


def test_a_contained_result_observation_is_read(client: TestClient) -> None:
    report = dr("r6-contained", text=None, result=[{"reference": "#imp"}],
                contained=[{**obs("imp", "19005-8", "New 9 mm solid nodule. Lung-RADS 4A."), "id": "imp"}])
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report))))
    assert "Lung-RADS 4A" in stored(client)["r6-contained"]["impression"]


@pytest.mark.parametrize(("status", "analysed"), [("preliminary", True), ("amended", True), ("corrected", True),
                                                   ("entered-in-error", False), ("cancelled", False),
                                                   ("registered", False)])
def test_report_status_decides_whether_a_report_is_read(client: TestClient, status: str, analysed: bool) -> None:
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(dr("r6-status", status=status)))))
    assert ("r6-status" in stored(client)) is analysed


@pytest.mark.parametrize("subject", [{"display": "Doe, Jane"},
                                     {"identifier": {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "4471"}}])
def test_a_report_whose_subject_names_no_patient_resource_is_set_aside(client: TestClient,
                                                                       subject: dict[str, Any]) -> None:
    """Patient safety: a subject given only by display or identifier cannot be shown to be this patient."""
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(dr("r6-no-ref", subject=subject)))))
    assert stored(client) == {}
    [anomaly] = anomalies(client)
    assert anomaly["report_id"] == "r6-no-ref" and "Doe" not in json.dumps(anomaly)


# ---- 5. JSON the doors refuse, methods they do not serve ---------------------------------------------------


def test_duplicate_member_names_are_400_on_both_doors_and_kept(client: TestClient) -> None:
    """RFC 8259 §4: readers disagree on which duplicate wins; two patientIds must never be a guess."""
    raw = json.dumps(hook()).replace('"patientId": "r6-Pt.4471"',
                                     '"patientId": "r6-Pt.4471", "patientId": "someone-else"').encode()
    assert raw.count(b'"patientId"') == 2
    body = refused(client, client.post(REVIEW, content=raw, headers={"Content-Type": "application/json"}),
                   400, "structure")
    assert "duplicate" in body["issue"][0]["diagnostics"] and "someone-else" not in json.dumps(body)
    report = json.dumps(dr("r6-dup")).replace('"status": "final"', '"status": "final", "status": "cancelled"')
    body = refused(client, client.post(ANALYZE, content=report.encode(),
                                       headers={"Content-Type": "application/fhir+json"}), 400, "structure",
                   channel="http-fhir")
    assert "duplicate" in body["issue"][0]["diagnostics"] and stored(client) == {}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"url": "http://ehr.example/x", "valueString": "leaf"}
    for _ in range(depth):
        value = {"url": "http://ehr.example/x", "extension": [value]}
    return value


@pytest.mark.parametrize("path", [REVIEW, ANALYZE])
def test_nesting_deeper_than_any_fhir_content_is_400_not_500(client: TestClient, path: str) -> None:
    """Parseable, but deep enough that recursive readers downstream would fail: refused up front."""
    report = dr("r6-deep", extension=[nested(400)])
    body = hook(reports=searchset(report)) if path == REVIEW else report
    channel = "cds-hook" if path == REVIEW else "http-fhir"
    response = client.post(path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    diagnostics = refused(client, response, 400, "structure", channel=channel)["issue"][0]["diagnostics"]
    assert "nested" in diagnostics and stored(client) == {}


def test_ordinary_nesting_of_extensions_is_read(client: TestClient) -> None:
    report = dr("r6-ext", extension=[nested(8)])
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report))))
    assert "r6-ext" in stored(client)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", ANALYZE, {"POST"}),
        ("PUT", ANALYZE, {"POST"}),
        ("DELETE", ANALYZE, {"POST"}),
        ("PATCH", REVIEW, {"POST"}),
        ("GET", REVIEW, {"POST"}),
        ("DELETE", "/cds-services", {"GET", "HEAD"}),
        ("POST", "/fhir/metadata", {"GET", "HEAD"}),  # RFC 9110 §9.1: HEAD wherever GET
    ],
)
def test_a_method_a_door_does_not_serve_is_405_with_allow(client: TestClient, method: str, path: str,
                                                          allowed: set[str]) -> None:
    """RFC 9110 §15.5.6: a 405 names the methods the resource supports in Allow."""
    response = client.request(method, path, content=b"{}", headers={"Content-Type": "application/json"})
    outcome(response, 405, "not-supported")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


# ---- 6. $analyze as a FHIR R4 operation ----------------------------------------------------------------------


def post_fhir(client: TestClient, body: Any, query: str = "", raw: bytes | None = None, **headers: str) -> Any:
    return client.post(ANALYZE + query, content=raw if raw is not None else json.dumps(body).encode(),
                       headers={"Content-Type": "application/fhir+json", **headers})


def profiles(observations: list[dict[str, Any]]) -> set[str]:
    return {p.rsplit("/", 1)[-1] for o in observations for p in o.get("meta", {}).get("profile", [])}


def parameters(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(items)}


def test_parameters_tasks_value_string_chooses_the_tasks(client: TestClient) -> None:
    """The OperationDefinition's `tasks` in-parameter is a string: in the body it is a valueString."""
    body = parameters({"name": "resource", "resource": dr("r6-tasks")},
                      {"name": "tasks", "valueString": "rads_assignment"})
    rads = profiles(analysed(post_fhir(client, body)))
    assert "radlite-rads-assessment" in rads and "radlite-n-stage" not in rads
    body["parameter"][1]["valueString"] = "n_staging"
    staged = profiles(analysed(post_fhir(client, body)))
    assert "radlite-n-stage" in staged


@pytest.mark.parametrize(
    ("query", "value", "status"),
    [("?tasks=rads_assignment", "n_staging", 200), ("?tasks=rads_assignment", "no_such_task", 200),
     ("", "no_such_task", 400)],
)
def test_the_query_tasks_decide_and_an_unknown_body_task_alone_is_400(client: TestClient, query: str, value: str,
                                                                     status: int) -> None:
    """A primitive in-parameter may come in the URL or the body (FHIR operations); the URL is read first."""
    body = parameters({"name": "resource", "resource": dr("r6-agree")}, {"name": "tasks", "valueString": value})
    response = post_fhir(client, body, query)
    if status == 200:
        assert "radlite-n-stage" not in profiles(analysed(response))
        return
    issue = refused(client, response, 400, "value", channel="http-fhir")["issue"][0]
    assert issue["expression"] == ["Parameters.parameter.valueString"] and stored(client) == {}


@pytest.mark.parametrize(
    ("item", "code", "where"),
    [
        ({"name": "resource", "valueReference": {"reference": "DiagnosticReport/r6-by-ref"}}, "not-supported",
         "Parameters.parameter[0].valueReference"),
        ({"name": "resource", "valueString": json.dumps(dr("r6-as-text"))}, "value", "Parameters.parameter[0]"),
        ({"name": "tasks", "valueCode": "rads_assignment"}, "value", "Parameters.parameter[0]"),
        ({"valueString": "rads_assignment"}, "required", "Parameters.parameter[0].name"),
    ],
)
def test_a_parameter_of_the_wrong_type_is_400_naming_it(client: TestClient, item: dict[str, Any], code: str,
                                                        where: str) -> None:
    body = parameters(item, {"name": "report", "resource": dr("r6-beside")})
    issue = refused(client, post_fhir(client, body), 400, code, channel="http-fhir")["issue"][0]
    assert issue["expression"] == [where] and stored(client) == {}


@pytest.mark.parametrize("prefer", [None, "handling=lenient", "return=minimal"])
def test_unknown_parameters_are_ignored_unless_strict_handling_is_asked(client: TestClient,
                                                                        prefer: str | None) -> None:
    body = parameters({"name": "resource", "resource": dr("r6-lenient")}, {"name": "priority", "valueCode": "stat"})
    response = post_fhir(client, body, "?_pretty=true&include-narrative=false&tasks=rads_assignment",
                         **({"Prefer": prefer} if prefer else {}))
    analysed(response)
    assert "preference-applied" not in response.headers


@pytest.mark.parametrize(
    ("query", "body_extra", "named"),
    [
        ("?include-narrative=false", None, "include-narrative"),
        ("", {"name": "priority", "valueCode": "stat"}, "priority"),
    ],
)
@pytest.mark.parametrize("prefer", ["handling=strict", "return=representation, handling=strict",
                                    "respond-async; handling=strict"])
def test_strict_handling_refuses_unknown_parameters(client: TestClient, query: str, body_extra: Any, named: str,
                                                    prefer: str) -> None:
    """FHIR R4 search (Prefer: handling=strict): an error for any unknown or unsupported parameter."""
    items = [{"name": "resource", "resource": dr("r6-strict")}] + ([body_extra] if body_extra else [])
    body = refused(client, post_fhir(client, parameters(*items), query, Prefer=prefer), 400, "not-supported",
                   channel="http-fhir")
    assert named in body["issue"][0]["diagnostics"] and stored(client) == {}


def test_strict_handling_with_known_parameters_is_applied_and_said(client: TestClient) -> None:
    body = parameters({"name": "resource", "resource": dr("r6-strict-ok")},
                      {"name": "tasks", "valueString": "rads_assignment"})
    response = post_fhir(client, body, "?_format=json&_pretty=false", Prefer="handling=strict")
    analysed(response)
    assert response.headers["preference-applied"] == "handling=strict"


@pytest.mark.parametrize(
    ("query", "accept"),
    [
        ("?_format=application/fhir+json", None),  # '+' sent unencoded: the query decodes it to a space
        ("?_format=application/fhir%2Bjson;%20fhirVersion=4.0", None),
        ("?_format=json", "application/fhir+xml"),
        ("", "application/fhir+json; fhirVersion=4.0"),
        ("", "application/json"),
        ("", "*/*"),
        ("", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),  # a browser's
    ],
)
def test_format_and_accept_variants_that_admit_fhir_json_are_answered(client: TestClient, query: str,
                                                                      accept: str | None) -> None:
    query += ("&" if query else "?") + "tasks=rads_assignment"
    analysed(post_fhir(client, dr("r6-accept"), query, **({"Accept": accept} if accept else {})))


@pytest.mark.parametrize(("query", "accept"), [("?_format=application/fhir+xml", None), ("", "text/html"),
                                               ("?_format=text/turtle", "*/*")])
def test_format_and_accept_naming_no_json_are_406(client: TestClient, query: str, accept: str | None) -> None:
    outcome(post_fhir(client, dr("r6-406"), query, **({"Accept": accept} if accept else {})), 406, "not-supported")
    assert kept(client, "http-fhir")[0].status == "rejected" and stored(client) == {}


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/fhir+json; charset=utf-8", json.dumps(dr("r6-body")).encode()),
        ("application/fhir+json;charset=UTF-8;fhirVersion=4.0", json.dumps(dr("r6-body")).encode()),
        ("application/json", b"\xef\xbb\xbf" + json.dumps(dr("r6-body"), ensure_ascii=False).encode()),  # BOM
    ],
)
def test_utf8_json_bodies_with_or_without_a_bom_are_read(client: TestClient, content_type: str, raw: bytes) -> None:
    """RFC 8259 §8.1: JSON is UTF-8, and a parser may ignore a BOM (UTF-16 and other charsets: round 7, 415)."""
    analysed(post_fhir(client, None, "?tasks=rads_assignment", raw=raw, **{"Content-Type": content_type}))
    assert FINDINGS in stored(client)["r6-body"]["findings"]


def test_bytes_that_are_not_unicode_json_are_400_and_kept(client: TestClient) -> None:
    raw = json.dumps(dr("r6-latin", code={"text": "CT THORAX ÉTUDE"}), ensure_ascii=False).encode("latin-1")
    assert b"\xc9" in raw  # the É as one Latin-1 byte, not UTF-8
    body = refused(client, post_fhir(client, None, raw=raw), 400, "structure", channel="http-fhir")
    assert "UTF-8" in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("content_type", "data", "expression"),
    [
        ("text/plain", PDF, "DiagnosticReport.presentedForm[0].data"),
        ("text/html; charset=utf-8", PNG, "DiagnosticReport.presentedForm[0].data"),
    ],
)
def test_analyze_refuses_non_text_bytes_declared_as_text_naming_them(client: TestClient, content_type: str,
                                                                   data: bytes, expression: str) -> None:
    report = dr("r6-fhir-fake", presentedForm=[{"contentType": content_type, "data": b64(data)}])
    body = refused(client, post_fhir(client, report), 400, channel="http-fhir")
    assert any(expression in i.get("expression", []) for i in body["issue"])


def test_analyze_reads_mime_wrapped_base64_and_a_subject_given_by_display(client: TestClient) -> None:
    report = dr("r6-mime", subject={"display": "Doe, Jane"},
                presentedForm=[{"contentType": "text/plain; charset=ISO-8859-1",
                                "data": mime_lines(b64(LUNG, "latin-1"))}])
    analysed(post_fhir(client, report, "?tasks=rads_assignment"))
    saved = stored(client)["r6-mime"]
    assert FINDINGS in saved["findings"] and saved.get("patient_id") is None


def test_analyze_a_searchset_with_operation_outcome_and_other_entries(client: TestClient) -> None:
    bundle = searchset(dr("r6-ss"), {"resourceType": "OperationOutcome",
                                     "issue": [{"severity": "warning", "code": "incomplete"}]},
                       {"resourceType": "Patient", "id": PATIENT})
    analysed(post_fhir(client, bundle, "?tasks=rads_assignment"))
    assert set(stored(client)) == {"r6-ss"}


@pytest.mark.parametrize("bundle", [{"resourceType": "Bundle", "type": "searchset", "total": 0},
                                    {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}])
def test_analyze_an_empty_searchset_is_400_nothing_to_analyse(client: TestClient, bundle: dict[str, Any]) -> None:
    refused(client, post_fhir(client, bundle), 400, "required", channel="http-fhir")


def test_every_refusal_on_both_doors_was_kept_with_its_sha256(client: TestClient) -> None:
    """Nothing lost: each refused body is in inbound_messages, hashed, with the reason."""
    client.post(REVIEW, content=b'{"hook": "patient-view", "hook": "x"}', headers={"Content-Type": "application/json"})
    post_fhir(client, None, raw=b"[1, 2, 3]")
    client.post(ORDER, json=hook("order-sign", reports="not a resource"))
    kept_rows = [r for r in rows(client, InboundMessage) if r.status == "rejected"]
    assert len(kept_rows) == 3 and all(len(r.sha256) == 64 and r.error for r in kept_rows)
