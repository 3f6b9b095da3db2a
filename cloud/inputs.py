"""What callers send, made safe before any view reads it: ids in URLs and JSON bodies.

* Every ``<int:…>`` in a route is a database id (or another count that fits one): the app's ``int``
  converter takes numbers up to the largest signed 64-bit integer, the largest id either database
  can hold, and answers 404 for a larger one: ``/resources/99999999999999999999999999`` is a
  resource that cannot exist, not an OverflowError from the database driver (500). It raises
  NotFound itself rather than Werkzeug's ValidationError, which would turn into a 405 where
  another method's rule has the same path (``PATCH /api/v1/resources/<id>`` beside ``GET``).
* JSON bodies are parsed by one provider: a document nested deeper than Python's recursion limit
  (``"[" * 100000``) is invalid JSON like any other, not a RecursionError (500). Their size is
  bounded by ``MAX_CONTENT_LENGTH`` (``KEPU_MAX_FORM_BYTES``) before they are read. Views that call
  ``request.get_json(silent=True)`` then see None and answer with their usual validation error;
  ``request.get_json()`` answers 400.
"""

from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1  # BIGINT in PostgreSQL, INTEGER in SQLite


class IdConverter(IntegerConverter):
    """Flask's ``int`` converter, bounded to what a database id can be (0 … 2**63-1)."""

    def to_python(self, value):
        number = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with parsing that fails like invalid JSON however deep the input."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def init_app(app):
    """Install the converter and the JSON provider; before any route is added (rules take their
    converter from the map when they are added)."""
    app.url_map.converters["int"] = IdConverter
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
