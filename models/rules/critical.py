"""Critical results (ACR actionable category 1) stated in the report and not negated.

A mention counts only when ConText finds it neither negated, resolved, historical nor "not
new" (unchanged, stable, chronic, improving, expected post-operative): the dev-set rule that
only new or unexpected urgent findings are critical. A hedged mention ("possible small
pneumothorax", "suspected pulmonary embolism", "free air cannot be excluded") still counts,
with certainty "uncertain": a suspected critical finding must be communicated too. The
question a study was ordered to answer ("evaluation for pulmonary embolism", "rule out
pneumothorax", "clinical concern for PE") is not a finding and does not count. A pneumothorax
with tension physiology (the word "tension", or contralateral mediastinal/tracheal shift with
a depressed or flattened hemidiaphragm) is reported as "tension pneumothorax" instead; denied
tension ("without tension physiology", "no mediastinal shift") leaves a plain pneumothorax, and
suspected tension ("tension cannot be excluded") makes it a suspected tension pneumothorax even
when the pneumothorax itself is certain. An enlarging known finding counts (spec §12: "new or
enlarging"); a finding an addendum retracts does not, nor one its sentence or the next takes back ("...
discussed with Dr X; however, on further review there is no pneumothorax").

The vocabulary is the dev set's seven terms plus the other ACR category 1 findings of the spec's
critical list (§12): spinal cord compression, ectopic pregnancy, testicular and ovarian torsion,
portal venous gas. They are communicated the same way, so they are found the same way.
"""

from __future__ import annotations

import re

from models.rules.clinical_nlp import Mention, history_cue_only, mentions
from models.rules.context import in_last_addendum
from models.text import evidence_at, sentence_spans
from models.types import CriticalFinding

__all__ = ["VOCABULARY", "critical_findings"]


VOCABULARY: tuple[str, ...] = (
    "tension pneumothorax", "pneumothorax", "intracranial hemorrhage", "pulmonary embolism", "free air",
    "aortic dissection", "malpositioned support device",
    # The spec's wider list (§12): ACR actionable category 1 findings outside the dev vocabulary.
    "spinal cord compression", "ectopic pregnancy", "testicular torsion", "ovarian torsion", "portal venous gas",
)
# Signs of tension physiology: contralateral shift of the mediastinum or trachea and a depressed or
# flattened hemidiaphragm (one side: "flattened hemidiaphragms" of hyperinflation is not a sign).
_SHIFT = re.compile(r"\b(?:mediastin\w*|trachea\w*|heart)\b[^.]{0,60}\bshift(?:ed|ing)?\b|\bshift\s+of\s+the\s+(?:mediastinum|trachea)"
                    r"|\bmediastinal\s+shift\b", re.IGNORECASE)
_DIAPHRAGM = re.compile(r"\b(?:hemi)?diaphragm(?!s)\b[^.]{0,40}\b(?:depress|flatten|invert|evert)\w*"
                        r"|\b(?:depress|flatten|invert|invers"
                        r"|evers)\w*\s+(?:of\s+the\s+)?(?:\w+\s+)?(?:hemi)?diaphragm(?!s)\b",
                        re.IGNORECASE)
# A sign the sentence denies or only suspects ("No mediastinal shift", "possible mild shift").
_SIGN_DOUBT = re.compile(r"\b(?:no|not|without|absent|possibl[ey]|questionabl[ey]|equivocal|may|might|could|"
                         r"cannot|can\s*not|suspect\w*|concern\w*|mild|minimal|slight|subtle|early)\b|\?",
                         re.IGNORECASE)
# "Known left pneumothorax, slightly increased": an enlarging finding is new information (spec §12).
_WORSE = re.compile(r"\b(?<!no\s)(?<!not\s)(?<!without\s)"
                    r"(?:increas\w*|enlarg\w*|larger|worse\w*|progress\w*|expand\w*|bigger)\b", re.IGNORECASE)
_STABLE = re.compile(r"\b(?:unchanged|stable|similar|decreas\w*|improv\w*|smaller|resolv\w*|chronic"
                     r"|no\s+(?:significant\s+)?change)\b", re.IGNORECASE)
# "Decreased left effusion and a new small right pneumothorax": "new" right before the mention (in its own
# comma/semicolon part) outweighs a "decreased"/"stable" elsewhere in the sentence.
_NEW_BEFORE = re.compile(r"\bnew(?:ly)?\b(?:\s+(?!(?:and|or|but|with)\b)[\w\-]+){0,3}\s*$", re.IGNORECASE)
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


def _sign_sentences(text: str, spans: list[tuple[int, int]], rx: re.Pattern[str]) -> list[tuple[int, int]]:
    """Sentences stating a tension sign without denying or doubting it."""
    out = []
    for a, b in spans:
        m = rx.search(text, a, b)
        if m and not _SIGN_DOUBT.search(text[max(a, text.rfind(";", a, m.start()) + 1) : m.end()]):
            out.append((a, b))
    return out


def _counts(text: str, m: Mention, sentence_start: int, sentence: str) -> bool:
    """A mention that states a current finding (hedged included), not a negated/old/asked-for one."""
    if m.negated or m.resolved or (m.historical and not history_cue_only(text, m.start)):
        return False
    if m.limited and not m.uncertain:
        return False  # "pneumothorax is not well evaluated on this supine film": a limit of the study, no finding
    if m.not_new and not (_WORSE.search(sentence) and not _STABLE.search(sentence)) \
            and not _NEW_BEFORE.search(text, sentence_start, m.start):
        return False
    return not (m.uncertain and _hypothetical(text, sentence_start, m))


def _latest(text: str, pairs: list[tuple[str, Mention]]) -> list[tuple[str, Mention]]:
    """Per term, only the mentions in the last addendum that mentions it, when one does: an
    addendum ("the apical line is a skin fold; there is no pneumothorax") revises the report."""
    out = []
    for term in dict.fromkeys(t for t, _ in pairs):
        ms = [m for t, m in pairs if t == term]
        inside = set(in_last_addendum(text, [m.start for m in ms]))
        out += [(term, m) for m in ms if not inside or m.start in inside]
    return out


# A finding taken back later in its sentence or the next ("Findings of pneumothorax were discussed with Dr X;
# however, on further review there is no pneumothorax"): a retraction cue, then a denial of the same finding.
_RETRACTION = re.compile(
    r"\b(?:however|on\s+(?:\w+\s+)?(?:review|re-?review|inspection|re-?evaluation|scrutiny|re-?examination)|"
    r"(?:upon|after|with)\s+(?:\w+\s+)?(?:review|re-?review|inspection|re-?evaluation)|in\s+retrospect|retrospectively|"
    r"correction|corrected|actually|in\s+fact|retract\w*|erroneous\w*|mistaken\w*|in\s+error|re-?review\w*|"
    r"re-?evaluat\w*|re-?assess\w*|re-?interpret\w*|rather)\b",
    re.IGNORECASE,
)
# A denial narrowed by a word before the finding denies only that kind of it ("no tension pneumothorax", "no new
# pneumothorax", "no residual free air"): it takes back no plain finding. Nor does a hedged one ("however, no definite
# pneumothorax on the expiratory view"): the stated finding stands (safety first).
_NARROWED = re.compile(r"\b(?:definite|convincing|obvious|clear|discrete|appreciable|visible|tension|new|residual|recurrent|"
                       r"large|larger|moderate|significant|sizable|sizeable|increas\w*|enlarg\w*|further|additional|other|"
                       r"contralateral|apical|basilar|anterior|loculated|saddle|central|"
                       r"acute|chronic|massive|occlusive|extensive)\W+(?:\w+\W+)?$", re.IGNORECASE)
# ... and so does one narrowed after it, to a place or a view ("However, no pneumothorax is seen on the lateral view",
# "no free air at the right base"): the finding may still be where it was stated.
_NARROWED_AFTER = re.compile(r"\s*(?:(?:is|are)\s+)?(?:(?:seen|present|identified|visible|evident|demonstrated|noted)"
                             r"\s+)?"
                             r"(?:on|at|in|within|along|over|near|from|of|under|beneath|behind)\s", re.IGNORECASE)
_SIDE_WORD = re.compile(r"\b(?:left|right|bilateral|both)\b", re.IGNORECASE)


def _side_of(text: str, m: Mention) -> str | None:
    """The side named in the mention's own part of its sentence (between commas, semicolons, "and"/"but")."""
    a = max(text.rfind(c, 0, m.start) for c in ".;,\n") + 1
    stops = [i for i in (text.find(c, m.end) for c in ".;,\n") if i >= 0]
    part = text[a : min(stops) if stops else len(text)]
    sides = {w.lower().replace("both", "bilateral") for w in _SIDE_WORD.findall(part)}
    return sides.pop() if len(sides) == 1 else ("bilateral" if sides else None)


def _retracted(text: str, spans: list[tuple[int, int]], term: str, m: Mention,
               pairs: list[tuple[str, Mention]]) -> bool:
    """A later denial of the same finding, in the mention's sentence or the next, after a retraction cue between
    them, on the same side (or none named): the report takes the finding back. A denial of another side ("Left
    pneumothorax. However, no right pneumothorax.") takes nothing back."""
    index = next((i for i, (a, b) in enumerate(spans) if a <= m.start < b), None)
    if index is None:
        return False
    limit = spans[min(index + 1, len(spans) - 1)][1]
    side = _side_of(text, m)
    for t, later in pairs:
        if t != term or later.start <= m.end or later.start >= limit or not later.negated:
            continue
        if not _RETRACTION.search(text, m.end, later.start) \
                or _NARROWED.search(text, max(0, later.start - 30), later.start) \
                or _NARROWED_AFTER.match(text, later.end):
            continue
        other = _side_of(text, later)
        if other is None or other == side:
            return True
    return False


def _tension(text: str, spans: list[tuple[int, int]], pairs: list[tuple[str, Mention]]) -> str | None:
    """'definite' or 'uncertain' tension physiology of a pneumothorax the report states, else None."""
    states = []
    for term, m in pairs:
        if term != "tension":
            continue
        sentence = next((text[a:b] for a, b in spans if a <= m.start < b), "")
        if not re.search(r"pneumothora|\bptx\b", sentence, re.IGNORECASE) and " " not in m.text:
            continue  # "tension" alone names a pneumothorax's tension only next to it
        states.append("uncertain" if m.uncertain else "definite")
    if _sign_sentences(text, spans, _SHIFT) and _sign_sentences(text, spans, _DIAPHRAGM):
        states.append("definite")
    return "definite" if "definite" in states else ("uncertain" if states else None)


def critical_findings(text: str) -> list[CriticalFinding]:
    """Critical findings in `text`, in vocabulary order, each with its evidence sentences and certainty."""
    found: dict[str, list] = {}
    definite: set[str] = set()
    spans = sentence_spans(text)
    pairs: list[tuple[str, Mention]] = []
    for m in mentions(text):
        if m.label.startswith("CRIT:"):
            pairs.append((m.label[5:], m))
        elif m.label == "pneumothorax":
            pairs.append(("pneumothorax", m))
    pairs = _latest(text, pairs)
    kept: list[tuple[str, Mention]] = []
    for term, m in pairs:
        sentence_start, sentence = next(((a, text[a:b]) for a, b in spans if a <= m.start < b), (m.start, ""))
        if not _counts(text, m, sentence_start, sentence) or _retracted(text, spans, term, m, pairs):
            continue
        kept.append((term, m))
        if term == "tension":
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
        tension = _tension(text, spans, kept)
        if tension:
            found["tension pneumothorax"] = found.pop("pneumothorax")
            # A definite pneumothorax whose tension is only suspected is a suspected tension pneumothorax.
            if "pneumothorax" in definite and tension == "definite":
                definite.add("tension pneumothorax")
            signs = [(a, b) for a, b in spans if _SHIFT.search(text[a:b]) or _DIAPHRAGM.search(text[a:b])
                     or re.search(r"\btension\b", text[a:b], re.I)]
            extra = [evidence_at(text, a, b) for a, b in signs]
            found["tension pneumothorax"] += [e for e in extra if e not in found["tension pneumothorax"]]
    return [CriticalFinding(term=t, evidence=found[t], certainty="definite" if t in definite else "uncertain")
            for t in VOCABULARY if t in found]
