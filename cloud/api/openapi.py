"""The OpenAPI document, built from the routes themselves so it cannot drift from them.

Each API view carries ``@operation(...)``; ``/api/v1/openapi.json`` walks the URL map. Path
parameters are typed from the route's converters (``<int:…>`` an integer id, ``<any(a, b):…>`` an
enum). Every operation lists the error statuses it can answer, each with the one error shape:
401 everywhere (an invalid bearer token is refused before any view runs), 404 where the path has
parameters, 422 where there is a body or there are parameters to get wrong (or a resource whose
state does not allow the step, see ``resources.lifecycle``), plus what the
operation declares in ``errors``. tests/contract/test_openapi_fuzz.py holds every operation to its
entry: no other status, no other body.
"""

import re

from flask import current_app
from werkzeug.routing import AnyConverter, IntegerConverter

from cloud.api.blueprint import API_PREFIX
from cloud.errors import HTTP_MESSAGES
from cloud.inputs import MAX_ID

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "minLength": 1},
                "message": {"type": "string", "minLength": 1, "description": "Chinese text for the user"},
                "details": {"type": "object"},
            },
        }
    },
}
ERROR_DESCRIPTIONS = {
    400: "请求有误 (malformed request)",
    401: "请先登录 (no or invalid bearer token)",
    403: "没有权限 (the caller may not do this)",
    404: "不存在 (or not visible to the caller)",
    409: "与当前状态冲突 (conflict with the current state)",
    410: "已失效 (gone)",
    412: "协议版本不支持 (precondition failed)",
    413: "超过大小限制 (too large)",
    415: "不支持的内容类型 (unsupported media type)",
    422: "提交的内容有误 (validation failed)",
    429: "操作过于频繁 (rate limited)",
    460: "校验和不符 (tus checksum mismatch)",
}
# A database id in a path (cloud.inputs bounds the converter).
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_ID}


def operation(
    summary, *, tags, auth=True, parameters=(), request_body=None, response=None, status=200, errors=()
):
    """Attach OpenAPI metadata to a view function.

    ``auth``: True (a bearer token is required), False (none is used) or "optional" (the answer
    depends on whether there is one). ``response`` is the JSON schema of the success body (None for
    a status without a body, e.g. 204 or 302). ``errors``: error statuses beyond the ones every
    operation of its shape can answer (see the module docstring).
    """

    def decorate(func):
        func.openapi = {
            "summary": summary,
            "tags": list(tags),
            "auth": auth,
            "parameters": list(parameters),
            "request_body": request_body,
            "response": response,
            "status": status,
            "errors": set(errors),
        }
        return func

    return decorate


def _path(rule):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _path_schema(converter):
    if isinstance(converter, IntegerConverter):
        return dict(ID_SCHEMA)
    if isinstance(converter, AnyConverter):
        return {"type": "string", "enum": sorted(converter.items)}
    return {"type": "string", "pattern": "^[^/]+$", "minLength": 1}


def _security(auth):
    if auth == "optional":
        return [{"bearer": []}, {}]
    return [{"bearer": []}] if auth else []


def _responses(meta, has_path_params):
    success = {"description": "OK"}
    if meta["response"] is not None:
        success["content"] = {"application/json": {"schema": meta["response"]}}
    if meta["status"] in (301, 302, 303, 307):
        success["headers"] = {"Location": {"required": True, "schema": {"type": "string"}}}
    errors = {401} | meta["errors"]
    if has_path_params:
        errors.add(404)
    if meta["request_body"] or meta["parameters"] or has_path_params:
        errors.add(422)  # includes a transition the resource's state does not allow
    responses = {str(meta["status"]): success}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": ERROR_DESCRIPTIONS.get(status) or HTTP_MESSAGES.get(status, "error"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return responses


def build_document():
    """Return the OpenAPI 3.1 document for every documented ``/api/v1`` route."""
    paths = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        meta = getattr(current_app.view_functions[rule.endpoint], "openapi", None)
        if meta is None:
            continue
        path = _path(rule.rule[len(API_PREFIX) :]) or "/"
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            params = [
                {"name": arg, "in": "path", "required": True, "schema": _path_schema(rule._converters[arg])}
                for arg in sorted(rule.arguments)
            ]
            op = {
                "operationId": rule.endpoint.replace(".", "_"),
                "summary": meta["summary"],
                "tags": meta["tags"],
                "parameters": params + meta["parameters"],
                "responses": _responses(meta, bool(params)),
            }
            if meta["request_body"]:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": meta["request_body"]}},
                }
            op["security"] = _security(meta["auth"])
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "科普资源云 Kepu Cloud API", "version": "1"},
        "servers": [{"url": API_PREFIX}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
