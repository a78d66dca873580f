"""Dispatch over a real road network: a 5 × 5 grid of streets 100 m apart, imported here.

The grid, in metres east/north of CENTRE (24.93 E, 60.17 N); every street is residential
(30 km/h: 12 s per 100 m), and Main Street (north 0) is one-way eastbound:

    north 200   +----+----+----+----+
                |    |    |    |    |
          100   +----+----+----+----+
                |    |    |    |    |
            0   +---▶+---▶+---▶+---▶+     Main Street, one-way east
                |    |    |    |    |
         -100   +----+----+----+----+
                |    |    |    |    |
         -200   +----+----+----+----+
             -200 -100    0  100  200  east

Incidents sit on junctions, so the access stretches are a few centimetres.
"""

import time
from datetime import timedelta
from itertools import pairwise

import pytest
from django.contrib.gis.geos import LineString, Point
from django.utils import timezone

from crews.models import Crew, DispatchPin, RoutePlan, RouteStop, Shift
from crews.selectors import plan_current
from crews.services.dispatch import (
    dispatch_pin,
    dispatch_plan,
    dispatch_urgent,
    job_priority,
    plan_reorder,
    stop_lock,
    stop_remove,
)
from crews.services.field import stop_act
from fixtures.factories import CategoryFactory
from gis.roads import roads_import
from incidents.exceptions import ValidationFailed
from incidents.models import Incident, IncidentUpdate, Status
from incidents.services import incident_transition
from ops.roles import Role
from tests.conftest import user_with_role
from tests.gis.test_roads import at, osm_write

pytestmark = pytest.mark.django_db

GRID = range(-2, 3)
STEP_M = 100
STEP_S = 12  # 100 m at 30 km/h
BUDGET_S = 0.5  # VROOM: fast and deterministic enough for these small problems
NO_SKILLS = "no crew on shift has the skills: {}"
NO_ROOM = ("no room left on the routes of the crews with the skills (shift time or "
           "capacity)")


def node(i: int, j: int) -> int:
    return 1 + (i + 2) * 5 + (j + 2)


def grid_write(path):
    nodes = {node(i, j): (i * STEP_M, j * STEP_M) for i in GRID for j in GRID}
    ways = {}
    for j in GRID:
        tags = {"highway": "residential", "name": f"Street {j}"}
        if j == 0:
            tags |= {"name": "Main Street", "oneway": "yes"}
        ways[100 + j + 2] = ([node(i, j) for i in GRID], tags)
    for i in GRID:
        ways[200 + i + 2] = ([node(i, j) for j in GRID],
                             {"highway": "residential", "name": f"Avenue {i}"})
    return osm_write(path / "grid.osm", nodes, ways)


def spot(east_m: float, north_m: float) -> Point:
    return Point(*at(east_m, north_m), srid=4326)


@pytest.fixture
def roads(tmp_path):
    return roads_import(path=grid_write(tmp_path))


@pytest.fixture
def pothole(category):
    category.required_skills = ["asphalt"]
    category.service_minutes = 30
    category.save()
    return category


@pytest.fixture
def snow(department):
    return CategoryFactory(code="snow-ice", department=department, required_skills=["plow"],
                           service_minutes=20)


@pytest.fixture
def street_light(department):
    return CategoryFactory(code="street-light", department=department,
                           required_skills=["electrician"], service_minutes=30)


def crew_make(code: str, skills: list[str], *, depot=(-200, 0), capacity: int = 10,
              shift_from_h: float = -1, shift_to_h: float | None = 8) -> Crew:
    crew = Crew.objects.create(code=code, name=code.title(), skills=skills, capacity=capacity,
                               depot=spot(*depot))
    if shift_to_h is not None:
        now = timezone.now()
        Shift.objects.create(crew=crew, starts_at=now + timedelta(hours=shift_from_h),
                             ends_at=now + timedelta(hours=shift_to_h))
    return crew


@pytest.fixture
def asphalt_crew(roads):
    return crew_make("asphalt-1", ["asphalt"])


@pytest.fixture
def plow_crew(roads):
    return crew_make("plow-1", ["plow", "salt-spreader"], depot=(200, 200))


@pytest.fixture
def verified(make_report, dispatcher):
    def _make(category, east_m: float, north_m: float) -> Incident:
        report = make_report(category, *at(east_m, north_m))
        return incident_transition(incident=report.incident, to=Status.VERIFIED, by=dispatcher)

    return _make


def plan(crews, incidents=None, **kwargs):
    return dispatch_plan(crew_ids=[c.pk for c in crews],
                         incident_ids=None if incidents is None else [i.pk for i in incidents],
                         budget_s=BUDGET_S, **kwargs)


def stop_ids(crew: Crew) -> list[int]:
    return [s.incident_id for s in plan_current(crew).stops.all()]


def statuses(*incidents) -> list[str]:
    return [Incident.objects.get(pk=i.pk).status for i in incidents]


# Skills, shifts, capacity: who can take what


def test_plan_gives_each_job_only_to_a_crew_with_its_skills(
        asphalt_crew, plow_crew, pothole, snow, street_light, verified, dispatcher):
    # given: two potholes near the plow crew's depot, snow near the asphalt crew's
    holes = [verified(pothole, 200, 100), verified(pothole, 100, 200)]
    drifts = [verified(snow, -200, 100), verified(snow, -100, -200)]
    light = verified(street_light, 0, 0)

    # when
    result = plan([asphalt_crew, plow_crew], [*holes, *drifts, light], by=dispatcher)

    # then
    assert sorted(stop_ids(asphalt_crew)) == [i.pk for i in holes]
    assert sorted(stop_ids(plow_crew)) == [i.pk for i in drifts]
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [
        (light.pk, NO_SKILLS.format("electrician"))]
    assert (result.engine, result.matrix_source) == ("vroom", "road_network")
    assert statuses(*holes, *drifts, light) == ["assigned"] * 4 + ["verified"]


def test_crew_without_a_shift_in_the_next_24_hours_is_not_used(
        asphalt_crew, pothole, snow, verified):
    # given: the plow crew's next shift starts in 30 hours
    plow = crew_make("plow-1", ["plow"], shift_from_h=30, shift_to_h=38)
    hole, drift = verified(pothole, 0, 100), verified(snow, 100, 100)

    # when
    result = plan([asphalt_crew, plow], [hole, drift])

    # then
    assert [p.crew for p in result.plans] == [asphalt_crew]
    assert [(c.crew, c.reason) for c in result.crews_not_used] == [
        (plow, "no shift in the next 24 hours")]
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [
        (drift.pk, NO_SKILLS.format("plow"))]
    assert RoutePlan.objects.filter(crew=plow).count() == 0
    assert statuses(hole, drift) == ["assigned", "verified"]


def test_no_chosen_crew_on_shift_leaves_every_job_unassigned(roads, pothole, verified):
    # given
    idle = crew_make("asphalt-9", ["asphalt"], shift_to_h=None)
    holes = [verified(pothole, 0, 100), verified(pothole, 100, 100)]

    # when
    result = plan([idle], holes)

    # then
    assert (result.plans, result.engine) == ([], "none")
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [
        (h.pk, "no chosen crew has a shift in the next 24 hours") for h in holes]
    assert statuses(*holes) == ["verified", "verified"]


def test_capacity_is_respected(roads, pothole, verified):
    # given: a crew with room for two jobs, three potholes, the first the least urgent
    crew = crew_make("asphalt-1", ["asphalt"], capacity=2)
    holes = [verified(pothole, x, 100) for x in (-100, 0, 100)]
    Incident.objects.filter(pk=holes[1].pk).update(priority=60)
    Incident.objects.filter(pk=holes[2].pk).update(priority=90)

    # when
    result = plan([crew], holes)

    # then
    assert sorted(stop_ids(crew)) == [holes[1].pk, holes[2].pk]
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [(holes[0].pk, NO_ROOM)]


def test_job_that_cannot_be_finished_before_the_shift_ends_is_outside_every_shift(
        roads, pothole, verified):
    # given: the shift ends in 10 minutes; a pothole takes 30
    crew = crew_make("asphalt-1", ["asphalt"], shift_to_h=10 / 60)
    hole = verified(pothole, 0, 100)

    # when
    result = plan([crew], [hole])

    # then
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [
        (hole.pk, "outside every shift: no crew with the skills can reach it and finish "
                  "before its shift ends")]
    assert [list(p.stops.all()) for p in result.plans] == [[]]


def test_incident_not_verified_is_not_planned(asphalt_crew, pothole, make_report):
    # given
    fresh = make_report(pothole, *at(0, 100)).incident

    # when
    result = plan([asphalt_crew], [fresh])

    # then
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [
        (fresh.pk, "status is new; only verified incidents are planned")]
    assert statuses(fresh) == ["new"]


def test_without_a_selection_every_verified_incident_in_the_area_is_planned(
        asphalt_crew, pothole, verified, make_report, city):
    # given
    holes = [verified(pothole, 0, 100), verified(pothole, 100, -100)]
    fresh = make_report(pothole, *at(-100, 200)).incident

    # when
    plan([asphalt_crew], area=city)

    # then
    assert sorted(stop_ids(asphalt_crew)) == [h.pk for h in holes]
    assert statuses(*holes, fresh) == ["assigned", "assigned", "new"]


def test_job_priority_rises_when_the_sla_is_breached(pothole, verified):
    # given: scored 36 at intake (severity 3); first reported 100 h ago on a 72 h SLA
    hole = verified(pothole, 0, 100)
    Incident.objects.filter(pk=hole.pk).update(
        first_reported_at=timezone.now() - timedelta(hours=100))
    hole = Incident.objects.select_related("category").get(pk=hole.pk)

    # when
    priority = job_priority(hole, timezone.now())

    # then: 36 for severity 3 + 20 for the SLA's full age + 10 for the breach
    assert (hole.priority, priority) == (36.0, 66)


def test_an_sla_breach_wins_the_last_place_on_a_route(roads, pothole, verified):
    # given: room for one job; the far pothole is past its SLA
    crew = crew_make("asphalt-1", ["asphalt"], capacity=1)
    near, late = verified(pothole, -100, 0), verified(pothole, 200, 200)
    Incident.objects.filter(pk=late.pk).update(
        first_reported_at=timezone.now() - timedelta(hours=100))

    # when
    result = plan([crew], [near, late])

    # then
    assert stop_ids(crew) == [late.pk]
    assert [u.incident_id for u in result.unassigned] == [near.pk]


# The stored plan


def test_stops_are_ordered_with_etas_and_road_geometry_from_and_back_to_the_depot(
        asphalt_crew, pothole, verified):
    # given: three potholes along one-way Main Street, the depot at its west end; driving
    # them east and coming back round the block (96 s) beats any other order (144 s)
    holes = [verified(pothole, x, 0) for x in (100, -100, 0)]

    # when
    result = plan([asphalt_crew], holes)

    # then
    (route,) = result.plans
    stops = list(route.stops.all())
    assert [s.incident_id for s in stops] == [holes[1].pk, holes[2].pk, holes[0].pk]
    assert [s.sequence for s in stops] == [1, 2, 3]
    # The grid's 100 m are 100.2 m on the ellipsoid; the optimiser counts whole seconds.
    assert [(s.travel_s, s.distance_m, s.service_s) for s in stops] == [
        (STEP_S, pytest.approx(STEP_M, abs=1), 1800)] * 3
    service = timedelta(minutes=30)
    step = timedelta(seconds=STEP_S)
    assert [s.eta - route.starts_at for s in stops] == [
        step, 2 * step + service, 3 * step + 2 * service]
    assert [s.departs_at - s.eta for s in stops] == [service] * 3
    assert stops[-1].departs_at < route.shift.ends_at
    assert (route.version, route.state, route.engine, route.matrix_source) == (
        1, "published", "vroom", "road_network")
    assert isinstance(route.geometry, LineString)
    assert route.geometry.coords[0] == pytest.approx(asphalt_crew.depot.coords, abs=1e-6)
    assert route.geometry.coords[-1] == pytest.approx(asphalt_crew.depot.coords, abs=1e-6)
    # 300 m east along Main Street, then 100 north, 300 west and 100 south.
    assert (route.distance_m, route.duration_s) == (
        pytest.approx(800, rel=0.005), pytest.approx(8 * STEP_S, rel=0.005))


def test_plan_versions_increment_and_the_old_plan_is_superseded(asphalt_crew, pothole,
                                                                verified):
    # given
    first = plan([asphalt_crew], [verified(pothole, 0, 100)]).plans[0]

    # when
    second = plan([asphalt_crew], [verified(pothole, 100, 100)]).plans[0]

    # then
    assert list(RoutePlan.objects.filter(crew=asphalt_crew).order_by("version")
                .values_list("pk", "version", "state")) == [
        (first.pk, 1, "superseded"), (second.pk, 2, "published")]
    assert len(stop_ids(asphalt_crew)) == 2


def test_planned_incidents_are_assigned_with_a_recorded_update(asphalt_crew, pothole,
                                                               verified, dispatcher):
    # given
    hole = verified(pothole, 0, 100)

    # when
    plan([asphalt_crew], [hole], by=dispatcher)

    # then
    update = IncidentUpdate.objects.filter(incident=hole).order_by("pk").last()
    assert (update.from_status, update.to_status, update.by, update.note, update.public) == (
        "verified", "assigned", dispatcher, "Planned on a crew's route", True)
    assert list(hole.reports.values_list("status", flat=True)) == ["assigned"]


def test_incident_dropped_in_a_re_plan_goes_back_to_verified(asphalt_crew, pothole, verified,
                                                             dispatcher):
    # given: two potholes planned, then the crew can take only one
    holes = [verified(pothole, 0, 100), verified(pothole, 100, 100)]
    plan([asphalt_crew], holes)
    Incident.objects.filter(pk=holes[1].pk).update(priority=90)
    Crew.objects.filter(pk=asphalt_crew.pk).update(capacity=1)

    # when: re-planned without naming any incident
    result = plan([asphalt_crew], [], by=dispatcher)

    # then
    assert stop_ids(asphalt_crew) == [holes[1].pk]
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [(holes[0].pk, NO_ROOM)]
    assert statuses(*holes) == ["verified", "assigned"]
    update = IncidentUpdate.objects.filter(incident=holes[0]).order_by("pk").last()
    assert (update.from_status, update.to_status, update.public) == (
        "assigned", "verified", False)


def test_assigned_incident_on_a_crew_not_being_planned_stays_there(asphalt_crew, pothole,
                                                                   verified):
    # given
    other = crew_make("asphalt-2", ["asphalt"], depot=(200, 200))
    hole = verified(pothole, 0, 100)
    plan([asphalt_crew], [hole])

    # when
    result = plan([other], [hole])

    # then
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [
        (hole.pk, "already on the route of crew asphalt-1; plan with that crew to move it")]
    assert (stop_ids(asphalt_crew), stop_ids(other)) == ([hole.pk], [])


# Dispatcher decisions: pin, lock, remove, reorder


def test_pin_forces_the_incident_onto_the_pinned_crew(asphalt_crew, pothole, verified,
                                                      dispatcher):
    # given: the pothole is next to asphalt-1's depot, but pinned to asphalt-2 across town
    far = crew_make("asphalt-2", ["asphalt"], depot=(200, 200))
    hole = verified(pothole, -200, 100)
    dispatch_pin(incident=hole, crew=far, by=dispatcher)

    # when
    plan([asphalt_crew, far], [hole])

    # then
    assert (stop_ids(asphalt_crew), stop_ids(far)) == ([], [hole.pk])


def test_incident_pinned_to_a_crew_outside_the_plan_is_unassigned(asphalt_crew, pothole,
                                                                  verified):
    # given
    hole = verified(pothole, 0, 100)
    dispatch_pin(incident=hole, crew=crew_make("asphalt-2", ["asphalt"]))

    # when
    result = plan([asphalt_crew], [hole])

    # then
    assert [(u.incident_id, u.reason) for u in result.unassigned] == [
        (hole.pk, "pinned to a crew that is not in this plan or not on shift")]
    assert DispatchPin.objects.get().incident == hole


def test_started_stop_stays_first_and_is_not_given_to_another_crew(asphalt_crew, pothole,
                                                                   verified):
    # given: asphalt-1 is on its way to its first stop; asphalt-2's depot is right there
    member = user_with_role(Role.CREW, username="asphalt-member")
    asphalt_crew.members.add(member)
    holes = [verified(pothole, x, 200) for x in (100, 200)]
    plan([asphalt_crew], holes)
    started = Incident.objects.get(pk=stop_ids(asphalt_crew)[0])
    stop_act(user=member, incident_id=started.pk, action="en_route", client_id="c-1",
             version=started.version)
    other = crew_make("asphalt-2", ["asphalt"], depot=(200, 200))
    updates = IncidentUpdate.objects.filter(incident=started).count()

    # when
    result = plan([asphalt_crew, other], [verified(pothole, -100, -100)])

    # then
    first = plan_current(asphalt_crew).stops.all()[0]
    assert (first.incident_id, first.sequence, first.state) == (started.pk, 1, "started")
    assert started.pk not in stop_ids(other)
    assert [p.version for p in result.plans] == [2, 1]
    assert statuses(started) == ["en_route"]
    assert IncidentUpdate.objects.filter(incident=started).count() == updates


def test_started_stop_after_a_done_one_still_leads_the_next_version(asphalt_crew, pothole,
                                                                    verified):
    # given: the crew fixed its first stop and is on its way to the second
    member = user_with_role(Role.CREW, username="asphalt-member")
    asphalt_crew.members.add(member)
    plan([asphalt_crew], [verified(pothole, x, 200) for x in (-100, 100)])
    done, started = (Incident.objects.get(pk=pk) for pk in stop_ids(asphalt_crew))
    for n, action in enumerate(("en_route", "on_site", "resolved")):
        version = Incident.objects.get(pk=done.pk).version
        stop_act(user=member, incident_id=done.pk, action=action, client_id=f"c-{n}",
                 version=version)
    stop_act(user=member, incident_id=started.pk, action="en_route", client_id="c-9",
             version=started.version)
    extra = verified(pothole, 0, -100)

    # when
    plan([asphalt_crew], [extra])

    # then: the done stop is history, the started one comes first
    stops = list(plan_current(asphalt_crew).stops.all())
    assert [(s.incident_id, s.state) for s in stops] == [
        (started.pk, "started"), (extra.pk, "pending")]
    assert statuses(done, started, extra) == ["resolved", "en_route", "assigned"]


def test_pending_stops_of_a_crew_off_shift_stay_on_its_route(asphalt_crew, pothole,
                                                             verified):
    # given: asphalt-1's stop was planned, then its shift moved to tomorrow
    hole = verified(pothole, 0, 100)
    plan([asphalt_crew], [hole])
    Shift.objects.filter(crew=asphalt_crew).update(
        starts_at=timezone.now() + timedelta(hours=30),
        ends_at=timezone.now() + timedelta(hours=38))
    other = crew_make("asphalt-2", ["asphalt"], depot=(200, 200))

    # when
    result = plan([asphalt_crew, other], [])

    # then
    assert [(c.crew, c.reason) for c in result.crews_not_used] == [
        (asphalt_crew, "no shift in the next 24 hours")]
    assert (stop_ids(asphalt_crew), stop_ids(other)) == ([hole.pk], [])
    assert plan_current(asphalt_crew).version == 1
    assert statuses(hole) == ["assigned"]


def test_locked_stops_keep_their_order_at_the_front(asphalt_crew, pothole, verified):
    # given: three stops; the dispatcher locks the last one
    holes = [verified(pothole, x, 100) for x in (-100, 0, 100)]
    last = plan([asphalt_crew], holes).plans[0].stops.all()[2]
    stop_lock(stop=last, locked=True)
    extra = verified(pothole, 200, -200)

    # when
    plan([asphalt_crew], [extra])

    # then
    stops = list(plan_current(asphalt_crew).stops.all())
    assert (stops[0].incident_id, stops[0].state) == (last.incident_id, "pending")
    assert [s.locked for s in stops] == [True, False, False, False]
    assert sorted(s.incident_id for s in stops) == sorted([*(h.pk for h in holes), extra.pk])


def test_reordered_stops_survive_a_re_plan_in_that_order(asphalt_crew, pothole, verified):
    # given: the dispatcher's order is not the optimiser's
    holes = [verified(pothole, x, 100) for x in (-100, 0, 100)]
    route = plan([asphalt_crew], holes).plans[0]
    order = [holes[1].pk, holes[2].pk, holes[0].pk]
    plan_reorder(plan=route, incident_ids=order)

    # when
    extra = verified(pothole, -200, -200)
    plan([asphalt_crew], [extra])

    # then
    assert stop_ids(asphalt_crew) == [*order, extra.pk]
    assert [s.locked for s in plan_current(asphalt_crew).stops.all()] == [
        True, True, True, False]


def test_reorder_creates_a_new_locked_version_in_that_order(asphalt_crew, pothole, verified,
                                                            dispatcher):
    # given
    holes = [verified(pothole, x, 100) for x in (-100, 0, 100)]
    route = plan([asphalt_crew], holes).plans[0]
    order = [holes[2].pk, holes[0].pk, holes[1].pk]

    # when
    new = plan_reorder(plan=route, incident_ids=order, by=dispatcher)

    # then
    stops = list(plan_current(asphalt_crew).stops.all())
    assert (new.version, new.engine, new.state, new.created_by) == (
        2, "manual", "published", dispatcher)
    assert [s.incident_id for s in stops] == order
    assert [s.locked for s in stops] == [True, True, True]
    assert all(a.departs_at < b.eta for a, b in pairwise(stops))
    # from the depot at (-200, 0): 300 east + 100 north (the one-way street), then 200 west
    # and 100 east, all at 12 s per 100 m
    assert [s.travel_s for s in stops] == [
        pytest.approx(4 * STEP_S, rel=0.005), pytest.approx(2 * STEP_S, rel=0.005),
        pytest.approx(STEP_S, rel=0.005)]
    route.refresh_from_db()
    assert route.state == "superseded"
    assert isinstance(new.geometry, LineString)


def test_reorder_without_every_stop_is_refused(asphalt_crew, pothole, verified):
    # given
    holes = [verified(pothole, x, 100) for x in (-100, 0)]
    route = plan([asphalt_crew], holes).plans[0]

    # when
    with pytest.raises(ValidationFailed) as refused:
        plan_reorder(plan=route, incident_ids=[holes[0].pk])

    # then
    assert refused.value.errors == {"incident_ids": ["Give every stop not yet done exactly once."]}
    assert list(RoutePlan.objects.values_list("version", "state")) == [(1, "published")]


def test_remove_stop_takes_it_off_and_the_incident_back_to_verified(asphalt_crew, pothole,
                                                                    verified, dispatcher):
    # given
    hole = verified(pothole, 0, 100)
    stop = plan([asphalt_crew], [hole]).plans[0].stops.get()

    # when
    removed = stop_remove(stop=stop, by=dispatcher, note="Done by a contractor")

    # then
    assert removed.state == "removed"
    assert statuses(hole) == ["verified"]
    assert stop_ids(asphalt_crew) == []
    update = IncidentUpdate.objects.filter(incident=hole).order_by("pk").last()
    assert (update.from_status, update.to_status, update.note) == (
        "assigned", "verified", "Done by a contractor")


def test_removing_a_started_stop_is_refused(asphalt_crew, pothole, verified):
    # given
    hole = verified(pothole, 0, 100)
    stop = plan([asphalt_crew], [hole]).plans[0].stops.get()
    RouteStop.objects.filter(pk=stop.pk).update(state=RouteStop.State.STARTED)

    # when
    with pytest.raises(ValidationFailed) as refused:
        stop_remove(stop=stop)

    # then
    assert refused.value.errors == {"stop": [
        "Only a stop the crew has not started can be removed (this one is started)."]}
    assert (RouteStop.objects.get().state, statuses(hole)) == ("started", ["assigned"])


def test_removing_a_stop_of_an_old_version_is_refused(asphalt_crew, pothole, verified):
    # given: the stop's plan was superseded by a re-plan
    hole = verified(pothole, 0, 100)
    old = plan([asphalt_crew], [hole]).plans[0].stops.get()
    plan([asphalt_crew], [])

    # when
    with pytest.raises(ValidationFailed) as refused:
        stop_remove(stop=old)

    # then
    assert refused.value.errors == {"stop": [
        "This stop is on an old version of the route (v1); reload the plan."]}
    assert (stop_ids(asphalt_crew), statuses(hole)) == ([hole.pk], ["assigned"])


# Urgent work during a shift


def verify_urgent(make_report, category, dispatcher, east_m, north_m) -> Incident:
    """A report the dispatcher raises to priority 85, then verifies."""
    incident = make_report(category, *at(east_m, north_m)).incident
    Incident.objects.filter(pk=incident.pk).update(priority=85)
    return incident_transition(incident=incident, to=Status.VERIFIED, by=dispatcher)


def test_urgent_incident_re_plans_the_capable_crews_on_shift(plow_crew, asphalt_crew, snow,
                                                             verified, make_report,
                                                             dispatcher):
    # given: the plow crew has a plan already
    drift = verified(snow, 100, 100)
    plan([plow_crew], [drift])
    urgent = verify_urgent(make_report, snow, dispatcher, -100, -100)

    # when
    result = dispatch_urgent(incident_id=urgent.pk, budget_s=BUDGET_S)

    # then
    assert [(p.crew, p.version) for p in result.plans] == [(plow_crew, 2)]
    assert sorted(stop_ids(plow_crew)) == [drift.pk, urgent.pk]
    assert RoutePlan.objects.filter(crew=asphalt_crew).count() == 0
    assert dispatch_urgent(incident_id=urgent.pk, budget_s=BUDGET_S) is None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_re_plans_an_urgent_incident_keeping_the_started_stop_first(
        roads, city, district, district_east, department, snow, make_report, dispatcher,
        celery_worker):
    # given: the plow crew has started its first stop
    crew = crew_make("plow-1", ["plow"], depot=(200, 200))
    member = user_with_role(Role.CREW, username="plow-member")
    crew.members.add(member)
    drifts = []
    for x in (100, 0):
        report = make_report(snow, *at(x, 200))
        drifts.append(incident_transition(incident=report.incident, to=Status.VERIFIED,
                                          by=dispatcher))
    plan([crew], drifts)
    started = Incident.objects.get(pk=stop_ids(crew)[0])
    stop_act(user=member, incident_id=started.pk, action="en_route", client_id="c-1",
             version=started.version)

    # when: an urgent drift is verified while the worker runs
    urgent = verify_urgent(make_report, snow, dispatcher, -100, -100)

    # then: within 20 s the crew has a new version with it, the started stop still first
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and urgent.pk not in stop_ids(crew):
        time.sleep(0.2)
    route = plan_current(crew)
    stops = list(route.stops.all())
    assert route.version == 2
    assert (stops[0].incident_id, stops[0].state) == (started.pk, "started")
    assert sorted(s.incident_id for s in stops) == sorted([*(d.pk for d in drifts), urgent.pk])
    assert statuses(started, urgent) == ["en_route", "assigned"]
