"""``flask institutions …`` commands."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from cloud.accounts.models import User
from cloud.accounts.phone import normalize_phone
from cloud.errors import DomainError
from cloud.extensions import db
from cloud.institutions import service

institutions_cli = AppGroup("institutions", help="Institutions and their verification.")


@institutions_cli.command("create")
@click.option("--name", required=True)
@click.option("--credit-code", required=True, help="统一社会信用代码 (18 characters)")
@click.option("--kind", default="其他")
@click.option("--verified", is_flag=True, help="mark it verified at once")
@click.option("--manager", "manager_login", default=None, help="phone or username of its first member")
def create_command(name, credit_code, kind, verified, manager_login):
    """Register an institution, optionally verified, with its first member (the manager)."""
    try:
        institution = service.create_institution(name, credit_code, kind=kind, verified=verified)
        if manager_login:
            phone = normalize_phone(manager_login)
            user = db.session.scalar(
                select(User).where((User.phone == phone) if phone else (User.username == manager_login))
            )
            if user is None:
                raise click.ClickException(f"no such user: {manager_login}")
            service.add_member(institution, user, manager=True)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"created institution {institution.id} ({institution.status})")
