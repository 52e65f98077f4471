"""audit tables append-only: triggers that refuse UPDATE and DELETE

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 03:50:00

Grants are the first line (the service role gets no UPDATE/DELETE, docs/audit.md); these
triggers are the second, and also hold on SQLite, which has no roles. Retention runs as
the table owner and lifts them inside its own transaction (plugin.audit.append_only_suspended).
The trigger names are repeated in plugin/audit.py on purpose: a migration is a frozen snapshot.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION radlite_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'radlite: % on % refused, the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

# (table, trigger) pairs; the row trigger on audit_events is the one retention disables.
_PG_TRIGGERS = (
    ("audit_events", "audit_events_append_only", "BEFORE UPDATE OR DELETE", "FOR EACH ROW"),
    ("audit_events", "audit_events_no_truncate", "BEFORE TRUNCATE", "FOR EACH STATEMENT"),
    ("audit_archives", "audit_archives_append_only", "BEFORE UPDATE OR DELETE", "FOR EACH ROW"),
    ("audit_archives", "audit_archives_no_truncate", "BEFORE TRUNCATE", "FOR EACH STATEMENT"),
)

_SQLITE_TRIGGERS = (
    ("audit_events", "audit_events_no_update", "UPDATE"),
    ("audit_events", "audit_events_no_delete", "DELETE"),
    ("audit_archives", "audit_archives_no_update", "UPDATE"),
    ("audit_archives", "audit_archives_no_delete", "DELETE"),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        for table, name, when, each in _PG_TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} {when} ON {table} {each} EXECUTE FUNCTION radlite_audit_append_only()")
    elif dialect == "sqlite":
        for table, name, action in _SQLITE_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'radlite: {action} on {table} refused, "
                "the audit trail is append-only'); END"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table, name, _when, _each in _PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS radlite_audit_append_only()")
    elif dialect == "sqlite":
        for _table, name, _action in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
