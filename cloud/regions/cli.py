"""``flask regions …`` commands."""

import click
from flask.cli import AppGroup

from cloud.extensions import db
from cloud.regions.service import load_regions

regions_cli = AppGroup("regions", help="Administrative division codes.")


@regions_cli.command("load")
def load_command():
    """Load the division codes shipped with the project (safe to run again)."""
    added, renamed = load_regions()
    db.session.commit()
    click.echo(f"regions: {added} added, {renamed} updated")
