"""Keeping the search index in step with publication. The worker is the index's one writer.

Every change the index must take in is noted as a ``PendingIndexUpdate`` row in the changing
transaction and enqueued after its commit; the task deletes the row once the index has it. A
lost enqueue therefore leaves a row behind, which ``recover_index_updates`` enqueues again.

Download counts are the exception: a download only adds one to ``Resource.download_count`` in
the database. Re-indexing on every download made the index commit (and every web process reopen
its searchers) at the province's download rate. ``fold_download_counts`` runs every
``KEPU_INDEX_DOWNLOADS_MINUTES`` instead and writes the resources whose count moved since the
index last took it in (``indexed_download_count``), in one index commit per batch.
"""

import logging
from datetime import timedelta

from flask import current_app, has_app_context
from huey import crontab
from sqlalchemy import delete, func, select, update

from cloud.catalog import pagecache
from cloud.catalog.models import PendingIndexUpdate
from cloud.extensions import db
from cloud.models_base import utcnow
from cloud.queue import app_task, huey, worker_app
from cloud.resources.lifecycle import State, is_visible_to_stations
from cloud.resources.models import Resource
from config import Config

#: Resources written into the index per commit by ``fold_download_counts``.
FOLD_BATCH = 500

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
        doc = document(resource)
        index.upsert(doc)
        _note_indexed_counts({resource_id: doc["downloads"]})
    else:
        index.delete(resource_id)
    if covered is not None:
        db.session.execute(
            delete(PendingIndexUpdate).where(
                PendingIndexUpdate.resource_id == resource_id, PendingIndexUpdate.id <= covered
            )
        )
    pagecache.bump()  # the index has the change: pages kept before it are stale
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


def fold_download_counts(batch=FOLD_BATCH):
    """Write the download counts that changed into the index; return how many resources.

    Takes published resources whose ``download_count`` differs from ``indexed_download_count``,
    ``batch`` at a time, each batch in one index commit, then records the count each document
    carried. A download counted while a batch is written keeps its resource different, so the
    next run takes it. Raises IndexBusyError when the index stays locked by another writer.
    """
    folded = 0
    last_id = 0
    while True:
        rows = db.session.scalars(
            select(Resource)
            .where(
                Resource.state == State.APPROVED,
                Resource.download_count != Resource.indexed_download_count,
                Resource.id > last_id,
            )
            .order_by(Resource.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        docs = [document(resource) for resource in rows if is_visible_to_stations(resource)]
        last_id = rows[-1].id
        db.session.commit()  # no transaction held open while the index is written
        with open_index().writer() as writer:
            for doc in docs:
                writer.upsert(doc)
        _note_indexed_counts({doc["id"]: doc["downloads"] for doc in docs})
        pagecache.bump()  # 下载最多 orders by the counts just written
        db.session.commit()
        folded += len(docs)
    return folded


def _note_indexed_counts(counts):
    for resource_id, count in counts.items():
        db.session.execute(
            update(Resource).where(Resource.id == resource_id).values(indexed_download_count=count)
        )


@huey.periodic_task(crontab(minute=f"*/{Config.KEPU_INDEX_DOWNLOADS_MINUTES}"), name="fold_download_counts")
def fold_download_counts_periodically():
    """Every few minutes: the download counts that changed, into the index (下载最多)."""
    if has_app_context():
        count = fold_download_counts()
    else:
        with worker_app().app_context():
            count = fold_download_counts()
    if count:
        log.info("folded the download counts of %d resource(s) into the search index", count)
