"""Image captchas (人机识别): the answer stays in the database, the client gets an id and a PNG."""

import secrets
from datetime import timedelta
from io import BytesIO

from flask import current_app

from cloud.accounts.models import Captcha
from cloud.extensions import db
from cloud.models_base import utcnow

# No 0/O, 1/I/L: a rural user on a small phone screen must be able to read it.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_LENGTH = 4


def new_captcha():
    """Create a challenge and return its id."""
    row = Captcha(id=secrets.token_hex(16), answer="".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH)))
    db.session.add(row)
    db.session.flush()
    return row.id


def render_png(captcha_id):
    """Return the PNG bytes for an unused, unexpired challenge, or None."""
    row = _live(captcha_id)
    if row is None:
        return None
    # Imported here: Pillow's drawing and fonts cost every web process ~9 MB, used only here.
    from captcha.image import ImageCaptcha

    out = BytesIO()
    ImageCaptcha(width=160, height=60).write(row.answer, out, format="png")
    return out.getvalue()


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
