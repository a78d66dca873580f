"""Importing the road network from OpenStreetMap (.osm.pbf or .osm XML) into pgRouting tables.

Memory stays bounded for a national extract:

- node locations live in a libosmium index on disk (`sparse_file_array` in a temporary
  directory: 16 bytes per node in the file, paged by the OS), filled in C++ without a Python
  callback per node;
- pass 1 walks the routable ways only and appends their node ids to a compact int64 array
  (way ends twice); `np.unique(..., return_counts=True)` then gives the sorted ids of the
  nodes that become vertices (way ends, and nodes shared by two ways or visited twice).
  A vertex's id is its position in that sorted array + 1, so no dict of nodes is kept;
- pass 2 reads the ways again (locations from the same index), splits each at its vertices
  and COPYs the edges to a temporary table in batches; vertices are COPYed at the end from
  two float arrays;
- the database work is one transaction: temporary tables are filled first, then the live
  tables are replaced (TRUNCATE, INSERT … SELECT, GiST indexes rebuilt), so routing reads
  block only for that copy, never for the parse (seconds per million edges), and a failed
  import leaves the previous network in place.

Municipal vehicles are assumed to be vans and trucks: tracks, paths, footways, cycleways,
steps and pedestrian streets are skipped, as are `access=no` roads (private and destination
roads are kept: crews do serve courtyards and depots behind a gate).
"""

import json
import logging
import math
import re
import struct
import tempfile
import time
from array import array
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import osmium
from django.db import connection, transaction

from gis.models import RoadEdge, RoadNetwork, RoadVertex

logger = logging.getLogger(__name__)

# Speed (km/h) when a way has no usable maxspeed, by highway=*; also the routable classes.
DEFAULT_SPEED_KMH: dict[str, float] = {
    "motorway": 100, "motorway_link": 60,
    "trunk": 80, "trunk_link": 50,
    "primary": 60, "primary_link": 45,
    "secondary": 50, "secondary_link": 40,
    "tertiary": 40, "tertiary_link": 35,
    "unclassified": 40,
    "residential": 30,
    "living_street": 10,
    "service": 20,
    "road": 30,
}
ONEWAY_IMPLIED_CLASSES = {"motorway"}
ONEWAY_IMPLIED_JUNCTIONS = {"roundabout", "circular"}
ONEWAY_FORWARD = {"yes", "true", "1"}
ONEWAY_BACKWARD = {"-1", "reverse"}
ONEWAY_SKIPPED = {"reversible", "alternating"}  # direction changes by time of day
NO_ACCESS = {"no"}
VEHICLE_ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle")  # most specific first
MPH_KMH = 1.609344
NAME_MAX_LENGTH = 255
# Vertices of strongly connected components smaller than this (unless the component is the
# largest there is) do not snap: a point there could reach few or no other points.
SNAP_MIN_COMPONENT_VERTICES = 50
COPY_BATCH_ROWS = 20_000
NODE_INDEX = "sparse_file_array"

# WGS 84, for segment lengths.
_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694_379_990_14e-3
_COORDINATE_PRECISION = 10_000_000  # libosmium stores degrees × 1e7 as int32
_MAXSPEED = re.compile(r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>km/h|kmh|kph|mph)?")
_EWKB_LINESTRING = struct.pack("<BII", 1, 0x2000_0002, 4326)
_EWKB_POINT = struct.pack("<BII", 1, 0x2000_0001, 4326)

_EDGE_LOAD = "rasad_road_edge_load"
_VERTEX_LOAD = "rasad_road_vertex_load"
_COMPONENT_LOAD = "rasad_road_component_load"
_EDGE_COLUMNS = ("id", "source", "target", "cost", "reverse_cost", "length_m", "road_class",
                 "maxspeed_kmh", "name", "osm_way_id", "geom")


class RoadImportError(ValueError):
    pass


@dataclass(frozen=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, text: str) -> "BBox":
        """`minlon,minlat,maxlon,maxlat`, as osmium and most tools write it."""
        try:
            values = [float(part) for part in text.split(",")]
        except ValueError as exc:
            raise RoadImportError(f"bbox {text!r}: not four numbers") from exc
        if len(values) != 4:
            raise RoadImportError(f"bbox {text!r}: expected minlon,minlat,maxlon,maxlat")
        bbox = cls(*values)
        if not (-180 <= bbox.min_lon < bbox.max_lon <= 180
                and -90 <= bbox.min_lat < bbox.max_lat <= 90):
            raise RoadImportError(f"bbox {text!r}: min must be below max, in degrees")
        return bbox

    def fixed_point(self) -> tuple[int, int, int, int]:
        """The bbox in libosmium's integer coordinates (degrees × 1e7)."""
        return (math.floor(self.min_lon * _COORDINATE_PRECISION),
                math.floor(self.min_lat * _COORDINATE_PRECISION),
                math.ceil(self.max_lon * _COORDINATE_PRECISION),
                math.ceil(self.max_lat * _COORDINATE_PRECISION))


@dataclass(frozen=True)
class WayRule:
    road_class: str
    speed_kmh: float
    oneway: int  # 0 both ways, 1 along the way, -1 against it


@dataclass(frozen=True)
class RoadImportResult:
    ways: int
    edges: int
    vertices: int
    snappable_vertices: int
    seconds: float
    network: RoadNetwork


def maxspeed_kmh(value: str | None, road_class: str) -> float:
    """The speed a `maxspeed` tag gives, else the class default.

    Numbers are km/h unless followed by `mph`; several values (`50;30`) take the lowest;
    zone codes (`RU:urban`, `DE:zone30` without a number we trust), `none`, `signals`,
    `walk` and anything unparsable fall back to the class default.
    """
    default = DEFAULT_SPEED_KMH[road_class]
    if not value:
        return default
    speeds = []
    for part in value.split(";"):
        match = _MAXSPEED.fullmatch(part.strip().lower())
        if match is None:
            continue
        speed = float(match["number"]) * (MPH_KMH if match["unit"] == "mph" else 1.0)
        if 0 < speed < 300:
            speeds.append(speed)
    return min(speeds) if speeds else default


def way_rule(tags) -> WayRule | None:
    """How a way is driven, or None when it is not part of the routable network.

    `tags` is anything with `.get(key)`: an osmium TagList or a dict."""
    road_class = tags.get("highway")
    if road_class not in DEFAULT_SPEED_KMH or tags.get("area") == "yes":
        return None
    vehicle_access = next((tags.get(key) for key in VEHICLE_ACCESS_KEYS if tags.get(key)), None)
    if (vehicle_access or tags.get("access")) in NO_ACCESS:
        return None
    oneway_tag = (tags.get("oneway") or "").lower()
    if oneway_tag in ONEWAY_SKIPPED:
        return None
    if oneway_tag in ONEWAY_FORWARD:
        oneway = 1
    elif oneway_tag in ONEWAY_BACKWARD:
        oneway = -1
    elif oneway_tag == "no":
        oneway = 0
    elif (road_class in ONEWAY_IMPLIED_CLASSES
          or tags.get("junction") in ONEWAY_IMPLIED_JUNCTIONS):
        oneway = 1
    else:
        oneway = 0
    return WayRule(road_class=road_class, speed_kmh=maxspeed_kmh(tags.get("maxspeed"), road_class),
                   oneway=oneway)


def segment_lengths_m(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Lengths of the segments of a polyline on the WGS 84 ellipsoid.

    Each segment is measured in the tangent plane at its mid-latitude with the ellipsoid's
    meridional and normal radii of curvature: within 1e-5 of the geodesic for segments
    shorter than a few kilometres, which is what OSM ways are made of.
    """
    phi = np.radians((lat[1:] + lat[:-1]) / 2)
    sin2 = np.sin(phi) ** 2
    w = np.sqrt(1 - _WGS84_E2 * sin2)
    meridional = _WGS84_A * (1 - _WGS84_E2) / w**3
    normal = _WGS84_A / w
    dy = np.radians(np.diff(lat)) * meridional
    dx = np.radians(np.diff(lon)) * normal * np.cos(phi)
    return np.hypot(dx, dy)


def _ewkb_linestring_hex(lon: np.ndarray, lat: np.ndarray) -> str:
    coords = np.empty(2 * len(lon))
    coords[0::2], coords[1::2] = lon, lat
    return (_EWKB_LINESTRING + struct.pack("<I", len(lon)) + coords.tobytes()).hex()


def _ewkb_point_hex(lon: float, lat: float) -> str:
    return (_EWKB_POINT + struct.pack("<dd", lon, lat)).hex()


class _WayReader:
    """The routable ways of one file, each with its node ids and integer coordinates."""

    def __init__(self, path: Path, bbox: BBox | None, index: "osmium.index.LocationTable"):
        self.path = path
        self.bbox = bbox.fixed_point() if bbox else None
        self.index = index

    def _ways(self, *, first_pass: bool):
        if first_pass:
            # Nodes go into the disk index in C++; only ways reach Python.
            processor = (osmium.FileProcessor(str(self.path), osmium.osm.NODE | osmium.osm.WAY)
                         .with_locations(self.index)
                         .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY)))
        else:
            handler = osmium.NodeLocationsForWays(self.index)
            handler.ignore_errors()
            processor = osmium.FileProcessor(str(self.path), osmium.osm.WAY).with_filter(handler)
        return processor.with_filter(osmium.filter.KeyFilter("highway"))

    def read(self, *, first_pass: bool) -> Iterator[tuple[object, WayRule, list[int], list, list]]:
        """Yield (way, rule, node ids, x, y) for each routable way kept by the bbox.

        Nodes missing from the file (a clipped extract) are dropped, and so are immediate
        repeats of a node, so both passes see exactly the same node lists."""
        for way in self._ways(first_pass=first_pass):
            rule = way_rule(way.tags)
            if rule is None:
                continue
            refs, xs, ys = [], [], []
            for node in way.nodes:
                location = node.location
                if not location.valid() or (refs and refs[-1] == node.ref):
                    continue
                refs.append(node.ref)
                xs.append(location.x)
                ys.append(location.y)
            if len(refs) < 2:
                continue
            if self.bbox is not None:
                x0, y0, x1, y1 = self.bbox
                if not any(x0 <= x <= x1 and y0 <= y <= y1 for x, y in zip(xs, ys, strict=True)):
                    continue
            yield way, rule, refs, xs, ys


def _vertex_node_ids(reader: _WayReader) -> tuple[np.ndarray, int]:
    """Sorted OSM ids of the nodes that become vertices, and the number of ways kept."""
    refs_seen = array("q")
    ways = 0
    for _way, _rule, refs, _xs, _ys in reader.read(first_pass=True):
        ways += 1
        refs_seen.extend(refs)
        refs_seen.append(refs[0])  # way ends are always vertices: count them twice
        refs_seen.append(refs[-1])
    if not ways:
        return np.empty(0, dtype=np.int64), 0
    ids, counts = np.unique(np.frombuffer(refs_seen, dtype=np.int64), return_counts=True)
    del refs_seen
    return ids[counts >= 2], ways


def _temp_tables_create(cursor) -> None:
    _temp_tables_drop(cursor)  # left by an earlier import in the same transaction
    cursor.execute(f"CREATE TEMP TABLE {_EDGE_LOAD} (LIKE {RoadEdge._meta.db_table}) "
                   "ON COMMIT DROP")
    cursor.execute(f"CREATE TEMP TABLE {_VERTEX_LOAD} "
                   "(id bigint, osm_node_id bigint, geom geometry(Point, 4326)) ON COMMIT DROP")


def _temp_tables_drop(cursor) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {_EDGE_LOAD}, {_VERTEX_LOAD}, {_COMPONENT_LOAD}")


def _copy_rows(cursor, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# Other spellings of a street's name, kept for finding it by name (gis.geocode).
NAME_KEYS = ("alt_name", "official_name", "short_name", "old_name")


@dataclass
class StreetNames:
    """What the ways of one named street call it: other spellings, and the name in each
    language (OSM's name:<language> tags)."""

    others: set[str]
    by_language: dict[str, str]


def _street_names_add(names: dict[str, "StreetNames"], tags, name: str) -> None:
    entry = names.setdefault(name, StreetNames(others=set(), by_language={}))
    for key, value in tags:
        if not value or not (key.startswith("name:") or key in NAME_KEYS):
            continue
        value = value[:NAME_MAX_LENGTH]
        if value != name:
            entry.others.add(value)
        if key.startswith("name:") and len(key) <= 10:
            entry.by_language.setdefault(key[5:], value)


def _edges_load(cursor, reader: _WayReader, vertex_ids: np.ndarray,
                street_names: dict[str, StreetNames]) -> int:
    """Split the ways at their vertices, COPY the edges; COPY the vertices. Returns edges.
    Fills `street_names` with what the ways call each named street."""
    vertex_lon = np.full(len(vertex_ids), np.nan)
    vertex_lat = np.full(len(vertex_ids), np.nan)
    last = len(vertex_ids) - 1
    rows: list[tuple] = []
    edge_id = 0
    for way, rule, refs, xs, ys in reader.read(first_pass=False):
        ids = np.array(refs, dtype=np.int64)
        lon = np.array(xs, dtype=np.float64) / _COORDINATE_PRECISION
        lat = np.array(ys, dtype=np.float64) / _COORDINATE_PRECISION
        if rule.oneway == -1:  # store it in the drivable direction
            ids, lon, lat = ids[::-1], lon[::-1], lat[::-1]
        index = np.searchsorted(vertex_ids, ids)
        at_vertex = np.flatnonzero(vertex_ids[np.minimum(index, last)] == ids)
        vertex_lon[index[at_vertex]] = lon[at_vertex]
        vertex_lat[index[at_vertex]] = lat[at_vertex]
        travelled = np.concatenate(([0.0], np.cumsum(segment_lengths_m(lon, lat))))
        speed_ms = rule.speed_kmh / 3.6
        name = (way.tags.get("name") or "")[:NAME_MAX_LENGTH]
        if name:
            _street_names_add(street_names, way.tags, name)
        for start, end in pairwise(at_vertex.tolist()):
            edge_id += 1
            length_m = float(travelled[end] - travelled[start])
            cost = length_m / speed_ms
            rows.append((
                edge_id, int(index[start]) + 1, int(index[end]) + 1, cost,
                -1.0 if rule.oneway else cost, length_m, rule.road_class, rule.speed_kmh,
                name, way.id, _ewkb_linestring_hex(lon[start:end + 1], lat[start:end + 1]),
            ))
        if len(rows) >= COPY_BATCH_ROWS:
            _copy_rows(cursor, _EDGE_LOAD, _EDGE_COLUMNS, rows)
            rows = []
    _copy_rows(cursor, _EDGE_LOAD, _EDGE_COLUMNS, rows)

    for start in range(0, len(vertex_ids), COPY_BATCH_ROWS):
        stop = min(start + COPY_BATCH_ROWS, len(vertex_ids))
        _copy_rows(cursor, _VERTEX_LOAD, ("id", "osm_node_id", "geom"), [
            (i + 1, int(vertex_ids[i]), _ewkb_point_hex(vertex_lon[i], vertex_lat[i]))
            for i in range(start, stop)
        ])
    return edge_id


def _components_compute(cursor) -> None:
    """Strongly connected components of the loaded graph, and which vertices may snap."""
    cursor.execute(
        f"CREATE TEMP TABLE {_COMPONENT_LOAD} ON COMMIT DROP AS "
        "SELECT node AS vertex_id, component FROM pgr_strongComponents(%s)",
        [f"SELECT id, source, target, cost, reverse_cost FROM {_EDGE_LOAD}"],
    )
    cursor.execute(f"ALTER TABLE {_COMPONENT_LOAD} ADD COLUMN snappable boolean")
    cursor.execute(
        f"""
        WITH sizes AS (
            SELECT component, count(*) AS size FROM {_COMPONENT_LOAD} GROUP BY component
        ), threshold AS (
            SELECT least(%s, max(size)) AS size FROM sizes
        )
        UPDATE {_COMPONENT_LOAD} c SET snappable = s.size >= (SELECT size FROM threshold)
        FROM sizes s WHERE s.component = c.component
        """,
        [SNAP_MIN_COMPONENT_VERTICES],
    )


def _network_replace(cursor, *, record: dict) -> RoadNetwork:
    """Swap the loaded network into the live tables, and record the import."""
    edges, vertices = RoadEdge._meta.db_table, RoadVertex._meta.db_table
    with transaction.atomic():  # part of the import's transaction; a savepoint
        cursor.execute(f"TRUNCATE {edges}, {vertices}")
        # Filling the tables and then building their GiST indexes takes half the time of
        # inserting through them. The definitions are read back, so names stay Django's.
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = ANY(%s::regclass[]) AND NOT indisunique",
            [[edges, vertices]],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute(f"INSERT INTO {edges} SELECT * FROM {_EDGE_LOAD}")
        cursor.execute(
            f"INSERT INTO {vertices} (id, osm_node_id, geom, component, snappable) "
            f"SELECT v.id, v.osm_node_id, v.geom, c.component, coalesce(c.snappable, false) "
            f"FROM {_VERTEX_LOAD} v LEFT JOIN {_COMPONENT_LOAD} c ON c.vertex_id = v.id"
        )
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute(f"SELECT count(*) FROM {vertices} WHERE snappable")
        (snappable,) = cursor.fetchone()
        network = RoadNetwork.objects.create(snappable_vertices=snappable, **record)
    cursor.execute(f"ANALYZE {edges}")
    cursor.execute(f"ANALYZE {vertices}")
    return network


def streets_rebuild(cursor, *, street_names: dict[str, StreetNames] | None = None) -> int:
    """The street names of the network (gis.models.Street), from its named edges and what
    their ways call them. Returns how many streets there are."""
    from gis.models import Street

    streets, edges = Street._meta.db_table, RoadEdge._meta.db_table
    cursor.execute(f"TRUNCATE {streets}")
    street_names = street_names or {}
    others = {name: sorted(n.others) for name, n in street_names.items() if n.others}
    languages = {name: n.by_language for name, n in street_names.items() if n.by_language}
    cursor.execute(
        f"""
        INSERT INTO {streets} (name, names, names_by_language, point)
        SELECT s.name,
               ARRAY[s.name]::varchar[]
               || ARRAY(SELECT jsonb_array_elements_text(%s::jsonb -> s.name))::varchar[],
               coalesce(%s::jsonb -> s.name, '{{}}'::jsonb),
               ST_ClosestPoint(s.geom, ST_Centroid(s.geom))
        FROM (SELECT name, ST_Collect(geom) AS geom FROM {edges} WHERE name <> ''
              GROUP BY name) s
        """,
        [json.dumps(others), json.dumps(languages)])
    cursor.execute(f"SELECT count(*) FROM {streets}")
    return cursor.fetchone()[0]


def roads_import(*, path: Path | str, bbox: BBox | None = None, node_index: str = NODE_INDEX,
                 tmp_dir: Path | str | None = None) -> RoadImportResult:
    """Replace the road network with the routable ways of an OSM file (.osm.pbf or .osm).

    With `bbox`, only ways with at least one node inside it are kept (whole, not cut).
    Importing the same file twice gives the same tables: ids are assigned in file order.
    The node index (`node_index`, a libosmium map type) is written under `tmp_dir` and
    removed afterwards; for a planet-size file use `dense_file_array`.
    """
    path = Path(path)
    if not path.is_file():
        raise RoadImportError(f"no such file: {path}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rasad-roads-", dir=tmp_dir) as workdir:
        try:
            index = osmium.index.create_map(f"{node_index},{workdir}/nodes.idx"
                                            if "file" in node_index else node_index)
        except (RuntimeError, ValueError) as exc:
            raise RoadImportError(f"node index {node_index!r}: {exc}") from exc
        reader = _WayReader(path, bbox, index)
        try:
            vertex_ids, ways = _vertex_node_ids(reader)
        except RuntimeError as exc:  # osmium's reading and parsing errors
            raise RoadImportError(f"cannot read {path}: {exc}") from exc
        if not ways:
            raise RoadImportError(f"no routable ways in {path}"
                                  + (f" inside {bbox}" if bbox else "")
                                  + "; the network is unchanged")
        logger.info("roads: %s ways, %s vertices after pass 1 (%.1f s)",
                    ways, len(vertex_ids), time.monotonic() - started)
        # One transaction: a failure anywhere leaves the live tables and no temp tables.
        # The live tables are locked only from the TRUNCATE in _network_replace.
        with transaction.atomic(), connection.cursor() as cursor:
            _temp_tables_create(cursor)
            street_names: dict[str, StreetNames] = {}
            edges = _edges_load(cursor, reader, vertex_ids, street_names)
            logger.info("roads: %s edges loaded (%.1f s)", edges, time.monotonic() - started)
            _components_compute(cursor)
            logger.info("roads: components (%.1f s)", time.monotonic() - started)
            network = _network_replace(cursor, record={
                "source_file": str(path)[-500:],
                "bbox": ",".join(f"{v:g}" for v in astuple(bbox)) if bbox else "",
                "ways": ways, "edges": edges, "vertices": len(vertex_ids),
                "seconds": time.monotonic() - started,
            })
            _temp_tables_drop(cursor)
            streets_rebuild(cursor, street_names=street_names)
    from gis.geocode import geocode_index_reset

    geocode_index_reset()
    return RoadImportResult(ways=ways, edges=edges, vertices=len(vertex_ids),
                            snappable_vertices=network.snappable_vertices,
                            seconds=time.monotonic() - started, network=network)
