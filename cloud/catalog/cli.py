"""``flask search …`` commands."""

import click
from flask.cli import AppGroup

from cloud.catalog import pagecache
from cloud.catalog.service import all_documents
from cloud.catalog.tasks import fold_download_counts, open_index
from cloud.extensions import db

search_cli = AppGroup("search", help="The search index.")


@search_cli.command("reindex")
def reindex_command():
    """Rebuild the index from the database into a fresh directory and swap it in."""
    count = open_index().rebuild(all_documents())
    pagecache.bump()  # pages kept by the web processes were rendered from the old index
    db.session.commit()
    click.echo(f"indexed {count} published resource(s)")


@search_cli.command("fold-downloads")
def fold_downloads_command():
    """Write the download counts that changed into the index now (the worker does it every few minutes)."""
    click.echo(f"folded the download counts of {fold_download_counts()} resource(s)")
