"""`flask --app app people ...`: retention and anonymisation (the rules themselves are set
with `flask org set` or on HR's settings page). Thin wrappers over app.services.people."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.clock import today, utcnow
from app.db import db
from app.services import jobs, organisations
from app.services import people as people_service

people_cli = AppGroup(
    "people", help="People's records: retention and anonymisation (rules: `flask org show`)."
)


@people_cli.command("anonymise")
@click.option("--org", "organisation", required=True, help="The organisation's name.")
@click.option("--dry-run", is_flag=True, help="List who is due, and change nothing.")
def anonymise_command(organisation: str, dry_run: bool) -> None:
    """Anonymise the leavers whose retention period has ended (never those on legal hold).

    Run it from cron, e.g. weekly. Personal details go; the figures and the audit trail stay.
    """
    try:
        org = organisations.find(db.session(), organisation)
    except organisations.SettingError as exc:
        raise click.ClickException(str(exc)) from exc
    if not dry_run:
        # A run started at the same moment on another machine waits here, then finds that
        # nobody is due any more (anonymise_leaver() also refuses a second time on its own).
        jobs.run_alone(db.session(), "people anonymise", org.id)
    day = today()
    due = people_service.due_for_anonymisation(db.session(), org, day)
    if not due:
        click.echo(f"{org.name}: nobody is due for anonymisation on {day.isoformat()}.")
        return
    for person in due:
        ends = people_service.retention_ends(person, org)
        years = people_service.retention_years(person, org)
        click.echo(
            f"person {person.id}  employee id {person.employee_id or '-'}  left "
            f"{person.left_on}  kept {years} years, until {ends}"
        )
    if dry_run:
        click.echo(f"Dry run: {len(due)} due; nothing changed.")
        db.session.rollback()
        return
    now = utcnow()
    done = 0
    for person in due:
        person_id = person.id
        try:
            people_service.anonymise(db.session(), person, now, actor="cli")
        except (people_service.OnLegalHold, people_service.NotDue) as exc:
            # On PostgreSQL the database checks again, by its own date: it has the last word.
            click.echo(f"person {person_id} not anonymised: {exc}", err=True)
            continue
        done += 1
    db.session.commit()
    click.echo(f"Anonymised {done}.")
