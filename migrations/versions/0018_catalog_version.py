"""catalog_version: one counter, raised with every change of what the resource center lists

Revision ID: 0018_catalog_version
Revises: 0017_notices

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_catalog_version'
down_revision = "0017_notices"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table('catalog_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_version'))
    )
    op.bulk_insert(table, [{"id": 1, "version": 0}])


def downgrade():
    op.drop_table('catalog_version')
