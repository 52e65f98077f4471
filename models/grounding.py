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
- a present or uncertain entity whose own text is a negation ("No pleural effusion"), or that the
  report only ever negates, is absent, and so is a negation printed as a change indicator; an absent
  entity the report only ever states present ("No airspace consolidation" for a report with one) is
  left out: the report's explicit statement wins;
- a CheXpert label the report never mentions is "not mentioned", which the 14-label layout
  prints as negative (../shared/data/dev/README.md), and "no finding" is derived again
  from the final labels, as the label definition says;
- generated text (impression, answers) is not cut, but a CheXpert finding it asserts that
  the report never mentions, or states the other way round, is named in the result's note, and so
  is any other finding one text negates and the other only affirms;
- every result's evidence quotes the report: sentences located at their offsets, for the items
  that survived, and at least the sentences the model read when nothing more specific holds.

What is removed is listed in `TaskResult.note` (shown on the Observation); the model's own
words stay in `raw_output`. Item matching uses regular expressions and the Porter stemmer
(nltk, which rouge-score already brings); whether a text negates a finding is read by medspaCy's
ConText with the rules' radiology modifiers, and the generated-text check also runs the rules'
CheXpert labeler over the model's short text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from nltk.stem.porter import PorterStemmer

from models.catalog import CHEXPERT_CUES
from models.rules.clinical_nlp import span_negated
from models.rules.vocabulary import TARGET_RULES
from models.text import evidence_at, sentence_spans
from models.types import (
    CHEXPERT_LABELS,
    ChexpertValue,
    EntitiesValue,
    Evidence,
    RadiologyReport,
    TaskResult,
    TemporalChange,
    TemporalValue,
    TextValue,
)

__all__ = ["ground", "mentioned_labels", "negated_phrases", "polarity"]

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

# Negated phrases a model writes ("No T2 hyperintense foci", "no pneumothorax or effusion"): the
# candidates whose polarity in the other text is then read with ConText (`polarity`). ConText needs
# its targets named, so finding the "No X" phrases of a model's free text is this regex's job.
_NEGATED_PHRASE = re.compile(
    r"\b(?:no|without|negative\s+for|absence\s+of|free\s+of)\s+"
    r"(?:(?:evidence|signs?|findings?)\s+(?:of|for|to\s+suggest)\s+)?"
    r"(?P<phrase>[^.;:,\n]+?)"
    r"(?=\s+(?:in|on|at|of|within|to|with|or|nor|and|is|are|was|were|seen|identified|noted|present|demonstrated)\b"
    r"|[.;:,\n]|$)", re.IGNORECASE)
_MORE_NEGATED = re.compile(
    r"\s*(?:,\s*)?(?:or|nor)\s+(?P<phrase>[^.;:,\n]+?)"
    r"(?=\s+(?:in|on|at|of|within|to|with|or|nor|and|is|are|was|were|seen|identified|noted|present|demonstrated)\b"
    r"|[.;:,\n]|$)", re.IGNORECASE)
# Words that name no finding by themselves: a negated phrase of only these ("no significant change",
# "no acute abnormality") is not a finding whose polarity can be compared.
_NOT_A_FINDING = frozenset("change changes evidence abnormality abnormalities complication complications concern "
                           "contrast".split())

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
    content = _content(phrase)
    if not content:
        return False
    missing = sum(not report.has(w) for w in content)
    return missing == 0 or (len(content) >= 3 and missing == 1)


def _content(phrase: str) -> list[str]:
    """The phrase's content words, each once: a looping model's repeats ("histoire de histoire") add no support."""
    words = _words(phrase)
    content = [w for w in words if w not in _GENERIC and len(w) > 2] or [w for w in words if len(w) > 2]
    return list(dict.fromkeys(content))


def _finding_words(phrase: str) -> list[str]:
    """Content words that name a finding: none for "acute findings" or "significant change"."""
    return [w for w in _words(phrase) if w not in _GENERIC and w not in _NOT_A_FINDING and len(w) > 2]


def _matches(word: str, other: str) -> bool:
    return word == other or _stem(word) == _stem(other) or (len(word) >= 4 and other.startswith(word))


def polarity(phrase: str, text: str) -> set[str]:
    """How `text` states the finding `phrase`: {"affirmed"}, {"negated"}, both, or empty (not mentioned).

    A sentence mentions it when it holds every content word (same stem); the words from the first to
    the last of them are the target that medspaCy's ConText reads with the labeler's radiology rules
    (pseudo-negations such as "no change in" included).
    """
    content = _content(_NEGATED_ITEM.sub("", phrase))
    if not content:
        return set()
    out: set[str] = set()
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        tokens = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(sentence.lower())]
        hits = [next(((s, e) for tok, s, e in tokens if _matches(w, tok)), None) for w in content]
        if any(h is None for h in hits):
            continue
        negated = span_negated(sentence, min(h[0] for h in hits if h), max(h[1] for h in hits if h))
        if negated is not None:
            out.add("negated" if negated else "affirmed")
    return out


def negated_phrases(text: str) -> list[str]:
    """The findings `text` negates ("No pneumothorax or effusion" -> pneumothorax, effusion)."""
    out: list[str] = []
    for m in _NEGATED_PHRASE.finditer(text):
        phrases = [m.group("phrase")]
        end = m.end()
        while (more := _MORE_NEGATED.match(text, end)) is not None:
            phrases.append(more.group("phrase"))
            end = more.end()
        for phrase in phrases:
            if _finding_words(phrase) and phrase.strip() not in out:
                out.append(phrase.strip())
    return out


def _contradicted(text: str, report: str) -> list[str]:
    """Findings one text negates that the other only affirms (either way round)."""
    out = [p for p in negated_phrases(text) if polarity(p, report) == {"affirmed"}]
    out += [p for p in negated_phrases(report) if polarity(p, text) == {"affirmed"} and p not in out]
    return out


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


def _ground_entities(value: EntitiesValue, text: str) -> tuple[EntitiesValue, list[str]]:
    report = _ReportWords(text)
    lost: list[str] = []
    present = _keep(value.present, report, lost)
    uncertain = _keep(value.uncertain, report, lost)
    # Present or uncertain, but negated in its own words or (only) in the report's: the report wins.
    negated = [p for p in [*present, *uncertain] if _NEGATED_ITEM.match(p) or polarity(p, text) == {"negated"}]
    # "No pneumothorax" printed as a change indicator is an absent observation, not a change.
    changes = _keep(value.changes, report, lost)
    negated += [c for c in changes if _NEGATED_ITEM.match(c) and c not in negated]
    absent = _keep([*value.absent, *negated], report, lost)
    # Absent, but the report only ever states it present ("No airspace consolidation" for a report
    # with a consolidation): an invented negation is left out, never moved to present on a guess.
    reversed_ = [a for a in absent if a not in negated and polarity(a, text) == {"affirmed"}]
    kept = EntitiesValue(
        anatomy=_keep(value.anatomy, report, lost),
        present=[p for p in present if p not in negated],
        absent=[a for a in absent if a not in reversed_],
        uncertain=[u for u in uncertain if u not in negated],
        changes=[c for c in changes if c not in negated],
    )
    notes = [f"not found in the report, left out: {'; '.join(lost)}"] if lost else []
    if negated:
        notes.append(f"negated in the report, moved to absent: {'; '.join(negated)}")
    if reversed_:
        notes.append(f"the report states these present, left out of absent: {'; '.join(reversed_)}")
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
    flipped: list[str] = []
    if said.keys() & named:
        report = label_report_text(text).labels
        # Only a flat reversal counts (positive <-> negative); a hedge on either side is no contradiction.
        flipped = sorted(k for k, v in said.items() if {v, report.get(k)} == {"positive", "negative"})
    # Findings outside the 14 labels ("No T2 hyperintense foci" for a report that describes them).
    flipped += [p for p in _contradicted(value.text, text) if not mentioned_labels(p) & set(flipped)]
    if flipped:
        notes.append(f"the text contradicts the report on: {', '.join(flipped)}")
    return notes


def _located(evidence: list[Evidence], text: str) -> list[Evidence]:
    """Evidence that quotes the report: each sentence found in the text, with its true offsets."""
    out: list[Evidence] = []
    for ev in evidence:
        if ev.start is not None and ev.end is not None and text[ev.start : ev.end] == ev.sentence:
            out.append(ev)
        elif ev.sentence and (i := text.find(ev.sentence)) >= 0:
            located = evidence_at(text, i, i + len(ev.sentence))  # the whole sentence(s) it lies in
            if located not in out:
                out.append(located)
    return out


def _spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans that say something: not a bare section heading ("FINDINGS:")."""
    return [(a, b) for a, b in sentence_spans(text) if not all(w in _HEADING_WORDS for w in _words(text[a:b]))]


def _item_evidence(items: list[str], text: str, limit: int = 5) -> list[Evidence]:
    """For each item, the report sentence sharing most of its content words, in text order."""
    spans = [(a, b, _words(text[a:b])) for a, b in _spans(text)]  # each sentence's words, read once
    chosen: set[tuple[int, int]] = set()
    for item in items:
        content = _content(_NEGATED_ITEM.sub("", item))
        scored = [(sum(any(_matches(w, t) for t in words) for w in content), a, b) for a, b, words in spans]
        best = max(scored, key=lambda s: (s[0], -s[1]), default=(0, 0, 0))
        if best[0]:
            chosen.add((best[1], best[2]))
    return [Evidence(sentence=text[a:b], start=a, end=b) for a, b in sorted(chosen)[:limit]]


def _read_evidence(text: str, limit: int = 3) -> list[Evidence]:
    """When nothing more specific holds: the first sentences the model read (a "Normal." report itself)."""
    return [Evidence(sentence=text[a:b], start=a, end=b) for a, b in _spans(text)[:limit]]


def _evidence(result: TaskResult, value: object, text: str) -> list[Evidence]:
    """Every result rests on report sentences: located, for the items that survived, never empty."""
    if isinstance(value, EntitiesValue):
        items = [*value.present, *value.uncertain, *value.absent, *value.anatomy, *value.changes]
        evidence = _item_evidence(items, text)
    else:
        evidence = _located(result.evidence, text)
    return evidence or _read_evidence(text)


def ground(result: TaskResult, report: RadiologyReport) -> TaskResult:
    """The result with every item the report does not support removed, the removals noted, and its
    evidence quoting the report."""
    value = result.value
    text = report.text()
    notes: list[str] = []
    if isinstance(value, ChexpertValue):
        value, notes = _ground_chexpert(value, text)
    elif isinstance(value, EntitiesValue):
        value, notes = _ground_entities(value, text)
    elif isinstance(value, TemporalValue):
        value, notes = _ground_temporal(value, report)
    elif isinstance(value, TextValue) and result.decided_by == "model":
        notes = _flag_text(value, text)
    update: dict[str, object] = {"evidence": _evidence(result, value, text)}
    if notes:
        update["value"] = value
        update["note"] = "; ".join(filter(None, [result.note, "Grounding: " + "; ".join(notes)]))
    return result.model_copy(update=update)
