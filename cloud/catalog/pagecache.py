"""The resource-center page (``/resources``) as rendered for anonymous visitors, kept per process.

A visitor who is not logged in and has no session (no cookie: nothing to flash, no CSRF token)
gets the same page for the same query string, so each web process keeps the HTML it rendered
for such visitors, keyed by the query string, for at most ``KEPU_PAGE_CACHE_SECONDS`` (0 turns
it off) and at most ``MAX_PAGES`` pages.

A kept page is only served while the catalog version it was rendered under is still the
database's (``CatalogVersion``, one row read per request): ``bump`` raises it in the very
transaction that publishes, withdraws or re-indexes a resource (``service.note_index_change``),
and again in the worker's transaction once the index has taken the change in (a newly
published resource appears when it is indexed) or download counts were folded into it. So a
withdrawn resource is never served from a kept page once its withdrawal is committed, on any web
node. The time limit bounds what moves without a version change: the download counts shown and
大家都在搜. The search is still logged on every request, kept page or not.
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flask import current_app, request, session
from flask_login import current_user
from sqlalchemy import insert, select, update

from cloud.catalog.models import CatalogVersion
from cloud.extensions import db

MAX_PAGES = 256  # per process (a page is 20-60 kB)
_KEY = "kepu.page_cache"


def bump():
    """Raise the catalog version in the caller's transaction (flushed with it)."""
    raised = db.session.execute(
        update(CatalogVersion).where(CatalogVersion.id == 1).values(version=CatalogVersion.version + 1)
    )
    if raised.rowcount == 0:  # the migration makes the row; a database emptied since has none
        db.session.execute(insert(CatalogVersion).values(id=1, version=1))


def current_version():
    """The database's catalog version (None without its row: then nothing is cached)."""
    return db.session.connection().scalar(_VERSION)


_VERSION = select(CatalogVersion.version).where(CatalogVersion.id == 1)


@dataclass(frozen=True)
class Kept:
    version: int
    until: float
    html: str
    total: int  # for the search log, which counts every request
    indexed: bool


class PageCache:
    def __init__(self, seconds):
        self.seconds = seconds
        self._pages = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, version):
        with self._lock:
            kept = self._pages.get(key)
            if kept is None:
                return None
            if kept.version != version or kept.until <= time.monotonic():
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return kept

    def put(self, key, version, html, total, indexed):
        kept = Kept(version, time.monotonic() + self.seconds, html, total, indexed)
        with self._lock:
            self._pages[key] = kept
            self._pages.move_to_end(key)
            while len(self._pages) > MAX_PAGES:
                self._pages.popitem(last=False)

    def clear(self):
        with self._lock:
            self._pages.clear()


def cache():
    """This process's page cache of the current app, or None when it is turned off."""
    app = current_app._get_current_object()
    found = app.extensions.get(_KEY)
    if found is None:
        seconds = app.config["KEPU_PAGE_CACHE_SECONDS"]
        found = app.extensions.setdefault(_KEY, PageCache(seconds) if seconds > 0 else False)
    return found or None


def anonymous_key():
    """The cache key of this request when its visitor may get a kept page (no session, not
    logged in), else None."""
    if session or current_user.is_authenticated:
        return None
    return request.query_string
