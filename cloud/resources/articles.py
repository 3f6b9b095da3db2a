"""图文 articles: sanitized HTML whose images may only be our own stored images.

Inline images are uploaded one by one while the article is written (``store_inline_image``) and
answered with a signed URL ``/media/article-images/<file id>.<signature>``; the signature binds
the image to the uploader's institution, so an article can only embed its own institution's
images. Saving the article keeps exactly the images its HTML still uses, as ``inline-source``
files; its processing job re-encodes each one (no EXIF, bounded size) into an ``inline-image``
rendition, which is what readers are served.
"""

import hashlib
import hmac
import re

from flask import current_app

from cloud.accounts.models import Role as AccountRole
from cloud.errors import NotFound, ValidationFailed
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.resources.lifecycle import State, is_visible_to_stations
from cloud.resources.models import ResourceFile, Role
from cloud.text import clean_text

BODY_MAX = 200_000
URL_PREFIX = "/media/article-images/"
_TOKEN = re.compile(r"^(\d{1,12})\.([0-9a-f]{20})$")


def _signature(stored_file_id, institution_id):
    key = current_app.config["SECRET_KEY"].encode()
    message = f"article-image:{stored_file_id}:{institution_id}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:20]


def image_url(stored_file_id, institution_id):
    return f"{URL_PREFIX}{stored_file_id}.{_signature(stored_file_id, institution_id)}"


def parse_token(token, institution_id):
    """The StoredFile id in ``token`` if it was signed for ``institution_id``, else None."""
    match = _TOKEN.match(token or "")
    if not match or institution_id is None:
        return None
    if not hmac.compare_digest(match.group(2), _signature(int(match.group(1)), institution_id)):
        return None
    return int(match.group(1))


def apply_article_body(resource, body_html):
    """Sanitize ``body_html`` into the article and keep exactly the inline images it uses.

    Returns the inline files that are no longer used (the caller drops them). Raises
    ValidationFailed for an empty or oversized body.
    """
    from cloud.media.html import extract_text, sanitize_article

    if not isinstance(body_html, str) or not body_html.strip():
        raise ValidationFailed("请填写正文", details={"field": "body_html"})
    body_html = clean_text(body_html, multiline=True)
    if len(body_html) > BODY_MAX:
        raise ValidationFailed("正文过长", details={"field": "body_html"})
    used = []

    def allowed(src):
        if not src.startswith(URL_PREFIX):
            return False
        file_id = parse_token(src[len(URL_PREFIX) :], resource.institution_id)
        if file_id is not None:
            used.append(file_id)
        return file_id is not None

    html = sanitize_article(body_html, allowed)
    text = extract_text(html)
    if not text.strip() and "<img" not in html:
        raise ValidationFailed("正文不能为空", details={"field": "body_html"})
    resource.body_html, resource.body_text = html, text
    current = {f.stored_file_id: f for f in resource.files if f.role == Role.INLINE_SOURCE}
    for file_id in dict.fromkeys(used):
        if file_id not in current:
            stored = db.session.get(StoredFile, file_id)
            if stored is None:
                # Inserted so long ago that the storage sweep removed it, the article unsaved.
                raise ValidationFailed(
                    "正文中有图片已过期被清理，请删除该图片后重新插入", details={"field": "body_html"}
                )
            resource.files.append(
                ResourceFile(role=Role.INLINE_SOURCE, stored_file=stored, mime_type=stored.content_type)
            )
    return [f for fid, f in current.items() if fid not in used]


def inline_sources(resource):
    return [f for f in resource.files if f.role == Role.INLINE_SOURCE]


def find_inline_image(user, token):
    """The file to serve for an article-image URL, or NotFound.

    Once the article is processed: its re-encoded rendition, to anyone who may read the article:
    everyone when it is published, its institution before, and reviewers while it waits for
    their review (the review page shows the article as readers will see it). Before processing
    (the author's own preview while writing): the original, to members of the uploading
    institution only.
    """

    match = _TOKEN.match(token or "")
    if not match:
        raise NotFound()
    file_id = int(match.group(1))
    renditions = db.session.scalars(
        db.select(ResourceFile).where(
            ResourceFile.role == Role.INLINE_IMAGE,
            ResourceFile.facts["source_file_id"].as_integer() == file_id,
        )
    ).all()
    own_institution = user.institution_id if user is not None else None
    for rendition in renditions:
        resource = rendition.resource
        if parse_token(token, resource.institution_id) != file_id:
            continue
        if _may_read(user, resource):
            return rendition.stored_file, rendition.mime_type
    if parse_token(token, own_institution) != file_id:
        raise NotFound()
    stored = db.session.get(StoredFile, file_id)
    if stored is None:
        raise NotFound()
    return stored, stored.content_type


def _may_read(user, resource):
    """Whether ``user`` may see ``resource``'s inline pictures (SECURITY.md item 22 otherwise)."""
    if is_visible_to_stations(resource):
        return True
    if user is None:
        return False
    if user.institution_id is not None and resource.institution_id == user.institution_id:
        return True
    return resource.state == State.PENDING_REVIEW and user.has_role(AccountRole.REVIEWER)
