"""Usage statistics: usage events and their daily roll-ups, ``flask stats rebuild``, and the
传播量 share links with their public pages, QR codes and 我的传播."""

from flask import Blueprint

bp = Blueprint("stats", __name__)


@bp.record_once
def _count_catalog_use(state):
    from cloud.catalog import usage
    from cloud.stats.service import on_usage

    usage.listen(state.app, on_usage)


from cloud.stats import api, tasks, views  # noqa: E402,F401  (routes and periodic tasks register on import)

api_bp = api.bp
