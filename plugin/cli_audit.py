"""`radlite audit verify|export|archive`: thin commands over plugin.audit.

The database URL comes from Settings (RADLITE_DATABASE_URL). `archive` deletes rows, so on
PostgreSQL run it with the URL of the table owner (the maintenance role), never the
service role; see docs/audit.md. Export and verify are reads of the audit log and are
recorded as `audit.read` events like any other.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from sqlalchemy import inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from plugin import audit
from plugin.settings import Settings
from plugin.storage.db import make_engine, make_sessionmaker, session_scope

audit_app = typer.Typer(help="The audit trail: verify the hash chain, export it, archive old events.",
                        no_args_is_help=True)
err = Console(stderr=True, highlight=False)


class ExportFormat(StrEnum):
    ndjson = "ndjson"
    fhir = "fhir"


def load_settings() -> Settings:
    """Settings from RADLITE_* and .env; an invalid one exits 2 naming the setting (never echoing its value)."""
    try:
        return Settings()
    except ValidationError as exc:
        for e in exc.errors():
            name = "RADLITE_" + "_".join(str(part) for part in e["loc"]).upper()
            err.print(f"[red]invalid setting {escape(name)}:[/red] {escape(e['msg'])}")
        raise typer.Exit(2) from None


def _who() -> str:
    try:
        return f"{getpass.getuser()}@cli"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown@cli"


AUDIT_TABLES = ("audit_events", "audit_archives")


def shown_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "RADLITE_DATABASE_URL"


def db_reason(exc: SQLAlchemyError) -> str:
    """The driver's own first line (no SQL, no bound values), e.g. "no such table: x"."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(message)
    return typer.Exit(code)


def _missing_sqlite_file(url: str) -> Path | None:
    """The file a sqlite URL names when it does not exist: connecting would create an empty database."""
    parsed = make_url(url)
    db = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or db in ("", ":memory:") or db.startswith("file:"):
        return None
    return None if Path(db).exists() else Path(db)


def _require_schema(engine: Engine, url: str, tables: tuple[str, ...]) -> None:
    present = set(inspect(engine).get_table_names())
    missing = [t for t in tables if t not in present]
    if missing:
        raise _fail(f"[red]{escape(shown_url(url))} has no RadLite schema[/red] (table {', '.join(missing)} "
                    "missing): run `radlite db upgrade` first")


@contextmanager
def _session(tables: tuple[str, ...] = AUDIT_TABLES) -> Iterator[tuple[Settings, Session]]:
    """Settings and a session on an existing, migrated database; any database failure is a clear exit, no traceback.

    These commands read what the service wrote: they never create a database or its schema.
    """
    settings = load_settings()
    url = settings.database_url
    try:
        missing_file = _missing_sqlite_file(url)
    except ArgumentError:
        raise _fail("[red]RADLITE_DATABASE_URL is not a database URL[/red]") from None
    if missing_file is not None:
        raise _fail(f"[red]no database at {escape(str(missing_file))}[/red] (RADLITE_DATABASE_URL); "
                    "start the service or run `radlite db upgrade` to create it")
    engine = make_engine(url)
    try:
        _require_schema(engine, url, tables)
        with session_scope(make_sessionmaker(engine)) as s:
            yield settings, s
    except SQLAlchemyError as exc:
        raise _fail(f"[red]database error[/red] on {escape(shown_url(url))}: {escape(db_reason(exc))}", 1) from None
    finally:
        engine.dispose()


def _when(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    try:
        return audit.parse_when(value, end_of_day=end_of_day)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD or an ISO 8601 date-time", param_hint=name) from None


def _anchor(value: str | None) -> tuple[int, str] | None:
    if not value:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter("use SEQ:SHA256, as printed by an earlier verify", param_hint="--anchor")
    return int(seq), digest.lower()


@audit_app.command()
def verify(
    anchor: Annotated[str | None, typer.Option(help="SEQ:HASH of a head kept outside the database (detects "
                                                    "rows cut off the end).")] = None,
    archives: Annotated[bool, typer.Option("--archives/--no-archives",
                                           help="Also check each archive file's sha256 and chain.")] = False,
) -> None:
    """Walk the hash chain; exit 1 and name the first broken link when any row was altered."""
    wanted = _anchor(anchor)
    with _session() as (_settings, s):
        result = audit.verify(s, anchor=wanted, check_archives=archives)
        audit.record(s, audit.AuditRead(actor=_who(), actor_kind="cli", detail={
            "command": "verify", "ok": result.ok, "broken_seq": result.broken_seq, "archives_checked": archives}))
    if not result.ok:
        err.print(f"[bold red]BROKEN[/] at event {result.broken_seq}: {result.reason}")
        err.print(f"{result.checked} event(s) verified before it, from event {result.start_seq}.")
        raise typer.Exit(1)
    if result.checked:
        err.print(f"[green]OK[/] {result.checked} event(s) from {result.start_seq} to {result.head_seq}"
                  f" ({result.archives} archive(s) before them)")
    else:
        err.print(f"[green]OK[/] no event in the database after {result.archives} archive(s)")
    err.print(f"anchor: {result.head_seq}:{result.head_hash}")


@audit_app.command()
def export(
    since: Annotated[str | None, typer.Option(help="From this date or instant (UTC), inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date (inclusive) or instant (exclusive).")] = None,
    patient: Annotated[str | None, typer.Option(help="Only this patient id.")] = None,
    accession: Annotated[str | None, typer.Option(help="Only this accession number.")] = None,
    report: Annotated[str | None, typer.Option(help="Only this report key.")] = None,
    user: Annotated[str | None, typer.Option(help="Only this actor (JWT iss/sub, MLLP peer, audit user).")] = None,
    event_type: Annotated[list[str] | None, typer.Option("--type", help="Only these event types (repeatable).")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="ndjson: chain rows; fhir: FHIR R4 AuditEvent "
                                                                "per line.")] = ExportFormat.ndjson,
    output: Annotated[Path | None, typer.Option(help="File to write; default standard output.")] = None,
) -> None:
    """Export matching events, oldest first, as NDJSON chain rows or FHIR R4 AuditEvent NDJSON."""
    flt = audit.AuditFilter(
        patient_id=patient, accession=accession, report_key=report, actor=user, event_types=event_type or [],
        since=_when(since, "--since"), until=_when(until, "--until", end_of_day=True),
    )
    if flt.since and flt.until and flt.until <= flt.since:
        raise typer.BadParameter("the range is empty: --until is not after --since", param_hint="--until")
    if output is not None and output.is_dir():
        raise typer.BadParameter(f"{output} is a directory; name a file", param_hint="--output")
    writer = audit.write_fhir_ndjson if fmt == ExportFormat.fhir else audit.write_ndjson
    with _session() as (_settings, s):
        unknown = sorted(set(flt.event_types) - set(audit.known_event_types(s)))
        if unknown:
            raise typer.BadParameter(f"unknown event type(s) {', '.join(unknown)}; known: "
                                     f"{', '.join(audit.known_event_types(s))}", param_hint="--type")
        try:
            out: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
        except OSError as exc:
            raise _fail(f"[red]cannot write {escape(str(output))}:[/red] {escape(exc.strerror or str(exc))}") from None
        n: int | None = None
        rows = audit.iter_events(s, flt)
        try:
            with closing(rows):  # the cursor closes while the session is still open, even when the reader quits
                n = writer(rows, out)
                out.flush()
        except BrokenPipeError:  # `| head`: the reader has seen part of the trail, which is still a read
            _detach_stdout()
        finally:
            if output:
                out.close()
        audit.record(s, audit.AuditRead(
            actor=_who(), actor_kind="cli", patient_id=flt.patient_id, accession=flt.accession,
            report_key=flt.report_key,
            detail={"command": "export", "format": fmt.value, "filter": flt.as_detail(), "results": n,
                    **({"interrupted": True} if n is None else {})},
        ))
    if n is None:
        err.print("export interrupted: the reader closed the pipe (the read is recorded)")
        raise typer.Exit(1)
    err.print(f"exported {n} event(s)" + (f" to {output}" if output else ""))


def _detach_stdout() -> None:
    """Point stdout at /dev/null after a broken pipe, so the flush at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file descriptor (a test runner's stream)
        pass


@audit_app.command()
def archive(
    before: Annotated[str | None, typer.Option(help="Archive events before this date or instant; default: now "
                                                    "minus RADLITE_AUDIT_RETENTION_DAYS.")] = None,
    directory: Annotated[Path | None, typer.Option("--dir", help="Default RADLITE_AUDIT_ARCHIVE_DIR.")] = None,
) -> None:
    """Move events older than the retention period to NDJSON with their chain head (run as the table owner)."""
    with _session() as (settings, s):
        cutoff = _when(before, "--before") or audit.retention_cutoff(settings.audit_retention_days)
        archive_dir = directory or settings.audit_archive_dir
        try:
            result = audit.archive(s, before=cutoff, archive_dir=archive_dir, actor=_who())
        except audit.AuditChainBroken as exc:
            err.print(f"[bold red]refused[/]: {escape(str(exc))}; nothing was archived")
            raise typer.Exit(1) from None
        except OSError as exc:  # the transaction rolls back: no row leaves the database without its file
            raise _fail(f"[bold red]cannot write the archive[/] in {escape(str(archive_dir))}: "
                        f"{escape(exc.strerror or str(exc))}; nothing was archived", 1) from None
    if result is None:
        err.print(f"nothing older than {cutoff.isoformat()} to archive")
        return
    err.print(f"archived events {result.first_seq}..{result.last_seq} ({result.event_count}) to {result.path}")
    err.print(f"file sha256 {result.file_sha256}; chain head {result.last_seq}:{result.last_hash}")
