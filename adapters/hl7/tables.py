"""Code tables the ORU adapter checks and maps: HL7 tables (from hl7apy), statuses, modalities, sections."""

from __future__ import annotations

import re

from hl7apy import load_library

_HL7APY_TABLES = load_library("2.5.1").TABLES


def _table(name: str, extra: tuple[str, ...] = ()) -> frozenset[str]:
    return frozenset(_HL7APY_TABLES[name][1]) | frozenset(extra)


RESULT_STATUS_0123 = _table("HL70123")
"""OBR-25 result status (O I S A P C R F X Y Z)."""
OBSERVATION_STATUS_0085 = _table("HL70085", ("A", "B", "V"))
"""OBX-11 observation result status; A/B/V were added after v2.5.1."""
VALUE_TYPE_0125 = _table("HL70125", ("CWE", "CNE", "DTM", "SN", "ST", "TX", "FT", "CE", "ED", "RP", "NM", "TS")) | (
    frozenset(load_library("2.8").TABLES["HL70125"][1]) | frozenset(load_library("2.8.2").TABLES["HL70125"][1])
) - {"..."}
"""OBX-2 value types; hl7apy's 2.5.1 table lacks CWE and CNE (spec §4.8), so they are added, and so
are the types v2.7-2.8.2 added (ID, IS, DR, MA, NA, EI, HD, ...): a v2.8 message with an `IS` OBX
next to its report text is valid and must not be rejected (AE 103)."""

SUPPORTED_VERSIONS = frozenset({"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"})
"""MSH-12 versions accepted (ORU^R01 as defined from v2.3 to v2.8.2)."""

PROCESSING_IDS = frozenset({"P", "T", "D"})
"""MSH-11 table 0103: production, training, debugging."""

TEXT_TYPES = frozenset({"TX", "FT", "ST"})
CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF"})

OBR_STATUS_TO_FHIR: dict[str, str] = {
    "O": "registered", "I": "registered", "S": "registered",
    "A": "partial", "P": "preliminary", "R": "preliminary",
    "F": "final", "C": "corrected", "X": "cancelled",
    "Y": "unknown", "Z": "unknown",
}
"""OBR-25 (table 0123) -> FHIR DiagnosticReport.status (v2-to-FHIR ConceptMap, spec §4.2)."""

OBX_STATUS_TO_FHIR: dict[str, str] = {
    "F": "final", "P": "preliminary", "R": "preliminary", "S": "partial", "I": "registered",
    "C": "corrected", "A": "amended", "B": "appended", "X": "cancelled", "D": "entered-in-error",
    "W": "entered-in-error", "N": "unknown", "O": "registered", "U": "final", "V": "final",
}
"""OBX-11 (table 0085) -> FHIR status; used when OBR-25 is empty."""


# ---- modality ----------------------------------------------------------------------
# OBR-24 (table 0074 diagnostic service section, plus what vendors send) -> DICOM modality.
# None means "a general radiology section": the procedure text decides (see modality()).
SECTION_TO_MODALITY: dict[str, str | None] = {
    "CT": "CT", "CTH": "CT", "CAT": "CT",
    "MR": "MR", "MRI": "MR", "NMR": "MR",
    "US": "US", "RUS": "US", "VUS": "US", "OUS": "US", "CUS": "US", "ULS": "US",
    "MG": "MG", "MAM": "MG", "MAMMO": "MG", "BRE": "MG",
    "NM": "NM", "NMS": "NM", "NUC": "NM",
    "PT": "PT", "PET": "PT",
    "CR": "CR", "DX": "DX", "XRC": "DX",
    "RF": "RF", "FL": "RF",
    "XA": "XA", "IR": "XA", "ANG": "XA", "VAS": None,
    "RAD": None, "RX": None, "XR": None, "IMG": None, "DI": None,
}

# Procedure-text hints, tried in order: the first match wins. Word boundaries keep "CT" out
# of "CONTRAST" and "US" out of "THUS". A single view or portable chest film is the
# bedside (CR) study; other radiographs are departmental (DX).
_HINTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("PT", re.compile(r"\b(PET|PET/CT|PET-CT)\b")),
    ("MG", re.compile(r"\b(MAMMO\w*|MG|TOMOSYNTHESIS|DBT)\b")),
    ("MR", re.compile(r"\b(MRI?|MRA|MRCP|MAGNETIC RESONANCE)\b")),
    ("CT", re.compile(r"\b(CT|CTA|CAT|COMPUTED TOMOGRAPHY)\b")),
    ("US", re.compile(r"\b(US|USG|ULTRASOUND|SONO\w*|DOPPLER|ECHO)\b")),
    ("NM", re.compile(r"\b(NM|NUCLEAR|SCINTIGRAPHY|SPECT|BONE SCAN)\b")),
    ("RF", re.compile(r"\b(FLUORO\w*|ESOPHAGRAM|BARIUM)\b")),
    ("XA", re.compile(r"\b(ANGIO\w*|ANGIOGRAPHY)\b")),
    ("CR", re.compile(r"\b(PORTABLE|PORT|1 VIEW|ONE VIEW|SINGLE VIEW|BEDSIDE)\b")),
    ("DX", re.compile(r"\b(XR|X-RAY|XRAY|RADIOGRAPH\w*|VIEWS?|PA|KUB)\b")),
)


def modality(section: str, procedure: str | None) -> str | None:
    """DICOM modality from OBR-24 and the procedure text.

    A specific OBR-24 (CT, MR/NMR, US/RUS/VUS/OUS/CUS, MG, NM/NMS, PT, CR, DX, RF, XA)
    wins. A general one (RAD, RX, XR, empty or unknown) defers to the procedure text:
    PET -> PT, mammo/tomosynthesis -> MG, MR/MRI -> MR, CT/CTA -> CT, US/ultrasound -> US,
    nuclear -> NM, fluoro -> RF, angio -> XA, portable or single-view film -> CR, other
    radiographs -> DX. A general radiology section with no hint gives DX; nothing at all gives None.
    """
    key = section.strip().upper()
    mapped = SECTION_TO_MODALITY.get(key)
    if mapped:
        return mapped
    text = (procedure or "").upper()
    for code, pattern in _HINTS:
        if pattern.search(text):
            return code
    if key in ("RAD", "RX", "XR"):
        return "DX"
    return None


# ---- report sections from OBX-3 ------------------------------------------------------
# HL7 v2 ch.7 observation identifier suffixes (OBX-3.1 '<code>&<suffix>').
SUFFIX_SECTIONS: dict[str, str] = {
    "GDT": "findings", "IMP": "impression", "ADT": "addendum", "ADD": "addendum",
    "REC": "impression", "INT": "impression", "CON": "impression",
    "COM": "findings", "ANT": "findings", "SIT": "findings", "DEV": "technique", "MET": "technique",
    "TCM": "technique", "HIS": "history", "IND": "history", "CMP": "comparison",
}

# LOINC radiology section codes (spec §2.3). 18748-4 is the whole report: split by headings.
LOINC_SECTIONS: dict[str, str] = {
    "18782-3": "findings", "19005-8": "impression", "18783-1": "impression", "55110-1": "impression",
    "18834-2": "comparison", "55114-3": "comparison",
    "18785-6": "history", "55108-5": "history", "11329-0": "history", "55752-0": "history",
    "55111-9": "technique",
    "55107-7": "addendum",
    "55109-3": "findings", "55112-7": "findings", "55113-5": "findings",
    "18748-4": "report",
}

# Words in OBX-3.2 naming a section, for local codes without a suffix.
_NAME_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("addendum", re.compile(r"\baddend", re.I)),
    ("impression", re.compile(r"\b(impression|conclusion|assessment|recommendation)s?\b", re.I)),
    ("findings", re.compile(r"\b(findings?|observation|body)\b", re.I)),
    ("comparison", re.compile(r"\bcomparison\b", re.I)),
    ("technique", re.compile(r"\b(technique|protocol|procedure description)\b", re.I)),
    ("history", re.compile(r"\b(history|indication|reason for (study|exam))\b", re.I)),
    ("report", re.compile(r"\b(report|narrative|text|result)\b", re.I)),
)


def section_of(code_subs: list[str], name: str, alt_code: str = "") -> str | None:
    """Report section an OBX belongs to, from OBX-3 (code with subcomponents, text, alternate code).

    Returns findings/impression/addendum/history/technique/comparison, 'report' for a whole
    report to split by headings, or None when OBX-3 names no narrative section.
    """
    suffix = code_subs[-1].strip().upper() if len(code_subs) > 1 else ""
    if suffix in SUFFIX_SECTIONS:
        return SUFFIX_SECTIONS[suffix]
    for code in (code_subs[0].strip() if code_subs else "", alt_code.strip()):
        if code in LOINC_SECTIONS:
            return LOINC_SECTIONS[code]
        if code.upper() in SUFFIX_SECTIONS:  # '&GDT' sent in the wrong component, or bare 'IMP'
            return SUFFIX_SECTIONS[code.upper()]
    for section, pattern in _NAME_WORDS:
        if pattern.search(name):
            return section
    return None


# ---- ED (encapsulated data) OBX-5 that is a text document ------------------------------
# ED components: 1 source application, 2 type of data (table 0191), 3 data subtype (table 0291),
# 4 encoding (table 0299), 5 data. Only a text document is report text: table 0191 TEXT (v2.3.1
# on), TX (v2.2) and FT name one; AP ("other application data") is text only as RTF or HTML.
ED_TEXT_TYPES_0191 = frozenset({"TEXT", "TX", "FT"})
ED_ENCODINGS_0299 = frozenset({"A", "BASE64", "HEX"})
# Data subtype -> how the text is read. Table 0291 has RTF and HTML; senders of plain text
# leave it empty or write the MIME subtype (text/plain), which table 0291 lacks.
_ED_TEXT_SUBTYPES: dict[str, str] = {"": "plain", "PLAIN": "plain", "TXT": "plain", "TEXT": "plain",
                                     "RTF": "rtf", "HTML": "html"}
_ED_APPLICATION_TEXT: dict[str, str] = {"RTF": "rtf", "HTML": "html"}


def ed_text_kind(type_of_data: str, subtype: str) -> str | None:
    """'plain', 'rtf' or 'html' for an ED that holds a text document, None for anything else
    (a PDF, an image, audio, a scanned document, a CDA, XML, an unknown subtype).

    A MIME type sent whole in ED-2 ('text/plain', 'application/rtf') with ED-3 empty is read
    as type and subtype. Case is ignored: senders write 'text^rtf' as often as 'TEXT^RTF'.
    """
    kind, sub = type_of_data.strip().upper(), subtype.strip().upper()
    if "/" in kind and not sub:
        kind, sub = (p.strip() for p in kind.split("/", 1))
    if kind in ED_TEXT_TYPES_0191:
        return _ED_TEXT_SUBTYPES.get(sub)
    if kind in ("AP", "APPLICATION"):
        return _ED_APPLICATION_TEXT.get(sub)
    return None
