"""Our decoding does not change the answer of a model that prints a well-formed label.

Naive path: the published one (raw ChatML completion, greedy, stop at <|im_end|>). Our
path: label scoring over the token trie. Whenever the naive output is, or starts with, a
well-formed label (the demo model often adds an explanation after it: "BI-RADS 4A: Low
suspicion ..."), our label must be that label. Grammar equality for NLI and M staging,
whose labels never extend one another, is in test_scoring.py.
"""

from __future__ import annotations

from models.backends.llama import LlamaBackend
from models.catalog import CATALOG
from models.parsers import ParseError
from models.types import RadiologyReport, TaskName, TaskRequest


def _leading_label(text: str, surfaces: tuple[str, ...]) -> str | None:
    """The longest surface the text starts with, if the next character cannot extend a label."""
    hits = [s for s in surfaces if text.startswith(s)]
    if not hits:
        return None
    best = max(hits, key=len)
    nxt = text[len(best):len(best) + 1]
    return best if not nxt or not nxt.isalnum() else None


def test_scored_label_equals_naive_greedy_label(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport]
) -> None:
    compared = 0
    model = demo_backend.model
    for task in (TaskName.rads_assignment, TaskName.n_staging):
        spec = CATALOG[task]
        for report in list(dev_report_objects.values())[:6]:
            request = TaskRequest(task=task, report=report)
            with model.lock:
                # 12 tokens hold any label; the contract's longer budget only lengthens the explanation.
                naive = model.llm.create_completion(spec.prompt(request), max_tokens=min(12, spec.max_tokens),
                                                    temperature=0.0, stop=["<|im_end|>"])["choices"][0]["text"]
            ours = demo_backend.run(spec, request)
            try:
                expected = spec.value_text(spec.parse(naive))
            except ParseError:
                lead = _leading_label(naive, spec.surfaces)
                expected = spec.value_text(spec.parse(lead)) if lead else None
            if expected is not None:
                compared += 1
                assert spec.value_text(ours.value) == expected, (task.value, report.report_id, naive)
    assert compared >= 3, "the demo model printed too few well-formed labels to compare"


def test_free_answer_equals_naive_greedy_answer_when_that_parses(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport]
) -> None:
    """Free tasks: our loop (own greedy, early stop of line-shaped answers, grammar retry)
    gives the naive answer whenever the naive answer is well-formed."""
    compared: dict[TaskName, int] = {}
    model = demo_backend.model
    reports = [r for r in dev_report_objects.values() if r.prior_text][:2] + list(dev_report_objects.values())[:2]
    for task in (TaskName.impression_generation, TaskName.temporal_comparison, TaskName.radiology_ner):
        spec = CATALOG[task]
        for report in reports:
            request = TaskRequest(task=task, report=report)
            with model.lock:
                model.rewind(0)  # the notebook's path: the whole prompt in one batch
                choice = model.llm.create_completion(spec.prompt(request), max_tokens=spec.max_tokens,
                                                     temperature=0.0, stop=["<|im_end|>"])["choices"][0]
            if choice["finish_reason"] != "stop":
                continue  # cut at the token limit: not a well-formed answer
            try:
                expected = spec.value_text(spec.parse(choice["text"]))
            except ParseError:
                continue
            compared[task] = compared.get(task, 0) + 1
            assert spec.value_text(demo_backend.run(spec, request).value) == expected, (task.value, report.report_id)
    assert compared.get(TaskName.impression_generation, 0) >= 2, compared
