"""Body region and modality of an imaging order or report, read from its procedure text and codes.

The imaging-order service needs to know whether a drafted order and an earlier report
concern the same part of the body. Orders arrive as CPT, LOINC or local codes whose
display and text name the region ('US BREAST RIGHT LIMITED', 'CT thorax with contrast'),
so the words are the general signal; a few CPT ranges back them up when the text is bare.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["RADS_REGIONS", "body_regions", "misfit_regions", "modality_of", "order_text", "regions_of_rads"]

_REGION_WORDS: dict[str, tuple[str, ...]] = {
    "breast": ("breast", "mammo", "mammogra", "tomosynthesis", "axilla"),
    "chest": ("chest", "thorax", "thoracic", "lung", "pulmonary", "rib", "ldct", "mediastin"),
    "abdomen": ("abdomen", "abdominal", "abd", "liver", "hepatic", "gallbladder", "biliary", "pancrea", "kidney",
                "renal", "adrenal", "spleen", "mrcp", "enterography", "ruq"),
    "pelvis": ("pelvis", "pelvic", "prostate", "bladder", "ovary", "ovarian", "adnexa", "uterus", "transvaginal",
               "scrotal", "testicular", "rectum", "rectal"),
    "head": ("head", "brain", "cranial", "skull", "orbit", "sinus", "pituitary", "iac"),
    "neck": ("neck", "thyroid", "parotid", "larynx", "soft tissue neck"),
    "heart": ("heart", "cardiac", "coronary", "cta coronary", "calcium score"),
    "spine": ("spine", "cervical spine", "thoracic spine", "lumbar", "sacrum"),
    "vascular": ("aorta", "aortic", "angiogra", "venous", "carotid", "doppler"),
    "extremity": ("knee", "shoulder", "hip", "ankle", "wrist", "elbow", "hand", "foot", "femur", "tibia", "humerus",
                  "extremity"),
}

# CPT radiology codes by region (AMA ranges), used when the text names no region.
_CPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (70010, 70559, "head"), (70360, 70498, "neck"), (71010, 71555, "chest"), (72020, 72295, "spine"),
    (72170, 72198, "pelvis"), (73000, 73725, "extremity"), (74000, 74190, "abdomen"), (74176, 74178, "pelvis"),
    (75557, 75574, "heart"), (76536, 76536, "neck"), (76641, 76642, "breast"), (76700, 76775, "abdomen"),
    (76830, 76857, "pelvis"), (77046, 77067, "breast"), (71271, 71271, "chest"),
)

RADS_REGIONS: dict[str, frozenset[str]] = {
    "BI-RADS": frozenset({"breast"}), "Lung-RADS": frozenset({"chest"}), "LI-RADS": frozenset({"abdomen"}),
    "TI-RADS": frozenset({"neck"}), "PI-RADS": frozenset({"pelvis"}), "O-RADS": frozenset({"pelvis"}),
    "NI-RADS": frozenset({"neck"}), "CAD-RADS": frozenset({"heart"}), "VI-RADS": frozenset({"pelvis"}),
    "GB-RADS": frozenset({"abdomen"}),
}

_MODALITY_PATTERNS: tuple[tuple[str, str], ...] = (
    ("PT", r"\bpet\b|\bpet[-/]ct\b|positron"),
    ("MG", r"mammo|tomosynthesis|\bmg\b"),
    ("MR", r"\bmri?\b|magnetic resonance|\bmra\b|\bmrcp\b"),
    ("CT", r"\bct\b|\bcta\b|computed tomograph|\bldct\b|\bcat scan\b"),
    ("US", r"\bus\b|ultrasound|ultrasonograph|sonogra|doppler|\bechocardio"),
    ("NM", r"nuclear|scintigra|\bspect\b|\bnm\b"),
    ("XR", r"x-?ray|radiograph|\bxr\b|\bcr\b|\bdx\b|\bplain film|\bportable\b"),
)

_EQUIVALENT_MODALITY = {"CR": "XR", "DX": "XR", "XR": "XR"}


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9]+", " ", text.lower()) + " "


def body_regions(text: str, codes: list[str] | None = None) -> frozenset[str]:
    """Regions named in a procedure text ('CT ABDOMEN PELVIS' -> abdomen, pelvis), else by CPT code."""
    # "thoracic spine" and "cervical spine" name the spine, not the chest or the neck.
    words = re.sub(r" (?:thoracic|cervical|lumbar)(?= (?:[a-z]+ ){0,2}spine )", "", _words(text))
    found = {region for region, keys in _REGION_WORDS.items()
             if any(f" {k}" in words if len(k) > 4 else f" {k} " in words for k in keys)}
    if not found:
        for code in codes or []:
            if code.isdigit():
                n = int(code)
                found |= {r for lo, hi, r in _CPT_RANGES if lo <= n <= hi}
    return frozenset(found)


def modality_of(text: str, dicom: str | None = None) -> str | None:
    """Modality family of an order or report: the DICOM code when given, else from the words."""
    if dicom:
        return _EQUIVALENT_MODALITY.get(dicom.upper(), dicom.upper())
    low = text.lower()
    for code, pattern in _MODALITY_PATTERNS:
        if re.search(pattern, low):
            return code
    return None


def regions_of_rads(system: str | None) -> frozenset[str]:
    return RADS_REGIONS.get(system or "", frozenset())


def misfit_regions(decided_by: str, system: str | None, report: Any) -> str | None:
    """The study's body regions when a model-only RADS system cannot apply to them, else None.

    BI-RADS on a CT of the abdomen, PI-RADS on a chest film: a model can print any system,
    and the guideline order of a system the study cannot have (a breast biopsy after a liver
    CT) must never be proposed, nor the category flagged abnormal in the chart. Only a
    model-only value is checked (a system the report states is the radiologist's); a
    procedure naming no region says nothing either way. `report` is a RadiologyReport.
    """
    if decided_by != "model" or not system:
        return None
    if modality_of(report.procedure or "", report.modality) == "PT":
        return None  # PET/CT covers the body: its regions are not the one the category is about
    codes = [report.procedure_code] if report.procedure_code else []
    regions = body_regions(report.procedure or "", codes)
    # NI-RADS follows head and neck cancer: its primary site may be in a study named for the head.
    expected = regions_of_rads(system) | ({"head"} if system == "NI-RADS" else set())
    if not regions or not expected or regions & expected:
        return None
    return ", ".join(sorted(regions))


def order_text(resource: dict[str, Any]) -> tuple[str, list[str]]:
    """All the words of a ServiceRequest's code (text and displays) and its codes."""
    code = resource.get("code") or {}
    parts = [str(code.get("text") or "")]
    codes = []
    for c in code.get("coding") or []:
        if isinstance(c, dict):
            parts.append(str(c.get("display") or ""))
            if c.get("code"):
                codes.append(str(c["code"]))
    for site in resource.get("bodySite") or []:
        if isinstance(site, dict):
            parts.append(str(site.get("text") or ""))
            parts += [str(c.get("display") or "") for c in site.get("coding") or [] if isinstance(c, dict)]
    return " ".join(p for p in parts if p), codes
