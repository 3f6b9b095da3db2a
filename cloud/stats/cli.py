"""``flask stats …`` commands."""

from datetime import date

import click
from flask.cli import AppGroup

from cloud.extensions import db

stats_cli = AppGroup("stats", help="Usage statistics.")


def _day(_ctx, _param, value):
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("a date like 2026-10-01") from None


@stats_cli.command("rebuild")
@click.option("--from", "first", required=True, callback=_day, help="first Beijing day, e.g. 2026-10-01")
@click.option("--to", "last", required=True, callback=_day, help="last Beijing day, e.g. 2026-10-31")
def rebuild_command(first, last):
    """Recompute the daily roll-ups of these days from the raw usage events."""
    from cloud.stats.service import rebuild

    if last < first:
        raise click.BadParameter("--to is before --from")
    rows = rebuild(first, last)
    db.session.commit()
    click.echo(f"rebuilt {rows} roll-up row(s) for {first} to {last}")
