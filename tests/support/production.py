"""The production profile on one machine: PostgreSQL + Redis + S3, two web nodes, two workers.

Separate processes stand in for separate machines. They share only what machines would share:
the database, Redis, the S3 bucket and the search-index directory (a shared volume). Each web
node and each worker has an instance folder of its own (``KEPU_INSTANCE_DIR``), so anything a
process keeps there is invisible to the others, as it would be on another machine::

    from tests.support.production import ProductionProfile

    with ProductionProfile() as prod:              # needs KEPU_TEST_DATABASE_URL (PostgreSQL)
        prod.web_urls                              # ["http://127.0.0.1:P1", "http://127.0.0.1:P2"]
        prod.flask("users", "create", "--role", "admin", "--phone", "13800000000", "--password", "x")
        with prod.app().app_context(): ...         # an in-process app on the same DB/S3/index/secret
        prod.stop_worker(0, signal.SIGKILL); prod.start_worker(0)
        prod.stop_web(1); prod.start_web(1)

What ``start()`` does, in order: starts SeaweedFS (``tests/support/seaweedfs.py``, an S3 gateway
that checks signatures) and redis-server (``redis_server.py``); creates a fresh database
``kepu_prod_<random>`` on the PostgreSQL server of ``KEPU_TEST_DATABASE_URL`` (the URL's database
is only used to connect; the suite's tables are not touched); runs ``flask db upgrade`` (and
``flask regions load`` if asked) as a node would; starts ``webs`` gunicorn servers (``web_processes``
processes × ``web_threads`` threads each, on free loopback ports) and ``workers`` task workers
(``flask worker``; worker 0 enqueues the periodic tasks, the others run ``--no-periodic``, as
docs/deploy.md lays out). ``stop()`` stops every process by its PID (process group), drops the
database and removes the temporary folder; it is safe to call twice and runs at exit.

Attributes a test reads: ``web_urls``, ``database_url``, ``redis_url``, ``index_dir``,
``secret_key``, ``bucket``, ``seaweedfs`` (``.endpoint``, ``.access_key``, ``.secret_key``, its
own ``stop()``), ``redis`` (``.port``, ``.proc``), ``sms_outbox`` (one JSON-lines file every node
appends its SMS to: a test stand-in for the SMS gateway), ``root`` (the temporary folder),
``extra_database()`` makes one more empty database on the same server (its URL), ``webs`` /
``workers`` (``Node`` objects: ``.name``, ``.instance_dir``, ``.log_path``, ``.proc``,
``.pid``). ``env(node)`` is a node's environment, ``settings()`` the same as app settings, for
running anything else as one more node.

Keyword arguments: ``webs`` (2), ``workers`` (2), ``web_processes`` (1), ``web_threads`` (4),
``worker_threads`` (1), ``extra_env`` (a dict of ``KEPU_*`` settings for every node, e.g. low rate
limits), ``database_url`` (default ``KEPU_TEST_DATABASE_URL``), ``load_regions`` (False: the
division codes take ~20 s to load on a busy machine; ask for them when a test needs regions).

The in-process ``app()`` is for setting up and inspecting (creating users, reading rows); tasks it
enqueues go to the test process's own queue (inline in the suite), not to the profile's workers.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cloud.extensions import db
from tests.support import free_port
from tests.support.redis_server import RedisServer
from tests.support.seaweedfs import SeaweedFS

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT = 20


class ProductionProfileError(RuntimeError):
    """A part of the profile could not be started (the message ends with its log)."""


@dataclass
class Node:
    """One process standing in for one machine: a web server or a worker."""

    name: str
    kind: str  # "web" or "worker"
    instance_dir: Path
    log_path: Path
    port: int | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    _log: object = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


class ProductionProfile:
    """See the module docstring."""

    def __init__(
        self,
        *,
        webs: int = 2,
        workers: int = 2,
        web_processes: int = 1,
        web_threads: int = 4,
        worker_threads: int = 1,
        extra_env: dict | None = None,
        database_url: str | None = None,
        load_regions: bool = False,
    ) -> None:
        admin_url = database_url or os.environ.get("KEPU_TEST_DATABASE_URL")
        if not admin_url or not admin_url.startswith("postgresql"):
            raise ProductionProfileError("the production profile needs KEPU_TEST_DATABASE_URL (PostgreSQL)")
        self.admin_url = admin_url
        self.web_count, self.worker_count = webs, workers
        self.web_processes, self.web_threads, self.worker_threads = web_processes, web_threads, worker_threads
        self.extra_env = dict(extra_env or {})
        self.load_regions = load_regions
        self.secret_key = secrets.token_hex(32)
        self.bucket = f"kepu-prod-{secrets.token_hex(6)}"
        self.database_name = f"kepu_prod_{secrets.token_hex(6)}"
        self.database_url = (
            make_url(admin_url).set(database=self.database_name).render_as_string(hide_password=False)
        )
        self.root: Path | None = None
        self.seaweedfs: SeaweedFS | None = None
        self.redis: RedisServer | None = None
        self.webs: list[Node] = []
        self.workers: list[Node] = []
        self._database_created = False
        self._extra_databases = []
        self._apps = []

    # -- where things are ------------------------------------------------------------------

    @property
    def web_urls(self) -> list[str]:
        return [node.url for node in self.webs]

    @property
    def redis_url(self) -> str:
        return self.redis.url

    @property
    def index_dir(self) -> Path:
        return self.root / "shared-index"

    @property
    def sms_outbox(self) -> Path:
        return self.root / "sms-outbox.jsonl"

    def settings(self) -> dict:
        """The ``KEPU_*`` settings every node shares (what a deployment's config management
        would hand each machine)."""
        return {
            "KEPU_DATABASE_URL": self.database_url,
            "KEPU_REDIS_URL": self.redis.url,
            "KEPU_STORAGE": "s3",
            "KEPU_S3_ENDPOINT": self.seaweedfs.endpoint,
            "KEPU_S3_BUCKET": self.bucket,
            "KEPU_S3_ACCESS_KEY": self.seaweedfs.access_key,
            "KEPU_S3_SECRET_KEY": self.seaweedfs.secret_key,
            "KEPU_S3_REGION": self.seaweedfs.region,
            "KEPU_INDEX_DIR": str(self.index_dir),
            "KEPU_SECRET_KEY": self.secret_key,
            "KEPU_SMS_BACKEND": "outbox",
            "KEPU_SMS_OUTBOX": str(self.sms_outbox),
            **self.extra_env,
        }

    def env(self, node: Node | None = None, **overrides: str) -> dict:
        """The environment of a process of ``node`` (or of a one-off command run beside them):
        the shared settings, an instance folder of its own, no other ``KEPU_*`` variable."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEPU_")}
        env.update(self.settings())
        instance = node.instance_dir if node is not None else self.root / "cli"
        instance.mkdir(parents=True, exist_ok=True)
        env["KEPU_INSTANCE_DIR"] = str(instance)
        (instance / "work").mkdir(exist_ok=True)
        env["KEPU_WORK_DIR"] = str(instance / "work")
        # Loopback only, whatever proxy the machine is configured with.
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        env.update(overrides)
        return env

    # -- start and stop --------------------------------------------------------------------

    def start(self) -> ProductionProfile:
        """Start everything (see the module docstring); raises ProductionProfileError."""
        self.root = Path(tempfile.mkdtemp(prefix="kepu-prod-"))
        atexit.register(self.stop)
        try:
            self.seaweedfs = SeaweedFS(stop_timeout=3).start()
            self.redis = RedisServer().start()
            self._create_database()
            self.flask("db", "upgrade")
            if self.load_regions:
                self.flask("regions", "load")
            for i in range(self.web_count):
                name = "web-" + "abcdefghij"[i]
                self.webs.append(Node(name, "web", self.root / name, self.root / f"{name}.log"))
            for i in range(self.worker_count):
                name = f"worker-{i}"
                self.workers.append(Node(name, "worker", self.root / name, self.root / f"{name}.log"))
            for i in range(self.worker_count):
                self.start_worker(i)
            for i in range(self.web_count):
                self.start_web(i, wait=False)
            for node in self.webs:
                self._wait_for_web(node)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process by PID, drop the database, remove the files. Safe to call twice."""
        atexit.unregister(self.stop)
        for app in self._apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        self._apps = []
        running = [node for node in [*self.webs, *self.workers] if node.proc is not None]
        for node in running:  # all at once: each takes a few seconds to wind down
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGTERM)
        for node in running:
            self._stop_node(node, signal.SIGTERM)
        if self.redis is not None:
            self.redis.stop()
        if self.seaweedfs is not None:
            self.seaweedfs.stop()
        for name in self._extra_databases:
            self._drop_database(name)
        self._extra_databases = []
        if self._database_created:
            self._drop_database(self.database_name)
            self._database_created = False
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> ProductionProfile:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- processes -------------------------------------------------------------------------

    def start_web(self, i: int, *, wait: bool = True) -> Node:
        """(Re)start web node ``i`` on a fresh free port; waits until it answers."""
        node = self.webs[i]
        if node.proc is not None and node.proc.poll() is None:
            raise ProductionProfileError(f"{node.name} is running")
        node.port = free_port()
        argv = [
            sys.executable, "-m", "gunicorn", "-c", str(ROOT / "scripts" / "gunicorn.conf.py"),
            "--workers", str(self.web_processes), "--threads", str(self.web_threads),
            "--timeout", "120", "--no-control-socket", "--bind", f"127.0.0.1:{node.port}",
            "--access-logfile", "-", "--access-logformat", "%(p)s %(s)s %(m)s %(U)s", "wsgi:app",
        ]  # fmt: skip
        self._spawn(node, argv, MALLOC_ARENA_MAX="2")
        if wait:
            self._wait_for_web(node)
        return node

    def stop_web(self, i: int, sig: int = signal.SIGTERM) -> None:
        self._stop_node(self.webs[i], sig)

    def start_worker(self, i: int) -> Node:
        """(Re)start worker ``i``; worker 0 also enqueues the periodic tasks."""
        node = self.workers[i]
        if node.proc is not None and node.proc.poll() is None:
            raise ProductionProfileError(f"{node.name} is running")
        argv = [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "wsgi",
            "worker",
            "--workers",
            str(self.worker_threads),
        ]
        argv.append("--periodic" if i == 0 else "--no-periodic")
        self._spawn(node, argv)
        return node

    def stop_worker(self, i: int, sig: int = signal.SIGTERM) -> None:
        """Stop worker ``i`` (``signal.SIGKILL`` kills it mid-job, as a crash would)."""
        self._stop_node(self.workers[i], sig)

    def flask(
        self, *args: str, check: bool = True, timeout: float = 300, **env
    ) -> subprocess.CompletedProcess:
        """Run ``flask --app wsgi ARGS…`` as one more node; raises ProductionProfileError when it
        fails and ``check`` is true. ``env`` overrides settings for this run only."""
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=ROOT, env=self.env(**env), capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise ProductionProfileError(
                f"flask {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-2000:]}{result.stderr[-3000:]}"
            )
        return result

    def app(self, **overrides):
        """An app in this (test) process on the profile's database, S3, Redis, index and secret."""
        from cloud.worker import create_worker_app
        from config import Config

        settings = Config.load()
        shared = self.settings()
        settings.update(
            SQLALCHEMY_DATABASE_URI=shared["KEPU_DATABASE_URL"],
            SECRET_KEY=self.secret_key,
            RATELIMIT_STORAGE_URI=self.redis.url,
            **{k: v for k, v in shared.items() if k not in {"KEPU_DATABASE_URL", "KEPU_SECRET_KEY"}},
        )
        settings.update(overrides)
        app = create_worker_app(settings)
        self._apps.append(app)
        return app

    # -- internals -------------------------------------------------------------------------

    def _spawn(self, node: Node, argv: list[str], **env) -> None:
        if node._log is not None:
            node._log.close()
        node._log = open(node.log_path, "ab")  # noqa: SIM115 - closed in _stop_node
        node.proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env(node, **env), stdin=subprocess.DEVNULL,
            stdout=node._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def _wait_for_web(self, node: Node, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if node.proc.poll() is not None:
                raise ProductionProfileError(f"{node.name} exited:\n{node.log_tail()}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
                try:
                    connection.request("GET", "/account/login")
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            if time.monotonic() > deadline:
                raise ProductionProfileError(
                    f"{node.name} did not answer in {timeout:.0f} s:\n{node.log_tail()}"
                )
            time.sleep(0.2)

    @staticmethod
    def _stop_node(node: Node, sig: int) -> None:
        proc = node.proc
        if proc is not None:
            # start_new_session: the group id is the pid, which stays ours until wait() reaps it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
            node.proc = None
        if node._log is not None:
            node._log.close()
            node._log = None

    def _admin_engine(self):
        return create_engine(self.admin_url, isolation_level="AUTOCOMMIT")

    def extra_database(self) -> str:
        """Create one more empty database on the same server (dropped by ``stop()``); its URL."""
        name = f"kepu_extra_{secrets.token_hex(6)}"
        self._create_database(name)
        self._extra_databases.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def _create_database(self, name: str | None = None) -> None:
        engine = self._admin_engine()
        try:
            with engine.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name or self.database_name}"'))
            if name is None:
                self._database_created = True
        finally:
            engine.dispose()

    def _drop_database(self, name: str) -> None:
        engine = self._admin_engine()
        try:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            engine.dispose()


def host_port(url: str) -> tuple[str, int]:
    """(host, port) of one of ``web_urls``, for http.client."""
    parts = urlsplit(url)
    return parts.hostname, parts.port
