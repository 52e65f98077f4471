"""Rules engine, round 7b: stated values the engine missed or misread in round 7.

TNM template fields written with bare digits ("T: 3  N: 1  M: 0", "T3, N: 1, M: 0") are read when the fields
stand together as a staging string, never a lone "N: 1 lesion"; an M stated after two N stages offered as
alternatives ("T3 cN1-2 M0", "T2 N2 or N3, M0") is read although the N is not. Two RADS categories offered as
alternatives ("PI-RADS 4 versus 5", "BI-RADS 4A/4B") state none, while modifiers after a slash ("CAD-RADS
4A/P2", "Lung-RADS 4X/S"), an interval after a dash and a revision are no alternatives. Everything runs the
real engine on the text.
"""

from __future__ import annotations

import pytest
from rules_probe import ENGINE
from rules_probe import rads as _rads
from rules_probe import report as _report
from rules_probe import stages as _stages

# ---- TNM: template fields with bare digits ---------------------------------------------------------------------

_FIELDS = [
    ("T: 3  N: 1  M: 0", "N1", "M0"),
    ("T3, N: 1, M: 0", "N1", "M0"),
    ("Clinical staging (AJCC 8th):\nT: 3\nN: 2\nM: 1", "N2", "M1"),
    ("Esophageal adenocarcinoma. T: 3, N: 2, M: 1a.", "N2", "M1"),
    ("T: 2 / N: 1 / M: 0", "N1", "M0"),
    ("Staging template - T: 2, N: 0 (0/14), M: 0", "N0", "M0"),
    ("N: 1, M: 0", "N1", "M0"),
    ("T: 3 N: X M: 0", None, "M0"),
    # an N field offering two stages: the N is not stated, the M after it is
    ("T: 3 N: 1-2 M: 0", None, "M0"),
    # a lone "N:" field is a count or a label, not a stage
    ("Liver lesions. N: 1 lesion in segment 4, 1.2 cm.", None, None),
    ("Pulmonary nodules, N: 2 (right upper lobe and lingula).", None, None),
    ("T: 3 N: 1 lesion", None, None),
    # the usual cues still apply to the fields
    ("History of breast cancer, T: 2 N: 0 M: 0, treated with lumpectomy in 2015.", None, None),
    ("T: 3 N: 1 M: 0 per outside report.", None, None),
    ("Suspected T: 3 N: 1 M: 0.", None, None),
    ("T: 3 N: 1 M: 0 (possible)", None, None),
    # a hedge right after one field is that field's own
    ("T: 3, N: 1 (possible), M: 0", None, "M0"),
]


@pytest.mark.parametrize(("text", "n", "m"), _FIELDS)
def test_tnm_template_fields_with_bare_digits(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, findings="See impression.")) == (n, m)


# ---- TNM: the M after two N stages offered as alternatives ------------------------------------------------------

_M_AFTER_ALTERNATIVE_N = [
    ("Rectal cancer, T3 cN1-2 M0.", None, "M0"),
    ("T2 N2 or N3, M0.", None, "M0"),
    ("Pancreatic head adenocarcinoma, cT3 cN1/2 cM0.", None, "M0"),
    ("Gastric cancer: T4a N1 or 2 M0.", None, "M0"),
    ("Sigmoid carcinoma, T3 N1-2 M1 (multiple hepatic metastases).", None, "M1"),
    # a count of nodes after a dash is no alternative: the N stands
    ("Pathologic stage pT3 pN1 - 2 of 15 nodes positive; cM0.", "N1", "M0"),
    # "versus" is a hedge, not a range: nothing in the string is read
    ("T2 N1 vs N2 M0", None, None),
]


@pytest.mark.parametrize(("text", "n", "m"), _M_AFTER_ALTERNATIVE_N)
def test_m_stated_after_an_alternative_n(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, findings="See impression.")) == (n, m)


# ---- RADS: two categories offered as alternatives state none ---------------------------------------------------

_ALTERNATIVES = [
    ("MRI PROSTATE W WO", "Left peripheral zone lesion, PI-RADS 4 versus 5. Targeted biopsy recommended."),
    ("MG DIAGNOSTIC LEFT", "Developing asymmetry, BI-RADS 3 versus 4A. Recommend ultrasound correlation."),
    ("MG DIAGNOSTIC", "BI-RADS 3 vs 4."),
    ("US BREAST LEFT", "Irregular hypoechoic mass at 10:00, BI-RADS 4A/4B. US-guided core biopsy recommended."),
    ("MG DIAGNOSTIC", "BI-RADS 3 vs. BI-RADS 4A; short-interval follow-up or biopsy."),
    ("MG DIAGNOSTIC", "BI-RADS 4A or 4B. Biopsy recommended."),
    ("MRI LIVER W WO", "Segment 8 observation, LR-4 vs LR-5."),
    ("MRI LIVER W WO", "LI-RADS 4 or LR-5 observation in segment 6."),
    ("LDCT LUNG SCREENING", "Part-solid nodule RUL, Lung-RADS 4A vs 4B depending on the solid component."),
    ("US THYROID", "Right lobe nodule, TR3/TR4."),
    ("US PELVIS TRANSVAGINAL", "Left adnexal lesion, O-RADS US 3 or 4."),
    ("CCTA", "Severe proximal LAD stenosis, CAD-RADS 4A/4B."),
    # a bare category after "Category" / "Assessment"
    ("MG DIAGNOSTIC", "Assessment: Category 3 vs 4."),
    # the other side's lower category is not the report's assessment
    ("MRI BREAST BILATERAL", "Right breast: BI-RADS 3 versus 4A. Left breast: BI-RADS 2."),
    # a RADS column of a table
    ("MG DIAGNOSTIC", "| Lesion | BI-RADS |\n|---|---|\n| Left 2:00 | 3 vs 4 |"),
]


@pytest.mark.parametrize(("procedure", "impression"), _ALTERNATIVES)
def test_two_categories_offered_state_none(procedure: str, impression: str) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) is None


def test_an_addendum_offering_two_categories_revises_the_body() -> None:
    got = _report("BI-RADS 0: incomplete.", findings="See impression.", procedure="MG DIAGNOSTIC",
                  addendum="Additional views performed. BI-RADS 4A vs 4B.")
    assert _rads(got) is None


# ---- RADS: what is not an alternative -------------------------------------------------------------------------

_NOT_ALTERNATIVES = [
    # a more severe category elsewhere is the assessment either way, and an explicit overall one stands
    ("MRI BREAST BILATERAL", "Right breast: BI-RADS 3 versus 4A. Left breast: BI-RADS 5.", ("BI-RADS", "5")),
    ("MG DIAGNOSTIC", "Left breast: BI-RADS 4A vs 4B. Overall BI-RADS 4B.", ("BI-RADS", "4B")),
    # modifiers after a slash
    ("CCTA", "CAD-RADS 4A/P2/HRP", ("CAD-RADS", "4A")),
    ("LDCT LUNG SCREENING", "Lung-RADS 4X/S (emphysema).", ("Lung-RADS", "4X")),
    # an interval after a dash or a slash
    ("MG DIAGNOSTIC", "BI-RADS 3 - 6 month follow-up recommended.", ("BI-RADS", "3")),
    ("MG DIAGNOSTIC", "BI-RADS 3/6 month follow-up.", ("BI-RADS", "3")),
    # a score out of the top of its scale
    ("MRI PROSTATE W WO", "Right apex lesion, PI-RADS 4/5.", ("PI-RADS", "4")),
    # a revision
    ("MG DIAGNOSTIC", "Previously BI-RADS 3; now BI-RADS 4A.", ("BI-RADS", "4A")),
    ("MG DIAGNOSTIC", "BI-RADS 3, upgraded to 4A given interval growth.", ("BI-RADS", "4A")),
    # a denied or supposed pair, or a prior study's, is no statement and leaves the current category
    ("MG DIAGNOSTIC", "No BI-RADS 4 or 5 findings. BI-RADS 2.", ("BI-RADS", "2")),
    ("MG DIAGNOSTIC", "BI-RADS 3 or 4 would be assigned if the asymmetry persists. BI-RADS 0.", ("BI-RADS", "0")),
    ("MRI LIVER W WO", "LR-4 versus LR-5 on the prior MRI; now LR-5.", ("LI-RADS", "LR-5")),
    ("MG DIAGNOSTIC", "Compared with the prior BI-RADS 3 vs 4 assessment, now stable. BI-RADS 2.", ("BI-RADS", "2")),
    # a score per site
    ("CT NECK W CONTRAST", "NI-RADS: 1 (primary), 2 (neck)", ("NI-RADS", "2")),
]


@pytest.mark.parametrize(("procedure", "impression", "expected"), _NOT_ALTERNATIVES)
def test_not_an_alternative(procedure: str, impression: str, expected: tuple[str, str]) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


def test_an_addendum_settles_the_alternatives() -> None:
    got = _report("BI-RADS 3 vs 4.", findings="See impression.", procedure="MG DIAGNOSTIC",
                  addendum="Revised assessment: BI-RADS 4A.")
    assert _rads(got) == ("BI-RADS", "4A")


def test_slash_modifiers_are_kept_with_the_category() -> None:
    cad = ENGINE.rads(_report("CAD-RADS 4A/P2/HRP", findings="See impression.", procedure="CCTA"))
    lung = ENGINE.rads(_report("Lung-RADS 4X/S (emphysema).", findings="See impression.",
                               procedure="LDCT LUNG SCREENING"))
    assert cad is not None and sorted(cad.value.modifiers) == ["HRP", "P2"]  # type: ignore[union-attr]
    assert lung is not None and lung.value.modifiers == ("S",)  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "n", "m"), [
    ("Lung cancer. T2 N1 (possible) M0.", None, "M0"),  # the bracket inside the string hedges the N only
    ("Lung cancer. T2 N1 (2/14 nodes) M0.", "N1", "M0"),  # a count of nodes is no hedge
    ("Lung cancer. T2 N1 M0 (cannot exclude M1).", None, None),  # a trailing hedge suspects the string
])
def test_a_hedge_inside_or_after_a_tnm_string(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, procedure="CT CHEST W CONTRAST")) == (n, m)


def _category_and_modifiers(procedure: str, impression: str) -> tuple[str, tuple[str, ...]] | None:
    got = ENGINE.rads(_report(impression, findings="See impression.", procedure=procedure))
    return None if got is None else (got.value.category, tuple(sorted(got.value.modifiers)))  # type: ignore[union-attr]


@pytest.mark.parametrize(("impression", "expected"), [
    ("CAD-RADS 3; HRP.", ("3", ("HRP",))),
    ("CAD-RADS 2. Plaque burden: P2.", ("2", ("P2",))),
    ("CAD-RADS 4A. Modifiers: P3/HRP.", ("4A", ("HRP", "P3"))),
    ("CAD-RADS 2; S/G.", ("2", ("G", "S"))),
    ("CAD-RADS 2.\nPlaque burden: P2.", ("2", ("P2",))),
    ("CAD-RADS 2, e.g. mild stenosis.", ("2", ())),
    ("CAD-RADS 2. P2 plaque in the LAD and the patient is 62.", ("2", ())),  # a sentence of its own, not modifiers
    ("CAD-RADS 1; no HRP.", ("1", ())),
])
def test_cad_rads_modifiers_in_the_clause_after_the_category(impression: str,
                                                            expected: tuple[str, tuple[str, ...]]) -> None:
    assert _category_and_modifiers("CTA CORONARY ARTERIES W CONTRAST", impression) == expected


@pytest.mark.parametrize(("impression", "expected"), [
    ("Lung-RADS 2.\nSignificant incidental findings (S): yes - 4.6 cm ascending aortic aneurysm.", ("2", ("S",))),
    ("Lung-RADS 2.\nSignificant incidental findings (S): Severe coronary artery calcification.", ("2", ("S",))),
    ("Lung-RADS 2.\nSignificant incidental findings (S): no", ("2", ())),
    ("Lung-RADS 3.\nSignificant incidental findings (S): None.", ("3", ())),
])
def test_lung_rads_s_from_a_significant_incidental_findings_field(impression: str,
                                                                 expected: tuple[str, tuple[str, ...]]) -> None:
    assert _category_and_modifiers("LDCT LUNG CANCER SCREENING", impression) == expected
