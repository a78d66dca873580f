"""`manage.py optimize` and POST /api/v1/optimize."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import include, path
from rest_framework.test import APIClient

from fixtures.factories import UserFactory

REPO = Path(__file__).resolve().parents[2]
PROBLEM = {
    "vehicles": [{"id": 1, "start_index": 0, "end_index": 0, "capacity": [2]}],
    "jobs": [{"id": 10, "location_index": 1, "delivery": [1]},
             {"id": 11, "location_index": 2, "delivery": [1]}],
    "matrices": {"car": {"durations": [[0, 100, 200], [100, 0, 100], [200, 100, 0]]}},
}
INVALID = {**PROBLEM, "jobs": [{"id": 10, "location_index": 7}]}
INVALID_MESSAGE = "jobs[0].location_index: unknown location index 7: the matrices have 3 rows"
# Mounted as ops/urls.py mounts it; the marker keeps these tests independent of that file.
urlpatterns = [path("api/v1/", include("crews.api.urls"))]


def route_of(solution: dict) -> list[int]:
    return [step["id"] for step in solution["routes"][0]["steps"] if step["type"] == "job"]


def test_command_prints_the_solution_json(tmp_path):
    problem_file = tmp_path / "problem.json"
    problem_file.write_text(json.dumps(PROBLEM))
    out = io.StringIO()

    call_command("optimize", str(problem_file), "--budget-s", "0.5", stdout=out)

    solution = json.loads(out.getvalue())
    assert (solution["code"], solution["summary"]["engine"]) == (0, "vroom")
    assert sorted(route_of(solution)) == [10, 11]
    assert solution["summary"]["cost"] == 400


def test_command_reads_the_problem_from_stdin_with_a_dash():
    out = io.StringIO()

    call_command("optimize", "-", "--engine", "pyvrp", "--budget-s", "2",
                 stdin=io.StringIO(json.dumps(PROBLEM)), stdout=out)

    solution = json.loads(out.getvalue())
    assert solution["summary"]["engine"] == "pyvrp"
    assert solution["summary"]["cost"] == 400


def test_command_exits_2_with_the_field_on_stderr_for_an_invalid_problem(tmp_path):
    problem_file = tmp_path / "problem.json"
    problem_file.write_text(json.dumps(INVALID))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "ops.settings.test"}

    done = subprocess.run([sys.executable, "manage.py", "optimize", str(problem_file)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                          check=False)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip() == f"CommandError: {INVALID_MESSAGE}"


@pytest.fixture
def staff_client():
    client = APIClient()
    client.force_authenticate(UserFactory(username="optimize-dispatcher", role="dispatcher"))
    return client


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_api_returns_the_solution_to_staff(staff_client):
    response = staff_client.post("/api/v1/optimize?budget_s=0.5", PROBLEM, format="json")

    assert response.status_code == 200
    assert sorted(route_of(response.data)) == [10, 11]
    assert (response.data["summary"]["engine"], response.data["summary"]["matrix_source"]) \
        == ("vroom", "provided")


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_api_uses_pyvrp_when_the_budget_allows(staff_client):
    response = staff_client.post("/api/v1/optimize?budget_s=2", PROBLEM, format="json")

    assert response.status_code == 200
    assert response.data["summary"]["engine"] == "pyvrp"


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_api_refuses_an_invalid_problem_naming_the_field(staff_client):
    response = staff_client.post("/api/v1/optimize?budget_s=1", INVALID, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": INVALID_MESSAGE,
        "code": "invalid_problem",
        "errors": {"jobs[0].location_index": [
            "unknown location index 7: the matrices have 3 rows"]},
    }


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_api_refuses_a_body_that_is_not_an_object(staff_client):
    response = staff_client.post("/api/v1/optimize", [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"problem": ["the problem must be a JSON object"]}


@pytest.mark.django_db
@pytest.mark.urls(__name__)
@pytest.mark.parametrize("budget_s", ["0.05", "60.5", "soon"])
def test_api_refuses_a_budget_outside_0_1_to_60_seconds(staff_client, budget_s):
    response = staff_client.post(f"/api/v1/optimize?budget_s={budget_s}", PROBLEM,
                                 format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["budget_s"]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_api_refuses_anonymous_callers_with_401():
    response = APIClient().post("/api/v1/optimize", PROBLEM, format="json")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_api_refuses_citizens_with_403():
    client = APIClient()
    client.force_authenticate(UserFactory(username="optimize-citizen", role="citizen"))

    response = client.post("/api/v1/optimize", PROBLEM, format="json")

    assert response.status_code == 403
    assert response.json() == {"detail": "Only city staff may do this.",
                               "code": "permission_denied"}
