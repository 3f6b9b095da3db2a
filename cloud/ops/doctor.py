"""``flask doctor``: is this deployment's configuration sound, and are its services there?

Each check gives one ``Finding``: passed, failed, or a note (nothing wrong, worth knowing). The
command prints one line each, in Chinese and English, and exits 1 when any check failed. Run it
on every node after a change of settings; it writes only a probe object (deleted again) and
reads everything else.
"""

import os
import secrets
import subprocess
from dataclasses import dataclass

import redis
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from cloud.extensions import db, migrate
from cloud.files.service import get_storage
from cloud.media.ffmpeg import MediaError, find_binaries
from cloud.ops import fingerprint
from cloud.queue import queue_name
from cloud.resources.lifecycle import State
from cloud.resources.models import Resource
from search_index import IndexMissingError, SearchIndex, SearchIndexError
from storage import StorageError, create_storage

#: Secret keys seen in examples and tests: a deployment using one signs nothing safely.
KNOWN_KEYS = {
    "test-secret-key",
    "secret",
    "dev",
    "development",
    "change-me",
    "changeme",
    "kepu",
    "please-change",
}
MIN_KEY_CHARS = 32


@dataclass(frozen=True)
class Finding:
    ok: bool | None  # True passed, False failed, None a note
    zh: str
    en: str

    @property
    def label(self):
        return {True: "通过 OK  ", False: "失败 FAIL", None: "提示 NOTE"}[self.ok]

    def line(self):
        return f"[{self.label}] {self.zh} / {self.en}"


def shared_profile():
    """True when the settings name services several machines share (PostgreSQL, Redis, S3)."""
    cfg = current_app.config
    return (
        not cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
        or bool(cfg.get("KEPU_REDIS_URL"))
        or cfg.get("KEPU_STORAGE") == "s3"
    )


def run_checks():
    """Every finding, in the order they are printed."""
    findings = []
    for check in (
        check_secret_key,
        check_database,
        check_fingerprints,
        check_redis,
        check_storage,
        check_ffmpeg,
        check_index,
    ):
        findings.extend(check())
        db.session.rollback()
    return findings


def check_secret_key():
    key = str(current_app.config.get("SECRET_KEY") or "")
    if not key:
        return [Finding(False, "未设置密钥", "no secret key")]
    if key in KNOWN_KEYS:
        return [Finding(False, "密钥是公开的示例值，请更换", "the secret key is a published example value")]
    if len(key) < MIN_KEY_CHARS:
        return [
            Finding(
                False,
                f"密钥太短（少于 {MIN_KEY_CHARS} 个字符）",
                f"the secret key is shorter than {MIN_KEY_CHARS} characters",
            )
        ]
    if not os.environ.get("KEPU_SECRET_KEY"):
        if shared_profile():
            return [
                Finding(
                    False,
                    "未设置 KEPU_SECRET_KEY：每个节点会各自生成不同的密钥",
                    "KEPU_SECRET_KEY is not set: every node would make a key of its own",
                )
            ]
        return [
            Finding(
                None,
                "密钥保存在本机 instance/secret_key（单机部署）",
                "the secret key is kept in instance/secret_key (one machine)",
            )
        ]
    return [Finding(True, "密钥已设置", "secret key set")]


def check_database():
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = set(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        return [Finding(False, "数据库无法连接", f"database unreachable: {_short(exc)}")]
    heads = set(ScriptDirectory.from_config(migrate.get_config()).get_heads())
    if current != heads:
        have, want = ", ".join(sorted(current)) or "无/none", ", ".join(sorted(heads))
        return [
            Finding(True, "数据库可连接", "database reachable"),
            Finding(
                False,
                f"数据库未迁移到最新版本（当前 {have}，应为 {want}），请运行 flask db upgrade",
                f"database not migrated to head (at {have}, head {want}): run flask db upgrade",
            ),
        ]
    return [
        Finding(
            True,
            f"数据库可连接，已迁移到最新版本 {', '.join(sorted(heads))}",
            "database reachable and migrated to head",
        )
    ]


def check_fingerprints():
    mine = fingerprint.fingerprint()
    try:
        rows = fingerprint.seen()
    except SQLAlchemyError as exc:
        return [
            Finding(
                False, "无法读取各节点的密钥指纹", f"cannot read the nodes' key fingerprints: {_short(exc)}"
            )
        ]
    if not rows:
        return [
            Finding(
                None,
                "尚无节点记录密钥指纹（节点在首个请求时记录）",
                "no node has recorded its key fingerprint yet (nodes do at their first request)",
            )
        ]
    different = [row.node for row in rows if row.fingerprint != mine]
    if different:
        return [
            Finding(
                False,
                f"{len(different)} 个节点的密钥与本节点不同：{', '.join(different)}",
                f"{len(different)} node(s) sign with another secret key: {', '.join(different)}",
            )
        ]
    return [
        Finding(True, f"{len(rows)} 个节点的密钥一致", f"the secret key is the same on {len(rows)} node(s)")
    ]


def check_redis():
    url = current_app.config.get("KEPU_REDIS_URL")
    if not url:
        if not current_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            return [
                Finding(
                    False,
                    "未设置 KEPU_REDIS_URL：任务队列在本机文件中，其他机器的 worker 看不到",
                    "KEPU_REDIS_URL is not set: the task queue is a local file other machines cannot see",
                )
            ]
        return [
            Finding(
                None,
                "未配置 Redis（单机：任务队列在 SQLite 文件中）",
                "no Redis configured (one machine: the queue is an SQLite file)",
            )
        ]
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        return [Finding(False, "Redis 无法连接", f"Redis unreachable: {_short(exc)}")]
    finally:
        client.close()
    if queue_name() != "redis":
        return [
            Finding(
                False,
                "Redis 可连接，但任务队列没有使用它（KEPU_REDIS_URL 须在进程启动前设置）",
                "Redis reachable, but the queue does not use it (set KEPU_REDIS_URL before start)",
            )
        ]
    return [Finding(True, "Redis 可连接，任务队列在 Redis 中", "Redis reachable, the task queue lives in it")]


def check_storage():
    cfg = current_app.config
    where = cfg.get("KEPU_S3_BUCKET") if cfg.get("KEPU_STORAGE") == "s3" else cfg.get("KEPU_STORAGE_DIR")
    try:
        _probe(get_storage())
    except StorageError as exc:
        return [
            Finding(
                False, f"对象存储（{where}）不可写", f"object storage ({where}) not writable: {_short(exc)}"
            )
        ]
    findings = [
        Finding(True, f"对象存储（{where}）可写可读", f"object storage ({where}) writable and readable")
    ]
    if cfg.get("KEPU_STORAGE") != "s3":
        return findings
    wrong = create_storage({**cfg, "KEPU_S3_SECRET_KEY": f"{cfg.get('KEPU_S3_SECRET_KEY') or ''}-wrong"})
    try:
        _probe(wrong)
    except StorageError:
        findings.append(
            Finding(True, "S3 拒绝了错误密钥的请求", "S3 refuses a request signed with a wrong key")
        )
    else:
        findings.append(
            Finding(
                False,
                "S3 接受了错误密钥签名的请求：服务器未校验签名",
                "S3 accepted a request signed with a wrong key: it checks no signatures",
            )
        )
    finally:
        wrong.close()
    return findings


def _probe(storage):
    key = f"doctor/{secrets.token_hex(8)}"
    data = b"kepu doctor probe"
    storage.save(key, _Bytes(data))
    try:
        with storage.open(key) as chunks:
            if b"".join(chunks) != data:
                raise StorageError("the probe object read back differs")
    finally:
        storage.delete(key)


class _Bytes:
    def __init__(self, data):
        self.data = data

    def read(self, size=-1):
        chunk, self.data = (self.data, b"") if size < 0 else (self.data[:size], self.data[size:])
        return chunk


def check_ffmpeg():
    try:
        binaries = find_binaries()
        versions = []
        for path in (binaries.ffmpeg, binaries.ffprobe):
            done = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=20, check=True)
            versions.append(done.stdout.split("\n", 1)[0].split(" Copyright", 1)[0])
    except (MediaError, OSError, subprocess.SubprocessError) as exc:
        return [
            Finding(
                False,
                "未找到可运行的 ffmpeg/ffprobe（视频、音频无法处理）",
                f"ffmpeg/ffprobe missing or not runnable: {_short(exc)}",
            )
        ]
    return [Finding(True, "ffmpeg 和 ffprobe 可用", f"ffmpeg and ffprobe present: {'; '.join(versions)}")]


def check_index():
    path = current_app.config["KEPU_INDEX_DIR"]
    try:
        published = db.session.scalar(select(func.count()).where(Resource.state == State.APPROVED))
    except SQLAlchemyError:
        published = None
    try:
        total = SearchIndex(path).search("", per_page=1).total
    except IndexMissingError:
        if published == 0:
            return [
                Finding(
                    None,
                    f"尚无搜索索引（{path}），也没有已发布的资源",
                    f"no search index at {path} yet, nothing published",
                )
            ]
        return [
            Finding(
                False,
                f"搜索索引（{path}）不存在，请运行 flask search reindex",
                f"no search index at {path}: run flask search reindex",
            )
        ]
    except (SearchIndexError, OSError) as exc:
        return [
            Finding(False, f"搜索索引（{path}）无法读取", f"search index at {path} unreadable: {_short(exc)}")
        ]
    findings = [
        Finding(True, f"搜索索引可读（{total} 个资源）", f"search index readable ({total} resources)")
    ]
    if published is not None and published != total:
        findings.append(
            Finding(
                None,
                f"索引中 {total} 个资源，数据库中已发布 {published} 个（更新在途，或需 reindex）",
                f"{total} resources indexed, {published} published (updates under way, or reindex)",
            )
        )
    return findings


def _short(exc):
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
