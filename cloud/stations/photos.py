"""Evidence photos (五有, 实地核查, activities): checked and re-encoded before anything is stored.

A photo goes through the same hardened path as every uploaded image: name allow-list, type from
the content, Pillow with an explicit format list and a pixel limit, then a fresh JPEG with no
EXIF/XMP (no location, no camera serial). Only the re-encoded copy is stored. Every photo of a
form is prepared first and stored only when all of them passed, so a bad third photo leaves no
trace of the first two.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass

from cloud.errors import PayloadTooLarge, ValidationFailed
from cloud.extensions import db
from cloud.files.service import store_file
from cloud.media.ffmpeg import MediaRejected
from cloud.media.images import render_preview
from cloud.media.sniff import check_upload, display_name
from cloud.resources.kinds import IMAGE_FILES
from cloud.stations.models import StationPhoto
from cloud.units import human_size

PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_MAX_PIXELS = 40_000_000
PHOTO_MAX_SIDE = 1600
PHOTOS_PER_FIELD = 6


@dataclass
class PreparedPhoto:
    path: str
    name: str
    width: int
    height: int


class PhotoBatch:
    """Photos of one form, prepared in a scratch folder; ``close()`` removes the folder."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="kepu-photos-")
        self.groups = {}

    def add(self, purpose, file_storages, *, label):
        """Check and re-encode the files for ``purpose``. Raises ValidationFailed, PayloadTooLarge."""
        files = [f for f in (file_storages or []) if f is not None and getattr(f, "filename", "")]
        if len(files) > PHOTOS_PER_FIELD:
            raise ValidationFailed(f"“{label}”最多上传 {PHOTOS_PER_FIELD} 张照片", details={"field": purpose})
        prepared = self.groups.setdefault(purpose, [])
        for file_storage in files:
            prepared.append(self._prepare(file_storage, purpose, label))

    def _prepare(self, file_storage, purpose, label):
        raw = os.path.join(self.folder, f"in-{len(os.listdir(self.folder))}")
        size = 0
        with open(raw, "wb") as out:
            while chunk := file_storage.stream.read(1024 * 1024):
                size += len(chunk)
                if size > PHOTO_MAX_BYTES:
                    raise PayloadTooLarge(
                        f"“{label}”的照片不能超过 {human_size(PHOTO_MAX_BYTES)}", details={"field": purpose}
                    )
                out.write(chunk)
        name = file_storage.filename or "photo.jpg"
        out_path = raw + ".jpg"
        try:
            check_upload(IMAGE_FILES, name, raw)
            width, height = render_preview(raw, out_path, PHOTO_MAX_SIDE, max_pixels=PHOTO_MAX_PIXELS)
        except MediaRejected as exc:
            raise ValidationFailed(
                f"“{label}”的照片“{display_name(name)}”无法使用：{exc.message}", details={"field": purpose}
            ) from None
        return PreparedPhoto(out_path, display_name(name), width, height)

    def store(self, station, *, field_check=None, activity=None):
        """Put every prepared photo into storage and record it. Raises StorageError."""
        rows = []
        for purpose, prepared in self.groups.items():
            for photo in prepared:
                with open(photo.path, "rb") as fh:
                    stored = store_file(fh, original_name=photo.name, content_type="image/jpeg")
                row = StationPhoto(
                    station=station,
                    purpose=purpose,
                    stored_file=stored,
                    width=photo.width,
                    height=photo.height,
                    field_check_id=getattr(field_check, "id", None),
                    activity_id=getattr(activity, "id", None),
                )
                db.session.add(row)
                rows.append(row)
        db.session.flush()
        return rows

    def close(self):
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
