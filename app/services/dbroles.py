"""PostgreSQL roles: what the runtime role (web processes and scheduled jobs) may do.

The owner role runs the migrations and owns every table, trigger and function; the runtime
role owns nothing, so it can neither ALTER nor DISABLE a trigger, and it gets no UPDATE,
DELETE or TRUNCATE on history. `grant_runtime` is run by the owner after every upgrade: it
first revokes everything the runtime role holds in the schema, then grants exactly the table
below, so running it again changes nothing and anything granted by hand goes.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

# History: only ever added to. audit_head moves forward under its trigger (never back or away).
HISTORY = (
    "acceptance",
    "quiz_attempt",
    "quiz_submission",
    "quiz_extension",
    "audit_event",
    "audit_head",
)

# Every table, and what the runtime role may do besides SELECT (which it has on all of them).
RUNTIME_WRITES: dict[str, tuple[str, ...]] = {
    # history
    "acceptance": ("INSERT",),
    "quiz_attempt": ("INSERT",),
    "quiz_submission": ("INSERT",),
    "quiz_extension": ("INSERT",),
    "audit_event": ("INSERT",),
    "audit_head": ("INSERT", "UPDATE"),
    # what the audit chain's checkpoints and verify runs found, for HR's pages
    "audit_checkpoint": ("INSERT",),
    "audit_verification": ("INSERT",),
    # migrations' own bookkeeping: read only
    "alembic_version": (),
    # content, published once per version
    "policy": ("INSERT", "UPDATE"),
    "policy_version": ("INSERT", "UPDATE"),
    "policy_section": ("INSERT",),
    "quiz_bank": ("INSERT",),
    "section_read": ("INSERT",),
    # answers ticked so far in an open attempt, overwritten as the learner goes
    "quiz_draft": ("INSERT", "UPDATE"),
    # settings, registrations, people and the work queues the app keeps up to date
    "organisation": ("INSERT", "UPDATE"),
    "role_mapping": ("INSERT", "UPDATE", "DELETE"),
    "platform_registration": ("INSERT", "UPDATE"),
    "deployment": ("INSERT", "UPDATE"),
    "tool_key": ("INSERT", "UPDATE"),
    "lti_login_state": ("INSERT", "UPDATE", "DELETE"),
    # DELETE: requests a day past their expiry are removed when a new one is stored.
    "deep_link_request": ("INSERT", "UPDATE", "DELETE"),
    "lms_context": ("INSERT", "UPDATE"),
    # DELETE: `roster sync-lms` removes those who left a course.
    "course_member": ("INSERT", "UPDATE", "DELETE"),
    "launch": ("INSERT", "UPDATE"),
    # DELETE: a first launch's placeholder person is removed when it joins a roster entry.
    "person": ("INSERT", "UPDATE", "DELETE"),
    "api_token": ("INSERT", "UPDATE"),
    "reminder": ("INSERT", "UPDATE"),
    # DELETE: a checked roster file is removed when imported or after 30 minutes.
    "roster_upload": ("INSERT", "DELETE"),
    "score_outbox": ("INSERT", "UPDATE"),
    # dynamic registration: invites are used once; attempts keep their outcome
    "registration_invite": ("INSERT", "UPDATE"),
    "registration_attempt": ("INSERT", "UPDATE"),
    # a scheduled committee report sent for a month: written once
    "committee_report_sent": ("INSERT",),
}

ANONYMISE_FUNCTION = "anonymise_leaver(bigint, text, bigint)"


class RoleError(Exception):
    pass


def _quote(session: Session, name: str) -> str:
    return str(session.execute(text("SELECT quote_ident(:n)"), {"n": name}).scalar_one())


def grant_runtime(session: Session, role: str) -> list[str]:
    """Give `role` exactly the runtime privileges in the current schema; returns the
    statements run. The caller commits."""
    if session.get_bind().dialect.name != "postgresql":
        raise RoleError(
            "Database roles are for PostgreSQL; SQLite is the single-user demo database."
        )
    facts = session.execute(
        text(
            "SELECT r.rolsuper OR r.rolbypassrls OR r.rolcreaterole, current_schema(), "
            "pg_has_role(:role, current_user, 'MEMBER'), r.rolname = current_user "
            "FROM pg_roles r WHERE r.rolname = :role"
        ),
        {"role": role},
    ).first()
    if facts is None:
        raise RoleError(f"There is no role {role!r}: create it first (CREATE ROLE ... LOGIN).")
    powerful, schema, member_of_owner, is_owner = facts
    if powerful:
        # CREATEROLE could grant itself the owner role.
        raise RoleError(
            f"{role!r} is a superuser or may create roles: a runtime role must be neither."
        )
    if is_owner or member_of_owner:
        raise RoleError(f"{role!r} is (or acts as) the owner role: use a separate runtime role.")
    groups = session.execute(
        text(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = :role) ORDER BY 1"
        ),
        {"role": role},
    ).scalars()
    group_names = list(groups)
    if group_names:
        # Privileges held through a group (pg_write_all_data, say) would not be revoked here.
        raise RoleError(
            f"{role!r} is a member of {', '.join(group_names)}: a runtime role must belong "
            "to no other role."
        )
    owned = session.execute(
        text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :schema AND c.relowner = (SELECT oid FROM pg_roles "
            "WHERE rolname = :role) UNION ALL SELECT n.nspname FROM pg_namespace n "
            "WHERE n.nspname = :schema AND n.nspowner = (SELECT oid FROM pg_roles "
            "WHERE rolname = :role)"
        ),
        {"schema": schema, "role": role},
    ).scalars()
    owned_names = sorted(owned)
    if owned_names:
        raise RoleError(
            f"{role!r} owns {', '.join(owned_names)}: the runtime role must own nothing."
        )
    tables = set(
        session.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
            {"schema": schema},
        ).scalars()
    )
    unknown = sorted(tables - set(RUNTIME_WRITES))
    if unknown:
        raise RoleError(
            f"No runtime privileges are set for {', '.join(unknown)}: add them to "
            "RUNTIME_WRITES in app/services/dbroles.py."
        )
    r, s = _quote(session, role), _quote(session, schema)
    statements = [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {s} FROM {r}",
        f"REVOKE ALL ON SCHEMA {s} FROM {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
    ]
    for name in sorted(tables):
        privileges = ", ".join(("SELECT", *RUNTIME_WRITES[name]))
        statements.append(f"GRANT {privileges} ON {s}.{_quote(session, name)} TO {r}")
    statements += [
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"GRANT EXECUTE ON FUNCTION {s}.{ANONYMISE_FUNCTION} TO {r}",
    ]
    for statement in statements:
        session.execute(text(statement))
    # What the role can really do, PUBLIC's grants included.
    for name in HISTORY:
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            if privilege in RUNTIME_WRITES[name]:
                continue
            held = session.execute(
                text("SELECT has_table_privilege(:role, :table, :privilege)"),
                {"role": role, "table": f"{s}.{_quote(session, name)}", "privilege": privilege},
            ).scalar_one()
            if held:
                raise RoleError(
                    f"{role!r} still has {privilege} on {name} (granted to PUBLIC?): revoke it."
                )
    can_create = session.execute(
        text("SELECT has_schema_privilege(:role, :schema, 'CREATE')"),
        {"role": role, "schema": schema},
    ).scalar_one()
    if can_create:
        raise RoleError(
            f"{role!r} may still create objects in schema {schema!r} (granted to PUBLIC?): "
            f"run REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC as its owner."
        )
    return statements
