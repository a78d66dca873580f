"""Dispatch: build a routing problem from the database, solve it, store versioned plans.

The problem is VROOM JSON (crews.optimizer), travel times come from the road network
(gis.routing), and every incident that gets a crew moves to `assigned` through the one
state machine. Stops a crew has started, and pending stops a dispatcher locked, are kept
at the front of the crew's route in their order: the rest is re-planned from the last of
them. Done and returned stops are history and are not carried into a new version.

Locks: the chosen crews' rows (in id order) for the whole plan, so two plans, a reorder
and an urgent re-plan of the same crew run one after the other; then each incident row
as it changes status (in id order). An incident that changed since it was read (a crew
tapped "en route" meanwhile) makes the plan fail with Conflict, and nothing is stored."""

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
from crews.optimizer import ProblemError, optimize
from crews.optimizer.solution import REASON_SKILLS, REASON_TIME_WINDOW
from crews.selectors import plans_current_for
from gis.routing import route_paths, travel_matrix
from incidents.events import event_publish_on_commit
from incidents.exceptions import ValidationFailed
from incidents.models import Incident, Status
from incidents.priority import priority_score
from incidents.services import incident_transition
from incidents.services.workflow import Move, incidents_transition_bulk

logger = logging.getLogger(__name__)

PLANNABLE = (Status.VERIFIED, Status.REOPENED, Status.ASSIGNED)
# A started stop is kept while its incident is still with the crew.
WITH_CREW = (Status.ASSIGNED, Status.EN_ROUTE, Status.ON_SITE)
FRESH_POSITION = timedelta(minutes=30)
SHIFT_LOOKAHEAD = timedelta(hours=24)
ENGINE_NONE = "none"


@dataclass
class Unassigned:
    incident_id: int
    reason: str


@dataclass
class CrewNotUsed:
    crew: Crew
    reason: str


@dataclass
class DispatchResult:
    plans: list[RoutePlan]
    unassigned: list[Unassigned]
    engine: str
    matrix_source: str
    seconds: dict = field(default_factory=dict)
    crews_not_used: list[CrewNotUsed] = field(default_factory=list)


@dataclass
class _Vehicle:
    crew: Crew
    shift: Shift
    origin: Point  # where the crew is now: a fresh position on shift, else its depot
    kept: list[RouteStop]
    # Where and when the optimiser takes over: after the last kept stop, or at the origin.
    start: Point | None = None
    available_at: datetime | None = None
    # Kept stops' (eta, departs_at, travel_s, distance_m), recomputed from the origin.
    kept_times: list[tuple[datetime, datetime, float, float]] = field(default_factory=list)


@dataclass
class _StopSpec:
    incident: Incident
    eta: datetime
    departs_at: datetime
    service_s: int
    travel_s: float
    distance_m: float
    state: str
    locked: bool


def _point(p) -> Point:
    """A plain geometry point (incident locations are geography)."""
    return Point(p.x, p.y, srid=4326)


def _skills_index(names: set[str]) -> dict[str, int]:
    return {name: i + 1 for i, name in enumerate(sorted(names))}


def crew_origin(crew: Crew, now: datetime, shift: Shift | None) -> Point:
    """Where a crew's route begins: its last position if fresh and on shift, else its depot."""
    fresh = (crew.last_position is not None and crew.last_position_at is not None
             and crew.last_position_at > now - FRESH_POSITION)
    if fresh and shift is not None and shift.starts_at <= now:
        return _point(crew.last_position)
    return _point(crew.depot)


def _kept_stops(plan: RoutePlan | None) -> list[RouteStop]:
    """Stops that stay at the front of the next version, in their order: started ones still
    with the crew, and pending ones a dispatcher locked."""
    if plan is None:
        return []
    return [stop for stop in plan.stops.all()
            if (stop.state == RouteStop.State.STARTED and stop.incident.status in WITH_CREW)
            or (stop.state == RouteStop.State.PENDING and stop.locked
                and stop.incident.status == Status.ASSIGNED)]


def _shifts_next(crews: list[Crew], now: datetime) -> dict[int, Shift]:
    """Each crew's current shift, or its next one starting within SHIFT_LOOKAHEAD."""
    shifts: dict[int, Shift] = {}
    for shift in (Shift.objects.filter(crew__in=crews, ends_at__gt=now,
                                       starts_at__lt=now + SHIFT_LOOKAHEAD)
                  .order_by("crew_id", "starts_at")):
        shifts.setdefault(shift.crew_id, shift)
    return shifts


def _kept_schedule(vehicles: list[_Vehicle], now: datetime) -> None:
    """Times of the kept stops, travelling from each crew's origin, and so where and when
    each crew is free for new work. One matrix for every crew's kept chain."""
    chains = [v for v in vehicles if v.kept]
    points, first = [], {}
    for v in chains:
        first[v.crew.pk] = len(points)
        points.append(v.origin)
        points += [_point(stop.incident.location) for stop in v.kept]
    matrix = travel_matrix(points) if points else None
    for v in vehicles:
        clock = max(now, v.shift.starts_at)
        v.start, v.kept_times = v.origin, []
        if v.kept:
            here = first[v.crew.pk]
            for stop in v.kept:
                there = here + 1
                travel = matrix.durations_s[here][there]
                distance = matrix.distances_m[here][there]
                if stop.incident.status == Status.ON_SITE:
                    # Already there: it arrived when it arrived, and works on from now.
                    eta = min(stop.eta, clock)
                    travel = distance = 0.0
                else:
                    eta = clock + timedelta(seconds=travel)
                departs = max(eta + timedelta(seconds=stop.service_s), clock)
                v.kept_times.append((eta, departs, travel, distance))
                clock, here = departs, there
            v.start = _point(v.kept[-1].incident.location)
        v.available_at = clock


def _incidents_to_plan(*, incident_ids: list[int] | None, vehicles: list[_Vehicle],
                       current: dict[int, RoutePlan], area,
                       department_ids: list[int] | None = None) -> tuple[list[Incident],
                                                                     list[Unassigned]]:
    """The chosen incidents (or every verified/reopened one, in the area if given), plus the
    pending stops already on these crews' routes; kept stops excluded. Returns the
    plannable ones, sorted by id, and the reasons for the others. An assigned incident on
    another crew's route stays there (its crew is not being re-planned)."""
    queryset = Incident.objects.select_related("category")
    if incident_ids is not None:
        queryset = queryset.filter(pk__in=incident_ids)
    else:
        queryset = queryset.filter(status__in=(Status.VERIFIED, Status.REOPENED))
        if area is not None:
            queryset = queryset.filter(area=area)
        if department_ids is not None:
            queryset = queryset.filter(department_id__in=department_ids)
    incidents = {i.pk: i for i in queryset}
    on_these_routes: set[int] = set()
    kept: set[int] = set()
    for v in vehicles:
        kept.update(stop.incident_id for stop in v.kept)
        plan = current.get(v.crew.pk)
        if plan is None:
            continue
        for stop in plan.stops.all():
            if stop.state == RouteStop.State.PENDING and stop.incident_id not in kept:
                on_these_routes.add(stop.incident_id)
                incidents.setdefault(stop.incident_id, stop.incident)
    plannable, unassigned = [], []
    elsewhere = _crews_holding([pk for pk, i in incidents.items()
                                if i.status == Status.ASSIGNED and pk not in on_these_routes
                                and pk not in kept])
    for pk in sorted(incidents):
        incident = incidents[pk]
        if pk in kept:
            continue
        if incident.status not in PLANNABLE:
            unassigned.append(Unassigned(pk, _("status is %(s)s; only verified incidents are "
                                               "planned") % {"s": incident.status}))
        elif incident.status == Status.ASSIGNED and pk in elsewhere:
            unassigned.append(Unassigned(pk, _("already on the route of crew %(crew)s; plan "
                                               "with that crew to move it")
                                         % {"crew": elsewhere[pk]}))
        else:
            plannable.append(incident)
    return plannable, unassigned


def _crews_holding(incident_ids: list[int]) -> dict[int, str]:
    """The crew whose published route has each incident, pending or started."""
    if not incident_ids:
        return {}
    return dict(RouteStop.objects.filter(
        incident_id__in=incident_ids, plan__state=RoutePlan.State.PUBLISHED,
        state__in=(RouteStop.State.PENDING, RouteStop.State.STARTED))
        .values_list("incident_id", "plan__crew__code"))


def job_priority(incident: Incident, now: datetime) -> int:
    """0–100: the stored priority, or more if the incident has aged against its SLA since
    it was scored (a breached SLA adds 10)."""
    aged = priority_score(severity=incident.severity, report_count=incident.report_count,
                          first_reported_at=incident.first_reported_at,
                          sla_hours=incident.category.sla_hours, now=now,
                          reopened=incident.status == Status.REOPENED)
    return max(0, min(100, round(max(incident.priority, aged))))


def problem_build(*, vehicles: list[_Vehicle], incidents: list[Incident], t0: datetime,
                  pins: dict[int, int]) -> tuple[dict, list[Point]]:
    """The VROOM problem (without matrices), and the points its location indices refer to.

    Times are seconds from `t0`. A vehicle starts where its kept stops end, when they are
    done, and ends at its depot by the end of its shift; its capacity is what the kept
    stops leave. A job needs its category's skills, and a pinned job also the skill
    "pin:<crew id>" that only the pinned crew has."""
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
        points.append(_point(v.crew.depot))
        skills = {index[s] for s in v.crew.skills}
        if f"pin:{v.crew.pk}" in index:
            skills.add(index[f"pin:{v.crew.pk}"])
        begin = int((v.available_at - t0).total_seconds())
        problem_vehicles.append({
            "id": v.crew.pk, "start_index": len(points) - 2, "end_index": len(points) - 1,
            "capacity": [max(0, v.crew.capacity - len(v.kept))],
            "skills": sorted(skills),
            "time_window": [begin, max(begin, int((v.shift.ends_at - t0).total_seconds()))],
        })
    jobs = []
    for incident in incidents:
        points.append(_point(incident.location))
        skills = {index[s] for s in incident.category.required_skills}
        if incident.pk in pins:
            skills.add(index[f"pin:{pins[incident.pk]}"])
        jobs.append({"id": incident.pk, "location_index": len(points) - 1,
                     "service": incident.category.service_minutes * 60,
                     "delivery": [1], "skills": sorted(skills),
                     "priority": job_priority(incident, t0)})
    return {"vehicles": problem_vehicles, "jobs": jobs}, points


def _reason_for(incident: Incident, vehicles: list[_Vehicle], pins: dict[int, int],
                solver_reason: str) -> str:
    needed = set(incident.category.required_skills)
    skills = ", ".join(sorted(needed)) or "-"
    by_crew = {v.crew.pk: v for v in vehicles}
    pinned = pins.get(incident.pk)
    if pinned is not None and pinned not in by_crew:
        return _("pinned to a crew that is not in this plan or not on shift")
    if pinned is not None and not needed <= set(by_crew[pinned].crew.skills):
        return _("pinned to crew %(crew)s, which lacks the skills: %(skills)s") % {
            "crew": by_crew[pinned].crew.code, "skills": skills}
    if not any(needed <= set(v.crew.skills) for v in vehicles) or solver_reason == REASON_SKILLS:
        return _("no crew on shift has the skills: %(skills)s") % {"skills": skills}
    if solver_reason == REASON_TIME_WINDOW:
        return _("outside every shift: no crew with the skills can reach it and finish "
                 "before its shift ends")
    return _("no room left on the routes of the crews with the skills (shift time or "
             "capacity)")


@transaction.atomic
def dispatch_plan(*, crew_ids: list[int], incident_ids: list[int] | None = None, area=None,
                  by=None, budget_s: float = 2.0, reason: str = "",
                  department_ids: list[int] | None = None) -> DispatchResult:
    """Plan the chosen crews' routes over the chosen incidents (or every verified one, in
    `area` if given) and the pending stops already on their routes; store a new plan
    version for every chosen crew on shift in the next 24 hours."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    now = timezone.now()
    crews = list(Crew.objects.select_for_update().filter(pk__in=crew_ids, active=True)
                 .order_by("pk"))
    if not crews:
        raise ValidationFailed({"crew_ids": [_("Choose at least one active crew.")]})
    shifts = _shifts_next(crews, now)
    vehicles_crews = [c for c in crews if c.pk in shifts]
    current = plans_current_for(vehicles_crews)
    vehicles = [_Vehicle(crew=c, shift=shifts[c.pk], origin=crew_origin(c, now, shifts[c.pk]),
                         kept=_kept_stops(current.get(c.pk))) for c in vehicles_crews]
    not_used = [CrewNotUsed(c, _("no shift in the next 24 hours")) for c in crews
                if c.pk not in shifts]
    incidents, unassigned = _incidents_to_plan(department_ids=department_ids,
                                               incident_ids=incident_ids, vehicles=vehicles,
                                               current=current, area=area)
    if not vehicles:
        unassigned += [Unassigned(i.pk, _("no chosen crew has a shift in the next 24 hours"))
                       for i in incidents]
        timings["total"] = time.perf_counter() - started
        return DispatchResult(plans=[], unassigned=unassigned, engine=ENGINE_NONE,
                              matrix_source="none", seconds=timings, crews_not_used=not_used)
    _kept_schedule(vehicles, now)
    pins = dict(DispatchPin.objects.filter(incident__in=[i.pk for i in incidents])
                .values_list("incident_id", "crew_id"))
    problem, points = problem_build(vehicles=vehicles, incidents=incidents, t0=now, pins=pins)
    timings["build"] = time.perf_counter() - started

    mark = time.perf_counter()
    matrix = travel_matrix(points)
    timings["matrix"] = time.perf_counter() - mark

    mark = time.perf_counter()
    solution = {"routes": [], "unassigned": [], "summary": {"engine": ENGINE_NONE}}
    if problem["jobs"]:
        # Fractional seconds and metres are fine: the optimiser rounds durations itself.
        problem["matrices"] = {"car": {"durations": matrix.durations_s,
                                       "distances": matrix.distances_m}}
        try:
            solution = optimize(problem, budget_s=budget_s)
        except ProblemError as exc:
            raise ValidationFailed({"problem": [exc.message]}) from exc
    timings["solve"] = time.perf_counter() - mark
    engine = solution["summary"].get("engine", "")

    by_id = {i.pk: i for i in incidents}
    routes = {route["vehicle"]: route for route in solution["routes"]}
    specs = {v.crew.pk: _stop_specs(v, routes.get(v.crew.pk), by_id, now) for v in vehicles}
    mark = time.perf_counter()
    with_stops = [v for v in vehicles if specs[v.crew.pk]]
    paths = route_paths([[v.origin, *(_point(s.incident.location) for s in specs[v.crew.pk]),
                          _point(v.crew.depot)] for v in with_stops]) if with_stops else []
    path_of = {v.crew.pk: path for v, path in zip(with_stops, paths, strict=True)}
    timings["geometry"] = time.perf_counter() - mark

    mark = time.perf_counter()
    plans = _plans_store(vehicles=vehicles, specs=specs, paths=path_of, engine=engine,
                         matrix_source=matrix.source, by=by, reason=reason)
    timings["store"] = time.perf_counter() - mark

    for item in solution["unassigned"]:
        unassigned.append(Unassigned(item["id"], _reason_for(
            by_id[item["id"]], vehicles, pins, item.get("reason", ""))))
    mark = time.perf_counter()
    assigned_now = {s.incident.pk for crew_specs in specs.values() for s in crew_specs}
    _incidents_move(
        to_assigned=[i for i in incidents
                     if i.pk in assigned_now and i.status != Status.ASSIGNED],
        to_verified=[i for i in incidents
                     if i.pk not in assigned_now and i.status == Status.ASSIGNED], by=by)
    timings["transitions"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    logger.info("dispatch: %s crews, %s incidents, %s unassigned, engine %s, %.2f s",
                len(vehicles), len(incidents), len(unassigned), engine, timings["total"])
    return DispatchResult(plans=plans, unassigned=unassigned, engine=engine,
                          matrix_source=matrix.source, seconds=timings,
                          crews_not_used=not_used)


def _incidents_move(*, to_assigned: list[Incident], to_verified: list[Incident], by) -> None:
    """Newly planned incidents to `assigned`, dropped ones back to `verified`, through the
    state machine, each refused if it changed since it was read (Conflict). Rows are locked
    in id order, so two plans sharing incidents cannot deadlock."""
    planned, dropped = _("Planned on a crew's route"), _("Taken off the route when re-planning")
    incidents_transition_bulk(by=by, moves=[
        Move(incident_id=i.pk, to=Status.ASSIGNED, note=planned, public=True,
             expected_version=i.version) for i in to_assigned] + [
        Move(incident_id=i.pk, to=Status.VERIFIED, note=dropped, public=False,
             expected_version=i.version) for i in to_verified])


def _stop_specs(vehicle: _Vehicle, route: dict | None, by_id: dict[int, Incident],
                t0: datetime) -> list[_StopSpec]:
    """The kept stops, then the solver's jobs with their times."""
    specs = [_StopSpec(stop.incident, eta, departs, stop.service_s, travel, distance,
                       stop.state, stop.locked)
             for stop, (eta, departs, travel, distance)
             in zip(vehicle.kept, vehicle.kept_times, strict=True)]
    previous_distance = previous_duration = 0.0
    for step in (route or {"steps": []})["steps"]:
        if step["type"] != "job":
            continue
        # A step's duration and distance are cumulative travel since the vehicle's start.
        eta = t0 + timedelta(seconds=step["arrival"] + step.get("waiting_time", 0))
        service = int(step.get("service", 0))
        distance, duration = float(step.get("distance", 0)), float(step.get("duration", 0))
        specs.append(_StopSpec(by_id[step["id"]], eta, eta + timedelta(seconds=service),
                               service, max(0.0, duration - previous_duration),
                               max(0.0, distance - previous_distance),
                               RouteStop.State.PENDING, False))
        previous_distance, previous_duration = distance, duration
    return specs


def _plans_store(*, vehicles: list[_Vehicle], specs: dict[int, list[_StopSpec]],
                 paths: dict, engine: str, matrix_source: str, by, reason: str
                 ) -> list[RoutePlan]:
    """Supersede the crews' published plans and store the next version of each."""
    crew_ids = [v.crew.pk for v in vehicles]
    RoutePlan.objects.filter(crew_id__in=crew_ids, state=RoutePlan.State.PUBLISHED).update(
        state=RoutePlan.State.SUPERSEDED)
    versions = dict(RoutePlan.objects.filter(crew_id__in=crew_ids).order_by()
                    .values("crew_id").annotate(v=Max("version")).values_list("crew_id", "v"))
    plans = []
    for v in vehicles:
        path = paths.get(v.crew.pk)
        crew_specs = specs[v.crew.pk]
        plans.append(RoutePlan(
            crew=v.crew, shift=v.shift, version=versions.get(v.crew.pk, 0) + 1,
            state=RoutePlan.State.PUBLISHED, engine=engine, matrix_source=matrix_source,
            distance_m=path.distance_m if path else 0.0,
            duration_s=path.duration_s if path else 0.0,
            starts_at=crew_specs[0].eta if v.kept else v.available_at,
            geometry=path.geometry if path and isinstance(path.geometry, LineString) else None,
            created_by=by, reason=reason[:200]))
    RoutePlan.objects.bulk_create(plans)
    RouteStop.objects.bulk_create([
        RouteStop(plan=plan, incident=s.incident, sequence=i + 1, eta=s.eta,
                  departs_at=s.departs_at, service_s=s.service_s, travel_s=s.travel_s,
                  distance_m=s.distance_m, state=s.state, locked=s.locked)
        for plan in plans for i, s in enumerate(specs[plan.crew_id])])
    for plan in plans:
        event_publish_on_commit(kind="plan.published", crew_id=plan.crew_id, plan_id=plan.pk,
                                version=plan.version)
    return plans


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
    """Keep a pending stop of a published plan at the front of the next re-plan."""
    stop = _stop_for_change(stop)
    if stop.state != RouteStop.State.PENDING:
        raise ValidationFailed({"stop": [_("Only a stop the crew has not started can be "
                                           "locked or unlocked (this one is %(state)s).")
                                         % {"state": stop.state}]})
    stop.locked = locked
    stop.save(update_fields=["locked"])
    return stop


def _stop_for_change(stop: RouteStop) -> RouteStop:
    """The stop, under its crew's lock; refused unless on the crew's published plan."""
    stop = RouteStop.objects.select_related("plan", "incident").get(pk=stop.pk)
    Crew.objects.select_for_update().filter(pk=stop.plan.crew_id).first()
    stop = (RouteStop.objects.select_for_update(of=("self",))
            .select_related("plan", "incident").get(pk=stop.pk))
    if stop.plan.state != RoutePlan.State.PUBLISHED:
        raise ValidationFailed({"stop": [_("This stop is on an old version of the route "
                                           "(v%(v)s); reload the plan.")
                                         % {"v": stop.plan.version}]})
    return stop


@transaction.atomic
def stop_remove(*, stop: RouteStop, by=None, note: str = "") -> RouteStop:
    """Take a pending stop off a published route; its incident goes back to `verified`.
    A stop the crew has started cannot be removed."""
    stop = _stop_for_change(stop)
    if stop.state != RouteStop.State.PENDING:
        raise ValidationFailed({"stop": [_("Only a stop the crew has not started can be "
                                           "removed (this one is %(state)s).")
                                         % {"state": stop.state}]})
    stop.state = RouteStop.State.REMOVED
    stop.save(update_fields=["state"])
    if stop.incident.status == Status.ASSIGNED:
        incident_transition(incident=stop.incident, to=Status.VERIFIED, by=by, public=False,
                            note=note or _("Removed from the crew's route"))
    event_publish_on_commit(kind="plan.changed", crew_id=stop.plan.crew_id,
                            plan_id=stop.plan_id, version=stop.plan.version)
    return stop


@transaction.atomic
def incident_stops_withdraw(*, incident_id: int) -> int:
    """An incident no crew goes to any more (referred to an outside agency): its stops not
    yet started are taken off the published routes, which the crews' phones and the console
    then reload. Returns the stops taken off."""
    stops = list(RouteStop.objects.select_for_update(of=("self",))
                 .filter(incident_id=incident_id, state=RouteStop.State.PENDING,
                         plan__state=RoutePlan.State.PUBLISHED)
                 .select_related("plan"))
    RouteStop.objects.filter(pk__in=[s.pk for s in stops]).update(
        state=RouteStop.State.REMOVED)
    for plan in {s.plan_id: s.plan for s in stops}.values():
        event_publish_on_commit(kind="plan.changed", crew_id=plan.crew_id, plan_id=plan.pk,
                                version=plan.version)
    return len(stops)


@transaction.atomic
def plan_reorder(*, plan: RoutePlan, incident_ids: list[int], by=None) -> RoutePlan:
    """A new plan version with the dispatcher's order of the stops not yet done; those
    stops are locked, so a re-plan keeps them at the front. Started stops must stay first.
    Done and returned stops are history and are not carried over."""
    crew = Crew.objects.select_for_update().get(pk=plan.crew_id)
    plan = (RoutePlan.objects.filter(pk=plan.pk).first())
    if plan is None or plan.state != RoutePlan.State.PUBLISHED:
        raise ValidationFailed({"plan": [_("This is not the crew's current plan; reload it.")]})
    active = (RouteStop.State.PENDING, RouteStop.State.STARTED)
    stops = {s.incident_id: s for s in plan.stops.filter(state__in=active)
             .select_related("incident", "incident__category")}
    if len(incident_ids) != len(set(incident_ids)) or set(stops) != set(incident_ids):
        raise ValidationFailed({"incident_ids": [_("Give every stop not yet done exactly "
                                                   "once.")]})
    ordered = [stops[i] for i in incident_ids]
    states = [s.state for s in ordered]
    if states != sorted(states, key=lambda state: state != RouteStop.State.STARTED):
        raise ValidationFailed({"incident_ids": [_("Stops the crew has started stay first.")]})
    now = timezone.now()
    origin = crew_origin(crew, now, plan.shift)
    points = [origin] + [_point(s.incident.location) for s in ordered] + [_point(crew.depot)]
    matrix = travel_matrix(points)
    path = route_paths([points])[0]
    clock = max(now, plan.shift.starts_at if plan.shift else now)
    rows = []
    for i, stop in enumerate(ordered):
        travel, distance = matrix.durations_s[i][i + 1], matrix.distances_m[i][i + 1]
        if stop.incident.status == Status.ON_SITE:
            eta, travel, distance = min(stop.eta, clock), 0.0, 0.0
        else:
            eta = clock + timedelta(seconds=travel)
        clock = max(eta + timedelta(seconds=stop.service_s), clock)
        rows.append(RouteStop(incident=stop.incident, sequence=i + 1, eta=eta,
                              departs_at=clock, service_s=stop.service_s, travel_s=travel,
                              distance_m=distance, state=stop.state,
                              locked=stop.state == RouteStop.State.PENDING))
    RoutePlan.objects.filter(crew=crew, state=RoutePlan.State.PUBLISHED).update(
        state=RoutePlan.State.SUPERSEDED)
    version = RoutePlan.objects.filter(crew=crew).aggregate(v=Max("version"))["v"] + 1
    new = RoutePlan.objects.create(
        crew=crew, shift=plan.shift, version=version, state=RoutePlan.State.PUBLISHED,
        engine="manual", matrix_source=matrix.source, distance_m=path.distance_m,
        duration_s=path.duration_s, starts_at=rows[0].eta if rows else clock,
        geometry=path.geometry if isinstance(path.geometry, LineString) else None,
        created_by=by, reason=_("reordered by a dispatcher"))
    for row in rows:
        row.plan = new
    RouteStop.objects.bulk_create(rows)
    event_publish_on_commit(kind="plan.published", crew_id=crew.pk, plan_id=new.pk,
                            version=version)
    return new


def crews_for_urgent(incident: Incident) -> list[Crew]:
    """Crews on shift now with the skills the incident needs; only the pinned crew if the
    incident is pinned."""
    now = timezone.now()
    needed = incident.category.required_skills
    crews = (Crew.objects.filter(active=True, skills__contains=needed,
                                 shifts__starts_at__lte=now, shifts__ends_at__gt=now)
             .distinct().order_by("pk"))
    pin = DispatchPin.objects.filter(incident=incident).first()
    if pin is not None:
        crews = crews.filter(pk=pin.crew_id)
    return list(crews)


def dispatch_urgent(*, incident_id: int, budget_s: float = 2.0) -> DispatchResult | None:
    """Re-plan the crews that could take an urgent incident, keeping started and locked
    stops. Does nothing once the incident is planned (a task delivered twice)."""
    incident = Incident.objects.select_related("category").get(pk=incident_id)
    if incident.status not in (Status.VERIFIED, Status.REOPENED):
        return None
    crews = crews_for_urgent(incident)
    if not crews:
        logger.info("urgent incident %s: no crew on shift has the skills", incident_id)
        return None
    return dispatch_plan(crew_ids=[c.pk for c in crews], incident_ids=[incident.pk],
                         budget_s=budget_s, reason=_("urgent incident #%(id)s") % {
                             "id": incident.pk})
