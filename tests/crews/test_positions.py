from datetime import timedelta

import pytest
from django.utils import timezone

from crews.models import Crew, CrewPosition
from crews.services.positions import positions_purge

pytestmark = pytest.mark.django_db


def ping(minutes_ago: float, lon=24.93, lat=60.17):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return {"lon": lon, "lat": lat, "recorded_at": at.isoformat(), "accuracy_m": 5}


def test_batch_is_stored_and_last_position_is_the_newest(crew_client, crew):
    batch = [ping(3, 24.930), ping(1, 24.932), ping(2, 24.931)]

    response = crew_client.post("/api/v1/crew/positions/", {"positions": batch}, format="json")

    assert response.status_code == 200
    assert response.json()["stored"] == 3
    crew.refresh_from_db()
    assert round(crew.last_position.x, 3) == 24.932


def test_resent_batch_stores_nothing_new(crew_client, crew):
    batch = [ping(3), ping(2)]
    crew_client.post("/api/v1/crew/positions/", {"positions": batch}, format="json")

    response = crew_client.post("/api/v1/crew/positions/", {"positions": batch}, format="json")

    assert response.json() == {"received": 2, "stored": 0,
                               "last_position_at": response.json()["last_position_at"]}
    assert CrewPosition.objects.count() == 2


def test_late_older_batch_does_not_move_the_crew_back(crew_client, crew):
    crew_client.post("/api/v1/crew/positions/", {"positions": [ping(1, 24.95)]}, format="json")

    crew_client.post("/api/v1/crew/positions/", {"positions": [ping(10, 24.93)]}, format="json")

    crew.refresh_from_db()
    assert round(crew.last_position.x, 2) == 24.95
    assert CrewPosition.objects.count() == 2


@pytest.mark.parametrize(("bad", "field"), [
    ({"lon": 200}, "positions[0]"),
    ({"recorded_at": "yesterday"}, "recorded_at"),
    ({"recorded_at": (timezone.now() + timedelta(hours=2)).isoformat()},
     "positions[0].recorded_at"),
])
def test_bad_ping_is_refused_and_nothing_stored(crew_client, crew, bad, field):
    response = crew_client.post("/api/v1/crew/positions/",
                                {"positions": [ping(1) | bad]}, format="json")

    assert response.status_code == 400
    assert field in str(response.json()["errors"])
    assert CrewPosition.objects.count() == 0
    assert Crew.objects.get(pk=crew.pk).last_position is None


def test_purge_removes_only_positions_past_retention(crew_client, crew):
    crew_client.post("/api/v1/crew/positions/",
                     {"positions": [ping(60 * 24 * 40), ping(5)]}, format="json")

    deleted = positions_purge(older_than=timedelta(days=30))

    assert deleted == 1
    assert CrewPosition.objects.count() == 1
