"""Side of the index finding: the first abnormal statement of the impression.

The impression lists the finding that drives the report first (README: the RADS lesion,
the primary tumour, the critical finding, the main chest finding). So the side is taken
from the first impression sentence that states an abnormality and names a side; a
sentence about a midline or unpaired organ with no side (liver, bowel, aorta, heart,
prostate, ...) ends the search with None. Normal/negative statements, device positions
and history lines are skipped. Without an impression the findings are read the same way.
"""

from __future__ import annotations

import re
from typing import Literal

from models.rules.context import HISTORY_LINE
from models.rules.rads import find_mentions, stated_rads
from models.text import sentence_spans
from models.types import RadiologyReport

__all__ = ["Side", "index_laterality"]

Side = Literal["left", "right", "bilateral"]

_SIDE = re.compile(
    r"\b(?P<bi>bilateral(?:ly)?|bibasilar|bibasal|both\s+(?:lungs|breasts|kidneys|ovaries|adnexa|lobes|hila|sides|bases)"
    r"|right\s+and\s+left|left\s+and\s+right)\b"
    r"|\b(?P<r>right|rt|rul|rml|rll)\b|\b(?P<l>left|lt|lul|lll|lingula|lingular)\b"
    r"|(?-i:\b(?P<r1>R)\b)(?=\s+(?:breast|kidney|lung|lobe|ovary|adnexa|thyroid|lobe))"
    r"|(?-i:\b(?P<l1>L)\b)(?=\s+(?:breast|kidney|lung|lobe|ovary|adnexa|thyroid|lobe))",
    re.IGNORECASE,
)
_NORMAL = re.compile(
    r"^\s*(?:\d+[.)]\s*)?(?:[A-Za-z ]{1,20}:\s*)?(?:no|negative|normal|unremarkable|without|there\s+is\s+no|benign-appearing\s+and\s+stable)\b",
    re.IGNORECASE,
)
_DEVICE_AFTER = re.compile(
    r"^\s*(?:\w+\s+){0,3}?(?:ij|internal\s+jugular|subclavian|femoral|chest\s+wall|chest\s+tube|cvc|picc|catheter|line|port|"
    r"pacemaker|pacer|sheath|introducer|drain|tube|lead)\b"
    # the exam's name, not a finding: "Bilateral breast MRI: ...", "left diagnostic mammogram and ultrasound: ..."
    r"|^\s*(?:(?:breast|diagnostic|screening|contrast[\s\-]enhanced|digital)\s+){0,2}"
    r"(?:mammogra\w*|mri|mr|ultrasound|sonogra\w*|tomosynthesis|exam\w*|study)\b",
    re.IGNORECASE,
)
# A side word that names part of an unpaired organ: "right hepatic lobe", "left ventricle", "right coronary artery".
_UNPAIRED_AFTER = re.compile(
    r"^\s*(?:(?:hepatic|portal|hemi-?colon|colon\w*|atri\w+|ventric\w+|coronary|main\s+coronary|anterior\s+descending|"
    r"circumflex|heart|paramedian)\b|lobe\s+of\s+the\s+liver|(?:\w+\s+)?lobe\s+of\s+the\s+liver)",
    re.IGNORECASE,
)
_BENIGN = re.compile(r"\b(?:benign|simple\s+cysts?|normal|unremarkable|no\s+suspicious|negative)\b", re.IGNORECASE)
_MIDLINE = re.compile(
    r"\b(?:liver|hepat\w*|segment\s+\d|cirrho\w*|colon\w*|sigmoid|rect\w+|bowel|duoden\w*|stomach|gastric|esophag\w*|gej|"
    r"pancrea\w*|aort\w*|heart|cardiac|coronar\w*|lad|rca|lcx|prostat\w*|pi-rads|bladder|uter\w*|gallbladder|"
    r"pneumoperitoneum|peritone\w*|spine|spinal|vertebra\w*|midline|trachea|mediastin\w*|pericard\w*|brainstem|pituitary)\b",
    re.IGNORECASE,
)
_ACTION_ONLY = re.compile(r"^\s*(?:\d+[.)]\s*)?(?:recommend|suggest|critical|results?|communicated|discussed|called|"
                          r"findings?\s+(?:were\s+)?(?:discussed|communicated))", re.IGNORECASE)


def _side_of(sentence: str) -> Side | None:
    for m in _SIDE.finditer(sentence):
        if _DEVICE_AFTER.match(sentence[m.end():]) or _UNPAIRED_AFTER.match(sentence[m.end():]):
            continue
        if m.group("bi"):
            return "bilateral"
        return "right" if (m.group("r") or m.group("r1")) else "left"
    return None


def _clauses(source: str) -> list[str]:
    out = []
    for a, b in sentence_spans(source):
        if HISTORY_LINE.match(source[source.rfind("\n", 0, a) + 1 :]):
            continue
        out += [c.strip() for c in source[a:b].split(";") if c.strip()]
    return out


def _rads_side(report: RadiologyReport) -> Side | None:
    """Side named in the clause of the stated RADS category ("Right ovary: O-RADS 2. Left ovary:
    O-RADS 4." -> left): the RADS lesion is the index finding. Any clause stating the chosen
    category counts ("Overall BI-RADS 4" after "Left breast mass. BI-RADS 4.")."""
    found = stated_rads(report)
    if found is None:
        return None
    text = report.text()
    same = [m for m in find_mentions(text)
            if not m.historical and (m.system, m.category) == (found.system, found.category) and m.start != found.start]
    for m in [found, *same]:
        # The clause around the mention: from the last ";" or full stop before it to the next one
        # ("Right ovary: O-RADS US 2. Left ovary: O-RADS US 4." is one sentence to models.text).
        a, b = _line_bounds(text, m.start)
        head = [x.end() for x in _CLAUSE_END.finditer(text, a, m.start)]
        tail = _CLAUSE_END.search(text, m.end, b)
        side = _side_of(text[head[-1] if head else a : tail.start() if tail else b])
        if side:
            return side
    return None


_CLAUSE_END = re.compile(r";|(?<=[^\d\s]\.)\s+|(?<=\d[a-zA-Z]\.)\s+|(?<=\d\.)\s+(?=[A-Z])")


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    return a, len(text) if b < 0 else b


def index_laterality(report: RadiologyReport) -> Side | None:
    """left/right/bilateral for the index finding, or None (midline, unpaired or no abnormality).

    The clause that states the report's RADS category decides when it names a side. Else two
    passes over the impression's clauses: the first also skips benign-worded ones ("Right
    breast: benign cyst. Left breast: suspicious mass." -> left), the second takes them when
    nothing else was abnormal.
    """
    side = _rads_side(report)
    if side:
        return side
    clauses = _clauses(report.impression or report.body())
    for skip_benign in (True, False):
        for clause in clauses:
            if _NORMAL.match(clause) or _ACTION_ONLY.match(clause):
                continue
            if skip_benign and _BENIGN.search(clause):
                continue
            side = _side_of(clause)
            if side:
                return side
            if _MIDLINE.search(clause):
                return None
    return None
