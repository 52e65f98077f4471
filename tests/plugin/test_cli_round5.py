"""`radlite` round 5: unseen inputs on every command, real files, a real SQLite database, the demo model.

Each refusal is one clear line on stderr with a non-zero exit, never a traceback; the same
report text in any line-end convention or Unicode encoding is the same report.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import fhirkit
import hl7
import pytest
from click.testing import Result
from typer.testing import CliRunner

from plugin.cli import _read_reports, app

WIDE = {"COLUMNS": "250"}


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env; the default SQLite file stays here
    monkeypatch.setenv("RADLITE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("RADLITE_AUDIT_ARCHIVE_DIR", str(tmp_path / "archive"))
    return tmp_path


def run(*args: str, **env: str) -> Result:
    return CliRunner().invoke(app, list(args), env={**WIDE, **env})


def assert_refused(result: Result, code: int, *words: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # a clean exit, not a crash
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)


# ---- analyze: inputs ---------------------------------------------------------------------------

SEGMENTS = [
    r"MSH|^~\&|EPIC_RIS|MERCY_WEST|RADLITE|CDS|20260311094500||ORU^R01^ORU_R01|MW2026031100017|P|2.5.1",
    "PID|1||MRN7734521^^^MERCY^MR||ZZTEST^ALEX^J||19580702|F",
    "OBR|1|ORD55521|ACC998877|74177^CT ABDOMEN PELVIS W CONTRAST^C4|||20260311090000||||||||||||||||CT|F",
    "OBX|1|TX|18782-3^Radiology Study observation (narrative)^LN|1|Sigmoid colon: 5 cm annular mass.||||||F",
    "OBX|2|TX|18782-3^Radiology Study observation (narrative)^LN|1|Two enlarged pericolic nodes, 1.2 and 1.4 cm."
    "||||||F",
    "OBX|3|TX|19005-8^Radiology Imaging study [Impression] (narrative)^LN|2|Sigmoid cancer with two pericolic "
    "nodes, N1b. No distant metastasis.||||||F",
]


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n", "mixed", "bom"])
def test_hl7_line_ends_and_a_bom_give_the_same_report(tmp_path: Path, ending: str) -> None:
    if ending == "mixed":
        raw = (SEGMENTS[0] + "\r\n" + SEGMENTS[1] + "\n" + SEGMENTS[2] + "\r" + "\r\n".join(SEGMENTS[3:])).encode()
    elif ending == "bom":
        raw = b"\xef\xbb\xbf" + "\r".join(SEGMENTS).encode() + b"\r"
    else:
        raw = (ending.join(SEGMENTS) + ending).encode()
    path = tmp_path / "oru.hl7"
    path.write_bytes(raw)
    (report,), kind = _read_reports(path)
    assert kind == "hl7v2"
    assert report.findings == "Sigmoid colon: 5 cm annular mass.\nTwo enlarged pericolic nodes, 1.2 and 1.4 cm."
    assert report.impression == "Sigmoid cancer with two pericolic nodes, N1b. No distant metastasis."


REPORT_TEXT = ("EXAM: CT ABDOMEN PELVIS W CONTRAST\r\n\r\nFINDINGS:\r\nLiver: 1.2 cm hypodense lesion in segment IV, "
               "too small to characterize. Temperature 38.5\u00b0C.\r\nKidneys: 4 mm calculus, right lower pole "
               "\u00b1 mild stranding.\r\n\r\nIMPRESSION:\r\nNo acute process. \u201cIncidental\u201d right renal "
               "calculus.\r\n")


@pytest.mark.parametrize(("name", "data"), [
    ("utf8-bom.txt", b"\xef\xbb\xbf" + REPORT_TEXT.encode("utf-8")),
    ("notepad-unicode.txt", REPORT_TEXT.encode("utf-16")),  # UTF-16 LE with its BOM
    ("utf16-be.txt", b"\xfe\xff" + REPORT_TEXT.encode("utf-16-be")),
])
def test_text_with_a_byte_order_mark_is_the_same_report_as_utf8(tmp_path: Path, name: str, data: bytes) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_bytes(REPORT_TEXT.encode("utf-8"))
    other = tmp_path / name
    other.write_bytes(data)
    (expected,), _ = _read_reports(plain)
    (report,), kind = _read_reports(other)
    assert kind == "text"
    assert report.report_id == expected.report_id  # same text, same content hash
    assert "38.5\u00b0C" in (report.findings or "") and "\u201cIncidental\u201d" in (report.impression or "")


def test_windows_1252_text_is_refused_with_a_hint_and_read_when_named(env: Path) -> None:
    path = env / "ris-export.txt"
    path.write_bytes(REPORT_TEXT.encode("cp1252"))
    assert_refused(run("analyze", str(path)), 2, "not UTF-8", "--encoding cp1252")
    (report,), _ = _read_reports(path, "cp1252")
    (expected,), _ = _read_reports(_write(env / "u.txt", REPORT_TEXT.encode("utf-8")))
    assert report.report_id == expected.report_id and report.findings == expected.findings
    latin1 = _write(env / "latin1.txt", REPORT_TEXT.replace("\u201c", '"').replace("\u201d", '"').encode("latin-1"))
    (report,), _ = _read_reports(latin1, "latin-1")
    assert "\u00b1 mild stranding" in (report.findings or "")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("args", "code", "words"), [
    (["--tasks", ",,"], 2, ["names no task"]),
    (["--tasks", "rads_assignment,rads,stage"], 2, ["unknown task(s) rads, stage", "known:"]),
    (["--tasks", "radiology_qa"], 2, ["radiology_qa needs --question"]),
    (["--tasks", "m_staging", "--question", "Is there ascites?"], 2, ["--question is for radiology_qa"]),
    (["--question", "  "], 2, ["--question is empty"]),
    (["--encoding", "klingon"], 2, ["unknown character set"]),
    (["--format", "xml"], 2, ["--format must be"]),
])
def test_analyze_argument_errors_exit_before_any_model_runs(env: Path, args: list[str], code: int,
                                                            words: list[str]) -> None:
    path = _write(env / "r.txt", REPORT_TEXT.encode("utf-8"))
    assert_refused(run("analyze", str(path), *args), code, *words)
    assert not (env / "cli.db").exists()  # refused before the database was touched


def test_analyze_unusable_files(env: Path) -> None:
    assert_refused(run("analyze", str(env / "missing.hl7")), 2, "does not exist")
    assert_refused(run("analyze", str(env)), 2, "is a directory")
    assert_refused(run("analyze", str(_write(env / "empty.txt", b""))), 2, "report text is empty")
    assert_refused(run("analyze", str(_write(env / "bad.json", b'{"resourceType": "DiagnosticReport",'))), 2,
                   "not a usable FHIR DiagnosticReport")
    wide = _write(env / "broken16.txt", b"\xff\xfe" + b"\x00\xd8")  # a lone UTF-16 surrogate after the BOM
    assert_refused(run("analyze", str(wide)), 2, "not readable as UTF-16")


def _dr(rid: str, acc: str, text: str, conclusion: str) -> dict[str, Any]:
    return {"resourceType": "DiagnosticReport", "id": rid, "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "CT Chest"}]},
            "subject": {"reference": "Patient/pat-42"}, "effectiveDateTime": "2026-03-10T08:00:00Z",
            "issued": "2026-03-10T10:00:00Z", "identifier": [{"system": "urn:oid:1.2.3.4", "value": acc}],
            "presentedForm": [{"contentType": "text/plain; charset=utf-8",
                               "data": base64.b64encode(text.encode()).decode()}],
            "conclusion": conclusion}


LUNG = ("EXAM: CT CHEST WITH CONTRAST\n\nFINDINGS:\nNew 2.1 cm spiculated nodule in the left upper lobe. Enlarged "
        "left hilar node, 1.4 cm short axis. No pleural effusion.\n\nIMPRESSION:\nLeft upper lobe spiculated nodule, "
        "suspicious for primary lung cancer, with ipsilateral hilar adenopathy (N1).\n")


def test_analyze_a_searchset_bundle_to_valid_fhir_and_hl7(env: Path) -> None:
    """Two reports in a searchset Bundle (with an included Patient); the stated N1 is decided by the rules."""
    first = _dr("dr-r5-1", "ACC-7781", LUNG, "Left upper lobe nodule suspicious for lung cancer, hilar N1.")
    second = _dr("dr-r5-2", "ACC-7782", LUNG.replace("(N1)", "(N1). Prior CT 2025-01-02 for comparison"),
                 "Left upper lobe nodule suspicious for lung cancer, hilar N1.")
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": 2, "entry": [
        {"fullUrl": "https://ehr.example.org/fhir/DiagnosticReport/dr-r5-1", "resource": first,
         "search": {"mode": "match"}},
        {"fullUrl": "https://ehr.example.org/fhir/DiagnosticReport/dr-r5-2", "resource": second,
         "search": {"mode": "match"}},
        {"fullUrl": "https://ehr.example.org/fhir/Patient/pat-42", "resource": {"resourceType": "Patient",
                                                                                  "id": "pat-42"},
         "search": {"mode": "include"}}]}
    path = _write(env / "bundle.json", json.dumps(bundle).encode())

    fhir_out = run("analyze", str(path), "--tasks", "n_staging", "--format", "fhir-bundle")
    assert fhir_out.exit_code == 0, fhir_out.output
    tx = json.loads(fhir_out.stdout)
    assert tx["resourceType"] == "Bundle" and tx["type"] == "transaction"
    assert fhirkit.validate(tx) == []
    assert all(e["request"]["method"] in ("POST", "PUT") for e in tx["entry"])
    n_observations = [e["resource"] for e in tx["entry"] if e["resource"]["resourceType"] == "Observation"
                      and any(c["code"] == "21906-3" for c in e["resource"]["code"]["coding"])]
    assert [o["valueCodeableConcept"]["text"] for o in n_observations] == ["cN1", "cN1"]

    hl7_out = run("analyze", str(path), "--tasks", "n_staging", "--format", "hl7")
    assert hl7_out.exit_code == 0, hl7_out.output
    wire = hl7_out.stdout
    assert "\n" not in wire and wire.endswith("\r")  # ER7 on the wire: every segment ends in CR
    messages = ["MSH" + m for m in wire.split("MSH")[1:]]
    assert len(messages) == 2
    for message, acc in zip(messages, ("ACC-7781", "ACC-7782"), strict=True):
        parsed = hl7.parse(message)
        assert str(parsed.segment("MSH")[9]) == "ORU^R01^ORU_R01"
        assert str(parsed.segment("OBR")[3]) == acc
        n_obx = [s for s in parsed.segments("OBX") if str(s[3]).startswith("21906-3")]
        assert str(n_obx[0][5]).split("^")[0] == "cN1"


# ---- analyze and eval: configuration that cannot be used --------------------------------------


def test_a_database_without_schema_or_a_bad_manifest_is_one_line(env: Path) -> None:
    path = _write(env / "dr.json", json.dumps(_dr("dr-r5-3", "ACC-1", LUNG, "Nodule, N1.")).encode())
    result = run("analyze", str(path), "--tasks", "n_staging", RADLITE_AUTO_MIGRATE="false")
    assert_refused(result, 1, "database error", "no such table", "radlite db upgrade")
    bad = _write(env / "models.toml", b"[[models]\nid = ")
    assert_refused(run("analyze", str(path), "--tasks", "n_staging", RADLITE_MODELS=str(bad)), 2,
                   "cannot load the models")
    assert_refused(run("models", "list", RADLITE_MODELS=str(env / "none.toml")), 2, "cannot load the models")
    nli = _write(env / "nli.jsonl", b'{"premise": "No effusion.", "hypothesis": "Effusion.", "label": "contradiction"}')
    assert_refused(run("eval", str(nli), RADLITE_MODELS=str(bad)), 2, "cannot load the models")


def test_an_invalid_setting_is_named_without_its_value(env: Path) -> None:
    result = run("audit", "verify", RADLITE_HTTP_PORT="port-eighty")
    assert_refused(result, 2, "invalid setting RADLITE_HTTP_PORT")
    assert "port-eighty" not in result.output


# ---- eval: files of every shape -----------------------------------------------------------------


def test_eval_mixed_shapes_bom_crlf_and_listed_unknown_labels(env: Path) -> None:
    rows = [
        {"id": "p1", "modality": "MR", "procedure": "MR PROSTATE", "findings": "Left apex PZ 1.1 cm lesion, "
         "markedly hypointense on ADC, focal early enhancement.", "impression": "PI-RADS 4 lesion, left apex.",
         "labels": {"rads": {"system": "PI-RADS", "category": "4", "stated": True}, "ner": ["prostate"]}},
        {"id": "n1", "premise": "Mild bibasilar atelectasis.", "hypothesis": "There is atelectasis.",
         "label": "Entailment"},
        {"id": "n2", "premise": "Mild bibasilar atelectasis.", "hypothesis": "There is atelectasis."},
        "a string",
    ]
    data = "\ufeff\r\n" + "\r\n".join(json.dumps(r) for r in rows) + "\r\n\r\n"
    path = _write(env / "mixed.jsonl", data.encode("utf-8"))
    result = run("eval", str(path), "--rules-only")
    assert result.exit_code == 0, result.output
    assert "radiology_nli" in result.output and "PI-RADS" in result.output
    assert "4 data lines read; 2 item(s) skipped" in result.output
    assert "line 4 (n2)" in result.output and "line 5: line: a JSON str" in result.output
    assert "ner (1 line(s))" in result.output


@pytest.mark.parametrize(("data", "words"), [
    (b"", ["nothing to score"]),
    (b"\xef\xbb\xbf\r\n  \r\n", ["nothing to score"]),
    (b'{"id": "a", "premise": "x", "hypothesis": "y", "label": "neutral"}\n{"id": "b", "premise": \n',
     ["line 2", "not valid JSON"]),
    (b'{"findings": "Kn\xf6tchen"}\n', ["line 1 is not UTF-8"]),
    (b'{"id": "z", "labels": {"rads": "BI-RADS 2"}}\n', ["nothing to score", "no findings and no impression"]),
])
def test_eval_unusable_files_exit_2_naming_why(env: Path, data: bytes, words: list[str]) -> None:
    path = _write(env / "d.jsonl", data)
    assert_refused(run("eval", str(path), "--rules-only"), 2, "cannot evaluate", *words)


# ---- audit and outbox on fresh and empty databases ----------------------------------------------


def test_audit_and_outbox_on_a_database_that_does_not_exist(env: Path) -> None:
    for args in (["audit", "verify"], ["audit", "export"], ["audit", "archive"], ["outbox", "list"],
                 ["outbox", "retry", "1"]):
        assert_refused(run(*args), 2, "no database at", "radlite db upgrade")
    assert not (env / "cli.db").exists()  # a read never creates an empty database
    _write(env / "cli.db", b"")
    assert_refused(run("audit", "verify"), 2, "has no RadLite schema", "audit_events")
    assert_refused(run("outbox", "list"), 2, "has no RadLite schema", "outbound_messages")


def test_an_unreachable_database_is_one_line_without_the_password(env: Path) -> None:
    result = run("audit", "verify", RADLITE_DATABASE_URL="postgresql+psycopg://radlite:s3cr3t-pw@127.0.0.1:1/radlite")
    assert_refused(result, 1, "database error", "127.0.0.1")
    assert "s3cr3t-pw" not in result.output


def test_audit_and_outbox_commands_on_a_fresh_database(env: Path) -> None:
    assert run("db", "upgrade").exit_code == 0
    first = run("audit", "verify")
    assert first.exit_code == 0, first.output
    assert "OK no event in the database" in first.output  # the verify itself is the first event
    assert run("outbox", "list").exit_code == 0 and "no outbound message" in run("outbox", "list").output
    assert_refused(run("audit", "export", "--since", "2026-03-01", "--until", "2026-02-01"), 2, "range is empty")
    assert_refused(run("audit", "export", "--type", "message.recieved"), 2, "unknown event type", "message.received")
    assert_refused(run("audit", "export", "--output", str(env / "no" / "dir" / "x.ndjson")), 2, "cannot write")
    assert_refused(run("audit", "export", "--output", str(env)), 2, "is a directory")
    assert_refused(run("outbox", "list", "--status", "delivered"), 2, "'pending'")
    assert_refused(run("outbox", "retry", "0"), 2, "greater than or equal to 1")
    assert_refused(run("outbox", "retry", "42"), 1, "no outbound message 42")
    blocked = _write(env / "blocked", b"a file where the archive folder should be")
    assert_refused(run("audit", "archive", "--before", "2999-01-01", "--dir", str(blocked / "sub")), 1,
                   "cannot write the archive", "nothing was archived")

    out = env / "export.ndjson"
    exported = run("audit", "export", "--output", str(out), "--type", "audit.read")
    assert exported.exit_code == 0, exported.output
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["detail"]["command"] for e in events] == ["verify"]  # the refusals above recorded nothing
    again = run("audit", "verify")
    assert again.exit_code == 0 and "OK 2 event(s) from 1 to 2" in again.output


def test_export_into_a_pipe_the_reader_closes_early_is_recorded_without_a_traceback(env: Path) -> None:
    """`radlite audit export | head`: a real process whose reader stops after a few bytes."""
    import subprocess
    import sys

    from plugin import audit
    from plugin.settings import Settings
    from plugin.storage.db import make_engine, make_sessionmaker, session_scope

    assert run("db", "upgrade").exit_code == 0
    engine = make_engine(Settings().database_url)
    with session_scope(make_sessionmaker(engine)) as s:  # a trail far larger than a pipe's buffer
        for i in range(3000):
            audit.record(s, audit.AuditRead(actor="reviewer@cli", actor_kind="cli", detail={"page": i}))
    proc = subprocess.Popen([str(Path(sys.executable).parent / "radlite"), "audit", "export"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=env)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == b'{"accessio'
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "reader closed the pipe" in stderr
    with session_scope(make_sessionmaker(engine)) as s:
        (last,) = audit.search(s, audit.AuditFilter(event_types=["audit.read"]), limit=1)
        assert last.detail["command"] == "export" and last.detail["interrupted"] is True
    engine.dispose()
