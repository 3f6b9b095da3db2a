"""Where to send a user after login: only ever back to a page of this site."""

from urllib.parse import urlsplit

from flask import url_for


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
