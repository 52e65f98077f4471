"""HL7 batch protocol (v2.5.1 ch. 2.10.3): FHS/BHS ... MSH ... BTS/FTS in, a batch of ACKs out.

A batch is only an envelope: every message inside it is a message of its own, so the doors
hand each one to the same single-message path (store, parse, ACK) and this module only
splits the envelope and wraps the answers. Splitting works on bytes, because each message
is decoded by its own MSH-18 on that path; the envelope (FHS/BHS/BTS/FTS) is decoded with
the first message's MSH-18. Faults of the envelope (a BTS-1/FTS-1 count that does not match
what arrived, segments out of place) are errors on the batch: they go back in the comment
fields of the ACK batch (BHS-10/BTS-2, FHS-10/FTS-2), and no message that did arrive is dropped.
Texts name segments and counts only (no PHI).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from adapters.hl7.ack import OUR_APP, byte_order_mark, hl7_timestamp, new_control_id
from adapters.hl7.er7 import codec_for, decode, is_wide, msh18, normalise, wide_codec
from adapters.hl7.errors import Hl7Error
from adapters.hl7.escapes import EncodingChars, escape
from adapters.hl7.header import encoding_from_msh_line, peek_header

HEADERS = (b"FHS", b"BHS")
"""A payload whose first segment is one of these is a batch (file) rather than one message."""


@dataclass
class EnvelopeSegment:
    """An FHS/BHS/BTS/FTS segment: id, raw ER7 fields (fields[n] is field n), 1-based position."""

    id: str
    fields: list[str]
    enc: EncodingChars
    index: int
    seq: int = 1  # occurrence among envelope segments with this id (BTS^2 is the second batch's trailer)

    def raw(self, n: int) -> str:
        return self.fields[n] if 0 < n < len(self.fields) else ""

    def first(self, n: int) -> str:
        """First component of field n, as sent (counts and control ids carry no escapes)."""
        return self.raw(n).split(self.enc.repetition)[0].split(self.enc.component)[0].strip()


@dataclass
class BatchPart:
    """One BHS ... BTS group; `header`/`trailer` are None when the sender left them out (both optional)."""

    header: EnvelopeSegment | None = None
    trailer: EnvelopeSegment | None = None
    messages: list[bytes] = field(default_factory=list)
    errors: list[Hl7Error] = field(default_factory=list)
    stray: int = 0  # chunks that did not start with MSH (kept as messages, not counted against BTS-1)


@dataclass
class Hl7Batch:
    """A split batch file: its envelope, its batches, and what was wrong with the envelope."""

    enc: EncodingChars
    codec: str
    file_header: EnvelopeSegment | None = None
    file_trailer: EnvelopeSegment | None = None
    parts: list[BatchPart] = field(default_factory=list)
    errors: list[Hl7Error] = field(default_factory=list)  # file-level (FHS/FTS)
    implicit: bool = False
    """Several MSH in one block with no FHS/BHS: answered by their ACKs one after another, no envelope."""

    @property
    def messages(self) -> list[bytes]:
        """Every message of every batch, in the order sent."""
        return [m for part in self.parts for m in part.messages]

    @property
    def all_errors(self) -> list[Hl7Error]:
        return self.errors + [e for part in self.parts for e in part.errors]


def is_batch(raw: bytes) -> bool:
    """Whether a payload (framed or not) is an HL7 batch: its first segment is FHS or BHS."""
    return normalise(raw)[:3] in HEADERS


def _envelope(line: bytes, index: int, seq: int, enc: EncodingChars, declared: str) -> EnvelopeSegment:
    text, _codec, _warnings = decode(line, declared)
    seg_id = text[:3]
    if seg_id in ("FHS", "BHS"):
        rest = text[4:].split(enc.field) if len(text) > 4 else []
        fields = [seg_id, enc.field, *rest]  # FHS-1/BHS-1 is the separator itself, as MSH-1
    else:
        fields = text.split(enc.field)
    return EnvelopeSegment(seg_id, fields, enc, index, seq)


def _delimiters(first: bytes) -> EncodingChars:
    """Delimiters of the FHS/BHS that opens the batch; AE 102 there when they are unusable."""
    try:
        return encoding_from_msh_line(first.decode("latin-1"))
    except Hl7Error as exc:
        seg = first[:3].decode("ascii", "replace")
        raise Hl7Error("AE", "102", f"{seg}^1^2", f"{seg}-1/{seg}-2 do not declare distinct delimiter characters") from exc


def _declared_charset(lines: list[bytes]) -> str:
    """MSH-18 of the first message: the envelope has no charset field of its own."""
    first_msh = next((ln for ln in lines if ln.startswith(b"MSH")), b"")
    return msh18(first_msh)


class _Splitter:
    """State machine over segments: which batch is open, which message is being collected."""

    def __init__(self, batch: Hl7Batch) -> None:
        self.batch = batch
        self.part: BatchPart | None = None
        self.chunk: list[bytes] | None = None
        self.closed_file = False

    def _flush(self) -> None:
        if self.chunk is not None and self.part is not None:
            self.part.messages.append(b"\r".join(self.chunk) + b"\r")
        self.chunk = None

    def _open_part(self) -> BatchPart:
        if self.part is None:
            self.part = BatchPart()
            self.batch.parts.append(self.part)
        return self.part

    def _close_part(self) -> None:
        self._flush()
        self.part = None

    def feed(self, line: bytes, index: int, seg: EnvelopeSegment | None) -> None:
        if self.closed_file:
            self.batch.errors.append(Hl7Error(
                "AE", "100", "FTS^1", f"segment sequence error (segment {index} follows the FTS)"))
            self.closed_file = False  # reported once; what follows is still kept and processed
        if seg is not None:
            self._envelope(seg)
        elif line.startswith(b"MSH"):
            self._flush()
            self._open_part()
            self.chunk = [line]
        elif self.chunk is not None:
            self.chunk.append(line)
        else:  # a segment outside any message: kept as a (broken) message of its own
            part = self._open_part()
            part.stray += 1
            self.chunk = [line]

    def _envelope(self, seg: EnvelopeSegment) -> None:
        if seg.id == "FHS":
            self.batch.errors.append(Hl7Error(
                "AE", "100", f"FHS^{seg.seq}", f"segment sequence error (FHS at segment {seg.index})"))
        elif seg.id == "BHS":
            self._close_part()
            self._open_part().header = seg
        elif seg.id == "BTS":
            self._flush()
            self._open_part().trailer = seg
            self.part = None
        elif seg.id == "FTS":
            self._close_part()
            self.batch.file_trailer = seg
            self.closed_file = True

    def finish(self) -> None:
        self._close_part()


def _count_error(seg: EnvelopeSegment, expected_field: int, counted: int, what: str) -> Hl7Error | None:
    """The error for a trailer count (BTS-1, FTS-1) that is not a number or not what arrived."""
    value = seg.first(expected_field)
    loc = f"{seg.id}^{seg.seq}^{expected_field}"
    if not value:
        return None
    if not value.isdigit():
        return Hl7Error("AE", "102", loc, f"{seg.id}-{expected_field} is not a count")
    if int(value) != counted:
        return Hl7Error("AE", "100", loc, f"{seg.id}-{expected_field} says {int(value)} {what}, {counted} received")
    return None


def _check_counts(batch: Hl7Batch) -> None:
    for part in batch.parts:
        if part.trailer is not None:
            counted = len(part.messages) - part.stray
            if (err := _count_error(part.trailer, 1, counted, "messages")) is not None:
                part.errors.append(err)
    if batch.file_trailer is not None:
        if (err := _count_error(batch.file_trailer, 1, len(batch.parts), "batches")) is not None:
            batch.errors.append(err)


def split_batch(raw: bytes) -> Hl7Batch:
    """Split a batch payload into its messages (bytes, CR segment ends) and check its envelope.

    Raises Hl7Error only when the opening FHS/BHS declares unusable delimiters; every other
    envelope fault is recorded on the batch, and every message is kept.
    """
    # Blanks before a segment id are layout (see er7.split_segments): without this an indented
    # MSH would not open its message and would be read as a segment of the one before.
    lines = [ln.lstrip(b" \t\n\x00") for ln in normalise(raw).split(b"\r") if ln.strip()]
    if not lines or lines[0][:3] not in HEADERS:
        raise Hl7Error("AE", "100", "", "segment sequence error (a batch starts with FHS or BHS)")
    enc = _delimiters(lines[0])
    declared = _declared_charset(lines)
    batch = Hl7Batch(enc=enc, codec=_answer_codec(raw, declared))
    splitter = _Splitter(batch)
    seen: dict[bytes, int] = {}
    for index, line in enumerate(lines, start=1):
        seg_id = line[:3]
        seg = None
        if seg_id in (b"FHS", b"BHS", b"BTS", b"FTS") and line[3:4] == enc.field.encode("latin-1"):
            seen[seg_id] = seen.get(seg_id, 0) + 1
            seg = _envelope(line, index, seen[seg_id], enc, declared)
        if seg is not None and seg.id == "FHS" and index == 1:
            batch.file_header = seg
            continue
        splitter.feed(line, index, seg)
    splitter.finish()
    _check_counts(batch)
    return batch


def split_implicit(raw: bytes) -> Hl7Batch | None:
    """Messages of a block that holds several MSH and no FHS/BHS; None when it holds one (or no MSH).

    Engines do send that (spec 5.4: "several MSH in one frame"); read as one message, every
    message after the first would be rejected with it (AE 100 at the second MSH) and its report
    never read. Each one is split off at its MSH and goes through the single-message path.
    """
    data = normalise(raw)
    if not data.startswith(b"MSH") or len(data) < 4:
        return None
    lines = data.split(b"\r")
    header = lines[0][:3] + lines[0][3:4]
    starts = [i for i, ln in enumerate(lines) if ln.lstrip(b" \t\n\x00").startswith(header)]
    if len(starts) < 2:
        return None
    try:
        enc = encoding_from_msh_line(lines[0].decode("latin-1"))
    except Hl7Error:
        return None  # unusable delimiters: the single-message path answers AE 102
    ends = [*starts[1:], len(lines)]
    part = BatchPart(messages=[b"\r".join(lines[a:b]) + b"\r" for a, b in zip(starts, ends, strict=True)])
    return Hl7Batch(enc=enc, codec=_answer_codec(raw, msh18(data)), parts=[part], implicit=True)


def _answer_codec(raw: bytes, declared: str) -> str:
    """Codec of the ACK batch: the one the payload came in when a UTF-16/32 byte order mark or,
    with MSH-18 empty, ASCII or unknown, a fallback decoding says so (as MshHeader.codec); else MSH-18's."""
    wide = wide_codec(raw)
    if wide:
        return wide
    named = codec_for(declared)
    # MSH-18 empty, ASCII or unknown, or naming UTF-16/32 over 8-bit bytes: the codec the bytes were read in
    if named in ("", "ascii") or is_wide(named):
        _text, used, _warnings = decode(normalise(raw), declared)
        if used not in ("ascii", "utf-8") or (declared and used == "utf-8"):
            return used
    return named or "utf-8"


# ---- the ACK batch -----------------------------------------------------------------------


def _comment(errors: list[Hl7Error], enc: EncodingChars) -> str:
    """ER7 text for a BHS-10/BTS-2 (or FHS-10/FTS-2) comment naming the batch's errors."""
    return escape("; ".join(f"{e.ack_code} {e.err_code} {e.err_name}: {e.text}" for e in errors), enc)


def _header_line(
    seg_id: str, enc: EncodingChars, source: EnvelopeSegment | None, fallback_apps: tuple[str, str, str, str],
    comment: str, now: datetime | None,
) -> str:
    """FHS/BHS of the reply: the sender's header with applications swapped, a new control id,
    and the original control id in FHS-12/BHS-12 (reference control id)."""
    apps = (source.raw(5), source.raw(6), source.raw(3), source.raw(4)) if source is not None else fallback_apps
    ours = apps[0] or OUR_APP
    fields = [seg_id, enc.msh2, ours, apps[1], apps[2], apps[3], hl7_timestamp(now), "", "", comment,
              escape(new_control_id(), enc), source.raw(11) if source is not None else ""]
    while fields[-1] == "":
        fields.pop()
    return enc.field.join(fields)


def _message_apps(messages: Sequence[bytes]) -> tuple[str, str, str, str]:
    """Applications of a reply header when the input had none: taken from its first readable MSH."""
    for raw in messages:
        h = peek_header(raw)
        if h is not None:
            return (h.receiving_app, h.receiving_facility, h.sending_app, h.sending_facility)
    return ("", "", "", "")


def _trailer_line(seg_id: str, enc: EncodingChars, count: int, comment: str) -> str:
    fields = [seg_id, str(count), comment]
    while fields[-1] == "":
        fields.pop()
    return enc.field.join(fields)


def build_batch_ack(batch: Hl7Batch, acks: Sequence[str | None], *, now: datetime | None = None) -> str:
    """The ACK batch: per input batch a BHS, one ACK (MSH, MSA, ERR) per message, a BTS with
    their count; wrapped in FHS/FTS when the input had an FHS. `acks` follows `batch.messages`;
    None leaves a message out (its MSH-15 asked for no accept ACK, the standard's
    "errors only" batch acknowledgment), so an empty batch means all accepted.
    """
    enc = batch.enc
    bom = byte_order_mark(batch.codec)
    acks = [a.lstrip("\ufeff") if a else a for a in acks]  # one mark, at the start of the whole answer
    if batch.implicit:
        return bom + "".join(a for a in acks if a)
    out: list[str] = []
    pos = 0
    for part in batch.parts or [BatchPart()]:
        answers = [a for a in acks[pos : pos + len(part.messages)] if a]
        apps = _message_apps(part.messages)
        comment = _comment(part.errors, enc)
        out.append(_header_line("BHS", enc, part.header, apps, comment, now))
        out.extend(a.rstrip("\r") for a in "".join(answers).split("\r") if a)
        out.append(_trailer_line("BTS", enc, len(answers), comment))
        pos += len(part.messages)
    if batch.file_header is not None or batch.file_trailer is not None or batch.errors:
        comment = _comment(batch.errors, enc)
        apps = _message_apps(batch.messages)
        out.insert(0, _header_line("FHS", enc, batch.file_header, apps, comment, now))
        out.append(_trailer_line("FTS", enc, max(len(batch.parts), 1), comment))
    return bom + "\r".join(out) + "\r"
