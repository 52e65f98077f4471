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
  again once under the task's grammar, as the in-process backend does.

Confidence: from the server's `logprobs` (top-k alternatives per token) when it returns
them (`llama-server` always can; `llama_cpp.server` only with `--logits_all true`).
Constrained answers are rescored among the valid alternatives (`label_confidence`). A
server that cannot return logprobs still gives a valid answer, with the documented lower
`UNSCORED_CONFIDENCE` and a note on the result saying so; it is never re-asked for a
confidence.

Transport: one `httpx.Client` with connect/read timeouts; endpoints are taken round-robin
per call and failed over; connect errors, timeouts and 5xx are retried (bounded, with
exponential backoff once every endpoint was tried), 4xx never (the request itself is wrong).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from models.backends.base import BackendError, build_result
from models.catalog import TaskSpec
from models.manifest import HttpOptions, ModelEntry
from models.parsers import ParseError, drop_incomplete_tail
from models.types import ModelIdentity, TaskRequest, TaskResult, TaskValue

__all__ = [
    "HttpOptions",
    "HttpBackend",
    "HttpStatusError",
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
        return None
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


@dataclass
class _Reply:
    text: str
    finish_reason: str | None
    steps: list[Step] | None
    prompt_tokens: int
    completion_tokens: int


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

    def _complete(self, payload: dict[str, Any], task: str) -> _Reply:
        """POST /v1/completions with round-robin, failover and bounded retries."""
        order = self._order()
        attempts = self.options.retries + 1
        last: Exception | None = None
        for attempt in range(attempts):
            endpoint = order[attempt % len(order)]
            if attempt >= len(order):  # every endpoint failed once already: back off before the next round
                time.sleep(self.options.backoff * 2 ** (attempt // len(order) - 1))
            body = dict(payload)
            if endpoint in self._no_logprobs:
                body.pop("logprobs", None)
            try:
                return self._post(endpoint, body)
            except HttpStatusError as exc:
                if "logprobs" in body and exc.status == 500 and "logprobs is not supported" in exc.message:
                    # llama_cpp.server without --logits_all: remember and ask again without logprobs.
                    log.warning("endpoint %s returns no logprobs; confidences fall back to %s",
                                endpoint, UNSCORED_CONFIDENCE)
                    self._no_logprobs.add(endpoint)
                    body.pop("logprobs")
                    try:
                        return self._post(endpoint, body)
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

    def _post(self, endpoint: str, body: dict[str, Any]) -> _Reply:
        r = self._client.post(f"{endpoint}/v1/completions", json=body)
        if r.status_code >= 400:
            try:
                err = r.json().get("error", {})
                message = err.get("message", r.text) if isinstance(err, dict) else str(err)
            except ValueError:
                message = r.text
            raise HttpStatusError(endpoint, r.status_code, message)
        try:
            data = r.json()
            choice = data["choices"][0]
            usage = data.get("usage") or {}
            return _Reply(
                text=choice.get("text") or "",
                finish_reason=choice.get("finish_reason"),
                steps=parse_logprobs(choice),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            )
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise HttpStatusError(endpoint, 502, f"malformed completion response: {exc}") from exc

    def _payload(self, prompt: str, max_tokens: int, grammar: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.entry.id,
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "stop": [END],
            "stream": False,
            "logprobs": self.options.top_logprobs,
        }
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
        first_error: ParseError | None = None
        n_gen = n_prompt = 0
        for grammar in (None, spec.grammar):
            if first_error is not None and grammar is None:
                break
            reply = self._complete(self._payload(prompt, spec.max_tokens, grammar), spec.name.value)
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

    def close(self) -> None:
        self._client.close()
