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


async def _rest_of_wide(reader: asyncio.StreamReader, payload: bytes) -> tuple[bytes, bool]:
    """A UTF-16/32 message (BOM first) read to its real end block; (bytes, whether the end came).

    MLLP framing is single bytes, and a UTF-16/32 character may hold the byte FS (U+041C,
    Cyrillic capital EM, is 1C 04 in UTF-16LE). An FS ends the message only where a character
    ends (the payload a whole number of code units) and when the CR of the end block follows
    it; any other FS is text, and reading goes on to the next one.
    """
    unit = 4 if hl7v2.wide_codec(payload).startswith("utf-32") else 2
    while True:
        if len(payload) > MAX_MESSAGE:
            raise asyncio.LimitOverrunError("UTF-16/32 MLLP message over the size limit", len(payload))
        if len(payload) % unit == 0:
            try:
                after = await reader.readexactly(1)
            except asyncio.IncompleteReadError:
                return payload, True  # FS was the last byte the sender wrote before closing
            if after == CR:
                return payload, True
            payload += FS + after
        else:
            payload += FS
        try:
            payload += (await reader.readuntil(FS))[: -len(FS)]
        except asyncio.IncompleteReadError as exc:
            return payload + exc.partial, False


@dataclass
class _Oversized:
    """An oversized message seen piece by piece: its size, sha256 and first KEEP_BYTES, never more."""

    head: bytearray = field(default_factory=bytearray)
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    complete: bool = False

    def add(self, chunk: bytes) -> None:
        if not self.size:  # the payload starts after the VT that opens the block
            chunk = chunk[chunk.find(VT) + 1 :]
        self.size += len(chunk)
        self.digest.update(chunk)
        if len(self.head) < KEEP_BYTES:
            self.head += chunk[: KEEP_BYTES - len(self.head)]


async def _drain_oversized(reader: asyncio.StreamReader, buffered: int) -> _Oversized:
    """Read an oversized message to its FS without holding it (asyncio leaves the bytes that overran
    the limit in the buffer; `buffered` of them hold no FS). The bytes after the FS stay unread."""
    seen = _Oversized()
    pending = buffered
    while seen.size <= MAX_DRAIN:
        if pending:
            seen.add(await reader.readexactly(pending))
            pending = 0
            continue
        try:
            seen.add((await reader.readuntil(FS))[: -len(FS)])
            seen.complete = True
            return seen
        except asyncio.LimitOverrunError as exc:
            pending = max(exc.consumed, 1)
        except asyncio.IncompleteReadError as exc:  # the sender hung up inside the message
            seen.add(exc.partial)
            return seen
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
                    partial = exc.partial[exc.partial.rfind(VT) + 1 :]
                    if partial.strip(b"\x00\r\n \t"):
                        # The sender hung up mid-message: keep what came, nobody to ACK.
                        await run_in_threadpool(receive_any, self.pipeline, partial, channel="mllp", peer=peer)
                    return
                except asyncio.LimitOverrunError as exc:
                    # Kept (head, size, sha256) and answered AR; the connection goes on with the next
                    # message when the end block came, else it closes.
                    seen = await _drain_oversized(reader, exc.consumed)
                    receipt = await run_in_threadpool(
                        self.pipeline.receive_oversized_hl7, bytes(seen.head), size=seen.size,
                        sha256=seen.digest.hexdigest(), complete=seen.complete, limit=MAX_MESSAGE,
                        channel="mllp", peer=peer)
                    if receipt.wanted and receipt.ack:
                        writer.write(frame(receipt.ack_bytes()))
                        await writer.drain()
                    if not seen.complete:
                        log.warning("MLLP message over %s bytes ended without its end block; closing", MAX_DRAIN)
                        return
                    continue
                wide_at = _wide_start(block)
                if wide_at >= 0:
                    try:
                        payload, complete = await _rest_of_wide(reader, block[wide_at + 1 : -len(FS)])
                    except asyncio.LimitOverrunError:
                        log.warning("MLLP message over %s bytes from peer; closing", MAX_MESSAGE)
                        return
                    if not complete:  # the sender hung up inside the message: keep it, nobody to ACK
                        await run_in_threadpool(receive_any, self.pipeline, payload, channel="mllp", peer=peer)
                        return
                else:
                    start = block.rfind(VT)
                    payload = block[start + 1 : -len(FS)] if start >= 0 else block[: -len(FS)]
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
