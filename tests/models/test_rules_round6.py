"""Rules engine, round 6: report shapes written for this file, in none of the earlier rounds.

Modifiers in brackets or after a comma ("CAD-RADS 2 (P1)", "Lung-RADS 2, S"), categories revised in
the same sentence ("PI-RADS 3, upgraded to 4"), all-caps and bulleted reports, line-wrapped sentences,
addenda that change the category, multi-lesion reports, prior-study comparisons, TNM in tables, a
dated tumor-board stage, stage groups with their TNM in brackets, and a lone "M1." that names an MCA
segment or a legend entry rather than a stage. Everything runs the real engine on the text.
"""

from __future__ import annotations

import pytest
from rules_probe import ENGINE
from rules_probe import rads as _rads
from rules_probe import report as _report
from rules_probe import stages as _stages

from adapters.text import report_from_text
from models.types import TaskName, TaskRequest

# ---- stated categories, all ten systems, realistic formatting --------------------------------------------

_STATED = [
    # BI-RADS
    ("MG DIAGNOSTIC LEFT", "ASSESSMENT - BI-RADS 0: INCOMPLETE. NEED ADDITIONAL IMAGING EVALUATION.", ("BI-RADS", "0")),
    ("MG DIAGNOSTIC LEFT", "Assessment - BI-RADS 0: incomplete", ("BI-RADS", "0")),
    ("MG DIAGNOSTIC RIGHT", "Irregular spiculated mass at 11:00.\nCategory: 4A", ("BI-RADS", "4A")),
    ("MG DIAGNOSTIC LEFT", "SUSPICIOUS LEFT BREAST MASS. BI-RADS CATEGORY 4C - HIGH SUSPICION FOR MALIGNANCY.",
     ("BI-RADS", "4C")),
    ("US BREAST LEFT", "Previously BI-RADS 4, now BI-RADS 2 after benign concordant biopsy.", ("BI-RADS", "2")),
    ("US BREAST RIGHT", "BI-RADS 2 (previously 4): biopsy-proven fibroadenoma.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC BILATERAL", "• Right breast: BI-RADS 1\n• Left breast: BI-RADS 3", ("BI-RADS", "3")),
    ("MG DIAGNOSTIC LEFT", "The irregular mass at 2:00 in the left breast is highly suspicious, BI-RADS\n5.",
     ("BI-RADS", "5")),
    ("MG DIAGNOSTIC", "BI-RADS: 4 (suspicious). Recommend US-guided biopsy.", ("BI-RADS", "4")),
    ("MG DIAGNOSTIC LEFT", "The screening mammogram of 03/02/2025 was BI-RADS 0. Diagnostic workup today: BI-RADS 1.",
     ("BI-RADS", "1")),
    ("MRI BREAST BILATERAL", "BIRADS 6 - known malignancy, left breast.", ("BI-RADS", "6")),
    ("US BREAST LEFT", "BI-RADS Assessment Category: 3 - Probably Benign", ("BI-RADS", "3")),
    ("MG DIAGNOSTIC RIGHT", "FINAL ASSESSMENT: 2 - BENIGN", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "No BI-RADS 4 or 5 findings. BI-RADS 2.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC BILATERAL", "Overall BI-RADS assessment: 4A. Right breast: BI-RADS 2.", ("BI-RADS", "4A")),
    ("MG SCREENING BILATERAL", "Negative. BI-RADS: 1 (Negative). Density: C (heterogeneously dense).", ("BI-RADS", "1")),
    ("MG SCREENING BILATERAL", "Breast composition: category 3. BI-RADS 1.", ("BI-RADS", "1")),
    ("MG DIAGNOSTIC RIGHT", "Lesion A: BI-RADS 4C. Lesion B: BI-RADS 3.", ("BI-RADS", "4C")),
    ("MG DIAGNOSTIC LEFT", "BI-RADS category\n4B: moderate suspicion.", ("BI-RADS", "4B")),
    ("US BREAST LEFT", "BI-RADS 3, upgraded to BI-RADS 4A because of interval growth.", ("BI-RADS", "4A")),
    ("MG DIAGNOSTIC", "BI-RADS 4 lesion biopsied in 2024 with benign results; today BI-RADS 2.", ("BI-RADS", "2")),
    # Lung-RADS
    ("LDCT LUNG SCREENING", "Lung-RADS 2, S.", ("Lung-RADS", "2")),
    ("LDCT LUNG SCREENING", "Lung-RADS 3, S - moderate emphysema.", ("Lung-RADS", "3")),
    ("CT CHEST LOW DOSE SCREENING", "LUNG-RADS CATEGORY 4B", ("Lung-RADS", "4B")),
    ("LDCT LUNG SCREENING", "Lung-RADS: 4X (spiculated RUL nodule with adjacent adenopathy)", ("Lung-RADS", "4X")),
    ("LDCT LUNG SCREENING", "Lung-RADS category 3 (previously 4A).", ("Lung-RADS", "3")),
    ("LDCT LUNG SCREENING", "Prior Lung-RADS 4A nodule has resolved. Lung-RADS 1.", ("Lung-RADS", "1")),
    ("LDCT LUNG SCREENING", "Stable 5 mm nodule. Lung-RADS\ncategory 2.", ("Lung-RADS", "2")),
    ("LDCT LUNG SCREENING", "Lung-RADS v1.1 category 2.", ("Lung-RADS", "2")),
    ("LDCT LUNG SCREENING", "Lung-RADS 4A, S (4.6 cm ascending aortic aneurysm).", ("Lung-RADS", "4A")),
    ("LDCT LUNG SCREENING", "Lung-RADS 0 - infectious/inflammatory findings; repeat LDCT in 1-3 months.",
     ("Lung-RADS", "0")),
    ("LDCT LUNG SCREENING", "Findings do not meet criteria for Lung-RADS 4A. Lung-RADS 3.", ("Lung-RADS", "3")),
    ("LDCT LUNG SCREENING", "Lung-RADS Category: 4A / S", ("Lung-RADS", "4A")),
    ("LDCT LUNG SCREENING", "Lung-RADS 2 - benign appearance (prior Lung-RADS 3 in 2024).", ("Lung-RADS", "2")),
    # LI-RADS
    ("MRI LIVER W WO", "LR-5 (definite HCC), segment 8, 2.6 cm.", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "LI-RADS v2018 category LR-4.", ("LI-RADS", "LR-4")),
    ("MRI LIVER W WO", "LR-TR Viable: residual arterial enhancement at the margin of the ablation zone.",
     ("LI-RADS", "LR-TR Viable")),
    ("MRI LIVER W WO", "Treated observation segment 6: LR-TR nonviable. New segment 2 observation: LR-3.",
     ("LI-RADS", "LR-3")),
    ("CT LIVER MULTIPHASE", "Segment 5 ablation zone, LI-RADS TR-Equivocal.", ("LI-RADS", "LR-TR Equivocal")),
    ("MRI LIVER W WO", "LR-TR viable (previously LR-5, treated with TACE in 2024).", ("LI-RADS", "LR-TR Viable")),
    ("MRI LIVER W WO", "The previously LR-4 observation is now LR-5.", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "Observation in segment 4: LR-3 (was LR-2).", ("LI-RADS", "LR-3")),
    ("MRI LIVER W WO", "LR-M (targetoid appearance); biopsy recommended.", ("LI-RADS", "LR-M")),
    ("MRI LIVER W WO", "No LR-4 or LR-5 observations. LR-2 segment 3.", ("LI-RADS", "LR-2")),
    ("MRI LIVER W WO", "LIRADS: LR 5", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "Category: LR-4", ("LI-RADS", "LR-4")),
    ("MRI LIVER W WO", "OBSERVATION 1: LR-5\nOBSERVATION 2: LR-TR NONVIABLE", ("LI-RADS", "LR-5")),
    ("MRI LIVER W WO", "Not LR-5 given the lack of washout; LR-4.", ("LI-RADS", "LR-4")),
    ("MRI ABDOMEN LIVER PROTOCOL", "IMPRESSION: LR-5 OBSERVATION SEGMENT 7 MEASURING 2.4 CM.", ("LI-RADS", "LR-5")),
    # PI-RADS
    ("MRI PROSTATE W WO", "PI-RADS v2.1: 4 (PZ, left mid gland)", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "PIRADS 5 lesion in the right PZ with extraprostatic extension.", ("PI-RADS", "5")),
    ("MRI PROSTATE W WO", "PI-RADS assessment: 3 (TZ) - equivocal.", ("PI-RADS", "3")),
    ("MRI PROSTATE W WO", "Overall PI-RADS: 2. No clinically significant lesion.", ("PI-RADS", "2")),
    ("MRI PROSTATE W WO", "PI-RADS 3, upgraded to 4 due to focal early enhancement.", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "PI-RADS 4 (previously PI-RADS 3 on MRI 2023).", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "Lesion #1: PI-RADS 4\nLesion #2: PI-RADS 2", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "• PI-RADS 4 lesion, left PZ apex", ("PI-RADS", "4")),
    ("MRI PROSTATE W WO", "No PI-RADS 4 or 5 lesion is identified. PI-RADS 2.", ("PI-RADS", "2")),
    # TI-RADS
    ("US THYROID", "TR4 on the left; both lobes contain additional subcentimeter TR2 nodules.", ("TI-RADS", "TR4")),
    (None, "Thyroid nodules in both lobes, TR4 on the left.", ("TI-RADS", "TR4")),
    ("US THYROID", "ACR TI-RADS: TR5 (7 points). FNA recommended.", ("TI-RADS", "TR5")),
    ("US THYROID", "TIRADS 3", ("TI-RADS", "TR3")),
    ("US THYROID", "TI-RADS category 4 (TR4).", ("TI-RADS", "TR4")),
    ("US THYROID", "Left lobe nodule: ACR TI-RADS TR3 (3 points), previously TR4.", ("TI-RADS", "TR3")),
    ("US THYROID", "Dominant right nodule, TR 5.", ("TI-RADS", "TR5")),
    ("US THYROID", "TR2 nodule right lobe; TR4 nodule isthmus (1.1 cm).", ("TI-RADS", "TR4")),
    ("US THYROID", "THYROID NODULES:\n- RIGHT: TR3\n- LEFT: TR1", ("TI-RADS", "TR3")),
    # O-RADS
    ("US PELVIS TRANSVAGINAL", "O-RADS US 4: intermediate risk of malignancy.", ("O-RADS", "4")),
    ("MRI PELVIS W WO", "O-RADS MRI score 2 (almost certainly benign).", ("O-RADS", "2")),
    ("US PELVIS TRANSVAGINAL", "O-RADS US category 5 (high risk).", ("O-RADS", "5")),
    ("US PELVIS TRANSVAGINAL", "O-RADS: 3 (low risk), left ovary.", ("O-RADS", "3")),
    ("US PELVIS TRANSVAGINAL", "Right ovary: O-RADS US 1 (normal). Left ovary: O-RADS US 3.", ("O-RADS", "3")),
    ("US PELVIS TRANSVAGINAL", "O-RADS US 2 - hemorrhagic cyst.", ("O-RADS", "2")),
    # CAD-RADS
    ("CCTA", "CAD-RADS 2 (P1).", ("CAD-RADS", "2")),
    ("CCTA", "CAD-RADS 3 (P2, HRP).", ("CAD-RADS", "3")),
    ("CTA CORONARY", "CAD-RADS 4A [P3].", ("CAD-RADS", "4A")),
    ("CCTA", "CAD-RADS 2.0: 1 (P1)", ("CAD-RADS", "1")),
    ("CCTA", "CAD-RADS 4B / P4 / HRP", ("CAD-RADS", "4B")),
    ("CCTA", "CAD-RADS 3 (moderate stenosis of the mid LAD).", ("CAD-RADS", "3")),
    ("CCTA", "CAD-RADS N (non-diagnostic due to motion).", ("CAD-RADS", "N")),
    ("CCTA", "CAD-RADS 2, P2.", ("CAD-RADS", "2")),
    ("CCTA", "CAD-RADS 0 (no plaque or stenosis).", ("CAD-RADS", "0")),
    # NI-RADS
    ("CT NECK W CONTRAST", "NI-RADS 2a (primary).", ("NI-RADS", "2a")),
    ("CT NECK W CONTRAST", "NI-RADS: Primary - 2b; Neck - 1.", ("NI-RADS", "2b")),
    ("CT NECK W CONTRAST", "Primary site NI-RADS 3; neck NI-RADS 2.", ("NI-RADS", "3")),
    ("PET/CT NECK", "NI-RADS 1 at the primary site and NI-RADS 4 in the neck (biopsy-proven recurrence).",
     ("NI-RADS", "4")),
    ("CT NECK W CONTRAST", "NI-RADS category 2 (neck).", ("NI-RADS", "2")),
    # VI-RADS, GB-RADS
    ("MRI BLADDER W WO", "VI-RADS 3 (equivocal for muscle invasion).", ("VI-RADS", "3")),
    ("MRI BLADDER W WO", "VI-RADS: 1", ("VI-RADS", "1")),
    ("US GALLBLADDER", "GB-RADS 3 (equivocal).", ("GB-RADS", "3")),
    ("US RIGHT UPPER QUADRANT", "GB-RADS 5: loss of interface with the liver.", ("GB-RADS", "5")),
    # revised in the same sentence, wrapped across lines, subdivisions in brackets
    ("MG DIAGNOSTIC LEFT", "BI-RADS 4A, downgraded to BI-RADS 2 after benign concordant biopsy.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC LEFT", "BI-RADS 3 (upgraded to 4B if it enlarges).", ("BI-RADS", "3")),
    ("MRI LIVER W WO", "LR-5, downgraded to LR-4 after review of the delayed phase.", ("LI-RADS", "LR-4")),
    ("LDCT LUNG SCREENING", "Lung-RADS 3 -> 2 (stable).", ("Lung-RADS", "2")),
    ("MG DIAGNOSTIC LEFT", "The prior study was assessed as\nBI-RADS 3. Today: BI-RADS 2.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "Findings do not meet criteria for\nBI-RADS 3. BI-RADS 2.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "1. Benign-appearing calcifications\n2. BI-RADS 2", ("BI-RADS", "2")),
    # a terse line without a stop is no wrap unless it cannot end there
    ("MG DIAGNOSTIC", "Stable benign findings compared with prior\nBI-RADS 2", ("BI-RADS", "2")),
    ("LDCT LUNG SCREENING", "Comparison: LDCT 2024-06-01\nLung-RADS 2.", ("Lung-RADS", "2")),
    ("MG DIAGNOSTIC", "ACR BI-RADS Category 4 - Suspicious (4B - moderate suspicion).", ("BI-RADS", "4B")),
    ("US THYROID", "Right lobe nodule, which was previously\nTR3, now TR4.", ("TI-RADS", "TR4")),
    ("MRI LIVER W WO", "Segment 7: LR-5, unchanged from prior.", ("LI-RADS", "LR-5")),
    ("MG DIAGNOSTIC", "BI-RADS 3 on the prior. BI-RADS 2.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "BI-RADS 2.\nADDENDUM: Correction - the assessment should read BI-RADS 3, probably benign.",
     ("BI-RADS", "3")),
    # no procedure: a nodule on the line is the thyroid context a bare TR needs, a lung nodule is not
    (None, "Nodules in both lobes, TR4 on the left.", ("TI-RADS", "TR4")),
]


def test_bare_tr_beside_a_lung_nodule_is_not_ti_rads() -> None:
    assert _rads(_report("Moderate TR (TR3) and a pulmonary nodule in the RUL.", findings="Echo.")) is None


@pytest.mark.parametrize(("procedure", "impression", "expected"), _STATED)
def test_stated_category(procedure: str | None, impression: str, expected: tuple[str, str]) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


_MODIFIERS = [
    ("LDCT LUNG SCREENING", "Lung-RADS 2, S.", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 3, S - moderate emphysema.", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 4A, S (4.6 cm ascending aortic aneurysm).", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS Category: 4A / S", ("S",)),
    ("LDCT LUNG SCREENING", "Lung-RADS 2, stable nodules.", ()),
    ("CCTA", "CAD-RADS 2 (P1).", ("P1",)),
    ("CCTA", "CAD-RADS 3 (P2, HRP).", ("HRP", "P2")),
    ("CTA CORONARY", "CAD-RADS 4A [P3].", ("P3",)),
    ("CCTA", "CAD-RADS 2.0: 1 (P1)", ("P1",)),
    ("CCTA", "CAD-RADS 4B / P4 / HRP", ("HRP", "P4")),
    ("CCTA", "CAD-RADS 3 (moderate stenosis of the mid LAD).", ()),
    ("CCTA", "CAD-RADS 2, P2.", ("P2",)),
    ("CCTA", "CAD-RADS 3 (P2/HRP/I+).", ("HRP", "I+", "P2")),
    ("CCTA", "CAD-RADS 2, e.g. mild stenosis.", ()),
    ("CCTA", "CAD-RADS 1, S (patent LAD stent).", ("S",)),
    ("LDCT LUNG SCREENING", "LUNG-RADS: 3\nS: NO", ()),
    ("LDCT LUNG SCREENING", "Lung-RADS 3 S: 4.5 cm aortic aneurysm.", ("S",)),
    ("CCTA", "CAD-RADS 4A (P2) - 70-99% stenosis of the proximal LAD.", ("P2",)),
]


@pytest.mark.parametrize(("procedure", "impression", "modifiers"), _MODIFIERS)
def test_modifiers_in_brackets_or_after_a_comma(procedure: str, impression: str, modifiers: tuple[str, ...]) -> None:
    got = ENGINE.rads(_report(impression, findings="See impression.", procedure=procedure))
    assert got is not None
    assert tuple(sorted(got.value.modifiers)) == modifiers  # type: ignore[union-attr]


# ---- addenda, history, negation, several lesions -------------------------------------------------------------

_WHOLE = [
    # an addendum that revises the category, up or down
    ("MG DIAGNOSTIC LEFT", "Focal asymmetry.", "BI-RADS 0: Incomplete.",
     "ADDENDUM: Outside mammograms from 2021 were obtained; the asymmetry is stable. Final assessment: BI-RADS 2.",
     ("BI-RADS", "2")),
    ("MG DIAGNOSTIC RIGHT", "Grouped calcifications.", "BI-RADS 3.",
     "Addendum: on further review the calcifications are fine pleomorphic; the assessment is changed to BI-RADS 4B.",
     ("BI-RADS", "4B")),
    ("LDCT LUNG SCREENING", "6 mm solid RLL nodule.", "Lung-RADS 3.",
     "ADDENDUM: Comparison with the outside CT of 2023 shows the nodule is stable. Lung-RADS category is revised to 2.",
     ("Lung-RADS", "2")),
    ("MRI LIVER W WO", "2.2 cm APHE observation in segment 8 without washout.", "LR-4.",
     "ADDENDUM #1: Washout is present on the delayed images, which were reviewed after the report. LR-5.",
     ("LI-RADS", "LR-5")),
    ("MRI PROSTATE W WO", "See impression.", "PI-RADS 4 lesion left PZ.",
     "ADDENDUM: The addendum concerns the dictated PSA only; no change.", ("PI-RADS", "4")),
    # history lines and comparisons
    ("MG DIAGNOSTIC RIGHT", "CLINICAL HISTORY: BI-RADS 4 at an outside facility.\nSee impression.", "BI-RADS 3.", None,
     ("BI-RADS", "3")),
    ("US BREAST LEFT", "Post-biopsy clip in place. No residual mass.",
     "BI-RADS 2 (benign). The prior BI-RADS 4B mass was biopsied with benign concordant pathology.", None,
     ("BI-RADS", "2")),
    ("LDCT LUNG SCREENING", "COMPARISON: LDCT 05/02/2024 (Lung-RADS 4A).\nThe nodule has resolved.", "Lung-RADS 1.",
     None, ("Lung-RADS", "1")),
    ("CCTA", "See impression.", "Compared with the CCTA of 2022 (CAD-RADS 2), progression: CAD-RADS 3/P2.", None,
     ("CAD-RADS", "3")),
    # all caps, bullets, multi-lesion
    ("MRI PROSTATE W WO", "LESION 1: RIGHT PZ BASE, 0.9 CM, PI-RADS 3.\nLESION 2: LEFT TZ APEX, 1.6 CM, PI-RADS 5.",
     "HIGHEST PI-RADS 5.", None, ("PI-RADS", "5")),
    ("US THYROID", "Nodule 1 (right): TR3, 1.4 cm.\nNodule 2 (left): TR4, 1.1 cm.\nNodule 3 (isthmus): TR1.",
     "- Right TR3 nodule: follow-up.\n- Left TR4 nodule: FNA not indicated by size.", None, ("TI-RADS", "TR4")),
    ("US PELVIS TRANSVAGINAL", "See impression.", "1) Right ovary O-RADS US 2.\n2) Left ovary O-RADS US 5.", None,
     ("O-RADS", "5")),
]


@pytest.mark.parametrize(("procedure", "findings", "impression", "addendum", "expected"), _WHOLE)
def test_reports_own_current_category(
    procedure: str, findings: str, impression: str, addendum: str | None, expected: tuple[str, str]
) -> None:
    assert _rads(_report(impression, findings=findings, procedure=procedure, addendum=addendum)) == expected


def test_c_rads_stays_out_of_the_ten_systems() -> None:
    got = ENGINE.rads(_report("C-RADS C3, E0: 12 mm polyp; colonoscopy recommended.", findings="See impression.",
                              procedure="CT COLONOGRAPHY"))
    assert got is None or got.value.applicable is False  # type: ignore[union-attr]


# ---- TNM ----------------------------------------------------------------------------------------------------

_TNM = [
    # a dated tumor-board stage of the current cancer is the stage of record
    ("cT2 N0 M0 per tumor board 2025-06-01.", "N0", "M0"),
    ("Stage per multidisciplinary tumor board (2025-06-01): cT3 cN1 cM0.", "N1", "M0"),
    ("Tumor board 2025-06-01: cT3 cN2 cM0.", "N2", "M0"),
    ("T2 N1 M0 (AJCC 8th ed.) per tumor board on 06/01/2025.", "N1", "M0"),
    ("History of rectal cancer, cT3 N1 M0 per tumor board 2019, status post LAR.", None, None),
    ("Per MDT on 12 May 2025: cT4a cN2 cM0.", "N2", "M0"),
    ("History of prostate cancer, T2N0M0 per tumor board 2016, treated with radiation.", None, None),
    ("cT2 N0 M0 per outside report.", None, None),
    ("cT3 N1 M0 per MRI 2025-05-01.", None, None),
    # stage groups and prefixes
    ("Stage IVB (T4aN2M1c).", "N2", "M1"),
    ("pT2 pN1a (2/15) cM0.", "N1", "M0"),
    ("ypT1c ypN0 (0/12) cM0.", "N0", "M0"),
    ("Clinical stage cT3 cN2a cM1b.", "N2", "M1"),
    ("TNM: T3, N1, M0.", "N1", "M0"),
    ("T4b N3 M1.", "N3", "M1"),
    ("Stage IIIA: pT1b pN2 M0.", "N2", "M0"),
    ("T3N1M0, stage IIIB.", "N1", "M0"),
    ("cN3 (contralateral supraclavicular node).", "N3", None),
    ("Regional nodes (N): N2a.", "N2", None),
    ("Distant metastasis (M): M1a.", None, "M1"),
    ("Stage IV (M1b) disease: solitary brain metastasis.", None, "M1"),
    ("pT3 N1b M1 (lung).", "N1", "M1"),
    ("ycT2 ycN1 cM0.", "N1", "M0"),
    ("Staging: N0, M0.", "N0", "M0"),
    ("M0 (no distant metastasis on CT of the chest, abdomen and pelvis).", None, "M0"),
    ("N2 (ipsilateral mediastinal nodes).", "N2", None),
    ("Enlarged N2 (mediastinal) nodes.", None, None),
    ("M1 (possible liver metastasis).", None, None),
    # tables and lists
    ("| T | N | M |\n|---|---|---|\n| T2 | N1 | M0 |", "N1", "M0"),
    ("T stage | T2\nN stage | N1\nM stage | M0", "N1", "M0"),
    ("Tumor: T2\nNodes: N1\nMetastasis: M0", "N1", "M0"),
    ("STAGING:\n- T3\n- N1\n- M0", "N1", "M0"),
    ("Lymph nodes: N0\nMetastases: M0", "N0", "M0"),
    # negated and hedged distant disease
    ("No distant metastases.", None, "M0"),
    ("NO DISTANT METASTASES.", None, "M0"),
    ("Distant metastases cannot be excluded.", None, None),
    ("Cannot exclude M1 disease.", None, None),
    ("No definite distant metastases.", None, None),
    ("No evidence of distant metastatic disease. Cannot exclude a small hepatic metastasis.", None, None),
    ("Possible M1a disease given a small pleural effusion.", None, None),
    ("Distant metastasis: cannot be excluded (indeterminate 4 mm lung nodule).", None, None),
    ("No suspicious lymphadenopathy. No distant metastases.", "N0", "M0"),
    # line-wrapped sentences keep their hedge and their history
    ("Findings are suspicious for\nM1 disease.", None, None),
    ("History of breast cancer\n(pT2 pN1a M0) treated with mastectomy.", None, None),
    # history versus now
    ("Previously staged T2N0M0; now with new liver metastases (M1).", None, "M1"),
    ("History of rectal cancer (ypT2N0) status post LAR 2022. New hepatic metastases.", None, "M1"),
    ("Stage: T2 N0 M0 per outside report 2019.", None, None),
    # a lone M1 that is no stage: an MCA segment, a legend of the M categories
    ("Occlusion of the left middle cerebral artery.\nSite of occlusion:\nM1.", None, None),
    ("Acute thrombus in the left MCA.\nM1.", None, None),
    ("AJCC M category: M0. No distant metastasis. M1. Distant metastasis.", None, None),
    # ... and a lone M1 that is one
    ("Metastatic adenocarcinoma in 3 of 12 regional lymph nodes.\nN1.\nM1.", "N1", "M1"),
    ("Regional nodes: three of 12 positive.\nN1.", "N1", None),
    ("N0 = no regional lymph node metastasis; N1 = metastasis in 1-3 regional nodes.", None, None),
    ("STAGING: CT2 CN1 CM0.", "N1", "M0"),
    ("IMPRESSION: YPT2 YPN1A M0.", "N1", "M0"),
    ("Clinical stage: T1c N0 M0 (Stage I).\nPrevious stage (2023): T2 N1 M0.", "N0", "M0"),
    ("Newly diagnosed T2N1M0 breast cancer.", "N1", "M0"),
    ("T2N1M0 breast cancer diagnosed in 2019.", None, None),
    # nodal stations and differentials are not stages; MRI staging of the rectum is
    ("Nodes at N1 and N2 stations are not enlarged.", None, None),
    ("cN2 disease versus reactive nodes.", None, None),
    ("Rectal cancer, mrT3c N1 EMVI+.", "N1", None),
    ("Pathologic stage: pT3a pN0 (0/14) pMX.", "N0", None),
    ("Primary: T3\nRegional lymph nodes: N2b\nDistant metastasis: M0", "N2", "M0"),
    ("N-stage: N1\nM-stage: M1a", "N1", "M1"),
    ("ypT0 ypN0 after neoadjuvant therapy (pathologic complete response).", "N0", None),
    ("History of breast cancer (pT2N1M0) status post mastectomy 2018. Now with osseous metastases, M1b.", None, "M1"),
    # the tumor board's M0 against new metastases today: a contradiction, no answer
    ("Staging per tumor board 2025-06-01: T2N1M0. Today, new hepatic metastases are seen.", "N1", None),
    ("Hepatic and osseous metastases. T3 N2. M1.", "N2", "M1"),
]


@pytest.mark.parametrize(("text", "n", "m"), _TNM)
def test_tnm(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, findings="See impression.")) == (n, m)


def test_addendum_revises_the_m_stage() -> None:
    report = _report("Segment 6 hepatic lesion consistent with metastasis. cT3 cN1 cM1.",
                     findings="See impression.",
                     addendum="ADDENDUM: MRI shows the liver lesion is a hemangioma. Revised stage cT3 cN1 cM0.")
    assert _stages(report) == ("N1", "M0")


def test_tumor_board_stage_is_explicit() -> None:
    got = ENGINE.stated(TaskRequest(task=TaskName.n_staging,
                                    report=_report("cT2 N0 M0 per tumor board 2025-06-01.", findings="CT.")))
    assert got is not None and got.note is None and got.confidence == pytest.approx(0.99)


@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        ("US THYROID", "Thyroid nodules in both lobes, TR4 on the left.", "left"),
        ("US THYROID", "TR4 on the left; both lobes contain additional subcentimeter TR2 nodules.", "left"),
        ("MG DIAGNOSTIC BILATERAL", "Right breast, 10:00, irregular mass, BI-RADS 4C.", "right"),
        ("MG DIAGNOSTIC BILATERAL", "Left breast mass at 2:00, BI-RADS 4B, with a benign right axillary node.", "left"),
    ],
)
def test_side_written_beside_the_category(procedure: str, impression: str, expected: str) -> None:
    assert ENGINE.laterality(_report(impression, findings="See impression.", procedure=procedure)) == expected


# ---- whole reports --------------------------------------------------------------------------------------------

_CAPS_STAGING = (
    "EXAM: CT CHEST ABDOMEN PELVIS WITH CONTRAST\n"
    "CLINICAL HISTORY: NEWLY DIAGNOSED RIGHT UPPER LOBE ADENOCARCINOMA. STAGING.\n"
    "COMPARISON: NONE.\n"
    "FINDINGS:\n3.4 CM SPICULATED RIGHT UPPER LOBE MASS. ENLARGED RIGHT PARATRACHEAL NODE (1.6 CM).\n"
    "NO HEPATIC OR ADRENAL LESIONS. NO OSSEOUS METASTASES.\n"
    "IMPRESSION:\n1. RIGHT UPPER LOBE PRIMARY WITH IPSILATERAL MEDIASTINAL ADENOPATHY.\n2. NO DISTANT METASTASES.\n"
    "CLINICAL STAGE: CT2B CN2 CM0.\n"
)

_STROKE = (
    "EXAM: CTA HEAD AND NECK\n"
    "FINDINGS:\nAbrupt cutoff of the left middle cerebral artery.\nOcclusion level:\nM1.\n"
    "IMPRESSION:\nLeft M1 occlusion. Thrombectomy candidate.\n"
)


def test_all_caps_staging_report() -> None:
    report = report_from_text(_CAPS_STAGING)
    assert _stages(report) == ("N2", "M0")
    assert ENGINE.laterality(report) == "right"


def test_stroke_report_has_no_m_stage() -> None:
    assert _stages(report_from_text(_STROKE)) == (None, None)


# ---- ranges, bracketed subdivisions and LR-TR legends (found with the stated-unlisted work) -------------------

_LR_TR_LEGEND = ("LI-RADS treatment response categories:\n"
                 "LR-TR Nonevaluable: cannot be assessed\n"
                 "LR-TR Nonviable: no enhancement\n"
                 "LR-TR Equivocal: atypical enhancement\n"
                 "LR-TR Viable: nodular enhancement")


@pytest.mark.parametrize(("procedure", "impression", "expected"), [
    # A range or scale names no one category; an interval or a size after a dash does not make one.
    ("MG DIAGNOSTIC", "Benign. Categories are reported on the BI-RADS 0-6 scale.", None),
    ("CT CHEST LDCT LCS", "Lung-RADS 3 to 4.", None),
    ("MG DIAGNOSTIC", "BI-RADS 3 - 6 month follow-up recommended.", ("BI-RADS", "3")),
    ("MG DIAGNOSTIC", "BI-RADS 4 - 5 mm irregular mass at 2:00.", ("BI-RADS", "4")),
    # The bracket refines an undivided 4, for CAD-RADS as for BI-RADS.
    ("CTA CORONARY", "CAD-RADS 4 (4A). Severe stenosis of the proximal LAD.", ("CAD-RADS", "4A")),
    ("MG DIAGNOSTIC", "BI-RADS 4 (4B). Biopsy recommended.", ("BI-RADS", "4B")),
    # An LR-TR legend is no assessment; the same codes written per segment are.
    ("MRI LIVER", "Treated segment 6 observation: LR-TR Nonviable.\n\n" + _LR_TR_LEGEND, ("LI-RADS", "LR-TR Nonviable")),
    ("MRI LIVER", "Segment 6: LR-TR Viable: nodular arterial enhancement.\nSegment 8: LR-TR Nonviable: no enhancement.",
     ("LI-RADS", "LR-TR Viable")),
])
def test_ranges_subdivisions_and_tr_legends(procedure: str, impression: str, expected: tuple[str, str] | None) -> None:
    assert _rads(_report(impression, procedure=procedure)) == expected


# ---- the exam a report names for itself decides which system a bare category belongs to --------------------


@pytest.mark.parametrize(("text", "code", "expected"), [
    # No procedure field: the body's exam line, or its first line naming a modality, is the exam.
    ("Exam: MAMMO DIAG LEFT W TOMO\nIrregular mass at 2:00.\nIMPRESSION: Suspicious. Category 4A.", None, ("BI-RADS", "4A")),
    ("US THYROID\nRight lobe: 1.4 cm solid hypoechoic nodule.\nIMPRESSION: Category 4 nodule.", None, ("TI-RADS", "TR4")),
    # A CPT code of one RADS exam (77066: diagnostic mammography, both breasts) with no words at all.
    ("Benign calcifications.\nIMPRESSION: Category 2.", "77066", ("BI-RADS", "2")),
    # No exam anywhere: a bare category belongs to no system.
    ("Benign calcifications.\nIMPRESSION: Category 2.", None, None),
])
def test_bare_category_follows_the_exam_the_report_names(text: str, code: str | None,
                                                         expected: tuple[str, str] | None) -> None:
    report = _report(text.split("IMPRESSION: ")[1], findings=text.split("\nIMPRESSION: ")[0], procedure=None)
    if code:
        report = report.model_copy(update={"procedure_code": code})
    assert _rads(report) == expected
