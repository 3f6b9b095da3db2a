"""大家都在搜 / 热门搜索 curation: admins hide or block what people typed into 资源中心.

Only searches that found something are ever suggested (``service.popular_queries``); on top of
that an admin may hide a term (never suggested, still counted in the admins' lists) or block it
(left out of every list: an attack string, an insult, an advertisement). Decisions are kept per
query as typed, one row each (``SearchTerm``).
"""

from datetime import timedelta

from sqlalchemy import case, delete, func, select

from cloud.accounts.models import Role
from cloud.catalog import searchlog
from cloud.catalog.models import SearchLog, SearchTerm, SearchTermStatus
from cloud.errors import NotFound, ValidationFailed
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.text import clean_text

ACTIONS = {"hide": SearchTermStatus.HIDDEN, "block": SearchTermStatus.BLOCKED, "allow": None}
QUERY_MAX = 100  # SearchLog.query


def require_admin(user):
    if user is None or not user.has_role(Role.ADMIN):
        raise NotFound()


def decide(admin, query, action):
    """Hide, block or allow again (``action``: hide / block / allow) the query ``query``; flushes.

    Returns the SearchTerm (None after allow). Raises NotFound (not an admin), ValidationFailed.
    """
    require_admin(admin)
    if action not in ACTIONS:
        raise ValidationFailed("未知的操作", details={"field": "action"})
    # Typed text is kept as the search log has it (the page strips it the same way).
    query = clean_text(query or "").strip()[:QUERY_MAX]
    if not query:
        raise ValidationFailed("请填写搜索词", details={"field": "query"})
    status = ACTIONS[action]
    if status is None:
        db.session.execute(delete(SearchTerm).where(SearchTerm.query == query))
        db.session.flush()
        return None
    term = db.session.scalar(select(SearchTerm).where(SearchTerm.query == query))
    if term is None:
        term = SearchTerm(query=query)
        db.session.add(term)
    term.status, term.decided_by_id, term.decided_at = status, admin.id, utcnow()
    db.session.flush()
    return term


def recent_terms(days=30, limit=50):
    """The most searched queries of ``days`` for the admins' page: ``(query, searches, found,
    status)``, ``found`` the searches among them that found something, ``status`` None or the
    decision. Blocked terms are listed too (the page is where they are allowed again)."""
    searchlog.flush()  # this process's searches not written yet
    since = utcnow() - timedelta(days=days)
    found = func.sum(case((SearchLog.result_count > 0, 1), else_=0))
    rows = db.session.execute(
        select(SearchLog.query, func.count(), found)
        .where(SearchLog.created_at > since)
        .group_by(SearchLog.query)
        .order_by(func.count().desc(), SearchLog.query)
        .limit(limit)
    ).all()
    statuses = decisions()
    return [(q, n, int(f or 0), statuses.get(q)) for q, n, f in rows]


def decisions():
    """Every decided query and its SearchTermStatus."""
    rows = db.session.execute(select(SearchTerm.query, SearchTerm.status))
    return {query: SearchTermStatus(status) for query, status in rows}


def decided_terms():
    return db.session.scalars(select(SearchTerm).order_by(SearchTerm.decided_at.desc())).all()
