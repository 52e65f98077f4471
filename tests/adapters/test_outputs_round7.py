"""Outputs round 7: every value the typed results can hold, held to the spec it is answerable to.

Table-driven from shared/spec/rads-management.md itself (not from adapters/cds/guidelines.py, which
is a transcription of it): for every category of the ten RADS systems in the contract's label set,
and every modifier form RadsValue allows (Lung-RADS S, CAD-RADS 2.0 P1-P4/HRP/I+/I-/I±/S/G/E,
NI-RADS per-site scores), the CDS Hooks card must give that row's management, follow-up and
indicator, cite its source and carry the demo notice when a demo model answered; the FHIR R4
Observation must validate (fhirkit, fhircraft, fhir.resources R4B, the R4 rules those leave out,
its own published profile) and carry the codes integration.md §2.3 gives, its evidence, the model's
id and GGUF hash, its confidence and the demo notice. Then every N and M stage, every CheXpert label
in each state, NLI, entities, temporal changes, impression and QA; then each critical finding of
§12: definite, suspected, and negated (read by the real rules engine) on the card side.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import test_fhir_profiles
from card_probe import suggested as _resources
from card_probe import topic as _topic
from test_outputs_round5 import card_problems, r4_rule_problems

from adapters.cds.cards import order_cards, report_cards
from adapters.cds.models import Card, CdsResponse, empty_paths, summary_length, wire
from adapters.fhir import codes, observation_for, observations_for, structure_definitions, transaction_bundle
from adapters.fhir.codesystem import code_system
from models.catalog import CATALOG
from models.grounding import mentioned_labels
from models.parsers import RADS_CATEGORIES
from models.rules.critical import VOCABULARY, critical_findings
from models.text import evidence_for
from models.types import (
    CHEXPERT_LABELS,
    DEMO_NOTICE,
    NI_RADS_SITES,
    RADS_MODIFIERS,
    Analysis,
    ChexpertValue,
    CriticalFinding,
    EntitiesValue,
    FollowUp,
    ModelIdentity,
    MStageValue,
    NliValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskResult,
    TemporalChange,
    TemporalValue,
    TextValue,
)

globals().update(
    profile_models=test_fhir_profiles.profile_models, profile_problems=test_fhir_profiles.profile_problems
)

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "rads-management.md"
EXAM = datetime(2026, 9, 3, 8, 41, 7, tzinfo=timezone(timedelta(hours=-4)))
FHIR_SERVER = "https://ehr.example.net/fhir/r4"
DEMO = ModelIdentity(model_id="smollm2-135m-demo", sha256="9c" * 32, backend="llama_cpp", role="extraction",
                     version="Q4_1", demo=True)
REAL = ModelIdentity(model_id="radlite-qwen3-4b", sha256="4f" * 32, backend="http", role="extraction",
                     version="1.0")
MODELS = {"demo": DEMO, "real": REAL}


# ---- the spec's tables ------------------------------------------------------------------------------

SECTION_SYSTEM = {"1": "BI-RADS", "2": "Lung-RADS", "3": "LI-RADS", "4": "TI-RADS", "5": "PI-RADS", "6": "O-RADS",
                  "7": "NI-RADS", "8": "CAD-RADS", "9": "VI-RADS", "10": "GB-RADS"}
_ASCII = {"≥": ">=", "≤": "<=", "→": "->"}


def _plain(text: str) -> str:
    for a, b in _ASCII.items():
        text = text.replace(a, b)
    return text.strip()


def _spec_rows() -> dict[tuple[str, str], list[dict[str, str]]]:
    """(system, code) -> the rows of that system's first table (NI-RADS has one per site)."""
    out: dict[tuple[str, str], list[dict[str, str]]] = {}
    for section in re.split(r"^## ", SPEC.read_text("utf-8"), flags=re.M):
        system = SECTION_SYSTEM.get(section.split(".", 1)[0].strip())
        if system is None:
            continue
        lines = [ln for ln in section.splitlines() if ln.startswith("|")]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        for line in lines[2:]:
            cells = [_plain(c) for c in line.strip("|").split("|")]
            if len(cells) != len(header):
                break
            row = dict(zip(header, cells, strict=True))
            code = next(v for k, v in row.items() if k.startswith("Code"))
            out.setdefault((system, code), []).append(row)
    return out


SPEC_ROWS = _spec_rows() if SPEC.is_file() else {}
LABELS = [(s, c) for s, cats in RADS_CATEGORIES.items() for c in cats]
"""The contract's RADS label set (the rads_assignment task's labels)."""
STATED_ONLY = [k for k in SPEC_ROWS if k not in LABELS and "modifier" not in k[1]]
"""Spec categories outside the label set that the rules engine states (LR-NC, LR-TR Nonevaluable)."""
CITES = {"BI-RADS": "5th ed", "Lung-RADS": "Lung-RADS v2022", "LI-RADS": "LI-RADS v2018", "TI-RADS": "TI-RADS 2017",
         "PI-RADS": "PI-RADS v2.1", "O-RADS": "US v2022", "NI-RADS": "ACR NI-RADS", "CAD-RADS": "CAD-RADS 2.0",
         "VI-RADS": "Panebianco", "GB-RADS": "Gupta"}
"""The version or paper each spec section heading names: the card must cite it."""
ACR = {"BI-RADS", "Lung-RADS", "LI-RADS", "TI-RADS", "PI-RADS", "O-RADS", "NI-RADS", "CAD-RADS"}
"""Systems with an ACR reference page (VI-RADS and GB-RADS are papers: no link)."""
PROCEDURE = {
    "BI-RADS": ("MG DIAGNOSTIC BILATERAL W TOMO", "MG"), "Lung-RADS": ("CT CHEST LUNG SCREENING LOW DOSE", "CT"),
    "LI-RADS": ("MRI ABDOMEN LIVER W WO CONTRAST", "MR"), "TI-RADS": ("US THYROID / SOFT TISSUE NECK", "US"),
    "PI-RADS": ("MRI PROSTATE MULTIPARAMETRIC", "MR"), "O-RADS": ("US PELVIS TRANSVAGINAL", "US"),
    "NI-RADS": ("CT SOFT TISSUE NECK W CONTRAST", "CT"), "CAD-RADS": ("CTA CORONARY ARTERIES W CALCIUM SCORE", "CT"),
    "VI-RADS": ("MRI PELVIS BLADDER MULTIPARAMETRIC", "MR"), "GB-RADS": ("US ABDOMEN LIMITED RUQ", "US"),
}


def _card_of(row: dict[str, str]) -> str:
    return row["Card"]


def _spec_indicator(card: str) -> str:
    return "warning" if card.startswith("warning") else "info"


# ---- building results as the pipeline does ----------------------------------------------------------


def _report(rid: str, procedure: str, modality: str, findings: str, impression: str, **kw: Any) -> RadiologyReport:
    return RadiologyReport(report_id=rid, patient_id=kw.pop("patient_id", f"pt-{rid}"), accession=f"R7-{rid.upper()}",
                           modality=modality, procedure=procedure, effective=EXAM, issued=EXAM + timedelta(hours=1),
                           source_format="fhir", findings=findings, impression=impression, **kw)


def _rid(*parts: str) -> str:
    return "r7-" + re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")[:50]


def _result(task: TaskName, value: Any, report: RadiologyReport, needles: list[str], model: ModelIdentity,
            **kw: Any) -> TaskResult:
    evidence = [e for e in (evidence_for(report.text(), n) for n in needles) if e]
    assert len(evidence) == len(needles), "every needle is in the report"
    return TaskResult(task=task, value=value, confidence=kw.pop("confidence", 0.83), evidence=evidence, model=model,
                      decided_by=kw.pop("decided_by", "model+rules"), **kw)


def _rads_analysis(value: RadsValue, model: ModelIdentity, *, size: str = "") -> tuple[Analysis, str]:
    procedure, modality = PROCEDURE[value.system or ""]
    sentence = f"Overall assessment: {value.full_label}."
    findings = f"Index lesion measures {size}." if size else "Findings as dictated by the radiologist."
    report = _report(_rid(value.full_label, size, model.model_id), procedure, modality, findings, sentence)
    needles = [sentence] + ([f"measures {size}"] if size else [])
    result = _result(TaskName.rads_assignment, value, report, needles, model)
    return Analysis(report=report, manifest_version="r7", results=[result], facts=ReportFacts()), sentence


def _cards(analysis: Analysis) -> list[Card]:
    return report_cards(analysis, patient_id=analysis.report.patient_id or "p", fhir_server=FHIR_SERVER)


# ---- what every output must be ------------------------------------------------------------------------

PROFILE_URLS = {sd["url"] for sd in structure_definitions()}
LOCAL_CODES = {c["code"] for c in code_system()["concept"]}


def check_observation(obs: dict[str, Any], result: TaskResult | None, report: RadiologyReport, *, demo: bool,
                      validate_r4: Any, profile_problems: Any) -> None:
    """R4-valid, conforms to its own profile, preliminary, AI-labelled, evidence, model, confidence, demo."""
    validate_r4(obs)
    assert r4_rule_problems(obs) == []
    [profile] = obs["meta"]["profile"]
    assert profile in PROFILE_URLS and profile_problems(obs) == [], profile
    assert obs["status"] == "preliminary" and codes.AIAST in obs["meta"]["security"]
    assert obs["subject"] == {"reference": f"Patient/{report.patient_id}"}
    assert obs["effectiveDateTime"] == "2026-09-03T08:41:07-04:00"
    for path_codings in _local_codings(obs):
        assert path_codings in LOCAL_CODES, f"{path_codings} is not in our published CodeSystem"
    notes = " ".join(n["text"] for n in obs.get("note", []))
    tag = {"system": codes.RADLITE_CS, "code": codes.DEMO_TAG_CODE, "display": DEMO_NOTICE}
    assert (tag in obs["meta"].get("tag", [])) == demo and (DEMO_NOTICE in notes) == demo
    assert (DEMO_NOTICE in obs["text"]["div"]) == demo
    exts = obs.get("extension", [])
    if result is None:  # a rules fact: no confidence
        assert not [e for e in exts if e["url"] == codes.EXT_AI_CONFIDENCE]
        return
    [conf] = [e for e in exts if e["url"] == codes.EXT_AI_CONFIDENCE]
    assert conf["valueDecimal"] == pytest.approx(result.confidence)
    [performer] = obs["performer"]
    [device] = [e["valueReference"] for e in performer["extension"] if e["url"] == codes.EXT_ALTERNATE_REFERENCE]
    assert device["type"] == "Device"
    assert device["identifier"] == {"system": codes.MODEL_SHA256_SYSTEM, "value": result.model.sha256}
    assert result.model.model_id in performer["display"]
    spans = [(x["extension"][1]["valueInteger"], x["extension"][2]["valueInteger"])
             for x in exts if x["url"] == codes.EXT_DERIVATION_REFERENCE]
    assert spans == [(ev.start, ev.end - ev.start) for ev in result.evidence]  # type: ignore[operator]
    text = report.text()
    for (offset, length), ev in zip(spans, result.evidence, strict=True):
        assert text[offset:offset + length] == ev.sentence[: length] or ev.sentence in text[offset:offset + length + 1]
        assert f'"{" ".join(ev.sentence.split())}"' in notes  # quoted in the note


def _local_codings(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        if node.get("system") == codes.RADLITE_CS and "code" in node:
            out.append(node["code"])
        for v in node.values():
            out += _local_codings(v)
    elif isinstance(node, list):
        for v in node:
            out += _local_codings(v)
    return out


def check_cards(cards: list[Card], *, demo: bool, validate_r4: Any) -> dict[str, Any]:
    """CDS Hooks 2.0.1 on the wire: no nulls or empties, ordered by urgency, each card's rules."""
    body = wire(CdsResponse(cards=cards))
    assert empty_paths(body) == []
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert [rank[c["indicator"]] for c in body["cards"]] == sorted(rank[c["indicator"]] for c in body["cards"])
    for card in body["cards"]:
        assert card_problems(card, demo=demo) == [], card["summary"]
        assert summary_length(card["summary"]) < 140 and card["source"]["label"]
        assert "suggestions" not in card or card["selectionBehavior"] in ("any", "at-most-one")
        for s in card.get("suggestions", []):
            uuid.UUID(s["uuid"])
            for a in s["actions"]:
                assert a["type"] in ("create", "update", "delete")
                if a.get("resource"):
                    validate_r4(a["resource"])
                    assert r4_rule_problems(a["resource"]) == []
        if not demo:
            assert DEMO_NOTICE not in json.dumps(card)
    return body


# ---- 1. every RADS category of the label set, demo and not ----------------------------------------------


@pytest.mark.parametrize("who", list(MODELS))
@pytest.mark.parametrize(("system", "category"), LABELS + STATED_ONLY)
def test_every_label_gives_the_specs_management_and_valid_coded_outputs(
    system: str, category: str, who: str, validate_r4: Any, profile_problems: Any
) -> None:
    rows = SPEC_ROWS[(system, category)]
    model = MODELS[who]
    value = RadsValue(system=system, category=category)
    analysis, sentence = _rads_analysis(value, model)
    cards = _cards(analysis)
    check_cards(cards, demo=model.demo, validate_r4=validate_r4)
    [card] = _topic(cards, "rads")
    detail = card.detail or ""
    # Indicator per the spec's card column; TI-RADS rows that depend on the size are read without one.
    spec_cards = {_card_of(r) for r in rows}
    if any(" if " in c and "else" in c for c in spec_cards):
        assert card.indicator == "info"  # "warning +A if >=1.5 cm, else info": no size, no warning
    else:
        [spec_card] = {_spec_indicator(c) for c in spec_cards}
        assert card.indicator == spec_card
    assert card.indicator != "critical"  # critical is reserved for critical results (§0)
    # Management and follow-up as the spec words them (each site's, for NI-RADS).
    for row in rows:
        management = next((row[k] for k in ("Management", "Usual management", "Usual consequence") if k in row), None)
        if management is not None:
            head, _, inner = management.partition(" (")
            assert head in detail and inner.rstrip(")").split("; ")[0] in detail, (management, detail)
        follow = row.get("Follow-up") or row["Follow-up schedule"]
        if system == "TI-RADS":
            assert follow.split("; ")[0] in detail and f"FNA if {row['FNA if']}" in detail or row["FNA if"] == "never"
        else:
            assert follow.split(": ", 1)[-1] in detail, (follow, detail)
    actionable = all("+A" in c and " if " not in c for c in spec_cards)
    if not any(" if " in c for c in spec_cards):
        assert ("Actionable finding (ACR)" in detail) == actionable
    # The source is cited; ACR systems link their reference page.
    assert CITES[system] in detail and sentence in detail
    assert (card.source.url is not None) == (system in ACR)
    assert bool([lk for lk in card.links or [] if lk.label.endswith("reference")]) == (system in ACR)
    assert (DEMO_NOTICE in card.source.label) == model.demo and (DEMO_NOTICE in detail) == model.demo
    assert model.model_id in detail and "confidence 0.83" in detail
    # The follow-up order: only an interval the spec's follow-up cell writes.
    follow_cells = " ".join(r.get("Follow-up") or r["Follow-up schedule"] for r in rows)
    for sr in _resources(card, "ServiceRequest"):
        assert sr["status"] == "draft" and sr["intent"] == "proposal" and sr["meta"]["security"] == [codes.AIAST]
        assert (DEMO_NOTICE in json.dumps(sr)) == model.demo
        for iso in re.findall(r"P\d+[YMWD]", " ".join(n["text"] for n in sr["note"])):
            assert iso in follow_cells
    # A follow-up the spec only has considered ("consider tissue sampling", PI-RADS 3) is not recommended outright.
    tentative = any((r.get("Follow-up") or "").lower().startswith("consider") for r in rows)
    ordering = [sg for sg in card.suggestions or [] if any(a.resource and a.resource["resourceType"] == "ServiceRequest"
                                                           for a in sg.actions or [])]
    assert all(sg.isRecommended is (not tentative) for sg in ordering)
    assert ("; consider " in card.summary) == (tentative and bool(ordering))
    # The Observation: codes of §2.3, interpretation A exactly on the high-suspicion rows.
    [obs] = observations_for(analysis)
    result = analysis.results[0]
    check_observation(obs, result, analysis.report, demo=model.demo, validate_r4=validate_r4,
                      profile_problems=profile_problems)
    [chart] = _resources(card, "Observation")
    assert chart["valueCodeableConcept"] == obs["valueCodeableConcept"] and chart["code"] == obs["code"]
    code_systems = {(c["system"], c["code"]) for c in obs["code"]["coding"]}
    assert (CATALOG[TaskName.rads_assignment].fhir_system, CATALOG[TaskName.rads_assignment].fhir_code) in code_systems
    standard = {"BI-RADS": (codes.RADELEMENT, "RDE1586"), "Lung-RADS": (codes.RADLEX, "RID50134"),
                "TI-RADS": (codes.RADLEX, "RID50503")}.get(system)
    assert (standard in code_systems) if standard else not any(s == codes.LOINC for s, _ in code_systems)
    values = obs["valueCodeableConcept"]
    assert values["text"] == value.label
    assert {"system": codes.RADLITE_CS, "code": codes.rads_code(system, category), "display": value.label} in values["coding"]
    snomed = [c for c in values["coding"] if c["system"] == codes.SNOMED]
    assert [c["code"] for c in snomed] == ([codes.BIRADS_SNOMED[category][0]]
                                          if system == "BI-RADS" and category in codes.BIRADS_SNOMED else [])
    assert not any(c["system"] == codes.LOINC for c in values["coding"])  # no LOINC RADS answer was verified
    high = any(c.startswith("warning") and "else" not in c for c in spec_cards)  # TR4: size-dependent
    assert (obs.get("interpretation") == [codes.ABNORMAL_INTERPRETATION]) == high


def test_the_label_set_is_the_specs_category_set() -> None:
    """Every label the model can answer has a spec row (so the table-driven test covers all of them)."""
    missing = [lbl for lbl in LABELS if lbl not in SPEC_ROWS]
    assert missing == []
    assert len({s for s, _ in LABELS}) == 10 and len(LABELS) + len(STATED_ONLY) >= 70


# ---- TI-RADS: the size thresholds of the spec's columns ---------------------------------------------------


def _cm(text: str) -> float:
    return float(re.search(r"(\d+(?:\.\d+)?)\s*cm", text).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize(("category", "size"), [
    (c, s) for c, sizes in {"TR3": ("0.9 cm", "1.5 cm", "2.1 x 1.4 x 1.2 cm", "27 mm"),
                           "TR4": ("8 mm", "1.0 cm", "1.4 cm", "1.5 cm", "2.2 x 1.9 cm"),
                           "TR5": ("4 mm", "0.5 cm", "0.9 cm", "1.0 cm", "1.7 cm")}.items() for s in sizes])
def test_ti_rads_size_thresholds_follow_the_specs_fna_and_follow_up_columns(
    category: str, size: str, validate_r4: Any
) -> None:
    [row] = SPEC_ROWS[("TI-RADS", category)]
    cm = float(size.split()[0]) / 10 if size.endswith("mm") else max(float(x) for x in re.findall(r"\d+\.?\d*", size))
    fna, follow = _cm(row["FNA if"]), _cm(row["Follow-up if"])
    analysis, _ = _rads_analysis(RadsValue(system="TI-RADS", category=category), DEMO, size=size)
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4)
    [card] = _topic(cards, "rads")
    orders = [sr["code"]["text"] for sr in _resources(card, "ServiceRequest")]
    # "warning +A if >=1.5 cm, else info (+A if >=1.0 cm)" / "warning (+A if >=0.5 cm)" / "info (+A if >=1.5 cm)"
    spec = row["Card"]
    warns = spec.startswith("warning") and ("else" not in spec or cm >= _cm(spec.split(", else")[0]))
    assert card.indicator == ("warning" if warns else "info")
    assert ("Actionable finding (ACR)" in (card.detail or "")) == (cm >= follow)
    if cm >= fna:
        assert orders == ["US-guided thyroid FNA"]
    elif cm >= follow:
        assert orders == ["Thyroid US"]
    else:
        assert orders == [] and f"< {follow:g} cm" in card.summary + (card.detail or "")


# ---- modifier forms the types allow --------------------------------------------------------------------

MODIFIER_FORMS: list[tuple[str, str, tuple[str, ...]]] = [
    *[("Lung-RADS", c, ("S",)) for c in RADS_CATEGORIES["Lung-RADS"]],
    *[("CAD-RADS", c, (m,)) for c in ("2", "4A") for m in RADS_MODIFIERS["CAD-RADS"]],
    ("CAD-RADS", "3", ("P2", "HRP", "I+")), ("CAD-RADS", "4B", ("P4", "HRP", "I-", "S", "G", "E")),
    ("CAD-RADS", "5", ("P3", "I±")), ("CAD-RADS", "N", ("HRP",)),
    *[("NI-RADS", c, (f"primary {c}",)) for c in NI_RADS_SITES["primary"] if c in RADS_CATEGORIES["NI-RADS"]],
    *[("NI-RADS", c, (f"neck {c}",)) for c in NI_RADS_SITES["neck"]],
    ("NI-RADS", "3", ("primary 3", "neck 1")), ("NI-RADS", "4", ("primary 2b", "neck 4")),
    ("NI-RADS", "2b", ("primary 2b", "neck 2")),
]


@pytest.mark.parametrize(("system", "category", "modifiers"), MODIFIER_FORMS)
def test_modifiers_change_neither_category_nor_urgency_and_are_coded_beside_it(
    system: str, category: str, modifiers: tuple[str, ...], validate_r4: Any, profile_problems: Any
) -> None:
    value = RadsValue(system=system, category=category, modifiers=modifiers)
    plain, _ = _rads_analysis(RadsValue(system=system, category=category), DEMO)
    analysis, sentence = _rads_analysis(value, DEMO)
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4)
    [card] = _topic(cards, "rads")
    [bare] = _topic(_cards(plain), "rads")
    assert card.indicator == bare.indicator  # a modifier is not the category (§2 S, §8 "not part of the label")
    assert value.full_label in card.summary and sentence in (card.detail or "")
    assert [sr["code"] for sr in _resources(card, "ServiceRequest")] == [sr["code"] for sr in _resources(bare, "ServiceRequest")]
    detail = card.detail or ""
    if system == "Lung-RADS":
        assert "S modifier" in detail and "per finding" in detail
    elif system == "CAD-RADS":
        assert all(m in detail for m in value.modifiers)
        assert ("favours ICA" in detail) == bool({"HRP", "I+"} & set(value.modifiers))
    else:
        assert all(m in detail for m in value.modifiers)
    [obs] = observations_for(analysis)
    check_observation(obs, analysis.results[0], analysis.report, demo=True, validate_r4=validate_r4,
                      profile_problems=profile_problems)
    [bare_obs] = observations_for(plain)
    assert obs["valueCodeableConcept"]["coding"] == bare_obs["valueCodeableConcept"]["coding"]
    assert obs.get("interpretation") == bare_obs.get("interpretation")
    assert obs["valueCodeableConcept"]["text"] == value.full_label
    components = obs["component"]
    assert len(components) == len(value.modifiers)
    for comp, mod in zip(components, value.modifiers, strict=True):
        [ccode] = comp["code"]["coding"]
        [vcode] = comp["valueCodeableConcept"]["coding"]
        assert ccode["system"] == vcode["system"] == codes.RADLITE_CS
        if system == "NI-RADS":
            site, cat = mod.split(" ")
            assert ccode["code"] == f"ni-rads-{site}" and vcode["code"] == codes.rads_code("NI-RADS", cat)
        else:
            assert ccode["code"] == codes.RADS_MODIFIER_CODE
            assert vcode["code"] == codes.rads_modifier_code(system, mod) and vcode["code"].isascii()


# ---- 2. N and M stage, every value -------------------------------------------------------------------

N_CASES = [
    (NStageValue(involvement=False, stage="N0"), "No suspicious cervical or mediastinal lymph nodes.", "cN0", "1229967007"),
    (NStageValue(involvement=False), "No lymphadenopathy in the neck, chest or abdomen.", "cN0", "1229967007"),
    (NStageValue(involvement=True, stage="N1"), "Single ipsilateral level III node 2.1 cm, N1.", "cN1", None),
    (NStageValue(involvement=True, stage="N2"), "Multiple ipsilateral level II-IV nodes, N2b disease.", "cN2", None),
    (NStageValue(involvement=True, stage="N3"), "Contralateral supraclavicular node 3.4 cm, N3.", "cN3", "1229984001"),
    (NStageValue(involvement=True), "Several enlarged necrotic mesorectal lymph nodes.", None, None),
]
M_CASES = [
    (MStageValue(stage="M0"), "No evidence of distant metastatic disease.", "cM0", "1229901006"),
    (MStageValue(stage="M1"), "Multiple hepatic metastases, the largest 2.8 cm in segment 7.", "cM1", None),
]


@pytest.mark.parametrize("who", list(MODELS))
@pytest.mark.parametrize(("value", "sentence", "stage", "snomed"), N_CASES + M_CASES,
                         ids=[f"{c[0].kind}-{c[2] or 'involved'}-{i}" for i, c in enumerate(N_CASES + M_CASES)])
def test_every_n_and_m_stage_is_an_mcode_style_observation(
    value: NStageValue | MStageValue, sentence: str, stage: str | None, snomed: str | None, who: str,
    validate_r4: Any, profile_problems: Any
) -> None:
    model = MODELS[who]
    report = _report(_rid("stage", sentence[:20], who), "CT CHEST ABDOMEN PELVIS W CONTRAST STAGING", "CT",
                     sentence, "Staging as described.")
    task = TaskName.n_staging if isinstance(value, NStageValue) else TaskName.m_staging
    result = _result(task, value, report, [sentence], model, decided_by="rules")
    analysis = Analysis(report=report, manifest_version="r7", results=[result])
    obs = observation_for(result, report, demo=model.demo)
    check_observation(obs, result, report, demo=model.demo, validate_r4=validate_r4, profile_problems=profile_problems)
    axis = "N" if task == TaskName.n_staging else "M"
    category = codes.CN_CATEGORY if axis == "N" else codes.CM_CATEGORY
    assert all(c in obs["code"]["coding"] for c in category)  # SNOMED cN/cM category + LOINC 21906-3 / 21907-1
    assert obs["method"] == codes.AJCC_8TH_METHOD
    v = obs["valueCodeableConcept"]
    if stage is None:
        assert v["coding"] == [codes.local("n-involvement")] and "not stated" in v["text"]
    else:
        assert v["text"] == stage and {"system": codes.AJCC, "code": stage, "display": stage} in v["coding"]
        assert [c["code"] for c in v["coding"] if c["system"] == codes.SNOMED] == ([snomed] if snomed else [])
    cards = _cards(analysis)
    check_cards(cards, demo=model.demo, validate_r4=validate_r4)
    [card] = _topic(cards, "staging")
    shown = stage[1:] if stage else "N+ (nodal involvement)"  # the card names the category; its detail says clinical
    assert card.indicator == "info" and f"staging {shown} (AJCC 8th" in card.summary and sentence in (card.detail or "")
    [chart] = _resources(card, "Observation")
    assert chart["valueCodeableConcept"] == v


# ---- CheXpert: 14 labels x 3 states -----------------------------------------------------------------------

CHEST_SENTENCES = {
    "atelectasis": ("Bibasilar subsegmental atelectasis.", "No atelectasis.", "Possible left basilar atelectasis."),
    "cardiomegaly": ("The heart is enlarged.", "No cardiomegaly.", "Borderline cardiomegaly versus AP technique."),
    "consolidation": ("Right lower lobe consolidation.", "No focal consolidation.",
                      "Possible early consolidation at the left base."),
    "edema": ("Moderate interstitial pulmonary edema.", "No pulmonary edema.", "Possible mild interstitial edema."),
    "enlarged cardiomediastinum": ("Widened mediastinum.", "Normal cardiomediastinal silhouette.",
                                   "Possible mediastinal widening."),
    "fracture": ("Acute displaced fracture of the right 6th rib.", "No acute fracture.",
                 "Possible nondisplaced fracture of the left 5th rib."),
    "lung lesion": ("Spiculated 2.3 cm nodule in the right upper lobe.", "No suspicious pulmonary nodule.",
                    "Possible nodule in the left midlung; consider CT."),
    "lung opacity": ("Patchy opacity in the right lower lung.", "No focal airspace opacity.",
                     "Possible faint opacity at the left base."),
    "pleural effusion": ("Small left pleural effusion.", "No pleural effusion.", "Possible small right pleural effusion."),
    "pleural other": ("Right apical pleural thickening.", "No pleural thickening.", "Possible pleural thickening."),
    "pneumonia": ("Findings consistent with right lower lobe pneumonia.", "No evidence of pneumonia.",
                  "Cannot exclude early pneumonia."),
    "pneumothorax": ("Small right apical pneumothorax, unchanged.", "No pneumothorax.",
                     "Questionable tiny left apical pneumothorax, unchanged."),
    "support devices": ("Endotracheal tube tip 4 cm above the carina.", "No lines or tubes.",
                        "Possible left PICC, tip not well seen."),
    "no finding": ("No acute cardiopulmonary abnormality.", "No acute cardiopulmonary abnormality.",
                   "No acute cardiopulmonary abnormality."),
}
STATES = ("positive", "negative", "uncertain")


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("label", CHEXPERT_LABELS)
def test_every_chexpert_label_in_every_state(label: str, state: str, validate_r4: Any, profile_problems: Any) -> None:
    sentence = CHEST_SENTENCES[label][STATES.index(state)]
    report = _report(_rid("cxr", label, state), "XR CHEST PORTABLE AP", "CR", sentence, "See findings.")
    if label != "no finding":
        assert label in mentioned_labels(report.text())  # the report speaks of it
    labels = {label: state}
    result = _result(TaskName.abnormality_detection, ChexpertValue(labels=labels), report, [sentence], DEMO)
    analysis = Analysis(report=report, manifest_version="r7", results=[result])
    [obs] = observations_for(analysis)
    check_observation(obs, result, report, demo=True, validate_r4=validate_r4, profile_problems=profile_problems)
    assert "value" not in json.dumps(sorted(k for k in obs if k.startswith("value")))
    [comp] = obs["component"]
    assert comp["code"]["coding"] == [codes.local(f"chexpert-{codes.slug(label)}", label.capitalize())]
    state_codings = comp["valueCodeableConcept"]["coding"]
    assert codes.local(state) in state_codings and comp["valueCodeableConcept"]["text"] == state
    sct = {"negative": codes.SCT_NEGATIVE, "uncertain": codes.SCT_UNCERTAIN}.get(state)
    assert (sct in state_codings) if sct else len(state_codings) == 1
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4)
    chest = _topic(cards, "chest")
    shown = state in ("positive", "uncertain") and label not in ("no finding", "support devices")
    assert bool(chest) == shown
    if shown:
        assert label in chest[0].summary and sentence in (chest[0].detail or "")
        assert ("possible " + label in chest[0].summary) == (state == "uncertain")
        assert chest[0].indicator == "info"


# ---- NLI, entities, temporal changes, impression, QA ------------------------------------------------------

FINDINGS = ("Right lower lobe consolidation with air bronchograms. Small right pleural effusion, new since "
            "2026-08-01. The left lung is clear. Heart size normal.")
IMPRESSION = "Right lower lobe pneumonia with a small parapneumonic effusion."


def _chest_report(rid: str) -> RadiologyReport:
    return _report(rid, "XR CHEST 2 VIEWS", "DX", FINDINGS, IMPRESSION, comparison="XR chest 2026-08-01.")


@pytest.mark.parametrize("label", ["entailment", "contradiction", "neutral"])
def test_nli_every_label(label: str, validate_r4: Any, profile_problems: Any) -> None:
    report = _chest_report(_rid("nli", label))
    result = _result(TaskName.radiology_nli, NliValue(label=label), report, [IMPRESSION], DEMO,  # type: ignore[arg-type]
                     decided_by="model", confidence=0.71)
    analysis = Analysis(report=report, manifest_version="r7", results=[result])
    [obs] = observations_for(analysis)
    check_observation(obs, result, report, demo=True, validate_r4=validate_r4, profile_problems=profile_problems)
    assert obs["valueCodeableConcept"] == {"coding": [codes.local(label)], "text": label}
    assert codes.local(label)["code"] in LOCAL_CODES
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4)
    discrepancy = _topic(cards, "discrepancy")
    assert [c.indicator for c in discrepancy] == (["warning"] if label == "contradiction" else [])


@pytest.mark.parametrize("group", ["anatomy", "present", "absent", "uncertain", "changes"])
def test_entities_every_group(group: str, validate_r4: Any, profile_problems: Any) -> None:
    report = _chest_report(_rid("ner", group))
    terms = {"anatomy": ["right lower lobe", "left lung"], "present": ["consolidation", "pleural effusion"],
             "absent": ["pneumothorax"], "uncertain": ["aspiration"], "changes": ["new"]}[group]
    result = _result(TaskName.radiology_ner, EntitiesValue(**{group: terms}), report, ["consolidation"], DEMO)
    [obs] = observations_for(Analysis(report=report, manifest_version="r7", results=[result]))
    check_observation(obs, result, report, demo=True, validate_r4=validate_r4, profile_problems=profile_problems)
    code = {"anatomy": "entity-anatomy", "present": "entity-present", "absent": "entity-absent",
            "uncertain": "entity-uncertain", "changes": "entity-change"}[group]
    assert [c["valueString"] for c in obs["component"]] == terms
    assert all(c["code"]["coding"] == [codes.local(code)] for c in obs["component"])
    qualifier = {"absent": codes.SCT_ABSENT, "uncertain": codes.SCT_UNCERTAIN}.get(group)
    for c in obs["component"]:
        assert c.get("interpretation") == ([{"coding": [qualifier]}] if qualifier else None)


@pytest.mark.parametrize("change", ["new", "worsened", "improved", "resolved", "unchanged"])
def test_temporal_every_change(change: str, validate_r4: Any, profile_problems: Any) -> None:
    report = _chest_report(_rid("tmp", change))
    value = TemporalValue(changes=[TemporalChange(finding="right pleural effusion", change=change)])  # type: ignore[arg-type]
    result = _result(TaskName.temporal_comparison, value, report, ["new since 2026-08-01"], DEMO)
    analysis = Analysis(report=report, manifest_version="r7", results=[result])
    [obs] = observations_for(analysis)
    check_observation(obs, result, report, demo=True, validate_r4=validate_r4, profile_problems=profile_problems)
    [comp] = obs["component"]
    assert comp["code"] == {"coding": [codes.SCT_CHANGE_VALUES], "text": "right pleural effusion"}
    expected = ([codes.SCT_STABLE] if change == "unchanged" else []) + [codes.local(change)]
    assert comp["valueCodeableConcept"] == {"coding": expected, "text": change}
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4)
    assert bool(_topic(cards, "interval-change")) == (change in ("new", "worsened"))


@pytest.mark.parametrize(("task", "text", "loinc"), [
    (TaskName.impression_generation, "Right lower lobe pneumonia. Small right pleural effusion.", codes.LOINC_IMPRESSION),
    (TaskName.radiology_qa, "The effusion is on the right and is small.", None),
])
@pytest.mark.parametrize("who", list(MODELS))
def test_impression_and_qa_are_string_observations(
    task: TaskName, text: str, loinc: str | None, who: str, validate_r4: Any, profile_problems: Any
) -> None:
    model = MODELS[who]
    report = _chest_report(_rid(task.value, who))
    result = _result(task, TextValue(text=text), report, [], model, decided_by="model", confidence=0.41,
                     input_hash="q" * 64)
    obs = observation_for(result, report, demo=model.demo)
    check_observation(obs, result, report, demo=model.demo, validate_r4=validate_r4, profile_problems=profile_problems)
    assert obs["valueString"] == text
    spec = CATALOG[task]
    assert {"system": spec.fhir_system, "code": spec.fhir_code, "display": spec.fhir_display} in obs["code"]["coding"]
    if loinc:
        assert any(c["system"] == codes.LOINC and c["code"] == loinc for c in obs["code"]["coding"])


# ---- 3. critical findings of §12 -------------------------------------------------------------------------

CRITICAL_TEXT = {
    "tension pneumothorax": ("Large right pneumothorax with leftward mediastinal shift and depression of the right "
                             "hemidiaphragm, consistent with tension pneumothorax.",
                             "No tension pneumothorax.", "Possible tension pneumothorax."),
    "pneumothorax": ("New moderate left pneumothorax.", "No pneumothorax.", "Possible small left apical pneumothorax."),
    "intracranial hemorrhage": ("Acute intraparenchymal hemorrhage in the left basal ganglia.",
                                "No intracranial hemorrhage.", "Possible small subarachnoid hemorrhage."),
    "pulmonary embolism": ("Acute pulmonary embolism in the right lower lobe segmental arteries.",
                           "No pulmonary embolism.", "Possible subsegmental pulmonary embolism."),
    "free air": ("Free intraperitoneal air under the right hemidiaphragm.", "No free air.",
                 "Possible small amount of free air."),
    "aortic dissection": ("Stanford type B aortic dissection from the left subclavian artery.",
                          "No aortic dissection.", "Possible aortic dissection; CTA recommended."),
    "malpositioned support device": ("The enteric tube is coiled in the esophagus; malpositioned.",
                                     "No malpositioned support device.", "Possible malpositioned endotracheal tube."),
    "spinal cord compression": ("Epidural mass at T8 with spinal cord compression.", "No spinal cord compression.",
                                "Possible early spinal cord compression at T10."),
    "ectopic pregnancy": ("Left adnexal ectopic pregnancy with hemoperitoneum.", "No ectopic pregnancy.",
                          "Possible ectopic pregnancy in the right adnexa."),
    "testicular torsion": ("Absent flow in the left testis, consistent with testicular torsion.",
                           "No testicular torsion.", "Possible intermittent testicular torsion."),
    "ovarian torsion": ("Enlarged edematous right ovary with absent flow, consistent with ovarian torsion.",
                        "No ovarian torsion.", "Possible right ovarian torsion."),
    "portal venous gas": ("Portal venous gas in the left hepatic lobe.", "No portal venous gas.",
                          "Possible portal venous gas."),
}
ACR_CATEGORY = {"pneumothorax": "1-2", "pulmonary embolism": "1-2"}  # §12; the others are category 1


def test_every_term_of_the_vocabulary_is_tested() -> None:
    assert set(CRITICAL_TEXT) == set(VOCABULARY)


@pytest.mark.parametrize("certainty", ["definite", "uncertain"])
@pytest.mark.parametrize("term", VOCABULARY)
def test_critical_findings_give_a_critical_card_and_an_aa_observation(
    term: str, certainty: str, validate_r4: Any, profile_problems: Any
) -> None:
    sentence = CRITICAL_TEXT[term][0 if certainty == "definite" else 2]
    report = _report(_rid("crit", term, certainty), "CT CHEST ABDOMEN PELVIS W CONTRAST", "CT", sentence,
                     "See findings. Called to the ordering physician.")
    evidence = evidence_for(report.text(), sentence)
    assert evidence is not None
    finding = CriticalFinding(term=term, certainty=certainty, evidence=[evidence])  # type: ignore[arg-type]
    analysis = Analysis(report=report, manifest_version="r7", facts=ReportFacts(critical=[finding]),
                        results=[_result(TaskName.radiology_nli, NliValue(label="entailment"), report, [], DEMO)])
    cards = _cards(analysis)
    body = check_cards(cards, demo=True, validate_r4=validate_r4)
    [card] = [c for c in body["cards"] if c["indicator"] == "critical"]
    assert body["cards"][0] is card and card["source"]["topic"]["code"] == "critical"
    assert finding.label in card["summary"] and card["summary"].startswith("Critical result:")
    assert f"category {ACR_CATEGORY.get(term, '1')}" in card["detail"]
    assert ("only suspects" in card["detail"]) == (certainty == "uncertain")
    assert card["selectionBehavior"] == "any" and card["overrideReasons"]
    [action] = [a for s in card["suggestions"] for a in s["actions"]]
    obs = action["resource"]
    assert action["type"] == "create" and obs["resourceType"] == "Observation"
    check_observation(obs, None, report, demo=True, validate_r4=validate_r4, profile_problems=profile_problems)
    assert obs["interpretation"] == [codes.CRITICAL_INTERPRETATION]
    assert obs["code"]["coding"] == [codes.CRITICAL_CODING]
    assert obs["valueCodeableConcept"]["coding"] == [codes.local(f"critical-{codes.slug(term)}", term)]
    assert obs["valueCodeableConcept"]["text"] == finding.label
    [stored] = [o for o in observations_for(analysis) if o.get("interpretation") == [codes.CRITICAL_INTERPRETATION]]
    assert stored | {"issued": obs["issued"]} == obs


@pytest.mark.parametrize("term", VOCABULARY)
def test_a_negated_critical_finding_raises_no_critical_card(term: str, validate_r4: Any) -> None:
    sentence = CRITICAL_TEXT[term][1]
    report = _report(_rid("neg", term), "CT CHEST ABDOMEN PELVIS W CONTRAST", "CT",
                     f"{sentence} Mild degenerative changes.", "No acute abnormality.")
    facts = ReportFacts(critical=critical_findings(report.text()))  # the real rules engine reads the negation
    analysis = Analysis(report=report, manifest_version="r7", facts=facts,
                        results=[_result(TaskName.radiology_nli, NliValue(label="entailment"), report, [], DEMO)])
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4)
    assert all(c.indicator != "critical" for c in cards) and not _topic(cards, "critical")
    assert all(o.get("interpretation") != [codes.CRITICAL_INTERPRETATION] for o in observations_for(analysis))


def test_several_critical_findings_make_one_card_with_each_acr_category(validate_r4: Any) -> None:
    text = ("New moderate left pneumothorax. Acute pulmonary embolism in the right lower lobe arteries. "
            "Free intraperitoneal air under the right hemidiaphragm.")
    report = _report(_rid("crit-many"), "CT CHEST ABDOMEN W CONTRAST", "CT", text, "Critical results as above.")
    found = critical_findings(report.text())
    assert {c.term for c in found} >= {"pneumothorax", "pulmonary embolism", "free air"}
    analysis = Analysis(report=report, manifest_version="r7", facts=ReportFacts(critical=found))
    cards = _cards(analysis)
    body = check_cards(cards, demo=False, validate_r4=validate_r4)
    [card] = [c for c in body["cards"] if c["indicator"] == "critical"]
    detail = card["detail"]
    assert "pneumothorax: category 1-2" in detail and "pulmonary embolism: category 1-2" in detail
    assert "free air: category 1" in detail
    assert len([a for s in card["suggestions"] for a in s["actions"]]) == len(found)


# ---- the whole analysis as a transaction Bundle ----------------------------------------------------------


@pytest.mark.parametrize("who", list(MODELS))
def test_a_full_analysis_bundle_names_each_model_file(who: str, validate_r4: Any, profile_problems: Any) -> None:
    model = MODELS[who]
    report = _chest_report(_rid("bundle", who))
    results = [
        _result(TaskName.abnormality_detection, ChexpertValue(labels={"consolidation": "positive",
                                                                      "pleural effusion": "positive"}),
                report, ["Right lower lobe consolidation"], model),
        _result(TaskName.radiology_nli, NliValue(label="entailment"), report, [IMPRESSION], model),
        _result(TaskName.temporal_comparison, TemporalValue(changes=[TemporalChange(finding="pleural effusion",
                                                                                    change="new")]),
                report, ["new since 2026-08-01"], model),
    ]
    analysis = Analysis(report=report, manifest_version="r7", results=results)
    bundle = transaction_bundle(analysis)
    validate_r4(bundle)
    devices = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Device"]
    [device] = devices
    idents = {(i["system"], i["value"]) for i in device["identifier"]}
    assert (codes.MODEL_ID_SYSTEM, model.model_id) in idents and (codes.MODEL_SHA256_SYSTEM, model.sha256) in idents
    assert (DEMO_NOTICE in json.dumps(device)) == model.demo
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Observation":
            assert (DEMO_NOTICE in json.dumps(entry["resource"])) == model.demo
    [prov] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    assert prov["entity"] == [{"role": "source", "what": {"reference": f"DiagnosticReport/{report.report_id}",
                                                          "type": "DiagnosticReport"}}]


@pytest.mark.parametrize("certainty", ["definite", "uncertain"])
@pytest.mark.parametrize("term", VOCABULARY)
def test_the_rules_read_each_critical_sentence_as_written(term: str, certainty: str) -> None:
    """The inputs above are what the real rules engine finds: the card tests stand on real facts."""
    sentence = CRITICAL_TEXT[term][0 if certainty == "definite" else 2]
    found = {(c.term, c.certainty) for c in critical_findings(sentence)}
    assert (term, certainty) in found


# ---- summaries: a long procedure name never pushes the claim out ------------------------------------------

LONG_PROCEDURES = [
    "MRI ABDOMEN WITHOUT AND WITH IV CONTRAST LIVER PROTOCOL HEPATOBILIARY AGENT (GADOXETATE DISODIUM) WITH MRCP AND "
    "DIFFUSION",
    "CT ANGIOGRAPHY CHEST ABDOMEN PELVIS WITH AND WITHOUT IV CONTRAST WITH BILATERAL LOWER EXTREMITY RUNOFF "
    "(AORTIC DISSECTION PROTOCOL)",
    "XR CHEST 1 VIEW PORTABLE AP SUPINE IN ICU — LINE/TUBE PLACEMENT CHECK AFTER CENTRAL VENOUS CATHETER INSERTION "
    "RIGHT INTERNAL JUGULAR",
    "CT" + " NECK" * 40,
]


@pytest.mark.parametrize("procedure", LONG_PROCEDURES, ids=["mri-liver", "cta-runoff", "xr-icu", "repeated"])
def test_a_long_procedure_name_never_pushes_the_claim_out_of_a_summary(procedure: str, validate_r4: Any) -> None:
    findings = ("Right lower lobe consolidation. Small right pleural effusion, new since the prior. "
                "Segment 7 observation 2.1 cm with arterial phase hyperenhancement and washout.")
    impression = "LR-5 observation in segment 7. Recommend CT chest in 3 months."
    modality = {"MRI": "MR", "XR ": "CR"}.get(procedure[:3], "CT")
    report = _report(_rid("long", procedure[:12]), procedure, modality, findings, impression)
    results = [
        _result(TaskName.rads_assignment, RadsValue(system="LI-RADS", category="LR-5"), report, ["LR-5"], DEMO),
        _result(TaskName.m_staging, MStageValue(stage="M1"), report, ["observation 2.1 cm"], DEMO),
        _result(TaskName.abnormality_detection, ChexpertValue(labels={"consolidation": "positive"}), report,
                ["Right lower lobe consolidation"], DEMO),
        _result(TaskName.radiology_nli, NliValue(label="contradiction"), report, [impression], DEMO,
                decided_by="model", confidence=0.8),
        _result(TaskName.temporal_comparison, TemporalValue(changes=[TemporalChange(finding="right pleural effusion",
                                                                                    change="new")]),
                report, ["new since the prior"], DEMO),
    ]
    evidence = evidence_for(report.text(), "Recommend CT chest in 3 months.")
    facts = ReportFacts(critical=[CriticalFinding(term="portal venous gas", evidence=[evidence])],  # type: ignore[list-item]
                        follow_ups=[FollowUp(text="Recommend CT chest in 3 months.", procedure="CT chest",
                                             interval="P3M", evidence=[evidence])])  # type: ignore[list-item]
    analysis = Analysis(report=report, manifest_version="r7", results=results, facts=facts)
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4)
    claims = {"critical": "portal venous gas", "rads": "LR-5; referral: HCC multidisciplinary board",
              "staging": "radiologic staging M1", "chest": "consolidation",
              "discrepancy": "impression may contradict the findings",
              "interval-change": "interval change: new right pleural effusion"}
    for topic, claim in claims.items():
        [card] = _topic(cards, topic)
        assert claim in card.summary, (topic, card.summary)
        if topic != "critical":  # "Critical result: <finding> on <exam>": the finding leads anyway
            assert "2026-09-03" in card.summary
    # The imaging-order cards: the prior's category and the duplicate's time gap stay in view too.
    order = {"resourceType": "ServiceRequest", "id": "draft-1", "status": "draft", "intent": "order",
             "subject": {"reference": f"Patient/{report.patient_id}"}, "code": {"text": procedure},
             "occurrenceDateTime": (EXAM + timedelta(hours=6)).isoformat()}
    found = [cf.card for cf in order_cards([order], [analysis], patient_id=report.patient_id or "p",
                                           now=EXAM + timedelta(days=1))]
    check_cards(found, demo=True, validate_r4=validate_r4)
    [prior] = _topic(found, "prior-imaging")
    assert prior.summary.startswith("Prior ") and "LR-5" in prior.summary and "portal venous gas" in prior.summary
    [duplicate] = _topic(found, "duplicate-imaging")
    assert duplicate.summary.endswith("was done 6 hours from this order"), duplicate.summary


@pytest.mark.parametrize(("task", "value", "words"), [
    (TaskName.temporal_comparison, TemporalValue(changes=[]), "No change against the prior imaging was named"),
    (TaskName.temporal_comparison, TemporalValue(changes=[TemporalChange(finding=" \t", change="new")]),
     "No change against the prior imaging was named"),
    (TaskName.radiology_ner, EntitiesValue(), "No entity was named"),
    (TaskName.abnormality_detection, ChexpertValue(labels={}), "Not mentioned in the report"),
], ids=["temporal-none", "temporal-blank", "entities-none", "chexpert-none"])
def test_an_answer_with_nothing_in_it_still_says_so(
    task: TaskName, value: Any, words: str, validate_r4: Any, profile_problems: Any
) -> None:
    """No value and no component: the note (and narrative) must say the answer named nothing."""
    report = _chest_report(_rid("empty", task.value, str(len(json.dumps(value.model_dump())))))
    result = _result(task, value, report, [], DEMO, decided_by="model", confidence=0.3)
    obs = observation_for(result, report, demo=True)
    check_observation(obs, result, report, demo=True, validate_r4=validate_r4, profile_problems=profile_problems)
    assert "component" not in obs and not any(k.startswith("value") for k in obs)
    assert any(words in n["text"] for n in obs["note"])
