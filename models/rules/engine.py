"""The deterministic rules engine: what the report itself states, as typed TaskResults.

The ensemble asks `stated(request)` for every task and lets an explicit statement win
over a model's answer (keeping the model's value as a Disagreement). The engine holds
no per-report state; the medspaCy pipeline it uses is built once per process on first
use (models.rules.clinical_nlp), so one RulesEngine may serve many threads.
"""

from __future__ import annotations

import re
from typing import Literal

from models.rules.applicability import study_rads_system
from models.rules.chexpert import chexpert_labels
from models.rules.criteria import Derived, derive_rads
from models.rules.critical import critical_findings
from models.rules.followup import follow_ups
from models.rules.laterality import index_laterality
from models.rules.nli import stated_nli
from models.rules.nodes import derived_n
from models.rules.rads import RadsMention, stated_rads
from models.rules.stated_unlisted import UnlistedMention, stated_unlisted, unlisted_statement
from models.rules.temporal import stated_changes
from models.rules.tnm import StageMention, stated_m, stated_n
from models.text import evidence_at, evidence_for
from models.types import (
    NOT_A_KNOWN_CATEGORY,
    ChexpertValue,
    CriticalFinding,
    Evidence,
    FollowUp,
    ModelIdentity,
    MStageValue,
    NliValue,
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
    sha256_text,
)

__all__ = ["RULES_VERSION", "RULES_IDENTITY", "STATED_CONFIDENCE", "DESCRIBED_CONFIDENCE", "DERIVED_CONFIDENCE", "RulesEngine", "rules_input_hash"]

RULES_VERSION = "radlite-rules 1.0"
RULES_IDENTITY = ModelIdentity(model_id="radlite-rules", sha256=None, backend="rules", role="rules", version=RULES_VERSION)
STATED_CONFIDENCE = 0.99
# A stage read from words ("No evidence of distant metastatic disease", "New hepatic metastases")
# rather than written as a stage: still the report's own statement, but one reading removed.
DESCRIBED_CONFIDENCE = 0.9
# A RADS category the report never writes, derived from its described features with the system
# owner's criteria (models/rules/criteria.py): two readings removed, below a described stage.
DERIVED_CONFIDENCE = 0.8
_CHEST_XR = {"CR", "DX"}
_NORMAL_STUDY = re.compile(
    r"\bno\s+(?:acute\s+|active\s+)?(?:cardiopulmonary|intrathoracic|chest)\s+(?:abnormality|abnormalities|process|disease|findings?)\b"
    r"|\bno\s+acute\s+(?:abnormality|findings?|disease)\b|\b(?:normal|unremarkable|negative)\s+(?:chest|radiograph|study|examination)\b"
    r"|\bno\s+(?:radiographic\s+)?evidence\s+of\s+(?:acute\s+)?(?:cardiopulmonary\s+)?disease\b",
    re.IGNORECASE,
)


def _unlisted_value(mention: UnlistedMention) -> RadsValue:
    return RadsValue(system=mention.system, stated_category=mention.words)


def rules_input_hash(task: TaskName, report: RadiologyReport) -> str:
    """sha256 of the task name and the report text: the rules result's cache key."""
    return sha256_text(f"{task.value}\n{report.text()}")


class RulesEngine:
    """Reads explicit statements out of a report. Cheap to build; share one per process."""

    version = RULES_VERSION
    identity = RULES_IDENTITY

    def stated(self, request: TaskRequest) -> TaskResult | None:
        """The value the report itself states for the task, or None when it states none.

        abnormality_detection returns a ChexpertValue holding only the labels the report
        mentions (plus "no finding"), so callers can override a model label by label.
        """
        report = request.report
        if request.task == TaskName.rads_assignment:
            return self.rads(report)
        if request.task == TaskName.n_staging:
            return self._n(report)
        if request.task == TaskName.m_staging:
            return self._m(report)
        if request.task == TaskName.abnormality_detection:
            return self._chexpert_result(report)
        if request.task == TaskName.temporal_comparison:
            return self._temporal_result(report)
        if request.task == TaskName.radiology_nli:
            return self._nli_result(request)
        return None

    def rads(self, report: RadiologyReport) -> TaskResult | None:
        """The stated RADS category of this study (current overall assessment); without one, the
        category its described features determine (marked derived); for a study no RADS system
        covers, "No applicable RADS"; else None."""
        found = stated_rads(report)
        # A category the report states but no system table defines ('BI-RADS 7') is still its statement.
        unlisted = stated_unlisted(report)
        chosen = unlisted_statement(report, found, unlisted)
        if chosen is not None:
            return self._unlisted_rads(report, chosen, [m for m in unlisted if m is not chosen], found)
        if found is None:
            derived = derive_rads(report)
            if derived is not None:
                return self._derived_rads(report, derived)
            return self._no_rads(report)
        text = report.text()
        value = RadsValue(system=found.system, category=found.category, modifiers=found.modifiers)
        # Beside the study's category, an unlisted statement it does not revise is shown, never dropped.
        also = ", ".join(dict.fromkeys(_unlisted_value(m).label for m in unlisted))
        note = (f"the report also states {also}, which is {NOT_A_KNOWN_CATEGORY}; {value.full_label} "
                "stands: check the report") if also else None
        return self._result(TaskName.rads_assignment, report, value, [evidence_at(text, found.start, found.end)],
                            raw=text[found.start : found.end], note=note)

    def _unlisted_rads(self, report: RadiologyReport, chosen: UnlistedMention, others: list[UnlistedMention],
                       known: RadsMention | None) -> TaskResult:
        """The report's words for a category its system does not define: no category, code or order, and
        the model's answer never replaces them (models/ensemble.py keeps it as the disagreement)."""
        text = report.text()
        value = _unlisted_value(chosen)
        evidence = [evidence_at(text, chosen.start, chosen.end)]
        beside = [_unlisted_value(m).label for m in others]
        if known is not None:  # a known category this statement revises (addendum) or overrules ("overall")
            beside.insert(0, RadsValue(system=known.system, category=known.category).label)
        note = (value.unlisted_note or "") + (f"; the report also states {', '.join(beside)}" if beside else "")
        return self._result(TaskName.rads_assignment, report, value, evidence, raw=text[chosen.start : chosen.end],
                            note=note)

    def _no_rads(self, report: RadiologyReport) -> TaskResult | None:
        """ "No applicable RADS" for a known study no system covers (a chest film, a head CT).

        Only with a modality or procedure to judge by: a bare text with neither may still be a
        breast or thyroid study, and then the model's reading stands alone.
        """
        if not (report.modality or report.procedure):
            return None
        system, why = study_rads_system(report)  # stated_rads already found no category
        if system is not None:
            return None
        study = " ".join(p for p in (report.modality, report.procedure and f"'{report.procedure}'") if p)
        return self._result(TaskName.rads_assignment, report, RadsValue(applicable=False), [],
                            raw=f"derived: {why} ({study})", confidence=DERIVED_CONFIDENCE,
                            note=f"No applicable RADS: {why} ({study}), and the report states no category")

    def _derived_rads(self, report: RadiologyReport, found: Derived) -> TaskResult:
        text = report.text()
        evidence = [evidence_at(text, a, b) for a, b in found.spans]
        used = " ".join(text[a:b] for a, b in found.spans)
        return self._result(TaskName.rads_assignment, report, RadsValue(system=found.system, category=found.category),
                            evidence, raw=f"derived: {used}", confidence=DERIVED_CONFIDENCE,
                            note=(f"{found.system} {found.category} derived from the described features with {found.system} "
                                  f"criteria ({found.features}); the report states no category"))

    def chexpert(self, report: RadiologyReport) -> ChexpertValue:
        """CheXpert labels the report mentions (positive/negative/uncertain) plus 'no finding'."""
        return ChexpertValue(labels=chexpert_labels(report.text())[0])

    def critical(self, report: RadiologyReport) -> list[CriticalFinding]:
        """New or unexpected critical results stated and not negated (certainty "uncertain" when
        the report only suspects them)."""
        return critical_findings(report.text())

    def follow_ups(self, report: RadiologyReport) -> list[FollowUp]:
        """Follow-up recommendations with procedure and ISO 8601 interval."""
        return follow_ups(report.text())

    def laterality(self, report: RadiologyReport) -> Literal["left", "right", "bilateral"] | None:
        """Side of the index finding, or None (midline, unpaired or no abnormality)."""
        return index_laterality(report)

    def facts(self, report: RadiologyReport) -> ReportFacts:
        """Critical findings, follow-ups and laterality in one object."""
        return ReportFacts(critical=self.critical(report), follow_ups=self.follow_ups(report),
                           laterality=self.laterality(report))

    # ---- task results ------------------------------------------------------------

    def _n(self, report: RadiologyReport) -> TaskResult | None:
        text = report.text()
        # A stated (or described N0) stage first; only without one, N derived from the described nodes.
        found = stated_n(text) or derived_n(text)
        if found is None:
            return None
        value = NStageValue(involvement=found.stage != "N0", stage=found.stage)  # type: ignore[arg-type]
        return self._stage_result(TaskName.n_staging, report, value, found)

    def _m(self, report: RadiologyReport) -> TaskResult | None:
        text = report.text()
        found = stated_m(text)
        if found is None:
            return None
        value = MStageValue(stage=found.stage)  # type: ignore[arg-type]
        return self._stage_result(TaskName.m_staging, report, value, found)

    def _stage_result(self, task: TaskName, report: RadiologyReport, value: TaskValue, found: StageMention) -> TaskResult:
        text = report.text()
        phrase = text[found.start : found.end]
        evidence = [evidence_at(text, a, b) for a, b in found.spans] or [evidence_at(text, found.start, found.end)]
        if found.kind == "stated":
            return self._result(task, report, value, evidence, raw=phrase)
        note = found.note or f"{found.stage} described in words, not written as a stage: '{phrase}'"
        return self._result(task, report, value, evidence, raw=f"{found.kind}: {phrase}", confidence=DESCRIBED_CONFIDENCE,
                            note=note)

    def _chexpert_result(self, report: RadiologyReport) -> TaskResult | None:
        modality = (report.modality or "").upper()
        if modality and modality not in _CHEST_XR:
            return None
        text = report.text()
        labels, evidence = chexpert_labels(text)
        # "no finding" is derived, not read: "negative" is certain once a pathology label is
        # stated positive/uncertain, but "positive" only when the report says the study is normal
        # (otherwise it would override a model's finding on a label the report never mentions).
        if labels.get("no finding") == "positive":
            normal = _NORMAL_STUDY.search(text)
            if normal:
                evidence["no finding"] = [evidence_at(text, normal.start(), normal.end())]
            else:
                labels.pop("no finding")
        if not [k for k in labels if k != "no finding"]:
            return None
        seen: list[Evidence] = []
        for label in labels:
            seen += [e for e in evidence.get(label, []) if e not in seen]
        seen.sort(key=lambda e: e.start or 0)
        return self._result(TaskName.abnormality_detection, report, ChexpertValue(labels=labels), seen,
                            raw="; ".join(f"{k}: {v}" for k, v in labels.items()))

    def _nli_result(self, request: TaskRequest) -> TaskResult | None:
        """The NLI label the premise's and hypothesis' own words settle (a finding stated both ways,
        a hedge against an assertion, the same statement), else None."""
        report = request.report
        premise = request.premise or report.body() or report.text()
        if not request.hypothesis:
            return None
        found = stated_nli(premise, request.hypothesis)
        if found is None:
            return None
        text = report.text()
        # The reading's offsets are in the premise; the result's evidence is quoted from the report.
        evidence = [evidence_for(text, e.sentence) or Evidence(sentence=e.sentence) for e in found.evidence]
        return self._result(TaskName.radiology_nli, report, NliValue(label=found.label), evidence,
                            raw=f"{found.label}: {found.reason}", confidence=DESCRIBED_CONFIDENCE,
                            note=f"{found.label} read from the words of both texts: {found.reason}")

    def _temporal_result(self, report: RadiologyReport) -> TaskResult | None:
        """The changes the report writes in words, each with the sentences that state it."""
        text = report.text()
        found = stated_changes(text)
        if not found:
            return None
        value = TemporalValue(changes=[TemporalChange(finding=c.finding, change=c.change, cue=c.cue) for c in found])
        evidence: list[Evidence] = []
        for change in found:
            evidence += [e for e in (evidence_at(text, a, b) for a, b in change.spans) if e not in evidence]
        evidence.sort(key=lambda e: e.start or 0)
        return self._result(TaskName.temporal_comparison, report, value, evidence,
                            raw="; ".join(f"{c.finding}: {c.change} ({c.cue})" for c in found),
                            confidence=DESCRIBED_CONFIDENCE,
                            note="changes read from the report's own words (new, increased, resolved, stable ...)")

    def _result(self, task: TaskName, report: RadiologyReport, value: TaskValue, evidence: list[Evidence],
                raw: str, confidence: float = STATED_CONFIDENCE, note: str | None = None) -> TaskResult:
        return TaskResult(
            task=task,
            value=value,
            confidence=confidence,
            evidence=evidence,
            model=RULES_IDENTITY,
            decided_by="rules",
            prompt_hash=None,
            input_hash=rules_input_hash(task, report),
            raw_output=raw,
            note=note,
        )
