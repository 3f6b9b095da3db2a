"""``/api/v1/resources``: create from finished uploads, list mine, owner view, submit."""

from flask import current_app, jsonify, request

from cloud.api.blueprint import api_blueprint, api_user
from cloud.api.openapi import operation
from cloud.catalog import service as catalog
from cloud.errors import NotFound, ValidationFailed
from cloud.extensions import db
from cloud.resources import service
from cloud.resources.kinds import KINDS
from cloud.resources.schema import (
    PUBLISHED_SCHEMA,
    RESOURCE_LISTED_SCHEMA,
    RESOURCE_SCHEMA,
    published_json,
    resource_json,
)

bp = api_blueprint("resources")

CREATE_SCHEMA = {
    "type": "object",
    "required": ["kind", "title"],
    "properties": {
        "kind": {"enum": [kind.value for kind in KINDS]},
        "title": {"type": "string", "maxLength": 100},
        "summary": {"type": "string"},
        "channel": {"enum": ["科技", "健康", "军事", "校园", "社区", "乡村", "应急", "其他"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "upload_id": {"type": "string", "description": "a finished tus upload (not for articles)"},
        "body_html": {"type": "string", "description": "articles only; sanitized on arrival"},
        "on_duplicate": {
            "enum": ["create", "refuse"],
            "description": "when the institution already has a resource with the same file (SHA-256): "
            "`create` it anyway (default; the answer lists them in `duplicates`) or `refuse` "
            "with 409 duplicate_upload naming them (the upload stays usable)",
        },
    },
}


KIND_SCHEMA = {
    "type": "object",
    "required": ["kind", "label", "extensions", "max_bytes", "max_size", "hint"],
    "properties": {
        "kind": {"enum": [kind.value for kind in KINDS]},
        "label": {"type": "string", "description": "the kind's Chinese name"},
        "extensions": {
            "type": "array",
            "items": {"type": "string"},
            "description": "file name extensions accepted (the content must agree); empty for articles",
        },
        "max_bytes": {"type": "integer", "description": "largest file (for articles: each picture)"},
        "max_size": {"type": "string", "description": "the same, as people read it (e.g. 4 GB)"},
        "hint": {"type": "string", "description": "the upload page's line for the kind"},
    },
}
KINDS_RESPONSE = {
    "type": "object",
    "required": ["items"],
    "properties": {"items": {"type": "array", "items": KIND_SCHEMA}},
}


# PATCH: every field optional, the kind fixed.
UPDATE_SCHEMA = {
    "type": "object",
    "properties": {k: v for k, v in CREATE_SCHEMA["properties"].items() if k != "kind"},
}


def _metadata(body):
    return {
        "title": body.get("title") if isinstance(body.get("title"), str) else "",
        "summary": body.get("summary") if isinstance(body.get("summary"), str) else "",
        "channel": body.get("channel") if isinstance(body.get("channel"), str) else "其他",
        "tags": body.get("tags") if isinstance(body.get("tags"), list | str) else [],
    }


def _json_body():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("请求体须为 JSON 对象")
    return body


@bp.post("/resources")
@operation("Create a resource from a finished upload (or article HTML)", tags=["resources"],
           request_body=CREATE_SCHEMA, response=RESOURCE_SCHEMA, status=201,
           errors=[400, 403, 404, 409, 413, 503])  # fmt: skip
def create_resource():
    user = api_user()
    if request.mimetype == "multipart/form-data":
        # Small files may come in one ordinary form POST instead of through tus; Werkzeug spools
        # the part to a temporary file, so a larger body limit costs disk, not memory.
        request.max_content_length = current_app.config["KEPU_MAX_FORM_UPLOAD_BYTES"]
        body = request.form.to_dict()
        body["tags"] = request.form.get("tags", "")
        source = service.store_form_file(user, body.get("kind"), request.files.get("file"))
    else:
        body = _json_body()
        source = None
        if body.get("kind") != "article":
            source = service.take_upload(user, body.get("kind"), body.get("upload_id"))
    resource, after = service.create_resource(
        user,
        body.get("kind"),
        _metadata(body),
        source=source,
        body_html=body.get("body_html"),
        refuse_duplicates=body.get("on_duplicate") == "refuse",
    )
    db.session.commit()
    after.run()
    db.session.refresh(resource)
    return jsonify(resource_json(resource)), 201


@bp.get("/resource-kinds")
@operation("The resource kinds: Chinese name, accepted files and size limits", tags=["resources"],
           auth=False, response=KINDS_RESPONSE)  # fmt: skip
def list_kinds():
    return jsonify({"items": [facts.as_json() for facts in KINDS.values()]})


@bp.get("/resources/mine")
@operation(
    "The caller's institution's resources, newest first",
    tags=["resources"],
    response={
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": RESOURCE_LISTED_SCHEMA}},
    },
    errors=[403],
)
def my_resources():
    user = api_user()
    items = [resource_json(r, detail=False) for r in service.list_own_resources(user)]
    return jsonify({"items": items})


@bp.get("/resources/<int:resource_id>")
@operation("A resource: the owner's view with processing status, else the published view", tags=["resources"],
           auth="optional", response={"anyOf": [RESOURCE_SCHEMA, PUBLISHED_SCHEMA]})  # fmt: skip
def get_resource(resource_id):
    user = api_user(required=False)
    try:
        return jsonify(resource_json(service.get_own_resource(user, resource_id)))
    except NotFound:
        # Not theirs: the published view, or the same 404 for anything unpublished.
        return jsonify(published_json(catalog.published(resource_id)))


@bp.patch("/resources/<int:resource_id>")
@operation("Edit the metadata of a draft, processed, failed or rejected resource", tags=["resources"],
           request_body=UPDATE_SCHEMA, response=RESOURCE_SCHEMA,
           errors=[400, 403, 409, 413, 503])  # fmt: skip
def update_resource(resource_id):
    user = api_user()
    resource = service.get_own_resource(user, resource_id)
    body = _json_body()
    current = {
        "title": resource.title,
        "summary": resource.summary,
        "channel": resource.channel,
        "tags": resource.tag_list,
    }
    metadata = {**current, **{k: v for k, v in _metadata(body).items() if k in body}}
    after = service.update_metadata(user, resource, metadata, body_html=body.get("body_html"))
    if isinstance(body.get("upload_id"), str):
        stored = service.take_upload(user, resource.kind, body["upload_id"])
        after.extend(service.replace_source(user, resource, stored))
    db.session.commit()
    after.run()
    return jsonify(resource_json(resource))


@bp.post("/resources/<int:resource_id>/submit")
@operation(
    "提交审核: send a processed resource to the review queue",
    tags=["resources"],
    response=RESOURCE_SCHEMA,
    errors=[403, 409],
)
def submit_resource(resource_id):
    user = api_user()
    resource = service.get_own_resource(user, resource_id)
    service.submit(user, resource)
    db.session.commit()
    return jsonify(resource_json(resource))


@bp.post("/resources/<int:resource_id>/retry")
@operation("Process a failed resource again", tags=["resources"], response=RESOURCE_SCHEMA, errors=[403, 409])
def retry_resource(resource_id):
    user = api_user()
    resource = service.get_own_resource(user, resource_id)
    after = service.retry_processing(user, resource)
    db.session.commit()
    after.run()
    return jsonify(resource_json(resource))


@bp.delete("/resources/<int:resource_id>")
@operation(
    "Delete a draft, failed, or processed but never submitted resource, with its files",
    tags=["resources"],
    status=204,
    errors=[403, 404, 422],
)
def delete_resource(resource_id):
    user = api_user()
    resource = service.get_own_resource(user, resource_id)
    after = service.delete_resource(user, resource)
    db.session.commit()
    after.run()
    return "", 204


@bp.post("/article-images")
@operation(
    "Upload a picture for an article being written (multipart field `file`)",
    tags=["resources"],
    response={"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
    status=201,
    errors=[400, 403, 413, 422, 503],
)
def upload_article_image():
    user = api_user()
    request.max_content_length = current_app.config["KEPU_MAX_FORM_UPLOAD_BYTES"]
    url = service.store_inline_image(user, request.files.get("file"))
    db.session.commit()
    return jsonify({"url": url}), 201
