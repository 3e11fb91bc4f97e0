"""`flask --app app db grant-runtime ROLE`: the runtime role's privileges on PostgreSQL (run as
the owner role, after every `db upgrade`). A thin wrapper over app.services.dbroles."""

from __future__ import annotations

import click
from flask_migrate.cli import db as migrate_cli

from app.db import db
from app.services import dbroles


@click.command("grant-runtime")
@click.argument("role")
@click.option("--show", is_flag=True, help="Print the statements run.")
def grant_runtime_command(role: str, show: bool) -> None:
    """Grant ROLE exactly what web processes and scheduled jobs need, and revoke the rest.

    Run it as the owner role (the one that runs `db upgrade`), after every upgrade. The
    runtime role gets no UPDATE, DELETE or TRUNCATE on history and owns nothing.
    """
    try:
        statements = dbroles.grant_runtime(db.session(), role)
    except dbroles.RoleError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    if show:
        for statement in statements:
            click.echo(statement + ";")
    click.echo(f"Runtime privileges granted to {role}.")


def register(group: click.Group = migrate_cli) -> None:
    # Flask-Migrate's `db` group, so that it sits next to `db upgrade`.
    group.add_command(grant_runtime_command)
