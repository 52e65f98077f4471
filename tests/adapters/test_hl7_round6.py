"""HL7 v2 round 6: ORU^R01 from interface engines not seen before, through the adapter and both doors.

Part 1 (adapter): hand-written messages (synthetic patients) in v2.3 to v2.8.2 (v2.9: AR 203);
MSH-1/MSH-2 with other delimiters (a truncation character, another field separator, another
escape character); OBX-5 repetitions, report text over many TX/FT/ST lines with empty lines and FT escapes, coded CE/CWE
values; several OBR groups (separate accessions, one accession over several OBR, an addendum OBR
whose OBR-29/OBR-26 names its parent); OBR-25 and OBX-11 mixed; ORC or none; PV1/PV2/NTE/Z-segments
anywhere; NTE after an OBX; trailing delimiters; CR/LF/CRLF mixed; MSH-9 variants (R30-R32 and OUL
are not this receiver's); MSH-15/16; PID-3 missing; long messages; MSH-18 and undeclared bytes.
Each case states the ACK an interface analyst expects and, when accepted, what the report says.

Fixed in this round ("Before: ..." on each case or test):
- MSH-9 without a trigger event was AR 201 instead of AE 101 at MSH-9.2;
- two OBR groups with one accession (findings under one, impression under the other, or an
  addendum OBR naming its parent in OBR-29) gave two reports for one key, and storage kept only
  the last: the findings were lost;
- a PID whose PID-3 (and PID-2/PID-4) held no identifier was accepted with no patient at all;
- a message continued elsewhere (DSC-1 or MSH-14 valued) was read as a complete report;
- NTE comments after a valued OBX and coded OBX that name no section (or a coded impression
  beside a text one) were left out silently (now a warning each; the report text is unchanged);
- ORC-1 OC with OBR-25 empty (a cancelled order) and OBR-25 I with no OBX (a status notice) were
  AE 101 (now a cancelled report, and AA with no report);
- FT lines each ending in \\.br\\ came out with a blank line between every two lines;
- MSH-18 8859/1 over UTF-8 bytes gave 'Ã©' for 'é'.

Part 2 (doors: real MLLP over TCP and HTTP, SQLite).
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from hl7_rounds import (
    LN_F,
    LN_I,
    LN_R,
    Case,
    Want,
    ack_for,
    codec_of,
    er7,
    err_in_own_delimiters,
    err_of,
    inbound_rows,
    msas,
    msh_segment,
    obx,
    read_frame,
)

from adapters.hl7 import Hl7Error, build_ack, build_batch_ack, parse_oru, peek_header, split_batch

# ---- message builders ---------------------------------------------------------------------------


def msh(
    cid: str,
    *,
    version: str = "2.5.1",
    kind: str = "ORU^R01^ORU_R01",
    processing: str = "P",
    accept: str = "",
    app: str = "",
    charset: str = "",
    continuation: str = "",
    enc: str = "^~\\&",
    sep: str = "|",
) -> str:
    """An MSH from an engine 'NOVAENG' at 'RIVERSIDE'; trailing empty fields dropped."""
    return msh_segment(cid, "NOVAENG", "RIVERSIDE", "RADLITE", "RIVERSIDE_CDS", "20260301101500", version=version,
                       kind=kind, processing=processing, continuation=continuation, accept=accept, app=app,
                       charset=charset, enc=enc, sep=sep)


def obr(accession: str, service: str = "71046^XR CHEST 2 VIEWS^CPT4", *, status: str = "F", section: str = "RAD",
        set_id: str = "1", placer: str = "", parent_result: str = "", parent: str = "") -> str:
    """OBR-1/2/3/4/7/22/24/25 and the parent links OBR-26/OBR-29 set, the rest empty."""
    fields = ["OBR", set_id, placer, accession, service] + [""] * 25
    fields[7], fields[22], fields[24], fields[25] = "20260301093000", "20260301101000", section, status
    fields[26], fields[29] = parent_result, parent
    while fields and not fields[-1]:
        fields.pop()
    return "|".join(fields)


LN_A = "55107-7^Addendum^LN"
PID = "PID|1||RV40112^^^RIVERSIDE&2.16.840.1.113883.3.777&ISO^MR||SYNTHETIC^OMEGA||19610204|F"
PV1 = "PV1|1|O|CT1^^^RIVERSIDE||||7001^ORDERER^SYN^^^^MD|||||||||||V77120^^^RIVERSIDE^VN"


def want(accession: str | None, status: str, *sections: str | None, **fields: str | None) -> Want:
    """A report of this file's patient (RV40112) unless the case names another."""
    return Want(accession, status, *sections, **{"patient_id": "RV40112", **fields})


def good(cid: str, accession: str, *, text: str = "Lungs clear.", **kw: Any) -> bytes:
    """A plain valid message (one OBR, one findings OBX) with MSH options `kw`."""
    return er7(msh(cid, **kw), PID, obr(accession), obx(1, "TX", LN_F, text))


_MANY = [f"Line {i}: no acute abnormality at this level." for i in range(1, 1501)]
_BIG = "Segmental airways patent; no endobronchial lesion. " * 4000  # one OBX-5 of about 200 kB

CASES: list[Case] = [
    # ---- versions ----
    Case(  # v2.3 engine: MSH-9 without structure, PV1 and ORC, TX lines with sub-ids
        "v23-pv1-orc-tx-lines",
        er7(msh("NV-2300", version="2.3", kind="ORU^R01"), PID, PV1, "ORC|RE|PL-2300|RV-2300",
            obr("RV-2300", placer="PL-2300"), obx(1, "TX", "&GDT^Findings^L", "Heart size normal.", sub="1"),
            obx(2, "TX", "&GDT^Findings^L", "No pleural effusion.", sub="1"),
            obx(3, "TX", "&IMP^Impression^L", "No acute disease.", sub="2")),
        "AA", "NV-2300", None,
        (want("RV-2300", "final", "Heart size normal.\nNo pleural effusion.", "No acute disease."),),
    ),
    Case(  # v2.3.1 ERR-1 (ELD) for a missing OBX-3
        "v231-missing-obx3-eld",
        er7(msh("NV-2310", version="2.3.1"), PID, obr("RV-2310"), obx(1, "TX", "", "Clear.")),
        "AE", "NV-2310", ("101", "OBX^1^3"),
    ),
    Case(
        "v24-ce-impression-code-and-text",
        er7(msh("NV-2400", version="2.4", charset="8859/1"), PID,
            obr("RV-2400", "77067^MAMMO SCREENING BILAT^CPT4", section="MG"),
            obx(1, "TX", "77067&GDT^Report^L", "Scattered fibroglandular densities. No suspicious mass."),
            obx(2, "CE", "77067&IMP^Impression^L", "397140005^Mammography assessment (Category 1) - Negative^SCT")),
        "AA", "NV-2400", None,
        (want("RV-2400", "final", "Scattered fibroglandular densities. No suspicious mass.",
              "Mammography assessment (Category 1) - Negative"),),
    ),
    Case(  # v2.7 with the truncation character: a literal '#' in the text stays text, \P\ is '#'
        "v27-truncation-char-in-text",
        er7(msh("NV-2700", version="2.7", enc="^~\\&#"), PID, obr("RV-2700", "71250^CT CHEST WO^CPT4", section="CT"),
            obx(1, "TX", LN_F, "Nodule #1 stable; nodule \\P\\2 resolved."), obx(2, "TX", LN_I, "Stable.")),
        "AA", "NV-2700", None, (want("RV-2700", "final", "Nodule #1 stable; nodule #2 resolved.", "Stable."),),
    ),
    Case(
        "v28-cwe-impression-repeats",
        er7(msh("NV-2800", version="2.8"), PID, obr("RV-2800", "71250^CT CHEST WO^CPT4", section="CT"),
            obx(1, "TX", LN_F, "Two pulmonary nodules."),
            obx(2, "CWE", LN_I, "C1^Solid nodule 6 mm^L~C2^Ground glass nodule 4 mm^L")),
        "AA", "NV-2800", None,
        (want("RV-2800", "final", "Two pulmonary nodules.", "Solid nodule 6 mm\nGround glass nodule 4 mm"),),
    ),
    Case(  # v2.9 is past the versions this receiver declares (2.3 to 2.8.2): AR 203, as round 4 decided
        "v29-unsupported",
        er7(msh("NV-2900", version="2.9", enc="^~\\&#"), PID, obr("RV-2900"), obx(1, "TX", LN_F, "Lungs clear.")),
        "AR", "NV-2900", ("203", "MSH^1^12"),
    ),
    Case(
        "v282-accepted",
        er7(msh("NV-2820", version="2.8.2", enc="^~\\&#"), PID, obr("RV-2820"), obx(1, "TX", LN_F, "Lungs clear.")),
        "AA", "NV-2820", None, (want("RV-2820", "final", "Lungs clear."),),
    ),
    Case("v22-unsupported", good("NV-2200", "RV-2200", version="2.2"), "AR", "NV-2200", ("203", "MSH^1^12")),
    Case("v3-not-v2", good("NV-3000", "RV-3000", version="3.0"), "AR", "NV-3000", ("203", "MSH^1^12")),
    # ---- MSH-1 / MSH-2 ----
    Case(  # another field separator: a '|' in the text is text
        "field-separator-bang",
        er7(msh("NV-SEP1", sep="!"), PID.replace("|", "!"), obr("RV-SEP1").replace("|", "!"),
            obx(1, "TX", LN_F, "Left|right symmetric.").replace("|", "!").replace("Left!right", "Left|right")),
        "AA", "NV-SEP1", None, (want("RV-SEP1", "final", "Left|right symmetric."),),
    ),
    Case(  # other component, repetition and subcomponent characters
        "components-star-repetition-percent",
        er7(msh("NV-SEP2", enc="*%\\$", kind="ORU*R01*ORU_R01"), PID.replace("^", "*").replace("&", "$"),
            obr("RV-SEP2", "71046*XR CHEST 2 VIEWS*CPT4"),
            obx(1, "TX", "18782-3*Findings*LN", "A^B~C&D kept.%Second line.")),
        "AA", "NV-SEP2", None, (want("RV-SEP2", "final", "A^B~C&D kept.\nSecond line."),),
    ),
    Case(  # another escape character: !.br! and !T! are the escapes, a backslash is text
        "escape-char-bang",
        er7(msh("NV-SEP3", enc="^~!&"), PID, obr("RV-SEP3"),
            obx(1, "FT", LN_R, "FINDINGS: C:\\path kept !T! clear.!.br!IMPRESSION: Normal.")),
        "AA", "NV-SEP3", None, (want("RV-SEP3", "final", "C:\\path kept & clear.", "Normal."),),
    ),
    Case("msh2-three-chars", good("NV-SEP4", "RV-SEP4", enc="^~\\"), "AE", "", ("102", "MSH^1^2")),
    Case("msh2-repeated-char", good("NV-SEP5", "RV-SEP5", enc="^^\\&"), "AE", "", ("102", "MSH^1^2")),
    # ---- MSH-9 ----
    Case("msh9-two-components", good("NV-T1", "RV-T1", kind="ORU^R01"), "AA", "NV-T1", None,
         (want("RV-T1", "final", "Lungs clear."),)),
    Case("oru-r30-point-of-care", good("NV-T2", "RV-T2", kind="ORU^R30^ORU_R30"), "AR", "NV-T2", ("201", "MSH^1^9^1^2")),
    Case("oru-r31", good("NV-T3", "RV-T3", kind="ORU^R31^ORU_R30"), "AR", "NV-T3", ("201", "MSH^1^9^1^2")),
    Case("oru-r32", good("NV-T4", "RV-T4", kind="ORU^R32^ORU_R30"), "AR", "NV-T4", ("201", "MSH^1^9^1^2")),
    Case("oul-r22-lab", good("NV-T5", "RV-T5", kind="OUL^R22^OUL_R22"), "AR", "NV-T5", ("200", "MSH^1^9")),
    Case("oru-w01-waveform", good("NV-T6", "RV-T6", kind="ORU^W01^ORU_W01"), "AR", "NV-T6", ("201", "MSH^1^9^1^2")),
    Case(  # Before: AR 201. The trigger event (MSG-2) is a required component
        "msh9-no-trigger", good("NV-T7", "RV-T7", kind="ORU"), "AE", "NV-T7", ("101", "MSH^1^9^1^2")),
    Case("msh10-missing", good("", "RV-T8"), "AE", "", ("101", "MSH^1^10")),
    Case("msh11-training", good("NV-T9", "RV-T9", processing="T"), "AA", "NV-T9", None,
         (want("RV-T9", "final", "Lungs clear."),)),
    Case("msh11-unknown", good("NV-T10", "RV-T10", processing="Q"), "AR", "NV-T10", ("202", "MSH^1^11")),
    # ---- MSH-15/16 ----
    Case("enhanced-al-ne", good("NV-E1", "RV-E1", accept="AL", app="NE"), "CA", "NV-E1", None,
         (want("RV-E1", "final", "Lungs clear."),)),
    Case("enhanced-su-al-error", er7(msh("NV-E2", accept="SU", app="AL"), PID, obr("RV-E2", status="Q"),
                                     obx(1, "TX", LN_F, "Clear.")),
         "CE", "NV-E2", ("103", "OBR^1^25")),
    Case("enhanced-bad-table-0155", good("NV-E3", "RV-E3", accept="YES"), "CE", "NV-E3", ("103", "MSH^1^15")),
    # ---- OBX-5 text ----
    Case(  # one line per OBX with empty OBX lines between paragraphs and headings in the lines
        "tx-lines-empty-lines-headings",
        er7(msh("NV-X1"), PID, obr("RV-X1", "74177^CT ABD PELVIS W^CPT4", section="CT"),
            obx(1, "TX", LN_R, "FINDINGS:"), obx(2, "TX", LN_R, "Liver: normal."), obx(3, "TX", LN_R, ""),
            obx(4, "TX", LN_R, "Kidneys: 4 mm nonobstructing left stone."), obx(5, "TX", LN_R, ""),
            obx(6, "TX", LN_R, "IMPRESSION:"), obx(7, "TX", LN_R, "Nonobstructing left nephrolithiasis."),
            obx(8, "TX", LN_R, "")),
        "AA", "NV-X1", None,
        (want("RV-X1", "final", "Liver: normal.\n\nKidneys: 4 mm nonobstructing left stone.",
              "Nonobstructing left nephrolithiasis."),),
    ),
    Case(  # OBX-5 repetitions with empty repetitions (blank lines)
        "tx-repetitions-blank",
        er7(msh("NV-X2"), PID, obr("RV-X2"), obx(1, "TX", LN_F, "Line one.~~Line three.~"),
            obx(2, "TX", LN_I, "Normal.")),
        "AA", "NV-X2", None, (want("RV-X2", "final", "Line one.\n\nLine three.", "Normal."),),
    ),
    Case(  # FT: \.sp 2\ (two blank lines), \.in 2\ indent, \H\...\N\ highlight, \.ce\ centred line
        "ft-formatting-commands",
        er7(msh("NV-X3"), PID, obr("RV-X3", "70553^MRI BRAIN W WO^CPT4", section="MR"),
            obx(1, "FT", LN_F, "\\H\\No\\N\\ acute infarct.\\.sp 2\\\\.in 2\\Ventricles normal."),
            obx(2, "FT", LN_I, "\\.ce\\Normal MRI brain.")),
        "AA", "NV-X3", None,
        (want("RV-X3", "final", "No acute infarct.\n\n  Ventricles normal.", "Normal MRI brain."),),
    ),
    Case(  # FT: hex CR LF, delimiter escapes, \.fi\ and \.nf\ (no text), \Zlocal\ (dropped)
        "ft-hex-and-delimiters",
        er7(msh("NV-X4"), PID, obr("RV-X4"),
            obx(1, "FT", LN_F, "\\.nf\\Size 2\\S\\3 cm \\T\\ stable\\X0D0A\\No \\F\\ change.\\Zabc\\\\.fi\\")),
        "AA", "NV-X4", None, (want("RV-X4", "final", "Size 2^3 cm & stable\r\nNo | change."),),
    ),
    Case(  # Before: a blank line between FT lines that each end in \.br\ (one break per line, not two)
        "ft-lines-each-ending-in-br",
        er7(msh("NV-X10"), PID, obr("RV-X10"), obx(1, "FT", LN_R, "FINDINGS:\\.br\\"),
            obx(2, "FT", LN_R, "Lungs clear.\\.br\\"), obx(3, "FT", LN_R, "No effusion.\\.br\\\\.br\\"),
            obx(4, "FT", LN_R, "Heart normal.\\.br\\~IMPRESSION: Normal.\\.br\\")),
        "AA", "NV-X10", None, (want("RV-X10", "final", "Lungs clear.\nNo effusion.\n\nHeart normal.", "Normal."),),
    ),
    Case(  # Before: 'Ã©' for 'é'. MSH-18 8859/1 over bytes that are UTF-8: read as UTF-8, with a warning
        "latin1-declared-utf8-bytes",
        er7(msh("NV-C6", charset="8859/1"), PID, obr("RV-C6"), obx(1, "TX", LN_F, "\u00c9panchement pleural; c\u00f4te 5.")),
        "AA", "NV-C6", None, (want("RV-C6", "final", "\u00c9panchement pleural; c\u00f4te 5."),),
    ),
    Case(  # ST lines, section by OBX-3 text only (local codes)
        "st-local-codes-by-name",
        er7(msh("NV-X5"), PID, obr("RV-X5"), obx(1, "ST", "RPT1^Findings^99LOC", "Lungs clear.", sub="1"),
            obx(2, "ST", "RPT2^Conclusion^99LOC", "Normal chest.", sub="2")),
        "AA", "NV-X5", None, (want("RV-X5", "final", "Lungs clear.", "Normal chest."),),
    ),
    Case(  # CWE with original text only (CWE-9) and CE text-only ("^text")
        "cwe-original-text-only",
        er7(msh("NV-X6", version="2.7"), PID, obr("RV-X6"), obx(1, "TX", LN_F, "Clear."),
            obx(2, "CWE", LN_I, "^^^^^^^^No acute cardiopulmonary process")),
        "AA", "NV-X6", None, (want("RV-X6", "final", "Clear.", "No acute cardiopulmonary process"),),
    ),
    Case(  # a coded RADS OBX naming no section next to the text: not report text (a warning says so)
        "coded-rads-obx-beside-text",
        er7(msh("NV-X7"), PID, obr("RV-X7", "71271^CT CHEST LDCT^CPT4", section="CT"),
            obx(1, "TX", LN_F, "6 mm solid nodule."), obx(2, "TX", LN_I, "Lung-RADS 3."),
            obx(3, "CWE", "RID50134^Lung-RADS assessment^RADLEX", "3^Lung-RADS 3^L")),
        "AA", "NV-X7", None, (want("RV-X7", "final", "6 mm solid nodule.", "Lung-RADS 3."),),
    ),
    Case(  # 1500 OBX lines
        "fifteen-hundred-lines",
        er7(msh("NV-X8"), PID, obr("RV-X8"), *(obx(i, "TX", LN_F, line) for i, line in enumerate(_MANY, 1)),
            obx(1501, "TX", LN_I, "No acute abnormality.")),
        "AA", "NV-X8", None, (want("RV-X8", "final", "\n".join(_MANY), "No acute abnormality."),),
    ),
    Case("one-200kb-obx", er7(msh("NV-X9"), PID, obr("RV-X9"), obx(1, "TX", LN_F, _BIG)),
         "AA", "NV-X9", None, (want("RV-X9", "final", _BIG),)),  # TX keeps its blanks
    # ---- OBR groups ----
    Case(  # two exams, no ORC
        "two-obr-no-orc",
        er7(msh("NV-G1"), PID, obr("RV-G1A"), obx(1, "TX", LN_F, "Lungs clear."),
            obr("RV-G1B", "73562^XR KNEE 3 VIEWS^CPT4", set_id="2"), obx(1, "TX", LN_F, "Mild medial joint narrowing.")),
        "AA", "NV-G1", None,
        (want("RV-G1A", "final", "Lungs clear."), want("RV-G1B", "final", "Mild medial joint narrowing.")),
    ),
    Case(  # Before: two reports for one accession; storage kept the impression-only one
        "one-accession-two-obr",
        er7(msh("NV-G2"), PID, "ORC|RE||RV-G2", obr("RV-G2"), obx(1, "TX", LN_F, "Small right effusion."),
            "ORC|RE||RV-G2", obr("RV-G2", set_id="2"), obx(1, "TX", LN_I, "Small effusion.")),
        "AA", "NV-G2", None, (want("RV-G2", "final", "Small right effusion.", "Small effusion."),),
    ),
    Case(  # Before: the addendum OBR (no accession of its own, OBR-29 names the parent) was a report
        # keyed on MSH-10; now its text is the parent report's addendum
        "addendum-obr-29-parent",
        er7(msh("NV-G3"), PID, obr("RV-G3", "71250^CT CHEST WO^CPT4", section="CT"),
            obx(1, "TX", LN_F, "8 mm RUL nodule."), obx(2, "TX", LN_I, "Indeterminate nodule."),
            obr("", "71250^CT CHEST WO ADDENDUM^CPT4", section="CT", set_id="2", parent="^RV-G3"),
            obx(1, "TX", "71250&ADT^Addendum^L", "Prior CT 2024 reviewed: stable, benign.")),
        "AA", "NV-G3", None,
        (want("RV-G3", "final", "8 mm RUL nodule.", "Indeterminate nodule.", "Prior CT 2024 reviewed: stable, benign."),),
    ),
    Case(  # the first OBR retracts (every OBX W), the second resends the accession: the new text stands
        "one-accession-retract-then-resend",
        er7(msh("NV-G7"), PID, obr("RV-G7"), obx(1, "TX", LN_F, "Left effusion.", "W"),
            obr("RV-G7", set_id="2", status="C"), obx(1, "TX", LN_F, "Right effusion.", "C")),
        "AA", "NV-G7", None, (want("RV-G7", "corrected", "Right effusion."),),
    ),
    Case(  # OBR-26 names the parent's impression OBX; the child's unlabelled text is the addendum
        "addendum-obr-26-parent-result",
        er7(msh("NV-G4"), PID, obr("RV-G4"), obx(1, "TX", LN_F, "Lungs clear."), obx(2, "TX", LN_I, "Normal."),
            obr("RV-G4", set_id="2", parent_result="19005-8&Impression&LN", status="C"),
            obx(1, "TX", "ADD^Note^L", "Called to Dr. Lee 10:40.", status="C")),
        "AA", "NV-G4", None, (want("RV-G4", "corrected", "Lungs clear.", "Normal.", "Called to Dr. Lee 10:40."),),
    ),
    Case(  # OBR-25 P with OBX-11 F and P mixed: OBR-25 is the report's status
        "obr25-p-obx-mixed",
        er7(msh("NV-S1"), PID, obr("RV-S1", status="P"), obx(1, "TX", LN_F, "Possible infiltrate.", "F"),
            obx(2, "TX", LN_I, "Pending comparison.", "P")),
        "AA", "NV-S1", None, (want("RV-S1", "preliminary", "Possible infiltrate.", "Pending comparison."),),
    ),
    Case(  # OBR-25 empty: OBX-11 C among F makes it corrected
        "obr25-empty-obx-c",
        er7(msh("NV-S2"), PID, obr("RV-S2", status=""), obx(1, "TX", LN_F, "Lungs clear.", "F"),
            obx(2, "TX", LN_I, "Normal, corrected laterality.", "C")),
        "AA", "NV-S2", None, (want("RV-S2", "corrected", "Lungs clear.", "Normal, corrected laterality."),),
    ),
    Case("obr25-x-no-obx", er7(msh("NV-S3"), PID, "ORC|CA||RV-S3", obr("RV-S3", status="X")),
         "AA", "NV-S3", None, (want("RV-S3", "cancelled"),)),
    Case(  # Before: AE 101. ORC-1 OC (order cancelled, table 0119) with OBR-25 empty and no OBX
        "orc-oc-cancelled-obr25-empty",
        er7(msh("NV-S10"), PID, "ORC|OC||RV-S10", obr("RV-S10", status="")),
        "AA", "NV-S10", None, (want("RV-S10", "cancelled"),),
    ),
    Case(  # Before: AE 101. OBR-25 I (in progress, no results yet) and no OBX: a status notice, no report
        "obr25-i-status-notice",
        er7(msh("NV-S11"), PID, "ORC|SC||RV-S11", obr("RV-S11", status="I")),
        "AA", "NV-S11", None, (),
    ),
    Case(  # OBR-25 F and no OBX at all: a final result with no result is still an error
        "obr25-f-no-obx", er7(msh("NV-S12"), PID, obr("RV-S12")), "AE", "NV-S12", ("101", "OBR^1"),
    ),
    Case(  # two PATIENT_RESULT groups: each report gets its own patient
        "two-patients",
        er7(msh("NV-S13"), PID, obr("RV-S13A"), obx(1, "TX", LN_F, "Lungs clear."),
            "PID|2||RV50001^^^RIVERSIDE^MR||SYNTHETIC^SIGMA", obr("RV-S13B", set_id="2"),
            obx(1, "TX", LN_F, "Small effusion.")),
        "AA", "NV-S13", None,
        (want("RV-S13A", "final", "Lungs clear."), want("RV-S13B", "final", "Small effusion.", patient_id="RV50001")),
    ),
    Case(  # a linked exam: the child OBR (OBR-29 parent) has its own accession, so it is its own report
        "linked-exam-own-accession",
        er7(msh("NV-S14"), PID, obr("RV-S14A", "71260^CT CHEST W^CPT4", section="CT"), obx(1, "TX", LN_F, "Clear chest."),
            obr("RV-S14B", "74177^CT ABD PELVIS W^CPT4", section="CT", set_id="2", parent="^RV-S14A"),
            obx(1, "TX", LN_F, "Normal abdomen.")),
        "AA", "NV-S14", None,
        (want("RV-S14A", "final", "Clear chest."), want("RV-S14B", "final", "Normal abdomen.")),
    ),
    Case("obr25-c", er7(msh("NV-S4"), PID, obr("RV-S4", status="C"), obx(1, "TX", LN_F, "No fracture.", "C")),
         "AA", "NV-S4", None, (want("RV-S4", "corrected", "No fracture."),)),
    Case("obr25-bad", er7(msh("NV-S5"), PID, obr("RV-S5", status="FINAL"), obx(1, "TX", LN_F, "Clear.")),
         "AE", "NV-S5", ("103", "OBR^1^25")),
    Case("obx11-bad-second-group",
         er7(msh("NV-S6"), PID, obr("RV-S6A"), obx(1, "TX", LN_F, "Clear."), obr("RV-S6B", set_id="2"),
             obx(1, "TX", LN_F, "Clear.", "Z")),
         "AE", "NV-S6", ("103", "OBX^2^11")),
    Case("obx2-missing", er7(msh("NV-S7"), PID, obr("RV-S7"), obx(1, "", LN_F, "Clear.")),
         "AE", "NV-S7", ("101", "OBX^1^2")),
    Case("obx2-unknown", er7(msh("NV-S8"), PID, obr("RV-S8"), obx(1, "TXT", LN_F, "Clear.")),
         "AE", "NV-S8", ("103", "OBX^1^2")),
    Case("obx-before-obr", er7(msh("NV-S9"), PID, obx(1, "TX", LN_F, "Clear."), obr("RV-S9")),
         "AE", "NV-S9", ("100", "OBX^1")),
    # ---- segments around the groups ----
    Case(  # PV1, PV2, patient NTE, SFT, TQ1, CTI, order NTE and Z-segments in every gap
        "pv1-pv2-nte-z-anywhere",
        er7(msh("NV-Z1"), "SFT|NovaEngine^L|7.1", "ZMS|1", PID, "NTE|1|P|Patient prefers Spanish.", "ZPD|VIP",
            PV1, "PV2|||^Cough", "ZV1|x", "ORC|RE||RV-Z1", "ZOR|1", obr("RV-Z1"), "NTE|1|L|Order note.",
            "TQ1|1||||||20260301", "ZDS|1.2.840.113619.2.55.3^RIS^Application^DICOM", obx(1, "TX", LN_F, "Clear."),
            "ZX1|a", obx(2, "TX", LN_I, "Normal."), "CTI|STUDY1", "ZZZ|end"),
        "AA", "NV-Z1", None, (want("RV-Z1", "final", "Clear.", "Normal."),),
    ),
    Case(  # NTE after a valued OBX is a note on that observation (v2 ch.7 OBSERVATION group)
        "nte-after-obx-is-observation-note",
        er7(msh("NV-N1"), PID, obr("RV-N1"), obx(1, "TX", LN_F, "Lungs clear."), "NTE|1|L|Dictated by Dr. Lee.",
            "NTE|2|L|Signed 10:05.", obx(2, "TX", LN_I, "Normal.")),
        "AA", "NV-N1", None, (want("RV-N1", "final", "Lungs clear.", "Normal."),),
    ),
    Case(  # the report only in NTE after empty OBX: not read as report text, and the sender is told
        "report-only-in-obx-notes",
        er7(msh("NV-N2"), PID, obr("RV-N2"), obx(1, "TX", LN_R, ""), "NTE|1|L|FINDINGS: Lungs clear.",
            "NTE|2|L|IMPRESSION: Normal."),
        "AE", "NV-N2", ("101", "OBR^1"),
    ),
    Case(  # the whole report as NTE after an OBR with no OBX at all (the order's notes are the report)
        "report-in-order-nte-no-obx",
        er7(msh("NV-N3", version="2.3.1"), PID, obr("RV-N3"), "NTE|1|L|FINDINGS: No fracture.",
            "NTE|2|L|", "NTE|3|L|IMPRESSION: Normal wrist."),
        "AA", "NV-N3", None, (want("RV-N3", "final", "No fracture.", "Normal wrist."),),
    ),
    # ---- delimiters and line ends ----
    Case(  # trailing field, component and repetition separators everywhere
        "trailing-separators",
        er7(msh("NV-L1") + "|||", PID + "|||^~", "ORC|RE||RV-L1^RIS^|||", obr("RV-L1") + "||||",
            obx(1, "TX", LN_F + "^", "Clear.") + "|||||^", obx(2, "TX", LN_I, "Normal.~") + "|"),
        "AA", "NV-L1", None, (want("RV-L1", "final", "Clear.", "Normal."),),
    ),
    Case(  # CR, LF and CRLF mixed in one message
        "mixed-line-ends",
        (msh("NV-L2") + "\r\n" + PID + "\n" + obr("RV-L2") + "\r" + obx(1, "TX", LN_F, "Clear.") + "\n"
         + obx(2, "TX", LN_I, "Normal.") + "\r\n").encode(),
        "AA", "NV-L2", None, (want("RV-L2", "final", "Clear.", "Normal."),),
    ),
    Case("no-final-terminator", er7(msh("NV-L3"), PID, obr("RV-L3"), obx(1, "TX", LN_F, "Clear."))[:-1],
         "AA", "NV-L3", None, (want("RV-L3", "final", "Clear."),)),
    Case(  # Before: read as complete. DSC-1 valued: the rest of the message comes in a continuation
        "dsc-continuation-pending",
        er7(msh("NV-L4"), PID, obr("RV-L4"), obx(1, "TX", LN_F, "First half of the report."), "DSC|CONT-0001|F"),
        "AE", "NV-L4", ("100", "DSC^1^1"),
    ),
    Case(  # Before: read as complete. MSH-14 valued: this message is a continuation fragment
        "msh14-continuation-fragment",
        er7(msh("NV-L5", continuation="CONT-0001"), PID, obr("RV-L5"), obx(1, "TX", LN_F, "Second half.")),
        "AE", "NV-L5", ("100", "MSH^1^14"),
    ),
    Case("dsc-empty-is-fine", er7(msh("NV-L6"), PID, obr("RV-L6"), obx(1, "TX", LN_F, "Clear."), "DSC"),
         "AA", "NV-L6", None, (want("RV-L6", "final", "Clear."),)),
    # ---- PID ----
    Case(  # Before: AA with no patient. PID-3 is required and no other PID field names the patient
        "pid3-empty",
        er7(msh("NV-P1"), "PID|1||||SYNTHETIC^NOID||19700101|M", obr("RV-P1"), obx(1, "TX", LN_F, "Clear.")),
        "AE", "NV-P1", ("101", "PID^1^3"),
    ),
    Case(  # PID-3 repetitions without an id number (CX-1) are no identifier either
        "pid3-authority-only",
        er7(msh("NV-P2"), "PID|1||^^^RIVERSIDE^MR||SYNTHETIC^NOID", obr("RV-P2"), obx(1, "TX", LN_F, "Clear.")),
        "AE", "NV-P2", ("101", "PID^1^3"),
    ),
    Case(  # v2.3 engines that still fill PID-2 (external id) and leave PID-3 empty: tolerated
        "pid2-only-legacy",
        er7(msh("NV-P3", version="2.3"), "PID|1|EXT4411|||SYNTHETIC^LEGACY", obr("RV-P3"), obx(1, "TX", LN_F, "Clear.")),
        "AA", "NV-P3", None, (want("RV-P3", "final", "Clear.", patient_id="EXT4411"),),
    ),
    Case("no-pid-segment", er7(msh("NV-P4"), obr("RV-P4"), obx(1, "TX", LN_F, "Clear.")),
         "AA", "NV-P4", None, (want("RV-P4", "final", "Clear.", patient_id=None),)),
    # ---- character sets ----
    Case(
        "latin1-declared",
        er7(msh("NV-C1", charset="8859/1"), PID, obr("RV-C1"), obx(1, "TX", LN_F, "Pas d'\u00e9panchement; c\u00f4tes normales."),
            charset="latin-1"),
        "AA", "NV-C1", None, (want("RV-C1", "final", "Pas d'\u00e9panchement; c\u00f4tes normales."),),
    ),
    Case(
        "utf8-declared-cjk",
        er7(msh("NV-C2", charset="UNICODE UTF-8"), PID, obr("RV-C2"), obx(1, "TX", LN_F, "\u53f3\u80ba\u4e0a\u53f6\u7ed3\u8282 6 mm.")),
        "AA", "NV-C2", None, (want("RV-C2", "final", "\u53f3\u80ba\u4e0a\u53f6\u7ed3\u8282 6 mm."),),
    ),
    Case(  # undeclared (ASCII) with bytes that are not UTF-8: read as Windows-1252, not dropped
        "undeclared-invalid-utf8",
        er7(msh("NV-C3"), PID, obr("RV-C3"), "OBX|1|TX|18782-3^Findings^LN||Gr\xf6\xdfe 3\xa0cm \x96 stable.||||||F",
            charset="latin-1"),
        "AA", "NV-C3", None, (want("RV-C3", "final", "Gr\u00f6\u00dfe 3\u00a0cm \u2013 stable."),),
    ),
    Case(  # declared UTF-8 but bytes are not: the text is still read (by fallback), not rejected
        "utf8-declared-invalid-bytes",
        er7(msh("NV-C4", charset="UNICODE UTF-8"), PID, obr("RV-C4"),
            "OBX|1|TX|18782-3^Findings^LN||\xc9panchement minime.||||||F", charset="latin-1"),
        "AA", "NV-C4", None, (want("RV-C4", "final", "\u00c9panchement minime."),),
    ),
    Case(  # \Xhh\ in a UTF-8 message: the bytes decoded in MSH-18's set
        "hex-escape-utf8",
        er7(msh("NV-C5", charset="UNICODE UTF-8"), PID, obr("RV-C5"), obx(1, "FT", LN_F, "3 \\XC2B5\\m calcification.")),
        "AA", "NV-C5", None, (want("RV-C5", "final", "3 \u00b5m calcification."),),
    ),
]


def _version(ack: str) -> str:
    sep, comp = ack[3], ack[4]
    return ack.split("\r")[0].split(sep)[11].split(comp)[0]


# ---- Part 1: checks -----------------------------------------------------------------------------


def test_there_are_at_least_fifty_cases() -> None:
    assert len(CASES) >= 50 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_round6_oru_ack_and_extraction(case: Case) -> None:
    ack_text, parsed = ack_for(case.raw)
    sep = ack_text[3]
    msa = next(s for s in ack_text.split("\r") if s.startswith("MSA")).split(sep)
    assert (msa[1], msa[2]) == (case.msa1, case.msa2), (case.name, parsed)
    if case.msa2:  # an MSH we could read: MSH-3/5 swapped
        ack_msh = ack_text.split("\r")[0].split(sep)
        assert (ack_msh[2], ack_msh[4]) == ("RADLITE", "NOVAENG"), case.name
    assert err_in_own_delimiters(ack_text) == case.err, case.name
    if sep == "|" and ack_text[4:8] == "^~\\&" and _version(ack_text) not in ("2.1", "2.2"):
        assert err_of(ack_text) == case.err, case.name  # python-hl7 reads the same ERR
    if case.err is not None:
        assert isinstance(parsed, Hl7Error) and (parsed.err_code, parsed.location) == case.err, case.name
        return
    assert not isinstance(parsed, Hl7Error), (case.name, parsed)
    assert len(parsed.reports) == len(case.reports), case.name
    for got, want_ in zip(parsed.reports, case.reports, strict=True):
        assert (got.accession, got.status) == (want_.accession, want_.status), case.name
        assert (got.findings, got.impression, got.addendum) == (want_.findings, want_.impression, want_.addendum), case.name
        assert got.patient_id == want_.patient_id, case.name


def test_err_segment_has_severity_and_table_0357_code_from_v25_on() -> None:
    for version, field in (("2.5.1", 3), ("2.7", 3), ("2.8.2", 3)):
        raw = er7(msh("NV-ERR", version=version), PID, obr("RV-ERR"), obx(1, "TX", LN_F, "Clear.", ""))
        ack, _ = ack_for(raw)
        err = next(s for s in ack.split("\r") if s.startswith("ERR")).split("|")
        assert err[1] == "" and err[2] == "OBX^1^11", version
        assert err[field] == "101^Required field missing^HL70357" and err[4] == "E", version
        assert "MSA|AE|NV-ERR" in ack and f"|{version}" in ack.split("\r")[0]


def test_ack_keeps_the_senders_delimiters() -> None:
    """The ACK is written with the message's own MSH-1/MSH-2 (v2 2.5.4), so the engine reads it."""
    for name, sep, enc in (("field-separator-bang", "!", "^~\\&"), ("components-star-repetition-percent", "|", "*%\\$"),
                           ("escape-char-bang", "|", "^~!&"), ("v282-accepted", "|", "^~\\&#")):
        ack, _ = ack_for(next(c for c in CASES if c.name == name).raw)
        assert ack.startswith(f"MSH{sep}{enc}{sep}RADLITE{sep}"), name
        msh9 = ack.split("\r")[0].split(sep)[8]
        assert msh9 == enc[0].join(["ACK", "R01", "ACK"]), name


def test_msh9_trigger_and_structure_are_echoed_per_version() -> None:
    for version, kind, expect in (("2.3", "ORU^R01", "ACK^R01"), ("2.5.1", "ORU^R01", "ACK^R01^ACK")):
        ack, _ = ack_for(good("NV-V", "RV-V", version=version, kind=kind))
        assert ack.split("\r")[0].split("|")[8] == expect


def test_nte_after_obx_and_unread_coded_obx_are_warned_not_silent() -> None:
    notes = parse_oru(next(c for c in CASES if c.name == "nte-after-obx-is-observation-note").raw)
    assert any("OBX 1" in w and "comment" in w for w in notes.warnings), notes.warnings
    coded = parse_oru(next(c for c in CASES if c.name == "coded-rads-obx-beside-text").raw)
    assert any("OBX 3" in w for w in coded.warnings), coded.warnings
    with pytest.raises(Hl7Error) as info:
        parse_oru(next(c for c in CASES if c.name == "report-only-in-obx-notes").raw)
    assert "NTE" in info.value.text  # the sender hears where its text was


def test_obx_notes_are_never_report_text_even_with_headings() -> None:
    """An OBX note that looks like a heading does not become a section (no text invented)."""
    raw = er7(msh("NV-N4"), PID, obr("RV-N4"), obx(1, "TX", LN_F, "Lungs clear."), "NTE|1|L|IMPRESSION: see prior.")
    (report,) = parse_oru(raw).reports
    assert (report.findings, report.impression) == ("Lungs clear.", None)


def test_warnings_carry_no_report_text() -> None:
    for case in CASES:
        if case.err is None:
            for warning in parse_oru(case.raw).warnings:
                assert "Lungs" not in warning and "Dr." not in warning and "Spanish" not in warning, case.name


def test_merged_groups_keep_the_first_groups_procedure_and_time() -> None:
    (report,) = parse_oru(next(c for c in CASES if c.name == "addendum-obr-29-parent").raw).reports
    assert (report.procedure, report.modality, report.report_id) == ("CT CHEST WO", "CT", "RV-G3")


def test_child_obr_of_a_parent_not_in_the_message_keeps_its_own_report() -> None:
    """An addendum OBR whose parent was sent earlier: its own report, keyed on the parent's filler id
    only when it has no accession of its own, its text an addendum (never findings it does not have)."""
    raw = er7(msh("NV-G5"), PID, obr("", "71250^CT CHEST ADDENDUM^CPT4", section="CT", parent="PL-9^RV-OLD"),
              obx(1, "TX", "ADD^Addendum text^L", "Comparison reviewed; unchanged."))
    (report,) = parse_oru(raw).reports
    assert (report.accession, report.findings, report.addendum) == ("RV-OLD", None, "Comparison reviewed; unchanged.")


def test_obr29_naming_its_own_order_is_no_addendum() -> None:
    """Some RIS fill OBR-29 with the order's own number: the report text stays the findings."""
    raw = er7(msh("NV-G6"), PID, obr("RV-G6", parent="^RV-G6"), obx(1, "TX", LN_R, "Lungs clear.\nIMPRESSION: Normal."))
    (report,) = parse_oru(raw).reports
    assert (report.findings, report.impression, report.addendum) == ("Lungs clear.", "Normal.", None)


def test_accept_ack_modes_from_msh15() -> None:
    """Table 0155 for the commit ACK: AL always, NE never, ER only on error, SU only on success."""
    rows = {"AL": (True, True), "NE": (False, False), "ER": (False, True), "SU": (True, False)}
    for mode, (ok, bad) in rows.items():
        header = peek_header(good("NV-M", "RV-M", accept=mode, app="NE"))
        assert header is not None
        assert (header.wants_accept_ack(error=False), header.wants_accept_ack(error=True)) == (ok, bad), mode


GOOD_A = good("NV-B1", "RV-B1")
BAD_ADT = er7(msh("NV-B2", kind="ADT^A01^ADT_A01"), PID, PV1)
BAD_NO_OBR = er7(msh("NV-B3"), PID, obx(1, "TX", LN_F, "Orphan."))
GOOD_D = good("NV-B4", "RV-B4", text="Small effusion.")


def _batch(*messages: bytes, count: int | None = None, end: bytes = b"\r") -> bytes:
    n = len(messages) if count is None else count
    body = b"".join(messages)
    return (b"FHS|^~\\&|NOVAENG|RIVERSIDE|RADLITE|RIVERSIDE_CDS|20260301" + end
            + b"BHS|^~\\&|NOVAENG|RIVERSIDE|RADLITE|RIVERSIDE_CDS|20260301" + end
            + body + f"BTS|{n}".encode() + end + b"FTS|1" + end)


def test_batch_with_bad_messages_among_good_ones() -> None:
    batch = split_batch(_batch(GOOD_A, BAD_ADT, BAD_NO_OBR, GOOD_D))
    assert batch.all_errors == [] and batch.messages == [GOOD_A, BAD_ADT, BAD_NO_OBR, GOOD_D]
    answers = [ack_for(m)[0] for m in batch.messages]
    reply = build_batch_ack(batch, answers)
    assert msas(reply.encode()) == [("AA", "NV-B1"), ("AR", "NV-B2"), ("AE", "NV-B3"), ("AA", "NV-B4")]
    assert reply.startswith("FHS|") and "\rBTS|4" in reply and reply.endswith("FTS|1\r")


def test_lf_batch_splits_the_same() -> None:
    lf = _batch(*(m.replace(b"\r", b"\n") for m in (GOOD_A, BAD_ADT, GOOD_D)), end=b"\n")
    batch = split_batch(lf)
    assert batch.all_errors == [] and len(batch.messages) == 3
    assert [peek_header(m).control_id for m in batch.messages] == ["NV-B1", "NV-B2", "NV-B4"]  # type: ignore[union-attr]


# ---- Part 2: the doors --------------------------------------------------------------------------




def _wire(case: Case) -> list[tuple[str, str]]:
    """(MSA-1, MSA-2) the case's ACK must carry on the wire."""
    return [(case.msa1, case.msa2)]


_PIPE_CASES = [c for c in CASES if not c.raw.startswith(b"MSH!")]  # msas() reads '|'-separated ACKs


def test_every_case_over_http_is_kept_and_answered(app_sqlite: Any) -> None:
    app, client = app_sqlite
    for case in _PIPE_CASES:
        response = client.post("/hl7/v2", content=case.raw, headers={"Content-Type": "x-application/hl7-v2+er7"})
        assert msas(response.content, codec_of(case)) == _wire(case), case.name
        assert response.status_code == (200 if case.msa1 in ("AA", "CA") else 400), case.name
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == [c.raw for c in _PIPE_CASES]
    assert [r.status for r in rows] == ["rejected" if c.err else "queued" for c in _PIPE_CASES]


def test_every_case_over_one_mllp_connection(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=60) as sock:
        for case in CASES:
            sock.sendall(b"\x0b" + case.raw + b"\x1c\r")
            header = peek_header(case.raw)
            if header is not None and not header.wants_accept_ack(error=case.err is not None):
                continue  # MSH-15 asked for no commit ACK here (SU with an error): none comes
            ack = read_frame(sock)
            if case.raw.startswith(b"MSH!"):
                assert f"MSA!{case.msa1}!{case.msa2}".encode() in ack, case.name
            else:
                assert msas(ack, codec_of(case)) == _wire(case), case.name
    assert [r.raw for r in inbound_rows(app)] == [c.raw for c in CASES]


def test_duplicate_control_id_over_mllp_is_kept_once_for_analysis(app_sqlite: Any) -> None:
    """A resend after a lost ACK (same MSH-10, same content, other line ends) is AA and a duplicate;
    a new content under the same MSH-10 is a new version, queued."""
    app, _ = app_sqlite
    first = good("NV-D1", "RV-D1")
    resend = first.replace(b"\r", b"\r\n")
    changed = good("NV-D1", "RV-D1", text="Lungs clear. No effusion.")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        for raw in (first, resend, changed):
            sock.sendall(b"\x0b" + raw + b"\x1c\r")
            assert msas(read_frame(sock)) == [("AA", "NV-D1")]
    assert [r.status for r in inbound_rows(app)] == ["queued", "duplicate", "queued"]


def test_batch_with_bad_messages_over_both_doors(app_sqlite: Any) -> None:
    app, client = app_sqlite
    raw = _batch(GOOD_A, BAD_ADT, BAD_NO_OBR, GOOD_D)
    response = client.post("/hl7/v2", content=raw, headers={"Content-Type": "x-application/hl7-v2+er7"})
    assert response.status_code == 400
    assert msas(response.content) == [("AA", "NV-B1"), ("AR", "NV-B2"), ("AE", "NV-B3"), ("AA", "NV-B4")]
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + raw.replace(b"NV-B", b"NV-M") + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "NV-M1"), ("AR", "NV-M2"), ("AE", "NV-M3"), ("AA", "NV-M4")]
    assert [r.status for r in inbound_rows(app)] == ["queued", "rejected", "rejected", "queued"] * 2


def test_enhanced_mode_er_over_mllp_answers_only_errors(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    ok = good("NV-ER1", "RV-ER1", accept="ER", app="NE")
    bad = er7(msh("NV-ER2", accept="ER", app="NE"), PID, obr("RV-ER2", status="Q"), obx(1, "TX", LN_F, "Clear."))
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + ok + b"\x1c\r" + b"\x0b" + bad + b"\x1c\r")
        assert msas(read_frame(sock)) == [("CE", "NV-ER2")]
    assert [(r.control_id, r.status) for r in inbound_rows(app)] == [("NV-ER1", "queued"), ("NV-ER2", "rejected")]


def test_ack_to_latin1_message_is_latin1(app_sqlite: Any) -> None:
    _, client = app_sqlite
    raw = er7(msh("NV-CL", charset="8859/1").replace("RIVERSIDE|", "RIVI\u00c8RE|", 1), PID, obr("RV-CL"),
              obx(1, "TX", LN_F, "C\u00f4tes normales."), charset="latin-1")
    response = client.post("/hl7/v2", content=raw, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200 and b"|RIVI\xc8RE|" in response.content
    assert "latin-1" in response.headers["content-type"] or "iso8859-1" in response.headers["content-type"]


def test_build_ack_without_header_is_still_parseable() -> None:
    ack = build_ack(None, error=Hl7Error("AE", "100", "", "segment sequence error (empty message)"))
    assert ack.startswith("MSH|^~\\&|RADLITE|") and "\rMSA|AE||" in ack and "\rERR|" in ack
