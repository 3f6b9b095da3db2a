"""机构认证 form."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from cloud.institutions.models import INSTITUTION_TYPES

REQUIRED = "此项不能为空"


class ApplyForm(FlaskForm):
    name = StringField("机构名称", validators=[DataRequired(REQUIRED), Length(max=200)])
    credit_code = StringField(
        "统一社会信用代码",
        validators=[DataRequired(REQUIRED), Length(max=32)],
        description="18位，可在营业执照上找到",
    )
    kind = SelectField("机构类型", choices=list(INSTITUTION_TYPES))
    region_code = HiddenField("所在地区")
    contact_name = StringField("联系人", validators=[DataRequired(REQUIRED), Length(max=50)])
    contact_phone = StringField("联系人手机号", validators=[DataRequired(REQUIRED), Length(max=32)])
    licence = FileField("营业执照或授权书", description="jpg、png 或 pdf，不超过 20 MB，仅管理员可见")
    # A licence sent with an earlier submission that failed (signed; see pending_licence).
    licence_token = HiddenField()
    submit = SubmitField("提交认证")


class DecisionForm(FlaskForm):
    reason = TextAreaField("不通过原因", validators=[Length(max=500)])


class ConfirmForm(FlaskForm):
    """A button that changes something: only its CSRF token is checked."""
