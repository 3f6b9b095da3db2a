"""Announcing use of the resource center (a download, a detail-page view) to whoever counts it.

Statistics (``cloud.stats``) sits above the catalog: it reads resources, stations and accounts,
so the catalog cannot call it. Instead statistics registers its listener here once per app
(``listen``, from its blueprint's registration) and the catalog calls ``announce`` where the use
happens, inside the request's transaction. A listener only writes and flushes; the view commits
the event and what the listener wrote together, or neither.
"""

from flask import current_app

_KEY = "kepu.usage_listeners"


def listen(app, listener):
    """Call ``listener(kind, user=…, resource=…, counted=…, **details)`` for every use announced."""
    listeners = app.extensions.setdefault(_KEY, [])
    if listener not in listeners:
        listeners.append(listener)


def announce(kind, **details):
    """Tell every listener of ``kind`` ("download" or "view") of use; they raise what they raise."""
    for listener in current_app.extensions.get(_KEY, ()):
        listener(kind, **details)
