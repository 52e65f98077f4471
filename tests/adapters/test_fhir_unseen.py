"""FHIR inbound on shapes the dev set does not hold, as real EHRs and FHIR servers send them.

Each case is written by hand from FHIR R4 (and R4B/R5 where a sender may use them): media
types with parameters, HTML renditions, unreadable formats, several attachments, every
Bundle type with other resources beside the report, urn:uuid references, contained
Observations, R5 elements, Parameters bodies, and the faults a 4xx must name.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import fhirkit
import pytest

from adapters.fhir import FhirInputError, reports_from_resource

REPORT = ("EXAM: CT CHEST WITHOUT CONTRAST\n\nFINDINGS:\nA 6 mm solid nodule in the right upper lobe.\n"
          "No pleural effusion.\n\nIMPRESSION:\nLung-RADS 2: benign appearance.")
FINDINGS = "A 6 mm solid nodule in the right upper lobe.\nNo pleural effusion."
IMPRESSION = "Lung-RADS 2: benign appearance."


def b64(data: str | bytes, encoding: str = "utf-8") -> str:
    raw = data.encode(encoding) if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def report(**extra: Any) -> dict[str, Any]:
    dr: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": "unseen-1", "status": "final",
        "category": [{"coding": [{"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "CT Chest"}],
                 "text": "CT CHEST WITHOUT CONTRAST"},
        "subject": {"reference": "Patient/unseen-pat-1"},
        "effectiveDateTime": "2025-04-02T09:15:00+02:00",
        "issued": "2025-04-02T11:00:00+02:00",
    }
    dr.update(extra)
    return dr


def form(content_type: str | None, text: str | bytes, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"data": b64(text)}
    if content_type is not None:
        out["contentType"] = content_type
    out.update(extra)
    return out


def one(resource: dict[str, Any]) -> Any:
    [r] = reports_from_resource(resource)
    return r


def fault(resource: Any) -> list[tuple[str | None, str]]:
    with pytest.raises(FhirInputError) as err:
        reports_from_resource(resource)
    outcome = err.value.operation_outcome()
    assert outcome["resourceType"] == "OperationOutcome" and fhirkit.validate(outcome) == []
    return [(i.expression, i.code) for i in err.value.issues]


# ---- presentedForm media types ---------------------------------------------------------------


def test_text_plain_with_charset_parameter_and_crlf_lines() -> None:
    r = one(report(presentedForm=[form("text/plain; charset=utf-8", REPORT.replace("\n", "\r\n"))]))
    assert (r.findings, r.impression) == (FINDINGS, IMPRESSION)
    quoted = one(report(presentedForm=[form('Text/Plain; Charset="UTF-8"', REPORT)]))
    assert quoted.impression == IMPRESSION


def test_plain_text_without_charset_in_windows_1252_is_read() -> None:
    text = REPORT.replace("benign appearance", "benign appearance – stable since 2023 (±1 mm)")
    r = one(report(presentedForm=[{"contentType": "text/plain", "data": b64(text, "cp1252")}]))
    assert r.impression == "Lung-RADS 2: benign appearance – stable since 2023 (±1 mm)."


def test_declared_charset_that_does_not_fit_is_refused_and_located() -> None:
    bad = report(presentedForm=[{"contentType": "text/plain; charset=utf-8", "data": b64("café", "latin-1")}])
    assert fault(bad) == [("DiagnosticReport.presentedForm[0].data", "value")]


def test_html_rendition_with_entities_br_and_styles() -> None:
    html = ("<html><head><title>Report</title><style>p {margin:0}</style></head><body>"
            "<h2>CT Chest without contrast</h2>"
            "<p><b>FINDINGS:</b><br>A 6&nbsp;mm solid nodule in the right upper lobe.<br/>"
            "No pleural effusion.</p><p><b>IMPRESSION:</b><br>Lung-RADS 2&#58; benign appearance &amp; no "
            "follow-up &lt; 12 months.</p><script>var x = 1;</script></body></html>")
    r = one(report(presentedForm=[form("text/html; charset=UTF-8", html)]))
    assert r.findings == FINDINGS
    assert r.impression == "Lung-RADS 2: benign appearance & no follow-up < 12 months."


def test_markdown_headings_in_bold_are_headings() -> None:
    md = ("## CT chest\n\n**FINDINGS:**\nA 6 mm solid nodule in the right upper lobe.\nNo pleural effusion.\n\n"
          "**IMPRESSION:**\nLung-RADS 2: benign appearance.")
    r = one(report(presentedForm=[form("text/markdown", md)]))
    assert (r.findings, r.impression) == (FINDINGS, IMPRESSION)


@pytest.mark.parametrize("content_type", ["application/pdf", "text/rtf", "application/rtf", "image/jpeg"])
def test_only_an_unreadable_rendition_is_a_located_not_supported_fault(content_type: str) -> None:
    dr = report(presentedForm=[form(content_type, b"%PDF-1.7 binary \x00\x01")])
    assert fault(dr) == [("DiagnosticReport.presentedForm[0].contentType", "not-supported")]


def test_pdf_beside_a_conclusion_or_a_text_rendition_is_not_a_fault() -> None:
    pdf = form("application/pdf", b"%PDF-1.7")
    assert one(report(presentedForm=[pdf], conclusion="No acute findings.")).impression == "No acute findings."
    r = one(report(presentedForm=[pdf, form("text/plain", REPORT)]))
    assert (r.findings, r.impression) == (FINDINGS, IMPRESSION)


def test_several_attachments_with_size_hash_language_and_url() -> None:
    raw = REPORT.encode("utf-8")
    sha1 = base64.b64encode(hashlib.sha1(raw).digest()).decode("ascii")
    forms = [
        {"contentType": "application/pdf", "url": "https://ehr.example/fhir/Binary/pdf-1", "title": "Report (PDF)"},
        {"contentType": "text/plain", "language": "en-US", "data": b64("   \n")},  # an empty rendition
        {"contentType": "text/plain; charset=utf-8", "language": "en-US", "data": b64(raw), "size": len(raw),
         "hash": sha1, "title": "Report", "creation": "2025-04-02T11:00:00+02:00",
         "url": "https://ehr.example/fhir/Binary/txt-1"},
    ]
    r = one(report(presentedForm=forms))
    assert (r.findings, r.impression) == (FINDINGS, IMPRESSION)


def test_data_without_content_type_breaks_att_1() -> None:
    assert fault(report(presentedForm=[form(None, REPORT)])) == [
        ("DiagnosticReport.presentedForm[0].contentType", "required")]


# ---- Bundles ---------------------------------------------------------------------------------

PAT = "urn:uuid:5d0b4b1e-6a53-4f1c-9d0e-1a2b3c4d5e01"
STUDY = "urn:uuid:5d0b4b1e-6a53-4f1c-9d0e-1a2b3c4d5e02"
OBS_F = "urn:uuid:5d0b4b1e-6a53-4f1c-9d0e-1a2b3c4d5e03"
OBS_I = "urn:uuid:5d0b4b1e-6a53-4f1c-9d0e-1a2b3c4d5e04"
DR = "urn:uuid:5d0b4b1e-6a53-4f1c-9d0e-1a2b3c4d5e05"


def narrative(code: str, text: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]}, "valueString": text}


@pytest.mark.parametrize("btype", ["transaction", "batch"])
def test_transaction_and_batch_bundles_with_urn_uuid_references(btype: str) -> None:
    dr = report(subject={"reference": PAT}, imagingStudy=[{"reference": STUDY}],
                result=[{"reference": OBS_F}, {"reference": OBS_I}])
    del dr["id"]
    bundle = {"resourceType": "Bundle", "type": btype, "entry": [
        {"fullUrl": PAT, "resource": {"resourceType": "Patient", "id": "unseen-pat-9",
                                      "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN9"}]},
         "request": {"method": "PUT", "url": "Patient/unseen-pat-9"}},
        {"fullUrl": STUDY, "resource": {"resourceType": "ImagingStudy", "status": "available",
                                        "subject": {"reference": PAT}},
         "request": {"method": "POST", "url": "ImagingStudy"}},
        {"fullUrl": OBS_F, "resource": narrative("59776-5", FINDINGS),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": OBS_I, "resource": narrative("19005-8", IMPRESSION),
         "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": DR, "resource": dr, "request": {"method": "POST", "url": "DiagnosticReport"}},
    ]}
    r = one(bundle)
    assert (r.findings, r.impression) == (FINDINGS, IMPRESSION)
    assert r.patient_id == "unseen-pat-9" and r.report_id.startswith("fhir-") and r.modality == "CT"


def test_searchset_with_included_patient_and_outcome_entries() -> None:
    first = report(presentedForm=[form("text/plain", REPORT)])
    second = report(id="unseen-2", status="preliminary", conclusion="Stable nodule.",
                    effectiveDateTime="2024-04-01")
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": 2,
              "link": [{"relation": "self", "url": "https://ehr.example/fhir/DiagnosticReport?patient=unseen-pat-1"}],
              "entry": [
                  {"fullUrl": "https://ehr.example/fhir/DiagnosticReport/unseen-1", "resource": first,
                   "search": {"mode": "match"}},
                  {"fullUrl": "https://ehr.example/fhir/Patient/unseen-pat-1",
                   "resource": {"resourceType": "Patient", "id": "unseen-pat-1"}, "search": {"mode": "include"}},
                  {"fullUrl": "https://ehr.example/fhir/DiagnosticReport/unseen-2", "resource": second,
                   "search": {"mode": "match"}},
                  {"resource": {"resourceType": "OperationOutcome",
                                "issue": [{"severity": "information", "code": "informational"}]},
                   "search": {"mode": "outcome"}},
              ]}
    reports = reports_from_resource(bundle)
    assert [r.report_id for r in reports] == ["unseen-1", "unseen-2"]
    assert reports[1].status == "preliminary" and reports[1].impression == "Stable nodule."
    assert reports[1].effective is not None and reports[1].effective.year == 2024


def test_a_bad_report_in_a_bundle_is_located_by_entry() -> None:
    good = report(presentedForm=[form("text/plain", REPORT)])
    bad = report(id="unseen-bad")
    del bad["status"]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": good}, {"resource": bad}]}
    assert fault(bundle) == [("Bundle.entry[1].resource.status", "required")]


# ---- contained, R5, Parameters ---------------------------------------------------------------


def test_contained_observations_with_value_string() -> None:
    dr = report(contained=[dict(narrative("18782-3", FINDINGS), id="f"), dict(narrative("19005-8", IMPRESSION), id="i")],
                result=[{"reference": "#f"}, {"reference": "#i"}])
    r = one(dr)
    assert (r.findings, r.impression) == (FINDINGS, IMPRESSION)


def test_r5_report_with_note_study_supporting_info_and_integer64_size() -> None:
    dr = report(status="modified", note=[{"text": "Discussed with Dr. Example."}],
                study=[{"reference": "ImagingStudy/st-1"}],
                supportingInfo=[{"type": {"text": "prior"}, "reference": {"reference": "DiagnosticReport/old"}}],
                presentedForm=[form("text/plain", REPORT, size="154", pages=1)])
    assert fhirkit.validate(dr), "must really be outside R4"
    r = one(dr)
    assert r.status == "amended" and (r.findings, r.impression) == (FINDINGS, IMPRESSION)


def test_parameters_body_as_fhir_operations_send_it() -> None:
    params = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": report(presentedForm=[form("text/plain", REPORT)])}]}
    assert one(params).impression == IMPRESSION
    bad = report()
    del bad["status"]
    with pytest.raises(FhirInputError) as err:
        reports_from_resource({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bad}]})
    assert [i.expression for i in err.value.issues] == ["Parameters.parameter[0].resource.status"]
    assert fault({"resourceType": "Parameters", "parameter": [{"name": "tasks", "valueString": "x"}]}) == [
        ("Parameters.parameter", "required")]


# ---- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("resource", "expected"), [
    (report(resourceType="ImagingStudy"), [("resourceType", "not-supported")]),
    ({k: v for k, v in report(conclusion="x").items() if k != "resourceType"}, [("resourceType", "required")]),
    ({k: v for k, v in report(conclusion="x").items() if k != "status"}, [("DiagnosticReport.status", "required")]),
    ({k: v for k, v in report(conclusion="x").items() if k != "code"}, [("DiagnosticReport.code", "required")]),
    (report(conclusion="x", status="signed"), [("DiagnosticReport.status", "value")]),
    (report(conclusion="x", issued="2025-04-02T11:00:00"), [("DiagnosticReport.issued", "value")]),
    (report(conclusion="x", reportedBy="someone"), [("DiagnosticReport.reportedBy", "structure")]),
    (report(), [("DiagnosticReport.presentedForm", "required")]),
])
def test_faults_name_their_issue_code_and_expression(resource: dict[str, Any], expected: list[Any]) -> None:
    assert fault(resource) == expected


@pytest.mark.parametrize("body", [[report(conclusion="x")], "DiagnosticReport", 42, None])
def test_json_that_is_not_an_object_is_a_structure_fault(body: Any) -> None:
    assert fault(body) == [(None, "structure")]
