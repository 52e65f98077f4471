"""FHIR R4 DiagnosticReport -> RadiologyReport on the dev set, R5 shapes, bad input and fuzzed dicts."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import fhirkit
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.fhir import FhirInputError, operation_outcome, reports_from_resource
from adapters.fhir.inbound import canonical_hash, html_to_text


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def fhir_dir(dev_dir: Path) -> Path:
    return dev_dir / "fhir"


@pytest.fixture(scope="module")
def good(fhir_dir: Path) -> dict[str, tuple[dict[str, Any], str]]:
    """dev file name -> (DiagnosticReport, reports.jsonl id)."""
    index = _load(fhir_dir / "index.json")
    return {name: (_load(fhir_dir / name), rid) for name, rid in index.items()}


def _b64(text: str, encoding: str = "utf-8") -> str:
    return base64.b64encode(text.encode(encoding)).decode("ascii")


def test_dev_reports_read_exactly(good: dict[str, tuple[dict[str, Any], str]], dev_reports: dict[str, Any]) -> None:
    assert len(good) >= 10
    for name, (dr, rid) in good.items():
        [report] = reports_from_resource(dr)
        expected = dev_reports[rid]
        assert report.findings == expected["findings"], name
        assert report.impression == expected["impression"], name
        assert report.procedure == expected["procedure"], name
        assert report.modality == expected["modality"], name
        assert report.report_id == dr["id"]
        assert report.patient_id == dr["subject"]["reference"].removeprefix("Patient/")
        assert report.accession == dr["identifier"][0]["value"]
        assert report.status == dr["status"]
        assert report.effective is not None and report.effective.tzinfo is not None
        assert report.issued is not None
        assert report.source_format == "fhir"
        assert report.source_hash == canonical_hash(dr)


def test_every_text_source_gives_the_same_sections(good: dict[str, tuple[dict[str, Any], str]]) -> None:
    """presentedForm, result Observations and text.div of one report agree, each on its own."""
    dr = good["dr-04.json"][0]  # has all three
    [full] = reports_from_resource(dr)
    only_form = {k: v for k, v in dr.items() if k not in ("text", "result", "contained")}
    only_obs = {k: v for k, v in dr.items() if k not in ("text", "presentedForm")}
    only_div = {k: v for k, v in dr.items() if k not in ("presentedForm", "result", "contained")}
    for variant in (only_form, only_obs, only_div):
        [r] = reports_from_resource(variant)
        assert (r.findings, r.impression) == (full.findings, full.impression)


def test_cds_prefetch_bundles(dev_dir: Path, good: dict[str, tuple[dict[str, Any], str]]) -> None:
    index = _load(dev_dir / "cds" / "index.json")
    assert index
    by_id = {dr["id"]: dr for dr, _ in good.values()}
    for name, meta in index.items():
        bundle = _load(dev_dir / "cds" / name)["prefetch"]["reports"]
        reports = reports_from_resource(bundle)
        assert len(reports) == len(meta["report_ids"]), name
        for r in reports:
            assert r.patient_id == meta["patient_id"]
            assert r.source_hash == canonical_hash(by_id[r.report_id])


def test_bundle_skips_other_resources_and_resolves_referenced_observations() -> None:
    dr = {
        "resourceType": "DiagnosticReport", "id": "r1", "status": "preliminary",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "ACSN"}]}, "value": "ACC-9"},
                       {"system": "urn:other", "value": "X"}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "36643-5", "display": "XR Chest 2V"}]},
        "subject": {"reference": "urn:uuid:0b1c6c1e-0000-4000-8000-000000000001"},
        "result": [{"reference": "Observation/f1"}, {"reference": "urn:uuid:0b1c6c1e-0000-4000-8000-000000000002"}],
    }
    findings = {"resourceType": "Observation", "id": "f1", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "18782-3"}]},
                "valueString": "Lungs are clear.\nNo effusion."}
    impression = {"resourceType": "Observation", "status": "final",
                  "code": {"coding": [{"system": "http://loinc.org", "code": "19005-8"}]},
                  "valueString": "Normal chest."}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:0b1c6c1e-0000-4000-8000-000000000001",
         "resource": {"resourceType": "Patient", "id": "p-7"}},
        {"fullUrl": "https://x.example/Observation/f1", "resource": findings},
        {"fullUrl": "urn:uuid:0b1c6c1e-0000-4000-8000-000000000002", "resource": impression},
        {"resource": {"resourceType": "OperationOutcome", "issue": []}},
        {"fullUrl": "https://x.example/DiagnosticReport/r1", "resource": dr},
    ]}
    [r] = reports_from_resource(bundle)
    assert (r.findings, r.impression) == ("Lungs are clear.\nNo effusion.", "Normal chest.")
    assert r.accession == "ACC-9" and r.patient_id == "p-7" and r.status == "preliminary"
    assert r.procedure == "XR Chest 2V" and r.modality == "DX"
    assert reports_from_resource({"resourceType": "Bundle", "type": "searchset"}) == []


def test_r5_shapes_are_tolerated(good: dict[str, tuple[dict[str, Any], str]]) -> None:
    dr = copy.deepcopy(good["dr-01.json"][0])
    dr["study"] = [{"reference": "ImagingStudy/1"}]
    dr["note"] = [{"text": "R5 note"}]
    dr["status"] = "modified"
    dr["presentedForm"][0]["pages"] = 1
    assert fhirkit.validate(dr), "the variant must really be outside R4"
    [r] = reports_from_resource(dr)
    assert r.status == "amended" and r.findings and r.impression


def test_html_and_charset_presented_forms() -> None:
    text = "EXAM: CT HEAD\n\nFINDINGS:\nNo hémorrhage.\n\nIMPRESSION:\nNormal – unremarkable."
    html = ("<html><body><h2>CT Head</h2><h3>Findings</h3><p>No h&eacute;morrhage.</p>"
            "<h3>Impression</h3><p>Normal &ndash; unremarkable.</p></body></html>")
    base = {"resourceType": "DiagnosticReport", "status": "final", "id": "h1", "code": {"text": "CT HEAD"}}
    latin = dict(base, presentedForm=[{"contentType": "text/plain; charset=ISO-8859-1",
                                       "data": _b64(text.replace("–", "-"), "latin-1")}])
    [r] = reports_from_resource(latin)
    assert r.findings == "No hémorrhage." and r.impression == "Normal - unremarkable." and r.modality == "CT"
    as_html = dict(base, presentedForm=[{"contentType": "text/html", "data": _b64(html)}])
    [h] = reports_from_resource(as_html)
    assert h.findings == "No hémorrhage." and h.impression == "Normal – unremarkable."
    # text/plain wins over html whatever the order
    both = dict(base, presentedForm=[as_html["presentedForm"][0], {"contentType": "text/plain", "data": _b64(text)}])
    assert reports_from_resource(both)[0].impression == "Normal – unremarkable."


def test_html_to_text_lines() -> None:
    div = ('<div xmlns="http://www.w3.org/1999/xhtml"><h3>XR CHEST</h3><p><b>FINDINGS:</b></p>'
           "<p>A.<br/>B  and\n C.</p><ul><li>one</li><li>two</li></ul></div>")
    assert html_to_text(div) == "FINDINGS:\nA.\nB and C.\none\ntwo"


def test_conclusion_alone_is_read_and_no_text_is_refused() -> None:
    base = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "US ABDOMEN"},
            "identifier": [{"system": "urn:x:accession", "value": "A1"}]}
    [r] = reports_from_resource(dict(base, conclusion="Gallstones."))
    assert r.impression == "Gallstones." and r.report_id == "A1" and r.accession == "A1" and r.modality == "US"
    assert r.findings is None
    unheaded = dict(base, conclusion="Gallstones.", presentedForm=[
        {"contentType": "text/plain", "data": _b64("Liver normal.\nGallbladder with stones.\nGallstones.\n")}])
    [u] = reports_from_resource(unheaded)
    assert (u.findings, u.impression) == ("Liver normal.\nGallbladder with stones.", "Gallstones.")
    with pytest.raises(FhirInputError) as err:
        reports_from_resource(base)
    assert err.value.issues[0].code == "required"
    url_only = dict(base, presentedForm=[{"contentType": "application/pdf", "url": "https://x.example/r.pdf"}])
    with pytest.raises(FhirInputError) as err:
        reports_from_resource(url_only)
    assert err.value.issues[0].code == "not-supported"


@pytest.mark.parametrize(("name", "expression", "code"), [
    ("wrong-resource-type.json", "resourceType", "not-supported"),
    ("missing-status.json", "DiagnosticReport.status", "required"),
    ("bad-base64.json", "DiagnosticReport.presentedForm[0].data", "value"),
])
def test_bad_dev_files_name_their_fault(fhir_dir: Path, name: str, expression: str, code: str) -> None:
    expected = _load(fhir_dir / "bad" / "expected.json")
    assert name in expected
    with pytest.raises(FhirInputError) as err:
        reports_from_resource(_load(fhir_dir / "bad" / name))
    issues = err.value.issues
    assert [(i.expression, i.code) for i in issues] == [(expression, code)]
    outcome = err.value.operation_outcome()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [expression]
    assert fhirkit.validate(outcome) == []


def test_bad_base64_never_decoded_even_when_length_fits() -> None:
    """The library decoder drops stray characters; a multiple-of-4 garbage string must still fail."""
    dr = {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "CT"}, "conclusion": "x",
          "presentedForm": [{"contentType": "text/plain", "data": "RklO*RElO"}]}
    with pytest.raises(FhirInputError) as err:
        reports_from_resource(dr)
    assert err.value.issues[0].expression == "DiagnosticReport.presentedForm[0].data"


def test_errors_in_bundle_entries_are_located_and_bindings_checked() -> None:
    bad = {"resourceType": "DiagnosticReport", "status": "done", "code": {"text": "CT"}, "conclusion": "x"}
    with pytest.raises(FhirInputError) as err:
        reports_from_resource({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": bad}]})
    assert err.value.issues[0].expression == "Bundle.entry[0].resource.status"
    with pytest.raises(FhirInputError):
        reports_from_resource({"resourceType": "Bundle", "entry": []})


def test_operation_outcome_from_text_is_valid_r4() -> None:
    outcome = operation_outcome("Unknown task <x>", code="value")
    assert outcome["issue"] == [{"severity": "error", "code": "value", "diagnostics": "Unknown task <x>"}]
    assert "&lt;x&gt;" in outcome["text"]["div"]
    assert fhirkit.validate(outcome) == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
_DR_KEYS = ["resourceType", "id", "status", "code", "subject", "identifier", "category", "presentedForm", "text",
            "conclusion", "result", "contained", "effectiveDateTime", "effectivePeriod", "issued", "entry", "type"]


def _only_input_errors(resource: Any) -> None:
    try:
        out = reports_from_resource(resource)
    except FhirInputError as exc:
        assert exc.issues and exc.operation_outcome()["issue"]
    else:
        assert isinstance(out, list)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_DR_KEYS), _json, max_size=8))
def test_random_dicts_raise_only_fhir_input_error(resource: dict[str, Any]) -> None:
    _only_input_errors(resource)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["dr-01.json", "dr-04.json", "dr-07.json"]),
       st.lists(st.tuples(st.sampled_from(_DR_KEYS + ["presentedForm.0", "contained.0", "result.0"]), _json),
                min_size=1, max_size=3),
       st.booleans())
def test_mutated_dev_reports_raise_only_fhir_input_error(name: str, edits: list[tuple[str, Any]], wrap: bool) -> None:
    dr = copy.deepcopy(_DEV_GOOD[name])
    for key, value in edits:
        head, _, idx = key.partition(".")
        if idx and isinstance(dr.get(head), list) and dr[head]:
            dr[head][0] = value
        else:
            dr[head] = value
    _only_input_errors({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": dr}]} if wrap else dr)


_DEV_GOOD: dict[str, dict[str, Any]] = {}


@pytest.fixture(autouse=True, scope="module")
def _dev_good(good: dict[str, tuple[dict[str, Any], str]]) -> None:
    """Hypothesis tests cannot take function fixtures; they read the dev reports from here."""
    _DEV_GOOD.update({name: dr for name, (dr, _) in good.items()})


def test_looks_binary_tells_documents_from_text() -> None:
    from adapters.fhir.inbound import looks_binary

    assert looks_binary(b"%PDF-1.7\n...")  # a signature
    assert looks_binary(b"IHDR\x00\x00\x01\x00 not text")  # NUL inside
    assert not looks_binary(b"FINDINGS: Lungs clear.\x00\x00")  # a C string's terminating NULs
    assert not looks_binary("FINDINGS: clear.".encode("utf-16"))  # UTF-16 has NULs, and a BOM
    assert not looks_binary("FINDINGS: clear.".encode("utf-16-le"), "text/plain; charset=UTF-16LE")
