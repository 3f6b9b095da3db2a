"""``/api/v1/uploads/``: the tus 1.0 endpoints (core, creation, termination, checksum).

Protocol: https://tus.io/protocols/resumable-upload. The logic is in ``cloud.uploads.service``.
"""

from flask import request, url_for
from werkzeug.exceptions import MethodNotAllowed

from cloud.api.blueprint import API_PREFIX, api_blueprint, api_user
from cloud.api.openapi import operation
from cloud.extensions import db
from cloud.files.service import delete_objects
from cloud.uploads import service

bp = api_blueprint("uploads")
UPLOADS_PATH = f"{API_PREFIX}/uploads/"

TAGS = ["uploads"]
TUS_RESUMABLE = {
    "name": "Tus-Resumable",
    "in": "header",
    "required": True,
    "schema": {"type": "string", "const": service.TUS_VERSION},
}
UPLOAD_OFFSET = {
    "name": "Upload-Offset",
    "in": "header",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
    "description": "must equal the upload's current offset (HEAD)",
}
UPLOAD_CHECKSUM = {
    "name": "Upload-Checksum",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "`<sha1|sha256|md5> <base64 digest of this request's body>`",
}
METHOD_OVERRIDE = "X-HTTP-Method-Override"
# 412: another Tus-Resumable; 409: Upload-Offset is not the upload's; 460: Upload-Checksum differs.
TUS_ERRORS = [400, 403, 409, 412, 413, 415, 460, 503]


def _method():
    """The method the client means: tus clients behind proxies send PATCH/DELETE as POST."""
    if request.method == "POST" and request.view_args and "upload_id" in request.view_args:
        return request.headers.get(METHOD_OVERRIDE, "").strip().upper()
    return request.method


@bp.url_value_preprocessor
def _lift_body_limit(endpoint, values):
    # A PATCH body is a piece of a file as big as the client likes (tus-js-client sends the whole
    # file by default), so Flask's MAX_CONTENT_LENGTH for forms must not apply. Assigning None
    # would fall back to that setting (Flask 3.1's getter treats None as "not set"), so the limit
    # becomes the largest upload of any type; the service then refuses anything beyond the
    # upload's own remaining length. It has to happen here: request.stream is created, with the
    # limit of that moment, the first time anything reads it, and the CSRF check for cookie
    # callers reads request.form in a before_request function; URL value preprocessors run
    # before every before_request function. Other content types keep the form limit, so a large
    # multipart form sent here is never parsed into temporary files.
    chunk = request.mimetype == service.CHUNK_CONTENT_TYPE
    if chunk and values and "upload_id" in values and _method() == "PATCH":
        request.max_content_length = service.max_size()


@bp.before_request
def _check_tus_version():
    if request.method != "OPTIONS":
        service.check_version(request.headers.get("Tus-Resumable"))


@bp.after_app_request
def _tus_headers(response):
    # App-wide with a path check, not bp.after_request: answers decided by the router (404, 405)
    # belong to no blueprint, and tus wants the header on every answer.
    if not request.path.startswith(UPLOADS_PATH):
        return response
    response.headers["Tus-Resumable"] = service.TUS_VERSION
    if response.status_code == 412:
        response.headers["Tus-Version"] = service.TUS_VERSION
    elif response.status_code == 460:
        response.status = "460 Checksum Mismatch"  # not in the HTTP registry: name it
    return response


@bp.route("/uploads/", methods=["OPTIONS"], provide_automatic_options=False)
@operation(
    "What the tus server supports (versions, extensions, checksums, size)", tags=TAGS, auth=False, status=204
)
def describe_uploads():
    return "", 204, service.capability_headers()


@bp.post("/uploads/", provide_automatic_options=False)
@operation(
    "Create a resumable upload (tus creation)",
    tags=TAGS,
    parameters=[
        TUS_RESUMABLE,
        {
            "name": "Upload-Length",
            "in": "header",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        {
            "name": "Upload-Metadata",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "base64 values of filename, filetype and resource_type "
            "(image, video, wallchart, audio or article_image)",
        },
    ],
    status=201,
    errors=TUS_ERRORS,
)
def create_upload():
    user = api_user()
    upload = service.create_upload(
        user,
        request.headers.get("Upload-Length"),
        request.headers.get("Upload-Metadata"),
        defer_length=request.headers.get("Upload-Defer-Length"),
    )
    db.session.commit()
    headers = {"Location": url_for(".head_upload", upload_id=upload.id), "Upload-Offset": str(upload.offset)}
    return "", 201, headers


@bp.route("/uploads/<upload_id>", methods=["HEAD"])
@operation("How much of an upload the server has (tus core)", tags=TAGS, parameters=[TUS_RESUMABLE])
def head_upload(upload_id):
    upload = service.get_upload(api_user(), upload_id)
    headers = {
        "Upload-Offset": str(upload.offset),
        "Upload-Length": str(upload.length),
        "Upload-Metadata": service.encode_metadata(upload),
        "Cache-Control": "no-store",
    }
    return "", 200, headers


@bp.patch("/uploads/<upload_id>")
@operation(
    "Append the request body (application/offset+octet-stream) at Upload-Offset (tus core, checksum)",
    tags=TAGS,
    parameters=[TUS_RESUMABLE, UPLOAD_OFFSET, UPLOAD_CHECKSUM],
    status=204,
    errors=TUS_ERRORS,
)
def patch_upload(upload_id):
    upload = service.get_upload(api_user(), upload_id)
    if request.mimetype != service.CHUNK_CONTENT_TYPE:
        raise service.UnsupportedMediaType()
    result = service.append(
        upload,
        request.stream,
        offset=service.parse_offset(request.headers.get("Upload-Offset")),
        content_length=request.content_length,
        checksum=service.parse_checksum(request.headers.get("Upload-Checksum")),
    )
    db.session.commit()
    service.keep_running_hash(result)
    service.remove_objects(result)
    return "", 204, {"Upload-Offset": str(result.offset)}


@bp.delete("/uploads/<upload_id>")
@operation(
    "Abandon an upload and delete what it stored (tus termination)",
    tags=TAGS,
    parameters=[TUS_RESUMABLE],
    status=204,
    errors=TUS_ERRORS,
)
def delete_upload(upload_id):
    upload = service.get_upload(api_user(), upload_id)
    stale = service.terminate(upload)
    db.session.commit()
    delete_objects(stale)
    return "", 204


@bp.post("/uploads/<upload_id>")
@operation(
    "PATCH or DELETE sent as POST with X-HTTP-Method-Override (clients behind restrictive proxies)",
    tags=TAGS,
    parameters=[
        TUS_RESUMABLE,
        {"name": METHOD_OVERRIDE, "in": "header", "required": True, "schema": {"enum": ["PATCH", "DELETE"]}},
    ],
    status=204,
    errors=[*TUS_ERRORS, 405],
)
def override_upload(upload_id):
    method = _method()
    if method == "PATCH":
        return patch_upload(upload_id)
    if method == "DELETE":
        return delete_upload(upload_id)
    raise MethodNotAllowed(valid_methods=["HEAD", "PATCH", "DELETE"])
