"""HL7 v2 front doors (MLLP over real TCP and HTTP): every message stored, then the right ACK.

The worker is off here, so these tests exercise receive, store and ACK only.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from pathlib import Path
from typing import Any

import hl7
import pytest
from fastapi.testclient import TestClient
from hl7.client import MLLPClient
from sqlalchemy import select

from plugin.app import create_app
from plugin.storage.tables import AuditEvent, InboundMessage


def _ack(raw: bytes | str) -> hl7.Message:
    text = raw.decode() if isinstance(raw, bytes) else raw
    return hl7.parse(text.strip("\x0b\x1c\r\n").replace("\r\n", "\r").replace("\n", "\r"))


def _err3(ack: hl7.Message) -> str:
    err = ack.segment("ERR")
    version = str(ack.segment("MSH")[12])
    return str(err[3][0][0]) if version >= "2.5" else str(err[1][0][3][0])


@pytest.fixture()
def app_mllp(db_url: str, ensemble: Any, settings_for: Any):  # type: ignore[no-untyped-def]
    app = create_app(settings_for(db_url, mllp_enabled=True, worker_enabled=False), ensemble=ensemble)
    with TestClient(app) as client:
        yield app, client


def test_good_bad_and_tolerated_messages_over_one_connection(app_mllp: Any, dev: Path) -> None:
    app, _client = app_mllp
    good = json.loads((dev / "hl7" / "expected.json").read_text())
    bad = json.loads((dev / "hl7" / "bad" / "expected.json").read_text())
    tolerated = json.loads((dev / "hl7" / "tolerated" / "expected.json").read_text())
    sent: list[bytes] = []
    client = MLLPClient("127.0.0.1", app.state.mllp.port)
    try:
        for name, exp in good.items():
            raw = (dev / "hl7" / name).read_bytes()
            sent.append(raw)
            ack = _ack(client.send_message(raw))
            assert str(ack.segment("MSA")[1]) == exp["expected_ack"], name
            assert str(ack.segment("MSA")[2]) == exp["msh10"], name
        for name, exp in bad.items():
            raw = (dev / "hl7" / "bad" / name).read_bytes()
            sent.append(raw)
            ack = _ack(client.send_message(raw))
            assert str(ack.segment("MSA")[1]) == exp["expected_ack"], name
            assert str(ack.segment("MSA")[2]) == exp["msa2"], name
            assert _err3(ack) == exp["err_code"], name
        for name in tolerated:
            if not name.endswith(".hl7"):
                continue
            raw = (dev / "hl7" / "tolerated" / name).read_bytes()
            sent.append(raw)
            ack = _ack(client.send_message(raw))
            assert str(ack.segment("MSA")[1]) in ("AA", "CA"), name
    finally:
        client.close()
    with app.state.sessions() as s:
        rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        # Nothing lost: every message kept byte for byte, the broken ones with their error.
        assert [r.raw for r in rows] == sent
        rejected = [r for r in rows if r.status == "rejected"]
        assert len(rejected) == len(bad) and all(r.error and r.error_code for r in rejected)
        assert {r.status for r in rows} <= {"queued", "rejected"}
        events = s.scalars(select(AuditEvent.event_type)).all()
        assert events.count("message.received") == len(sent) - len(bad)
        assert events.count("message.rejected") == len(bad)


def test_retry_of_the_same_message_is_acked_and_not_queued_twice(app_mllp: Any, dev: Path) -> None:
    app, _ = app_mllp
    raw = (dev / "hl7" / "oru-01.hl7").read_bytes()
    client = MLLPClient("127.0.0.1", app.state.mllp.port)
    try:
        first = _ack(client.send_message(raw))
        again = _ack(client.send_message(raw))
    finally:
        client.close()
    assert str(first.segment("MSA")[1]) == str(again.segment("MSA")[1]) == "AA"
    with app.state.sessions() as s:
        statuses = s.scalars(select(InboundMessage.status).order_by(InboundMessage.id)).all()
    assert statuses == ["queued", "duplicate"]


def test_junk_between_frames_and_a_sender_that_hangs_up_lose_nothing(app_mllp: Any, dev: Path) -> None:
    app, _ = app_mllp
    raw = (dev / "hl7" / "oru-02.hl7").read_bytes()
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=10) as sock:
        sock.sendall(b"\x00\x00\r\n" + b"\x0b" + raw + b"\x1c\r")
        reply = b""
        while not reply.endswith(b"\x1c\r"):
            reply += sock.recv(4096)
        assert b"MSA|CA|" in reply
        sock.sendall(b"\x0b" + raw[:120])  # cut off mid-message, then gone
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with app.state.sessions() as s:
            rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        if len(rows) == 2 and rows[1].status != "received":  # stored, then judged
            break
        time.sleep(0.05)
    assert rows[0].raw == raw and rows[0].status == "queued"
    assert rows[1].raw == raw[:120]
    assert rows[1].status == "rejected"


@pytest.mark.parametrize("content_type", ["x-application/hl7-v2+er7", "application/hl7-v2", "text/plain"])
def test_hl7_over_http(app_mllp: Any, dev: Path, content_type: str) -> None:
    _, client = app_mllp
    raw = (dev / "hl7" / "oru-01.hl7").read_bytes()
    ok = client.post("/hl7/v2", content=raw, headers={"Content-Type": content_type})
    assert ok.status_code == 200
    assert str(_ack(ok.content).segment("MSA")[1]) == "AA"
    broken = client.post("/hl7/v2", content=(dev / "hl7" / "bad" / "04-adt-a01.hl7").read_bytes(),
                         headers={"Content-Type": content_type})
    assert broken.status_code == 400
    assert str(_ack(broken.content).segment("MSA")[1]) == "AR"


def _with_msh(raw: bytes, *, control_id: str, accept: str = "", app: str = "", charset: str = "",
              facility: str | None = None) -> bytes:
    """The dev message with MSH-10/15/16/18 (and optionally MSH-4) set, as a sender would configure them."""
    segments = raw.replace(b"\r\n", b"\r").split(b"\r")
    msh = segments[0].split(b"|")
    msh += [b""] * (18 - len(msh))
    msh[9], msh[14], msh[15], msh[17] = control_id.encode(), accept.encode(), app.encode(), charset.encode()
    if facility is not None:
        msh[3] = facility.encode("latin-1")
    segments[0] = b"|".join(msh)
    return b"\r".join(segments)


def _send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(b"\x0b" + payload + b"\x1c\r")


def _read_frame(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\x1c\r"):
        chunk = sock.recv(65536)
        assert chunk, "connection closed before an ACK"
        data += chunk
    return data.strip(b"\x0b\x1c\r")


def test_msh15_decides_whether_a_commit_ack_is_sent(app_mllp: Any, dev: Path) -> None:
    """Enhanced mode: NE never gets an ACK, ER only on error, AL always; every message is stored."""
    app, _ = app_mllp
    raw = (dev / "hl7" / "oru-01.hl7").read_bytes()
    broken = dev / "hl7" / "bad" / "04-adt-a01.hl7"
    assert broken.exists(), sorted(p.name for p in (dev / "hl7" / "bad").iterdir())
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        _send_frame(sock, _with_msh(raw, control_id="NE-1", accept="NE", app="NE"))
        _send_frame(sock, _with_msh(raw, control_id="ER-OK", accept="ER", app="NE"))
        _send_frame(sock, _with_msh(broken.read_bytes(), control_id="ER-BAD", accept="ER", app="NE"))
        _send_frame(sock, _with_msh(raw, control_id="AL-1", accept="AL", app="NE"))
        first, second = _ack(_read_frame(sock)), _ack(_read_frame(sock))
    # Only the failed ER message and the AL message are answered, in order.
    assert [str(a.segment("MSA")[2]) for a in (first, second)] == ["ER-BAD", "AL-1"]
    assert str(first.segment("MSA")[1]) in ("CE", "CR") and str(second.segment("MSA")[1]) == "CA"
    with app.state.sessions() as s:
        stored = s.scalars(select(InboundMessage.control_id).order_by(InboundMessage.id)).all()
    assert stored == ["NE-1", "ER-OK", "ER-BAD", "AL-1"]


def test_ack_is_written_in_the_message_character_set(app_mllp: Any, dev: Path) -> None:
    app, client = app_mllp
    raw = _with_msh((dev / "hl7" / "oru-01.hl7").read_bytes(), control_id="L1-1", charset="8859/1",
                    facility="H\u00d4PITAL NORD")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        _send_frame(sock, raw)
        ack = _read_frame(sock)
    assert b"H\xd4PITAL NORD" in ack  # Latin-1 bytes, echoed in MSH-6 of the ACK
    over_http = client.post("/hl7/v2", content=_with_msh(raw, control_id="L1-2", charset="8859/1",
                                                          facility="H\u00d4PITAL NORD"),
                            headers={"Content-Type": "x-application/hl7-v2+er7"})
    assert b"H\xd4PITAL NORD" in over_http.content and "8859" in over_http.headers["content-type"]


def test_an_mllp_arrival_is_audited_with_the_peer_the_sending_facility_and_a_hash(app_mllp: Any, dev: Path) -> None:
    """Issue 6: who (MLLP peer, MSH-3^MSH-4), which patient and accession, and a hash of the bytes."""
    app, _client = app_mllp
    name = next(iter(json.loads((dev / "hl7" / "expected.json").read_text())))
    raw = (dev / "hl7" / name).read_bytes()
    msh = raw.split(b"\r", 1)[0].decode().split("|")
    client = MLLPClient("127.0.0.1", app.state.mllp.port)
    try:
        client.send_message(raw)
        local_port = client.socket.getsockname()[1]
    finally:
        client.close()
    with app.state.sessions() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "message.received")).all()
        [row] = s.scalars(select(InboundMessage)).all()
    assert (event.actor, event.actor_kind) == (f"127.0.0.1:{local_port}", "mllp")
    assert event.detail["sender"] == f"{msh[2]}^{msh[3]}"
    assert event.input_hash == row.sha256 == hashlib.sha256(row.raw).hexdigest()
    assert event.patient_id and event.accession and event.patient_id.encode() in raw


# ---- messages not in the dev set (see tests/adapters/test_hl7_unseen.py for the parsing side) ------

def _unseen(msh: str, *segments: str, end: str = "\r", charset: str = "utf-8") -> bytes:
    return (end.join((msh, *segments)) + end).encode(charset)


_OBR = "OBR|1||{acc}|71046^XR CHEST 2 VIEWS^C4|||20240301|||||||||||||||||RAD|{st}"
UNSEEN: list[tuple[str, bytes, str, str, str | None]] = [
    # (name, raw, MSA-1, MSA-2, ERR code)
    ("nte-report", _unseen("MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01|U-NTE|P|2.3", "PID|||U1^^^H^MR",
                           _OBR.format(acc="U-A1", st="F"), "NTE|1||FINDINGS: Lungs clear.",
                           "NTE|2||IMPRESSION: Normal."), "AA", "U-NTE", None),
    ("lf-ends-pet-line", _unseen("MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|U-LF|P|2.5.1",
                                 "PID|1||U2^^^H^MR", _OBR.format(acc="U-A2", st="F"),
                                 "OBX|1|TX|&GDT^Report^L||Node.\\X0A\\PET/CT: SUV 4.||||||F", end="\n"),
     "AA", "U-LF", None),
    ("latin1", _unseen("MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|U-L1|P|2.4||||||8859/1",
                       "PID|1||U3^^^H^MR||M\u00dcLLER", _OBR.format(acc="U-A3", st="F"),
                       "OBX|1|TX|&GDT^Befund^L||L\u00e4sion.||||||F", charset="latin-1"), "AA", "U-L1", None),
    ("retracted", _unseen("MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|U-W|P|2.5.1",
                          "PID|1||U4^^^H^MR", _OBR.format(acc="U-A2", st=""),
                          "OBX|1|TX|&GDT^Report^L||Sent for the wrong patient.||||||W"), "AA", "U-W", None),
    ("orm", _unseen("MSH|^~\\&|EHR|H|RADLITE|H|20240301||ORM^O01|U-ORM|P|2.3", "PID|1||U5^^^H^MR",
                    "ORC|NW|O-1", "OBR|1|O-1||71046^XR CHEST^C4"), "AR", "U-ORM", "200"),
    ("no-msh10", _unseen("MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01||P|2.5.1", "PID|1||U6^^^H^MR",
                         _OBR.format(acc="U-A6", st="F"), "OBX|1|TX|&GDT^Report^L||Clear.||||||F"), "AE", "", "101"),
    ("pdf-only", _unseen("MSH|^~\\&|RIS|H|RADLITE|H|20240301||ORU^R01^ORU_R01|U-PDF|P|2.5.1", "PID|1||U7^^^H^MR",
                         _OBR.format(acc="U-A7", st="F"), "OBX|1|ED|PDF^Report^L||^AP^PDF^Base64^JVBERi0=||||||F"),
     "AE", "U-PDF", "101"),
]


def test_unseen_messages_over_one_connection_are_all_kept_and_answered(app_mllp: Any) -> None:
    app, client = app_mllp
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        for i, (name, raw, msa1, msa2, err) in enumerate(UNSEEN):
            # Every other frame without the CR after FS: some senders leave it out and wait for the ACK.
            sock.sendall(b"\x0b" + raw + (b"\x1c\r" if i % 2 else b"\x1c"))
            reply = _read_frame(sock)
            ack = _ack(reply.decode("latin-1"))
            assert (str(ack.segment("MSA")[1]), str(ack.segment("MSA")[2])) == (msa1, msa2), name
            if err:
                assert _err3(ack) == err, name
            else:
                assert b"\rERR" not in reply, name
    with app.state.sessions() as s:
        rows = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert [r.raw for r in rows] == [u[1] for u in UNSEEN]  # byte for byte, rejected ones too
    assert [r.status for r in rows] == ["rejected" if u[4] else "queued" for u in UNSEEN]
    assert all(r.error_code == u[4] for r, u in zip(rows, UNSEEN, strict=True) if u[4])
    # Over HTTP the same wrong type is a 400 whose body is the AR ACK.
    orm = next(u[1] for u in UNSEEN if u[0] == "orm")
    http = client.post("/hl7/v2", content=orm.replace(b"U-ORM", b"U-ORM2"), headers={"Content-Type": "text/plain"})
    assert http.status_code == 400 and str(_ack(http.content).segment("MSA")[1]) == "AR"
    assert _err3(_ack(http.content)) == "200"
