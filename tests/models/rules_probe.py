"""What the rules round-4 and round-5 test files read from the real rules engine, in one place.

Imported by tests/models/test_rules_round4.py and test_rules_round5.py (tests/models is on
sys.path under pytest's rootdir import mode, as conftest_http is).
"""

from __future__ import annotations

from models.rules import RulesEngine
from models.types import RadiologyReport, TaskName, TaskRequest

ENGINE = RulesEngine()


def report(
    impression: str | None = None,
    findings: str | None = None,
    procedure: str | None = None,
    modality: str | None = None,
    addendum: str | None = None,
) -> RadiologyReport:
    return RadiologyReport(report_id="probe", procedure=procedure, modality=modality, findings=findings,
                           impression=impression, addendum=addendum)


def rads(report: RadiologyReport) -> tuple[str, str] | None:
    """(system, category) the rules read, or None when they read none (or say no RADS applies)."""
    got = ENGINE.rads(report)
    if got is None or not getattr(got.value, "applicable", True):
        return None
    return (got.value.system, got.value.category)  # type: ignore[union-attr,return-value]


def stages(report: RadiologyReport) -> tuple[str | None, str | None]:
    n = ENGINE.stated(TaskRequest(task=TaskName.n_staging, report=report))
    m = ENGINE.stated(TaskRequest(task=TaskName.m_staging, report=report))
    return (n.value.stage if n else None, m.value.stage if m else None)  # type: ignore[union-attr]


def critical(report: RadiologyReport) -> list[tuple[str, str]]:
    return [(c.term, c.certainty) for c in ENGINE.critical(report)]


def chexpert(report: RadiologyReport) -> dict[str, str]:
    return {k: v for k, v in ENGINE.chexpert(report).labels.items() if k != "no finding"}
