"""Stated RADS categories: every spelling of the ten systems, normalised to the dev-set spelling.

Hand-written regular expressions rather than a library: no maintained package parses RADS
statements, and the rules must be exact and explainable (each match carries its offsets).

The label is the current overall assessment of this study: mentions in history/indication/
comparison lines, after "prior"/"previously"/"from", in a printed legend of the system's
categories, or of a system that does not belong to the exam (a Lung-RADS in a mammogram) are
dropped; a category stated in an addendum revises the report's and wins; of the rest, an
explicit "overall" wins, else the most severe category by the system's own hierarchy. A category
only not excluded ("cannot exclude BI-RADS 4") is no statement, nor are two offered as alternatives ("PI-RADS 4
versus 5", "BI-RADS 4A/4B"; none is read when either could be the most severe); a bare "Overall: 4B" counts for the exam's
one system only; a pipe table's RADS column gives one category per row; modifiers are read after the
category, later in its sentence (CAD-RADS tokens) or from a separate Lung-RADS "S modifier: Yes" field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.rules.context import HISTORY_LINE, in_last_addendum, mention_context, sentence_head
from models.rules.exam import CODE_SYSTEMS, study_exam
from models.types import RadiologyReport, clean_rads_modifiers

__all__ = [
    "RadsMention", "SEVERITY", "severity_rank", "find_mentions", "legend_ranges", "modifiers_of", "exam_systems",
    "OTHER_TIRADS", "fold_dashes", "normalise", "not_a_statement", "stated_rads", "system_pattern",
]

# Unicode hyphens and dashes a word processor or speech recogniser writes ("BI\u2010RADS", "LR\u20134",
# "Category 4 \u2014 suspicious"), folded to "-" one character for one, so every offset stays the report's own.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d", "-"))


def fold_dashes(text: str) -> str:
    """`text` with every Unicode hyphen or dash as "-" (same length, same offsets)."""
    return text.translate(_DASHES)

# Selection order per system, least to most severe (the ACR "most abnormal finding" rule).
# BI-RADS follows the ACR atlas hierarchy 1, 2, 3, 6, 0, 4, 5; the other incomplete /
# non-diagnostic categories (Lung-RADS 0, O-RADS 0, GB-RADS 0, CAD-RADS N, LR-NC, NI-RADS 0) sit after
# the probably-benign category for the same reason (they need action before anything benign). NI-RADS 0
# (a new baseline while prior imaging is not yet available) is a category the rules read and the guideline
# table manages, although the models' label set (the contract) does not list it.
SEVERITY: dict[str, tuple[str, ...]] = {
    "BI-RADS": ("1", "2", "3", "6", "0", "4", "4A", "4B", "4C", "5"),
    "LI-RADS": ("LR-1", "LR-2", "LR-TR Nonviable", "LR-3", "LR-NC", "LR-TR Nonevaluable", "LR-TR Equivocal",
                "LR-4", "LR-M", "LR-5", "LR-TR Viable", "LR-TIV"),
    "Lung-RADS": ("1", "2", "3", "0", "4A", "4B", "4X"),
    "TI-RADS": ("TR1", "TR2", "TR3", "TR4", "TR5"),
    "PI-RADS": ("1", "2", "3", "4", "5"),
    "O-RADS": ("1", "2", "3", "0", "4", "5"),
    "NI-RADS": ("1", "2a", "2", "2b", "0", "3", "4"),
    "CAD-RADS": ("0", "1", "2", "3", "N", "4A", "4B", "5"),
    "VI-RADS": ("1", "2", "3", "4", "5"),
    "GB-RADS": ("1", "2", "3", "0", "4", "5"),
}


def severity_rank(system: str, category: str) -> int | None:
    """Position of `category` in the system's selection order, or None when unknown."""
    order = SEVERITY.get(system, ())
    return order.index(category) if category in order else None


@dataclass(frozen=True)
class RadsMention:
    """One RADS statement found in the text, with its offsets into that text."""

    system: str
    category: str
    start: int
    end: int
    historical: bool = False
    overall: bool = False
    modifiers: tuple[str, ...] = ()
    """Normalised modifiers written with this category (types.rads_modifier): 'S', 'P2', 'primary 2a'."""


_WORDNUM = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6"}
_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6"}

# A version, edition or modality label of the system: "v2018", "2017", "5th edition", "CT/MRI", "CEUS".
_LABEL = (r"(?:\bv(?:ersion)?\s*\d+(?:\.\d+)?\b|\b(?:19|20)\d\d\b|\b\d\.\d\b|\b\d(?:st|nd|rd|th)\s+ed(?:ition\b|\.)"
          r"|\b(?:atlas|edition|ct\s*/\s*mri?|ceus|ct|us|mri|ultrasound)\b)")
# A side named with its category: "right", "left breast", "bilateral".
_SIDE = r"(?:right|left|bilateral)(?:\s+(?:breasts?|ovary|adnexa|adnexum|lobe|side))?"
# Words that may stand between a system name and its category: "ACR BI-RADS category 4",
# "Lung-RADS v2022 category 3", "PI-RADS v2.1 score 4", "O-RADS US risk category 4", "NI-RADS primary 1".
_FILLER = (
    r"(?:[\s:#=,®™\-–(]|\|(?=[ \t]*[^\s|\-])|\(\s*(?:r|tm)\s*\)|\bv(?:ersion)?\s*\d+(?:\.\d+)?\b|\b(?:19|20)\d\d\b|\b\d\.\d\b"
    # "LI-RADS (v2018) category 5", "O-RADS (US) 3", "BI-RADS (5th edition) category 2", "LI-RADS CT/MRI 4"
    rf"|\(\s*{_LABEL}\s*\)|{_LABEL}"
    # the acronym closing its spelled-out name: "Prostate Imaging-Reporting and Data System (PI-RADS) score 4"
    r"|(?<=rads)\)|(?<=rad)\)"
    # the side the category is for: "BI-RADS: Right 2, Left 4A", "BI-RADS Category Left Breast: 4B"
    rf"|\b{_SIDE}\b"
    r"|\b(?:final|overall|assessment|category|categories|cat\.?|score|level|risk|us|mri|ultrasound|"
    r"lexicon|summary|primary(?:\s+site)?|neck|is|of|was|=)\b|\bcat\."
    # "Lung-RADS category is revised to 2"
    r"|\b(?:now\s+)?(?:revised|changed|amended|updated|corrected|upgraded|downgraded)\s+to\b)*?"
)
_NUM = r"(?:[0-6]|zero|one|two|three|four|five|six|vi|iv|v|iii|ii|i)"
# A number word that counts things is no category: "BI-RADS: two masses", "PI-RADS: three lesions".
# (A singular noun after "one" only: "BI-RADS four lesion" is category 4 of one lesion.)
_COUNT = (r"(?:(?<=\d)|(?<=\d[a-z])|(?<=\d[\s\-][a-z])|(?!\s+(?:\w+\s+){0,2}?(?:masses|lesions|nodules|findings|foci|cysts|"
          r"calcifications|areas|observations)\b|\s+(?:of|more|other|additional)\b"
          r"|(?<=one)\s+(?:\w+\s+){0,2}?(?:mass|lesion|nodule|cyst|focus|observation|area|finding)\b))")
_END = r"(?![\w.]\d|\w|:\d\d|\s*o['’]?\s?clock\b)"  # not "2:00", "4 o'clock"

# The Lung-RADS S modifier: glued or slashed ("2S", "4B S", "4X/S") or named ("3 with S modifier").
_S_DENIED = r"(?![ \t]*[:=\-–]?[ \t]*(?:no|none|negative|absent|n/?a|not)\b)"
_S_PHRASE = rf"[ \t]*[,;]?[ \t]*(?:with[ \t]+|\+[ \t]*)?(?:an?[ \t]+|the[ \t]+)?(?:s[ \t\-]modifier|modifier[ \t]+s)\b{_S_DENIED}"
# CAD-RADS 2.0 modifiers after the category: "4A/P2/HRP/I+", "3 / S / G"; N stays a category of its own.
_CAD_MOD_WORD = r"(?:p[1-4]|hrp|i\s?(?:\+/-|-/\+|[+\-±−])|s|g|e|v)(?![a-z0-9])"
_CAD_MOD = rf"\s?/\s?{_CAD_MOD_WORD}"
# ... or in brackets or after a comma: "CAD-RADS 2 (P1)", "3 (P2, HRP)", "4A [P3]", "2, P2". A lone
# letter after a comma must end its clause ("2, S." but not "2, e.g. ...").
_CAD_MOD_LIST = rf"{_CAD_MOD_WORD}(?:\s*[,/;]\s*{_CAD_MOD_WORD}|\s+and\s+{_CAD_MOD_WORD})*"
_CAD_MODS = (rf"(?:(?:{_CAD_MOD})+|\s*[(\[]\s*{_CAD_MOD_LIST}\s*[)\]]"
             rf"|\s*,\s*(?:p[1-4]|hrp|i\s?(?:\+/-|-/\+|[+\-±−]))(?![a-z0-9])(?:{_CAD_MOD})*"
             rf"|\s*,\s*[sge](?=\s*(?:[;,)(]|\.(?!\w)|\s[-–]\s|$)))?")
_NI_SITE = re.compile(r"(primary|neck)(?:\s+site)?\W*$", re.IGNORECASE)

# A system name as written: "BI-RADS", "BI RADS", "BIRADS4" (glued to its category), "BI- RADS", "BI-RAD" (the
# dropped S of dictation). ACR TI-RADS only: "EU-TIRADS", "K-TIRADS", "C-TIRADS" and Kwak's TIRADS are other scales
# with their own categories (stated_unlisted.py keeps their statements as the report's words).
OTHER_TIRADS = r"(?<!eu-)(?<!eu )(?<!k-)(?<!k )(?<!c-)(?<!c )(?<!kwak-)(?<!kwak )"


def system_pattern(key: str) -> str:
    """The pattern of a system name whose short key is `key` ("bi", "lung", "cad")."""
    return rf"\b{key}(?:[\s\-]{{0,2}}rads|-?rad)(?![a-z])"


_SYS = {
    "BI-RADS": system_pattern("bi"),
    "LI-RADS": system_pattern("li"),
    "Lung-RADS": system_pattern("lung"),
    "TI-RADS": OTHER_TIRADS + r"(?:\bacr[\s\-]?)?" + system_pattern("ti"),
    "PI-RADS": system_pattern("pi"),
    "O-RADS": system_pattern("o"),
    "NI-RADS": system_pattern("ni"),
    "CAD-RADS": system_pattern("cad"),
    "VI-RADS": system_pattern("vi"),
    "GB-RADS": system_pattern("gb"),
}
_CAT = {
    "BI-RADS": rf"(?P<cat>(?:[0-6]|zero|one|two|three|four|five|six|vi|iv|v|iii|ii|i)(?:[\s\-]?[abc](?![a-z]))?){_COUNT}{_END}",
    "LI-RADS": r"(?P<cat>(?:lr[\s\-]?)?(?:tr[\s\-]?(?:non[\s\-]?viable|viable|equivocal|non[\s\-]?evaluable)"
               r"|tiv|5v|nc|m|[1-5])|(?:one|two|three|four|five)(?=\s*(?:[.;,()\n]|$|[\-:]\s)))(?![\w.]\d|\w)",
    "Lung-RADS": rf"(?P<cat>(?:[0-4]|zero|one|two|three|four)(?:[\s\-]?[abx](?![a-z])|[abx](?=s\b))?)"
                 rf"(?P<mod>[ \t]?[/,;]?[ \t]?s(?![\w/])(?!\s*:\s*(?:no|none|negative|absent|n/?a)\b)|[ \t]*\([ \t]*s[ \t]*\)"
                 rf"|{_S_PHRASE})?{_COUNT}{_END}",
    # "ACR TI-RADS 5 points" is a point total (TR4), not a level.
    "TI-RADS": rf"(?P<cat>(?:tr[\s\-]?)?(?:[1-5]|one|two|three|four|five)){_COUNT}{_END}(?!\s*(?:points?|pts?)\b)",
    "PI-RADS": rf"(?P<cat>(?:[1-5]|one|two|three|four|five)){_COUNT}{_END}",
    "O-RADS": rf"(?P<cat>(?:[0-5]|zero|one|two|three|four|five)){_COUNT}{_END}",
    "NI-RADS": rf"(?P<cat>(?:[0-4]|zero|one|two|three|four)(?:\s?[ab](?![a-z]))?){_COUNT}{_END}",
    "CAD-RADS": rf"(?P<cat>(?:[0-5](?:[\s\-]?[ab](?![a-z]))?|n(?![a-z])))(?![\w.]\d)(?P<mod>{_CAD_MODS})",
    "VI-RADS": rf"(?P<cat>(?:[1-5]|one|two|three|four|five)){_COUNT}{_END}",
    "GB-RADS": rf"(?P<cat>(?:[0-5]|zero|one|two|three|four|five)){_COUNT}{_END}",
}
_NAMED = {s: re.compile(_SYS[s] + _FILLER + _CAT[s], re.IGNORECASE) for s in _SYS}
# Short forms that carry their system in the token itself: "LR-5", "LR-TR viable", "TR4".
_LR = re.compile(
    r"(?<![\w\-])lr[\s\-]?(?P<cat>tr[\s\-]?(?:non[\s\-]?viable|viable|equivocal|non[\s\-]?evaluable)|tiv|5v|nc|m|[1-5])"
    r"(?![\w.]\d|\w)",
    re.IGNORECASE,
)
_TR = re.compile(r"(?<![\w\-])tr[\s\-]?(?P<cat>[1-5])(?![\w.]\d|\w)", re.IGNORECASE)
# ... or the score first, its site in brackets: "NI-RADS: 1 (primary), 2 (neck)".
_NI_MORE_AFTER = re.compile(rf"(?:[ \t]*[(\[][ \t]*(?:primary|neck)(?:\s+site)?[ \t]*[)\]])?[ \t]*(?:,|;|and|/)[ \t]*(?P<cat>{_NUM}(?:\s?[ab](?![a-z]))?){_END}"
                            r"(?=[ \t]*[(\[][ \t]*(?:the\s+)?(?:neck|primary)\b)", re.IGNORECASE)
_NI_MORE = re.compile(rf"\s*(?:,|;|and|/)\s*(?:the\s+)?(?:neck|primary(?:\s+site)?)\s*[:=]?\s*(?P<cat>{_NUM}(?:\s?[ab](?![a-z]))?){_END}",
                      re.IGNORECASE)
# A second category after one system name, each with its side: after each ("BI-RADS 2 (right), 4A (left)", "BI-RADS 1
# right, 4B left", "O-RADS US: 2 (right), 3 (left)"), or before each when the first names its side too ("BI-RADS:
# Right 2, Left 4A").
# (A zone, segment or numbered lesion names its part the same way: "PI-RADS: 3 (TZ) / 4 (PZ)", "LI-RADS 3 (segment 2), 5
# (segment 8)".)
_PART = (rf"(?:{_SIDE}|pz|tz|cz|afs|(?:peripheral|transition|central)\s+zone|seg(?:ment)?\.?\s*[1-8]|"
         r"(?:lesion|nodule|observation|target|mass)\s*#?\s*\d{1,2}|#\s*\d{1,2})")
_SIDE_AFTER = rf"[ \t]*(?:[(\[][ \t]*{_PART}[ \t]*[)\]]|{_PART}\b)"
_SIDE_MORE = {s: re.compile(rf"{_SIDE_AFTER}[ \t]*(?:,|;|and|/)[ \t]*{_CAT[s]}(?={_SIDE_AFTER})", re.IGNORECASE)
              for s in _CAT}
_SIDE_BEFORE_MORE = {s: re.compile(rf"\s*(?:(?:,|;|and|/)\s*)?(?:the[ \t]+)?{_SIDE}[ \t]*[:=\-]?[ \t]*{_CAT[s]}", re.IGNORECASE)
                     for s in _CAT}
# US LI-RADS (ultrasound surveillance) named, or one of its categories: "US LI-RADS", "LI-RADS US-2".
_US_LIRADS = re.compile(r"\b(?:us|ultrasound|sonographic)[\s\-]+li[\s\-]?rads\b|\bli[\s\-]?rads\b[^.\n]{0,30}?\bus[\s\-]?[1-3]\b",
                        re.IGNORECASE)
# A bare "Category 4A" / "Assessment category: 3" counts for the exam's own system only.
_BARE = re.compile(
    r"\b(?:(?:final\s+)?assessment\s*(?:category)?|category)\s*[:#]?\s*"
    r"(?P<cat>[0-6](?:\s?[abcx](?![a-z])|[abcx](?=s\b))?|n)(?:(?P<s>s)(?![\w/])|(?P<mod>(?:" + _CAD_MOD + r")+))?"
    r"(?![\w.]\d|\w)",
    re.IGNORECASE,
)
# "Overall: 4B", "FINAL: 4C - high suspicion": an overall/final lead-in with the category standing alone after it
# (not "Overall: 2 masses"), read like a bare category (the exam's one system only) and as the overall assessment.
_OVERALL_BARE = re.compile(
    r"\b(?:overall|final)(?:\s+(?:impression|result|score|classification|rating))?[ \t]*[:=][ \t]*"
    r"(?P<cat>[0-6](?:\s?[abcx](?![a-z])|[abcx](?=s\b))?|n)(?:(?P<s>s)(?![\w/])|(?P<mod>(?:" + _CAD_MOD + r")+))?"
    r"(?![\w.]\d|\w)(?=[ \t]*(?:$|\n|[.;,(]|[\-–—:][ \t]))",
    re.IGNORECASE,
)
# Other graded things a bare "category" can name: breast density ("ACR density category 2"), CAD stenosis grades.
_NOT_ASSESSMENT = re.compile(r"\b(?:density|densities|composition|fibroglandular|parenchymal|enhancement|bpe|stenosis|"
                             r"calcium|agatston|risk\s+group|grade)\b[^.;\n]*$", re.IGNORECASE)
# ACR TI-RADS points stated explicitly ("Total 4 points", "TI-RADS points: 7") map to TR levels unambiguously.
_POINTS = re.compile(r"\b(?:total(?:\s+of)?\s*(?:points?\s*)?[:=]?\s*(?P<a>\d{1,2})\s*(?:points?|pts?)?"
                     r"|(?P<b>\d{1,2})\s*(?:points?|pts)\s*(?:total|in\s+total)"
                     r"|ti[\s\-]?rads\s+points?\s*[:=]?\s*(?P<c>\d{1,2})"
                     r"|ti[\s\-]?rads\s*(?:score\s*)?[:=]?\s*(?P<d>\d{1,2})\s*(?:points?|pts)\b)\b", re.IGNORECASE)

# Exam -> systems, from the procedure name. Specific organ words win over generic regions.
_SPECIFIC: tuple[tuple[str, str], ...] = (
    (r"mammo|breast|tomosynth|\bmg\b", "BI-RADS"),
    (r"liver|hepat|\bli[\s\-]?rads", "LI-RADS"),
    (r"lung\s+(?:cancer\s+)?screen|low[\s\-]?dose|\bldct\b", "Lung-RADS"),
    (r"thyroid", "TI-RADS"),
    (r"prostat", "PI-RADS"),
    (r"adnex|ovar|transvaginal|\bgyn", "O-RADS"),
    (r"soft\s+tissue\s+neck|neck\s+soft\s+tissue|head\s+and\s+neck|\bneck\b", "NI-RADS"),
    (r"coronar|\bccta\b|calcium\s+scor|cardiac\s+ct", "CAD-RADS"),
    (r"bladder|cystogra", "VI-RADS"),
    (r"gall\s?bladder|\bruq\b|right\s+upper\s+quadrant|hepatobiliary", "GB-RADS"),
    (r"\bruq\b|right\s+upper\s+quadrant", "LI-RADS"),
)
# Neck ultrasound is where thyroid nodules are scored; CT/MR/PET of the neck is NI-RADS territory.
_US = re.compile(r"\bus\b|ultrasound|sonogra|\bduplex\b", re.IGNORECASE)
_GENERIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"pelvi", ("O-RADS", "PI-RADS", "VI-RADS")),
    (r"abdom", ("LI-RADS", "GB-RADS")),
    (r"chest|thora|lung", ("Lung-RADS",)),
)
# Organ words in the report text, used only when neither procedure nor modality names the exam.
_ORGAN_WORDS: dict[str, str] = {
    "BI-RADS": r"breast|mammo", "LI-RADS": r"liver|hepat|cirrho", "Lung-RADS": r"lung|pulmonary nodule",
    "TI-RADS": r"thyroid", "PI-RADS": r"prostat", "O-RADS": r"ovar|adnex", "NI-RADS": r"neck|oropharyn|tongue|larynx",
    "CAD-RADS": r"coronar|\blad\b|\brca\b", "VI-RADS": r"bladder", "GB-RADS": r"gall\s?bladder",
}


def _norm_num(raw: str) -> str:
    low = raw.lower()
    return _WORDNUM.get(low) or _ROMAN.get(low) or raw


def normalise(system: str, raw: str) -> str | None:
    """Dev-set spelling of a raw category, or None when it is not one of the system's categories."""
    s = re.sub(r"[\s\-]", "", raw).lower()
    if system == "LI-RADS":
        s = s.removeprefix("lr")
        if s.startswith("tr"):
            kind = s[2:]
            label = {"viable": "Viable", "nonviable": "Nonviable", "equivocal": "Equivocal",
                     "nonevaluable": "Nonevaluable"}.get(kind)
            return f"LR-TR {label}" if label else None
        s = {"5v": "tiv"}.get(s, s)
        out = "LR-" + _WORDNUM.get(s, s).upper()  # "LI-RADS category five"
    elif system == "TI-RADS":
        s = s.removeprefix("tr")
        out = "TR" + _norm_num(s)
    elif system == "NI-RADS":
        m = re.fullmatch(r"([a-z]+|\d)([ab]?)", s)
        if not m:
            return None
        out = _norm_num(m.group(1)) + m.group(2)
    elif system == "Lung-RADS":
        s = re.sub(r"/?s$", "", s) if len(s) > 1 else s
        m = re.fullmatch(r"([a-z]+|\d)([abx]?)", s)
        if not m:
            return None
        out = _norm_num(m.group(1)) + m.group(2).upper()
    else:
        m = re.fullmatch(r"([a-z]+|\d)([abc]?)", s)
        if not m:
            return None
        out = _norm_num(m.group(1)).upper() + m.group(2).upper()
    return out if out in SEVERITY[system] else None


def modifiers_of(system: str, raw: str | None) -> tuple[str, ...]:
    """Modifiers written after a category ('/P2/HRP', ' S', ' with S modifier'), normalised; unknown ones dropped."""
    if not raw or not raw.strip(" /"):
        return ()
    if system == "Lung-RADS":  # an S suffix or the named S modifier; a CAD-RADS-like '/P2' is not one
        return ("S",) if "s" in re.split(r"[\s/,+\-()]+", raw.lower()) else ()  # "2S", "4B/S", "2 (S)"
    signs = re.sub(r"\+\s*/\s*-|-\s*/\s*\+", "±", raw)  # "I+/-" is one modifier, not two
    signs = re.sub(r"[()\[\]]", " ", signs)  # "(P2, HRP)": brackets hold the same list
    return clean_rads_modifiers(system, [p for p in re.split(r"\s*(?:[/,;]|\band\b)\s*", signs.strip()) if p])


# A site named right after its score: "NI-RADS 3 (primary)", "NI-RADS 1 neck", "NI-RADS 2a primary site".
# A list item or line labelled with its site: "2. Neck: NI-RADS 1".
_NI_SITE_BEFORE = re.compile(r"\b(primary|neck)(?:\s+site)?[ \t]*[:\-–]?[ \t]*$", re.IGNORECASE)
_NI_SITE_LABEL = re.compile(r"^\s*(?:\d{1,2}[.)]\s*)?(primary|neck)(?:\s+site)?\s*:", re.IGNORECASE)
_NI_SITE_AFTER = re.compile(r"[ \t]*[(\[,:\-]?[ \t]*(?:for\s+the\s+|at\s+the\s+)?(primary|neck)\b", re.IGNORECASE)


def _ni_sites(text: str, head: re.Match[str], tail: re.Match[str] | None) -> tuple[str, ...]:
    """'primary 2a' / 'neck 1' for each NI-RADS score whose site is named before or right after it."""
    found = []
    for m in (head, tail):
        if m is None:
            continue
        line = text[text.rfind("\n", 0, m.start()) + 1 : m.start()]
        line = re.split(r"(?<=[.;])\s+", line)[-1]  # "Primary site: NI-RADS 2b. Neck: NI-RADS 1": the nearest label
        before = _NI_SITE.search(text, m.start(), m.start("cat")) if m.re is not _NI_MORE_AFTER else None
        # "neck NI-RADS 1", "Primary site - NI-RADS 2b": the site named right before the system
        before = before or (_NI_SITE_BEFORE.search(text[max(0, m.start() - 20) : m.start()]) if m is head else None)
        site = before or _NI_SITE_AFTER.match(text, m.end("cat")) or _NI_SITE_LABEL.match(line)
        cat = normalise("NI-RADS", m.group("cat"))
        if site and cat:
            found.append(f"{site.group(1).lower()} {cat}")
    return clean_rads_modifiers("NI-RADS", found)


def _with_other_sites(chosen: RadsMention, mentions: list[RadsMention]) -> RadsMention:
    """The NI-RADS statement with the per-site scores the report gives for its other site
    ("NI-RADS 3 (primary). ... Neck: NI-RADS 1."), so the card shows both."""
    if chosen.system != "NI-RADS":
        return chosen
    sites = {mod.split()[0] for mod in chosen.modifiers}
    extra = [mod for m in mentions if m.system == "NI-RADS" for mod in m.modifiers if mod.split()[0] not in sites]
    if not extra:
        return chosen
    merged = clean_rads_modifiers("NI-RADS", [*chosen.modifiers, *extra])
    return RadsMention(chosen.system, chosen.category, chosen.start, chosen.end, chosen.historical, chosen.overall,
                       merged)


# "BI-RADS 4 (4A)", "BI-RADS 4: Suspicious abnormality (4B)", "CAD-RADS 4 (4A)": the subdivision in brackets
# later in the clause.
_SUB_4 = re.compile(r"[^.;()\n]{0,40}?(?:\n[ \t]*)?\(\s*(?:category\s+)?4[\s\-]?([abc])\b(?:\s*[-:–,][^()\n]{0,40})?\s*\)",
                     re.IGNORECASE)


# ... or named as its subcategory later in the clause: "BI-RADS Category 4 (Suspicious) - subcategory 4B".
# The letter alone in capitals too: "BI-RADS 4, subcategory B".
_SUB_4_WORD = re.compile(r"[^.;\n]{0,40}?\bsub-?\s?categor(?:y|ized)\s*(?:as\s*)?[:=\-]?\s*(?:4[\s\-]?([abc])|(?-i:([ABC])))\b",
                         re.IGNORECASE)


# A range or scale after a category: "the BI-RADS 0-6 scale", "Lung-RADS 3 to 4", "TR3-TR4"; not an
# interval or size after a dash ("BI-RADS 3 - 6 month follow-up").
_RANGE_AFTER = re.compile(
    r"\s*(?:-|–|—|to|through)\s*(?:tr|lr-?)?[0-6](?!\d|[.:]\d)"
    r"(?!\s*-?\s*(?:months?|mos?|years?|yrs?|weeks?|wks?|days?|mm|cm|points?|o.?clock)\b)"
    # "CAD-RADS 4A and above", "BI-RADS 4 or higher": an open range
    r"|\s*(?:and|or|&)\s*(?:above|higher|greater|more|over|below|lower|less)\b",
    re.IGNORECASE,
)


# Two categories offered as alternatives: "PI-RADS 4 versus 5", "BI-RADS 3 vs. BI-RADS 4A", "BI-RADS 4A/4B",
# "LR-4 or LR-5". The report states neither, so neither is read (the model decides, as tnm._alternative leaves
# "N1 vs N2"). Not a modifier after a slash ("CAD-RADS 4A/P2", "Lung-RADS 4X/S": no category), a dash (ranges and
# intervals are _RANGE_AFTER's), a revision ("Previously BI-RADS 3, now 4A"), nor a score out of its scale's top
# ("PI-RADS 4/5", "TI-RADS 3/5": 4 of 5); nor, in NI-RADS, a score per site ("NI-RADS 2/1 (neck)").
_ALT_SEP = r"\s*(?:\b(?:versus|vs)\b\.?|\bor\b|/)\s*"
_ALT_CAT = {s: re.compile(_ALT_SEP + rf"(?:{_SYS[s]}{_FILLER})?(?:(?:category|score|cat\.?)\s*)?" + _CAT[s]
                          + r"(?!\s*-?\s*(?:months?|mos?|years?|yrs?|weeks?|wks?|days?|mm|cm|points?|o.?clock)\b)",
                          re.IGNORECASE)
            for s in _CAT}
_OUT_OF = {"PI-RADS": "5", "VI-RADS": "5", "TI-RADS": "5", "O-RADS": "5", "GB-RADS": "5"}
_ALT_SHORT = {"LI-RADS": _LR, "TI-RADS": _TR}


def _alternative_after(system: str, text: str, end: int, category: str) -> tuple[str, int] | None:
    """(the other category, its end) when the mention of `category` ending at `end` is offered with it as an
    alternative (see _ALT_CAT), else None."""
    m = _ALT_CAT[system].match(text, end)
    if m is None and system in _ALT_SHORT:  # "LR-4 or LR-5", "TR3/TR4"
        sep = re.compile(_ALT_SEP, re.IGNORECASE).match(text, end)
        m = _ALT_SHORT[system].match(text, sep.end()) if sep else None
    if m is None:
        return None
    other = normalise(system, m.group("cat"))
    if other is None or other == category:
        return None  # "BI-RADS 2/2" names one category
    if _OUT_OF.get(system) == m.group("cat") and "/" in text[end : m.start("cat")]:
        return None  # "PI-RADS 4/5": a score out of the top of its scale
    if system == "NI-RADS" and _NI_SITE_AFTER.match(text, m.end("cat")):
        return None
    if system == "CAD-RADS" and other == "N" and "/" in text[end : m.start("cat")]:
        return None  # "CAD-RADS 4B/N": CAD-RADS 1.0's non-diagnostic modifier, not the category N offered
    return other, m.end("cat")


def _offered(system: str, text: str, start: int, category: str, other: tuple[str, int]) -> RadsMention:
    """Two categories offered as alternatives, as one mention spanning both with the more severe of the two
    (stated_rads reads no category when it could be the report's most severe)."""
    worse = max(category, other[0], key=lambda c: severity_rank(system, c) or 0)
    hist, overall = mention_context(text, start, other[1])  # "3 or 4 would be assigned if ...": the pair's context
    return RadsMention(system, worse, start, other[1], hist, overall)


# The PI-RADS v2.1 upgrade written after the score: "PI-RADS 3+1", "3 + 1 = 4".
_PI_UPGRADE = re.compile(r"\s*\+\s*1(?!\d)(?:\s*=\s*[34](?!\d))?")


# A category revised in the same breath: "PI-RADS 3, upgraded to 4", "BI-RADS 4A, downgraded to 2 after biopsy".
# The new category is the statement (the old one is what it replaces); not when the change is only supposed
# ("upgraded to 4 if it grows").
_REVISED_TO = re.compile(
    r"\s*(?:->|→|=>)\s*|\s*,?\s*(?:(?:and|but)\s+)?(?:(?:is|was|has\s+been)\s+)?(?:now\s+)?"
    r"(?:revised|changed|amended|corrected|upgraded|downgraded|updated|re-?categori[sz]ed)\s+to\s+"
    r"(?:(?:an?\s+)?(?:category|score|assessment)\s+)?",
    re.IGNORECASE,
)
# ... or the earlier study's category, then today's after "now": "Lung-RADS 4A at baseline; now 3", "BI-RADS 3 (prior),
# now 2", "LR-3 on the prior MRI, currently LR-4" (the new category may stand bare: it is the same system's).
_NOW_AFTER_PRIOR = re.compile(
    r"(?:[ \t]*\([ \t]*(?:prior|previous(?:ly)?|old|outside|earlier|baseline)[ \t]*\)"
    r"|[^.;()\n]{0,12}?\b(?:on|at|from|in)[ \t]+(?:the[ \t]+)?(?:baseline|prior|previous|earlier|outside"
    r"|\d{1,2}/\d{1,2}/(?:19|20)?\d\d|(?:19|20)\d\d(?:-\d\d){0,2})"
    r"(?:[ \t]+(?:exams?|study|scan|ct|mri|mammogram|ultrasound|us|imaging|screening))?)"
    r"[ \t]*[,;][ \t]*(?:(?:and|but)[ \t]+)?(?:now|currently|today)[ \t]*[:,]?[ \t]*"
    r"(?:(?:an?[ \t]+)?(?:category|score|assessment)[ \t]+)?",
    re.IGNORECASE,
)
_REVISED_CAT = {s: re.compile(rf"(?:{_SYS[s]}{_FILLER})?" + _CAT[s] + r"(?!\s*,?\s*(?:if|should|unless|when|once|would|pending)\b)", re.IGNORECASE)
                for s in _CAT}


def _revised_to(system: str, text: str, end: int) -> tuple[str, int, int | None, str | None] | None:
    """(new raw category, its end, its own start when it stands as a statement of its own, its raw modifiers) when the
    words right after a mention revise it to a bare category: "upgraded to 4" revises the mention itself; the "now 3"
    after an earlier study's category ("Lung-RADS 4A at baseline; now 3") is today's category in a clause of its own,
    read with its own context."""
    lead = _REVISED_TO.match(text, end)
    own = lead is None
    lead = lead or _NOW_AFTER_PRIOR.match(text, end)
    if lead is None:
        return None
    cat = _REVISED_CAT[system].match(text, lead.end())
    if cat is None and system in ("LI-RADS", "TI-RADS"):
        cat = (_LR if system == "LI-RADS" else _TR).match(text, lead.end())
    if cat is None or (own and re.match(r"\s*(?:mm|cm)\b", text[cat.end("cat") :])):
        return None  # "... at baseline, now 3 mm": a size, no category
    return cat.group("cat"), cat.end("cat"), cat.start() if own else None, cat.groupdict().get("mod")


# CAD-RADS 2.0 modifiers later in the category's sentence, past a bracket or a comma list the category's own
# pattern stops at: "CAD-RADS 3 / P2 (moderate plaque burden), HRP present", "CAD-RADS 3, P2, HRP, I+ (CT-FFR 0.74)".
# Only the unambiguous tokens (P1-P4, HRP, I+/I-/I±; a lone S, G or E is too common a letter), never a denied or
# doubted one ("no HRP", "HRP: absent", "possible HRP"), and not past another RADS statement or a prior study's.
_CAD_LATER = re.compile(r"(?<![\w/+\-])(?P<mod>p[1-4]|hrp|i\s?(?:\+/-|-/\+|[+\-±−]))(?![a-z0-9])", re.IGNORECASE)
_CAD_CLAUSE_END = re.compile(r"[;\n]|\.(?!\d)|\brads\b|\b(?:prior|previous(?:ly)?|compared|was|were)\b", re.IGNORECASE)
_CAD_MOD_DENIED_BEFORE = re.compile(r"\b(?:no|without|negative\s+for|absent|possible|possibly|questionable|equivocal|"
                                    r"cannot\s+exclude)\s+(?:\w+[\s\-]+){0,2}$", re.IGNORECASE)
_CAD_MOD_DENIED_AFTER = re.compile(r"\s*[:=]?\s*(?:absent|negative|no\b|none|not\s|\?|possible|equivocal)", re.IGNORECASE)


# The clause right after the category's, when it holds nothing but modifiers: "CAD-RADS 3; HRP", "CAD-RADS 2.
# Plaque burden: P2.", "CAD-RADS 4A. Modifiers: P3/HRP." (a label, then tokens, then the clause's end).
_CAD_MOD_CLAUSE = re.compile(
    r"[ \t]*(?:;[ \t]*|\.(?:[ \t]+|[ \t]*\n[ \t]*(?:[-•*][ \t]*)?)|\n[ \t]*(?:[-•*][ \t]*)?)(?:(?:cad[\s\-]?rads\s+)?(?:plaque\s+burden|modifiers?)[ \t]*[:=\-–]?[ \t]*)?"
    rf"(?P<mods>{_CAD_MOD_LIST})[ \t]*(?=[.;\n]|$)",
    re.IGNORECASE,
)


def _cad_later_modifiers(text: str, end: int) -> list[str]:
    """CAD-RADS modifier tokens in the rest of the category's sentence (see _CAD_LATER), and in a clause of
    modifiers alone right after it (see _CAD_MOD_CLAUSE)."""
    stop = _CAD_CLAUSE_END.search(text, end)
    rest = text[end : stop.start() if stop else len(text)]
    found = [m.group("mod") for m in _CAD_LATER.finditer(rest)
             if not _CAD_MOD_DENIED_BEFORE.search(rest[: m.start()]) and not _CAD_MOD_DENIED_AFTER.match(rest, m.end())]
    after = _CAD_MOD_CLAUSE.match(text, stop.start()) if stop and text[stop.start()] in ";.\n" else None
    if after:
        found += [m.group(0) for m in re.finditer(_CAD_MOD_WORD, after.group("mods"), re.IGNORECASE)]
    return found


# Statements a category's own sentence takes back, beside the cues of context.mention_context (which the TNM reader
# shares). A hedge right before it ("possible BI-RADS 4 lesion", "questionable LR-5", "?LR-5"); a likeness denied
# ("features are not those of an O-RADS 5 lesion"); a category the next words deny or call unlikely ("PI-RADS 5 is
# unlikely", "LR-5 cannot be assigned"); and teaching text about a category in general ("BI-RADS 3 lesions have a <2%
# likelihood of malignancy", "a Lung-RADS 4B nodule warrants PET/CT", "LR-5 is defined as ..."), never about this
# study's finding. (A study dated right after the category, "at baseline", "(prior)" and a label naming an earlier
# study, "Last year: BI-RADS 4A", are mention_context's cues, so the TNM reader has them too.)
_HEDGE_BEFORE = re.compile(r"(?:\b(?:possible|possibly|questionabl[ey]|query|suspected|presumed|presumptive|maybe|perhaps)"
                           r"|\?)\s*(?:an?\s+)?$", re.IGNORECASE)
_LIKENESS_DENIED = re.compile(
    r"\bnot\s+(?:those|that|typical|characteristic|consistent|compatible|diagnostic|in\s+keeping|suggestive|indicative)"
    r"(?:\s+(?:of|with))?\s+(?:an?\s+|the\s+)?$"
    # "BI-RADS 3 rather than BI-RADS 4A", "LR-4 instead of LR-5"
    r"|\b(?:rather\s+than|instead\s+of|in\s+place\s+of)\s+(?:an?\s+)?$"
    # "negative for LR-M features", "absence of LR-TIV"
    r"|\b(?:negative\s+for|free\s+of|absence\s+of)\s+(?:any\s+)?(?:an?\s+)?$"
    # "cannot be categorized as LR-5", "not classified as BI-RADS 4"
    r"|\b(?:can\s*not|cannot|can't|could\s+not|does\s+not|do\s+not|not|never)\s+(?:be\s+)?(?:categori[sz]ed|classified|"
    r"characteri[sz]ed|assessed|considered|called|assigned|designated|upgraded|downgraded)\s+(?:as\s+|to\s+)?(?:an?\s+)?$",
    re.IGNORECASE,
)
_DENIED_AFTER = re.compile(
    r"^\)?\s*(?:(?:category|assessment|score|lesion|observation|nodule|features?)\s+)?(?:is|are|was|seems?|appears?)\s+"
    r"(?:very\s+|highly\s+|considered\s+)?(?:unlikely|not\s+(?:likely|favou?red|present|appropriate)|less\s+likely|"
    r"doubtful|improbable)\b"
    r"|^\)?\s*(?:can\s*not|cannot|can't|could\s+not|should\s+not|does\s+not|do\s+not)\s+(?:be\s+)?"
    r"(?:assigned|applied|given|used|apply|met)\b"
    r"|^\)?\s*(?:(?:is|are|was)\s+)?(?:excluded|ruled\s+out)\b"
    # "CAD-RADS 3 not met", "BI-RADS 0 is an error in the body of this report"
    r"|^\)?\s*(?:criteria\s+)?(?:(?:is|are|was|were)\s+)?not\s+(?:met|fulfil+ed|satisfied|reached)\b"
    r"|^\)?\s*(?:(?:category|assessment|score)\s+)?(?:is|was)\s+(?:an?\s+)?(?:error|mistake|typo|typographical\s+error|"
    r"dictation\s+error|incorrect|erroneous|wrong)\b"
    # "LR-5 would require washout": what the category would need, not what this study has
    r"|^\)?\s*(?:(?:category|assessment|score)\s+)?(?:would|will)\s+(?:require|need|necessitate)\b",
    re.IGNORECASE,
)
_GENERIC_NOUNS = r"(?:lesions|findings|nodules|observations|masses|cases|patients|categories|assessments|scores|cysts)"
_GENERIC_ONE = r"(?:lesion|finding|nodule|observation|mass|category|assessment|score|cyst)"
# What only a rule about a category says: its risk ("have a <2% likelihood of malignancy"), its usual course.
_GENERIC_STRONG = (r"(?:(?:have|has|carry|carries)\b[^.;\n]{0,30}?\b(?:likelihood|risk|probability|chance|ppv|rate|incidence)"
                   r"|(?:(?:are|is)\s+)?(?:typically|usually|generally|commonly|defined|associated)\b"
                   # the present tense of a habit, said of a plural ("Lung-RADS 4B nodules are managed with PET/CT")
                   r"|are\s+(?:managed|followed|treated|biopsied|assigned|considered|recommended|reserved)\b)")
# What a report also says of its own finding ("BI-RADS 3 findings should be followed in 6 months"): a rule only with
# a marker of one before the category ("Note:", "Per ACR", "any") or a size threshold after it.
_GENERIC_WEAK = (r"(?:(?:are|is)\s+(?:managed|followed|considered|treated|recommended|biopsied|assigned|reserved)|require|requires|"
                 r"warrant|warrants|undergo|should|may|must|need|needs|mean|means)\b")
# ... with a qualifier between: "TR5 nodules of 1 cm or more warrant FNA"
_GENERIC_QUALIFIER = r"(?:\s+(?:of|at|with|measuring|larger\s+than|greater\s+than|over|under|above|below|[<>≤≥])[^.;\n]{0,25}?)?"
# a guideline's size threshold: "FNA is recommended for TR5 nodules of 1 cm or larger", "TR3 nodules >=2.5 cm"
_THRESHOLD = (r"\s*(?:of\s+|measuring\s+)?(?:[≥>]|at\s+least|more\s+than|over|\d+(?:\.\d+)?\s*(?:cm|mm)\s+or\s+"
              r"(?:more|larger|greater|above|bigger))")
_GENERIC_AFTER = re.compile(rf"^\s*{_GENERIC_NOUNS}{_GENERIC_QUALIFIER}\s+{_GENERIC_STRONG}|^\s*{_GENERIC_NOUNS}{_THRESHOLD}",
                            re.IGNORECASE)
_GENERIC_WEAK_AFTER = re.compile(rf"^\s*(?:{_GENERIC_NOUNS}|{_GENERIC_ONE}){_GENERIC_QUALIFIER}\s+(?:{_GENERIC_STRONG}|{_GENERIC_WEAK})",
                                 re.IGNORECASE)
_GENERIC_MARKER = re.compile(r"\b(?:note|per\s+(?:the\s+)?(?:acr|guidelines?|lexicon|atlas)|in\s+general|by\s+definition|generally|"
                             r"typically|reference|all|any|every|each|an?)\b", re.IGNORECASE)
_DEFINED_AFTER = re.compile(r"^\s*(?:(?:category|assessment|score|designation)\s+)?(?:is\s+defined\s+as|refers\s+to|corresponds\s+to|is\s+reserved\s+for|"
                            r"applies\s+(?:only\s+)?to|denotes)\b", re.IGNORECASE)
# A determiner or count makes the noun this report's own ("Both BI-RADS 4 lesions require biopsy").
_OWN_BEFORE = re.compile(r"\b(?:the|these|those|this|both|two|three|four|five|several|multiple|\d+|bilateral|her|his|"
                         r"additional|other|new|remaining)\s*$", re.IGNORECASE)


# An LI-RADS diagnostic category of an observation since treated ("Known HCC (LR-5) status post ablation", "LR-5
# observation, previously treated with RFA"): a treated observation is graded with LR-TR, so the LR-5 is its past.
_TREATMENT = r"(?:ablation|tace|chemoembolization|treatment|therapy|embolization|radiation|resection|rfa|mwa|sbrt|y-?90|radioembolization)"
_TREATED_AFTER = re.compile(
    rf"\b(?:(?:status\s+post|s/p|after|following)\s+(?:\w+\s+){{0,2}}?{_TREATMENT}|post[\s\-]?{_TREATMENT}"
    # (not "to be treated", nor "adjacent to the treated lesion": another observation)
    r"|(?<!to\sbe\s)(?<!will\sbe\s)(?<!the\s)(?<!an\s)(?<!a\s)(?:previously\s+|already\s+|successfully\s+)?"
    r"(?:treated|ablated|embolized|resected|irradiated))\b",
    re.IGNORECASE,
)
_NEXT_MENTION = re.compile(r"\blr[\s\-]|rads\b|[.;\n]", re.IGNORECASE)


def _treated_observation(text: str, end: int) -> bool:
    """The words after an LI-RADS category, up to the next category or the clause's end, say it was treated."""
    stop = _NEXT_MENTION.search(text, end)
    return bool(_TREATED_AFTER.search(text[end : stop.start() if stop else len(text)]))


def not_a_statement(text: str, start: int, end: int, system: str | None = None, category: str | None = None) -> bool:
    """The category mentioned at [start, end) is hedged, denied or taught, not stated (see _HEDGE_BEFORE); the cues
    mention_context does not already read."""
    b = text.find("\n", end)
    head = sentence_head(text, start)
    after = text[end : len(text) if b < 0 else b]
    if _HEDGE_BEFORE.search(head) or _LIKENESS_DENIED.search(head) or _DENIED_AFTER.match(after) \
            or _DEFINED_AFTER.match(after):
        return True
    if system == "LI-RADS" and category and not category.startswith("LR-TR") and _treated_observation(text, end):
        return True
    if _OWN_BEFORE.search(head):
        return False  # "Both BI-RADS 4 lesions require biopsy": this report's own
    return bool(_GENERIC_AFTER.match(after) or (_GENERIC_WEAK_AFTER.match(after) and _GENERIC_MARKER.search(head)))


def _refined(system: str, raw: str, text: str, end: int) -> tuple[str | None, int]:
    """(category, end) of a raw category, with the subdivision a bracket or a "subcategory" after it gives a 4:
    "BI-RADS 4 (4A)", "Category 4 - suspicious (4-B)", "CAD-RADS 4 (4B)" (an undivided CAD-RADS 4 is no category)."""
    sub = (_SUB_4.match(text, end) or _SUB_4_WORD.match(text, end)) \
        if system in ("BI-RADS", "CAD-RADS") and raw.strip() == "4" else None
    letter = next((g for g in sub.groups() if g), "") if sub else ""
    if sub and normalise(system, "4" + letter):
        return normalise(system, "4" + letter), sub.end()
    return normalise(system, raw), end


def find_mentions(text: str) -> list[RadsMention]:
    """Every RADS statement in `text` (named systems and their short forms), history flagged; none of two
    categories offered as alternatives ("PI-RADS 4 versus 5")."""
    return _find(fold_dashes(text))[0]


def _find(text: str) -> tuple[list[RadsMention], list[RadsMention]]:
    """find_mentions, and the alternatives it leaves out (each one mention spanning both, see _offered)."""
    found: dict[tuple[int, int], RadsMention] = {}
    offered: list[RadsMention] = []

    def add(system: str, raw: str, start: int, end: int, modifiers: tuple[str, ...] = ()) -> None:
        revised = _revised_to(system, text, end)
        if revised and normalise(system, revised[0]):
            raw, end = revised[0], revised[1]
            modifiers = modifiers_of(system, revised[3])  # "now 3S": the new category's own modifiers
            if revised[2] is not None:  # "at baseline; now 3": the "3" is the mention, read in its own clause
                start = revised[2]
        if _RANGE_AFTER.match(text, end):
            return  # "the BI-RADS 0-6 scale", "Lung-RADS 3 to 4": a range names no one category
        cat, end = _refined(system, raw, text, end)
        up = _PI_UPGRADE.match(text, end) if system == "PI-RADS" and cat in ("2", "3") else None
        if up:  # PI-RADS v2.1 "3+1" (PZ 3 upgraded by positive DCE; TZ "2+1" by DWI): the overall is one higher
            cat, end = str(int(cat) + 1), up.end()
        other = _alternative_after(system, text, end, cat) if cat else None
        if cat and other is not None:  # neither "PI-RADS 4" nor the "5" of "versus 5" is stated
            offered.append(_offered(system, text, start, cat, other))
            return
        if cat is None or any(s <= start < e or start <= s < end for s, e in found):
            return
        if system == "CAD-RADS":
            modifiers = clean_rads_modifiers(system, [*modifiers, *_cad_later_modifiers(text, end)])
        hist, overall = mention_context(text, start, end)
        hist = hist or not_a_statement(text, start, end, system, cat)
        found[(start, end)] = RadsMention(system, cat, start, end, hist, overall, modifiers)

    for system, rx in _NAMED.items():
        for m in rx.finditer(text):
            if system == "LI-RADS" and _US_LIRADS.search(text, max(0, m.start() - 12), m.end()):
                continue  # "US LI-RADS category: US-2": ultrasound surveillance, whose US-1..3 are no LR category
            if system != "NI-RADS":
                add(system, m.group("cat"), m.start(), m.end(), modifiers_of(system, m.groupdict().get("mod")))
                side = re.search(_SIDE, text[m.start() : m.start("cat")], re.IGNORECASE)
                tail = _SIDE_MORE[system].match(text, m.end()) \
                    or (_SIDE_BEFORE_MORE[system].match(text, m.end()) if side else None)
                if tail:  # "BI-RADS 2 (right), 4A (left)", "BI-RADS: Right 2, Left 4A"
                    add(system, tail.group("cat"), tail.start("cat"), tail.end("cat"),
                        modifiers_of(system, tail.groupdict().get("mod")))
                continue
            tail = _NI_MORE.match(text, m.end()) or _NI_MORE_AFTER.match(text, m.end())  # "NI-RADS primary 1, neck 2"
            sites = _ni_sites(text, m, tail)
            add(system, m.group("cat"), m.start(), m.end(), sites)
            if tail:
                add(system, tail.group("cat"), tail.start("cat"), tail.end("cat"), sites)
    for m in _LR.finditer(text):
        add("LI-RADS", m.group("cat"), m.start(), m.end())
    for m in _TR.finditer(text):
        add("TI-RADS", m.group("cat"), m.start(), m.end())
    kept = [x for x in found.values() if not any(a.start <= x.start < a.end for a in offered)]
    return sorted(kept, key=lambda x: x.start), offered


def exam_systems(report: RadiologyReport) -> set[str]:
    """RADS systems that can apply to this exam, from its procedure name, code and modality.

    A report sent without a procedure name is judged by the exam its body names (models/rules/exam.py),
    as the planner judges it, so a text-only "EXAM: MAMMO DIAG LEFT ... Category 4A" is read as BI-RADS.
    """
    exam = study_exam(report)
    proc, modality = exam.procedure.lower(), exam.modality or ""
    specific = {sys for rx, sys in _SPECIFIC if re.search(rx, proc)}
    if "NI-RADS" in specific and (modality == "US" or _US.search(proc)):
        specific = (specific - {"NI-RADS"}) | {"TI-RADS"}
    if specific:
        return specific
    if exam.code in CODE_SYSTEMS:
        return {CODE_SYSTEMS[exam.code]}
    generic = {s for rx, systems in _GENERIC if re.search(rx, proc) for s in systems}
    if generic:
        return generic
    if modality == "MG":
        return {"BI-RADS"}
    return set()


def _thyroid_points(text: str) -> list[RadsMention]:
    """TR level from an explicit ACR TI-RADS point total (0 TR1, 2 TR2, 3 TR3, 4-6 TR4, >=7 TR5)."""
    out = []
    for m in _POINTS.finditer(text):
        pts = int(m.group("a") or m.group("b") or m.group("c") or m.group("d"))
        level = {0: "TR1", 2: "TR2", 3: "TR3"}.get(pts) or ("TR4" if 4 <= pts <= 6 else "TR5" if 7 <= pts <= 20 else None)
        if level:
            hist, overall = mention_context(text, m.start(), m.end())
            out.append(RadsMention("TI-RADS", level, m.start(), m.end(), hist, overall))
    return out


# O-RADS has an ultrasound and an MRI lexicon: in an MRI report an "O-RADS US 4" is the score of the ultrasound
# that led to it (and an "O-RADS MRI 4" in an ultrasound report another study's), never this study's.
_ORADS_US = re.compile(r"\b(?:us|ultrasound|sonograph\w*)\b", re.IGNORECASE)
_ORADS_MRI = re.compile(r"\bmri?\b", re.IGNORECASE)


def _other_modality(report: RadiologyReport, text: str, mention: RadsMention) -> bool:
    """An O-RADS mention that names the lexicon of another modality than the exam's (see _ORADS_US)."""
    if mention.system != "O-RADS":
        return False
    words = text[mention.start : mention.end]
    modality = study_exam(report).modality
    return bool((modality == "MR" and _ORADS_US.search(words)) or (modality == "US" and _ORADS_MRI.search(words)))


# A legend of the system's categories printed under the assessment ("BI-RADS CATEGORIES: 0: Incomplete;
# 1: Negative; 2: Benign ...", "LI-RADS key: LR-1 definitely benign, LR-2 ..."): each entry is a code
# followed by the words that define it. Three or more entries counting up from the lowest category,
# close together, are a legend, not an assessment of this study.
_LEGEND_ENTRY = re.compile(
    r"(?<![\w.\-/])(?P<code>(?:lr[\s\-]?(?:[1-5]|m|nc|tiv)|tr[\s\-]?[1-5]|[0-6][abcx]?))"
    r"(?:\s*[:=)\-–—]\s*|\s+)"
    r"(?=(?:incomplete|negative|benign|probably|definitely|definite|suspicious|highly|known|very|low|intermediate|high|"
    r"moderate(?:ly)?|mild(?:ly)?|minimal|indeterminate|equivocal|likely|unlikely|normal|almost|malignan\w*|needs?|"
    r"not|concerning|clinically|further)\b)",
    re.IGNORECASE,
)
_LEGEND_GAP = 100  # characters between two entries of one legend


def _legend_rank(code: str) -> tuple[int, int]:
    """(number, letter) of a legend entry's code: 'LR-M' follows 'LR-5', '4A' follows '4'."""
    c = re.sub(r"^(?:lr|tr)[\s\-]?", "", code.lower())
    extra = {"m": 6, "tiv": 7, "nc": 8}
    if c in extra:
        return extra[c], 0
    return int(c[0]), (ord(c[1]) - ord("a") + 1) if len(c) > 1 else 0


def legend_ranges(text: str) -> list[tuple[int, int]]:
    """Spans of the category legends in `text` (first entry's code to last entry's code)."""
    text = fold_dashes(text)
    ranges: list[tuple[int, int]] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        if len(run) >= 3 and _legend_rank(run[0].group("code"))[0] <= 1:
            ranges.append((run[0].start(), run[-1].end("code")))

    for m in _LEGEND_ENTRY.finditer(text):
        if run:
            (n0, l0), (n1, l1) = _legend_rank(run[-1].group("code")), _legend_rank(m.group("code"))
            next_one = (n1 == n0 + 1) or (n1 == n0 and l1 > l0)
            if m.start() - run[-1].end() > _LEGEND_GAP or not next_one:
                close()
                run = []
        run.append(m)
    close()
    return ranges + _tr_legend_ranges(text)


# LI-RADS treatment-response categories have words, not numbers, so their legend is told by its layout:
# three or more different LR-TR codes, each at the start of a line or list item and defined after a colon,
# close together ("LR-TR Nonviable: no enhancement\nLR-TR Equivocal: ...\nLR-TR Viable: ...").
_TR_LEGEND_ENTRY = re.compile(
    r"(?:^|(?<=[;•]))[ \t\-*•]*(?P<code>lr[\s\-]?tr[\s\-]+(?:non[\s\-]?)?(?:viable|evaluable|progressing)|lr[\s\-]?tr[\s\-]+equivocal)"
    r"\s*[:=\-–—]\s*\w",
    re.IGNORECASE | re.MULTILINE,
)


def _tr_legend_ranges(text: str) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        if len({re.sub(r"[\s\-]", "", m.group("code").lower()) for m in run}) >= 3:
            ranges.append((run[0].start("code"), run[-1].end("code")))

    for m in _TR_LEGEND_ENTRY.finditer(text):
        if run and m.start() - run[-1].end() > _LEGEND_GAP:
            close()
            run = []
        run.append(m)
    close()
    return ranges


def _in_legend(ranges: list[tuple[int, int]], mention: RadsMention) -> bool:
    return any(a < mention.end <= b for a, b in ranges)


_THYROID_WORDS = re.compile(r"thyroid|ti[\s\-]?rads|goit(?:er|re)|\bisthm\w*|multinodular", re.IGNORECASE)


# A lung nodule or a heart valve on the same line: "TR" there is tricuspid regurgitation.
_NOT_THYROID = re.compile(r"pulmonary|\blungs?\b|\b[RL][UML]L\b|tricuspid|regurg|valv|mitral|\b[MA]R\b|RVSP|LVEF|echocardio",
                          re.IGNORECASE)


def _nodule_line(text: str, pos: int) -> bool:
    """The mention's line names a nodule ("Nodules in both lobes, TR4 on the left")."""
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    line = text[a : len(text) if b < 0 else b]
    return bool(re.search(r"\bnodul", line, re.IGNORECASE)) and not _NOT_THYROID.search(line)


def stated_rads(report: RadiologyReport) -> RadsMention | None:
    """The category this report states for its own study, or None when it states none."""
    text = fold_dashes(report.text())
    legends = legend_ranges(text)
    found, offered = _find(text)
    mentions = [m for m in found if not m.historical and not _in_legend(legends, m)]
    mentions = [m for m in mentions if not _other_modality(report, text, m)]
    exam = exam_systems(report)
    # A bare "TR4" with no thyroid context is not a TI-RADS statement (TR is also tricuspid regurgitation).
    # A thyroid word anywhere, or a nodule named on the mention's own line, is the context it needs.
    if not exam and not _THYROID_WORDS.search(text):
        mentions = [m for m in mentions if m.system != "TI-RADS" or _nodule_line(text, m.start)]
    mentions += [m for m in _table_mentions(text) if not m.historical and not any(x.start <= m.start < x.end for x in mentions)]
    if exam:
        # The one system the exam allows: a bare "Category 4A" is that system's category.
        if len(exam) == 1:
            (system,) = exam
            for m in [*_BARE.finditer(text), *_OVERALL_BARE.finditer(text)]:
                if m.group("s") and system != "Lung-RADS":
                    continue  # "Category 3S" is Lung-RADS spelling; elsewhere it was never a category
                cat, end = _refined(system, m.group("cat"), text, m.end())
                lead = text[max(0, m.start() - 40) : m.start()]
                if _NOT_ASSESSMENT.search(lead):
                    continue
                other = _alternative_after(system, text, end, cat) if cat else None
                if cat and other is not None:  # "Category 3 vs 4" offers two
                    offered.append(_offered(system, text, m.start(), cat, other))
                    continue
                if cat and not any(x.start <= m.start("cat") < x.end for x in mentions) \
                        and not any(a < end <= b for a, b in legends):
                    hist, overall = mention_context(text, m.start(), end)
                    hist = hist or not_a_statement(text, m.start(), end, system, cat)
                    overall = overall or m.re is _OVERALL_BARE
                    if not hist:
                        mods = modifiers_of(system, m.group("s") or m.group("mod"))
                        if system == "CAD-RADS":
                            mods = clean_rads_modifiers(system, [*mods, *_cad_later_modifiers(text, end)])
                        mentions.append(RadsMention(system, cat, m.start(), end, hist, overall, mods))
        mentions = [m for m in mentions if m.system in exam]
    elif mentions:
        mentions = _pick_system(text, mentions)
    if not mentions and (exam == {"TI-RADS"} or (not exam and re.search(r"thyroid", text, re.I))):
        mentions = [m for m in _thyroid_points(text) if not m.historical and not _in_legend(legends, m)]
    if not mentions:
        return None
    systems = {m.system for m in mentions}
    if len(systems) > 1:
        mentions = _pick_system(text, mentions)
    systems = {m.system for m in mentions}
    offered = [a for a in offered if a.system in systems and not a.historical and not _in_legend(legends, a)]
    # An addendum that states a category (or offers two) revises the report's ("Revised assessment: BI-RADS 2").
    revised = in_last_addendum(text, [m.start for m in mentions + offered])
    if revised:
        mentions = [m for m in mentions if m.start in revised]
        offered = [a for a in offered if a.start in revised]
    if not mentions:
        return None
    overall = [m for m in mentions if m.overall]
    pool = overall or mentions
    chosen = max(pool, key=lambda m: (severity_rank(m.system, m.category) or 0, m.start))
    # Two categories offered ("Right: BI-RADS 3 vs 4A. Left: BI-RADS 2.") either of which could be more severe than
    # the chosen one: the report's assessment is not stated (an explicit overall one still stands).
    rank = severity_rank(chosen.system, chosen.category) or 0
    if any((a.overall or not chosen.overall) and (severity_rank(a.system, a.category) or 0) > rank for a in offered):
        return None
    return _with_s_statement(text, _with_other_sites(chosen, mentions), legends)


# The Lung-RADS S modifier stated on its own, apart from the category: a template field ("S modifier: Yes - 5 cm
# aortic aneurysm", "S: severe emphysema" on a line of its own) or a sentence ("S modifier for emphysema.").
# Not when denied ("S modifier: No", "no S modifier", "S: N/A"), nor a legend defining it ("S: clinically significant
# or potentially clinically significant findings", "the S modifier may be added ...").
_S_STATEMENT = re.compile(
    r"(?:(?<![\w/])(?:s[ \t\-]modifier|modifier[ \t]+s)(?![\w/])|^[ \t]*(?:[-•*][ \t]*)?s[ \t]*:"
    r"|\bsignificant[ \t]+(?:(?:or[ \t]+potentially[ \t]+significant[ \t]+)?(?:incidental|other)[ \t]+)?findings?[ \t]*"
    r"\([ \t]*s[ \t]*\)[ \t]*[:=]?(?=[ \t]*(?:yes|present|\d|[a-z]{4})))"
    r"(?![ \t]*[:=\-–]?[ \t]*(?:no|none|negative|absent|n/?a|not|nil)\b)"
    r"(?![^.\n]{0,12}\b(?:clinically|potentially|may|can|could|should|is\s+(?:added|used|applied|appended)|indicates|"
    r"denotes|refers|means|applies\s+to|if)\b)",
    re.IGNORECASE | re.MULTILINE,
)
_S_DENIED_BEFORE = re.compile(r"\b(?:no|without|not|nor)\s+(?:an?\s+|the\s+)?(?:lung[\s\-]?rads\s+)?$", re.IGNORECASE)


def _with_s_statement(text: str, chosen: RadsMention, legends: list[tuple[int, int]]) -> RadsMention:
    """A Lung-RADS category with the S modifier the report states apart from it (see _S_STATEMENT)."""
    if chosen.system != "Lung-RADS" or "S" in chosen.modifiers:
        return chosen
    for m in _S_STATEMENT.finditer(text):
        a = text.rfind("\n", 0, m.start()) + 1
        if HISTORY_LINE.match(text[a : m.end()]) or any(x <= m.start() < y for x, y in legends) \
                or _S_DENIED_BEFORE.search(text[a : m.start()]) or mention_context(text, m.start(), m.end())[0]:
            continue
        mods = clean_rads_modifiers("Lung-RADS", [*chosen.modifiers, "S"])
        return RadsMention(chosen.system, chosen.category, chosen.start, chosen.end, chosen.historical,
                           chosen.overall, mods)
    return chosen


# A table with a RADS column: "| Lesion | Size | BI-RADS |" over "| Left 2:00 | 1.2 cm | 4B |". Each row's cell in
# that column is a category of the system the header names; a row naming a prior or comparison study is history.
_TABLE_ROW = re.compile(r"^[ \t]*\|(?P<cells>.*)\|[ \t]*$")
_TABLE_RULE = re.compile(r"^[\s|:\-–=+]*$")
_ROW_HISTORY = re.compile(r"\b(?:prior|previous(?:ly)?|outside|earlier|comparison|baseline)\b|(?:19|20)\d\d", re.IGNORECASE)


def _header_system(cell: str) -> str | None:
    for system, rx in _SYS.items():
        # "BI-RADS", "ACR TI-RADS (2017)", "PI-RADS (v2.1) score", "O-RADS US category"
        if re.fullmatch(rf"\s*(?:acr\s+)?{rx}(?:\s+\(?(?:us|mri|v?\d+(?:\.\d+)?|version\s+\d+(?:\.\d+)?|category|categories|"
                        r"assessment|score|level|risk)\)?)*\s*", cell, re.IGNORECASE):
            return system
    return None


def _table_mentions(text: str) -> list[RadsMention]:
    """Categories in the RADS column of a pipe table (see _TABLE_ROW)."""
    out: list[RadsMention] = []
    column: tuple[str, int] | None = None
    pos = 0
    for line in text.split("\n"):
        start, pos = pos, pos + len(line) + 1
        row = _TABLE_ROW.match(line)
        if row is None:
            column = None
            continue
        cells, offset = [], start + row.start("cells")
        for cell in row.group("cells").split("|"):
            cells.append((cell, offset))
            offset += len(cell) + 1
        if column is None:
            column = next(((sys, i) for i, (cell, _) in enumerate(cells) if (sys := _header_system(cell))), None)
            continue
        system, i = column
        if _TABLE_RULE.match(line) or i >= len(cells):
            continue
        cell, at = cells[i]
        m = re.compile(r"\s*" + _CAT[system], re.IGNORECASE).match(cell)
        if m is None or not re.match(r"\s*(?:$|[\-–—:(,]|[a-z])", cell[m.end("cat"):], re.IGNORECASE):
            continue
        cat = normalise(system, m.group("cat"))
        others = " ".join(c for j, (c, _) in enumerate(cells) if j != i)
        if cat and _alternative_after(system, text, at + m.end(), cat) is None:  # not "| 3 vs 4 |"
            hist = bool(_ROW_HISTORY.search(others)) or mention_context(text, at + m.start("cat"), at + m.end("cat"))[0]
            out.append(RadsMention(system, cat, at + m.start("cat"), at + m.end("cat"), hist, False,
                                   modifiers_of(system, m.groupdict().get("mod"))))
    return out


def _incidental(text: str, pos: int) -> bool:
    """The mention's sentence (or list item) calls its finding incidental."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : len(text) if line_end < 0 else line_end]
    sentence = re.split(r"(?<=[.;])\s+(?=\S"
                        r")", line[: pos - line_start])[-1] + re.split(r"[.;]", line[pos - line_start :])[0]
    return bool(re.search(r"\bincidental(?:ly)?\b|\bincidentaloma\b", sentence, re.IGNORECASE))


def _pick_system(text: str, mentions: list[RadsMention]) -> list[RadsMention]:
    """Without a named exam: the system whose organ the text talks about most, then most mentions."""
    body = "\n".join(ln for ln in text.split("\n") if not HISTORY_LINE.match(ln))
    # A system named only for an incidental finding ("2. Incidental thyroid nodule, TI-RADS TR3" in a
    # lung screening) is not the exam's, when another system is named for the main finding.
    main = {m.system for m in mentions if not _incidental(text, m.start)}
    if main and main != {m.system for m in mentions}:
        mentions = [m for m in mentions if m.system in main]

    # Organs of incidental findings ("Incidental 1.2 cm left thyroid nodule") do not name the exam.
    body = " ".join(x for x in re.split(r"(?<=[.;])\s+|"
                                        r"\n", body) if not re.search(r"\bincidental", x, re.IGNORECASE))

    def score(system: str) -> tuple[int, int, int]:
        organ = len(re.findall(_ORGAN_WORDS[system], body, re.IGNORECASE))
        own = [m.start for m in mentions if m.system == system]
        return organ, len(own), max(own)  # ties: the system stated last (the impression) wins

    best = max({m.system for m in mentions}, key=score)
    return [m for m in mentions if m.system == best]
