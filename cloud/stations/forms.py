"""e站 forms. They check shape only; the rules live in the service."""

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from cloud.accounts.passwords import PASSWORD_HINT
from cloud.stations.models import ACTIVITY_KINDS, CONDITIONS, FACILITY_TYPES, TERMINALS


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ApplicationForm(FlaskForm):
    name = StringField("站点名称", validators=[Length(max=100)], description="例如：某某社区科普中国e站")
    facility_type = SelectField(
        "依托场所类型", choices=[SelectChoice("", "请选择"), *FACILITY_TYPES], validate_choice=False
    )
    region_code = HiddenField("所在区县")
    address = StringField("详细地址", validators=[Length(max=200)])
    manager_name = StringField("管理员姓名", validators=[Length(max=50)])
    manager_phone = StringField("管理员手机号", validators=[Length(max=32)])
    network = TextAreaField(CONDITIONS["network"][0], description=CONDITIONS["network"][1])
    photos_network = MultipleFileField("有网络的照片（可选）")
    staff = TextAreaField(CONDITIONS["staff"][0], description=CONDITIONS["staff"][1])
    photos_staff = MultipleFileField("有人员的照片（可选）")
    venue = TextAreaField(CONDITIONS["venue"][0], description=CONDITIONS["venue"][1])
    photos_venue = MultipleFileField("有场所的照片（可选）")
    activity = TextAreaField(CONDITIONS["activity"][0], description=CONDITIONS["activity"][1])
    photos_activity = MultipleFileField("有活动的照片（可选）")
    terminal = TextAreaField(CONDITIONS["terminal"][0], description=CONDITIONS["terminal"][1])
    photos_terminal = MultipleFileField("有终端的照片（可选）")
    terminals = CheckboxList(
        "终端设备", choices=[SelectChoice(k, label) for k, label in TERMINALS.items()], validate_choice=False
    )
    submit = SubmitField("提交申请")


class DecisionForm(FlaskForm):
    """Any decision button: the action comes from the URL; the fields each action needs are optional."""

    reason = TextAreaField("原因或意见", validators=[Optional(), Length(max=1000)])
    deadline = DateField("整改期限", validators=[Optional()])
    checked_on = DateField("实地核查日期", validators=[Optional()])
    checkers = StringField("核查人员", validators=[Optional(), Length(max=200)])
    notes = TextAreaField("核查情况", validators=[Optional(), Length(max=2000)])
    photos = MultipleFileField("核查照片（可选）")


class StaffForm(FlaskForm):
    region_code = HiddenField("所属地区")
    name = StringField("姓名", validators=[Length(max=100)])
    phone = StringField("手机号", validators=[Length(max=32)])
    username = StringField("用户名（可选）", validators=[Optional(), Length(max=64)])
    password = PasswordField("初始密码", validators=[Length(max=128)], description=PASSWORD_HINT)
    submit = SubmitField("创建工作人员账号")


class AccountForm(FlaskForm):
    username = StringField("用户名", validators=[Length(max=64)], description="3-64位字母、数字、下划线")
    password = PasswordField("初始密码", validators=[Length(max=128)], description=PASSWORD_HINT)
    submit = SubmitField("开设站点账号")


class InformantForm(FlaskForm):
    login = StringField("信息员用户名或手机号", validators=[Length(max=64)])
    submit = SubmitField("加入本站信息员队伍")


class ActivityForm(FlaskForm):
    held_on = DateField("活动日期", validators=[Optional()])
    title = StringField("活动名称", validators=[Length(max=200)])
    kind = SelectField(
        "活动类型", choices=[SelectChoice("", "请选择"), *ACTIVITY_KINDS], validate_choice=False
    )
    place = StringField("活动地点", validators=[Length(max=200)])
    participants = IntegerField("参与人数", validators=[Optional()])
    description = TextAreaField("活动简介（可选）", validators=[Optional(), Length(max=2000)])
    resource_ids = StringField(
        "使用的资源", description="填写资源中心里资源的编号，多个用逗号分隔（在资源页面地址中可以看到编号）"
    )
    photos = MultipleFileField("活动照片（可选）")
    submit = SubmitField("保存活动记录")
