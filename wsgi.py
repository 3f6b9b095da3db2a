"""Entry point for gunicorn and ``flask``: ``app = create_app()``."""

from cloud import create_app

app = create_app()
