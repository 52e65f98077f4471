"""Bytes to segments: MLLP framing, line-end normalisation, MSH-18 decoding, ER7 fields.

The ER7 split is ours, not a library's, because neither library keeps what we need:
hl7apy (TOLERANT) silently drops lines it cannot place, and turns an LF-separated
message into a bare MSH; python-hl7 collapses tree levels irregularly. We need every
segment, its position for ERR locations, and the raw escaped leaf text for our own
unescape (see escapes.py).
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field

from adapters.hl7.escapes import EncodingChars, unescape

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
_STRIP = b"\x00\x0b\x1c\r\n\t \x1a"  # 0x1A: the end-of-file mark DOS-era tools put after a file's last line
_SEG_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")

# Table 0211 -> Python codec. Names not listed fall back (see decode()).
CHARSETS: dict[str, str] = {
    "ASCII": "ascii", "ISO IR6": "ascii",
    "8859/1": "latin-1", "8859/2": "iso8859-2", "8859/3": "iso8859-3", "8859/4": "iso8859-4",
    "8859/5": "iso8859-5", "8859/6": "iso8859-6", "8859/7": "iso8859-7", "8859/8": "iso8859-8",
    "8859/9": "iso8859-9", "8859/15": "iso8859-15",
    "UNICODE": "utf-8", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8",
    "UNICODE UTF-16": "utf-16", "UNICODE UTF-32": "utf-32",
    "ISO IR87": "iso2022_jp", "ISO IR159": "iso2022_jp_2", "ISO IR14": "shift_jis",
    "GB 18030-2000": "gb18030", "KS X 1001": "euc_kr", "BIG-5": "big5",
}


def codec_for(charset: str) -> str:
    """Python codec of an MSH-18 value: table 0211 first, then the names senders use outside it
    (ISO-8859-1, UTF8, WINDOWS-1252, ...) when Python knows them as text codecs; '' otherwise."""
    name = charset.strip().upper()
    if not name:
        return ""
    if name in CHARSETS:
        return CHARSETS[name]
    try:
        info = codecs.lookup(name)
    except LookupError:
        return ""
    return info.name if getattr(info, "_is_text_encoding", True) else ""


def frame(msg: str | bytes, encoding: str = "utf-8") -> bytes:
    """Wrap one message in an MLLP frame: VT + message + FS + CR."""
    data = msg.encode(encoding) if isinstance(msg, str) else msg
    return VT + data + FS + CR


def unframe(data: bytes) -> bytes:
    """The message inside an MLLP frame; bytes without a frame come back unchanged."""
    start = data.find(VT)
    if start < 0 or data[:start].strip(_STRIP):
        return data
    end = data.find(FS, start + 1)
    return data[start + 1 : end if end >= 0 else len(data)]


def _fix_line_ends(data: bytes, seg_start: re.Pattern[bytes]) -> bytes:
    data = data.replace(b"\r\n", b"\r")
    if b"\n" not in data:
        return data
    # A lone LF ends a segment when a segment id follows (hand-built or LF-only files); an LF
    # inside a value (some senders put one in report text) is kept as a line break.
    return seg_start.sub(b"\r", data)


# An LF right before a CR ends a segment too (an LF-ended message pasted before CR-ended text,
# as in a batch file put together from several sources); CR CR then collapses to one.
_LF_BEFORE_SEGMENT = re.compile(rb"\n(?=[A-Z][A-Z0-9]{2}[^A-Za-z0-9\s]|\r|\s*$)")


def _lf_before_segment(data: bytes) -> re.Pattern[bytes]:
    """LF that ends a segment: before a segment id followed by the message's own field separator.

    With any punctuation accepted after the id, an LF inside report text followed by
    "PET/CT ..." or "MRI: ..." was taken for a segment end and the message rejected; the
    declared MSH-1 (FHS-1/BHS-1 for a batch) is what really follows a segment id.
    """
    if data[:3] in (b"MSH", b"FHS", b"BHS") and len(data) > 3 and not data[3:4].isalnum() and not data[3:4].isspace():
        sep = re.escape(data[3:4])
        return re.compile(rb"\n[ \t]*(?=[A-Z][A-Z0-9]{2}" + sep + rb"|\r|\s*$)")
    return _LF_BEFORE_SEGMENT


# Byte order marks of the table 0211 sets UNICODE UTF-16 / UTF-32, longest first (the UTF-32LE
# mark starts with the UTF-16LE one). The codec names carry the byte order the mark gave.
WIDE_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WIDE = frozenset({"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})


def is_wide(codec: str) -> bool:
    """Whether a Python codec is UTF-16 or UTF-32 (bytes of ASCII text are not ASCII bytes)."""
    try:
        return codecs.lookup(codec).name in _WIDE
    except LookupError:
        return False


# A UTF-16/32 payload sent without a byte order mark (.NET's Encoding.Unicode and engines set to
# UTF-16LE write none) is known by its first segment id in that encoding. The codec names are
# Python's underscore aliases of the same codecs: an answer in one of them gets no mark either
# (ack.byte_order_mark adds one only for the hyphenated names a mark gave).
WIDE_SIGNATURES: tuple[tuple[bytes, str], ...] = tuple(
    (head.encode(codec), codec.replace("-", "_"))
    for codec in ("utf-32-le", "utf-32-be", "utf-16-le", "utf-16-be") for head in ("MSH", "FHS", "BHS")
)


def wide_unit(codec: str) -> int:
    """Bytes per code unit of a UTF-16/UTF-32 codec name (either spelling): 4 or 2."""
    return 4 if "32" in codec else 2


def wide_codec(raw: bytes) -> str:
    """Codec of a payload that opens with a UTF-16/UTF-32 byte order mark, or without one with a
    segment id in UTF-16/32 (after an MLLP start block, if any), byte order included; '' for every
    other payload."""
    data = raw[1:] if raw[:1] == VT else raw
    found = next((codec for bom, codec in WIDE_BOMS if data.startswith(bom)), "")
    return found or next((codec for head, codec in WIDE_SIGNATURES if data.startswith(head)), "")


def _from_wide(raw: bytes, codec: str) -> bytes:
    """A UTF-16/32 payload (BOM first) as UTF-8 bytes, MLLP end block dropped; unchanged when it
    does not decode, so it is then rejected as unreadable rather than read wrong."""
    data = raw[1:] if raw[:1] == VT else raw
    bom = next((b for b, c in WIDE_BOMS if c == codec), b"")
    unit = wide_unit(codec)
    body = data[len(bom):]
    # Single-byte MLLP end block after whole characters. (For UTF-16 the test was len % 2 == 2, never
    # true, so a framed UTF-16 message kept FS CR as a last character.)
    if body.endswith(FS + CR) and (len(body) - 2) % unit == 0:
        body = body[:-2]
    elif body.endswith(FS) and (len(body) - 1) % unit == 0:
        body = body[:-1]
    try:
        return body.decode(codec).encode("utf-8")
    except UnicodeDecodeError:
        return raw


def payload(raw: bytes) -> bytes:
    """The message bytes inside MLLP framing; a UTF-16/UTF-32 payload transcoded to UTF-8."""
    wide = wide_codec(raw)
    return _from_wide(raw, wide) if wide else unframe(raw)


def normalise(raw: bytes) -> bytes:
    """Strip MLLP framing, a UTF-8 BOM, NULs and surrounding blanks; CRLF and segment-ending LF -> CR.

    A UTF-16/UTF-32 payload (known by its byte order mark) comes back as UTF-8, so the byte-level
    steps here and after (MSH-18, batch split) see ASCII delimiters; decode() is told by `wide`.
    """
    data = payload(raw).strip(_STRIP)
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark some Windows tools write
        data = data[3:].lstrip(_STRIP)
    data = _fix_line_ends(data, _lf_before_segment(data))
    # Blank segments (CR CR) carry nothing; engines drop them too.
    while b"\r\r" in data:
        data = data.replace(b"\r\r", b"\r")
    return data


def msh18(data: bytes) -> str:
    """MSH-18 (first repetition, first component) read from bytes, '' if absent."""
    if not data.startswith(b"MSH") or len(data) < 8:
        return ""
    sep = data[3:4]
    line = data.split(b"\r", 1)[0].split(b"\n", 1)[0]
    parts = line.split(sep)
    if len(parts) < 18:
        return ""
    value = parts[17]
    msh2 = parts[1]
    for delim in msh2[:2]:  # component and repetition separators
        value = value.split(bytes([delim]), 1)[0]
    return value.decode("ascii", errors="replace").strip()


def decode(data: bytes, declared: str, wide: str = "") -> tuple[str, str, list[str]]:
    """Text, codec used and warnings. Declared charset first, then UTF-8, cp1252, latin-1.

    `wide` is the UTF-16/32 codec a byte order mark named (normalise() made the bytes UTF-8):
    that is the codec the message came in. Bytes that open with an ASCII segment id are never
    UTF-16/32, whatever MSH-18 says (a message of a UTF-16 batch, split after transcoding, or
    an 8-bit message mislabelled UTF-16): they are read as UTF-8, else cp1252, and that codec
    is returned (the ACK goes back in it, not in the UTF-16 MSH-18 names).
    """
    warnings: list[str] = []
    tried: list[str] = []
    codec = codec_for(declared) if declared else "ascii"
    if declared and not codec:
        warnings.append(f"MSH-18 charset {declared!r} unknown; decoded by fallback")
    elif declared and declared.strip().upper() not in CHARSETS:
        warnings.append(f"MSH-18 charset {declared!r} is not in table 0211; read as {codec}")
    if wide:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if text:
            if declared and codec and not is_wide(codec):
                warnings.append(f"MSH-18 {declared!r} but a {wide} byte order mark; read as {wide}")
            return text, wide, warnings
    if codec and is_wide(codec) and not wide:
        # MSH-18 names UTF-16/32 but the bytes are 8-bit (an ASCII segment id, no byte order mark, no
        # UTF-16/32 signature): they came in a single-byte set or UTF-8, and are read (and answered,
        # see MshHeader.codec) in the one they decode in; read as UTF-16 they would be garbage.
        # (A message of a UTF-16 batch, split after transcoding, is UTF-8 by then: it is read as such.)
        codec = ""
        if declared:
            warnings.append(f"MSH-18 {declared!r} but the bytes are not UTF-16/32; read as 8-bit text")
    for name in [c for c in (codec, "utf-8", "cp1252") if c]:
        if name in tried:
            continue
        tried.append(name)
        try:
            text = data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        if tried[0] != name:
            what = f"MSH-18 {declared!r}" if declared else "MSH-18 empty (ASCII)"
            warnings.append(f"{what} did not decode; used {name}")
        elif _mislabelled_utf8(data, name):
            warnings.append(f"MSH-18 {declared!r} names a single-byte set but the bytes are UTF-8; read as UTF-8")
            return data.decode("utf-8"), "utf-8", warnings
        return text, name, warnings
    warnings.append("no declared or fallback charset decoded the message; used latin-1")
    return data.decode("latin-1"), "latin-1", warnings


_MULTIBYTE_UTF8 = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _mislabelled_utf8(data: bytes, codec: str) -> bool:
    """Whether bytes declared in a single-byte set (8859/n, cp125x) are really UTF-8.

    Every byte string decodes in those sets, so a wrong MSH-18 is never caught by decoding:
    UTF-8 text read as 8859/1 comes out as 'Ã©' for 'é'. Bytes that are valid UTF-8 with at
    least one multi-byte sequence are UTF-8 (text really written in 8859/1 almost never forms
    one: it would need an accented capital followed by a C1 control or symbol byte).
    """
    if not codec.startswith(("latin", "iso8859", "cp125")) or not _MULTIBYTE_UTF8.search(data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass
class Segment:
    """One ER7 segment: its id, 1-based occurrence among segments with that id, raw fields."""

    id: str
    seq: int
    fields: list[str]  # fields[n] is field n (for MSH, fields[1] is MSH-1, the separator)
    enc: EncodingChars
    charset: str = "utf-8"
    index: int = 0  # position in the message, 1-based

    def raw(self, n: int) -> str:
        return self.fields[n] if 0 < n < len(self.fields) else ""

    def reps(self, n: int) -> list[str]:
        raw = self.raw(n)
        if self.id == "MSH" and n in (1, 2):
            return [raw]
        return raw.split(self.enc.repetition) if raw else []

    def parts(self, n: int, rep: int = 1) -> list[list[str]]:
        """Components of one repetition, each a list of raw subcomponents."""
        reps = self.reps(n)
        if not 0 < rep <= len(reps):
            return []
        return [c.split(self.enc.subcomponent) for c in reps[rep - 1].split(self.enc.component)]

    def get(self, n: int, comp: int = 1, sub: int = 1, rep: int = 1) -> str:
        """Unescaped leaf value at field.comp.sub of one repetition; '' when absent."""
        if self.id == "MSH" and n in (1, 2):
            return self.raw(n)
        comps = self.parts(n, rep)
        if not 0 < comp <= len(comps) or not 0 < sub <= len(comps[comp - 1]):
            return ""
        return unescape(comps[comp - 1][sub - 1], self.enc, charset=self.charset)

    def text(self, n: int, comp: int = 1, rep: int = 1) -> str:
        """A component with its subcomponents kept joined (raw '&' inside free text is text)."""
        comps = self.reps(n)
        if not 0 < rep <= len(comps):
            return ""
        pieces = comps[rep - 1].split(self.enc.component)
        if not 0 < comp <= len(pieces):
            return ""
        return unescape(pieces[comp - 1], self.enc, charset=self.charset)


@dataclass
class Er7Message:
    """A decoded message: delimiters and its segments in order."""

    enc: EncodingChars
    segments: list[Segment] = field(default_factory=list)


def split_segments(text: str, enc: EncodingChars, charset: str) -> list[tuple[str, list[str]]]:
    """(segment id, fields) for each non-empty CR-separated line; MSH gets MSH-1 inserted."""
    out: list[tuple[str, list[str]]] = []
    for line in text.split("\r"):
        if not line.strip():
            continue
        # Blanks before a segment id (an engine that indents, or a space after each CR) are
        # layout, not data: a segment id never starts with one.
        line = line.lstrip(" \t\n\x00")
        seg_id = line[:3]
        if seg_id == "MSH":
            rest = line[4:].split(enc.field) if len(line) > 4 else []
            fields = ["MSH", enc.field, *rest]
        else:
            fields = line.split(enc.field)
            seg_id = fields[0]
        out.append((seg_id, fields))
    return out


def valid_segment_id(seg_id: str) -> bool:
    return bool(_SEG_ID.match(seg_id))


def content_key(raw: bytes) -> str:
    """A digest of what a message says, for telling a sender's retry from a new message.

    Framing, line ends, blanks around segments, trailing empty fields and components, and
    MSH-7 (the time the engine wrote the message, which some engines renew on a resend) do
    not count: two copies differing only there are one message sent twice.
    """
    data = normalise(raw)
    text, _codec, _warnings = decode(data, msh18(data), wide_codec(raw))
    sep, trail = "|", "^~&"
    if text.startswith("MSH") and len(text) > 7:
        sep, msh2 = text[3], text[4:].split(text[3], 1)[0]
        trail = "".join(c for i, c in enumerate(msh2) if i != 2)  # all but the escape character
    segments: list[str] = []
    for line in text.split("\r"):
        fields = [f.rstrip(trail) for f in line.strip(" \t\n\x00").split(sep)]
        if fields and fields[0] == "MSH" and len(fields) > 6:
            fields[1] = line.strip(" \t\n\x00").split(sep)[1]  # MSH-2 is delimiters, not data
            fields[6] = ""  # MSH-7
        while fields and not fields[-1]:
            fields.pop()
        if fields:
            segments.append(sep.join(fields))
    return hashlib.sha256("\r".join(segments).encode("utf-8", "surrogatepass")).hexdigest()
