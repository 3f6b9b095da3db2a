"""机构认证 pages: apply, status, invite colleagues; the admins' verification queue."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from cloud.accounts.models import Role
from cloud.errors import DomainError, NotFound
from cloud.extensions import db
from cloud.files.serving import send_stored_file
from cloud.institutions import bp, service
from cloud.institutions.forms import ApplyForm, DecisionForm
from cloud.institutions.models import Institution
from cloud.regions.service import ancestry


@bp.route("/institution", methods=["GET", "POST"])
@login_required
def mine():
    user = current_user.user
    institution = user.institution
    form = ApplyForm(obj=institution) if request.method == "GET" and institution else ApplyForm()
    if form.validate_on_submit():
        try:
            licence = service.store_licence(user, form.licence.data)
            service.apply(user, form.data, licence)
        except DomainError as exc:
            db.session.rollback()
            field = getattr(form, exc.details.get("field", ""), None)
            if field is None:
                flash(exc.message, "error")
            else:
                field.errors.append(exc.message)
        else:
            db.session.commit()
            flash("机构认证申请已提交，请等待管理员审核", "success")
            return redirect(url_for("institutions.mine"))
    invite = None
    if institution is not None and institution.is_verified and user.is_institution_manager:
        invite = url_for("institutions.join", token=service.invite_token(institution), _external=True)
    return render_template(
        "institutions/mine.html",
        user=user,
        institution=institution,
        form=form,
        invite=invite,
        region_chain=ancestry(institution.region_code if institution else None),
    )


@bp.route("/institution/join/<token>", methods=["GET", "POST"])
@login_required
def join(token):
    form = DecisionForm()
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
    return render_template("institutions/join.html", form=form)


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
