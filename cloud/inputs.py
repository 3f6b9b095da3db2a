"""What callers send, made safe before any view reads it: ids in URLs, NUL characters, JSON bodies.

* Every ``<int:…>`` in a route is a database id: the app's ``int`` converter takes numbers up to
  MAX_ID, the largest the schema's INTEGER id columns hold (32 bits on PostgreSQL), and answers 404
  for a larger one. ``/resources/99999999999999999999999999`` is a resource that cannot exist, not
  an OverflowError (SQLite, beyond 64 bits) or an "integer out of range" (PostgreSQL) — a 500.
  The converter raises NotFound itself rather than Werkzeug's ValidationError, which turns into a
  405 where another method's rule has the same path (``PATCH /api/v1/resources/<id>`` beside
  ``GET``).
* A NUL character cannot be stored in a PostgreSQL text column (psycopg refuses the whole
  statement), and no text anyone types contains one: a path or query string with one is refused
  (422) before any view, and so is a JSON body with one in any string.
* JSON bodies are parsed by one provider: a document nested deeper than Python's recursion limit
  (``"[" * 100000``) is invalid JSON like any other, not a RecursionError (500). Their size is
  bounded by ``MAX_CONTENT_LENGTH`` (``KEPU_MAX_FORM_BYTES``) before they are read. Views that call
  ``request.get_json(silent=True)`` then see None and answer with their usual validation error;
  ``request.get_json()`` answers 400.
"""

from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from cloud.errors import ValidationFailed

MAX_ID = 2**31 - 1  # INTEGER primary keys: 32-bit on PostgreSQL (64 on SQLite)
NUL = "\x00"
NUL_MESSAGE = "请求中含有无效字符（NUL）"


class IdConverter(IntegerConverter):
    """Flask's ``int`` converter, bounded to what a database id can be (0 … MAX_ID)."""

    def to_python(self, value):
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with parsing that fails like invalid JSON however deep the input,
    and refuses NUL characters in strings. Raises ValueError or ValidationFailed."""

    def loads(self, s, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        if _has_nul(value):
            raise ValidationFailed(NUL_MESSAGE)
        return value


def _has_nul(value):
    pending = [value]  # a loop, not recursion: the document may be nested as deep as parsing allows
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def refuse_nul_in_url():
    # request.args only: reading request.form here would parse bodies before the views that
    # raise the size limit for uploads have done so.
    if NUL in request.path or any(NUL in k or NUL in v for k, v in request.args.items(multi=True)):
        raise ValidationFailed(NUL_MESSAGE)


def init_app(app):
    """Install the converter, the NUL check and the JSON provider; before any route is added
    (rules take their converter from the map when they are added)."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_nul_in_url)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
