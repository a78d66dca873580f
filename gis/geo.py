"""Small spatial helpers shared by the apps. Distances are metres."""

import hashlib
import math

from django.contrib.gis.geos import Point
from django.db import connection

METRES_PER_DEGREE_LAT = 111_320.0


def point_from_lonlat(lon: float, lat: float) -> Point:
    return Point(float(lon), float(lat), srid=4326)


def utm_srid_for(lon: float, lat: float) -> int:
    """The WGS 84 / UTM zone SRID holding a point: a metric projection good to ~0.1%."""
    zone = min(60, int((lon + 180) // 6) + 1)
    return (32600 if lat >= 0 else 32700) + zone


def cell_lock_keys(*, namespace: int, lon: float, lat: float, radius_m: float) -> list[int]:
    """Advisory-lock keys for every grid cell the disc of `radius_m` around the point touches.

    The grid has cells 2·radius tall. Two points within `radius_m` of each other both touch
    the cell holding their midpoint, so they always share a key and serialise; points far
    apart share none and run in parallel. Keys are sorted so lockers never deadlock.
    """
    cell_deg = 2 * radius_m / METRES_PER_DEGREE_LAT
    dlat = radius_m / METRES_PER_DEGREE_LAT
    dlon = radius_m / (METRES_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 0.01))
    x0, x1 = math.floor((lon - dlon) / cell_deg), math.floor((lon + dlon) / cell_deg)
    y0, y1 = math.floor((lat - dlat) / cell_deg), math.floor((lat + dlat) / cell_deg)
    keys = set()
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            digest = hashlib.blake2b(f"{namespace}:{x}:{y}".encode(), digest_size=8).digest()
            keys.add(int.from_bytes(digest, "big", signed=True))
    return sorted(keys)


def advisory_xact_lock(keys: list[int]) -> None:
    """Take transaction-scoped advisory locks, in the given (sorted) order."""
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) "
            "WITH ORDINALITY AS t(k, n)",
            [keys],
        )


def text_lock_key(text: str) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
