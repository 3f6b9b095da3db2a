"""Institutions (机构用户) and 机构认证: only members of verified institutions upload."""

from flask import Blueprint

bp = Blueprint("institutions", __name__)

from cloud.institutions import api, views  # noqa: E402,F401

api_bp = api.bp
