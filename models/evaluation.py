"""The paper's metrics on a labelled set (reports.jsonl or nli.jsonl shape), per task and runner.

`evaluate(path, runners=..., facts=...)` builds one TaskRequest per labelled task of every line,
asks each runner, and scores the answers the way the RadLite paper does: accuracy (RADS, N, M,
NLI), ROUGE-L F1 (impression, via the `rouge-score` package), Jaccard (temporal changes) and
per-label accuracy (CheXpert); beside them the dataset's critical-result and laterality labels,
scored on what a facts runner (the rules engine, the ensemble) reads from the report. A runner
that returns None, or raises, abstains: an abstention is never correct, and "answered" shows how
often a runner spoke at all (the rules engine answers only what a report states).

Gold labels are read leniently (any case, "bi-rads 4", "LR-5", CAD-RADS modifiers, N1a -> N1);
a label that still cannot be scored is skipped and counted in `EvalReport.skipped`, with line
and reason. A line that is not JSON, or text that is not UTF-8, is a `DatasetError` naming the
line. See docs/rules.md ("Evaluation") for the rules of scoring.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from models.rules.rads import find_mentions, normalise
from models.types import (
    CHEXPERT_LABELS,
    RADS_SYSTEMS,
    ChexpertValue,
    MStageValue,
    NliValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskRequest,
    TaskResult,
    TemporalValue,
    TextValue,
)

__all__ = [
    "Runner",
    "FactsRunner",
    "Case",
    "FactCase",
    "Skip",
    "Dataset",
    "DatasetError",
    "Score",
    "EvalReport",
    "CRITICAL_TERMS",
    "load_cases",
    "load_dataset",
    "evaluate",
    "rules_runner",
    "rules_facts",
    "rads_key",
    "rads_outcome",
    "temporal_jaccard",
    "chexpert_accuracy",
    "critical_score",
]

log = logging.getLogger(__name__)

Runner = Callable[[TaskRequest], TaskResult | None]
FactsRunner = Callable[[RadiologyReport], ReportFacts]

# Groups of RADS cases reported on their own rows. The headline row holds every report with a
# `rads` label, null ("no RADS applies") included: "No applicable RADS" is one of the answers
# the published models print, so it is a class of the task like any category.
RADS_ALL = "rads_assignment"
RADS_APPLICABLE = "rads_assignment [applicable]"
RADS_STATED = "rads_assignment [stated]"
RADS_INFERRED = "rads_assignment [inferred]"
RADS_NONE = "rads_assignment [no applicable RADS]"
CRITICAL = "critical"
LATERALITY = "laterality"

_METRIC = {
    TaskName.rads_assignment.value: "accuracy",
    TaskName.n_staging.value: "accuracy",
    TaskName.m_staging.value: "accuracy",
    TaskName.radiology_nli.value: "accuracy",
    TaskName.abnormality_detection.value: "per-label accuracy",
    TaskName.temporal_comparison.value: "Jaccard",
    TaskName.impression_generation.value: "ROUGE-L F1",
    CRITICAL: "exact set per report",
    LATERALITY: "accuracy",
}
_ROW_ORDER = [t.value for t in TaskName] + [CRITICAL, LATERALITY]

# The README's critical-result vocabulary: the only terms a label can hold, so the only ones scored.
CRITICAL_TERMS: tuple[str, ...] = (
    "tension pneumothorax", "pneumothorax", "intracranial hemorrhage", "pulmonary embolism", "free air",
    "aortic dissection", "malpositioned support device",
)
_SIDES = {"left": "left", "right": "right", "bilateral": "bilateral", "both": "bilateral", "l": "left", "r": "right",
          "none": None, "null": None, "midline": None, "n/a": None, "na": None, "": None}


class DatasetError(ValueError):
    """The file cannot be evaluated: a line is not JSON, the text is not UTF-8, or nothing can be scored."""


class _Unscorable(ValueError):
    """One label cannot be scored; the case is skipped and the reason counted."""


@dataclass(frozen=True)
class Case:
    """One labelled task: the request to run and the gold answer to score it against."""

    case_id: str
    group: str  # row name in the report: the task name, or a RADS subgroup
    request: TaskRequest
    gold: Any
    line: int = 0

    @property
    def rows(self) -> tuple[str, ...]:
        """Every report row the case counts in: its own group, and the RADS headline rows."""
        if self.request.task != TaskName.rads_assignment:
            return (self.group,)
        applicable = (RADS_APPLICABLE,) if self.gold.applicable and self.group != RADS_APPLICABLE else ()
        return (RADS_ALL, *applicable, self.group)


@dataclass(frozen=True)
class FactCase:
    """A critical-result or laterality label of one report, scored on a facts runner's ReportFacts."""

    case_id: str
    kind: str  # CRITICAL or LATERALITY
    report: RadiologyReport
    gold: Any  # frozenset of critical terms, or "left"/"right"/"bilateral"/None
    line: int = 0


@dataclass(frozen=True)
class Skip:
    """Something in the file that could not be scored, and why."""

    line: int
    case_id: str | None
    what: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" ({self.case_id})" if self.case_id else "")
        return f"{where}: {self.what}: {self.reason}"


@dataclass
class Dataset:
    """The scorable cases of one file and what was skipped."""

    name: str
    cases: list[Case] = field(default_factory=list)
    facts: list[FactCase] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    lines: int = 0
    unknown_labels: Counter[str] = field(default_factory=Counter)  # label key -> lines that hold it


@dataclass
class Score:
    """Sum of per-case scores of one runner on one group."""

    n: int = 0
    answered: int = 0
    total: float = 0.0
    total_answered: float = 0.0
    errors: int = 0

    def add(self, value: float | None, *, error: bool = False) -> None:
        self.n += 1
        self.errors += error
        if value is not None:
            self.answered += 1
            self.total += value
            self.total_answered += value

    @property
    def mean(self) -> float:
        """Score over all cases, abstentions counting 0."""
        return self.total / self.n if self.n else 0.0

    @property
    def mean_answered(self) -> float | None:
        """Score over the cases the runner answered."""
        return self.total_answered / self.answered if self.answered else None


def _prf(c: Counter[str]) -> dict[str, float | int | None]:
    """Counts with precision, recall and F1; None where undefined (no flagged terms, no labelled terms),
    since 0 would call a runner wrong that rightly flagged nothing on reports without critical results."""
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None  # = 2PR/(P+R), and 0 when only one is defined
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f1}


@dataclass
class EvalReport:
    """Scores by group and runner, RADS accuracy per system, the RADS severity profile and the skips."""

    dataset: str
    runners: list[str]
    scores: dict[str, dict[str, Score]] = field(default_factory=dict)
    per_system: dict[str, dict[str, Score]] = field(default_factory=dict)
    severity: dict[str, Counter[str]] = field(default_factory=dict)
    no_rads: dict[str, Counter[str]] = field(default_factory=dict)  # answers on reports labelled "no RADS"
    chexpert_labels: dict[str, dict[str, Score]] = field(default_factory=dict)  # label -> runner -> accuracy
    critical_terms: dict[str, Counter[str]] = field(default_factory=dict)  # runner -> tp/fp/fn over terms
    skipped: list[Skip] = field(default_factory=list)
    lines: int = 0
    unknown_labels: Counter[str] = field(default_factory=Counter)  # label keys no scorer reads, with line counts

    def score(self, group: str, runner: str) -> Score:
        return self.scores.setdefault(group, {}).setdefault(runner, Score())

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers, for JSON output and tests."""
        return {
            "dataset": self.dataset,
            "runners": self.runners,
            "lines": self.lines,
            "scores": {g: {r: {"n": s.n, "answered": s.answered, "score": s.mean, "answered_score": s.mean_answered,
                               "errors": s.errors} for r, s in by.items()} for g, by in self.scores.items()},
            "per_system": {sys: {r: {"n": s.n, "accuracy": s.mean} for r, s in by.items()}
                           for sys, by in self.per_system.items()},
            "severity": {r: dict(c) for r, c in self.severity.items()},
            "no_rads": {r: dict(c) for r, c in self.no_rads.items()},
            "chexpert_labels": {lab: {r: s.mean for r, s in by.items()} for lab, by in self.chexpert_labels.items()},
            "critical_terms": {r: _prf(c) for r, c in self.critical_terms.items()},
            "skipped": [{"line": s.line, "id": s.case_id, "what": s.what, "reason": s.reason} for s in self.skipped],
            "unknown_labels": dict(self.unknown_labels),
        }

    def render(self, console: Console) -> None:
        """Rich tables: metric per group and runner, per-RADS-system accuracy, severity profile, skips."""
        console.print(self._tasks_table())
        for table in (self._systems_table(), self._severity_table(), self._chexpert_table(), self._critical_table()):
            if table is not None:
                console.print(table)
        self._render_skips(console)

    def _tasks_table(self) -> Table:
        tasks = Table(title=f"RadLite metrics - {escape(self.dataset)}")
        for col, just in (("task", "left"), ("metric", "left"), ("n", "right")):
            tasks.add_column(col, justify=just)  # type: ignore[arg-type]
        for r in self.runners:
            tasks.add_column(f"{escape(r)}\nscore (answered/n: score)", justify="right")
        for group, by in self.scores.items():
            n = max((s.n for s in by.values()), default=0)
            tasks.add_row(escape(group), _METRIC.get(group.split(" ")[0], ""), str(n),
                          *(_cell(by.get(r)) for r in self.runners))
        return tasks

    def _systems_table(self) -> Table | None:
        if not self.per_system:
            return None
        systems = Table(title="RADS accuracy per system (applicable cases of the system)")
        systems.add_column("system")
        systems.add_column("n", justify="right")
        for r in self.runners:
            systems.add_column(escape(r), justify="right")
        order = list(RADS_SYSTEMS)
        for system in sorted(self.per_system, key=lambda s: (order.index(s) if s in order else 99, s)):
            by = self.per_system[system]
            n = max((s.n for s in by.values()), default=0)
            systems.add_row(system, str(n), *(f"{by[r].mean:.3f}" if r in by else "-" for r in self.runners))
        return systems

    def _severity_table(self) -> Table | None:
        if not self.severity and not self.no_rads:
            return None
        prof = Table(title="RADS severity profile (share of applicable RADS cases)")
        prof.add_column("runner")
        kinds = ("exact", "overcall", "undercall", "other", "abstain")
        for k in kinds:
            prof.add_column(k, justify="right")
        prof.add_column("RADS named on\nno-RADS reports", justify="right")
        for r in self.runners:
            c = self.severity.get(r, Counter())
            total = sum(c.values())
            shares = [f"{100 * c[k] / total:.1f}%" if total else "-" for k in kinds]
            none = self.no_rads.get(r, Counter())
            prof.add_row(escape(r), *shares, f"{none['rads']}/{sum(none.values())}" if none else "-")
        return prof

    def _chexpert_table(self) -> Table | None:
        if not self.chexpert_labels:
            return None
        table = Table(title="CheXpert accuracy per label (absent = not mentioned = negative)")
        table.add_column("label")
        for r in self.runners:
            table.add_column(escape(r), justify="right")
        for label in CHEXPERT_LABELS:
            by = self.chexpert_labels.get(label, {})
            table.add_row(label, *(f"{by[r].mean:.3f}" if r in by else "-" for r in self.runners))
        return table

    def _critical_table(self) -> Table | None:
        if not self.critical_terms:
            return None
        table = Table(title="Critical results over (report, term) pairs")
        for col in ("runner", "tp", "fp", "fn", "precision", "recall", "F1"):
            table.add_column(col, justify="left" if col == "runner" else "right")
        for r, c in self.critical_terms.items():
            m = _prf(c)
            table.add_row(escape(r), str(m["tp"]), str(m["fp"]), str(m["fn"]),
                          *("-" if m[k] is None else f"{m[k]:.3f}" for k in ("precision", "recall", "f1")))
        return table

    def _render_skips(self, console: Console, limit: int = 25) -> None:
        if self.unknown_labels:
            known = ", ".join(what for what, _ in _LABEL_BUILDERS)
            found = ", ".join(f"{escape(k)} ({n} line(s))" for k, n in sorted(self.unknown_labels.items()))
            console.print(f"[yellow]label(s) not scored, no scorer reads them:[/yellow] {found}; scored labels: {known}")
        if not self.skipped:
            console.print(f"{self.lines} data lines read; nothing skipped.")
            return
        console.print(f"[yellow]{self.lines} data lines read; {len(self.skipped)} item(s) skipped, not scored:[/yellow]")
        for why, count in Counter(f"{s.what}: {s.reason}" for s in self.skipped).most_common():
            console.print(f"  {count} x {escape(why)}")
        for s in self.skipped[:limit]:
            console.print(f"    {escape(str(s))}")
        if len(self.skipped) > limit:
            console.print(f"    ... and {len(self.skipped) - limit} more (see as_dict()['skipped'])")


def _cell(s: Score | None) -> str:
    if s is None:
        return "-"
    ans = f"{s.mean_answered:.3f}" if s.mean_answered is not None else "-"
    err = f", {s.errors} err" if s.errors else ""
    return f"{s.mean:.3f} ({s.answered}/{s.n}: {ans}{err})"


# ---- gold labels ------------------------------------------------------------------------

_SYSTEM_BY_KEY = {re.sub(r"[^a-z]", "", s.lower()): s for s in RADS_SYSTEMS} | {"acrtirads": "TI-RADS"}
_NO_RADS = re.compile(r"^\s*(?:no(?:ne)?(?:\s+applicable)?(?:\s+rads)?|not\s+applicable|n/?a|null|no\s+applicable\s+rads)\s*$",
                      re.IGNORECASE)


def canonical_system(raw: Any) -> str | None:
    """'bi-rads', 'BIRADS', 'Lung RADS' -> the README spelling; None when not one of the ten systems."""
    if not isinstance(raw, str):
        return None
    return _SYSTEM_BY_KEY.get(re.sub(r"[^a-z]", "", raw.lower()))


def _category(system: str, raw: str) -> str | None:
    """The README spelling of a category, or None: modifiers (/P2, S) dropped, a repeated system name allowed."""
    text = str(raw).strip()
    direct = normalise(system, re.split(r"/", text)[0]) if text else None
    if direct:
        return direct
    for text_ in (text, f"{system} {text}"):
        found = [m.category for m in find_mentions(text_) if m.system == system]
        if found:
            return found[0]
    return None


def rads_key(value: RadsValue | None) -> tuple[str, str] | None:
    """(system, category) in the README spelling; None for "not applicable"; raw category when unknown.

    A category the report states but the system does not define ('BI-RADS 7') keys as its words: it is
    an answer (never "not applicable"), and matches no gold category.
    """
    if value is not None and value.unlisted and value.system and value.stated_category:
        return canonical_system(value.system) or value.system, f"STATED {value.stated_category.strip().upper()}"
    if value is None or not value.applicable or not value.system or not value.category:
        return None
    system = canonical_system(value.system) or value.system
    cat = _category(system, value.category) if system in RADS_SYSTEMS else None
    return system, cat or value.category.strip().upper()


def _gold_rads(raw: Any) -> RadsValue:
    """`labels.rads`: null / "none applicable" -> not applicable; a dict or a "BI-RADS 4" string -> category."""
    if raw is None or (isinstance(raw, str) and (not raw.strip() or _NO_RADS.match(raw))):
        return RadsValue(applicable=False)
    if isinstance(raw, str):
        found = find_mentions(raw)
        if not found:
            raise _Unscorable(f"RADS label {raw!r} names no known system and category")
        return RadsValue(system=found[0].system, category=found[0].category)
    if not isinstance(raw, dict):
        raise _Unscorable(f"RADS label is a {type(raw).__name__}, not an object")
    system = canonical_system(raw.get("system"))
    cat = raw.get("category")
    if system is None and isinstance(cat, str) and find_mentions(cat):  # {"category": "BI-RADS 4"}
        return _gold_rads(cat)
    if system is None:
        raise _Unscorable(f"unknown RADS system {raw.get('system')!r}")
    if cat is None or (isinstance(cat, str) and _NO_RADS.match(cat)):
        raise _Unscorable(f"{system} label without a category")
    norm = _category(system, str(cat))
    if norm is None:
        raise _Unscorable(f"{cat!r} is not a {system} category")
    return RadsValue(system=system, category=norm)


def _rads_group(raw: Any, gold: RadsValue) -> str:
    if not gold.applicable:
        return RADS_NONE
    stated = raw.get("stated") if isinstance(raw, dict) else None
    if isinstance(stated, str):
        stated = {"true": True, "yes": True, "false": False, "no": False}.get(stated.strip().lower())
    if stated is None:
        return RADS_APPLICABLE
    return RADS_STATED if stated else RADS_INFERRED


def _gold_stage(raw: Any, letter: str) -> str:
    """'N1', 'cN1a', 'n2b' -> 'N1' / 'N2'; 'M1c' -> 'M1'. NX/MX and the like cannot be scored."""
    text = str(raw).strip() if raw is not None else ""
    top = 3 if letter == "N" else 1
    m = re.fullmatch(rf"(?:[cpy]{{1,2}})?{letter}\s*([0-{top}])[a-z]*(?:\s*\(.*\))?", text, re.IGNORECASE)
    if not m:
        raise _Unscorable(f"{letter} stage {raw!r} is not {letter}0..{letter}{top}")
    return f"{letter}{m.group(1)}"


_NLI = {"entailment": "entailment", "entailed": "entailment", "entails": "entailment", "entail": "entailment",
        "contradiction": "contradiction", "contradicted": "contradiction", "contradicts": "contradiction",
        "contradict": "contradiction", "neutral": "neutral"}


def _gold_nli(raw: Any) -> str:
    label = _NLI.get(str(raw).strip().lower()) if raw is not None else None
    if label is None:
        raise _Unscorable(f"NLI label {raw!r} is not entailment, contradiction or neutral")
    return label


_CHEX_STATE = {"positive": "positive", "pos": "positive", "present": "positive", "1": "positive", "1.0": "positive",
               "negative": "negative", "neg": "negative", "absent": "negative", "0": "negative", "0.0": "negative",
               "uncertain": "uncertain", "u": "uncertain", "-1": "uncertain", "-1.0": "uncertain"}
_CHEX_PATHOLOGY = tuple(lab for lab in CHEXPERT_LABELS if lab not in ("no finding", "support devices"))


def _gold_chexpert(raw: Any) -> dict[str, str]:
    """Labels in lower case, states normalised; "no finding" derived by the README rule when missing."""
    if not isinstance(raw, dict):
        raise _Unscorable(f"chexpert label is a {type(raw).__name__}, not an object")
    out: dict[str, str] = {}
    for key, value in raw.items():
        label = re.sub(r"[\s_]+", " ", str(key)).strip().lower()
        if label not in CHEXPERT_LABELS:
            raise _Unscorable(f"unknown CheXpert label {key!r}")
        if value is None or value == "":
            continue  # blank = not mentioned
        state = _CHEX_STATE.get(str(value).strip().lower())
        if state is None:
            raise _Unscorable(f"CheXpert state {value!r} for {label!r}")
        out[label] = state
    if "no finding" not in out:
        sick = any(out.get(lab) in ("positive", "uncertain") for lab in _CHEX_PATHOLOGY)
        out["no finding"] = "negative" if sick else "positive"
    return out


_CHANGE = {"new": "new", "new finding": "new", "worsened": "worsened", "worse": "worsened", "worsening": "worsened",
           "increased": "worsened", "progressed": "worsened", "progression": "worsened", "improved": "improved",
           "improving": "improved", "decreased": "improved", "resolved": "resolved", "resolution": "resolved",
           "unchanged": "unchanged", "stable": "unchanged", "no change": "unchanged", "no_change": "unchanged"}


def _change(raw: Any) -> str | None:
    return _CHANGE.get(re.sub(r"[\[\]]", "", str(raw)).strip().lower()) if raw is not None else None


def _gold_temporal(raw: Any) -> list[tuple[str, str]]:
    if not isinstance(raw, list):
        raise _Unscorable(f"temporal label is a {type(raw).__name__}, not a list")
    out: list[tuple[str, str]] = []
    for item in raw:
        finding = item.get("finding") if isinstance(item, dict) else None
        change = _change(item.get("change")) if isinstance(item, dict) else None
        if not isinstance(finding, str) or not finding.strip() or change is None:
            raise _Unscorable(f"temporal item {item!r} needs a finding and a change class")
        out.append((finding.strip(), change))
    return out


def _gold_critical(raw: Any) -> frozenset[str]:
    items = [] if raw is None else [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise _Unscorable(f"critical label {raw!r} is not a list of terms")
    terms = {re.sub(r"\s+", " ", t).strip().lower() for t in items if t.strip()}
    unknown = sorted(terms - set(CRITICAL_TERMS))
    if unknown:
        raise _Unscorable(f"critical term(s) outside the README vocabulary: {', '.join(unknown)}")
    return frozenset(terms)


def _gold_side(raw: Any) -> str | None:
    key = str(raw).strip().lower() if raw is not None else "none"
    if key not in _SIDES:
        raise _Unscorable(f"laterality {raw!r} is not left, right, bilateral or null")
    return _SIDES[key]


# ---- loading ------------------------------------------------------------------------


def _text(row: dict[str, Any], *keys: str) -> str | None:
    """A text field: a string, or lines given as a list; empty or whitespace-only is None."""
    for key in keys:
        value = row.get(key)
        if isinstance(value, list):
            value = "\n".join(str(v) for v in value if v is not None)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            return value.replace("\r\n", "\n").replace("\r", "\n")
    return None


def _report(row: dict[str, Any], rid: str, *, impression: bool = True) -> RadiologyReport:
    modality = _text(row, "modality")
    return RadiologyReport(
        report_id=rid,
        modality=modality.strip().upper() if modality else None,
        procedure=_text(row, "procedure"),
        findings=_text(row, "findings"),
        impression=_text(row, "impression") if impression else None,
        prior_text=_text(row, "prior", "prior_text"),
    )


def _row_id(row: dict[str, Any], lineno: int) -> str:
    rid = row.get("id")
    return str(rid).strip() if rid is not None and str(rid).strip() else f"line-{lineno}"


_GoldFn = Callable[[Any], Any]


def _task_case(rid: str, lineno: int, task: TaskName, report: RadiologyReport, gold: Any) -> Case:
    return Case(rid, task.value, TaskRequest(task=task, report=report), gold, lineno)


def _report_cases(row: dict[str, Any], lineno: int, ds: Dataset) -> None:
    """Append the cases of one reports.jsonl line (labels missing from the line are simply not scored)."""
    rid = _row_id(row, lineno)
    report = _report(row, rid)
    if not report.findings and not report.impression:
        ds.skipped.append(Skip(lineno, rid, "report", "no findings and no impression text: nothing to run on"))
        return
    labels = row.get("labels")
    if labels is not None and not isinstance(labels, dict):
        ds.skipped.append(Skip(lineno, rid, "labels", f"a {type(labels).__name__}, not an object"))
        labels = None
    labels = {str(k).strip().lower(): v for k, v in (labels or {}).items()}  # "N_Stage" is n_stage
    ds.unknown_labels.update(k for k in labels if k not in _LABEL_KEYS)
    # a label written beside `labels` instead of in it (a flattened export) is not scored either: say so
    ds.unknown_labels.update(f"{k} (outside labels)" for k in row if str(k).strip().lower() in _LABEL_KEYS)
    for what, build in _LABEL_BUILDERS:
        if what not in labels:
            continue
        try:
            build(labels, rid, lineno, report, ds)
        except _Unscorable as exc:
            ds.skipped.append(Skip(lineno, rid, what, str(exc)))
    if report.findings and report.impression:
        ds.cases.append(_task_case(rid, lineno, TaskName.impression_generation, _report(row, rid, impression=False),
                                   report.impression))


def _add_rads(labels: dict[str, Any], rid: str, lineno: int, report: RadiologyReport, ds: Dataset) -> None:
    raw = labels["rads"]
    gold = _gold_rads(raw)
    ds.cases.append(Case(rid, _rads_group(raw, gold), TaskRequest(task=TaskName.rads_assignment, report=report), gold,
                         lineno))


def _add_n(labels: dict[str, Any], rid: str, lineno: int, report: RadiologyReport, ds: Dataset) -> None:
    if labels["n_stage"] is not None:
        stage = _gold_stage(labels["n_stage"], "N")
        gold = NStageValue(involvement=stage != "N0", stage=stage)  # type: ignore[arg-type]
        ds.cases.append(_task_case(rid, lineno, TaskName.n_staging, report, gold))


def _add_m(labels: dict[str, Any], rid: str, lineno: int, report: RadiologyReport, ds: Dataset) -> None:
    if labels["m_stage"] is not None:
        gold = MStageValue(stage=_gold_stage(labels["m_stage"], "M"))  # type: ignore[arg-type]
        ds.cases.append(_task_case(rid, lineno, TaskName.m_staging, report, gold))


def _add_chexpert(labels: dict[str, Any], rid: str, lineno: int, report: RadiologyReport, ds: Dataset) -> None:
    if labels["chexpert"] is not None:
        ds.cases.append(_task_case(rid, lineno, TaskName.abnormality_detection, report, _gold_chexpert(labels["chexpert"])))


def _add_temporal(labels: dict[str, Any], rid: str, lineno: int, report: RadiologyReport, ds: Dataset) -> None:
    if labels["temporal"] is not None:
        ds.cases.append(_task_case(rid, lineno, TaskName.temporal_comparison, report, _gold_temporal(labels["temporal"])))


def _add_critical(labels: dict[str, Any], rid: str, lineno: int, report: RadiologyReport, ds: Dataset) -> None:
    ds.facts.append(FactCase(rid, CRITICAL, report, _gold_critical(labels["critical"]), lineno))


def _add_laterality(labels: dict[str, Any], rid: str, lineno: int, report: RadiologyReport, ds: Dataset) -> None:
    ds.facts.append(FactCase(rid, LATERALITY, report, _gold_side(labels["laterality"]), lineno))


_LABEL_BUILDERS: tuple[tuple[str, Callable[[dict[str, Any], str, int, RadiologyReport, Dataset], None]], ...] = (
    ("rads", _add_rads), ("n_stage", _add_n), ("m_stage", _add_m), ("chexpert", _add_chexpert),
    ("temporal", _add_temporal), ("critical", _add_critical), ("laterality", _add_laterality),
)
_LABEL_KEYS = frozenset(what for what, _ in _LABEL_BUILDERS)

_PREMISE, _HYPOTHESIS, _LABEL = ("premise", "sentence1"), ("hypothesis", "sentence2"), ("label", "gold_label")


def _is_nli(row: dict[str, Any]) -> bool:
    return any(k in row for k in _PREMISE) and any(k in row for k in _HYPOTHESIS)


def _nli_case(row: dict[str, Any], lineno: int, ds: Dataset) -> None:
    rid = _row_id(row, lineno)
    premise, hypothesis = _text(row, *_PREMISE), _text(row, *_HYPOTHESIS)
    if not premise or not hypothesis:
        ds.skipped.append(Skip(lineno, rid, "nli", "empty premise or hypothesis"))
        return
    try:
        label = _gold_nli(next((row[k] for k in _LABEL if k in row), None))
    except _Unscorable as exc:
        ds.skipped.append(Skip(lineno, rid, "nli", str(exc)))
        return
    report = RadiologyReport(report_id=rid, findings=premise)
    req = TaskRequest(task=TaskName.radiology_nli, report=report, premise=premise, hypothesis=hypothesis)
    ds.cases.append(Case(rid, TaskName.radiology_nli.value, req, NliValue(label=label), lineno))  # type: ignore[arg-type]


def _json_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank lines; LF or CRLF ends, BOM, no final newline all fine.

    Split on b"\\n" only: str.splitlines() would also cut at U+2028 and friends, which JSON
    strings may hold raw.
    """
    data = Path(path).read_bytes()
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        if lineno == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"{path.name}: line {lineno} is not UTF-8 text (byte {exc.start + 1}); "
                               "JSON Lines files are UTF-8") from None
        if line.strip():
            yield lineno, line


def _parse(path: Path) -> Iterator[tuple[int, Any]]:
    """JSON value per line; every invalid line is named in one DatasetError."""
    rows, bad = [], []
    for lineno, line in _json_lines(path):
        try:
            rows.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            bad.append(f"line {lineno}: {exc.msg} (column {exc.colno})")
    if bad:
        more = f"; ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise DatasetError(f"{path.name}: {len(bad)} line(s) are not valid JSON: " + "; ".join(bad[:10]) + more)
    return iter(rows)


def load_dataset(path: Path) -> Dataset:
    """Cases of a reports.jsonl- or nli.jsonl-shaped file (lines told apart by their keys; both may mix)."""
    path = Path(path)
    ds = Dataset(name=path.name)
    for lineno, row in _parse(path):
        ds.lines += 1
        if not isinstance(row, dict):
            ds.skipped.append(Skip(lineno, None, "line", f"a JSON {type(row).__name__}, not an object"))
        elif _is_nli(row):
            _nli_case(row, lineno, ds)
        elif any(k in row for k in ("labels", "findings", "impression")):
            _report_cases(row, lineno, ds)
        else:
            ds.skipped.append(Skip(lineno, _row_id(row, lineno), "line", "neither a report line (id, findings, "
                                   "impression, labels) nor an NLI line (premise, hypothesis, label)"))
    if not ds.cases and not ds.facts:
        reasons = "; ".join(str(s) for s in ds.skipped[:5]) or "the file has no data lines"
        raise DatasetError(f"{path.name}: nothing to score ({reasons})")
    return ds


def load_cases(path: Path) -> list[Case]:
    """The task cases of a file (see load_dataset for the skips and the critical/laterality cases)."""
    return load_dataset(path).cases


# ---- scoring ------------------------------------------------------------------------

# Error direction for the severity profile: (scale, level, sub-level) per category. Categories on
# one scale compare by level, then sub-level (4A < 4B < 4C, 2a < 2b). Off the scale, and so
# "other" against anything else: incomplete / non-diagnostic categories (BI-RADS, Lung-RADS,
# O-RADS, GB-RADS 0; CAD-RADS N; LR-NC; LR-TR Nonevaluable). An undivided "4" against 4A/4B/4C
# (and NI-RADS "2" against 2a/2b) has no direction either. LR-M and LR-TIV sit at the LR-5 level
# (malignant; against LR-5 itself a different diagnosis, "other"); LR-TR is its own scale.
# BI-RADS 6 (biopsy-proven malignancy) ranks above 5, as its number says.
_Level = tuple[str, int, int | None]


def _numeric(cats: Iterable[str], prefix: str = "") -> dict[str, _Level]:
    return {f"{prefix}{c}": ("", int(c), None) for c in cats}


def _lettered(major: int, letters: str, case: str = "upper") -> dict[str, _Level]:
    out: dict[str, _Level] = {str(major): ("", major, None)}
    for i, ch in enumerate(letters, 1):
        out[f"{major}{ch.upper() if case == 'upper' else ch}"] = ("", major, i)
    return out


_LEVELS: dict[str, dict[str, _Level]] = {
    "BI-RADS": _numeric("12356") | _lettered(4, "abc"),
    "Lung-RADS": _numeric("123") | _lettered(4, "abx"),
    "TI-RADS": _numeric("12345", "TR"),
    "PI-RADS": _numeric("12345"),
    "VI-RADS": _numeric("12345"),
    "O-RADS": _numeric("12345"),
    "GB-RADS": _numeric("12345"),
    "NI-RADS": _numeric("134") | _lettered(2, "ab", case="lower"),
    "CAD-RADS": _numeric("01235") | _lettered(4, "ab"),
    "LI-RADS": {f"LR-{i}": ("dx", i, None) for i in range(1, 6)} | {"LR-M": ("dx", 5, None), "LR-TIV": ("dx", 5, None)}
    | {"LR-TR Nonviable": ("tr", 1, None), "LR-TR Equivocal": ("tr", 2, None), "LR-TR Viable": ("tr", 3, None)},
}


def rads_outcome(pred: RadsValue | None, gold: RadsValue) -> str:
    """exact / overcall / undercall / other / abstain for one applicable RADS case.

    Over- and undercall compare the two categories' levels on the system's risk scale (_LEVELS);
    another system, "not applicable", an unknown category, or a pair without a direction is "other".
    """
    if pred is None:
        return "abstain"
    p, g = rads_key(pred), rads_key(gold)
    if p == g:
        return "exact"
    if p is None or g is None or p[0] != g[0]:
        return "other"
    levels = _LEVELS.get(g[0], {})
    lp, lg = levels.get(p[1]), levels.get(g[1])
    if lp is None or lg is None or lp[0] != lg[0]:
        return "other"
    if lp[1] != lg[1]:
        return "overcall" if lp[1] > lg[1] else "undercall"
    if lp[2] is None or lg[2] is None:
        return "other"
    return "overcall" if lp[2] > lg[2] else "undercall"


def _stage_correct(pred: NStageValue, gold: NStageValue) -> bool:
    if pred.stage is not None:
        return pred.stage == gold.stage
    return not pred.involvement and gold.stage == "N0"


def _chexpert_hits(pred: dict[str, str], gold: dict[str, str]) -> dict[str, bool]:
    low = {str(k).strip().lower(): str(v).strip().lower() for k, v in pred.items()}
    return {lab: low.get(lab, "negative") == gold.get(lab, "negative") for lab in CHEXPERT_LABELS}


def chexpert_accuracy(pred: dict[str, str], gold: dict[str, str]) -> float:
    """Share of the 14 labels that agree; an absent label is "not mentioned", scored as negative (README)."""
    hits = _chexpert_hits(pred, gold)
    return sum(hits.values()) / len(CHEXPERT_LABELS)


def critical_score(pred: Iterable[str], gold: frozenset[str]) -> tuple[float, Counter[str]]:
    """1.0 when the report's critical terms equal the label's, and tp/fp/fn over terms.

    Only the README vocabulary is scored: a term the labels cannot hold is neither right nor wrong.
    """
    found = {t.strip().lower() for t in pred} & set(CRITICAL_TERMS)
    counts = Counter(tp=len(found & gold), fp=len(found - gold), fn=len(gold - found))
    return float(found == gold), counts


_STOP = {"the", "a", "an", "of", "in", "on", "with", "and", "at", "to", "from", "is", "are", "mm", "cm", "there",
         "small", "large", "mild", "moderate", "severe", "tiny", "new", "stable", "finding", "findings", "interval",
         "increased", "increasing", "decreased", "decreasing", "enlarging", "enlarged", "enlargement", "size",
         "unchanged", "improved", "improving", "worsened", "worsening", "resolved", "resolving", "persistent",
         "again", "seen", "noted", "change", "changes", "no", "previously", "prior", "redemonstrated", "slightly"}
_SYNONYM = {"rul": "right upper lobe", "rml": "right middle lobe", "rll": "right lower lobe", "lul": "left upper lobe",
            "lll": "left lower lobe", "ij": "internal jugular", "cvc": "central venous catheter", "ptx": "pneumothorax",
            "ett": "endotracheal tube", "picc": "peripherally inserted central catheter", "hepatic": "liver",
            "renal": "kidney", "pulmonary": "lung", "cardiac": "heart", "cardiomegaly": "heart",
            "observation": "lesion", "metastases": "metastasis", "metastatic": "metastasis",
            "bibasilar": "bilateral basilar", "bibasal": "bilateral basilar", "l": "left", "r": "right"}
_CONFLICT_GROUPS = ({"left", "right", "bilateral"}, {"upper", "middle", "lower"})


@functools.cache
def _stem(word: str) -> str:
    from nltk.stem.porter import PorterStemmer  # rouge-score's own dependency

    return PorterStemmer().stem(word)


def _tokens(finding: str) -> set[str]:
    stem = _stem
    words = re.findall(r"[a-z0-9]+", finding.lower())
    expanded = " ".join(_SYNONYM.get(w, w) for w in words).split()
    return {stem(w) for w in expanded if w not in _STOP and not w.isdigit()}


def _loose_match(a: str, b: str) -> bool:
    """Same anatomy and observation, loosely: sides and lobes do not conflict, and the shared content
    words (abbreviations and synonyms mapped, Porter stems) are more than half of the shorter phrase."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return a.strip().lower() == b.strip().lower()
    for group in _CONFLICT_GROUPS:
        sa, sb = ta & group, tb & group
        if sa and sb and sa != sb:
            return False
    return len(ta & tb) / min(len(ta), len(tb)) > 0.5


def _max_matching(pred: list[tuple[str, str]], gold: list[tuple[str, str]]) -> int:
    """Largest one-to-one matching of predicted to gold pairs (equal change, loosely equal finding)."""
    edges = [[j for j, g in enumerate(gold) if g[1] == p[1] and _loose_match(p[0], g[0])] for p in pred]
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in edges[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(pred)))


def temporal_jaccard(pred: list[tuple[str, str]], gold: list[tuple[str, str]]) -> float:
    """Jaccard of the sets of (finding, change) pairs; pairs match one-to-one (a maximum matching) when
    the change is equal and the findings match loosely. Repeated predicted pairs count once."""
    pred = list(dict.fromkeys((f.strip().lower(), c) for f, c in pred))
    if not pred and not gold:
        return 1.0
    matched = _max_matching(pred, gold)
    return matched / (len(pred) + len(gold) - matched)


class _Rouge:
    """ROUGE-L F1 from Google's rouge-score package (built once; stemming as in the paper's setup)."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

    def __call__(self, pred: str, gold: str) -> float:
        return float(self._scorer.score(gold, pred)["rougeL"].fmeasure)


def _score(case: Case, result: TaskResult | None, rouge: _Rouge) -> float | None:
    if result is None:
        return None
    value, gold, task = result.value, case.gold, case.request.task
    if task == TaskName.rads_assignment:
        return float(isinstance(value, RadsValue) and rads_key(value) == rads_key(gold))
    if task == TaskName.n_staging:
        return float(isinstance(value, NStageValue) and _stage_correct(value, gold))
    if task == TaskName.m_staging:
        return float(isinstance(value, MStageValue) and value.stage == gold.stage)
    if task == TaskName.radiology_nli:
        return float(isinstance(value, NliValue) and value.label == gold.label)
    if task == TaskName.abnormality_detection:
        return chexpert_accuracy(value.labels if isinstance(value, ChexpertValue) else {}, gold)
    if task == TaskName.temporal_comparison:
        pred = [(c.finding, c.change) for c in value.changes] if isinstance(value, TemporalValue) else []
        return temporal_jaccard(pred, gold)
    if task == TaskName.impression_generation:
        return rouge(value.text, gold) if isinstance(value, TextValue) else 0.0
    return None


def rules_runner() -> Runner:
    """The rules engine as a runner: what the report states, None (abstain) otherwise."""
    from models.rules import RulesEngine

    return RulesEngine().stated


def rules_facts() -> FactsRunner:
    """The rules engine's critical results and laterality (the ensemble returns the same facts)."""
    from models.rules import RulesEngine

    return RulesEngine().facts


def _run(fn: Callable[[Any], Any], arg: Any, name: str, what: str) -> tuple[Any, bool]:
    try:
        return fn(arg), False
    except Exception as exc:  # noqa: BLE001 - a failing runner abstains on that case; the run goes on
        log.warning("runner %s failed on %s: %s", name, what, type(exc).__name__)
        return None, True


def _add_task_scores(report: EvalReport, name: str, case: Case, result: Any, error: bool, rouge: _Rouge) -> None:
    if result is not None and not isinstance(result, TaskResult):
        log.warning("runner %s returned a %s on %s, not a TaskResult", name, type(result).__name__, case.case_id)
        result, error = None, True
    value = _score(case, result, rouge)
    for row in case.rows:
        report.score(row, name).add(value, error=error)
    pred = result.value if result is not None else None
    if case.request.task == TaskName.rads_assignment:
        rads = pred if isinstance(pred, RadsValue) else None
        if case.gold.applicable:
            report.per_system.setdefault(case.gold.system, {}).setdefault(name, Score()).add(value, error=error)
            report.severity.setdefault(name, Counter())[rads_outcome(rads, case.gold)] += 1
        else:
            kind = "abstain" if rads is None else "rads" if rads_key(rads) else "none"
            report.no_rads.setdefault(name, Counter())[kind] += 1
    elif case.request.task == TaskName.abnormality_detection:
        labels = pred.labels if isinstance(pred, ChexpertValue) else {}
        for label, hit in _chexpert_hits(labels, case.gold).items():
            report.chexpert_labels.setdefault(label, {}).setdefault(name, Score()).add(None if pred is None else float(hit))


def _add_fact_scores(report: EvalReport, name: str, case: FactCase, facts: Any, error: bool) -> None:
    if facts is not None and not isinstance(facts, ReportFacts):
        facts, error = None, True
    if case.kind == LATERALITY:
        value = None if facts is None else float(facts.laterality == case.gold)
    else:
        counts = report.critical_terms.setdefault(name, Counter(tp=0, fp=0, fn=0))
        value = None
        if facts is None:
            counts["fn"] += len(case.gold)
        else:
            value, c = critical_score([f.term for f in facts.critical], case.gold)
            counts.update(c)
    report.score(case.kind, name).add(value, error=error)


def _progress(console: Console | None, progress: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, disable=not progress, transient=False)


def evaluate(source: Path | Dataset, *, runners: dict[str, Runner], facts: dict[str, FactsRunner] | None = None,
             progress: bool = True, console: Console | None = None) -> EvalReport:
    """Run every runner on every labelled case of `source` (a file or a loaded Dataset) and score the answers.

    `facts` runners (name -> RadiologyReport -> ReportFacts) are scored on the critical and
    laterality labels; a name may be in both dicts. Raises DatasetError for an unusable file.
    """
    ds = source if isinstance(source, Dataset) else load_dataset(Path(source))
    facts = facts or {}
    report = EvalReport(dataset=ds.name, runners=list(dict.fromkeys([*runners, *facts])), skipped=list(ds.skipped),
                        lines=ds.lines, unknown_labels=Counter(ds.unknown_labels))
    rouge = _Rouge()
    reports = {c.line: c.report for c in ds.facts}
    with _progress(console, progress) as bar:
        job = bar.add_task(f"evaluating {ds.name}", total=len(ds.cases) * len(runners) + len(reports) * len(facts))
        for name, runner in runners.items():
            for case in ds.cases:
                bar.update(job, description=f"{name}: {case.group}")
                result, error = _run(runner, case.request, name, f"case {case.case_id} ({case.group})")
                _add_task_scores(report, name, case, result, error, rouge)
                bar.advance(job)
        for name, reader in facts.items() if reports else ():
            bar.update(job, description=f"{name}: critical, laterality")
            found = {line: _run(reader, rep, name, f"facts of line {line}") for line, rep in reports.items()}
            bar.advance(job, len(reports))
            for fact_case in ds.facts:
                _add_fact_scores(report, name, fact_case, *found[fact_case.line])
    report.scores = dict(sorted(report.scores.items(), key=lambda kv: _order(kv[0])))
    return report


_RADS_ROWS = [RADS_ALL, RADS_APPLICABLE, RADS_STATED, RADS_INFERRED, RADS_NONE]


def _order(group: str) -> tuple[int, int, str]:
    base = group.split(" ")[0]
    sub = _RADS_ROWS.index(group) if group in _RADS_ROWS else 0
    return (_ROW_ORDER.index(base) if base in _ROW_ORDER else len(_ROW_ORDER), sub, group)
