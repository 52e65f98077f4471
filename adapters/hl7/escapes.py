"""HL7 v2 escape sequences (v2.5 chapter 2.7), decoded and encoded by us.

Hand-written on purpose: hl7apy 1.3.5 knows only F S T R E H N and turns every other
sequence (\\.br\\, \\Xhh\\, \\.sp n\\ ...) into a literal backslash, which its
to_er7() then writes back as \\E\\.br\\E\\, so formatted text is corrupted; python-hl7
0.4.5 maps \\.br\\ to a bare CR (a segment end) and drops \\.sp n\\. Report text must come
out exactly, so both directions live here and are property-tested for round trips.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX = re.compile(r"^[0-9A-Fa-f]+$")
# Commands are lower case in the standard; some RIS print them in capitals (\.BR\), which is
# unambiguous (no other escape starts with a full stop), so both are read.
_FORMAT = re.compile(r"^\.(?P<cmd>[a-z]{2})\s*(?P<arg>[+-]?\d+)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class EncodingChars:
    """The delimiters a message declares in MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""  # v2.7+ MSH-2 may add a 5th character, usually '#'

    @property
    def msh2(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation

    @classmethod
    def from_msh(cls, field_sep: str, msh2: str) -> EncodingChars:
        """Delimiters from MSH-1/MSH-2; missing trailing ones fall back to the defaults' absence."""
        chars = list(msh2) + [""] * (5 - len(msh2))
        return cls(field_sep, chars[0], chars[1], chars[2], chars[3], chars[4])


DEFAULT_ENCODING = EncodingChars()


def _format_command(seq: str) -> str | None:
    """Text for an FT formatting command (\\.br\\, \\.sp n\\ ...), None when it is not one."""
    m = _FORMAT.match(seq)
    if not m:
        return None
    cmd, arg = m.group("cmd").lower(), m.group("arg")
    n = int(arg) if arg else 1
    if cmd == "br" or cmd == "ce":
        return "\n"
    if cmd == "sp":
        # ".sp n" ends the line and skips n vertical spaces; "\.sp\" equals "\.br\" (v2 2.7.6).
        return "\n" * max(n, 1)
    if cmd in ("in", "ti", "sk"):
        return " " * max(n, 0)
    if cmd in ("fi", "nf"):
        return ""
    return None


def _hex(seq: str, charset: str) -> str | None:
    body = seq[1:]
    if not body or len(body) % 2 or not _HEX.match(body):
        return None
    data = bytes.fromhex(body)
    try:
        return data.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1")


def unescape(value: str, enc: EncodingChars = DEFAULT_ENCODING, *, charset: str = "utf-8") -> str:
    """Decode every escape sequence in one ER7 leaf value.

    Delimiter escapes give their character, \\Xhh..\\ the bytes decoded in `charset`,
    FT commands their line breaks and spaces; highlighting (\\H\\ \\N\\) and local (\\Z..\\)
    escapes are dropped. Character-set switches (\\Cxxyy\\, \\Mxxyy[zz]\\: the ISO 2022
    escape ESC xx yy [zz]) decode the text that follows in the set they name. A lone or
    unknown escape is kept as sent rather than lose text.
    """
    esc = enc.escape
    if not esc or esc not in value:
        return value
    # ("raw", message text) | ("lit", what an escape stands for) | ("sw", an ISO 2022 designation)
    pieces: list[tuple[str, str]] = []
    i, n = 0, len(value)
    delims = {"F": enc.field, "S": enc.component, "T": enc.subcomponent, "R": enc.repetition, "E": esc}
    if enc.truncation:
        delims["P"] = enc.truncation
    while i < n:
        end = value.find(esc, i)
        if end != i:
            pieces.append(("raw", value[i : end if end >= 0 else n]))
            if end < 0:
                break
            i = end
        end = value.find(esc, i + 1)
        if end < 0:
            pieces.append(("raw", value[i:]))
            break
        seq = value[i + 1 : end]
        decoded = _escape_piece(seq, delims, charset)
        if decoded is None:
            # Unknown sequence: keep the opening escape character literally and go on after it,
            # so a stray backslash in free text never swallows the text that follows.
            pieces.append(("raw", value[i]))
            i += 1
            continue
        pieces.append(decoded)
        i = end + 1
    return _join(pieces, charset)


def _escape_piece(seq: str, delims: dict[str, str], charset: str) -> tuple[str, str] | None:
    """One escape sequence (without its escape characters) as a piece; None when it is none."""
    decoded: str | None
    if seq in delims:
        return ("lit", delims[seq])
    if seq in ("H", "N"):
        return ("lit", "")
    if _SWITCH.match(seq):
        return ("sw", bytes.fromhex(seq[1:]).decode("latin-1"))
    if seq.startswith("X"):
        decoded = _hex(seq, charset)
    elif seq.startswith("."):
        decoded = _format_command(seq)
    elif seq[:1] == "Z" and len(seq) > 1:
        decoded = ""
    else:
        decoded = None
    return None if decoded is None else ("lit", decoded)


# \Cxxyy\ (single-byte set) and \Mxxyy[zz]\ (multi-byte set): the bytes after ESC of an ISO 2022
# designation (v2.5 2.7.4). Anything else that starts with C or M is text (a path like C:\Clinic\).
_SWITCH = re.compile(r"^(C[0-9A-Fa-f]{4}|M[0-9A-Fa-f]{4}(?:[0-9A-Fa-f]{2})?)$")
_ESC = "\x1b"
_ISO2022_MULTI = {"$@", "$A", "$B", "$(C", "$(D"}  # JIS X 0208, GB 2312, KS X 1001, JIS X 0212
_GR_SETS = {
    "-A": "iso8859-1", "-B": "iso8859-2", "-C": "iso8859-3", "-D": "iso8859-4", "-F": "iso8859-7",
    "-G": "iso8859-6", "-H": "iso8859-8", "-L": "iso8859-5", "-M": "iso8859-9", "-b": "iso8859-15",
    ")I": "shift_jis", "$)C": "euc_kr",
}
"""Sets designated to G1 (ISO 2022 8-bit): the message's high bytes are read in them."""
_SINGLE_BYTE = ("ascii", "latin-1", "iso8859", "cp125")


def _join(pieces: list[tuple[str, str]], charset: str) -> str:
    """Concatenate pieces; message text after a character-set switch is read in that set."""
    out: list[str] = []
    state = ""
    for kind, text in pieces:
        if kind == "sw":
            state = text
        elif kind == "raw" and state:
            out.append(_in_set(text, state, charset))
        else:
            out.append(text)
    return "".join(out)


def _in_set(text: str, designation: str, charset: str) -> str:
    """Message text read in the ISO 2022 set `designation` names; unchanged when it cannot be."""
    try:
        if designation in _ISO2022_MULTI or designation == "(I":
            codec = "iso2022_jp_ext" if designation == "(I" else "iso2022_jp_2"
            data = (_ESC + designation + text + _ESC + "(B").encode("latin-1")
            return data.decode(codec)
        if designation in _GR_SETS:
            source = charset if charset.lower().startswith(_SINGLE_BYTE) else "latin-1"
            return text.encode(source).decode(_GR_SETS[designation])
    except (UnicodeError, LookupError):
        pass
    return text  # ASCII / JIS X 0201 Roman (ESC ( B, ESC ( J), or a set we do not know


def escape(text: str, enc: EncodingChars = DEFAULT_ENCODING, *, formatted: bool = False) -> str:
    """Encode text as one ER7 leaf value; `unescape` gives it back unchanged.

    Line breaks become \\.br\\ in FT (`formatted`) and \\X0A\\ / \\X0D\\ elsewhere, so a
    value can never end a segment.
    """
    esc = enc.escape or "\\"
    table = {
        esc: f"{esc}E{esc}",
        enc.field: f"{esc}F{esc}",
        enc.component: f"{esc}S{esc}",
        enc.subcomponent: f"{esc}T{esc}",
        enc.repetition: f"{esc}R{esc}",
        "\n": f"{esc}.br{esc}" if formatted else f"{esc}X0A{esc}",
        "\r": f"{esc}X0D{esc}",
    }
    if enc.truncation:
        table[enc.truncation] = f"{esc}P{esc}"
    return "".join(table.get(ch, ch) for ch in text)
