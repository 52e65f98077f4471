"""Rules engine, round 5: report phrasings written for this file, not in the dev set nor in the earlier
rounds (test_rules_unseen.py, test_rules_round2.py .. test_rules_round4.py): stated categories of all
ten RADS systems with sub-categories, modifiers and registered marks, per-lesion and per-site scores,
categories quoted as history, negated, or printed as a legend of the system's categories, C-RADS (not
one of the ten systems), TNM strings with slashes, fractions of positive nodes and AJCC prefixes,
CheXpert hedges, old fractures and device lines, critical findings that are negated, hedged or old,
follow-up intervals in many spellings and the side of the index finding.

Everything runs the real engine (medspaCy included) on the text, as the service does.
"""

from __future__ import annotations

import pytest
from rules_probe import ENGINE
from rules_probe import chexpert as _chexpert
from rules_probe import critical as _critical
from rules_probe import rads as _rads
from rules_probe import report as _report
from rules_probe import stages as _stages

from adapters.text import report_from_text
from models.types import TaskName, TaskRequest

# ---- stated categories, every system ---------------------------------------------------------------

_STATED = [
    # BI-RADS
    ("MG DIAGNOSTIC RIGHT", "BIRADS: 0", ("BI-RADS", "0")),
    ("MG SCREENING BILATERAL", "ACR BI-RADS® Category 2: Benign.", ("BI-RADS", "2")),
    ("US BREAST LEFT", "BI-RADS 4A - Low suspicion for malignancy.", ("BI-RADS", "4A")),
    ("US BREAST LEFT", "BI-RADS Category 4B: Moderate suspicion for malignancy.", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC LEFT", "Pleomorphic calcifications, bi-rads 4c.", ("BI-RADS", "4C")),
    ("MRI BREAST BILATERAL W WO", "BI-RADS: 6 - Known biopsy-proven malignancy.", ("BI-RADS", "6")),
    ("MG DIAGNOSTIC RIGHT", "Assessment: BI-RADS 5 - Highly suggestive of malignancy.", ("BI-RADS", "5")),
    ("MG DIAGNOSTIC RIGHT", "BI-RADS Category IV.", ("BI-RADS", "4")),
    ("US BREAST RIGHT", "Oval circumscribed mass, BI-RADS 3 (probably benign).", ("BI-RADS", "3")),
    ("MG SCREENING", "BI-RADS 0 - Incomplete: Need additional imaging evaluation.", ("BI-RADS", "0")),
    ("MG DIAGNOSTIC", "Final Assessment: Category 4A - Low suspicion for malignancy.", ("BI-RADS", "4A")),
    ("MG DIAGNOSTIC", "BI-RADS®: 1 Negative", ("BI-RADS", "1")),
    ("MG TOMOSYNTHESIS SCREENING", "BI RADS 2", ("BI-RADS", "2")),
    # Lung-RADS v2022
    ("CT CHEST LOW DOSE LUNG CANCER SCREENING", "Lung-RADS 1 - Negative.", ("Lung-RADS", "1")),
    ("LDCT LUNG SCREENING", "Lung-RADS v2022: 2 - Benign appearance or behavior.", ("Lung-RADS", "2")),
    ("LDCT LUNG SCREENING", "Lung-RADS Category 3 – Probably benign.", ("Lung-RADS", "3")),
    ("LDCT LUNG SCREENING", "LungRADS 4A.", ("Lung-RADS", "4A")),
    ("LDCT LUNG SCREENING", "Lung RADS: 4B - Very suspicious.", ("Lung-RADS", "4B")),
    ("LDCT LUNG SCREENING", "Lung-RADS 4X S.", ("Lung-RADS", "4X")),
    ("LDCT LUNG SCREENING", "Lung-RADS 0: prior CT being obtained for comparison.", ("Lung-RADS", "0")),
    # LI-RADS
    ("MRI LIVER W WO", "Segment 2 observation: LR-1 (definitely benign, cyst).", ("LI-RADS", "LR-1")),
    ("MRI LIVER W WO", "LI-RADS category LR-2.", ("LI-RADS", "LR-2")),
    ("CT LIVER MULTIPHASE", "LI-RADS v2018: LR-4 (probably HCC).", ("LI-RADS", "LR-4")),
    ("MRI LIVER W WO", "2.3 cm segment 8 observation, LR-5 (definitely HCC).", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "Targetoid segment 6 mass, LI-RADS M.", ("LI-RADS", "LR-M")),
    ("MRI LIVER W WO", "Tumor in the right portal vein (LR-TIV).", ("LI-RADS", "LR-TIV")),
    ("MRI LIVER W WO", "LR-NC: observation not categorizable due to motion.", ("LI-RADS", "LR-NC")),
    ("MRI LIVER W WO", "LI-RADS 5 (OPTN class 5A) segment 7 observation.", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "Treated lesion in segment 5: LR-TR Equivocal.", ("LI-RADS", "LR-TR Equivocal")),
    ("CT ABDOMEN PELVIS W CONTRAST", "LR 4 observation in segment 3.", ("LI-RADS", "LR-4")),
    # PI-RADS v2.1
    ("MRI PROSTATE W WO", "PI-RADS v2.1 assessment category 4.", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "PIRADS 2: clinically significant cancer unlikely.", ("PI-RADS", "2")),
    ("MRI PROSTATE W WO", "PI-RADS score: 3/5.", ("PI-RADS", "3")),
    ("MRI PROSTATE", "PI-RADS 1 - very low (clinically significant cancer highly unlikely).", ("PI-RADS", "1")),
    # TI-RADS
    ("US THYROID", "Right lobe spongiform nodule, TR1.", ("TI-RADS", "TR1")),
    ("US THYROID", "ACR TI-RADS category TR2 (2 points).", ("TI-RADS", "TR2")),
    ("US THYROID", "TI-RADS 3, mildly suspicious.", ("TI-RADS", "TR3")),
    ("US THYROID", "1.6 cm left lobe nodule: ACR TI-RADS TR 4 (5 points).", ("TI-RADS", "TR4")),
    ("US NECK", "Isthmus nodule, TR5 (8 points); FNA recommended.", ("TI-RADS", "TR5")),
    ("US THYROID", "Left lobe nodule, ACR TI-RADS points: 5.", ("TI-RADS", "TR4")),
    # O-RADS US and MRI
    ("US PELVIS TRANSVAGINAL", "Left ovarian simple cyst, O-RADS US 2 (almost certainly benign).", ("O-RADS", "2")),
    ("US PELVIS TRANSVAGINAL", "O-RADS US v2022 category 3.", ("O-RADS", "3")),
    ("MRI PELVIS W WO", "O-RADS MRI score 4: intermediate risk.", ("O-RADS", "4")),
    ("US PELVIS", "Solid right adnexal mass with ascites: O-RADS 5.", ("O-RADS", "5")),
    ("US PELVIS TRANSVAGINAL", "O-RADS 0 - incomplete evaluation due to bowel gas.", ("O-RADS", "0")),
    ("US PELVIS TRANSVAGINAL", "Normal premenopausal ovaries, O-RADS US 1.", ("O-RADS", "1")),
    # NI-RADS
    ("CT NECK W CONTRAST", "NI-RADS category 3 (primary).", ("NI-RADS", "3")),
    ("CT NECK W CONTRAST", "NI-RADS 4: definite recurrence at the primary site.", ("NI-RADS", "4")),
    ("PET/CT NECK", "Primary site: NI-RADS 2b. Neck: NI-RADS 1.", ("NI-RADS", "2b")),
    ("CT SOFT TISSUE NECK W CONTRAST", "NI-RADS: primary 1, neck 1.", ("NI-RADS", "1")),
    # VI-RADS
    ("MRI BLADDER W WO", "VI-RADS score 2: muscle invasion unlikely.", ("VI-RADS", "2")),
    ("MRI PELVIS BLADDER", "VIRADS 4 (muscle invasion likely).", ("VI-RADS", "4")),
    ("MRI BLADDER", "VI-RADS: 5.", ("VI-RADS", "5")),
    # GB-RADS
    ("US RIGHT UPPER QUADRANT", "Symmetric layered gallbladder wall thickening, GB-RADS 2.", ("GB-RADS", "2")),
    ("US GALLBLADDER", "GB-RADS category 4: malignancy likely.", ("GB-RADS", "4")),
    # CAD-RADS 2.0 (modifiers are not part of the category)
    ("CT CORONARY ANGIOGRAM", "CAD-RADS 0.", ("CAD-RADS", "0")),
    ("CCTA", "CAD-RADS 1/P1.", ("CAD-RADS", "1")),
    ("CCTA", "CAD-RADS 2/P2/HRP.", ("CAD-RADS", "2")),
    ("CCTA", "CAD-RADS® 3/P3/I+.", ("CAD-RADS", "3")),
    ("CTA CORONARY", "CAD-RADS 2.0: 4A/P2.", ("CAD-RADS", "4A")),
    ("CTA CORONARY", "CAD-RADS 4B/P4/HRP (left main 60%).", ("CAD-RADS", "4B")),
    ("CCTA", "CAD-RADS 5/P3: total occlusion of the proximal RCA.", ("CAD-RADS", "5")),
    ("CCTA", "CAD-RADS N: non-diagnostic study.", ("CAD-RADS", "N")),
    ("CCTA", "CAD-RADS 2/S: patent LAD stent.", ("CAD-RADS", "2")),
    ("CCTA", "CAD-RADS 3/G.", ("CAD-RADS", "3")),
    ("CCTA", "CAD-RADS 1/E (anomalous origin of the RCA).", ("CAD-RADS", "1")),
]


@pytest.mark.parametrize(("procedure", "impression", "expected"), _STATED)
def test_stated_category_every_system(procedure: str, impression: str, expected: tuple[str, str]) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


@pytest.mark.parametrize(
    ("procedure", "impression", "modifiers"),
    [
        ("LDCT LUNG SCREENING", "Lung-RADS 4B S (3.2 cm adrenal mass).", ("S",)),
        ("LDCT LUNG SCREENING", "Lung-RADS category 2 with S modifier for coronary calcification.", ("S",)),
        ("LDCT LUNG SCREENING", "Lung-RADS 1 - Negative.", ()),
        ("CTA CORONARY", "CAD-RADS 4B/P4/HRP.", ("P4", "HRP")),
        ("CCTA", "CAD-RADS 3/P3/I+.", ("P3", "I+")),
        ("CCTA", "CAD-RADS 2/S.", ("S",)),
        ("CCTA", "CAD-RADS 3/G.", ("G",)),
        ("CCTA", "CAD-RADS 1/E.", ("E",)),
        ("CCTA", "CAD-RADS 3/I-.", ("I-",)),
        ("PET/CT NECK", "Primary site: NI-RADS 2b. Neck: NI-RADS 1.", ("primary 2b", "neck 1")),
    ],
)
def test_modifiers_go_beside_the_category(procedure: str, impression: str, modifiers: tuple[str, ...]) -> None:
    got = ENGINE.rads(_report(impression, findings="See impression.", procedure=procedure))
    assert got is not None
    assert tuple(sorted(got.value.modifiers)) == tuple(sorted(modifiers))  # type: ignore[union-attr]


# ---- several lesions, history, negation, legends ------------------------------------------------------

_BIRADS_LEGEND = (
    "BI-RADS CATEGORIES: 0: Incomplete - needs additional imaging evaluation; 1: Negative; 2: Benign; "
    "3: Probably benign; 4: Suspicious; 5: Highly suggestive of malignancy; 6: Known biopsy-proven malignancy."
)


@pytest.mark.parametrize(
    ("procedure", "findings", "impression", "expected"),
    [
        (
            "MG DIAGNOSTIC BILATERAL",
            None,
            "1. Right breast 10:00 irregular mass: BI-RADS 4A.\n2. Left breast cyst: BI-RADS 2.",
            ("BI-RADS", "4A"),
        ),
        (
            "MG DIAGNOSTIC RIGHT",
            None,
            "Mass at 12:00, BI-RADS 4B; fine linear calcifications at 3:00, BI-RADS 4C.",
            ("BI-RADS", "4C"),
        ),
        ("US BREAST LEFT", None, "Prior BI-RADS 3 mass, stable for 2 years. BI-RADS 2.", ("BI-RADS", "2")),
        ("MG DIAGNOSTIC", None, "Suspicious, but not BI-RADS 5. BI-RADS 4C.", ("BI-RADS", "4C")),
        ("MG SCREENING BILATERAL", None, f"BI-RADS 1: Negative.\n\n{_BIRADS_LEGEND}", ("BI-RADS", "1")),
        ("MG SCREENING BILATERAL", None, f"{_BIRADS_LEGEND}\nOverall assessment: BI-RADS 2.", ("BI-RADS", "2")),
        (
            "MG DIAGNOSTIC",
            None,
            "Overall BI-RADS: 4A (right breast). Left breast: BI-RADS 1.",
            ("BI-RADS", "4A"),
        ),
        (
            "MRI PROSTATE W WO",
            "Lesion 1: left posterolateral PZ at the mid gland, 1.4 cm, PI-RADS 5.\n"
            "Lesion 2: right anterior TZ, 0.8 cm, PI-RADS 3.",
            "Two lesions, highest PI-RADS 5.",
            ("PI-RADS", "5"),
        ),
        (
            "MRI PROSTATE W WO",
            "Lesion 1 (right PZ): PI-RADS 3. Lesion 2 (left TZ): PI-RADS 4.",
            "Index lesion left TZ, PI-RADS 4. No PI-RADS 5 lesion.",
            ("PI-RADS", "4"),
        ),
        (
            "MRI PROSTATE",
            "Clinical history: PI-RADS 4 lesion on MRI 2023, negative biopsy.",
            "No focal lesion. PI-RADS 2.",
            ("PI-RADS", "2"),
        ),
        (
            "MRI LIVER W WO",
            "Observation 1 (segment 8, 2.4 cm): LR-5.\nObservation 2 (segment 3, 1.1 cm): LR-3.",
            "LR-5 segment 8 observation; LR-3 segment 3 observation.",
            ("LI-RADS", "LR-5"),
        ),
        ("MRI LIVER W WO", None, "Segment 6 observation, previously LR-4, now LR-5.", ("LI-RADS", "LR-5")),
        ("MRI LIVER W WO", None, "No features of LR-M. LR-4.", ("LI-RADS", "LR-4")),
        (
            "US THYROID",
            "Nodule 1, right lobe, 1.2 cm: TR3.\nNodule 2, left lobe, 1.8 cm: TR5.",
            "Left lobe TR5 nodule meets criteria for FNA. Right TR3 nodule: follow-up.",
            ("TI-RADS", "TR5"),
        ),
        (
            "US PELVIS TRANSVAGINAL",
            None,
            "Right ovary: O-RADS US 2. Left adnexa: O-RADS US 4.",
            ("O-RADS", "4"),
        ),
        (
            "LDCT LUNG SCREENING",
            "Comparison: LDCT 2024-06-01, Lung-RADS 4A.",
            "Nodule decreased to 5 mm. Lung-RADS 2.",
            ("Lung-RADS", "2"),
        ),
        (
            "CCTA",
            None,
            "Prior CAD-RADS 2 (2021). Today CAD-RADS 3/P2.",
            ("CAD-RADS", "3"),
        ),
    ],
)
def test_the_reports_own_overall_category(
    procedure: str, findings: str | None, impression: str, expected: tuple[str, str]
) -> None:
    assert _rads(_report(impression, findings=findings, procedure=procedure)) == expected


def test_a_legend_alone_states_no_category() -> None:
    report = _report("No mammographic evidence of malignancy.", findings=_BIRADS_LEGEND, procedure="MG SCREENING")
    assert _rads(report) is None


@pytest.mark.parametrize(
    "legend",
    [
        "Lung-RADS categories: 1 negative, 2 benign, 3 probably benign, 4A/4B/4X suspicious.",
        "PI-RADS assessment categories: 1 = very low, 2 = low, 3 = intermediate, 4 = high, 5 = very high.",
        "LI-RADS key: LR-1 definitely benign, LR-2 probably benign, LR-3 intermediate, LR-4 probably HCC, "
        "LR-5 definitely HCC.",
    ],
)
def test_legend_lines_of_other_systems_are_not_assessments(legend: str) -> None:
    key = legend[:3]
    procedure = {"Lun": "LDCT LUNG SCREENING", "PI-": "MRI PROSTATE", "LI-": "MRI LIVER"}[key]
    stated = {"Lun": ("Lung-RADS", "2"), "PI-": ("PI-RADS", "2"), "LI-": ("LI-RADS", "LR-3")}[key]
    impression = {"Lun": "Lung-RADS 2.", "PI-": "PI-RADS 2.", "LI-": "LR-3."}[key]
    assert _rads(_report(f"{impression}\n{legend}", findings="See impression.", procedure=procedure)) == stated


def test_c_rads_is_not_one_of_the_ten_systems() -> None:
    report = _report(
        "C-RADS C2, E2: 7 mm polyp in the sigmoid colon; surveillance CTC in 3 years.",
        findings="7 mm sessile polyp in the sigmoid colon.",
        procedure="CT COLONOGRAPHY",
    )
    got = ENGINE.rads(report)
    assert got is None or got.value.applicable is False  # type: ignore[union-attr]


def test_optn_class_alone_is_not_a_li_rads_category() -> None:
    report = _report("OPTN class 5B observation in segment 4.", findings="See impression.", procedure="MRI LIVER")
    assert _rads(report) is None


# ---- TNM ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "n", "m"),
    [
        ("Clinical stage: T2 / N1 / M0.", "N1", "M0"),
        ("Staging: T2N1M0.", "N1", "M0"),
        ("Restaging after neoadjuvant therapy: ypT0N0.", "N0", None),
        ("Left axillary metastasis, pN1a.", "N1", None),
        ("Bilateral cervical nodes, N2b.", "N2", None),
        ("Brain and bone metastases, M1c.", None, "M1"),
        ("Stage IVB (T4aN2cM1).", "N2", "M1"),
        ("pT3, N1 (2/14 nodes positive), M0.", "N1", "M0"),
        ("No distant metastatic disease.", None, "M0"),
        ("cT2 cN1 Mx.", "N1", None),
        ("TNM: T3 N2 M1a (malignant pleural effusion).", "N2", "M1"),
        ("Stage IIA (cT2 cN0 cM0).", "N0", "M0"),
        ("pT2 pN0(i+) M0.", "N0", "M0"),
        ("T1c N0 M0.", "N0", "M0"),
        ("AJCC 8th edition: T2 N3 M0.", "N3", "M0"),
        ("N stage: N2 (previously N1).", "N2", None),
        ("ypT2 ypN1a.", "N1", None),
        ("T4 N1 M1b (single bone metastasis).", "N1", "M1"),
        # quoted from another source with its date, or from a cancer treated before: not this study's
        ("cT2 N0 M0 per tumor board 2025-06-01.", "N0", "M0"),
        ("Prior history of right breast cancer, T1N0M0, treated with lumpectomy in 2015.", None, None),
        # suspected, not stated
        ("Possible N3 disease (contralateral hilar node).", None, None),
        ("No N3 disease.", None, None),
    ],
)
def test_tnm_spellings(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, findings="See impression.")) == (n, m)


def test_described_m0_is_marked_described() -> None:
    got = ENGINE.stated(
        TaskRequest(task=TaskName.m_staging, report=_report("No distant metastatic disease.", findings="CT."))
    )
    assert got is not None and got.value.stage == "M0"  # type: ignore[union-attr]
    assert got.raw_output.startswith("described:") and got.confidence < 0.99


# ---- CheXpert ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ("Borderline cardiomegaly.", {"cardiomegaly": "uncertain"}),
        ("Heart size is borderline enlarged.", {"cardiomegaly": "uncertain"}),
        # CheXpert labeler convention (the contract is silent): an old, healed fracture is still a fracture
        ("Healed right rib fractures.", {"fracture": "positive"}),
        ("Old healed left clavicle fracture.", {"fracture": "positive"}),
        ("No pneumothorax or effusion.", {"pneumothorax": "negative", "pleural effusion": "negative"}),
        ("Lines and tubes in satisfactory position.", {"support devices": "positive"}),
        ("Cannot exclude small left effusion.", {"pleural effusion": "uncertain"}),
        ("Interval resolution of the left lower lobe pneumonia.", {"pneumonia": "negative"}),
        (
            "Atelectasis versus consolidation at the left base.",
            {"atelectasis": "uncertain", "consolidation": "uncertain"},
        ),
        (
            "No focal consolidation, pleural effusion, or pneumothorax.",
            {"consolidation": "negative", "pleural effusion": "negative", "pneumothorax": "negative"},
        ),
        # vascular congestion is an edema mention (CheXpert list); a positive edema makes lung opacity
        # positive (the dev-label parent rule, docs/rules.md)
        ("Mild pulmonary vascular congestion.", {"edema": "positive", "lung opacity": "positive"}),
        (
            "Hazy right basilar opacity may represent atelectasis or early pneumonia.",
            {"lung opacity": "positive", "atelectasis": "uncertain", "pneumonia": "uncertain"},
        ),
        ("No acute displaced fracture.", {"fracture": "negative"}),
        ("Trace left pleural effusion is not excluded.", {"pleural effusion": "uncertain"}),
        ("The heart is enlarged.", {"cardiomegaly": "positive"}),
        ("Right IJ central venous catheter with tip at the cavoatrial junction.", {"support devices": "positive"}),
        ("Left basilar subsegmental atelectasis.", {"atelectasis": "positive"}),
        ("No pleural effusion. No pneumothorax.", {"pleural effusion": "negative", "pneumothorax": "negative"}),
        (
            "Right lower lobe consolidation consistent with pneumonia.",
            {"consolidation": "positive", "lung opacity": "positive", "pneumonia": "positive"},
        ),
        ("Questionable small right apical pneumothorax.", {"pneumothorax": "uncertain"}),
        ("Pneumonia has resolved.", {"pneumonia": "negative"}),
    ],
)
def test_chexpert_labels(findings: str, expected: dict[str, str]) -> None:
    assert _chexpert(_report(findings=findings, modality="CR")) == expected


def test_no_finding_is_negative_beside_an_uncertain_label() -> None:
    labels = ENGINE.chexpert(_report(findings="Borderline cardiomegaly.", modality="CR")).labels
    assert labels["no finding"] == "negative"


# ---- critical findings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No pneumothorax.", []),
        ("Previously noted right pneumothorax has resolved.", []),
        ("Possible tiny left apical pneumothorax.", [("pneumothorax", "uncertain")]),
        ("Interval development of a small right pneumothorax.", [("pneumothorax", "definite")]),
        ("History of type A aortic dissection repair in 2019.", []),
        ("Chronic type B aortic dissection, unchanged.", []),
        ("No CT evidence of pulmonary embolism.", []),
        ("Negative for pulmonary embolism.", []),
        ("Pulmonary embolism is unlikely.", []),
        ("Acute saddle pulmonary embolism with right heart strain.", [("pulmonary embolism", "definite")]),
        ("Free intraperitoneal air consistent with perforated viscus.", [("free air", "definite")]),
        ("No free air.", []),
        ("No pneumoperitoneum.", []),
        ("Questionable small left subdural hematoma.", [("intracranial hemorrhage", "uncertain")]),
        ("No acute intracranial hemorrhage.", []),
        ("Previously seen subarachnoid hemorrhage is no longer visible.", []),
        ("Known small right pneumothorax, unchanged.", []),
        ("Absent flow in the right testis consistent with testicular torsion.", [("testicular torsion", "definite")]),
        ("No sonographic evidence of testicular torsion.", []),
        ("Findings concerning for left ovarian torsion.", [("ovarian torsion", "uncertain")]),
        ("Portal venous gas and pneumatosis of the small bowel.", [("portal venous gas", "definite")]),
        ("Epidural mass at T10 with severe cord compression.", [("spinal cord compression", "definite")]),
        ("No evidence of cord compression.", []),
        ("Pulmonary embolism cannot be excluded.", [("pulmonary embolism", "uncertain")]),
        ("Endotracheal tube in satisfactory position.", []),
    ],
)
def test_critical_findings(text: str, expected: list[tuple[str, str]]) -> None:
    assert _critical(_report(text, findings="See impression.")) == expected


# ---- follow-up intervals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("Recommend follow-up CT chest in 3-6 months.", "P3M"),
        ("Short-interval follow-up diagnostic mammogram in 6 months is recommended.", "P6M"),
        ("Short-interval follow-up is recommended.", None),
        ("Annual screening mammography is recommended.", "P1Y"),
        ("Return to annual screening.", "P1Y"),
        ("Recommend continued annual low-dose CT screening.", "P1Y"),
        ("Recommend follow-up MRI in 12 to 18 months.", "P12M"),
        ("Recommend repeat ultrasound in 6 weeks after antibiotic therapy.", "P6W"),
        ("Recommend LDCT in 3 months.", "P3M"),
        ("Recommend follow-up in 1 yr.", "P1Y"),
        ("6-month follow-up MRI recommended.", "P6M"),
        ("Recommend follow-up in 24 months.", "P24M"),
        ("Recommend diagnostic mammogram and ultrasound within 30 days.", "P30D"),
        ("Recommend follow-up ultrasound at 6 months.", "P6M"),
        ("Recommend biennial screening mammography.", "P2Y"),
        ("Recommend semiannual surveillance ultrasound.", "P6M"),
        ("Continue HCC surveillance with ultrasound every 6 months.", "P6M"),
        ("Next screening low-dose CT is due in 12 months.", "P12M"),
        ("Recommend ultrasound-guided biopsy.", None),
        ("Repeat CT in approximately 3 months is recommended.", "P3M"),
    ],
)
def test_follow_up_intervals(text: str, interval: str | None) -> None:
    got = ENGINE.follow_ups(_report(text, findings="See impression."))
    assert [f.interval for f in got] == [interval]


@pytest.mark.parametrize(
    "text",
    [
        "No further follow-up is needed.",
        "No follow-up imaging required.",
        "Follow-up is not necessary for this benign finding.",
        "No further imaging follow-up is recommended.",
        "No additional imaging is needed at this time.",
    ],
)
def test_no_follow_up(text: str) -> None:
    assert ENGINE.follow_ups(_report(text, findings="See impression.")) == []


@pytest.mark.parametrize(
    ("text", "procedure"),
    [
        ("Recommend ultrasound-guided biopsy.", "ultrasound-guided biopsy"),
        ("Recommend LDCT in 3 months.", "LDCT"),
        ("Recommend follow-up MRI in 12 to 18 months.", "follow-up MRI"),
    ],
)
def test_follow_up_procedures(text: str, procedure: str) -> None:
    assert [f.procedure for f in ENGINE.follow_ups(_report(text, findings="See impression."))] == [procedure]


# ---- laterality --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        ("MG DIAGNOSTIC BILATERAL", "Left breast: BI-RADS 4A mass at 2:00. Right breast: negative.", "left"),
        (None, "Bilateral pleural effusions, left greater than right.", "bilateral"),
        ("US THYROID", "Right lobe 1.6 cm nodule, TR4.", "right"),
        ("MRI PROSTATE", "Left peripheral zone lesion at the base, PI-RADS 4.", "left"),
        (None, "No left-sided abnormality. Right lower lobe consolidation.", "right"),
        ("US PELVIS TRANSVAGINAL", "O-RADS US 4 (left adnexa). Right ovary: O-RADS US 2.", "left"),
        (None, "Bibasilar atelectasis.", "bilateral"),
        (None, "Left PICC tip in the SVC. Right lower lobe pneumonia.", "right"),
        (None, "LUL spiculated nodule, Lung-RADS 4B.", "left"),
        (None, "Acute fractures of the right 4th and 5th ribs.", "right"),
        (None, "The right kidney is normal. Left renal mass.", "left"),
        ("MG DIAGNOSTIC BILATERAL", "Suspicious left axillary lymph node; BI-RADS 4.", "left"),
        (None, "Right and left lower lobe pneumonia.", "bilateral"),
        (None, "No acute cardiopulmonary process.", None),
        (None, "Segment 7 liver observation, LR-5.", None),
    ],
)
def test_laterality(procedure: str | None, impression: str, expected: str | None) -> None:
    assert ENGINE.laterality(_report(impression, findings="See impression.", procedure=procedure)) == expected


# ---- whole reports ------------------------------------------------------------------------------------------

_WHOLE_MG = (
    "EXAM: MG DIAGNOSTIC BILATERAL W TOMO\n"
    "CLINICAL HISTORY: Prior BI-RADS 3 right breast mass (2024).\n"
    "FINDINGS:\nThe right breast mass at 10:00 is stable. New 9 mm irregular mass at 2:00 in the left breast.\n"
    "IMPRESSION:\n1. Right breast 10:00 mass, stable for 2 years: BI-RADS 2.\n"
    "2. New left breast 2:00 irregular mass: BI-RADS 4B.\n"
    "OVERALL: BI-RADS 4B.\nRECOMMENDATION: Ultrasound-guided core biopsy of the left breast mass.\n"
)


def test_whole_mammogram_report() -> None:
    report = report_from_text(_WHOLE_MG)
    assert _rads(report) == ("BI-RADS", "4B")
    assert ENGINE.laterality(report) == "left"
    assert [f.interval for f in ENGINE.follow_ups(report)] == [None]


_WHOLE_LDCT = (
    "EXAM: CT CHEST LOW DOSE LUNG CANCER SCREENING\n"
    "COMPARISON: LDCT 2024-05-02 (Lung-RADS 2).\n"
    "FINDINGS:\nNew 7 mm solid nodule in the right lower lobe. Moderate coronary artery calcification.\n"
    "IMPRESSION:\nLung-RADS 4A S. New 7 mm RLL nodule.\n"
    "RECOMMENDATION: LDCT in 3 months; PET/CT may be considered.\n"
)


def test_whole_screening_ct_report() -> None:
    report = report_from_text(_WHOLE_LDCT)
    got = ENGINE.rads(report)
    assert got is not None and (got.value.system, got.value.category) == ("Lung-RADS", "4A")  # type: ignore[union-attr]
    assert got.value.modifiers == ("S",)  # type: ignore[union-attr]
    assert ENGINE.laterality(report) == "right"
    assert [f.interval for f in ENGINE.follow_ups(report)][:1] == ["P3M"]


# ---- more wordings (second pass) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        ("MG DIAGNOSTIC", "BI-RADS 4: Suspicious abnormality (4B).", ("BI-RADS", "4B")),
        ("MG DIAGNOSTIC", "The BI-RADS 3 lesion from 2023 is resolved. BI-RADS 1.", ("BI-RADS", "1")),
        ("MG DIAGNOSTIC", "BI-RADS 2 (previously BI-RADS 3).", ("BI-RADS", "2")),
        ("MG DIAGNOSTIC", "Stable mass, downgraded from BI-RADS 3 to BI-RADS 2.", ("BI-RADS", "2")),
        ("MG DIAGNOSTIC BILATERAL", "BI-RADS 4A (right) and BI-RADS 3 (left).", ("BI-RADS", "4A")),
        ("MG DIAGNOSTIC", "Not BI-RADS 5. BI-RADS 4.", ("BI-RADS", "4")),
        ("MG DIAGNOSTIC", "BI-RADS 4 (not 5).", ("BI-RADS", "4")),
        ("US THYROID", "ACR TI-RADS 5 points.", ("TI-RADS", "TR4")),
        ("US THYROID", "ACR TI-RADS: 0 points (TR1).", ("TI-RADS", "TR1")),
        ("US THYROID", "ACR TI-RADS: TR3 (3 points) right; TR4 (4 points) left.", ("TI-RADS", "TR4")),
        ("LDCT LUNG SCREENING", "Lung-RADS 2 (prior Lung-RADS 3 nodule now stable).", ("Lung-RADS", "2")),
        ("MRI LIVER", "LR-3 (1.2 cm) and LR-4 (1.8 cm) observations.", ("LI-RADS", "LR-4")),
        ("MRI LIVER", "LR-TR Nonviable treated lesion, new LR-5 observation in segment 2.", ("LI-RADS", "LR-5")),
        ("MRI LIVER", "No LR-5 or LR-M observation. LR-3.", ("LI-RADS", "LR-3")),
        ("MRI LIVER", "OPTN 5A (LR-5).", ("LI-RADS", "LR-5")),
        ("MRI PROSTATE", "PI-RADS 3 lesion in the TZ, PI-RADS 4 lesion in the PZ; overall PI-RADS score 4.", ("PI-RADS", "4")),
        ("MRI PROSTATE", "PI-RADS 4 - upgraded from 3 on the basis of DCE.", ("PI-RADS", "4")),
        ("MRI PELVIS", "VI-RADS 4.", ("VI-RADS", "4")),
        ("CT NECK", "NI-RADS neck 3, primary 1.", ("NI-RADS", "3")),
        ("CCTA", "CAD-RADS N/P2.", ("CAD-RADS", "N")),
        ("US RUQ", "GB-RADS 0: non-evaluable, contracted gallbladder.", ("GB-RADS", "0")),
    ],
)
def test_more_stated_wordings(procedure: str, impression: str, expected: tuple[str, str]) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


def test_legend_on_its_own_lines() -> None:
    legend = (
        "BI-RADS Categories:\n0 - Incomplete\n1 - Negative\n2 - Benign\n3 - Probably Benign\n4 - Suspicious\n"
        "5 - Highly Suggestive of Malignancy\n6 - Known Biopsy-Proven Malignancy"
    )
    report = _report(f"Benign calcifications. BI-RADS 2: Benign.\n\n{legend}", findings="See impression.",
                     procedure="MG SCREENING BILATERAL")
    assert _rads(report) == ("BI-RADS", "2")


@pytest.mark.parametrize(
    ("text", "n", "m"),
    [
        ("T2-N1-M0.", "N1", "M0"),
        ("N1 (1/12 lymph nodes positive).", "N1", None),
        ("Metastatic carcinoma in 2 of 14 lymph nodes. M0.", None, "M0"),
        ("Regional nodes: three of 12 positive.\nN1.", "N1", None),
        ("pT3 pN2a (5/23) M0.", "N2", "M0"),
        ("pT1a pNX.", None, None),
        ("Lymph nodes: 0/15 positive (pN0).", "N0", None),
        ("Tumor stage: T3; Nodal stage: N1; Metastasis: M0.", "N1", "M0"),
        ("Occlusion of the M1 segment of the left MCA.", None, None),
        ("Clot in the left M1. No hemorrhage.", None, None),
    ],
)
def test_more_tnm_spellings(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, findings="See impression.")) == (n, m)


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ("Heart size is borderline.", {"cardiomegaly": "uncertain"}),
        ("Borderline heart size.", {"cardiomegaly": "uncertain"}),
        ("Stable borderline cardiomegaly.", {"cardiomegaly": "uncertain"}),
        ("Mild interstitial prominence may reflect edema.", {"edema": "uncertain"}),
        ("Pneumonia resolved.", {"pneumonia": "negative"}),
        ("Right pneumothorax resolved, no new effusion.", {"pleural effusion": "negative", "pneumothorax": "negative"}),
        # a stable silhouette may be stably enlarged: nothing is stated
        ("Cardiomediastinal silhouette is stable.", {}),
        ("Healing left 6th rib fracture.", {"fracture": "positive"}),
        ("Remote right clavicle fracture.", {"fracture": "positive"}),
        (
            "Interval removal of the right chest tube. No pneumothorax.",
            {"pneumothorax": "negative", "support devices": "negative"},
        ),
        ("Dual-chamber pacer leads in place.", {"support devices": "positive"}),
    ],
)
def test_more_chexpert_labels(findings: str, expected: dict[str, str]) -> None:
    assert _chexpert(_report(findings=findings, modality="CR")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pneumothorax resolved.", []),
        ("Small left pneumothorax, decreased from prior.", []),
        ("Subdural hematoma has been evacuated.", []),
        ("Hemorrhagic transformation of the left MCA infarct.", [("intracranial hemorrhage", "definite")]),
        ("Rule out PE.", []),
        ("Clinical concern for testicular torsion; normal flow bilaterally.", []),
        ("Intrauterine pregnancy; no ectopic pregnancy.", []),
        ("Ectopic pregnancy cannot be excluded.", [("ectopic pregnancy", "uncertain")]),
        ("Type B aortic dissection, new since prior.", [("aortic dissection", "definite")]),
    ],
)
def test_more_critical_findings(text: str, expected: list[tuple[str, str]]) -> None:
    assert _critical(_report(text, findings="See impression.")) == expected


@pytest.mark.parametrize(
    ("text", "interval"),
    [
        ("Follow-up ultrasound in 1, 2, 3 and 5 years.", "P1Y"),
        ("Recommend MRI in 3-6 mos.", "P3M"),
        ("Recommend surveillance imaging in 6 mo.", "P6M"),
        ("Recommend repeat imaging in 2-3 days.", "P2D"),
        ("Recommend follow-up in one to two years.", "P1Y"),
        ("Recommend a 3-month follow-up LDCT.", "P3M"),
        ("Continued surveillance every 6 months is recommended.", "P6M"),
        ("Recommend follow-up CT in 12 months, then annually for 5 years.", "P12M"),
    ],
)
def test_more_follow_up_intervals(text: str, interval: str | None) -> None:
    assert [f.interval for f in ENGINE.follow_ups(_report(text, findings="See impression."))] == [interval]


def test_no_follow_up_per_guidelines() -> None:
    report = _report("No follow-up is recommended per Fleischner Society guidelines.", findings="See impression.")
    assert ENGINE.follow_ups(report) == []


@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        (None, "Moderate right and small left pleural effusions.", "bilateral"),
        ("MG DIAGNOSTIC BILATERAL", "Right breast: BI-RADS 4A. Left breast: BI-RADS 4A.", "bilateral"),
        ("MG SCREENING", "Status post right mastectomy. Left breast: BI-RADS 1.", None),
        ("MG DIAGNOSTIC BILATERAL", "Status post left lumpectomy. New right breast mass, BI-RADS 4C.", "right"),
        ("LDCT LUNG SCREENING", "Lung-RADS 4A: LLL nodule; Lung-RADS 2 RUL nodule.", "left"),
        ("US THYROID", "Left lobe TR5 nodule; right lobe TR3 nodule.", "left"),
        ("MRI PROSTATE", "PI-RADS 5 lesion crossing the midline in the anterior TZ.", None),
        ("CCTA", "Right coronary artery occlusion, CAD-RADS 5.", None),
        ("CT NECK", "NI-RADS 3 at the left tongue base primary site.", "left"),
    ],
)
def test_more_laterality(procedure: str | None, impression: str, expected: str | None) -> None:
    assert ENGINE.laterality(_report(impression, findings="See impression.", procedure=procedure)) == expected
