"""Guideline management per RADS system and category, transcribed from shared/spec/rads-management.md.

One row per category: meaning, management, the follow-up in machine form (with ISO 8601
durations), the card indicator and whether the result is actionable (§11). `critical`
is never set here: it is reserved for critical results (§12), not for a RADS category.
The report's own recommendation and local policy win over this table; cards quote both.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from models.types import RADS_SYSTEMS

__all__ = ["Guideline", "FollowUpOrder", "GUIDELINES", "SOURCES", "guideline_for", "high_suspicion",
           "normalise_category", "normalise_system", "unlisted_subcategories"]

OrderKind = Literal["imaging", "tissue", "referral", "comparison", "testing"]


class FollowUpOrder(BaseModel):
    """What a follow-up suggestion orders: a ServiceRequest code text and when (ISO 8601 durations)."""

    model_config = ConfigDict(frozen=True)

    kind: OrderKind
    text: str
    earliest: str | None = None
    latest: str | None = None


class Guideline(BaseModel):
    model_config = ConfigDict(frozen=True)

    system: str
    category: str
    meaning: str
    management: str
    follow_up: str
    indicator: Literal["info", "warning"]
    actionable: bool
    order: FollowUpOrder | None = None
    condition: str | None = None

    @property
    def tentative(self) -> bool:
        """True when the table only has the follow-up considered ('consider tissue sampling: ...', PI-RADS 3).

        The decision rests on more than the images (PSA density, history), so the card says "consider"
        and does not mark the order as the recommended suggestion.
        """
        return self.follow_up.lower().startswith("consider")

    @property
    def citation(self) -> str:
        """'BI-RADS category 3': the short reference on summaries, labels and orders."""
        return f"{self.system} category {self.category}"

    @property
    def reference(self) -> str:
        """'ACR BI-RADS (5th ed. 2013 / v2025), category 3': the long reference in card details."""
        return f"{SOURCES[self.system][0]}, category {self.category}"


SOURCES: dict[str, tuple[str, str | None]] = {
    "BI-RADS": ("ACR BI-RADS (5th ed. 2013 / v2025)", "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/BI-RADS"),
    "Lung-RADS": ("ACR Lung-RADS v2022", "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/Lung-RADS"),
    "LI-RADS": ("ACR LI-RADS v2018 CT/MRI", "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/LI-RADS"),
    "TI-RADS": ("ACR TI-RADS 2017", "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/TI-RADS"),
    "PI-RADS": ("PI-RADS v2.1", "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/PI-RADS"),
    "O-RADS": ("ACR O-RADS (US v2022 / MRI)", "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/O-RADS"),
    "NI-RADS": ("ACR NI-RADS", "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/NI-RADS"),
    "CAD-RADS": ("CAD-RADS 2.0 (2022)", "https://www.acr.org/Clinical-Resources/Clinical-Tools-and-Reference/Reporting-and-Data-Systems/CAD-RADS"),
    "VI-RADS": ("VI-RADS (Panebianco, Eur Urol 2018)", None),
    "GB-RADS": ("GB-RADS (Gupta, Abdom Radiol 2022)", None),
}
"""System -> (name with version, reference page) for card citations and links.

VI-RADS and GB-RADS are not ACR systems and have no page of their own that the spec
verified, so their cards cite the paper and carry no link (an ACR page would misattribute them).
"""


def _o(kind: OrderKind, text: str, earliest: str | None = None, latest: str | None = None) -> FollowUpOrder:
    return FollowUpOrder(kind=kind, text=text, earliest=earliest, latest=latest if latest else earliest)


_W, _I = "warning", "info"
_BIOPSY_BREAST = _o("tissue", "Image-guided breast biopsy")
_LUNG_4B = _o("imaging", "Diagnostic chest CT, PET/CT and/or lung tissue sampling or referral")
_MDD_LIVER = _o("referral", "Referral: HCC multidisciplinary board")
_MR_LIVER_3M = _o("imaging", "Multiphase CT or MRI liver", None, "P3M")
_PROSTATE_BIOPSY = _o("tissue", "MRI-targeted prostate biopsy")
_GYN_ONC = _o("referral", "Referral: gynecologic oncology")
_HN_BOARD = _o("referral", "Referral: head and neck tumour board")
_URO_ONC = _o("referral", "Referral: urology/oncology; staging CT")
_HPB = _o("referral", "CT abdomen; tissue sampling; referral: HPB surgery")

_ROWS: list[tuple[str, str, str, str, str, str, bool, FollowUpOrder | None]] = [
    # system, category, meaning, management, follow-up, indicator, actionable, order
    ("BI-RADS", "0", "Incomplete: needs additional imaging and/or prior exams",
     "Recall for additional views/US and/or comparison with priors",
     "diagnostic breast imaging (recall) now; compare priors", _I, True,
     _o("imaging", "Diagnostic breast imaging (recall)")),
    ("BI-RADS", "1", "Negative", "Routine screening",
     "screening mammogram in 12 months (P12M), per local screening interval", _I, False,
     _o("imaging", "Screening mammogram", "P12M")),
    ("BI-RADS", "2", "Benign", "Routine screening", "screening mammogram in 12 months (P12M)", _I, False,
     _o("imaging", "Screening mammogram", "P12M")),
    ("BI-RADS", "3", "Probably benign (>0% to <=2% malignancy)",
     "Short-interval follow-up: first at 6 months (usually unilateral), then 12 and 24 months from the first exam "
     "(6/6/12 intervals); stable 2-3 years -> category 2; growth or new suspicious feature -> biopsy",
     "diagnostic imaging (index modality) in 6 months (P6M), then at 12 and 24 months from baseline (P12M, P24M)", _I, True,
     _o("imaging", "Diagnostic breast imaging (index modality), short-interval follow-up", "P6M")),
    *[("BI-RADS", c, m, "Tissue diagnosis", "tissue sampling: image-guided breast biopsy", _W, True, _BIOPSY_BREAST)
      for c, m in (("4", "Suspicious (>2% to <95%)"), ("4A", "Low suspicion (>2% to <=10%)"),
                   ("4B", "Moderate suspicion (>10% to <=50%)"), ("4C", "High suspicion (>50% to <95%)"),
                   ("5", "Highly suggestive of malignancy (>=95%)"))],
    ("BI-RADS", "6", "Known biopsy-proven malignancy", "Surgical excision when clinically appropriate",
     "referral: breast surgery/oncology", _I, False, _o("referral", "Referral: breast surgery/oncology")),
    ("Lung-RADS", "0", "Incomplete: priors being located, lungs not fully evaluable, or infection/inflammation",
     "Obtain priors or extra images; for suspected infectious/inflammatory findings, LDCT in 1-3 months then recategorize",
     "LDCT in 1-3 months (P1M-P3M) or comparison with prior CT", _I, True,
     _o("imaging", "Low-dose CT chest", "P1M", "P3M")),
    ("Lung-RADS", "1", "Negative", "Continue annual screening", "LDCT in 12 months (P12M)", _I, False,
     _o("imaging", "Low-dose CT chest (lung cancer screening)", "P12M")),
    ("Lung-RADS", "2", "Benign appearance or behaviour", "Continue annual screening", "LDCT in 12 months (P12M)",
     _I, False, _o("imaging", "Low-dose CT chest (lung cancer screening)", "P12M")),
    ("Lung-RADS", "3", "Probably benign (1-2%)", "Short-interval LDCT", "LDCT in 6 months (P6M)", _I, True,
     _o("imaging", "Low-dose CT chest", "P6M")),
    ("Lung-RADS", "4A", "Suspicious (5-15%)",
     "LDCT in 3 months; PET/CT may be considered if solid nodule or solid component >=8 mm",
     "LDCT in 3 months (P3M); optional PET/CT", _W, True, _o("imaging", "Low-dose CT chest", "P3M")),
    ("Lung-RADS", "4B", "Very suspicious (>15%)",
     "Diagnostic chest CT with or without contrast; PET/CT if solid component >=8 mm; tissue sampling; and/or referral, "
     "by probability and comorbidity",
     "chest CT with or without contrast; PET/CT; tissue sampling: lung", _W, True, _LUNG_4B),
    ("Lung-RADS", "4X", "Category 3 or 4 nodule with extra features raising suspicion (>15%)", "As 4B",
     "chest CT with or without contrast; PET/CT; tissue sampling: lung", _W, True, _LUNG_4B),
    ("LI-RADS", "LR-NC", "Not categorizable", "Repeat or alternative diagnostic imaging in <=3 months",
     "multiphase CT or MRI in <=3 months (P3M)", _I, True, _MR_LIVER_3M),
    ("LI-RADS", "LR-1", "Definitely benign", "Return to routine surveillance", "liver US surveillance in 6 months (P6M)",
     _I, False, _o("imaging", "Liver US surveillance", "P6M")),
    ("LI-RADS", "LR-2", "Probably benign", "Return to surveillance in 6 months; repeat diagnostic imaging in <=6 months is an option",
     "liver US surveillance in 6 months (P6M)", _I, False, _o("imaging", "Liver US surveillance", "P6M")),
    ("LI-RADS", "LR-3", "Intermediate probability of malignancy",
     "Repeat or alternative diagnostic imaging in 3-6 months; biopsy not automatic",
     "multiphase CT or MRI in 3-6 months (P3M-P6M)", _I, True, _o("imaging", "Multiphase CT or MRI liver", "P3M", "P6M")),
    ("LI-RADS", "LR-4", "Probably HCC",
     "MDD for tailored workup: biopsy, repeat/alternative imaging in <=3 months, or treatment",
     "referral: HCC multidisciplinary board; multiphase CT or MRI in <=3 months (P3M)", _W, True, _MDD_LIVER),
    ("LI-RADS", "LR-5", "Definitely HCC",
     "HCC diagnosed without biopsy; MDD for consensus management (staging, treatment, transplant)",
     "referral: HCC multidisciplinary board", _W, True, _MDD_LIVER),
    ("LI-RADS", "LR-M", "Probably or definitely malignant, not HCC-specific",
     "MDD; workup often includes biopsy", "tissue sampling: liver biopsy after MDD", _W, True,
     _o("tissue", "Liver biopsy after multidisciplinary discussion")),
    ("LI-RADS", "LR-TIV", "Tumour in vein", "MDD; may include biopsy to establish tumour type",
     "referral: HCC multidisciplinary board", _W, True, _MDD_LIVER),
    ("LI-RADS", "LR-TR Nonevaluable", "Treated lesion cannot be assessed", "Repeat or alternative imaging in <=3 months",
     "multiphase CT or MRI in <=3 months (P3M)", _I, True, _MR_LIVER_3M),
    ("LI-RADS", "LR-TR Nonviable", "No lesional enhancement, or expected treatment-specific enhancement",
     "Continue post-treatment imaging (about every 3 months)", "multiphase CT or MRI in 3 months (P3M)", _I, False,
     _o("imaging", "Multiphase CT or MRI liver", "P3M")),
    ("LI-RADS", "LR-TR Equivocal", "Enhancement atypical for treatment effect, not meeting viable",
     "Repeat or alternative imaging in <=3 months; MDD if complex", "multiphase CT or MRI in <=3 months (P3M)", _I, True,
     _MR_LIVER_3M),
    ("LI-RADS", "LR-TR Viable",
     "Nodular, masslike or thick irregular enhancing tissue (APHE, washout, or pre-treatment-like enhancement): "
     "viable tumour", "MDD; usually retreatment",
     "referral: HCC multidisciplinary board (retreatment)", _W, True, _MDD_LIVER),
    ("TI-RADS", "TR1", "Benign", "No FNA, no follow-up", "none", _I, False, None),
    ("TI-RADS", "TR2", "Not suspicious", "No FNA, no follow-up", "none", _I, False, None),
    ("TI-RADS", "TR3", "Mildly suspicious (~4.8%)", "FNA if >=2.5 cm; follow-up if >=1.5 cm",
     "thyroid US at 1, 3, 5 years (P1Y, P3Y, P5Y) if >=1.5 cm; tissue sampling: US-guided FNA if >=2.5 cm", _I, False, None),
    ("TI-RADS", "TR4", "Moderately suspicious (~9.1%)", "FNA if >=1.5 cm; follow-up if >=1.0 cm",
     "thyroid US at 1, 2, 3, 5 years (P1Y, P2Y, P3Y, P5Y) if >=1.0 cm; tissue sampling: US-guided FNA if >=1.5 cm", _I, False, None),
    ("TI-RADS", "TR5", "Highly suspicious (~35%)", "FNA if >=1.0 cm; follow-up if >=0.5 cm",
     "thyroid US in 12 months, then yearly to 5 years (P1Y) if >=0.5 cm; tissue sampling: US-guided FNA if >=1.0 cm", _W, False,
     None),
    ("PI-RADS", "1", "Very low: clinically significant cancer highly unlikely",
     "No biopsy on MRI grounds; PSA-based urology follow-up", "none (urology follow-up)", _I, False, None),
    ("PI-RADS", "2", "Low: clinically significant cancer unlikely",
     "No biopsy on MRI grounds; PSA-based urology follow-up", "none (urology follow-up)", _I, False, None),
    ("PI-RADS", "3", "Intermediate: equivocal",
     "Biopsy depends on factors beyond MRI (PSA density, history); targeted plus systematic biopsy or surveillance",
     "consider tissue sampling: MRI-targeted prostate biopsy", _I, True, _PROSTATE_BIOPSY),
    ("PI-RADS", "4", "High: clinically significant cancer likely",
     "Biopsy should be considered (MRI-targeted, usually with systematic cores)",
     "tissue sampling: MRI-targeted prostate biopsy", _W, True, _PROSTATE_BIOPSY),
    ("PI-RADS", "5", "Very high: clinically significant cancer highly likely", "As 4",
     "tissue sampling: MRI-targeted prostate biopsy", _W, True, _PROSTATE_BIOPSY),
    ("O-RADS", "0", "Incomplete (technical factors)", "Repeat US or MRI", "pelvic US (repeat) or pelvic MRI", _I, True,
     _o("imaging", "Pelvic US (repeat) or pelvic MRI")),
    ("O-RADS", "1", "Normal premenopausal ovary", "None", "none", _I, False, None),
    ("O-RADS", "2", "Almost certainly benign (<1%)",
     "None or follow-up US by lesion, size and menopausal status (e.g. 2019 table: simple cyst 5-10 cm premenopausal "
     "US in 8-12 weeks, postmenopausal US in 12 months)",
     "none, or pelvic US in 8-12 weeks (P8W-P12W), or pelvic US in 12 months (P12M)", _I, False, None),
    ("O-RADS", "3", "Low risk (1 to <10%)", "US specialist or MRI; management by gynecologist",
     "pelvic MRI (O-RADS MRI) or specialist US; referral: gynecology", _I, True,
     _o("imaging", "Pelvic MRI (O-RADS MRI) or specialist US")),
    ("O-RADS", "4", "Intermediate risk (10 to <50%)",
     "US specialist or MRI; gynecologist with gyn-oncology consultation, or gyn-oncologist alone",
     "pelvic MRI; referral: gynecologic oncology", _W, True, _GYN_ONC),
    ("O-RADS", "5", "High risk (>=50%)", "Gynecologic oncologist", "referral: gynecologic oncology", _W, True, _GYN_ONC),
    ("NI-RADS", "0", "Incomplete: new baseline, priors exist but not yet available",
     "Assign a score by addendum when priors arrive", "compare with prior imaging", _I, True,
     _o("comparison", "Comparison with prior imaging")),
    ("NI-RADS", "1", "No evidence of recurrence", "Routine surveillance", "surveillance imaging per protocol", _I, False,
     None),
    ("NI-RADS", "2a", "Low suspicion, superficial (mucosal)", "Direct visual inspection",
     "direct visual inspection (ENT endoscopy)", _I, True, _o("referral", "Direct visual inspection (ENT endoscopy)")),
    ("NI-RADS", "2b", "Low suspicion, deep (ill-defined)", "Short-interval follow-up or PET",
     "CT neck or PET/CT in 3 months (P3M)", _I, True, _o("imaging", "CT neck or PET/CT", "P3M")),
    ("NI-RADS", "2", "Low suspicion (neck)", "Short-interval follow-up or PET", "CT neck or PET/CT in 3 months (P3M)",
     _I, True, _o("imaging", "CT neck or PET/CT", "P3M")),
    ("NI-RADS", "3", "High suspicion of recurrence", "Biopsy (primary: image-guided or clinical; neck: usually US-guided FNA)",
     "tissue sampling: biopsy of primary site or US-guided FNA of node", _W, True,
     _o("tissue", "Biopsy of the suspicious site (primary: image-guided or clinical; node: US-guided FNA)")),
    ("NI-RADS", "4", "Definite recurrence", "Clinical management; no further biopsy needed",
     "referral: head and neck tumour board", _W, True, _HN_BOARD),
    ("CAD-RADS", "0", "No plaque or stenosis (0%)", "No further cardiac investigation", "none", _I, False, None),
    ("CAD-RADS", "1", "Minimal non-obstructive (1-24%)", "None; preventive therapy per plaque burden",
     "none (preventive therapy)", _I, False, None),
    ("CAD-RADS", "2", "Mild non-obstructive (25-49%)", "None; preventive therapy", "none (preventive therapy)", _I,
     False, None),
    ("CAD-RADS", "3", "Moderate stenosis (50-69%)",
     "Consider functional assessment (stress test, CT-FFR/CTP); guideline-directed medical therapy",
     "functional cardiac testing (stress test or CT-FFR)", _I, True,
     _o("testing", "Functional cardiac testing (stress test or CT-FFR)")),
    ("CAD-RADS", "4A", "Severe stenosis (70-99%, 1-2 vessels)",
     "Consider invasive coronary angiography or functional assessment", "ICA or functional cardiac testing", _W, True,
     _o("testing", "Invasive coronary angiography or functional cardiac testing")),
    ("CAD-RADS", "4B", "Severe, high-risk anatomy (left main >50% or 3-vessel >=70%)", "Invasive coronary angiography recommended",
     "invasive coronary angiography", _W, True, _o("testing", "Invasive coronary angiography")),
    ("CAD-RADS", "5", "Total occlusion (100%)", "Consider ICA and/or viability assessment",
     "ICA and/or myocardial viability testing", _W, True,
     _o("testing", "Invasive coronary angiography and/or myocardial viability testing")),
    ("CAD-RADS", "N", "Nondiagnostic; obstructive CAD not excluded", "Additional or alternative evaluation may be needed",
     "alternative cardiac evaluation", _I, True, _o("testing", "Alternative cardiac evaluation")),
    ("VI-RADS", "1", "Muscle invasion highly unlikely", "NMIBC pathway (TURBT)", "referral: urology", _I, False,
     _o("referral", "Referral: urology")),
    ("VI-RADS", "2", "Muscle invasion unlikely", "NMIBC pathway", "referral: urology", _I, False,
     _o("referral", "Referral: urology")),
    ("VI-RADS", "3", "Muscle invasion equivocal", "Correlate with TURBT pathology; consider re-TURBT",
     "referral: urology (re-TURBT consideration)", _I, True, _o("referral", "Referral: urology (re-TURBT consideration)")),
    ("VI-RADS", "4", "Muscle invasion likely", "Treat as probable MIBC: staging, urology-oncology MDT",
     "referral: urology/oncology; staging CT", _W, True, _URO_ONC),
    ("VI-RADS", "5", "Muscle invasion very likely, with extension beyond the bladder wall", "As 4",
     "referral: urology/oncology; staging CT", _W, True, _URO_ONC),
    ("GB-RADS", "0", "Not evaluable", "Repeat US with preparation or other imaging",
     "repeat US after fasting, or CT/MRI", _I, True, _o("imaging", "Repeat gallbladder US after fasting, or CT/MRI")),
    ("GB-RADS", "1", "Normal wall", "None", "none", _I, False, None),
    ("GB-RADS", "2", "Benign wall thickening", "No further workup for malignancy", "none", _I, False, None),
    ("GB-RADS", "3", "Equivocal", "Further imaging (CT/MRI, CEUS or EUS) or short follow-up",
     "CT or MRI abdomen, or EUS", _I, True, _o("imaging", "CT or MRI abdomen, or EUS")),
    ("GB-RADS", "4", "Malignancy likely", "Staging CT/MRI and tissue diagnosis; surgical referral",
     "CT abdomen; tissue sampling; referral: HPB surgery", _W, True, _HPB),
    ("GB-RADS", "5", "Highly likely malignant", "As 4", "CT abdomen; tissue sampling; referral: HPB surgery", _W, True,
     _HPB),
]

GUIDELINES: dict[tuple[str, str], Guideline] = {
    (s, c): Guideline(system=s, category=c, meaning=m, management=g, follow_up=f, indicator=i,  # type: ignore[arg-type]
                      actionable=a, order=o)
    for s, c, m, g, f, i, a, o in _ROWS
}

_SYSTEM_KEYS = {re.sub(r"[^a-z]", "", s.lower()): s for s in RADS_SYSTEMS}
_SYSTEM_KEYS.update({"acrtirads": "TI-RADS", "lungrad": "Lung-RADS", "lirad": "LI-RADS", "orad": "O-RADS"})


def normalise_system(system: str) -> str | None:
    """'BIRADS', 'bi-rads', 'Lung RADS', 'ACR TI-RADS' -> the RADS_SYSTEMS spelling."""
    return _SYSTEM_KEYS.get(re.sub(r"[^a-z]", "", system.lower()))


_LR_TR = {"nonevaluable": "Nonevaluable", "nonviable": "Nonviable", "equivocal": "Equivocal", "viable": "Viable"}


def normalise_category(system: str, category: str) -> str:
    """The dev-set spelling: '4a' -> '4A', 'LI-RADS 5' / 'LR5' -> 'LR-5', '4' (TI-RADS) -> 'TR4', '2A' (NI-RADS) -> '2a'."""
    cat = category.strip().split("/")[0].strip()  # CAD-RADS modifiers (/P2, /HRP, /S) are not the category
    cat = re.sub(r"(?i)^(category|cat\.?)\s*", "", cat)
    if system == "LI-RADS":
        m = re.match(r"(?i)^(?:LI-?RADS\s*|LR[\s-]*)?TR[\s-]*(\w+)$", cat)
        if m and m.group(1).lower() in _LR_TR:
            return f"LR-TR {_LR_TR[m.group(1).lower()]}"
        m = re.match(r"(?i)^(?:LI-?RADS\s*)?(?:LR[\s-]*)?(NC|TIV|M|[1-5])$", cat)
        return f"LR-{m.group(1).upper()}" if m else cat
    if system == "TI-RADS":
        m = re.match(r"(?i)^(?:TR[\s-]*)?([1-5])$", cat)
        return f"TR{m.group(1)}" if m else cat.upper()
    if system == "NI-RADS":
        return cat.lower()
    if system == "Lung-RADS":
        return re.sub(r"(?i)\s*S$", "", cat).upper() or cat  # the S modifier is not part of the category
    return cat.upper()


def guideline_for(system: str, category: str, *, size_cm: float | None = None) -> Guideline | None:
    """The management row for a system and category, or None when the pair is unknown.

    TI-RADS management depends on the nodule size (§4); with `size_cm` the row is made
    specific (warning for TR4 >= 1.5 cm, actionable at the follow-up size, an order to
    suggest); without it the thresholds stay in the text and nothing is ordered.
    """
    sys_name = normalise_system(system) or system
    row = GUIDELINES.get((sys_name, normalise_category(sys_name, category)))
    if row is None or sys_name != "TI-RADS" or size_cm is None:
        return row
    fna, follow = {"TR3": (2.5, 1.5), "TR4": (1.5, 1.0), "TR5": (1.0, 0.5)}.get(row.category, (None, None))
    if fna is None or follow is None:
        return row
    size = f"{size_cm:g} cm"
    if size_cm >= fna:
        indicator = "warning" if row.category in ("TR4", "TR5") else row.indicator
        return row.model_copy(update={"indicator": indicator, "actionable": True, "condition": f"nodule {size} >= {fna:g} cm",
                                      "order": _o("tissue", "US-guided thyroid FNA"),
                                      "follow_up": f"tissue sampling: US-guided FNA (nodule {size})"})
    if size_cm >= follow:
        return row.model_copy(update={"actionable": True, "condition": f"nodule {size} >= {follow:g} cm",
                                      "order": _o("imaging", "Thyroid US", "P1Y")})
    return row.model_copy(update={"order": None, "follow_up": f"none (nodule {size} < {follow:g} cm)",
                                  "condition": f"nodule {size} < {follow:g} cm"})


def unlisted_subcategories(system: str, category: str) -> list[Guideline]:
    """The table's subcategories of a category it has no row for: 'CAD-RADS 4' -> 4A, 4B; else [].

    A report may state a category more coarsely than the table (CAD-RADS 1.0 or Lung-RADS 1.0
    habits, 'LR-TR' without a qualifier). Which subcategory is meant is not known, so nothing is
    ordered; but its urgency must not be shown as lower than every reading it could have.
    """
    sys_name = normalise_system(system) or system
    cat = normalise_category(sys_name, category)
    if not cat or (sys_name, cat) in GUIDELINES:
        return []
    return [g for (s, c), g in GUIDELINES.items()
            if s == sys_name and len(c) > len(cat) and c.startswith(cat) and not c[len(cat)].isdigit()]


def high_suspicion(system: str, category: str) -> bool:
    """True for a `warning` row of the table, or an unlisted category any of whose subcategories is one.

    One rule for the card indicator, FHIR `interpretation` A and HL7 OBX-8 A. TI-RADS TR4 is
    size-dependent: without a size it stays `info` here (its row), as the card without a size does.
    """
    row = guideline_for(system, category)
    if row is not None:
        return row.indicator == "warning"
    return any(g.indicator == "warning" for g in unlisted_subcategories(system, category))
