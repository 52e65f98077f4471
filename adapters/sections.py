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
_HEAD = re.compile(r"^\s*(?P<name>[A-Za-z][A-Za-z /&]{1,40}?)(?:\s*:|\s+[-\u2013\u2014]{1,2}(?=\s|$))\s*(?P<rest>.*)$")
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


def line_heading(line: str) -> tuple[str | None, str]:
    """(section a heading line names, its text after the heading); (None, '') for any other line.

    Shared with the HL7 reader (adapters.hl7.oru_in) so both read headings the same way.
    """
    m = _ADDENDUM_HEAD.match(line) or _HEAD.match(line) or BARE_HEAD.match(line)
    if not m:
        return None, ""
    return HEADINGS.get(_heading_name(m.group("name"))), (m.group("rest") or "").strip()


def split_sections(text: str, default: str = "findings") -> Sections:
    """Sections of `text`; lines before any heading go to `default`."""
    buckets: dict[str, list[str]] = {}
    current = default
    headed = False
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        section, rest = line_heading(line)
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
