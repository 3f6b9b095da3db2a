"""A keyed fingerprint of the secret key, recorded per node in the shared database.

The fingerprint is ``HMAC-SHA256(secret_key, "kepu-node-fingerprint")``: equal keys give equal
fingerprints, and the fingerprint says nothing about the key. A node is a host name and an
instance folder (the processes of one gunicorn share both, and so their key).
"""

import hashlib
import hmac
import logging
import socket
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.ops.models import NodeFingerprint

log = logging.getLogger(__name__)
_CONSTANT = b"kepu-node-fingerprint"


def fingerprint(secret_key=None):
    """The fingerprint of ``secret_key`` (default: the app's)."""
    key = secret_key if secret_key is not None else current_app.config["SECRET_KEY"]
    return hmac.new(str(key).encode(), _CONSTANT, hashlib.sha256).hexdigest()


def node_name():
    return f"{socket.gethostname()}:{current_app.instance_path}"[:300]


def record():
    """Write (or refresh) this node's fingerprint in a transaction of its own.

    Raises SQLAlchemyError (database down, table missing: not migrated yet).
    """
    row = {"node": node_name(), "fingerprint": fingerprint(), "seen_at": utcnow()}
    try:
        with db.engine.begin() as connection:
            connection.execute(delete(NodeFingerprint).where(NodeFingerprint.node == row["node"]))
            connection.execute(insert(NodeFingerprint).values(**row))
    except IntegrityError:
        pass  # another process of the same node wrote the same row at the same moment


def record_quietly():
    """``record``, logging instead of raising: a web node serves even if this fails."""
    try:
        record()
    except SQLAlchemyError:
        log.warning("could not record this node's secret-key fingerprint", exc_info=True)


def seen(days=7):
    """Every node's (name, fingerprint, seen_at) of the last ``days``, most recent first."""
    since = utcnow() - timedelta(days=days)
    stmt = select(NodeFingerprint.node, NodeFingerprint.fingerprint, NodeFingerprint.seen_at)
    return db.session.execute(
        stmt.where(NodeFingerprint.seen_at > since).order_by(NodeFingerprint.seen_at.desc())
    ).all()
