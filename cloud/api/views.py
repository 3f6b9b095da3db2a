"""``/api/v1/openapi.json`` and bearer tokens."""

from datetime import timedelta

from flask import current_app, g, jsonify, request

from cloud.accounts import service
from cloud.accounts.sessions import API, open_session
from cloud.api.blueprint import api_blueprint, api_user
from cloud.api.openapi import build_document, operation
from cloud.errors import ValidationFailed
from cloud.extensions import db
from cloud.models_base import utcnow

bp = api_blueprint("core")

TOKEN_SCHEMA = {
    "type": "object",
    "required": ["token", "expires_at"],
    "additionalProperties": False,
    "properties": {"token": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}},
}
USER_SCHEMA = {
    "type": "object",
    "required": ["id", "username", "phone", "name", "roles", "region_code"],
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": ["string", "null"]},
        "phone": {"type": ["string", "null"]},
        "name": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string"}},
        "region_code": {"type": ["string", "null"]},
    },
}


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(build_document())


@bp.post("/auth/token")
@operation(
    "Exchange phone-or-username and password for a bearer token",
    tags=["auth"],
    auth=False,
    request_body={
        "type": "object",
        "required": ["login", "password"],
        "properties": {"login": {"type": "string"}, "password": {"type": "string"}},
    },
    response=TOKEN_SCHEMA,
    status=201,
    errors=[429],
)
def create_token():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("login"), str):
        raise ValidationFailed("请求体须为 JSON，包含 login 与 password")
    user = service.authenticate(
        body.get("login"),
        body.get("password") if isinstance(body.get("password"), str) else "",
        ip=request.remote_addr,
    )
    hours = current_app.config["KEPU_API_TOKEN_HOURS"]
    token, row = open_session(user, API, timedelta(hours=hours))
    db.session.commit()
    return jsonify({"token": token, "expires_at": row.expires_at.isoformat()}), 201


@bp.delete("/auth/token")
@operation("Revoke the bearer token used for this request", tags=["auth"], status=204, errors=[422])
def revoke_token():
    api_user()
    if g.api_session is None:
        raise ValidationFailed("请使用 Authorization: Bearer 令牌调用此接口")
    g.api_session.revoked_at = utcnow()
    db.session.commit()
    return "", 204


@bp.get("/me")
@operation("The calling user", tags=["auth"], response=USER_SCHEMA)
def me():
    user = api_user()
    return jsonify(
        {
            "id": user.id,
            "username": user.username,
            "phone": user.phone,
            "name": user.name,
            "roles": sorted(user.roles),
            "region_code": user.region_code,
        }
    )
