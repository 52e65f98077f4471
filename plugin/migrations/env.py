"""Alembic environment: URL from the caller's config (built from Settings), metadata from tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from plugin.storage.db import make_engine
from plugin.storage.tables import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "alembic needs sqlalchemy.url (use plugin.storage.db.alembic_config)"
    engine = make_engine(url, poolclass=pool.NullPool)  # one short-lived connection per migration run
    with engine.connect() as connection:
        # Batch mode: SQLite cannot ALTER most things in place.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
