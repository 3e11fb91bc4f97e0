"""extra origins a platform's service URLs (AGS, NRPS) may be on

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 22:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('platform_registration', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('service_origins', sa.Text(), server_default='', nullable=False)
        )


def downgrade():
    with op.batch_alter_table('platform_registration', schema=None) as batch_op:
        batch_op.drop_column('service_origins')
