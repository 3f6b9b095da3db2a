"""管理 → 搜索词: the admins' page that curates 大家都在搜 (see terms.py)."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from cloud.catalog import bp, service, terms
from cloud.catalog.models import SearchTermStatus
from cloud.errors import DomainError
from cloud.extensions import db

DONE = {"hide": "已设为不推荐", "block": "已屏蔽", "allow": "已恢复"}


@bp.get("/admin/search-terms")
@login_required
def search_terms():
    terms.require_admin(current_user.user)
    return render_template(
        "catalog/search_terms.html",
        rows=terms.recent_terms(),
        suggested=service.popular_queries(limit=service.SUGGESTIONS, suggestable=True),
        decided=terms.decided_terms(),
        form=FlaskForm(),
    )


@bp.post("/admin/search-terms")
@login_required
def decide_search_term():
    terms.require_admin(current_user.user)
    if FlaskForm().validate_on_submit():
        action = request.form.get("action", "")
        query = request.form.get("query", "")
        try:
            terms.decide(current_user.user, query, action)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            service.forget_suggestions()
            flash(f"“{query.strip()}”{DONE[action]}", "success")
    return redirect(url_for("catalog.search_terms"))


@bp.app_template_filter("search_term_label")
def search_term_label(value):
    return SearchTermStatus(value).label
