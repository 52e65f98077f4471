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
