"""我的消息."""

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from cloud.extensions import db
from cloud.messages import bp, service


@bp.get("/")
@login_required
def inbox():
    """我的消息: showing a message reads it (those new in this view stay marked new this once)."""
    user = current_user.user
    messages = service.inbox(user)
    new = {m.id for m in messages if m.read_at is None}
    service.mark_read(user, new)
    db.session.commit()
    return render_template("messages/inbox.html", messages=messages, new=new, form=FlaskForm())


@bp.post("/read")
@login_required
def mark_read():
    if FlaskForm().validate_on_submit():
        service.mark_all_read(current_user.user)
        db.session.commit()
    return redirect(url_for("messages.inbox"))


@bp.app_context_processor
def unread_messages():
    if current_user.is_authenticated:
        return {"unread_messages": service.unread_count(current_user.user)}
    return {"unread_messages": 0}
