"""The `radlite` commands, driven through Typer's CliRunner on real files and a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.demo import DEMO_SHA256
from plugin.cli import app


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # .env and the default SQLite file stay in the temp dir
    monkeypatch.setenv("RADLITE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return tmp_path


def test_db_upgrade(env: Path) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (env / "cli.db").exists()


def test_analyze_fhir_json_with_named_tasks(env: Path, dev: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", str(dev / "fhir" / "dr-03.json"), "--tasks", "rads_assignment,m_staging"])
    assert result.exit_code == 0, result.output
    analyses = json.loads(result.stdout[result.stdout.index("[") :])
    assert len(analyses) == 1
    tasks = [r["task"] for r in analyses[0]["results"]]
    assert tasks == ["rads_assignment", "m_staging"]
    rads = analyses[0]["results"][0]
    assert rads["value"]["system"] == "TI-RADS" and rads["value"]["category"] == "TR4"
    assert rads["decided_by"] in ("rules", "model+rules")
    for r in analyses[0]["results"]:
        assert r["model"]["model_id"] and r["model"]["backend"]


def test_analyze_hl7_to_hl7_and_fhir_bundle(env: Path, dev: Path) -> None:
    path = str(dev / "hl7" / "oru-01.hl7")
    hl7_out = CliRunner().invoke(app, ["analyze", path, "--tasks", "rads_assignment", "--format", "hl7"])
    assert hl7_out.exit_code == 0, hl7_out.output
    assert "ORU^R01" in hl7_out.stdout and "BI-RADS" in hl7_out.stdout
    bundle_out = CliRunner().invoke(app, ["analyze", path, "--tasks", "rads_assignment", "--format", "fhir-bundle"])
    assert bundle_out.exit_code == 0, bundle_out.output
    bundle = json.loads(bundle_out.stdout[bundle_out.stdout.index("{") :])
    assert bundle["type"] == "transaction"


def test_analyze_refuses_bad_input_with_exit_2(env: Path, dev: Path) -> None:
    for path in (dev / "hl7" / "bad" / "01-missing-msh.hl7", dev / "fhir" / "bad" / "wrong-resource-type.json"):
        result = CliRunner().invoke(app, ["analyze", str(path)])
        assert result.exit_code == 2, (path.name, result.output)
    unknown = CliRunner().invoke(app, ["analyze", str(dev / "fhir" / "dr-03.json"), "--tasks", "nonsense"])
    assert unknown.exit_code == 2


def test_analyze_plain_text_report(env: Path, dev_reports: dict[str, dict]) -> None:
    row = next(r for r in dev_reports.values() if (r["labels"]["rads"] or {}).get("stated"))
    path = env / "report.txt"
    path.write_text(f"EXAM: {row['procedure']}\nFINDINGS:\n{row['findings']}\n\nIMPRESSION:\n{row['impression']}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(path), "--tasks", "rads_assignment"])
    assert result.exit_code == 0, result.output
    (analysis,) = json.loads(result.stdout[result.stdout.index("[") :])
    report = analysis["report"]
    assert report["source_format"] == "text" and report["report_id"].startswith("text-")
    assert report["procedure"] == row["procedure"] and report["modality"] == row["modality"]
    assert report["impression"] == row["impression"].strip() and report["findings"] == row["findings"].strip()
    assert "report.txt" not in result.stdout  # the file name never becomes an id
    (rads,) = analysis["results"]
    assert rads["value"]["system"] == row["labels"]["rads"]["system"]
    assert rads["value"]["category"] == row["labels"]["rads"]["category"]


def test_analyze_refuses_unreadable_text_with_exit_2(env: Path) -> None:
    for name, data in (("empty.txt", b"  \n"), ("latin1.txt", "Befund: Kn\xf6tchen".encode("latin-1")), ("bin.dat", b"\x00\x01\x02")):
        path = env / name
        path.write_bytes(data)
        result = CliRunner().invoke(app, ["analyze", str(path)])
        assert result.exit_code == 2, (name, result.output)


def test_models_list_and_check(env: Path) -> None:
    listed = CliRunner().invoke(app, ["models", "list"])
    assert listed.exit_code == 0, listed.output
    assert "rads_assignment" in listed.output
    checked = CliRunner().invoke(app, ["models", "check"])
    assert checked.exit_code == 0, checked.output
    # The full hash is printed, so that an operator can pin it in the manifest.
    assert f"sha256={DEMO_SHA256}" in checked.output.replace("\n", "")


def test_eval_rules_only_on_dev(env: Path, dev: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(dev / "reports.jsonl"), "--rules-only"])
    assert result.exit_code == 0, result.output
    assert "BI-RADS" in result.output


def test_eval_compares_each_manifest_model_with_the_rules(env: Path, dev: Path) -> None:
    """Without --rules-only every manifest model answers every task on its own, beside the rules."""
    rows = (dev / "nli.jsonl").read_text().splitlines()[:3]
    dataset = env / "slice.jsonl"
    dataset.write_text("\n".join(rows) + "\n")
    result = CliRunner().invoke(app, ["eval", str(dataset)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    from models.manifest import load_manifest

    for entry in load_manifest(None).models:
        assert entry.id in result.output, entry.id
    assert "ensemble" in result.output  # the plugin's own answers, beside each model's


def test_eval_invalid_json_names_the_line_and_exits_2(env: Path, dev: Path) -> None:
    good = (dev / "reports.jsonl").read_text().splitlines()[0]
    dataset = env / "broken.jsonl"
    dataset.write_text(f"{good}\n{{\"id\": \"x\", \n{good}\n")
    result = CliRunner().invoke(app, ["eval", str(dataset), "--rules-only"], env={"COLUMNS": "250"})
    assert result.exit_code == 2, result.output
    assert "line 2" in result.output and "not valid JSON" in result.output
    assert "Traceback" not in result.output


def test_eval_scores_an_odd_file_and_counts_the_skips(env: Path, dev: Path) -> None:
    """CRLF, a blank line, unknown fields, labels in other case, a line it cannot use, no final newline."""
    rows = [json.loads(line) for line in (dev / "reports.jsonl").read_text().splitlines()[:2]]
    rows[0]["labels"]["rads"] = "bi-rads " + rows[0]["labels"]["rads"]["category"]
    rows[0]["extra"] = {"unknown": True}
    rows[1]["labels"]["n_stage"] = "NX"
    lines = [json.dumps(r, ensure_ascii=False) for r in rows] + ['{"note": "neither"}']
    dataset = env / "odd.jsonl"
    dataset.write_bytes(("\r\n".join(lines[:2]) + "\r\n\r\n" + lines[2]).encode("utf-8"))
    result = CliRunner().invoke(app, ["eval", str(dataset), "--rules-only"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "3 data lines read; 2 item(s) skipped" in result.output
    assert "line 4" in result.output and "NX" in result.output  # the blank line is line 3
    assert "critical" in result.output and "laterality" in result.output


def test_eval_empty_file_exits_2(env: Path) -> None:
    dataset = env / "empty.jsonl"
    dataset.write_text("\n\n")
    result = CliRunner().invoke(app, ["eval", str(dataset), "--rules-only"])
    assert result.exit_code == 2 and "nothing to score" in result.output


def test_analyze_hl7_with_lf_segment_ends_and_a_fhir_bundle(env: Path, dev: Path) -> None:
    lf = env / "lf.hl7"
    lf.write_bytes((dev / "hl7" / "oru-01.hl7").read_bytes().replace(b"\r", b"\n"))
    result = CliRunner().invoke(app, ["analyze", str(lf), "--tasks", "rads_assignment"])
    assert result.exit_code == 0, result.output
    (analysis,) = json.loads(result.stdout[result.stdout.index("[") :])
    assert analysis["report"]["source_format"] == "hl7v2"
    assert analysis["results"][0]["value"]["category"] == "1"  # dev-001, BI-RADS 1
    resource = json.loads((dev / "fhir" / "dr-03.json").read_text())
    bundle = env / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"fullUrl": "urn:uuid:1", "resource": resource}]}))
    result = CliRunner().invoke(app, ["analyze", str(bundle), "--tasks", "rads_assignment"])
    assert result.exit_code == 0, result.output
    (analysis,) = json.loads(result.stdout[result.stdout.index("[") :])
    assert analysis["results"][0]["value"]["category"] == "TR4"


def test_analyze_an_empty_bundle_exits_2(env: Path) -> None:
    bundle = env / "empty-bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}))
    result = CliRunner().invoke(app, ["analyze", str(bundle)])
    assert result.exit_code == 2, result.output
    assert "no report to analyse" in result.output
