"""Round 8 of the HTTP doors: requests from EHRs and FHIR clients none of the earlier rounds sent.

Prefetch shapes (searchset Bundles with `_include`d Patients and Observations, references by
`urn:uuid`, absolute and contained, null and missing keys), DiagnosticReport variants
(several presentedForm renditions and languages, a report and its addendum as two
attachments, result Observations with valueString in every state, contained Observations,
meta.profile, extensions, status variants, imagingStudy), hook contexts (every userId form,
encounterId, draftOrders Bundles of ServiceRequests, selections), JWT edge cases (kid rotation
on an allow-listed jku, exp/iat skew, jti replay, `crit`, tenant), content negotiation (Accept,
`_format`, Content-Type) and HTTP method/header faults. Real app, demo model, SQLite, real FHIR
servers and JWKS on loopback, real signed JWTs. Each test states the expected status and body
per CDS Hooks 2.0, FHIR R4 and docs/integration.md; every refusal is a 4xx OperationOutcome and
the request is kept for review.
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
    analysed,
    b64,
    cds_settings,
    kept,
    outcome,
    radiology_report,
    refused,
    result_observation,
    rows,
    serve_ehr,
    serve_fhir,
    stored,
)
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from adapters.cds.models import CdsResponse, empty_paths, summary_length
from plugin.app import create_app
from plugin.storage.tables import CardServed, Report

REVIEW = "/cds-services/radlite-report-review"
ORDER = "/cds-services/radlite-imaging-order"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
PATIENT = "r8-pt-60418"
OTHER = "r8-pt-99120"
BASE = "https://cds.r8.example"
EHR = "https://ehr.r8.example/fhir/R4"
FINDINGS = "Spiculated 16 mm solid nodule in the right upper lobe, new since the prior screening."
LUNG = (
    "EXAM: CT chest low dose screening\n\nFINDINGS:\n" + FINDINGS + "\nNo pleural effusion.\n\n"
    "IMPRESSION:\nNew spiculated right upper lobe nodule. Lung-RADS 4X. PET/CT or tissue sampling is recommended."
)
SPANISH = (
    "EXAMEN: TC de tórax de baja dosis\n\nHALLAZGOS:\nNódulo sólido espiculado de 16 mm en el lóbulo superior "
    "derecho.\n\nIMPRESIÓN:\nNódulo nuevo. Lung-RADS 4X."
)
ADDENDUM = "ADDENDUM:\nComparison with the outside CT of 2025-11-02: the nodule measured 9 mm then."
IMPRESSION = "Right thyroid nodule, ACR TI-RADS TR5. Fine needle aspiration is recommended."
WRONG_TEXT = "Lung-RADS 1: negative screening, no nodules."


# ---- fixtures and builders ---------------------------------------------------------------------------------


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    with TestClient(create_app(cds_settings(sqlite_url, hook_budget_seconds=0.1), ensemble=ensemble)) as c:
        yield c


def dr(rid: str, text: str | None = LUNG, **extra: Any) -> dict[str, Any]:
    return radiology_report(rid, text, patient=PATIENT, effective="2026-07-14T09:12:00-05:00",
                            issued="2026-07-14T10:40:51-05:00", accession=f"R8-{rid}", **extra)


def obs(oid: str, loinc: str, text: str, patient: str = PATIENT, **extra: Any) -> dict[str, Any]:
    return {**result_observation(oid, loinc, text, patient=patient), **extra}


def searchset(*resources: dict[str, Any], base: str = EHR) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r.get('id', i)}", "resource": r,
                       "search": {"mode": "match" if r["resourceType"] == "DiagnosticReport" else "include"}}
                      for i, r in enumerate(resources)]}


def auth(token: str = "r8-token") -> dict[str, Any]:
    return {"access_token": token, "token_type": "Bearer", "expires_in": 300,
            "scope": "user/DiagnosticReport.read user/Observation.read user/Binary.read", "subject": "radlite"}


def service_request(sid: str, cpt: str, display: str) -> dict[str, Any]:
    return {"resourceType": "ServiceRequest", "id": sid, "status": "draft", "intent": "order",
            "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005",
                                      "display": "Imaging"}]}],
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": cpt, "display": display}],
                     "text": display},
            "subject": {"reference": f"Patient/{PATIENT}"}, "authoredOn": "2026-07-20"}


def draft_orders(*orders: dict[str, Any]) -> dict[str, Any]:
    orders = orders or (service_request("r8-sr-ct", "71260", "CT chest with contrast"),)
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": o} for o in orders]}


def hook(name: str = "patient-view", reports: Any = ..., **extra: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"userId": "Practitioner/r8-dr-hale", "patientId": PATIENT, "encounterId": "r8-enc-7"}
    if name in ("order-select", "order-sign"):
        ctx["draftOrders"] = draft_orders()
    if name == "order-select":
        ctx["selections"] = ["ServiceRequest/r8-sr-ct"]
    body: dict[str, Any] = {"hookInstance": str(uuid.uuid4()), "hook": name, "context": ctx,
                            "prefetch": {"patient": {"resourceType": "Patient", "id": PATIENT},
                                         "reports": searchset(dr("r8-dr")) if reports is ... else reports}}
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
        assert card["indicator"] in ("info", "warning", "critical") and card["source"]["label"]
        if card.get("suggestions"):
            assert card["selectionBehavior"] in ("at-most-one", "any")
    return body["cards"]


def post_fhir(client: TestClient, body: Any, query: str = "?tasks=rads_assignment", **headers: str) -> Any:
    return client.post(ANALYZE + query, content=json.dumps(body).encode(),
                       headers={"Content-Type": "application/fhir+json", **headers})


def diagnostics(body: dict[str, Any]) -> str:
    return " ".join(i.get("diagnostics", "") for i in body["issue"])


def expressions(body: dict[str, Any]) -> list[str]:
    return [e for i in body["issue"] for e in i.get("expression", [])]


def text_of(report: dict[str, Any]) -> str:
    return " ".join(report.get(k) or "" for k in ("findings", "impression", "addendum"))


# ---- 1. prefetch shapes (CDS Hooks 2.0 §1.4) ---------------------------------------------------------------------


def test_a_searchset_with_the_patient_included_and_the_subject_by_full_url_is_read(client: TestClient) -> None:
    """`_include=DiagnosticReport:subject`: the subject names the included Patient entry by its absolute fullUrl."""
    patient = {"resourceType": "Patient", "id": PATIENT}
    report = dr("r8-inc-pt", subject={"reference": f"{EHR}/Patient/{PATIENT}"})
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report, patient))))
    assert FINDINGS in stored(client)["r8-inc-pt"]["findings"]


def test_a_subject_naming_a_urn_uuid_entry_of_the_patient_is_read(client: TestClient) -> None:
    """A Bundle built by an engine (collection) names entries by urn:uuid fullUrls; the Patient entry has our id."""
    pid = f"urn:uuid:{uuid.uuid4()}"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": pid, "resource": {"resourceType": "Patient", "id": PATIENT}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": dr("r8-urn", subject={"reference": pid})}]}
    spec_cards(client.post(REVIEW, json=hook(reports=bundle)))
    assert set(stored(client)) == {"r8-urn"}


def test_a_subject_naming_a_urn_uuid_entry_of_another_patient_is_set_aside(client: TestClient) -> None:
    pid = f"urn:uuid:{uuid.uuid4()}"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": pid, "resource": {"resourceType": "Patient", "id": OTHER}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": dr("r8-urn-other", subject={"reference": pid})}]}
    assert spec_cards(client.post(REVIEW, json=hook(reports=bundle))) == []
    assert stored(client) == {} and rows(client, CardServed) == []


@pytest.mark.parametrize(
    "reference",
    ["Observation/r8-imp", f"{EHR}/Observation/r8-imp", "Observation/r8-imp/_history/3", "URN"],
)
def test_an_included_impression_observation_is_reached_by_every_reference_form(client: TestClient,
                                                                             reference: str) -> None:
    """`_include=DiagnosticReport:result`: relative, absolute, versioned, or by the entry's urn:uuid fullUrl."""
    urn = f"urn:uuid:{uuid.uuid4()}"
    report = dr("r8-res", text=None, result=[{"reference": urn if reference == "URN" else reference}])
    bundle = searchset(report, obs("r8-imp", "19005-8", IMPRESSION))
    if reference == "URN":
        bundle["entry"][1]["fullUrl"] = urn
    spec_cards(client.post(REVIEW, json=hook(reports=bundle)))
    assert stored(client)["r8-res"]["impression"] == IMPRESSION


def test_an_included_result_observation_about_another_patient_is_never_read_as_report_text(
        client: TestClient) -> None:
    """Patient safety: an Observation about someone else is not this report's text, whoever included it."""
    report = dr("r8-mixed", text=None, conclusion="No acute cardiopulmonary abnormality.",
                result=[{"reference": "Observation/r8-other-imp"}])
    bundle = searchset(report, obs("r8-other-imp", "19005-8", WRONG_TEXT, patient=OTHER))
    spec_cards(client.post(REVIEW, json=hook(reports=bundle)))
    assert stored(client)["r8-mixed"]["impression"] == "No acute cardiopulmonary abnormality."
    assert WRONG_TEXT not in text_of(stored(client)["r8-mixed"])


def test_analyze_a_contained_observation_about_another_patient_is_not_report_text(client: TestClient) -> None:
    """Nothing else holds text: the report is refused (400, naming where text was looked for), never read."""
    foreign = obs("imp", "19005-8", WRONG_TEXT, patient=OTHER)
    foreign.pop("id")
    foreign["id"] = "imp"
    report = dr("r8-contained-other", text=None, contained=[foreign], result=[{"reference": "#imp"}])
    body = refused(client, post_fhir(client, report), 400, channel="http-fhir")
    assert WRONG_TEXT not in json.dumps(body)


def test_null_reports_and_no_patient_key_answer_no_cards(client: TestClient) -> None:
    """A null prefetch means "no data" (§1.4); an unadvertised-but-missing `patient` key is not required."""
    req = hook(reports=None)
    del req["prefetch"]["patient"]
    assert spec_cards(client.post(REVIEW, json=req)) == []
    assert [r.status for r in kept(client)] == ["done"]


@pytest.mark.parametrize("prefetch", [None, {}, {"patient": {"resourceType": "Patient", "id": PATIENT}}])
def test_no_reports_prefetched_and_nothing_to_fetch_with_is_412_naming_the_key(client: TestClient,
                                                                             prefetch: Any) -> None:
    """The required `reports` key is neither sent nor fetchable (no fhirServer): 412 with an OperationOutcome."""
    req = hook()
    if prefetch is None:
        del req["prefetch"]
    else:
        req["prefetch"] = prefetch
    body = outcome(client.post(REVIEW, json=req), 412, "processing")
    assert "reports" in diagnostics(body)
    assert [r.status for r in kept(client)] == ["rejected"] and rows(client, CardServed) == []


def test_missing_reports_are_fetched_with_the_include_results_the_server_adds(client: TestClient) -> None:
    """The key is omitted: fetched from fhirServer with the token; the answer's results are in the same Bundle."""
    report = dr("r8-fetched", text=None, result=[{"reference": "Observation/r8-f-imp"}])
    ehr = Ehr(resources={"DiagnosticReport": [report], "Observation": [obs("r8-f-imp", "19005-8", IMPRESSION)]})
    for fake in serve_ehr(ehr):
        req = hook(fhirServer=fake.base, fhirAuthorization=auth("r8-fetch-token"))
        del req["prefetch"]["reports"]
        spec_cards(client.post(REVIEW, json=req))
        assert all(a == "Bearer r8-fetch-token" for _, a in fake.seen)
        assert any(p.startswith("/DiagnosticReport?") and f"patient={PATIENT}" in p for p in fake.paths())
    assert stored(client)["r8-fetched"]["impression"] == IMPRESSION


def test_a_batch_response_with_a_failed_search_beside_a_good_one_reads_the_good_one(client: TestClient) -> None:
    """A client batch: one search answered an OperationOutcome (404), the other a searchset."""
    batch = {"resourceType": "Bundle", "type": "batch-response", "entry": [
        {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]},
         "response": {"status": "404 Not Found"}},
        {"resource": searchset(dr("r8-batch")), "response": {"status": "200 OK"}}]}
    spec_cards(client.post(REVIEW, json=hook(reports=batch)))
    assert set(stored(client)) == {"r8-batch"}


PRELIM = ("EXAM: CT chest low dose screening\n\nFINDINGS:\nSmall nodule in the right upper lobe.\n\n"
          "IMPRESSION:\nPreliminary read: Lung-RADS 2.")


@pytest.mark.parametrize("final_first", [True, False])
@pytest.mark.parametrize("final_status", ["final", "amended", "corrected"])
def test_of_a_preliminary_and_a_final_report_of_one_exam_the_final_is_read(client: TestClient, final_first: bool,
                                                                           final_status: str) -> None:
    """One accession, two DiagnosticReports (the EHR keeps the preliminary beside the final), in either order:
    the final (or amended, corrected) one is the report; the preliminary never stands in for it."""
    prelim = dr("r8-prelim", text=PRELIM, status="preliminary",
                identifier=[{"type": {"coding": [{"code": "ACSN"}]}, "value": "R8-ACC-1"}])
    prelim["issued"] = "2026-07-14T09:40:00-05:00"
    final = dr("r8-final", status=final_status,
               identifier=[{"type": {"coding": [{"code": "ACSN"}]}, "value": "R8-ACC-1"}])
    pair = (final, prelim) if final_first else (prelim, final)
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(*pair))))
    assert set(stored(client)) == {"r8-final"}


@pytest.mark.parametrize("final_first", [True, False])
def test_analyze_a_final_and_its_preliminary_in_one_bundle_keeps_the_final_current(client: TestClient,
                                                                                  final_first: bool) -> None:
    """Both are analysed as sent; the stored current version of the exam is the final, in either order."""
    ident = [{"type": {"coding": [{"code": "ACSN"}]}, "value": "R8-ACC-2"}]
    prelim = dr("r8-a-prelim", text=PRELIM, status="preliminary", identifier=ident)
    prelim["issued"] = "2026-07-14T09:40:00-05:00"
    final = dr("r8-a-final", identifier=ident)
    pair = [final, prelim] if final_first else [prelim, final]
    analysed(post_fhir(client, {"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in pair]}))
    current = [r.report_id for r in rows(client, Report) if r.superseded_by is None]
    assert current == ["r8-a-final"] and set(stored(client)) == {"r8-a-final", "r8-a-prelim"}


# ---- 2. DiagnosticReport variants (FHIR R4) ------------------------------------------------------------------


def lang_form(text: str, language: str | None, **extra: Any) -> dict[str, Any]:
    form = {"contentType": "text/plain; charset=utf-8", "data": b64(text), **extra}
    if language:
        form["language"] = language
    return form


@pytest.mark.parametrize(
    "forms",
    [
        [lang_form(SPANISH, "es"), lang_form(LUNG, "en")],
        [lang_form(SPANISH, "es-MX"), lang_form(LUNG, "en-US")],
        [lang_form(SPANISH, "es"), lang_form(LUNG, None)],
        [lang_form(LUNG, "en"), lang_form(SPANISH, "es")],
    ],
)
def test_of_several_languages_the_english_rendition_is_read(client: TestClient, forms: list[dict[str, Any]]) -> None:
    """Attachment.language: the same report in two languages. The NLP reads English; the translation is not
    read in its place (nor added to it)."""
    analysed(post_fhir(client, dr("r8-lang", text=None, presentedForm=forms)))
    report = stored(client)["r8-lang"]
    assert FINDINGS in report["findings"] and "Nódulo" not in text_of(report)


@pytest.mark.parametrize(
    ("language", "forms"),
    [
        ("en-US", [lang_form(SPANISH, "es"), lang_form(LUNG, None)]),
        ("es", [lang_form(SPANISH, None), lang_form(LUNG, "en")]),  # the untagged original is in Spanish
        ("es", [lang_form(LUNG, "en-GB"), lang_form(SPANISH, None)]),
    ],
)
def test_an_untagged_rendition_is_in_the_report_language(client: TestClient, language: str,
                                                         forms: list[dict[str, Any]]) -> None:
    """Resource.language is the base language: an untagged attachment is in it, and English is read, alone."""
    analysed(post_fhir(client, dr("r8-lang-dr", text=None, presentedForm=forms, language=language)))
    report = stored(client)["r8-lang-dr"]
    assert FINDINGS in report["findings"] and "Nódulo" not in text_of(report)


def test_a_report_and_its_addendum_as_two_plain_attachments_are_both_read(client: TestClient) -> None:
    """Nothing is lost: a second text/plain attachment in the same language is more of the report."""
    forms = [lang_form(LUNG, "en", title="Report"), lang_form(ADDENDUM, "en", title="Addendum")]
    analysed(post_fhir(client, dr("r8-add", text=None, presentedForm=forms, status="appended")))
    report = stored(client)["r8-add"]
    assert FINDINGS in report["findings"] and "9 mm then" in text_of(report)


def test_the_same_text_sent_twice_is_read_once(client: TestClient) -> None:
    forms = [lang_form(LUNG, "en"), lang_form(LUNG, None)]
    analysed(post_fhir(client, dr("r8-twice", text=None, presentedForm=forms)))
    assert stored(client)["r8-twice"]["findings"].count(FINDINGS) == 1


def test_plain_and_html_renditions_of_one_report_read_the_plain_one_once(client: TestClient) -> None:
    html = ("<html><body><h1>CT CHEST</h1><h2>Findings</h2><p>" + FINDINGS + "</p><h2>Impression</h2>"
            "<p>New nodule. Lung-RADS 4X.</p></body></html>")
    forms = [{"contentType": "text/html", "data": b64(html), "language": "en"}, lang_form(LUNG, "en")]
    analysed(post_fhir(client, dr("r8-two-kinds", text=None, presentedForm=forms)))
    assert stored(client)["r8-two-kinds"]["findings"].count(FINDINGS) == 1


@pytest.mark.parametrize(
    ("status", "read"),
    [("final", True), ("amended", True), ("corrected", True), ("preliminary", True),
     ("entered-in-error", False), ("cancelled", False)],
)
def test_result_observation_status_decides_whether_its_text_is_the_report(client: TestClient, status: str,
                                                                        read: bool) -> None:
    """FHIR R4 observation-status: an entered-in-error or cancelled Observation holds no result to read."""
    report = dr("r8-obs-st", text=None, conclusion="No acute abnormality.",
                result=[{"reference": "Observation/r8-st-imp"}])
    bundle = searchset(report, obs("r8-st-imp", "19005-8", IMPRESSION, status=status))
    spec_cards(client.post(REVIEW, json=hook(reports=bundle)))
    impression = stored(client)["r8-obs-st"]["impression"]
    assert (impression == IMPRESSION) is read
    if not read:
        assert impression == "No acute abnormality."


def test_analyze_contained_findings_and_impression_with_profiles_and_extensions(client: TestClient) -> None:
    profile = {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-clinical-result"]}
    ext = [{"url": "http://example.org/fhir/StructureDefinition/dictation-system", "valueString": "PowerScribe"}]
    findings = {**obs("f", "18782-3", FINDINGS), "meta": profile, "extension": ext}
    impression = {**obs("i", "19005-8", IMPRESSION), "meta": profile}
    report = dr("r8-contained", text=None, contained=[findings, impression],
                result=[{"reference": "#f"}, {"reference": "#i"}])
    analysed(post_fhir(client, report))
    got = stored(client)["r8-contained"]
    assert got["findings"] == FINDINGS and got["impression"] == IMPRESSION


def test_analyze_a_us_core_report_with_every_usual_element(client: TestClient) -> None:
    report = dr(
        "r8-uscore",
        meta={"versionId": "3", "lastUpdated": "2026-07-14T10:41:00-05:00",
              "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-diagnosticreport-note"]},
        extension=[{"url": "http://example.org/fhir/StructureDefinition/report-priority", "valueCode": "stat"}],
        basedOn=[{"reference": "ServiceRequest/r8-order-1"}],
        encounter={"reference": "Encounter/r8-enc-7"},
        performer=[{"reference": "Organization/r8-rad-dept", "display": "Radiology"}],
        resultsInterpreter=[{"reference": "Practitioner/r8-rad-kim"}],
        imagingStudy=[{"reference": "ImagingStudy/r8-study-1"}],
        media=[{"comment": "key image", "link": {"reference": "Media/r8-key-1"}}],
        conclusionCode=[{"coding": [{"system": "http://snomed.info/sct", "code": "427359005",
                                     "display": "Solitary nodule of lung"}]}],
    )
    observations = analysed(post_fhir(client, report))
    assert observations and stored(client)["r8-uscore"]["accession"] == "R8-r8-uscore"


def test_the_hook_reads_an_r5_study_element_as_r4_imaging_study_is_read(client: TestClient) -> None:
    report = dr("r8-r5", study=[{"reference": "ImagingStudy/r8-study-2"}])
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(report))))
    assert set(stored(client)) == {"r8-r5"}


@pytest.mark.parametrize(
    ("edit", "where", "code"),
    [
        ({"status": "FINAL"}, "DiagnosticReport.status", "value"),
        ({"status": None}, "DiagnosticReport.status", "required"),
        ({"code": None}, "DiagnosticReport.code", "required"),
        ({"issued": "2026-07-14"}, "DiagnosticReport.issued", "value"),
        ({"imagingStudy": {"reference": "ImagingStudy/1"}}, "DiagnosticReport.imagingStudy", None),
        ({"result": [{"reference": 7}]}, "DiagnosticReport.result", None),
    ],
)
def test_analyze_a_report_that_breaks_r4_is_400_naming_where(client: TestClient, edit: dict[str, Any], where: str,
                                                             code: str | None) -> None:
    report = {k: v for k, v in {**dr("r8-bad"), **edit}.items() if v is not None}
    body = refused(client, post_fhir(client, report), 400, channel="http-fhir")
    assert any(e.startswith(where) for e in expressions(body)), body
    if code is not None:
        assert any(i["code"] == code for i in body["issue"]), body


@pytest.mark.parametrize("status", ["preliminary", "amended", "corrected"])
def test_the_hook_reads_reports_of_each_result_status(client: TestClient, status: str) -> None:
    spec_cards(client.post(REVIEW, json=hook(reports=searchset(dr("r8-hk-st", status=status)))))
    assert stored(client)["r8-hk-st"]["status"] == status


def test_analyze_a_conclusion_only_report_with_a_conclusion_code(client: TestClient) -> None:
    report = dr("r8-concl", text=None, conclusion=IMPRESSION,
                conclusionCode=[{"coding": [{"system": "http://snomed.info/sct", "code": "237495005"}]}])
    analysed(post_fhir(client, report))
    assert stored(client)["r8-concl"]["impression"] == IMPRESSION


def test_analyze_narrative_only_report_is_read(client: TestClient) -> None:
    div = ('<div xmlns="http://www.w3.org/1999/xhtml"><p><b>FINDINGS:</b> ' + FINDINGS + '</p>'
           '<p><b>IMPRESSION:</b> Lung-RADS 4X.</p></div>')
    report = dr("r8-div", text=None)
    report["text"] = {"status": "generated", "div": div}
    analysed(post_fhir(client, report))
    assert FINDINGS in text_of(stored(client)["r8-div"])


# ---- 3. hook contexts (CDS Hooks library STU1) -----------------------------------------------------------------


@pytest.mark.parametrize("user", ["Practitioner/r8-dr-hale", "PractitionerRole/r8-role-3", "Patient/" + PATIENT,
                                  "RelatedPerson/r8-mother"])
def test_patient_view_takes_every_user_id_form(client: TestClient, user: str) -> None:
    req = hook()
    req["context"]["userId"] = user
    spec_cards(client.post(REVIEW, json=req))
    assert set(stored(client)) == {"r8-dr"}


@pytest.mark.parametrize("encounter", [None, "r8-enc-7", "Encounter/r8-enc-7"])
def test_patient_view_with_or_without_an_encounter(client: TestClient, encounter: str | None) -> None:
    req = hook()
    if encounter is None:
        del req["context"]["encounterId"]
    else:
        req["context"]["encounterId"] = encounter
    spec_cards(client.post(REVIEW, json=req))


@pytest.mark.parametrize(("field", "value"), [("userId", ""), ("patientId", ""), ("encounterId", 42),
                                              ("patientId", ["r8"]), ("userId", None)])
def test_a_context_field_empty_or_of_the_wrong_type_is_400_naming_it(client: TestClient, field: str,
                                                                    value: Any) -> None:
    req = hook()
    req["context"][field] = value
    body = refused(client, client.post(REVIEW, json=req), 400)
    assert f"context.{field}" in diagnostics(body) or field in diagnostics(body)


def test_order_sign_with_two_imaging_orders_answers_valid_cards(client: TestClient) -> None:
    req = hook("order-sign")
    req["context"]["draftOrders"] = draft_orders(service_request("r8-sr-ct", "71260", "CT chest with contrast"),
                                                 service_request("r8-sr-mr", "70553", "MRI brain w/wo contrast"))
    spec_cards(client.post(ORDER, json=req))
    assert [r.status for r in kept(client)] == ["done"]


@pytest.mark.parametrize("selection", ["ServiceRequest/r8-sr-ct", f"{EHR}/ServiceRequest/r8-sr-ct",
                                       "ServiceRequest/not-in-the-bundle"])
def test_order_select_with_each_selection_form(client: TestClient, selection: str) -> None:
    req = hook("order-select")
    req["context"]["selections"] = [selection]
    spec_cards(client.post(ORDER, json=req))


@pytest.mark.parametrize("draft", [service_request("r8-sr-alone", "71260", "CT chest"), [], "Bundle/1",
                                   {"resourceType": "Parameters"}])
def test_order_sign_draft_orders_that_are_no_bundle_are_400(client: TestClient, draft: Any) -> None:
    req = hook("order-sign")
    req["context"]["draftOrders"] = draft
    assert "draftOrders" in diagnostics(refused(client, client.post(ORDER, json=req), 400))


def test_order_select_without_selections_is_400(client: TestClient) -> None:
    req = hook("order-select")
    del req["context"]["selections"]
    assert "selections" in diagnostics(refused(client, client.post(ORDER, json=req), 400))


def test_patient_view_sent_to_the_order_service_is_400(client: TestClient) -> None:
    body = refused(client, client.post(ORDER, json=hook()), 400, "not-supported")
    assert "patient-view" in diagnostics(body)


# ---- 4. JWT (CDS Hooks 2.0 §1.8) ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture()
def secured(sqlite_url: str, ensemble: Any, keys: Keys, tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "ehr-jwks.json"
    path.write_text(json.dumps(keys.jwks()))
    settings = cds_settings(sqlite_url, jwt_required=True, public_base_url=BASE, jwt_leeway_seconds=10,
                            jwt_max_age_seconds=3600,
                            trusted_issuers=json.dumps([{"iss": ISSUER, "jwks_path": str(path)}]),
                            hook_budget_seconds=0.1)
    with TestClient(create_app(settings, ensemble=ensemble)) as c:
        yield c


def token(keys: Keys, *, header: dict[str, Any] | None = None, key: Any = None, alg: str = "ES384",
          **claims: Any) -> str:
    """A token with these claims over sensible defaults (None drops a claim); times are as given."""
    now = int(time.time())
    body = {"iss": ISSUER, "sub": "r8-ehr", "aud": BASE + REVIEW, "iat": now, "exp": now + 300,
            "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key or keys.es, algorithm=alg,
                      headers={"typ": "JWT", "kid": ES_KID, **(header or {})})


def call(c: TestClient, tok: str, path: str = REVIEW, body: Any = None) -> Any:
    return c.post(path, json=body or hook(reports=None), headers={"Authorization": f"Bearer {tok}"})


@pytest.mark.parametrize(
    ("iat", "exp", "status"),
    [
        (5, 300, 200),  # the client's clock 5 s ahead: within the 10 s leeway
        (40, 300, 401),  # issued 40 s in the future
        (-600, -5, 200),  # expired 5 s ago: within the leeway
        (-600, -30, 401),
        (-3000, 200, 200),  # old but still valid, and younger than the allowed age
        (-4000, 200, 401),  # issued more than an hour ago (max age)
        (0, 7200, 401),  # a two-hour lifetime: longer than the jti store keeps it
    ],
)
def test_iat_and_exp_skew(secured: TestClient, keys: Keys, iat: int, exp: int, status: int) -> None:
    now = int(time.time())
    response = call(secured, token(keys, iat=now + iat, exp=now + exp))
    assert response.status_code == status, response.text
    if status == 401:
        outcome(response, 401, "login")
        assert response.headers["www-authenticate"] == "Bearer" and kept(secured) == []


@pytest.mark.parametrize("claims", [{"iat": "now"}, {"exp": "later"}, {"jti": ""}, {"jti": 12345},
                                    {"iss": None}, {"aud": None}, {"iat": None}])
def test_a_claim_missing_or_of_the_wrong_type_is_401(secured: TestClient, keys: Keys, claims: dict[str, Any]) -> None:
    outcome(call(secured, token(keys, **claims)), 401, "login")
    assert kept(secured) == []


def test_a_token_replayed_to_another_service_is_401(secured: TestClient, keys: Keys) -> None:
    """One jti, one use: an aud naming both services does not let the token be spent twice."""
    tok = token(keys, aud=[BASE + REVIEW, BASE + ORDER])
    spec_cards(call(secured, tok))
    outcome(call(secured, tok, ORDER, hook("order-sign", reports=None)), 401, "login")


def test_the_same_jti_from_a_fresh_token_is_still_a_replay(secured: TestClient, keys: Keys) -> None:
    jti = str(uuid.uuid4())
    spec_cards(call(secured, token(keys, jti=jti)))
    outcome(call(secured, token(keys, jti=jti, iat=int(time.time()) - 1)), 401, "login")


@pytest.mark.parametrize(
    "header",
    [
        {"crit": ["http://example.org/must-understand"], "http://example.org/must-understand": True},
        {"typ": "at+jwt"},
        {"kid": "a-kid-no-key-set-has"},
        {"kid": None},
        {"jku": "https://attacker.example/jwks.json"},
    ],
)
def test_a_header_the_service_cannot_honour_is_401(secured: TestClient, keys: Keys, header: dict[str, Any]) -> None:
    """RFC 7515 §4.1.11: a `crit` extension not understood MUST be refused; an unknown kid or a foreign jku too."""
    tok = token(keys, header={k: v for k, v in header.items() if v is not None})
    if header.get("kid", "") is None:
        parts = tok.split(".")
        head = json.loads(jwt.utils.base64url_decode(parts[0]))
        head.pop("kid")
        tok = token(keys, header={"kid": ""})
    outcome(call(secured, tok), 401, "login")


def test_a_key_of_the_right_type_but_not_in_the_key_set_is_401(secured: TestClient, keys: Keys) -> None:
    stranger = ec.generate_private_key(ec.SECP384R1())
    outcome(call(secured, token(keys, key=stranger)), 401, "login")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_bearer_scheme_is_case_insensitive(secured: TestClient, keys: Keys, scheme: str) -> None:
    response = secured.post(REVIEW, json=hook(reports=None), headers={"Authorization": f"{scheme} {token(keys)}"})
    spec_cards(response)


@pytest.mark.parametrize("value", ["Basic cjg6cjg=", "Bearer", "Bearer ", "Token abc", "Bearer not.a.jwt"])
def test_an_authorization_that_is_no_bearer_jwt_is_401(secured: TestClient, value: str) -> None:
    response = secured.post(REVIEW, json=hook(reports=None), headers={"Authorization": value})
    outcome(response, 401, "login")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("tenant", ["r8-hospital-west", "6f9619ff-8b86-d011-b42d-00cf4fc964ff"])
def test_a_tenant_claim_is_taken(secured: TestClient, keys: Keys, tenant: str) -> None:
    spec_cards(call(secured, token(keys, tenant=tenant)))


def test_discovery_and_feedback_take_tokens_for_their_own_urls(secured: TestClient, keys: Keys) -> None:
    ok = secured.get("/cds-services", headers={"Authorization": f"Bearer {token(keys, aud=BASE + '/cds-services')}"})
    assert ok.status_code == 200 and ok.json()["services"]
    wrong = secured.get("/cds-services", headers={"Authorization": f"Bearer {token(keys)}"})
    outcome(wrong, 401, "login")
    item = {"card": str(uuid.uuid4()), "outcome": "overridden", "outcomeTimestamp": "2026-07-20T15:04:05Z",
            "overrideReason": {"userComment": "Already discussed with the patient"}}
    fb = secured.post(REVIEW + "/feedback", json={"feedback": [item]},
                      headers={"Authorization": f"Bearer {token(keys, aud=BASE + REVIEW + '/feedback')}"})
    assert fb.status_code == 200, fb.text


def test_a_rotated_kid_on_the_allow_listed_jku_is_fetched_once_and_taken(sqlite_url: str, ensemble: Any,
                                                                        keys: Keys) -> None:
    """The client publishes its new key on its JWK Set URL and signs with it: the set is fetched again, once."""
    new = ec.generate_private_key(ec.SECP384R1())
    new_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(new.public_key()))
    new_jwk.update(kid="es384-rotated-2026-07", use="sig", alg="ES384")
    for fake in serve_fhir(FhirServer(resources={}, jwks=keys.jwks())):
        jku = fake.base + "/.well-known/jwks.json"
        settings = cds_settings(sqlite_url, jwt_required=True, public_base_url=BASE,
                                trusted_issuers=json.dumps([{"iss": ISSUER, "jku": jku}]), hook_budget_seconds=0.1)
        with TestClient(create_app(settings, ensemble=ensemble)) as c:
            spec_cards(call(c, token(keys, header={"jku": jku})))
            assert fake.jwks_hits == 1
            fake.jwks = {"keys": [*keys.jwks()["keys"], new_jwk]}
            spec_cards(call(c, token(keys, key=new, header={"jku": jku, "kid": "es384-rotated-2026-07"})))
            assert fake.jwks_hits == 2
            spec_cards(call(c, token(keys, header={"jku": jku})))  # the old key still in the set: no refetch
            assert fake.jwks_hits == 2


def test_made_up_kids_refetch_the_key_set_a_bounded_number_of_times(sqlite_url: str, ensemble: Any,
                                                                   keys: Keys) -> None:
    """Tokens naming kids no set holds are 401; they cannot make us fetch the client's JWK Set without end."""
    for fake in serve_fhir(FhirServer(resources={}, jwks=keys.jwks())):
        jku = fake.base + "/.well-known/jwks.json"
        settings = cds_settings(sqlite_url, jwt_required=True, public_base_url=BASE,
                                trusted_issuers=json.dumps([{"iss": ISSUER, "jku": jku}]), hook_budget_seconds=0.1)
        with TestClient(create_app(settings, ensemble=ensemble)) as c:
            for i in range(25):
                outcome(call(c, token(keys, header={"kid": f"made-up-{i}"})), 401, "login")
            assert 1 < fake.jwks_hits <= 11
            spec_cards(call(c, token(keys)))  # the real key still verifies from the cached set


def test_a_key_published_for_encryption_does_not_verify_signatures(sqlite_url: str, ensemble: Any, keys: Keys,
                                                                  tmp_path: Path) -> None:
    """RFC 7517 §4.2: a key whose `use` is `enc` is not a signing key."""
    key_set = keys.jwks()
    for k in key_set["keys"]:
        k["use"] = "enc"
    path = tmp_path / "enc-jwks.json"
    path.write_text(json.dumps(key_set))
    settings = cds_settings(sqlite_url, jwt_required=True, public_base_url=BASE,
                            trusted_issuers=json.dumps([{"iss": ISSUER, "jwks_path": str(path)}]))
    with TestClient(create_app(settings, ensemble=ensemble)) as c:
        outcome(call(c, token(keys)), 401, "login")


# ---- 5. content negotiation (FHIR http) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "accept", "status"),
    [
        ("", "application/fhir+json; fhirVersion=4.0", 200),
        ("?_format=application/fhir%2Bjson%3B%20fhirVersion%3D4.0", None, 200),
        ("?_format=json&_pretty=true", None, 200),
        ("", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200),  # a browser
        ("", "application/fhir+xml;q=1, application/fhir+json;q=0.5", 200),
        ("?_format=xml", None, 406),
        ("?_format=application/fhir%2Bxml", None, 406),
        ("?_format=ttl", None, 406),
        ("", "application/fhir+xml", 406),
        ("", "application/fhir+json; fhirVersion=3.0", 406),
        ("?_format=xml", "application/fhir+json", 406),  # _format overrides Accept (FHIR http)
    ],
)
def test_metadata_honours_format_and_accept(client: TestClient, query: str, accept: str | None, status: int) -> None:
    response = client.get("/fhir/metadata" + query, headers={"Accept": accept} if accept else {})
    if status == 200:
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["resourceType"] == "CapabilityStatement" and body["fhirVersion"] == "4.0.1"
        assert body["kind"] == "instance" and "json" in " ".join(body["format"])
    else:
        outcome(response, 406, "not-supported")


def test_the_capability_statement_names_the_analyze_operation_that_is_served(client: TestClient) -> None:
    body = client.get("/fhir/metadata").json()
    [dr_rest] = [r for r in body["rest"][0]["resource"] if r["type"] == "DiagnosticReport"]
    [op] = dr_rest["operation"]
    assert op["name"] == "analyze"
    definition = client.get("/fhir/OperationDefinition/" + op["definition"].rsplit("/", 1)[1])
    assert definition.status_code == 200 and definition.json()["url"] == op["definition"]
    assert definition.json()["code"] == "analyze" and definition.json()["resource"] == ["DiagnosticReport"]


@pytest.mark.parametrize(
    "content_type",
    ["application/fhir+xml", "application/xml", "text/plain", "multipart/form-data; boundary=x",
     "application/x-www-form-urlencoded", "application/fhir+json; fhirVersion=3.0", "text/json"],
)
def test_analyze_a_body_in_a_format_not_read_is_415_and_kept(client: TestClient, content_type: str) -> None:
    response = client.post(ANALYZE, content=json.dumps(dr("r8-ct")).encode(), headers={"Content-Type": content_type})
    refused(client, response, 415, "not-supported", channel="http-fhir")


@pytest.mark.parametrize("accept", ["application/fhir+json;q=0", "application/xml", "text/html"])
def test_analyze_refusing_json_is_406_and_kept(client: TestClient, accept: str) -> None:
    refused(client, post_fhir(client, dr("r8-406"), Accept=accept), 406, "not-supported", channel="http-fhir")


@pytest.mark.parametrize("content_type", ["application/json", "application/fhir+json; fhirVersion=4.0",
                                          "application/fhir+json; charset=utf-8", None])
def test_analyze_reads_fhir_json_however_it_is_labelled(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    analysed(client.post(ANALYZE + "?tasks=rads_assignment", content=json.dumps(dr("r8-lbl")).encode(),
                         headers=headers))


def test_analyze_format_json_wins_over_an_accept_naming_xml(client: TestClient) -> None:
    """FHIR http: `_format` overrides the Accept header (for clients that cannot set it)."""
    analysed(post_fhir(client, dr("r8-fmt"), "?tasks=rads_assignment&_format=json", Accept="application/fhir+xml"))


def test_analyze_parameters_holding_a_searchset_with_included_results(client: TestClient) -> None:
    report = dr("r8-params", text=None, result=[{"reference": "Observation/r8-p-f"},
                                                {"reference": "Observation/r8-p-i"}])
    bundle = searchset(report, obs("r8-p-f", "18782-3", FINDINGS), obs("r8-p-i", "19005-8", IMPRESSION))
    params = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bundle},
                                                          {"name": "tasks", "valueString": "rads_assignment"}]}
    analysed(post_fhir(client, params, ""))
    got = stored(client)["r8-params"]
    assert got["findings"] == FINDINGS and got["impression"] == IMPRESSION


def test_a_smart_v2_patient_scoped_token_fetches_the_omitted_reports(client: TestClient) -> None:
    """fhirAuthorization with SMART v2 scopes and `patient` (§1.5): the omitted key is fetched with it."""
    for fake in serve_ehr(Ehr(resources={"DiagnosticReport": [dr("r8-v2")]})):
        grant = {**auth("r8-v2-token"), "scope": "patient/DiagnosticReport.rs patient/Observation.rs",
                 "patient": PATIENT}
        req = hook(fhirServer=fake.base + "/", fhirAuthorization=grant)
        del req["prefetch"]["reports"]
        spec_cards(client.post(REVIEW, json=req))
        assert fake.seen and all(a == "Bearer r8-v2-token" for _, a in fake.seen)
    assert set(stored(client)) == {"r8-v2"}
    assert "r8-v2-token" not in kept(client)[0].raw.decode()


# ---- 6. HTTP method and header faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'"patient-view"', b"{", b"{}"])
def test_a_hook_body_that_is_no_request_object_is_400_and_kept(client: TestClient, raw: bytes) -> None:
    response = client.post(REVIEW, content=raw, headers={"Content-Type": "application/json"})
    refused(client, response, 400)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_no_json_on_either_door(client: TestClient, constant: str) -> None:
    """RFC 8259 §6: numbers are digits; `NaN`/`Infinity` are not JSON, whatever Python's reader takes."""
    raw = json.dumps(hook()).replace('"hook": ', f'"extension": {{"org.r8.weight": {constant}}}, "hook": ').encode()
    body = refused(client, client.post(REVIEW, content=raw, headers={"Content-Type": "application/json"}), 400,
                   "structure")
    assert "RFC 8259" in diagnostics(body)
    report = json.dumps(dr("r8-nan")).replace('"status": ', f'"extension": [{{"url": "http://example.org/w", '
                                                            f'"valueDecimal": {constant}}}], "status": ')
    response = client.post(ANALYZE, content=report.encode(), headers={"Content-Type": "application/fhir+json"})
    assert "RFC 8259" in diagnostics(outcome(response, 400, "structure"))


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b"{}", b'{"feedback": []}', b'{"feedback": {}}'])
def test_feedback_that_is_no_feedback_object_is_400_and_kept(client: TestClient, raw: bytes) -> None:
    response = client.post(REVIEW + "/feedback", content=raw, headers={"Content-Type": "application/json"})
    outcome(response, 400)
    assert [r.status for r in kept(client, "cds-feedback")] == ["rejected"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("PATCH", ANALYZE, {"POST"}), ("GET", REVIEW + "/feedback", {"POST"}), ("DELETE", "/fhir/metadata",
                                                                          {"GET", "HEAD"})],
)
def test_a_method_not_served_is_405_with_allow(client: TestClient, method: str, path: str, allowed: set[str]) -> None:
    response = client.request(method, path)
    outcome(response, 405, "not-supported")
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed


def test_head_of_discovery_with_a_trailing_slash_is_answered(client: TestClient) -> None:
    """The trailing-slash discovery URL is served for GET; HEAD is served wherever GET is (RFC 9110 §9.1)."""
    assert client.head("/cds-services/").status_code == 200 == client.get("/cds-services/").status_code


def test_a_cors_preflight_from_the_sandbox_is_answered(client: TestClient) -> None:
    response = client.options(REVIEW, headers={"Origin": "https://sandbox.cds-hooks.org",
                                               "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://sandbox.cds-hooks.org")
    assert "POST" in response.headers["access-control-allow-methods"]


def test_an_unknown_service_is_404_and_kept(client: TestClient) -> None:
    response = client.post("/cds-services/radlite-unknown", json=hook())
    body = outcome(response, 404, "not-found")
    assert "radlite-unknown" in diagnostics(body)
    assert [r.status for r in kept(client)] == ["rejected"]


def test_unknown_fhir_reads_are_404_operation_outcomes(client: TestClient) -> None:
    for path in ("/fhir/DiagnosticReport/r8-dr", "/fhir/Observation/1", "/fhir/StructureDefinition/no-such",
                 "/fhir/OperationDefinition/no-such"):
        outcome(client.get(path), 404, "not-found")
