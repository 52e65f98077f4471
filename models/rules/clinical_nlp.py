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

__all__ = ["Mention", "mentions", "pipeline", "span_modifiers", "span_negated"]

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
                nlp.get_pipe("medspacy_context").add(
                    [ConTextRule(lit, cat, direction=d, pattern=pat, max_scope=scope) for lit, cat, d, pat, scope in CONTEXT_RULES]
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
