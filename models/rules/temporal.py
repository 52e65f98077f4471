"""Temporal changes the report states in words: "new", "increased", "resolved", "stable" ...

Why rules for a model task: a change the radiologist wrote ("The previously noted left
apical pneumothorax has resolved") is an explicit statement, and the contract says a model
never overrides one silently; the demo model's temporal output rarely parses at all. So the
rules engine reads the stated changes and the ensemble lets them win finding by finding,
keeping a model's differing class as a disagreement (models/ensemble.py).

How: each report sentence outside the history, indication and comparison lines is searched
for change cues. A cue before a noun phrase ("New solid nodule in the LLL", "worsening
interstitial pulmonary edema") names the finding after it; a cue after its subject ("Cardiomegaly,
similar to prior", "The 3 mm RML nodule is stable", "node now measures 7 mm (previously
12 mm)") names the finding before it. A descriptor ("opacities", "lesions") followed by
"consistent with <diagnosis>" is reported as the diagnosis. Negated cues ("No new or enlarging
nodes"), recommendations ("to document resolution") and normal structures ("Ventricles are
age-appropriate and unchanged") give nothing. The same finding stated twice (findings and
impression) is one change.

The negation of a cue ("No new nodules", "without new consolidation") is a short regular
expression of our own: medspaCy ConText (which the CheXpert labeler uses) marks findings as
negated, not the change words in front of them, and "no new nodules" denies the change while
the nodules may well be there.

A heuristic reader, not a parser: it is right when the report uses the common phrasings, and
where a sentence does not fit them it says nothing rather than guess; the model fills in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from models.rules.context import HISTORY_LINE
from models.text import sentence_spans
from models.types import ChangeClass

__all__ = ["StatedChange", "same_finding", "stated_changes"]


@dataclass
class StatedChange:
    finding: str
    change: ChangeClass
    cue: str
    spans: list[tuple[int, int]] = field(default_factory=list)  # sentences that state it


# ---- cues ----------------------------------------------------------------------------------------
# Each cue class, as written before its noun phrase (pre) or after its subject (post). "enlarged"
# alone is a state ("enlarged lymph nodes"), a change only as "enlarged from" / "has enlarged".
_PRE: dict[ChangeClass, str] = {
    "new": r"new(?:ly\s+(?:seen|developed|identified|noted))?|interval\s+(?:development|appearance)\s+of",
    "worsened": r"increas(?:ed|ing)|enlarging|worsen(?:ed|ing)|progressive|progressing|growing|"
                r"interval\s+(?:increase|enlargement|growth|progression|worsening)\s+(?:in|of)(?:\s+(?:the\s+)?size\s+of)?",
    "improved": r"decreas(?:ed|ing)|improv(?:ed|ing)|diminish(?:ed|ing)|resolving|regressing|shrinking|"
                r"(?:interval\s+)?(?:partial|incomplete|near(?:ly)?[\s\-]+(?:complete|total)|almost\s+complete)\s+resolution\s+of|"
                r"interval\s+(?:decrease|improvement|regression|reduction)\s+(?:in|of)(?:\s+(?:the\s+)?size\s+of)?",
    "resolved": r"(?:interval\s+)?resolution\s+of|resolved",
    "unchanged": r"stable|unchanged|again\s+(?:seen|noted|demonstrated|identified)\s+(?:is|are)|persistent|persisting|"
                 r"no\s+(?:(?:significant|appreciable|substantial|interval|definite)\s+)*change\s+in"
                 r"(?:\s+(?:the\s+)?(?:size|appearance|extent|degree)\s+of)?|"
                 r"re-?demonstrated|re-?demonstration\s+of",
}
_POST: dict[ChangeClass, str] = {
    "new": r"(?:is|are|was|were)\s+new(?=\s*(?:[,.;)]|$|(?:since|compared|from|relative|on|in\s+comparison)\b))|"
           r"new\s+(?:since|compared|from|relative|as\s+of|on\s+this)|"
           r"not\s+(?:present|seen|visible|evident|identified)\s+(?:on|in)\s+(?:the\s+)?(?:prior|previous|earlier|\d)",
    "worsened": r"(?:has|have)\s+(?:increased|enlarged|grown|progressed|worsened)|"
                r"increased(?:\s+in\s+(?:size|extent|number))?|enlarged\s+from|worsened|worse|progressed|"
                r"(?:slightly|mildly|minimally|markedly|significantly)\s+(?:increased|larger|worse)|larger|"
                r"more\s+(?:prominent|extensive|conspicuous|pronounced)",
    "improved": r"(?:has|have)\s+(?:decreased|improved|regressed|diminished)|"
                r"(?:(?:has|have)\s+)?(?:nearly|almost|partially|largely|mostly|incompletely|near-completely)\s+resolved|"
                r"decreased(?:\s+in\s+(?:size|extent|number))?|improved|smaller|regressed|diminished|"
                r"(?:slightly|mildly|minimally|markedly|significantly)\s+(?:decreased|smaller|improved)|"
                r"less\s+(?:prominent|extensive|conspicuous|pronounced|severe)",
    "resolved": r"(?:has|have)\s+(?:resolved|cleared)|resolved|no\s+longer\s+(?:seen|visible|identified|present|"
                r"evident|demonstrated|appreciated|visuali[sz]ed|detected)",
    "unchanged": r"unchanged|(?:is|are|remains?|appears?)\s+(?:stable|unchanged)|stable(?:\s+in\s+(?:size|appearance))?|"
                 r"similar\s+(?:to|in\s+(?:size|appearance)|compared)|without\s+(?:significant\s+|interval\s+)?change|"
                 r"no\s+(?:significant\s+|interval\s+)?change|again\s+(?:seen|noted|demonstrated|identified)|"
                 r"re-?demonstrated|persists?|(?:is|are|remains?)\s+persistent|"
                 r"remains?\s+(?:enlarged|present|prominent|dilated|elevated|collapsed|opacified|widened)",
}
_CUE = re.compile(
    "|".join(f"(?P<pre_{c}>\\b(?:{p})\\b)" for c, p in _PRE.items())
    + "|" + "|".join(f"(?P<post_{c}>\\b(?:{p})\\b)" for c, p in _POST.items()),
    re.IGNORECASE,
)
# "7 mm (previously 12 mm)", "2.6 cm, previously 1.8 cm", "now 7 mm, from 12 mm".
_SIZE = r"(\d+(?:\.\d+)?)(?:\s*[x×]\s*\d+(?:\.\d+)?)*\s*(mm|cm)"
_MEASURED = re.compile(rf"\b(?:(?:now\s+)?measur(?:es|ing|ed)\s+(?:up\s+to\s+)?|now\s+){_SIZE}[^.;]{{0,40}}?"
                       rf"\(?\b(?:previously|formerly|prior(?:ly)?|from)\s+{_SIZE}", re.IGNORECASE)

# Negated or prospective contexts right before a cue: no change is stated.
_NEGATED_BEFORE = re.compile(
    r"(?:\bno|\bwithout|\bnegative\s+for|\bnor|\bor|\bno\s+(?:evidence|sign)s?\s+of|\bfree\s+of)\s+(?:\w+\s+){0,2}$",
    re.IGNORECASE,
)
_PROSPECTIVE = re.compile(r"\b(?:recommend\w*|follow[- ]?up|to\s+(?:document|assess|confirm|ensure|evaluate)|"
                          r"evaluate\s+for|if|until|assess\s+for|monitor\w*)\b", re.IGNORECASE)
# Where a pre-cue's noun phrase ends.
_PHRASE_END = re.compile(
    r"[,;:()]|\s(?:measur\w*|with|which|that|not|compared|since|from|consistent|compatible|suspicious|concerning|"
    r"highly|likely|probably|possibly|is|are|was|were|has|have|had|seen|noted|on|extending|obscuring|causing|"
    r"following|after|despite|due|secondary|status|s/p|"
    r"without|when|for|as|now|again|may|might|could|represent\w*|in\s+(?:the\s+)?(?:appropriate|setting|keeping|"
    r"comparison)|to|but|and\s+(?="
    r"(?:new|increas|enlarg|worsen|decreas|improv|resol|stable|unchanged)))\b",
    re.IGNORECASE,
)
_DIAGNOSIS = re.compile(
    r"\b(?:consistent\s+with|compatible\s+with|in\s+keeping\s+with|representing|reflecting|likely|probably|"
    r"suggestive\s+of|suspicious\s+for|concerning\s+for|most\s+likely|(?:may|could)\s+represent)\s+(?P<dx>[^,;.()]+)",
    re.IGNORECASE,
)
# Findings named by how they look rather than what they are: the diagnosis after them names them better.
_DESCRIPTOR = re.compile(
    r"\b(?:opacit(?:y|ies)|lesions?|hypodensit(?:y|ies)|hypoattenuating|hyperdensit(?:y|ies)|densit(?:y|ies)|"
    r"lucenc(?:y|ies)|abnormalit(?:y|ies)|changes?|foci|focus|enhancement|signal|markings|nodularity)\s*$",
    re.IGNORECASE,
)
# Clinical syndromes a sentence concludes with ("..., consistent with worsening CHF"): not a finding.
_SYNDROME = re.compile(r"\b(?:CHF|heart\s+failure|fluid\s+overload|volume\s+overload|infection)\b", re.I)
# Subjects that name no finding: "Findings are stable", "No change from prior".
_GENERIC = re.compile(r"^(?:findings?|appearance|overall\s+appearance|exam(?:ination)?|study|it|this|there|"
                      r"no|none|(?:the\s+)?remainder(?:\s+of\s+the\s+exam)?)$", re.I)
_NORMAL = re.compile(r"\b(?:normal|unremarkable|age[- ]appropriate|within\s+normal\s+limits|patent|clear)\b", re.I)
# Words stripped from a finding's edges: determiners, history words, sizes and counts.
_LEAD = re.compile(
    r"^(?:(?:(?:the|a|an|this|these|those|again|now|previously\s+(?:described|noted|seen|identified|demonstrated|"
    r"mentioned|treated|reported)|known|prior|previous|redemonstrated|there\s+(?:is|are|has\s+been)|"
    r"(?:size|appearance|position|extent|degree)\s+of|"
    r"one|two|three|four|five|several|multiple|few|a\s+few|numerous)\b"
    r"|#?\d+(?:\.\d+)?(?:\s*[x×]\s*\d+(?:\.\d+)?)*\s*(?:mm|cm)\b|\d+(?=\s)|,)\s*)+",
    re.IGNORECASE,
)
_TRAIL = re.compile(r"(?:\s*(?:,|\b(?:is|are|was|were|has|have|had|been|which|that|and|now|appears?|remains?|nearly|almost|"
                    r"partially|largely|mostly|completely|entirely|essentially|"
                    r"still|also|slightly|mildly|minimally|markedly|significantly|in\s+size|overall))\s*)+$", re.I)
_LABEL = re.compile(r"^(?:\d{1,2}[.)]\s*)?(?:(?P<label>[A-Za-z][A-Za-z /&-]{0,30}):\s+)?(?:\d{1,2}[.)]\s*)?")
_SIDES = {"left": "left", "right": "right", "bilateral": "bilateral"}
_SIDE_WORD = re.compile(r"\b(?:left|right|bilateral|bibasilar|bibasal|both)\b", re.IGNORECASE)
_CONTENT = re.compile(r"[A-Za-z]{3,}")


def _tidy(phrase: str) -> str:
    phrase = re.sub(r"\s+", " ", phrase).strip(" ,;:.-")
    for _ in range(3):
        phrase = _TRAIL.sub("", _LEAD.sub("", phrase)).strip(" ,;:.-")
    return phrase


def _pre_phrase(sentence: str, start: int) -> str:
    """The noun phrase after a pre-cue: up to the first boundary, over a comma that ends a lone adjective."""
    rest = sentence[start:]
    lead = _LEAD.match(rest.lstrip())
    pos = (len(rest) - len(rest.lstrip())) + (lead.end() if lead else 0)
    while True:
        m = _PHRASE_END.search(rest, pos)
        if m is None:
            return rest
        head = rest[: m.start()].strip()
        # "New discrete, intensely FDG-avid mass": a comma after one adjective does not end the phrase.
        if m.group(0) == "," and len(head.split()) == 1 and not _DESCRIPTOR.search(head):
            pos = m.end()
            continue
        return rest[: m.start()]


_COMPARED_LEAD = re.compile(
    r"^\s*(?:(?:when\s+|as\s+)?compared\s+(?:to|with)|in\s+comparison\s+(?:to|with)|relative\s+to|since|from|"
    r"(?:on|in)\s+(?:the\s+)?(?:current|today'?s|this)\s+(?:study|exam\w*|radiograph|film|image)|"
    r"(?:on|in)\s+(?:the\s+)?interval|interval(?:ly)?)\b",
    re.IGNORECASE,
)


def _post_subject(sentence: str, end: int) -> str:
    """The subject before a post-cue: the clause's first comma segment (or the diagnosis a hedge names)."""
    before = sentence[:end]
    before = re.split(r"\b(?:now\s+)?measur(?:es|ing|ed)\b|\bnow\s+\d|;", before)[0] if re.search(
        r"\bmeasur|\bnow\s+\d|;", before, re.I) else before
    segments = [s for s in re.split(r",\s*", before) if s.strip()]
    # "Since the prior study, the right effusion has increased": the comparison that opens the sentence
    # names no finding; the subject follows it.
    while len(segments) > 1 and _COMPARED_LEAD.match(segments[0]):
        segments = segments[1:]
    if not segments:
        return ""
    # "..., likely chronic microvascular ischemic change, unchanged": the hedged diagnosis names it.
    for seg in segments[1:]:
        dx = re.match(r"\s*(?:likely|probably|consistent\s+with|compatible\s+with|representing|most\s+likely)\s+(.+)",
                      seg, re.IGNORECASE)
        if dx:
            return dx.group(1)
    return segments[0]


def _side_of(label: str | None) -> str | None:
    return _SIDES.get((label or "").strip().lower())


def _measured_change(sentence: str) -> tuple[ChangeClass, int, int] | None:
    m = _MEASURED.search(sentence)
    if m is None:
        return None
    now = float(m.group(1)) * (10 if m.group(2).lower() == "cm" else 1)
    then = float(m.group(3)) * (10 if m.group(4).lower() == "cm" else 1)
    if now == then:
        return "unchanged", m.start(), m.end()
    return ("worsened" if now > then else "improved"), m.start(), m.end()


def _sentence_changes(sentence: str) -> list[tuple[str, ChangeClass, str]]:
    """(finding, class, cue) stated in one sentence, in order."""
    label_match = _LABEL.match(sentence)
    label = label_match.group("label") if label_match else None
    body_start = label_match.end() if label_match else 0
    body = sentence[body_start:]
    side = _side_of(label)
    out: list[tuple[str, ChangeClass, str, int]] = []
    for m in _CUE.finditer(body):
        kind = m.lastgroup or ""
        where, change = kind.split("_", 1)
        before = body[: m.start()]
        clause_start = max(before.rfind(";"), 0)
        if _NEGATED_BEFORE.search(before[clause_start:]) or _PROSPECTIVE.search(before[clause_start:]):
            continue
        if where == "pre":
            after = body[m.end():]
            if not re.match(r"\s+[A-Za-z0-9#]", after) or re.match(
                r"\s+(?:compared|since|from|to|in\s+(?:size|extent)|on|relative|as|and|or|but|with|than)\b", after, re.I
            ):
                # A pre-cue with no noun phrase after it reads as a post-cue ("..., increased from small").
                finding = _post_subject(body, m.start())
            else:
                finding = _pre_phrase(body, m.end())
        else:
            finding = _post_subject(body, m.start())
            if not _CONTENT.search(_tidy(finding)) and re.match(r"\s+[A-Za-z0-9#]", body[m.end():]) and not re.match(
                    r"\s+(?:compared|since|from|to|in\s+(?:size|extent|comparison)|on|relative|as|and|or|but|with|than|"
                    r"prior|previous)\b", body[m.end():], re.I):
                # "Mildly increased interstitial markings": a post-cue that opens its sentence names what follows.
                finding = _pre_phrase(body, m.end())
        parts = re.split(r"\s+(?:with\s+adjacent|and\s+adjacent|as\s+well\s+as|along\s+with)\s+", finding, flags=re.I)
        for extra in parts[1:]:
            extra = _tidy(extra)
            if _CONTENT.search(extra):
                out.append((extra, change, m.group(0), m.start()))  # type: ignore[arg-type]
        finding = _tidy(parts[0])
        if not _CONTENT.search(finding) or _NORMAL.search(body[m.start() - 40 if m.start() > 40 else 0 : m.end() + 20]) \
                and not _CONTENT.search(_NORMAL.sub("", finding)):
            continue
        out.append((finding, change, m.group(0), m.start()))  # type: ignore[arg-type]
    measured = _measured_change(body)
    if measured is not None:
        change, a, _b = measured
        finding = _tidy(re.split(r",\s*", body[:a])[0]) if body[:a].strip() else ""
        if finding and _CONTENT.search(finding):
            out.append((finding, change, "measured size", a))
    out.sort(key=lambda item: item[3])
    result: list[tuple[str, ChangeClass, str]] = []
    for finding, change, cue, at in out:
        if _NORMAL.search(finding) or _SYNDROME.search(finding) or _GENERIC.match(finding):
            continue  # "Heart size normal, unchanged", "worsening CHF": no finding changed
        dx = _DIAGNOSIS.search(body, at)
        head = re.split(r"\s+(?:in|of|at|within|along|involving)\s+", finding, maxsplit=1)[0]
        if _DESCRIPTOR.search(head) and dx:
            named = _tidy(_CUE.sub("", dx.group("dx")))
            # "may represent aspiration or atelectasis": alternatives do not name it; the descriptor stays.
            if named and not _SYNDROME.search(named) and not re.search(r"\b(?:or|versus|vs)\b", named, re.I):
                # "Increasing bibasilar opacities, likely atelectasis": the side stays with the diagnosis.
                sides = _SIDE_WORD.findall(finding)
                finding = f"{sides[0]} {named}" if sides and not _SIDE_WORD.search(named) else named
        if side and not _SIDE_WORD.search(finding):
            finding = f"{side} {finding}"
        result.append((finding, change, cue))
    return result


_FILLER = frozenset({"the", "and", "wit", "with", "of", "in", "mild", "small", "large", "moder", "sever", "minim"})
_SIDE_GROUPS = ({"left", "right", "bilat"}, {"upper", "middl", "lower"})


def _tokens(finding: str) -> set[str]:
    # Five-letter prefixes: a cheap stem that equates "effusion"/"effusions", "nodule"/"nodular".
    words = re.findall(r"[a-z0-9]+", finding.lower().replace("bibasilar", "bilateral basilar"))
    return {w[:5] for w in words if len(w) > 2 or w.isalpha()} - _FILLER


def same_finding(a: str, b: str) -> bool:
    """Loosely the same finding: sides and lobes agree and most words of the shorter phrase are shared."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta or not tb:
        return False
    for group in _SIDE_GROUPS:
        if ta & group and tb & group and ta & group != tb & group:
            return False
    return len(ta & tb) / min(len(ta), len(tb)) > 0.5


def _same(a: StatedChange, finding: str, change: ChangeClass) -> bool:
    return a.change == change and same_finding(a.finding, finding)


def stated_changes(text: str) -> list[StatedChange]:
    """The changes `text` states, one per finding and class, with the sentences that state them."""
    found: list[StatedChange] = []
    for a, b in sentence_spans(text):
        line_start = text.rfind("\n", 0, a) + 1
        if HISTORY_LINE.match(text[line_start:b]) or re.match(r"\s*(?:technique|recommend)", text[a:b], re.I):
            continue
        sentence = text[a:b]
        if re.match(r"\s*(?:findings|impression|addendum|conclusions?)\s*:\s*$", sentence, re.I):
            continue
        sentence = re.sub(r"^\s*(?:findings|impression|conclusions?|summary|opinion)\s*:\s*", "", sentence, flags=re.I)
        for finding, change, cue in _sentence_changes(sentence):
            same = next((c for c in found if _same(c, finding, change)), None)
            if same is not None:
                if (a, b) not in same.spans:
                    same.spans.append((a, b))
                continue
            found.append(StatedChange(finding=finding, change=change, cue=cue, spans=[(a, b)]))
    return found
