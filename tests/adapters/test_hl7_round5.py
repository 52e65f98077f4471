"""HL7 v2 round 5: ORU^R01 shapes not covered by rounds 1-4, through the adapter and both doors.

Part 1 (adapter): hand-written messages (synthetic patients) in v2.3 to v2.8 with each OBX-2 a
radiology feed uses, reports carried in NTE, several ORDER_OBSERVATION groups, ORC before OBR,
Z-segments, the P/F/C/X life of one accession, retractions, PID-3 with assigning authorities,
long FT lines with \\.br\\ and \\X0D\\, LF/CRLF segment ends, cp1252 without MSH-18 and UTF-16/32
with a byte order mark. Each case states the ACK an interface analyst expects and, when
accepted, what the report must say.

Fixed in this round ("Before: ..." on each case or test):
- an addendum at the top of a one-OBX report ate the FINDINGS after it (findings None);
- "*** ADDENDUM ***" and "IMPRESSION/RECOMMENDATIONS:" headings were not seen in OBX text, and a
  \\X0D\\ line break before a heading hid it (impression and addendum left in the findings);
- OBR-25 F with every OBX W (a retraction) and OBR-25 P with every OBX X were AE 101;
- MSH-18 empty with cp1252 bytes: the ACK came back in UTF-8 (MSH-5/6 garbled for the sender);
- UTF-16/UTF-32 with a byte order mark: AE 100 over HTTP, and over MLLP an FS byte inside a
  character (U+041C is 1C 04 in UTF-16LE) cut the message.

Part 2 (doors: real MLLP over TCP and HTTP, SQLite and PostgreSQL) and Part 3 (worker).
"""

from __future__ import annotations

import codecs
import socket
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hl7_rounds import (
    LN_F,
    LN_I,
    LN_R,
    Case,
    Want,
    ack_for,
    codec_of,
    er7,
    err_of,
    inbound_rows,
    msas,
    msh_segment,
    obx,
    read_frame,
)
from sqlalchemy import select

from adapters.hl7 import Hl7Error, build_ack, parse_oru, peek_header, split_batch
from plugin.app import create_app
from plugin.storage.tables import Report

# ---- message builders ---------------------------------------------------------------------------


def msh(
    cid: str,
    *,
    version: str = "2.5.1",
    kind: str = "ORU^R01^ORU_R01",
    accept: str = "",
    app: str = "",
    charset: str = "",
    sender: str = "SYNRIS|LAKESIDE_IMG",
    enc: str = "^~\\&",
) -> str:
    """An MSH with MSH-n at list index n - 1; trailing empty fields dropped."""
    app_name, facility = sender.split("|")
    return msh_segment(cid, app_name, facility, "RADLITE", "LAKESIDE", "20250611083000", version=version, kind=kind,
                       accept=accept, app=app, charset=charset, enc=enc)


def obr(accession: str, service: str = "71046^XR CHEST 2 VIEWS^CPT4", *, status: str = "F",
        section: str = "RAD", set_id: str = "1", placer: str = "") -> str:
    """OBR-1/2/3/4/7/22/24/25 set, the rest empty."""
    fields = ["OBR", set_id, placer, accession, service] + [""] * 21
    fields[7], fields[22], fields[24], fields[25] = "20250611070000", "20250611082500", section, status
    return "|".join(fields)


PID = "PID|1||LK20931^^^LAKESIDE&2.16.840.1.113883.3.999&ISO^MR||SYNTHETIC^BETA||19580312|M"


def want(accession: str | None, status: str, *sections: str | None, **fields: str | None) -> Want:
    """A report of this file's patient (LK20931) unless the case names another."""
    return Want(accession, status, *sections, **{"patient_id": "LK20931", **fields})


_LONG_LINES = [f"Level T{i}: vertebral body height preserved; no \\T\\ or \\S\\ abnormality." for i in range(1, 13)]
_LONG_FT = "\\.br\\".join(_LONG_LINES) * 40  # one OBX-5 of about 30 kB with 440 FT line breaks
_LONG_TEXT = "\n".join(line.replace("\\T\\", "&").replace("\\S\\", "^") for line in _LONG_LINES) * 40

CASES: list[Case] = [
    # ---- versions ----
    Case(  # Meditech-style v2.3: MSH-9 without structure; the report comes as NTE after the OBR
        "v23-report-in-nte-after-obr",
        er7(msh("MT-2301", version="2.3", kind="ORU^R01"), PID, obr("LK-2301"),
            "NTE|1||FINDINGS: Heart size normal. Lungs clear.", "NTE|2||", "NTE|3||IMPRESSION: No acute disease."),
        "AA", "MT-2301", None,
        (want("LK-2301", "final", "Heart size normal. Lungs clear.", "No acute disease."),),
    ),
    Case(  # v2.3.1: CE impression with the &IMP suffix, text only ("^text")
        "v231-ce-impression",
        er7(msh("AG-2311", version="2.3.1"), PID, obr("LK-2311", "76705^US ABDOMEN LIMITED^CPT4", section="US"),
            obx(1, "TX", "76705&GDT^Findings^L", "Gallbladder wall 2 mm; no stones.", sub="1"),
            obx(2, "CE", "76705&IMP^Impression^L", "^Normal gallbladder", sub="2")),
        "AA", "AG-2311", None,
        (want("LK-2311", "final", "Gallbladder wall 2 mm; no stones.", "Normal gallbladder"),),
    ),
    Case(  # v2.4: a missing OBX-11 gets ERR-1 (ELD) rather than ERR-2/3
        "v24-missing-obx11-eld",
        er7(msh("V24-1", version="2.4"), PID, obr("LK-2401"), obx(1, "TX", LN_F, "Clear."),
            obx(2, "TX", LN_I, "Normal.", status="")),
        "AE", "V24-1", ("101", "OBX^2^11"),
    ),
    Case(  # v2.6: CWE impression with original text (CWE-9)
        "v26-cwe-impression",
        er7(msh("V26-1", version="2.6"), PID, obr("LK-2601", "71250^CT CHEST WO^CPT4", section="CT"),
            obx(1, "TX", LN_F, "No pulmonary nodule."),
            obx(2, "CWE", LN_I, "^^^^^^^^Negative chest CT")),
        "AA", "V26-1", None, (want("LK-2601", "final", "No pulmonary nodule.", "Negative chest CT"),),
    ),
    Case(  # v2.7: an OBX-11 outside table 0085
        "v27-bad-obx11",
        er7(msh("V27-1", version="2.7"), PID, obr("LK-2701"), obx(1, "TX", LN_F, "Clear.", status="Q")),
        "AE", "V27-1", ("103", "OBX^1^11"),
    ),
    Case(  # v2.8 with the truncation character in MSH-2
        "v28-truncation-char",
        er7(msh("V28-1", version="2.8", enc="^~\\&#"), PID, obr("LK-2801", "72148^MRI LUMBAR^CPT4", section="MR"),
            obx(1, "FT", LN_R, "FINDINGS: L4-5 disc bulge.\\.br\\IMPRESSION: Mild degenerative change.")),
        "AA", "V28-1", None, (want("LK-2801", "final", "L4-5 disc bulge.", "Mild degenerative change."),),
    ),
    # ---- OBX-2 value types ----
    Case(
        "st-lines",
        er7(msh("ST-1"), PID, obr("LK-ST-1"), obx(1, "ST", LN_F, "Lungs clear.", sub="1"),
            obx(2, "ST", LN_F, "No effusion.", sub="1"), obx(3, "ST", LN_I, "Normal chest.", sub="2")),
        "AA", "ST-1", None, (want("LK-ST-1", "final", "Lungs clear.\nNo effusion.", "Normal chest."),),
    ),
    Case(  # Before: \X0D\ before a heading hid it; the impression stayed in the findings
        "ft-hex-cr-before-heading",
        er7(msh("HX-1"), PID, obr("LK-HX-1", "74176^CT ABD PELVIS WO^CPT4", section="CT"),
            obx(1, "FT", LN_R, "FINDINGS: Simple left renal cyst.\\X0D\\\\X0D\\IMPRESSION: Benign cyst.")),
        "AA", "HX-1", None, (want("LK-HX-1", "final", "Simple left renal cyst.", "Benign cyst."),),
    ),
    Case(  # one 35 kB FT line with 480 \.br\ and delimiter escapes
        "ft-very-long-line",
        er7(msh("LG-1"), PID, obr("LK-LG-1", "72128^CT THORACIC SPINE^CPT4", section="CT"),
            obx(1, "FT", LN_F, _LONG_FT), obx(2, "TX", LN_I, "No fracture.")),
        "AA", "LG-1", None,
        (want("LK-LG-1", "final", _LONG_TEXT, "No fracture."),),
    ),
    Case(  # a PDF (ED) next to the text: the text is the report
        "ed-next-to-text",
        er7(msh("ED-1"), PID, obr("LK-ED-1"), obx(1, "ED", "PDF^Report PDF^L", "^AP^PDF^Base64^JVBERi0xLjQK"),
            obx(2, "TX", LN_F, "Lungs clear."), obx(3, "TX", LN_I, "Normal.")),
        "AA", "ED-1", None, (want("LK-ED-1", "final", "Lungs clear.", "Normal."),),
    ),
    Case(  # only a link (RP): nothing to read; the missing text OBX is under OBR 1
        "rp-only",
        er7(msh("RP-1"), PID, obr("LK-RP-1"), obx(1, "RP", "RPT^Report^L", "https://ris.example/r/1.pdf^RIS^AP^PDF")),
        "AE", "RP-1", ("101", "OBR^1"),
    ),
    # ---- NTE ----
    Case(  # NTE after an OBX are notes on it (v2 ch.7), never its value: with every narrative OBX
        # empty there is no report text, and the sender hears so (our own ORU out also writes an
        # empty text OBX followed by NTE naming the model; reading those as a report would be wrong)
        "text-only-in-nte-after-empty-obx",
        er7(msh("NT-1"), PID, obr("LK-NT-1"), obx(1, "TX", LN_F, ""), "NTE|1|L|Lungs clear.",
            "NTE|2|L|No effusion.", obx(2, "TX", LN_I, ""), "NTE|1|L|Normal chest."),
        "AE", "NT-1", ("101", "OBR^1"),
    ),
    Case(  # an NTE after a valued OBX is a comment on it, not report text
        "nte-after-valued-obx-is-comment",
        er7(msh("NT-2"), PID, obr("LK-NT-2"), obx(1, "TX", LN_F, "Lungs clear."),
            "NTE|1|L|Read on home workstation.", obx(2, "TX", LN_I, "Normal.")),
        "AA", "NT-2", None, (want("LK-NT-2", "final", "Lungs clear.", "Normal."),),
    ),
    # ---- groups, ORC, OBR-4, Z-segments ----
    Case(  # two ORDER_OBSERVATION groups, ORC first, accession only in ORC-3 for the second
        "two-groups-orc-first",
        er7(msh("GR-1"), PID, "ORC|RE|PL-1|LK-GR-1", obr("LK-GR-1", "71046^XR CHEST^CPT4", placer="PL-1"),
            obx(1, "TX", LN_F, "Lungs clear."), "ORC|RE|PL-2|LK-GR-2",
            obr("", "73030^XR SHOULDER RIGHT^CPT4", set_id="2", placer="PL-2"),
            obx(2, "TX", LN_F, "No fracture or dislocation.")),
        "AA", "GR-1", None,
        (want("LK-GR-1", "final", "Lungs clear."), want("LK-GR-2", "final", "No fracture or dislocation.")),
    ),
    Case(  # OBR-4 coded in LOINC with the CPT code as the alternate
        "obr4-loinc-with-cpt-alternate",
        er7(msh("LN-1"), PID, obr("LK-LN-1", "36643-5^XR Chest 2 Views^LN^71046^XR CHEST 2V^CPT4"),
            obx(1, "TX", "36643-5&GDT^XR Chest 2 Views^LN", "Lungs clear.")),
        "AA", "LN-1", None, (want("LK-LN-1", "final", "Lungs clear."),),
    ),
    Case(  # ZPI after PID, ZDS (study instance UID) after ORC, OBR, OBX and at the end
        "z-segments-everywhere",
        er7(msh("Z-1"), "ZPI|1|VIP", PID, "ZPI|2|LANG^en", "ORC|RE||LK-Z-1", "ZDS|1.2.826.0.1.3680043.2.1^RIS^App^DICOM",
            obr("LK-Z-1"), "ZDS|1.2.826.0.1.3680043.2.2", obx(1, "TX", LN_F, "Clear."), "ZDS|x",
            obx(2, "TX", LN_I, "Normal."), "ZPI|3|END"),
        "AA", "Z-1", None, (want("LK-Z-1", "final", "Clear.", "Normal."),),
    ),
    # ---- one accession through its life ----
    Case("life-p", er7(msh("LF-P"), PID, obr("LK-LIFE", status="P"), obx(1, "TX", LN_F, "Possible RLL opacity.", "P")),
         "AA", "LF-P", None, (want("LK-LIFE", "preliminary", "Possible RLL opacity."),)),
    Case("life-f", er7(msh("LF-F"), PID, obr("LK-LIFE"), obx(1, "TX", LN_F, "RLL consolidation."),
                       obx(2, "TX", LN_I, "Pneumonia.")),
         "AA", "LF-F", None, (want("LK-LIFE", "final", "RLL consolidation.", "Pneumonia."),)),
    Case("life-c", er7(msh("LF-C"), PID, obr("LK-LIFE", status="C"), obx(1, "TX", LN_F, "RLL atelectasis.", "C"),
                       obx(2, "TX", LN_I, "Atelectasis, not pneumonia.", "C")),
         "AA", "LF-C", None, (want("LK-LIFE", "corrected", "RLL atelectasis.", "Atelectasis, not pneumonia."),)),
    Case("cancelled-no-obx", er7(msh("CX-1"), PID, "ORC|CA||LK-CX-1", obr("LK-CX-1", status="X")),
         "AA", "CX-1", None, (want("LK-CX-1", "cancelled"),)),
    Case(  # Before: AE 101. Every OBX W under OBR-25 F is a retraction: kept as entered-in-error
        "retraction-f-all-w",
        er7(msh("RW-1"), PID, obr("LK-RW-1"), obx(1, "TX", LN_F, "Lungs clear.", "W"),
            obx(2, "TX", LN_I, "Normal.", "W")),
        "AA", "RW-1", None, (want("LK-RW-1", "entered-in-error"),),
    ),
    Case("retraction-c-all-d", er7(msh("RD-1"), PID, obr("LK-RD-1", status="C"), obx(1, "TX", LN_F, "x", "D")),
         "AA", "RD-1", None, (want("LK-RD-1", "entered-in-error"),)),
    Case(  # Before: AE 101. Every result not obtainable (X) under OBR-25 P: cancelled
        "not-obtained-p-all-x",
        er7(msh("NX-1"), PID, obr("LK-NX-1", status="P"), obx(1, "TX", LN_F, "", "X")),
        "AA", "NX-1", None, (want("LK-NX-1", "cancelled"),),
    ),
    Case(  # one line wrong among valid ones: the report stays final, that line left out
        "one-line-w",
        er7(msh("OW-1"), PID, obr("LK-OW-1"), obx(1, "TX", LN_F, "Left effusion.", "W"),
            obx(2, "TX", LN_F, "Right effusion."), obx(3, "TX", LN_I, "Right effusion.")),
        "AA", "OW-1", None, (want("LK-OW-1", "final", "Right effusion.", "Right effusion."),),
    ),
    # ---- PID-3 ----
    Case(  # SSN, then enterprise id (PI), then the MR, each with an HD assigning authority
        "pid3-repeats-with-authorities",
        er7(msh("PD-1"), "PID|1||123456789^^^SSA&2.16.840.1.113883.4.1&ISO^SS~E77120^^^EMPI&1.2.3&ISO^PI"
            "~LK55^^^LAKESIDE&2.16.840.1.113883.3.999&ISO^MR||SYNTHETIC^GAMMA", obr("LK-PD-1"),
            obx(1, "TX", LN_F, "Clear.")),
        "AA", "PD-1", None, (want("LK-PD-1", "final", "Clear.", patient_id="LK55"),),
    ),
    # ---- sections from headings ----
    Case(  # Before: findings None (the addendum at the top swallowed them)
        "addendum-at-top-tx-repetitions",
        er7(msh("AT-1"), PID, obr("LK-AT-1"), obx(1, "TX", LN_R, "ADDENDUM: Discussed with Dr. Rahm 09:10.~~"
                                                   "FINDINGS: Small left pleural effusion.~~IMPRESSION: Small effusion.")),
        "AA", "AT-1", None,
        (want("LK-AT-1", "final", "Small left pleural effusion.", "Small effusion.", "Discussed with Dr. Rahm 09:10."),),
    ),
    Case(  # Before: the starred addendum heading was not seen; addendum text went into the findings
        "starred-addendum-at-top-ft",
        er7(msh("AT-2"), PID, obr("LK-AT-2"), obx(1, "FT", "&GDT^Report^L", "*** ADDENDUM ***\\.br\\Prior film"
                                                   " reviewed: stable.\\.br\\\\.br\\FINDINGS:\\.br\\Stable 6 mm nodule."
                                                   "\\.br\\IMPRESSION:\\.br\\Stable nodule.")),
        "AA", "AT-2", None,
        (want("LK-AT-2", "final", "Stable 6 mm nodule.", "Stable nodule.", "Prior film reviewed: stable."),),
    ),
    Case(  # Before: impression None, "IMPRESSION/RECOMMENDATIONS: ..." left in the findings
        "impression-slash-recommendations",
        er7(msh("IR-1"), PID, obr("LK-IR-1", "71250^CT CHEST WO^CPT4", section="CT"),
            obx(1, "TX", "&GDT^Report^L", "FINDINGS: 8 mm RUL nodule.~IMPRESSION/RECOMMENDATIONS: "
                                         "8 mm nodule; CT in 3 months.")),
        "AA", "IR-1", None, (want("LK-IR-1", "final", "8 mm RUL nodule.", "8 mm nodule; CT in 3 months."),),
    ),
    Case(  # an EXAM line before the sections is the procedure (dropped); a "Study:" line after one is text
        "exam-line-dropped-study-line-kept",
        er7(msh("EX-1"), PID, obr("LK-EX-1", "70551^MRI BRAIN WO^CPT4", section="MR"),
            obx(1, "FT", "&GDT^Report^L", "EXAM: MRI brain without contrast\\.br\\FINDINGS: No acute infarct."
                                         "\\.br\\Study: limited by motion.\\.br\\IMPRESSION: No acute infarct.")),
        "AA", "EX-1", None,
        (want("LK-EX-1", "final", "No acute infarct.\nStudy: limited by motion.", "No acute infarct."),),
    ),
    # ---- segment terminators ----
    Case("lf-only", er7(msh("LF-1"), PID, obr("LK-LF-1"), obx(1, "TX", LN_F, "Clear."), end="\n"),
         "AA", "LF-1", None, (want("LK-LF-1", "final", "Clear."),)),
    Case("crlf", er7(msh("CR-1"), PID, obr("LK-CR-1"), obx(1, "TX", LN_F, "Clear."), end="\r\n"),
         "AA", "CR-1", None, (want("LK-CR-1", "final", "Clear."),)),
    # ---- character sets ----
    Case(  # MSH-18 empty, cp1252 bytes (en dash, curly quote): read as cp1252
        "cp1252-without-msh18",
        er7(msh("CP-1", sender="SYNRIS|H\u00d4PITAL_NORD"), PID, obr("LK-CP-1"),
            obx(1, "TX", LN_F, "Pas d\u2019\u00e9panchement \u2013 poumons clairs."), charset="cp1252"),
        "AA", "CP-1", None, (want("LK-CP-1", "final", "Pas d\u2019\u00e9panchement \u2013 poumons clairs."),),
    ),
    Case(  # Before: AE 100 with no MSA-2. UTF-16LE with BOM, MSH-18 UNICODE UTF-16; U+041C holds a 0x1C byte
        "utf16le-bom",
        codecs.BOM_UTF16_LE + er7(msh("U16-1", charset="UNICODE UTF-16"), PID, obr("LK-U16-1"),
                                  obx(1, "TX", LN_F, "\u041c\u0435\u043b\u043a\u0438\u0439 \u0432\u044b\u043f\u043e\u0442."),
                                  charset="utf-16-le"),
        "AA", "U16-1", None, (want("LK-U16-1", "final", "\u041c\u0435\u043b\u043a\u0438\u0439 \u0432\u044b\u043f\u043e\u0442."),),
    ),
    Case("utf16be-bom-no-msh18",
         codecs.BOM_UTF16_BE + er7(msh("U16-2"), PID, obr("LK-U16-2"), obx(1, "TX", LN_F, "\u00c9panchement."),
                                   charset="utf-16-be"),
         "AA", "U16-2", None, (want("LK-U16-2", "final", "\u00c9panchement."),)),
    Case("utf32le-bom",
         codecs.BOM_UTF32_LE + er7(msh("U32-1", charset="UNICODE UTF-32"), PID, obr("LK-U32-1"),
                                   obx(1, "TX", LN_F, "\u80ba\u91ce clear."), charset="utf-32-le"),
         "AA", "U32-1", None, (want("LK-U32-1", "final", "\u80ba\u91ce clear."),)),
    # ---- enhanced mode ----
    Case("enhanced-al-ne", er7(msh("EN-1", accept="AL", app="NE"), PID, obr("LK-EN-1"), obx(1, "TX", LN_F, "Clear.")),
         "CA", "EN-1", None, (want("LK-EN-1", "final", "Clear."),)),
    Case("enhanced-er-al-error",
         er7(msh("EN-2", accept="ER", app="AL"), PID, obr("LK-EN-2", status="Q"), obx(1, "TX", LN_F, "Clear.")),
         "CE", "EN-2", ("103", "OBR^1^25")),
]


# ---- Part 1: checks -----------------------------------------------------------------------------


def test_there_are_at_least_thirty_five_cases() -> None:
    assert len(CASES) >= 35 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_round5_oru_ack_and_extraction(case: Case) -> None:
    ack_text, parsed = ack_for(case.raw)
    msa = next(s for s in ack_text.split("\r") if s.startswith("MSA")).split("|")
    assert (msa[1], msa[2]) == (case.msa1, case.msa2), case.name
    ack_msh = ack_text.lstrip("\ufeff").split("\r")[0].split("|")
    assert (ack_msh[2], ack_msh[4]) == ("RADLITE", "SYNRIS"), case.name  # MSH-3/5 swapped
    assert err_of(ack_text) == case.err, case.name
    if case.err is not None:
        assert isinstance(parsed, Hl7Error) and (parsed.err_code, parsed.location) == case.err, case.name
        return
    assert not isinstance(parsed, Hl7Error), (case.name, parsed)
    assert len(parsed.reports) == len(case.reports), case.name
    for got, want in zip(parsed.reports, case.reports, strict=True):
        assert (got.accession, got.status) == (want.accession, want.status), case.name
        assert (got.findings, got.impression, got.addendum) == (want.findings, want.impression, want.addendum), case.name
        assert got.patient_id == want.patient_id, case.name


def test_obr4_loinc_code_and_text_are_the_procedure() -> None:
    (report,) = parse_oru(next(c for c in CASES if c.name == "obr4-loinc-with-cpt-alternate").raw).reports
    assert (report.procedure_code, report.procedure) == ("36643-5", "XR Chest 2 Views")


def test_ack_codec_follows_the_bytes_when_msh18_is_empty() -> None:
    """Before: a cp1252 message without MSH-18 got a UTF-8 ACK; its MSH-5/6 came back garbled."""
    header = peek_header(next(c for c in CASES if c.name == "cp1252-without-msh18").raw)
    assert header is not None and header.codec == "cp1252"
    ack = build_ack(header).encode(header.codec)
    assert b"|H\xd4PITAL_NORD|" in ack  # the sender's own bytes, echoed in MSH-6
    declared = peek_header(er7(msh("DC-1", charset="8859/1"), PID, charset="latin-1"))
    assert declared is not None and declared.codec == "latin-1"
    plain = peek_header(er7(msh("PL-1"), PID))
    assert plain is not None and plain.codec == "utf-8"


@pytest.mark.parametrize(("name", "codec", "bom"), [
    ("utf16le-bom", "utf-16-le", codecs.BOM_UTF16_LE),
    ("utf16be-bom-no-msh18", "utf-16-be", codecs.BOM_UTF16_BE),
    ("utf32le-bom", "utf-32-le", codecs.BOM_UTF32_LE),
])
def test_wide_messages_are_answered_in_their_own_encoding(name: str, codec: str, bom: bytes) -> None:
    case = next(c for c in CASES if c.name == name)
    msg = parse_oru(case.raw)
    assert msg.header.codec == codec and msg.charset_used == codec
    ack = build_ack(msg.header).encode(msg.header.codec)
    assert ack.startswith(bom + "MSH|^~\\&|RADLITE|".encode(codec))
    assert ack[len(bom):].decode(codec).split("\r")[1] == f"MSA|AA|{case.msa2}"


def test_wide_bytes_that_do_not_decode_are_rejected_not_guessed() -> None:
    raw = codecs.BOM_UTF16_LE + er7(msh("BAD16"), PID, charset="utf-16-le")[:-1]  # odd length: cut character
    with pytest.raises(Hl7Error) as info:
        parse_oru(raw)
    assert info.value.err_code == "100"


def test_msh15_msh16_combinations_say_which_acks_are_owed() -> None:
    """Table 0155 in enhanced mode: (accept ACK now, application ACK later) for success and error."""
    table = {
        ("AL", "NE"): ((True, False), (True, False)),
        ("NE", "AL"): ((False, True), (False, True)),
        ("ER", "ER"): ((False, False), (True, True)),
        ("SU", "SU"): ((True, True), (False, False)),
        ("AL", "AL"): ((True, True), (True, True)),
        ("", ""): ((True, False), (True, False)),  # original mode: one ACK now, nothing later
    }
    for (accept, app), (ok, bad) in table.items():
        header = peek_header(er7(msh("T155", accept=accept, app=app), PID))
        assert header is not None
        got = ((header.wants_accept_ack(error=False), header.wants_app_ack(error=False)),
               (header.wants_accept_ack(error=True), header.wants_app_ack(error=True)))
        assert got == (ok, bad), (accept, app)


def _batch(*messages: bytes, count: int | None = None) -> bytes:
    n = len(messages) if count is None else count
    return (b"FHS|^~\\&|SYNRIS|LAKESIDE_IMG|RADLITE|LAKESIDE|20250611\r"
            b"BHS|^~\\&|SYNRIS|LAKESIDE_IMG|RADLITE|LAKESIDE|20250611\r" + b"".join(messages)
            + f"BTS|{n}\rFTS|1\r".encode())


GOOD_1 = er7(msh("BT-1"), PID, obr("LK-BT-1"), obx(1, "TX", LN_F, "Clear."))
BROKEN = er7(msh("BT-2"), PID, obx(1, "TX", LN_F, "Orphan line."))  # OBX with no OBR
GOOD_3 = er7(msh("BT-3"), PID, obr("LK-BT-3"), obx(1, "TX", LN_F, "Small effusion."))


def test_a_batch_with_a_bad_message_in_the_middle_splits_into_all_three() -> None:
    batch = split_batch(_batch(GOOD_1, BROKEN, GOOD_3))
    assert batch.all_errors == [] and batch.messages == [GOOD_1, BROKEN, GOOD_3]


def test_a_utf16_batch_is_split_and_each_message_read() -> None:
    raw = codecs.BOM_UTF16_LE + _batch(GOOD_1, GOOD_3).decode().replace(
        "MSH|^~\\&|SYNRIS|LAKESIDE_IMG|RADLITE|LAKESIDE|20250611083000||ORU^R01^ORU_R01|BT-1|P|2.5.1",
        "MSH|^~\\&|SYNRIS|LAKESIDE_IMG|RADLITE|LAKESIDE|20250611083000||ORU^R01^ORU_R01|BT-1|P|2.5.1"
        "||||||UNICODE UTF-16").encode("utf-16-le")
    batch = split_batch(raw)
    assert batch.codec == "utf-16-le" and batch.all_errors == []
    assert [parse_oru(m).reports[0].accession for m in batch.messages] == ["LK-BT-1", "LK-BT-3"]


# ---- Part 2: the doors --------------------------------------------------------------------------




def test_every_case_over_http_is_kept_and_answered(app_mllp: Any) -> None:
    app, client = app_mllp
    for case in CASES:
        response = client.post("/hl7/v2", content=case.raw, headers={"Content-Type": "x-application/hl7-v2+er7"})
        assert msas(response.content, codec_of(case)) == [(case.msa1, case.msa2)], case.name
        assert response.status_code == (200 if case.msa1 in ("AA", "CA") else 400), case.name
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == [c.raw for c in CASES]
    # life-p/f/c are three messages for one accession: each queued, none a duplicate
    assert [r.status for r in rows] == ["rejected" if c.err else "queued" for c in CASES]


def test_every_case_over_one_mllp_connection(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=60) as sock:
        for case in CASES:
            sock.sendall(b"\x0b" + case.raw + b"\x1c\r")
            assert msas(read_frame(sock), codec_of(case)) == [(case.msa1, case.msa2)], case.name
    assert [r.raw for r in inbound_rows(app)] == [c.raw for c in CASES]


def test_utf16_over_mllp_with_fs_bytes_inside_characters(app_sqlite: Any) -> None:
    """Before: the FS byte of U+041C (1C 04 in UTF-16LE, 04 1C in BE) ended the block mid-message."""
    app, _ = app_sqlite
    text = "\u041c\u0430\u043b\u044b\u0439 \u041c\u0422-\u0432\u044b\u043f\u043e\u0442 \u0441\u043f\u0440\u0430\u0432\u0430."
    sends = []
    for codec, bom in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)):
        raw = bom + er7(msh(f"FS-{codec[-2:]}", charset="UNICODE UTF-16"), PID, obr(f"LK-FS-{codec[-2:]}"),
                        obx(1, "TX", LN_F, text), charset=codec)
        assert b"\x1c" in raw
        sends.append((raw, codec, bom))
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for raw, codec, bom in sends:
            cut = raw.index(b"\x1c") + 1  # a read that ends right after the FS inside a character
            for piece in (b"\x0b" + raw[:cut], raw[cut:], b"\x1c", b"\r"):
                sock.sendall(piece)
                time.sleep(0.05)  # let each piece arrive as its own read (not a speed check)
            ack = read_frame(sock)
            assert ack.startswith(bom)
            assert msas(ack, codec) == [("AA", f"FS-{codec[-2:]}")]
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == [s[0] for s in sends]
    assert [parse_oru(r.raw).reports[0].findings for r in rows] == [text, text]


def test_cp1252_ack_bytes_over_http_and_mllp(app_sqlite: Any) -> None:
    """Before: the ACK to a cp1252 message without MSH-18 was UTF-8 (b'H\\xc3\\x94PITAL')."""
    app, client = app_sqlite
    case = next(c for c in CASES if c.name == "cp1252-without-msh18")
    response = client.post("/hl7/v2", content=case.raw, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200 and b"|H\xd4PITAL_NORD|" in response.content
    assert "cp1252" in response.headers["content-type"]
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + case.raw.replace(b"CP-1", b"CP-2") + b"\x1c\r")
        assert b"|H\xd4PITAL_NORD|" in read_frame(sock)


def test_batch_with_a_bad_message_in_the_middle_over_both_doors(app_sqlite: Any) -> None:
    app, client = app_sqlite
    raw = _batch(GOOD_1, BROKEN, GOOD_3)
    response = client.post("/hl7/v2", content=raw, headers={"Content-Type": "x-application/hl7-v2+er7"})
    assert response.status_code == 400  # not every message was accepted
    assert msas(response.content) == [("AA", "BT-1"), ("AE", "BT-2"), ("AA", "BT-3")]
    text = response.content.decode()
    assert text.startswith("FHS|") and "\rBTS|3" in text and text.endswith("FTS|1\r")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + raw.replace(b"BT-", b"BM-") + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "BM-1"), ("AE", "BM-2"), ("AA", "BM-3")]
    assert [r.status for r in inbound_rows(app)] == ["queued", "rejected", "queued"] * 2


def test_two_frames_in_one_read_and_one_frame_over_many_reads(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    one = next(c for c in CASES if c.name == "z-segments-everywhere").raw
    two = next(c for c in CASES if c.name == "two-groups-orc-first").raw
    three = next(c for c in CASES if c.name == "st-lines").raw
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"\x0b" + one + b"\x1c\r" + b"\x0b" + two + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "Z-1")]
        assert msas(read_frame(sock)) == [("AA", "GR-1")]
        framed = b"\x0b" + three + b"\x1c\r"
        for i in range(0, len(framed), 7):
            sock.sendall(framed[i : i + 7])
        assert msas(read_frame(sock)) == [("AA", "ST-1")]
    assert [r.raw for r in inbound_rows(app)] == [one, two, three]


def test_enhanced_mode_over_mllp_answers_only_what_msh15_asks(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    good = [PID, obr("LK-EM"), obx(1, "TX", LN_F, "Clear.")]
    bad = [PID, obr("LK-EM", status="Q"), obx(1, "TX", LN_F, "Clear.")]
    sends = [
        er7(msh("EM-1", accept="NE", app="AL"), *good),  # no accept ACK
        er7(msh("EM-2", accept="AL", app="NE"), *bad),  # CE
        er7(msh("EM-3", accept="NE", app="NE"), *bad),  # nothing at all, still stored
        er7(msh("EM-4", accept="AL", app="AL"), *good),  # CA
    ]
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        for raw in sends:
            sock.sendall(b"\x0b" + raw + b"\x1c\r")
        answers = [msas(read_frame(sock)) for _ in range(2)]
    assert answers == [[("CE", "EM-2")], [("CA", "EM-4")]]
    assert [(r.control_id, r.status) for r in inbound_rows(app)] == [
        ("EM-1", "queued"), ("EM-2", "rejected"), ("EM-3", "rejected"), ("EM-4", "queued")]


# ---- Part 3: the worker keeps a retraction as the current version ---------------------------------


def _wait_for(predicate: Any, timeout: float = 600.0) -> Any:
    """Poll until the background worker has done its part (not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def test_final_then_retraction_leaves_entered_in_error_current(
    sqlite_url: str, ensemble: Any, settings_for: Any
) -> None:
    """Before: the retraction (OBR-25 F, every OBX W) was AE 101 and the wrong report stayed current."""
    app = create_app(settings_for(sqlite_url, worker_enabled=True), ensemble=ensemble)
    final = er7(msh("RT-1"), PID, obr("LK-RT"), obx(1, "TX", LN_F, "Lungs clear."), obx(2, "TX", LN_I, "Normal."))
    retraction = er7(msh("RT-2"), PID, obr("LK-RT"), obx(1, "TX", LN_F, "Lungs clear.", "W"),
                     obx(2, "TX", LN_I, "Normal.", "W"))
    with TestClient(app) as client:
        for raw in (final, retraction):
            assert client.post("/hl7/v2", content=raw).status_code == 200
        _wait_for(lambda: [r.status for r in inbound_rows(app)] == ["done", "done"])
        with app.state.sessions() as s:
            versions = s.scalars(select(Report).where(Report.report_key == "LK-RT").order_by(Report.id)).all()
            got = [(v.status, v.superseded_by is None) for v in versions]
    assert got == [("final", False), ("entered-in-error", True)]
