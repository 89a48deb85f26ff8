"""Alembic environment: always run by `core.store.migrate` on a connection it opened (never from a URL)."""

from __future__ import annotations

from alembic import context

from core.store.schema import metadata

connection = context.config.attributes["connection"]
# Both engines run DDL inside the caller's transaction: SQLite under BEGIN IMMEDIATE, PostgreSQL under an advisory
# lock, so two processes starting at once apply each revision exactly once.
context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
