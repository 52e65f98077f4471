"""Outputs round 5: more unseen reports through the real pipeline, every output held to its standard.

Reports written for this file (categories round 4 did not run: BI-RADS 1/5, Lung-RADS 3/4B, LI-RADS
LR-3/LR-NC/LR-TR Nonviable, TI-RADS TR1/TR4 with a size, PI-RADS 3/5, O-RADS 0/3, NI-RADS neck 4 and
primary 2b, CAD-RADS 0 and 3/P2, VI-RADS 1/3, GB-RADS 0/5; a category the guideline table lacks;
critical results round 4 did not show; cN1/cM1 staging; a patient id that is no FHIR id; Word's
vertical tab and other control characters in the text; an exam time east of UTC) are analysed by the
real Pipeline (demo GGUF + rules engine, SQLite). Their FHIR R4 Observations and Bundles, CDS Hooks
cards and ORU^R01 are checked against FHIR R4 (fhirkit, fhircraft, fhir.resources R4B and the R4
invariants those do not evaluate: obs-6, obs-7, ref-1, Coding system+code, canonical URIs, UCUM,
instants), CDS Hooks 2.0 and HL7 v2.5.1.

Every category of the guideline table, for all ten systems, is also run as a typed result (as the
pipeline builds one) through the card, Observation and OBX writers.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import hl7
import pytest
import test_fhir_profiles
from card_probe import suggested as _resources
from card_probe import topic as _topic
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.cds.cards import report_cards
from adapters.cds.guidelines import GUIDELINES, guideline_for
from adapters.cds.models import Card, CdsResponse, empty_paths, summary_length, wire
from adapters.fhir import codes, observations_for, structure_definitions, transaction_bundle
from adapters.hl7 import analysis_to_oru, parse_oru, unescape
from models.text import evidence_for
from models.types import (
    DEMO_NOTICE,
    Analysis,
    CriticalFinding,
    Evidence,
    ModelIdentity,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskResult,
)
from plugin.pipeline import Actor, Pipeline
from plugin.planner import plan_report
from plugin.storage.db import make_engine, make_sessionmaker, upgrade

globals().update(
    profile_models=test_fhir_profiles.profile_models, profile_problems=test_fhir_profiles.profile_problems
)

EXAM = datetime(2026, 7, 14, 16, 5, 12, tzinfo=timezone(timedelta(hours=5, minutes=30)))
FHIR_SERVER = "https://fhir.hospital.example/r4"
DEMO = ModelIdentity(
    model_id="smollm2-135m-demo", sha256="e7" * 32, backend="llama_cpp", role="generation", version="Q4_1", demo=True
)


def _report(
    rid: str, procedure: str, modality: str, findings: str, impression: str, **kw: Any
) -> RadiologyReport:
    return RadiologyReport(
        report_id=rid,
        patient_id=kw.pop("patient_id", f"p5-{rid}"),
        accession=f"ACC5-{rid.upper()}",
        modality=modality,
        procedure=procedure,
        effective=kw.pop("effective", EXAM),
        issued=kw.pop("issued", EXAM + timedelta(hours=2)),
        source_format=kw.pop("source_format", "fhir"),
        findings=findings,
        impression=impression,
        **kw,
    )


# id -> (report, expected RADS (system, category) or None)
CASES: dict[str, tuple[RadiologyReport, tuple[str, str] | None]] = {
    r.report_id: (r, x)
    for r, x in [
        (_report("b1", "MAMMO SCREENING BILAT 3D", "MG",
                 "Scattered areas of fibroglandular density. No suspicious mass, calcification or distortion.",
                 "BI-RADS 1: Negative. Routine annual screening mammogram recommended."), ("BI-RADS", "1")),
        (_report("b5", "MG DIAGNOSTIC LEFT", "MG",
                 "Left breast 2 o'clock, 5 cm from the nipple: 23 mm spiculated high-density mass with fine "
                 "linear branching calcifications.",
                 "Highly suggestive of malignancy. BI-RADS 5. Stereotactic or US-guided biopsy advised."),
         ("BI-RADS", "5")),
        (_report("l3", "CT LUNG CANCER SCREENING LOW DOSE", "CT",
                 "Baseline screening. Right middle lobe solid nodule measuring 6.8 mm. No other nodules.",
                 "Lung-RADS 3, probably benign. Recommend 6 month LDCT."), ("Lung-RADS", "3")),
        (_report("l4b", "CT CHEST LDCT SCREENING ANNUAL", "CT",
                 "Left upper lobe solid nodule now 17 mm, previously 9 mm. No adenopathy.",
                 "Lung-RADS 4B: very suspicious growing left upper lobe nodule. PET/CT and pulmonology referral."),
         ("Lung-RADS", "4B")),
        (_report("li3", "MRI LIVER WITH AND WITHOUT CONTRAST", "MR",
                 "Cirrhosis. Segment 5 observation 1.3 cm with nonrim arterial phase hyperenhancement, no washout, "
                 "no capsule.",
                 "LI-RADS 3 (LR-3) observation, intermediate probability. Repeat MRI in 3-6 months."),
         ("LI-RADS", "LR-3")),
        (_report("linc", "CT LIVER MULTIPHASE", "CT",
                 "Severe streak artifact from embolization coils degrades the arterial phase in segment 7.",
                 "LR-NC: observation not categorizable due to image degradation. Repeat MRI within 3 months."),
         ("LI-RADS", "LR-NC")),
        (_report("litrn", "MRI ABDOMEN LIVER PROTOCOL", "MR",
                 "Segment 2 microwave ablation zone without nodular enhancement.",
                 "LI-RADS LR-TR Nonviable treated observation in segment 2. Continue post-treatment imaging."),
         None),
        (_report("litrx", "MRI ABDOMEN LIVER PROTOCOL", "MR",
                 "Segment 3 radiation-treated observation, smaller than before.",
                 "LR-TR Nonviable, segment 3. Continue imaging surveillance."), ("LI-RADS", "LR-TR Nonviable")),
        (_report("ti4", "US SOFT TISSUE NECK THYROID", "US",
                 "Right lobe solid hypoechoic nodule with smooth margins, 1.6 x 1.2 x 1.0 cm.",
                 "ACR TI-RADS TR4 right thyroid nodule, 1.6 cm. Fine needle aspiration is recommended."),
         ("TI-RADS", "TR4")),
        (_report("ti1", "US THYROID", "US",
                 "Left lobe spongiform nodule 0.8 cm.", "TI-RADS 1 (TR1): benign. No follow-up."), ("TI-RADS", "TR1")),
        (_report("pi5", "MR PROSTATE W WO CONTRAST", "MR",
                 "Right anterior transition zone lenticular lesion 19 mm with marked diffusion restriction and "
                 "extraprostatic extension.",
                 "PI-RADS 5 lesion right anterior transition zone with extraprostatic extension."),
         ("PI-RADS", "5")),
        (_report("pi3", "MRI PROSTATE", "MR",
                 "Left peripheral zone focal mildly hypointense area on ADC, 7 mm.",
                 "PI-RADS 3: equivocal left peripheral zone lesion. Correlate with PSA density."), ("PI-RADS", "3")),
        (_report("or0", "US PELVIS TRANSABDOMINAL", "US",
                 "Ovaries not visualized due to bowel gas and body habitus.",
                 "O-RADS 0: incomplete evaluation. Recommend transvaginal ultrasound or pelvic MRI."), ("O-RADS", "0")),
        (_report("or3", "US PELVIS TRANSVAGINAL", "US",
                 "Left ovary 4.5 cm unilocular cyst with smooth inner wall and a single thin septation.",
                 "O-RADS US 3: low risk left adnexal lesion. Gynecology referral."), ("O-RADS", "3")),
        (_report("ni4", "CT SOFT TISSUE NECK W CONTRAST", "CT",
                 "Enlarging necrotic left level II node now 3.1 cm; biopsy proven recurrence.",
                 "NI-RADS neck 4: definite nodal recurrence."), ("NI-RADS", "4")),
        (_report("cad0", "CT CORONARY CALCIUM AND CTA", "CT",
                 "No coronary plaque or stenosis. Calcium score 0.", "CAD-RADS 0: no coronary artery disease."),
         ("CAD-RADS", "0")),
        (_report("cad3", "CTA CORONARY ARTERIES", "CT",
                 "Proximal LAD 60% stenosis with calcified plaque. Moderate plaque burden.",
                 "CAD-RADS 3/P2: moderate stenosis. Consider functional testing."), ("CAD-RADS", "3")),
        (_report("vi3", "MRI PELVIS BLADDER MULTIPARAMETRIC", "MR",
                 "Right lateral wall 2.2 cm broad-based tumour; the muscularis propria interface is not clearly "
                 "preserved.",
                 "VI-RADS 3: equivocal for muscle invasion."), ("VI-RADS", "3")),
        (_report("gb0", "US ABDOMEN RUQ", "US",
                 "Gallbladder contracted after a meal; wall not evaluable.",
                 "GB-RADS 0: not evaluable. Repeat ultrasound after fasting."), ("GB-RADS", "0")),
        (_report("gb5", "US GALLBLADDER", "US",
                 "Gallbladder wall mass-forming thickening 14 mm with loss of the interface with the liver.",
                 "GB-RADS 5: highly likely malignant. Surgical referral."), ("GB-RADS", "5")),
        (_report("lr4", "CT CHEST LOW DOSE SCREENING", "CT",
                 "Baseline screening. Right upper lobe solid nodule 10 mm.",
                 "Lung-RADS category 4 nodule. Recommend PET/CT."), None),
        (_report("crit3", "CTA CHEST AORTA", "CT",
                 "Intimal flap from the ascending aorta to the aortic arch.",
                 "Acute Stanford type A aortic dissection. Called to Dr. Rao at 16:20."), None),
        (_report("crit4", "CT ABDOMEN PELVIS WO CONTRAST", "CT",
                 "Large volume free air under both hemidiaphragms. No recent surgery.",
                 "Pneumoperitoneum (free air), likely perforated viscus. Discussed with surgery."), None),
        (_report("crit5", "XR CHEST PORTABLE AP", "CR",
                 "Endotracheal tube tip in the right main stem bronchus. Left lung volume loss.",
                 "Malpositioned endotracheal tube in the right mainstem bronchus; recommend retraction by 3 cm."),
         None),
        (_report("neg1", "XR CHEST PA", "DX",
                 "No pneumothorax. No pleural effusion. Heart size normal.",
                 "No acute cardiopulmonary process. No pneumothorax."), None),
        (_report("stg", "CT NECK CHEST W CONTRAST STAGING", "CT",
                 "Known right tonsil carcinoma. Single ipsilateral level II node 2.4 cm. Multiple bilateral "
                 "pulmonary nodules consistent with metastases.",
                 "Ipsilateral single nodal metastasis, N1. Pulmonary metastases, M1."), None),
        (_report("hl7id", "XR KNEE RIGHT 3 VIEWS", "DX",
                 "Mild medial joint space narrowing. No fracture.",
                 "Mild medial compartment osteoarthritis.",
                 patient_id="MRN_0091 22/B", source_format="hl7v2"), None),
        (_report("ctl", "CT ABDOMEN W CONTRAST", "CT",
                 "Liver: 1.2 cm hypodense lesion segment 6.\x0bSpleen: normal.\x0cKidneys: normal.\x07",
                 "Indeterminate 1.2 cm liver lesion.\x0bRecommend MRI abdomen in 3 months."), None),
    ]
}
IDS = list(CASES)
UNTIMED_OFFSET = "+05:30"


@pytest.fixture(scope="module")
def analyses(
    ensemble: Any, tmp_path_factory: pytest.TempPathFactory, settings_for: Any
) -> Iterator[dict[str, Analysis]]:
    """Every case analysed once by the real pipeline (demo GGUF, rules engine, SQLite); NER left out
    (256 demo tokens per report, and round 4 covers its output)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('round5') / 'radlite.db'}"
    upgrade(url)
    engine = make_engine(url)
    pipeline = Pipeline(settings_for(url), make_sessionmaker(engine), ensemble)
    out = {}
    try:
        for rid, (report, _) in CASES.items():
            tasks = [p.task for p in plan_report(report).tasks if p.task != TaskName.radiology_ner]
            out[rid] = pipeline.analyse_sync(report, actor=Actor(id="round5", kind="cli"), tasks=tasks)
        yield out
    finally:
        pipeline.close()
        engine.dispose()


def _cards(analysis: Analysis) -> list[Card]:
    return report_cards(analysis, patient_id=analysis.report.patient_id or "p", fhir_server=FHIR_SERVER)


# ---- FHIR R4 rules that fhir.resources, fhirkit and fhircraft leave unchecked -------------------------

FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
LITERAL_REF = re.compile(
    r"^((https?://\S+/)?[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?|urn:uuid:[0-9a-f-]{36}|#\S*)$"
)
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
DATE_TIME = re.compile(r"^\d{4}(-\d\d(-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d))?)?)?$")
CANONICAL = {"loinc": codes.LOINC, "snomed": codes.SNOMED, "unitsofmeasure": codes.UCUM, "ucum": codes.UCUM}
OIDS = {"2.16.840.1.113883.6.1", "2.16.840.1.113883.6.96", "2.16.840.1.113883.6.8"}  # LOINC, SNOMED CT, UCUM
VALUE_KEYS = ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger", "valueRange",
              "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod")
CODING_KEYS = {"security", "tag", "valueCoding", "topic"}


def _walk(node: Any, path: str = "$") -> Iterator[tuple[str, str | None, Any]]:
    """(path, key, value) of every value in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield f"{path}.{k}", k, v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield f"{path}[{i}]", None, v
            yield from _walk(v, f"{path}[{i}]")


def _codings(resource: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, key, value in _walk(resource):
        if key == "coding" and isinstance(value, list):
            yield from ((f"{path}[{i}]", c) for i, c in enumerate(value))
        elif key in CODING_KEYS and isinstance(value, list):
            yield from ((f"{path}[{i}]", c) for i, c in enumerate(value) if isinstance(c, dict))
        elif key in CODING_KEYS and isinstance(value, dict):
            yield path, value


def _same_coding(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("system") == b.get("system") and a.get("code") == b.get("code")


def r4_rule_problems(resource: dict[str, Any]) -> list[str]:
    """FHIR R4 rules no offline validator here evaluates: obs-6, obs-7, ref-1 and well-formed literal
    references, Coding system+code with canonical URIs, UCUM Quantities, instants with a zone, and
    strings free of the control characters FHIR forbids (and XHTML cannot hold)."""
    out: list[str] = []
    for path, c in _codings(resource):
        if not (c.get("system") and c.get("code")):
            out.append(f"{path}: Coding without system and code")
        system = str(c.get("system", ""))
        for word, canonical in CANONICAL.items():
            if word in system.lower() and system != canonical:
                out.append(f"{path}: {system} is not the canonical {canonical}")
        if any(oid in system for oid in OIDS):
            out.append(f"{path}: OID {system} where the canonical URI belongs")
    contained = {f"#{r.get('id')}" for r in resource.get("contained", [])}
    for path, key, value in _walk(resource):
        if isinstance(value, str) and re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", value):
            out.append(f"{path}: control character in a FHIR string")
        if key == "reference" and isinstance(value, str):
            if not LITERAL_REF.match(value):
                out.append(f"{path}: {value!r} is not a literal reference")
            if value.startswith("#") and value not in contained:
                out.append(f"{path}: ref-1, no contained resource {value}")
        if key in ("valueQuantity", "quantity") and isinstance(value, dict):
            if value.get("system") != codes.UCUM or not value.get("code"):
                out.append(f"{path}: Quantity without a UCUM code")
        if key in ("issued", "recorded", "lastUpdated") and not INSTANT.match(str(value)):
            out.append(f"{path}: {value!r} is no instant with a zone")
        if key in ("effectiveDateTime", "occurrenceDateTime", "authoredOn") and not DATE_TIME.match(str(value)):
            out.append(f"{path}: {value!r} is no FHIR dateTime (a time needs a zone)")
    if resource.get("resourceType") == "Observation":
        has_value = any(k in resource for k in VALUE_KEYS)
        if has_value and "dataAbsentReason" in resource:
            out.append("obs-6: dataAbsentReason with a value")
        for i, comp in enumerate(resource.get("component", [])):
            if any(k in comp for k in VALUE_KEYS) and "dataAbsentReason" in comp:
                out.append(f"obs-6: component {i} has dataAbsentReason with a value")
            if has_value and any(_same_coding(a, b) for a in comp["code"].get("coding", [])
                                 for b in resource["code"].get("coding", [])):
                out.append(f"obs-7: component {i} repeats Observation.code while a value is present")
    return out


PROFILE_URLS = {sd["url"] for sd in structure_definitions()}


def _subject_of(report: RadiologyReport) -> dict[str, Any]:
    """What Observation.subject must say: the FHIR id received, or (an MRN that is no FHIR id) the identifier."""
    pid = report.patient_id or ""
    if FHIR_ID.match(pid):
        return {"reference": f"Patient/{pid}"}
    return {"type": "Patient", "identifier": {"type": {"coding": [
        {"system": codes.V2_0203, "code": "MR", "display": "Medical record number"}]}, "value": pid}}


def _demo_marked(obs: dict[str, Any]) -> bool:
    tag = {"system": codes.RADLITE_CS, "code": codes.DEMO_TAG_CODE, "display": DEMO_NOTICE}
    return tag in obs["meta"].get("tag", []) and any(DEMO_NOTICE in n["text"] for n in obs.get("note", []))


def check_observation(obs: dict[str, Any], report: RadiologyReport, validate_r4: Any, profile_problems: Any) -> None:
    validate_r4(obs)
    assert r4_rule_problems(obs) == [], obs["meta"]["profile"]
    [profile] = obs["meta"]["profile"]
    assert profile in PROFILE_URLS and profile_problems(obs) == [], profile
    assert obs["status"] == "preliminary" and codes.AIAST in obs["meta"]["security"]
    if report.patient_id:
        assert obs["subject"] == _subject_of(report)
    assert "basedOn" not in obs and "derivedFrom" not in obs  # nothing received names an order or a source we hold
    assert _demo_marked(obs) and DEMO_NOTICE in obs["text"]["div"]


# ---- CDS Hooks 2.0 card schema -----------------------------------------------------------------------

RELATIVE_REF = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


def card_problems(card: dict[str, Any], *, demo: bool) -> list[str]:
    """CDS Hooks 2.0 §1.6 rules and the 3.0 ballot invariants cds-resp-1..6, on one wire card."""
    out: list[str] = []
    if not (isinstance(card.get("summary"), str) and 0 < summary_length(card["summary"]) < 140):
        out.append("summary must be 1-139 characters")
    if "\n" in card.get("summary", ""):
        out.append("summary is one line")
    if card.get("indicator") not in ("info", "warning", "critical"):
        out.append(f"indicator {card.get('indicator')!r}")
    source = card.get("source") or {}
    if not source.get("label"):
        out.append("source.label is required")
    topic = source.get("topic")
    if topic is not None and not (topic.get("system") and topic.get("code")):
        out.append("source.topic is a Coding: system and code")
    try:
        uuid.UUID(card.get("uuid", ""))
    except ValueError:
        out.append("card uuid missing or malformed")
    suggestions = card.get("suggestions")
    if suggestions is not None:
        if card.get("selectionBehavior") not in ("at-most-one", "any"):
            out.append("cds-resp-6: suggestions need selectionBehavior any|at-most-one")
        if card.get("selectionBehavior") == "at-most-one" and sum(bool(s.get("isRecommended")) for s in suggestions) > 1:
            out.append("cds-resp-1")
        for s in suggestions:
            if not s.get("label"):
                out.append("suggestion.label is required")
            try:
                uuid.UUID(s.get("uuid", ""))
            except ValueError:
                out.append("suggestion uuid missing or malformed")
            for a in s.get("actions", []):
                kind = a.get("type")
                if kind not in ("create", "update", "delete") or not a.get("description"):
                    out.append(f"action type {kind!r} / description (cds-resp-5)")
                if kind == "create" and not (isinstance(a.get("resource"), dict) and a["resource"].get("resourceType")):
                    out.append("create carries a new resource")
                if kind == "update" and not (isinstance(a.get("resource"), dict) and a["resource"].get("id")):
                    out.append("update carries the whole resource, with its id")
                if kind == "delete" and (not RELATIVE_REF.match(a.get("resourceId", "")) or "resource" in a):
                    out.append("cds-resp-2: delete names resourceId (relative reference) and no resource")
                if demo and kind in ("create", "update") and DEMO_NOTICE not in json.dumps(a.get("resource")):
                    out.append("a resource proposed from a demo model carries the demo notice")
    for reason in card.get("overrideReasons", []):
        if not (reason.get("system") and reason.get("code") and reason.get("display")):
            out.append("cds-resp-4: overrideReasons are Codings with display")
    for link in card.get("links", []):
        if not (link.get("label") and link.get("url") and link.get("type") in ("absolute", "smart")):
            out.append("link needs label, url and type absolute|smart")
        if link.get("type") != "smart" and "appContext" in link:
            out.append("cds-resp-3")
        if link.get("type") == "absolute" and not str(link.get("url")).startswith("https://"):
            out.append("absolute link is an https URL")
    if demo and not (DEMO_NOTICE in source.get("label", "") and DEMO_NOTICE in card.get("detail", "")):
        out.append("demo notice on the card's source label and detail")
    return out


def check_cards(cards: list[Card], *, demo: bool, validate_r4: Any, profile_problems: Any,
                report: RadiologyReport) -> dict[str, Any]:
    body = wire(CdsResponse(cards=cards))
    assert empty_paths(body) == []
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert [rank[c["indicator"]] for c in body["cards"]] == sorted(rank[c["indicator"]] for c in body["cards"])
    for card in body["cards"]:
        assert card_problems(card, demo=demo) == [], card["summary"]
        for s in card.get("suggestions", []):
            for a in s["actions"]:
                if a.get("resource"):
                    validate_r4(a["resource"])
                    assert r4_rule_problems(a["resource"]) == [], a["resource"]["resourceType"]
                    if a["resource"]["resourceType"] == "Observation":
                        check_observation(a["resource"], report, validate_r4, profile_problems)
    return body


# ---- HL7 v2.5.1 ORU^R01 out ---------------------------------------------------------------------------

OBX3_SYSTEMS = {"L", "LN", "RADLEX", "RADELEMENT", "SCT"}
VALUE_TYPES = {"ST", "TX", "CWE", "NM"}


def oru_problems(er7: str) -> list[str]:
    """ORU^R01 rules of v2.5.1 ch. 2 and 7: MSH-9, OBX-2 matching OBX-5, OBX-3 coded, OBX-11 from table 0085,
    delimiters escaped, and no control character that would end a segment or an MLLP frame."""
    out: list[str] = []
    if not er7.endswith("\r") or "\n" in er7:
        out.append("segments end with CR only")
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", er7):
        out.append("raw control character in the message (VT/FS end an MLLP frame)")
    segments = [s.split("|") for s in er7.split("\r") if s]
    msh = segments[0]
    if msh[0] != "MSH" or msh[8] != "ORU^R01^ORU_R01" or not msh[9] or msh[11] != "2.5.1":
        out.append("MSH-9 ORU^R01^ORU_R01, MSH-10 set, MSH-12 2.5.1")
    obx = [f for f in segments if f[0] == "OBX"]
    if [int(f[1]) for f in obx] != list(range(1, len(obx) + 1)):
        out.append("OBX-1 set ids run 1..n")
    for f in obx:
        if len(f) > 20 or len(f) < 12:
            out.append(f"OBX with {len(f) - 1} fields: a delimiter in a value split it")
            continue
        kind, ident, value = f[2], f[3].split("^"), f[5]
        if kind not in VALUE_TYPES:
            out.append(f"OBX-2 {kind!r}")
        if len(ident) < 3 or not ident[0] or not ident[1] or ident[2] not in OBX3_SYSTEMS:
            out.append(f"OBX-3 {f[3]!r} is code^text^system")
        if kind == "CWE":
            parts = value.split("^")
            if len(parts) not in (3, 6) or not parts[0] or parts[2] not in OBX3_SYSTEMS or "~" in value:
                out.append(f"OBX-5 {value!r} is no CWE")
        if kind == "ST" and ("~" in value or len(unescape(value)) > 199):
            out.append(f"OBX-5 {value!r} is no ST")
        if kind == "NM" and not re.fullmatch(r"[+-]?\d+(\.\d+)?", value):
            out.append(f"OBX-5 {value!r} is no NM")
        if kind in ("ST", "TX") and "^" in value:
            out.append(f"OBX-5 {value!r}: an unescaped component separator")
        if f[11] not in ("P",):
            out.append(f"OBX-11 {f[11]!r}: our results are preliminary (P)")
        if f[8] not in ("", "A", "AA"):
            out.append(f"OBX-8 {f[8]!r}")
    for f in segments:
        if f[0] == "NTE" and (len(f) != 4 or f[2] != "L"):
            out.append("NTE|n|L|comment")
    return out


def _segments(er7: str, kind: str) -> list[list[str]]:
    return [s.split("|") for s in er7.split("\r") if s.startswith(kind + "|")]


def _hl7_time(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S%z")


# ---- the real pipeline's outputs -------------------------------------------------------------------------


@pytest.mark.parametrize("rid", IDS)
def test_every_observation_is_r4_valid_including_the_rules_validators_miss(
    rid: str, analyses: dict[str, Analysis], validate_r4: Any, profile_problems: Any
) -> None:
    analysis = analyses[rid]
    assert analysis.demo, "the packaged manifest serves the demo model"
    observations = observations_for(analysis)
    assert observations
    for obs in observations:
        check_observation(obs, analysis.report, validate_r4, profile_problems)
        assert obs["effectiveDateTime"] == "2026-07-14T16:05:12+05:30"  # the zone as received, not shifted


@pytest.mark.parametrize("rid", ["b5", "ni4", "cad3", "crit5", "stg", "hl7id", "ctl"])
def test_transaction_bundle_entries_resolve_to_what_was_received(
    rid: str, analyses: dict[str, Analysis], validate_r4: Any
) -> None:
    analysis = analyses[rid]
    bundle = transaction_bundle(analysis)
    validate_r4(bundle)
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)  # bdl-7
    for entry in bundle["entry"]:
        assert entry["request"]["method"] in ("POST", "PUT") and entry["request"]["url"]  # bdl-3
        assert r4_rule_problems(entry["resource"]) == [], entry["resource"]["resourceType"]
        for _, key, value in _walk(entry["resource"]):
            if key == "reference" and isinstance(value, str) and value.startswith("urn:uuid:"):
                assert value in full_urls, "a urn:uuid reference resolves inside the Bundle"
    [prov] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    report = analysis.report
    expected_source = (
        {"reference": f"DiagnosticReport/{report.report_id}", "type": "DiagnosticReport"}
        if report.source_format == "fhir"
        else {"type": "DiagnosticReport", "identifier": {"type": {"coding": [
            {"system": codes.V2_0203, "code": "ACSN", "display": "Accession ID"}]}, "value": report.accession}}
    )
    assert prov["entity"] == [{"role": "source", "what": expected_source}]
    for obs in (e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"):
        assert obs["subject"] == _subject_of(report)


@pytest.mark.parametrize("rid", IDS)
def test_every_card_obeys_cds_hooks_2(
    rid: str, analyses: dict[str, Analysis], validate_r4: Any, profile_problems: Any
) -> None:
    analysis = analyses[rid]
    check_cards(_cards(analysis), demo=True, validate_r4=validate_r4, profile_problems=profile_problems,
                report=analysis.report)


@pytest.mark.parametrize("rid", [rid for rid, (_, x) in CASES.items() if x])
def test_stated_category_drives_observation_card_and_obx(rid: str, analyses: dict[str, Analysis]) -> None:
    system, category = CASES[rid][1]  # type: ignore[misc]
    analysis = analyses[rid]
    result = analysis.result(TaskName.rads_assignment)
    assert result is not None and isinstance(result.value, RadsValue)
    assert (result.value.system, result.value.category) == (system, category)
    evidence = result.evidence
    size = None
    if system == "TI-RADS":
        from adapters.cds.cards import largest_size_cm

        size = largest_size_cm(evidence)
    g = guideline_for(system, category, size_cm=size)
    assert g is not None
    high = g.indicator == "warning"
    [obs] = [o for o in observations_for(analysis) if o["meta"]["profile"][0].endswith("/radlite-rads-assessment")]
    assert obs["valueCodeableConcept"]["text"] == result.value.full_label
    assert (obs.get("interpretation") == [codes.ABNORMAL_INTERPRETATION]) == (high and system != "TI-RADS" or
                                                                              category == "TR5")
    [card] = _topic(_cards(analysis), "rads")
    assert card.indicator == g.indicator, "the report states the category: a model's differing guess does not raise it"
    assert result.value.full_label in card.summary
    detail = card.detail or ""
    assert g.management in detail and g.follow_up in detail
    orders = _resources(card, "ServiceRequest")
    assert bool(orders) == (g.order is not None)
    for sr in orders:
        assert sr["code"]["text"] == g.order.text and sr["status"] == "draft" and sr["intent"] == "proposal"  # type: ignore[union-attr]
    er7 = analysis_to_oru(analysis)
    [rads] = [f for f in _segments(er7, "OBX") if f[5].split("^")[0] == category and "MODIFIER" not in f[3]
              and "NI-RADS-" not in f[3]]
    assert rads[8] == ("A" if obs.get("interpretation") else "")


def test_ti_rads_tr4_at_fna_size_is_a_warning_with_an_fna_order(analyses: dict[str, Analysis]) -> None:
    [card] = _topic(_cards(analyses["ti4"]), "rads")
    assert card.indicator == "warning" and "1.6 cm" in (card.detail or "")
    [sr] = _resources(card, "ServiceRequest")
    assert sr["code"]["text"] == "US-guided thyroid FNA"


@pytest.mark.parametrize(("rid", "term"), [("crit3", "aortic dissection"), ("crit4", "free air"),
                                           ("crit5", "malpositioned support device")])
def test_critical_results_are_critical_everywhere(rid: str, term: str, analyses: dict[str, Analysis]) -> None:
    analysis = analyses[rid]
    cards = _cards(analysis)
    assert cards[0].indicator == "critical" and term in cards[0].summary
    assert "category 1" in (cards[0].detail or "")  # ACR actionable category (rads-management.md §12)
    assert [c for c in cards if c.indicator == "critical"] == cards[:1]
    [obs] = [o for o in observations_for(analysis) if o["meta"]["profile"][0].endswith("/radlite-critical-finding")]
    assert obs["interpretation"] == [codes.CRITICAL_INTERPRETATION] and obs["valueCodeableConcept"]["text"] == term
    [obx] = [f for f in _segments(analysis_to_oru(analysis), "OBX") if f[3].startswith("RADLITE-CRITICAL^")]
    assert obx[8] == "AA" and unescape(obx[5].split("^")[1]) == term


def test_a_negated_critical_finding_gives_no_critical_output(analyses: dict[str, Analysis]) -> None:
    analysis = analyses["neg1"]
    assert not analysis.facts.critical
    assert all(c.indicator != "critical" for c in _cards(analysis))
    assert "|AA|" not in analysis_to_oru(analysis)


def test_cn1_and_cm1_carry_the_ajcc_code_and_no_invented_snomed(analyses: dict[str, Analysis]) -> None:
    analysis = analyses["stg"]
    obs = {o["meta"]["profile"][0].rsplit("/", 1)[1]: o for o in observations_for(analysis)}
    for profile, stage in (("radlite-n-stage", "cN1"), ("radlite-m-stage", "cM1")):
        value = obs[profile]["valueCodeableConcept"]
        assert value["text"] == stage
        assert value["coding"] == [{"system": codes.AJCC, "code": stage, "display": stage}]
        assert obs[profile]["method"] == codes.AJCC_8TH_METHOD
    er7 = analysis_to_oru(analysis)
    stages = {f[3].split("^")[0]: f[5] for f in _segments(er7, "OBX") if f[3].split("^")[0] in ("21906-3", "21907-1")}
    assert stages == {"21906-3": "cN1^cN1^L", "21907-1": "cM1^cM1^L"}


def test_a_patient_id_that_is_no_fhir_id_is_sent_as_an_identifier(analyses: dict[str, Analysis]) -> None:
    analysis = analyses["hl7id"]
    for obs in observations_for(analysis):
        assert obs["subject"] == _subject_of(analysis.report)
        assert "reference" not in obs["subject"]
    [pid] = _segments(analysis_to_oru(analysis), "PID")
    assert unescape(pid[3].split("^")[0]) == "MRN_0091 22/B"


def test_control_characters_never_reach_fhir_strings_or_the_wire(
    analyses: dict[str, Analysis], validate_r4: Any
) -> None:
    """Word writes a soft line break as VT (0x0B); in an ORU it would end the MLLP frame, in FHIR it is no string."""
    analysis = analyses["ctl"]
    for obs in observations_for(analysis):
        assert r4_rule_problems(obs) == []
    for card in _cards(analysis):
        assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", json.dumps(wire(card), ensure_ascii=False))
    er7 = analysis_to_oru(analysis)
    assert oru_problems(er7) == []
    follow = [unescape(f[5]) for f in _segments(er7, "OBX") if f[3].startswith("RADLITE-FOLLOWUP^")]
    assert follow and all("Recommend MRI abdomen in 3 months." in t for t in follow)


@pytest.mark.parametrize("rid", IDS)
def test_oru_out_follows_v251(rid: str, analyses: dict[str, Analysis]) -> None:
    analysis = analyses[rid]
    er7 = analysis_to_oru(analysis, now=datetime(2026, 7, 14, 12, 0, tzinfo=UTC))
    assert oru_problems(er7) == []
    for f in _segments(er7, "OBX"):
        assert f[14] == _hl7_time(EXAM) == "20260714160512+0530" and f[19] == "20260714120000+0000"
    [obr] = _segments(er7, "OBR")
    assert obr[7] == "20260714160512+0530" and obr[25] == "P"
    notes = [f[3] for f in _segments(er7, "NTE")]
    # The message's own notice, and each result's that a demo model answered or was overruled on.
    assert notes.count(DEMO_NOTICE) >= 1 + sum(r.demo for r in analysis.results)
    assert all(r.demo for r in analysis.results if r.decided_by != "model")  # the demo model was consulted
    msg = hl7.parse(er7)
    assert str(msg.segment("MSH")[9]) == "ORU^R01^ORU_R01"
    parsed = parse_message(er7, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
    assert parsed.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    [again] = parse_oru(er7.encode("utf-8")).reports
    assert again.accession == analysis.report.accession and again.patient_id == analysis.report.patient_id


def test_message_control_ids_are_unique(analyses: dict[str, Analysis]) -> None:
    ids = [analysis_to_oru(a).split("\r")[0].split("|")[9] for a in analyses.values() for _ in range(3)]
    assert len(set(ids)) == len(ids) and all(0 < len(i) <= 20 for i in ids)


# ---- every category of the guideline table, all ten systems ---------------------------------------------

PROCEDURE = {
    "BI-RADS": ("US BREAST RIGHT", "US"), "Lung-RADS": ("CT CHEST LOW DOSE SCREENING", "CT"),
    "LI-RADS": ("MRI LIVER W WO", "MR"), "TI-RADS": ("US THYROID", "US"), "PI-RADS": ("MRI PROSTATE", "MR"),
    "O-RADS": ("US PELVIS TRANSVAGINAL", "US"), "NI-RADS": ("CT NECK W CONTRAST", "CT"),
    "CAD-RADS": ("CTA CORONARY", "CT"), "VI-RADS": ("MRI BLADDER", "MR"), "GB-RADS": ("US GALLBLADDER", "US"),
}


def _typed_analysis(system: str, category: str, *, decided_by: str = "model+rules",
                    facts: ReportFacts | None = None) -> Analysis:
    value = RadsValue(system=system, category=category)
    procedure, modality = PROCEDURE[system]
    sentence = f"Assessment: {value.label}."
    report = _report(f"g-{re.sub(r'[^a-z0-9]', '', (system + category).lower())}", procedure, modality,
                     "Findings as described in the dictated report.", sentence)
    evidence = evidence_for(report.text(), sentence)
    assert evidence is not None
    result = TaskResult(task=TaskName.rads_assignment, value=value, confidence=0.77, evidence=[evidence],
                        model=DEMO, decided_by=decided_by)  # type: ignore[arg-type]
    return Analysis(report=report, manifest_version="r5", results=[result], facts=facts or ReportFacts())


@pytest.mark.parametrize(("system", "category"), sorted(GUIDELINES))
def test_every_guideline_category_gives_valid_outputs_with_its_management(
    system: str, category: str, validate_r4: Any, profile_problems: Any
) -> None:
    g = GUIDELINES[(system, category)]
    analysis = _typed_analysis(system, category)
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4, profile_problems=profile_problems, report=analysis.report)
    [card] = _topic(cards, "rads")
    assert card.indicator == g.indicator and card.indicator != "critical"  # critical is for critical results only
    detail = card.detail or ""
    assert f"{g.meaning}. {g.management}." in detail and f"Follow-up: {g.follow_up}." in detail
    assert ("Actionable finding (ACR)" in detail) == g.actionable
    assert g.reference in detail
    orders = _resources(card, "ServiceRequest")
    assert [o["code"]["text"] for o in orders] == ([g.order.text] if g.order else [])
    for sr in orders:
        start = sr.get("occurrenceDateTime") or sr.get("occurrencePeriod", {}).get("start")
        assert bool(start) == bool(g.order and (g.order.earliest or g.order.latest))  # type: ignore[union-attr]
    [obs] = observations_for(analysis)
    check_observation(obs, analysis.report, validate_r4, profile_problems)
    high = g.indicator == "warning"
    assert (obs.get("interpretation") == [codes.ABNORMAL_INTERPRETATION]) == high
    if system == "BI-RADS" and category in codes.BIRADS_SNOMED:
        assert obs["valueCodeableConcept"]["coding"][0]["code"] == codes.BIRADS_SNOMED[category][0]
    er7 = analysis_to_oru(analysis)
    assert oru_problems(er7) == []
    [rads] = [f for f in _segments(er7, "OBX") if f[5].split("^")[0] == category]
    assert rads[8] == ("A" if high else "")


@pytest.mark.parametrize(("system", "category", "warns"), [
    ("CAD-RADS", "4", True),  # CAD-RADS 1.0 wording; 2.0 has only 4A and 4B, both high suspicion
    ("Lung-RADS", "4", True),  # v1.0 habit; 4A, 4B and 4X are all high suspicion
    ("LI-RADS", "LR-TR Nonprogressing", False),  # the radiation TR pathway the table does not hold
    ("BI-RADS", "7", False),  # no such category
])
def test_a_category_the_table_lacks_proposes_nothing_and_never_understates(
    system: str, category: str, warns: bool, validate_r4: Any, profile_problems: Any
) -> None:
    """No row: no order and no guideline text is invented, the card says so and sends the reader to the
    report; a category whose every subcategory in the table is of high suspicion is not shown as less."""
    assert guideline_for(system, category) is None
    analysis = _typed_analysis(system, category)
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4, profile_problems=profile_problems, report=analysis.report)
    [card] = _topic(cards, "rads")
    label = RadsValue(system=system, category=category).label
    assert label in card.summary and "see report" in card.summary
    assert not _resources(card, "ServiceRequest")
    assert f"No guideline row for {label}" in (card.detail or "")
    assert card.indicator == ("warning" if warns else "info")
    [obs] = observations_for(analysis)
    check_observation(obs, analysis.report, validate_r4, profile_problems)
    assert (obs.get("interpretation") == [codes.ABNORMAL_INTERPRETATION]) == warns
    [rads] = [f for f in _segments(analysis_to_oru(analysis), "OBX") if f[5].split("^")[0] == category]
    assert rads[8] == ("A" if warns else "")


def test_a_critical_result_beside_a_rads_category_leads_and_keeps_the_category_card(
    validate_r4: Any, profile_problems: Any
) -> None:
    sentence = "Assessment: Lung-RADS 2."
    critical = CriticalFinding(term="pneumothorax", evidence=[Evidence(sentence="Moderate new right pneumothorax.")])
    analysis = _typed_analysis("Lung-RADS", "2", facts=ReportFacts(critical=[critical]))
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4, profile_problems=profile_problems, report=analysis.report)
    assert [c.indicator for c in cards][:2] == ["critical", "info"]
    assert "category 1-2" in (cards[0].detail or "") and sentence in (_topic(cards, "rads")[0].detail or "")


def test_an_lr_tr_category_before_treated_is_read_by_the_rules(analyses: dict[str, Analysis]) -> None:
    """'LR-TR Nonviable treated observation': the report's category, never left to the model."""
    result = analyses["litrn"].result(TaskName.rads_assignment)
    assert result is not None and isinstance(result.value, RadsValue)
    assert result.decided_by != "model"
    assert (result.value.system, result.value.category) == ("LI-RADS", "LR-TR Nonviable")


def test_a_model_rads_system_that_cannot_apply_is_not_flagged_anywhere(analyses: dict[str, Analysis]) -> None:
    """A model-only BI-RADS 4 on a liver MRI (what the demo model printed before the rules read LR-TR
    there): no output may treat it as a suspicious breast finding."""
    read = analyses["litrn"]
    stated = read.result(TaskName.rads_assignment)
    assert stated is not None
    result = stated.model_copy(update={"value": RadsValue(system="BI-RADS", category="4"), "decided_by": "model",
                                       "model": DEMO, "disagreement": None})
    analysis = read.model_copy(update={"results": [result]})
    [card] = _topic(_cards(analysis), "rads")
    assert card.indicator == "warning" and "does not apply to this study" in card.summary and not card.suggestions
    [obs] = [o for o in observations_for(analysis) if o["meta"]["profile"][0].endswith("/radlite-rads-assessment")]
    assert "interpretation" not in obs and any("does not apply to this study" in n["text"] for n in obs["note"])
    [rads] = [f for f in _segments(analysis_to_oru(analysis), "OBX") if f[3].startswith(("RID", "RDE", "RADLITE-RADS"))]
    assert rads[8] == ""


def test_a_stated_category_the_table_lacks_is_not_replaced_by_the_models_guess(analyses: dict[str, Analysis]) -> None:
    """'Lung-RADS category 4' (a v1.0 habit; v2022 has 4A, 4B, 4X): whatever reads it, the report's words stand."""
    analysis = analyses["lr4"]
    result = analysis.result(TaskName.rads_assignment)
    assert result is not None and isinstance(result.value, RadsValue)
    [card] = _topic(_cards(analysis), "rads")
    # Every reading of category 4 is of high suspicion; which subcategory is meant is unknown: no order.
    assert card.indicator == "warning" and not _resources(card, "ServiceRequest")
    if result.decided_by == "model" and result.value.system == "Lung-RADS" and result.value.category != "4":
        assert f"report states Lung-RADS 4, model read {result.value.full_label}" in card.summary
    elif result.decided_by == "model":  # the model read another system: it cannot apply to a chest CT
        assert "does not apply to this study" in card.summary


def test_a_models_category_that_contradicts_the_report_proposes_nothing(
    validate_r4: Any, profile_problems: Any
) -> None:
    analysis = _typed_analysis("BI-RADS", "4", decided_by="model")
    report = analysis.report.model_copy(update={"impression": "Assessment: BI-RADS 7."})
    evidence = evidence_for(report.text(), "Assessment: BI-RADS 7.")
    assert evidence is not None
    result = analysis.results[0].model_copy(update={"evidence": [evidence]})
    analysis = analysis.model_copy(update={"report": report, "results": [result]})
    cards = _cards(analysis)
    check_cards(cards, demo=True, validate_r4=validate_r4, profile_problems=profile_problems, report=report)
    [card] = _topic(cards, "rads")
    assert card.indicator == "warning" and "report states BI-RADS 7, model read BI-RADS 4" in card.summary
    assert not card.suggestions and "breast biopsy" not in json.dumps(wire(card)).lower()
    assert "no row in the guideline table" in (card.detail or "")
