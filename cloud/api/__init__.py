"""The JSON API foundation: ``/api/v1`` blueprints, bearer tokens and the OpenAPI document.

Features add their own API blueprints with ``api_blueprint(name)`` and document each view with
``@operation``; this package serves ``/api/v1/openapi.json`` and the token endpoints.
"""

from cloud.api.views import bp

__all__ = ["bp"]
