"""notices: 公告 on the home page's notice board, written by admins

Revision ID: 0017_notices
Revises: 0016_production_profile

"""
from alembic import op
import sqlalchemy as sa

import cloud.models_base


# revision identifiers, used by Alembic.
revision = '0017_notices'
down_revision = "0016_production_profile"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('is_hidden', sa.Boolean(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', cloud.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_notice_author_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice'))
    )


def downgrade():
    op.drop_table('notice')
