"""The route optimiser: both engines on small problems with known answers. Pure Python."""

import pytest

from crews.optimizer import ProblemError, optimize
from crews.optimizer.problem import problem_parse

ENGINES = ["vroom", "pyvrp"]
# PyVRP stops once it stops improving; the budget only bounds it.
BUDGET_S = 3.0
CENTRE = [24.93, 60.17]


def line_matrix(size: int, step: int = 100) -> list[list[int]]:
    """Locations on a line, `step` seconds (and metres) apart."""
    return [[abs(i - j) * step for j in range(size)] for i in range(size)]


def line_problem(jobs: list[dict], vehicles: list[dict] | None = None, size: int = 5) -> dict:
    vehicles = vehicles or [{"id": 1, "start_index": 0, "end_index": 0}]
    return {"vehicles": vehicles, "jobs": jobs,
            "matrices": {"car": {"durations": line_matrix(size),
                                 "distances": line_matrix(size, step=1000)}}}


def job_steps(solution: dict) -> dict[int, list[dict]]:
    """vehicle id → its job steps in order."""
    return {route["vehicle"]: [s for s in route["steps"] if s["type"] == "job"]
            for route in solution["routes"]}


def served_by(solution: dict) -> dict[int, int]:
    """job id → vehicle id."""
    return {step["id"]: vehicle for vehicle, steps in job_steps(solution).items()
            for step in steps}


def unassigned(solution: dict) -> dict[int, str]:
    return {item["id"]: item["reason"] for item in solution["unassigned"]}


@pytest.mark.parametrize("engine", ENGINES)
def test_job_needing_a_plow_goes_to_the_plow_vehicle(engine):
    # given a plain vehicle and a far-away plow, and a job next to the plain vehicle that
    # needs a plow
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0},
                  {"id": 2, "start_index": 4, "end_index": 4, "skills": ["plow"]}],
        jobs=[{"id": 10, "location_index": 1, "skills": ["plow"]},
              {"id": 11, "location_index": 0}])

    # when
    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    # then
    assert served_by(solution) == {10: 2, 11: 1}
    assert solution["unassigned"] == []
    assert solution["summary"]["engine"] == engine


@pytest.mark.parametrize("engine", ENGINES)
def test_job_needing_a_skill_no_vehicle_has_is_unassigned_with_the_reason(engine):
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0, "skills": ["plow"]}],
        jobs=[{"id": 10, "location_index": 1, "skills": ["crane"]},
              {"id": 11, "location_index": 2, "skills": ["plow"]}])

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    assert served_by(solution) == {11: 1}
    assert solution["unassigned"] == [{"id": 10, "type": "job", "location_index": 1,
                                       "reason": "no vehicle has the required skills"}]


@pytest.mark.parametrize("engine", ENGINES)
def test_service_starts_within_each_jobs_time_window(engine):
    # given windows that allow only the order 11, 10, 12
    windows = {10: [500, 600], 11: [0, 250], 12: [1000, 1100]}
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0, "time_window": [0, 5000]}],
        jobs=[{"id": 10, "location_index": 1, "service": 30, "time_windows": [windows[10]]},
              {"id": 11, "location_index": 2, "service": 30, "time_windows": [windows[11]]},
              {"id": 12, "location_index": 3, "service": 30, "time_windows": [windows[12]]}])

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    steps = job_steps(solution)[1]
    assert [s["id"] for s in steps] == [11, 10, 12]
    starts = {s["id"]: s["arrival"] + s["waiting_time"] for s in steps}
    assert all(windows[i][0] <= starts[i] <= windows[i][1] for i in windows)
    assert (starts[10], starts[12]) == (500, 1000)


@pytest.mark.parametrize("engine", ENGINES)
def test_job_whose_window_no_vehicle_can_reach_is_unassigned_with_the_reason(engine):
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0, "time_window": [0, 5000]}],
        jobs=[{"id": 10, "location_index": 1, "time_windows": [[9000, 9100]]},
              {"id": 11, "location_index": 2, "time_windows": [[0, 150]]},
              {"id": 12, "location_index": 3}])

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    assert served_by(solution) == {12: 1}
    assert unassigned(solution) == {10: "outside every vehicle time window",
                                    11: "outside every vehicle time window"}


@pytest.mark.parametrize("engine", ENGINES)
def test_deliveries_per_route_stay_within_capacity_and_the_overflow_is_unassigned(engine):
    # given two vehicles carrying 4 and three jobs of 3
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0, "capacity": [4]},
                  {"id": 2, "start_index": 0, "end_index": 0, "capacity": [4]}],
        jobs=[{"id": j, "location_index": j - 9, "delivery": [3]} for j in (10, 11, 12)])

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    assert [route["delivery"] for route in solution["routes"]] == [[3], [3]]
    assert [route["steps"][0]["load"] for route in solution["routes"]] == [[3], [3]]
    assert list(unassigned(solution).values()) == ["could not fit"]
    assert solution["summary"]["delivery"] == [6]


@pytest.mark.parametrize("engine", ENGINES)
def test_job_larger_than_every_capacity_could_not_fit(engine):
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0, "capacity": [4]}],
        jobs=[{"id": 10, "location_index": 1, "delivery": [5]},
              {"id": 11, "location_index": 2, "delivery": [4]}])

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    assert served_by(solution) == {11: 1}
    assert unassigned(solution) == {10: "could not fit"}


@pytest.mark.parametrize("engine", ENGINES)
def test_higher_priority_job_is_served_when_not_all_fit(engine):
    # given room for one job: a near one of priority 0 and a far one of priority 50
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0, "capacity": [1]}],
        jobs=[{"id": 10, "location_index": 1, "delivery": [1], "priority": 0},
              {"id": 11, "location_index": 4, "delivery": [1], "priority": 50}])

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    assert served_by(solution) == {11: 1}
    assert unassigned(solution) == {10: "could not fit"}
    assert solution["summary"]["priority"] == 50


@pytest.mark.parametrize("engine", ENGINES)
def test_solution_round_trips_the_vroom_format_with_coordinates(engine):
    # given coordinates only, a depot and eight jobs around it, two vehicles
    depot = CENTRE
    jobs = [{"id": 100 + k, "location": [round(depot[0] + 0.004 * (k % 4 - 1.5), 4),
                                         round(depot[1] + 0.003 * (k // 4 - 0.5), 4)],
             "service": 120, "delivery": [1]} for k in range(8)]
    problem = {"vehicles": [{"id": 7, "start": depot, "end": depot, "capacity": [5]},
                            {"id": 8, "start": depot, "end": depot, "capacity": [5]}],
               "jobs": jobs}

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    assert solution["code"] == 0
    ids = [s["id"] for steps in job_steps(solution).values() for s in steps]
    ids += [item["id"] for item in solution["unassigned"]]
    assert sorted(ids) == [job["id"] for job in jobs]
    for route in solution["routes"]:
        steps = route["steps"]
        assert (steps[0]["type"], steps[0]["location"]) == ("start", depot)
        assert (steps[-1]["type"], steps[-1]["location"]) == ("end", depot)
        assert {s["type"] for s in steps[1:-1]} == {"job"}
        assert steps[-1]["distance"] == route["distance"]
        assert steps[-1]["duration"] == route["duration"]
        assert [s["arrival"] for s in steps] == sorted(s["arrival"] for s in steps)
    summary = solution["summary"]
    assert (summary["routes"], summary["unassigned"]) == (len(solution["routes"]), 0)
    assert summary["delivery"] == [8]
    assert summary["service"] == 8 * 120
    assert summary["distance"] == sum(r["distance"] for r in solution["routes"])
    assert (summary["engine"], summary["matrix_source"]) == (engine, "great_circle")


@pytest.mark.parametrize("engine", ENGINES)
def test_solution_echoes_matrix_indices(engine):
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 4}],
        jobs=[{"id": 10, "location_index": 3}, {"id": 11, "location_index": 1}])

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    route = solution["routes"][0]
    assert [(s["type"], s.get("id"), s["location_index"]) for s in route["steps"]] == [
        ("start", None, 0), ("job", 11, 1), ("job", 10, 3), ("end", None, 4)]
    assert [s["distance"] for s in route["steps"]] == [0, 1000, 3000, 4000]
    assert [s["duration"] for s in route["steps"]] == [0, 100, 300, 400]
    assert (route["cost"], route["distance"], route["duration"]) == (400, 4000, 400)
    assert solution["summary"]["matrix_source"] == "provided"


def test_fallback_matrix_is_great_circle_times_detour_at_30_kmh():
    # given a job 0.01° of latitude north of the depot (1111.95 m great-circle)
    depot = CENTRE
    problem = {"vehicles": [{"id": 1, "start": depot, "end": depot}],
               "jobs": [{"id": 1, "location": [depot[0], depot[1] + 0.01]}]}

    solution = optimize(problem)

    route = solution["routes"][0]
    # 1111.95 m × 1.3 = 1445.54 m each way, at 30 km/h 173 s
    assert [s["distance"] for s in route["steps"]] == [0, 1446, 2891]
    assert (route["duration"], route["cost"]) == (346, 346)
    assert solution["summary"]["matrix_source"] == "great_circle"


def test_provided_distances_are_reported_not_the_fallback():
    problem = {"vehicles": [{"id": 1, "start_index": 0, "end_index": 0}],
               "jobs": [{"id": 1, "location_index": 1, "location": [24.94, 60.17]}],
               "matrices": {"car": {"durations": [[0, 60], [70, 0]],
                                    "distances": [[0, 500], [600, 0]]}}}

    solution = optimize(problem)

    route = solution["routes"][0]
    assert (route["distance"], route["duration"]) == (1100, 130)
    assert route["steps"][1]["location"] == [24.94, 60.17]
    assert solution["summary"]["matrix_source"] == "provided"


def test_without_distances_the_solution_has_no_distance():
    problem = {"vehicles": [{"id": 1, "start_index": 0}],
               "jobs": [{"id": 1, "location_index": 1}],
               "matrices": {"car": {"durations": [[0, 60], [70, 0]]}}}

    solution = optimize(problem)

    assert "distance" not in solution["summary"]
    assert [s["type"] for s in solution["routes"][0]["steps"]] == ["start", "job"]


def test_vroom_places_breaks_within_their_window():
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0, "time_window": [0, 5000],
                   "breaks": [{"id": 5, "time_windows": [[300, 400]], "service": 60}]}],
        jobs=[{"id": 10, "location_index": 1, "service": 200},
              {"id": 11, "location_index": 2, "service": 200}])

    solution = optimize(problem, budget_s=BUDGET_S)

    steps = solution["routes"][0]["steps"]
    pause = next(s for s in steps if s["type"] == "break")
    assert (pause["id"], pause["service"]) == (5, 60)
    assert 300 <= pause["arrival"] + pause["waiting_time"] <= 400
    assert solution["summary"]["engine"] == "vroom"


@pytest.mark.parametrize(("budget_s", "extra", "engine"), [
    (None, {}, "vroom"),
    (1.0, {}, "vroom"),
    (2.0, {}, "pyvrp"),
    (2.0, {"breaks": [{"id": 1, "time_windows": [[0, 100]]}]}, "vroom"),
])
def test_engine_follows_the_budget_and_the_features_used(budget_s, extra, engine):
    problem = line_problem(vehicles=[{"id": 1, "start_index": 0, "end_index": 0, **extra}],
                           jobs=[{"id": 10, "location_index": 2}])

    solution = optimize(problem, budget_s=budget_s)

    assert solution["summary"]["engine"] == engine


def test_several_windows_on_one_job_go_to_vroom_even_when_pyvrp_is_asked():
    problem = line_problem(jobs=[{"id": 10, "location_index": 2,
                                  "time_windows": [[0, 10], [1000, 2000]]}])

    solution = optimize(problem, budget_s=BUDGET_S, engine="pyvrp")

    assert solution["summary"]["engine"] == "vroom"
    assert job_steps(solution)[1][0]["arrival"] + job_steps(solution)[1][0]["waiting_time"] \
        == 1000


@pytest.mark.parametrize("engine", ENGINES)
def test_pickups_raise_the_load_after_the_stop(engine):
    problem = line_problem(
        vehicles=[{"id": 1, "start_index": 0, "end_index": 0, "capacity": [5]}],
        jobs=[{"id": 10, "location_index": 1, "delivery": [2]},
              {"id": 11, "location_index": 2, "pickup": [4]}])

    solution = optimize(problem, budget_s=BUDGET_S, engine=engine)

    route = solution["routes"][0]
    assert [(s["type"], s["load"]) for s in route["steps"]] == [
        ("start", [2]), ("job", [0]), ("job", [4]), ("end", [4])]
    assert (route["delivery"], route["pickup"]) == ([2], [4])


VALID = {"vehicles": [{"id": 1, "start": CENTRE, "end": CENTRE, "capacity": [4]}],
         "jobs": [{"id": 1, "location": [24.94, 60.17], "delivery": [1]},
                  {"id": 2, "location": [24.95, 60.17], "delivery": [1]}]}


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.pop("jobs"), "jobs: required"),
    (lambda p: p.update(jobs={"id": 1}), "jobs: must be a list"),
    (lambda p: p.update(jobs=[]), "jobs: at least one job is required"),
    (lambda p: p.update(vehicles="truck"), "vehicles: must be a list"),
    (lambda p: p["jobs"][1].pop("location"),
     "jobs[1].location: required: [lon, lat] or a location_index into matrices"),
    (lambda p: p["jobs"][0].update(location=[24.9]), "jobs[0].location: must be [lon, lat]"),
    (lambda p: p["jobs"][0].update(location=[240.9, 60.1]),
     "jobs[0].location: must be [lon, lat] in degrees"),
    (lambda p: p["jobs"][1].update(time_windows=[[0, 50], [200, 100]]),
     "jobs[1].time_windows[1]: ends (100) before it starts (200)"),
    (lambda p: p["jobs"][1].update(time_windows=[100, 200]),
     "jobs[1].time_windows[0]: must be [start, end]"),
    (lambda p: p["jobs"][0].update(location_index=0),
     "jobs[0].location_index: needs `matrices`; without them give `location` as [lon, lat]"),
    (lambda p: p["vehicles"][0].pop("start") and p["vehicles"][0].pop("end"),
     "vehicles[0].start: a vehicle needs a start or an end (location or index)"),
    (lambda p: p["jobs"][0].update(delivery=[-1]), "jobs[0].delivery[0]: must not be negative"),
    (lambda p: p["jobs"][0].update(delivery=[1, 1]),
     "vehicles[0].capacity: must list 2 amount(s), like the jobs' amounts"),
    (lambda p: p["jobs"][0].update(priority=101), "jobs[0].priority: must be at most 100"),
    (lambda p: p["jobs"][0].update(service="10"), "jobs[0].service: must be an integer"),
    (lambda p: p["jobs"][1].update(id=1), "jobs[1].id: duplicate id 1"),
    (lambda p: p.update(shipments=[]), "shipments: not supported by this optimiser"),
])
def test_invalid_problem_raises_problem_error_naming_the_field(change, message):
    problem = {"vehicles": [dict(v) for v in VALID["vehicles"]],
               "jobs": [dict(j) for j in VALID["jobs"]]}
    change(problem)

    with pytest.raises(ProblemError) as raised:
        optimize(problem)

    assert str(raised.value) == message
    assert raised.value.field == message.split(":")[0]


@pytest.mark.parametrize(("matrices", "field", "message"), [
    ({"car": {"durations": [[0, 1], [1, 0]]}}, "jobs[0].location_index",
     "unknown location index 2: the matrices have 2 rows"),
    ({"car": {"durations": [[0, 1, 2], [1, 0]]}}, "matrices.car.durations",
     "must be a square list of lists of numbers"),
    ({"car": {"durations": [[0, 1, 2], [1, 0, 1], [2, 1, -3]]}}, "matrices.car.durations",
     "must hold numbers between 0 and 4294967295"),
    ({"car": {"durations": line_matrix(3), "distances": line_matrix(2)}},
     "matrices.car.distances", "must have 3 rows like `durations`"),
    ({"truck": {"durations": line_matrix(3)}}, "vehicles[0].profile",
     "no matrices for profile 'car'"),
])
def test_invalid_matrices_name_the_field(matrices, field, message):
    problem = {"vehicles": [{"id": 1, "start_index": 0}],
               "jobs": [{"id": 1, "location_index": 2}], "matrices": matrices}

    with pytest.raises(ProblemError) as raised:
        problem_parse(problem)

    assert (raised.value.field, raised.value.message) == (field, message)


def test_problem_that_is_not_an_object_is_refused():
    with pytest.raises(ProblemError) as raised:
        optimize([1, 2])

    assert (raised.value.field, raised.value.code) == ("problem", 2)


def test_unknown_engine_is_refused():
    with pytest.raises(ProblemError) as raised:
        optimize(VALID, engine="ortools")

    assert raised.value.field == "engine"
