"""Home page, 资源中心 and 管理."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select

from cloud.accounts.models import Role, User, UserRole
from cloud.accounts.redirects import safe_next
from cloud.catalog import service as catalog
from cloud.console import service as console
from cloud.errors import DomainError, NotFound
from cloud.extensions import db
from cloud.main import bp
from cloud.notices import service as notices
from cloud.resources.models import CHANNELS

RESOURCE_TABS = [
    ("", "全部"),
    ("article", "图文"),
    ("image", "图片"),
    ("video", "视频"),
    ("wallchart", "挂图"),
    ("audio", "音频"),
]


HOME_LIST_SIZE = 8

# 适老化 display settings: cookie name → the values it may take (the first is the default) and
# the class the <html> element gets for each other value. Read server-side, so a page is drawn
# in the chosen mode from its first paint.
DISPLAY_COOKIES = {
    "kepu_text": {"normal": "", "large": "text-large"},
    "kepu_contrast": {"normal": "", "high": "contrast-high"},
}
DISPLAY_PARAMS = {"text": "kepu_text", "contrast": "kepu_contrast"}
DISPLAY_COOKIE_DAYS = 365


@bp.get("/")
def index():
    newest = catalog.search(catalog.SearchParams(sort="newest"), per_page=HOME_LIST_SIZE)
    most = catalog.search(catalog.SearchParams(sort="downloads"), per_page=HOME_LIST_SIZE)
    return render_template(
        "main/index.html",
        tabs=RESOURCE_TABS[1:],
        channels=CHANNELS,
        newest=[resource for resource, _hit in newest.items],
        most_downloaded=[resource for resource, _hit in most.items],
        notices=notices.board(),
    )


def display_settings(cookies):
    """The display settings a request's cookies choose: {cookie name: value}, unknown values
    read as the default."""
    chosen = {}
    for name, values in DISPLAY_COOKIES.items():
        value = cookies.get(name)
        chosen[name] = value if value in values else next(iter(values))
    return chosen


@bp.get("/display")
def display():
    """Switch 大字模式 or 高对比度 (``?text=large`` / ``?contrast=high``, ``normal`` to switch back)
    and return to ``next``. A plain GET form, so it works without JavaScript and without a session;
    shell.js does the same in place when scripts run."""
    response = redirect(safe_next(request.args.get("next", "")))
    for param, name in DISPLAY_PARAMS.items():
        value = request.args.get(param)
        if value in DISPLAY_COOKIES[name]:
            response.set_cookie(
                name,
                value,
                max_age=DISPLAY_COOKIE_DAYS * 86400,
                samesite="Lax",
                secure=current_app.config["SESSION_COOKIE_SECURE"],
            )
    return response


@bp.app_context_processor
def site_shell():
    """What base.html draws on every page: the display settings and the footer's facts."""
    chosen = display_settings(request.cookies)
    classes = " ".join(DISPLAY_COOKIES[name][value] for name, value in chosen.items()).split()
    config = current_app.config
    return {
        "display": {
            "classes": " ".join(classes),
            "large_text": chosen["kepu_text"] == "large",
            "high_contrast": chosen["kepu_contrast"] == "high",
        },
        "site_footer": {
            "organizer": config["KEPU_ORGANIZER"],
            "contact": config["KEPU_CONTACT"],
            "icp": config["KEPU_ICP_NUMBER"],
        },
    }


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
