"""PyVRP when the time budget allows quality.

Model:
- one PyVRP location per depot row (vehicle starts and ends) and one per job, so a job's
  reachability can differ per vehicle type even when jobs share a place; a vehicle without
  a start or an end uses a "free" depot at zero distance from everything;
- vehicle types group identical vehicles (start, end, capacity, window, skills, profile);
- skills: one PyVRP profile per (matrix profile, skill set); in it, the jobs that skill set
  cannot serve cost UNREACHABLE to enter or leave, more than any job's prize, so no search
  keeps them there;
- PyVRP's "distance" is our cost matrix (travel time unless `costs` are given, as VROOM);
  its duration matrix is our durations;
- jobs are required when the VROOM warm start served them all (a feasible complete
  solution exists), otherwise optional with prize (1 + priority) × BIG, where BIG exceeds
  the cost of any set of routes, so serving stays preferable whenever it is feasible.

The search starts from a short VROOM run and keeps it if PyVRP finds nothing feasible.
Breaks, several windows on one job and `max_tasks` are VROOM only (see `supports`).
"""

import time
from dataclasses import dataclass

import numpy as np
import pyvrp
from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement

from crews.optimizer import engine_vroom
from crews.optimizer.problem import Job, Problem, Vehicle
from crews.optimizer.solution import EngineResult, PlannedRoute

ENGINE = "pyvrp"
SEED = 1
# Share of the budget for the VROOM warm start, and its ceiling in seconds.
WARM_START_SHARE = 0.2
WARM_START_MAX_S = 1.0
WARM_START_LEVEL = 1
# Stop early once this many iterations bring nothing (small problems converge fast).
NO_IMPROVEMENT_PER_JOB = 400
NO_IMPROVEMENT_MIN = 5_000
FREE = -1  # depot row of the "free" start/end location


def supports(problem: Problem) -> bool:
    return (not problem.uses_breaks
            and all(len(job.time_windows) == 1 for job in problem.jobs)
            and all(v.max_tasks is None for v in problem.vehicles))


@dataclass
class _Model:
    data: pyvrp.ProblemData
    jobs: list[Job]
    type_vehicles: list[list[Vehicle]]
    type_of_vehicle: dict[int, int]


def solve(problem: Problem, jobs: list[Job], *, budget_s: float, seed: int = SEED,
          warm_start: bool = True) -> EngineResult:
    """Solve with PyVRP for `budget_s` seconds (less when the search stops improving)."""
    started = time.perf_counter()
    if not jobs:
        return EngineResult(engine=ENGINE, routes=[], unassigned=[])
    warm = None
    if warm_start:
        warm_s = min(budget_s * WARM_START_SHARE, WARM_START_MAX_S)
        warm = engine_vroom.solve(problem, jobs, budget_s=warm_s,
                                  exploration_level=WARM_START_LEVEL)
    warm_ms = round((time.perf_counter() - started) * 1000)
    required = warm is not None and not warm.unassigned
    model = _model(problem, jobs, required=required)
    initial = _initial(model, warm) if warm is not None else None
    loading_ms = round((time.perf_counter() - started) * 1000) - warm_ms
    remaining = max(budget_s - (time.perf_counter() - started), 0.05)
    patience = max(NO_IMPROVEMENT_MIN, NO_IMPROVEMENT_PER_JOB * len(jobs))
    stop = MultipleCriteria([MaxRuntime(remaining), NoImprovement(patience)])
    result = pyvrp.solve(model.data, stop=stop, seed=seed, collect_stats=False,
                         initial_solution=initial)
    solving_ms = warm_ms + round(result.runtime * 1000)
    if not result.best.is_feasible():  # only possible without a feasible warm start
        fallback = warm or engine_vroom.solve(problem, jobs, budget_s=remaining)
        fallback.extra["fallback_from"] = ENGINE
        return fallback
    routes = _routes(problem, model, result.best)
    served = {job_id for route in routes for _, job_id in route.steps}
    extra = {"iterations": result.num_iterations, "seed": seed}
    if warm is not None:
        extra["warm_start"] = engine_vroom.ENGINE
    return EngineResult(engine=ENGINE, routes=routes,
                        unassigned=[job.id for job in jobs if job.id not in served],
                        loading_ms=loading_ms, solving_ms=solving_ms, extra=extra)


def _model(problem: Problem, jobs: list[Job], *, required: bool) -> _Model:
    depot_rows: list[int] = []
    for vehicle in problem.vehicles:
        for row in (vehicle.start, vehicle.end):
            row = FREE if row is None else row
            if row not in depot_rows:
                depot_rows.append(row)
    rows = np.array(depot_rows + [job.index for job in jobs], dtype=np.int64)
    n_depots = len(depot_rows)

    groups: dict[tuple, list[Vehicle]] = {}
    for vehicle in problem.vehicles:
        groups.setdefault(_type_key(vehicle, problem), []).append(vehicle)
    profiles: dict[tuple, int] = {}
    for profile, skills in (key[-2:] for key in groups):
        profiles.setdefault((profile, skills), len(profiles))

    max_cost = max(int(m.costs.max(initial=0)) for m in problem.matrices.values()) or 1
    big = (len(jobs) + 2 * len(problem.vehicles) + 1) * max_cost + 1
    unreachable = 102 * big

    distance_matrices, duration_matrices = [], []
    for profile, skills in profiles:
        base = problem.matrices[profile]
        distances = _submatrix(base.costs, rows)
        durations = _submatrix(base.durations, rows)
        for i, job in enumerate(jobs):
            if not job.skills <= skills:
                k = n_depots + i
                distances[k, :] = distances[:, k] = unreachable
                distances[k, k] = 0
        distance_matrices.append(distances)
        duration_matrices.append(durations)

    locations = [pyvrp.Location(x=0, y=0) for _ in rows]
    depots = [pyvrp.Depot(location=k) for k in range(n_depots)]
    size = problem.amount_size
    clients = [
        pyvrp.Client(
            location=n_depots + i,
            delivery=list(job.delivery) or [0] * size,
            pickup=list(job.pickup) or [0] * size,
            service_duration=job.service,
            tw_early=job.time_windows[0].start,
            tw_late=job.time_windows[0].end,
            prize=0 if required else (1 + job.priority) * big,
            required=required,
            name=str(job.id),
        )
        for i, job in enumerate(jobs)
    ]
    vehicle_types, type_vehicles, type_of_vehicle = [], [], {}
    for key, members in groups.items():
        first = members[0]
        vehicle_types.append(pyvrp.VehicleType(
            num_available=len(members),
            capacity=list(first.capacity),
            start_depot=depot_rows.index(FREE if first.start is None else first.start),
            end_depot=depot_rows.index(FREE if first.end is None else first.end),
            tw_early=first.time_window.start,
            tw_late=first.time_window.end,
            profile=profiles[key[-2:]],
        ))
        for vehicle in members:
            type_of_vehicle[vehicle.id] = len(type_vehicles)
        type_vehicles.append(members)
    data = pyvrp.ProblemData(locations, clients, depots, vehicle_types, distance_matrices,
                             duration_matrices)
    return _Model(data=data, jobs=jobs, type_vehicles=type_vehicles,
                  type_of_vehicle=type_of_vehicle)


def _type_key(vehicle: Vehicle, problem: Problem) -> tuple:
    skills = vehicle.skills if problem.uses_skills else frozenset()
    return (vehicle.start, vehicle.end, vehicle.capacity, vehicle.time_window, vehicle.profile,
            skills)


def _submatrix(matrix: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The matrix over PyVRP's locations; the free depot is at zero from everything."""
    safe = np.where(rows == FREE, 0, rows)
    sub = matrix[np.ix_(safe, safe)].astype(np.int64)
    free = rows == FREE
    sub[free, :] = 0
    sub[:, free] = 0
    return sub


def _initial(model: _Model, warm: EngineResult) -> pyvrp.Solution:
    client_of = {job.id: i for i, job in enumerate(model.jobs)}
    routes = [
        pyvrp.Route(model.data, [client_of[job_id] for _, job_id in planned.steps],
                    model.type_of_vehicle[planned.vehicle.id])
        for planned in warm.routes if planned.steps
    ]
    return pyvrp.Solution(model.data, routes)


def _routes(problem: Problem, model: _Model, best: pyvrp.Solution) -> list[PlannedRoute]:
    available = [list(members) for members in model.type_vehicles]
    planned = []
    for route in best.routes():
        visits = [model.jobs[activity.idx].id for activity in route if activity.is_client()]
        if visits:
            vehicle = available[route.vehicle_type()].pop(0)
            planned.append(PlannedRoute(vehicle=vehicle, steps=[("job", v) for v in visits]))
    order = {v.id: i for i, v in enumerate(problem.vehicles)}
    return sorted(planned, key=lambda r: order[r.vehicle.id])
