"""The registry's SQL storage: tables (SQLAlchemy 2), Alembic migrations, SQLite or PostgreSQL engines."""
