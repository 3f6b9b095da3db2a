"""The task queue: Huey, on an SQLite file for one machine or on Redis for many.

Why Huey: it is a small, maintained library with exactly these two storages behind one API,
retries with back-off, periodic tasks and a consumer that runs as threads or processes; its
immediate mode runs tasks inline for tests. Huey does not acknowledge tasks, so a worker killed
mid-task loses it: every job therefore also lives in the ``processing_job`` table with a lease,
and a periodic sweep (and every worker start) re-enqueues jobs whose lease ran out.

Tasks take ids and run inside an app context (``app_task``): a worker's app
(``cloud.worker.create_worker_app``, with the media pipeline), created once per worker process.
"""

import functools
import os

from flask import has_app_context
from huey import RedisHuey, SqliteHuey
from werkzeug.utils import import_string

from config import Config


def create_huey():
    if Config.KEPU_REDIS_URL:
        return RedisHuey("kepu", url=Config.KEPU_REDIS_URL)
    path = os.environ.get("KEPU_QUEUE_FILE") or os.path.join(Config.INSTANCE_DIR, "queue.sqlite3")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return SqliteHuey("kepu", filename=path)


huey = create_huey()
_worker_app = None


#: The factory of a worker's app, named as gunicorn names a web app: ``cloud.worker`` sits above
#: this module (it builds on the task modules, which import the queue), and only a worker
#: process, never a web one, loads it and the media pipeline behind it.
WORKER_APP_FACTORY = "cloud.worker:create_worker_app"


def worker_app():
    """The app a worker process runs tasks in (built once)."""
    global _worker_app
    if _worker_app is None:
        _worker_app = import_string(WORKER_APP_FACTORY)()
    return _worker_app


def app_task(**task_options):
    """Like ``huey.task`` but the function runs inside an app context."""

    def decorate(func):
        @functools.wraps(func)
        def in_app(*args, **kwargs):
            if has_app_context():
                return func(*args, **kwargs)
            with worker_app().app_context():
                return func(*args, **kwargs)

        return huey.task(name=func.__name__, **task_options)(in_app)

    return decorate


def use_immediate_mode(enabled=True):
    """Run tasks inline at enqueue time (tests and one-off scripts)."""
    huey.immediate = enabled


def queue_name():
    return "redis" if isinstance(huey, RedisHuey) else "sqlite"
