"""HL7 v2 over HTTP: POST an ER7 message, get the ACK back as the body.

There is no single standard for v2 over HTTP; we accept the common content types
(x-application/hl7-v2+er7, application/hl7-v2, text/plain) and LF or CRLF line ends.
The status mirrors the ACK: 200 for AA/CA, 400 for AE/AR/CE/CR (the body still is the
ACK with its ERR segment), 503 when the message could not be stored (ERR 207, retry).
A batch (FHS/BHS ... BTS/FTS) gets an ACK batch, one ACK per message; 200 only when all
were accepted and its BTS/FTS counts matched.
"""

from __future__ import annotations

import codecs

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from plugin.deps import PipelineDep
from plugin.mllp import receive_any
from plugin.pipeline import BatchReceipt, Receipt
from plugin.security import CallerDep

router = APIRouter(tags=["hl7"])

HL7_TYPES = ("x-application/hl7-v2+er7", "application/hl7-v2", "text/plain")


def _status_for(code: str, err_code: str | None) -> int:
    if code in ("AA", "CA"):
        return 200
    return 503 if err_code == "207" else 400


def _status(receipt: Receipt | BatchReceipt) -> int:
    """One message: its ACK code. A batch: 200 only when every message was accepted and the
    envelope was right, 503 when a message could not be stored (resend), else 400."""
    if isinstance(receipt, BatchReceipt):
        return 200 if receipt.ok else (503 if receipt.storage_failed else 400)
    return _status_for(receipt.code, receipt.err_code)


@router.post(
    "/hl7/v2",
    summary="Receive one HL7 v2 ORU^R01 message (or a batch of them); the response body is its ACK (batch).",
    response_class=Response,
    responses={200: {"content": {"x-application/hl7-v2+er7": {}}}, 400: {"description": "AE/AR ACK"}},
)
async def receive_hl7(request: Request, caller: CallerDep, pipeline: PipelineDep) -> Response:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    # The verified caller (iss|sub) when a token came, else the client address (JWT off, development).
    peer = caller.actor or (request.client.host if request.client else None)
    receipt = await run_in_threadpool(
        receive_any, pipeline, raw, channel="http-hl7", peer=peer, content_type=content_type
    )
    worker = getattr(request.app.state, "worker", None)
    if worker is not None:
        worker.wake()
    media = content_type.split(";")[0].strip() if content_type.split(";")[0].strip() in HL7_TYPES else HL7_TYPES[0]
    # The ACK echoes the message's MSH-18, so its bytes are in that character set, named in the header.
    return Response(
        content=receipt.ack_bytes(), status_code=_status(receipt),
        media_type=f"{media}; charset={codecs.lookup(receipt.encoding).name}",
    )
