"""the committee report: its settings, the committee's members, and the record of each sending

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 08:00:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organisation') as batch:
        batch.add_column(sa.Column('report_target_percent', sa.Integer(), server_default='95', nullable=False))
        batch.add_column(sa.Column('report_councillor_names', sa.String(length=10), server_default='hidden', nullable=False))
        batch.add_column(sa.Column('report_day', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('report_period', sa.String(length=10), server_default='quarter', nullable=False))
        batch.add_column(sa.Column('report_recipients', sa.String(length=2000), server_default='', nullable=False))
    with op.batch_alter_table('person') as batch:
        batch.add_column(sa.Column('committee_member', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        'committee_report_sent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('report_date', sa.Date(), nullable=False),
        sa.Column('period', sa.String(length=10), nullable=False),
        sa.Column('recipients', sa.String(length=2000), nullable=False),
        sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'], name=op.f('fk_committee_report_sent_organisation_id_organisation')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_committee_report_sent')),
        sa.UniqueConstraint('organisation_id', 'month', name=op.f('uq_committee_report_sent_organisation_id_month')),
    )


def downgrade():
    op.drop_table('committee_report_sent')
    with op.batch_alter_table('person') as batch:
        batch.drop_column('committee_member')
    with op.batch_alter_table('organisation') as batch:
        for name in ('report_recipients', 'report_period', 'report_day', 'report_councillor_names', 'report_target_percent'):
            batch.drop_column(name)
