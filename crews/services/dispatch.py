"""Dispatch: build a routing problem from the database, solve it, store versioned plans.

The problem is VROOM JSON (crews.optimizer), travel times come from the road network
(gis.routing), and every incident that gets a crew moves to `assigned` through the one
state machine. Stops a crew has started, and stops a dispatcher locked, are kept in place:
the crew's route is re-planned from the last of them."""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.gis.geos import LineString, Point
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from crews.models import Crew, DispatchPin, RoutePlan, RouteStop, Shift
from crews.optimizer import optimize
from crews.selectors import plan_current
from gis.routing import route_path, travel_matrix
from incidents.exceptions import ValidationFailed
from incidents.models import Incident, Status
from incidents.services import incident_transition

logger = logging.getLogger(__name__)

PLANNABLE = (Status.VERIFIED, Status.REOPENED, Status.ASSIGNED)


@dataclass
class Unassigned:
    incident_id: int
    reason: str


@dataclass
class DispatchResult:
    plans: list[RoutePlan]
    unassigned: list[Unassigned]
    engine: str
    matrix_source: str
    seconds: dict = field(default_factory=dict)


@dataclass
class _Vehicle:
    crew: Crew
    shift: Shift
    start: Point
    available_at: datetime
    kept: list[RouteStop]


def _skills_index(names: set[str]) -> dict[str, int]:
    return {name: i + 1 for i, name in enumerate(sorted(names))}


def _vehicle_for(crew: Crew, now: datetime) -> _Vehicle | None:
    shift = (Shift.objects.filter(crew=crew, ends_at__gt=now,
                                  starts_at__lt=now + timedelta(hours=24))
             .order_by("starts_at").first())
    if shift is None:
        return None
    start = crew.depot
    fresh = crew.last_position_at and crew.last_position_at > now - timedelta(minutes=30)
    if fresh and shift.starts_at <= now:
        start = crew.last_position
    available = max(now, shift.starts_at)
    kept: list[RouteStop] = []
    plan = plan_current(crew)
    if plan is not None:
        for stop in plan.stops.all():
            if stop.state == RouteStop.State.STARTED or (
                    stop.state == RouteStop.State.PENDING and stop.locked
                    and stop.incident.status == Status.ASSIGNED):
                kept.append(stop)
            else:
                break
    for stop in kept:
        # The crew finishes kept stops first, from where it is, in their order.
        start = stop.incident.location
        available = max(available, stop.eta) + timedelta(seconds=stop.service_s)
    return _Vehicle(crew=crew, shift=shift, start=Point(start.x, start.y, srid=4326),
                    available_at=available, kept=kept)


def _incidents_to_plan(*, incident_ids, crews, area) -> list[Incident]:
    queryset = Incident.objects.select_related("category")
    if incident_ids is not None:
        queryset = queryset.filter(pk__in=incident_ids)
    else:
        queryset = queryset.filter(status__in=(Status.VERIFIED, Status.REOPENED))
        if area is not None:
            queryset = queryset.filter(area=area)
    incidents = {i.pk: i for i in queryset}
    # A re-plan also reconsiders the pending, unlocked stops already on these crews' routes.
    for crew in crews:
        plan = plan_current(crew)
        if plan is None:
            continue
        for stop in plan.stops.all():
            if stop.state == RouteStop.State.PENDING and not stop.locked:
                incidents.setdefault(stop.incident_id, stop.incident)
    return list(incidents.values())


def problem_build(*, vehicles: list[_Vehicle], incidents: list[Incident], t0: datetime,
                  pins: dict[int, int]) -> tuple[dict, list[Point]]:
    """The VROOM problem, and the points its location_index values refer to."""
    skill_names: set[str] = set()
    for v in vehicles:
        skill_names.update(v.crew.skills)
    for incident in incidents:
        skill_names.update(incident.category.required_skills)
    skill_names.update(f"pin:{crew_id}" for crew_id in pins.values())
    index = _skills_index(skill_names)
    points: list[Point] = []
    problem_vehicles = []
    for v in vehicles:
        points.append(v.start)
        start_index = len(points) - 1
        points.append(v.crew.depot)
        end_index = len(points) - 1
        skills = [index[s] for s in v.crew.skills] + [
            index[f"pin:{v.crew.pk}"] for crew_id in set(pins.values()) if crew_id == v.crew.pk]
        problem_vehicles.append({
            "id": v.crew.pk, "start_index": start_index, "end_index": end_index,
            "capacity": [max(0, v.crew.capacity - len(v.kept))],
            "skills": sorted(set(skills)),
            "time_window": [int((v.available_at - t0).total_seconds()),
                            max(int((v.available_at - t0).total_seconds()),
                                int((v.shift.ends_at - t0).total_seconds()))],
        })
    jobs = []
    for incident in incidents:
        points.append(incident.location)
        skills = [index[s] for s in incident.category.required_skills]
        if incident.pk in pins:
            skills.append(index[f"pin:{pins[incident.pk]}"])
        jobs.append({"id": incident.pk, "location_index": len(points) - 1,
                     "service": incident.category.service_minutes * 60,
                     "delivery": [1], "skills": sorted(set(skills)),
                     "priority": max(0, min(100, round(incident.priority)))})
    return {"vehicles": problem_vehicles, "jobs": jobs}, points


def _reason_for(incident: Incident, vehicles: list[_Vehicle], pins: dict[int, int],
                solver_reason: str) -> str:
    needed = set(incident.category.required_skills)
    able = [v for v in vehicles if needed <= set(v.crew.skills)]
    if incident.pk in pins and pins[incident.pk] not in {v.crew.pk for v in vehicles}:
        return _("pinned to a crew that is not in this plan")
    if not able:
        return _("no crew on shift has the skills: %(skills)s") % {
            "skills": ", ".join(sorted(needed)) or "-"}
    return solver_reason or _("could not fit in any crew's shift")


@transaction.atomic
def dispatch_plan(*, crew_ids: list[int], incident_ids: list[int] | None = None, area=None,
                  by=None, budget_s: float = 2.0, reason: str = "") -> DispatchResult:
    """Plan the chosen crews' routes over the chosen incidents (or every verified one)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    now = timezone.now()
    crews = list(Crew.objects.select_for_update().filter(pk__in=crew_ids, active=True)
                 .order_by("pk"))
    if not crews:
        raise ValidationFailed({"crews": [_("Choose at least one active crew.")]})
    vehicles = [v for v in (_vehicle_for(c, now) for c in crews) if v is not None]
    incidents = _incidents_to_plan(incident_ids=incident_ids, crews=crews, area=area)
    kept_ids = {s.incident_id for v in vehicles for s in v.kept}
    incidents = [i for i in incidents if i.pk not in kept_ids]
    not_plannable = [i for i in incidents if i.status not in PLANNABLE]
    incidents = [i for i in incidents if i.status in PLANNABLE]
    unassigned = [Unassigned(i.pk, _("status is %(s)s; only verified incidents are planned")
                             % {"s": i.status}) for i in not_plannable]
    if not vehicles:
        unassigned += [Unassigned(i.pk, _("no chosen crew has a shift in the next 24 hours"))
                       for i in incidents]
        return DispatchResult(plans=[], unassigned=unassigned, engine="none",
                              matrix_source="none", seconds=timings)
    pins = dict(DispatchPin.objects.filter(incident__in=incidents)
                .values_list("incident_id", "crew_id"))
    problem, points = problem_build(vehicles=vehicles, incidents=incidents, t0=now, pins=pins)
    timings["build"] = time.perf_counter() - started
    mark = time.perf_counter()
    matrix = travel_matrix(points)
    timings["matrix"] = time.perf_counter() - mark
    problem["matrices"] = {"car": {
        "durations": [[round(v) for v in row] for row in matrix.durations_s],
        "distances": [[round(v) for v in row] for row in matrix.distances_m]}}
    mark = time.perf_counter()
    solution = optimize(problem, budget_s=budget_s)
    timings["solve"] = time.perf_counter() - mark
    if solution.get("code", 0) != 0:
        raise ValidationFailed({"problem": [solution.get("error", _("The optimiser failed."))]})
    mark = time.perf_counter()
    by_id = {i.pk: i for i in incidents}
    vehicle_by_crew = {v.crew.pk: v for v in vehicles}
    routes = {route["vehicle"]: route for route in solution.get("routes", [])}
    plans = []
    assigned_now: set[int] = set()
    for v in vehicles:
        route = routes.get(v.crew.pk, {"steps": []})
        jobs = [step for step in route["steps"] if step["type"] == "job"]
        plan = _plan_store(vehicle=v, jobs=jobs, by_id=by_id, t0=now, by=by,
                           engine=solution["summary"].get("engine", ""),
                           matrix_source=matrix.source, reason=reason, points=points)
        plans.append(plan)
        assigned_now.update(step["id"] for step in jobs)
    timings["store"] = time.perf_counter() - mark
    for item in solution.get("unassigned", []):
        incident = by_id[item["id"]]
        unassigned.append(Unassigned(incident.pk, _reason_for(
            incident, list(vehicle_by_crew.values()), pins, item.get("reason", ""))))
    for incident in incidents:
        if incident.pk in assigned_now and incident.status != Status.ASSIGNED:
            incident_transition(incident=incident, to=Status.ASSIGNED, by=by,
                                note=_("Planned on a crew's route"), public=True)
        elif incident.pk not in assigned_now and incident.status == Status.ASSIGNED:
            incident_transition(incident=incident, to=Status.VERIFIED, by=by, public=False,
                                note=_("Taken off the route when re-planning"))
    timings["total"] = time.perf_counter() - started
    return DispatchResult(plans=plans, unassigned=unassigned,
                          engine=solution["summary"].get("engine", ""),
                          matrix_source=matrix.source, seconds=timings)


def _plan_store(*, vehicle: _Vehicle, jobs: list[dict], by_id: dict, t0: datetime, by,
                engine: str, matrix_source: str, reason: str, points: list[Point]) -> RoutePlan:
    crew = vehicle.crew
    RoutePlan.objects.filter(crew=crew, state=RoutePlan.State.PUBLISHED).update(
        state=RoutePlan.State.SUPERSEDED)
    version = (RoutePlan.objects.filter(crew=crew).aggregate(v=Max("version"))["v"] or 0) + 1
    stops_spec = []
    for stop in vehicle.kept:
        stops_spec.append((stop.incident, stop.eta, stop.departs_at, stop.service_s,
                           stop.travel_s, stop.distance_m, stop.state, stop.locked))
    previous_distance = previous_duration = 0.0
    for step in jobs:
        incident = by_id[step["id"]]
        # VROOM's step duration and distance are cumulative travel since the start.
        arrival = t0 + timedelta(seconds=step["arrival"] + step.get("waiting_time", 0))
        service = int(step.get("service", 0))
        distance = float(step.get("distance", 0))
        duration = float(step.get("duration", 0))
        stops_spec.append((incident, arrival, arrival + timedelta(seconds=service), service,
                           duration - previous_duration, distance - previous_distance,
                           RouteStop.State.PENDING, False))
        previous_distance, previous_duration = distance, duration
    origin = (crew.last_position or crew.depot) if vehicle.kept else vehicle.start
    waypoints = [origin] + [spec[0].location for spec in stops_spec] + [crew.depot]
    path = route_path([Point(p.x, p.y, srid=4326) for p in waypoints]) if stops_spec else None
    plan = RoutePlan.objects.create(
        crew=crew, shift=vehicle.shift, version=version, state=RoutePlan.State.PUBLISHED,
        engine=engine, matrix_source=matrix_source,
        distance_m=path.distance_m if path else 0.0,
        duration_s=path.duration_s if path else 0.0,
        starts_at=vehicle.available_at if not vehicle.kept else vehicle.kept[0].eta,
        geometry=path.geometry if path and isinstance(path.geometry, LineString) else None,
        created_by=by, reason=reason[:200])
    RouteStop.objects.bulk_create([
        RouteStop(plan=plan, incident=incident, sequence=i + 1, eta=eta, departs_at=departs,
                  service_s=service, travel_s=max(0.0, travel), distance_m=max(0.0, distance),
                  state=state, locked=locked)
        for i, (incident, eta, departs, service, travel, distance, state, locked)
        in enumerate(stops_spec)])
    from incidents.events import event_publish_on_commit

    event_publish_on_commit(kind="plan.published", crew_id=crew.pk, plan_id=plan.pk,
                            version=version)
    return plan


@transaction.atomic
def dispatch_pin(*, incident: Incident, crew: Crew, by=None) -> DispatchPin:
    """From now on this incident is planned only on this crew."""
    pin, _created = DispatchPin.objects.update_or_create(
        incident=incident, defaults={"crew": crew, "created_by": by})
    return pin


@transaction.atomic
def dispatch_unpin(*, incident: Incident) -> None:
    DispatchPin.objects.filter(incident=incident).delete()


@transaction.atomic
def stop_lock(*, stop: RouteStop, locked: bool) -> RouteStop:
    RouteStop.objects.filter(pk=stop.pk).update(locked=locked)
    stop.locked = locked
    return stop


@transaction.atomic
def stop_remove(*, stop: RouteStop, by=None, note: str = "") -> RouteStop:
    """Take a stop off a route; a stop the crew has started cannot be removed."""
    stop = (RouteStop.objects.select_for_update(of=("self",)).select_related("incident")
            .get(pk=stop.pk))
    if stop.state != RouteStop.State.PENDING:
        raise ValidationFailed({"stop": [_("Only a stop the crew has not started can be "
                                           "removed (this one is %(state)s).")
                                         % {"state": stop.state}]})
    stop.state = RouteStop.State.REMOVED
    stop.save(update_fields=["state"])
    if stop.incident.status == Status.ASSIGNED:
        incident_transition(incident=stop.incident, to=Status.VERIFIED, by=by, public=False,
                            note=note or _("Removed from the crew's route"))
    return stop


@transaction.atomic
def plan_reorder(*, plan: RoutePlan, incident_ids: list[int], by=None) -> RoutePlan:
    """A new plan version with the dispatcher's order; the reordered stops are locked."""
    stops = {s.incident_id: s for s in plan.stops.exclude(state=RouteStop.State.REMOVED)
             .select_related("incident", "incident__category")}
    if sorted(stops) != sorted(incident_ids):
        raise ValidationFailed({"incident_ids": [_("Give every stop of the plan exactly once.")]})
    crew = plan.crew
    ordered = [stops[i] for i in incident_ids]
    points = [crew.last_position or crew.depot] + [s.incident.location for s in ordered] + [
        crew.depot]
    matrix = travel_matrix([Point(p.x, p.y, srid=4326) for p in points])
    now = timezone.now()
    clock = max(now, plan.starts_at)
    RoutePlan.objects.filter(pk=plan.pk).update(state=RoutePlan.State.SUPERSEDED)
    path = route_path([Point(p.x, p.y, srid=4326) for p in points])
    new = RoutePlan.objects.create(
        crew=crew, shift=plan.shift, version=plan.version + 1, state=RoutePlan.State.PUBLISHED,
        engine="manual", matrix_source=matrix.source, distance_m=path.distance_m,
        duration_s=path.duration_s, starts_at=clock,
        geometry=path.geometry if isinstance(path.geometry, LineString) else None,
        created_by=by, reason=_("reordered by a dispatcher"))
    rows = []
    for i, stop in enumerate(ordered):
        travel = matrix.durations_s[i][i + 1]
        eta = clock + timedelta(seconds=travel)
        clock = eta + timedelta(seconds=stop.service_s)
        rows.append(RouteStop(plan=new, incident=stop.incident, sequence=i + 1, eta=eta,
                              departs_at=clock, service_s=stop.service_s, travel_s=travel,
                              distance_m=matrix.distances_m[i][i + 1], state=stop.state,
                              locked=stop.state == RouteStop.State.PENDING))
    RouteStop.objects.bulk_create(rows)
    return new


def crews_for_urgent(incident: Incident) -> list[Crew]:
    """Crews on shift now with the skills the incident needs."""
    now = timezone.now()
    needed = incident.category.required_skills
    return list(Crew.objects.filter(active=True, skills__contains=needed,
                                    shifts__starts_at__lte=now, shifts__ends_at__gt=now)
                .distinct().order_by("pk"))


def dispatch_urgent(*, incident_id: int, budget_s: float = 2.0) -> DispatchResult | None:
    """Re-plan the crews that could take an urgent incident, keeping started stops."""
    incident = Incident.objects.select_related("category").get(pk=incident_id)
    if incident.status not in (Status.VERIFIED, Status.REOPENED):
        return None
    crews = crews_for_urgent(incident)
    if not crews:
        return None
    return dispatch_plan(crew_ids=[c.pk for c in crews], incident_ids=[incident.pk],
                         budget_s=budget_s, reason=_("urgent incident #%(id)s") % {
                             "id": incident.pk})
