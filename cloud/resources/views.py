"""Pages: 上传 (upload), 我的上传 (my uploads) and a resource's owner page."""

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from cloud.errors import DomainError, NotFound
from cloud.extensions import db
from cloud.files.serving import send_stored_file
from cloud.resources import articles, bp, service
from cloud.resources.kinds import FILE_KINDS, KINDS, Kind
from cloud.resources.lifecycle import EDITABLE, State
from cloud.resources.models import CHANNELS
from cloud.resources.schema import resource_json
from cloud.units import human_size


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token."""


@bp.get("/upload")
@login_required
def upload():
    user = current_user.user
    return render_template(
        "resources/upload.html",
        can_upload=user.can_upload,
        kinds=[KINDS[k] for k in FILE_KINDS],
        limits={k.value: KINDS[k].limit() for k in FILE_KINDS},
        channels=CHANNELS,
    )


@bp.get("/upload/article")
@login_required
def write_article():
    user = current_user.user
    return render_template(
        "resources/article_editor.html",
        can_upload=user.can_upload,
        channels=CHANNELS,
        hint=KINDS[Kind.ARTICLE].hint(),
    )


@bp.get("/media/article-images/<token>")
def article_image(token):
    """An article's picture: public once the article is published (see find_inline_image)."""
    user = current_user.user if current_user.is_authenticated else None
    stored, mime = articles.find_inline_image(user, token)
    return send_stored_file(stored, mimetype=mime, max_age=3600)


@bp.get("/my/uploads")
@login_required
def my_uploads():
    resources = service.list_own_resources(current_user.user)
    return render_template("resources/my_uploads.html", resources=resources)


@bp.get("/my/uploads/<int:resource_id>")
@login_required
def own_detail(resource_id):
    return _detail_page(service.get_own_resource(current_user.user, resource_id))


def _detail_page(resource, typed=None, status=200):
    """The owner's page of a resource; after a refused edit, its form keeps what was typed."""
    return render_template(
        "resources/detail.html",
        typed=typed,
        resource=resource,
        data=resource_json(resource),
        form=ActionForm(),
        editable=State(resource.state) in EDITABLE,
        deletable=service.can_delete(resource),
        replace_limit=service.size_limit(resource.kind) if resource.kind != "article" else None,
        channels=CHANNELS,
    ), status


@bp.post("/my/uploads/<int:resource_id>/submit")
@login_required
def submit(resource_id):
    return _act(resource_id, service.submit, "已提交审核，请等待专家审核")


@bp.post("/my/uploads/<int:resource_id>/edit")
@login_required
def edit(resource_id):
    user = current_user.user
    resource = service.get_own_resource(user, resource_id)
    if not ActionForm().validate_on_submit():
        return redirect(url_for("resources.own_detail", resource_id=resource_id))
    typed = {key: request.form.get(key, "") for key in ("title", "summary", "channel", "tags")}
    try:
        after = service.update_metadata(user, resource, typed)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        db.session.refresh(resource)
        return _detail_page(resource, typed=typed, status=exc.status)
    db.session.commit()
    after.run()
    flash("已保存修改", "success")
    return redirect(url_for("resources.own_detail", resource_id=resource_id))


@bp.post("/my/uploads/<int:resource_id>/retry")
@login_required
def retry(resource_id):
    return _act(resource_id, service.retry_processing, "已重新开始处理")


@bp.route("/my/uploads/<int:resource_id>/delete", methods=["GET", "POST"])
@login_required
def delete(resource_id):
    """删除, confirmed on a page of its own (works without scripts): GET asks, POST deletes."""
    user = current_user.user
    resource = service.get_own_resource(user, resource_id)
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        title = resource.title
        try:
            after = service.delete_resource(user, resource)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(url_for("resources.own_detail", resource_id=resource_id))
        db.session.commit()
        after.run()
        flash(f"已删除“{title}”", "success")
        return redirect(url_for("resources.my_uploads"))
    return render_template(
        "resources/delete.html", resource=resource, form=form, deletable=service.can_delete(resource)
    )


def _act(resource_id, action, done_message):
    user = current_user.user
    resource = service.get_own_resource(user, resource_id)
    if ActionForm().validate_on_submit():
        try:
            after = action(user, resource)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            if after:
                after.run()
            flash(done_message, "success")
    return redirect(url_for("resources.own_detail", resource_id=resource_id))


@bp.get("/my/uploads/<int:resource_id>/files/<int:file_id>")
@login_required
def own_file(resource_id, file_id):
    """A rendition or the source, inline, for the owner's previews (Range for the player)."""
    resource = service.get_own_resource(current_user.user, resource_id)
    rf = next((f for f in resource.files if f.id == file_id), None)
    if rf is None:
        raise NotFound()
    # Sources are the uploader's own bytes: never rendered inline, whatever they claim to be.
    inline = rf.role != "source"
    return send_stored_file(rf.stored_file, mimetype=rf.mime_type, as_attachment=not inline)


@bp.app_template_filter("state_label")
def state_label(value):
    return State(value).label


@bp.app_template_filter("filesize")
def filesize(value):
    """A size in bytes as people read it (512 B, 1.5 KB, 23 MB, 4 GB)."""
    return human_size(value)
