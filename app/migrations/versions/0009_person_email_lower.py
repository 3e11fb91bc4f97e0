"""index people by lower(e-mail): a first launch finds its roster entry without a scan

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 06:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_person_email_lower', 'person', ['organisation_id', sa.text('lower(email)')]
    )


def downgrade():
    op.drop_index('ix_person_email_lower', table_name='person')
