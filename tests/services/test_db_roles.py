"""PostgreSQL's two roles: the runtime role (the app's, in every test here) cannot rewrite
history by any route, whatever it sets; the owner's triggers hold even against the owner's own
statements; the audit head only moves forward; the one anonymisation function works for the
runtime role and for nothing else; and `db grant-runtime` grants exactly the intended table.

SQLite is the single-user demo database: none of this applies there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm.attributes import set_committed_value

from app.clock import today, utcnow
from app.db import db
from app.models import Acceptance, AuditEvent, Organisation, Person
from app.services import dbroles, people
from app.services.status import add_months
from scripts.demo_lms.platform import DemoPlatform
from tests.conftest import (
    HISTORY_TABLES,
    ORG,
    OWNER_ROLE,
    RUNTIME_ROLE,
    app_url,
    superuser_url,
)
from tests.web.test_acceptance import accept, passed


@pytest.fixture(autouse=True)
def _postgresql_only(request: pytest.FixtureRequest) -> None:
    # All but the test that grant-runtime refuses SQLite.
    if not os.environ.get("TEST_DATABASE_URL") and request.function is not (
        test_grant_runtime_refuses_sqlite
    ):
        pytest.skip("database roles are PostgreSQL's; SQLite is the single-user demo database")


# What the runtime role may do on each table, written out here (not read from the code under
# test) so that a change to the grants has to change this table too.
EXPECTED_GRANTS = {
    "acceptance": "INSERT SELECT",
    "alembic_version": "SELECT",
    "api_token": "INSERT SELECT UPDATE",
    "audit_checkpoint": "INSERT SELECT",
    "audit_event": "INSERT SELECT",
    "committee_report_sent": "INSERT SELECT",
    "audit_head": "INSERT SELECT UPDATE",
    "audit_verification": "INSERT SELECT",
    "course_member": "DELETE INSERT SELECT UPDATE",
    "deployment": "INSERT SELECT UPDATE",
    "launch": "INSERT SELECT UPDATE",
    "lms_context": "INSERT SELECT UPDATE",
    "lti_login_state": "DELETE INSERT SELECT UPDATE",
    "deep_link_request": "DELETE INSERT SELECT UPDATE",
    "organisation": "INSERT SELECT UPDATE",
    "person": "DELETE INSERT SELECT UPDATE",
    "platform_registration": "INSERT SELECT UPDATE",
    "policy": "INSERT SELECT UPDATE",
    "policy_section": "INSERT SELECT",
    "policy_version": "INSERT SELECT UPDATE",
    "quiz_attempt": "INSERT SELECT",
    "quiz_bank": "INSERT SELECT",
    "quiz_draft": "INSERT SELECT UPDATE",
    "quiz_extension": "INSERT SELECT",
    "quiz_submission": "INSERT SELECT",
    "reminder": "INSERT SELECT UPDATE",
    "registration_attempt": "INSERT SELECT UPDATE",
    "registration_invite": "INSERT SELECT UPDATE",
    "role_mapping": "DELETE INSERT SELECT UPDATE",
    "roster_upload": "DELETE INSERT SELECT",
    "score_outbox": "INSERT SELECT UPDATE",
    "section_read": "INSERT SELECT",
    "tool_key": "INSERT SELECT UPDATE",
}

# Settings an attacker might try first: 0005's escape hatch, and others of any name and value.
SETTINGS = [
    None,
    ("cpm.anonymising", "on"),
    ("cpm.anonymising", "true"),
    ("cpm.allow_update", "1"),
    ("app.role", "owner"),
]

REPRODUCTION = (
    "UPDATE acceptance SET quiz_score = 99, typed_name = 'someone else', "
    "valid_until = '2099-01-01' WHERE id = {id}"
)

# One statement of each kind per table; WHERE true so that rows are really there to change.
CHANGES = {
    "acceptance": ["UPDATE acceptance SET quiz_score = 99", "DELETE FROM acceptance"],
    "quiz_attempt": ["UPDATE quiz_attempt SET cycle = 9", "DELETE FROM quiz_attempt"],
    "quiz_submission": ["UPDATE quiz_submission SET passed = false", "DELETE FROM quiz_submission"],
    "quiz_extension": [
        "UPDATE quiz_extension SET new_deadline = now() + interval '1 year'",
        "DELETE FROM quiz_extension",
    ],
    "audit_event": ["UPDATE audit_event SET action = 'x'", "DELETE FROM audit_event"],
    "audit_head": ["UPDATE audit_head SET seq = seq - 1", "DELETE FROM audit_head"],
    "audit_checkpoint": ["UPDATE audit_checkpoint SET seq = 1", "DELETE FROM audit_checkpoint"],
    "audit_verification": [
        "UPDATE audit_verification SET ok = true",
        "DELETE FROM audit_verification",
    ],
}


@pytest.fixture
def owner(database_url: str) -> Iterator[sa.Engine]:
    """The owner's login, as someone holding it (never the app) would connect."""
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def runtime(app: Flask) -> Iterator[sa.Engine]:
    """The app's own connection: the runtime role."""
    with app.app_context():
        yield db.engine


@pytest.fixture
def history(
    app: Flask, launched: Any, owner: sa.Engine, runner: FlaskCliRunner, tmp_path: Any
) -> int:
    """A row in every history table, through the real journey (one quiz extension, an audit
    checkpoint and a verify run); returns Aisha's acceptance id."""
    app.config.update(AUDIT_ANCHOR_KEY="k" * 40, AUDIT_CHECKPOINT_DIR=str(tmp_path))
    client = launched("u-aisha")
    passed(app, client)
    assert accept(client, "Aisha Khan").status_code == 302
    with app.app_context():
        row = db.session.scalars(sa.select(Acceptance)).one()
        attempt = db.session.scalar(sa.text("SELECT id FROM quiz_attempt LIMIT 1"))
        db.session.execute(
            sa.text(
                "INSERT INTO quiz_extension (attempt_id, extended_at, new_deadline) "
                "VALUES (:a, now(), now())"
            ),
            {"a": attempt},
        )
        db.session.commit()
    for job in (["audit", "checkpoint"], ["audit", "verify"]):
        result = runner.invoke(args=job)
        assert result.exit_code == 0, result.output
    with app.app_context():
        return row.id


def _snapshot(engine: sa.Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {t} ORDER BY 1"))]
            for t in HISTORY_TABLES
        }


def _refused(engine: sa.Engine, statement: str, setting: tuple[str, str] | None) -> str:
    with engine.connect() as conn:
        try:
            if setting is not None:
                conn.execute(
                    sa.text("SELECT set_config(:n, :v, true)"), {"n": setting[0], "v": setting[1]}
                )
            conn.execute(sa.text(statement))
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            return str(exc.orig)
        conn.rollback()
    raise AssertionError(f"not refused: {statement} (after {setting})")


def test_the_app_connects_as_the_runtime_role_which_owns_nothing(runtime: sa.Engine) -> None:
    with runtime.connect() as conn:
        user = conn.scalar(sa.text("SELECT current_user"))
        owns = conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND pg_get_userbyid(c.relowner) = :r"
            ),
            {"r": RUNTIME_ROLE},
        )
        member = conn.scalar(
            sa.text("SELECT pg_has_role(current_user, :o, 'MEMBER')"), {"o": OWNER_ROLE}
        )
    assert (user, owns, member) == (RUNTIME_ROLE, 0, False)


def test_grant_runtime_grants_exactly_the_intended_table(owner: sa.Engine) -> None:
    with owner.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT table_name, string_agg(privilege_type, ' ' ORDER BY privilege_type) "
                "FROM information_schema.role_table_grants "
                "WHERE grantee = :r AND table_schema = current_schema() GROUP BY table_name"
            ),
            {"r": RUNTIME_ROLE},
        ).all()
        functions = conn.execute(
            sa.text(
                "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = current_schema() "
                "AND has_function_privilege(:r, p.oid, 'EXECUTE') "
                "AND NOT has_function_privilege('public', p.oid, 'EXECUTE')"
            ),
            {"r": RUNTIME_ROLE},
        ).scalars()
        public_anonymise = conn.scalar(
            sa.text(
                "SELECT has_function_privilege('public', "
                "'anonymise_leaver(bigint, text, bigint)', 'EXECUTE')"
            )
        )
        schema = conn.execute(
            sa.text(
                "SELECT has_schema_privilege(:r, current_schema(), 'USAGE'), "
                "has_schema_privilege(:r, current_schema(), 'CREATE')"
            ),
            {"r": RUNTIME_ROLE},
        ).one()
        assert dict(rows) == EXPECTED_GRANTS
        assert set(functions) == {"anonymise_leaver"} and public_anonymise is False
        assert tuple(schema) == (True, False)


def test_grant_runtime_is_idempotent_and_revokes_what_was_added_by_hand(
    owner: sa.Engine, database_url: str, make_app: Any
) -> None:
    with owner.begin() as conn:
        conn.execute(sa.text(f"GRANT ALL ON acceptance, audit_head TO {RUNTIME_ROLE}"))
        conn.execute(sa.text(f"GRANT TRUNCATE, REFERENCES, TRIGGER ON person TO {RUNTIME_ROLE}"))
    owner_app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    for _ in range(2):
        result = owner_app.test_cli_runner().invoke(args=["db", "grant-runtime", RUNTIME_ROLE])
        assert result.exit_code == 0, result.output
        assert f"Runtime privileges granted to {RUNTIME_ROLE}." in result.output
    test_grant_runtime_grants_exactly_the_intended_table(owner)


@pytest.mark.parametrize(
    ("role", "message"),
    [
        ("nobody_at_all", "There is no role 'nobody_at_all'"),
        (OWNER_ROLE, "is (or acts as) the owner role"),
        ("postgres", "is a superuser or may create roles"),
        ("cpm_test_creator", "is a superuser or may create roles"),
        ("cpm_test_member", "is a member of pg_write_all_data"),
    ],
)
def test_grant_runtime_refuses_a_role_that_could_alter_history(
    database_url: str, make_app: Any, role: str, message: str
) -> None:
    admin = sa.create_engine(superuser_url(database_url))
    with admin.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('cpm test roles'))"))
        for name, options in (("cpm_test_creator", "CREATEROLE"), ("cpm_test_member", "")):
            if not conn.execute(
                sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}
            ).first():
                conn.execute(sa.text(f"CREATE ROLE {name} NOLOGIN {options}"))
        conn.execute(sa.text("GRANT pg_write_all_data TO cpm_test_member"))
    admin.dispose()
    owner_app = make_app(SQLALCHEMY_DATABASE_URI=database_url)
    result = owner_app.test_cli_runner().invoke(args=["db", "grant-runtime", role])
    assert result.exit_code != 0 and message in result.output, result.output


def test_grant_runtime_refuses_sqlite(tmp_path: Any) -> None:
    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})
    with app.app_context():
        with pytest.raises(dbroles.RoleError, match="single-user demo database"):
            dbroles.grant_runtime(db.session(), RUNTIME_ROLE)
        db.engine.dispose()


@pytest.mark.parametrize(
    "setting", SETTINGS, ids=lambda s: "no setting" if s is None else "=".join(s)
)
def test_the_issues_reproduction_is_refused_to_the_runtime_role_and_the_owner(
    history: int, runtime: sa.Engine, owner: sa.Engine, runner: FlaskCliRunner, setting: Any
) -> None:
    before = _snapshot(owner)
    statement = REPRODUCTION.format(id=history)
    assert "permission denied for table acceptance" in _refused(runtime, statement, setting)
    # Even the owner's own statement meets the trigger, which no setting opens.
    assert "acceptance is append-only: UPDATE refused" in _refused(owner, statement, setting)
    assert _snapshot(owner) == before
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "OK organisation" in verified.output


@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_no_history_table_can_be_updated_deleted_or_truncated(
    history: int, runtime: sa.Engine, owner: sa.Engine, table: str
) -> None:
    before = _snapshot(owner)
    for setting in SETTINGS:
        for statement in [*CHANGES[table], f"TRUNCATE {table} CASCADE"]:
            refused = _refused(runtime, statement, setting)
            # audit_head: the runtime role may move it forward, so its trigger refuses.
            assert "permission denied for table" in refused or (
                table == "audit_head" and "audit_head only moves forward" in refused
            ), (statement, refused)
            refused = _refused(owner, statement, setting)
            assert "refused" in refused, (statement, refused)  # by the owner's own triggers
    assert _snapshot(owner) == before


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE {t} DISABLE TRIGGER USER",
        "ALTER TABLE {t} DISABLE TRIGGER ALL",
        "ALTER TABLE {t} DISABLE TRIGGER {t}_no_truncate",
        "DROP TRIGGER {t}_no_truncate ON {t}",
        "ALTER TABLE {t} OWNER TO " + RUNTIME_ROLE,
        "CREATE TRIGGER sneak BEFORE UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION refuse_change()",
    ],
)
def test_the_runtime_role_cannot_touch_the_triggers(runtime: sa.Engine, statement: str) -> None:
    for table in HISTORY_TABLES:
        refused = _refused(runtime, statement.format(t=table), None)
        assert "must be owner" in refused or "permission denied" in refused, refused


@pytest.mark.parametrize(
    "statement",
    [
        "SET session_replication_role = replica",
        "CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE sql AS 'SELECT NULL'",
        "CREATE FUNCTION anonymise_leaver(bigint) RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "ALTER FUNCTION anonymise_leaver(bigint, text, bigint) SECURITY INVOKER",
        "CREATE TABLE sneak (id int)",
    ],
)
def test_the_runtime_role_cannot_switch_the_guards_off_another_way(
    runtime: sa.Engine, statement: str
) -> None:
    refused = _refused(runtime, statement, None)
    assert "permission denied" in refused or "must be owner" in refused, refused


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_head SET seq = seq - 1",
        "UPDATE audit_head SET seq = seq + 2, prev_hash = hash",
        "UPDATE audit_head SET seq = seq + 1, prev_hash = repeat('0', 64)",
        "UPDATE audit_head SET seq = seq + 1, prev_hash = hash, organisation_id = :other",
        "DELETE FROM audit_head",
        "INSERT INTO audit_head (organisation_id, seq, hash, prev_hash) "
        "VALUES (:other, 5, repeat('a', 64), repeat('b', 64))",
        "INSERT INTO audit_head (organisation_id, seq, hash, prev_hash) "
        "VALUES (:other, 1, repeat('a', 64), repeat('b', 64))",
    ],
    ids=[
        "back",
        "skip",
        "not from the head",
        "to another organisation",
        "deleted",
        "started mid-way",
        "started off genesis",
    ],
)
def test_the_audit_head_only_moves_forward(
    history: int, app: Flask, runtime: sa.Engine, owner: sa.Engine, statement: str
) -> None:
    with app.app_context():
        other = Organisation(name="Elsewhere")
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    for engine in (runtime, owner):  # the runtime role may INSERT and UPDATE: the trigger decides
        with (
            engine.connect() as conn,
            pytest.raises(sa.exc.DBAPIError, match=r"only moves forward|permission denied"),
        ):
            conn.execute(sa.text(statement), {"other": other_id})
    # And the one move it allows, through the app's audit trail, verifies.
    with app.app_context():
        head = db.session.execute(sa.text("SELECT seq, hash FROM audit_head")).one()
        with runtime.begin() as conn:
            conn.execute(
                sa.text("UPDATE audit_head SET seq = seq + 1, prev_hash = hash, hash = :h"),
                {"h": "f" * 64},
            )
        assert db.session.execute(sa.text("SELECT seq, prev_hash FROM audit_head")).one() == (
            head.seq + 1,
            head.hash,
        )


# -- the anonymisation function --------------------------------------------------------------


def _leaver(org_id: int, left_on: Any, **fields: Any) -> int:
    person = Person(
        organisation_id=org_id,
        name=fields.pop("name", "Lee Ver"),
        first_name="Lee",
        last_name="Ver",
        email=fields.pop("email", "lee@example.com"),
        employee_id=fields.pop("employee_id", None),
        active=fields.pop("active", False),
        left_on=left_on,
        **fields,
    )
    db.session.add(person)
    db.session.flush()
    return person.id


def _call(engine: sa.Engine, person_id: int, actor: str = "test") -> Any:
    with engine.begin() as conn:
        return conn.scalar(
            sa.text("SELECT anonymise_leaver(:p, :actor, NULL)"), {"p": person_id, "actor": actor}
        )


@pytest.fixture
def leavers(history: int, app: Flask) -> dict[str, int]:
    """Aisha (with her acceptance) and others, in different states of leaving."""
    due = add_months(today(), -72)  # six years ago: retention ends today
    with app.app_context():
        org = db.session.scalars(sa.select(Organisation)).one()
        aisha = db.session.scalars(sa.select(Person).where(Person.subject == "u-aisha")).one()
        aisha.active, aisha.left_on = False, due
        ids = {
            "aisha": aisha.id,
            "due": _leaver(org.id, due, email="due@example.com"),
            "held": _leaver(org.id, due, legal_hold=True),
            "in post": _leaver(org.id, None, active=True),
            "left, date unknown": _leaver(org.id, None),
            "ends tomorrow": _leaver(org.id, add_months(today() + timedelta(days=1), -72)),
            "children's workforce": _leaver(org.id, due, childrens_workforce=True),
        }
        db.session.commit()
        return ids


def test_the_runtime_role_anonymises_a_leaver_and_no_one_else_and_the_chain_verifies(
    leavers: dict[str, int], runtime: sa.Engine, owner: sa.Engine, runner: FlaskCliRunner
) -> None:
    with owner.connect() as conn:
        others_before = conn.execute(
            sa.text("SELECT * FROM person WHERE id <> :p ORDER BY id"), {"p": leavers["aisha"]}
        ).all()
        seq_before = conn.scalar(sa.text("SELECT seq FROM audit_head"))
    # An actor that json.dumps escapes: the event's hash, built in SQL, must still verify.
    actor = 'HR: Zoë "Jo" O\\Brien\t✓ 👩\x01'
    seq = _call(runtime, leavers["aisha"], actor)
    assert seq == seq_before + 1
    with owner.connect() as conn:
        person = conn.execute(
            sa.text("SELECT * FROM person WHERE id = :p"), {"p": leavers["aisha"]}
        ).one()
        assert (person.name, person.email, person.subject, person.first_name) == (
            "",
            None,
            None,
            None,
        )
        assert person.anonymised_at is not None and person.left_on is not None
        row = conn.execute(sa.text("SELECT * FROM acceptance")).one()
        assert (row.typed_name, row.ip_address, row.user_agent) == ("", None, None)
        assert row.quiz_score == 100  # what the figures count stays
        assert (
            conn.execute(
                sa.text("SELECT * FROM person WHERE id <> :p ORDER BY id"), {"p": leavers["aisha"]}
            ).all()
            == others_before
        )
        event = conn.execute(sa.text("SELECT * FROM audit_event ORDER BY seq DESC LIMIT 1")).one()
        assert (event.action, event.actor, event.subject_person_id, event.seq) == (
            "person_anonymised",
            actor,
            leavers["aisha"],
            seq,
        )
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "BROKEN" not in verified.output, verified.output


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("held", "is on legal hold"),
        ("in post", "is not a leaver"),
        ("left, date unknown", "is not a leaver"),
        ("ends tomorrow", "retention ends on"),
        ("children's workforce", "retention ends on"),
    ],
)
def test_the_function_refuses_anyone_not_due(
    leavers: dict[str, int], runtime: sa.Engine, owner: sa.Engine, who: str, message: str
) -> None:
    before = _snapshot(owner)
    with pytest.raises(sa.exc.DBAPIError, match=message):
        _call(runtime, leavers[who])
    assert _snapshot(owner) == before


def test_the_function_refuses_a_second_run_and_the_service_says_why(
    leavers: dict[str, int], app: Flask, runtime: sa.Engine
) -> None:
    _call(runtime, leavers["due"])
    with pytest.raises(sa.exc.DBAPIError, match="already anonymised"):
        _call(runtime, leavers["due"])
    with app.app_context():
        for who, error in (("held", people.OnLegalHold), ("ends tomorrow", people.NotDue)):
            person = db.session.get(Person, leavers[who])
            assert person is not None
            # Past the service's own check of the hold, and with its clock a year on: the
            # database checks again, by its own records and its own date.
            set_committed_value(person, "legal_hold", False)
            with pytest.raises(error):
                people.anonymise(db.session(), person, utcnow() + timedelta(days=400))
            db.session.rollback()


def test_scheduled_jobs_and_anonymisation_run_through_the_cli_as_the_runtime_role(
    leavers: dict[str, int],
    app: Flask,
    runner: FlaskCliRunner,
    registered: DemoPlatform,
    client: Any,
    tmp_path: Any,
) -> None:
    """The jobs with real work to do are tested where they belong (test_grade_passback,
    test_team, test_roster, test_retention, test_anchoring); there the app is also the
    runtime role. Here each runs once, with the grants and nothing more."""
    app.config.update(AUDIT_ANCHOR_KEY="k" * 40, AUDIT_CHECKPOINT_DIR=str(tmp_path))
    registered.tool_jwks = client.get("/lti/jwks").json
    try:
        with app.app_context():
            assert db.session.scalar(sa.text("SELECT current_user")) == RUNTIME_ROLE
        for args in (
            ["people", "anonymise", "--org", ORG],
            ["outbox", "run"],
            ["reminders", "run"],
            ["roster", "sync-lms", "--org", ORG],
            ["audit", "verify"],
            ["audit", "checkpoint"],
            ["audit", "verify", "--checkpoints", str(tmp_path)],
        ):
            result = runner.invoke(args=args)
            assert result.exit_code == 0, (args, result.output)
            if args[1] == "anonymise":
                assert "Anonymised 2." in result.output
    finally:
        registered.tool_jwks = None
    with app.app_context():
        done = set(db.session.scalars(sa.select(Person.id).where(Person.anonymised_at.isnot(None))))
        assert done == {leavers["aisha"], leavers["due"]}
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "person_anonymised")
            )
            == 2
        )


def test_the_function_reads_the_real_tables_not_the_callers_temporary_ones(
    leavers: dict[str, int], app: Flask, database_url: str, owner: sa.Engine
) -> None:
    """Temporary tables come first in a search path unless it puts them last: a caller's
    temporary `person`, saying Aisha left long ago and is not on hold, must not decide."""
    with app.app_context():
        person = db.session.get(Person, leavers["aisha"])
        assert person is not None
        person.legal_hold = True
        db.session.commit()
    before = _snapshot(owner)
    caller = sa.create_engine(app_url(database_url), poolclass=sa.pool.NullPool)
    with caller.connect() as conn:
        real = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
        conn.execute(sa.text(f'CREATE TEMP TABLE person AS SELECT * FROM "{real}".person'))
        conn.execute(sa.text("UPDATE pg_temp.person SET legal_hold = false"))
        conn.execute(sa.text("GRANT ALL ON pg_temp.person TO PUBLIC"))  # the owner may read it
        with pytest.raises(sa.exc.DBAPIError, match="is on legal hold"):
            conn.execute(
                sa.text("SELECT anonymise_leaver(:p, 'test', NULL)"), {"p": leavers["aisha"]}
            )
    caller.dispose()
    assert _snapshot(owner) == before


@pytest.mark.parametrize(
    "left_on",
    ["2020-02-29", "2019-01-31", "2019-03-31", "2019-08-31", "2019-12-31", "2019-06-15"],
)
@pytest.mark.parametrize("years", [1, 6, 25])
def test_the_database_reckons_retention_as_the_tool_does(
    runtime: sa.Engine, left_on: str, years: int
) -> None:
    day = date.fromisoformat(left_on)
    with runtime.connect() as conn:
        ends = conn.scalar(sa.text("SELECT retention_ends(:d, :y)"), {"d": day, "y": years})
    assert ends == add_months(day, 12 * years)


def test_the_databases_date_has_the_last_word_over_the_tools_clock(
    leavers: dict[str, int], app: Flask, runner: FlaskCliRunner, travel: Any
) -> None:
    """With the tool's clock a day fast, the command lists the leaver whose retention ends
    tomorrow; the database, by its own date, refuses, and the command says so and goes on."""
    travel(days=1)
    result = runner.invoke(args=["people", "anonymise", "--org", ORG])
    assert result.exit_code == 0, result.output
    assert f"person {leavers['ends tomorrow']} not anonymised" in result.output
    assert "retention ends on" in result.output and "Anonymised 2." in result.output
    with app.app_context():
        person = db.session.get(Person, leavers["ends tomorrow"])
        assert person is not None and person.anonymised_at is None and person.last_name == "Ver"
