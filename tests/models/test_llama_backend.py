"""The demo GGUF really runs all nine tasks through the llama.cpp backend and returns valid typed values
with everything a result must carry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from models.backends.base import Backend
from models.backends.llama import LlamaBackend, ends_in_cycle, unless_looping
from models.catalog import CATALOG, THINK_PREFILL, input_hash
from models.demo import DEMO_SHA256
from models.parsers import ParseError, drop_incomplete_tail
from models.types import (
    ChexpertValue,
    EntitiesValue,
    MStageValue,
    NliValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    TaskName,
    TaskRequest,
    TemporalValue,
    TextValue,
    sha256_text,
)

EXPECTED_TYPE = {
    TaskName.rads_assignment: RadsValue, TaskName.impression_generation: TextValue,
    TaskName.temporal_comparison: TemporalValue, TaskName.radiology_ner: EntitiesValue,
    TaskName.n_staging: NStageValue, TaskName.m_staging: MStageValue, TaskName.radiology_nli: NliValue,
    TaskName.abnormality_detection: ChexpertValue, TaskName.radiology_qa: TextValue,
}


def _request(task: TaskName, report: RadiologyReport) -> TaskRequest:
    return TaskRequest(task=task, report=report, question="Which side is the finding on?",
                       hypothesis="There is a suspicious finding.")


def _parses(spec, raw: str) -> bool:
    try:
        spec.parse(raw)
    except ParseError:
        return False
    return True


def _check(backend: LlamaBackend, request: TaskRequest) -> None:
    spec = CATALOG[request.task]
    result = backend.run(spec, request)
    assert isinstance(result.value, EXPECTED_TYPE[request.task])
    assert result.task == request.task and result.decided_by == "model"
    assert result.model.demo and result.model.sha256 == DEMO_SHA256 and result.model.backend == "llama_cpp"
    assert result.prompt_hash == sha256_text(spec.prompt(request, think_prefill=backend.entry.think_prefill))
    assert result.input_hash == input_hash(request)
    assert result.tokens_prompt > 0 and 0.0 <= result.confidence <= 1.0
    raw = result.raw_output or ""
    # An output cut by the token limit is parsed without its unfinished last item.
    assert result.value in (spec.parse(raw) if _parses(spec, raw) else None,
                            spec.parse(drop_incomplete_tail(spec.name.value, raw)))
    if spec.decoding == "labels":
        assert spec.value_text(result.value) in spec.labels and result.tokens_generated >= 1
        assert result.evidence, "classification results carry evidence"
    text = request.report.text()
    for ev in result.evidence:
        if ev.start is not None:
            assert text[ev.start:ev.end] == ev.sentence


@pytest.mark.parametrize("task", [t for t in TaskName if CATALOG[t].decoding == "labels"], ids=lambda t: t.value)
def test_classification_and_skeleton_tasks_on_dev_reports(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport], task: TaskName
) -> None:
    for rid in ("dev-001", "dev-020"):
        _check(demo_backend, _request(task, dev_report_objects[rid]))


def test_abnormality_skeleton_lists_all_fourteen_labels_in_order(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport]
) -> None:
    chest = next(r for r in dev_report_objects.values() if r.modality in {"CR", "DX"})
    result = demo_backend.run(CATALOG[TaskName.abnormality_detection], _request(TaskName.abnormality_detection, chest))
    lines = (result.raw_output or "").splitlines()
    assert [ln.split(":")[0] for ln in lines] == [f"- {n}" for n in CATALOG[TaskName.abnormality_detection].skeleton]
    assert len(result.value.labels) == 14
    _check(demo_backend, _request(TaskName.abnormality_detection, chest))


@pytest.mark.slow
@pytest.mark.parametrize("task", [t for t in TaskName if CATALOG[t].decoding == "free"], ids=lambda t: t.value)
def test_free_tasks_return_parsed_values(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport], task: TaskName
) -> None:
    report = dev_report_objects["dev-002"]  # has a prior report: temporal gets prior + current
    _check(demo_backend, _request(task, report))


def test_think_prefill_is_in_the_prompt_not_in_the_answer(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport]
) -> None:
    entry = demo_backend.entry.model_copy(update={"think_prefill": True, "id": "qwen3-style"})
    qwen3_style = LlamaBackend(entry, demo_backend.model)
    request = _request(TaskName.m_staging, dev_report_objects["dev-001"])
    result = qwen3_style.run(CATALOG[TaskName.m_staging], request)
    prompt = CATALOG[TaskName.m_staging].prompt(request, think_prefill=True)
    assert prompt.endswith("<|im_start|>assistant\n" + THINK_PREFILL)
    assert result.prompt_hash == sha256_text(prompt)
    assert "<think>" not in (result.raw_output or "")


def test_backend_is_thread_safe_and_deterministic(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport]
) -> None:
    assert isinstance(demo_backend, Backend)
    requests = [_request(t, dev_report_objects[r]) for r in ("dev-001", "dev-003")
                for t in (TaskName.m_staging, TaskName.radiology_nli)]
    sequential = [demo_backend.run(CATALOG[q.task], q).value for q in requests]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda q: demo_backend.run(CATALOG[q.task], q).value, requests))
    assert concurrent == sequential


@pytest.mark.parametrize(
    "task",
    [TaskName.rads_assignment, TaskName.n_staging, TaskName.radiology_nli, TaskName.abnormality_detection],
)
def test_stored_task_prefix_gives_the_answer_of_a_cold_context(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport], task: TaskName
) -> None:
    """The KV of a task's static prefix is copied back instead of evaluated: same answer, same confidence."""
    model, spec = demo_backend.model, CATALOG[task]
    reports = [dev_report_objects[rid] for rid in ("dev-001", "dev-010", "dev-025")]
    with model.lock:
        cold = []
        for report in reports:
            model.rewind(0)
            model.clear_prefixes()
            cold.append(demo_backend.run(spec, _request(task, report)))
        hits = model.prefix_hits
        warm = []
        for report in reports:
            model.rewind(0)  # an empty context: only the prefix store can help
            warm.append(demo_backend.run(spec, _request(task, report)))
    assert model.prefix_hits - hits == len(reports)  # the last cold call stored it; every warm call restores
    for c, w in zip(cold, warm, strict=True):
        assert w.value == c.value
        assert w.confidence == pytest.approx(c.confidence, rel=1e-3, abs=1e-4)
    static = demo_backend.static_length(spec, model.tokenize(spec.prompt(_request(task, reports[0])), special=True))
    assert 0 < static < cold[0].tokens_prompt


def test_answer_does_not_depend_on_what_ran_before(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport]
) -> None:
    """Same request, same raw output: from an empty context, right after the same prompt was
    completed (the context holds all of it), and after another task (prefix restored)."""
    model = demo_backend.model
    spec = CATALOG[TaskName.impression_generation]
    request = _request(TaskName.impression_generation, dev_report_objects["dev-001"])
    other = _request(TaskName.radiology_nli, dev_report_objects["dev-010"])
    with model.lock:
        model.rewind(0)
        model.clear_prefixes()
        cold = demo_backend.run(spec, request).raw_output
        model.llm.create_completion(spec.prompt(request), max_tokens=4, temperature=0.0)
        after_same_prompt = demo_backend.run(spec, request).raw_output
        demo_backend.run(CATALOG[TaskName.radiology_nli], other)
        after_other_task = demo_backend.run(spec, request).raw_output
    assert cold == after_same_prompt == after_other_task


def test_a_prefix_state_that_will_not_load_falls_back_to_evaluating(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport]
) -> None:
    """A stored state llama.cpp refuses is dropped and the prompt evaluated in full: same answer."""
    import ctypes

    model, spec = demo_backend.model, CATALOG[TaskName.m_staging]
    request = _request(TaskName.m_staging, dev_report_objects["dev-010"])
    with model.lock:
        model.rewind(0)
        model.clear_prefixes()
        cold = demo_backend.run(spec, request)
        tokens = model.tokenize(spec.prompt(request), special=True)
        key = tuple(tokens[: demo_backend.static_length(spec, tokens)])
        model._prefixes[key] = (ctypes.c_uint8 * 64)()  # not a llama.cpp sequence state
        hits = model.prefix_hits
        model.rewind(3)  # the context keeps a few leading tokens, as between calls of different tasks
        again = demo_backend.run(spec, request)
    assert model.prefix_hits == hits  # the bad state was not used
    assert again.value == cold.value and again.confidence == pytest.approx(cold.confidence, rel=1e-3, abs=1e-4)


@pytest.mark.parametrize(("text", "looping"), [
    ("stable nodule | unchanged\nstable nodule | unchanged\n", True),
    ("a | new\nb | worsened\na | new\nb | worsened\n", True),
    ("a | new\nb | worsened\na | new\n", False),  # not yet a whole repeated block
    ("Anatomy:\n- None\nObservations present:\n- None\n", False),  # equal lines, not consecutive
    ("\n\n", False),  # blank lines are no loop
    ("stable nodule | unchanged\nstable nodule | unch", False),  # judged on complete lines only
])
def test_a_looping_line_answer_stops(text: str, looping: bool) -> None:
    check = unless_looping()
    assert all(check(text[:i]) for i in range(len(text) - 1) if text[:i].count("\n") < text.count("\n"))
    assert check(text) is not looping


def test_loop_stop_keeps_the_inner_check() -> None:
    assert unless_looping(lambda text: "x" not in text)("a\nx") is False
    assert ends_in_cycle(["a", "b", "c", "b", "c"]) and not ends_in_cycle(["a", "b", "a"])


def test_temporal_answer_of_a_looping_model_ends_early(demo_backend: LlamaBackend,
                                                       dev_report_objects: dict[str, RadiologyReport]) -> None:
    """The demo model loops on temporal lines; we stop at the first repeated line, not at max tokens."""
    spec = CATALOG[TaskName.temporal_comparison]
    stopped = 0
    for report in list(dev_report_objects.values())[:6]:
        result = demo_backend.run(spec, TaskRequest(task=TaskName.temporal_comparison, report=report))
        lines = [line for line in (result.raw_output or "").split("\n")[:-1] if line.strip()]
        triples = [i for i in range(len(lines) - 2) if lines[i] == lines[i + 1] == lines[i + 2]]
        assert not triples, (report.report_id, result.raw_output)
        stopped += ends_in_cycle(lines)
    assert stopped, "the demo model no longer loops on these reports: pick reports where it does"
