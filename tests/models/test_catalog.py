"""The catalog speaks the RadLite contract byte for byte; labels, surfaces and inputs are consistent.

The expected prompts are read from a verbatim copy of /work/shared/spec/radlite-contract.md
(tests/models/data/), not retyped, so a drifted prompt fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.catalog import CATALOG, SYSTEM_PROMPT, TaskInputError, chatml, input_hash, report_input
from models.parsers import RADS_CATEGORIES
from models.types import RadiologyReport, TaskName, TaskRequest

CONTRACT = (Path(__file__).parent / "data" / "radlite-contract.md").read_text(encoding="utf-8")


def _contract_templates() -> dict[str, tuple[int, str]]:
    """Task -> (max tokens, USER template) from the contract's table and n_staging block."""
    out: dict[str, tuple[int, str]] = {}
    for m in re.finditer(r"^\| (\w+) \| (\d+) \| `(.*?)`(?: with .*)? \|$", CONTRACT, re.MULTILINE):
        out[m.group(1)] = (int(m.group(2)), m.group(3).replace("\\n", "\n"))
    block = re.search(r"n_staging USER \(exact.*?\n\n```\n(.*?)\n```", CONTRACT, re.DOTALL)
    assert block, "n_staging block not found in the contract"
    budget = re.search(r"^\| n_staging \| (\d+) \|", CONTRACT, re.MULTILINE)
    assert budget
    out["n_staging"] = (int(budget.group(1)), block.group(1))
    return out


def test_contract_lists_all_nine_tasks() -> None:
    assert set(_contract_templates()) == {t.value for t in TaskName}


@pytest.mark.parametrize("task", list(TaskName), ids=lambda t: t.value)
def test_prompt_and_budget_byte_exact(task: TaskName) -> None:
    max_tokens, template = _contract_templates()[task.value]
    spec = CATALOG[task]
    assert spec.template == template
    assert spec.max_tokens == max_tokens
    assert spec.name == task


def test_n_staging_carries_both_worked_examples() -> None:
    t = CATALOG[TaskName.n_staging].template
    assert t.count("Radiology Report:") == 3
    assert "Lymph node involvement: Positive. N staging: N2" in t
    assert "Lymph node involvement: Negative. N staging: N0" in t
    assert t.endswith("Radiology Report: {report}\n\nLymph node involvement:")


def test_system_prompt_and_chatml_wire_format() -> None:
    assert f"SYSTEM = `{SYSTEM_PROMPT}`" in CONTRACT
    wire = re.search(r"```\n(<\|im_start\|>system.*?)\n```", CONTRACT).group(1).replace("\\n", "\n")
    assert chatml("{SYSTEM}", "{USER}") == wire
    assert chatml("S", "U", prefill="<think>\n\n</think>\n\n").endswith("assistant\n<think>\n\n</think>\n\n")


def _report(**kw) -> RadiologyReport:
    base = {"report_id": "r1", "findings": "Liver: normal.\nNodes: 2 cm node.", "impression": "Adenopathy."}
    return RadiologyReport(**{**base, **kw})


def test_report_input_per_task() -> None:
    rep = _report(prior_text="Prior: no nodes.")
    assert report_input(TaskRequest(task=TaskName.rads_assignment, report=rep)) == rep.text()
    assert report_input(TaskRequest(task=TaskName.impression_generation, report=rep)) == rep.body()
    nli = TaskRequest(task=TaskName.radiology_nli, report=rep, premise="A mass.", hypothesis="No mass.")
    assert report_input(nli) == "Premise: A mass. Hypothesis: No mass."
    temporal = report_input(TaskRequest(task=TaskName.temporal_comparison, report=rep))
    assert "Prior: no nodes." in temporal and rep.text() in temporal
    qa = report_input(TaskRequest(task=TaskName.radiology_qa, report=rep, question="Any nodes?"))
    assert qa.startswith("Any nodes?") and rep.text() in qa
    staging = report_input(TaskRequest(task=TaskName.n_staging, report=rep))
    assert "\n" not in staging and "2 cm node." in staging


def test_prompt_substitutes_report_literally() -> None:
    rep = _report(findings="Braces {report} and {x} stay.")
    prompt = CATALOG[TaskName.rads_assignment].prompt(TaskRequest(task=TaskName.rads_assignment, report=rep))
    assert "Braces {report} and {x} stay." in prompt
    assert prompt.startswith(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n<|im_start|>user\n[TASK: rads_assignment]")


def test_missing_inputs_are_refused() -> None:
    with pytest.raises(TaskInputError):
        report_input(TaskRequest(task=TaskName.radiology_nli, report=_report()))
    with pytest.raises(TaskInputError):
        report_input(TaskRequest(task=TaskName.radiology_qa, report=_report()))
    with pytest.raises(TaskInputError):
        report_input(TaskRequest(task=TaskName.m_staging, report=RadiologyReport(report_id="empty")))


def test_input_hash_depends_on_task_and_input() -> None:
    rep = _report()
    a = input_hash(TaskRequest(task=TaskName.m_staging, report=rep))
    assert a == input_hash(TaskRequest(task=TaskName.m_staging, report=rep))
    assert a != input_hash(TaskRequest(task=TaskName.n_staging, report=rep))
    assert a != input_hash(TaskRequest(task=TaskName.m_staging, report=_report(impression="Other.")))


@pytest.mark.parametrize("task", [t for t in TaskName if CATALOG[t].decoding == "labels"], ids=lambda t: t.value)
def test_every_surface_parses_to_a_label(task: TaskName) -> None:
    spec = CATALOG[task]
    assert spec.surfaces and spec.labels
    produced = {spec.value_text(spec.parse(s)) for s in spec.surfaces}
    assert produced == set(spec.labels)


def test_rads_labels_cover_every_category_of_the_ten_systems() -> None:
    labels = set(CATALOG[TaskName.rads_assignment].labels)
    assert "No applicable RADS" in labels
    for system, cats in RADS_CATEGORIES.items():
        assert system in CONTRACT
        for cat in cats:
            assert any(lbl.endswith(cat) for lbl in labels), (system, cat)
    assert {"BI-RADS 4A", "LR-5", "TI-RADS TR4", "NI-RADS 2a", "CAD-RADS 4A", "Lung-RADS 4X"} <= labels
    surfaces = set(CATALOG[TaskName.rads_assignment].surfaces)
    assert {"BI-RADS 4", "PI-RADS 3", "TI-RADS 5", "TI-RADS TR5", "LI-RADS 5", "LR-5"} <= surfaces


def test_decoding_strategies_and_codes() -> None:
    kinds = {t: CATALOG[t].decoding for t in TaskName}
    assert [t for t, k in kinds.items() if k == "labels"] == [
        TaskName.rads_assignment, TaskName.n_staging, TaskName.m_staging, TaskName.radiology_nli]
    assert kinds[TaskName.abnormality_detection] == "skeleton"
    assert len(CATALOG[TaskName.abnormality_detection].skeleton) == 14
    assert CATALOG[TaskName.n_staging].fhir_code == "21906-3"
    assert CATALOG[TaskName.m_staging].fhir_code == "21907-1"
    assert CATALOG[TaskName.impression_generation].fhir_code == "19005-8"
    assert CATALOG[TaskName.radiology_qa].fhir_system == "http://radlite.org/fhir/CodeSystem/radlite"
    assert CATALOG[TaskName.radiology_qa].fhir_code == "radiology_qa"
