"""``/api/v1/reports`` and ``/api/v1/stats/summary``: monthly reports and figures, in scope."""

from flask import jsonify, request

from cloud.api.blueprint import api_blueprint, api_user
from cloud.api.openapi import operation
from cloud.files.serving import send_stored_file
from cloud.stats import report, reports

bp = api_blueprint("stats")

REGION = {"name": "region", "in": "query", "schema": {"type": "string"}, "description": "41, 4101, 410102 …"}
MONTH = {"name": "month", "in": "query", "schema": {"type": "string"}, "description": "YYYY-MM"}
REPORT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "region": {"type": "string"},
        "region_name": {"type": "string"},
        "month": {"type": "string"},
        "format": {"type": "string"},
        "created_at": {"type": "string"},
        "submitted_at": {"type": ["string", "null"]},
        "file_url": {"type": "string"},
    },
}
FIGURES = {"type": "object", "additionalProperties": {"type": "integer"}}


def report_json(row):
    return {
        "id": row.id,
        "region": row.region_code,
        "region_name": row.region.name,
        "month": row.month,
        "format": row.format,
        "created_at": row.created_at.isoformat(),
        "submitted_at": row.submitted_at.isoformat() if row.submitted_at else None,
        "file_url": f"/api/v1/reports/{row.id}/file",
    }


@bp.get("/reports")
@operation(
    "Monthly reports kept for the caller's region and below (科协 staff and admins)",
    tags=["reports"],
    parameters=[REGION, MONTH],
    response={"type": "object", "properties": {"items": {"type": "array", "items": REPORT_SCHEMA}}},
    errors=(404,),
)
def list_reports():
    user = api_user()
    region = request.args.get("region") or None
    if region:
        region = reports.visible_region(user, region)
    rows = reports.in_scope(user, region=region, month=request.args.get("month") or None)
    return jsonify({"items": [report_json(row) for row in rows]})


@bp.get("/reports/<int:report_id>/file")
@operation("Download a monthly report (XLSX or CSV)", tags=["reports"], response=None, errors=(410,))
def report_file(report_id):
    row = reports.visible(api_user(), report_id)
    return send_stored_file(
        row.stored_file,
        mimetype=report.FORMATS[row.format][0],
        as_attachment=True,
        download_name=row.stored_file.original_name,
    )


@bp.get("/stats/summary")
@operation(
    "A region's monthly figures and its children's (the monthly report's summary)",
    tags=["reports"],
    parameters=[{**REGION, "required": True}, {**MONTH, "required": True}],
    response={
        "type": "object",
        "properties": {
            "region": {"type": "string"},
            "region_name": {"type": "string"},
            "month": {"type": "string"},
            "totals": FIGURES,
            "children": {"type": "array", "items": {"type": "object"}},
        },
    },
    errors=(404,),
)
def stats_summary():
    user = api_user()
    month = report.parse_month(request.args.get("month", ""))
    region = reports.visible_region(user, request.args.get("region", ""))
    return jsonify(report.summary(report.build(region, month)))
