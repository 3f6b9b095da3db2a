"""Account forms. Field checks here are about shape; the rules live in the service."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from cloud.accounts.passwords import PASSWORD_HINT

REQUIRED = "此项不能为空"


class LoginForm(FlaskForm):
    login = StringField("手机号/用户名", validators=[DataRequired(REQUIRED), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired(REQUIRED), Length(max=128)])
    next = HiddenField()
    submit = SubmitField("登录")


class SmsCodeForm(FlaskForm):
    """Phone + captcha + SMS code + new password: registration and password reset share it."""

    phone = StringField("手机号", validators=[DataRequired(REQUIRED), Length(max=32)])
    captcha_id = HiddenField()
    captcha = StringField("图形验证码", validators=[Length(max=16)])
    code = StringField("短信验证码", validators=[DataRequired(REQUIRED), Length(max=16)])
    password = PasswordField(
        "密码", validators=[DataRequired(REQUIRED), Length(max=128)], description=PASSWORD_HINT
    )
    password2 = PasswordField(
        "确认密码", validators=[DataRequired(REQUIRED), EqualTo("password", message="两次输入的密码不一致")]
    )


class RegisterForm(SmsCodeForm):
    submit = SubmitField("立即注册")


class ResetPasswordForm(SmsCodeForm):
    password = PasswordField(
        "新密码", validators=[DataRequired(REQUIRED), Length(max=128)], description=PASSWORD_HINT
    )
    submit = SubmitField("重置密码")


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField("原密码", validators=[DataRequired(REQUIRED), Length(max=128)])
    password = PasswordField(
        "新密码", validators=[DataRequired(REQUIRED), Length(max=128)], description=PASSWORD_HINT
    )
    password2 = PasswordField(
        "确认新密码", validators=[DataRequired(REQUIRED), EqualTo("password", message="两次输入的密码不一致")]
    )
    submit = SubmitField("修改密码")


class RegionForm(FlaskForm):
    region_code = HiddenField("所在地区")
    submit = SubmitField("保存地区")


class LogoutForm(FlaskForm):
    submit = SubmitField("退出登录")
