"""The app as gunicorn serves it, with a minimal Flask endpoint beside it in the same processes.

``bench/rows/pages.py`` serves this module: ``/__minimal/`` is a bare Flask app that answers
"ok" (no database, no session, no template, no security headers), the reference that the
resource-center page is compared with on the same gunicorn, its workers and threads.
"""

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from wsgi import app as product

minimal = Flask("minimal")


@minimal.get("/")
def ok():
    return "ok"


app = DispatcherMiddleware(product, {"/__minimal": minimal})
