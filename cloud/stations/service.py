"""e站 operations: applications, decisions, numbers, staff, members, 信息员 teams, activities.

They flush and return after-commit callbacks (SMS); the request, task or command commits once.
Whoever calls them has already loaded the station through ``scope.visible_station``; each
operation still checks the caller's capacity itself, so no view can forget it.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta, timezone

from sqlalchemy import func, or_, select, update

from cloud.accounts.models import Role, User
from cloud.accounts.phone import normalize_phone
from cloud.accounts.service import create_user, find_by_login
from cloud.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cloud.extensions import db
from cloud.messages.service import notify
from cloud.models_base import utcnow
from cloud.regions.models import Region
from cloud.resources.lifecycle import State as ResourceState
from cloud.resources.models import Resource
from cloud.stations import scope
from cloud.stations.models import (
    ACTIVITY_KINDS,
    CONDITIONS,
    FACILITY_TYPES,
    TERMINALS,
    ActivityResource,
    FieldCheck,
    StaffAssignment,
    Station,
    StationActivity,
    StationCounter,
    StationEvent,
    StationPhoto,
)
from cloud.stations.states import EDITABLE_STATES, RECOGNISED_STATES, State
from cloud.stations.workflow import ACTIONS, Capacity, check, transition
from cloud.text import clean_text

BEIJING = timezone(timedelta(hours=8), "北京时间")  # one time zone for all China, no summer time


def today():
    """Today's date in China: what "not later than today" means to a county office at 7 a.m."""
    return utcnow().astimezone(BEIJING).date()


TEXT_LIMITS = {"name": 100, "address": 200, "manager_name": 50}
CONDITION_MAX = 500
#: Districts and counties are level 3; "市辖区"-style placeholders are not counties.
COUNTY_LEVEL = 3


def _text(fields, key, label, limit, *, required=True, multiline=False):
    value = fields.get(key)
    value = clean_text(value, multiline=multiline) if isinstance(value, str) else ""
    if required and not value:
        raise ValidationFailed(f"请填写{label}", details={"field": key})
    if len(value) > limit:
        raise ValidationFailed(f"{label}不能超过 {limit} 个字", details={"field": key})
    return value


def county_region(code):
    """The county-level Region for ``code``. Raises ValidationFailed for anything else."""
    region = db.session.get(Region, code) if isinstance(code, str) and code else None
    if region is None:
        raise ValidationFailed("请选择e站所在的区县", details={"field": "region_code"})
    if region.level != COUNTY_LEVEL:
        level = {1: "省", 2: "市", 4: "乡镇街道"}.get(region.level, "")
        raise ValidationFailed(
            f"“{region.name}”是{level}级地区，请选择e站所在的区县（县级）", details={"field": "region_code"}
        )
    return region


def clean_application(fields):
    """Check an application's fields; return the values to store. Raises ValidationFailed."""
    values = {
        key: _text(fields, key, label, TEXT_LIMITS[key])
        for key, label in (("name", "站点名称"), ("address", "详细地址"), ("manager_name", "管理员姓名"))
    }
    if len(values["name"]) < 2:
        raise ValidationFailed("站点名称至少 2 个字", details={"field": "name"})
    if fields.get("facility_type") not in FACILITY_TYPES:
        raise ValidationFailed("请选择依托场所类型", details={"field": "facility_type"})
    values["facility_type"] = fields["facility_type"]
    values["region_code"] = county_region(fields.get("region_code")).code
    phone = normalize_phone(fields.get("manager_phone") or "")
    if phone is None:
        raise ValidationFailed("请填写正确的管理员手机号", details={"field": "manager_phone"})
    values["manager_phone"] = phone
    for key, (label, _hint) in CONDITIONS.items():
        values[key] = _text(fields, key, f"“{label}”的情况说明", CONDITION_MAX, multiline=True)
    terminals = fields.get("terminals") or []
    if isinstance(terminals, str):
        terminals = [t for t in terminals.split(",") if t]
    if not isinstance(terminals, list | tuple) or not terminals:
        raise ValidationFailed("请至少选择一种终端设备", details={"field": "terminals"})
    unknown = [t for t in terminals if t not in TERMINALS]
    if unknown:
        raise ValidationFailed("终端设备类型无效", details={"field": "terminals"})
    values["terminals"] = ",".join(t for t in TERMINALS if t in terminals)
    return values


def check_manager_phone(phone, station=None):
    """One person manages one open e站: the same number in any spelling cannot apply twice."""
    stmt = select(Station.id).where(
        Station.manager_phone == phone, Station.state.notin_([State.REJECTED, State.REVOKED])
    )
    if station is not None and station.id is not None:
        stmt = stmt.where(Station.id != station.id)
    if db.session.scalar(stmt) is not None:
        raise Conflict("该手机号已是另一个e站的管理员手机号", details={"field": "manager_phone"})


def _record(station, actor, action, from_state, reason=""):
    db.session.add(
        StationEvent(
            station=station,
            actor_id=getattr(actor, "id", None),
            action=action,
            from_state=from_state,
            to_state=station.state,
            reason=reason[:1000],
        )
    )


def apply(actor, fields, photos=None):
    """申报: a station manager applies, or county staff enter an application on the station's behalf.

    ``photos`` is a prepared PhotoBatch (五有 evidence), stored only once every check passed.
    Returns (station, after-commit callbacks). Raises ValidationFailed, Conflict, PermissionDenied.
    """
    values = clean_application(fields)
    on_behalf = scope.staff_level(actor) == COUNTY_LEVEL
    if on_behalf:
        if scope.staff_region(actor) != values["region_code"]:
            raise ValidationFailed("只能为本县（区）的e站录入申请", details={"field": "region_code"})
    elif not actor.has_role(Role.STATION_MANAGER):
        raise PermissionDenied("请使用e站管理员账号申报，或由县级科协代为录入")
    elif own_station(actor) is not None:
        raise Conflict("您已申报过e站，请在“我的e站”查看或修改")
    check_manager_phone(values["manager_phone"])
    now = utcnow()
    station = Station(state=State.APPLIED, submitted_at=now, created_at=now, updated_at=now, **values)
    if not on_behalf:
        station.manager_id = actor.id
    else:
        manager = _manager_account(values["manager_phone"])
        station.manager_id = manager.id if manager else None
    db.session.add(station)
    db.session.flush()
    if station.manager_id is not None:
        db.session.get(User, station.manager_id).station_id = station.id
    _record(station, actor, "apply", None, "县级科协代为录入" if on_behalf else "")
    if photos is not None:
        photos.store(station)
    db.session.flush()
    return station, _notify_county(station)


def _manager_account(phone):
    user = db.session.scalar(select(User).where(User.phone == phone))
    if user is not None and user.has_role(Role.STATION_MANAGER) and user.station_id is None:
        return user
    return None


def own_station(user):
    """The station a manager applied for (linking one that county staff entered with their phone)."""
    if user is None or not user.has_role(Role.STATION_MANAGER):
        return None
    station = db.session.scalar(select(Station).where(Station.manager_id == user.id))
    if station is None and user.phone:
        station = db.session.scalar(
            select(Station).where(
                Station.manager_id.is_(None),
                Station.manager_phone == user.phone,
                Station.state.notin_([State.REJECTED, State.REVOKED]),
            )
        )
        if station is not None:
            station.manager_id = user.id
            user.station_id = station.id
            db.session.flush()
    return station


def edit_and_resubmit(actor, station, fields, photos=None, remove_photo_ids=()):
    """修改后重新提交 (after 退回修改, 未通过, or 撤销: a new application). Returns callbacks."""
    caps = scope.capacities(actor, station)
    if State(station.state) not in EDITABLE_STATES:
        raise Conflict(f"e站当前为“{station.state_label}”，不能修改申请")
    values = clean_application(fields)
    if Capacity.COUNTY in caps and values["region_code"] != station.region_code:
        raise ValidationFailed("只能为本县（区）的e站录入申请", details={"field": "region_code"})
    check_manager_phone(values["manager_phone"], station)
    check(station, "resubmit", caps)  # before anything changes
    for key, value in values.items():
        setattr(station, key, value)
    removable = {p.id: p for p in station.photos if p.purpose in CONDITIONS}
    for photo_id in remove_photo_ids:
        photo = removable.get(photo_id)
        if photo is not None:
            station.photos.remove(photo)
    transition(station, "resubmit", actor=actor, capacities=caps)
    station.submitted_at = utcnow()
    if photos is not None:
        photos.store(station)
    db.session.flush()
    return _notify_county(station)


@dataclass
class Decision:
    action: str
    reason: str = ""
    deadline: object = None  # 整改期限 (date), for "rectify"
    field_check: dict = field(default_factory=dict)  # checked_on, checkers, notes (county_approve)


def decide(actor, station, decision, photos=None):
    """A county or city decision on ``station``. Returns after-commit callbacks.

    county_approve needs a 实地核查 record (date, who checked, notes, optional photos); every
    "return", "reject", "rectify" and "revoke" needs a reason; "rectify" a deadline after today.
    Raises ValidationFailed, IllegalTransition, PermissionDenied, NotFound.
    """
    action = ACTIONS.get(decision.action)
    if action is None:
        raise NotFound("没有这种审核操作")
    reason = clean_text(decision.reason, multiline=True)
    if action.needs_reason and not reason:
        raise ValidationFailed(f"请填写“{action.label}”的原因", details={"field": "reason"})
    if len(reason) > 1000:
        raise ValidationFailed("原因不能超过 1000 个字", details={"field": "reason"})
    caps = scope.capacities(actor, station)
    on_site = None
    if decision.action == "county_approve":
        on_site = _field_check(actor, station, decision.field_check)
    if decision.action == "rectify" and (
        not isinstance(decision.deadline, date) or decision.deadline <= today()
    ):
        raise ValidationFailed("请填写今天之后的整改期限", details={"field": "deadline"})
    transition(station, decision.action, actor=actor, capacities=caps, reason=reason)
    now = utcnow()
    if on_site is not None:
        db.session.add(on_site)
        db.session.flush()
        if photos is not None:
            photos.store(station, field_check=on_site)
    if decision.action == "city_recognise":
        station.recognised_at = now
        station.recognised_by_code = scope.staff_region(actor)
        if station.number is None:
            station.number = next_number(station.region_code)
    elif decision.action == "rectify":
        station.rectify_reason, station.rectify_deadline = reason, decision.deadline
    elif decision.action == "end_rectification":
        station.rectify_reason, station.rectify_deadline = "", None
    elif decision.action == "revoke":
        station.revoked_at = now
        station.rectify_reason, station.rectify_deadline = "", None
    db.session.flush()
    return _notify_manager(station, decision.action, reason)


def _field_check(actor, station, values):
    values = values or {}
    checked_on = values.get("checked_on")
    if isinstance(checked_on, str):
        try:
            checked_on = date.fromisoformat(checked_on)
        except ValueError:
            checked_on = None
    if not isinstance(checked_on, date):
        raise ValidationFailed("请填写实地核查日期", details={"field": "checked_on"})
    if checked_on > today():
        raise ValidationFailed("实地核查日期不能晚于今天", details={"field": "checked_on"})
    if checked_on.year < 2000:
        raise ValidationFailed("实地核查日期无效", details={"field": "checked_on"})
    checkers = _text(values, "checkers", "核查人员", 200)
    notes = _text(values, "notes", "核查情况", 2000, multiline=True)
    return FieldCheck(
        station_id=station.id, checked_on=checked_on, checkers=checkers, notes=notes, recorded_by_id=actor.id
    )


def next_number(region_code):
    """The next station number of a county: ``<county code>-<4-digit sequence>``, never reused.

    The counter row is incremented with one UPDATE, which PostgreSQL serialises per row, so two
    cities recognising stations of one county at once get different numbers; a number already
    taken (by an import) is skipped.
    """
    counter = StationCounter.__table__
    if db.session.get(StationCounter, region_code) is None:
        db.session.add(StationCounter(region_code=region_code, last=0))
        db.session.flush()
    while True:
        last = db.session.execute(
            update(counter)
            .where(counter.c.region_code == region_code)
            .values(last=counter.c.last + 1)
            .returning(counter.c.last)
        ).scalar_one()
        number = f"{region_code}-{last:04d}"
        if db.session.scalar(select(Station.id).where(Station.number == number)) is None:
            return number


NOTICES = {
    "county_approve": ("e站申请已通过县级审核", "已报市级科协复核。"),
    "county_return": ("e站申请被退回修改", None),
    "county_reject": ("e站申请未通过县级审核", None),
    "city_recognise": ("e站已被认定", "已纳入统计序列，可下载e站匾牌。"),
    "city_return": ("e站申请被退回修改", None),
    "city_reject": ("e站申请未通过市级复核", None),
    "rectify": ("e站被责令整改", None),
    "end_rectification": ("e站整改已完成", "已解除整改。"),
    "revoke": ("e站已被撤销", None),
}


def _notify_manager(station, action, reason):
    manager = station.manager
    if manager is None:
        return []
    title, default_body = NOTICES[action]
    body = f"“{station.name}”：{reason or default_body}"
    if action == "city_recognise":
        body = f"“{station.name}”已被认定为科普中国e站，站点编号 {station.number}。{default_body}"
    if action == "rectify":
        body += f"（整改期限：{station.rectify_deadline.isoformat()}）"
    sms_text = f"{title}，请登录科普资源云查看。"
    return notify(manager, title, body, link=f"/stations/{station.id}", sms_text=sms_text)


def _notify_county(station):
    """Tell the county's staff that an application waits for their review (in-site only)."""
    staff = db.session.scalars(
        select(User)
        .join(StaffAssignment, StaffAssignment.user_id == User.id)
        .where(StaffAssignment.region_code == station.region_code, User.is_active.is_(True))
    ).all()
    for user in staff:
        notify(user, "有新的e站申请待审核", f"“{station.name}”", link=f"/stations/{station.id}")
    return []


# --------------------------------------------------------------------------- staff


def create_staff(actor, region_code, *, phone=None, username=None, name="", password, any_level=False):
    """A 科协 staff account bound to ``region_code``, one level below the actor's own.

    Admins create province staff; province staff city staff inside their province; city staff
    county staff inside their city (``any_level``: an operator's command line, at any level).
    Raises ValidationFailed, Conflict, PermissionDenied.
    """
    region = db.session.get(Region, region_code) if isinstance(region_code, str) else None
    if region is None or region.level > COUNTY_LEVEL:
        raise ValidationFailed("请选择省、市或区县", details={"field": "region_code"})
    if scope.sees_everything(actor):
        allowed = any_level or region.level == 1
    else:
        level = scope.staff_level(actor)
        allowed = level is not None and region.level == level + 1 and scope.covers(actor, region.code)
    if not allowed:
        raise PermissionDenied("只能为下一级科协（且在本地区内）创建工作人员账号")
    user = create_user(Role.STAFF, phone=phone, username=username, password=password, name=name)
    db.session.add(StaffAssignment(user_id=user.id, region_code=region.code, created_by_id=actor.id))
    db.session.flush()
    db.session.refresh(user)
    return user


def staff_below(actor):
    """The staff accounts inside the actor's region (admins: all)."""
    stmt = (
        select(StaffAssignment)
        .join(User, User.id == StaffAssignment.user_id)
        .where(scope.region_clause(actor, StaffAssignment.region_code))
        .order_by(StaffAssignment.region_code, User.id)
    )
    return db.session.scalars(stmt).all()


# --------------------------------------------------------------------------- people


def _require_manager_or_county(actor, station):
    caps = scope.capacities(actor, station)
    if not caps & {Capacity.APPLICANT, Capacity.COUNTY}:
        raise PermissionDenied("只有e站管理员或县级科协可以管理e站人员")


def add_station_account(actor, station, *, username, password, name=""):
    """A login of the station itself (downloads from 资源中心 as stations do)."""
    _require_manager_or_county(actor, station)
    if not station.is_recognised:
        raise Conflict("e站认定后才能开设站点账号")
    user = create_user(
        Role.STATION,
        username=username,
        password=password,
        name=name or station.name,
        region_code=station.region_code,
    )
    user.station_id = station.id
    db.session.flush()
    return user


def attach_informant(actor, station, login):
    """Add an imported 信息员 of the same county to the station's team."""
    _require_manager_or_county(actor, station)
    user = find_by_login(login)
    if user is None or not user.has_role(Role.INFORMANT):
        raise ValidationFailed("找不到该信息员账号，请输入其用户名或手机号", details={"field": "login"})
    if not (user.region_code or "").startswith(station.region_code):
        raise ValidationFailed("只能添加本县（区）的信息员", details={"field": "login"})
    if user.station_id not in (None, station.id):
        raise Conflict("该信息员已属于其他e站")
    user.station_id = station.id
    db.session.flush()
    return user


def detach_person(actor, station, user_id):
    """Remove an informant from the team, or disable a station login."""
    _require_manager_or_county(actor, station)
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or user.station_id != station.id or user.id == station.manager_id:
        raise NotFound("该人员不属于本e站")
    user.station_id = None
    if user.has_role(Role.STATION) and not user.has_role(Role.INFORMANT):
        user.is_active = False
    db.session.flush()


def people(station):
    return db.session.scalars(select(User).where(User.station_id == station.id).order_by(User.id)).all()


# --------------------------------------------------------------------------- activities


ACTIVITY_FIELDS = ("held_on", "title", "kind", "place", "participants", "description")


def record_activity(actor, station, fields, photos=None, resource_ids=()):
    """有活动: the station records an activity (recognised stations only). Raises ValidationFailed."""
    if not scope.is_station_person(actor, station):
        raise PermissionDenied("只有本e站的账号可以记录活动")
    if not station.is_recognised:
        raise Conflict("e站认定后才能记录活动")
    held_on = fields.get("held_on")
    if isinstance(held_on, str):
        try:
            held_on = date.fromisoformat(held_on)
        except ValueError:
            held_on = None
    if not isinstance(held_on, date):
        raise ValidationFailed("请填写活动日期", details={"field": "held_on"})
    if held_on > today():
        raise ValidationFailed("活动日期不能晚于今天", details={"field": "held_on"})
    title = _text(fields, "title", "活动名称", 200)
    if fields.get("kind") not in ACTIVITY_KINDS:
        raise ValidationFailed("请选择活动类型", details={"field": "kind"})
    place = _text(fields, "place", "活动地点", 200)
    try:
        participants = int(str(fields.get("participants", "")).strip())
    except ValueError:
        participants = -1
    if not 0 <= participants <= 1_000_000:
        raise ValidationFailed("参与人数须为 0 到 100 万之间的整数", details={"field": "participants"})
    description = _text(fields, "description", "活动简介", 2000, required=False, multiline=True)
    ids = []
    for value in resource_ids or ():
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if not 0 < number < 2**31:  # the id columns are 32-bit INTEGER on PostgreSQL
            raise ValidationFailed("使用的资源编号无效", details={"field": "resource_ids"})
        ids.append(number)
    ids = sorted(set(ids))
    if len(ids) > 50:
        raise ValidationFailed("一次活动最多关联 50 个资源", details={"field": "resource_ids"})
    published = set()
    if ids:
        published = set(
            db.session.scalars(
                select(Resource.id).where(Resource.id.in_(ids), Resource.state == ResourceState.APPROVED)
            )
        )
    if published != set(ids):
        raise ValidationFailed("所选资源不存在或未发布", details={"field": "resource_ids"})
    activity = StationActivity(
        station_id=station.id,
        held_on=held_on,
        title=title,
        kind=fields["kind"],
        place=place,
        participants=participants,
        description=description,
        recorded_by_id=actor.id,
    )
    activity.resource_links = [ActivityResource(resource_id=i) for i in ids]
    db.session.add(activity)
    db.session.flush()
    if photos is not None:
        photos.store(station, activity=activity)
    return activity


def set_highlight(actor, activity, on):
    """亮点活动 / 优秀案例: county staff of the station's county mark (or unmark) an activity."""
    if Capacity.COUNTY not in scope.capacities(actor, activity.station):
        raise PermissionDenied("只有县级科协可以标记亮点活动")
    activity.highlighted_at = utcnow() if on else None
    activity.highlighted_by_id = actor.id if on else None
    db.session.flush()


def activities_of(station):
    stmt = select(StationActivity).where(StationActivity.station_id == station.id)
    return db.session.scalars(stmt.order_by(StationActivity.held_on.desc(), StationActivity.id.desc())).all()


def visible_activity(user, station, activity_id):
    activity = db.session.get(StationActivity, activity_id) if isinstance(activity_id, int) else None
    if activity is None or activity.station_id != station.id:
        raise NotFound("活动不存在")
    return activity


# --------------------------------------------------------------------------- lists


@dataclass
class StationFilter:
    q: str = ""
    state: str = ""
    county: str = ""
    facility_type: str = ""


def stations_query(user, filters):
    """Stations inside the user's scope matching ``filters``, newest activity first."""
    stmt = select(Station).where(scope.region_clause(user, Station.region_code))
    q = (filters.q or "").strip()[:50]
    if q:
        pattern = f"%{q.replace('%', '').replace('_', '')}%"
        stmt = stmt.where(or_(Station.name.like(pattern), Station.number.like(pattern)))
    if filters.state in {s.value for s in State}:
        stmt = stmt.where(Station.state == filters.state)
    if filters.county:
        stmt = stmt.where(Station.region_code.like(f"{filters.county}%"))
    if filters.facility_type in FACILITY_TYPES:
        stmt = stmt.where(Station.facility_type == filters.facility_type)
    return stmt


def work_queue(user, filters=None):
    """What waits for this staff member, oldest first: a county's 审核, a city's 复核."""
    level = scope.staff_level(user)
    waiting = {3: State.APPLIED, 2: State.COUNTY_APPROVED}.get(level)
    if waiting is None:
        return []
    stmt = stations_query(user, filters or StationFilter()).where(Station.state == waiting)
    return db.session.scalars(stmt.order_by(Station.submitted_at.asc(), Station.id.asc())).all()


def drilldown(user, parent_code=None):
    """Counts per state of the regions one level below ``parent_code`` (or the user's own region).

    A county has no level below it here: its own row is shown. Returns (parent Region or None,
    [(Region, {state: count}, total)]). Raises NotFound outside the scope.
    """
    code = parent_code or scope.staff_region(user) or ""
    if code and not scope.covers(user, code):
        raise NotFound("地区不存在")
    parent = db.session.get(Region, code) if code else None
    if code and (parent is None or parent.level > COUNTY_LEVEL):
        raise NotFound("地区不存在")
    width = {None: 2, 1: 4, 2: 6, 3: 6}[parent.level if parent else None]
    prefix = func.substr(Station.region_code, 1, width)
    stmt = select(prefix, Station.state, func.count()).where(scope.region_clause(user, Station.region_code))
    if code:
        stmt = stmt.where(Station.region_code.like(f"{code}%"))
    counts = {}
    for child, state, number in db.session.execute(stmt.group_by(prefix, Station.state)):
        counts.setdefault(child, {})[state] = number
    found = db.session.scalars(select(Region).where(Region.code.in_(list(counts)))) if counts else []
    regions = {r.code: r for r in found}
    rows = [(regions[c], counts[c], sum(counts[c].values())) for c in sorted(counts) if c in regions]
    return parent, rows


def photo_of(station, photo_id):
    photo = db.session.get(StationPhoto, photo_id) if isinstance(photo_id, int) else None
    if photo is None or photo.station_id != station.id:
        raise NotFound("照片不存在")
    return photo


def field_checks(station):
    stmt = select(FieldCheck).where(FieldCheck.station_id == station.id).order_by(FieldCheck.id.desc())
    return db.session.scalars(stmt).all()


def history(station):
    stmt = select(StationEvent).where(StationEvent.station_id == station.id).order_by(StationEvent.id)
    return db.session.scalars(stmt).all()


def recognised_count(region_prefix=""):
    """纳入统计序列: recognised stations (rectification included) under a region prefix."""
    stmt = select(func.count()).select_from(Station).where(Station.state.in_(sorted(RECOGNISED_STATES)))
    if region_prefix:
        stmt = stmt.where(Station.region_code.like(f"{region_prefix}%"))
    return db.session.scalar(stmt)


def association_name(region_code):
    """“郑州市科协”: what a staff scope or a recognising city is called."""
    region = db.session.get(Region, region_code) if region_code else None
    return f"{region.name}科协" if region else ""


PER_PAGE = 30


def paginate(stmt, page):
    """(total, the stations of ``page``) for a stations query."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    ordered = stmt.order_by(Station.updated_at.desc(), Station.id.desc())
    rows = db.session.scalars(ordered.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return total, rows


def counties_in_scope(user):
    """The counties a staff member's filters can choose from."""
    code = scope.staff_region(user)
    if not code and not scope.sees_everything(user):
        return []
    stmt = select(Region).where(Region.level == COUNTY_LEVEL)
    if code:
        stmt = stmt.where(Region.code.like(f"{code}%"))
    else:
        stmt = stmt.where(Region.code.in_(select(Station.region_code).distinct()))
    return db.session.scalars(stmt.order_by(Region.code).limit(500)).all()
