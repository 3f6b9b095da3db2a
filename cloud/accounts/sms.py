"""SMS: pluggable senders and the verification-code rules.

Senders are chosen by ``KEPU_SMS_BACKEND``:

* ``console`` (development default) writes the message to the log;
* ``outbox`` appends one JSON line per message to ``KEPU_SMS_OUTBOX`` (tests read codes there);
* a real provider: write a class with ``send(phone, text)`` that raises ``SmsSendFailed`` on error
  (e.g. around the provider's SDK for 阿里云短信 or 腾讯云短信), and add it to ``SENDERS``.

Codes are 6 digits, stored only as a keyed hash, expire after ``KEPU_SMS_CODE_TTL`` seconds, are
single use, bound to phone and purpose, and die after 5 wrong tries. Sending is refused (HTTP 429,
nothing sent) within the resend cool-down, above the per-phone daily cap and the per-IP hourly cap.
The counts live in the database, so the limits hold across every web process, and they count
requests that were answered without sending (``withhold``) like those that sent.
"""

import hashlib
import hmac
import json
import logging
import os
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from cloud.accounts.models import SmsMessage, mask_phone
from cloud.errors import DomainError, RateLimited
from cloud.extensions import db
from cloud.models_base import utcnow

log = logging.getLogger(__name__)

PURPOSES = {"register": "注册", "reset": "找回密码", "login": "登录"}


class SmsSendFailed(DomainError):
    status = 502
    code = "sms_failed"
    message = "短信发送失败，请稍后再试"


class ConsoleSender:
    """Writes messages to the log: for development on one machine."""

    def send(self, phone, text):
        log.warning("SMS to %s: %s", phone, text)


class OutboxSender:
    """Appends each message as a JSON line to a file: for tests and staging."""

    def __init__(self, path):
        self.path = path

    def send(self, phone, text):
        line = json.dumps({"phone": phone, "text": text, "at": utcnow().isoformat()}, ensure_ascii=False)
        # O_APPEND keeps lines whole when several processes write at once.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


SENDERS = {
    "console": lambda cfg: ConsoleSender(),
    "outbox": lambda cfg: OutboxSender(cfg["KEPU_SMS_OUTBOX"]),
}


def sender():
    backend = current_app.config["KEPU_SMS_BACKEND"]
    try:
        return SENDERS[backend](current_app.config)
    except KeyError:
        raise RuntimeError(f"unknown KEPU_SMS_BACKEND {backend!r}") from None


def _code_hash(phone, purpose, code):
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}:{purpose}:{code}".encode(), hashlib.sha256).hexdigest()


def check_send_limits(phone, ip):
    """Raise RateLimited if another SMS to ``phone`` from ``ip`` would break a limit."""
    cfg = current_app.config
    now = utcnow()
    last = db.session.scalar(select(func.max(SmsMessage.created_at)).where(SmsMessage.phone == phone))
    if last is not None:
        # SQLite hands back naive values from aggregate functions.
        last = last if last.tzinfo else last.replace(tzinfo=now.tzinfo)
        wait = cfg["KEPU_SMS_RESEND_SECONDS"] - (now - last).total_seconds()
        if wait > 0:
            raise RateLimited(
                f"发送过于频繁，请{int(wait) + 1}秒后再试", details={"retry_after": int(wait) + 1}
            )
    sent_today = db.session.scalar(
        select(func.count()).where(SmsMessage.phone == phone, SmsMessage.created_at > now - timedelta(days=1))
    )
    if sent_today >= cfg["KEPU_SMS_DAILY_CAP"]:
        raise RateLimited("该手机号今日获取验证码次数已达上限，请明天再试")
    if ip:
        sent_from_ip = db.session.scalar(
            select(func.count()).where(SmsMessage.ip == ip, SmsMessage.created_at > now - timedelta(hours=1))
        )
        if sent_from_ip >= cfg["KEPU_SMS_IP_HOURLY_CAP"]:
            raise RateLimited("获取验证码过于频繁，请稍后再试")


def send_code(phone, purpose, ip):
    """Send a new code for ``purpose`` to ``phone``. Raises RateLimited or SmsSendFailed."""
    check_send_limits(phone, ip)
    code = f"{secrets.randbelow(10**6):06d}"
    ttl = current_app.config["KEPU_SMS_CODE_TTL"]
    _record(phone, purpose, ip, _code_hash(phone, purpose, code), ttl)
    _deliver(
        phone,
        f"【科普资源云】验证码{code}，用于{PURPOSES[purpose]}，{ttl // 60}分钟内有效。"
        "如非本人操作，请忽略本短信。",
    )


def send_notice(phone, purpose, ip, text):
    """Send a message without a code (counted against the same limits)."""
    check_send_limits(phone, ip)
    _record(phone, purpose, ip, None, 0)
    _deliver(phone, f"【科普资源云】{text}")


def withhold(phone, purpose, ip):
    """Send nothing, but count the request exactly as if a message had gone out.

    For a request whose honest answer would reveal whether ``phone`` has an account (a reset for
    an unknown phone): the cool-down and caps must then bite as they do for a known one.
    Raises RateLimited.
    """
    check_send_limits(phone, ip)
    _record(phone, purpose, ip, None, 0, is_sent=False)


def _record(phone, purpose, ip, code_hash, ttl, *, is_sent=True):
    now = utcnow()
    db.session.add(
        SmsMessage(
            phone=phone,
            purpose=purpose,
            code_hash=code_hash,
            ip=ip,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl),
            is_sent=is_sent,
        )
    )
    db.session.flush()


def _deliver(phone, text):
    try:
        sender().send(phone, text)
    except SmsSendFailed:
        raise
    except OSError as exc:
        log.error("SMS to %s failed: %s", mask_phone(phone), exc)
        raise SmsSendFailed() from exc


def check_code(phone, purpose, code):
    """Say whether ``code`` is the live code for ``phone`` and ``purpose``, and use it up if so.

    A wrong code counts an attempt on the newest live code; after 5 the code is dead. The caller
    must commit even when this returns False, or the attempt is not counted.
    """
    row = db.session.scalar(
        select(SmsMessage)
        .where(
            SmsMessage.phone == phone,
            SmsMessage.purpose == purpose,
            SmsMessage.code_hash.is_not(None),
        )
        .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
        .limit(1)
    )
    max_attempts = current_app.config["KEPU_SMS_MAX_ATTEMPTS"]
    if row is None or row.used_at is not None or row.expires_at <= utcnow() or row.attempts >= max_attempts:
        return False
    given = code.strip() if isinstance(code, str) else ""
    well_formed = len(given) == 6 and given.isascii() and given.isdigit()
    if well_formed and hmac.compare_digest(row.code_hash, _code_hash(phone, purpose, given)):
        row.used_at = utcnow()
        db.session.flush()
        return True
    row.attempts += 1
    db.session.flush()
    return False
