"""The task catalog: one entry per RadLite task, holding everything that task needs.

Prompt text (byte for byte the published RadLite contract, radlite-contract.md), token
budget, output type, decoding strategy, parser, canonical label text, FHIR code and the
evidence finder live together here; nothing else repeats them. Backends (llama.cpp in
process, llama.cpp server over HTTP) read an entry and run it.

Decoding strategies:
- "labels": classification (RADS, N, M, NLI). The answer is never free-generated: the
  backend scores the printed forms in `TaskSpec.surfaces` from the model's logits, so the
  answer is always one of `labels` (see models/scoring.py).
- "skeleton": abnormality detection. The fixed 14-bullet layout is written into the
  answer and the model only picks each bullet's value among `labels`.
- "free": greedy generation up to `max_tokens`, parsed afterwards; when the free text
  does not parse, the backend regenerates under `grammar`, which admits only the shapes
  the parser accepts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from models import parsers
from models.text import evidence_at, sentence_spans
from models.types import (
    ChexpertValue,
    EntitiesValue,
    Evidence,
    MStageValue,
    NliValue,
    NStageValue,
    RadsValue,
    TaskName,
    TaskRequest,
    TaskValue,
    TemporalValue,
    TextValue,
    sha256_text,
)

__all__ = [
    "SYSTEM_PROMPT",
    "THINK_PREFILL",
    "LOCAL_CODE_SYSTEM",
    "chatml",
    "TaskInputError",
    "TaskSpec",
    "CATALOG",
    "report_input",
    "input_hash",
    "value_text",
    "rads_surfaces",
]

SYSTEM_PROMPT = "You are an expert radiologist. Follow the instructions and provide an accurate response."

THINK_PREFILL = "<think>\n\n</think>\n\n"
"""The empty think block the Qwen3 RadLite model prints first; pre-filled so it is never generated."""

LOCAL_CODE_SYSTEM = "http://radlite.org/fhir/CodeSystem/radlite"
LOINC = "http://loinc.org"

Decoding = Literal["labels", "skeleton", "free"]


def chatml(system: str, user: str, *, prefill: str = "") -> str:
    """The raw ChatML completion prompt RadLite was tuned on, plus an optional answer prefill."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        f"<|im_start|>user\n{user}<|im_end|>\n"
        f"<|im_start|>assistant\n{prefill}"
    )


class TaskInputError(ValueError):
    """A request lacks what its task needs (NLI without hypothesis, QA without question, no text)."""


# ---- prompts (exact) ------------------------------------------------------------

_TEMPLATES: dict[TaskName, str] = {
    TaskName.rads_assignment: (
        "[TASK: rads_assignment]\nClassify the following radiology report into the appropriate RADS category. "
        "Output ONLY the RADS category (e.g., 'BI-RADS 4', 'PI-RADS 3', 'TI-RADS 5').\n\nReport:\n{report}"
    ),
    TaskName.impression_generation: (
        "[TASK: impression_generation]\nGenerate a concise clinical impression from the following radiology "
        "findings.\n\nFindings:\n{report}"
    ),
    TaskName.temporal_comparison: (
        "[TASK: temporal_comparison]\nCompare the following radiology findings and identify temporal changes "
        "(new, worsened, improved, resolved, unchanged).\n\nFindings:\n{report}"
    ),
    TaskName.radiology_ner: (
        "[TASK: radiology_ner]\nExtract all anatomical structures, observations (present/absent/uncertain), "
        "and change indicators from the following report.\n\nReport:\n{report}"
    ),
    TaskName.n_staging: (
        "[TASK: n_staging]\n"
        "Radiology Report: Lower thorax: Clear. Lymph nodes: Multiple enlarged retroperitoneal and para-aortic "
        "lymph nodes, largest 2.3 cm. IMPRESSION: 1. Retroperitoneal lymphadenopathy. Lymph node involvement: "
        "Positive. N staging: N2\n\n"
        "Radiology Report: Lower thorax: Clear. Liver: Normal. Lymph nodes: No lymphadenopathy. IMPRESSION: "
        "1. No acute findings. Lymph node involvement: Negative. N staging: N0\n\n"
        "Radiology Report: {report}\n\nLymph node involvement:"
    ),
    TaskName.m_staging: (
        "[TASK: m_staging]\nRadiology Report: {report}\n\nDetermine the M staging (metastatic involvement):"
    ),
    TaskName.radiology_nli: (
        "[TASK: radiology_nli]\n{report}\n\nDetermine if the hypothesis is entailed, contradicted, or neutral "
        "given the premise:"
    ),
    TaskName.abnormality_detection: (
        "[TASK: abnormality_detection]\nClassify each finding as positive, negative, or uncertain: atelectasis, "
        "cardiomegaly, consolidation, edema, enlarged cardiomediastinum, fracture, lung lesion, lung opacity, "
        "pleural effusion, pleural other, pneumonia, pneumothorax, support devices, no finding.\n\nReport:\n{report}"
    ),
    TaskName.radiology_qa: "[TASK: radiology_qa]\nAnswer the following radiology question.\n\nQuestion:\n{report}",
}


def _one_line(text: str) -> str:
    """Join lines with spaces: the staging prompts' worked examples put the whole report on one line."""
    return re.sub(r"\s*\n\s*", " ", text).strip()


def report_input(request: TaskRequest) -> str:
    """The text substituted for `{report}` in the task's prompt."""
    report = request.report
    task = request.task
    if task == TaskName.impression_generation:
        text = report.body() or report.text()
    elif task == TaskName.radiology_nli:
        premise = request.premise or report.body() or report.text()
        if not request.hypothesis:
            raise TaskInputError("radiology_nli needs a hypothesis")
        text = f"Premise: {_one_line(premise)} Hypothesis: {_one_line(request.hypothesis)}"
    elif task == TaskName.radiology_qa:
        if not request.question:
            raise TaskInputError("radiology_qa needs a question")
        context = report.text()
        text = f"{request.question.strip()}\n\nReport:\n{context}" if context else request.question.strip()
    elif task == TaskName.temporal_comparison and report.prior_text:
        text = f"Prior report:\n{report.prior_text.strip()}\n\nCurrent report:\n{report.text()}"
    elif task in (TaskName.n_staging, TaskName.m_staging):
        text = _one_line(report.text())
    else:
        text = report.text()
    if not text.strip():
        raise TaskInputError(f"{task.value}: the report has no text")
    return text


def input_hash(request: TaskRequest) -> str:
    """sha256 of the task name and its exact input: with the manifest version, the result cache key."""
    return sha256_text(f"{request.task.value}\n{report_input(request)}")


# ---- canonical label text --------------------------------------------------------


def value_text(value: TaskValue) -> str:
    """Canonical text of a value: 'BI-RADS 4A', 'LR-5', 'N2', 'M1', 'entailment', ..."""
    if isinstance(value, RadsValue):
        return value.label
    if isinstance(value, NStageValue):
        return value.stage or ("Positive" if value.involvement else "N0")
    if isinstance(value, MStageValue):
        return value.stage
    if isinstance(value, NliValue):
        return value.label
    if isinstance(value, ChexpertValue):
        return "; ".join(f"{k}: {value.labels[k]}" for k in parsers.CHEXPERT_DISPLAY if k in value.labels)
    if isinstance(value, EntitiesValue):
        parts = [("Anatomy", value.anatomy), ("Observation (Present)", value.present),
                 ("Observation (Absent)", value.absent), ("Observation (Uncertain)", value.uncertain),
                 ("Change", value.changes)]
        return "\n".join(f"{k}: {'; '.join(v)}" for k, v in parts if v)
    if isinstance(value, TemporalValue):
        return "; ".join(f"{c.finding}: {c.change}" for c in value.changes) or "no change"
    return value.text


def _case_variants(forms: list[str]) -> tuple[str, ...]:
    """Each printed form as is, upper and lower case (the parsers accept any case)."""
    out: list[str] = []
    for f in forms:
        for v in (f, f.upper(), f.lower(), f[:1].upper() + f[1:]):
            if v not in out:
                out.append(v)
    return tuple(out)


def rads_surfaces() -> tuple[str, ...]:
    """Every printed form of every RADS label, e.g. 'LI-RADS 5' and 'LR-5', 'TI-RADS 5' and 'TI-RADS TR5'."""
    forms: list[str] = []
    for system, cats in parsers.RADS_CATEGORIES.items():
        for cat in cats:
            if system == "LI-RADS":
                forms += [f"LI-RADS {cat[3:]}", cat, f"LI-RADS {cat}"]
            elif system == "TI-RADS":
                forms += [f"TI-RADS {cat[2:]}", f"TI-RADS {cat}"]
            else:
                forms.append(f"{system} {cat}")
    forms.append(parsers.NO_RADS)
    return _case_variants(forms)


def _rads_labels() -> tuple[str, ...]:
    labels = [RadsValue(system=s, category=c).label for s, cats in parsers.RADS_CATEGORIES.items() for c in cats]
    return (*labels, parsers.NO_RADS)


_N_FORMS = ["Positive", "Negative", *(f"Positive. N staging: N{i}" for i in (1, 2, 3)), "Negative. N staging: N0"]

# ---- grammars for the free tasks' second try (GBNF, llama.cpp syntax) --------------

# Free text, not starting blank; "<" only before a character that cannot open a special token or
# a think tag ("<6 mm" and "< 1 cm" are text, "<|im_start|>" and "<think>" are not).
_TEXT_GRAMMAR = r"""root ::= ([^ \t\n<] | lt) ([^<] | lt)*
lt ::= "<" [^|/t<]
"""

# Bounded repetitions: a model that cannot stop still reaches the grammar's end (then only
# end-of-text is allowed) instead of running to the token limit.
_NER_GRAMMAR = r"""root ::= line ("\n" line){0,4}
line ::= head ": " item ("; " item){0,11}
head ::= "Anatomy" | "Observation (Present)" | "Observation (Absent)" | "Observation (Uncertain)" | "Change"
item ::= [^;\n<:]{1,40}
"""

_TEMPORAL_GRAMMAR = r"""root ::= line ("\n" line){0,7}
line ::= "- [" tag "] " cue " (related to: " finding ")"
tag ::= "New Finding" | "Worsened" | "Improved" | "Resolved" | "No Change"
cue ::= [^\n()\[\]<]{1,24}
finding ::= [^\n()<]{1,60}
"""

# ---- evidence ---------------------------------------------------------------------

_STOP = frozenset(
    "with without there their this that from have been were which into than also only more most very "
    "left right both seen noted given report findings impression study compared".split()
)
CHEXPERT_CUES: dict[str, tuple[str, ...]] = {
    "atelectasis": ("atelecta", "collapse"),
    "cardiomegaly": ("cardiomegaly", "enlarged heart", "heart size is enlarged", "cardiac silhouette"),
    "consolidation": ("consolidat",),
    "edema": ("edema", "oedema"),
    # The silhouette or contour, not any mediastinal word: "mediastinal shift", "mediastinal drain" and
    # "mediastinal nodes" name no cardiomediastinal finding.
    "enlarged cardiomediastinum": ("cardiomediastin", "mediastinal contour", "mediastinal silhouette",
                                   "mediastinal widening", "widened mediastinum", "mediastinum is", "mediastinum appears",
                                   "mediastinum:"),
    "fracture": ("fracture",),
    "lung lesion": ("nodule", "mass", "lesion"),
    "lung opacity": ("opaci",),
    "pleural effusion": ("effusion",),
    "pleural other": ("pleural thickening", "pleural plaque", "fibrothorax"),
    "pneumonia": ("pneumonia",),
    "pneumothorax": ("pneumothorax",),
    "support devices": ("tube", "line", "catheter", "pacemaker", "device", "wire", "stent"),
    "no finding": ("no acute", "normal", "clear", "unremarkable"),
}


def _spans_with(text: str, needles: list[str], limit: int = 3) -> list[Evidence]:
    """Evidence for the sentences containing any needle (case-insensitive), in text order."""
    low = text.lower()
    found: dict[tuple[int, int], Evidence] = {}
    for needle in needles:
        n = needle.lower()
        if not n:
            continue
        for m in re.finditer(re.escape(n), low):
            ev = evidence_at(text, m.start(), m.end())
            found.setdefault((ev.start or 0, ev.end or 0), ev)
    return [found[k] for k in sorted(found)][:limit]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z][a-z-]{3,}", text.lower()) if w not in _STOP}


def _overlapping(text: str, query: str, limit: int = 3) -> list[Evidence]:
    """The sentences of `text` sharing the most content words with `query`, in text order."""
    q = _words(query)
    scored = []
    for a, b in sentence_spans(text):
        score = len(q & _words(text[a:b]))
        if score:
            scored.append((score, a, b))
    best = sorted(scored, key=lambda s: (-s[0], s[1]))[:limit]
    return [Evidence(sentence=text[a:b], start=a, end=b) for _, a, b in sorted(best, key=lambda s: s[1])]


def _impression_first(request: TaskRequest) -> list[Evidence]:
    text = request.report.text()
    imp = request.report.impression
    if imp:
        first = next(iter(sentence_spans(imp)), None)
        if first:
            hit = _spans_with(text, [imp[first[0]:first[1]]], limit=1)
            if hit:
                return hit
    spans = sentence_spans(text)
    return [Evidence(sentence=text[a:b], start=a, end=b) for a, b in spans[-1:]]


def _evidence(request: TaskRequest, value: TaskValue) -> list[Evidence]:
    """The report sentences the answer rests on, with offsets in `report.text()`."""
    text = request.report.text()
    hits: list[Evidence] = []
    if isinstance(value, RadsValue):
        if value.applicable and value.system and value.category:
            cat = value.category
            bare = cat[3:] if cat.startswith("LR-") else cat[2:] if value.system == "TI-RADS" else cat
            sysnames = [value.system, value.system.replace("-", ""), value.system.replace("-", " ")]
            coded = cat if cat.startswith(("LR-", "TR")) else ""
            hits = _spans_with(text, [value.label, *(f"{s} {bare}" for s in sysnames), coded])
            hits = hits or _spans_with(text, sysnames)
        else:
            hits = _spans_with(text, ["RADS"])
    elif isinstance(value, NStageValue):
        hits = _spans_with(text, ["lymph", "nodal", "adenopathy", value.stage or ""])
    elif isinstance(value, MStageValue):
        hits = _spans_with(text, ["metasta", f"{value.stage} "])
    elif isinstance(value, NliValue):
        premise = request.premise or request.report.body() or text
        hits = _spans_with(text, [premise], limit=1) if request.premise else []
        if not hits and request.premise:
            return [Evidence(sentence=request.premise)]
        hits = hits or _overlapping(text, request.hypothesis or "")
    elif isinstance(value, ChexpertValue):
        needles = [c for k, v in value.labels.items() if v != "negative" and k != "no finding"
                   for c in CHEXPERT_CUES[k]]
        hits = _spans_with(text, needles, limit=5)
    elif isinstance(value, EntitiesValue):
        hits = _spans_with(text, [*value.present, *value.uncertain, *value.absent], limit=5)
    elif isinstance(value, TemporalValue):
        hits = _overlapping(text, " ".join(f"{c.finding} {c.cue or ''}" for c in value.changes), limit=5)
    elif isinstance(value, TextValue):
        hits = _overlapping(text, value.text + " " + (request.question or ""))
    if not hits and not isinstance(value, (TextValue, EntitiesValue, TemporalValue)):
        hits = _impression_first(request)
    return hits


# ---- the catalog ------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """One task: prompt, budget, decoding, label set, parser and FHIR code."""

    name: TaskName
    max_tokens: int
    decoding: Decoding
    labels: tuple[str, ...] | None
    template: str
    parser: Callable[[str], TaskValue]
    fhir_system: str
    fhir_code: str
    fhir_display: str
    surfaces: tuple[str, ...] = field(default=())
    """Printed forms scored for "labels" decoding (each parses to one of `labels`)."""
    grammar: str | None = None
    """GBNF for the second try of a "free" task whose first output did not parse."""
    skeleton: tuple[str, ...] = field(default=())
    """Bullet names written into the answer for "skeleton" decoding, in printed order."""
    line_viable: Callable[[str], bool] | None = None
    """For free output made of lines: can an unfinished line still parse? The parser checks
    each complete line and this each token of the current one, so a bad line ends the try early."""

    def user_prompt(self, request: TaskRequest) -> str:
        """The USER message: the published template with `{report}` substituted."""
        if request.task != self.name:
            raise TaskInputError(f"request for {request.task.value} given to {self.name.value}")
        # str.replace, not str.format: report text may contain braces.
        return self.template.replace("{report}", report_input(request))

    def prompt(self, request: TaskRequest, *, think_prefill: bool = False) -> str:
        """The full ChatML completion prompt; `think_prefill` for Qwen3-style models."""
        return chatml(SYSTEM_PROMPT, self.user_prompt(request), prefill=THINK_PREFILL if think_prefill else "")

    def static_prefix(self, *, think_prefill: bool = False) -> str:
        """The prompt text before the report: the same for every request of this task.

        Backends keep its KV state so that only the report part is evaluated per call.
        """
        marker = "\x00REPORT\x00"
        full = chatml(SYSTEM_PROMPT, self.template.replace("{report}", marker),
                      prefill=THINK_PREFILL if think_prefill else "")
        return full[: full.index(marker)]

    def parse(self, text: str) -> TaskValue:
        """Typed value of a model output; raises parsers.ParseError on any other shape."""
        return self.parser(text)

    def value_text(self, value: TaskValue) -> str:
        return value_text(value)

    def evidence(self, request: TaskRequest, value: TaskValue) -> list[Evidence]:
        return _evidence(request, value)

    def skeleton_line(self, index: int) -> str:
        """Bullet prefix for skeleton slot `index`: '- Atelectasis:' (newline-led after the first)."""
        return ("\n" if index else "") + f"- {self.skeleton[index]}:"


def _spec(name: TaskName, max_tokens: int, decoding: Decoding, parser: Callable[[str], TaskValue], *,
          labels: tuple[str, ...] | None = None, code: tuple[str, str, str] | None = None,
          surfaces: tuple[str, ...] = (), grammar: str | None = None, skeleton: tuple[str, ...] = (),
          line_viable: Callable[[str], bool] | None = None) -> TaskSpec:
    system, fcode, display = code or (LOCAL_CODE_SYSTEM, name.value, name.value.replace("_", " "))
    return TaskSpec(name=name, max_tokens=max_tokens, decoding=decoding, labels=labels, template=_TEMPLATES[name],
                    parser=parser, fhir_system=system, fhir_code=fcode, fhir_display=display,
                    surfaces=surfaces, grammar=grammar, skeleton=skeleton, line_viable=line_viable)


CATALOG: dict[TaskName, TaskSpec] = {
    TaskName.rads_assignment: _spec(
        TaskName.rads_assignment, 30, "labels", parsers.parse_rads,
        labels=_rads_labels(), surfaces=rads_surfaces(),
        code=(LOCAL_CODE_SYSTEM, "rads_assignment", "RADS assessment category"),
    ),
    TaskName.impression_generation: _spec(
        TaskName.impression_generation, 256, "free", lambda t: parsers.parse_text("impression_generation", t),
        code=(LOINC, "19005-8", "Radiology Imaging study [Impression] (narrative)"), grammar=_TEXT_GRAMMAR,
    ),
    TaskName.temporal_comparison: _spec(
        TaskName.temporal_comparison, 256, "free", parsers.parse_temporal, grammar=_TEMPORAL_GRAMMAR,
        line_viable=parsers.viable_temporal_line,
        code=(LOCAL_CODE_SYSTEM, "temporal_comparison", "Temporal comparison with prior imaging"),
    ),
    TaskName.radiology_ner: _spec(
        TaskName.radiology_ner, 256, "free", parsers.parse_entities, grammar=_NER_GRAMMAR,
        line_viable=parsers.viable_ner_line,
        code=(LOCAL_CODE_SYSTEM, "radiology_ner", "Radiology entities"),
    ),
    TaskName.n_staging: _spec(
        TaskName.n_staging, 64, "labels", parsers.parse_n_stage,
        labels=("N0", "N1", "N2", "N3", "Positive"), surfaces=_case_variants(_N_FORMS),
        code=(LOINC, "21906-3", "Regional lymph nodes.clinical [Class] Cancer"),
    ),
    TaskName.m_staging: _spec(
        TaskName.m_staging, 10, "labels", parsers.parse_m_stage,
        labels=("M0", "M1"), surfaces=_case_variants(["M0", "M1"]),
        code=(LOINC, "21907-1", "Distant metastases.clinical [Class] Cancer"),
    ),
    TaskName.radiology_nli: _spec(
        TaskName.radiology_nli, 10, "labels", parsers.parse_nli,
        labels=("entailment", "contradiction", "neutral"),
        surfaces=_case_variants(["entailment", "contradiction", "neutral"]),
        code=(LOCAL_CODE_SYSTEM, "radiology_nli", "Report consistency (NLI)"),
    ),
    TaskName.abnormality_detection: _spec(
        TaskName.abnormality_detection, 256, "skeleton", parsers.parse_chexpert,
        labels=("positive", "negative", "uncertain"), surfaces=(" positive", " negative", " uncertain"),
        skeleton=tuple(parsers.CHEXPERT_DISPLAY.values()),
        code=(LOCAL_CODE_SYSTEM, "abnormality_detection", "Chest radiograph findings (CheXpert labels)"),
    ),
    TaskName.radiology_qa: _spec(
        TaskName.radiology_qa, 256, "free", lambda t: parsers.parse_text("radiology_qa", t),
        grammar=_TEXT_GRAMMAR, code=(LOCAL_CODE_SYSTEM, "radiology_qa", "Radiology question answer"),
    ),
}
