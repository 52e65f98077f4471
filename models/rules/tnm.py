"""N and M stages a report states: "N2 disease", "cN1", "T2N1M0", "N staging: N2", "M1b", and
the few statements in words that settle a stage on their own.

Regular expressions on purpose (no library parses TNM out of free text). A bare "M1" is
not taken, since "the M1 segment" of the middle cerebral artery is common in neuro reports;
an M or N counts only with a clinical prefix (c/p/y/r), inside a T..N..M string, after an
"N stage:"/"M staging:"/"N:"/"Nodes:" lead-in, followed by "disease"/"stage", with a
subdivision letter ("M1a", "N2b"), followed by its count of positive nodes ("N1 (1/12 lymph
nodes positive)") or standing as a sentence of its own ("... in 2 of 14 lymph nodes. M0.").
T, N and M may be joined by spaces, commas, slashes or hyphens ("T2 / N1 / M0"). A stage the
sentence only suspects ("cannot exclude N3 disease", "N1 (possible)"), or two offered as alternatives
("cN1-2", "N2 or N3"), is not stated: the model decides; the M after such an N is still stated ("T3 cN1-2 M0").
Template fields with bare digits ("T: 3  N: 1  M: 0", "T3, N: 1, M: 0") count when they stand together as a
staging string (a T, then N; or N then M), never a lone "N: 1 lesion". A capital run into the T ("CT2 N0 scan") is a
prefix only in an all-caps line or beside a prefixed N.

Described in words (kind "described", a lower confidence than an explicit stage):

- M1 from an unhedged, current statement of distant metastasis that names a distant site
  ("New hepatic metastases", "osseous metastatic disease", "pulmonary nodules consistent
  with metastatic disease", "adrenal mass, most consistent with metastasis"; "consistent",
  "most consistent" and "compatible with" state the leading diagnosis, and a request to confirm
  it does not undo it). Doubt ("suspicious for", "likely", "suggestive of", "possible"...),
  negated, historical or treated mentions, and nodal/regional metastasis (that is N) never
  count; nor do peritoneal or omental sites (T3 in ovarian cancer) or a lung metastasis on the
  same side.
- M0 from a global negation of distant metastasis ("No evidence of distant metastatic
  disease", "No lymphadenopathy or distant metastatic disease"); a negation limited to an
  organ ("no hepatic metastases", "Liver: no metastases") is not global, and any hedged
  mention of metastasis elsewhere in the report withholds it.
- N0 from a global "No lymphadenopathy" (or "Nodal disease absent", "Lymph nodes: none
  enlarged") with no station, region or qualifier, when no other sentence describes an
  enlarged, avid or otherwise suspicious node. A negation of one station ("no mediastinal
  adenopathy") never gives N0.

A stage quoted for a cancer treated before ("status post hemicolectomy for stage III (pT3N1M0)
colon cancer") is not this study's; a tumor board's stage of the current cancer ("cT2 N0 M0 per tumor
board 2025-06-01") is, since its date is the conference's, not a prior study's. An addendum that states a stage revises the report's.
M1 beats M0. An explicit stage beats a described one, except that a described M1 against an
explicit M0 is a contradiction and gives no answer (the model decides).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from models.rules.context import (
    HISTORY_LINE,
    addendum_starts,
    in_last_addendum,
    mention_context,
    sentence_head,
    words_after,
)
from models.text import sentence_spans

__all__ = ["StageMention", "stated_n", "stated_m", "described_n", "described_m"]

StageKind = Literal["stated", "described", "derived"]


@dataclass(frozen=True)
class StageMention:
    stage: str  # "N0".."N3" or "M0"/"M1"
    start: int
    end: int
    kind: StageKind = "stated"  # "described": read from words ("no distant metastatic disease"), not an explicit stage
    # "derived" (models.rules.nodes): worked out from the described nodes by an organ rule; it names
    # the sentences it used (spans) and says how (note), since no one phrase carries the stage.
    spans: tuple[tuple[int, int], ...] = ()
    note: str | None = None


_PFX = r"(?:[cpyu]|yc|yp|r|mr|ymr)?"  # "mrT3 N1": MRI staging of rectal cancer; "uT3 N1": endoscopic ultrasound
# Suffixes after an N or M: the subdivision letter, micrometastasis ("pN1mi"), sentinel node
# ("pN0(sn)"), isolated tumour cells ("pN0(i+)"), molecular findings ("pN0(mol-)").
_SUF = r"[a-d]?(?:mi\b|\((?:mi|sn|i[+\-]|mol[+\-])\))?"
# Between the letters: nothing, a space, a comma or a slash ("T2 / N1 / M0"), and after T or N a short
# bracket of what the stage rests on ("pT3, N1 (2/14 nodes positive), M0").
_TNM_SEP = r"(?:\s*\([^()\n]{1,40}\))?\s*[,/\-–|]?\s*"
# In a T..N..M string the prefixes and subdivisions may be capitals too (all-caps reports: "CT2 CN1 CM0").
_CPFX = r"(?i:[cpyu]|yc|yp|r|mr|ymr)?"
# An N offered as one of two ("T3 cN1-2 M0", "T2 N2 or N3, M0"): the string goes on to its M, which is stated even
# though the N is not (_alternative drops the N). Not a count of nodes after a dash ("pN1 - 2 of 15 nodes").
_N_OTHER = r"(?:\s*(?:-|–|/|\bor\b)\s*(?:(?i:[cpy]|yc|yp)?N)?[0-3](?i:[a-d])?(?![.\d])(?!\s*(?:cm|mm|of|/)\b))?"
_TNM = re.compile(
    rf"\b{_CPFX}T(?:[0-4](?i:[a-d])?|(?i:is)|[xX])(?:\((?:m|\d)\))?{_TNM_SEP}{_CPFX}(?P<n>N[0-3xX])(?i:{_SUF})"
    rf"(?:{_N_OTHER}{_TNM_SEP}{_CPFX}(?P<m>M[01xX])(?i:[a-d])?)?(?![\w])"
)
# Template fields with bare digits ("T: 3  N: 1  M: 0", "T3, N: 1, M: 0", "N: 2, M: 0"): read only when the fields
# stand together as a staging string (a T field or T stage, then N; or N then M), so a lone "N: 1 lesion" is
# no stage. The fields may be on consecutive lines of a template.
# Between fields, a short bracket of what one rests on ("N: 0 (0/14)"); after the last, a bracket is left to the
# hedge check ("M: 0 (possible)").
_FIELD_SEP = r"(?:[ \t]*\([^()\n]{1,40}\))?[ \t]*[,;/|]?[ \t]*(?:\n[ \t]*(?:[-•*][ \t]*)?)?"
_FIELD_END = r"(?![\w.]\d|\w)(?![ \t]*(?:mm|cm|of|/|lesions?|nodes?|nodules?|foci|masses|sites?)\b)"
_T_FIELD = r"\b(?:(?i:[cpy]|yc|yp|mr)?T[ \t]*[:=][ \t]*|(?i:[cpy]|yc|yp|mr)?T)(?:[0-4](?i:[a-d])?|(?i:is)|[xX])(?![\w.]\d|\w)"
# "N: 1-2" offers two N stages (_alternative drops the N), and the M field after it is still read.
_N_FIELD = r"\bN[ \t]*[:=][ \t]*(?P<{}>[0-3xX])(?i:[a-c])?(?:[ \t]*(?:-|–|/|\bor\b)[ \t]*[0-3](?![.\d]))?"
_M_FIELD = r"\bM[ \t]*[:=][ \t]*(?P<{}>[01xX])(?i:[a-c])?"
_TNM_FIELDS = re.compile(
    rf"(?:{_T_FIELD}{_FIELD_SEP}{_N_FIELD.format('n')}{_FIELD_END}(?:{_FIELD_SEP}{_M_FIELD.format('m')}{_FIELD_END})?"
    rf"|{_N_FIELD.format('n2')}{_FIELD_END}{_FIELD_SEP}{_M_FIELD.format('m2')}{_FIELD_END})"
)
# A template lead-in: "N stage: N2", "Nodal status: pN0", "N: N1", "Nodes: N2", "M: M0", "Metastases: M1b".
_N_LEAD = (r"(?:\b(?:N|(?i:nodal))[\s\-]?(?i:stag(?:e|ing)|category|status)\s*(?i:is\s*)?[:=|]?|\bN\s*[:=|]|"
           r"\b(?i:(?:regional\s+)?(?:lymph\s+)?nodes?|nodal(?:\s+disease)?)\s*(?:\(\s*N\s*\)\s*)?[:=])")
_M_LEAD = (r"(?:\b(?:M|(?i:metastasis|metastatic))[\s\-]?(?i:stag(?:e|ing)|category|status)\s*(?i:is\s*)?[:=|]?|\bM\s*[:=|]"
           r"|\b(?i:(?:distant\s+)?metastas[ie]s)\s*(?:\(\s*M\s*\)\s*)?[:=])")
# A sentence (or list item) that is nothing but the stage: line start or a sentence end before it,
# a stop, semicolon or line end after it.
# "Staging: N0, M0", "TNM: N1 M0": a staging lead-in before the N (and M) of the string, T left out.
# "Staging: T2 N1", and the verb forms "staged as N1", "upstaged to N3", "restaged as ycN0".
_STAGING_LEAD = (r"(?:\b(?i:(?:clinical\s+|pathologic(?:al)?\s+|ajcc\s+)?(?:stag(?:e|ing)|tnm))\s*[:=]\s*"
                 r"|\b(?i:(?:up|down|re)?-?staged\s+(?:as|to|at))\s+)")
_T_PART = rf"(?:{_PFX}T(?:[0-4][a-d]?|is|[xX])\s*[,/;]?\s*)?"
# A bare stage explained by the bracket after it: "N2 (ipsilateral mediastinal nodes)", "M0 (no distant
# metastasis on CT)". Not a nodal station: "N2 (mediastinal) stations".
_N_WHY = r"(?=[^()\n]{0,60}\b(?i:nodes?|nodal|lymph\w*|adenopathy|hilar|mediastinal|supraclavicular|axillary|cervical)\b)"
_M_WHY = r"(?=[^()\n]{0,60}\b(?i:metasta\w*|mets|distant)\b)"
_ALONE_BEFORE = r"(?:(?<=^)|(?<=\n)|(?<=[.;]\s)|(?<=[.;]\s\s))[\s\-•*]*"
_ALONE_AFTER = r"\s*(?=[.;]?\s*(?:$|\n)|[.;]\s)"
_N = re.compile(
    rf"(?:\b(?:[cpyru]|yc|yp)(?P<a>N[0-3]){_SUF}(?!\w)"
    rf"|{_N_LEAD}\s*{_PFX}(?P<b>N[0-3]){_SUF}(?!\w)"
    rf"|\b(?P<c>N[0-3])[a-d]?\s+(?i:disease|nodal\s+disease|stage|category)\b"
    rf"|\(\s*{_PFX}(?P<d>N[0-3]){_SUF}\s*\)"
    # A subdivided stage needs no lead-in: "N2b", "N3c" name nothing else.
    rf"|\b(?P<e>N[1-3])[a-c]\b"
    # A bare stage right after the nodes it grades: "regional nodal metastases, N2".
    rf"|(?i:\b(?:nodes?|nodal|lymph\w*|(?:lymph)?adenopathy)\b)(?:(?!(?i:station))[^.;:\n()]){{0,40}}?,?\s"
    rf"(?P<f>N[0-3])(?!\w)(?!(?:\s*(?:,|/|and|or)\s*N[0-3])*\s*(?i:station))"
    # The count of positive nodes right after it: "N1 (1/12 lymph nodes positive)", "N0 (0/15)".
    rf"|\b(?P<g>N[0-3])[a-d]?\s*\(\s*\d{{1,2}}\s*(?:/|of)\s*\d{{1,2}}(?:\s+(?i:(?:lymph\s+)?nodes?)|\s*\))"
    # A stage that is its whole sentence: "Metastatic in 2 of 14 lymph nodes. N1."
    rf"|{_ALONE_BEFORE}(?P<h>N[0-3]){_ALONE_AFTER}"
    rf"|{_STAGING_LEAD}{_T_PART}{_PFX}(?P<i>N[0-3]){_SUF}(?!\w)"
    rf"|\b(?P<j>N[0-3])[a-d]?\s*\({_N_WHY}[^()\n]*\)(?!\s*(?i:stations?|(?:lymph\s+)?nodes?|lymphadenopathy)))"
)
_M = re.compile(
    rf"(?:\b(?:[cpyr]|yc|yp)(?P<a>M[01])[a-d]?\b"
    rf"|{_M_LEAD}\s*{_PFX}(?P<b>M[01])[a-d]?\b"
    rf"|\b(?P<c>M[01])[a-d]?\s+(?i:disease|stage|category)\b"
    rf"|\(\s*{_PFX}(?P<d>M[01])[a-d]?\s*\)"
    # "M1a", "M1c": a subdivided M1 is a stage (the MCA's M1 segment has no letter).
    rf"|\b(?P<e>M1)[a-d]\b"
    # A bare stage right after the metastases it grades, as N's group f: "No distant metastases, M0", "hepatic
    # metastases, M1" (not an MCA segment: "distant M1 segment").
    rf"|(?i:\b(?:metasta\w*|mets|distant\s+(?:disease|spread))\b)[^.;:\n()]{{0,40}}?,\s*(?P<f>M[01])[a-d]?\b"
    rf"(?!\s*(?i:segment|branch))"
    # A stage that is its whole sentence: "(2/14) nodes positive. M0." (no MCA segment stands alone).
    rf"|{_ALONE_BEFORE}(?P<h>M[01])[a-d]?(?:\s*\((?i:i|mol)[+\-]\))?{_ALONE_AFTER}"
    rf"|{_STAGING_LEAD}{_T_PART}(?:{_PFX}N[0-3x][a-d]?\s*[,/;]?\s*)?{_PFX}(?P<i>M[01])[a-d]?\b"
    rf"|\b(?P<j>M[01])[a-d]?\s*\({_M_WHY})"
)


# A stage the sentence only suspects ("cannot exclude N3 disease", "suspicious for M1b disease",
# "possible contralateral node (N3)", "N1 (possible)"): not stated, the model decides.
_STAGE_HEDGE_BEFORE = re.compile(
    r"(?:\b(?:can\s*not|can't|cannot|could\s+not)\s+(?:be\s+)?(?:exclude|rule\s+out)\w*|\b(?:suspicio\w*|suspected|concern\w*|"
    r"suspect|possibl[ey]|probabl[ey]|questionabl[ey]|equivocal|likely|may|might|could|presum\w*|versus|vs)\b|\?)[^.;:,]{0,40}$",
    re.IGNORECASE,
)
_STAGE_HEDGE_AFTER = re.compile(
    r"^\)?\s*(?:\(\s*|,\s*|-\s*)?(?:(?:is|are)\s+)?(?:possible|probable|suspected|questionable|equivocal|likely|\?"
    r"|(?:disease\s+)?(?:versus|vs\.?)\s"
    r"|(?:can\s*not|cannot|not)\s+(?:be\s+)?(?:excluded|ruled\s+out)|(?:can\s*not|cannot)\s+(?:exclude|rule\s+out)\b)",
    re.IGNORECASE,
)


def _hedged_stage(text: str, start: int, end: int) -> bool:
    """A stage the sentence only suspects, by a hedge before it in its clause or right after it."""
    line_end = text.find("\n", end)
    before = sentence_head(text, start)
    after = words_after(text, end, len(text) if line_end < 0 else line_end)  # "N2\n(possible)": the bracket goes on
    return bool(_STAGE_HEDGE_BEFORE.search(before) or _STAGE_HEDGE_AFTER.match(after))


# A stage quoted for a cancer treated before, earlier in its sentence ("Status post right hemicolectomy
# 2019 for stage III (pT3N1M0) colon cancer", "history of breast cancer (pT2 pN1a M0)"): brackets and
# commas do not end the cue (mention_context's clause cues stop at them). A "now", "new" or
# "recurrent" after the cue makes it current again; y/r-prefixed stages are current by definition.
_PRIOR_CANCER = re.compile(
    r"\b(?:history\s+of|h/o|hx\s+of|treated\s+for|previously|remote|formerly|"
    r"(?:status\s+post|s/p|after|following)\s+(?:\w+\s+){0,3}?(?:\w+ectomy|resection|excision|surgery|"
    r"chemo\w*|radiation|radiotherapy|chemoradiation|therapy|treatment))\b"
    r"(?![^.;\n]*\b(?:now|currently|new(?:ly)?|recurren\w*|restag\w*)\b)[^.;\n]{0,100}$",
    re.IGNORECASE,
)


_HISTORY_CUE = re.compile(r"\b(?:history\s+of|h/o|hx\s+of|previously|remote|formerly)\b"
                         r"(?![^.;\n]*\b(?:now|currently|new(?:ly)?|recurren\w*|restag\w*)\b)[^.;\n]{0,100}$", re.IGNORECASE)


def _prior_cancer_stage(text: str, start: int) -> bool:
    """A stage written for a cancer treated before (see _PRIOR_CANCER)."""
    before = sentence_head(text, start)
    if re.match(r"(?:y|r)", text[start : start + 1], re.IGNORECASE):
        # A y/r stage is staged after treatment: a treatment cue does not make it old, a history cue does
        # ("History of rectal cancer (ypT2N0) status post LAR 2022").
        return bool(_HISTORY_CUE.search(before))
    return bool(_PRIOR_CANCER.search(before))


def _revised(text: str, found: list[StageMention]) -> list[StageMention]:
    """The mentions of the last addendum stating any (an addendum revises the report), else all."""
    inside = in_last_addendum(text, [s.start for s in found])
    return [s for s in found if s.start in inside] if inside else found


# A staging of this patient's current cancer by the tumor board ("cT2 N0 M0 per tumor board 2025-06-01",
# "Tumor board 2025-06-01: cT3 cN1 cM0"): the conference's date is not a prior study's, so the phrase is
# blanked before the prior-study cues are read (a history or treatment cue still makes the stage old).
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_TUMOR_BOARD = re.compile(
    r"\b(?:(?:per|at|from|by|according\s+to|discussed\s+at|reviewed\s+at)\s+(?:the\s+)?)?(?:multi-?disciplinary\s+)?"
    r"(?:tumou?r\s+board|MDT|tumou?r\s+conference|cancer\s+conference|multi-?disciplinary\s+(?:team|conference|meeting))"
    r"(?:\s+(?:review|meeting|discussion|consensus|conference))?"
    rf"(?:\s*,?\s*(?:on|of|dated)?\s*\(?\s*(?:(?:19|20)\d\d-\d\d(?:-\d\d)?|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}"
    rf"|{_MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d\d|\d{{1,2}}\s+{_MONTH}\s+(?:19|20)\d\d)\s*\)?)?",
    re.IGNORECASE,
)


def _without_tumor_board(text: str) -> str:
    """The text with tumor-board attributions blanked (same length, so offsets hold)."""
    return _TUMOR_BOARD.sub(lambda m: " " * len(m.group(0)), text)


# A legend of the N or M categories ("M0. No distant metastasis. M1. Distant metastasis.", "N0 = no regional
# lymph node metastasis; N1 = ..."): two or more codes of one letter, each followed by its definition.
_STAGE_DEFINITION = re.compile(
    r"(?<![\w\-])[cpy]?(?P<code>[NM][0-3][a-d]?)\b\s*[.:=\-–)]?\s*"
    r"(?=(?:no\s+)?(?:distant\s+metasta|regional\s+(?:lymph\s+)?nod|metasta\w*\s+(?:in|to)\b|(?:lymph\s+)?nod\w*\s+metasta))",
    re.IGNORECASE,
)


def _legend_ranges(text: str) -> list[tuple[int, int]]:
    """Spans of N/M legends: first code to the end of the last entry's definition."""
    entries = list(_STAGE_DEFINITION.finditer(text))
    ranges = []
    for a, b in zip(entries, entries[1:], strict=False):
        ca, cb = a.group("code").upper(), b.group("code").upper()
        if ca[0] == cb[0] and ca[:2] != cb[:2] and b.start() - a.end() <= 150:
            stop = re.compile(r"[.;\n]").search(text, b.end())
            ranges.append((a.start(), stop.end() if stop else len(text)))
    return ranges


# A stage written as its own sentence counts only in a report about a cancer, and never beside a
# cerebral artery ("Acute thrombus in the left MCA.\nM1." names the segment).
_CANCER_CONTEXT = re.compile(
    r"\b(?:[cpy]{0,2}T(?:[0-4]|is)[a-d]?|stag\w*|TNM|AJCC|metasta\w*|carcinoma|cancer|malignan\w*|neoplas\w*|tumou?r|"
    r"(?:lymph\s+)?nod(?:es?|al))\b",
    re.IGNORECASE,
)
_CEREBRAL_VESSEL = re.compile(
    r"\b(?:MCA|ACA|PCA|ICA|(?:middle|anterior|posterior)\s+cerebral|internal\s+carotid|basilar|cerebral\s+arter\w*|"
    r"thrombectomy|LVO|large[\s\-]vessel|stroke|sylvian|circle\s+of\s+willis|[AMP][2-4]\s+segments?)\b",
    re.IGNORECASE,
)


def _lone_stage_ok(text: str) -> bool:
    return bool(_CANCER_CONTEXT.search(text)) and not _CEREBRAL_VESSEL.search(text)


def _glued_capital(text: str, m: re.Match[str]) -> bool:
    """A capital letter before the T that is no clinical prefix: "CT2 N0 scan" (a series or modality word run into
    the T) in a sentence written in lower case, where a prefix would be "cT2". In an all-caps line ("CLINICAL STAGE:
    CT2B CN2 CM0"), or with the N prefixed too ("CT2 cN0"), the capital is the prefix."""
    if m.group(0)[0] in "Tt" or m.group(0)[0].islower():
        return False
    a = text.rfind("\n", 0, m.start()) + 1
    b = text.find("\n", m.end())
    line = text[a : len(text) if b < 0 else b]
    n_prefixed = m.start("n") > 0 and text[m.start("n") - 1].isalpha()
    return any(ch.islower() for ch in line) and not n_prefixed


# Two stages offered as alternatives or a range ("cN1-2", "N1/N2 disease", "N2 or N3", "T2 N2-3 M0"): the report
# states neither (as with "N1 vs N2"), so both are left to the model. Not a size after a dash ("N2 - 3.1 cm node"),
# nor a count of nodes ("pN1 - 2 of 15 nodes").
# The other member is of the same letter ("T2/N1/M0" joins three letters, no alternative).
_ALTERNATIVE_AFTER = {
    letter: re.compile(rf"[a-d]?\s*(?:-|–|/|\bor\b)\s*(?:(?:[cpy]|yc|yp)?{letter})?[0-3](?![.\d])(?!\s*(?:cm|mm)\b)(?!\s*(?:of|/)\s*\d)",
                       re.IGNORECASE)
    for letter in "NM"
}
_ALTERNATIVE_BEFORE = {
    letter: re.compile(rf"\b(?:[cpy]|yc|yp)?{letter}[0-3][a-d]?\s*(?:-|–|/|\bor\b)\s*(?:[cpy]|yc|yp)?$", re.IGNORECASE)
    for letter in "NM"
}


def _alternative(text: str, start: int, end: int) -> bool:
    """The stage at [start, end) is one of two offered (see _ALTERNATIVE_AFTER)."""
    letter = text[start].upper()
    return bool(_ALTERNATIVE_AFTER[letter].match(text, end)
                or _ALTERNATIVE_BEFORE[letter].search(text[max(0, start - 12) : start]))


def _collect(text: str, rx: re.Pattern[str], key: str) -> list[StageMention]:
    out: list[StageMention] = []
    for m in _TNM.finditer(text):
        if _glued_capital(text, m) or (m.group(key) and _alternative(text, m.start(key), m.end(key))):
            continue
        if key == "n" and m.group("m") and m.group(key) and _STAGE_HEDGE_AFTER.match(text[m.end(key) : m.end(key) + 60]):
            continue  # "T2 N1 (possible) M0": the bracket inside the string hedges the N only
        if m.group(key) and not m.group(key).lower().endswith("x"):
            out.append(StageMention(m.group(key), m.start(), m.end()))
    for m in _TNM_FIELDS.finditer(text):
        group = key if m.group(key) else f"{key}2"  # the T..N(..M) form or the N..M form
        digit = m.group(group)
        if digit is None or digit in "xX" or _ALTERNATIVE_AFTER[key.upper()].match(text, m.end(group)) \
                or _hedged_stage(text, m.start(), m.end()):
            continue  # "N: X" is no stage; "N: 1-2" offers two; "T: 3 N: 1 M: 0 (possible)" suspects all three
        if not any(s.start <= m.start() < s.end for s in out):
            # ending at its own digit, so a hedge right after it is its own: "N: 1 (possible), M: 0"
            out.append(StageMention(f"{key.upper()}{digit}", m.start(), m.end(group)))
    for m in rx.finditer(text):
        group = next(g for g in "abcdefghij" if g in rx.groupindex and m.group(g))
        # A bare stage after its nodes is the stage alone (the nodes are its context, not its text).
        start, end = (m.start(group), m.end(group)) if group in "fi" else (m.start(), m.end())
        if group == "f":
            # The words the stage grades, from the start of their clause: "No lymph nodes ... N2", "No distant
            # metastases, M1" deny them (not a stage); "Possible hepatic metastases, M1" suspects them.
            clause = max(text.rfind(c, 0, m.start()) for c in ".;\n") + 1
            graded = text[clause : m.end()]
            denied = re.search(r"\b(?:no|without|negative\s+for)\b", graded, re.IGNORECASE)
            if denied and m.group(group) not in ("N0", "M0"):
                continue
            # ("No suspicious lymph nodes, N0": a denial, whose "suspicious" hedges nothing.)
            if not denied and (_hedged_stage(text, m.start(), m.end(group))
                               or _STAGE_HEDGE_BEFORE.search(text[clause : m.start()])):
                continue
        if group == "h" and not _lone_stage_ok(text):
            continue
        if _alternative(text, m.start(group), m.end(group)):
            continue
        if not any(s.start <= start < s.end for s in out):
            out.append(StageMention(m.group(group), start, end))
    legends = _legend_ranges(text)
    out = [s for s in out if not any(a < s.end <= b for a, b in legends)]
    cues = _without_tumor_board(text)
    return [s for s in out if not mention_context(cues, s.start, s.end)[0]
            and not _hedged_stage(text, s.start, s.end) and not _prior_cancer_stage(text, s.start)]


def stated_n(text: str) -> StageMention | None:
    """The highest N stage the text states for this study (history lines and prior cues ignored);
    without an explicit N stage, N0 from a safe global "No lymphadenopathy" (kind "described")."""
    found = _revised(text, _collect(text, _N, "n"))
    if found:
        return max(found, key=lambda s: (s.stage, s.start))
    return described_n(text)


def stated_m(text: str) -> StageMention | None:
    """M1 when any current M1 is stated, else M0 when stated; without an explicit M stage, the
    stage described in words (kind "described"), else None."""
    described = described_m(text)
    # An addendum that states an M stage (explicit or in words) revises the report's.
    both = _revised(text, _collect(text, _M, "m") + ([described] if described else []))
    found = [s for s in both if s.kind == "stated"]
    described = next((s for s in both if s.kind != "stated"), None)
    if found:
        best = max(found, key=lambda s: (s.stage, s.start))
        if best.stage == "M0" and described is not None and described.stage == "M1":
            return None  # an explicit M0 against a description of distant metastasis: leave it to the model
        return best
    return described


# ---- stages described in words ---------------------------------------------------------------

_I = re.IGNORECASE
_MET_TERM = (r"(?:metastas[ie]s|metastatic\s+(?:disease|lesions?|deposits?|foci|focus|nodules?|implants?|involvement|spread|masses)"
             r"|mets)\b")
_MET = re.compile(r"\b" + _MET_TERM, _I)
# Words that tie a metastasis to a distant (M) site. Peritoneal/omental sites are left out on
# purpose: peritoneal spread is T3 in ovarian cancer, M1 elsewhere.
_DISTANT_SITE = re.compile(
    r"\b(?:distant|hepatic|liver|osseous|bone|bony|skeletal|vertebral|spinal|calvarial|pulmonary|lungs?|brain|cerebral|"
    r"cerebellar|intracranial|adrenals?|pleural|leptomeningeal|splenic|subcutaneous|cutaneous|widespread|disseminated|"
    r"visceral|multi-?organ|(?:osteo)?lytic|(?:osteo)?blastic|contralateral)\b",
    _I,
)
_NODAL = re.compile(r"\b(?:nodes?|nodal|lymph\w*|adenopathy|regional|stations?)\b", _I)
_SAME_SIDE = re.compile(r"\b(?:ipsilateral|same\s+lobe|satellite)\b", _I)
# Hedged, hypothetical or conditional wording (README: hedged wording is uncertain). Affirmative:
# "consistent with", "most consistent with" (the radiologist's leading diagnosis, the dev label's
# reading of dev-037), "compatible with", "in keeping with", "diagnostic of". Doubt ("suspicious
# for", "likely", "suggestive of", "cannot exclude") leaves the stage to the model: AJCC's rule is
# to take the lower category when in doubt, and the rules never write M0 for a suspected M1.
_HEDGE = re.compile(
    r"\b(?:suspicio\w*|suspect\w*|concern\w*|worr\w*|possibl[ey]|probabl[ey]|likely|unlikely|may|might|could|cannot|"
    r"can\s*not|can't|exclude[ds]?|rule[sd]?\s+out|r/o|question\w*|equivocal|indeterminate|non-?specific|uncertain|"
    r"unclear|versus|vs|differential|favou?r\w*|suggest\w*|presum\w*|potential\w*|atypical|borderline|"
    r"characteri[sz](?:e|ed|ation)|raises?|correlat\w*|to\s+be\s+confirmed|for\s+confirmation|"
    r"until\s+proven|consider\w*|evaluat\w*|assess\w*|work-?up|survey|if|should|would|whether|or|either)\b|\?",
    _I,
)
_NEGATION = re.compile(
    r"\b(?:no|not|without|negative|free\s+of|absent|absence|nor|neither|none|rather\s+than|instead|resolved|"
    r"resolution|no\s+longer)\b|n't\b",
    _I,
)
_PAST = re.compile(
    r"\b(?:history|hx|prior|previous(?:ly)?|formerly|treated|(?:post|after)[\s\-]?(?:treatment|therapy|radiation|"
    r"chemotherapy|resection|ablation)|s/p|status\s+post|resected|ablated|irradiated|healed|remote|decreas\w*|smaller|"
    r"regress\w*|respon\w*|in\s+the\s+past)\b",
    _I,
)
# Comparison phrases that mark a finding as new, not as historical or negated.
_NEW_SINCE = re.compile(
    r"\b(?:not|no)\s+(?:present|seen|visible|identified|evident|demonstrated)\s+(?:on|in)\s+(?:the\s+)?"
    r"(?:prior|previous|earlier|outside|\d)[^,;]*"
    r"|\b(?:compared\s+(?:with|to)|since|from|relative\s+to)\s+(?:the\s+)?(?:prior|previous|earlier)\b(?:\s+\w+)?"
    r"|\bno\s+prior\s+(?:imaging|studies|study|exams?|examinations?|comparison)\b(?:\s+(?:for|available)\b(?:\s+comparison)?)?",
    _I,
)

# Before a global statement only a list number, a general heading or "there is/are" may stand. A general
# heading may name the study or its purpose ("PET/CT staging:", "CT staging impression:", "Staging PET/CT:").
_LIST = r"(?:\(?\d{1,2}[.)]\s*)?"
_STUDY = r"(?:pet(?:[/\-]ct)?|ct|mri?|fdg|whole[\s\-]body|clinical|radiologic(?:al)?|imaging|initial|tnm|ajcc)"
_GENERAL = (rf"(?:(?:{_STUDY}\s+){{0,3}}(?:impression|conclusions?|summary|staging(?:\s+(?:impression|summary))?)"
            rf"(?:\s+{_STUDY}){{0,2}})")
_GLOBAL_LEAD = re.compile(
    rf"^\s*{_LIST}(?:(?:{_GENERAL}|metastases|metastatic\s+disease|"
    rf"distant\s+metastas[ie]s)\s*:\s*{_LIST})?(?:there\s+(?:is|are)\s+)?$",
    _I,
)
_LEAD_BAD = re.compile(
    r"\b(?:apart|aside|except\w*|other\s+than|besides|otherwise|but|although|however|though|probabl[ey]|likely|possibl[ey]|"
    r"definite\w*|obvious\w*|convincing\w*|[a-z]+:)",
    _I,
)
_NODE_LEAD = re.compile(
    rf"^\s*{_LIST}(?:(?:{_GENERAL}|lymph\s+nodes|nodes|lymphadenopathy|"
    rf"adenopathy|nodal\s+(?:status|disease))\s*:\s*{_LIST})?(?:there\s+(?:is|are)\s+)?$",
    _I,
)
_M0_TARGET = r"(?:distant\s+)?" + _MET_TERM
_M0 = re.compile(
    # "No (CT) evidence of distant metastatic disease", "without evidence of metastases"
    r"\b(?:no|without)\s+(?:(?:ct|pet(?:[/\-]ct)?|mri?|imaging|radiographic|radiologic|sonographic|scintigraphic)\s+)?"
    r"(?:evidence|signs?|findings?)\s+(?:of|for|to\s+suggest)\s+(?:nodal\s+or\s+)?" + _M0_TARGET
    # "No lymphadenopathy or distant metastatic disease"
    + r"|\b(?:no|without)\s+(?:(?:enlarged|pathologic(?:al)?|suspicious)\s+)?(?:lymphadenopathy|adenopathy|(?:lymph\s+)?nodes)"
    r"\s*,?\s+(?:or|nor)\s+(?:evidence\s+of\s+)?" + _M0_TARGET
    # "No distant metastases", "no metastatic disease", "negative for distant metastatic disease"
    + r"|\b(?:no|without|negative\s+for)\s+(?:nodal\s+or\s+)?" + _M0_TARGET
    # "Distant metastatic disease is not identified", "distant metastases: none"
    + r"|\b" + _M0_TARGET + r"(?:\s+(?:is|are)\s+(?:not\s+(?:seen|identified|present|evident|demonstrated|detected)|absent)"
    r"|\s*:\s*(?:none|no|absent|negative|not\s+identified)\b)",
    _I,
)
# What may follow a global M0 statement: the imaged field, or nothing.
_REGION = (r"(?:(?:visuali[sz]ed|imaged|included|scanned|partially\s+imaged)\s+(?:portions?\s+of\s+the\s+)?)?"
           r"(?:chest|thorax|(?:upper\s+)?abdomen|pelvis|neck|body|field(?:\s+of\s+view)?|portions?|regions?|structures)")
_M0_TAIL = re.compile(
    rf"^(?:\s*(?:(?:with)?in|of|involving)\s+the\s+{_REGION}(?:\s*,?\s*(?:and|or)?\s*(?:the\s+)?{_REGION})*"
    r"|\s*(?:on|by|at)\s+(?:this\s+|the\s+)?(?:ct|pet(?:/ct)?|mri?|imaging|study|exam(?:ination)?)"
    r"|\s*(?:(?:is|are)\s+)?(?:seen|identified|present|evident|demonstrated|detected))*\s*[.;]?\s*$",
    _I,
)
_N0 = re.compile(
    r"\b(?:no|without)\s+(?:(?:ct|pet(?:[/\-]ct)?|imaging|radiographic)\s+)?(?:evidence\s+of\s+)?"
    r"(?:(?:(?:pathologic(?:al)?|enlarged|suspicious)\s+)?(?:lymphadenopathy|adenopathy)|(?:lymph\s+)?node\s+enlargement"
    r"|(?:pathologic(?:al)?(?:ly\s+enlarged)?|enlarged|suspicious)\s+(?:lymph\s+)?nodes"
    r"|(?:lymph\s+node|nodal)\s+(?:or\s+distant\s+)?(?:metastas[ie]s|metastatic\s+disease|disease))\b",
    _I,
)
_N0_TAIL = re.compile(
    r"^(?:\s*(?:is|are)\s+(?:seen|identified|present|evident)"
    # the whole staging field: "in the chest, abdomen or pelvis", "in the imaged field"
    r"|\s*(?:with)?in\s+the\s+(?:chest|thorax)\s*,?\s*(?:the\s+)?abdomen\s*,?\s*(?:(?:and|or)\s+)?(?:the"
    r"\s+)?pelvis"
    r"|\s*(?:with)?in\s+the\s+(?:imaged|scanned|visuali[sz]ed)\s+(?:field|regions?|body)"
    r"|\s*(?:by|at)\s+(?:ct\s+|imaging\s+)?size\s+criteria"
    r"|\s*,?\s*(?:or|nor)\s+(?:evidence\s+of\s+)?" + _M0_TARGET + ")*" + r"\s*[.;]?\s*$",
    _I,
)
# Absence stated after the subject ("Nodal disease absent", "Pathologically enlarged nodes: none",
# "Lymph nodes: none enlarged"), with only a list number or general heading before it.
_N0_ABSENT = re.compile(
    rf"^\s*{_LIST}(?:(?:impression|conclusions?|summary|staging)\s*:\s*{_LIST})?"
    r"(?:(?:regional\s+)?(?:nodal\s+(?:disease|metastas[ie]s|involvement)|lymphadenopathy|adenopathy"
    r"|(?:pathologically\s+enlarged|pathologic(?:al)?|enlarged|suspicious)\s+(?:lymph\s+)?nodes)"
    r"\s*(?:(?:is|are)\s+)?(?::\s*)?(?:absent|none|negative|not\s+(?:seen|identified|present|evident))"
    r"|(?:lymph\s+nodes|nodes)\s*:\s*(?:none(?:\s+(?:enlarged|identified|seen|suspicious))?|not\s+enlarged"
    r"|normal|"
    r"unremarkable|negative|absent))\s*[.;]?\s*$",
    _I,
)
# A node described as abnormal anywhere else withholds N0.
_NODE_OK = re.compile(r"\bnot\s+(?:pathologically\s+|significantly\s+)?enlarged\b|\bnon-?enlarged\b|\bnormal[\s\-]+(?:sized?|in\s+size)\b", _I)
_NODE_SUSPECT = re.compile(
    r"\b(?:enlarg\w*|avid\w*|hypermetabolic|fdg|suv\w*|necro\w*|rounded|round|suspicio\w*|concern\w*|"
    r"worr\w*|metasta\w*|pathologic\w*|abnormal\w*|borderline|prominent|matted|conglomerate|bulky|indeterminate|"
    r"possibl[ey]|probabl[ey]|likely|malignan\w*|tumou?r|involve\w*)\b"
    r"|\b(?:loss|absen\w*|effac\w*)\s+(?:of\s+)?(?:the\s+)?(?:fatty\s+)?hil\w*"
    r"|(?<![\d.])(?:[1-9]\d*(?:\.\d+)?\s*cm|[1-9]\d\s*mm)\b",
    _I,
)


def clause_spans(text: str) -> list[tuple[int, int]]:
    """Clauses (sentences split at ";") of the text outside history/indication lines."""
    out: list[tuple[int, int]] = []
    for a, b in sentence_spans(text):
        line_start = text.rfind("\n", 0, a) + 1
        line_end = text.find("\n", a)
        if HISTORY_LINE.match(text[line_start : len(text) if line_end < 0 else line_end]):
            continue
        start = a
        for part in re.finditer(r";", text[a:b]):
            out.append((start, a + part.start()))
            start = a + part.end()
        out.append((start, b))
    return [(a, b) for a, b in out if text[a:b].strip()]


_HEADING = re.compile(r"^\s*(?:\(?\d{1,2}[.)]\s*)?[A-Za-z][A-Za-z /&,()\-]{0,40}:\s*")


def _heading_of(text: str, a: int) -> str:
    """The heading of the clause's line ("Liver: "), when the clause is not the line's first."""
    m = _HEADING.match(text[text.rfind("\n", 0, a) + 1 : a])
    return m.group(0) if m else ""


_TEMPLATE_LABEL = re.compile(r"\s*(?:\(\s*M\s*\)\s*)?[:=]\s*(?:[cpyr]|yc|yp)?M[01xX]")


def _m1_clause(text: str, a: int, b: int) -> tuple[int, int] | None:
    clause = text[a:b]
    # A line heading ("Liver: ... consistent with metastases") is part of what the clause says.
    scope = _heading_of(text, a) + clause
    met = _MET.search(clause)
    if met is not None and _TEMPLATE_LABEL.match(clause, met.end()):
        return None  # "Distant metastasis (M): M0" is a template's field name, not a finding
    if met is None or not _DISTANT_SITE.search(scope) or _NODAL.search(scope) or _SAME_SIDE.search(scope):
        return None
    if re.search(r"\b(?:peritone\w*|omentum|omental|carcinomatosis)\b", scope, _I):
        return None
    plain = _NEW_SINCE.sub(" ", clause)
    # A next sentence asking for confirmation ("adrenal sampling recommended for confirmation") does not
    # undo an affirmative diagnosis: clinical cM1 rests on imaging, pathology would make it pM1.
    if _HEDGE.search(plain) or _NEGATION.search(plain) or _PAST.search(plain):
        return None
    if mention_context(text, a + met.start(), a + met.end())[0]:
        return None
    return a + met.start(), a + met.end()


def _hedged_metastasis(text: str, a: int, b: int) -> bool:
    """A hedged (not negated) mention of distant metastasis: it withholds a global M0."""
    clause = text[a:b]
    scope = _heading_of(text, a) + clause
    if not _MET.search(clause) or (_NODAL.search(scope) and not _DISTANT_SITE.search(scope)):
        return False
    plain = _NEW_SINCE.sub(" ", clause)
    return bool(_HEDGE.search(plain)) and not re.match(r"\s*(?:\(?\d{1,2}[.)]\s*)?(?:no|without)\b", clause, _I)


def _m0_clause(text: str, a: int, b: int) -> tuple[int, int] | None:
    clause = text[a:b]
    m = _M0.search(clause)
    if m is None:
        return None
    lead = _heading_of(text, a) + clause[: m.start()]
    # "distant" makes the statement global wherever it stands ("Pancreatic mass without distant
    # metastases"), unless the lead-in makes an exception or hedges.
    global_lead = _GLOBAL_LEAD.match(lead) or (re.search(r"\bdistant\b", m.group(0), _I) and not _LEAD_BAD.search(lead))
    if not global_lead or not _M0_TAIL.match(clause[m.end() :]) or _PAST.search(clause):
        return None
    return a + m.start(), a + m.end()


def described_m(text: str) -> StageMention | None:
    """M1 from an unhedged statement of distant metastasis, else M0 from a global negation of it."""
    legends = _legend_ranges(text)
    clauses = [(a, b) for a, b in clause_spans(text) if not any(x < b and a < y for x, y in legends)]
    m1: list[StageMention] = []
    m0: list[StageMention] = []
    hedged: list[int] = []
    for a, b in clauses:
        hit = _m1_clause(text, a, b)
        if hit:
            m1.append(StageMention("M1", *hit, kind="described"))
            continue
        zero = _m0_clause(text, a, b)
        if zero:
            m0.append(StageMention("M0", *zero, kind="described"))
        elif _hedged_metastasis(text, a, b):
            hedged.append(a)
    # What an addendum says about metastasis revises the report ("Addendum: the adrenal nodule is a
    # lipid-rich adenoma. No distant metastatic disease.").
    inside = in_last_addendum(text, [s.start for s in m1 + m0])
    if inside:
        m1 = [s for s in m1 if s.start in inside]
        m0 = [s for s in m0 if s.start in inside]
        region = max(p for p in addendum_starts(text) if p <= min(inside))
        hedged = [h for h in hedged if h >= region]
    if m1:
        return m1[-1]
    if m0 and not hedged:
        return m0[-1]
    return None


def _node_suspect(text: str, a: int, b: int) -> bool:
    """A clause that describes a node as enlarged, avid or otherwise suspicious."""
    clause = text[a:b]
    scope = _heading_of(text, a) + clause
    if not re.search(r"\b(?:nodes?|nodal|lymphadenopathy|adenopathy)\b", scope, _I):
        return False
    body = re.sub(rf"^\s*{_LIST}(?:[A-Za-z][A-Za-z /&-]{{0,30}}:\s*{_LIST})?", "", clause)
    if re.match(r"(?:there\s+(?:is|are)\s+)?(?:no|without|negative\s+for|none)\b", body, _I):
        return False
    return bool(_NODE_SUSPECT.search(_NODE_OK.sub(" ", body)))


def described_n(text: str) -> StageMention | None:
    """N0 from a global "No lymphadenopathy" when nothing else describes a suspicious node."""
    clauses = clause_spans(text)
    hits: list[StageMention] = []
    for a, b in clauses:
        if _node_suspect(text, a, b):
            return None
        clause = text[a:b]
        absent = _N0_ABSENT.match(_heading_of(text, a) + clause)
        if absent:
            hits.append(StageMention("N0", a, b, kind="described"))
            continue
        m = _N0.search(clause)
        if m is None:
            continue
        lead = _heading_of(text, a) + clause[: m.start()]
        if _NODE_LEAD.match(lead) and _N0_TAIL.match(clause[m.end() :]):
            hits.append(StageMention("N0", a + m.start(), a + m.end(), kind="described"))
    return hits[-1] if hits else None
