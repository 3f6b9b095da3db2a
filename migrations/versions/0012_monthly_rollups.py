"""monthly roll-ups: usage per month (station, type, resource, user) and per region and day

Revision ID: 0012_monthly_rollups
Revises: 0011_monthly_reports

The new tables are filled from the counted raw events already recorded, so they agree with the
daily roll-ups from the start (``flask stats rebuild`` recomputes all of them).

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_monthly_rollups'
down_revision = "0011_monthly_reports"
branch_labels = None
depends_on = None

TABLES = {
    # table: (key columns, indexes)
    "usage_monthly": (
        ["month", "station_id", "region_code", "event_kind"],
        {"ix_usage_monthly_region_month": ["region_code", "month"]},
    ),
    "kind_monthly": (
        ["month", "region_code", "resource_kind", "event_kind"],
        {"ix_kind_monthly_region_month": ["region_code", "month"]},
    ),
    "resource_monthly": (
        ["month", "region_code", "resource_id", "event_kind"],
        {"ix_resource_monthly_region_month": ["region_code", "month"]},
    ),
    "user_usage_monthly": (
        ["month", "user_id", "region_code", "event_kind"],
        {"ix_user_usage_monthly_region_month": ["region_code", "month"]},
    ),
    "region_daily": (
        ["day", "region_code", "event_kind"],
        {"ix_region_daily_region_day": ["region_code", "day"]},
    ),
}
TYPES = {
    "month": sa.Date, "day": sa.Date, "station_id": sa.Integer, "resource_id": sa.Integer,
    "user_id": sa.Integer, "region_code": lambda: sa.String(length=12),
    "resource_kind": lambda: sa.String(length=16), "event_kind": lambda: sa.String(length=16),
}
SOURCE = {"event_kind": "kind"}


def upgrade():
    for table, (key, indexes) in TABLES.items():
        op.create_table(table,
            sa.Column('id', sa.Integer(), nullable=False),
            *(sa.Column(name, TYPES[name](), nullable=False) for name in key),
            sa.Column('count', sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{table}')),
            sa.UniqueConstraint(*key, name=f'uq_{table}_key'),
        )
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, columns in indexes.items():
                batch_op.create_index(name, columns, unique=False)

    bind = op.get_bind()
    month = ("CAST(date_trunc('month', day) AS date)" if bind.dialect.name == "postgresql"
             else "date(day, 'start of month')")
    counted = "is_counted = true" if bind.dialect.name == "postgresql" else "is_counted = 1"
    for table, (key, _indexes) in TABLES.items():
        expressions = [month if name == "month" else SOURCE.get(name, name) for name in key]
        op.execute(
            f"INSERT INTO {table} ({', '.join(key)}, count) "
            f"SELECT {', '.join(expressions)}, COUNT(*) FROM usage_event WHERE {counted} "
            f"GROUP BY {', '.join(expressions)}"
        )


def downgrade():
    for table, (_key, indexes) in reversed(TABLES.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in indexes:
                batch_op.drop_index(name)
        op.drop_table(table)
