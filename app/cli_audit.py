"""`flask --app app audit ...`: verify the audit chains, and anchor them outside the database
with signed checkpoints (app/services/anchoring.py)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app, render_template
from flask.cli import AppGroup

from app.clock import long_datetime, utcnow
from app.db import db
from app.services import anchoring, audit, jobs
from app.services.mail import Mailer, MailError, message

audit_cli = AppGroup("audit", help="The tamper-evident audit trail.")


def _anchor_key() -> bytes:
    config = current_app.config
    try:
        return anchoring.anchor_key(config["AUDIT_ANCHOR_KEY"], config["SECRET_KEY"])
    except anchoring.AnchorKeyError as exc:
        raise click.ClickException(f"{exc}: checkpoints cannot be made or checked.") from exc


@audit_cli.command("verify")
@click.option(
    "--checkpoints",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="A checkpoint file, or the directory of them: each chain must still extend every one.",
)
def audit_verify_command(checkpoints: Path | None) -> None:
    """Check every organisation's hash chain (and that it extends the checkpoints): OK with
    the count, or where it breaks. The result is kept for HR's Audit trail page."""
    key = _anchor_key() if checkpoints else None
    session = db.session()
    reports = audit.verify(session)
    checked = None
    if checkpoints is not None and key is not None:
        checked = anchoring.check_checkpoints(session, checkpoints, key)
    anchoring.record_verification(session, reports, checked, utcnow())
    db.session.commit()
    if not reports and not (checked and checked.findings):
        click.echo("OK: no audit events yet.")
    broken = False
    flagged = {f.organisation_id for f in checked.findings} if checked else set()
    for report in reports:
        org = report.organisation_id
        if not report.ok:
            broken = True
            click.echo(f"BROKEN organisation {org}: {report.problem}", err=True)
        elif org not in flagged:  # sound in itself but not what a checkpoint holds: below
            line = f"OK organisation {org}: {report.events} events"
            if checked:
                count = sum(1 for a in checked.anchors if a.organisation_id == org)
                line += f", extends its {count} checkpoints" if count else ", no checkpoint yet"
            click.echo(line)
    for finding in checked.findings if checked else []:
        broken = True
        click.echo(f"BROKEN {finding}", err=True)
    if checked:
        click.echo(f"Checked {checked.files} checkpoint files at {checkpoints}.")
    if broken:
        raise click.ClickException("The audit trail has been altered.")


@audit_cli.command("checkpoint")
def audit_checkpoint_command() -> None:
    """Write each organisation's latest seq and hash, signed, to a new file in
    AUDIT_CHECKPOINT_DIR and e-mail it to AUDIT_CHECKPOINT_EMAIL if set (run daily). Nothing
    is written if no chain has moved since the latest checkpoint (still there, and e-mailed)."""
    key = _anchor_key()
    config = current_app.config
    if not config["AUDIT_CHECKPOINT_DIR"]:
        raise click.ClickException("Set AUDIT_CHECKPOINT_DIR: where checkpoints are kept.")
    session = db.session()
    address = config["AUDIT_CHECKPOINT_EMAIL"]
    # Two machines' cron at the same moment: the second waits here for the first to record
    # its checkpoint, then finds every chain where that checkpoint holds it.
    jobs.run_alone(session, "audit checkpoint")
    directory = Path(config["AUDIT_CHECKPOINT_DIR"])
    ends = anchoring.chain_ends(session)
    latest = anchoring.unchanged_since(session, ends, directory, address or None)
    if latest is not None:
        db.session.rollback()
        click.echo(
            f"No new checkpoint: every chain ends where {latest.file_name} (taken "
            f"{long_datetime(latest.taken_at)}) holds it."
        )
        return
    checkpoint = anchoring.take_checkpoint(session, key, directory, utcnow(), ends)
    click.echo(f"Wrote {checkpoint.path}")
    for end in checkpoint.ends:
        click.echo(f"  organisation {end.organisation_id} ({end.name}): seq {end.seq}, {end.hash}")
    failure = None
    if address:
        try:
            _email(address, checkpoint)
        except MailError as exc:
            failure = exc
        else:
            click.echo(f"E-mailed it to {address}")
    anchoring.record_checkpoint(session, checkpoint, address if address and not failure else None)
    db.session.commit()
    if failure:
        raise click.ClickException(f"The checkpoint was written but not e-mailed: {failure}")


def _email(address: str, checkpoint: anchoring.Checkpoint) -> None:
    from app.manager.emails import smtp_settings

    context = {
        "taken_at": long_datetime(checkpoint.taken_at),
        "file_name": checkpoint.path.name,
        "ends": checkpoint.ends,
    }
    settings = smtp_settings()
    msg = message(
        settings,
        address,
        render_template("email/checkpoint_subject.txt", **context).strip(),
        render_template("email/checkpoint.txt", **context),
        render_template("email/checkpoint.html", **context),
    )
    msg.add_attachment(
        checkpoint.text.encode(),
        maintype="application",
        subtype="json",
        filename=checkpoint.path.name,
    )
    with Mailer(settings) as mailer:
        mailer.send(msg)
