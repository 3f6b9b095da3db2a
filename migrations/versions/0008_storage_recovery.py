"""storage recovery: quotas, damaged files, counted downloads, lost after-commit work

Revision ID: 0008_storage_recovery
Revises: 0007_stations
Create Date: 2026-12-02 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import cloud.models_base


# revision identifiers, used by Alembic.
revision = '0008_storage_recovery'
down_revision = '0007_stations'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stored_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('institution_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('damage', sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f('ix_stored_file_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stored_file_sha256'), ['sha256'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_stored_file_institution_id_institution'), 'institution', ['institution_id'], ['id'], use_alter=True)

    # Files already stored count against the institution they belong to: a resource's files,
    # a finished upload's file (its uploader's institution), a licence.
    op.execute(
        'UPDATE stored_file SET institution_id = (SELECT r.institution_id FROM resource_file rf '
        'JOIN resource r ON r.id = rf.resource_id WHERE rf.stored_file_id = stored_file.id) '
        'WHERE institution_id IS NULL'
    )
    op.execute(
        'UPDATE stored_file SET institution_id = (SELECT u.institution_id FROM upload up '
        'JOIN "user" u ON u.id = up.user_id WHERE up.stored_file_id = stored_file.id) '
        'WHERE institution_id IS NULL'
    )
    op.execute(
        'UPDATE stored_file SET institution_id = (SELECT i.id FROM institution i '
        'WHERE i.licence_file_id = stored_file.id) WHERE institution_id IS NULL'
    )
    op.execute("UPDATE stored_file SET damage = 'changed' WHERE damaged_at IS NOT NULL")

    with op.batch_alter_table('download_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_counted', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.create_index('ix_download_event_user_resource', ['user_id', 'resource_id', 'created_at'], unique=False)

    with op.batch_alter_table('processing_job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enqueued_at', cloud.models_base.UTCDateTime(timezone=True), nullable=True))

    op.create_table('pending_index_update',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('created_at', cloud.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_index_update'))
    )
    with op.batch_alter_table('pending_index_update', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_index_update_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_index_update_resource_id'), ['resource_id'], unique=False)


def downgrade():
    with op.batch_alter_table('pending_index_update', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pending_index_update_resource_id'))
        batch_op.drop_index(batch_op.f('ix_pending_index_update_created_at'))

    op.drop_table('pending_index_update')
    with op.batch_alter_table('processing_job', schema=None) as batch_op:
        batch_op.drop_column('enqueued_at')

    with op.batch_alter_table('download_event', schema=None) as batch_op:
        batch_op.drop_index('ix_download_event_user_resource')
        batch_op.drop_column('is_counted')

    with op.batch_alter_table('stored_file', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_stored_file_institution_id_institution'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_stored_file_sha256'))
        batch_op.drop_index(batch_op.f('ix_stored_file_institution_id'))
        batch_op.drop_column('damage')
        batch_op.drop_column('institution_id')
