"""The app of a task-queue worker: the web app plus what only a worker runs.

A web process (gunicorn, ``create_app``) enqueues processing jobs and never runs one, so it does
not import the media pipeline (``cloud.resources.pipeline`` and the libraries behind it: Pillow's
PSD side, psd-tools, ffmpeg-python, mutagen, the print PDF): tens of MB per web process
(bench/README.md, S3 rows). A worker builds its app here, and ``cloud.resources.tasks.run_job``
takes the pipeline from that app. ``tests/unit/test_web_imports.py`` keeps the web side lean.
"""

from cloud import create_app
from cloud.resources import pipeline
from cloud.resources.tasks import PIPELINE_EXTENSION


def create_worker_app(config=None):
    """``create_app(config)`` with the media pipeline: the app jobs run in."""
    app = create_app(config)
    app.extensions[PIPELINE_EXTENSION] = pipeline.run
    return app
