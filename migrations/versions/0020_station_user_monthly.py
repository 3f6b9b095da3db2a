"""station and user monthly roll-ups (all kinds of event together) and the share-visit index

Revision ID: 0020_station_user_monthly
Revises: 0018_catalog_version

A province's dashboard ranks 10,000 stations and counts tens of thousands of informants: these
roll-ups hold one row per station (or user) and month instead of one per kind of event. They are
filled from the counted raw events already recorded (``flask stats rebuild`` recomputes them).

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0020_station_user_monthly"
down_revision = "0018_catalog_version"
branch_labels = None
depends_on = None

TABLES = {
    "station_monthly": ["month", "station_id", "region_code"],
    "user_monthly": ["month", "user_id", "region_code"],
}
TYPES = {
    "month": sa.Date, "station_id": sa.Integer, "user_id": sa.Integer,
    "region_code": lambda: sa.String(length=12),
}
SHARE_INDEX = ("ix_user_usage_monthly_kind_month", ["event_kind", "month", "region_code", "user_id", "count"])


def upgrade():
    for table, key in TABLES.items():
        op.create_table(table,
            sa.Column("id", sa.Integer(), nullable=False),
            *(sa.Column(name, TYPES[name](), nullable=False) for name in key),
            sa.Column("count", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
            sa.UniqueConstraint(*key, name=f"uq_{table}_key"),
        )
    with op.batch_alter_table("user_usage_monthly", schema=None) as batch_op:
        batch_op.create_index(SHARE_INDEX[0], SHARE_INDEX[1], unique=False)

    bind = op.get_bind()
    month = ("CAST(date_trunc('month', day) AS date)" if bind.dialect.name == "postgresql"
             else "date(day, 'start of month')")
    counted = "is_counted = true" if bind.dialect.name == "postgresql" else "is_counted = 1"
    for table, key in TABLES.items():
        expressions = [month if name == "month" else name for name in key]
        op.execute(
            f"INSERT INTO {table} ({', '.join(key)}, count) "
            f"SELECT {', '.join(expressions)}, COUNT(*) FROM usage_event WHERE {counted} "
            f"GROUP BY {', '.join(expressions)}"
        )


def downgrade():
    with op.batch_alter_table("user_usage_monthly", schema=None) as batch_op:
        batch_op.drop_index(SHARE_INDEX[0])
    for table in reversed(TABLES):
        op.drop_table(table)
