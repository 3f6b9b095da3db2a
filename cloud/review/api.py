"""``/api/v1/review`` and ``/api/v1/feed``."""

from datetime import datetime

from flask import jsonify, request
from sqlalchemy import select

from cloud.api.blueprint import api_blueprint, api_user
from cloud.api.openapi import operation
from cloud.errors import ValidationFailed
from cloud.extensions import db
from cloud.resources.lifecycle import State
from cloud.resources.models import Resource
from cloud.review import service

bp = api_blueprint("review")

ITEM = {
    "type": "object",
    "required": ["id", "kind", "title", "summary", "channel", "tags", "institution", "state"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "channel": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "institution": {"type": "string"},
        "state": {"type": "string"},
        "submitted_at": {"type": ["string", "null"], "format": "date-time"},
        "published_at": {"type": ["string", "null"], "format": "date-time"},
        "claimed_by": {"type": ["integer", "null"]},
    },
}
ITEMS = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": ITEM}}}


def _item(resource):
    return {
        "id": resource.id,
        "kind": resource.kind,
        "title": resource.title,
        "summary": resource.summary,
        "channel": resource.channel,
        "tags": resource.tag_list,
        "institution": resource.institution.name,
        "state": resource.state,
        "submitted_at": resource.submitted_at.isoformat() if resource.submitted_at else None,
        "published_at": resource.published_at.isoformat() if resource.published_at else None,
        "claimed_by": resource.claimed_by_id,
    }


@bp.get("/review/queue")
@operation(
    "Pending resources, oldest first (reviewers)",
    tags=["review"],
    parameters=[
        {"name": "kind", "in": "query", "schema": {"type": "string"}},
        {"name": "channel", "in": "query", "schema": {"type": "string"}},
    ],
    response=ITEMS,
    errors=[403],
)
def review_queue():
    service.require_reviewer(api_user())
    items = service.queue(request.args.get("kind") or None, request.args.get("channel") or None)
    return jsonify({"items": [_item(r) for r in items]})


def _body():
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.post("/review/<int:resource_id>/<any(claim, approve, reject):action>")
@operation(
    "Claim, approve or reject a pending resource (reject needs `reason`; optional `field_notes`)",
    tags=["review"],
    request_body={
        "type": "object",
        "properties": {
            "reason": {"type": "string"},
            "comment": {"type": "string"},
            "field_notes": {"type": "object"},
        },
    },
    response=ITEM,
    errors=[403, 409],
)
def review_action(resource_id, action):
    reviewer = api_user()
    resource = service.get_for_review(reviewer, resource_id)
    body = _body()
    if action == "claim":
        after = service.claim(reviewer, resource)
    elif action == "approve":
        after = service.approve(reviewer, resource, str(body.get("comment") or ""))
    else:
        notes = body.get("field_notes") if isinstance(body.get("field_notes"), dict) else {}
        after = service.reject(reviewer, resource, str(body.get("reason") or ""), notes)
    db.session.commit()
    if after:
        after.run()
    return jsonify(_item(resource))


@bp.post("/resources/<int:resource_id>/withdraw")
@operation("Withdraw a published resource (admins or the owning institution; `reason` required)",
           tags=["review"], request_body={"type": "object", "properties": {"reason": {"type": "string"}}},
           response=ITEM, errors=[403, 409])  # fmt: skip
def withdraw_resource(resource_id):
    user = api_user()
    resource = db.session.get(Resource, resource_id)
    if resource is None:
        from cloud.errors import NotFound

        raise NotFound("资源不存在")
    after = service.withdraw(user, resource, str(_body().get("reason") or ""))
    db.session.commit()
    after.run()
    return jsonify(_item(resource))


@bp.get("/feed")
@operation(
    "Published resources, newest first, for the APP and partner platforms",
    tags=["feed"],
    parameters=[
        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    ],
    response=ITEMS,
)
def feed():
    api_user()
    stmt = select(Resource).where(Resource.state == State.APPROVED)
    since = request.args.get("since")
    if since:
        try:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed("since 须为 ISO 8601 时间，例如 2026-01-01T00:00:00+08:00") from None
        if moment.tzinfo is None:
            raise ValidationFailed("since 须带时区，例如 2026-01-01T00:00:00+08:00")
        stmt = stmt.where(Resource.published_at > moment)
    try:
        limit = min(max(int(request.args.get("limit", 100)), 1), 200)
    except ValueError:
        raise ValidationFailed("limit 须为 1-200 的整数") from None
    rows = db.session.scalars(stmt.order_by(Resource.published_at.desc(), Resource.id.desc()).limit(limit))
    return jsonify({"items": [_item(r) for r in rows.unique()]})
