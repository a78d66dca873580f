"""The manager dashboard's API (GET /api/v1/dashboard/): its figures are those of
incidents.stats.figures for the period and the period before, a dispatcher sees only their
departments (and is refused another's: 403), other roles are refused, bad input is a 400 that
names what is wrong, and the number of queries does not grow with the data.

The data: two months worked out by hand (times UTC; weekend Friday and Saturday; 08:00–16:00;
SLA 72 h = 3 working days), built through the services and stamped at known times:

    September  S1 pothole (web, west)    Tue 15 09:00 reported, 11:00 verified, Wed 16 10:00 resolved
               S2 pothole (phone, east)  Thu 17 09:00 reported, 09:30 rejected
    October    O1 pothole (web, west)    Wed 7 15:00 reported, Thu 8 12:00 verified, Sun 11 10:00 resolved
               O2 pothole (whatsapp, west) Thu 8 10:00 reported, still open (overdue)
               O3 leak, water (sms, east)  Fri 9 09:00 reported, Sun 11 09:00 verified, Mon 12 12:00 resolved
"""

from datetime import date, datetime, time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from fixtures.factories import CategoryFactory, DepartmentFactory
from incidents.models import Incident, IncidentUpdate, StatsDaily, Status
from incidents.stats.calendar import business_days_layout, calendar_for
from incidents.stats.figures import Filters, Period, backlog, month_period, totals
from incidents.stats.rollup import stats_rebuild
from map_ui.api_dashboard import _to_date
from ops.roles import Role
from tests.conftest import CENTRE, offset, user_with_role
from tests.incidents.history import at, move_at, report_stamp

pytestmark = pytest.mark.django_db

API = "/api/v1/dashboard/"
OCTOBER, SEPTEMBER = month_period(2026, 10), month_period(2026, 9)




def _resolve(incident_id: int, when: datetime, by) -> None:
    """Assigned, on site and resolved, all at `when`."""
    for step in (Status.ASSIGNED, Status.ON_SITE, Status.RESOLVED):
        move_at(incident_id, step, when, by)



@pytest.fixture
def water(department):
    return DepartmentFactory(code="water", name_en="Water")


@pytest.fixture
def leak(water):
    return CategoryFactory(code="leak", department=water, name_en="Leak", cluster_radius_m=30)


@pytest.fixture
def months(city, category, leak, make_report, dispatcher):
    calendar = calendar_for(city)
    calendar.timezone, calendar.weekend = "UTC", [5, 6]
    calendar.day_starts, calendar.day_ends = time(8), time(16)
    calendar.save()
    business_days_layout(calendar=calendar, until=date(2027, 12, 31))
    east = (24.95, 60.17)
    s1 = report_stamp(make_report(category, *CENTRE, channel="web"), at(date(2026, 9, 15), 9))
    move_at(s1.incident_id, Status.VERIFIED, at(date(2026, 9, 15), 11), dispatcher)
    _resolve(s1.incident_id, at(date(2026, 9, 16), 10), dispatcher)
    s2 = report_stamp(make_report(category, *east, channel="phone"), at(date(2026, 9, 17), 9))
    move_at(s2.incident_id, Status.REJECTED, at(date(2026, 9, 17), 9, 30), dispatcher,
            note="Not ours")
    o1 = report_stamp(make_report(category, *offset(*CENTRE, north_m=200), channel="web"),
                      at(date(2026, 10, 7), 15))
    move_at(o1.incident_id, Status.VERIFIED, at(date(2026, 10, 8), 12), dispatcher)
    _resolve(o1.incident_id, at(date(2026, 10, 11), 10), dispatcher)
    o2 = report_stamp(make_report(category, *offset(*CENTRE, east_m=300), channel="whatsapp"),
                      at(date(2026, 10, 8), 10))
    o3 = report_stamp(make_report(leak, *offset(*east, north_m=200), channel="sms"),
                      at(date(2026, 10, 9), 9))
    move_at(o3.incident_id, Status.VERIFIED, at(date(2026, 10, 11), 9), dispatcher)
    _resolve(o3.incident_id, at(date(2026, 10, 12), 12), dispatcher)
    # The SLA clocks of the open one ran out long ago.
    Incident.objects.filter(pk=o2.incident_id).update(sla_due_at=at(date(2026, 10, 13), 10))
    stats_rebuild(area=city, since=date(2026, 9, 1))
    return {"s1": s1.incident_id, "s2": s2.incident_id, "o1": o1.incident_id,
            "o2": o2.incident_id, "o3": o3.incident_id}


def client_for(role: str | None, *, departments=(), **fields) -> APIClient:
    user = user_with_role(role, username=f"{role or 'admin'}-dash", **fields)
    user.departments.set(departments)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def manager_client():
    return client_for(Role.MANAGER, is_staff=True)


@pytest.fixture
def roads_dispatcher_client(department):
    return client_for(Role.DISPATCHER, departments=[department], is_staff=True)


def _snapshot() -> tuple:
    return (StatsDaily.objects.count(), Incident.objects.count(),
            IncidentUpdate.objects.count())


# --- figures ---------------------------------------------------------------------------------

def test_the_months_figures_are_those_of_the_rollups(city, months, manager_client):
    response = manager_client.get(API, {"month": "2026-10"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["totals"] == totals(area_id=city.pk, period=OCTOBER, filters=Filters())
    assert body["previous_totals"] == totals(area_id=city.pk, period=SEPTEMBER,
                                             filters=Filters())
    assert body["backlog"] == backlog(area_id=city.pk, day=date(2026, 10, 31),
                                      filters=Filters())
    assert body["period"] | body["previous"] == body["period"] | {
        "first": "2026-09-01", "last": "2026-09-30", "as_of": "2026-09-30",
        "starts_at": "2026-09-01T00:00:00+00:00", "ends_at": "2026-10-01T00:00:00+00:00"}
    assert (body["period"]["kind"], body["period"]["month"], body["period"]["starts_at"],
            body["period"]["ends_at"]) == ("month", "2026-10", "2026-10-01T00:00:00+00:00",
                                           "2026-11-01T00:00:00+00:00")


def test_the_months_figures_against_the_month_before_worked_out_by_hand(months,
                                                                        manager_client):
    body = manager_client.get(API, {"month": "2026-10"}).json()

    now, before = body["totals"], body["previous_totals"]
    # October: three reports and incidents; O1 resolved after 91 h (wall), O3 after 75 h;
    # both within three working days (O1: 1 + 8 + 2 h; O3, from a Friday: 8 + 4 h).
    assert (now["reports"], now["incidents_opened"], now["resolutions"],
            now["on_time_share"], now["resolve_h_median"]) == (3, 3, 2, 1.0, 83.0)
    # September: S1 resolved after 25 h, S2 rejected after half an hour.
    assert (before["reports"], before["incidents_opened"], before["resolutions"],
            before["rejected"], before["resolve_h_median"]) == (2, 2, 1, 1, 25.0)
    # O2 is open at October's end (23 days old, past its SLA); nothing at September's.
    assert (body["backlog"]["open"], body["backlog"]["overdue"],
            body["backlog"]["bands"]["7-30d"], body["previous_backlog"]["open"]) == (1, 1, 1, 0)


def test_the_trend_has_a_point_for_every_day_of_the_month(months, manager_client):
    body = manager_client.get(API, {"month": "2026-10"}).json()

    points = body["trend"]["points"]
    assert (body["trend"]["step"], len(points), points[0]["start"], points[-1]["start"]) == (
        "day", 31, "2026-10-01", "2026-10-31")
    assert [(p["start"], p["reports"], p["resolutions"]) for p in points
            if p["reports"] or p["resolutions"]] == [
        ("2026-10-07", 1, 0), ("2026-10-08", 1, 0), ("2026-10-09", 1, 0),
        ("2026-10-11", 0, 1), ("2026-10-12", 0, 1)]
    assert (points[6]["starts_at"], points[6]["ends_at"]) == (
        "2026-10-07T00:00:00+00:00", "2026-10-08T00:00:00+00:00")


def test_a_year_is_drawn_month_by_month(months, manager_client):
    body = manager_client.get(API, {"year": "2026"}).json()

    assert (body["period"]["first"], body["previous"]["first"], body["trend"]["step"]) == (
        "2026-01-01", "2025-01-01", "month")
    assert [p["reports"] for p in body["trend"]["points"]][8:10] == [2, 3]


def test_the_rankings_and_the_district_map(months, manager_client, settings):
    settings.RASAD_RANKING_MIN_CASES = 2

    body = manager_client.get(API, {"month": "2026-10"}).json()

    assert [(r["code"], r["rank"], r["incidents_opened"], r["on_time_share"])
            for r in body["ranking"]["district"]] == [("west", 1, 2, 1.0),
                                                      ("east", None, 1, 1.0)]
    assert [(r["code"], r["rank"], r["ranked"]) for r in body["ranking"]["department"]] == [
        ("roads", 1, True), ("water", None, False)]
    assert body["districts"] == {
        "west": {"on_time_share": 1.0, "resolutions": 1, "incidents_opened": 2, "open": 1,
                 "overdue": 1},
        "east": {"on_time_share": 1.0, "resolutions": 1, "incidents_opened": 1, "open": 0,
                 "overdue": 0}}


def test_the_slowest_open_incidents_come_from_the_open_incidents(months, manager_client):
    body = manager_client.get(API, {"month": "2026-10"}).json()

    oldest, overdue = body["slowest"]["oldest"], body["slowest"]["overdue"]
    assert [(r["id"], r["category"], r["district"], r["status"]) for r in oldest] == [
        (months["o2"], "pothole", "west", "new")]
    assert [r["id"] for r in overdue] == [months["o2"]]
    assert overdue[0]["overdue_h"] > 24 * 50


def test_filters_narrow_every_figure(city, months, manager_client, district_east):
    body = manager_client.get(API, {"month": "2026-10", "district": "east",
                                    "channel": "sms"}).json()

    filters = Filters(districts=(district_east.pk,), channels=("sms",))
    assert body["totals"] == totals(area_id=city.pk, period=OCTOBER, filters=filters)
    assert (body["totals"]["reports"], body["filters"]) == (1, {
        "department": [], "category": [], "district": ["east"], "channel": ["sms"]})
    assert body["slowest"]["oldest"] == []


def test_a_custom_range_is_compared_with_as_many_days_before(months, manager_client):
    body = manager_client.get(API, {"from": "2026-10-07", "to": "2026-10-13"}).json()

    assert (body["period"]["kind"], body["previous"]["first"], body["previous"]["last"],
            body["totals"]["reports"]) == ("range", "2026-09-30", "2026-10-06", 3)


@pytest.mark.parametrize(("first", "last", "today", "current", "previous"), [
    # a month under way against the same days of the month before
    ("2026-12-01", "2026-12-31", "2026-12-06", ("2026-12-01", "2026-12-06"),
     ("2026-11-01", "2026-11-06")),
    # a year under way
    ("2026-01-01", "2026-12-31", "2026-03-10", ("2026-01-01", "2026-03-10"),
     ("2025-01-01", "2025-03-10")),
    # a past month whole
    ("2026-10-01", "2026-10-31", "2026-12-06", ("2026-10-01", "2026-10-31"),
     ("2026-09-01", "2026-09-30")),
])
def test_a_period_under_way_is_compared_to_date(first, last, today, current, previous):
    period = Period(date.fromisoformat(first), date.fromisoformat(last))

    now, before = _to_date(period, date.fromisoformat(today))

    assert ((now.first.isoformat(), now.last.isoformat()),
            (before.first.isoformat(), before.last.isoformat())) == (current, previous)


def test_the_default_is_the_last_thirty_days(months, manager_client):
    body = manager_client.get(API).json()

    first, last = date.fromisoformat(body["period"]["first"]), date.fromisoformat(
        body["period"]["last"])
    assert (body["period"]["kind"], (last - first).days + 1, body["period"]["last"]) == (
        "last", 30, body["today"])


# --- who sees what ---------------------------------------------------------------------------

def test_a_dispatcher_sees_only_their_departments(city, months, department,
                                                   roads_dispatcher_client):
    body = roads_dispatcher_client.get(API, {"month": "2026-10"}).json()

    mine = Filters(departments=(department.pk,))
    assert body["totals"] == totals(area_id=city.pk, period=OCTOBER, filters=mine)
    assert (body["totals"]["reports"], body["scope"]) == (
        2, {"restricted": True, "departments": ["roads"]})
    assert [r["code"] for r in body["ranking"]["department"]] == ["roads"]
    # the water department's leak was the only thing in the east in October
    assert sorted(body["districts"]) == ["west"]


def test_a_dispatcher_cannot_ask_for_another_department(months, roads_dispatcher_client):
    before = _snapshot()

    response = roads_dispatcher_client.get(API, {"month": "2026-10",
                                                 "department": "roads,water"})

    assert (response.status_code, response.json()["detail"]) == (
        403, "You may see only your departments' figures; not water.")
    assert _snapshot() == before


def test_a_dispatcher_may_narrow_to_one_of_their_departments(months, roads_dispatcher_client):
    response = roads_dispatcher_client.get(API, {"month": "2026-10", "department": "roads"})

    assert (response.status_code, response.json()["totals"]["reports"]) == (200, 2)


def test_a_manager_sees_every_department(city, months, manager_client, water):
    everything = manager_client.get(API, {"month": "2026-10"}).json()
    only_water = manager_client.get(API, {"month": "2026-10", "department": "water"}).json()

    assert (everything["totals"]["reports"], only_water["totals"]["reports"],
            everything["scope"]) == (3, 1, {"restricted": False, "departments": None})
    assert only_water["totals"] == totals(area_id=city.pk, period=OCTOBER,
                                          filters=Filters(departments=(water.pk,)))


def test_an_admin_sees_every_department(months):
    client = client_for(None, is_superuser=True, is_staff=True)

    assert client.get(API, {"month": "2026-10"}).json()["totals"]["reports"] == 3


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.CREW, Role.INTAKE_AGENT])
def test_other_roles_are_refused(months, role):
    response = client_for(role).get(API, {"month": "2026-10"})

    assert response.status_code == 403


def test_without_signing_in_it_is_refused(months):
    assert APIClient().get(API, {"month": "2026-10"}).status_code == 403


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize(("params", "field", "detail"), [
    ({"month": "2026-13"}, "month",
     "month: Unknown month 2026-13; write it as YYYY-MM, like 2026-11."),
    ({"month": "November"}, "month",
     "month: Unknown month November; write it as YYYY-MM, like 2026-11."),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "non_field_errors",
     "A period of 2193 days is too long: at most 1096 days (three years)."),
    ({"last": "5000"}, "last", None),
    ({"from": "2026-10-01"}, "to", "to: A custom period needs both its first and its last day."),
    ({"from": "2026-10-10", "to": "2026-10-01"}, "to", "to: The last day comes before the first."),
    ({"from": "2026-10-32", "to": "2026-11-01"}, "from", None),
    ({"month": "2026-10", "year": "2026"}, "non_field_errors",
     "Give one period: a month, a year, from and to, or the last days."),
    ({"month": "2026-10", "district": "nowhere"}, "district",
     "district: Unknown district nowhere; use: east, west."),
    ({"month": "2026-10", "category": "pothole,unicorn"}, "category",
     "category: Unknown category unicorn; use: leak, pothole."),
    ({"month": "2026-10", "department": "space"}, "department",
     "department: Unknown department space; use: roads, water."),
    ({"month": "2026-10", "channel": "pigeon"}, "channel", None),
])
def test_bad_input_is_a_400_that_names_what_is_wrong(months, manager_client, params, field,
                                                     detail):
    before = _snapshot()

    response = manager_client.get(API, params)

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], field in body["errors"]) == ("invalid", True)
    if detail:
        assert body["detail"] == detail
    assert _snapshot() == before


def test_a_bad_month_is_answered_in_the_readers_language(months, manager_client):
    response = manager_client.get(API, {"month": "2026-13"}, HTTP_ACCEPT_LANGUAGE="ar")

    assert (response.status_code, response["Content-Language"]) == (400, "ar")


# --- speed -----------------------------------------------------------------------------------

def _queries(client, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(API, params).status_code == 200
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_data(city, months, manager_client,
                                                          category, leak, make_report,
                                                          settings, django_assert_num_queries):
    settings.RASAD_DASHBOARD_CACHE_S = 0
    manager_client.get(API, {"month": "2026-10"})  # the user's roles are read once
    small = _queries(manager_client, {"month": "2026-10"})
    for n in range(30):
        report = make_report(category if n % 2 else leak,
                             *offset(*CENTRE, east_m=(n % 6) * 300,
                                     north_m=-500 - (n // 6) * 100),
                             channel=["web", "sms", "phone"][n % 3])
        report_stamp(report, at(date(2026, 10, 1 + n % 28), 9))
    stats_rebuild(area=city, since=date(2026, 9, 1))

    # area, calendar, departments, categories, districts, watermark (6); the backlog of both
    # periods' ends and per district (3); the districts' ranking (names, two periods: 3);
    # totals of both periods (3 each); the trend (1); the departments' ranking (3); the two
    # lists of slow incidents (2)
    with django_assert_num_queries(small):
        response = manager_client.get(API, {"month": "2026-10"})
    assert response.json()["totals"]["reports"] == 33
    assert small == 24


def test_an_answer_is_reused_until_the_figures_are_refreshed(city, months, manager_client,
                                                             settings, category, make_report):
    settings.RASAD_DASHBOARD_CACHE_S = 300
    first = manager_client.get(API, {"month": "2026-10"}).json()
    cached = _queries(manager_client, {"month": "2026-10"})
    report_stamp(make_report(category, *offset(*CENTRE, north_m=-300)),
                 at(date(2026, 10, 20), 9))

    unchanged = manager_client.get(API, {"month": "2026-10"}).json()
    stats_rebuild(area=city, since=date(2026, 10, 20))
    refreshed = manager_client.get(API, {"month": "2026-10"}).json()

    assert (first["totals"]["reports"], unchanged["totals"]["reports"],
            refreshed["totals"]["reports"]) == (3, 3, 4)
    # area, calendar, departments, categories, districts, watermark; the slow incidents
    assert cached == 8


def test_the_beats_refresh_computes_the_first_views_in_advance(city, months, manager_client,
                                                               settings):
    from incidents.stats.rollup import stats_refresh_all

    settings.RASAD_DASHBOARD_CACHE_S = 300
    stats_refresh_all()  # as the beat does: the rollups, then the dashboard's first views
    with CaptureQueriesContext(connection) as queries:
        english = manager_client.get(API, {"year": "2026"}, HTTP_ACCEPT_LANGUAGE="en")
    arabic = manager_client.get(API, {"year": "2026"}, HTTP_ACCEPT_LANGUAGE="ar")

    assert not [q for q in queries if "incidents_stats" in q["sql"]]  # all from the cache
    assert english.json()["totals"]["reports"] == 5
    names = [[row["name"] for row in answer.json()["ranking"]["department"]]
             for answer in (english, arabic)]
    assert len(names[0]) == len(names[1]) > 0
    assert names[0] != names[1]  # the same cached figures, named in the reader's language
