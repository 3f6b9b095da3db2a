"""我的消息: in-site messages, with an SMS for the important ones."""

from flask import Blueprint

bp = Blueprint("messages", __name__, url_prefix="/messages")

from cloud.messages import views  # noqa: E402,F401
