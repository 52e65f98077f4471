"""Rules engine, round 4: report phrasings written for this file, not in the dev set nor in the earlier
rounds (test_rules_unseen.py, test_rules_round2.py, test_rules_round3.py): whole reports in other
templates (CRLF line ends, OPINION/SUMMARY headings, capitals, bullets), addenda that revise a category
or retract a finding, registered-mark and bracketed spellings, two systems in one report, categories of
the study that led to this one, TNM of treated cancers, words for N0, the hedging policy for M1, tension
physiology that is denied or only suspected, malpositioned lines, acute-on-chronic and postoperative
findings, CheXpert template lines, follow-up intervals in words and the side of findings given with
abbreviations, comparisons ("right greater than left") or on devices.

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

from adapters.sections import split_sections
from adapters.text import report_from_text

# ---- whole reports in other templates -------------------------------------------------------------

_PS_CRLF = (
    "EXAM: MG DIAGNOSTIC LEFT\r\nCLINICAL HISTORY: Palpable lump.\r\nFINDINGS:\r\nIrregular mass at 2 "
    "o'clock, "
    "4 cm from the nipple.\r\n\r\nCONCLUSION:\r\nSuspicious mass. ACR BI-RADS(R) Category 4B: Moderate "
    "suspicion "
    "for malignancy.\r\nRECOMMENDATION: Ultrasound-guided core biopsy.\r\n"
)
_OPINION = (
    "EXAMINATION: US BREAST RIGHT\nFINDINGS: Oval circumscribed parallel mass at 9 "
    "o'clock.\nOPINION: Probably benign. BI-RADS 3.\n"
)
_SUMMARY = (
    "PROCEDURE: US THYROID\nFINDINGS:\nRight lobe: 1.8 cm solid hypoechoic nodule.\nSUMMARY:\n"
    "ACR TI-RADS TR4 right thyroid nodule; FNA recommended.\n"
)
_CAPS = (
    "EXAM\nMG SCREENING BILATERAL\nFINDINGS\nNO SUSPICIOUS MASS OR "
    "CALCIFICATIONS.\nIMPRESSION\nBI-RADS 1: NEGATIVE.\n"
)
_FINAL_IMPRESSION = (
    "Exam: MRI PROSTATE W WO\nFindings: 1.2 cm lesion in the left peripheral zone at the base.\n"
    "Final impression: PI-RADS 4.\n"
)


@pytest.mark.parametrize(
    ("text", "section", "expected"),
    [
        (_PS_CRLF, "Suspicious mass. ACR BI-RADS(R) Category 4B", ("BI-RADS", "4B")),
        (_OPINION, "Probably benign. BI-RADS 3.", ("BI-RADS", "3")),
        (_SUMMARY, "ACR TI-RADS TR4 right thyroid nodule", ("TI-RADS", "TR4")),
        (_CAPS, "BI-RADS 1: NEGATIVE.", ("BI-RADS", "1")),
        (_FINAL_IMPRESSION, "PI-RADS 4.", ("PI-RADS", "4")),
    ],
)
def test_whole_reports_in_other_templates(text: str, section: str, expected: tuple[str, str]) -> None:
    report = report_from_text(text)
    assert report.impression is not None and report.impression.startswith(section)
    assert _rads(report) == expected


def test_crlf_report_keeps_the_side_and_the_biopsy_recommendation() -> None:
    report = report_from_text(_PS_CRLF)
    assert ENGINE.laterality(report) == "left"  # no side in the text: the unilateral exam's side
    assert [(f.procedure, f.interval) for f in ENGINE.follow_ups(report)] == [
        ("Ultrasound-guided core biopsy", None)
    ]


@pytest.mark.parametrize(
    "heading",
    ["ADDENDUM:", "ADDENDUM #1:", "Addendum 2:", "*** ADDENDUM ***", "ADDENDUM (2025-07-01):", "Addendum"],
)
def test_addendum_headings_of_other_systems_open_the_addendum(heading: str) -> None:
    sections = split_sections(f"FINDINGS:\nMass.\nIMPRESSION:\nBI-RADS 4A.\n{heading}\nRevised: BI-RADS 2.")
    assert sections.impression == "BI-RADS 4A."
    assert sections.addendum == "Revised: BI-RADS 2."


def test_a_sentence_starting_with_addendum_is_no_heading() -> None:
    sections = split_sections("IMPRESSION:\nBI-RADS 2.\nAddendum to follow after review of priors.")
    assert sections.addendum is None


# ---- addenda revise the report --------------------------------------------------------------------

_ADD_DOWN = (
    "EXAM: MG DIAGNOSTIC RIGHT\nFINDINGS:\nFocal asymmetry right breast.\nIMPRESSION:\nBI-RADS 0: needs "
    "comparison.\n\n"
    "ADDENDUM:\nOutside priors from 2021 received: the asymmetry is stable for 4 years. Revised "
    "assessment: BI-RADS 2.\n"
)
_ADD_REVISED = (
    "EXAM: US BREAST LEFT\nFINDINGS:\nIrregular mass.\nIMPRESSION:\nBI-RADS 4A.\n\nADDENDUM #1:\nAfter "
    "review of the "
    "prior ultrasound, the mass is unchanged since 2019. The BI-RADS 4A assessment is revised to BI-RADS 2.\n"
)
_ADD_STARS = (
    "EXAM: MG DIAGNOSTIC LEFT\nFINDINGS:\nMass.\nIMPRESSION:\nBI-RADS 4B.\n*** ADDENDUM ***\n"
    "Category changed to BI-RADS 3 after review of prior images.\n"
)
_ADD_TOP = (
    "ADDENDUM:\nComparison with the outside 2022 mammogram shows stability. BI-RADS 2.\n\nORIGINAL REPORT:\n"
    "EXAM: MG DIAGNOSTIC LEFT\nFINDINGS:\nFocal asymmetry left breast.\nIMPRESSION:\nBI-RADS 0 - "
    "Incomplete.\n"
)
_ADD_UP = (
    "EXAM: LDCT LUNG SCREENING\nFINDINGS:\n7 mm solid RUL nodule.\nIMPRESSION:\nLung-RADS 3.\nADDENDUM:\n"
    "On re-review the nodule is spiculated: Lung-RADS 4X.\n"
)
_ADD_NONE = (
    "EXAM: US BREAST LEFT\nFINDINGS:\nIrregular mass.\nIMPRESSION:\nBI-RADS 4B.\nADDENDUM:\n"
    "Findings discussed with Dr. Synth on 2025-07-01.\n"
)
_ADD_TWO = (
    "EXAM: MRI LIVER\nFINDINGS:\nCirrhosis. Segment 6 observation 1.6 cm.\nIMPRESSION:\nLR-3.\nADDENDUM 1:\n"
    "Washout confirmed on delayed images: LR-4.\nADDENDUM 2:\nCapsule also present on review: LR-5.\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_ADD_DOWN, ("BI-RADS", "2")),
        (_ADD_REVISED, ("BI-RADS", "2")),
        (_ADD_STARS, ("BI-RADS", "3")),
        (_ADD_TOP, ("BI-RADS", "2")),
        (_ADD_UP, ("Lung-RADS", "4X")),
        (_ADD_NONE, ("BI-RADS", "4B")),
        (_ADD_TWO, ("LI-RADS", "LR-5")),
    ],
)
def test_an_addendum_category_wins(text: str, expected: tuple[str, str]) -> None:
    assert _rads(report_from_text(text)) == expected


def test_an_addendum_category_wins_in_a_report_built_by_an_adapter() -> None:
    report = _report(
        "Suspicious calcifications. BI-RADS 4B.",
        findings="Grouped calcifications left breast.",
        procedure="MG DIAGNOSTIC LEFT",
        addendum="Magnification views reviewed: benign. BI-RADS 2.",
    )
    assert _rads(report) == ("BI-RADS", "2")


_ADD_PTX = (
    "EXAM: XR CHEST AP PORTABLE\nFINDINGS:\nSmall right apical pneumothorax.\nIMPRESSION:\nSmall right "
    "apical "
    "pneumothorax.\nADDENDUM:\nOn review of the lateral view, the apical line is a skin fold. There is no "
    "pneumothorax.\n"
)


def test_an_addendum_that_retracts_a_finding_wins() -> None:
    report = report_from_text(_ADD_PTX)
    assert _critical(report) == []
    assert _chexpert(report) == {"pneumothorax": "negative"}


def test_an_addendum_that_adds_a_finding_counts() -> None:
    report = _report(
        "No acute cardiopulmonary process.",
        findings="Lungs clear. No pneumothorax.",
        modality="CR",
        addendum="On second review there is a small left apical pneumothorax. Discussed with Dr. Synth.",
    )
    assert _critical(report) == [("pneumothorax", "definite")]
    assert _chexpert(report)["pneumothorax"] == "positive"


def test_an_addendum_stage_wins_over_the_report_body() -> None:
    text = (
        "EXAM: CT CHEST ABDOMEN PELVIS\nFINDINGS:\nLeft adrenal 2 cm nodule consistent with "
        "metastasis.\nIMPRESSION:\n"
        "Right upper lobe mass, cT2 N1.\nADDENDUM:\nAdrenal washout study shows a lipid-rich adenoma; no "
        "distant "
        "metastasis (M0).\n"
    )
    assert _stages(report_from_text(text)) == ("N1", "M0")


def test_a_described_m0_in_an_addendum_wins_over_a_described_m1() -> None:
    report = _report(
        "Lung mass. Left adrenal nodule consistent with metastasis.",
        findings="Staging CT.",
        addendum="Adrenal biopsy shows an adenoma. No evidence of distant metastatic disease.",
    )
    assert _stages(report)[1] == "M0"


# ---- RADS spellings and which mention sets the label ----------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "findings", "impression", "expected"),
    [
        ("MG DIAGNOSTIC LEFT", None, "Irregular mass. ACR BI-RADS(R) 0: incomplete.", ("BI-RADS", "0")),
        ("MG DIAGNOSTIC LEFT", None, "BI-RADS (R) category 5.", ("BI-RADS", "5")),
        ("US BREAST LEFT", None, "Bi-Rads 3, probably benign.", ("BI-RADS", "3")),
        ("US BREAST LEFT", None, "Category: 4B", ("BI-RADS", "4B")),
        ("MG DIAGNOSTIC", None, "BI-RADS 4 (4A): low suspicion.", ("BI-RADS", "4A")),
        ("MG DIAGNOSTIC", None, "BIRADS-4C.", ("BI-RADS", "4C")),
        (
            "MG DIAGNOSTIC BILATERAL",
            None,
            "Right breast: BI-RADS 1.\nLeft breast: BI-RADS 4.",
            ("BI-RADS", "4"),
        ),
        ("MG DIAGNOSTIC", None, "• Left breast: BI-RADS 4A\n• Right breast: BI-RADS 2", ("BI-RADS", "4A")),
        (
            "MG DIAGNOSTIC",
            None,
            "BI-RADS CATEGORY 4: SUSPICIOUS ABNORMALITY - BIOPSY SHOULD BE CONSIDERED.",
            ("BI-RADS", "4"),
        ),
        ("MRI LIVER", None, "Segment 7 observation with tumor in vein: LR-TIV.", ("LI-RADS", "LR-TIV")),
        ("MRI LIVER", None, "Treated segment 4 lesion: LR-TR viable.", ("LI-RADS", "LR-TR Viable")),
        ("MRI LIVER", None, "Treated lesion: LR-TR non-viable.", ("LI-RADS", "LR-TR Nonviable")),
        ("US PELVIS TRANSVAGINAL", None, "O-RADS US 3: low risk.", ("O-RADS", "3")),
        ("MRI PELVIS W WO", None, "O-RADS MRI 4 left adnexal lesion.", ("O-RADS", "4")),
        ("CCTA", None, "CAD-RADS 4B/N.", ("CAD-RADS", "4B")),
        ("CT NECK W CONTRAST", None, "NI-RADS 2b at the primary site.", ("NI-RADS", "2b")),
        ("LDCT LUNG SCREENING", None, "Lung-RADS 4X.", ("Lung-RADS", "4X")),
        # two systems in one report: the exam's own
        (
            "LDCT LUNG SCREENING",
            None,
            "1. Lung-RADS 2.\n2. Incidental 1.6 cm left thyroid nodule (ACR TI-RADS TR4); "
            "thyroid US recommended.",
            ("Lung-RADS", "2"),
        ),
        (
            None,
            "Findings: 6 mm solid nodule in the right upper lobe. Lungs otherwise clear.\nIncidental 1.2 "
            "cm left "
            "thyroid nodule.",
            "1. Lung-RADS 3.\n2. Thyroid nodule, ACR TI-RADS TR3.",
            ("Lung-RADS", "3"),
        ),
        # the study that led to this one, denied and replaced categories
        (
            "MG DIAGNOSTIC LEFT",
            "This is a callback from screening mammogram assessed as BI-RADS 0.",
            "Benign cyst. BI-RADS 2.",
            ("BI-RADS", "2"),
        ),
        (
            "US BREAST RIGHT",
            "Indication: BI-RADS 0 screening recall for right breast mass.",
            "Simple cyst. BI-RADS 2.",
            ("BI-RADS", "2"),
        ),
        (
            "MG SCREENING",
            None,
            "No suspicious findings to warrant BI-RADS 4 assessment. BI-RADS 1.",
            ("BI-RADS", "1"),
        ),
        ("MG DIAGNOSTIC", None, "BI-RADS 4 is not warranted. BI-RADS 3.", ("BI-RADS", "3")),
        ("MG DIAGNOSTIC", None, "Upgrade to BI-RADS 4 is not necessary; BI-RADS 3.", ("BI-RADS", "3")),
        ("MG DIAGNOSTIC LEFT", None, "Final BI-RADS: 4B. Prior BI-RADS: 3.", ("BI-RADS", "4B")),
        (
            "MG DIAGNOSTIC LEFT",
            None,
            "The preliminary BI-RADS 4A read is superseded: BI-RADS 3.",
            ("BI-RADS", "3"),
        ),
        (
            "LDCT LUNG SCREENING",
            "Comparison: LDCT 2024-05-01 (Lung-RADS 3).",
            "Stable 7 mm nodule. Lung-RADS 2.",
            ("Lung-RADS", "2"),
        ),
        ("MG SCREENING", None, "ACR density category 3. BI-RADS 1.", ("BI-RADS", "1")),
    ],
)
def test_rads_round4(
    procedure: str | None, findings: str | None, impression: str, expected: tuple[str, str]
) -> None:
    assert _rads(_report(impression, findings=findings, procedure=procedure)) == expected


@pytest.mark.parametrize(
    ("procedure", "findings", "impression"),
    [
        # categories only in the history or comparison lines
        (
            "MG DIAGNOSTIC RIGHT",
            "Comparison: Screening mammogram 2025-02-01 (BI-RADS 0).",
            "Spot compression views show no persistent finding.",
        ),
        ("US BREAST LEFT", "Clinical history: BI-RADS 3 mass on 2024-12-01.", "The mass is not seen today."),
        # a denied category only
        ("MG DIAGNOSTIC", None, "No findings to justify BI-RADS 3 or 4."),
        # another system than the exam's (a thyroid TR in a non-screening chest CT)
        (
            "CT CHEST W/O CONTRAST",
            "Incidental left thyroid nodule.",
            "Thyroid nodule TR3 by ultrasound 2023; no follow-up needed.",
        ),
    ],
)
def test_no_rads_label(procedure: str, findings: str | None, impression: str) -> None:
    assert _rads(_report(impression, findings=findings, procedure=procedure)) is None


# ---- TNM -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "n", "m"),
    [
        ("Staging: cT2N1M0.", "N1", "M0"),
        ("T3 N2a M0", "N2", "M0"),
        ("N-stage: N1", "N1", None),
        ("N-Stage: N1. M-Stage: M0.", "N1", "M0"),
        ("No distant metastases (M0).", None, "M0"),
        ("Stage IVB, M1c.", None, "M1"),
        ("Post-neoadjuvant restaging: yN0.", "N0", None),
        ("Recurrent nodal disease in the left neck, rN1.", "N1", None),
        ("rN1 disease.", "N1", None),
        ("cT3cN1cM0", "N1", "M0"),
        ("AJCC 8th: cT4 cN3 cM1.", "N3", "M1"),
        ("TNM: T1b N0 Mx", "N0", None),
        # staging of a cancer treated before: not this study's stage
        ("History of left breast cancer (pT2 pN1a M0, 2016). New 2.1 cm RUL mass.", None, None),
        (
            "Status post right hemicolectomy 2019 for stage III (pT3N1M0) colon cancer. No evidence of "
            "recurrence.",
            None,
            None,
        ),
        ("S/p lumpectomy and radiation for pT1c N0 breast cancer; now new liver lesions.", None, None),
        ("Known rectal adenocarcinoma, cT3 N1 M0 by MRI.", "N1", "M0"),
        # N0 in words
        ("Nodal disease absent.", "N0", None),
        ("Regional nodal disease: absent.", "N0", None),
        ("Lymph nodes: none enlarged.", "N0", None),
        ("Pathologically enlarged nodes: none.", "N0", None),
        ("No pathologic lymphadenopathy in the chest, abdomen or pelvis.", "N0", None),
        ("No evidence of nodal or distant metastatic disease.", "N0", "M0"),
        ("No lymphadenopathy in the neck.", None, None),
        ("Lymph nodes: none enlarged. Enlarged 1.4 cm right hilar node.", None, None),
    ],
)
def test_tnm_round4(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(findings=text)) == (n, m)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the radiologist's leading diagnosis is stated: cM1 (dev-037's label);
        # a confirmation request does not undo it
        (
            "3.1 cm left adrenal mass, most consistent with metastasis. PET/CT and/or adrenal sampling "
            "recommended for "
            "confirmation.",
            "M1",
        ),
        ("Adrenal mass, most consistent with metastasis.", "M1"),
        ("Hepatic lesions are most consistent with metastases; MRI could confirm.", "M1"),
        ("Lytic lesion in the T9 vertebral body compatible with metastasis.", "M1"),
        ("Innumerable hepatic metastases.", "M1"),
        ("Multiple enhancing brain lesions consistent with metastases.", "M1"),
        ("Contralateral right lower lobe nodules consistent with metastases.", "M1"),
        ("Liver metastases. Biopsy recommended to confirm the diagnosis.", "M1"),
        # doubt: AJCC takes the lower category, the rules leave it to the model
        ("Left adrenal nodule, likely metastasis.", None),
        ("Hepatic lesions suggestive of metastases.", None),
        ("Large left adrenal mass, most consistent with adrenal metastasis versus adrenal carcinoma.", None),
        ("Hepatic metastases, to be confirmed by biopsy.", None),
        ("Ipsilateral right lower lobe nodule consistent with metastasis.", None),
        ("Liver metastasis cannot be excluded; M1 not established.", None),
    ],
)
def test_m1_hedging_policy(text: str, expected: str | None) -> None:
    assert _stages(_report(findings=text))[1] == expected


# ---- critical findings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # tension: definite, suspected, denied
        (
            "Moderate right pneumothorax. Tension physiology cannot be excluded given slight leftward "
            "mediastinal shift.",
            [("tension pneumothorax", "uncertain")],
        ),
        ("Right pneumothorax with possible early tension.", [("tension pneumothorax", "uncertain")]),
        ("Large right pneumothorax concerning for tension.", [("tension pneumothorax", "uncertain")]),
        (
            "Right pneumothorax; findings concerning for developing tension.",
            [("tension pneumothorax", "uncertain")],
        ),
        ("Large left pneumothorax without tension physiology.", [("pneumothorax", "definite")]),
        ("Large left pneumothorax. No mediastinal shift to suggest tension.", [("pneumothorax", "definite")]),
        ("Right pneumothorax, no tension.", [("pneumothorax", "definite")]),
        (
            "Small left apical pneumothorax. No mediastinal shift. Hyperinflated lungs with flattened "
            "hemidiaphragms.",
            [("pneumothorax", "definite")],
        ),
        (
            "Left pneumothorax with contralateral mediastinal shift and inversion of the left hemidiaphragm.",
            [("tension pneumothorax", "definite")],
        ),
        ("Tension pneumothorax has been decompressed with a chest tube.", []),
        ("No evidence of tension physiology.", []),
        # lines and tubes
        (
            "Right PICC tip in the right internal jugular vein.",
            [("malpositioned support device", "definite")],
        ),
        (
            "Left PICC courses into the left internal jugular vein.",
            [("malpositioned support device", "definite")],
        ),
        (
            "Left subclavian catheter tip directed cephalad into the left internal jugular vein.",
            [("malpositioned support device", "definite")],
        ),
        (
            "Right arm PICC tip in the right internal jugular vein, directed cephalad.",
            [("malpositioned support device", "definite")],
        ),
        ("Right IJ central venous catheter tip in the SVC.", []),
        ("PICC tip in the SVC.", []),
        ("Left IJ CVC tip in the left brachiocephalic vein.", []),
        ("No pneumothorax after right PICC placement.", []),
        ("ETT in the right mainstem.", [("malpositioned support device", "definite")]),
        ("ET tube tip is low, at the carina.", [("malpositioned support device", "definite")]),
        (
            "Endotracheal tube terminates in the bronchus intermedius.",
            [("malpositioned support device", "definite")],
        ),
        ("Endotracheal tube tip 5 cm above the carina.", []),
        ("Enteric tube coiled in the esophagus.", [("malpositioned support device", "definite")]),
        ("Nasogastric tube tip in the distal esophagus.", [("malpositioned support device", "definite")]),
        ("Enteric tube courses through the esophagus with tip in the stomach.", []),
        ("No malpositioned lines or tubes.", []),
        # acute on chronic, old, treated, expected
        ("Acute on chronic left subdural hematoma.", [("intracranial hemorrhage", "definite")]),
        (
            "Acute-on-chronic right subdural hematoma with 4 mm midline shift.",
            [("intracranial hemorrhage", "definite")],
        ),
        ("Chronic left subdural hematoma, unchanged.", []),
        ("Resolving subarachnoid hemorrhage.", []),
        (
            "Small volume subarachnoid blood in the left frontal sulci.",
            [("intracranial hemorrhage", "definite")],
        ),
        ("Aortic dissection has been repaired.", []),
        ("Redemonstrated small right apical pneumothorax.", []),
        ("Known left pneumothorax, slightly increased in size.", [("pneumothorax", "definite")]),
        ("Known pulmonary emboli, on anticoagulation, decreased clot burden.", []),
        ("Pneumoperitoneum, likely related to recent laparotomy 2 days ago.", []),
        (
            "Large volume pneumoperitoneum, out of proportion to postoperative expectation.",
            [("free air", "definite")],
        ),
        (
            "Extraluminal gas adjacent to the sigmoid colon consistent with perforation.",
            [("free air", "definite")],
        ),
        # PE in other words, negated and hedged
        (
            "Filling defects in the left lower lobe segmental pulmonary arteries consistent with emboli.",
            [("pulmonary embolism", "definite")],
        ),
        (
            "Acute thromboembolism of the right interlobar pulmonary artery.",
            [("pulmonary embolism", "definite")],
        ),
        ("No filling defects in the pulmonary arteries.", []),
        ("History of venous thromboembolism.\nNo acute PE.", []),
        (
            "Small subsegmental pulmonary embolism cannot be excluded due to motion.",
            [("pulmonary embolism", "uncertain")],
        ),
        ("No central pulmonary embolism. Evaluation of the subsegmental arteries is limited by motion.", []),
        ("Pulmonary embolism is not identified.", []),
    ],
)
def test_critical_round4(text: str, expected: list[tuple[str, str]]) -> None:
    assert _critical(_report(findings=text)) == expected


def test_a_suspected_tension_keeps_the_pneumothorax_and_the_doubt_as_evidence() -> None:
    text = (
        "Moderate right pneumothorax. Tension physiology cannot be excluded given slight leftward "
        "mediastinal shift."
    )
    (finding,) = ENGINE.critical(_report(findings=text))
    assert [e.sentence for e in finding.evidence] == [
        "Moderate right pneumothorax.",
        "Tension physiology cannot be excluded given slight leftward mediastinal shift.",
    ]


# ---- CheXpert ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ("Cardiomegaly, likely.", {"cardiomegaly": "uncertain"}),
        ("Pneumonia not excluded.", {"pneumonia": "uncertain"}),
        ("Mild enlargement of the cardiac silhouette.", {"cardiomegaly": "positive"}),
        ("Heart size at the upper limits of normal.", {"cardiomegaly": "negative"}),
        ("Heart is top normal in size.", {"cardiomegaly": "negative"}),
        ("Cardiac silhouette is normal.", {"cardiomegaly": "negative"}),
        ("Support lines in stable position.", {"support devices": "positive"}),
        (
            "Heart: Normal size.\nMediastinum: Normal.\nLungs: Clear.\nPleura: No effusion or "
            "pneumothorax.\nBones: No acute "
            "fracture.",
            {
                "cardiomegaly": "negative",
                "enlarged cardiomediastinum": "negative",
                "fracture": "negative",
                "lung opacity": "negative",
                "pleural effusion": "negative",
                "pneumothorax": "negative",
            },
        ),
        (
            "Cardiomediastinal silhouette: Within normal limits.\nLungs: Mild bibasilar atelectasis.",
            {"atelectasis": "positive", "cardiomegaly": "negative", "enlarged cardiomediastinum": "negative"},
        ),
        (
            "HEART AND MEDIASTINUM: STABLE MILD CARDIOMEGALY.\nLUNGS: NO FOCAL CONSOLIDATION.",
            {"cardiomegaly": "positive", "consolidation": "negative"},
        ),
        (
            "- No pneumothorax.\n- Small left effusion.\n- Left basilar atelectasis.",
            {"atelectasis": "positive", "pleural effusion": "positive", "pneumothorax": "negative"},
        ),
        ("Findings suggestive of mild pulmonary edema.", {"edema": "uncertain"}),
        (
            "Left lower lobe opacity worrisome for pneumonia.",
            {"lung opacity": "positive", "pneumonia": "uncertain"},
        ),
        (
            "Opacity in the right lower lobe suspicious for pneumonia in the appropriate clinical setting.",
            {"lung opacity": "positive", "pneumonia": "uncertain"},
        ),
        ("Probable RLL pneumonia.", {"pneumonia": "uncertain"}),
        ("Resolved right lower lobe pneumonia.", {"pneumonia": "negative"}),
        ("Decreased left pleural effusion.", {"pleural effusion": "positive"}),
        ("New left lower lobe consolidation.", {"consolidation": "positive", "lung opacity": "positive"}),
        ("Previously seen right effusion has resolved; no new effusion.", {"pleural effusion": "negative"}),
        (
            "There is no evidence of pneumonia, effusion, or pneumothorax.",
            {"pleural effusion": "negative", "pneumonia": "negative", "pneumothorax": "negative"},
        ),
        ("Right lung without consolidation.", {"consolidation": "negative"}),
    ],
)
def test_chexpert_round4(findings: str, expected: dict[str, str]) -> None:
    assert _chexpert(_report(findings=findings, modality="DX")) == expected


# ---- follow-ups -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Recommend follow-up ultrasound in three to six months.", [("follow-up ultrasound", "P3M")]),
        ("6 month follow up diagnostic mammogram.", [("follow up diagnostic mammogram", "P6M")]),
        ("Recommend MRI in a year.", [("MRI", "P1Y")]),
        ("Recommend follow-up chest CT in 3 wks.", [("follow-up chest CT", "P3W")]),
        ("Follow-up in nine months is suggested.", [(None, "P9M")]),
        ("Recommend follow up CT chest in three (3) months.", [("follow up CT chest", "P3M")]),
        ("One-year follow-up LDCT recommended.", [("follow-up LDCT", "P1Y")]),
        ("Recommend return to routine screening in one year.", [("routine screening", "P1Y")]),
        ("Recommend yearly screening mammography.", [("screening mammography", "P1Y")]),
        ("Recommendation: follow-up MRI in 6-12 months.", [("follow-up MRI", "P6M")]),
        (
            "Follow-up chest radiograph in 6-8 weeks to document resolution.",
            [("Follow-up chest radiograph", "P6W")],
        ),
        ("Recommend follow-up in eighteen months.", [(None, "P18M")]),
        ("Recommend CT in 5 months.", [("CT", "P5M")]),
        ("Follow-up not required.", []),
    ],
)
def test_follow_ups_round4(text: str, expected: list[tuple[str | None, str | None]]) -> None:
    assert [(f.procedure, f.interval) for f in ENGINE.follow_ups(_report(findings=text))] == expected


# ---- laterality ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        (None, "Right greater than left pleural effusions.", "bilateral"),
        (None, "R>L pleural effusions.", "bilateral"),
        (None, "Left more than right basilar opacities.", "bilateral"),
        (None, "Left-sided pleural effusion.", "left"),
        (None, "Rt lower lobe pneumonia.", "right"),
        (None, "Lt. breast mass at 2 o'clock.", "left"),
        (None, "R apical pneumothorax.", "right"),
        (None, "L pleural effusion.", "left"),
        ("US SCROTUM", "Torsion of the L testis.", "left"),
        (None, "Fracture of the L2 vertebral body.", None),
        # devices do not set laterality, wherever they lie; the finding next to them does
        (None, "ETT tip in the right mainstem bronchus; recommend withdrawal 2 cm.", None),
        (None, "ETT tip in the right mainstem bronchus with resultant left lung collapse.", "left"),
        (None, "Right PICC tip in the right internal jugular vein.", None),
        (None, "Swan-Ganz catheter tip in the right interlobar pulmonary artery.", None),
        (None, "Left chest tube in place. Small residual left apical pneumothorax.", "left"),
        # a side that belongs to a secondary finding of a midline lesion
        (None, "Sigmoid colon mass with left para-aortic adenopathy.", None),
        (None, "Free air under the right hemidiaphragm.", None),
        (None, "Acute type B aortic dissection extending into the left common iliac artery.", None),
        ("MRI BLADDER", "Bladder tumor along the left lateral wall.", "left"),
        # per-breast categories: the side of the category that sets the label
        ("MG DIAGNOSTIC BILATERAL", "Right breast: BI-RADS 1. Left breast: BI-RADS 4.", "left"),
        # no side in the text: the unilateral exam's side, never for normal studies or quadrants
        ("MG DIAGNOSTIC LEFT", "Suspicious mass. BI-RADS 4B.", "left"),
        ("US BREAST RT LIMITED", "Benign-appearing cyst. BI-RADS 2.", "right"),
        ("MG DIAGNOSTIC RIGHT", "No mammographic evidence of malignancy. BI-RADS 1.", None),
        ("US RIGHT UPPER QUADRANT", "Cholelithiasis without cholecystitis.", None),
        ("MG DIAGNOSTIC BILATERAL", "Suspicious calcifications. BI-RADS 4B.", None),
    ],
)
def test_laterality_round4(procedure: str | None, impression: str, expected: str | None) -> None:
    assert ENGINE.laterality(_report(impression, findings="See impression.", procedure=procedure)) == expected


def test_a_malpositioned_tube_is_critical_but_sets_no_side() -> None:
    report = _report(
        "Endotracheal tube tip in the right mainstem bronchus. Recommend withdrawal by 2 cm.",
        findings="Lungs clear. No pneumothorax.",
        modality="CR",
    )
    facts = ENGINE.facts(report)
    assert [c.term for c in facts.critical] == ["malpositioned support device"]
    assert facts.laterality is None


# ---- second batch: staging templates, side corrections -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "n", "m"),
    [
        ("Regional lymph nodes (N): N1", "N1", None),
        # a template's field name is no statement of metastasis: the M0 after it stands
        ("Distant metastasis (M): M0", None, "M0"),
        ("Primary tumor (T): T2\nRegional lymph nodes (N): N2\nDistant metastasis (M): M1b", "N2", "M1"),
        ("Metastases (M): M1c (brain).", None, "M1"),
        ("Metastatic disease: multiple hepatic lesions.", None, "M1"),
        ("Clinical N stage: N2", "N2", None),
        ("M status: M0", None, "M0"),
        ("Stage IIIB (T3 N2 M0)", "N2", "M0"),
        ("Suspected N2 disease.", None, None),
        ("ycT2 ycN1 cM0 after neoadjuvant chemotherapy.", "N1", "M0"),
        ("Prior staging cT3N2M0; now ycT1N0.", "N0", None),
    ],
)
def test_staging_templates(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(findings=text)) == (n, m)


@pytest.mark.parametrize(
    ("procedure", "impression", "addendum", "expected"),
    [
        (
            "MG DIAGNOSTIC",
            "Right breast mass at 10:00. BI-RADS 4A.",
            "Correction: the mass is in the LEFT breast, not the right. The assessment is unchanged.",
            "left",
        ),
        (
            "US BREAST",
            "Right breast 2:00 mass, BI-RADS 4B.",
            "The impression should read left breast rather than right breast.",
            "left",
        ),
        (
            "XR CHEST",
            "Left lower lobe pneumonia.",
            "Correction: the pneumonia is in the right lower lobe; the left lung is clear.",
            "right",
        ),
        ("XR CHEST", "Right pneumothorax.", "Discussed with Dr. Synth at 10:00.", "right"),
    ],
)
def test_an_addendum_that_corrects_the_side_wins(
    procedure: str, impression: str, addendum: str, expected: str
) -> None:
    assert (
        ENGINE.laterality(
            _report(impression, findings="See impression.", procedure=procedure, addendum=addendum)
        )
        == expected
    )


@pytest.mark.parametrize(
    ("procedure", "findings", "impression", "expected"),
    [
        (
            "MG DIAGNOSTIC",
            "The patient was recalled for a BI-RADS 0 screening finding in the left breast.",
            "No persistent finding. BI-RADS 1.",
            ("BI-RADS", "1"),
        ),
        (
            "MG SCREENING BILATERAL",
            None,
            "Initial screening mammogram with BI-RADS 1 assessment.",
            ("BI-RADS", "1"),
        ),
        (
            "US BREAST",
            None,
            "Mass previously assessed as BI-RADS 4A, biopsied with benign concordant pathology "
            "(fibroadenoma). BI-RADS 2.",
            ("BI-RADS", "2"),
        ),
        (
            "CT NECK",
            None,
            "Primary: NI-RADS 2a. Neck: NI-RADS 3 (new necrotic level III node).",
            ("NI-RADS", "3"),
        ),
        (
            "CT CHEST LOW DOSE SCREENING",
            None,
            "Lung-RADS Category 3S (S: aortic aneurysm 4.6 cm).",
            ("Lung-RADS", "3"),
        ),
    ],
)
def test_rads_third_batch(
    procedure: str, findings: str | None, impression: str, expected: tuple[str, str]
) -> None:
    assert _rads(_report(impression, findings=findings, procedure=procedure)) == expected


_ORU = (
    "MSH|^~\\&|SYN_RIS|SYNTH|RADLITE|RADLITE_CDS|20250701101500||ORU^R01^ORU_R01|SYNR4ADD01|P|2.5.1\r"
    "PID|1||SYN-R4-0001^^^SYNTH^MR||ZZTEST^ROUND^^^^^L||19700101|F\r"
    "OBR|1|SYN-R4-ORD1|SYN-R4-ACC1|77067^SCREENING MAMMOGRAPHY BILATERAL^C4|||20250701090000|||||||||||||||"
    "20250701101500||RAD|F\r"
    "OBX|1|TX|18782-3^Radiology Study observation (narrative)^LN|1|No suspicious mass or "
    "calcifications.||||||F\r"
    "OBX|2|TX|19005-8^Radiology Imaging study [Impression] (narrative)^LN|2|BI-RADS 1: Negative.||||||F\r"
    "OBX|3|TX|19005-8^Radiology Imaging study [Impression] (narrative)^LN|2|ADDENDUM #1:||||||F\r"
    "OBX|4|TX|19005-8^Radiology Imaging study [Impression] (narrative)^LN|2|On review with the outside "
    "2022 exam, a new "
    "left breast focal asymmetry needs additional imaging. Revised: BI-RADS 0.||||||F\r"
)


def test_an_hl7_addendum_revises_category_and_gives_the_side() -> None:
    from adapters.hl7.oru_in import parse_oru

    (report,) = parse_oru(_ORU.encode()).reports
    assert report.addendum is not None and report.addendum.startswith("On review")
    assert _rads(report) == ("BI-RADS", "0")
    assert ENGINE.laterality(report) == "left"


def test_an_administrative_addendum_changes_nothing() -> None:
    report = _report(
        "Suspicious mass. BI-RADS 4B.",
        findings="Irregular mass.",
        procedure="MG DIAGNOSTIC LEFT",
        addendum="Findings discussed with Dr. Synth by telephone at 14:10.",
    )
    assert (_rads(report), ENGINE.laterality(report)) == (("BI-RADS", "4B"), "left")


@pytest.mark.parametrize(
    ("procedure", "impression", "expected"),
    [
        (
            "LDCT LUNG SCREENING",
            "The 2024 study was categorized Lung-RADS 3. The nodule is now 9 mm with a new solid "
            "component. Lung-RADS 4B.",
            ("Lung-RADS", "4B"),
        ),
        ("MG DIAGNOSTIC", "This exam is categorized as BI-RADS 4.", ("BI-RADS", "4")),
        ("MG DIAGNOSTIC", "Study assessed as BI-RADS 3 today.", ("BI-RADS", "3")),
        (
            "LDCT LUNG SCREENING",
            "Compared with the 2024 study (Lung-RADS 3), the nodule has grown to 9 mm.",
            None,
        ),
    ],
)
def test_past_and_present_assessments(
    procedure: str, impression: str, expected: tuple[str, str] | None
) -> None:
    assert _rads(_report(impression, procedure=procedure)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Small right pneumothorax following CT-guided lung biopsy.", [("pneumothorax", "definite")]),
        ("Free air after laparoscopy yesterday, expected.", []),
        (
            "Stanford type A aortic dissection extending from the aortic root to the left common iliac "
            "artery.",
            [("aortic dissection", "definite")],
        ),
    ],
)
def test_procedure_words_only_cover_operations(text: str, expected: list[tuple[str, str]]) -> None:
    assert _critical(_report(findings=text)) == expected


@pytest.mark.parametrize(
    "heading",
    [
        "Impression/Recommendations:",
        "IMPRESSION & RECOMMENDATION:",
        "Conclusions and recommendations:",
        "OPINION:",
        "Summary:",
        "FINAL IMPRESSION:",
    ],
)
def test_combined_and_other_impression_headings(heading: str) -> None:
    report = report_from_text(
        f"EXAM: US BREAST LEFT\nFINDINGS:\nIrregular mass at 3 o'clock.\n{heading}\n"
        "Suspicious mass. BI-RADS 4C. Recommend ultrasound-guided biopsy.\n"
    )
    assert report.impression == "Suspicious mass. BI-RADS 4C. Recommend ultrasound-guided biopsy."
    assert (_rads(report), ENGINE.laterality(report)) == (("BI-RADS", "4C"), "left")


@pytest.mark.parametrize(
    ("impression", "expected"),
    [
        ("Mild cardiac enlargement and left pleural effusion.", "left"),
        ("Pancreatic head mass with left adrenal nodule.", None),
        ("Hepatic segment 7 mass and right pleural effusion.", None),
    ],
)
def test_midline_lesions_next_to_sided_findings(impression: str, expected: str | None) -> None:
    assert ENGINE.laterality(_report(impression, findings="See impression.")) == expected
