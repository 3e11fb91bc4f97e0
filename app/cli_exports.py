"""`flask --app app export`: HR's export from the command line, audited with actor "cli"."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from app.clock import utcnow
from app.db import db
from app.services import exports, organisations, reports


@click.command("export")
@click.option("--org", "organisation", required=True, help="The organisation's name.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    default=None,
    help="csv or xlsx (default: from --out's extension, else xlsx).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file to write (default: the usual name, in the current folder).",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(exports.STATES),
    help="Only this status; repeat for several.",
)
@click.option("--directorate", default=None, help="Only this directorate.")
@click.option("--department", default=None, help="Only this department.")
@click.option("--manager", default=None, help="Only this manager's team (e-mail or employee ID).")
@click.option("--overdue-only", is_flag=True, help="Only people past their due date.")
@click.option("--accepted-from", default=None, help="Accepted on or after (YYYY-MM-DD).")
@click.option("--accepted-to", default=None, help="Accepted on or before (YYYY-MM-DD).")
@click.option("--include-leavers", is_flag=True, help="Include people who have left.")
@with_appcontext
def export_command(
    organisation: str,
    fmt: str | None,
    out: Path | None,
    statuses: tuple[str, ...],
    directorate: str | None,
    department: str | None,
    manager: str | None,
    overdue_only: bool,
    accepted_from: str | None,
    accepted_to: str | None,
    include_leavers: bool,
) -> None:
    """Export people and statuses as CSV or Excel, with the same filters as HR's page."""
    session = db.session()
    if fmt is None:
        fmt = "csv" if out is not None and out.suffix.lower() == ".csv" else "xlsx"
    params = {
        "status": list(statuses),
        "directorate": [directorate or ""],
        "department": [department or ""],
        "manager": [manager or ""],
        "overdue_only": ["true" if overdue_only else ""],
        "accepted_from": [accepted_from or ""],
        "accepted_to": [accepted_to or ""],
        "include_leavers": ["true" if include_leavers else ""],
    }
    try:
        org = organisations.find(session, organisation)
        filters = exports.parse_filters(session, org.id, params)
        result = exports.export(
            session, org.id, current_app.config["POLICY_KEY"], filters, fmt, utcnow(), actor="cli"
        )
    except organisations.SettingError as exc:
        raise click.ClickException(str(exc)) from exc
    except exports.FilterError as exc:
        raise click.ClickException(
            "; ".join(f"--{k.replace('_', '-')}: {v}" for k, v in exc.errors.items())
        ) from exc
    except reports.NoPolicy as exc:
        raise click.ClickException("No version of the policy is in force yet.") from exc
    target = out or Path(result.filename)
    # Written first to a temporary file (the service's default), copied a block at a time.
    with result.file:
        try:
            with target.open("wb") as file:
                shutil.copyfileobj(result.file, file)
        except OSError as exc:
            db.session.rollback()  # no file, so no export to record
            raise click.ClickException(f"Could not write {target}: {exc.strerror}") from exc
    db.session.commit()
    click.echo(f"Wrote {result.rows} people to {target}.")
