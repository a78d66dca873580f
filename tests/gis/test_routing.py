"""Snapping, matrices and paths over the small network of test_roads (see its drawing)."""


import numpy as np
import pytest
from django.contrib.gis.geos import Point

from gis.roads import roads_import
from gis.routing import route_path, route_paths, snap, travel_matrix
from tests.gis.test_roads import (
    AB,
    BC,
    BD,
    CI,
    DC,
    EB,
    at,
    network_write,
    node_lonlat,
    osm_write,
)

# scipy is a dependency: both engines always run.
ENGINES = ["pgrouting", "scipy"]
ACCESS_M_S = 15 / 3.6
FALLBACK_M_S = 30 / 3.6
# Two points on one meridian, 0.01° apart: 6,371,008.8 m × 0.01 × π/180.
MERIDIAN_GAP_M = 1111.9508


def point(east_m: float, north_m: float) -> Point:
    return Point(*at(east_m, north_m), srid=4326)


def node_point(node_id: int) -> Point:
    return Point(*node_lonlat(node_id), srid=4326)


@pytest.fixture
def network(tmp_path):
    return roads_import(path=network_write(tmp_path))


@pytest.mark.django_db
def test_snap_finds_nearest_vertex_within_reach(network):
    # given: 30 m south of A, and 2 km south of it
    points = [point(0, -30), point(0, -2000)]

    # when
    near, far = snap(points)

    # then
    assert (near.vertex_id, near.distance_m) == (1, pytest.approx(30, rel=0.01))
    assert near.vertex.coords == pytest.approx(node_point(1).coords, abs=1e-7)
    assert (far.snapped, far.vertex_id, far.distance_m) == (False, None, None)


@pytest.mark.django_db
def test_snap_ranks_candidates_in_metres_not_degrees(tmp_path):
    # given: a vertex 150 m east (0.0027° of longitude) and one 200 m north (0.0018°)
    roads_import(path=osm_write(tmp_path / "two.osm",
                                {1: (150, 0), 2: (1150, 0), 3: (0, 200), 4: (0, 1200)},
                                {1: ([1, 2], {"highway": "residential"}),
                                 2: ([3, 4], {"highway": "residential"})}))

    # when
    (found,) = snap([point(0, 0)])

    # then
    assert (found.vertex_id, found.distance_m) == (1, pytest.approx(150, rel=0.01))


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES)
def test_matrix_follows_roads_and_one_way_streets(network, engine):
    # given: points on A, C, D, E, I
    points = [node_point(node) for node in (1, 3, 4, 5, 9)]

    # when
    matrix = travel_matrix(points, engine=engine)

    # then: D → C takes the one-way street, C → D goes back through B
    assert (matrix.source, matrix.fallback_pairs) == ("road_network", 0)
    assert np.array(matrix.durations_s) == pytest.approx(np.array([
        [0, AB + BC, AB + BD, AB + EB, AB + BC + CI],
        [BC + AB, 0, BC + BD, BC + EB, CI],
        [BD + AB, DC, 0, BD + EB, DC + CI],
        [EB + AB, EB + BC, EB + BD, 0, EB + BC + CI],
        [CI + BC + AB, CI, CI + BC + BD, CI + BC + EB, 0],
    ]), rel=0.01)
    assert np.array(matrix.distances_m) == pytest.approx(np.array([
        [0, 1000, 900, 900, 1500],
        [1000, 0, 900, 900, 500],
        [900, 900, 0, 800, 1400],
        [900, 900, 800, 0, 1400],
        [1500, 500, 1400, 1400, 0],
    ]), rel=0.01)


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES)
def test_matrix_adds_the_access_stretch_of_off_road_points(network, engine):
    # given: 30 m south of A, and C
    points = [point(0, -30), node_point(3)]

    # when
    matrix = travel_matrix(points, engine=engine)

    # then
    assert matrix.durations_s == [[0, pytest.approx(30 / ACCESS_M_S + AB + BC, rel=0.01)],
                                  [pytest.approx(BC + AB + 30 / ACCESS_M_S, rel=0.01), 0]]
    assert matrix.distances_m == [[0, pytest.approx(1030, rel=0.01)],
                                  [pytest.approx(1030, rel=0.01), 0]]


@pytest.mark.django_db
def test_matrix_without_network_is_great_circle_times_detour():
    # given
    points = [Point(24.93, 60.17, srid=4326), Point(24.93, 60.18, srid=4326)]

    # when
    matrix = travel_matrix(points)

    # then
    metres = MERIDIAN_GAP_M * 1.3
    assert (matrix.source, matrix.fallback_pairs) == ("great_circle", 2)
    assert matrix.durations_s == [[0, pytest.approx(metres / FALLBACK_M_S, rel=1e-6)],
                                  [pytest.approx(metres / FALLBACK_M_S, rel=1e-6), 0]]
    assert matrix.distances_m == [[0, pytest.approx(metres, rel=1e-6)],
                                  [pytest.approx(metres, rel=1e-6), 0]]


@pytest.mark.django_db
def test_matrix_estimates_points_too_far_to_snap(network):
    # given: A, and a point 0.02° due north of it, over 1 km from any road
    a = node_point(1)
    points = [a, Point(a.x, a.y + 0.02, srid=4326)]

    # when
    matrix = travel_matrix(points)

    # then
    metres = 2 * MERIDIAN_GAP_M * 1.3
    assert (matrix.source, matrix.fallback_pairs) == ("road_network", 2)
    assert matrix.durations_s[0][1] == pytest.approx(metres / FALLBACK_M_S, rel=1e-6)


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES)
def test_matrix_penalises_pairs_the_network_does_not_connect(tmp_path, engine):
    # given: two separate streets on one meridian, ends 0.005° apart
    lon, lat = 24.93, 60.17
    path = tmp_path / "islands.osm"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6">
  <node id="1" version="1" lon="{lon}" lat="{lat}"/>
  <node id="2" version="1" lon="{lon}" lat="{lat + 0.005}"/>
  <node id="3" version="1" lon="{lon}" lat="{lat + 0.010}"/>
  <node id="4" version="1" lon="{lon}" lat="{lat + 0.015}"/>
  <way id="1" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way>
  <way id="2" version="1"><nd ref="3"/><nd ref="4"/><tag k="highway" v="residential"/></way>
</osm>
""")
    roads_import(path=path)
    points = [Point(lon, lat + 0.005, srid=4326), Point(lon, lat + 0.010, srid=4326)]

    # when
    matrix = travel_matrix(points, engine=engine)

    # then: half the meridian gap × detour × penalty 2
    metres = MERIDIAN_GAP_M / 2 * 1.3 * 2
    assert (matrix.source, matrix.fallback_pairs) == ("road_network", 2)
    assert matrix.durations_s[0][1] == pytest.approx(metres / FALLBACK_M_S, rel=1e-6)
    assert matrix.distances_m[1][0] == pytest.approx(metres, rel=1e-6)


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES)
def test_route_path_follows_the_roads_through_the_stops(network, engine):
    # given: A → D → C
    stops = [node_point(1), node_point(4), node_point(3)]

    # when
    path = route_path(stops, engine=engine)

    # then: A, B, D, then the one-way street through F to C
    assert path.source == "road_network"
    assert np.array(path.geometry.coords) == pytest.approx(
        np.array([node_point(n).coords for n in (1, 2, 4, 6, 3)]), abs=1e-7)
    assert [leg.duration_s for leg in path.legs] == pytest.approx([AB + BD, DC], rel=0.01)
    assert (path.duration_s, path.distance_m) == (pytest.approx(AB + BD + DC, rel=0.01),
                                                  pytest.approx(1800, rel=0.01))
    geodesic_m = path.geometry.transform(32635, clone=True).length
    assert geodesic_m == pytest.approx(1800, rel=0.01)


@pytest.mark.django_db
@pytest.mark.parametrize("engine", ENGINES)
def test_route_path_starts_and_ends_at_off_road_points(network, engine):
    # given: 30 m south of A, to 20 m north of I
    stops = [point(0, -30), point(1500, 20)]

    # when
    path = route_path(stops, engine=engine)

    # then
    coords = path.geometry.coords
    assert (coords[0], coords[1]) == (stops[0].coords, pytest.approx(node_point(1).coords))
    assert (coords[-2], coords[-1]) == (pytest.approx(node_point(9).coords), stops[1].coords)
    assert path.duration_s == pytest.approx(50 / ACCESS_M_S + AB + BC + CI, rel=0.01)
    assert path.distance_m == pytest.approx(1550, rel=0.01)


@pytest.mark.django_db
def test_route_paths_serves_several_routes_in_one_call(network):
    # given
    routes = [[node_point(1), node_point(3)], [node_point(3), node_point(4)]]

    # when
    paths = route_paths(routes)

    # then
    assert [p.duration_s for p in paths] == pytest.approx([AB + BC, BC + BD], rel=0.01)


@pytest.mark.django_db
def test_route_path_without_network_is_a_straight_estimated_line():
    # given
    stops = [Point(24.93, 60.17, srid=4326), Point(24.93, 60.18, srid=4326)]

    # when
    path = route_path(stops)

    # then
    assert path.source == "great_circle"
    assert path.geometry.coords == ((24.93, 60.17), (24.93, 60.18))
    assert path.duration_s == pytest.approx(MERIDIAN_GAP_M * 1.3 / FALLBACK_M_S, rel=1e-6)
    assert path.distance_m == pytest.approx(MERIDIAN_GAP_M * 1.3, rel=1e-6)


def test_route_path_needs_two_points():
    with pytest.raises(ValueError, match="at least two points"):
        route_path([Point(24.93, 60.17, srid=4326)])
