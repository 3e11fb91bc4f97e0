"""logins that keep their state and nonce in the platform's storage (lti_storage_target)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 00:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('lti_login_state') as batch:
        batch.add_column(sa.Column('storage_target', sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column('storage_proven_at', sa.DateTime(timezone=True), nullable=True)
        )


def downgrade():
    with op.batch_alter_table('lti_login_state') as batch:
        batch.drop_column('storage_proven_at')
        batch.drop_column('storage_target')
