"""ACK messages: MSH + MSA (+ ERR), in original (AA/AE/AR) or enhanced (CA/CE/CR) mode.

Built as ER7 text here rather than with hl7apy: hl7apy has no ACK helper (spec §4.8),
and its v2.8 ERR definition shifts ERR-2 into the ERR-1 position, which engines would
read as a wrong location. The output is parsed back with hl7apy and python-hl7 in tests.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from adapters.hl7.errors import TABLE_0357, Hl7Error
from adapters.hl7.escapes import EncodingChars, escape
from adapters.hl7.header import MshHeader

DEFAULT_VERSION = "2.5.1"
OUR_APP = "RADLITE"


def new_control_id() -> str:
    """A fresh MSH-10: 20 characters, the v2.5 length limit of ST in MSH-10."""
    return uuid.uuid4().hex[:20].upper()


def hl7_timestamp(now: datetime | None = None) -> str:
    """DTM with seconds and, for aware datetimes, the UTC offset (YYYYMMDDHHMMSS+ZZZZ)."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%d%H%M%S") + (now.strftime("%z") if now.tzinfo else "")


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return ()


def msh_line(
    enc: EncodingChars,
    *,
    sending_app: str,
    sending_facility: str,
    receiving_app: str,
    receiving_facility: str,
    message_type: str,
    control_id: str,
    processing_id: str,
    version: str,
    now: datetime | None = None,
    charset: str = "",
    accept_ack_type: str = "",
    app_ack_type: str = "",
    raw_processing: str = "",
    raw_version: str = "",
) -> str:
    """An MSH segment; application/facility values are ER7 (already escaped), the rest is escaped here.

    MSH-15/16 are written only when asked for (an ACK we send back is in original form;
    an application ACK we deliver later asks for a commit ACK). `raw_processing`/`raw_version`,
    when given, are a received MSH-11/MSH-12 in ER7, written as they came (with their components).
    """
    fields = [
        "MSH", enc.msh2, sending_app, sending_facility, receiving_app, receiving_facility,
        hl7_timestamp(now), "", message_type, escape(control_id, enc),
        raw_processing or escape(processing_id, enc), raw_version or escape(version, enc),
    ]
    tail = ["", "", escape(accept_ack_type, enc), escape(app_ack_type, enc), "", escape(charset, enc)]
    while tail and not tail[-1]:
        tail.pop()
    return enc.field.join(fields + tail)


def _err_segment(error: Hl7Error, enc: EncodingChars, version: tuple[int, ...]) -> str:
    f, c, s = enc.field, enc.component, enc.subcomponent
    loc = [escape(p, enc) for p in error.location.split("^")] if error.location else []
    name = TABLE_0357.get(error.err_code, "Error")
    if version and version < (2, 5):
        # v2.4 and older: ERR-1 is ELD = segment^sequence^field^code (CE in subcomponents).
        eld = (loc + ["", "", ""])[:3] + [s.join([escape(error.err_code, enc), escape(name, enc), "HL70357"])]
        return f"ERR{f}{c.join(eld)}"
    user = "Correct the message and resend" if error.ack_code == "AE" else "Message not accepted; retry or contact the receiver"
    fields = [
        "ERR",
        "",  # ERR-1 (ELD) is withdrawn from v2.5 on
        c.join(loc),  # ERR-2 error location (ERL)
        c.join([escape(error.err_code, enc), escape(name, enc), "HL70357"]),  # ERR-3
        "E",  # ERR-4 severity (table 0516)
        "", "",
        escape(error.text, enc),  # ERR-7 diagnostic information
        escape(user, enc),  # ERR-8 user message
    ]
    return f.join(fields)


def build_ack(
    header: MshHeader | None,
    *,
    error: Hl7Error | None = None,
    commit: bool | None = None,
    now: datetime | None = None,
    control_id: str | None = None,
    accept_ack_type: str = "",
) -> str:
    """The ACK for a message, as ER7 with CR segment ends.

    Without `error`: AA (original mode) or CA (enhanced). With one: AE/AR, or CE/CR when
    `commit` (default: the header's MSH-15/16 say enhanced mode). MSH-3/4 and 5/6 are
    swapped, MSH-9 is ACK^<trigger>^ACK, MSH-11/12 and the delimiters are kept as received.
    `accept_ack_type` fills our MSH-15 (an application ACK sent later asks for a commit
    ACK with "AL"); MSH-16 is then "NE": nobody acknowledges an acknowledgment's content.
    """
    enc = header.encoding if header else EncodingChars()
    enhanced = header.enhanced_mode if (commit is None and header) else bool(commit)
    code = error.ack_code if error else "AA"
    if enhanced:
        code = "C" + code[1]
    version = (header.version if header and header.version else DEFAULT_VERSION)
    vt = _version_tuple(version)
    trigger = header.trigger if header and header.trigger else ""
    msg_type = "ACK"
    if trigger:
        # MSH-9.3 (message structure) exists from v2.3.1 on.
        msg_type = enc.component.join(["ACK", escape(trigger, enc)] + (["ACK"] if not vt or vt > (2, 3) else []))
    msh = msh_line(
        enc,
        # MSH-3 names the application answering; a sender that left MSH-5 empty still learns who did.
        sending_app=(header.receiving_app or OUR_APP) if header else OUR_APP,
        sending_facility=header.receiving_facility if header else "",
        receiving_app=header.sending_app if header else "",
        receiving_facility=header.sending_facility if header else "",
        message_type=msg_type,
        control_id=control_id or new_control_id(),
        processing_id=(header.processing_id if header and header.processing_id else "P"),
        version=version,
        # MSH-11/12 "as received" (spec 4.6), components included: 2.4^AUS&&ISO3166_1, P^T.
        raw_processing=header.processing_field if header and header.processing_id else "",
        raw_version=header.version_field if header and header.version else "",
        now=now,
        charset=header.charset if header else "",
        accept_ack_type=accept_ack_type,
        app_ack_type="NE" if accept_ack_type else "",
    )
    msa = ["MSA", code, escape(header.control_id if header else "", enc)]
    if error and (not vt or vt < (2, 7)):
        msa.append(escape(error.text, enc))  # MSA-3: deprecated in 2.5, still shown by many engines
    segments = [msh, enc.field.join(msa)]
    if error:
        segments.append(_err_segment(error, enc, vt))
    return byte_order_mark(header.codec if header else "") + "\r".join(segments) + "\r"


def byte_order_mark(codec: str) -> str:
    """U+FEFF when `codec` is UTF-16/32 with a byte order (the one a message's mark named): its
    answer opens with the same mark. Python's plain utf-16/utf-32 codecs write one themselves."""
    return "\ufeff" if codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be") else ""


def application_ack(
    header: MshHeader, *, control_id: str, error: Hl7Error | None = None, accept_ack_type: str = "AL"
) -> str:
    """The application ACK (AA/AE/AR, enhanced mode) owed after processing, per MSH-16.

    Sent later as a message of its own, so it asks for a commit ACK (MSH-15 `accept_ack_type`).
    """
    return build_ack(header, error=error, commit=False, accept_ack_type=accept_ack_type, control_id=control_id)


def ack_for_storage_failure(header: MshHeader | None, **kwargs: object) -> str:
    """AR (or CR in enhanced mode) with ERR 207: the message could not be stored, the sender should retry."""
    error = Hl7Error("AR", "207", "", "application internal error (message could not be stored); retry later", header)
    return build_ack(header, error=error, **kwargs)  # type: ignore[arg-type]
