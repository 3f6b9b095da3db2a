"""The OpenAPI document, built from the routes themselves so it cannot drift from them.

Each API view carries ``@operation(...)``; ``/api/v1/openapi.json`` walks the URL map.
"""

import re

from flask import current_app

from cloud.api.blueprint import API_PREFIX

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string", "description": "Chinese text for the user"},
                "details": {"type": "object"},
            },
        }
    },
}


def operation(summary, *, tags, auth=True, parameters=(), request_body=None, response=None, status=200):
    """Attach OpenAPI metadata to a view function."""

    def decorate(func):
        func.openapi = {
            "summary": summary,
            "tags": list(tags),
            "auth": auth,
            "parameters": list(parameters),
            "request_body": request_body,
            "response": response or {"type": "object"},
            "status": status,
        }
        return func

    return decorate


def _path(rule):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


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
                {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
                for arg in sorted(rule.arguments)
            ]
            op = {
                "operationId": rule.endpoint.replace(".", "_"),
                "summary": meta["summary"],
                "tags": meta["tags"],
                "parameters": params + meta["parameters"],
                "responses": {
                    str(meta["status"]): {
                        "description": "OK",
                        "content": {"application/json": {"schema": meta["response"]}},
                    },
                    "default": {
                        "description": "Error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                },
            }
            if meta["request_body"]:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": meta["request_body"]}},
                }
            op["security"] = [{"bearer": []}] if meta["auth"] else []
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
