"""Sending stored objects to browsers: inline previews and attachment downloads, with Range.

Stations on poor rural links resume downloads, and video players seek: both need HTTP Range.
With the S3 backend, downloads are redirects to short-lived presigned URLs instead (issue 5).
"""

import re

from flask import Response, request

from cloud.files.service import FileGone, StorageUnavailable, get_storage
from storage import InvalidRange, ObjectNotFound, StorageError, content_disposition

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def _parse_range(header, total):
    """Return (start, end) inclusive for a single-range header, None to send all, or raise InvalidRange."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None  # unsupported forms (several ranges…) get the whole object, as RFC 9110 allows
    first, last = match.groups()
    if first:
        start = int(first)
        end = min(int(last), total - 1) if last else total - 1
        if start >= total or (last and int(last) < start):
            raise InvalidRange(f"range {header} outside 0-{total - 1}")
    else:
        length = int(last)
        if length == 0:
            raise InvalidRange("empty suffix range")
        start, end = max(total - length, 0), total - 1
    return start, end


def send_stored_file(stored_file, *, mimetype=None, as_attachment=False, download_name=None, max_age=0):
    """A streamed response for ``stored_file`` honouring Range; nothing is held in memory.

    Raises FileGone when the file is marked damaged or its object is missing (a Chinese 410,
    never a 500), StorageUnavailable when storage cannot be read.
    """
    if stored_file.damaged_at is not None:
        raise FileGone()
    total = stored_file.size
    headers = {
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "ETag": f'"{stored_file.sha256}"',
    }
    if as_attachment:
        headers["Content-Disposition"] = content_disposition(
            download_name or stored_file.original_name or "download"
        )
    mimetype = mimetype or stored_file.content_type or "application/octet-stream"
    try:
        wanted = _parse_range(request.headers.get("Range"), total) if total else None
    except InvalidRange:
        headers["Content-Range"] = f"bytes */{total}"
        return Response(status=416, headers=headers)
    if_range = request.headers.get("If-Range")
    if wanted and if_range and if_range != headers["ETag"]:
        wanted = None  # the client's partial copy is of another version: send it all
    if wanted is None:
        body = _open(stored_file.key) if total else iter(())
        response = Response(body, status=200, mimetype=mimetype, headers=headers, direct_passthrough=True)
        response.content_length = total
    else:
        start, end = wanted
        body = _open(stored_file.key, start, end)
        headers["Content-Range"] = f"bytes {start}-{end}/{total}"
        response = Response(body, status=206, mimetype=mimetype, headers=headers, direct_passthrough=True)
        response.content_length = end - start + 1
    response.cache_control.private = True
    response.cache_control.max_age = max_age
    return response


def _open(key, start=None, end=None):
    # Opened before any header is sent, so a missing object is still a proper error answer.
    try:
        return get_storage().open(key, start, end)
    except ObjectNotFound:
        raise FileGone() from None
    except StorageError as exc:
        raise StorageUnavailable() from exc
