"""The MLLP listener: HL7 v2 over TCP, many messages per connection.

Built on asyncio streams rather than python-hl7's MLLP server: python-hl7's reader drops a
block that does not start with <VT> (senders put NULs or newlines between messages), and
hl7apy's server closes after one message. Here every byte between two end-of-block marks
is kept, stored and answered. A block holding an HL7 batch (FHS/BHS ... BTS/FTS) is split into
its messages, each handled as if it had come alone, and answered with one ACK batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from adapters import hl7 as hl7v2
from adapters.hl7.er7 import wide_unit
from plugin.pipeline import BatchReceipt, Pipeline, Receipt

log = logging.getLogger("radlite.mllp")

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"
END = FS + CR
MAX_MESSAGE = 16 * 1024 * 1024
KEEP_BYTES = 64 * 1024
"""Bytes of an oversized message kept for review: its MSH and first segments (as for HTTP bodies)."""
MAX_DRAIN = 8 * MAX_MESSAGE
"""An oversized message is read on to its end block (to size and hash it, and to find where the next
message starts) up to this many bytes; past that the connection is closed."""


def frame(payload: bytes) -> bytes:
    return VT + payload + END


def receive_any(
    pipeline: Pipeline, raw: bytes, *, channel: str, peer: str | None, content_type: str | None = None
) -> Receipt | BatchReceipt:
    """A batch (first segment FHS/BHS), or a block of several MSH, message by message; anything
    else as one message.

    A batch whose opening header declares unusable delimiters cannot be split: it then goes
    to the single-message path whole, which stores it and answers AE as for any broken message.
    """
    if hl7v2.is_batch(raw):
        try:
            batch = hl7v2.split_batch(raw)
        except hl7v2.Hl7Error:
            return pipeline.receive_hl7(raw, channel=channel, peer=peer, content_type=content_type)
        return pipeline.receive_hl7_batch(raw, batch, channel=channel, peer=peer, content_type=content_type)
    implicit = hl7v2.split_implicit(raw)
    if implicit is not None:
        return pipeline.receive_hl7_batch(raw, implicit, channel=channel, peer=peer, content_type=content_type)
    return pipeline.receive_hl7(raw, channel=channel, peer=peer, content_type=content_type)


def _wide_start(block: bytes) -> int:
    """Index of the VT that opens a UTF-16/UTF-32 message (a byte order mark right after it, only
    blanks before it), or -1. Such a block needs _rest_of_wide: its FS may be part of a character."""
    start = block.find(VT)
    if start < 0 or block[:start].strip(b"\x00\r\n \t") or not hl7v2.wide_codec(block[start:]):
        return -1
    return start


class _WideOverLimit(Exception):
    """A UTF-16/32 message passed MAX_MESSAGE: `payload` is what was read, an FS just after it."""

    def __init__(self, payload: bytes) -> None:
        super().__init__("UTF-16/32 MLLP message over the size limit")
        self.payload = payload


async def _rest_of_wide(reader: asyncio.StreamReader, payload: bytes) -> tuple[bytes, bool]:
    """A UTF-16/32 message (BOM first) read to its real end block; (bytes, whether the end came).

    MLLP framing is single bytes, and a UTF-16/32 character may hold the byte FS (U+041C,
    Cyrillic capital EM, is 1C 04 in UTF-16LE). An FS ends the message only where a character
    ends (the payload a whole number of code units) and when the CR of the end block follows
    it; any other FS is text, and reading goes on to the next one. Past MAX_MESSAGE it raises
    _WideOverLimit, and the caller drains the rest as an oversized message.
    """
    unit = wide_unit(hl7v2.wide_codec(payload))
    # A bytearray grows in place: text with an FS byte every few characters (Cyrillic in UTF-16LE)
    # would make `bytes +=` copy the whole message once per FS, quadratic in its size.
    read = bytearray(payload)
    while True:
        if len(read) > MAX_MESSAGE:
            raise _WideOverLimit(bytes(read))
        if len(read) % unit == 0:
            try:
                after = await reader.readexactly(1)
            except asyncio.IncompleteReadError:
                return bytes(read), True  # FS was the last byte the sender wrote before closing
            if after == CR:
                return bytes(read), True
            read += FS + after
        else:
            read += FS
        try:
            read += (await reader.readuntil(FS))[: -len(FS)]
        except asyncio.IncompleteReadError as exc:
            return bytes(read + exc.partial), False


_HEADS = (b"MSH", b"FHS", b"BHS")
_BLANKS = b"\x00\r\n \t"


def _opens_message(data: bytes, at: int) -> bool:
    """Whether the VT at `at` is followed (after blanks, a UTF-8 byte order mark) by MSH, FHS or BHS."""
    rest = data[at + 1 : at + 65].lstrip(_BLANKS)
    return rest.removeprefix(b"\xef\xbb\xbf")[:3] in _HEADS


def split_block(data: bytes) -> tuple[list[bytes], bytes]:
    """An 8-bit block up to its FS: (messages begun and left without an end block, the message).

    A sender that times out mid-message and starts again writes a new VT before the old message
    has its FS: each VT followed by a message header starts a message, and the message the FS ends
    is the last one. The pieces before it are kept (taking only the bytes after the last VT, as
    before, dropped them unseen). A VT followed by no header is text, not framing: a vertical tab
    (Word writes one for a soft line break) pasted into a report must not cut the message in two.
    Without any such VT the block starts at its first VT (or has none: a sender that leaves it out).
    """
    starts: list[int] = []
    at = data.find(VT)
    while at >= 0:
        if _opens_message(data, at):
            starts.append(at)
        at = data.find(VT, at + 1)
    if not starts:
        first = data.find(VT)
        return [], data[first + 1 :] if first >= 0 and not data[:first].strip(_BLANKS) else data
    before = data[: starts[0]]
    if VT in before:
        before = before[before.find(VT) + 1 :]
    pieces = [before] + [data[a + 1 : b] for a, b in zip(starts, starts[1:], strict=False)]
    return [p for p in pieces if p.strip(_BLANKS)], data[starts[-1] + 1 :]


@dataclass
class _Oversized:
    """An oversized message seen piece by piece: its size, sha256 and first KEEP_BYTES, never more.

    `unit` is 2 or 4 for a UTF-16/UTF-32 payload (its byte order mark right after the VT), else 1:
    such a payload ends only at an FS where a character ends and the CR follows (see _rest_of_wide).
    """

    head: bytearray = field(default_factory=bytearray)
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    complete: bool = False
    unit: int = 1
    started: bool = False

    def add(self, chunk: bytes) -> None:
        if not self.started:  # the payload starts after the VT that opens the block
            self.started = True
            chunk = chunk[chunk.find(VT) + 1 :]
            self.unit = _unit_of(chunk)
        self.size += len(chunk)
        self.digest.update(chunk)
        if len(self.head) < KEEP_BYTES:
            self.head += chunk[: KEEP_BYTES - len(self.head)]

    def kept(self) -> bytes:
        """The head to store. A UTF-16/32 head is cut at a character boundary (whole code units, no
        high surrogate left without its pair), so it decodes and its MSH can be read for the ACK."""
        head = bytes(self.head)
        if self.unit == 1:
            return head
        head = head[: len(head) - len(head) % self.unit]
        if self.unit == 2 and len(head) >= 2:
            codec = hl7v2.wide_codec(head)
            last = head[-1] if codec.endswith("le") else head[-2]
            if 0xD8 <= last <= 0xDB:
                head = head[:-2]
        return head


def _unit_of(payload: bytes) -> int:
    """Code unit size of a payload that opens with a UTF-16/UTF-32 byte order mark; 1 otherwise."""
    codec = hl7v2.wide_codec(payload)
    return wide_unit(codec) if codec else 1


async def _wide_end(reader: asyncio.StreamReader, seen: _Oversized) -> bool:
    """After an FS inside a UTF-16/32 payload: whether it ends the message (a character ends before
    it and the CR of the end block follows, or the sender closed); if not, it is text and is added."""
    if seen.size % seen.unit:
        seen.add(FS)
        return False
    try:
        after = await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        return True  # FS was the last byte the sender wrote before closing
    if after == CR:
        return True
    seen.add(FS + after)
    return False


async def _drain_oversized(reader: asyncio.StreamReader, buffered: int, seen: _Oversized | None = None,
                           *, at_fs: bool = False) -> _Oversized:
    """Read an oversized message to its end without holding it (asyncio leaves the bytes that overran
    the limit in the buffer; `buffered` of them hold no FS). The bytes after the end block stay unread.

    An 8-bit payload ends at its first FS (no HL7 text carries one). A UTF-16/UTF-32 payload ends only
    at an FS on a character boundary followed by CR (_wide_end), as in _rest_of_wide: its FS bytes
    may be halves of characters. `seen`/`at_fs` go on with a wide message _rest_of_wide was reading
    when it passed the limit (an FS just read, not yet judged).
    """
    seen = seen or _Oversized()
    pending = buffered
    while seen.size <= MAX_DRAIN:
        if at_fs:
            at_fs = False
            if await _wide_end(reader, seen):
                seen.complete = True
                return seen
            continue
        if pending:
            seen.add(await reader.readexactly(pending))
            pending = 0
            continue
        try:
            seen.add((await reader.readuntil(FS))[: -len(FS)])
        except asyncio.LimitOverrunError as exc:
            pending = max(exc.consumed, 1)
            continue
        except asyncio.IncompleteReadError as exc:  # the sender hung up inside the message
            seen.add(exc.partial)
            return seen
        if seen.unit == 1:
            seen.complete = True
            return seen
        at_fs = True
    return seen


class MllpServer:
    def __init__(self, pipeline: Pipeline, host: str, port: int, on_queued: Callable[[], None] | None = None) -> None:
        self.pipeline = pipeline
        self.host = host
        self.port = port
        self.on_queued = on_queued
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=MAX_MESSAGE)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]
        log.info("MLLP listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if peername else "unknown"
        try:
            while True:
                try:
                    # A block ends at FS. Waiting for the CR that MLLP puts after it would hang
                    # with senders that leave it out and wait for their ACK; a CR that does come
                    # is dropped with the other bytes before the next VT. FS (0x1C) is a control
                    # character no HL7 text carries, nor any byte of a UTF-8 or 8859 character.
                    block = await reader.readuntil(FS)
                except asyncio.IncompleteReadError as exc:
                    abandoned, partial = split_block(exc.partial)
                    await self._abandoned(abandoned, peer)
                    if partial.strip(b"\x00\r\n \t"):
                        # The sender hung up mid-message: keep what came, nobody to ACK.
                        await run_in_threadpool(receive_any, self.pipeline, partial, channel="mllp", peer=peer)
                    return
                except asyncio.LimitOverrunError as exc:
                    # Kept (head, size, sha256) and answered AR; the connection goes on with the next
                    # message when the end block came, else it closes. A UTF-16/32 one too (its
                    # byte order mark tells the drain to end only at a real end block).
                    if not await self._oversized(reader, writer, await _drain_oversized(reader, exc.consumed), peer):
                        return
                    continue
                wide_at = _wide_start(block)
                if wide_at >= 0:
                    try:
                        payload, complete = await _rest_of_wide(reader, block[wide_at + 1 : -len(FS)])
                    except _WideOverLimit as over:
                        # What can be done for UTF-16/32 past the limit: the same as for 8-bit bytes
                        # (head, size, sha256 kept; AR 207 answered in the sender's encoding, its
                        # MSH read from the head) whenever the frame can be found, i.e. the sender
                        # ends it with the single bytes FS CR after a whole character. A frame whose
                        # end block never comes that way (MLLP bytes written as UTF-16 too, or a cut
                        # connection) cannot be told from text: read up to MAX_DRAIN, then closed.
                        seen = _Oversized(unit=_unit_of(over.payload), started=True)  # VT already cut
                        seen.add(over.payload)
                        seen = await _drain_oversized(reader, 0, seen, at_fs=True)
                        if not await self._oversized(reader, writer, seen, peer):
                            return
                        continue
                    if not complete:  # the sender hung up inside the message: keep it, nobody to ACK
                        await run_in_threadpool(receive_any, self.pipeline, payload, channel="mllp", peer=peer)
                        return
                else:
                    abandoned, payload = split_block(block[: -len(FS)])
                    await self._abandoned(abandoned, peer)
                receipt = await run_in_threadpool(receive_any, self.pipeline, payload, channel="mllp", peer=peer)
                if receipt.wanted and receipt.ack:
                    writer.write(frame(receipt.ack_bytes()))
                    await writer.drain()
                else:  # enhanced mode, MSH-15 NE (or ER/SU not matching): the sender asked for no ACK
                    log.info("inbound=%s stored; no accept ACK per MSH-15", receipt.inbound_id)
                if self.on_queued is not None:
                    self.on_queued()
        except (ConnectionResetError, BrokenPipeError):
            return
        finally:
            writer.close()

    async def _abandoned(self, pieces: list[bytes], peer: str) -> None:
        """Keep messages a sender began and left without an end block (see split_block): stored and
        judged like any message, never answered: the sender waits for one ACK, that of the message
        it completed."""
        for piece in pieces:
            receipt = await run_in_threadpool(receive_any, self.pipeline, piece, channel="mllp", peer=peer)
            log.warning("MLLP message from peer left without an end block before a new start block; "
                        "inbound=%s kept, not answered", receipt.inbound_id)

    async def _oversized(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: _Oversized,
                         peer: str) -> bool:
        """Keep an oversized message (head, size, sha256) and answer it AR 207; whether the connection
        can go on (its end block came, so the next message starts after it)."""
        receipt = await run_in_threadpool(
            self.pipeline.receive_oversized_hl7, seen.kept(), size=seen.size,
            sha256=seen.digest.hexdigest(), complete=seen.complete, limit=MAX_MESSAGE,
            channel="mllp", peer=peer)
        if receipt.wanted and receipt.ack:
            writer.write(frame(receipt.ack_bytes()))
            await writer.drain()
        if not seen.complete:
            log.warning("MLLP message over %s bytes ended without its end block; closing", MAX_DRAIN)
        return seen.complete
