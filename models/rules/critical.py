"""Critical results (ACR actionable category 1) stated in the report and not negated.

A mention counts only when ConText finds it neither negated, resolved, historical nor "not
new" (unchanged, stable, chronic, improving, expected post-operative): the dev-set rule that
only new or unexpected urgent findings are critical. A hedged mention ("possible small
pneumothorax", "suspected pulmonary embolism", "free air cannot be excluded") still counts,
with certainty "uncertain": a suspected critical finding must be communicated too. The
question a study was ordered to answer ("evaluation for pulmonary embolism", "rule out
pneumothorax", "clinical concern for PE") is not a finding and does not count. A pneumothorax
with tension physiology (the word "tension", or contralateral mediastinal/tracheal shift with
a depressed or flattened hemidiaphragm) is reported as "tension pneumothorax" instead.

The vocabulary is the dev set's seven terms plus the other ACR category 1 findings of the spec's
critical list (§12): spinal cord compression, ectopic pregnancy, testicular and ovarian torsion,
portal venous gas. They are communicated the same way, so they are found the same way.
"""

from __future__ import annotations

import re

from models.rules.clinical_nlp import Mention, mentions
from models.text import evidence_at, sentence_spans
from models.types import CriticalFinding

__all__ = ["VOCABULARY", "critical_findings"]


VOCABULARY: tuple[str, ...] = (
    "tension pneumothorax", "pneumothorax", "intracranial hemorrhage", "pulmonary embolism", "free air",
    "aortic dissection", "malpositioned support device",
    # The spec's wider list (§12): ACR actionable category 1 findings outside the dev vocabulary.
    "spinal cord compression", "ectopic pregnancy", "testicular torsion", "ovarian torsion", "portal venous gas",
)
_TENSION = re.compile(r"\btension\b", re.IGNORECASE)
_SHIFT = re.compile(r"\b(?:mediastin\w*|trachea\w*|heart)\b[^.]{0,60}\bshift(?:ed|ing)?\b|\bshift\s+of\s+the\s+(?:mediastinum|trachea)"
                    r"|\bmediastinal\s+shift\b", re.IGNORECASE)
_DIAPHRAGM = re.compile(r"\b(?:hemi)?diaphragm\w*\b[^.]{0,40}\b(?:depress|flatten|invert)\w*|\b(?:depress|flatten|invert)\w*\s+"
                        r"(?:of\s+the\s+)?(?:\w+\s+)?(?:hemi)?diaphragm", re.IGNORECASE)
_PE_NOT_FINDING = re.compile(r"\s*(?:protocol|study|ct|cta|exam)\b", re.IGNORECASE)
_AORTIC = re.compile(r"\baort", re.IGNORECASE)
# Before a hedged mention: the question the study was ordered to answer, not a finding.
_HYPOTHETICAL = re.compile(
    r"\b(?:rule\s+out|r/o|to\s+(?:exclude|rule\s+out|evaluate|assess|look)|(?:evaluat|assess)\w*\s+(?:for|of)|search\s+for|"
    r"if|should|in\s+case\s+of|clinical(?:ly)?\s+(?:concern|suspicion|question)|indication|reason|history)\b",
    re.IGNORECASE,
)


def _hypothetical(text: str, sentence_start: int, m: Mention) -> bool:
    """A hedged mention that only names what the study looks for ("evaluation for PE is limited")."""
    clause = text[sentence_start : m.start].split(";")[-1]
    return bool(_HYPOTHETICAL.search(clause))


def critical_findings(text: str) -> list[CriticalFinding]:
    """Critical findings in `text`, in vocabulary order, each with its evidence sentences and certainty."""
    found: dict[str, list] = {}
    definite: set[str] = set()
    spans = sentence_spans(text)
    for m in mentions(text):
        if m.label.startswith("CRIT:"):
            term = m.label[5:]
        elif m.label == "pneumothorax":
            term = "pneumothorax"
        else:
            continue
        if m.negated or m.resolved or m.historical or m.not_new:
            continue
        sentence_start, sentence = next(((a, text[a:b]) for a, b in spans if a <= m.start < b), (m.start, ""))
        if m.uncertain and _hypothetical(text, sentence_start, m):
            continue
        if m.text == "PE" and _PE_NOT_FINDING.match(text, m.end):
            continue
        if term == "aortic dissection" and m.text.lower().startswith(("intimal", "intramural", "dissection flap")) \
                and not _AORTIC.search(sentence):
            continue
        ev = evidence_at(text, m.start, m.end)
        if ev not in found.setdefault(term, []):
            found[term].append(ev)
        if not m.uncertain:
            definite.add(term)
    if "pneumothorax" in found:
        near = " ".join(e.sentence for e in found["pneumothorax"])
        if _TENSION.search(near) or (_SHIFT.search(text) and _DIAPHRAGM.search(text)):
            found["tension pneumothorax"] = found.pop("pneumothorax")
            if "pneumothorax" in definite:
                definite.add("tension pneumothorax")
            extra = [evidence_at(text, a, b) for a, b in spans if _SHIFT.search(text[a:b]) or _DIAPHRAGM.search(text[a:b])]
            found["tension pneumothorax"] += [e for e in extra if e not in found["tension pneumothorax"]]
    return [CriticalFinding(term=t, evidence=found[t], certainty="definite" if t in definite else "uncertain")
            for t in VOCABULARY if t in found]
