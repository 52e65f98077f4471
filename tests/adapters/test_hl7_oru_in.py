"""ORU^R01 in: every dev message, the tolerated and broken ones, and the variants the standard allows."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from adapters.hl7 import Hl7Error, frame, modality, normalise, parse_dtm, parse_oru, peek_header, unframe


def test_dev_messages(good_hl7: str, hl7_dir: Path, dev_reports: dict[str, dict[str, Any]], load_expected: Any) -> None:
    name = good_hl7
    expected = load_expected(hl7_dir)[name]
    raw = (hl7_dir / name).read_bytes()
    msg = parse_oru(raw)
    assert len(msg.reports) == 1
    report = msg.reports[0]
    ref = dev_reports[expected["report_id"]]
    assert report.findings == ref["findings"]
    assert report.impression == ref["impression"]
    assert report.accession == report.report_id == expected["accession"]
    assert report.modality == ref["modality"]
    assert report.status == "final"
    assert report.source_format == "hl7v2"
    assert report.source_hash == hashlib.sha256(raw).hexdigest()
    assert report.patient_id and report.patient_id.startswith("SYN-D-")
    assert report.procedure and report.procedure_code
    assert report.effective is not None and report.issued is not None
    assert msg.header.control_id == expected["msh10"]
    assert msg.header.enhanced_mode is (expected["ack_mode"] == "enhanced")
    assert msg.charset_used == ("utf-8" if expected["charset"] == "UNICODE UTF-8" else "ascii")
    assert msg.warnings == []


def test_framing_and_line_ends_do_not_change_the_result(good_hl7: str, hl7_dir: Path) -> None:
    raw = (hl7_dir / good_hl7).read_bytes()
    base = parse_oru(raw).reports[0]
    for variant in (frame(raw), raw.replace(b"\r", b"\r\n"), raw.replace(b"\r", b"\n"), b"\x00" + frame(raw) + b"\x00"):
        again = parse_oru(variant).reports[0]
        assert (again.findings, again.impression, again.report_id) == (base.findings, base.impression, base.report_id)
        assert normalise(variant) == raw.rstrip(b"\r")


def test_tolerated_lf_message(hl7_dir: Path, dev_reports: dict[str, dict[str, Any]], load_expected: Any) -> None:
    folder = hl7_dir / "tolerated"
    for name, expected in load_expected(folder).items():
        msg = parse_oru((folder / name).read_bytes())
        assert msg.header.control_id == expected["msa2"]
        ref = dev_reports[expected["report_id"]]
        assert (msg.reports[0].findings, msg.reports[0].impression) == (ref["findings"], ref["impression"])


def test_bad_messages_raise_the_expected_error(hl7_dir: Path, load_expected: Any) -> None:
    folder = hl7_dir / "bad"
    for name, expected in load_expected(folder).items():
        with pytest.raises(Hl7Error) as info:
            parse_oru((folder / name).read_bytes())
        err = info.value
        assert (err.ack_code, err.err_code) == (expected["expected_ack"], expected["err_code"]), name
        assert (err.header.control_id if err.header else "") == expected["msa2"]
        assert err.text


def test_truncated_points_at_obx_11(hl7_dir: Path) -> None:
    with pytest.raises(Hl7Error) as info:
        parse_oru((hl7_dir / "bad" / "03-truncated.hl7").read_bytes())
    assert info.value.location.startswith("OBX^") and info.value.location.endswith("^11")


def test_peek_header(hl7_dir: Path) -> None:
    header = peek_header(frame((hl7_dir / "oru-02.hl7").read_bytes()))
    assert header is not None
    assert (header.message_type, header.trigger, header.structure) == ("ORU", "R01", "ORU_R01")
    assert (header.accept_ack_type, header.app_ack_type, header.version) == ("AL", "NE", "2.5.1")
    assert header.sending_app == "SYN_RIS" and header.receiving_facility == "RADLITE_CDS"
    assert peek_header((hl7_dir / "bad" / "01-missing-msh.hl7").read_bytes()) is None
    assert peek_header(b"") is None
    assert peek_header(b"MSH|ab") is None


# ---- the spec's example messages (integration.md §4.10) and other variants -----------------

EX_A = (
    "MSH|^~\\&|RIS_EPIC|NORTHVALLEY_RAD|RADCDS|NORTHVALLEY|20250314091502-0500||ORU^R01^ORU_R01|RIS1|P|2.5.1|||AL|NE||UNICODE UTF-8\r"
    "PID|1||998877665^^^SSA^SS~00482913^^^NVH^MR||REYES^MARTA||19580722|F\r"
    "ORC|RE|ORD778812^EPIC|ACC1^RIS||CM\r"
    "OBR|1|ORD778812^EPIC|ACC1^RIS|71271^CT CHEST LOW DOSE^CPT4|||20250314081500-0500|||||||||||||||20250314091455||CT|F\r"
    "OBX|1|TX|71271&GDT^Findings^L|1|LUNGS: 7 mm solid nodule in the RUL.||||||F\r"
    "OBX|2|TX|71271&GDT^Findings^L|1|  Indented line.||||||F\r"
    "OBX|3|TX|71271&IMP^Impression^L|2|1. Growing nodule. Lung-RADS 4A.~2. Recommend LDCT in 3 months.||||||F\r"
    "OBX|4|CWE|RID50134^Lung-RADS assessment^RADLEX|3|4A^Lung-RADS 4A^L||||||F\r"
)

EX_B = (
    "MSH|^~\\&|PACSRPT|STLUKE_BREAST|RADCDS|STLUKE|20250402143010||ORU^R01^ORU_R01|MG-451|P|2.4||||||8859/1\r"
    "PID|1||A7730021^^^STL^MR||OKONKWO^GRACE||19710930|F\r"
    "OBR|1||MG25040200451|77067^MAMMO SCREENING BILAT W CAD^CPT4|||20250402101200||||||||||||||20250402142955||MG|F\r"
    "OBX|1|FT|77067&GDT^Report^L|1|EXAM: Bilateral screening mammogram.\\.br\\\\.br\\FINDINGS: Right breast: 9 mm mass"
    " \\T\\ calcifications. Caf\xe9.\\.br\\Left breast: negative.\\.br\\\\.br\\IMPRESSION: BI-RADS 0: Incomplete.||||||F\r"
    "OBX|2|CE|77067&IMP^Impression^L|1|397138000^Mammography assessment (Category 0)^SCT||||||F\r"
    "NTE|1|L|Patient notified by letter.\r"
)

EX_C = (
    "MSH|^~\\&|RIS|MERCY_RAD|RADCDS|MERCY|20250519170544||ORU^R01^ORU_R01|MR884213C|P|2.3.1|||AL|NE\r"
    "PID|1||M0092217^^^MERCY^MR||DUBOIS^HENRI||19640211|M\r"
    "OBR|1|PL55120|MR2505190044|74183^MRI ABDOMEN W WO CONTRAST^CPT4|||20250519120500|||||||||||||||20250519170540||MR|C\r"
    "OBX|1|TX|74183&GDT^Findings^L|1|LIVER: Segment 7 observation 2.3 cm.||||||C\r"
    "OBX|2|TX|74183&IMP^Impression^L|1|LR-5 observation in segment 7.||||||C\r"
    "OBX|3|TX|74183&ADT^Addendum^L|1|ADDENDUM: Comparison CT reviewed.||||||C\r"
)


def test_example_a_repetitions_coded_rads_and_mr_preference() -> None:
    msg = parse_oru(EX_A.encode("utf-8"))
    (report,) = msg.reports
    assert report.findings == "LUNGS: 7 mm solid nodule in the RUL.\n  Indented line."
    assert report.impression == "1. Growing nodule. Lung-RADS 4A.\n2. Recommend LDCT in 3 months."
    assert report.patient_id == "00482913"  # the MR identifier, not the first repetition
    assert report.accession == "ACC1" and report.modality == "CT"
    assert report.effective == datetime(2025, 3, 14, 8, 15, tzinfo=timezone(timedelta(hours=-5)))
    assert msg.header.enhanced_mode and msg.charset_used == "utf-8"


def test_example_b_ft_headings_latin1_and_coded_impression() -> None:
    msg = parse_oru(EX_B.encode("latin-1"))
    (report,) = msg.reports
    assert msg.charset_used == "latin-1"
    assert report.findings == "Right breast: 9 mm mass & calcifications. Café.\nLeft breast: negative."
    assert report.impression == "BI-RADS 0: Incomplete."
    assert report.modality == "MG" and report.report_id == "MG25040200451" and report.patient_id == "A7730021"


def test_coded_impression_is_the_fallback() -> None:
    raw = EX_B.replace("\\.br\\\\.br\\IMPRESSION: BI-RADS 0: Incomplete.", "")
    report = parse_oru(raw.encode("latin-1")).reports[0]
    assert report.impression == "Mammography assessment (Category 0)"


def test_example_c_corrected_with_addendum() -> None:
    report = parse_oru(EX_C.encode()).reports[0]
    assert report.status == "corrected"
    assert report.addendum == "ADDENDUM: Comparison CT reviewed."
    assert report.impression == "LR-5 observation in segment 7."
    assert report.accession == "MR2505190044"


@pytest.mark.parametrize(
    ("obr25", "obx11", "status"),
    [("P", "P", "preliminary"), ("F", "F", "final"), ("C", "C", "corrected"), ("", "P", "preliminary"),
     ("", "C", "corrected"), ("", "F", "final"), ("A", "F", "partial")],
)
def test_status_mapping(obr25: str, obx11: str, status: str) -> None:
    raw = EX_C.replace("||MR|C\r", f"||MR|{obr25}\r").replace("||||||C\r", f"||||||{obx11}\r")
    assert parse_oru(raw.encode()).reports[0].status == status


def test_several_obr_groups_and_whole_report_in_one_obx() -> None:
    raw = (
        "MSH|^~\\&|RIS|H|RADLITE|H|20250101||ORU^R01|CTL9|T|2.3\r"
        "PID|1||P1^^^H^MR\r"
        "OBR|1||ACC-A|71046^XR CHEST 2 VIEWS^C4|||20250101|||||||||||||||||RAD|F\r"
        "OBX|1|TX|&GDT^Report^L|1|Lungs clear.||||||F\r"
        "OBR|2||ACC-B|74176^ABDOMEN^L|||20250101|||||||||||||||||CT|F\r"
        "OBX|1|FT|18748-4^Diagnostic imaging study^LN||HISTORY: pain.\\.br\\FINDINGS:\\.br\\Liver normal.\\.br\\"
        "IMPRESSION:\\.br\\Normal CT.||||||F\r"
        "OBR|3||ACC-C|X^Y^L||||||||||||||||||||RAD|F\r"
        "ZDS|1.2.3\r"
    )
    msg = parse_oru(raw.encode())
    assert [r.report_id for r in msg.reports] == ["ACC-A", "ACC-B"]
    a, b = msg.reports
    assert (a.findings, a.impression, a.modality, a.patient_id) == ("Lungs clear.", None, "DX", "P1")
    # History lines stay in the body (adapters.sections); the EXAM-less FINDINGS heading is dropped.
    assert (b.findings, b.impression, b.modality) == ("HISTORY: pain.\nLiver normal.", "Normal CT.", "CT")
    assert any("OBR 3" in w for w in msg.warnings)


def test_cp1252_fallback_is_recorded() -> None:
    raw = EX_C.replace("segment 7.||", "segment 7 \u2013 50\u00b5m.||").encode("cp1252")
    msg = parse_oru(raw)
    assert msg.charset_used == "cp1252"
    assert "\u2013 50\u00b5m" in (msg.reports[0].impression or "")
    assert any("cp1252" in w for w in msg.warnings)


def test_missing_accession_falls_back_to_control_id() -> None:
    raw = EX_C.replace("|PL55120|MR2505190044|", "|||")
    report = parse_oru(raw.encode()).reports[0]
    assert report.accession is None and report.report_id == "MR884213C-1"


@pytest.mark.parametrize(
    ("change", "ack", "code", "location"),
    [
        (("ORU^R01^ORU_R01", "ORU^R30^ORU_R30"), "AR", "201", "MSH^1^9^1^2"),
        (("|2.3.1|", "|2.2|"), "AR", "203", "MSH^1^12"),
        (("|2.3.1|", "|9.9|"), "AR", "203", "MSH^1^12"),
        (("|MR884213C|P|", "|MR884213C|X|"), "AR", "202", "MSH^1^11"),
        (("|MR884213C|P|", "||P|"), "AE", "101", "MSH^1^10"),
        (("|ORU^R01^ORU_R01|", "||"), "AE", "101", "MSH^1^9"),
        (("|AL|NE", "|XX|NE"), "AE", "103", "MSH^1^15"),
        (("||MR|C\r", "||MR|Q\r"), "AE", "103", "OBR^1^25"),
        (("in segment 7.||||||C", "in segment 7.||||||Q"), "AE", "103", "OBX^2^11"),
        (("OBX|2|TX|74183&IMP", "OBX|2|ZZ|74183&IMP"), "AE", "103", "OBX^2^2"),
        (("OBX|2|TX|74183&IMP^Impression^L|", "OBX|2||74183&IMP^Impression^L|"), "AE", "101", "OBX^2^2"),
        (("OBX|2|TX|74183&IMP^Impression^L|", "OBX|2|TX||"), "AE", "101", "OBX^2^3"),
        (("MSH|^~\\&|", "MSH|^^\\&|"), "AE", "102", "MSH^1^2"),
        (("OBR|1|", "NTE|1|"), "AE", "100", "OBX^1"),
        (("PID|1||", "MSH|^~\\&|X|Y|Z|W|2025||ORU^R01|2|P|2.3.1\rPID|1||"), "AE", "100", "MSH^2"),
        (("PID|1||", "pid|1||"), "AE", "100", ""),
    ],
)
def test_faults_map_to_ack_codes(change: tuple[str, str], ack: str, code: str, location: str) -> None:
    raw = EX_C.replace(*change)
    assert raw != EX_C
    with pytest.raises(Hl7Error) as info:
        parse_oru(raw.encode())
    err = info.value
    assert (err.ack_code, err.err_code, err.location) == (ack, code, location)
    if code != "102":
        assert err.header is not None


def test_no_obr_and_no_text() -> None:
    with pytest.raises(Hl7Error) as info:
        parse_oru(EX_C.split("OBR|")[0].encode())
    assert (info.value.err_code, info.value.location) == ("100", "OBR^1")
    no_text = "".join(line + "\r" for line in EX_C.split("\r") if line and not line.startswith("OBX"))
    with pytest.raises(Hl7Error) as info:
        parse_oru(no_text.encode())
    assert info.value.err_code == "101"
    with pytest.raises(Hl7Error):
        parse_oru(b"")


def test_error_texts_carry_no_report_text() -> None:
    raw = EX_C.replace("||||||C\r", "||||||Q\r").encode()
    with pytest.raises(Hl7Error) as info:
        parse_oru(raw)
    assert "segment 7" not in str(info.value) and "DUBOIS" not in str(info.value)


def test_embedded_lf_in_a_value_is_a_line_break() -> None:
    raw = EX_C.replace("LIVER: Segment 7", "LIVER:\nSegment 7").encode()
    assert parse_oru(raw).reports[0].findings == "LIVER:\nSegment 7 observation 2.3 cm."


@pytest.mark.parametrize(
    ("section", "procedure", "expected"),
    [
        ("CT", "anything", "CT"), ("NMR", None, "MR"), ("MR", None, "MR"), ("RUS", None, "US"),
        ("VUS", None, "US"), ("MG", None, "MG"), ("NMS", None, "NM"), ("RAD", "SCREENING MAMMOGRAPHY", "MG"),
        ("RAD", "XR CHEST 2 VIEWS", "DX"), ("RAD", "XR CHEST AP PORTABLE", "CR"), ("RAD", "XR CHEST 1 VIEW", "CR"),
        ("RX", "PET/CT SKULL BASE TO THIGH", "PT"), ("", "US PELVIS", "US"), ("", "CT HEAD W CONTRAST", "CT"),
        ("RAD", "MRI BRAIN", "MR"), ("RAD", "", "DX"), ("", "", None), ("", "ABDOMEN W CONTRAST", None),
    ],
)
def test_modality_mapping(section: str, procedure: str | None, expected: str | None) -> None:
    assert modality(section, procedure) == expected


def test_parse_dtm() -> None:
    assert parse_dtm("2025") == datetime(2025, 1, 1)
    assert parse_dtm("202503140815") == datetime(2025, 3, 14, 8, 15)
    assert parse_dtm("20250314081530.1234+0100") == datetime(
        2025, 3, 14, 8, 15, 30, 123400, tzinfo=timezone(timedelta(hours=1))
    )
    assert parse_dtm("20251340") is None
    assert parse_dtm("yesterday") is None


def test_mllp_helpers_and_bom() -> None:
    framed = frame(EX_C)
    assert framed.startswith(b"\x0b") and framed.endswith(b"\x1c\r")
    assert unframe(framed) == EX_C.encode() and unframe(b"no frame") == b"no frame"
    assert parse_oru(b"\xef\xbb\xbf" + EX_C.encode()).reports[0].accession == "MR2505190044"


def test_accept_ack_wanted() -> None:
    header = parse_oru(EX_C.encode()).header  # MSH-15 AL, MSH-16 NE
    assert header.enhanced_mode and header.wants_accept_ack(error=False) and header.wants_accept_ack(error=True)
    er = header.model_copy(update={"accept_ack_type": "ER"})
    assert not er.wants_accept_ack(error=False) and er.wants_accept_ack(error=True)
    never = header.model_copy(update={"accept_ack_type": "NE"})
    assert not never.wants_accept_ack(error=True)
    original = header.model_copy(update={"accept_ack_type": "", "app_ack_type": ""})
    assert not original.enhanced_mode and original.wants_accept_ack(error=False)
