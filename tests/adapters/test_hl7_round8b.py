"""HL7 v2 round 8b: gaps found in round 8 in the ORU^R01 intake and its ACKs, each with realistic
messages (Epic, Cerner, Meditech, PowerScribe, Mirth feeds), the ACK the standard calls for and
what is kept.

Fixed in this round ("Before: ..." on each group):
- an unescaped '&' in a CE/CWE text component (OBR-4.2/4.5 procedure name, a coded impression's
  CE-2/CWE-9) cut the text at the '&' ("CT CHEST&ABD" read "CT CHEST"); those components are ST,
  which has no subcomponents, so the '&' is text: now read whole, with a warning;
- a final and then a preliminary OBR of one accession were joined: the draft's text was merged
  into the signed report (which stayed "final"); now the signed report stands and the left-out
  OBR and its OBX are named in a warning;
- OBR-25 F with every OBX-11 P stays "final": OBR-25 is the report's status and wins over OBX-11;
- MSH-18 "UNICODE UTF-16"/"UTF-32" over 8-bit bytes was read as UTF-8 but answered in UTF-16
  (also as an ACK batch); now answered in the codec the bytes were read in (UTF-8, else cp1252);
- a missing MSH-7 was accepted silently: MSH-7 is optional in v2.3/v2.3.1 (now a warning) and
  required from v2.4 on (hl7apy's MSH tables): AE 101 at MSH^1^7, as the other required MSH fields;
- a missing OBR-4 was accepted silently: OBR-4 is required in every version v2.3 to v2.8.2:
  AE 101 at OBR^n^4;
- a raw CR inside report text (AE 100) gave an ERR with no location; ERR-2 (ERR-1 ELD before
  v2.5) now names the segment and field the stray line break cut (OBX^2^5), and ERR-7 the line's
  position in the message.
"""

from __future__ import annotations

import codecs
import socket
from dataclasses import dataclass
from typing import Any

import pytest
from hl7_rounds import (
    LN_F,
    LN_I,
    Want,
    ack_for,
    er7,
    err_in_own_delimiters,
    inbound_rows,
    msas,
    msh_segment,
    obx,
    read_frame,
)

from adapters.hl7 import Hl7Error, build_batch_ack, parse_oru, peek_header, split_batch

VENDORS = {
    "epic": ("EPIC", "RIVERSIDE_RADIANT"),
    "cerner": ("HNAM", "CERNER_MILL"),
    "meditech": ("MT_RAD", "MEDITECH_EXP"),
    "ps": ("PowerScribe", "NUANCE_PS1"),
    "mirth": ("MIRTH_RIS", "RIVERSIDE"),
}
PID = "PID|1||RV20931^^^RIVERSIDE^MR||SYNTHETIC^JULIET^A||19570214|F"
GDT, IMP = "&GDT^Report^L", "&IMP^Impression^L"


def msh(cid: str, vendor: str = "epic", *, when: str = "20261129221500", **kw: Any) -> str:
    sender, facility = VENDORS[vendor]
    return msh_segment(cid, sender, facility, "RADLITE", "RIVERSIDE_CDS", when, **kw)


def obr(accession: str, service: str = "71046^XR CHEST 2 VIEWS^CPT4", *, status: str = "F", set_id: str = "1",
        section: str = "RAD", clinical: str = "") -> str:
    fields = ["OBR", set_id, "", accession, service] + [""] * 28
    fields[7], fields[13], fields[22], fields[24], fields[25] = "20261129213000", clinical, "20261129221000", section, status
    return "|".join(fields)


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    msa1: str
    msa2: str
    err: tuple[str, str] | None = None  # (table 0357 code, ERR location)
    reports: tuple[Want, ...] = ()
    procedure: str | None = None  # the first report's procedure name, when checked
    warn: str | None = None  # a piece of a parse warning that must be there (None: none of ours)


def want(accession: str, status: str, findings: str | None = None, impression: str | None = None,
         addendum: str | None = None) -> Want:
    return Want(accession, status, findings, impression, addendum, "RV20931")


def ok(name: str, raw: bytes, cid: str, *reports: Want, procedure: str | None = None, warn: str | None = None) -> Case:
    return Case(name, raw, "AA", cid, None, reports, procedure, warn)


def bad(name: str, raw: bytes, cid: str, code: str, where: str) -> Case:
    return Case(name, raw, "AE", cid, (code, where))


# The warnings this round adds; a case with warn=None must give none of them.
OUR_WARNINGS = ("unescaped subcomponent separator", "is not merged into the signed report",
                "bytes are not UTF-16/32", "MSH-7")

CASES: list[Case] = [
    # ---- 1. a raw '&' in a CE/CWE text component ------------------------------------------------------------
    # Before: "CT CHEST&ABD" was read "CT CHEST" (the rest of the procedure name lost).
    ok("obr4-text-raw-ampersand-epic", er7(msh("AM-1"), PID, obr("AM-A1", "74177^CT CHEST&ABD W CONTRAST^CPT4"),
                                           obx(1, "TX", GDT, "No acute abnormality.")), "AM-1",
       want("AM-A1", "final", "No acute abnormality."), procedure="CT CHEST&ABD W CONTRAST",
       warn="OBR-4.2 holds an unescaped subcomponent separator"),
    ok("obr4-text-only-raw-ampersand-cerner", er7(msh("AM-2", "cerner"), PID, obr("AM-A2", "^CT ABD&PELVIS"),
                                                  obx(1, "TX", LN_F, "Liver unremarkable.")), "AM-2",
       want("AM-A2", "final", "Liver unremarkable."), procedure="CT ABD&PELVIS",
       warn="OBR-4.2 holds an unescaped subcomponent separator"),
    ok("obr4-two-raw-ampersands-meditech", er7(
        msh("AM-3", "meditech"), PID, obr("AM-A3", "RAD0042^XR HIP&PELVIS&FEMUR LT^MTLOCAL"),
        obx(1, "TX", LN_F, "No fracture.")), "AM-3",
       want("AM-A3", "final", "No fracture."), procedure="XR HIP&PELVIS&FEMUR LT",
       warn="OBR-4.2 holds an unescaped subcomponent separator"),
    ok("obr4-alternate-text-raw-ampersand", er7(
        msh("AM-4", "ps"), PID, obr("AM-A4", "IMG7781^^99LOCAL^74177^CT A&P W CONTRAST^CPT4"),
        obx(1, "TX", LN_F, "Normal.")), "AM-4",
       want("AM-A4", "final", "Normal."), procedure="CT A&P W CONTRAST",
       warn="OBR-4.5 holds an unescaped subcomponent separator"),
    ok("obr4-escaped-ampersand-no-warning", er7(
        msh("AM-5"), PID, obr("AM-A5", "74177^CT CHEST\\T\\ABD W CONTRAST^CPT4"),
        obx(1, "TX", GDT, "No acute abnormality.")), "AM-5",
       want("AM-A5", "final", "No acute abnormality."), procedure="CT CHEST&ABD W CONTRAST"),
    ok("cwe-impression-raw-ampersand", er7(
        msh("AM-6", "ps"), PID, obr("AM-A6", "77065^MAMMO DIAG LT^CPT4"),
        obx(1, "TX", GDT, "Left breast: 8 mm mass at 2 o'clock."),
        obx(2, "CWE", IMP, "^Mass&calcifications, BI-RADS 4: suspicious")), "AM-6",
       want("AM-A6", "final", "Left breast: 8 mm mass at 2 o'clock.", "Mass&calcifications, BI-RADS 4: suspicious"),
       warn="OBX-5.2 holds an unescaped subcomponent separator"),
    ok("cwe-original-text-raw-ampersand", er7(
        msh("AM-7", "epic"), PID, obr("AM-A7", "77067^MAMMO SCREENING BILAT^CPT4"),
        obx(1, "TX", GDT, "Scattered fibroglandular density."),
        obx(2, "CWE", IMP, "^^^^^^^^Benign, BI-RADS 2 (cyst&lymph node)")), "AM-7",
       want("AM-A7", "final", "Scattered fibroglandular density.", "Benign, BI-RADS 2 (cyst&lymph node)"),
       warn="OBX-5.9 holds an unescaped subcomponent separator"),
    # ---- 2. final vs preliminary OBR of one accession; OBR-25 F with no final OBX ---------------------------
    # Before: the preliminary OBR's text was joined to the signed report, which stayed "final".
    ok("final-then-preliminary-obr-draft-left-out", er7(
        msh("ST-1"), PID, obr("ST-A1"), obx(1, "TX", LN_F, "Lungs clear."), obx(2, "TX", LN_I, "Normal chest."),
        obr("ST-A1", status="P", set_id="2"), obx(3, "TX", LN_I, "Possible RLL opacity, prelim read.", "P")), "ST-1",
       want("ST-A1", "final", "Lungs clear.", "Normal chest."),
       warn="OBR 2: preliminary OBR after a final OBR of the same report; its text (OBX 3)"),
    ok("final-then-preliminary-obr-section-only-in-draft", er7(
        msh("ST-2", "cerner"), PID, obr("ST-A2"), obx(1, "TX", LN_F, "Heart size normal."),
        obr("ST-A2", status="P", set_id="2"), obx(2, "TX", LN_I, "Cardiomegaly?", "P")), "ST-2",
       want("ST-A2", "final", "Heart size normal."), warn="is not merged into the signed report"),
    ok("corrected-then-preliminary-obr", er7(
        msh("ST-3", "meditech"), PID, obr("ST-A3", status="C"), obx(1, "TX", LN_F, "LEFT lower lobe nodule.", "C"),
        obr("ST-A3", status="P", set_id="2"), obx(2, "TX", LN_F, "Right lower lobe nodule.", "P")), "ST-3",
       want("ST-A3", "corrected", "LEFT lower lobe nodule."), warn="is not merged into the signed report"),
    ok("final-then-partial-obr", er7(
        msh("ST-4", "ps"), PID, obr("ST-A4"), obx(1, "TX", LN_F, "No effusion."),
        obr("ST-A4", status="A", set_id="2"), obx(2, "TX", LN_F, "Additional views pending.", "S")), "ST-4",
       want("ST-A4", "final", "No effusion."), warn="partial OBR after a final OBR"),
    ok("preliminary-then-final-obr-final-replaces", er7(
        msh("ST-5"), PID, obr("ST-A5", status="P"), obx(1, "TX", LN_F, "Possible small effusion.", "P"),
        obr("ST-A5", set_id="2"), obx(2, "TX", LN_F, "No effusion.")), "ST-5",
       want("ST-A5", "final", "No effusion.")),
    # OBR-25 is the report's status and wins over OBX-11 (test_hl7_unseen.py fixes it): no warning either.
    ok("obr25-f-every-obx-p-stays-final", er7(
        msh("ST-6", "mirth"), PID, obr("ST-A6"), obx(1, "TX", LN_F, "Subsegmental atelectasis.", "P"),
        obx(2, "TX", LN_I, "No pneumonia.", "P")), "ST-6",
       want("ST-A6", "final", "Subsegmental atelectasis.", "No pneumonia.")),
    ok("obr25-f-obx-f-and-p-mixed-stays-final", er7(
        msh("ST-10", "ps"), PID, obr("ST-A10"), obx(1, "TX", LN_F, "Small hiatal hernia."),
        obx(2, "TX", LN_I, "Hiatal hernia.", "P")), "ST-10",
       want("ST-A10", "final", "Small hiatal hernia.", "Hiatal hernia.")),
    # ---- 3. MSH-18 UTF-16/32 over 8-bit bytes (answered in the bytes' codec: see test_msh18_wide_*) ---------
    ok("msh18-utf16-on-utf8-bytes", er7(
        msh("CS-1", "meditech", charset="UNICODE UTF-16"), PID, obr("CS-A1"),
        obx(1, "TX", LN_F, "L\u00e4sion 4 mm, unver\u00e4ndert.")), "CS-1",
       want("CS-A1", "final", "L\u00e4sion 4 mm, unver\u00e4ndert."), warn="bytes are not UTF-16/32"),
    ok("msh18-utf16-on-cp1252-bytes", er7(
        msh("CS-2", "meditech", charset="UNICODE UTF-16"), PID, obr("CS-A2"),
        obx(1, "TX", LN_F, "Poumons clairs, pas d'\u00e9panchement."), charset="cp1252"), "CS-2",
       want("CS-A2", "final", "Poumons clairs, pas d'\u00e9panchement."), warn="bytes are not UTF-16/32"),
    ok("msh18-utf32-on-ascii-bytes", er7(
        msh("CS-3", "mirth", charset="UNICODE UTF-32"), PID, obr("CS-A3"), obx(1, "TX", LN_F, "Clear lungs.")), "CS-3",
       want("CS-A3", "final", "Clear lungs."), warn="bytes are not UTF-16/32"),
    # ---- 4. MSH-7 and OBR-4 missing ----------------------------------------------------------------------------
    # Before: AA, no warning. MSH-7 is required from v2.4 on, OBR-4 in every version.
    bad("msh7-missing-v251", er7(msh("MT-1", when=""), PID, obr("MT-A1"), obx(1, "TX", LN_F, "Clear.")),
        "MT-1", "101", "MSH^1^7"),
    bad("msh7-missing-v24", er7(msh("MT-2", "meditech", when="", version="2.4"), PID, obr("MT-A2"),
                                obx(1, "TX", LN_F, "Clear.")), "MT-2", "101", "MSH^1^7"),
    bad("msh7-missing-v282", er7(msh("MT-3", "cerner", when="", version="2.8.2"), PID, obr("MT-A3"),
                                 obx(1, "TX", LN_F, "Clear.")), "MT-3", "101", "MSH^1^7"),
    ok("msh7-missing-v23-optional", er7(msh("MT-4", "mirth", when="", version="2.3", kind="ORU^R01"), PID,
                                        obr("MT-A4"), obx(1, "TX", LN_F, "Clear.")), "MT-4",
       want("MT-A4", "final", "Clear."), warn="MSH-7 (date/time of message) empty; optional in v2.3"),
    ok("msh7-missing-v231-optional", er7(msh("MT-5", "mirth", when="", version="2.3.1"), PID,
                                         obr("MT-A5"), obx(1, "TX", LN_F, "Clear.")), "MT-5",
       want("MT-A5", "final", "Clear."), warn="optional in v2.3.1"),
    ok("msh7-not-a-date", er7(msh("MT-6", when="29/11/2026 22:15"), PID, obr("MT-A6"),
                              obx(1, "TX", LN_F, "Clear.")), "MT-6",
       want("MT-A6", "final", "Clear."), warn="MSH-7 is not a valid date/time"),
    bad("obr4-missing", er7(msh("MT-7"), PID, obr("MT-A7", ""), obx(1, "TX", LN_F, "Clear.")), "MT-7", "101",
        "OBR^1^4"),
    bad("obr4-only-delimiters", er7(msh("MT-8", "ps"), PID, obr("MT-A8", "^^"), obx(1, "TX", LN_F, "Clear.")),
        "MT-8", "101", "OBR^1^4"),
    bad("obr4-missing-second-obr", er7(
        msh("MT-9", "epic"), PID, obr("MT-A9"), obx(1, "TX", LN_F, "Clear."),
        obr("MT-B9", "", set_id="2"), obx(2, "TX", LN_F, "Normal knee.")), "MT-9", "101", "OBR^2^4"),
    bad("obr4-missing-v23", er7(msh("MT-10", "mirth", version="2.3", kind="ORU^R01"), PID, obr("MT-A10", ""),
                                obx(1, "TX", LN_F, "Clear.")), "MT-10", "101", "OBR^1^4"),
    # ---- 5. a raw CR inside report text ----------------------------------------------------------------------
    # Before: AE 100 with an empty ERR location.
    bad("raw-cr-in-obx5-tx", er7(msh("CR-1", "ps"), PID, obr("CR-A1"),
                                 obx(1, "TX", LN_F, "Lungs are clear.\rNo pleural effusion.")), "CR-1", "100", "OBX^1^5"),
    bad("raw-cr-mid-obx5-rest-of-fields-after", er7(
        msh("CR-2", "epic"), PID, obr("CR-A2"), obx(1, "TX", LN_F, "Normal heart size."),
        "OBX|2|TX|" + LN_I + "||Mild bibasilar\ratelectasis.||||||F"), "CR-2", "100", "OBX^2^5"),
    bad("raw-cr-before-numbered-line", er7(
        msh("CR-3", "meditech"), PID, obr("CR-A3"), obx(1, "TX", GDT, "IMPRESSION:\r1. No acute fracture.")),
        "CR-3", "100", "OBX^1^5"),
    bad("raw-cr-before-heading-word", er7(
        msh("CR-4", "cerner"), PID, obr("CR-A4"), obx(1, "TX", GDT, "FINDINGS: Normal.\rImpression: normal study.")),
        "CR-4", "100", "OBX^1^5"),
    bad("raw-cr-in-third-obx", er7(
        msh("CR-5", "mirth"), PID, obr("CR-A5"), obx(1, "TX", LN_F, "Liver normal."), obx(2, "TX", LN_F, "Spleen normal."),
        obx(3, "TX", LN_I, "No acute\rabdominal process.")), "CR-5", "100", "OBX^3^5"),
    bad("raw-cr-in-nte-comment", er7(
        msh("CR-6", "epic"), PID, obr("CR-A6"), "NTE|1|L|Called to Dr. Ames\rat 22:05.", obx(1, "TX", LN_F, "Clear.")),
        "CR-6", "100", "NTE^1^3"),
    bad("raw-cr-in-obr13-clinical-info", er7(
        msh("CR-7", "ps"), PID, obr("CR-A7", clinical="Cough\rfever x3 days"),
        obx(1, "TX", LN_F, "Clear.")), "CR-7", "100", "OBR^1^13"),
    bad("raw-cr-in-obx5-v24-eld", er7(
        msh("CR-8", "meditech", version="2.4"), PID, obr("CR-A8"),
        obx(1, "TX", LN_F, "Mild degenerative change.\r\rNo fracture.")), "CR-8", "100", "OBX^1^5"),
]


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_round8b_ack_and_extraction(case: Case) -> None:
    ack_text, parsed = ack_for(case.raw)
    msa = next(s for s in ack_text.lstrip("\ufeff").split("\r") if s.startswith("MSA")).split("|")
    assert (msa[1], msa[2]) == (case.msa1, case.msa2), (case.name, parsed)
    assert err_in_own_delimiters(ack_text.lstrip("\ufeff")) == case.err, case.name
    if case.err is not None:
        assert isinstance(parsed, Hl7Error) and (parsed.err_code, parsed.location) == case.err, case.name
        for phi in ("SYNTHETIC", "JULIET", "Lungs", "atelectasis", "Cough", "Ames"):
            assert phi not in parsed.text, case.name  # the error names positions, never the text
        return
    assert not isinstance(parsed, Hl7Error), (case.name, parsed)
    got = [Want(r.accession, r.status, r.findings, r.impression, r.addendum, r.patient_id) for r in parsed.reports]
    assert got == list(case.reports), case.name
    if case.procedure is not None:
        assert parsed.reports[0].procedure == case.procedure, case.name
    ours = [w for w in parsed.warnings if any(k in w for k in OUR_WARNINGS)]
    if case.warn is None:
        assert ours == [], (case.name, ours)
    else:
        assert any(case.warn in w for w in ours), (case.name, parsed.warnings)
    for w in parsed.warnings:  # warnings hold ids and positions, never report text
        assert not any(t in w for t in ("Possible", "Cardiomegaly", "CHEST", "Mass", "cyst", "L\u00e4sion")), (case.name, w)


def test_raw_cr_error_text_names_the_line_position() -> None:
    case = next(c for c in CASES if c.name == "raw-cr-in-third-obx")
    _ack, err = ack_for(case.raw)
    assert isinstance(err, Hl7Error)
    # MSH, PID, OBR, OBX 1, OBX 2, OBX 3, then the stray line: segment 7 of the message.
    assert "segment 7 of the message" in err.text and "OBX-5" in err.text
    ack = ack_for(case.raw)[0]
    err_seg = next(s for s in ack.split("\r") if s.startswith("ERR")).split("|")
    assert err_seg[2] == "OBX^3^5" and "segment 7" in err_seg[7]


def test_a_bad_segment_shaped_line_keeps_no_location() -> None:
    """A whole segment with a bad id ('obx|...') is not a cut line: its id is not a location, as before."""
    raw = er7(msh("CR-9"), PID, obr("CR-A9"), "obx|1|TX|" + LN_F + "||Clear.||||||F")
    _ack, err = ack_for(raw)
    assert isinstance(err, Hl7Error) and (err.err_code, err.location) == ("100", "")


def test_msh7_missing_ack_shapes_per_version() -> None:
    # v2.4: ERR-1 ELD; v2.8.2: ERR-2/3/4 and no MSA-3 (withdrawn in v2.7).
    v24 = ack_for(next(c for c in CASES if c.name == "msh7-missing-v24").raw)[0]
    assert "ERR|MSH^1^7^101&Required field missing&HL70357" in v24
    v282 = ack_for(next(c for c in CASES if c.name == "msh7-missing-v282").raw)[0]
    msa = next(s for s in v282.split("\r") if s.startswith("MSA")).split("|")
    assert msa == ["MSA", "AE", "MT-3"]
    assert "ERR||MSH^1^7|101^Required field missing^HL70357|E" in v282


@pytest.mark.parametrize(("name", "codec"), [("msh18-utf16-on-utf8-bytes", "utf-8"),
                                             ("msh18-utf16-on-cp1252-bytes", "cp1252"),
                                             ("msh18-utf32-on-ascii-bytes", "utf-8")])
def test_msh18_wide_on_8bit_bytes_is_answered_in_the_bytes_codec(name: str, codec: str) -> None:
    # Before: header.codec was utf-16 / utf-32: the ACK went back in UTF-16 to a sender writing 8-bit bytes.
    case = next(c for c in CASES if c.name == name)
    header = peek_header(case.raw)
    assert header is not None and header.codec == codec
    ack = ack_for(case.raw)[0]
    assert not ack.startswith("\ufeff")
    data = ack.encode(header.codec)
    assert data.startswith(b"MSH|^~\\&|RADLITE|RIVERSIDE_CDS|") and f"MSA|AA|{case.msa2}".encode() in data


def test_real_utf16_with_msh18_utf16_is_still_answered_in_utf16() -> None:
    text = (msh("CS-4", charset="UNICODE UTF-16") + "\r" + PID + "\r" + obr("CS-A4") + "\r"
            + obx(1, "TX", LN_F, "\u041b\u0451\u0433\u043a\u0438\u0435 \u0431\u0435\u0437 \u043e\u0447\u0430\u0433\u043e\u0432.") + "\r")
    raw = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    header = peek_header(raw)
    assert header is not None and header.codec == "utf-16-le"
    (report,) = parse_oru(raw).reports
    assert report.findings == "\u041b\u0451\u0433\u043a\u0438\u0435 \u0431\u0435\u0437 \u043e\u0447\u0430\u0433\u043e\u0432."
    assert "MSA|AA|CS-4" in ack_for(raw)[0].encode(header.codec).decode("utf-16")


def test_batch_of_8bit_messages_labelled_utf16_is_answered_in_8bit() -> None:
    # Before: the ACK batch went back in UTF-16.
    m1 = next(c for c in CASES if c.name == "msh18-utf16-on-utf8-bytes").raw
    m2 = next(c for c in CASES if c.name == "msh18-utf32-on-ascii-bytes").raw
    raw = (b"BHS|^~\\&|MT_RAD|MEDITECH_EXP|RADLITE|RIVERSIDE_CDS|20261129||||B-8B|||||UNICODE UTF-16\r" + m1 + m2
           + b"BTS|2\r")
    batch = split_batch(raw)
    assert batch.codec == "utf-8" and len(batch.messages) == 2
    reply = build_batch_ack(batch, [ack_for(m)[0] for m in batch.messages]).encode(batch.codec)
    assert reply.startswith(b"BHS|") and msas(reply) == [("AA", "CS-1"), ("AA", "CS-3")]


# ---- the doors: HTTP and one MLLP connection (SQLite) ------------------------------------------------------


def _codec(case: Case) -> str:
    header = peek_header(case.raw)
    return header.codec if header else "utf-8"


def test_every_case_over_http_is_kept_and_answered(app_sqlite: Any) -> None:
    app, client = app_sqlite
    for case in CASES:
        response = client.post("/hl7/v2", content=case.raw, headers={"Content-Type": "application/hl7-v2"})
        assert msas(response.content, _codec(case)) == [(case.msa1, case.msa2)], case.name
        assert response.status_code == (200 if case.msa1 == "AA" else 400), case.name
        if case.name.startswith("msh18-"):
            # the ACK's bytes are 8-bit, and the header names the codec they are in
            assert response.content.startswith(b"MSH|") and "utf-16" not in response.headers["content-type"]
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == [c.raw for c in CASES]
    assert [r.error_code for r in rows] == [c.err[0] if c.err else None for c in CASES]


def test_every_case_over_one_mllp_connection(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=120) as sock:
        for case in CASES:
            sock.sendall(b"\x0b" + case.raw + b"\x1c\r")
            ack = read_frame(sock)
            assert ack.startswith(b"MSH|"), case.name  # never UTF-16 to an 8-bit sender
            assert f"MSA|{case.msa1}|{case.msa2}".encode(_codec(case)) in ack, case.name
    assert [r.raw for r in inbound_rows(app)] == [c.raw for c in CASES]
