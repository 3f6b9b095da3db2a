"""Kepu Cloud (科普资源云): the Flask application factory."""

import logging
import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Config


def create_app(config=None):
    """Create the app; ``config`` is a Config class or a dict of overrides (tests)."""
    app = Flask(__name__, instance_path=Config.INSTANCE_DIR)
    configure_settings(app, config)
    configure_logging(app)
    configure_proxy(app)
    configure_inputs(app)
    configure_security(app)
    init_extensions(app)
    init_storage(app)
    register_errors(app)
    register_blueprints(app)
    register_commands(app)
    return app


def configure_settings(app, config):
    os.makedirs(app.instance_path, exist_ok=True)
    if config is None:
        app.config.from_mapping(Config.load())
    elif isinstance(config, dict):
        app.config.from_mapping(Config.load())
        app.config.from_mapping(config)
    else:
        app.config.from_mapping(config.load())


def configure_logging(app):
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # Alembic announces each of its plugins at INFO whenever it is imported: not news.
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def configure_proxy(app):
    count = app.config["KEPU_PROXY_COUNT"]
    if count:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def configure_inputs(app):
    from cloud import inputs

    inputs.init_app(app)


def configure_security(app):
    from cloud import security

    security.init_app(app)


def init_extensions(app):
    import cloud.models  # noqa: F401  (the whole schema, before anything queries it)
    from cloud.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    # render_as_batch: SQLite can only ALTER a table by copying it, which batch mode does.
    migrations = os.path.join(os.path.dirname(app.root_path), "migrations")
    migrate.init_app(app, db, directory=migrations, render_as_batch=True)
    csrf.init_app(app)
    redis_url = app.config["KEPU_REDIS_URL"]
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "info"


def init_storage(app):
    from cloud.files import init_app as init_files

    init_files(app)


def register_errors(app):
    from cloud import errors, ops

    errors.init_app(app)
    ops.init_app(app)


def register_blueprints(app):
    from cloud import (
        accounts,
        api,
        catalog,
        console,
        institutions,
        main,
        messages,
        notices,
        regions,
        resources,
        review,
        stations,
        stats,
        uploads,
    )

    for blueprint in (
        main.bp,
        accounts.bp,
        accounts.api_bp,
        regions.bp,
        institutions.bp,
        institutions.api_bp,
        resources.bp,
        resources.api_bp,
        uploads.bp,
        review.bp,
        review.api_bp,
        catalog.bp,
        catalog.api_bp,
        stations.bp,
        stations.api_bp,
        messages.bp,
        notices.bp,
        stats.bp,
        stats.api_bp,
        console.bp,
        api.bp,
    ):
        app.register_blueprint(blueprint)


def register_commands(app):
    from cloud.accounts.cli import users_cli
    from cloud.catalog.cli import search_cli
    from cloud.files.cli import storage_cli
    from cloud.institutions.cli import institutions_cli
    from cloud.ops.cli import doctor_command
    from cloud.regions.cli import regions_cli
    from cloud.resources.cli import resources_cli, worker_command
    from cloud.stations.cli import stations_cli
    from cloud.stats.cli import stats_cli
    from cloud.uploads.cli import uploads_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(regions_cli)
    app.cli.add_command(storage_cli)
    app.cli.add_command(institutions_cli)
    app.cli.add_command(resources_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(uploads_cli)
    app.cli.add_command(search_cli)
    app.cli.add_command(stations_cli)
    app.cli.add_command(stats_cli)
    app.cli.add_command(doctor_command)
