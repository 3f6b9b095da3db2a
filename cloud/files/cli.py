"""``flask storage …`` commands."""

import sys

import click
from flask.cli import AppGroup

from cloud.extensions import db
from cloud.files.service import verify_files
from cloud.models_base import utcnow

storage_cli = AppGroup("storage", help="Object storage.")


@storage_cli.command("verify")
def verify_command():
    """Re-read every stored object and report those whose size or SHA-256 changed."""
    checked = bad = 0
    for row, problem in verify_files():
        checked += 1
        row.damaged_at = utcnow() if problem else None
        if problem:
            bad += 1
            click.echo(f"BAD {row.key} (file {row.id}, {row.original_name}): {problem}")
    db.session.commit()
    click.echo(f"checked {checked} objects, {bad} problems")
    if bad:
        sys.exit(1)
