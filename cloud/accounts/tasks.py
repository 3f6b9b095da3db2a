"""Periodic account housekeeping, run by the task-queue worker."""

from huey import crontab

from cloud.accounts import service
from cloud.extensions import db
from cloud.queue import huey, worker_app


@huey.periodic_task(crontab(minute="17"), name="sweep_accounts")
def sweep_accounts_periodically():
    with worker_app().app_context():
        service.sweep()
        db.session.commit()
