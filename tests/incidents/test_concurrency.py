"""Two reports of one pothole at the same moment end in one incident, through real HTTP."""

import threading

import httpx
import pytest

from incidents.models import Incident, Report
from tests.conftest import CENTRE, offset

pytestmark = pytest.mark.django_db(transaction=True)


def _post_all_at_once(url: str, bodies: list[dict]) -> list[int]:
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = [0] * len(bodies)

    def post(i: int, body: dict) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            statuses[i] = client.post(url, json=body).status_code

    threads = [threading.Thread(target=post, args=(i, b)) for i, b in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.parametrize("parallel", [2, 8])
def test_simultaneous_reports_of_one_pothole_make_one_incident(live_server, category, district,
                                                               parallel):
    points = [offset(*CENTRE, east_m=3 * i) for i in range(parallel)]
    bodies = [{"category": "pothole", "lon": lon, "lat": lat} for lon, lat in points]

    statuses = _post_all_at_once(f"{live_server.url}/api/v1/reports/", bodies)

    assert statuses == [201] * parallel
    assert Report.objects.count() == parallel
    assert Incident.objects.count() == 1
    assert Incident.objects.get().report_count == parallel


def test_simultaneous_reports_far_apart_make_separate_incidents(live_server, category, district):
    points = [offset(*CENTRE, north_m=200 * i) for i in range(4)]
    bodies = [{"category": "pothole", "lon": lon, "lat": lat} for lon, lat in points]

    statuses = _post_all_at_once(f"{live_server.url}/api/v1/reports/", bodies)

    assert statuses == [201] * 4
    assert sorted(Incident.objects.values_list("report_count", flat=True)) == [1, 1, 1, 1]


def test_simultaneous_retries_with_one_idempotency_key_store_one_report(live_server, category,
                                                                         district):
    url = f"{live_server.url}/api/v1/reports/"
    body = {"category": "pothole", "lon": CENTRE[0], "lat": CENTRE[1], "description": "x"}
    barrier = threading.Barrier(4)
    codes: list[str] = []

    def post() -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            response = client.post(url, json=body, headers={"Idempotency-Key": "retry-1"})
            codes.append(response.json()["properties"]["tracking_code"])

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Report.objects.count() == 1
    assert set(codes) == {Report.objects.get().tracking_code}
