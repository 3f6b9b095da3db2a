"""专家审核: the review queue, claims, decisions; publication and withdrawal; the platform feed."""

from flask import Blueprint

bp = Blueprint("review", __name__)

from cloud.review import api, views  # noqa: E402,F401

api_bp = api.bp
