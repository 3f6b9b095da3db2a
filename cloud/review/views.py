"""Reviewer pages: 审核 queue and the review page; withdrawal for owners and admins."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from cloud.accounts.models import Role
from cloud.errors import DomainError, NotFound, ValidationFailed
from cloud.extensions import db
from cloud.files.serving import send_stored_file
from cloud.resources.models import CHANNELS, KIND_LABELS, Resource
from cloud.review import bp, service


@bp.get("/review")
@login_required
def queue():
    service.require_queue_access(current_user.user)
    kind = request.args.get("kind") if request.args.get("kind") in KIND_LABELS else None
    channel = request.args.get("channel") if request.args.get("channel") in CHANNELS else None
    count, oldest = service.queue_stats()
    return render_template(
        "review/queue.html",
        resources=service.queue(kind, channel),
        kind=kind,
        channel=channel,
        kinds=KIND_LABELS,
        channels=CHANNELS,
        count=count,
        oldest=oldest,
        me=current_user.user,
    )


@bp.get("/review/<int:resource_id>")
@login_required
def review_page(resource_id):
    resource = service.get_for_review(current_user.user, resource_id)
    return _review_page(resource)


def _review_page(resource, typed=None, status=200):
    """The review page; after a refused decision, with what the reviewer typed still in it."""
    return render_template(
        "review/review.html",
        resource=resource,
        form=FlaskForm(),
        own=resource.institution_id == current_user.user.institution_id,
        can_decide=current_user.user.has_role(Role.REVIEWER),
        decisions=service.decisions_of(resource),
        note_fields=service.NOTE_FIELDS,
        typed=typed or {},
    ), status


@bp.get("/review/<int:resource_id>/files/<int:file_id>")
@login_required
def review_file(resource_id, file_id):
    resource = service.get_for_review(current_user.user, resource_id)
    rf = next((f for f in resource.files if f.id == file_id), None)
    if rf is None:
        raise NotFound()
    return send_stored_file(rf.stored_file, mimetype=rf.mime_type, as_attachment=rf.role == "source")


@bp.post("/review/<int:resource_id>/<any(claim, approve, reject):action>")
@login_required
def decide(resource_id, action):
    reviewer = current_user.user
    resource = service.get_for_review(reviewer, resource_id)
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("review.review_page", resource_id=resource_id))
    try:
        if action == "claim":
            after = service.claim(reviewer, resource)
        elif action == "approve":
            # Publishing reaches every station: a ticked box, so no stray click or Enter does it.
            if request.form.get("confirm") != "1":
                raise ValidationFailed(
                    "请先勾选“我已查看全部文件，确认通过并发布”", details={"field": "confirm"}
                )
            after = service.approve(reviewer, resource, request.form.get("comment", ""))
        else:
            notes = {k: request.form.get(f"note_{k}", "") for k in service.NOTE_FIELDS}
            after = service.reject(reviewer, resource, request.form.get("reason", ""), notes)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        if action == "claim":
            return redirect(url_for("review.review_page", resource_id=resource_id))
        return _review_page(resource, typed=request.form, status=exc.status)
    db.session.commit()
    if after:
        after.run()
    if action == "claim":
        flash("已领取，请在30分钟内完成审核", "success")
        return redirect(url_for("review.review_page", resource_id=resource_id))
    flash("已通过并发布" if action == "approve" else "已退回，并通知了上传者", "success")
    return redirect(url_for("review.queue"))


@bp.post("/resources/<int:resource_id>/withdraw")
@login_required
def withdraw(resource_id):
    resource = db.session.get(Resource, resource_id)
    if resource is None or not FlaskForm().validate_on_submit():
        raise NotFound()
    try:
        after = service.withdraw(current_user.user, resource, request.form.get("reason", ""))
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        after.run()
        flash("资源已撤回", "success")
    return redirect(request.referrer or url_for("main.index"))
