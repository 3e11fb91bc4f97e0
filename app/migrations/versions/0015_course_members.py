"""who is enrolled in each LMS course (from NRPS), and the organisation's LMS address

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 23:30:00

"""
from urllib.parse import urlsplit

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def _plain_https(url):
    """An address safe to mail to everyone (the rule is app/services/settings.py's)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return (
        parts.scheme == 'https'
        and bool(parts.hostname)
        and '@' not in parts.netloc
        and not parts.query
        and not parts.fragment
        and len(url) <= 500
    )


def upgrade():
    op.create_table(
        'course_member',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('lms_context_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('roles', sa.JSON(), nullable=False),
        sa.Column('learner', sa.Boolean(), nullable=False),
        sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['organisation_id'], ['organisation.id'],
            name=op.f('fk_course_member_organisation_id_organisation'),
        ),
        sa.ForeignKeyConstraint(
            ['lms_context_id'], ['lms_context.id'],
            name=op.f('fk_course_member_lms_context_id_lms_context'),
        ),
        sa.ForeignKeyConstraint(
            ['person_id'], ['person.id'], name=op.f('fk_course_member_person_id_person')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_course_member')),
        sa.UniqueConstraint(
            'lms_context_id', 'person_id', name=op.f('uq_course_member_lms_context_id_person_id')
        ),
    )
    op.create_index(
        op.f('ix_course_member_organisation_id'), 'course_member', ['organisation_id']
    )
    op.create_index(op.f('ix_course_member_person_id'), 'course_member', ['person_id'])
    with op.batch_alter_table('lms_context', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('members_synced_at', sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('lms_url', sa.String(length=500), server_default='', nullable=False)
        )
    # The address was a reminder setting set in the database; it becomes a checked setting.
    # A value that could carry a secret is dropped (HR sets it again on the settings page).
    orgs = sa.table(
        'organisation',
        sa.column('id', sa.Integer()),
        sa.column('reminder_settings', sa.JSON()),
        sa.column('lms_url', sa.String()),
    )
    bind = op.get_bind()
    for org_id, settings in bind.execute(sa.select(orgs.c.id, orgs.c.reminder_settings)).all():
        if not isinstance(settings, dict) or 'lms_url' not in settings:
            continue
        url = str(settings.pop('lms_url') or '').strip()
        values = {'reminder_settings': settings}
        if url and _plain_https(url):
            values['lms_url'] = url
        bind.execute(orgs.update().where(orgs.c.id == org_id).values(**values))


def downgrade():
    op.drop_index(op.f('ix_course_member_person_id'), table_name='course_member')
    op.drop_index(op.f('ix_course_member_organisation_id'), table_name='course_member')
    op.drop_table('course_member')
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('lms_url')
    with op.batch_alter_table('lms_context', schema=None) as batch_op:
        batch_op.drop_column('members_synced_at')
