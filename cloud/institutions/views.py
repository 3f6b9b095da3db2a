"""机构认证 pages: apply, status, invite colleagues; the admins' verification queue."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from cloud.accounts.models import Role
from cloud.errors import DomainError, NotFound, ValidationFailed
from cloud.extensions import db
from cloud.files.serving import send_stored_file
from cloud.institutions import bp, service
from cloud.institutions.forms import ApplyForm, ConfirmForm, DecisionForm
from cloud.institutions.models import Institution
from cloud.regions.service import ancestry


@bp.route("/institution", methods=["GET", "POST"])
@login_required
def mine():
    user = current_user.user
    institution = user.institution
    form = ApplyForm(obj=institution) if request.method == "GET" and institution else ApplyForm()
    if not form.is_submitted():
        return _render_mine(user, form)
    valid = form.validate()
    if "csrf_token" in form.errors:
        return _render_mine(user, form)
    licence = None
    try:
        # Stored even when another field is wrong, so the user need not choose it again.
        licence = service.store_licence(user, form.licence.data)
        licence = licence or service.pending_licence(user, form.licence_token.data)
        if valid:
            with db.session.begin_nested():
                service.apply(user, form.data, licence)
    except DomainError as exc:
        field = getattr(form, exc.details.get("field", ""), None)
        if field is None:
            flash(exc.message, "error")
        else:
            field.errors.append(exc.message)
        if licence is None or exc.details.get("field") == "licence":
            db.session.rollback()
            licence = None
    else:
        if valid:
            db.session.commit()
            flash("机构认证申请已提交，请等待管理员审核", "success")
            return redirect(url_for("institutions.mine"))
    if licence is not None:
        db.session.commit()  # the licence alone, kept for the next submission
        form.licence_token.data = service.pending_licence_token(user, licence)
    return _render_mine(user, form, pending_licence=licence)


def _render_mine(user, form, new_invite=None, pending_licence=None):
    institution = user.institution
    is_manager = institution is not None and user.is_institution_manager
    region_code = form.region_code.data or (institution.region_code if institution else None)
    return render_template(
        "institutions/mine.html",
        user=user,
        institution=institution,
        form=form,
        confirm=ConfirmForm(),
        is_manager=is_manager,
        members=service.members(institution) if institution is not None else [],
        invites=service.live_invites(institution) if is_manager else [],
        new_invite=new_invite,
        pending_licence=pending_licence,
        region_chain=ancestry(region_code),
    )


@bp.post("/institution/invites")
@login_required
def create_invite():
    """Make an invite link and show it this once (only its hash is kept)."""
    user = current_user.user
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("institutions.mine"))
    try:
        token, _ = service.create_invite(user)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("institutions.mine"))
    db.session.commit()
    link = url_for("institutions.join", token=token, _external=True)
    return _render_mine(user, ApplyForm(obj=user.institution), new_invite=link)


def _manage(action, *args, done, returns_callbacks=False):
    """Run a change from the members and invites page, then go back to it."""
    if ConfirmForm().validate_on_submit():
        try:
            result = action(current_user.user, *args)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            for callback in result if returns_callbacks else ():
                callback()
            flash(done, "success")
    return redirect(url_for("institutions.mine"))


@bp.post("/institution/invites/<int:invite_id>/revoke")
@login_required
def revoke_invite(invite_id):
    return _manage(service.revoke_invite, invite_id, done="邀请链接已撤销，已打开该链接的人也无法再加入")


@bp.post("/institution/members/<int:user_id>/remove")
@login_required
def remove_member(user_id):
    return _manage(service.remove_member, user_id, done="已将该成员移出本机构", returns_callbacks=True)


@bp.post("/institution/members/<int:user_id>/manager")
@login_required
def make_manager(user_id):
    return _manage(service.make_manager, user_id, done="已将该成员设为机构管理员")


@bp.post("/institution/leave")
@login_required
def leave():
    return _manage(service.leave, done="您已退出该机构")


@bp.route("/institution/join/<token>", methods=["GET", "POST"])
@login_required
def join(token):
    """GET names the institution and asks; only the confirming POST joins."""
    form = ConfirmForm()
    try:
        invite = service.find_invite(token)
    except DomainError as exc:
        return render_template("institutions/join.html", invite=None, message=exc.message), exc.status
    if form.validate_on_submit():
        try:
            institution = service.join(current_user.user, token)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(f"已加入“{institution.name}”", "success")
            return redirect(url_for("institutions.mine"))
    return render_template("institutions/join.html", invite=invite, form=form, user=current_user.user)


def _require_admin():
    if not current_user.has_role(Role.ADMIN):
        raise NotFound()


@bp.get("/admin/institutions")
@login_required
def verification_queue():
    _require_admin()
    return render_template(
        "institutions/queue.html", institutions=service.verification_queue(), form=DecisionForm()
    )


@bp.post("/admin/institutions/<int:institution_id>/<any(verify, reject):action>")
@login_required
def decide(institution_id, action):
    _require_admin()
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        raise NotFound()
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            # Verifying lets the institution publish to every station: a ticked box, not a stray click.
            if action == "verify" and request.form.get("confirm") != "1":
                raise ValidationFailed(
                    "请先勾选“已核对证明文件与机构信息”再通过认证", details={"field": "confirm"}
                )
            after = service.decide(current_user.user, institution, action == "verify", form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            for callback in after:
                callback()
            flash("已通过认证" if action == "verify" else "已驳回申请", "success")
    return redirect(url_for("institutions.verification_queue"))


@bp.get("/admin/institutions/<int:institution_id>/licence")
@login_required
def licence(institution_id):
    """The private document, for admins only (and never as an inline page: PDFs download)."""
    _require_admin()
    institution = db.session.get(Institution, institution_id)
    if institution is None or institution.licence_file is None:
        raise NotFound()
    stored = institution.licence_file
    inline = stored.content_type in ("image/jpeg", "image/png")
    return send_stored_file(stored, mimetype=stored.content_type, as_attachment=not inline)
