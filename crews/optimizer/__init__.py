"""Route optimiser: VROOM JSON problem in, VROOM JSON solution out, two engines behind it.

`optimize(problem, budget_s=..., engine=...)` validates the problem (ProblemError names
the offending JSON path), sets aside jobs no vehicle could serve even alone (with the
reason), and solves the rest with

- VROOM (pyvroom) for interactive answers: no budget, or under 1.5 s, or a problem using
  what PyVRP cannot express (breaks, several time windows on a job, `max_tasks`);
- PyVRP when the budget allows quality: warm-started from a short VROOM run and searched
  for the rest of the budget, or until it stops improving. `engine="pyvrp"` without a
  budget runs for 1.5 s.

Both engines stop within `budget_s` (plus model building). Without a budget VROOM runs at
exploration level 5 to the end. Pure Python: no database.
"""

import time

from crews.optimizer.problem import Job, Problem, ProblemError, Vehicle, problem_parse
from crews.optimizer.solution import (
    REASON_NO_FIT,
    REASON_SKILLS,
    REASON_TIME_WINDOW,
    solution_build,
)

__all__ = ["ENGINES", "ProblemError", "engine_choose", "optimize", "problem_parse"]

ENGINE_VROOM = "vroom"
ENGINE_PYVRP = "pyvrp"
ENGINES = (ENGINE_VROOM, ENGINE_PYVRP)
PYVRP_MIN_BUDGET_S = 1.5


def optimize(problem: dict, *, budget_s: float | None = None, engine: str | None = None
             ) -> dict:
    """Solve a VROOM input problem; return the VROOM solution with `summary.engine`,
    `summary.matrix_source` and a `reason` on every unassigned job."""
    if engine is not None and engine not in ENGINES:
        raise ProblemError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}",
                           "engine")
    if budget_s is not None and budget_s <= 0:
        raise ProblemError("must be positive", "budget_s")
    # The engines (and the numerical libraries under them, pandas among them) are loaded by
    # the first solve, not with the app: a web worker that plans no route stays small.
    from crews.optimizer import engine_pyvrp, engine_vroom

    started = time.perf_counter()
    model = problem_parse(problem)
    reasons = unserviceable_reasons(model)
    servable = [job for job in model.jobs if job.id not in reasons]
    chosen = engine or engine_choose(model, budget_s)
    if chosen == ENGINE_PYVRP and not engine_pyvrp.supports(model):
        chosen = ENGINE_VROOM
    loading_ms = round((time.perf_counter() - started) * 1000)
    remaining = None if budget_s is None else max(budget_s - loading_ms / 1000, 0.05)
    if chosen == ENGINE_PYVRP:
        result = engine_pyvrp.solve(model, servable, budget_s=remaining or PYVRP_MIN_BUDGET_S)
    else:
        result = engine_vroom.solve(model, servable, budget_s=remaining)
    result.loading_ms += loading_ms
    return solution_build(model, result, reasons=reasons)


def engine_choose(model: Problem, budget_s: float | None) -> str:
    from crews.optimizer import engine_pyvrp

    if budget_s is None or budget_s < PYVRP_MIN_BUDGET_S or not engine_pyvrp.supports(model):
        return ENGINE_VROOM
    return ENGINE_PYVRP


def unserviceable_reasons(model: Problem) -> dict[int, str]:
    """Jobs no vehicle could serve even on a route of its own, with the reason.

    Skills first, then time (the job's windows against each capable vehicle's window,
    travelling straight from its start and back to its end), then capacity."""
    reasons = {}
    for job in model.jobs:
        capable = [v for v in model.vehicles if job.skills <= v.skills]
        if not capable:
            reasons[job.id] = REASON_SKILLS
            continue
        in_time = [v for v in capable if _reachable_in_time(model, job, v)]
        if not in_time:
            reasons[job.id] = REASON_TIME_WINDOW
            continue
        if not any(_fits(job, v) for v in in_time):
            reasons[job.id] = REASON_NO_FIT
    return reasons


def _reachable_in_time(model: Problem, job: Job, vehicle: Vehicle) -> bool:
    durations = model.matrices_for(vehicle).durations
    there = int(durations[vehicle.start, job.index]) if vehicle.start is not None else 0
    back = int(durations[job.index, vehicle.end]) if vehicle.end is not None else 0
    shift = vehicle.time_window
    for window in job.time_windows:
        begin = max(shift.start + there, window.start)
        if begin <= window.end and begin + job.service + back <= shift.end:
            return True
    return False


def _fits(job: Job, vehicle: Vehicle) -> bool:
    capacity = vehicle.capacity
    return all(d <= c for d, c in zip(job.delivery, capacity, strict=False)) and all(
        p <= c for p, c in zip(job.pickup, capacity, strict=False))
