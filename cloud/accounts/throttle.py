"""Rate limits counted in the shared database, so they hold across every web process.

Each counted event is a row of ``rate_limit_hit`` per limited thing: a bucket (``login_ip``,
``login_account``, ``captcha_ip``), a keyed hash of what is limited (an IP address, a login
name) and the time. The limits are settings in the ``limits`` syntax (``"20 per minute"``,
several joined by ``;``).

Why it cannot be outrun by parallel requests: ``hit`` commits its rows in a transaction of its
own *before* it counts, then counts every row any process has committed in the window. The k-th
row to be committed sees at least k rows, so at most the limit get through however many
processes race; a hit over the limit takes its rows back, so a flood does not lock a key out
for longer than the window. (Counting first and inserting after would let every racer see the
same old count.)

The rows go through their own connection, not the request's session: call ``hit`` before the
request writes anything, since on SQLite a second connection waits for the first one's write
lock. Expired rows are purged by every ``hit`` and by ``flask users sweep``.

With ``KEPU_REDIS_URL`` set (several machines) the events are counted in Redis instead, with the
same insert-then-count order: one sorted set per bucket and key, scored by time (ZADD, then ZCOUNT
over each window; a hit over the limit takes its member back). That keeps the burst of a login
flood off the database. Should Redis not answer, the database counts, as without Redis.
"""

import hashlib
import hmac
import logging
import math
import secrets
from datetime import timedelta

import redis
from flask import current_app
from limits import parse_many
from sqlalchemy import delete, func, insert, select

from cloud.accounts.models import RateLimitHit
from cloud.errors import RateLimited
from cloud.extensions import db
from cloud.models_base import utcnow

log = logging.getLogger(__name__)
_REDIS = "kepu.throttle_redis"
_REDIS_PREFIX = "kepu:limit:"

LIMIT_SETTINGS = {
    "login_ip": "KEPU_LOGIN_RATE_LIMIT",
    "login_account": "KEPU_LOGIN_ACCOUNT_RATE_LIMIT",
    "captcha_ip": "KEPU_CAPTCHA_RATE_LIMIT",
}


def _limits(bucket):
    return parse_many(current_app.config[LIMIT_SETTINGS[bucket]])


def _key_hash(bucket, key):
    # Keyed, because a login field sometimes holds a password typed in the wrong box.
    secret = current_app.config["SECRET_KEY"].encode()
    return hmac.new(secret, f"{bucket}:{key}".encode(), hashlib.sha256).hexdigest()


def hit(message=None, **keys):
    """Count one event for each ``bucket=key`` given (keys that are None are skipped).

    Returns the ids of the rows written, for ``forget``. Raises RateLimited (nothing counted)
    when any bucket is over one of its limits; ``details["retry_after"]`` says in how many
    seconds the oldest counted event leaves the window.
    """
    now = utcnow()
    rows = []
    for bucket, key in keys.items():
        if key is None:
            continue
        limits = _limits(bucket)
        longest = max(item.get_expiry() for item in limits)
        rows.append(
            {
                "bucket": bucket,
                "key": _key_hash(bucket, key),
                "created_at": now,
                "expires_at": now + timedelta(seconds=longest),
            }
        )
    if not rows:
        return []
    client = _redis()
    if client is not None:
        try:
            return _hit_redis(client, rows, now, message)
        except redis.RedisError:
            log.warning("rate limits: Redis did not answer, counting in the database", exc_info=True)
    with db.engine.begin() as connection:
        ids = [connection.execute(insert(RateLimitHit).values(**row)).inserted_primary_key[0] for row in rows]
    wait = 0
    with db.engine.begin() as connection:
        for row in rows:
            for item in _limits(row["bucket"]):
                window = timedelta(seconds=item.get_expiry())
                count, oldest = connection.execute(
                    select(func.count(), func.min(RateLimitHit.created_at)).where(
                        RateLimitHit.bucket == row["bucket"],
                        RateLimitHit.key == row["key"],
                        RateLimitHit.created_at > now - window,
                    )
                ).one()
                if count > item.amount:
                    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
                    wait = max(wait, math.ceil((oldest + window - now).total_seconds()), 1)
        if wait:
            connection.execute(delete(RateLimitHit).where(RateLimitHit.id.in_(ids)))
        connection.execute(delete(RateLimitHit).where(RateLimitHit.expires_at < now))
    if wait:
        raise RateLimited(message or _message(wait), details={"retry_after": wait})
    return ids


def forget(ids):
    """Take back events that should not count (a login that succeeded): rows in the request's
    session, Redis members at once."""
    members = [i for i in ids if isinstance(i, tuple)]
    rows = [i for i in ids if not isinstance(i, tuple)]
    if members:
        try:
            with _redis().pipeline(transaction=False) as pipe:
                for key, member in members:
                    pipe.zrem(key, member)
                pipe.execute()
        except redis.RedisError:
            log.warning("rate limits: could not take back a counted event", exc_info=True)
    if rows:
        db.session.execute(delete(RateLimitHit).where(RateLimitHit.id.in_(rows)))


def _redis():
    url = current_app.config.get("KEPU_REDIS_URL")
    if not url:
        return None
    client = current_app.extensions.get(_REDIS)
    if client is None:
        client = current_app.extensions[_REDIS] = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2
        )
    return client


def _hit_redis(client, rows, now, message):
    """``hit`` counted in Redis; returns the (key, member) pairs written. Raises RateLimited,
    redis.RedisError."""
    stamp = now.timestamp()
    written = []
    with client.pipeline(transaction=False) as pipe:
        for row in rows:
            key, member = f"{_REDIS_PREFIX}{row['bucket']}:{row['key']}", secrets.token_hex(8)
            longest = (row["expires_at"] - now).total_seconds()
            pipe.zadd(key, {member: stamp})
            pipe.zremrangebyscore(key, "-inf", stamp - longest)
            pipe.expire(key, math.ceil(longest) + 1)
            written.append((key, member))
        pipe.execute()
    wait = 0
    for row, (key, _member) in zip(rows, written, strict=True):
        for item in _limits(row["bucket"]):
            since = stamp - item.get_expiry()
            count = client.zcount(key, f"({since}", "+inf")
            if count > item.amount:
                oldest = client.zrangebyscore(key, f"({since}", "+inf", start=0, num=1, withscores=True)
                age = stamp - oldest[0][1] if oldest else 0
                wait = max(wait, math.ceil(item.get_expiry() - age), 1)
    if wait:
        forget(written)
        raise RateLimited(message or _message(wait), details={"retry_after": wait})
    return written


def purge():
    """Delete the rows no limit looks at any more; return how many (the caller commits)."""
    result = db.session.execute(delete(RateLimitHit).where(RateLimitHit.expires_at < utcnow()))
    return result.rowcount


def _message(wait):
    later = f"{math.ceil(wait / 60)}分钟" if wait > 90 else f"{wait}秒"
    return f"操作过于频繁，请{later}后再试"
