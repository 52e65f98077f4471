"""RADS categories derived from described features (models/rules/criteria.py) when none is stated:
CAD-RADS 2.0, ACR TI-RADS, Lung-RADS v2022, LI-RADS v2018; positive cases, abstentions, the dev
set, and the ensemble (a derived value wins over the model, a stated one over a derived one)."""

from __future__ import annotations

from typing import Any

import pytest

from models.ensemble import _reconcile
from models.rules import RulesEngine
from models.rules.applicability import rads_system_for
from models.rules.criteria import derive_rads, lirads_table, tirads_level
from models.rules.engine import DERIVED_CONFIDENCE, STATED_CONFIDENCE
from models.types import Evidence, ModelIdentity, RadiologyReport, RadsValue, TaskName, TaskResult

ENGINE = RulesEngine()
CCTA = ("CT", "CTA CORONARY ARTERIES W CONTRAST")
THY = ("US", "US THYROID")
LDCT = ("CT", "CT CHEST LOW DOSE LUNG CANCER SCREENING")
LIVER = ("MR", "MR ABDOMEN W/O & W CONTRAST (LIVER PROTOCOL)")


def _rep(exam: tuple[str, str], findings: str, impression: str = "See findings.") -> RadiologyReport:
    return RadiologyReport(report_id="t", modality=exam[0], procedure=exam[1], findings=findings, impression=impression)


def _dev(row: dict[str, Any]) -> RadiologyReport:
    return RadiologyReport(report_id=row["id"], modality=row["modality"], procedure=row["procedure"],
                           findings=row["findings"], impression=row["impression"], prior_text=row["prior"])


def _cat(report: RadiologyReport) -> str | None:
    got = derive_rads(report)
    return got.category if got else None


# ---- positive cases: (exam, findings, system, category) -------------------------------------

POSITIVE = [
    # CAD-RADS 2.0
    (CCTA, "LM, LAD, LCx and RCA are patent without plaque or stenosis.", "CAD-RADS", "0"),
    (CCTA, "Minimal (1-24%) stenosis of the mid LAD due to calcified plaque.", "CAD-RADS", "1"),
    (CCTA, "Calcified plaque in the proximal LAD without stenosis. RCA normal.", "CAD-RADS", "1"),
    (CCTA, "Mild (25-49%) stenosis of the proximal RCA. Minimal stenosis of the LAD.", "CAD-RADS", "2"),
    (CCTA, "Moderate 50-69% stenosis of the proximal LAD. Mild stenosis of the RCA.", "CAD-RADS", "3"),
    (CCTA, "Severe (70-99%) stenosis of the proximal LAD. Mild stenosis of the mid RCA.", "CAD-RADS", "4A"),
    (CCTA, "Severe stenosis of the proximal LAD. Severe stenosis of the proximal RCA.", "CAD-RADS", "4A"),
    (CCTA, "Moderate (50-69%) stenosis of the left main. Mild stenosis of the LAD.", "CAD-RADS", "4B"),
    (CCTA, "Severe stenosis of the LAD. Severe stenosis of the circumflex. Severe stenosis of the RCA.", "CAD-RADS", "4B"),
    (CCTA, "The mid RCA is totally occluded. Moderate 50-69% stenosis of the LAD.", "CAD-RADS", "5"),
    (CCTA, "Vessel | Plaque | Stenosis\nLM | none | 0%\nLAD proximal | mixed | 25-49%\nRCA | calcified | 1-24%", "CAD-RADS", "2"),
    (CCTA, "Nondiagnostic study due to severe motion artifact.", "CAD-RADS", "N"),
    (CCTA, "LVEF 55%. Mild (25-49%) stenosis of the RCA.", "CAD-RADS", "2"),  # an ejection fraction is no stenosis
    (CCTA, "Severe (70-99%) stenosis of the proximal LAD. Possible small hiatal hernia.", "CAD-RADS", "4A"),  # unrelated hedge
    # ACR TI-RADS
    (THY, "Right lobe: 2.2 cm spongiform nodule.", "TI-RADS", "TR1"),
    (THY, "Left lobe: 1.0 cm purely cystic nodule with comet-tail artifact.", "TI-RADS", "TR1"),
    (THY, "Right nodule: 1.5 cm mixed cystic and solid, isoechoic, wider-than-tall, smooth margins, no echogenic foci.",
     "TI-RADS", "TR2"),
    (THY, "Right nodule: 1.6 cm solid, isoechoic, wider-than-tall, smooth margins, no calcifications.", "TI-RADS", "TR3"),
    (THY, "Right nodule: 1.8 cm solid, hypoechoic, wider-than-tall, smooth margin, no echogenic foci.", "TI-RADS", "TR4"),
    (THY, "Left nodule: 1.2 cm solid, hypoechoic, taller-than-wide, irregular margins, with punctate echogenic foci.",
     "TI-RADS", "TR5"),
    (THY, "Right nodule: 1.8 cm solid, hypoechoic, wider-than-tall, smooth margin, no echogenic foci.\n"
          "Left nodule: 1.1 cm spongiform nodule.", "TI-RADS", "TR4"),  # two nodules: the higher sets the label
    # Lung-RADS v2022
    (LDCT, "Indication: Baseline screening.\nLungs: Solid nodule in the RUL measuring 4 x 4 mm.", "Lung-RADS", "2"),
    (LDCT, "Indication: Baseline screening.\nLungs: Solid nodule in the RUL, mean diameter 7.1 mm.", "Lung-RADS", "3"),
    (LDCT, "Comparison: None.\nLungs: Solid RLL nodule measuring 10 x 9 mm.", "Lung-RADS", "4A"),
    (LDCT, "Indication: Baseline screening.\nLungs: Solid LUL nodule, mean diameter 16 mm.", "Lung-RADS", "4B"),
    (LDCT, "Comparison: LDCT 2024.\nLungs: New solid nodule in the LLL, mean 5 mm.", "Lung-RADS", "3"),
    (LDCT, "Comparison: LDCT 2024.\nLungs: New solid nodule in the LLL, mean 7 mm.", "Lung-RADS", "4A"),
    (LDCT, "Comparison: LDCT 2024.\nLungs: The 4 mm RML nodule is stable.", "Lung-RADS", "2"),
    (LDCT, "Comparison: LDCT 2024.\nLungs: No pulmonary nodules. The lungs are clear.", "Lung-RADS", "1"),
    (LDCT, "Comparison: LDCT 2024.\nLungs: New solid LLL nodule, 9.2 x 8.6 mm (mean 8.9 mm). The 3 mm RML nodule is stable.",
     "Lung-RADS", "4B"),  # two nodules: the higher sets the label
    (LDCT, "Indication: Baseline screening.\nLungs: Solid RUL nodule, 5 mm. Solid LLL nodule, mean 9 mm.", "Lung-RADS", "4A"),
    # LI-RADS v2018 (high-risk patients)
    (LIVER, "History: HCV cirrhosis.\nComparison: None.\nLiver: 2.4 cm observation in segment 7 with nonrim arterial "
            "phase hyperenhancement and nonperipheral washout. No enhancing capsule.", "LI-RADS", "LR-5"),
    (LIVER, "History: cirrhosis.\nComparison: None.\nLiver: 1.5 cm observation in segment 2 with nonrim APHE and an "
            "enhancing capsule. No washout.", "LI-RADS", "LR-4"),
    (LIVER, "History: chronic hepatitis B.\nComparison: None.\nLiver: 8 mm observation with nonrim APHE. No washout. "
            "No enhancing capsule.", "LI-RADS", "LR-3"),
    (LIVER, "History: cirrhosis.\nLiver: 2.5 cm observation without arterial phase hyperenhancement. No washout. "
            "No capsule. No threshold growth.", "LI-RADS", "LR-3"),
    (LIVER, "History: cirrhosis.\nLiver: 2.4 cm observation with non-rim APHE and non-peripheral washout.",
     "LI-RADS", "LR-5"),  # capsule and growth unmentioned: LR-5 either way
]


@pytest.mark.parametrize(("exam", "findings", "system", "category"), POSITIVE)
def test_derived_category(exam: tuple[str, str], findings: str, system: str, category: str) -> None:
    result = ENGINE.rads(_rep(exam, findings))
    assert result is not None
    assert (result.value.system, result.value.category) == (system, category)  # type: ignore[union-attr]
    assert result.confidence == DERIVED_CONFIDENCE < STATED_CONFIDENCE
    assert result.raw_output.startswith("derived: ")
    assert result.note and "derived from the described features" in result.note and "states no category" in result.note
    assert result.evidence and all(e.sentence in result.raw_output for e in result.evidence)


# ---- abstentions: nothing derived --------------------------------------------------------------

ABSTAIN = [
    # CAD-RADS
    (CCTA, "Possible moderate stenosis of the proximal LAD."),  # hedged
    (CCTA, "Mixed plaque in the proximal LAD."),  # plaque without a grade
    (CCTA, "Mild-to-moderate stenosis of the proximal LAD."),  # straddles a cut-off
    (CCTA, "40-60% stenosis of the proximal LAD."),  # range straddles 50%
    (CCTA, "Moderate stenosis, 50-69%."),  # >=50% but the vessel is not named (left main?)
    (CCTA, "Patent LAD stent. Mild stenosis of the RCA."),  # stent: outside the implemented criteria
    (CCTA, "Nonobstructive coronary artery disease."),  # 1 or 2
    (CCTA, "No coronary artery plaque or stenosis. Mild stenosis of the LAD."),  # contradicts itself
    (CCTA, "Severe stenosis of the proximal LAD and RCA."),  # vessels not one per stenosis
    (CCTA, "Nondiagnostic segments in the RCA. Mild stenosis of the LAD."),  # N or 2: not settled
    (("CT", "CT CHEST W CONTRAST"), "Severe stenosis of the proximal LAD."),  # not a coronary CTA
    # TI-RADS
    (THY, "Right nodule: 1.8 cm solid, hypoechoic, smooth margin, no echogenic foci."),  # shape missing
    (THY, "Right nodule: 1.8 cm solid, hypoechoic, wider-than-tall, smooth margin, no echogenic foci.\n"
          "Left nodule: 1.1 cm solid nodule."),  # a second nodule not fully described
    (THY, "Right nodule: 1.8 cm solid, possibly hypoechoic, wider-than-tall, smooth margin, no echogenic foci."),  # hedged
    (THY, "Right nodule: 1.0 cm cystic, anechoic, wider-than-tall, smooth, with macrocalcification."),  # 1 point
    (THY, "Thyroid normal in size. No nodules."),
    # Lung-RADS
    (LDCT, "Indication: Baseline screening.\nLungs: Part-solid nodule in the RUL, mean diameter 9 mm."),
    (LDCT, "Indication: Baseline screening.\nLungs: Ground-glass nodule in the RUL, mean diameter 12 mm."),
    (LDCT, "Comparison: LDCT 2024.\nLungs: Solid nodule in the RUL, mean diameter 7 mm."),  # new or stable?
    (LDCT, "Comparison: LDCT 2024.\nLungs: Solid RUL nodule has grown to 9 mm."),  # growth table not implemented
    (LDCT, "Indication: Baseline screening.\nLungs: Spiculated solid nodule in the RUL, mean 12 mm."),  # 4X?
    (LDCT, "Indication: Baseline screening.\nLungs: Solid nodule in the RUL. Patchy consolidation in the LLL."),
    (LDCT, "Comparison: LDCT 2024.\nLungs: The 10 mm solid nodule is stable."),  # stable 4A-size: 3 or 2
    (LDCT, "Indication: Baseline screening.\nLungs: Solid nodules in the RUL measuring 5 mm and 9 mm."),  # which is which
    (LDCT, "Comparison: None.\nLungs: Solid nodule in the RUL, 8 mm."),  # one size: the mean may be below 8 mm
    (LDCT, "Indication: annual screening.\nLungs: No nodules. Lungs are clear. 2.1 cm mass in the RUL."),
    (LDCT, "Indication: Baseline screening.\nLungs: Solid nodule in the RUL, mean diameter 6 mm, possibly new."),
    (("CT", "CT CHEST W CONTRAST"), "Comparison: None.\nLungs: Solid nodule in the RUL, mean diameter 9 mm."),  # not screening
    # LI-RADS
    (LIVER, "History: Breast cancer.\nComparison: None.\nLiver: 2.4 cm observation with nonrim APHE and washout."),  # low risk
    (LIVER, "History: HCV, no cirrhosis.\nLiver: 2.4 cm observation with nonrim APHE and washout."),  # low risk
    (LIVER, "History: cirrhosis.\nLiver: 1.5 cm observation with nonrim APHE. No enhancing capsule."),  # washout unknown
    (LIVER, "History: cirrhosis.\nLiver: 2.4 cm observation with rim APHE and peripheral washout."),  # LR-M features
    (LIVER, "History: cirrhosis.\nComparison: None.\nLiver: 2.4 cm mass with nonrim APHE and tumor in vein."),  # LR-TIV
    (LIVER, "History: cirrhosis.\nComparison: None.\nLiver: 1.5 cm observation with nonrim APHE, no washout, no capsule.\n"
            "A 1.2 cm observation in segment 3 with washout."),  # two observations
    (LIVER, "History: cirrhosis.\nComparison: None.\nLiver: 1.5 cm observation with nonrim APHE. No washout. No capsule. "
            "Restricted diffusion."),  # ancillary feature may upgrade
    (("US", "US ABDOMEN LIMITED (RUQ)"), "History: cirrhosis.\nLiver: 2.4 cm observation with nonrim APHE and washout."),
]


@pytest.mark.parametrize(("exam", "findings"), ABSTAIN)
def test_no_category_when_features_do_not_settle_it(exam: tuple[str, str], findings: str) -> None:
    report = _rep(exam, findings)
    assert derive_rads(report) is None
    result = ENGINE.rads(report)
    if rads_system_for(report)[0] is not None:
        assert result is None  # a system applies, the features do not settle it: the model reads it
    else:  # a chest CT is not a coronary CTA nor a screening LDCT; LI-RADS needs a patient at risk
        assert result is not None and not result.value.applicable  # type: ignore[union-attr]
        assert result.confidence == DERIVED_CONFIDENCE and result.note and "No applicable RADS" in result.note


def test_at_least_forty_cases() -> None:
    assert len(POSITIVE) + len(ABSTAIN) >= 40


# ---- the tables themselves ----------------------------------------------------------------------

@pytest.mark.parametrize(("points", "level"), [(0, "TR1"), (1, None), (2, "TR2"), (3, "TR3"), (4, "TR4"), (6, "TR4"),
                                               (7, "TR5"), (12, "TR5")])
def test_tirads_levels(points: int, level: str | None) -> None:
    assert tirads_level(points) == level


@pytest.mark.parametrize(("size", "aphe", "washout", "capsule", "growth", "cat"), [
    (25, False, False, False, False, "LR-3"), (25, False, True, False, False, "LR-4"), (15, False, True, True, False, "LR-4"),
    (8, True, False, False, False, "LR-3"), (8, True, True, False, False, "LR-4"), (8, True, True, True, False, "LR-4"),
    (15, True, False, False, False, "LR-3"), (15, True, False, True, False, "LR-4"), (15, True, True, False, False, "LR-5"),
    (15, True, False, False, True, "LR-5"), (15, True, False, True, True, "LR-5"),
    (20, True, False, False, False, "LR-4"), (20, True, False, True, False, "LR-5"),
])
def test_lirads_table(size: float, aphe: bool, washout: bool, capsule: bool, growth: bool, cat: str) -> None:
    assert lirads_table(size, aphe, washout, capsule, growth) == cat


# ---- the dev set --------------------------------------------------------------------------------

@pytest.mark.parametrize(("rid", "system", "category"), [
    ("dev-010", "LI-RADS", "LR-3"), ("dev-012", "Lung-RADS", "4B"), ("dev-014", "TI-RADS", "TR1"), ("dev-022", "CAD-RADS", "0"),
])
def test_dev_inferred_labels(dev_reports: dict[str, dict[str, Any]], rid: str, system: str, category: str) -> None:
    label = dev_reports[rid]["labels"]["rads"]
    assert (label["system"], label["category"], label["stated"]) == (system, category, False)
    result = ENGINE.rads(_dev(dev_reports[rid]))
    assert result is not None and result.confidence == DERIVED_CONFIDENCE
    assert (result.value.system, result.value.category) == (system, category)  # type: ignore[union-attr]


def test_dev_007_breast_cyst_is_not_derived(dev_reports: dict[str, dict[str, Any]]) -> None:
    """BI-RADS is not among the derived systems: the simple cyst (inferred BI-RADS 2) is left to the model."""
    assert dev_reports["dev-007"]["labels"]["rads"]["stated"] is False
    assert ENGINE.rads(_dev(dev_reports["dev-007"])) is None


def test_no_stated_dev_category_changes(dev_reports: dict[str, dict[str, Any]]) -> None:
    stated = [r for r in dev_reports.values() if r["labels"]["rads"] and r["labels"]["rads"]["stated"]]
    assert len(stated) >= 20
    for row in stated:
        result = ENGINE.rads(_dev(row))
        label = row["labels"]["rads"]
        assert result is not None and result.confidence == STATED_CONFIDENCE, row["id"]
        assert (result.value.system, result.value.category) == (label["system"], label["category"]), row["id"]  # type: ignore[union-attr]


def test_no_applicable_rads_on_dev_reports_without_rads(dev_reports: dict[str, dict[str, Any]]) -> None:
    for row in dev_reports.values():
        if row["labels"]["rads"] is None:
            result = ENGINE.rads(_dev(row))
            assert result is not None and not result.value.applicable, row["id"]  # type: ignore[union-attr]
            assert result.decided_by == "rules" and result.confidence == DERIVED_CONFIDENCE, row["id"]


def test_no_applicable_rads_needs_a_known_study() -> None:
    """A bare text with no modality or procedure may still be a breast or thyroid study: abstain."""
    bare = RadiologyReport(report_id="t", findings="Lungs are clear. No pneumothorax.", impression="Normal.")
    assert ENGINE.rads(bare) is None


def test_a_stated_category_beats_the_described_features() -> None:
    report = _rep(CCTA, "Severe (70-99%) stenosis of the proximal LAD.", "CAD-RADS 3.")
    result = ENGINE.rads(report)
    assert result is not None and result.value.category == "3" and result.confidence == STATED_CONFIDENCE  # type: ignore[union-attr]
    assert derive_rads(report) is not None  # the features alone would have said 4A


# ---- the ensemble -------------------------------------------------------------------------------

MODEL = ModelIdentity(model_id="m", sha256="a" * 64, backend="llama_cpp", role="generation", demo=True)


def _model(category: str) -> TaskResult:
    return TaskResult(task=TaskName.rads_assignment, value=RadsValue(system="CAD-RADS", category=category), confidence=0.6,
                      model=MODEL, evidence=[Evidence(sentence="m")], decided_by="model", raw_output="x", prompt_hash="p")


def test_derived_wins_over_the_model_and_the_disagreement_is_kept() -> None:
    derived = ENGINE.rads(_rep(CCTA, "Severe (70-99%) stenosis of the proximal LAD."))
    assert derived is not None
    out = _reconcile(_model("2"), derived)
    assert out.value == derived.value and out.decided_by == "rules" and out.confidence == DERIVED_CONFIDENCE
    assert out.disagreement is not None and out.disagreement.model_value == "CAD-RADS 2"
    assert out.disagreement.note.startswith("the features the report describes give") and out.note == derived.note


def test_derived_agreeing_with_the_model_keeps_its_note() -> None:
    derived = ENGINE.rads(_rep(CCTA, "Severe (70-99%) stenosis of the proximal LAD."))
    assert derived is not None
    out = _reconcile(_model("4A"), derived)
    assert out.decided_by == "model+rules" and out.disagreement is None and out.note == derived.note


def test_the_card_says_a_derived_category_was_not_written_in_the_report() -> None:
    """A clinician must see that the category came from the criteria, not from the radiologist."""
    from adapters.cds.cards import report_cards
    from models.types import Analysis

    report = _rep(CCTA, "Severe (70-99%) stenosis of the proximal LAD.")
    derived = ENGINE.rads(report)
    assert derived is not None
    out = _reconcile(_model("2"), derived)
    cards = report_cards(Analysis(report=report, manifest_version="t", results=[out]), patient_id="p1")
    rads = [c for c in cards if "CAD-RADS 4A" in c.summary]
    assert rads and rads[0].indicator == "warning"  # the model disagreed
    detail = rads[0].detail
    assert "**How this was read:**" in detail and "the report states no category" in detail
    assert "the features the report describes give CAD-RADS 4A" in detail and "the report states CAD-RADS" not in detail


def test_no_applicable_rads_wins_over_a_category_the_model_invents() -> None:
    chest = _rep(("DX", "XR CHEST PA AND LATERAL"), "Lungs are clear. No pneumothorax.")
    none = ENGINE.rads(chest)
    assert none is not None and not none.value.applicable  # type: ignore[union-attr]
    out = _reconcile(_model("2"), none)
    assert out.value == RadsValue(applicable=False) and out.decided_by == "rules"
    assert out.disagreement is not None and out.disagreement.model_value == "CAD-RADS 2"
    assert out.disagreement.note.startswith("no RADS system applies to this study")
