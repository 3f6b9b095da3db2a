"""Handing a file to a station: always a short-lived link issued after the permission check.

With S3 storage the link is a presigned URL (forced attachment, the Chinese name in
``filename*``); with local storage it is a signed link to this app, which streams with Range and
checks again that the resource is still published.
"""

from flask import redirect, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from cloud.catalog import service
from cloud.errors import NotFound
from cloud.extensions import db
from cloud.files.service import FileGone, check_available, get_storage

_SALT = "download-link"


def _serializer():
    from flask import current_app

    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def link(user, resource, rendition):
    """Record the download and return a redirect to a link that expires in minutes.

    Raises NotFound (no such rendition), FileGone (the file is missing or damaged: no link, not
    counted; a missing object found here is marked so), StorageUnavailable.
    """
    rf = service.download_file(resource, rendition)
    name = service.download_name(resource, rf, rendition)
    check_files([rf])
    service.record_download(user, resource, rf, rendition)
    db.session.commit()
    storage = get_storage()
    seconds = service.link_seconds()
    if storage.supports_presigned_urls:
        url = storage.presigned_url(
            rf.stored_file.key, filename=name, content_type=rf.mime_type, expires=seconds
        )
    else:
        token = _serializer().dumps({"r": resource.id, "f": rf.id, "n": rendition})
        url = url_for("catalog.signed_file", token=token)
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


def check_files(files):
    """Refuse a download whose files are not all in storage intact (see ``check_available``).

    A missing object found here stays marked (committed), so the next request is refused
    without asking storage. Raises FileGone, StorageUnavailable.
    """
    try:
        for rf in files:
            check_available(rf.stored_file)
    except FileGone:
        db.session.commit()
        raise


def resolve(token):
    """(resource, file, download name) for a signed local link; NotFound once expired or withdrawn."""
    try:
        data = _serializer().loads(token, max_age=service.link_seconds())
    except (SignatureExpired, BadSignature):
        raise NotFound("下载链接已失效，请返回资源页面重新下载") from None
    resource = service.published(data["r"])
    rf = service.download_file(resource, data["n"])
    if rf.id != data["f"]:
        raise NotFound("下载链接已失效，请返回资源页面重新下载")
    if rf.stored_file.damaged_at is not None:
        raise FileGone()
    return resource, rf, service.download_name(resource, rf, data["n"])
