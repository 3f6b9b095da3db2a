"""Resumable uploads (the tus 1.0 protocol) under ``/api/v1/uploads/``: big files in pieces.

Each PATCH is streamed straight into object storage, so an upload survives a dropped connection
and can be continued on any web node; the finished object becomes a ``StoredFile``.
"""

from cloud.uploads.tus import bp

__all__ = ["bp"]
