"""Parsers from what the RadLite models print to typed task values.

One function per task. Each accepts every output shape the published models print
(radlite-contract.md, "What the models emit"): a leading Qwen3 think block, an end token
left in the text (`<|im_end|>`, `<|endoftext|>`), bullets with any indentation, upper or
lower case, quotes or markdown bold around a label, the optional ". N staging: N2" tail.
Anything else raises `ParseError` naming the task and the defect: a parser never guesses
a value (no lead-ins such as "Answer:", no explanation after a label).
"""

from __future__ import annotations

import re

from models.types import (
    CHEXPERT_LABELS,
    ChexpertValue,
    EntitiesValue,
    MStageValue,
    NliValue,
    NStageValue,
    RadsValue,
    TemporalChange,
    TemporalValue,
    TextValue,
    clean_rads_modifiers,
)

__all__ = [
    "ParseError",
    "strip_think",
    "parse_rads",
    "parse_text",
    "parse_temporal",
    "parse_entities",
    "viable_temporal_line",
    "viable_ner_line",
    "parse_n_stage",
    "parse_m_stage",
    "parse_nli",
    "parse_chexpert",
    "drop_incomplete_tail",
    "RADS_CATEGORIES",
    "NO_RADS",
    "CHEXPERT_DISPLAY",
    "TEMPORAL_TAGS",
    "NER_FIELDS",
]


class ParseError(ValueError):
    """A model output that does not have the shape the task's published model prints."""

    def __init__(self, task: str, reason: str, text: str) -> None:
        self.task = task
        self.reason = reason
        self.text = text
        shown = text if len(text) <= 80 else text[:77] + "..."
        super().__init__(f"{task}: {reason}: {shown!r}")


NO_RADS = "No applicable RADS"

# Categories per system in the dev-set spelling (RadsValue.category). Order = severity order.
RADS_CATEGORIES: dict[str, tuple[str, ...]] = {
    "BI-RADS": ("0", "1", "2", "3", "4", "4A", "4B", "4C", "5", "6"),
    "LI-RADS": ("LR-1", "LR-2", "LR-3", "LR-4", "LR-5", "LR-M", "LR-TIV",
                "LR-TR Nonviable", "LR-TR Equivocal", "LR-TR Viable"),
    "Lung-RADS": ("0", "1", "2", "3", "4A", "4B", "4X"),
    "TI-RADS": ("TR1", "TR2", "TR3", "TR4", "TR5"),
    "PI-RADS": ("1", "2", "3", "4", "5"),
    "O-RADS": ("0", "1", "2", "3", "4", "5"),
    "NI-RADS": ("1", "2", "2a", "2b", "3", "4"),
    "CAD-RADS": ("0", "1", "2", "3", "4A", "4B", "5", "N"),
    "VI-RADS": ("1", "2", "3", "4", "5"),
    "GB-RADS": ("0", "1", "2", "3", "4", "5"),
}

# "BI-RADS", "BIRADS", "bi rads" ... -> canonical system name.
_SYSTEM_RE = re.compile(r"(BI|LI|LUNG|TI|PI|O|NI|CAD|VI|GB)[\s-]?RADS", re.IGNORECASE)
_SYSTEM_BY_PREFIX = {s.split("-RADS")[0].upper(): s for s in RADS_CATEGORIES}

_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)
_END_OF_TURN = re.compile(r"<\|(?:im_end|endoftext)\|>")
_SPECIAL_TOKEN = re.compile(r"<\|[a-z_]+\|>")


def strip_think(task: str, text: str) -> str:
    """The answer alone: cut at the end of the turn, without the Qwen3 think block.

    The answer ends at the first `<|im_end|>` or `<|endoftext|>` (the demo's stop and the
    Qwen end-of-text: a backend that leaves them in, or runs on into a next turn, must not
    change the answer). Think content is never read as the answer; an unclosed, repeated or
    late think block, or another special token in the answer, is an error.
    """
    answer = _END_OF_TURN.split(text, maxsplit=1)[0]
    out = _THINK.sub("", answer, count=1)
    if "<think>" in out or "</think>" in out:
        raise ParseError(task, "unterminated or repeated think block", text)
    token = _SPECIAL_TOKEN.search(out)
    if token:
        raise ParseError(task, f"special token {token.group()} inside the answer", text)
    return out.strip()


_EMPHASIS = re.compile(r"\*\*|__")
_WRAPPERS = {"'": "'", '"': '"', "`": "`", "*": "*", "\u2018": "\u2019", "\u201c": "\u201d"}


def _label_answer(task: str, text: str) -> str:
    """A label answer without markdown emphasis, wrapping quotes and trailing stops.

    The RADS prompt itself quotes its examples ('BI-RADS 4'), and chat-tuned bases bold
    answers; neither changes which label was printed. Lead-ins and explanations stay and fail.
    """
    body = _EMPHASIS.sub("", strip_think(task, text)).strip()
    while True:
        before = body
        body = body.rstrip(".").strip()
        if len(body) >= 2 and _WRAPPERS.get(body[0]) == body[-1]:
            body = body[1:-1].strip()
        if body == before:
            return body


_LUNG_S = re.compile(r"(?<=\w)[\s/]?S$")
_CAD_SPLIT = re.compile(r"\s*/\s*")


def _rads_modifiers(system: str, raw: str) -> tuple[str, ...]:
    """Modifiers printed after the category ('Lung-RADS 4B S', 'CAD-RADS 3/P2/HRP'); optional, unknown ones ignored.

    The published model prints none; one that does must not lose them, nor fail on a suffix it invents.
    """
    c = re.sub(r"\s+", " ", raw.strip()).rstrip(".").strip()
    if system == "Lung-RADS":
        return ("S",) if _LUNG_S.search(c.upper()) else ()
    if system == "CAD-RADS" and "/" in c:
        signs = re.sub(r"\+\s*/\s*-|-\s*/\s*\+", "±", c)
        return clean_rads_modifiers(system, _CAD_SPLIT.split(signs)[1:])
    return ()


def _rads_category(system: str, raw: str) -> str | None:
    """Map a printed category (after the system name) to the dev-set spelling, or None."""
    c = re.sub(r"\s+", " ", raw.strip()).rstrip(".").strip()
    c = re.sub(r"^(?:category|cat\.?)\s*:?\s*", "", c, flags=re.IGNORECASE)
    up = c.upper()
    if system == "LI-RADS":
        up = re.sub(r"^LR[\s-]?", "", up)
        tr = re.fullmatch(r"TR[\s-]?(NON-?VIABLE|EQUIVOCAL|VIABLE)", up)
        if tr:
            return f"LR-TR {tr.group(1).replace('-', '').capitalize()}"
        cand = f"LR-{up}"
    elif system == "TI-RADS":
        cand = "TR" + re.sub(r"^TR[\s-]?", "", up)
    elif system == "NI-RADS":
        cand = c.lower()
    elif system == "Lung-RADS":
        cand = _LUNG_S.sub("", up)  # the S modifier is not part of the category
    elif system == "CAD-RADS":
        cand = up.split("/")[0].strip()  # modifiers /P2, /HRP, /S ... are not the category
    else:
        cand = up
    return cand if cand in RADS_CATEGORIES[system] else None


def parse_rads(text: str) -> RadsValue:
    """`BI-RADS 4B`, `LI-RADS 5`, `LR-5`, `TI-RADS 5` / `TI-RADS TR5`, or `No applicable RADS`."""
    task = "rads_assignment"
    line = _label_answer(task, text)
    if "\n" in line:
        raise ParseError(task, "expected one line", text)
    if re.fullmatch(r"no applicable rads(?: category)?", line, re.IGNORECASE):
        return RadsValue(applicable=False)
    bare_lr = re.fullmatch(r"LR[\s-]?(\S+(?: \S+)?)", line, re.IGNORECASE)
    if bare_lr:
        cat = _rads_category("LI-RADS", bare_lr.group(1))
        if cat is None:
            raise ParseError(task, "not a LI-RADS category", text)
        return RadsValue(system="LI-RADS", category=cat)
    m = _SYSTEM_RE.match(line)
    if not m:
        raise ParseError(task, "no RADS system at the start", text)
    system = _SYSTEM_BY_PREFIX[m.group(1).upper()]
    rest = line[m.end():].lstrip(" :")
    if not rest:
        raise ParseError(task, f"{system} without a category", text)
    cat = _rads_category(system, rest)
    if cat is None:
        raise ParseError(task, f"not a {system} category", text)
    return RadsValue(system=system, category=cat, modifiers=_rads_modifiers(system, rest))


def parse_text(task: str, text: str) -> TextValue:
    """Free text (impression, QA): the answer with any think block removed; empty is an error."""
    body = strip_think(task, text)
    if not body:
        raise ParseError(task, "empty answer", text)
    return TextValue(text=body)


TEMPORAL_TAGS: dict[str, str] = {
    "new finding": "new", "new": "new",
    "worsened": "worsened", "worsening": "worsened",
    "improved": "improved", "improving": "improved",
    "resolved": "resolved",
    "no change": "unchanged", "unchanged": "unchanged", "stable": "unchanged",
}
"""Change tags the temporal model prints (lower case) -> the prompt's five classes."""

_TEMPORAL_LINE = re.compile(r"^\s*[-*\u2022]\s*\[([^\]]+)\]\s*(.*?)\s*$")
_RELATED_TO = re.compile(r"\(\s*related to\b\s*:?\s*", re.IGNORECASE)
_NONE_LINE = re.compile(r"^(?:none|no (?:temporal )?changes?(?: identified| detected)?)\.?$", re.IGNORECASE)


def parse_temporal(text: str) -> TemporalValue:
    """Bullets `- [<Change>] <cue> (related to: <finding>)`; `None` for no change.

    Tags outside the prompt's five classes (and their printed synonyms in TEMPORAL_TAGS) are errors.
    """
    task = "temporal_comparison"
    body = strip_think(task, text)
    if _NONE_LINE.fullmatch(body.strip()):
        return TemporalValue(changes=[])
    changes: list[TemporalChange] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        m = _TEMPORAL_LINE.match(line)
        if not m:
            raise ParseError(task, "line is not a '- [Change] cue (related to: finding)' bullet", line)
        tag = TEMPORAL_TAGS.get(m.group(1).strip().lower())
        if tag is None:
            raise ParseError(task, f"unknown change tag [{m.group(1)}]", line)
        cue, finding = _cue_and_finding(task, m.group(2), line)
        changes.append(TemporalChange(finding=finding, change=tag, cue=cue))  # type: ignore[arg-type]
    if not changes:
        raise ParseError(task, "no bullets", text)
    return TemporalValue(changes=changes)


def _balanced(text: str) -> bool:
    """Every ')' closes an earlier '(' and none is left open."""
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _cue_and_finding(task: str, rest: str, line: str) -> tuple[str | None, str]:
    """Split what follows the tag: `<cue> (related to: <finding>)`, the finding possibly with its own
    parentheses ("left lower lobe (LLL) consolidation"), a trailing stop allowed.

    Without a "(related to" part the text is the finding (and the cue). A second tag on the line, an
    unclosed or doubled "related to" is an error: half of it would be read as a finding.
    """
    rest = rest.strip().rstrip(".").strip()
    if "[" in rest or "]" in rest:
        raise ParseError(task, "more than one change tag on a line", line)
    related = list(_RELATED_TO.finditer(rest))
    if len(related) > 1:
        raise ParseError(task, "'related to' given twice", line)
    if related:
        cue = rest[: related[0].start()].strip() or None
        tail = rest[related[0].end():]
        if not tail.endswith(")") or not _balanced(tail[:-1]):
            raise ParseError(task, "unclosed '(related to: ...)'", line)
        finding = tail[:-1].strip().rstrip(".").strip()
    else:
        if re.search(r"\brelated to\b", rest, re.IGNORECASE):
            raise ParseError(task, "'related to' outside its parentheses", line)
        cue = rest or None
        finding = rest
    if not finding:
        raise ParseError(task, "bullet names no finding", line)
    if cue is not None and not _balanced(cue):
        raise ParseError(task, "unbalanced parentheses", line)
    return cue, finding


_NONE_FORMS = tuple(
    f"{head}{tail}{dot}"
    for head in ("none", "no change", "no changes", "no temporal change", "no temporal changes")
    for tail in (("",) if head == "none" else ("", " identified", " detected"))
    for dot in ("", ".")
)
_TEMPORAL_PARTIAL = re.compile(r"[-*\u2022]\s*(?:\[(?P<tag>[^\]]*)(?P<closed>\])?.*)?", re.DOTALL)


def viable_temporal_line(partial: str) -> bool:
    """Can this unfinished output line still become a line `parse_temporal` accepts?

    Checked at every token of a free temporal answer: a line of prose ends the try after a
    few tokens instead of at its newline. Prefix-closed by construction (every prefix of an
    accepted line passes), so a well-formed answer is never cut.
    """
    text = partial.lstrip()
    if not text or text.startswith("<"):  # a think block: judged when complete
        return True
    if any(form.startswith(re.sub(r"\s+", " ", text.strip().lower())) for form in _NONE_FORMS):
        return True
    m = _TEMPORAL_PARTIAL.fullmatch(text)
    if m is None:
        return False
    tag = m.group("tag")
    if tag is None:
        return True
    key = tag.strip().lower()
    if m.group("closed"):
        return key in TEMPORAL_TAGS
    return any(k.startswith(key) for k in TEMPORAL_TAGS)


NER_FIELDS: dict[str, str] = {
    "anatomy": "anatomy",
    "observation (present)": "present",
    "observation (absent)": "absent",
    "observation (uncertain)": "uncertain",
    "change": "changes", "changes": "changes",
    "change indicator": "changes", "change indicators": "changes",
}
"""Line headings of the NER output (lower case) -> EntitiesValue field."""

_NER_LINE = re.compile(r"^\s*(?:[-*\u2022]\s*)?([A-Za-z ()]+?)\s*:\s*(.*)$")
_NER_NONE = frozenset({"none", "n/a", "nil", "none identified", "none noted", "none mentioned", "not applicable"})


def _ner_head(raw: str) -> str:
    """A heading as NER_FIELDS spells it: 'Observation(Present)', 'observation ( absent )' -> 'observation (...)'."""
    head = re.sub(r"\s+", " ", raw).strip().lower()
    head = re.sub(r"\s*\)", ")", re.sub(r"\s*\(\s*", " (", head))
    return head.strip()


def _ner_items(raw: str) -> list[str]:
    """The `;`-separated items of one line (commas belong to an entity); 'None' and bare marks are no item."""
    items = [i.strip().rstrip(".").strip() for i in raw.split(";")]
    return [i for i in items if re.search(r"[A-Za-z0-9]", i) and i.lower() not in _NER_NONE]


def parse_entities(text: str) -> EntitiesValue:
    """Lines `Anatomy: a; b`, `Observation (Present|Absent|Uncertain): x; y`, `Change: ...`."""
    task = "radiology_ner"
    body = strip_think(task, text)
    fields: dict[str, list[str]] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        m = _NER_LINE.match(_EMPHASIS.sub("", line))
        key = NER_FIELDS.get(_ner_head(m.group(1))) if m else None
        if not m or key is None:
            raise ParseError(task, "line is not 'Anatomy: ...' or 'Observation (...): ...'", line)
        items = _ner_items(m.group(2))
        bucket = fields.setdefault(key, [])
        bucket.extend(i for i in items if i not in bucket)
    if not fields:
        raise ParseError(task, "no entity lines", text)
    return EntitiesValue(**fields)


_NER_PARTIAL = re.compile(r"\s*(?:[-*\u2022]\s*)?(?P<head>[A-Za-z ()]*)(?P<colon>:.*)?", re.DOTALL)


def viable_ner_line(partial: str) -> bool:
    """Can this unfinished output line still become a line `parse_entities` accepts? (see above)"""
    if partial.lstrip().startswith("<"):
        return True
    text = _EMPHASIS.sub("", partial)
    if text.endswith(("*", "_")):
        text = text[:-1]  # maybe the first half of a bold marker
    m = _NER_PARTIAL.fullmatch(text)
    if m is None:
        return False
    head = _ner_head(m.group("head"))
    if m.group("colon") is not None:
        return head in NER_FIELDS
    return any(k.startswith(head) for k in NER_FIELDS)


_N_RE = re.compile(
    r"^(?:lymph node involvement\s*:\s*)?(positive|negative)"
    r"(?:\s*[.,;]?\s*n[\s-]?stag(?:e|ing)\s*:?\s*(n[0-3x])[abc]?)?\s*\.?$",
    re.IGNORECASE,
)


def parse_n_stage(text: str) -> NStageValue:
    """`Positive` / `Negative`, optionally `. N staging: N0..N3` (sub-letters a-c dropped)."""
    task = "n_staging"
    body = _label_answer(task, text)
    m = _N_RE.match(body)
    if not m:
        raise ParseError(task, "expected 'Positive' or 'Negative' [. N staging: N0-3]", text)
    involved = m.group(1).lower() == "positive"
    stage = m.group(2).upper() if m.group(2) else None
    if stage == "NX":
        raise ParseError(task, "NX is not a stage", text)
    if stage is None and not involved:
        stage = "N0"  # negative nodal involvement is N0 by definition (AJCC)
    if stage is not None and (stage != "N0") != involved:
        raise ParseError(task, f"involvement {m.group(1)} contradicts {stage}", text)
    return NStageValue(involvement=involved, stage=stage)  # type: ignore[arg-type]


def parse_m_stage(text: str) -> MStageValue:
    """`M0` or `M1` (AJCC 8 sub-categories M1a-d count as M1), any case, optional period.

    MX ("cannot be assessed", dropped from AJCC 8) is no stage: an error, never M0.
    """
    task = "m_staging"
    body = _label_answer(task, text)
    m = re.fullmatch(r"(?:m[\s-]?stag(?:e|ing)\s*:\s*)?(m[01x])([a-d]?)", body, re.IGNORECASE)
    if not m or (m.group(2) and m.group(1).upper() != "M1"):
        raise ParseError(task, "expected 'M0' or 'M1'", text)
    if m.group(1).upper() == "MX":
        raise ParseError(task, "MX is not a stage", text)
    return MStageValue(stage=m.group(1).upper())  # type: ignore[arg-type]


_NLI = {"entailment": "entailment", "entailed": "entailment", "contradiction": "contradiction",
        "contradicted": "contradiction", "neutral": "neutral"}


def parse_nli(text: str) -> NliValue:
    """`entailment`, `contradiction` or `neutral` (any case, optional period)."""
    task = "radiology_nli"
    body = _label_answer(task, text).lower()
    if body not in _NLI:
        lead = re.match(r"[a-z]+", body)
        if lead and lead.group() in _NLI:
            raise ParseError(task, "text after the label (the model prints the label only)", text)
        raise ParseError(task, "expected entailment, contradiction or neutral", text)
    return NliValue(label=_NLI[body])  # type: ignore[arg-type]


CHEXPERT_DISPLAY: dict[str, str] = {
    "atelectasis": "Atelectasis", "cardiomegaly": "Cardiomegaly", "consolidation": "Consolidation",
    "edema": "Edema", "enlarged cardiomediastinum": "Enlarged Cardiomediastinum", "fracture": "Fracture",
    "lung lesion": "Lung Lesion", "lung opacity": "Lung Opacity", "no finding": "No Finding",
    "pleural effusion": "Pleural Effusion", "pleural other": "Pleural Other", "pneumonia": "Pneumonia",
    "pneumothorax": "Pneumothorax", "support devices": "Support Devices",
}
"""CheXpert label (lower case) -> the spelling of the printed bullet; iteration order is alphabetical."""
assert set(CHEXPERT_DISPLAY) == set(CHEXPERT_LABELS)

_CHEX_LINE = re.compile(
    r"^\s*(?:[-*\u2022\u2013]|\d{1,2}[.)])?\s*([A-Za-z ]+?)\s*:\s*(positive|negative|uncertain)\s*\.?\s*$", re.IGNORECASE
)


def parse_chexpert(text: str) -> ChexpertValue:
    """Bullets `- <Label>: positive|negative|uncertain`, any indentation, case, bullet or numbering.

    Labels the output does not list stay absent (= not mentioned); an unknown label, a
    bad value (the numeric 1/0/-1 codes included: the model prints words) or a label listed
    twice with different values is an error. Markdown bold around a label is dropped.
    """
    task = "abnormality_detection"
    body = strip_think(task, text)
    labels: dict[str, str] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        m = _CHEX_LINE.match(_EMPHASIS.sub("", line))
        if not m:
            raise ParseError(task, "line is not '- <Label>: positive|negative|uncertain'", line)
        label = re.sub(r"\s+", " ", m.group(1)).lower()
        if label not in CHEXPERT_DISPLAY:
            raise ParseError(task, f"unknown label {m.group(1)!r}", line)
        value = m.group(2).lower()
        if labels.get(label, value) != value:
            raise ParseError(task, f"label {label!r} given twice with different values", text)
        labels[label] = value
    if not labels:
        raise ParseError(task, "no label bullets", text)
    return ChexpertValue(labels=labels)  # type: ignore[arg-type]


def drop_incomplete_tail(task: str, text: str) -> str:
    """Cut the unfinished end of an output that hit its token limit.

    Line-shaped outputs (temporal bullets, NER lines) lose the last item cut mid-way:
    the last line for temporal, the last `;` item (or line) for NER. Other tasks keep
    their text. Only called when generation stopped on the token limit.
    """
    if task == "temporal_comparison":
        lines = text.rstrip().splitlines()
        return "\n".join(lines[:-1]) if len(lines) > 1 else text
    if task == "radiology_ner":
        lines = text.rstrip().splitlines()
        last = lines[-1] if lines else ""
        if ";" in last:
            lines[-1] = last.rsplit(";", 1)[0]
        elif len(lines) > 1:
            lines = lines[:-1]
        return "\n".join(lines)
    return text
