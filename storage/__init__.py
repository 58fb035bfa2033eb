"""SQLAlchemy 2 models, the session factory, Alembic migrations and the units of work."""
