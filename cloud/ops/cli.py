"""``flask doctor``."""

import click
from flask.cli import with_appcontext

from cloud.ops.doctor import run_checks


@click.command("doctor")
@with_appcontext
def doctor_command():
    """Check this node's settings and services; one line per check; exit 1 if any failed."""
    findings = run_checks()
    for finding in findings:
        click.echo(finding.line())
    failed = sum(1 for f in findings if f.ok is False)
    if failed:
        click.echo(f"{failed} 项检查未通过 / {failed} check(s) failed")
        raise SystemExit(1)
    click.echo("全部检查通过 / all checks passed")
