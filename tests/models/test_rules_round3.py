"""Rules engine, round 3: report text written for this file in the phrasings of other templates and
radiologists (not in the dev set, nor in test_rules_unseen.py / test_rules_round2.py): less common RADS
spellings, tables and numbered impressions, prior categories next to current ones, hypothetical
categories, version numbers that are not categories, TNM suffixes and templates, CheXpert change words,
critical findings of the spec's wider list (§12) and follow-up intervals.
"""

from __future__ import annotations

import pytest

from models.rules import RulesEngine
from models.rules.rads import stated_rads
from models.types import RadiologyReport, TaskName, TaskRequest

ENGINE = RulesEngine()


def _report(impression: str | None = None, findings: str | None = None, procedure: str | None = None,
            modality: str | None = None) -> RadiologyReport:
    return RadiologyReport(report_id="round3", procedure=procedure, modality=modality, findings=findings,
                           impression=impression)


def _rads(report: RadiologyReport) -> tuple[str, str] | None:
    got = stated_rads(report)
    return (got.system, got.category) if got else None


# ---- RADS: less common spellings of all ten systems --------------------------------------------------

@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        ("US THYROID", "Right mid-pole solid nodule, 1.6 cm. ACR TI-RADS: TR4 (moderately suspicious).", ("TI-RADS", "TR4")),
        ("US THYROID", "Left lobe nodule. TI-RADS points: 5 (TR4).", ("TI-RADS", "TR4")),
        ("US THYROID AND NECK", "Isthmic nodule, TI-RADS category 3 (TR3), 1.1 cm.", ("TI-RADS", "TR3")),
        ("US SOFT TISSUE NECK (THYROID)", "Highest TI-RADS level: TR 5, right lower pole.", ("TI-RADS", "TR5")),
        ("MRI ABDOMEN W WO CONTRAST LIVER", "Segment 8 arterial phase hyperenhancing observation with washout and "
         "capsule, 2.4 cm: LR-5.", ("LI-RADS", "LR-5")),
        ("MRI LIVER W WO", "LI-RADS v2018 category LR-TR Viable at the treated segment 4 lesion.", ("LI-RADS", "LR-TR Viable")),
        ("CT ABDOMEN LIVER 3 PHASE", "Targetoid segment 6 mass with peripheral washout, LR-M.", ("LI-RADS", "LR-M")),
        ("MRI LIVER", "Treated segment 7 zone: LR-TR Equivocal. Repeat imaging in 3 months.", ("LI-RADS", "LR-TR Equivocal")),
        ("CT CHEST LOW DOSE SCREENING", "Lung-RADS v2022 category 4B.", ("Lung-RADS", "4B")),
        ("CT LUNG CANCER SCREENING", "Lung-RADS 2S. Moderate coronary artery calcification; see S modifier.", ("Lung-RADS", "2")),
        ("LDCT LUNG SCREENING", "Spiculated 9 mm solid RUL nodule with an enlarged ipsilateral hilar node. "
         "Lung-RADS: 4X.", ("Lung-RADS", "4X")),
        ("CT CHEST LUNG SCREENING", "Lung-RADS 2022 category 3, probably benign.", ("Lung-RADS", "3")),
        ("US PELVIS TRANSVAGINAL AND TRANSABDOMINAL", "Right adnexal multilocular cyst with a smooth inner wall, "
         "O-RADS US 4.", ("O-RADS", "4")),
        ("MRI PELVIS W WO CONTRAST", "Left adnexal lesion, O-RADS MRI score 3 (low risk).", ("O-RADS", "3")),
        ("US PELVIS COMPLETE", "Solid irregular right adnexal mass. O-RADS 5 - high risk.", ("O-RADS", "5")),
        ("MRI PROSTATE MULTIPARAMETRIC", "PI-RADS v2.1 assessment: 4", ("PI-RADS", "4")),
        ("MRI PROSTATE W WO", "PI-RADS 3 lesion in the left PZ at the mid gland.", ("PI-RADS", "3")),
        ("MR PROSTATE", "Assessed with PI-RADS v2.1. Index lesion right TZ, PI-RADS 5.", ("PI-RADS", "5")),
        ("CT SOFT TISSUE NECK W CONTRAST", "Primary site: NI-RADS 2a. Neck: NI-RADS 1.", ("NI-RADS", "2a")),
        ("PET/CT HEAD AND NECK", "NI-RADS: Primary 2b; Neck 1.", ("NI-RADS", "2b")),
        ("MRI NECK W WO", "NI-RADS category 4 (definite recurrence) at the left tongue base.", ("NI-RADS", "4")),
        ("CTA CORONARY ARTERIES", "CAD-RADS 4A/S/G. Severe (70-99%) stenosis of the proximal LAD.", ("CAD-RADS", "4A")),
        ("CCTA", "CAD-RADS 3/P2.", ("CAD-RADS", "3")),
        ("CT CORONARY ANGIOGRAM", "CAD-RADS N due to motion artifact in the mid RCA.", ("CAD-RADS", "N")),
        ("CT CARDIAC CORONARY", "CAD-RADS 2.0: 4B/P3/HRP.", ("CAD-RADS", "4B")),
        ("CTA CORONARY", "CAD-RADS 0 (0% stenosis). Coronary artery calcium score 0.", ("CAD-RADS", "0")),
        ("MRI BLADDER W WO", "Posterior wall tumour with disruption of the muscularis propria. VI-RADS 4.", ("VI-RADS", "4")),
        ("MRI PELVIS BLADDER PROTOCOL", "VI-RADS score of 2.", ("VI-RADS", "2")),
        ("US GALLBLADDER", "Diffuse symmetric wall thickening with intramural cysts. GB-RADS 3.", ("GB-RADS", "3")),
        ("US ABDOMEN LIMITED RUQ", "GB-RADS 4: focal irregular wall thickening, suspicious.", ("GB-RADS", "4")),
        ("MG DIAGNOSTIC BILATERAL", "Irregular mass left breast 2:00. BIRADS 4a.", ("BI-RADS", "4A")),
        ("MG SCREENING BILATERAL W TOMO", "BI RADS category 0: incomplete. Need additional imaging evaluation.", ("BI-RADS", "0")),
        ("MAMMOGRAM SCREENING BILATERAL", "Final assessment: Category 2 - Benign.", ("BI-RADS", "2")),
        ("US BREAST LEFT LIMITED", "ACR BI-RADS® Category 4C: High suspicion for malignancy.", ("BI-RADS", "4C")),
        ("MG DIAGNOSTIC RIGHT", "BI-RADS Assessment: 4 - Suspicious.", ("BI-RADS", "4")),
        ("MRI BREAST BILATERAL", "Overall assessment: BI-RADS 0, needs second-look ultrasound.", ("BI-RADS", "0")),
        ("MG SCREENING", "ACR BIRADS 1 negative.", ("BI-RADS", "1")),
    ],
)
def test_less_common_spellings_of_every_system(procedure: str, impression: str, expected: tuple[str, str]) -> None:
    assert _rads(_report(impression, procedure=procedure)) == expected


def test_final_assessment_under_a_mammography_modality_without_procedure() -> None:
    report = _report("Final Assessment: Category 1 - Negative", findings="Scattered fibroglandular densities (ACR "
                     "density category B). No suspicious mass.", modality="MG")
    assert _rads(report) == ("BI-RADS", "1")


# ---- RADS: several lesions, tables, numbered impressions, priors, hypotheses, version numbers ----------

@pytest.mark.parametrize(
    ("procedure", "findings", "impression", "expected"),
    [
        ("MG DIAGNOSTIC BILATERAL", None, "RIGHT BREAST: BI-RADS 2, benign.\nLEFT BREAST: BI-RADS 4B, suspicious.",
         ("BI-RADS", "4B")),
        ("US BREAST BILATERAL", None, "Right: BI-RADS 5. Left: BI-RADS 3.", ("BI-RADS", "5")),
        ("US THYROID", "| Nodule | Location | Size | TI-RADS |\n| 1 | Right lower | 1.2 cm | TR3 |\n"
         "| 2 | Left mid | 1.9 cm | TR4 |", "Two nodules as tabulated; nodule 2 meets criteria for FNA.", ("TI-RADS", "TR4")),
        ("MRI PROSTATE", "Lesion 1 | Left PZ posterolateral | 1.3 cm | PI-RADS 4\nLesion 2 | Right TZ | 0.8 cm | PI-RADS 2",
         "Index lesion left PZ as above.", ("PI-RADS", "4")),
        ("MG DIAGNOSTIC LEFT", None, "IMPRESSION:\n1. Probably benign oval mass left breast 3:00. BI-RADS 3.\n"
         "2. Short-interval follow-up diagnostic mammogram in 6 months.", ("BI-RADS", "3")),
        ("US BREAST RIGHT", "Comparison: 2025-03-02.", "The previously BI-RADS 4A asymmetry has resolved on spot "
         "compression views. BI-RADS 1.", ("BI-RADS", "1")),
        ("LDCT LUNG SCREENING", None, "Lung-RADS 4A on the prior, now Lung-RADS 3 given decrease in size.", ("Lung-RADS", "3")),
        ("MRI LIVER", None, "Segment 5 observation previously categorized LR-4 now LR-3 (decreased arterial enhancement).",
         ("LI-RADS", "LR-3")),
        ("MG DIAGNOSTIC BILATERAL", "Comparison: outside mammogram with a BI-RADS 4 recommendation.",
         "Benign-appearing calcifications. BI-RADS 2.", ("BI-RADS", "2")),
        ("US PELVIS TRANSVAGINAL", None, "There are no features to suggest O-RADS 4 or 5. O-RADS US 3.", ("O-RADS", "3")),
        ("US THYROID", None, "Should the nodule demonstrate growth, it would be upgraded to TR5. ACR TI-RADS TR4.",
         ("TI-RADS", "TR4")),
        ("MRI LIVER", None, "Segment 2 observation, LR-4. This would be categorized as LR-5 if washout were present.",
         ("LI-RADS", "LR-4")),
        ("MRI PROSTATE", None, "Lesion does not qualify for PI-RADS 4 given its size. PI-RADS 3.", ("PI-RADS", "3")),
        ("LDCT CHEST", "Technique: scored with Lung-RADS version 1.1.", "Stable 5 mm nodule. Lung-RADS 2.", ("Lung-RADS", "2")),
        ("MRI PROSTATE", "Reported according to PI-RADS v2.1.", "Right PZ lesion, PI-RADS 3.", ("PI-RADS", "3")),
        ("US THYROID", None, "Nodules characterized per ACR TI-RADS 2017 guidelines. Dominant left nodule TR3.",
         ("TI-RADS", "TR3")),
        ("MRI BREAST BILATERAL", "History: right breast cancer, BI-RADS 6 at diagnosis.",
         "Post-lumpectomy changes right breast. BI-RADS 2: Benign.", ("BI-RADS", "2")),
        ("MRI PELVIS BLADDER", "Incidental prostate: PI-RADS 4 lesion on outside MRI.", "Bladder dome tumour, VI-RADS 2.",
         ("VI-RADS", "2")),
        ("CT CHEST LOW DOSE SCREENING", None, "1. Lung-RADS 3.\n2. Incidental thyroid nodule, TR3 per outside report.",
         ("Lung-RADS", "3")),
    ],
)
def test_current_category_among_lesions_tables_priors_and_hypotheses(procedure: str, findings: str | None,
                                                                      impression: str, expected: tuple[str, str]) -> None:
    assert _rads(_report(impression, findings=findings, procedure=procedure)) == expected


@pytest.mark.parametrize(
    ("procedure", "findings", "impression"),
    [
        # A version number after the system name is not a category.
        ("MRI PROSTATE", "Technique: multiparametric MRI per PI-RADS v2.1.", "No suspicious lesion identified."),
        ("US THYROID", None, "Per ACR TI-RADS 2017 guidelines, nodules under 1 cm do not require follow-up."),
        ("LDCT LUNG SCREENING", "Scored with Lung-RADS version 1.1.", "See recommendation below."),
        # Only a prior, denied or hypothetical category: the report states none of its own.
        ("US BREAST LEFT", "Comparison: 2024-06-01, BI-RADS 3.", "Stable probably benign mass; see addendum."),
        ("MRI LIVER", None, "No observation meets criteria for LR-4 or LR-5."),
        ("US THYROID", None, "If the nodule enlarges, it would become TR4."),
        # A RADS category of another system than the exam's own.
        ("MG SCREENING BILATERAL", "History: Lung-RADS 4A nodule on recent LDCT.", "See separate report."),
    ],
)
def test_no_stated_category(procedure: str, findings: str | None, impression: str) -> None:
    assert _rads(_report(impression, findings=findings, procedure=procedure)) is None


# ---- TNM ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "n", "m"),
    [
        ("Radiologic stage: T2N1M0 (stage IIB).", "N1", "M0"),
        ("Clinical stage cT3 N2a M0.", "N2", "M0"),
        ("Post-neoadjuvant MRI: ypT1c N0.", "N0", None),
        ("Sentinel lymph node: pN1mi.", "N1", None),
        ("Stage IVB (M1c) due to brain metastases.", None, "M1"),
        ("Ipsilateral supraclavicular node: N3b.", "N3", None),
        ("cT2 cN1 cMx.", "N1", None),
        ("TNM: T2 N1 MX.", "N1", None),
        ("Malignant left pleural effusion (M1a).", None, "M1"),
        ("Malignant pericardial effusion, M1a.", None, "M1"),
        ("Stage cT4a N3 M1b.", "N3", "M1"),
        ("Pathologic stage pT2 pN0 (0/15), cM0.", "N0", "M0"),
        ("Recurrent disease: rT2 N1 M0.", "N1", "M0"),
        ("Stage IIIA (T1c N2 M0).", "N2", "M0"),
        ("N stage: N2c.", "N2", None),
        ("T: T2a\nN: N1\nM: M0", "N1", "M0"),
        ("Tumor: T3. Nodes: N2. Metastases: M1b.", "N2", "M1"),
        ("Left neck level II-IV adenopathy, N2b nodal disease. No distant metastases (M0).", "N2", "M0"),
        # A prior cancer's stage next to the current one.
        ("History: left breast cancer 2015, pT1c N0 M0.\nRight upper lobe mass; clinical stage cT2a N2 M0.", "N2", "M0"),
        ("Previously staged T3N1M0 in 2022. Now restaged as ycT2 ycN0 cM0.", "N0", "M0"),
        # Hypothetical or bare: no stage.
        ("Contralateral hilar node is borderline; if malignant this would be N3 disease.", None, None),
        ("Occlusion of the M1 segment of the right MCA.", None, None),
        ("Stage to be determined after biopsy.", None, None),
    ],
)
def test_stated_tnm_in_other_templates(text: str, n: str | None, m: str | None) -> None:
    report = _report(findings=text)
    n_res = ENGINE.stated(TaskRequest(task=TaskName.n_staging, report=report))
    m_res = ENGINE.stated(TaskRequest(task=TaskName.m_staging, report=report))
    assert (n_res.value.stage if n_res else None) == n  # type: ignore[union-attr]
    assert (m_res.value.stage if m_res else None) == m  # type: ignore[union-attr]


# ---- CheXpert ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ("No focal consolidation, pleural effusion, or pneumothorax.",
         {"consolidation": "negative", "pleural effusion": "negative", "pneumothorax": "negative"}),
        ("Interval resolution of the right pleural effusion.", {"pleural effusion": "negative"}),
        ("The previously noted left pneumothorax is no longer seen.", {"pneumothorax": "negative"}),
        ("Persistent left lower lobe consolidation.", {"consolidation": "positive", "lung opacity": "positive"}),
        ("Stable cardiomegaly.", {"cardiomegaly": "positive"}),
        ("Low lung volumes with bibasilar atelectasis.", {"atelectasis": "positive"}),
        ("Endotracheal tube 4 cm above the carina. Enteric tube tip in the stomach.", {"support devices": "positive"}),
        ("No displaced rib fractures identified.", {"fracture": "negative"}),
        ("Findings could represent early pneumonia.", {"pneumonia": "uncertain"}),
        ("Right lower lobe pneumonia.", {"lung opacity": "positive", "pneumonia": "positive"}),
        ("Right apical pneumothorax is again seen, slightly smaller.", {"pneumothorax": "positive"}),
        ("No pleural effusions or pneumothoraces.", {"pleural effusion": "negative", "pneumothorax": "negative"}),
        ("The lungs are hyperinflated but clear.", {"lung opacity": "negative"}),
        ("Atelectasis is not excluded.", {"atelectasis": "uncertain"}),
        ("Pleural effusion has resolved.", {"pleural effusion": "negative"}),
        ("Small bilateral pleural effusions, left greater than right.", {"pleural effusion": "positive"}),
        ("Trace right pleural fluid.", {"pleural effusion": "positive"}),
        ("Blunting of the left costophrenic angle, which may reflect a small effusion.", {"pleural effusion": "uncertain"}),
        ("Mild interstitial edema.", {"edema": "positive", "lung opacity": "positive"}),
        ("Moderate cardiomegaly is unchanged.", {"cardiomegaly": "positive"}),
        ("The right PICC terminates at the cavoatrial junction.", {"support devices": "positive"}),
        ("No new consolidation.", {"consolidation": "negative"}),
        ("Resolved left basilar atelectasis.", {"atelectasis": "negative"}),
        ("Cardiomegaly without pulmonary edema.", {"cardiomegaly": "positive", "edema": "negative"}),
    ],
)
def test_chexpert_in_other_phrasings(findings: str, expected: dict[str, str]) -> None:
    got = ENGINE.chexpert(_report(findings=findings, modality="CR")).labels
    assert {k: v for k, v in got.items() if k != "no finding"} == expected


# ---- critical findings --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Large right tension pneumothorax.", [("tension pneumothorax", "definite")]),
        ("Large left pneumothorax with rightward mediastinal shift and depression of the left hemidiaphragm.",
         [("tension pneumothorax", "definite")]),
        ("Free intraperitoneal air consistent with perforated viscus.", [("free air", "definite")]),
        ("Pneumoperitoneum.", [("free air", "definite")]),
        ("No pneumoperitoneum.", []),
        ("Postoperative pneumoperitoneum, expected 2 days after laparoscopy.", []),
        ("Interval resolution of pneumoperitoneum.", []),
        ("Acute type B aortic dissection beginning distal to the left subclavian artery.", [("aortic dissection", "definite")]),
        ("Chronic type B aortic dissection, unchanged in extent.", []),
        ("Intimal flap in the descending thoracic aorta.", [("aortic dissection", "definite")]),
        ("No CT evidence of acute aortic syndrome.", []),
        ("Filling defects in the right main pulmonary artery compatible with acute pulmonary embolism.",
         [("pulmonary embolism", "definite")]),
        ("Saddle pulmonary embolus with right heart strain.", [("pulmonary embolism", "definite")]),
        ("Chronic pulmonary embolism with a web in the right lower lobe artery.", []),
        ("Interval resolution of the previously seen pulmonary emboli.", []),
        ("PE protocol CT: no filling defects.", []),
        ("Acute subdural hematoma along the left convexity measuring 8 mm.", [("intracranial hemorrhage", "definite")]),
        ("Small subarachnoid hemorrhage in the right sylvian fissure.", [("intracranial hemorrhage", "definite")]),
        ("No acute intracranial hemorrhage.", []),
        ("The previously seen subdural hematoma has resolved.", []),
        ("History of subarachnoid hemorrhage, status post aneurysm clipping.", []),
        ("The small left pneumothorax is no longer seen.", []),
        ("Endotracheal tube tip in the right mainstem bronchus; recommend retraction by 3 cm.",
         [("malpositioned support device", "definite")]),
        ("Feeding tube courses into the right lower lobe bronchus.", [("malpositioned support device", "definite")]),
        ("Endotracheal tube tip 4 cm above the carina in satisfactory position.", []),
        ("Epidural mass at T10 with severe spinal cord compression.", [("spinal cord compression", "definite")]),
        ("Retropulsed fragment causes cord compression at C5.", [("spinal cord compression", "definite")]),
        ("No spinal cord compression.", []),
        ("No evidence of cord compression.", []),
        ("Left adnexal ectopic pregnancy with moderate hemoperitoneum.", [("ectopic pregnancy", "definite")]),
        ("Intrauterine pregnancy with yolk sac. No ectopic pregnancy.", []),
        ("Clinical history: evaluate for ectopic pregnancy.\nNo adnexal mass.", []),
        ("Absent flow to the left testis, consistent with testicular torsion.", [("testicular torsion", "definite")]),
        ("No sonographic evidence of testicular torsion.", []),
        ("Findings are suspicious for early testicular torsion.", [("testicular torsion", "uncertain")]),
        ("Rule out torsion.\nNormal arterial and venous flow in both testes.", []),
        ("Enlarged right ovary with absent venous flow, concerning for ovarian torsion.", [("ovarian torsion", "uncertain")]),
        ("Torsion of the left ovary with a 6 cm dermoid as lead point.", [("ovarian torsion", "definite")]),
        ("Portal venous gas and pneumatosis intestinalis, findings of bowel ischemia.", [("portal venous gas", "definite")]),
        ("Interval decompression of the left tension pneumothorax with a chest tube; trace residual apical pneumothorax.",
         []),
    ],
)
def test_critical_findings_in_other_phrasings(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(c.term, c.certainty) for c in ENGINE.critical(_report(findings=text))] == expected


# ---- follow-ups ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Recommend short-interval follow-up diagnostic mammogram in 6 months.",
         [("short-interval follow-up diagnostic mammogram", "P6M")]),
        ("Recommend biopsy.", [("biopsy", None)]),
        ("Recommend annual screening mammography.", [("annual screening mammography", "P1Y")]),
        ("Return to annual screening.", [("annual screening", "P1Y")]),
        ("Follow-up low-dose CT in 12 months.", [("Follow-up low-dose CT", "P12M")]),
        ("Recommend thyroid ultrasound in 1 year.", [("thyroid ultrasound", "P1Y")]),
        ("Targeted biopsy is recommended.", [("Targeted biopsy", None)]),
        ("Recommend CT chest in 3 months to assess for resolution.", [("CT chest", "P3M")]),
        ("Consider PET/CT.", [("PET/CT", None)]),
        ("Recommend follow-up in 6-12 months.", [(None, "P6M")]),
        ("Recommend 3-month follow-up LDCT.", [("follow-up LDCT", "P3M")]),
        ("No further imaging follow-up is required.", []),
        ("Follow-up is not needed.", []),
        ("Recommend ultrasound-guided FNA of the 1.8 cm TR4 nodule.", [("ultrasound-guided FNA", None)]),
        ("Recommend repeat MRI in 3 months (LR-3).", [("repeat MRI", "P3M")]),
        ("Annual screening is recommended.", [("Annual screening", "P1Y")]),
        ("Recommend follow-up ultrasound in six months.", [("follow-up ultrasound", "P6M")]),
        ("Recommend continued surveillance ultrasound every 6 months.", [("surveillance ultrasound", "P6M")]),
        ("Urology referral is recommended.", [("Urology referral", None)]),
        ("Recommend follow-up chest radiograph in 2 weeks after antibiotic therapy.", [("follow-up chest radiograph", "P2W")]),
    ],
)
def test_follow_ups_in_other_phrasings(text: str, expected: list[tuple[str | None, str | None]]) -> None:
    assert [(f.procedure, f.interval) for f in ENGINE.follow_ups(_report(findings=text))] == expected


# ---- second batch: comparison dates, past-tense and supposed categories, hedged stages --------------

@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        ("MG DIAGNOSTIC LEFT", "BI-RADS: 4A (low suspicion).", ("BI-RADS", "4A")),
        ("MG SCREENING BILATERAL", "Left breast: BI-RADS 1. Right breast: BI-RADS 1. Overall: BI-RADS 1.", ("BI-RADS", "1")),
        ("MG DIAGNOSTIC", "Assessment: Incomplete - Need additional imaging evaluation (BI-RADS 0).", ("BI-RADS", "0")),
        ("MG DIAGNOSTIC", "Compared to 01/15/2024 (BI-RADS 3), the mass is stable. BI-RADS 2.", ("BI-RADS", "2")),
        ("MG DIAGNOSTIC", "Stable since the 2023 exam, when it was assessed as BI-RADS 3. BI-RADS 2.", ("BI-RADS", "2")),
        ("US BREAST", "BI-RADS 4 biopsy was benign in 2022. Current: BI-RADS 2.", ("BI-RADS", "2")),
        ("MG DIAGNOSTIC", "BI-RADS 3 would be appropriate if no prior imaging were available; given stability, BI-RADS 2.",
         ("BI-RADS", "2")),
        ("US BREAST LEFT", "Left breast 2:00 cyst, BI-RADS 2. The 4:00 mass, BI-RADS 4B; biopsy recommended.", ("BI-RADS", "4B")),
        ("LDCT LUNG SCREENING", "Lung-RADS category: 1 (negative).", ("Lung-RADS", "1")),
        ("LDCT LUNG SCREENING", "Lung-RADS 4B/S. Recommend PET/CT.", ("Lung-RADS", "4B")),
        ("LDCT LUNG SCREENING", "Lung-RADS 0: prior CT chest being obtained for comparison.", ("Lung-RADS", "0")),
        ("LDCT LUNG SCREENING", "Category 4X.", ("Lung-RADS", "4X")),
        ("US THYROID", "TR5 (highly suspicious), 1.4 cm, FNA recommended.", ("TI-RADS", "TR5")),
        ("US THYROID", "TI-RADS score 7 (TR5).", ("TI-RADS", "TR5")),
        ("MRI LIVER", "LR-3 observation in segment 6; no LR-4 or LR-5 observations.", ("LI-RADS", "LR-3")),
        ("MRI LIVER", "LI-RADS category 5 (definite HCC).", ("LI-RADS", "LR-5")),
        ("MRI LIVER", "Segment 4 LR-4, previously LR-3 in 2024.", ("LI-RADS", "LR-4")),
        ("US PELVIS", "O-RADS US risk category 3.", ("O-RADS", "3")),
        ("MRI PROSTATE", "PI-RADS: 5/5.", ("PI-RADS", "5")),
        ("MRI PROSTATE", "PI-RADS 2. No PI-RADS 3, 4 or 5 lesions.", ("PI-RADS", "2")),
        ("CT NECK W CONTRAST", "NI-RADS 3 at the primary site and NI-RADS 2 in the neck.", ("NI-RADS", "3")),
        ("CCTA", "CAD-RADS 5 (total occlusion of the RCA).", ("CAD-RADS", "5")),
        ("MRI BLADDER", "VI-RADS category 5.", ("VI-RADS", "5")),
        ("US GALLBLADDER", "GB-RADS 2 (benign).", ("GB-RADS", "2")),
        # TR is also tricuspid regurgitation: no thyroid context, no TI-RADS.
        ("ECHO TRANSTHORACIC", "Moderate TR3 noted.", None),
    ],
)
def test_second_batch_of_rads_phrasings(procedure: str, impression: str, expected: tuple[str, str] | None) -> None:
    assert _rads(_report(impression, procedure=procedure)) == expected


@pytest.mark.parametrize(
    ("text", "n", "m"),
    [
        ("cT1a(m) N0 M0", "N0", "M0"),
        ("pT3a pN1b cM0", "N1", "M0"),
        ("TX N1 M0", "N1", "M0"),
        ("Stage IVA (cT4a cN2 cM0).", "N2", "M0"),
        ("ypT0 ypN0 (0/12).", "N0", None),
        ("UICC: T3 N1 M0.", "N1", "M0"),
        ("At least cN2 disease.", "N2", None),
        # prior cancers
        ("Prior right breast cancer (pT1N0) in 2018.", None, None),
        ("Prior right breast cancer (pT1N0) in 2018.\nCurrent lung mass: cT2 cN2 cM1a.", "N2", "M1"),
        ("Stage IIA (T2N0M0) breast cancer diagnosed in 2019, treated.", None, None),
        ("T2 N0 M0 per outside report.", None, None),
        # hedged stages are for the models
        ("Cannot exclude N3 disease.", None, None),
        ("Suspicious for M1b disease.", None, None),
        ("Nodal status: N1 (possible).", None, None),
        ("Possible contralateral hilar node (N3).", None, None),
        ("cN+ disease in the neck.", None, None),
        ("The N1 and N2 stations were sampled.", None, None),
    ],
)
def test_second_batch_of_stages(text: str, n: str | None, m: str | None) -> None:
    report = _report(findings=text)
    n_res = ENGINE.stated(TaskRequest(task=TaskName.n_staging, report=report))
    m_res = ENGINE.stated(TaskRequest(task=TaskName.m_staging, report=report))
    assert (n_res.value.stage if n_res else None) == n  # type: ignore[union-attr]
    assert (m_res.value.stage if m_res else None) == m  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ("Bibasilar opacities likely atelectasis.", {"atelectasis": "uncertain", "lung opacity": "positive"}),
        ("Right-sided chest tube in place. No residual pneumothorax.",
         {"pneumothorax": "negative", "support devices": "positive"}),
        ("Small left apical pneumothorax, decreased.", {"pneumothorax": "positive"}),
        ("Possible trace left effusion.", {"pleural effusion": "uncertain"}),
        ("Mild cardiomegaly with pulmonary vascular congestion.",
         {"cardiomegaly": "positive", "edema": "positive", "lung opacity": "positive"}),
        ("No radiographic evidence of pneumonia.", {"pneumonia": "negative"}),
        ("Lungs are clear without focal consolidation, effusion or pneumothorax.",
         {"consolidation": "negative", "lung opacity": "negative", "pleural effusion": "negative", "pneumothorax": "negative"}),
        ("Left basilar airspace disease compatible with pneumonia.", {"lung opacity": "positive", "pneumonia": "positive"}),
        ("Minimally displaced fracture of the left 7th rib.", {"fracture": "positive"}),
        ("Retrocardiac opacity, atelectasis versus consolidation.",
         {"atelectasis": "uncertain", "consolidation": "uncertain", "lung opacity": "uncertain"}),
        ("Pleural effusions have decreased, now small.", {"pleural effusion": "positive"}),
        ("Clinical history: pneumonia.\nLungs are clear.", {"lung opacity": "negative"}),
    ],
)
def test_second_batch_of_chexpert(findings: str, expected: dict[str, str]) -> None:
    got = ENGINE.chexpert(_report(findings=findings, modality="CR")).labels
    assert {k: v for k, v in got.items() if k != "no finding"} == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tiny left apical pneumothorax, new since the prior exam.", [("pneumothorax", "definite")]),
        ("Pneumothorax, status post chest tube placement, smaller.", []),
        ("Hemorrhagic transformation of the left MCA infarct.", [("intracranial hemorrhage", "definite")]),
        ("Intraparenchymal hematoma, unchanged.", []),
        ("ETT terminates in the right mainstem bronchus.", [("malpositioned support device", "definite")]),
        ("Dobhoff tube tip overlies the stomach.", []),
        ("Ruptured right tubal ectopic pregnancy.", [("ectopic pregnancy", "definite")]),
        ("Acute type A dissection involving the ascending aorta.", [("aortic dissection", "definite")]),
        ("Dissection flap in the ascending aorta.", [("aortic dissection", "definite")]),
        ("Dissection flap in the left vertebral artery.", []),
        ("Status post repair of type A aortic dissection. Residual dissection flap in the descending aorta, unchanged.", []),
        ("Status post fall. Acute right subdural hematoma.", [("intracranial hemorrhage", "definite")]),
        ("Acute PE.", [("pulmonary embolism", "definite")]),
        ("Severe canal stenosis with cord compression, unchanged.", []),
        ("No evidence of testicular or ovarian torsion.", []),
        ("Gas in the portal venous system.", [("portal venous gas", "definite")]),
        ("Free fluid in the pelvis. No free air.", []),
        ("Pneumomediastinum without pneumothorax.", []),
        ("Spinal cord compression cannot be excluded; MRI recommended.", [("spinal cord compression", "uncertain")]),
        ("Previously noted PE has resolved.", []),
        ("Torsion of the appendix testis.", []),
    ],
)
def test_second_batch_of_critical_findings(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(c.term, c.certainty) for c in ENGINE.critical(_report(findings=text))] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Recommend diagnostic mammogram and ultrasound.", [("diagnostic mammogram", None)]),
        ("BI-RADS 3: Recommend follow-up in 6 months.", [(None, "P6M")]),
        ("Recommend tissue sampling.", [("tissue sampling", None)]),
        ("Follow-up MRI in 12-18 months is suggested.", [("Follow-up MRI", "P12M")]),
        ("Recommend LDCT in 12 months.", [("LDCT", "P12M")]),
        ("Recommend unilateral diagnostic mammogram of the right breast in 6 months.",
         [("unilateral diagnostic mammogram", "P6M")]),
        ("Next screening LDCT due in 12 months.", [("screening LDCT", "P12M")]),
        ("Recommend referral to hepatology.", [("referral to hepatology", None)]),
        ("Consider short-interval follow-up CT in 3 months versus PET/CT.", [("short-interval follow-up CT", "P3M")]),
        ("Recommend colonoscopy.", [("colonoscopy", None)]),
        ("Recommend stereotactic biopsy of the calcifications.", [("stereotactic biopsy", None)]),
        ("Please correlate clinically.", []),
    ],
)
def test_second_batch_of_follow_ups(text: str, expected: list[tuple[str | None, str | None]]) -> None:
    assert [(f.procedure, f.interval) for f in ENGINE.follow_ups(_report(findings=text))] == expected


@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        ("MG DIAGNOSTIC BILATERAL", "RIGHT BREAST: BI-RADS 2, benign.\nLEFT BREAST: BI-RADS 4B, suspicious.", "left"),
        ("US BREAST BILATERAL", "Right: BI-RADS 5. Left: BI-RADS 3.", "right"),
        ("MRI PROSTATE", "Lesion 1: PI-RADS 2 right TZ. Lesion 2: PI-RADS 4 left PZ.", "left"),
        ("US THYROID", "Right thyroid lobe nodule TR4; left lobe nodule TR2.", "right"),
        (None, "Enlarged right ovary with absent venous flow, concerning for ovarian torsion.", "right"),
        (None, "Absent flow to the left testis, consistent with testicular torsion.", "left"),
        (None, "Large left pneumothorax with rightward mediastinal shift.", "left"),
        (None, "Bilateral lower lobe segmental pulmonary emboli.", "bilateral"),
        (None, "Type A aortic dissection.", None),
    ],
)
def test_laterality_in_other_phrasings(procedure: str | None, impression: str, expected: str | None) -> None:
    assert ENGINE.laterality(_report(impression, findings="Findings as below.", procedure=procedure)) == expected


# ---- near misses of this round's new rules: they must not swallow current findings -------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Decompressed small bowel loops with pneumoperitoneum.", ["free air"]),
        ("The right tension pneumothorax has been decompressed; small residual pneumothorax.", []),
        ("Status post resection of the right lung, right pneumothorax.", ["pneumothorax"]),
    ],
)
def test_treatment_words_only_cover_the_treated_finding(text: str, expected: list[str]) -> None:
    assert [c.term for c in ENGINE.critical(_report(findings=text))] == expected


@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        ("US BREAST", "BI-RADS 4 biopsy could be performed under ultrasound guidance.", ("BI-RADS", "4")),
        ("MG DIAGNOSTIC", "BI-RADS 2, stable calcifications were present in 2019.", ("BI-RADS", "2")),
        ("MRI LIVER", "LR-TR Viable at the treated segment 8 lesion; LR-3 in segment 2.", ("LI-RADS", "LR-TR Viable")),
    ],
)
def test_new_prior_and_supposition_cues_keep_current_categories(procedure: str, impression: str,
                                                                expected: tuple[str, str]) -> None:
    assert _rads(_report(impression, procedure=procedure)) == expected


def test_new_critical_terms_are_in_the_vocabulary_the_outputs_code() -> None:
    from models.rules.critical import VOCABULARY

    assert VOCABULARY[:7] == ("tension pneumothorax", "pneumothorax", "intracranial hemorrhage", "pulmonary embolism",
                              "free air", "aortic dissection", "malpositioned support device")
    assert {"spinal cord compression", "ectopic pregnancy", "testicular torsion", "ovarian torsion",
            "portal venous gas"} <= set(VOCABULARY)
