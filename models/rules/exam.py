"""What a report examined: its procedure words, DICOM modality and procedure code.

The sender's fields when it gave them; else the exam line of the report's own body ("EXAM: US
THYROID") and the modality its procedure words name. Shared by the RADS reader (models/rules/rads.py:
which system a bare "Category 4" belongs to) and the applicability rules and planner
(models/rules/applicability.py), so both judge a text-only report by the same exam. It imports no
other rules module, so both can import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.types import RadiologyReport

__all__ = ["CODE_MODALITY", "CODE_SYSTEMS", "Exam", "study_exam"]

# CPT/HCPCS codes that name one RADS exam (AMA CPT, CMS HCPCS): an OBR-4 or
# DiagnosticReport.code may carry only the code. Codes of a whole region (a pelvic US, a
# neck US) say nothing about the question and are left to the words.
CODE_SYSTEMS: dict[str, str] = {
    **dict.fromkeys(("77061", "77062", "77063", "77065", "77066", "77067", "G0202", "G0204", "G0206",
                     "76641", "76642", "77046", "77047", "77048", "77049"), "BI-RADS"),
    **dict.fromkeys(("71271", "G0297"), "Lung-RADS"),
    "75574": "CAD-RADS",
}
CODE_MODALITY = {"BI-RADS": None, "Lung-RADS": "CT", "CAD-RADS": "CT"}


# The exam line of a report body when the sender gave no procedure name.
_EXAM_LINE = re.compile(
    r"^[ \t]*(?:exam(?:ination)?|procedure|study|type of (?:exam|study)|exam type|examination performed)"
    r"[ \t]*:[ \t]*(?P<exam>[^\n]+)",
    re.IGNORECASE | re.MULTILINE,
)
_LABELED_LINE = re.compile(r"^[ \t]*[A-Za-z][A-Za-z /]{1,30}:")
# Modality words of a procedure name, most specific first (PET/CT is PET; "MG ... W US" is
# mammography). Short codes are matched in capitals only, so the pronoun "us" is no ultrasound.
_MODALITY_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("PT", re.compile(r"\bPET\b|(?i:positron)")),
    ("MG", re.compile(r"\bMG\b|(?i:\bmammo\w*|\btomosynthesis\b|\bDBT\b)")),
    ("MR", re.compile(r"\bMRI?\b|\bMRA\b|\bMRCP\b|(?i:\bmri\b|magnetic resonance|\bmultiparametric\b|\bmpMRI\b)")),
    ("CT", re.compile(r"\bCTA?\b|\bCCTA\b|\bLDCT\b|(?i:computed tomograph\w*|\bct\b|\bcta\b|\bldct\b|low[- ]dose ct)")),
    ("US", re.compile(r"\bUS\b|\bUSG\b|\bTVUS\b|(?i:ultrasound|ultrasonograph\w*|sonogra\w*|\bdoppler\b)")),
    ("NM", re.compile(r"\bNM\b|(?i:nuclear medicine|scintigra\w*|\bspect\b|bone scan)")),
    ("DX", re.compile(r"\bXR\b|\bCR\b|\bDX\b|\bCXR\b|(?i:radiograph\w*|x-?rays?\b|\bfilms?\b|\bPA and lateral\b|"
                      r"\bfrontal and lateral\b|\b(?:one|two|single|[1-4]) views?\b|\bportable\b)")),
)
_MODALITY_ALIASES = {"XR": "DX", "RX": "DX", "NMR": "MR", "MRI": "MR", "PET": "PT", "RUS": "US", "VUS": "US",
                     "OUS": "US", "CUS": "US"}


@dataclass(frozen=True)
class Exam:
    """What was examined: the procedure words and the DICOM modality, from fields or body."""

    procedure: str
    modality: str | None
    code: str | None


def _modality_of_words(text: str) -> str | None:
    for code, pattern in _MODALITY_WORDS:
        if pattern.search(text):
            return code
    return None


def _exam_line(report: RadiologyReport) -> str:
    """The exam the body names: an 'EXAM:' line, else a first line that names a modality."""
    body = report.body()
    m = _EXAM_LINE.search(body)
    if m:
        return m.group("exam").strip()
    if report.technique and _modality_of_words(report.technique):
        return report.technique.strip()
    first = next((ln.strip() for ln in (report.findings or "").splitlines() if ln.strip()), "")
    if first and not _LABELED_LINE.match(first) and len(first) <= 160 and _modality_of_words(first):
        return first
    return ""


def study_exam(report: RadiologyReport) -> Exam:
    """The procedure and modality the applicability rules judge by.

    The sender's fields win; a report without a procedure name is judged by the exam its own
    body names, and a missing modality by the words of the procedure (HL7 OBR-24 is often
    empty, FHIR category often generic). 'XR' and other non-DICOM spellings are normalised.
    """
    procedure = (report.procedure or "").strip() or _exam_line(report)
    modality = (report.modality or "").strip().upper() or None
    modality = _MODALITY_ALIASES.get(modality, modality) if modality else None
    if modality is None and procedure:
        modality = _modality_of_words(procedure)
    code = (report.procedure_code or "").strip().upper() or None
    if modality is None and code in CODE_SYSTEMS:
        modality = CODE_MODALITY[CODE_SYSTEMS[code]]
    return Exam(procedure, modality, code)
