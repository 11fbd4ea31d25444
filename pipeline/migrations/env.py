"""Alembic environment: runs migrations on the connection carscout hands over."""

from __future__ import annotations

from alembic import context

from pipeline.schema import metadata

config = context.config


def run_migrations_online() -> None:
    """Run the migrations on ``config.attributes['connection']`` (or the configured URL)."""
    connection = config.attributes.get("connection")
    if connection is None:
        import sqlalchemy as sa

        engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _configure_and_run(conn)
        return
    _configure_and_run(connection)


def _configure_and_run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
