"""`radlite audit verify|export|archive`: thin commands over plugin.audit.

The database URL comes from Settings (RADLITE_DATABASE_URL). `archive` deletes rows, so on
PostgreSQL run it with the URL of the table owner (the maintenance role), never the
service role; see docs/audit.md. Export and verify are reads of the audit log and are
recorded as `audit.read` events like any other.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
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


def _who() -> str:
    try:
        return f"{getpass.getuser()}@cli"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown@cli"


@contextmanager
def _session() -> Iterator[tuple[Settings, Session]]:
    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            yield settings, s
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
    err.print(f"[green]OK[/] {result.checked} event(s) from {result.start_seq} to {result.head_seq}"
              f" ({result.archives} archive(s) before them)")
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
    writer = audit.write_fhir_ndjson if fmt == ExportFormat.fhir else audit.write_ndjson
    with _session() as (_settings, s):
        out: TextIO = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            n = writer(audit.iter_events(s, flt), out)
        finally:
            if output:
                out.close()
        audit.record(s, audit.AuditRead(
            actor=_who(), actor_kind="cli", patient_id=flt.patient_id, accession=flt.accession,
            report_key=flt.report_key,
            detail={"command": "export", "format": fmt.value, "filter": flt.as_detail(), "results": n},
        ))
    err.print(f"exported {n} event(s)" + (f" to {output}" if output else ""))


@audit_app.command()
def archive(
    before: Annotated[str | None, typer.Option(help="Archive events before this date or instant; default: now "
                                                    "minus RADLITE_AUDIT_RETENTION_DAYS.")] = None,
    directory: Annotated[Path | None, typer.Option("--dir", help="Default RADLITE_AUDIT_ARCHIVE_DIR.")] = None,
) -> None:
    """Move events older than the retention period to NDJSON with their chain head (run as the table owner)."""
    with _session() as (settings, s):
        cutoff = _when(before, "--before") or audit.retention_cutoff(settings.audit_retention_days)
        try:
            result = audit.archive(s, before=cutoff, archive_dir=directory or settings.audit_archive_dir, actor=_who())
        except audit.AuditChainBroken as exc:
            err.print(f"[bold red]refused[/]: {exc}; nothing was archived")
            raise typer.Exit(1) from None
    if result is None:
        err.print(f"nothing older than {cutoff.isoformat()} to archive")
        return
    err.print(f"archived events {result.first_seq}..{result.last_seq} ({result.event_count}) to {result.path}")
    err.print(f"file sha256 {result.file_sha256}; chain head {result.last_seq}:{result.last_hash}")
