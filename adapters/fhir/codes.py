"""Every code system, URL and code the FHIR adapter writes or reads, in one place.

Only codes checked against a source (see shared/spec/integration.md §2.3-§2.5) are
standard codes here; everything else goes to our own CodeSystem with the text beside
it, so that nothing in a chart carries an invented LOINC or SNOMED CT code.
"""

from __future__ import annotations

from typing import Final

# ---- our own canonical URLs ---------------------------------------------------------

RADLITE_BASE: Final = "http://radlite.org/fhir"
RADLITE_CS: Final = f"{RADLITE_BASE}/CodeSystem/radlite"
"""Our local CodeSystem (the task catalog uses the same URL for task codes): values without a verified standard code."""
RADLITE_SD: Final = f"{RADLITE_BASE}/StructureDefinition"
"""Base of our Observation profiles' canonical URLs (adapters/fhir/profiles.py)."""
RESULT_ID_SYSTEM: Final = f"{RADLITE_BASE}/sid/result"
"""Observation.identifier system: report key + task + content hash, for conditional creates."""
MODEL_ID_SYSTEM: Final = f"{RADLITE_BASE}/sid/model-id"
MODEL_SHA256_SYSTEM: Final = f"{RADLITE_BASE}/sid/model-sha256"
"""Device.identifier systems: the manifest id and the GGUF file's sha256."""

DEMO_TAG_CODE: Final = "demo-model"
OBSERVATION_STATUS: Final = "preliminary"
"""Every Observation we emit: AI-asserted, no clinician has confirmed it (the profiles fix it)."""

# ---- terminology.hl7.org and core -------------------------------------------------

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"
RADLEX: Final = "http://radlex.org"
RADELEMENT: Final = "https://radelement.org"
AJCC: Final = "http://cancerstaging.org"
DICOM_DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
V2_0074: Final = "http://terminology.hl7.org/CodeSystem/v2-0074"
V2_0203: Final = "http://terminology.hl7.org/CodeSystem/v2-0203"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
OBS_INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3_OBSERVATION_VALUE: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
V3_DATA_OPERATION: Final = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PROVENANCE_PARTICIPANT: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_ABSENT_REASON: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
ISSUE_TYPE: Final = "http://hl7.org/fhir/issue-type"

EXT_DERIVATION_REFERENCE: Final = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
EXT_ALTERNATE_REFERENCE: Final = "http://hl7.org/fhir/StructureDefinition/alternate-reference"

# ---- HL7 AI Transparency on FHIR (1.0.0-ballot) -----------------------------------

AI_IG: Final = "http://hl7.org/fhir/uv/aitransparency"
AI_DEVICE_TYPE_CS: Final = f"{AI_IG}/CodeSystem/AIdeviceTypeCS"
EXT_AI_CONFIDENCE: Final = f"{AI_IG}/StructureDefinition/AIconfidence"
EXT_AI_KIND: Final = f"{AI_IG}/StructureDefinition/aitransparency.AIKind"


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    """A FHIR Coding dict, leaving out an empty display."""
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, object]:
    """A CodeableConcept dict; text is the human string, always given for our own codes."""
    out: dict[str, object] = {}
    if codings:
        out["coding"] = list(codings)
    if text:
        out["text"] = text
    return out


AIAST: Final = coding(V3_OBSERVATION_VALUE, "AIAST", "Artificial Intelligence asserted")
IMAGING_CATEGORY: Final = concept(coding(OBS_CATEGORY, "imaging", "Imaging"))
CREATE_ACTIVITY: Final = concept(coding(V3_DATA_OPERATION, "CREATE", "create"))
PERFORMER_TYPE: Final = concept(coding(PROVENANCE_PARTICIPANT, "performer", "Performer"))
AI_ROLE: Final = concept(coding(AI_DEVICE_TYPE_CS, "Artificial-Intelligence", "All kinds of Artificial Intelligence"))
AI_DEVICE_TYPE: Final = AI_ROLE
AI_KIND_LLM: Final = concept(coding(AI_DEVICE_TYPE_CS, "Large-Language-Models", "Large Language Models"))
AI_KIND_RULES: Final = concept(coding(AI_DEVICE_TYPE_CS, "Rule-Based-Systems", "Rule-Based Systems"))
CRITICAL_INTERPRETATION: Final = concept(coding(OBS_INTERPRETATION, "AA", "Critical abnormal"))
ABNORMAL_INTERPRETATION: Final = concept(coding(OBS_INTERPRETATION, "A", "Abnormal"))
"""On a RADS category of high suspicion (spec §2.4: v3-ObservationInterpretation A / AA)."""

# ---- report section codes (LOINC, §2.3) --------------------------------------------

LOINC_FINDINGS: Final = "18782-3"
LOINC_IMPRESSION: Final = "19005-8"
LOINC_ADDENDUM: Final = "55107-7"
LOINC_RECOMMENDATION: Final = "18783-1"

# ---- RADS (§2.3): verified codes only, local for the rest ---------------------------

RADS_CODE: Final[dict[str, dict[str, str]]] = {
    "BI-RADS": coding(RADELEMENT, "RDE1586", "Assessment category"),
    "Lung-RADS": coding(RADLEX, "RID50134", "Lung-RADS assessment"),
    "TI-RADS": coding(RADLEX, "RID50503", "TI-RADS assessment"),
}
"""Observation.code standard coding per RADS system, where one was verified."""

BIRADS_SNOMED: Final[dict[str, tuple[str, str]]] = {
    "0": ("397138000", "Mammography assessment (Category 0) - Need additional imaging evaluation"),
    "1": ("397140005", "Mammography assessment (Category 1) - Negative"),
    "2": ("397141009", "Mammography assessment (Category 2) - Benign finding"),
    "3": ("397143007", "Mammography assessment (Category 3) - Probably benign finding"),
    "4": ("397144001", "Mammography assessment (Category 4) - Suspicious abnormality"),
    "5": ("397145000", "Mammography assessment (Category 5) - Highly suggestive of malignancy"),
    "6": ("6111000179101", "Mammography assessment (Category 6) - Known biopsy proven malignancy"),
}
"""BI-RADS value codes. 4A/4B/4C have none of their own: they get only our local code."""


def slug(text: str) -> str:
    """Lower-case code for our CodeSystem: 'Lung-RADS' -> 'lung-rads', 'pleural effusion' -> 'pleural-effusion'."""
    out = "".join(ch if ch.isalnum() else "-" for ch in text.strip().lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "unnamed"


# ---- TNM (mCODE STU4 style, §2.3) ----------------------------------------------------

CN_CATEGORY: Final = (coding(SNOMED, "399534004", "Clinical N category"),
                      coding(LOINC, "21906-3", "Regional lymph nodes.clinical [Class] Cancer"))
CM_CATEGORY: Final = (coding(SNOMED, "399387003", "Clinical M category"),
                      coding(LOINC, "21907-1", "Distant metastases.clinical [Class] Cancer"))
AJCC_8TH_METHOD: Final = concept(
    coding(SNOMED, "897275008", "American Joint Commission on Cancer, Cancer Staging Manual, 8th edition neoplasm staging system"),
    text="AJCC 8th edition",
)
TNM_SNOMED: Final[dict[str, tuple[str, str]]] = {
    "cN0": ("1229967007", "American Joint Committee on Cancer cN0"),
    "cN3": ("1229984001", "American Joint Committee on Cancer cN3"),
    "cM0": ("1229901006", "American Joint Committee on Cancer cM0"),
}
"""Only the verified SNOMED CT values; cN1, cN2 and cM1 carry the AJCC text code alone."""

# ---- findings and change (Azure RI attribute codes, §2.4) --------------------------

SCT_ABSENT: Final = coding(SNOMED, "2667000", "Absent")
SCT_NEGATIVE: Final = coding(SNOMED, "260385009", "Negative")
SCT_UNCERTAIN: Final = coding(SNOMED, "64957009", "Uncertain")
SCT_CHANGE_VALUES: Final = coding(SNOMED, "288533004", "Change values")
SCT_STABLE: Final = coding(SNOMED, "58158008", "Stable")

# ---- local codes of our CodeSystem, one per thing we say -----------------------------

LOCAL: Final[dict[str, str]] = {
    "n-involvement": "Regional nodal involvement, N category not stated",
    "entity-anatomy": "Anatomy",
    "entity-present": "Finding present",
    "entity-absent": "Finding absent",
    "entity-uncertain": "Finding uncertain",
    "entity-change": "Change described",
    "critical-finding": "Critical result",
    "follow-up-recommendation": "Follow-up recommendation",
    "follow-up-procedure": "Recommended procedure",
    "follow-up-interval": "Recommended interval",
    "positive": "Positive",
    "negative": "Negative",
    "uncertain": "Uncertain",
    "new": "New",
    "worsened": "Worsened",
    "improved": "Improved",
    "resolved": "Resolved",
    "unchanged": "Unchanged",
    "entailment": "Entailment",
    "contradiction": "Contradiction",
    "neutral": "Neutral",
    "model-backend": "Inference backend",
    "model-role": "Model role",
    "model-sha256": "GGUF file sha256",
    "rads-modifier": "RADS modifier",
    "ni-rads-primary": "NI-RADS primary site category",
    "ni-rads-neck": "NI-RADS neck category",
}

RADS_MODIFIER_CODE: Final = "rads-modifier"
"""Component code of a RADS modifier (Lung-RADS S, CAD-RADS P1-P4/HRP/I/S/G/E)."""
NI_RADS_SITE_CODES: Final[dict[str, tuple[str, str]]] = {
    site: (code, LOCAL[code]) for site, code in (("primary", "ni-rads-primary"), ("neck", "ni-rads-neck"))
}
"""Component codes of NI-RADS per-site categories; their values are the NI-RADS category codes."""
_SIGN: Final = {"+": "positive", "-": "negative", "±": "borderline"}


def rads_modifier_code(system: str, modifier: str) -> str:
    """Our code for one modifier value, ASCII only: 'lung-rads-modifier-S', 'cad-rads-modifier-I-borderline'."""
    suffix = f"I-{_SIGN[modifier[1]]}" if modifier[:1] == "I" and len(modifier) == 2 else modifier
    return f"{slug(system)}-modifier-{suffix}"


def rads_code(system: str, category: str) -> str:
    """Our code for one RADS category ('BI-RADS', '4A' -> 'bi-rads-4A')."""
    return f"{slug(system)}-{category.strip().replace(' ', '-')}"


def local(code: str, display: str | None = None) -> dict[str, str]:
    """A Coding in our CodeSystem; display defaults to the one registered in LOCAL."""
    return coding(RADLITE_CS, code, display or LOCAL.get(code))


CRITICAL_CODING: Final = local("critical-finding")
FOLLOW_UP_CODINGS: Final = (local("follow-up-recommendation"),
                            coding(LOINC, LOINC_RECOMMENDATION, "Radiology Study recommendation (narrative)"))
"""Observation.code of the rules engine's facts: shared by outbound.py and the profiles."""
