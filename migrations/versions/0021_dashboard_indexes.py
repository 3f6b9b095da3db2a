"""covering indexes in the order the dashboard groups by: share visits by user, resources' use

Revision ID: 0021_dashboard_indexes
Revises: 0020_station_user_monthly

A province's dashboard groups a month's share visits by informant and a month's use by resource.
With the grouping column right after the month, the database reads the rows in group order from
the index alone (no sort of tens of thousands of rows per request): the share-visit index of
0020 had the region before the user; the resource roll-up had no such index.

"""

from alembic import op


# revision identifiers, used by Alembic.
revision = "0021_dashboard_indexes"
down_revision = "0020_station_user_monthly"
branch_labels = None
depends_on = None

SHARE = "ix_user_usage_monthly_kind_month"
OLD_SHARE = ["event_kind", "month", "region_code", "user_id", "count"]
NEW_SHARE = ["event_kind", "month", "user_id", "region_code", "count"]
RESOURCE = (
    "ix_resource_monthly_month_resource",
    ["month", "resource_id", "region_code", "event_kind", "count"],
)


def upgrade():
    with op.batch_alter_table("user_usage_monthly", schema=None) as batch_op:
        batch_op.drop_index(SHARE)
        batch_op.create_index(SHARE, NEW_SHARE, unique=False)
    with op.batch_alter_table("resource_monthly", schema=None) as batch_op:
        batch_op.create_index(RESOURCE[0], RESOURCE[1], unique=False)


def downgrade():
    with op.batch_alter_table("resource_monthly", schema=None) as batch_op:
        batch_op.drop_index(RESOURCE[0])
    with op.batch_alter_table("user_usage_monthly", schema=None) as batch_op:
        batch_op.drop_index(SHARE)
        batch_op.create_index(SHARE, OLD_SHARE, unique=False)
