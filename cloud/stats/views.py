"""传播量 pages: the share panel on a resource page, its QR code, the public shared page and its
media, and 我的传播."""

import io

from flask import Response, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from cloud.catalog.service import published
from cloud.errors import DomainError, NotFound, ValidationFailed
from cloud.extensions import db
from cloud.files.serving import send_stored_file
from cloud.regions.service import ancestry
from cloud.resources.models import Resource
from cloud.stations import scope
from cloud.stations import service as stations_service
from cloud.stats import bp, dashboard, report, reports, service, sharing


@bp.app_context_processor
def share_panel():
    """``share_of(resource)`` for the resource page: the logged-in sharer's own link (made the
    first time; the page's view commits it), or None for anyone who does not share."""

    def share_of(resource):
        user = current_user.user if current_user.is_authenticated else None
        if not service.may_share(user):
            return None
        link = sharing.link_for(user, resource)
        return {
            "url": url_for("stats.shared", token=link.token, _external=True),
            "qr": url_for("stats.share_qr", resource_id=resource.id),
        }

    return {"share_of": share_of}


@bp.get("/resources/<int:resource_id>/share/qr.png")
@login_required
def share_qr(resource_id):
    resource = published(resource_id)
    link = sharing.link_for(current_user.user, resource)
    url = url_for("stats.shared", token=link.token, _external=True)
    db.session.commit()
    response = Response(sharing.qr_png(url), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/s/<token>")
def shared(token):
    """The public page of a shared resource: no login, no cookie, the visit counted anonymously."""
    link, resource = sharing.find(token)
    if resource is None:
        return render_template("stats/withdrawn.html"), 410
    viewer = current_user.user.id if current_user.is_authenticated else None
    service.record_share_visit(
        link,
        resource,
        remote_addr=request.remote_addr,
        user_agent=request.headers.get("User-Agent", ""),
        viewer_id=viewer,
    )
    html = render_template(
        "stats/shared.html",
        resource=resource,
        token=token,
        files={rf.role: rf for rf in reversed(resource.files) if rf.role in sharing.SHARED_ROLES},
        article_html=sharing.article_html(
            resource, lambda file_id: url_for("stats.shared_media", token=token, file_id=file_id)
        ),
    )
    db.session.commit()
    response = Response(html)
    response.headers["Cache-Control"] = "no-store"  # every visit reaches the counter
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/s/<token>/media/<int:file_id>")
def shared_media(token, file_id):
    """A reader's rendition of the shared resource, for the public page: nothing else, to anyone."""
    _link, resource = sharing.find(token)
    if resource is None:
        return render_template("stats/withdrawn.html"), 410
    rf = sharing.shared_file(resource, file_id)
    return send_stored_file(rf.stored_file, mimetype=rf.mime_type, max_age=3600)


@bp.get("/my/shares")
@login_required
def my_shares():
    months = service.shares_by_month(current_user.user)
    ids = {resource_id for _month, rows, _total in months for resource_id, _count in rows}
    titles = dict(
        db.session.execute(db.select(Resource.id, Resource.title).where(Resource.id.in_(ids))).all()
    )
    return render_template("stats/my_shares.html", months=months, titles=titles)


# The staff dashboards (scoped like the e站 registry) and a station's own month-by-month page.


@bp.get("/stats")
@login_required
def dashboard_page():
    user = current_user.user
    region = dashboard.scope_region(user, request.args.get("region"))
    period = dashboard.parse_period(request.args)
    board = dashboard.build(region, period, beside=True)
    own = scope.staff_region(user) or ""
    chain = [r for r in ancestry(region.code) if r.code.startswith(own)] if region else []
    return render_template(
        "stats/dashboard.html",
        board=board,
        chain=chain,
        events=dashboard.KINDS,
        query={"month": period.month} if period.month else {"from": period.first, "to": period.last},
        scope_name=stations_service.association_name(own) or "全国",
    )


@bp.get("/stats/stations/<int:station_id>")
@login_required
def station_usage(station_id):
    station = scope.visible_station(current_user.user, station_id)
    months = dashboard.station_months(station)
    return render_template(
        "stats/dashboard_station.html",
        station=station,
        months=months,
        events=dashboard.KINDS,
        chart=dashboard.months_chart(months),
    )


# 月度统计报表: the staff's reports page, generating one now, the file, and the city's 报送.


def _staff():
    user = current_user.user
    if scope.staff_region(user) is None and not scope.sees_everything(user):
        raise NotFound()
    return user


@bp.get("/stats/reports")
@login_required
def reports_page():
    user = _staff()
    own = scope.staff_region(user)
    month = request.args.get("month") or reports.previous_month(stations_service.today())
    try:
        month = report.parse_month(month)
    except DomainError as exc:
        flash(exc.message, "error")
        month = reports.previous_month(stations_service.today())
    rows = reports.in_scope(user)
    pending = []
    if own and len(own) == 4:
        for row in rows:
            if row.region_code == own and row.submitted_at is None:
                pending.append((row, report.build(own, row.month).highlights))
    status = None
    if own and len(own) == 2:
        status = reports.submission_status(own, month, stations_service.today())
    return render_template(
        "stats/reports.html",
        rows=rows,
        month=month,
        own=own,
        pending=pending,
        status=status,
        region_name=report.region_name(own) if own else "全国",
    )


@bp.post("/stats/reports/generate")
@login_required
def generate_report():
    user = _staff()
    try:
        region = reports.visible_region(user, request.form.get("region") or scope.staff_region(user) or "")
        fmt = request.form.get("format", "xlsx")
        if fmt not in report.FORMATS:
            raise ValidationFailed("格式应为 xlsx 或 csv")
        month = report.parse_month(request.form.get("month", ""))
        if not reports.is_finished(month):  # this month so far: a download, not a kept report
            data, content_type, name = reports.so_far(region, month, fmt)
            return send_file(io.BytesIO(data), mimetype=content_type, as_attachment=True, download_name=name)
        row, created = reports.generate(region, month, fmt, actor=user)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("stats.reports_page"))
    db.session.commit()
    flash("报表已生成" if created else "该月报表已存在，可直接下载", "success")
    return redirect(url_for("stats.reports_page", month=row.month))


@bp.get("/stats/reports/<int:report_id>/file")
@login_required
def report_file(report_id):
    row = reports.visible(current_user.user, report_id)
    return send_stored_file(
        row.stored_file,
        mimetype=report.FORMATS[row.format][0],
        as_attachment=True,
        download_name=row.stored_file.original_name,
    )


@bp.post("/stats/reports/<int:report_id>/submit")
@login_required
def submit_report(report_id):
    user = _staff()
    row = reports.visible(user, report_id)
    try:
        ids = [int(v) for v in request.form.getlist("highlight_ids") if v.isascii() and v.isdigit()]
        reports.submit(user, row, note=request.form.get("note", ""), highlight_ids=ids)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("stats.reports_page"))
    db.session.commit()
    flash("已报送省科协", "success")
    return redirect(url_for("stats.reports_page", month=row.month))
