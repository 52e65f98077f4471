"""Split report text into sections by its headings (FINDINGS:, IMPRESSION:, ...).

Used when a sender puts the whole report in one block (one HL7 OBX, a FHIR
presentedForm or narrative) instead of coding each section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Heading -> section. Headings stand at the start of a line, end with a colon (or a dash) and may
# carry their text on the same line ("IMPRESSION: LR-5 ...").
HEADINGS: dict[str, str] = {
    "exam": "procedure", "examination": "procedure", "procedure": "procedure",
    "study": "procedure", "exam type": "procedure", "type of exam": "procedure", "examination type": "procedure",
    "study type": "procedure", "procedure name": "procedure",
    "history": "history", "clinical history": "history", "indication": "history", "indications": "history",
    "clinical indication": "history", "reason for exam": "history", "clinical information": "history",
    "technique": "technique", "protocol": "technique",
    "comparison": "comparison", "comparisons": "comparison", "prior": "comparison",
    "findings": "findings", "finding": "findings",
    # A body headed as the report itself (only before any other heading: "Results: called to Dr X"
    # after the impression is text); a combined "FINDINGS/IMPRESSION" reads as findings, so no
    # impression is invented for it.
    "report": "body", "result": "body", "results": "body", "body": "body",
    "findings and impression": "findings", "findings and impressions": "findings",
    "impression": "impression", "impressions": "impression", "conclusion": "impression",
    "conclusions": "impression",
    # Other templates' names for the impression: British "Opinion", "Summary", "Final impression".
    "opinion": "impression", "summary": "impression", "final impression": "impression",
    "impression and recommendation": "impression", "impression and recommendations": "impression",
    "conclusion and recommendation": "impression", "conclusions and recommendations": "impression",
    "interpretation": "impression", "diagnostic impression": "impression", "clinical impression": "impression",
    # Mammography templates give the BI-RADS assessment its own heading.
    "assessment": "impression", "overall assessment": "impression", "final assessment": "impression",
    "addendum": "addendum", "addenda": "addendum",
}
# Only these start a new section; History/Comparison/Technique lines inside a findings
# body stay in the body, as real report bodies carry them (see DESIGN's report shape).
_SPLITTING = {"procedure", "findings", "impression", "addendum"}
# Some templates close the heading with a dash instead ("FINDINGS - ...", "Impression --").
# A qualifier in brackets may follow the name ("IMPRESSION (preliminary):", "Findings (continued):",
# "IMPRESSION (AI-assisted draft):"); the name alone decides the section.
_HEAD = re.compile(
    r"^\s*(?P<name>[A-Za-z][A-Za-z /&]{1,40}?)(?:\s*\((?P<qualifier>[^()\n]{1,40})\))?"
    r"(?:\s*:|\s+[-\u2013\u2014]{1,2}(?=\s|$))\s*(?P<rest>.*)$"
)
# The line some RIS print where an addendum ends ("***** END ADDENDUM *****", "End of addendum"):
# the text after it is the report the addendum was added to, not more addendum.
_ADDENDUM_END = re.compile(r"^[\s*#=\-\[]*end\s+(?:of\s+)?addend(?:um|a)\b[\s*#=\-\].:]*$", re.IGNORECASE)
END_OF_ADDENDUM = "end of addendum"
"""What line_heading gives for such a line: no section of its own, the text after it goes back to the body."""
# An addendum heading as RIS systems print it: "ADDENDUM #1:", "Addendum 2:", "*** ADDENDUM ***",
# "ADDENDUM (2025-07-01):", "ADDENDUM BEGINS"; its text may follow on the same line.
_ADDENDUM_HEAD = re.compile(
    r"^[\s*#=\-\[]*(?P<name>addend(?:um|a))\b(?!\s+(?:to|of)\b)(?:\s*(?:#\s*)?\d{1,2}\b|\s*\([^)\n]{0,30}\)"
    r"|\s+(?:begins|start|follows))*[\s*#=\-\]]*(?::\s*(?P<rest>.*)|$)",
    re.IGNORECASE,
)
# Many RIS templates write a heading in capitals alone on its line, without a colon
# ("IMPRESSION", then the text on the next lines). Only capitals and only a known heading
# name count, so a sentence is never taken for a heading.
BARE_HEAD = re.compile(r"^\s*(?P<name>[A-Z][A-Z ]{1,30}[A-Z])\s*(?P<rest>)$")


@dataclass
class Sections:
    procedure: str | None = None
    findings: str | None = None
    impression: str | None = None
    addendum: str | None = None
    headed: bool = False  # True when at least one heading was found

    def as_dict(self) -> dict[str, str | None]:
        return {"procedure": self.procedure, "findings": self.findings, "impression": self.impression, "addendum": self.addendum}


def _heading_name(raw: str) -> str:
    """'Impression/Recommendations' and 'Impression & recommendations' -> 'impression and recommendations'."""
    return re.sub(r"\s*[/&]\s*", " and ", raw.strip()).lower()


# Words that qualify a heading without changing its section ("PRELIMINARY IMPRESSION", "Revised findings").
_QUALIFIER_WORDS = frozenset({"preliminary", "prelim", "final", "revised", "amended", "corrected", "updated", "overall"})
# Plural heading words read as their singular ("IMPRESSIONS/RECOMMENDATIONS").
_PLURALS = {"impressions": "impression", "conclusions": "conclusion", "recommendations": "recommendation",
            "findings": "findings", "addenda": "addendum"}
# A combined heading led by an impression word is the impression ("IMPRESSION AND PLAN",
# "CONCLUSION/RECOMMENDATIONS"); one led by FINDINGS is in HEADINGS (read as findings).
_IMPRESSION_LEADS = frozenset({"impression", "conclusion", "opinion", "interpretation"})


def _section_named(name: str) -> str | None:
    """Section of a normalised heading name: HEADINGS, else the name without qualifier words and
    plurals, else the first part of a combined heading when that part is an impression word."""
    if name in HEADINGS:
        return HEADINGS[name]
    words = name.split()
    while len(words) > 1 and words[0] in _QUALIFIER_WORDS:
        words = words[1:]
    plain = " ".join(_PLURALS.get(w, w) for w in words)
    if plain in HEADINGS and HEADINGS[plain] != "body":  # "PRELIMINARY REPORT" is a banner, kept as text
        return HEADINGS[plain]
    lead = plain.split(" and ")[0]
    return "impression" if " and " in plain and lead in _IMPRESSION_LEADS else None


def line_heading(line: str) -> tuple[str | None, str]:
    """(section a heading line names, its text after the heading); (None, '') for any other line.

    Shared with the HL7 reader (adapters.hl7.oru_in) so both read headings the same way.
    """
    if _ADDENDUM_END.match(line):
        return END_OF_ADDENDUM, ""
    m = _ADDENDUM_HEAD.match(line) or _HEAD.match(line) or BARE_HEAD.match(line)
    if not m:
        return None, ""
    qualifier = m.groupdict().get("qualifier")
    if qualifier and not _only_qualifier_words(qualifier):
        return None, ""  # "ASSESSMENT (BI-RADS 4): ..." states something in its bracket: a line of text, kept whole
    return _section_named(_heading_name(m.group("name"))), (m.group("rest") or "").strip()


# Words a bracket after a heading name may hold and still only qualify it; a bracket with any
# other word ("(BI-RADS 4)", "(left breast)") says something, and stays in the section's text.
_BRACKET_QUALIFIERS = frozenset({
    "preliminary", "prelim", "final", "revised", "amended", "corrected", "updated", "continued", "cont", "cont'd",
    "draft", "ai", "assisted", "generated", "computer", "aided", "automated", "signed", "unsigned", "resident",
    "attending", "radiologist", "wet", "read", "see", "below", "above", "addendum", "and", "by", "for", "review",
})


def _only_qualifier_words(text: str) -> bool:
    words = [w for w in re.split(r"[\s,/;:.\-]+", text.lower()) if w]
    return bool(words) and all(w in _BRACKET_QUALIFIERS for w in words)


def split_sections(text: str, default: str = "findings") -> Sections:
    """Sections of `text`; lines before any heading go to `default`."""
    buckets: dict[str, list[str]] = {}
    current = default
    headed = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        section, rest = line_heading(line)
        if section == END_OF_ADDENDUM:
            current = default if current == "addendum" else current
            continue
        if section == "procedure" and headed and current != "procedure":
            section = None  # "Study: limited by motion" inside the body is not a new exam
        if section == "body":
            section = None if headed else "findings"
        if section in _SPLITTING:
            headed = True
            current = section
            if rest:
                buckets.setdefault(current, []).append(rest)
            else:
                buckets.setdefault(current, [])
            continue
        buckets.setdefault(current, []).append(line.rstrip())
    out = Sections(headed=headed)
    for name, lines in buckets.items():
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if lines:
            setattr(out, name, "\n".join(lines))
    return out


def report_fields(text: str) -> dict[str, str]:
    """RadiologyReport section fields of a whole report text.

    A multi-line EXAM block keeps only its first line as the procedure; the lines after it
    (often technique or history without a heading of their own) open the findings body.
    """
    out = {k: v for k, v in split_sections(text).as_dict().items() if v}
    proc = out.pop("procedure", None)
    if proc:
        first, _, rest = proc.partition("\n")
        out["procedure"] = first.strip()
        if rest.strip():
            out["findings"] = rest.strip() + ("\n" + out["findings"] if out.get("findings") else "")
    return out
