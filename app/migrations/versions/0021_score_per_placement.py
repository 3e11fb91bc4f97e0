"""a score per acceptance and placement: a second activity (course) gets its own score

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 02:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('score_outbox') as batch:
        batch.drop_constraint(batch.f('uq_score_outbox_acceptance_id'), type_='unique')
        batch.create_unique_constraint(
            batch.f('uq_score_outbox_acceptance_id_registration_id_resource_link_id'),
            ['acceptance_id', 'registration_id', 'resource_link_id'],
        )


def downgrade():
    with op.batch_alter_table('score_outbox') as batch:
        batch.drop_constraint(
            batch.f('uq_score_outbox_acceptance_id_registration_id_resource_link_id'),
            type_='unique',
        )
        batch.create_unique_constraint(batch.f('uq_score_outbox_acceptance_id'), ['acceptance_id'])
