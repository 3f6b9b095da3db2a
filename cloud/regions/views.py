"""The picker's data: the children of a division, as JSON."""

from flask import jsonify, request

from cloud.api.blueprint import api_blueprint
from cloud.api.openapi import operation
from cloud.errors import NotFound
from cloud.extensions import db
from cloud.regions import service
from cloud.regions.models import Region

bp = api_blueprint("regions")


@bp.get("/regions")
@operation(
    summary="List the divisions under a parent (provinces without one)",
    tags=["regions"],
    auth=False,
    parameters=[{"name": "parent", "in": "query", "schema": {"type": "string"}}],
    response={
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["code", "name", "level"],
                    "properties": {
                        "code": {"type": "string"},
                        "name": {"type": "string"},
                        "level": {"type": "integer"},
                    },
                },
            }
        },
    },
    errors=[404],
)
def list_regions():
    parent = request.args.get("parent") or None
    if parent and db.session.get(Region, parent) is None:
        raise NotFound("地区代码不存在")
    items = [{"code": r.code, "name": r.name, "level": r.level} for r in service.children(parent)]
    response = jsonify({"items": items})
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response
