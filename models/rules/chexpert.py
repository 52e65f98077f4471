"""CheXpert-style labels for chest radiographs from medspaCy mentions.

Aggregation follows the CheXpert labeler: a label is positive when any mention is
positive, else uncertain when any is uncertain, else negative; unmentioned labels are
left out (the dev-set convention). A label an addendum mentions takes the addendum's state
(it revises the report). Parents follow the dev labels: a positive
consolidation, pneumonia or edema makes "lung opacity" positive. "no finding" is always
set: positive when no pathology label is positive or uncertain (support devices aside).

Two more of the CheXpert labeler's own rules: a finding named as history ("history of right upper
lobe pneumonia") is negative, and heart failure ("CHF", "congestive heart failure") stated or
suspected makes cardiomegaly uncertain when nothing else in the report speaks of the heart's size.
A finding the study cannot assess ("pneumothorax is not well evaluated on this supine film") is
uncertain.
"""

from __future__ import annotations

import re

from models.rules.clinical_nlp import Mention, mentions, named_as_history
from models.rules.context import in_last_addendum
from models.text import evidence_at
from models.types import CHEXPERT_LABELS, ChexpertState, ChexpertValue, Evidence

__all__ = ["label_report_text", "chexpert_labels"]

_RANK: dict[ChexpertState, int] = {"negative": 0, "uncertain": 1, "positive": 2}
_OPACITY_CHILDREN = ("consolidation", "pneumonia", "edema")


_HEART_FAILURE = re.compile(r"(?:congestive\s+)?heart\s+failure|chf", re.IGNORECASE)


def _state(m: Mention, text: str = "") -> ChexpertState:
    # "History of right upper lobe pneumonia" is negative (the CheXpert labeler's negation rule).
    if m.negated or m.resolved or (text and named_as_history(text, m.start)):
        return "negative"
    if m.uncertain or m.limited:
        return "uncertain"
    return "positive"


def chexpert_labels(text: str) -> tuple[dict[str, ChexpertState], dict[str, list[Evidence]]]:
    """Mentioned labels -> state, and the sentences each label rests on."""
    states: dict[str, ChexpertState] = {}
    evidence: dict[str, list[Evidence]] = {}

    def put(label: str, state: ChexpertState, m: Mention) -> None:
        if label not in states or _RANK[state] > _RANK[states[label]]:
            states[label] = state
        ev = evidence_at(text, m.start, m.end)
        if ev not in evidence.setdefault(label, []):
            evidence[label].append(ev)

    read: list[tuple[str, ChexpertState, Mention]] = []
    for m in mentions(text):
        if m.label.startswith("CRIT:"):
            continue
        if m.label.startswith("NEG:"):
            read += [(label, "negative", m) for label in m.label[4:].split("|")]
            continue
        if m.label.startswith("UNC:"):  # a phrase that is itself a hedge ("heart size is borderline")
            read.append((m.label[4:], "negative" if m.negated or m.resolved else "uncertain", m))
            continue
        read.append((m.label, _state(m, text), m))
    for label in dict.fromkeys(lab for lab, _, _ in read):
        # A label an addendum speaks about takes the addendum's word ("the apical line is a skin
        # fold; there is no pneumothorax"): it revises the report above it.
        ms = [(state, m) for lab, state, m in read if lab == label]
        inside = set(in_last_addendum(text, [m.start for _, m in ms]))
        for state, m in ms:
            if not inside or m.start in inside:
                put(label, state, m)
    # The CheXpert labeler's one cross-label rule: heart failure, stated or suspected, leaves the heart's size
    # uncertain; here only when the report says nothing else of it ("heart size is normal" stays negative).
    if "cardiomegaly" not in states:
        failure = next((m for lab, state, m in read if lab == "edema" and state != "negative"
                        and _HEART_FAILURE.fullmatch(m.text)), None)
        if failure is not None:
            put("cardiomegaly", "uncertain", failure)
    if any(states.get(c) == "positive" for c in _OPACITY_CHILDREN) and states.get("lung opacity") != "positive":
        states["lung opacity"] = "positive"
    pathology = [lab for lab in CHEXPERT_LABELS if lab not in ("support devices", "no finding")]
    abnormal = any(states.get(lab) in ("positive", "uncertain") for lab in pathology)
    states["no finding"] = "negative" if abnormal else "positive"
    ordered = {lab: states[lab] for lab in CHEXPERT_LABELS if lab in states}
    return ordered, evidence


def label_report_text(text: str) -> ChexpertValue:
    """ChexpertValue with the mentioned labels only (plus 'no finding')."""
    return ChexpertValue(labels=chexpert_labels(text)[0])
