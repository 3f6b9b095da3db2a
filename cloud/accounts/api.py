"""Account API: captchas and SMS codes (used by the site's own pages and by the APP)."""

from flask import Response, jsonify, request, url_for

from cloud.accounts import captcha, service
from cloud.api.blueprint import api_blueprint
from cloud.api.openapi import operation
from cloud.errors import NotFound, ValidationFailed
from cloud.extensions import db

bp = api_blueprint("accounts")


@bp.post("/captcha")
@operation(
    "Create an image captcha",
    tags=["auth"],
    auth=False,
    response={
        "type": "object",
        "required": ["id", "image_url", "audio_url"],
        "properties": {
            "id": {"type": "string"},
            "image_url": {"type": "string"},
            "audio_url": {"type": "string", "description": "the same challenge spoken (WAV), given once"},
        },
    },
    status=201,
    errors=[429],
)
def create_captcha():
    captcha_id = captcha.new_captcha(ip=request.remote_addr)
    db.session.commit()
    return jsonify(
        {
            "id": captcha_id,
            "image_url": url_for(".captcha_image", captcha_id=captcha_id),
            "audio_url": url_for(".captcha_audio", captcha_id=captcha_id),
        }
    ), 201


@bp.get("/captcha/<captcha_id>.png")
def captcha_image(captcha_id):
    """The challenge's picture, drawn only once: asked for again, it is gone (ask for a new one)."""
    png = captcha.render_png(captcha_id)
    if png is None:
        raise NotFound("验证码已失效，请刷新")
    db.session.commit()
    response = Response(png, mimetype="image/png")
    response.cache_control.no_store = True
    return response


@bp.get("/captcha/<captcha_id>.wav")
def captcha_audio(captcha_id):
    """The same challenge spoken (语音验证码), given only once like the picture."""
    wav = captcha.render_wav(captcha_id)
    if wav is None:
        raise NotFound("语音验证码已失效，请刷新验证码")
    db.session.commit()
    response = Response(wav, mimetype="audio/wav")
    response.cache_control.no_store = True
    return response


@bp.post("/auth/sms-code")
@operation(
    "Send an SMS verification code (after an image captcha)",
    tags=["auth"],
    auth=False,
    request_body={
        "type": "object",
        "required": ["phone", "purpose", "captcha_id", "captcha_answer"],
        "properties": {
            "phone": {"type": "string"},
            "purpose": {"enum": ["register", "reset"]},
            "captcha_id": {"type": "string"},
            "captcha_answer": {"type": "string"},
        },
    },
    response={"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}},
    errors=[429],
)
def send_sms_code():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("请求体须为 JSON")
    args = [
        body.get(k) if isinstance(body.get(k), str) else ""
        for k in ("phone", "purpose", "captcha_id", "captcha_answer")
    ]
    try:
        service.request_code(*args, ip=request.remote_addr)
    finally:
        # The captcha is spent and the SMS counted whatever the outcome.
        db.session.commit()
    return jsonify({"message": "验证码已发送，请注意查收短信"})
