"""Model answers held against the report text: we return no finding the report does not contain.

A small model (the demo model always, a RadLite model rarely) prints entities, changes and
CheXpert labels the report never mentions: "mild thoracic spondyloep ... improved" for a
report with no comparison, `fracture: uncertain` for a chest film that names no bone. A
clinician reading our Observations must be able to trust that every finding in them is in
the report. So after the model and the rules have spoken, each extracted item is checked:

- entities (NER) and temporal findings: their content words must occur in the report (all,
  or all but one of three or more; same stem, or a word cut short, as a token limit does);
- a temporal change also needs the report to use a cue of its class somewhere ("stable",
  "increased", "resolved", ...): no class is read into a report that never compares. With
  the prior report's text supplied, the prior's words count too and no cue is needed (the
  model compares the two texts itself);
- an entity that is only a section heading of the report ("FINDINGS", "Clinical history") names
  nothing in the patient and is left out;
- a present or uncertain entity whose own text is a negation ("No pleural effusion") is
  absent: the report's explicit statement wins;
- a CheXpert label the report never mentions is "not mentioned", which the 14-label layout
  prints as negative (../shared/data/dev/README.md), and "no finding" is derived again
  from the final labels, as the label definition says;
- generated text (impression, answers) is not cut, but a CheXpert finding it asserts that
  the report never mentions, or states the other way round, is named in the result's note.

What is removed is listed in `TaskResult.note` (shown on the Observation); the model's own
words stay in `raw_output`. The item checks are regular expressions and the Porter stemmer
(nltk, which rouge-score already brings); only the generated-text check runs the rules'
CheXpert labeler (medspaCy ConText) over the model's short text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from nltk.stem.porter import PorterStemmer

from models.catalog import CHEXPERT_CUES
from models.rules.vocabulary import TARGET_RULES
from models.types import (
    CHEXPERT_LABELS,
    ChexpertValue,
    EntitiesValue,
    RadiologyReport,
    TaskResult,
    TemporalChange,
    TemporalValue,
    TextValue,
)

__all__ = ["ground", "mentioned_labels"]

_STEMMER = PorterStemmer()
_WORD = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
# Words that carry no finding of their own: an item made only of them is judged by the rest.
_GENERIC = frozenset(
    "a an the of in on at to and or with without no not is are was were be been there this that these those "
    "from for by as its it mild mildly moderate moderately severe severely small large larger smaller tiny "
    "minimal trace left right bilateral both new old interval prior previous current slight slightly "
    "significant acute chronic possible probable likely finding findings study exam".split()
)
# The report's own section headings: a small model lifts "FINDINGS" or "Clinical history" out as an
# entity. Such an item is in the report but names nothing in the patient.
_HEADING_WORDS = frozenset(
    "findings finding impression impressions technique comparison comparisons history clinical indication "
    "indications exam examination procedure report conclusion conclusions addendum recommendation "
    "recommendations".split()
)
_NEGATED_ITEM = re.compile(r"^\s*(?:no|without|negative\s+for|absence\s+of|absent)\b", re.IGNORECASE)

# Words a report uses when it compares (or states that nothing changed). Narrow on purpose:
# "appears", "extends", "enlarged", "less than" are as common in reports that compare nothing.
_CHANGE_CUES: dict[str, re.Pattern[str]] = {
    "new": re.compile(r"\bnew(?:ly)?\b|\binterval\s+(?:development|appearance)\b|\bdevelop(?:ed|ing)\b"
                      r"|\bnot\s+(?:present|seen|visible|evident)\s+(?:on|in)\s+(?:the\s+)?(?:prior|previous|earlier)", re.I),
    "worsened": re.compile(r"\bincreas\w*|\benlarging\b|\binterval\s+enlargement\b|\bworse\w*|\bprogress\w*"
                           r"|\bgr(?:ew|own|owth|owing|ows)\b|\blarger\b|\bmore\s+(?:extensive|prominent|conspicuous|pronounced)\b"
                           r"|\bpreviously\b|\bfrom\s+\d", re.I),
    "improved": re.compile(r"\bdecreas\w*|\bimprov\w*|\bsmaller\b|\bresolving\b|\bdiminish\w*|\bregress\w*"
                           r"|\breduc(?:ed|tion)\s+in\s+(?:size|extent)|\bshr[iu]nk\w*|\bbetter\b|\bclearing\b"
                           r"|\bless\s+(?:extensive|prominent|conspicuous|pronounced|severe)\b|\bpreviously\b|\bfrom\s+\d", re.I),
    "resolved": re.compile(r"\bresol(?:v\w*|ution)|\bno\s+longer\b|\bcleared\b|\bdisappear\w*|\bremov(?:ed|al)\b", re.I),
    "unchanged": re.compile(r"\bunchanged\b|\bstable\b|\bstability\b|\bno\s+(?:\w+\s+){0,2}change\b|\bsimilar\b"
                            r"|\bpersist\w*|\bagain\s+(?:seen|noted|demonstrated|identified)\b|\bre-?demonstrat\w*"
                            r"|\bremains?\b|\bconstant\b", re.I),
}


@lru_cache(maxsize=8192)
def _stem(word: str) -> str:
    return _STEMMER.stem(word)


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class _ReportWords:
    """The report's words and stems, built once per result check."""

    def __init__(self, text: str) -> None:
        self.words = set(_words(text))
        self.stems = {_stem(w) for w in self.words}

    def has(self, word: str) -> bool:
        if word in self.words or _stem(word) in self.stems:
            return True
        # A word the model cut short ("consol" at its token limit) is still the report's word;
        # an invented one ("spondyloep" for "spondylosis") is no prefix of any.
        return len(word) >= 4 and any(w.startswith(word) for w in self.words)


def grounded_phrase(phrase: str, report: _ReportWords) -> bool:
    """True when the phrase's content words are the report's words: all of them, or all but one
    of three or more. A modifier is often what a model invents ("pericardial effusion" from a
    report with a pleural one), so two-word phrases get no slack."""
    words = _words(phrase)
    content = [w for w in words if w not in _GENERIC and len(w) > 2] or [w for w in words if len(w) > 2]
    if not content:
        return False
    missing = sum(not report.has(w) for w in content)
    return missing == 0 or (len(content) >= 3 and missing == 1)


def mentioned_labels(text: str) -> set[str]:
    """CheXpert labels the text names at all (negated or not), by the rules' vocabulary and cue words."""
    low = text.lower()
    out = {label for label, cues in CHEXPERT_CUES.items() if label != "no finding" and any(c in low for c in cues)}
    for _literal, label, pattern, *_ in TARGET_RULES:
        names = label[4:].split("|") if label.startswith("NEG:") else [label]
        if isinstance(pattern, str) and not set(names) <= out and re.search(pattern, text, re.IGNORECASE):
            out.update(n for n in names if n in CHEXPERT_LABELS)
    out.discard("no finding")
    return out


def _derive_no_finding(labels: dict[str, str]) -> str:
    pathology = [k for k in CHEXPERT_LABELS if k not in ("support devices", "no finding")]
    return "negative" if any(labels.get(k) in ("positive", "uncertain") for k in pathology) else "positive"


def _ground_chexpert(value: ChexpertValue, text: str) -> tuple[ChexpertValue, list[str]]:
    named = mentioned_labels(text)
    dropped = {k: v for k, v in value.labels.items()
               if k != "no finding" and k not in named and v in ("positive", "uncertain")}
    labels = {**value.labels, **dict.fromkeys(dropped, "negative")}
    if "no finding" in labels or dropped:
        labels["no finding"] = _derive_no_finding(labels)
    ordered = {k: labels[k] for k in CHEXPERT_LABELS if k in labels}
    said = ", ".join(f"{k}: {v}" for k, v in dropped.items())
    return ChexpertValue(labels=ordered), ([f"not mentioned in the report, set to negative: {said}"] if dropped else [])


def _keep(items: Iterable[str], report: _ReportWords, lost: list[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if item in out:
            continue
        words = _words(item)
        if words and all(w in _HEADING_WORDS for w in words):
            lost.append(item)
        elif grounded_phrase(item, report):
            out.append(item)
        else:
            lost.append(item)
    return out


def _ground_entities(value: EntitiesValue, report: _ReportWords) -> tuple[EntitiesValue, list[str]]:
    lost: list[str] = []
    present = _keep(value.present, report, lost)
    uncertain = _keep(value.uncertain, report, lost)
    negated = [p for p in [*present, *uncertain] if _NEGATED_ITEM.match(p)]
    kept = EntitiesValue(
        anatomy=_keep(value.anatomy, report, lost),
        present=[p for p in present if p not in negated],
        absent=_keep([*value.absent, *negated], report, lost),
        uncertain=[u for u in uncertain if u not in negated],
        changes=_keep(value.changes, report, lost),
    )
    notes = [f"not found in the report, left out: {'; '.join(lost)}"] if lost else []
    if negated:
        notes.append(f"negated in the report, moved to absent: {'; '.join(negated)}")
    return kept, notes


def _ground_temporal(value: TemporalValue, report: RadiologyReport) -> tuple[TemporalValue, list[str]]:
    text = report.text()
    # With the prior report's text supplied, the model compares the two texts itself ("6 mm"
    # then, "9 mm" now): its findings may use the prior's words and its class needs no cue.
    words = _ReportWords(f"{text}\n{report.prior_text}" if report.prior_text else text)
    kept: list[TemporalChange] = []
    lost: list[str] = []
    seen: set[tuple[str, str]] = set()
    for change in value.changes:
        key = (change.finding.strip().lower(), change.change)
        if key in seen:
            continue  # repeated lines (a small model loops) are one change
        seen.add(key)
        cued = bool(report.prior_text) or bool(_CHANGE_CUES[change.change].search(text))
        if grounded_phrase(change.finding, words) and cued:
            kept.append(change)
        else:
            lost.append(f"{change.finding} ({change.change})")
    notes = [f"finding or change not found in the report, left out: {'; '.join(lost)}"] if lost else []
    return TemporalValue(changes=kept), notes


def _flag_text(value: TextValue, text: str) -> list[str]:
    """Findings generated text asserts that the report never names, or states the other way round."""
    from models.rules.chexpert import label_report_text  # ConText: loaded only when text is checked

    said = {k: v for k, v in label_report_text(value.text).labels.items() if k != "no finding"}
    named = mentioned_labels(text)
    invented = sorted(k for k, v in said.items() if v in ("positive", "uncertain") and k not in named)
    notes = [f"the text names findings the report does not mention: {', '.join(invented)}"] if invented else []
    if said.keys() & named:
        report = label_report_text(text).labels
        # Only a flat reversal counts (positive <-> negative); a hedge on either side is no contradiction.
        flipped = sorted(k for k, v in said.items() if {v, report.get(k)} == {"positive", "negative"})
        if flipped:
            notes.append(f"the text contradicts the report on: {', '.join(flipped)}")
    return notes


def ground(result: TaskResult, report: RadiologyReport) -> TaskResult:
    """The result with every item the report does not support removed, and the removals noted."""
    value = result.value
    text = report.text()
    notes: list[str]
    if isinstance(value, ChexpertValue):
        value, notes = _ground_chexpert(value, text)
    elif isinstance(value, EntitiesValue):
        value, notes = _ground_entities(value, _ReportWords(text))
    elif isinstance(value, TemporalValue):
        value, notes = _ground_temporal(value, report)
    elif isinstance(value, TextValue) and result.decided_by == "model":
        notes = _flag_text(value, text)
    else:
        return result
    if not notes:
        return result
    note = "; ".join(filter(None, [result.note, "Grounding: " + "; ".join(notes)]))
    return result.model_copy(update={"value": value, "note": note})
