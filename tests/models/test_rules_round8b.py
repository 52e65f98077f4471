"""Rules engine, round 8b: prior-study cues shared by every reader, list denials, "now" revisions, retracted critical
results and clinical correlation.

The cues that only the RADS reader knew now live in context.mention_context, so the TNM (N/M) reader reads them too: a
bare "(prior)" bracket after a stage, a slash date after it ("on the 3/1/2025 CT"), "at baseline", and a label naming
an earlier study ("Last year: T2 N2 M0"); a current stage "as on the prior" is today's. A list denial covers every
spelling of a system name ("No BIRADS-4, BIRADS-5 or BIRADS-6 lesion"). An earlier study's category followed by
"now 3" is revised to the 3. A critical finding its sentence or the next takes back ("however, on further review there
is no pneumothorax") is not reported, while a denial of another side or kind leaves it. "Suggest clinical
correlation" is no follow-up recommendation unless a study or procedure is named. Everything runs the real engine.
"""

from __future__ import annotations

import pytest
from rules_probe import ENGINE
from rules_probe import critical as _critical
from rules_probe import rads as _rads
from rules_probe import report as _report
from rules_probe import stages as _stages

from models.rules.context import mention_context

CT = "CT CHEST ABDOMEN PELVIS W CONTRAST"
MG, LD, MRL, UST, MRP, USP = ("MG DIAGNOSTIC BILATERAL", "LDCT LUNG SCREENING", "MRI LIVER W WO", "US THYROID",
                              "MRI PROSTATE W WO", "US PELVIS TRANSVAGINAL")
B, L, LI, T, P, OR = "BI-RADS", "Lung-RADS", "LI-RADS", "TI-RADS", "PI-RADS", "O-RADS"

# ---- N/M stages: the shared prior-study cues --------------------------------------------------------------------

_STAGES = [
    # a bare "(prior)" bracket after the stage: the earlier study's
    ("Lung cancer. cN1 (prior). cM0.", None, "M0"),
    ("Right upper lobe adenocarcinoma, T2 N1 M0 (prior).", None, None),
    ("Right upper lobe adenocarcinoma, T2 N2 M0 (prior), now T2 N1 M0.", "N1", "M0"),
    ("Breast cancer. cN1 (previously), now ycN0.", "N0", None),
    ("Rectal adenocarcinoma, mrT3c mrN1 (baseline). Today: ymrT2 ymrN0.", "N0", None),
    ("Lung cancer, T2 N2 M0 (outside).", None, None),
    # ... but a bracket that only starts with the word is no source ("prior biopsy site clip")
    ("Lung cancer, T2 N2 M0 (prior biopsy site clip noted).", "N2", "M0"),
    # "as on the prior": today's stage, the prior's the same
    ("Right upper lobe adenocarcinoma, T2 N2 M0, as on the prior.", "N2", "M0"),
    ("Pancreatic cancer: T3 N1 M0, same as previous.", "N1", "M0"),
    ("No distant metastases, M0, as on the prior CT.", None, "M0"),
    ("Colon cancer, T4a N1b M0, similar to prior study.", "N1", "M0"),
    # ... while "on the prior" alone dates it
    ("Colon cancer, T4a N1b M0 on the prior.", None, None),
    # a slash date right after the stage
    ("cT2 cN2 cM0 on the 3/1/2025 CT.", None, None),
    ("Esophageal cancer, uT3 uN1 on the 02/14/2025 EUS; now ycN0.", "N0", None),
    ("Head and neck SCC, staged T2 N2b M0 on 1/5/2024.", None, None),
    ("Gastric cancer, cT3 cN1 cM0 dated 11/20/2024; restaging today shows ycN0, cM0.", "N0", "M0"),
    # "at baseline"
    ("Rectal cancer, mrT3 mrN2 at baseline; now ymrT2 ymrN0.", "N0", None),
    ("cT2 cN1 cM0 at baseline.", None, None),
    ("Lung adenocarcinoma, cT2a cN0 cM0 at baseline, now with new hepatic metastases, M1c.", None, "M1"),
    ("Rectal cancer, staged T3 N1 M0 at this baseline study.", "N1", "M0"),
    ("Rectal cancer, T3 N1 M0, unchanged from baseline.", "N1", "M0"),
    ("Hepatic metastases, new from baseline, M1.", None, "M1"),
    ("Pancreatic cancer, T3 N1 M0, increased from baseline.", "N1", "M0"),
    # a label naming an earlier study
    ("Last year: T2 N2 M0. This year: T2 N1 M0.", "N1", "M0"),
    ("Comparison made. Last exam: cN2, cM1. Current: cN3, cM0.", "N3", "M0"),
    ("Last year: cN2, now ycN1.", "N1", None),
    ("Previous study: T3 N2 M0\nCurrent: ypT2 ypN1 M0", "N1", "M0"),
    ("Initial staging: cT3, cN2, cM0.", "N2", "M0"),
]


@pytest.mark.parametrize(("text", "n", "m"), _STAGES)
def test_stages_read_the_shared_prior_cues(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, findings="See impression.", procedure=CT)) == (n, m)


def test_one_context_for_every_reader() -> None:
    # the same cue, one answer, whichever reader asks
    for text, cue in [("N1 (prior).", "N1"), ("BI-RADS 3 (prior).", "BI-RADS 3"), ("cN2 on the 3/1/2025 CT.", "cN2"),
                      ("Last year: BI-RADS 4A.", "BI-RADS 4A"), ("Last year: cN2.", "cN2"),
                      ("Lung-RADS 4A at baseline.", "Lung-RADS 4A"), ("cN2 at baseline.", "cN2")]:
        start = text.index(cue)
        assert mention_context(text, start, start + len(cue))[0], text
    for text, cue in [("M0, as on the prior.", "M0"), ("BI-RADS 2, as on the prior.", "BI-RADS 2"),
                      ("Lung-RADS 2, unchanged from baseline.", "Lung-RADS 2"), ("This year: cN1.", "cN1")]:
        start = text.index(cue)
        assert not mention_context(text, start, start + len(cue))[0], text


# ---- RADS: the moved cues read as before, list denials, "now" revisions ------------------------------------------

_RADS = [
    # the moved cues: the RADS reader reads them as in round 8
    (USP, "O-RADS US 4 on the 3/1/2025 ultrasound. Today: O-RADS US 3.", (OR, "3")),
    (MG, "BI-RADS 3 (prior), now BI-RADS 2.", (B, "2")),
    (MG, "Last year: BI-RADS 4A, biopsy benign. This year: BI-RADS 2.", (B, "2")),
    (LD, "Lung-RADS 4A at baseline; now Lung-RADS 3.", (L, "3")),
    (MG, "BI-RADS 2, as on the prior.", (B, "2")),
    (MRL, "LR-3, same as previous.", (LI, "LR-3")),
    (MG, "BI-RADS 4A on the 01/15/2025 mammogram.", None),
    # a current category the baseline shared is today's
    (LD, "Lung-RADS 2, unchanged from baseline.", (L, "2")),
    (LD, "Lung-RADS 4B, increased from baseline.", (L, "4B")),
    # a list denial covers every spelling of the system name
    (MG, "No BIRADS-4, BIRADS-5 or BIRADS-6 lesion. BI-RADS 2.", (B, "2")),
    (MG, "No BIRADS4 or 5 lesion. BI-RADS 2.", (B, "2")),
    (MG, "No BI-RAD 4, BI-RAD 5 or BI-RAD 6 finding. BI-RADS 3.", (B, "3")),
    (MRP, "No PIRADS-4, PIRADS-5 or 3 lesion elsewhere. PI-RADS 2.", (P, "2")),
    (MG, "No BIRADS4 or 5 lesion.", None),
    # "now 3" after an earlier study's category revises it
    (LD, "Lung-RADS 4A at baseline; now 3.", (L, "3")),
    (LD, "Lung-RADS 4A at baseline; now 3S.", (L, "3")),
    (MG, "BI-RADS 3 (prior), now 2.", (B, "2")),
    (MRL, "LR-3 on the prior MRI; currently 4.", (LI, "LR-4")),
    (UST, "Nodule previously TR4 on 2023 study, now TR3.", (T, "TR3")),
    (MRP, "PI-RADS 3 on the 3/1/2025 MRI; now 4.", (P, "4")),
    (LD, "Lung-RADS 4A at baseline; now 3 mm smaller.", None),
    (LD, "Lung-RADS 3 at baseline, now 4A if it grows.", None),
]


@pytest.mark.parametrize(("procedure", "impression", "expected"), _RADS)
def test_rads_context(procedure: str, impression: str, expected: tuple[str, str] | None) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


def test_now_revision_keeps_its_own_modifier() -> None:
    got = ENGINE.rads(_report("Lung-RADS 4A at baseline; now 3S.", findings="See impression.", procedure=LD))
    assert got is not None and got.value.modifiers == ("S",)  # type: ignore[union-attr]


# ---- critical results taken back ----------------------------------------------------------------------------------

_CRITICAL = [
    ("Findings of pneumothorax were discussed with Dr X; however, on further review there is no pneumothorax.", []),
    ("Pneumothorax was called to Dr Smith at 10:05. On further review, there is no pneumothorax; the apical line is a "
     "skin fold.", []),
    ("Pneumothorax was reported on the preliminary read. In retrospect, no pneumothorax is present.", []),
    ("Possible free air under the diaphragm. On review of the decubitus view, there is no free air.", []),
    ("Free air was initially suspected; however, on the decubitus view there is no free air.", []),
    ("Pulmonary embolism was suggested on the preliminary interpretation; on re-review there is no pulmonary embolism.",
     []),
    # a denial of another side, kind or a hedged one takes nothing back
    ("Small left pneumothorax. However, no right pneumothorax.", [("pneumothorax", "definite")]),
    ("Right pneumothorax, small. On further review, no left pneumothorax.", [("pneumothorax", "definite")]),
    ("Left pneumothorax. However, no tension pneumothorax.", [("pneumothorax", "definite")]),
    ("Pneumoperitoneum with free air. However, no new free air compared with yesterday.", [("free air", "definite")]),
    ("Small right pneumothorax; however, there is no definite pneumothorax on the expiratory view.",
     [("pneumothorax", "definite")]),
    ("Acute PE in the right lower lobe pulmonary artery. However, no saddle embolus.", [("pulmonary embolism", "definite")]),
    ("Left pneumothorax was suspected. Correction: there is no pneumothorax.", []),
    # ... nor one narrowed to a place or a view after it
    ("Tiny right pneumothorax. However, no pneumothorax is seen on the lateral view.", [("pneumothorax", "definite")]),
    ("Free air under the right hemidiaphragm. However, no free air at the left base.", [("free air", "definite")]),
    # a later denial without a retraction cue is no retraction
    ("Right pneumothorax. Follow-up shows no pneumothorax after chest tube placement.", [("pneumothorax", "definite")]),
    # a denial two sentences on is too far to take it back
    ("Left apical pneumothorax. Lines and tubes unchanged. However, no pneumothorax on the right.",
     [("pneumothorax", "definite")]),
]


@pytest.mark.parametrize(("findings", "expected"), _CRITICAL)
def test_critical_retraction(findings: str, expected: list[tuple[str, str]]) -> None:
    assert _critical(_report(findings=findings, procedure="XR CHEST PORTABLE")) == expected


# ---- follow-up: clinical correlation alone is none ----------------------------------------------------------------

_FOLLOW_UPS = [
    ("Suggest clinical correlation.", []),
    ("Clinical correlation is recommended.", []),
    ("Recommend correlation with liver function tests.", []),
    ("Suggest correlation with physical examination.", []),
    ("Recommend clinical and laboratory correlation for infection.", []),
    ("Consider clinical correlation for symptoms of cholecystitis.", []),
    ("Suggest clinical correlation and ultrasound if palpable.", [("ultrasound", None)]),
    ("Recommend clinical correlation and follow-up chest radiograph in 6 weeks to document resolution.",
     [("follow-up chest radiograph", "P6W")]),
    ("Suggest correlation with outside mammograms.", [("mammograms", None)]),
    ("Clinical correlation advised; consider colonoscopy.", [("colonoscopy", None)]),
    ("Correlate clinically. Recommend follow-up CT in 3 months.", [("follow-up CT", "P3M")]),
    ("Suggest correlation with AFP in 3 months.", [(None, "P3M")]),
    ("Recommend clinical correlation and follow-up.", [(None, None)]),
]


@pytest.mark.parametrize(("text", "expected"), _FOLLOW_UPS)
def test_clinical_correlation_is_no_follow_up(text: str, expected: list[tuple[str | None, str | None]]) -> None:
    assert [(f.procedure, f.interval) for f in ENGINE.follow_ups(_report(findings=text))] == expected
