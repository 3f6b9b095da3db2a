"""Copying every stored object to a directory and back: the object half of a backup.

``scripts/backup.sh`` dumps the database first and copies the objects second: an object is
stored before the row that names it is committed, so every row in the dump finds its object in
the copy (objects written in between are orphans the storage sweep removes after a restore).
Each object becomes ``<directory>/<key>`` (keys are the app's own random names, never a user's).
A bucket of many terabytes is better copied by the object store's own tools (``mc mirror``,
``rclone sync``, bucket replication; see docs/deploy.md); this works with either backend.
"""

import os

from storage import StorageError
from storage.base import check_key

CHUNK = 1024 * 1024


def export_objects(storage, directory):
    """Write every object of ``storage`` under ``directory``; return (objects, bytes).

    A file already there with the object's size is kept (objects never change once written).
    Raises StorageError, OSError.
    """
    count = total = 0
    for key in storage.iter_keys():
        path = _path(directory, key)
        size = storage.size(key)
        if not (os.path.isfile(path) and os.path.getsize(path) == size):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            partial = f"{path}.partial"
            with open(partial, "wb") as out, storage.open(key) as chunks:
                for chunk in chunks:
                    out.write(chunk)
            os.replace(partial, path)
        count, total = count + 1, total + size
    return count, total


def import_objects(storage, directory):
    """Store every file under ``directory`` (as ``export_objects`` wrote them) at its key;
    return (objects, bytes). Raises StorageError (and InvalidKey for a file that is no key)."""
    count = total = 0
    for root, _dirs, files in os.walk(directory):
        for name in sorted(files):
            if name.endswith(".partial"):
                continue
            path = os.path.join(root, name)
            key = os.path.relpath(path, directory).replace(os.sep, "/")
            with open(path, "rb") as fh:
                saved = storage.save(check_key(key), fh)
            count, total = count + 1, total + saved.size
    return count, total


def _path(directory, key):
    path = os.path.join(directory, *check_key(key).split("/"))
    if not os.path.abspath(path).startswith(os.path.abspath(directory) + os.sep):
        raise StorageError(f"key {key!r} leaves the backup directory")
    return path
