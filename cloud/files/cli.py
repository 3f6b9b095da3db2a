"""``flask storage …`` commands."""

import sys

import click
from flask.cli import AppGroup

from cloud.files.service import verify_files

storage_cli = AppGroup("storage", help="Object storage.")


@storage_cli.command("verify")
def verify_command():
    """Re-read every stored object and report those whose size or SHA-256 changed."""
    checked = bad = 0
    for row, problem in verify_files():
        checked += 1
        if problem:
            bad += 1
            click.echo(f"BAD {row.key} (file {row.id}, {row.original_name}): {problem}")
    click.echo(f"checked {checked} objects, {bad} problems")
    if bad:
        sys.exit(1)
