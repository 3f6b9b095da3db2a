"""usage stats: usage events, daily roll-ups, share links

Revision ID: 0010_usage_stats
Revises: 0009_account_limits
Create Date: 2026-12-01 22:36:13.352473

Downloads recorded before this revision stay in download_event only: their station at the
time is unknown, so they are not rolled up.

"""
from alembic import op
import sqlalchemy as sa

import cloud.models_base


# revision identifiers, used by Alembic.
revision = '0010_usage_stats'
down_revision = "0009_account_limits"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('usage_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('resource_kind', sa.String(length=16), nullable=False),
    sa.Column('event_kind', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_daily')),
    sa.UniqueConstraint('day', 'station_id', 'region_code', 'resource_id', 'resource_kind', 'event_kind', name='uq_usage_daily_key')
    )
    with op.batch_alter_table('usage_daily', schema=None) as batch_op:
        batch_op.create_index('ix_usage_daily_region_day', ['region_code', 'day'], unique=False)
        batch_op.create_index('ix_usage_daily_station_day', ['station_id', 'day'], unique=False)

    op.create_table('user_usage_daily',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('resource_kind', sa.String(length=16), nullable=False),
    sa.Column('event_kind', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_usage_daily')),
    sa.UniqueConstraint('day', 'user_id', 'station_id', 'region_code', 'resource_id', 'resource_kind', 'event_kind', name='uq_user_usage_daily_key')
    )
    with op.batch_alter_table('user_usage_daily', schema=None) as batch_op:
        batch_op.create_index('ix_user_usage_daily_region_day', ['region_code', 'day'], unique=False)
        batch_op.create_index('ix_user_usage_daily_user_day', ['user_id', 'day'], unique=False)

    op.create_table('share_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('created_at', cloud.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_share_link_resource_id_resource'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_share_link_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_link')),
    sa.UniqueConstraint('token', name=op.f('uq_share_link_token')),
    sa.UniqueConstraint('user_id', 'resource_id', name='uq_share_link_user_resource')
    )
    with op.batch_alter_table('share_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_link_resource_id'), ['resource_id'], unique=False)

    op.create_table('usage_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('occurred_at', cloud.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('resource_kind', sa.String(length=16), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('is_counted', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('download_event_id', sa.Integer(), nullable=True),
    sa.Column('share_link_id', sa.Integer(), nullable=True),
    sa.Column('visitor_hash', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['download_event_id'], ['download_event.id'], name=op.f('fk_usage_event_download_event_id_download_event'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resource_id'], ['resource.id'], name=op.f('fk_usage_event_resource_id_resource'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['share_link_id'], ['share_link.id'], name=op.f('fk_usage_event_share_link_id_share_link'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_usage_event_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_event'))
    )
    with op.batch_alter_table('usage_event', schema=None) as batch_op:
        batch_op.create_index('ix_usage_event_day_kind', ['day', 'kind'], unique=False)
        batch_op.create_index('ix_usage_event_share_day', ['share_link_id', 'day', 'visitor_hash'], unique=False)
        batch_op.create_index('ix_usage_event_user_resource_day', ['user_id', 'resource_id', 'day'], unique=False)



def downgrade():
    with op.batch_alter_table('usage_event', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_event_user_resource_day')
        batch_op.drop_index('ix_usage_event_share_day')
        batch_op.drop_index('ix_usage_event_day_kind')

    op.drop_table('usage_event')
    with op.batch_alter_table('share_link', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_link_resource_id'))

    op.drop_table('share_link')
    with op.batch_alter_table('user_usage_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_user_usage_daily_user_day')
        batch_op.drop_index('ix_user_usage_daily_region_day')

    op.drop_table('user_usage_daily')
    with op.batch_alter_table('usage_daily', schema=None) as batch_op:
        batch_op.drop_index('ix_usage_daily_station_day')
        batch_op.drop_index('ix_usage_daily_region_day')

    op.drop_table('usage_daily')
