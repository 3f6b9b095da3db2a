"""Run the load test against the production profile and check that nothing was lost.

    .venv/bin/python -m bench.load.run [--seconds 180]

Starts a throw-away PostgreSQL (tests/support/postgres.py) unless ``KEPU_TEST_DATABASE_URL`` names
a migrated one, then the production profile of tests/support/restartable_profile.py: SeaweedFS S3,
Redis, gunicorn with 2 web processes (4 threads each) and 2 task workers. Publishes a few
resources, then runs Locust headless on loopback: 50 stations searching, browsing and
downloading (every download's SHA-256 checked against the upload's), 5 institutions uploading by
tus, 2 reviewers approving. Afterwards every upload must have ended processed, or failed with a
reason, and no request may have failed. Prints requests/s, p50/p95 per endpoint and the errors.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.restartable_profile import RestartableProfile  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
IMAGES = [
    "pillow_flower.jpg",
    "pillow_iptc.jpg",
    "pillow_pil_sample_cmyk.jpg",
    "sharp_2569067123_aca715a2ee_o.jpg",
]
SEED_TITLES = [
    "科普火箭发射",
    "海洋生物科普",
    "垃圾分类小知识",
    "节约用水挂图",
    "机器人科普",
    "天文望远镜",
    "健康生活图片",
    "科普图片集",
]


@dataclass
class Endpoint:
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float


@dataclass
class LoadReport:
    seconds: float
    endpoints: list[Endpoint]
    total: Endpoint
    failures: list[str]
    server_errors: int
    uploads: int
    processed: int
    failed_with_reason: int
    unfinished: list[int]
    downloads_checked: int
    downloads_bad: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems

    def table(self):
        lines = [
            f"load: {self.seconds:.0f} s, {self.total.requests} requests, {self.total.rps:.1f} req/s, "
            f"{self.total.failures} failed ({self.server_errors} server errors)",
            f"uploads: {self.uploads} ({self.processed} processed, "
            f"{self.failed_with_reason} failed with a reason, {len(self.unfinished)} unfinished); "
            f"downloads checked by SHA-256: {self.downloads_checked} ({self.downloads_bad} differ)",
            "| endpoint | requests | failures | req/s | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|",
        ]
        for e in [*self.endpoints, self.total]:
            lines.append(
                f"| {e.name} | {e.requests} | {e.failures} | {e.rps:.1f} | {e.p50:.0f} | {e.p95:.0f} |"
            )
        lines += [f"FAILURE {f}" for f in self.failures]
        lines += [f"PROBLEM {p}" for p in self.problems]
        return "\n".join(lines)


class Client:
    def __init__(self, base, phone, password):
        self.base = base
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only, whatever http_proxy says
        answer = self.session.post(f"{base}/api/v1/auth/token", json={"login": phone, "password": password})
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def call(self, method, path, **kwargs):
        answer = self.session.request(method, f"{self.base}{path}", timeout=60, **kwargs)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json() if answer.content else None


def publish_seed(profile, accounts, count):
    """Publish ``count`` images through the API; return ``{resource id: SHA-256 of the source}``."""
    owner = Client(profile.url, accounts["institutions"][0], accounts["password"])
    reviewer = Client(profile.url, accounts["reviewers"][0], accounts["password"])
    made = {}
    for n in range(count):
        content = (TESTDATA / "images" / IMAGES[n % len(IMAGES)]).read_bytes()
        fields = {"kind": "image", "title": SEED_TITLES[n % len(SEED_TITLES)], "channel": "科技"}
        answer = owner.call(
            "POST", "/api/v1/resources", data=fields, files={"file": (f"{n}.jpg", io.BytesIO(content))}
        )
        made[answer["id"]] = hashlib.sha256(content).hexdigest()
    deadline = time.monotonic() + 180
    pending = set(made)
    while pending and time.monotonic() < deadline:
        for rid in list(pending):
            state = owner.call("GET", f"/api/v1/resources/{rid}")["state"]
            if state == "processed":
                owner.call("POST", f"/api/v1/resources/{rid}/submit")
                reviewer.call("POST", f"/api/v1/review/{rid}/claim")
                reviewer.call("POST", f"/api/v1/review/{rid}/approve")
                pending.discard(rid)
            elif state != "processing":
                raise RuntimeError(f"seed resource {rid} ended {state}\n{profile.logs()}")
        time.sleep(0.5)
    if pending:
        raise RuntimeError(f"seed resources not processed: {sorted(pending)}\n{profile.logs()}")
    return made


def read_stats(prefix):
    endpoints, total = [], None
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            endpoint = Endpoint(
                name=row["Name"] if row["Name"] != "Aggregated" else "all",
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=float(row["Requests/s"]),
                p50=float(row["50%"] or 0),
                p95=float(row["95%"] or 0),
            )
            if row["Name"] == "Aggregated":
                total = endpoint
            else:
                endpoints.append(endpoint)
    failures = []
    with open(f"{prefix}_failures.csv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            failures.append(f"{row['Method']} {row['Name']} ×{row['Occurrences']}: {row['Error'][:300]}")
    return endpoints, total, failures


def upload_outcomes(database_url, rids, timeout=240):
    """Wait until no uploaded resource is 处理中; return ``{id: (state, job error)}``."""
    engine = create_engine(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT r.id, r.state, (SELECT j.error FROM processing_job j "
                        "WHERE j.resource_id = r.id ORDER BY j.id DESC LIMIT 1) "
                        "FROM resource r WHERE r.id = ANY(:ids)"
                    ),
                    {"ids": list(rids)},
                ).all()
            outcome = {row[0]: (row[1], row[2] or "") for row in rows}
            if all(state != "processing" for state, _ in outcome.values()) or time.monotonic() > deadline:
                return outcome
            time.sleep(1)
    finally:
        engine.dispose()


def run_load(database_url, seconds, workdir, *, stations=50, institutions=5, reviewers=2, seed_count=8):
    """Start the profile in ``workdir`` (the database must be migrated and empty), run the load for
    ``seconds`` and return a LoadReport."""
    workdir = Path(workdir)
    with RestartableProfile(
        database_url, workdir / "profile", web_processes=2, threads=4, workers=2
    ) as profile:
        accounts_path = workdir / "accounts.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.load.seed",
                "--stations",
                str(stations),
                "--institutions",
                str(institutions),
                "--reviewers",
                str(reviewers),
                "--out",
                str(accounts_path),
            ],
            cwd=ROOT,
            env=profile.env,
            check=True,
            capture_output=True,
        )
        accounts = json.loads(accounts_path.read_text(encoding="utf-8"))
        catalog = publish_seed(profile, accounts, seed_count)
        (workdir / "catalog.json").write_text(json.dumps(catalog))
        record_path = workdir / "record.jsonl"
        prefix = workdir / "locust"
        env = {
            **profile.env,
            "KEPU_LOAD_ACCOUNTS": str(accounts_path),
            "KEPU_LOAD_CATALOG": str(workdir / "catalog.json"),
            "KEPU_LOAD_RECORD": str(record_path),
            "KEPU_LOAD_VIDEO": str(TESTDATA / "video" / "moviepy_smpte-2997.mp4"),
            "NO_PROXY": "*",
        }
        users = stations + institutions + reviewers
        locust = str(Path(sys.executable).with_name("locust"))
        started = time.monotonic()
        result = subprocess.run(
            [
                locust,
                "-f",
                str(ROOT / "bench" / "load" / "locustfile.py"),
                "--headless",
                "-u",
                str(users),
                "-r",
                "20",
                "-t",
                f"{seconds}s",
                "--stop-timeout",
                "90",
                "--host",
                profile.url,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 300,
            check=False,
        )
        elapsed = time.monotonic() - started
        records = [json.loads(line) for line in record_path.read_text(encoding="utf-8").splitlines()]
        uploads = {r["upload"] for r in records if "upload" in r}
        outcomes = upload_outcomes(database_url, uploads) if uploads else {}
        logs = profile.logs()
    endpoints, total, failures = read_stats(prefix)
    downloads = [r for r in records if "download" in r]
    server_errors = sum(int(f.split("×", 1)[1].split(":", 1)[0]) for f in failures if ": 5" in f)
    processed = [rid for rid, (state, _) in outcomes.items() if state not in ("processing", "failed")]
    failed = [rid for rid, (state, error) in outcomes.items() if state == "failed" and error]
    unfinished = sorted(uploads - set(processed) - set(failed))
    report = LoadReport(
        seconds=elapsed,
        endpoints=endpoints,
        total=total,
        failures=failures,
        server_errors=server_errors,
        uploads=len(uploads),
        processed=len(processed),
        failed_with_reason=len(failed),
        unfinished=unfinished,
        downloads_checked=len(downloads),
        downloads_bad=sum(1 for r in downloads if not r["ok"]),
    )
    if result.returncode not in (0, 1):  # 1: Locust saw failures (reported below)
        report.problems.append(f"locust exited {result.returncode}: {result.stderr[-2000:]}")
    if total is None or total.failures:
        report.problems.append("requests failed")
    if unfinished:
        report.problems.append(f"uploads neither processed nor failed with a reason: {unfinished}")
    if not uploads or not downloads:
        report.problems.append("no upload or no download happened")
    if report.downloads_bad:
        report.problems.append("downloads differ from what was uploaded")
    if report.problems:
        report.problems.append(f"locust stderr: {result.stderr[-3000:]}\n{logs[-6000:]}")
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=180)
    args = parser.parse_args()
    report = measure(args.seconds)
    print(report.table())
    return 0 if report.ok else 1


def measure(seconds):
    """The load test on its own PostgreSQL server, migrated here."""
    from tests.support.postgres import PostgresServer

    workdir = Path(tempfile.mkdtemp(prefix="kepu-load-"))
    server = PostgresServer()
    try:
        server.start()
        env = {"KEPU_DATABASE_URL": server.url, "KEPU_INSTANCE_DIR": str(workdir / "migrate")}
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        return run_load(server.url, seconds, workdir)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
