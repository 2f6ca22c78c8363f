"""Alembic's entry point: migrations run on the connection docket.catalogue.migrate hands over
(never on a URL of their own), inside its transaction."""

from alembic import context

from docket.catalogue import schema

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    include_object=schema.declared,
    render_as_batch=connection.dialect.name == "sqlite",
)
context.run_migrations()
