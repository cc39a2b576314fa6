"""Storage: tables, engine set-up for SQLite and PostgreSQL, Alembic migrations."""
