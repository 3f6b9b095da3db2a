"""Putting files into object storage and checking they are still what was stored."""

import logging
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, delete, exists, not_, select

from cloud.errors import DomainError
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.models_base import utcnow
from storage import ObjectNotFound, StorageError, create_storage

log = logging.getLogger(__name__)


class FileGone(DomainError):
    """The stored object behind a download is missing or damaged (410: it will not come back)."""

    status = 410
    code = "file_unavailable"
    message = "该文件已丢失或损坏，暂时无法下载。资源提供机构需要重新上传，请稍后再试或联系管理员"


class StorageUnavailable(DomainError):
    status = 503
    code = "storage_unavailable"
    message = "存储服务暂时不可用，请稍后重试"


def get_storage():
    """The app's storage backend, created on first use (S3 clients are not free to build)."""
    storage = current_app.extensions.get("kepu_storage")
    if storage is None:
        storage = current_app.extensions["kepu_storage"] = create_storage(current_app.config)
    return storage


def new_key(prefix="f"):
    """A random object key; the user's file name never becomes part of a path."""
    token = secrets.token_hex(16)
    return f"{prefix}/{token[:2]}/{token}"


def store_file(
    stream, *, original_name="", content_type="application/octet-stream", max_size=None, institution_id=None
):
    """Stream ``stream`` into storage and record it. Raises StorageError (ObjectTooLarge…).

    ``institution_id`` is the institution whose quota the file counts against. If the database
    commit that follows fails, the object is an orphan that the sweep removes.
    """
    saved = get_storage().save(new_key(), stream, content_type=content_type, max_size=max_size)
    row = StoredFile(
        key=saved.key,
        size=saved.size,
        sha256=saved.sha256,
        content_type=content_type,
        original_name=(original_name or "")[:255],
        institution_id=institution_id,
    )
    db.session.add(row)
    db.session.flush()
    return row


def record_file(
    key, size, sha256, content_type="application/octet-stream", original_name="", institution_id=None
):
    """Record an object that is already in storage (e.g. assembled from a resumable upload).

    ``size`` and ``sha256`` must be what ``Storage.hash_object`` reported for it. Flushes and
    returns the row; raises IntegrityError (at flush) if the key is already recorded.
    """
    row = StoredFile(
        key=key,
        size=size,
        sha256=sha256,
        content_type=content_type,
        original_name=(original_name or "")[:255],
        institution_id=institution_id,
    )
    db.session.add(row)
    db.session.flush()
    return row


def verify_files(batch=500):
    """Re-read every stored object; yield ``(row, problem)``, problem None when it is intact."""
    storage = get_storage()
    last_id = 0
    while True:
        rows = db.session.scalars(
            select(StoredFile).where(StoredFile.id > last_id).order_by(StoredFile.id).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            last_id = row.id
            yield row, _check(storage, row)


def _check(storage, row):
    try:
        actual = storage.hash_object(row.key)
    except ObjectNotFound:
        return "missing"
    except StorageError as exc:
        return f"unreadable: {exc}"
    if actual.size != row.size:
        return f"size {actual.size}, expected {row.size}"
    if actual.sha256 != row.sha256:
        return f"sha256 {actual.sha256}, expected {row.sha256}"
    return None


def record_check(row, problem):
    """Mark ``row`` damaged ("missing" or "changed") or intact after a check; flushes.

    An object that could not be read at all (the storage service down) proves nothing about the
    file: its mark is left as it was, so an outage does not flag every file.
    """
    if problem is None:
        row.damaged_at = row.damage = None
    elif problem.startswith("unreadable"):
        return
    else:
        if row.damaged_at is None:
            row.damaged_at = utcnow()
        row.damage = "missing" if problem == "missing" else "changed"
    db.session.flush()


def check_available(row):
    """Make sure the object of ``row`` can be handed out; call before issuing a download link.

    Raises FileGone for a file marked damaged, or whose object has gone (it is then marked
    missing, in the caller's transaction), StorageUnavailable when storage cannot tell.
    """
    if row.damaged_at is not None:
        raise FileGone()
    try:
        size = get_storage().size(row.key)
    except ObjectNotFound:
        mark_missing(row)
        raise FileGone() from None
    except StorageError as exc:
        raise StorageUnavailable() from exc
    if size != row.size:
        row.damaged_at, row.damage = utcnow(), "changed"
        db.session.flush()
        raise FileGone()


def mark_missing(row):
    """Record that the object of ``row`` is gone; flushes."""
    row.damaged_at, row.damage = row.damaged_at or utcnow(), "missing"
    db.session.flush()


def read_head(stored_file, length):
    """The first ``length`` bytes of a stored object (fewer if it is shorter). Raises StorageError."""
    length = min(stored_file.size, length)
    return b"".join(get_storage().open(stored_file.key, 0, length - 1)) if length else b""


# -- reclaiming ----------------------------------------------------------------------------


def _references():
    """Every column that refers to a stored file (found in the schema, so a feature that adds
    one is protected from the sweep without being listed here)."""
    table = StoredFile.__table__
    return [
        fk.parent
        for other in db.metadata.sorted_tables
        for fk in other.foreign_keys
        if fk.column.table is table
    ]


def _unreferenced():
    return and_(*(not_(exists().where(column == StoredFile.id)) for column in _references()))


def unreferenced_files(older_than, batch=1000):
    """Ids of stored files older than ``older_than`` (a timedelta) that nothing refers to: article
    pictures no article kept, the files of uploads that were terminated or swept."""
    cutoff = utcnow() - older_than
    return list(
        db.session.scalars(
            select(StoredFile.id)
            .where(StoredFile.created_at < cutoff, _unreferenced())
            .order_by(StoredFile.id)
            .limit(batch)
        )
    )


def remove_unreferenced(file_id, older_than=timedelta(0)):
    """Delete the row of stored file ``file_id`` if it is still unreferenced and old enough;
    return its key (the caller deletes the object after committing), or None.

    The check and the delete are one statement, so a row that gained a reference meanwhile (an
    article saved with the picture a moment ago) is kept.
    """
    key = db.session.scalar(select(StoredFile.key).where(StoredFile.id == file_id))
    result = db.session.execute(
        delete(StoredFile)
        .where(StoredFile.id == file_id, StoredFile.created_at < utcnow() - older_than, _unreferenced())
        .execution_options(synchronize_session=False)
    )
    return key if result.rowcount == 1 else None


def delete_objects(keys):
    """Delete objects whose rows are gone (after the commit); failures are logged, and what is
    left is an orphan that ``sweep_orphans`` removes later. Returns how many were deleted."""
    storage = get_storage()
    deleted = 0
    for key in keys:
        try:
            storage.delete(key)
        except StorageError:
            log.warning("could not delete object %s; the orphan sweep will", key, exc_info=True)
            continue
        deleted += 1
    return deleted
