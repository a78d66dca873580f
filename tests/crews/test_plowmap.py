"""Road passes from winter crews' GPS traces (incremental, idempotent) and the public plow
map's cached GeoJSON, over the parallel streets of tests/gis/test_matching.py."""

import json
from datetime import timedelta

import pytest
from django.contrib.gis.geos import Point
from django.utils import timezone

from crews.models import Crew, CrewPosition
from crews.services.plowmap import plow_map_refresh, plow_passes_match, vehicle_id
from gis.models import RoadPass, TraceWatermark
from tests.gis.test_matching import at, edge, streets_load

NOW = timezone.now().replace(microsecond=0)
START = NOW - timedelta(minutes=30)


@pytest.fixture
def streets(tmp_path):
    streets_load(tmp_path)


def make_crew(code: str, skills: list[str]) -> Crew:
    return Crew.objects.create(code=code, name=f"Crew {code}", skills=skills,
                               depot=Point(*at(0, 0), srid=4326))


@pytest.fixture(autouse=True)
def _clock():
    """Each test's own now: its pings are received (received_at) when it runs, which in a
    long run is well after this module was imported."""
    global NOW, START
    NOW = timezone.now().replace(microsecond=0)
    START = NOW - timedelta(minutes=30)


def ping_along_south_street(crew: Crew, xs: range, *, start=None) -> None:
    """Pings every 5 s along South St (eastwards: x metres from its west end)."""
    start = start or START
    CrewPosition.objects.bulk_create([
        CrewPosition(crew=crew, location=Point(*at(x, 2), srid=4326),
                     recorded_at=start + timedelta(seconds=5 * i), accuracy_m=8)
        for i, x in enumerate(xs)])


def passes(crew: Crew) -> list[tuple[int, bool, str]]:
    return list(RoadPass.objects.filter(crew_id=crew.pk).order_by("passed_at", "task")
                .values_list("edge_id", "forward", "task"))


@pytest.mark.django_db
def test_passes_recorded_per_task_from_the_crews_equipment(streets):
    # given: a plow with a spreader, a plow, and an asphalt crew, all on South St
    both = make_crew("plow-2", ["plow", "salt-spreader"])
    plow = make_crew("road-1", ["asphalt", "plow"])
    asphalt = make_crew("asphalt-1", ["asphalt"])
    for crew in (both, plow, asphalt):
        ping_along_south_street(crew, range(20, 600, 40))

    # when
    run = plow_passes_match(now=NOW + timedelta(minutes=1))

    # then
    south_west, south_east = edge(4, 5), edge(5, 6)
    assert passes(both) == [(*south_west, "plowing"), (*south_west, "salting"),
                            (*south_east, "plowing"), (*south_east, "salting")]
    assert passes(plow) == [(*south_west, "plowing"), (*south_east, "plowing")]
    assert passes(asphalt) == []
    assert (run.crews, run.pings, run.passes) == (2, 30, 6)
    assert RoadPass.objects.get(crew_id=plow.pk, edge_id=south_west[0]).passed_at == START


@pytest.mark.django_db
def test_running_again_stores_nothing_twice(streets):
    # given: a plow's trace matched once
    plow = make_crew("road-1", ["plow"])
    ping_along_south_street(plow, range(20, 600, 40))
    plow_passes_match(now=NOW + timedelta(minutes=1))

    # when
    again = plow_passes_match(now=NOW + timedelta(minutes=2))

    # then
    assert (again.pings, again.passes) == (0, 0)
    assert RoadPass.objects.count() == 2
    mark = TraceWatermark.objects.get(crew_id=plow.pk)
    assert mark.last_position_id == CrewPosition.objects.filter(crew=plow).latest("pk").pk


@pytest.mark.django_db
def test_a_drive_cut_by_the_run_boundary_is_one_pass(streets):
    # given: the first half of the drive along South St matched, then the second half arrives
    plow = make_crew("road-1", ["plow"])
    ping_along_south_street(plow, range(20, 200, 40))
    plow_passes_match(now=NOW + timedelta(minutes=1))
    ping_along_south_street(plow, range(220, 600, 40), start=START + timedelta(seconds=25))

    # when
    plow_passes_match(now=NOW + timedelta(minutes=2))

    # then: West half of South St once, east half once
    assert passes(plow) == [(*edge(4, 5), "plowing"), (*edge(5, 6), "plowing")]


@pytest.mark.django_db
def test_pings_still_settling_wait_for_the_next_run(streets):
    # given: pings received just now
    plow = make_crew("road-1", ["plow"])
    ping_along_south_street(plow, range(20, 600, 40))

    # when: the run happens within the settling time of their arrival
    run = plow_passes_match(now=timezone.now())

    # then
    assert (run.pings, RoadPass.objects.count()) == (0, 0)


@pytest.mark.django_db
def test_plowed_geojson_after_a_replayed_trace_without_a_query(streets, client,
                                                                django_assert_num_queries):
    # given: a plow's trace matched and the map built
    plow = make_crew("road-1", ["plow"])
    ping_along_south_street(plow, range(20, 600, 40))
    plow_passes_match(now=NOW + timedelta(minutes=1))
    plow_map_refresh(now=NOW + timedelta(minutes=1))

    # when
    with django_assert_num_queries(0):
        response = client.get("/open-data/plowed.geojson")

    # then: South St plowed at the trace's times, North St not; the crew only by an opaque id
    body = response.content.decode()
    data = json.loads(body)
    assert (response.status_code, response["Content-Type"]) == (200, "application/geo+json")
    by_edge = {f["properties"]["edge"]: f["properties"] for f in data["features"]}
    south = by_edge[edge(4, 5)[0]]
    assert (south["last_plowed_at"], south["plowed_by"], south["last_salted_at"],
            south["road_class"], south["priority"]) == (
        START.isoformat().replace("+00:00", "Z"), vehicle_id(plow.pk), None, "residential", 4)
    assert set(by_edge) == {edge(4, 5)[0], edge(5, 6)[0]}
    assert "road-1" not in body
    assert "Crew road-1" not in body
    assert "crew" not in body
    assert vehicle_id(plow.pk).startswith("v-")


@pytest.mark.django_db
def test_plows_shown_where_they_were_minutes_ago(streets, client, settings,
                                                 django_assert_num_queries):
    # given: a plow 10 minutes ago at 100 m, 2 minutes ago at 500 m; a 5-minute delay
    settings.RASAD_PLOW_DELAY_MINUTES = 5
    plow = make_crew("road-1", ["plow", "salt-spreader"])
    CrewPosition.objects.bulk_create([
        CrewPosition(crew=plow, location=Point(*at(100, 0), srid=4326),
                     recorded_at=NOW - timedelta(minutes=10)),
        CrewPosition(crew=plow, location=Point(*at(500, 0), srid=4326),
                     recorded_at=NOW - timedelta(minutes=2))])
    plow_map_refresh(now=NOW)

    # when
    with django_assert_num_queries(0):
        response = client.get("/public/plows/vehicles.geojson")

    # then
    (feature,) = response.json()["features"]
    assert feature["geometry"]["coordinates"] == [round(c, 6) for c in at(100, 0)]
    assert feature["properties"] == {
        "vehicle": vehicle_id(plow.pk), "tasks": ["plowing", "salting"],
        "at": (NOW - timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
        "heading_deg": None}


@pytest.mark.django_db
def test_unchanged_document_answers_not_modified(streets, client):
    # given
    plow_map_refresh(now=NOW)
    first = client.get("/open-data/plowed.geojson")

    # when
    again = client.get("/open-data/plowed.geojson", HTTP_IF_NONE_MATCH=first["ETag"])

    # then
    assert (again.status_code, again.content, again["ETag"]) == (304, b"", first["ETag"])


@pytest.mark.django_db
def test_before_the_first_build_the_data_is_503_with_a_reason(client):
    # when: nothing cached yet
    response = client.get("/open-data/plowed.geojson", HTTP_ACCEPT_LANGUAGE="en")

    # then
    assert (response.status_code, response["Retry-After"], response.json()) == (
        503, "60", {"detail": "The plow map is being prepared. Try again in a minute.",
                    "code": "not_ready"})


@pytest.mark.django_db
def test_the_demo_replays_a_storm_shift_once(streets, client):
    # given: the demo city and crews (two of them plows) over the test streets
    from fixtures.city import demo_city_load, demo_crews_load
    from fixtures.plow_traces import storm_shift_replay

    demo_city_load()
    demo_crews_load()

    # when
    stored = storm_shift_replay(hours=0.5, legs=20)
    again = storm_shift_replay(hours=0.5, legs=20)

    # then: both plows drove and left passes; the map is built; a second run adds nothing
    plows = Crew.objects.filter(code__in=["road-1", "plow-2"])
    assert (stored > 0, again) == (True, 0)
    assert CrewPosition.objects.filter(crew__in=plows).count() == stored
    assert set(RoadPass.objects.values_list("crew_id", flat=True)) == {c.pk for c in plows}
    assert set(RoadPass.objects.filter(crew_id=plows.get(code="plow-2").pk)
               .values_list("task", flat=True)) == {"plowing", "salting"}
    shaded = [f for f in client.get("/open-data/plowed.geojson").json()["features"]
              if f["properties"]["last_plowed_at"]]
    assert len(shaded) > 0


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_store_each_pass_once(streets):
    # given: a plow's trace, and two workers running the match at the same moment
    import threading

    from django.db import connection

    plow = make_crew("road-1", ["plow"])
    ping_along_south_street(plow, range(20, 600, 40))
    barrier = threading.Barrier(2)
    runs = []

    def worker():
        barrier.wait()
        try:
            runs.append(plow_passes_match(now=NOW + timedelta(minutes=1)))
        finally:
            connection.close()

    # when
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then: one run matched the pings, the other found them done
    assert sorted(run.passes for run in runs) == [0, 2]
    assert passes(plow) == [(*edge(4, 5), "plowing"), (*edge(5, 6), "plowing")]


@pytest.mark.django_db
def test_passes_are_read_only_in_the_admin(streets, client, django_user_model):
    # given: a matched trace and an administrator
    plow = make_crew("road-1", ["plow"])
    ping_along_south_street(plow, range(20, 600, 40))
    plow_passes_match(now=NOW + timedelta(minutes=1))
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.org", "x"))

    # when
    listed = client.get("/admin/rasad_gis/roadpass/")
    added = client.get("/admin/rasad_gis/roadpass/add/")

    # then
    assert (listed.status_code, listed.context["cl"].result_count, added.status_code) == (
        200, 2, 403)
