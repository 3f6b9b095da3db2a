"""Monthly reports kept for download: generating them once per region and month (also by the
periodic task on the 1st), finding them in a staff member's scope, and the city's 报送.

Services flush; the caller commits. Two workers generating the same report at once leave one
row: the UNIQUE(region_code, month) constraint decides, the loser reads the winner's row (its
stored object is an orphan the storage sweep removes).
"""

import io
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cloud.errors import NotFound
from cloud.extensions import db
from cloud.files.service import store_file
from cloud.messages.service import notify
from cloud.stations import scope
from cloud.stations.models import StaffAssignment, Station
from cloud.stats import report
from cloud.stats.models import MonthlyReport


def find(region_code, month):
    return db.session.scalar(
        select(MonthlyReport).where(MonthlyReport.region_code == region_code, MonthlyReport.month == month)
    )


def generate(region_code, month, fmt="xlsx", *, actor=None):
    """The report of ``region_code`` for ``month``: the kept one, or made now. Returns
    (report row, created). Raises ValidationFailed / NotFound for a bad month or region."""
    region_code, month = report.parse_region(region_code), report.parse_month(month)
    existing = find(region_code, month)
    if existing is not None:
        return existing, False
    data, content_type, name = report.render(report.build(region_code, month), fmt)
    stored = store_file(io.BytesIO(data), original_name=name, content_type=content_type)
    row = MonthlyReport(
        region_code=region_code,
        month=month,
        format=fmt,
        stored_file_id=stored.id,
        created_by_id=getattr(actor, "id", None),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return find(region_code, month), False
    return row, True


def previous_month(today):
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def generate_all(month):
    """Last month's reports of every city and province with recognised stations, and a message to
    each city's staff when theirs is made. Returns the regions whose report was created now."""
    numbered = db.session.scalars(select(Station.region_code).where(Station.number.is_not(None)).distinct())
    cities = sorted({code[:4] for code in numbered})
    regions = sorted({code[:2] for code in cities}) + cities
    created = []
    for code in regions:
        row, is_new = generate(code, month)
        if not is_new:
            continue
        created.append(code)
        if len(code) == 4:
            for assignment in db.session.scalars(
                select(StaffAssignment).where(StaffAssignment.region_code == code)
            ):
                notify(
                    assignment.user,
                    f"{month} 月度统计报表已生成",
                    f"{row.region.name}{month}月度统计报表已生成，请核对后于次月3日前报送省科协。",
                    link="/stats/reports",
                )
    db.session.flush()
    return created


def in_scope(user, *, region=None, month=None):
    """The kept reports ``user`` may read (their region and below), newest month first."""
    stmt = select(MonthlyReport).where(scope.region_clause(user, MonthlyReport.region_code))
    if region:
        stmt = stmt.where(MonthlyReport.region_code.like(f"{report.parse_region(region)}%"))
    if month:
        stmt = stmt.where(MonthlyReport.month == report.parse_month(month))
    return db.session.scalars(stmt.order_by(MonthlyReport.month.desc(), MonthlyReport.region_code)).all()


def visible(user, report_id):
    """The report with ``report_id`` if ``user`` may read it; NotFound otherwise (also outside)."""
    row = db.session.get(MonthlyReport, report_id) if isinstance(report_id, int) else None
    if row is None or not scope.covers(user, row.region_code):
        raise NotFound("报表不存在")
    return row


def visible_region(user, region):
    """A region code ``user`` may read figures of (NotFound outside their scope)."""
    code = report.parse_region(region)
    if not scope.covers(user, code):
        raise NotFound("地区不存在")
    return code


def overdue(month, today):
    """True once the 3rd (Beijing) of the month after ``month`` has passed."""
    first = date.fromisoformat(f"{month}-01")
    following = (first + timedelta(days=32)).replace(day=3)
    return today > following
