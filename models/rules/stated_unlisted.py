"""RADS categories the report states but RadLite does not know: 'BI-RADS 7', 'Lung-RADS 5', 'TI-RADS TR6',
an undivided 'CAD-RADS 4', LI-RADS v2024 'LR-TR Nonprogressing'.

models/rules/rads.py reads only the categories of the system tables it knows (rads.SEVERITY) and
drops any other token, so without this module the model's answer would silently replace an
explicit statement. Here such a statement is found with the same context rules as a known one
(history lines, "previously"/"from", negation and supposition through context.mention_context;
the exam's own systems through rads.exam_systems; a printed legend of categories is no
statement; an addendum revises the body), and the engine then reports the report's words
instead of a category, with no code, guideline or order (models/rules/engine.py).

Not a statement: a range or scale ("BI-RADS 0-6 scale", "a 7-point scale"), a point total
("TI-RADS 8 points"), a measurement, an ordinal ("BI-RADS 5th edition"), a structural word
after a treatment-response prefix ("LR-TR algorithm").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.rules.context import in_last_addendum, mention_context
from models.rules.rads import (
    OTHER_TIRADS,
    RadsMention,
    exam_systems,
    find_mentions,
    fold_dashes,
    normalise,
    not_a_statement,
    system_pattern,
)
from models.types import RadiologyReport

__all__ = ["UnlistedMention", "find_unlisted", "stated_unlisted", "unlisted_statement"]


@dataclass(frozen=True)
class UnlistedMention:
    """One statement of a category its system does not define, with offsets into the report text."""

    system: str
    words: str
    """The category as written, white space made single ('7', 'TR6', 'LR-TR Nonprogressing')."""
    start: int
    end: int
    cat_start: int
    historical: bool = False
    overall: bool = False


_SYSTEMS = {
    "bi": "BI-RADS", "li": "LI-RADS", "lung": "Lung-RADS", "ti": "TI-RADS", "pi": "PI-RADS",
    "o": "O-RADS", "ni": "NI-RADS", "cad": "CAD-RADS", "vi": "VI-RADS", "gb": "GB-RADS",
}
# Words between the system and its category, as rads.py allows them: "BI-RADS category 7",
# "Lung-RADS v2022 category 5", "CAD-RADS 2.0: 4", "TI-RADS level: TR6", "O-RADS US risk category 6".
_FILLER = (r"(?:[\s:#=,®™\-–(]|\(\s*(?:r|tm)\s*\)|\bv(?:ersion)?\s*\d+(?:\.\d+)?\b|\b(?:19|20)\d\d\b|\b\d\.\d\b"
           r"|\(\s*(?:v(?:ersion)?\s*\d+(?:\.\d+)?|(?:19|20)\d\d|\d\.\d|us|mri|ct\s*/\s*mri?|ceus|ultrasound)\s*\)"
           r"|\b(?:final|overall|assessment|category|cat\.?|score|level|risk|us|mri|ultrasound|lexicon|"
           r"primary(?:\s+site)?|neck|is|of|was)\b)*?")
# Words that follow "LR-TR" without being a category ("the LR-TR algorithm", "LR-TR categories").
_TR_STOP = (r"(?:algorithms?|categor\w*|assessments?|criteria|response|lesions?|observations?|treated|treatment|"
            r"systems?|lexicon|version|scores?|status|applied|per|of|for|and|or|is|was|the|an?|with|in|v\d\S*)\b")
# An LI-RADS token: a treatment-response category by its word, or any short LR- code ("LR-6", "LR-5A").
_LR_TOKEN = (rf"lr[\s\-]?tr[\s\-]+(?!{_TR_STOP})(?:non[\s\-]?)?[a-z]+"
             r"|lr-(?!tr\b)[a-z0-9]{1,4}|lr\s?\d{1,2}[a-z]?")
_TOKEN = {
    "LI-RADS": rf"(?:{_LR_TOKEN}|\d{{1,2}}[a-z]?)",
    "TI-RADS": r"(?:tr[\s\-]?)?\d{1,2}",
}
_DEFAULT_TOKEN = r"\d{1,2}(?:\s?[a-z](?![a-z]))?"
_END = r"(?![\w.]\d|\w)"
_NAMED = {
    system: re.compile(rf"{OTHER_TIRADS if key == 'ti' else ''}(?:\bacr[\s\-]?)?{system_pattern(key)}{_FILLER}"
                       rf"(?P<cat>{_TOKEN.get(system, _DEFAULT_TOKEN)}){_END}", re.IGNORECASE)
    for key, system in _SYSTEMS.items()
}
# Another thyroid scale than ACR TI-RADS ("EU-TIRADS 4", "K-TIRADS 4", "C-TIRADS 4A", "Kwak TIRADS 4b"): its numbers
# are its own, with their own management, so its statement is kept as the report's words, never read as an ACR TR level.
_OTHER_THYROID = re.compile(rf"\b(?P<scale>eu|k|c|kwak)[\s\-]?ti[\s\-]?rads\b{_FILLER}"
                            r"(?P<cat>(?:tr[\s\-]?)?\d{1,2}(?:\s?[a-c](?![a-z]))?)" + _END, re.IGNORECASE)
# "LR-TR Nonprogressing", "LR-6" without the system's name: the LR- prefix names LI-RADS itself.
_BARE_LR = re.compile(rf"(?<![\w\-])(?P<cat>{_LR_TOKEN}){_END}", re.IGNORECASE)
# A scale, range, point total, measurement or ordinal, not a category: "0-6 scale", "7-point", "8 points", "5th".
_NOT_A_CATEGORY = re.compile(
    r"(?:\s*(?:-|–|—|to|through|or|and|/)\s*\d"
    r"|\s*-?\s*(?:points?|pts?|tiers?|tiered|scales?|levels|grades?|categor\w*|mm|cm|%|months?|years?|weeks?|days?)\b"
    r"|\.\d|(?:st|nd|rd|th)\b)",
    re.IGNORECASE,
)

# A printed legend: a heading ("BI-RADS categories:", "Key:", "Legend:") on the mention's line before it,
# or above a block of "code: definition" lines holding it; or three or more entries close together.
_LEGEND_HEAD = re.compile(r"\b(?:categories|legend|key|definitions?|scale|lexicon|classification)\b[^:\n]{0,30}:",
                          re.IGNORECASE)
_ENTRY_CODE = r"(?:lr[\s\-]?tr[\s\-]+(?:non[\s\-]?)?[a-z]+|lr[\s\-]?[a-z0-9]{1,4}|tr\s?\d{1,2}|\d{1,2}[a-z]?)"
_DEFINING = (r"(?:incomplete|negative|benign|probably|definitely|definite|suspicious|highly|known|very|low|intermediate|"
             r"high|moderate(?:ly)?|mild(?:ly)?|minimal|indeterminate|equivocal|likely|unlikely|normal|almost|"
             r"malignan\w*|needs?|not|no|concerning|viable|non[\s\-]?viable|nonprogressing|progress\w*|tumou?r|"
             r"enhancement|stable|growth)\b")
_ENTRY = re.compile(rf"(?<![\w.\-/])(?P<code>{_ENTRY_CODE})(?:\s*[:=)\-–—]\s*|\s+)(?={_DEFINING})",
                    re.IGNORECASE)
_ENTRY_LINE = re.compile(rf"^\s*(?:[\-*•]\s*|\d{{1,2}}[.)]\s+)?(?:\S+[\s\-]?rads\s*)?{_ENTRY_CODE}\s*[:=\-–—]",
                         re.IGNORECASE)
_LEGEND_GAP = 100


def _line(text: str, pos: int) -> tuple[int, int]:
    a = text.rfind("\n", 0, pos) + 1
    b = text.find("\n", pos)
    return a, len(text) if b < 0 else b


def _legend_heading(text: str, pos: int) -> bool:
    """A legend heading before `pos` on its line, or above the run of entry lines holding it."""
    a, b = _line(text, pos)
    if _LEGEND_HEAD.search(text[a:pos]):
        return True
    if not _ENTRY_LINE.match(text[a:b]):
        return False
    while a > 0:
        a, b = _line(text, a - 1)
        line = text[a:b]
        if not line.strip():
            return False
        if _ENTRY_LINE.match(line):
            continue
        return bool(_LEGEND_HEAD.search(line))
    return False


def _entry_runs(text: str) -> list[list[re.Match[str]]]:
    """Runs of legend entries (three or more codes, each within _LEGEND_GAP characters of the one before)."""
    runs: list[list[re.Match[str]]] = []
    run: list[re.Match[str]] = []
    for m in _ENTRY.finditer(text):
        if run and m.start() - run[-1].end() > _LEGEND_GAP:
            runs.append(run)
            run = []
        run.append(m)
    runs.append(run)
    return [r for r in runs if len({re.sub(r"[\s\-]", "", m.group("code").lower()) for m in r}) >= 3]


def _in_legend(text: str, mention: UnlistedMention, runs: list[list[re.Match[str]]]) -> bool:
    if _legend_heading(text, mention.cat_start):
        return True
    return any(m.start("code") <= mention.cat_start < m.end("code") for run in runs for m in run)


def _words(raw: str) -> str:
    """The category as written, in the usual case: 'lr-tr nonprogressing' -> 'LR-TR Nonprogressing', '4d' -> '4D'."""
    words = " ".join(raw.split())
    m = re.fullmatch(r"(?i)lr[\s\-]?tr[\s\-]+(.+)", words)
    if m:
        return "LR-TR " + m.group(1)[:1].upper() + m.group(1)[1:].lower()
    m = re.fullmatch(r"(?i)lr[\s\-]?(.+)", words)
    if m:
        return "LR-" + m.group(1).upper()
    return words.upper().replace(" ", "")


def find_unlisted(text: str) -> list[UnlistedMention]:
    """Every statement in `text` of a category its system does not define, history flagged."""
    text = fold_dashes(text)
    found: dict[int, UnlistedMention] = {}

    def add(system: str, raw: str, start: int, end: int, cat_start: int, words: str | None = None) -> None:
        if (words is None and normalise(system, raw) is not None) or _NOT_A_CATEGORY.match(text, end):
            return  # a known category (rads.py reads it), or a scale, range, point total, size
        if any(m.start <= cat_start < m.end for m in found.values()):
            return
        hist, overall = mention_context(text, start, end)
        hist = hist or not_a_statement(text, start, end, system)
        found[start] = UnlistedMention(system, words or _words(raw), start, end, cat_start, hist, overall)

    for m in _OTHER_THYROID.finditer(text):
        scale = "Kwak" if m.group("scale").lower() == "kwak" else m.group("scale").upper()
        add("TI-RADS", m.group("cat"), m.start(), m.end(), m.start("cat"), f"{scale}-TIRADS {_words(m.group('cat'))}")
    for system, rx in _NAMED.items():
        for m in rx.finditer(text):
            add(system, m.group("cat"), m.start(), m.end(), m.start("cat"))
    for m in _BARE_LR.finditer(text):
        add("LI-RADS", m.group("cat"), m.start(), m.end(), m.start())
    return sorted(found.values(), key=lambda x: x.start)


def stated_unlisted(report: RadiologyReport) -> list[UnlistedMention]:
    """The unlisted categories this report states for its own study (not history, legend or another exam's)."""
    text = fold_dashes(report.text())
    runs = _entry_runs(text)
    exam = exam_systems(report)
    # Part of a known category's own statement ("CAD-RADS 4 (4A)": the bracket refines the 4) is no other one.
    known = [(k.start, k.end) for k in find_mentions(text)]
    return [m for m in find_unlisted(text)
            if not m.historical and not _in_legend(text, m, runs) and (not exam or m.system in exam)
            and not any(a <= m.cat_start < b for a, b in known)]


def unlisted_statement(report: RadiologyReport, known: RadsMention | None,
                       mentions: list[UnlistedMention]) -> UnlistedMention | None:
    """The unlisted statement that stands as the report's assessment, or None when the known one does.

    Without a known category, the report's explicit statement stands (an "overall"/"final" one
    first, else the last, which is the impression's). Beside a known category of the study, the
    unlisted one wins only where the report makes it the answer: an addendum that revises the
    body, or an "overall"/"final" assessment against a category that is not one. Otherwise the
    known category stands and the engine notes the unlisted statement beside it.
    """
    if not mentions:
        return None
    text = fold_dashes(report.text())
    if known is not None:
        others = [m for m in mentions if m.system == known.system] or mentions
        revised = in_last_addendum(text, [known.start, *(m.start for m in others)])
        if revised and known.start not in revised:
            mentions = [m for m in others if m.start in revised]
        elif not known.overall and any(m.overall for m in others):
            mentions = others
        else:
            return None
    else:
        revised = in_last_addendum(text, [m.start for m in mentions])
        if revised:
            mentions = [m for m in mentions if m.start in revised]
    overall = [m for m in mentions if m.overall]
    return (overall or mentions)[-1]
