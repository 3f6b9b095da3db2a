"""机构认证 endpoints: an institution user's status; the admins' queue and decisions."""

from flask import jsonify, request

from cloud.accounts.models import Role
from cloud.api.blueprint import api_blueprint, api_user
from cloud.api.openapi import operation
from cloud.errors import NotFound, PermissionDenied
from cloud.extensions import db
from cloud.institutions import service
from cloud.institutions.models import Institution

bp = api_blueprint("institutions")

INSTITUTION = {
    "type": "object",
    "required": ["id", "name", "credit_code", "kind", "region_code", "status", "reject_reason"],
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "credit_code": {"type": "string"},
        "kind": {"type": "string"},
        "region_code": {"type": ["string", "null"]},
        "status": {"enum": ["unverified", "pending", "verified", "rejected"]},
        "reject_reason": {"type": ["string", "null"]},
        "submitted_at": {"type": ["string", "null"], "format": "date-time"},
        "verified_at": {"type": ["string", "null"], "format": "date-time"},
    },
}


def _json(institution):
    return {
        "id": institution.id,
        "name": institution.name,
        "credit_code": institution.credit_code,
        "kind": institution.kind,
        "region_code": institution.region_code,
        "status": institution.status,
        "reject_reason": institution.reject_reason,
        "submitted_at": institution.submitted_at.isoformat() if institution.submitted_at else None,
        "verified_at": institution.verified_at.isoformat() if institution.verified_at else None,
    }


@bp.get("/institution")
@operation(
    "The caller's institution and its verification status",
    tags=["institutions"],
    response=INSTITUTION,
    errors=[404],
)
def mine():
    institution = api_user().institution
    if institution is None:
        raise NotFound("尚未提交机构认证")
    return jsonify(_json(institution))


def _admin():
    user = api_user()
    if not user.has_role(Role.ADMIN):
        raise PermissionDenied()
    return user


@bp.get("/admin/institutions")
@operation(
    "Pending verification applications, oldest first (admins)",
    tags=["institutions"],
    response={
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": INSTITUTION}},
    },
    errors=[403],
)
def pending():
    _admin()
    return jsonify({"items": [_json(i) for i in service.verification_queue()]})


@bp.post("/admin/institutions/<int:institution_id>/<any(verify, reject):action>")
@operation(
    "Verify or reject an application (reject needs `reason`)",
    tags=["institutions"],
    request_body={"type": "object", "properties": {"reason": {"type": "string"}}},
    response=INSTITUTION,
    errors=[403, 409],
)
def decide(institution_id, action):
    admin = _admin()
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        raise NotFound()
    body = request.get_json(silent=True) or {}
    reason = body.get("reason") if isinstance(body, dict) and isinstance(body.get("reason"), str) else ""
    after = service.decide(admin, institution, action == "verify", reason)
    db.session.commit()
    for callback in after:
        callback()
    return jsonify(_json(institution))
