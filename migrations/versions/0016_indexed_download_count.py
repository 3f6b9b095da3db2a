"""download counts out of the search index: the count the index last took in, per resource

Revision ID: 0016_indexed_download_count
Revises: 0011_monthly_reports

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_indexed_download_count'
down_revision = "0011_monthly_reports"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.add_column(sa.Column('indexed_download_count', sa.Integer(), server_default='0', nullable=False))
    # Until now every counted download re-indexed its resource: the index has today's counts.
    op.execute("UPDATE resource SET indexed_download_count = download_count")


def downgrade():
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_column('indexed_download_count')
