"""Reads of the road network for maps: the streets drawn when basemap tiles cannot load."""

import json

from django.db import connection

ROADS_SQL = """
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(f), '[]'))
FROM (
    SELECT json_build_object(
        'type', 'Feature',
        'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, %(tolerance)s), 6)::json,
        'properties', json_build_object('class', road_class, 'name', name)) AS f
    FROM rasad_gis_roadedge
    WHERE geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)
      AND road_class = ANY(%(classes)s)
    LIMIT %(limit)s
) features
"""

MAJOR = ["motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link",
         "primary_link", "secondary_link"]
MINOR = [*MAJOR, "tertiary", "tertiary_link", "unclassified", "residential", "living_street",
         "service", "road"]


def road_lines_geojson(*, bbox: tuple[float, float, float, float], zoom: int,
                       limit: int = 20000) -> dict:
    """Road centre lines in the box as GeoJSON; at low zoom only major roads, simplified."""
    x0, y0, x1, y1 = bbox
    classes = MINOR if zoom >= 14 else MAJOR
    tolerance = 0.0 if zoom >= 16 else 360 / (256 * 2 ** zoom)
    with connection.cursor() as cursor:
        cursor.execute(ROADS_SQL, {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "classes": classes,
                                   "tolerance": tolerance, "limit": limit})
        (collection,) = cursor.fetchone()
    return collection if isinstance(collection, dict) else json.loads(collection)
