"""A RADS category the report states but its system does not define ('BI-RADS 7', 'Lung-RADS 5',
'TI-RADS TR6', an undivided 'CAD-RADS 4', LI-RADS v2024 'LR-TR Nonprogressing'): the rules read it
as the report's words, with the same history/negation/legend handling as a known category, and the
ensemble keeps those words as the value whatever the model answers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.ensemble import Ensemble, _reconcile
from models.evaluation import rads_key, rads_outcome
from models.parsers import parse_rads
from models.rules import RulesEngine
from models.rules.stated_unlisted import find_unlisted, stated_unlisted
from models.types import (
    NOT_A_KNOWN_CATEGORY,
    Evidence,
    ModelIdentity,
    RadiologyReport,
    RadsValue,
    TaskName,
    TaskRequest,
    TaskResult,
)

ENGINE = RulesEngine()
MODEL = ModelIdentity(model_id="m", sha256="a" * 64, backend="llama_cpp", role="generation", demo=True)


def _report(impression: str, findings: str = "", procedure: str | None = None, modality: str | None = None,
            **kw: str) -> RadiologyReport:
    return RadiologyReport(report_id="r1", findings=findings or None, impression=impression, procedure=procedure,
                           modality=modality, **kw)


def _rads(report: RadiologyReport) -> TaskResult | None:
    return ENGINE.stated(TaskRequest(task=TaskName.rads_assignment, report=report))


# ---- the rules: unlisted statements are read ------------------------------------------------------


@pytest.mark.parametrize(("impression", "procedure", "label"), [
    ("BI-RADS 7: known malignancy, post-treatment.", "MG DIAG MAMMO BILAT", "BI-RADS 7"),
    ("Assessment: BI-RADS category 7.", None, "BI-RADS 7"),
    ("Lung-RADS 5. Spiculated 2.4 cm right upper lobe mass.", "CT LOW DOSE LUNG CANCER SCREENING", "Lung-RADS 5"),
    ("Dominant right thyroid nodule, ACR TI-RADS TR6.", "US THYROID", "TI-RADS TR6"),
    ("CAD-RADS 4 - severe stenosis of the proximal LAD.", "CT CORONARY ANGIOGRAPHY", "CAD-RADS 4"),
    ("Segment 7 treated observation after SBRT: LR-TR Nonprogressing.", "MRI LIVER", "LR-TR Nonprogressing"),
    ("LI-RADS LR-TR non-progressing, segment 8.", "MRI LIVER", "LR-TR Non-progressing"),
    ("PI-RADS 6 lesion in the left peripheral zone.", "MRI PROSTATE", "PI-RADS 6"),
    ("CAD-RADS 2.0: 4 (severe stenosis, proximal RCA).", "CT CORONARY ANGIOGRAPHY", "CAD-RADS 4"),
])
def test_unlisted_statement_is_the_rules_value(impression: str, procedure: str | None, label: str) -> None:
    out = _rads(_report(impression, procedure=procedure))
    assert out is not None and isinstance(out.value, RadsValue)
    v = out.value
    assert v.unlisted and v.category is None and v.applicable and v.label == label
    assert out.decided_by == "rules" and out.model.backend == "rules"
    assert out.evidence and label.split()[-1].lower() in out.evidence[0].sentence.lower()
    assert out.note and "not a" in out.note and label in out.note


def test_overall_unlisted_statement_wins_over_a_lesion_category() -> None:
    report = _report("Final assessment: BI-RADS 7.", findings="Right breast mass, BI-RADS 4 features.",
                     procedure="MG DIAG MAMMO BILAT")
    out = _rads(report)
    assert out is not None and out.value.unlisted and out.value.label == "BI-RADS 7"
    assert "BI-RADS 4" in (out.note or "")


def test_addendum_with_unlisted_category_revises_the_body() -> None:
    report = _report("BI-RADS 4A. Biopsy recommended.", procedure="MG DIAG MAMMO BILAT",
                     addendum="ADDENDUM: assessment revised to BI-RADS 7 after review.")
    out = _rads(report)
    assert out is not None and out.value.unlisted and out.value.label == "BI-RADS 7"
    assert "BI-RADS 4A" in (out.note or "")


def test_known_category_stands_and_the_unlisted_one_is_noted() -> None:
    report = _report("Right breast: BI-RADS 4A, biopsy recommended. Left breast BI-RADS 7.",
                     procedure="MG DIAG MAMMO BILAT")
    out = _rads(report)
    assert out is not None and out.value.category == "4A" and not out.value.unlisted
    assert out.note is not None and "BI-RADS 7" in out.note and NOT_A_KNOWN_CATEGORY in out.note


# ---- negatives: not statements of the study ---------------------------------------------------------


@pytest.mark.parametrize("impression", [
    "Previously BI-RADS 7 at an outside facility. Now BI-RADS 2.",
    "No features of Lung-RADS 5.",
    "If it grows it would be upgraded to Lung-RADS 5.",
    "Categories are reported on the BI-RADS 0-6 scale. Benign findings.",
    "ACR TI-RADS 8 points.",
    "The LR-TR algorithm was applied. No viable tumour.",
    "BI-RADS 5th edition lexicon used. Benign.",
])
def test_not_a_statement_of_an_unlisted_category(impression: str) -> None:
    report = _report(impression, procedure="MG DIAG MAMMO BILAT" if "BI" in impression else None)
    out = _rads(report)
    assert out is None or not (isinstance(out.value, RadsValue) and out.value.unlisted)
    assert all(m.historical for m in find_unlisted(report.text()) if m.words in ("7", "5"))


def test_history_line_is_not_a_statement() -> None:
    report = _report("Benign. BI-RADS 2.", findings="History: BI-RADS 7 per outside report.",
                     procedure="MG DIAG MAMMO BILAT")
    out = _rads(report)
    assert out is not None and out.value.category == "2" and not out.note


def test_printed_legend_is_not_a_statement() -> None:
    legend = ("LI-RADS treatment response categories:\n"
              "LR-TR Nonevaluable: cannot be assessed\n"
              "LR-TR Nonviable: no enhancement\n"
              "LR-TR Nonprogressing: stable or decreasing after radiation\n"
              "LR-TR Viable: nodular enhancement")
    report = _report("Treated segment 6 observation: LR-TR Nonviable.\n\n" + legend, procedure="MRI LIVER")
    assert [m.words for m in find_unlisted(report.text())] == ["LR-TR Nonprogressing"]
    assert stated_unlisted(report) == []
    out = _rads(report)
    assert out is not None and not out.value.unlisted and "Nonprogressing" not in (out.note or "")
    inline = _report("BI-RADS 2. BI-RADS key: BI-RADS 0 incomplete, BI-RADS 1 negative, BI-RADS 7 not used.",
                     procedure="MG DIAG MAMMO BILAT")
    assert [m.words for m in find_unlisted(inline.text())] == ["7"] and stated_unlisted(inline) == []
    run = _report("BI-RADS 2.\n\n0 = incomplete, 1 = negative, 2 = benign, 3 = probably benign, 7 = known treated.",
                  procedure="MG DIAG MAMMO BILAT")
    assert stated_unlisted(run) == []


def test_other_exams_system_is_ignored() -> None:
    out = _rads(_report("BI-RADS 2. Incidental: Lung-RADS 5 mentioned in outside CT.", procedure="MG DIAG MAMMO BILAT"))
    assert out is not None and out.value.category == "2" and not out.note


@pytest.mark.parametrize(("impression", "procedure", "label"), [
    ("BI-RADS 4A.", "MG DIAG MAMMO BILAT", "BI-RADS 4A"),
    ("LR-TR Viable.", "MRI LIVER", "LR-TR Viable"),
    ("CAD-RADS 4A/P2.", "CT CORONARY ANGIOGRAPHY", "CAD-RADS 4A"),
    ("Lung-RADS 4X.", "CT LOW DOSE LUNG CANCER SCREENING", "Lung-RADS 4X"),
    ("TI-RADS TR5.", "US THYROID", "TI-RADS TR5"),
])
def test_valid_categories_are_untouched(impression: str, procedure: str, label: str) -> None:
    out = _rads(_report(impression, procedure=procedure))
    assert out is not None and not out.value.unlisted and out.value.label == label and out.note is None


# ---- the type ----------------------------------------------------------------------------------------


def test_value_validation() -> None:
    v = RadsValue(system="BI-RADS", stated_category="  7 ")
    assert v.stated_category == "7" and v.label == v.full_label == "BI-RADS 7"
    assert RadsValue.model_validate_json(v.model_dump_json()) == v
    for bad in ({"system": "BI-RADS", "category": "4", "stated_category": "7"},
                {"system": None, "stated_category": "7"},
                {"system": "BI-RADS", "stated_category": "7", "applicable": False},
                {"system": "Lung-RADS", "stated_category": "5", "modifiers": ("S",)},
                {"system": "BI-RADS", "stated_category": "  "}):
        with pytest.raises(ValidationError):
            RadsValue(**bad)
    assert not RadsValue(system="BI-RADS", category="4").unlisted


def test_parsers_never_produce_an_unlisted_value() -> None:
    for text in ("BI-RADS 7", "Lung-RADS 5", "LR-TR Nonprogressing", "TI-RADS TR6"):
        try:
            v = parse_rads(text)
        except Exception:  # noqa: BLE001 - an unparseable model output is fine here; only its value matters
            continue
        assert not v.unlisted


def test_evaluation_counts_it_as_an_answer_matching_no_gold() -> None:
    v = RadsValue(system="BI-RADS", stated_category="7")
    assert rads_key(v) == ("BI-RADS", "STATED 7")
    assert rads_key(v) != rads_key(RadsValue(applicable=False))
    assert rads_outcome(v, RadsValue(system="BI-RADS", category="4")) == "other"


# ---- the ensemble ---------------------------------------------------------------------------------


def _model_result(value: RadsValue) -> TaskResult:
    return TaskResult(task=TaskName.rads_assignment, value=value, confidence=0.6, model=MODEL,
                      evidence=[Evidence(sentence="m")], decided_by="model", raw_output="BI-RADS 4")


def test_reconcile_keeps_the_report_words_and_the_model_answer() -> None:
    stated = _rads(_report("BI-RADS 7: known cancer.", procedure="MG DIAG MAMMO BILAT"))
    assert stated is not None
    out = _reconcile(_model_result(RadsValue(system="BI-RADS", category="4")), stated)
    assert out.value == stated.value and out.value.unlisted and out.decided_by == "rules"
    assert out.model == stated.model and out.confidence == stated.confidence and out.demo
    d = out.disagreement
    assert d is not None and d.model == MODEL and (d.model_value, d.rules_value) == ("BI-RADS 4", "BI-RADS 7")
    assert d.note == ("the report states BI-RADS 7, which is not a BI-RADS category; "
                      "the model answered BI-RADS 4")
    assert out.note and NOT_A_KNOWN_CATEGORY in out.note and "BI-RADS 7" in out.note


def test_reconcile_with_a_not_applicable_model_answer() -> None:
    stated = _rads(_report("Lung-RADS 5.", procedure="CT LOW DOSE LUNG CANCER SCREENING"))
    assert stated is not None
    out = _reconcile(_model_result(RadsValue(applicable=False)), stated)
    assert out.value.label == "Lung-RADS 5" and out.disagreement is not None
    assert out.disagreement.note.endswith("the model answered No applicable RADS")


def test_demo_ensemble_never_puts_its_answer_in_place_of_the_statement(demo_ensemble: Ensemble) -> None:
    """The real demo model answers some known category; the report's words remain the value."""
    report = _report("Right breast: post-lumpectomy changes. BI-RADS 7.", procedure="MG DIAG MAMMO BILAT")
    out = demo_ensemble.run(TaskRequest(task=TaskName.rads_assignment, report=report))
    assert isinstance(out.value, RadsValue) and out.value.unlisted and out.value.label == "BI-RADS 7"
    assert out.decided_by == "rules" and out.model.backend == "rules"
    if out.disagreement is not None:  # the model answered (a parse failure leaves the statement alone)
        assert out.demo and out.disagreement.model is not None and out.disagreement.model.demo
        assert out.disagreement.rules_value == "BI-RADS 7" and out.disagreement.model_value != "BI-RADS 7"
        assert out.disagreement.note.startswith("the report states BI-RADS 7, which is not a BI-RADS category")


def test_a_bracket_refining_an_undivided_category_is_one_known_statement() -> None:
    """'CAD-RADS 4 (4A)': the bracket makes the 4 a 4A; no unlisted 'CAD-RADS 4' is noted beside it."""
    out = _rads(_report("CAD-RADS 4 (4A). Severe stenosis of the proximal LAD.", procedure="CTA CORONARY"))
    assert out is not None and out.value.label == "CAD-RADS 4A" and not out.value.unlisted
    assert out.note is None
