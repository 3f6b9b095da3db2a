"""资源中心 (resource center): search, browsing, previews and downloads of published resources."""

from flask import Blueprint, current_app, request

from cloud.extensions import limiter

bp = Blueprint("catalog", __name__)
_UNLIMITED = set()  # qualified names of views no rate limit applies to


def unlimited(view):
    """Mark a view no rate limit applies to (the search API, the results page). The limiter
    then skips its requests without resolving their limits first, which flask-limiter does even
    for an exempt view (profiled: a twentieth of a search request)."""
    _UNLIMITED.add(f"{view.__module__}.{view.__qualname__}")
    return limiter.exempt(view)


@limiter.request_filter
def _skip_unlimited():
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and f"{view.__module__}.{view.__qualname__}" in _UNLIMITED


@bp.record_once
def _size_search_cache(state):
    from search_index import postings

    postings.CACHE.resize(state.app.config["KEPU_SEARCH_CACHE_MB"] * 1024 * 1024)


from cloud.catalog import api, terms_views, views  # noqa: E402,F401

api_bp = api.bp
