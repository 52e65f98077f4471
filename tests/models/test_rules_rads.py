"""Stated RADS categories: the dev set, every spelling of the ten systems, history and other-system quotes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.evaluation import _gold_rads
from models.rules import RulesEngine
from models.rules.rads import SEVERITY, find_mentions, severity_rank, stated_rads
from models.types import RADS_SYSTEMS, RadiologyReport, TaskName, TaskRequest


def _report(row: dict[str, Any]) -> RadiologyReport:
    return RadiologyReport(report_id=row["id"], modality=row["modality"], procedure=row["procedure"],
                           findings=row["findings"], impression=row["impression"], prior_text=row["prior"])


def _text(impression: str, procedure: str | None = None, modality: str | None = None, findings: str = "") -> RadiologyReport:
    return RadiologyReport(report_id="t", procedure=procedure, modality=modality, findings=findings or None,
                           impression=impression)


def test_every_stated_dev_category_is_found(dev_reports: dict[str, dict[str, Any]]) -> None:
    stated = {k: r for k, r in dev_reports.items() if r["labels"]["rads"] and r["labels"]["rads"]["stated"]}
    assert len(stated) >= 20
    for rid, row in stated.items():
        got = stated_rads(_report(row))
        label = row["labels"]["rads"]
        assert got is not None, rid
        assert (got.system, got.category) == (label["system"], label["category"]), rid


def test_no_category_invented_when_the_report_states_none(dev_reports: dict[str, dict[str, Any]]) -> None:
    others = [r for r in dev_reports.values() if not r["labels"]["rads"] or not r["labels"]["rads"]["stated"]]
    assert len(others) >= 20
    for row in others:
        assert stated_rads(_report(row)) is None, row["id"]


@pytest.mark.parametrize(
    ("text", "system", "category"),
    [
        ("BI-RADS 4A: low suspicion.", "BI-RADS", "4A"),
        ("BIRADS 4a", "BI-RADS", "4A"),
        ("BI-RADS category 4: suspicious.", "BI-RADS", "4"),
        ("ACR BI-RADS: 2 - benign.", "BI-RADS", "2"),
        ("BI-RADS® 4C", "BI-RADS", "4C"),
        ("BI-RADS category four", "BI-RADS", "4"),
        ("LR-5, definitely HCC.", "LI-RADS", "LR-5"),
        ("LI-RADS 5", "LI-RADS", "LR-5"),
        ("LI-RADS category LR-4", "LI-RADS", "LR-4"),
        ("LR-TR Viable", "LI-RADS", "LR-TR Viable"),
        ("LR-M observation", "LI-RADS", "LR-M"),
        ("LR-TIV in the right portal vein", "LI-RADS", "LR-TIV"),
        ("Lung-RADS 4B", "Lung-RADS", "4B"),
        ("Lung-RADS v2022 category 3", "Lung-RADS", "3"),
        ("Lung-RADS 2S", "Lung-RADS", "2"),
        ("Lung RADS 4X/S", "Lung-RADS", "4X"),
        ("TR4", "TI-RADS", "TR4"),
        ("TI-RADS 4", "TI-RADS", "TR4"),
        ("ACR TI-RADS TR5", "TI-RADS", "TR5"),
        ("TI-RADS category 3", "TI-RADS", "TR3"),
        ("PI-RADS 5", "PI-RADS", "5"),
        ("PI-RADS v2.1 score 4", "PI-RADS", "4"),
        ("PI-RADS assessment category: 3", "PI-RADS", "3"),
        ("O-RADS US 4", "O-RADS", "4"),
        ("O-RADS MRI 5", "O-RADS", "5"),
        ("O-RADS US v2022 category 3", "O-RADS", "3"),
        ("NI-RADS 2a", "NI-RADS", "2a"),
        ("NI-RADS 2B", "NI-RADS", "2b"),
        ("CAD-RADS 4A/P2", "CAD-RADS", "4A"),
        ("CAD-RADS 2.0 category 3/HRP", "CAD-RADS", "3"),
        ("CAD-RADS N", "CAD-RADS", "N"),
        ("VI-RADS 5", "VI-RADS", "5"),
        ("VI-RADS score 4", "VI-RADS", "4"),
        ("GB-RADS 4", "GB-RADS", "4"),
    ],
)
def test_spellings_normalise_to_the_dev_category(text: str, system: str, category: str) -> None:
    found = [(m.system, m.category) for m in find_mentions(f"IMPRESSION: {text}")]
    assert found == [(system, category)]


def test_every_system_has_a_severity_order() -> None:
    assert set(SEVERITY) == set(RADS_SYSTEMS)
    assert severity_rank("BI-RADS", "0") > severity_rank("BI-RADS", "3")  # ACR hierarchy 1, 2, 3, 6, 0, 4, 5
    assert severity_rank("BI-RADS", "4C") > severity_rank("BI-RADS", "4A")
    assert severity_rank("LI-RADS", "unknown") is None


@pytest.mark.parametrize(
    ("impression", "procedure", "expected"),
    [
        ("Prior BI-RADS 3 mass, now with new calcifications. BI-RADS 4B.", "MG DIAGNOSTIC", ("BI-RADS", "4B")),
        ("Previously LR-3, now LR-4.", "MR LIVER", ("LI-RADS", "LR-4")),
        ("Upgraded from BI-RADS 3 to BI-RADS 4A.", "US BREAST", ("BI-RADS", "4A")),
        ("Stable lesion, which was BI-RADS 3 on the prior exam.", "US BREAST", None),
        ("Incidental lung nodule, Lung-RADS 2 on the CT of 2024. No mammographic evidence of malignancy.",
         "MG SCREENING BILATERAL", None),
        ("Known PI-RADS 5 prostate lesion. Muscle-invasive bladder tumour: VI-RADS 4.", "MR PELVIS (BLADDER)",
         ("VI-RADS", "4")),
        ("Right breast: BI-RADS 2. Left breast: BI-RADS 4A.", "MG DIAGNOSTIC BILATERAL", ("BI-RADS", "4A")),
        ("Primary site NI-RADS 1, neck NI-RADS 2b.", "CT NECK SOFT TISSUE", ("NI-RADS", "2b")),
        ("NI-RADS primary 1, neck 3.", "CT NECK SOFT TISSUE", ("NI-RADS", "3")),
        ("Nodule 1 TR3. Nodule 2 TR5. FNA of nodule 2.", "US THYROID", ("TI-RADS", "TR5")),
        ("Final assessment: Category 4A. Biopsy recommended.", "US BREAST LEFT", ("BI-RADS", "4A")),
        ("Overall PI-RADS 3. Lesion 2 in the TZ is PI-RADS 2.", "MR PROSTATE", ("PI-RADS", "3")),
        ("Severe tricuspid regurgitation, TR 3.", "ECHO", None),
        ("Breast density: ACR category 2 (scattered fibroglandular densities). No suspicious findings.", "MG SCREENING",
         None),
    ],
)
def test_current_overall_assessment_only(impression: str, procedure: str, expected: tuple[str, str] | None) -> None:
    got = stated_rads(_text(impression, procedure))
    assert (None if got is None else (got.system, got.category)) == expected


def test_history_line_category_is_not_the_study_category() -> None:
    report = _text("Complex cystic mass, O-RADS MRI 4.", "MR PELVIS (ADNEXA)",
                   findings="Indication: adnexal mass on US 2025-05-30 (O-RADS US 5).\nLeft adnexa: 5 cm mass.")
    got = stated_rads(report)
    assert got is not None and got.category == "4"


def test_without_procedure_the_organ_talked_about_picks_the_system() -> None:
    report = _text("Bladder tumour with intact muscularis propria: VI-RADS 2. Prostate enlarged; no PI-RADS 3 or higher "
                   "lesion seen in the bladder base.", findings="Bladder: papillary tumour on the left bladder wall.")
    got = stated_rads(report)
    assert got is not None and got.system == "VI-RADS"


def test_explicit_ti_rads_points_are_a_stated_score() -> None:
    report = _text("Left lobe nodule: solid (2), hypoechoic (2), punctate echogenic foci (3). Total 7 points.", "US THYROID")
    got = stated_rads(report)
    assert got is not None and (got.system, got.category) == ("TI-RADS", "TR5")


def test_rads_result_contract(dev_reports: dict[str, dict[str, Any]]) -> None:
    engine = RulesEngine()
    report = _report(dev_reports["dev-005"])
    result = engine.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
    assert result is not None
    assert result.value.label == "BI-RADS 4B"
    assert result.decided_by == "rules" and result.confidence == pytest.approx(0.99)
    assert result.model.model_id == "radlite-rules" and result.model.backend == "rules" and result.model.sha256 is None
    assert result.prompt_hash is None and result.input_hash and len(result.input_hash) == 64
    ev = result.evidence[0]
    assert report.text()[ev.start : ev.end] == ev.sentence and "BI-RADS 4B" in ev.sentence
    assert engine.rads(report) == result


_PIECES = st.sampled_from([
    "BI-RADS", "LR-", "Lung-RADS", "TR", "PI-RADS", "O-RADS US", "NI-RADS", "CAD-RADS", "VI-RADS", "GB-RADS",
    "category", "v2.1", "4A", "2b", "5", "0", "N", "/P2", "prior", "previously", "History:", "\n", ". ", "; ",
    "left breast", "thyroid", "Overall", "now", "Total 7 points", "(", ")",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=14), st.sampled_from([None, "MG SCREENING", "US THYROID", "MR PELVIS", "CT CHEST"]))
def test_any_text_gives_a_valid_category_or_none(pieces: list[str], procedure: str | None) -> None:
    text = " ".join(pieces)
    report = _text(text or "x", procedure)
    for m in find_mentions(report.text()):
        assert m.category in SEVERITY[m.system]
    got = stated_rads(report)
    if got is not None:
        assert got.category in SEVERITY[got.system]
        assert not got.historical


@pytest.mark.parametrize(
    ("impression", "category"),
    [
        ("Left PZ lesion, PI-RADS 3+1 (DCE positive).", "4"),
        ("PI-RADS 3 + 1 = 4 lesion in the right PZ.", "4"),
        ("Transition zone lesion, PI-RADS 2+1.", "3"),
        ("Overall PI-RADS 4 (3+1).", "4"),
        ("PI-RADS 3, 1 lesion.", "3"),  # a count after a comma is no upgrade
    ],
)
def test_pirads_upgrade_notation_is_the_overall_category(impression: str, category: str) -> None:
    """PI-RADS v2.1 writes a DCE (PZ) or DWI (TZ) upgrade as "3+1": the overall assessment is one higher."""
    report = RadiologyReport(report_id="p", modality="MR", procedure="MRI PROSTATE", findings="Lesion.",
                             impression=impression)
    got = RulesEngine().rads(report)
    assert got is not None and (got.value.system, got.value.category) == ("PI-RADS", category)
    # A dataset label in the same notation is scored as the same overall category.
    assert _gold_rads(f"PI-RADS {impression.split('PI-RADS ')[1]}").category == category


@pytest.mark.parametrize(
    ("impression", "category"),
    [
        ("LI-RADS LR-TR Nonviable treated observation.", "LR-TR Nonviable"),
        ("LR-TR Viable, ablated lesion in segment 6.", "LR-TR Viable"),
        ("Previously LR-TR Equivocal treated lesion, now LR-TR Viable.", "LR-TR Viable"),
        ("LR-5 treated in 2023 with TACE; new LR-4 observation.", "LR-4"),  # a treated LR-5 is still history
    ],
)
def test_lr_tr_grades_a_treated_observation(impression: str, category: str) -> None:
    """"treated" after an LR-TR category names what it grades; after a diagnostic category it is history."""
    report = RadiologyReport(report_id="t", modality="MR", procedure="MRI LIVER", findings="Observation.",
                             impression=impression)
    got = RulesEngine().rads(report)
    assert got is not None and got.value.category == category
