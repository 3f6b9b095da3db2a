"""Home page, 资源中心 and 管理."""

from flask import render_template, request
from flask_login import current_user, login_required
from sqlalchemy import func, select

from cloud.accounts.models import Role, User, UserRole
from cloud.errors import NotFound
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


@bp.get("/resources")
def resources():
    kind = request.args.get("type", "")
    if kind not in dict(RESOURCE_TABS):
        kind = ""
    query = request.args.get("q", "").strip()[:100]
    return render_template("main/resources.html", tabs=RESOURCE_TABS, kind=kind, query=query)


@bp.get("/admin")
@login_required
def admin():
    if not current_user.has_role(Role.ADMIN):
        raise NotFound()
    counts = dict(db.session.execute(select(UserRole.role, func.count()).group_by(UserRole.role)).all())
    rows = [(role.label, counts.get(role.value, 0)) for role in Role]
    total = db.session.scalar(select(func.count()).select_from(User))
    return render_template("main/admin.html", rows=rows, total=total)
