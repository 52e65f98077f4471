"""medspaCy pipeline shared by the CheXpert labeler and the critical-findings rules.

medspaCy's TargetMatcher finds the mentions and its ConText marks negation, uncertainty
and history, so we do not hand-write a NegEx. The pipeline is a blank English spaCy model
(no model download), built once per process on first use and only read afterwards: spaCy
pipelines are safe to call from several threads once built, so the lock guards the build.
Each report sentence (models.text.sentence_spans) is run on its own, which keeps ConText
scopes inside the sentence and gives exact offsets into report.text().
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass

from models.rules.context import HISTORY_LINE
from models.rules.vocabulary import CONTEXT_RULES, TARGET_RULES
from models.text import sentence_spans

__all__ = ["Mention", "history_cue_only", "mentions", "named_as_history", "pipeline", "span_modifiers", "span_negated"]

_lock = threading.Lock()
_nlp = None


@dataclass(frozen=True)
class Mention:
    """One target found in the report with its ConText modifiers."""

    label: str  # target category, e.g. "pneumothorax", "CRIT:free air", "NEG:lung opacity"
    text: str
    start: int  # offsets into the analysed text
    end: int
    negated: bool
    uncertain: bool
    historical: bool
    not_new: bool  # unchanged, chronic, stable, improving, expected post-operative
    resolved: bool
    limited: bool = False  # the study cannot tell ("not well evaluated on this supine film")


# "History of right upper lobe pneumonia": the finding named a few words after "history of", not one the
# sentence goes on to state ("history of COPD, now with a new pneumothorax", "history of trauma with acute
# subdural hematoma"). medspaCy's own "history" rule reaches to the end of the sentence; this is the narrow reading.
_HISTORY_OF = re.compile(
    r"\b(?:(?:past\s+|prior\s+|remote\s+|known\s+)?(?:medical\s+)?history\s+of|h/o|hx\s+of)\s+"
    r"(?:(?!(?:now|with|and|but|new|acute|currently|presents?|presenting|today)\b)[\w\-/]+\s+){0,4}$",
    re.IGNORECASE,
)
_HISTORY_WORD = re.compile(r"\b(?:history|h/o|hx)\b", re.IGNORECASE)


def _head(text: str, start: int) -> str:
    """The words of the mention's clause before it."""
    return text[max(text.rfind(c, 0, start) for c in ".;:\n") + 1 : start]


def named_as_history(text: str, start: int) -> bool:
    """Whether the mention at `start` is what a "history of" right before it names."""
    return bool(_HISTORY_OF.search(_head(text, start)))


def history_cue_only(text: str, start: int) -> bool:
    """Whether a HISTORICAL mark on the mention at `start` can only come from a "history" word that names
    something else ("history of COPD, now with a new pneumothorax"): then the mention is current."""
    head = _head(text, start)
    end = min((i for i in (text.find(c, start) for c in ".;\n") if i >= 0), default=len(text))
    treated = r"\b(?:status\s+post|s/p|after|following|repaired|evacuated|coiled|clipped|drained|stented)\b"
    return bool(_HISTORY_WORD.search(head)) and not _HISTORY_OF.search(head) \
        and not re.search(treated, head + " " + text[start:end], re.IGNORECASE)


def _one_sentence(doc):  # noqa: ANN001, ANN202 - spaCy component
    for i, token in enumerate(doc):
        token.is_sent_start = i == 0
    return doc


def _register() -> None:
    from spacy.language import Language

    if "radlite_one_sentence" not in Language.factories:
        Language.component("radlite_one_sentence", func=_one_sentence)


def pipeline():  # noqa: ANN201 - spaCy Language; the import stays lazy for a cheap RulesEngine()
    """The process-wide medspaCy pipeline, built on first use."""
    global _nlp
    if _nlp is None:
        with _lock:
            if _nlp is None:
                # PyRuSH (medspaCy's sentence splitter) logs tokens at DEBUG; never let report text reach logs.
                from loguru import logger

                logger.disable("PyRuSH")
                logger.disable("medspacy")
                import medspacy
                from medspacy.context import ConTextRule
                from medspacy.ner import TargetRule

                _register()
                nlp = medspacy.load(medspacy_enable=["medspacy_target_matcher", "medspacy_context"])
                # Each doc is one sentence from models.text; ConText needs the boundary marked.
                nlp.add_pipe("radlite_one_sentence", first=True)
                nlp.get_pipe("medspacy_target_matcher").add(
                    [TargetRule(lit, cat, pattern=pat) for lit, cat, pat in TARGET_RULES]
                )
                # A backward rule stops at a clause break ("Right pneumothorax persists and the left effusion has
                # resolved": only the effusion has resolved).
                nlp.get_pipe("medspacy_context").add(
                    [ConTextRule(lit, cat, direction=d, pattern=pat, max_scope=scope,
                                 terminated_by={"CLAUSE_BREAK"} if d == "BACKWARD" else None)
                     for lit, cat, d, pat, scope in CONTEXT_RULES]
                )
                _nlp = nlp
    return _nlp


# "Lungs: no consolidation": ConText's ": no" rule looks backward at the heading and stops
# there, so the text after a short heading is also read on its own.
_HEADING = re.compile(r"^(?:\d+[.)]\s*)?[A-Za-z][A-Za-z /&-]{0,30}:\s+(?=\S)")


def _read(nlp, sentence: str, offset: int) -> list[Mention]:  # noqa: ANN001 - spaCy Language
    out = []
    for ent in nlp(sentence).ents:
        cats = {mod.category for mod in ent._.modifiers}
        out.append(
            Mention(
                label=ent.label_,
                text=ent.text,
                start=offset + ent.start_char,
                end=offset + ent.end_char,
                negated="NEGATED_EXISTENCE" in cats,
                uncertain="POSSIBLE_EXISTENCE" in cats or "HYPOTHETICAL" in cats,
                historical="HISTORICAL" in cats,
                not_new="NOT_NEW" in cats,
                resolved="RESOLVED" in cats,
                limited="LIMITED" in cats,
            )
        )
    return out


@functools.lru_cache(maxsize=256)
def mentions(text: str, *, skip_history: bool = True) -> tuple[Mention, ...]:
    """All target mentions in `text`, sentence by sentence; history/indication lines skipped.

    Cached by text: the CheXpert labeler and the critical rules read the same report.
    """
    nlp = pipeline()
    out: list[Mention] = []
    for a, b in sentence_spans(text):
        line_start = text.rfind("\n", 0, a) + 1
        line_end = text.find("\n", a)
        if skip_history and HISTORY_LINE.match(text[line_start : len(text) if line_end < 0 else line_end]):
            continue
        sentence = text[a:b]
        found = _read(nlp, sentence, a)
        head = _HEADING.match(sentence)
        if head:
            cut = a + head.end()
            found = [m for m in found if m.start < cut] + _read(nlp, sentence[head.end() :], cut)
        out.extend(found)
    return tuple(out)


def span_negated(sentence: str, start: int, end: int) -> bool | None:
    """Whether ConText reads the words at `sentence[start:end]` as negated (None: no token span there).

    For findings the target rules do not list (a model's "T2 hyperintense foci"): the span is made
    the sentence's one target and the same radiology ConText rules as the labeler's are run on it.
    """
    mods = span_modifiers(sentence, start, end)
    return None if mods is None else any(category == "NEGATED_EXISTENCE" for category, _ in mods)


@functools.lru_cache(maxsize=4096)
def span_modifiers(sentence: str, start: int, end: int) -> frozenset[tuple[str, str]] | None:
    """ConText's modifiers of the words at `sentence[start:end]`: (category, rule literal) pairs (None: no token span).

    The applicability rules (models/rules/applicability.py) need more than span_negated: to tell a
    request ("rule out HCC", "r/o", "evaluate for cirrhosis": ConText's POSSIBLE_EXISTENCE or
    HYPOTHETICAL by the rule that fired) from a hedged finding ("possible cirrhosis"), so the rule's
    literal comes with its category.
    """
    head = _HEADING.match(sentence)
    if head and start >= head.end():  # "Lungs: no consolidation": read after the heading, as mentions() does
        sentence, start, end = sentence[head.end():], start - head.end(), end - head.end()
    nlp = pipeline()
    doc = nlp.get_pipe("radlite_one_sentence")(nlp.make_doc(sentence))
    span = doc.char_span(start, end, label="FINDING", alignment_mode="expand")
    if span is None:
        return None
    doc.ents = [span]
    doc = nlp.get_pipe("medspacy_context")(doc)
    return frozenset((mod.category, mod.rule.literal.lower()) for mod in doc.ents[0]._.modifiers)
