"""What the HL7 round test files share: message cases and builders, the ACK they get, and the
doors' wire helpers (MLLP frames, MSA pairs, kept rows).

Imported by tests/adapters/test_hl7_round4.py, round5, round6 and test_mllp_oversized.py (tests/adapters is on
sys.path under pytest's rootdir import mode, as conftest_fhir is).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

import hl7
from sqlalchemy import select

from adapters.hl7 import Hl7Error, build_ack, parse_oru, peek_header
from plugin.storage.tables import InboundMessage


def obx(set_id: int, vt: str, ident: str, value: str, status: str = "F", sub: str = "") -> str:
    """OBX-1/2/3/4/5/11 set, OBX-6..10 empty."""
    return "|".join(["OBX", str(set_id), vt, ident, sub, value, "", "", "", "", "", status])


LN_F = "18782-3^Radiology Study observation^LN"
LN_I = "19005-8^Radiology Imaging study impression^LN"
LN_R = "18748-4^Diagnostic imaging study^LN"


def msh_segment(cid: str, sender: str, facility: str, receiver: str, receiver_facility: str, when: str, *,
                version: str = "2.5.1", kind: str = "ORU^R01^ORU_R01", processing: str = "P", continuation: str = "",
                accept: str = "", app: str = "", charset: str = "", enc: str = "^~\\&", sep: str = "|") -> str:
    """An MSH with MSH-n at list index n - 1 (MSH-3/4 sender, MSH-5/6 receiver, MSH-7 time, MSH-14 continuation,
    MSH-15/16 ack types, MSH-18 charset); trailing empty fields dropped. Each round file's msh() names its senders."""
    fields = ["MSH", enc, sender, facility, receiver, receiver_facility, when, "", kind, cid, processing, version,
              "", continuation, accept, app, "", charset]
    while fields and not fields[-1]:
        fields.pop()
    return fields[0] + sep + sep.join(fields[1:])


def er7(*segments: str, end: str = "\r", charset: str = "utf-8") -> bytes:
    return (end.join(segments) + end).encode(charset)


@dataclass(frozen=True)
class Want:
    """One report the message must give (None: that section must be empty)."""

    accession: str | None
    status: str
    findings: str | None = None
    impression: str | None = None
    addendum: str | None = None
    patient_id: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    msa1: str
    msa2: str
    err: tuple[str, str] | None = None  # (table 0357 code, ERR location)
    reports: tuple[Want, ...] = ()


def ack_for(raw: bytes) -> tuple[str, Any]:
    """The ACK the pipeline builds, and what parsing gave (OruMessage or Hl7Error)."""
    try:
        msg = parse_oru(raw)
    except Hl7Error as err:
        return build_ack(err.header or peek_header(raw), error=err), err
    return build_ack(msg.header), msg


def err_of(ack_text: str) -> tuple[str, str] | None:
    """(ERR code, location): ERR-3/ERR-2 from v2.5 on, ERR-1 (ELD seg^seq^field^code) before."""
    msg = hl7.parse(ack_text.lstrip("\ufeff"))
    try:
        err = msg.segment("ERR")
    except KeyError:
        return None
    if str(msg.segment("MSH")[12]).split("^")[0] in ("2.3", "2.3.1", "2.4"):
        eld = str(err[1]).split("^")
        return eld[3].split("&")[0], "^".join(p for p in eld[:3] if p)
    return str(err[3][0][0]), str(err[2])


def err_in_own_delimiters(ack: str) -> tuple[str, str] | None:
    """(ERR code, location) read with the ACK's own delimiters: ERR-1 (ELD) before v2.5, else ERR-3/ERR-2
    with ERR-4 severity E (table 0516)."""
    sep, comp, sub = ack[3], ack[4], ack[7]
    msh_fields = ack.split("\r")[0].split(sep)
    version = msh_fields[11].split(comp)[0]
    err = next((s.split(sep) for s in ack.split("\r") if s.startswith("ERR")), None)
    if err is None:
        return None
    numeric = version.replace(".", "").isdigit()  # build_ack reads any other MSH-12 as v2.5 or later
    if numeric and tuple(int(p) for p in version.split(".")) < (2, 5):
        eld = err[1].split(comp)
        return eld[3].split(sub)[0], comp.join(p for p in eld[:3] if p)
    assert err[4] == "E"
    return err[3].split(comp)[0], err[2]


def read_frame(sock: socket.socket) -> bytes:
    """One MLLP-framed answer, without its start and end blocks."""
    data = b""
    while not data.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before an ACK"
        data += chunk
    assert data.startswith(b"\x0b")
    return data[1:-2]


def msas(ack: bytes, codec: str = "latin-1") -> list[tuple[str, str]]:
    """(MSA-1, MSA-2) of every ACK in `ack` (one or a batch), any line ends."""
    text = ack.decode(codec).lstrip("\ufeff").replace("\r\n", "\r").replace("\n", "\r")
    return [(f[1], f[2]) for f in (s.split("|") for s in text.split("\r") if s.startswith("MSA"))]


def inbound_rows(app: Any) -> list[InboundMessage]:
    """Kept inbound messages in arrival order, batch envelopes left out."""
    with app.state.sessions() as s:
        stmt = select(InboundMessage).where(InboundMessage.status != "batch").order_by(InboundMessage.id)
        return list(s.scalars(stmt).all())


def codec_of(case: Case) -> str:
    """The character set the case's ACK comes back in (its MSH-18, else UTF-8)."""
    header = peek_header(case.raw)
    return header.codec if header else "utf-8"
