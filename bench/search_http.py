"""The HTTP half of bench/search_bench.py: the search page and API under the same load.

Builds a database whose published resources are exactly the indexed documents (so every hit is
a real row the page renders), starts the app under gunicorn as ``scripts/serve.sh`` runs it, and
times ``GET /resources?q=…`` and ``GET /api/v1/search?q=…`` with the benchmark's query list.
"""

import contextlib
import datetime as dt
import http.client
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _populate(database_url, docs):
    """Insert one institution, one uploader and a published resource per document."""
    from sqlalchemy import create_engine, insert

    from cloud.accounts.models import User
    from cloud.extensions import db
    from cloud.institutions.models import Institution
    from cloud.resources.models import Resource

    engine = create_engine(database_url)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Institution.__table__),
            [{"id": 1, "name": "基准测试机构", "credit_code": "91350100M000100Y43", "kind": "科协",
              "contact_name": "", "contact_phone": "", "status": "verified", "reject_reason": "",
              "created_at": now}],
        )  # fmt: skip
        conn.execute(
            insert(User.__table__),
            [{"id": 1, "phone": "13800138000", "name": "", "password_hash": "x", "is_active": True,
              "institution_id": 1, "is_institution_manager": True, "created_at": now}],
        )  # fmt: skip
        rows = []
        for doc in docs:
            published = doc["published_at"]
            if published.tzinfo is None:
                published = published.replace(tzinfo=dt.UTC)
            rows.append(
                {
                    "id": int(doc["id"]),
                    "kind": doc["kind"],
                    "title": doc["title"][:200],
                    "summary": doc.get("summary") or "",
                    "channel": doc.get("channel") or "其他",
                    "tags": ",".join(doc.get("tags") or []) if isinstance(doc.get("tags"), list) else "",
                    "body_html": "",
                    "body_text": "",
                    "institution_id": 1,
                    "uploader_id": 1,
                    "state": "approved",
                    "created_at": published,
                    "updated_at": published,
                    "published_at": published,
                    "download_count": int(doc.get("downloads") or 0),
                }
            )
            if len(rows) == 5000:
                conn.execute(insert(Resource.__table__), rows)
                rows = []
        if rows:
            conn.execute(insert(Resource.__table__), rows)
    engine.dispose()
    del db


@contextlib.contextmanager
def serve_app(index_path, docs, app_spec="wsgi:app"):
    """Serve the app on ``index_path`` and a database holding ``docs`` under gunicorn, as
    ``scripts/serve.sh`` runs it (KEPU_WEB_WORKERS × KEPU_WEB_THREADS, default 2 × 4); yields the port."""
    from tests.support import free_port

    workdir = Path(index_path).parent / "app"
    workdir.mkdir(exist_ok=True)
    for leftover in workdir.glob("kepu.db*"):  # a database of an earlier run (--keep)
        leftover.unlink()
    env = {
        **os.environ,
        "KEPU_INSTANCE_DIR": str(workdir),
        "KEPU_DATABASE_URL": f"sqlite:///{workdir / 'kepu.db'}",
        "KEPU_INDEX_DIR": str(index_path),
        "KEPU_QUEUE_FILE": str(workdir / "queue.sqlite3"),
        "KEPU_SECRET_KEY": "search-bench",
        "MALLOC_ARENA_MAX": "2",
    }
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    _populate(env["KEPU_DATABASE_URL"], docs)
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    # As scripts/serve.sh runs it, with the same settings (two processes of four threads).
    web_workers = os.environ.get("KEPU_WEB_WORKERS", "2")
    web_threads = os.environ.get("KEPU_WEB_THREADS", "4")
    print(f"gunicorn: {web_workers} processes of {web_threads} threads", flush=True)
    argv = [gunicorn, "--workers", web_workers, "--threads", web_threads, "--bind", f"127.0.0.1:{port}"]
    server = subprocess.Popen(
        [*argv, "--log-level", "warning", "--no-control-socket", app_spec],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        _wait(port, server)
        yield port
    finally:
        os.killpg(server.pid, 15)
        server.wait(30)


def get(port, path):
    """One GET on a connection of its own (as browsers behind a proxy mostly arrive; loopback
    connects cost a fraction of a millisecond). Raises RuntimeError unless it answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")


def search_url(base, text, options):
    params = {"q": text}
    if "kind" in options:
        params["type"] = options["kind"]
    if "sort" in options:
        params["sort"] = options["sort"]
    return f"{base}?{urllib.parse.urlencode(params)}"


def bench_http(index_path, docs, threads, rounds, queries, run_load, summarize):
    """Return {"page": summary, "api": summary} for the app serving ``index_path``."""
    with serve_app(index_path, docs) as port:
        results = {}
        for name, base in (("page", "/resources"), ("api", "/api/v1/search")):
            for text, options in queries:  # warm up both workers' searchers
                get(port, search_url(base, text, options))
                get(port, search_url(base, text, options))
            latencies = run_load(
                lambda text, options, b=base: get(port, search_url(b, text, options)), threads, rounds
            )
            results[name] = summarize(latencies)
        return results


def _wait(port, server):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer")
