"""Who sees which e站: the one rule, applied in one place.

Division codes nest by prefix (province ``41``, city ``4101``, county ``410102``, township
``410102001``), so "inside my region" is "my code is a prefix of its code". Staff of a 科协 see the
stations inside the region of their assignment; admins see all; a station's own people (its
manager, its logins, its 信息员) see their station; everyone else sees none. Whatever lies outside
answers 404, never 403, so nobody learns that it exists.
"""

from sqlalchemy import false, true

from cloud.accounts.models import Role
from cloud.errors import NotFound
from cloud.extensions import db
from cloud.stations.models import Station
from cloud.stations.workflow import Capacity

#: Region level (1 省, 2 市, 3 县) -> the association's name.
ASSOCIATION_LEVELS = {1: "省级科协", 2: "市级科协", 3: "县级科协"}


def staff_region(user):
    """The region code a staff account is bound to, or None for anyone who is not staff."""
    if user is None or not user.is_active or not user.has_role(Role.STAFF):
        return None
    assignment = user.staff_assignment
    return assignment.region_code if assignment is not None else None


def staff_level(user):
    """1, 2 or 3 for province, city or county staff; None otherwise."""
    code = staff_region(user)
    return {2: 1, 4: 2, 6: 3}.get(len(code)) if code else None


def sees_everything(user):
    return user is not None and user.is_active and user.has_role(Role.ADMIN)


def covers(user, region_code):
    """True when ``region_code`` lies inside what ``user`` may see as staff (or admin)."""
    if sees_everything(user):
        return True
    code = staff_region(user)
    return bool(code and region_code and region_code.startswith(code))


def region_clause(user, column):
    """A WHERE clause restricting ``column`` (a region-code column) to the user's region."""
    if sees_everything(user):
        return true()
    code = staff_region(user)
    if not code:
        return false()
    return column.like(f"{code}%")


def can_see(user, station):
    if station is None or user is None or not user.is_active:
        return False
    return covers(user, station.region_code) or user.station_id == station.id or station.manager_id == user.id


def visible_station(user, station_id):
    """The station with ``station_id`` if ``user`` may see it; NotFound otherwise."""
    station = db.session.get(Station, station_id) if isinstance(station_id, int) else None
    if not can_see(user, station):
        raise NotFound("e站不存在")
    return station


def capacities(user, station):
    """In which capacities ``user`` may act on ``station`` (see workflow.ACTIONS)."""
    found = set()
    if user is None or not user.is_active:
        return found
    if station.manager_id == user.id:
        found.add(Capacity.APPLICANT)
    code = staff_region(user)
    if code and station.region_code:
        if len(code) == 6 and station.region_code == code:
            found.add(Capacity.COUNTY)
        elif len(code) == 4 and station.region_code.startswith(code):
            found.add(Capacity.CITY)
    return found


def is_station_person(user, station):
    """The station's manager or one of its own logins (not its 信息员): they record activities."""
    if user is None or not user.is_active:
        return False
    return station.manager_id == user.id or (user.station_id == station.id and user.has_role(Role.STATION))
