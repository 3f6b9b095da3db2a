"""The site's own pages: home, 资源中心 and the admin overview."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from cloud.main import views  # noqa: E402,F401
