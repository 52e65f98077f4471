"""The HTTP backend: catalog tasks on OpenAI-compatible llama.cpp servers (`llama-server`, `llama_cpp.server`).

Why: a hospital that outgrows one process moves inference to stateless server processes
per model role (DESIGN.md, "Scale"). This backend speaks `POST /v1/completions` with the
same ChatML prompt strings as the in-process backend (`TaskSpec.prompt`), so both give the
same model input.

Valid by construction, as in process:
- "labels" tasks (RADS, N, M, NLI) send a GBNF `grammar` whose only sentences are the
  task's printed label forms (`TaskSpec.surfaces`); "skeleton" (abnormality) sends a
  grammar that fixes the 14-bullet layout and lets the model pick only each value. Both
  servers apply the grammar in their sampler (verified against llama_cpp.server in
  tests/models/test_http_backend.py).
- "free" tasks are generated greedily and parsed; output that does not parse is asked
  again once under the task's grammar, as the in-process backend does. They are streamed
  (server-sent events) and checked as they arrive with the in-process backend's own stop
  checks (`viable_lines`, `unless_looping`): the stream is closed as soon as a check says
  stop, and the server stops generating when its client is gone, so an answer that loops
  does not run to `max_tokens`.

Confidence: from the server's `logprobs` (top-k alternatives per token) when it returns
them (`llama-server` always can; `llama_cpp.server` only with `--logits_all true`).
Constrained answers are rescored among the valid alternatives (`label_confidence`). A
server that cannot return logprobs still gives a valid answer, with the documented lower
`UNSCORED_CONFIDENCE` and a note on the result saying so; it is never re-asked for a
confidence.

Transport: one `httpx.Client` with connect/read timeouts; endpoints are taken round-robin
per call and failed over; connect errors, timeouts and 5xx are retried (bounded, with
exponential backoff once every endpoint was tried), 4xx never (the request itself is wrong).
A stream that fails before its first chunk is retried the same way; one that fails after it
is a `BackendError` (the answer so far is incomplete and a retry would start over).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from models.backends.base import BackendError, build_result
from models.backends.llama import unless_looping, viable_lines
from models.catalog import TaskSpec
from models.manifest import HttpOptions, ModelEntry
from models.parsers import ParseError, drop_incomplete_tail
from models.types import ModelIdentity, TaskRequest, TaskResult, TaskValue

__all__ = [
    "HttpOptions",
    "HttpBackend",
    "HttpStatusError",
    "StreamBroken",
    "Step",
    "Shape",
    "label_confidence",
    "parse_logprobs",
    "UNSCORED_CONFIDENCE",
    "UNSCORED_NOTE",
]

log = logging.getLogger(__name__)

UNSCORED_CONFIDENCE = 0.5
"""Confidence of a valid answer whose probability the server did not return (no logprobs).

Deliberately below what a calibrated, clearly decided answer scores: the value is valid
by construction, only its probability is unknown."""

UNSCORED_NOTE = (
    "confidence not measured: the inference server returned no logprobs (llama_cpp.server needs --logits_all true); "
    f"fixed value {UNSCORED_CONFIDENCE} reported"
)

END = "<|im_end|>"


class HttpStatusError(BackendError):
    """A server answered with an error status; `retriable` for 5xx, never for 4xx."""

    def __init__(self, endpoint: str, status: int, message: str) -> None:
        self.endpoint, self.status, self.message = endpoint, status, message
        self.retriable = status >= 500
        super().__init__(f"{endpoint}: HTTP {status}: {message[:200]}")


class StreamBroken(BackendError):
    """A streamed completion failed after its first chunk: not retried, the partial answer is dropped."""


# ---- logprobs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One generated token: its text, log probability and the top alternatives (text -> logprob)."""

    token: str
    logprob: float
    top: dict[str, float]


def parse_logprobs(choice: dict[str, Any]) -> list[Step] | None:
    """Per-token logprobs from either server's /v1/completions choice, or None when absent.

    llama_cpp.server uses the legacy OpenAI shape (`tokens`, `token_logprobs`, `top_logprobs`
    as dicts); llama-server uses `content: [{token, logprob, top_logprobs: [{token, logprob}]}]`.
    """
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        native = choice.get("completion_probabilities")
        return _native_steps(native) if isinstance(native, list) else None
    if isinstance(lp.get("content"), list):
        steps = []
        for item in lp["content"]:
            top = {t["token"]: float(t["logprob"]) for t in item.get("top_logprobs") or []}
            steps.append(Step(item["token"], float(item["logprob"]), top))
        return steps
    tokens, logprobs = lp.get("tokens"), lp.get("token_logprobs")
    if not isinstance(tokens, list) or not isinstance(logprobs, list):
        return None
    tops = lp.get("top_logprobs") or [{}] * len(tokens)
    return [
        Step(tok, float(lp_) if lp_ is not None else -math.inf, {k: float(v) for k, v in (top or {}).items()})
        for tok, lp_, top in zip(tokens, logprobs, tops, strict=False)
    ]


def _logprob_of(item: dict[str, Any]) -> float:
    """`logprob`, or the log of `prob` (llama-server's post-sampling and pre-2025 shapes)."""
    if item.get("logprob") is not None:
        return float(item["logprob"])
    prob = float(item.get("prob", 0.0))
    return math.log(prob) if prob > 0.0 else -math.inf


def _native_steps(items: list[Any]) -> list[Step]:
    """llama-server's native `completion_probabilities`: `{token, logprob, top_logprobs}` per token,
    or before 2025 `{content, probs: [{tok_str, prob}]}` (the chosen token's own prob is in `probs`)."""
    steps = []
    for item in items:
        if "probs" in item:
            top = {p["tok_str"]: _logprob_of(p) for p in item.get("probs") or []}
            token = str(item.get("content", ""))
            steps.append(Step(token, top.get(token, -math.inf), top))
            continue
        alts = item.get("top_logprobs") or item.get("top_probs") or []
        steps.append(Step(item["token"], _logprob_of(item), {t["token"]: _logprob_of(t) for t in alts}))
    return steps


# ---- output shapes --------------------------------------------------------------------


def _gbnf_literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # GBNF string literals use JSON-style escapes


def _trie_expr(words: Sequence[str]) -> str:
    """A GBNF expression matching exactly `words`, shared prefixes written once."""
    if words == [""]:
        return '""'
    ends_here = "" in words
    groups: dict[str, list[str]] = {}
    for w in words:
        if w:
            groups.setdefault(w[0], []).append(w)
    alts = []
    for group in groups.values():
        # Longest prefix shared by the whole group, then recurse on what follows it.
        prefix = group[0]
        for w in group[1:]:
            while not w.startswith(prefix):
                prefix = prefix[:-1]
        rest = sorted({w[len(prefix):] for w in group})
        alts.append(_gbnf_literal(prefix) if rest == [""] else f"{_gbnf_literal(prefix)} {_trie_expr(rest)}")
    body = alts[0] if len(alts) == 1 and not ends_here else "(" + " | ".join(alts) + ")"
    return f"{body}?" if ends_here else body


class Shape:
    """The constrained outputs of a task: fixed text and choice segments (surface -> meaning key).

    It writes the GBNF sent to the server and tells, for any printed prefix, which choices
    are still open: the data `label_confidence` needs to rescore among valid answers.
    """

    def __init__(self, segments: Sequence[str | dict[str, str]]) -> None:
        self.segments = list(segments)

    @classmethod
    def for_spec(cls, spec: TaskSpec) -> Shape:
        """Labels: one choice over the surfaces; skeleton: bullet prefixes with a value choice each."""
        if spec.decoding == "labels":
            return cls([{s: spec.value_text(spec.parse(s)) for s in spec.surfaces}])
        if spec.decoding == "skeleton":
            assert spec.labels is not None
            values = {s: s.strip().lower() for s in spec.surfaces}
            segs: list[str | dict[str, str]] = []
            for i in range(len(spec.skeleton)):
                segs += [spec.skeleton_line(i), values]
            return cls(segs)
        raise ValueError(f"{spec.name.value}: free tasks have no fixed shape")

    def gbnf(self) -> str:
        """GBNF with each choice factored into a prefix trie.

        A flat alternation of ~200 RADS surfaces keeps ~200 parse stacks alive, and the
        grammar sampler checks every vocabulary entry against each of them per token; the
        factored form keeps only the few branches that still differ.
        """
        parts = []
        for seg in self.segments:
            parts.append(_gbnf_literal(seg) if isinstance(seg, str) else _trie_expr(sorted(set(seg))))
        return "root ::= " + " ".join(parts) + "\n"

    def reach(self, text: str) -> set[tuple[str, ...]]:
        """Meaning keys of every way `text` continues to the end of the next open choice (empty: invalid)."""
        out: set[tuple[str, ...]] = set()

        def walk(i: int, rest: str, keys: tuple[str, ...]) -> None:
            if i == len(self.segments):
                if not rest:
                    out.add(keys)
                return
            seg = self.segments[i]
            if isinstance(seg, str):
                if rest.startswith(seg):
                    walk(i + 1, rest[len(seg):], keys)
                elif seg.startswith(rest):
                    walk(i + 1, "", keys)
                return
            for surface, key in seg.items():
                if rest and rest.startswith(surface):
                    walk(i + 1, rest[len(surface):], keys + (key,))
                elif surface.startswith(rest):
                    out.add(keys + (key,))

        walk(0, text, ())
        return out

    def keys(self, text: str) -> tuple[str, ...] | None:
        """Meaning keys of a complete output, or None when `text` is not a sentence of the shape."""
        full: set[tuple[str, ...]] = set()

        def walk(i: int, rest: str, keys: tuple[str, ...]) -> None:
            if i == len(self.segments):
                if not rest:
                    full.add(keys)
                return
            seg = self.segments[i]
            if isinstance(seg, str):
                if rest.startswith(seg):
                    walk(i + 1, rest[len(seg):], keys)
                return
            for surface, key in seg.items():
                if rest.startswith(surface):
                    walk(i + 1, rest[len(surface):], keys + (key,))

        walk(0, text, ())
        return next(iter(full)) if len(full) == 1 else (min(full) if full else None)

    @property
    def choices(self) -> int:
        return sum(1 for s in self.segments if not isinstance(s, str))


def _on_path(keys: tuple[str, ...], final: tuple[str, ...]) -> bool:
    return final[: len(keys)] == keys


def label_confidence(shape: Shape, steps: Sequence[Step], k: int) -> float | None:
    """Probability of the constrained answer among the valid ones, from top-k token logprobs.

    At each generated token the mass of valid alternatives that lead to the same meaning
    (another tokenization, another case) counts for the answer; valid alternatives leading
    elsewhere count against it; a still-open choice that no listed alternative covers is
    charged the k-th best probability (an upper bound on any unlisted token), so the result
    errs low. Skeleton shapes return the geometric mean over their choices, like the
    in-process backend. None when the steps do not spell a sentence of the shape.
    """
    text = "".join(s.token for s in steps)
    final = shape.keys(text)
    if final is None:
        return None
    log_conf = 0.0
    printed = ""
    for step in steps:
        open_ = shape.reach(printed)
        depth = max((len(r) for r in open_), default=0)
        alts = dict(step.top)
        alts[step.token] = step.logprob
        ranked = sorted(step.top.values(), reverse=True)
        floor = ranked[k - 1] if len(ranked) >= k else (ranked[-1] if ranked else step.logprob)
        same = other = 0.0
        covered: set[tuple[str, ...]] = set()
        for tok, lp in alts.items():
            reach = shape.reach(printed + tok) if tok else set()
            if not reach:
                continue
            covered |= {r[:depth] for r in reach}
            if any(_on_path(r, final) for r in reach):
                same += math.exp(lp)
            else:
                other += math.exp(lp)
        missing = {r for r in open_ if not _on_path(r, final)} - covered
        denom = same + other + len(missing) * math.exp(floor)
        if same > 0.0 and denom > 0.0:
            log_conf += math.log(same / denom)
        printed += step.token
    n = max(1, shape.choices) if shape.choices > 1 else 1
    return math.exp(log_conf / n)


# ---- the backend ----------------------------------------------------------------------


Viable = Callable[[str], bool]
"""A stop check on the text generated so far: False ends the generation there (models/backends/llama.py)."""


@dataclass
class _Reply:
    text: str
    finish_reason: str | None
    steps: list[Step] | None
    prompt_tokens: int
    completion_tokens: int


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) of each server-sent event; comments (pings) are skipped.

    llama-server before 2025 wrote a failure as an `error: {json}` line, read as an "error" event.
    """
    event, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "error":
            yield "error", value
    if data:
        yield event, "\n".join(data)


@dataclass
class _StreamState:
    """What one streamed completion has delivered so far."""

    text: str = ""
    steps: list[Step] | None = None
    choices: int = 0
    text_chunks: int = 0
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    done: bool = False
    cut: bool = False

    def add(self, chunk: dict[str, Any]) -> bool:
        """Take one chunk; True when it added text (the only time a stop check has news)."""
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices:
            return False  # OpenAI's trailing usage-only chunk
        choice = choices[0]
        self.choices += 1
        self.finish_reason = choice.get("finish_reason") or self.finish_reason
        steps = parse_logprobs(choice)
        if steps:
            self.steps = (self.steps or []) + steps
        piece = choice.get("text") or ""
        if not piece:
            return False
        self.text += piece
        self.text_chunks += 1
        return True

    @property
    def complete(self) -> bool:
        return self.done or self.cut or self.finish_reason is not None

    def completion_tokens(self) -> int:
        """The server's count when it sent one for the whole answer, else one token per chunk (both do)."""
        if self.usage and not self.cut and "completion_tokens" in self.usage:
            return int(self.usage["completion_tokens"])
        return len(self.steps) if self.steps else self.text_chunks


class HttpBackend:
    """Runs catalog tasks with one manifest entry whose `backend` is "http", on its `endpoints`."""

    def __init__(self, entry: ModelEntry, options: HttpOptions | None = None) -> None:
        if not entry.endpoints:
            raise BackendError(f"model {entry.id}: the http backend needs endpoints")
        self.entry = entry
        self.options = options or entry.http
        self.endpoints = [e.rstrip("/") for e in entry.endpoints]
        self.identity = ModelIdentity(
            model_id=entry.id, sha256=entry.sha256, backend="http", role=entry.role, demo=entry.demo
        )
        o = self.options
        api_key = o.resolved_api_key()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        self._client = httpx.Client(
            timeout=httpx.Timeout(o.read_timeout, connect=o.connect_timeout), headers=headers
        )
        self._next = itertools.count()
        self._lock = threading.Lock()
        self._no_logprobs: set[str] = set()
        self._logprobs_ok: set[str] = set()
        self._shapes: dict[str, Shape] = {}

    # -- health --

    def ping(self) -> bool:
        """True when at least one endpoint has its model loaded and answers.

        llama-server has /health (503 while loading); llama_cpp.server has none, so /v1/models
        is asked when /health is missing.
        """
        return any(self.endpoint_ready(e) for e in self.endpoints)

    def endpoint_ready(self, endpoint: str) -> bool:
        timeout = httpx.Timeout(self.options.connect_timeout)
        try:
            r = self._client.get(f"{endpoint}/health", timeout=timeout)
            if r.status_code == 404:
                r = self._client.get(f"{endpoint}/v1/models", timeout=timeout)
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    # -- transport --

    def _order(self) -> list[str]:
        with self._lock:
            start = next(self._next) % len(self.endpoints)
        return self.endpoints[start:] + self.endpoints[:start]

    def _complete(self, payload: dict[str, Any], task: str, make_viable: Callable[[], Viable] | None = None,
                  ) -> _Reply:
        """POST /v1/completions with round-robin, failover and bounded retries.

        A streamed payload is read with `_stream`; `make_viable` gives each attempt a fresh stop
        check (the checks keep state). Only failures before the first chunk are retried.
        """
        order = self._order()
        attempts = self.options.retries + 1
        last: Exception | None = None

        def send(endpoint: str, body: dict[str, Any]) -> _Reply:
            if not body.get("stream"):
                return self._post(endpoint, body)
            return self._stream(endpoint, body, make_viable() if make_viable else None)

        for attempt in range(attempts):
            endpoint = order[attempt % len(order)]
            if attempt >= len(order):  # every endpoint failed once already: back off before the next round
                time.sleep(self.options.backoff * 2 ** (attempt // len(order) - 1))
            body = dict(payload)
            try:
                if body.get("stream") and "logprobs" in body:
                    self._probe_logprobs(endpoint)
                if endpoint in self._no_logprobs:
                    body.pop("logprobs", None)
                return send(endpoint, body)
            except HttpStatusError as exc:
                if "logprobs" in body and exc.status == 500 and "logprobs is not supported" in exc.message:
                    # llama_cpp.server without --logits_all: remember and ask again without logprobs.
                    self._mark_no_logprobs(endpoint)
                    body.pop("logprobs")
                    try:
                        return send(endpoint, body)
                    except HttpStatusError as again:
                        exc = again
                    except httpx.TransportError as again:
                        last = again
                        continue
                if not exc.retriable:
                    raise
                last = exc
                log.warning("task %s: %s answered %d (attempt %d/%d)", task, endpoint, exc.status,
                            attempt + 1, attempts)
            except httpx.TransportError as exc:  # connect errors, timeouts, dropped connections
                last = exc
                log.warning("task %s: %s unreachable: %s (attempt %d/%d)", task, endpoint,
                            type(exc).__name__, attempt + 1, attempts)
        raise BackendError(f"model {self.entry.id}: no endpoint answered after {attempts} attempts: {last}") from last

    def _mark_no_logprobs(self, endpoint: str) -> None:
        if endpoint not in self._no_logprobs:
            log.warning("endpoint %s returns no logprobs; confidences fall back to %s", endpoint,
                        UNSCORED_CONFIDENCE)
            self._no_logprobs.add(endpoint)

    def _probe_logprobs(self, endpoint: str) -> None:
        """Learn once per endpoint whether it returns logprobs, before streaming to it.

        llama_cpp.server without --logits_all refuses logprobs only once its stream has
        started (200, then the connection closes without a chunk), which looks like a dead
        server; a one-token unstreamed request gets the refusal as a readable 500 instead.
        """
        if endpoint in self._no_logprobs or endpoint in self._logprobs_ok:
            return
        probe = {"model": self.entry.id, "prompt": "\n", "max_tokens": 1, "temperature": 0.0, "stream": False,
                 "logprobs": 1}
        try:
            self._post(endpoint, probe)
        except HttpStatusError as exc:
            if exc.status == 500 and "logprobs is not supported" in exc.message:
                self._mark_no_logprobs(endpoint)
                return
            raise
        self._logprobs_ok.add(endpoint)

    @staticmethod
    def _status_error(endpoint: str, r: httpx.Response) -> HttpStatusError:
        try:
            err = r.json().get("error", {})
            message = err.get("message", r.text) if isinstance(err, dict) else str(err)
        except (ValueError, AttributeError):
            message = r.text
        return HttpStatusError(endpoint, r.status_code, message)

    def _post(self, endpoint: str, body: dict[str, Any]) -> _Reply:
        r = self._client.post(f"{endpoint}/v1/completions", json=body)
        if r.status_code >= 400:
            raise self._status_error(endpoint, r)
        return self._reply(endpoint, r)

    def _reply(self, endpoint: str, r: httpx.Response) -> _Reply:
        """A whole (unstreamed) completion response."""
        try:
            data = r.json()
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            if choice.get("logprobs") is not None:
                self._logprobs_ok.add(endpoint)
            return _Reply(
                text=choice.get("text") or "",
                finish_reason=choice.get("finish_reason"),
                steps=parse_logprobs(choice),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            )
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise HttpStatusError(endpoint, 502, f"malformed completion response: {exc}") from exc

    def _stream(self, endpoint: str, body: dict[str, Any], viable: Viable | None) -> _Reply:
        """Read a streamed completion chunk by chunk and close it as soon as `viable` says stop.

        Closing the response closes its connection; both servers notice the client is gone and
        stop generating. Failures before the first chunk keep their retriable types
        (HttpStatusError, httpx.TransportError); after it they are `StreamBroken`.
        """
        state = _StreamState()
        with self._client.stream("POST", f"{endpoint}/v1/completions", json=body) as r:
            if r.status_code >= 400:
                r.read()
                raise self._status_error(endpoint, r)
            if r.headers.get("content-type", "").startswith("application/json"):
                r.read()  # a server (or proxy) that ignores "stream": the whole answer at once
                return self._reply(endpoint, r)
            try:
                for event, data in _sse_events(r.iter_lines()):
                    if data.strip() == "[DONE]":
                        state.done = True
                        break
                    if state.add(self._chunk(endpoint, event, data, started=state.choices > 0)) \
                            and viable is not None and not viable(state.text):
                        state.cut = True
                        break
            except httpx.TransportError as exc:
                if state.choices == 0:
                    raise
                if state.finish_reason is None:
                    raise self._broken(endpoint, state, f"{type(exc).__name__}: {exc}") from exc
        if not state.complete:
            if state.choices == 0:
                raise httpx.RemoteProtocolError(f"{endpoint}: stream closed before its first chunk")
            raise self._broken(endpoint, state, "stream closed before the answer ended")
        if state.cut:
            log.debug("endpoint %s: stream closed early by a stop check after %d chunks", endpoint,
                      state.choices)
        usage = state.usage or {}
        n_prompt = usage.get("prompt_tokens")
        return _Reply(
            text=state.text,
            finish_reason="stop" if state.cut else state.finish_reason,
            steps=state.steps,
            prompt_tokens=int(n_prompt) if n_prompt is not None else self._prompt_tokens(endpoint, body),
            completion_tokens=state.completion_tokens(),
        )

    def _chunk(self, endpoint: str, event: str, data: str, *, started: bool) -> dict[str, Any]:
        """One event's JSON; an error event raises (retriable only before the first chunk)."""
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            chunk = {"error": {"message": f"malformed stream event: {exc}", "code": 502}}
        if not isinstance(chunk, dict):
            chunk = {"error": {"message": "malformed stream event: not an object", "code": 502}}
        if event == "error" or "error" in chunk:
            err = chunk.get("error", chunk)
            message = str(err.get("message", err)) if isinstance(err, dict) else str(err)
            code = err.get("code") if isinstance(err, dict) else None
            status = code if isinstance(code, int) and code >= 400 else 500
            if started:
                raise StreamBroken(f"model {self.entry.id}: {endpoint} failed mid-stream: {message[:200]}")
            raise HttpStatusError(endpoint, status, message)
        return chunk

    def _broken(self, endpoint: str, state: _StreamState, why: str) -> StreamBroken:
        return StreamBroken(f"model {self.entry.id}: {endpoint} failed mid-stream after {state.choices} "
                            f"chunks: {why}")

    def _prompt_tokens(self, endpoint: str, body: dict[str, Any]) -> int:
        """Prompt length from the server's tokenizer, for a stream that carried no usage.

        llama_cpp.server never sends usage when streaming, and llama-server sends it in the
        last chunk, which a stream closed early never reads. 0 when neither tokenize route
        answers: the count is bookkeeping, not worth failing an answer for.
        """
        prompt = body["prompt"]
        routes: tuple[tuple[str, dict[str, Any], Callable[[Any], int]], ...] = (
            ("/extras/tokenize/count", {"input": prompt, "model": self.entry.id}, lambda d: int(d["count"])),
            ("/tokenize", {"content": prompt, "add_special": True, "parse_special": True},
             lambda d: len(d["tokens"])),
        )
        for path, request, read in routes:
            try:
                r = self._client.post(f"{endpoint}{path}", json=request)
                if r.status_code == 200:
                    return read(r.json())
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
        return 0

    def _payload(self, prompt: str, max_tokens: int, grammar: str | None, *, stream: bool = False,
                 ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.entry.id,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "stop": [END],
            "stream": stream,
            "logprobs": self.options.top_logprobs,
        }
        if stream:
            # OpenAI's opt-in to a final usage chunk; llama-server sends usage anyway.
            body["stream_options"] = {"include_usage": True}
        if grammar is not None:
            body["grammar"] = grammar
        return body

    # -- tasks --

    def shape(self, spec: TaskSpec) -> Shape:
        if spec.name.value not in self._shapes:
            self._shapes[spec.name.value] = Shape.for_spec(spec)
        return self._shapes[spec.name.value]

    def run(self, spec: TaskSpec, request: TaskRequest) -> TaskResult:
        prompt = spec.prompt(request, think_prefill=self.entry.think_prefill)
        started = time.perf_counter()
        if spec.decoding in ("labels", "skeleton"):
            value, raw, conf, n_prompt, n_gen = self._constrained(spec, prompt)
        else:
            value, raw, conf, n_prompt, n_gen = self._free(spec, prompt)
        latency = (time.perf_counter() - started) * 1000.0
        result = build_result(spec, request, value, identity=self.identity, prompt=prompt, raw_output=raw,
                              confidence=UNSCORED_CONFIDENCE if conf is None else conf, tokens_prompt=n_prompt,
                              tokens_generated=n_gen, latency_ms=latency)
        if conf is None:
            result.note = UNSCORED_NOTE
        return result

    def _constrained(self, spec: TaskSpec, prompt: str) -> tuple[TaskValue, str, float | None, int, int]:
        shape = self.shape(spec)
        reply = self._complete(self._payload(prompt, spec.max_tokens, shape.gbnf()), spec.name.value)
        text = reply.text
        if shape.keys(text) is None:
            # The grammar admits nothing else, so a server that ignored it or ran out of tokens is at fault.
            raise BackendError(f"model {self.entry.id}: {spec.name.value} output outside its grammar "
                               f"(finish_reason {reply.finish_reason})")
        value = spec.parse(text)
        conf = label_confidence(shape, reply.steps, self.options.top_logprobs) if reply.steps else None
        return value, text, conf, reply.prompt_tokens, reply.completion_tokens

    def _free(self, spec: TaskSpec, prompt: str) -> tuple[TaskValue, str, float | None, int, int]:
        """Streamed greedy text, parsed; one more streamed try under the task's grammar if it does not parse.

        Line-shaped answers get the in-process stop checks: the free pass stops at the first
        unparseable line or once it loops, the grammar pass (always parseable) once it loops.
        """
        first_error: ParseError | None = None
        n_gen = n_prompt = 0
        for grammar in (None, spec.grammar):
            if first_error is not None and grammar is None:
                break
            make_viable = self._stop_check(spec, free=grammar is None)
            payload = self._payload(prompt, spec.max_tokens, grammar, stream=True)
            reply = self._complete(payload, spec.name.value, make_viable)
            n_gen += reply.completion_tokens
            n_prompt = reply.prompt_tokens
            raw = reply.text
            text = drop_incomplete_tail(spec.name.value, raw) if reply.finish_reason == "length" else raw
            try:
                value = spec.parse(text)
            except ParseError as exc:
                if first_error is None:
                    first_error = exc
                    continue
                raise exc from first_error
            conf = None
            if reply.steps:
                # Geometric mean of the chosen tokens' probabilities, as the in-process backend reports.
                lps = [s.logprob for s in reply.steps if math.isfinite(s.logprob)]
                conf = math.exp(sum(lps) / max(1, len(lps)))
            return value, raw, conf, n_prompt, n_gen
        assert first_error is not None
        raise first_error

    @staticmethod
    def _stop_check(spec: TaskSpec, *, free: bool) -> Callable[[], Viable] | None:
        """The in-process backend's early stop for this pass, as a factory: each attempt needs fresh state."""
        if spec.line_viable is None:
            return None
        return lambda: unless_looping(viable_lines(spec) if free else None)

    def close(self) -> None:
        self._client.close()
