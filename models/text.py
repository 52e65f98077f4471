"""Sentence splitting with offsets, shared by the rules engine and evidence lookup.

A small splitter of our own rather than spaCy's: evidence must quote the report's
exact characters with offsets, and radiology text breaks sentences on line ends and
numbered lists ("1. ...") where general-purpose splitters stumble on "2.3 cm".
"""

from __future__ import annotations

import re

from models.types import Evidence

# A stop followed by space and a capital/digit/list marker (or a clinical stage such as
# "cM1") ends a sentence, unless the stop belongs to a common abbreviation or ends a list
# number. Decimals ("3.2 cm") never reach the check: their stop is not followed by white space.
_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[\"']|(?:[cpy]|yc|yp)[TNM][0-4xX])")
_ABBREV = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|vs|approx|e\.g|i\.e|cf|St|No|Fig|Pt)\.$", re.IGNORECASE)
# A list number ("1.", "(2)", "3)") is the whole text between the start of a line (or a
# sentence end) and the stop, optionally after a section heading ("IMPRESSION: 1. ...").
# A category number ends its sentence: "Suspicious mass. BI-RADS 4. Biopsy recommended."
_LIST_NUMBER = re.compile(
    r"^\(?\d{1,2}[.)]$"
    r"|^(?:impression|findings|conclusions?|summary|recommendations?|opinion|comments?|addendum)\s*:\s*\(?\d{1,2}[.)]$",
    re.IGNORECASE,
)


def _no_boundary(candidate: str) -> bool:
    """True when the stop that ends `candidate` does not end a sentence."""
    return bool(_ABBREV.search(candidate) or _LIST_NUMBER.match(candidate.strip()))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of `text`, stripped of white space."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        start = 0
        for m in _BOUNDARY.finditer(line):
            if _no_boundary(line[start : m.start()]):
                continue
            _add(spans, line_start, line, start, m.start())
            start = m.end()
        _add(spans, line_start, line, start, len(line))
    return spans


def _add(spans: list[tuple[int, int]], offset: int, line: str, a: int, b: int) -> None:
    seg = line[a:b]
    lead = len(seg) - len(seg.lstrip())
    trail = len(seg) - len(seg.rstrip())
    if seg.strip():
        spans.append((offset + a + lead, offset + b - trail))


def split_sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


def evidence_at(text: str, start: int, end: int) -> Evidence:
    """The sentence(s) of `text` that contain the character span [start, end)."""
    hits = [(a, b) for a, b in sentence_spans(text) if a < max(end, start + 1) and b > start]
    if not hits:
        return Evidence(sentence=text[start:end], start=start, end=end)
    a, b = hits[0][0], hits[-1][1]
    return Evidence(sentence=text[a:b], start=a, end=b)


def evidence_for(text: str, needle: str) -> Evidence | None:
    """Evidence for the first case-insensitive occurrence of `needle`, or None."""
    i = text.lower().find(needle.lower())
    if i < 0:
        return None
    return evidence_at(text, i, i + len(needle))
