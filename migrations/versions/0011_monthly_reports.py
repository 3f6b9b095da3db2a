"""monthly reports: generated reports kept for download, and their 报送

Revision ID: 0011_monthly_reports
Revises: 0010_usage_stats

"""
from alembic import op
import sqlalchemy as sa

import cloud.models_base


# revision identifiers, used by Alembic.
revision = '0011_monthly_reports'
down_revision = "0010_usage_stats"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('monthly_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('stored_file_id', sa.Integer(), nullable=False),
    sa.Column('created_at', cloud.models_base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('submitted_at', cloud.models_base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('submission_note', sa.Text(), nullable=False),
    sa.Column('highlight_ids', sa.String(length=1000), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_monthly_report_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['region_code'], ['region.code'], name=op.f('fk_monthly_report_region_code_region')),
    sa.ForeignKeyConstraint(['stored_file_id'], ['stored_file.id'], name=op.f('fk_monthly_report_stored_file_id_stored_file')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['user.id'], name=op.f('fk_monthly_report_submitted_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monthly_report')),
    sa.UniqueConstraint('region_code', 'month', name='uq_monthly_report_region_month')
    )


def downgrade():
    op.drop_table('monthly_report')
