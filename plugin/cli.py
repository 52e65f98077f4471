"""`radlite`: thin Typer commands over the library; settings come from RADLITE_* and .env."""

from __future__ import annotations

import codecs
import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from models.types import Analysis, TaskName
from plugin.cli_audit import audit_app, load_settings
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
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return settings


@contextmanager
def _clear_failures() -> Iterator[None]:
    """A model manifest, model file or database that cannot be used is one line on stderr, not a traceback."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from models.backends.base import BackendError
    from models.demo import DemoModelMissing
    from models.manifest import ManifestError
    from plugin.cli_audit import db_reason, shown_url

    try:
        yield
    except (ManifestError, DemoModelMissing, BackendError) as exc:
        err.print(f"[red]cannot load the models:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except SQLAlchemyError as exc:
        settings = Settings()
        hint = "" if settings.auto_migrate else " (RADLITE_AUTO_MIGRATE is off: has `radlite db upgrade` run?)"
        err.print(f"[red]database error[/red] on {escape(shown_url(settings.database_url))}: "
                  f"{escape(db_reason(exc))}{hint}")
        raise typer.Exit(1) from None
    except CommandError as exc:
        err.print(f"[red]database migration failed:[/red] {escape(str(exc))}")
        raise typer.Exit(1) from None


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
    with _clear_failures():
        upgrade(settings.database_url, revision)
    err.print(f"database upgraded to {revision}")


# Byte order marks other than UTF-8's (Windows Notepad's "Unicode" is UTF-16 LE); UTF-32 first,
# since its LE mark starts with UTF-16 LE's.
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
              (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _utf8_bytes(raw: bytes) -> bytes:
    """A file with a byte order mark as UTF-8 without it (the same text is the same report); others as they came."""
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8):]
    for bom, codec in _WIDE_BOMS:
        if raw.startswith(bom):
            try:
                return raw.decode(codec).encode("utf-8")
            except UnicodeDecodeError as exc:
                err.print(f"[red]not readable as {codec.upper()}[/red] (byte {exc.start}), though the file starts "
                          "with its byte order mark")
                raise typer.Exit(2) from exc
    return raw


def _report_text(raw: bytes, encoding: str | None) -> bytes | str:
    """Plain report text: as it came without --encoding (it must be UTF-8), else decoded as told.

    The character set is never guessed: a wrong guess changes the text the models read. Text
    that is not UTF-8 is refused with a hint to name its set (a Windows RIS export is cp1252).
    """
    if encoding is None:
        return raw
    try:
        return raw.decode(encoding).removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        err.print(f"[red]not a usable report text:[/red] not {escape(encoding)} text (byte {exc.start})")
        raise typer.Exit(2) from exc


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _read_reports(path: Path, encoding: str | None = None) -> tuple[list[Any], str]:
    """Reports from an HL7 v2 file, a FHIR JSON file or plain report text; bad input exits 2."""
    from adapters import fhir
    from adapters import hl7 as hl7v2
    from adapters.text import TextInputError, report_from_text

    try:
        raw = _utf8_bytes(path.read_bytes())
    except OSError as exc:
        err.print(f"[red]cannot read the file:[/red] {escape(exc.strerror or type(exc).__name__)}")
        raise typer.Exit(2) from exc
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        try:
            return fhir.reports_from_resource(json.loads(raw)), "fhir"
        except (ValueError, fhir.FhirInputError) as exc:
            err.print(f"[red]not a usable FHIR DiagnosticReport:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from exc
    # ER7 starts with a segment id and a field separator (MSH|, or PID| when MSH is lost):
    # read that as HL7 so that a broken message gets its HL7 error, not a text analysis.
    if not (head.startswith(b"\x0b") or re.match(rb"[A-Z][A-Z0-9]{2}\|", head)):
        try:
            return [report_from_text(_report_text(raw, encoding))], "text"
        except TextInputError as exc:
            hint = "" if encoding or _is_utf8(raw) else "; if it is Windows or Latin-1 text, pass --encoding cp1252"
            err.print(f"[red]not a usable report text:[/red] {escape(str(exc))}{hint}")
            raise typer.Exit(2) from exc
    try:
        return hl7v2.parse_oru(raw).reports, "hl7v2"
    except hl7v2.Hl7Error as exc:
        err.print(f"[red]HL7 error {exc.err_code} at {escape(str(exc.location))}:[/red] {escape(str(exc.text))}")
        raise typer.Exit(2) from exc


def _answered_by(analyses: list[Analysis]) -> Table:
    table = Table(title="Who answered")
    table.add_column("report", overflow="fold")  # the id in full, however narrow the terminal: two may share a prefix
    for col in ("task", "value", "decided by", "model", "backend", "confidence"):
        table.add_column(col)
    for a in analyses:
        for r in a.results:
            table.add_row(
                a.report.report_id, r.task.value, escape(_value_text(r)), r.decided_by,
                escape(r.model.model_id) + (" (demo)" if r.model.demo else ""),
                r.model.backend, f"{r.confidence:.2f}",
            )
        for task, error in a.errors.items():  # "Kind: detail"; the detail may quote the report, so the kind only
            table.add_row(a.report.report_id, task, f"[red]{escape(error.split(':')[0])}[/red]", "-", "-", "-", "-")
    return table


def _value_text(result: Any) -> str:
    """The answer for the stderr table: labels as they are; free text (impression, QA, entities) only by
    size, since it may quote names from the report and stderr often ends up in a log. Stdout has it all."""
    from models.catalog import CATALOG
    from models.types import EntitiesValue, TextValue

    text = CATALOG[result.task].value_text(result.value)
    if isinstance(result.value, TextValue | EntitiesValue):
        return f"(text, {len(text)} chars)"
    return text if len(text) < 60 else text[:57] + "..."


@app.command()
def analyze(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="HL7 v2 ORU^R01, FHIR JSON or plain report text.")],
    format: Annotated[str, typer.Option("--format", help="json | fhir-bundle | hl7")] = "json",
    tasks: Annotated[str | None, typer.Option("--tasks", help="Comma-separated tasks; default: the planner's choice.")] = None,
    question: Annotated[str | None, typer.Option("--question", help="Question for radiology_qa.")] = None,
    encoding: Annotated[str | None, typer.Option(
        "--encoding", help="Character set of a plain-text FILE without BOM, e.g. cp1252 (default UTF-8).")] = None,
) -> None:
    """Analyse one file in process and print the results (our smoke test, like `serve --get`)."""
    if format not in ("json", "fhir-bundle", "hl7"):
        err.print("--format must be json, fhir-bundle or hl7")
        raise typer.Exit(2)
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError as exc:
            err.print(f"--encoding: unknown character set {escape(repr(encoding))}")
            raise typer.Exit(2) from exc
    requested = _requested_tasks(tasks, question)

    from adapters import fhir
    from adapters import hl7 as hl7v2

    settings = _settings()
    reports, kind = _read_reports(file, encoding)
    if not reports:
        err.print(f"[red]no report to analyse:[/red] the {kind} input holds no DiagnosticReport or ORU^R01 report")
        raise typer.Exit(2)
    with _clear_failures():
        analyses = _analyse(settings, reports, requested, question)
    err.print(_answered_by(analyses))
    out = sys.stdout
    if format == "json":
        out.write(json.dumps([a.model_dump(mode="json") for a in analyses], indent=2) + "\n")
    elif format == "fhir-bundle":
        bundle = fhir.merge_transactions(fhir.transaction_bundle(a) for a in analyses)
        out.write(json.dumps(bundle, indent=2) + "\n")
    else:
        # Segments end in CR as on the wire, so a file or pipe holds valid ER7; a terminal gets LF to be readable.
        messages = "".join(hl7v2.analysis_to_oru(a) for a in analyses)
        out.write(messages.replace("\r", "\n") if out.isatty() else messages)
    if any(a.errors for a in analyses):
        raise typer.Exit(1)


def _requested_tasks(tasks: str | None, question: str | None) -> list[TaskName] | None:
    """--tasks as TaskNames (any case, repeats once); None for the planner's choice. Bad names exit 2.

    radiology_qa needs --question, and --question needs radiology_qa: given alone it asks for that only.
    """
    requested: list[TaskName] | None = None
    if tasks is not None:
        names = list(dict.fromkeys(t.strip().lower() for t in tasks.split(",") if t.strip()))
        unknown = [n for n in names if n not in TaskName._value2member_map_]
        if unknown or not names:
            what = f"unknown task(s) {', '.join(unknown)}" if unknown else "--tasks names no task"
            err.print(f"[red]{escape(what)}[/red]; known: {', '.join(t.value for t in TaskName)}")
            raise typer.Exit(2)
        requested = [TaskName(n) for n in names]
    asked = question is not None and bool(question.strip())
    if question is not None and not asked:
        err.print("[red]--question is empty[/red]")
        raise typer.Exit(2)
    if requested is None and asked:
        err.print("--question without --tasks: answering radiology_qa only")
        return [TaskName.radiology_qa]
    if requested is not None and asked and TaskName.radiology_qa not in requested:
        err.print("[red]--question is for radiology_qa[/red]: add radiology_qa to --tasks")
        raise typer.Exit(2)
    if requested is not None and TaskName.radiology_qa in requested and not asked:
        err.print("[red]radiology_qa needs --question[/red] (the question to answer from the report)")
        raise typer.Exit(2)
    return requested


def _analyse(settings: Settings, reports: list[Any], requested: list[TaskName] | None,
             question: str | None) -> list[Analysis]:
    from models.ensemble import Ensemble
    from plugin.pipeline import Actor, Pipeline
    from plugin.storage.db import make_engine, make_sessionmaker, upgrade

    if settings.auto_migrate:
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        ensemble = Ensemble.load(settings.models)
        pipeline = Pipeline(settings, make_sessionmaker(engine), ensemble)
        try:
            return [pipeline.analyse_sync(r, actor=Actor(id="cli", kind="cli"), tasks=requested, question=question)
                    for r in reports]
        finally:
            pipeline.close()
            ensemble.close()
    finally:
        engine.dispose()


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
        with _clear_failures():
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
    with _clear_failures():
        manifest = load_manifest(settings.models)
        version = manifest.version  # hashes the files: an unreadable one is one line too
    table = Table(title=f"Model manifest {version}")
    for col in ("id", "role", "backend", "path", "sha256", "n_ctx", "threads", "think", "lora", "demo"):
        table.add_column(col)
    for m in manifest.models:
        lora = f"{Path(m.lora_path).name} x{m.lora_scale}" if m.lora_path else "-"
        table.add_row(m.id, m.role, m.backend, str(m.path), (m.sha256 or "")[:16], str(m.n_ctx), str(m.n_threads),
                      "prefill" if m.think_prefill else "-", lora, "yes" if m.demo else "no")
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
    with _clear_failures():
        manifest = load_manifest(settings.models)
    failed = False
    for m in manifest.models:
        try:
            sha = m.verified_sha256()
            lora = m.verified_lora_sha256()
            # The hashes in full, so that they can be pinned in the manifest (sha256 = / lora_sha256 =).
            err.print(f"[green]ok[/green] {m.id} {m.path} sha256={sha or '-'} lora_sha256={lora or '-'}")
        except Exception as exc:  # report every model, then exit non-zero
            failed = True
            err.print(f"[red]FAILED[/red] {m.id}: {exc}")
    if failed:
        raise typer.Exit(1)
