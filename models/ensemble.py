"""The ensemble: the only door to the models, like llama-cpp-python's LlamaProxy.

It routes each task to the model of its role (the manifest's routing, by default the
paper's), runs it, and cross-checks the answer with the deterministic rules engine: a
value the report states explicitly wins over the model's, and the disagreement is kept
on the result, never hidden. Extracted items the report does not contain are then left out
and noted (models/grounding.py).

Synchronous and thread-safe: each loaded model file has its own lock (models/backends/
llama.py); the plugin calls `run` from a thread pool. One `Llama` per distinct model
file: when both roles point at the same GGUF (the demo), it is loaded once.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from models.backends.base import Backend, ContextOverflow
from models.catalog import CATALOG, value_text
from models.grounding import ground
from models.manifest import Manifest, ModelEntry, load_manifest
from models.parsers import ParseError
from models.rules.temporal import same_finding
from models.types import (
    ChexpertValue,
    Disagreement,
    NStageValue,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskRequest,
    TaskResult,
    TaskValue,
    TemporalChange,
    TemporalValue,
)

__all__ = ["Ensemble", "Rules"]

log = logging.getLogger(__name__)


class Rules(Protocol):
    """What the ensemble needs from the rules engine (models/rules)."""

    def stated(self, request: TaskRequest) -> TaskResult | None: ...

    def facts(self, report: RadiologyReport) -> ReportFacts: ...


@functools.cache
def code_version() -> str:
    """Short sha256 of the analysis code (every module under models/) and the libraries that shape answers."""
    digest = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    for dist in ("llama_cpp_python", "medspacy", "spacy"):
        try:
            digest.update(f"{dist}=={metadata.version(dist)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{dist} absent".encode())
    return digest.hexdigest()[:8]


class Ensemble:
    """Models of one manifest plus the rules engine; build with `Ensemble.load`."""

    def __init__(self, manifest: Manifest, rules: Rules | None) -> None:
        self.manifest = manifest
        self.rules = rules
        self._hashes = {m.id: m.verified_sha256() for m in manifest.models}  # loud refusal happens here
        # Stored results are keyed by this: a new model file, route, or analysis code (prompts,
        # parsers, rules, grounding) gives new results instead of serving ones the code no longer makes.
        self.manifest_version = f"{manifest.version}+{code_version()}"
        self._backends: dict[str, Backend] = {}
        self._loaded: dict[tuple[Any, ...], Any] = {}
        self._load_lock = threading.Lock()

    @classmethod
    def load(cls, manifest_path: Path | None = None, *, rules: Rules | None = None) -> Ensemble:
        """Read the manifest (None = the packaged demo one), verify every model file's hash.

        Models load lazily on first use (or with `warm()`); `rules` defaults to the
        project's RulesEngine.
        """
        if rules is None:
            from models.rules import RulesEngine  # lazy: the rules package is optional at import time

            rules = RulesEngine()
        return cls(load_manifest(manifest_path), rules)

    # -- models --

    def _file_key(self, entry: ModelEntry) -> tuple[Any, ...]:
        return (entry.path, entry.lora_path, entry.lora_scale, entry.n_ctx, entry.n_threads, entry.threads_batch)

    def backend_for(self, task: TaskName) -> Backend:
        """The backend of the model routed to `task`, loading its file on first use."""
        return self._backend(self.manifest.entry_for(task))

    def backend_by_id(self, model_id: str) -> Backend:
        """The backend of one manifest model whatever the routing (evaluation compares models)."""
        for entry in self.manifest.models:
            if entry.id == model_id:
                return self._backend(entry)
        raise KeyError(f"no model {model_id!r} in manifest {self.manifest_version}")

    def _backend(self, entry: ModelEntry) -> Backend:
        backend = self._backends.get(entry.id)
        if backend is not None:
            return backend
        with self._load_lock:
            backend = self._backends.get(entry.id)
            if backend is None:
                backend = self._make_backend(entry)
                self._backends[entry.id] = backend
        return backend

    def _make_backend(self, entry: ModelEntry) -> Backend:
        if entry.backend == "http":
            from models.backends.http import HttpBackend

            return HttpBackend(entry)
        from models.backends.llama import LlamaBackend, LoadedModel

        key = self._file_key(entry)
        model = self._loaded.get(key)
        if model is None:
            log.info("loading model %s (sha256 %s)", entry.id, (self._hashes[entry.id] or "")[:12])
            model = LoadedModel(entry, self._hashes[entry.id])
            self._loaded[key] = model
        return LlamaBackend(entry, model)

    def warm(self) -> None:
        """Load every routed model and the rules engine's NLP pipeline now (start-up), so the
        first request, often a hook on a time budget, does not pay for loading them."""
        for task in TaskName:
            self.backend_for(task)
        if self.rules is not None:
            self.rules.facts(RadiologyReport(report_id="warm-up", findings="No pneumothorax. Lungs are clear.",
                                             impression="No acute findings."))

    def describe(self) -> list[dict[str, Any]]:
        """One row per manifest model: id, role, backend, path, sha256, demo, loaded."""
        return [
            {"id": m.id, "role": m.role, "backend": m.backend, "path": m.path, "sha256": self._hashes[m.id],
             "demo": m.demo, "loaded": m.id in self._backends}
            for m in self.manifest.models
        ]

    # -- tasks --

    def run(self, request: TaskRequest) -> TaskResult:
        """Run one task: the routed model's answer, cross-checked with what the report states."""
        spec = CATALOG[request.task]
        backend = self.backend_for(request.task)
        stated = self.rules.stated(request) if self.rules is not None else None
        try:
            result = backend.run(spec, request)
        except (ParseError, ContextOverflow) as exc:
            # No model answer, and none on a retry either (unparseable output, or a report longer
            # than the model's context). What the report states still stands, and says why. A
            # transient failure (server down) propagates instead: the task fails now and runs
            # again on the next request, so the model's cross-check is not lost for good.
            if stated is None:
                raise
            why = (f"model output unparseable ({exc.reason})" if isinstance(exc, ParseError)
                   else f"model not run ({exc})")
            log.warning("task %s: %s; the stated value stands", request.task.value, type(exc).__name__)
            note = f"{why}; the value the report states stands"
            if isinstance(stated.value, RadsValue) and stated.value.unlisted and stated.note:
                note += f"; {stated.note}"  # why the value has no category must stay visible
            return stated.model_copy(update={"decided_by": "rules", "note": note})
        if stated is not None:
            result = _reconcile(result, stated)
        return ground(result, request.report)

    def facts(self, report: RadiologyReport) -> ReportFacts:
        """What the rules engine reads directly from the report (critical results, follow-ups, side)."""
        return self.rules.facts(report) if self.rules is not None else ReportFacts()

    def close(self) -> None:
        with self._load_lock:
            for model in self._loaded.values():
                model.close()
            for backend in self._backends.values():
                if backend.identity.backend == "http":
                    backend.close()
            self._loaded.clear()
            self._backends.clear()

    def __enter__(self) -> Ensemble:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _agree(model: TaskResult, stated: TaskResult) -> bool:
    a, b = model.value, stated.value
    if isinstance(a, NStageValue) and isinstance(b, NStageValue):
        return a.involvement == b.involvement and (a.stage is None or b.stage is None or a.stage == b.stage)
    if isinstance(a, RadsValue) and isinstance(b, RadsValue) and a.modifiers and a.modifiers != b.modifiers:
        # The published model prints no modifiers, so only modifiers it did print can disagree.
        return False
    return value_text(a) == value_text(b)


def _shown(value: TaskValue) -> str:
    """The value as the disagreement names it: RADS with its modifiers, so a modifier-only difference shows."""
    return value.full_label if isinstance(value, RadsValue) else value_text(value)


def _merge_evidence(first: TaskResult, second: TaskResult) -> list:
    seen = set()
    out = []
    for ev in [*first.evidence, *second.evidence]:
        key = (ev.sentence, ev.start)
        if key not in seen:
            seen.add(key)
            out.append(ev)
    return out


def _reconcile(model: TaskResult, stated: TaskResult) -> TaskResult:
    """Stated values win; agreement raises confidence; disagreement is recorded with both values."""
    if isinstance(model.value, ChexpertValue) and isinstance(stated.value, ChexpertValue):
        return _reconcile_chexpert(model, stated)
    if isinstance(model.value, TemporalValue) and isinstance(stated.value, TemporalValue):
        return _reconcile_temporal(model, stated)
    # A value the rules read from words rather than a written label ("no distant metastases"
    # -> M0) carries a note saying so; it stays on the merged result.
    note = "; ".join(n for n in (model.note, stated.note) if n) or None
    # A category the report states but its system does not define ('BI-RADS 7') never agrees with a
    # model, which can only answer a listed one: the report's words stand, the model's answer is kept.
    unlisted = isinstance(stated.value, RadsValue) and stated.value.unlisted
    if not unlisted and _agree(model, stated):
        return model.model_copy(update={
            "value": stated.value,
            "decided_by": "model+rules",
            "confidence": max(model.confidence, stated.confidence),
            "evidence": _merge_evidence(stated, model),
            "note": note,
        })
    # A value derived from described features (raw "derived: ...", RADS criteria or N from the
    # nodes) is not the report's own statement, and the disagreement must not say it is.
    derived = (stated.raw_output or "").startswith("derived:")
    # A RADS note is never "read from words" (derived ones say so above; a stated category's note only
    # names an unlisted statement beside it), so a stated RADS category is always "the report states".
    described = bool(stated.note) and not isinstance(stated.value, RadsValue)
    source = "the features the report describes give" if derived else (
        "the report describes" if described else "the report states")
    said = f"{source} {_shown(stated.value)}"
    if isinstance(stated.value, RadsValue) and not stated.value.applicable:
        said = f"no RADS system applies to this study: {_shown(stated.value)}"
    if unlisted:
        said = f"the report states {_shown(stated.value)}, which is not a {stated.value.system} category"
    return model.model_copy(update={
        "value": stated.value,
        "decided_by": "rules",
        "confidence": stated.confidence,
        "evidence": stated.evidence or model.evidence,
        "model": stated.model,
        "note": note,
        "disagreement": Disagreement(
            model_value=_shown(model.value), rules_value=_shown(stated.value), model=model.model,
            note=f"{said}; the model answered {_shown(model.value)}",
        ),
    })


def _reconcile_chexpert(model: TaskResult, stated: TaskResult) -> TaskResult:
    """Per label: a label the report states takes the stated value; the model fills the rest."""
    mv: ChexpertValue = model.value  # type: ignore[assignment]
    sv: ChexpertValue = stated.value  # type: ignore[assignment]
    conflicts = [(f"{k}: {mv.labels[k]}", f"{k}: {v}") for k, v in sv.labels.items() if k in mv.labels and mv.labels[k] != v]
    merged = ChexpertValue(labels={**mv.labels, **sv.labels})
    return _merged_items(model, stated, merged, conflicts, {},
                         f"{len(conflicts)} label(s) stated in the report differ from the model; stated values kept")


def _merged_items(model: TaskResult, stated: TaskResult, merged: TaskValue, conflicts: list[tuple[str, str]],
                  extra: dict[str, Any], note: str) -> TaskResult:
    """A list value merged item by item; conflicting items ("model: rules" pairs) make the disagreement."""
    update: dict[str, Any] = {"value": merged, "evidence": _merge_evidence(stated, model), **extra}
    if conflicts:
        update["decided_by"] = "rules"
        update["disagreement"] = Disagreement(
            model_value="; ".join(m for m, _ in conflicts), rules_value="; ".join(r for _, r in conflicts),
            model=model.model, note=note,
        )
    else:
        update["decided_by"] = "model+rules"
        update["confidence"] = max(model.confidence, stated.confidence)
    return model.model_copy(update=update)


def _reconcile_temporal(model: TaskResult, stated: TaskResult) -> TaskResult:
    """Per finding: a change the report writes wins; the model adds findings the rules did not read.

    The rules read only explicit phrasings ("has resolved", "new ..."), so the model stays the
    reader of everything else; where both name one finding with different classes, the report's
    words win and the model's class is kept as a disagreement.
    """
    mv: TemporalValue = model.value  # type: ignore[assignment]
    sv: TemporalValue = stated.value  # type: ignore[assignment]
    merged: list[TemporalChange] = list(sv.changes)
    conflicts: list[tuple[str, str]] = []
    for mc in mv.changes:
        match = next((sc for sc in sv.changes if same_finding(mc.finding, sc.finding)), None)
        if match is None:
            if not any(same_finding(mc.finding, c.finding) and mc.change == c.change for c in merged):
                merged.append(mc)
        elif match.change != mc.change:
            conflicts.append((f"{mc.finding}: {mc.change}", f"{match.finding}: {match.change}"))
    note = "; ".join(n for n in (model.note, stated.note) if n) or None
    return _merged_items(model, stated, TemporalValue(changes=merged), conflicts, {"note": note},
                         f"{len(conflicts)} change(s) the report states differ from the model; the report's kept")
