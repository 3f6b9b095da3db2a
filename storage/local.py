"""Objects as files under one directory: for a single machine, development and tests."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from storage.base import (
    CHUNK_SIZE,
    MIN_PART_SIZE,
    Counter,
    InvalidKey,
    ObjectNotFound,
    ObjectStream,
    SavedObject,
    Storage,
    StorageError,
    check_key,
    check_part_number,
    check_parts,
    check_prefix,
    resolve_range,
)

# Keys never have a segment starting with "." (check_key), so these names cannot clash with them.
TEMP_PREFIX = ".tmp-"
UPLOADS_DIR = ".multipart"
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
# Objects may be private drafts: readable by the service's group (e.g. a worker), not by all.
FILE_MODE = 0o640


class LocalStorage(Storage):
    """Stores each object as the file ``root/<key>``; a key ``ab/cd`` becomes ``root/ab/cd``.

    Writes go to a temporary file in the target directory, are fsynced and renamed over the
    target, so a reader or a crash never sees half an object. Keys that are prefixes of other
    keys' directories (``ab`` next to ``ab/cd``) cannot coexist here, unlike on S3; the app's
    fixed-depth random keys never do that.
    """

    supports_presigned_urls = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Use (and create) the directory ``root``. Raises StorageError if it cannot be created."""
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create storage directory {os.fspath(root)!r}") from exc
        self.root = os.path.realpath(root)
        self._root_prefix = self.root.rstrip(os.sep) + os.sep

    def __repr__(self) -> str:
        return f"LocalStorage({self.root!r})"

    # -- objects ------------------------------------------------------------------------------

    def save(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str | None = None,
        max_size: int | None = None,
    ) -> SavedObject:
        """Write the stream to ``root/<key>`` atomically (see Storage.save).

        Raises ObjectTooLarge, InvalidKey or StorageError; on any error no file is left behind.
        """
        path = self._path(key)
        counter = Counter(key, max_size)

        def write(fh: BinaryIO) -> None:
            while data := stream.read(CHUNK_SIZE):
                counter.update(data)
                fh.write(data)

        self._write_atomically(path, write)
        return counter.result()

    def open(self, key: str, start: int | None = None, end: int | None = None) -> ObjectStream:
        """Open the file for reading (see Storage.open).

        Raises ObjectNotFound, InvalidRange, InvalidKey or StorageError.
        """
        path = self._path(key)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - the ObjectStream owns and closes it
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot open object {key!r}") from exc
        try:
            total = os.fstat(fh.fileno()).st_size
            offset, length = resolve_range(total, start, end)
            fh.seek(offset)
        except StorageError:
            fh.close()
            raise
        except OSError as exc:
            fh.close()
            raise StorageError(f"cannot read object {key!r}") from exc
        return ObjectStream(
            fh,
            start=offset,
            length=length,
            total=total,
            translate=lambda exc: StorageError(f"reading object {key!r} failed: {exc}"),
        )

    def size(self, key: str) -> int:
        """Return the file's size. Raises ObjectNotFound, InvalidKey or StorageError."""
        path = self._path(key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot stat object {key!r}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(f"no object {key!r}")
        return st.st_size

    def modified_at(self, key: str) -> datetime:
        """Return the file's modification time. Raises ObjectNotFound, InvalidKey or StorageError."""
        path = self._path(key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"cannot stat object {key!r}") from exc
        return datetime.fromtimestamp(st.st_mtime, UTC)

    def exists(self, key: str) -> bool:
        """Tell whether the file exists. Raises InvalidKey or StorageError."""
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """Remove the file if it exists. Raises InvalidKey or StorageError.

        Empty directories are left in place: removing them would race with a concurrent save
        into the same directory.
        """
        path = self._path(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            pass
        except IsADirectoryError:
            pass  # a directory of other keys, not an object
        except OSError as exc:
            raise StorageError(f"cannot delete object {key!r}") from exc

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Yield keys starting with ``prefix``, in plain string order (as AWS S3 lists them).

        Skips temporary files and unfinished multipart uploads. Raises InvalidKey for a bad
        prefix at once, StorageError while iterating.
        """
        check_prefix(prefix)
        return self._walk(self.root, "", prefix)

    def _walk(self, directory: str, relative: str, prefix: str) -> Iterator[str]:
        try:
            with os.scandir(directory) as it:
                entries = [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in it]
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError(f"cannot list {relative or 'the storage root'!r}") from exc
        # Sorting a directory as "name/" makes the walk produce keys in plain string order:
        # "a.b" < "a/c" because "." < "/".
        entries.sort(key=lambda item: item[0] + "/" if item[1] else item[0])
        for name, is_dir in entries:
            if name.startswith("."):
                continue
            key = relative + name
            if is_dir:
                sub = key + "/"
                if sub.startswith(prefix) or prefix.startswith(sub):
                    yield from self._walk(os.path.join(directory, name), sub, prefix)
            elif key.startswith(prefix):
                yield key

    # -- multipart ----------------------------------------------------------------------------

    def start_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Create ``root/.multipart/<upload id>/`` for the parts. Raises StorageError."""
        check_key(key)
        upload_id = secrets.token_hex(16)
        upload_dir = self._upload_dir(upload_id)
        meta = json.dumps({"key": key, "content_type": content_type}).encode()
        try:
            os.makedirs(upload_dir)
            self._write_atomically(
                os.path.join(upload_dir, "upload.json"), lambda fh: fh.write(meta), mkdirs=False
            )
        except StorageError:
            shutil.rmtree(upload_dir, ignore_errors=True)
            raise
        except OSError as exc:
            shutil.rmtree(upload_dir, ignore_errors=True)
            raise StorageError(f"cannot start an upload to {key!r}") from exc
        return upload_id

    def upload_part(self, key: str, upload_id: str, part_number: int, stream: BinaryIO) -> str:
        """Store one part on disk and return its SHA-256 as the token (see Storage.upload_part).

        Raises StorageError.
        """
        upload_dir = self._existing_upload(key, upload_id)
        check_part_number(part_number)
        counter = Counter(key, None)

        def write(fh: BinaryIO) -> None:
            while data := stream.read(CHUNK_SIZE):
                counter.update(data)
                fh.write(data)

        part_path = os.path.join(upload_dir, f"{part_number:05d}.part")
        self._write_atomically(part_path, write, mkdirs=False)
        result = counter.result()
        # The token doubles as an integrity check: completion refuses a part whose token differs.
        info = json.dumps({"size": result.size, "sha256": result.sha256}).encode()
        self._write_atomically(
            os.path.join(upload_dir, f"{part_number:05d}.json"),
            lambda fh: fh.write(info),
            mkdirs=False,
        )
        return result.sha256

    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Concatenate the parts into ``root/<key>`` atomically and drop the upload.

        Raises StorageError (see Storage.complete_multipart).
        """
        upload_dir = self._existing_upload(key, upload_id)
        checked = check_parts(parts)
        part_paths = []
        for index, (number, token) in enumerate(checked):
            info_path = os.path.join(upload_dir, f"{number:05d}.json")
            try:
                with open(info_path, "rb") as fh:
                    info = json.load(fh)
            except FileNotFoundError as exc:
                raise StorageError(f"part {number} of upload {upload_id} was not uploaded") from exc
            except (OSError, ValueError) as exc:
                raise StorageError(f"cannot read part {number} of upload {upload_id}") from exc
            if info.get("sha256") != token:
                raise StorageError(f"part {number} does not match its token")
            if index < len(checked) - 1 and info.get("size", 0) < MIN_PART_SIZE:
                raise StorageError(f"part {number} is smaller than 5 MiB and is not the last")
            part_paths.append(os.path.join(upload_dir, f"{number:05d}.part"))

        def write(fh: BinaryIO) -> None:
            for part_path in part_paths:
                with open(part_path, "rb") as part:
                    shutil.copyfileobj(part, fh, CHUNK_SIZE)

        self._write_atomically(self._path(key), write)
        shutil.rmtree(upload_dir, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Delete the upload's parts; unknown uploads are ignored. Raises StorageError."""
        check_key(key)
        try:
            upload_dir = self._existing_upload(key, upload_id)
        except StorageError:
            return
        try:
            shutil.rmtree(upload_dir)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(f"cannot remove upload {upload_id}") from exc

    def presigned_url(
        self,
        key: str,
        *,
        filename: str,
        content_type: str | None = None,
        expires: int = 300,
    ) -> str:
        """Always raises StorageError: the application streams local files itself."""
        raise StorageError("local storage has no presigned URLs; stream the file instead")

    # -- helpers ------------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        check_key(key)
        path = os.path.join(self.root, *key.split("/"))
        # check_key rules out "..", so only a symlink placed inside the root could lead out.
        if not os.path.realpath(path).startswith(self._root_prefix):
            raise InvalidKey(f"object key {key!r} leads outside the storage directory")
        return path

    def _upload_dir(self, upload_id: str) -> str:
        if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
            raise StorageError(f"no multipart upload {upload_id!r}")
        return os.path.join(self.root, UPLOADS_DIR, upload_id)

    def _existing_upload(self, key: str, upload_id: str) -> str:
        check_key(key)
        upload_dir = self._upload_dir(upload_id)
        try:
            with open(os.path.join(upload_dir, "upload.json"), "rb") as fh:
                meta = json.load(fh)
        except FileNotFoundError as exc:
            raise StorageError(f"no multipart upload {upload_id!r}") from exc
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read multipart upload {upload_id!r}") from exc
        if meta.get("key") != key:
            raise StorageError(f"no multipart upload {upload_id!r} for {key!r}")
        return upload_dir

    def _write_atomically(self, path: str, write, *, mkdirs: bool = True) -> None:
        """Write a temp file next to ``path`` with ``write(fh)``, fsync it and rename it over.

        The temp file is removed whatever goes wrong. OS errors become StorageError; others
        (ObjectTooLarge, the input stream's own errors) propagate unchanged.
        """
        directory = os.path.dirname(path)
        tmp = None
        try:
            if mkdirs:
                os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fd, FILE_MODE)
                write(fh)
                fh.flush()
                os.fsync(fd)
            os.replace(tmp, path)
            tmp = None
            _fsync_directory(directory)
        except OSError as exc:
            raise StorageError(f"cannot write {os.path.relpath(path, self.root)!r}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable: without it a crash can forget the new directory entry.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
