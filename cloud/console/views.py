"""Console pages under 管理 (/admin/…): thin views over ``cloud.console.service``."""

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from cloud.accounts.models import ROLE_LABELS, InformantType
from cloud.accounts.service import ASSIGNABLE_ROLES, INFORMANT_HEADERS
from cloud.audit import service as audit
from cloud.console import bp, service
from cloud.errors import DomainError, ValidationFailed
from cloud.extensions import db
from cloud.regions.service import ancestry, full_name
from cloud.resources.lifecycle import STATE_LABELS
from cloud.resources.models import KIND_LABELS
from cloud.resources.service import AfterCommit

IMPORT_KEY = "informant_import"


def _admin():
    user = current_user.user
    service.require_admin(user)
    return user


def _page_number():
    value = request.args.get("page", "1")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 6 else 1


def _act(action, done, back):
    """Run one console action from a POSTed form: commit and run its after-commit work, or roll
    back and show the Chinese reason; then go back to ``back``."""
    if not FlaskForm().validate_on_submit():
        flash("页面已过期，请刷新后重试", "error")
        return redirect(back)
    try:
        after = action()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    db.session.commit()
    if isinstance(after, AfterCommit):
        after.run()
    flash(done, "success")
    return redirect(back)


@bp.app_template_filter("region_name")
def region_name(code):
    return full_name(code) if code else ""


# -- accounts ------------------------------------------------------------------------------


@bp.get("/users")
@login_required
def users():
    admin = _admin()
    filters = {k: request.args.get(k, "") for k in ("q", "role", "region", "status")}
    error = None
    try:
        result = service.find_users(admin, page=_page_number(), **filters)
    except ValidationFailed as exc:
        error, result = exc.message, service.Page([], 0, 1, 1)
    return render_template(
        "console/users.html",
        result=result,
        filters=filters,
        error=error,
        roles=ROLE_LABELS,
        region_chain=ancestry(filters["region"]) if filters["region"] else [],
    )


@bp.get("/users/<int:user_id>")
@login_required
def user_detail(user_id):
    user = service.get_user(_admin(), user_id)
    return render_template(
        "console/user.html",
        user=user,
        form=FlaskForm(),
        assignable=[(r, ROLE_LABELS[r]) for r in ASSIGNABLE_ROLES],
        region_chain=ancestry(user.region_code) if user.region_code else [],
        history=audit.history("user", user.id),
        actions=audit.ACTIONS,
    )


@bp.post("/users/<int:user_id>/<any(disable, enable, 'reset-password', role, region):action>")
@login_required
def user_action(user_id, action):
    admin = _admin()
    back = url_for("console.user_detail", user_id=user_id)
    form = request.form
    if action in ("disable", "enable"):
        return _act(
            lambda: service.set_user_active(admin, user_id, action == "enable"),
            "账号已启用" if action == "enable" else "账号已停用，已登录的会话全部失效",
            back,
        )
    if action == "reset-password":
        return _act(
            lambda: service.reset_user_password(admin, user_id),
            "密码已重置，新密码已通过短信发给用户",
            back,
        )
    if action == "role":
        return _act(
            lambda: service.change_user_role(admin, user_id, form.get("role", ""), form.get("grant") == "1"),
            "角色已更新",
            back,
        )
    return _act(
        lambda: service.change_user_region(admin, user_id, form.get("region_code", "")),
        "地区已更新",
        back,
    )


# -- 信息员 import --------------------------------------------------------------------------


@bp.route("/informants/import", methods=["GET", "POST"])
@login_required
def informant_import():
    admin = _admin()
    form = FlaskForm()
    report = error = filename = None
    if request.method == "POST" and form.validate_on_submit():
        upload = request.files.get("file")
        filename = upload.filename if upload else ""
        try:
            report, stored = service.preview_informant_import(
                admin, upload.read() if upload else b"", filename
            )
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
        else:
            db.session.commit()
            if stored is not None:
                session[IMPORT_KEY] = stored.id
            else:
                session.pop(IMPORT_KEY, None)
    return render_template(
        "console/import.html",
        form=form,
        report=report,
        error=error,
        filename=filename,
        headers=INFORMANT_HEADERS,
        informant_types=[t.value for t in InformantType],
    )


@bp.post("/informants/import/confirm")
@login_required
def informant_import_confirm():
    admin = _admin()
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("console.informant_import"))
    try:
        report, after = service.import_informants(admin, session.get(IMPORT_KEY))
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("console.informant_import"))
    db.session.commit()
    session.pop(IMPORT_KEY, None)
    after.run()
    return render_template("console/import_done.html", report=report)


# -- resources -----------------------------------------------------------------------------


@bp.get("/resources")
@login_required
def resources():
    admin = _admin()
    filters = {k: request.args.get(k, "") for k in ("q", "state", "kind")}
    error = None
    try:
        result = service.find_resources(admin, page=_page_number(), **filters)
    except ValidationFailed as exc:
        error, result = exc.message, service.Page([], 0, 1, 1)
    return render_template(
        "console/resources.html",
        result=result,
        filters=filters,
        error=error,
        states=STATE_LABELS,
        kinds=KIND_LABELS,
    )


@bp.get("/resources/<int:resource_id>")
@login_required
def resource_detail(resource_id):
    resource = service.get_resource(_admin(), resource_id)
    return render_template(
        "console/resource.html",
        resource=resource,
        form=FlaskForm(),
        can_reprocess=service.can_reprocess(resource),
        history=audit.history("resource", resource.id),
        actions=audit.ACTIONS,
        job_labels=service.JOB_LABELS,
    )


@bp.post("/resources/<int:resource_id>/<any(withdraw, reprocess, reindex):action>")
@login_required
def resource_action(resource_id, action):
    admin = _admin()
    back = url_for("console.resource_detail", resource_id=resource_id)
    if action == "withdraw":
        reason = request.form.get("reason", "")
        return _act(lambda: service.withdraw_resource(admin, resource_id, reason), "资源已撤回", back)
    if action == "reprocess":
        return _act(lambda: service.reprocess_resource(admin, resource_id), "已重新开始处理", back)
    return _act(lambda: service.reindex_resource(admin, resource_id), "已提交索引重建", back)


# -- processing jobs -----------------------------------------------------------------------


@bp.get("/jobs")
@login_required
def jobs():
    admin = _admin()
    status = request.args.get("status", "")
    error = None
    try:
        result = service.find_jobs(admin, status=status, page=_page_number())
    except ValidationFailed as exc:
        error, result = exc.message, service.Page([], 0, 1, 1)
    return render_template(
        "console/jobs.html",
        result=result,
        status=status,
        error=error,
        statuses=service.JOB_STATUSES,
        job_labels=service.JOB_LABELS,
        counts=service.job_counts(admin),
        form=FlaskForm(),
    )


@bp.post("/jobs/<int:job_id>/retry")
@login_required
def job_retry(job_id):
    admin = _admin()
    back = request.form.get("back") or url_for("console.jobs")
    if not back.startswith("/admin/"):
        back = url_for("console.jobs")
    return _act(lambda: service.retry_job(admin, job_id), "任务已重新排队", back)


# -- the audit log and the verification history --------------------------------------------


@bp.get("/audit")
@login_required
def audit_log():
    admin = _admin()
    names = ("actor", "action", "object_type", "object_id", "since", "until")
    filters = {k: request.args.get(k, "") for k in names}
    error = None
    try:
        result = service.audit_log(admin, page=_page_number(), **filters)
    except ValidationFailed as exc:
        error, result = exc.message, audit.Page([], 0, 1, 1)
    return render_template(
        "console/audit.html",
        result=result,
        filters=filters,
        error=error,
        actions=audit.ACTIONS,
        object_types=audit.OBJECT_TYPES,
    )


@bp.get("/institutions/history")
@login_required
def institution_history():
    result, institutions = service.institution_history(_admin(), page=_page_number())
    return render_template(
        "console/institution_history.html",
        result=result,
        institutions=institutions,
        actions=audit.ACTIONS,
    )
