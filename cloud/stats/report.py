"""The monthly report (月度统计报表) of a region: what a city owes its province by the 3rd.

Figures are computed per county (the level stations belong to) from the daily roll-ups, the
e站 audit trail and the activities, in a handful of grouped queries, and every higher level is
the sum of its counties, so a city's totals are exactly the sum of its counties' and a province's
the sum of its cities'. What the figures mean:

- 本月认定 / 整改 / 撤销: StationEvent rows of that month (``city_recognise`` and recognising
  ``import`` rows; ``rectify``; ``revoke``), Beijing time.
- 累计认定: stations whose state at the end of the month (the last audit row before it) is a
  recognised one (整改中 included, 撤销 excluded); 活跃 are those of them with any counted use
  that month, 不活跃 the rest.
- 下载 / 浏览 / 传播量: counted use that month in the region, by resource type; 其中e站 is the
  use attributed to recognised stations, the rest is other users of the region.
- 活跃信息员: informants with any counted use (their own downloads and views, or visits of their
  share links) in the month, counted once per county they used it in; 注册信息员: informants
  registered by the month's end, placed at their station's county, else their own region.

Reading only; nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, or_, select

from cloud.accounts.models import Role, User, UserRole
from cloud.errors import NotFound, ValidationFailed
from cloud.extensions import db
from cloud.media.spreadsheet import write_csv, write_xlsx
from cloud.regions.models import Region
from cloud.resources.models import KIND_LABELS, Resource
from cloud.stations.models import Station, StationActivity, StationEvent
from cloud.stations.states import RECOGNISED_STATES, State
from cloud.stats.models import (
    NO_STATION,
    EventKind,
    KindMonthly,
    ResourceMonthly,
    UsageMonthly,
    UserUsageMonthly,
)
from cloud.stats.service import day_bounds, month_days

TOP_RESOURCES = 20
KINDS = tuple(KIND_LABELS)
LEVEL_NAMES = {2: "省", 4: "市", 6: "县"}
RECOGNISING_ACTIONS = ("city_recognise", "import")

#: The additive figures of a region, in the order the summary shows them: key -> Chinese label.
SUMMARY_FIELDS = {
    "recognised_in_month": "本月认定e站",
    "rectified_in_month": "本月责令整改e站",
    "revoked_in_month": "本月撤销e站",
    "recognised_total": "累计认定e站（月末）",
    "active_stations": "活跃e站",
    "inactive_stations": "不活跃e站",
    "downloads": "下载量",
    "views": "浏览量",
    "share_visits": "传播量",
    "station_downloads": "其中e站下载量",
    "station_views": "其中e站浏览量",
    "station_share_visits": "其中e站传播量",
    "activities": "本月开展活动",
    "highlights": "本月亮点活动",
    "active_informants": "活跃信息员",
    "registered_informants": "注册信息员",
}
for _kind in KINDS:
    SUMMARY_FIELDS[f"downloads_{_kind}"] = f"{KIND_LABELS[_kind]}下载量"
    SUMMARY_FIELDS[f"views_{_kind}"] = f"{KIND_LABELS[_kind]}浏览量"
    SUMMARY_FIELDS[f"share_visits_{_kind}"] = f"{KIND_LABELS[_kind]}传播量"


def parse_month(value):
    """``"YYYY-MM"`` -> the same string, normalised; ValidationFailed otherwise."""
    try:
        year, number = (int(part) for part in str(value).split("-"))
        first = date(year, number, 1)
    except (TypeError, ValueError):
        raise ValidationFailed("月份格式应为 2026-10", details={"field": "month"}) from None
    if not 2000 <= first.year <= 2100:
        raise ValidationFailed("月份超出范围", details={"field": "month"})
    return first.strftime("%Y-%m")


def parse_region(value):
    """A province (``41`` or ``410000``), city (``4101`` or ``410100``) or county (``410102``)
    code -> its short form (2, 4 or 6 digits). ValidationFailed when it is none of them, NotFound
    when no such region exists."""
    code = str(value or "").strip()
    if not code.isascii() or not code.isdigit() or len(code) not in (2, 4, 6):
        raise ValidationFailed(
            "地区代码应为 2、4 或 6 位数字，例如 41、4101、410102", details={"field": "region"}
        )
    if len(code) == 6 and code.endswith("0000"):
        code = code[:2]
    elif len(code) == 6 and code.endswith("00"):
        code = code[:4]
    if region_name(code) is None:
        raise NotFound("地区不存在")
    return code


def region_name(code):
    """The name of a region (the region table keeps the short codes: 41, 4101, 410102), or None."""
    return db.session.scalar(select(Region.name).where(Region.code == code))


def _blank():
    return dict.fromkeys(SUMMARY_FIELDS, 0)


@dataclass
class StationRow:
    station_id: int
    number: str
    name: str
    county_code: str
    county_name: str
    state_label: str
    downloads: int = 0
    views: int = 0
    share_visits: int = 0
    activities: int = 0


@dataclass
class Report:
    """One region's figures for one month, with its children's and the tables."""

    region_code: str
    region_name: str
    month: str
    totals: dict
    children: list  # [(code, name, figures dict)], each level below; for a county, empty
    by_kind: list  # [(kind, label, downloads, views, share visits)]
    top_resources: list  # [(rank, resource id, title, type label, downloads, views, share visits, total)]
    stations: list[StationRow] = field(default_factory=list)
    highlights: list = field(default_factory=list)  # dicts
    informants: list = field(default_factory=list)  # [(code, name, active, registered)]

    @property
    def child_level_name(self):
        return {2: "市", 4: "县", 6: "e站"}[len(self.region_code)]


def _like(column, prefix):
    return column.like(f"{prefix}%")


def build(region_code, month):
    """The report of ``region_code`` (short code, see ``parse_region``) for ``month`` (YYYY-MM)."""
    month = parse_month(month)
    first, last = month_days(month)
    start, end = day_bounds(first, last)
    prefix = region_code
    county = defaultdict(_blank)  # county code -> figures
    names = _county_names(prefix)

    # Stations of the region and their state at the month's end (from the audit trail).
    stations = {
        row.id: row
        for row in db.session.execute(
            select(
                Station.id,
                Station.number,
                Station.name,
                Station.region_code,
                Station.state,
                Station.created_at,
            ).where(_like(Station.region_code, prefix))
        )
    }
    state_at_end = {}
    events = db.session.execute(
        select(StationEvent.station_id, StationEvent.action, StationEvent.to_state, StationEvent.created_at)
        .join(Station, Station.id == StationEvent.station_id)
        .where(_like(Station.region_code, prefix), StationEvent.created_at < end)
        .order_by(StationEvent.created_at, StationEvent.id)
    )
    for station_id, action, to_state, created_at in events:
        state_at_end[station_id] = to_state
        if created_at < start:
            continue
        code = stations[station_id].region_code[:6]
        if action in RECOGNISING_ACTIONS and to_state == State.RECOGNISED:
            county[code]["recognised_in_month"] += 1
        elif action == "rectify":
            county[code]["rectified_in_month"] += 1
        elif action == "revoke":
            county[code]["revoked_in_month"] += 1
    # A station with no audit trail at all (rows written before it existed) is taken as it is now,
    # from the month it was created in.
    audited = set(
        db.session.scalars(
            select(StationEvent.station_id)
            .join(Station, Station.id == StationEvent.station_id)
            .where(_like(Station.region_code, prefix))
            .distinct()
        )
    )
    for station_id, station in stations.items():
        if station_id not in audited and station.created_at < end:
            state_at_end[station_id] = station.state
    recognised = {sid for sid, state in state_at_end.items() if state in RECOGNISED_STATES}

    # Use per county × type × kind of event, and per station × kind of event.
    use_by_station = defaultdict(lambda: defaultdict(int))
    plural = {EventKind.DOWNLOAD: "downloads", EventKind.VIEW: "views", EventKind.SHARE_VISIT: "share_visits"}
    by_kind = db.session.execute(
        select(
            KindMonthly.region_code, KindMonthly.resource_kind, KindMonthly.event_kind, KindMonthly.count
        ).where(KindMonthly.month == first, _like(KindMonthly.region_code, prefix))
    )
    for code, kind, event_kind, count in by_kind:
        name, figures = plural[EventKind(event_kind)], county[code[:6]]
        figures[name] += count
        figures[f"{name}_{kind}"] = figures.get(f"{name}_{kind}", 0) + count
    by_station = db.session.execute(
        select(
            UsageMonthly.region_code, UsageMonthly.station_id, UsageMonthly.event_kind, UsageMonthly.count
        ).where(
            UsageMonthly.month == first,
            UsageMonthly.station_id != NO_STATION,
            _like(UsageMonthly.region_code, prefix),
        )
    )
    for code, station_id, event_kind, count in by_station:
        name = plural[EventKind(event_kind)]
        county[code[:6]][f"station_{name}"] += count
        use_by_station[station_id][name] += count

    for station_id in recognised:
        figures = county[stations[station_id].region_code[:6]]
        figures["recognised_total"] += 1
        figures["active_stations" if station_id in use_by_station else "inactive_stations"] += 1

    # Activities held that month, and the highlights among them.
    activities = defaultdict(int)
    highlights = []
    held = db.session.execute(
        select(StationActivity, Station.region_code)
        .join(Station, Station.id == StationActivity.station_id)
        .where(
            _like(Station.region_code, prefix),
            StationActivity.held_on >= first,
            StationActivity.held_on <= last,
        )
        .order_by(StationActivity.held_on, StationActivity.id)
    )
    for activity, code in held:
        activities[activity.station_id] += 1
        county[code[:6]]["activities"] += 1
        if activity.highlighted_at is not None:
            county[code[:6]]["highlights"] += 1
            highlights.append(
                {
                    "id": activity.id,
                    "station_number": stations[activity.station_id].number or "",
                    "station_name": stations[activity.station_id].name,
                    "county_name": names.get(code[:6], code[:6]),
                    "held_on": activity.held_on,
                    "title": activity.title,
                    "kind": activity.kind,
                    "place": activity.place,
                    "participants": activity.participants,
                }
            )

    _informants(prefix, first, end, county)

    # The per-station table: recognised at the month's end, or used the cloud as one that month.
    rows = []
    for station_id in sorted(recognised | set(use_by_station), key=lambda s: (stations[s].number or "", s)):
        station = stations.get(station_id)
        if station is None:  # use attributed to a station since moved out of the region
            continue
        use = use_by_station.get(station_id, {})
        state = state_at_end.get(station_id)
        rows.append(
            StationRow(
                station_id=station_id,
                number=station.number or "",
                name=station.name,
                county_code=station.region_code[:6],
                county_name=names.get(station.region_code[:6], station.region_code[:6]),
                state_label=State(state).label if state else "",
                downloads=use.get("downloads", 0),
                views=use.get("views", 0),
                share_visits=use.get("share_visits", 0),
                activities=activities.get(station_id, 0),
            )
        )

    totals = _sum(county.values())
    children = _children(prefix, county)
    return Report(
        region_code=prefix,
        region_name=region_name(prefix) or prefix,
        month=month,
        totals=totals,
        children=children,
        by_kind=[
            (
                kind,
                KIND_LABELS[kind],
                totals[f"downloads_{kind}"],
                totals[f"views_{kind}"],
                totals[f"share_visits_{kind}"],
            )
            for kind in KINDS
        ],
        top_resources=_top_resources(prefix, first),
        stations=rows,
        highlights=highlights,
        informants=[
            (c, n, f["active_informants"], f["registered_informants"])
            for c, n, f in (children or [(prefix, region_name(prefix) or prefix, totals)])
        ],
    )


def _sum(figures_list):
    total = _blank()
    for figures in figures_list:
        for key, value in figures.items():
            total[key] = total.get(key, 0) + value
    return total


def _children(prefix, county):
    """The next level's (code, name, figures): cities of a province, counties of a city."""
    if len(prefix) == 6:
        return []
    size = len(prefix) + 2
    codes = {code[:size] for code in county}
    codes |= set(db.session.scalars(select(Region.code).where(Region.parent_code == prefix)))
    result = []
    for code in sorted(codes):
        figures = _sum(f for c, f in county.items() if c.startswith(code))
        result.append((code, region_name(code) or code, figures))
    return result


def _county_names(prefix):
    return dict(
        db.session.execute(
            select(Region.code, Region.name).where(_like(Region.code, prefix), func.length(Region.code) == 6)
        ).all()
    )


def _informants(prefix, first, end, county):
    informant_ids = select(UserRole.user_id).where(UserRole.role == Role.INFORMANT)
    active = db.session.execute(
        select(UserUsageMonthly.user_id, UserUsageMonthly.region_code)
        .where(
            UserUsageMonthly.month == first,
            _like(UserUsageMonthly.region_code, prefix),
            UserUsageMonthly.user_id.in_(informant_ids),
        )
        .distinct()
    )
    for _user, code in {(user_id, code[:6]) for user_id, code in active}:
        county[code]["active_informants"] += 1
    home = func.coalesce(Station.region_code, User.region_code)
    registered = db.session.execute(
        select(home, func.count(User.id))
        .select_from(User)
        .outerjoin(Station, Station.id == User.station_id)
        .where(
            User.id.in_(informant_ids),
            User.created_at < end,
            User.is_active.is_(True),
            or_(_like(Station.region_code, prefix), Station.id.is_(None) & _like(User.region_code, prefix)),
        )
        .group_by(home)
    )
    for code, count in registered:
        county[code[:6]]["registered_informants"] += int(count)


def _top_resources(prefix, first):
    use = defaultdict(lambda: defaultdict(int))
    rows = db.session.execute(
        select(ResourceMonthly.resource_id, ResourceMonthly.event_kind, func.sum(ResourceMonthly.count))
        .where(ResourceMonthly.month == first, _like(ResourceMonthly.region_code, prefix))
        .group_by(ResourceMonthly.resource_id, ResourceMonthly.event_kind)
    )
    for resource_id, event_kind, count in rows:
        use[resource_id][event_kind] += int(count)
    ranked = sorted(use.items(), key=lambda item: (-sum(item[1].values()), item[0]))[:TOP_RESOURCES]
    titles = {
        r.id: (r.title, r.kind)
        for r in db.session.execute(
            select(Resource.id, Resource.title, Resource.kind).where(
                Resource.id.in_([resource_id for resource_id, _ in ranked])
            )
        )
    }
    result = []
    for rank, (resource_id, counts) in enumerate(ranked, start=1):
        title, kind = titles.get(resource_id, ("（已删除）", ""))
        result.append(
            (
                rank,
                resource_id,
                title,
                KIND_LABELS.get(kind, ""),
                counts.get(EventKind.DOWNLOAD, 0),
                counts.get(EventKind.VIEW, 0),
                counts.get(EventKind.SHARE_VISIT, 0),
                sum(counts.values()),
            )
        )
    return result


def summary(report):
    """The report's summary numbers as plain JSON values (the API's ``stats/summary``)."""
    return {
        "region": report.region_code,
        "region_name": report.region_name,
        "month": report.month,
        "totals": dict(report.totals),
        "children": [{"region": c, "name": n, "totals": dict(f)} for c, n, f in report.children],
    }


# Writing: a sheet per section (XLSX), or the summary and the per-station table (CSV).

FORMATS = {
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}
STATION_HEADER = (
    *("e站编号", "e站名称", "所在县（区）", "月末状态"),
    *("下载量", "浏览量", "传播量", "本月开展活动"),
)

HIGHLIGHT_HEADER = (
    *("活动编号", "e站编号", "e站名称", "所在县（区）", "活动日期"),
    *("活动名称", "类型", "地点", "参与人数"),
)


def file_name(report, fmt):
    return f"{report.region_name}{report.month}月度统计报表.{FORMATS[fmt][1]}"


def _summary_rows(report):
    return [(label, report.totals[key]) for key, label in SUMMARY_FIELDS.items()]


def _station_rows(report):
    return [
        (s.number, s.name, s.county_name, s.state_label, s.downloads, s.views, s.share_visits, s.activities)
        for s in report.stations
    ]


def to_xlsx(report):
    """The report as XLSX bytes: 汇总, 下级汇总, 资源类型, 资源排行, e站明细, 信息员, 亮点活动."""
    title = f"{report.region_name} {report.month} 月度统计"
    summary_rows = [("地区", f"{report.region_name}（{report.region_code}）"), ("月份", report.month)]
    summary_rows += _summary_rows(report)
    child_keys = list(SUMMARY_FIELDS)
    child_rows = [(code, name, *(figures[k] for k in child_keys)) for code, name, figures in report.children]
    if report.children:
        child_rows.append(("合计", report.region_name, *(report.totals[k] for k in child_keys)))
    sheets = [
        ("汇总", ("项目", title), summary_rows, (28, 30)),
        (
            f"下级汇总（{report.child_level_name}）",
            ("地区代码", "地区名称", *(SUMMARY_FIELDS[k] for k in child_keys)),
            child_rows,
            (12, 20, *(14 for _ in child_keys)),
        ),
        ("资源类型", ("资源类型", "下载量", "浏览量", "传播量"), [r[1:] for r in report.by_kind], (12,) * 4),
        (
            "资源排行",
            ("排名", "资源编号", "资源名称", "类型", "下载量", "浏览量", "传播量", "合计"),
            report.top_resources,
            (8, 10, 40, 8, 10, 10, 10, 10),
        ),
        ("e站明细", STATION_HEADER, _station_rows(report), (18, 36, 16, 10, 10, 10, 10, 14)),
        ("信息员", ("地区代码", "地区名称", "活跃信息员", "注册信息员"), report.informants, (12, 20, 12, 12)),
        (
            "亮点活动",
            HIGHLIGHT_HEADER,
            [
                (
                    h["id"],
                    h["station_number"],
                    h["station_name"],
                    h["county_name"],
                    h["held_on"],
                    h["title"],
                    h["kind"],
                    h["place"],
                    h["participants"],
                )
                for h in report.highlights
            ],
            (10, 18, 30, 16, 12, 36, 12, 24, 10),
        ),
    ]
    return write_xlsx(sheets)


def to_csv(report):
    """The summary, the per-child summary and the per-station table in one UTF-8 CSV with BOM."""
    rows = [("地区", f"{report.region_name}（{report.region_code}）"), ("月份", report.month)]
    rows += _summary_rows(report)
    if report.children:
        rows.append(())
        rows.append(("地区代码", "地区名称", *SUMMARY_FIELDS.values()))
        rows += [(code, name, *(f[k] for k in SUMMARY_FIELDS)) for code, name, f in report.children]
    rows.append(())
    rows.append(STATION_HEADER)
    rows += _station_rows(report)
    return write_csv(("项目", "数值"), rows)


def render(report, fmt):
    """(bytes, content type, download name) of ``report`` in ``fmt`` (``xlsx`` or ``csv``)."""
    if fmt not in FORMATS:
        raise ValidationFailed("格式应为 xlsx 或 csv", details={"field": "format"})
    data = to_xlsx(report) if fmt == "xlsx" else to_csv(report)
    return data, FORMATS[fmt][0], file_name(report, fmt)
