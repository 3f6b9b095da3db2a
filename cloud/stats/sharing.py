"""传播量 share links: a sharer's own link to a published resource, its public page's media, the QR.

The public page is for anyone, without login, so what it may serve is narrowed to one resource
and to the renditions a reader sees (preview, SD video, listening copy, poster, article pictures):
never a source file, never a download.
"""

import io
import re
import secrets

import segno
from sqlalchemy import select

from cloud.errors import NotFound, PermissionDenied
from cloud.extensions import db
from cloud.resources.lifecycle import is_visible_to_stations
from cloud.resources.models import Role
from cloud.stats.models import ShareLink
from cloud.stats.service import dialect_insert, may_share

#: What the public page may serve of the shared resource.
SHARED_ROLES = frozenset({Role.PREVIEW, Role.SD, Role.LISTENING, Role.POSTER, Role.INLINE_IMAGE})
_ARTICLE_IMAGE = re.compile(r"/media/article-images/(\d{1,12})\.[0-9a-f]{20}")


def link_for(user, resource):
    """``user``'s share link to the published ``resource``, made the first time (flushed).

    Raises PermissionDenied for someone who does not share (only informants and station people).
    """
    if not may_share(user):
        raise PermissionDenied("只有科普中国信息员和e站可以分享资源")
    stmt = (
        dialect_insert(ShareLink)
        .values(token=secrets.token_urlsafe(18), user_id=user.id, resource_id=resource.id)
        .on_conflict_do_nothing(index_elements=["user_id", "resource_id"])
    )
    db.session.execute(stmt)  # two first views at once: one row, both read it below
    return db.session.scalars(
        select(ShareLink).where(ShareLink.user_id == user.id, ShareLink.resource_id == resource.id)
    ).one()


def find(token):
    """(link, resource or None) for a share token: None when the resource is no longer published.

    Raises NotFound for a token nobody was given.
    """
    link = (
        db.session.scalars(select(ShareLink).where(ShareLink.token == token)).one_or_none() if token else None
    )
    if link is None:
        raise NotFound("分享链接不存在")
    resource = link.resource
    return link, resource if resource is not None and is_visible_to_stations(resource) else None


def shared_file(resource, file_id):
    """The rendition ``file_id`` of the shared resource, if the public page may show it; NotFound."""
    rf = next((f for f in resource.files if f.id == file_id and f.role in SHARED_ROLES), None)
    if rf is None:
        raise NotFound()
    return rf


def article_html(resource, media_url):
    """The article's HTML with its pictures served through the share link (``media_url(file_id)``)."""
    renditions = {
        str(f.facts.get("source_file_id")): f.id for f in resource.files if f.role == Role.INLINE_IMAGE
    }

    def replace(match):
        file_id = renditions.get(match.group(1))
        return media_url(file_id) if file_id is not None else ""

    return _ARTICLE_IMAGE.sub(replace, resource.body_html or "")


def qr_png(url):
    """A PNG QR code of ``url`` (error correction M, a quiet zone of 4 modules)."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=8, border=4)
    return buffer.getvalue()
