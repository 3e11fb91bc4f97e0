"""a course editor's pending deep linking request (LTI Deep Linking 2.0), single use

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 00:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'deep_link_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=False),
        sa.Column('deployment_id', sa.Integer(), nullable=False),
        sa.Column('settings', sa.JSON(), nullable=False),
        sa.Column('editor_name', sa.String(length=300), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['organisation_id'], ['organisation.id'],
            name=op.f('fk_deep_link_request_organisation_id_organisation'),
        ),
        sa.ForeignKeyConstraint(
            ['registration_id'], ['platform_registration.id'],
            name=op.f('fk_deep_link_request_registration_id_platform_registration'),
        ),
        sa.ForeignKeyConstraint(
            ['deployment_id'], ['deployment.id'],
            name=op.f('fk_deep_link_request_deployment_id_deployment'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deep_link_request')),
    )
    with op.batch_alter_table('deep_link_request', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_deep_link_request_organisation_id'), ['organisation_id'], unique=False
        )
        batch_op.create_index(
            batch_op.f('ix_deep_link_request_expires_at'), ['expires_at'], unique=False
        )


def downgrade():
    with op.batch_alter_table('deep_link_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deep_link_request_expires_at'))
        batch_op.drop_index(batch_op.f('ix_deep_link_request_organisation_id'))
    op.drop_table('deep_link_request')
