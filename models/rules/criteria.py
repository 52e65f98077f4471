"""RADS categories derived from the described imaging features when the report states none.

Some reports describe a finding completely ("1.4 cm observation with nonrim APHE, without
washout, no enhancing capsule") and never write the category. The system owner's published
criteria then fix the category, so the rules can give it, marked "derived" and below the
confidence of a written category. Four systems, each from its own published table:

- CAD-RADS 2.0 (coronary CTA): the maximal stenosis; left main >=50% or three vessels >=70% is
  4B; "no plaque or stenosis" is 0; a non-diagnostic study with no graded stenosis is N.
- ACR TI-RADS (thyroid US): the points of all five feature categories of every nodule (the
  highest nodule sets the label); spongiform or purely cystic is TR1 whatever else is said.
- Lung-RADS v2022 (screening LDCT): solid nodules by mean diameter and baseline/new/stable
  status; no nodule and clear lungs is 1.
- LI-RADS v2018 CT/MRI diagnostic table: one observation's size, nonrim APHE and the additional
  major features, only in a high-risk patient.

Only where the features settle the category: any hedge, a missing feature that would change
the answer, a feature outside the implemented table (part-solid or ground-glass nodule, growing
nodule, LR-M features, ancillary features, stents, grafts) or a report with contradicting
values gives None, and the model decides. Features are read from the findings (the impression
repeats them in short form); the impression is used only when there are no findings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

from models.rules.context import HISTORY_LINE
from models.rules.rads import exam_systems
from models.text import sentence_spans
from models.types import RadiologyReport

__all__ = ["Derived", "derive_rads", "cad_rads", "ti_rads", "lung_rads", "li_rads", "lirads_table", "tirads_level"]

_I = re.IGNORECASE


@dataclass(frozen=True)
class Derived:
    """A category derived from described features: the sentences it rests on and a short account of them."""

    system: str
    category: str
    spans: tuple[tuple[int, int], ...]
    features: str


@dataclass(frozen=True)
class _Sent:
    start: int
    end: int
    text: str
    history: bool


# ---- shared reading helpers -------------------------------------------------------------------

_HEDGE = re.compile(
    r"\b(?:possibl[ey]|probabl[ey]|questionabl[ey]|equivocal|indeterminate|may|might|could|suspected|presum\w*|"
    r"versus|vs\.?|either|borderline|approximately|about|at\s+least|up\s+to|not\s+well\s+(?:seen|evaluated|visuali[sz]ed)|"
    r"can\s*not\s+(?:be\s+)?(?:exclude|ruled?\s+out)|can't\s+(?:exclude|rule\s+out)|not\s+(?:be\s+)?(?:excluded|ruled\s+out))\b|\?",
    _I,
)
_NEG = re.compile(r"\b(?:no|without|not|negative\s+for|absent|free\s+of)\b", _I)
_CLAUSE_BREAK = re.compile(r"[.;:]|,\s*(?:and|but|with)\b|\bbut\b|\bwith\b(?!out)", _I)


def _sentences(report: RadiologyReport) -> tuple[list[_Sent], list[_Sent]]:
    """(findings, impression) sentences of report.text(), each flagged when it sits on a history line."""
    text = report.text()
    cut = text.find("IMPRESSION:")
    cut = len(text) if cut < 0 else cut
    find: list[_Sent] = []
    imp: list[_Sent] = []
    for a, b in sentence_spans(text):
        line_start = text.rfind("\n", 0, a) + 1
        hist = bool(HISTORY_LINE.match(text[line_start:b]))
        s = _Sent(a, b, text[a:b], hist)
        if s.text.rstrip(":") in ("FINDINGS", "IMPRESSION", "ADDENDUM"):
            continue
        (find if a < cut else imp).append(s)
    return find, imp


def _body(report: RadiologyReport) -> list[_Sent]:
    """The sentences features are read from: findings without history lines, else the impression."""
    find, imp = _sentences(report)
    body = [s for s in find if not s.history]
    return body or [s for s in imp if not s.history]


def _negated(sentence: str, start: int) -> bool:
    """A term is negated when its clause ("no X or Y", "without X") carries a negation before it."""
    before = sentence[:start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    clause = before[breaks[-1].end():] if breaks else before
    return bool(_NEG.search(clause))


def _positive(rx: re.Pattern[str], sentence: str) -> bool:
    """Some match of rx in the sentence is not negated."""
    return any(not _negated(sentence, m.start()) for m in rx.finditer(sentence))


def _any_positive(rx: re.Pattern[str], sents: list[_Sent]) -> bool:
    return any(_positive(rx, s.text) for s in sents)


def _hedged(sents: list[_Sent]) -> bool:
    return any(_HEDGE.search(s.text) for s in sents)


def _mm(value: str, unit: str) -> float:
    return float(value) * (10.0 if unit.lower() == "cm" else 1.0)


_DIMS = re.compile(r"(?P<a>\d+(?:\.\d+)?)\s*(?:(?P<ua>mm|cm)\s*)?(?:x|×|by)\s*(?P<b>\d+(?:\.\d+)?)"
                   r"(?:\s*(?:x|×|by)\s*(?P<c>\d+(?:\.\d+)?))?\s*(?P<u>mm|cm)\b", _I)
_ONE = re.compile(r"(?<![\d.x×])(?P<a>\d+(?:\.\d+)?)\s*(?:-\s*)?(?P<u>mm|cm)\b", _I)


def _dims(sentence: str) -> list[float] | None:
    """The first measurement of the sentence in mm: all its dimensions, or None."""
    m = _DIMS.search(sentence)
    if m:
        return [_mm(v, m.group("u")) for v in (m.group("a"), m.group("b"), m.group("c")) if v]
    m = _ONE.search(sentence)
    return [_mm(m.group("a"), m.group("u"))] if m else None


# ---- CAD-RADS 2.0 ---------------------------------------------------------------------------

_CAD_TOPIC = re.compile(r"stenos|narrow|plaque|occlu|obstruct|coronar|\b(?:lm|lad|lcx|cx|rca|om\d?|pda)\b|left\s+main|"
                        r"circumflex|diagnostic|evaluable|%", _I)
_CAD_ORDER = ("0", "1", "2", "3", "4A", "4B", "5")
_VESSELS = {
    "LM": r"\b(?:left\s+main|lmca|lm)\b",
    "LAD": r"\b(?:lad|left\s+anterior\s+descending|diagonal|d1|d2)\b",
    "LCx": r"\b(?:lcx|lcx\s*/\s*om\d?|circumflex|cx|obtuse\s+marginal|om\d?)\b",
    "RCA": r"\b(?:rca|right\s+coronary|pda|posterior\s+descending|plv|acute\s+marginal)\b",
}
_STENOSIS_WORD = re.compile(r"stenos[ie]s|narrowing|luminal|obstruct\w*|occlu\w*", _I)
_PERCENT = re.compile(r"(?P<lo>\d{1,3})(?:\s*%?\s*(?:-|–|to)\s*(?P<hi>\d{1,3}))?\s*%", _I)
_GRADE_WORD = re.compile(
    r"\b(?P<w>minimal|mild|moderate|severe|critical|subtotal|near[\s\-]occlusive|total(?:ly)?|complete(?:ly)?|chronic\s+total)"
    r"(?:\s+\(\s*[\d\-–%\s]+\))?\s+(?:\w+\s+){0,2}?(?P<n>stenos[ie]s|narrowing|luminal|occlu\w*|obstruct\w*)", _I)
_OCCLUDED = re.compile(r"\b(?:occluded|total\s+occlusion|100\s*%)", _I)
_CAD_NORMAL = re.compile(r"\b(?:no|without)\s+(?:evidence\s+of\s+)?(?:coronary\s+(?:artery\s+)?)?(?:atherosclerotic\s+)?plaque"
                         r"(?:\s*,)?\s+(?:or|and|nor)\s+(?:luminal\s+)?stenos[ie]s\b", _I)
_PLAQUE = re.compile(r"\b(?:plaques?|atheroscleros\w*|calcified|noncalcified|non-calcified|mixed)\b", _I)
_NO_STENOSIS = re.compile(r"\b(?:without|no)\s+(?:significant\s+|luminal\s+)?stenos[ie]s\b", _I)
_CAD_OUT = re.compile(r"\b(?:stents?|stented|grafts?|cabg|bypass|lima|svg|anomal\w*|aneurysm\w*|dissection|"
                      r"multi[\s\-]?vessel|three[\s\-]vessel|3[\s\-]vessel|mild[\s\-]to[\s\-]moderate|moderate[\s\-]to[\s\-]severe|"
                      r"blooming|non[\s\-]?obstructive|nonobstructive)\b", _I)
_NONDIAG = re.compile(r"\b(?:non[\s\-]?diagnostic|not\s+diagnostic|uninterpretable|non[\s\-]?evaluable|not\s+evaluable|"
                      r"cannot\s+be\s+(?:adequately\s+)?evaluated)\b", _I)
_WORD_GRADE = {"minimal": "1", "mild": "2", "moderate": "3", "severe": "4A", "critical": "4A", "subtotal": "4A",
               "near occlusive": "4A", "total": "5", "totally": "5", "complete": "5",
               "completely": "5", "chronic total": "5"}
_NOT_STENOSIS_PCT = re.compile(r"ejection|\bl?v?ef\b|percentile|ffr|calcium|agatston|fraction", _I)


def _pct_grade(pct: int) -> str | None:
    """CAD-RADS 2.0 grade of one stenosis percentage."""
    if pct == 0:
        return "0"
    if pct <= 24:
        return "1"
    if pct <= 49:
        return "2"
    if pct <= 69:
        return "3"
    if pct <= 99:
        return "4A"
    return "5" if pct == 100 else None


@dataclass(frozen=True)
class _Stenosis:
    grade: str
    vessels: frozenset[str]


def _vessels_in(sentence: str) -> frozenset[str]:
    return frozenset(v for v, rx in _VESSELS.items() if re.search(rx, sentence, _I))


def _stenoses(sent: str) -> list[_Stenosis] | None:
    """The graded stenoses of one sentence or table row; None when its grades disagree or straddle a cut-off."""
    grades: set[str] = set()
    table_row = "|" in sent and bool(_vessels_in(sent.split("|")[0]))
    for m in _PERCENT.finditer(sent):
        window = sent[max(0, m.start() - 40) : m.end() + 40]
        if _NOT_STENOSIS_PCT.search(window) or not (table_row or _STENOSIS_WORD.search(window)):
            continue
        lo, hi = _pct_grade(int(m.group("lo"))), _pct_grade(int(m.group("hi") or m.group("lo")))
        if lo is None or lo != hi:
            return None
        grades.add(lo)
    for m in _GRADE_WORD.finditer(sent):
        if not _negated(sent, m.start()):
            grades.add(_WORD_GRADE[re.sub(r"[\s\-]+", " ", m.group("w").lower())])
    if _OCCLUDED.search(sent) and not _negated(sent, _OCCLUDED.search(sent).start()):  # type: ignore[union-attr]
        grades.add("5")
    if not grades:
        return []
    if len(grades) > 1:
        return None
    (grade,) = grades
    return [_Stenosis(grade, _vessels_in(sent.split("|")[0] if table_row else sent))]


def cad_rads(sents: list[_Sent]) -> tuple[str, list[_Sent], str] | None:
    """CAD-RADS 2.0 category from the maximal stenosis, with the sentences and features used."""
    if _hedged([s for s in sents if _CAD_TOPIC.search(s.text)]) or _any_positive(_CAD_OUT, sents):
        return None
    found: list[tuple[_Stenosis, _Sent]] = []
    for s in sents:
        st = _stenoses(s.text)
        if st is None:
            return None
        found += [(x, s) for x in st]
    plaque = [s for s in sents if _positive(_PLAQUE, s.text) and not _CAD_NORMAL.search(s.text)]
    nondiag = [s for s in sents if _positive(_NONDIAG, s.text)]
    if any(_CAD_NORMAL.search(s.text) for s in sents) and any(x.grade != "0" for x, _ in found):
        return None  # "no plaque or stenosis" and a graded stenosis: the report contradicts itself
    if nondiag:
        return ("N", nondiag, "non-diagnostic study, no graded stenosis") if not found and not plaque else None
    if not found:
        normal = [s for s in sents if _CAD_NORMAL.search(s.text)]
        if normal and not plaque:
            return "0", normal, "no plaque and no stenosis"
        clean = [s for s in plaque if _NO_STENOSIS.search(s.text)]
        if plaque and len(clean) == len(plaque):
            return "1", clean, "plaque without stenosis"
        return None
    return _cad_from_stenoses(found)


def _cad_from_stenoses(found: list[tuple[_Stenosis, _Sent]]) -> tuple[str, list[_Sent], str] | None:
    """Maximal stenosis -> category; left main >=50% or three vessels >=70% -> 4B (vessels must be named)."""
    significant = [(x, s) for x, s in found if x.grade in ("3", "4A", "5")]
    if any(len(x.vessels) != 1 for x, _ in significant):
        return None  # a >=50% stenosis whose vessel is not named once cannot be placed (left main? which three?)
    best = max(found, key=lambda f: _CAD_ORDER.index(f[0].grade))[0].grade
    used = [s for x, s in found if x.grade == best]
    lm = [s for x, s in significant if "LM" in x.vessels and x.grade != "5"]
    severe = {v for x, _ in significant if x.grade in ("4A", "5") for v in x.vessels}
    if best != "5" and (lm or len(severe - {"LM"}) >= 3):
        return "4B", lm or [s for x, s in significant if x.grade == "4A"], "left main >=50% or three-vessel >=70% stenosis"
    label = {"0": "0%", "1": "1-24%", "2": "25-49%", "3": "50-69%", "4A": "70-99%", "5": "100% occlusion"}[best]
    return best, used, f"maximal stenosis {label}"


# ---- ACR TI-RADS ----------------------------------------------------------------------------

_THY_UNIT = re.compile(r"\bnodules?\b|\bcysts?\b", _I)
_THY_NONE = re.compile(r"^\s*(?:[\w\s]+:\s*)?(?:no|without)\s+(?:\w+\s+){0,2}(?:nodules?|cysts?)\b", _I)
_SPONGIFORM = re.compile(r"\bspongiform\b", _I)
_PURE_CYST = re.compile(r"\b(?:purely\s+cystic|simple\s+cyst|colloid\s+cyst|entirely\s+cystic|anechoic\s+cyst)\b", _I)
_SUSPICIOUS_THY = re.compile(r"\b(?:solid|punctate|micro-?calcif\w*|taller|irregular|lobulated|extrathyroidal|hypoechoic)\b", _I)
_COMPOSITION = ((r"\bmixed\s+(?:cystic\s+and\s+solid|solid\s+and\s+cystic)|\bpredominantly\s+solid|\bpartially\s+cystic|"
                 r"\bsolid\s+and\s+cystic|\bcystic\s+and\s+solid|\bpredominantly\s+cystic", 1),
                (r"\b(?:almost\s+(?:completely|entirely)\s+|purely\s+|completely\s+|entirely\s+)?cystic\b", 0),
                (r"\b(?:entirely\s+|purely\s+|completely\s+|almost\s+completely\s+)?solid\b", 2))
_ECHO = ((r"\b(?:very|markedly)\s+hypoechoic\b", 3), (r"\bhypoechoic\b", 2), (r"\b(?:hyperechoic|isoechoic)\b", 1),
         (r"\banechoic\b", 0))
_SHAPE = ((r"\btaller[\s\-]than[\s\-]wide\b", 3), (r"\bwider[\s\-]than[\s\-]tall\b", 0))
_MARGIN = ((r"\bextra-?thyroidal\s+extension\b", 3), (r"\b(?:lobulated|irregular)\b", 2),
           (r"\b(?:smooth|ill[\s\-]defined|well[\s\-]defined|circumscribed)\b", 0))
_FOCI = ((r"\b(?:punctate\s+echogenic\s+foci|micro-?calcifications?)\b", 3),
         (r"\b(?:peripheral|rim)\s+calcifications?\b", 2),
         (r"\b(?:macro-?calcifications?|coarse\s+calcifications?)\b", 1),
         (r"\b(?:large\s+)?comet[\s\-]tail\b", 0))
_NO_FOCI = re.compile(r"\b(?:no|without)\s+(?:\w+\s+){0,2}(?:echogenic\s+foci|calcifications?|microcalcifications?)\b", _I)


def tirads_level(points: int) -> str | None:
    """ACR TI-RADS level of a point total (1 point is not in the ACR chart: no level)."""
    if points == 0:
        return "TR1"
    return {2: "TR2", 3: "TR3"}.get(points) or ("TR4" if 4 <= points <= 6 else "TR5" if points >= 7 else None)


def _one_feature(table: tuple[tuple[str, int], ...], sent: str) -> int | None:
    """Points of the one value of a feature category the sentence describes; None when none or several."""
    taken: set[int] = set()
    rest = sent
    for rx, pts in table:
        hits = [m for m in re.finditer(rx, rest, _I) if not _negated(rest, m.start())]
        if hits:
            taken.add(pts)
            rest = re.sub(rx, " ", rest, flags=_I)  # "very hypoechoic" is not also "hypoechoic"
    return taken.pop() if len(taken) == 1 else None


def _foci_points(sent: str) -> int | None:
    """Echogenic foci points, added over the types present; 0 when the sentence says there are none."""
    rest, total, seen = sent, 0, False
    for rx, pts in _FOCI:
        if any(not _negated(rest, m.start()) for m in re.finditer(rx, rest, _I)):
            total, seen = total + pts, True
            rest = re.sub(rx, " ", rest, flags=_I)
    if seen:
        return total
    return 0 if _NO_FOCI.search(sent) else None


def _nodule_points(sent: str) -> tuple[int, str] | None:
    """Total points of one nodule described in one sentence, or None when a feature category is missing."""
    if _positive(_SPONGIFORM, sent):
        return 0, "spongiform"
    if _PURE_CYST.search(sent) and not _positive(_SUSPICIOUS_THY, sent):
        return 0, "purely cystic"
    parts = [_one_feature(_COMPOSITION, sent), _one_feature(_ECHO, sent), _one_feature(_SHAPE, sent),
             _one_feature(_MARGIN, sent), _foci_points(sent)]
    if any(p is None for p in parts):
        return None
    pts = [p for p in parts if p is not None]
    return sum(pts), "composition {} + echogenicity {} + shape {} + margin {} + echogenic foci {}".format(*pts)


def ti_rads(sents: list[_Sent]) -> tuple[str, list[_Sent], str] | None:
    """Highest ACR TI-RADS level over the described nodules; every nodule must be fully described."""
    units = [s for s in sents if _THY_UNIT.search(s.text) and not _THY_NONE.search(s.text)]
    if not units or _hedged(units):
        return None
    scored: list[tuple[str, _Sent, str]] = []
    for s in units:
        got = _nodule_points(s.text)
        level = tirads_level(got[0]) if got else None
        if got is None or level is None:
            return None
        scored.append((level, s, f"{got[1]} = {got[0]} points"))
    best = max(scored, key=lambda x: x[0])
    return best[0], [best[1]], best[2]


# ---- Lung-RADS v2022 ------------------------------------------------------------------------

_NODULE = re.compile(r"\bnodules?\b", _I)
_NO_NODULE = re.compile(r"\b(?:no|without)\s+(?:other\s+|new\s+|suspicious\s+|discrete\s+|additional\s+)?(?:pulmonary\s+|lung\s+)?nodules?\b", _I)
_SUBSOLID = re.compile(r"\b(?:part[\s\-]?solid|semi[\s\-]?solid|sub[\s\-]?solid|ground[\s\-]?glass|non[\s\-]?solid|ggn|ggo|"
                       r"cystic|cavitary|endobronchial|airway|calcified|perifissural|juxtapleural|fat|spiculat\w*)\b", _I)
_SOLID = re.compile(r"(?<![\-\w])solid\b", _I)
_NEW = re.compile(r"\bnew\b|\bnot\s+(?:present|seen|visible)\s+(?:on|in)\s+(?:the\s+)?prior\b", _I)
_STABLE = re.compile(r"\b(?:stable|unchanged)\b", _I)
_GROWING = re.compile(r"\b(?:grow\w*|enlarg\w*|increas\w*|larger|decreas\w*|smaller|resolv\w*)\b", _I)
_BASELINE = re.compile(r"\bbaseline\b|\bcomparison\s*:\s*none\b|\bno\s+prior\s+(?:ct|imaging|studies|exams?)\b", _I)
_LUNG_OUT = re.compile(r"\b(?:consolidation|pneumonia|infect\w*|inflammat\w*|tree[\s\-]in[\s\-]bud|mass(?:es)?|"
                       r"lymphadenopathy|adenopathy|enlarged\s+(?:lymph\s+)?nodes?|opacit\w*|effusion)\b", _I)
_CLEAR = re.compile(r"\blungs?\s+(?:are\s+|is\s+)?clear\b", _I)
_MEAN = re.compile(r"\bmean(?:\s+diameter)?\s*(?:of\s+)?(?P<a>\d+(?:\.\d+)?)\s*(?P<u>mm|cm)\b", _I)
_SCREENING = re.compile(r"screen|low[\s\-]?dose|\bldct\b", _I)


def _mean_mm(sent: str) -> tuple[float, bool] | None:
    """Lung-RADS mean diameter and whether it is exact: the stated mean, else the mean of long and short
    axis; one size alone is only an upper bound of the mean (it may be the long axis)."""
    m = _MEAN.search(sent)
    if m:
        return _mm(m.group("a"), m.group("u")), True
    dims = _dims(sent)
    if not dims:
        return None
    return (round((dims[0] + dims[1]) / 2, 1), True) if len(dims) >= 2 else (dims[0], False)


def _measurements(sent: str) -> int:
    """How many separate measurements the sentence holds (a stated mean belongs to the one before it)."""
    rest = _MEAN.sub(" ", sent)
    count = len(_DIMS.findall(rest))
    return count + len(_ONE.findall(_DIMS.sub(" ", rest)))


def _solid_category(mean: float, new: bool) -> str:
    """Lung-RADS v2022 solid-nodule cut-offs (baseline, or new)."""
    cuts = (4.0, 6.0, 8.0) if new else (6.0, 8.0, 15.0)
    return "2" if mean < cuts[0] else "3" if mean < cuts[1] else "4A" if mean < cuts[2] else "4B"


def _lung_nodule(sent: str, baseline: bool) -> tuple[str, str] | None:
    """Category and account of one nodule sentence, or None when it is not fully determined."""
    got = _mean_mm(sent)
    if got is None or _measurements(sent) > 1 or re.search(r"\bnodules\b", sent, _I) or _positive(_SUBSOLID, sent) or _GROWING.search(sent):
        return None
    mean, exact = got
    new, stable = bool(_NEW.search(sent)), bool(_STABLE.search(sent))
    if stable and not new:
        solid = _positive(_SOLID, sent)
        return ("2", f"stable nodule, {mean:g} mm") if mean < 6 or (solid and mean < 8) else None
    if not _positive(_SOLID, sent) or (not new and not baseline) or (new and stable):
        return None
    status = "new" if new else "baseline"
    category = _solid_category(mean, new)
    if not exact and category != "2":
        return None  # one size above the first cut-off: the mean may fall in a lower category
    return category, f"{status} solid nodule, {'mean diameter' if exact else 'size'} {mean:g} mm"


_LUNG_TOPIC = re.compile(r"\bnodul|\blungs?\b|pulmonary|\bmass|opacit|consolidat|\b(?:ru|rm|rl|lu|ll)l\b|lobe", _I)
_LUNG_ORDER = ("1", "2", "3", "4A", "4B")


def lung_rads(sents: list[_Sent], all_sents: list[_Sent]) -> tuple[str, list[_Sent], str] | None:
    """Lung-RADS v2022 from solid nodules (highest wins) or from no nodule and clear lungs."""
    if _hedged([s for s in sents if _LUNG_TOPIC.search(s.text)]) or _any_positive(_LUNG_OUT, sents):
        return None
    baseline = any(_BASELINE.search(s.text) for s in all_sents)
    units = [s for s in sents if _NODULE.search(s.text) and not _NO_NODULE.search(s.text)]
    if not units:
        negative = [s for s in sents if _NO_NODULE.search(s.text)]
        clear = [s for s in sents if _CLEAR.search(s.text)]
        return ("1", negative + clear, "no lung nodule, lungs clear") if negative and clear else None
    scored = []
    for s in units:
        got = _lung_nodule(s.text, baseline)
        if got is None:
            return None
        scored.append((got[0], s, got[1]))
    best = max(scored, key=lambda x: _LUNG_ORDER.index(x[0]))
    return best[0], [best[1]], best[2]


# ---- LI-RADS v2018 CT/MRI -------------------------------------------------------------------

_HIGH_RISK = re.compile(r"\bcirrho\w*|\bchronic\s+(?:hepatitis\s+b|hbv)\b|\bhbv\s+(?:infection|carrier)\b|"
                        r"\b(?:history\s+of|prior|known|treated|current|previous)\s+(?:\w+\s+){0,2}(?:hcc|hepatocellular\s+carcinoma)\b", _I)
_OBS = re.compile(r"\b(?:observations?|lesions?|nodules?|mass(?:es)?|focus|foci)\b", _I)
_APHE = re.compile(r"\b(?:(?:non-?rim\s+)?(?:arterial(?:\s+phase)?\s+hyper-?enhanc\w*|aphe)|arterially\s+(?:hyper)?enhanc\w*)", _I)
_WASHOUT = re.compile(r"\b(?:non-?peripheral\s+)?wash-?out\b", _I)
_CAPSULE = re.compile(r"\b(?:enhancing\s+)?capsule\b", _I)
_GROWTH = re.compile(r"\bthreshold\s+growth\b", _I)
_NO_GROWTH = re.compile(r"\bno\s+(?:prior|previous)\s+(?:cross[\s\-]sectional\s+)?(?:imaging|studies|exams?|ct|mri)\b|"
                        r"\bcomparison\s*:\s*none\b|\bno\s+threshold\s+growth\b|\bno\s+(?:interval\s+)?growth\b", _I)
_LI_OUT = re.compile(r"(?<!non-)(?<!non\s)\b(?:rim\s+(?:arterial\s+phase\s+)?(?:hyper)?enhanc\w*|rim\s+aphe|peripheral\s+washout)|"
                     r"\b(?:targetoid|"
                     r"tumou?r\s+in\s+vein|infiltrat\w*|delayed\s+central|cysts?|hemangioma\w*|shunt\w*|perfusion|fat\w*|"
                     r"diffusion|t2|hepatobiliary|transitional|nodule[\s\-]in[\s\-]nodule|mosaic|corona|blood\s+products|"
                     r"iron|sparing|treated|ablat\w*|tace|embolization|radiation|previously|prior\s+\d|enlarged|increased)\b", _I)


_LIVER_TOPIC = re.compile(r"liver|hepat|segment|observation|lesion|nodul|mass|aphe|arterial|washout|capsule|growth|"
                          r"enhanc|vein|portal|diffusion|\bt[12]\b", _I)


def lirads_table(size_mm: float, aphe: bool, washout: bool, capsule: bool, growth: bool) -> str:
    """LI-RADS v2018 CT/MRI diagnostic table (LR-3 / LR-4 / LR-5)."""
    extra = int(washout) + int(capsule) + int(growth)
    if not aphe or size_mm < 10:
        return "LR-3" if extra == 0 else "LR-4"
    if size_mm < 20:
        if extra == 0:
            return "LR-3"
        return "LR-5" if extra >= 2 or washout or growth else "LR-4"
    return "LR-4" if extra == 0 else "LR-5"


def _tristate(rx: re.Pattern[str], sents: list[_Sent]) -> bool | None:
    """True when a sentence affirms the feature, False when only negations mention it, None when unmentioned."""
    hits = [(s.text, m.start()) for s in sents for m in rx.finditer(s.text)]
    if not hits:
        return None
    states = {not _negated(t, i) for t, i in hits}
    return states.pop() if len(states) == 1 else None


def li_rads(sents: list[_Sent], all_sents: list[_Sent]) -> tuple[str, list[_Sent], str] | None:
    """LI-RADS v2018 for the one described observation of a high-risk patient; every reading of an
    unmentioned feature must give the same category."""
    liver_topic = [s for s in sents if _LIVER_TOPIC.search(s.text)]
    if not _any_positive(_HIGH_RISK, all_sents) or _hedged(liver_topic) or _any_positive(_LI_OUT, liver_topic):
        return None
    units = [s for s in sents if _OBS.search(s.text) and _dims(s.text) and not re.match(r"\s*no\b", s.text, _I)]
    if len(units) != 1:
        return None
    size = max(_dims(units[0].text) or [0.0])
    liver = [s for s in sents if s.start >= units[0].start and not re.search(r"gallbladder|spleen|pancrea|kidney|adrenal", s.text, _I)]
    aphe = _tristate(_APHE, liver)
    washout, capsule = _tristate(_WASHOUT, liver), _tristate(_CAPSULE, liver)
    growth = False if any(_NO_GROWTH.search(s.text) for s in all_sents) else _tristate(_GROWTH, liver)
    known = (aphe, washout, capsule, growth)
    options = [(a, w, c, g) for a, w, c, g in product(*([v] if v is not None else [True, False] for v in known))]
    cats = {lirads_table(size, *o) for o in options}
    if len(cats) != 1:
        return None
    used = [s for s in liver if any(rx.search(s.text) for rx in (_APHE, _WASHOUT, _CAPSULE, _GROWTH, _OBS))]
    names = ("nonrim APHE", "nonperipheral washout", "enhancing capsule", "threshold growth")
    told = ", ".join(f"{n} {'yes' if v else 'no' if v is False else 'not described'}" for n, v in zip(names, known, strict=True))
    return cats.pop(), used, f"{size:g} mm observation, {told}; high-risk patient"


# ---- entry point ----------------------------------------------------------------------------

def _system(report: RadiologyReport) -> str | None:
    """The one system the exam allows, when the derivation for it applies to this exam."""
    systems = exam_systems(report)
    if len(systems) != 1:
        return None
    (system,) = systems
    modality = (report.modality or "").upper()
    if system == "Lung-RADS" and not _SCREENING.search(report.procedure or ""):
        return None
    if system == "LI-RADS" and modality not in ("CT", "MR"):
        return None
    if system == "TI-RADS" and modality not in ("", "US"):
        return None
    return system


_DERIVERS: dict[str, Callable[[list[_Sent], list[_Sent]], tuple[str, list[_Sent], str] | None]] = {
    "CAD-RADS": lambda body, _all: cad_rads(body),
    "TI-RADS": lambda body, _all: ti_rads(body),
    "Lung-RADS": lung_rads,
    "LI-RADS": li_rads,
}


def derive_rads(report: RadiologyReport) -> Derived | None:
    """The category the described features determine for this exam's system, or None.

    Call only when the report states no category (a stated one always wins)."""
    system = _system(report)
    if system not in _DERIVERS:
        return None
    find, imp = _sentences(report)
    got = _DERIVERS[system](_body(report), find + imp)
    if got is None:
        return None
    category, used, features = got
    return Derived(system, category, tuple((s.start, s.end) for s in used), features)
