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
    FT commands their line breaks and spaces; highlighting (\\H\\ \\N\\), local (\\Z..\\)
    and character-set switches (\\C..\\ \\M..\\) are dropped. A lone or unknown escape
    is kept as sent rather than lose text.
    """
    esc = enc.escape
    if not esc or esc not in value:
        return value
    out: list[str] = []
    i, n = 0, len(value)
    delims = {"F": enc.field, "S": enc.component, "T": enc.subcomponent, "R": enc.repetition, "E": esc}
    if enc.truncation:
        delims["P"] = enc.truncation
    while i < n:
        ch = value[i]
        if ch != esc:
            out.append(ch)
            i += 1
            continue
        end = value.find(esc, i + 1)
        if end < 0:
            out.append(value[i:])
            break
        seq = value[i + 1 : end]
        decoded: str | None
        if seq in delims:
            decoded = delims[seq]
        elif seq in ("H", "N"):
            decoded = ""
        elif seq.startswith("X"):
            decoded = _hex(seq, charset)
        elif seq.startswith("."):
            decoded = _format_command(seq)
        elif seq[:1] in ("Z", "C", "M") and len(seq) > 1:
            decoded = ""
        else:
            decoded = None
        if decoded is None:
            # Unknown sequence: keep the opening escape character literally and go on after it,
            # so a stray backslash in free text never swallows the text that follows.
            out.append(ch)
            i += 1
            continue
        out.append(decoded)
        i = end + 1
    return "".join(out)


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
