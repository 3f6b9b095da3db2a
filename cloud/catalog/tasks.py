"""Keeping the search index in step with publication. The worker is the index's one writer."""

from flask import current_app

from cloud.extensions import db
from cloud.queue import app_task
from cloud.resources.lifecycle import is_visible_to_stations
from cloud.resources.models import Resource


def open_index():
    from search_index import SearchIndex

    return SearchIndex(current_app.config["KEPU_INDEX_DIR"])


def document(resource):
    """What the index knows of a published resource."""
    return {
        "id": resource.id,
        "title": resource.title,
        "summary": resource.summary,
        "body": resource.body_text,
        "tags": " ".join(resource.tag_list),
        "institution": resource.institution.name,
        "institution_id": resource.institution_id,
        "kind": resource.kind,
        "channel": resource.channel,
        "region_code": resource.institution.region_code or "",
        "published_at": resource.published_at,
        "downloads": resource.download_count,
    }


@app_task(retries=5, retry_delay=2, retry_backoff=2)
def index_resource(resource_id):
    """Add or refresh a resource in the index, or remove it if it is no longer published."""
    resource = db.session.get(Resource, resource_id)
    index = open_index()
    if resource is not None and is_visible_to_stations(resource):
        index.upsert(document(resource))
    else:
        index.delete(resource_id)


@app_task(retries=5, retry_delay=2, retry_backoff=2)
def unindex_resource(resource_id):
    open_index().delete(resource_id)
