"""Radiology NLI where the words settle it: a finding stated one way in the premise and the other
way in the hypothesis, a change of another class, or a hedge against an assertion.

Why rules here: the plugin runs NLI to test a report's impression against its findings, and a
discrepancy ("No pneumothorax" above, "Small right pneumothorax" below) is exactly what a
clinician must see; it is an explicit statement on both sides, which no model may override
silently. The reading uses the rules' CheXpert labeler (medspaCy ConText: negation and
uncertainty) and the temporal reader, and answers only in these cases:

- contradiction: a label positive on one side and negative on the other, about the same thing
  (labels that name one thing wherever they occur, such as pneumothorax or cardiomegaly, or a
  content word shared by the two mentions, "rib" in "rib fractures"); or one finding given two
  change classes ("new" against "unchanged");
- neutral: the hypothesis asserts or denies what the premise only suspects ("may reflect pneumonia",
  "pneumothorax is not well evaluated");
- entailment: the same label with the same polarity (or the same finding and change class), and
  every other content word of the hypothesis found in the premise, so a hypothesis that adds a
  diagnosis, a cause or a history ("The effusion is malignant") is never entailed by rules.

Everything else is left to the model (None).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from models.rules.chexpert import chexpert_labels
from models.rules.temporal import same_finding, stated_changes
from models.types import Evidence

__all__ = ["NliReading", "stated_nli"]

NliLabel = Literal["entailment", "contradiction", "neutral"]

# Labels whose every mention is the same thing in a chest report; others ("fracture", "lung
# lesion") need a shared word ("rib", "nodule") before two mentions are about one finding.
_ONE_THING = frozenset({"pneumothorax", "pleural effusion", "cardiomegaly", "edema", "pneumonia", "consolidation",
                        "atelectasis", "enlarged cardiomediastinum"})
_GENERIC = frozenset(
    "there is are was were be been has have had no not any the a an of in on at to with without and or seen "
    "now present patient this that these those noted identified evident visible demonstrated appears "
    "finding findings evidence sign signs current currently place since "
    "previous prior exam examination study compared comparison".split()
)
_WORD = re.compile(r"[a-z][a-z0-9-]*")
_DENIAL = re.compile(r"\b(?:no|without|negative\s+for|free\s+of|not)\b", re.IGNORECASE)


@dataclass(frozen=True)
class NliReading:
    label: NliLabel
    reason: str
    evidence: list[Evidence]


def _stems(text: str) -> set[str]:
    # A crude stem (plural dropped, four letters kept) is enough to see "ribs" and "rib fractures" meet.
    return {(w[:-1] if w.endswith("s") and len(w) > 3 else w)[:4] for w in _WORD.findall(text.lower())
            if w not in _GENERIC and len(w) > 2}


def _label_words(label: str) -> set[str]:
    extra = {"support devices": "device devices tube line catheter", "lung lesion": "lesion nodule mass",
             "lung opacity": "opacity opacities airspace", "cardiomegaly": "heart cardiac enlarged size"}
    return _stems(label + " " + extra.get(label, ""))


# Words two mentions may share without being about one finding.
_WHERE = frozenset({"left", "righ", "bila", "ches", "lung", "uppe", "lowe", "both", "side"})


def _about_one_thing(label: str, p_ev: list[Evidence], h_ev: list[Evidence]) -> bool:
    if label in _ONE_THING:
        return True
    p_words = _stems(" ".join(e.sentence for e in p_ev)) - _label_words(label) - _WHERE
    h_words = _stems(" ".join(e.sentence for e in h_ev)) - _label_words(label) - _WHERE
    # A bare mention ("No fracture.") covers every finding of its label; otherwise a shared word must tie them.
    return not p_words or not h_words or bool(p_words & h_words)


def _covered(hypothesis: str, premise: str, labels: set[str]) -> bool:
    """Every content word of the hypothesis is in the premise or names one of the shared labels."""
    allowed = _stems(premise).union(*(_label_words(label) for label in labels)) if labels else _stems(premise)
    return _stems(hypothesis) <= allowed


def stated_nli(premise: str, hypothesis: str) -> NliReading | None:
    """The NLI label the two texts' own words settle, or None."""
    p_labels, p_ev = chexpert_labels(premise)
    h_labels, h_ev = chexpert_labels(hypothesis)
    p_labels.pop("no finding", None)
    h_labels.pop("no finding", None)
    contradictions, neutrals, agreements = [], [], []
    for label, h_state in h_labels.items():
        p_state = p_labels.get(label)
        if p_state is None or not _about_one_thing(label, p_ev.get(label, []), h_ev.get(label, [])):
            continue
        if {p_state, h_state} == {"positive", "negative"}:
            # One device removed while another stays ("after chest tube removal", "sheath in place")
            # is not a contradiction: devices are many things under one label.
            if label != "support devices":
                contradictions.append(label)
        elif p_state == "uncertain" and h_state in ("positive", "negative"):
            # "may reflect pneumonia" settles neither "pneumonia" nor "no pneumonia"
            neutrals.append(label)
        elif p_state == h_state and p_state != "uncertain" and not (
            p_state == "positive" and any(_DENIAL.search(e.sentence) for e in p_ev.get(label, []))
        ):
            # "No acute fracture. Old healed rib fractures." is positive overall but denies part of
            # it: agreement on the label alone does not entail "an acute rib fracture".
            agreements.append(label)
    p_changes, h_changes = stated_changes(premise), stated_changes(hypothesis)
    changed = [(p, h) for h in h_changes for p in p_changes if same_finding(p.finding, h.finding)]
    evidence = [e for label in (contradictions or neutrals or agreements) for e in p_ev.get(label, [])]
    if contradictions:
        return NliReading("contradiction", f"stated the other way in the premise: {', '.join(contradictions)}", evidence)
    conflicting = [(p, h) for p, h in changed if p.change != h.change]
    if conflicting:
        p, h = conflicting[0]
        return NliReading("contradiction", f"the premise says {p.finding} is {p.change}, not {h.change}",
                          [Evidence(sentence=premise)])
    if neutrals:
        return NliReading("neutral", f"the premise only suspects {', '.join(neutrals)}", evidence)
    same_change = [h for p, h in changed if p.change == h.change]
    # The hypothesis may say "worsened" where the premise says "increased": its cue words are covered.
    cues = " ".join(h.cue for h in same_change)
    if (agreements or same_change) and _covered(re.sub(re.escape(cues), " ", hypothesis) if cues else hypothesis,
                                                 premise, set(agreements)):
        what = ", ".join(agreements) or ", ".join(f"{h.finding}: {h.change}" for p, h in changed if p.change == h.change)
        return NliReading("entailment", f"the premise states the same: {what}", evidence or [Evidence(sentence=premise)])
    return None
