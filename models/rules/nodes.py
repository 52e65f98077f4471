"""N1-N3 derived from the regional nodes a pre-treatment staging report describes, when it states
no N stage (AJCC 8th edition, clinical/radiologic N, organ-specific rules of the dev README).

Derived only where the words settle the stage: a pre-treatment staging study (a staging cue, no
post-treatment or surveillance cue) of exactly one known primary among colon/rectum, stomach,
esophagus, kidney, bladder and lung (lung also needs the primary's side). Every described node
gets a count range, a station, a side and a status (positive, uncertain or benign); the organ rule
turns the lowest and the highest possible reading into a stage, and only when both give the same
stage is it returned. So "multiple" nodes (two or more) give N2 in the bladder but nothing in
the colon, and a "borderline" node that could move the stage withholds it.

Rules by organ (positive regional nodes):

- colon/rectum: 1-3 N1, >=4 N2 (para-aortic, external/common iliac, inguinal nodes are M, not N)
- stomach, esophagus: 1-2 N1, 3-6 N2, >=7 N3 (supraclavicular, para-aortic nodes are M)
- kidney: any regional (hilar, caval, aortic, interaortocaval, retroperitoneal) node N1
- bladder: one true-pelvis node N1, several N2, any common iliac node N3
- lung: ipsilateral hilar/peribronchial/intrapulmonary N1, ipsilateral mediastinal or
  subcarinal N2, contralateral hilar/mediastinal or any scalene/supraclavicular N3

Positive: enlarged (or >= 1 cm), FDG avid, necrotic, round, with loss of the fatty hilum, or
called suspicious/concerning/metastatic; "lymphadenopathy" itself. "Not enlarged" or
subcentimetre nodes count only with such another feature. Reactive/benign/not suspicious nodes
do not count; hedged ("borderline", "prominent", "possibly", "likely reactive") ones are
uncertain. Nodes repeated in the impression are not counted twice (the impression adds only
stations the findings do not name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from models.rules.tnm import StageMention, clause_spans
from models.text import sentence_spans

__all__ = ["derived_n"]

_I = re.IGNORECASE
Organ = Literal["colorectal", "stomach", "esophagus", "kidney", "bladder", "lung"]
Status = Literal["positive", "uncertain", "benign"]
_MANY = 99  # "no upper bound" for a count

# ---- the study: pre-treatment staging of one known primary --------------------------------------

_STAGING = re.compile(r"(?<!re)(?<!re-)\bstaging\b|\bnewly\s+diagnosed\b|\bpre-?treatment\b", _I)
# Planned treatment is not past treatment: "staging before neoadjuvant chemotherapy".
_PLANNED = re.compile(
    r"\b(?:prior\s+to|before|pending|planned|planning|for|candidate\s+for|consideration\s+of)\s+(?:\w+\s+){0,3}?"
    r"(?:neoadjuvant|chemo\w*|radiation|radiotherapy|therapy|treatment|surgery|resection)"
    r"(?:(?:[\s/-]+|\s+and\s+)(?:chemo\w*|radiation|radiotherapy|therapy|treatment|surgery|resection))*\b", _I)
_POST_TREATMENT = re.compile(
    r"\b(?:re-?staging|surveillance|post-?(?:treatment|therapy|operative|surgical|radiation|chemo\w*)|status\s+post|s/p"
    r"|resected|resection|treated|neoadjuvant|chemo(?:therapy|radiation|radiotherapy)?|radiotherapy|radiation\s+therapy"
    r"|(?:after|following)\s+(?:\w+\s+)?(?:surgery|treatment|therapy)|recurren\w*|response|ni-?rads"
    r"|\w+ectomy|anastomo\w*|decreas\w*|regress\w*|resolv\w*)\b", _I)

_CANCER = r"(?:adenocarcinoma|carcinoma|cancer|malignan\w*|neoplasm|tumou?r|mass|primary|rcc|nsclc|sclc)"
_ORGAN_CUES: dict[Organ, str] = {
    "colorectal": r"colon|colonic|colorectal|sigmoid|rect(?:um|al)|rectosigmoid|c(?:a)?ec(?:um|al)|hepatic\s+flexure|splenic\s+flexure",
    "esophagus": r"o?esophag\w*|ge\s+junction|gej|gastro-?o?esophageal\s+junction",
    "stomach": r"gastric|stomach|antr(?:um|al)|cardia",
    "kidney": r"renal|kidney|rcc",
    "bladder": r"bladder|vesical",
    "lung": r"lung|pulmonary|bronchogenic|nsclc|sclc|[rl](?:u|m|l)l|(?:right|left)\s+(?:upper|middle|lower)\s+lobe",
}
# Another cancer named outright makes the primary unclear.
_OTHER_STRONG = re.compile(
    r"\b(?:breast|prostat\w*|pancrea\w*|ovar\w*|uter\w*|endometri\w*|thyroid|head\s+and\s+neck)\s+(?:\w+\s+){0,2}?"
    r"(?:adenocarcinoma|carcinoma|cancer|malignancy)\b|\b(?:hepatocellular|cholangiocarcinoma|hcc|melanoma|lymphoma|myeloma|sarcoma)\b",
    _I)


def _sentences(text: str) -> list[str]:
    """Every sentence, history lines included: the primary is usually named in the indication."""
    return [s for s in re.split(r"(?<=[.;])\s+|\n", text) if s.strip()]


def _pretreatment_staging(text: str) -> bool:
    """A staging study of an untreated cancer: a staging cue and no sign of treatment or surveillance."""
    return bool(_STAGING.search(text)) and not _POST_TREATMENT.search(_PLANNED.sub(" ", text))


def _organs_named(sentence: str) -> set[Organ]:
    """Organs a sentence names within a few words of a cancer term."""
    found: set[Organ] = set()
    for organ, cue in _ORGAN_CUES.items():
        near = rf"\b(?:{cue})\b[^.;]{{0,40}}\b{_CANCER}\b|\b{_CANCER}\b[^.;]{{0,25}}\b(?:of|in|from|arising)\b[^.;]{{0,20}}\b(?:{cue})\b"
        for m in re.finditer(near, sentence, _I):
            # "No renal mass" names no primary.
            if not re.search(r"\b(?:no|without|negative\s+for)\b[^.;:]{0,30}$", sentence[: m.start()], _I):
                found.add(organ)
    return found


def _primary(text: str) -> Organ | None:
    """The one primary organ the report names, or None when none or several are named."""
    organs: set[Organ] = set()
    for sentence in _sentences(text):
        organs |= _organs_named(sentence)
    if organs == {"stomach", "esophagus"}:
        return "esophagus"  # a GE junction tumour: N rules of the two are the same (1-2 / 3-6 / >=7)
    if len(organs) != 1 or _OTHER_STRONG.search(text):
        return None
    return next(iter(organs))


_RIGHT = re.compile(r"\b(?:right|[rR](?:u|m|l)l|RUL|RML|RLL)\b", _I)
_LEFT = re.compile(r"\b(?:left|LUL|LLL|lingula\w*)\b", _I)


def _lung_side(text: str) -> Literal["right", "left"] | None:
    """Side of the lung primary, from the sentences that name it; None when absent or both."""
    sides: set[str] = set()
    for sentence in _sentences(text):
        if "lung" not in _organs_named(sentence):
            continue
        for m in re.finditer(rf"\b(?:{_ORGAN_CUES['lung']})\b|\b{_CANCER}\b", sentence, _I):
            window = sentence[max(0, m.start() - 30) : m.end() + 5]
            if re.search(r"\b(?:right|rul|rml|rll)\b", window, _I):
                sides.add("right")
            if re.search(r"\b(?:left|lul|lll|lingula\w*)\b", window, _I):
                sides.add("left")
    return sides.pop() if len(sides) == 1 else None  # type: ignore[return-value]


# ---- described nodes -----------------------------------------------------------------------------

_HEAD = re.compile(r"\b(?:lymph\s*nodes?|nodes?|lymphadenopathy|adenopathy)\b", _I)
_SPLIT = re.compile(r",\s*|;\s*|\s+and\s+|\s+as\s+well\s+as\s+|\s+plus\s+", _I)
_NEG_SCOPE = re.compile(r"\b(?:no|without|negative\s+for|free\s+of|absence\s+of)\b.*?(?=\b(?:but|however|although|except|apart)\b|$)", _I)
_NOT_SEEN = re.compile(r"\b(?:not|none)\s+(?:seen|identified|present|demonstrated|evident|detected)\b", _I)
_SIZE_OK = re.compile(r"\bnot\s+(?:pathologically\s+|significantly\s+)?enlarged\b|\bnon-?enlarged\b|\bsub-?centimet\w*\b"
                      r"|\bnormal[\s\-]+(?:sized?|in\s+size)\b|\bsmall\b|\btiny\b", _I)
_BENIGN = re.compile(r"\breactive\b|\bbenign\b|\bnot[\s-]+suspicious\b|\bnon-?suspicious\b|\bunremarkable\b|\bnormal[\s-]appearing\b"
                     r"|\b(?:preserved|normal|intact)\s+(?:fatty\s+)?hil\w*|\bfatty\s+hil\w*\s+(?:is\s+)?(?:preserved|intact)"
                     r"|\bcalcified\b|\bgranulomatous\b", _I)
_FEATURE = re.compile(r"\b(?:fdg[\s-]?avid|avid\w*|hypermetabolic|suv\w*|necro\w*|round(?:ed)?|suspicio\w*|concern\w*|worr\w*"
                      r"|metasta\w*|malignan\w*|pathologic\w*|involve\w*|matted|conglomerate|bulky|irregular)\b"
                      r"|\b(?:loss|absen\w*|effac\w*)\s+(?:of\s+)?(?:the\s+)?(?:fatty\s+)?hil\w*|\bwithout\s+(?:a\s+)?fatty\s+hil\w*", _I)
# A feature the sentence denies ("not FDG avid", "without necrosis") is a benign sign, not a suspicious one.
_NEG_FEATURE = re.compile(r"\b(?:not|no|without|non)[\s-]+(?:(?:fdg|significantly|definitely|overtly|particularly)[\s-]+)?"
                          r"(?:fdg[\s-]?avid|avid\w*|hypermetabolic|necro\w*|round(?:ed)?|suspicio\w*|concern\w*|metasta\w*"
                          r"|malignan\w*|pathologic\w*)\b", _I)
_SIZE_BIG = re.compile(r"\benlarg\w*|\b(?:lymphadenopathy|adenopathy)\b|(?<![\d.])(?:[1-9]\d*(?:\.\d+)?\s*cm|[1-9]\d\s*mm)\b", _I)
_HEDGE = re.compile(r"\b(?:borderline|prominent|indeterminate|equivocal|possibl[ey]|questionabl[ey]|may|might|could|cannot"
                    r"|can\s*not|versus|vs|likely\s+reactive|probably\s+reactive|favou?r\w*|nonspecific|non-specific)\b|\?", _I)
_LEAD = re.compile(r"\s*(?:\(?\d{1,2}[.)]\s*)?(?:[A-Za-z][A-Za-z /&,\-]{0,30}:\s*)?(?:\(?\d{1,2}[.)]\s*)?")
_ADDITIVE = re.compile(r"\b(?:another|additional|second|third|fourth|further|also)\b", _I)
_WORDS = {"a": 1, "an": 1, "one": 1, "single": 1, "solitary": 1, "two": 2, "pair": 2, "both": 2, "three": 3, "four": 4,
          "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_COUNT = re.compile(rf"\b(?:{'|'.join(_WORDS)}|\d{{1,2}}(?!\s*(?:\.\d|cm|mm|[RL]\b|x\b|%)))\b", _I)


@dataclass(frozen=True)
class NodeGroup:
    """One described node or group of nodes: how many, where, which side, how it looks."""

    lo: int
    hi: int
    station: str | None
    sides: frozenset[str]
    status: Status
    additive: bool
    in_impression: bool
    start: int
    end: int
    phrase: str


def _count(segment: str, head: re.Match[str]) -> tuple[int, int]:
    """How many nodes a segment names: a number word or numeral before a plural head, else one or a range."""
    plural = head.group(0).lower().endswith("s")
    before = segment[: head.start()]
    if head.group(0).lower().endswith("adenopathy"):
        return (1, _MANY)
    if not plural:
        # "the largest node": one of several
        return (1, _MANY) if re.search(r"\b(?:largest|dominant|index)\b", segment, _I) else (1, 1)
    words = [m.group(0).lower() for m in _COUNT.finditer(before)
             if not re.search(r"\b(?:station|level|segment|group)\s*$", before[: m.start()], _I)]
    words = [w for w in words if w not in ("a", "an", "one", "single", "solitary")]
    if words:
        n = _WORDS.get(words[-1]) or int(words[-1])
        return (n, n)
    if re.search(r"\b(?:a\s+few|few|a\s+couple|pair)\b", before, _I):
        return (2, _MANY)
    return (2, _MANY)


def _status(segment: str, clause_positive: bool) -> Status:
    """Positive, uncertain or benign, from the segment's own words (or the clause's, when it has none)."""
    segment = _NEG_FEATURE.sub(" not-suspicious ", segment)
    features = bool(_FEATURE.search(segment))
    size_ok = bool(_SIZE_OK.search(segment))
    big = bool(_SIZE_BIG.search(_SIZE_OK.sub(" ", segment))) and not size_ok
    small_mm = re.search(r"(?<![\d.])(?:[1-9]|0?\.\d)\s*mm\b|(?<![\d.])0?\.\d\s*cm\b", segment, _I) is not None
    if _BENIGN.search(segment):
        return "uncertain" if features or big or _HEDGE.search(segment) else "benign"
    if _HEDGE.search(segment):
        return "uncertain"
    if re.search(r"\b(?:of\s+which|of\s+these|of\s+them|some\s+of)\b", segment, _I):
        return "uncertain"  # "five nodes, two of which are enlarged": which count is meant is unclear
    if features or big:
        return "positive"
    if size_ok or small_mm:
        return "benign"
    return "positive" if clause_positive else "uncertain"


def _segments(clause: str) -> list[tuple[int, int]]:
    """Pieces of a clause, one per node mention; a piece without a node word or station joins its neighbour."""
    cuts = [0] + [p for m in _SPLIT.finditer(clause) for p in (m.start(), m.end())] + [len(clause)]
    pieces = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts), 2) if cuts[i + 1] > cuts[i]]
    merged: list[tuple[int, int]] = []
    pending: int | None = None
    for a, b in pieces:
        if pending is not None:
            a, pending = pending, None
        if _HEAD.search(clause[a:b]) or _STATION_ANY.search(clause[a:b]) and not merged:
            merged.append((a, b))
        elif merged:
            merged[-1] = (merged[-1][0], b)
        else:
            pending = a
    if pending is not None and merged:
        merged[-1] = (pending, merged[-1][1])
    out: list[tuple[int, int]] = []
    for a, b in merged:
        if out and not _HEAD.search(clause[out[-1][0] : out[-1][1]]):
            out[-1] = (out[-1][0], b)  # "right hilar and subcarinal nodes": stations share the head
        else:
            out.append((a, b))
    return out


_STATIONS: dict[str, str] = {
    # lung
    "supraclavicular": r"supraclavicular|scalene|low(?:er)?\s+cervical|station\s+1[RL]?|\b1[RL]\b",
    "subcarinal": r"subcarinal|station\s+7|\(7\)",
    "aortopulmonary": r"aorto-?pulmonary|ap\s+window|subaortic|station\s+[56]|\b[56]\b(?=\s*\))",
    "paratracheal": r"paratracheal|pretracheal|prevascular|retrotracheal|station\s+(?:2|3a?p?|4)[RL]?|\b(?:2|4)[RL]\b|\b3[ap]\b",
    "paraesophageal": r"para-?o?esophageal|peri-?o?esophageal|station\s+8|pulmonary\s+ligament|station\s+9",
    "mediastinal": r"mediastin\w*",
    "hilar": r"hil(?:ar|um)|interlobar|lobar|segmental|subsegmental|peribronchial|intrapulmonary|station\s+1[0-4][RL]?|\b1[0-4][RL]\b",
    # abdomen and pelvis
    "pericolic": r"peri-?colic|para-?colic|mesocolic|epicolic",
    "mesorectal": r"meso-?rectal|peri-?rectal|superior\s+rectal|presacral|pre-sacral",
    "mesenteric": r"(?:inferior\s+)?mesenteric|ileocolic|(?:right|middle|left)\s+colic|sigmoid\s+(?:mesentery|vessels?)",
    "perigastric": r"peri-?gastric|lesser\s+curvature|greater\s+curvature|gastrohepatic|gastro-?epiploic|left\s+gastric"
                   r"|(?:supra|infra)?pyloric|para-?cardial|cardiac|hepatoduodenal|common\s+hepatic|splenic\s+(?:artery|hil\w*)",
    "celiac": r"c(?:o)?eliac",
    "common_iliac": r"common\s+iliac",
    "pelvic": r"peri-?vesical|obturator|internal\s+iliac|hypogastric|external\s+iliac|(?:lateral\s+)?sacral|pelvic(?:\s+side\s*wall)?"
              r"|iliac",
    "renal_hilar": r"renal\s+hil\w*",
    "retroperitoneal": r"para-?aortic|peri-?aortic|pre-?aortic|retro-?aortic|aortocaval|interaortocaval|para-?caval|pre-?caval"
                       r"|retro-?caval|caval|retroperitoneal|retrocrural",
    "inguinal": r"inguinal",
    "portocaval": r"portocaval|porta\s+hepatis|retropancreatic|peripancreatic",
    "cervical": r"cervical|neck|axillary",
    "adjacent": r"adjacent\s+to\s+the\s+(?:tumou?r|mass|primary|lesion)|peri-?tumou?ral",
}
_STATION_ANY = re.compile(r"\b(?:" + "|".join(_STATIONS.values()) + r")", _I)
# Order matters: the most specific name wins ("renal hilum" before "hilar", "common iliac" before "iliac").
_STATION_ORDER = ["supraclavicular", "subcarinal", "renal_hilar", "common_iliac", "aortopulmonary", "paraesophageal",
                  "paratracheal", "pericolic", "mesorectal", "perigastric", "celiac", "mesenteric", "pelvic", "retroperitoneal",
                  "inguinal", "portocaval", "hilar", "mediastinal", "cervical", "adjacent"]


def _station(segment: str) -> tuple[str | None, str]:
    """The segment's station (most specific name first) and the words around it that may give its side."""
    for key in _STATION_ORDER:
        m = re.search(rf"\b(?:{_STATIONS[key]})", segment, _I)
        if m:
            return key, segment[max(0, m.start() - 25) : m.end() + 12]
    return None, segment


def _sides(segment: str) -> frozenset[str]:
    """Sides named next to the station: "right and left hilar" is both, "right hilar node near the left
    atrium" only right."""
    sides: set[str] = set()
    if re.search(r"\bright\b|\b(?:1[0-4]|[124])R\b", segment, _I):
        sides.add("right")
    if re.search(r"\bleft\b|\b(?:1[0-4]|[124])L\b", segment, _I):
        sides.add("left")
    if re.search(r"\bbilateral(?:ly)?\b|\bboth\b", segment, _I):
        sides |= {"right", "left"}
    if re.search(r"\bipsilateral\b", segment, _I):
        sides.add("ipsilateral")
    if re.search(r"\bcontralateral\b", segment, _I):
        sides.add("contralateral")
    return frozenset(sides)


def _node_groups(text: str) -> list[NodeGroup]:
    """Every node or group of nodes the report describes (history lines and negated mentions left out)."""
    imp = text.find("IMPRESSION:")
    groups: list[NodeGroup] = []
    for a, b in clause_spans(text):
        lead = _LEAD.match(text, a, b)
        a = lead.end() if lead else a  # a line heading ("Lymph nodes: ") is not a node mention
        clause = text[a:b]
        if not _HEAD.search(clause):
            continue
        negated = [(m.start(), m.end()) for m in _NEG_SCOPE.finditer(clause)]
        segs = _segments(clause)
        own = [_status(clause[s:e], False) for s, e in segs]
        clause_positive = "positive" in own
        for (s, e), first in zip(segs, own, strict=True):
            seg = clause[s:e]
            head = _HEAD.search(seg)
            if head is None or any(ns <= s + head.start() < ne for ns, ne in negated) or _NOT_SEEN.search(seg):
                continue
            status = _status(seg, clause_positive) if first == "uncertain" else first
            lo, hi = _count(seg, head)
            station, near = _station(seg)
            groups.append(NodeGroup(lo, hi, station, _sides(near), status, bool(_ADDITIVE.search(seg)),
                                    0 <= imp < a, a, b, seg.strip()))
    return groups


# ---- organ rules ---------------------------------------------------------------------------------

_REGIONAL: dict[Organ, set[str]] = {
    "colorectal": {"pericolic", "mesorectal", "mesenteric", "adjacent"},
    "stomach": {"perigastric", "celiac", "adjacent"},
    "esophagus": {"paraesophageal", "paratracheal", "subcarinal", "mediastinal", "aortopulmonary", "hilar", "perigastric",
                  "celiac", "adjacent"},
    "kidney": {"renal_hilar", "retroperitoneal", "adjacent"},
    "bladder": {"pelvic", "adjacent", "common_iliac"},
}
# Stations that may or may not be regional for the organ (internal vs external iliac for the rectum,
# low cervical paratracheal vs supraclavicular for the esophagus): they can only widen the range.
_UNSURE: dict[Organ, set[str]] = {
    "colorectal": {"pelvic"},
    "stomach": set(),
    "esophagus": {"supraclavicular", "cervical"},
    "kidney": {"hilar"},
    "bladder": set(),
}
_RULE_TEXT: dict[Organ, str] = {
    "colorectal": "colon/rectum: 1-3 regional nodes N1, >=4 N2",
    "stomach": "stomach: 1-2 regional nodes N1, 3-6 N2, >=7 N3",
    "esophagus": "esophagus: 1-2 regional nodes N1, 3-6 N2, >=7 N3",
    "kidney": "kidney: any regional node N1",
    "bladder": "bladder: one true-pelvis node N1, multiple N2, common iliac N3",
    "lung": "lung: ipsilateral hilar N1, ipsilateral mediastinal/subcarinal N2, contralateral or supraclavicular N3",
}


def _count_stage(organ: Organ, n: int) -> int:
    """The N of a count of positive regional nodes (0 for none)."""
    if n <= 0:
        return 0
    if organ == "colorectal":
        return 1 if n <= 3 else 2
    if organ in ("stomach", "esophagus"):
        return 1 if n <= 2 else 2 if n <= 6 else 3
    if organ == "kidney":
        return 1
    return 1 if n == 1 else 2  # bladder, true pelvis


def _counted(groups: list[NodeGroup]) -> list[NodeGroup]:
    """Groups whose nodes may add to the total: all of the findings, and impression groups at stations
    the findings do not name (an impression restates, it rarely adds)."""
    found = [g for g in groups if not g.in_impression]
    named = {g.station for g in found}
    return found + [g for g in groups if g.in_impression and (not found or (g.station is not None and g.station not in named))]


def _lowest_count(groups: list[NodeGroup]) -> int:
    """Nodes there surely are: per station the largest count one clause gives, plus "another" nodes."""
    total = 0
    for station in {g.station for g in groups}:
        at = [g for g in groups if g.station == station]
        per_clause: dict[int, int] = {}
        for g in at:
            if not g.additive:
                per_clause[g.start] = per_clause.get(g.start, 0) + g.lo
        total += max(per_clause.values(), default=0) + sum(g.lo for g in at if g.additive)
    return total


def _count_range(organ: Organ, groups: list[NodeGroup]) -> tuple[int, int, list[NodeGroup]]:
    """(lowest stage, highest stage, nodes used) under a count rule."""
    live = [g for g in groups if g.status != "benign"]
    sure = [g for g in live if g.status == "positive" and g.station in _REGIONAL[organ]]
    maybe = [g for g in _counted(live) if g.station in _REGIONAL[organ] | _UNSURE[organ] or g.station is None]
    lo = _count_stage(organ, _lowest_count(sure))
    hi = _count_stage(organ, min(_MANY, sum(g.hi for g in maybe)))
    if organ == "bladder":
        if any(g.station == "common_iliac" for g in sure):
            lo = 3
        if any(g.station in ("common_iliac", None) for g in maybe):
            hi = 3
    return lo, hi, sure


_LUNG_LEVEL = {"hilar": (1, 3), "paratracheal": (2, 3), "aortopulmonary": (2, 3), "paraesophageal": (2, 3),
               "mediastinal": (2, 3), "subcarinal": (2, 2), "supraclavicular": (3, 3)}


def _lung_level(g: NodeGroup, side: str) -> tuple[int, int] | None:
    """(lowest, highest) N one thoracic node group can mean for a primary on `side`; None when not thoracic."""
    if g.station is None:
        return (0, 3)
    if g.station == "cervical":
        return (0, 3)  # supraclavicular (N3) or not (M1)
    if g.station not in _LUNG_LEVEL:
        return None
    ipsi, contra = _LUNG_LEVEL[g.station]
    other = "left" if side == "right" else "right"
    sides = {side if s == "ipsilateral" else other if s == "contralateral" else s for s in g.sides}
    if g.station == "aortopulmonary" and not sides:
        sides = {"left"}  # stations 5 and 6 lie left of the midline
    if not sides:
        return (ipsi, contra)
    level = max(contra if s == other else ipsi for s in sides)
    return (level, level)


def _lung_range(groups: list[NodeGroup], side: str) -> tuple[int, int, list[NodeGroup]]:
    """(lowest stage, highest stage, nodes used) for a lung primary on `side`."""
    live = [g for g in groups if g.status != "benign"]
    sure = [(g, lv) for g in live if g.status == "positive" and (lv := _lung_level(g, side)) and lv[0] > 0]
    maybe = [lv for g in _counted(live) if (lv := _lung_level(g, side))]
    lo = max((lv[0] for _, lv in sure), default=0)
    hi = max((lv[1] for lv in maybe), default=0)
    return lo, hi, [g for g, _ in sure]


def derived_n(text: str) -> StageMention | None:
    """N1-N3 from the described regional nodes of a pre-treatment staging study, only when the
    organ rule gives one stage for every reading of the report; None otherwise."""
    if not _pretreatment_staging(text):
        return None
    organ = _primary(text)
    if organ is None:
        return None
    groups = _node_groups(text)
    if organ == "lung":
        side = _lung_side(text)
        if side is None:
            return None
        lo, hi, used = _lung_range(groups, side)
    else:
        lo, hi, used = _count_range(organ, groups)
    if lo == 0 or lo != hi or not used:
        return None
    # Evidence is whole sentences: two clauses of one sentence ("...; ...") give it once.
    spans = tuple(sorted({next(((sa, sb) for sa, sb in sentence_spans(text) if sa <= g.start < sb), (g.start, g.end))
                          for g in used}))
    nodes = "; ".join(dict.fromkeys(g.phrase for g in used))
    note = f"N{lo} derived from the described nodes by the AJCC 8th rule for {_RULE_TEXT[organ]}; nodes used: {nodes}"
    return StageMention(f"N{lo}", spans[0][0], spans[-1][1], kind="derived", spans=spans, note=note)
