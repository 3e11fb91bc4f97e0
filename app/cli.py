"""Command-line interface: thin wrappers over the services (`flask --app app ...`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.clock import long_date, today, utcnow
from app.db import db
from app.models import Person, Role
from app.services import audit, item_review, jobs, organisations, roster, sheets
from app.services import keys as key_service
from app.services import settings as settings_service
from app.services.content_pack import (
    PackError,
    PolicyPack,
    Problem,
    load_packs,
    local_details,
    pack_warnings,
    placeholder_values,
    read_as,
)
from app.services.outbox import pending, send_due
from app.services.platforms import (
    PlatformError,
    add_platform,
    get_or_create_organisation,
    list_platforms,
    map_role,
)
from app.services.policies import PublishError, publish
from app.services.question_bank import BankError, BankProblem, load_bank_for, publish_bank
from lti import nrps
from lti.ags import SendFailed, send_score

lti_cli = AppGroup("lti", help="Register LMS platforms and manage the tool's signing keys.")


@lti_cli.command("add-platform")
@click.option("--issuer", required=True, help="The platform's issuer (Moodle: Platform ID).")
@click.option("--client-id", required=True, help="The client ID the platform gave the tool.")
@click.option(
    "--deployment-id",
    "deployment_ids",
    multiple=True,
    required=True,
    help="A deployment ID; repeat for several.",
)
@click.option("--auth-login-url", required=True, help="The platform's OIDC authentication URL.")
@click.option("--auth-token-url", required=True, help="The platform's OAuth2 access token URL.")
@click.option("--jwks-url", required=True, help="The platform's public keyset (JWKS) URL.")
@click.option(
    "--org",
    "organisation",
    default=None,
    help="The organisation (council) these deployments belong to.",
)
@click.option(
    "--auth-audience", default=None, help="Audience for token requests, if not the token URL."
)
@click.option(
    "--frame-origin",
    "frame_origins",
    multiple=True,
    help="An extra origin allowed to frame the tool (Canvas: your instance).",
)
@click.option(
    "--service-origin",
    "service_origins",
    multiple=True,
    help="An extra origin the platform's AGS/NRPS service URLs may be on; repeat for several.",
)
def add_platform_command(
    issuer: str,
    client_id: str,
    deployment_ids: tuple[str, ...],
    auth_login_url: str,
    auth_token_url: str,
    jwks_url: str,
    organisation: str | None,
    auth_audience: str | None,
    frame_origins: tuple[str, ...],
    service_origins: tuple[str, ...],
) -> None:
    """Register a platform, or update the one with the same issuer and client ID."""
    try:
        saved = add_platform(
            db.session(),
            issuer=issuer,
            client_id=client_id,
            deployment_ids=list(deployment_ids),
            auth_login_url=auth_login_url,
            auth_token_url=auth_token_url,
            jwks_url=jwks_url,
            organisation_name=organisation,
            auth_audience=auth_audience,
            frame_origins=list(frame_origins),
            service_origins=list(service_origins),
        )
    except PlatformError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    _forget_registrations()
    reg = saved.registration
    verb = "Registered" if saved.created else "Updated"
    click.echo(f"{verb} platform {reg.issuer} (client id {reg.client_id}).")
    for dep in saved.added_deployments:
        click.echo(f"  added deployment {dep}")


@lti_cli.command("registration-url")
@click.option("--org", "organisation", required=True, help="The organisation (council).")
@click.option(
    "--hours", default=24, show_default=True, type=int, help="How long the URL can be used."
)
def registration_url_command(organisation: str, hours: int) -> None:
    """Make a single-use URL that registers one LMS for an organisation (Dynamic Registration)."""
    from app.services.registration import create_invite

    base = (current_app.config["TOOL_BASE_URL"] or "").rstrip("/")
    if not base:
        raise click.ClickException("Set TOOL_BASE_URL: the LMS must reach the tool there.")
    try:
        org = get_or_create_organisation(db.session(), organisation)
        invite, token = create_invite(db.session(), org, hours, "command line", utcnow())
    except PlatformError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    until = f"{invite.expires_at:%Y-%m-%d %H:%M} UTC"
    click.echo(f"Registration URL for {organisation} (works once, until {until}):")
    click.echo(f"{base}/lti/register/{token}")
    click.echo(
        "Paste it into the LMS's Tool URL box (Moodle: Site administration > Plugins > "
        "Activity modules > External tool > Manage tools)."
    )


@lti_cli.command("list-platforms")
def list_platforms_command() -> None:
    """Show every registered platform and its deployments."""
    platforms = list_platforms(db.session())
    if not platforms:
        click.echo("No platforms registered. Add one with `flask --app app lti add-platform`.")
        return
    for reg in platforms:
        click.echo(f"{reg.issuer}  client id: {reg.client_id}")
        click.echo(f"  auth login URL: {reg.auth_login_url}")
        click.echo(f"  auth token URL: {reg.auth_token_url}")
        click.echo(f"  JWKS URL:       {reg.jwks_url}")
        if reg.frame_origins:
            click.echo(f"  frame origins:  {reg.frame_origins}")
        if reg.service_origins:
            click.echo(f"  service origins: {reg.service_origins}")
        for dep in reg.deployments:
            click.echo(f"  deployment {dep.deployment_id}  -> {dep.organisation.name}")


@lti_cli.command("rotate-key")
def rotate_key_command() -> None:
    """Make a new signing key. The old one stays published until retired."""
    key = key_service.create_key(db.session(), utcnow())
    db.session.commit()
    click.echo(f"New signing key {key.kid}. Earlier keys stay in the JWKS until retired.")


@lti_cli.command("ensure-key")
def ensure_key_command() -> None:
    """Make the first signing key if there is none (used by the set-up)."""
    key, created = key_service.ensure_key(db.session(), utcnow())
    db.session.commit()
    click.echo(f"{'Created' if created else 'Using'} signing key {key.kid}.")


# A kid is a base64url thumbprint and may begin with "-": read it as the argument it is,
# not as an unknown option.
@lti_cli.command("retire-key", context_settings={"ignore_unknown_options": True})
@click.argument("kid")
def retire_key_command(kid: str) -> None:
    """Stop publishing an old key (once no platform can still be verifying with it)."""
    try:
        key = key_service.retire_key(db.session(), kid, utcnow())
    except key_service.KeyError_ as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Retired key {key.kid}; it is no longer published.")


@lti_cli.command("list-keys")
def list_keys_command() -> None:
    """Show the tool's keys: which signs, which are published, which are retired."""
    for key in key_service.list_keys(db.session()):
        state = "signing" if key.active else ("retired" if key.retired_at else "published")
        click.echo(f"{key.kid}  {state:9}  created {key.created_at:%Y-%m-%d %H:%M} UTC")


@lti_cli.command("map-role")
@click.option("--org", "organisation", required=True, help="The organisation's name.")
@click.option("--lti-role", required=True, help="The LTI role URI as the LMS sends it.")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role] + ["default"]),
    required=True,
    help="The tool role it gives; 'default' removes the override.",
)
def map_role_command(organisation: str, lti_role: str, role: str) -> None:
    """Read an LTI role differently for one organisation (e.g. a Totara team leader role)."""
    try:
        map_role(db.session(), organisation, lti_role, None if role == "default" else Role(role))
    except PlatformError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    _forget_registrations()
    click.echo(f"{organisation}: {lti_role} -> {role}")


def _forget_registrations() -> None:
    """This process sees the change at once; other processes within a minute."""
    registry = current_app.extensions.get("cpm_registry")
    if registry is not None:
        registry.clear()


def _echo_problems(problems: Sequence[object]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


def _echo_warnings(pack: PolicyPack) -> list[Problem]:
    """Things to see to that do not stop publishing (a dated note past its review, ...)."""
    warnings = pack_warnings(pack, today())
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    return warnings


content_cli = AppGroup("content", help="Check and publish the policy text (content packs).")


def _content_dir(path: str | None) -> Path:
    return Path(path) if path else Path(current_app.config["CONTENT_DIR"])


@content_cli.command("check")
@click.option("--path", default=None, help="A content folder other than the shipped content/.")
def content_check_command(path: str | None) -> None:
    """Check every policy folder; list each problem as file:line: reason."""
    try:
        packs = load_packs(_content_dir(path))
    except PackError as exc:
        _echo_problems(exc.problems)
        raise click.ClickException(
            f"{len(exc.problems)} problem(s): nothing can be published."
        ) from exc
    for pack in packs:
        warned = len(_echo_warnings(pack))
        click.echo(
            f"OK {pack.key} version {pack.version}: {len(pack.sections)} sections, "
            f"effective {long_date(pack.effective_date)}, hash {pack.content_hash[:12]}"
            + (f"; {warned} warning(s) to see to" if warned else "")
        )


@content_cli.command("preview")
@click.option("--path", default=None, help="A content folder other than the shipped content/.")
@click.option(
    "--org",
    "organisation",
    default=None,
    help="Read it with this organisation's local details (default: none set).",
)
@click.option("--section", "section_key", default=None, help="Only this section (its key).")
def content_preview_command(
    path: str | None, organisation: str | None, section_key: str | None
) -> None:
    """Show the text as people read it: with no local details set (every default and the
    wording for what is not set), or with one organisation's. Problems stop it, as in check."""
    try:
        packs = load_packs(_content_dir(path))
    except PackError as exc:
        _echo_problems(exc.problems)
        raise click.ClickException(f"{len(exc.problems)} problem(s): fix them first.") from exc
    if organisation:
        try:
            org = organisations.find(db.session(), organisation)
        except organisations.SettingError as exc:
            raise click.ClickException(str(exc)) from exc
        details = local_details(org.name, org.content_values or {})
    else:
        details = local_details("(the council's name)", {})
    shown = 0
    for pack in packs:
        if section_key is None:
            click.echo(f"# {pack.title} (version {pack.version}): introduction\n")
            click.echo(read_as(pack.intro_markdown, details) + "\n")
        for section in pack.sections:
            if section_key not in (None, section.key):
                continue
            shown += 1
            click.echo(f"# {section.title} ({section.key}, for {section.audience.value})\n")
            click.echo(read_as(section.body_markdown, details) + "\n")
    if section_key is not None and not shown:
        raise click.ClickException(f"No section {section_key!r}.")


@content_cli.command("publish")
@click.option("--path", default=None, help="A content folder other than the shipped content/.")
def content_publish_command(path: str | None) -> None:
    """Record each policy's version as published (immutable, with its content hash)."""
    try:
        packs = load_packs(_content_dir(path))
    except PackError as exc:
        _echo_problems(exc.problems)
        raise click.ClickException("Not published: fix the problems above first.") from exc
    for pack in packs:
        _echo_warnings(pack)
    quiz_dir = Path(current_app.config["QUIZ_DIR"])
    try:
        banks = [load_bank_for(quiz_dir, pack) for pack in packs]
    except BankError as exc:
        _echo_problems(exc.problems)
        raise click.ClickException("Not published: fix the question bank first.") from exc
    try:
        results = [publish(db.session(), pack, utcnow()) for pack in packs]
    except PublishError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    bank_results = [publish_bank(db.session(), bank) for bank in banks]
    db.session.commit()
    versions = current_app.extensions.get("cpm_versions")
    if versions is not None:  # this process shows the new version at once
        versions.clear()
    for result in results:
        v = result.version
        state = "Published" if result.created else "Already published (unchanged)"
        reaccept = (
            "everyone must accept it again"
            if v.requires_reacceptance
            else ("earlier acceptances stay valid")
        )
        click.echo(
            f"{state}: {v.title} version {v.version}, effective "
            f"{long_date(v.effective_date)}; {reaccept}. Hash {v.content_hash[:12]}."
        )
    for bank_row, created in bank_results:
        click.echo(
            ("Published" if created else "Already published (unchanged)")
            + f": question bank with {len(bank_row.questions)} questions, hash "
            + f"{bank_row.content_hash[:12]}."
        )


quiz_cli = AppGroup("quiz", help="Check the question banks.")


@quiz_cli.command("check")
@click.option("--path", default=None, help="A quizzes folder other than the shipped quizzes/.")
@click.option("--content", default=None, help="The content folder the questions test.")
def quiz_check_command(path: str | None, content: str | None) -> None:
    """Check each question bank against its content pack (file, line, question and reason),
    then review it: item-writing flaws, and how often a test-wise guesser would pass."""
    try:
        packs = load_packs(_content_dir(content))
    except PackError as exc:
        _echo_problems(exc.problems)
        raise click.ClickException("Fix the content pack first.") from exc
    quiz_dir = Path(path) if path else Path(current_app.config["QUIZ_DIR"])
    failed: list[BankProblem] = []
    flawed: list[BankProblem] = []
    lucky = False
    for pack in packs:
        try:
            bank = load_bank_for(quiz_dir, pack)
        except BankError as exc:
            failed.extend(exc.problems)
            continue
        found = item_review.review(bank, pack, item_review.places(quiz_dir / f"{pack.key}.yaml"))
        by_section = Counter(q.section for q in bank.questions)
        click.echo(
            ("OK" if found.sound else "NOT OK")
            + f" {pack.key}: {len(bank.questions)} questions; per section: "
            + ", ".join(f"{k} {by_section[k]}" for k in (s.key for s in pack.sections))
        )
        for line in item_review.summary_lines(bank, pack):
            click.echo(line)
        for result in found.guesser:
            click.echo(item_review.guesser_line(result))
        flawed.extend(found.flaws)
        lucky = lucky or found.guesser_too_lucky
    if failed:
        _echo_problems(failed)
        raise click.ClickException(f"{len(failed)} problem(s) in the question banks.")
    _echo_problems(flawed)
    if flawed or lucky:
        limit = f"{100 * item_review.GUESSER_LIMIT:.0f}%"
        why = f"{len(flawed)} item-writing flaw(s)" if flawed else ""
        if lucky:
            why += ("; a" if why else "A") + (
                f" guesser who never read the module passes {limit} or more of first attempts"
            )
        raise click.ClickException(
            why + ". Fix the questions: the quiz must show that people understood."
        )


org_cli = AppGroup("org", help="An organisation's settings: local details and due dates.")


@org_cli.command("show")
@click.option("--org", "organisation", required=True)
def org_show_command(organisation: str) -> None:
    """Show an organisation's settings: the policy's local details (with what the text
    says while one is not set), then its rules."""
    try:
        org = organisations.find(db.session(), organisation)
    except organisations.SettingError as exc:
        raise click.ClickException(str(exc)) from exc
    defaults = placeholder_values(org.name, {})
    for key, value in organisations.settings_of(org).items():
        if value:
            shown = value
        elif defaults[key]:
            shown = f'(not set: the text says "{defaults[key]}")'
        else:
            shown = "(not set: the text words it another way)"
        click.echo(f"{key:28} {shown}   {organisations.SETTINGS[key]}")
    for key, value in settings_service.settings_of(org).items():
        click.echo(f"{key:28} {value}   {settings_service.NAMES[key]}")


@org_cli.command("set")
@click.option("--org", "organisation", required=True)
@click.argument("key")
@click.argument("value")
def org_set_command(organisation: str, key: str, value: str) -> None:
    """Set one setting, e.g. `org set --org NAME board_name "Corporate Parenting Committee"`
    or `org set --org NAME retention_years_childrens 25`. Each change is audited."""
    try:
        org = organisations.find(db.session(), organisation)
        if key in settings_service.RULES:
            changed = bool(
                settings_service.change_settings(
                    db.session(), org, {key: value}, utcnow(), actor="cli"
                )
            )
        else:
            changed = bool(
                organisations.change_details(db.session(), org, {key: value}, utcnow(), actor="cli")
            )
    except organisations.SettingError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    except settings_service.SettingsInvalid as exc:
        db.session.rollback()
        raise click.ClickException(" ".join(exc.problems.values())) from exc
    db.session.commit()
    click.echo(f"{organisation}: {key} = {value}" if changed else f"{organisation}: unchanged")


outbox_cli = AppGroup("outbox", help="Scores waiting to be sent to the LMS.")


@outbox_cli.command("run")
def outbox_run_command() -> None:
    """Send every score that is due (run from cron, e.g. every minute)."""
    result = send_due(db.session(), send_score, utcnow(), limit=1000)
    click.echo(
        f"Sent {result.sent}; failed {result.failed} (kept, to be tried again); "
        f"refused {result.refused} (shown by 'outbox list')."
    )


@outbox_cli.command("list")
def outbox_list_command() -> None:
    """Show the scores the LMS has not taken yet: refused ones first, with its answer."""
    rows = pending(db.session())
    if not rows:
        click.echo("Nothing waiting: the LMS has taken every score.")
    for row in rows:
        item = row["item"]
        whose = (
            f"#{item.id} {row['person'].name} (org {item.organisation_id}), "
            f"course {row['course'] or 'not known'}, activity {row['activity']}"
        )
        if item.refused_at is not None:
            click.echo(
                f"{whose}: REFUSED {item.refused_at:%Y-%m-%d %H:%M} UTC "
                f"(HTTP {item.lms_status}), not tried again; {item.last_error}; "
                f"the LMS answered: {item.lms_answer or '(nothing)'}"
            )
        else:
            click.echo(
                f"{whose}: {item.tries} tries, next {item.next_try_at:%Y-%m-%d %H:%M} UTC; "
                f"{item.last_error or 'not tried yet'}"
            )


roster_cli = AppGroup("roster", help="Who must complete the module: HR's roster, LMS courses.")


def describe_plan(planned: roster.Plan) -> list[str]:
    lines = [
        f"{planned.total_rows} rows: {len(planned.rows)} good, "
        f"{len({p.row for p in planned.problems})} with problems.",
        f"New people: {len(planned.new)}; joined to their LMS identity: "
        f"{len(planned.matched)}; updated: {len(planned.updated)}; unchanged: "
        f"{planned.unchanged}; back from leaving: {len(planned.returning)}; "
        f"leavers (marked inactive): {len(planned.leavers)}.",
    ]
    return lines


@roster_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", "organisation", required=True, help="The organisation's name.")
@click.option("--dry-run", is_flag=True, help="Only say what would change.")
@click.option(
    "--good-rows", is_flag=True, help="Import the good rows even if some rows have problems."
)
def roster_import_command(file: Path, organisation: str, dry_run: bool, good_rows: bool) -> None:
    """Import HR's roster (CSV or XLSX). Nothing is imported while any row has a problem,
    unless --good-rows is given; people missing from the file are marked as leavers."""
    try:
        org = organisations.find(db.session(), organisation)
        with file.open("rb") as opened:  # no more than read_file takes, as on the page
            table = roster.read_file(opened.read(sheets.MAX_FILE_BYTES + 1), file.name)
    except (organisations.SettingError, roster.RosterFileError) as exc:
        raise click.ClickException(str(exc)) from exc
    planned = roster.plan(db.session(), org.id, table)
    for line in describe_plan(planned):
        click.echo(line)
    for problem in planned.problems[:200]:
        click.echo(str(problem), err=True)
    if len(planned.problems) > 200:
        click.echo(f"... and {len(planned.problems) - 200} more problems", err=True)
    if dry_run:
        click.echo("Dry run: nothing was changed.")
        return
    if planned.problems and not good_rows:
        raise click.ClickException(
            "Nothing imported: some rows have problems. Fix them, or import only the good "
            "rows with --good-rows."
        )
    now = utcnow()
    applied = roster.apply(db.session(), org.id, planned, now)
    audit.record(
        db.session(),
        org.id,
        "roster_import",
        now,
        actor="cli",
        details={"file": file.name, **applied.__dict__},
    )
    db.session.commit()
    click.echo(
        f"Imported: {applied.created} new, {applied.matched} joined to LMS identities, "
        f"{applied.updated} updated, {applied.left} marked as leavers, "
        f"{applied.skipped_rows} rows skipped."
    )


@roster_cli.command("sync-lms")
@click.option("--org", "organisation", required=True, help="The organisation's name.")
def roster_sync_command(organisation: str) -> None:
    """Read who is enrolled in each LMS course the module was launched from (NRPS)."""
    try:
        org = organisations.find(db.session(), organisation)
    except organisations.SettingError as exc:
        raise click.ClickException(str(exc)) from exc
    courses = nrps.memberships_to_sync(db.session(), org.id)
    if not courses:
        click.echo(
            "No course has offered its membership yet (the tool needs one launch "
            "from each course, with the Names and Role Provisioning service on)."
        )
        return
    for course in courses:
        url = course.url
        try:
            found = nrps.fetch_members(
                db.session(), course.registration_id, url, course.resource_link_ids
            )
        except SendFailed as exc:
            click.echo(f"{url}: {exc}", err=True)
            continue
        for link in found.links_gone:
            click.echo(f"{url}: the LMS no longer knows link {link!r}; passed over", err=True)
        members = found.members
        # Not while the LMS is read: a sync of the organisation running on another machine
        # must have committed before this one compares the members with the people stored.
        jobs.run_alone(db.session(), "roster sync-lms", org.id)
        now = utcnow()
        synced = roster.sync_members(
            db.session(), org.id, course.issuer, members, now, lms_context_id=course.course_id
        )
        audit.record(
            db.session(),
            org.id,
            "roster_import",
            now,
            actor="cli",
            details={"lms_course": url, **synced.__dict__},
        )
        db.session.commit()
        click.echo(
            f"{url}: {len(members)} members; {synced.added} new, {synced.matched} "
            f"matched to the roster, {synced.left_course} no longer enrolled."
        )


reminders_cli = AppGroup("reminders", help="Reminder e-mails to people who have not finished.")


@reminders_cli.command("run")
@click.option("--org", "organisation", default=None, help="One organisation (default: all).")
def reminders_run_command(organisation: str | None) -> None:
    """Send what the schedule says is due, and retry earlier failures (run from cron,
    e.g. daily). Running it twice sends nothing twice."""
    from app.manager.emails import lms_link, renderer, smtp_settings
    from app.models import Organisation
    from app.services import reminders
    from app.services.mail import Mailer
    from app.services.policies import current_version
    from app.services.reports import Scope

    orgs = (
        [organisations.find(db.session(), organisation)]
        if organisation
        else list(db.session.scalars(select(Organisation).order_by(Organisation.id)))
    )
    version = current_version(db.session(), current_app.config["POLICY_KEY"], today())
    if version is None:
        raise click.ClickException("No policy has been published yet.")
    now = utcnow()
    with Mailer(smtp_settings()) as mailer:
        for org in orgs:
            # A run started at the same moment on another machine waits here, then finds
            # the reminders this one recorded (each scheduled one has a unique key anyway);
            # deliver() claims each reminder before sending it.
            jobs.run_alone(db.session(), "reminders run", org.id)
            scope = Scope(org, version, organisations.today_for(org, today()))
            settings = reminders.settings_of(org)
            drafts = reminders.choose_scheduled(db.session(), scope, now)
            names = dict(
                db.session.execute(
                    select(Person.id, Person.name).where(Person.organisation_id == org.id)
                ).all()
            )
            created = reminders.record(
                db.session(),
                org.id,
                drafts,
                renderer(org, lms_link(org)),
                settings,
                now,
                names=names,
            )
            db.session.commit()
            result = reminders.deliver(db.session(), mailer, now, organisation_id=org.id)
            click.echo(
                f"{org.name}: {len(created)} new reminders; sent {result.sent}, "
                f"failed {result.failed} (to be retried), gave up {result.gave_up}."
            )


def register_cli(app: Flask) -> None:
    from app.cli_audit import audit_cli  # verify and checkpoints: app/cli_audit.py
    from app.cli_dbroles import register as register_db_roles  # `db grant-runtime`
    from app.cli_exports import export_command  # HR's export: app/cli_exports.py
    from app.cli_people import people_cli  # retention and settings: app/cli_people.py
    from app.cli_report import report_cli  # the committee report and its schedule

    register_db_roles()

    app.cli.add_command(people_cli)
    app.cli.add_command(export_command)
    app.cli.add_command(lti_cli)
    app.cli.add_command(content_cli)
    app.cli.add_command(org_cli)
    app.cli.add_command(quiz_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(roster_cli)
    app.cli.add_command(reminders_cli)
    app.cli.add_command(report_cli)
