"""HL7 v2 round 8: ORU^R01 radiology results as Epic, Cerner, Meditech, PowerScribe and Rad AI feeds send
them, good and broken, through the adapter and both doors (MLLP over TCP, HTTP).

Covered here and not in rounds 3-7b: value types TX/FT/ST/CE/CWE/ED/RP side by side; FT commands
\\.sp n\\ \\.ce\\ \\.in\\ \\.fi\\ \\.nf\\ and highlighting around headings; a heading with a bracketed
qualifier ("IMPRESSION (AI-assisted draft):"); a closing "END ADDENDUM" line; every OBR-25 code of table
0123 with and without OBX; MSH-18 names of table 0211 (8859/2, 8859/15, repetitions) and outside it;
custom MSH-1/MSH-2 (field separator '!', escape '$'); required MSH, OBX, PID fields missing; segment order
faults; ACK fields (MSA-2 echo, a new MSH-10, MSH-3/4 <-> MSH-5/6 swap, MSH-9 per version, MSH-11/12 as
received, ERR-1 ELD before v2.5 and ERR-2/3/4 after, no MSA-3 from v2.7); batches (FHS/BHS); a report
sent as 20,000 OBX-5 repetitions.

Each case states the ACK the standard calls for (MSA-1, MSA-2, ERR code and location) and, when accepted,
what is read (accession, status, findings, impression, addendum, patient).

Fixed in this round ("Before: ..." on the case or test):
- a report sent as thousands of OBX-5 repetitions was read in quadratic time (20,000 lines: over a
  minute, past any sender's ACK timeout); now each field is split once;
- a heading with a bracketed qualifier ("IMPRESSION (preliminary):") was not a heading, so the
  impression stayed in the findings;
- a closing "***** END ADDENDUM *****" line stayed in the addendum, and the report text after it
  was read as more addendum;
- an ACK to a message that left MSH-5 empty named no application in its MSH-3 (the batch reply did);
- MSH-18 ASCII, or a name outside table 0211, with bytes that had to be read as cp1252: the ACK went
  back in ASCII or UTF-8, so the sender's own names in MSH-3..6 came back as '?' or mojibake;
- plural or qualified impression headings ("IMPRESSIONS/RECOMMENDATIONS:", "PRELIMINARY IMPRESSION:",
  "CONCLUSION/RECOMMENDATIONS:") were not headings (a bracket that states something, "ASSESSMENT
  (BI-RADS 4):", still is text, as before);
- an impression or addendum both under a heading of the whole-report OBX and in its own OBX kept only
  the labelled OBX, silently dropping what only the other said (a follow-up recommendation, a call);
  a findings OBX repeated inside the whole-report OBX was read twice;
- a code-only SNOMED CT BI-RADS impression ('397144001^^SCT') was read as the bare number;
- a preliminary and a final OBR of one accession in one message were joined and stayed "preliminary";
- a DOS end-of-file mark (0x1A) after the last segment was answered AE 100;
- a UTF-16 message without a byte order mark was answered AE 100 with no MSA-2 (now read, and answered
  in UTF-16 without a mark, over MLLP too); a framed UTF-16 message with a mark over HTTP read FS CR
  as one more character and was answered AE 100.
"""

from __future__ import annotations

import codecs
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

from adapters.hl7 import Hl7Error, build_batch_ack, parse_oru, peek_header, split_batch
from adapters.sections import report_fields

VENDORS = {
    "epic": ("EPIC", "SUMMIT_RADIANT"),
    "cerner": ("HNAM", "CERNER_MILL"),
    "meditech": ("MT_RAD", "MEDITECH_EXP"),
    "ps": ("PowerScribe", "NUANCE_PS1"),
    "radai": ("RADAI_OMNI", "RADAI_CLOUD"),
    "mirth": ("MIRTH_RIS", "SUMMIT"),
}


def msh(cid: str, vendor: str = "epic", *, receiver: str = "RADLITE", receiver_facility: str = "SUMMIT_CDS",
        **kw: Any) -> str:
    sender, facility = VENDORS[vendor]
    return msh_segment(cid, kw.pop("sender", sender), kw.pop("facility", facility), receiver, receiver_facility,
                       "20261129081500", **kw)


def obr(accession: str, service: str = "71046^XR CHEST 2 VIEWS^CPT4", *, status: str = "F", section: str = "RAD",
        set_id: str = "1", sep: str = "|") -> str:
    fields = ["OBR", set_id, "", accession, service] + [""] * 28
    fields[7], fields[22], fields[24], fields[25] = "20261129070500", "20261129081000", section, status
    return sep.join(fields)


PID = "PID|1||SM55012^^^SUMMIT^MR~123-45-0000^^^SSA^SS||SYNTHETIC^ROMEO^Q||19620511|M"
PV1 = "PV1|1|O|RAD^XR1^^SUMMIT||||7788^ORDERER^SYN^^^^MD||||||||||||V5510^^^SUMMIT^VN"
GDT, IMP, ADT = "&GDT^Report^L", "&IMP^Impression^L", "&ADT^Addendum^L"


def want(accession: str | None, status: str, findings: str | None = None, impression: str | None = None,
         addendum: str | None = None, patient_id: str | None = "SM55012") -> Want:
    return Want(accession, status, findings, impression, addendum, patient_id)


def ok(name: str, raw: bytes, cid: str, *reports: Want, msa1: str = "AA") -> Case:
    return Case(name, raw, msa1, cid, None, reports)


def bad(name: str, raw: bytes, msa1: str, cid: str, code: str, where: str) -> Case:
    return Case(name, raw, msa1, cid, (code, where))


def simple(cid: str, vendor: str = "epic", *, text: str = "Lungs are clear.", **kw: Any) -> bytes:
    return er7(msh(cid, vendor, **kw), PID, obr(f"A-{cid}"), obx(1, "TX", LN_F, text))


_FT_PS = ("\\H\\EXAM:\\N\\ CT ABDOMEN PELVIS WITH CONTRAST\\.br\\\\.br\\\\H\\FINDINGS:\\N\\\\.br\\Liver: 1.4 cm "
          "hypodensity in segment 4A, too small to characterize.\\.br\\Kidneys: no hydronephrosis.\\.br\\\\.br\\"
          "\\H\\IMPRESSION:\\N\\\\.br\\1. Subcentimeter hepatic hypodensity, likely cyst.\\.br\\2. No acute process.")

CASES: list[Case] = [
    # ---- vendor variants ------------------------------------------------------------------------
    ok("epic-v251-gdt-imp-subids", er7(
        msh("EP8-1"), PID, PV1, "ORC|RE|PL8801^EPIC|A-EP8-1^RIS||CM", obr("A-EP8-1"),
        obx(1, "TX", "71046&GDT^Findings^L", "Heart size is normal.", sub="1"),
        obx(2, "TX", "71046&GDT^Findings^L", "No focal consolidation or effusion.", sub="1"),
        obx(3, "TX", "71046&IMP^Impression^L", "No acute cardiopulmonary process.", sub="2")), "EP8-1",
        want("A-EP8-1", "final", "Heart size is normal.\nNo focal consolidation or effusion.",
             "No acute cardiopulmonary process.")),
    ok("epic-enhanced-al-ne-commit", er7(
        msh("EP8-2", accept="AL", app="NE"), PID, obr("A-EP8-2", "70450^CT HEAD WO^CPT4", section="CT"),
        obx(1, "TX", LN_F, "No intracranial hemorrhage."), obx(2, "TX", LN_I, "Negative head CT.")), "EP8-2",
        want("A-EP8-2", "final", "No intracranial hemorrhage.", "Negative head CT."), msa1="CA"),
    ok("cerner-v23-one-code-per-line-with-headings", er7(
        msh("CE8-1", "cerner", version="2.3", kind="ORU^R01"), PID, obr("A-CE8-1"),
        *[obx(i, "TX", "RADRPT^Radiology Report^L", line) for i, line in enumerate(
            ["FINDINGS:", "Mild cardiomegaly.", "", "IMPRESSION:", "Cardiomegaly without edema."], start=1)]),
        "CE8-1", want("A-CE8-1", "final", "Mild cardiomegaly.", "Cardiomegaly without edema.")),
    ok(  # Before: the bracketed qualifier hid the heading and the impression stayed in the findings
        "cerner-impression-heading-with-qualifier", er7(
            msh("CE8-2", "cerner", version="2.4"), PID, obr("A-CE8-2", status="P"),
            obx(1, "TX", "RADRPT^Radiology Report^L", "FINDINGS: Small left pleural effusion.", "P"),
            obx(2, "TX", "RADRPT^Radiology Report^L", "IMPRESSION (preliminary): Small left effusion.", "P")),
        "CE8-2", want("A-CE8-2", "preliminary", "Small left pleural effusion.", "Small left effusion.")),
    ok("meditech-v24-ft-latin1", er7(
        msh("MT8-1", "meditech", version="2.4", charset="8859/1"), PID, obr("A-MT8-1"),
        obx(1, "FT", GDT, "CONSTATATIONS: Poumons clairs.\\.br\\IMPRESSION: Radiographie pulmonaire normale, "
            "pas d'\u00e9panchement."), charset="latin-1"), "MT8-1",
        want("A-MT8-1", "final", "CONSTATATIONS: Poumons clairs.",
             "Radiographie pulmonaire normale, pas d'\u00e9panchement.")),
    ok("meditech-v23-report-in-order-nte", er7(
        msh("MT8-2", "meditech", version="2.3", kind="ORU^R01"), PID, obr("A-MT8-2", "73610^XR ANKLE^CPT4"),
        "NTE|1|L|FINDINGS: No fracture or dislocation.", "NTE|2|L|", "NTE|3|L|IMPRESSION: Normal ankle."), "MT8-2",
        want("A-MT8-2", "final", "No fracture or dislocation.", "Normal ankle.")),
    ok("ps-one-ft-highlighted-headings", er7(
        msh("PS8-1", "ps", version="2.5"), PID, obr("A-PS8-1", "74177^CT ABD PELVIS W^CPT4", section="CT"),
        obx(1, "FT", GDT, _FT_PS)), "PS8-1",
        want("A-PS8-1", "final", "Liver: 1.4 cm hypodensity in segment 4A, too small to characterize.\n"
             "Kidneys: no hydronephrosis.",
             "1. Subcentimeter hepatic hypodensity, likely cyst.\n2. No acute process.")),
    ok("ps-one-corrected-with-addendum-heading", er7(
        msh("PS8-2", "ps"), PID, obr("A-PS8-2", status="C"),
        obx(1, "FT", GDT, "FINDINGS: Lungs clear.\\.br\\IMPRESSION: Normal chest.\\.br\\ADDENDUM: Comparison with "
            "2025 film: unchanged.", "C")), "PS8-2",
        want("A-PS8-2", "corrected", "Lungs clear.", "Normal chest.", "Comparison with 2025 film: unchanged.")),
    ok(  # Before: the closing line stayed in the addendum and the report after it was read as addendum
        "ps-addendum-on-top-with-end-marker", er7(
            msh("PS8-3", "ps"), PID, obr("A-PS8-3", status="C"),
            obx(1, "TX", GDT, "***** ADDENDUM *****~Outside CT reviewed: the nodule is stable since 2024.~"
                "***** END ADDENDUM *****~~FINDINGS: 6 mm right upper lobe nodule.~IMPRESSION: Stable nodule.", "C")),
        "PS8-3", want("A-PS8-3", "corrected", "6 mm right upper lobe nodule.", "Stable nodule.",
                      "Outside CT reviewed: the nodule is stable since 2024.")),
    ok("ps-end-of-addendum-then-no-heading", er7(
        msh("PS8-4", "ps"), PID, obr("A-PS8-4", status="C"),
        obx(1, "TX", LN_R, "ADDENDUM: Called to Dr. Ames at 09:12.~End of addendum.~Mild degenerative change.", "C")),
        "PS8-4", want("A-PS8-4", "corrected", "Mild degenerative change.", None, "Called to Dr. Ames at 09:12.")),
    ok("radai-prelim-draft-impression", er7(
        msh("RA8-1", "radai", version="2.5.1"), PID, obr("A-RA8-1", "71250^CT CHEST WO^CPT4", status="P", section="CT"),
        obx(1, "TX", LN_F, "8 mm solid nodule in the left lower lobe.", "P"),
        obx(2, "TX", LN_I, "Indeterminate 8 mm nodule. Lung-RADS 3.", "P")), "RA8-1",
        want("A-RA8-1", "preliminary", "8 mm solid nodule in the left lower lobe.",
             "Indeterminate 8 mm nodule. Lung-RADS 3.")),
    ok(  # Before: "IMPRESSION (AI-assisted draft):" was not a heading; the draft impression read as findings
        "radai-ai-draft-heading-qualifier", er7(
            msh("RA8-2", "radai"), PID, obr("A-RA8-2", "71250^CT CHEST WO^CPT4", status="P", section="CT"),
            obx(1, "TX", LN_R, "FINDINGS: Emphysema. No nodule.~IMPRESSION (AI-assisted draft): Emphysema.", "P")),
        "RA8-2", want("A-RA8-2", "preliminary", "Emphysema. No nodule.", "Emphysema.")),
    ok("radai-cwe-lungrads-beside-text", er7(
        msh("RA8-3", "radai", version="2.6"), PID, obr("A-RA8-3", "71271^CT LDCT SCREENING^CPT4", section="CT"),
        obx(1, "TX", LN_F, "4 mm perifissural nodule."), obx(2, "TX", LN_I, "Lung-RADS 2, benign appearance."),
        obx(3, "CWE", "RID50134^Lung-RADS assessment^RADLEX", "2^Lung-RADS 2^L")), "RA8-3",
        want("A-RA8-3", "final", "4 mm perifissural nodule.", "Lung-RADS 2, benign appearance.")),
    ok(  # Before: a plural or qualified impression heading was not one; the impression stayed in the findings
        "cerner-impressions-recommendations-plural", er7(
            msh("CE8-3", "cerner"), PID, obr("A-CE8-3", "71250^CT CHEST WO^CPT4", section="CT"),
            obx(1, "TX", LN_R, "FINDINGS: 7 mm solid nodule, right lower lobe.~IMPRESSIONS/RECOMMENDATIONS: 7 mm "
                "nodule. Follow-up CT in 6-12 months.")), "CE8-3",
        want("A-CE8-3", "final", "7 mm solid nodule, right lower lobe.", "7 mm nodule. Follow-up CT in 6-12 months.")),
    ok("meditech-preliminary-impression-heading", er7(
        msh("MT8-3", "meditech", version="2.4"), PID, obr("A-MT8-3", status="P"),
        obx(1, "TX", GDT, "PRELIMINARY FINDINGS:~No acute fracture.~~PRELIMINARY IMPRESSION:~Negative wrist.", "P")),
        "MT8-3", want("A-MT8-3", "preliminary", "No acute fracture.", "Negative wrist.")),
    ok("ps-bracket-that-states-something-is-text-not-a-heading", er7(
        msh("PS8-6", "ps"), PID, obr("A-PS8-6", "77065^MAMMO DIAG LEFT^CPT4", section="MG"),
        obx(1, "TX", LN_R, "FINDINGS: 12 mm irregular mass, left breast 2 o'clock.~IMPRESSION:~"
            "ASSESSMENT (BI-RADS 4): Suspicious. Biopsy recommended.")), "PS8-6",
        want("A-PS8-6", "final", "12 mm irregular mass, left breast 2 o'clock.",
             "ASSESSMENT (BI-RADS 4): Suspicious. Biopsy recommended.")),
    ok("epic-conclusion-and-recommendations", er7(
        msh("EP8-3"), PID, obr("A-EP8-3", "76700^US ABDOMEN^CPT4", section="US"),
        obx(1, "TX", GDT, "Liver: normal echotexture.~CONCLUSION/RECOMMENDATIONS: Normal abdominal ultrasound.")),
        "EP8-3", want("A-EP8-3", "final", "Liver: normal echotexture.", "Normal abdominal ultrasound.")),
    ok("ps-significant-findings-label-is-not-a-heading", er7(
        msh("PS8-5", "ps"), PID, obr("A-PS8-5", "71271^CT LDCT SCREENING^CPT4", section="CT"),
        obx(1, "TX", LN_I, "Lung-RADS 2.~Significant incidental findings (S): none.")), "PS8-5",
        want("A-PS8-5", "final", None, "Lung-RADS 2.\nSignificant incidental findings (S): none.")),
    ok("epic-whole-report-and-impression-obx-say-it-twice", er7(
        msh("EP8-4"), PID, obr("A-EP8-4"),
        obx(1, "TX", "71046&GDT^Report^L", "FINDINGS: Lungs clear.~IMPRESSION: No acute disease."),
        obx(2, "TX", "71046&IMP^Impression^L", "No acute  disease.")), "EP8-4",
        want("A-EP8-4", "final", "Lungs clear.", "No acute  disease.")),  # the labelled OBX, as sent
    ok(  # Before: the impression OBX alone was kept; the body's follow-up recommendation was dropped unsaid
        "epic-body-impression-fuller-than-impression-obx", er7(
            msh("EP8-5"), PID, obr("A-EP8-5", "71260^CT CHEST W^CPT4", section="CT"),
            obx(1, "TX", "71260&GDT^Report^L", "FINDINGS: 9 mm RUL nodule.~IMPRESSION:~1. 9 mm right upper lobe "
                "nodule.~2. Recommend CT chest in 3 months."),
            obx(2, "TX", "71260&IMP^Impression^L", "9 mm right upper lobe nodule.")), "EP8-5",
        want("A-EP8-5", "final", "9 mm RUL nodule.",
             "1. 9 mm right upper lobe nodule.\n2. Recommend CT chest in 3 months.")),
    ok(  # Before: "Called to Dr. Ames" under the body's ADDENDUM heading was dropped for the addendum OBX
        "cerner-body-addendum-and-addendum-obx-differ", er7(
            msh("CE8-4", "cerner"), PID, obr("A-CE8-4", status="C"),
            obx(1, "TX", GDT, "FINDINGS: Small pneumothorax.~ADDENDUM: Called to Dr. Ames at 09:12.", "C"),
            obx(2, "TX", ADT, "Follow-up radiograph shows no change.", "C")), "CE8-4",
        want("A-CE8-4", "corrected", "Small pneumothorax.", None,
             "Called to Dr. Ames at 09:12.\nFollow-up radiograph shows no change.")),
    ok(  # Before: findings 'Lungs clear.\nLungs clear.' (the whole report and its coded sections both read)
        "radai-whole-report-then-coded-sections", er7(
            msh("RA8-4", "radai"), PID, obr("A-RA8-4"),
            obx(1, "TX", LN_R, "FINDINGS: Lungs clear. No effusion.~IMPRESSION: Normal chest."),
            obx(2, "TX", LN_F, "Lungs clear. No effusion."), obx(3, "TX", LN_I, "Normal chest.")), "RA8-4",
        want("A-RA8-4", "final", "Lungs clear. No effusion.", "Normal chest.")),
    ok("epic-findings-and-different-unlabelled-text-both-read", er7(
        msh("EP8-6"), PID, obr("A-EP8-6"), obx(1, "TX", LN_F, "Lungs clear."),
        obx(2, "TX", "CLINNOTE^^L", "Portable technique limits assessment.")), "EP8-6",
        want("A-EP8-6", "final", "Lungs clear.\nPortable technique limits assessment.")),
    # ---- value types ------------------------------------------------------------------------------
    ok("tx-blank-line-obx", er7(
        msh("VT8-1"), PID, obr("A-VT8-1"), obx(1, "TX", GDT, "Line one."), obx(2, "TX", GDT, ""),
        obx(3, "TX", GDT, "Line three.")), "VT8-1", want("A-VT8-1", "final", "Line one.\n\nLine three.")),
    ok("ft-sp-2", er7(msh("VT8-2"), PID, obr("A-VT8-2"), obx(1, "FT", GDT, "Heart normal.\\.sp 2\\Lungs clear.")),
       "VT8-2", want("A-VT8-2", "final", "Heart normal.\n\nLungs clear.")),
    ok("ft-indent-list", er7(msh("VT8-3"), PID, obr("A-VT8-3"),
                             obx(1, "FT", IMP, "\\.in 3\\1. Normal.\\.br\\\\.ti 3\\2. No effusion.")),
       "VT8-3", want("A-VT8-3", "final", None, "   1. Normal.\n   2. No effusion.")),
    ok("ft-centre-title-and-fill", er7(
        msh("VT8-4"), PID, obr("A-VT8-4"),
        obx(1, "FT", LN_R, "\\.ce\\\\.nf\\FINDINGS:\\.br\\Normal alignment.\\.fi\\\\.br\\IMPRESSION:\\.br\\No fracture.")),
        "VT8-4", want("A-VT8-4", "final", "Normal alignment.", "No fracture.")),
    ok("ft-hex-crlf-and-escaped-delimiters", er7(
        msh("VT8-5"), PID, obr("A-VT8-5"),
        obx(1, "FT", LN_F, "T1\\F\\T2 signal\\X0D0A\\C5\\T\\C6 disc \\S\\ mild\\X0D0A\\Path C:\\E\\PACS")),
        "VT8-5", want("A-VT8-5", "final", "T1|T2 signal\r\nC5&C6 disc ^ mild\r\nPath C:\\PACS")),  # CR LF kept as sent
    ok("ft-repeated-obx5-ending-in-br", er7(
        msh("VT8-6"), PID, obr("A-VT8-6"), obx(1, "FT", LN_F, "Lungs clear.\\.br\\~Heart normal.\\.br\\")),
        "VT8-6", want("A-VT8-6", "final", "Lungs clear.\nHeart normal.")),
    ok("st-lines-loinc", er7(
        msh("VT8-7", version="2.7"), PID, obr("A-VT8-7"), obx(1, "ST", LN_F, "No pneumothorax."),
        obx(2, "ST", LN_I, "Normal chest.")), "VT8-7", want("A-VT8-7", "final", "No pneumothorax.", "Normal chest.")),
    ok("ce-impression-with-text", er7(
        msh("VT8-8", version="2.4"), PID, obr("A-VT8-8", "77067^MAMMO SCREENING^CPT4", section="MG"),
        obx(1, "TX", GDT, "Scattered fibroglandular densities."),
        obx(2, "CE", IMP, "397140005^Mammography assessment (Category 1) - Negative^SCT")), "VT8-8",
        want("A-VT8-8", "final", "Scattered fibroglandular densities.",
             "Mammography assessment (Category 1) - Negative")),
    ok("cwe-original-text-only", er7(
        msh("VT8-9", version="2.7"), PID, obr("A-VT8-9"),
        obx(1, "CWE", IMP, "^^^^^^^^No acute fracture.")), "VT8-9", want("A-VT8-9", "final", None, "No acute fracture.")),
    ok("ce-text-only-component-two", er7(
        msh("VT8-10", version="2.3.1"), PID, obr("A-VT8-10"), obx(1, "CE", IMP, "^Normal chest radiograph")),
        "VT8-10", want("A-VT8-10", "final", None, "Normal chest radiograph")),
    ok(  # Before: the impression was the bare number '397144001', which no reader takes for BI-RADS 4
        "ce-snomed-birads-code-only", er7(
            msh("VT8-15", "ps", version="2.4"), PID, obr("A-VT8-15", "77067^MAMMO SCREENING^CPT4", section="MG"),
            obx(1, "TX", GDT, "9 mm irregular mass, right breast 10 o'clock."), obx(2, "CE", IMP, "397144001^^SCT")),
        "VT8-15", want("A-VT8-15", "final", "9 mm irregular mass, right breast 10 o'clock.",
                       "Mammography assessment (Category 4) - Suspicious abnormality")),
    ok("cwe-snomed-oid-code-only-category-2", er7(
        msh("VT8-16", version="2.6"), PID, obr("A-VT8-16", "77067^MAMMO SCREENING^CPT4", section="MG"),
        obx(1, "CWE", IMP, "397141009^^2.16.840.1.113883.6.96")), "VT8-16",
        want("A-VT8-16", "final", None, "Mammography assessment (Category 2) - Benign finding")),
    ok("cwe-local-code-only-stays-the-code", er7(
        msh("VT8-17", version="2.6"), PID, obr("A-VT8-17"), obx(1, "TX", LN_F, "Clear."),
        obx(2, "CWE", IMP, "NEG01^^99LOCAL")), "VT8-17", want("A-VT8-17", "final", "Clear.", "NEG01")),
    ok("ed-plain-ascii-beside-rp", er7(
        msh("VT8-11", "cerner"), PID, obr("A-VT8-11"),
        obx(1, "RP", GDT, "https://ris.example/rpt/8811^RIS^TEXT^HTML"),
        obx(2, "ED", GDT, "^TEXT^^A^FINDINGS: Clear.\\X0D0A\\IMPRESSION: Normal.")), "VT8-11",
        want("A-VT8-11", "final", "Clear.", "Normal.")),
    bad("rp-only-is-not-report-text", er7(
        msh("VT8-12", "cerner"), PID, obr("A-VT8-12"), obx(1, "RP", GDT, "https://ris.example/rpt/8812^RIS^TEXT^PDF")),
        "AE", "VT8-12", "101", "OBR^1"),
    ok("nm-measurement-beside-text", er7(
        msh("VT8-13"), PID, obr("A-VT8-13", "76536^US THYROID^CPT4", section="US"),
        obx(1, "NM", "RID12345^Nodule size^RADLEX", "14", sub="1"),
        obx(2, "TX", LN_F, "14 mm TI-RADS 4 nodule, right lobe."), obx(3, "TX", LN_I, "TR4 nodule; FNA recommended.")),
        "VT8-13", want("A-VT8-13", "final", "14 mm TI-RADS 4 nodule, right lobe.", "TR4 nodule; FNA recommended.")),
    ok("tx-leading-spaces-kept", er7(
        msh("VT8-14"), PID, obr("A-VT8-14"), obx(1, "TX", IMP, "1. Fracture.~   a. Distal radius.")), "VT8-14",
        want("A-VT8-14", "final", None, "1. Fracture.\n   a. Distal radius.")),
    # ---- result status (OBR-25, OBX-11) -----------------------------------------------------------
    ok("status-final", simple("ST8-1"), "ST8-1", want("A-ST8-1", "final", "Lungs are clear.")),
    ok("status-obr25-p-obx-p", er7(msh("ST8-2"), PID, obr("A-ST8-2", status="P"), obx(1, "TX", LN_F, "Clear.", "P")),
       "ST8-2", want("A-ST8-2", "preliminary", "Clear.")),
    ok("status-obr25-c-obx-c", er7(msh("ST8-3"), PID, obr("A-ST8-3", status="C"), obx(1, "TX", LN_F, "Left.", "C")),
       "ST8-3", want("A-ST8-3", "corrected", "Left.")),
    ok("status-obr25-empty-obx-f-and-c", er7(
        msh("ST8-4"), PID, obr("A-ST8-4", status=""), obx(1, "TX", LN_F, "Clear.", "F"),
        obx(2, "TX", LN_I, "Normal.", "C")), "ST8-4", want("A-ST8-4", "corrected", "Clear.", "Normal.")),
    ok("status-obr25-empty-obx-a", er7(msh("ST8-5"), PID, obr("A-ST8-5", status=""), obx(1, "TX", LN_F, "Clear.", "A")),
       "ST8-5", want("A-ST8-5", "amended", "Clear.")),
    ok("status-obr25-r", er7(msh("ST8-6"), PID, obr("A-ST8-6", status="R"), obx(1, "TX", LN_F, "Clear.", "R")),
       "ST8-6", want("A-ST8-6", "preliminary", "Clear.")),
    ok("status-obr25-a-partial", er7(msh("ST8-7"), PID, obr("A-ST8-7", status="A"), obx(1, "TX", LN_F, "Clear.")),
       "ST8-7", want("A-ST8-7", "partial", "Clear.")),
    ok("status-obr25-x-no-obx", er7(msh("ST8-8"), PID, "ORC|CA||A-ST8-8", obr("A-ST8-8", status="X")), "ST8-8",
       want("A-ST8-8", "cancelled")),
    ok("status-obr25-i-no-obx-notice", er7(msh("ST8-9"), PID, obr("A-ST8-9", status="I")), "ST8-9"),
    ok("status-obr25-s-no-obx-notice", er7(msh("ST8-10", "cerner"), PID, obr("A-ST8-10", status="S")), "ST8-10"),
    ok("status-obr25-o-no-obx-notice", er7(msh("ST8-11", "meditech"), PID, obr("A-ST8-11", status="O")), "ST8-11"),
    bad("status-obr25-f-no-obx", er7(msh("ST8-12"), PID, obr("A-ST8-12", status="F")), "AE", "ST8-12", "101", "OBR^1"),
    ok("status-obr25-lowercase", er7(msh("ST8-13"), PID, obr("A-ST8-13", status="p"), obx(1, "TX", LN_F, "Clear.", "p")),
       "ST8-13", want("A-ST8-13", "preliminary", "Clear.")),
    bad("status-obr25-bad-v23-eld", er7(msh("ST8-14", version="2.3", kind="ORU^R01"), PID, obr("A-ST8-14", status="Q"),
                                        obx(1, "TX", LN_F, "Clear.")), "AE", "ST8-14", "103", "OBR^1^25"),
    bad("status-obx11-bad-v26", er7(msh("ST8-15", version="2.6"), PID, obr("A-ST8-15"), obx(1, "TX", LN_F, "Clear.", "Z")),
        "AE", "ST8-15", "103", "OBX^1^11"),
    ok("status-every-obx-w-retracted", er7(msh("ST8-16"), PID, obr("A-ST8-16"), obx(1, "TX", LN_F, "Wrong patient.", "W")),
       "ST8-16", want("A-ST8-16", "entered-in-error")),
    ok("status-one-obx-d", er7(msh("ST8-17"), PID, obr("A-ST8-17"), obx(1, "TX", LN_F, "Dictation error.", "D"),
                               obx(2, "TX", LN_F, "Lungs clear.")), "ST8-17", want("A-ST8-17", "final", "Lungs clear.")),
    ok("status-obr25-x-with-note", er7(msh("ST8-18"), PID, obr("A-ST8-18", status="X"),
                                       obx(1, "TX", LN_F, "Exam not performed; patient declined.", "X")), "ST8-18",
       want("A-ST8-18", "cancelled", "Exam not performed; patient declined.")),
    ok("status-two-exams-final-and-cancelled", er7(
        msh("ST8-19"), PID, obr("A-ST8-191"), obx(1, "TX", LN_F, "Clear."),
        obr("A-ST8-192", "73030^XR SHOULDER^CPT4", status="X", set_id="2")), "ST8-19",
        want("A-ST8-191", "final", "Clear."), want("A-ST8-192", "cancelled")),
    ok(  # Before: the draft's and the final's texts were joined and the report stayed "preliminary"
        "status-preliminary-then-final-obr-of-one-accession", er7(
            msh("ST8-20", "radai"), PID, obr("A-ST8-20", status="P"), obx(1, "TX", LN_F, "No fracture seen.", "P"),
            obx(2, "TX", LN_I, "Negative (draft).", "P"), obr("A-ST8-20", set_id="2"),
            obx(3, "TX", LN_F, "Subtle nondisplaced fracture of the fifth metatarsal base."),
            obx(4, "TX", LN_I, "Fifth metatarsal base fracture.")), "ST8-20",
        want("A-ST8-20", "final", "Subtle nondisplaced fracture of the fifth metatarsal base.",
             "Fifth metatarsal base fracture.")),
    ok(  # the signed report stands; a draft after it is left out (named in a warning; the raw message is kept)
        "status-final-then-preliminary-obr-keeps-the-signed-text", er7(
            msh("ST8-21"), PID, obr("A-ST8-21"), obx(1, "TX", LN_F, "Lungs clear."),
            obr("A-ST8-21", status="P", set_id="2"), obx(2, "TX", LN_I, "Normal chest.", "P")), "ST8-21",
        want("A-ST8-21", "final", "Lungs clear.")),
    # ---- MSH-18 character sets --------------------------------------------------------------------
    ok("charset-utf8", er7(msh("CS8-1", charset="UNICODE UTF-8"), PID, obr("A-CS8-1"),
                           obx(1, "TX", LN_F, "L\u00e4sion 5 mm, unver\u00e4ndert.")), "CS8-1",
       want("A-CS8-1", "final", "L\u00e4sion 5 mm, unver\u00e4ndert.")),
    ok("charset-8859-15-euro-oe", er7(msh("CS8-2", charset="8859/15"), PID, obr("A-CS8-2"),
                                      obx(1, "TX", LN_F, "\u0152d\u00e8me absent, co\u00fbt 20 \u20ac."),
                                      charset="iso8859-15"), "CS8-2",
       want("A-CS8-2", "final", "\u0152d\u00e8me absent, co\u00fbt 20 \u20ac.")),
    ok("charset-8859-2-polish", er7(msh("CS8-3", charset="8859/2"), PID, obr("A-CS8-3"),
                                    obx(1, "TX", LN_F, "Zmiana \u0142agodna, bez p\u0142ynu."), charset="iso8859-2"),
       "CS8-3", want("A-CS8-3", "final", "Zmiana \u0142agodna, bez p\u0142ynu.")),
    ok("charset-repeated-msh18", er7(msh("CS8-4", charset="UNICODE UTF-8~ISO IR87"), PID, obr("A-CS8-4"),
                                     obx(1, "TX", LN_F, "\u00c9panchement minime.")), "CS8-4",
       want("A-CS8-4", "final", "\u00c9panchement minime.")),
    ok("charset-dicom-name-outside-0211", er7(msh("CS8-5", charset="ISO IR100"), PID, obr("A-CS8-5"),
                                              obx(1, "TX", LN_F, "Kn\u00f6chel ohne Befund."), charset="latin-1"),
       "CS8-5", want("A-CS8-5", "final", "Kn\u00f6chel ohne Befund.")),
    ok("charset-8859-1-declared-utf8-sent", er7(msh("CS8-6", charset="8859/1"), PID, obr("A-CS8-6"),
                                                obx(1, "TX", LN_F, "R\u00e9sultat normal.")), "CS8-6",
       want("A-CS8-6", "final", "R\u00e9sultat normal.")),
    ok("charset-empty-cp1252-quotes", er7(msh("CS8-7", "meditech"), PID, obr("A-CS8-7"),
                                          obx(1, "TX", LN_F, "\u201cGround-glass\u201d opacity \u2013 resolved."),
                                          charset="cp1252"), "CS8-7",
       want("A-CS8-7", "final", "\u201cGround-glass\u201d opacity \u2013 resolved.")),
    ok("charset-ascii-declared-cp1252-sent", er7(msh("CS8-8", "meditech", charset="ASCII", facility="H\u00d4PITAL_ST"),
                                                 PID, obr("A-CS8-8"), obx(1, "TX", LN_F, "Poumons clairs."),
                                                 charset="cp1252"), "CS8-8",
       want("A-CS8-8", "final", "Poumons clairs.")),
    ok("charset-hex-escape-in-utf8", er7(msh("CS8-9", charset="UNICODE UTF-8"), PID, obr("A-CS8-9"),
                                         obx(1, "TX", LN_F, "Diameter \\XC398\\ 9 mm.")), "CS8-9",
       want("A-CS8-9", "final", "Diameter \u00d8 9 mm.")),
    # ---- segment order ----------------------------------------------------------------------------
    bad("order-obx-before-obr", er7(msh("SO8-1"), PID, "ORC|RE||A-SO8-1", obx(1, "TX", LN_F, "Clear."), obr("A-SO8-1")),
        "AE", "SO8-1", "100", "OBX^1"),
    bad("order-pid-between-obr-and-obx", er7(msh("SO8-2"), obr("A-SO8-2"), PID, obx(1, "TX", LN_F, "Clear.")),
        "AE", "SO8-2", "100", "PID^1"),
    bad("order-nte-before-msh", er7("NTE|1|L|Batch from RIS", msh("SO8-3"), PID, obr("A-SO8-3"),
                                    obx(1, "TX", LN_F, "Clear.")), "AE", "", "100", "NTE^1"),
    ok("order-pv1-before-pid-and-z-segments", er7(
        msh("SO8-4", "cerner"), PV1, "ZPI|1|VIP", PID, obr("A-SO8-4"), "ZDS|1.2.840.1^^Application^DICOM",
        obx(1, "TX", LN_F, "Clear."), "ZRP|draft"), "SO8-4", want("A-SO8-4", "final", "Clear.")),
    ok("order-no-pid", er7(msh("SO8-5", "mirth"), obr("A-SO8-5"), obx(1, "TX", LN_F, "Clear.")), "SO8-5",
       want("A-SO8-5", "final", "Clear.", patient_id=None)),
    bad("order-lowercase-segment-id", er7(msh("SO8-6"), PID, obr("A-SO8-6"), "obx|1|TX|" + LN_F + "||Clear.||||||F"),
        "AE", "SO8-6", "100", ""),
    bad("order-dsc-continuation", er7(msh("SO8-7"), PID, obr("A-SO8-7"), obx(1, "TX", LN_F, "Part one."), "DSC|CONT-88"),
        "AE", "SO8-7", "100", "DSC^1^1"),
    bad("order-msh14-continuation", er7(msh("SO8-8", continuation="CONT-88"), PID, obr("A-SO8-8"),
                                        obx(1, "TX", LN_F, "Part two.")), "AE", "SO8-8", "100", "MSH^1^14"),
    ok("order-empty-dsc-tolerated", er7(msh("SO8-9"), PID, obr("A-SO8-9"), obx(1, "TX", LN_F, "Clear."), "DSC|"),
       "SO8-9", want("A-SO8-9", "final", "Clear.")),
    bad("order-no-obr", er7(msh("SO8-10"), PID, PV1, obx(1, "TX", LN_F, "Clear.")), "AE", "SO8-10", "100", "OBX^1"),
    ok(  # Before: AE 100 (segment 5 has no valid segment id): a DOS end-of-file mark after the last segment
        "order-trailing-ctrl-z", er7(msh("SO8-11", "meditech"), PID, obr("A-SO8-11"), obx(1, "TX", LN_F, "Clear."))
        + b"\x1a", "SO8-11", want("A-SO8-11", "final", "Clear.")),
    # ---- missing required fields --------------------------------------------------------------------
    bad("req-msh9", simple("RQ8-1", kind=""), "AE", "RQ8-1", "101", "MSH^1^9"),
    bad("req-msh10", simple("", "cerner"), "AE", "", "101", "MSH^1^10"),
    bad("req-msh11", simple("RQ8-3", processing=""), "AE", "RQ8-3", "101", "MSH^1^11"),
    bad("req-msh12", simple("RQ8-4", version=""), "AE", "RQ8-4", "101", "MSH^1^12"),
    bad("req-obx3", er7(msh("RQ8-5"), PID, obr("A-RQ8-5"), obx(1, "TX", "", "Clear.")), "AE", "RQ8-5", "101", "OBX^1^3"),
    bad("req-obx11", er7(msh("RQ8-6"), PID, obr("A-RQ8-6"), obx(1, "TX", LN_F, "Clear.", "")),
        "AE", "RQ8-6", "101", "OBX^1^11"),
    bad("req-obx2-for-a-value", er7(msh("RQ8-7"), PID, obr("A-RQ8-7"), obx(1, "", LN_F, "Clear.")),
        "AE", "RQ8-7", "101", "OBX^1^2"),
    bad("req-pid3-and-pid2", er7(msh("RQ8-8"), "PID|1|||||SYNTHETIC^NOID||19700101|F", obr("A-RQ8-8"),
                                 obx(1, "TX", LN_F, "Clear.")), "AE", "RQ8-8", "101", "PID^1^3"),
    bad("req-obx11-v24-eld", er7(msh("RQ8-9", version="2.4"), PID, obr("A-RQ8-9"), obx(1, "TX", LN_F, "Clear.", "")),
        "AE", "RQ8-9", "101", "OBX^1^11"),
    bad("req-msh9-trigger", simple("RQ8-10", kind="ORU"), "AE", "RQ8-10", "101", "MSH^1^9^1^2"),
    # ---- MSH encoding characters ---------------------------------------------------------------------
    ok("enc-field-sep-bang", er7(
        msh("EN8-1", "mirth", sep="!"), PID.replace("|", "!"), obr("A-EN8-1", sep="!"),
        obx(1, "TX", LN_F, "A | in text.").replace("|", "!").replace("A ! in", "A | in")), "EN8-1",
        want("A-EN8-1", "final", "A | in text.")),
    ok("enc-escape-dollar", er7(
        msh("EN8-2", "mirth", enc="^~$&"), PID, obr("A-EN8-2"),
        obx(1, "FT", LN_R, "FINDINGS:$.br$C:\\RIS path kept$.br$IMPRESSION:$.br$Normal $T$ stable.")), "EN8-2",
        want("A-EN8-2", "final", "C:\\RIS path kept", "Normal & stable.")),
    ok("enc-v27-truncation-char", er7(
        msh("EN8-3", version="2.7", enc="^~\\&#"), PID, obr("A-EN8-3"),
        obx(1, "TX", LN_F, "Hashtag \\P\\ kept, # raw too.")), "EN8-3",
        want("A-EN8-3", "final", "Hashtag # kept, # raw too.")),
    ok("enc-custom-components", er7(
        msh("EN8-4", "mirth", enc="@*\\%", kind="ORU@R01@ORU_R01"), PID.replace("^", "@").replace("~", "*"),
        obr("A-EN8-4", "71046@XR CHEST@CPT4"), obx(1, "TX", "18782-3@Findings@LN", "Clear^no effusion~ok&stable.")),
        "EN8-4", want("A-EN8-4", "final", "Clear^no effusion~ok&stable.")),
    bad("enc-duplicate-delimiters", simple("EN8-5", enc="^^\\&"), "AE", "", "102", "MSH^1^2"),
    bad("enc-three-chars", simple("EN8-6", enc="^~\\"), "AE", "", "102", "MSH^1^2"),
    # ---- ACK fields: type, event, version, processing id, ack types -------------------------------------
    bad("ack-v23-unsupported-type", simple("AK8-1", version="2.3", kind="ADT^A08"), "AR", "AK8-1", "200", "MSH^1^9"),
    bad("ack-v25-unsupported-event", simple("AK8-2", version="2.5", kind="ORU^R32^ORU_R30"), "AR", "AK8-2", "201",
        "MSH^1^9^1^2"),
    bad("ack-v29-version", simple("AK8-3", version="2.9"), "AR", "AK8-3", "203", "MSH^1^12"),
    bad("ack-v22-version", simple("AK8-4", version="2.2"), "AR", "AK8-4", "203", "MSH^1^12"),
    bad("ack-processing-x", simple("AK8-5", processing="X"), "AR", "AK8-5", "202", "MSH^1^11"),
    ok("ack-processing-with-mode", simple("AK8-6", processing="P^T"), "AK8-6",
       want("A-AK8-6", "final", "Lungs are clear.")),
    ok("ack-processing-debug", simple("AK8-7", processing="D"), "AK8-7", want("A-AK8-7", "final", "Lungs are clear.")),
    ok("ack-version-vid", simple("AK8-8", version="2.4^AUS&&ISO3166_1"), "AK8-8",
       want("A-AK8-8", "final", "Lungs are clear.")),
    bad("ack-msh15-not-in-0155", simple("AK8-9", accept="YES", app="NE"), "CE", "AK8-9", "103", "MSH^1^15"),
    bad("ack-enhanced-error-is-ce", er7(msh("AK8-10", accept="AL", app="AL"), PID, obr("A-AK8-10"),
                                        obx(1, "XX", LN_F, "Clear.")), "CE", "AK8-10", "103", "OBX^1^2"),
    ok("ack-enhanced-er-success-still-ca", simple("AK8-11", accept="ER", app="AL"), "AK8-11",
       want("A-AK8-11", "final", "Lungs are clear."), msa1="CA"),
    ok("ack-msh10-with-escape", simple("AK8\\T\\12"), "AK8\\T\\12", want("A-AK8&12", "final", "Lungs are clear.")),
    ok("ack-v28-no-msa3", simple("AK8-13", version="2.8"), "AK8-13", want("A-AK8-13", "final", "Lungs are clear.")),
    ok("ack-hd-subcomponents", er7(
        msh("AK8-14", sender="EPIC&1.2.840.114350&ISO", facility="SUMMIT&2.16.840.1.1&ISO",
            receiver="RADLITE&1.3.6.1.4.1.9&ISO"), PID, obr("A-AK8-14"), obx(1, "TX", LN_F, "Clear.")), "AK8-14",
       want("A-AK8-14", "final", "Clear.")),
    ok("ack-v231-structure", simple("AK8-15", version="2.3.1", kind="ORU^R01"), "AK8-15",
       want("A-AK8-15", "final", "Lungs are clear.")),
]


# ---- Part 1: the adapter ------------------------------------------------------------------------------


def test_there_are_at_least_eighty_cases() -> None:
    assert len(CASES) >= 80 and len({c.name for c in CASES}) == len(CASES)


def _ack_msh(ack_text: str) -> list[str]:
    return ack_text.lstrip("\ufeff").split("\r")[0].split(ack_text.lstrip("\ufeff")[3])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_round8_ack_and_extraction(case: Case) -> None:
    ack_text, parsed = ack_for(case.raw)
    sep = ack_text.lstrip("\ufeff")[3]
    msa = next(s for s in ack_text.split("\r") if s.startswith("MSA")).split(sep)
    assert (msa[1], msa[2]) == (case.msa1, case.msa2), (case.name, parsed)
    header = peek_header(case.raw)
    ack_msh = _ack_msh(ack_text)
    assert ack_msh[8].split(ack_text[4])[0] == "ACK" and ack_msh[9] and ack_msh[9] != case.msa2, case.name
    if header is not None:
        # MSH-3/4 <-> MSH-5/6 swapped, MSH-11/12 as received, the ACK in the sender's delimiters.
        assert (ack_msh[2], ack_msh[3], ack_msh[4], ack_msh[5]) == (
            header.receiving_app or "RADLITE", header.receiving_facility, header.sending_app, header.sending_facility)
        # (an MSH-11/12 the sender left empty is filled: P, and the version we speak)
        assert (ack_msh[10], ack_msh[11]) == (header.processing_field or "P", header.version_field or "2.5.1"), case.name
        assert ack_text[3:8] == f"{header.field_sep}{header.encoding_chars}"[:5], case.name
        if header.version_tuple >= (2, 7):
            assert len(msa) == 3, case.name  # MSA-3 is withdrawn in v2.7
    assert err_in_own_delimiters(ack_text) == case.err, case.name
    if sep == "|" and ack_text[4:8] == "^~\\&" and header is not None and header.version_tuple >= (2, 3):
        assert err_of(ack_text) == case.err, case.name  # python-hl7 reads the same ERR
    if case.err is not None:
        assert isinstance(parsed, Hl7Error) and (parsed.err_code, parsed.location) == case.err, case.name
        assert "SYNTHETIC" not in parsed.text and "ROMEO" not in parsed.text  # no PHI in the error text
        return
    assert not isinstance(parsed, Hl7Error), (case.name, parsed)
    got = [Want(r.accession, r.status, r.findings, r.impression, r.addendum, r.patient_id) for r in parsed.reports]
    assert got == list(case.reports), case.name


def test_headings_in_plain_text_and_fhir_narrative_read_the_same_way() -> None:
    """adapters/sections.py is shared by the text and FHIR readers: the same headings split there."""
    text = ("PRELIMINARY REPORT\nFINDINGS (preliminary): No effusion.\n***** ADDENDUM *****\nCalled to Dr. Ames.\n"
            "***** END ADDENDUM *****\nIMPRESSIONS/RECOMMENDATIONS: Normal chest.")
    fields = report_fields(text)
    assert fields == {"findings": "PRELIMINARY REPORT\nNo effusion.", "addendum": "Called to Dr. Ames.",
                      "impression": "Normal chest."}


def test_a_code_only_birads_impression_is_read_as_its_category() -> None:
    from models.rules.rads import stated_rads

    case = next(c for c in CASES if c.name == "ce-snomed-birads-code-only")
    (report,) = parse_oru(case.raw).reports
    mention = stated_rads(report)
    assert mention is not None and (mention.system, mention.category) == ("BI-RADS", "4")


def test_ack_message_type_per_version() -> None:
    """MSH-9.3 (message structure) exists from v2.3.1: v2.3 gets ACK^R01, later versions ACK^R01^ACK."""
    for version, expected in (("2.3", "ACK^R01"), ("2.3.1", "ACK^R01^ACK"), ("2.5.1", "ACK^R01^ACK"),
                              ("2.8.2", "ACK^R01^ACK")):
        ack, _parsed = ack_for(simple(f"MT-{version}", version=version, kind="ORU^R01"))
        assert _ack_msh(ack)[8] == expected, version


def test_err_segment_shape_before_and_after_v25() -> None:
    """v2.4: ERR-1 ELD (segment^sequence^field^code&text&HL70357). v2.5+: ERR-2 location, ERR-3 code,
    ERR-4 severity E, ERR-1 empty."""
    raw24 = er7(msh("ERR-24", version="2.4"), PID, obr("A-E24"), obx(1, "TX", LN_F, "Clear.", "Q"))
    err24 = next(s for s in ack_for(raw24)[0].split("\r") if s.startswith("ERR")).split("|")
    assert err24[1] == "OBX^1^11^103&Table value not found&HL70357" and len(err24) == 2
    raw251 = er7(msh("ERR-251"), PID, obr("A-E251"), obx(1, "TX", LN_F, "Clear.", "Q"))
    err251 = next(s for s in ack_for(raw251)[0].split("\r") if s.startswith("ERR")).split("|")
    assert (err251[1], err251[2], err251[3], err251[4]) == ("", "OBX^1^11", "103^Table value not found^HL70357", "E")


def test_ack_names_us_when_msh5_is_empty() -> None:
    # Before: MSH-3 of the ACK was empty (the sender left MSH-5 empty), so it named no answering application.
    raw = er7(msh("NM8-1", receiver="", receiver_facility=""), PID, obr("A-NM8-1"), obx(1, "TX", LN_F, "Clear."))
    ack, _parsed = ack_for(raw)
    assert _ack_msh(ack)[2:6] == ["RADLITE", "", "EPIC", "SUMMIT_RADIANT"]


def test_ack_codec_follows_the_bytes_when_msh18_says_ascii_or_an_unknown_name() -> None:
    # Before: MSH-18 ASCII with cp1252 bytes answered in ASCII ('H?PITAL_ST' echoed in MSH-6), and an
    # MSH-18 outside table 0211 answered in UTF-8 (mojibake for the sender that wrote cp1252).
    for charset in ("ASCII", "ISO IR100"):
        raw = er7(msh("CC8-1", "meditech", charset=charset, facility="H\u00d4PITAL_ST"), PID, obr("A-CC8-1"),
                  obx(1, "TX", LN_F, "Poumons clairs."), charset="cp1252")
        header = peek_header(raw)
        assert header is not None and header.codec == "cp1252", charset
        ack, _parsed = ack_for(raw)
        assert "H\u00d4PITAL_ST" in ack.encode(header.codec).decode("cp1252"), charset
    utf8 = er7(msh("CC8-2", charset="ASCII", facility="H\u00d4PITAL_ST"), PID, obr("A-CC8-2"),
               obx(1, "TX", LN_F, "Clear."))
    header = peek_header(utf8)
    assert header is not None and header.codec == "utf-8"
    assert peek_header(simple("CC8-3")).codec == "utf-8"  # type: ignore[union-attr]
    assert peek_header(simple("CC8-4", charset="8859/1")).codec == "latin-1"  # type: ignore[union-attr]


def test_a_report_sent_as_twenty_thousand_repetitions_is_read_whole() -> None:
    # Before: each repetition split the whole OBX-5 again (quadratic): over a minute for this message.
    lines = [f"Level {i}: no abnormality." for i in range(1, 20001)]
    raw = er7(msh("LG8-1", "cerner"), PID, obr("A-LG8-1"), obx(1, "TX", LN_F, "~".join(lines)),
              obx(2, "CWE", IMP, "~".join(["^Normal"] * 2000)))
    ack, parsed = ack_for(raw)
    assert not isinstance(parsed, Hl7Error)
    (report,) = parsed.reports
    assert report.findings == "\n".join(lines) and report.impression == "\n".join(["Normal"] * 2000)
    assert "MSA|AA|LG8-1" in ack


def test_long_message_of_many_obx_segments() -> None:
    lines = [obx(i, "TX", GDT, f"Line {i} of the dictated report.") for i in range(1, 2501)]
    (report,) = parse_oru(er7(msh("LG8-2", "meditech"), PID, obr("A-LG8-2"), *lines)).reports
    assert report.findings is not None and report.findings.count("\n") == 2499
    assert report.findings.endswith("Line 2500 of the dictated report.")


# ---- batches ----------------------------------------------------------------------------------------------

def _batch(*messages: bytes, fhs: bool = True, count: int | None = None, file_count: int = 1) -> bytes:
    n = len(messages) if count is None else count
    head = b"FHS|^~\\&|EPIC|SUMMIT_RADIANT|RADLITE|SUMMIT_CDS|20261129||||F-88\r" if fhs else b""
    tail = f"FTS|{file_count}\r".encode() if fhs else b""
    return (head + b"BHS|^~\\&|EPIC|SUMMIT_RADIANT|RADLITE|SUMMIT_CDS|20261129||||B-88\r" + b"".join(messages)
            + f"BTS|{n}\r".encode() + tail)


B_GOOD, B_BAD = simple("BT8-1"), simple("BT8-2", version="2.2")
B_AE = er7(msh("BT8-3"), PID, obr("A-BT8-3"), obx(1, "TX", LN_F, "Clear.", "Q"))


def test_batch_reply_echoes_each_message_and_the_batch_control_ids() -> None:
    batch = split_batch(_batch(B_GOOD, B_BAD, B_AE))
    assert batch.all_errors == [] and batch.messages == [B_GOOD, B_BAD, B_AE]
    reply = build_batch_ack(batch, [ack_for(m)[0] for m in batch.messages])
    assert msas(reply.encode()) == [("AA", "BT8-1"), ("AR", "BT8-2"), ("AE", "BT8-3")]
    lines = reply.split("\r")
    fhs, bhs = lines[0].split("|"), lines[1].split("|")
    # FHS-12/BHS-12: the reference control id is the sender's FHS-11/BHS-11; MSH-3 <-> MSH-5 swapped.
    assert (fhs[2], fhs[4], fhs[11]) == ("RADLITE", "EPIC", "F-88") and (bhs[2], bhs[4], bhs[11]) == ("RADLITE", "EPIC", "B-88")
    assert fhs[10] and fhs[10] != "F-88" and "BTS|3" in lines and lines[-2] == "FTS|1"


def test_batch_counts_that_do_not_match_are_said_and_nothing_is_dropped() -> None:
    batch = split_batch(_batch(B_GOOD, B_AE, count=5, file_count=2))
    assert batch.messages == [B_GOOD, B_AE]
    assert sorted((e.err_code, e.location) for e in batch.all_errors) == [("100", "BTS^1^1"), ("100", "FTS^1^1")]
    reply = build_batch_ack(batch, [ack_for(m)[0] for m in batch.messages])
    assert "BTS|2|AE 100" in reply and "FTS|1|AE 100" in reply


def test_empty_batch_is_answered_with_an_empty_batch() -> None:
    batch = split_batch(_batch())
    assert batch.messages == [] and batch.all_errors == []
    reply = build_batch_ack(batch, [])
    assert [s[:5] for s in reply.split("\r") if s] == ["FHS|^", "BHS|^", "BTS|0", "FTS|1"]


# ---- Part 2: the doors (MLLP over TCP and HTTP, SQLite): everything kept and answered ------------------------


_HTTP_CASES = [c for c in CASES if not c.raw.startswith(b"MSH!")]


def test_every_case_over_http_is_kept_and_answered(app_sqlite: Any) -> None:
    app, client = app_sqlite
    for case in _HTTP_CASES:
        response = client.post("/hl7/v2", content=case.raw, headers={"Content-Type": "application/hl7-v2"})
        assert msas(response.content, codec_of(case)) == [(case.msa1, case.msa2)], case.name
        assert response.status_code == (200 if case.msa1 in ("AA", "CA") else 400), case.name
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == [c.raw for c in _HTTP_CASES]
    assert [r.error_code for r in rows] == [c.err[0] if c.err else None for c in _HTTP_CASES]


def test_every_case_over_one_mllp_connection(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=120) as sock:
        for case in CASES:
            sock.sendall(b"\x0b" + case.raw + b"\x1c\r")
            header = peek_header(case.raw)
            if header is not None and not header.wants_accept_ack(error=case.err is not None):
                continue  # enhanced mode, MSH-15 ER and no error: no commit ACK asked for, none sent
            ack = read_frame(sock)
            sep = chr(ack[3]) if ack.startswith(b"MSH") else "|"
            assert f"MSA{sep}{case.msa1}{sep}{case.msa2}".encode(codec_of(case)) in ack, case.name
    assert [r.raw for r in inbound_rows(app)] == [c.raw for c in CASES]


def test_http_ack_bytes_are_in_the_codec_the_message_was_read_in(app_sqlite: Any) -> None:
    _app, client = app_sqlite
    raw = er7(msh("HC8-1", "meditech", charset="ASCII", facility="H\u00d4PITAL_ST"), PID, obr("A-HC8-1"),
              obx(1, "TX", LN_F, "Poumons clairs."), charset="cp1252")
    response = client.post("/hl7/v2", content=raw, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200 and "charset=cp1252" in response.headers["content-type"]
    assert b"|H\xd4PITAL_ST|" in response.content


def test_batch_over_mllp_and_http(app_sqlite: Any) -> None:
    app, client = app_sqlite
    raw = _batch(B_GOOD, B_BAD, B_AE)
    response = client.post("/hl7/v2", content=raw, headers={"Content-Type": "x-application/hl7-v2+er7"})
    assert response.status_code == 400
    assert msas(response.content) == [("AA", "BT8-1"), ("AR", "BT8-2"), ("AE", "BT8-3")]
    again = raw.replace(b"BT8-", b"BM8-")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + again + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "BM8-1"), ("AR", "BM8-2"), ("AE", "BM8-3")]
    assert [r.status for r in inbound_rows(app)] == ["queued", "rejected", "rejected"] * 2


def test_utf16_message_is_answered_in_utf16(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    text = (msh("U16-8", charset="UNICODE UTF-16") + "\r" + PID + "\r" + obr("A-U16-8") + "\r"
            + obx(1, "TX", LN_F, "\u041e\u0447\u0430\u0433\u043e\u0432\u044b\u0445 \u0438\u0437\u043c\u0435\u043d\u0435\u043d\u0438\u0439 \u043d\u0435\u0442.") + "\r")
    raw = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    (report,) = parse_oru(raw).reports
    assert report.findings == "\u041e\u0447\u0430\u0433\u043e\u0432\u044b\u0445 \u0438\u0437\u043c\u0435\u043d\u0435\u043d\u0438\u0439 \u043d\u0435\u0442."
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + raw + b"\x1c\r")
        ack = read_frame(sock)
    assert ack.startswith(codecs.BOM_UTF16_LE)
    assert "MSA|AA|U16-8" in ack.decode("utf-16")



def _utf16_text(cid: str) -> str:
    return (msh(cid, charset="UNICODE UTF-16") + "\r" + PID + "\r" + obr(f"A-{cid}") + "\r"
            + obx(1, "TX", LN_F, "\u0417\u0430\u043a\u043b\u044e\u0447\u0435\u043d\u0438\u0435: \u043d\u043e\u0440\u043c\u0430.")
            + "\r" + obx(2, "TX", LN_I, "\u041c\u0420\u0422 \u0431\u0435\u0437 \u043f\u0430\u0442\u043e\u043b\u043e\u0433\u0438\u0438.")
            + "\r")  # U+041C is 1C 04 in UTF-16LE: an FS byte inside a character


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read_and_answered_in_it(codec: str) -> None:
    # Before: AE 100 (first segment is not MSH) with no MSA-2, answered in UTF-8: .NET's Encoding.Unicode
    # and engines set to UTF-16LE write no byte order mark.
    raw = _utf16_text("NB8-1").encode(codec)
    for sent in (raw, b"\x0b" + raw + b"\x1c\r"):  # bare (HTTP) and still MLLP-framed
        header = peek_header(sent)
        assert header is not None and header.control_id == "NB8-1"
        (report,) = parse_oru(sent).reports
        assert report.findings == "\u0417\u0430\u043a\u043b\u044e\u0447\u0435\u043d\u0438\u0435: \u043d\u043e\u0440\u043c\u0430."
        ack = ack_for(sent)[0].encode(header.codec)
        assert not ack.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and ack.decode(codec).startswith("MSH|")
        assert "MSA|AA|NB8-1" in ack.decode(codec)


def test_framed_utf16_with_a_byte_order_mark_over_http(app_sqlite: Any) -> None:
    # Before: FS CR after a UTF-16 message were read as one more character (U+0D1C), answered AE 100.
    _app, client = app_sqlite
    raw = b"\x0b" + codecs.BOM_UTF16_LE + _utf16_text("NB8-2").encode("utf-16-le") + b"\x1c\r"
    response = client.post("/hl7/v2", content=raw, headers={"Content-Type": "x-application/hl7-v2+er7"})
    assert response.status_code == 200 and "MSA|AA|NB8-2" in response.content.decode("utf-16")


def test_utf16_without_a_byte_order_mark_over_mllp(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    raw = _utf16_text("NB8-3").encode("utf-16-le")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + raw + b"\x1c\r")
        ack = read_frame(sock)
    assert ack.decode("utf-16-le").startswith("MSH|") and "MSA|AA|NB8-3" in ack.decode("utf-16-le")
    assert [r.raw for r in inbound_rows(app)] == [raw]
