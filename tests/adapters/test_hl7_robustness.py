"""No input crashes the parser: random bytes and mutated dev messages give a report or an Hl7Error."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hl7 import Hl7Error, build_ack, parse_oru, peek_header

SEED = (
    b"MSH|^~\\&|RIS|H|RADLITE|H|20250101||ORU^R01^ORU_R01|C1|P|2.5.1|||AL|NE\r"
    b"PID|1||P1^^^H^MR\rOBR|1||A1|71046^XR CHEST^C4|||20250101|||||||||||||||||RAD|F\r"
    b"OBX|1|FT|&GDT^Report^L|1|FINDINGS: a\\.br\\b \\T\\ c\\X41\\~x||||||F\r"
    b"OBX|2|TX|19005-8^Impression^LN|2|IMPRESSION: ok||||||F\r"
)


def _check(raw: bytes) -> None:
    """parse_oru gives a report or an Hl7Error, and either way an ACK can be built."""
    try:
        msg = parse_oru(raw)
    except Hl7Error as err:
        assert err.ack_code in ("AE", "AR") and err.err_code and err.text
        ack = build_ack(err.header or peek_header(raw), error=err)
    else:
        assert msg.reports
        ack = build_ack(msg.header)
    assert ack.startswith("MSH") and "\rMSA" in ack


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=600))
def test_random_bytes(raw: bytes) -> None:
    _check(raw)
    peek_header(raw)


@settings(max_examples=300, deadline=None)
@given(tail=st.binary(max_size=300))
def test_random_bytes_after_a_valid_msh(tail: bytes) -> None:
    _check(SEED.split(b"\r")[0] + b"\r" + tail)


_ALPHABET = b"|^~\\&\r\n\x0b\x1cMSHOBXR019.#AZaz \xc3\xa9\xff\x00"


@st.composite
def _mutated(draw: st.DrawFn, source: bytes) -> bytes:
    data = bytearray(source)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        byte = draw(st.sampled_from(list(_ALPHABET)))
        if op == "insert":
            data.insert(pos, byte)
        elif op == "delete" and pos < len(data):
            del data[pos]
        elif op == "replace" and pos < len(data):
            data[pos] = byte
        elif op == "truncate":
            del data[pos:]
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_messages(data: st.DataObject, hl7_dir: Path) -> None:
    sources = [SEED] + [p.read_bytes() for p in sorted(hl7_dir.glob("*.hl7"))[:4]]
    source = data.draw(st.sampled_from(sources))
    _check(data.draw(_mutated(source)))


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_in_a_value(text: str) -> None:
    raw = SEED.replace(b"IMPRESSION: ok", text.encode("utf-8", errors="replace"))
    _check(raw)
