"""The dispatcher's API over the grid network of test_dispatch: plan, pin, lock, remove,
reorder, current plans, crews and their trails."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from crews.models import CrewPosition, DispatchPin, RoutePlan, RouteStop
from crews.services.dispatch import dispatch_plan
from fixtures.factories import CategoryFactory
from gis.roads import roads_import
from incidents.models import Incident, Status
from incidents.services import incident_transition
from ops.roles import Role
from tests.conftest import user_with_role
from tests.crews.test_dispatch import crew_make, grid_write, spot
from tests.gis.test_roads import at

pytestmark = pytest.mark.django_db

PLAN_URL = "/api/v1/dispatch/plan/"


@pytest.fixture
def roads(tmp_path):
    return roads_import(path=grid_write(tmp_path))


@pytest.fixture
def asphalt_crew(roads):
    return crew_make("asphalt-1", ["asphalt"])


@pytest.fixture
def pothole(category):
    category.required_skills = ["asphalt"]
    category.save()
    return category


@pytest.fixture
def holes(pothole, make_report, dispatcher):
    incidents = []
    for x in (-100, 0):
        report = make_report(pothole, *at(x, 100))
        incidents.append(incident_transition(incident=report.incident, to=Status.VERIFIED,
                                             by=dispatcher))
    return incidents


@pytest.fixture
def route(asphalt_crew, holes):
    return dispatch_plan(crew_ids=[asphalt_crew.pk], incident_ids=[h.pk for h in holes],
                         budget_s=0.5).plans[0]


@pytest.fixture
def citizen_client():
    client = APIClient()
    client.force_authenticate(user_with_role(Role.CITIZEN))
    return client


def test_plan_returns_plans_unassigned_with_reasons_engine_and_timings(
        dispatcher_client, asphalt_crew, holes, department, make_report, dispatcher):
    # given: a street light nobody can fix, and a crew off shift
    light_category = CategoryFactory(code="street-light", department=department,
                                     required_skills=["electrician"])
    light = incident_transition(incident=make_report(light_category, *at(100, 0)).incident,
                                to=Status.VERIFIED, by=dispatcher)
    idle = crew_make("asphalt-9", ["asphalt"], shift_to_h=None)

    # when
    response = dispatcher_client.post(PLAN_URL, {
        "crew_ids": [asphalt_crew.pk, idle.pk],
        "incident_ids": [*(h.pk for h in holes), light.pk], "budget_s": 0.5}, format="json")

    # then
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"plans", "unassigned", "crews_not_used", "engine", "matrix_source",
                         "seconds"}
    assert (body["engine"], body["matrix_source"]) == ("vroom", "road_network")
    assert set(body["seconds"]) == {"build", "matrix", "solve", "geometry", "store",
                                    "transitions", "total"}
    assert body["unassigned"] == [{"incident_id": light.pk,
                                   "reason": "no crew on shift has the skills: electrician"}]
    assert body["crews_not_used"] == [{"crew": "asphalt-9",
                                       "reason": "no shift in the next 24 hours"}]
    (plan,) = body["plans"]
    assert (plan["crew"], plan["version"], plan["engine"], plan["matrix_source"]) == (
        "asphalt-1", 1, "vroom", "road_network")
    assert sorted(s["incident"]["id"] for s in plan["stops"]) == [h.pk for h in holes]
    assert [s["sequence"] for s in plan["stops"]] == [1, 2]
    assert {s["incident"]["status"] for s in plan["stops"]} == {"assigned"}
    assert plan["geometry"]["type"] == "LineString"
    assert plan["geometry"]["coordinates"][0] == pytest.approx(asphalt_crew.depot.coords)


def test_plan_by_area_takes_every_verified_incident_in_it(dispatcher_client, asphalt_crew,
                                                          holes, city):
    # when
    response = dispatcher_client.post(PLAN_URL, {"crew_ids": [asphalt_crew.pk],
                                                 "area": city.slug, "budget_s": 0.5},
                                      format="json")

    # then
    assert response.status_code == 201
    assert sorted(s["incident"]["id"] for s in response.json()["plans"][0]["stops"]) == [
        h.pk for h in holes]


def test_dispatcher_of_another_department_cannot_plan_these_incidents(asphalt_crew, holes):
    from fixtures.factories import DepartmentFactory

    outsider = user_with_role(Role.DISPATCHER, username="parks-dispatcher")
    outsider.departments.add(DepartmentFactory(code="parks"))
    client = APIClient()
    client.force_authenticate(outsider)

    response = client.post(PLAN_URL, {"crew_ids": [asphalt_crew.pk], "budget_s": 0.5,
                                      "incident_ids": [h.pk for h in holes]}, format="json")

    assert response.status_code == 403
    assert RoutePlan.objects.count() == 0
    assert set(Incident.objects.filter(pk__in=[h.pk for h in holes])
               .values_list("status", flat=True)) == {Status.VERIFIED}


def test_area_plan_takes_only_the_dispatchers_departments(asphalt_crew, holes, city):
    from fixtures.factories import DepartmentFactory

    outsider = user_with_role(Role.DISPATCHER, username="parks-dispatcher")
    outsider.departments.add(DepartmentFactory(code="parks"))
    client = APIClient()
    client.force_authenticate(outsider)

    response = client.post(PLAN_URL, {"crew_ids": [asphalt_crew.pk], "area": city.slug,
                                      "budget_s": 0.5}, format="json")

    assert response.status_code == 201
    assert response.json()["plans"][0]["stops"] == []
    assert set(Incident.objects.filter(pk__in=[h.pk for h in holes])
               .values_list("status", flat=True)) == {Status.VERIFIED}


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        pytest.param({"crew_ids": []}, {"crew_ids": ["Ensure this field has at least 1 "
                                                     "elements."]}, id="no-crews"),
        pytest.param({"area": "atlantis"}, {"area": ["Unknown area."]}, id="unknown-area"),
        pytest.param({"crew_ids": [999999]}, {"crew_ids": ["Choose at least one active "
                                                           "crew."]}, id="unknown-crew"),
    ],
)
def test_plan_with_bad_input_is_refused_and_changes_nothing(dispatcher_client, asphalt_crew,
                                                            holes, data, errors):
    # when
    response = dispatcher_client.post(PLAN_URL, {"crew_ids": [asphalt_crew.pk], **data},
                                      format="json")

    # then
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["errors"]) == ("invalid", errors)
    assert RoutePlan.objects.count() == 0
    assert set(Incident.objects.values_list("status", flat=True)) == {"verified"}


@pytest.mark.parametrize("who", ["crew_client", "citizen_client"])
@pytest.mark.parametrize(
    "request_for",
    [
        pytest.param(lambda r: (PLAN_URL, {"crew_ids": [r.crew_id]}), id="plan"),
        pytest.param(lambda r: ("/api/v1/dispatch/pin/", {
            "incident": r.stops.first().incident_id, "crew": r.crew_id}), id="pin"),
        pytest.param(lambda r: (f"/api/v1/plans/{r.pk}/reorder/", {
            "incident_ids": list(reversed(r.stops.values_list("incident_id", flat=True)))}),
            id="reorder"),
        pytest.param(lambda r: (f"/api/v1/stops/{r.stops.first().pk}/lock/", {"locked": True}),
                     id="lock"),
        pytest.param(lambda r: (f"/api/v1/stops/{r.stops.first().pk}/remove/", {}),
                     id="remove"),
    ],
)
def test_only_dispatchers_change_plans(request, route, who, request_for):
    # given
    client = request.getfixturevalue(who)
    url, data = request_for(route)

    # when
    response = client.post(url, data, format="json")

    # then
    assert response.status_code == 403
    assert list(RoutePlan.objects.values_list("version", "state")) == [(1, "published")]
    assert list(RouteStop.objects.values_list("state", "locked")) == [("pending", False)] * 2
    assert set(Incident.objects.values_list("status", flat=True)) == {"assigned"}
    assert DispatchPin.objects.count() == 0


@pytest.mark.parametrize("url", ["/api/v1/plans/", "/api/v1/crews/", "trail"])
def test_citizens_cannot_see_plans_or_crews(citizen_client, asphalt_crew, url):
    # when
    response = citizen_client.get(f"/api/v1/crews/{asphalt_crew.pk}/trail/" if url == "trail"
                                  else url)

    # then
    assert response.status_code == 403


def test_pin_and_unpin(dispatcher_client, asphalt_crew, holes):
    # when
    pinned = dispatcher_client.post("/api/v1/dispatch/pin/", {
        "incident": holes[0].pk, "crew": asphalt_crew.pk}, format="json")
    count_pinned = DispatchPin.objects.filter(incident=holes[0], crew=asphalt_crew).count()
    unpinned = dispatcher_client.post("/api/v1/dispatch/pin/", {
        "incident": holes[0].pk, "crew": None}, format="json")

    # then
    assert (pinned.status_code, pinned.json()) == (
        200, {"incident": holes[0].pk, "crew": asphalt_crew.pk})
    assert count_pinned == 1
    assert (unpinned.status_code, unpinned.json()) == (
        200, {"incident": holes[0].pk, "crew": None})
    assert DispatchPin.objects.count() == 0


def test_lock_a_stop(dispatcher_client, route):
    # given
    stop = route.stops.first()

    # when
    response = dispatcher_client.post(f"/api/v1/stops/{stop.pk}/lock/", {"locked": True},
                                      format="json")

    # then
    assert (response.status_code, response.json()) == (200, {"id": stop.pk, "locked": True})
    assert list(route.stops.values_list("locked", flat=True)) == [True, False]


def test_remove_a_stop(dispatcher_client, route):
    # given
    stop = route.stops.first()

    # when
    response = dispatcher_client.post(f"/api/v1/stops/{stop.pk}/remove/",
                                      {"note": "Fixed by the water company"}, format="json")

    # then
    assert (response.status_code, response.json()) == (200, {"id": stop.pk,
                                                             "state": "removed"})
    assert Incident.objects.get(pk=stop.incident_id).status == "verified"


def test_removing_a_started_stop_is_a_400(dispatcher_client, route):
    # given
    stop = route.stops.first()
    RouteStop.objects.filter(pk=stop.pk).update(state=RouteStop.State.STARTED)

    # when
    response = dispatcher_client.post(f"/api/v1/stops/{stop.pk}/remove/", {}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["detail"] == ("Only a stop the crew has not started can be removed "
                                         "(this one is started).")
    assert Incident.objects.get(pk=stop.incident_id).status == "assigned"


def test_reorder_returns_the_new_locked_version(dispatcher_client, route):
    # given
    order = list(reversed(route.stops.values_list("incident_id", flat=True)))

    # when
    response = dispatcher_client.post(f"/api/v1/plans/{route.pk}/reorder/",
                                      {"incident_ids": order}, format="json")

    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["crew"], body["version"], body["engine"]) == ("asphalt-1", 2, "manual")
    assert [(s["incident"]["id"], s["locked"]) for s in body["stops"]] == [
        (order[0], True), (order[1], True)]


def test_reorder_of_a_superseded_plan_is_a_404(dispatcher_client, route):
    # given
    order = list(route.stops.values_list("incident_id", flat=True))
    dispatcher_client.post(f"/api/v1/plans/{route.pk}/reorder/", {"incident_ids": order},
                           format="json")

    # when
    response = dispatcher_client.post(f"/api/v1/plans/{route.pk}/reorder/",
                                      {"incident_ids": order}, format="json")

    # then
    assert response.status_code == 404
    assert RoutePlan.objects.count() == 2


def test_current_plans_list_takes_the_same_queries_however_many_stops(
        dispatcher_client, route, django_assert_num_queries):
    # when: session user, roles, plans, their stops with incidents and categories
    with django_assert_num_queries(3):
        response = dispatcher_client.get("/api/v1/plans/")

    # then
    assert response.status_code == 200
    assert [(p["crew"], p["version"], len(p["stops"])) for p in response.json()["plans"]] == [
        ("asphalt-1", 1, 2)]


def test_crews_list_and_trail(dispatcher_client, asphalt_crew):
    # given: two pings in the last half hour, one older
    now = timezone.now()
    for minutes, east in ((50, -200), (20, -100), (5, 0)):
        CrewPosition.objects.create(crew=asphalt_crew, location=spot(east, 0),
                                    recorded_at=now - timedelta(minutes=minutes))

    # when
    crews = dispatcher_client.get("/api/v1/crews/")
    trail = dispatcher_client.get(f"/api/v1/crews/{asphalt_crew.pk}/trail/?minutes=30")

    # then
    assert crews.status_code == trail.status_code == 200
    (feature,) = crews.json()["features"]
    assert (feature["id"], feature["properties"]["code"], feature["properties"]["skills"],
            feature["properties"]["at_depot"]) == (asphalt_crew.pk, "asphalt-1", ["asphalt"],
                                                   True)
    assert trail.json()["geometry"]["coordinates"] == [
        pytest.approx(list(spot(east, 0).coords)) for east in (-100, 0)]
