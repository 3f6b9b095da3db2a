"""Account operations. They flush and return; the request, task or command commits once."""

import logging
import secrets
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from cloud.accounts import captcha, sms, throttle
from cloud.accounts.models import InformantType, Role, User, UserRole
from cloud.accounts.passwords import (
    burn_verify_time,
    hash_password,
    is_password_hash,
    password_problem,
    verify_password,
)
from cloud.accounts.phone import normalize_phone
from cloud.accounts.sessions import revoke_all
from cloud.errors import Conflict, DomainError, ValidationFailed
from cloud.extensions import db
from cloud.media.spreadsheet import TableUnreadable, read_table
from cloud.regions.models import Region
from cloud.text import clean_text

log = logging.getLogger(__name__)

LOGIN_FAILED = "账号或密码错误"
CODE_FAILED = "短信验证码错误或已失效，请重新获取"
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class LoginFailed(DomainError):
    status = 401  # pages show the form again; the API answers 401, with one text for every failure
    code = "login_failed"
    message = LOGIN_FAILED


def find_by_login(login):
    """The active user whose phone (any spelling) or username is ``login``, or None."""
    if not isinstance(login, str) or not login.strip() or len(login) > 64:
        return None
    phone = normalize_phone(login)
    if phone:
        clause = or_(User.phone == phone, User.username == login.strip())
    else:
        clause = User.username == login.strip()
    return db.session.scalar(select(User).where(clause))


def authenticate(login, password, *, ip=None):
    """Return the user for these credentials; raise LoginFailed with the same text otherwise.

    Every attempt counts against the login limits: per account name (``KEPU_LOGIN_ACCOUNT_RATE_LIMIT``,
    counted by the name typed, so a name without an account is limited exactly like one with)
    and per ``ip`` when given (``KEPU_LOGIN_RATE_LIMIT``). The counts live in the database, so the
    login page, the token endpoint and every web process share them; a successful login is
    taken back (its session commit removes it). Raises LoginFailed or RateLimited, the latter
    before any password is checked.
    """
    ticket = throttle.hit(login_account=_login_key(login), login_ip=ip or None)
    user = find_by_login(login)
    if user is None:
        burn_verify_time(password or "")
        raise LoginFailed()
    if not verify_password(user.password_hash, password or "") or not user.is_active:
        raise LoginFailed()
    throttle.forget(ticket)
    return user


def _login_key(login):
    """What the per-account limit counts: the phone in its one spelling, else the name typed."""
    if not isinstance(login, str):
        return ""
    return normalize_phone(login) or login.strip()[:64]


def request_code(phone_raw, purpose, captcha_id, captcha_answer, ip):
    """Check the captcha, then send an SMS code for ``purpose`` (register or reset).

    The answer is the same whether or not the phone has an account: registering a known number
    sends that number a notice instead of a code, resetting an unknown one sends nothing, and
    every one of these is recorded and counted against the same cool-down and caps (a limit
    that only counted what was sent would tell which phones have accounts). Raises
    ValidationFailed, RateLimited or SmsSendFailed. Commit even on failure: the captcha is spent
    by every attempt.
    """
    if purpose not in ("register", "reset"):
        raise ValidationFailed("不支持的验证码用途")
    if not captcha.check_captcha(captcha_id, captcha_answer):
        raise ValidationFailed("图形验证码错误或已过期，请刷新后重试", details={"field": "captcha"})
    phone = normalize_phone(phone_raw)
    if phone is None:
        raise ValidationFailed("请输入正确的手机号码", details={"field": "phone"})
    exists = db.session.scalar(select(User.id).where(User.phone == phone)) is not None
    if purpose == "register" and exists:
        sms.send_notice(phone, purpose, ip, "该手机号已注册，请直接登录；如忘记密码，可使用“找回密码”。")
    elif purpose == "reset" and not exists:
        sms.withhold(phone, purpose, ip)
    else:
        sms.send_code(phone, purpose, ip)


REGISTERING_ROLES = (Role.INSTITUTION, Role.STATION_MANAGER)


def register(phone_raw, code, password, role=Role.INSTITUTION):
    """Create a 机构用户 (or an e站管理员) account after the SMS code checks out.

    Raises ValidationFailed (bad phone, code or password) or Conflict (phone already taken).
    """
    phone = normalize_phone(phone_raw)
    if phone is None:
        raise ValidationFailed("请输入正确的手机号码", details={"field": "phone"})
    problem = password_problem(password)
    if problem:
        raise ValidationFailed(problem, details={"field": "password"})
    if not sms.check_code(phone, "register", code):
        raise ValidationFailed(CODE_FAILED, details={"field": "code"})
    if db.session.scalar(select(User.id).where(User.phone == phone)) is not None:
        raise Conflict("该手机号已注册，请直接登录")
    if role not in REGISTERING_ROLES:
        raise ValidationFailed("不支持注册此类账号")
    user = User(phone=phone, password_hash=hash_password(password))
    user.role_rows.append(UserRole(role=role))
    db.session.add(user)
    db.session.flush()
    log.info("registered user %s", user.id)
    return user


def reset_password(phone_raw, code, new_password):
    """Set a new password after the SMS code checks out, and end every old session."""
    phone = normalize_phone(phone_raw)
    problem = password_problem(new_password)
    if problem:
        raise ValidationFailed(problem, details={"field": "password"})
    if phone is None or not sms.check_code(phone, "reset", code):
        raise ValidationFailed(CODE_FAILED, details={"field": "code"})
    user = db.session.scalar(select(User).where(User.phone == phone))
    if user is None:  # a code is only ever sent to known phones
        raise ValidationFailed(CODE_FAILED, details={"field": "code"})
    user.password_hash = hash_password(new_password)
    revoke_all(user)
    db.session.flush()
    return user


def change_password(user, old_password, new_password, *, keep_session=None):
    """Change the password and end every other session and API token of the user."""
    if not verify_password(user.password_hash, old_password or ""):
        raise ValidationFailed("原密码不正确", details={"field": "old_password"})
    problem = password_problem(new_password)
    if problem:
        raise ValidationFailed(problem, details={"field": "password"})
    user.password_hash = hash_password(new_password)
    revoke_all(user, keep=keep_session)
    db.session.flush()


def set_region(user, region_code):
    """Set the user's region (a county- or township-level code)."""
    if region_code and db.session.get(Region, region_code) is None:
        raise ValidationFailed("请选择有效的地区", details={"field": "region"})
    user.region_code = region_code or None
    db.session.flush()


def create_user(role, *, phone=None, username=None, password, name="", region_code=None):
    """Create an account with one role (CLI and admin). Raises ValidationFailed or Conflict."""
    role = Role(role)
    normalized = normalize_phone(phone) if phone else None
    if phone and normalized is None:
        raise ValidationFailed(f"手机号无效：{phone}")
    if not normalized and not username:
        raise ValidationFailed("手机号和用户名至少填写一个")
    if username:
        _check_username(username)
    problem = password_problem(password)
    if problem:
        raise ValidationFailed(problem)
    if region_code and db.session.get(Region, region_code) is None:
        raise ValidationFailed(f"地区代码不存在：{region_code}")
    # Only the values given are compared: ``User.phone == None`` would be ``phone IS NULL`` and
    # match every other account without a phone.
    clashes = [User.phone == normalized] if normalized else []
    if username:
        clashes.append(User.username == username)
    if db.session.scalar(select(User.id).where(or_(*clashes))) is not None:
        raise Conflict("手机号或用户名已被使用")
    user = User(
        phone=normalized,
        username=username or None,
        name=clean_text(name)[:100],
        password_hash=hash_password(password),
        region_code=region_code,
    )
    user.role_rows.append(UserRole(role=role))
    db.session.add(user)
    db.session.flush()
    return user


def _check_username(username):
    if not 3 <= len(username) <= 64 or not set(username) <= USERNAME_CHARS:
        raise ValidationFailed("用户名须为3-64位字母、数字、下划线、点或短横线")
    if normalize_phone(username) and normalize_phone(username) != username:
        raise ValidationFailed("用户名不能是手机号的其他写法")


DRY_RUN_HASH = "!dry-run"


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)  # (line number, message)


INFORMANT_COLUMNS = ("username", "name", "phone", "region_code", "informant_type")
#: The column names an office writes in Chinese, accepted beside the APP export's English ones.
INFORMANT_HEADERS = {
    "用户名": "username",
    "姓名": "name",
    "手机号": "phone",
    "地区代码": "region_code",
    "信息员类型": "informant_type",
    "初始密码": "password",
    "密码哈希": "password_hash",
}
COLUMN_NAMES = {column: name for name, column in INFORMANT_HEADERS.items()}


def import_informants(data, filename="informants.csv", *, dry_run=False):
    """Create or update informant accounts from a CSV (UTF-8 or GBK/GB18030) or XLSX file's bytes.

    Columns: username, name, phone, region_code, informant_type, and ``password`` (initial
    password) or ``password_hash`` (an argon2 hash from the 科普中国 APP); the Chinese headers of
    ``INFORMANT_HEADERS`` work too. A password is only set when the account is created, so
    importing the same file again changes nothing. Bad rows are reported by the line number Excel
    shows and leave no trace; a file that cannot be read is one error on line 1. ``dry_run``
    checks everything in a savepoint it rolls back, hashing no password: a preview. Never raises
    for bad content.
    """
    report = ImportReport()
    # A preview runs in a savepoint it undoes itself: no caller can commit its unhashed accounts.
    preview = db.session.begin_nested() if dry_run else None
    try:
        header, rows = read_table(data, filename)
        header = [INFORMANT_HEADERS.get(h, h) for h in header]
        missing = [COLUMN_NAMES[c] for c in INFORMANT_COLUMNS if c not in header]
        if missing or not {"password", "password_hash"} & set(header):
            report.errors.append((1, "表头缺少列：" + "、".join(missing or ["初始密码或密码哈希"])))
            return report
        seen = set()
        for row in rows:
            values = {INFORMANT_HEADERS.get(k, k): v for k, v in row.values.items()}
            try:
                # Every check runs before the row writes anything, so a bad row leaves no trace.
                outcome = _import_informant_row(values, seen, dry_run=dry_run)
            except DomainError as exc:
                report.errors.append((row.line, exc.message))
                continue
            setattr(report, outcome, getattr(report, outcome) + 1)
    except TableUnreadable as exc:
        report.errors.append((1, exc.message))
    finally:
        if preview is not None:
            preview.rollback()
    return report


def import_summary(report):
    """What the audit log keeps of an import: the counts, a Chinese sentence, the first errors."""
    return {
        "summary": (
            f"新建 {report.created} 个，更新 {report.updated} 个，未变 {report.unchanged} 个，"
            f"错误 {len(report.errors)} 行"
        ),
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "errors": [[line, message] for line, message in report.errors[:20]],
    }


def _import_informant_row(row, seen, *, dry_run=False):
    values = {k: (row.get(k) or "").strip() for k in (*INFORMANT_COLUMNS, "password", "password_hash")}
    username = values["username"]
    if not username:
        raise ValidationFailed("用户名为空")
    _check_username(username)
    if username in seen:
        raise ValidationFailed(f"用户名在文件中重复：{username}")
    seen.add(username)
    phone = normalize_phone(values["phone"]) if values["phone"] else None
    if values["phone"] and phone is None:
        raise ValidationFailed(f"手机号无效：{values['phone']}")
    if values["informant_type"] not in {t.value for t in InformantType}:
        raise ValidationFailed(f"信息员类型无效：{values['informant_type']}")
    if values["region_code"] and db.session.get(Region, values["region_code"]) is None:
        raise ValidationFailed(f"地区代码不存在：{values['region_code']}")
    fields = {
        "name": clean_text(values["name"])[:100],
        "phone": phone,
        "region_code": values["region_code"] or None,
        "informant_type": values["informant_type"],
    }
    if phone:
        other = db.session.scalar(select(User).where(User.phone == phone, User.username != username))
        if other is not None:
            raise Conflict(f"手机号已被其他账号使用：{values['phone']}")
    user = db.session.scalar(select(User).where(User.username == username))
    if user is not None:
        if not user.has_role(Role.INFORMANT):
            raise Conflict(f"用户名已被非信息员账号使用：{username}")
        changed = {k: v for k, v in fields.items() if getattr(user, k) != v}
        for key, value in changed.items():
            setattr(user, key, value)
        db.session.flush()
        return "updated" if changed else "unchanged"
    if values["password_hash"]:
        if not is_password_hash(values["password_hash"]):
            raise ValidationFailed("密码哈希不是受支持的格式（须为 argon2 哈希）")
        password_hash = values["password_hash"]
    else:
        problem = password_problem(values["password"])
        if problem:
            raise ValidationFailed(problem)
        # A preview is rolled back: hashing (a tenth of a second a row) would only slow it down.
        password_hash = DRY_RUN_HASH if dry_run else hash_password(values["password"])
    user = User(username=username, password_hash=password_hash, **fields)
    user.role_rows.append(UserRole(role=Role.INFORMANT))
    db.session.add(user)
    db.session.flush()
    return "created"


ASSIGNABLE_ROLES = (Role.REVIEWER, Role.ADMIN)


def change_role(admin, user, role, grant):
    """Grant or remove ``role`` (reviewer or admin) of ``user``; return whether anything changed.

    Raises ValidationFailed (another role, or an admin removing their own admin role).
    """
    if role not in ASSIGNABLE_ROLES:
        raise ValidationFailed("只能分配审核专家或管理员角色", details={"field": "role"})
    if not grant and user.id == admin.id and role == Role.ADMIN:
        raise ValidationFailed("不能取消自己的管理员角色")
    has = user.has_role(role)
    if grant and not has:
        user.role_rows.append(UserRole(role=role))
    elif not grant and has:
        if len(user.role_rows) == 1:
            raise ValidationFailed("账号至少要保留一个角色")
        user.role_rows = [r for r in user.role_rows if r.role != role]
    db.session.flush()
    return grant != has


def set_active(admin, user, active):
    """Disable or enable an account; disabling ends every session and API token at once.

    Returns whether anything changed. Raises ValidationFailed (an admin disabling themselves).
    """
    if not active and user.id == admin.id:
        raise ValidationFailed("不能停用自己的账号")
    changed = user.is_active != bool(active)
    user.is_active = bool(active)
    if not active:
        revoke_all(user)
    db.session.flush()
    return changed


TEMPORARY_PASSWORD_CHARS = "ABCDEFGHJKMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789"


def reset_password_by_admin(user):
    """Give ``user`` a new random password, end their sessions and send it to their phone by SMS.

    The password is never stored or returned: only the user's phone gets it. The phone's SMS
    limits apply; the per-IP cap does not (it guards against strangers, and an operator helping
    thirty callers in an hour is not one). Raises ValidationFailed (no phone), RateLimited,
    SmsSendFailed.
    """
    if not user.phone:
        raise ValidationFailed("该账号没有登记手机号，无法通过短信发送新密码")
    # Letters and digits that cannot be misread on a phone screen (no 0/O, 1/l/I).
    password = "".join(secrets.choice(TEMPORARY_PASSWORD_CHARS) for _ in range(10))
    user.password_hash = hash_password(password)
    revoke_all(user)
    sms.send_notice(
        user.phone,
        "admin_reset",
        None,
        f"管理员已为您重置科普资源云的登录密码，新密码为{password}，请登录后在“我的账号”中尽快修改。",
    )
    db.session.flush()


def sweep():
    """Delete expired captchas and the rate-limit counts no limit looks at any more.

    Returns ``(captchas, hits)`` deleted; the caller commits. New captchas and login attempts
    purge as they go; this catches what is left when nobody comes back.
    """
    return captcha.purge_expired(), throttle.purge()
