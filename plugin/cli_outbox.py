"""`radlite outbox list|retry`: HL7 messages we owe (application ACKs, results as ORU^R01), and
putting parked ones back in line.

They are delivered by the running service; these commands only read the
table and re-queue a failed or unroutable row (after a route was added to
RADLITE_HL7_ROUTES, say). Re-queuing is audited like any other change of state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from plugin import audit, outbox
from plugin.cli_audit import AUDIT_TABLES, _session, _who
from plugin.storage.tables import OutboundMessage

outbox_app = typer.Typer(help="HL7 v2 messages we send (application ACKs, ORU^R01 results): list, retry.",
                         no_args_is_help=True)
err = Console(stderr=True, highlight=False)
OUTBOX_TABLES = ("outbound_messages", *AUDIT_TABLES)


class OutboundStatus(StrEnum):
    """The states plugin.outbox moves a row through (a typo is refused, not answered with an empty list)."""

    pending = "pending"
    sending = "sending"
    sent = "sent"
    failed = "failed"
    unroutable = "unroutable"


@outbox_app.command("list")
def list_outbound(
    status: Annotated[OutboundStatus | None, typer.Option(help="Only rows in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """The newest outbound messages, with where they go and how delivery went (ids and codes only)."""
    with _session(OUTBOX_TABLES) as (_settings, s):
        stmt = select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OutboundMessage.status == status.value)
        rows = s.scalars(stmt).all()
        table = Table(title="Outbound HL7 messages")
        for col in ("id", "kind", "inbound", "code", "destination", "status", "attempts", "reply", "last error"):
            table.add_column(col)
        for r in rows:
            table.add_row(str(r.id), r.kind, str(r.inbound_id or ""), r.code, escape(r.destination or "-"), r.status,
                          str(r.attempts), r.reply_code or "", escape(r.last_error or ""))
    if not rows:
        err.print("no outbound message" + (f" with status {status.value}" if status else ""))
        return
    Console(width=200).print(table)


@outbox_app.command()
def retry(outbound_id: Annotated[int, typer.Argument(min=1, help="Id from `radlite outbox list`.")]) -> None:
    """Put a failed or unroutable message back in line for the running service to deliver."""
    with _session(OUTBOX_TABLES) as (settings, s):
        try:
            row = outbox.requeue(s, outbound_id, settings)
        except (LookupError, ValueError) as exc:
            err.print(f"[red]{escape(str(exc))}[/red]")
            raise typer.Exit(1) from exc
        audit.record(s, audit.OutboundQueued(
            actor=_who(), actor_kind="cli",
            detail={"outbound_id": row.id, "inbound_id": row.inbound_id, "destination": row.destination,
                    "status": row.status, "requeued": True},
        ))
        err.print(f"outbound {row.id} queued for {row.destination}")
