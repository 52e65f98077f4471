"""One study of the planner round files (round 6, round 7) and the plan it must get.

Imported by tests/plugin/test_planner_round6.py and test_planner_round7.py (tests/plugin is on
sys.path under pytest's rootdir import mode, as conftest_cds is).
"""

from __future__ import annotations

from dataclasses import dataclass

from models.types import RadiologyReport, TaskName
from plugin.planner import plan_report, rads_system_for


@dataclass(frozen=True)
class Study:
    """A study as a RIS, an interface engine or a radiologist sends it, with the plan the standards give it."""

    sid: str
    modality: str | None
    procedure: str | None
    findings: str
    impression: str | None = "See findings."
    system: str | None = None
    staging: bool = False
    chexpert: bool = False
    temporal: bool = False
    code: str | None = None
    prior: str | None = None
    comparison: str | None = None

    def report(self) -> RadiologyReport:
        return RadiologyReport(report_id=self.sid, modality=self.modality, procedure=self.procedure,
                               procedure_code=self.code, findings=self.findings, impression=self.impression,
                               prior_text=self.prior, comparison=self.comparison)


def check_plan(study: Study) -> None:
    """The planner's RADS system and tasks for the study are the ones it names."""
    report = study.report()
    system, why = rads_system_for(report)
    assert system == study.system, why
    plan = plan_report(report)
    names = plan.names
    assert plan.rads_system == study.system
    assert (TaskName.rads_assignment in names) == (study.system is not None)
    assert (TaskName.n_staging in names) == study.staging
    assert (TaskName.m_staging in names) == study.staging
    assert (TaskName.abnormality_detection in names) == study.chexpert
    assert (TaskName.temporal_comparison in names) == study.temporal
    assert TaskName.radiology_ner in names and TaskName.radiology_qa not in names
    assert all(t.reason for t in plan.tasks)
