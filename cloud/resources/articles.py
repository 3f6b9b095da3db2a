"""图文 articles: the body is sanitized HTML whose images may only be our own stored images."""

import re

from cloud.errors import ValidationFailed
from cloud.resources.models import Role

BODY_MAX = 200_000
# Inline images are resource files of the article; the editor inserts their URLs.
_OWN_IMAGE = re.compile(r"^/media/article-images/(\d+)$")


def apply_article_body(resource, body_html):
    """Sanitize ``body_html`` into the article (nh3 allow-list). Raises ValidationFailed."""
    from cloud.media.html import extract_text, sanitize_article

    if not isinstance(body_html, str) or not body_html.strip():
        raise ValidationFailed("请填写正文", details={"field": "body_html"})
    if len(body_html) > BODY_MAX:
        raise ValidationFailed("正文过长", details={"field": "body_html"})
    own_ids = {str(f.id) for f in resource.files if f.role == Role.INLINE_IMAGE}

    def allowed(src):
        match = _OWN_IMAGE.match(src)
        return bool(match) and match.group(1) in own_ids

    resource.body_html = sanitize_article(body_html, allowed)
    resource.body_text = extract_text(resource.body_html)
    if not resource.body_text.strip() and "<img" not in resource.body_html:
        raise ValidationFailed("正文不能为空", details={"field": "body_html"})


def first_inline_image(resource):
    return next((f for f in resource.files if f.role == Role.INLINE_IMAGE), None)
