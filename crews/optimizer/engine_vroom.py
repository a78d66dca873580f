"""VROOM through pyvroom: fast, handles breaks and several time windows per job.

The problem goes in as integer matrices (durations, costs, distances rounded to whole
units), skills as integers. The solution's step order and VROOM's own times come back;
loads and distances are recomputed by crews.optimizer.solution.
"""

import os
import time
from datetime import timedelta

import numpy as np
import vroom

from crews.optimizer.problem import MAX_UINT32, Job, Problem, ProblemError
from crews.optimizer.solution import EngineResult, PlannedRoute, StepTimes

ENGINE = "vroom"
DEFAULT_EXPLORATION_LEVEL = 5
# (level, run time as a multiple of level 1's), estimated on Solomon R101, R201, RC201.
DEEPER_LEVELS = ((3, 5), (5, 12))
MAX_THREADS = 4


def threads() -> int:
    return max(1, min(os.cpu_count() or 1, MAX_THREADS))


def solve(problem: Problem, jobs: list[Job], *, budget_s: float | None,
          exploration_level: int | None = None) -> EngineResult:
    """Solve with VROOM within `budget_s` (VROOM's timeout).

    Without a budget: exploration level 5. With one: level 1 first, then the deepest level
    whose expected run time (a multiple of level 1's) fits what is left, keeping the
    better solution (VROOM's order: priority served, jobs served, cost). A deep search cut
    short by the timeout does worse than a shallow one that finishes (Solomon R201: 25%
    above the best known at level 5 cut to 0.9 s, 4.5% at level 1 run to the end)."""
    started = time.perf_counter()
    if not jobs:
        return EngineResult(engine=ENGINE, routes=[], unassigned=[])
    problem_input = _input(problem, jobs)
    loading_ms = round((time.perf_counter() - started) * 1000)
    if exploration_level is None and budget_s is None:
        exploration_level = DEFAULT_EXPLORATION_LEVEL
    deadline = None if budget_s is None else started + budget_s
    levels = [exploration_level] if exploration_level is not None else [1]
    best = None
    while levels:
        level = levels.pop(0)
        begun = time.perf_counter()
        timeout = None if deadline is None else timedelta(seconds=max(deadline - begun, 0.01))
        try:
            solution = problem_input.solve(exploration_level=level, nb_threads=threads(),
                                           timeout=timeout)
        except vroom._vroom.VroomInputException as exc:  # what our validation did not catch
            raise ProblemError(str(exc)) from exc
        took = time.perf_counter() - begun
        key = (-solution.summary.priority, len(solution.unassigned), solution.summary.cost)
        if best is None or key < best[0]:
            best = (key, solution, level)
        if exploration_level is None and deadline is not None:
            left = deadline - time.perf_counter()
            deeper = [lv for lv, factor in DEEPER_LEVELS if lv > level and left >= factor * took]
            levels = deeper[-1:]
    _, solution, level = best
    solving_ms = round((time.perf_counter() - started) * 1000) - loading_ms
    routes = _routes(problem, solution)
    served = {job_id for route in routes for kind, job_id in route.steps if kind == "job"}
    return EngineResult(engine=ENGINE, routes=routes,
                        unassigned=[job.id for job in jobs if job.id not in served],
                        loading_ms=loading_ms, solving_ms=solving_ms,
                        extra={"exploration_level": level})


def skill_ids(problem: Problem) -> dict:
    """VROOM skills are integers; ours may be strings too."""
    names = {s for j in problem.jobs for s in j.skills} | {
        s for v in problem.vehicles for s in v.skills}
    return {name: i for i, name in enumerate(sorted(names, key=repr))}


def _input(problem: Problem, jobs: list[Job]) -> vroom.Input:
    problem_input = vroom.Input()
    for profile, matrices in problem.matrices.items():
        problem_input.set_durations_matrix(profile, _uint32(matrices.durations))
        if matrices.costs is not matrices.durations:
            problem_input.set_costs_matrix(profile, _uint32(matrices.costs))
        if matrices.distances is not None:
            problem_input.set_distances_matrix(profile, _uint32(np.rint(matrices.distances)))
    skills = skill_ids(problem)
    for vehicle in problem.vehicles:
        options = {}
        if vehicle.max_tasks is not None:
            options["max_tasks"] = vehicle.max_tasks
        problem_input.add_vehicle(vroom.Vehicle(
            vehicle.id,
            start=vehicle.start,
            end=vehicle.end,
            profile=vehicle.profile,
            capacity=list(vehicle.capacity),
            skills={skills[s] for s in vehicle.skills},
            time_window=vroom.TimeWindow(vehicle.time_window.start, vehicle.time_window.end),
            breaks=[vroom.Break(b.id, time_windows=[vroom.TimeWindow(w.start, w.end)
                                                    for w in b.time_windows],
                                service=b.service) for b in vehicle.breaks],
            **options,
        ))
    zero = [0] * problem.amount_size
    for job in jobs:
        problem_input.add_job(vroom.Job(
            job.id,
            location=job.index,
            default_service=job.service,
            delivery=list(job.delivery) or zero,
            pickup=list(job.pickup) or zero,
            skills={skills[s] for s in job.skills},
            priority=job.priority,
            time_windows=[vroom.TimeWindow(w.start, w.end) for w in job.time_windows],
        ))
    return problem_input


def _uint32(matrix: np.ndarray) -> np.ndarray:
    return np.clip(matrix, 0, MAX_UINT32).astype(np.uint32)


def _routes(problem: Problem, solution) -> list[PlannedRoute]:
    """Read the steps from pyvroom's structured array (not `to_dict`, which captures
    stdout and so is not safe next to other threads)."""
    rows = np.asarray(solution._routes_numpy())
    vehicles = {v.id: v for v in problem.vehicles}
    routes: dict[int, PlannedRoute] = {}
    for row in rows:
        vehicle_id = int(row["vehicle_id"])
        route = routes.get(vehicle_id)
        if route is None:
            route = routes[vehicle_id] = PlannedRoute(vehicle=vehicles[vehicle_id], steps=[],
                                                      times=[])
        kind = row["type"].decode()
        if kind in ("job", "break"):
            route.steps.append((kind, int(row["id"])))
        route.times.append(StepTimes(arrival=int(row["arrival"]), duration=int(row["duration"]),
                                     service=int(row["service"]),
                                     waiting_time=int(row["waiting_time"])))
    order = {v.id: i for i, v in enumerate(problem.vehicles)}
    return sorted(routes.values(), key=lambda r: order[r.vehicle.id])
