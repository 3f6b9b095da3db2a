"""``flask stats …`` commands."""

from datetime import date

import click
from flask.cli import AppGroup

from cloud.errors import DomainError
from cloud.extensions import db
from cloud.stats import report
from cloud.stats.service import rebuild

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
    """Recompute the roll-ups of these days (and of the months they touch) from the raw usage events."""
    if last < first:
        raise click.BadParameter("--to is before --from")
    rows = rebuild(first, last)
    db.session.commit()
    click.echo(f"rebuilt {rows} roll-up row(s) for {first} to {last}")


@stats_cli.command("monthly-report")
@click.option("--month", required=True, help="the month, e.g. 2026-10")
@click.option("--region", required=True, help="province 41 or 410000, city 4101 or 410100, county 410102")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="file to write")
def monthly_report_command(month, region, fmt, output):
    """Write a region's monthly report (月度统计报表) as XLSX or CSV."""
    try:
        built = report.build(report.parse_region(region), month)
    except DomainError as exc:
        raise click.UsageError(exc.message) from None
    data, _content_type, name = report.render(built, fmt)
    path = output or name
    with open(path, "wb") as fh:
        fh.write(data)
    click.echo(f"wrote {path} ({len(data)} bytes)")
