"""The tus 1.0 protocol's logic: create an upload, append a chunk, finish, terminate, sweep.

Where the bytes are between two PATCH requests (nothing is kept on a web node):

* every full ``PART_SIZE`` (8 MiB) piece is a part of an S3-style multipart upload, and part ``n``
  always holds bytes ``[(n-1)·PART_SIZE, n·PART_SIZE)``;
* the bytes after the last full part, fewer than ``PART_SIZE``, are a small object of their own
  (``uploads/<id>/tail-<random>``) that the next PATCH reads back and puts in front of its body.

S3 refuses parts under 5 MiB except the last one, and a client's chunks can be any size, hence the
tail. Parts sit on a fixed grid so that a part's number follows from its offset: a PATCH repeated
after a timeout, or sent twice at once, writes the same bytes into the same part instead of
leaving two versions of the upload that disagree about which part holds what.

The upload row says which parts and which tail are real; a PATCH moves it forward with one
compare-and-set on ``offset`` after its bytes are stored, so a request that dies half-way, fails
its checksum or loses a race leaves the row exactly as it was. The functions here flush and never
commit; the view commits once, then calls ``remove_objects`` for what the new state made obsolete.
"""

import base64
import binascii
import hashlib
import io
import json
import logging
import mmap
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from sqlalchemy import select, update
from werkzeug.exceptions import ClientDisconnected

from cloud.errors import Conflict, DomainError, NotFound, ValidationFailed
from cloud.extensions import db
from cloud.files.service import get_storage, new_key, record_file, remove_unreferenced
from cloud.institutions import quota
from cloud.institutions.service import require_uploader
from cloud.media.sniff import UploadRejected, check_name
from cloud.models_base import utcnow
from cloud.resources.kinds import UPLOAD_TYPES
from cloud.units import human_size
from cloud.uploads.models import Upload
from storage import ObjectNotFound, SavedObject, StorageError
from storage.base import MiB

log = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "termination", "checksum")
CHUNK_CONTENT_TYPE = "application/offset+octet-stream"
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}

#: Size of every multipart part but the last; the same as storage.s3's own part size.
PART_SIZE = 8 * MiB
#: Most bytes asked of the request body at once. WSGI servers build each answer from small socket
#: reads and copies; with gthread workers the larger blocks linger in each thread's malloc arena
#: (1 MiB reads: ~110 MB peak worker RSS in bench/upload_bench.py, 256 KiB: ~99 MB, same speed).
READ_SIZE = 256 * 1024

#: What an upload's ``resource_type`` may be: a file kind or an article's picture, each with its
#: name, file rules and size limit (cloud.resources.kinds).
RESOURCE_TYPES = UPLOAD_TYPES

#: Uploads whose running SHA-256 a process keeps between PATCHes (a few hundred bytes each).
RUNNING_HASHES = 256

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
_DIGITS = re.compile(r"^[0-9]{1,19}$")
_METADATA_KEY = re.compile(r"^[!-+\--~]+$")  # printable ASCII without space and comma
_MIME_TYPE = re.compile(r"^[\w.+-]{1,50}/[\w.+-]{1,49}$", re.ASCII)
MAX_FILENAME = 255


class ProtocolError(DomainError):
    """A tus header is missing or malformed."""

    status = 400
    code = "bad_request"
    message = "上传请求有误"


class UnsupportedVersion(DomainError):
    status = 412
    code = "unsupported_version"
    message = f"仅支持 tus {TUS_VERSION} 协议"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    message = f"上传数据的 Content-Type 须为 {CHUNK_CONTENT_TYPE}"


class UploadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    message = "上传的内容超过大小限制"


class OffsetMismatch(Conflict):
    code = "offset_mismatch"
    message = "上传进度已变化，请重新查询进度后继续"


class ChecksumMismatch(DomainError):
    status = 460
    code = "checksum_mismatch"
    message = "数据校验失败，本段数据未保存，请重新发送"


class StorageFailed(DomainError):
    status = 503
    code = "storage_unavailable"
    message = "存储服务暂时不可用，请稍后重试"


@dataclass
class AppendResult:
    """What a PATCH achieved: the new offset, and objects to delete once it is committed."""

    offset: int
    completed: bool = False
    interrupted: bool = False
    stale_keys: list[str] = field(default_factory=list)
    purge_upload_id: str | None = None  # the upload is finished: empty its ``uploads/<id>/`` prefix
    #: The SHA-256 of the upload's bytes up to ``offset``, to keep once this PATCH is committed.
    running_sha256: object | None = None
    upload_id: str | None = None


class _RunningHashes:
    """SHA-256 states of unfinished uploads, by upload id: ``(offset, hashlib object)``.

    The final PATCH would otherwise read the whole assembled object back to learn its SHA-256
    (1 GiB: seconds of S3 GETs, bench/README.md's S3 rows). Each PATCH that finds the state for
    its own start offset carries a copy forward over the bytes it receives, and the state is kept
    only after the PATCH's commit (``keep_running_hash``), so it always covers exactly the bytes
    the row says are stored. A PATCH served by another process, or after this one forgot the
    upload (a restart, more than RUNNING_HASHES uploads at once), finds none and the object is
    read back as before. hashlib cannot export a state, so it lives in this process only.
    """

    def __init__(self, size):
        self._size = size
        self._states = OrderedDict()
        self._lock = threading.Lock()

    def start(self, upload_id, offset):
        """A copy of the state for ``offset`` (a fresh one at 0), or None when there is none."""
        if offset == 0:
            return hashlib.sha256()
        with self._lock:
            state = self._states.get(upload_id)
            if state is None or state[0] != offset:
                return None
            return state[1].copy()

    def keep(self, upload_id, offset, digest):
        with self._lock:
            self._states[upload_id] = (offset, digest)
            self._states.move_to_end(upload_id)
            while len(self._states) > self._size:
                self._states.popitem(last=False)

    def forget(self, upload_id):
        with self._lock:
            self._states.pop(upload_id, None)


_running = _RunningHashes(RUNNING_HASHES)


def keep_running_hash(result):
    """After the PATCH's commit: keep its SHA-256 state for the next PATCH, or drop a finished
    upload's."""
    if result.upload_id is None:
        return
    if result.completed:
        _running.forget(result.upload_id)
    elif result.running_sha256 is not None:
        _running.keep(result.upload_id, result.offset, result.running_sha256)


# -- headers ----------------------------------------------------------------------------------


def size_limit(resource_type):
    """The largest upload allowed for ``resource_type``, in bytes."""
    return RESOURCE_TYPES[resource_type].limit()


def max_size():
    """The largest upload of any type (the Tus-Max-Size header)."""
    return max(size_limit(kind) for kind in RESOURCE_TYPES)


def capability_headers():
    """The headers of the answer to OPTIONS: what this server supports."""
    return {
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(TUS_EXTENSIONS),
        "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        "Tus-Max-Size": str(max_size()),
    }


def check_version(value):
    """Raise UnsupportedVersion unless the request's Tus-Resumable header is ours."""
    if value != TUS_VERSION:
        raise UnsupportedVersion()


def parse_offset(value, header="Upload-Offset"):
    """A non-negative integer header. Raises ProtocolError."""
    if value is None or not _DIGITS.match(value):
        raise ProtocolError(f"请求头 {header} 缺失或不是非负整数", details={"header": header})
    return int(value)


def parse_metadata(value):
    """Decode Upload-Metadata (``key base64,key2 base64``) into a dict of str. Raises ProtocolError."""
    metadata = {}
    if not value or not value.strip():
        return metadata
    for pair in value.split(","):
        key, _, encoded = pair.strip().partition(" ")
        encoded = encoded.strip()
        if not _METADATA_KEY.match(key) or key in metadata or " " in encoded:
            raise ProtocolError("请求头 Upload-Metadata 格式有误", details={"header": "Upload-Metadata"})
        try:
            metadata[key] = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ProtocolError(
                f"Upload-Metadata 中 {key} 的值不是有效的 base64 UTF-8 文本",
                details={"header": "Upload-Metadata", "key": key},
            ) from None
    return metadata


def encode_metadata(upload):
    """Upload-Metadata for a HEAD answer: what the client declared at creation."""
    values = {
        "filename": upload.filename,
        "filetype": upload.declared_type,
        "resource_type": upload.resource_type,
    }
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode('ascii')}" for key, value in values.items() if value
    )


def parse_checksum(value):
    """Decode Upload-Checksum (``<algorithm> <base64 digest>``), or None when absent.

    Returns ``(algorithm name, expected digest bytes)``. Raises ProtocolError for an unsupported
    algorithm or a digest that is not base64 of the algorithm's length.
    """
    if value is None:
        return None
    name, _, encoded = value.strip().partition(" ")
    name = name.lower()
    if name not in CHECKSUM_ALGORITHMS:
        raise ProtocolError(
            f"不支持的校验算法，仅支持 {', '.join(CHECKSUM_ALGORITHMS)}",
            details={"header": "Upload-Checksum", "supported": list(CHECKSUM_ALGORITHMS)},
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != CHECKSUM_ALGORITHMS[name]().digest_size:
        raise ProtocolError("请求头 Upload-Checksum 的校验值无效", details={"header": "Upload-Checksum"})
    return name, digest


# -- creation ---------------------------------------------------------------------------------


def create_upload(user, length_header, metadata_header, *, defer_length=None):
    """Create an upload for ``user`` of the declared length; nothing is stored yet.

    An upload of zero bytes is finished at once. Raises PermissionDenied (not a verified
    institution's member), ProtocolError (missing or malformed headers, deferred length),
    ValidationFailed (resource type or file name), UploadTooLarge (over the type's limit),
    QuotaExceeded (the institution's storage is full) or StorageFailed (a zero-byte upload that
    could not be stored).
    """
    require_uploader(user)
    if defer_length is not None:
        raise ProtocolError(
            "不支持延迟声明文件大小，请提供 Upload-Length", details={"header": "Upload-Length"}
        )
    length = parse_offset(length_header, "Upload-Length")
    metadata = parse_metadata(metadata_header)
    resource_type = metadata.get("resource_type", "")
    if resource_type not in RESOURCE_TYPES:
        raise ValidationFailed(
            "请在 Upload-Metadata 中用 resource_type 指明资源类型",
            details={"field": "resource_type", "allowed": list(RESOURCE_TYPES)},
        )
    kind = RESOURCE_TYPES[resource_type]
    limit = kind.limit()
    if length > limit:
        raise UploadTooLarge(f"{kind.label}文件不能超过 {human_size(limit)}", details={"limit": limit})
    quota.check_new(user.institution_id, length)
    filename = _checked_filename(kind.files, metadata.get("filename", ""))
    declared = metadata.get("filetype", "")
    upload = Upload(
        user_id=user.id,
        resource_type=resource_type,
        filename=filename,
        declared_type=declared if _MIME_TYPE.match(declared) else "",
        length=length,
        offset=0,
        key=new_key(),
        parts="[]",
        tail_size=0,
    )
    db.session.add(upload)
    db.session.flush()
    if length == 0:
        _finish_empty(upload)
    log.info("upload %s created by user %s: %s, %d bytes", upload.id, user.id, resource_type, length)
    return upload


def _finish_empty(upload):
    # Nothing will ever be PATCHed: the empty object is the whole file.
    try:
        saved = get_storage().save(upload.key, io.BytesIO(b""))
    except StorageError as exc:
        raise StorageFailed() from exc
    stored = record_file(
        saved.key,
        saved.size,
        saved.sha256,
        original_name=upload.filename,
        institution_id=_institution(upload),
    )
    upload.completed_at = utcnow()
    upload.stored_file_id = stored.id
    db.session.flush()


def _institution(upload):
    """The institution whose quota ``upload`` counts against: its uploader's."""
    return upload.user.institution_id


def _checked_filename(name_rules, filename):
    # The same name rules as the media pipeline, before a single byte is sent: a 4 GB upload
    # called "x.php.mp4" should be refused now, not after an hour of uploading.
    try:
        name, ext = check_name(name_rules, filename)
    except UploadRejected as exc:
        raise ValidationFailed(exc.message, details={"field": "filename"}) from None
    if len(name) > MAX_FILENAME:
        name = name[: MAX_FILENAME - len(ext) - 1] + "." + ext
    return name


# -- lookup -----------------------------------------------------------------------------------


def get_upload(user, upload_id):
    """``user``'s upload ``upload_id``. Raises NotFound, also for other users' uploads (no probing)."""
    upload = db.session.get(Upload, upload_id) if _UPLOAD_ID.match(upload_id or "") else None
    if upload is None or user is None or upload.user_id != user.id:
        raise NotFound("上传不存在或已删除")
    return upload


# -- PATCH ------------------------------------------------------------------------------------


def append(upload, stream, *, offset, content_length=None, checksum=None):
    """Store the bytes of one PATCH at ``offset``; finish the upload when they reach its length.

    ``stream`` is the request body; ``checksum`` what ``parse_checksum`` returned. Bytes stored
    before the client went away count (without a checksum, which could not be verified). When the
    upload is complete the object is assembled, hashed and recorded as a ``StoredFile``.
    Raises OffsetMismatch (``offset`` is not the upload's, or a concurrent PATCH won), NotFound
    (the upload was terminated meanwhile), UploadTooLarge (more bytes than the upload has left),
    ChecksumMismatch (nothing is kept), ProtocolError (interrupted body with a checksum),
    QuotaExceeded (the institution's storage filled up since the upload was created) or
    StorageFailed (storage errors; nothing of this request counts and it can be retried).
    """
    if offset != upload.offset:
        raise OffsetMismatch(details={"offset": upload.offset})
    quota.check_upload(upload, _institution(upload))
    remaining = upload.length - upload.offset
    if content_length is not None and content_length > remaining:
        raise UploadTooLarge(
            f"本次上传的数据超出文件声明的大小（还剩 {remaining} 字节）", details={"remaining": remaining}
        )
    return _Append(get_storage(), upload).run(stream, content_length, checksum)


def remove_objects(result):
    """Delete the objects a committed PATCH made obsolete; failures are only logged.

    Leftovers are harmless: the completion, termination or sweep of that upload empties its
    ``uploads/<id>/`` prefix.
    """
    storage = get_storage()
    keys = list(result.stale_keys)
    try:
        if result.purge_upload_id is not None:
            keys.extend(storage.iter_keys(_prefix(result.purge_upload_id)))
        for key in dict.fromkeys(keys):
            storage.delete(key)
    except StorageError:
        log.warning("could not remove obsolete upload objects %s", keys, exc_info=True)


def _prefix(upload_id):
    return f"uploads/{upload_id}/"


class _ViewReader:
    """A read-only, seekable file over a memoryview, so a part goes to storage without being
    copied whole: the S3 backend hands a seekable body straight to boto3, which reads it once to
    sign it, seeks back and sends it (and seeks back again to retry)."""

    def __init__(self, view):
        self._view = view
        self._position = 0

    def read(self, size=-1):
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._position + size)
        data = bytes(self._view[self._position : end])
        self._position = end
        return data

    def seekable(self):
        return True

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._view)}[whence]
        self._position = max(0, min(len(self._view), base + offset))
        return self._position

    def tell(self):
        return self._position


class _PartInFlight:
    """One part being uploaded by a thread of its own while the request reads the next one."""

    def __init__(self, storage, key, multipart_id, number, view):
        self.number = number
        self.view = view
        self.token = None
        self.error = None
        self._thread = threading.Thread(
            target=self._send, args=(storage, key, multipart_id), name=f"upload-part-{number}", daemon=True
        )
        self._thread.start()

    def _send(self, storage, key, multipart_id):
        try:
            self.token = storage.upload_part(key, multipart_id, self.number, _ViewReader(self.view))
        except BaseException as exc:  # handed to the request's thread by wait()
            self.error = exc

    def wait(self):
        """Block until the part is stored; return its token. Raises what the upload raised."""
        self._thread.join()
        self.view.release()
        if self.error is not None:
            raise self.error
        return self.token


def _read_into(stream, view):
    """Fill as much of ``view`` as one read gives; 0 at the end of the body."""
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return readinto(view) or 0
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)


class _Append:
    """One PATCH: read the body, cut it into grid parts, keep the rest as the tail, move the row.

    The bytes go through one buffer of at most ``PART_SIZE``, filled in place and reused for
    every part: a worker's memory does not grow with the size of a PATCH, and no per-chunk
    copies are left for the allocator to hold on to.
    """

    def __init__(self, storage, upload):
        self.storage = storage
        self.upload = upload
        self.start = upload.offset
        self.parts = upload.part_list
        self.multipart_id = upload.multipart_id
        self.started_multipart = None  # a multipart upload begun by this request
        self.new_tail_key = None
        # Sized for what can still come, so a small upload does not cost a whole part's memory.
        # An anonymous mapping rather than a bytearray: malloc would keep a freed 8 MiB block in
        # the arena of whichever gthread thread served the PATCH, and every thread would end up
        # holding one; a mapping goes back to the system when the PATCH ends.
        self.buffer = mmap.mmap(-1, max(1, min(PART_SIZE, upload.tail_size + upload.length - upload.offset)))
        self.view = memoryview(self.buffer)
        self.spare = None  # a second buffer, filled while the first one's part is being sent
        self.in_flight = None  # _PartInFlight
        self.filled = 0
        self.received = 0
        self.running = _running.start(upload.id, upload.offset)  # None: read the object back

    # The body ---------------------------------------------------------------------------------

    def run(self, stream, content_length, checksum):
        digest = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
        interrupted = False
        try:
            if content_length != 0:
                interrupted = self._receive(stream, digest)
            if digest is not None:
                if interrupted:
                    raise ProtocolError("上传中断，带校验值的数据段须完整发送")
                if digest.digest() != checksum[1]:
                    raise ChecksumMismatch()
            if self.received == 0:
                return AppendResult(offset=self.start, interrupted=interrupted)
            if self.start + self.received == self.upload.length:
                saved = self._assemble()
                return self._commit_completion(saved)
            if self.filled == PART_SIZE:
                self._flush_part()
            self._store_tail()
            self._settle()
            return self._commit_progress(interrupted)
        except StorageError as exc:
            self._settle_quietly()
            self._discard()
            self._raise_if_moved()
            try:
                adopted = self._adopt_assembled(content_length, checksum)
            except StorageError:
                adopted = None
            if adopted is not None:
                return adopted
            log.warning("upload %s: storage failed at offset %d", self.upload.id, self.start, exc_info=True)
            raise StorageFailed() from exc
        except BaseException:
            self._settle_quietly()
            self._discard()
            raise
        finally:
            self._free_buffer()

    def _free_buffer(self):
        self._settle_quietly()
        for view, buffer in ((self.view, self.buffer), self.spare or (None, None)):
            if buffer is None:
                continue
            try:
                view.release()
                buffer.close()
            except BufferError:
                # A slice of it is still referenced (by the traceback of an error on its way
                # out): the mapping is unmapped when that is collected.
                log.debug("upload %s: part buffer still in use", self.upload.id)

    def _receive(self, stream, digest):
        """Read the body into parts; return True if it ended early (the client went away)."""
        remaining = self.upload.length - self.start
        if self.upload.tail_size:
            self._load_tail()
        while self.received < remaining:
            if self.filled == PART_SIZE:
                self._flush_part(background=True)
            room = self.view[self.filled : self.filled + min(READ_SIZE, remaining - self.received)]
            try:
                count = _read_into(stream, room)
            except (ClientDisconnected, OSError, ValueError):
                # The client hung up, or the server saw the body end before its Content-Length.
                return True
            if not count:
                return False  # the whole body: a chunk smaller than what the upload has left
            if digest is not None:
                digest.update(room[:count])
            if self.running is not None:
                self.running.update(room[:count])
            self.filled += count
            self.received += count
        # Everything the upload lacked has come; a body without Content-Length (chunked) could
        # still hold more. (With Content-Length the stream simply ends there.)
        try:
            extra = stream.read(1)
        except (ClientDisconnected, OSError, ValueError):
            extra = b""
        if extra:
            raise UploadTooLarge(
                f"本次上传的数据超出文件声明的大小（还剩 {remaining} 字节）", details={"remaining": remaining}
            )
        return False

    def _load_tail(self):
        size = self.upload.tail_size
        with self.storage.open(self.upload.tail_key) as chunks:
            for chunk in chunks:
                end = self.filled + len(chunk)
                if end > size:
                    break
                self.view[self.filled : end] = chunk
                self.filled = end
            else:
                if self.filled == size:
                    return
        raise StorageError(f"the tail of upload {self.upload.id} is not the {size} bytes recorded")

    def _flush_part(self, background=False):
        """Store the buffer as the next part. In the background while the body is still being
        read: the part goes to storage while the next one arrives in the spare buffer (at most
        one part in flight, so a PATCH holds at most two parts' memory)."""
        self._settle()
        if self.multipart_id is None:
            # Begun with the first full part: uploads smaller than a part never need one.
            self.multipart_id = self.started_multipart = self.storage.start_multipart(self.upload.key)
        number = len(self.parts) + 1
        if not background:
            token = self.storage.upload_part(
                self.upload.key, self.multipart_id, number, _ViewReader(self.view[: self.filled])
            )
            self.parts.append((number, token))
            self.filled = 0
            return
        self.in_flight = _PartInFlight(
            self.storage, self.upload.key, self.multipart_id, number, self.view[: self.filled]
        )
        if self.spare is None:
            still_to_come = self.upload.length - self.start - self.received
            spare = mmap.mmap(-1, max(1, min(PART_SIZE, still_to_come)))
            self.spare = (memoryview(spare), spare)
        (self.view, self.buffer), self.spare = self.spare, (self.view, self.buffer)
        self.filled = 0

    def _settle(self):
        """Wait for the part in flight and count it. Raises what its upload raised."""
        part, self.in_flight = self.in_flight, None
        if part is not None:
            self.parts.append((part.number, part.wait()))

    def _settle_quietly(self):
        part, self.in_flight = self.in_flight, None
        if part is not None:
            try:
                part.wait()
            except BaseException:
                log.debug("upload %s: part %d failed after the request failed", self.upload.id, part.number)

    def _store_tail(self):
        if not self.filled:
            return
        self.new_tail_key = f"{_prefix(self.upload.id)}tail-{secrets.token_hex(8)}"
        self.storage.save(self.new_tail_key, _ViewReader(self.view[: self.filled]))

    # Finishing --------------------------------------------------------------------------------

    def _assemble(self):
        """Put the final object together and return its actual size and SHA-256."""
        self._settle()
        if self.multipart_id is None:
            # The whole upload fits in the buffer (smaller than one part): one plain object.
            saved = self.storage.save(self.upload.key, _ViewReader(self.view[: self.filled]))
        else:
            if self.filled:
                self._flush_part()
            self.storage.complete_multipart(self.upload.key, self.multipart_id, self.parts)
            if self.running is not None:
                # The SHA-256 of every byte the row counts, in order: only the size is asked.
                size = self.storage.size(self.upload.key)
                saved = SavedObject(self.upload.key, size, self.running.hexdigest())
            else:
                saved = self.storage.hash_object(self.upload.key)
        if saved.size != self.upload.length:
            raise StorageError(
                f"upload {self.upload.id} assembled to {saved.size} bytes, not {self.upload.length}"
            )
        return saved

    def _adopt_assembled(self, content_length, checksum):
        """Finish with an object another request already assembled; None if there is none.

        That happens when two final PATCHes run at once, or when an earlier final PATCH
        assembled the object and then its commit failed: the multipart upload is gone, so this
        request's parts were refused, but the object is complete. Without this the upload could
        never be finished. Raises StorageError.
        """
        remaining = self.upload.length - self.start
        if remaining not in (self.received, content_length):
            return None  # this request was not the one to finish the upload
        try:
            if self.storage.size(self.upload.key) != self.upload.length:
                return None
        except ObjectNotFound:
            return None
        if checksum is not None and self.received < remaining:
            # The body was not all read, so its checksum is checked against what is stored.
            digest = CHECKSUM_ALGORITHMS[checksum[0]]()
            with self.storage.open(self.upload.key, self.start) as chunks:
                for chunk in chunks:
                    digest.update(chunk)
            if digest.digest() != checksum[1]:
                return None
        saved = self.storage.hash_object(self.upload.key)
        self.received = remaining
        log.info("upload %s: using the object an earlier request assembled", self.upload.id)
        return self._commit_completion(saved)

    # The row ----------------------------------------------------------------------------------

    def _compare_and_set(self, **values):
        # Two PATCHes at the same offset (a client retrying after a timeout, two browser tabs) both
        # read offset N and stream their bytes into storage; only one may then move the row. A
        # lock held for the whole request would pin a database lock or connection for as long as
        # the slowest client takes to send its chunk, so the row is moved with a compare-and-set:
        # UPDATE … WHERE offset = N is atomic everywhere (PostgreSQL makes the second UPDATE wait
        # for the first one's row lock and then re-checks the WHERE; SQLite runs one writer at a
        # time), so the loser sees rowcount 0, keeps nothing and answers 409. Because parts sit on
        # a fixed grid, whatever the loser wrote into the shared multipart upload is the same bytes
        # in the same parts as the winner's.
        result = db.session.execute(
            update(Upload)
            .where(Upload.id == self.upload.id, Upload.offset == self.start)
            .values(
                offset=self.start + self.received,
                parts=json.dumps(self.parts),
                multipart_id=self.multipart_id,
                updated_at=utcnow(),
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            self._discard()
            self._raise_if_moved(always=True)
        self.started_multipart = None  # it is the upload's own now
        self.new_tail_key = None

    def _commit_progress(self, interrupted):
        old_tail = self.upload.tail_key
        self._compare_and_set(tail_key=self.new_tail_key, tail_size=self.filled)
        db.session.expire(self.upload)
        return AppendResult(
            offset=self.start + self.received,
            interrupted=interrupted,
            stale_keys=[old_tail] if old_tail else [],
            running_sha256=self.running,
            upload_id=self.upload.id,
        )

    def _commit_completion(self, saved):
        upload_id, filename, institution_id = self.upload.id, self.upload.filename, _institution(self.upload)
        self._compare_and_set(tail_key=None, tail_size=0, completed_at=utcnow())
        # The declared type is only the client's claim; the media pipeline sets the real one.
        stored = record_file(
            saved.key, saved.size, saved.sha256, original_name=filename, institution_id=institution_id
        )
        db.session.execute(
            update(Upload)
            .where(Upload.id == upload_id)
            .values(stored_file_id=stored.id)
            .execution_options(synchronize_session=False)
        )
        db.session.expire(self.upload)
        log.info("upload %s complete: %d bytes, sha256 %s", upload_id, saved.size, saved.sha256)
        return AppendResult(offset=saved.size, completed=True, purge_upload_id=upload_id, upload_id=upload_id)

    def _raise_if_moved(self, always=False):
        current = db.session.scalar(select(Upload.offset).where(Upload.id == self.upload.id))
        if current is None:
            raise NotFound("上传不存在或已删除")
        if always or current != self.start:
            raise OffsetMismatch(details={"offset": current})

    def _discard(self):
        """Undo what this request put in storage that the row does not point to. Never raises."""
        tail, self.new_tail_key = self.new_tail_key, None
        multipart, self.started_multipart = self.started_multipart, None
        try:
            if tail is not None:
                self.storage.delete(tail)
            if multipart is not None:
                self.storage.abort_multipart(self.upload.key, multipart)
        except StorageError:
            # Called while another error propagates, which is the one to report; the
            # termination or sweep of this upload removes what is left under its prefix.
            log.warning("upload %s: could not discard a failed chunk", self.upload.id, exc_info=True)


# -- termination and sweep --------------------------------------------------------------------


def terminate(upload):
    """Delete ``upload`` and everything it stored (tus termination). Raises StorageFailed.

    The row goes first, so a PATCH arriving meanwhile waits for this transaction and then finds
    no upload. A finished upload's file (nothing else refers to it: using an upload deletes the
    upload) loses its row too; its key is returned for the caller to delete after its commit.
    """
    db.session.delete(upload)
    db.session.flush()
    stale = []
    if upload.completed_at is None:
        try:
            _remove_from_storage(upload)
        except StorageError as exc:
            log.warning("upload %s: could not remove its objects", upload.id, exc_info=True)
            raise StorageFailed() from exc
    elif upload.stored_file_id is not None:
        key = remove_unreferenced(upload.stored_file_id)
        stale = [key] if key else []
    log.info("upload %s terminated", upload.id)
    return stale


def unused_uploads(older_than):
    """Ids of finished uploads nobody made a resource of within ``older_than`` (a timedelta)."""
    cutoff = utcnow() - older_than
    return list(
        db.session.scalars(
            select(Upload.id)
            .where(Upload.completed_at.is_not(None), Upload.completed_at < cutoff)
            .order_by(Upload.id)
        )
    )


def remove_unused(upload_id, older_than):
    """Remove one unused finished upload and its file's row; return the file's key (the caller
    deletes the object after committing), "" if it had none, None if it was used meanwhile."""
    upload = db.session.get(Upload, upload_id)
    if upload is None or upload.completed_at is None or upload.completed_at >= utcnow() - older_than:
        return None
    db.session.delete(upload)
    db.session.flush()
    key = remove_unreferenced(upload.stored_file_id) if upload.stored_file_id is not None else None
    log.info("unused upload %s removed (%d bytes)", upload.id, upload.length)
    return key or ""


def abandoned_uploads(older_than):
    """Ids of unfinished uploads nobody has continued for ``older_than`` (a timedelta)."""
    cutoff = utcnow() - older_than
    return list(
        db.session.scalars(
            select(Upload.id)
            .where(Upload.completed_at.is_(None), Upload.updated_at < cutoff)
            .order_by(Upload.id)
        )
    )


def remove_abandoned(upload_id, older_than):
    """Remove one abandoned upload, its parts, tail and any assembled object; False if it moved on.

    The row is deleted first, so a PATCH arriving meanwhile waits for this transaction and then
    finds no upload, instead of writing into storage being emptied. Raises StorageError (the
    caller rolls back and the upload is tried again next time).
    """
    upload = db.session.get(Upload, upload_id)
    if upload is None or upload.completed_at is not None or upload.updated_at >= utcnow() - older_than:
        return False
    db.session.delete(upload)
    db.session.flush()
    _remove_from_storage(upload)
    log.info("abandoned upload %s removed (%d of %d bytes)", upload.id, upload.offset, upload.length)
    return True


def _remove_from_storage(upload):
    storage = get_storage()
    if upload.multipart_id:
        storage.abort_multipart(upload.key, upload.multipart_id)
    for key in list(storage.iter_keys(_prefix(upload.id))):
        storage.delete(key)
    # An object assembled by a request whose commit failed belongs to nobody else.
    storage.delete(upload.key)
