"""production profile: download counts out of the search index, node key fingerprints

Revision ID: 0016_production_profile
Revises: 0015_audit_log

"""
from alembic import op
import sqlalchemy as sa

import cloud.models_base


# revision identifiers, used by Alembic.
revision = '0016_production_profile'
down_revision = "0015_audit_log"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.add_column(sa.Column('indexed_download_count', sa.Integer(), server_default='0', nullable=False))
    # Until now every counted download re-indexed its resource: the index has today's counts.
    op.execute("UPDATE resource SET indexed_download_count = download_count")

    op.create_table('node_fingerprint',
    sa.Column('node', sa.String(length=300), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('seen_at', cloud.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('node', name=op.f('pk_node_fingerprint'))
    )


def downgrade():
    op.drop_table('node_fingerprint')
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_column('indexed_download_count')
