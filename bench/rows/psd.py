"""Row: worker memory while it processes an A3 300 dpi CMYK PSD through the wall-chart step.

    .venv/bin/python -m bench.run psd

The bench writes a flattened CMYK poster of 3508×4961 pixels at 300 dpi (A3; 17.4 Mpx, 70 MB
decoded, ~20 MB of RLE data: ``tests.support.media_fixtures.poster_psd``), then starts a fresh
worker-like process: the app with its database and local storage, a wall-chart resource made
from the file, one small warm-up job (every import and cache of the step loaded), then the
resource's processing job through ``cloud.resources.tasks.run_job`` (inspect, preview,
thumbnail, print JPEG and PDF, store, commit). It reports that process's peak RSS (``VmHWM``)
beside its RSS just before the job. With KEPU_BENCH_QUICK=1 the poster is A5 (1748×2480).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.table import QUICK, Row

ROOT = Path(__file__).resolve().parents[2]
TARGET_MB = 400

CHILD = """
import gc, io, json, logging, os, sys
from bench.rows.transcode import make_app
from cloud.accounts.models import Role, User
from cloud.accounts.service import create_user
from cloud.extensions import db
from cloud.files.service import store_file
from cloud.institutions.service import add_member, create_institution
from cloud.resources import service
from cloud.resources.models import ProcessingJob, ResourceFile
from cloud.resources.tasks import run_job
from sqlalchemy import select

logging.disable(logging.WARNING)

def status(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":")) / 1024

app = make_app(sys.argv[1])
with app.app_context():
    user = create_user(Role.INSTITUTION, phone="13800138000", password="Bench1234")
    add_member(create_institution("基准测试机构", "91350100M000100Y43", verified=True), user)
    db.session.commit()
    jobs = []
    for path in sys.argv[2:]:
        with open(path, "rb") as fh:
            stored = store_file(fh, original_name=os.path.basename(path))
        resource, _ = service.create_resource(user, "wallchart", {"title": "挂图"}, source=stored)
        db.session.commit()
        jobs.append((resource.id, db.session.scalar(
            select(ProcessingJob.id).where(ProcessingJob.resource_id == resource.id))))
    results = []
    for resource_id, job_id in jobs:
        gc.collect()
        idle = status("VmRSS")
        run_job(job_id)
        job = db.session.get(ProcessingJob, job_id)
        roles = sorted(db.session.scalars(
            select(ResourceFile.role).where(ResourceFile.resource_id == resource_id)))
        results.append({"idle": idle, "peak": status("VmHWM"), "status": job.status,
                        "error": job.error, "roles": roles})
print(json.dumps(results))
"""


def measure(size):
    from tests.support import media_fixtures

    with tempfile.TemporaryDirectory(prefix="kepu-bench-psd-") as tmp:
        warm = media_fixtures.poster_psd(Path(tmp) / "warm-up.psd", size=(300, 424))
        chart = media_fixtures.poster_psd(Path(tmp) / "poster.psd", size=size)
        app_dir = Path(tmp) / "app"
        app_dir.mkdir()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(app_dir), str(warm), str(chart)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise RuntimeError(f"the worker process failed: {out.stderr.strip().splitlines()[-1:]}")
        _warm, result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status"] != "succeeded" or "print" not in result["roles"]:
        raise RuntimeError(f"the job did not succeed: {result}")
    return result


def rows() -> list[Row]:
    from tests.support import media_fixtures

    size = (1748, 2480) if QUICK else media_fixtures.A3_300DPI
    got = measure(size)
    paper = "A5" if QUICK else "A3"
    return [
        Row(
            path=f"worker memory processing an {paper} 300 dpi CMYK PSD",
            ours=got["peak"],
            unit="MB",
            limit_label="idle RSS",
            limit=got["idle"],
            target=f"≤ {TARGET_MB} MB",
            met=got["peak"] <= TARGET_MB,
            note=f"{size[0]}×{size[1]}, preview + thumbnail + print PDF,"
            f" {got['peak'] - got['idle']:.0f} MB above idle",
        )
    ]
