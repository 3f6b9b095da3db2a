"""Running a deployment: ``flask doctor`` and the node fingerprints it compares.

Several web nodes and workers must sign with the same secret key: a session, a CSRF token or a
download link made by one node is checked by another. A key never leaves its node, so each
process records a keyed fingerprint of it (an HMAC of a constant, ``fingerprint.py``) in the
database, once, at its first request (web) or at start (worker); ``flask doctor`` compares its
own with every node's seen lately.
"""

import logging

from cloud.ops import fingerprint

log = logging.getLogger(__name__)
_RECORDED = "kepu.fingerprint_recorded"


def init_app(app):
    """Record this process's fingerprint before its first request (not under tests)."""
    if app.testing:
        return

    @app.before_request
    def _record_fingerprint_once():
        if app.extensions.get(_RECORDED):
            return
        app.extensions[_RECORDED] = True
        fingerprint.record_quietly()
