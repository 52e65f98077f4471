"""Domain types that cross floors: the report going in, the typed results coming out.

They live on the lowest floor that needs them (models/), so adapters and the plugin
import them from here and models/ never imports anything above it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

__all__ = [
    "TaskName",
    "ReportStatus",
    "RadiologyReport",
    "TaskRequest",
    "Evidence",
    "ModelIdentity",
    "RadsValue",
    "NStageValue",
    "MStageValue",
    "NliValue",
    "ChexpertValue",
    "EntitiesValue",
    "TemporalChange",
    "TemporalValue",
    "TextValue",
    "TaskValue",
    "Disagreement",
    "TaskResult",
    "CriticalFinding",
    "FollowUp",
    "ReportFacts",
    "PlannedTask",
    "Analysis",
    "CHEXPERT_LABELS",
    "RADS_SYSTEMS",
    "RADS_MODIFIERS",
    "NI_RADS_SITES",
    "rads_modifier",
    "clean_rads_modifiers",
    "sha256_text",
    "DEMO_NOTICE",
    "NOT_A_KNOWN_CATEGORY",
]

DEMO_NOTICE = "demo model, not for clinical use"
"""The words every Observation, card and HL7 result produced by a demo model carries."""

NOT_A_KNOWN_CATEGORY = "not a category RadLite knows"
"""The words every note about a RADS category the report states but its system does not define carries
(RadsValue.unlisted_note, the rules' note beside a known category): cards and outputs look for them."""


def sha256_text(text: str) -> str:
    """Hex sha256 of UTF-8 text; the one hash used for ids, evidence and audit."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TaskName(StrEnum):
    """The nine RadLite tasks, spelled as the `[TASK: ...]` tag of the published prompts."""

    rads_assignment = "rads_assignment"
    impression_generation = "impression_generation"
    temporal_comparison = "temporal_comparison"
    radiology_ner = "radiology_ner"
    n_staging = "n_staging"
    m_staging = "m_staging"
    radiology_nli = "radiology_nli"
    abnormality_detection = "abnormality_detection"
    radiology_qa = "radiology_qa"


ReportStatus = Literal[
    "registered", "partial", "preliminary", "final", "amended", "corrected", "appended",
    "cancelled", "entered-in-error", "unknown",
]
"""FHIR R4 DiagnosticReport.status codes; HL7 OBR-25 values are mapped onto these."""

RADS_SYSTEMS: tuple[str, ...] = (
    "BI-RADS", "LI-RADS", "Lung-RADS", "TI-RADS", "PI-RADS",
    "O-RADS", "NI-RADS", "CAD-RADS", "VI-RADS", "GB-RADS",
)

CHEXPERT_LABELS: tuple[str, ...] = (
    "atelectasis", "cardiomegaly", "consolidation", "edema", "enlarged cardiomediastinum",
    "fracture", "lung lesion", "lung opacity", "pleural effusion", "pleural other",
    "pneumonia", "pneumothorax", "support devices", "no finding",
)

_WS = re.compile(r"[ \t]+")


def _norm(text: str | None) -> str:
    if not text:
        return ""
    lines = [_WS.sub(" ", ln).strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(ln for ln in lines if ln)


class RadiologyReport(BaseModel):
    """One radiology report, whatever door it came in by (HL7 v2, FHIR, a file).

    `findings` is the report body before the impression; it may start with history,
    technique and comparison lines, as real report bodies do. When a sender splits
    those sections out, they are kept in their own fields and prepended to the model
    input in the usual order.
    """

    model_config = ConfigDict(frozen=True)

    report_id: str = Field(description="Stable id: FHIR DiagnosticReport id, or accession for HL7.")
    patient_id: str | None = Field(default=None, description="Bare patient id (no 'Patient/').")
    accession: str | None = None
    modality: str | None = Field(default=None, description="DICOM modality code: CT, MR, US, MG, CR, DX, PT, ...")
    procedure: str | None = Field(default=None, description="Procedure text (OBR-4 text, DiagnosticReport.code.text).")
    procedure_code: str | None = None
    status: ReportStatus = "final"
    effective: datetime | None = None
    issued: datetime | None = None
    history: str | None = None
    technique: str | None = None
    comparison: str | None = None
    findings: str | None = None
    impression: str | None = None
    addendum: str | None = None
    prior_text: str | None = Field(default=None, description="Text of the prior report when known.")
    source_format: Literal["hl7v2", "fhir", "text"] = "text"
    source_hash: str | None = Field(default=None, description="sha256 of the raw inbound bytes.")

    def body(self) -> str:
        """Findings with any separately sent history/technique/comparison before them."""
        parts = []
        for label, value in (("History", self.history), ("Technique", self.technique), ("Comparison", self.comparison)):
            if value:
                parts.append(value if value.lower().startswith(label.lower()) else f"{label}: {value}")
        if self.findings:
            parts.append(self.findings)
        return "\n".join(parts)

    def text(self) -> str:
        """The report as the models see it: body, impression and addendum with headings.

        Procedure and modality are left out on purpose: the HL7 and FHIR copies of one
        report name the procedure differently, and the content hash (hence the stored
        analysis) must be the same for both.
        """
        out = []
        body = self.body()
        if body:
            out.append(f"FINDINGS:\n{body}")
        if self.impression:
            out.append(f"IMPRESSION:\n{self.impression}")
        if self.addendum:
            out.append(f"ADDENDUM:\n{self.addendum}")
        return _norm("\n\n".join(out)).replace("\nIMPRESSION:", "\n\nIMPRESSION:").replace("\nADDENDUM:", "\n\nADDENDUM:")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def content_hash(self) -> str:
        """sha256 of the normalised clinical text: the key analyses are stored under."""
        return sha256_text(_norm(self.body()) + "\n\x1e" + _norm(self.impression) + "\n\x1e" + _norm(self.addendum))

    def sentences(self) -> list[str]:
        """Report sentences, for evidence; split on line ends and sentence stops."""
        from models.text import split_sentences  # local: keeps this module dependency-free

        return split_sentences(self.text())


class TaskRequest(BaseModel):
    """One task to run on one report. `question` is for QA, `hypothesis` for NLI."""

    model_config = ConfigDict(frozen=True)

    task: TaskName
    report: RadiologyReport
    question: str | None = None
    premise: str | None = Field(default=None, description="NLI premise; default the report findings.")
    hypothesis: str | None = None


class Evidence(BaseModel):
    """A report sentence a result rests on, with its character offsets in `report.text()`."""

    model_config = ConfigDict(frozen=True)

    sentence: str
    start: int | None = None
    end: int | None = None


class ModelIdentity(BaseModel):
    """Who answered: enough to reproduce or recall a result."""

    model_config = ConfigDict(frozen=True)

    model_id: str = Field(description="Manifest id, e.g. 'radlite-qwen2.5-3b' or 'rules'.")
    sha256: str | None = Field(default=None, description="sha256 of the GGUF file; None for the rules engine.")
    backend: Literal["llama_cpp", "http", "rules"]
    role: Literal["generation", "extraction", "rules"]
    version: str | None = None
    demo: bool = Field(default=False, description="True when a demo model (not for clinical use) produced it.")

    @property
    def display(self) -> str:
        """'<id> (<backend>, sha256 <first 12>)', plus the demo notice when it applies."""
        sha = f", sha256 {self.sha256[:12]}" if self.sha256 else ""
        demo = f" [{DEMO_NOTICE}]" if self.demo else ""
        return f"{self.model_id} ({self.backend}{sha}){demo}"


# ---- typed task values -----------------------------------------------------------


RADS_MODIFIERS: dict[str, dict[str, str]] = {
    "Lung-RADS": {
        "S": "clinically significant or potentially significant finding unrelated to lung cancer",
    },
    "CAD-RADS": {
        "P1": "plaque burden mild", "P2": "plaque burden moderate", "P3": "plaque burden severe",
        "P4": "plaque burden extensive", "HRP": "high-risk plaque", "I+": "ischemia present",
        "I-": "ischemia absent", "I±": "ischemia borderline", "S": "stent", "G": "graft", "E": "exceptions",
    },
}
"""Modifiers each system defines (ACR Lung-RADS v2022, CAD-RADS 2.0), in canonical order, with their meaning.

They qualify a category without changing it ("Lung-RADS 4B S" is category 4B); CAD-RADS N
is a category of its own, not a modifier.
"""

NI_RADS_SITES: dict[str, tuple[str, ...]] = {"primary": ("1", "2", "2a", "2b", "3", "4"), "neck": ("1", "2", "3", "4")}
"""NI-RADS scores the primary site and the neck separately; kept as modifiers 'primary 2a', 'neck 1'."""

_MODIFIER_ALIASES: dict[str, str] = {"V": "HRP", "I+/-": "I±", "I-/+": "I±", "I+-": "I±", "I\u2212": "I-"}
"""CAD-RADS 1.0 'V' (vulnerable plaque) became HRP in 2.0; spellings of the borderline/negative ischemia signs."""


def rads_modifier(system: str | None, raw: str) -> str | None:
    """The normalised spelling of one modifier of `system`, or None when the system does not define it.

    One spelling per modifier so that equality (model vs report) and codes downstream are exact.
    """
    text = re.sub(r"\s+", " ", raw.strip().lstrip("/").strip())
    if system == "NI-RADS":
        m = re.fullmatch(r"(?i)(primary|neck)(?:\s+site)?\s*[:=]?\s*(\d)([ab]?)", text)
        if not m:
            return None
        site, cat = m.group(1).lower(), m.group(2) + m.group(3).lower()
        return f"{site} {cat}" if cat in NI_RADS_SITES[site] else None
    defined = RADS_MODIFIERS.get(system or "", {})
    up = text.replace(" ", "").upper()
    up = _MODIFIER_ALIASES.get(up, up)
    return up if up in defined else None


def _modifier_order(system: str, modifier: str) -> int:
    if system == "NI-RADS":
        return list(NI_RADS_SITES).index(modifier.split(" ")[0])
    return list(RADS_MODIFIERS[system]).index(modifier)


def _modifier_kind(system: str, modifier: str) -> str:
    """Modifiers of one kind exclude each other: one plaque burden (P1-P4), one ischemia sign, one score per site."""
    if system == "NI-RADS":
        return modifier.split(" ")[0]
    return modifier[0] if system == "CAD-RADS" and modifier[0] in "PI" and modifier != "HRP" else modifier


def clean_rads_modifiers(system: str | None, raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Lenient form for readers of free text: unknown spellings dropped, of two of one kind the first kept.

    RadsValue itself rejects both (a value built in code must be right); report text is not.
    """
    out: dict[str, str] = {}
    for item in raw:
        mod = rads_modifier(system, item)
        if mod is not None and system:
            out.setdefault(_modifier_kind(system, mod), mod)
    return tuple(sorted(out.values(), key=lambda m: _modifier_order(system or "", m)))


class RadsValue(BaseModel):
    kind: Literal["rads"] = "rads"
    applicable: bool = True
    system: str | None = Field(default=None, description="One of RADS_SYSTEMS, or None when not applicable.")
    category: str | None = Field(default=None, description="Category in the dev-set spelling: '4A', 'LR-5', 'TR4', '2a'.")
    modifiers: tuple[str, ...] = Field(
        default=(),
        description="Modifiers the system defines, normalised and in canonical order: Lung-RADS 'S'; CAD-RADS "
                    "'P1'-'P4', 'HRP', 'I+', 'I-', 'I±', 'S', 'G', 'E'; NI-RADS per-site categories "
                    "'primary 2a', 'neck 1'. Never part of `category` (evaluation compares categories only).",
    )

    stated_category: str | None = Field(
        default=None,
        description="The category as the report writes it when it is none of the system's categories RadLite "
                    "knows ('7' in 'BI-RADS 7', 'LR-TR Nonprogressing', 'TR6'). Set only by the rules engine "
                    "(models/rules/stated_unlisted.py), with `category` None: the report's explicit statement "
                    "stands as its words, with no code, guideline or order. No parser ever sets it.",
    )

    @model_validator(mode="after")
    def _check_stated(self) -> RadsValue:
        """A stated-unlisted value names its system and nothing else: it is the report's words, not a category."""
        if self.stated_category is None:
            return self
        words = " ".join(self.stated_category.split())
        if not words:
            raise ValueError("stated_category must hold the report's words")
        if not self.applicable or self.system not in RADS_SYSTEMS or self.category is not None or self.modifiers:
            raise ValueError("stated_category needs an applicable RADS system, no category and no modifiers")
        object.__setattr__(self, "stated_category", words)
        return self

    @property
    def unlisted(self) -> bool:
        """True when the report states a category of `system` that RadLite does not know (BI-RADS 7)."""
        return self.stated_category is not None and self.category is None

    @property
    def unlisted_note(self) -> str | None:
        """Why a stated-unlisted value has no code, guideline or order; None for any other value."""
        if not self.unlisted:
            return None
        return (f"the report states {self.label}: {NOT_A_KNOWN_CATEGORY} in {self.system}, so it is shown "
                "as the report's words, with no code, guideline or order")

    @model_validator(mode="after")
    def _check_modifiers(self) -> RadsValue:
        """Reject modifiers the system does not define, or two of one kind: a wrong one would reach the chart."""
        if not self.modifiers:
            return self
        if not self.applicable or not self.system or not self.category:
            raise ValueError("modifiers need an applicable RADS system and category")
        out: list[str] = []
        for raw in self.modifiers:
            mod = rads_modifier(self.system, raw)
            if mod is None:
                raise ValueError(f"{raw!r} is not a {self.system} modifier")
            if mod not in out:
                out.append(mod)
        cleaned = clean_rads_modifiers(self.system, out)
        if len(cleaned) != len(out):
            raise ValueError(f"conflicting {self.system} modifiers {out}")
        object.__setattr__(self, "modifiers", cleaned)
        return self

    @property
    def label(self) -> str:
        """The category label the paper's evaluation and the label scorer use: modifiers are never in it.

        A stated-unlisted value is labelled with the report's words ('BI-RADS 7'); `unlisted` tells it apart.
        """
        if self.unlisted and self.system and self.stated_category:
            words = self.stated_category
            return words if self.system == "LI-RADS" and words.upper().startswith("LR-") else f"{self.system} {words}"
        if not self.applicable or not self.system or not self.category:
            return "No applicable RADS"
        if self.system == "LI-RADS" and self.category.startswith("LR-"):
            return self.category
        return f"{self.system} {self.category}"

    @property
    def full_label(self) -> str:
        """The label as a clinician writes it, modifiers included: 'Lung-RADS 2S', 'CAD-RADS 4A/P2/HRP'."""
        if not self.modifiers:
            return self.label
        if self.system == "CAD-RADS":
            return self.label + "".join(f"/{m}" for m in self.modifiers)
        if self.system == "Lung-RADS":
            return self.label + ("S" if (self.category or "").isdigit() else " S")
        return f"{self.label} ({', '.join(self.modifiers)})"

    def modifier_meaning(self, modifier: str) -> str:
        """What one of this value's modifiers means ('neck 1' -> 'NI-RADS neck 1')."""
        if self.system == "NI-RADS":
            return f"NI-RADS {modifier}"
        return RADS_MODIFIERS.get(self.system or "", {}).get(modifier, modifier)


class NStageValue(BaseModel):
    kind: Literal["n_stage"] = "n_stage"
    involvement: bool
    stage: Literal["N0", "N1", "N2", "N3"] | None = None


class MStageValue(BaseModel):
    kind: Literal["m_stage"] = "m_stage"
    stage: Literal["M0", "M1"]


class NliValue(BaseModel):
    kind: Literal["nli"] = "nli"
    label: Literal["entailment", "contradiction", "neutral"]


ChexpertState = Literal["positive", "negative", "uncertain"]


class ChexpertValue(BaseModel):
    kind: Literal["chexpert"] = "chexpert"
    labels: dict[str, ChexpertState] = Field(description="Label (lower case, CHEXPERT_LABELS) -> state.")


class EntitiesValue(BaseModel):
    kind: Literal["entities"] = "entities"
    anatomy: list[str] = Field(default_factory=list)
    present: list[str] = Field(default_factory=list)
    absent: list[str] = Field(default_factory=list)
    uncertain: list[str] = Field(default_factory=list)
    changes: list[str] = Field(default_factory=list)


ChangeClass = Literal["new", "worsened", "improved", "resolved", "unchanged"]


class TemporalChange(BaseModel):
    finding: str
    change: ChangeClass
    cue: str | None = None


class TemporalValue(BaseModel):
    kind: Literal["temporal"] = "temporal"
    changes: list[TemporalChange] = Field(default_factory=list)


class TextValue(BaseModel):
    kind: Literal["text"] = "text"
    text: str


TaskValue = Annotated[
    RadsValue | NStageValue | MStageValue | NliValue | ChexpertValue | EntitiesValue | TemporalValue | TextValue,
    Field(discriminator="kind"),
]


class Disagreement(BaseModel):
    """A model answer that differs from what the report states. Kept, never dropped."""

    model_value: str
    rules_value: str
    model: ModelIdentity | None = None
    note: str


class TaskResult(BaseModel):
    """A typed answer with everything a clinician or auditor needs to judge it."""

    task: TaskName
    value: TaskValue
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[Evidence] = Field(default_factory=list)
    model: ModelIdentity
    decided_by: Literal["model", "rules", "model+rules"] = Field(
        default="model", description="'rules' when a statement in the report set the value."
    )
    prompt_hash: str | None = None
    input_hash: str | None = Field(default=None, description="sha256 of the task input: the cache key with the manifest version.")
    tokens_prompt: int = 0
    tokens_generated: int = 0
    latency_ms: float = 0.0
    raw_output: str | None = Field(default=None, description="What the model printed (or chose), before parsing.")
    disagreement: Disagreement | None = None
    note: str | None = Field(
        default=None, description="Caveat on how the value or confidence was obtained (e.g. no logprobs from a server)."
    )

    @property
    def demo(self) -> bool:
        """True when a demo model took part: it answered, or its answer is kept as a disagreement."""
        other = self.disagreement.model if self.disagreement else None
        return self.model.demo or bool(other and other.demo)


class CriticalFinding(BaseModel):
    """A critical result (ACR actionable finding, category 1) stated, or suspected, and not negated."""

    term: str = Field(description="Vocabulary term, e.g. 'tension pneumothorax'.")
    evidence: list[Evidence] = Field(default_factory=list)
    certainty: Literal["definite", "uncertain"] = Field(
        default="definite", description="'uncertain' when every mention is hedged ('possible small pneumothorax')."
    )

    @property
    def label(self) -> str:
        """The term as shown to people: 'suspected pulmonary embolism' when hedged."""
        return self.term if self.certainty == "definite" else f"suspected {self.term}"


class FollowUp(BaseModel):
    """A follow-up recommendation found in the report text."""

    text: str
    procedure: str | None = None
    interval: str | None = Field(default=None, description="ISO 8601 duration, e.g. 'P6M'.")
    evidence: list[Evidence] = Field(default_factory=list)


class ReportFacts(BaseModel):
    """What the rules engine reads directly from the report, outside the nine tasks."""

    critical: list[CriticalFinding] = Field(default_factory=list)
    follow_ups: list[FollowUp] = Field(default_factory=list)
    laterality: Literal["left", "right", "bilateral"] | None = None


class PlannedTask(BaseModel):
    task: TaskName
    reason: str


class Analysis(BaseModel):
    """All results for one report under one model manifest version."""

    report: RadiologyReport
    manifest_version: str
    plan: list[PlannedTask] = Field(default_factory=list)
    results: list[TaskResult] = Field(default_factory=list)
    facts: ReportFacts = Field(default_factory=ReportFacts)
    pending: list[TaskName] = Field(default_factory=list, description="Planned tasks not finished yet.")
    errors: dict[str, str] = Field(default_factory=dict, description="Task -> error text for tasks that failed.")
    demo_models: bool = Field(
        default=False,
        description="The manifest that served it has a demo model: the whole analysis is demo, even when "
                    "no model answer survived (all failed, or the report was too long).")

    def result(self, task: TaskName) -> TaskResult | None:
        return next((r for r in self.results if r.task == task), None)

    @property
    def demo(self) -> bool:
        return self.demo_models or any(r.demo for r in self.results)
