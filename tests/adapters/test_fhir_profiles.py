"""Our Observation profiles: valid R4 StructureDefinitions, named by every Observation we emit,
and each Observation conforms to its own profile (fhircraft builds a model from the profile).

fhircraft fills an absent element that has a fixed value or a pattern with that value, so
"absent" would pass as "present"; `profile_problems` therefore also requires the model to
dump back exactly the input. It cannot evaluate sdf-8a (its %resource is the element, not
the StructureDefinition): that one invariant runs through fhirpathpy instead.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from conftest_fhir import DEMO, REAL, analysis, comparable, result
from fhircraft.config import override_config
from fhircraft.exceptions import FhircraftWarning
from pydantic import ValidationError

from adapters.fhir import codes, observation_for, observations_for, profile_for, structure_definitions
from adapters.fhir.profiles import profile_ids, structure_definition, structure_definition_bundle
from adapters.hl7 import parse_oru
from models.types import ChexpertValue, EntitiesValue, RadiologyReport, RadsValue, TaskName, TextValue

CORE = "http://hl7.org/fhir/StructureDefinition/"
KINDS: list[Any] = [*TaskName, "critical-finding", "follow-up"]
Problems = Callable[..., list[str]]


# ---- validators ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def validate_sd(fhircraft_factory: Any, validate_r4: Any) -> Callable[[dict[str, Any]], None]:
    """validate_r4 for a StructureDefinition or a Bundle of them, sdf-8a evaluated by fhirpathpy."""
    base = fhircraft_factory.get_registered_definition(CORE + "StructureDefinition")
    sdf_8a = next(c.expression for e in base.snapshot.element for c in (e.constraint or []) if c.key == "sdf-8a")

    def check(resource: dict[str, Any]) -> None:
        with override_config(disabled_fhir_constraints=["sdf-8a"]):
            validate_r4(resource)
        sds = [e["resource"] for e in resource.get("entry", [])] or [resource]
        for sd in sds:
            assert fhirpathpy.evaluate(sd, f"differential.all({sdf_8a})", {"resource": sd}) == [True], sd["id"]
    return check


@pytest.fixture(scope="session")
def profile_models(fhircraft_factory: Any) -> dict[str, Any]:
    """One fhircraft model per published profile, built from its StructureDefinition (differential)."""
    return {sd["url"]: fhircraft_factory.build(sd) for sd in structure_definitions()}


@pytest.fixture(scope="session")
def profile_problems(profile_models: dict[str, Any]) -> Problems:
    """Why an Observation does not conform to a profile (its own by default); [] when it does."""

    def problems(obs: dict[str, Any], url: str | None = None) -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = profile_models[url or obs["meta"]["profile"][0]].model_validate(obs)
            except ValidationError as exc:
                return [str(exc)]
        found = [str(w.message) for w in caught if issubclass(w.category, FhircraftWarning)]
        again = json.loads(model.model_dump_json())
        changed = sorted(k for k in again.keys() | obs.keys() if comparable(again.get(k)) != comparable(obs.get(k)))
        if changed:
            found.append(f"fhircraft filled in or changed {changed}: absent where the profile requires them")
        return found
    return problems


# ---- the StructureDefinitions ---------------------------------------------------------------------


def test_every_profile_is_a_valid_r4_structure_definition(validate_sd: Any) -> None:
    sds = structure_definitions()
    assert len(sds) == len(KINDS) == len({sd["id"] for sd in sds})
    for sd in sds:
        validate_sd(sd)
        assert sd["url"] == f"{codes.RADLITE_SD}/{sd['id']}" and sd["url"].startswith("http://radlite.org/fhir/")
        assert (sd["fhirVersion"], sd["kind"], sd["type"], sd["derivation"], sd["status"]) == (
            "4.0.1", "resource", "Observation", "constraint", "active")
        assert sd["baseDefinition"] == CORE + "Observation"
        assert sd["differential"]["element"][0]["path"] == "Observation"
    validate_sd(structure_definition_bundle("http://example.org/fhir"))


def test_differential_follows_the_order_of_the_base_observation(fhircraft_factory: Any) -> None:
    """A snapshot generator walks the differential in the base's order."""
    base = fhircraft_factory.get_registered_definition(CORE + "Observation")
    top = [e.path for e in base.snapshot.element if e.path.count(".") == 1]
    for sd in structure_definitions():
        ranks = [top.index(".".join(e["path"].split(".")[:2])) for e in sd["differential"]["element"][1:]]
        assert ranks == sorted(ranks), sd["id"]


def test_every_kind_of_result_has_its_own_published_profile() -> None:
    urls = {sd["url"] for sd in structure_definitions()}
    assert {profile_for(kind) for kind in KINDS} == urls
    assert len(urls) == len(KINDS)


def test_tnm_profiles_follow_mcode_without_claiming_it() -> None:
    for profile_id, mcode, code in (("radlite-n-stage", "TNMRegionalNodesCategory", "399534004"),
                                    ("radlite-m-stage", "TNMDistantMetastasesCategory", "399387003")):
        sd = structure_definition(profile_id)
        assert mcode in sd["description"] and "not claim conformance" in sd["description"]
        assert sd["baseDefinition"] == CORE + "Observation"
        slices = {e.get("sliceName"): e for e in sd["differential"]["element"] if e["path"] == "Observation.code.coding"}
        assert slices["snomed"]["patternCoding"] == {"system": codes.SNOMED, "code": code}


def test_unknown_profile_id_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        structure_definition("radlite-unknown")
    assert set(profile_ids()) == {sd["id"] for sd in structure_definitions()}


# ---- Observations against their profiles -------------------------------------------------------------


def _hl7_reports(hl7_dir: Path, names: list[str]) -> list[RadiologyReport]:
    return [r for name in names for r in parse_oru((hl7_dir / name).read_bytes()).reports]


def test_every_dev_observation_names_one_published_profile_and_conforms(
    dev_fhir_reports: dict[str, RadiologyReport], hl7_dir: Path, load_expected: Any, profile_problems: Problems
) -> None:
    """Every dev report (FHIR and HL7 doors), every kind of result, demo and real models."""
    published = {sd["url"] for sd in structure_definitions()}
    reports = [*dev_fhir_reports.values(), *_hl7_reports(hl7_dir, sorted(load_expected(hl7_dir)))]
    seen: set[str] = set()
    for i, report in enumerate(reports):
        for obs in observations_for(analysis(report, DEMO if i % 2 else REAL)):
            [url] = obs["meta"]["profile"]
            assert url in published
            assert profile_problems(obs) == [], (report.report_id, url)
            seen.add(url)
    assert seen == published


def test_what_may_be_absent_conforms(dev_fhir_reports: dict[str, RadiologyReport], profile_problems: Problems) -> None:
    """No patient, no effective time, no applicable RADS, no labels, no entities: still conformant."""
    report = dev_fhir_reports["dev-002"].model_copy(update={"patient_id": None, "effective": None})
    for value in (RadsValue(applicable=False), ChexpertValue(labels={}), EntitiesValue()):
        task = {"rads": TaskName.rads_assignment, "chexpert": TaskName.abnormality_detection,
                "entities": TaskName.radiology_ner}[value.kind]
        obs = observation_for(result(task, value, report, REAL, []), report)
        assert "subject" not in obs and "effectiveDateTime" not in obs
        assert profile_problems(obs) == [], task


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda obs: obs.pop(key)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda obs: obs.update({key: value})


def _without_extension(url: str) -> Callable[[dict[str, Any]], None]:
    return lambda obs: obs.update(extension=[e for e in obs["extension"] if e["url"] != url])


BROKEN: list[tuple[str, str, Callable[[dict[str, Any]], None]]] = [
    ("radlite-impression", "status final", _set("status", "final")),
    ("radlite-impression", "no value", _drop("valueString")),
    ("radlite-impression", "value of another type", lambda o: o.update(valueCodeableConcept={"text": o.pop("valueString")})),
    ("radlite-impression", "no AIAST label", lambda o: o["meta"].update(security=[codes.SCT_ABSENT])),
    ("radlite-impression", "no confidence", _without_extension(codes.EXT_AI_CONFIDENCE)),
    # fhircraft's ofType(decimal) goes by value: a text "0.5" would pass; a word does not.
    ("radlite-impression", "confidence as a word", lambda o: o["extension"][0].update(
        valueString="high", valueDecimal=None) or o["extension"][0].pop("valueDecimal")),
    ("radlite-impression", "no category (fhircraft fills the pattern in)", _drop("category")),
    ("radlite-impression", "no identifier (fhircraft fills the pattern in)", _drop("identifier")),
    ("radlite-impression", "no issued", _drop("issued")),
    ("radlite-impression", "effective as a Period", lambda o: o.update(effectivePeriod={"start": o.pop("effectiveDateTime")})),
    ("radlite-impression", "a performer without a name", _set("performer", [{"reference": "Device/1"}])),
    ("radlite-rads-assessment", "no RADS task coding", lambda o: o["code"].update(coding=o["code"]["coding"][:1])),
    ("radlite-rads-assessment", "no category in our CodeSystem",
     lambda o: o["valueCodeableConcept"].update(coding=o["valueCodeableConcept"]["coding"][:1])),
    ("radlite-rads-assessment", "neither value nor dataAbsentReason", _drop("valueCodeableConcept")),
    ("radlite-n-stage", "AJCC 7th edition", _set("method", {"coding": [{"system": codes.SNOMED, "code": "443830009"}]})),
    ("radlite-n-stage", "no SNOMED CT cN category", lambda o: o["code"].update(coding=o["code"]["coding"][1:])),
    ("radlite-chexpert-labels", "a value beside the components", _set("valueString", "edema")),
    ("radlite-chexpert-labels", "a label without its state", lambda o: o["component"][0].pop("valueCodeableConcept")),
    ("radlite-temporal-change", "a change not coded 'change values'",
     lambda o: o["component"][0].update(code={"coding": [codes.SCT_ABSENT], "text": "x"})),
    ("radlite-entities", "an entity coded, not named",
     lambda o: o["component"][0].update(valueCodeableConcept={"text": o["component"][0].pop("valueString")})),
    ("radlite-critical-finding", "not flagged critical", _set("interpretation", [
        {"coding": [{"system": codes.OBS_INTERPRETATION, "code": "A"}]}])),
    ("radlite-critical-finding", "no interpretation (fhircraft fills the pattern in)", _drop("interpretation")),
    ("radlite-follow-up", "no LOINC 18783-1", lambda o: o["code"].update(coding=o["code"]["coding"][:1])),
]


@pytest.mark.parametrize(("profile_id", "fault", "breaks"), BROKEN, ids=[f"{p}: {f}" for p, f, _ in BROKEN])
def test_a_broken_observation_is_rejected(dev_fhir_reports: dict[str, RadiologyReport], profile_problems: Problems,
                                          profile_id: str, fault: str, breaks: Callable[[dict[str, Any]], None]) -> None:
    observations = observations_for(analysis(dev_fhir_reports["dev-002"], REAL))
    obs = copy.deepcopy(next(o for o in observations if o["meta"]["profile"] == [f"{codes.RADLITE_SD}/{profile_id}"]))
    assert profile_problems(obs) == []
    breaks(obs)
    assert profile_problems(obs) != [], fault


def test_an_observation_does_not_conform_to_another_kind(dev_fhir_reports: dict[str, RadiologyReport],
                                                         profile_problems: Problems) -> None:
    report = dev_fhir_reports["dev-002"]
    answer = observation_for(result(TaskName.radiology_qa, TextValue(text="Left."), report, REAL, []), report)
    assert profile_problems(answer) == []
    assert profile_problems(answer, profile_for(TaskName.impression_generation)) != []
