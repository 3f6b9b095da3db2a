"""Usage statistics: recording events, rolling them up per day, rebuilding, and reading them.

Every event is written with the roll-ups it adds to, in the caller's transaction (an UPSERT on
both SQLite and PostgreSQL), so the roll-ups are always the GROUP BY of the counted raw events;
``rebuild`` recomputes them from the raw events for a range of days. Services flush; the request,
task or command commits once.

What counts:
- a download: what the catalog counted (one per user, resource and rendition in its window);
- a detail-page view by a logged-in user: once per user, resource and Beijing day;
- a share-link visit: once per visitor, link and Beijing day, the visitor known only by a keyed
  hash of address and browser whose key changes every day; never the sharer's own visits.
"""

import calendar
import hashlib
import hmac
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from cloud.accounts.models import Role
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.stations.models import Station
from cloud.stations.service import BEIJING
from cloud.stats.models import (
    NO_REGION,
    NO_STATION,
    EventKind,
    KindMonthly,
    RegionDaily,
    ResourceMonthly,
    StationMonthly,
    UsageDaily,
    UsageEvent,
    UsageMonthly,
    UserMonthly,
    UserUsageDaily,
    UserUsageMonthly,
)

#: Every roll-up, each keyed by ``day`` or ``month`` and some of an event's other columns.
DAILY_ROLLUPS = (UsageDaily, UserUsageDaily, RegionDaily)
MONTHLY_ROLLUPS = (UsageMonthly, KindMonthly, ResourceMonthly, UserUsageMonthly, StationMonthly, UserMonthly)
ROLLUPS = DAILY_ROLLUPS + MONTHLY_ROLLUPS


def beijing_day(moment):
    """The Beijing-time date of an aware datetime."""
    return moment.astimezone(BEIJING).date()


def day_bounds(first, last):
    """The UTC instants at which Beijing day ``first`` begins and the day after ``last`` begins."""
    start = datetime.combine(first, datetime.min.time(), BEIJING)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), BEIJING)
    # In UTC: SQLite stores the wall time of whatever zone a value has, so a Beijing-time bound
    # would be compared with the UTC rows eight hours off.
    return start.astimezone(UTC), end.astimezone(UTC)


def month_days(month):
    """(first day, last day) of a month given as ``date`` or ``"YYYY-MM"``."""
    if isinstance(month, str):
        year, number = (int(part) for part in month.split("-"))
        month = date(year, number, 1)
    last = calendar.monthrange(month.year, month.month)[1]
    return month.replace(day=1), month.replace(day=last)


def attribution(user):
    """(station_id, region_code) that use by ``user`` counts toward now: their station and its
    county while it is recognised (纳入统计序列), else no station and the user's own region."""
    station = db.session.get(Station, user.station_id) if user.station_id else None
    if station is not None and station.is_recognised:
        return station.id, station.region_code
    return NO_STATION, user.region_code or NO_REGION


def dialect_insert(model):
    """An INSERT in the dialect of the database, with ``on_conflict_do_update`` (SQLite, PostgreSQL)."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def _bump(model, values):
    stmt = dialect_insert(model).values(**{name: values[name] for name in model.KEY}, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(model.KEY), set_={"count": model.__table__.c.count + stmt.excluded.count}
    )
    db.session.execute(stmt)


def record_event(kind, user_id, resource, *, counted, station_id, region_code, at=None, **extra):
    """Write one usage event and, when it is counted, add it to the day's roll-ups. Returns it."""
    at = at or utcnow()
    event = UsageEvent(
        kind=kind,
        day=beijing_day(at),
        occurred_at=at,
        user_id=user_id,
        resource_id=resource.id,
        resource_kind=resource.kind,
        station_id=station_id,
        region_code=region_code,
        is_counted=counted,
        **extra,
    )
    db.session.add(event)
    if counted:
        values = {
            "day": event.day,
            "month": event.day.replace(day=1),
            "user_id": user_id,
            "station_id": station_id,
            "region_code": region_code,
            "resource_id": resource.id,
            "resource_kind": resource.kind,
            "event_kind": kind,
        }
        for model in ROLLUPS:
            _bump(model, values)
    db.session.flush()
    return event


def record_download(user, resource, *, counted, at=None, download_event=None):
    """A download the catalog recorded (``counted`` as the catalog decided)."""
    station_id, region_code = attribution(user)
    return record_event(
        EventKind.DOWNLOAD,
        user.id,
        resource,
        counted=counted,
        station_id=station_id,
        region_code=region_code,
        at=at,
        download_event_id=download_event.id if download_event is not None else None,
    )


def record_view(user, resource, *, at=None):
    """A detail-page view by a logged-in user: counted once per user, resource and Beijing day.

    Two views racing in the same instant may both count (as with downloads: a reload, not a lock).
    """
    at = at or utcnow()
    day = beijing_day(at)
    seen = db.session.scalar(
        select(UsageEvent.id)
        .where(
            UsageEvent.user_id == user.id,
            UsageEvent.resource_id == resource.id,
            UsageEvent.day == day,
            UsageEvent.kind == EventKind.VIEW,
            UsageEvent.is_counted.is_(True),
        )
        .limit(1)
    )
    station_id, region_code = attribution(user)
    return record_event(
        EventKind.VIEW,
        user.id,
        resource,
        counted=seen is None,
        station_id=station_id,
        region_code=region_code,
        at=at,
    )


def on_usage(kind, *, user, resource, counted, at=None, download_event=None):
    """The catalog's usage listener (see ``cloud.catalog.usage``)."""
    if kind == "download":
        record_download(user, resource, counted=counted, at=at, download_event=download_event)
    elif kind == "view":
        record_view(user, resource, at=at)


def visitor_hash(remote_addr, user_agent, day):
    """A visitor's pseudonym for one day: HMAC-SHA256 of address and browser under a key derived
    from the secret key and the day, so nothing stored can be turned back into an address or
    linked across days."""
    secret = current_app.config["SECRET_KEY"].encode()
    key = hmac.new(secret, f"share-visitor:{day.isoformat()}".encode(), hashlib.sha256).digest()
    message = f"{remote_addr or ''}\n{user_agent or ''}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def record_share_visit(link, resource, *, remote_addr, user_agent, viewer_id=None, at=None):
    """A visit of a share link's public page, counted toward the sharer, their station and region
    and the resource: once per visitor, link and day, never when the sharer opens their own link.
    Returns the event."""
    at = at or utcnow()
    day = beijing_day(at)
    pseudonym = visitor_hash(remote_addr, user_agent, day)
    seen = db.session.scalar(
        select(UsageEvent.id)
        .where(
            UsageEvent.share_link_id == link.id,
            UsageEvent.day == day,
            UsageEvent.visitor_hash == pseudonym,
            UsageEvent.is_counted.is_(True),
        )
        .limit(1)
    )
    station_id, region_code = attribution(link.user)
    return record_event(
        EventKind.SHARE_VISIT,
        link.user_id,
        resource,
        counted=seen is None and viewer_id != link.user_id,
        station_id=station_id,
        region_code=region_code,
        at=at,
        share_link_id=link.id,
        visitor_hash=pseudonym,
    )


def _months(first, last):
    """The first days of the months ``first``..``last`` touch."""
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month + timedelta(days=32)).replace(day=1)


def _regroup(model, first, last, month=None):
    """Replace ``model``'s rows of days ``first``..``last`` (or of ``month``) by the GROUP BY of
    the counted raw events of those days."""
    grain = model.month if month is not None else model.day
    db.session.execute(delete(model).where(grain >= first, grain <= last))
    columns = []
    for name in model.KEY:
        if name == "month":
            columns.append(literal(month).label("month"))
        elif name == "event_kind":
            columns.append(UsageEvent.kind.label("event_kind"))
        else:
            columns.append(getattr(UsageEvent, name))
    grouped = (
        select(*columns, func.count().label("count"))
        .where(UsageEvent.is_counted.is_(True), UsageEvent.day >= first, UsageEvent.day <= last)
        .group_by(*(c for name, c in zip(model.KEY, columns, strict=True) if name != "month"))
    )
    return db.session.execute(insert(model).from_select([*model.KEY, "count"], grouped)).rowcount


def rebuild(first, last):
    """Recompute the roll-ups from the counted raw events: the daily ones of Beijing days
    ``first``..``last``, the monthly ones of every month those days touch (whole).

    Returns the number of roll-up rows written (of ``UsageDaily``).
    """
    written = 0
    for model in DAILY_ROLLUPS:
        count = _regroup(model, first, last)
        if model is UsageDaily:
            written = count
    for month in _months(first, last):
        month_first, month_last = month_days(month)
        for model in MONTHLY_ROLLUPS:
            _regroup(model, month_first, month_last, month=month)
    db.session.flush()
    return written


# Reading: what dashboards and reports use. They read roll-ups only.


def totals(first, last, *, region_prefix="", station_id=None, by=("event_kind",)):
    """Counted use in Beijing days ``first``..``last``, grouped by the ``UsageDaily`` columns named
    in ``by``: ``{tuple of values: count}``. ``region_prefix`` limits it to a region (a prefix of
    the county code; "" for everywhere, which includes use without a region), ``station_id`` to one
    station (``NO_STATION`` for use outside recognised stations)."""
    columns = [getattr(UsageDaily, name) for name in by]
    stmt = select(*columns, func.sum(UsageDaily.count)).where(UsageDaily.day >= first, UsageDaily.day <= last)
    if region_prefix:
        stmt = stmt.where(UsageDaily.region_code.like(f"{region_prefix}%"))
    if station_id is not None:
        stmt = stmt.where(UsageDaily.station_id == station_id)
    if columns:
        stmt = stmt.group_by(*columns)
    return {tuple(row[:-1]): int(row[-1]) for row in db.session.execute(stmt)}


def shares_by_month(user):
    """我的传播: the counted visits of ``user``'s share links as ``[(month "YYYY-MM", [(resource_id,
    visits)…], total)]``, newest month first, resources by visits."""
    stmt = (
        select(UserUsageDaily.day, UserUsageDaily.resource_id, func.sum(UserUsageDaily.count))
        .where(UserUsageDaily.user_id == user.id, UserUsageDaily.event_kind == EventKind.SHARE_VISIT)
        .group_by(UserUsageDaily.day, UserUsageDaily.resource_id)
    )
    months = defaultdict(lambda: defaultdict(int))
    for day, resource_id, count in db.session.execute(stmt):
        months[day.strftime("%Y-%m")][resource_id] += int(count)
    return [
        (month, sorted(rows.items(), key=lambda item: (-item[1], item[0])), sum(rows.values()))
        for month, rows in sorted(months.items(), reverse=True)
    ]


SHARER_ROLES = (Role.INFORMANT, Role.STATION, Role.STATION_MANAGER)


def may_share(user):
    """Informants and a station's people get share links (传播量 is how the rules judge them)."""
    return bool(user is not None and user.is_active and (user.has_role(*SHARER_ROLES) or user.station_id))


def today_beijing():
    """Today's Beijing-time date (the day new events fall on)."""
    return beijing_day(utcnow())
