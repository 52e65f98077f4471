"""ACKs: codes per mode, MSH echo rules, ERR layouts per version; read back by hl7apy and python-hl7."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7 import Hl7Error, MshHeader, ack_for_storage_failure, build_ack, parse_oru, peek_header

NOW = datetime(2025, 3, 14, 9, 15, 3, tzinfo=UTC)


def _header(**kw: str) -> MshHeader:
    base = dict(
        sending_app="RIS_EPIC", sending_facility="NORTHVALLEY_RAD", receiving_app="RADCDS",
        receiving_facility="NORTHVALLEY", message_type="ORU", trigger="R01", structure="ORU_R01",
        control_id="RIS20250314091502001", processing_id="P", version="2.5.1",
    )
    base.update(kw)
    return MshHeader(**base)


def _py(ack: str) -> hl7.Message:
    assert ack.endswith("\r") and "\n" not in ack
    return hl7.parse(ack)


def test_original_mode_accept_echoes_msh_the_way_engines_expect() -> None:
    ack = build_ack(_header(), now=NOW, control_id="RADCDS-000001")
    assert ack == (
        "MSH|^~\\&|RADCDS|NORTHVALLEY|RIS_EPIC|NORTHVALLEY_RAD|20250314091503+0000||ACK^R01^ACK|RADCDS-000001|P|2.5.1\r"
        "MSA|AA|RIS20250314091502001\r"
    )
    parsed = parse_message(ack, validation_level=VALIDATION_LEVEL.TOLERANT)
    assert parsed.msa.msa_1.value == "AA" and parsed.msh.msh_9.to_er7() == "ACK^R01^ACK"


def test_enhanced_mode_commit_codes() -> None:
    header = _header(accept_ack_type="AL", app_ack_type="NE")
    assert _py(build_ack(header)).segment("MSA")[1][0] == "CA"
    err = Hl7Error("AE", "101", "OBX^7^11", "required field missing")
    assert _py(build_ack(header, error=err)).segment("MSA")[1][0] == "CE"
    rej = Hl7Error("AR", "200", "MSH^1^9", "unsupported message type")
    assert _py(build_ack(header, error=rej)).segment("MSA")[1][0] == "CR"
    # an explicit commit flag wins over the header
    assert _py(build_ack(header, commit=False)).segment("MSA")[1][0] == "AA"
    assert _py(build_ack(_header(), commit=True)).segment("MSA")[1][0] == "CA"


def test_new_control_id_each_time_and_kept_fields() -> None:
    header = _header(processing_id="T", version="2.6", charset="UNICODE UTF-8")
    a, b = _py(build_ack(header)), _py(build_ack(header))
    assert str(a.segment("MSH")[10]) != str(b.segment("MSH")[10])
    assert len(str(a.segment("MSH")[10])) <= 20
    msh = a.segment("MSH")
    assert (str(msh[11]), str(msh[12]), str(msh[18])) == ("T", "2.6", "UNICODE UTF-8")


def test_err_v25_layout() -> None:
    err = Hl7Error("AE", "101", "OBX^7^11", "required field missing (OBX-11 of OBX 7)")
    ack = build_ack(_header(), error=err, now=NOW)
    segs = ack.split("\r")
    assert segs[1] == "MSA|AE|RIS20250314091502001|required field missing (OBX-11 of OBX 7)"
    fields = segs[2].split("|")
    assert fields[:5] == ["ERR", "", "OBX^7^11", "101^Required field missing^HL70357", "E"]
    assert fields[7] == "required field missing (OBX-11 of OBX 7)" and fields[8]
    parsed = parse_message(ack, validation_level=VALIDATION_LEVEL.TOLERANT)
    assert parsed.err.err_3.err_3_1.value == "101"
    assert parsed.err.err_2.to_er7() == "OBX^7^11"


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4"])
def test_err_eld_layout_for_24_and_older(version: str) -> None:
    err = Hl7Error("AE", "102", "OBX^1^5", "data type error")
    segs = build_ack(_header(version=version), error=err).split("\r")
    assert segs[2] == "ERR|OBX^1^5^102&Data type error&HL70357"
    msh9 = segs[0].split("|")[8]
    assert msh9 == ("ACK^R01" if version == "2.3" else "ACK^R01^ACK")


def test_v27_drops_msa3_and_keeps_truncation_char() -> None:
    header = _header(version="2.8", encoding_chars="^~\\&#")
    ack = build_ack(header, error=Hl7Error("AE", "101", "MSH^1^10", "missing"))
    assert ack.startswith("MSH|^~\\&#|") and "\rMSA|AE|RIS20250314091502001\r" in ack
    assert "\rERR||MSH^1^10|101^" in ack


def test_storage_failure_ack() -> None:
    segs = ack_for_storage_failure(_header()).split("\r")
    assert segs[1].startswith("MSA|AR|RIS20250314091502001")
    assert segs[2].split("|")[3].startswith("207^")
    enhanced = ack_for_storage_failure(_header(accept_ack_type="AL"))
    assert "\rMSA|CR|" in enhanced


def test_no_header_gives_empty_msa2() -> None:
    err = Hl7Error("AE", "100", "PID^1", "segment sequence error (first segment is not MSH)")
    msg = _py(build_ack(None, error=err))
    assert str(msg.segment("MSA")[1]) == "AE" and str(msg.segment("MSA")[2]) == ""
    assert str(msg.segment("MSH")[9]) == "ACK" and str(msg.segment("MSH")[3]) == "RADLITE"


def test_custom_delimiters_are_echoed() -> None:
    raw = b"MSH!@*$%!RIS@X!FAC!ME!US!20250101!!ORU@R01!C1!P!2.5.1\rOBR!1!!A1!1@CT HEAD!!!!!!!!!!!!!!!!!!!!CT!F\r"
    raw += b"OBX!1!TX!&GDT@Report@L!1!Text with $T$ amp!!!!!!F\r"
    msg = parse_oru(raw)
    assert msg.reports[0].findings == "Text with % amp"  # \T\ is this message's subcomponent separator
    ack = build_ack(msg.header)
    assert ack.startswith("MSH!@*$%!ME!US!RIS@X!FAC!") and "\rMSA!AA!C1\r" in ack


def test_dev_acks(hl7_dir: Path, load_expected: Any) -> None:
    for folder in (hl7_dir, hl7_dir / "tolerated", hl7_dir / "bad"):
        for name, exp in load_expected(folder).items():
            raw = (folder / name).read_bytes()
            try:
                ack = build_ack(parse_oru(raw).header)
                code, err3 = exp["expected_ack"], None
            except Hl7Error as err:
                ack = build_ack(err.header or peek_header(raw), error=err)
                code, err3 = exp["expected_ack"], exp["err_code"]
            msg = _py(ack)
            assert str(msg.segment("MSA")[1]) == code, name
            assert str(msg.segment("MSA")[2]) == exp.get("msh10", exp.get("msa2")), name
            if err3:
                assert str(msg.segment("ERR")[3][0][0]) == err3, name
