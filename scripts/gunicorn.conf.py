"""gunicorn settings that belong to the app's contract rather than to one machine (scripts/serve.sh
passes them with ``-c``; workers, threads and the address stay on its command line).

gunicorn answers a request line over ``limit_request_line`` (4094 bytes by default) with its own
HTML 414 before the app sees it; every API error must be the app's JSON. So gunicorn lets through
the longest line it can hold (8190 bytes, its ceiling), and the app refuses URLs over
``KEPU_MAX_URL_BYTES`` (4096 by default) itself, in JSON under ``/api/`` (cloud/security.py).
"""

import gc

limit_request_line = 8190


def post_worker_init(worker):
    """Once a worker has loaded the app, move everything loading it made (modules, the app, its
    templates and metadata) out of the garbage collector's reach: those objects live as long as
    the process, and a request that builds tens of thousands of rows (a province's dashboard)
    would otherwise make the collector walk all of them again."""
    gc.freeze()
