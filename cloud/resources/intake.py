"""Accepting an uploaded file as a resource's source: name and content checked together."""

import os
import tempfile

from cloud.errors import ValidationFailed
from cloud.files.service import read_head
from cloud.media.sniff import SNIFF_BYTES, UploadRejected, check_name, check_upload
from cloud.resources.kinds import file_rules


def check_filename(kind, filename):
    """Refuse a bad name or extension before any byte is uploaded. Raises ValidationFailed."""
    try:
        check_name(file_rules(kind), filename)
    except UploadRejected as exc:
        raise ValidationFailed(exc.message, details={"field": "file"}) from None


def check_source(kind, stored_file):
    """Decide the stored file's type from its first bytes; return the MIME type.

    Also replaces the recorded name with a safe display name. Raises ValidationFailed when the
    name, the content or their agreement is not acceptable for ``kind``.
    """
    head = read_head(stored_file, SNIFF_BYTES)
    fd, path = tempfile.mkstemp(prefix="kepu-sniff-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(head)
        accepted = check_upload(file_rules(kind), stored_file.original_name, path)
    except UploadRejected as exc:
        raise ValidationFailed(exc.message, details={"field": "file"}) from None
    finally:
        os.unlink(path)
    stored_file.content_type = accepted.sniffed.mime
    stored_file.original_name = accepted.display_name
    return accepted.sniffed.mime
