"""Which of the nine tasks apply to a report, and why.

The plan is deterministic and explainable: each planned task carries the reason it was
chosen, and the plan is stored with the results. Inputs are the modality, the procedure
text and the report text; nothing here runs a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.types import PlannedTask, RadiologyReport, TaskName

# RADS system -> (modalities it applies to or None for any, procedure/text cues). A cue in
# the procedure name (or the report naming the system) is enough; the report body is
# matched on the stronger anatomical phrases only, so a chest CT mentioning "liver" in
# passing does not get LI-RADS.
_RADS_CUES: dict[str, tuple[frozenset[str] | None, tuple[str, ...], tuple[str, ...]]] = {
    "BI-RADS": (None, (r"\bbreast\b", r"\bmammo", r"\btomosynthesis\b", r"\bMG\b"), (r"\bBI-?RADS\b",)),
    "LI-RADS": (
        frozenset({"CT", "MR", "US"}),
        (r"\bliver\b", r"\bhepat", r"\babdomen\b.*\b(multiphase|triphasic|LAVA|eovist|gadoxetate)"),
        (r"\bLI-?RADS\b", r"\bLR-(?:[1-5]|M|TIV|TR|NC)\b", r"\bcirrho", r"\bHCC\b", r"\bhepatitis B\b"),
    ),
    "Lung-RADS": (
        frozenset({"CT"}),
        (r"\blung cancer screening\b", r"\bLDCT\b", r"\blow[- ]dose\b.*\bchest\b", r"\bchest\b.*\blow[- ]dose\b"),
        (r"\bLung-?RADS\b",),
    ),
    "TI-RADS": (frozenset({"US"}), (r"\bthyroid\b",), (r"\bTI-?RADS\b", r"\bTR[1-5]\b")),
    "PI-RADS": (frozenset({"MR"}), (r"\bprostat",), (r"\bPI-?RADS\b",)),
    "O-RADS": (
        frozenset({"US", "MR"}),
        (r"\bpelvi", r"\bovar", r"\badnex", r"\btransvaginal\b", r"\bTVUS\b"),
        (r"\bO-?RADS\b", r"\badnexal\b", r"\bovarian (?:cyst|mass|lesion)"),
    ),
    "NI-RADS": (frozenset({"CT", "MR", "PT"}), (r"\bneck\b",), (r"\bNI-?RADS\b",)),
    "CAD-RADS": (frozenset({"CT"}), (r"\bcoronary\b", r"\bCCTA\b", r"\bcardiac CT"), (r"\bCAD-?RADS\b",)),
    "VI-RADS": (frozenset({"MR"}), (r"\bbladder\b",), (r"\bVI-?RADS\b",)),
    "GB-RADS": (frozenset({"US"}), (r"\bgallbladder\b", r"\bRUQ\b", r"\bright upper quadrant\b"), (r"\bGB-?RADS\b",)),
}

_ONCOLOGIC = re.compile(
    r"\b(staging|restaging|carcinoma|cancer|malignan|neoplasm|tumou?r|metasta|lymphoma|adenocarcinoma|"
    r"sarcoma|melanoma|mass\b.*\bsuspicious)",
    re.IGNORECASE,
)
_SURVEILLANCE = re.compile(r"\b(post[- ]?treatment|surveillance|NI-?RADS|status post (?:resection|chemo))", re.IGNORECASE)
_CHEST = re.compile(r"\b(chest|thorax|thoracic|lungs?|CXR|portable AP|PA and lateral)\b", re.IGNORECASE)
_COMPARISON_NONE = re.compile(r"\bcomparison\s*:\s*(none|no prior|not available|n/?a)\b", re.IGNORECASE)
_COMPARISON = re.compile(
    r"\b(comparison\s*:|compared (?:with|to)|prior (?:study|exam|examination|imaging|CT|MRI|radiograph|film)|"
    r"previous(?:ly)?|interval(?:ly)?|since the prior|new\b|unchanged|stable|resolved|increased|decreased)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Plan:
    tasks: list[PlannedTask]
    rads_system: str | None

    @property
    def names(self) -> list[TaskName]:
        return [t.task for t in self.tasks]


def _any(patterns: tuple[str, ...], text: str) -> str | None:
    for p in patterns:
        if re.search(p, text, re.IGNORECASE):
            return p
    return None


def rads_system_for(report: RadiologyReport) -> tuple[str | None, str]:
    """The RADS system that applies to the study, with the reason; (None, why) when none does."""
    procedure = report.procedure or ""
    text = report.text()
    modality = (report.modality or "").upper()
    for system, (modalities, proc_cues, text_cues) in _RADS_CUES.items():
        named = _any(text_cues[:1], text)
        if named:
            return system, f"report names {system}"
    for system, (modalities, proc_cues, text_cues) in _RADS_CUES.items():
        if modalities is not None and modality and modality not in modalities:
            continue
        if _any(proc_cues, procedure):
            if system == "LI-RADS" and not _any(text_cues, text):
                continue  # LI-RADS applies only to patients at risk of HCC
            return system, f"{system} applies to this procedure"
    if modality == "MG":
        return "BI-RADS", "mammography"
    return None, "no RADS system applies to this study"


def plan_report(report: RadiologyReport, requested: list[TaskName] | None = None) -> Plan:
    """The tasks to run for `report`; `requested` overrides the choice (and is kept as the reason)."""
    system, why = rads_system_for(report)
    if requested:
        return Plan([PlannedTask(task=t, reason="requested") for t in requested], system)

    text = report.text()
    procedure = report.procedure or ""
    modality = (report.modality or "").upper()
    tasks: list[PlannedTask] = [PlannedTask(task=TaskName.radiology_ner, reason="entities are extracted from every report")]
    if system:
        tasks.append(PlannedTask(task=TaskName.rads_assignment, reason=why))
    if _ONCOLOGIC.search(procedure + "\n" + text) and not _SURVEILLANCE.search(procedure + "\n" + text):
        reason = "oncologic study: N and M staging"
        tasks.append(PlannedTask(task=TaskName.n_staging, reason=reason))
        tasks.append(PlannedTask(task=TaskName.m_staging, reason=reason))
    if modality in {"CR", "DX"} and (_CHEST.search(procedure) or _CHEST.search(text)):
        tasks.append(PlannedTask(task=TaskName.abnormality_detection, reason="chest radiograph: CheXpert labels"))
    if report.prior_text:
        tasks.append(PlannedTask(task=TaskName.temporal_comparison, reason="prior report text supplied"))
    elif _COMPARISON.search(report.body()) and not _COMPARISON_NONE.search(report.body()):
        tasks.append(PlannedTask(task=TaskName.temporal_comparison, reason="report compares with a prior study"))
    if report.findings and report.impression:
        tasks.append(PlannedTask(task=TaskName.radiology_nli, reason="check the impression against the findings"))
    if not report.impression:
        tasks.append(PlannedTask(task=TaskName.impression_generation, reason="report has no impression"))
    return Plan(tasks, system)
