"""Login sessions kept on the server, so logout and password changes really end them.

A browser session cookie carries a random token (through Flask-Login); an API client sends one as
``Authorization: Bearer``. Both are rows of ``AuthSession`` holding only the token's SHA-256.
"""

import hashlib
import secrets
from datetime import timedelta

from flask import current_app, request
from flask_login import login_user, logout_user
from flask_login.mixins import UserMixin
from sqlalchemy import select, update

from cloud.accounts.models import AuthSession
from cloud.extensions import db, login_manager
from cloud.models_base import utcnow

WEB = "web"
API = "api"


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


class SessionUser(UserMixin):
    """What Flask-Login holds: the user plus the session it was loaded through."""

    def __init__(self, auth_session, token):
        self._session = auth_session
        self._token = token

    def __getattr__(self, name):
        return getattr(self._session.user, name)

    @property
    def user(self):
        return self._session.user

    @property
    def auth_session(self):
        return self._session

    @property
    def is_active(self):
        return self._session.user.is_active

    def get_id(self):
        return self._token

    def __eq__(self, other):
        return getattr(other, "id", None) == self.user.id

    def __hash__(self):
        return hash(self.user.id)


def open_session(user, kind, lifetime):
    """Create a session row for ``user`` and return its secret token (shown once)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = AuthSession(
        kind=kind,
        token_hash=_digest(token),
        user=user,
        created_at=now,
        expires_at=now + lifetime,
        ip=request.remote_addr if request else None,
        user_agent=(request.user_agent.string[:255] if request else None),
    )
    db.session.add(row)
    user.last_login_at = now
    db.session.flush()
    return token, row


def find_session(token, kind):
    """Return the live session for ``token`` or None (expired, revoked, inactive user)."""
    if not token or len(token) > 200:
        return None
    row = db.session.scalar(
        select(AuthSession).where(AuthSession.token_hash == _digest(token), AuthSession.kind == kind)
    )
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    if not row.user.is_active:
        return None
    return row


def login_web(user):
    """Log ``user`` in on this browser."""
    days = current_app.config["KEPU_SESSION_DAYS"]
    token, row = open_session(user, WEB, timedelta(days=days))
    login_user(SessionUser(row, token))
    return row


def logout_web(session_user):
    """End this browser's session on the server too, so a copied cookie stops working."""
    if session_user is not None and session_user.is_authenticated:
        session_user.auth_session.revoked_at = utcnow()
    logout_user()


def revoke_all(user, *, keep=None):
    """End every session and API token of ``user`` except ``keep`` (after a password change)."""
    stmt = update(AuthSession).where(AuthSession.user_id == user.id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(AuthSession.id != keep.id)
    db.session.execute(stmt.values(revoked_at=utcnow()))


@login_manager.user_loader
def load_user(token):
    row = find_session(token, WEB)
    return SessionUser(row, token) if row else None
