"""A message over the MLLP size limit is kept (head, size, sha256) and answered AR, and the
connection goes on with the next message: nothing lost, memory bounded, no silent close."""

from __future__ import annotations

import hashlib
import socket
from typing import Any

from hl7_rounds import er7, err_of, inbound_rows, msas, read_frame

from plugin.mllp import KEEP_BYTES, MAX_MESSAGE


def _message(control_id: str, text: str) -> bytes:
    return er7(
        f"MSH|^~\\&|RIS|HOSP|RADLITE|HOSP|20260101120000||ORU^R01|{control_id}|P|2.5.1",
        "PID|1||MRN123^^^HOSP^MR",
        "OBR|1||ACC-" + control_id + "|71046^XR CHEST 2V^CPT|||20260101110000",
        f"OBX|1|TX|18782-3^Findings^LN||{text}||||||F",
    )


def test_oversized_message_is_kept_answered_and_the_next_one_read(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    big = _message("BIG1", "Lungs are clear. " * (MAX_MESSAGE // 17 + 1000))
    assert len(big) > MAX_MESSAGE
    small = _message("SMALL1", "No acute cardiopulmonary process.")
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=120) as sock:
        sock.sendall(b"\x0b" + big + b"\x1c\r" + b"\x0b" + small + b"\x1c\r")
        first = read_frame(sock)
        second = read_frame(sock)
    assert msas(first) == [("AR", "BIG1")]
    assert err_of(first.decode("latin-1"))[0] == "207"
    assert b"size limit" in first
    assert msas(second) == [("AA", "SMALL1")]
    rows = inbound_rows(app)
    assert [r.control_id for r in rows] == ["BIG1", "SMALL1"]
    kept = rows[0]
    assert kept.status == "rejected" and kept.error_code == "207"
    assert kept.raw == big[:KEEP_BYTES]
    assert kept.sha256 == hashlib.sha256(big).hexdigest()
    assert f"message of {len(big)} bytes" in (kept.error or "")
    assert rows[1].raw == small


def test_oversized_message_cut_off_by_the_sender_is_kept(app_sqlite: Any) -> None:
    app, _ = app_sqlite
    big = _message("BIG2", "Heart size normal. " * (MAX_MESSAGE // 19 + 1000))
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=120) as sock:
        sock.sendall(b"\x0b" + big)  # no end block: the sender stops inside the message
        sock.shutdown(socket.SHUT_WR)
        answer = read_frame(sock)
    assert msas(answer) == [("AR", "BIG2")]
    kept = inbound_rows(app)[-1]
    assert kept.status == "rejected" and kept.raw == big[:KEEP_BYTES]
    assert kept.sha256 == hashlib.sha256(big).hexdigest()
    assert f"message of more than {len(big)} bytes" in (kept.error or "")
