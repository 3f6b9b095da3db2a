"""ui flows: admins' decisions about search terms, the spoken captcha given once

Revision ID: 0014_ui_flows
Revises: 0012_monthly_rollups

"""
from alembic import op
import sqlalchemy as sa

import cloud.models_base


# revision identifiers, used by Alembic.
revision = '0014_ui_flows'
down_revision = "0012_monthly_rollups"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('search_term',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('query', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', cloud.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['user.id'], name=op.f('fk_search_term_decided_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_term')),
    sa.UniqueConstraint('query', name=op.f('uq_search_term_query'))
    )
    with op.batch_alter_table('captcha', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audio_rendered_at', cloud.models_base.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('captcha', schema=None) as batch_op:
        batch_op.drop_column('audio_rendered_at')
    op.drop_table('search_term')
