"""传播量 pages: the share panel on a resource page, its QR code, the public shared page and its
media, and 我的传播."""

from flask import Response, render_template, request, url_for
from flask_login import current_user, login_required

from cloud.catalog.service import published
from cloud.extensions import db
from cloud.files.serving import send_stored_file
from cloud.regions.service import ancestry
from cloud.resources.models import Resource
from cloud.stations import scope
from cloud.stations import service as stations_service
from cloud.stats import bp, dashboard, service, sharing


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
    board = dashboard.build(region, period)
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
