"""Compliance review, round 4: every door and outcome leaves its audit events, in order, on a chain that
verifies, and no event (nor an application log line) holds report text, names or free text.

Real app, real demo model, real SQLite (PostgreSQL for the tamper test), requests shaped as RIS, EHR
and CDS clients send them, none copied from the dev set. The worker is driven by hand
(`process_next`), so the order of events is deterministic.
"""

from __future__ import annotations

import base64
import json
import logging
import logging.config
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest_cds import cds_settings
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from plugin import audit
from plugin.app import create_app
from plugin.storage.db import make_engine, make_sessionmaker
from plugin.storage.tables import AuditEvent

# What may never appear in an audit detail nor a log line: the patient's name, birth date, street,
# and sentences of the report. MRNs and accessions are the ids the design allows in the audit table.
NAME_FAMILY, NAME_GIVEN = "QUIXBYTHORNE", "ZEPHYRINA"
STREET = "417 Wistermoor Lane"
SENTENCE = "Spiculated 14 mm nodule abutting the minor fissure"
MRN = "MRN-77120"
HL7_TYPE = {"Content-Type": "x-application/hl7-v2+er7"}
REVIEW = "/cds-services/radlite-report-review"
ANALYZE = "/fhir/DiagnosticReport/$analyze"
SECRETS = (NAME_FAMILY, NAME_GIVEN, STREET, SENTENCE, "Wistermoor", "19610704")


def oru(control_id: str, *, accession: str = "ACC-R4-1", status: str = "F", mrn: str = MRN,
        msh15: str = "", msh16: str = "") -> str:
    """An ORU^R01 v2.5.1 as a RIS sends it, with a name, birth date and street in PID."""
    msh = ("MSH|^~\\&|SYNRIS|NORTHWING|RADLITE|NORTHWING|20260412093000||ORU^R01^ORU_R01|"
           f"{control_id}|P|2.5.1"
           f"|||{msh15}|{msh16}")
    segs = [
        msh,
        f"PID|1||{mrn}^^^NORTHWING^MR||{NAME_FAMILY}^{NAME_GIVEN}||19610704|F|||{STREET}^^Eastport^ME^04631",
        f"OBR|1||{accession}|71250^CT CHEST WITHOUT CONTRAST^C4|||20260412090000|||||||||||||||||CT|{status}",
        f"OBX|1|TX|&GDT^Report^L|1|FINDINGS: {SENTENCE}. No pleural effusion.||||||{status}",
        "OBX|2|TX|&IMP^Impression^L|1|IMPRESSION: Suspicious right upper lobe nodule. Lung-RADS 4B.||||||"
        f"{status}",
    ]
    return "\r".join(segs) + "\r"


@pytest.fixture()
def client(sqlite_url: str, ensemble: Any) -> Iterator[TestClient]:
    app = create_app(cds_settings(sqlite_url, hook_budget_seconds=30.0), ensemble=ensemble)
    with TestClient(app) as c:
        yield c


def events(client: TestClient, after: int = 0) -> list[AuditEvent]:
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq)))


def head(client: TestClient) -> int:
    found = events(client)
    return found[-1].seq if found else 0


def kinds(found: list[AuditEvent]) -> list[str]:
    start_up = ("config.loaded", "config.changed", "model.changed")
    return [e.event_type for e in found if e.event_type not in start_up]


def assert_verified_and_clean(client: TestClient) -> None:
    """The chain verifies; no row (detail, actor, ids) carries a name, street, birth date or report text."""
    with client.app.state.sessions() as s:  # type: ignore[attr-defined]
        result = audit.verify(s)
        assert result.ok, result.reason
        for row in s.scalars(select(AuditEvent)):
            flat = audit.canonical(audit.row_payload(row)).upper()
            for secret in SECRETS:
                assert secret.upper() not in flat, (row.seq, row.event_type, secret)


def post_hl7(client: TestClient, raw: str | bytes) -> Any:
    body = raw.encode() if isinstance(raw, str) else raw
    return client.post("/hl7/v2", content=body, headers=HL7_TYPE)


def work(client: TestClient) -> None:
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    while pipeline.process_next("audit-worker"):
        pass


# ---- HL7 v2 doors ----------------------------------------------------------------------------------


def test_an_oru_is_audited_from_receipt_to_every_task(client: TestClient) -> None:
    start = head(client)
    assert post_hl7(client, oru("R4-AUD-1")).status_code == 200
    [received] = events(client, start)
    assert received.event_type == "message.received"
    assert (received.patient_id, received.accession) == (MRN, "ACC-R4-1")
    assert received.detail["status"] == "queued" and received.input_hash
    work(client)
    after = events(client, received.seq)
    assert after[0].event_type == "report.stored"
    tasks = [e for e in after if e.event_type == "task.run"]
    assert tasks, "every task the planner ran is a task.run event"
    assert any(e.detail["backend"] != "rules" for e in tasks), "the demo model ran and is named by its sha256"
    for e in tasks:
        assert e.detail["model_id"], e.detail
        if e.detail["backend"] == "rules":  # the rules engine is code (named by its version), not a file
            assert e.detail["model_version"], e.detail
        else:
            assert len(e.detail["model_sha256"] or "") == 64, e.detail
        for span in e.detail["evidence"]:
            assert set(span) == {"start", "end", "text_hash"} and len(span["text_hash"]) == 64
        assert e.patient_id == MRN and e.accession == "ACC-R4-1"
        assert e.detail["prompt_hash"] is None or len(e.detail["prompt_hash"]) == 64
    assert_verified_and_clean(client)


def test_parse_warnings_are_counted_on_the_received_event(client: TestClient) -> None:
    """A comment after an OBX is left out of the report text with a warning; the trail counts it (never its text)."""
    start = head(client)
    post_hl7(client, oru("R4-AUD-WARN", accession="ACC-R4-W"))
    noted = oru("R4-AUD-WARN2", accession="ACC-R4-W2").replace("\rOBX|2|", "\rNTE|1||Dictated by resident\rOBX|2|")
    assert "NTE|1" in noted
    post_hl7(client, noted)
    plain, warned = events(client, start)
    assert plain.detail["warnings"] == 0
    assert warned.detail["warnings"] >= 1 and "resident" not in str(warned.detail)
    assert_verified_and_clean(client)


def test_a_resend_is_audited_as_a_duplicate_of_the_first(client: TestClient) -> None:
    start = head(client)
    first = oru("R4-AUD-DUP")
    post_hl7(client, first)
    post_hl7(client, first.replace("20260412093000", "20260412093507").replace("\r", "\r\n"))
    got = events(client, start)
    assert kinds(got) == ["message.received", "message.received"]
    assert got[1].detail["status"] == "duplicate"
    assert got[1].detail["duplicate_of"] == got[0].detail["inbound_id"]
    assert_verified_and_clean(client)


def test_a_refused_message_is_a_rejected_event_with_its_code_not_its_content(client: TestClient) -> None:
    start = head(client)
    raw = oru("R4-AUD-ORM").replace("ORU^R01^ORU_R01", "ORM^O01^ORM_O01")
    answer = post_hl7(client, raw)
    assert b"MSA|AR" in answer.content
    [rejected] = events(client, start)
    assert rejected.event_type == "message.rejected"
    assert rejected.detail["err_code"] == "200" and rejected.detail["ack"] == "AR"
    assert_verified_and_clean(client)


def test_a_value_outside_its_table_is_refused_without_echoing_free_text(client: TestClient) -> None:
    """An OBX-11 holding text (a sender that shifted a field) is AE 103; the text never reaches the trail."""
    start = head(client)
    raw = oru("R4-AUD-103").replace("Lung-RADS 4B.||||||F", f"Lung-RADS 4B.||||||{NAME_FAMILY} {STREET}")
    answer = post_hl7(client, raw)
    assert b"MSA|AE" in answer.content
    [rejected] = events(client, start)
    assert rejected.event_type == "message.rejected" and rejected.detail["err_code"] == "103"
    assert_verified_and_clean(client)


def batch(*messages: str, count: int | None = None) -> str:
    n = len(messages) if count is None else count
    return ("FHS|^~\\&|SYNRIS|NORTHWING|RADLITE|NORTHWING|20260412100000\r"
            "BHS|^~\\&|SYNRIS|NORTHWING|RADLITE|NORTHWING|20260412100000\r"
            + "".join(messages) + f"BTS|{n}\rFTS|1\r")


def test_a_batch_audits_each_message_then_the_envelope_naming_them(client: TestClient) -> None:
    start = head(client)
    answer = post_hl7(client, batch(oru("R4-B-1", accession="ACC-B1"), oru("R4-B-2", accession="ACC-B2")))
    assert answer.status_code == 200
    got = events(client, start)
    assert kinds(got) == ["message.received"] * 3
    envelope = got[-1]
    assert envelope.detail["batch"] is True and envelope.detail["errors"] == []
    assert envelope.detail["messages"] == [got[0].detail["inbound_id"], got[1].detail["inbound_id"]]
    assert [e.accession for e in got[:2]] == ["ACC-B1", "ACC-B2"]
    assert_verified_and_clean(client)


def test_a_batch_whose_count_is_wrong_is_a_rejected_envelope(client: TestClient) -> None:
    start = head(client)
    post_hl7(client, batch(oru("R4-BC-1", accession="ACC-BC1"), count=3))
    got = events(client, start)
    assert kinds(got) == ["message.received", "message.rejected"]
    assert got[-1].detail["batch"] is True and got[-1].detail["errors"][0]["err_code"] == "100"
    assert_verified_and_clean(client)


def test_several_msh_in_one_frame_are_each_audited(client: TestClient) -> None:
    start = head(client)
    post_hl7(client, oru("R4-M-1", accession="ACC-M1") + oru("R4-M-2", accession="ACC-M2"))
    got = events(client, start)
    # Each message on its own, then the frame kept whole (as a batch without header is) naming both.
    assert [(e.event_type, e.accession) for e in got] == [("message.received", "ACC-M1"),
                                                          ("message.received", "ACC-M2"),
                                                          ("message.received", None)]
    assert got[2].detail["messages"] == [got[0].detail["inbound_id"], got[1].detail["inbound_id"]]
    assert_verified_and_clean(client)


def test_a_cancelled_report_is_stored_and_audited_but_runs_no_task(client: TestClient) -> None:
    start = head(client)
    post_hl7(client, oru("R4-X-1", accession="ACC-X1", status="X"))
    work(client)
    got = events(client, start)
    assert kinds(got)[:2] == ["message.received", "report.stored"]
    assert "task.run" not in kinds(got)
    assert got[1].detail["status"] in ("cancelled", "entered-in-error")
    assert_verified_and_clean(client)


def test_an_application_ack_owed_is_audited_when_queued(client: TestClient) -> None:
    start = head(client)
    post_hl7(client, oru("R4-AL-1", accession="ACC-AL1", msh15="NE", msh16="AL"))
    work(client)
    got = kinds(events(client, start))
    assert got[0] == "message.received" and "outbound.queued" in got
    assert got.index("outbound.queued") > got.index("report.stored")
    assert_verified_and_clean(client)


def test_a_failed_analysis_is_audited_each_attempt_without_the_exception_text(client: TestClient) -> None:
    """The database refuses the analysis row (a real SQLite trigger, as a full disk or a revoked grant
    would): the worker's failure is an event naming the attempt, never the exception's message."""
    with client.app.state.sessions.begin() as s:  # type: ignore[attr-defined]
        s.execute(text("CREATE TRIGGER refuse_analyses BEFORE INSERT ON analyses "
                       f"BEGIN SELECT RAISE(ABORT, 'refused for {NAME_FAMILY}'); END"))
    start = head(client)
    post_hl7(client, oru("R4-F-1", accession="ACC-F1"))
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    assert pipeline.process_next("audit-worker")
    got = events(client, start)
    assert kinds(got) == ["message.received", "report.stored", "analysis.failed"]
    failed = got[-1]
    assert failed.detail["inbound_id"] == got[0].detail["inbound_id"]
    assert failed.detail["attempt"] == 1 and failed.detail["final"] is False
    assert failed.detail["error"].isidentifier() and failed.input_hash == got[0].input_hash  # a type name
    assert failed.report_key == "ACC-F1"
    assert_verified_and_clean(client)


def test_tasks_cancelled_at_shutdown_are_audited_as_not_run(client: TestClient) -> None:
    start = head(client)
    post_hl7(client, oru("R4-S-1", accession="ACC-S1"))
    pipeline = client.app.state.pipeline  # type: ignore[attr-defined]
    pipeline.models.stop()  # what shutdown does: queued model work is cancelled
    assert pipeline.process_next("audit-worker")
    got = events(client, start)
    failed = [e for e in got if e.event_type == "analysis.failed"]
    assert len(failed) == 1 and "task.run" not in kinds(got)
    assert failed[0].detail["tasks"] and set(failed[0].detail["tasks"].values()) == {"cancelled"}
    assert (failed[0].patient_id, failed[0].accession) == (MRN, "ACC-S1")
    exported = audit.fhir_audit_event(failed[0])
    assert exported["outcome"] == "8" and exported["subtype"][-1]["code"] == "analysis.failed"
    assert_verified_and_clean(client)


def test_an_ack_to_an_engine_that_is_down_is_audited_each_retry_then_failed(sqlite_url: str,
                                                                            ensemble: Any) -> None:
    from conftest_cds import free_port

    from plugin import outbox

    port = free_port()  # nobody listens there
    settings = cds_settings(sqlite_url, outbox_retry_seconds=0.01, outbox_timeout_seconds=1,
                            outbox_max_attempts=2,
                            hl7_routes=[{"sender": "*", "host": "127.0.0.1", "port": port}])
    app = create_app(settings, ensemble=ensemble)
    with TestClient(app) as c:
        start = head(c)
        post_hl7(c, oru("R4-OB-1", accession="ACC-OB1", msh15="NE", msh16="AL"))
        work(c)
        for _ in range(200):  # the app's own sender may take some attempts; drive it until it gives up
            done = [e for e in events(c, start) if e.event_type == "outbound.failed"]
            if done:
                break
            outbox.deliver_next(c.app.state.sessions, settings)  # type: ignore[attr-defined]
        got = kinds(events(c, start))
        assert got.index("outbound.queued") < got.index("outbound.retried") < got.index("outbound.failed")
        retried = next(e for e in events(c, start) if e.event_type == "outbound.retried")
        assert retried.detail["attempts"] == 1 and retried.actor == f"127.0.0.1:{port}"
        assert audit.fhir_audit_event(retried)["outcome"] == "4"
        assert_verified_and_clean(c)


# ---- CDS Hooks and FHIR doors -----------------------------------------------------------------------


def dr(rid: str, *, status: str = "final", patient: str = "pt-aud-9") -> dict[str, Any]:
    report = (f"FINDINGS:\n{SENTENCE}.\n\nIMPRESSION:\nSuspicious nodule. Lung-RADS 4B. "
              "PET/CT is recommended.")
    return {
        "resourceType": "DiagnosticReport", "id": rid, "status": status,
        "category": [{"coding": [{"system": "http://loinc.org", "code": "LP29684-5"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2"}], "text": "CT CHEST"},
        "subject": {"reference": f"Patient/{patient}", "display": f"{NAME_GIVEN} {NAME_FAMILY}"},
        "effectiveDateTime": "2026-04-10T08:30:00Z",
        "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                             "code": "ACSN"}]}, "value": f"ACC-{rid}"}],
        "presentedForm": [{"contentType": "text/plain", "data": base64.b64encode(report.encode()).decode()}],
    }


def hook_body(*reports: dict[str, Any], instance: str | None = None) -> dict[str, Any]:
    return {
        "hookInstance": instance or str(uuid.uuid4()), "hook": "patient-view",
        "fhirServer": "https://ehr.aud.example/fhir",
        "context": {"userId": "Practitioner/aud-1", "patientId": "pt-aud-9"},
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "pt-aud-9",
                        "name": [{"family": NAME_FAMILY, "given": [NAME_GIVEN]}], "birthDate": "1961-07-04",
                        "address": [{"line": [STREET]}]},
            "reports": {"resourceType": "Bundle", "type": "searchset",
                        "entry": [{"resource": r} for r in reports]},
        },
    }


def test_a_hook_is_audited_request_tasks_cards_then_feedback(client: TestClient) -> None:
    start = head(client)
    body = hook_body(dr("aud-1"))
    answer = client.post(REVIEW, json=body)
    assert answer.status_code == 200
    cards = answer.json()["cards"]
    assert cards
    got = events(client, start)
    order = kinds(got)
    assert order[:2] == ["hook.request", "report.stored"]
    assert got[0].detail["hookInstance"] == body["hookInstance"] and got[1].accession == "ACC-aud-1"
    served = [e for e in got if e.event_type == "card.served"]
    assert len(served) == len(cards)
    assert {e.detail["card_uuid"] for e in served} == {c["uuid"] for c in cards}
    assert all(order.index("card.served") > i for i, k in enumerate(order) if k == "task.run")
    mark = head(client)
    fb = {"feedback": [{"card": cards[0]["uuid"], "outcome": "overridden",
                        "overrideReason": {"reason": {"code": "other", "system": "urn:aud:reasons"},
                                           "userComment": f"{NAME_FAMILY} refused"},
                        "outcomeTimestamp": "2026-04-12T10:00:00Z"}]}
    assert client.post(REVIEW + "/feedback", json=fb).status_code == 200
    [feedback] = events(client, mark)
    assert feedback.event_type == "feedback.received"
    assert feedback.detail["card_uuid"] == cards[0]["uuid"] and feedback.patient_id == "pt-aud-9"
    reason = feedback.detail["overrideReason"]
    assert reason["reason"]["code"] == "other" and len(reason["userComment_sha256"]) == 64
    assert_verified_and_clean(client)


def test_another_patients_report_is_a_safety_anomaly_before_any_card(client: TestClient) -> None:
    start = head(client)
    answer = client.post(REVIEW, json=hook_body(dr("aud-other", patient="pt-someone-else")))
    assert answer.status_code == 200
    got = kinds(events(client, start))
    assert got[:2] == ["hook.request", "safety.anomaly"]
    assert_verified_and_clean(client)


@pytest.mark.parametrize("instance", ["not-a-uuid", f"{NAME_FAMILY}-{STREET}"])
def test_a_refused_hook_is_audited_without_echoing_the_request(client: TestClient, instance: str) -> None:
    start = head(client)
    assert client.post(REVIEW, json=hook_body(dr("aud-2"), instance=instance)).status_code == 400
    [refused] = events(client, start)
    assert refused.event_type == "message.rejected" and refused.detail["channel"] == "cds-hook"
    assert_verified_and_clean(client)


def test_deep_json_is_refused_and_audited(client: TestClient) -> None:
    start = head(client)
    deep = ('{"hookInstance":"' + str(uuid.uuid4()) + '","hook":"patient-view","context":'
            + "[" * 5000 + "]" * 5000 + "}")
    answer = client.post(REVIEW, content=deep.encode(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert kinds(events(client, start)) == ["message.rejected"]
    assert_verified_and_clean(client)


def test_an_oversized_body_is_refused_and_audited_with_its_hash(sqlite_url: str, ensemble: Any) -> None:
    app = create_app(cds_settings(sqlite_url, max_request_bytes=10_000), ensemble=ensemble)
    with TestClient(app) as c:
        start = head(c)
        big = json.dumps(hook_body(dr("aud-big"))) + " " * 20_000
        answer = c.post(REVIEW, content=big.encode(), headers={"Content-Type": "application/json"})
        assert answer.status_code == 413
        [refused] = events(c, start)
        assert refused.event_type == "message.rejected" and refused.detail["status"] == 413
        assert len(refused.input_hash or "") == 64
        assert_verified_and_clean(c)


@pytest.mark.parametrize(("headers", "body", "status"), [
    ({"Content-Type": "application/fhir+xml"}, b"<DiagnosticReport/>", 415),
    ({"Content-Type": "application/fhir+json; fhirVersion=3.0"}, None, 415),
    ({"Content-Type": "application/fhir+json", "Accept": "application/fhir+xml"}, None, 406),
    ({"Content-Type": "application/fhir+json"}, b'{"resourceType": "DiagnosticReport", "status": [', 400),
])
def test_fhir_refusals_are_audited(client: TestClient, headers: dict[str, str], body: bytes | None,
                                   status: int) -> None:
    start = head(client)
    raw = body if body is not None else json.dumps(dr("aud-f1")).encode()
    assert client.post(ANALYZE, content=raw, headers=headers).status_code == status
    [refused] = events(client, start)
    assert refused.event_type == "message.rejected" and refused.detail["channel"] == "http-fhir"
    assert_verified_and_clean(client)


def test_fhir_resource_with_a_bad_value_is_refused_without_echoing_it(client: TestClient) -> None:
    """A malformed resource whose bad value is patient text: the error names where, not what."""
    start = head(client)
    resource = dr("aud-f2")
    resource["effectiveDateTime"] = f"{NAME_FAMILY} {STREET}"
    resource["status"] = f"{NAME_GIVEN}"
    answer = client.post(ANALYZE, json=resource, headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code in (400, 422)
    assert kinds(events(client, start))[0] == "message.rejected"
    assert_verified_and_clean(client)


def test_only_cancelled_reports_is_422_and_audited(client: TestClient) -> None:
    start = head(client)
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": dr("aud-c1", status="cancelled")},
                        {"resource": dr("aud-c2", status="entered-in-error")}]}
    answer = client.post(ANALYZE, json=bundle, headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code == 422
    assert kinds(events(client, start)) == ["message.rejected"]
    assert_verified_and_clean(client)


def test_fhir_analyze_is_audited_from_receipt_to_every_task(client: TestClient) -> None:
    start = head(client)
    answer = client.post(ANALYZE + "?tasks=rads_assignment", json=dr("aud-ok"),
                         headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code == 200
    found = events(client, start)
    got = kinds(found)
    assert got[:2] == ["message.received", "report.stored"] and "task.run" in got
    assert (found[0].patient_id, found[0].accession) == ("pt-aud-9", "ACC-aud-ok")
    assert found[1].detail["inbound_id"] == found[0].detail["inbound_id"]
    assert_verified_and_clean(client)


# ---- logs -------------------------------------------------------------------------------------------


def test_no_log_line_of_any_door_carries_names_or_report_text(client: TestClient,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    post_hl7(client, oru("R4-LOG-1", accession="ACC-LOG1"))
    post_hl7(client, oru("R4-LOG-2").replace("ORU^R01^ORU_R01", "ORM^O01^ORM_O01"))
    work(client)
    answer = client.post(REVIEW, json=hook_body(dr("aud-log")))
    client.post(REVIEW, json=hook_body(dr("aud-log2", patient="pt-other")))
    client.post(ANALYZE, json=dr("aud-log3"), headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code == 200
    text_logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records).upper()
    for secret in SECRETS:
        assert secret.upper() not in text_logged, secret
    assert MRN not in text_logged


def test_a_database_error_does_not_put_the_message_in_the_log(sqlite_url: str) -> None:
    """SQL errors quote their parameters unless told not to; a stored message's bytes are PHI."""
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t_probe (id INTEGER PRIMARY KEY, raw TEXT)"))
    with pytest.raises(IntegrityError) as caught:
        with sessions.begin() as s:
            s.execute(text("INSERT INTO t_probe (id, raw) VALUES (1, :raw)"), {"raw": SENTENCE})
            s.execute(text("INSERT INTO t_probe (id, raw) VALUES (1, :raw)"), {"raw": SENTENCE})
    assert SENTENCE not in str(caught.value)
    engine.dispose()


def test_audit_page_queries_with_an_mrn_are_not_written_to_the_access_log(
        sqlite_url: str, ensemble: Any) -> None:
    """uvicorn logs every request line; a search by patient id must not put the MRN there."""
    from plugin.routes.audit import redact_access_record

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("10.0.0.9:5150", "GET", f"/audit?patient={MRN}&accession=ACC-9", "1.1", 200),
                               None)
    assert redact_access_record(record) is True
    line = record.getMessage()
    assert MRN not in line and "ACC-9" not in line and "/audit?" in line
    other = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                              ("10.0.0.9:5150", "GET", "/health", "1.1", 200), None)
    assert redact_access_record(other) is True and "/health" in other.getMessage()
    # Installed on the server's access logger, and kept when uvicorn configures logging at start-up.
    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)
    access = logging.getLogger("uvicorn.access")
    line = next(r for r in [record] if all(f.filter(r) for f in access.filters)).getMessage()
    assert any(type(f).__name__ == "_AccessLogRedaction" for f in access.filters)


# ---- tamper: one altered row, first broken event named ----------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


def _tamper(client: TestClient, sql: str, **params: Any) -> None:
    with client.app.state.sessions.begin() as s:  # type: ignore[attr-defined]
        with audit.append_only_suspended(s):
            s.execute(text(sql), params)


def _verify_cli(url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    from typer.testing import CliRunner

    from plugin.cli import app as cli_app

    monkeypatch.setenv("RADLITE_DATABASE_URL", url)
    result = CliRunner().invoke(cli_app, ["audit", "verify"])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.mark.parametrize("column", ["detail", "patient_id", "occurred_at"])
def test_one_altered_row_from_real_traffic_is_named_by_verify(any_url: str, ensemble: Any, column: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(cds_settings(any_url), ensemble=ensemble)
    with TestClient(app) as c:
        post_hl7(c, oru("R4-T-1", accession="ACC-T1"))
        post_hl7(c, oru("R4-T-2", accession="ACC-T2"))
        work(c)
        rows = events(c)
        target = next(e for e in rows if e.event_type == "task.run")
        assert audit.verify(c.app.state.sessions()).ok  # type: ignore[attr-defined]
        values = {"detail": ("detail", json.dumps({**target.detail, "confidence": 0.01})),
                  "patient_id": ("patient_id", "MRN-SOMEONE-ELSE"),
                  "occurred_at": ("occurred_at", target.occurred_at.replace(year=2025))}
        col, value = values[column]
        _tamper(c, f"UPDATE audit_events SET {col} = :v WHERE seq = :s", v=value, s=target.seq)
        with c.app.state.sessions() as s:  # type: ignore[attr-defined]
            result = audit.verify(s)
        assert not result.ok and result.broken_seq == target.seq, result
        assert result.checked == target.seq - 1
        code, said = _verify_cli(any_url, monkeypatch)
        assert code == 1 and f"event {target.seq}" in said, said
