"""Application ACKs (enhanced mode, MSH-16): owed after processing, delivered over MLLP to the
sender's engine, kept until delivered.

The "engine" here is a real TCP listener speaking MLLP on loopback; it answers each block
with a commit ACK of the code the test chooses (or not at all).
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hl7
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from adapters import hl7 as hl7v2
from plugin import outbox
from plugin.app import create_app
from plugin.cli import app as cli
from plugin.settings import Hl7Route
from plugin.storage.db import make_engine, make_sessionmaker, session_scope, upgrade
from plugin.storage.tables import AuditEvent, InboundMessage, OutboundMessage


class Engine(socketserver.ThreadingTCPServer):
    """A sender's MLLP listener: keeps every block it gets and answers with `reply` (None: silence)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, reply: str | None = "CA", port: int = 0) -> None:
        self.reply = reply
        self.received: list[bytes] = []
        self.got = threading.Event()
        super().__init__(("127.0.0.1", port), _EngineHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def route(self, sender: str = "*", **kw: Any) -> dict[str, Any]:
        return {"sender": sender, "host": "127.0.0.1", "port": self.port, **kw}

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _EngineHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: Engine = self.server  # type: ignore[assignment]
        data = b""
        while True:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
            while b"\x1c\r" in data:
                block, data = data.split(b"\x1c\r", 1)
                payload = block[block.find(b"\x0b") + 1 :]
                server.received.append(payload)
                server.got.set()
                if server.reply:
                    control = _field(payload, "MSH", 10)
                    ack = f"MSH|^~\\&|RIS|HOSP|RADLITE||20261128||ACK|E{control}|P|2.5.1\rMSA|{server.reply}|{control}\r"
                    self.request.sendall(b"\x0b" + ack.encode() + b"\x1c\r")


def _field(payload: bytes, segment: str, index: int) -> str:
    for line in payload.decode("latin-1").split("\r"):
        if line.startswith(segment):
            fields = line.split("|")
            # MSH-1 is the separator itself, so MSH-n sits at list index n - 1.
            return fields[index - 1 if segment == "MSH" else index]
    raise AssertionError(f"no {segment} in {payload!r}")


def _with_msh(raw: bytes, *, control_id: str, accept: str, app: str) -> bytes:
    segments = raw.replace(b"\r\n", b"\r").split(b"\r")
    msh = segments[0].split(b"|")
    msh += [b""] * (18 - len(msh))
    msh[9], msh[14], msh[15] = control_id.encode(), accept.encode(), app.encode()
    segments[0] = b"|".join(msh)
    return b"\r".join(segments)


def _frame_roundtrip(port: int, payload: bytes) -> bytes | None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\x0b" + payload + b"\x1c\r")
        sock.settimeout(2)
        data = b""
        try:
            while not data.endswith(b"\x1c\r"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except TimeoutError:
            return None
    return data.strip(b"\x0b\x1c\r") or None


@pytest.fixture()
def engine() -> Iterator[Engine]:
    server = Engine()
    yield server
    server.close()


@pytest.fixture()
def oru(dev: Path) -> bytes:
    name = next(iter(json.loads((dev / "hl7" / "expected.json").read_text())))
    return (dev / "hl7" / name).read_bytes()


def _header(raw: bytes) -> hl7v2.MshHeader:
    header = hl7v2.peek_header(raw)
    assert header is not None
    return header


# ---- what is owed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "app", "on_success", "on_error"),
    [("", "", False, False), ("AL", "", False, False), ("AL", "NE", False, False), ("NE", "AL", True, True),
     ("AL", "ER", False, True), ("AL", "SU", True, False)],
)
def test_msh16_decides_whether_an_application_ack_is_owed(
    oru: bytes, accept: str, app: str, on_success: bool, on_error: bool
) -> None:
    header = _header(_with_msh(oru, control_id="X1", accept=accept, app=app))
    assert header.wants_app_ack(error=False) is on_success
    assert header.wants_app_ack(error=True) is on_error


def test_application_ack_is_enhanced_mode_and_asks_for_a_commit_ack(oru: bytes) -> None:
    header = _header(_with_msh(oru, control_id="ORIG-7", accept="NE", app="AL"))
    ok = hl7.parse(hl7v2.application_ack(header, control_id="OUT-1"))
    assert str(ok.segment("MSA")[1]) == "AA" and str(ok.segment("MSA")[2]) == "ORIG-7"
    msh = ok.segment("MSH")
    assert (str(msh[10]), str(msh[15]), str(msh[16])) == ("OUT-1", "AL", "NE")
    assert (str(msh[3]), str(msh[5])) == (header.receiving_app, header.sending_app)
    failure = hl7v2.Hl7Error("AR", "207", "", "application internal error", header)
    bad = hl7.parse(hl7v2.application_ack(header, control_id="OUT-2", error=failure, accept_ack_type="NE"))
    assert str(bad.segment("MSA")[1]) == "AR"  # A-codes, not C-codes: this is the application ACK
    assert str(bad.segment("MSH")[15]) == "NE"
    assert "207" in str(bad.segment("ERR"))


def test_the_most_specific_route_wins(settings_for: Any, sqlite_url: str) -> None:
    routes = [Hl7Route(sender="*", host="any", port=1), Hl7Route(sender="RIS", host="app", port=2),
              Hl7Route(sender="RIS^HOSP", host="exact", port=3)]
    settings = settings_for(sqlite_url, hl7_routes=routes)
    assert settings.route_for("RIS^HOSP").host == "exact"
    assert settings.route_for("RIS^OTHER").host == "app"
    assert settings.route_for("PACS^HOSP").host == "any"
    only = settings_for(sqlite_url, hl7_routes=json.dumps([{"sender": "RIS", "host": "h", "port": 9}]))
    assert only.route_for("PACS^HOSP") is None


# ---- end to end through the service -----------------------------------------------------------


def _wait_for(predicate: Any, timeout: float = 240.0) -> Any:
    """Poll until the background worker and sender have done their part (not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def test_processed_message_gets_its_application_ack_over_mllp(
    db_url: str, ensemble: Any, settings_for: Any, engine: Engine, oru: bytes
) -> None:
    settings = settings_for(db_url, mllp_enabled=True, worker_enabled=True, hl7_routes=[engine.route()])
    app = create_app(settings, ensemble=ensemble)
    with TestClient(app):
        commit = _frame_roundtrip(app.state.mllp.port, _with_msh(oru, control_id="ENH-1", accept="AL", app="AL"))
        assert commit is not None and str(hl7.parse(commit.decode()).segment("MSA")[1]) == "CA"
        assert engine.got.wait(240), "no application ACK reached the engine"

        def delivered() -> OutboundMessage | None:
            with app.state.sessions() as s:
                return s.scalars(select(OutboundMessage).where(OutboundMessage.status == "sent")).first()

        row = _wait_for(delivered)
        with app.state.sessions() as s:
            inbound = s.scalars(select(InboundMessage).where(InboundMessage.control_id == "ENH-1")).one()
            events = [e.event_type for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    ack = hl7.parse(engine.received[0].decode())
    assert str(ack.segment("MSA")[1]) == "AA" and str(ack.segment("MSA")[2]) == "ENH-1"
    assert str(ack.segment("MSH")[10]) == row.control_id and row.reply_code == "CA"
    assert inbound.status == "done" and row.inbound_id == inbound.id
    # The ACK is owed only once the analysis is stored and audited.
    assert events.index("outbound.queued") > max(i for i, e in enumerate(events) if e == "task.run")
    assert events.index("outbound.sent") > events.index("outbound.queued")


def test_a_broken_message_without_commit_ack_gets_its_error_as_the_application_ack(
    db_url: str, ensemble: Any, settings_for: Any, engine: Engine, dev: Path
) -> None:
    """MSH-15 NE + MSH-16 AL: the sender hears nothing at once, so the AE must come later."""
    broken = (dev / "hl7" / "bad" / "04-adt-a01.hl7").read_bytes()
    settings = settings_for(db_url, mllp_enabled=True, worker_enabled=True, hl7_routes=[engine.route()])
    app = create_app(settings, ensemble=ensemble)
    with TestClient(app):
        assert _frame_roundtrip(app.state.mllp.port, _with_msh(broken, control_id="BAD-NE", accept="NE", app="AL")) is None
        assert engine.got.wait(60)
        # The same message asking for a commit ACK gets CE/CR at once and no application ACK.
        commit = _frame_roundtrip(app.state.mllp.port, _with_msh(broken, control_id="BAD-AL", accept="AL", app="AL"))
        assert commit is not None and str(hl7.parse(commit.decode()).segment("MSA")[1]) in ("CE", "CR")
        with app.state.sessions() as s:
            rows = s.scalars(select(OutboundMessage)).all()
    assert len(engine.received) == 1
    ack = hl7.parse(engine.received[0].decode())
    assert str(ack.segment("MSA")[1]) in ("AE", "AR") and str(ack.segment("MSA")[2]) == "BAD-NE"
    assert ack.segment("ERR")  # the fault and its location travel with it
    assert [r.code for r in rows] == [str(ack.segment("MSA")[1])]


# ---- delivery: retries, refusals, no route ------------------------------------------------------


@pytest.fixture()
def store(sqlite_url: str) -> Iterator[Any]:
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    yield make_sessionmaker(eng)
    eng.dispose()


def _owe(sessions: Any, settings: Any, raw: bytes, control_id: str = "M-1") -> int:
    header = _header(_with_msh(raw, control_id=control_id, accept="AL", app="AL"))
    with session_scope(sessions) as s:
        inbound = InboundMessage(channel="mllp", raw=raw, sha256="0" * 64, status="done", attempts=1)
        s.add(inbound)
        s.flush()
        row = outbox.enqueue_app_ack(s, settings, header=header, inbound_id=inbound.id)
        assert row is not None
        return row.id


def _row(sessions: Any, row_id: int) -> OutboundMessage:
    with sessions() as s:
        row = s.get(OutboundMessage, row_id)
        assert row is not None
        return row


def test_an_engine_that_is_down_gets_the_ack_when_it_comes_back(
    store: Any, settings_for: Any, sqlite_url: str, oru: bytes
) -> None:
    with socket.socket() as probe:  # a port nobody listens on, until the engine starts on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(sqlite_url, outbox_retry_seconds=0.01, outbox_timeout_seconds=2,
                            hl7_routes=[{"sender": "*", "host": "127.0.0.1", "port": port}])
    row_id = _owe(store, settings, oru)
    assert outbox.deliver_next(store, settings)
    first = _row(store, row_id)
    assert (first.status, first.attempts) == ("pending", 1) and "Connection" in (first.last_error or "")
    server = Engine(port=port)
    try:
        _wait_for(lambda: _row(store, row_id).next_attempt_at is not None and outbox.deliver_next(store, settings)
                  and _row(store, row_id).status == "sent", timeout=30)
    finally:
        server.close()
    done = _row(store, row_id)
    assert (done.status, done.attempts, done.reply_code) == ("sent", 2, "CA")
    assert len(server.received) == 1


@pytest.mark.parametrize(("reply", "status"), [("CE", "failed"), ("CR", "pending"), (None, "pending")])
def test_what_the_engine_answers_decides_the_next_step(
    store: Any, settings_for: Any, sqlite_url: str, oru: bytes, reply: str | None, status: str
) -> None:
    server = Engine(reply=reply)
    try:
        settings = settings_for(sqlite_url, outbox_timeout_seconds=1, hl7_routes=[server.route()])
        row_id = _owe(store, settings, oru)
        assert outbox.deliver_next(store, settings)
    finally:
        server.close()
    row = _row(store, row_id)
    assert row.status == status and row.reply_code == reply
    with store() as s:
        events = [e.event_type for e in s.scalars(select(AuditEvent))]
    assert ("outbound.failed" in events) is (status == "failed")


def test_out_of_attempts_is_parked_as_failed_and_audited(store: Any, settings_for: Any, sqlite_url: str, oru: bytes) -> None:
    server = Engine(reply="CR")
    try:
        settings = settings_for(sqlite_url, outbox_max_attempts=2, outbox_retry_seconds=0.01,
                                outbox_timeout_seconds=1, hl7_routes=[server.route()])
        row_id = _owe(store, settings, oru)
        _wait_for(lambda: outbox.deliver_next(store, settings) and _row(store, row_id).status == "failed", timeout=30)
    finally:
        server.close()
    assert _row(store, row_id).attempts == 2 and len(server.received) == 2


def test_no_route_keeps_the_ack_for_review_and_retry_sends_it(
    store: Any, settings_for: Any, sqlite_url: str, oru: bytes, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    unrouted = settings_for(sqlite_url)
    row_id = _owe(store, unrouted, oru)
    assert _row(store, row_id).status == "unroutable"
    assert not outbox.deliver_next(store, unrouted)  # nothing is due: it waits for a person
    monkeypatch.setenv("RADLITE_DATABASE_URL", sqlite_url)
    listed = CliRunner().invoke(cli, ["outbox", "list", "--status", "unroutable"])
    assert listed.exit_code == 0 and "unroutable" in listed.output
    assert CliRunner().invoke(cli, ["outbox", "retry", str(row_id)]).exit_code == 1  # still no route
    application = (_row(store, row_id).sender or "").split("^")[0]  # a route for the sending application
    monkeypatch.setenv("RADLITE_HL7_ROUTES", json.dumps([engine.route(application)]))
    retried = CliRunner().invoke(cli, ["outbox", "retry", str(row_id)])
    assert retried.exit_code == 0, retried.output
    routed = settings_for(sqlite_url, hl7_routes=[engine.route(application)])
    assert outbox.deliver_next(store, routed)
    assert _row(store, row_id).status == "sent" and len(engine.received) == 1
    again = CliRunner().invoke(cli, ["outbox", "retry", str(row_id)])
    assert again.exit_code == 1  # a delivered message is not sent twice


def test_a_stored_message_that_can_no_longer_be_read_gets_an_ar_application_ack(
    db_url: str, ensemble: Any, settings_for: Any, engine: Engine, oru: bytes
) -> None:
    """The last failed attempt owes the sender AR with ERR 207 (our fault; a resend may work)."""
    from plugin.pipeline import Pipeline

    settings = settings_for(db_url, worker_max_attempts=1, hl7_routes=[engine.route()])
    upgrade(db_url)
    eng = make_engine(db_url)
    sessions = make_sessionmaker(eng)
    try:
        pipeline = Pipeline(settings, sessions, ensemble)
        raw = _with_msh(oru, control_id="GONE-1", accept="AL", app="ER")
        receipt = pipeline.receive_hl7(raw, channel="mllp", peer="127.0.0.1:1")
        assert receipt.code == "CA"
        with session_scope(sessions) as s:  # damaged at rest: only the MSH survives
            s.get(InboundMessage, receipt.inbound_id).raw = raw.split(b"\r", 1)[0] + b"\r"
        assert pipeline.process_next("w1")
        pipeline.close()
        with sessions() as s:
            row = s.scalars(select(OutboundMessage)).one()
            inbound = s.get(InboundMessage, receipt.inbound_id)
        assert inbound.status == "error" and row.code == "AR"
        assert outbox.deliver_next(sessions, settings)
    finally:
        eng.dispose()
    ack = hl7.parse(engine.received[0].decode())
    assert str(ack.segment("MSA")[1]) == "AR" and str(ack.segment("MSA")[2]) == "GONE-1"
    assert "207" in str(ack.segment("ERR"))


# ---- results onward as ORU^R01 ------------------------------------------------------------------


def test_results_go_onward_as_oru_to_the_results_route(
    sqlite_url: str, ensemble: Any, settings_for: Any, oru: bytes
) -> None:
    """Original mode: the results engine answers our ORU^R01 with AA, and only then is it delivered."""
    results = Engine(reply="AA")
    try:
        settings = settings_for(sqlite_url, mllp_enabled=True, worker_enabled=True,
                                hl7_results_route={"host": "127.0.0.1", "port": results.port})
        app = create_app(settings, ensemble=ensemble)
        with TestClient(app):
            ack = _frame_roundtrip(app.state.mllp.port, _with_msh(oru, control_id="RES-1", accept="", app=""))
            assert ack is not None and str(hl7.parse(ack.decode()).segment("MSA")[1]) == "AA"

            def delivered() -> OutboundMessage | None:
                with app.state.sessions() as s:
                    return s.scalars(select(OutboundMessage).where(OutboundMessage.status == "sent")).first()

            row = _wait_for(delivered)
            with app.state.sessions() as s:
                kinds = s.scalars(select(OutboundMessage.kind)).all()
    finally:
        results.close()
    assert kinds == ["oru"]  # original mode owes no application ACK
    assert row.reply_code == "AA" and len(results.received) == 1
    message = hl7.parse(results.received[0].decode("utf-8"))
    assert str(message.segment("MSH")[9]) == "ORU^R01^ORU_R01" and str(message.segment("MSH")[10]) == row.control_id
    source = hl7.parse(oru.replace(b"\r\n", b"\r").decode("latin-1"))
    # The same accession (OBR-3 filler order number, entity identifier).
    assert str(message.segment("OBR")[3]).split("^")[0] == str(source.segment("OBR")[3]).split("^")[0]
    statuses = {str(obx[11]) for obx in message.segments("OBX")}
    assert statuses == {"P"}  # preliminary AI output, every OBX


def _obr25(raw: bytes, status: str) -> bytes:
    """The message with every OBR-25 (result status, table 0123) set to `status`."""
    segments = raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    out = []
    for seg in segments:
        if seg.startswith(b"OBR|"):
            fields = seg.split(b"|")
            fields += [b""] * (26 - len(fields))
            fields[25] = status.encode()
            seg = b"|".join(fields)
        out.append(seg)
    return b"\r".join(out)


@pytest.mark.parametrize(("status", "analysed"), [("I", False), ("S", False), ("F", True)])
def test_a_report_with_no_results_yet_is_kept_but_not_analysed(
    sqlite_url: str, ensemble: Any, settings_for: Any, oru: bytes, status: str, analysed: bool
) -> None:
    """OBR-25 I/S ("no results available") is FHIR `registered`: stored and audited, never analysed, as the
    CDS hook skips such a report and $analyze refuses it; a final report on the same path is analysed."""
    from plugin.pipeline import Pipeline
    from plugin.storage.tables import AnalysisRow, Report

    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    sessions = make_sessionmaker(eng)
    try:
        pipeline = Pipeline(settings_for(sqlite_url), sessions, ensemble)
        raw = _with_msh(_obr25(oru, status), control_id=f"NR-{status}", accept="", app="")
        assert pipeline.receive_hl7(raw, channel="mllp", peer="127.0.0.1:1").code == "AA"
        assert pipeline.process_next("w1")
        pipeline.close()
        with sessions() as s:
            stored = s.scalars(select(Report)).all()
            analyses = s.scalars(select(AnalysisRow)).all()
        assert stored and all(r.status == ("final" if analysed else "registered") for r in stored)
        assert bool(analyses) is analysed
    finally:
        eng.dispose()
