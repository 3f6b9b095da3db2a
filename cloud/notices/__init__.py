"""公告: short notices the admins post on the home page's notice board."""

from flask import Blueprint

bp = Blueprint("notices", __name__, url_prefix="/admin/notices")

from cloud.notices import views  # noqa: E402,F401
