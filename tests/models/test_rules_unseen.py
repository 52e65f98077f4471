"""The rules engine on report text written for this file (not in the dev set): every RADS system in
its usual spellings, categories quoted from history or priors, denied or supposed categories,
several lesions, stated TNM, CheXpert negation/uncertainty, critical results, follow-ups, laterality.
"""

from __future__ import annotations

import pytest

from models.rules import RulesEngine
from models.rules.rads import stated_rads
from models.types import RadiologyReport, TaskName, TaskRequest

ENGINE = RulesEngine()


def _report(impression: str | None = None, findings: str | None = None, procedure: str | None = None,
            modality: str | None = None, history: str | None = None) -> RadiologyReport:
    return RadiologyReport(report_id="unseen", procedure=procedure, modality=modality, history=history,
                           findings=findings, impression=impression)


# ---- RADS: stated categories of all ten systems ------------------------------------------------

@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        ("US BREAST RIGHT LIMITED", "Irregular hypoechoic mass right breast 11:00, 8 mm. BI-RADS 4A: Low suspicion for "
         "malignancy. Ultrasound-guided core biopsy recommended.", ("BI-RADS", "4A")),
        ("MG SCREENING BILATERAL", "Possible asymmetry in the left breast. BIRADS category 0 - incomplete. Recall for "
         "additional imaging.", ("BI-RADS", "0")),
        ("MAMMO DIAGNOSTIC BILATERAL", "ACR BI-RADS Category 2: Benign.", ("BI-RADS", "2")),
        ("MG DIAGNOSTIC LEFT", "ACR BI-RADS® Category 4B: Moderate suspicion for malignancy.", ("BI-RADS", "4B")),
        ("MRI BREAST BILATERAL W WO CONTRAST", "Assessment: BI-RADS 6 - known biopsy-proven malignancy.", ("BI-RADS", "6")),
        ("US BREAST LEFT", "Bi-Rads: 3", ("BI-RADS", "3")),
        ("MG DIAGNOSTIC LEFT", "Category 3: Probably Benign.", ("BI-RADS", "3")),
        ("US THYROID", "Right lobe nodule, ACR TI-RADS TR3. Follow-up ultrasound in 1 year.", ("TI-RADS", "TR3")),
        ("US THYROID", "Solid hypoechoic nodule with punctate echogenic foci, TIRADS 5. FNA recommended.", ("TI-RADS", "TR5")),
        ("US THYROID", "Dominant left lobe nodule TR-4.", ("TI-RADS", "TR4")),
        ("MRI LIVER W WO CONTRAST", "Segment 7 observation, LI-RADS LR-4.", ("LI-RADS", "LR-4")),
        ("CT LIVER MULTIPHASE", "Tumor in vein, LR-TIV, involving the right portal vein.", ("LI-RADS", "LR-TIV")),
        ("MR LIVER", "Treated segment 6 lesion: LR-TR viable. Segment 2 LR-3.", ("LI-RADS", "LR-TR Viable")),
        ("CT ABDOMEN LIVER PROTOCOL", "Post-ablation zone segment 5, LR-TR Nonviable.", ("LI-RADS", "LR-TR Nonviable")),
        ("MRI LIVER", "LR-NC due to motion; repeat MRI in 3 months.", ("LI-RADS", "LR-NC")),
        ("CT CHEST LOW DOSE LUNG CANCER SCREENING", "Lung-RADS 4B: very suspicious. Recommend PET/CT.", ("Lung-RADS", "4B")),
        ("CT LUNG SCREENING", "Lung RADS 2 - benign appearance. Continue annual screening with LDCT in 12 months.",
         ("Lung-RADS", "2")),
        ("LDCT CHEST", "Lung-RADS v1.1 Category 4A.", ("Lung-RADS", "4A")),
        ("MRI PROSTATE W WO", "PI-RADS v2.1 score 4 lesion in the left peripheral zone. Targeted biopsy recommended.",
         ("PI-RADS", "4")),
        ("MRI PROSTATE", "PI-RADS score: 3/5", ("PI-RADS", "3")),
        ("US PELVIS TRANSVAGINAL", "O-RADS US 4: Intermediate risk. Right adnexal multilocular cyst with solid component.",
         ("O-RADS", "4")),
        ("MRI PELVIS ADNEXA", "Left ovarian lesion O-RADS MRI 3 (low risk).", ("O-RADS", "3")),
        ("CTA CORONARY", "CAD-RADS 3: moderate stenosis of the proximal LAD. Consider functional testing.", ("CAD-RADS", "3")),
        ("CT CORONARY ANGIOGRAPHY", "CAD-RADS 4B/P3. Left main 60% stenosis.", ("CAD-RADS", "4B")),
        ("CCTA", "CAD-RADS N (non-diagnostic).", ("CAD-RADS", "N")),
        ("CT NECK W CONTRAST", "NI-RADS 2a at the primary site; neck NI-RADS 1.", ("NI-RADS", "2a")),
        ("PET/CT HEAD AND NECK", "Primary: NI-RADS 3. Neck: NI-RADS 2.", ("NI-RADS", "3")),
        ("MRI BLADDER", "VI-RADS 4: muscle invasion likely.", ("VI-RADS", "4")),
        ("US ABDOMEN RUQ", "GB-RADS 3, equivocal focal wall thickening.", ("GB-RADS", "3")),
        ("US RUQ", "GB-RADS 0 (non-evaluable, contracted gallbladder).", ("GB-RADS", "0")),
    ],
)
def test_stated_category_of_every_system(procedure: str, impression: str, expected: tuple[str, str]) -> None:
    got = stated_rads(_report(impression, procedure=procedure))
    assert got is not None and (got.system, got.category) == expected


# ---- RADS: history, priors, denied and supposed categories, several lesions -------------------------

@pytest.mark.parametrize(
    ("procedure", "findings", "impression", "expected"),
    [
        # Category quoted from the history or a prior study, current assessment differs.
        ("US BREAST LEFT", "History: 45F, previously BI-RADS 4A, benign biopsy.",
         "BI-RADS 3 - Probably benign. Short-interval follow-up in 6 months.", ("BI-RADS", "3")),
        ("MG DIAGNOSTIC RIGHT", None,
         "Stable right breast mass, previously BI-RADS 3, now stable for 2 years. BI-RADS 2: Benign.", ("BI-RADS", "2")),
        ("MG SCREENING", "Comparison: Outside mammogram 2023, reported as BI-RADS 0.", "No suspicious findings. BI-RADS 1.",
         ("BI-RADS", "1")),
        ("US BREAST", None, "Benign. BI-RADS 2. Previously categorized as BI-RADS 4A at an outside facility; biopsy showed "
         "fibroadenoma.", ("BI-RADS", "2")),
        ("MRI ABDOMEN LIVER", "Comparison: MRI 2024-03-01 LR-3.", "Segment 8 observation, LR-4 (previously LR-3 on 2024-03-01).",
         ("LI-RADS", "LR-4")),
        ("MRI LIVER", None, "Observation was LR-4 on the prior study and is now LR-5.", ("LI-RADS", "LR-5")),
        ("MRI LIVER", None, "The known LR-5 lesion has been treated; now LR-TR nonviable.", ("LI-RADS", "LR-TR Nonviable")),
        ("MRI PROSTATE", None, "PI-RADS 4 lesion previously; today PI-RADS 3.", ("PI-RADS", "3")),
        ("CT CORONARY", None, "CAD-RADS 3 (50-69% stenosis), previous CAD-RADS 2 in 2022.", ("CAD-RADS", "3")),
        # Denied or supposed categories.
        ("MRI LIVER", None, "Observation does not meet criteria for LR-5. LI-RADS 4.", ("LI-RADS", "LR-4")),
        ("MRI LIVER", None, "No features of LR-M. Segment 4 observation LR-3.", ("LI-RADS", "LR-3")),
        ("CT LUNG CANCER SCREENING", None,
         "Lung-RADS 3. If the nodule grows on follow-up it would be upgraded to Lung-RADS 4B.", ("Lung-RADS", "3")),
        ("CT LUNG CANCER SCREENING", None, "Lung-RADS 2. Should this nodule enlarge, it would become Lung-RADS 4A.",
         ("Lung-RADS", "2")),
        ("MG DIAGNOSTIC", None, "BI-RADS 2. There is no finding that would warrant BI-RADS 3 or 4.", ("BI-RADS", "2")),
        ("MRI PROSTATE", None, "No PI-RADS 4 or 5 lesion. Overall PI-RADS 2.", ("PI-RADS", "2")),
        # Several lesions: the overall (else most severe) category of the exam's own system.
        ("MG DIAGNOSTIC BILATERAL", None, "Left breast: BI-RADS 4B. Right breast: BI-RADS 2. Overall BI-RADS 4B.",
         ("BI-RADS", "4B")),
        ("US BREAST BILATERAL", None, "Right breast 10:00 mass, BI-RADS 4C; left breast cyst, BI-RADS 2.", ("BI-RADS", "4C")),
        ("US NECK THYROID", None, "1. Left lobe nodule TR4, 1.8 cm, meets criteria for FNA. 2. Right lobe nodule TR2.",
         ("TI-RADS", "TR4")),
        ("MR PROSTATE MULTIPARAMETRIC", None, "Lesion 1: PI-RADS 3 right TZ. Lesion 2: PI-RADS 5 left PZ.", ("PI-RADS", "5")),
        ("US PELVIS TRANSVAGINAL", None, "Right ovary: O-RADS US 2. Left ovary: O-RADS US 4.", ("O-RADS", "4")),
        # Another system quoted in the report never sets the label.
        ("MR PELVIS W WO (BLADDER)", "History: bladder tumour on cystoscopy. Incidental prostate: no PI-RADS 4 lesion seen.",
         "Right lateral wall bladder tumour, VI-RADS 4 (muscle invasion likely).", ("VI-RADS", "4")),
        ("MRI BREAST BILATERAL", "Indication: newly diagnosed right breast IDC (BI-RADS 6).",
         "1. Known right breast malignancy. BI-RADS 6.\n2. Suspicious left breast mass at 3:00. BI-RADS 4. MRI-guided biopsy "
         "recommended.\nOverall BI-RADS 4.", ("BI-RADS", "4")),
        ("CT LIVER 3 PHASE", "History: HCC segment 6 s/p TACE 2024.", "Segment 6: LR-TR Viable. No LR-TIV.",
         ("LI-RADS", "LR-TR Viable")),
    ],
)
def test_current_assessment_among_history_denials_and_lesions(procedure: str, findings: str | None, impression: str,
                                                            expected: tuple[str, str]) -> None:
    got = stated_rads(_report(impression, findings=findings, procedure=procedure))
    assert got is not None and (got.system, got.category) == expected


def test_category_only_in_the_history_field_is_not_stated() -> None:
    report = _report("Stable benign-appearing mass. Continue routine screening.", procedure="US BREAST RIGHT",
                     history="Prior BI-RADS 3 right breast mass.")
    assert stated_rads(report) is None
    assert ENGINE.stated(TaskRequest(task=TaskName.rads_assignment, report=report)) is None


# ---- TNM -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "n", "m"),
    [
        ("Clinical staging: T2N1M0.", "N1", "M0"),
        ("Impression: cT3 N2 M1a lung adenocarcinoma.", "N2", "M1"),
        ("Stage cT1b cN0 cM0.", "N0", "M0"),
        ("TNM: T4 N3 M1c", "N3", "M1"),
        ("AJCC 8th edition: cT2b, cN2, cM1b.", "N2", "M1"),
        ("Nodal stage: cN1; distant metastasis: none (cM0).", "N1", "M0"),
        ("N2b nodal disease on the left.", "N2", None),
        ("No evidence of N3 disease.", None, None),
        ("There is no M1 disease.", None, None),
        # Nodal statements without a stage are for the models; a global negation of distant
        # metastasis is M0 in words (tests/models/test_rules_round2.py).
        ("Enlarged right hilar lymph node, suspicious for nodal metastasis.", None, None),
        ("Multiple enlarged mediastinal lymph nodes. No adrenal or hepatic metastases.", None, None),
        ("No distant metastases.", None, "M0"),
        ("The left M1 and M2 branches are patent.", None, None),
        ("History: rectal cancer, staged T3N1 in 2024.\nNew hepatic lesions consistent with M1 disease.", None, "M1"),
    ],
)
def test_stated_tnm_on_unseen_text(text: str, n: str | None, m: str | None) -> None:
    report = _report(findings=text)
    n_res = ENGINE.stated(TaskRequest(task=TaskName.n_staging, report=report))
    m_res = ENGINE.stated(TaskRequest(task=TaskName.m_staging, report=report))
    assert (n_res.value.stage if n_res else None) == n  # type: ignore[union-attr]
    assert (m_res.value.stage if m_res else None) == m  # type: ignore[union-attr]


# ---- CheXpert ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ("Small left pleural effusion without pneumothorax.", {"pleural effusion": "positive", "pneumothorax": "negative"}),
        ("Possible consolidation in the right lower lobe.", {"consolidation": "uncertain"}),
        ("Cannot exclude pneumonia in the left base.", {"pneumonia": "uncertain"}),
        ("Streaky opacity at the left base may represent atelectasis.",
         {"atelectasis": "uncertain", "lung opacity": "positive"}),
        ("No change in the small left pleural effusion.", {"pleural effusion": "positive"}),
        ("Small left effusion is unchanged.", {"pleural effusion": "positive"}),
        ("Not inconsistent with pneumonia.", {"pneumonia": "uncertain"}),
        ("Pneumothorax is not excluded.", {"pneumothorax": "uncertain"}),
        ("Pleural effusion is not seen.", {"pleural effusion": "negative"}),
        ("There is no evidence of pneumothorax or pleural effusion.",
         {"pleural effusion": "negative", "pneumothorax": "negative"}),
        ("The heart is mildly enlarged.", {"cardiomegaly": "positive"}),
        ("Cardiac silhouette is enlarged.", {"cardiomegaly": "positive"}),
        ("Mediastinum is widened.", {"enlarged cardiomediastinum": "positive"}),
        ("The lungs are well expanded and clear.", {"lung opacity": "negative"}),
        ("Moderate right hydropneumothorax.", {"pneumothorax": "positive"}),
        ("Left lower lobe collapse.", {"atelectasis": "positive"}),
        ("Patchy airspace opacity in the right lower lobe, concerning for pneumonia.",
         {"lung opacity": "positive", "pneumonia": "uncertain"}),
        ("Right basilar opacity, atelectasis versus early pneumonia.",
         {"atelectasis": "uncertain", "lung opacity": "uncertain", "pneumonia": "uncertain"}),
        ("Acute fracture of the right 5th rib.", {"fracture": "positive"}),
        ("No acute displaced rib fracture.", {"fracture": "negative"}),
        ("2.1 cm nodule in the right upper lobe.", {"lung lesion": "positive"}),
        ("Right pleural thickening.", {"pleural other": "positive"}),
        ("Interval removal of the endotracheal tube.", {"support devices": "negative"}),
        ("Resolution of the previously seen left lower lobe consolidation.", {"consolidation": "negative"}),
        ("Moderate left pneumothorax, increased from prior.", {"pneumothorax": "positive"}),
    ],
)
def test_chexpert_negation_uncertainty_and_change(findings: str, expected: dict[str, str]) -> None:
    got = ENGINE.chexpert(_report(findings=findings, modality="CR")).labels
    assert {k: v for k, v in got.items() if k != "no finding"} == expected


def test_chexpert_report_with_unchanged_effusion_and_hedged_pneumonia() -> None:
    report = _report(
        "1. No change in the small left pleural effusion.\n2. Left basilar opacity; pneumonia cannot be excluded.",
        findings="Indication: fever, rule out pneumonia.\nComparison: 2025-06-01.\nPortable AP view. Right IJ central venous "
                 "catheter tip in the SVC. The heart size is within normal limits. No pneumothorax.",
        modality="CR",
    )
    result = ENGINE.stated(TaskRequest(task=TaskName.abnormality_detection, report=report))
    assert result is not None
    assert result.value.labels == {  # type: ignore[union-attr]
        "cardiomegaly": "negative", "lung opacity": "positive", "pleural effusion": "positive",
        "pneumonia": "uncertain", "pneumothorax": "negative", "support devices": "positive", "no finding": "negative",
    }


# ---- critical results --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Large left tension pneumothorax with rightward mediastinal shift.", ["tension pneumothorax"]),
        ("No evidence of tension pneumothorax.", []),
        ("Pneumoperitoneum with free air under the right hemidiaphragm, concerning for hollow viscus perforation.",
         ["free air"]),
        ("Small amount of free air, expected after recent laparotomy.", []),
        ("Stanford type A aortic dissection extending from the aortic root to the iliac bifurcation.", ["aortic dissection"]),
        ("No acute aortic syndrome. Thoracic aorta is normal in caliber without dissection.", []),
        ("Negative CTA for aortic dissection.", []),
        ("Aortic dissection is excluded.", []),
        ("Acute pulmonary emboli in the bilateral lower lobe segmental arteries.", ["pulmonary embolism"]),
        ("No filling defect to suggest pulmonary embolism.", []),
        ("Pulmonary embolism is not identified.", []),
        ("Evaluation for pulmonary embolism is limited by motion; no central PE.", []),
        ("Acute left parietal intraparenchymal hemorrhage measuring 3.2 cm.", ["intracranial hemorrhage"]),
        ("No intracranial hemorrhage, mass effect, or midline shift.", []),
        ("Clinical: rule out PE.\nNo PE.", []),
        ("No change in the small right apical pneumothorax.", []),
        ("Interval development of a moderate right pneumothorax.", ["pneumothorax"]),
    ],
)
def test_critical_results_fire_only_when_present_and_new(text: str, expected: list[str]) -> None:
    assert [c.term for c in ENGINE.critical(_report(findings=text))] == expected


# ---- follow-ups --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Recommend follow-up CT in 3 months.", [("follow-up CT", "P3M")]),
        ("Biopsy recommended.", [("Biopsy", None)]),
        ("Ultrasound-guided core needle biopsy is recommended.", [("Ultrasound-guided core needle biopsy", None)]),
        ("Suggest MRI of the liver in 3-6 months.", [("MRI of the liver", "P3M")]),
        ("Recommend urology consultation.", [("urology consultation", None)]),
        ("Recommend repeat chest radiograph in 6-8 weeks after treatment to document resolution.",
         [("repeat chest radiograph", "P6W")]),
        ("Follow-up in one year.", [(None, "P1Y")]),
        ("1.6 cm TR4 nodule meets criteria for FNA.", [("FNA", None)]),
        ("Right ovary: O-RADS US 2. Left ovary: O-RADS US 4. Gynecologic oncology referral suggested.",
         [("Gynecologic oncology referral", None)]),
        ("No follow-up imaging is recommended.", []),
    ],
)
def test_follow_up_procedure_and_interval(text: str, expected: list[tuple[str | None, str | None]]) -> None:
    assert [(f.procedure, f.interval) for f in ENGINE.follow_ups(_report(findings=text))] == expected


# ---- laterality --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        (None, "Left upper lobe spiculated nodule, Lung-RADS 4B.", "left"),
        (None, "Bilateral pleural effusions, right greater than left.", "bilateral"),
        (None, "Right breast 10:00 mass, BI-RADS 4B. Left breast negative.", "right"),
        (None, "Segment 7 LR-5 observation.", None),
        (None, "Right IJ catheter tip in the SVC. Small left effusion.", "left"),
        (None, "Free air under the diaphragm.", None),
        (None, "Right and left breast masses, both BI-RADS 4A.", "bilateral"),
        (None, "Bilateral breast MRI: left breast 1 cm enhancing mass, BI-RADS 4.", "left"),
        ("US PELVIS TRANSVAGINAL", "Right ovary: O-RADS US 2. Left ovary: O-RADS US 4.", "left"),
        ("MRI BREAST BILATERAL", "1. Known right breast malignancy. BI-RADS 6.\n2. Suspicious left breast mass at 3:00. "
         "BI-RADS 4.\nOverall BI-RADS 4.", "left"),
        ("MG DIAGNOSTIC BILATERAL", "Right breast: BI-RADS 2. Left breast: BI-RADS 4A.", "left"),
        (None, "Acute right subdural hematoma with 5 mm of leftward midline shift.", "right"),
    ],
)
def test_laterality_of_the_index_finding(procedure: str | None, impression: str, expected: str | None) -> None:
    assert ENGINE.laterality(_report(impression, findings="Findings as below.", procedure=procedure)) == expected
