"""The search log (热门搜索 / 无结果搜索 / 大家都在搜), written in batches off the request path.

A search only appends its row (query, result count, user, time) to this process's buffer; the
rows are inserted together, in one statement and a transaction of their own, by a thread of the
process every ``KEPU_SEARCH_LOG_SECONDS`` (sooner once ``KEPU_SEARCH_LOG_BATCH`` rows wait), at
exit, and before this process reads the log (``flush``). As with the download counts folded
into the index every few minutes, the figures the admins read lag by at most that interval;
each row keeps the time of its search. What a process killed outright (SIGKILL, a power cut)
had not written yet is lost: these are counts for curation, not records.

Before this, every search of a typed query inserted its row and committed inside the request:
on SQLite that serialised the searches on the one writer, and on any database it cost about a
tenth of the API's time per request (bench/README.md, the search row).

With ``KEPU_SEARCH_LOG_SECONDS`` 0 (the tests) no thread is started: the buffer is written when
it holds a batch, when the log is read, or at exit.
"""

import atexit
import logging
import os
import threading

from flask import current_app
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from cloud.catalog.models import SearchLog
from cloud.extensions import db
from cloud.models_base import utcnow

_KEY = "kepu.search_log"
#: Rows kept for a later attempt when the database refused a batch (then the oldest are dropped).
MAX_KEPT = 10_000

log = logging.getLogger(__name__)


class SearchLogBuffer:
    """This process's unwritten search-log rows for one app (``buffer()`` gives the app's)."""

    def __init__(self, app):
        self.app = app
        self.seconds = app.config["KEPU_SEARCH_LOG_SECONDS"]
        self.batch = max(1, app.config["KEPU_SEARCH_LOG_BATCH"])
        self._lock = threading.Lock()
        self._rows = []
        self._wake = threading.Event()
        self._thread_pid = None  # the process whose thread runs (a forked worker starts its own)
        atexit.register(self.flush)

    def add(self, query, result_count, user_id=None):
        """Keep one search for the next batch (cheap: no database)."""
        row = {"query": query, "result_count": result_count, "user_id": user_id, "created_at": utcnow()}
        with self._lock:
            self._rows.append(row)
            full = len(self._rows) >= self.batch
            if self.seconds > 0 and self._thread_pid != os.getpid():
                self._start_thread()
        if full:
            if self.seconds > 0:
                self._wake.set()
            else:
                self.flush()

    def pending(self):
        with self._lock:
            return len(self._rows)

    def flush(self):
        """Insert every row kept so far, in one transaction of its own (never the caller's
        session); returns how many. A refused batch is kept for the next attempt and logged."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            try:
                self._insert(rows)
            except IntegrityError:  # a user deleted since their search: keep the search, not the user
                self._insert([{**row, "user_id": None} for row in rows])
        except Exception:
            log.exception("could not write %d search-log row(s); kept for the next batch", len(rows))
            with self._lock:
                self._rows = (rows + self._rows)[-MAX_KEPT:]
            return 0
        return len(rows)

    def _insert(self, rows):
        with self.app.app_context(), db.engine.begin() as connection:
            connection.execute(insert(SearchLog), rows)

    def _start_thread(self):
        """Called with the lock held, once per process."""
        self._thread_pid = os.getpid()
        self._wake = threading.Event()  # a forked child must not share its parent's
        thread = threading.Thread(target=self._run, name="search-log", daemon=True)
        thread.start()

    def _run(self):
        while True:
            self._wake.wait(self.seconds)
            self._wake.clear()
            self.flush()


def buffer(app=None):
    """The search-log buffer of ``app`` (the current app by default), made on first use."""
    app = app or current_app._get_current_object()
    found = app.extensions.get(_KEY)
    if found is None:
        found = app.extensions.setdefault(_KEY, SearchLogBuffer(app))
    return found


def record(query, result_count, user_id=None):
    buffer().add(query, result_count, user_id)


def flush():
    """Write this process's unwritten searches now (before reading the log); returns how many."""
    return buffer().flush()
