"""The staff dashboards (issue 10, item 3): what the stations and informants of a region used in a
month or a range of days, read from the roll-ups.

Every figure is a GROUP BY over a roll-up (or the station and user tables) for the whole region
at once: a province of 10,000 stations costs the same handful of queries as a county. A period of
whole months reads the monthly roll-ups; any other range the daily ones (the same numbers: both
are the GROUP BY of the same counted events). Regions nest by code prefix (``LIKE '41%'``, as
everywhere in the project: a range ending in a sentinel character would depend on the
database's collation).
"""

import math
import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, case, func, select, true

from cloud.accounts.models import Role, User, UserRole
from cloud.errors import NotFound, ValidationFailed
from cloud.extensions import db
from cloud.regions.models import Region
from cloud.resources.models import KIND_LABELS, Resource
from cloud.stations import scope
from cloud.stations.models import Station
from cloud.stations.service import today
from cloud.stations.states import RECOGNISED_STATES
from cloud.stats.models import (
    EVENT_LABELS,
    NO_STATION,
    EventKind,
    KindMonthly,
    RegionDaily,
    ResourceMonthly,
    UsageDaily,
    UsageMonthly,
    UserUsageDaily,
    UserUsageMonthly,
)
from cloud.stats.service import day_bounds, month_days

KINDS = tuple(EventKind)
_VALUES = tuple(kind.value for kind in KINDS)
#: At most this many days in one range (a year and a day: a leap year).
MAX_DAYS = 366
#: 末位: the bottom share of the ranked stations (rounded up), and every station with no use.
BOTTOM_SHARE = 0.10
TOP_RESOURCES = TOP_INFORMANTS = 20
#: Stations listed in full at most (the ranking's head and its 末位 tail are always shown).
STATION_ROWS = 100
COUNTY_LEVEL = 3

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    month: str = ""  # "YYYY-MM" when the period is one calendar month

    @property
    def label(self):
        if self.month:
            return f"{self.first.year} 年 {self.first.month} 月"
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"

    @property
    def days(self):
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def whole_months(self):
        """The period is a run of whole calendar months (the monthly roll-ups answer it)."""
        return self.first.day == 1 and (self.last + timedelta(days=1)).day == 1


def parse_month(value):
    match = _MONTH.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValidationFailed("月份格式应为“年-月”，例如 2026-10", details={"field": "month"})
    first, last = month_days(value)
    return Period(first, last, value)


def _parse_day(value, field, label):
    try:
        if not _DAY.match(value):
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{label}格式应为“年-月-日”，例如 2026-10-01", details={"field": field}
        ) from None
    if day.year < 2000:
        raise ValidationFailed(f"{label}不能早于 2000 年", details={"field": field})
    return day


def parse_period(args):
    """The period a request asks for: ``month=YYYY-MM``, or ``from=`` and ``to=`` (days), or the
    current Beijing month. Raises ValidationFailed (a Chinese message) for anything else."""
    start, end = (args.get("from") or "").strip(), (args.get("to") or "").strip()
    if start or end:
        if not (start and end):
            raise ValidationFailed("请同时填写开始日期和结束日期", details={"field": "from"})
        first, last = _parse_day(start, "from", "开始日期"), _parse_day(end, "to", "结束日期")
        if first > last:
            raise ValidationFailed("开始日期不能晚于结束日期", details={"field": "from"})
        if (last - first).days + 1 > MAX_DAYS:
            raise ValidationFailed(f"查询范围不能超过 {MAX_DAYS} 天", details={"field": "to"})
        month = first.strftime("%Y-%m") if (first, last) == month_days(first) else ""
        return Period(first, last, month)
    month = (args.get("month") or "").strip()
    if month:
        return parse_month(month)
    return parse_month(today().strftime("%Y-%m"))


def scope_region(user, requested=None):
    """The region a staff member looks at: ``requested`` (a province, city or county inside their
    scope) or their own; admins default to everywhere (``None``). NotFound outside the scope."""
    if scope.staff_region(user) is None and not scope.sees_everything(user):
        raise NotFound()
    code = (requested or "").strip() or scope.staff_region(user) or ""
    if not code:
        return None
    if not code.isdigit() or len(code) > 12 or not scope.covers(user, code):
        raise NotFound("地区不存在")
    region = db.session.get(Region, code)
    if region is None or region.level > COUNTY_LEVEL:
        raise NotFound("地区不存在")
    return region


def in_region(column, prefix):
    """``column`` lies in the region ``prefix`` ("" for everywhere, use without a region included)."""
    if not prefix:
        return true()
    return column.like(f"{prefix}%")  # prefix: digits only (scope_region checks it)


def _kind_sums(model):
    return [func.sum(case((model.event_kind == kind.value, model.count), else_=0)) for kind in KINDS]


def _counts(row):
    values = dict(zip(_VALUES, (int(value or 0) for value in row), strict=True))
    values["total"] = sum(values.values())
    return values


def _zero():
    return dict.fromkeys([*(k.value for k in KINDS), "total"], 0)


def _period(model, period):
    grain = model.month if "month" in model.KEY else model.day
    return and_(grain >= period.first, grain <= period.last)


def _grain(period, daily, monthly):
    """The roll-up that answers ``period``: ``monthly`` for whole months, else ``daily``."""
    return monthly if period.whole_months else daily


def use_grid(prefix, period, width):
    """One scan of the region's roll-ups for the period, grouped by station and child region (the
    first ``width`` digits of the code): ``[(station id, child, n…)]`` with one count per kind
    of event (in ``KINDS`` order). The counts per station and per child region are sums of these
    rows (``_sums``); a province's month is about one row per station."""
    model = _grain(period, UsageDaily, UsageMonthly)
    child = func.substr(model.region_code, 1, width)
    stmt = (
        select(model.station_id, func.coalesce(child, ""), *_kind_sums(model))
        .where(_period(model, period), in_region(model.region_code, prefix))
        .group_by(model.station_id, child)
    )
    return db.session.execute(stmt).all()


def _sums(grid, column):
    """{value of the grid's ``column``: counts} summed over the grid (plain lists while adding,
    one dict per key at the end)."""
    sums = {}
    width = len(_VALUES)
    for row in grid:
        into = sums.get(row[column])
        if into is None:
            sums[row[column]] = list(row[2:])
        else:
            for index in range(width):
                into[index] += row[2 + index]
    return {key: _counts(values) for key, values in sums.items()}


def _add(into, counts):
    for key, value in counts.items():
        into[key] += value


def by_kind(prefix, period):
    """Counts per resource type: ``[(kind, label, {event kind: n, "total": n})]`` for all five types."""
    model = _grain(period, UsageDaily, KindMonthly)
    stmt = (
        select(model.resource_kind, *_kind_sums(model))
        .where(_period(model, period), in_region(model.region_code, prefix))
        .group_by(model.resource_kind)
    )
    found = {row[0]: _counts(row[1:]) for row in db.session.execute(stmt)}
    return [(kind.value, label, found.get(kind.value, _zero())) for kind, label in KIND_LABELS.items()]


def station_use(grid):
    """{station id: counts} of the use counted toward recognised-at-the-time stations."""
    use = _sums(grid, 0)
    use.pop(NO_STATION, None)
    return use


def child_use(grid):
    """{child region code: counts}."""
    return _sums(grid, 1)


def by_day(prefix, period):
    """Counts per Beijing day of the period (days without use included): ``[(day, counts)]``."""
    stmt = (
        select(RegionDaily.day, *_kind_sums(RegionDaily))
        .where(_period(RegionDaily, period), in_region(RegionDaily.region_code, prefix))
        .group_by(RegionDaily.day)
    )
    found = {row[0]: _counts(row[1:]) for row in db.session.execute(stmt)}
    return [(day, found.get(day, _zero())) for day in period.days]


def recognised_stations(prefix):
    """The stations of the region in the statistics now (纳入统计序列): ``[(id, number, name, county)]``."""
    stmt = (
        select(Station.id, Station.number, Station.name, Station.region_code)
        .where(Station.state.in_(sorted(RECOGNISED_STATES)), in_region(Station.region_code, prefix))
        .order_by(Station.id)
    )
    return db.session.execute(stmt).all()


@dataclass
class StationRow:
    id: int
    number: str
    name: str
    region_code: str
    counts: dict
    rank: int = 0
    is_bottom: bool = False


def ranking(stations, use):
    """Recognised stations by total use, most first (ties by id); the 末位 candidates marked: the
    bottom ``BOTTOM_SHARE`` (rounded up) and every station without use."""
    rows = [StationRow(s.id, s.number or "", s.name, s.region_code, use.get(s.id, _zero())) for s in stations]
    rows.sort(key=lambda r: (-r.counts["total"], r.id))
    bottom = math.ceil(len(rows) * BOTTOM_SHARE)
    for index, row in enumerate(rows):
        row.rank = index + 1
        row.is_bottom = row.counts["total"] == 0 or index >= len(rows) - bottom
    return rows


def top_resources(prefix, period, limit=TOP_RESOURCES):
    """The most used resources: ``[(resource id, title, kind label, counts)]``."""
    model = _grain(period, UsageDaily, ResourceMonthly)
    total = func.sum(model.count)
    stmt = (
        select(model.resource_id, *_kind_sums(model))
        .where(_period(model, period), in_region(model.region_code, prefix))
        .group_by(model.resource_id)
        .order_by(total.desc(), model.resource_id)
        .limit(limit)
    )
    rows = [(row[0], _counts(row[1:])) for row in db.session.execute(stmt)]
    info = _resources([rid for rid, _ in rows])
    return [(rid, *info.get(rid, ("已删除的资源", "")), counts) for rid, counts in rows]


def _resources(ids):
    if not ids:
        return {}
    stmt = select(Resource.id, Resource.title, Resource.kind).where(Resource.id.in_(ids))
    return {rid: (title, KIND_LABELS.get(kind, kind)) for rid, title, kind in db.session.execute(stmt)}


@dataclass
class InformantUse:
    """The informants with counted use toward the region in the period (so: active)."""

    per_child: dict  # {child region code: active informants}
    active: int
    top: list  # [(user id, 传播量)], most first, at most TOP_INFORMANTS


def informant_use(prefix, period, width, limit=TOP_INFORMANTS):
    """The informants' roll-ups counted in the database (a province has tens of thousands of
    informants: only the counts per child region and the top of the ranking come back)."""
    model = _grain(period, UserUsageDaily, UserUsageMonthly)
    child = func.substr(model.region_code, 1, width)
    where = (
        _period(model, period),
        in_region(model.region_code, prefix),
        model.user_id.in_(_informant_ids()),
    )
    per_child = db.session.execute(
        select(func.coalesce(child, ""), func.count(model.user_id.distinct())).where(*where).group_by(child)
    )
    active = db.session.scalar(select(func.count(model.user_id.distinct())).where(*where))
    visits = func.sum(case((model.event_kind == EventKind.SHARE_VISIT.value, model.count), else_=0))
    top = db.session.execute(
        select(model.user_id, visits)
        .where(*where)
        .group_by(model.user_id)
        .having(visits > 0)
        .order_by(visits.desc(), model.user_id)
        .limit(limit)
    )
    return InformantUse(
        per_child={code: int(n) for code, n in per_child},
        active=int(active or 0),
        top=[(uid, int(n)) for uid, n in top],
    )


def _informant_ids():
    return select(UserRole.user_id).where(UserRole.role == Role.INFORMANT)


def top_informants(use):
    """Informants by 传播量 (the visits of their share links): ``[(user id, name, n)]``."""
    ids = [uid for uid, _ in use.top]
    names = {}
    if ids:
        found = db.session.execute(
            select(User.id, User.name, User.username, User.phone).where(User.id.in_(ids))
        )
        names = {uid: name or username or _masked(phone) for uid, name, username, phone in found}
    return [(uid, names.get(uid, "已注销的用户"), n) for uid, n in use.top]


def _masked(phone):
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) == 11 else "信息员"


def children_of(region):
    """The regions one level below ``region`` (provinces for everywhere)."""
    stmt = select(Region).order_by(Region.code)
    stmt = stmt.where(Region.level == 1) if region is None else stmt.where(Region.parent_code == region.code)
    return db.session.scalars(stmt).all()


def _child_width(region):
    """How many digits of a code name the child region (a county's own code for a county)."""
    return {None: 2, 1: 4}.get(region.level if region else None, 6)


def per_child(region, period, grid, stations, use, informants):
    """Per region one level below ``region`` (not for a county: its children are its stations):
    ``[(Region, counts, recognised, active, informants registered, informants active)]``,
    only the regions with stations, informants or use."""
    width = _child_width(region)
    counts = child_use(grid)
    recognised, active = {}, {}
    for station in stations:
        code = station.region_code[:width]
        recognised[code] = recognised.get(code, 0) + 1
        if use.get(station.id, {}).get("total"):
            active[code] = active.get(code, 0) + 1
    registered = informants_registered(region.code if region else "", period, width)
    active_informants = informants.per_child
    rows = []
    for r in children_of(region):
        c = r.code
        if c in counts or c in recognised or c in registered or c in active_informants:
            rows.append(
                (
                    r,
                    counts.get(c, _zero()),
                    recognised.get(c, 0),
                    active.get(c, 0),
                    registered.get(c, 0),
                    active_informants.get(c, 0),
                )
            )
    return rows


def _informant_region():
    """An informant's region, as their use counts (``service.attribution``): their station's county
    while it is recognised, else their own region."""
    return func.coalesce(Station.region_code, User.region_code)


def informants_registered(prefix, period, width=None):
    """Active informant accounts registered by the end of the period, in the region (see
    ``_informant_region``): ``{child prefix: n}`` with ``width``, else ``{"": n}``."""
    _start, end = day_bounds(period.first, period.last)
    where = _informant_region()
    stmt = (
        select(func.count(User.id))
        .select_from(User)
        .outerjoin(Station, and_(Station.id == User.station_id, Station.state.in_(sorted(RECOGNISED_STATES))))
        .where(User.is_active.is_(True), User.created_at < end, User.id.in_(_informant_ids()))
    )
    if prefix:
        stmt = stmt.where(in_region(where, prefix))
    return _grouped(stmt, func.substr(where, 1, width) if width else None)


def _grouped(stmt, key):
    """Run a one-count query, per ``key`` when given: ``{key value: n}`` (``{"": n}`` without)."""
    if key is None:
        return {"": int(db.session.scalar(stmt) or 0)}
    stmt = stmt.add_columns(key).group_by(key)
    return {code or "": int(n) for n, code in db.session.execute(stmt)}


@dataclass
class Dashboard:
    region: object  # Region or None (everywhere)
    period: Period
    kinds: list
    days: list
    totals: dict
    stations: list  # StationRow, ranked
    children: list
    resources: list
    informants: list
    registered: int
    active_informants: int

    @property
    def active_stations(self):
        return sum(1 for row in self.stations if row.counts["total"])

    @property
    def bottom(self):
        return [row for row in self.stations if row.is_bottom]

    @property
    def shown_stations(self):
        """The ranking as the page lists it: all of it when short, else its head and its 末位 tail."""
        if len(self.stations) <= STATION_ROWS:
            return self.stations
        head = [row for row in self.stations[: STATION_ROWS // 2] if not row.is_bottom]
        return head + self.bottom[-(STATION_ROWS - len(head)) :]

    def chart_data(self):
        """What ``static/js/dashboard.js`` draws: plain lists, the same numbers as the tables."""
        names = [EVENT_LABELS[k] for k in KINDS]
        return {
            "events": [{"key": k.value, "label": label} for k, label in zip(KINDS, names, strict=True)],
            "by_kind": {
                "labels": [label for _kind, label, _counts in self.kinds],
                "series": {k.value: [c[k.value] for _kind, _label, c in self.kinds] for k in KINDS},
            },
            "by_day": {
                "labels": [day.isoformat() for day, _counts in self.days],
                "series": {k.value: [c[k.value] for _day, c in self.days] for k in KINDS},
            },
            "by_child": {
                "labels": [row[0].name for row in self.children] if self.children else [],
                "series": {k.value: [row[1][k.value] for row in self.children] for k in KINDS},
            },
        }


def build(region, period):
    """Every figure of the dashboard of ``region`` (None: everywhere) for ``period``: a scan of
    the roll-ups by station × child region × type, one by day, one by resource, one of the
    informants' roll-ups, and the station and informant tables; never a query per station."""
    prefix = region.code if region else ""
    width = _child_width(region)
    grid = use_grid(prefix, period, width)
    kinds = by_kind(prefix, period)
    totals = _zero()
    for _kind, _label, counts in kinds:
        _add(totals, counts)
    stations = recognised_stations(prefix)
    use = station_use(grid)
    informants = informant_use(prefix, period, width)
    is_county = region is not None and region.level >= COUNTY_LEVEL
    return Dashboard(
        region=region,
        period=period,
        kinds=kinds,
        days=by_day(prefix, period),
        totals=totals,
        stations=ranking(stations, use),
        children=[] if is_county else per_child(region, period, grid, stations, use, informants),
        resources=top_resources(prefix, period),
        informants=top_informants(informants),
        registered=sum(informants_registered(prefix, period).values()),
        active_informants=informants.active,
    )


def station_months(station):
    """A station's own use month by month (newest first): ``[("YYYY-MM", {kind: counts}, totals)]``
    with the counts per resource type, from the daily roll-ups counted toward the station."""
    stmt = (
        select(UsageDaily.day, UsageDaily.resource_kind, *_kind_sums(UsageDaily))
        .where(UsageDaily.station_id == station.id)
        .group_by(UsageDaily.day, UsageDaily.resource_kind)
    )
    months = {}
    for day, kind, *sums in db.session.execute(stmt):
        month = months.setdefault(day.strftime("%Y-%m"), {"kinds": {}, "total": _zero()})
        counts = _counts(sums)
        into = month["kinds"].setdefault(kind, _zero())
        for key, value in counts.items():
            into[key] += value
            month["total"][key] += value
    return [
        (
            month,
            [(k.value, label, data["kinds"].get(k.value, _zero())) for k, label in KIND_LABELS.items()],
            data["total"],
        )
        for month, data in sorted(months.items(), reverse=True)
    ]


def months_chart(months):
    """The chart data of a station's month-by-month page (oldest month first)."""
    ordered = list(reversed(months))
    return {
        "events": [{"key": k.value, "label": EVENT_LABELS[k]} for k in KINDS],
        "months": {
            "labels": [month for month, _kinds, _total in ordered],
            "series": {k.value: [total[k.value] for _m, _kinds, total in ordered] for k in KINDS},
        },
    }
