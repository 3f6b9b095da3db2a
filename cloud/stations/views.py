"""e站 pages: apply and follow an application, staff work queues and lists, the station page."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from cloud.accounts.models import Role
from cloud.catalog.service import SearchParams
from cloud.catalog.service import search as search_resources
from cloud.errors import DomainError, NotFound
from cloud.extensions import db
from cloud.files.serving import send_stored_file
from cloud.regions.service import ancestry
from cloud.stations import bp, documents, scope, service
from cloud.stations.forms import (
    AccountForm,
    ActivityForm,
    ApplicationForm,
    DecisionForm,
    InformantForm,
    StaffForm,
)
from cloud.stations.models import (
    ACTIVITY_KINDS,
    ACTIVITY_PHOTO,
    CONDITIONS,
    FACILITY_TYPES,
    FIELD_CHECK_PHOTO,
    TERMINALS,
)
from cloud.stations.photos import PhotoBatch
from cloud.stations.states import EDITABLE_STATES, STATE_LABELS, State
from cloud.stations.workflow import ACTIONS
from storage import StorageError


def _user():
    return current_user.user


def _finish(after=(), message=None):
    """The request's one commit, then the work that must wait for it (SMS)."""
    db.session.commit()
    for callback in after or ():
        callback()
    if message:
        flash(message, "success")


def _fail(form, exc):
    """Undo the request's writes and show the message next to its field (or at the top)."""
    db.session.rollback()
    target = getattr(form, exc.details.get("field", ""), None) if form is not None else None
    if target is None or not hasattr(target, "errors") or not isinstance(target.errors, list):
        flash(exc.message, "error")
    else:
        target.errors.append(exc.message)


def _require_staff():
    user = _user()
    if scope.staff_region(user) is None and not scope.sees_everything(user):
        raise NotFound()
    return user


def _photo_batch(form_prefix="photos_"):
    """The 五有 photos of an application form, checked and re-encoded (not stored yet)."""
    batch = PhotoBatch()
    try:
        for key, (label, _hint) in CONDITIONS.items():
            batch.add(key, request.files.getlist(f"{form_prefix}{key}"), label=label)
    except BaseException:
        batch.close()
        raise
    return batch


def _application_fields(form):
    data = {
        k: form.data.get(k)
        for k in (
            "name",
            "facility_type",
            "region_code",
            "address",
            "manager_name",
            "manager_phone",
            *CONDITIONS,
        )
    }
    data["terminals"] = request.form.getlist("terminals")
    return data


def _allow_photo_upload():
    request.max_content_length = current_app.config["KEPU_MAX_FORM_UPLOAD_BYTES"]


@bp.route("/stations/apply", methods=["GET", "POST"])
@login_required
def apply():
    """申报: a station manager's application, or county staff entering one on a station's behalf."""
    user = _user()
    on_behalf = scope.staff_level(user) == service.COUNTY_LEVEL
    if not on_behalf:
        if not user.has_role(Role.STATION_MANAGER):
            return render_template("stations/not_manager.html"), 403
        own = service.own_station(user)
        if own is not None:
            db.session.commit()
            return redirect(url_for("stations.detail", station_id=own.id))
    _allow_photo_upload()
    form = ApplicationForm()
    if request.method == "GET":
        form.manager_phone.data = "" if on_behalf else user.phone
        form.region_code.data = scope.staff_region(user) if on_behalf else (user.region_code or "")[:6]
    if form.validate_on_submit():
        try:
            with _photo_batch() as photos:
                station, after = service.apply(user, _application_fields(form), photos)
        except (DomainError, StorageError) as exc:
            _fail(form, _as_domain(exc))
        else:
            _finish(after, "e站申请已提交，请等待县级科协审核")
            return redirect(url_for("stations.detail", station_id=station.id))
    return _application_page(form, None, on_behalf)


def _as_domain(exc):
    if isinstance(exc, DomainError):
        return exc
    current_app.logger.error("storing station photos failed: %s", exc)
    return DomainError("照片保存失败，请稍后重试")


def _selected_terminals(station):
    if request.method == "POST":
        return set(request.form.getlist("terminals"))
    return set(station.terminal_list if station else [])


def _application_page(form, station, on_behalf):
    code = form.region_code.data or (station.region_code if station else "")
    return render_template(
        "stations/apply.html",
        form=form,
        station=station,
        on_behalf=on_behalf,
        conditions=CONDITIONS,
        region_chain=ancestry(code) if code else [],
        selected_terminals=_selected_terminals(station),
        terminals=TERMINALS,
        # A browser cannot be given files back: say plainly that the chosen photos must be chosen again.
        photos_dropped=request.method == "POST" and any(f.filename for f in request.files.values()),
    )


@bp.get("/stations/mine")
@login_required
def mine():
    user = _user()
    station = service.own_station(user)
    db.session.commit()
    if station is None and user.station_id is not None:
        station = scope.visible_station(user, user.station_id)
    if station is None:
        return redirect(url_for("stations.apply"))
    return redirect(url_for("stations.detail", station_id=station.id))


@bp.route("/stations/<int:station_id>/edit", methods=["GET", "POST"])
@login_required
def edit(station_id):
    """修改后重新提交 (after 退回修改 / 未通过 / 撤销)."""
    user = _user()
    station = scope.visible_station(user, station_id)
    caps = scope.capacities(user, station)
    if not caps & set(ACTIONS["resubmit"].capacities) or State(station.state) not in EDITABLE_STATES:
        raise NotFound()
    _allow_photo_upload()
    form = ApplicationForm(obj=station) if request.method == "GET" else ApplicationForm()
    if form.validate_on_submit():
        remove = [int(v) for v in request.form.getlist("remove_photo") if v.isdigit() and len(v) < 10]
        try:
            with _photo_batch() as photos:
                after = service.edit_and_resubmit(user, station, _application_fields(form), photos, remove)
        except (DomainError, StorageError) as exc:
            _fail(form, _as_domain(exc))
        else:
            _finish(after, "已重新提交，请等待县级科协审核")
            return redirect(url_for("stations.detail", station_id=station.id))
    return _application_page(form, station, scope.staff_level(user) == service.COUNTY_LEVEL)


@bp.get("/stations/<int:station_id>")
@login_required
def detail(station_id):
    user = _user()
    return _detail_page(user, scope.visible_station(user, station_id))


def _detail_page(user, station, typed=None, failed=None, status=200):
    """The station page; after a refused decision, that decision's form keeps what was typed."""
    caps = scope.capacities(user, station)
    actions = {
        name: action
        for name, action in ACTIONS.items()
        if name != "resubmit" and State(station.state) in action.sources and action.capacities & caps
    }
    people = service.people(station)
    return render_template(
        "stations/detail.html",
        station=station,
        region_chain=ancestry(station.region_code),
        conditions=CONDITIONS,
        history=service.history(station),
        checks=service.field_checks(station),
        actions=actions,
        can_edit=bool(caps & set(ACTIONS["resubmit"].capacities)) and State(station.state) in EDITABLE_STATES,
        can_manage_people=bool(caps & {"applicant", "county"}),
        is_station_person=scope.is_station_person(user, station),
        people=people,
        activities=service.activities_of(station)[:5],
        form=DecisionForm(),
        account_form=AccountForm(),
        informant_form=InformantForm(),
        association=service.association_name(station.recognised_by_code),
        typed=typed or {},
        failed=failed,
        photos_dropped=bool(typed) and any(f.filename for f in request.files.values()),
    ), status


@bp.post("/stations/<int:station_id>/decisions/<action>")
@login_required
def decide(station_id, action):
    user = _user()
    station = scope.visible_station(user, station_id)
    if action not in ACTIONS or action == "resubmit":
        raise NotFound()
    _allow_photo_upload()
    form = DecisionForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(errors[0] if isinstance(errors, list) else "请检查填写的内容", "error")
        if "csrf_token" in form.errors:
            return redirect(url_for("stations.detail", station_id=station_id))
        return _detail_page(user, station, typed=request.form, failed=action, status=422)
    decision = service.Decision(
        action=action,
        reason=form.reason.data or "",
        deadline=form.deadline.data,
        field_check={
            "checked_on": form.checked_on.data,
            "checkers": form.checkers.data,
            "notes": form.notes.data,
        },
    )
    try:
        with PhotoBatch() as photos:
            if action == "county_approve":
                photos.add(FIELD_CHECK_PHOTO, request.files.getlist("photos"), label="实地核查")
            after = service.decide(user, station, decision, photos)
    except (DomainError, StorageError) as exc:
        error = _as_domain(exc)
        _fail(None, error)
        return _detail_page(user, station, typed=request.form, failed=action, status=error.status)
    _finish(after, f"已{ACTIONS[action].label}")
    return redirect(url_for("stations.detail", station_id=station_id))


@bp.get("/stations/<int:station_id>/photos/<int:photo_id>")
@login_required
def photo(station_id, photo_id):
    station = scope.visible_station(_user(), station_id)
    found = service.photo_of(station, photo_id)
    return send_stored_file(found.stored_file, mimetype="image/jpeg", max_age=3600)


@bp.get("/stations/<int:station_id>/plaque.pdf")
@login_required
def plaque(station_id):
    """The recognised station's sign, print-ready."""
    station = scope.visible_station(_user(), station_id)
    if not station.is_recognised:
        raise NotFound("e站认定后才能下载匾牌")
    pdf = documents.plaque_pdf(station)
    return documents.attachment(pdf, f"科普中国e站匾牌-{station.number}.pdf", "application/pdf")


@bp.post("/stations/<int:station_id>/accounts")
@login_required
def add_account(station_id):
    user = _user()
    station = scope.visible_station(user, station_id)
    form = AccountForm()
    if form.validate_on_submit():
        try:
            account = service.add_station_account(
                user, station, username=form.username.data or "", password=form.password.data or ""
            )
        except DomainError as exc:
            _fail(None, exc)
        else:
            _finish(message=f"已开设站点账号 {account.username}")
    return redirect(url_for("stations.detail", station_id=station_id) + "#people")


@bp.post("/stations/<int:station_id>/informants")
@login_required
def add_informant(station_id):
    user = _user()
    station = scope.visible_station(user, station_id)
    form = InformantForm()
    if form.validate_on_submit():
        try:
            informant = service.attach_informant(user, station, form.login.data or "")
        except DomainError as exc:
            _fail(None, exc)
        else:
            _finish(message=f"已将信息员“{informant.display_name}”加入本站")
    return redirect(url_for("stations.detail", station_id=station_id) + "#people")


@bp.post("/stations/<int:station_id>/people/<int:user_id>/remove")
@login_required
def remove_person(station_id, user_id):
    user = _user()
    station = scope.visible_station(user, station_id)
    if FlaskForm().validate_on_submit():
        try:
            service.detach_person(user, station, user_id)
        except DomainError as exc:
            _fail(None, exc)
        else:
            _finish(message="已移出本站")
    return redirect(url_for("stations.detail", station_id=station_id) + "#people")


@bp.route("/stations/<int:station_id>/activities", methods=["GET", "POST"])
@login_required
def activities(station_id):
    """有活动: the station's activities; its own accounts record new ones."""
    user = _user()
    station = scope.visible_station(user, station_id)
    _allow_photo_upload()
    form = ActivityForm()
    if request.method == "GET" and request.args.get("resource"):
        form.resource_ids.data = request.args["resource"][:20]
    if form.validate_on_submit():
        ids = [v for v in (form.resource_ids.data or "").replace("，", ",").split(",") if v.strip()]
        fields = {k: form.data.get(k) for k in service.ACTIVITY_FIELDS}
        fields["participants"] = "" if fields["participants"] is None else fields["participants"]
        try:
            with PhotoBatch() as photos:
                photos.add(ACTIVITY_PHOTO, request.files.getlist("photos"), label="活动")
                service.record_activity(user, station, fields, photos, [v.strip() for v in ids])
        except (DomainError, StorageError) as exc:
            _fail(form, _as_domain(exc))
        else:
            _finish(message="活动已记录")
            return redirect(url_for("stations.activities", station_id=station_id))
    found = []
    rq = (request.args.get("rq") or "").strip()[:50]
    if rq:
        found = [listed for listed, _hit in search_resources(SearchParams(q=rq)).items][:10]
    return render_template(
        "stations/activities.html",
        photos_dropped=request.method == "POST" and any(f.filename for f in request.files.values()),
        station=station,
        activities=service.activities_of(station),
        form=form,
        kinds=ACTIVITY_KINDS,
        can_record=scope.is_station_person(user, station) and station.is_recognised,
        can_highlight="county" in scope.capacities(user, station),
        rq=rq,
        found=found,
        action_form=FlaskForm(),
    )


@bp.post("/stations/<int:station_id>/activities/<int:activity_id>/highlight")
@login_required
def highlight(station_id, activity_id):
    user = _user()
    station = scope.visible_station(user, station_id)
    activity = service.visible_activity(user, station, activity_id)
    if FlaskForm().validate_on_submit():
        try:
            service.set_highlight(user, activity, request.form.get("on") == "1")
        except DomainError as exc:
            _fail(None, exc)
        else:
            _finish(message="已标记为亮点活动" if activity.is_highlight else "已取消亮点标记")
    return redirect(url_for("stations.activities", station_id=station_id))


def _filters():
    args = request.args
    return service.StationFilter(
        q=(args.get("q") or "")[:50],
        state=args.get("state") if args.get("state") in STATE_LABELS else "",
        county=args.get("county") if (args.get("county") or "").isdigit() else "",
        facility_type=args.get("facility_type") if args.get("facility_type") in FACILITY_TYPES else "",
    )


@bp.get("/stations")
@login_required
def index():
    """Staff: the stations of their region, searchable, with a drill-down by region."""
    user = _require_staff()
    filters = _filters()
    region = request.args.get("region") or None
    if region is not None and (not region.isdigit() or len(region) > 12):
        raise NotFound()
    parent, rows = service.drilldown(user, region)
    try:
        page = max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        page = 1
    stmt = service.stations_query(user, filters)
    if region:
        stmt = stmt.where(service.Station.region_code.like(f"{region}%"))
    total, stations = service.paginate(stmt, page)
    return render_template(
        "stations/index.html",
        stations=stations,
        total=total,
        page=page,
        pages=max(1, -(-total // service.PER_PAGE)),
        filters=filters,
        states=STATE_LABELS,
        facility_types=FACILITY_TYPES,
        parent=parent,
        drill_rows=rows,
        parent_chain=ancestry(parent.code) if parent else [],
        region=region or "",
        scope_name=service.association_name(scope.staff_region(user)) or "全国",
    )


@bp.get("/stations/export.<any(csv, xlsx):fmt>")
@login_required
def export(fmt):
    user = _require_staff()
    stmt = service.stations_query(user, _filters())
    data = documents.station_table(db.session.scalars(stmt.order_by(service.Station.id)).all(), fmt)
    mime = "text/csv; charset=utf-8" if fmt == "csv" else documents.XLSX_MIME
    return documents.attachment(data, f"科普中国e站名单.{fmt}", mime)


@bp.get("/stations/queue")
@login_required
def queue():
    """County: applications to review (审核); city: stations to re-review (复核). Oldest first."""
    user = _require_staff()
    level = scope.staff_level(user)
    return render_template(
        "stations/queue.html",
        stations=service.work_queue(user, _filters()),
        level=level,
        filters=_filters(),
        facility_types=FACILITY_TYPES,
        counties=service.counties_in_scope(user),
    )


@bp.route("/stations/staff", methods=["GET", "POST"])
@login_required
def staff():
    """Admins create province staff, province staff city staff, city staff county staff."""
    user = _user()
    if not scope.sees_everything(user) and scope.staff_region(user) is None:
        raise NotFound()
    form = StaffForm()
    if form.validate_on_submit():
        try:
            created = service.create_staff(
                user,
                form.region_code.data,
                phone=form.phone.data or None,
                username=form.username.data or None,
                name=form.name.data or "",
                password=form.password.data or "",
            )
        except DomainError as exc:
            _fail(form, exc)
        else:
            _finish(message=f"已创建工作人员账号：{created.display_name}")
            return redirect(url_for("stations.staff"))
    # After an error the picker shows the region chosen, else the staff member's own.
    own = form.region_code.data or scope.staff_region(user)
    return render_template(
        "stations/staff.html",
        form=form,
        assignments=service.staff_below(user),
        can_create=scope.sees_everything(user) or scope.staff_level(user) in (1, 2),
        own_chain=ancestry(own) if own else [],
        child_level={None: "省级", 1: "市级", 2: "县级"}.get(scope.staff_level(user), ""),
    )


@bp.app_template_filter("beijing_time")
def beijing_time(moment, fmt="%Y-%m-%d %H:%M"):
    """A stored UTC moment as people in China read it."""
    return moment.astimezone(service.BEIJING).strftime(fmt) if moment else ""


@bp.app_template_filter("station_state")
def station_state(value):
    return State(value).label
