"""资源中心 (resource center): search, browsing, previews and downloads of published resources."""

from flask import Blueprint

bp = Blueprint("catalog", __name__)


@bp.record_once
def _size_search_cache(state):
    from search_index import postings

    postings.CACHE.resize(state.app.config["KEPU_SEARCH_CACHE_MB"] * 1024 * 1024)


from cloud.catalog import api, terms_views, views  # noqa: E402,F401

api_bp = api.bp
