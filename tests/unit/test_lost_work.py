"""Work enqueued after a commit survives a failed enqueue: the recovery sweep finds queued jobs
and index updates whose task never ran and completes them exactly once (issue 11, finding 12)."""

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from cloud.accounts.models import Role, UserRole
from cloud.catalog.models import PendingIndexUpdate
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.queue import huey
from cloud.resources.models import ProcessingJob, Resource, ResourceFile
from tests.conftest import TESTDATA, post_multipart

OWNER, REVIEWER = "13800138000", "13700137000"


@pytest.fixture
def people(app, auth):
    auth.create_uploader(phone=OWNER)
    reviewer_id = auth.create(Role.STATION, phone=REVIEWER)
    with app.app_context():
        db.session.add(UserRole(user_id=reviewer_id, role=Role.REVIEWER))
        db.session.commit()
    return {p: auth.token(p) for p in (OWNER, REVIEWER)}


@pytest.fixture
def queue_down(monkeypatch):
    """The task queue refuses every enqueue until ``queue_down.restore()``."""

    class Down:
        calls = 0

        def enqueue(self, task):
            Down.calls += 1
            raise ConnectionError("queue unavailable")

        def restore(self):
            monkeypatch.undo()

    down = Down()
    monkeypatch.setattr(huey, "enqueue", down.enqueue)
    return down


def upload_image(client, headers, title="会丢的任务"):
    with open(f"{TESTDATA}/images/pillow_flower.jpg", "rb") as fh:
        data = {"kind": "image", "title": title, "file": (io.BytesIO(fh.read()), "花.jpg")}
    response = post_multipart(client, "/api/v1/resources", data, headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def age(app, model, seconds, **where):
    """Make rows look ``seconds`` older (as if the sweep ran that much later)."""
    with app.app_context():
        stmt = update(model).values(created_at=utcnow() - timedelta(seconds=seconds))
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        db.session.execute(stmt)
        db.session.commit()


def recover(runner):
    result = runner.invoke(args=["resources", "recover"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_job_whose_enqueue_failed_is_run_by_the_sweep_exactly_once(app, client, runner, people, queue_down):
    body = upload_image(client, people[OWNER])  # the commit stands; the enqueue after it fails
    rid = body["id"]
    assert body["state"] == "processing" and body["processing"]["status"] == "queued"
    assert queue_down.calls == 1

    # Too young to call lost: its request may still be enqueueing it.
    assert "0 lost queued job(s)" in recover(runner)
    grace = app.config["KEPU_RECOVERY_GRACE_SECONDS"]
    age(app, ProcessingJob, grace + 1, resource_id=rid)

    # The queue is still down: the sweep's own enqueue fails and the job waits for the next one.
    assert "0 lost queued job(s)" in recover(runner)
    assert queue_down.calls == 2

    queue_down.restore()
    assert "1 lost queued job(s)" in recover(runner)
    assert "0 lost queued job(s)" in recover(runner)  # done: nothing left to recover
    with app.app_context():
        resource = db.session.get(Resource, rid)
        assert resource.state == "processed"
        (job,) = resource.jobs
        assert job.status == "succeeded" and job.attempts == 1
        thumbnails = db.session.scalar(
            select(func.count())
            .select_from(ResourceFile)
            .where(ResourceFile.resource_id == rid, ResourceFile.role == "thumbnail")
        )
        assert thumbnails == 1
    # The page the uploader watches left 处理中.
    assert client.get(f"/api/v1/resources/{rid}", headers=people[OWNER]).get_json()["state"] == "processed"


def test_a_job_delivered_twice_runs_once(app, client, people, queue_down):
    from cloud.resources.tasks import process_resource, recover_queued_jobs

    rid = upload_image(client, people[OWNER])["id"]
    queue_down.restore()
    with app.app_context():
        job_id = db.session.scalar(select(ProcessingJob.id).where(ProcessingJob.resource_id == rid))
        # Enqueued long ago and still queued (a worker took the task and died before starting):
        # the sweep enqueues it again; the first delivery runs it, the late one does nothing.
        long_ago = utcnow() - timedelta(seconds=app.config["KEPU_JOB_LEASE_SECONDS"] + 1)
        db.session.execute(update(ProcessingJob).values(enqueued_at=long_ago))
        db.session.commit()
        assert recover_queued_jobs() == [job_id]
        process_resource(job_id)
        job = db.session.get(ProcessingJob, job_id)
        assert job.status == "succeeded" and job.attempts == 1
        assert recover_queued_jobs() == []


def test_a_lost_index_update_is_recovered(app, client, runner, people, queue_down):
    queue_down.restore()
    # An index exists (empty): without one, search would answer from the database instead.
    assert runner.invoke(args=["search", "reindex"]).exit_code == 0
    rid = upload_image(client, people[OWNER], title="流感疫苗接种")["id"]
    assert client.post(f"/api/v1/resources/{rid}/submit", headers=people[OWNER]).status_code == 200
    client.post(f"/api/v1/review/{rid}/claim", headers=people[REVIEWER])

    def found():
        return [i["id"] for i in client.get("/api/v1/search?q=流感疫苗").get_json()["items"]]

    # The approval commits, then its index update cannot be enqueued: published but not found.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huey, "enqueue", queue_down.enqueue)
        assert client.post(f"/api/v1/review/{rid}/approve", headers=people[REVIEWER]).status_code == 200
    assert client.get(f"/api/v1/resources/{rid}").status_code == 200
    assert found() == []

    assert "re-enqueued 0 index update(s)" in recover(runner)  # too young yet
    age(app, PendingIndexUpdate, app.config["KEPU_RECOVERY_GRACE_SECONDS"] + 1)
    assert "re-enqueued 1 index update(s)" in recover(runner)
    assert found() == [rid]
    assert "re-enqueued 0 index update(s)" in recover(runner)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PendingIndexUpdate)) == 0

    # Withdrawn, and that update lost too: the sweep takes it out of the index.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(huey, "enqueue", queue_down.enqueue)
        reason = {"reason": "过时"}
        withdrawn = client.post(f"/api/v1/resources/{rid}/withdraw", json=reason, headers=people[OWNER])
        assert withdrawn.status_code == 200
    age(app, PendingIndexUpdate, app.config["KEPU_RECOVERY_GRACE_SECONDS"] + 1)
    assert "re-enqueued 1 index update(s)" in recover(runner)
    from cloud.catalog.tasks import open_index

    with app.app_context():
        assert open_index().search("流感疫苗").total == 0


def test_the_worker_runs_the_recovery_sweep_every_minute(app, client, people, queue_down):
    from datetime import datetime

    from cloud.resources.tasks import requeue_stale_jobs_periodically

    rid = upload_image(client, people[OWNER])["id"]
    queue_down.restore()
    age(app, ProcessingJob, app.config["KEPU_RECOVERY_GRACE_SECONDS"] + 1)
    due = huey.read_periodic(datetime(2026, 12, 2, 3, 17))  # any minute
    assert "requeue_stale_jobs" in [task.name for task in due]
    with app.app_context():
        requeue_stale_jobs_periodically.call_local()
        assert db.session.get(Resource, rid).state == "processed"


def test_a_task_the_queue_lost_is_recovered_after_the_grace_not_the_lease(app, client, people, monkeypatch):
    """Redis restarted without its data: the enqueued job's task is gone from the queue. The sweep
    sees that it is neither waiting nor scheduled and enqueues it again after the grace period;
    a job whose task still waits is left alone (test_faults.py does this with a real Redis)."""
    from cloud.resources.tasks import recover_queued_jobs

    monkeypatch.setattr(huey, "immediate", False)
    huey.flush()
    try:
        lost_rid = upload_image(client, people[OWNER], title="队列丢了的任务")["id"]
        huey.flush()  # the queue restarts empty
        waiting_rid = upload_image(client, people[OWNER], title="还在排队的任务")["id"]
        with app.app_context():
            ids = dict(db.session.execute(select(ProcessingJob.resource_id, ProcessingJob.id)).all())
            grace = app.config["KEPU_RECOVERY_GRACE_SECONDS"]
            assert grace < app.config["KEPU_JOB_LEASE_SECONDS"]
            assert recover_queued_jobs() == []  # too young: its request may still be enqueueing it
            a_while_ago = utcnow() - timedelta(seconds=grace + 1)
            db.session.execute(update(ProcessingJob).values(enqueued_at=a_while_ago, created_at=a_while_ago))
            db.session.commit()
            assert recover_queued_jobs() == [ids[lost_rid]]
            queued = sorted(task.args[0] for task in huey.pending())
            assert queued == sorted([ids[lost_rid], ids[waiting_rid]])  # each once
            assert recover_queued_jobs() == []
    finally:
        huey.flush()
