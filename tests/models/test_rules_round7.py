"""Rules engine, round 7: report shapes written for this file, in none of the earlier rounds.

A prior-study cue on the line after the stage ("T2 N1 M0" then "(per outside report)"), bare "Overall: 4B"
read only when the exam names one system, modifiers written later in the category's sentence ("CAD-RADS 3 / P2
(...), HRP present", "Lung-RADS 4A; S: ...", a separate "S modifier: Yes" field), a capital run into a T stage
that is no clinical prefix ("CT2 N0 scan"), categories only not excluded ("cannot exclude BI-RADS 4"), NI-RADS
sites named before the system or in brackets after each score, RADS columns of pipe tables, and a wide set of
dictation styles for all ten systems and N/M stages. Everything runs the real engine on the text.
"""

from __future__ import annotations

import pytest
from rules_probe import ENGINE
from rules_probe import rads as _rads
from rules_probe import report as _report
from rules_probe import stages as _stages

from adapters.text import report_from_text
from models.rules.critical import critical_findings


def _modifiers(procedure: str, impression: str, addendum: str | None = None) -> tuple[str, ...]:
    got = ENGINE.rads(_report(impression, findings="See impression.", procedure=procedure, addendum=addendum))
    assert got is not None, impression
    return tuple(sorted(got.value.modifiers))  # type: ignore[union-attr]


# ---- stated categories, all ten systems -----------------------------------------------------------------------

_STATED = [
    # BI-RADS
    ("MG SCREENING BILATERAL", "BI-RADS CATEGORY 1: NEGATIVE.", ("BI-RADS", "1")),
    ("MG DIAGNOSTIC LEFT", "IMPRESSION:\n1. 1.2 cm irregular mass left breast 2:00, highly suggestive of malignancy.\n"
                           "2. BI-RADS 5.", ("BI-RADS", "5")),
    ("MG DIAGNOSTIC LEFT", "Assessment: Suspicious - BI-RADS 4B.\nRecommendation: US-guided core biopsy.",
     ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC", "Prior BI-RADS 4 biopsy benign. Current: BI-RADS 2.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "Benign. Prior BI-RADS 4 biopsy benign.", None),
    ("MG DIAGNOSTIC", "BI-RADS 3 - probably benign. Cannot exclude BI-RADS 4 lesion.", ("BI-RADS", "3")),
    ("MG DIAGNOSTIC", "No BI-RADS 5 features. BI-RADS 4A.", ("BI-RADS", "4A")),
    ("US BREAST RIGHT", "BI-RADS: 4 - Suspicious\n(4A - low suspicion)", ("BI-RADS", "4A")),
    ("MG DIAGNOSTIC", "Right: BI-RADS 2. Left: BI-RADS 4B. Overall BI-RADS 4B.", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC", "ACR BI-RADS ASSESSMENT CATEGORY: 0 - INCOMPLETE", ("BI-RADS", "0")),
    ("MG DIAGNOSTIC", "BI-RADS: Category 3.", ("BI-RADS", "3")),
    ("MG DIAGNOSTIC", "BIRADS-4c", ("BI-RADS", "4C")),
    ("MG DIAGNOSTIC", "Final Assessment: Category 4C - High suspicion", ("BI-RADS", "4C")),
    ("MG DIAGNOSTIC LEFT", "Overall impression: BI-RADS 4B", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC", "Compared with prior BI-RADS 3 exam, stable. BI-RADS 2.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "The mass previously categorized as BI-RADS 4 has been excised. BI-RADS 1.", ("BI-RADS", "1")),
    ("MG DIAGNOSTIC", "BI-RADS 3\n(per outside report)", None),
    ("MG DIAGNOSTIC", "BI-RADS 2 (stable from prior)", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "BI-RADS 2 (prior biopsy site with clip)", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "Not BI-RADS 3: BI-RADS 4A given interval growth.", ("BI-RADS", "4A")),
    ("MG DIAGNOSTIC", "Irregular mass, highly suspicious for malignancy,\nBI-RADS 5.", ("BI-RADS", "5")),
    ("US BREAST", "1. Simple cyst left breast 3:00.\n2. BI-RADS 2: Benign.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC LEFT", "ASSESSMENT: 4A - Low suspicion for malignancy.", ("BI-RADS", "4A")),
    ("MRI BREAST BILATERAL", "Final assessment category 6: known biopsy-proven malignancy.", ("BI-RADS", "6")),
    ("MG DIAGNOSTIC", "Malignancy cannot be excluded (BI-RADS 4A).", ("BI-RADS", "4A")),
    ("MG DIAGNOSTIC", "Cannot exclude malignancy, BI-RADS 4B.", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC", "BI-RADS 4A: malignancy cannot be excluded.", ("BI-RADS", "4A")),
    ("MRI LIVER W WO", "LR-4; LR-M cannot be excluded.", ("LI-RADS", "LR-4")),
    ("MG DIAGNOSTIC", "BI-RADS Category 4 (Suspicious) - subcategory 4B", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC", "BI-RADS 4\n(previously BI-RADS 3)", ("BI-RADS", "4")),
    ("MG DIAGNOSTIC", "BI-RADS 3 (on the outside mammogram)", None),
    ("MG DIAGNOSTIC", "BI-RADS CATEGORY:\n4A - LOW SUSPICION", ("BI-RADS", "4A")),
    ("MG DIAGNOSTIC", "BI-RADS 2\n(benign)", ("BI-RADS", "2")),
    ("LDCT LUNG SCREENING", "Lung-RADS 2 (on prior exam Lung-RADS 3).", ("Lung-RADS", "2")),
    ("LDCT LUNG SCREENING", "Lung-RADS 3 (from prior study).", None),
    ("CT NECK W CONTRAST", "NI-RADS 2B", ("NI-RADS", "2b")),
    ("US PELVIS TRANSVAGINAL", "O-RADS US 4 (right), O-RADS US 2 (left)", ("O-RADS", "4")),
    ("US GALLBLADDER", "GB-RADS: 0 (non-evaluable)", ("GB-RADS", "0")),
    ("CCTA", "CAD-RADS N", ("CAD-RADS", "N")),
    ("MG DIAGNOSTIC", "BI-RADS 4: Suspicious abnormality. Biopsy should be considered.\nBI-RADS 5 would be assigned "
                      "if calcifications progress.", ("BI-RADS", "4")),
    ("MRI LIVER W WO", "LR-4. If washout is confirmed on follow-up, LR-5.", ("LI-RADS", "LR-4")),
    ("US THYROID", "Right lobe TR4, left lobe TR3; prior TR5 nodule resected.", ("TI-RADS", "TR4")),
    ("MRI LIVER W WO", "LR-5 (segment 8), LR-3 (segment 2). No LR-M or LR-TIV.", ("LI-RADS", "LR-5")),
    ("MRI PROSTATE W WO", "PI-RADS 1-2: clinically significant cancer unlikely. Overall PI-RADS 2.", ("PI-RADS", "2")),
    # C-RADS (CT colonography) is none of the ten systems
    ("CT COLONOGRAPHY", "C-RADS C2 E1", None),
    ("MG DIAGNOSTIC", "BI-RADS 2 (benign), unchanged from 2022.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "BI-RADS 4 in 2022 (biopsy benign). Today BI-RADS 2.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "Right breast: BI-RADS 6.\nLeft breast: BI-RADS 4A.", ("BI-RADS", "4A")),
    ("MG SCREENING BILATERAL", "BI-RADS 0: Incomplete. Recall for additional imaging. Density: heterogeneously "
                               "dense (C).", ("BI-RADS", "0")),
    # Lung-RADS
    ("LDCT LUNG SCREENING", "LUNG-RADS: 2 - BENIGN APPEARANCE OR BEHAVIOR", ("Lung-RADS", "2")),
    ("LDCT LUNG SCREENING", "Lung-RADS Category 4A: suspicious. Recommend 3 month LDCT.", ("Lung-RADS", "4A")),
    ("LDCT LUNG SCREENING", "LungRADS 4B", ("Lung-RADS", "4B")),
    ("LDCT LUNG SCREENING", "Lung-RADS 3. Would be 4A if solid component grows.", ("Lung-RADS", "3")),
    ("LDCT LUNG SCREENING", "Lung-RADS 2 (previously 3).", ("Lung-RADS", "2")),
    ("LDCT LUNG SCREENING", "Lung-RADS 4A on prior study; now Lung-RADS 3.", ("Lung-RADS", "3")),
    ("LDCT LUNG SCREENING", "Lung-RADS 4A; S: 5.2 cm AAA", ("Lung-RADS", "4A")),
    ("LDCT LUNG SCREENING", "No nodule meets Lung-RADS 4A criteria. Lung-RADS 3.", ("Lung-RADS", "3")),
    ("LDCT LUNG SCREENING", "Lung-RADS 4B. Lung-RADS 4X features not present.", ("Lung-RADS", "4B")),
    ("LDCT LUNG SCREENING", "Lung-RADS 3; upgrade to 4X not warranted.", ("Lung-RADS", "3")),
    ("LDCT LUNG SCREENING", "Lung-RADS version 2022: 4B", ("Lung-RADS", "4B")),
    ("LDCT LUNG SCREENING", "Lung-RADS 0 pending comparison with prior CT.", ("Lung-RADS", "0")),
    # LI-RADS
    ("MRI LIVER W WO", "LR-5 (definite HCC)", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "LI-RADS v2018: LR-4", ("LI-RADS", "LR-4")),
    ("MRI LIVER W WO", "LR-5 observation treated with TACE in 2024; now LR-TR Viable.", ("LI-RADS", "LR-TR Viable")),
    ("MRI LIVER W WO", "LR-TR Equivocal; recommend repeat MRI in 3 months.", ("LI-RADS", "LR-TR Equivocal")),
    ("MRI LIVER W WO", "No LR-5 observation. LR-3 observation segment 6.", ("LI-RADS", "LR-3")),
    ("MRI LIVER W WO", "No LR-5 observation.", None),
    ("MRI LIVER W WO", "Segment 8 observation: LI-RADS 4 (probably HCC).", ("LI-RADS", "LR-4")),
    ("MRI LIVER W WO", "LI-RADS: LR-M", ("LI-RADS", "LR-M")),
    ("MRI LIVER W WO", "OBSERVATION #1: SEGMENT 7, 2.3 CM, LR-5.\nOBSERVATION #2: SEGMENT 2, 0.8 CM, LR-3.",
     ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "LR-3 observation; cannot exclude LR-4.", ("LI-RADS", "LR-3")),
    ("MRI LIVER W WO", "LR-4 on the 2024 MRI, now LR-5.", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "LR-5 (from prior study)", None),
    ("MRI LIVER W WO", "LR-3\n(from outside MRI 2025-01-04)", None),
    ("MRI LIVER W WO", "There is no observation meeting LR-5 criteria; LR-4 in segment 8.", ("LI-RADS", "LR-4")),
    ("MRI LIVER W WO", "None of the observations meets criteria for LR-5. LR-3, segment 4.", ("LI-RADS", "LR-3")),
    ("MRI LIVER W WO", "1. Segment 8: LR-5.\n2. Segment 3: LR-3.\n3. Segment 6: LR-TR Nonviable.", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "Segment 7 observation with APHE, washout and capsule, LI-RADS\ncategory LR-5.",
     ("LI-RADS", "LR-5")),
    # TI-RADS
    ("US THYROID", "ACR TI-RADS: 5 (TR5).", ("TI-RADS", "TR5")),
    ("US THYROID", "TI-RADS 4 nodule right lobe measuring 1.6 cm. FNA recommended.", ("TI-RADS", "TR4")),
    ("US NECK", "Right thyroid nodule TR5.", ("TI-RADS", "TR5")),
    ("US THYROID", "Nodule 1: TR3\nNodule 2: TR-4\nNodule 3: TR 2", ("TI-RADS", "TR4")),
    ("US THYROID", "Right nodule TR4 (TR3 on prior).", ("TI-RADS", "TR4")),
    ("US THYROID", "RIGHT LOBE: TR3 NODULE 1.8 CM.\nLEFT LOBE: TR5 NODULE 1.1 CM.\nISTHMUS: TR2.", ("TI-RADS", "TR5")),
    ("US THYROID", "IMPRESSION:\n1. 2.1 cm solid hypoechoic nodule right lobe, ACR TI-RADS TR4. FNA recommended.\n"
                   "2. Subcentimeter TR2 nodule left lobe. No follow-up.", ("TI-RADS", "TR4")),
    ("US THYROID", "Category: TR4", ("TI-RADS", "TR4")),
    ("US THYROID", "Nodule previously TR4 on 2023 study, now TR3.", ("TI-RADS", "TR3")),
    ("US THYROID", "TIRADS: TR3 (3 points)", ("TI-RADS", "TR3")),
    # PI-RADS
    ("MRI PROSTATE W WO", "PI-RADS v2.1 score 4", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "PI-RADS 2.1: 3", ("PI-RADS", "3")),
    ("MRI PROSTATE W WO", "Overall PI-RADS assessment category: 4", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "Index lesion PI-RADS 5; secondary lesion PI-RADS 3.", ("PI-RADS", "5")),
    ("MRI PROSTATE W WO", "PI-RADS 3 on outside MRI. Today PI-RADS 4.", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "PI-RADS 4; PI-RADS 5 cannot be excluded.", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "PI-RADS 3 lesion. Cannot rule out PI-RADS 4.", ("PI-RADS", "3")),
    ("MRI PROSTATE W WO", "Target 1: PI-RADS 5 (left PZ). Target 2: PI-RADS 3 (right TZ).", ("PI-RADS", "5")),
    ("MRI PROSTATE W WO", "1. PI-RADS v2.1 score 4 lesion left PZ mid gland.\n2. No extraprostatic extension.",
     ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "Assessment category: 4", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "PI-RADS score of 4.", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "Compared with MRI 2023 (PI-RADS 3), the lesion now measures 1.6 cm: PI-RADS 4.",
     ("PI-RADS", "4")),
    # O-RADS
    ("US PELVIS TRANSVAGINAL", "O-RADS US 4", ("O-RADS", "4")),
    ("US PELVIS TRANSVAGINAL", "O-RADS US v2022 category 3.", ("O-RADS", "3")),
    ("MRI PELVIS W WO", "O-RADS MRI 4 (intermediate risk).", ("O-RADS", "4")),
    ("US PELVIS", "ORADS 2", ("O-RADS", "2")),
    ("US PELVIS TRANSVAGINAL", "O-RADS 3; O-RADS 4 not excluded.", ("O-RADS", "3")),
    ("US PELVIS TRANSVAGINAL", "Right ovary: O-RADS US 2. Left ovary: O-RADS US 4. Overall O-RADS US 4.",
     ("O-RADS", "4")),
    # NI-RADS
    ("CT NECK W CONTRAST", "NI-RADS 2a", ("NI-RADS", "2a")),
    ("PET/CT NECK", "Primary: NI-RADS 3\nNeck: NI-RADS 2", ("NI-RADS", "3")),
    ("CT SOFT TISSUE NECK W CONTRAST", "NI-RADS: 1 (primary), 1 (neck)", ("NI-RADS", "1")),
    ("CT NECK W CONTRAST", "NI-RADS 2a primary; neck NI-RADS 1. Prior NI-RADS 3 neck resolved.", ("NI-RADS", "2a")),
    # CAD-RADS
    ("CCTA", "CAD-RADS 2/P1", ("CAD-RADS", "2")),
    ("CTA CORONARY", "CAD-RADS 4B (left main 60%).", ("CAD-RADS", "4B")),
    ("CCTA", "CAD RADS 5", ("CAD-RADS", "5")),
    ("CCTA", "CAD-RADS 2/P1 (prior CAD-RADS 3 in 2022).", ("CAD-RADS", "2")),
    ("CCTA", "Severe stenosis of the proximal LAD. CAD-RADS\n4A/P3.", ("CAD-RADS", "4A")),
    ("CCTA", "Category: 3/P2", ("CAD-RADS", "3")),
    # VI-RADS, GB-RADS
    ("MRI BLADDER W WO", "VI-RADS 4", ("VI-RADS", "4")),
    ("MRI BLADDER W WO", "VI-RADS 2 (muscle invasion unlikely). Cannot exclude VI-RADS 3.", ("VI-RADS", "2")),
    ("US ABDOMEN LIMITED RUQ", "GB-RADS 2", ("GB-RADS", "2")),
    ("US GALLBLADDER", "GB-RADS category 4: malignancy likely.", ("GB-RADS", "4")),
    ("US GALLBLADDER", "GB-RADS 3. Would be GB-RADS 4 if interface loss confirmed.", ("GB-RADS", "3")),
]


@pytest.mark.parametrize(("procedure", "impression", "expected"), _STATED)
def test_stated_category(procedure: str, impression: str, expected: tuple[str, str] | None) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


# ---- a bare overall category: only when the exam names one system that defines it --------------------------

@pytest.mark.parametrize(("procedure", "impression", "expected"), [
    ("MG DIAGNOSTIC LEFT", "Overall: 4B", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC LEFT", "OVERALL ASSESSMENT: 4B", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC LEFT", "Final assessment category 4C", ("BI-RADS", "4C")),
    ("MG DIAGNOSTIC LEFT", "OVERALL: 4B - moderate suspicion for malignancy.", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC BILATERAL", "Right: 2\nLeft: 3\nOverall: 4B", ("BI-RADS", "4B")),
    ("LDCT LUNG SCREENING", "Overall: 4X", ("Lung-RADS", "4X")),
    ("US THYROID", "Overall: 4", ("TI-RADS", "TR4")),
    # a count, not a category
    ("MG DIAGNOSTIC LEFT", "Overall: 2 masses, both benign.", None),
    # pelvis: O-RADS, PI-RADS and VI-RADS all define 4, so no guess
    ("MRI PELVIS", "Overall: 4", None),
    ("MRI PELVIS", "Assessment category: 4", None),
    # the system's label set must hold the category: CAD-RADS has no 4C, Lung-RADS no 5
    ("CCTA", "Overall: 4C", None),
    ("LDCT LUNG SCREENING", "Overall: 5", None),
    # no exam named: no guess
    (None, "Overall: 4B", None),
])
def test_bare_overall_category(procedure: str | None, impression: str, expected: tuple[str, str] | None) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


# ---- RADS columns of pipe tables --------------------------------------------------------------------------------

@pytest.mark.parametrize(("procedure", "impression", "expected"), [
    ("MG DIAGNOSTIC", "| Side | BI-RADS |\n| Right | 2 |\n| Left | 4B |", ("BI-RADS", "4B")),
    ("MG DIAGNOSTIC", "| Side | BI-RADS |\n|---|---|\n| Right | 2 |\n| Left (prior 2024) | 4B |", ("BI-RADS", "2")),
    ("MRI PROSTATE W WO", "| Lesion | Zone | Size | PI-RADS |\n|---|---|---|---|\n| 1 | PZ | 1.1 cm | 4 |\n"
                          "| 2 | TZ | 0.6 cm | 2 |", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "| Lesion | PI-RADS |\n| 1 | 3 |", ("PI-RADS", "3")),
    ("MRI LIVER W WO", "| Observation | Segment | LI-RADS |\n| 1 | 7 | LR-5 |\n| 2 | 2 | LR-3 |", ("LI-RADS", "LR-5")),
    ("MG DIAGNOSTIC", "| BI-RADS | 4A |", ("BI-RADS", "4A")),
    ("US PELVIS TRANSVAGINAL", "| Adnexa | O-RADS US category |\n| Right | 1 |\n| Left | 3 (low risk) |",
     ("O-RADS", "3")),
])
def test_rads_column_of_a_table(procedure: str, impression: str, expected: tuple[str, str] | None) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


# ---- modifiers written apart from the category ------------------------------------------------------------------

@pytest.mark.parametrize(("procedure", "impression", "modifiers"), [
    ("LDCT LUNG SCREENING", "Lung-RADS 4A; S: 5.2 cm AAA", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS category: 2\nS modifier: Yes - severe coronary artery calcification", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS category: 2\nS modifier: No", ()),
    ("LDCT LUNG SCREENING", "Lung-RADS 4X. S modifier for emphysema.", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 2. No S modifier.", ()),
    ("LDCT LUNG SCREENING", "Lung-RADS 2.\nS: Clinically significant or potentially clinically significant findings "
                            "(non lung cancer).", ()),
    ("LDCT LUNG SCREENING", "Lung-RADS 3\nS: 4.8 cm ascending aortic aneurysm", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 3\nS: N/A", ()),
    ("LDCT LUNG SCREENING", "Lung-RADS 2S", ("S",)),
    ("LDCT LUNG SCREENING", "LUNG-RADS CATEGORY 4B: VERY SUSPICIOUS\nS MODIFIER: YES (EMPHYSEMA)", ("S",)),
    ("LDCT LUNG SCREENING", "LUNG-RADS CATEGORY 2\nS MODIFIER: NO", ()),
    ("LDCT LUNG SCREENING", "Lung-RADS 2. S modifier not applied.", ()),
    ("CCTA", "CAD-RADS 4A/P3/HRP. Prior CAD-RADS 3/P2 in 2023.", ("HRP", "P3")),
    ("CCTA", "CAD-RADS 2 / P1. HRP: none. I: not assessed.", ("P1",)),
    ("CCTA", "CAD-RADS 3 / P2 (moderate plaque burden), HRP present", ("HRP", "P2")),
    ("CCTA", "CAD-RADS 3 / P2 (moderate plaque burden), no HRP", ("P2",)),
    ("CCTA", "CAD-RADS 3, P2, HRP, I+ (CT-FFR 0.74).", ("HRP", "I+", "P2")),
    ("CCTA", "CAD-RADS 3/P2 (prior CAD-RADS 2/P1).", ("P2",)),
    ("CCTA", "CAD-RADS 2 with P1 plaque burden.", ("P1",)),
    ("CCTA", "CAD-RADS 4A/P3, HRP: absent, I+.", ("I+", "P3")),
    ("CCTA", "CAD-RADS 3 (50-69% stenosis of the proximal RCA), P2, HRP.", ("HRP", "P2")),
    ("CCTA", "Category 3/P2, HRP.", ("HRP", "P2")),
    ("CCTA", "CAD-RADS 1 (P1) - minimal plaque in the LAD; patient on P2Y12 inhibitor.", ("P1",)),
    ("CCTA", "CAD-RADS 2/P2 with possible HRP in the LAD.", ("P2",)),
    ("CT NECK W CONTRAST", "NI-RADS 2b (primary); NI-RADS 1 (neck)", ("neck 1", "primary 2b")),
    ("PET/CT NECK", "Primary: NI-RADS 3\nNeck: NI-RADS 2", ("neck 2", "primary 3")),
    ("CT SOFT TISSUE NECK W CONTRAST", "NI-RADS: 1 (primary), 1 (neck)", ("neck 1", "primary 1")),
    ("CT NECK W CONTRAST", "NI-RADS 2a primary; neck NI-RADS 1. Prior NI-RADS 3 neck resolved.",
     ("neck 1", "primary 2a")),
])
def test_modifiers_apart_from_the_category(procedure: str, impression: str, modifiers: tuple[str, ...]) -> None:
    assert _modifiers(procedure, impression) == modifiers


@pytest.mark.parametrize(("findings", "impression"), [
    ("HISTORY: prior Lung-RADS 3 with S modifier.\nStable 5 mm nodule.", "Lung-RADS 2."),
    ("Stable 5 mm nodule.", "Lung-RADS 2. Prior study had an S modifier for aneurysm."),
])
def test_a_prior_studys_s_modifier_is_not_todays(findings: str, impression: str) -> None:
    got = ENGINE.rads(_report(impression, findings=findings, procedure="LDCT LUNG SCREENING"))
    assert got is not None
    assert (got.value.category, got.value.modifiers) == ("2", ())  # type: ignore[union-attr]


def test_addendum_adds_an_ischemia_modifier() -> None:
    assert _modifiers("CCTA", "CAD-RADS 3/P2.",
                      addendum="ADDENDUM: CT-FFR 0.72 distal to the stenosis. CAD-RADS 3/P2/I+.") == ("I+", "P2")


# ---- addenda ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("procedure", "findings", "impression", "addendum", "expected"), [
    ("MG DIAGNOSTIC", "Focal asymmetry.", "BI-RADS 0.",
     "ADDENDUM: Additional views performed; asymmetry resolved. Final BI-RADS 1.", ("BI-RADS", "1")),
    ("LDCT LUNG SCREENING", "8 mm solid nodule.", "Lung-RADS 4A.",
     "ADDENDUM: Prior outside CT 2023 shows stability; revised to Lung-RADS 2.", ("Lung-RADS", "2")),
    ("MRI PROSTATE W WO", "Lesion left PZ.", "PI-RADS 3.", "ADDENDUM: On review of DCE, upgraded to PI-RADS 4.",
     ("PI-RADS", "4")),
    ("MG DIAGNOSTIC LEFT", "Mass.", "Overall: 4A", "ADDENDUM: Overall: 4C", ("BI-RADS", "4C")),
])
def test_addendum_revises(procedure: str, findings: str, impression: str, addendum: str,
                          expected: tuple[str, str]) -> None:
    assert _rads(_report(impression, findings=findings, procedure=procedure, addendum=addendum)) == expected


# ---- TNM ------------------------------------------------------------------------------------------------------

_TNM = [
    # a prior-study cue on the next line, or in a bracket on the stage's own line
    ("Staging: T2 N1 M0\n(per outside report)\nNew 2 cm RUL mass.", None, None),
    ("T2 N1 M0\n(from prior study)", None, None),
    ("T2 N1 M0 (from prior study)", None, None),
    ("T2 N0 M0\n(prior study 2024)", None, None),
    ("T2 N0 M0\n(outside staging)", None, None),
    ("Left breast carcinoma, cT2 cN1 cM0\n(per outside report)", None, None),
    ("The mass is T2 N0 M0\n(AJCC 8th edition).", "N0", "M0"),
    ("T2 N1 M0\n(new diagnosis)", "N1", "M0"),
    ("T2 N1 M0\n(per tumor board)", "N1", "M0"),
    ("T2 N1 M0, per outside report.", None, None),
    ("Lung cancer. cN2\n(possible)", None, None),
    ("Lung cancer. cN2\n(likely reactive)", None, None),
    ("Lung cancer. cN2\n(ipsilateral mediastinal)", "N2", None),
    # a capital run into the T is no prefix in a lower-case sentence; in capitals or with a prefixed N it is
    ("CT2 N0 scan of the chest.", None, None),
    ("Follow up CT2 N1 series.", None, None),
    ("ACT2 N0", None, None),
    ("STAGING: CT2 CN1 CM0", "N1", "M0"),
    ("Clinical stage CT2 cN1 cM0.", "N1", "M0"),
    ("CLINICAL STAGING: T3 N2B M0", "N2", "M0"),
    # prefixes, suffixes and subdivisions
    ("cT2 cN1 cM0", "N1", "M0"),
    ("N2b disease in the left neck.", "N2", None),
    ("pN1mi", "N1", None),
    ("ypN0", "N0", None),
    ("M1a", None, "M1"),
    ("pT1c pN0 M0 (i+)", "N0", "M0"),
    ("pT1c pN0(i+) M0", "N0", "M0"),
    ("cM0(i+)", None, "M0"),
    ("Invasive ductal carcinoma of the left breast.\nM0 (i+).", None, "M0"),
    ("pT2 pN1mi M0", "N1", "M0"),
    ("pT1b pN0(sn) cM0", "N0", "M0"),
    ("T3N2bM0", "N2", "M0"),
    ("TxN2M1a", "N2", "M1"),
    ("Stage IIIB (cT3 cN2 cM0)", "N2", "M0"),
    ("AJCC 8th edition: cT1c cN0 cM0, stage IA3.", "N0", "M0"),
    ("ypT0N0", "N0", None),
    ("Restaging: ycT2 ycN0 cM0.", "N0", "M0"),
    # X is no stage
    ("TNM: T2 NX M0", None, "M0"),
    ("T2 Nx Mx", None, None),
    ("T3 N2 MX", "N2", None),
    ("T2 NX M1", None, "M1"),
    ("N stage: NX", None, None),
    ("M stage: MX", None, None),
    ("cN+", None, None),
    # lead-ins, tables and counts
    ("N category: N2a", "N2", None),
    ("Nodal stage - N3", "N3", None),
    ("M stage: M1 (liver).", None, "M1"),
    ("| T | T3 |\n| N | N2 |\n| M | M1a |", "N2", "M1"),
    ("| T | N | M |\n| T2 | N1 | M0 |", "N1", "M0"),
    ("STAGING SUMMARY\nT: T2a\nN: N2\nM: M0", "N2", "M0"),
    ("T-stage: T2\nN-stage: N0\nM-stage: M0", "N0", "M0"),
    ("Staging summary: T = T3; N = N1; M = M0.", "N1", "M0"),
    ("Staging: cT2, cN0, cM1b (solitary bone metastasis)", "N0", "M1"),
    ("N0 (0/15).", "N0", None),
    ("pN2a (5/18 lymph nodes).", "N2", None),
    ("1. Enlarged right paratracheal node, N2.", "N2", None),
    ("Stage N2c (bilateral neck nodes).", "N2", None),
    # hedged stages are left to the model
    ("Suspect M1 disease.", None, None),
    ("N2 disease cannot be excluded.", None, None),
    ("N2 disease is suspected.", None, None),
    ("Probable N2 nodal disease.", None, None),
    ("N1 (probable).", None, None),
    ("cN1 - likely reactive.", None, None),
    ("N1 vs N2.", None, None),
    ("Findings are compatible with N2 disease.", "N2", None),
    # two stages offered as alternatives or a range: neither is stated
    ("Lung cancer staging: cT2 cN1-2 cM0.", None, "M0"),
    ("N1/N2 disease.", None, None),
    ("cN2/N3", None, None),
    ("N2 or N3 disease.", None, None),
    ("T2 N2-3 M0", None, "M0"),  # the N offered as alternatives is unread; the M is stated
    # ... but letters joined by slashes or hyphens are one string
    ("Staging: N0/M0", "N0", "M0"),
    ("T2/N1/M0", "N1", "M0"),
    ("T2-N1-M0", "N1", "M0"),
    ("N stage: N1/M stage: M0", "N1", "M0"),
    ("Nodal status: pN0 (0/3 sentinel nodes).", "N0", None),
    ("Downstaged from cN2 to ycN0.", "N0", None),
    ("Distant metastasis: absent (M0).", None, "M0"),
    ("TNM (8th ed.): T1b, N0, M0", "N0", "M0"),
    ("cT1bN0M0\n(AJCC 8th)", "N0", "M0"),
    ("T2N0M0 (outside report)", None, None),
    ("The patient was previously staged T2N0M0; current study shows new bone metastases (M1b).", None, "M1"),
    # history versus now
    ("Prior staging (2023): cT3 N1 M0. Current: ycT2 ycN0.", "N0", None),
    ("Initial staging T3 N1 M0 in 2022. Restaging today shows new liver metastasis: M1.", None, "M1"),
    ("History of lung cancer, T1bN0M0, treated with SBRT 2021.", None, None),
    ("T2 N0 M0 per report from 2019.", None, None),
    # words
    ("No distant metastatic disease in the chest, abdomen or pelvis.", None, "M0"),
    ("Suspicious 8 mm liver lesion; cannot exclude metastasis. No other distant metastases.", None, None),
    ("No M1 disease.", None, None),
    ("M1 segment occlusion of the right MCA. No hemorrhage.", None, None),
]


@pytest.mark.parametrize(("text", "n", "m"), _TNM)
def test_tnm(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, findings="See impression.")) == (n, m)


# ---- whole reports --------------------------------------------------------------------------------------------

_OUTSIDE_STAGE = (
    "EXAM: CT CHEST WITH CONTRAST\n"
    "CLINICAL HISTORY: Lung adenocarcinoma, restaging.\n"
    "FINDINGS:\nStable 2.1 cm right upper lobe mass. No enlarging nodes.\n"
    "IMPRESSION:\n1. Stable right upper lobe mass.\n2. Staging at diagnosis: cT2a cN1 cM0\n(per outside report).\n"
)

_CAPS_MAMMO = (
    "EXAM: MAMMO DIAGNOSTIC LEFT\n"
    "FINDINGS:\nIRREGULAR HIGH-DENSITY MASS WITH SPICULATED MARGINS AT 2:00, 4 CM FROM THE NIPPLE.\n"
    "IMPRESSION:\nSUSPICIOUS LEFT BREAST MASS. ULTRASOUND-GUIDED BIOPSY RECOMMENDED.\n"
    "OVERALL: 4C\n"
)

_LUNG_TEMPLATE = (
    "EXAM: CT CHEST LOW DOSE LUNG CANCER SCREENING\n"
    "COMPARISON: LDCT 2025-01-10 (Lung-RADS 3).\n"
    "FINDINGS:\n7 mm solid nodule right lower lobe, stable.\n4.6 cm ascending aortic aneurysm.\n"
    "IMPRESSION:\nLung-RADS category: 2\nS modifier: Yes - ascending aortic aneurysm, cardiology referral.\n"
)


def test_stage_quoted_from_an_outside_report_on_the_next_line() -> None:
    assert _stages(report_from_text(_OUTSIDE_STAGE)) == (None, None)


def test_all_caps_overall_category_in_a_mammogram() -> None:
    assert _rads(report_from_text(_CAPS_MAMMO)) == ("BI-RADS", "4C")


def test_lung_rads_template_with_a_separate_s_field() -> None:
    got = ENGINE.rads(report_from_text(_LUNG_TEMPLATE))
    assert got is not None
    assert (got.value.system, got.value.category, got.value.modifiers) == ("Lung-RADS", "2", ("S",))  # type: ignore[union-attr]


@pytest.mark.parametrize("impression", [
    "US LI-RADS category: US-2. Visualization score: VIS-A.",
    "Ultrasound LI-RADS US-3: observation 1.2 cm, CT or MRI recommended.",
    "LI-RADS: US-1 negative. VIS-B.",
])
def test_an_ultrasound_li_rads_category_is_no_lr_category(impression: str) -> None:
    """US LI-RADS (surveillance ultrasound) grades US-1..3, which are not LR-1..3: no LI-RADS category is read."""
    assert _rads(_report(impression, findings="Cirrhotic liver.", procedure="US ABDOMEN LIMITED LIVER")) is None


def test_a_count_of_nodes_after_a_dash_is_no_alternative_stage() -> None:
    text = "Colon adenocarcinoma. Pathologic stage pT3 pN1 - 2 of 15 nodes positive. M0."
    assert _stages(_report(text, procedure="CT CHEST ABDOMEN PELVIS W CONTRAST")) == ("N1", "M0")


@pytest.mark.parametrize(("text", "n", "m"), [
    ("Known rectal adenocarcinoma. The patient is staged as N1 by MRI.", "N1", None),
    ("Lung cancer: upstaged to N3 given the contralateral hilar node.", "N3", None),
    ("Breast cancer, restaged as ycN0 after neoadjuvant therapy.", "N0", None),
    ("Colon cancer. Downstaged to T2 N0 M0.", "N0", "M0"),
    ("Lung cancer. Could be upstaged to N3 if the node is positive.", None, None),  # hedged: the model decides
    ("Prostate cancer staged at N0 M0 in 2019. Now new pelvic nodes.", None, None),  # a past staging
])
def test_a_stage_after_staged_as(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, procedure="CT CHEST ABDOMEN PELVIS W CONTRAST")) == (n, m)


def test_ni_rads_0_is_a_category_the_rules_know() -> None:
    """NI-RADS 0 (a new baseline while prior imaging is not yet available) is in the guideline table: read as a
    category, not as a statement of a category the system does not define."""
    got = ENGINE.rads(_report("NI-RADS 0: new baseline; prior imaging exists but is not yet available.",
                              findings="Post-treatment changes of the left neck.",
                              procedure="CT NECK SOFT TISSUE W CONTRAST"))
    assert got is not None
    assert (got.value.system, got.value.category, got.value.stated_category) == ("NI-RADS", "0", None)  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "terms"), [
    ("Enlarged right ovary without flow, consistent with ovarian torsion.", ["ovarian torsion"]),
    ("Left testis without flow, compatible with testicular torsion.", ["testicular torsion"]),
    ("No findings consistent with ovarian torsion.", []),
    ("No pneumothorax, consistent with successful chest tube placement.", []),
])
def test_a_negation_ends_at_the_comma_before_what_the_finding_means(text: str, terms: list[str]) -> None:
    """ "<organ> without flow, consistent with torsion": the "without" negates the flow, not the diagnosis."""
    assert [c.term for c in critical_findings(text)] == terms
