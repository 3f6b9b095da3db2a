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
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import and_, case, func, literal_column, select, true, union_all

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
    StationMonthly,
    UsageDaily,
    UsageMonthly,
    UserMonthly,
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


def _rows(stmt):
    """The rows of a query of columns, through the session's connection without the ORM's row
    processing (a province's month returns tens of thousands of rows; they are plain tuples)."""
    return db.session.connection().execute(stmt)


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
    if "month" not in model.KEY:
        return and_(model.day >= period.first, model.day <= period.last)
    if period.month:  # one month: an equality, so the rows come in the order of the key's next columns
        return model.month == period.first
    return and_(model.month >= period.first, model.month <= period.last)


def _grain(period, daily, monthly):
    """The roll-up that answers ``period``: ``monthly`` for whole months, else ``daily``."""
    return monthly if period.whole_months else daily


def station_totals(prefix, period):
    """{station id: counted use in the period} of the stations with use in the region: one row per
    station (the per-kind counts are read for the listed stations only, ``station_rows``)."""
    model = _grain(period, UsageDaily, StationMonthly)
    stmt = (
        select(model.station_id, func.sum(model.count))
        .where(_period(model, period), in_region(model.region_code, prefix), model.station_id != NO_STATION)
        .group_by(model.station_id)
    )
    return {station_id: int(n) for station_id, n in _rows(stmt).all()}  # all(): one fetch, not one per row


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
    found = {row[0]: _counts(row[1:]) for row in _rows(stmt)}
    return [(kind.value, label, found.get(kind.value, _zero())) for kind, label in KIND_LABELS.items()]


def child_use(prefix, period, width):
    """{child region code (the first ``width`` digits): counts} of all counted use in the region."""
    model = _grain(period, RegionDaily, KindMonthly)
    child = func.substr(model.region_code, 1, width)
    stmt = (
        select(func.coalesce(child, ""), *_kind_sums(model))
        .where(_period(model, period), in_region(model.region_code, prefix))
        .group_by(child)
    )
    return {code: _counts(sums) for code, *sums in _rows(stmt)}


def by_day(prefix, period):
    """Counts per Beijing day of the period (days without use included): ``[(day, counts)]``."""
    stmt = (
        select(RegionDaily.day, *_kind_sums(RegionDaily))
        .where(_period(RegionDaily, period), in_region(RegionDaily.region_code, prefix))
        .group_by(RegionDaily.day)
    )
    found = {row[0]: _counts(row[1:]) for row in _rows(stmt)}
    return [(day, found.get(day, _zero())) for day in period.days]


def recognised_stations(prefix, width):
    """The stations of the region in the statistics now (纳入统计序列): ``[(id, child region code)]``
    with the child region as the first ``width`` digits of the station's county."""
    stmt = select(Station.id, func.substr(Station.region_code, 1, width)).where(
        Station.state.in_(sorted(RECOGNISED_STATES)), in_region(Station.region_code, prefix)
    )
    return _rows(stmt).all()


@dataclass
class StationRow:
    id: int
    number: str
    name: str
    region_code: str
    counts: dict
    rank: int = 0
    is_bottom: bool = False


@dataclass(frozen=True)
class Ranking:
    """Recognised stations by total use, most first (ties by id), as ids and totals only: a
    province's 10,000 stations are ranked without building a row for each."""

    ids: list  # station ids, ranked
    active: int  # how many used the cloud in the period
    bottom: int  # 末位 candidates: the last ``bottom`` of ``ids``

    @property
    def count(self):
        return len(self.ids)

    def is_bottom(self, index):
        return index >= len(self.ids) - self.bottom

    def shown(self):
        """The ranks (0-based) the page lists: all when short, else its head and its 末位 tail."""
        n = len(self.ids)
        if n <= STATION_ROWS:
            return list(range(n))
        head = min(STATION_ROWS // 2, n - self.bottom)
        tail = min(self.bottom, STATION_ROWS - head)
        return [*range(head), *range(n - tail, n)]


def ranking(ids, totals):
    """Rank station ``ids`` by ``totals`` ({id: n}); the 末位 candidates are the bottom
    ``BOTTOM_SHARE`` (rounded up) and every station without use — stations without use rank last,
    so together they are the last max(the share, those without use)."""
    ordered = sorted(ids)
    total = totals.get
    ordered.sort(key=lambda sid: total(sid, 0), reverse=True)  # stable: ties stay in id order
    active = sum(1 for sid in ordered if total(sid, 0))
    bottom = max(math.ceil(len(ordered) * BOTTOM_SHARE), len(ordered) - active)
    return Ranking(ordered, active, bottom)


def station_rows(ranked, prefix, period):
    """The listed stations of ``ranked`` as StationRows, with their counts per kind of event."""
    shown = ranked.shown()
    ids = [ranked.ids[index] for index in shown]
    if not ids:
        return []
    info = {
        row.id: row
        for row in _rows(
            select(Station.id, Station.number, Station.name, Station.region_code).where(Station.id.in_(ids))
        )
    }
    model = _grain(period, UsageDaily, UsageMonthly)
    counts = {
        station_id: _counts(sums)
        for station_id, *sums in _rows(
            select(model.station_id, *_kind_sums(model))
            .where(_period(model, period), in_region(model.region_code, prefix), model.station_id.in_(ids))
            .group_by(model.station_id)
        )
    }
    return [
        StationRow(
            sid,
            info[sid].number or "",
            info[sid].name,
            info[sid].region_code,
            counts.get(sid, _zero()),
            rank=index + 1,
            is_bottom=ranked.is_bottom(index),
        )
        for index, sid in zip(shown, ids, strict=True)
    ]


def top_resources(prefix, period, limit=TOP_RESOURCES):
    """The most used resources: ``[(resource id, title, kind label, counts)]``."""
    model = _grain(period, UsageDaily, ResourceMonthly)
    where = (_period(model, period), in_region(model.region_code, prefix))
    total = func.sum(model.count)
    # The ranking sums all kinds (read in resource order from an index); the counts per kind of
    # event are read for the listed resources only.
    ids = [
        rid
        for rid, _n in _rows(
            select(model.resource_id, total)
            .where(*where)
            .group_by(model.resource_id)
            .order_by(total.desc(), model.resource_id)
            .limit(limit)
        )
    ]
    if not ids:
        return []
    counts = {
        rid: _counts(sums)
        for rid, *sums in _rows(
            select(model.resource_id, *_kind_sums(model))
            .where(*where, model.resource_id.in_(ids))
            .group_by(model.resource_id)
        )
    }
    info = _resources(ids)
    # A resource deleted between the two statements takes its roll-ups with it: zeros, not a 500.
    return [(rid, *info.get(rid, ("已删除的资源", "")), counts.get(rid, _zero())) for rid in ids]


def _resources(ids):
    if not ids:
        return {}
    stmt = select(Resource.id, Resource.title, Resource.kind).where(Resource.id.in_(ids))
    return {rid: (title, KIND_LABELS.get(kind, kind)) for rid, title, kind in _rows(stmt)}


@dataclass
class InformantUse:
    """The informants with counted use toward the region in the period (so: active)."""

    per_child: dict  # {child region code: active informants}
    active: int
    top: list  # [(user id, 传播量)], most first, at most TOP_INFORMANTS


def informant_use(prefix, period, width, limit=TOP_INFORMANTS):
    """The informants with use toward the region in the period, counted in the database (a
    province has tens of thousands of informants: only the counts per child region and the top
    of the ranking come back): one statement counts them per child region and in all, one reads
    the top of the share visits from their index."""
    used = _grain(period, UserUsageDaily, UserMonthly)

    def using(*columns):
        return _informants(select(*columns), used.user_id).where(
            _period(used, period), in_region(used.region_code, prefix)
        )

    child = func.coalesce(func.substr(used.region_code, 1, width), "")
    users = using(used.user_id).group_by(used.user_id).subquery()
    # Per child region the distinct informants, and once more in all (a NULL child): an informant
    # active in two child regions counts in each, and once in the region.
    counted = _rows(
        union_all(
            using(child, func.count(used.user_id.distinct())).group_by(child),
            select(literal_column("NULL"), func.count()).select_from(users),
        )
    ).all()
    per_child = {code: int(n) for code, n in counted if code is not None}
    active = sum(int(n) for code, n in counted if code is None)
    model = _grain(period, UserUsageDaily, UserUsageMonthly)
    where = (_period(model, period), in_region(model.region_code, prefix))
    visits = func.sum(model.count)
    top = _rows(
        _informants(select(model.user_id, visits), model.user_id)
        .where(model.event_kind == EventKind.SHARE_VISIT.value, *where)
        .group_by(model.user_id)
        .order_by(visits.desc(), model.user_id)
        .limit(limit)
    )
    return InformantUse(
        per_child=per_child,
        active=active,
        top=[(uid, int(n)) for uid, n in top if n],
    )


def _informants(stmt, user_id):
    """``stmt`` joined to the informant role of ``user_id``: no row for other users, one for an
    informant (the role is part of the key). A join, not ``EXISTS``: the database reads the role
    index beside the rows instead of running a subquery per row."""
    return stmt.join(UserRole, and_(UserRole.user_id == user_id, UserRole.role == Role.INFORMANT))


def top_informants(use):
    """Informants by 传播量 (the visits of their share links): ``[(user id, name, n)]``."""
    ids = [uid for uid, _ in use.top]
    names = {}
    if ids:
        found = _rows(select(User.id, User.name, User.username, User.phone).where(User.id.in_(ids)))
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


@dataclass
class ChildStations:
    """What a region's children (one level below it) get from its stations and its use."""

    regions: list  # Region, by code
    counts: dict  # {child code: counts} of all counted use
    recognised: Counter  # {child code: recognised stations}
    active: Counter  # {child code: recognised stations with use}


def child_stations(region, period, stations, totals):
    """The children's figures from the stations' side: ``stations`` are the recognised
    ``[(id, child code)]``, ``totals`` their use."""
    width = _child_width(region)
    return ChildStations(
        regions=children_of(region),
        counts=child_use(region.code if region else "", period, width),
        recognised=Counter(code for _station_id, code in stations),
        active=Counter(code for station_id, code in stations if totals.get(station_id)),
    )


def per_child(children, informants, registered):
    """Per region one level below (not for a county: its children are its stations):
    ``[(Region, counts, recognised, active, informants registered, informants active)]``,
    only the regions with stations, informants or use; ``children`` as ``child_stations`` gives
    them, ``registered`` the informants per child."""
    active_informants = informants.per_child
    rows = []
    for r in children.regions:
        c = r.code
        if c in children.counts or c in children.recognised or c in registered or c in active_informants:
            rows.append(
                (
                    r,
                    children.counts.get(c, _zero()),
                    children.recognised.get(c, 0),
                    children.active.get(c, 0),
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
        .where(User.is_active.is_(True), User.created_at < end)
    )
    stmt = _informants(stmt, User.id)
    if prefix:
        stmt = stmt.where(in_region(where, prefix))
    return _grouped(stmt, func.substr(where, 1, width) if width else None)


def _grouped(stmt, key):
    """Run a one-count query, per ``key`` when given: ``{key value: n}`` (``{"": n}`` without)."""
    if key is None:
        return {"": int(db.session.scalar(stmt) or 0)}
    stmt = stmt.add_columns(key).group_by(key)
    return {code or "": int(n) for n, code in _rows(stmt)}


@dataclass
class Dashboard:
    region: object  # Region or None (everywhere)
    period: Period
    kinds: list
    days: list
    totals: dict
    ranking: Ranking  # every recognised station, ranked
    stations: list  # StationRow: the ranking as the page lists it (``Ranking.shown``)
    children: list
    resources: list
    informants: list
    registered: int
    active_informants: int

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


def build(region, period, *, beside=False):
    """Every figure of the dashboard of ``region`` (None: everywhere) for ``period``: per-station
    totals, per-child and per-type sums, one scan by day, one by resource, the informants'
    roll-ups and the station and informant tables; never a query per station, and rows built
    only for the stations listed.

    With ``beside`` the informants' figures and the days are read at the same time on a second
    connection by a helper thread (``_Beside``): the database works on both while the GIL is
    released, on a machine with a core to spare (bench/README.md, the statistics section, for
    what it gained there). Only for callers whose transaction has written
    nothing the dashboard reads (the page): the second connection sees what is committed. (Each
    statement sees the committed state of its own moment anyway on PostgreSQL; the halves are
    no less consistent than two statements in a row.)"""
    prefix = region.code if region else ""
    width = _child_width(region)
    is_county = region is not None and region.level >= COUNTY_LEVEL
    second = (
        _Beside(_second_half, prefix, period, width)
        if beside and _may_share_work()
        else _Here(_second_half, prefix, period, width)
    )
    try:
        kinds = by_kind(prefix, period)
        totals = _zero()
        for _kind, _label, counts in kinds:
            _add(totals, counts)
        stations = recognised_stations(prefix, width)
        use = station_totals(prefix, period)
        ranked = ranking([station_id for station_id, _child in stations], use)
        listed = station_rows(ranked, prefix, period)
        resources = top_resources(prefix, period)
        children = None if is_county else child_stations(region, period, stations, use)
    except BaseException:
        second.wait()  # its connection goes back to the pool before this error is answered
        raise
    informants, registered, top, days = second.result()
    return Dashboard(
        region=region,
        period=period,
        kinds=kinds,
        days=days,
        totals=totals,
        ranking=ranked,
        stations=listed,
        children=[] if children is None else per_child(children, informants, registered),
        resources=resources,
        informants=top,
        registered=sum(registered.values()),
        active_informants=informants.active,
    )


def _second_half(prefix, period, width):
    """The half of a dashboard that ``build`` may read beside the other (about as long): the
    informants' figures and the days."""
    informants = informant_use(prefix, period, width)
    registered = informants_registered(prefix, period, width)
    return informants, registered, top_informants(informants), by_day(prefix, period)


def _may_share_work():
    """A second connection sees the same database (not an in-memory SQLite one, which is one per
    connection)."""
    url = db.engine.url
    return not (url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"))


class _Here:
    """``function(*args)`` run now, in this thread and session."""

    def __init__(self, function, *args):
        self._value = function(*args)

    def wait(self):
        pass

    def result(self):
        return self._value


class _Beside:
    """``function(*args)`` run by a thread of its own in an app context of its own (so its own
    session and connection, returned to the pool when the context ends); ``result()`` waits for
    it and raises what it raised. A thread per call, not a pool: nothing to share across a
    gunicorn fork."""

    def __init__(self, function, *args):
        app = current_app._get_current_object()
        self._value = self._error = None

        def run():
            try:
                with app.app_context():
                    self._value = function(*args)
            except BaseException as error:  # handed to the request's thread by result()
                self._error = error

        self._thread = threading.Thread(target=run, name="kepu-dashboard", daemon=True)
        self._thread.start()

    def wait(self):
        self._thread.join()

    def result(self):
        self.wait()
        if self._error is not None:
            raise self._error
        return self._value


def station_months(station):
    """A station's own use month by month (newest first): ``[("YYYY-MM", {kind: counts}, totals)]``
    with the counts per resource type, from the daily roll-ups counted toward the station."""
    stmt = (
        select(UsageDaily.day, UsageDaily.resource_kind, *_kind_sums(UsageDaily))
        .where(UsageDaily.station_id == station.id)
        .group_by(UsageDaily.day, UsageDaily.resource_kind)
    )
    months = {}
    for day, kind, *sums in _rows(stmt):
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
