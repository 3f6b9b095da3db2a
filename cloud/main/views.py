"""Home page, 资源中心 and 管理."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select

from cloud.accounts.models import Role, User, UserRole
from cloud.console import service as console
from cloud.errors import DomainError, NotFound
from cloud.extensions import db
from cloud.main import bp

RESOURCE_TABS = [
    ("", "全部"),
    ("article", "图文"),
    ("image", "图片"),
    ("video", "视频"),
    ("wallchart", "挂图"),
    ("audio", "音频"),
]


@bp.get("/")
def index():
    return render_template("main/index.html", tabs=RESOURCE_TABS[1:])


def _require_admin():
    if not current_user.has_role(Role.ADMIN):
        raise NotFound()


@bp.get("/admin")
@login_required
def admin():
    from cloud.catalog.service import popular_queries
    from cloud.institutions.service import verification_queue
    from cloud.review.service import queue_stats, reviewer_stats

    _require_admin()
    counts = dict(db.session.execute(select(UserRole.role, func.count()).group_by(UserRole.role)).all())
    rows = [(role.label, counts.get(role.value, 0)) for role in Role]
    total = db.session.scalar(select(func.count()).select_from(User))
    review_count, oldest = queue_stats()
    stats = reviewer_stats()
    reviewers = db.session.scalars(select(User).where(User.id.in_(stats))).all() if stats else []
    return render_template(
        "main/admin.html",
        rows=rows,
        total=total,
        review_count=review_count,
        oldest=oldest,
        verification_count=len(verification_queue()),
        reviewer_rows=[(u, stats[u.id]) for u in reviewers],
        popular=popular_queries(limit=20),
        zero=popular_queries(limit=20, zero_only=True),
        form=FlaskForm(),
    )


@bp.post("/admin/roles")
@login_required
def change_role():
    """Give or take the reviewer or admin role (by phone or username); audited."""
    _require_admin()
    form = FlaskForm()
    if form.validate_on_submit():
        try:
            form_values = (request.form.get(k, "") for k in ("login", "role", "grant"))
            login, role, grant = form_values
            console.change_role_by_login(current_user.user, login, role, grant == "1")
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("角色已更新", "success")
    return redirect(url_for("main.admin"))
