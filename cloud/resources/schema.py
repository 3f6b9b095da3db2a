"""The JSON shapes of resources, shared by the API and the pages' live updates."""

from flask import url_for

from cloud.resources.kinds import KINDS
from cloud.resources.models import ResourceFile, Role
from cloud.resources.service import duplicate_json, duplicates_of

FILE_FACTS = ResourceFile.FACT_COLUMNS


def file_json(rf: ResourceFile):
    data = {
        "id": rf.id,
        "role": rf.role,
        "role_label": rf.role_label,
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
        "rejection_reason": resource.rejection_reason,
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


# JSON schemas of the shapes above, for the OpenAPI document (tests/contract holds the answers to
# them). Every key the functions always write is required; more may be added.
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_KINDS = [kind.value for kind in KINDS]
_FACT_TYPES = {
    "width": "integer",
    "height": "integer",
    "duration": "number",
    "bitrate": "integer",
    "video_codec": "string",
    "audio_codec": "string",
    "dpi": "number",
    "colour_mode": "string",
}


def _fact(name, nullable=False):
    kind = _FACT_TYPES.get(name)
    if kind is None:
        return {}  # a fact column added without a type here: anything
    return {"type": [kind, "null"] if nullable else kind}


def _object(properties, optional=()):
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
    }


FILE_SCHEMA = _object(
    {
        "id": {"type": "integer"},
        "role": {"enum": [role.value for role in Role]},
        "role_label": {"type": "string", "description": "what the file is, in Chinese (源文件, 标清版本 …)"},
        "mime_type": {"type": "string"},
        "size": {"type": "integer", "minimum": 0},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "name": {"type": ["string", "null"]},
        "url": {"type": "string"},
        **{name: _fact(name, nullable=True) for name in FILE_FACTS},
        "facts": {"type": "object"},
    }
)
JOB_SCHEMA = {
    "anyOf": [
        {"type": "null"},
        _object(
            {
                "id": {"type": "integer"},
                "status": {"type": "string"},
                "step": {"type": "string"},
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "error": {"type": "string"},
                "attempts": {"type": "integer", "minimum": 0},
                "created_at": _TIME,
                "finished_at": _TIME_OR_NULL,
            }
        ),
    ]
}
_RESOURCE_LISTED = {
    "id": {"type": "integer"},
    "kind": {"enum": _KINDS},
    "kind_label": {"type": "string"},
    "title": {"type": "string"},
    "summary": {"type": "string"},
    "channel": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "state": {"type": "string"},
    "state_label": {"type": "string"},
    "created_at": _TIME,
    "updated_at": _TIME,
    "processing": JOB_SCHEMA,
    "thumbnail_url": {"type": ["string", "null"]},
    "page_url": {"type": "string"},
    "rejection_reason": {"type": ["string", "null"], "description": "the reviewer's reason while 未通过"},
}
RESOURCE_LISTED_SCHEMA = _object(_RESOURCE_LISTED)  # resource_json(detail=False)
RESOURCE_SCHEMA = _object(
    {
        **_RESOURCE_LISTED,
        "files": {"type": "array", "items": FILE_SCHEMA},
        "history": {
            "type": "array",
            "items": _object(
                {
                    "from": {"type": "string"},
                    "to": {"type": "string"},
                    "comment": {"type": "string"},
                    "at": _TIME,
                    "by": {"type": ["string", "null"]},
                }
            ),
        },
        "body_html": {"type": "string", "description": "articles only"},
        "duplicates": {
            "type": "array",
            "description": "the institution's earlier resources with the same source file (SHA-256)",
            "items": _object(
                {
                    "id": {"type": "integer"},
                    "title": {"type": "string"},
                    "state": {"type": "string"},
                    "state_label": {"type": "string"},
                    "created_at": _TIME,
                    "page_url": {"type": "string"},
                }
            ),
        },
    },
    optional=("body_html",),
)
PUBLISHED_SCHEMA = _object(
    {
        "id": {"type": "integer"},
        "kind": {"enum": _KINDS},
        "kind_label": {"type": "string"},
        "title": {"type": "string"},
        "summary": {"type": "string"},
        "channel": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "institution": {"type": "string"},
        "published_at": _TIME_OR_NULL,
        "downloads": {"type": "integer", "minimum": 0},
        "page_url": {"type": "string"},
        "thumbnail_url": {"type": ["string", "null"]},
        "renditions": {
            "type": "object",
            "additionalProperties": _object(
                {"size": {"type": "integer"}, "mime_type": {"type": "string"}}
                | {name: _fact(name) for name in FILE_FACTS},
                optional=FILE_FACTS,
            ),
        },
    }
)


def published_json(resource, urls=None):
    """The station's view of a published resource (a ``Resource``, or the ``catalog.service.Listed``
    of a search result, which answers the same attributes). ``urls``: a
    ``catalog.service.ListingUrls`` for a list of them (one ``url_for`` per request, not per link)."""
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
        "page_url": urls.detail(resource.id) if urls else url_for("catalog.detail", resource_id=resource.id),
        "thumbnail_url": None,
        "renditions": {},
    }
    thumb = resource.file("thumbnail")
    if thumb is not None:
        data["thumbnail_url"] = (
            urls.media(resource.id, thumb.id)
            if urls
            else url_for("catalog.media", resource_id=resource.id, file_id=thumb.id)
        )
    for rendition, role in DOWNLOADS.get(resource.kind, {}).items():
        rf = resource.file(role)
        if rf is not None:
            data["renditions"][rendition] = {
                "size": rf.size,
                "mime_type": rf.mime_type,
                **{k: getattr(rf, k) for k in FILE_FACTS if getattr(rf, k) is not None},
            }
    return data
