"""models.evaluation, round 5: unseen label shapes scored to numbers worked out by hand.

A fixed runner answers each case; every expectation below is computed from the rules of
docs/rules.md ("Evaluation") and the contract's severity classes (exact / overcall /
undercall / other, plus abstain), on systems and categories the dev set does not hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from models.evaluation import RADS_ALL, RADS_APPLICABLE, RADS_INFERRED, RADS_NONE, RADS_STATED, evaluate
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


def _row(rid: str, findings: str, labels: dict[str, Any], impression: str | None = None) -> dict[str, Any]:
    return {"id": rid, "modality": "CT", "procedure": None, "findings": findings, "impression": impression,
            "prior": None, "labels": labels}


ROWS: list[dict[str, Any]] = [
    # RADS on systems and categories the dev set lacks (GB-RADS 3, VI-RADS 4, NI-RADS 2b, O-RADS 0, CAD-RADS 3/P2)
    _row("g1", "Gallbladder wall thickened to 7 mm with intramural echogenic foci and twinkling artefact.",
         {"rads": {"system": "GB-RADS", "category": "3", "stated": False}, "BIRADS_density": "c"}),
    _row("v1", "Sessile 3 cm tumour of the right lateral wall; the low-signal muscle line is interrupted.",
         {"rads": {"system": "vi-rads", "category": "4", "stated": "yes"}}),
    _row("ni1", "Post-chemoradiation neck: ill-defined enhancement at the primary site, mild FDG uptake.",
         {"rads": {"system": "NI-RADS", "category": "2B", "stated": True}}),
    _row("o1", "Adnexa incompletely seen because of bowel gas; recommend repeat ultrasound.",
         {"rads": {"system": "O-RADS", "category": "0", "stated": True}}),
    _row("cad1", "Mid LAD 50-69% stenosis with a partially calcified plaque; 2 vessels with plaque.",
         {"rads": {"system": "CAD-RADS", "category": "3/P2", "stated": True}}),
    _row("none1", "Uncomplicated acute appendicitis. No abscess.", {"rads": "None applicable"}),
    _row("none2", "Normal unenhanced head CT.", {"rads": None}),
    _row("bad1", "Colon: 2 cm polyp.", {"rads": {"system": "C-RADS", "category": "C2", "stated": True}}),
    # staging: labels with prefixes, subdivisions, a capitalised key and an NX that cannot be scored
    _row("st1", "Rectal adenocarcinoma with six mesorectal nodes and liver and lung metastases.",
         {"N_Stage": "pN2b", "M_Stage": "M1c"}),
    _row("st2", "Breast cancer with a single axillary micrometastasis; no distant disease.",
         {"n_stage": "N1mi", "m_stage": "MX"}),
    _row("st3", "Pancreatic head mass. No regional lymphadenopathy.", {"n_stage": "cN0"}),
    # CheXpert with CSV-style values and mixed-case names
    _row("cx1", "Moderate right effusion. Heart size at the upper limit. Right PICC tip in the SVC.",
         {"chexpert": {"Pleural Effusion": 1, "Cardiomegaly": "-1", "Support_Devices": "present"}}),
    # temporal with a synonym change class
    _row("tm1", "Improving right lower lobe consolidation. Left pleural effusion unchanged.",
         {"temporal": [{"finding": "right lower lobe consolidation", "change": "improved"},
                       {"finding": "left pleural effusion", "change": "stable"}]}),
    # impression: the only row with both sections
    _row("im1", "Heart and lungs are normal.", {}, impression="No acute cardiopulmonary process."),
    # critical and laterality
    _row("cr1", "Filling defect in the left lower lobe segmental artery.",
         {"critical": ["Pulmonary Embolism"], "laterality": "Left"}),
    _row("cr2", "Bilateral lower lobe atelectasis.", {"critical": [], "laterality": "both"}),
    _row("cr3", "Stable midline sternotomy wires.", {"critical": None, "laterality": "midline"}),
]
NLI_ROWS = [
    {"id": "nli1", "premise": "Small left apical pneumothorax.", "hypothesis": "There is air in the pleural space.",
     "label": "Entail"},
    {"id": "nli2", "premise": "The lungs are clear.", "hypothesis": "There is a lobar pneumonia.",
     "label": "contradict"},
]

RADS = {
    "g1": RadsValue(system="GB-RADS", category="2"),  # undercall of 3
    "v1": RadsValue(system="VI-RADS", category="5"),  # overcall of 4
    "ni1": RadsValue(system="NI-RADS", category="2b"),  # exact
    "o1": RadsValue(system="O-RADS", category="3"),  # O-RADS 0 is incomplete: other
    "none1": RadsValue(system="BI-RADS", category="2"),  # a category on a no-RADS report
    # cad1 and none2: abstain
}
OTHER: dict[tuple[str, TaskName], Any] = {
    ("st1", TaskName.n_staging): NStageValue(involvement=True, stage="N2"),
    ("st1", TaskName.m_staging): MStageValue(stage="M1"),
    ("st2", TaskName.n_staging): NStageValue(involvement=True),  # involvement only: right only for N0
    ("st3", TaskName.n_staging): NStageValue(involvement=False),
    ("cx1", TaskName.abnormality_detection): ChexpertValue(labels={
        "pleural effusion": "positive", "cardiomegaly": "positive", "support devices": "positive",
        "no finding": "negative", "edema": "negative"}),
    ("tm1", TaskName.temporal_comparison): TemporalValue(changes=[
        TemporalChange(finding="RLL consolidation", change="improved"),
        TemporalChange(finding="left effusion", change="unchanged"),
        TemporalChange(finding="pneumothorax", change="new")]),
    ("im1", TaskName.impression_generation): TextValue(text="No acute process."),
    ("nli1", TaskName.radiology_nli): NliValue(label="entailment"),
    ("nli2", TaskName.radiology_nli): NliValue(label="neutral"),
}
FACTS = {
    "cr1": ReportFacts(critical=[CriticalFinding(term="pulmonary embolism"), CriticalFinding(term="aortic dissection")],
                       laterality="left"),
    "cr2": ReportFacts(laterality="bilateral"),
    "cr3": ReportFacts(laterality="right"),
}


def _fixed(request: TaskRequest) -> TaskResult | None:
    rid = request.report.report_id
    value = RADS.get(rid) if request.task == TaskName.rads_assignment else OTHER.get((rid, request.task))
    return None if value is None else TaskResult(task=request.task, value=value, confidence=1.0, model=RULES_IDENTITY)


def _facts(report: RadiologyReport) -> ReportFacts:
    return FACTS.get(report.report_id, ReportFacts())


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("r5") / "unseen.jsonl"
    lines = [json.dumps(r) for r in ROWS + NLI_ROWS]
    path.write_bytes(("\ufeff\r\n" + "\r\n".join(lines[:8]) + "\r\n\r\n" + "\n".join(lines[8:])).encode("utf-8"))
    return evaluate(path, runners={"fixed": _fixed}, facts={"fixed": _facts}, progress=False).as_dict()


def _s(d: dict[str, Any], group: str) -> tuple[int, int, float]:
    s = d["scores"][group]["fixed"]
    return s["n"], s["answered"], s["score"]


def test_rads_rows_per_system_and_severity_profile(scored: dict[str, Any]) -> None:
    # 7 RADS cases (C-RADS is skipped): only ni1 is right; cad1 and none2 abstain
    assert _s(scored, RADS_ALL) == (7, 5, pytest.approx(1 / 7))
    assert _s(scored, RADS_APPLICABLE) == (5, 4, pytest.approx(1 / 5))
    assert _s(scored, RADS_STATED) == (4, 3, pytest.approx(1 / 4))  # v1 ("yes"), ni1, o1, cad1
    assert _s(scored, RADS_INFERRED) == (1, 1, 0.0)  # g1
    assert _s(scored, RADS_NONE) == (2, 1, 0.0)
    assert {k: v["fixed"]["accuracy"] for k, v in scored["per_system"].items()} == {
        "GB-RADS": 0.0, "VI-RADS": 0.0, "NI-RADS": 1.0, "O-RADS": 0.0, "CAD-RADS": 0.0}
    assert scored["severity"]["fixed"] == {"undercall": 1, "overcall": 1, "exact": 1, "other": 1, "abstain": 1}
    assert scored["no_rads"]["fixed"] == {"rads": 1, "abstain": 1}


def test_staging_chexpert_temporal_impression_nli(scored: dict[str, Any]) -> None:
    assert _s(scored, "n_staging") == (3, 3, pytest.approx(2 / 3))  # st2 said involvement only for N1
    assert _s(scored, "m_staging") == (1, 1, 1.0)  # MX is skipped, M1c -> M1
    assert _s(scored, "abnormality_detection") == (1, 1, pytest.approx(13 / 14))  # cardiomegaly -1 = uncertain
    assert scored["chexpert_labels"]["cardiomegaly"]["fixed"] == 0.0
    assert scored["chexpert_labels"]["no finding"]["fixed"] == 1.0  # derived "negative": effusion is positive
    assert _s(scored, "temporal_comparison") == (1, 1, pytest.approx(2 / 3))  # 2 matched / (3 + 2 - 2)
    assert _s(scored, "impression_generation") == (1, 1, pytest.approx(6 / 7))  # LCS 3: P 1, R 3/4
    assert _s(scored, "radiology_nli") == (2, 2, 0.5)  # "Entail" and "contradict" read as labels


def test_critical_and_laterality(scored: dict[str, Any]) -> None:
    assert _s(scored, "critical") == (3, 3, pytest.approx(2 / 3))  # cr1 flags one term too many
    assert scored["critical_terms"]["fixed"] == {"tp": 1, "fp": 1, "fn": 0, "precision": 0.5, "recall": 1.0,
                                                 "f1": pytest.approx(2 / 3)}
    assert _s(scored, "laterality") == (3, 3, pytest.approx(2 / 3))  # midline is null; the runner said right


def test_skips_and_unknown_label_keys_are_listed(scored: dict[str, Any]) -> None:
    skipped = {(s["id"], s["what"]) for s in scored["skipped"]}
    assert skipped == {("bad1", "rads"), ("st2", "m_stage")}
    assert scored["unknown_labels"] == {"birads_density": 1}
    assert scored["lines"] == len(ROWS) + len(NLI_ROWS)


def test_precision_and_recall_are_undefined_when_nothing_is_flagged_or_labelled(tmp_path: Path) -> None:
    path = tmp_path / "quiet.jsonl"
    path.write_text(json.dumps(_row("q1", "Normal chest radiograph.", {"critical": []})) + "\n", encoding="utf-8")
    report = evaluate(path, runners={}, facts={"fixed": _facts}, progress=False)
    d = report.as_dict()
    assert d["critical_terms"]["fixed"] == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None, "f1": None}
    assert _s(d, "critical") == (1, 1, 1.0)
    console = Console(record=True, width=120)
    report.render(console)
    row = next(line for line in console.export_text().splitlines() if line.strip().startswith("│ fixed"))
    assert [cell.strip() for cell in row.split("│")[1:-1]] == ["fixed", "0", "0", "0", "-", "-", "-"]


def test_unknown_label_keys_are_named_under_the_tables(tmp_path: Path) -> None:
    path = tmp_path / "extra.jsonl"
    rows = [_row("e1", "Left breast 1 cm oval circumscribed mass.",
                 {"rads": {"system": "BI-RADS", "category": "3", "stated": False}, "ner": ["breast"], "T_stage": "T1"}),
            {"id": "e2", "findings": "Right lobe 2 cm TR4 nodule.", "rads": "TI-RADS TR4", "laterality": "right"}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    report = evaluate(path, runners={"fixed": _fixed}, progress=False)
    console = Console(record=True, width=200)
    report.render(console)
    text = console.export_text()
    assert "not scored" in text and "ner (1 line(s))" in text and "t_stage (1 line(s))" in text
    assert "rads (outside labels) (1 line(s))" in text and "laterality (outside labels)" in text
    assert report.as_dict()["scores"]["rads_assignment"]["fixed"]["n"] == 1  # e2's misplaced label is not scored
