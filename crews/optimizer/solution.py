"""Build the VROOM solution format from an engine's routes.

Both engines hand over the order of the steps; loads, distances and costs are recomputed
here from the problem's matrices, so every engine reports them the same way. Distances
are summed in double precision and rounded once per step. Times come from the engine when
it schedules things we do not model here (VROOM's breaks), and otherwise from a forward
pass: leave the start as late as the first job allows, arrive, wait for the window, serve.
"""

from dataclasses import dataclass, field

from crews.optimizer.problem import Job, Problem, Vehicle

CODE_OK = 0
REASON_SKILLS = "no vehicle has the required skills"
REASON_TIME_WINDOW = "outside every vehicle time window"
REASON_NO_FIT = "could not fit"


@dataclass(frozen=True)
class StepTimes:
    arrival: int
    duration: int  # travel time since the start
    service: int
    waiting_time: int


@dataclass
class PlannedRoute:
    """One vehicle's visits in order. `steps` holds ("job", job id) and ("break", break id);
    `times`, when the engine gives them, has one entry per output step including the
    start and end steps the vehicle has."""

    vehicle: Vehicle
    steps: list[tuple[str, int]]
    times: list[StepTimes] | None = None


@dataclass
class EngineResult:
    engine: str
    routes: list[PlannedRoute]
    unassigned: list[int]  # job ids the engine left out
    loading_ms: int = 0
    solving_ms: int = 0
    extra: dict = field(default_factory=dict)


def solution_build(problem: Problem, result: EngineResult, *, reasons: dict[int, str]) -> dict:
    """The VROOM output document. `reasons` explains jobs no vehicle could serve at all;
    other unassigned jobs did not fit."""
    jobs = {job.id: job for job in problem.jobs}
    zero = [0] * problem.amount_size
    routes = [_route_build(problem, jobs, planned) for planned in result.routes if planned.steps]
    unassigned_ids = set(result.unassigned) | set(reasons)
    unassigned = []
    for job in problem.jobs:
        if job.id in unassigned_ids:
            entry = {"id": job.id, "type": "job", **_job_location(job),
                     "reason": reasons.get(job.id, REASON_NO_FIT)}
            if job.description:
                entry["description"] = job.description
            unassigned.append(entry)
    has_distances = all(m.distances is not None for m in problem.matrices.values())
    summary = {
        "cost": sum(r["cost"] for r in routes),
        "routes": len(routes),
        "unassigned": len(unassigned),
        "delivery": _sum([r["delivery"] for r in routes], zero),
        "amount": _sum([r["delivery"] for r in routes], zero),
        "pickup": _sum([r["pickup"] for r in routes], zero),
        "setup": 0,
        "service": sum(r["service"] for r in routes),
        "duration": sum(r["duration"] for r in routes),
        "waiting_time": sum(r["waiting_time"] for r in routes),
        "priority": sum(r["priority"] for r in routes),
    }
    if has_distances:
        summary["distance"] = sum(r["distance"] for r in routes)
    summary.update({
        "computing_times": {"loading": result.loading_ms, "solving": result.solving_ms,
                            "routing": 0},
        "engine": result.engine,
        "matrix_source": problem.matrix_source,
        **result.extra,
    })
    return {"code": CODE_OK, "summary": summary, "unassigned": unassigned, "routes": routes}


def schedule_forward(problem: Problem, planned: PlannedRoute) -> list[StepTimes]:
    """Earliest-arrival schedule for a route without engine times: travel, wait for the
    first window still open, serve. The departure is delayed by the wait at the first
    stop, which changes nothing downstream."""
    vehicle = planned.vehicle
    times = _forward(problem, planned, vehicle.time_window.start)
    first = 1 if vehicle.start is not None else 0
    if len(times) > first and planned.steps and planned.steps[0][0] == "job":
        delay = times[first].waiting_time
        if delay:
            times = _forward(problem, planned, vehicle.time_window.start + delay)
    return times


def _forward(problem: Problem, planned: PlannedRoute, departure: int) -> list[StepTimes]:
    vehicle = planned.vehicle
    durations = problem.matrices_for(vehicle).durations
    jobs = {job.id: job for job in problem.jobs}
    breaks = {b.id: b for b in vehicle.breaks}
    times = []
    clock, travelled, here = departure, 0, vehicle.start
    if vehicle.start is not None:
        times.append(StepTimes(arrival=clock, duration=0, service=0, waiting_time=0))
    for kind, step_id in planned.steps:
        if kind == "job":
            job = jobs[step_id]
            leg = int(durations[here, job.index]) if here is not None else 0
            travelled += leg
            clock += leg
            windows, service, here = job.time_windows, job.service, job.index
        else:
            brk = breaks[step_id]
            windows, service = brk.time_windows, brk.service
        begin = next((max(clock, w.start) for w in windows if w.end >= clock), clock)
        times.append(StepTimes(arrival=clock, duration=travelled, service=service,
                               waiting_time=begin - clock))
        clock = begin + service
    if vehicle.end is not None:
        leg = int(durations[here, vehicle.end]) if here is not None else 0
        travelled += leg
        clock += leg
        times.append(StepTimes(arrival=clock, duration=travelled, service=0, waiting_time=0))
    return times


def _route_build(problem: Problem, jobs: dict[int, Job], planned: PlannedRoute) -> dict:
    vehicle = planned.vehicle
    matrices = problem.matrices_for(vehicle)
    times = planned.times or schedule_forward(problem, planned)
    route_jobs = [jobs[step_id] for kind, step_id in planned.steps if kind == "job"]
    load = _sum([j.delivery for j in route_jobs if j.delivery], [0] * problem.amount_size)
    delivery, pickup = list(load), [0] * problem.amount_size
    breaks = {b.id: b for b in vehicle.breaks}
    steps = []
    time_iter = iter(times)
    distance, cost, here = 0.0, 0, vehicle.start

    def step(kind: str, extra: dict) -> dict:
        t = next(time_iter)
        entry = {"type": kind, **extra, "setup": 0, "service": t.service,
                 "waiting_time": t.waiting_time, "load": list(load), "arrival": t.arrival,
                 "duration": t.duration}
        if matrices.distances is not None:
            entry["distance"] = round(distance)
        return entry

    if vehicle.start is not None:
        steps.append(step("start", _place(vehicle.start_location, vehicle.start_location_index)))
    for kind, step_id in planned.steps:
        if kind == "break":
            brk = breaks[step_id]
            extra = {"id": brk.id}
            if brk.description:
                extra["description"] = brk.description
            steps.append(step("break", extra))
            continue
        job = jobs[step_id]
        if here is not None:
            cost += int(matrices.costs[here, job.index])
            if matrices.distances is not None:
                distance += float(matrices.distances[here, job.index])
        here = job.index
        load = [x - d for x, d in zip(load, job.delivery or [0] * len(load), strict=True)]
        load = [x + p for x, p in zip(load, job.pickup or [0] * len(load), strict=True)]
        pickup = [x + p for x, p in zip(pickup, job.pickup or [0] * len(pickup), strict=True)]
        extra = {"id": job.id, "job": job.id, **_job_location(job)}
        if job.description:
            extra["description"] = job.description
        steps.append(step("job", extra))
    if vehicle.end is not None:
        if here is not None:
            cost += int(matrices.costs[here, vehicle.end])
            if matrices.distances is not None:
                distance += float(matrices.distances[here, vehicle.end])
        steps.append(step("end", _place(vehicle.end_location, vehicle.end_location_index)))
    route = {
        "vehicle": vehicle.id,
        "cost": cost,
        "delivery": delivery,
        "amount": delivery,
        "pickup": pickup,
        "setup": 0,
        "service": sum(t.service for t in times),
        "duration": times[-1].duration,
        "waiting_time": sum(t.waiting_time for t in times),
        "priority": sum(j.priority for j in route_jobs),
    }
    if matrices.distances is not None:
        route["distance"] = round(distance)
    route["steps"] = steps
    if vehicle.description:
        route["description"] = vehicle.description
    return route


def _job_location(job: Job) -> dict:
    return _place(job.location, job.location_index)


def _place(location: tuple[float, float] | None, index: int | None) -> dict:
    place: dict = {}
    if location is not None:
        place["location"] = list(location)
    if index is not None:
        place["location_index"] = index
    return place


def _sum(amounts: list, zero: list[int]) -> list[int]:
    total = list(zero)
    for amount in amounts:
        total = [a + b for a, b in zip(total, amount, strict=True)]
    return total
