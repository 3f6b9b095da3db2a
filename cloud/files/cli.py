"""``flask storage …`` commands."""

import sys

import click
from flask.cli import AppGroup

from cloud.extensions import db
from cloud.files.service import record_check, verify_files

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
