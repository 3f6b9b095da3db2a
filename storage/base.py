"""The storage contract shared by every backend, its errors, and the checks both backends apply."""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: Size of the pieces read from input streams and yielded by ``open()``.
CHUNK_SIZE = 1 * MiB
#: S3 refuses to complete a multipart upload whose parts (except the last) are smaller than this;
#: the local backend enforces the same rule so code written against it also works on S3.
MIN_PART_SIZE = 5 * MiB
MAX_PART_NUMBER = 10_000
#: S3's limit on key length, in UTF-8 bytes.
MAX_KEY_BYTES = 1024


class StorageError(Exception):
    """An object could not be stored, read or deleted; the cause is chained as ``__cause__``."""


class ObjectNotFound(StorageError):
    """No object has this key."""


class ObjectTooLarge(StorageError):
    """The stream was longer than ``max_size``; nothing was stored."""


class InvalidKey(StorageError):
    """The key is not one a backend accepts (absolute, ``..``, backslash, NUL, empty segment…)."""


class InvalidRange(StorageError):
    """The byte range cannot be satisfied for this object (HTTP 416)."""


class StorageUnavailable(StorageError):
    """The storage service could not be reached or did not answer in time; retrying may work."""


@dataclass(frozen=True)
class SavedObject:
    """What was stored: the key, its size in bytes and the hex SHA-256 of its content."""

    key: str
    size: int
    sha256: str


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class ObjectStream(Iterator[bytes]):
    """The bytes of one object (or one range of it), as chunks of at most ``CHUNK_SIZE``.

    It owns an open file or HTTP response and closes it when the last chunk has been read, when
    ``close()`` is called (a WSGI server calls it on a response body), on ``with`` exit, or when it
    is garbage collected, so an abandoned download leaks nothing.

    ``start`` is the offset of the first byte, ``length`` the number of bytes it will yield and
    ``total`` the size of the whole object: what a ``Content-Range`` header needs.
    """

    def __init__(
        self,
        raw: _Readable,
        *,
        start: int,
        length: int,
        total: int,
        translate: Callable[[Exception], StorageError],
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self._raw: _Readable | None = raw
        self._remaining = length
        self._translate = translate
        self._chunk_size = chunk_size
        self.start = start
        self.length = length
        self.total = total

    def __iter__(self) -> ObjectStream:
        return self

    def __next__(self) -> bytes:
        """Return the next chunk.

        Raises StorageError if reading fails or the object ends before ``length`` bytes.
        """
        if self._raw is None or self._remaining <= 0:
            self.close()
            raise StopIteration
        try:
            data = self._raw.read(min(self._chunk_size, self._remaining))
        except StorageError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise self._translate(exc) from exc
        if not data:
            self.close()
            raise StorageError(f"object ended {self._remaining} bytes early")
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            try:
                raw.close()
            except Exception:  # a failed close of a read-only handle loses no data
                log.debug("closing an object stream failed", exc_info=True)

    def __enter__(self) -> ObjectStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Storage(ABC):
    """Where uploaded files live. Keys are chosen by the application (random, like ``ab/cdef…``).

    Every method raises StorageError (or a subclass) for anything that goes wrong in the backend;
    SDK and OS exceptions never escape. Bad keys raise InvalidKey before anything is touched.
    """

    #: True when ``presigned_url()`` works and downloads can bypass the application.
    supports_presigned_urls: bool = False

    @abstractmethod
    def save(
        self,
        key: str,
        stream: BinaryIO,
        *,
        content_type: str | None = None,
        max_size: int | None = None,
    ) -> SavedObject:
        """Store everything ``stream`` yields under ``key``, replacing any object there.

        The stream is read in chunks, never whole; size and SHA-256 are computed on the way.
        Readers see either the old object or the complete new one. Raises ObjectTooLarge (and
        stores nothing) when the stream holds more than ``max_size`` bytes, InvalidKey, or
        StorageError. Exceptions raised by ``stream`` itself propagate unchanged.
        """

    @abstractmethod
    def open(self, key: str, start: int | None = None, end: int | None = None) -> ObjectStream:
        """Return the object's bytes as an iterator of chunks (see ObjectStream).

        The range follows HTTP ``Range``: ``(start, end)`` is ``bytes=start-end`` with ``end``
        inclusive and clamped to the object; ``(start, None)`` is ``bytes=start-``;
        ``(None, n)`` is the suffix ``bytes=-n`` (the last n bytes). The object is looked up
        at once: raises ObjectNotFound, InvalidRange (start past the end, end before start,
        negative numbers, any range of an empty object) or StorageError from this call, and
        StorageError while iterating.
        """

    @abstractmethod
    def size(self, key: str) -> int:
        """Return the object's size in bytes. Raises ObjectNotFound or StorageError."""

    @abstractmethod
    def modified_at(self, key: str) -> datetime:
        """When the object was last written (UTC). Raises ObjectNotFound or StorageError."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether an object has this key. Raises StorageError if that cannot be known."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete the object; deleting a missing object is not an error. Raises StorageError."""

    @abstractmethod
    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every key starting with ``prefix``, each once, in no guaranteed order.

        (AWS lists keys in byte order, SeaweedFS directory by directory.)

        Raises InvalidKey for a malformed prefix at once, StorageError while iterating.
        """

    @abstractmethod
    def start_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Begin a multipart upload to ``key`` and return its upload id. Raises StorageError."""

    @abstractmethod
    def upload_part(self, key: str, upload_id: str, part_number: int, stream: BinaryIO) -> str:
        """Store part ``part_number`` (1–10000) of an upload; return the token completing it.

        Uploading the same number again replaces that part. Raises StorageError (unknown upload,
        bad part number, backend failure).
        """

    @abstractmethod
    def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the listed ``(part_number, token)`` parts, in ascending order, into the object.

        Every part but the last must be at least 5 MiB (MIN_PART_SIZE). Raises StorageError
        (unknown upload, wrong token, part too small, backend failure); the upload then stays
        open and can be completed again or aborted.
        """

    @abstractmethod
    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Discard an upload and its parts. Aborting an unknown upload is not an error.

        Raises StorageError when the backend fails.
        """

    @abstractmethod
    def presigned_url(
        self,
        key: str,
        *,
        filename: str,
        content_type: str | None = None,
        expires: int = 300,
    ) -> str:
        """Return a URL that downloads the object as an attachment named ``filename``.

        Valid for ``expires`` seconds. Raises StorageError when the backend cannot make one
        (see ``supports_presigned_urls``) or the arguments are out of range.
        """

    def hash_object(self, key: str) -> SavedObject:
        """Read the object back and return its actual size and SHA-256.

        Raises ObjectNotFound or StorageError.
        """
        digest = hashlib.sha256()
        size = 0
        with self.open(key) as chunks:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
        return SavedObject(key=key, size=size, sha256=digest.hexdigest())

    def close(self) -> None:  # noqa: B027 - an optional hook: a local directory holds nothing open
        """Release connections or handles the backend keeps. The storage is unusable after."""

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_key(key: object) -> str:
    """Return ``key`` if it is a safe relative object key. Raises InvalidKey otherwise.

    Refused: non-strings, empty keys, absolute keys, ``..`` anywhere, backslashes, NUL and other
    control characters, empty segments (``a//b``, trailing ``/``), segments starting with ``.``
    (reserved for the local backend's temporary files) and keys over 1024 UTF-8 bytes.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"object key must be a non-empty string, not {key!r}")
    _check_characters(key, "key")
    if key.startswith("/"):
        raise InvalidKey(f"object key must be relative: {key!r}")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(f"object key has an empty segment: {key!r}")
        if segment.startswith("."):
            raise InvalidKey(f"object key segment starts with '.': {key!r}")
    return key


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it could start a valid key (``""`` included). Raises InvalidKey."""
    if not isinstance(prefix, str):
        raise InvalidKey(f"key prefix must be a string, not {prefix!r}")
    if not prefix:
        return prefix
    _check_characters(prefix, "prefix")
    if prefix.startswith("/") or "//" in prefix or "/." in prefix or prefix.startswith("."):
        raise InvalidKey(f"key prefix cannot start a valid key: {prefix!r}")
    return prefix


def _check_characters(value: str, what: str) -> None:
    if ".." in value:
        raise InvalidKey(f"object {what} contains '..': {value!r}")
    if "\\" in value:
        raise InvalidKey(f"object {what} contains a backslash: {value!r}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidKey(f"object {what} contains a control character: {value!r}")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates from a badly decoded path
        raise InvalidKey(f"object {what} is not valid Unicode: {value!r}") from exc
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidKey(f"object {what} is longer than {MAX_KEY_BYTES} bytes")


def check_range(start: int | None, end: int | None) -> None:
    """Check the form of a byte range (see ``Storage.open``) without knowing the object's size.

    Raises InvalidRange for negative numbers, ``end < start`` and the empty suffix ``(None, 0)``.
    """
    for value in (start, end):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidRange(f"range bounds must be integers, not {value!r}")
        if value is not None and value < 0:
            raise InvalidRange(f"range bounds must not be negative: {start}-{end}")
    if start is not None and end is not None and end < start:
        raise InvalidRange(f"range ends before it starts: {start}-{end}")
    if start is None and end == 0:
        raise InvalidRange("an empty suffix range (bytes=-0) cannot be satisfied")


def resolve_range(total: int, start: int | None, end: int | None) -> tuple[int, int]:
    """Return ``(offset, length)`` of a range within an object of ``total`` bytes.

    Same rules as S3 and RFC 9110. Raises InvalidRange when it cannot be satisfied.
    """
    check_range(start, end)
    if start is None and end is None:
        return 0, total
    if total == 0:
        raise InvalidRange("no range of an empty object can be satisfied")
    if start is None:
        assert end is not None
        length = min(end, total)
        return total - length, length
    if start >= total:
        raise InvalidRange(f"range starts at {start}, past the end of a {total}-byte object")
    last = total - 1 if end is None else min(end, total - 1)
    return start, last - start + 1


def range_header(start: int | None, end: int | None) -> str | None:
    """The HTTP ``Range`` header value for a range, or None for the whole object."""
    check_range(start, end)
    if start is None and end is None:
        return None
    if start is None:
        return f"bytes=-{end}"
    return f"bytes={start}-" if end is None else f"bytes={start}-{end}"


def check_part_number(part_number: object) -> int:
    """Return a valid multipart part number (1–10000). Raises StorageError."""
    if (
        not isinstance(part_number, int)
        or isinstance(part_number, bool)
        or not 1 <= part_number <= MAX_PART_NUMBER
    ):
        raise StorageError(f"part number must be 1–{MAX_PART_NUMBER}, not {part_number!r}")
    return part_number


def check_parts(parts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Return the part list of a completion if it is non-empty and strictly ascending.

    Raises StorageError otherwise.
    """
    if not parts:
        raise StorageError("a multipart upload needs at least one part")
    previous = 0
    checked = []
    for number, token in parts:
        check_part_number(number)
        if number <= previous:
            raise StorageError("parts must be listed in strictly ascending order")
        if not isinstance(token, str) or not token:
            raise StorageError(f"part {number} has no token")
        previous = number
        checked.append((number, token))
    return checked


def check_expires(expires: object) -> int:
    """Return a presigned URL lifetime (1 s to 7 days, S3's limit). Raises StorageError."""
    if not isinstance(expires, int) or isinstance(expires, bool) or not 1 <= expires <= 604800:
        raise StorageError(f"expires must be 1–604800 seconds, not {expires!r}")
    return expires


def read_stream(stream: BinaryIO, size: int) -> bytes:
    """Read up to ``size`` bytes, fewer only at the end of the stream.

    ``read(n)`` on sockets and WSGI input may return short reads long before the end.
    """
    pieces = []
    remaining = size
    while remaining > 0:
        data = stream.read(min(remaining, CHUNK_SIZE))
        if not data:
            break
        pieces.append(data)
        remaining -= len(data)
    return b"".join(pieces)


class Counter:
    """Size and SHA-256 of the bytes seen so far, with the ``max_size`` check."""

    def __init__(self, key: str, max_size: int | None) -> None:
        if max_size is not None and (not isinstance(max_size, int) or max_size < 0):
            raise StorageError(f"max_size must be a non-negative integer, not {max_size!r}")
        self.key = key
        self.max_size = max_size
        self.size = 0
        self._digest = hashlib.sha256()

    def update(self, data: bytes) -> None:
        """Count ``data``. Raises ObjectTooLarge once the total passes ``max_size``."""
        self.size += len(data)
        if self.max_size is not None and self.size > self.max_size:
            raise ObjectTooLarge(f"object {self.key!r} is larger than {self.max_size} bytes")
        self._digest.update(data)

    def result(self) -> SavedObject:
        return SavedObject(key=self.key, size=self.size, sha256=self._digest.hexdigest())
