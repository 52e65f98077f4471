"""models.evaluation on small hand-made datasets: every metric pinned to a value computed by hand,
and odd-but-valid files (missing/null fields, other case, CRLF, BOM, U+2028, mixed lines) that
must be read, with what cannot be scored skipped and counted, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from models.evaluation import (
    RADS_ALL,
    RADS_APPLICABLE,
    RADS_INFERRED,
    RADS_NONE,
    RADS_STATED,
    DatasetError,
    evaluate,
    load_dataset,
    rads_outcome,
    rules_facts,
    rules_runner,
    temporal_jaccard,
)
from models.rules import RULES_IDENTITY
from models.types import (
    ChexpertValue,
    CriticalFinding,
    MStageValue,
    NliValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskRequest,
    TaskResult,
    TemporalChange,
    TemporalValue,
    TextValue,
)


def _row(rid: str, labels: dict[str, Any], impression: str | None = None) -> dict[str, Any]:
    return {"id": rid, "modality": "CT", "procedure": "CT", "findings": f"Findings of {rid}.", "impression": impression,
            "prior": None, "labels": labels}


ROWS = [
    _row("r1", {"rads": {"system": "BI-RADS", "category": "4A", "stated": True}, "n_stage": "cN1a", "m_stage": "M1c",
                "critical": [], "laterality": "Left"}),
    _row("r2", {"rads": {"system": "BI-RADS", "category": "4B", "stated": False}, "n_stage": "N0", "m_stage": "M0",
                "laterality": None}),
    _row("r3", {"rads": {"system": "Lung-RADS", "category": "3", "stated": True}, "n_stage": "N2",
                "laterality": "bilateral"}),
    _row("r4", {"rads": {"system": "CAD-RADS", "category": "3/P2", "stated": True}}),
    _row("r5", {"rads": None}),
    _row("r6", {"rads": "none applicable"}),
    _row("r7", {"rads": {"system": "li-rads", "category": "LR-5", "stated": True}}),
    _row("r8", {"rads": "LR-M"}),
    _row("r9", {"chexpert": {"Pleural Effusion": "positive", "no finding": "negative"}, "critical": ["pneumothorax"]}),
    _row("r10", {"temporal": [{"finding": "right lower lobe nodule", "change": "new"},
                              {"finding": "left pleural effusion", "change": "worsened"},
                              {"finding": "heart size", "change": "Stable"}],
                 "critical": ["pulmonary embolism"]}, impression="No acute cardiopulmonary disease."),
]

RADS_ANSWERS = {
    "r1": RadsValue(system="BI-RADS", category="4A"),  # exact
    "r2": RadsValue(system="BI-RADS", category="4A"),  # undercall (4A < 4B)
    "r3": RadsValue(system="Lung-RADS", category="4X"),  # overcall
    "r4": RadsValue(system="CAD-RADS", category="N"),  # other: non-diagnostic has no direction
    "r5": RadsValue(applicable=False),  # right: no RADS applies
    "r6": RadsValue(system="TI-RADS", category="TR3"),  # a RADS named on a no-RADS report
    "r7": RadsValue(system="LI-RADS", category="5"),  # exact: LI-RADS 5 = LR-5
    "r8": RadsValue(system="LI-RADS", category="LR-5"),  # other: LR-M vs LR-5 is another diagnosis
}
OTHER_ANSWERS: dict[tuple[str, TaskName], Any] = {
    ("r1", TaskName.n_staging): NStageValue(involvement=True, stage="N1"),
    ("r2", TaskName.n_staging): NStageValue(involvement=False),  # "Negative" alone is N0
    ("r3", TaskName.n_staging): NStageValue(involvement=True),  # "Positive" alone names no stage
    ("r1", TaskName.m_staging): MStageValue(stage="M1"),
    ("r2", TaskName.m_staging): MStageValue(stage="M1"),
    ("r9", TaskName.abnormality_detection): ChexpertValue(labels={"pleural effusion": "positive", "edema": "uncertain"}),
    ("r10", TaskName.temporal_comparison): TemporalValue(changes=[
        TemporalChange(finding="left lower lobe nodule", change="new"),  # side conflicts with the gold
        TemporalChange(finding="pleural effusion", change="worsened"),
        TemporalChange(finding="cardiomegaly", change="unchanged"),
        TemporalChange(finding="Pleural effusion", change="worsened"),  # a repeat counts once
    ]),
    ("r10", TaskName.impression_generation): TextValue(text="No acute disease."),
}
FACTS = {
    "r1": ReportFacts(laterality="left"),
    "r2": ReportFacts(),
    "r3": ReportFacts(laterality="right"),
    "r9": ReportFacts(critical=[CriticalFinding(term="tension pneumothorax")]),
    "r10": ReportFacts(critical=[CriticalFinding(term="pulmonary embolism"),
                                 CriticalFinding(term="spinal cord compression")]),  # outside the label vocabulary
}


def _fixed(request: TaskRequest) -> TaskResult | None:
    rid = request.report.report_id
    value = RADS_ANSWERS.get(rid) if request.task == TaskName.rads_assignment else OTHER_ANSWERS.get((rid, request.task))
    return None if value is None else TaskResult(task=request.task, value=value, confidence=1.0, model=RULES_IDENTITY)


def _facts(report: RadiologyReport) -> ReportFacts:
    return FACTS.get(report.report_id, ReportFacts())


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("hand") / "hand.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    return evaluate(path, runners={"fixed": _fixed}, facts={"fixed": _facts}, progress=False).as_dict()


def _s(d: dict[str, Any], group: str) -> dict[str, Any]:
    return d["scores"][group]["fixed"]


def test_rads_accuracy_counts_no_rads_labels_as_a_class(hand: dict[str, Any]) -> None:
    assert _s(hand, RADS_ALL)["n"] == 8 and _s(hand, RADS_ALL)["score"] == pytest.approx(3 / 8)  # r1, r5, r7
    assert _s(hand, RADS_APPLICABLE)["n"] == 6 and _s(hand, RADS_APPLICABLE)["score"] == pytest.approx(2 / 6)
    assert _s(hand, RADS_STATED)["n"] == 4 and _s(hand, RADS_STATED)["score"] == pytest.approx(2 / 4)  # r1 r3 r4 r7
    assert _s(hand, RADS_INFERRED)["n"] == 1 and _s(hand, RADS_INFERRED)["score"] == 0
    assert _s(hand, RADS_NONE)["n"] == 2 and _s(hand, RADS_NONE)["score"] == pytest.approx(0.5)
    # r8's stated is unknown (a string label): it counts in the headline rows only
    assert _s(hand, RADS_APPLICABLE)["n"] == _s(hand, RADS_STATED)["n"] + _s(hand, RADS_INFERRED)["n"] + 1


def test_per_system_accuracy_is_over_the_systems_applicable_cases(hand: dict[str, Any]) -> None:
    acc = {sys: (v["fixed"]["n"], v["fixed"]["accuracy"]) for sys, v in hand["per_system"].items()}
    assert acc == {"BI-RADS": (2, 0.5), "Lung-RADS": (1, 0.0), "CAD-RADS": (1, 0.0), "LI-RADS": (2, 0.5)}


def test_severity_profile_and_no_rads_answers(hand: dict[str, Any]) -> None:
    assert hand["severity"]["fixed"] == {"exact": 2, "undercall": 1, "overcall": 1, "other": 2}
    assert hand["no_rads"]["fixed"] == {"none": 1, "rads": 1}


def test_staging_accuracy(hand: dict[str, Any]) -> None:
    assert _s(hand, "n_staging")["n"] == 3 and _s(hand, "n_staging")["score"] == pytest.approx(2 / 3)
    assert _s(hand, "m_staging")["n"] == 2 and _s(hand, "m_staging")["score"] == pytest.approx(1 / 2)


def test_chexpert_per_label_accuracy(hand: dict[str, Any]) -> None:
    assert _s(hand, "abnormality_detection")["score"] == pytest.approx(13 / 14)  # edema uncertain vs not mentioned
    labels = hand["chexpert_labels"]
    assert labels["edema"]["fixed"] == 0.0 and labels["pleural effusion"]["fixed"] == 1.0
    assert labels["no finding"]["fixed"] == 1.0  # absent in the answer = negative = the label


def test_temporal_jaccard_loose_but_same_anatomy(hand: dict[str, Any]) -> None:
    # pred {LLL nodule/new, pleural effusion/worsened, cardiomegaly/unchanged}; 2 match -> 2 / (3 + 3 - 2)
    assert _s(hand, "temporal_comparison")["score"] == pytest.approx(0.5)


def test_impression_rouge_l(hand: dict[str, Any]) -> None:
    # gold "no acute cardiopulmonary disease", answer "no acute disease": LCS 3, P 3/3, R 3/4, F 6/7
    imp = _s(hand, "impression_generation")
    assert imp["n"] == 1 and imp["score"] == pytest.approx(6 / 7)


def test_critical_and_laterality(hand: dict[str, Any]) -> None:
    assert _s(hand, "critical")["n"] == 3 and _s(hand, "critical")["score"] == pytest.approx(2 / 3)
    assert hand["critical_terms"]["fixed"] == {"tp": 1, "fp": 1, "fn": 1, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert _s(hand, "laterality")["n"] == 3 and _s(hand, "laterality")["score"] == pytest.approx(2 / 3)
    assert hand["skipped"] == []


def test_nli_accuracy_with_other_key_names_and_case(tmp_path: Path) -> None:
    lines = [
        {"id": "n1", "premise": "No pneumothorax.", "hypothesis": "Pneumothorax.", "label": "Contradiction"},
        {"id": "n2", "sentence1": "Mild edema.", "sentence2": "Edema.", "gold_label": "ENTAILMENT"},
        {"id": "n3", "premise": "Possible pneumonia.", "hypothesis": "Pneumonia.", "label": "neutral"},
        {"id": "n4", "premise": "Clear lungs.", "hypothesis": "Edema.", "label": "contradiction"},
    ]
    path = tmp_path / "nli.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines))

    def answer(request: TaskRequest) -> TaskResult:
        label = "neutral" if request.report.report_id == "n4" else {"n1": "contradiction", "n2": "entailment",
                                                                    "n3": "neutral"}[request.report.report_id]
        return TaskResult(task=request.task, value=NliValue(label=label), confidence=1.0, model=RULES_IDENTITY)

    d = evaluate(path, runners={"fixed": answer}, progress=False).as_dict()
    assert d["scores"]["radiology_nli"]["fixed"]["n"] == 4
    assert d["scores"]["radiology_nli"]["fixed"]["score"] == pytest.approx(3 / 4)


@pytest.mark.parametrize(
    ("pred", "gold", "outcome"),
    [
        (RadsValue(system="Lung-RADS", category="4X"), RadsValue(system="Lung-RADS", category="4B"), "overcall"),
        (RadsValue(system="Lung-RADS", category="4A"), RadsValue(system="Lung-RADS", category="0"), "other"),
        (RadsValue(system="BI-RADS", category="4"), RadsValue(system="BI-RADS", category="4B"), "other"),
        (RadsValue(system="BI-RADS", category="2"), RadsValue(system="BI-RADS", category="0"), "other"),
        (RadsValue(system="BI-RADS", category="5"), RadsValue(system="BI-RADS", category="6"), "undercall"),
        (RadsValue(system="LI-RADS", category="LR-M"), RadsValue(system="LI-RADS", category="LR-3"), "overcall"),
        (RadsValue(system="LI-RADS", category="LR-TR Viable"), RadsValue(system="LI-RADS", category="LR-5"), "other"),
        (RadsValue(system="LI-RADS", category="LR-TR Nonviable"),
         RadsValue(system="LI-RADS", category="LR-TR Viable"), "undercall"),
        (RadsValue(system="TI-RADS", category="tr5"), RadsValue(system="TI-RADS", category="TR3"), "overcall"),
        (RadsValue(system="CAD-RADS", category="4B"), RadsValue(system="CAD-RADS", category="4A"), "overcall"),
        (RadsValue(system="CAD-RADS", category="N"), RadsValue(system="CAD-RADS", category="1"), "other"),
        (RadsValue(system="NI-RADS", category="2a"), RadsValue(system="NI-RADS", category="2b"), "undercall"),
        (RadsValue(system="bi-rads", category="4a"), RadsValue(system="BI-RADS", category="4A"), "exact"),
    ],
)
def test_severity_direction_per_system(pred: RadsValue, gold: RadsValue, outcome: str) -> None:
    assert rads_outcome(pred, gold) == outcome


def test_loose_temporal_matching_needs_same_anatomy() -> None:
    assert temporal_jaccard([("pericardial effusion", "new")], [("pleural effusion", "new")]) == 0
    assert temporal_jaccard([("RLL nodule", "new")], [("right upper lobe nodule", "new")]) == 0
    assert temporal_jaccard([("hepatic metastases", "new")], [("liver metastasis", "new")]) == 1
    assert temporal_jaccard([("effusion", "new")], [("left pleural effusion", "new")]) == 1
    # a maximum matching, not a greedy one: the first answer could take either gold pair
    gold = [("left pleural effusion", "new"), ("pleural effusion", "new")]
    assert temporal_jaccard([("pleural effusion", "new"), ("left pleural effusion", "new")], gold) == 1


# ---- odd but valid files -------------------------------------------------------------------


def _odd_file(path: Path) -> Path:
    rows: list[Any] = [
        {"id": "o1", "modality": "mg", "findings": "Scattered tissue.", "impression": "BI-RADS 1.", "extra": {"x": 1},
         "labels": {"rads": {"system": "bi-rads", "category": "1", "stated": True}, "unknown": 1}},
        {"id": "o2", "findings": "", "impression": "Right breast mass. BI-RADS 4.", "labels": {"rads": "bi-rads 4"}},
        {"id": "o3", "prior": "Only a prior report.", "labels": {"rads": None}},
        {"id": "o4", "findings": "Knötchen \u2028 結節", "impression": "Stable.",
         "labels": {"rads": None, "n_stage": "NX", "chexpert": {"edema": "maybe"}}},
        {"id": None, "findings": "Lungs clear.", "impression": "Normal.", "labels": None},
        {"premise": "No effusion.", "hypothesis": "Effusion.", "label": "contradiction"},
        {"foo": 1},
        [1, 2],
    ]
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    text = "\ufeff" + "\r\n".join(lines[:4]) + "\r\n\r\n  \n" + "\n".join(lines[4:])  # BOM, CRLF, blanks, no final LF
    path.write_bytes(text.encode("utf-8"))
    return path


def test_odd_file_is_read_and_what_cannot_be_scored_is_counted(tmp_path: Path) -> None:
    ds = load_dataset(_odd_file(tmp_path / "odd.jsonl"))
    assert ds.lines == 8
    by_id = {(c.case_id, c.request.task.value) for c in ds.cases}
    assert ("o1", "rads_assignment") in by_id and ("o2", "rads_assignment") in by_id
    assert ("o2", "impression_generation") not in by_id  # no findings to write an impression from
    assert ("o4", "rads_assignment") in by_id and ("line-7", "impression_generation") in by_id
    assert ("line-8", "radiology_nli") in by_id
    o4 = next(c for c in ds.cases if c.case_id == "o4" and c.request.task == TaskName.rads_assignment)
    assert "\u2028" in (o4.request.report.findings or "")  # not cut at the Unicode line separator
    reasons = {(s.line, s.what) for s in ds.skipped}
    assert reasons == {(3, "report"), (4, "n_stage"), (4, "chexpert"), (9, "line"), (10, "line")}
    report = evaluate(ds, runners={"rules": rules_runner()}, facts={"rules": rules_facts()}, progress=False)
    assert len(report.as_dict()["skipped"]) == 5


def test_invalid_json_names_every_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{not json\n" + json.dumps(ROWS[1]) + "\n[1,\n")
    with pytest.raises(DatasetError, match=r"line 2: .*line 4: "):
        load_dataset(path)


@pytest.mark.parametrize("data", [b"", b"\n  \r\n", b'{"foo": 1}\n', "{\"findings\": \"Kn\xf6tchen\"}".encode("latin-1")])
def test_unusable_files_are_a_dataset_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(data)
    with pytest.raises(DatasetError, match="nothing to score|not UTF-8"):
        load_dataset(path)


def test_a_runner_that_returns_garbage_abstains_with_an_error(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n")
    d = evaluate(path, runners={"odd": lambda request: {"not": "a result"}}, progress=False).as_dict()  # type: ignore[arg-type, return-value]
    assert d["scores"][RADS_ALL]["odd"] == {"n": 1, "answered": 0, "score": 0.0, "answered_score": None, "errors": 1}
