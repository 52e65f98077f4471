"""Parsers accept every output shape the published RadLite models print and reject the rest."""

from __future__ import annotations

import pytest

from models import parsers as p
from models.parsers import ParseError
from models.types import CHEXPERT_LABELS

THINK = "<think>\n\n</think>\n\n"


@pytest.mark.parametrize(("text", "system", "category"), [
    ("BI-RADS 4", "BI-RADS", "4"),
    ("BI-RADS 4B", "BI-RADS", "4B"),
    ("bi-rads 4a", "BI-RADS", "4A"),
    ("PI-RADS 5", "PI-RADS", "5"),
    ("LI-RADS 5", "LI-RADS", "LR-5"),
    ("LR-5", "LI-RADS", "LR-5"),
    ("LI-RADS LR-TIV", "LI-RADS", "LR-TIV"),
    ("TI-RADS 5", "TI-RADS", "TR5"),
    ("TI-RADS TR4", "TI-RADS", "TR4"),
    ("Lung-RADS 4B", "Lung-RADS", "4B"),
    ("Lung-RADS 4X S", "Lung-RADS", "4X"),
    ("NI-RADS 2A", "NI-RADS", "2a"),
    ("CAD-RADS 4A/P2", "CAD-RADS", "4A"),
    ("O-RADS 3.", "O-RADS", "3"),
    (THINK + "VI-RADS 2", "VI-RADS", "2"),
    ("  GB-RADS 4\n", "GB-RADS", "4"),
])
def test_rads_shapes(text: str, system: str, category: str) -> None:
    v = p.parse_rads(text)
    assert (v.system, v.category, v.applicable) == (system, category, True)


def test_rads_not_applicable() -> None:
    assert p.parse_rads("No applicable RADS").applicable is False
    assert p.parse_rads(THINK + "no applicable rads").label == "No applicable RADS"


@pytest.mark.parametrize("text", [
    "", "BI-RADS", "BI-RADS 7", "BI-RADS 4D", "PI-RADS 6", "TI-RADS TR6", "Lung-RADS 5", "LI-RADS 6",
    "The category is BI-RADS 4", "BI-RADS 4\nPI-RADS 3", "ZZ-RADS 2", "<think>BI-RADS 4", "BI-RADS 4: suspicious",
])
def test_rads_rejects(text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_rads(text)
    assert err.value.task == "rads_assignment"


@pytest.mark.parametrize(("text", "involved", "stage"), [
    ("Positive", True, None),
    ("Negative", False, "N0"),
    (" Positive. N staging: N2", True, "N2"),
    ("positive. n staging: n1", True, "N1"),
    ("NEGATIVE. N STAGING: N0", False, "N0"),
    ("Positive. N staging: N3b", True, "N3"),
    (THINK + "Positive. N staging: N1", True, "N1"),
])
def test_n_stage_shapes(text: str, involved: bool, stage: str | None) -> None:
    v = p.parse_n_stage(text)
    assert (v.involvement, v.stage) == (involved, stage)


@pytest.mark.parametrize("text", ["N2", "Yes", "Positive. N staging: N4", "Negative. N staging: N2",
                                  "Positive. N staging: N0", "Positive. N staging: NX", "Positive, likely"])
def test_n_stage_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        p.parse_n_stage(text)


@pytest.mark.parametrize(("text", "stage"), [("M0", "M0"), ("m1", "M1"), ("M1b", "M1"), (THINK + "M0.", "M0")])
def test_m_stage(text: str, stage: str) -> None:
    assert p.parse_m_stage(text).stage == stage


@pytest.mark.parametrize("text", ["M2", "MX", "M0 M1", "metastatic", ""])
def test_m_stage_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        p.parse_m_stage(text)


@pytest.mark.parametrize(("text", "label"), [
    ("entailment", "entailment"), ("Contradiction", "contradiction"), ("NEUTRAL.", "neutral"),
    (THINK + "neutral", "neutral"),
])
def test_nli(text: str, label: str) -> None:
    assert p.parse_nli(text).label == label


@pytest.mark.parametrize("text", ["yes", "entailment neutral", "not entailed", ""])
def test_nli_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        p.parse_nli(text)


FOURTEEN = "\n".join(f"- {p.CHEXPERT_DISPLAY[k]}: negative" for k in p.CHEXPERT_DISPLAY)


def test_chexpert_fourteen_bullets_any_indentation_and_case() -> None:
    text = THINK + FOURTEEN.replace("- Edema: negative", "   - edema: Positive").replace(
        "- Pneumothorax: negative", "\t-   PNEUMOTHORAX: uncertain")
    v = p.parse_chexpert(text)
    assert set(v.labels) == set(CHEXPERT_LABELS)
    assert v.labels["edema"] == "positive" and v.labels["pneumothorax"] == "uncertain"
    assert list(p.CHEXPERT_DISPLAY) == sorted(p.CHEXPERT_DISPLAY)  # printed in alphabetical order


@pytest.mark.parametrize("text", [
    "- Atelectasis: maybe", "- Lung Nodule: positive", "Atelectasis positive",
    "- Edema: positive\n- Edema: negative", "", "- Edema: positive\nFree text here",
])
def test_chexpert_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        p.parse_chexpert(text)


def test_temporal_bullets() -> None:
    out = THINK + ("- [New Finding] new (related to: left lower lobe nodule)\n"
                   "  - [Worsened] increased (related to: pleural effusion)\n"
                   "- [No Change] stable (related to: cardiomegaly)\n- [improved] decreased (related to: edema)\n"
                   "- [Resolved] resolved (related to: pneumothorax)")
    v = p.parse_temporal(out)
    assert [(c.finding, c.change) for c in v.changes] == [
        ("left lower lobe nodule", "new"), ("pleural effusion", "worsened"), ("cardiomegaly", "unchanged"),
        ("edema", "improved"), ("pneumothorax", "resolved")]
    assert v.changes[0].cue == "new"
    assert p.parse_temporal("None").changes == []


@pytest.mark.parametrize("text", ["[New] nodule", "- [Bigger] nodule (related to: x)", "The nodule is new.", ""])
def test_temporal_rejects(text: str) -> None:
    with pytest.raises(ParseError):
        p.parse_temporal(text)


def test_entities_lines() -> None:
    out = THINK + ("Anatomy: left lung; heart; pleura\nObservation (Present): effusion; atelectasis\n"
                   "  Observation (Absent): pneumothorax\nObservation (Uncertain): pneumonia\nChange: increased")
    v = p.parse_entities(out)
    assert v.anatomy == ["left lung", "heart", "pleura"]
    assert v.present == ["effusion", "atelectasis"]
    assert v.absent == ["pneumothorax"] and v.uncertain == ["pneumonia"] and v.changes == ["increased"]


@pytest.mark.parametrize("text", ["Organs: liver", "left lung, heart", ""])
def test_entities_reject(text: str) -> None:
    with pytest.raises(ParseError):
        p.parse_entities(text)


def test_free_text_and_think() -> None:
    assert p.parse_text("impression_generation", THINK + "Examination within normal limits.").text == (
        "Examination within normal limits.")
    with pytest.raises(ParseError):
        p.parse_text("radiology_qa", THINK + "   ")
    with pytest.raises(ParseError):
        p.parse_text("radiology_qa", "<think>\nstill thinking")


def test_incomplete_tail_is_dropped_only_for_line_shapes() -> None:
    assert p.drop_incomplete_tail("temporal_comparison", "- [New] a (related to: b)\n- [Wor") == (
        "- [New] a (related to: b)")
    assert p.drop_incomplete_tail("radiology_ner", "Anatomy: lung; hea") == "Anatomy: lung"
    assert p.drop_incomplete_tail("radiology_qa", "The answer is") == "The answer is"


# ---- early stop of free line-shaped answers ---------------------------------------------

_TEMPORAL_OK = [
    THINK + "- [New Finding] new (related to: left lower lobe nodule)\n  - [Worsened] increased (related to: effusion)\n"
    "* [No Change] stable (related to: cardiomegaly)\n\u2022 [improved] decreased\n- [ Resolved ]resolved (related to: x)",
    "None", "No temporal changes identified.", "no change", "  none.  ",
]
_NER_OK = [
    THINK + "Anatomy: left lung; heart\nObservation (Present): effusion\n  Observation (Absent): pneumothorax\n"
    "- Observation (Uncertain) : pneumonia\nChange Indicators: increased\n\n* change: none",
    "anatomy:", "ANATOMY : lung",
]


@pytest.mark.parametrize(("task", "outputs"), [("temporal_comparison", _TEMPORAL_OK), ("radiology_ner", _NER_OK)])
def test_early_stop_never_cuts_an_answer_the_parser_accepts(task: str, outputs: list[str]) -> None:
    from models.backends.llama import viable_lines
    from models.catalog import CATALOG
    from models.types import TaskName

    spec = CATALOG[TaskName(task)]
    for out in outputs:
        spec.parse(out)  # the parser accepts it ...
        ok = viable_lines(spec)
        cut = [i for i in range(1, len(out) + 1) if not ok(out[:i])]
        assert cut == [], (out, out[: cut[0]] if cut else "")  # ... so no prefix of it is cut


@pytest.mark.parametrize(("task", "junk", "cut_within"), [
    ("temporal_comparison", "The nodule in the right upper lobe is new compared with the prior study.", 2),
    ("temporal_comparison", "- [Bigger] nodule (related to: x)", 5),
    ("temporal_comparison", "- [New] nodule (related to: x)\nCompared with the prior exam", 33),
    ("radiology_ner", "1. Left lung: effusion", 1),
    ("radiology_ner", "Organs: liver", 2),
    ("radiology_ner", "Anatomy: lung\nThe heart is normal.", 19),
])
def test_early_stop_cuts_junk_within_a_few_characters(task: str, junk: str, cut_within: int) -> None:
    from models.backends.llama import viable_lines
    from models.catalog import CATALOG
    from models.types import TaskName

    ok = viable_lines(CATALOG[TaskName(task)])
    first_cut = next(i for i in range(1, len(junk) + 1) if not ok(junk[:i]))
    assert first_cut <= cut_within, junk[:first_cut]
    with pytest.raises(ParseError):
        CATALOG[TaskName(task)].parse(junk)
