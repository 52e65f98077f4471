"""The planner picks the tasks that apply to each report, and says why."""

from __future__ import annotations

from typing import Any

import pytest

from models.types import RadiologyReport, TaskName
from plugin.planner import compares_with_prior, plan_report, rads_system_for


def _report(r: dict[str, Any]) -> RadiologyReport:
    return RadiologyReport(
        report_id=r["id"], modality=r["modality"], procedure=r["procedure"], findings=r["findings"],
        impression=r["impression"], prior_text=r["prior"],
    )


def test_rads_system_matches_every_dev_label(dev_reports: dict[str, dict[str, Any]]) -> None:
    for r in dev_reports.values():
        want = r["labels"]["rads"]["system"] if r["labels"]["rads"] else None
        got, why = rads_system_for(_report(r))
        assert got == want, (r["id"], got, want, why)


def test_staging_chexpert_and_temporal_are_planned_where_labelled(dev_reports: dict[str, dict[str, Any]]) -> None:
    extra = 0
    for r in dev_reports.values():
        names = plan_report(_report(r)).names
        labels = r["labels"]
        if labels["n_stage"] is not None or labels["m_stage"] is not None:
            assert TaskName.n_staging in names and TaskName.m_staging in names, r["id"]
        if labels["chexpert"] is not None:
            assert TaskName.abnormality_detection in names, r["id"]
        else:
            assert TaskName.abnormality_detection not in names, r["id"]
        if labels["temporal"] is not None:
            assert TaskName.temporal_comparison in names, r["id"]
        extra += (TaskName.n_staging in names and labels["n_stage"] is None and labels["m_stage"] is None)
        extra += (TaskName.temporal_comparison in names and labels["temporal"] is None)
        assert TaskName.radiology_ner in names
        assert TaskName.radiology_qa not in names
    # A few extra runs are harmless (a bladder MRI for local staging); many would waste CPU and confuse cards.
    assert extra <= 4


def test_every_planned_task_has_a_reason(dev_reports: dict[str, dict[str, Any]]) -> None:
    for r in dev_reports.values():
        for planned in plan_report(_report(r)).tasks:
            assert planned.reason


@pytest.mark.parametrize(
    ("modality", "procedure", "findings", "system"),
    [
        ("MG", "MAMMO SCREENING", "No suspicious mass.", "BI-RADS"),
        ("US", "US THYROID", "Right lobe nodule 1.2 cm, solid, hypoechoic.", "TI-RADS"),
        ("MR", "MRI PROSTATE MULTIPARAMETRIC", "Lesion in the left peripheral zone.", "PI-RADS"),
        ("CT", "CT CORONARY ANGIOGRAPHY (CCTA)", "Mild plaque in the LAD.", "CAD-RADS"),
        ("CT", "CT ABDOMEN MULTIPHASE LIVER", "Cirrhotic liver with a 2 cm arterially enhancing observation.", "LI-RADS"),
        ("CT", "CT ABDOMEN MULTIPHASE LIVER", "Normal liver. 2 cm hemangioma in segment 6.", None),
        ("CT", "CT HEAD WITHOUT CONTRAST", "No acute intracranial abnormality.", None),
    ],
)
def test_rads_system_general_cases(modality: str, procedure: str, findings: str, system: str | None) -> None:
    report = RadiologyReport(report_id="t", modality=modality, procedure=procedure, findings=findings, impression="x")
    assert rads_system_for(report)[0] == system


def test_no_prior_for_comparison_is_not_a_comparison() -> None:
    none = RadiologyReport(report_id="a", findings="No prior imaging for comparison. 2 cm mass.", impression="Mass.")
    some = RadiologyReport(report_id="b", findings="Comparison: CT 2024-01-02.\nThe nodule is unchanged.", impression="Stable.")
    assert not compares_with_prior(none)
    assert compares_with_prior(some)


def test_requested_tasks_override_the_plan() -> None:
    report = RadiologyReport(report_id="a", findings="Lungs clear.", impression="Normal.")
    plan = plan_report(report, [TaskName.radiology_qa])
    assert plan.names == [TaskName.radiology_qa]
    assert plan.tasks[0].reason == "requested"


def test_missing_impression_plans_impression_generation() -> None:
    report = RadiologyReport(report_id="a", findings="Lungs clear. Heart normal.")
    assert TaskName.impression_generation in plan_report(report).names


@pytest.mark.parametrize(
    ("procedure", "modality", "impression", "system"),
    [
        ("MRI ABDOMEN W/O AND W CONTRAST", "MR", "Segment 8 observation with washout and capsule: LR-5.", "LI-RADS"),
        ("CT CHEST W CONTRAST", "CT", "Solid nodule, Lung-RADS 4B.", "Lung-RADS"),
        ("US PELVIS COMPLETE", "US", "Left adnexal cyst, O-RADS US 2.", "O-RADS"),
    ],
)
def test_a_stated_category_plans_rads_whatever_the_procedure_name(
    procedure: str, modality: str, impression: str, system: str
) -> None:
    """A generic procedure name (no organ cue) must not hide the category the report states."""
    report = RadiologyReport(report_id="t", modality=modality, procedure=procedure,
                             findings="See impression.", impression=impression)
    got, why = rads_system_for(report)
    assert got == system, why
    assert TaskName.rads_assignment in plan_report(report).names


@pytest.mark.parametrize(
    ("modality", "procedure", "findings", "system"),
    [
        # Organ-specific systems win over the pelvis cue.
        ("MR", "MRI PELVIS BLADDER", "3 cm papillary tumor at the trigone; muscularis intact.", "VI-RADS"),
        ("MR", "MRI PELVIS W WO CONTRAST", "Left adnexal 5 cm multilocular cystic lesion with solid tissue.", "O-RADS"),
        ("US", "US PELVIS COMPLETE", "Uterus anteverted. Right ovary with a 3 cm simple cyst.", "O-RADS"),
        # A pelvis study that does not look at female adnexa has no O-RADS category.
        ("MR", "MRI PELVIS W WO CONTRAST", "Rectal adenocarcinoma staging: mid rectal tumor, 2 mesorectal nodes.", None),
        ("US", "US PELVIS", "Male patient. Post-void residual 50 mL. Prostate 30 g.", None),
        # NI-RADS grades surveillance after head and neck cancer treatment, nothing else.
        ("CT", "CT SOFT TISSUE NECK W CONTRAST", "Peritonsillar abscess 2 cm on the left.", None),
        ("CT", "CT NECK W CONTRAST", "Newly diagnosed laryngeal SCC; 3 cm transglottic mass.", None),
        ("MR", "MRI NECK W WO CONTRAST", "History of tonsil SCC treated with chemoradiation. No recurrence.", "NI-RADS"),
        ("PT", "PET/CT SKULL BASE TO MID-THIGH", "Base of tongue SCC s/p chemoradiation. No FDG-avid recurrence.", "NI-RADS"),
        ("PT", "PET/CT SKULL BASE TO MID-THIGH", "Initial staging of lung adenocarcinoma. FDG-avid RUL mass.", None),
        # A thyroid nodule on any neck ultrasound is graded with TI-RADS.
        ("US", "US NECK SOFT TISSUE", "Thyroid: 1.5 cm solid hypoechoic nodule in the right lobe.", "TI-RADS"),
        ("US", "US NECK SOFT TISSUE", "Reactive level II lymph nodes. Thyroid unremarkable.", None),
    ],
)
def test_rads_system_gates_for_unseen_procedures(
    modality: str, procedure: str, findings: str, system: str | None
) -> None:
    report = RadiologyReport(report_id="t", modality=modality, procedure=procedure, findings=findings, impression="x")
    got, why = rads_system_for(report)
    assert got == system, why
    assert (TaskName.rads_assignment in plan_report(report).names) == (system is not None)


@pytest.mark.parametrize(
    ("findings", "staged"),
    [
        ("History: esophageal cancer.\nDistal esophageal wall thickening; enlarged paraesophageal node.", True),
        ("Indication: pancreatic adenocarcinoma\nHypoenhancing mass in the pancreatic head.", True),
        ("Clinical history: lung cancer, pre-treatment.\nSpiculated RUL mass.", True),
        # A past or treated cancer, or surveillance, is no pre-treatment staging study.
        ("History: history of colon cancer, s/p resection 2019.\nNo focal liver lesion.", False),
        ("Indication: breast cancer surveillance.\nNo suspicious finding.", False),
        ("History: lymphoma in remission.\nNo adenopathy.", False),
        ("History: cough.\nNo mass. Patient's father had lung cancer.", False),
    ],
)
def test_an_indication_naming_a_current_cancer_plans_staging(findings: str, staged: bool) -> None:
    report = RadiologyReport(report_id="t", modality="CT", procedure="CT CHEST WITH CONTRAST", findings=findings,
                             impression="See findings.")
    names = plan_report(report).names
    assert (TaskName.n_staging in names and TaskName.m_staging in names) == staged
