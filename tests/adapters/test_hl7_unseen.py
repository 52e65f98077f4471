"""ORU^R01 shapes not in the dev set, written the way real RIS and interface engines send them.

Each message is hand-written (synthetic patients) and differs from shared/data/dev/hl7: report text
in NTE, FT formatting, one OBX per line with blank lines, ED/RP values, several exams per message,
full PID segments, v2.3 MSH-9 without structure, v2.7 truncation character, non-default
delimiters, BOM/CRLF/LF and blank lines, Latin-1, wrong message types, missing MSH-10, every OBX-11
status, corrected and retracted reports, sections by LOINC and by OBX-3 suffix. The expectations are
what an interface analyst reads off the message per HL7 v2 (chapters 2 and 7) and shared/spec
integration.md section 4: exact report text, sections, accession, status, and MSA/ERR of the ACK.
"""

from __future__ import annotations

import hl7
import pytest

from adapters.hl7 import Hl7Error, OruMessage, build_ack, frame, parse_oru, peek_header
from models.types import RadiologyReport


def er7(*segments: str, end: str = "\r") -> bytes:
    return (end.join(segments) + end).encode("utf-8")


def parse_ok(raw: bytes) -> OruMessage:
    """parse_oru, and the accept ACK it gets must read back: MSA-1 AA/CA, MSA-2 = MSH-10."""
    msg = parse_oru(raw)
    ack = hl7.parse(build_ack(msg.header).encode(msg.header.codec).decode(msg.header.codec))
    assert str(ack.segment("MSA")[1]) == ("CA" if msg.header.enhanced_mode else "AA")
    assert str(ack.segment("MSA")[2]) == msg.header.control_id
    return msg


def reject(raw: bytes) -> tuple[Hl7Error, hl7.Message]:
    """The Hl7Error of a message we do not accept, and its ACK (built as the pipeline builds it)."""
    with pytest.raises(Hl7Error) as info:
        parse_oru(raw)
    err = info.value
    assert err.ack_code in ("AE", "AR") and err.err_code and err.text
    ack_text = build_ack(err.header or peek_header(raw), error=err)
    return err, hl7.parse(ack_text)


def err_fields(ack: hl7.Message) -> tuple[str, str]:
    """(ERR location, ERR code) from the v2.5+ layout (ERR-2, ERR-3) or the v2.4- ELD (ERR-1)."""
    err = ack.segment("ERR")
    if str(ack.segment("MSH")[12]) in ("2.3", "2.3.1", "2.4"):
        eld = str(err[1]).split("^")
        return "^".join(eld[:3]), eld[3].split("&")[0]
    return str(err[2]), str(err[3][0][0])


# ---- 1. report text in NTE --------------------------------------------------------------------

NTE_ONLY = er7(
    "MSH|^~\\&|MERIDIAN_RIS|CLINIC_W|RADLITE|CDS|202406110830||ORU^R01|MR240611-0042|P|2.3",
    "PID|||556677^^^CLW^MR||LOPEZ^ANA",
    "ORC|RE||US240611-77",
    "OBR|1||US240611-77|76700^US ABDOMEN COMPLETE^CPT4|||202406110745|||||||||||||||202406110828||US|F",
    "NTE|1||EXAM: US abdomen complete.",
    "NTE|2||FINDINGS:",
    "NTE|3||Liver normal in size and echotexture. No focal lesion.",
    "NTE|4||Gallbladder contains multiple mobile stones\\T\\sludge; no wall thickening.",
    "NTE|5||",
    "NTE|6||IMPRESSION:",
    "NTE|7||Cholelithiasis without cholecystitis.",
)


def test_report_sent_as_nte_after_obr_is_the_report() -> None:
    # Some RIS send no OBX at all: the report is the OBR's NTE comments (NTE-3 is FT).
    msg = parse_ok(NTE_ONLY)
    (r,) = msg.reports
    assert r.findings == (
        "Liver normal in size and echotexture. No focal lesion.\n"
        "Gallbladder contains multiple mobile stones&sludge; no wall thickening."
    )
    assert r.impression == "Cholelithiasis without cholecystitis."
    assert (r.accession, r.patient_id, r.modality, r.status) == ("US240611-77", "556677", "US", "final")
    assert any("NTE" in w for w in msg.warnings)
    assert all("Liver" not in w for w in msg.warnings)


def test_nte_next_to_obx_stays_a_comment() -> None:
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240611||ORU^R01^ORU_R01|C-NTE2|P|2.5.1",
        "PID|1||P77^^^H^MR",
        "OBR|1||XR-881|71046^XR CHEST 2 VIEWS^C4|||20240611|||||||||||||||||RAD|F",
        "NTE|1|P|Reason for study: cough.",
        "OBX|1|TX|18782-3^Findings^LN|1|Lungs clear.||||||F",
        "OBX|2|TX|19005-8^Impression^LN|2|No acute disease.||||||F",
        "NTE|1|L|Results called to Dr. Shah at 14:05.",
    )
    msg = parse_ok(raw)
    (r,) = msg.reports
    assert (r.findings, r.impression) == ("Lungs clear.", "No acute disease.")
    assert not any("NTE" in w for w in msg.warnings)


def test_nte_before_any_obr_is_never_report_text() -> None:
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240611||ORU^R01|C-NTE3|P|2.4",
        "PID|1||P78^^^H^MR",
        "NTE|1||Patient allergic to iodinated contrast.",
        "OBR|1||CT-12|70450^CT HEAD WO^C4|||20240611|||||||||||||||||CT|F",
    )
    err, ack = reject(raw)
    assert (err.ack_code, err.err_code, err.location) == ("AE", "101", "OBR^1")
    assert str(ack.segment("MSA")[1]) == "AE" and str(ack.segment("MSA")[2]) == "C-NTE3"


# ---- 2. formatted and line-per-OBX text ---------------------------------------------------------

def test_ft_formatting_commands_and_highlighting() -> None:
    raw = er7(
        "MSH|^~\\&|PACS|H|RADLITE|H|20240612||ORU^R01^ORU_R01|C-FT1|P|2.5.1",
        "PID|1||P80^^^H^MR",
        "OBR|1||CT-90|70450^CT HEAD WITHOUT CONTRAST^C4|||20240612|||||||||||||||||CT|F",
        "OBX|1|FT|70450&GDT^CT Head report^L|1|FINDINGS:\\.br\\No hemorrhage or mass effect.\\.br\\"
        "Ventricles normal in size.\\.sp 2\\IMPRESSION:\\.br\\\\H\\No acute intracranial abnormality.\\N\\||||||F",
    )
    (r,) = parse_ok(raw).reports
    # \.sp 2\ ends the line and skips 2 vertical spaces: one blank line (\.sp\ alone equals \.br\).
    assert r.findings == "No hemorrhage or mass effect.\nVentricles normal in size."
    assert r.impression == "No acute intracranial abnormality."


def test_hex_cr_lf_escapes_are_line_breaks_for_the_models() -> None:
    raw = er7(
        "MSH|^~\\&|PACS|H|RADLITE|H|20240612||ORU^R01^ORU_R01|C-HEX|P|2.5.1",
        "PID|1||P81^^^H^MR",
        "OBR|1||CT-91|74176^CT ABDOMEN PELVIS WO^C4|||20240612|||||||||||||||||CT|F",
        "OBX|1|TX|18782-3^Findings^LN||Liver normal.\\X0D0A\\Spleen normal.\\X0D\\Kidneys normal.||||||F",
    )
    (r,) = parse_ok(raw).reports
    # The decoded characters are kept as sent (tests/adapters/test_roundtrip_properties.py: what we
    # write with \X0D\ comes back unchanged); the text the models read has them as line breaks.
    assert r.findings == "Liver normal.\r\nSpleen normal.\rKidneys normal."
    assert r.text() == "FINDINGS:\nLiver normal.\nSpleen normal.\nKidneys normal."


TX_LINES = (
    "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-TX{n}|P|2.4||||||||",
    "PID|1||P82^^^H^MR||||||||||||||||",
    "OBR|1||XR-77|71046^XR CHEST PA AND LATERAL^C4|||20240301|||||||||||||||||RAD|F||||",
    "OBX|1|TX|&GDT^Findings^L|1|Heart size normal.||||||F||||||",
    "OBX|2|TX|&GDT^Findings^L|1|  Lungs: no focal consolidation.||||||F|",
    "OBX|3|TX|&GDT^Findings^L|1|||||||F",
    "OBX|4|TX|&GDT^Findings^L|1|No pleural effusion.||||||F",
    "OBX|5|TX|&IMP^Impression^L|2|No acute cardiopulmonary process.||||||F|||",
)


@pytest.mark.parametrize("end", ["\r", "\n", "\r\n"])
@pytest.mark.parametrize("tail", ["", "\r", "\r\n\r\n", "\n\n", "ZDS|1.2.840.113619.2.55\r\r"])
def test_one_tx_line_per_obx_with_trailing_separators_and_any_line_end(end: str, tail: str) -> None:
    raw = er7(*TX_LINES, end=end).replace(b"{n}", str(len(tail)).encode()) + tail.encode()
    (r,) = parse_ok(raw).reports
    # Leading spaces are significant in TX; an empty TX line is a blank line of the report.
    assert r.findings == "Heart size normal.\n  Lungs: no focal consolidation.\n\nNo pleural effusion."
    assert r.impression == "No acute cardiopulmonary process."
    assert r.accession == "XR-77" and r.modality == "DX"


def test_obx5_repetitions_are_separate_lines_in_tx_and_ft() -> None:
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-REP|P|2.6",
        "PID|1||P83^^^H^MR",
        "OBR|1||MR-5|72148^MRI LUMBAR SPINE WO^C4|||20240301|||||||||||||||||MR|F",
        "OBX|1|TX|18782-3^Findings^LN|1|L4-5: disc bulge.~L5-S1: no stenosis.~~Conus normal.||||||F",
        "OBX|2|FT|19005-8^Impression^LN|2|1. Mild L4-5 degenerative change.~2. No stenosis.||||||F",
    )
    (r,) = parse_ok(raw).reports
    assert r.findings == "L4-5: disc bulge.\nL5-S1: no stenosis.\n\nConus normal."
    assert r.impression == "1. Mild L4-5 degenerative change.\n2. No stenosis."


def test_lf_inside_a_value_before_a_capitalised_word_is_not_a_segment_end() -> None:
    # A sender put a bare LF in the report text; the next line starts "PET/CT" (3 capitals and a
    # punctuation mark), which must not be taken for a segment id.
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-LF|P|2.5.1",
        "PID|1||P84^^^H^MR",
        "OBR|1||PT-3|78815^PET/CT SKULL BASE TO MID THIGH^C4|||20240301|||||||||||||||||NMS|F",
        "OBX|1|TX|18782-3^Findings^LN|1|Hypermetabolic right hilar node.\nPET/CT fusion: SUV 6.1.\nMRI: not done.||||||F",
        "OBX|2|TX|19005-8^Impression^LN|2|Nodal disease.||||||F",
    )
    (r,) = parse_ok(raw).reports
    assert r.findings == "Hypermetabolic right hilar node.\nPET/CT fusion: SUV 6.1.\nMRI: not done."
    assert r.impression == "Nodal disease."


# ---- 3. values that are not text ----------------------------------------------------------------

ED_HEAD = (
    "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-ED|P|2.5.1",
    "PID|1||P85^^^H^MR",
    "OBR|1||MG-40|77067^MAMMO SCREENING BILAT^C4|||20240301|||||||||||||||||MG|F",
)
ED_OBX = "OBX|1|ED|PDF^Report PDF^L||RIS^AP^PDF^Base64^JVBERi0xLjQKJcfsj6IKNSAwIG9iago=||||||F"
RP_OBX = "OBX|2|RP|PDFLINK^Report link^L||https://ris.example.org/r/40.pdf^RIS^AP^PDF||||||F"


def test_pdf_and_link_next_to_text_are_left_out_with_a_warning() -> None:
    raw = er7(*ED_HEAD, ED_OBX, RP_OBX, "OBX|3|TX|&GDT^Report^L||IMPRESSION: BI-RADS 1: Negative.||||||F")
    msg = parse_ok(raw)
    (r,) = msg.reports
    assert (r.findings, r.impression) == (None, "BI-RADS 1: Negative.")
    assert any("ED" in w and "OBX 1" in w for w in msg.warnings)
    assert any("RP" in w and "OBX 2" in w for w in msg.warnings)
    assert all("JVBER" not in w for w in msg.warnings)


@pytest.mark.parametrize("obx", [ED_OBX, RP_OBX, ED_OBX + "\r" + RP_OBX])
def test_a_report_sent_only_as_pdf_or_link_is_rejected_clearly(obx: str) -> None:
    err, ack = reject(er7(*ED_HEAD, obx))
    assert (err.ack_code, err.err_code, err.location) == ("AE", "101", "OBR^1")
    assert "not report text" in err.text and ("ED" in err.text or "RP" in err.text)
    assert "JVBER" not in err.text and "example.org" not in err.text
    assert str(ack.segment("MSA")[1]) == "AE" and err_fields(ack) == ("OBR^1", "101")


def test_v28_value_types_beside_the_report_are_accepted() -> None:
    # IS, ID and DR entered table 0125 in v2.7; a critical-result flag sent as IS is valid.
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-IS|P|2.8|||AL|NE",
        "PID|1||P86^^^H^MR",
        "OBR|1||CT-70|71260^CT CHEST W^C4|||20240301|||||||||||||||||CT|F",
        "OBX|1|TX|18782-3^Findings^LN||Segmental pulmonary embolus, right lower lobe.||||||F",
        "OBX|2|TX|19005-8^Impression^LN||Acute pulmonary embolism.||||||F",
        "OBX|3|IS|CRIT^Critical result^L||Y||||||F",
        "OBX|4|ID|COMM^Communicated^L||Y||||||F",
    )
    msg = parse_ok(raw)
    (r,) = msg.reports
    assert r.impression == "Acute pulmonary embolism." and r.findings.startswith("Segmental")


# ---- 4. several exams, ORC, full PID, no PV1 ------------------------------------------------------

def test_two_exams_with_their_own_orc_obr_and_accession() -> None:
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-MULTI|P|2.5.1",
        "PID|1||P87^^^H^MR||DOE^JANE",
        "PV1|1|E|ED^^^H",
        "ORC|RE|ORD-1^EHR|CT-A^RIS||CM",
        "OBR|1|ORD-1^EHR|CT-A^RIS|74177^CT ABDOMEN PELVIS W^C4|||20240301101500|||||||||||||||20240301110000||CT|F",
        "OBX|1|TX|74177&GDT^Findings^L|1|Appendix dilated to 11 mm with periappendiceal fat stranding.||||||F",
        "OBX|2|TX|74177&IMP^Impression^L|2|Acute appendicitis.||||||F",
        "ORC|RE|ORD-2^EHR|US-B^RIS||CM",
        "OBR|2|ORD-2^EHR|US-B^RIS|76856^US PELVIS^C4|||20240301093000|||||||||||||||20240301094500||US|P",
        "OBX|1|TX|76856&GDT^Findings^L|1|Normal ovaries.||||||P",
        "OBX|2|TX|76856&IMP^Impression^L|2|Normal pelvic ultrasound.||||||P",
    )
    msg = parse_ok(raw)
    assert [(r.report_id, r.accession, r.modality, r.status, r.patient_id) for r in msg.reports] == [
        ("CT-A", "CT-A", "CT", "final", "P87"), ("US-B", "US-B", "US", "preliminary", "P87")]
    ct, us = msg.reports
    assert (ct.impression, us.impression) == ("Acute appendicitis.", "Normal pelvic ultrasound.")
    assert "ovaries" not in (ct.findings or "") and "Appendix" not in (us.findings or "")
    assert (ct.procedure, ct.procedure_code) == ("CT ABDOMEN PELVIS W", "74177")


def test_full_pid_with_repetitions_picks_the_mr_identifier() -> None:
    raw = er7(
        "MSH|^~\\&|EPIC|MAIN|RADLITE|MAIN|20240301||ORU^R01^ORU_R01|C-PID|P|2.5.1",
        "PID|1|EXT123^^^OLDSYS|90000123^^^HOSP&2.16.840.1.113883.19.5&ISO^PI~A55512^^^HOSP&2.16.840.1.113883.19.5"
        "&ISO^MR~123-45-6789^^^USSSA&2.16.840.1.113883.4.1&ISO^SS||NGUYEN^THI^B^^MRS^^L~TRAN^THI^^^^^M||"
        "19600101|F||2028-9^Asian^HL70005|12 ELM ST^APT 4^BOSTON^MA^02118^USA^H~PO BOX 9^^BOSTON^MA^02117^USA^M"
        "||^PRN^PH^^1^617^5551234~^NET^Internet^thi@example.org||VIE^Vietnamese^ISO6392|M|BUD|V0099887^^^HOSP^VN"
        "|||||||||||N",
        "OBR|1||DX-300|73030^XR SHOULDER 2+ VIEWS LEFT^C4|||20240301|||||||||||||||||RAD|F",
        "OBX|1|TX|&GDT^Findings^L||No fracture or dislocation.||||||F",
    )
    (r,) = parse_ok(raw).reports
    assert r.patient_id == "A55512"  # PID-3 repetition typed MR, not PID-2 or the first repetition
    assert (r.findings, r.modality, r.accession) == ("No fracture or dislocation.", "DX", "DX-300")


def test_v23_msh9_without_structure_and_v251_with_it_give_the_same_report() -> None:
    body = (
        "PID|1||P88^^^H^MR",
        "OBR|1||NM-9|78306^NM BONE SCAN WHOLE BODY^C4|||20240301|||||||||||||||||NMS|F",
        "OBX|1|TX|&GDT^Findings^L||No abnormal uptake.||||||F",
        "OBX|2|TX|&IMP^Impression^L||No osseous metastases.||||||F",
    )
    old = parse_ok(er7("MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01|C-23|P|2.3", *body))
    new = parse_ok(er7("MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-251|P|2.5.1", *body))
    a, b = old.reports[0], new.reports[0]
    assert (a.findings, a.impression, a.modality, a.status) == (b.findings, b.impression, "NM", "final")
    assert (old.header.structure, new.header.structure) == ("", "ORU_R01")
    # The ACK answers in the sender's version: MSH-9.3 exists from v2.3.1 on.
    assert str(hl7.parse(build_ack(old.header)).segment("MSH")[9]) == "ACK^R01"
    assert str(hl7.parse(build_ack(new.header)).segment("MSH")[9]) == "ACK^R01^ACK"


# ---- 5. delimiters, byte order mark, character sets ----------------------------------------------

def test_v27_truncation_character_and_every_delimiter_escape() -> None:
    raw = er7(
        "MSH|^~\\&#|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-27|P|2.7",
        "PID|1||P89^^^H^MR",
        "OBR|1||CT-27|70486^CT SINUS WO^C4|||20240301|||||||||||||||||CT|F",
        "OBX|1|TX|18782-3^Findings^LN||Series \\P\\3 \\F\\ image 40: mucosal thickening \\T\\ fluid "
        "(1\\S\\2 of sinus), path C:\\E\\img \\R\\ raw # kept.||||||F",
        "OBX|2|TX|19005-8^Impression^LN||Acute sinusitis.||||||F",
    )
    msg = parse_ok(raw)
    (r,) = msg.reports
    assert r.findings == "Series #3 | image 40: mucosal thickening & fluid (1^2 of sinus), path C:\\img ~ raw # kept."
    assert msg.header.encoding_chars == "^~\\&#"
    assert build_ack(msg.header).startswith("MSH|^~\\&#|RADLITE|H|RIS|H|")


def test_non_default_delimiters_declared_in_msh1_msh2() -> None:
    # Any five distinct characters may be declared; '^' '~' '&' '\\' are then plain text.
    raw = er7(
        "MSH!$*?%!RIS!H!RADLITE!H!20240301!!ORU$R01$ORU_R01!C-ODD!P!2.5.1",
        "PID!1!!P90$$$H$MR",
        "OBR!1!!US-12$RIS!76536$US NECK$C4!!!20240301!!!!!!!!!!!!!!!!!US!F",
        "OBX!1!TX!%GDT$Findings$L!!Right lobe nodule 1.2 cm ^ TI-RADS 4*Left lobe normal.!!!!!!F",
        "OBX!2!TX!%IMP$Impression$L!!TR4 nodule ?T? FNA advised ~ see ACR & guidelines.!!!!!!F",
    )
    msg = parse_ok(raw)
    (r,) = msg.reports
    assert r.findings == "Right lobe nodule 1.2 cm ^ TI-RADS 4\nLeft lobe normal."
    assert r.impression == "TR4 nodule % FNA advised ~ see ACR & guidelines."
    assert (r.accession, r.patient_id, r.modality) == ("US-12", "P90", "US")
    ack = build_ack(msg.header)
    assert ack.startswith("MSH!$*?%!RADLITE!H!RIS!H!") and "\rMSA!AA!C-ODD\r" in ack


def test_bom_mllp_frame_crlf_and_trailing_blank_lines() -> None:
    inner = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-BOM|P|2.5.1||||||UNICODE UTF-8",
        "PID|1||P91^^^H^MR",
        "OBR|1||XR-9|73610^XR ANKLE 3 VIEWS RIGHT^C4|||20240301|||||||||||||||||RAD|F",
        "OBX|1|TX|&GDT^Report^L||FINDINGS: Nondisplaced distal fibular fracture.||||||F",
        "OBX|2|TX|&GDT^Report^L||IMPRESSION: Weber A fracture.||||||F",
        end="\r\n",
    ) + b"\r\n\r\n"
    for raw in (b"\xef\xbb\xbf" + inner, frame(b"\xef\xbb\xbf" + inner), b"\r\n" + frame(inner) + b"\x00"):
        msg = parse_ok(raw)
        (r,) = msg.reports
        assert (r.findings, r.impression) == ("Nondisplaced distal fibular fracture.", "Weber A fracture.")
        assert msg.header.control_id == "C-BOM" and msg.charset_used == "utf-8"


def test_latin1_message_declared_8859_1_and_acked_in_latin1() -> None:
    raw = (
        "MSH|^~\\&|RIS|H\u00d4PITAL NORD|RADLITE|CDS|20240301||ORU^R01^ORU_R01|C-L1|P|2.4||||||8859/1\r"
        "PID|1||P92^^^H^MR||M\u00dcLLER^J\u00dcRGEN\r"
        "OBR|1||CT-L1|70450^CT SCH\u00c4DEL NATIV^L|||20240301|||||||||||||||||CT|F\r"
        "OBX|1|TX|&GDT^Befund^L||Kein Nachweis einer Blutung. L\u00e4sion \u00e0 droite \\XE9\\tudi\u00e9e.||||||F\r"
        "OBX|2|TX|&IMP^Beurteilung^L||Unauff\u00e4lliger Befund.||||||F\r"
    ).encode("latin-1")
    msg = parse_ok(raw)
    (r,) = msg.reports
    assert msg.charset_used == "latin-1" and msg.header.codec == "latin-1" and msg.warnings == []
    assert r.findings == "Kein Nachweis einer Blutung. L\u00e4sion \u00e0 droite \u00e9tudi\u00e9e."
    assert r.impression == "Unauff\u00e4lliger Befund."
    ack = build_ack(msg.header).encode(msg.header.codec)
    assert b"|H\xd4PITAL NORD|" in ack and ack.split(b"\r")[0].endswith(b"|8859/1")


# ---- 6. messages this receiver does not take -------------------------------------------------------

@pytest.mark.parametrize(
    ("msh", "version"),
    [
        ("MSH|^~\\&|ADT|H|RADLITE|H|20240301||ADT^A01^ADT_A01|C-ADT|P|2.5.1", "2.5.1"),
        ("MSH|^~\\&|EHR|H|RADLITE|H|20240301||ORM^O01|C-ORM|P|2.3", "2.3"),
        ("MSH|^~\\&|RIS|H|RADLITE|H|20240301||OMI^O23^OMI_O23|C-OMI|P|2.8", "2.8"),
    ],
)
def test_wrong_message_type_gets_ar_200(msh: str, version: str) -> None:
    raw = er7(msh, "EVN|A01|20240301", "PID|1||P93^^^H^MR", "PV1|1|I|4W^401^A")
    err, ack = reject(raw)
    control_id = msh.split("|")[9]
    assert (err.ack_code, err.err_code, err.location) == ("AR", "200", "MSH^1^9")
    assert str(ack.segment("MSA")[1]) == "AR" and str(ack.segment("MSA")[2]) == control_id
    assert str(ack.segment("MSH")[12]) == version
    assert err_fields(ack) == ("MSH^1^9", "200")
    # In enhanced mode the same fault is a commit reject.
    enhanced = raw.replace(f"|{version}\r".encode(), f"|{version}|||AL|NE\r".encode())
    err2, ack2 = reject(enhanced)
    assert err2.err_code == "200" and str(ack2.segment("MSA")[1]) == "CR"


@pytest.mark.parametrize("version", ["2.3", "2.5.1"])
def test_missing_msh10_is_ae_101_at_msh_10(version: str) -> None:
    raw = er7(
        f"MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01||P|{version}",
        "PID|1||P94^^^H^MR",
        "OBR|1||XR-10|71046^XR CHEST^C4|||20240301|||||||||||||||||RAD|F",
        "OBX|1|TX|&GDT^Report^L||Lungs clear.||||||F",
    )
    err, ack = reject(raw)
    assert (err.ack_code, err.err_code, err.location) == ("AE", "101", "MSH^1^10")
    assert str(ack.segment("MSA")[1]) == "AE" and str(ack.segment("MSA")[2]) == ""
    assert err_fields(ack) == ("MSH^1^10", "101")


# ---- 7. statuses: OBX-11, OBR-25, corrections, retractions ----------------------------------------

def _status_msg(obr25: str, obx11: tuple[str, str], cid: str = "C-ST") -> bytes:
    return er7(
        f"MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|{cid}|P|2.5.1",
        "PID|1||P95^^^H^MR",
        f"OBR|1||CT-ST|71250^CT CHEST WO^C4|||20240301|||||||||||||||||CT|{obr25}",
        f"OBX|1|TX|18782-3^Findings^LN||Old text sent in error.||||||{obx11[0]}",
        f"OBX|2|TX|18782-3^Findings^LN||Scattered 3 mm nodules.||||||{obx11[1]}",
    )


@pytest.mark.parametrize(
    ("obr25", "obx11", "status", "findings"),
    [
        ("", ("P", "P"), "preliminary", "Old text sent in error.\nScattered 3 mm nodules."),
        ("", ("F", "F"), "final", "Old text sent in error.\nScattered 3 mm nodules."),
        ("", ("C", "C"), "corrected", "Old text sent in error.\nScattered 3 mm nodules."),
        # A deleted (D) or wrong (W) line is left out and does not retract the whole report.
        ("", ("D", "F"), "final", "Scattered 3 mm nodules."),
        ("", ("W", "C"), "corrected", "Scattered 3 mm nodules."),
        ("", ("F", "D"), "final", "Old text sent in error."),
        ("", ("X", "F"), "final", "Old text sent in error.\nScattered 3 mm nodules."),
        # OBR-25 is the report's status and wins over OBX-11.
        ("F", ("P", "P"), "final", "Old text sent in error.\nScattered 3 mm nodules."),
        ("A", ("F", "F"), "partial", "Old text sent in error.\nScattered 3 mm nodules."),
        ("R", ("R", "R"), "preliminary", "Old text sent in error.\nScattered 3 mm nodules."),
        ("C", ("D", "C"), "corrected", "Scattered 3 mm nodules."),
    ],
)
def test_obx11_and_obr25_statuses(obr25: str, obx11: tuple[str, str], status: str, findings: str) -> None:
    msg = parse_ok(_status_msg(obr25, obx11))
    (r,) = msg.reports
    assert (r.status, r.findings) == (status, findings)
    assert ("D" in obx11 or "W" in obx11) == any("status" in w for w in msg.warnings)


def test_a_report_retracted_line_by_line_is_kept_as_entered_in_error() -> None:
    # Every OBX W ("posted as wrong, e.g. wrong patient"): accepted, kept with no text, so storage
    # supersedes the earlier version and nothing is analysed.
    msg = parse_ok(_status_msg("", ("W", "W"), cid="C-W"))
    (r,) = msg.reports
    assert (r.report_id, r.status, r.findings, r.impression) == ("CT-ST", "entered-in-error", None, None)


def test_a_cancelled_exam_without_text_is_kept() -> None:
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-X|P|2.5.1",
        "PID|1||P95^^^H^MR",
        "OBR|1||MR-X|70551^MRI BRAIN WO^C4|||20240301|||||||||||||||||MR|X",
    )
    (r,) = parse_ok(raw).reports
    assert (r.report_id, r.status, r.findings) == ("MR-X", "cancelled", None)


def test_corrected_report_resent_with_the_same_accession() -> None:
    final = _status_msg("F", ("F", "F"), cid="C-V1")
    corrected = final.replace(b"|C-V1|", b"|C-V2|").replace(b"3 mm", b"4 mm").replace(b"|CT|F\r", b"|CT|C\r")
    corrected = corrected.replace(b"||||||F\r", b"||||||C\r")
    first, second = parse_ok(final).reports[0], parse_ok(corrected).reports[0]
    assert first.report_id == second.report_id == "CT-ST"
    assert (first.status, second.status) == ("final", "corrected")
    assert second.findings == "Old text sent in error.\nScattered 4 mm nodules."
    assert first.content_hash != second.content_hash  # a new version, which supersedes the first


def test_bad_obx11_is_ae_103_with_its_location() -> None:
    err, ack = reject(_status_msg("", ("F", "Q")))
    assert (err.ack_code, err.err_code, err.location) == ("AE", "103", "OBX^2^11")
    assert err_fields(ack) == ("OBX^2^11", "103")


# ---- 8. sections ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "obx",
    [
        ("OBX|1|TX|&GDT^Report^L||IMPRESSION: No acute fracture.||||||F",),
        ("OBX|1|TX|19005-8^Impression^LN||No acute fracture.||||||F",),
        ("OBX|1|TX|73560&IMP^Impression^L||No acute fracture.||||||F",),
        ("OBX|1|FT|18748-4^Diagnostic imaging report^LN||\\.br\\IMPRESSION:\\.br\\No acute fracture.\\.br\\||||||F",),
    ],
)
def test_a_report_with_only_an_impression(obx: tuple[str, ...]) -> None:
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-IMP|P|2.5.1",
        "PID|1||P96^^^H^MR",
        "OBR|1||XR-IMP|73560^XR KNEE 1-2 VIEWS^C4|||20240301|||||||||||||||||RAD|F",
        *obx,
    )
    (r,) = parse_ok(raw).reports
    assert (r.findings, r.impression) == (None, "No acute fracture.")


def test_sections_by_loinc_codes() -> None:
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-LN|P|2.5.1",
        "PID|1||P97^^^H^MR",
        "OBR|1||CT-LN|71271^CT CHEST LOW DOSE SCREENING^C4|||20240301|||||||||||||||||CT|F",
        "OBX|1|TX|18785-6^Indications for procedure^LN|1|Lung cancer screening, 30 pack-years.||||||F",
        "OBX|2|TX|18834-2^Comparison^LN|2|CT chest 2023-03-01.||||||F",
        "OBX|3|TX|18782-3^Findings^LN|3|6 mm solid nodule, right upper lobe, stable.||||||F",
        "OBX|4|TX|19005-8^Impression^LN|4|Lung-RADS 2: benign appearance.||||||F",
        "OBX|5|TX|18783-1^Recommendation^LN|5|Annual LDCT in 12 months.||||||F",
    )
    (r,) = parse_ok(raw).reports
    assert (r.history, r.comparison) == ("Lung cancer screening, 30 pack-years.", "CT chest 2023-03-01.")
    assert r.findings == "6 mm solid nodule, right upper lobe, stable."
    assert r.impression == "Lung-RADS 2: benign appearance.\nAnnual LDCT in 12 months."


def test_sections_by_obx3_suffixes_with_and_without_procedure_code() -> None:
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-SFX|P|2.3.1",
        "PID|1||P98^^^H^MR",
        "OBR|1||MR-SFX|74183^MRI ABDOMEN W WO^C4|||20240301|||||||||||||||||MR|F",
        "OBX|1|TX|74183&GDT^^L|1|Segment 7 observation 2.3 cm with washout.||||||F",
        "OBX|2|TX|&GDT^Report Body^L|1|No biliary dilatation.||||||F",
        "OBX|3|TX|74183&IMP^^L|2|LR-5.||||||F",
        "OBX|4|TX|&ADT^Addendum^L|3|Discussed with Dr. Ito.||||||F",
    )
    (r,) = parse_ok(raw).reports
    assert r.findings == "Segment 7 observation 2.3 cm with washout.\nNo biliary dilatation."
    assert (r.impression, r.addendum) == ("LR-5.", "Discussed with Dr. Ito.")


def test_nte_after_an_obx_is_about_that_observation_never_the_report() -> None:
    raw = er7(*ED_HEAD, ED_OBX, "NTE|1|L|Report available as PDF only.")
    err, _ack = reject(raw)
    assert (err.err_code, err.location) == ("101", "OBR^1") and "ED" in err.text


# ---- 9. accession and headings as RIS templates write them --------------------------------------

def test_accession_sent_only_in_orc() -> None:
    # ORC-2/3 and OBR-2/3 carry the same numbers; a sender may value them in the ORC only.
    raw = er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-ORC|P|2.5.1",
        "PID|1||P99^^^H^MR",
        "ORC|RE|PL-1^EHR|FIL-9^RIS||CM",
        "OBR|1|||71046^XR CHEST 2 VIEWS^C4|||20240301|||||||||||||||||RAD|F",
        "OBX|1|TX|&GDT^Report^L||Lungs clear.||||||F",
        "OBR|2|||71101^XR RIBS^C4|||20240301|||||||||||||||||RAD|F",
        "OBX|1|TX|&GDT^Report^L||No rib fracture.||||||F",
    )
    msg = parse_ok(raw)
    # The ORC belongs to the OBR right after it only; the second exam has no number of its own.
    assert [(r.report_id, r.accession) for r in msg.reports] == [("FIL-9", "FIL-9"), ("C-ORC-2", None)]


def test_capitalised_headings_without_colon_split_like_headings_with_one() -> None:
    def report(exam: str, findings: str, impression: str) -> RadiologyReport:
        raw = er7(
            "MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|C-HD|P|2.5.1",
            "PID|1||P99^^^H^MR",
            "OBR|1||XR-HD|71046^XR CHEST 2 VIEWS^C4|||20240301|||||||||||||||||RAD|F",
            f"OBX|1|FT|&GDT^Report^L||{exam}\\.br\\XR chest PA and lateral.\\.br\\{findings}\\.br\\"
            "Lungs clear. Impression of a small effusion on the lateral view is not confirmed.\\.br\\\\.br\\"
            f"{impression}\\.br\\No acute disease.||||||F",
        )
        (r,) = parse_ok(raw).reports
        return r

    bare, colon = report("EXAMINATION", "FINDINGS", "IMPRESSION"), report("EXAMINATION:", "FINDINGS:", "IMPRESSION:")
    assert bare.impression == colon.impression == "No acute disease."
    # "Impression of ..." in a sentence is no heading; the exam line stays in the body either way.
    assert bare.findings == colon.findings == (
        "XR chest PA and lateral.\nLungs clear. Impression of a small effusion on the lateral view is not confirmed.")
