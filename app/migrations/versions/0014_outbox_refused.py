"""scores the LMS refused: when, its HTTP status and answer

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 23:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('score_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('refused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('lms_status', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('lms_answer', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('score_outbox', schema=None) as batch_op:
        batch_op.drop_column('lms_answer')
        batch_op.drop_column('lms_status')
        batch_op.drop_column('refused_at')
