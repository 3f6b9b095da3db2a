"""资源中心 pages: search and browse, a detail page per type, previews and downloads."""

import io
import zipfile

from flask import Response, current_app, render_template, request
from flask_login import current_user, login_required

from cloud.catalog import bp, downloads, pagecache, service, unlimited
from cloud.errors import DomainError
from cloud.extensions import db
from cloud.files.service import get_storage
from cloud.files.serving import send_stored_file
from cloud.media.html import article_document
from cloud.resources.models import CHANNELS, KIND_LABELS, Role
from storage import content_disposition

TABS = [("", "全部"), *KIND_LABELS.items()]


@bp.get("/resources")
@unlimited
def index():
    key = pagecache.anonymous_key()
    kept_pages = pagecache.cache() if key is not None else None
    # Read before the search: a page rendered after a change is never kept under an older version.
    version = pagecache.current_version() if kept_pages else None
    error = None
    try:
        params = service.parse_params(request.args)
    except DomainError as exc:
        params, error = service.SearchParams(), exc.message
    if version is not None:
        kept = kept_pages.get(key, version)
        if kept is not None:
            service.log_search(params, kept)
            return kept.html
    page = service.search(params)
    html = render_template(
        "catalog/index.html",
        params=params,
        page=page,
        tabs=TABS,
        channels=CHANNELS,
        sorts=service.SORTS,
        error=error,
        truncated_notice=service.TRUNCATED_NOTICE,
        popular=service.suggested_queries() if not page.total else [],
        urls=service.ListingUrls(),
    )
    if version is not None:
        kept_pages.put(key, version, html, page.total, page.indexed)
    service.log_search(params, page, current_user.user if current_user.is_authenticated else None)
    return html


@bp.get("/resources/<int:resource_id>")
def detail(resource_id):
    resource = service.published(resource_id)
    html = render_template("catalog/detail.html", resource=resource, related=service.related(resource))
    if current_user.is_authenticated:
        service.record_view(current_user.user, resource)  # after rendering, as index() logs searches
    db.session.commit()  # the view, and the sharer's link if the page made one
    return html


@bp.get("/resources/<int:resource_id>/media/<int:file_id>")
def media(resource_id, file_id):
    """Previews, the SD player's video, thumbnails: inline, public for published resources."""
    resource = service.published(resource_id)
    rf = service.preview_file(resource, file_id)
    if rf.role in service.MEMBER_ROLES and not current_user.is_authenticated:
        # The SD video and the listening copy are downloads in all but name: members only.
        return current_app.login_manager.unauthorized()
    return send_stored_file(rf.stored_file, mimetype=rf.mime_type, max_age=3600)


@bp.get("/resources/<int:resource_id>/download/<rendition>")
@login_required
def download(resource_id, rendition):
    resource = service.published(resource_id)
    if rendition == "zip" and resource.kind == "article":
        downloads.check_files(f for f in resource.files if f.role == Role.INLINE_IMAGE)
        return _article_zip(resource)
    return downloads.link(current_user.user, resource, rendition)


@bp.get("/files/<token>")
def signed_file(token):
    """A signed, expiring download link (local storage): streamed with Range, as an attachment."""
    _resource, rf, name = downloads.resolve(token)
    return send_stored_file(rf.stored_file, mimetype=rf.mime_type, as_attachment=True, download_name=name)


def _article_zip(resource):
    """图文 download: the article's HTML and its pictures in one ZIP (built in memory: small)."""
    storage = get_storage()
    buffer = io.BytesIO()
    html = resource.body_html
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, rf in enumerate((f for f in resource.files if f.role == Role.INLINE_IMAGE), 1):
            name = f"images/{number}.jpg"
            archive.writestr(name, b"".join(storage.open(rf.stored_file.key)))
            source_id = rf.facts.get("source_file_id")
            html = html.replace(f"/media/article-images/{source_id}.", f"{name}#")
        archive.writestr("index.html", article_document(resource.title, html))
        archive.writestr("正文.txt", resource.body_text)
    first = resource.files[0] if resource.files else None
    service.record_download(current_user.user, resource, first, "zip")
    db.session.commit()
    response = Response(buffer.getvalue(), mimetype="application/zip")
    response.headers["Content-Disposition"] = content_disposition(f"{resource.title}.zip")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
