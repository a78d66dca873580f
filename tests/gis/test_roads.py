"""Importing OpenStreetMap roads into the pgRouting tables, from small files written here.

The test network, in metres east/north of ORIGIN (F and the footway's nodes are no vertices):

            G(7)            D(4) ──one-way──▶ F(6)
              ╲ footway      │                 │
               H(8)          │ Cross St        │ one-way (maxspeed 50)
                 ╲           │ (30)            ▼
    A(1) ──────────────── B(2) ──────────── C(3) ───── I(9)
           Main Street (primary, no maxspeed)    Harbour Road (30 mph)
                             │
                            E(5)
"""

import io
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import osmium
import pytest
from django.core.management import call_command

from gis.models import RoadEdge, RoadNetwork, RoadVertex
from gis.roads import BBox, RoadImportError, maxspeed_kmh, roads_import, way_rule
from tests.conftest import offset

ORIGIN = (24.93, 60.17)

NODES_M = {1: (0, 0), 2: (500, 0), 3: (1000, 0), 4: (500, 400), 5: (500, -400),
           6: (1000, 400), 7: (0, 400), 8: (250, 200), 9: (1500, 0)}
WAYS = {
    101: ([1, 2, 3], {"highway": "primary", "name": "Main Street"}),
    102: ([5, 2, 4], {"highway": "residential", "name": "Cross Street", "maxspeed": "30"}),
    103: ([4, 6, 3], {"highway": "residential", "name": "One Way", "oneway": "yes",
                      "maxspeed": "50"}),
    104: ([7, 8, 1], {"highway": "footway"}),
    105: ([3, 9], {"highway": "tertiary", "name": "Harbour Road", "maxspeed": "30 mph"}),
}
# Vertex ids follow the sorted OSM node ids of the way ends and junctions.
VERTEX_OF_NODE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 9: 6}
# Seconds per edge, by hand: metres / (km/h ÷ 3.6).
AB = BC = 500 / (60 / 3.6)  # 30.0
EB = BD = 400 / (30 / 3.6)  # 48.0
DC = 900 / (50 / 3.6)  # 64.8
CI = 500 / (30 * 1.609344 / 3.6)  # 37.28


def at(east_m: float, north_m: float) -> tuple[float, float]:
    return offset(*ORIGIN, east_m=east_m, north_m=north_m)


def node_lonlat(node_id: int) -> tuple[float, float]:
    """The node's coordinates as the file stores them (7 decimals)."""
    lon, lat = at(*NODES_M[node_id])
    return round(lon, 7), round(lat, 7)


def osm_write(path: Path, nodes: dict[int, tuple[float, float]],
              ways: dict[int, tuple[list[int], dict[str, str]]]) -> Path:
    """An OSM XML file: `nodes` as {id: (east_m, north_m) from ORIGIN}."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    for node_id, (east_m, north_m) in nodes.items():
        lon, lat = at(east_m, north_m)
        lines.append(f'  <node id="{node_id}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for way_id, (refs, tags) in ways.items():
        lines.append(f'  <way id="{way_id}" version="1">')
        lines += [f'    <nd ref="{ref}"/>' for ref in refs]
        lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def network_write(tmp_path: Path) -> Path:
    return osm_write(tmp_path / "network.osm", NODES_M, WAYS)


def pbf_write(source: Path, target: Path) -> Path:
    with osmium.SimpleWriter(str(target)) as writer:
        for obj in osmium.FileProcessor(str(source)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
    return target


def bbox_around(east_m: float, north_m: float, radius_m: float = 50) -> BBox:
    min_lon, min_lat = at(east_m - radius_m, north_m - radius_m)
    max_lon, max_lat = at(east_m + radius_m, north_m + radius_m)
    return BBox(min_lon, min_lat, max_lon, max_lat)


def edge_rows() -> list[tuple]:
    return list(RoadEdge.objects.order_by("id").values_list(
        "osm_way_id", "source", "target", "road_class", "name"))


@pytest.mark.django_db
def test_import_splits_ways_at_junctions_and_skips_footways(tmp_path):
    # given
    path = network_write(tmp_path)

    # when
    result = roads_import(path=path)

    # then
    assert (result.ways, result.edges, result.vertices) == (4, 6, 6)
    assert edge_rows() == [
        (101, 1, 2, "primary", "Main Street"),
        (101, 2, 3, "primary", "Main Street"),
        (102, 5, 2, "residential", "Cross Street"),
        (102, 2, 4, "residential", "Cross Street"),
        (103, 4, 3, "residential", "One Way"),
        (105, 3, 6, "tertiary", "Harbour Road"),
    ]
    assert list(RoadVertex.objects.order_by("id").values_list("id", "osm_node_id")) == [
        (vertex_id, node_id) for node_id, vertex_id in VERTEX_OF_NODE.items()]
    assert RoadVertex.objects.filter(snappable=True).count() == 6


@pytest.mark.django_db
def test_import_stores_geometries_of_nodes(tmp_path):
    # given
    path = network_write(tmp_path)

    # when
    roads_import(path=path)

    # then
    one_way = RoadEdge.objects.get(osm_way_id=103)
    assert np.array(one_way.geom.coords) == pytest.approx(
        np.array([node_lonlat(4), node_lonlat(6), node_lonlat(3)]), abs=1e-9)
    vertex = RoadVertex.objects.get(osm_node_id=9)
    assert vertex.geom.coords == pytest.approx(node_lonlat(9), abs=1e-9)


@pytest.mark.django_db
def test_import_costs_are_length_over_speed(tmp_path):
    # given
    path = network_write(tmp_path)

    # when
    roads_import(path=path)

    # then
    rows = list(RoadEdge.objects.order_by("id").values_list(
        "length_m", "maxspeed_kmh", "cost", "reverse_cost"))
    lengths, speeds, costs, reverse_costs = (list(column) for column in zip(*rows, strict=True))
    assert lengths == pytest.approx([500, 500, 400, 400, 900, 500], rel=0.01)
    assert speeds == pytest.approx([60, 60, 30, 30, 50, 48.28032], rel=1e-9)
    assert costs == pytest.approx([AB, BC, EB, BD, DC, CI], rel=0.01)
    assert reverse_costs == pytest.approx([AB, BC, EB, BD, -1, CI], rel=0.01)


@pytest.mark.django_db
def test_import_stores_reverse_one_way_in_driving_direction(tmp_path):
    # given: a street drivable only from node 2 to node 1
    path = osm_write(tmp_path / "reverse.osm", {1: (0, 0), 2: (300, 0)}, {
        201: ([1, 2], {"highway": "residential", "oneway": "-1"})})

    # when
    roads_import(path=path)

    # then
    edge = RoadEdge.objects.get()
    assert (edge.source, edge.target, edge.reverse_cost) == (2, 1, -1)
    assert edge.cost == pytest.approx(300 / (30 / 3.6), rel=0.01)
    assert edge.geom.coords[0] == pytest.approx(at(300, 0), abs=1e-7)


@pytest.mark.django_db
def test_import_bbox_keeps_whole_ways_touching_it(tmp_path):
    # given: a box around E only, which only Cross Street reaches
    path = network_write(tmp_path)

    # when
    result = roads_import(path=path, bbox=bbox_around(*NODES_M[5]))

    # then: B is no junction without Main Street, so Cross Street is one edge E → D
    assert (result.ways, result.edges, result.vertices) == (1, 1, 2)
    edge = RoadEdge.objects.get()
    assert (edge.osm_way_id, edge.length_m) == (102, pytest.approx(800, rel=0.01))
    assert list(RoadVertex.objects.order_by("id").values_list("osm_node_id", flat=True)) == [4, 5]


@pytest.mark.django_db
def test_reimport_replaces_the_network_with_the_same_rows(tmp_path):
    # given
    path = network_write(tmp_path)
    roads_import(path=path)
    first = list(RoadEdge.objects.order_by("id").values_list("id", "source", "target", "cost"))

    # when
    result = roads_import(path=path)

    # then
    assert (result.edges, RoadEdge.objects.count(), RoadVertex.objects.count()) == (6, 6, 6)
    assert list(RoadEdge.objects.order_by("id").values_list(
        "id", "source", "target", "cost")) == first
    assert RoadNetwork.objects.count() == 2


@pytest.mark.django_db
def test_import_with_nothing_routable_leaves_the_network_unchanged(tmp_path):
    # given
    path = network_write(tmp_path)
    roads_import(path=path)

    # when
    with pytest.raises(RoadImportError, match="no routable ways"):
        roads_import(path=path, bbox=bbox_around(5000, 5000))

    # then
    assert (RoadEdge.objects.count(), RoadVertex.objects.count()) == (6, 6)
    assert RoadNetwork.objects.count() == 1


@pytest.mark.django_db
def test_import_reads_pbf_like_xml(tmp_path):
    # given
    pbf = pbf_write(network_write(tmp_path), tmp_path / "network.osm.pbf")

    # when
    result = roads_import(path=pbf)

    # then
    assert (result.ways, result.edges, result.vertices) == (4, 6, 6)
    assert edge_rows()[4] == (103, 4, 3, "residential", "One Way")
    assert RoadEdge.objects.get(id=5).cost == pytest.approx(DC, rel=0.01)


@pytest.mark.django_db
def test_import_roads_command_prints_counts(tmp_path):
    # given
    path = network_write(tmp_path)
    box = bbox_around(*NODES_M[5])
    out = io.StringIO()

    # when
    call_command("import_roads", str(path), "--replace", "--bbox",
                 f"{box.min_lon},{box.min_lat},{box.max_lon},{box.max_lat}", stdout=out)

    # then
    assert out.getvalue().startswith("Imported 1 ways as 1 edges and 2 vertices (2 snappable) in ")
    assert RoadNetwork.objects.get().bbox == (
        f"{box.min_lon:g},{box.min_lat:g},{box.max_lon:g},{box.max_lat:g}")


@pytest.mark.parametrize(("value", "road_class", "expected"), [
    ("50", "primary", 50),
    ("50 km/h", "primary", 50),
    ("20kmh", "service", 20),
    ("30 mph", "residential", 48.28032),
    ("50;30", "secondary", 30),
    ("RU:urban", "residential", 30),
    ("none", "motorway", 100),
    ("walk", "living_street", 10),
    (None, "service", 20),
    (None, "unclassified", 40),
])
def test_maxspeed_parses_numbers_and_falls_back_to_class_speed(value, road_class, expected):
    assert maxspeed_kmh(value, road_class) == pytest.approx(expected)


@pytest.mark.parametrize(("tags", "oneway"), [
    ({"highway": "residential"}, 0),
    ({"highway": "residential", "oneway": "yes"}, 1),
    ({"highway": "residential", "oneway": "true"}, 1),
    ({"highway": "residential", "oneway": "1"}, 1),
    ({"highway": "residential", "oneway": "-1"}, -1),
    ({"highway": "tertiary", "junction": "roundabout"}, 1),
    ({"highway": "motorway"}, 1),
    ({"highway": "motorway", "oneway": "no"}, 0),
])
def test_way_rule_reads_one_way_tags(tags, oneway):
    assert way_rule(tags).oneway == oneway


@pytest.mark.parametrize("tags", [
    {"highway": "footway"},
    {"highway": "cycleway"},
    {"highway": "path"},
    {"highway": "steps"},
    {"highway": "track"},
    {"highway": "residential", "access": "no"},
    {"highway": "service", "motor_vehicle": "no"},
    {"highway": "service", "area": "yes"},
    {"building": "yes"},
])
def test_way_rule_skips_ways_vehicles_cannot_use(tags):
    assert way_rule(tags) is None


def test_way_rule_lets_vehicle_access_override_access_no():
    assert way_rule({"highway": "service", "access": "no", "motor_vehicle": "yes"}).speed_kmh == 20
