"""Stated N and M stages: "N2 disease", "cN1", "T2N1M0", "N staging: N2", "M1b".

Regular expressions on purpose (no library parses TNM out of free text). A bare "M1" is
not taken, since "the M1 segment" of the middle cerebral artery is common in neuro reports;
an M or N counts only with a clinical prefix (c/p/y/r), inside a T..N..M string, after an
"N stage:"/"M staging:" lead-in, or followed by "disease"/"stage".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.rules.context import mention_context

__all__ = ["StageMention", "stated_n", "stated_m"]


@dataclass(frozen=True)
class StageMention:
    stage: str  # "N0".."N3" or "M0"/"M1"
    start: int
    end: int


_PFX = r"(?:[cpy]|yc|yp|r)?"
_TNM = re.compile(
    rf"\b{_PFX}T(?:[0-4][a-d]?|is|x)\s*,?\s*{_PFX}(?P<n>N[0-3x])[a-c]?(?:\s*,?\s*{_PFX}(?P<m>M[01x])[a-c]?)?(?![\w])"
)
_N = re.compile(
    rf"(?:\b(?:[cpy]|yc|yp)(?P<a>N[0-3])[a-c]?\b"
    rf"|\b(?:N|(?i:nodal))[\s\-]?(?i:stag(?:e|ing)|category|status)\s*(?i:is\s*)?[:=]?\s*{_PFX}(?P<b>N[0-3])[a-c]?\b"
    rf"|\b(?P<c>N[0-3])[a-c]?\s+(?i:disease|nodal\s+disease|stage|category)\b"
    rf"|\(\s*{_PFX}(?P<d>N[0-3])[a-c]?\s*\))"
)
_M = re.compile(
    rf"(?:\b(?:[cpy]|yc|yp)(?P<a>M[01])[a-c]?\b"
    rf"|\b(?:M|(?i:metastasis|metastatic))[\s\-]?(?i:stag(?:e|ing)|category|status)\s*(?i:is\s*)?[:=]?\s*{_PFX}(?P<b>M[01])[a-c]?\b"
    rf"|\b(?P<c>M[01])[a-c]?\s+(?i:disease|stage|category)\b"
    rf"|\(\s*{_PFX}(?P<d>M[01])[a-c]?\s*\))"
)


def _collect(text: str, rx: re.Pattern[str], key: str) -> list[StageMention]:
    out: list[StageMention] = []
    for m in _TNM.finditer(text):
        if m.group(key) and not m.group(key).endswith("x"):
            out.append(StageMention(m.group(key), m.start(), m.end()))
    for m in rx.finditer(text):
        stage = next(g for g in (m.group("a"), m.group("b"), m.group("c"), m.group("d")) if g)
        if not any(s.start <= m.start() < s.end for s in out):
            out.append(StageMention(stage, m.start(), m.end()))
    return [s for s in out if not mention_context(text, s.start, s.end)[0]]


def stated_n(text: str) -> StageMention | None:
    """The highest N stage the text states for this study (history lines and prior cues ignored)."""
    found = _collect(text, _N, "n")
    return max(found, key=lambda s: (s.stage, s.start)) if found else None


def stated_m(text: str) -> StageMention | None:
    """M1 when any current M1 is stated, else M0 when stated, else None."""
    found = _collect(text, _M, "m")
    return max(found, key=lambda s: (s.stage, s.start)) if found else None
