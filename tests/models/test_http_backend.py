"""The HTTP backend against real `python -m llama_cpp.server` processes running the demo GGUF.

Failures (5xx, 4xx, dead endpoints) are injected by small real HTTP servers on loopback,
never by mocks. Model calls are kept to short label tasks: the suite runs on 2 cores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest

# tests/models is on sys.path under pytest (rootdir import mode); tests/models/conftest.py is the core's.
from conftest_http import (
    demo_gguf,
    fault_server,
    free_port,
    ignores_stream_server,
    llama_cpp_server,
    stream_cut_server,
)

from models.backends.base import Backend, BackendError
from models.backends.http import (
    UNSCORED_CONFIDENCE,
    UNSCORED_NOTE,
    HttpBackend,
    HttpOptions,
    HttpStatusError,
    Shape,
    Step,
    StreamBroken,
    label_confidence,
    parse_logprobs,
)
from models.backends.llama import ends_in_cycle
from models.catalog import CATALOG
from models.manifest import ModelEntry, load_manifest
from models.types import ChexpertValue, NliValue, RadiologyReport, TaskName, TaskRequest, sha256_text

DEMO_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

REPORT = RadiologyReport(
    report_id="http-1",
    findings="Dense consolidation in the right lower lobe. Small left pleural effusion. Heart size is normal.",
    impression="Right lower lobe pneumonia.",
)


def entry(*endpoints: str) -> ModelEntry:
    return ModelEntry(id="demo-http", backend="http", endpoints=list(endpoints), role="generation",
                      sha256=DEMO_SHA, demo=True)


def nli_request() -> TaskRequest:
    return TaskRequest(task=TaskName.radiology_nli, report=REPORT, hypothesis="There is a pleural effusion.")


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    """The production configuration: logits_all false, so the server returns no logprobs."""
    with llama_cpp_server(demo_gguf(), logits_all=False) as url:
        yield url


@pytest.fixture(scope="module")
def llama_server_logprobs() -> Iterator[str]:
    """A server that can return logprobs (logits_all true), for measured confidences."""
    with llama_cpp_server(demo_gguf(), logits_all=True) as url:
        yield url


@pytest.fixture
def backend(llama_server: str) -> Iterator[HttpBackend]:
    b = HttpBackend(entry(llama_server), HttpOptions(backoff=0.01))
    yield b
    b.close()


# ---- shapes and grammars (no server) ------------------------------------------------------


@pytest.mark.parametrize("task", [t for t, s in CATALOG.items() if s.decoding in ("labels", "skeleton")])
def test_grammar_compiles_and_every_surface_is_a_sentence(task: TaskName) -> None:
    from llama_cpp import LlamaGrammar

    spec = CATALOG[task]
    shape = Shape.for_spec(spec)
    LlamaGrammar.from_string(shape.gbnf(), verbose=False)  # raises on a malformed grammar
    if spec.decoding == "labels":
        for surface in spec.surfaces:
            assert shape.keys(surface) == (spec.value_text(spec.parse(surface)),)
        assert shape.keys(spec.surfaces[0] + " and more") is None
        assert shape.keys("") is None


def test_skeleton_shape_fixes_the_layout() -> None:
    spec = CATALOG[TaskName.abnormality_detection]
    shape = Shape.for_spec(spec)
    values = ["positive", "negative", "uncertain"]
    text = "".join(spec.skeleton_line(i) + " " + values[i % 3] for i in range(len(spec.skeleton)))
    assert shape.keys(text) == tuple(values[i % 3] for i in range(len(spec.skeleton)))
    assert shape.keys(text.replace("- Atelectasis:", "- Atelectasis :")) is None
    # After a bullet prefix the three values are the open choice.
    assert {r[-1] for r in shape.reach(spec.skeleton_line(0))} == set(values)


def test_reach_keeps_prefix_labels_open() -> None:
    shape = Shape([{"BI-RADS 4": "4", "BI-RADS 4A": "4A", "BI-RADS 5": "5"}])
    assert shape.reach("BI-RADS 4") == {("4",), ("4A",)}
    assert shape.reach("BI-RADS ") == {("4",), ("4A",), ("5",)}
    assert shape.reach("BI-RADS 6") == set()


# ---- confidence from logprobs (pure arithmetic on real-shaped data) -------------------------


def test_label_confidence_renormalises_among_valid_alternatives() -> None:
    shape = Shape([{"entailment": "entailment", "contradiction": "contradiction", "neutral": "neutral"}])
    lp_n, lp_e, lp_c = math.log(0.3), math.log(0.1), math.log(0.05)
    top = {"The": math.log(0.5), "neutral": lp_n, "ent": lp_e, "contr": lp_c}
    conf = label_confidence(shape, [Step("neutral", lp_n, top)], k=4)
    assert conf == pytest.approx(0.3 / (0.3 + 0.1 + 0.05))


def test_label_confidence_counts_other_spellings_for_the_answer() -> None:
    shape = Shape([{"neutral": "neutral", "Neutral": "neutral", "entailment": "entailment"}])
    top = {"Neutral": math.log(0.4), "neutral": math.log(0.2), "entailment": math.log(0.2)}
    conf = label_confidence(shape, [Step("Neutral", math.log(0.4), top)], k=3)
    assert conf == pytest.approx(0.6 / 0.8)


def test_label_confidence_charges_unlisted_labels_the_kth_probability() -> None:
    shape = Shape([{"M0": "M0", "M1": "M1"}])
    # "M" is shared; the decision is the digit. "1" is not among the top-2 listed alternatives.
    steps = [Step("M", math.log(0.9), {"M": math.log(0.9), "X": math.log(0.05)}),
             Step("0", math.log(0.6), {"0": math.log(0.6), ".": math.log(0.3)})]
    conf = label_confidence(shape, steps, k=2)
    assert conf == pytest.approx(0.6 / (0.6 + 0.3))
    assert label_confidence(shape, [Step("M2", -0.1, {})], k=2) is None


def test_parse_logprobs_reads_both_server_dialects() -> None:
    legacy = {"text": "M1", "logprobs": {"tokens": ["M", "1"], "token_logprobs": [-0.5, -0.1],
                                         "top_logprobs": [{"M": -0.5, "The": -1.0}, {"1": -0.1}]}}
    # llama-server's /v1/completions shape (tools/server: probs_vector_to_json under "content").
    content = {"text": "M1", "logprobs": {"content": [
        {"id": 44, "token": "M", "bytes": [77], "logprob": -0.5,
         "top_logprobs": [{"id": 44, "token": "M", "bytes": [77], "logprob": -0.5},
                          {"id": 7, "token": "The", "bytes": [84, 104, 101], "logprob": -1.0}]},
        {"id": 9, "token": "1", "bytes": [49], "logprob": -0.1, "top_logprobs": []}]}}
    for choice in (legacy, content):
        steps = parse_logprobs(choice)
        assert steps is not None
        assert [s.token for s in steps] == ["M", "1"]
        assert steps[0].top == {"M": -0.5, "The": -1.0}
    assert parse_logprobs({"text": "M1", "logprobs": None}) is None


# ---- real server ---------------------------------------------------------------------------


def test_backend_protocol_and_identity(backend: HttpBackend) -> None:
    assert isinstance(backend, Backend)
    assert backend.identity.backend == "http"
    assert backend.identity.sha256 == DEMO_SHA
    assert backend.ping() is True


def test_label_task_is_valid_without_logprobs_and_says_so(backend: HttpBackend) -> None:
    spec = CATALOG[TaskName.radiology_nli]
    request = nli_request()
    result = backend.run(spec, request)
    assert isinstance(result.value, NliValue)
    assert result.raw_output in spec.surfaces
    assert result.confidence == UNSCORED_CONFIDENCE
    assert result.note == UNSCORED_NOTE
    # Same prompt string as the in-process backend builds.
    assert result.prompt_hash == sha256_text(spec.prompt(request))
    assert result.tokens_prompt > 50 and result.tokens_generated >= 1


def test_rads_and_skeleton_answers_stay_inside_their_grammar(backend: HttpBackend) -> None:
    rads = CATALOG[TaskName.rads_assignment]
    r = backend.run(rads, TaskRequest(task=TaskName.rads_assignment, report=REPORT))
    assert r.raw_output in rads.surfaces
    chex = CATALOG[TaskName.abnormality_detection]
    r = backend.run(chex, TaskRequest(task=TaskName.abnormality_detection, report=REPORT))
    assert isinstance(r.value, ChexpertValue)
    assert len(r.value.labels) == len(chex.skeleton)
    assert Shape.for_spec(chex).keys(r.raw_output or "") is not None


def test_free_task_is_generated_and_parsed(backend: HttpBackend) -> None:
    spec = CATALOG[TaskName.impression_generation]
    request = TaskRequest(task=TaskName.impression_generation, report=REPORT)
    result = backend.run(spec, request)
    assert result.value.kind == "text"
    assert result.value == spec.parse(result.raw_output or "")
    assert 1 <= result.tokens_generated <= spec.max_tokens


def test_logprobs_give_a_measured_confidence(llama_server_logprobs: str) -> None:
    with_lp = HttpBackend(entry(llama_server_logprobs))
    try:
        result = with_lp.run(CATALOG[TaskName.m_staging], TaskRequest(task=TaskName.m_staging, report=REPORT))
    finally:
        with_lp.close()
    assert result.note is None
    assert 0.0 < result.confidence <= 1.0
    assert result.confidence != UNSCORED_CONFIDENCE


def test_http_label_equals_in_process_label(backend: HttpBackend) -> None:
    """Grammar-constrained greedy over HTTP and logit scoring in process pick the same NLI and M labels."""
    from models.backends.llama import LlamaBackend, LoadedModel

    demo = load_manifest().entry_for(TaskName.radiology_nli)
    local = LlamaBackend(demo, LoadedModel(demo, demo.sha256))
    try:
        for task, request in ((TaskName.radiology_nli, nli_request()),
                              (TaskName.m_staging, TaskRequest(task=TaskName.m_staging, report=REPORT))):
            spec = CATALOG[task]
            assert backend.run(spec, request).value == local.run(spec, request).value
    finally:
        local.close()


# ---- transport: failover, retries, errors -----------------------------------------------------


def test_dead_endpoint_fails_over_to_a_live_one(llama_server: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    b = HttpBackend(entry(dead, llama_server), HttpOptions(backoff=0.01))
    try:
        assert b.endpoint_ready(dead) is False
        assert b.ping() is True
        for _ in range(2):  # round-robin starts on each endpoint once
            assert isinstance(b.run(CATALOG[TaskName.radiology_nli], nli_request()).value, NliValue)
    finally:
        b.close()


def test_all_endpoints_down_is_a_backend_error() -> None:
    b = HttpBackend(entry(f"http://127.0.0.1:{free_port()}"), HttpOptions(retries=2, backoff=0.01))
    try:
        assert b.ping() is False
        with pytest.raises(BackendError, match="after 3 attempts"):
            b.run(CATALOG[TaskName.radiology_nli], nli_request())
    finally:
        b.close()


def test_5xx_is_retried_then_answered(llama_server: str) -> None:
    with fault_server(503, failures=1, forward_to=llama_server) as flaky:
        b = HttpBackend(entry(flaky.url), HttpOptions(retries=2, backoff=0.01))
        try:
            result = b.run(CATALOG[TaskName.radiology_nli], nli_request())
        finally:
            b.close()
    assert isinstance(result.value, NliValue)
    assert flaky.paths[0] == "/v1/completions"
    # The injected 503, the forwarded request (refused: this server has no logprobs), the same without logprobs.
    assert flaky.hits == 3


def test_5xx_retries_are_bounded() -> None:
    with fault_server(502) as broken:
        b = HttpBackend(entry(broken.url), HttpOptions(retries=3, backoff=0.01))
        try:
            with pytest.raises(BackendError, match="after 4 attempts"):
                b.run(CATALOG[TaskName.radiology_nli], nli_request())
        finally:
            b.close()
    assert broken.hits == 4


def test_4xx_is_never_retried() -> None:
    with fault_server(400) as refusing:
        b = HttpBackend(entry(refusing.url), HttpOptions(retries=3, backoff=0.01))
        try:
            with pytest.raises(HttpStatusError) as err:
                b.run(CATALOG[TaskName.radiology_nli], nli_request())
        finally:
            b.close()
    assert err.value.status == 400 and not err.value.retriable
    assert refusing.hits == 1


def test_http_backend_needs_endpoints() -> None:
    with pytest.raises(ValueError):
        ModelEntry(id="x", backend="http", role="generation")


# ---- streamed free tasks ------------------------------------------------------------------------


def _direct(url: str, backend: HttpBackend, task: TaskName, request: TaskRequest, *,
            logprobs: bool = False, grammar: str | None = None) -> dict:
    """The same completion asked unstreamed, straight from the server (what the backend used to send)."""
    spec = CATALOG[task]
    body = backend._payload(spec.prompt(request), spec.max_tokens, grammar)
    if not logprobs:
        body.pop("logprobs")
    r = httpx.post(f"{url}/v1/completions", json=body, timeout=300)
    assert r.status_code == 200, r.text
    return r.json()


def test_sse_events_skip_pings_and_read_error_lines() -> None:
    from models.backends.http import _sse_events

    lines = [": ping - 2026-11-29 12:00:00", "", "data: {\"a\": 1}", "",
             "event: error", "data: {\"b\": 2}", "",
             "error: {\"code\": 500}", "", "data: [DONE]"]
    assert list(_sse_events(iter(lines))) == [("message", '{"a": 1}'), ("error", '{"b": 2}'),
                                              ("error", '{"code": 500}'), ("message", "[DONE]")]


def test_parse_logprobs_reads_llama_server_native_probabilities() -> None:
    # llama-server /completion: `completion_probabilities` (2025+), and the older `probs` of `tok_str`/`prob`.
    new = {"completion_probabilities": [{"id": 9, "token": "M1", "bytes": [77, 49], "logprob": -0.2,
                                         "top_logprobs": [{"id": 9, "token": "M1", "logprob": -0.2},
                                                          {"id": 8, "token": "M0", "logprob": -1.8}]}]}
    old = {"completion_probabilities": [{"content": "M1", "probs": [{"tok_str": "M1", "prob": 0.8},
                                                                     {"tok_str": "M0", "prob": 0.2}]}]}
    steps = parse_logprobs(new)
    assert steps == [Step("M1", -0.2, {"M1": -0.2, "M0": -1.8})]
    steps = parse_logprobs(old)
    assert steps is not None and steps[0].token == "M1"
    assert steps[0].logprob == pytest.approx(math.log(0.8))
    assert steps[0].top["M0"] == pytest.approx(math.log(0.2))


def test_free_task_streams_the_same_answer_as_unstreamed(backend: HttpBackend, llama_server: str) -> None:
    """Greedy over a stream gives the unstreamed text, value and token counts (impression: no early stop)."""
    spec = CATALOG[TaskName.impression_generation]
    request = TaskRequest(task=TaskName.impression_generation, report=REPORT)
    # The server reuses the KV of the previous prompt; both calls below follow the same prompt.
    _direct(llama_server, backend, TaskName.impression_generation, request)
    result = backend.run(spec, request)
    direct = _direct(llama_server, backend, TaskName.impression_generation, request)
    assert result.raw_output == direct["choices"][0]["text"]
    assert result.value == spec.parse(direct["choices"][0]["text"])
    assert result.tokens_prompt == direct["usage"]["prompt_tokens"]
    assert result.tokens_generated == direct["usage"]["completion_tokens"]
    assert result.note == UNSCORED_NOTE


def test_streamed_logprobs_give_the_free_confidence(llama_server_logprobs: str) -> None:
    """With logprobs, each chunk carries its token's logprob; the confidence is their geometric mean."""
    b = HttpBackend(entry(llama_server_logprobs))
    spec = CATALOG[TaskName.radiology_qa]
    request = TaskRequest(task=TaskName.radiology_qa, report=REPORT, question="Which lobe is consolidated?")
    try:
        _direct(llama_server_logprobs, b, TaskName.radiology_qa, request, logprobs=True)
        result = b.run(spec, request)
        direct = _direct(llama_server_logprobs, b, TaskName.radiology_qa, request, logprobs=True)
    finally:
        b.close()
    choice = direct["choices"][0]
    assert result.raw_output == choice["text"]
    lps = choice["logprobs"]["token_logprobs"]
    assert result.note is None
    assert result.confidence == pytest.approx(math.exp(sum(lps) / len(lps)), rel=1e-6)


def test_a_looping_free_answer_is_cut_early(backend: HttpBackend, llama_server: str,
                                            dev_report_objects: dict[str, RadiologyReport]) -> None:
    """The demo model repeats temporal lines on some dev reports; the stream is closed at the first repeat,
    where the same completion unstreamed keeps repeating.

    Its free temporal text does not parse, so the answer comes from the pass under the task's
    grammar (which admits any number of lines); that pass is compared with the same request unstreamed.
    """
    spec = CATALOG[TaskName.temporal_comparison]
    for report in list(dev_report_objects.values())[:6]:
        request = TaskRequest(task=TaskName.temporal_comparison, report=report)
        if not ends_in_cycle((backend.run(spec, request).raw_output or "").split("\n")[:-1]):
            continue
        # The server reuses the KV of the previous prompt: both calls below follow the same prompt.
        direct = _direct(llama_server, backend, TaskName.temporal_comparison, request, grammar=spec.grammar)
        full = direct["choices"][0]["text"]
        result = backend.run(spec, request)
        streamed = result.raw_output or ""
        lines = streamed.split("\n")[:-1]
        assert ends_in_cycle(lines) and full.startswith(streamed), (streamed, full)
        assert not any(lines[i] == lines[i + 1] == lines[i + 2] for i in range(len(lines) - 2))
        period = next(k for k in range(1, 5) if lines[-k:] == lines[-2 * k: -k])
        assert full.split("\n")[len(lines)] == lines[-period]  # unstreamed, the loop goes on
        assert result.tokens_generated < spec.max_tokens
        return
    pytest.fail("the demo model no longer loops on these reports: pick reports where it does")


def test_a_server_dying_mid_stream_is_a_backend_error(llama_server: str) -> None:
    with stream_cut_server(llama_server, events=3) as dying:
        b = HttpBackend(entry(dying.url), HttpOptions(retries=2, backoff=0.01))
        try:
            with pytest.raises(StreamBroken, match="mid-stream after 3 chunks"):
                b.run(CATALOG[TaskName.impression_generation],
                      TaskRequest(task=TaskName.impression_generation, report=REPORT))
        finally:
            b.close()
    assert isinstance(StreamBroken("x"), BackendError)
    assert dying.streams == 1  # the half answer is not asked again


def test_an_error_event_mid_stream_is_a_backend_error(llama_server: str) -> None:
    with stream_cut_server(llama_server, events=2, error_event=True) as failing:
        b = HttpBackend(entry(failing.url), HttpOptions(retries=2, backoff=0.01))
        try:
            with pytest.raises(StreamBroken, match="injected: slot released"):
                b.run(CATALOG[TaskName.radiology_qa],
                      TaskRequest(task=TaskName.radiology_qa, report=REPORT, question="Which side?"))
        finally:
            b.close()
    assert failing.streams == 1


def test_a_stream_dying_before_its_first_chunk_fails_over(llama_server: str) -> None:
    request = TaskRequest(task=TaskName.impression_generation, report=REPORT)
    spec = CATALOG[TaskName.impression_generation]
    with stream_cut_server(llama_server, events=0) as dying:
        b = HttpBackend(entry(dying.url, llama_server), HttpOptions(retries=2, backoff=0.01))
        alone = HttpBackend(entry(dying.url), HttpOptions(retries=2, backoff=0.01))
        try:
            for _ in range(2):  # round-robin starts once on the dying endpoint
                assert b.run(spec, request).value.kind == "text"
            with pytest.raises(BackendError, match="after 3 attempts"):
                alone.run(spec, request)
        finally:
            b.close()
            alone.close()
    assert dying.streams == 1 + 3


def test_a_server_that_ignores_stream_is_read_whole(llama_server: str) -> None:
    """A server (or proxy) answering a streamed request with one JSON body gives the same answer."""
    spec = CATALOG[TaskName.impression_generation]
    request = TaskRequest(task=TaskName.impression_generation, report=REPORT)
    with ignores_stream_server(llama_server) as plain:
        b = HttpBackend(entry(plain.url), HttpOptions(retries=0))
        try:
            _direct(llama_server, b, TaskName.impression_generation, request)  # same KV state for both calls
            result = b.run(spec, request)
            direct = _direct(llama_server, b, TaskName.impression_generation, request)
        finally:
            b.close()
    assert plain.asked_to_stream == 1
    assert result.raw_output == direct["choices"][0]["text"]
    assert result.value == spec.parse(direct["choices"][0]["text"])
    assert result.tokens_generated == direct["usage"]["completion_tokens"]
