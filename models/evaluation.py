"""The paper's metrics on a labelled set (reports.jsonl or nli.jsonl shape), per task and runner.

`evaluate(path, runners=...)` builds one TaskRequest per labelled task of every line, asks
each runner, and scores the answers the way the RadLite paper does: accuracy (RADS, N, M,
NLI), ROUGE-L F1 (impression, via the `rouge-score` package), Jaccard (temporal changes)
and per-label accuracy (CheXpert). A runner that returns None, or raises, abstains: an
abstention is never correct, and "answered" shows how often a runner spoke at all (the
rules engine answers only what a report states). See docs/rules.md for the rules of scoring.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from models.rules.rads import SEVERITY, normalise, severity_rank
from models.types import (
    CHEXPERT_LABELS,
    ChexpertValue,
    MStageValue,
    NliValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    TaskName,
    TaskRequest,
    TaskResult,
    TemporalValue,
    TextValue,
)

__all__ = [
    "Runner",
    "Case",
    "Score",
    "EvalReport",
    "load_cases",
    "evaluate",
    "rules_runner",
    "rads_outcome",
    "temporal_jaccard",
    "chexpert_accuracy",
]

log = logging.getLogger(__name__)

Runner = Callable[[TaskRequest], TaskResult | None]

# Groups of RADS cases reported on their own rows.
RADS_ALL = "rads_assignment"
RADS_STATED = "rads_assignment [stated]"
RADS_INFERRED = "rads_assignment [inferred]"
RADS_NONE = "rads_assignment [no applicable RADS]"

_METRIC = {
    TaskName.rads_assignment: "accuracy",
    TaskName.n_staging: "accuracy",
    TaskName.m_staging: "accuracy",
    TaskName.radiology_nli: "accuracy",
    TaskName.abnormality_detection: "per-label accuracy",
    TaskName.temporal_comparison: "Jaccard",
    TaskName.impression_generation: "ROUGE-L F1",
}


@dataclass(frozen=True)
class Case:
    """One labelled task: the request to run and the gold answer to score it against."""

    case_id: str
    group: str  # row name in the report: the task name, or a RADS subgroup
    request: TaskRequest
    gold: Any


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


@dataclass
class EvalReport:
    """Scores by group and runner, RADS accuracy per system and the RADS severity profile."""

    dataset: str
    runners: list[str]
    scores: dict[str, dict[str, Score]] = field(default_factory=dict)
    per_system: dict[str, dict[str, Score]] = field(default_factory=dict)
    severity: dict[str, Counter[str]] = field(default_factory=dict)

    def score(self, group: str, runner: str) -> Score:
        return self.scores.setdefault(group, {}).setdefault(runner, Score())

    def as_dict(self) -> dict[str, Any]:
        """Plain numbers, for JSON output and tests."""
        return {
            "dataset": self.dataset,
            "runners": self.runners,
            "scores": {g: {r: {"n": s.n, "answered": s.answered, "score": s.mean, "answered_score": s.mean_answered,
                               "errors": s.errors} for r, s in by.items()} for g, by in self.scores.items()},
            "per_system": {sys: {r: {"n": s.n, "accuracy": s.mean} for r, s in by.items()}
                           for sys, by in self.per_system.items()},
            "severity": {r: dict(c) for r, c in self.severity.items()},
        }

    def render(self, console: Console) -> None:
        """Rich tables: metric per group and runner, per-RADS-system accuracy, severity profile."""
        tasks = Table(title=f"RadLite metrics - {self.dataset}")
        tasks.add_column("task")
        tasks.add_column("metric")
        tasks.add_column("n", justify="right")
        for r in self.runners:
            tasks.add_column(f"{escape(r)}\nscore (answered/n: score)", justify="right")
        for group, by in self.scores.items():
            base = group.split(" ")[0]
            metric = _METRIC.get(TaskName(base), "") if base in TaskName.__members__ else ""
            n = max((s.n for s in by.values()), default=0)
            cells = []
            for r in self.runners:
                s = by.get(r, Score())
                ans = f"{s.mean_answered:.3f}" if s.mean_answered is not None else "-"
                err = f", {s.errors} err" if s.errors else ""
                cells.append(f"{s.mean:.3f} ({s.answered}/{s.n}: {ans}{err})")
            tasks.add_row(escape(group), metric, str(n), *cells)
        console.print(tasks)

        if self.per_system:
            systems = Table(title="RADS accuracy per system")
            systems.add_column("system")
            systems.add_column("n", justify="right")
            for r in self.runners:
                systems.add_column(escape(r), justify="right")
            for system in sorted(self.per_system, key=lambda s: list(SEVERITY).index(s) if s in SEVERITY else 99):
                by = self.per_system[system]
                n = max((s.n for s in by.values()), default=0)
                systems.add_row(system, str(n), *(f"{by.get(r, Score()).mean:.3f}" for r in self.runners))
            console.print(systems)

        if self.severity:
            prof = Table(title="RADS severity profile (share of applicable RADS cases)")
            prof.add_column("runner")
            kinds = ("exact", "overcall", "undercall", "other", "abstain")
            for k in kinds:
                prof.add_column(k, justify="right")
            for r in self.runners:
                c = self.severity.get(r, Counter())
                total = sum(c.values()) or 1
                prof.add_row(escape(r), *(f"{100 * c[k] / total:.1f}%" for k in kinds))
            console.print(prof)


# ---- loading ------------------------------------------------------------------------


def _report(row: dict[str, Any], *, impression: bool = True) -> RadiologyReport:
    return RadiologyReport(
        report_id=str(row["id"]),
        modality=row.get("modality"),
        procedure=row.get("procedure"),
        findings=row.get("findings"),
        impression=row.get("impression") if impression else None,
        prior_text=row.get("prior"),
    )


def _report_cases(row: dict[str, Any]) -> Iterable[Case]:
    labels = row.get("labels") or {}
    rid = str(row["id"])
    report = _report(row)
    rads = labels.get("rads")
    req = TaskRequest(task=TaskName.rads_assignment, report=report)
    if rads:
        gold = RadsValue(system=rads["system"], category=rads["category"])
        yield Case(rid, RADS_STATED if rads.get("stated") else RADS_INFERRED, req, gold)
    elif "rads" in labels:
        yield Case(rid, RADS_NONE, req, RadsValue(applicable=False))
    if labels.get("n_stage"):
        stage = labels["n_stage"]
        yield Case(rid, TaskName.n_staging.value, TaskRequest(task=TaskName.n_staging, report=report),
                   NStageValue(involvement=stage != "N0", stage=stage))
    if labels.get("m_stage"):
        yield Case(rid, TaskName.m_staging.value, TaskRequest(task=TaskName.m_staging, report=report),
                   MStageValue(stage=labels["m_stage"]))
    if labels.get("chexpert") and (row.get("modality") or "").upper() in ("CR", "DX", ""):
        yield Case(rid, TaskName.abnormality_detection.value,
                   TaskRequest(task=TaskName.abnormality_detection, report=report), dict(labels["chexpert"]))
    if labels.get("temporal") is not None:
        yield Case(rid, TaskName.temporal_comparison.value,
                   TaskRequest(task=TaskName.temporal_comparison, report=report), list(labels["temporal"]))
    if row.get("impression") and row.get("findings"):
        yield Case(rid, TaskName.impression_generation.value,
                   TaskRequest(task=TaskName.impression_generation, report=_report(row, impression=False)),
                   row["impression"])


def _nli_case(row: dict[str, Any]) -> Case:
    report = RadiologyReport(report_id=str(row["id"]), findings=row["premise"])
    req = TaskRequest(task=TaskName.radiology_nli, report=report, premise=row["premise"], hypothesis=row["hypothesis"])
    return Case(str(row["id"]), TaskName.radiology_nli.value, req, NliValue(label=row["label"]))


def load_cases(path: Path) -> list[Case]:
    """Cases of a reports.jsonl- or nli.jsonl-shaped file, told apart by each line's keys."""
    cases: list[Case] = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if {"premise", "hypothesis", "label"} <= row.keys():
            cases.append(_nli_case(row))
        elif {"id", "findings", "labels"} <= row.keys():
            cases.extend(_report_cases(row))
        else:
            raise ValueError(f"{path}:{lineno}: neither a report line (id, findings, labels) nor an NLI line "
                             "(premise, hypothesis, label)")
    return cases


# ---- scoring ------------------------------------------------------------------------


def _rads_key(value: RadsValue) -> tuple[str, str] | None:
    if not value.applicable or not value.system or not value.category:
        return None
    cat = normalise(value.system, value.category) if value.system in SEVERITY else None
    return value.system, cat or value.category


def rads_outcome(pred: RadsValue | None, gold: RadsValue) -> str:
    """exact / overcall / undercall / other / abstain for one applicable RADS case.

    Over- and undercall compare ranks in the system's severity order (models.rules.rads.SEVERITY,
    the ACR "most abnormal" hierarchy); a different system, "not applicable", or a category
    outside the order is "other".
    """
    if pred is None:
        return "abstain"
    p, g = _rads_key(pred), _rads_key(gold)
    if p == g:
        return "exact"
    if p is None or g is None or p[0] != g[0]:
        return "other"
    rp, rg = severity_rank(p[0], p[1]), severity_rank(g[0], g[1])
    if rp is None or rg is None:
        return "other"
    return "overcall" if rp > rg else "undercall"


def _stage_correct(pred: NStageValue, gold: NStageValue) -> bool:
    if pred.stage is not None:
        return pred.stage == gold.stage
    return not pred.involvement and gold.stage == "N0"


def chexpert_accuracy(pred: dict[str, str], gold: dict[str, str]) -> float:
    """Share of the 14 labels that agree; an absent label is "not mentioned", scored as negative (README)."""
    hits = sum(pred.get(lab, "negative") == gold.get(lab, "negative") for lab in CHEXPERT_LABELS)
    return hits / len(CHEXPERT_LABELS)


_STOP = {"the", "a", "an", "of", "in", "on", "with", "and", "at", "to", "from", "is", "are", "mm", "cm",
         "small", "large", "mild", "moderate", "new", "stable", "finding", "findings"}
_ABBREV = {"rul": "right upper lobe", "rml": "right middle lobe", "rll": "right lower lobe", "lul": "left upper lobe",
           "lll": "left lower lobe", "ij": "internal jugular", "cvc": "central venous catheter", "ptx": "pneumothorax",
           "ett": "endotracheal tube", "effusions": "effusion", "nodules": "nodule", "lesions": "lesion"}


def _tokens(finding: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", finding.lower())
    expanded = " ".join(_ABBREV.get(w, w) for w in words).split()
    return {w.rstrip("s") if len(w) > 4 else w for w in expanded if w not in _STOP and not w.isdigit()}


def _loose_match(a: str, b: str) -> bool:
    """Same finding, loosely: content words (abbreviations expanded) overlap by half of the shorter phrase."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return a.strip().lower() == b.strip().lower()
    return len(ta & tb) / min(len(ta), len(tb)) >= 0.5


def temporal_jaccard(pred: list[tuple[str, str]], gold: list[tuple[str, str]]) -> float:
    """Jaccard of (finding, change) pairs; pairs match one-to-one when the change is equal and findings match loosely."""
    if not pred and not gold:
        return 1.0
    unused = list(gold)
    matched = 0
    for finding, change in pred:
        hit = next((g for g in unused if g[1] == change and _loose_match(finding, g[0])), None)
        if hit is not None:
            unused.remove(hit)
            matched += 1
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
    value = result.value
    gold = case.gold
    task = case.request.task
    if task == TaskName.rads_assignment:
        return float(isinstance(value, RadsValue) and _rads_key(value) == _rads_key(gold))
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
        return temporal_jaccard(pred, [(g["finding"], g["change"]) for g in gold])
    if task == TaskName.impression_generation:
        return rouge(value.text, gold) if isinstance(value, TextValue) else 0.0
    return None


def rules_runner() -> Runner:
    """The rules engine as a runner: what the report states, None (abstain) otherwise."""
    from models.rules import RulesEngine

    engine = RulesEngine()
    return engine.stated


def evaluate(path: Path, *, runners: dict[str, Runner], progress: bool = True,
             console: Console | None = None) -> EvalReport:
    """Run every runner on every labelled case of `path` and score the answers."""
    path = Path(path)
    cases = load_cases(path)
    report = EvalReport(dataset=path.name, runners=list(runners))
    rouge = _Rouge()
    results: dict[tuple[str, str, str], tuple[TaskResult | None, bool]] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, disable=not progress, transient=False) as bar:
        job = bar.add_task(f"evaluating {path.name}", total=len(cases) * len(runners))
        for name, runner in runners.items():
            for case in cases:
                bar.update(job, description=f"{name}: {case.group}")
                try:
                    results[(name, case.case_id, case.group)] = (runner(case.request), False)
                except Exception as exc:  # noqa: BLE001 - a failing runner abstains on that case; the run goes on
                    log.warning("runner %s failed on case %s (%s): %s", name, case.case_id, case.group, type(exc).__name__)
                    results[(name, case.case_id, case.group)] = (None, True)
                bar.advance(job)
    for name in runners:
        report.severity[name] = Counter()
        for case in cases:
            result, error = results[(name, case.case_id, case.group)]
            value = _score(case, result, rouge)
            report.score(case.group, name).add(value, error=error)
            if case.request.task == TaskName.rads_assignment and case.group != RADS_NONE:
                report.score(RADS_ALL, name).add(value, error=error)
                system = case.gold.system
                report.per_system.setdefault(system, {}).setdefault(name, Score()).add(value, error=error)
                pred = result.value if result is not None and isinstance(result.value, RadsValue) else None
                report.severity[name][rads_outcome(pred, case.gold)] += 1
    report.scores = dict(sorted(report.scores.items(), key=lambda kv: _order(kv[0])))
    if not any(c.request.task == TaskName.rads_assignment and c.group != RADS_NONE for c in cases):
        report.severity = {}
    return report


def _order(group: str) -> tuple[int, str]:
    names = [t.value for t in TaskName]
    base = group.split(" ")[0]
    return (names.index(base) if base in names else len(names), group)

