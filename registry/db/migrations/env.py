"""Alembic's environment: migrations run on the engine the caller hands over (no alembic.ini)."""

from __future__ import annotations

from alembic import context

from registry.db.tables import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
