"""checked roster files kept for their import; the day of an acceptance known only by its date

roster_upload holds a roster file HR has checked, for 30 minutes, so that the check page's
one button imports exactly the file that was checked (app/services/roster.py).

acceptance.accepted_on: set when only the day is known. Every acceptance HR recorded on
someone's behalf so far came from a dated declaration: its accepted_at was midday in London
(or the moment HR recorded it, for a declaration made that day), a time nobody entered. They
get their London day here. Acceptances are append-only: the trigger is lifted for this one
fill, in the migration's transaction, and put back. No audit event holds accepted_at, so the
audit chain's hashes are untouched.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 21:30:00

"""
from datetime import UTC
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

LONDON = ZoneInfo('Europe/London')


def upgrade():
    op.create_table(
        'roster_upload',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('plan_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['organisation_id'], ['organisation.id'],
            name=op.f('fk_roster_upload_organisation_id_organisation'),
        ),
        sa.ForeignKeyConstraint(
            ['person_id'], ['person.id'], name=op.f('fk_roster_upload_person_id_person'),
            ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_roster_upload')),
        sa.UniqueConstraint('token', name=op.f('uq_roster_upload_token')),
    )
    op.create_index(
        op.f('ix_roster_upload_organisation_id'), 'roster_upload', ['organisation_id']
    )
    op.create_index(op.f('ix_roster_upload_created_at'), 'roster_upload', ['created_at'])
    with op.batch_alter_table('acceptance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepted_on', sa.Date(), nullable=True))
    # The status query reads it with each person's latest acceptance: kept in the covering
    # index, so PostgreSQL still answers that from the index alone.
    _latest_index(['policy_version_id', 'valid_until', 'quiz_score', 'recorded_by_person_id',
                   'accepted_on'])

    bind = op.get_bind()
    acceptance = sa.table(
        'acceptance',
        sa.column('id', sa.Integer()),
        sa.column('accepted_at', sa.DateTime(timezone=True)),
        sa.column('accepted_on', sa.Date()),
        sa.column('recorded_by_person_id', sa.Integer()),
    )
    rows = bind.execute(
        sa.select(acceptance.c.id, acceptance.c.accepted_at).where(
            acceptance.c.recorded_by_person_id.isnot(None)
        )
    ).all()
    if not rows:
        return
    postgresql = bind.dialect.name == 'postgresql'
    if postgresql:
        op.execute('ALTER TABLE acceptance DISABLE TRIGGER acceptance_append_only')
    for row_id, accepted_at in rows:
        moment = accepted_at if accepted_at.tzinfo else accepted_at.replace(tzinfo=UTC)
        bind.execute(
            acceptance.update()
            .where(acceptance.c.id == row_id)
            .values(accepted_on=moment.astimezone(LONDON).date())
        )
    if postgresql:
        op.execute('ALTER TABLE acceptance ENABLE TRIGGER acceptance_append_only')


def _latest_index(include):
    with op.batch_alter_table('acceptance', schema=None) as batch_op:
        batch_op.drop_index('ix_acceptance_latest')
        batch_op.create_index(
            'ix_acceptance_latest',
            ['organisation_id', 'person_id', sa.text('accepted_at DESC'), sa.text('id DESC')],
            postgresql_include=include,
        )


def downgrade():
    _latest_index(['policy_version_id', 'valid_until', 'quiz_score', 'recorded_by_person_id'])
    with op.batch_alter_table('acceptance', schema=None) as batch_op:
        batch_op.drop_column('accepted_on')
    op.drop_index(op.f('ix_roster_upload_created_at'), table_name='roster_upload')
    op.drop_index(op.f('ix_roster_upload_organisation_id'), table_name='roster_upload')
    op.drop_table('roster_upload')
