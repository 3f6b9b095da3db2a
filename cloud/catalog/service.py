"""The resource center: searching, showing and handing out published resources."""

import functools
import re
import time
from collections import namedtuple
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import current_app, url_for
from markupsafe import escape
from sqlalchemy import and_, bindparam, exists, func, or_, select, update

from cloud.catalog import pagecache, searchlog, usage
from cloud.catalog.models import DownloadEvent, PendingIndexUpdate, SearchLog, SearchTerm, SearchTermStatus
from cloud.catalog.tasks import open_index
from cloud.errors import NotFound, ValidationFailed
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.inputs import MAX_ID
from cloud.institutions.models import Institution
from cloud.models_base import utcnow
from cloud.resources.lifecycle import State, is_visible_to_stations
from cloud.resources.models import CHANNELS, KIND_LABELS, Kind, Resource, ResourceFile, Role, split_tags
from cloud.text import clean_text
from search_index import Hit, IndexMissingError
from search_index.analysis import normalize
from search_index.query import MAX_WORDS, query_is_cut, split_words
from search_index.schema import CHINA_TIME

SORTS = {"relevance": "相关度", "newest": "最新", "downloads": "下载最多"}
PER_PAGE = 20
SUGGESTIONS, SUGGESTIONS_SECONDS = 8, 60.0

# What a station can download, per type: rendition name → the file role it is.
DOWNLOADS = {
    Kind.VIDEO: {"sd": Role.SD, "source": Role.SOURCE},
    Kind.WALLCHART: {"source": Role.SOURCE, "print": Role.PRINT},
    Kind.IMAGE: {"source": Role.SOURCE},
    Kind.AUDIO: {"source": Role.SOURCE, "listening": Role.LISTENING},
}
# Renditions shown inline on the published pages (never the source); the players' media only to
# logged-in users.
PREVIEW_ROLES = {Role.THUMBNAIL, Role.PREVIEW, Role.POSTER, Role.SD, Role.LISTENING, Role.INLINE_IMAGE}
MEMBER_ROLES = {Role.SD, Role.LISTENING}


QUERY_MAX_CHARS = 100  # a longer query is cut here, and the search index takes its first MAX_WORDS words
TRUNCATED_NOTICE = f"搜索词过长，只按前 {QUERY_MAX_CHARS} 个字、前 {MAX_WORDS} 个词搜索"


@dataclass
class SearchParams:
    q: str = ""
    kind: str | None = None
    channel: str | None = None
    institution_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    sort: str = "relevance"
    page: int = 1
    truncated: bool = False  # part of what was typed was left out of the search


def parse_params(args):
    """SearchParams from query-string args; unknown values are ignored, bad ones refused.

    Raises ValidationFailed naming the bad parameter (``details["field"]``) with its own message.
    """
    typed = clean_text(args.get("q"))
    params = SearchParams(q=typed[:QUERY_MAX_CHARS].strip())
    params.truncated = len(typed) > QUERY_MAX_CHARS or query_is_cut(params.q)
    if args.get("type") in KIND_LABELS or args.get("kind") in KIND_LABELS:
        params.kind = args.get("type") or args.get("kind")
    if args.get("channel") in CHANNELS:
        params.channel = args.get("channel")
    if args.get("sort") in SORTS:
        params.sort = args["sort"]
    params.page = max(1, min(_int_param(args, "page", "页码须为正整数") or 1, 500))
    params.institution_id = _int_param(args, "institution", "机构编号须为正整数")
    params.date_from = _date_param(args, "from", "开始日期")
    params.date_to = _date_param(args, "to", "结束日期")
    if params.date_from and params.date_to and params.date_from > params.date_to:
        raise ValidationFailed("开始日期不能晚于结束日期", details={"field": "from"})
    return params


_DIGITS = re.compile(r"[0-9]{1,64}")  # longer is no number anyone means (and far past 64 bits)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _int_param(args, name, message):
    value = (args.get(name) or "").strip()
    if not value:
        return None
    if not _DIGITS.fullmatch(value):
        raise ValidationFailed(message, details={"field": name})
    return int(value)


def _date_param(args, name, label):
    value = (args.get(name) or "").strip()
    if not value:
        return None
    message = f"{label}格式有误，请按 2026-01-31 的格式填写"
    if not _DAY.fullmatch(value):
        raise ValidationFailed(message, details={"field": name})
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(message, details={"field": name}) from None


@dataclass
class Page:
    total: int
    items: list  # (Listed, hit)
    page: int
    pages: int
    indexed: bool = True  # False when there was no index to search


def search(params, per_page=PER_PAGE):
    """One page of published resources (as ``Listed``) for ``params`` (``log_search`` records it).

    Hits whose row is no longer published (withdrawn a moment ago, before the worker removed it
    from the index) are dropped, so nothing unpublished is ever shown.
    """
    try:
        results = open_index().search(
            params.q,
            kind=params.kind,
            channel=params.channel,
            institution_id=params.institution_id,
            date_from=params.date_from,
            date_to=params.date_to,
            sort=params.sort,
            page=params.page,
            per_page=per_page,
        )
    except IndexMissingError:  # nothing was ever published, or the index was lost
        return search_database(params, per_page)
    ids = [int(hit.id) for hit in results.hits]
    rows = listed_rows(ids) if ids else {}
    # Rows no longer published (withdrawn since the worker last wrote the index) are left out.
    items = [(rows[int(h.id)], h) for h in results.hits if int(h.id) in rows]
    total = results.total - (len(results.hits) - len(items))
    return Page(total, items, results.page, results.pages)


def search_database(params, per_page=PER_PAGE):
    """``search`` without the index (it was lost, or is being rebuilt): every word in the title,
    summary, text, tags or institution name, read from the database with the same filters.

    Slower, and ``relevance`` is newest first, but stations keep finding what is published until
    ``flask search reindex`` puts the index back. The page says ``indexed=False``.
    """
    words = split_words(params.q)
    if (params.q and not words) or (
        params.institution_id is not None and not 0 < params.institution_id <= MAX_ID
    ):
        return Page(0, [], params.page, 0, indexed=False)  # nothing to look for, or an id no row has
    text = func.lower(
        Resource.title + " " + Resource.summary + " " + Resource.body_text + " " + Resource.tags + " "
        + Institution.name
    )  # fmt: skip
    conditions = [Resource.state == State.APPROVED]
    conditions += [text.contains(normalize(word), autoescape=True) for word in words]
    for column, value in ((Resource.kind, params.kind), (Resource.channel, params.channel),
                          (Resource.institution_id, params.institution_id)):  # fmt: skip
        if value is not None:
            conditions.append(column == value)
    if params.date_from:
        conditions.append(Resource.published_at >= _china_midnight(params.date_from))
    if params.date_to:
        conditions.append(Resource.published_at < _china_midnight(params.date_to + timedelta(days=1)))
    matching = select(Resource.id).join(Institution, Resource.institution_id == Institution.id)
    matching = matching.where(and_(*conditions))
    total = db.session.scalar(select(func.count()).select_from(matching.subquery()))
    order = [Resource.published_at.desc(), Resource.id.desc()]
    if params.sort == "downloads":
        order.insert(0, Resource.download_count.desc())
    ids = list(
        db.session.scalars(matching.order_by(*order).limit(per_page).offset((params.page - 1) * per_page))
    )
    rows = listed_rows(ids) if ids else {}
    items = [
        (rows[i], Hit(i, 0.0, str(escape(rows[i].title)), str(escape(rows[i].summary[:120]))))
        for i in ids
        if i in rows
    ]
    return Page(total, items, params.page, -(-total // per_page), indexed=False)


def _china_midnight(day):
    """The start of ``day`` in China Standard Time, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TIME).astimezone(UTC)


@dataclass(frozen=True)
class Listed:
    """A published resource as search results show it (the page and the API): what
    ``published_json`` and the results template read of a ``Resource``, read without the ORM."""

    id: int
    kind: str
    title: str
    summary: str
    channel: str
    tags: str
    institution_name: str
    published_at: object
    download_count: int
    files: dict  # role -> a row with id, role, mime_type, size and the fact columns

    @property
    def kind_label(self):
        return Kind(self.kind).label

    @property
    def tag_list(self):
        return split_tags(self.tags)

    def file(self, role):
        return self.files.get(role)


class ListingUrls:
    """The detail-page and media URLs of listed resources (the results page, the API), built
    from one ``url_for`` per request: one per link cost about a millisecond of a 20-result page
    (profiled). The paths are ``catalog.detail``'s and ``catalog.media``'s (tests compare them)."""

    def __init__(self):
        self._base = url_for("catalog.index")

    def detail(self, resource_id):
        return f"{self._base}/{resource_id}"

    def media(self, resource_id, file_id):
        return f"{self._base}/{resource_id}/media/{file_id}"


LISTED_ROLES = {Role.THUMBNAIL, *(role for roles in DOWNLOADS.values() for role in roles.values())}
_RESOURCE_COLUMNS = ("id", "kind", "title", "summary", "channel", "tags")
_FILE_COLUMNS = ("id", "role", "mime_type", *ResourceFile.FACT_COLUMNS)
_LISTED_WIDTH = len(_RESOURCE_COLUMNS) + 3  # Listed's fields before ``files``
ListedFile = namedtuple("ListedFile", [*_FILE_COLUMNS, "size"])


@functools.lru_cache(maxsize=128)
def _listed_statement(count):
    """The query of ``listed_rows`` for ``count`` ids, built once per count.

    One query for the resources and their listed files (a row per file, or one row without a
    file): the columns come in the order of Listed's fields, then the state (to leave out what is
    no longer published), then the file's. Plain bound parameters, not expanding ``IN``s: those
    make SQLAlchemy render the SQL text again on every run (profiled: more than running it).
    """
    roles = or_(*(ResourceFile.role == role.value for role in sorted(LISTED_ROLES)))
    files = (
        select(
            ResourceFile.resource_id,
            *(getattr(ResourceFile, name) for name in _FILE_COLUMNS),
            StoredFile.size,
        )
        .join(StoredFile, ResourceFile.stored_file_id == StoredFile.id)
        .where(roles)
        .subquery("listed_file")
    )
    return (
        select(
            *(getattr(Resource, name) for name in _RESOURCE_COLUMNS),
            Institution.name,
            Resource.published_at,
            Resource.download_count,
            Resource.state,
            *(files.c[name] for name in (*_FILE_COLUMNS, "size")),
        )
        .join(Institution, Resource.institution_id == Institution.id)
        .outerjoin(files, files.c.resource_id == Resource.id)
        .where(Resource.id.in_([bindparam(f"id_{number}") for number in range(count)]))
        .order_by(Resource.id, files.c.id)
    )


def listed_rows(ids):
    """``Listed`` for the published resources among ``ids``, in one plain query on the session's
    connection (the ORM adds nothing to plain columns): building 20 ORM rows with their
    institution and files cost a results page several times more (profiled by hand;
    bench/search_bench.py --http shows the page's latency)."""
    found = {}
    statement = _listed_statement(len(ids))
    params = {f"id_{number}": resource_id for number, resource_id in enumerate(ids)}
    for row in db.session.connection().execute(statement, params):
        if not is_visible_to_stations(row):
            continue
        listed = found.get(row.id)
        if listed is None:
            listed = found[row.id] = Listed(*row[:_LISTED_WIDTH], {})
        if row[_LISTED_WIDTH + 1] is not None:  # the file's id: the resource has this file
            rf = ListedFile(*row[_LISTED_WIDTH + 1 :])
            listed.files.setdefault(rf.role, rf)  # the first, like Resource.file()
    return found


def log_search(params, page, user=None):
    """Record a search for the admins' lists (the first page of a typed query, when there was an
    index to search: a missing index is no news about what stations look for). The row is kept
    in this process's buffer and written with the next batch (``searchlog``): no database work
    on the request's path."""
    if params.q and params.page == 1 and page.indexed:
        searchlog.record(params.q, page.total, getattr(user, "id", None))


def related(resource, limit=6):
    """Published resources of the same channel sharing the most tags, newest first."""
    try:
        results = open_index().search("", channel=resource.channel, sort="newest", per_page=limit * 3)
    except IndexMissingError:
        return []
    ids = [int(h.id) for h in results.hits if int(h.id) != resource.id]
    if not ids:
        return []
    rows = db.session.scalars(select(Resource).where(Resource.id.in_(ids))).unique().all()
    tags = set(resource.tag_list)
    rows = [r for r in rows if is_visible_to_stations(r)]
    return sorted(rows, key=lambda r: (-len(tags & set(r.tag_list)), -r.id))[:limit]


def _decided(*statuses):
    """The log row's query is one the admins gave one of ``statuses``."""
    return exists().where(SearchTerm.query == SearchLog.query, SearchTerm.status.in_(list(statuses)))


def popular_queries(days=30, limit=20, zero_only=False, *, suggestable=False):
    """The most searched queries of the last ``days`` (with no result, when ``zero_only``).

    Terms the admins blocked are never listed. ``suggestable``: only what may be offered to
    everyone as 大家都在搜 — searches that found something, and no term the admins hid.
    """
    searchlog.flush()  # this process's searches not written yet
    since = utcnow() - timedelta(days=days)
    stmt = select(SearchLog.query, func.count()).where(SearchLog.created_at > since)
    if zero_only:
        stmt = stmt.where(SearchLog.result_count == 0)
    if suggestable:
        hidden = _decided(SearchTermStatus.BLOCKED, SearchTermStatus.HIDDEN)
        stmt = stmt.where(SearchLog.result_count > 0, ~hidden)
    else:
        stmt = stmt.where(~_decided(SearchTermStatus.BLOCKED))
    stmt = stmt.group_by(SearchLog.query).order_by(func.count().desc(), SearchLog.query).limit(limit)
    return db.session.execute(stmt).all()


def suggested_queries():
    """大家都在搜 for a page that found nothing: ``popular_queries(suggestable=True)`` at most once
    a minute per process (kept on the app), because it counts a month of the search log
    (millions of rows nationally). ``forget_suggestions`` drops it after an admin's decision."""
    cache = current_app.extensions.setdefault("kepu.suggestions", {"until": 0.0, "rows": []})
    now = time.monotonic()
    if now >= cache["until"]:
        # Two threads may both count at the expiry; either result is right.
        cache.update(rows=[tuple(row) for row in popular_queries(limit=SUGGESTIONS, suggestable=True)])
        cache["until"] = now + SUGGESTIONS_SECONDS
    return cache["rows"]


def forget_suggestions():
    """Count the suggestions afresh on the next page (this process; others within a minute)."""
    current_app.extensions.pop("kepu.suggestions", None)


def published(resource_id):
    """The published resource ``resource_id``; NotFound for anything else, whoever asks."""
    resource = db.session.get(Resource, resource_id) if isinstance(resource_id, int) else None
    if resource is None or not is_visible_to_stations(resource):
        raise NotFound("资源不存在或已下架")
    return resource


def preview_file(resource, file_id):
    rf = next((f for f in resource.files if f.id == file_id and f.role in PREVIEW_ROLES), None)
    if rf is None:
        raise NotFound()
    return rf


def download_file(resource, rendition):
    """The file behind a download button. Raises NotFound for a rendition this type lacks."""
    role = DOWNLOADS.get(Kind(resource.kind), {}).get(rendition)
    rf = resource.file(role) if role else None
    if rf is None:
        raise NotFound("没有这种下载文件")
    return rf


def download_name(resource, rf, rendition):
    ext = rf.stored_file.original_name.rsplit(".", 1)[-1] if "." in rf.stored_file.original_name else "bin"
    suffix = {"sd": "（标清）", "print": "（打印版）"}.get(rendition, "")
    if rendition == "print":
        ext = "pdf"
    return f"{resource.title}{suffix}.{ext}"


def record_download(user, resource, rf, rendition):
    """Write the download event; count it unless ``user`` fetched this rendition within the window.

    Returns True when it was counted (the resource's download count went up; the index's
    follows with the next periodic batch of ``fold_download_counts``), False for a repeat,
    which is kept for audit with ``is_counted`` false. Two requests racing in the same instant
    may both count: the window is about reloads and resumed downloads, not a lock.
    """
    window = timedelta(minutes=current_app.config["KEPU_DOWNLOAD_COUNT_WINDOW_MINUTES"])
    now = utcnow()
    repeat = db.session.scalar(
        select(DownloadEvent.id)
        .where(
            DownloadEvent.user_id == user.id,
            DownloadEvent.resource_id == resource.id,
            DownloadEvent.rendition == rendition,
            DownloadEvent.is_counted.is_(True),
            DownloadEvent.created_at > now - window,
        )
        .limit(1)
    )
    counted = repeat is None
    event = DownloadEvent(
        user_id=user.id,
        resource_id=resource.id,
        resource_file_id=rf.id if rf is not None else None,
        rendition=rendition,
        region_code=user.region_code,
        institution_id=user.institution_id,
        created_at=now,
        is_counted=counted,
    )
    db.session.add(event)
    db.session.flush()
    usage.announce("download", user=user, resource=resource, counted=counted, at=now, download_event=event)
    if counted:
        # The count only: the index takes it in with the next batch (``fold_download_counts``),
        # so a download never commits to the index nor makes every web process reopen it.
        db.session.execute(
            update(Resource)
            .where(Resource.id == resource.id)
            .values(download_count=Resource.download_count + 1)
        )
    db.session.flush()
    return counted


def record_view(user, resource):
    """Announce that ``user`` (logged in) opened the detail page of ``resource`` (statistics
    decides what counts). Called after the page is rendered."""
    usage.announce("view", user=user, resource=resource, counted=None, at=utcnow())
    db.session.flush()


def link_seconds():
    return current_app.config["KEPU_DOWNLOAD_URL_SECONDS"]


def note_index_change(resource_id):
    """Record, in the caller's transaction, that the index must take in a change of the resource.

    The caller enqueues ``reindex_later`` after its commit; if that enqueue is lost, the
    recovery sweep (``recover_index_updates``) finds the row and enqueues it again.
    """
    db.session.add(PendingIndexUpdate(resource_id=resource_id))
    pagecache.bump()  # kept resource-center pages go with this commit


def reindex_later(resource_id):
    """Enqueue the index update of a resource (after the commit that noted it; the worker writes)."""
    from cloud.catalog.tasks import index_resource

    index_resource(resource_id)


def all_documents():
    """Every published resource as a search document (for rebuilding the index)."""
    from cloud.catalog.tasks import document
    from cloud.resources.lifecycle import State

    stmt = select(Resource).where(Resource.state == State.APPROVED).order_by(Resource.id)
    for resource in db.session.scalars(stmt).unique():
        yield document(resource)
