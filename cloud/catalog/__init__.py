"""资源中心 (resource center): search, browsing, previews and downloads of published resources."""

from flask import Blueprint

bp = Blueprint("catalog", __name__)

from cloud.catalog import api, views  # noqa: E402,F401

api_bp = api.bp
