"""``flask worker`` and ``flask resources …`` commands."""

import click
from flask.cli import AppGroup, with_appcontext

from cloud.extensions import db

resources_cli = AppGroup("resources", help="Resources and their processing.")


@click.command("worker")
@click.option("--workers", default=1, show_default=True, help="jobs run at once in this process")
@click.option(
    "--periodic/--no-periodic",
    default=True,
    show_default=True,
    help="also enqueue the periodic tasks (exactly one worker of a deployment should)",
)
@with_appcontext
def worker_command(workers, periodic):
    """Run a task-queue worker (more can run on other machines against the same queue).

    Every worker that enqueues the periodic tasks enqueues each of them once more: a deployment
    with several workers runs one with ``--periodic`` (the scheduler) and the others with
    ``--no-periodic``. Delayed retries are enqueued by every worker either way.
    """
    from cloud.ops.fingerprint import record_quietly
    from cloud.queue import huey, queue_name
    from cloud.resources.tasks import recover_lost_work

    record_quietly()  # for flask doctor: this node's secret key, compared with the others'

    # Jobs a killed worker left "running" would otherwise wait for their lease to run out.
    requeued = recover_lost_work()["stale"]
    click.echo(
        f"worker: {queue_name()} queue, {workers} thread(s), periodic tasks {'on' if periodic else 'off'}; "
        f"requeued {len(requeued)} stale job(s)"
    )
    huey.create_consumer(workers=workers, worker_type="thread", periodic=periodic).run()


@resources_cli.command("requeue-stale")
def requeue_stale_command():
    """Re-enqueue processing jobs whose worker died."""
    from cloud.resources.tasks import requeue_stale_jobs

    click.echo(f"requeued {len(requeue_stale_jobs())} job(s)")


@resources_cli.command("recover")
def recover_command():
    """Re-enqueue work lost after a commit: stale or never-started jobs, pending index updates."""
    from cloud.resources.tasks import recover_lost_work

    done = recover_lost_work()
    click.echo(
        f"requeued {len(done['stale'])} stale job(s), {len(done['queued'])} lost queued job(s); "
        f"re-enqueued {len(done['indexed'])} index update(s)"
    )


@resources_cli.command("sweep-orphans")
@click.option("--older-than", default=24, show_default=True, help="hours")
def sweep_orphans_command(older_than):
    """Delete stored objects that no database row refers to."""
    from cloud.resources.tasks import sweep_orphans

    click.echo(f"removed {sweep_orphans(older_than)} orphan object(s)")
    db.session.commit()
