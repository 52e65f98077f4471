"""Analysis -> Observations, Devices, Provenance, transaction Bundle; each validated offline as FHIR R4.

Three independent checks on every resource we emit: fhircraft (R4 StructureDefinitions
with FHIRPath invariants, internet off), fhirkit-rs (R4 4.0.1 structure and primitives)
and a round trip through fhir.resources R4B.
"""

from __future__ import annotations

import json
from typing import Any

import fhirkit
import fhirpathpy
import pytest
from conftest_fhir import DEMO, REAL, RULES
from conftest_fhir import analysis as _analysis
from conftest_fhir import result as _result
from fhir.resources.R4B import get_fhir_model_class

from adapters.fhir import (
    codes,
    device_for,
    merge_transactions,
    observation_for,
    observations_for,
    operation_outcome,
    provenance_for,
    transaction_bundle,
)
from models.catalog import LOCAL_CODE_SYSTEM
from models.types import (
    DEMO_NOTICE,
    Analysis,
    ChexpertValue,
    CriticalFinding,
    Disagreement,
    NliValue,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TemporalChange,
    TemporalValue,
)

# ---- analyses built on dev reports (conftest_fhir); validators in conftest.py -----------------


@pytest.fixture(scope="module")
def report(dev_fhir_reports: dict[str, RadiologyReport]) -> RadiologyReport:
    return dev_fhir_reports["dev-002"]


# ---- tests ---------------------------------------------------------------------------


def test_every_observation_validates_as_r4(report: RadiologyReport, validate_r4: Any) -> None:
    observations = observations_for(_analysis(report, REAL))
    assert len(observations) == 9 + 1 + 2
    for obs in observations:
        validate_r4(obs)
        assert obs["status"] == "preliminary"
        assert obs["meta"]["security"] == [codes.AIAST]
        assert obs["subject"] == {"reference": f"Patient/{report.patient_id}"}
        assert obs["effectiveDateTime"] == report.effective.isoformat()
        assert obs["issued"].endswith("Z")
        assert "tag" not in obs["meta"]
        assert DEMO_NOTICE not in json.dumps(obs)


def test_dev_reports_all_produce_valid_bundles(dev_fhir_reports: dict[str, RadiologyReport], validate_r4: Any) -> None:
    """Every dev report; the slow invariant check runs in full on three of them (same shapes elsewhere)."""
    for i, (rid, report) in enumerate(sorted(dev_fhir_reports.items())):
        bundle = transaction_bundle(_analysis(report, DEMO if i % 2 else REAL))
        validate_r4(bundle)
        for entry in bundle["entry"]:
            if i < 3:
                validate_r4(entry["resource"])
            else:
                assert fhirkit.validate(entry["resource"]) == [], rid
                get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


def test_validators_catch_invariant_and_structure_faults(report: RadiologyReport, validate_r4: Any) -> None:
    """The checks above can fail: obs-6 (value with dataAbsentReason) and an R5-only element."""
    obs = observation_for(_result(TaskName.radiology_nli, NliValue(label="neutral"), report, REAL, []), report)
    with pytest.raises(Exception, match="obs-6"):
        validate_r4(dict(obs, dataAbsentReason={"text": "unknown"}))
    with pytest.raises(AssertionError):
        validate_r4(dict(obs, triggeredBy=[{"type": "reflex"}]))


def test_demo_marks_every_observation(report: RadiologyReport) -> None:
    analysis = _analysis(report, DEMO)
    observations = observations_for(analysis)
    for obs in observations:
        assert {"system": codes.RADLITE_CS, "code": "demo-model", "display": DEMO_NOTICE} in obs["meta"]["tag"]
        assert any(DEMO_NOTICE in n["text"] for n in obs["note"])
        assert DEMO_NOTICE in obs["text"]["div"]
    device = device_for(DEMO)
    assert device["meta"]["tag"][0]["display"] == DEMO_NOTICE
    # a single result from a demo model marks itself even outside an analysis
    assert observation_for(analysis.results[0], report)["meta"]["tag"][0]["code"] == "demo-model"


def _by_task(observations: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(o for o in observations if any(c["code"] == code for c in o["code"].get("coding", [])))


def test_coding_uses_only_verified_standard_codes(report: RadiologyReport) -> None:
    obs = observations_for(_analysis(report, REAL))
    rads = _by_task(obs, "RDE1586")
    assert rads["valueCodeableConcept"]["coding"][0] == {"system": codes.SNOMED, "code": "397138000",
                                                         "display": codes.BIRADS_SNOMED["0"][1]}
    assert rads["valueCodeableConcept"]["text"] == "BI-RADS 0"
    n = _by_task(obs, "399534004")
    assert {c["code"] for c in n["code"]["coding"]} >= {"399534004", "21906-3"}
    assert n["method"]["coding"][0]["code"] == "897275008"
    # cN1 has no verified SNOMED code: AJCC text code only
    assert [c["system"] for c in n["valueCodeableConcept"]["coding"]] == [codes.AJCC]
    m = _by_task(obs, "399387003")
    assert m["valueCodeableConcept"]["coding"][0] == {"system": codes.SNOMED, "code": "1229901006",
                                                      "display": codes.TNM_SNOMED["cM0"][1]}
    chex = _by_task(obs, "abnormality_detection")
    assert [c["code"]["text"] for c in chex["component"]] == ["edema", "pleural effusion", "no finding"]
    assert "value" not in json.dumps(list(chex.keys()))
    temporal = _by_task(obs, "temporal_comparison")
    assert temporal["component"][0]["code"]["coding"] == [codes.SCT_CHANGE_VALUES]
    assert temporal["component"][1]["valueCodeableConcept"]["coding"][0] == codes.SCT_STABLE
    impression = _by_task(obs, "19005-8")
    assert impression["valueString"] == report.impression.splitlines()[0]
    critical = _by_task(obs, "critical-finding")
    assert critical["interpretation"][0]["coding"][0]["code"] == "AA"
    follow = _by_task(obs, "follow-up-recommendation")
    assert follow["component"][1]["valueQuantity"] == {"value": 6, "unit": "months", "system": codes.UCUM,
                                                       "code": "mo"}
    assert codes.RADLITE_CS == LOCAL_CODE_SYSTEM


@pytest.mark.parametrize(("system", "category", "code"), [
    ("Lung-RADS", "4B", "RID50134"), ("TI-RADS", "TR4", "RID50503"), ("LI-RADS", "LR-5", "rads_assignment"),
    ("BI-RADS", "4A", "RDE1586"),
])
def test_rads_systems(report: RadiologyReport, system: str, category: str, code: str, validate_r4: Any) -> None:
    result = _result(TaskName.rads_assignment, RadsValue(system=system, category=category), report, REAL, [])
    obs = observation_for(result, report)
    validate_r4(obs)
    assert obs["code"]["coding"][0]["code"] == code
    values = obs["valueCodeableConcept"]["coding"]
    assert all(c["system"] != codes.SNOMED for c in values), "no SNOMED code for these categories"
    assert values[-1]["system"] == codes.RADLITE_CS and values[-1]["code"].endswith(category)


def test_not_applicable_rads_is_absent_value(report: RadiologyReport, validate_r4: Any) -> None:
    result = _result(TaskName.rads_assignment, RadsValue(applicable=False), report, REAL, [])
    obs = observation_for(result, report)
    validate_r4(obs)
    assert "valueCodeableConcept" not in obs and obs["dataAbsentReason"]["coding"][0]["code"] == "not-applicable"


def test_evidence_confidence_and_disagreement(report: RadiologyReport) -> None:
    analysis = _analysis(report, REAL)
    rads = observation_for(analysis.results[0], report)
    conf = next(e for e in rads["extension"] if e["url"] == codes.EXT_AI_CONFIDENCE)
    assert conf["valueDecimal"] == 0.87
    deriv = [e for e in rads["extension"] if e["url"] == codes.EXT_DERIVATION_REFERENCE]
    ev = analysis.results[0].evidence[0]
    parts = {x["url"]: x for x in deriv[0]["extension"]}
    assert parts["reference"]["valueReference"]["reference"] == f"DiagnosticReport/{report.report_id}"
    start, length = parts["offset"]["valueInteger"], parts["length"]["valueInteger"]
    assert report.text()[start:start + length] == ev.sentence
    notes = [n["text"] for n in rads["note"]]
    assert any(f'"{ev.sentence}"' in n for n in notes)
    assert any("BI-RADS 2" in n and "BI-RADS 0" in n and "disagree" in n for n in notes)


def test_provenance_and_device(report: RadiologyReport, validate_r4: Any) -> None:
    analysis = _analysis(report, DEMO)
    prov = provenance_for(analysis, ["Observation/1", "Observation/2"])
    validate_r4(prov)
    assert prov["target"] == [{"reference": "Observation/1"}, {"reference": "Observation/2"}]
    assert prov["entity"] == [{"role": "source", "what": {"reference": f"DiagnosticReport/{report.report_id}",
                                                         "type": "DiagnosticReport"}}]
    assert prov["reason"][0]["coding"] == [codes.AIAST]
    assert prov["activity"]["coding"][0]["code"] == "CREATE"
    # the demo model and the rules engine (it stated the facts)
    whos = [a["who"]["identifier"]["value"] for a in prov["agent"]]
    assert whos == [DEMO.sha256, "rules"]
    device = device_for(DEMO)
    validate_r4(device)
    assert {"system": codes.MODEL_SHA256_SYSTEM, "value": DEMO.sha256} in device["identifier"]
    assert device["type"]["coding"][0]["code"] == "Artificial-Intelligence"
    assert device["version"] == [{"value": "Q4_1"}]
    validate_r4(device_for(RULES))


def test_hl7_report_is_referenced_by_accession(report: RadiologyReport, validate_r4: Any) -> None:
    hl7 = report.model_copy(update={"source_format": "hl7v2", "report_id": report.accession})
    prov = provenance_for(_analysis(hl7, REAL), ["Observation/1"])
    validate_r4(prov)
    what = prov["entity"][0]["what"]
    assert what["identifier"]["value"] == report.accession and "reference" not in what
    # the same report by either door keys the same stored results
    assert observations_for(_analysis(hl7, REAL))[0]["identifier"] == observations_for(
        _analysis(report, REAL))[0]["identifier"]


def test_transaction_bundle_shape_and_idempotence(report: RadiologyReport, validate_r4: Any) -> None:
    analysis = _analysis(report, DEMO)
    first, second = transaction_bundle(analysis), transaction_bundle(analysis)
    validate_r4(first)
    kinds = [e["resource"]["resourceType"] for e in first["entry"]]
    assert kinds == ["Device", "Device"] + ["Observation"] * 12 + ["Provenance"]
    for e in first["entry"]:
        assert e["request"]["method"] in ("POST", "PUT"), "bdl-3: every transaction entry has a request"
        assert e["fullUrl"].startswith("urn:uuid:")
        if e["request"]["method"] == "POST":
            ident = e["resource"]["identifier"][-1 if e["resource"]["resourceType"] == "Device" else 0]
            assert e["request"]["ifNoneExist"] == f"identifier={ident['system']}|{ident['value']}"
    # bdl-3 and bdl-7 evaluated on their own (fhirkit does not check bdl-3)
    assert fhirpathpy.evaluate(first, "entry.all(request.exists())") == [True]
    assert fhirpathpy.evaluate(first, "entry.fullUrl.isDistinct()") == [True]
    assert len({e["fullUrl"] for e in first["entry"]}) == len(first["entry"])
    # sending it twice asks for the same resources: same fullUrls, identifiers, conditions and Provenance id
    strip = [(e["fullUrl"], e["request"]) for e in first["entry"]]
    assert strip == [(e["fullUrl"], e["request"]) for e in second["entry"]]
    prov = first["entry"][-1]
    assert prov["request"] == {"method": "PUT", "url": f"Provenance/{prov['resource']['id']}"}
    obs_urls = [e["fullUrl"] for e in first["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert [t["reference"] for t in prov["resource"]["target"]] == obs_urls
    device_urls = {e["fullUrl"] for e in first["entry"][:2]}
    for e in first["entry"][2:-1]:
        alt = e["resource"]["performer"][0]["extension"][0]
        assert alt["url"] == codes.EXT_ALTERNATE_REFERENCE and alt["valueReference"]["reference"] in device_urls
    assert {a["who"]["reference"] for a in prov["resource"]["agent"]} == device_urls


def test_merge_keeps_one_device(dev_fhir_reports: dict[str, RadiologyReport], validate_r4: Any) -> None:
    bundles = [transaction_bundle(_analysis(r, REAL)) for r in list(dev_fhir_reports.values())[:2]]
    merged = merge_transactions(bundles)
    validate_r4(merged)
    kinds = [e["resource"]["resourceType"] for e in merged["entry"]]
    assert kinds.count("Device") == 2 and kinds.count("Provenance") == 2 and kinds[-1] == "Provenance"


def test_operation_outcome_validates(validate_r4: Any) -> None:
    validate_r4(operation_outcome("Body is not JSON", code="structure"))


def test_overruled_demo_answer_still_marks_demo(report: RadiologyReport, validate_r4: Any) -> None:
    """The rules' stated value won, but a demo model was consulted: demo marking and a demo agent."""
    result = _result(TaskName.rads_assignment, RadsValue(system="BI-RADS", category="0"), report, RULES, ["BI-RADS"],
                     decided_by="rules", disagreement=Disagreement(model_value="BI-RADS 2", rules_value="BI-RADS 0",
                                                                   model=DEMO, note="stated in the report"))
    obs = observation_for(result, report)
    assert obs["meta"]["tag"][0]["code"] == "demo-model"
    bundle = transaction_bundle(Analysis(report=report, manifest_version="t", results=[result]))
    validate_r4(bundle)
    devices = [e["resource"]["identifier"][0]["value"] for e in bundle["entry"]
               if e["resource"]["resourceType"] == "Device"]
    assert devices == ["rules", DEMO.model_id]


def test_blank_temporal_finding_is_left_out(report: RadiologyReport, validate_r4: Any) -> None:
    """A blank finding (U+0085 is white space too) names nothing: no component, still valid R4."""
    value = TemporalValue(changes=[TemporalChange(finding="\x85 ", change="new"),
                                   TemporalChange(finding="  RUL\u2028nodule ", change="worsened")])
    obs = observation_for(_result(TaskName.temporal_comparison, value, report, REAL, []), report)
    validate_r4(obs)
    assert [c["code"]["text"] for c in obs["component"]] == ["RUL nodule"]


def _local_codes(resource: Any) -> set[str]:
    """Every code of our CodeSystem used anywhere in a resource."""
    if isinstance(resource, dict):
        found = {resource["code"]} if resource.get("system") == codes.RADLITE_CS and "code" in resource else set()
        return found.union(*(_local_codes(v) for v in resource.values()))
    if isinstance(resource, list):
        return set().union(*(_local_codes(v) for v in resource))
    return set()


def test_code_system_resolves_every_local_code_we_emit(report: RadiologyReport, validate_r4: Any) -> None:
    """A FHIR server can resolve our codes: the CodeSystem is valid R4 and holds each one we send."""
    from adapters.fhir import code_system
    from models.catalog import CATALOG
    from models.rules.critical import VOCABULARY
    from models.types import CHEXPERT_LABELS, RADS_MODIFIERS, RadsValue

    system = code_system()
    validate_r4(system)
    defined = {c["code"] for c in system["concept"]}
    assert system["url"] == codes.RADLITE_CS and system["count"] == len(defined) == len(system["concept"])
    spec = CATALOG[TaskName.rads_assignment]
    analyses = [_analysis(report, DEMO)]
    for label in spec.labels or ():
        analyses.append(Analysis(report=report, manifest_version="t", results=[
            _result(TaskName.rads_assignment, spec.parse(label), report, DEMO, [])]))
    modified = [RadsValue(system=system, category="3", modifiers=(m,))
                for system, defined in RADS_MODIFIERS.items() for m in defined]
    modified.append(RadsValue(system="NI-RADS", category="2a", modifiers=("primary 2a", "neck 1")))
    for value in modified:
        analyses.append(Analysis(report=report, manifest_version="t", results=[
            _result(TaskName.rads_assignment, value, report, DEMO, [])]))
    analyses.append(Analysis(report=report, manifest_version="t", results=[
        _result(TaskName.abnormality_detection, ChexpertValue(labels=dict.fromkeys(CHEXPERT_LABELS, "uncertain")),
                report, DEMO, [])],
        facts=ReportFacts(critical=[CriticalFinding(term=t, evidence=[]) for t in VOCABULARY])))
    used = set().union(*(_local_codes(transaction_bundle(a)) for a in analyses))
    assert used and used <= defined, sorted(used - defined)


def test_a_results_note_reaches_the_observation(report: RadiologyReport, validate_r4: Any) -> None:
    """What grounding left out (or why the model did not run) is told to the reader of the Observation."""
    note = "Grounding: finding or change not found in the report, left out: pericardial effusion (new)"
    value = TemporalValue(changes=[TemporalChange(finding="RUL nodule", change="worsened")])
    obs = observation_for(_result(TaskName.temporal_comparison, value, report, REAL, [], note=note), report)
    validate_r4(obs)
    assert note in [n["text"] for n in obs["note"]]
