"""The spine, end to end over real TCP: ORU^R01 in by MLLP, stored, ACKed, analysed by the
worker with the demo GGUF; then a patient-view hook with the same report as a FHIR
DiagnosticReport answers from storage with a card naming the RADS category.
Runs on SQLite and on the PostgreSQL of this machine.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import hl7
import pytest
from fastapi.testclient import TestClient
from hl7.client import MLLPClient
from sqlalchemy import func, select

from plugin.app import create_app
from plugin.storage.tables import AuditEvent, InboundMessage

REPO = Path(__file__).resolve().parents[2]

# Three reports with a stated RADS category, sent on ONE connection.
MESSAGES = ["oru-01.hl7", "oru-03.hl7", "oru-05.hl7"]


def diagnostic_report(r: dict[str, Any], patient_id: str, accession: str) -> dict[str, Any]:
    """The same report as a FHIR R4 DiagnosticReport, laid out like the dev FHIR files."""
    text = f"EXAM: {r['procedure']}\n\nFINDINGS:\n{r['findings']}\n\nIMPRESSION:\n{r['impression']}\n"
    return {
        "resourceType": "DiagnosticReport",
        "id": f"e2e-{r['id']}",
        "identifier": [{"system": "https://synthetic.example/fhir/sid/accession", "value": accession}],
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
        "code": {"text": r["procedure"]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": "2025-02-24T09:10:00-05:00",
        "issued": "2025-02-24T16:02:00-05:00",
        "conclusion": r["impression"],
        "presentedForm": [{"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}],
    }


def report_prefetch_key() -> str:
    """The prefetch key our patient-view service declares for DiagnosticReports."""
    for path in sorted((REPO / "cds-hooks").glob("*.json")):
        service = json.loads(path.read_text())
        if service.get("id") == "radlite-report-review" and service.get("hook") == "patient-view":
            for key, template in service.get("prefetch", {}).items():
                if template.startswith("DiagnosticReport"):
                    return key
    raise AssertionError("radlite-report-review declares no DiagnosticReport prefetch")


def wait_until_done(sessions: Any, ids: list[int], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as s:
            statuses = dict(s.execute(select(InboundMessage.id, InboundMessage.status).where(InboundMessage.id.in_(ids))).all())
        if all(statuses.get(i) == "done" for i in ids):
            return
        assert not any(v == "error" for v in statuses.values()), statuses
        time.sleep(0.2)
    raise AssertionError(f"worker did not finish: {statuses}")


def count_task_runs(sessions: Any) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event_type == "task.run")) or 0


@pytest.mark.slow
def test_mllp_to_card(
    db_url: str, ensemble: Any, dev: Path, dev_reports: dict[str, dict[str, Any]], settings_for: Any
) -> None:
    expected = json.loads((dev / "hl7" / "expected.json").read_text())
    settings = settings_for(db_url, mllp_enabled=True, worker_enabled=True)
    app = create_app(settings, ensemble=ensemble)
    with TestClient(app) as client:
        port = app.state.mllp.port
        mllp = MLLPClient("127.0.0.1", port)
        try:
            for name in MESSAGES:
                raw = (dev / "hl7" / name).read_bytes()
                ack = hl7.parse(mllp.send_message(raw).decode().strip("\x0b\x1c\r").replace("\r\n", "\r"))
                assert str(ack.segment("MSA")[2]) == expected[name]["msh10"]
                assert str(ack.segment("MSA")[1]) == expected[name]["expected_ack"]
        finally:
            mllp.close()

        sessions = app.state.sessions
        with sessions() as s:
            ids = list(s.scalars(select(InboundMessage.id).where(InboundMessage.channel == "mllp")))
        assert len(ids) == len(MESSAGES)
        wait_until_done(sessions, ids)

        key = report_prefetch_key()
        runs_before = count_task_runs(sessions)
        for name in MESSAGES:
            # read_bytes: read_text() would turn the CR segment ends into LF.
            msg = hl7.parse((dev / "hl7" / name).read_bytes().decode().replace("\r\n", "\r"))
            patient_id = str(msg.segment("PID")[3][0][0])
            accession = str(msg.segment("OBR")[3][0][0])
            r = dev_reports[json.loads((dev / "hl7" / "index.json").read_text())[name]]
            request = {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/e2e", "patientId": patient_id},
                "prefetch": {key: {"resourceType": "Bundle", "type": "searchset",
                                   "entry": [{"resource": diagnostic_report(r, patient_id, accession)}]}},
            }
            response = client.post("/cds-services/radlite-report-review", json=request)
            assert response.status_code == 200, response.text
            cards = response.json()["cards"]
            rads = r["labels"]["rads"]
            texts = " ".join(c["summary"] + " " + c.get("detail", "") for c in cards)
            category = rads["category"]
            assert rads["system"] in texts and category.replace("LR-", "") in texts, (name, texts[:500])
            assert all("demo model, not for clinical use" in c.get("detail", "") for c in cards)
        # Every report was analysed on arrival: the hooks ran no model.
        assert count_task_runs(sessions) == runs_before
