"""Map matching of hand-drawn GPS traces over a small hand-built network.

In metres east/north of ORIGIN (vertices are numbered by their OSM node ids):

    N1(0,40) ───── North St ───── N2(300,40) ───── North St ───── N3(600,40)
      │                              │ Cross St (40 m)                │
    S4(0,0)  ───── South St ───── S5(300,0)  ───── South St ───── S6(600,0)

The two streets are 40 m apart: a ping 22 m north of South St is nearer North St.
"""

from datetime import UTC, datetime, timedelta

import pytest

from gis.matching import Ping, match
from gis.models import RoadEdge, RoadVertex
from gis.roads import roads_import
from tests.gis.test_roads import at, osm_write

NODES = {1: (0, 40), 2: (300, 40), 3: (600, 40), 4: (0, 0), 5: (300, 0), 6: (600, 0)}
WAYS = {
    201: ([1, 2, 3], {"highway": "residential", "name": "North St"}),
    202: ([4, 5, 6], {"highway": "residential", "name": "South St"}),
    203: ([2, 5], {"highway": "residential", "name": "Cross St"}),
    204: ([1, 4], {"highway": "residential", "name": "West End"}),
    205: ([3, 6], {"highway": "residential", "name": "East End"}),
}
T0 = datetime(2026, 1, 15, 5, 0, tzinfo=UTC)


def streets_load(directory) -> None:
    """The network drawn above, imported (other modules' fixtures call this too)."""
    roads_import(path=osm_write(directory / "parallel.osm", NODES, WAYS))


@pytest.fixture
def streets(tmp_path):
    streets_load(tmp_path)


def edge(a: int, b: int) -> tuple[int, bool]:
    """(edge id, forward) of the edge between OSM nodes a and b, driven from a to b."""
    vertex = dict(RoadVertex.objects.values_list("osm_node_id", "id"))
    found = RoadEdge.objects.filter(source=vertex[a], target=vertex[b]).first()
    if found:
        return found.pk, True
    return RoadEdge.objects.get(source=vertex[b], target=vertex[a]).pk, False


def drive(points_m: list[tuple[float, float]], *, start: datetime = T0, every_s: float = 5,
          accuracy_m: float = 10) -> list[Ping]:
    return [Ping(*at(east, north), at=start + timedelta(seconds=every_s * i),
                 accuracy_m=accuracy_m) for i, (east, north) in enumerate(points_m)]


def driven(result) -> list[tuple[int, bool]]:
    return [(t.edge_id, t.forward) for t in result.traversals]


@pytest.mark.django_db
def test_parallel_street_noise_stays_on_the_street_driven(streets):
    # given: east along South St, every other ping drifting 22 m north (nearer North St)
    points = [(10 + 40 * i, 22 if i % 2 else -4) for i in range(15)]

    # when
    result = match(drive(points))

    # then
    assert driven(result) == [edge(4, 5), edge(5, 6)]
    assert (result.pings, result.kept, result.matched, result.pieces) == (15, 15, 15, 1)


@pytest.mark.django_db
def test_u_turn_mid_street_drives_the_edge_both_ways(streets):
    # given: east on South St to 260 m, turning round, and back west
    east = [(20 + 40 * i, -3) for i in range(7)]
    back = [(240 - 40 * i, 3) for i in range(6)]

    # when
    result = match(drive(east + back))

    # then
    assert driven(result) == [edge(4, 5), edge(5, 4)]
    assert [t.at for t in result.traversals] == [T0, T0 + timedelta(seconds=35)]


@pytest.mark.django_db
def test_gps_gap_splits_the_trace_and_guesses_nothing_across_it(streets):
    # given: east on South St, ten minutes of silence, then east on North St
    south = drive([(20 + 40 * i, 2) for i in range(6)])
    north = drive([(360 + 40 * i, 38) for i in range(5)], start=T0 + timedelta(minutes=10))

    # when
    result = match(south + north)

    # then: the cross street between them is not among the edges driven
    assert driven(result) == [edge(4, 5), edge(2, 3)]
    assert [t.trace for t in result.traversals] == [0, 1]
    assert result.pieces == 2


@pytest.mark.django_db
def test_short_edge_between_two_pings_is_completed_from_the_road_path(streets):
    # given: on North St at 200 m, then 30 s later on South St at 400 m (via Cross St)
    pings = drive([(200, 40), (400, 0)], every_s=30)

    # when
    result = match(pings)

    # then: North St, Cross St south, South St; Cross St entered between the two pings
    assert driven(result) == [edge(1, 2), edge(2, 5), edge(5, 6)]
    assert (result.traversals[1].at - T0).total_seconds() == pytest.approx(30 * 100 / 240, abs=0.05)


@pytest.mark.django_db
def test_parked_vehicle_jitter_is_one_pass_not_many(streets):
    # given: parked on South St at 150 m for five minutes, jittering 5 m either way
    jitter = [(150 + (5 if i % 2 else -5), (3 if i % 3 else -3)) for i in range(60)]

    # when
    result = match(drive(jitter))

    # then
    assert driven(result) == [edge(4, 5)]
    assert (result.kept, result.pieces) == (1, 1)


@pytest.mark.django_db
def test_pings_far_from_any_road_match_nothing(streets):
    # given: a walk 300 m north of the streets
    result = match(drive([(100 + 40 * i, 340) for i in range(5)]))

    # then
    assert (result.traversals, result.matched, result.pieces) == ([], 0, 0)
