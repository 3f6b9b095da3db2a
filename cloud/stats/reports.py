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

from cloud.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cloud.extensions import db
from cloud.files.service import store_file
from cloud.messages.service import notify
from cloud.models_base import utcnow
from cloud.regions.models import Region
from cloud.stations import scope
from cloud.stations import service as stations
from cloud.stations.models import StaffAssignment, Station, StationActivity
from cloud.stats import report
from cloud.stats.models import MonthlyReport


def find(region_code, month):
    return db.session.scalar(
        select(MonthlyReport).where(MonthlyReport.region_code == region_code, MonthlyReport.month == month)
    )


def is_finished(month):
    """A month is over (its report can be kept and submitted) once its last Beijing day is past."""
    first = date.fromisoformat(f"{month}-01")
    return (first + timedelta(days=32)).replace(day=1) <= stations.today()


def so_far(region_code, month, fmt="xlsx"):
    """The figures of the current month up to now, as a file that is not kept (it would go stale):
    (bytes, content type, download name). ValidationFailed for a month that has not begun."""
    region_code, month = report.parse_region(region_code), report.parse_month(month)
    if date.fromisoformat(f"{month}-01") > stations.today():
        raise ValidationFailed("该月份尚未开始，没有统计数据", details={"field": "month"})
    data, content_type, name = report.render(report.build(region_code, month), fmt)
    stem, _dot, extension = name.rpartition(".")
    return data, content_type, f"{stem}（截至{stations.today().strftime('%m月%d日')}）.{extension}"


def generate(region_code, month, fmt="xlsx", *, actor=None):
    """The report of ``region_code`` for a finished ``month``: the kept one, or made now. Returns
    (report row, created). Raises ValidationFailed / NotFound for a bad month or region, and for
    a month that is not over (``so_far`` gives its figures up to now)."""
    region_code, month = report.parse_region(region_code), report.parse_month(month)
    if not is_finished(month):
        raise ValidationFailed(
            "该月尚未结束，月度报表将于次月1日生成；可先下载截至今日的统计", details={"field": "month"}
        )
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
                    f"{row.region.name}{month}月度统计报表已生成，请核对后于本月3日前报送省科协。",
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


def submit(actor, row, *, note="", highlight_ids=()):
    """报送: the city's staff submit their city's report to the province, once, with an optional
    note and chosen highlight activities (亮点活动 of that city and month). Raises
    PermissionDenied (not this city's staff), ValidationFailed (a foreign activity), Conflict
    (already submitted)."""
    if len(row.region_code) != 4 or scope.staff_region(actor) != row.region_code:
        raise PermissionDenied("只有本市科协可以报送本市的月度报表")
    if row.submitted_at is not None:
        raise Conflict("本月报表已报送")
    first, last = report.month_days(row.month)
    ids = sorted({int(i) for i in highlight_ids})
    if ids:
        found = db.session.scalars(
            select(StationActivity.id)
            .join(Station, Station.id == StationActivity.station_id)
            .where(
                StationActivity.id.in_(ids),
                StationActivity.highlighted_at.is_not(None),
                StationActivity.held_on >= first,
                StationActivity.held_on <= last,
                Station.region_code.like(f"{row.region_code}%"),
            )
        ).all()
        if sorted(found) != ids:
            raise ValidationFailed("所选亮点活动不属于本市本月", details={"field": "highlight_ids"})
    row.submitted_at = utcnow()
    row.submitted_by_id = actor.id
    row.submission_note = (note or "").strip()[:2000]
    row.highlight_ids = ",".join(str(i) for i in ids)
    db.session.flush()
    return row


def submission_status(province_code, month, today):
    """The province's view of 报送: ``[(city code, name, report row or None, state label)]`` for
    each of its cities, the state one of 已报送 / 未报送 / 逾期未报送 (after the 3rd, Beijing)."""
    month = report.parse_month(month)
    cities = db.session.execute(
        select(Region.code, Region.name).where(Region.parent_code == province_code).order_by(Region.code)
    ).all()
    kept = {
        row.region_code: row
        for row in db.session.scalars(
            select(MonthlyReport).where(
                MonthlyReport.month == month, MonthlyReport.region_code.like(f"{province_code}__")
            )
        )
    }
    late = overdue(month, today)
    result = []
    for code, name in cities:
        row = kept.get(code)
        if row is not None and row.submitted_at is not None:
            label = "已报送"
        else:
            label = "逾期未报送" if late else "未报送"
        result.append((code, name, row, label))
    return result
