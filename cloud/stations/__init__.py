"""科普中国e站: the station registry, its county → city workflow, region-scoped 科协 staff,
station accounts and 信息员 teams, activities, the plaque; ``flask stations import``."""

from flask import Blueprint

bp = Blueprint("stations", __name__)

from cloud.stations import api, views  # noqa: E402,F401

api_bp = api.bp
