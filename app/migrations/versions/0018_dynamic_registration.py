"""LTI Dynamic Registration: invites, attempts, and the organisation of a registration's new deployments

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 00:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('platform_registration', schema=None) as batch_op:
        batch_op.add_column(sa.Column('organisation_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_platform_registration_organisation_id_organisation'),
            'organisation', ['organisation_id'], ['id'],
        )
    op.create_table(
        'registration_invite',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('registration_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ['organisation_id'], ['organisation.id'],
            name=op.f('fk_registration_invite_organisation_id_organisation'),
        ),
        sa.ForeignKeyConstraint(
            ['registration_id'], ['platform_registration.id'],
            name=op.f('fk_registration_invite_registration_id_platform_registration'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_invite')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_registration_invite_token_hash')),
    )
    op.create_index(
        op.f('ix_registration_invite_organisation_id'), 'registration_invite',
        ['organisation_id'], unique=False,
    )
    op.create_table(
        'registration_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('invite_id', sa.Integer(), nullable=False),
        sa.Column('page_key_hash', sa.String(length=64), nullable=False),
        sa.Column('openid_configuration_url', sa.String(length=1000), nullable=False),
        sa.Column('registration_token_encrypted', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('platform_configuration', sa.JSON(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('registration_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['invite_id'], ['registration_invite.id'],
            name=op.f('fk_registration_attempt_invite_id_registration_invite'),
        ),
        sa.ForeignKeyConstraint(
            ['registration_id'], ['platform_registration.id'],
            name=op.f('fk_registration_attempt_registration_id_platform_registration'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_attempt')),
        sa.UniqueConstraint('page_key_hash', name=op.f('uq_registration_attempt_page_key_hash')),
    )
    op.create_index(
        op.f('ix_registration_attempt_invite_id'), 'registration_attempt',
        ['invite_id'], unique=False,
    )


def downgrade():
    op.drop_index(op.f('ix_registration_attempt_invite_id'), table_name='registration_attempt')
    op.drop_table('registration_attempt')
    op.drop_index(op.f('ix_registration_invite_organisation_id'), table_name='registration_invite')
    op.drop_table('registration_invite')
    with op.batch_alter_table('platform_registration', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_platform_registration_organisation_id_organisation'),
            type_='foreignkey',
        )
        batch_op.drop_column('organisation_id')
