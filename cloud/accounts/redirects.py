"""Where to send a user after login: only ever back to a page of this site."""

from urllib.parse import urlsplit

from flask import url_for

from cloud.accounts.models import Role


def safe_next(target):
    """Return ``target`` if it is a path on this site, else the home page.

    Refuses ``//evil.example``, ``/\\evil.example``, ``https://evil.example``, ``javascript:…``
    and anything with control characters, which browsers may strip into an off-site URL.
    """
    if not isinstance(target, str) or not target or len(target) > 2000:
        return url_for("main.index")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target) or "\\" in target:
        return url_for("main.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("main.index")
    return target


# Where each role's work is, first match wins (an admin who also reviews lands in 管理).
LANDINGS = (
    (Role.ADMIN, "main.admin"),
    (Role.REVIEWER, "review.queue"),
    (Role.STAFF, "stats.dashboard_page"),
    (Role.INSTITUTION, "resources.my_uploads"),
    (Role.STATION_MANAGER, "stations.mine"),
)


def landing_page(user):
    """The page a user starts from after login: 管理, 审核, 使用统计, 我的上传 or 我的e站; stations,
    informants and everyone else 资源中心."""
    for role, endpoint in LANDINGS:
        if user.has_role(role):
            return url_for(endpoint)
    return url_for("catalog.index")


def after_login(user, target):
    """``target`` when the user was on their way somewhere (``safe_next``), else their landing
    page; the home page is no destination of its own (the header's 登录 link carries it)."""
    if not target or target in ("/", url_for("main.index")):
        return landing_page(user)
    return safe_next(target)
