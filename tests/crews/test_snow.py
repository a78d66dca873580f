"""Snow mode: plow routes covering a district's roads, on a small network written here.

Metres east/north of test_roads' ORIGIN; the district is the box (-200, -200)–(900, 1000), so
Y, Z, X and the Outer Lane lie outside it. Plow 1 (the `crew` fixture) has its depot at A,
plow 2 10 m north of R:

    P(10) ── Top St (res) ── Q(11) ── Top St ── R(12)
     │                        │                  │ East St (res)
     │ West Rd (sec)          │ Middle St (res)  │
    D(6) ─── North Rd (sec) ─ E(7) ─ North Rd ── F(8) ─────── North Rd ────── X(9)
     │                        │                  ▲ One Way (sec, C → F)     │ Outer Lane
     │                        │                  │                          │ (res)
    A(1) ═══ Main St (primary) B(2) ═══════════ C(3) ═══════ Main St ═══════ Y(4) ══ Z(5)
"""

from datetime import timedelta
from itertools import pairwise

import numpy as np
import pytest
from django.contrib.gis.geos import MultiPolygon, Point, Polygon
from django.utils import timezone
from rest_framework.test import APIClient

from crews.models import Crew, RoutePlan, RouteStop, Shift
from crews.services.snow import RequiredEdge, snow_partition, snow_plan_create
from fixtures.factories import CategoryFactory, DistrictFactory
from gis.models import RoadEdge, RoadVertex
from gis.roads import roads_import
from incidents.models import Status
from ops.roles import Role
from tests.conftest import user_with_role
from tests.gis.test_roads import at, osm_write

pytestmark = [pytest.mark.django_db]

URL = "/api/v1/dispatch/snow/"

NODES_M = {1: (0, 0), 2: (300, 0), 3: (600, 0), 4: (1200, 0), 5: (1500, 0), 6: (0, 400),
           7: (300, 400), 8: (600, 400), 9: (1200, 400), 10: (0, 800), 11: (300, 800),
           12: (600, 800)}
WAYS = {
    101: ([1, 2, 3, 4, 5], {"highway": "primary", "name": "Main Street"}),
    102: ([6, 7, 8, 9], {"highway": "secondary", "name": "North Road"}),
    103: ([1, 6, 10], {"highway": "secondary", "name": "West Road"}),
    104: ([2, 7, 11], {"highway": "residential", "name": "Middle Street"}),
    105: ([10, 11, 12], {"highway": "residential", "name": "Top Street"}),
    106: ([3, 8], {"highway": "secondary", "name": "One Way", "oneway": "yes"}),
    107: ([12, 8], {"highway": "residential", "name": "East Street"}),
    108: ([9, 4], {"highway": "residential", "name": "Outer Lane"}),
}
# Every node is a way end or a junction, so vertex ids are the node ids.
A, B, C, Y, Z, D, E, F, X, P, Q, R = range(1, 13)
PRIMARY = [(A, B), (B, C), (C, Y)]  # plowed in both directions
SECONDARY = [(D, E), (E, F), (F, X), (A, D), (D, P)]  # once, either way
ONE_WAY = (C, F)
RESIDENTIAL_INSIDE = [(B, E), (E, Q), (P, Q), (Q, R), (R, F)]
# Required metres: primaries 2 × (300 + 300 + 600), secondaries 300 + 300 + 600 + 400 + 400
# and the one-way 400.
REQUIRED_M = 2400 + 2400


def metres_box(x0: float, y0: float, x1: float, y1: float) -> MultiPolygon:
    (lon0, lat0), (lon1, lat1) = at(x0, y0), at(x1, y1)
    return MultiPolygon(Polygon.from_bbox((lon0, lat0, lon1, lat1)), srid=4326)


def edge(source: int, target: int) -> RoadEdge:
    return RoadEdge.objects.get(source=source, target=target)


@pytest.fixture
def roads(tmp_path):
    return roads_import(path=osm_write(tmp_path / "snow.osm", NODES_M, WAYS))


@pytest.fixture
def snow_district(city):
    return DistrictFactory(area=city, code="snow-west", boundary=metres_box(-200, -200, 900, 1000))


@pytest.fixture
def plows(roads, crew):
    """The `crew` fixture, its depot moved to A, and a second plow 10 m north of R."""
    now = timezone.now()
    crew.depot = Point(*at(0, 0), srid=4326)
    crew.save(update_fields=["depot"])
    second = Crew.objects.create(code="plow-2", name="Plow 2", department=crew.department,
                                 skills=["plow"], depot=Point(*at(600, 810), srid=4326))
    Shift.objects.create(crew=second, starts_at=now - timedelta(hours=1),
                         ends_at=now + timedelta(hours=8))
    return [crew, second]


@pytest.fixture
def snow_category(department):
    return CategoryFactory(code="snow-ice", department=department, is_winter=True,
                           cluster_radius_m=30, required_skills=["plow"])


def served_arcs(result) -> list[tuple[int, int]]:
    """(from vertex, to vertex) of every plowed step of every route."""
    return sorted((s.from_vertex, s.to_vertex) for r in result.routes for s in r.steps
                  if s.served)


METHODS = ["best", "greedy", "euler"]


@pytest.mark.parametrize("method", METHODS)
def test_every_required_pass_is_plowed_exactly_once(plows, snow_district, method):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows],
                              method=method)

    # then: primaries both ways, secondaries once in some direction, the one-way forwards
    arcs = served_arcs(result)
    primaries = sorted([(a, b) for a, b in PRIMARY] + [(b, a) for a, b in PRIMARY])
    assert [arc for arc in arcs if tuple(sorted(arc)) in {tuple(sorted(p)) for p in PRIMARY}] \
        == primaries
    assert sorted(tuple(sorted(arc)) for arc in arcs
                  if tuple(sorted(arc)) in {tuple(sorted(s)) for s in SECONDARY}) \
        == sorted(tuple(sorted(s)) for s in SECONDARY)
    assert [arc for arc in arcs if set(arc) == set(ONE_WAY)] == [ONE_WAY]
    assert len(arcs) == 2 * len(PRIMARY) + len(SECONDARY) + 1
    assert sorted(e for r in result.routes for e in r.plan.covered_edges) == sorted(
        [edge(*p).pk for p in PRIMARY] * 2 + [edge(*s).pk for s in SECONDARY]
        + [edge(*ONE_WAY).pk])
    assert result.unreachable == []
    assert sum(r.covered_m for r in result.routes) == pytest.approx(REQUIRED_M, rel=0.01)


def test_roads_outside_the_district_and_residential_streets_are_not_plowed(plows,
                                                                           snow_district):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows])

    # then
    plowed = {tuple(sorted(arc)) for arc in served_arcs(result)}
    assert plowed.isdisjoint({(Y, Z), (X, Y)} | {tuple(sorted(r)) for r in RESIDENTIAL_INSIDE})
    assert result.required_m_by_class == {"primary": pytest.approx(2400, rel=0.01),
                                          "secondary": pytest.approx(2400, rel=0.01)}


def test_residential_streets_are_plowed_when_asked_after_the_secondaries(plows, snow_district):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows],
                              road_classes=["primary", "secondary", "residential"])

    # then
    plowed = {tuple(sorted(arc)) for arc in served_arcs(result)}
    assert {tuple(sorted(r)) for r in RESIDENTIAL_INSIDE} <= plowed
    assert (X, Y) not in plowed
    assert result.required_m_by_class["residential"] == pytest.approx(1800, rel=0.01)


@pytest.mark.parametrize("method", METHODS)
def test_each_plow_finishes_every_primary_before_any_secondary(plows, snow_district, method):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows],
                              road_classes=["primary", "secondary", "residential"],
                              method=method)

    # then
    rank = {"primary": 1, "secondary": 2, "residential": 4}
    classes = dict(RoadEdge.objects.values_list("pk", "road_class"))
    for route in result.routes:
        ranks = [rank[classes[e]] for e in route.plan.covered_edges]
        assert ranks == sorted(ranks)
        assert [c.road_class for c in route.classes] == sorted(
            {classes[e] for e in route.plan.covered_edges}, key=rank.get)


@pytest.mark.parametrize("method", METHODS)
def test_routes_run_from_the_depot_vertex_back_to_it_without_gaps(plows, snow_district,
                                                                   method):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows],
                              road_classes=["primary", "secondary", "residential"],
                              method=method)

    # then
    assert [r.depot_vertex for r in result.routes] == [A, R]
    for route in result.routes:
        steps = route.steps
        assert (steps[0].from_vertex, steps[-1].to_vertex) == (route.depot_vertex,) * 2
        assert all(a.to_vertex == b.from_vertex for a, b in pairwise(steps))
        depot = RoadVertex.objects.get(pk=route.depot_vertex).geom
        line = route.plan.geometry
        assert line.coords[0] == pytest.approx(depot.coords, abs=1e-9)
        assert line.coords[-1] == pytest.approx(depot.coords, abs=1e-9)


def test_route_geometry_follows_the_edges_driven_in_order(plows, snow_district):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows])

    # then: the line is the driven edges' geometries, each the right way round, end to end
    for route in result.routes:
        coords = []
        for step in route.steps:
            piece = list(RoadEdge.objects.get(pk=step.edge_id).geom.coords)
            piece = piece if step.forward else piece[::-1]
            coords += piece if not coords else piece[1:]
        assert np.array(route.plan.geometry.coords) == pytest.approx(np.array(coords), abs=1e-12)
        assert route.plan.distance_m == pytest.approx(
            sum(RoadEdge.objects.get(pk=s.edge_id).length_m for s in route.steps))
        assert route.deadhead_m == pytest.approx(route.plan.distance_m - route.covered_m)


@pytest.mark.parametrize("method", METHODS)
def test_one_way_street_is_only_driven_forwards(plows, snow_district, method):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows],
                              method=method)

    # then
    one_way = edge(*ONE_WAY).pk
    driven = [(s.forward, s.from_vertex, s.to_vertex) for r in result.routes for s in r.steps
              if s.edge_id == one_way]
    assert set(driven) == {(True, C, F)}


@pytest.mark.parametrize("method", METHODS)
def test_required_length_is_shared_between_the_plows(plows, snow_district, method):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows],
                              method=method)

    # then
    shares = [r.required_m for r in result.routes]
    assert sum(shares) == pytest.approx(REQUIRED_M, rel=0.01)
    assert max(shares) <= 2 * min(shares)
    assert [r.covered_m for r in result.routes] == pytest.approx(shares)
    assert all(r.plan.duration_s > 0 for r in result.routes)


def test_ranks_split_gives_every_plow_its_share_of_each_rank():
    # given: a primary road along the west edge, secondaries spread east of it (metres → °)
    def required(edge_id, x, y, rank, length):
        return RequiredEdge(edge_id=edge_id, source=0, target=0, length_m=length,
                            road_class="x", rank=rank, passes=((True, False),),
                            lon=x / 55_000, lat=y / 111_000)

    primaries = [required(i, 0, 100 * i, 1, 100) for i in range(10)]
    secondaries = [required(100 + i, 200 * (i % 5) + 200, 400 * (i // 5), 2, 100)
                   for i in range(10)]
    edges = primaries + secondaries

    # when
    splits = snow_partition(edges, [(0, 0), (0, 0)], np.ones((len(edges), 2), bool))

    # then: each plow gets 5 of the 10 primaries and 5 of the 10 secondaries
    by_rank = splits["ranks"]
    assert sorted(np.bincount(by_rank[:10], minlength=2).tolist()) == [5, 5]
    assert sorted(np.bincount(by_rank[10:], minlength=2).tolist()) == [5, 5]
    assert sorted(np.bincount(splits["territories"], minlength=2).tolist()) == [10, 10]


def test_plans_are_stored_as_published_snow_plans(plows, snow_district, dispatcher):
    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows],
                              by=dispatcher)

    # then
    plans = list(RoutePlan.objects.order_by("crew__code").values_list(
        "crew__code", "kind", "state", "version", "engine", "matrix_source", "created_by"))
    assert plans == [("plow-2", "snow", "published", 1, "snow-coverage", "road_network",
                      dispatcher.pk),
                     ("road-1", "snow", "published", 1, "snow-coverage", "road_network",
                      dispatcher.pk)]
    for route in result.routes:
        assert route.plan.covered_m == pytest.approx(route.covered_m)
        assert route.plan.starts_at >= route.plan.created_at - timedelta(seconds=5)


def test_a_new_snow_plan_supersedes_only_the_previous_snow_plan(plows, snow_district):
    # given: a published work plan and an earlier snow plan
    crew = plows[0]
    work = RoutePlan.objects.create(crew=crew, version=1, engine="vroom",
                                    matrix_source="road_network", starts_at=timezone.now())
    first = snow_plan_create(district=snow_district, crew_ids=[crew.pk]).routes[0].plan

    # when
    second = snow_plan_create(district=snow_district, crew_ids=[crew.pk]).routes[0].plan

    # then
    assert list(RoutePlan.objects.filter(crew=crew).order_by("version").values_list(
        "pk", "kind", "state", "version")) == [
        (work.pk, "work", "published", 1), (first.pk, "snow", "superseded", 2),
        (second.pk, "snow", "published", 3)]


def test_snow_incident_on_a_plowed_road_becomes_a_stop_with_eta(
        plows, snow_district, snow_category, category, make_report, dispatcher):
    # given: snow and a pothole 10 m north of North Road between E and F
    snow = make_report(snow_category, *at(450, 410)).incident
    pothole = make_report(category, *at(450, 410)).incident

    # when
    result = snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows],
                              by=dispatcher)

    # then: the stop is on the plan that plows E–F, at the time the plow gets there
    north_road = edge(E, F).pk
    (route,) = [r for r in result.routes if north_road in r.plan.covered_edges]
    first = next(i for i, s in enumerate(route.steps) if s.served and s.edge_id == north_road)
    stop = RouteStop.objects.get(incident=snow)
    assert (stop.plan_id, stop.sequence, stop.state, stop.service_s) == (
        route.plan.pk, 1, "pending", 0)
    assert stop.eta == route.plan.starts_at + timedelta(seconds=route.step_starts_s[first])
    assert [s.pk for s in route.stops] == [stop.pk]
    snow.refresh_from_db()
    pothole.refresh_from_db()
    assert (snow.status, pothole.status) == (Status.ASSIGNED, Status.NEW)
    assert not RouteStop.objects.filter(incident=pothole).exists()


def test_snow_incident_away_from_the_plowed_roads_is_left_alone(
        plows, snow_district, snow_category, make_report):
    # given: snow on Top Street (residential, not asked for), 60 m from West Road's end
    snow = make_report(snow_category, *at(150, 800)).incident

    # when
    snow_plan_create(district=snow_district, crew_ids=[c.pk for c in plows])

    # then
    snow.refresh_from_db()
    assert snow.status == Status.NEW
    assert not RouteStop.objects.exists()


def test_replanning_takes_a_stop_off_when_its_road_is_no_longer_plowed(
        plows, snow_district, snow_category, make_report):
    # given: snow on Top Street, on the route while residential streets were asked for
    snow = make_report(snow_category, *at(150, 805)).incident
    ids = [c.pk for c in plows]
    snow_plan_create(district=snow_district, crew_ids=ids,
                     road_classes=["primary", "secondary", "residential"])
    snow.refresh_from_db()
    assert snow.status == Status.ASSIGNED

    # when: only the main roads
    result = snow_plan_create(district=snow_district, crew_ids=ids)

    # then
    snow.refresh_from_db()
    assert snow.status == Status.VERIFIED
    assert [len(r.stops) for r in result.routes] == [0, 0]


def test_an_edge_no_plow_can_return_from_is_reported_unreachable(tmp_path, plows,
                                                                  snow_district):
    # given: a one-way secondary from F into a dead end T (600, 600)
    roads_import(path=osm_write(tmp_path / "trap.osm", {**NODES_M, 13: (600, 600)}, {
        **WAYS, 109: ([8, 13], {"highway": "secondary", "name": "Trap", "oneway": "yes"})}))
    trap = RoadEdge.objects.get(osm_way_id=109)

    # when
    result = snow_plan_create(district=snow_district, crew_ids=[plows[0].pk])

    # then
    assert [(u.edge_id, u.road_class, round(u.length_m)) for u in result.unreachable] == [
        (trap.pk, "secondary", 200)]
    assert trap.pk not in result.routes[0].plan.covered_edges
    assert len(result.routes[0].plan.covered_edges) == 2 * len(PRIMARY) + len(SECONDARY) + 1


# --- API.

def test_api_plans_the_plows_on_shift_by_default(dispatcher_client, plows, snow_district,
                                                 snow_category, make_report):
    # given
    snow = make_report(snow_category, *at(450, 410)).incident

    # when
    response = dispatcher_client.post(URL, {"district": "snow-west"}, format="json")

    # then
    assert response.status_code == 201
    body = response.json()
    assert (body["district"]["code"], body["road_classes"]) == (
        "snow-west", ["motorway", "trunk", "primary", "secondary", "tertiary"])
    assert body["required_m"] == {"primary": pytest.approx(2400, abs=20),
                                  "secondary": pytest.approx(2400, abs=20)}
    routes = body["routes"]
    assert sorted(r["crew"]["code"] for r in routes) == ["plow-2", "road-1"]
    for route in routes:
        assert route["kind"] == "snow"
        assert route["geometry"]["type"] == "LineString"
        assert route["classes"][0]["road_class"] == "primary"
        assert route["deadhead_m"] == pytest.approx(route["distance_m"] - route["covered_m"],
                                                    abs=1)
        assert route["duration_s"] > 0
    assert sum(r["covered_m"] for r in routes) == pytest.approx(REQUIRED_M, abs=20)
    assert [i["incident_id"] for r in routes for i in r["incidents"]] == [snow.pk]
    assert body["unreachable"] == []


def test_api_takes_the_chosen_crews_and_classes(dispatcher_client, plows, snow_district):
    # when
    response = dispatcher_client.post(URL, {"district": "snow-west", "area": "test-city",
                                            "crew_ids": [plows[1].pk],
                                            "road_classes": ["primary"]}, format="json")

    # then
    assert response.status_code == 201
    body = response.json()
    assert [r["crew"]["code"] for r in body["routes"]] == ["plow-2"]
    assert [c["road_class"] for c in body["routes"][0]["classes"]] == ["primary"]
    assert RoutePlan.objects.get().crew == plows[1]


@pytest.mark.parametrize(("data", "code", "field"), [
    ({"district": "nowhere"}, "unknown_district", "district"),
    ({"district": "snow-west", "area": "atlantis"}, "unknown_area", "area"),
    ({"district": "snow-west", "road_classes": ["motorway"]}, "no_roads", "road_classes"),
    ({"district": "snow-west", "road_classes": ["footway"]}, "invalid", "road_classes"),
    ({"district": "snow-west", "crew_ids": [999999]}, "no_plows", "crew_ids"),
])
def test_api_refuses_what_it_cannot_plan_with_400(dispatcher_client, plows, snow_district,
                                                  data, code, field):
    # when
    response = dispatcher_client.post(URL, data, format="json")

    # then
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], list(body["errors"])) == (code, [field])
    assert not RoutePlan.objects.exists()


def test_api_refuses_when_no_plow_is_on_shift(dispatcher_client, plows, snow_district):
    # given
    Shift.objects.all().delete()

    # when
    response = dispatcher_client.post(URL, {"district": "snow-west"}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "no_plows"
    assert "No plows" in response.json()["detail"]
    assert not RoutePlan.objects.exists()


def test_api_refuses_a_crew_without_the_plow_skill(dispatcher_client, plows, snow_district):
    # given
    plows[1].skills = ["asphalt"]
    plows[1].save()

    # when
    response = dispatcher_client.post(URL, {"district": "snow-west",
                                            "crew_ids": [plows[1].pk]}, format="json")

    # then
    assert response.status_code == 400
    assert response.json()["code"] == "no_plows"
    assert not RoutePlan.objects.exists()


def test_api_refuses_anonymous_callers_with_401(api_client, plows, snow_district):
    response = api_client.post(URL, {"district": "snow-west"}, format="json")

    assert response.status_code == 401
    assert not RoutePlan.objects.exists()


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.CREW, Role.INTAKE_AGENT])
def test_api_refuses_everyone_but_dispatchers_with_403(plows, snow_district, role):
    client = APIClient()
    client.force_authenticate(user_with_role(role))

    response = client.post(URL, {"district": "snow-west"}, format="json")

    assert response.status_code == 403
    assert not RoutePlan.objects.exists()
