"""Domain exceptions and the one place they become HTTP answers.

Pages get a friendly Chinese error page; everything under ``/api/`` gets one JSON shape::

    {"error": {"code": "not_found", "message": "资源不存在", "details": {...}}}
"""

import logging

from flask import jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, SecurityError

from cloud.extensions import db
from storage import StorageUnavailable

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A failure the user can understand; ``message`` is shown to them in Chinese."""

    status = 400
    code = "bad_request"
    message = "请求有误"

    def __init__(self, message=None, *, details=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details or {}


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"
    message = "提交的内容有误"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "页面或资源不存在"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"
    message = "没有权限执行此操作"


class AuthenticationRequired(DomainError):
    status = 401
    code = "unauthorized"
    message = "请先登录"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "操作与当前状态冲突"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    message = "上传的内容超过大小限制"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"
    message = "操作过于频繁，请稍后再试"


# Chinese texts for HTTP errors raised by Flask/Werkzeug themselves.
HTTP_MESSAGES = {
    400: "请求有误",
    401: "请先登录",
    403: "没有权限访问此页面",
    404: "页面或资源不存在",
    405: "不支持此请求方式",
    413: "上传的内容超过大小限制",
    414: "请求的网址过长",
    429: "操作过于频繁，请稍后再试",
    500: "服务器出错了，请稍后再试",
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "uri_too_long",
    429: "rate_limited",
    500: "internal_error",
}

UNTRUSTED_HOST = "请求的网站地址有误，请检查后重新访问"
STORAGE_UNAVAILABLE = "存储服务暂时不可用，请稍后重试"
DATABASE_UNAVAILABLE = "数据库暂时不可用，请稍后重试"


def wants_json():
    return request.path.startswith("/api/")


def error_response(status, code, message, details=None):
    """Render an error as JSON for the API or as a Chinese page for browsers."""
    if wants_json():
        body = {"error": {"code": code, "message": message}}
        if details:
            body["error"]["details"] = details
        return jsonify(body), status
    return render_template("errors/error.html", status=status, message=message), status


def init_app(app):
    @app.errorhandler(DomainError)
    def handle_domain_error(exc):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(exc):
        return error_response(400, "csrf_failed", "页面已过期或来源无效，请刷新页面后重试")

    @app.errorhandler(SecurityError)
    def handle_untrusted_host(exc):
        # Raised before routing when Host is not one of TRUSTED_HOSTS: no URL can be built for
        # this request, so the page is one that links nowhere (cloud/security.py).
        if wants_json():
            return jsonify({"error": {"code": "untrusted_host", "message": UNTRUSTED_HOST}}), 400
        return render_template("errors/untrusted_host.html", message=UNTRUSTED_HOST), 400

    @app.errorhandler(HTTPException)
    def handle_http_error(exc):
        status = exc.code or 500
        message = HTTP_MESSAGES.get(status, exc.description or "请求有误")
        return error_response(status, HTTP_CODES.get(status, "http_error"), message)

    @app.errorhandler(StorageUnavailable)
    def handle_storage_down(exc):
        # The object store did not answer (a node restarting): nothing of the request was kept,
        # and the same request succeeds once it is back.
        db.session.rollback()
        log.warning("storage unavailable on %s %s: %s", request.method, request.path, exc)
        return error_response(503, "storage_unavailable", STORAGE_UNAVAILABLE)

    @app.errorhandler(OperationalError)
    def handle_database_down(exc):
        # The database dropped the connection (a restart, a failover, pg_terminate_backend) or
        # could not be reached: the transaction is gone with it, so nothing was kept and the
        # request can be sent again. The pool throws the dead connection away, and
        # pool_pre_ping tests the others before their next use.
        db.session.rollback()
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exc.orig)
        return error_response(503, "database_unavailable", DATABASE_UNAVAILABLE)

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        # Never show a stack trace; log it and undo whatever the request half-wrote.
        db.session.rollback()
        log.exception("Unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", HTTP_MESSAGES[500])
