"""Card severity: the guideline table agrees with shared/spec/rads-management.md, indicators follow it.

adapters/cds/guidelines.py is a hand transcription of the spec's tables; this test reads the
spec itself, so a category added, dropped or re-graded on either side is caught. Rows whose
card depends on a size ("warning +A if >=1.5 cm, else info") are checked by the TI-RADS size
test in tests/adapters/test_cds_cards.py instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from adapters import fhir
from adapters.cds.cards import report_cards
from adapters.cds.guidelines import GUIDELINES, guideline_for
from models.types import (
    Analysis,
    CriticalFinding,
    Evidence,
    ModelIdentity,
    NliValue,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskResult,
)

MODEL = ModelIdentity(model_id="test-model", sha256="ab" * 32, backend="llama_cpp", role="extraction", demo=False)

SECTION_SYSTEM = {
    "1": "BI-RADS", "2": "Lung-RADS", "3": "LI-RADS", "4": "TI-RADS", "5": "PI-RADS", "6": "O-RADS",
    "7": "NI-RADS", "8": "CAD-RADS", "9": "VI-RADS", "10": "GB-RADS",
}


def spec_rows(spec: Path) -> list[tuple[str, str, str]]:
    """(system, code, card) for every category row of the first table with a Card column per section."""
    out: list[tuple[str, str, str]] = []
    sections = re.split(r"^## ", spec.read_text("utf-8"), flags=re.M)
    for section in sections:
        number = section.split(".", 1)[0].strip()
        system = SECTION_SYSTEM.get(number)
        if system is None:
            continue
        lines = [ln for ln in section.splitlines() if ln.startswith("|")]
        header = [c.strip() for c in lines[0].strip("|").split("|")]
        code_col = next(i for i, c in enumerate(header) if c.startswith("Code"))
        card_col = header.index("Card")
        for line in lines[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) != len(header):
                break  # the table ended
            out.append((system, cells[code_col], cells[card_col]))
    return out


@pytest.fixture(scope="module")
def rows(dev: Path) -> list[tuple[str, str, str]]:
    spec = dev.parents[1] / "spec" / "rads-management.md"
    if not spec.is_file():
        pytest.skip(f"spec not found at {spec}")
    found = spec_rows(spec)
    assert len({s for s, _, _ in found}) == 10, "every RADS system of the spec has a table"
    return found


def test_every_spec_category_has_a_guideline_row_with_its_indicator(rows: list[tuple[str, str, str]]) -> None:
    checked = 0
    for system, code, card in rows:
        if "modifier" in code:
            continue  # Lung-RADS S: a suffix, not a category
        g = guideline_for(system, code)
        assert g is not None, f"{system} {code} is in the spec but has no guideline row"
        if "else" not in card:  # "warning +A if >=1.5 cm, else info": the indicator depends on size
            expected = "warning" if card.startswith("warning") else "info"
            assert g.indicator == expected, f"{system} {code}: spec says {card!r}, table says {g.indicator}"
            checked += 1
        if " if " not in card:  # "(+A if >=1.0 cm)": actionable depends on size
            assert g.actionable == ("+A" in card), f"{system} {code}: actionable differs from the spec ({card!r})"
    assert checked >= 70


def test_no_guideline_row_that_the_spec_does_not_have(rows: list[tuple[str, str, str]]) -> None:
    in_spec = {(s, guideline_for(s, c).category) for s, c, _ in rows if guideline_for(s, c) is not None}  # type: ignore[union-attr]
    assert set(GUIDELINES) - in_spec == set()


def _analysis(dev: Path, system: str, category: str, *, contradiction: bool = False,
              critical: bool = False) -> Analysis:
    """An analysis of the dev breast ultrasound (order-sign-01) with the given RADS reading."""
    request = json.loads((dev / "cds" / "order-sign-01.json").read_text())
    report = fhir.reports_from_resource(request["prefetch"]["reports"])[0]
    results = [TaskResult(task=TaskName.rads_assignment, value=RadsValue(system=system, category=category),
                          confidence=0.9, evidence=[Evidence(sentence=f"{system} {category}.")], model=MODEL,
                          decided_by="model+rules")]  # stated in the report: the radiologist's, whatever the study
    if contradiction:
        results.append(TaskResult(task=TaskName.radiology_nli, value=NliValue(label="contradiction"), confidence=0.8,
                                  evidence=[Evidence(sentence="No mass. Impression: mass.")], model=MODEL))
    facts = ReportFacts(critical=[CriticalFinding(term="tension pneumothorax",
                                                  evidence=[Evidence(sentence="Tension pneumothorax.")])]
                        if critical else [])
    return Analysis(report=report, manifest_version="t", results=results, facts=facts)


def _indicators(analysis: Analysis) -> dict[str, str]:
    cards = report_cards(analysis, patient_id=analysis.report.patient_id)
    return {c.source.topic.code: c.indicator for c in cards if c.source.topic}


@pytest.mark.parametrize(("system", "category", "indicator"), [
    ("BI-RADS", "4", "warning"), ("BI-RADS", "5", "warning"), ("LI-RADS", "LR-5", "warning"),
    ("Lung-RADS", "4A", "warning"), ("PI-RADS", "4", "warning"), ("PI-RADS", "5", "warning"),
    ("BI-RADS", "3", "info"), ("Lung-RADS", "2", "info"), ("PI-RADS", "3", "info"),
])
def test_card_indicator_follows_severity(dev: Path, system: str, category: str, indicator: str) -> None:
    """Issue 5: critical for critical results, warning for high categories and discrepancies, info otherwise."""
    assert _indicators(_analysis(dev, system, category))["rads"] == indicator
    with_discrepancy = _indicators(_analysis(dev, system, category, contradiction=True))
    assert with_discrepancy["discrepancy"] == "warning" and with_discrepancy["rads"] == indicator
    critical = report_cards(_analysis(dev, system, category, critical=True), patient_id="p")
    assert critical[0].indicator == "critical" and critical[0].source.topic.code == "critical"  # type: ignore[union-attr]


# ---- the management words themselves ---------------------------------------------------------------

_ASCII = {"≥": ">=", "≤": "<=", "→": "->"}
_MANAGEMENT_COLUMNS = ("Management", "Usual management", "Usual consequence")


def _plain(text: str) -> str:
    for a, b in _ASCII.items():
        text = text.replace(a, b)
    return text.strip()


def spec_table(spec: Path) -> list[tuple[str, dict[str, str]]]:
    """(system, row as column -> cell) for every category row of each system's first table."""
    out: list[tuple[str, dict[str, str]]] = []
    for section in re.split(r"^## ", spec.read_text("utf-8"), flags=re.M):
        system = SECTION_SYSTEM.get(section.split(".", 1)[0].strip())
        lines = [ln for ln in section.splitlines() if ln.startswith("|")] if system else []
        header = [c.strip() for c in lines[0].strip("|").split("|")] if lines else []
        for line in lines[2:]:
            cells = [_plain(c) for c in line.strip("|").split("|")]
            if len(cells) != len(header):
                break
            out.append((system, dict(zip(header, cells, strict=True))))  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module")
def table(dev: Path) -> list[tuple[str, dict[str, str]]]:
    spec = dev.parents[1] / "spec" / "rads-management.md"
    if not spec.is_file():
        pytest.skip(f"spec not found at {spec}")
    return spec_table(spec)


def _code(row: dict[str, str]) -> str:
    return next(v for k, v in row.items() if k.startswith("Code"))


def test_management_and_follow_up_are_the_specs_words(table: list[tuple[str, dict[str, str]]]) -> None:
    """Each card quotes the table: management and follow-up exactly as rads-management.md has them.

    NI-RADS scores primary and neck separately and a RADS result does not say which site it
    is about: its one row must hold each site's words. TI-RADS has no management column; its
    row is built from the FNA and follow-up thresholds and the schedule.
    """
    checked = 0
    for system, row in table:
        g = guideline_for(system, _code(row))
        if g is None:
            continue  # Lung-RADS S modifier (checked above)
        follow = row.get("Follow-up") or row["Follow-up schedule"]
        if system == "TI-RADS" and row["FNA if"] != "never":
            assert g.management == f"FNA if {row['FNA if']}; follow-up if {row['Follow-up if']}"
            schedule, fna = follow.split("; ", 1)
            assert g.follow_up == f"{schedule} if {row['Follow-up if']}; {fna}"
        elif system == "NI-RADS":
            management = next(row[c] for c in _MANAGEMENT_COLUMNS if c in row)
            head, _, inner = management.partition(" (")
            assert g.management.startswith(head) and inner.rstrip(")") in g.management, (system, row)
            assert follow.split(": ", 1)[-1] in g.follow_up, (system, row)
        else:
            if any(c in row for c in _MANAGEMENT_COLUMNS):
                assert g.management == next(row[c] for c in _MANAGEMENT_COLUMNS if c in row), (system, _code(row))
            assert g.follow_up == follow, (system, _code(row))
        checked += 1
    assert checked >= 70


def test_no_interval_the_spec_does_not_give(table: list[tuple[str, dict[str, str]]]) -> None:
    """Every ISO 8601 duration a card orders is written in that category's follow-up cell."""
    for system, row in table:
        g = guideline_for(system, _code(row))
        if g is None or g.order is None:
            continue
        follow = row.get("Follow-up") or row["Follow-up schedule"]
        for iso in filter(None, (g.order.earliest, g.order.latest)):
            assert iso in follow, (system, _code(row), iso, follow)
