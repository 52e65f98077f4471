"""The backend protocol every model runner implements, and the result assembly they share.

A backend runs one catalog task on one request and returns the raw model answer as a
typed `TaskResult` (decided_by="model"); cross-checking with the rules engine is the
ensemble's job, not the backend's.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from models.catalog import input_hash
from models.types import ModelIdentity, TaskRequest, TaskResult, TaskValue, sha256_text

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from models.catalog import TaskSpec

__all__ = ["Backend", "BackendError", "ContextOverflow", "build_result"]


class BackendError(RuntimeError):
    """A model could not be run (load failure, server down, context overflow); names the model id."""


class ContextOverflow(BackendError):
    """The prompt does not fit the model's context: no retry will change that (unlike a server down)."""


@runtime_checkable
class Backend(Protocol):
    """Something that runs catalog tasks with one model."""

    identity: ModelIdentity
    """Who answers: model id, file sha256, backend kind, role, demo flag."""

    def run(self, spec: TaskSpec, request: TaskRequest) -> TaskResult:
        """Run `spec` on `request` and return the model's own typed answer."""
        ...

    def close(self) -> None:
        """Release the model (memory, sockets); the backend is unusable afterwards."""
        ...


def sha256_prefix(request: TaskRequest) -> str:
    """The first 12 hex digits of the report's content hash: enough to find it, nothing to read."""
    return request.report.content_hash[:12]


def build_result(
    spec: TaskSpec,
    request: TaskRequest,
    value: TaskValue,
    *,
    identity: ModelIdentity,
    prompt: str,
    raw_output: str,
    confidence: float,
    tokens_prompt: int,
    tokens_generated: int,
    latency_ms: float,
) -> TaskResult:
    """A TaskResult with the hashes, counts and evidence every backend must attach.

    Also the one log line per model call, for every backend: ids, a hash of the input and
    counts only (no report text, no patient identifiers).
    """
    digest = sha256_prefix(request)  # a sha256 prefix: never the text itself
    task = spec.name.value  # the task's name ("rads_assignment"), not a person's
    log.info("task %s model %s (%s) input sha256 %s: %d+%d tokens, %.0f ms", task, identity.model_id,
             identity.backend, digest, tokens_prompt, tokens_generated, latency_ms)
    return TaskResult(
        task=spec.name,
        value=value,
        confidence=min(1.0, max(0.0, float(confidence))),
        evidence=spec.evidence(request, value),
        model=identity,
        decided_by="model",
        prompt_hash=sha256_text(prompt),
        input_hash=input_hash(request),
        tokens_prompt=tokens_prompt,
        tokens_generated=tokens_generated,
        latency_ms=latency_ms,
        raw_output=raw_output,
    )
