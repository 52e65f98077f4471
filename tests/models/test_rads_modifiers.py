"""RADS modifiers end to end: the Lung-RADS S modifier, CAD-RADS 2.0 modifiers and NI-RADS per-site
categories are read by the rules and the parser, kept on RadsValue.modifiers (never in the category),
reconciled like categories, and reach the card, the FHIR Observation and the ORU^R01.

Every Observation is checked the way tests/adapters/test_fhir_profiles.py checks them: fhirkit (R4
structure), fhircraft (R4 core with invariants, and a model built from our own RADS profile) and
fhir.resources R4B, each of which must give back exactly what it was given.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import fhirkit
import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from adapters.cds.cards import report_cards
from adapters.cds.models import Card
from adapters.fhir import codes, observation_for
from adapters.fhir.codes import RADS_MODIFIER_CODE
from adapters.fhir.profiles import structure_definition
from adapters.hl7.oru_out import analysis_to_oru
from models.catalog import CATALOG, value_text
from models.ensemble import _reconcile
from models.evaluation import rads_outcome
from models.parsers import ParseError, parse_rads
from models.rules import RulesEngine
from models.rules.engine import RULES_IDENTITY
from models.text import evidence_for
from models.types import Analysis, ModelIdentity, RadiologyReport, RadsValue, TaskName, TaskResult

WHEN = datetime(2025, 3, 14, 8, 15, tzinfo=UTC)
MODEL = ModelIdentity(model_id="radlite-qwen2.5-3b", sha256="ab" * 32, backend="http", role="generation",
                      version="1.0")
RULES = RulesEngine()
RADS_PROFILE = "radlite-rads-assessment"


def report(procedure: str, impression: str, findings: str = "See impression.", modality: str = "CT") -> RadiologyReport:
    return RadiologyReport(report_id="mod-1", patient_id="pat-mod", accession="ACC-MOD-1", modality=modality,
                           procedure=procedure, effective=WHEN, issued=WHEN, source_format="fhir",
                           findings=findings, impression=impression)


def stated(procedure: str, impression: str) -> TaskResult:
    found = RULES.rads(report(procedure, impression))
    assert found is not None, impression
    return found


# ---- rules: stated categories keep their modifiers ------------------------------------------------


@pytest.mark.parametrize(("procedure", "impression", "category", "modifiers"), [
    ("CT LUNG CANCER SCREENING", "Lung-RADS 2S. Moderate coronary artery calcification.", "2", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 4B S. Recommend PET/CT.", "4B", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 4B/S. Recommend PET/CT.", "4B", ("S",)),
    ("LDCT LUNG SCREENING", "Lung RADS 4X/S.", "4X", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 4BS.", "4B", ("S",)),
    ("LDCT LUNG SCREENING", "Category 3S. New 5 mm solid nodule.", "3", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 3 with S modifier for a 5 cm aortic aneurysm.", "3", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS category 4A, S modifier: thyroid nodule.", "4A", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 2.", "2", ()),
    ("LDCT LUNG SCREENING", "Lung-RADS 2 s/p right lower lobectomy.", "2", ()),
    ("LDCT LUNG SCREENING", "Category 4B/S. Aortic aneurysm.", "4B", ("S",)),
    ("LDCT LUNG SCREENING", "Category 3/P2.", "3", ()),
    ("CTA CORONARY ARTERIES", "CAD-RADS 4A/P2/HRP: severe proximal LAD stenosis.", "4A", ("P2", "HRP")),
    ("CTA CORONARY ARTERIES", "CAD-RADS 4A/S/G. Severe (70-99%) stenosis of the proximal LAD.", "4A", ("S", "G")),
    ("CCTA", "CAD-RADS 2.0: 4B/P3/HRP.", "4B", ("P3", "HRP")),
    ("CCTA", "CAD-RADS 3 / P2 / I+.", "3", ("P2", "I+")),
    ("CCTA", "CAD-RADS 3/I+/-.", "3", ("I±",)),
    ("CCTA", "CAD-RADS 3/I-.", "3", ("I-",)),
    ("CCTA", "CAD-RADS 2/V.", "2", ("HRP",)),
    ("CCTA", "CAD-RADS 1/P1/E.", "1", ("P1", "E")),
    ("CCTA", "CAD-RADS N. Motion artifact.", "N", ()),
    ("CCTA", "Category 4A/P2.", "4A", ("P2",)),
    ("CT NECK SOFT TISSUE", "NI-RADS primary 2a, neck 1.", "2a", ("primary 2a", "neck 1")),
    ("PET/CT HEAD AND NECK", "NI-RADS: Primary 2b; Neck 1.", "2b", ("primary 2b", "neck 1")),
    ("CT NECK SOFT TISSUE", "NI-RADS primary 1, neck 3.", "3", ("primary 1", "neck 3")),
    ("CT NECK SOFT TISSUE", "NI-RADS neck 2.", "2", ("neck 2",)),
    ("CT NECK SOFT TISSUE", "NI-RADS 2a.", "2a", ()),
])
def test_rules_keep_the_category_and_read_the_modifiers(procedure: str, impression: str, category: str,
                                                        modifiers: tuple[str, ...]) -> None:
    value = stated(procedure, impression).value
    assert isinstance(value, RadsValue)
    assert (value.category, value.modifiers) == (category, modifiers)
    assert value.label == f"{value.system} {category}"  # the label the evaluation scores is unchanged


def test_a_glued_s_is_not_a_category_outside_lung_rads() -> None:
    """'Category 3S' was never read as BI-RADS 3; it still is not."""
    assert RULES.rads(report("MAMMOGRAM SCREENING BILATERAL", "Category 3S.", modality="MG")) is None


def test_a_prior_categorys_modifier_does_not_reach_the_current_one() -> None:
    value = stated("LDCT LUNG SCREENING", "Lung-RADS 3. Previously Lung-RADS 2S.").value
    assert value.category == "3" and value.modifiers == ()  # type: ignore[union-attr]


# ---- parser: accepted when printed, never required --------------------------------------------------


@pytest.mark.parametrize(("printed", "category", "modifiers"), [
    ("Lung-RADS 4B", "4B", ()),
    ("Lung-RADS 4B S", "4B", ("S",)),
    ("Lung-RADS 2S", "2", ("S",)),
    ("Lung-RADS 4X/S", "4X", ("S",)),
    ("lung-rads 3s.", "3", ("S",)),
    ("<think>\n\n</think>\n\nLung-RADS 0 S", "0", ("S",)),
    ("CAD-RADS 4A", "4A", ()),
    ("CAD-RADS 4A/P2", "4A", ("P2",)),
    ("CAD-RADS 3/P2/HRP/I+/-", "3", ("P2", "HRP", "I±")),
    ("CAD-RADS 4B/S/G", "4B", ("S", "G")),
    ("CAD-RADS 2/XYZ", "2", ()),
    ("CAD-RADS 1/HRP/P1", "1", ("P1", "HRP")),
])
def test_parser_accepts_a_printed_modifier(printed: str, category: str, modifiers: tuple[str, ...]) -> None:
    value = parse_rads(printed)
    assert (value.category, value.modifiers) == (category, modifiers)


@pytest.mark.parametrize("printed", ["Lung-RADS S", "Lung-RADS 5S", "CAD-RADS /P2"])
def test_parser_still_refuses_what_is_not_a_category(printed: str) -> None:
    with pytest.raises(ParseError):
        parse_rads(printed)


def test_every_scored_label_parses_without_modifiers() -> None:
    """The label scorer's forms are untouched: none of them carries a modifier."""
    spec = CATALOG[TaskName.rads_assignment]
    assert all(not getattr(spec.parse(label), "modifiers", ()) for label in spec.labels or ())


# ---- the typed value -------------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [
    {"system": "Lung-RADS", "category": "2", "modifiers": ("P2",)},
    {"system": "BI-RADS", "category": "4", "modifiers": ("S",)},
    {"system": "CAD-RADS", "category": "3", "modifiers": ("P2", "P3")},
    {"system": "CAD-RADS", "category": "3", "modifiers": ("I+", "I-")},
    {"system": "CAD-RADS", "category": "3", "modifiers": ("N",)},
    {"system": "NI-RADS", "category": "2", "modifiers": ("neck 2a",)},
    {"applicable": False, "modifiers": ("S",)},
])
def test_value_rejects_modifiers_the_system_does_not_define(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RadsValue(**fields)


def test_value_normalises_orders_and_round_trips() -> None:
    value = RadsValue(system="CAD-RADS", category="4A", modifiers=("hrp", "/p2", "I+/-", "P2"))
    assert value.modifiers == ("P2", "HRP", "I±")
    assert value.full_label == "CAD-RADS 4A/P2/HRP/I±" and value.label == "CAD-RADS 4A"
    assert RadsValue.model_validate_json(value.model_dump_json()) == value
    assert RadsValue.model_validate({"system": "Lung-RADS", "category": "2"}).modifiers == ()  # stored before
    assert RadsValue(system="Lung-RADS", category="4B", modifiers=("s",)).full_label == "Lung-RADS 4B S"
    assert value_text(RadsValue(system="Lung-RADS", category="2", modifiers=("S",))) == "Lung-RADS 2"


def test_evaluation_compares_categories_only() -> None:
    gold = RadsValue(system="Lung-RADS", category="2")
    assert rads_outcome(RadsValue(system="Lung-RADS", category="2", modifiers=("S",)), gold) == rads_outcome(gold, gold)


# ---- reconciliation: the report's modifiers win, a difference is kept --------------------------------


def model_result(printed: str) -> TaskResult:
    return TaskResult(task=TaskName.rads_assignment, value=parse_rads(printed), confidence=0.7, model=MODEL,
                      raw_output=printed)


def test_model_without_modifiers_agrees_and_the_stated_ones_are_kept() -> None:
    merged = _reconcile(model_result("Lung-RADS 2"), stated("LDCT LUNG SCREENING", "Lung-RADS 2S."))
    assert merged.decided_by == "model+rules" and merged.disagreement is None
    assert merged.value.modifiers == ("S",)  # type: ignore[union-attr]


def test_modifier_only_difference_is_a_disagreement_the_report_wins() -> None:
    merged = _reconcile(model_result("CAD-RADS 3/P3"), stated("CCTA", "CAD-RADS 3/P2/HRP."))
    assert merged.decided_by == "rules" and merged.value.modifiers == ("P2", "HRP")  # type: ignore[union-attr]
    assert merged.disagreement is not None
    assert (merged.disagreement.model_value, merged.disagreement.rules_value) == ("CAD-RADS 3/P3", "CAD-RADS 3/P2/HRP")


def test_model_modifier_the_report_does_not_state_is_kept_as_a_disagreement() -> None:
    merged = _reconcile(model_result("Lung-RADS 2S"), stated("LDCT LUNG SCREENING", "Lung-RADS 2."))
    assert merged.value.modifiers == () and merged.disagreement is not None  # type: ignore[union-attr]
    assert merged.disagreement.model_value == "Lung-RADS 2S"


def test_same_modifiers_agree() -> None:
    merged = _reconcile(model_result("Lung-RADS 4B S"), stated("LDCT LUNG SCREENING", "Lung-RADS 4B/S."))
    assert merged.decided_by == "model+rules" and merged.disagreement is None


# ---- the card --------------------------------------------------------------------------------------


def rads_card(result: TaskResult, rep: RadiologyReport) -> Card:
    cards = report_cards(Analysis(report=rep, manifest_version="m", results=[result]), patient_id="pat-mod")
    [card] = [c for c in cards if c.source.topic and c.source.topic.code == "rads"]
    return card


def test_lung_rads_s_card_flags_the_significant_finding() -> None:
    rep = report("LDCT LUNG SCREENING", "Lung-RADS 2S. 4.8 cm ascending aortic aneurysm.")
    card = rads_card(stated(rep.procedure or "", rep.impression or ""), rep)
    detail = card.detail or ""
    assert "Lung-RADS 2S" in card.summary and card.indicator == "info"  # S is info per rads-management.md
    assert "**S modifier:**" in detail and "unrelated to lung cancer" in detail
    assert "per its own guideline" in detail and "as appropriate to the finding" in detail


def test_lung_rads_without_s_says_nothing_about_it() -> None:
    rep = report("LDCT LUNG SCREENING", "Lung-RADS 2. Benign perifissural nodule.")
    assert "S modifier" not in (rads_card(stated(rep.procedure or "", rep.impression or ""), rep).detail or "")


def test_cad_rads_card_names_the_typed_modifiers() -> None:
    """Typed modifiers are named even when the evidence sentence does not spell them."""
    rep = report("CCTA", "Severe proximal LAD stenosis.")
    value = RadsValue(system="CAD-RADS", category="4A", modifiers=("P2", "HRP"))
    result = TaskResult(task=TaskName.rads_assignment, value=value, confidence=0.8, model=RULES_IDENTITY,
                        evidence=[evidence_for(rep.text(), "Severe proximal LAD stenosis.")])
    card = rads_card(result, rep)
    assert "**Modifiers stated:** P2, HRP (not part of the category)" in (card.detail or "")
    assert "CAD-RADS 4A/P2/HRP" in card.summary and card.indicator == "warning"


def test_ni_rads_card_shows_each_site() -> None:
    rep = report("CT NECK SOFT TISSUE", "NI-RADS primary 2a, neck 1.")
    card = rads_card(stated(rep.procedure or "", rep.impression or ""), rep)
    assert "**Scored by site:** primary 2a, neck 1" in (card.detail or "")


# ---- the FHIR Observation and the HL7 result ---------------------------------------------------------


def _comparable(value: Any) -> Any:
    """JSON as fhir.resources writes it back: numbers as floats."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return float(value)


@pytest.fixture(scope="module")
def check_observation() -> Callable[[dict[str, Any]], None]:
    """R4 structure (fhirkit), R4 core and our RADS profile (fhircraft), R4B round trip (fhir.resources)."""
    from fhircraft.fhir.resources.factory import FHIRModelFactory

    factory = FHIRModelFactory("R4")
    factory.disable_internet_access()
    core = factory.build(canonical_url="http://hl7.org/fhir/StructureDefinition/Observation")
    profile = factory.build(structure_definition(RADS_PROFILE))

    def check(obs: dict[str, Any]) -> None:
        assert fhirkit.validate(obs) == []
        for model in (core, profile):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                again = json.loads(model.model_validate(obs).model_dump_json())
            assert [str(w.message) for w in caught if "Fhir" in type(w.message).__name__] == []
            assert _comparable(again) == _comparable(obs)
        r4b = get_fhir_model_class("Observation").model_validate(obs)
        assert _comparable(json.loads(r4b.model_dump_json())) == _comparable(obs)
    return check


@pytest.mark.parametrize(("procedure", "impression", "components"), [
    ("LDCT LUNG SCREENING", "Lung-RADS 4B S. Recommend PET/CT.", [("rads-modifier", "lung-rads-modifier-S")]),
    ("CCTA", "CAD-RADS 4A/P2/HRP/I+.", [("rads-modifier", "cad-rads-modifier-P2"),
                                         ("rads-modifier", "cad-rads-modifier-HRP"),
                                         ("rads-modifier", "cad-rads-modifier-I-positive")]),
    ("CCTA", "CAD-RADS 3/I+/-.", [("rads-modifier", "cad-rads-modifier-I-borderline")]),
    ("CT NECK SOFT TISSUE", "NI-RADS primary 2a, neck 1.", [("ni-rads-primary", "ni-rads-2a"),
                                                            ("ni-rads-neck", "ni-rads-1")]),
    ("LDCT LUNG SCREENING", "Lung-RADS 2.", []),
])
def test_observation_carries_modifiers_as_components(check_observation: Callable[[dict[str, Any]], None],
                                                     procedure: str, impression: str,
                                                     components: list[tuple[str, str]]) -> None:
    rep = report(procedure, impression)
    result = stated(procedure, impression)
    obs = observation_for(result, rep)
    check_observation(obs)
    value = result.value
    assert isinstance(value, RadsValue)
    # value[x] is the category alone, coded as before; the text reads as written
    assert obs["valueCodeableConcept"]["coding"][-1]["code"] == codes.rads_code(value.system or "", value.category or "")
    assert obs["valueCodeableConcept"]["text"] == value.full_label
    got = [(c["code"]["coding"][0]["code"], c["valueCodeableConcept"]["coding"][0]["code"])
           for c in obs.get("component", [])]
    assert got == components
    assert all(c["code"]["coding"][0]["system"] == codes.RADLITE_CS for c in obs.get("component", []))
    assert value.full_label in obs["text"]["div"]


def test_s_modifier_component_says_what_it_means(check_observation: Callable[[dict[str, Any]], None]) -> None:
    obs = observation_for(stated("LDCT LUNG SCREENING", "Lung-RADS 2S."), report("LDCT LUNG SCREENING", "Lung-RADS 2S."))
    [component] = obs["component"]
    assert component["code"]["coding"][0]["code"] == RADS_MODIFIER_CODE
    assert "unrelated to lung cancer" in component["valueCodeableConcept"]["text"]


def test_oru_sends_each_modifier_after_the_category() -> None:
    rep = report("CCTA", "CAD-RADS 4A/P2/HRP.")
    oru = analysis_to_oru(Analysis(report=rep, manifest_version="m", results=[stated("CCTA", "CAD-RADS 4A/P2/HRP.")]))
    obx = [seg.split("|") for seg in oru.split("\r") if seg.startswith("OBX")]
    assert [o[5].split("^")[0] for o in obx] == ["4A", "P2", "HRP"]
    assert {o[4] for o in obx} == {"1"} and all(o[11] == "P" for o in obx)


def test_oru_sends_ni_rads_sites() -> None:
    rep = report("CT NECK SOFT TISSUE", "NI-RADS primary 2a, neck 1.")
    oru = analysis_to_oru(Analysis(report=rep, manifest_version="m", results=[stated(rep.procedure or "",
                                                                                      rep.impression or "")]))
    obx = [seg.split("|") for seg in oru.split("\r") if seg.startswith("OBX")]
    assert [(o[3].split("^")[0], o[5].split("^")[0]) for o in obx] == [
        ("RADLITE-RADS-NI-RADS", "2a"), ("RADLITE-RADS-NI-RADS-PRIMARY", "2a"), ("RADLITE-RADS-NI-RADS-NECK", "1")]


@pytest.mark.parametrize(
    ("impression", "category", "sites"),
    [
        ("NI-RADS 3 primary site, NI-RADS 1 neck.", "3", ("primary 3", "neck 1")),
        ("1. Mass at the tongue base: NI-RADS 3 (primary).\n2. Neck: NI-RADS 1.", "3", ("primary 3", "neck 1")),
        ("1. Primary site: superficial enhancement (NI-RADS 2a).\n2. Neck: indeterminate node (NI-RADS 2).", "2",
         ("primary 2a", "neck 2")),
        ("No evidence of recurrence. NI-RADS 1.", "1", ()),
    ],
)
def test_ni_rads_sites_named_after_the_score_or_by_their_line(impression: str, category: str,
                                                              sites: tuple[str, ...]) -> None:
    from models.rules.rads import stated_rads

    report = RadiologyReport(report_id="t", modality="CT", procedure="CT NECK W CONTRAST", findings="x",
                             impression=impression)
    found = stated_rads(report)
    assert found is not None and (found.category, found.modifiers) == (category, sites)
