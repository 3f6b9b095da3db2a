"""``flask uploads …`` commands."""

import sys
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from cloud.extensions import db
from cloud.uploads import service
from storage import StorageError

uploads_cli = AppGroup("uploads", help="Resumable (tus) uploads.")


@uploads_cli.command("sweep")
@click.option(
    "--older-than",
    "hours",
    type=click.FloatRange(min=0),
    default=None,
    help="hours without progress (default: KEPU_UPLOAD_MAX_AGE_HOURS)",
)
def sweep_command(hours):
    """Remove unfinished uploads nobody has continued for a while, with their stored parts."""
    if hours is None:
        hours = current_app.config["KEPU_UPLOAD_MAX_AGE_HOURS"]
    older_than = timedelta(hours=hours)
    removed = failed = 0
    for upload_id in service.abandoned_uploads(older_than):
        # One transaction per upload: SQLite has a single write lock, and one storage failure
        # must not undo the uploads already removed.
        try:
            removed += service.remove_abandoned(upload_id, older_than)
            db.session.commit()
        except StorageError as exc:
            db.session.rollback()
            failed += 1
            click.echo(f"could not remove upload {upload_id}: {exc}", err=True)
    click.echo(f"removed {removed} abandoned uploads")
    if failed:
        click.echo(f"{failed} uploads could not be removed; they are tried again next time", err=True)
        sys.exit(1)
