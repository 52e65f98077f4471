"""Round 5: the parsers against what generation really prints, for all nine tasks.

Raw text as the published RadLite models (Qwen2.5-3B and Qwen3-4B + LoRA) can leave it: Qwen3
think blocks (empty, with reasoning, unclosed), Qwen2.5 end tokens left in the text, case,
punctuation, quotes and markdown around a label, and each task's line layouts. Every shape the
contract (/work/shared/spec/radlite-contract.md, "What the models emit") prints is accepted;
anything else is a ParseError naming the task, never a guessed value.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from models import parsers as p
from models.parsers import ParseError
from models.types import TaskName

EMPTY_THINK = "<think>\n\n</think>\n\n"

Parser = Callable[[str], object]

PARSERS: dict[str, Parser] = {
    "rads_assignment": p.parse_rads,
    "impression_generation": lambda t: p.parse_text("impression_generation", t),
    "temporal_comparison": p.parse_temporal,
    "radiology_ner": p.parse_entities,
    "n_staging": p.parse_n_stage,
    "m_staging": p.parse_m_stage,
    "radiology_nli": p.parse_nli,
    "abnormality_detection": p.parse_chexpert,
    "radiology_qa": lambda t: p.parse_text("radiology_qa", t),
}

_CHEX_ANSWER = "\n".join(
    f"- {name}: {'positive' if key in ('pleural effusion', 'support devices') else 'negative'}"
    for key, name in p.CHEXPERT_DISPLAY.items()
)

# One well-formed answer per task, and a different well-formed answer used as a decoy inside
# a think block (the think content must never become the answer).
ANSWERS: dict[str, tuple[str, str]] = {
    "rads_assignment": ("BI-RADS 4A", "BI-RADS 2"),
    "impression_generation": ("1. Small left pleural effusion.\n2. No pneumothorax.", "Normal chest."),
    "temporal_comparison": ("- [Worsened] increased (related to: left pleural effusion)\n"
                            "- [No Change] stable (related to: cardiomegaly)",
                            "- [Resolved] resolved (related to: pneumothorax)"),
    "radiology_ner": ("Anatomy: left lung; heart\nObservation (Present): pleural effusion\n"
                      "Observation (Absent): pneumothorax", "Anatomy: liver"),
    "n_staging": ("Positive. N staging: N2", "Negative"),
    "m_staging": ("M1", "M0"),
    "radiology_nli": ("contradiction", "entailment"),
    "abnormality_detection": (_CHEX_ANSWER, "- Edema: uncertain"),
    "radiology_qa": ("The effusion is on the left and has increased since the prior study.", "Right."),
}
assert set(ANSWERS) == {t.value for t in TaskName} == set(PARSERS)

# Wrappers around a well-formed answer that generation produces and that must not change it.
_SAME_VALUE: dict[str, Callable[[str, str], str]] = {
    "empty_think": lambda a, d: EMPTY_THINK + a,
    "think_with_decoy_answer": lambda a, d: f"<think>\nThe report suggests:\n{d}\nLet me check again.\n</think>\n\n{a}",
    "think_after_leading_whitespace": lambda a, d: f"\n  <think>\n\n</think>\n\n{a}",
    "trailing_im_end": lambda a, d: a + "<|im_end|>",
    "trailing_endoftext": lambda a, d: a + "<|endoftext|>",
    "im_end_then_next_turn": lambda a, d: f"{a}<|im_end|>\n<|im_start|>user\n{d}<|im_end|>",
    "think_and_im_end": lambda a, d: f"{EMPTY_THINK}{a}\n<|im_end|>",
}

# Wrappers that make any answer malformed.
_MALFORMED: dict[str, Callable[[str, str], str]] = {
    "unclosed_think": lambda a, d: f"<think>\nThe answer is\n{a}",
    "think_closed_only": lambda a, d: f"</think>\n\n{a}",
    "two_think_blocks": lambda a, d: f"{EMPTY_THINK}<think>\n{d}\n</think>\n{a}",
    "think_after_answer": lambda a, d: f"{a}\n<think>\n\n</think>",
    "new_turn_without_end": lambda a, d: f"{a}\n<|im_start|>assistant\n{d}",
    "only_think": lambda a, d: f"<think>\n{a}\n</think>\n\n",
    "only_end_token": lambda a, d: "<|im_end|>",
    "end_token_before_answer": lambda a, d: f"<|endoftext|>{a}",
}


@pytest.mark.parametrize("wrap", list(_SAME_VALUE), ids=str)
@pytest.mark.parametrize("task", list(ANSWERS), ids=str)
def test_think_blocks_and_end_tokens_leave_the_answer_unchanged(task: str, wrap: str) -> None:
    answer, decoy = ANSWERS[task]
    parse = PARSERS[task]
    expected = parse(answer)
    assert parse(decoy) != expected  # the decoy is a different answer: picking it up would show
    assert parse(_SAME_VALUE[wrap](answer, decoy)) == expected


@pytest.mark.parametrize("wrap", list(_MALFORMED), ids=str)
@pytest.mark.parametrize("task", list(ANSWERS), ids=str)
def test_broken_think_blocks_and_special_tokens_are_errors(task: str, wrap: str) -> None:
    answer, decoy = ANSWERS[task]
    with pytest.raises(ParseError) as err:
        PARSERS[task](_MALFORMED[wrap](answer, decoy))
    assert err.value.task == task
    assert err.value.reason


# ---- RADS --------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "label"), [
    ("BI-RADS: 4A", "BI-RADS 4A"),
    ("BI-RADS 4A.", "BI-RADS 4A"),
    ("bi-rads 4c", "BI-RADS 4C"),
    ("BIRADS 0", "BI-RADS 0"),
    ("BI RADS 6", "BI-RADS 6"),
    ("BI-RADS Category 3", "BI-RADS 3"),
    ("'BI-RADS 4'", "BI-RADS 4"),
    ('"PI-RADS 3"', "PI-RADS 3"),
    ("`TI-RADS 5`", "TI-RADS TR5"),
    ("**BI-RADS 5**", "BI-RADS 5"),
    ("*PI-RADS 4*", "PI-RADS 4"),
    ("BI-RADS **4B**", "BI-RADS 4B"),
    ("**Lung-RADS 4X**.", "Lung-RADS 4X"),
    ("Lung-RADS 4x", "Lung-RADS 4X"),
    ("LUNG-RADS 2", "Lung-RADS 2"),
    ("Lung RADS 4A", "Lung-RADS 4A"),
    ("LR-5", "LR-5"),
    ("lr-5.", "LR-5"),
    ("LR-TIV", "LR-TIV"),
    ("LR-M", "LR-M"),
    ("LR-TR Nonviable", "LR-TR Nonviable"),
    ("LR-TR non-viable", "LR-TR Nonviable"),
    ("LI-RADS LR-4", "LR-4"),
    ("LI-RADS 3", "LR-3"),
    ("TI-RADS TR 4", "TI-RADS TR4"),
    ("TI-RADS TR4", "TI-RADS TR4"),
    ("TI-RADS TR-2", "TI-RADS TR2"),
    ("TI-RADS 1", "TI-RADS TR1"),
    ("CAD-RADS N", "CAD-RADS N"),
    ("CAD-RADS 4b", "CAD-RADS 4B"),
    ("NI-RADS 2b", "NI-RADS 2b"),
    ("VI-RADS 5", "VI-RADS 5"),
    ("O-RADS 0", "O-RADS 0"),
    ("GB-RADS 3\n", "GB-RADS 3"),
    ("No applicable RADS.", "No applicable RADS"),
    ("NO APPLICABLE RADS", "No applicable RADS"),
    ("'No applicable RADS'", "No applicable RADS"),
])
def test_rads_printed_variants(text: str, label: str) -> None:
    assert p.parse_rads(text).label == label


@pytest.mark.parametrize("text", [
    "TR4",                          # bare TI-RADS level: no system printed
    "TR 4",
    "Answer: BI-RADS 4",            # lead-ins the contract never shows
    "RADS category: PI-RADS 3",
    "None applicable",              # only "No applicable RADS" is a printed form
    "N/A",
    "Not applicable",
    "BI-RADS 4 (suspicious)",
    "BI-RADS IV",
    "LR-TR",                        # treatment response without its class
    "LR-5a",
    "'BI-RADS 4",                   # unbalanced quote
    "BI-RADS 3\n\nProbably benign finding, short-interval follow-up.",
    "CAD-RADS 6",
    "NI-RADS 2c",
])
def test_rads_rejects_what_the_contract_never_prints(text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_rads(text)
    assert err.value.task == "rads_assignment"


# ---- N and M staging ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "involved", "stage"), [
    ("positive", True, None),
    ("Positive.", True, None),
    ("positive\nN staging: N2", True, "N2"),
    ("Positive\n\nN staging: N3", True, "N3"),
    ("Positive. N staging: N2b", True, "N2"),
    ("Positive. N staging: N1a.", True, "N1"),
    ("POSITIVE; N STAGE: N3c", True, "N3"),
    ("Positive, N-staging: N1", True, "N1"),
    ("Negative.", False, "N0"),
    ("negative\nN staging: N0", False, "N0"),
    ("**Positive**. N staging: **N2**", True, "N2"),
    ("Lymph node involvement: Negative. N staging: N0", False, "N0"),
    ("<think>\nEnlarged nodes: Positive. N staging: N2\n</think>\n\nNegative", False, "N0"),
])
def test_n_stage_printed_variants(text: str, involved: bool, stage: str | None) -> None:
    v = p.parse_n_stage(text)
    assert (v.involvement, v.stage) == (involved, stage)


@pytest.mark.parametrize("text", [
    "N2b",                                  # a stage without the involvement answer
    "Negative\nN staging: N2",              # contradicts itself: no guess
    "negative. N staging: N1",
    "Positive. N staging:",                 # cut before the stage
    "Positive. N staging: N1mi",
    "Indeterminate",
    "Positive/Negative",
    "Positive. N staging: N2\n\nRadiology Report: Liver: Normal.",
    "Positive (N1)",
])
def test_n_stage_rejects(text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_n_stage(text)
    assert err.value.task == "n_staging"


@pytest.mark.parametrize(("text", "stage"), [
    ("M1", "M1"), ("M1a", "M1"), ("m1c.", "M1"), ("M1d", "M1"), (" M0", "M0"), ("M staging: M1a", "M1"),
    ("**M0**", "M0"), ("'M1'", "M1"),
])
def test_m_stage_printed_variants(text: str, stage: str) -> None:
    assert p.parse_m_stage(text).stage == stage


@pytest.mark.parametrize("text", ["Mx", "M staging: MX", "M1e", "cM1", "M0 (no distant metastases)", "M 1", "M0/M1"])
def test_m_stage_rejects(text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_m_stage(text)
    assert err.value.task == "m_staging"


# ---- NLI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "label"), [
    ("ENTAILMENT", "entailment"), ("Neutral", "neutral"), ("contradiction.", "contradiction"),
    ("Entailed", "entailment"), ("contradicted.", "contradiction"), ("'neutral'", "neutral"),
    ("**Contradiction**", "contradiction"), ("neutral\n", "neutral"),
])
def test_nli_printed_variants(text: str, label: str) -> None:
    assert p.parse_nli(text).label == label


@pytest.mark.parametrize("text", [
    "entailment. The premise states a small effusion.",       # the contract prints the label only
    "Contradiction - the premise says no pneumothorax",
    "neutral: the premise does not mention the heart, so not a contradiction",
    "entailment\ncontradiction",
    "Label: neutral",
    "The hypothesis is entailed.",
])
def test_nli_rejects_anything_after_the_label(text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_nli(text)
    assert err.value.task == "radiology_nli"


# ---- abnormality detection -----------------------------------------------------------------


def _fourteen(bullet: Callable[[int], str], values: dict[str, str] | None = None) -> str:
    values = values or {}
    return "\n".join(f"{bullet(i)}{name}: {values.get(key, 'negative')}"
                     for i, (key, name) in enumerate(p.CHEXPERT_DISPLAY.items()))


@pytest.mark.parametrize(("bullet"), [
    lambda i: "* ",
    lambda i: "\u2022 ",
    lambda i: "\u2013 ",
    lambda i: f"{i + 1}. ",
    lambda i: f"{i + 1}) ",
    lambda i: " " * (i % 3) + "- ",
    lambda i: "",
    lambda i: "- **",                     # "- **Atelectasis**: negative" after closing the bold below
], ids=["star", "bullet", "en_dash", "numbered", "numbered_paren", "indented", "no_bullet", "bold"])
def test_chexpert_bullet_styles(bullet: Callable[[int], str]) -> None:
    text = _fourteen(bullet, {"cardiomegaly": "Positive", "pneumonia": "UNCERTAIN"})
    if bullet(0) == "- **":
        text = text.replace(":", "**:")
    v = p.parse_chexpert(text)
    assert len(v.labels) == 14
    assert v.labels["cardiomegaly"] == "positive" and v.labels["pneumonia"] == "uncertain"
    assert v.labels["edema"] == "negative"


def test_chexpert_missing_labels_stay_absent_and_same_value_repeats_are_one() -> None:
    v = p.parse_chexpert("- Cardiomegaly: positive\n- Pleural Effusion: negative.\n\n- cardiomegaly: Positive")
    assert v.labels == {"cardiomegaly": "positive", "pleural effusion": "negative"}


@pytest.mark.parametrize("text", [
    "- Atelectasis: 1\n- Cardiomegaly: 0",                   # numeric CheXpert codes: not a printed form
    "- Edema: -1",
    "- Pneumothorax: positive\n- pneumothorax: uncertain",  # conflicting repeat
    "- Support Device: positive",                           # not one of the 14 labels
    "- Nodule: positive",
    "- Atelectasis: negative (no collapse)",
    "- Atelectasis -- negative",
    "Findings:\n- Edema: positive",
    "- Edema:",
    "- Edema: present",
])
def test_chexpert_rejects(text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_chexpert(text)
    assert err.value.task == "abnormality_detection"


# ---- NER -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("- Anatomy: right lower lobe; pleura\n- Observation (Present): consolidation",
     {"anatomy": ["right lower lobe", "pleura"], "present": ["consolidation"]}),
    ("* Anatomy: heart\n  * Observation (Absent): pneumothorax; effusion",
     {"anatomy": ["heart"], "absent": ["pneumothorax", "effusion"]}),
    ("Anatomy: left lower lobe, superior segment; hilum, left\nObservation (Present): nodule, 6 mm, solid",
     {"anatomy": ["left lower lobe, superior segment", "hilum, left"], "present": ["nodule, 6 mm, solid"]}),
    ("Anatomy: liver\nObservation (Present): None\nObservation (Absent): none.\nObservation (Uncertain): N/A",
     {"anatomy": ["liver"]}),
    ("Anatomy: kidney\nObservation (Uncertain):\nChange: -", {"anatomy": ["kidney"]}),
    ("**Anatomy:** aorta; **celiac axis**\n**Observation (Present):** dissection",
     {"anatomy": ["aorta", "celiac axis"], "present": ["dissection"]}),
    ("Observation(Present): mass\nObservation( Absent ): adenopathy",
     {"present": ["mass"], "absent": ["adenopathy"]}),
    ("ANATOMY: Spleen\nOBSERVATION (UNCERTAIN): Splenic infarct\nChange Indicators: new; enlarging",
     {"anatomy": ["Spleen"], "uncertain": ["Splenic infarct"], "changes": ["new", "enlarging"]}),
    ("Anatomy: lung; lung.\nAnatomy: heart; lung", {"anatomy": ["lung", "heart"]}),
    ("Observation (Present): effusion: small, layering", {"present": ["effusion: small, layering"]}),
])
def test_entities_layouts(text: str, expected: dict[str, list[str]]) -> None:
    v = p.parse_entities(text)
    got = {k: getattr(v, k) for k in ("anatomy", "present", "absent", "uncertain", "changes") if getattr(v, k)}
    assert got == expected


@pytest.mark.parametrize("text", [
    "Anatomy:\n- left lung\n- heart",                 # items as bullets under a heading: not the printed layout
    "Observations (Present): effusion",
    "Findings: effusion",
    "1. Anatomy: lung",
    "The left lung shows an effusion.",
    "Anatomy - lung; heart",
])
def test_entities_reject(text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_entities(text)
    assert err.value.task == "radiology_ner"


# ---- temporal ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("- [New Finding] new (related to: right upper lobe nodule).",
     [("right upper lobe nodule", "new", "new")]),
    ("- [NEW FINDING] new (Related To: left lower lobe (LLL) consolidation)",
     [("left lower lobe (LLL) consolidation", "new", "new")]),
    ("- [Unchanged] stable (related to: 4 mm nodule, right middle lobe)",
     [("4 mm nodule, right middle lobe", "unchanged", "stable")]),
    ("* [Improved] decreased (related to: pulmonary edema)\n\n\u2022 [Resolved] resolved (related to: pneumothorax)",
     [("pulmonary edema", "improved", "decreased"), ("pneumothorax", "resolved", "resolved")]),
    ("- [Worsened] enlarging (related to mediastinal adenopathy)",
     [("mediastinal adenopathy", "worsened", "enlarging")]),
    ("- [Stable] (related to: cardiomegaly)", [("cardiomegaly", "unchanged", None)]),
    ("   - [No Change] unchanged (related to: ETT position)", [("ETT position", "unchanged", "unchanged")]),
    ("- [Worsening] increased (related to: right effusion)", [("right effusion", "worsened", "increased")]),
    ("No changes.", []),
])
def test_temporal_layouts(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    v = p.parse_temporal(text)
    assert [(c.finding, c.change, c.cue) for c in v.changes] == expected


@pytest.mark.parametrize("text", [
    "- [Progressed] increased (related to: mass)",          # not one of the five classes
    "- [Increased] (related to: effusion)",
    "- [Decreased] smaller (related to: node)",
    "- [Partially Resolved] decreased (related to: effusion)",
    "- [New Finding] new (related to: nodule) and [Worsened] increased (related to: effusion)",
    "- [New Finding] new (related to: nodule",               # unclosed: no half-read finding
    "1. [New Finding] new (related to: nodule)",
    "Temporal changes:\n- [New Finding] new (related to: nodule)",
    "No significant interval change.",
    "- [] new (related to: nodule)",
    "- [No Change] stable (related to: )",
    "- [Worsened] increased related to: effusion",
])
def test_temporal_rejects(text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_temporal(text)
    assert err.value.task == "temporal_comparison"


# ---- free text -------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["impression_generation", "radiology_qa"])
@pytest.mark.parametrize(("text", "kept"), [
    ("  No acute cardiopulmonary process.  <|im_end|>", "No acute cardiopulmonary process."),
    ("<think>\nThe effusion is small.\n</think>\n\n1. Small right effusion.\n\n2. No pneumothorax.<|endoftext|>",
     "1. Small right effusion.\n\n2. No pneumothorax."),
    ("Nodule <6 mm; no follow-up needed per Fleischner 2017.", "Nodule <6 mm; no follow-up needed per Fleischner 2017."),
    ("**Impression:** Stable **4 mm** nodule.", "**Impression:** Stable **4 mm** nodule."),
    ("Answer: Yes, there is a left-sided pneumothorax.", "Answer: Yes, there is a left-sided pneumothorax."),
])
def test_free_text_is_kept_verbatim(task: str, text: str, kept: str) -> None:
    assert p.parse_text(task, text).text == kept


@pytest.mark.parametrize("task", ["impression_generation", "radiology_qa"])
@pytest.mark.parametrize("text", ["", " \n ", EMPTY_THINK, EMPTY_THINK + "<|im_end|>", "<|endoftext|>",
                                  "Impression text <|file_sep|> more"])
def test_free_text_empty_or_tokens_only_is_an_error(task: str, text: str) -> None:
    with pytest.raises(ParseError) as err:
        p.parse_text(task, text)
    assert err.value.task == task


# ---- the early stop agrees with the parsers ---------------------------------------------------


_LINE_SHAPED_OK = {
    "temporal_comparison": [
        "- [New Finding] new (related to: right upper lobe nodule).",
        "- [NEW FINDING] new (Related To: left lower lobe (LLL) consolidation)",
        "- [Worsened] enlarging (related to mediastinal adenopathy)",
        EMPTY_THINK + "- [Improved] decreased (related to: edema)<|im_end|>",
    ],
    "radiology_ner": [
        "**Anatomy:** aorta; **celiac axis**\n**Observation (Present):** dissection",
        "Observation(Present): mass\nObservation( Absent ): adenopathy",
        "Anatomy: kidney\nObservation (Uncertain):\nChange: -",
        EMPTY_THINK + "Anatomy: liver; spleen<|im_end|>",
    ],
}


@pytest.mark.parametrize(("task", "out"), [(t, o) for t, outs in _LINE_SHAPED_OK.items() for o in outs])
def test_early_stop_never_cuts_an_accepted_round5_answer(task: str, out: str) -> None:
    from models.backends.llama import viable_lines
    from models.catalog import CATALOG

    spec = CATALOG[TaskName(task)]
    spec.parse(out)
    ok = viable_lines(spec)
    cut = [i for i in range(1, len(out) + 1) if not ok(out[:i])]
    assert cut == [], out[: cut[0]] if cut else ""
