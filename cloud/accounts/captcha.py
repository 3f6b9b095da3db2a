"""Image captchas (人机识别): the answer stays in the database, the client gets an id and a PNG.

Each challenge is drawn once (a second drawing of the same answer would be a fresh sample for an
OCR attacker: a refresh is a new challenge) and, for people who cannot see it, spoken once as a
WAV of the same characters (语音验证码; the library's own voices read letters and digits); it is
spent by its first attempt, and gone after
``KEPU_CAPTCHA_TTL``; one IP address may create ``KEPU_CAPTCHA_RATE_LIMIT`` of them, counted in
the shared database. Expired challenges are deleted whenever a new one is made (and by
``flask users sweep``).
"""

import secrets
from datetime import timedelta
from io import BytesIO

from flask import current_app
from sqlalchemy import delete, update

from cloud.accounts import throttle
from cloud.accounts.models import Captcha
from cloud.extensions import db
from cloud.models_base import utcnow

# No 0/O, 1/I/L: a rural user on a small phone screen must be able to read it.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_LENGTH = 4


def new_captcha(ip=None):
    """Create a challenge and return its id. Raises RateLimited when ``ip`` has made too many.

    Call it before the request writes anything (the limit is counted on its own connection).
    """
    throttle.hit("获取图形验证码过于频繁，请稍后再试", captcha_ip=ip or None)
    purge_expired()
    answer = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
    row = Captcha(id=secrets.token_hex(16), answer=answer, created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row.id


def purge_expired():
    """Delete challenges past their lifetime, used or not; return how many."""
    cutoff = utcnow() - timedelta(seconds=current_app.config["KEPU_CAPTCHA_TTL"])
    return db.session.execute(delete(Captcha).where(Captcha.created_at <= cutoff)).rowcount


def render_png(captcha_id):
    """Return the PNG bytes of a live challenge the first time it is asked for, else None.

    The caller must commit: the drawing is recorded so that it is the only one. The guarded
    UPDATE lets exactly one of two racing requests draw it.
    """
    row = _claim(captcha_id, Captcha.rendered_at)
    if row is None:
        return None
    # Imported here: Pillow's drawing and fonts cost every web process ~9 MB, used only here.
    from captcha.image import ImageCaptcha

    out = BytesIO()
    ImageCaptcha(width=160, height=60).write(row.answer, out, format="png")
    return out.getvalue()


def render_wav(captcha_id):
    """Return the spoken challenge (8-bit mono WAV) the first time it is asked for, else None.

    The same answer as the picture, so a user may use either; like the picture, it is given once
    (the caller must commit).
    """
    row = _claim(captcha_id, Captcha.audio_rendered_at)
    if row is None:
        return None
    return bytes(_voice().generate(row.answer))


def _voice():
    # Imported and loaded on first use: the voices are ~1 MB, and only this asks for them.
    voice = current_app.extensions.get("kepu.captcha_voice")
    if voice is None:
        from captcha.audio import AudioCaptcha

        voice = AudioCaptcha()
        voice.load()
        current_app.extensions["kepu.captcha_voice"] = voice
    return voice


def _claim(captcha_id, column):
    """The live challenge if ``column`` (when it was drawn / spoken) was unset, now set; else None.

    The guarded UPDATE lets exactly one of two racing requests have it.
    """
    row = _live(captcha_id)
    if row is None or getattr(row, column.key) is not None:
        return None
    claimed = db.session.execute(
        update(Captcha)
        .where(Captcha.id == row.id, column.is_(None))
        .values({column.key: utcnow()})
        .execution_options(synchronize_session=False)
    )
    return row if claimed.rowcount == 1 else None


def check_captcha(captcha_id, answer):
    """Consume the challenge and say whether ``answer`` solves it.

    Single use: a challenge is spent by the first attempt, right or wrong, so a solved captcha
    cannot be replayed and a wrong one cannot be retried. The caller must commit either way.
    """
    row = _live(captcha_id)
    if row is None:
        return False
    row.used_at = utcnow()
    db.session.flush()
    given = (answer or "").strip().upper()
    return secrets.compare_digest(given.encode(), row.answer.encode())


def _live(captcha_id):
    if not isinstance(captcha_id, str) or len(captcha_id) != 32:
        return None
    row = db.session.get(Captcha, captcha_id)
    ttl = timedelta(seconds=current_app.config["KEPU_CAPTCHA_TTL"])
    if row is None or row.used_at is not None or row.created_at + ttl <= utcnow():
        return None
    return row
