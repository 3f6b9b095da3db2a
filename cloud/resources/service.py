"""Resource operations: create, edit, replace the file, submit, and the processing jobs.

They flush and return; the request, task or command commits once. Work that must happen only
after the commit (enqueueing a job, deleting replaced objects) is returned to the caller as
``AfterCommit`` callbacks, so a failed commit never leaves a job pointing at nothing.
"""

import logging

from flask import url_for
from sqlalchemy import or_, select, update

from cloud.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from cloud.extensions import db
from cloud.files.models import StoredFile
from cloud.files.service import delete_objects, get_storage, store_file
from cloud.institutions import quota
from cloud.institutions.service import require_uploader
from cloud.models_base import utcnow
from cloud.resources.articles import apply_article_body, image_url
from cloud.resources.intake import check_filename, check_source
from cloud.resources.lifecycle import EDITABLE, State, transition
from cloud.resources.models import CHANNELS, JobStatus, Kind, ProcessingJob, Resource, ResourceFile, Role
from cloud.text import clean_text
from cloud.units import human_size
from storage import ObjectTooLarge

log = logging.getLogger(__name__)

TITLE_MAX = 100
SUMMARY_MAX = 2000
TAGS_MAX = 10


class AfterCommit(list):
    """Callbacks to run once the caller's commit has succeeded."""

    def run(self):
        for callback in self:
            try:
                callback()
            except Exception:  # the commit stands; a lost callback is recovered by the sweeps
                log.exception("after-commit callback failed")


def clean_metadata(title, summary="", channel="其他", tags=()):
    """Validate and normalise the metadata fields; raise ValidationFailed with the field."""
    title = clean_text(title)
    if not title:
        raise ValidationFailed("请填写标题", details={"field": "title"})
    if len(title) > TITLE_MAX:
        raise ValidationFailed(f"标题不能超过{TITLE_MAX}个字", details={"field": "title"})
    summary = clean_text(summary, multiline=True)
    if len(summary) > SUMMARY_MAX:
        raise ValidationFailed(f"简介不能超过{SUMMARY_MAX}个字", details={"field": "summary"})
    if channel not in CHANNELS:
        raise ValidationFailed("请选择频道", details={"field": "channel"})
    if isinstance(tags, str):
        tags = tags.replace("，", ",").replace("、", ",").split(",")
    cleaned = []
    for tag in tags:
        tag = clean_text(tag).replace(",", "")[:20].strip()
        if tag and tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > TAGS_MAX:
        raise ValidationFailed(f"标签最多{TAGS_MAX}个", details={"field": "tags"})
    return {"title": title, "summary": summary, "channel": channel, "tags": ",".join(cleaned)}


def parse_kind(value):
    try:
        return Kind(value)
    except ValueError:
        raise ValidationFailed("请选择资源类型", details={"field": "kind"}) from None


def get_own_resource(user, resource_id):
    """The resource if ``user``'s institution owns it; NotFound otherwise (never a 403: no probing)."""
    resource = db.session.get(Resource, resource_id) if isinstance(resource_id, int) else None
    if resource is None or user is None or user.institution_id is None:
        raise NotFound("资源不存在")
    if resource.institution_id != user.institution_id:
        raise NotFound("资源不存在")
    return resource


def list_own_resources(user, limit=200):
    """The resources uploaded by ``user``'s institution, newest first."""
    if user.institution_id is None:
        return []
    stmt = (
        select(Resource)
        .where(Resource.institution_id == user.institution_id)
        .order_by(Resource.created_at.desc(), Resource.id.desc())
        .limit(limit)
    )
    return db.session.scalars(stmt).unique().all()


class DuplicateUpload(Conflict):
    code = "duplicate_upload"
    message = "本机构已上传过相同的文件"


def create_resource(user, kind, metadata, *, source=None, body_html=None, refuse_duplicates=False):
    """Create a resource from a stored source file (or article HTML) and queue its processing.

    ``source`` is a ``StoredFile`` the user uploaded (see ``accept_upload``). The same file
    uploaded again by the institution is allowed (``duplicates_of`` tells the uploader), unless
    ``refuse_duplicates``: then DuplicateUpload names the earlier resources, and the upload can
    be used again once the uploader confirms. Returns ``(resource, after_commit)``. Raises
    PermissionDenied, ValidationFailed, DuplicateUpload.
    """
    require_uploader(user)
    kind = parse_kind(kind)
    fields = clean_metadata(**metadata)
    resource = Resource(kind=kind, institution_id=user.institution_id, uploader=user, **fields)
    db.session.add(resource)
    if kind == Kind.ARTICLE:
        apply_article_body(resource, body_html)
    elif source is None:
        raise ValidationFailed("请先上传文件", details={"field": "file"})
    else:
        _attach_source(resource, source)
    db.session.flush()
    if refuse_duplicates:
        earlier = duplicates_of(resource)
        if earlier:
            titles = "、".join(f"《{r.title}》（{r.state_label}）" for r in earlier[:3])
            more = f"等 {len(earlier)} 个资源" if len(earlier) > 3 else ""
            raise DuplicateUpload(
                f"本机构已上传过相同的文件：{titles}{more}。如确需再次上传，请确认后继续。",
                details={"duplicates": [duplicate_json(r) for r in earlier]},
            )
    return resource, start_processing(resource, user)


def duplicates_of(resource):
    """The institution's other resources whose source file has the same SHA-256, oldest first.

    A source whose location metadata processing removed is stored as its clean copy; the SHA-256
    the uploader's file had is kept in its facts and matches too.
    """
    source = resource.file(Role.SOURCE)
    if source is None:
        return []
    sha256 = source.facts.get("original_sha256") if source.facts else None
    sha256 = sha256 or source.stored_file.sha256
    stmt = (
        select(Resource)
        .join(ResourceFile, ResourceFile.resource_id == Resource.id)
        .join(StoredFile, ResourceFile.stored_file_id == StoredFile.id)
        .where(
            Resource.institution_id == resource.institution_id,
            Resource.id != resource.id,
            ResourceFile.role == Role.SOURCE,
            or_(StoredFile.sha256 == sha256, ResourceFile.facts["original_sha256"].as_string() == sha256),
        )
        .order_by(Resource.id)
    )
    return db.session.scalars(stmt).unique().all()


def duplicate_json(resource):
    """What the uploader is told about an earlier resource with the same file."""
    return {
        "id": resource.id,
        "title": resource.title,
        "state": resource.state,
        "state_label": resource.state_label,
        "created_at": resource.created_at.isoformat(),
        "page_url": url_for("resources.own_detail", resource_id=resource.id),
    }


def _attach_source(resource, stored_file):
    """Make ``stored_file`` the resource's source; the tus upload it came from is used up.

    The upload's id stays in the source's facts, so using it again is told apart from an id
    that never existed.
    """
    from cloud.uploads.models import Upload

    mime = check_source(resource.kind, stored_file)
    facts = {}
    upload = db.session.scalar(select(Upload).where(Upload.stored_file_id == stored_file.id))
    if upload is not None:
        facts["upload_id"] = upload.id
        db.session.delete(upload)
    resource.files.append(
        ResourceFile(role=Role.SOURCE, stored_file=stored_file, mime_type=mime, facts=facts)
    )


def update_metadata(user, resource, metadata, *, body_html=None):
    """Edit title, summary, channel, tags (and an article's body) while the resource is editable.

    Editing an article's body re-runs its processing. Returns after_commit callbacks.
    """
    if State(resource.state) not in EDITABLE:
        raise ValidationFailed(f"“{State(resource.state).label}”状态的资源不能修改")
    for key, value in clean_metadata(**metadata).items():
        setattr(resource, key, value)
    resource.updated_at = utcnow()
    after = AfterCommit()
    if resource.kind == Kind.ARTICLE and body_html is not None:
        unused = apply_article_body(resource, body_html)
        after.extend(drop_files(resource, unused))
        after.extend(start_processing(resource, user))
    db.session.flush()
    return after


def replace_source(user, resource, stored_file):
    """Swap the source file for a new upload and process again. Returns after_commit callbacks."""
    if State(resource.state) not in EDITABLE or resource.kind == Kind.ARTICLE:
        raise ValidationFailed(f"“{State(resource.state).label}”状态的资源不能替换文件")
    old = resource.file(Role.SOURCE)
    _attach_source(resource, stored_file)
    after = AfterCommit()
    if old is not None:
        after.extend(drop_files(resource, [old]))
    db.session.flush()
    after.extend(start_processing(resource, user))
    return after


# Resources the owner may delete: never sent to review (a draft, one whose processing failed, one
# processed but not submitted). What reviewers saw stays, with its audit trail; it can be withdrawn.
DELETABLE = {State.DRAFT, State.PROCESSED, State.FAILED}


def can_delete(resource):
    return State(resource.state) in DELETABLE and resource.submitted_at is None


def delete_resource(user, resource):
    """删除: remove a resource that never reached review, with its files and jobs.

    The rows go in the caller's transaction; the objects are deleted after its commit (one that
    cannot be deleted then is an orphan that ``flask storage sweep`` removes). Returns
    after_commit callbacks. Raises ValidationFailed when the resource is not deletable.
    """
    if not can_delete(resource):
        state = State(resource.state)
        if state == State.PROCESSING:
            raise ValidationFailed("资源正在处理中，请等处理结束后再删除")
        raise ValidationFailed(f"“{state.label}”或已提交过审核的资源不能删除；已发布的资源可以撤回")
    stored = [rf.stored_file for rf in resource.files]
    keys = [sf.key for sf in stored]
    log.info("resource %s (%s) deleted by user %s", resource.id, resource.state, getattr(user, "id", None))
    db.session.delete(resource)  # its files' rows, jobs and events go with it
    db.session.flush()
    for sf in stored:
        db.session.delete(sf)
    db.session.flush()
    return AfterCommit([lambda: delete_objects(keys)])


def drop_files(resource, files):
    """Remove file rows now and their objects after the commit."""
    keys = []
    for rf in files:
        keys.append(rf.stored_file.key)
        resource.files.remove(rf)
        db.session.delete(rf.stored_file)
    db.session.flush()
    storage = get_storage()
    return [lambda key=key: storage.delete(key) for key in keys]


def start_processing(resource, actor):
    """Move the resource to processing with a fresh job; the old jobs are superseded."""
    for job in resource.jobs:
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            job.status = JobStatus.SUPERSEDED
            job.finished_at = utcnow()
    if State(resource.state) != State.PROCESSING or resource.jobs:
        transition(resource, State.PROCESSING, actor=actor, comment="开始处理")
    job = ProcessingJob(resource=resource)
    db.session.add(job)
    db.session.flush()
    return AfterCommit([lambda job_id=job.id: enqueue_job(job_id)])


def enqueue_job(job_id):
    """Hand job ``job_id`` to the queue, then note that it was (its own short commit).

    Runs after the commit that created the job. If the enqueue fails the job stays queued with
    no ``enqueued_at``, and ``recover_queued_jobs`` enqueues it again.
    """
    from cloud.resources.tasks import process_resource

    process_resource(job_id)
    mark_enqueued(job_id)


def mark_enqueued(job_id):
    db.session.execute(
        update(ProcessingJob)
        .where(ProcessingJob.id == job_id, ProcessingJob.status == JobStatus.QUEUED)
        .values(enqueued_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def retry_processing(user, resource):
    """Run a failed resource's processing again (e.g. after a transient fault)."""
    if State(resource.state) != State.FAILED:
        raise ValidationFailed("只有处理失败的资源可以重新处理")
    return start_processing(resource, user)


def submit(user, resource):
    """提交审核: a processed (or rejected and edited) resource goes to the review queue."""
    state = State(resource.state)
    if state == State.FAILED:
        job = resource.latest_job
        reason = job.error if job and job.error else "处理失败"
        raise ValidationFailed(f"资源处理失败，不能提交审核：{reason}")
    if state == State.PROCESSING:
        raise ValidationFailed("资源仍在处理中，请处理完成后再提交审核")
    if state not in (State.PROCESSED, State.REJECTED):
        raise ValidationFailed(f"“{state.label}”状态的资源不能提交审核")
    transition(resource, State.PENDING_REVIEW, actor=user, comment="提交审核")
    resource.submitted_at = utcnow()


def size_limit(kind):
    """The largest source file allowed for ``kind``, in bytes (the kind's ``KEPU_MAX_*`` setting)."""
    return Kind(kind).facts.limit()


def take_upload(user, kind, upload_id):
    """The StoredFile of ``user``'s finished tus upload ``upload_id`` (attaching it uses it up).

    Raises ValidationFailed if it is not theirs, not finished, already used for a resource, or
    for another resource type.
    """
    from cloud.uploads.models import Upload

    kind = parse_kind(kind)
    valid_id = isinstance(upload_id, str) and len(upload_id) <= 64
    upload = db.session.get(Upload, upload_id) if valid_id else None
    if upload is None or upload.user_id != user.id:
        used = _resource_made_from(user, upload_id) if valid_id else None
        if used is not None:
            raise ValidationFailed(
                f"这个文件已用于资源“{used.title}”，不能再次提交；如需另建资源，请重新上传文件",
                details={"field": "upload_id", "resource_id": used.id},
            )
        raise ValidationFailed("上传不存在，请重新上传文件", details={"field": "upload_id"})
    if upload.completed_at is None or upload.stored_file_id is None:
        raise ValidationFailed("文件尚未上传完成", details={"field": "upload_id"})
    if upload.resource_type != kind:
        raise ValidationFailed("上传的文件与资源类型不符", details={"field": "upload_id"})
    return upload.stored_file


def _resource_made_from(user, upload_id):
    """The resource of ``user``'s institution whose source came from upload ``upload_id``, or None."""
    if user.institution_id is None:
        return None
    return db.session.scalar(
        select(Resource)
        .join(ResourceFile, ResourceFile.resource_id == Resource.id)
        .where(
            Resource.institution_id == user.institution_id,
            ResourceFile.role == Role.SOURCE,
            ResourceFile.facts["upload_id"].as_string() == upload_id,
        )
        .limit(1)
    )


def store_form_file(user, kind, file_storage):
    """Store a file sent in an ordinary multipart form (small files).

    Raises ValidationFailed, PayloadTooLarge, QuotaExceeded (the institution's storage is full).
    """
    require_uploader(user)
    kind = parse_kind(kind)
    if kind == Kind.ARTICLE:
        return None
    if file_storage is None or not file_storage.filename:
        raise ValidationFailed("请选择要上传的文件", details={"field": "file"})
    check_filename(kind, file_storage.filename)
    quota.check_new(user.institution_id, 0)  # already full: do not even store it
    try:
        stored = store_file(
            file_storage.stream,
            original_name=file_storage.filename,
            content_type="application/octet-stream",
            max_size=size_limit(kind),
            institution_id=user.institution_id,
        )
    except ObjectTooLarge:
        raise PayloadTooLarge(
            f"文件超过{Kind(kind).label}的大小限制（{human_size(size_limit(kind))}）"
        ) from None
    try:
        quota.check_stored(user.institution_id, stored)
    except quota.QuotaExceeded:
        get_storage().delete(stored.key)  # its row goes with the rolled-back request
        raise
    return stored


def store_inline_image(user, file_storage):
    """Store a picture for an article being written; return its signed URL.

    The picture is checked like any image upload (name, content); it belongs to the user's
    institution and is re-encoded when the article is processed. Raises ValidationFailed.
    """
    stored = store_form_file(user, Kind.IMAGE, file_storage)
    check_source(Kind.IMAGE, stored)
    return image_url(stored.id, user.institution_id)
