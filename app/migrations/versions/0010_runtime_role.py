"""PostgreSQL runtime role: narrow anonymisation function, audit head that only moves forward

History (acceptances, quiz attempts, submissions and extensions, audit events) is refused
UPDATE, DELETE and TRUNCATE with no escape: 0005's `cpm.anonymising` setting, which any role
could switch on, is gone. Anonymising a leaver goes through anonymise_leaver(), a SECURITY
DEFINER function owned by the role that runs this migration (the owner): it checks in SQL that
the person is due, blanks the documented personal columns and appends its own audit event.
The acceptance trigger lets an UPDATE through only when it runs with the table owner's
privileges (inside that function: the runtime role owns nothing) and it only blanks those
columns. audit_head may only move forward. SQLite (the single-user demo database): nothing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 20:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

GENESIS = "0" * 64
APPEND_ONLY = ["quiz_attempt", "quiz_submission", "quiz_extension", "audit_event"]
HISTORY = ["acceptance", *APPEND_ONLY, "audit_head"]

REFUSE_CHANGE = """
    CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
"""

# The only columns of an acceptance that anonymisation blanks (app/services/people.py
# anonymise() on SQLite blanks the same).
ACCEPTANCE_GUARD = """
    CREATE FUNCTION acceptance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        blanked CONSTANT text[] := ARRAY['typed_name', 'ip_address', 'user_agent',
                                         'recorded_note'];
    BEGIN
        -- Only with the table owner's privileges (the runtime role gets them inside
        -- anonymise_leaver() and nowhere else), and only to blank the personal columns.
        IF TG_OP = 'UPDATE'
           AND (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
               = (SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID)
           AND NEW.typed_name = '' AND NEW.ip_address IS NULL AND NEW.user_agent IS NULL
           AND NEW.recorded_note IS NULL
           AND to_jsonb(NEW) - blanked = to_jsonb(OLD) - blanked THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
"""

AUDIT_HEAD_FORWARD = f"""
    CREATE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND NEW.seq = 1 AND NEW.prev_hash = '{GENESIS}' THEN
            RETURN NEW;
        END IF;
        IF TG_OP = 'UPDATE' AND NEW.organisation_id = OLD.organisation_id
           AND NEW.seq = OLD.seq + 1 AND NEW.prev_hash = OLD.hash THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_head only moves forward: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END $$
"""

# The canonical JSON of the event is built as app/services/audit.py canonical() builds it
# (json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)): keys in code-point
# order; to_json() escapes strings as json.dumps does, and occurred_at is isoformat() in UTC.
# add_months(left_on, 12 * years) of app/services/status.py: the same day, or the month's last
# day (PostgreSQL's month arithmetic clamps as it does).
RETENTION_ENDS = """
    CREATE FUNCTION retention_ends(left_on date, years integer) RETURNS date
    LANGUAGE sql IMMUTABLE STRICT AS $$
        SELECT (left_on + make_interval(months => 12 * years))::date
    $$
"""

# search_path: the schema the migration runs in, then pg_temp, last and explicitly (otherwise
# the caller's temporary tables would be searched first and could stand in for real ones).
ANONYMISE_LEAVER = f"""
    CREATE FUNCTION anonymise_leaver(p_person_id bigint, p_actor text,
                                     p_actor_person_id bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {{schema}}, pg_temp AS $$
    DECLARE
        p person%ROWTYPE;
        o organisation%ROWTYPE;
        years integer;
        ends date;
        today date := (now() AT TIME ZONE 'Europe/London')::date;
        moment timestamptz := now();
        before text;
        after text;
        new_seq bigint;
        new_hash text;
        old_hash text;
    BEGIN
        SELECT * INTO p FROM person WHERE id = p_person_id FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'person % not found', p_person_id USING ERRCODE = 'CPM01';
        END IF;
        IF p.legal_hold THEN
            RAISE EXCEPTION 'person % is on legal hold', p_person_id USING ERRCODE = 'CPM02';
        END IF;
        IF p.anonymised_at IS NOT NULL THEN
            RAISE EXCEPTION 'person % is already anonymised', p_person_id
                USING ERRCODE = 'CPM03';
        END IF;
        IF p.active OR p.left_on IS NULL THEN
            RAISE EXCEPTION 'person % is not a leaver', p_person_id USING ERRCODE = 'CPM04';
        END IF;
        SELECT * INTO o FROM organisation WHERE id = p.organisation_id;
        years := CASE WHEN p.childrens_workforce THEN o.retention_years_childrens
                      ELSE o.retention_years END;
        ends := retention_ends(p.left_on, years);
        IF ends > today THEN
            RAISE EXCEPTION 'person %: retention ends on %', p_person_id, ends
                USING ERRCODE = 'CPM05';
        END IF;

        UPDATE person SET given_name = NULL, family_name = NULL, email = NULL,
               employee_id = NULL, first_name = NULL, last_name = NULL, job_title = NULL,
               issuer = NULL, subject = NULL, manager_id = NULL, name = '',
               last_lti_roles = '[]'::json, anonymised_at = moment
         WHERE id = p.id;
        UPDATE acceptance SET typed_name = '', ip_address = NULL, user_agent = NULL,
               recorded_note = NULL
         WHERE person_id = p.id;
        UPDATE launch SET ip_address = NULL, user_agent = NULL WHERE person_id = p.id;
        UPDATE reminder SET to_address = '', cc_address = NULL, subject = '',
               last_error = NULL, details = '{{}}'::json
         WHERE person_id = p.id;
        UPDATE score_outbox SET user_id = ''
         WHERE acceptance_id IN (SELECT id FROM acceptance WHERE person_id = p.id);

        before := '{{"action":"person_anonymised","actor":'
            || coalesce(to_json(p_actor)::text, 'null')
            || ',"actor_person_id":' || coalesce(p_actor_person_id::text, 'null')
            || ',"details":{{"retention_years":' || years::text || '}}'
            || ',"occurred_at":"'
            || to_char(moment AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00"'
            || ',"organisation_id":' || p.organisation_id::text
            || ',"seq":';
        after := ',"subject_person_id":' || p.id::text || '}}';
        -- Moves (and so locks) the head as app/services/audit.py does on PostgreSQL.
        INSERT INTO audit_head AS h (organisation_id, seq, prev_hash, hash)
        VALUES (p.organisation_id, 1, '{GENESIS}',
                encode(sha256(convert_to('{GENESIS}' || before || '1' || after, 'UTF8')),
                       'hex'))
        ON CONFLICT (organisation_id) DO UPDATE
           SET seq = h.seq + 1, prev_hash = h.hash,
               hash = encode(sha256(convert_to(h.hash || before || (h.seq + 1)::text
                                               || after, 'UTF8')), 'hex')
        RETURNING h.seq, h.hash, h.prev_hash INTO new_seq, new_hash, old_hash;
        INSERT INTO audit_event (organisation_id, seq, occurred_at, action, actor_person_id,
                                 actor, subject_person_id, details, prev_hash, hash)
        VALUES (p.organisation_id, new_seq, moment, 'person_anonymised', p_actor_person_id,
                p_actor, p.id, json_build_object('retention_years', years), old_hash,
                new_hash);
        RETURN new_seq;
    END $$
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(REFUSE_CHANGE)
    op.execute(ACCEPTANCE_GUARD)
    op.execute("DROP TRIGGER acceptance_append_only ON acceptance")
    op.execute("CREATE TRIGGER acceptance_append_only BEFORE UPDATE OR DELETE ON acceptance "
               "FOR EACH ROW EXECUTE FUNCTION acceptance_guard()")
    op.execute(AUDIT_HEAD_FORWARD)
    op.execute("CREATE TRIGGER audit_head_forward BEFORE INSERT OR UPDATE OR DELETE "
               "ON audit_head FOR EACH ROW EXECUTE FUNCTION audit_head_forward()")
    for table in HISTORY:
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()")
    op.execute(RETENTION_ENDS)
    schema = op.get_bind().execute(sa.text("SELECT quote_ident(current_schema())")).scalar_one()
    op.execute(ANONYMISE_LEAVER.replace("{schema}", schema))
    # Functions are executable by everyone unless revoked; `db grant-runtime` grants it back
    # to the runtime role alone.
    op.execute("REVOKE EXECUTE ON FUNCTION anonymise_leaver(bigint, text, bigint) FROM PUBLIC")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION anonymise_leaver(bigint, text, bigint)")
    op.execute("DROP FUNCTION retention_ends(date, integer)")
    for table in HISTORY:
        op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    op.execute("DROP TRIGGER audit_head_forward ON audit_head")
    op.execute("DROP FUNCTION audit_head_forward()")
    op.execute("DROP TRIGGER acceptance_append_only ON acceptance")
    op.execute("CREATE TRIGGER acceptance_append_only BEFORE UPDATE OR DELETE ON acceptance "
               "FOR EACH ROW EXECUTE FUNCTION refuse_change()")
    op.execute("DROP FUNCTION acceptance_guard()")
    # Back to 0005's function (with its setting), as that revision left it.
    op.execute("""
        CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND current_setting('cpm.anonymising', true) = 'on' THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
    """)
