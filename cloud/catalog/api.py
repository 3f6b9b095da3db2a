"""``/api/v1/search``, the published view of a resource, and download redirects."""

from flask import jsonify, request

from cloud.api.blueprint import api_blueprint, api_user
from cloud.api.openapi import operation
from cloud.catalog import downloads, service, unlimited
from cloud.resources.schema import PUBLISHED_SCHEMA, published_json

bp = api_blueprint("catalog")

SEARCH_PARAMS = [
    {"name": name, "in": "query", "schema": {"type": "string"}}
    for name in ("q", "type", "channel", "institution", "from", "to", "sort", "page")
]


SEARCH_ITEM = {
    **PUBLISHED_SCHEMA,
    "required": [*PUBLISHED_SCHEMA["required"], "title_html", "summary_html", "score"],
    "properties": {
        **PUBLISHED_SCHEMA["properties"],
        "title_html": {"type": "string", "description": "escaped, matches in <em>"},
        "summary_html": {"type": "string"},
        "score": {"type": "number"},
    },
}


SEARCH_RESPONSE = {
    "type": "object",
    "required": ["total", "page", "pages", "items", "query", "truncated"],
    "properties": {
        "total": {"type": "integer", "minimum": 0},
        "page": {"type": "integer", "minimum": 1},
        "pages": {"type": "integer", "minimum": 0},
        "items": {"type": "array", "items": SEARCH_ITEM},
        "query": {
            "type": "string",
            "description": "what was searched for: ``q`` without invisible characters, cut to 100 characters",
        },
        "truncated": {
            "type": "boolean",
            "description": "true when part of ``q`` was left out: only its first 100 characters and first 10 "
            "words are searched",
        },
    },
}


@bp.get("/search")
@operation(
    "Search published resources (Chinese keywords, AND; quoted phrases; filters; sort; pages)",
    tags=["catalog"],
    auth=False,
    parameters=SEARCH_PARAMS,
    response=SEARCH_RESPONSE,
)
@unlimited
def search():
    user = api_user(required=False)
    params = service.parse_params(request.args)
    page = service.search(params)
    items = []
    urls = service.ListingUrls()
    for resource, hit in page.items:
        item = published_json(resource, urls)
        item.update(title_html=hit.title_html, summary_html=hit.summary_html, score=hit.score)
        items.append(item)
    service.log_search(params, page, user)
    return jsonify(
        {
            "total": page.total,
            "page": page.page,
            "pages": page.pages,
            "items": items,
            "query": params.q,
            "truncated": params.truncated,
        }
    )


@bp.get("/resources/<int:resource_id>/download")
@operation(
    "Download a published resource's file: redirects to a short-lived link",
    tags=["catalog"],
    parameters=[
        {"name": "rendition", "in": "query", "schema": {"enum": ["sd", "source", "print", "listening"]}}
    ],
    response=None,
    status=302,
    errors=[403, 409, 410],
)
def download(resource_id):
    user = api_user()
    resource = service.published(resource_id)
    return downloads.link(user, resource, request.args.get("rendition", "source"))
