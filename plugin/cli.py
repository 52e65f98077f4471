"""`radlite`: thin Typer commands over the library; settings come from RADLITE_* and .env."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from models.types import Analysis, TaskName
from plugin.cli_audit import audit_app
from plugin.cli_outbox import outbox_app
from plugin.settings import Settings

app = typer.Typer(help="RadLite CDS: radiology decision support over CDS Hooks, HL7 v2 and FHIR R4.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
models_app = typer.Typer(help="The model manifest and files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")
app.add_typer(outbox_app, name="outbox")

err = Console(stderr=True)


def _settings() -> Settings:
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


@app.command()
def serve() -> None:
    """Serve HTTP (CDS Hooks, HL7 over HTTP, FHIR $analyze, audit page) and MLLP."""
    import uvicorn

    from plugin.app import create_app

    settings = _settings()
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_level=settings.log_level.lower())


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Bring the database in RADLITE_DATABASE_URL to the newest schema."""
    from plugin.storage.db import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    err.print(f"database upgraded to {revision}")


def _read_reports(path: Path) -> tuple[list[Any], str]:
    """Reports from an HL7 v2 file, a FHIR JSON file or plain report text; bad input exits 2."""
    from adapters import fhir
    from adapters import hl7 as hl7v2
    from adapters.text import TextInputError, report_from_text

    raw = path.read_bytes()
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        try:
            return fhir.reports_from_resource(json.loads(raw)), "fhir"
        except (ValueError, fhir.FhirInputError) as exc:
            err.print(f"[red]not a usable FHIR DiagnosticReport:[/red] {exc}")
            raise typer.Exit(2) from exc
    # ER7 starts with a segment id and a field separator (MSH|, or PID| when MSH is lost):
    # read that as HL7 so that a broken message gets its HL7 error, not a text analysis.
    if not (head.startswith(b"\x0b") or re.match(rb"[A-Z][A-Z0-9]{2}\|", head)):
        try:
            return [report_from_text(raw)], "text"
        except TextInputError as exc:
            err.print(f"[red]not a usable report text:[/red] {exc}")
            raise typer.Exit(2) from exc
    try:
        return hl7v2.parse_oru(raw).reports, "hl7v2"
    except hl7v2.Hl7Error as exc:
        err.print(f"[red]HL7 error {exc.err_code} at {exc.location}:[/red] {exc.text}")
        raise typer.Exit(2) from exc


def _answered_by(analyses: list[Analysis]) -> Table:
    table = Table(title="Who answered")
    for col in ("report", "task", "value", "decided by", "model", "backend", "confidence"):
        table.add_column(col)
    for a in analyses:
        for r in a.results:
            table.add_row(
                a.report.report_id, r.task.value, _value_text(r), r.decided_by, r.model.model_id + (" (demo)" if r.model.demo else ""),
                r.model.backend, f"{r.confidence:.2f}",
            )
        for task, error in a.errors.items():
            table.add_row(a.report.report_id, task, f"[red]{error}[/red]", "-", "-", "-", "-")
    return table


def _value_text(result: Any) -> str:
    from models.catalog import CATALOG

    text = CATALOG[result.task].value_text(result.value)
    return text if len(text) < 60 else text[:57] + "..."


@app.command()
def analyze(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="HL7 v2 ORU^R01, FHIR JSON or plain report text.")],
    format: Annotated[str, typer.Option("--format", help="json | fhir-bundle | hl7")] = "json",
    tasks: Annotated[str | None, typer.Option("--tasks", help="Comma-separated tasks; default: the planner's choice.")] = None,
    question: Annotated[str | None, typer.Option("--question", help="Question for radiology_qa.")] = None,
) -> None:
    """Analyse one file in process and print the results (our smoke test, like `serve --get`)."""
    if format not in ("json", "fhir-bundle", "hl7"):
        err.print("--format must be json, fhir-bundle or hl7")
        raise typer.Exit(2)
    try:
        requested = [TaskName(t.strip()) for t in tasks.split(",") if t.strip()] if tasks else None
    except ValueError as exc:
        err.print(f"unknown task: {exc}; known: {', '.join(t.value for t in TaskName)}")
        raise typer.Exit(2) from exc

    from adapters import fhir
    from adapters import hl7 as hl7v2
    from models.ensemble import Ensemble
    from plugin.pipeline import Actor, Pipeline
    from plugin.storage.db import make_engine, make_sessionmaker, upgrade

    settings = _settings()
    reports, kind = _read_reports(file)
    if not reports:
        err.print(f"[red]no report to analyse:[/red] the {kind} input holds no DiagnosticReport or ORU^R01 report")
        raise typer.Exit(2)
    if settings.auto_migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    ensemble = Ensemble.load(settings.models)
    pipeline = Pipeline(settings, make_sessionmaker(engine), ensemble)
    try:
        analyses = [
            pipeline.analyse_sync(r, actor=Actor(id="cli", kind="cli"), tasks=requested, question=question) for r in reports
        ]
    finally:
        pipeline.close()
        ensemble.close()
        engine.dispose()
    err.print(_answered_by(analyses))
    out = sys.stdout
    if format == "json":
        out.write(json.dumps([a.model_dump(mode="json") for a in analyses], indent=2) + "\n")
    elif format == "fhir-bundle":
        bundle = fhir.merge_transactions(fhir.transaction_bundle(a) for a in analyses)
        out.write(json.dumps(bundle, indent=2) + "\n")
    else:
        out.write("\n".join(hl7v2.analysis_to_oru(a).replace("\r", "\n") for a in analyses))
    if any(a.errors for a in analyses):
        raise typer.Exit(1)


@app.command("eval")
def evaluate(
    dataset: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="reports.jsonl or nli.jsonl shaped file.")],
    rules_only: Annotated[bool, typer.Option("--rules-only", help="Evaluate the rules engine only (no model runs).")] = False,
    with_ensemble: Annotated[bool, typer.Option(
        "--ensemble/--no-ensemble", help="Also score the plugin's own answers: routed models, rules and grounding.")] = True,
) -> None:
    """The paper's metrics per task, per RADS system and the RADS severity profile.

    Each manifest model answers every task on its own (as the paper compares models); the
    `ensemble` row is what the plugin returns, after the rules' cross-check and grounding.
    Critical results and laterality are scored for the rules engine and the ensemble. Labels
    that cannot be scored are skipped and listed; a file that is not JSON Lines exits 2.
    """
    from models.ensemble import Ensemble
    from models.evaluation import evaluate as run_eval
    from models.rules import RulesEngine

    settings = _settings()
    data = _load_dataset(dataset)
    rules = RulesEngine()
    runners: dict[str, Any] = {"rules": rules.stated}
    facts: dict[str, Any] = {"rules": rules.facts}
    ensemble = None
    if not rules_only:
        ensemble = Ensemble.load(settings.models, rules=rules)
        for entry in ensemble.manifest.models:
            runners[entry.id] = _model_runner(ensemble, entry.id)
        if with_ensemble:
            runners["ensemble"] = ensemble.run
            facts["ensemble"] = ensemble.facts
    try:
        report = run_eval(data, runners=runners, facts=facts, progress=True)
    finally:
        if ensemble is not None:
            ensemble.close()
    report.render(Console())


def _load_dataset(path: Path) -> Any:
    """The dataset's cases; an unreadable file, a line that is not JSON or nothing to score exits 2."""
    from rich.markup import escape

    from models.evaluation import DatasetError, load_dataset

    try:
        return load_dataset(path)
    except (DatasetError, OSError) as exc:
        err.print(f"[red]cannot evaluate {escape(str(path))}:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


def _model_runner(ensemble: Any, model_id: str) -> Any:
    """A runner that sends every task to one model (not the routed ensemble), as the paper compares."""
    from models.catalog import CATALOG

    backend = ensemble.backend_by_id(model_id)
    return lambda request: backend.run(CATALOG[request.task], request)


@models_app.command("list")
def models_list() -> None:
    """The manifest: models, roles, routing and the manifest version."""
    from models.manifest import load_manifest

    settings = _settings()
    manifest = load_manifest(settings.models)
    table = Table(title=f"Model manifest {manifest.version}")
    for col in ("id", "role", "backend", "path", "sha256", "demo"):
        table.add_column(col)
    for m in manifest.models:
        table.add_row(m.id, m.role, m.backend, str(m.path), (m.sha256 or "")[:16], "yes" if m.demo else "no")
    Console().print(table)
    routing = Table(title="Routing")
    routing.add_column("task")
    routing.add_column("model")
    for task, model_id in manifest.routing.items():
        routing.add_row(task.value if hasattr(task, "value") else str(task), model_id)
    Console().print(routing)


@models_app.command("check")
def models_check() -> None:
    """Verify every model file against its sha256 (exits 1 on any mismatch)."""
    from models.manifest import load_manifest

    settings = _settings()
    manifest = load_manifest(settings.models)
    failed = False
    for m in manifest.models:
        try:
            m.verified_sha256()
            err.print(f"[green]ok[/green] {m.id} {m.path}")
        except Exception as exc:  # report every model, then exit non-zero
            failed = True
            err.print(f"[red]FAILED[/red] {m.id}: {exc}")
    if failed:
        raise typer.Exit(1)
