"""MSH: the header an ACK is addressed from, read safely even from broken messages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from adapters.hl7.er7 import Segment, codec_for, decode, is_wide, msh18, normalise, split_segments, wide_codec
from adapters.hl7.errors import Hl7Error
from adapters.hl7.escapes import EncodingChars

ACK_TYPES_0155 = frozenset({"AL", "NE", "ER", "SU"})
"""MSH-15/16 acknowledgment conditions (table 0155)."""


class MshHeader(BaseModel):
    """MSH fields that routing and acknowledgment need.

    Application and facility fields (HD) are kept as sent, in ER7 with their
    components and escapes, because an ACK echoes them back unchanged.
    """

    model_config = ConfigDict(frozen=True)

    field_sep: str = "|"
    encoding_chars: str = "^~\\&"
    sending_app: str = ""
    sending_facility: str = ""
    receiving_app: str = ""
    receiving_facility: str = ""
    timestamp: str = Field(default="", description="MSH-7 as sent (DTM).")
    message_type: str = ""
    trigger: str = ""
    structure: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""
    processing_field: str = Field(default="", description="MSH-11 as sent (ER7, with a processing mode).")
    version_field: str = Field(default="", description="MSH-12 as sent (ER7, e.g. 2.4^AUS&&ISO3166_1).")
    accept_ack_type: str = Field(default="", description="MSH-15 (table 0155: AL, NE, ER, SU).")
    app_ack_type: str = Field(default="", description="MSH-16 (table 0155).")
    charset: str = Field(default="", description="MSH-18 as sent; empty means ASCII.")
    decoded_as: str = Field(default="", description="Python codec the message bytes were actually read in.")

    @property
    def enhanced_mode(self) -> bool:
        """Enhanced acknowledgment mode: MSH-15 or MSH-16 valued (original mode when both empty)."""
        return bool(self.accept_ack_type or self.app_ack_type)

    @property
    def encoding(self) -> EncodingChars:
        return EncodingChars.from_msh(self.field_sep, self.encoding_chars)

    @property
    def codec(self) -> str:
        """Python codec for bytes we send back in this message's character set (MSH-18's first
        repetition); UTF-8 when it is empty or a name we do not know (ASCII-safe either way).

        With MSH-18 empty (ASCII) but bytes that had to be read as cp1252 or Latin-1, the answer
        goes back in that same codec: the ACK echoes MSH-3..6 as sent, and only then does the
        sender read its own application and facility names back. A message that came in UTF-16
        or UTF-32 (known by its byte order mark) is answered in it, byte order included.
        """
        first = self.charset.split(self.encoding.repetition)[0] if self.charset else ""
        declared = codec_for(first)
        # MSH-18 empty, ASCII or a name we do not know, with bytes read by a fallback (cp1252,
        # Latin-1, UTF-8): the answer goes back in the codec the bytes were read in, or the names
        # it echoes come back as '?' (ASCII) or in another set than the sender wrote them in.
        fell_back = declared in ("", "ascii") and self.decoded_as not in ("", "ascii")
        if is_wide(self.decoded_as) or (fell_back and (first or self.decoded_as != "utf-8")):
            return self.decoded_as
        if is_wide(declared) and self.decoded_as:
            # MSH-18 says UTF-16/32 but the bytes were 8-bit (read as UTF-8 or cp1252): the answer
            # goes back in the encoding the bytes came in; a UTF-16 answer to an 8-bit sender is noise.
            return self.decoded_as
        return declared or "utf-8"

    def wants_accept_ack(self, *, error: bool) -> bool:
        """Whether the sender asked for the ACK we would send now (MSH-15 in enhanced mode).

        Original mode always gets one. In enhanced mode an empty MSH-15 counts as AL, and so
        does a value not in table 0155: that message is rejected (AE 103 at MSH-15), and the
        sender would otherwise never hear why.

        An inbound ACK is never acknowledged (HL7 v2 chapter 2: an acknowledgment is not itself
        acknowledged): two engines that answer every message would otherwise answer each other forever.
        It is still kept and judged like any other message.
        """
        if self.message_type.upper() == "ACK":
            return False
        if not self.enhanced_mode:
            return True
        mode = self.accept_ack_type if self.accept_ack_type in ACK_TYPES_0155 else "AL"
        return mode == "AL" or (mode == "ER" and error) or (mode == "SU" and not error)

    def wants_app_ack(self, *, error: bool) -> bool:
        """Whether the sender asked for an application ACK after processing (MSH-16, enhanced mode).

        Original mode answers at once and owes nothing later. In enhanced mode an empty
        MSH-16 counts as NE: only an explicit AL/ER/SU makes us open a connection back.
        """
        if not self.enhanced_mode or self.message_type.upper() == "ACK":
            return False
        mode = self.app_ack_type or "NE"
        return mode == "AL" or (mode == "ER" and error) or (mode == "SU" and not error)

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """MSH-12 as numbers ((2, 5, 1)); () when it is not a version number."""
        try:
            return tuple(int(p) for p in self.version.split("."))
        except ValueError:
            return ()


class OruHeader(MshHeader):
    """The MSH of a parsed ORU^R01 plus what an ORU^R01 we send back about its reports needs and
    the MSH does not hold: each report's OBR-4 coding system as the sender named it.

    The results message names the procedure in the sender's own system (LN, CPT4, C4, a local
    99xxx ...): written as `L` (local), a LOINC or CPT code would read as a code of ours.
    """

    service_systems: dict[str, str] = Field(
        default_factory=dict, description="report_id -> OBR-4.3 (name of coding system) as sent, unescaped.")


def header_from_segment(msh: Segment) -> MshHeader:
    """MshHeader from a tokenised MSH segment (no validation beyond delimiters)."""
    return MshHeader(
        field_sep=msh.enc.field,
        encoding_chars=msh.enc.msh2,
        sending_app=msh.raw(3),
        sending_facility=msh.raw(4),
        receiving_app=msh.raw(5),
        receiving_facility=msh.raw(6),
        timestamp=msh.get(7),
        message_type=msh.get(9, 1).strip(),
        trigger=msh.get(9, 2).strip(),
        structure=msh.get(9, 3).strip(),
        control_id=msh.get(10).strip(),
        processing_id=msh.get(11).strip(),
        version=msh.get(12).strip(),
        processing_field=msh.raw(11).strip(),
        version_field=msh.raw(12).strip(),
        accept_ack_type=msh.get(15).strip().upper(),
        app_ack_type=msh.get(16).strip().upper(),
        charset=msh.get(18).strip(),
        decoded_as=msh.charset,
    )


def encoding_from_msh_line(line: str) -> EncodingChars:
    """Delimiters of an MSH line; Hl7Error (AE 102 at MSH-2) when they are unusable."""
    if len(line) < 5:
        raise Hl7Error("AE", "102", "MSH^1^2", "MSH is too short to carry its delimiters")
    field_sep = line[3]
    msh2 = line[4:].split(field_sep, 1)[0]
    chars = [field_sep, *msh2]
    bad = (
        not 4 <= len(msh2) <= 5
        or len(set(chars)) != len(chars)
        or any(c.isalnum() or c.isspace() for c in chars)
    )
    if bad:
        raise Hl7Error("AE", "102", "MSH^1^2", "MSH-1/MSH-2 do not declare distinct delimiter characters")
    return EncodingChars.from_msh(field_sep, msh2)


def read_msh(text: str, charset: str) -> Segment:
    """The MSH segment of decoded text (first line). Hl7Error (AE 100) when it is not MSH."""
    first = text.split("\r", 1)[0]
    if not first.startswith("MSH"):
        seg = first[:3] if first[:3].isalnum() else ""
        where = f"{seg}^1" if seg else ""
        raise Hl7Error("AE", "100", where, "segment sequence error (first segment is not MSH)")
    enc = encoding_from_msh_line(first)
    seg_id, fields = split_segments(first, enc, charset)[0]
    return Segment(seg_id, 1, fields, enc, charset, 1)


def peek_header(raw: bytes) -> MshHeader | None:
    """The MSH of raw bytes (framed or not), or None when there is no usable MSH. Never raises."""
    try:
        data = normalise(raw)
        text, codec, _ = decode(data, msh18(data), wide_codec(raw))
        return header_from_segment(read_msh(text, codec))
    except Hl7Error:
        return None
