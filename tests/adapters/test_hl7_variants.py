"""ORU^R01 variants issue 4 names one by one: every version 2.3-2.8.2, ST/CWE values, LOINC and
coded sections, several patients per message, MSH-18 fallbacks; each read back exactly."""

from __future__ import annotations

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7 import Hl7Error, build_ack, parse_oru

VERSIONS = ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"]
HL7APY_VERSIONS = {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8", "2.8.1", "2.8.2"}  # no 2.7.1


def _msg(version: str = "2.5.1", *, msh2: str = "^~\\&", charset: str = "", obx: str = "", tail: str = "") -> str:
    """A small ORU^R01; `obx` replaces the default findings/impression OBX pair."""
    obx = obx or (
        "OBX|1|ST|18782-3^Findings^LN||Lungs clear \\T\\ sharp.||||||F\r"
        "OBX|2|ST|19005-8^Impression^LN||No acute disease.||||||F\r"
    )
    return (
        f"MSH|{msh2}|RIS|H|RADLITE|H|20250101120000||ORU^R01^ORU_R01|CTL-{version}|P|{version}|||AL|NE||{charset}\r"
        "PID|1||P1^^^H^MR\r"
        "OBR|1||ACC-1|71046^XR CHEST 2 VIEWS^C4|||20250101110000|||||||||||||||20250101115900||RAD|F\r"
        + obx + tail
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_every_oru_version_parses_and_is_acked_in_its_version(version: str) -> None:
    # v2.7 added a fifth delimiter (truncation, '#'); a literal '#' in text is then sent as \P\.
    v27 = tuple(int(p) for p in version.split(".")) >= (2, 7)
    raw = _msg(version, msh2="^~\\&#" if v27 else "^~\\&").replace("sharp.", "sharp \\P\\1." if v27 else "sharp #1.")
    msg = parse_oru(raw.encode())
    (report,) = msg.reports
    assert (report.findings, report.impression) == ("Lungs clear & sharp #1.", "No acute disease.")
    assert (report.accession, report.patient_id, report.modality, report.status) == ("ACC-1", "P1", "DX", "final")
    assert msg.warnings == []
    for error in (None, Hl7Error("AE", "101", "OBX^1^11", "required field missing")):
        ack = build_ack(msg.header, error=error)
        parsed = hl7.parse(ack)
        assert str(parsed.segment("MSH")[12]) == version
        assert str(parsed.segment("MSA")[1]) == ("CE" if error else "CA")  # MSH-15/16 set: enhanced mode
        assert str(parsed.segment("MSA")[2]) == f"CTL-{version}"
        if version in HL7APY_VERSIONS:
            back = parse_message(ack, validation_level=VALIDATION_LEVEL.TOLERANT)
            assert back.msa.msa_2.value == f"CTL-{version}"


def test_st_values_and_cwe_impression_fallback() -> None:
    obx = (
        "OBX|1|ST|&GDT^Findings^L|1|Liver normal.||||||F\r"
        "OBX|2|ST|&GDT^Findings^L|1|Spleen \\S\\ kidneys normal.||||||F\r"
        "OBX|3|CWE|&IMP^Impression^L|2|RID5^Normal abdomen^RADLEX||||||F\r"
    )
    (report,) = parse_oru(_msg(obx=obx).encode()).reports
    assert report.findings == "Liver normal.\nSpleen ^ kidneys normal."
    # A coded impression gives its text when no narrative impression was sent.
    assert report.impression == "Normal abdomen"


def test_coded_history_technique_and_comparison_sections() -> None:
    obx = (
        "OBX|1|TX|18785-6^Indications for procedure^LN||Cough for 3 weeks.||||||F\r"
        "OBX|2|TX|&TCM^Technique^L||PA and lateral views.||||||F\r"
        "OBX|3|TX|18834-2^Comparison^LN||None.||||||F\r"
        "OBX|4|TX|18782-3^Findings^LN||Lungs clear.||||||F\r"
        "OBX|5|TX|19005-8^Impression^LN||Normal.||||||F\r"
        "OBX|6|TX|&ADT^Addendum^L||Reviewed with the referrer.||||||F\r"
    )
    (r,) = parse_oru(_msg(obx=obx).encode()).reports
    assert (r.history, r.technique, r.comparison) == ("Cough for 3 weeks.", "PA and lateral views.", "None.")
    assert (r.findings, r.impression, r.addendum) == ("Lungs clear.", "Normal.", "Reviewed with the referrer.")
    # The models read them before the findings, in the usual order.
    assert r.body() == "History: Cough for 3 weeks.\nTechnique: PA and lateral views.\nComparison: None.\nLungs clear."


def test_several_patient_result_groups_keep_each_patient() -> None:
    second = (
        "PID|1||P2^^^H^MR\r"
        "OBR|1||ACC-2|70450^CT HEAD WO CONTRAST^C4|||20250101113000|||||||||||||||||CT|P\r"
        "OBX|1|TX|&GDT^Findings^L||Hyperdense focus.||||||P\r"
        "OBX|2|TX|&IMP^Impression^L||Small bleed.||||||P\r"
    )
    msg = parse_oru(_msg(tail=second).encode())
    assert [(r.report_id, r.patient_id, r.modality, r.status) for r in msg.reports] == [
        ("ACC-1", "P1", "DX", "final"), ("ACC-2", "P2", "CT", "preliminary")]
    assert msg.reports[1].findings == "Hyperdense focus." and msg.reports[1].impression == "Small bleed."


@pytest.mark.parametrize(
    ("charset", "encoded", "codec", "warned"),
    [
        ("UNICODE UTF-8", "caf\u00e9 \\XC3A9\\".encode(), "utf-8", False),
        ("8859/1", "caf\u00e9 \\XE9\\".encode("latin-1"), "latin-1", False),
        ("8859/15", "caf\u00e9 \\XE9\\".encode("iso8859-15"), "iso8859-15", False),
        # Declared UTF-8 but sent in a Windows code page: decoded by the cp1252 fallback, with a warning.
        ("UNICODE UTF-8", "caf\u00e9 \\XE9\\".encode("cp1252"), "cp1252", True),
        # A name outside table 0211: UTF-8 first, with a warning.
        ("KLINGON", "caf\u00e9 \\XC3A9\\".encode(), "utf-8", True),
        # Empty MSH-18 means ASCII; UTF-8 bytes are still read, with a warning.
        ("", "caf\u00e9 \\XC3A9\\".encode(), "utf-8", True),
    ],
)
def test_msh18_charsets_and_safe_fallback(charset: str, encoded: bytes, codec: str, warned: bool) -> None:
    head, _, rest = _msg(charset=charset).partition("Lungs clear \\T\\ sharp.")
    raw = head.encode("ascii") + encoded + rest.encode("ascii")
    msg = parse_oru(raw)
    assert msg.charset_used == codec
    assert msg.reports[0].findings == "caf\u00e9 \u00e9"  # the bytes and the \Xhh\ escape in one charset
    assert bool(msg.warnings) is warned
    assert all("caf" not in w for w in msg.warnings), "warnings name fields, never text"
