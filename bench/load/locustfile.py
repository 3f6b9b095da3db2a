"""The load of a province: stations search, browse and download while institutions upload (tus)
and reviewers approve. Run by bench/load/run.py (``locust --headless``); not imported elsewhere.

Environment: ``KEPU_LOAD_ACCOUNTS`` (bench/load/seed.py's JSON), ``KEPU_LOAD_CATALOG`` (JSON
``{resource id: SHA-256 of its source}`` of what is published before the run),
``KEPU_LOAD_RECORD`` (JSON lines written here: every upload's resource id and SHA-256, every
download checked). Every answer ≥ 500, every unexpected status and every download whose bytes
differ from what was uploaded is a failure in Locust's statistics.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import json
import os
import random
import time
from pathlib import Path

from locust import HttpUser, between, events, task
from PIL import Image
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

ACCOUNTS = json.loads(Path(os.environ["KEPU_LOAD_ACCOUNTS"]).read_text(encoding="utf-8"))
CATALOG = {int(k): v for k, v in json.loads(Path(os.environ["KEPU_LOAD_CATALOG"]).read_text()).items()}
RECORD = open(os.environ["KEPU_LOAD_RECORD"], "a", encoding="utf-8")  # noqa: SIM115 - for the whole run
VIDEO = Path(os.environ.get("KEPU_LOAD_VIDEO", "")) if os.environ.get("KEPU_LOAD_VIDEO") else None
UPLOADED: dict[int, str] = {}  # resource id -> SHA-256, for the reviewers to publish
QUERIES = ["科普", "火箭", "海洋", "垃圾分类", "节约用水", "机器人", "天文 望远镜", "压测", "图片", "健康"]
_phones = {role: itertools.cycle(ACCOUNTS[role]) for role in ("stations", "institutions", "reviewers")}


def record(**fields):
    RECORD.write(json.dumps(fields, ensure_ascii=False) + "\n")
    RECORD.flush()


@events.test_stop.add_listener
def _close(**_kwargs):
    RECORD.flush()


class KepuUser(HttpUser):
    abstract = True
    role = ""

    def on_start(self):
        # A GET sent on a kept-alive connection just as the server closes it (gunicorn's keepalive
        # is 2 s, the think time 0.5-3 s) is sent again, as browsers do; nothing else is retried.
        retry = Retry(total=2, connect=2, read=2, status=0, other=0, allowed_methods={"GET", "HEAD"},
                      raise_on_status=False)  # fmt: skip
        self.client.mount("http://", HTTPAdapter(max_retries=retry))
        phone = next(_phones[self.role])
        with self.client.post(
            "/api/v1/auth/token",
            json={"login": phone, "password": ACCOUNTS["password"]},
            name="/api/v1/auth/token",
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"login {phone}: {response.status_code} {response.text[:200]}")
                self.auth = {}
                return
            self.auth = {"Authorization": f"Bearer {response.json()['token']}"}

    def expect(self, response, *statuses):
        """Mark anything but ``statuses`` (and every 5xx) a failure; True when it was expected."""
        if response.status_code in statuses:
            response.success()
            return True
        response.failure(f"{response.status_code}: {response.error or response.text[:200]!r}")
        return False


class Station(KepuUser):
    """科普中国e站: searches, browses the resource center, downloads and checks the bytes."""

    role = "stations"
    weight = 50
    wait_time = between(0.5, 2.0)

    @task(5)
    def search(self):
        query = random.choice(QUERIES)
        sort = random.choice(["relevance", "newest", "downloads"])
        with self.client.get(
            "/api/v1/search",
            params={"q": query, "sort": sort},
            headers=self.auth,
            name="/api/v1/search",
            catch_response=True,
        ) as response:
            if self.expect(response, 200) and "items" not in response.json():
                response.failure("no items in the answer")

    @task(2)
    def browse_list(self):
        with self.client.get("/resources", name="/resources (page)", catch_response=True) as response:
            self.expect(response, 200)

    @task(2)
    def browse_detail(self):
        if not CATALOG:
            return
        rid = random.choice(list(CATALOG))
        with self.client.get(
            f"/resources/{rid}", name="/resources/[id] (page)", catch_response=True
        ) as response:
            self.expect(response, 200)

    @task(2)
    def download(self):
        if not CATALOG:
            return
        rid, expected = random.choice(list(CATALOG.items()))
        with self.client.get(
            f"/api/v1/resources/{rid}/download",
            params={"rendition": "source"},
            headers=self.auth,
            allow_redirects=False,
            name="/api/v1/resources/[id]/download",
            catch_response=True,
        ) as response:
            if not self.expect(response, 302):
                return
            location = response.headers["Location"]
        digest = hashlib.sha256()
        with self.client.get(location, name="S3 presigned GET", stream=True, catch_response=True) as response:
            if not self.expect(response, 200):
                return
            for chunk in response.iter_content(256 * 1024):
                digest.update(chunk)
            actual = digest.hexdigest()
            record(download=rid, ok=actual == expected)
            if actual != expected:
                response.failure(f"resource {rid}: SHA-256 {actual} != {expected}")


def random_png(seed):
    rng = random.Random(seed)
    width, height = rng.randrange(160, 480), rng.randrange(120, 360)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def tus_metadata(filename, resource_type):
    values = {"filename": filename, "filetype": "application/octet-stream", "resource_type": resource_type}
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


class Institution(KepuUser):
    """An institution's uploader: tus uploads (images, now and then a video), waits for the
    processing, sends the resource to review."""

    role = "institutions"
    fixed_count = 5
    wait_time = between(1.0, 3.0)
    counter = itertools.count()

    @task
    def upload(self):
        n = next(self.counter)
        if VIDEO is not None and n % 5 == 4:
            kind, data, filename = "video", VIDEO.read_bytes(), f"压测视频{n}.mp4"
        else:
            kind, data, filename = "image", random_png(n), f"压测图片{n}.png"
        sha256 = hashlib.sha256(data).hexdigest()
        tus = {**self.auth, "Tus-Resumable": "1.0.0"}
        with self.client.post(
            "/api/v1/uploads/",
            headers={**tus, "Upload-Length": str(len(data)), "Upload-Metadata": tus_metadata(filename, kind)},
            name="tus create",
            catch_response=True,
        ) as response:
            if not self.expect(response, 201):
                return
            location = response.headers["Location"]
        offset, chunk = 0, max(1, len(data) // 2 + 1)  # two PATCHes: the second reads the tail back
        while offset < len(data):
            body = data[offset : offset + chunk]
            headers = {**tus, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
            with self.client.patch(
                location, data=body, headers=headers, name="tus PATCH", catch_response=True
            ) as r:
                if not self.expect(r, 204):
                    return
                offset = int(r.headers["Upload-Offset"])
        upload_id = location.rsplit("/", 1)[-1]
        payload = {
            "kind": kind,
            "title": f"压测资源{n} 科普",
            "channel": "科技",
            "upload_id": upload_id,
            "summary": random.choice(QUERIES),
        }
        with self.client.post(
            "/api/v1/resources",
            json=payload,
            headers=self.auth,
            name="/api/v1/resources (create)",
            catch_response=True,
        ) as response:
            if not self.expect(response, 201):
                return
            rid = response.json()["id"]
        UPLOADED[rid] = sha256
        record(upload=rid, sha256=sha256, kind=kind)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(1.0)
            with self.client.get(
                f"/api/v1/resources/{rid}",
                headers=self.auth,
                name="/api/v1/resources/[id]",
                catch_response=True,
            ) as response:
                if not self.expect(response, 200):
                    return
                state = response.json()["state"]
            if state == "processed":
                with self.client.post(
                    f"/api/v1/resources/{rid}/submit",
                    headers=self.auth,
                    name="/api/v1/resources/[id]/submit",
                    catch_response=True,
                ) as response:
                    self.expect(response, 200)
                return
            if state != "processing":
                return  # failed with a reason: checked by the runner after the run


class Reviewer(KepuUser):
    """专家: takes the oldest pending resource, claims and approves it."""

    role = "reviewers"
    fixed_count = 2
    wait_time = between(1.0, 2.0)

    @task
    def review(self):
        with self.client.get(
            "/api/v1/review/queue", headers=self.auth, name="/api/v1/review/queue", catch_response=True
        ) as response:
            if not self.expect(response, 200):
                return
            items = response.json()["items"]
        if not items:
            return
        rid = random.choice(items[:4])["id"]
        for action in ("claim", "approve"):
            with self.client.post(
                f"/api/v1/review/{rid}/{action}",
                headers=self.auth,
                name=f"/api/v1/review/[id]/{action}",
                catch_response=True,
            ) as response:
                # The other reviewer was first: 409 (claimed by them) or 404 (资源不存在或已审核:
                # already approved) on the claim.
                if action == "claim" and response.status_code in (404, 409):
                    response.success()
                    return
                if not self.expect(response, 200):
                    return
        if rid in UPLOADED:
            CATALOG[rid] = UPLOADED[rid]
