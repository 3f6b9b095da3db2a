"""Keeping the search index in step with publication. The worker is the index's one writer.

Every change the index must take in is noted as a ``PendingIndexUpdate`` row in the changing
transaction and enqueued after its commit; the task deletes the row once the index has it. A
lost enqueue therefore leaves a row behind, which ``recover_index_updates`` enqueues again.
"""

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from cloud.catalog.models import PendingIndexUpdate
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.queue import app_task
from cloud.resources.lifecycle import is_visible_to_stations
from cloud.resources.models import Resource

log = logging.getLogger(__name__)


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
    update_index(resource_id)


@app_task(retries=5, retry_delay=2, retry_backoff=2)
def unindex_resource(resource_id):
    """Remove a resource from the index (it was withdrawn)."""
    update_index(resource_id)


def update_index(resource_id):
    """Write the resource's current state into the index, then clear the changes it covered.

    Only the pending rows seen before reading the resource are cleared: a change committed while
    the index was being written keeps its row, and its own task (or the sweep) writes it.
    """
    covered = db.session.scalar(
        select(func.max(PendingIndexUpdate.id)).where(PendingIndexUpdate.resource_id == resource_id)
    )
    resource = db.session.get(Resource, resource_id)
    index = open_index()
    if resource is not None and is_visible_to_stations(resource):
        index.upsert(document(resource))
    else:
        index.delete(resource_id)
    if covered is not None:
        db.session.execute(
            delete(PendingIndexUpdate).where(
                PendingIndexUpdate.resource_id == resource_id, PendingIndexUpdate.id <= covered
            )
        )
    db.session.commit()


def recover_index_updates(grace_seconds=None):
    """Enqueue again the index updates whose task was lost; return the resource ids.

    A pending row older than ``grace_seconds`` (default ``KEPU_RECOVERY_GRACE_SECONDS``) means
    its task never ran. An enqueue that fails again is left for the next sweep.
    """
    if grace_seconds is None:
        grace_seconds = current_app.config["KEPU_RECOVERY_GRACE_SECONDS"]
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    stale = db.session.scalars(
        select(PendingIndexUpdate.resource_id)
        .where(PendingIndexUpdate.created_at < cutoff)
        .group_by(PendingIndexUpdate.resource_id)
        .order_by(PendingIndexUpdate.resource_id)
    ).all()
    db.session.commit()  # end the read before the tasks (inline in tests) write
    recovered = []
    for resource_id in stale:
        try:
            index_resource(resource_id)
        except Exception:  # the queue is down: the row stays, the next sweep tries again
            log.exception("could not enqueue the index update of resource %s", resource_id)
            continue
        recovered.append(resource_id)
    if recovered:
        log.warning("re-enqueued %d lost index update(s)", len(recovered))
    return recovered
