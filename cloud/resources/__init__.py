"""Resources: the five types, their lifecycle, uploads into the media pipeline, 我的上传."""

from flask import Blueprint

bp = Blueprint("resources", __name__)

from cloud.resources import api, views  # noqa: E402,F401

api_bp = api.bp
