"""``/api/v1/stations``: the registry within the caller's scope, applications, decisions, activities."""

from datetime import date

from flask import jsonify, request

from cloud.api.blueprint import api_blueprint, api_user
from cloud.api.openapi import operation
from cloud.errors import ValidationFailed
from cloud.extensions import db
from cloud.stations import scope, service
from cloud.stations.models import CONDITIONS, FACILITY_TYPES, TERMINALS
from cloud.stations.states import STATE_LABELS
from cloud.stations.workflow import ACTIONS

bp = api_blueprint("stations")
CHECK_FIELDS = ("checked_on", "checkers", "notes")

STATION_SCHEMA = {
    "type": "object",
    "required": ["id", "name", "state", "region_code"],
    "properties": {
        "id": {"type": "integer"},
        "number": {"type": ["string", "null"]},
        "name": {"type": "string"},
        "state": {"type": "string", "enum": sorted(STATE_LABELS)},
        "state_label": {"type": "string"},
        "is_recognised": {"type": "boolean"},
        "facility_type": {"type": "string"},
        "region_code": {"type": "string"},
        "address": {"type": "string"},
        "manager_name": {"type": "string"},
        "manager_phone": {"type": "string"},
        "conditions": {"type": "object", "additionalProperties": {"type": "string"}},
        "terminals": {"type": "array", "items": {"type": "string"}},
        "submitted_at": {"type": ["string", "null"]},
        "recognised_at": {"type": ["string", "null"]},
        "rectify_reason": {"type": "string"},
        "rectify_deadline": {"type": ["string", "null"]},
    },
}
APPLICATION_SCHEMA = {
    "type": "object",
    "required": [
        "name",
        "facility_type",
        "region_code",
        "address",
        "manager_name",
        "manager_phone",
        *CONDITIONS,
        "terminals",
    ],
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "facility_type": {"type": "string", "enum": list(FACILITY_TYPES)},
        "region_code": {"type": "string", "description": "a county-level division code"},
        "address": {"type": "string", "maxLength": 200},
        "manager_name": {"type": "string", "maxLength": 50},
        "manager_phone": {"type": "string"},
        **{key: {"type": "string", "maxLength": 500, "description": c[0]} for key, c in CONDITIONS.items()},
        "terminals": {"type": "array", "items": {"type": "string", "enum": list(TERMINALS)}},
    },
}
ACTIVITY_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "held_on": {"type": "string", "format": "date"},
        "title": {"type": "string"},
        "kind": {"type": "string"},
        "place": {"type": "string"},
        "participants": {"type": "integer"},
        "description": {"type": "string"},
        "resource_ids": {"type": "array", "items": {"type": "integer"}},
        "is_highlight": {"type": "boolean"},
    },
}


def station_json(station, *, full=True):
    data = {
        "id": station.id,
        "number": station.number,
        "name": station.name,
        "state": station.state,
        "state_label": station.state_label,
        "is_recognised": station.is_recognised,
        "facility_type": station.facility_type,
        "region_code": station.region_code,
        "address": station.address,
        "submitted_at": station.submitted_at.isoformat() if station.submitted_at else None,
        "recognised_at": station.recognised_at.isoformat() if station.recognised_at else None,
        "rectify_reason": station.rectify_reason,
        "rectify_deadline": station.rectify_deadline.isoformat() if station.rectify_deadline else None,
    }
    if full:
        data.update(
            manager_name=station.manager_name,
            manager_phone=station.manager_phone,
            conditions={key: getattr(station, key) for key in CONDITIONS},
            terminals=station.terminal_list,
        )
    return data


def activity_json(activity):
    return {
        "id": activity.id,
        "held_on": activity.held_on.isoformat(),
        "title": activity.title,
        "kind": activity.kind,
        "place": activity.place,
        "participants": activity.participants,
        "description": activity.description,
        "resource_ids": [link.resource_id for link in activity.resource_links],
        "is_highlight": activity.is_highlight,
    }


def _body():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("请求体须为 JSON 对象")
    return body


def _page():
    try:
        return max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        raise ValidationFailed("page 须为正整数", details={"field": "page"}) from None


@bp.get("/stations")
@operation(
    "Stations inside the caller's region (科协 staff and admins), newest first",
    tags=["stations"],
    parameters=[
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "name or number"},
        {"name": "state", "in": "query", "schema": {"type": "string", "enum": sorted(STATE_LABELS)}},
        {"name": "county", "in": "query", "schema": {"type": "string"}},
        {"name": "facility_type", "in": "query", "schema": {"type": "string"}},
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
    ],
    response={
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": STATION_SCHEMA},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
        },
    },
)
def list_stations():
    user = api_user()
    if scope.staff_region(user) is None and not scope.sees_everything(user):
        own = service.own_station(user) or (
            scope.visible_station(user, user.station_id) if user.station_id else None
        )
        items = [station_json(own)] if own is not None else []
        return jsonify({"items": items, "total": len(items), "page": 1})
    args = request.args
    filters = service.StationFilter(
        q=(args.get("q") or "")[:50],
        state=args.get("state") or "",
        county=args.get("county") if (args.get("county") or "").isdigit() else "",
        facility_type=args.get("facility_type") or "",
    )
    page = _page()
    total, stations = service.paginate(service.stations_query(user, filters), page)
    return jsonify({"items": [station_json(s) for s in stations], "total": total, "page": page})


@bp.post("/stations")
@operation(
    "Apply for a station (a station manager, or county staff on a station's behalf)",
    tags=["stations"],
    request_body=APPLICATION_SCHEMA,
    response=STATION_SCHEMA,
    status=201,
    errors=(403, 409, 413),
)
def create_station():
    user = api_user()
    station, after = service.apply(user, _body())
    db.session.commit()
    for callback in after:
        callback()
    return jsonify(station_json(station)), 201


@bp.get("/stations/<int:station_id>")
@operation("A station in the caller's scope, with its history", tags=["stations"], response=STATION_SCHEMA)
def get_station(station_id):
    user = api_user()
    station = scope.visible_station(user, station_id)
    data = station_json(station)
    data["history"] = [
        {
            "action": e.action,
            "from": e.from_state,
            "to": e.to_state,
            "reason": e.reason,
            "actor_id": e.actor_id,
            "at": e.created_at.isoformat(),
        }
        for e in service.history(station)
    ]
    db.session.commit()  # own_station may have linked a station entered on the manager's behalf
    return jsonify(data)


@bp.post("/stations/<int:station_id>/decisions")
@operation(
    "A decision on a station: county review, city re-review, rectification, revocation",
    tags=["stations"],
    request_body={
        "type": "object",
        "required": ["action"],
        "properties": {
            "action": {"type": "string", "enum": sorted(a for a in ACTIONS if a != "resubmit")},
            "reason": {"type": "string"},
            "deadline": {"type": "string", "format": "date", "description": "整改期限 (rectify)"},
            "field_check": {
                "type": "object",
                "description": "实地核查 (county_approve)",
                "properties": {
                    "checked_on": {"type": "string", "format": "date"},
                    "checkers": {"type": "string"},
                    "notes": {"type": "string"},
                },
            },
        },
    },
    response=STATION_SCHEMA,
    errors=(403, 409),
)
def decide_station(station_id):
    user = api_user()
    station = scope.visible_station(user, station_id)
    body = _body()
    action = body.get("action")
    if not isinstance(action, str) or action not in ACTIONS or action == "resubmit":
        raise ValidationFailed("action 无效", details={"field": "action"})
    deadline = body.get("deadline")
    if deadline is not None:
        try:
            deadline = date.fromisoformat(deadline) if isinstance(deadline, str) else None
        except ValueError:
            deadline = None
        if deadline is None:
            raise ValidationFailed("deadline 须为日期，例如 2026-12-31", details={"field": "deadline"})
    check = body.get("field_check") if isinstance(body.get("field_check"), dict) else {}
    decision = service.Decision(
        action=action,
        reason=body.get("reason") if isinstance(body.get("reason"), str) else "",
        deadline=deadline,
        field_check={k: v for k, v in check.items() if k in CHECK_FIELDS and isinstance(v, str)},
    )
    after = service.decide(user, station, decision)
    db.session.commit()
    for callback in after:
        callback()
    return jsonify(station_json(station))


@bp.get("/stations/<int:station_id>/activities")
@operation(
    "A station's activities, newest first",
    tags=["stations"],
    response={"type": "object", "properties": {"items": {"type": "array", "items": ACTIVITY_SCHEMA}}},
)
def list_activities(station_id):
    station = scope.visible_station(api_user(), station_id)
    return jsonify({"items": [activity_json(a) for a in service.activities_of(station)]})


@bp.post("/stations/<int:station_id>/activities")
@operation(
    "Record an activity of a recognised station (its own accounts)",
    tags=["stations"],
    request_body={
        "type": "object",
        "required": ["held_on", "title", "kind", "place", "participants"],
        "properties": {k: ACTIVITY_SCHEMA["properties"][k] for k in service.ACTIVITY_FIELDS},
    },
    response=ACTIVITY_SCHEMA,
    status=201,
    errors=(403, 409),
)
def create_activity(station_id):
    user = api_user()
    station = scope.visible_station(user, station_id)
    body = _body()
    ids = body.get("resource_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ValidationFailed("resource_ids 须为资源编号的数组", details={"field": "resource_ids"})
    fields = {k: body.get(k) for k in service.ACTIVITY_FIELDS}
    if not isinstance(fields["participants"], int) or isinstance(fields["participants"], bool):
        raise ValidationFailed("参与人数须为整数", details={"field": "participants"})
    activity = service.record_activity(user, station, fields, None, ids)
    db.session.commit()
    return jsonify(activity_json(activity)), 201
