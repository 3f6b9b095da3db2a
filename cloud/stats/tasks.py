"""The monthly reports, made by the task-queue worker on the 1st of each month."""

from huey import crontab

from cloud.extensions import db
from cloud.queue import huey, worker_app
from cloud.stations.service import today
from cloud.stats import reports


def make_last_months_reports():
    """Last month's reports of every city and province (once each: see reports.generate)."""
    created = reports.generate_all(reports.previous_month(today()))
    db.session.commit()
    return created


# Huey's crontab reads the worker's clock: at 01:10 on the 1st the month is over in Beijing too
# wherever the worker runs (UTC or UTC+8); running again changes nothing.
@huey.periodic_task(crontab(day="1", hour="1", minute="10"), name="monthly_reports")
def monthly_reports_periodically():
    with worker_app().app_context():
        make_last_months_reports()
