"""Two machines, one PostgreSQL database: each scheduled job started twice at the same moment,
as two real processes running the real command (`flask --app app ...`), with real work
waiting (scores for the LMS's score service, reminders for an SMTP server, a chain to
checkpoint, leavers past retention, a course's membership from the LMS's NRPS service, all
over real connections). Each unit of work is done exactly once, and nothing is lost.

Each process creates the app first and then waits at a gate, so that both start the job's
work within a millisecond or so of each other, as two machines' cron would; the LMS and the
mail server answer slowly, so that the two runs' work overlaps. Without the fixes the
reminders went twice, two checkpoints were written and the second membership sync failed on
a duplicate person; scores and anonymisation were already claimed row by row.

PostgreSQL only: SQLite is the single-machine database (app/services/jobs.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from app.clock import utcnow
from app.db import db
from app.models import (
    AuditCheckpoint,
    AuditEvent,
    CommitteeReportSent,
    CourseMember,
    Organisation,
    Person,
    Reminder,
    ScoreOutbox,
)
from app.services import audit
from scripts.demo_lms.platform import ROLE_LEARNER, DemoPerson, DemoPlatform
from tests.conftest import ORG, TOOL_BASE_URL, app_url
from tests.web.test_acceptance import accept, passed
from tests.web.test_gunicorn import free_port
from tests.web.test_team import ROSTER, Inbox

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"),
        reason="two machines share one PostgreSQL database; SQLite is one machine's "
        "(set TEST_DATABASE_URL, as CI does)",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
ANCHOR_KEY = "anchor-key-for-the-two-machines-test-0123456789"
SLOW = 0.3  # seconds the LMS and the mail server take to answer each call

# Run in each process: the imports and create_app() (as `flask --app app` would call it),
# then wait for the gate, then the real command through Flask's command line.
GATED = """
import sys, time
from pathlib import Path
from flask.cli import FlaskGroup
from app import create_app
ready, gate, *args = sys.argv[1:]
machine = create_app()
Path(ready).touch()
while not Path(gate).exists():
    time.sleep(0.001)
FlaskGroup(create_app=lambda: machine).main(args=args, prog_name="flask")
"""


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def at_once(app: Flask, database_url: str, tmp_path: Path) -> Callable[..., list[Run]]:
    """at_once("outbox", "run", env={...}) -> both processes' exit codes and output; with
    other=[...], the second process runs that command instead."""
    base = {
        **os.environ,
        "DATABASE_URL": app_url(database_url),
        "TOOL_BASE_URL": TOOL_BASE_URL,
        "SECRET_KEY": app.config["SECRET_KEY"],
        "OUTBOX_POLL_SECONDS": "0",
    }

    def start(
        *args: str, env: dict[str, str] | None = None, other: list[str] | None = None
    ) -> list[Run]:
        gate = tmp_path / f"gate-{time.monotonic_ns()}"
        ready = [Path(f"{gate}-ready-{n}") for n in (1, 2)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", GATED, str(r), str(gate), *command],
                cwd=ROOT,
                env={**base, **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for r, command in zip(ready, (list(args), other or list(args)), strict=True)
        ]
        try:
            deadline = time.monotonic() + 120
            while not all(r.exists() for r in ready):
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    pytest.fail("a process did not start: " + "".join(_output(p) for p in procs))
                time.sleep(0.01)
            gate.touch()  # both go
            runs = []
            for proc in procs:
                out, err = proc.communicate(timeout=180)
                runs.append(Run(proc.returncode, out, err))
            return runs
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()

    return start


def _output(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate()
    return out + err


def succeeded(runs: list[Run]) -> list[str]:
    assert [r.code for r in runs] == [0, 0], runs
    return [r.out for r in runs]


def total(outputs: list[str], pattern: str) -> int:
    """The sum over both runs of the number each printed where `pattern` has (\\d+)."""
    return sum(int(m) for out in outputs for m in re.findall(pattern, out))


def chains_verify(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "BROKEN" not in result.output, result.output


def slowly(monkeypatch: pytest.MonkeyPatch, obj: Any, name: str) -> None:
    """The demo LMS's `name` takes SLOW seconds, as a busy LMS does."""
    original = getattr(obj, name)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(SLOW)
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, slow)


class SlowInbox(Inbox):
    """A real SMTP server that takes SLOW seconds to accept each message."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(SLOW)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp() -> Iterator[tuple[SlowInbox, dict[str, str]]]:
    box = SlowInbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "MAIL_FROM": "cp@council.example"}
    yield box, env
    controller.stop()


@pytest.fixture
def lms(registered: DemoPlatform, client: FlaskClient) -> Iterator[DemoPlatform]:
    """The LMS knows the tool's keys (as after registration) and starts clean."""
    registered.tool_jwks = client.get("/lti/jwks").json
    registered.lineitems = {c: [] for c in registered.courses}
    registered.scores = []
    own = set(registered.people)
    yield registered
    for user_id in set(registered.people) - own:
        del registered.people[user_id]
    registered.tool_jwks = None


def import_roster(runner: FlaskCliRunner, tmp_path: Path) -> None:
    """HR's roster (ROSTER) imported into the council."""
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    assert runner.invoke(args=["roster", "import", str(roster), "--org", ORG]).exit_code == 0


def rows(app: Flask, model: Any) -> list[Any]:
    with app.app_context():
        found = list(db.session.scalars(select(model).order_by(model.id)))
        db.session.expunge_all()
        return found


def test_two_outbox_runs_at_once_send_each_score_once(
    app: Flask,
    lms: DemoPlatform,
    launched: Any,
    at_once: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app.extensions["score_sender"].interval = 0  # only the two machines' cron send
    learners = {"u-aisha": "Aisha Khan", "u-lee": "Lee Morgan", "u-jo": "Jo Evans"}
    for user, name in learners.items():
        client = launched(user)
        passed(app, client)
        assert accept(client, name).status_code == 302
    assert len(rows(app, ScoreOutbox)) == 3 and lms.scores == []
    slowly(monkeypatch, lms, "gradable")  # each score takes the LMS a while

    outputs = succeeded(at_once("outbox", "run"))

    assert sorted(s["userId"] for s in lms.scores) == sorted(learners)  # one each
    assert total(outputs, r"Sent (\d+)") == 3 and total(outputs, r"failed (\d+)") == 0
    assert all(r.sent_at is not None and r.tries == 1 for r in rows(app, ScoreOutbox))
    # Both made the activity's column at the same moment: one is kept, and has every score.
    [item] = lms.lineitems["cp-2026"]
    assert {s["lineitem"] for s in lms.scores} == {item["id"]}


def test_two_reminder_runs_at_once_send_each_reminder_once(
    app: Flask,
    registered: DemoPlatform,
    runner: FlaskCliRunner,
    at_once: Any,
    smtp: tuple[SlowInbox, dict[str, str]],
    tmp_path: Path,
) -> None:
    inbox, env = smtp
    import_roster(runner, tmp_path)

    outputs = succeeded(at_once("reminders", "run", env=env))

    reminders = rows(app, Reminder)
    assert len(reminders) >= 8  # everyone on the roster is due one, and managers a digest
    assert all(r.outcome == "sent" and r.tries == 1 for r in reminders)
    assert total(outputs, r"(\d+) new reminders") == len(reminders)
    assert total(outputs, r"sent (\d+)") == len(reminders)
    # Exactly one e-mail per reminder: none twice, none lost.
    sent = Counter((str(m["To"]), str(m["Subject"])) for m in inbox.messages)
    assert len(inbox.messages) == len(reminders) and max(sent.values()) == 1
    assert {r.to_address for r in reminders} == {str(m["To"]) for m in inbox.messages}
    with app.app_context():
        recorded = db.session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "reminder")
        ).all()
    assert sorted(d["reminder"] for d in recorded) == [r.id for r in reminders]
    chains_verify(runner)


def test_two_checkpoint_runs_at_once_take_one_checkpoint(
    app: Flask,
    runner: FlaskCliRunner,
    at_once: Any,
    smtp: tuple[SlowInbox, dict[str, str]],
    tmp_path: Path,
) -> None:
    inbox, env = smtp
    with app.app_context():
        orgs = [Organisation(name="North Shire"), Organisation(name="South Shire")]
        db.session.add_all(orgs)
        db.session.flush()
        for org, count in zip(orgs, (5, 2), strict=True):
            for n in range(count):
                audit.record(db.session(), org.id, "config_change", utcnow(), details={"n": n})
        db.session.commit()
        org_ids = [o.id for o in orgs]
    directory = tmp_path / "checkpoints"  # storage both machines write to
    env = {
        **env,
        "AUDIT_ANCHOR_KEY": ANCHOR_KEY,
        "AUDIT_CHECKPOINT_DIR": str(directory),
        "AUDIT_CHECKPOINT_EMAIL": "records@council.example",
    }

    outputs = succeeded(at_once("audit", "checkpoint", env=env))

    [file] = list(directory.iterdir())
    assert sum("Wrote " in out for out in outputs) == 1
    assert sum("No new checkpoint" in out for out in outputs) == 1
    [msg] = inbox.messages
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == file.name
    body = json.loads(file.read_text())
    assert [(o["organisation_id"], o["seq"]) for o in body["organisations"]] == list(
        zip(org_ids, (5, 2), strict=True)
    )
    recorded = rows(app, AuditCheckpoint)
    assert [(r.organisation_id, r.seq, r.file_name) for r in recorded] == [
        (org_ids[0], 5, file.name),
        (org_ids[1], 2, file.name),
    ]
    app.config.update(AUDIT_ANCHOR_KEY=ANCHOR_KEY)
    result = runner.invoke(args=["audit", "verify", "--checkpoints", str(directory)])
    assert result.exit_code == 0, result.output


def test_two_anonymise_runs_at_once_anonymise_each_leaver_once(
    app: Flask, runner: FlaskCliRunner, at_once: Any
) -> None:
    leaver_ids = add_leavers(app, 20)
    with app.app_context():
        org_id = db.session.scalars(select(Organisation.id)).one()
        staying = Person(organisation_id=org_id, name="Still Here", employee_id="S001")
        db.session.add(staying)
        db.session.commit()

    outputs = succeeded(at_once("people", "anonymise", "--org", ORG))

    assert total(outputs, r"Anonymised (\d+)") == 20
    with app.app_context():
        people = {p.id: p for p in db.session.scalars(select(Person))}
        events = db.session.scalars(
            select(AuditEvent.subject_person_id).where(AuditEvent.action == "person_anonymised")
        ).all()
    assert sorted(events) == leaver_ids  # one event each
    assert all(people[i].anonymised_at is not None and people[i].email is None for i in leaver_ids)
    assert people[staying.id].anonymised_at is None
    chains_verify(runner)


def add_leavers(app: Flask, count: int) -> list[int]:
    """`count` leavers of ORG whose retention ended long ago; their ids."""
    with app.app_context():
        org = db.session.scalars(select(Organisation).where(Organisation.name == ORG)).first()
        if org is None:
            org = Organisation(name=ORG)
            db.session.add(org)
            db.session.flush()
        leavers = [
            Person(
                organisation_id=org.id,
                first_name=f"Leaver{n}",
                last_name="Gone",
                name=f"Leaver{n} Gone",
                email=f"leaver{n}@council.example",
                employee_id=f"L{n:03d}",
                active=False,
                left_on=date(2001, 2, 28),
                assigned_on=date(2000, 1, 1),
            )
            for n in range(count)
        ]
        db.session.add_all(leavers)
        db.session.commit()
        return sorted(p.id for p in leavers)


def test_two_jobs_appending_to_one_audit_chain_at_once_leave_it_unbroken(
    app: Flask,
    registered: DemoPlatform,
    runner: FlaskCliRunner,
    at_once: Any,
    smtp: tuple[SlowInbox, dict[str, str]],
    tmp_path: Path,
) -> None:
    """Anonymisation (whose audit events PostgreSQL writes, in anonymise_leaver()) and the
    reminders (written by app/services/audit.py) append to the same organisation's chain at
    the same moment: one chain, every seq once, every event in it."""
    _, env = smtp
    import_roster(runner, tmp_path)
    leaver_ids = add_leavers(app, 20)

    outputs = succeeded(
        at_once("people", "anonymise", "--org", ORG, env=env, other=["reminders", "run"])
    )

    assert total(outputs, r"Anonymised (\d+)") == 20
    with app.app_context():
        events = db.session.execute(
            select(AuditEvent.seq, AuditEvent.action).order_by(AuditEvent.seq)
        ).all()
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    actions = Counter(action for _, action in events)
    assert actions["person_anonymised"] == len(leaver_ids)
    assert actions["reminder"] == len(rows(app, Reminder)) >= 8
    chains_verify(runner)


def test_two_membership_syncs_at_once_store_each_member_once(
    app: Flask,
    lms: DemoPlatform,
    launched: Any,
    runner: FlaskCliRunner,
    at_once: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(60):  # learners enrolled in the course who never launched the module
        uid = f"u-crowd-{n:02d}"
        lms.people[uid] = DemoPerson(
            uid, f"Crowd {n}", "Crowd", str(n), f"{uid}@x.example", [ROLE_LEARNER], launches=False
        )
    launched("u-tom")  # the course's teacher: the launch that offers its membership
    members = set(lms.people)
    slowly(monkeypatch, lms, "members")  # each page takes the LMS a while

    outputs = succeeded(at_once("roster", "sync-lms", "--org", ORG))

    assert total(outputs, r"(\d+) members;") == 2 * len(members)  # both read the course
    with app.app_context():
        stored = db.session.execute(
            select(Person.subject, func.count())
            .where(Person.issuer == lms.issuer)
            .group_by(Person.subject)
        ).all()
        enrolled = db.session.scalars(
            select(Person.subject).join(CourseMember, CourseMember.person_id == Person.id)
        ).all()
        in_lms = db.session.scalars(select(Person.subject).where(Person.in_lms.is_(True))).all()
        synced = db.session.scalars(
            select(AuditEvent.details).where(
                AuditEvent.action == "roster_import", AuditEvent.actor == "cli"
            )
        ).all()
    assert dict(stored) == dict.fromkeys(members, 1)  # one person each
    assert sorted(enrolled) == sorted(members)  # one course membership each
    assert set(in_lms) == members
    # Nobody added twice: the runs between them added everyone but the teacher, once.
    assert len(synced) == 2 and sum(d["added"] for d in synced) == len(members) - 1
    chains_verify(runner)


def test_two_report_sends_at_once_send_one_e_mail_per_recipient(
    app: Flask,
    registered: DemoPlatform,
    runner: FlaskCliRunner,
    at_once: Any,
    smtp: tuple[SlowInbox, dict[str, str]],
    tmp_path: Path,
) -> None:
    inbox, env = smtp
    import_roster(runner, tmp_path)
    recipients = ["clerk@council.example", "monitoring.officer@council.example"]
    for key, value in (("report_recipients", ", ".join(recipients)), ("report_day", "1")):
        result = runner.invoke(args=["org", "set", "--org", ORG, key, value])
        assert result.exit_code == 0, result.output

    outputs = succeeded(at_once("report", "send", env=env))

    # Both found the report due; the second waited for the first to send and record it.
    assert total(outputs, r"Reports sent: (\d+)") == 1
    [msg] = inbox.messages
    assert sorted(r for envelope in inbox.envelopes for r in envelope) == recipients
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_content().startswith(b"%PDF-")
    [row] = rows(app, CommitteeReportSent)
    assert row.recipients == ", ".join(recipients)
    with app.app_context():
        sent = db.session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "committee_report_sent")
        ).all()
    assert [d["month"] for d in sent] == [row.month]
    chains_verify(runner)
