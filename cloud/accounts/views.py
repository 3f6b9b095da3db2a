"""Account pages: 登录, 注册, 找回密码, 我的账号, 退出."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from cloud.accounts import bp, captcha, service
from cloud.accounts.forms import (
    ChangePasswordForm,
    LoginForm,
    LogoutForm,
    RegionForm,
    RegisterForm,
    ResetPasswordForm,
)
from cloud.accounts.models import Role
from cloud.accounts.passwords import PASSWORD_HINT
from cloud.accounts.redirects import after_login
from cloud.accounts.sessions import login_web, logout_web
from cloud.errors import DomainError
from cloud.extensions import db
from cloud.regions.service import ancestry


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        try:
            # Limited inside (per IP and per account, shared with the token endpoint).
            user = service.authenticate(form.login.data, form.password.data, ip=request.remote_addr)
        except service.LoginFailed as exc:
            form.password.errors.append(exc.message)
        else:
            login_web(user)
            db.session.commit()
            return redirect(after_login(user, form.next.data))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout():
    if LogoutForm().validate_on_submit():
        logout_web(current_user)
        db.session.commit()
        flash("您已安全退出", "success")
    return redirect(url_for("main.index"))


def _sms_code_page(form_class, template, handle, **context):
    """Registration and password reset: phone, captcha, SMS code and a password."""
    form = form_class()
    if form.validate_on_submit():
        try:
            result = handle(form)
        except DomainError as exc:
            # The SMS code attempt counts even though the form failed.
            db.session.commit()
            field = getattr(form, exc.details.get("field", ""), None) or form.code
            field.errors.append(exc.message)
        else:
            db.session.commit()
            return result
    form.captcha_id.data = captcha.new_captcha(ip=request.remote_addr)
    form.captcha.data = ""  # typed for the picture the new challenge replaces
    db.session.commit()
    return render_template(template, form=form, password_hint=PASSWORD_HINT, **context)


@bp.route("/register", methods=["GET", "POST"])
def register():
    """机构用户 register here; ``?as=station`` registers an e站管理员, who then applies for the station."""
    as_station = request.args.get("as") == "station"

    def handle(form):
        role = Role.STATION_MANAGER if as_station else Role.INSTITUTION
        user = service.register(form.phone.data, form.code.data, form.password.data, role=role)
        login_web(user)
        if as_station:
            flash("注册成功，请填写e站申报信息", "success")
            return redirect(url_for("stations.apply"))
        return redirect(url_for("accounts.welcome"))

    return _sms_code_page(RegisterForm, "accounts/register.html", handle, as_station=as_station)


@bp.get("/welcome")
@login_required
def welcome():
    """注册成功: what this role does next (机构认证, e站申报 or the resource center)."""
    return render_template("accounts/welcome.html", user=current_user.user)


@bp.route("/reset", methods=["GET", "POST"])
def reset_password():
    def handle(form):
        service.reset_password(form.phone.data, form.code.data, form.password.data)
        flash("密码已重置，请使用新密码登录", "success")
        return redirect(url_for("accounts.login"))

    return _sms_code_page(ResetPasswordForm, "accounts/reset.html", handle)


@bp.route("/", methods=["GET"])
@login_required
def profile():
    user = current_user.user
    return render_template(
        "accounts/profile.html",
        user=user,
        region_chain=ancestry(user.region_code),
        password_form=ChangePasswordForm(),
        region_form=RegionForm(region_code=user.region_code or ""),
    )


@bp.post("/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_password(
                current_user.user,
                form.old_password.data,
                form.password.data,
                keep_session=current_user.auth_session,
            )
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("密码已修改，其他设备上的登录已失效", "success")
    else:
        for errors in form.errors.values():
            flash(errors[0], "error")
    return redirect(url_for("accounts.profile"))


@bp.post("/region")
@login_required
def set_region():
    form = RegionForm()
    if form.validate_on_submit():
        try:
            service.set_region(current_user.user, form.region_code.data)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("地区已保存", "success")
    return redirect(url_for("accounts.profile"))


@bp.app_template_filter("verification_label")
def verification_label(value):
    from cloud.institutions.models import VerificationStatus

    return VerificationStatus(value).label
