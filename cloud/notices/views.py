"""管理 → 公告: post a notice, hide or show one."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from cloud.accounts.models import Role
from cloud.errors import DomainError, NotFound
from cloud.extensions import db
from cloud.notices import bp, service


def _require_admin():
    if not current_user.has_role(Role.ADMIN):
        raise NotFound()


@bp.get("/")
@login_required
def manage():
    _require_admin()
    return render_template(
        "notices/manage.html",
        notices=service.all_notices(),
        form=FlaskForm(),
        title_max=service.TITLE_MAX,
        body_max=service.BODY_MAX,
        typed={},
    )


@bp.post("/")
@login_required
def post():
    _require_admin()
    form = FlaskForm()
    typed = {"title": request.form.get("title", ""), "body": request.form.get("body", "")}
    if form.validate_on_submit():
        try:
            service.post_notice(current_user.user, typed["title"], typed["body"])
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("公告已发布", "success")
            return redirect(url_for("notices.manage"))
    # What was typed stays in the form after an error.
    return render_template(
        "notices/manage.html",
        notices=service.all_notices(),
        form=form,
        title_max=service.TITLE_MAX,
        body_max=service.BODY_MAX,
        typed=typed,
    ), 422


@bp.post("/<int:notice_id>/visibility")
@login_required
def visibility(notice_id):
    _require_admin()
    if FlaskForm().validate_on_submit():
        hidden = request.form.get("hidden") == "1"
        service.set_hidden(current_user.user, notice_id, hidden)
        db.session.commit()
        flash("公告已隐藏" if hidden else "公告已重新显示", "success")
    return redirect(url_for("notices.manage"))
