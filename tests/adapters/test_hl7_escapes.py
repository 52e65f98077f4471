"""Escape sequences: exact decoding of every kind, and escape/unescape round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hl7 import EncodingChars, escape, unescape

ENC = EncodingChars()
ENC_27 = EncodingChars(truncation="#")
ODD = EncodingChars(field="!", component="@", repetition="*", escape="$", subcomponent="%")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (r"a\F\b\S\c\T\d\R\e\E\f", "a|b^c&d~e\\f"),
        (r"line one\.br\line two", "line one\nline two"),
        (r"a\.br\\.br\b", "a\n\nb"),
        (r"a\.sp 2\b", "a\n\nb"),
        (r"a\.sp\b", "a\nb"),
        (r"upper\.BR\case\.SP 2\x", "upper\ncase\n\nx"),  # capitals, as some RIS print them
        (r"\.in 2\x\.ti 1\y\.sk 3\z", "  x y   z"),
        (r"\.fi\a\.nf\b\.ce\c", "ab\nc"),
        (r"\H\bold\N\ text", "bold text"),
        (r"crlf\X0D0A\end", "crlf\r\nend"),
        (r"caf\XC3A9\ ok", "café ok"),
        (r"\Zlocal\kept\C2842\x\M2442\y", "keptxy"),
        (r"no closing \escape", r"no closing \escape"),
        (r"C:\path\file", r"C:\path\file"),
        (r"odd hex \X0\ stays", r"odd hex \X0\ stays"),
    ],
)
def test_unescape_cases(raw: str, text: str) -> None:
    assert unescape(raw, ENC) == text


def test_truncation_escape_only_when_declared() -> None:
    assert unescape(r"a\P\b", ENC_27) == "a#b"
    assert unescape(r"a\P\b", ENC) == r"a\P\b"


def test_hex_uses_message_charset() -> None:
    assert unescape("\\XE9\\", ENC, charset="latin-1") == "é"
    assert unescape("\\XE9\\", ENC, charset="utf-8") == "é"  # invalid UTF-8 byte falls back to latin-1


def test_escape_examples() -> None:
    assert escape("a|b^c&d~e\\f", ENC) == r"a\F\b\S\c\T\d\R\e\E\f"
    assert escape("x\ny", ENC, formatted=True) == r"x\.br\y"
    assert escape("x\ny", ENC) == r"x\X0A\y"
    assert escape("50#", ENC_27) == "50\\P\\"


@settings(max_examples=300, deadline=None)
@given(text=st.text(), formatted=st.booleans(), enc=st.sampled_from([ENC, ENC_27, ODD]))
def test_round_trip(text: str, formatted: bool, enc: EncodingChars) -> None:
    encoded = escape(text, enc, formatted=formatted)
    for delim in (enc.field, enc.component, enc.repetition, enc.subcomponent, "\r", "\n"):
        assert delim not in encoded
    assert unescape(encoded, enc) == text


@settings(max_examples=300, deadline=None)
@given(raw=st.text(alphabet=st.sampled_from(list("\\ab.XZ0123456789FSTREHNCMbrsp "))))
def test_unescape_never_raises(raw: str) -> None:
    assert isinstance(unescape(raw, ENC), str)
