"""The processing job: turn a resource's source into what stations need, and recover lost jobs.

A job runs in a scratch directory, stores every rendition it made as new objects, then swaps them
in with one commit: a job killed at any moment leaves either the old renditions or the new ones,
never both and never half (objects it stored before dying are orphans the sweep removes).

Web processes import this module to enqueue; only a worker runs a job. The media pipeline (and
with it Pillow's PSD side, psd-tools, ffmpeg-python, mutagen) is therefore not imported here: a
worker's app carries it (``cloud.worker.create_worker_app``) and ``run_job`` takes it from there,
so a web process never loads what it never runs.
"""

import glob
import logging
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, has_app_context
from huey import crontab
from sqlalchemy import and_, or_, select, update

from cloud.extensions import db
from cloud.files.service import get_storage, store_file
from cloud.media.ffmpeg import MediaError, MediaRejected
from cloud.models_base import utcnow
from cloud.queue import app_task, huey
from cloud.resources.lifecycle import State, transition
from cloud.resources.models import AUTHORED_ROLES, JobStatus, ProcessingJob, ResourceFile, Role
from cloud.resources.service import AfterCommit, drop_files, mark_enqueued
from storage import StorageError

log = logging.getLogger(__name__)

HOST = socket.gethostname()
MAX_ATTEMPTS = 3
#: Where a worker's app keeps the media pipeline (``app.extensions``).
PIPELINE_EXTENSION = "kepu.pipeline"


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


def pipeline_of(app):
    """The media pipeline a worker's app carries (``cloud.worker``); raises RuntimeError in a
    web app, which enqueues jobs and never runs them."""
    try:
        return app.extensions[PIPELINE_EXTENSION]
    except KeyError:
        raise RuntimeError(
            "this app has no media pipeline: processing jobs run in a worker "
            "(cloud.worker.create_worker_app, `flask worker`)"
        ) from None


@app_task(retries=MAX_ATTEMPTS - 1, retry_delay=5, retry_backoff=2)
def process_resource(job_id):
    """Run job ``job_id``; transient faults raise so Huey retries with back-off."""
    run_job(job_id)


def run_job(job_id):
    run_pipeline = pipeline_of(current_app)
    job = db.session.get(ProcessingJob, job_id)
    if job is None or job.status != JobStatus.QUEUED:
        # Done already, replaced by a newer job, or running on another worker: a task delivered
        # twice (a recovery sweep re-enqueued a job that was only waiting) is harmless.
        return
    resource = job.resource
    if resource.state != State.PROCESSING or resource.latest_job.id != job.id:
        job.status = JobStatus.SUPERSEDED
        db.session.commit()
        return
    lease = current_app.config["KEPU_JOB_LEASE_SECONDS"]
    # Claimed with a compare-and-set, so two deliveries of the same job run it once.
    claimed = db.session.execute(
        update(ProcessingJob)
        .where(ProcessingJob.id == job_id, ProcessingJob.status == JobStatus.QUEUED)
        .values(
            status=JobStatus.RUNNING,
            attempts=ProcessingJob.attempts + 1,
            started_at=utcnow(),
            lease_until=utcnow() + timedelta(seconds=lease),
            worker=this_worker(),
            step="准备",
            progress=0,
            error="",
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if claimed != 1:
        return
    db.session.refresh(job)

    def progress(step, percent):
        # Its own short UPDATE: the uploader sees it at once, and the lease stays fresh.
        db.session.execute(
            update(ProcessingJob)
            .where(ProcessingJob.id == job_id)
            .values(step=step, progress=int(percent), lease_until=utcnow() + timedelta(seconds=lease))
        )
        db.session.commit()

    workdir = None
    after = AfterCommit()
    try:
        # Inside the try: a scratch space that cannot be made is a fault the job is retried
        # for, never a job left "running" until its lease runs out.
        workdir = tempfile.mkdtemp(prefix=_scratch_prefix(job_id, os.getpid()), dir=_scratch_root())
        result = run_pipeline(resource, workdir, progress)
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
            job.enqueued_at = utcnow()  # Huey retries it: not lost
            db.session.commit()
            raise
    except Exception as exc:
        # A bug, not the file's fault: fail visibly rather than retrying forever.
        log.exception("processing job %s crashed", job_id)
        db.session.rollback()
        _fail(job_id, "处理时发生内部错误，请联系管理员", repr(exc))
    finally:
        if workdir is not None:
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
            stored = store_file(
                stream,
                original_name=output.name,
                content_type=output.mime,
                institution_id=resource.institution_id,
            )
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
        job.enqueued_at = None  # until the enqueue below succeeds
        job.detail = f"requeued: worker {job.worker} stopped"
        _remove_scratch(job)
    db.session.commit()
    requeued = _enqueue([job.id for job in stale])
    if requeued:
        log.warning("requeued %d stale processing jobs", len(requeued))
    return requeued


def recover_queued_jobs():
    """Enqueue again queued jobs whose task was lost; return their ids.

    A job is committed as queued and then enqueued; if that enqueue failed (the queue was down,
    the process died between the two) nothing would ever run it, and its resource would stay
    处理中. Lost: never enqueued ``KEPU_RECOVERY_GRACE_SECONDS`` after its creation; enqueued that
    long ago but its task is neither waiting in the queue nor scheduled for a retry (Redis was
    restarted without persistence, or its data was lost); or still queued
    ``KEPU_JOB_LEASE_SECONDS`` after its last enqueue (a worker took the task and died before
    starting it). A job whose task a worker has just taken may be enqueued twice; the second
    delivery finds it taken and does nothing.
    """
    now = utcnow()
    grace = timedelta(seconds=current_app.config["KEPU_RECOVERY_GRACE_SECONDS"])
    lease = timedelta(seconds=current_app.config["KEPU_JOB_LEASE_SECONDS"])
    candidates = db.session.execute(
        select(ProcessingJob.id, ProcessingJob.enqueued_at)
        .where(
            ProcessingJob.status == JobStatus.QUEUED,
            or_(
                and_(ProcessingJob.enqueued_at.is_(None), ProcessingJob.created_at < now - grace),
                ProcessingJob.enqueued_at < now - grace,
            ),
        )
        .order_by(ProcessingJob.id)
    ).all()
    db.session.commit()
    waiting = _jobs_in_queue() if any(at is not None and at >= now - lease for _, at in candidates) else set()
    lost = [
        job_id
        for job_id, enqueued_at in candidates
        if enqueued_at is None or enqueued_at < now - lease or (waiting is not None and job_id not in waiting)
    ]
    recovered = _enqueue(lost)
    if recovered:
        log.warning("re-enqueued %d lost processing job(s)", len(recovered))
    return recovered


def _jobs_in_queue():
    """Ids of the jobs whose task waits in the queue or in its schedule (a retry after a delay);
    None when the queue cannot be read (then only the lease says a job is lost)."""
    try:
        tasks = [*huey.pending(), *huey.scheduled()]
    except Exception:
        log.warning("could not read the task queue", exc_info=True)
        return None
    return {task.args[0] for task in tasks if task.name == process_resource.name and task.args}


def _enqueue(job_ids):
    """Enqueue each job and note it; a failed enqueue is logged and left to the next sweep."""
    done = []
    for job_id in job_ids:
        try:
            process_resource(job_id)
        except Exception:
            log.exception("could not enqueue processing job %s", job_id)
            continue
        mark_enqueued(job_id)
        done.append(job_id)
    return done


def recover_lost_work():
    """Everything the recovery sweep does: stale running jobs, lost queued jobs, lost index
    updates. Returns ``{"stale": [...], "queued": [...], "indexed": [...]}``."""
    from cloud.catalog.tasks import recover_index_updates

    return {
        "stale": requeue_stale_jobs(),
        "queued": recover_queued_jobs(),
        "indexed": recover_index_updates(),
    }


def _scratch_root():
    """KEPU_WORK_DIR (made if missing: a fresh node's folder) or the system temp directory."""
    configured = current_app.config.get("KEPU_WORK_DIR")
    if not configured:
        return tempfile.gettempdir()
    os.makedirs(configured, exist_ok=True)
    return configured


def _scratch_prefix(job_id, pid):
    """A job's scratch directories are named by the job and the worker process that made them."""
    return f"kepu-job-{job_id}-{pid}-"


def _remove_scratch(job):
    """Remove what ``job``'s stopped worker left in its scratch directories, if it ran on this
    host: only that process's, never another's (a job of another instance with the same id
    sharing the temp directory, or this job's next run)."""
    host, _, pid = (job.worker or "").rpartition(":")
    if host != HOST or not pid.isdigit():
        return
    for path in glob.glob(os.path.join(_scratch_root(), f"{_scratch_prefix(job.id, pid)}*")):
        shutil.rmtree(path, ignore_errors=True)


@huey.periodic_task(crontab(minute="*"), name="requeue_stale_jobs")
def requeue_stale_jobs_periodically():
    """Every minute: the recovery sweep (stale and lost jobs, lost index updates)."""
    in_app(recover_lost_work)


def in_app(func):
    """Run ``func`` in the current app context, or in the worker's app (periodic tasks)."""
    from cloud.queue import worker_app

    if has_app_context():
        return func()
    with worker_app().app_context():
        return func()


def sweep_orphans(older_than_hours=24):
    """Delete stored objects no row points to (written, then the commit failed); return the count."""
    from cloud.files.models import StoredFile
    from cloud.uploads.models import Upload

    cutoff = utcnow() - timedelta(hours=older_than_hours)
    storage = get_storage()
    # An upload's object, assembled by a request whose commit failed, is adopted when the
    # client resumes (uploads.service): it belongs to the upload while the upload lives.
    known = set(db.session.scalars(select(StoredFile.key))) | set(db.session.scalars(select(Upload.key)))
    removed = 0
    # Young objects may belong to a job or upload whose commit is still to come: leave them.
    for key in storage.iter_keys("f/"):
        if key not in known and storage.modified_at(key) < cutoff:
            storage.delete(key)
            removed += 1
    return removed


@dataclass
class SweepReport:
    abandoned_uploads: int = 0
    unused_uploads: int = 0
    unreferenced_files: int = 0
    orphan_objects: int = 0
    failures: list = field(default_factory=list)


def sweep_storage(*, upload_max_age=None, grace=None, orphan_hours=24):
    """Reclaim storage nothing uses; return a SweepReport. The one sweep operators (and the
    worker, daily) run; each removal is its own transaction, so one failure keeps the rest.

    In order: unfinished uploads idle for ``upload_max_age`` (default KEPU_UPLOAD_MAX_AGE_HOURS);
    finished uploads never used within ``grace`` (default KEPU_STORAGE_GRACE_HOURS); stored files
    older than ``grace`` that no row refers to (article pictures no article kept, terminated
    uploads); objects without any row, older than ``orphan_hours``. A file any row still refers
    to — a resource's source or rendition, an unused upload within its grace, an institution's
    licence — is never removed.
    """
    from cloud.files import service as files
    from cloud.uploads import service as uploads

    config = current_app.config
    if upload_max_age is None:
        upload_max_age = timedelta(hours=config["KEPU_UPLOAD_MAX_AGE_HOURS"])
    grace = grace if grace is not None else timedelta(hours=config["KEPU_STORAGE_GRACE_HOURS"])
    report = SweepReport()

    def each(ids, remove, what):
        for item in ids:
            try:
                result = remove(item)
                db.session.commit()
            except StorageError as exc:
                db.session.rollback()
                report.failures.append(f"{what} {item}: {exc}")
                continue
            yield result

    for removed in each(
        uploads.abandoned_uploads(upload_max_age),
        lambda u: uploads.remove_abandoned(u, upload_max_age),
        "upload",
    ):
        report.abandoned_uploads += bool(removed)
    for key in each(uploads.unused_uploads(grace), lambda u: uploads.remove_unused(u, grace), "upload"):
        if key is not None:
            report.unused_uploads += 1
            files.delete_objects([key] if key else [])
    while True:
        batch = files.unreferenced_files(grace)
        keys = [key for key in each(batch, lambda f: files.remove_unreferenced(f, grace), "file") if key]
        report.unreferenced_files += files.delete_objects(keys)
        if len(batch) < 1000 or not keys:
            break
    try:
        report.orphan_objects = sweep_orphans(orphan_hours)
    except StorageError as exc:
        report.failures.append(f"orphan objects: {exc}")
    db.session.commit()
    return report


@huey.periodic_task(crontab(minute="41", hour="3"), name="sweep_storage")
def sweep_storage_daily():
    """Every night: reclaim what nothing uses (see sweep_storage)."""
    report = in_app(sweep_storage)
    for failure in report.failures:
        log.warning("storage sweep: %s", failure)
