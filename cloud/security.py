"""What every answer of the site carries, and what every request must be, before any view runs.

* **Trusted hosts.** ``Host`` (or ``X-Forwarded-Host`` behind a trusted proxy) must name this
  service (``KEPU_TRUSTED_HOSTS``): redirects and absolute links are built from it, so an
  attacker's name would otherwise end up in a ``Location`` header or a link in a message.
  Anything else gets a plain 400 (cloud.errors), never a redirect.
* **Security headers** on every response: a strict Content-Security-Policy (the site runs only its
  own vendored scripts and stylesheets, so no ``'unsafe-inline'``: templates carry no inline
  script, event handler or ``style`` attribute), no framing (``frame-ancestors 'none'``, and
  ``X-Frame-Options`` for old browsers: the one-click 加入机构 page must not be clickjacked),
  ``nosniff`` and a referrer policy that sends nothing to other sites (download links carry
  tokens).
* **URL length.** A request line longer than ``KEPU_MAX_URL_BYTES`` is answered by the app (a
  JSON 414 under ``/api/``), not by the web server's HTML page; ``scripts/gunicorn.conf.py`` lets
  such requests through to the app.
"""

from urllib.parse import urlsplit

from flask import request
from werkzeug.exceptions import RequestURITooLarge


def trusted_hosts(setting):
    """``KEPU_TRUSTED_HOSTS`` as Flask's ``TRUSTED_HOSTS``: a list of names, or None for ``*``."""
    names = [name.strip().lower() for name in (setting or "").split(",") if name.strip()]
    if "*" in names:
        return None
    if not names:  # Flask would take an empty list as "any host"
        raise ValueError("KEPU_TRUSTED_HOSTS names no host; use * to accept any")
    return names


def content_security_policy(config):
    """The policy for every page. Images may also be ``data:`` URLs: Pico's stylesheet draws its
    checkboxes and select arrows with them. Media may also be ``blob:`` URLs: the spoken captcha
    is fetched once (it is given only once) and played from memory, so it can be heard again
    (a blob URL can only be made by the page's own scripts). Forms may post to the S3 endpoint's origin when
    downloads are presigned URLs there (a form answered by a redirect is checked against
    ``form-action`` too)."""
    form_action = ["'self'"]
    endpoint = config.get("KEPU_S3_ENDPOINT")
    if config.get("KEPU_STORAGE") == "s3" and endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme in ("http", "https") and parts.netloc:
            form_action.append(f"{parts.scheme}://{parts.netloc}")
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' data:",
        "media-src": "'self' blob:",
        "font-src": "'self'",
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": " ".join(form_action),
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def init_app(app):
    if app.config.get("TRUSTED_HOSTS") is None:
        app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config["KEPU_TRUSTED_HOSTS"])
    headers = {
        "Content-Security-Policy": content_security_policy(app.config),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }
    max_url_bytes = app.config["KEPU_MAX_URL_BYTES"]

    def refuse_long_urls():
        # PATH_INFO is the decoded path as bytes-in-latin-1, QUERY_STRING the raw query.
        environ = request.environ
        if len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", "")) > max_url_bytes:
            raise RequestURITooLarge()

    def add_security_headers(response):
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    # First of all before-request functions: no extension should work on a request refused anyway.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_long_urls)
    app.after_request(add_security_headers)
