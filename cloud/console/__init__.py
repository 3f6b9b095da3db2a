"""管理: the operator's console — accounts, 信息员 import, resources, processing jobs, the audit
log and the institution verification history. Every action is a service call that leaves an
audit entry."""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/admin")

from cloud.console import views  # noqa: E402,F401  (routes register on import)
