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

from models.rules.context import HISTORY_LINE, addendum_starts
from models.rules.rads import find_mentions, severity_rank, stated_rads
from models.text import sentence_spans
from models.types import RadiologyReport

__all__ = ["Side", "index_laterality"]

Side = Literal["left", "right", "bilateral"]

# Anatomy a bare capital R or L may stand before ("R breast", "L pleural effusion", "R apical pneumothorax").
_RL_ANATOMY = (r"(?=\s+(?:breast|kidney|renal|adrenal|lung|lobe|upper|middle|lower|ovary|ovarian|adnexa"
               r"|adnexal|thyroid|"
               r"apex|apical|base|basilar|hemithorax|pleural|hilum|hilar|axilla|axillary|testis|testicle"
               r"|testicular|"
               r"neck|chest|flank|hip|knee|shoulder)\b)")
_SIDE = re.compile(
    # "right greater than left", "R>L", "left more than right": both sides
    r"\b(?P<bi>(?:right|left|rt|lt|r|l)\s*(?:greater\s+than|more\s+than|worse\s+than|>|=)\s*(?:right|left|"
    r"rt|lt|r|l)\b"
    r"|bilateral(?:ly)?|bibasilar|bibasal|both\s+(?:lungs|breasts|kidneys|ovaries|adnexa|lobes|hila|sides|"
    r"bases)"
    # "right and left", "moderate right and small left pleural effusions"
    r"|right\s+(?:and|&)\s+(?:(?:trace|tiny|small|moderate|large|mild|minimal|severe|massive)\s+){0,2}left"
    r"|left\s+(?:and|&)\s+(?:(?:trace|tiny|small|moderate|large|mild|minimal|severe|massive)\s+){0,2}right)\b"
    r"|\b(?P<r>right|rt|rul|rml|rll)\b|\b(?P<l>left|lt|lul|lll|lingula|lingular)\b"
    rf"|(?-i:\b(?P<r1>R)\b){_RL_ANATOMY}|(?-i:\b(?P<l1>L)\b){_RL_ANATOMY}",
    re.IGNORECASE,
)
# A side word that only says where a device lies ("ETT tip in the right mainstem bronchus", "PICC tip
# in the right internal jugular vein"): devices do not set laterality (README), wherever they lie.
_DEVICE = re.compile(r"\b(?:tube|ett|catheter|line|picc|cvc|port|pacemaker|pacer|leads?|sheath|introducer|"
                     r"drain|stent|"
                     r"wires?|cannula|tip)\b", re.IGNORECASE)
_DEVICE_PLACE = re.compile(
    r"^\s*(?:main\s*-?\s*stem|main\s+bronch\w*|bronch\w*|atri\w+|ventric\w+|internal\s+jugular|ij|subclavian|"
    r"brachiocephalic|innominate|axillary\s+vein|jugular|hemithorax|pleural\s+space|chest|interlobar"
    r"|(?:main\s+|descending\s+)?pulmonary\s+arter\w*)\b",
    re.IGNORECASE,
)
_NORMAL = re.compile(
    r"^\s*(?:\d+[.)]\s*)?(?:[A-Za-z ]{1,20}:\s*)?(?:no|negative|normal|unremarkable|without|there\s+is\s+no|benign-appearing\s+and\s+stable)\b",
    re.IGNORECASE,
)
_DEVICE_AFTER = re.compile(
    r"^\s*(?:\w+\s+){0,3}?(?:ij|internal\s+jugular|subclavian|femoral|chest\s+wall|chest\s+tube|cvc|picc|catheter|line|port|"
    r"pacemaker|pacer|sheath|introducer|drain|tube|lead|arthroplasty|hemiarthroplasty|hardware|(?:internal\s+)?fixation"
    r"|orif)\b"
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
    r"pneumoperitoneum|free\s+(?:intraperitoneal\s+)?air|peritone\w*|spine|spinal|vertebra\w*|midline"
    r"|trachea|mediastin\w*|pericard\w*|brainstem|pituitary)\b",
    re.IGNORECASE,
)
# A clause that only gives the surgical history ("Status post right mastectomy."): no finding of this study.
# ("Status post right pneumonectomy with expected postoperative changes": still only the history.)
_HISTORY_ONLY = re.compile(r"^\s*(?:\d+[.)]\s*)?(?:status\s+post|s/p|history\s+of)\b"
                           r"(?![^.;]*\b(?:with(?!\s+(?:expected|typical|stable|usual)\s+post[\s\-]?(?:operative|surgical)"
                           r"\s+change)|new|mass|recurren\w*|but|and|now)\b)", re.IGNORECASE)
# A clause that states its finding is gone ("Resolved left pneumothorax.", "The right effusion has resolved.",
# "Left pneumothorax is no longer seen."): no abnormality of this study.
_RESOLVED_ONLY = re.compile(
    r"^\s*(?:\d+[.)]\s*)?(?:(?:interval|complete)\s+)?(?:resolved|resolution\s+of)\b(?![^.;]*\b(?:with|but|new)\b)"
    r"|^(?![^.;]*\b(?:with|but|new)\b)[^.;]*\b(?:(?:has|have)\s+(?:now\s+)?(?:completely\s+)?(?:resolved|cleared)"
    r"|(?:is|are)\s+no\s+longer\s+(?:seen|visible|present|identified|evident|visuali[sz]ed))\s*[.;]?\s*$",
    re.IGNORECASE,
)
_ACTION_ONLY = re.compile(r"^\s*(?:\d+[.)]\s*)?(?:recommend|suggest|critical|results?|communicated|discussed|called|"
                          r"findings?\s+(?:were\s+)?(?:discussed|communicated))", re.IGNORECASE)


def _first_side(sentence: str) -> tuple[Side, int] | None:
    """The first side word of a finding in the sentence and its offset (devices, exam names and
    parts of unpaired organs skipped)."""
    for m in _SIDE.finditer(sentence):
        after = sentence[m.end():]
        if _DEVICE_AFTER.match(after) or _UNPAIRED_AFTER.match(after):
            continue
        if _DEVICE_PLACE.match(after) and _DEVICE.search(sentence[: m.start()]):
            continue
        if m.group("bi"):
            return "bilateral", m.start()
        return ("right" if (m.group("r") or m.group("r1")) else "left"), m.start()
    return None


def _side_of(sentence: str) -> Side | None:
    found = _first_side(sentence)
    return found[0] if found else None


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
    # A negative category ("Left breast: BI-RADS 1") names no finding, so no side.
    if found is None or severity_rank(found.system, found.category) == 0:
        return None
    text = report.text()
    same = [m for m in find_mentions(text)
            if not m.historical and (m.system, m.category) == (found.system, found.category) and m.start != found.start]
    sides: list[Side] = []
    for m in [found, *same]:
        # The clause around the mention: from the last ";" or full stop before it to the next one
        # ("Right ovary: O-RADS US 2. Left ovary: O-RADS US 4." is one sentence to models.text).
        a, b = _line_bounds(text, m.start)
        head = [x.end() for x in _CLAUSE_END.finditer(text, a, m.start)]
        tail = _CLAUSE_END.search(text, m.end, b)
        lo, hi = head[-1] if head else a, tail.start() if tail else b
        # The side written in the mention's own comma-separated part wins over the clause's first one:
        # "Thyroid nodules in both lobes, TR4 on the left" -> left.
        part_a = text.rfind(",", lo, m.start) + 1 or lo
        part_b = text.find(",", m.end, hi)
        side = _side_of(text[part_a : part_b if part_b >= 0 else hi]) or _side_of(text[lo:hi])
        if side:
            sides.append(side)
    # The same category on each side ("Right breast: BI-RADS 4A. Left breast: BI-RADS 4A."): both.
    if "bilateral" in sides or {"left", "right"} <= set(sides):
        return "bilateral"
    return sides[0] if sides else None


_CLAUSE_END = re.compile(r";|(?<=[^\d\s]\.)\s+|(?<=\d[a-zA-Z]\.)\s+|(?<=\d\.)\s+(?=[A-Z])")


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    return a, len(text) if b < 0 else b


# Between a midline organ and a later side word: the side belongs to another finding ("Sigmoid colon
# mass with left para-aortic adenopathy"), not to the organ's lesion ("bladder tumour along the left wall").
# Midline findings whose side words only say where they lie ("free air under the right hemidiaphragm",
# "aortic dissection extending into the left iliac artery").
_STRICT_MIDLINE = re.compile(r"free|pneumoperitoneum|aort", re.IGNORECASE)
# Unpaired organs whose own lesion is the index finding (a tumour of the colon, pancreas, bladder...):
# the heart or mediastinum next to a sided chest finding ("cardiac enlargement and left effusion") is not.
_LESION_ORGAN = re.compile(r"liver|hepat|segment|cirrho|colon|sigmoid|rect|bowel|duoden|stomach|gastric|"
                           r"esophag|gej|pancrea|prostat|bladder|uter|gallbladder", re.IGNORECASE)
_CONJ = re.compile(r"\bwith\b|\band\b|\bplus\b|\bas\s+well\s+as\b|,", re.IGNORECASE)
# The side a unilateral exam names ("MG DIAGNOSTIC LEFT", "US BREAST RT"); quadrants are not sides.
_PROC_SIDE = re.compile(r"\b(?P<r>right|rt)\b(?!\s+(?:upper|lower)\s+quadrant)|\b(?P<l>left|lt)\b(?!\s+(?:"
                        r"upper|lower)\s+quadrant)"
                        r"|\b(?P<bi>bilateral|bilat|both)\b", re.IGNORECASE)


# An addendum correcting the side ("Correction: the mass is in the LEFT breast, not the right",
# "The impression should read left rather than right"): the corrected side wins.
_CORRECTION = re.compile(r"\b(?:correct\w*|should\s+(?:read|state|be)|erroneous\w*|in\s+error|misdictat\w*"
                         r"|mis-?dictat\w*|"
                         r"amend\w*|laterality)\b", re.IGNORECASE)
_WRONG_SIDE = re.compile(r"(?:\bnot|\brather\s+than|\binstead\s+of|\bin\s+place\s+of|\bincorrectly"
                         r"|\berroneously|"
                         r"\bdictated\s+as|\bstated\s+as|\bfrom)\s+(?:the\s+|as\s+)?$", re.IGNORECASE)


def _corrected_side(report: RadiologyReport) -> Side | None:
    """The side an addendum corrects the report to, or None when no addendum corrects a side."""
    text = report.text()
    starts = addendum_starts(text)
    if not starts:
        return None
    for clause in _clauses(text[starts[-1] :]):
        if not _CORRECTION.search(clause):
            continue
        for m in _SIDE.finditer(clause):
            if _WRONG_SIDE.search(clause[: m.start()]):
                continue
            side = _side_of(clause[m.start() :])
            if side:
                return side
    return None


def _side_of_other_finding(clause: str, midline: re.Match[str], side_at: int) -> bool:
    """A side word after a midline finding that locates it or a secondary finding, not a lesion's side."""
    organ = midline.group(0)
    if _STRICT_MIDLINE.match(organ):
        return True
    return bool(_LESION_ORGAN.match(organ) and _CONJ.search(clause, midline.end(), side_at))


def _negative_category(clause: str) -> bool:
    """A clause that states a negative category ("BI-RADS 1", "TR1", "CAD-RADS 0"): no abnormality."""
    found = find_mentions(clause)
    return bool(found) and all(severity_rank(m.system, m.category) == 0 for m in found)


# A heading alone ("ADDENDUM:", "*** ADDENDUM ***", "IMPRESSION:") states nothing.
_HEADING_ONLY = re.compile(r"^[\W\d]*[A-Za-z][A-Za-z /&()#\d\-]{0,40}:\s*$|^[\s*#=\-\[]*addend(?:um"
                           r"|a)\b[^a-z]*$", re.IGNORECASE)


def _procedure_side(report: RadiologyReport) -> Side | None:
    """The one side a unilateral exam is of, or None (no side, both sides, or bilateral)."""
    sides = set()
    for m in _PROC_SIDE.finditer(report.procedure or ""):
        sides.add("bilateral" if m.group("bi") else "right" if m.group("r") else "left")
    return sides.pop() if len(sides) == 1 and "bilateral" not in sides else None  # type: ignore[return-value]


def index_laterality(report: RadiologyReport) -> Side | None:
    """left/right/bilateral for the index finding, or None (midline, unpaired or no abnormality).

    The clause that states the report's RADS category decides when it names a side. Else two
    passes over the impression's clauses: the first also skips benign-worded ones ("Right
    breast: benign cyst. Left breast: suspicious mass." -> left), the second takes them when
    nothing else was abnormal. An abnormality the report gives no side in a unilateral exam
    ("MG DIAGNOSTIC LEFT": "Suspicious mass. BI-RADS 4B.") lies on the exam's side.
    """
    side = _corrected_side(report) or _rads_side(report)
    if side:
        return side
    # An addendum's own findings come first: it revises the report ("recall is needed for a left breast
    # asymmetry. Revised: BI-RADS 0.").
    text = report.text()
    starts = addendum_starts(text)
    added = _clauses(text[starts[-1] :]) if starts else []
    clauses = added + _clauses(report.impression or report.body())
    unsided = False
    for skip_benign in (True, False):
        for i, clause in enumerate(clauses):
            if _NORMAL.match(clause) or _ACTION_ONLY.match(clause) or _HEADING_ONLY.match(clause) \
                    or _HISTORY_ONLY.match(clause) or _RESOLVED_ONLY.match(clause) or _negative_category(clause):
                continue
            if skip_benign and _BENIGN.search(clause):
                continue
            found = _first_side(clause)
            midline = _MIDLINE.search(clause)
            if found and midline and midline.start() < found[1] \
                    and _side_of_other_finding(clause, midline, found[1]):
                return None
            if found:
                return found[0]
            if midline:
                return None
            # (an addendum's administrative sentences say nothing about the finding's side)
            unsided = unsided or (i >= len(added) and not _negative_category(clause))
    return _procedure_side(report) if unsided else None
