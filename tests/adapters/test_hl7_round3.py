"""HL7 batch protocol at both doors, and ORU^R01 messages in the shapes real engines send.

Part 1: batch files (v2.5.1 ch. 2.10.3, FHS/BHS ... MSH ... BTS/FTS) built from the dev samples,
sent over real MLLP (TCP) and HTTP to the app on SQLite and PostgreSQL: every message is stored
on its own and answered by its own ACK inside an ACK batch, and a BTS-1/FTS-1 count that does
not match what arrived is reported on the batch without losing a message. The ACK batch is read
back with python-hl7's batch parser.

Part 2: hand-written messages not in the dev set (synthetic patients), in the variations interface
engines produce (Epic, Cerner, Meditech, Rhapsody, Mirth styles; v2.3 to v2.7). Each case states
the ACK an interface analyst expects (MSA-1, MSA-2, table 0357 ERR code and location) and, when
accepted, the report text, accession and status. The same table then goes through the MLLP door as
one batch, and every ACK in the reply must say the same.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hl7
import pytest
from sqlalchemy import select

from adapters.hl7 import Hl7Error, build_ack, build_batch_ack, is_batch, normalise, parse_oru, peek_header, split_batch
from plugin.storage.tables import AuditEvent, InboundMessage

GOOD = [f"oru-{i:02d}.hl7" for i in range(1, 13)]


# ---- helpers ---------------------------------------------------------------------------------


def _text(raw: bytes | str) -> str:
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text.strip("\x0b\x1c\r\n").replace("\r\n", "\r").replace("\n", "\r")


def _ack_file(raw: bytes | str) -> hl7.File:
    """An ACK batch as python-hl7 reads it (always as a File: FHS/FTS are optional)."""
    return hl7.parse_file(_text(raw))


def _acks(reply: hl7.File) -> list[hl7.Message]:
    return [m for b in reply for m in b]


def _msa(ack: hl7.Message) -> tuple[str, str]:
    msa = ack.segment("MSA")
    return str(msa[1]), str(msa[2])


def _err(ack: hl7.Message) -> tuple[str, str] | None:
    """(ERR code, ERR location) in the v2.5+ layout (ERR-3, ERR-2) or the v2.4- ELD (ERR-1)."""
    try:
        err = ack.segment("ERR")
    except KeyError:
        return None
    version = str(ack.segment("MSH")[12])
    if version in ("2.1", "2.2", "2.3", "2.3.1", "2.4") or not str(err[3]):
        eld = str(err[1]).split("^")
        return eld[3].split("&")[0], "^".join(p for p in eld[:3] if p)
    return str(err[3][0][0]), str(err[2])


def _batch(*messages: bytes, bts: str | None = None, fts: str | None = None, fhs: bool = True,
           batch_id: str = "B-0001") -> bytes:
    """A batch file as a sending engine writes it; BTS-1/FTS-1 are the true counts unless given."""
    head = b""
    if fhs:
        head += b"FHS|^~\\&|SYN_RIS|SYNTH_GENERAL|RADLITE|RADLITE_CDS|20250301120000||||F-0001\r"
    head += f"BHS|^~\\&|SYN_RIS|SYNTH_GENERAL|RADLITE|RADLITE_CDS|20250301120000||||{batch_id}\r".encode()
    body = b"".join(m if m.endswith(b"\r") else m + b"\r" for m in messages)
    tail = f"BTS|{len(messages) if bts is None else bts}\r".encode()
    if fhs:
        tail += f"FTS|{1 if fts is None else fts}\r".encode()
    return head + body + tail


def _msh10(raw: bytes) -> str:
    header = peek_header(raw)
    return header.control_id if header else ""


def _send(app: Any, payload: bytes) -> bytes:
    """One MLLP frame out, the whole reply frame back (python-hl7's MLLPClient reads a single
    4096-byte recv, too short for an ACK batch)."""
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=30) as sock:
        sock.sendall(b"\x0b" + payload + b"\x1c\r")
        reply = b""
        while not reply.endswith(b"\x1c\r"):
            chunk = sock.recv(65536)
            assert chunk, "connection closed before the ACK"
            reply += chunk
    return reply


def _rows(app: Any) -> list[InboundMessage]:
    """The messages stored (a batch file's own whole copy, status "batch", left out)."""
    with app.state.sessions() as s:
        stmt = select(InboundMessage).where(InboundMessage.status != "batch").order_by(InboundMessage.id)
        return list(s.scalars(stmt).all())


def _batch_rows(app: Any) -> list[InboundMessage]:
    with app.state.sessions() as s:
        return list(s.scalars(select(InboundMessage).where(InboundMessage.status == "batch")).all())


# ---- Part 1: batches, adapter level ----------------------------------------------------------


def test_a_batch_of_the_dev_samples_splits_into_the_messages_byte_for_byte(dev: Path) -> None:
    # bad/01 (no MSH) is left out: inside a batch its PID would just open a second patient group
    # of the message before it, which ORU^R01 allows; there is no way to tell it apart.
    names = [*GOOD, "bad/03-truncated.hl7", "bad/04-adt-a01.hl7", "tolerated/02-lf-terminators.hl7"]
    samples = [(dev / "hl7" / n).read_bytes() for n in names]
    batch = split_batch(_batch(*samples))
    assert batch.all_errors == []
    assert [m.rstrip(b"\r") for m in batch.messages] == [normalise(s) for s in samples]
    assert batch.file_header is not None and batch.file_trailer is not None
    assert [_msh10(m) for m in batch.messages] == [_msh10(s) for s in samples]


def test_is_batch_only_for_fhs_or_bhs_first(dev: Path) -> None:
    one = (dev / "hl7" / "oru-01.hl7").read_bytes()
    assert not is_batch(one)
    assert is_batch(_batch(one)) and is_batch(_batch(one, fhs=False))
    assert is_batch(b"\x0b" + _batch(one).replace(b"\r", b"\r\n") + b"\x1c\r")  # framed, CRLF


def test_ack_batch_has_one_ack_per_message_and_the_counts(dev: Path) -> None:
    msgs = [(dev / "hl7" / n).read_bytes() for n in GOOD[:3]] + [(dev / "hl7/bad/04-adt-a01.hl7").read_bytes()]
    batch = split_batch(_batch(*msgs, batch_id="B-77"))
    acks = []
    for m in batch.messages:
        try:
            acks.append(build_ack(parse_oru(m).header))
        except Hl7Error as err:
            acks.append(build_ack(err.header or peek_header(m), error=err))
    reply = _ack_file(build_batch_ack(batch, acks))
    assert str(reply.header[0]) == "FHS" and str(reply.trailer[1]) == "1"
    assert str(reply.header[12]) == "F-0001"  # FHS-12: the file control id being answered
    [ack_batch] = reply
    assert str(ack_batch.header[12]) == "B-77" and str(ack_batch.header[3]) == "RADLITE"
    assert str(ack_batch.header[5]) == "SYN_RIS" and str(ack_batch.trailer[1]) == "4"
    assert not str(ack_batch.header[10])  # no comment: nothing wrong with the batch
    assert [_msa(a) for a in ack_batch] == [("AA", "SYND0001001"), ("CA", "SYND0002004"), ("CA", "SYND0003009"),
                                            ("AR", "SYNDBAD04")]
    assert _err(ack_batch[3]) == ("200", "MSH^1^9")


def test_count_mismatch_is_an_error_on_the_batch_and_no_message_is_dropped(dev: Path) -> None:
    msgs = [(dev / "hl7" / n).read_bytes() for n in GOOD[:2]]
    batch = split_batch(_batch(*msgs, bts="3", fts="2"))
    assert len(batch.messages) == 2
    assert [(e.ack_code, e.err_code, e.location) for e in batch.all_errors] == [
        ("AE", "100", "FTS^1^1"), ("AE", "100", "BTS^1^1")]
    reply = _ack_file(build_batch_ack(batch, [build_ack(parse_oru(m).header) for m in batch.messages]))
    [b] = reply
    assert "BTS-1 says 3 messages, 2 received" in str(b.header[10]) and "AE 100" in str(b.trailer[2])
    assert "FTS-1 says 2 batches, 1 received" in str(reply.header[10]) and "AE" in str(reply.trailer[2])
    assert [_msa(a)[1] for a in b] == ["SYND0001001", "SYND0002004"]
    not_a_count = split_batch(_batch(*msgs, bts="two"))
    assert [(e.err_code, e.location) for e in not_a_count.all_errors] == [("102", "BTS^1^1")]


def test_several_batches_in_one_file_and_trailers_left_out(dev: Path) -> None:
    one, two = ((dev / "hl7" / n).read_bytes() for n in GOOD[:2])
    raw = (b"FHS|^~\\&|RIS|H|RADLITE|H|2025||||F9\r"
           b"BHS|^~\\&|RIS|H|RADLITE|H|2025||||B1\r" + one + b"BTS|1\r"
           b"BHS|^~\\&|RIS|H|RADLITE|H|2025||||B2\r" + two)  # no BTS, no FTS: both optional
    batch = split_batch(raw)
    assert [len(p.messages) for p in batch.parts] == [1, 1] and batch.all_errors == []
    acks = [build_ack(parse_oru(m).header) for m in batch.messages]
    reply = _ack_file(build_batch_ack(batch, acks))
    assert len(reply) == 2 and str(reply.trailer[1]) == "2"
    assert [str(b.header[12]) for b in reply] == ["B1", "B2"]


def test_segments_outside_any_message_are_kept_as_a_message_of_their_own(dev: Path) -> None:
    one = (dev / "hl7" / "oru-01.hl7").read_bytes()
    raw = _batch(b"PID|1||LOST-1^^^H^MR\r", one, bts="1")
    batch = split_batch(raw)
    assert len(batch.messages) == 2 and batch.messages[0].startswith(b"PID")
    assert batch.all_errors == []  # BTS-1 counts messages; the stray segment is answered on its own
    with pytest.raises(Hl7Error) as info:
        parse_oru(batch.messages[0])
    assert (info.value.err_code, info.value.location) == ("100", "PID^1")


def test_batch_with_lf_line_ends_splits_like_cr(dev: Path) -> None:
    one, two = ((dev / "hl7" / n).read_bytes() for n in GOOD[:2])
    cr = split_batch(_batch(one, two))
    lf = split_batch(_batch(one, two).replace(b"\r", b"\n"))
    assert lf.messages == cr.messages and lf.all_errors == []


# ---- Part 1: batches at the doors --------------------------------------------------------------


def test_batch_over_mllp_every_message_stored_and_answered(app_mllp: Any, dev: Path) -> None:
    app, _ = app_mllp
    good = [(dev / "hl7" / n).read_bytes() for n in GOOD]
    truncated = (dev / "hl7" / "bad" / "03-truncated.hl7").read_bytes()
    adt = (dev / "hl7" / "bad" / "04-adt-a01.hl7").read_bytes()
    lf = (dev / "hl7" / "tolerated" / "02-lf-terminators.hl7").read_bytes().replace(b"\n", b"\r")
    sent = [*good[:4], truncated, adt, lf, *good[4:]]
    reply = _ack_file(_send(app, _batch(*sent)))
    acks = _acks(reply)
    assert str(reply[0].trailer[1]) == str(len(sent)) == str(len(acks))
    assert [_msa(a)[1] for a in acks] == [_msh10(m) for m in sent]
    codes = [_msa(a)[0] for a in acks]
    assert codes[4:6] == ["AE", "AR"] and all(c in ("AA", "CA") for i, c in enumerate(codes) if i not in (4, 5))
    assert [_err(a) for a in acks[4:6]] == [("101", "OBX^6^11"), ("200", "MSH^1^9")]
    rows = _rows(app)
    assert [r.raw.rstrip(b"\r") for r in rows] == [normalise(m) for m in sent]
    assert [r.status for r in rows] == ["rejected" if i in (4, 5) else "queued" for i in range(len(sent))]
    assert [r.control_id for r in rows] == [_msh10(m) for m in sent]
    with app.state.sessions() as s:
        events = s.scalars(select(AuditEvent.event_type)).all()
    # one received event per good message, and one for the batch file kept whole (its envelope was right)
    assert events.count("message.received") == len(sent) - 2 + 1 and events.count("message.rejected") == 2


def test_batch_over_http_with_a_count_mismatch_is_400_and_keeps_every_message(app_mllp: Any, dev: Path) -> None:
    app, client = app_mllp
    msgs = [(dev / "hl7" / n).read_bytes() for n in GOOD[:3]]
    ok = client.post("/hl7/v2", content=_batch(*msgs, fhs=False), headers={"Content-Type": "text/plain"})
    assert ok.status_code == 200
    reply = _ack_file(ok.content)
    assert reply.header is None  # no FHS in, none out
    assert [_msa(a) for a in _acks(reply)] == [("AA", "SYND0001001"), ("CA", "SYND0002004"), ("CA", "SYND0003009")]
    more = [(dev / "hl7" / n).read_bytes() for n in GOOD[3:5]]
    short = client.post("/hl7/v2", content=_batch(*more, bts="5", batch_id="B-2"),
                        headers={"Content-Type": "x-application/hl7-v2+er7"})
    assert short.status_code == 400  # the sender must hear that 3 messages of its batch are missing
    reply = _ack_file(short.content)
    assert "BTS-1 says 5 messages, 2 received" in str(reply[0].header[10])
    assert [_msa(a)[0] for a in _acks(reply)] == ["AA", "AA"]
    assert [r.status for r in _rows(app)] == ["queued"] * 5  # the two that came are queued all the same
    # Each batch file is kept whole too, before it is split: the envelope and its wrong count stay reviewable.
    whole = _batch_rows(app)
    assert [r.raw for r in whole] == [_batch(*msgs, fhs=False), _batch(*more, bts="5", batch_id="B-2")]
    assert whole[0].error is None and whole[1].error_code == "100" and "BTS-1 says 5" in (whole[1].error or "")
    with app.state.sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.event_type == "message.rejected")).all()
    batch_events = [e for e in events if e.detail.get("batch")]
    assert [e.detail["inbound_id"] for e in batch_events] == [whole[1].id]
    assert batch_events[0].detail["messages"] == [r.id for r in _rows(app)[3:]]
    assert batch_events[0].input_hash == whole[1].sha256


def test_batch_retry_is_answered_again_and_not_queued_twice(app_mllp: Any, dev: Path) -> None:
    app, client = app_mllp
    one = (dev / "hl7" / "oru-01.hl7").read_bytes()
    raw = _batch(one, one)  # the same message twice (a duplicate control id inside one batch)
    first = client.post("/hl7/v2", content=raw, headers={"Content-Type": "text/plain"})
    assert first.status_code == 200
    assert [_msa(a) for a in _acks(_ack_file(first.content))] == [("AA", "SYND0001001")] * 2
    assert [r.status for r in _rows(app)] == ["queued", "duplicate"]


def test_enhanced_mode_ne_messages_get_an_errors_only_ack_batch(app_mllp: Any, dev: Path) -> None:
    """MSH-15 NE asks for no accept ACK: the ACK batch carries only what was asked for (the
    standard's 'errors only' batch acknowledgment); an empty ACK batch means all accepted."""
    app, _ = app_mllp
    ne = (dev / "hl7" / "oru-02.hl7").read_bytes().replace(b"|AL|NE", b"|NE|NE")
    er_bad = (dev / "hl7" / "bad" / "04-adt-a01.hl7").read_bytes().split(b"\r")
    msh = er_bad[0].split(b"|") + [b""] * 10
    msh[14], msh[15] = b"ER", b"NE"
    er_bad[0] = b"|".join(msh[:16])
    reply = _ack_file(_send(app, _batch(ne, b"\r".join(er_bad))))
    acks = _acks(reply)
    assert str(reply[0].trailer[1]) == "1" and [_msa(a) for a in acks] == [("CR", "SYNDBAD04")]
    quiet = _ack_file(_send(app, _batch(ne.replace(b"SYND0002004", b"SYND0002004-B"))))
    assert _acks(quiet) == [] and str(quiet[0].trailer[1]) == "0"
    assert [r.control_id for r in _rows(app)] == ["SYND0002004", "SYNDBAD04", "SYND0002004-B"]


def test_empty_batch_and_a_batch_with_unusable_delimiters(app_mllp: Any) -> None:
    app, client = app_mllp
    empty = client.post("/hl7/v2", content=_batch(fhs=False), headers={"Content-Type": "text/plain"})
    assert empty.status_code == 200 and str(_ack_file(empty.content)[0].trailer[1]) == "0"
    broken = b"BHS|^^\\&|RIS|H\rMSH|^~\\&|RIS|H|RADLITE|H|2025||ORU^R01|X1|P|2.5.1\rBTS|1\r"
    res = client.post("/hl7/v2", content=broken, headers={"Content-Type": "text/plain"})
    assert res.status_code == 400
    ack = hl7.parse(_text(res.content))
    assert _msa(ack) == ("AE", "") and _err(ack) == ("100", "BHS^1")
    assert [(r.raw, r.status) for r in _rows(app)] == [(broken, "rejected")]  # kept whole for review


def test_a_batch_cut_off_mid_message_keeps_the_messages_that_arrived(app_mllp: Any, dev: Path) -> None:
    app, _ = app_mllp
    one, two = ((dev / "hl7" / n).read_bytes() for n in GOOD[:2])
    whole = _batch(one, two)
    with socket.create_connection(("127.0.0.1", app.state.mllp.port), timeout=10) as sock:
        sock.sendall(b"\x0b" + whole[: whole.index(two) + 200])  # the second message cut, then gone
    deadline = time.monotonic() + 10  # waits for the listener to see the hang-up; asserts no duration
    rows = _rows(app)
    while time.monotonic() < deadline and not (len(rows) == 2 and rows[1].status != "received"):
        time.sleep(0.05)
        rows = _rows(app)
    assert [r.status for r in rows] == ["queued", "rejected"]
    assert rows[0].raw.rstrip(b"\r") == normalise(one)


# ---- Part 2: ORU^R01 as real engines send it ---------------------------------------------------


def er7(*segments: str, end: str = "\r", charset: str = "utf-8") -> bytes:
    return (end.join(segments) + end).encode(charset)


def obr(set_id: str, placer: str, filler: str, service: str, when: str, section: str, status: str,
        sep: str = "|") -> str:
    """An OBR with OBR-2/3/4/7/24/25 set (the rest empty), so field positions are never miscounted."""
    fields = ["OBR", set_id, placer, filler, service] + [""] * 21
    fields[7], fields[24], fields[25] = when, section, status
    return sep.join(fields)


@dataclass(frozen=True)
class Want:
    """One report the message must give: accession, status, and text (None: must be empty)."""

    accession: str | None
    status: str
    findings: str | None = None
    impression: str | None = None
    addendum: str | None = None
    patient_id: str | None = "skip"
    modality: str | None = "skip"


@dataclass(frozen=True)
class Case:
    name: str
    raw: bytes
    msa1: str
    msa2: str
    err: tuple[str, str] | None = None  # (table 0357 code, ERR location)
    reports: tuple[Want, ...] = ()


_LN_F = "18782-3^Radiology Study observation (narrative)^LN"
_LN_I = "19005-8^Radiology Imaging study [Impression] (narrative)^LN"
_LN_A = "55107-7^Addendum^LN"

CASES: list[Case] = [
    # -- Epic (Radiant) v2.5.1: LOINC sections, one OBX per line, PID-3 with several identifiers --
    Case("epic-ct-chest-final", er7(
        "MSH|^~\\&|EPIC|NORTHVALE|RADLITE|CDS|20250310081502-0500||ORU^R01^ORU_R01|EPC2503100001|P|2.5.1|||||USA",
        "PID|1||E4410021^^^EPI^MR~999-12-3456^^^SSA^SS~Z883311^^^NVH^PI||HALVORSEN^INGRID^M^^^^L||19590302|F",
        "PV1|1|O|RAD^CT1^01^NVH||||1234567890^GOMEZ^LUIS^^^^^^NPI",
        "ORC|RE|ORD55100^EPIC|ACC2503100441^EPIC||CM",
        "OBR|1|ORD55100^EPIC|ACC2503100441^EPIC|IMG5521^CT CHEST WITH CONTRAST^EAP|||20250310071200|||||||||"
        "1234567890^GOMEZ^LUIS||||||20250310081455||CT|F",
        f"OBX|1|TX|{_LN_F}|1|Lungs: 6 mm ground-glass nodule in the left upper lobe (image 54).||||||F",
        f"OBX|2|TX|{_LN_F}|1|No pleural effusion. Heart size normal.||||||F",
        f"OBX|3|TX|{_LN_I}|2|Indeterminate 6 mm LUL ground-glass nodule; follow-up CT in 6 months.||||||F"),
        "AA", "EPC2503100001", None,
        (Want("ACC2503100441", "final",
              "Lungs: 6 mm ground-glass nodule in the left upper lobe (image 54).\nNo pleural effusion. Heart size normal.",
              "Indeterminate 6 mm LUL ground-glass nodule; follow-up CT in 6 months.", None, "E4410021", "CT"),)),
    # -- the same exam preliminary, final, corrected (OBR-25 P/F/C; OBX-11 follows) --
    Case("prelim-P", er7(
        "MSH|^~\\&|EPIC|NORTHVALE|RADLITE|CDS|20250311090000||ORU^R01^ORU_R01|EPC-P-1|P|2.5.1",
        "PID|1||E5500012^^^EPI^MR",
        "OBR|1||ACC-PFC-77|74177^CT ABD PELVIS W CONTRAST^CPT4|||20250311083000|||||||||||||||20250311085900||CT|P",
        f"OBX|1|TX|{_LN_F}|1|Appendix dilated to 11 mm with periappendiceal stranding.||||||P",
        f"OBX|2|TX|{_LN_I}|2|Acute appendicitis. Preliminary read.||||||P"),
        "AA", "EPC-P-1", None,
        (Want("ACC-PFC-77", "preliminary", "Appendix dilated to 11 mm with periappendiceal stranding.",
              "Acute appendicitis. Preliminary read."),)),
    Case("final-F", er7(
        "MSH|^~\\&|EPIC|NORTHVALE|RADLITE|CDS|20250311113000||ORU^R01^ORU_R01|EPC-F-1|P|2.5.1",
        "PID|1||E5500012^^^EPI^MR",
        "OBR|1||ACC-PFC-77|74177^CT ABD PELVIS W CONTRAST^CPT4|||20250311083000|||||||||||||||20250311112900||CT|F",
        f"OBX|1|TX|{_LN_F}|1|Appendix dilated to 11 mm with periappendiceal stranding. No abscess.||||||F",
        f"OBX|2|TX|{_LN_I}|2|Acute uncomplicated appendicitis.||||||F"),
        "AA", "EPC-F-1", None,
        (Want("ACC-PFC-77", "final", "Appendix dilated to 11 mm with periappendiceal stranding. No abscess.",
              "Acute uncomplicated appendicitis."),)),
    Case("corrected-C", er7(
        "MSH|^~\\&|EPIC|NORTHVALE|RADLITE|CDS|20250312074500||ORU^R01^ORU_R01|EPC-C-1|P|2.5.1",
        "PID|1||E5500012^^^EPI^MR",
        "OBR|1||ACC-PFC-77|74177^CT ABD PELVIS W CONTRAST^CPT4|||20250311083000|||||||||||||||20250312074400||CT|C",
        f"OBX|1|TX|{_LN_F}|1|Appendix dilated to 11 mm. Small periappendiceal fluid collection, 1.5 cm.||||||C",
        f"OBX|2|TX|{_LN_I}|2|Acute appendicitis with a small periappendiceal abscess (corrected).||||||C"),
        "AA", "EPC-C-1", None,
        (Want("ACC-PFC-77", "corrected", "Appendix dilated to 11 mm. Small periappendiceal fluid collection, 1.5 cm.",
              "Acute appendicitis with a small periappendiceal abscess (corrected)."),)),
    # -- Cerner v2.3: MSH-9 without structure, OBX-3 suffixes, accession in ORC-3 only --
    Case("cerner-v23-suffix-orc-accession", er7(
        "MSH|^~\\&|CERNER|MERCYWEST|RADLITE|CDS|199911021530||ORU^R01|CRN-000881|P|2.3",
        "PID|1|CRN55102|CRN55102^^^MERCY^MR||WASHINGTON^DEL",
        "ORC|RE|PLC-881|RAD-2025-00881",
        "OBR|1|PLC-881||73721^MRI KNEE WO CONTRAST^CPT4|||202503041010|||||||||||||||202503041525||MR|F",
        "OBX|1|TX|73721&GDT^Knee MRI^L|1|Complex tear of the posterior horn of the medial meniscus.||||||F",
        "OBX|2|TX|73721&GDT^Knee MRI^L|1|Intact cruciate ligaments.||||||F",
        "OBX|3|TX|73721&IMP^Impression^L|2|Medial meniscal tear.||||||F"),
        "AA", "CRN-000881", None,
        (Want("RAD-2025-00881", "final",
              "Complex tear of the posterior horn of the medial meniscus.\nIntact cruciate ligaments.",
              "Medial meniscal tear.", None, "CRN55102", "MR"),)),
    # -- Cerner v2.3.1: whole report in one OBX, lines as OBX-5 repetitions, headings in the text --
    Case("cerner-v231-repetitions", er7(
        "MSH|^~\\&|CERNER|MERCYWEST|RADLITE|CDS|20250305101010||ORU^R01^ORU_R01|CRN-000902|P|2.3.1",
        "PID|1||CRN66001^^^MERCY^MR",
        obr('1', '', 'RAD-2025-00902', '71046^XR CHEST 2 VIEWS^CPT4', '20250305094500', 'RAD', 'F'),
        "OBX|1|TX|&GDT^Report^L|1|EXAM: XR chest 2 views.~FINDINGS:~Heart size is normal.~Lungs are clear."
        "~~IMPRESSION:~No acute cardiopulmonary disease.||||||F"),
        "AA", "CRN-000902", None,
        (Want("RAD-2025-00902", "final", "Heart size is normal.\nLungs are clear.",
              "No acute cardiopulmonary disease.", None, "CRN66001", "DX"),)),
    # -- Meditech v2.4: FT with formatting commands, Latin-1 (MSH-18 8859/1), NTE after the OBX --
    Case("meditech-v24-ft-latin1", er7(
        "MSH|^~\\&|MEDITECH|STBRIDE|RADLITE|CDS|20250306140000||ORU^R01|MT20250306-07|P|2.4||||||8859/1",
        "PID|1||M000731^^^STB^MR||C\u00d4T\u00c9^REN\u00c9E",
        "ORC|RE||MT-US-4410",
        obr('1', '', 'MT-US-4410', '76700^US ABDOMEN COMPLETE^CPT4', '20250306120000', 'US', 'F'),
        "OBX|1|FT|76700&GDT^Report^L|1|FINDINGS:\\.br\\Foie de taille normale, l\u00e9sion kystique 8 mm."
        "\\.br\\V\u00e9sicule sans calcul.\\.sp 2\\IMPRESSION:\\.br\\Kyste h\u00e9patique simple.||||||F",
        "NTE|1|L|Dict\u00e9 par Dr. Lef\u00e8vre.", charset="latin-1"),
        "AA", "MT20250306-07", None,
        (Want("MT-US-4410", "final", "Foie de taille normale, l\u00e9sion kystique 8 mm.\nV\u00e9sicule sans calcul.",
              "Kyste h\u00e9patique simple.", None, "M000731", "US"),)),
    # -- Rhapsody v2.5.1 UTF-8 (MSH-18 UNICODE UTF-8), escapes of every delimiter in TX --
    Case("rhapsody-utf8-escapes", er7(
        "MSH|^~\\&|RHAPSODY|NORDKLINIK|RADLITE|CDS|20250307101500+0100||ORU^R01^ORU_R01|RHP-7781|P|2.5.1"
        "|||||DEU|UNICODE UTF-8",
        "PID|1||N-8821^^^NK^MR||S\u00d8RENSEN^J\u00dcRGEN",
        obr('1', '', 'NK-CT-2231', 'CTHEAD^CT Sch\\u00e4del nativ^L', '20250307094000', 'CT', 'F'),
        f"OBX|1|TX|{_LN_F}|1|Pipe \\F\\ caret \\S\\ amp \\T\\ tilde \\R\\ backslash \\E\\ end; Gro\u00dfhirn normal.||||||F",
        f"OBX|2|TX|{_LN_I}|2|Kein Nachweis einer Blutung.||||||F"),
        "AA", "RHP-7781", None,
        (Want("NK-CT-2231", "final", "Pipe | caret ^ amp & tilde ~ backslash \\ end; Gro\u00dfhirn normal.",
              "Kein Nachweis einer Blutung."),)),
    # -- Mirth v2.7: truncation character in MSH-2, CWE coded impression, enhanced mode AL/NE --
    Case("mirth-v27-cwe-enhanced", er7(
        "MSH|^~\\&#|MIRTH|BAYSIDE|RADLITE|CDS|20250308120000||ORU^R01^ORU_R01|MIRTH-5523|P|2.7|||AL|NE",
        "PID|1||B-7723^^^BAY^MR",
        obr('1', '', 'BAY-MG-1190', '77067^MAMMO SCREENING BILAT^CPT4', '20250308101000', 'MG', 'F'),
        f"OBX|1|TX|{_LN_F}|1|Scattered fibroglandular densities. No suspicious mass or calcification.||||||F",
        "OBX|2|CWE|36625-2^BI-RADS assessment^LN|2|LA10573-0^BI-RADS 1 Negative^LN||||||F"),
        "CA", "MIRTH-5523", None,
        # OBX-3 names an assessment: its coded value is the impression when no narrative one is sent.
        (Want("BAY-MG-1190", "final", "Scattered fibroglandular densities. No suspicious mass or calcification.",
              "BI-RADS 1 Negative", modality="MG"),)),
    # -- addenda: vendor &ADT suffix, and LOINC 55107-7 --
    Case("addendum-adt-suffix", er7(
        "MSH|^~\\&|RIS|MERCY|RADLITE|CDS|20250309170000||ORU^R01^ORU_R01|ADD-001|P|2.3.1",
        "PID|1||M0099^^^MERCY^MR",
        obr('1', '', 'MR2503090011', '70553^MRI BRAIN W WO^CPT4', '20250309120000', 'MR', 'C'),
        "OBX|1|TX|70553&GDT^Findings^L|1|No acute infarct. Chronic small vessel changes.||||||C",
        "OBX|2|TX|70553&IMP^Impression^L|2|No acute intracranial abnormality.||||||C",
        "OBX|3|TX|70553&ADT^Addendum^L|3|ADDENDUM: Prior MRI 2023-01-05 reviewed; no interval change.||||||C"),
        "AA", "ADD-001", None,
        (Want("MR2503090011", "corrected", "No acute infarct. Chronic small vessel changes.",
              "No acute intracranial abnormality.", "ADDENDUM: Prior MRI 2023-01-05 reviewed; no interval change."),)),
    Case("addendum-loinc", er7(
        "MSH|^~\\&|EPIC|NORTHVALE|RADLITE|CDS|20250309180000||ORU^R01^ORU_R01|ADD-002|P|2.5.1",
        "PID|1||E7001^^^EPI^MR",
        obr('1', '', 'ACC-ADD-2', '71275^CTA CHEST^CPT4', '20250309160000', 'CT', 'F'),
        f"OBX|1|TX|{_LN_F}|1|No pulmonary embolism.||||||F",
        f"OBX|2|TX|{_LN_I}|2|Negative for PE.||||||F",
        f"OBX|3|TX|{_LN_A}|3|Addendum: results called to Dr. Ruiz at 17:55.||||||F"),
        "AA", "ADD-002", None,
        (Want("ACC-ADD-2", "final", "No pulmonary embolism.", "Negative for PE.",
              "Addendum: results called to Dr. Ruiz at 17:55."),)),
    # -- two exams in one message (one OBR group each) --
    Case("two-obr-groups", er7(
        "MSH|^~\\&|RIS|CITYGEN|RADLITE|CDS|20250310140000||ORU^R01^ORU_R01|MULTI-0042|P|2.5.1",
        "PID|1||CG-4410^^^CG^MR",
        "ORC|RE||CG-CT-0001",
        obr('1', '', 'CG-CT-0001', '74176^CT ABDOMEN WO^CPT4', '20250310120000', 'CT', 'F'),
        f"OBX|1|TX|{_LN_F}|1|Liver normal.||||||F",
        f"OBX|2|TX|{_LN_I}|2|Normal CT abdomen.||||||F",
        "ORC|RE||CG-XR-0002",
        obr('2', '', 'CG-XR-0002', '71045^XR CHEST 1 VIEW^CPT4', '20250310121500', 'RAD', 'P'),
        f"OBX|3|TX|{_LN_F}|1|Lines and tubes in expected position.||||||P",
        f"OBX|4|TX|{_LN_I}|2|No pneumothorax.||||||P"),
        "AA", "MULTI-0042", None,
        (Want("CG-CT-0001", "final", "Liver normal.", "Normal CT abdomen.", modality="CT"),
         Want("CG-XR-0002", "preliminary", "Lines and tubes in expected position.", "No pneumothorax.", modality="CR"))),
    # -- non-default delimiters (MSH-1 '!', MSH-2 '@*$%'), escapes written with them --
    Case("non-default-delimiters", er7(
        "MSH!@*$%!RIS!H!RADLITE!H!20250311!!ORU@R01@ORU_R01!DLM-001!P!2.5.1",
        "PID!1!!D-001@@@H@MR",
        obr('1', '', 'DLM-ACC-1', '71046@XR CHEST@CPT4', '20250311', 'RAD', 'F', sep='!'),
        "OBX!1!TX!18782-3@Findings@LN!1!Mild cardiomegaly $F$ stable; pleural line $S$ sharp.!!!!!!F",
        "OBX!2!TX!19005-8@Impression@LN!2!Stable.*No new opacity.!!!!!!F"),
        "AA", "DLM-001", None,
        (Want("DLM-ACC-1", "final", "Mild cardiomegaly ! stable; pleural line @ sharp.", "Stable.\nNo new opacity.",
              None, "D-001"),)),
    # -- PID with unusual but valid encodings: MR in the 3rd repetition, escaped name, alias names --
    Case("pid-unusual", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250312||ORU^R01^ORU_R01|PID-001|P|2.5.1",
        "PID|1|OLD-77|X-1^^^EXT^PI~Y-2^^^STATE^DL~H-9912^^^H^MR||O\\T\\BRIEN^SEAN^^^^^L~SEANIE^^^^^^A||19800101|M",
        obr('1', '', 'PID-ACC-1', '72148^MRI LUMBAR SPINE^CPT4', '20250312', 'MR', 'F'),
        f"OBX|1|TX|{_LN_F}|1|L4-5 disc bulge without stenosis.||||||F"),
        "AA", "PID-001", None,
        (Want("PID-ACC-1", "final", "L4-5 disc bulge without stenosis.", None, None, "H-9912", "MR"),)),
    # -- only the required segments: no PID, PV1, ORC; placer number only (OBR-2) --
    Case("minimal-placer-only", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250313||ORU^R01|MIN-001|P|2.4",
        "OBR|1|PLACER-991||76856^US PELVIS^CPT4",
        "OBX|1|ST|&GDT^Report^L||Uterus and ovaries normal.||||||F"),
        "AA", "MIN-001", None,
        (Want("PLACER-991", "final", "Uterus and ovaries normal.", None, None, None, "US"),)),
    # -- CRLF line ends inside an MLLP frame (a hand-built file sent as is) --
    Case("crlf-framed", b"\x0b" + er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250314||ORU^R01^ORU_R01|CRLF-001|P|2.5.1",
        "PID|1||C-1^^^H^MR",
        obr('1', '', 'CRLF-ACC', '70450^CT HEAD WO^CPT4', '20250314', 'CT', 'F'),
        f"OBX|1|TX|{_LN_F}|1|No hemorrhage.||||||F",
        f"OBX|2|TX|{_LN_I}|2|Normal noncontrast head CT.||||||F", end="\r\n") + b"\x1c\r",
        "AA", "CRLF-001", None,
        (Want("CRLF-ACC", "final", "No hemorrhage.", "Normal noncontrast head CT."),)),
    # -- a retracted line (OBX-11 W) beside valid ones is left out; the rest stays final --
    Case("one-line-retracted", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250315||ORU^R01^ORU_R01|RET-001|P|2.5.1",
        "PID|1||R-1^^^H^MR",
        obr('1', '', 'RET-ACC', '71046^XR CHEST 2 VIEWS^CPT4', '20250315', 'RAD', ''),
        f"OBX|1|TX|{_LN_F}|1|Right lower lobe opacity.||||||W",
        f"OBX|2|TX|{_LN_F}|1|Lungs clear.||||||F",
        f"OBX|3|TX|{_LN_I}|2|No acute disease.||||||F"),
        "AA", "RET-001", None,
        (Want("RET-ACC", "final", "Lungs clear.", "No acute disease."),)),
    # -- cancelled exam: OBR-25 X and no text; kept, nothing to analyse --
    Case("cancelled-X", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250316||ORU^R01^ORU_R01|CAN-001|P|2.5.1",
        "PID|1||X-1^^^H^MR",
        obr('1', '', 'CAN-ACC', '74150^CT ABDOMEN WO^CPT4', '20250316', 'CT', 'X')),
        "AA", "CAN-001", None, (Want("CAN-ACC", "cancelled", None, None),)),
    # -- FT with a hex escape (a line feed as \X0A\) and highlighting --
    Case("ft-hex-highlight", er7(
        "MSH|^~\\&|PACS|H|RADLITE|H|20250317||ORU^R01^ORU_R01|HEX-001|T|2.5.1",
        "PID|1||H-1^^^H^MR",
        obr('1', '', 'HEX-ACC', '73030^XR SHOULDER^CPT4', '20250317', 'RAD', 'F'),
        "OBX|1|FT|&GDT^Report^L|1|FINDINGS: Nondisplaced \\H\\greater tuberosity\\N\\ fracture.\\X0A\\"
        "IMPRESSION: Fracture.||||||F"),
        "AA", "HEX-001", None, (Want("HEX-ACC", "final", "Nondisplaced greater tuberosity fracture.", "Fracture."),)),
    # -- v2.3 ST lines from an old RIS, OBX-3 text only --
    Case("v23-st-lines", er7(
        "MSH|^~\\&|IDXRAD|VALLEY|RADLITE|CDS|20250318||ORU^R01|IDX-7781|P|2.3",
        "PID|||V-331^^^VAL^MR",
        obr('1', '', 'IDX-ACC-31', '73610^XR ANKLE 3 VIEWS^CPT4', '20250318', 'RAD', 'F'),
        "OBX|1|ST|^FINDINGS||No fracture or dislocation.||||||F",
        "OBX|2|ST|^IMPRESSION||Negative ankle series.||||||F"),
        "AA", "IDX-7781", None, (Want("IDX-ACC-31", "final", "No fracture or dislocation.", "Negative ankle series."),)),
    # ---- broken messages ----
    Case("msh9-empty", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319|||BAD-901|P|2.5.1", "PID|1||B-1^^^H^MR",
        "OBR|1||B-ACC|71046^XR CHEST^CPT4", f"OBX|1|TX|{_LN_F}|1|Clear.||||||F"),
        "AE", "BAD-901", ("101", "MSH^1^9")),
    Case("msh9-swapped", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||R01^ORU|BAD-902|P|2.5.1", "PID|1||B-1^^^H^MR",
        "OBR|1||B-ACC|71046^XR CHEST^CPT4", f"OBX|1|TX|{_LN_F}|1|Clear.||||||F"),
        "AR", "BAD-902", ("200", "MSH^1^9")),
    Case("oru-r30", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R30^ORU_R30|BAD-903|P|2.5.1", "PID|1||B-1^^^H^MR",
        "OBR|1||B-ACC|71046^XR CHEST^CPT4", f"OBX|1|TX|{_LN_F}|1|Clear.||||||F"),
        "AR", "BAD-903", ("201", "MSH^1^9^1^2")),
    Case("adt-a01", er7(
        "MSH|^~\\&|ADT|H|RADLITE|H|20250319||ADT^A01^ADT_A01|BAD-904|P|2.5.1", "EVN|A01|20250319",
        "PID|1||B-2^^^H^MR||DOE^JANE", "PV1|1|I|4W^401^A"),
        "AR", "BAD-904", ("200", "MSH^1^9")),
    Case("orm-v23", er7(
        "MSH|^~\\&|EHR|H|RADLITE|H|20250319||ORM^O01|BAD-905|P|2.3", "PID|1||B-3^^^H^MR",
        "ORC|NW|ORD-1", "OBR|1|ORD-1||71046^XR CHEST^CPT4"),
        "AR", "BAD-905", ("200", "MSH^1^9")),
    Case("version-2.2", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01|BAD-906|P|2.2", "PID|1||B-4^^^H^MR",
        "OBR|1||B-ACC|71046^XR CHEST^CPT4", "OBX|1|TX|&GDT^Report^L||Clear.||||||F"),
        "AR", "BAD-906", ("203", "MSH^1^12")),
    Case("version-3", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-907|P|3.0", "PID|1||B-4^^^H^MR",
        "OBR|1||B-ACC|71046^XR CHEST^CPT4", "OBX|1|TX|&GDT^Report^L||Clear.||||||F"),
        "AR", "BAD-907", ("203", "MSH^1^12")),
    Case("missing-obr-with-obx", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-908|P|2.5.1", "PID|1||B-5^^^H^MR",
        f"OBX|1|TX|{_LN_F}|1|Clear.||||||F"),
        "AE", "BAD-908", ("100", "OBX^1")),
    Case("missing-obr-no-obx", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-909|P|2.5.1", "PID|1||B-5^^^H^MR",
        "PV1|1|O"),
        "AE", "BAD-909", ("100", "OBR^1")),
    Case("wrong-field-separator-in-body", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-910|P|2.5.1", "PID!1!!B-6^^^H^MR",
        "OBR!1!!B-ACC!71046^XR CHEST^CPT4", "OBX!1!TX!&GDT^Report^L!!Clear.!!!!!!F"),
        "AE", "BAD-910", ("100", "")),
    Case("msh1-equals-component", er7(
        "MSH^^~\\&^RIS^H^RADLITE^H^20250319^^ORU^R01^BAD-911^P^2.5.1", "PID^1^^B-7"),
        "AE", "", ("102", "MSH^1^2")),
    Case("truncated-in-obx5", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-912|P|2.5.1", "PID|1||B-8^^^H^MR",
        obr('1', '', 'B-ACC-12', '71046^XR CHEST^CPT4', '20250319', 'RAD', 'F'),
        f"OBX|1|TX|{_LN_F}|1|Lungs clear.||||||F", f"OBX|2|TX|{_LN_I}|2|No acute")[:-1],
        "AE", "BAD-912", ("101", "OBX^2^11")),
    Case("truncated-in-msh", b"MSH|^~\\&|RIS|HOSP|RAD", "AE", "", ("101", "MSH^1^9")),
    Case("obx11-not-in-0085", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-913|P|2.5.1", "PID|1||B-9^^^H^MR",
        obr('1', '', 'B-ACC-13', '71046^XR CHEST^CPT4', '20250319', 'RAD', 'F'),
        f"OBX|1|TX|{_LN_F}|1|Clear.||||||Z"),
        "AE", "BAD-913", ("103", "OBX^1^11")),
    Case("obr25-not-in-0123", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-914|P|2.4", "PID|1||B-9^^^H^MR",
        obr('1', '', 'B-ACC-14', '71046^XR CHEST^CPT4', '20250319', 'RAD', 'FINAL'),
        f"OBX|1|TX|{_LN_F}|1|Clear.||||||F"),
        "AE", "BAD-914", ("103", "OBR^1^25")),
    Case("processing-id-unknown", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-915|Q|2.5.1", "PID|1||B-9^^^H^MR",
        "OBR|1||B-ACC-15|71046^XR CHEST^CPT4", f"OBX|1|TX|{_LN_F}|1|Clear.||||||F"),
        "AR", "BAD-915", ("202", "MSH^1^11")),
    Case("msh10-missing-v27", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01||P|2.7", "PID|1||B-9^^^H^MR",
        "OBR|1||B-ACC-16|71046^XR CHEST^CPT4", f"OBX|1|TX|{_LN_F}|1|Clear.||||||F"),
        "AE", "", ("101", "MSH^1^10")),
    Case("msh15-not-in-0155-enhanced", er7(
        "MSH|^~\\&|RIS|H|RADLITE|H|20250319||ORU^R01^ORU_R01|BAD-917|P|2.5.1|||ALWAYS|NE",
        "PID|1||B-9^^^H^MR", "OBR|1||B-ACC-17|71046^XR CHEST^CPT4", f"OBX|1|TX|{_LN_F}|1|Clear.||||||F"),
        "CE", "BAD-917", ("103", "MSH^1^15")),
]


def _ack_for(raw: bytes) -> tuple[str, Any]:
    """The ACK the pipeline builds for a message, and the parse (OruMessage or Hl7Error)."""
    try:
        msg = parse_oru(raw)
    except Hl7Error as err:
        return build_ack(err.header or peek_header(raw), error=err), err
    return build_ack(msg.header), msg


def _check_ack(case: Case, ack: hl7.Message) -> None:
    assert _msa(ack) == (case.msa1, case.msa2), case.name
    assert _err(ack) == case.err, case.name
    if case.err is None:
        return
    version = str(ack.segment("MSH")[12])
    if version >= "2.7":
        assert len(ack.segment("MSA")) <= 3, case.name  # MSA-3 is withdrawn from v2.7


def test_there_are_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_unseen_oru_ack_and_extraction(case: Case) -> None:
    ack_text, parsed = _ack_for(case.raw)
    header = peek_header(case.raw)
    codec = header.codec if header else "utf-8"
    ack = hl7.parse(ack_text.encode(codec).decode(codec))
    _check_ack(case, ack)
    if case.err is not None:
        assert isinstance(parsed, Hl7Error) and parsed.location == case.err[1]
        return
    reports = parsed.reports
    assert len(reports) == len(case.reports), case.name
    for got, want in zip(reports, case.reports, strict=True):
        assert (got.accession, got.status) == (want.accession, want.status), case.name
        assert (got.findings, got.impression, got.addendum) == (want.findings, want.impression, want.addendum), case.name
        if want.patient_id != "skip":
            assert got.patient_id == want.patient_id, case.name
        if want.modality != "skip":
            assert got.modality == want.modality, case.name
        assert got.source_format == "hl7v2"


def test_the_unseen_messages_as_one_batch_over_mllp(app_mllp: Any) -> None:
    """Every case inside one batch: each message answered inside the ACK batch as it is alone."""
    app, _ = app_mllp
    # A message without a segment terminator would run into the BTS; in a file each ends its lines.
    framed = [normalise(c.raw) + b"\r" for c in CASES]
    reply = _ack_file(_send(app, _batch(*framed)).decode("latin-1"))
    acks = _acks(reply)
    assert len(acks) == len(CASES) and str(reply[0].trailer[1]) == str(len(CASES))
    for case, ack in zip(CASES, acks, strict=True):
        _check_ack(case, ack)
    rows = _rows(app)
    assert len(rows) == len(CASES)
    assert [r.status for r in rows] == ["rejected" if c.err else "queued" for c in CASES]


def test_a_single_message_with_msh15_outside_table_0155_still_hears_why(app_mllp: Any) -> None:
    """Before: MSH-15 'ALWAYS' matched none of AL/ER/SU, so the AE 103 about MSH-15 was never sent."""
    app, _ = app_mllp
    case = next(c for c in CASES if c.name == "msh15-not-in-0155-enhanced")
    ack = hl7.parse(_text(_send(app, case.raw)))
    assert _msa(ack) == ("CE", "BAD-917") and _err(ack) == ("103", "MSH^1^15")
    assert [r.status for r in _rows(app)] == ["rejected"]
