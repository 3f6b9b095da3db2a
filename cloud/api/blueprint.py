"""What every ``/api/v1`` blueprint shares: bearer-token auth and CSRF for cookie callers."""

from flask import Blueprint, g, request
from flask_login import current_user

from cloud.accounts.sessions import API, find_session
from cloud.errors import AuthenticationRequired
from cloud.extensions import csrf

API_PREFIX = "/api/v1"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def api_blueprint(name):
    """A blueprint under ``/api/v1`` whose views can call ``api_user()``."""
    bp = Blueprint(f"{name}_api", __name__, url_prefix=API_PREFIX)
    csrf.exempt(bp)
    bp.before_request(_authenticate)
    return bp


def bearer_token():
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _authenticate():
    g.api_session = None
    token = bearer_token()
    if token is not None:
        g.api_session = find_session(token, API)
        if g.api_session is None:
            raise AuthenticationRequired("令牌无效或已过期")
    elif request.method not in SAFE_METHODS and current_user.is_authenticated:
        # The site's own pages call the API with the session cookie: those calls need the
        # CSRF token like any form, or another site could make them on the user's behalf.
        csrf.protect()


def api_user(required=True):
    """The caller: the bearer token's user, else the logged-in browser user."""
    if g.get("api_session") is not None:
        return g.api_session.user
    if current_user.is_authenticated:
        return current_user.user
    if required:
        raise AuthenticationRequired()
    return None
