"""The processing job: turn a resource's source into what stations need, and recover lost jobs.

A job runs in a scratch directory, stores every rendition it made as new objects, then swaps them
in with one commit: a job killed at any moment leaves either the old renditions or the new ones,
never both and never half (objects it stored before dying are orphans the sweep removes).
"""

import glob
import logging
import os
import shutil
import socket
import tempfile
from datetime import timedelta

from flask import current_app
from huey import crontab
from sqlalchemy import select, update

from cloud.extensions import db
from cloud.files.service import get_storage, store_file
from cloud.media.ffmpeg import MediaError, MediaRejected
from cloud.models_base import utcnow
from cloud.queue import app_task, huey
from cloud.resources import pipeline
from cloud.resources.lifecycle import State, transition
from cloud.resources.models import AUTHORED_ROLES, JobStatus, ProcessingJob, ResourceFile, Role
from cloud.resources.service import AfterCommit, drop_files
from storage import StorageError

log = logging.getLogger(__name__)

HOST = socket.gethostname()
MAX_ATTEMPTS = 3


def this_worker():
    return f"{HOST}:{os.getpid()}"


def worker_is_dead(worker):
    """True if ``worker`` ("host:pid") ran on this host and that process is gone."""
    host, _, pid = (worker or "").rpartition(":")
    if host != HOST or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@app_task(retries=MAX_ATTEMPTS - 1, retry_delay=5, retry_backoff=2)
def process_resource(job_id):
    """Run job ``job_id``; transient faults raise so Huey retries with back-off."""
    run_job(job_id)


def run_job(job_id):
    job = db.session.get(ProcessingJob, job_id)
    if job is None or job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.SUPERSEDED):
        return  # done already, or replaced by a newer job: a re-delivered task is harmless
    resource = job.resource
    if resource.state != State.PROCESSING or resource.latest_job.id != job.id:
        job.status = JobStatus.SUPERSEDED
        db.session.commit()
        return
    lease = current_app.config["KEPU_JOB_LEASE_SECONDS"]
    job.status = JobStatus.RUNNING
    job.attempts += 1
    job.started_at = utcnow()
    job.lease_until = utcnow() + timedelta(seconds=lease)
    job.worker = this_worker()
    job.step, job.progress, job.error = "准备", 0, ""
    db.session.commit()

    def progress(step, percent):
        # Its own short UPDATE: the uploader sees it at once, and the lease stays fresh.
        db.session.execute(
            update(ProcessingJob)
            .where(ProcessingJob.id == job_id)
            .values(step=step, progress=int(percent), lease_until=utcnow() + timedelta(seconds=lease))
        )
        db.session.commit()

    workdir = tempfile.mkdtemp(prefix=f"kepu-job-{job_id}-", dir=_scratch_root())
    after = AfterCommit()
    try:
        result = pipeline.run(resource, workdir, progress)
        progress("保存", 95)
        after = _swap_renditions(resource, result)
        transition(resource, State.PROCESSED, comment="处理完成")
        _finish(job, JobStatus.SUCCEEDED)
        db.session.commit()
    except MediaRejected as exc:
        db.session.rollback()
        _fail(job_id, exc.message, exc.detail)
    except (MediaError, StorageError, OSError) as exc:
        db.session.rollback()
        message = getattr(exc, "message", None) or "处理时发生临时故障，稍后将自动重试"
        job = db.session.get(ProcessingJob, job_id)
        if job.attempts >= MAX_ATTEMPTS:
            _fail(job_id, message, repr(exc))
        else:
            job.status, job.error, job.detail = JobStatus.QUEUED, message, repr(exc)
            db.session.commit()
            raise
    except Exception as exc:
        # A bug, not the file's fault: fail visibly rather than retrying forever.
        log.exception("processing job %s crashed", job_id)
        db.session.rollback()
        _fail(job_id, "处理时发生内部错误，请联系管理员", repr(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    after.run()


def _swap_renditions(resource, result):
    """Store the new renditions and drop the old ones, in the caller's transaction."""
    source = resource.file(Role.SOURCE)
    if source is not None:
        columns, extra = _split_facts(result.source_facts)
        for name, value in columns.items():
            setattr(source, name, value)
        source.facts = {**(source.facts or {}), **extra}
    old = [f for f in resource.files if f.role not in AUTHORED_ROLES]
    after = AfterCommit(drop_files(resource, old))
    if source is not None and result.clean_source is not None:
        after.extend(_replace_source_object(source, result.clean_source))
    for output in result.outputs:
        with open(output.path, "rb") as stream:
            stored = store_file(stream, original_name=output.name, content_type=output.mime)
        columns, extra = _split_facts(output.facts)
        resource.files.append(
            ResourceFile(role=output.role, stored_file=stored, mime_type=output.mime, facts=extra, **columns)
        )
    if result.body_text is not None:
        resource.body_text = result.body_text
    db.session.flush()
    return after


def _replace_source_object(source, path):
    """Make the location-free copy at ``path`` the source's stored object; the old one goes after
    the commit. Stations, reviewers and the owner are all served the copy from then on, so what
    is served is what was stored (its own size and SHA-256); the original's are kept as facts."""
    original = source.stored_file
    with open(path, "rb") as stream:
        stored = store_file(stream, original_name=original.original_name, content_type=original.content_type)
    source.facts = {
        **(source.facts or {}),
        "location_removed": True,
        "original_size": original.size,
        "original_sha256": original.sha256,
    }
    source.stored_file = stored
    db.session.flush()
    key = original.key
    db.session.delete(original)
    db.session.flush()
    storage = get_storage()
    return [lambda: storage.delete(key)]


def _split_facts(facts):
    """Facts with a column of their own, and the rest (kept in the JSON ``facts``)."""
    columns = {k: v for k, v in facts.items() if k in ResourceFile.FACT_COLUMNS}
    extra = {k: v for k, v in facts.items() if k not in ResourceFile.FACT_COLUMNS}
    return columns, extra


def _finish(job, status, error="", detail=""):
    job.status = status
    job.error = error[:500]
    job.detail = detail[-4000:]
    job.finished_at = utcnow()
    job.lease_until = None
    job.progress = 100 if status == JobStatus.SUCCEEDED else job.progress


def _fail(job_id, message, detail):
    job = db.session.get(ProcessingJob, job_id)
    _finish(job, JobStatus.FAILED, message, detail)
    resource = job.resource
    if resource.state == State.PROCESSING and resource.latest_job.id == job.id:
        transition(resource, State.FAILED, comment=message)
    db.session.commit()
    log.warning("processing job %s failed: %s (%s)", job_id, message, detail)


def requeue_stale_jobs():
    """Re-enqueue running jobs whose worker died; return their ids.

    Huey hands a task to one worker and forgets it, so a killed worker's task is gone from the
    queue. The job row still says "running": its lease has run out, or (same host) its process
    no longer exists.
    """
    now = utcnow()
    running = db.session.scalars(select(ProcessingJob).where(ProcessingJob.status == JobStatus.RUNNING)).all()
    stale = [j for j in running if (j.lease_until and j.lease_until < now) or worker_is_dead(j.worker)]
    for job in stale:
        job.status = JobStatus.QUEUED
        job.detail = f"requeued: worker {job.worker} stopped"
        _remove_scratch(job.id)
    db.session.commit()
    for job in stale:
        process_resource(job.id)
    if stale:
        log.warning("requeued %d stale processing jobs", len(stale))
    return [job.id for job in stale]


def _scratch_root():
    return current_app.config.get("KEPU_WORK_DIR") or tempfile.gettempdir()


def _remove_scratch(job_id):
    """Remove what a dead worker left in its scratch directories for ``job_id``."""
    for path in glob.glob(os.path.join(_scratch_root(), f"kepu-job-{job_id}-*")):
        shutil.rmtree(path, ignore_errors=True)


@huey.periodic_task(crontab(minute="*"), name="requeue_stale_jobs")
def requeue_stale_jobs_periodically():
    from cloud.queue import worker_app

    with worker_app().app_context():
        requeue_stale_jobs()


def sweep_orphans(older_than_hours=24):
    """Delete stored objects no row points to (written, then the commit failed); return the count."""
    from cloud.files.models import StoredFile

    cutoff = utcnow() - timedelta(hours=older_than_hours)
    storage = get_storage()
    known = set(db.session.scalars(select(StoredFile.key)))
    removed = 0
    # Young objects may belong to a job or upload whose commit is still to come: leave them.
    for key in storage.iter_keys("f/"):
        if key not in known and storage.modified_at(key) < cutoff:
            storage.delete(key)
            removed += 1
    return removed
