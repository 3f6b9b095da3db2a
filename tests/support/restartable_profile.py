"""The production profile as separate processes whose parts can be stopped and started (fault and load tests).

    with RestartableProfile(database_url, workdir) as profile:   # S3 + Redis + web + workers
        profile.url                     # the gunicorn web processes (``--workers 2``)
        profile.kill_worker(0)          # SIGKILL one task worker (and its ffmpeg)
        profile.restart_redis()         # same port, empty (no persistence, like a crashed node)
        profile.stop_s3(); profile.start_s3()   # same ports, same data

Each node shares only what separate machines would: the PostgreSQL database (``database_url``, the
suite's ``KEPU_TEST_DATABASE_URL``; its schema must be migrated), Redis (queue), the S3 server
(objects) and the search-index directory (a shared volume). Everything is on loopback ports and
in ``workdir``; every process is started in its own session and stopped by PID.

Kept small on purpose: tests/support/production.py (the "prod-profile" harness) is the general
one; this one adds what faults need (restarting S3 and Redis in place, killing one worker).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import free_port
from tests.support.redis_server import RedisServer
from tests.support.seaweedfs import SeaweedFS

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RestartableSeaweedFS(SeaweedFS):
    """A SeaweedFS server that can be stopped and started again on the same ports and data."""

    def halt(self) -> None:
        """Stop the server (SIGKILL, as a crashed node) and keep its data directory and ports."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        self._remove_stray_sockets()

    def resume(self) -> None:
        """Start the halted server again with its old ports and data; wait until it stores objects."""
        self._process = subprocess.Popen(
            self._argv,
            cwd=self.workdir,
            env=self._env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until_ready()


class Proc:
    """One started process with its log file, stopped by PID (its whole process group)."""

    def __init__(self, name: str, argv: list[str], env: dict, log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
        else:
            # The leader is gone; its group (an ffmpeg child) may not be.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class RestartableProfile:
    """S3 (SeaweedFS), Redis, ``web_processes`` gunicorn workers and ``workers`` task workers."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        web_processes: int = 2,
        threads: int = 4,
        workers: int = 2,
        bucket: str = "kepu-profile",
        settings: dict | None = None,
    ):
        self.database_url = database_url
        self.workdir = Path(workdir)
        self.web_processes, self.threads, self.worker_count = web_processes, threads, workers
        self.bucket = bucket
        self.settings = settings or {}
        self.s3 = RestartableSeaweedFS(stop_timeout=3)
        self.redis = RedisServer()
        self.web: Proc | None = None
        self.workers: list[Proc] = []
        self.port = free_port()
        self.env: dict = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def storage_settings(self) -> dict:
        return {
            "KEPU_STORAGE": "s3",
            "KEPU_S3_ENDPOINT": self.s3.endpoint,
            "KEPU_S3_BUCKET": self.bucket,
            "KEPU_S3_ACCESS_KEY": self.s3.access_key,
            "KEPU_S3_SECRET_KEY": self.s3.secret_key,
            "KEPU_S3_REGION": self.s3.region,
        }

    def start(self) -> RestartableProfile:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.s3.start()
        self.redis.start()
        self.env = {
            **os.environ,
            "KEPU_DATABASE_URL": self.database_url,
            "KEPU_REDIS_URL": self.redis.url,
            "KEPU_INSTANCE_DIR": str(self.workdir / "instance"),
            "KEPU_INDEX_DIR": str(self.workdir / "search-index"),
            "KEPU_WORK_DIR": str(self.workdir / "scratch"),
            "KEPU_SECRET_KEY": secrets.token_hex(32),
            "KEPU_SMS_BACKEND": "outbox",
            "KEPU_SMS_OUTBOX": str(self.workdir / "sms.jsonl"),
            "KEPU_ARGON2_TIME_COST": "1",
            "KEPU_ARGON2_MEMORY_KIB": "8192",
            "KEPU_LOGIN_RATE_LIMIT": "100000 per minute",
            "KEPU_LOGIN_ACCOUNT_RATE_LIMIT": "100000 per minute",
            "MALLOC_ARENA_MAX": "2",
            **self.storage_settings(),
            **{k: str(v) for k, v in self.settings.items()},
        }
        self.env.pop("KEPU_TEST_DATABASE_URL", None)
        (self.workdir / "scratch").mkdir(exist_ok=True)
        self.start_web()
        for _ in range(self.worker_count):
            self.start_worker()
        return self

    def stop(self) -> None:
        for proc in [*self.workers, *([self.web] if self.web else [])]:
            proc.stop(signal.SIGTERM, timeout=10)
        self.workers, self.web = [], None
        self.redis.stop()
        self.s3.stop()

    def __enter__(self) -> RestartableProfile:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- nodes --------------------------------------------------------------------------------

    def start_web(self) -> Proc:
        argv = [
            str(BIN / "gunicorn"),
            "-c",
            "scripts/gunicorn.conf.py",
            "--workers",
            str(self.web_processes),
            "--threads",
            str(self.threads),
            "--timeout",
            "120",
            "--no-control-socket",
            # Longer than any client's pause between requests (the load test's is at most 3 s):
            # with gunicorn's 2 s a request sent on a kept-alive connection just as the server
            # closes it is reset, and a POST cannot be sent again (nginx in front keeps its own).
            "--keep-alive",
            "10",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
            "wsgi:app",
        ]
        # PGAPPNAME names the connections in pg_stat_activity (tests cut them by name).
        self.web = Proc("web", argv, {**self.env, "PGAPPNAME": "kepu-web"}, self.workdir / "logs")
        self._wait_for_web()
        return self.web

    def web_pids(self) -> list[int]:
        """The gunicorn worker processes (the master only forwards)."""
        import psutil

        return [child.pid for child in psutil.Process(self.web.pid).children()]

    def start_worker(self) -> Proc:
        argv = [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--workers", "1"]
        env = {**self.env, "PGAPPNAME": "kepu-worker"}
        proc = Proc(f"worker-{time.monotonic_ns()}", argv, env, self.workdir / "logs")
        self.workers.append(proc)
        return proc

    def kill_worker(self, index: int) -> Proc:
        """SIGKILL worker ``index`` and its children (ffmpeg), as a node that lost power."""
        proc = self.workers.pop(index)
        proc.stop(signal.SIGKILL)
        return proc

    def restart_redis(self) -> None:
        """Stop Redis and start an empty one on the same port (a restart without persistence)."""
        self.redis.stop()
        os.makedirs(self.redis.dir, exist_ok=True)
        self.redis.start()

    def stop_s3(self) -> None:
        self.s3.halt()

    def start_s3(self) -> None:
        self.s3.resume()

    def flask(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``flask --app wsgi ARGS`` as an operator on another node would."""
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"flask {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def logs(self) -> str:
        """The end of every log, for assertion messages."""
        parts = []
        for path in sorted((self.workdir / "logs").glob("*.log")):
            parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(parts)

    def _wait_for_web(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.web.alive():
                raise RuntimeError(f"gunicorn exited:\n{self.web.output()[-3000:]}")
            try:
                with _DIRECT.open(f"{self.url}/api/v1/openapi.json", timeout=5) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                exc.close()
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer:\n{self.web.output()[-3000:]}")
