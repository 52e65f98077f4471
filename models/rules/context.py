"""Is a mention about this study? History lines, prior-study cues and "overall" lead-ins.

Shared by the RADS and TNM rules: a category or stage quoted from the indication, the
comparison line or a prior report ("previously LR-3", "from BI-RADS 3"), or one the report
denies or only supposes ("does not meet criteria for LR-5", "no features of LR-M", "if it
grows it would be upgraded to Lung-RADS 4B"), is not the study's assessment and never sets
a label.
"""

from __future__ import annotations

import re

__all__ = ["HISTORY_LINE", "ADDENDUM_HEAD", "addendum_starts", "in_last_addendum", "mention_context", "sentence_head",
           "words_after"]

HISTORY_LINE = re.compile(
    r"^\s*(?:clinical\s+)?(?:history|indications?|clinical|reason(?:\s+for\s+(?:exam|study|examination))?|"
    r"comparisons?|priors?|prior\s+(?:report|study|exam)|previous(?:\s+(?:report|study|exam))?|"
    r"clinical\s+(?:information|indication)|referral)\s*:",
    re.IGNORECASE,
)
# An addendum heading at the start of a line: "ADDENDUM:", "Addendum #1:", "*** ADDENDUM ***",
# "ADDENDUM (2025-07-01):". What an addendum states revises the report above it, so it wins.
ADDENDUM_HEAD = re.compile(r"^[\s*#=\-\[]*addend(?:um|a)\b(?!\s+(?:to|of)\b)", re.IGNORECASE | re.MULTILINE)


def addendum_starts(text: str) -> list[int]:
    """Offsets of the addendum headings of `text`, in order (none when it has no addendum)."""
    return [m.start() for m in ADDENDUM_HEAD.finditer(text)]


def in_last_addendum(text: str, positions: list[int]) -> list[int]:
    """The positions that lie in the last addendum holding any of them ([] when none lies in one).

    Several addenda revise each other in turn: the latest one that speaks wins.
    """
    starts = addendum_starts(text)
    for i in range(len(starts) - 1, -1, -1):
        end = starts[i + 1] if i + 1 < len(starts) else len(text) + 1
        inside = [p for p in positions if starts[i] <= p < end]
        if inside:
            return inside
    return []


# Cues that the category belongs to an earlier study: right before the mention ("from LR-3",
# "was BI-RADS 3", "not BI-RADS 4", "2024-01-09: BI-RADS 1"), or anywhere in its clause.
_NEAR_HIST = re.compile(
    r"(?:\bfrom|\bwas|\bwere|\bhad\s+been|\bnot|\bno|\bknown|\b(?:previously\s+)?treated|(?:(?:19|20)\d\d(?:-\d\d){0,2}|\d{1,2}/\d{1,2}/(?:19|20)?\d\d)\)?\s*[:(]?)\s*(?:an?\s+)?"
    r"(?:(?:acr|assessment|category|categori[sz]ed\s+as|assessed\s+as)\s+)*$"
    # A label naming an earlier study, heading the sentence: "Last year: BI-RADS 4A, biopsy benign. This year:
    # BI-RADS 2.", "Prior exam: T2 N2 M0", "Last exam: cN2, cM0" (stages of the same string between). Not
    # "Initial staging:", which may be this study's own.
    r"|^\s*(?:[-•*]\s*|\d{1,2}[.)]\s*)?(?:last\s+(?:year|exam|study|time|visit)|previous(?:ly)?|prior|earlier|"
    r"initial(?:ly)?|original(?:ly)?)(?:\s+(?:exam|study|mammogram|ct|mri|ultrasound|us|assessment|report))?"
    r"\s*:\s*(?:(?:[cpyu]|yc|yp|mr)?[TNM](?:[0-4]|is|x)[a-d]?\s*[,/]?\s*){0,2}$",
    re.IGNORECASE,
)
_CLAUSE_HIST = re.compile(
    r"(?:\bprior\b|\bprevious(?:ly)?\b|\bformerly\b|\boutside\b|\bearlier\b|\bhistory\s+of\b|"
    r"\blast\s+(?:year|exam|study)\b|\boriginal(?:ly)?\b|\binitially\b|\bpreliminary\b)[^.;:,()\n]{0,40}$"
    # "Callback from screening mammogram assessed as BI-RADS 0": the category of the study that
    # led to this one, not this study's own.
    r"|\b(?:(?:call(?:ed)?[\s\-]?back|recall(?:ed)?)\s+from|recalled\s+for|called\s+back\s+for)\b"
    r"[^.;:()\n]{0,60}$"
    r"|\b(?:mammogram|exam|examination|study|ultrasound|mri|ct|screening)\s+(?:\w+\s+){0,3}?"
    r"(?:was|were|had\s+been)\s+(?:assessed|categori[sz]ed|classified|reported|read)(?:\s+as)?\s*$"
    # "Compared to 01/15/2024 (BI-RADS 3)": the comparison's own category, in brackets too.
    r"|\bcompared\s+(?:to|with)\b[^.;:,)\n]{0,40}$",
    re.IGNORECASE,
)
_AFTER_HIST = re.compile(
    # (not "LR-5, unchanged from prior": a current category the prior shared)
    r"^\)?(?![^.;()\n]{0,12}?\b(?:unchanged|stable|similar|persist\w*|again|no\s+change)\b)"
    r"[^.;()\n]{0,12}?\b(?:on|in|at|from)\s+(?:the\s+)?(?:prior|previous|earlier|outside|(?:19|20)\d\d)"
    # "BI-RADS 4 biopsy was benign in 2022", "(T2N0M0) breast cancer diagnosed in 2019", "per outside report".
    r"|^\)?[^.;,()\n]{0,30}?\b(?:was|were|diagnosed|treated|staged|resected|biopsied)\b[^.;()\n]{0,30}?\b(?:in|on)\s+(?:19|20)\d\d"
    r"|^\)?[^.;\n]{0,12}?\b(?:per|according\s+to)\s+(?:the\s+)?(?:outside|prior|previous|earlier)\b"
    # "T2 N1 M0 (from prior study)", "BI-RADS 3 (on the outside mammogram)", "(prior study)": a bracket that
    # opens with the earlier study as the category's source (not "(stable from prior)", nor "(prior biopsy site)").
    # The bracket holds only the source (a few words or a date), not the prior's own category ("(on prior exam 4A)").
    r"|^\s*\(\s*(?:(?:as\s+)?(?:per|from|on|in|at|of)\s+(?:the\s+|an?\s+)?(?:prior|previous|earlier|outside|old)\b"
    r"(?:[\s,]+(?!\S*rads)(?![0-6][abcx]?\b)[\w/\-.]+){0,3}\s*\)"
    r"|(?:prior|previous|earlier|outside)\s+(?:study|exam(?:ination)?|report|reading|read|staging|imaging)"
    r"(?:\s*,?\s*(?:of|from|dated|on)?\s*\d[\d/\-.]*)?\s*\)"
    # the bare word alone: "cN1 (prior)", "BI-RADS 3 (prior), now BI-RADS 2"
    r"|(?:prior|previous(?:ly)?|old|outside|earlier|baseline)\s*\))"
    # A slash date right after the mention: "O-RADS US 4 on the 3/1/2025 ultrasound", "cN2 dated 03/01/2025".
    r"|^\)?\s*(?:on|from|dated|of)\s+(?:the\s+)?\d{1,2}/\d{1,2}/(?:19|20)?\d\d\b"
    # "Lung-RADS 4A at baseline; now 3", "mrN2 on the baseline MRI" (not "at this baseline", nor "unchanged from
    # baseline" or "new from baseline": a current finding compared with the baseline).
    r"|^\)?(?![^.;()\n]{0,12}?\b(?:unchanged|stable|similar|persist\w*|again|no\s+change|new|increas\w*|decreas\w*|"
    r"enlarg\w*|progress\w*|grow\w*|larger|smaller|worse\w*|improv\w*|change[ds]?)\b)"
    r"[^.;()\n]{0,12}?\b(?:on|at|from)\s+(?:the\s+)?baseline\b"
    r"|^\s*(?:\w+\s+){0,2}?(?:previously|before|in\s+the\s+past)\s*(?:[.;,)]|$)"
    # "The BI-RADS 4A assessment is revised to BI-RADS 2": the category being replaced.
    r"|^\)?\s*(?:(?:assessment|category|score|classification)\s+)?"
    r"(?:is|was|has\s+been|should\s+be)\s+(?:now\s+)?"
    r"(?:revised|changed|amended|corrected|downgraded|upgraded|updated|modified)\b"
    # "(pT2 pN1a M0, 2016)": a year right after the mention inside its brackets.
    r"|^[^.;()\n]{0,20}?,\s*(?:19|20)\d\d\s*\)"
    r"|^[^.;\n]{0,6}\)?\s*(?:on\s+)?(?:\w+\s+){0,2}(?:19|20)\d\d-\d\d",
    re.IGNORECASE,
)
# "LR-5 treated with TACE", "BI-RADS 5 lesion was resected": a category of a lesion since treated.
# Not after an LR-TR category, which grades a treated observation ("LR-TR Nonviable treated observation").
_AFTER_TREATED = re.compile(
    r"^\s*(?:(?!(?:the|a|an|at|in|of|on|this|that)\b)\w+\s+){0,2}?(?:(?:was|were|has\s+been|have\s+been)\s+)?"
    r"(?:treated|ablated|embolized|resected)\b",
    re.IGNORECASE,
)
_TREATMENT_RESPONSE = re.compile(r"\bLR[\s\-]?TR\b", re.IGNORECASE)
# A category the clause denies ("no features of LR-M", "does not meet criteria for LR-5", "no
# finding that would warrant BI-RADS 3") or supposes ("if it grows it would be upgraded to
# Lung-RADS 4B", "should it enlarge, it would become 4A"): not the study's assessment.
_DENIED = re.compile(
    r"\b(?:no|not|without|lacks?|lacking)\s+(?:\w+\s+){0,2}?(?:features?|criteria|findings?|evidence|characteristics|"
    r"signs?)\s+(?:\w+\s+){0,2}?(?:of|for|to\s+suggest|suggest\w*|that\s+would\s+\w+|meeting|warranting|"
    r"to\s+(?:warrant|justify|require|merit)|justifying|requiring)\s*(?:an?\s+)?$"
    r"|\b(?:does|do|did)\s*(?:not|n't)\s+(?:meet|fulfil+|satisfy|qualify)\s+(?:\w+\s+){0,2}?(?:for|as)?\s*$"
    # "no observation meeting LR-5 criteria", "none of the nodules meets Lung-RADS 4A"
    r"|\b(?:no|not|without|none|neither)\s+(?:\w+\s+){0,4}?(?:meeting|meets?|fulfil+(?:ing|s)?|satisf(?:y|ies|ying)"
    r"|qualif(?:y|ies|ying)\s+(?:for|as))\s+(?:the\s+)?(?:criteria\s+(?:for|of)\s+)?(?:an?\s+)?$"
    # Only not excluded: "cannot exclude an LR-4 observation", "to rule out BI-RADS 5 features".
    r"|(?:\b(?:can\s*not|can't|could\s+not)\s+(?:be\s+)?(?:entirely\s+|completely\s+)?(?:exclude|rule\s+out)\w*"
    r"|\b(?:to\s+)?(?:rule\s+out|r/o|exclude)|\bnot\s+(?:entirely\s+)?(?:excluded|ruled\s+out))"
    r"\s+(?:the\s+possibility\s+of\s+)?(?:an?\s+)?$",
    re.IGNORECASE,
)
_SUPPOSED = re.compile(
    r"(?:^|[\s(])(?:if|unless|should\s+(?:this|the|it|there|these|any)|were\s+(?:this|it|the))\b[^.;]{0,100}$"
    r"|\bwould\s+(?:\w+\s+){0,2}?(?:be|upgrade|downgrade|become|warrant|require|prompt|necessitate|qualify|change|increase|"
    r"make\s+(?:it|this))\w*\b[^.;]{0,25}$",
    re.IGNORECASE,
)
# The earlier members of a list of categories ("criteria for LR-4 or LR-5", "no PI-RADS 4, 5 or
# 6"): a denial or a "not" in front of the list covers every member, so it is read past them.
_LIST_TAIL = re.compile(
    # every spelling of a system name the RADS reader reads: "BI-RADS 4", "BIRADS4", "BIRADS-4", "BI- RADS 4",
    # "BI-RAD 4"
    r"(?:\b(?:(?:bi|li|lung|ti|pi|o|ni|cad|vi|gb)(?:[\s\-]{0,2}rads|-?rad)(?![a-z])[\s:#\-]*(?:category\s*)?)?"
    r"(?:lr[\s\-]?|tr[\s\-]?)?[0-6mnx][abcx]?"
    r"\s*(?:,|/|\bor\b|\band\b|\bnor\b)\s*)+$",
    re.IGNORECASE,
)
# A category the next words only suppose: "BI-RADS 3 would be appropriate if ...", "LR-5 could apply".
# Only with the category as the subject: "BI-RADS 4 biopsy could be performed" is not a supposition.
_AFTER_SUPPOSED = re.compile(r"^\)?\s*(?:(?:category|assessment|score)\s+)?(?:would|could|might)\s+(?:otherwise\s+)?"
                             r"(?:be|have\s+been|apply)\b", re.IGNORECASE)
# A category the next words deny: "BI-RADS 4 is not warranted", "upgrade to LR-5 is not necessary".
_AFTER_DENIED = re.compile(
    r"^\)?\s*(?:(?:category|assessment|score)\s+)?(?:is|are|was|would\s+be)\s+not\s+"
    r"(?:warranted|necessary|needed|indicated|appropriate|applicable|justified|required|met)\b"
    # "Lung-RADS 4X features not present", "LR-5 criteria are not met": the category's features are denied.
    r"|^\)?\s*(?:features?|criteria|findings?|characteristics)\s+(?:(?:is|are|were)\s+)?"
    r"(?:not\s+(?:present|seen|identified|met|fulfil+ed|satisfied|demonstrated)|absent|lacking)\b"
    # "LR-4 cannot be excluded", "BI-RADS 4 features are not entirely excluded": only not ruled out.
    r"|^\)?\s*(?:(?:lesion|observation|nodule|features?|findings?|category|assessment)\s+)?"
    r"(?:(?:can\s*not|cannot|could\s+not)\s+be|(?:is|are)\s+not|not)\s+(?:entirely\s+|completely\s+)?(?:excluded|ruled\s+out)\b",
    re.IGNORECASE,
)
# A current category the prior shared, said after it: "BI-RADS 2, as on the prior", "M0, same as previous": no
# after-cue then (the prior only had it too).
_SAME_AS_PRIOR = re.compile(
    r"^[ \t]*,?[ \t]*(?:as|same\s+as|similar\s+to|as\s+(?:on|in|at))\s+(?:on\s+|in\s+|at\s+)?(?:the\s+)?"
    r"(?:prior|previous|earlier)(?:\s+(?:exams?|studies|study|mammograms?|ct|mri|ultrasound|imaging|staging))?"
    r"[ \t]*(?:[.;\n]|$)",
    re.IGNORECASE,
)
_LIST_DENIED = re.compile(r"\b(?:no|not|nor|without)\s+(?:(?:acr|category|lesions?|observations?)\s+)*$", re.IGNORECASE)
_OVERALL = re.compile(r"\b(?:overall|final)\b[^.;\n]{0,25}$", re.IGNORECASE)


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    return a, len(text) if b < 0 else b


# A line that starts a new item: a bullet, a list number or a short heading ("Left: ").
_ITEM_START = re.compile(r"^\s*(?:[-•*]|\(?\d{1,2}[.)]|[A-Za-z][\w /&#()\-]{0,30}:)")


_OPEN_END = re.compile(
    r"\b(?:as|for|of|to|with|was|were|is|are|be|been|the|a|an|and|or|nor|by|from|than|versus|vs|at|in|on|"
    r"suspicious|suspicion|concerning|consistent|compatible|previously|exclude|excluded|possible|possibly|probable|"
    r"probably|likely|represent|representing|suggest|suggesting|suggestive)\s*$",
    re.IGNORECASE,
)


def sentence_head(text: str, start: int) -> str:
    """The words of the mention's sentence before it, across a wrapped line end.

    A sentence wrapped onto the next line ("The prior study was assessed as\nBI-RADS 3.") goes on
    there: when nothing on the mention's line ends a sentence, the line does not start a new item,
    and the previous line ends without a stop or colon in a word no sentence ends with (or the line
    goes on in lower case or with a bracket), the previous line is read as well. History lines never.
    """
    line_start = text.rfind("\n", 0, start) + 1
    head = text[line_start:start]
    if line_start > 0 and not re.search(r"[.;!?:]\s", head) and not _ITEM_START.match(head):
        prev = text[text.rfind("\n", 0, line_start - 1) + 1 : line_start - 1]
        # Terse reports leave stops out ("Stable compared with prior\nBI-RADS 2"), so a line end without
        # a stop is a wrap only when a word that cannot end a sentence ends the line, or the line goes
        # on in lower case or with a bracket.
        wrapped = _OPEN_END.search(prev) or re.match(r"\s*[a-z(]", text[line_start : start + 1])
        if prev.strip() and wrapped and not re.search(r"[.;!?:|]\s*$", prev) and not HISTORY_LINE.match(prev):
            head = prev.rstrip() + " " + head.lstrip()
    return re.split(r"(?<=[.;!?])\s", head)[-1]


def words_after(text: str, end: int, line_end: int) -> str:
    """The rest of the mention's line; when nothing but a comma follows it there, and the next line opens
    a bracket ("T2 N1 M0\n(per outside report)"), that bracket goes on the statement, as a wrapped line does."""
    after = text[end:line_end]
    if after.strip(" \t,") or line_end >= len(text):
        return after
    nxt_end = text.find("\n", line_end + 1)
    nxt = text[line_end + 1 : len(text) if nxt_end < 0 else nxt_end]
    return " " + nxt.lstrip() if re.match(r"[ \t]*\(", nxt) else after


def mention_context(text: str, start: int, end: int) -> tuple[bool, bool]:
    """(historical, overall) for a mention at [start, end)."""
    a, b = _line_bounds(text, start)
    if HISTORY_LINE.match(text[a:b]):
        return True, False
    before = sentence_head(text, start)
    after = words_after(text, end, b)
    treated = not _TREATMENT_RESPONSE.search(text[start:end]) and bool(_AFTER_TREATED.search(after))
    after_hist = not _SAME_AS_PRIOR.match(after) and (treated or bool(_AFTER_HIST.search(after)))
    historical = bool(_NEAR_HIST.search(before) or _CLAUSE_HIST.search(before) or after_hist)
    # "previously LR-3, now LR-4": a "now" between cue and mention resets the cue.
    if historical and re.search(r"\b(?:now|currently|today|upgraded\s+to|downgraded\s+to|(?<!compared\s)(?<!relative\s)(?<!similar\s)to)\s*[^.;]{0,15}$", before, re.I):
        historical = after_hist
    listed = _LIST_TAIL.sub("", before)
    clause = re.split(r"[,:(]", listed)[-1]
    denied_after = _AFTER_SUPPOSED.match(after) or _AFTER_DENIED.match(after)
    list_denied = listed != before and _LIST_DENIED.search(listed)
    if _DENIED.search(clause) or _SUPPOSED.search(before) or denied_after or list_denied:
        historical = True
    return historical, bool(_OVERALL.search(before))


