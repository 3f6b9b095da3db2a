"""Accounts: registration by phone, login, sessions, password reset, informant import, roles."""

from flask import Blueprint

bp = Blueprint("accounts", __name__, url_prefix="/account")

from cloud.accounts import api, tasks, views  # noqa: E402,F401  (routes and tasks register on import)

api_bp = api.bp
