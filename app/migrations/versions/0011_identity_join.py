"""how a first launch joins the roster, and identities for HR to review

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 20:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _email_index_again():
    # SQLite's batch mode rebuilds the table without its expression index (0009's).
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            'CREATE INDEX IF NOT EXISTS ix_person_email_lower ON person (organisation_id, lower(email))'
        )


def upgrade():
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('roster_join', sa.String(length=20), server_default='sourcedid', nullable=False)
        )
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('joined_by', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('join_confirmed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('clash_with_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_person_clash_with_id_person'), 'person', ['clash_with_id'], ['id']
        )
    _email_index_again()
    # Joins made before this rule existed were made by e-mail or employee id without HR's
    # word; they are left as they were (trusted), as HR has been relying on them.


def downgrade():
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_person_clash_with_id_person'), type_='foreignkey')
        batch_op.drop_column('clash_with_id')
        batch_op.drop_column('join_confirmed_at')
        batch_op.drop_column('joined_at')
        batch_op.drop_column('joined_by')
    _email_index_again()
    with op.batch_alter_table('organisation', schema=None) as batch_op:
        batch_op.drop_column('roster_join')
