"""answers ticked so far in an open quiz attempt, kept on the server as the learner goes

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 21:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'quiz_draft',
        sa.Column('attempt_id', sa.Integer(), nullable=False),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['attempt_id'], ['quiz_attempt.id'],
            name=op.f('fk_quiz_draft_attempt_id_quiz_attempt'),
        ),
        sa.PrimaryKeyConstraint('attempt_id', name=op.f('pk_quiz_draft')),
    )


def downgrade():
    op.drop_table('quiz_draft')
