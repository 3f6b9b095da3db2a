"""Run a command against a throw-away PostgreSQL server: ``python -m tests.support.postgres -- CMD…``.

Starts a fresh cluster in a temporary directory on a free loopback port (as the ``postgres`` user
when run as root, because initdb refuses root), creates a database, runs CMD with
``KEPU_TEST_DATABASE_URL`` pointing at it, and stops the server by PID afterwards.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from tests.support import free_port


def _bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3]))
    if not found:
        sys.exit("PostgreSQL is not installed (scripts/install-system.sh test installs it)")
    return os.path.dirname(found[-1])


class PostgresServer:
    def __init__(self):
        self.bindir = _bindir()
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="kepu-pg-")
        self.proc = None
        self.as_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self):
        return f"postgresql+psycopg://kepu@127.0.0.1:{self.port}/kepu_test"

    def start(self):
        data = os.path.join(self.dir, "data")
        subprocess.run(
            [
                *self.as_user,
                f"{self.bindir}/initdb",
                "-D",
                data,
                "-U",
                "kepu",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale",
                "C.UTF-8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.log = open(os.path.join(self.dir, "server.log"), "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                *self.as_user,
                f"{self.bindir}/postgres",
                "-D",
                data,
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.dir}",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [f"{self.bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                stdout=subprocess.DEVNULL,
                check=False,
            )
            if ready.returncode == 0:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit("PostgreSQL did not start")
            time.sleep(0.2)
        subprocess.run(
            [f"{self.bindir}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "kepu", "kepu_test"],
            check=True,
        )

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # "fast" shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit(__doc__)
    server = PostgresServer()
    server.start()
    try:
        print(f"PostgreSQL on 127.0.0.1:{server.port}; running: {' '.join(argv)}", flush=True)
        env = dict(os.environ, KEPU_TEST_DATABASE_URL=server.url)
        return subprocess.run(argv, env=env, check=False).returncode
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
