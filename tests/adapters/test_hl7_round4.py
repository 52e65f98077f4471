"""HL7 v2 round 4: ORU^R01 in the shapes reporting systems and engines send, and the ACK each gets.

Part 1 (adapter): hand-written messages not in the dev set (synthetic patients) as PowerScribe,
Nuance, Epic Bridges, Cloverleaf, Rhapsody, Philips, GE, Sectra and Mirth write them, v2.3 to
v2.8.2. Each case states the exact ACK an interface analyst expects (MSA-1, MSA-2 = MSH-10, ERR-3
table 0357 code and ERR-2/ERR-1 location; MSH-3..6 swapped, MSH-9 ACK^<event>[^ACK], MSH-12 echoed)
and, when accepted, the report text, accession, status and patient id read from it.

Fixed in this round (each has a case or test saying "Before: ..."): segments indented with blanks
(AE 100 before), ISO 2022 character-set switches \\Cxxyy\\ / \\Mxxyyzz\\ (dropped before, so JIS
text came out as ASCII garbage, and C:\\Clinic\\ paths lost their middle), MSH-18 names outside
table 0211 (ISO-8859-1: the ACK came back in UTF-8), MSH-11/MSH-12 with components echoed whole,
PID-3 with the national id first and the record number typed MRN, a resend that differs only in
line ends, framing or MSH-7 (queued again before), and several MSH in one MLLP frame (all rejected).

Part 2 (doors, real MLLP over TCP and HTTP, SQLite and PostgreSQL): every message kept byte for
byte, retries that differ only in transport or MSH-7 told from new messages, several MSH in one
MLLP frame, MSH-15 ER/SU, and the ACK in the character set the message declares.

Part 3 (worker, real demo model): a final report, its addendum and a correction that reuses the
MSH-10 become three versions of one exam.
"""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hl7_rounds import (
    Case,
    Want,
    ack_for,
    er7,
    err_of,
    inbound_rows,
    msas,
    read_frame,
)
from sqlalchemy import select

from adapters.hl7 import (
    Hl7Error,
    content_key,
    normalise,
    parse_oru,
    peek_header,
    split_batch,
    split_implicit,
    unescape,
)
from plugin.app import create_app
from plugin.storage.tables import InboundMessage, Report

# ---- message builders ---------------------------------------------------------------------------


def msh(
    cid: str,
    *,
    version: str = "2.5.1",
    kind: str = "ORU^R01^ORU_R01",
    accept: str = "",
    app: str = "",
    charset: str = "",
    sender: str = "PSCRIBE|MERCY_RAD",
    receiver: str = "RADLITE|CDS",
    when: str = "20250401101500",
    processing: str = "P",
    enc: str = "^~\\&",
    sep: str = "|",
) -> str:
    """An MSH with every field at its place (MSH-n is list index n - 1); trailing empties dropped."""
    fields = [
        "MSH",
        enc,
        *sender.split("|"),
        *receiver.split("|"),
        when,
        "",
        kind,
        cid,
        processing,
        version,
        "",
        "",
        accept,
        app,
        "",
        charset,
    ]
    while fields and not fields[-1]:
        fields.pop()
    return sep.join(fields)


def obr(
    filler: str,
    service: str = "71046^XR CHEST 2 VIEWS^CPT4",
    *,
    status: str = "F",
    section: str = "RAD",
    placer: str = "",
    when: str = "20250401093000",
    set_id: str = "1",
    issued: str = "",
    sep: str = "|",
) -> str:
    """An OBR with OBR-1/2/3/4/7/22/24/25 set and the rest empty."""
    fields = ["OBR", set_id, placer, filler, service] + [""] * 21
    fields[7], fields[22], fields[24], fields[25] = when, issued, section, status
    return sep.join(fields)


def obx(
    set_id: int, vt: str, ident: str, value: str, status: str = "F", sub: str = "1", sep: str = "|"
) -> str:
    """An OBX with OBX-1/2/3/4/5/11 set (OBX-6..10 empty)."""
    return sep.join(["OBX", str(set_id), vt, ident, sub, value, "", "", "", "", "", status])


LN_F = "18782-3^Radiology Study observation (narrative)^LN"
LN_I = "19005-8^Radiology Imaging study [Impression] (narrative)^LN"
PID = "PID|1||MRN4410^^^MERCY^MR||TESTPATIENT^ALPHA||19600101|F"


def want(accession: str | None, status: str, *sections: str | None, **fields: str | None) -> Want:
    """A report of this file's patient (MRN4410) unless the case names another."""
    return Want(accession, status, *sections, **{"patient_id": "MRN4410", **fields})


# ---- Part 1: the cases --------------------------------------------------------------------------

_LONG = [
    f"Line {i:03d}: vertebral body {i % 24 + 1} height and alignment are preserved." for i in range(1, 401)
]

CASES: list[Case] = [
    # -- PowerScribe 360 v2.5.1: FT report over several OBX with OBX-4 sub-ids, \.in\ and \H\ \N\ --
    Case(
        "powerscribe-ft-subids",
        er7(
            msh("PS-000101"),
            PID,
            "PV1|1|O|CT^^^MERCY",
            "ORC|RE|PL-101|ACC-PS-101",
            obr("ACC-PS-101", "74177^CT ABDOMEN PELVIS W CONTRAST^CPT4", section="CT", placer="PL-101"),
            obx(1, "FT", LN_F, "Liver: normal size.\\.br\\Spleen: normal.", sub="1"),
            obx(2, "FT", LN_F, "Kidneys: \\H\\5 mm\\N\\ nonobstructing left renal stone.", sub="2"),
            "NTE|1|L|Dictated with PowerScribe 360",
            obx(
                3,
                "FT",
                LN_I,
                "\\.in 2\\1. Left nephrolithiasis.\\.br\\\\.in 2\\2. No hydronephrosis.",
                sub="1",
            ),
            "ZPS|1|PowerScribe 360|7.0",
        ),
        "AA",
        "PS-000101",
        None,
        (
            want(
                "ACC-PS-101",
                "final",
                "Liver: normal size.\nSpleen: normal.\nKidneys: 5 mm nonobstructing left renal stone.",
                "  1. Left nephrolithiasis.\n  2. No hydronephrosis.",
            ),
        ),
    ),
    # -- Nuance engine writing one space before every segment after the MSH (CR + space) --
    Case(
        "leading-space-segments",
        er7(
            msh("NU-2201"),
            " " + PID,
            " ORC|RE||ACC-NU-2201",
            " " + obr("ACC-NU-2201", "70450^CT HEAD WO CONTRAST^CPT4", section="CT"),
            " " + obx(1, "TX", "&GDT^Report^L", "FINDINGS: No acute intracranial hemorrhage."),
            " " + obx(2, "TX", "&IMP^Impression^L", "No acute intracranial abnormality."),
        ),
        "AA",
        "NU-2201",
        None,
        (
            want(
                "ACC-NU-2201",
                "final",
                "No acute intracranial hemorrhage.",
                "No acute intracranial abnormality.",
            ),
        ),
    ),
    # -- a hand-built file: LF segment ends with a tab before each segment id --
    Case(
        "lf-tab-indented",
        er7(
            msh("HB-31"),
            "\t" + PID,
            "\t" + obr("ACC-HB-31", "76700^US ABDOMEN^CPT4", section="US"),
            "\t" + obx(1, "TX", LN_F, "Gallbladder without stones."),
            "\t" + obx(2, "TX", LN_I, "Normal study."),
            end="\n",
        ),
        "AA",
        "HB-31",
        None,
        (want("ACC-HB-31", "final", "Gallbladder without stones.", "Normal study."),),
    ),
    # -- Japanese RIS: MSH-18 ASCII~ISO IR87, report lines switched to JIS X 0208 with \M2442\ ... \C2842\ --
    Case(
        "iso2022-jis-switch",
        er7(
            msh("JP-0007", charset="ASCII~ISO IR87"),
            PID,
            obr("ACC-JP-7", "CTCHEST^CT CHEST^L", section="CT"),
            obx(1, "TX", LN_F, "\\M2442\\GYLn\\C2842\\: 5 mm nodule, RUL."),
            obx(2, "TX", LN_I, "\\M2442\\7P2a4Q;!\\C2842\\ (follow-up)."),
        ),
        "AA",
        "JP-0007",
        None,
        (
            want(
                "ACC-JP-7",
                "final",
                "\u80ba\u91ce: 5 mm nodule, RUL.",
                "\u7d4c\u904e\u89b3\u5bdf (follow-up).",
            ),
        ),
    ),
    # -- ISO 2022 single-byte switch to 8859-7 (Greek) in an 8859/1 message: the high bytes follow it --
    Case(
        "iso2022-greek-g1",
        er7(
            msh("GR-14", charset="8859/1"),
            PID,
            obr("ACC-GR-14", "71046^XR CHEST^CPT4"),
            "OBX|1|TX|&GDT^Report^L|1|Lungs clear (\\C2D46\\\u00ea\u00e1\u00eb\u00dc\\C2D41\\).||||||F",
            charset="latin-1",
        ),
        "AA",
        "GR-14",
        None,
        (want("ACC-GR-14", "final", "Lungs clear (\u03ba\u03b1\u03bb\u03ac)."),),
    ),
    # -- a Windows path in free text: \Clinic\ is no character-set switch and stays --
    Case(
        "path-is-not-a-switch",
        er7(
            msh("PATH-1"),
            PID,
            obr("ACC-PATH-1", "73030^XR SHOULDER^CPT4"),
            obx(1, "TX", "&GDT^Report^L", "Key images saved to C:\\Clinic\\Radiology\\img01. No fracture."),
        ),
        "AA",
        "PATH-1",
        None,
        (want("ACC-PATH-1", "final", "Key images saved to C:\\Clinic\\Radiology\\img01. No fracture."),),
    ),
    # -- escape character '/' (MSH-2 ^~/&): dates with slashes survive, /F/ is a pipe --
    Case(
        "slash-escape-character",
        er7(
            msh("SL-9", enc="^~/&"),
            PID,
            obr("ACC-SL-9", "72148^MRI LUMBAR SPINE^CPT4", section="MR"),
            obx(1, "TX", LN_F, "Compared with 01/02/2024. L4-5 /F/ L5-S1 disc bulges."),
            obx(2, "TX", LN_I, "Stable since 01/02/2024."),
        ),
        "AA",
        "SL-9",
        None,
        (
            want(
                "ACC-SL-9",
                "final",
                "Compared with 01/02/2024. L4-5 | L5-S1 disc bulges.",
                "Stable since 01/02/2024.",
            ),
        ),
    ),
    # -- MSH-18 spelled the IANA way (ISO-8859-1), Latin-1 bytes --
    Case(
        "msh18-iana-spelling",
        er7(
            msh("IANA-1", charset="ISO-8859-1", sender="RIS|SAINT-\u00c9TIENNE"),
            PID,
            obr("ACC-IANA-1", "70551^IRM C\u00c9R\u00c9BRALE^L", section="MR"),
            obx(1, "TX", LN_F, "Pas de l\u00e9sion focale."),
            obx(2, "TX", LN_I, "Examen normal."),
            charset="latin-1",
        ),
        "AA",
        "IANA-1",
        None,
        (want("ACC-IANA-1", "final", "Pas de l\u00e9sion focale.", "Examen normal."),),
    ),
    # -- MSH-18 ISO IR6 (table 0211 from v2.8.2: ASCII) --
    Case(
        "msh18-iso-ir6-v282",
        er7(
            msh("IR6-1", version="2.8.2", charset="ISO IR6"),
            PID,
            obr("ACC-IR6-1", "71250^CT CHEST^CPT4", section="CT"),
            obx(1, "TX", LN_F, "No pulmonary nodules."),
            obx(2, "TX", LN_I, "Negative."),
        ),
        "AA",
        "IR6-1",
        None,
        (want("ACC-IR6-1", "final", "No pulmonary nodules.", "Negative."),),
    ),
    # -- Sectra: three exams in one message, the middle one cancelled with no text --
    Case(
        "three-exams-one-cancelled",
        er7(
            msh("SEC-3X"),
            PID,
            "ORC|RE||ACC-SX-1",
            obr("ACC-SX-1", "71260^CT CHEST W^CPT4", section="CT", set_id="1"),
            obx(1, "TX", LN_F, "Chest: no adenopathy."),
            obx(2, "TX", LN_I, "No thoracic metastasis."),
            "ORC|CA||ACC-SX-2",
            obr("ACC-SX-2", "74177^CT ABD PELVIS W^CPT4", section="CT", status="X", set_id="2"),
            "ORC|RE||ACC-SX-3",
            obr("ACC-SX-3", "70486^CT SINUS^CPT4", section="CT", status="P", set_id="3"),
            obx(3, "TX", LN_F, "Mucosal thickening of the left maxillary sinus.", "P"),
            obx(4, "TX", LN_I, "Mild left maxillary sinusitis.", "P"),
        ),
        "AA",
        "SEC-3X",
        None,
        (
            want("ACC-SX-1", "final", "Chest: no adenopathy.", "No thoracic metastasis."),
            want("ACC-SX-2", "cancelled"),
            want(
                "ACC-SX-3",
                "preliminary",
                "Mucosal thickening of the left maxillary sinus.",
                "Mild left maxillary sinusitis.",
            ),
        ),
    ),
    # -- an order NTE next to OBX stays a comment; a patient NTE never is report text --
    Case(
        "nte-order-and-patient",
        er7(
            msh("NTE-77"),
            PID,
            "NTE|1|P|Patient claustrophobic",
            obr("ACC-NTE-77", "73721^MRI KNEE^CPT4", section="MR"),
            "NTE|1|L|Ordered as STAT",
            obx(1, "TX", LN_F, "Intact menisci."),
            obx(2, "TX", LN_I, "Normal knee MRI."),
        ),
        "AA",
        "NTE-77",
        None,
        (want("ACC-NTE-77", "final", "Intact menisci.", "Normal knee MRI."),),
    ),
    # -- OBR-25 A (some results): impression still pending (OBX-11 I, empty) --
    Case(
        "partial-a-pending-impression",
        er7(
            msh("PART-1"),
            PID,
            obr("ACC-PART-1", "78815^PET CT SKULL BASE TO THIGH^CPT4", section="NM", status="A"),
            obx(1, "TX", LN_F, "Hypermetabolic right hilar node, SUV 6.1."),
            obx(2, "TX", LN_I, "", "I"),
        ),
        "AA",
        "PART-1",
        None,
        (want("ACC-PART-1", "partial", "Hypermetabolic right hilar node, SUV 6.1."),),
    ),
    # -- OBR-25 empty, every OBX corrected (C): the report is corrected --
    Case(
        "obx-c-without-obr25",
        er7(
            msh("CORR-0"),
            PID,
            obr("ACC-CORR-0", "71046^XR CHEST^CPT4", status=""),
            obx(1, "TX", LN_F, "Left basilar atelectasis.", "C"),
            obx(2, "TX", LN_I, "Atelectasis, no pneumonia.", "C"),
        ),
        "AA",
        "CORR-0",
        None,
        (want("ACC-CORR-0", "corrected", "Left basilar atelectasis.", "Atelectasis, no pneumonia."),),
    ),
    # -- GE Centricity: addendum in its own OBX with a local code and no suffix --
    Case(
        "addendum-local-code",
        er7(
            msh("GE-ADD-1", version="2.4"),
            PID,
            obr("ACC-GE-1", "76856^US PELVIS^CPT4", section="US", status="C"),
            obx(1, "TX", "GDT^Findings^L", "Uterus normal. 2 cm simple right ovarian cyst.", "C"),
            obx(2, "TX", "IMP^Impression^L", "Simple right ovarian cyst.", "C"),
            obx(3, "TX", "ADDENDUM^Addendum^L", "Addendum: no follow-up needed per guidelines.", "C"),
        ),
        "AA",
        "GE-ADD-1",
        None,
        (
            want(
                "ACC-GE-1",
                "corrected",
                "Uterus normal. 2 cm simple right ovarian cyst.",
                "Simple right ovarian cyst.",
                "Addendum: no follow-up needed per guidelines.",
            ),
        ),
    ),
    # -- Philips IntelliSpace: whole report in one FT OBX with an ADDENDUM heading --
    Case(
        "addendum-heading-in-ft",
        er7(
            msh("PHI-55"),
            PID,
            obr("ACC-PHI-55", "93880^US CAROTID DUPLEX^CPT4", section="US"),
            obx(
                1,
                "FT",
                "&GDT^Report^L",
                "FINDINGS:\\.br\\Less than 50% stenosis of both ICAs.\\.br\\\\.br\\"
                "IMPRESSION:\\.br\\No hemodynamically significant stenosis.\\.br\\\\.br\\"
                "ADDENDUM:\\.br\\Vertebral flow antegrade bilaterally.",
            ),
        ),
        "AA",
        "PHI-55",
        None,
        (
            want(
                "ACC-PHI-55",
                "final",
                "Less than 50% stenosis of both ICAs.",
                "No hemodynamically significant stenosis.",
                "Vertebral flow antegrade bilaterally.",
            ),
        ),
    ),
    # -- a 400-line report, one OBX per line (about 30 kB of text) --
    Case(
        "very-long-report",
        er7(
            msh("LONG-400"),
            PID,
            obr("ACC-LONG-400", "72156^MRI SPINE^CPT4", section="MR"),
            *[obx(i, "TX", LN_F, line) for i, line in enumerate(_LONG, start=1)],
            obx(401, "TX", LN_I, "No compression deformity.", sub="2"),
        ),
        "AA",
        "LONG-400",
        None,
        (want("ACC-LONG-400", "final", "\n".join(_LONG), "No compression deformity."),),
    ),
    # -- blank TX lines between paragraphs are blank lines of the report --
    Case(
        "blank-lines-between-paragraphs",
        er7(
            msh("BL-2"),
            PID,
            obr("ACC-BL-2", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Heart normal."),
            obx(2, "TX", LN_F, ""),
            obx(3, "TX", LN_F, "Lungs clear."),
            obx(4, "TX", LN_I, "Normal chest."),
        ),
        "AA",
        "BL-2",
        None,
        (want("ACC-BL-2", "final", "Heart normal.\n\nLungs clear.", "Normal chest."),),
    ),
    # -- trailing empty fields and component separators everywhere (Cloverleaf pads to full width) --
    Case(
        "cloverleaf-padded",
        er7(
            msh("CLV-8") + "||||||||",
            "PID|1||MRN4410^^^MERCY^MR^^^^|||||||||||||||||||",
            obr("ACC-CLV-8", "71046^XR CHEST^CPT4^^^") + "|||||||||||||||||||",
            obx(1, "TX", LN_F, "No effusion.") + "|||||||||^^^|",
            obx(2, "TX", LN_I, "Clear.") + "||||||",
        ),
        "AA",
        "CLV-8",
        None,
        (want("ACC-CLV-8", "final", "No effusion.", "Clear."),),
    ),
    # -- PID-3: the MR carries an HD assigning authority with subcomponents, after other identifiers --
    Case(
        "pid3-mr-with-hd-subcomponents",
        er7(
            msh("PID-HD"),
            "PID|1||9988776^^^SSA^SS~E1234^^^EPI&1.2.840.114350&ISO^PI~"
            "H-55201^^^MERCY&2.16.840.1.113883.3.7&ISO^MR||ROE^ALEX",
            obr("ACC-PID-HD", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Clear lungs."),
        ),
        "AA",
        "PID-HD",
        None,
        (want("ACC-PID-HD", "final", "Clear lungs.", patient_id="H-55201"),),
    ),
    # -- PID-3: the national id first and the record number typed "MRN" (not table 0203, but common) --
    Case(
        "pid3-ssn-first-then-mrn",
        er7(
            msh("PID-MRN"),
            "PID|1||123-45-6789^^^SSA^SS~V-0091^^^MERCY^VN~K-77120^^^MERCY^MRN||ROE^ALEX",
            obr("ACC-PID-MRN", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Clear lungs."),
        ),
        "AA",
        "PID-MRN",
        None,
        (want("ACC-PID-MRN", "final", "Clear lungs.", patient_id="K-77120"),),
    ),
    # -- PID-3: a licence number first, then an identifier without a type: the latter --
    Case(
        "pid3-licence-then-untyped",
        er7(
            msh("PID-UNT"),
            "PID|1||D1234567^^^OH^DL~55102^^^MERCY||ROE^ALEX",
            obr("ACC-PID-UNT", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Clear lungs."),
        ),
        "AA",
        "PID-UNT",
        None,
        (want("ACC-PID-UNT", "final", "Clear lungs.", patient_id="55102"),),
    ),
    # -- Z-segments after MSH, between OBR and OBX, and at the end; PV2, TQ1, CTI, SPM present --
    Case(
        "z-and-optional-segments",
        er7(
            msh("ZS-1"),
            "ZMI|1|routing",
            PID,
            "PV1|1|I|4W^401^A",
            "PV2|||^Chest pain",
            "ORC|RE||ACC-ZS-1",
            obr("ACC-ZS-1", "71275^CTA CHEST^CPT4", section="CT"),
            "ZOB|1|protocol 7",
            "TQ1|1||||||20250401093000",
            obx(1, "TX", LN_F, "No filling defect."),
            obx(2, "TX", LN_I, "No pulmonary embolism."),
            "CTI|STUDY-77",
            "SPM|1|S-1",
            "ZDS|1.2.840.113619.2.55.3^^Application^DICOM",
        ),
        "AA",
        "ZS-1",
        None,
        (want("ACC-ZS-1", "final", "No filling defect.", "No pulmonary embolism."),),
    ),
    # -- a line retracted (OBX-11 D) among valid ones; a CNE coded impression is the fallback --
    Case(
        "deleted-line-and-cne-impression",
        er7(
            msh("DEL-4"),
            PID,
            obr("ACC-DEL-4", "77067^MAMMO SCREENING^CPT4", section="MG"),
            obx(1, "TX", LN_F, "Scattered fibroglandular tissue."),
            obx(2, "TX", LN_F, "Mass in right breast.", "D"),
            obx(3, "CNE", "36625-2^BI-RADS assessment^LN", "LA10574-8^BI-RADS 2 Benign^LN"),
        ),
        "AA",
        "DEL-4",
        None,
        (want("ACC-DEL-4", "final", "Scattered fibroglandular tissue.", "BI-RADS 2 Benign"),),
    ),
    # -- Epic Bridges v2.3: MSH-9 without structure; the ACK's MSH-9 has none either --
    Case(
        "epic-v23-ack-type",
        er7(
            msh("EPB-23", version="2.3", kind="ORU^R01"),
            "PID|1|MRN4410|MRN4410^^^EPI^MR",
            obr("ACC-EPB-23", "IMG101^XR WRIST 3 VIEWS^EAP"),
            obx(1, "TX", "&GDT^Report^L", "IMPRESSION: No fracture."),
        ),
        "AA",
        "EPB-23",
        None,
        (want("ACC-EPB-23", "final", None, "No fracture."),),
    ),
    # -- MSH-3/4 as HD with universal ids: echoed unchanged in the ACK's MSH-5/6 --
    Case(
        "hd-applications-echoed",
        er7(
            msh("HD-1", sender="RAD_RIS^1.2.3.4.5^ISO|MERCY^2.16.840.1.113883.19^ISO"),
            PID,
            obr("ACC-HD-1", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Clear."),
        ),
        "AA",
        "HD-1",
        None,
        (want("ACC-HD-1", "final", "Clear."),),
    ),
    # -- OBX-5 as repetitions, CRLF line ends, OBX-3 suffix on a LOINC code --
    Case(
        "repetitions-crlf",
        er7(
            msh("REP-5"),
            PID,
            obr("ACC-REP-5", "71271^CT CHEST LDCT^CPT4", section="CT"),
            obx(1, "TX", "71271&GDT^Findings^C4", "6 mm solid nodule RUL.~No emphysema."),
            obx(2, "TX", "71271&IMP^Impression^C4", "Lung-RADS 3.~LDCT in 6 months."),
            end="\r\n",
        ),
        "AA",
        "REP-5",
        None,
        (
            want(
                "ACC-REP-5",
                "final",
                "6 mm solid nodule RUL.\nNo emphysema.",
                "Lung-RADS 3.\nLDCT in 6 months.",
            ),
        ),
    ),
    # -- Australian v2.4: MSH-12 VID with its internationalization code, MSH-11 with a processing mode --
    Case(
        "au-vid-and-processing-mode",
        er7(
            msh("AU-24", version="2.4^AUS&&ISO3166_1", processing="P^T"),
            PID,
            obr("ACC-AU-24", "71046^XR CHEST^CPT4"),
            obx(1, "FT", "&GDT^Report^L", "FINDINGS:\\.br\\Clear.\\.br\\IMPRESSION:\\.br\\Normal."),
        ),
        "AA",
        "AU-24",
        None,
        (want("ACC-AU-24", "final", "Clear.", "Normal."),),
    ),
    Case(
        "au-vid-error-keeps-eld-layout",
        er7(
            msh("AU-24E", version="2.4^AUS&&ISO3166_1", processing="P^T"),
            PID,
            obr("ACC-AU-24E", "71046^XR CHEST^CPT4"),
            obx(1, "FT", "&GDT^Report^L", "Clear.", "Q"),
        ),
        "AE",
        "AU-24E",
        ("103", "OBX^1^11"),
    ),
    # -- v2.8.2, MSH-2 with the truncation character: \P\ gives it back in text --
    Case(
        "v282-truncation-escape",
        er7(
            msh("V282-1", version="2.8.2", enc="^~\\&#"),
            PID,
            obr("ACC-V282-1", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Port \\P\\2 tip in SVC."),
            obx(2, "TX", LN_I, "Satisfactory line position."),
        ),
        "AA",
        "V282-1",
        None,
        (want("ACC-V282-1", "final", "Port #2 tip in SVC.", "Satisfactory line position."),),
    ),
    # ---- enhanced mode ----
    Case(
        "enhanced-empty-msh15-al-msh16",
        er7(
            msh("ENH-1", app="AL"), PID, obr("ACC-ENH-1", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "Clear.")
        ),
        "CA",
        "ENH-1",
        None,
        (want("ACC-ENH-1", "final", "Clear."),),
    ),
    Case(
        "enhanced-al-empty-msh16",
        er7(
            msh("ENH-2", accept="AL"),
            PID,
            obr("ACC-ENH-2", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Clear."),
        ),
        "CA",
        "ENH-2",
        None,
        (want("ACC-ENH-2", "final", "Clear."),),
    ),
    Case(
        "enhanced-bad-obx11-is-ce",
        er7(
            msh("ENH-3", accept="AL", app="NE"),
            PID,
            obr("ACC-ENH-3", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Clear.", "Q"),
        ),
        "CE",
        "ENH-3",
        ("103", "OBX^1^11"),
    ),
    Case(
        "enhanced-mdm-is-cr",
        er7(
            msh("ENH-4", kind="MDM^T02^MDM_T02", accept="AL", app="AL"),
            "EVN|T02|20250401",
            PID,
            "TXA|1|RAD|TX|20250401||||||||DOC-1||||||AU",
            obx(1, "TX", LN_F, "Clear."),
        ),
        "CR",
        "ENH-4",
        ("200", "MSH^1^9"),
    ),
    # ---- messages this receiver does not take ----
    Case(
        "mdm-t02-report-document",
        er7(
            msh("MDM-1", kind="MDM^T02^MDM_T02"),
            "EVN|T02|20250401",
            PID,
            "TXA|1|RAD|TX|20250401||||||||DOC-1||||||AU",
            obx(1, "TX", "&GDT^Report^L", "FINDINGS: Clear."),
        ),
        "AR",
        "MDM-1",
        ("200", "MSH^1^9"),
    ),
    Case(
        "oru-r32-point-of-care",
        er7(
            msh("R32-1", kind="ORU^R32^ORU_R30"),
            PID,
            obr("ACC-R32", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "x"),
        ),
        "AR",
        "R32-1",
        ("201", "MSH^1^9^1^2"),
    ),
    Case(
        "adt-a08-v24-eld",
        er7(msh("A08-1", version="2.4", kind="ADT^A08"), "EVN|A08|20250401", PID, "PV1|1|O"),
        "AR",
        "A08-1",
        ("200", "MSH^1^9"),
    ),
    Case(
        "oru-r01-v29",
        er7(msh("V29-1", version="2.9"), PID, obr("ACC-V29", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "x")),
        "AR",
        "V29-1",
        ("203", "MSH^1^12"),
    ),
    # ---- broken messages ----
    Case(
        "msh12-missing",
        er7(msh("NOVER-1", version=""), PID, obr("ACC-NV", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "x")),
        "AE",
        "NOVER-1",
        ("101", "MSH^1^12"),
    ),
    Case(
        "msh11-missing",
        er7(
            msh("NOPID-1", processing=""), PID, obr("ACC-NP", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "x")
        ),
        "AE",
        "NOPID-1",
        ("101", "MSH^1^11"),
    ),
    Case(
        "msh10-missing-v24-eld",
        er7(msh("", version="2.4"), PID, obr("ACC-N10", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "x")),
        "AE",
        "",
        ("101", "MSH^1^10"),
    ),
    Case(
        "obx3-missing",
        er7(
            msh("NO3-1"),
            PID,
            obr("ACC-NO3", "71046^XR CHEST^CPT4"),
            obx(1, "TX", LN_F, "Clear."),
            obx(2, "TX", "", "Orphan line."),
        ),
        "AE",
        "NO3-1",
        ("101", "OBX^2^3"),
    ),
    Case(
        "obx2-not-in-0125",
        er7(msh("V125-1"), PID, obr("ACC-V125", "71046^XR CHEST^CPT4"), obx(1, "TEXT", LN_F, "Clear.")),
        "AE",
        "V125-1",
        ("103", "OBX^1^2"),
    ),
    Case(
        "obr25-not-in-0123-second-exam",
        er7(
            msh("B25-2"),
            PID,
            obr("ACC-B25-1", "71046^XR CHEST^CPT4", set_id="1"),
            obx(1, "TX", LN_F, "Clear."),
            obr("ACC-B25-2", "71046^XR CHEST^CPT4", status="FINAL", set_id="2"),
            obx(2, "TX", LN_F, "Clear."),
        ),
        "AE",
        "B25-2",
        ("103", "OBR^2^25"),
    ),
    Case(
        "only-images-no-text",
        er7(
            msh("IMG-1"),
            PID,
            obr("ACC-IMG-1", "71046^XR CHEST^CPT4"),
            obx(1, "RP", "IMG^Key image^L", "https://pacs.example/wado?study=1.2.3^WADO^Image^JPEG"),
        ),
        "AE",
        "IMG-1",
        ("101", "OBR^1"),
    ),
    Case(
        "pid-before-msh",
        er7(PID, msh("LATE-1"), obr("ACC-LATE", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "x")),
        "AE",
        "",
        ("100", "PID^1"),
    ),
]


# ---- Part 1: checks -----------------------------------------------------------------------------


def _fields(line: str, sep: str = "|") -> list[str]:
    return line.split(sep)


def _check_header_echo(case: Case, ack_text: str) -> None:
    """MSH-3/4 <-> 5/6 swapped as sent, MSH-9 ACK^<event>[^ACK], MSH-11/12 as received, MSA-2 = MSH-10."""
    header = peek_header(case.raw)
    if header is None:
        assert ack_text.startswith("MSH|^~\\&|RADLITE|"), case.name
        return
    sep = header.field_sep
    ack_msh = _fields(ack_text.split("\r")[0], sep)
    assert ack_msh[1] == header.encoding_chars, case.name
    assert (ack_msh[2], ack_msh[3]) == (header.receiving_app, header.receiving_facility), case.name
    assert (ack_msh[4], ack_msh[5]) == (header.sending_app, header.sending_facility), case.name
    assert ack_msh[9] and ack_msh[9] != header.control_id, case.name  # a control id of its own
    sent = _fields(normalise(case.raw).decode("latin-1").split("\r")[0], sep)
    assert ack_msh[10] == (sent[10] if header.processing_id else "P"), case.name  # MSH-11 as received
    assert ack_msh[11] == (sent[11] if header.version else "2.5.1"), case.name  # MSH-12 as received
    c = header.encoding.component
    expected_type = "ACK" + (c + header.trigger if header.trigger else "")
    if header.trigger and header.version not in ("2.3", "2.2", "2.1"):
        expected_type += c + "ACK"
    assert ack_msh[8] == expected_type, case.name


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_round4_oru_ack_and_extraction(case: Case) -> None:
    ack_text, parsed = ack_for(case.raw)
    header = peek_header(case.raw)
    codec = header.codec if header else "utf-8"
    ack_text = ack_text.encode(codec).decode(codec)
    sep = header.field_sep if header else "|"
    msa = _fields(next(s for s in ack_text.split("\r") if s.startswith("MSA")), sep)
    assert (msa[1], msa[2]) == (case.msa1, case.msa2), case.name
    _check_header_echo(case, ack_text)
    if sep == "|" and (header is None or header.encoding_chars.startswith("^~\\&")):
        assert err_of(ack_text) == case.err, case.name
    if case.err is not None:
        assert isinstance(parsed, Hl7Error) and (parsed.err_code, parsed.location) == case.err, case.name
        return
    assert not isinstance(parsed, Hl7Error), (case.name, parsed)
    assert len(parsed.reports) == len(case.reports), case.name
    for got, want in zip(parsed.reports, case.reports, strict=True):
        assert (got.accession, got.status) == (want.accession, want.status), case.name
        assert got.findings == want.findings, case.name
        assert got.impression == want.impression, case.name
        assert got.addendum == want.addendum, case.name
        assert got.patient_id == want.patient_id, case.name
        assert got.source_format == "hl7v2"


def test_obr7_with_fraction_and_offset_and_obr22_as_issued() -> None:
    raw = er7(
        msh("DTM-1"),
        PID,
        obr("ACC-DTM-1", when="20250401093015.25-0500", issued="20250401101500+0100"),
        obx(1, "TX", LN_F, "Clear."),
    )
    [report] = parse_oru(raw).reports
    assert report.effective == datetime(2025, 4, 1, 9, 30, 15, 250000, tzinfo=timezone(-timedelta(hours=5)))
    assert report.issued == datetime(2025, 4, 1, 10, 15, tzinfo=timezone(timedelta(hours=1)))


def test_multibyte_switch_decodes_the_text_between() -> None:
    assert unescape(r"\M2442\;3ED\C2842\ Taro") == "\u5c71\u7530 Taro"  # JIS X 0208 between the switches
    assert unescape(r"\M242843\0l\C2842\!") == "\uacd7!"  # KS X 1001 (ESC $ ( C)


def test_single_byte_switch_reads_high_bytes_in_the_named_part_of_8859() -> None:
    # ESC - L (ISO 8859-5) then ESC - A (8859-1) again, in a message read as Latin-1.
    assert unescape("\\C2D4C\\\xbf\xe0\xd8\\C2D41\\ \xe9", charset="latin-1") == "\u041f\u0440\u0438 \u00e9"


def test_switch_lookalikes_and_unknown_sets_never_lose_text() -> None:
    assert unescape(r"C:\Cases\M1\file") == r"C:\Cases\M1\file"
    assert unescape(r"x\C2842\y") == "xy"  # back to ASCII: nothing to change
    assert unescape(r"a\C2D5A\b") == "ab"  # a G1 set we do not map: the text stays as sent


def test_content_key_ignores_transport_and_msh7_only() -> None:
    base = [msh("KEY-1"), PID, obr("ACC-KEY", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "Clear.")]
    raw = er7(*base)
    same = [
        er7(*base, end="\r\n"),
        b"\x0b" + raw + b"\x1c\r",
        er7(*base, end="\n") + b"\n\n",
        er7(msh("KEY-1", when="20250401111111"), *base[1:]),
        er7(base[0] + "||||", *[s + "|||" for s in base[1:]]),
        er7(base[0], *[" " + s for s in base[1:]]),
    ]
    assert {content_key(r) for r in same} == {content_key(raw)}
    different = [
        er7(*base[:3], obx(1, "TX", LN_F, "Clear lungs.")),
        er7(*base[:2], obr("ACC-KEY", "71046^XR CHEST^CPT4", status="C"), base[3]),
        er7(msh("KEY-1", sender="OTHER|MERCY_RAD"), *base[1:]),
    ]
    assert len({content_key(r) for r in different} | {content_key(raw)}) == len(different) + 1


def test_split_implicit_only_for_several_msh_without_an_envelope() -> None:
    one = er7(msh("IMP-1"), PID, obr("ACC-IMP-1"), obx(1, "TX", LN_F, "Clear."))
    two = er7(msh("IMP-2"), PID, obr("ACC-IMP-2"), obx(1, "TX", LN_F, "Clear."))
    assert split_implicit(one) is None
    batch = split_implicit(one + two)
    assert batch is not None and batch.implicit
    assert batch.messages == [one, two]
    crlf = split_implicit(one.replace(b"\r", b"\r\n") + two.replace(b"\r", b"\r\n"))
    assert crlf is not None and [peek_header(m).control_id for m in crlf.messages] == ["IMP-1", "IMP-2"]


def test_a_batch_with_indented_segments_splits_at_each_msh() -> None:
    """Before: an indented MSH inside BHS ... BTS did not open a message; it joined the one before."""
    one = er7(msh("BIN-1"), PID, obr("ACC-BIN-1"), obx(1, "TX", LN_F, "Clear."))
    two = er7(msh("BIN-2"), PID, obr("ACC-BIN-2"), obx(1, "TX", LN_F, "Clear."))
    body = b"".join(b" " + seg + b"\r" for seg in (one + two).split(b"\r") if seg)
    batch = split_batch(b"BHS|^~\\&|RIS|MERCY|RADLITE|CDS|20250401\r" + body + b" BTS|2\r")
    assert batch.all_errors == []
    assert [peek_header(m).control_id for m in batch.messages] == ["BIN-1", "BIN-2"]
    assert [parse_oru(m).reports[0].accession for m in batch.messages] == ["ACC-BIN-1", "ACC-BIN-2"]


# ---- Part 2: the doors --------------------------------------------------------------------------


def _case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def test_every_case_over_http_is_kept_byte_for_byte_and_answered(app_mllp: Any) -> None:
    app, client = app_mllp
    for case in CASES:
        response = client.post(
            "/hl7/v2", content=case.raw, headers={"Content-Type": "x-application/hl7-v2+er7"}
        )
        assert msas(response.content) == [(case.msa1, case.msa2)], case.name
        assert response.status_code == (200 if case.msa1 in ("AA", "CA") else 400), case.name
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == [c.raw for c in CASES]
    assert [r.status for r in rows] == ["rejected" if c.err else "queued" for c in CASES]
    assert [r.error_code for r in rows] == [c.err[0] if c.err else None for c in CASES]


def test_every_case_over_one_mllp_connection(app_mllp: Any) -> None:
    app, _ = app_mllp
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=60) as sock:
        for case in CASES:
            sock.sendall(b"\x0b" + case.raw + b"\x1c\r")
            assert msas(read_frame(sock)) == [(case.msa1, case.msa2)], case.name
    assert [r.raw for r in inbound_rows(app)] == [c.raw for c in CASES]


def test_a_resend_differing_in_line_ends_framing_or_msh7_is_a_duplicate(app_mllp: Any) -> None:
    """Before: only a byte-identical resend was a duplicate; a CRLF or re-stamped resend was queued again."""
    app, client = app_mllp
    base = [msh("RES-1"), PID, obr("ACC-RES-1", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "Clear.")]
    sends = [er7(*base), er7(*base, end="\r\n"), er7(msh("RES-1", when="20250401120000"), *base[1:]) + b"\n"]
    for raw in sends:
        response = client.post("/hl7/v2", content=raw, headers={"Content-Type": "application/hl7-v2"})
        assert response.status_code == 200 and msas(response.content) == [("AA", "RES-1")]
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == sends
    assert [r.status for r in rows] == ["queued", "duplicate", "duplicate"]


def test_a_corrected_report_reusing_the_msh10_is_a_new_message(app_mllp: Any) -> None:
    """Same MSH-10 and sender, different content (OBR-25 C, new text): processed, never a duplicate."""
    app, client = app_mllp
    final = er7(msh("REUSE-1"), PID, obr("ACC-REUSE", "71046^XR CHEST^CPT4"), obx(1, "TX", LN_F, "Clear."))
    corrected = er7(
        msh("REUSE-1"),
        PID,
        obr("ACC-REUSE", "71046^XR CHEST^CPT4", status="C"),
        obx(1, "TX", LN_F, "Small left effusion.", "C"),
    )
    for raw in (final, corrected):
        assert msas(client.post("/hl7/v2", content=raw).content) == [("AA", "REUSE-1")]
    assert [r.status for r in inbound_rows(app)] == ["queued", "queued"]


def test_several_msh_in_one_mllp_frame_are_each_stored_and_acked(app_mllp: Any) -> None:
    """Before: the block was one message, rejected AE 100 at MSH^2, and no report in it was read."""
    app, _ = app_mllp
    first = er7(msh("MULTI-A"), PID, obr("ACC-MA"), obx(1, "TX", LN_F, "Clear."))
    second = er7(msh("MULTI-B", accept="AL", app="NE"), PID, obr("ACC-MB"), obx(1, "TX", LN_F, "Clear."))
    broken = er7(msh("MULTI-C"), PID, obr("ACC-MC"), obx(1, "TX", LN_F, "Clear.", "Q"))
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + first + second + broken + b"\x1c\r")
        reply = read_frame(sock)
        assert msas(reply) == [("AA", "MULTI-A"), ("CA", "MULTI-B"), ("AE", "MULTI-C")]
        assert not reply.startswith(b"BHS")  # answered as sent: ACKs one after another, no envelope
        sock.sendall(b"\x0b" + first.replace(b"MULTI-A", b"MULTI-D") + b"\x1c\r")  # connection stays usable
        assert msas(read_frame(sock)) == [("AA", "MULTI-D")]
    rows = inbound_rows(app)
    assert [r.raw for r in rows[:3]] == [first, second, broken]
    assert [r.status for r in rows] == ["queued", "queued", "rejected", "queued"]
    with app.state.sessions() as s:
        whole = s.scalars(select(InboundMessage).where(InboundMessage.status == "batch")).all()
    assert [w.raw for w in whole] == [first + second + broken]  # the block as it came, too


def test_several_msh_in_one_http_body(app_mllp: Any) -> None:
    app, client = app_mllp
    one = er7(msh("HTTP-A"), PID, obr("ACC-HA"), obx(1, "TX", LN_F, "Clear."), end="\n")
    two = er7(msh("HTTP-B"), PID, obr("ACC-HB"), obx(1, "TX", LN_F, "Clear."), end="\n")
    response = client.post("/hl7/v2", content=one + two, headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert msas(response.content) == [("AA", "HTTP-A"), ("AA", "HTTP-B")]
    assert [r.status for r in inbound_rows(app)] == ["queued", "queued"]


def test_a_frame_that_arrives_in_pieces_is_one_message(app_mllp: Any) -> None:
    """TCP gives no message boundaries: VT, the message, FS and CR may each come in a packet of their own."""
    app, _ = app_mllp
    raw = _case("powerscribe-ft-subids").raw.replace(b"PS-000101", b"PS-PIECES")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pieces = [b"\x0b", raw[:7], raw[7:300], raw[300:], b"\x1c", b"\r"]
        for piece in pieces:
            sock.sendall(piece)
        assert msas(read_frame(sock)) == [("AA", "PS-PIECES")]
    assert [r.raw for r in inbound_rows(app)] == [raw]


def test_msh15_su_and_er_answer_only_what_was_asked(app_mllp: Any) -> None:
    """SU: a commit ACK on success only; ER: on error only. Every message stored either way."""
    app, _ = app_mllp
    good = [PID, obr("ACC-SU"), obx(1, "TX", LN_F, "Clear.")]
    bad = [PID, obr("ACC-SU"), obx(1, "TX", LN_F, "Clear.", "Q")]
    sends = [
        er7(msh("SU-BAD", accept="SU", app="NE"), *bad),  # no answer
        er7(msh("SU-OK", accept="SU", app="NE"), *good),  # CA
        er7(msh("ER-OK", accept="ER", app="AL"), *good),  # no answer (the application ACK comes later)
        er7(msh("ER-BAD", accept="ER", app="AL"), *bad),  # CE
    ]
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        for raw in sends:
            sock.sendall(b"\x0b" + raw + b"\x1c\r")
        answers = [msas(read_frame(sock)) for _ in range(2)]
    assert answers == [[("CA", "SU-OK")], [("CE", "ER-BAD")]]
    assert [r.control_id for r in inbound_rows(app)] == ["SU-BAD", "SU-OK", "ER-OK", "ER-BAD"]


def test_ack_for_a_charset_spelled_outside_table_0211_is_in_that_charset(app_mllp: Any) -> None:
    """Before: MSH-18 'ISO-8859-1' was unknown, so the ACK naming it was written in UTF-8."""
    _, client = app_mllp
    case = _case("msh18-iana-spelling")
    response = client.post("/hl7/v2", content=case.raw, headers={"Content-Type": "x-application/hl7-v2+er7"})
    assert response.status_code == 200
    assert b"SAINT-\xc9TIENNE" in response.content  # Latin-1 byte, echoed in MSH-5/6
    assert "8859-1" in response.headers["content-type"]
    assert response.content.split(b"\r")[0].endswith(b"|ISO-8859-1")


# ---- Part 3: the worker keeps versions ----------------------------------------------------------


def _wait_for(predicate: Any, timeout: float = 600.0) -> Any:
    """Poll until the background worker has done its part (not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def test_final_addendum_and_reused_id_correction_are_three_versions(
    sqlite_url: str, ensemble: Any, settings_for: Any
) -> None:
    settings = settings_for(sqlite_url, worker_enabled=True)
    app = create_app(settings, ensemble=ensemble)
    findings, impression = "Right lower lobe consolidation.", "Right lower lobe pneumonia."
    base = [PID, "ORC|RE||ACC-VER-1"]
    final = er7(
        msh("VER-1"), *base, obr("ACC-VER-1"), obx(1, "TX", LN_F, findings), obx(2, "TX", LN_I, impression)
    )
    addendum = er7(
        msh("VER-2"),
        *base,
        obr("ACC-VER-1"),
        obx(1, "TX", LN_F, findings),
        obx(2, "TX", LN_I, impression),
        obx(3, "TX", "55107-7^Addendum^LN", "Called to Dr. Lee 10:05."),
    )
    corrected = er7(
        msh("VER-2"),
        *base,
        obr("ACC-VER-1", status="C"),
        obx(1, "TX", LN_F, findings, "C"),
        obx(2, "TX", LN_I, "Right lower lobe atelectasis, not pneumonia.", "C"),
    )
    with TestClient(app) as client:
        for raw in (final, addendum, addendum, corrected):  # the addendum sent twice: a retry
            assert client.post("/hl7/v2", content=raw).status_code == 200

        def settled() -> list[InboundMessage] | None:
            rows = inbound_rows(app)
            return rows if [r.status for r in rows] == ["done", "done", "duplicate", "done"] else None

        _wait_for(settled)
        with app.state.sessions() as s:
            versions = s.scalars(
                select(Report).where(Report.report_key == "ACC-VER-1").order_by(Report.id)
            ).all()
            got = [
                (v.status, v.report_json["addendum"], v.report_json["impression"], v.superseded_by is None)
                for v in versions
            ]
    assert got == [
        ("final", None, impression, False),
        ("final", "Called to Dr. Lee 10:05.", impression, False),
        ("corrected", None, "Right lower lobe atelectasis, not pneumonia.", True),
    ]
    assert all(v.patient_id == "MRN4410" and v.accession == "ACC-VER-1" for v in versions)
