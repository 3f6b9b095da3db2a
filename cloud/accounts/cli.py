"""``flask users …`` commands."""

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from cloud.accounts import service
from cloud.accounts.models import Role, User, UserRole
from cloud.accounts.service import import_summary
from cloud.audit import service as audit
from cloud.errors import DomainError
from cloud.extensions import db

users_cli = AppGroup("users", help="User accounts.")


@users_cli.command("create")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--phone", default=None, help="CN mobile number")
@click.option("--username", default=None)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default="")
@click.option("--region", "region_code", default=None, help="division code, e.g. 110101")
def create_command(role, phone, username, password, name, region_code):
    """Create an admin, reviewer, station or other account."""
    try:
        user = service.create_user(
            role, phone=phone, username=username, password=password, name=name, region_code=region_code
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"created user {user.id} ({Role(role).label})")


@users_cli.command("ensure-admin")
@click.option("--username", default="admin")
def ensure_admin_command(username):
    """Create a first admin with a random password if no admin exists, and print how to log in."""
    if db.session.scalar(select(UserRole).where(UserRole.role == Role.ADMIN).limit(1)):
        click.echo("an admin account exists")
        return
    import secrets

    password = secrets.token_urlsafe(9)[:12]
    service.create_user(Role.ADMIN, username=username, password=password, name="管理员")
    db.session.commit()
    click.echo(f"first admin created: log in with username '{username}' and password '{password}'")


@users_cli.command("import-informants")
@click.argument("table_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_informants_command(table_file):
    """Import 信息员 accounts from a CSV (UTF-8 or GBK) or XLSX file (see README); safe to run again."""
    report = service.import_informants(table_file.read_bytes(), table_file.name)
    audit.record(None, "informants.import", "import", table_file.name[:64], **import_summary(report))
    db.session.commit()
    for line, message in report.errors:
        click.echo(f"line {line}: {message}", err=True)
    click.echo(
        f"informants: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {len(report.errors)} errors"
    )
    if report.errors:
        sys.exit(1)


@users_cli.command("sweep")
def sweep_command():
    """Delete expired captchas and rate-limit counts (the worker also does it every hour)."""
    captchas, hits = service.sweep()
    db.session.commit()
    click.echo(f"removed {captchas} expired captcha(s) and {hits} rate-limit count(s)")


@users_cli.command("list")
def list_command():
    """List accounts with their roles."""
    for user in db.session.scalars(select(User).order_by(User.id)):
        click.echo(f"{user.id}\t{user.username or '-'}\t{user.phone or '-'}\t{','.join(sorted(user.roles))}")
