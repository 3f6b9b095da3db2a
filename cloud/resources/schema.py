"""The JSON shapes of resources, shared by the API and the pages' live updates."""

from flask import url_for

from cloud.resources.models import ResourceFile
from cloud.resources.service import duplicate_json, duplicates_of

FILE_FACTS = ResourceFile.FACT_COLUMNS


def file_json(rf: ResourceFile):
    data = {
        "id": rf.id,
        "role": rf.role,
        "mime_type": rf.mime_type,
        "size": rf.size,
        "sha256": rf.stored_file.sha256,
        "name": rf.stored_file.original_name,
        "url": url_for("resources.own_file", resource_id=rf.resource_id, file_id=rf.id),
    }
    data.update({k: getattr(rf, k) for k in FILE_FACTS})
    data["facts"] = rf.facts or {}
    return data


def job_json(job):
    if job is None:
        return None
    return {
        "id": job.id,
        "status": job.status,
        "step": job.step,
        "progress": job.progress,
        "error": job.error,
        "attempts": job.attempts,
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def resource_json(resource, *, detail=True):
    data = {
        "id": resource.id,
        "kind": resource.kind,
        "kind_label": resource.kind_label,
        "title": resource.title,
        "summary": resource.summary,
        "channel": resource.channel,
        "tags": resource.tag_list,
        "state": resource.state,
        "state_label": resource.state_label,
        "created_at": resource.created_at.isoformat(),
        "updated_at": resource.updated_at.isoformat(),
        "processing": job_json(resource.latest_job),
        "thumbnail_url": _thumbnail_url(resource),
        "page_url": url_for("resources.own_detail", resource_id=resource.id),
    }
    if detail:
        data["files"] = [file_json(f) for f in resource.files]
        data["history"] = [
            {
                "from": e.from_state,
                "to": e.to_state,
                "comment": e.comment,
                "at": e.created_at.isoformat(),
                "by": e.actor.display_name if e.actor else None,
            }
            for e in resource.events
        ]
        if resource.kind == "article":
            data["body_html"] = resource.body_html
        # The same file uploaded before by the institution: the uploader is told, with links.
        data["duplicates"] = [duplicate_json(r) for r in duplicates_of(resource)]
    return data


def _thumbnail_url(resource):
    thumb = resource.file("thumbnail")
    if thumb is None:
        return None
    return url_for("resources.own_file", resource_id=resource.id, file_id=thumb.id)


RESOURCE_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": ["article", "image", "video", "wallchart", "audio"]},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "channel": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "state": {"type": "string"},
        "processing": {"type": ["object", "null"]},
        "files": {"type": "array", "items": {"type": "object"}},
        "history": {"type": "array", "items": {"type": "object"}},
        "duplicates": {
            "type": "array",
            "description": "the institution's earlier resources with the same source file (SHA-256)",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "title": {"type": "string"},
                    "state": {"type": "string"},
                    "state_label": {"type": "string"},
                    "created_at": {"type": "string"},
                    "page_url": {"type": "string"},
                },
            },
        },
    },
}


def published_json(resource):
    """The station's view of a published resource (a ``Resource``, or the ``catalog.service.Listed``
    of a search result, which answers the same attributes)."""
    from cloud.catalog.service import DOWNLOADS

    data = {
        "id": resource.id,
        "kind": resource.kind,
        "kind_label": resource.kind_label,
        "title": resource.title,
        "summary": resource.summary,
        "channel": resource.channel,
        "tags": resource.tag_list,
        "institution": resource.institution_name,
        "published_at": resource.published_at.isoformat() if resource.published_at else None,
        "downloads": resource.download_count,
        "page_url": url_for("catalog.detail", resource_id=resource.id),
        "thumbnail_url": None,
        "renditions": {},
    }
    thumb = resource.file("thumbnail")
    if thumb is not None:
        data["thumbnail_url"] = url_for("catalog.media", resource_id=resource.id, file_id=thumb.id)
    for rendition, role in DOWNLOADS.get(resource.kind, {}).items():
        rf = resource.file(role)
        if rf is not None:
            data["renditions"][rendition] = {
                "size": rf.size,
                "mime_type": rf.mime_type,
                **{k: getattr(rf, k) for k in FILE_FACTS if getattr(rf, k) is not None},
            }
    return data
