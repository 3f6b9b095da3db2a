"""The index on disk: one writer at a time, cached searchers, atomic rebuilds.

Layout of the directory the caller names (``path``)::

    path/current -> index-20250101T120000123456-4242   (relative symlink: the live index)
    path/index-20250101T120000123456-4242/            (a Whoosh index)
    path/write.lock                                    (flock held by the one writer)

A rebuild writes a fresh ``index-*`` directory, points a new symlink at it and renames it over
``current`` (atomic), then removes the old directory. Searchers open the resolved directory, and
Whoosh maps each segment file into memory when it opens it, so a searcher opened before the swap
keeps reading the old files after they are unlinked.
"""

import contextlib
import datetime as dt
import fcntl
import math
import os
import shutil
import threading
import time
from dataclasses import dataclass

from whoosh import index as windex
from whoosh.index import EmptyIndexError, LockError

from search_index import matching
from search_index.query import SNIPPET_CHARS, highlight, patterns_for, split_words
from search_index.schema import SORTS, day_number, document_fields, make_schema

CURRENT = "current"
LOCK_FILE = "write.lock"
MAX_PER_PAGE = 100
MAX_RESULTS = 10_000  # deepest result a page may reach (a page sorts every result up to it)
IDLE_SEARCHERS = 16  # per index and process, one per concurrent search; more are closed after use


class SearchIndexError(Exception):
    """Base of the errors this package raises about the index itself."""


class IndexMissingError(SearchIndexError):
    """There is no index at the path yet (nothing was ever written, or it was deleted)."""


class IndexBusyError(SearchIndexError):
    """Another writer (a thread, the worker, a rebuild) kept the lock past the timeout."""


@dataclass(frozen=True)
class Hit:
    """One result: the caller's id, its relevance score (0.0 when sorted otherwise) and the
    HTML-escaped title and summary snippet with <em> around matches."""

    id: object
    score: float
    title_html: str
    summary_html: str


@dataclass(frozen=True)
class Results:
    """One page of results; ``total`` counts every match, ``pages`` is 0 when there is none."""

    total: int
    hits: list
    page: int
    pages: int
    per_page: int


class IndexWriter:
    """What ``SearchIndex.writer()`` yields: buffers upserts and deletes, applied on commit.

    Buffering lets the last operation on an id win (Whoosh would keep both copies of a document
    updated twice by one writer).
    """

    def __init__(self):
        self._ops = {}

    def upsert(self, doc):
        """Add or replace a resource (a dict, see ``schema.document_fields``).

        Raises ValueError when the dict has no id or title, TypeError for a bad date.
        """
        fields = document_fields(doc)
        self._ops[fields["id"]] = fields

    def delete(self, resource_id):
        """Remove a resource; removing one that is not indexed is not an error."""
        self._ops[str(resource_id)] = None

    def _apply(self, whoosh_writer):
        for key, fields in self._ops.items():
            if fields is None:
                whoosh_writer.delete_by_term("id", key)
            else:
                whoosh_writer.update_document(**fields)


class SearchIndex:
    """The search index kept under ``path`` (created on first write or by ``create()``).

    Cheap to construct: searchers are cached per process and index path, whatever the instance.
    ``lock_timeout`` is how long a writer waits for another one before IndexBusyError.
    """

    def __init__(self, path, *, lock_timeout=30.0):
        self.path = os.path.abspath(os.fspath(path))
        self.lock_timeout = lock_timeout

    def __repr__(self):
        return f"<SearchIndex {self.path}>"

    # -- state ------------------------------------------------------------------------------

    def exists(self):
        """True when a live index is in place."""
        try:
            return windex.exists_in(self._live_dir())
        except IndexMissingError:
            return False

    def create(self):
        """Create an empty index unless one exists (then nothing changes).

        Raises IndexBusyError when another writer holds the lock past the timeout, OSError when the
        directory cannot be written.
        """
        with self._locked():
            if not self.exists():
                self._install(self._new_index_dir())

    def _live_dir(self):
        try:
            name = os.readlink(os.path.join(self.path, CURRENT))
        except (FileNotFoundError, NotADirectoryError):
            raise IndexMissingError(f"no search index at {self.path}") from None
        return os.path.join(self.path, name)

    # -- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, timeout=None):
        """Hold the index's write lock (threads and processes alike): flock on a file of our own,
        polled until the deadline, because Whoosh's lock fails at once and lives inside an index
        directory that a rebuild replaces."""
        timeout = self.lock_timeout if timeout is None else timeout
        os.makedirs(self.path, exist_ok=True)
        fd = os.open(os.path.join(self.path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise IndexBusyError(
                            f"search index {self.path} still locked after {timeout:g}s"
                        ) from None
                    time.sleep(0.02)
            yield deadline
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def writer(self, timeout=None):
        """The one writer: ``with index.writer() as w: w.upsert(doc); w.delete(id)``.

        Waits up to ``timeout`` seconds (default ``lock_timeout``) for any other writer, in this
        process or another; creates the index if there is none. Commits when the block ends, or
        discards everything if it raises. Raises IndexBusyError when the lock is not obtained in
        time, ValueError/TypeError from ``upsert`` for a malformed document.
        """
        with self._locked(timeout) as deadline:
            if not self.exists():
                self._install(self._new_index_dir())
            pending = IndexWriter()
            yield pending
            if not pending._ops:
                return
            ix = windex.open_dir(self._live_dir())
            try:
                whoosh_writer = _whoosh_writer(ix, deadline)
                try:
                    pending._apply(whoosh_writer)
                except BaseException:
                    whoosh_writer.cancel()
                    raise
                whoosh_writer.commit()
            finally:
                ix.close()

    def upsert(self, doc):
        """Add or replace one resource (see ``schema.document_fields`` for the dict).

        Raises ValueError/TypeError for a malformed document, IndexBusyError on lock timeout.
        """
        with self.writer() as w:
            w.upsert(doc)

    def delete(self, resource_id):
        """Remove one resource (no error if it is not indexed). Raises IndexBusyError on lock
        timeout."""
        with self.writer() as w:
            w.delete(resource_id)

    def rebuild(self, docs, *, procs=1, limitmb=512):
        """Index ``docs`` (an iterable of dicts) into a fresh directory and swap it in atomically.

        Searches keep working throughout (on the old index until the swap). Holds the write lock
        for the whole build, so other writers wait (and may time out with IndexBusyError rather
        than write into an index about to be replaced). ``limitmb`` is the memory (per process)
        Whoosh may fill with postings before it spills sorted runs to disk, which nearly halves
        its speed; ``procs`` > 1 forks that many indexing processes (do it from a process without
        threads; documents then get numbers in no fixed order, so equal scores may rank
        differently after another rebuild). Returns the number of documents.
        Raises ValueError for a malformed or duplicate document (the live index is untouched),
        IndexBusyError when the lock is not obtained in time.
        """
        with self._locked():
            new_dir = self._new_index_dir()
            try:
                count = _fill(new_dir, docs, procs, limitmb)
            except BaseException:
                shutil.rmtree(new_dir, ignore_errors=True)
                raise
            self._install(new_dir)
        return count

    def _new_index_dir(self):
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        new_dir = os.path.join(self.path, f"index-{stamp}-{os.getpid()}")
        os.makedirs(new_dir)
        windex.create_in(new_dir, make_schema())
        return new_dir

    def _install(self, new_dir):
        """Point ``current`` at ``new_dir`` atomically, then delete every other index directory
        (old ones, and leftovers of a rebuild that crashed). Called with the lock held."""
        name = os.path.basename(new_dir)
        link = os.path.join(self.path, CURRENT)
        tmp_link = os.path.join(self.path, f".{CURRENT}-{name}")
        os.symlink(name, tmp_link)  # relative, so the folder can move
        os.replace(tmp_link, link)
        _fsync_dir(self.path)
        for entry in os.listdir(self.path):
            if entry.startswith("index-") and entry != name:
                shutil.rmtree(os.path.join(self.path, entry), ignore_errors=True)

    # -- searching --------------------------------------------------------------------------

    def search(
        self,
        query_text,
        *,
        kind=None,
        channel=None,
        institution_id=None,
        region_code=None,
        date_from=None,
        date_to=None,
        sort="relevance",
        page=1,
        per_page=20,
    ):
        """One page of resources matching ``query_text`` and the filters.

        Every query word must occur (AND); a word mixing scripts ("5G手机") and a quoted phrase must
        occur contiguously. Empty ``query_text`` lists everything that passes the filters (and
        "relevance" then means newest first); text with no letter, digit or CJK character matches
        nothing. ``date_from``/``date_to`` (dates, or datetimes: naive means UTC) are inclusive
        calendar days in China Standard Time. A page past the last one has no hits.
        Raises ValueError for an unknown sort, page < 1, per_page outside 1..100 or a page beyond
        the first 10,000 results; TypeError for a date that is not one; IndexMissingError when
        there is no index yet.
        """
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"page must be >= 1 and per_page within 1..{MAX_PER_PAGE}")
        if page * per_page > MAX_RESULTS:
            raise ValueError(f"only the first {MAX_RESULTS} results can be paged through")
        words = split_words(query_text)
        if not words and (query_text or "").strip():
            return Results(total=0, hits=[], page=page, pages=0, per_page=per_page)
        terms_filters = [
            (field, str(value))
            for field, value in (
                ("kind", kind),
                ("channel", channel),
                ("institution_id", institution_id),
                ("region_code", region_code),
            )
            if value is not None and value != ""
        ]
        day_range = None
        if date_from is not None or date_to is not None:
            day_range = tuple(None if day is None else day_number(day) for day in (date_from, date_to))
        patterns = patterns_for(words)
        start, end = (page - 1) * per_page, page * per_page
        pool = _pool(self)
        with pool.searcher() as (searcher, snapshot):
            reader = searcher.reader()
            total, found = matching.find(snapshot, reader, words, terms_filters, day_range, sort, start, end)
            hits = [_hit(searcher.stored_fields(docnum), score, patterns) for docnum, score in found]
        return Results(
            total=total, hits=hits, page=page, pages=math.ceil(total / per_page), per_page=per_page
        )

    def close(self):
        """Close this process's cached searchers of this index (they reopen on the next search)."""
        with _POOLS_LOCK:
            pool = _POOLS.pop(self.path, None)
        if pool is not None:
            pool.close()


def _hit(stored, score, patterns):
    return Hit(
        id=stored["ref"],
        score=float(score),
        title_html=highlight(stored.get("title", ""), patterns),
        summary_html=highlight(stored.get("summary", ""), patterns, SNIPPET_CHARS),
    )


def rebuild(docs, path, *, procs=1, limitmb=512):
    """Rebuild the index at ``path`` from ``docs``; see ``SearchIndex.rebuild`` (same errors)."""
    return SearchIndex(path).rebuild(docs, procs=procs, limitmb=limitmb)


def _fill(new_dir, docs, procs, limitmb):
    ix = windex.open_dir(new_dir)
    seen = set()
    if procs > 1:
        # Whoosh forks ``procs`` writers, each making a segment of its own (no merge afterwards).
        whoosh_writer = ix.writer(procs=procs, multisegment=True, limitmb=limitmb, batchsize=500)
    else:
        whoosh_writer = ix.writer(limitmb=limitmb)
    try:
        for doc in docs:
            fields = document_fields(doc)
            if fields["id"] in seen:
                raise ValueError(f"duplicate resource id {fields['id']!r} in rebuild")
            seen.add(fields["id"])
            whoosh_writer.add_document(**fields)
    except BaseException:
        whoosh_writer.cancel()
        ix.close()
        raise
    whoosh_writer.commit()
    ix.close()
    return len(seen)


def _whoosh_writer(ix, deadline):
    """Whoosh's own writer. Our lock is held, so its lock is free unless some process writes
    without going through this package: retry until our deadline rather than fail at once."""
    while True:
        try:
            return ix.writer()
        except LockError:
            if time.monotonic() >= deadline:
                raise IndexBusyError(f"Whoosh lock of {ix.storage.folder} still held") from None
            time.sleep(0.05)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- searcher cache -----------------------------------------------------------------------------

_POOLS = {}
_POOLS_LOCK = threading.Lock()


def _pool(index):
    with _POOLS_LOCK:
        pool = _POOLS.get(index.path)
        if pool is None:
            pool = _POOLS[index.path] = _SearcherPool(index)
        return pool


class _SearcherPool:
    """Idle searchers of one index in this process. A Whoosh searcher must not serve two threads
    at once (its readers seek shared file objects), so each search borrows one. A borrowed
    searcher is checked first (``up_to_date()``: one directory listing) and replaced by a new one
    when a write committed since or a rebuild moved ``current``. Not ``Searcher.refresh()``: in
    Whoosh 2.7 the refreshed searcher reuses segment readers with their old deletions, so deleted
    documents would still be found (tests/unit/test_search_index.py shows it)."""

    def __init__(self, index):
        self.index = index
        self._lock = threading.Lock()
        self._live = None  # the directory the idle searchers read
        self._idle = []
        self._snapshots = {}

    @contextlib.contextmanager
    def searcher(self):
        """A searcher of the live index and the ``matching.Snapshot`` of the version it reads."""
        live, searcher = self._borrow()
        try:
            yield searcher, self._snapshot(live, searcher)
        finally:
            self._give_back(live, searcher)

    def _borrow(self):
        # A rebuild may delete the directory between reading the link and opening it: try again.
        for _attempt in range(5):
            live = self.index._live_dir()
            with self._lock:
                stale = []
                if live != self._live:
                    stale, self._idle, self._live = self._idle, [], live
                searcher = self._idle.pop() if self._idle else None
            for old in stale:
                old.close()
            try:
                if searcher is not None and not searcher.up_to_date():
                    searcher.close()
                    searcher = None
                if searcher is None:
                    searcher = windex.open_dir(live).searcher()
                return live, searcher
            except (OSError, EmptyIndexError):
                if searcher is not None:
                    searcher.close()
        raise SearchIndexError(f"search index {self.index.path} kept changing while being opened")

    def _give_back(self, live, searcher):
        with self._lock:
            if live == self._live and len(self._idle) < IDLE_SEARCHERS:
                self._idle.append(searcher)
                return
        searcher.close()

    def _snapshot(self, live, searcher):
        """The snapshot of the version ``searcher`` reads (``live``: the directory it was opened
        in, which a rebuild may have replaced since), made once per version."""
        key = (live, searcher.reader().generation())
        with self._lock:
            cached = self._snapshots.get(key)
        if cached is None:
            cached = matching.Snapshot(live, searcher.reader())
            with self._lock:
                # Only the newest version's is worth keeping.
                self._snapshots = {key: self._snapshots.get(key, cached)}
                cached = self._snapshots[key]
        return cached

    def close(self):
        with self._lock:
            self._snapshots = {}
            idle, self._idle, self._live = self._idle, [], None
        for searcher in idle:
            searcher.close()
