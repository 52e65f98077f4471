"""HL7 v2 round 7b: two ORU^R01 intake gaps, as interface engines and RIS really send them.

1. ORC after its OBR (PID, OBR, ORC, OBX: some engines write the order segment second). Before: the
   ORC was held for the next OBR, so an OBR with no order number of its own went out keyed on
   MSH-10 (or, with a second exam after it, the second exam took the first one's accession and
   the two reports were merged into one). Now the ORC right after an OBR, before its OBX, is that
   OBR's order (with a warning); one after the OBX, or before another patient's PID, is nobody's.
   ORC before OBR (the v2 order) is read as before.
2. An OBX of value type ED holding the report as a text document (`^TEXT^PLAIN^Base64^...`,
   `^TEXT^RTF^Base64^...`, `^TEXT^^A^...`). Before: AE 101 (no report text). Now plain text
   (encodings A, Base64, Hex), RTF and HTML are read; a PDF or an image stays unread; an ED text
   beside narrative TX/FT text is left out (said in a warning) so the report is not read twice;
   data that says it is text and is not answers AE 102 at that OBX-5.

Every test checks the ACK the sender gets (MSA-1, and ERR-3/ERR-2 for errors) and the text or
accession read.
"""

from __future__ import annotations

import base64
import codecs

import pytest
from hl7_rounds import LN_F, LN_I, LN_R, ack_for, er7, err_of, obx
from test_hl7_round7 import PID, msh, obr

from adapters.hl7 import Hl7Error, OruMessage

PID2 = "PID|1||LK80412^^^LAKESIDE^MR||SYNTHETIC^UNIFORM^J||19710704|F"
_RTF = (
    r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss Arial;}}{\colortbl;\red0\green0\blue0;}"
    r"\viewkind4\uc1\pard\f0\fs20\b FINDINGS:\b0\par Lungs are clear. No pleural effusion.\par\par"
    r"\b IMPRESSION:\b0\par No acute cardiopulmonary disease.\par}"
)
_PLAIN = "FINDINGS:\r\nLungs are clear. No pleural effusion.\r\n\r\nIMPRESSION:\r\nNo acute cardiopulmonary disease.\r\n"
_PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"


def b64(data: str | bytes, charset: str = "utf-8") -> str:
    return base64.b64encode(data.encode(charset) if isinstance(data, str) else data).decode("ascii")


def accept(raw: bytes) -> tuple[str, OruMessage]:
    """The MSA-1 the sender gets and what was read; the message must parse."""
    ack, parsed = ack_for(raw)
    assert not isinstance(parsed, Hl7Error), parsed
    return _msa1(ack), parsed


def reject(raw: bytes) -> tuple[str, tuple[str, str] | None, Hl7Error]:
    """MSA-1, (ERR-3 code, ERR-2 location) as python-hl7 reads them, and the error."""
    ack, parsed = ack_for(raw)
    assert isinstance(parsed, Hl7Error), parsed
    return _msa1(ack), err_of(ack), parsed


def _msa1(ack: str) -> str:
    return next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")[1]


def ed(value: str, set_id: int = 1, ident: str = LN_R, status: str = "F") -> str:
    return obx(set_id, "ED", ident, value, status)


def _orc_note(msg: OruMessage) -> list[str]:
    return [w for w in msg.warnings if w.startswith("ORC ")]


# ---- 1. ORC after its OBR ------------------------------------------------------------------------


def test_orc_after_obr_gives_the_filler_number_as_accession() -> None:
    # Before: the ORC was never read; the report went out keyed on MSH-10 with no accession.
    raw = er7(msh("TO-1", "mirth"), PID, obr(""), "ORC|RE|PL-7701^EPIC|LK-TO-1^RIS||CM",
              obx(1, "TX", LN_F, "Lungs clear."), obx(2, "TX", LN_I, "Normal chest."))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.report_id) == ("AA", "LK-TO-1", "LK-TO-1")
    assert (r.findings, r.impression) == ("Lungs clear.", "Normal chest.")
    assert _orc_note(msg) == ["ORC 1: comes after OBR 1 (ORC goes before its OBR); read as its order"]


def test_orc_after_obr_with_only_a_placer_number() -> None:
    raw = er7(msh("TO-2", "mirth"), PID, obr(""), "ORC|RE|PL-7702^EPIC||", obx(1, "TX", LN_R, "No fracture."))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "PL-7702", "No fracture.")
    assert not any("no OBR-3/ORC-3" in w for w in msg.warnings)


def test_orc_after_obr_does_not_replace_the_obrs_own_accession() -> None:
    raw = er7(msh("TO-3", "mirth"), PID, obr("LK-TO-3"), "ORC|RE||LK-OTHER-3", obx(1, "TX", LN_F, "Small effusion."))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "LK-TO-3", "Small effusion.")


def test_two_exams_each_with_orc_after_obr_stay_two_reports() -> None:
    # Before: ORC 1 waited for OBR 2, so exam 2 took exam 1's accession and exam 1 had none.
    raw = er7(msh("TO-4", "mirth"), PID,
              obr("", "71046^XR CHEST 2 VIEWS^CPT4"), "ORC|RE|PL-41|LK-TO-41", obx(1, "TX", LN_F, "Lungs clear."),
              obr("", "73030^XR SHOULDER^CPT4", set_id="2"), "ORC|RE|PL-42|LK-TO-42", obx(2, "TX", LN_F, "No fracture."))
    msa1, msg = accept(raw)
    assert msa1 == "AA"
    assert [(r.accession, r.findings) for r in msg.reports] == [("LK-TO-41", "Lungs clear."), ("LK-TO-42", "No fracture.")]
    assert len(_orc_note(msg)) == 2


def test_orc_before_obr_is_read_as_before_with_no_warning() -> None:
    raw = er7(msh("TO-5"), PID, "ORC|RE|PL-51|LK-TO-51", obr(""), obx(1, "TX", LN_F, "Lungs clear."),
              "ORC|RE|PL-52|LK-TO-52", obr("", set_id="2"), obx(2, "TX", LN_F, "Mild cardiomegaly."))
    msa1, msg = accept(raw)
    assert msa1 == "AA"
    assert [(r.accession, r.findings) for r in msg.reports] == [("LK-TO-51", "Lungs clear."),
                                                                ("LK-TO-52", "Mild cardiomegaly.")]
    assert _orc_note(msg) == []


def test_orc_after_the_last_obx_is_nobodys_order() -> None:
    raw = er7(msh("TO-6", "mirth"), PID, obr(""), obx(1, "TX", LN_F, "Lungs clear."), "ORC|RE||LK-TO-6")
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.report_id, r.findings) == ("AA", None, "TO-6-1", "Lungs clear.")
    assert _orc_note(msg) == ["ORC 1: comes before no OBR and right after none; not read"]


def test_orc_after_one_exams_obx_is_not_held_for_the_next_exam() -> None:
    # ORC after exam 1's text, then exam 2 with no number and no ORC. Before: exam 2 was keyed on
    # the stray ORC's number. The ORC heads OBR 2 only if it comes right before it (next test).
    raw = er7(msh("TO-7", "mirth"), PID, obr("LK-TO-71"), obx(1, "TX", LN_F, "Lungs clear."), "ORC|RE||LK-TO-71",
              obx(2, "TX", LN_I, "Normal."), obr("", set_id="2"), obx(3, "TX", LN_F, "No fracture."))
    msa1, msg = accept(raw)
    assert msa1 == "AA"
    assert [(r.accession, r.findings) for r in msg.reports] == [("LK-TO-71", "Lungs clear."), (None, "No fracture.")]
    assert msg.reports[1].report_id == "TO-7-2"


def test_orc_of_one_patient_is_not_read_as_the_next_patients_order() -> None:
    raw = er7(msh("TO-8", "mirth"), PID, obr("LK-TO-81"), obx(1, "TX", LN_F, "Lungs clear."), "ORC|RE||LK-TO-81",
              PID2, obr("", set_id="2"), obx(2, "TX", LN_F, "Small left effusion."))
    msa1, msg = accept(raw)
    assert msa1 == "AA"
    got = [(r.patient_id, r.accession, r.findings) for r in msg.reports]
    assert got == [("LK77031", "LK-TO-81", "Lungs clear."), ("LK80412", None, "Small left effusion.")]


def test_orc_right_before_an_obr_still_heads_it() -> None:
    # A cancelled exam with no OBX, then an ORC and the next exam: the v2 order, read as before.
    raw = er7(msh("TO-9"), PID, "ORC|CA||LK-TO-91", obr("LK-TO-91", status="X"),
              "ORC|RE||LK-TO-92", obr("", set_id="2"), obx(1, "TX", LN_F, "No acute findings."))
    msa1, msg = accept(raw)
    assert msa1 == "AA"
    assert [(r.accession, r.status, r.findings) for r in msg.reports] == [
        ("LK-TO-91", "cancelled", None), ("LK-TO-92", "final", "No acute findings.")]
    assert _orc_note(msg) == []


def test_orc_after_obr_with_notes_between() -> None:
    raw = er7(msh("TO-10", "mirth"), PID, obr(""), "NTE|1|L|Portable exam.", "ORC|RE|PL-10|LK-TO-10",
              obx(1, "TX", LN_F, "Lines and tubes in place."))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "LK-TO-10", "Lines and tubes in place.")


def test_orc_after_obr_says_a_cancelled_order() -> None:
    # ORC-1 CA with OBR-25 empty and no OBX: a cancelled order. Before: the ORC was not read, and
    # the message was answered AE 101 (no report text).
    raw = er7(msh("TO-11", "mirth"), PID, obr("", status=""), "ORC|CA|PL-11|LK-TO-11")
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.status, r.findings) == ("AA", "LK-TO-11", "cancelled", None)


def test_a_second_orc_after_obr_is_not_read() -> None:
    raw = er7(msh("TO-12", "mirth"), PID, "ORC|RE|PL-12|LK-TO-12", obr(""), "ORC|RE|PL-99|LK-WRONG-12",
              obx(1, "TX", LN_F, "Lungs clear."))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "LK-TO-12", "Lungs clear.")
    assert _orc_note(msg) == ["ORC 2: second ORC of OBR 1 (one came before it); not read"]


# ---- 2. ED text documents ------------------------------------------------------------------------


def test_base64_plain_text_report_is_read() -> None:
    # Before: AE 101 (no report text in any OBX; OBX value types ED are not report text).
    raw = er7(msh("ED-1", "ps360"), PID, obr("LK-ED-1"), ed(f"^TEXT^PLAIN^Base64^{b64(_PLAIN)}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession) == ("AA", "LK-ED-1")
    assert (r.findings, r.impression) == ("Lungs are clear. No pleural effusion.", "No acute cardiopulmonary disease.")
    assert all("Lungs" not in w for w in msg.warnings)


def test_lower_case_mime_style_and_missing_padding() -> None:
    data = b64("IMPRESSION: Stable 6 mm right upper lobe nodule.").rstrip("=")
    raw = er7(msh("ED-2", "radai"), PID, obr("LK-ED-2"), ed(f"RADAI^text^plain^base64^{data}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings, r.impression) == ("AA", "LK-ED-2", None, "Stable 6 mm right upper lobe nodule.")


def test_mime_type_whole_in_ed2() -> None:
    raw = er7(msh("ED-3", "cerner"), PID, obr("LK-ED-3"), ed(f"HNAM^text/plain^^Base64^{b64('Findings: No fracture.')}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "LK-ED-3", "No fracture.")


def test_ascii_encoded_text_with_escapes() -> None:
    data = "FINDINGS: Right 3\\T\\4 rib fracture.\\X0D0A\\IMPRESSION: Rib fracture, no pneumothorax."
    raw = er7(msh("ED-4", "mirth"), PID, obr("LK-ED-4"), ed(f"^TEXT^^A^{data}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession) == ("AA", "LK-ED-4")
    assert (r.findings, r.impression) == ("Right 3&4 rib fracture.", "Rib fracture, no pneumothorax.")


def test_hex_encoded_text() -> None:
    data = b"FINDINGS: Gallbladder wall normal.\nIMPRESSION: No cholecystitis.".hex().upper()
    raw = er7(msh("ED-5", "mirth"), PID, obr("LK-ED-5", "76705^US ABDOMEN LTD^CPT4", section="US"),
              ed(f"^TEXT^PLAIN^Hex^{data}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.modality) == ("AA", "LK-ED-5", "US")
    assert (r.findings, r.impression) == ("Gallbladder wall normal.", "No cholecystitis.")


def test_base64_wrapped_at_76_with_escaped_line_breaks() -> None:
    text = "FINDINGS: " + "No acute intracranial hemorrhage. " * 6 + "\nIMPRESSION: Negative head CT."
    encoded = b64(text)
    wrapped = "\\X0D0A\\".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
    raw = er7(msh("ED-6"), PID, obr("LK-ED-6", "70450^CT HEAD WO^CPT4", section="CT"),
              ed(f"EPIC^TEXT^PLAIN^Base64^{wrapped}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.impression) == ("AA", "LK-ED-6", "Negative head CT.")
    assert r.findings == ("No acute intracranial hemorrhage. " * 6).strip()


def test_rtf_report_is_read_as_plain_text() -> None:
    raw = er7(msh("ED-7"), PID, obr("LK-ED-7"), ed(f"EPIC^TEXT^RTF^Base64^{b64(_RTF)}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession) == ("AA", "LK-ED-7")
    assert (r.findings, r.impression) == ("Lungs are clear. No pleural effusion.", "No acute cardiopulmonary disease.")
    assert "\\par" not in r.text() and "fonttbl" not in r.text() and "Arial" not in r.text()


def test_rtf_as_application_data_with_a_code_page_accent() -> None:
    rtf = r"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Calibri;}}\f0 Befund: Gr\'f6\'dfe 12 mm, stabil.\par}"
    raw = er7(msh("ED-8", "ps360"), PID, obr("LK-ED-8"), ed(f"PS^AP^RTF^Base64^{b64(rtf, 'latin-1')}", ident="&GDT^Report^L"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "LK-ED-8", "Befund: Gr\u00f6\u00dfe 12 mm, stabil.")


def test_html_text_document() -> None:
    html = "<html><body><h2>Findings</h2><p>Liver normal.</p><h2>Impression</h2><p>Normal abdomen.</p></body></html>"
    raw = er7(msh("ED-9", "cerner"), PID, obr("LK-ED-9"), ed(f"^TEXT^HTML^Base64^{b64(html)}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings, r.impression) == ("AA", "LK-ED-9", "Liver normal.", "Normal abdomen.")


def test_utf8_text_in_an_ascii_message_and_utf16_with_bom() -> None:
    text = "Befund: L\u00e4sion 9 mm, Durchmesser \u00d8 stabil."
    for cid, data in (("ED-10", b64(text)), ("ED-11", b64(codecs.BOM_UTF16_LE + text.encode("utf-16-le")))):
        msa1, msg = accept(er7(msh(cid), PID, obr(f"LK-{cid}"), ed(f"^TEXT^PLAIN^Base64^{data}")))
        (r,) = msg.reports
        assert (msa1, r.accession, r.findings) == ("AA", f"LK-{cid}", text), cid


def test_cp1252_bytes_in_a_latin1_message() -> None:
    text = "Findings: Kn\u00f6chel ohne Fraktur."
    raw = er7(msh("ED-12", charset="8859/1"), PID, obr("LK-ED-12"),
              ed(f"^TEXT^PLAIN^Base64^{b64(text, 'cp1252')}"), charset="latin-1")
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "LK-ED-12", "Kn\u00f6chel ohne Fraktur.")


def test_text_ed_beside_narrative_tx_is_not_read_twice() -> None:
    raw = er7(msh("ED-13"), PID, obr("LK-ED-13"), obx(1, "TX", LN_F, "Lungs are clear. No pleural effusion."),
              obx(2, "TX", LN_I, "No acute cardiopulmonary disease."), ed(f"EPIC^TEXT^RTF^Base64^{b64(_RTF)}", 3))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession) == ("AA", "LK-ED-13")
    assert (r.findings, r.impression) == ("Lungs are clear. No pleural effusion.", "No acute cardiopulmonary disease.")
    assert "OBX 3: ED text document beside narrative OBX text; the narrative is used" in msg.warnings


def test_plain_and_rtf_renditions_of_one_report_give_it_once() -> None:
    raw = er7(msh("ED-14", "radai"), PID, obr("LK-ED-14"), ed(f"^TEXT^RTF^Base64^{b64(_RTF)}"),
              ed(f"^TEXT^PLAIN^Base64^{b64(_PLAIN)}", 2))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession) == ("AA", "LK-ED-14")
    assert (r.findings, r.impression) == ("Lungs are clear. No pleural effusion.", "No acute cardiopulmonary disease.")
    assert "OBX 1: another rendition of the ED plain text; left out" in msg.warnings


def test_text_ed_beside_a_coded_impression() -> None:
    raw = er7(msh("ED-15", "ps360"), PID, obr("LK-ED-15", "77067^MAMMO SCREENING^CPT4", section="MG"),
              ed(f"^TEXT^PLAIN^Base64^{b64('Scattered fibroglandular density. No suspicious mass.')}"),
              obx(2, "CE", "&IMP^Impression^L", "397141009^Mammography assessment (Category 2) - Benign^SCT"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.modality) == ("AA", "LK-ED-15", "MG")
    assert (r.findings, r.impression) == ("Scattered fibroglandular density. No suspicious mass.",
                                          "Mammography assessment (Category 2) - Benign")


def test_pdf_only_is_still_not_report_text() -> None:
    raw = er7(msh("ED-16"), PID, obr("LK-ED-16"), ed(f"^AP^PDF^Base64^{b64(_PDF)}"))
    msa1, err, exc = reject(raw)
    assert (msa1, err) == ("AE", ("101", "OBR^1"))
    assert "ED" in exc.text


def test_pdf_bytes_labelled_plain_text_are_refused() -> None:
    raw = er7(msh("ED-17"), PID, obr("LK-ED-17"), ed(f"^TEXT^PLAIN^Base64^{b64(_PDF)}"))
    msa1, err, exc = reject(raw)
    assert (msa1, err) == ("AE", ("102", "OBX^1^5"))
    assert "binary" in exc.text and "PDF-1" not in exc.text


def test_broken_base64_hex_and_rtf_answer_ae_102() -> None:
    for cid, value in (("ED-18", "^TEXT^PLAIN^Base64^RklORElOR1M6IE5v*IGZyYWN0dXJl"),
                       ("ED-19", "^TEXT^PLAIN^Hex^46494E44494E47533A2G"),
                       ("ED-20", f"^TEXT^RTF^Base64^{b64('FINDINGS: not RTF at all.')}"),
                       ("ED-21", f"^TEXT^PLAIN^B64^{b64('FINDINGS: clear.')}")):
        msa1, err, exc = reject(er7(msh(cid), PID, obr(f"LK-{cid}"), ed(value)))
        assert (msa1, err) == ("AE", ("102", "OBX^1^5")), cid
        assert "FINDINGS" not in exc.text, cid


def test_broken_text_ed_next_to_a_readable_exam_is_a_warning() -> None:
    raw = er7(msh("ED-22"), PID, obr("LK-ED-221"), obx(1, "TX", LN_F, "Lungs clear."),
              obr("LK-ED-222", set_id="2"), ed("^TEXT^PLAIN^Base64^%%%", 2))
    msa1, msg = accept(raw)
    assert msa1 == "AA"
    assert [(r.accession, r.findings) for r in msg.reports] == [("LK-ED-221", "Lungs clear.")]
    assert "OBX 2: ED data declared as text is not valid Base64; left out" in msg.warnings


def test_deleted_text_ed_is_not_read() -> None:
    raw = er7(msh("ED-23"), PID, obr("LK-ED-23"), ed(f"^TEXT^PLAIN^Base64^{b64('FINDINGS: Wrong patient.')}", status="D"),
              ed(f"^TEXT^PLAIN^Base64^{b64('FINDINGS: Right lower lobe pneumonia.')}", 2))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "LK-ED-23", "Right lower lobe pneumonia.")


def test_orc_after_obr_and_ed_text_together() -> None:
    raw = er7(msh("ED-24", "mirth"), PID, obr(""), "ORC|RE|PL-24|LK-ED-24",
              ed(f"MIRTH^TEXT^PLAIN^Base64^{b64(_PLAIN)}"))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.impression) == ("AA", "LK-ED-24", "No acute cardiopulmonary disease.")


def test_text_and_pdf_repetitions_of_one_ed_obx() -> None:
    value = f"^TEXT^PLAIN^Base64^{b64('IMPRESSION: No DVT.')}~^AP^PDF^Base64^{b64(_PDF)}"
    raw = er7(msh("ED-25", "cerner"), PID, obr("LK-ED-25", "93970^US VENOUS DUPLEX^CPT4", section="US"), ed(value))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings, r.impression) == ("AA", "LK-ED-25", None, "No DVT.")


def test_orc_before_the_pid_of_the_first_exam_is_read_as_before() -> None:
    raw = er7(msh("TO-13", "mirth"), "ORC|RE|PL-13|LK-TO-13", PID, obr(""), obx(1, "TX", LN_F, "Lungs clear."))
    msa1, msg = accept(raw)
    (r,) = msg.reports
    assert (msa1, r.accession, r.findings) == ("AA", "LK-TO-13", "Lungs clear.")
    assert _orc_note(msg) == []


@pytest.mark.parametrize(("field", "value"), [(18, "A2026-0412-77^RIS"), (20, "A2026-0412-77")])
def test_an_accession_only_in_a_placer_or_filler_field_keys_the_report(field: int, value: str) -> None:
    """Spec §4.2: some RIS put the accession in OBR-18/19 (placer fields) or OBR-20/21 (filler fields) and leave
    OBR-2/OBR-3 empty. Before: the report was keyed on MSH-10, so a corrected resend made a second report."""
    fields = obr("").split("|")
    fields[field] = value
    raw = er7(msh("F18-1", "epic"), PID, "|".join(fields), obx(1, "TX", LN_F, "Lungs are clear."))
    code, parsed = accept(raw)
    assert code == "AA"
    assert [r.accession for r in parsed.reports] == ["A2026-0412-77"]
