"""A 200 MB object goes through save() and open() without being held in memory, on both backends.

The work runs in a child Python process so that its peak RSS measures only the storage code,
not pytest or earlier tests. The child generates the bytes as it goes, so the
only way its memory can grow with the object is a backend buffering it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.once  # the database does not matter here: SQLite pass only

REPO_ROOT = Path(__file__).resolve().parents[2]
OBJECT_SIZE = 200 * 1000 * 1000
PEAK_RSS_LIMIT = 120 * 1024 * 1024

CHILD = r"""
import hashlib, json, random, resource, sys

from storage import create_storage

config, size = json.loads(sys.argv[1]), int(sys.argv[2])

# A pattern whose period (1 MiB + 7) divides no part or chunk size, so parts stored in the
# wrong order would change the hash.
PATTERN = random.Random(0).randbytes(1024 * 1024 + 7)


class Generated:
    def __init__(self, size):
        self.remaining = size
        self.offset = 0
        self.digest = hashlib.sha256()

    def read(self, n=-1):
        if n is None or n < 0:
            n = len(PATTERN)
        n = min(n, self.remaining, len(PATTERN) - self.offset)
        data = PATTERN[self.offset : self.offset + n]
        self.offset = (self.offset + n) % len(PATTERN)
        self.remaining -= n
        self.digest.update(data)
        return data


def peak_rss():
    # ru_maxrss would do, but Linux carries the parent's peak over into it on exec: started from
    # a pytest process that has held test data, the child would report pytest's memory. VmHWM
    # is the peak of this process's own address space, which exec makes new.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


storage = create_storage(config)
before = peak_rss()
source = Generated(size)
saved = storage.save("ab/two-hundred-megabytes", source, content_type="video/mp4")
read_back = hashlib.sha256()
read_size = 0
with storage.open("ab/two-hundred-megabytes") as chunks:
    for chunk in chunks:
        read_back.update(chunk)
        read_size += len(chunk)
storage.delete("ab/two-hundred-megabytes")
storage.close()
print(json.dumps({
    "generated": source.digest.hexdigest(),
    "saved": saved.sha256,
    "saved_size": saved.size,
    "read": read_back.hexdigest(),
    "read_size": read_size,
    "rss_before": before,
    "rss_peak": peak_rss(),
}))
"""


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage_config(request: pytest.FixtureRequest, tmp_path) -> dict:
    if request.param == "local":
        return {"KEPU_STORAGE": "local", "KEPU_STORAGE_DIR": str(tmp_path / "objects")}
    return request.getfixturevalue("s3_config")()


def test_200_mb_object_streams_with_bounded_memory(storage_config):
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", CHILD, json.dumps(storage_config), str(OBJECT_SIZE)],
        cwd=REPO_ROOT,
        # The child must import this checkout's storage package, whatever PYTHONPATH said.
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["saved_size"] == report["read_size"] == OBJECT_SIZE
    assert report["saved"] == report["generated"]
    assert report["read"] == report["generated"]
    peak_mb = report["rss_peak"] / 2**20
    assert report["rss_peak"] < PEAK_RSS_LIMIT, f"peak RSS {peak_mb:.0f} MiB"
