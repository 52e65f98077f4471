"""Follow-up recommendations: what the report asks for, and when, as an ISO 8601 duration.

A clause is a recommendation when it has a recommending verb ("recommend", "suggest",
"advise", "should undergo", "return to", "follow-up ... in") and is not itself negative
("no follow-up is needed"), nor clinical correlation alone ("Suggest clinical correlation": no study,
procedure, referral or time). The procedure is the first imaging study, procedure or
referral named in the clause; the interval is the first "in N months", "N-month",
"N-M weeks", "three to six months" (the earliest bound: follow-up is due from then; likewise the
first of "in 1, 2, 3 and 5 years"), "in a year", "annual" or "biennial" (two years) phrase; counts
in words up to twelve, "three (3) months" and "wks" included.
"""

from __future__ import annotations

import re

from models.rules.context import HISTORY_LINE
from models.text import evidence_at, sentence_spans
from models.types import FollowUp

__all__ = ["follow_ups", "iso_interval"]

_RECOMMEND = re.compile(
    r"\b(?:recommend\w*|suggest(?:ed|s)?|advis\w*|optional|"
    r"(?:should|could|can|may|might)\s+(?:undergo|be\s+(?:followed|obtained|performed|considered|pursued|repeated))|"
    r"return\s+to|consider(?:ation)?|warrants?|follow[\s\-]?up\s+(?:[\w\-/]+\s+){0,3}in\s+(?:\d+|an?|one"
    r"|two|three|four|five|six|seven|eight|nine|ten|twelve|eighteen)|referral|consultation|"
    r"is\s+(?:recommended|advised|needed|indicated)|\d{1,2}[\s\-]?(?:month|year|week)s?\s+follow[\s\-]?up|"
    r"continue\s+(?:annual|routine)|continue\s+(?:\w+\s+){0,3}?(?:surveillance|screening|follow[\s\-]?up|imaging)|"
    r"(?:is|are)\s+due\s+in|due\s+in\s+(?:\d+|one|two|three|six|twelve)"
    r"|meets?\s+(?:\w+\s+){0,3}criteria\s+for)\b",
    re.IGNORECASE,
)
_NEGATIVE = re.compile(r"\b(?:no|not)\b[^.;]{0,40}\b(?:needed|necessary|required|recommended|indicated|warranted)\b"
                       r"|\bno\s+(?:further\s+)?(?:follow[\s\-]?up|imaging|workup|work-up)\b", re.IGNORECASE)
# A recommendation of clinical correlation only ("Suggest clinical correlation", "Correlation with LFTs is
# recommended"): no imaging, procedure or referral and no time, so no follow-up recommendation (unless one is named:
# "Suggest clinical correlation and ultrasound").
_CORRELATION = re.compile(r"\bcorrelat\w*", re.IGNORECASE)
_OTHER_ASK = re.compile(r"\b(?:follow[\s\-]?up|evaluation|work[\s\-]?up|imaging|surveillance|screening|comparison)\b",
                        re.IGNORECASE)
_PROCEDURE = re.compile(
    r"\b(?:(?:diagnostic|screening|short[\s\-]interval|follow[\s\-]?up|contrast[\s\-]enhanced|multiphase|targeted|"
    r"low[\s\-]dose|bilateral|unilateral|left|right|annual|routine|repeat|dedicated|surveillance|chest|breast|thyroid|pelvic|"
    r"non[\s\-]?contrast(?:[\s\-]enhanced)?|unenhanced|upright|pa\s+and\s+lateral|two[\s\-]view|portable)\s+)*"
    r"(?:(?:(?:us|ultrasound|ct|mri?|image|stereotactic(?:ally)?)[\s\-]guided\s+|stereotactic\s+)?(?:(?:core\s+(?:needle\s+)?)?biopsy|fna|(?:fine[\s\-]needle\s+)?aspiration)|"
    # "CT angiography of the chest", "CTA", "MRCP"; "dedicated rib series", "upright views"; "repeat imaging".
    r"(?:ct|mr|cardiac)\s+angiogra\w+|\bcta\b|\bmra\b|\bmrcp\b|(?:ct|mr)\s+(?:enterography|urogra\w+)|"
    r"(?:rib|skeletal|bone|trauma|obstruction|acute\s+abdomen)\s+(?:survey|series)|"
    r"(?:upright|decubitus|oblique|lateral|expiratory|lordotic|spot|magnification)\s+(?:views?|radiographs?|films?)|"
    r"(?:repeat|follow[\s\-]?up|cross[\s\-]sectional|further|additional|short[\s\-]interval)\s+imaging|"
    r"mammogra\w+|ultrasound|sonograph\w*|(?<!rads\s)(?<!rads-)\bus\b|mri|\bmr\b|ct(?:[\s\-]ffr)?|ldct|pet/ct|pet|radiograph\w*|x-ray|"
    r"(?:chest\s+)?ct|screening|fna|tissue\s+sampling|"
    r"aspiration|stress\s+test\w*|functional\s+(?:test\w*|assessment|evaluation)|angiogra\w+|colonoscopy|endoscop\w+|cystoscop\w+|spot\s+compression\s+views|"
    r"(?:(?!recommend|suggest|consider|advise)\w+\s+){0,2}(?:surgical|surgery|oncology|urology|gynecologic\s+oncology)\s+(?:consultation|referral)|"
    # the specialty named before it: "interventional radiology consultation", "pulmonology referral"
    r"(?:(?!(?:recommend\w*|suggest\w*|consider\w*|advis\w*|a|an|the|and|or|for|with|to|of|in|further|clinical|prompt"
    r"|urgent|is|are|be|optional|please)\b)[a-z]+\s+){1,3}(?:consultation|referral)|"
    r"(?:surgical|multidisciplinary)\s+(?:consultation|discussion)|"
    # "referral to hepatology", "consultation with a breast surgeon": the specialty named after it.
    r"(?:referral|consultation)\s+(?:to|with)\s+(?:an?\s+|the\s+)?(?:(?!(?:for|in|and|if|to|as|at|of)\b)[a-z]+\b\s*){1,3}(?<!\s)|"
    r"referral|consultation|direct\s+visualization)\b"
    r"(?:\s+(?:of\s+the\s+)?(?:chest|abdomen|pelvis|neck|liver|breast|thyroid|head|brain|spine|ribs)\b)?",
    re.IGNORECASE,
)
_NUM = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
        "ten": 10, "eleven": 11, "twelve": 12, "eighteen": 18, "twenty-four": 24, "a": 1, "an": 1}
_WORDS = r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|eighteen|twenty-four"
_COUNT = rf"(?:\d{{1,2}}|{_WORDS})(?:\s*\(\d{{1,2}}\))?"  # "three (3) months"
_INTERVAL = re.compile(
    # the lower bound of a range counts: "in 3-6 months", "three to six months", "6 to 8 weeks"
    # and of a list the first: "in 1, 2, 3 and 5 years"
    rf"\b(?P<n>{_COUNT})(?:\s*(?:-|to|–|or|,|,?\s*and)\s*{_COUNT})*[\s\-]*(?P<unit>day|week|wk|month|year|yr|mo)s?\b"
    r"|\b(?:in|within|after)\s+(?P<one>an?)\s+(?P<unit1>week|month|year)\b"
    r"|\b(?P<annual>annual(?:ly)?|yearly)\b|\b(?P<biannual>biannual|semiannual|semi-annual)\b"
    r"|\b(?P<biennial>biennial(?:ly)?)\b",  # every two years (biannual is twice a year)
    re.IGNORECASE,
)
_UNIT = {"day": "D", "week": "W", "wk": "W", "month": "M", "mo": "M", "year": "Y", "yr": "Y"}


def iso_interval(text: str) -> str | None:
    """ISO 8601 duration of the first interval phrase in `text` ('in 3-6 months' -> 'P3M'), or None."""
    m = _INTERVAL.search(text)
    if not m:
        return None
    if m.group("annual"):
        return "P1Y"
    if m.group("biannual"):
        return "P6M"
    if m.group("biennial"):
        return "P2Y"
    if m.group("one"):
        return f"P1{_UNIT[m.group('unit1').lower()]}"
    n = re.sub(r"\s*\(\d+\)", "", m.group("n")).lower()
    value = int(n) if n.isdigit() else _NUM[n]
    return f"P{value}{_UNIT[m.group('unit').lower()]}"


def follow_ups(text: str) -> list[FollowUp]:
    """Recommendations in `text`, one per clause, with procedure, interval and evidence."""
    out: list[FollowUp] = []
    for a, b in sentence_spans(text):
        if HISTORY_LINE.match(text[text.rfind("\n", 0, a) + 1 :]):
            continue
        pos = a
        for clause in re.split(r"(?<=;)", text[a:b]):
            start, pos = pos, pos + len(clause)
            body = clause.strip(" ;")
            if not body or not _RECOMMEND.search(body) or _NEGATIVE.search(body):
                continue
            rec = _RECOMMEND.search(body)
            tail = body[max(0, rec.start() - 60):] if rec else body
            proc = _PROCEDURE.search(tail) or _PROCEDURE.search(body)
            interval = iso_interval(body)
            if proc is None and interval is None and _CORRELATION.search(body) \
                    and not _OTHER_ASK.search(_CORRELATION.sub(" ", body)):
                continue
            offset = start + (len(clause) - len(clause.lstrip(" ;")))
            out.append(FollowUp(
                text=body,
                procedure=proc.group(0).strip() if proc else None,
                interval=interval,
                evidence=[evidence_at(text, offset, offset + len(body))],
            ))
    return out
