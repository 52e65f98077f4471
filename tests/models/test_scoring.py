"""Label scoring from logits with the real demo model: valid labels only, probabilities <= 1,
and the same choice llama.cpp's own grammar-constrained greedy decoding makes."""

from __future__ import annotations

import pytest

from models.backends.llama import LoadedModel
from models.catalog import CATALOG
from models.scoring import VocabIndex, label_distribution, score_labels
from models.types import RadiologyReport, TaskName, TaskRequest


def test_vocab_index_allows_only_prefixes_of_remaining_text() -> None:
    vocab = VocabIndex(["", "BI", "-", "RADS", " ", "4", "A", "4A", "BI-RADS", "B", "X"])
    allowed = vocab.continuations({"BI-RADS 4A"})
    assert set(allowed) == {1, 8, 9}  # "BI", "BI-RADS", "B"
    assert vocab.continuations({"4A", "4"}) == {5: "4", 7: "4A"}
    assert vocab.continuations({""}) == {}


def _prime(model: LoadedModel, task: TaskName, request: TaskRequest) -> None:
    model.prime(model.tokenize(CATALOG[task].prompt(request), special=True))


@pytest.mark.parametrize("task", [TaskName.radiology_nli, TaskName.m_staging])
def test_distribution_sums_to_at_most_one_and_covers_the_choice(
    demo_model: LoadedModel, dev_nli: list[TaskRequest], dev_report_objects: dict[str, RadiologyReport], task: TaskName
) -> None:
    spec = CATALOG[task]
    request = dev_nli[0] if task == TaskName.radiology_nli else TaskRequest(task=task, report=dev_report_objects["dev-001"])
    with demo_model.lock:
        _prime(demo_model, task, request)
        start = demo_model.position
        dist = label_distribution(demo_model, demo_model.vocab, spec.surfaces, min_prob=1e-2)
        assert demo_model.position == start
        scored = score_labels(demo_model, demo_model.vocab, spec.surfaces)
    assert set(dist) <= set(spec.surfaces)
    assert all(0.0 <= p <= 1.0 for p in dist.values())
    assert 0.0 < sum(dist.values()) <= 1.0 + 1e-9
    assert scored.surface in spec.surfaces
    assert spec.value_text(spec.parse(scored.surface)) in spec.labels
    assert 0.0 < scored.probability <= dist[scored.surface] + 1e-9


def _grammar(surfaces: tuple[str, ...]) -> str:
    return "root ::= " + " | ".join('"' + s.replace('"', '\\"') + '"' for s in surfaces) + "\n"


@pytest.mark.parametrize("task", [TaskName.radiology_nli, TaskName.m_staging])
def test_scoring_equals_llama_grammar_constrained_greedy(
    demo_model: LoadedModel, dev_nli: list[TaskRequest], dev_report_objects: dict[str, RadiologyReport], task: TaskName
) -> None:
    """For label sets where no label extends another, our trie walk is constrained greedy decoding;
    llama.cpp's GBNF sampler must pick the very same answer."""
    from llama_cpp import LlamaGrammar

    spec = CATALOG[task]
    if task == TaskName.radiology_nli:
        requests = dev_nli[:3]
    else:
        requests = [TaskRequest(task=task, report=r) for r in list(dev_report_objects.values())[:3]]
    grammar = LlamaGrammar.from_string(_grammar(spec.surfaces), verbose=False)
    for request in requests:
        prompt = spec.prompt(request)
        with demo_model.lock:
            out = demo_model.llm.create_completion(prompt, max_tokens=spec.max_tokens, temperature=0.0,
                                                   grammar=grammar)["choices"][0]["text"]
            _prime(demo_model, task, request)
            scored = score_labels(demo_model, demo_model.vocab, spec.surfaces)
        assert out == scored.surface, request.report.report_id


def test_rads_scoring_returns_a_valid_label_for_every_dev_report(
    demo_model: LoadedModel, dev_report_objects: dict[str, RadiologyReport]
) -> None:
    spec = CATALOG[TaskName.rads_assignment]
    for report in list(dev_report_objects.values())[:4]:
        with demo_model.lock:
            _prime(demo_model, TaskName.rads_assignment, TaskRequest(task=spec.name, report=report))
            scored = score_labels(demo_model, demo_model.vocab, spec.surfaces)
        assert spec.value_text(spec.parse(scored.surface)) in spec.labels
        assert 0.0 < scored.probability <= 1.0
