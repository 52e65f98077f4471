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
from models.text import sentence_spans
from models.types import RadiologyReport

__all__ = ["Side", "index_laterality"]

Side = Literal["left", "right", "bilateral"]

_SIDE = re.compile(
    r"\b(?P<bi>bilateral(?:ly)?|bibasilar|bibasal|both\s+(?:lungs|breasts|kidneys|ovaries|adnexa|lobes|hila|sides|bases))\b"
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
    r"pacemaker|pacer|sheath|introducer|drain|tube|lead)\b",
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


def index_laterality(report: RadiologyReport) -> Side | None:
    """left/right/bilateral for the index finding, or None (midline, unpaired or no abnormality).

    Two passes over the impression's clauses: the first also skips benign-worded ones ("Right
    breast: benign cyst. Left breast: suspicious mass." -> left), the second takes them when
    nothing else was abnormal.
    """
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
