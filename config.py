"""Configuration: every setting comes from a ``KEPU_`` environment variable with a safe default.

The defaults run the whole service on one machine with nothing else installed: SQLite in
``instance/``, objects in ``instance/objects``, the task queue on disk and SMS codes in the log.
"""

import os
import secrets
from pathlib import Path
from typing import ClassVar

BASE_DIR = Path(__file__).resolve().parent
_INSTANCE = Path(os.environ.get("KEPU_INSTANCE_DIR", BASE_DIR / "instance"))


def _env(name, default=None):
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def _env_int(name, default):
    return int(_env(name, default))


def _env_bool(name, default):
    return str(_env(name, default)).lower() in {"1", "true", "yes", "on"}


def _secret_key():
    """Use KEPU_SECRET_KEY, or a random key kept in the instance folder so restarts keep sessions."""
    configured = _env("KEPU_SECRET_KEY")
    if configured:
        return configured
    key_file = _INSTANCE / "secret_key"
    if not key_file.exists():
        _INSTANCE.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


class Config:
    """Settings for a running service, read once at start-up."""

    INSTANCE_DIR = str(_INSTANCE)
    SECRET_KEY = None  # filled in by load()

    SQLALCHEMY_DATABASE_URI = _env("KEPU_DATABASE_URL", f"sqlite:///{_INSTANCE / 'kepu.db'}")
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict] = {"pool_pre_ping": True}

    KEPU_STORAGE = _env("KEPU_STORAGE", "local")
    KEPU_STORAGE_DIR = _env("KEPU_STORAGE_DIR", str(_INSTANCE / "objects"))
    KEPU_S3_ENDPOINT = _env("KEPU_S3_ENDPOINT")
    KEPU_S3_BUCKET = _env("KEPU_S3_BUCKET", "kepu")
    KEPU_S3_ACCESS_KEY = _env("KEPU_S3_ACCESS_KEY")
    KEPU_S3_SECRET_KEY = _env("KEPU_S3_SECRET_KEY")
    KEPU_S3_REGION = _env("KEPU_S3_REGION", "us-east-1")

    # The task queue's store (and Flask-Limiter's) when several machines run; the login and
    # captcha limits are then counted in Redis too (in the database without it, or should Redis
    # not answer), shared by every process either way. SMS limits stay in the database.
    KEPU_REDIS_URL = _env("KEPU_REDIS_URL")

    KEPU_SMS_BACKEND = _env("KEPU_SMS_BACKEND", "console")
    KEPU_SMS_OUTBOX = _env("KEPU_SMS_OUTBOX", str(_INSTANCE / "sms-outbox.jsonl"))
    KEPU_SMS_CODE_TTL = _env_int("KEPU_SMS_CODE_TTL", 300)
    KEPU_SMS_RESEND_SECONDS = _env_int("KEPU_SMS_RESEND_SECONDS", 60)
    KEPU_SMS_DAILY_CAP = _env_int("KEPU_SMS_DAILY_CAP", 10)
    KEPU_SMS_IP_HOURLY_CAP = _env_int("KEPU_SMS_IP_HOURLY_CAP", 30)
    KEPU_SMS_MAX_ATTEMPTS = 5

    KEPU_CAPTCHA_TTL = _env_int("KEPU_CAPTCHA_TTL", 300)
    # Captchas one IP address may draw (limits syntax; several joined with ";").
    KEPU_CAPTCHA_RATE_LIMIT = _env("KEPU_CAPTCHA_RATE_LIMIT", "20 per minute; 300 per day")
    # Login attempts per IP address, and per account name (phone or username, known or not),
    # counted together for the login page and the API token endpoint, in the shared database.
    KEPU_LOGIN_RATE_LIMIT = _env("KEPU_LOGIN_RATE_LIMIT", "20 per minute")
    KEPU_LOGIN_ACCOUNT_RATE_LIMIT = _env("KEPU_LOGIN_ACCOUNT_RATE_LIMIT", "10 per 15 minutes")

    # An institution's invite link works this many days (or until a manager revokes it).
    KEPU_INVITE_DAYS = _env_int("KEPU_INVITE_DAYS", 7)

    KEPU_SESSION_DAYS = _env_int("KEPU_SESSION_DAYS", 14)
    KEPU_API_TOKEN_HOURS = _env_int("KEPU_API_TOKEN_HOURS", 24 * 7)

    # argon2id cost; the defaults are argon2-cffi's RFC 9106 "low memory" profile.
    KEPU_ARGON2_TIME_COST = _env_int("KEPU_ARGON2_TIME_COST", 3)
    KEPU_ARGON2_MEMORY_KIB = _env_int("KEPU_ARGON2_MEMORY_KIB", 65536)

    # Largest upload per resource type, in bytes.
    KEPU_MAX_VIDEO_BYTES = _env_int("KEPU_MAX_VIDEO_BYTES", 4 * 1024**3)
    KEPU_MAX_WALLCHART_BYTES = _env_int("KEPU_MAX_WALLCHART_BYTES", 500 * 1024**2)
    KEPU_MAX_AUDIO_BYTES = _env_int("KEPU_MAX_AUDIO_BYTES", 500 * 1024**2)
    KEPU_MAX_IMAGE_BYTES = _env_int("KEPU_MAX_IMAGE_BYTES", 50 * 1024**2)
    # Unfinished resumable uploads idle this long are removed by `flask uploads sweep`.
    KEPU_UPLOAD_MAX_AGE_HOURS = _env_int("KEPU_UPLOAD_MAX_AGE_HOURS", 24)
    # Finished uploads never made into a resource, and stored files nothing refers to any more
    # (article pictures no article kept…), are removed by `flask storage sweep` after this long.
    KEPU_STORAGE_GRACE_HOURS = _env_int("KEPU_STORAGE_GRACE_HOURS", 7 * 24)
    # Storage each institution may use (its files and unfinished uploads); 0 for no limit.
    KEPU_INSTITUTION_QUOTA_BYTES = _env_int("KEPU_INSTITUTION_QUOTA_BYTES", 100 * 1024**3)
    # Ordinary form POSTs of a whole file (small files; big ones go through tus).
    KEPU_MAX_FORM_UPLOAD_BYTES = _env_int("KEPU_MAX_FORM_UPLOAD_BYTES", 64 * 1024**2)

    # The Whoosh search index (one writer: the worker; readers: every web process).
    KEPU_INDEX_DIR = _env("KEPU_INDEX_DIR", str(_INSTANCE / "search-index"))
    # Per web process: postings kept in memory as arrays (search_index/postings.py).
    KEPU_SEARCH_CACHE_MB = _env_int("KEPU_SEARCH_CACHE_MB", 96)

    # Lifetime of a download link (presigned on S3, signed by the app on local storage), seconds.
    KEPU_DOWNLOAD_URL_SECONDS = _env_int("KEPU_DOWNLOAD_URL_SECONDS", 600)
    # Downloads of one rendition by one user within this many minutes count once (下载最多);
    # every request is still kept as an event, the repeats marked as not counted.
    KEPU_DOWNLOAD_COUNT_WINDOW_MINUTES = _env_int("KEPU_DOWNLOAD_COUNT_WINDOW_MINUTES", 30)
    # Downloads change counts in the database only; the worker folds the changed counts into the
    # search index (the 下载最多 sort) every this many minutes (a divisor of 60).
    KEPU_INDEX_DOWNLOADS_MINUTES = _env_int("KEPU_INDEX_DOWNLOADS_MINUTES", 5)
    # Searches are logged (热门搜索, 无结果搜索) in batches: each web process writes the searches it
    # served every this many seconds, or as soon as this many wait (cloud/catalog/searchlog.py).
    KEPU_SEARCH_LOG_SECONDS = _env_int("KEPU_SEARCH_LOG_SECONDS", 5)
    KEPU_SEARCH_LOG_BATCH = _env_int("KEPU_SEARCH_LOG_BATCH", 200)
    # Each web process keeps the resource-center page it rendered for visitors without a session,
    # per query string, for at most this many seconds (0: never); a publication or withdrawal
    # drops it at once (cloud/catalog/pagecache.py). The limit bounds how old a download count shown is.
    KEPU_PAGE_CACHE_SECONDS = _env_int("KEPU_PAGE_CACHE_SECONDS", 30)

    # Processing jobs: how long a worker may stay silent before its job is given to another,
    # and where jobs keep their scratch files (the system temp directory by default).
    KEPU_JOB_LEASE_SECONDS = _env_int("KEPU_JOB_LEASE_SECONDS", 600)
    # Work enqueued after a commit (a processing job, an index update) that has not started
    # this many seconds later is taken as lost and enqueued again by the worker's sweep.
    KEPU_RECOVERY_GRACE_SECONDS = _env_int("KEPU_RECOVERY_GRACE_SECONDS", 120)
    KEPU_WORK_DIR = _env("KEPU_WORK_DIR")

    # The Chinese TrueType font embedded in generated PDFs (the e站 plaque); Debian's fonts-wqy-microhei.
    KEPU_PLAQUE_FONT = _env("KEPU_PLAQUE_FONT", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

    # The footer of every page: who runs the service, how to reach them, its ICP 备案号. The
    # defaults are placeholders that say what is still to be filled in.
    KEPU_ORGANIZER = _env("KEPU_ORGANIZER", "主办单位待填写")
    KEPU_CONTACT = _env("KEPU_CONTACT", "联系方式待填写")
    KEPU_ICP_NUMBER = _env("KEPU_ICP_NUMBER", "备案号待填写")

    # Number of reverse proxies in front of the app whose X-Forwarded-For is trusted.
    KEPU_PROXY_COUNT = _env_int("KEPU_PROXY_COUNT", 0)
    # Host names the site answers to (comma-separated; ".example.org" admits its subdomains, "*"
    # any host: only behind a proxy that checks Host itself). Others get a 400, never a redirect.
    KEPU_TRUSTED_HOSTS = _env("KEPU_TRUSTED_HOSTS", "localhost,127.0.0.1")
    # Longest path + query string the app answers (longer: 414); gunicorn lets up to 8190 through.
    KEPU_MAX_URL_BYTES = _env_int("KEPU_MAX_URL_BYTES", 4096)

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("KEPU_SECURE_COOKIES", False)
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = _env_int("KEPU_MAX_FORM_BYTES", 16 * 1024 * 1024)
    JSON_AS_ASCII = False

    @classmethod
    def load(cls):
        """Return the settings as a dict, generating the secret key on first start."""
        settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        settings["SECRET_KEY"] = _secret_key()
        return settings


class TestConfig(Config):
    """Fast, isolated settings for the test suite; the database comes from the test harness."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = _env("KEPU_TEST_DATABASE_URL", "sqlite://")
    KEPU_SMS_BACKEND = "outbox"
    KEPU_ARGON2_TIME_COST = 1
    KEPU_ARGON2_MEMORY_KIB = 8192
    KEPU_REDIS_URL = None
    KEPU_SEARCH_LOG_SECONDS = 0  # no writer thread: the log is written when read (searchlog.flush)
    KEPU_LOGIN_RATE_LIMIT = "1000 per minute"
    KEPU_LOGIN_ACCOUNT_RATE_LIMIT = "1000 per minute"
    KEPU_CAPTCHA_RATE_LIMIT = "1000 per minute"

    @classmethod
    def load(cls):
        settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        settings["SECRET_KEY"] = "test-secret-key"
        return settings
