"""HL7 v2 round 7: ORU^R01 as Epic, Cerner, PowerScribe, an AI-draft vendor and hand-built engine
messages send them, good and broken, through the adapter and both doors.

Part 1 (adapter): v2.3 to v2.8 headers; MSH-1/MSH-2 other than |^~\\&; \\X0D\\ \\X0A\\ \\H\\ \\N\\ \\Zxx\\
escapes; OBX-5 repetitions; OBX-2 TX/FT/ST/CE/CWE/ED (a base64 PDF beside the text); OBX-11 F/C/P/X/D;
corrected reports (OBR-25 C); missing and misordered segments; MSH-9 variants; wrong field counts;
trailing blanks and LF/CRLF ends; empty messages. Each case says the ACK an interface analyst expects
(MSA-1, MSA-2, ERR-3 code and ERR-2 location) and, when accepted, every section of the report text.

Fixed in this round ("Before: ..." on each case or test):
- a PID after the last OBR, or between an OBR and its OBX, was accepted and the report went out
  with no patient (now AE 100 at that PID);
- the PID-2 warning was repeated once per OBR group;
- the results ORU named the OBR-4 code `L` (local) even when the sender's was LOINC or CPT;
- a final report and its correction (OBR-25 C) under one accession in one message were joined, so
  the report said both the wrong and the corrected text (now the corrected sections replace them);
- a UTF-16/UTF-32 message over the MLLP size limit closed the connection with no ACK;
- MLLP: a message left without its end block and started again with a new VT was dropped unseen,
  and a vertical tab (0x0B) inside report text was taken for a start block (text before it lost,
  the rest answered AE 100 with no MSA-2).

Part 2 (doors: real MLLP over TCP and HTTP, SQLite): every case kept and answered; batches
(FHS/BHS) with good and bad messages; control-id reuse; a corrected report superseding the final one;
framing faults (no VT, no CR after FS, NULs between frames, restarted frames, empty frames).
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import socket
import time
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
from sqlalchemy import select

from adapters.hl7 import (
    Hl7Error,
    MshHeader,
    OruHeader,
    analysis_to_oru,
    build_batch_ack,
    parse_oru,
    peek_header,
    split_batch,
)
from models.types import Analysis, RadiologyReport
from plugin.mllp import KEEP_BYTES, MAX_MESSAGE
from plugin.storage import queries
from plugin.storage.db import session_scope
from plugin.storage.tables import Report

# ---- message builders ---------------------------------------------------------------------------

VENDORS = {
    "epic": ("EPIC", "NVH_RADIANT"),
    "cerner": ("HNAM", "CERNER_MILL"),
    "ps360": ("PowerScribe", "NUANCE_PS360"),
    "radai": ("RADAI_DRAFT", "RADAI_CLOUD"),
    "mirth": ("MIRTH_RIS", "LAKESIDE"),
}


def msh(
    cid: str,
    vendor: str = "epic",
    *,
    version: str = "2.5.1",
    kind: str = "ORU^R01^ORU_R01",
    processing: str = "P",
    accept: str = "",
    app: str = "",
    charset: str = "",
    enc: str = "^~\\&",
    sep: str = "|",
) -> str:
    """An MSH from one of the vendors above to RADLITE; trailing empty fields dropped."""
    sender, facility = VENDORS[vendor]
    return msh_segment(cid, sender, facility, "RADLITE", "LAKESIDE_CDS", "20260412083015", version=version, kind=kind,
                       processing=processing, accept=accept, app=app, charset=charset, enc=enc, sep=sep)


def obr(accession: str, service: str = "71045^XR CHEST 1 VIEW^CPT4", *, status: str = "F", section: str = "RAD",
        set_id: str = "1", placer: str = "") -> str:
    """OBR-1/2/3/4/7/22/24/25 and OBR-32 (the reading radiologist) set, the rest empty."""
    fields = ["OBR", set_id, placer, accession, service] + [""] * 28
    fields[7], fields[22], fields[24], fields[25] = "20260412071500", "20260412082900", section, status
    fields[32] = "R8812&KOWALSKI&ANNA&&&DR"
    return "|".join(fields)


PID = "PID|1||LK77031^^^LAKESIDE^MR~998-41-2207^^^SSA^SS||SYNTHETIC^TANGO^M||19580317|M|||22 Test Rd^^Laketon^ZZ^00000"
PV1 = "PV1|1|E|ED^BAY4^^LAKESIDE||||5501^ORDERER^SYN^^^^MD||||||||||||V88120^^^LAKESIDE^VN"
ORC = "ORC|RE|PL{n}^EPIC|{n}^RIS||CM||||20260412071000|||5501^ORDERER^SYN^^^^MD"
LN_ADD = "55107-7^Addendum^LN"
GDT, IMP = "&GDT^Report^L", "&IMP^Impression^L"


def want(accession: str | None, status: str, *sections: str | None, **fields: str | None) -> Want:
    """A report of this file's patient (LK77031) unless the case names another."""
    return Want(accession, status, *sections, **{"patient_id": "LK77031", **fields})


def good(cid: str, accession: str, vendor: str = "epic", *, text: str = "No acute cardiopulmonary process.",
         **kw: Any) -> bytes:
    """A plain valid message (one OBR, one findings OBX) with MSH options `kw`."""
    return er7(msh(cid, vendor, **kw), PID, obr(accession), obx(1, "TX", LN_F, text))


_SWAP = str.maketrans({"|": "~", "~": "|"})
_PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n").decode()

_CERNER_LINES = [
    "EXAM: CT HEAD WITHOUT CONTRAST", "", "FINDINGS:", "No intracranial hemorrhage, mass effect or midline shift.",
    "Gray-white differentiation is preserved.", "Mild chronic small vessel ischemic change.", "",
    "IMPRESSION:", "1. No acute intracranial abnormality.", "2. Mild chronic microvascular ischemic change.",
]

_PS_FT = ("EXAM: MRI LUMBAR SPINE WITHOUT CONTRAST\\.br\\\\.br\\FINDINGS:\\.br\\L4-L5: Broad-based disc bulge "
          "with mild bilateral foraminal narrowing.\\.br\\L5-S1: No canal stenosis.\\.br\\\\.br\\IMPRESSION:\\.br\\"
          "Mild L4-L5 degenerative disc disease without canal stenosis.")

_PS_HEX = ("FINDINGS:\\X0D0A\\Liver: 1.2 cm simple cyst in segment 6.\\X0D0A\\Gallbladder: no stones.\\X0D0A\\"
           "\\X0D0A\\IMPRESSION:\\X0D0A\\Benign hepatic cyst. No follow-up needed.")

CASES: list[Case] = [
    # ---- versions and vendors ----
    Case(  # Cerner Millennium v2.3: one OBX per line under one local code, headings in the text
        "cerner-v23-one-obx-per-line",
        er7(msh("CER-2300", "cerner", version="2.3", kind="ORU^R01"), PID, PV1,
            obr("LK-2300", "CTHEADWO^CT HEAD WO CONTRAST^CERNER", section="CT"),
            *(obx(i, "TX", "RADRPT^Radiology Report^CERNER", line) for i, line in enumerate(_CERNER_LINES, 1))),
        "AA", "CER-2300", None,
        (want("LK-2300", "final", "No intracranial hemorrhage, mass effect or midline shift.\n"
              "Gray-white differentiation is preserved.\nMild chronic small vessel ischemic change.",
              "1. No acute intracranial abnormality.\n2. Mild chronic microvascular ischemic change."),),
    ),
    Case(  # v2.3.1 Epic Radiant: &GDT/&IMP suffixes with sub-ids, ORC before OBR
        "epic-v231-suffixes",
        er7(msh("EP-2310", version="2.3.1"), PID, PV1, ORC.format(n="LK-2310"),
            obr("LK-2310", "IMG5521^CT CHEST W CONTRAST^IMGPROC", section="CT", placer="PLLK-2310"),
            obx(1, "TX", "IMG5521&GDT^Report^IMGPROC", "Lungs: 5 mm RLL nodule.", sub="1"),
            obx(2, "TX", "IMG5521&GDT^Report^IMGPROC", "Mediastinum: no adenopathy.", sub="1"),
            obx(3, "TX", "IMG5521&IMP^Impression^IMGPROC", "5 mm RLL nodule; no follow-up per Fleischner.", sub="2")),
        "AA", "EP-2310", None,
        (want("LK-2310", "final", "Lungs: 5 mm RLL nodule.\nMediastinum: no adenopathy.",
              "5 mm RLL nodule; no follow-up per Fleischner."),),
    ),
    Case(  # PowerScribe 360 v2.4: the whole report in one FT OBX with \.br\ breaks
        "ps360-v24-ft-one-obx",
        er7(msh("PS-2400", "ps360", version="2.4"), PID, obr("LK-2400", "72148^MRI LUMBAR SPINE WO^CPT4", section="MR"),
            obx(1, "FT", GDT, _PS_FT)),
        "AA", "PS-2400", None,
        (want("LK-2400", "final", "L4-L5: Broad-based disc bulge with mild bilateral foraminal narrowing.\n"
              "L5-S1: No canal stenosis.", "Mild L4-L5 degenerative disc disease without canal stenosis."),),
    ),
    Case(  # v2.5 PowerScribe One: hex CR LF escapes as line breaks in one TX
        "ps-one-v25-hex-crlf",
        er7(msh("PS-2500", "ps360", version="2.5"), PID, obr("LK-2500", "76700^US ABDOMEN COMPLETE^CPT4", section="US"),
            obx(1, "TX", LN_R, _PS_HEX)),
        "AA", "PS-2500", None,
        (want("LK-2500", "final", "Liver: 1.2 cm simple cyst in segment 6.\r\nGallbladder: no stones.",
              "Benign hepatic cyst. No follow-up needed."),),
    ),
    Case(  # v2.5.1 LOINC sections, PV1 and ORC, an NTE on the order
        "epic-v251-loinc",
        er7(msh("EP-2510"), PID, PV1, ORC.format(n="LK-2510"), obr("LK-2510"), "NTE|1|L|Portable, semi-upright.",
            obx(1, "TX", LN_F, "Right IJ line tip in the SVC."), obx(2, "TX", LN_F, "No pneumothorax."),
            obx(3, "TX", LN_I, "Line in satisfactory position.")),
        "AA", "EP-2510", None,
        (want("LK-2510", "final", "Right IJ line tip in the SVC.\nNo pneumothorax.", "Line in satisfactory position."),),
    ),
    Case(  # v2.6 Mirth-routed: CWE impression next to text findings
        "mirth-v26-cwe-impression",
        er7(msh("MR-2600", "mirth", version="2.6"), PID, obr("LK-2600", "77067^MAMMO SCREENING BILAT^CPT4", section="MG"),
            obx(1, "TX", LN_F, "Scattered fibroglandular densities. No suspicious findings."),
            obx(2, "CWE", LN_I, "LA-BR1^BI-RADS 1 Negative^LN")),
        "AA", "MR-2600", None,
        (want("LK-2600", "final", "Scattered fibroglandular densities. No suspicious findings.", "BI-RADS 1 Negative"),),
    ),
    Case(  # v2.7: the truncation character in MSH-2, CWE original text
        "epic-v27-truncation-char",
        er7(msh("EP-2700", version="2.7", enc="^~\\&#"), PID, obr("LK-2700", "74177^CT ABD PELVIS W^CPT4", section="CT"),
            obx(1, "TX", LN_F, "Appendix normal. Lesion \\P\\3 stable."), obx(2, "CWE", LN_I, "^^^^^^^^No appendicitis")),
        "AA", "EP-2700", None,
        (want("LK-2700", "final", "Appendix normal. Lesion #3 stable.", "No appendicitis"),),
    ),
    Case(  # v2.8 AI draft vendor: OBR-25 P, OBX-11 P
        "radai-v28-preliminary",
        er7(msh("RA-2800", "radai", version="2.8"), PID, obr("LK-2800", "71250^CT CHEST WO^CPT4", section="CT", status="P"),
            obx(1, "TX", LN_F, "Stable 4 mm LUL nodule.", "P"), obx(2, "TX", LN_I, "Draft: stable benign-appearing nodule.", "P"),
            "NTE|1|L|Draft impression generated for radiologist review."),
        "AA", "RA-2800", None,
        (want("LK-2800", "preliminary", "Stable 4 mm LUL nodule.", "Draft: stable benign-appearing nodule."),),
    ),
    Case("v28-training-processing-id", good("EP-2801", "LK-2801", version="2.8", processing="T"), "AA", "EP-2801", None,
         (want("LK-2801", "final", "No acute cardiopulmonary process."),)),
    # errors per version: ERR-1 (ELD) before v2.5, ERR-2/ERR-3 from v2.5 on
    Case("v23-missing-obx11-eld",
         er7(msh("CER-2301", "cerner", version="2.3", kind="ORU^R01"), PID, obr("LK-2301"), obx(1, "TX", LN_F, "Clear.", "")),
         "AE", "CER-2301", ("101", "OBX^1^11")),
    Case("v24-bad-obr25-eld",
         er7(msh("PS-2401", "ps360", version="2.4"), PID, obr("LK-2401", status="FINAL"), obx(1, "TX", LN_F, "Clear.")),
         "AE", "PS-2401", ("103", "OBR^1^25")),
    Case("v26-bad-obx11",
         er7(msh("MR-2601", "mirth", version="2.6"), PID, obr("LK-2601"), obx(1, "TX", LN_F, "Clear.", "Q")),
         "AE", "MR-2601", ("103", "OBX^1^11")),
    Case("v27-obx2-unknown",
         er7(msh("EP-2701", version="2.7"), PID, obr("LK-2701"), obx(1, "TEXT", LN_F, "Clear.")),
         "AE", "EP-2701", ("103", "OBX^1^2")),
    Case("v28-obx3-missing",
         er7(msh("RA-2801", "radai", version="2.8"), PID, obr("LK-2802"), obx(1, "TX", "", "Clear.")),
         "AE", "RA-2801", ("101", "OBX^1^3")),
    Case("v21-unsupported", good("MR-2100", "LK-2100", "mirth", version="2.1"), "AR", "MR-2100", ("203", "MSH^1^12")),
    Case("version-with-prefix", good("MR-2101", "LK-2101", "mirth", version="v2.5"), "AR", "MR-2101", ("203", "MSH^1^12")),
    Case(  # MSH-12 as a VID with its internationalization code: the version is the first component
        "version-vid-components", good("EP-2511", "LK-2511", version="2.5.1^USA"), "AA", "EP-2511", None,
        (want("LK-2511", "final", "No acute cardiopulmonary process."),)),
    # ---- delimiters ----
    Case(  # component '@', repetition '*', subcomponent '%': a '^', '~' or '&' in the text is text
        "delims-at-star-percent",
        er7(msh("MR-D1", "mirth", enc="@*\\%", kind="ORU@R01@ORU_R01"), PID.replace("^", "@").replace("~", "*"),
            obr("LK-D1", "71045@XR CHEST 1 VIEW@CPT4").replace("&", "%"),
            obx(1, "TX", "18782-3@Findings@LN", "Tip at T4~T5 level; ^ marks apex & base.*Second line."),
            obx(2, "TX", "19005-8@Impression@LN", "Tube in position.")),
        "AA", "MR-D1", None,
        (want("LK-D1", "final", "Tip at T4~T5 level; ^ marks apex & base.\nSecond line.", "Tube in position."),),
    ),
    Case(  # field separator '~' and repetition '|' (MSH-2 swaps them): a '|' in OBX-5 repeats the value
        "delims-field-tilde",
        er7(*(seg.translate(_SWAP) for seg in (msh("MR-D2", "mirth"), PID, obr("LK-D2"),
                                               obx(1, "TX", LN_F, "Tip at T4\\R\\T5.~Line B.")))),
        "AA", "MR-D2", None, (want("LK-D2", "final", "Tip at T4|T5.\nLine B."),),
    ),
    Case(  # escape character '/' : /T/ is '&', /.br/ a line break, a backslash is text
        "delims-escape-slash",
        er7(msh("MR-D3", "mirth", enc="^~/&"), PID, obr("LK-D3"),
            obx(1, "FT", LN_R, "FINDINGS: Share \\\\srv\\pacs /T/ priors reviewed./.br/IMPRESSION: No change.")),
        "AA", "MR-D3", None, (want("LK-D3", "final", "Share \\\\srv\\pacs & priors reviewed.", "No change."),),
    ),
    Case("msh2-alnum-delimiter", good("MR-D4", "LK-D4", "mirth", enc="^~\\A"), "AE", "", ("102", "MSH^1^2")),
    Case("msh2-six-chars", good("MR-D5", "LK-D5", "mirth", enc="^~\\&#!"), "AE", "", ("102", "MSH^1^2")),
    # ---- escapes ----
    Case(  # \H\ \N\ highlighting and a local \Zxx\ escape carry no text
        "escape-highlight-and-local",
        er7(msh("EP-E1"), PID, obr("LK-E1"),
            obx(1, "TX", LN_F, "\\H\\Large\\N\\ right pneumothorax\\Z5F\\ with mediastinal shift."),
            obx(2, "TX", LN_I, "\\H\\CRITICAL:\\N\\ tension pneumothorax; called to Dr. Ruiz 08:20.")),
        "AA", "EP-E1", None,
        (want("LK-E1", "final", "Large right pneumothorax with mediastinal shift.",
              "CRITICAL: tension pneumothorax; called to Dr. Ruiz 08:20."),),
    ),
    Case(  # delimiter escapes in TX: \F\ \S\ \T\ \R\ \E\
        "escape-delimiters-in-tx",
        er7(msh("EP-E2"), PID, obr("LK-E2"),
            obx(1, "TX", LN_F, "Ratio 2\\S\\1; L\\F\\R symmetric; cyst \\T\\ septation; A\\R\\B; path C:\\E\\RIS.")),
        "AA", "EP-E2", None, (want("LK-E2", "final", "Ratio 2^1; L|R symmetric; cyst & septation; A~B; path C:\\RIS."),),
    ),
    Case(  # \X0D\ alone (a CR) as line breaks in FT, and an unknown escape kept as sent
        "escape-hex-cr-and-unknown",
        er7(msh("PS-E3", "ps360"), PID, obr("LK-E3"),
            obx(1, "FT", LN_R, "FINDINGS:\\X0D\\Heart normal.\\X0D\\Lungs clear \\Q\\ bilaterally.\\X0D\\IMPRESSION:\\X0D\\Normal.")),
        "AA", "PS-E3", None, (want("LK-E3", "final", "Heart normal.\rLungs clear \\Q\\ bilaterally.", "Normal."),),
    ),
    Case(  # FT indent and skip commands
        "escape-ft-indent-skip",
        er7(msh("PS-E4", "ps360"), PID, obr("LK-E4"),
            obx(1, "FT", LN_F, "Measurements:\\.br\\\\.in 4\\Right kidney 10.8 cm\\.br\\\\.in 4\\Left kidney\\.sk 1\\11.1 cm")),
        "AA", "PS-E4", None, (want("LK-E4", "final", "Measurements:\n    Right kidney 10.8 cm\n    Left kidney 11.1 cm"),),
    ),
    # ---- OBX-5 repetitions and value types ----
    Case(  # repeated OBX-5 for findings and impression lines
        "obx5-repetitions",
        er7(msh("EP-R1"), PID, obr("LK-R1", "70450^CT HEAD WO^CPT4", section="CT"),
            obx(1, "TX", LN_F, "No hemorrhage.~No mass effect.~Ventricles normal in size."),
            obx(2, "TX", LN_I, "1. No acute intracranial process.~2. Sinus disease.")),
        "AA", "EP-R1", None,
        (want("LK-R1", "final", "No hemorrhage.\nNo mass effect.\nVentricles normal in size.",
              "1. No acute intracranial process.\n2. Sinus disease."),),
    ),
    Case(  # ST lines under local codes named by OBX-3 text
        "st-local-codes",
        er7(msh("MR-R2", "mirth", version="2.4"), PID, obr("LK-R2"),
            obx(1, "ST", "RPT-F^Findings^99LAKE", "Mild cardiomegaly.", sub="1"),
            obx(2, "ST", "RPT-I^Impression^99LAKE", "Cardiomegaly without edema.", sub="2")),
        "AA", "MR-R2", None, (want("LK-R2", "final", "Mild cardiomegaly.", "Cardiomegaly without edema."),),
    ),
    Case(  # CE impression (v2.4) with code and text
        "ce-impression-sct",
        er7(msh("PS-R3", "ps360", version="2.4"), PID, obr("LK-R3", "77067^MAMMO SCREENING^CPT4", section="MG"),
            obx(1, "TX", GDT, "Heterogeneously dense breasts. No suspicious mass."),
            obx(2, "CE", IMP, "397143007^Mammography assessment (Category 2) - Benign^SCT")),
        "AA", "PS-R3", None,
        (want("LK-R3", "final", "Heterogeneously dense breasts. No suspicious mass.",
              "Mammography assessment (Category 2) - Benign"),),
    ),
    Case(  # ED: a base64 PDF of the report beside its text; the PDF is not report text
        "ed-pdf-beside-text",
        er7(msh("EP-R4"), PID, obr("LK-R4"), obx(1, "TX", LN_F, "Lungs clear."), obx(2, "TX", LN_I, "Normal chest."),
            obx(3, "ED", "18748-4^Diagnostic imaging study^LN", f"RIS^AP^PDF^Base64^{_PDF}")),
        "AA", "EP-R4", None, (want("LK-R4", "final", "Lungs clear.", "Normal chest."),),
    ),
    Case(  # ED first, text after it
        "ed-pdf-before-text",
        er7(msh("PS-R5", "ps360"), PID, obr("LK-R5"), obx(1, "ED", "PDF^Report PDF^99LAKE", f"^AP^PDF^Base64^{_PDF}"),
            obx(2, "FT", LN_R, "FINDINGS: Mild bibasilar atelectasis.\\.br\\IMPRESSION: Atelectasis.")),
        "AA", "PS-R5", None, (want("LK-R5", "final", "Mild bibasilar atelectasis.", "Atelectasis."),),
    ),
    Case(  # only a PDF: no report text to read, and the sender is told why
        "ed-pdf-only", er7(msh("PS-R6", "ps360"), PID, obr("LK-R6"), obx(1, "ED", LN_R, f"^AP^PDF^Base64^{_PDF}")),
        "AE", "PS-R6", ("101", "OBR^1"),
    ),
    Case(  # NM measurement OBX next to the text: not report text, text read in full
        "nm-measurement-beside-text",
        er7(msh("EP-R7"), PID, obr("LK-R7", "76536^US THYROID^CPT4", section="US"),
            obx(1, "TX", LN_F, "Right lobe nodule 1.4 cm, solid, hypoechoic."),
            obx(2, "NM", "RID50149^Nodule size^RADLEX", "14", sub="1"), obx(3, "TX", LN_I, "TI-RADS 4. FNA recommended.")),
        "AA", "EP-R7", None,
        (want("LK-R7", "final", "Right lobe nodule 1.4 cm, solid, hypoechoic.", "TI-RADS 4. FNA recommended."),),
    ),
    # ---- OBX-11 and OBR-25 statuses ----
    Case("obx11-f-obr25-empty", er7(msh("EP-S1"), PID, obr("LK-S1", status=""), obx(1, "TX", LN_F, "No fracture.")),
         "AA", "EP-S1", None, (want("LK-S1", "final", "No fracture."),)),
    Case(  # OBR-25 C with OBX-11 C: a corrected report
        "obr25-c-corrected",
        er7(msh("EP-S2"), PID, obr("LK-S2", status="C"), obx(1, "TX", LN_F, "LEFT lower lobe opacity (corrected side).", "C"),
            obx(2, "TX", LN_I, "Left lower lobe pneumonia.", "C")),
        "AA", "EP-S2", None, (want("LK-S2", "corrected", "LEFT lower lobe opacity (corrected side).", "Left lower lobe pneumonia."),),
    ),
    Case(  # OBR-25 empty, OBX-11 P on some lines: preliminary
        "obx11-p-obr25-empty",
        er7(msh("RA-S3", "radai"), PID, obr("LK-S3", status=""), obx(1, "TX", LN_F, "Possible small effusion.", "P"),
            obx(2, "TX", LN_I, "Possible effusion; final read pending.", "P")),
        "AA", "RA-S3", None, (want("LK-S3", "preliminary", "Possible small effusion.", "Possible effusion; final read pending."),),
    ),
    Case(  # OBX-11 D on a deleted line: that line is left out, the rest read
        "obx11-d-line-left-out",
        er7(msh("EP-S4"), PID, obr("LK-S4", status="C"), obx(1, "TX", LN_F, "Right rib fracture.", "D"),
            obx(2, "TX", LN_F, "No rib fracture.", "C"), obx(3, "TX", LN_I, "No acute osseous abnormality.", "C")),
        "AA", "EP-S4", None, (want("LK-S4", "corrected", "No rib fracture.", "No acute osseous abnormality."),),
    ),
    Case(  # OBX-11 X on every line: results cannot be obtained; the note is kept, status cancelled
        "obx11-x-not-obtained",
        er7(msh("MR-S5", "mirth"), PID, obr("LK-S5", status=""), obx(1, "TX", LN_F, "Exam not performed: patient left.", "X")),
        "AA", "MR-S5", None, (want("LK-S5", "cancelled", "Exam not performed: patient left."),),
    ),
    Case(  # OBR-25 X, no OBX, ORC-1 CA: a cancelled exam is kept as cancelled
        "obr25-x-cancelled-no-obx",
        er7(msh("EP-S6"), PID, "ORC|CA|PLLK-S6|LK-S6", obr("LK-S6", status="X")),
        "AA", "EP-S6", None, (want("LK-S6", "cancelled"),),
    ),
    Case(  # OBR-25 A (some results) with F lines
        "obr25-a-partial",
        er7(msh("EP-S7"), PID, obr("LK-S7", status="A"), obx(1, "TX", LN_F, "Preliminary chest findings unremarkable.")),
        "AA", "EP-S7", None, (want("LK-S7", "partial", "Preliminary chest findings unremarkable."),),
    ),
    Case("obx11-lowercase-f", er7(msh("MR-S8", "mirth"), PID, obr("LK-S8"), obx(1, "TX", LN_F, "Clear.", "f")),
         "AA", "MR-S8", None, (want("LK-S8", "final", "Clear."),)),
    # ---- missing and misordered segments ----
    Case(  # Before: AA with no patient. A PID after the last OBR heads no result
        "pid-after-obr",
        er7(msh("MR-O1", "mirth"), obr("LK-O1"), obx(1, "TX", LN_F, "Clear."), PID),
        "AE", "MR-O1", ("100", "PID^1"),
    ),
    Case(  # Before: AA with no patient. A PID between an OBR and its OBX
        "pid-between-obr-and-obx",
        er7(msh("MR-O2", "mirth"), obr("LK-O2"), PID, obx(1, "TX", LN_F, "Clear.")),
        "AE", "MR-O2", ("100", "PID^1"),
    ),
    Case(  # two PID in a row: the first heads nothing
        "two-pid-in-a-row",
        er7(msh("MR-O3", "mirth"), "PID|1||LK11111^^^LAKESIDE^MR||SYNTHETIC^FIRST", PID.replace("PID|1", "PID|2"),
            obr("LK-O3"), obx(1, "TX", LN_F, "Clear.")),
        "AE", "MR-O3", ("100", "PID^1"),
    ),
    Case(  # no PID at all (the PATIENT group is optional): accepted, no patient id
        "no-pid",
        er7(msh("MR-O4", "mirth"), obr("LK-O4"), obx(1, "TX", LN_F, "Clear.")),
        "AA", "MR-O4", None, (want("LK-O4", "final", "Clear.", patient_id=None),),
    ),
    Case("no-obr", er7(msh("MR-O5", "mirth"), PID, PV1, "ORC|RE||LK-O5"), "AE", "MR-O5", ("100", "OBR^1")),
    Case("obx-before-obr", er7(msh("MR-O6", "mirth"), PID, obx(1, "TX", LN_F, "Clear."), obr("LK-O6")),
         "AE", "MR-O6", ("100", "OBX^1")),
    Case("msh-not-first", er7(PID, msh("MR-O7", "mirth"), obr("LK-O7"), obx(1, "TX", LN_F, "Clear.")),
         "AE", "", ("100", "PID^1")),
    Case(  # PV1 before PID and Z-segments: tolerated
        "pv1-before-pid-and-z",
        er7(msh("EP-O8"), "ZEP|1|RADIANT", PV1, PID, obr("LK-O8"), "ZDS|1.2.840.113619.2.55.3.1^RADIANT^Application^DICOM",
            obx(1, "TX", LN_F, "Clear."), obx(2, "TX", LN_I, "Normal.")),
        "AA", "EP-O8", None, (want("LK-O8", "final", "Clear.", "Normal."),),
    ),
    Case(  # two MSH in one message read as one: the second is out of place
        "second-msh-inside",
        er7(msh("MR-O9", "mirth"), PID, obr("LK-O9"), obx(1, "TX", LN_F, "Clear."), "BHS|^~\\&|MIRTH_RIS"),
        "AE", "MR-O9", ("100", "BHS^1"),
    ),
    Case(  # a segment with a lower-case id
        "bad-segment-id", er7(msh("MR-O10", "mirth"), PID, "obr|1||LK-O10", obx(1, "TX", LN_F, "Clear.")),
        "AE", "MR-O10", ("100", ""),
    ),
    # ---- MSH-9 ----
    Case("msh9-no-structure", good("CER-T1", "LK-T1", "cerner", kind="ORU^R01"), "AA", "CER-T1", None,
         (want("LK-T1", "final", "No acute cardiopulmonary process."),)),
    Case("msh9-oru-r30", good("EP-T2", "LK-T2", kind="ORU^R30"), "AR", "EP-T2", ("201", "MSH^1^9^1^2")),
    Case("msh9-oru-r30-structure", good("EP-T3", "LK-T3", kind="ORU^R30^ORU_R30"), "AR", "EP-T3", ("201", "MSH^1^9^1^2")),
    Case("msh9-orm-o01", good("EP-T4", "LK-T4", kind="ORM^O01^ORM_O01"), "AR", "EP-T4", ("200", "MSH^1^9")),
    Case("msh9-mdm-t02", good("PS-T5", "LK-T5", "ps360", kind="MDM^T02^MDM_T02"), "AR", "PS-T5", ("200", "MSH^1^9")),
    Case("msh9-empty", good("EP-T6", "LK-T6", kind=""), "AE", "EP-T6", ("101", "MSH^1^9")),
    Case("msh9-lowercase", good("MR-T7", "LK-T7", "mirth", kind="oru^r01"), "AA", "MR-T7", None,
         (want("LK-T7", "final", "No acute cardiopulmonary process."),)),
    Case("msh9-trailing-component", good("MR-T8", "LK-T8", "mirth", kind="ORU^R01^ORU_R01^"), "AA", "MR-T8", None,
         (want("LK-T8", "final", "No acute cardiopulmonary process."),)),
    # ---- wrong field counts ----
    Case(  # MSH cut after MSH-11: no version
        "msh-cut-after-msh11",
        er7("MSH|^~\\&|MIRTH_RIS|LAKESIDE|RADLITE|LAKESIDE_CDS|20260412083015||ORU^R01|MR-F1|P", PID, obr("LK-F1"),
            obx(1, "TX", LN_F, "Clear.")),
        "AE", "MR-F1", ("101", "MSH^1^12"),
    ),
    Case(  # OBX with one field too many after OBX-2: OBX-3 empty, the code lands in OBX-4
        "obx-extra-field-shift",
        er7(msh("MR-F2", "mirth"), PID, obr("LK-F2"), "OBX|1|TX||18782-3^Findings^LN|1|Clear.||||||F"),
        "AE", "MR-F2", ("101", "OBX^1^3"),
    ),
    Case(  # OBX with one field too few: the status lands in OBX-10, OBX-11 is empty
        "obx-missing-field-shift",
        er7(msh("MR-F3", "mirth"), PID, obr("LK-F3"), "OBX|1|TX|18782-3^Findings^LN||Clear.|||||F"),
        "AE", "MR-F3", ("101", "OBX^1^11"),
    ),
    Case(  # OBX with many trailing empty fields past OBX-25: fine
        "obx-many-trailing-fields",
        er7(msh("EP-F4"), PID, obr("LK-F4"), obx(1, "TX", LN_F, "Clear.") + "|" * 30),
        "AA", "EP-F4", None, (want("LK-F4", "final", "Clear."),),
    ),
    Case(  # a short OBR (OBR-1..4 only): still an exam with its accession
        "short-obr",
        er7(msh("CER-F5", "cerner", version="2.3"), PID, "OBR|1||LK-F5|71045^XR CHEST 1 VIEW^CPT4", obx(1, "TX", LN_F, "Clear.")),
        "AA", "CER-F5", None, (want("LK-F5", "final", "Clear."),),
    ),
    # ---- trailing blanks, line ends, empties ----
    Case(  # CRLF ends, blanks after segments and blank lines at the end
        "crlf-trailing-blanks",
        er7(msh("MR-W1", "mirth") + "  ", PID + "\t", obr("LK-W1"), obx(1, "TX", LN_F, "Clear.") + " ", end="\r\n") + b"\r\n \r\n\n",
        "AA", "MR-W1", None, (want("LK-W1", "final", "Clear."),),
    ),
    Case(  # LF only, as a hand-built test file
        "lf-only",
        er7(msh("MR-W2", "mirth"), PID, obr("LK-W2"), obx(1, "TX", LN_F, "Clear."), obx(2, "TX", LN_I, "Normal."), end="\n"),
        "AA", "MR-W2", None, (want("LK-W2", "final", "Clear.", "Normal."),),
    ),
    Case(  # leading blank lines and a UTF-8 byte order mark
        "leading-bom-and-blank-lines",
        b"\r\n\r\n\xef\xbb\xbf" + good("MR-W3", "LK-W3", "mirth"),
        "AA", "MR-W3", None, (want("LK-W3", "final", "No acute cardiopulmonary process."),),
    ),
    Case(  # TX keeps the spaces a line starts with (indented lists)
        "tx-leading-spaces-kept",
        er7(msh("CER-W4", "cerner", version="2.3"), PID, obr("LK-W4"), obx(1, "TX", LN_F, "Lines:"),
            obx(2, "TX", LN_F, "   - ETT 4 cm above carina."), obx(3, "TX", LN_F, "   - NG tube in stomach.")),
        "AA", "CER-W4", None, (want("LK-W4", "final", "Lines:\n   - ETT 4 cm above carina.\n   - NG tube in stomach."),),
    ),
    Case("empty-message", b"", "AE", "", ("100", "")),
    Case("blank-lines-only", b"\r\n \r\n\t\n", "AE", "", ("100", "")),
    Case("msh-delimiters-only", b"MSH|^~\\&|\r", "AE", "", ("101", "MSH^1^9")),
    Case(  # no control id: nothing to echo in MSA-2
        "msh10-empty", good("", "LK-W5", "mirth"), "AE", "", ("101", "MSH^1^10")),
    Case(  # cut in the middle of the last OBX (no OBX-11): the report is not complete
        "cut-mid-obx", good("EP-W6", "LK-W6", text="Findings continue")[:-12], "AE", "EP-W6", ("101", "OBX^1^11")),
    # ---- several OBR, corrected and addenda ----
    Case(  # two exams in one message, each with its ORC
        "two-exams-with-orc",
        er7(msh("EP-G1"), PID, ORC.format(n="LK-G1A"), obr("LK-G1A", "73030^XR SHOULDER^CPT4"), obx(1, "TX", LN_F, "No fracture."),
            ORC.format(n="LK-G1B"), obr("LK-G1B", "73110^XR WRIST^CPT4", set_id="2"), obx(1, "TX", LN_F, "Distal radius fracture.")),
        "AA", "EP-G1", None,
        (want("LK-G1A", "final", "No fracture."), want("LK-G1B", "final", "Distal radius fracture.")),
    ),
    Case(  # the accession only in ORC-3 (OBR-3 empty)
        "accession-only-in-orc",
        er7(msh("EP-G2"), PID, "ORC|RE|PL-G2|LK-G2", obr(""), obx(1, "TX", LN_F, "Clear.")),
        "AA", "EP-G2", None, (want("LK-G2", "final", "Clear."),),
    ),
    Case(  # corrected report with an addendum OBX under LOINC 55107-7
        "corrected-with-addendum-obx",
        er7(msh("PS-G3", "ps360"), PID, obr("LK-G3", "71260^CT CHEST W^CPT4", section="CT", status="C"),
            obx(1, "TX", LN_F, "Segmental PE in the RLL.", "C"), obx(2, "TX", LN_I, "Acute pulmonary embolism.", "C"),
            obx(3, "TX", LN_ADD, "ADDENDUM: Findings called to Dr. Patel at 08:05.", "C")),
        "AA", "PS-G3", None,
        (want("LK-G3", "corrected", "Segmental PE in the RLL.", "Acute pulmonary embolism.",
              "ADDENDUM: Findings called to Dr. Patel at 08:05."),),
    ),
    Case(  # the same accession in two OBR: findings under one, impression under the other
        "one-accession-two-obr",
        er7(msh("EP-G4"), PID, obr("LK-G4"), obx(1, "TX", LN_F, "Small left effusion."),
            obr("LK-G4", set_id="2"), obx(1, "TX", LN_I, "Small left pleural effusion.")),
        "AA", "EP-G4", None, (want("LK-G4", "final", "Small left effusion.", "Small left pleural effusion."),),
    ),
    Case(  # Before: both texts joined ('Right ...' and 'LEFT ...'). The final and its correction of one
        # accession in one message: the corrected sections replace the final ones
        "final-then-corrected-one-message",
        er7(msh("PS-G6", "ps360"), PID, obr("LK-G6", "71260^CT CHEST W^CPT4", section="CT"),
            obx(1, "TX", LN_F, "Right lower lobe opacity."), obx(2, "TX", LN_I, "Right lower lobe pneumonia."),
            obr("LK-G6", "71260^CT CHEST W^CPT4", section="CT", set_id="2", status="C"),
            obx(1, "TX", LN_F, "LEFT lower lobe opacity.", "C"), obx(2, "TX", LN_I, "Left lower lobe pneumonia.", "C")),
        "AA", "PS-G6", None, (want("LK-G6", "corrected", "LEFT lower lobe opacity.", "Left lower lobe pneumonia."),),
    ),
    Case(  # a correction that re-sends only the impression keeps the findings it does not touch
        "corrected-impression-only-one-message",
        er7(msh("PS-G7", "ps360"), PID, obr("LK-G7"), obx(1, "TX", LN_F, "Cardiomegaly."), obx(2, "TX", LN_I, "No edema."),
            obr("LK-G7", set_id="2", status="C"), obx(1, "TX", LN_I, "Mild interstitial edema.", "C")),
        "AA", "PS-G7", None, (want("LK-G7", "corrected", "Cardiomegaly.", "Mild interstitial edema."),),
    ),
    Case(  # two patients, each with its own exam
        "two-patients",
        er7(msh("MR-G5", "mirth"), PID, obr("LK-G5A"), obx(1, "TX", LN_F, "Clear."),
            "PID|2||LK90002^^^LAKESIDE^MR||SYNTHETIC^UNIFORM", obr("LK-G5B", set_id="2"), obx(1, "TX", LN_F, "Effusion.")),
        "AA", "MR-G5", None,
        (want("LK-G5A", "final", "Clear."), want("LK-G5B", "final", "Effusion.", patient_id="LK90002")),
    ),
    # ---- MSH-15/16 and charsets ----
    Case("enhanced-al-ne", good("EP-M1", "LK-M1", accept="AL", app="NE"), "CA", "EP-M1", None,
         (want("LK-M1", "final", "No acute cardiopulmonary process."),)),
    Case("enhanced-al-al-error",
         er7(msh("EP-M2", accept="AL", app="AL"), PID, obr("LK-M2"), obx(1, "XX", LN_F, "Clear.")),
         "CE", "EP-M2", ("103", "OBX^1^2")),
    Case(
        "latin1-declared",
        er7(msh("MR-M3", "mirth", charset="8859/1"), PID, obr("LK-M3"), obx(1, "TX", LN_F, "L\u00e9sion hypo\u00e9chog\u00e8ne 8 mm."),
            charset="latin-1"),
        "AA", "MR-M3", None, (want("LK-M3", "final", "L\u00e9sion hypo\u00e9chog\u00e8ne 8 mm."),),
    ),
    Case(
        "utf8-declared",
        er7(msh("MR-M4", "mirth", charset="UNICODE UTF-8"), PID, obr("LK-M4"), obx(1, "TX", LN_F, "Gr\u00f6\u00dfe 12 mm, \u00d8 stabil.")),
        "AA", "MR-M4", None, (want("LK-M4", "final", "Gr\u00f6\u00dfe 12 mm, \u00d8 stabil."),),
    ),
]


# ---- Part 1: checks -----------------------------------------------------------------------------


def test_there_are_at_least_seventy_cases() -> None:
    assert len(CASES) >= 70 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_round7_oru_ack_and_extraction(case: Case) -> None:
    ack_text, parsed = ack_for(case.raw)
    sep = ack_text[3]
    msa = next(s for s in ack_text.split("\r") if s.startswith("MSA")).split(sep)
    assert (msa[1], msa[2]) == (case.msa1, case.msa2), (case.name, parsed)
    if case.msa2:  # an MSH we could read: MSH-3/4 and MSH-5/6 swapped
        ack_msh = ack_text.split("\r")[0].split(sep)
        header = peek_header(case.raw)
        assert header is not None
        assert (ack_msh[2], ack_msh[4], ack_msh[5]) == ("RADLITE", header.sending_app, header.sending_facility), case.name
    assert err_in_own_delimiters(ack_text) == case.err, case.name
    version = ack_text.split("\r")[0].split(sep)[11]
    if sep == "|" and ack_text[4:8] == "^~\\&" and version not in ("2.1", "2.2", "v2.5"):
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


def test_every_report_word_of_the_one_obx_reports_is_read() -> None:
    """A whole report in one OBX (FT with \\.br\\, TX with hex CR LF): every line of text after the
    EXAM line reaches a section; nothing is cut at a heading or a break."""
    for name, sent in (("ps360-v24-ft-one-obx", _PS_FT), ("ps-one-v25-hex-crlf", _PS_HEX)):
        (report,) = parse_oru(next(c for c in CASES if c.name == name).raw).reports
        text = report.text()
        for line in sent.replace("\\.br\\", "\n").replace("\\X0D0A\\", "\n").split("\n"):
            line = line.removeprefix("FINDINGS:").removeprefix("IMPRESSION:").strip()
            if line and not line.startswith("EXAM:"):
                assert line in text, (name, line)


def test_pid2_warning_is_said_once_per_message() -> None:
    """Before: one 'PID-3 empty' warning per OBR group of the same PID."""
    raw = er7(msh("CER-P1", "cerner", version="2.3"), "PID|1|EXT55120|||SYNTHETIC^LEGACY", obr("LK-P1A"),
              obx(1, "TX", LN_F, "Clear."), obr("LK-P1B", set_id="2"), obx(1, "TX", LN_F, "Normal knee."),
              obr("LK-P1C", set_id="3"), obx(1, "TX", LN_F, "Normal ankle."))
    msg = parse_oru(raw)
    assert [r.patient_id for r in msg.reports] == ["EXT55120"] * 3
    assert sum("PID-3 empty" in w for w in msg.warnings) == 1, msg.warnings
    # a second patient with the same gap is a second warning: it names that PID
    raw2 = raw.replace(b"OBR|3|", b"PID|2|EXT55121|||SYNTHETIC^OTHER\rOBR|3|")
    assert sum("PID-3 empty" in w for w in parse_oru(raw2).warnings) == 2


def test_misplaced_pid_error_names_no_patient_data() -> None:
    with pytest.raises(Hl7Error) as info:
        parse_oru(next(c for c in CASES if c.name == "pid-after-obr").raw)
    assert "LK77031" not in info.value.text and "SYNTHETIC" not in info.value.text


# ---- the results ORU keeps the sender's OBR-4 coding system -------------------------------------


def _analysis(report: RadiologyReport) -> Analysis:
    return Analysis(report=report, manifest_version="m7", results=[])


def _obr4(er7_text: str) -> list[str]:
    obr_seg = next(s for s in er7_text.split("\r") if s.startswith("OBR|"))
    return obr_seg.split("|")[4].split("^")


@pytest.mark.parametrize(("service", "system"), [
    ("24627-2^CT Chest^LN", "LN"),
    ("71046^XR CHEST 2 VIEWS^CPT4", "CPT4"),
    ("71046^XR CHEST 2 VIEWS^C4", "C4"),
    ("RPID16^CT Head wo contrast^RADLEX", "RADLEX"),
    ("CTHEADWO^CT HEAD WO CONTRAST^99LAKE", "99LAKE"),
    ("IMG5521^CT CHEST W CONTRAST^L", "L"),
])
def test_results_oru_names_obr4_in_the_senders_coding_system(service: str, system: str) -> None:
    """Before: OBR-4.3 was always L, so a LOINC or CPT procedure code read as one of ours."""
    raw = er7(msh("EP-O4"), PID, obr("LK-O4X", service), obx(1, "TX", LN_F, "Clear."))
    msg = parse_oru(raw)
    assert isinstance(msg.header, OruHeader)
    out = analysis_to_oru(_analysis(msg.reports[0]), header=msg.header)
    code, text, _sent = service.split("^")
    assert _obr4(out) == [code, text, system]
    again = parse_oru(out.encode())  # our own message reads back with the same code
    assert again.reports[0].procedure_code == code


def test_results_oru_obr4_system_when_the_sender_named_none() -> None:
    """No OBR-4.3 (or a report from FHIR or a file): a LOINC code (form and check digit) is LN, others L."""
    for code, expect in (("24627-2", "LN"), ("18748-4", "LN"), ("24627-3", "L"), ("71046", "L"), ("CTHEAD", "L")):
        raw = er7(msh("EP-O5"), PID, obr("LK-O5X", f"{code}^Some exam"), obx(1, "TX", LN_F, "Clear."))
        msg = parse_oru(raw)
        assert _obr4(analysis_to_oru(_analysis(msg.reports[0]), header=msg.header))[2] == expect, code
        plain = RadiologyReport(report_id="R1", accession="R1", procedure="Some exam", procedure_code=code,
                                findings="x", source_format="fhir")
        assert _obr4(analysis_to_oru(_analysis(plain), header=MshHeader(sending_app="EHR")))[2] == expect, code
    no_code = RadiologyReport(report_id="R2", accession="R2", procedure="Chest film", findings="x")
    assert _obr4(analysis_to_oru(_analysis(no_code)))[:3] == ["", "Chest film", ""]


def test_obr4_system_of_a_merged_report_is_that_of_the_code_it_kept() -> None:
    raw = er7(msh("EP-O6"), PID, obr("LK-O6", "^CT CHEST"), obx(1, "TX", LN_F, "Nodule."),
              obr("LK-O6", "71250^CT CHEST WO^CPT4", set_id="2"), obx(1, "TX", LN_I, "Stable."),
              obr("LK-O6B", "24627-2^CT Chest^LN", set_id="3"), obx(1, "TX", LN_F, "Other exam."))
    msg = parse_oru(raw)
    assert isinstance(msg.header, OruHeader)
    assert msg.header.service_systems == {"LK-O6": "CPT4", "LK-O6B": "LN"}
    assert [r.procedure_code for r in msg.reports] == ["71250", "24627-2"]


# ---- batches (adapter) ----------------------------------------------------------------------------


GOOD_1 = good("BT-1", "LK-BT1", "mirth")
BAD_ORM = good("BT-2", "LK-BT2", "mirth", kind="ORM^O01^ORM_O01")
BAD_PID = er7(msh("BT-3", "mirth"), obr("LK-BT3"), obx(1, "TX", LN_F, "Clear."), PID)
GOOD_4 = good("BT-4", "LK-BT4", "mirth", text="Small right effusion.")


def _batch(*messages: bytes, count: int | None = None, end: bytes = b"\r", fhs: bool = True) -> bytes:
    n = len(messages) if count is None else count
    head = b"FHS|^~\\&|MIRTH_RIS|LAKESIDE|RADLITE|LAKESIDE_CDS|20260412" + end if fhs else b""
    tail = b"FTS|1" + end if fhs else b""
    return (head + b"BHS|^~\\&|MIRTH_RIS|LAKESIDE|RADLITE|LAKESIDE_CDS|20260412||||BATCH-0412" + end
            + b"".join(messages) + f"BTS|{n}".encode() + end + tail)


def test_batch_splits_and_answers_each_message() -> None:
    batch = split_batch(_batch(GOOD_1, BAD_ORM, BAD_PID, GOOD_4))
    assert batch.all_errors == [] and batch.messages == [GOOD_1, BAD_ORM, BAD_PID, GOOD_4]
    reply = build_batch_ack(batch, [ack_for(m)[0] for m in batch.messages])
    assert msas(reply.encode()) == [("AA", "BT-1"), ("AR", "BT-2"), ("AE", "BT-3"), ("AA", "BT-4")]
    assert reply.startswith("FHS|") and "\rBTS|4" in reply and reply.endswith("FTS|1\r")


def test_bhs_only_batch_with_a_wrong_count_keeps_every_message() -> None:
    batch = split_batch(_batch(GOOD_1, GOOD_4, count=3, fhs=False))
    assert batch.messages == [GOOD_1, GOOD_4]
    assert [(e.err_code, e.location) for e in batch.all_errors] == [("100", "BTS^1^1")]
    reply = build_batch_ack(batch, [ack_for(m)[0] for m in batch.messages])
    assert reply.startswith("BHS|") and "BTS|2|" in reply and "FHS" not in reply


def test_crlf_batch_with_custom_delimiters() -> None:
    m1 = er7(msh("BT-5", "mirth", enc="@*\\%", kind="ORU@R01"), obr("LK-BT5", "71045@XR CHEST@CPT4"),
             obx(1, "TX", "18782-3@Findings@LN", "Clear."), end="\r\n")
    raw = (b"BHS|@*\\%|MIRTH_RIS|LAKESIDE\r\n" + m1 + b"BTS|1\r\n")
    batch = split_batch(raw)
    assert batch.all_errors == [] and len(batch.messages) == 1
    (report,) = parse_oru(batch.messages[0]).reports
    assert (report.accession, report.findings) == ("LK-BT5", "Clear.")


# ---- Part 2: the doors ----------------------------------------------------------------------------


_PIPE_CASES = [c for c in CASES if not c.raw.lstrip(b"\r\n\xef\xbb\xbf").startswith(b"MSH~")]


def test_every_case_over_http_is_kept_and_answered(app_sqlite: Any) -> None:
    app, client = app_sqlite
    for case in _PIPE_CASES:
        response = client.post("/hl7/v2", content=case.raw, headers={"Content-Type": "x-application/hl7-v2+er7"})
        assert msas(response.content, codec_of(case)) == [(case.msa1, case.msa2)], case.name
        assert response.status_code == (200 if case.msa1 in ("AA", "CA") else 400), case.name
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == [c.raw for c in _PIPE_CASES]
    assert [r.status for r in rows] == ["rejected" if c.err else "queued" for c in _PIPE_CASES]
    assert [r.error_code for r in rows] == [c.err[0] if c.err else None for c in _PIPE_CASES]


def test_every_case_over_one_mllp_connection(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=60) as sock:
        for case in CASES:
            sock.sendall(b"\x0b" + case.raw + b"\x1c\r")
            ack = read_frame(sock)
            sep = chr(ack[3]) if ack.startswith(b"MSH") else "|"
            assert f"MSA{sep}{case.msa1}{sep}{case.msa2}".encode() in ack, case.name
    rows = inbound_rows(app)
    assert [r.raw for r in rows] == [c.raw for c in CASES]


def test_batch_over_both_doors(app_sqlite: Any) -> None:
    app, client = app_sqlite
    raw = _batch(GOOD_1, BAD_ORM, BAD_PID, GOOD_4)
    response = client.post("/hl7/v2", content=raw, headers={"Content-Type": "application/hl7-v2"})
    assert response.status_code == 400
    assert msas(response.content) == [("AA", "BT-1"), ("AR", "BT-2"), ("AE", "BT-3"), ("AA", "BT-4")]
    lf = raw.replace(b"BT-", b"BM-").replace(b"\r", b"\n")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + lf + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "BM-1"), ("AR", "BM-2"), ("AE", "BM-3"), ("AA", "BM-4")]
    assert [r.status for r in inbound_rows(app)] == ["queued", "rejected", "rejected", "queued"] * 2


def test_control_id_reuse(app_sqlite: Any) -> None:
    """A resend (same content, other line ends and trailing blanks) is a duplicate; the same MSH-10
    with new content (a sender that recycles ids), or from another sender, is a new message."""
    app, client = app_sqlite
    first = good("REUSE-1", "LK-U1", "epic")
    resend = first.replace(b"\r", b"\r\n") + b"\r\n"
    new_time = first.replace(b"|20260412083015|", b"|20260412083512|")  # an engine that renews MSH-7 on a resend
    changed = good("REUSE-1", "LK-U1", "epic", text="Small left effusion.")
    other_sender = good("REUSE-1", "LK-U9", "cerner")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        for raw in (first, resend, new_time, changed):
            sock.sendall(b"\x0b" + raw + b"\x1c\r")
            assert msas(read_frame(sock)) == [("AA", "REUSE-1")]
    assert msas(client.post("/hl7/v2", content=other_sender).content) == [("AA", "REUSE-1")]
    assert msas(client.post("/hl7/v2", content=first).content) == [("AA", "REUSE-1")]  # same copy, other door
    assert [r.status for r in inbound_rows(app)] == ["queued", "duplicate", "duplicate", "queued", "queued", "duplicate"]


def test_corrected_report_supersedes_the_final_one(app_sqlite: Any) -> None:
    """The final and then the corrected report of one accession: both kept and ACKed AA; stored as
    versions, the corrected one is current and the final one superseded, never overwritten."""
    app, client = app_sqlite
    final = er7(msh("CR-1", "ps360"), PID, obr("LK-CR", "71260^CT CHEST W^CPT4", section="CT"),
                obx(1, "TX", LN_F, "Right lower lobe opacity."), obx(2, "TX", LN_I, "Right lower lobe pneumonia."))
    corrected = er7(msh("CR-2", "ps360"), PID, obr("LK-CR", "71260^CT CHEST W^CPT4", section="CT", status="C"),
                    obx(1, "TX", LN_F, "LEFT lower lobe opacity.", "C"), obx(2, "TX", LN_I, "Left lower lobe pneumonia.", "C"))
    for raw, cid in ((final, "CR-1"), (corrected, "CR-2")):
        assert msas(client.post("/hl7/v2", content=raw).content) == [("AA", cid)]
    rows = inbound_rows(app)
    assert [r.status for r in rows] == ["queued", "queued"] and rows[0].report_key == rows[1].report_key
    for row in rows:  # what the worker does with each stored message, in order
        (report,) = parse_oru(row.raw).reports
        with session_scope(app.state.sessions) as s:
            queries.store_report(s, report=report, inbound_id=row.id)
    with app.state.sessions() as s:
        versions = s.scalars(select(Report).where(Report.report_key == rows[0].report_key).order_by(Report.id)).all()
        got = [(v.status, v.superseded_by is None, v.report_json["findings"]) for v in versions]
    assert got == [("final", False, "Right lower lobe opacity."), ("corrected", True, "LEFT lower lobe opacity.")]


def test_mllp_framing_faults_are_all_kept_and_answered(app_sqlite: Any) -> None:
    """No VT, no CR after FS, NULs and newlines between frames, an empty frame, a frame of blanks."""
    app, _ = app_sqlite
    m1, m2, m3 = (good(f"FR-{i}", f"LK-FR{i}", "mirth") for i in (1, 2, 3))
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(m1 + b"\x1c\r")  # no start block
        assert msas(read_frame(sock)) == [("AA", "FR-1")]
        sock.sendall(b"\x00\x00\r\n\x0b" + m2 + b"\x1c")  # NULs and a newline before; no CR after FS
        assert msas(read_frame(sock)) == [("AA", "FR-2")]
        sock.sendall(b"\r\x0b\x1c\r")  # an empty frame (the CR of the last one first)
        assert msas(read_frame(sock)) == [("AE", "")]
        sock.sendall(b"\x0b \r\n\x1c\r")  # a frame of blanks
        assert msas(read_frame(sock)) == [("AE", "")]
        sock.sendall(b"\x0b" + m3 + b"\x1c\r")  # and the connection still works
        assert msas(read_frame(sock)) == [("AA", "FR-3")]
    rows = inbound_rows(app)
    assert [(r.control_id, r.status) for r in rows] == [
        ("FR-1", "queued"), ("FR-2", "queued"), (None, "rejected"), (None, "rejected"), ("FR-3", "queued")]


def test_mllp_restarted_frame_keeps_the_abandoned_part(app_sqlite: Any) -> None:
    """Before: a message begun, left without its end block and started again with a new VT was dropped
    unseen (only the bytes after the last VT were read). Now it is kept (judged, never answered) and
    only the completed message gets an ACK."""
    app, _ = app_sqlite
    full = er7(msh("RS-1", "epic"), PID, obr("LK-RS"), obx(1, "TX", LN_F, "Lungs clear."), obx(2, "TX", LN_I, "Normal."))
    cut = full[: full.index(b"OBX|2") + 12]  # the sender gave up inside OBX 2
    later = good("RS-2", "LK-RS2", "epic")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + cut + b"\x0b" + full + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "RS-1")]  # one ACK, for the completed message
        sock.sendall(b"\x0b" + later + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "RS-2")]
    rows = inbound_rows(app)
    assert [(r.raw, r.status) for r in rows] == [(cut, "rejected"), (full, "queued"), (later, "queued")]
    assert rows[0].error_code == "101"  # the cut OBX has no OBX-11: never read as a complete report


def test_mllp_vertical_tab_in_report_text_is_not_a_start_block(app_sqlite: Any) -> None:
    """Before: a VT byte inside OBX-5 (Word writes one for a soft line break) was taken for the start
    block: the text before it was dropped and the rest answered AE 100 with no MSA-2. A VT that no
    message header follows is text."""
    app, _ = app_sqlite
    raw = er7(msh("VT-1", "ps360"), PID, obr("LK-VT"), obx(1, "TX", LN_F, "Lungs clear.\x0bNo effusion."),
              obx(2, "TX", LN_I, "Normal chest."))
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + raw + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "VT-1")]
    (row,) = inbound_rows(app)
    assert row.raw == raw and row.status == "queued"
    (report,) = parse_oru(row.raw).reports
    assert (report.findings, report.impression) == ("Lungs clear.\nNo effusion.", "Normal chest.")  # VT: a line break


def test_mllp_sender_hangs_up_after_a_restarted_frame(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    first = good("HU-1", "LK-HU1", "mirth")
    second = good("HU-2", "LK-HU2", "mirth")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + first[:40] + b"\x0b" + second[:-20])
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""  # nobody to answer: the sender left
    deadline = time.monotonic() + 60
    while len(inbound_rows(app)) < 2 and time.monotonic() < deadline:  # the server thread stores them
        time.sleep(0.05)
    assert [r.raw for r in inbound_rows(app)] == [first[:40], second[:-20]]


def _wide_big(codec: str, bom: bytes, cid: str, text: str) -> bytes:
    return bom + er7(msh(cid, "mirth", charset="UNICODE UTF-16" if "16" in codec else "UNICODE UTF-32"), PID,
                     obr(f"LK-{cid}"), obx(1, "TX", LN_F, text), charset=codec)


@pytest.mark.parametrize(("codec", "bom", "filler"), [
    ("utf-16-le", codecs.BOM_UTF16_LE, "Lungs are clear. "),  # no FS byte anywhere: the first read overruns
    ("utf-16-le", codecs.BOM_UTF16_LE, "\u011cG\u1c10 "),  # FS bytes inside characters (1C 01; 10 1C)
    ("utf-16-be", codecs.BOM_UTF16_BE, "\u1c00 Heart normal. "),  # FS as the high byte of U+1C00
    ("utf-32-le", codecs.BOM_UTF32_LE, "No effusion. "),
])
def test_wide_message_over_the_limit_is_kept_and_answered(app_sqlite: Any, codec: str, bom: bytes, filler: str) -> None:
    """Before: a UTF-16/32 message over the MLLP size limit closed the connection with no ACK. Now it is
    kept (head, size, sha256) and answered AR 207 in its own encoding, and the next message is read."""
    app, _ = app_sqlite
    unit = len(filler.encode(codec))
    has_fs = b"\x1c" in filler.encode(codec)
    cid = f"WB-{codec[4:6]}{codec[-2:]}{'FS' if has_fs else ''}"
    big = _wide_big(codec, bom, cid, filler * (MAX_MESSAGE // unit + 2000))
    assert len(big) > MAX_MESSAGE
    small = _wide_big(codec, bom, cid + "S", "Normal.")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=120) as sock:
        sock.sendall(b"\x0b" + big + b"\x1c\r" + b"\x0b" + small + b"\x1c\r")
        first = read_frame(sock)
        second = read_frame(sock)
    assert first.startswith(bom) and second.startswith(bom)
    assert msas(first, codec) == [("AR", cid)]
    assert err_of(first.decode(codec))[0] == "207"
    assert msas(second, codec) == [("AA", cid + "S")]
    rows = inbound_rows(app)
    assert [r.control_id for r in rows] == [cid, cid + "S"]
    kept = rows[0]
    assert kept.status == "rejected" and kept.error_code == "207"
    assert big.startswith(kept.raw) and KEEP_BYTES - 4 <= len(kept.raw) <= KEEP_BYTES
    assert len(kept.raw) % (4 if "32" in codec else 2) == 0
    assert kept.sha256 == hashlib.sha256(big).hexdigest()
    assert f"message of {len(big)} bytes" in (kept.error or "")
    assert rows[1].raw == small


def test_an_inbound_ack_is_kept_but_never_acknowledged_over_mllp(app_sqlite: Any) -> None:
    """An ACK sent to us (an engine answering our results ORU on the wrong connection) gets no ACK back:
    two engines that acknowledge everything would otherwise answer each other forever. It is kept."""
    app, _ = app_sqlite
    stray = b"MSH|^~\\&|RIS|HOSP|RADCDS|HOSP|20261129120000||ACK^R01^ACK|ACK-9|P|2.5.1\rMSA|AA|RADCDS-000001\r"
    later = good("AK-2", "LK-AK2", "epic")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + stray + b"\x1c\r" + b"\x0b" + later + b"\x1c\r")
        assert msas(read_frame(sock)) == [("AA", "AK-2")]  # the first frame back answers the ORU, not the ACK
    assert [r.control_id for r in inbound_rows(app)] == ["ACK-9", "AK-2"]
