"""``flask storage …`` commands."""

import sys
from datetime import timedelta

import click
from flask.cli import AppGroup

from cloud.extensions import db
from cloud.files.backup import export_objects, import_objects
from cloud.files.service import get_storage, record_check, verify_files
from cloud.resources.tasks import sweep_storage

storage_cli = AppGroup("storage", help="Object storage.")


@storage_cli.command("verify")
def verify_command():
    """Re-read every stored object; mark and report those missing or whose size or SHA-256 changed.

    A marked file is not handed out (its download answers 410) and its resource cannot be
    approved; a file found intact again (restored from a backup) is unmarked.
    """
    checked = bad = 0
    for row, problem in verify_files():
        checked += 1
        record_check(row, problem)
        if problem:
            bad += 1
            click.echo(f"BAD {row.key} (file {row.id}, {row.original_name}): {problem}")
    db.session.commit()
    click.echo(f"checked {checked} objects, {bad} problems")
    if bad:
        sys.exit(1)


@storage_cli.command("sweep")
@click.option(
    "--upload-max-age", type=click.FloatRange(min=0), help="hours (default: KEPU_UPLOAD_MAX_AGE_HOURS)"
)
@click.option("--grace", type=click.FloatRange(min=0), help="hours (default: KEPU_STORAGE_GRACE_HOURS)")
@click.option(
    "--orphans-older-than", default=24.0, show_default=True, type=click.FloatRange(min=0), help="hours"
)
def sweep_command(upload_max_age, grace, orphans_older_than):
    """Reclaim storage nothing uses: stale uploads, unused files, orphan objects (also run nightly)."""
    report = sweep_storage(
        upload_max_age=timedelta(hours=upload_max_age) if upload_max_age is not None else None,
        grace=timedelta(hours=grace) if grace is not None else None,
        orphan_hours=orphans_older_than,
    )
    click.echo(
        f"removed {report.abandoned_uploads} abandoned upload(s), {report.unused_uploads} unused upload(s), "
        f"{report.unreferenced_files} unreferenced file(s), {report.orphan_objects} orphan object(s)"
    )
    for failure in report.failures:
        click.echo(f"could not remove {failure}; tried again next time", err=True)
    if report.failures:
        sys.exit(1)


@storage_cli.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
def export_command(directory):
    """Copy every stored object into DIRECTORY (the object half of scripts/backup.sh)."""
    count, size = export_objects(get_storage(), directory)
    click.echo(f"exported {count} object(s), {size} bytes")


@storage_cli.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def import_command(directory):
    """Store every object exported into DIRECTORY back at its key (scripts/restore.sh)."""
    count, size = import_objects(get_storage(), directory)
    click.echo(f"imported {count} object(s), {size} bytes")
