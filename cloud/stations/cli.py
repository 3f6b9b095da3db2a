"""``flask stations …`` commands."""

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from cloud.accounts.models import Role, User
from cloud.errors import DomainError
from cloud.extensions import db
from cloud.stations import service
from cloud.stations.importer import import_stations

stations_cli = AppGroup("stations", help="科普中国e站: the registry and its staff.")


@stations_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path):
    """Load recognised stations from an XLSX or CSV file (UTF-8 or GBK); safe to run again."""
    report = import_stations(path.read_bytes(), path.name)
    db.session.commit()
    for line, message in report.errors:
        click.echo(f"第 {line} 行：{message}", err=True)
    click.echo(
        f"stations: {report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{len(report.errors)} rows with errors"
    )
    if report.errors:
        raise SystemExit(1)


@stations_cli.command("add-staff")
@click.option("--region", "region_code", required=True, help="its division code: 2, 4 or 6 digits")
@click.option("--phone", default=None)
@click.option("--username", default=None)
@click.option("--name", default="")
@click.option("--password", required=True)
def add_staff_command(region_code, phone, username, name, password):
    """Create a 科协 staff account bound to a region (as the first admin, for any level)."""
    admin = db.session.scalar(
        select(User).join(User.role_rows).where(User.is_active.is_(True)).filter_by(role=Role.ADMIN).limit(1)
    )
    if admin is None:
        raise click.ClickException("no admin account yet: run `flask users ensure-admin` first")
    try:
        user = service.create_staff(
            admin, region_code, phone=phone, username=username, name=name, password=password, any_level=True
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"created staff account {user.id} for {service.association_name(region_code)}")
