"""Loading areas from GeoJSON and finding which area and district hold a point."""

import json
from dataclasses import dataclass
from pathlib import Path

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Point, Polygon
from django.db import transaction
from django.utils.text import slugify

from gis.geo import utm_srid_for
from gis.models import District, ServiceArea


class AreaFileError(ValueError):
    pass


def _multipolygon(geometry: dict) -> MultiPolygon:
    geom = GEOSGeometry(json.dumps(geometry), srid=4326)
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=4326)
    if not isinstance(geom, MultiPolygon):
        raise AreaFileError(f"expected Polygon or MultiPolygon, got {geom.geom_type}")
    if not geom.valid:
        geom = geom.buffer(0)
        if isinstance(geom, Polygon):
            geom = MultiPolygon(geom, srid=4326)
    return geom


@dataclass(frozen=True)
class AreaLoadResult:
    area: ServiceArea
    districts: int


@transaction.atomic
def area_load_geojson(*, path: Path | str) -> AreaLoadResult:
    """Load a FeatureCollection: one feature with `"kind": "area"`, the rest districts.

    Properties: `slug` or `code`, `name_en`, `name_ar`, `name_fa`, optional `metric_srid`.
    When no feature is marked as the area, the area is the union of the districts and
    its slug and names come from the collection's top-level `properties`. Loading the same
    file twice updates in place.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AreaFileError(f"cannot read {path}: {exc}") from exc
    if data.get("type") != "FeatureCollection" or not data.get("features"):
        raise AreaFileError("the file must be a GeoJSON FeatureCollection with features")
    area_features = [f for f in data["features"] if f.get("properties", {}).get("kind") == "area"]
    district_features = [f for f in data["features"] if f not in area_features]
    if area_features:
        props = area_features[0]["properties"]
        boundary = _multipolygon(area_features[0]["geometry"])
    else:
        props = data.get("properties") or {}
        union = None
        for feature in district_features:
            geom = _multipolygon(feature["geometry"])
            union = geom if union is None else union.union(geom)
        boundary = union if isinstance(union, MultiPolygon) else MultiPolygon(union, srid=4326)
    slug = props.get("slug") or slugify(props.get("name_en", "area"))
    area, _created = ServiceArea.objects.update_or_create(
        slug=slug,
        defaults={
            "name_en": props.get("name_en", slug),
            "name_ar": props.get("name_ar", ""),
            "name_fa": props.get("name_fa", ""),
            "boundary": boundary,
            "metric_srid": int(props.get("metric_srid")
                               or utm_srid_for(boundary.centroid.x, boundary.centroid.y)),
        },
    )
    for feature in district_features:
        fprops = feature.get("properties", {})
        code = fprops.get("code") or slugify(fprops.get("name_en", ""))
        if not code:
            raise AreaFileError("every district needs a code or name_en")
        District.objects.update_or_create(
            area=area,
            code=code,
            defaults={
                "name_en": fprops.get("name_en", code),
                "name_ar": fprops.get("name_ar", ""),
                "name_fa": fprops.get("name_fa", ""),
                "boundary": _multipolygon(feature["geometry"]),
            },
        )
    return AreaLoadResult(area=area, districts=len(district_features))


def area_for_point(point: Point) -> ServiceArea | None:
    return ServiceArea.objects.filter(boundary__intersects=point).order_by("pk").first()


def district_for_point(point: Point, area: ServiceArea) -> District | None:
    return area.districts.filter(boundary__intersects=point).order_by("pk").first()


@dataclass(frozen=True)
class Placement:
    area_id: int
    district_id: int | None
    district_code: str | None


PLACE_SQL = "SELECT area_id, district_id, district_code FROM rasad_place(%s, %s)"


def place_point(point: Point) -> Placement | None:
    """The area and district holding a point: one indexed query that returns ids only (no
    boundary geometry is fetched), the database function intake uses too."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(PLACE_SQL, [point.x, point.y])
        row = cursor.fetchone()
    return Placement(area_id=row[0], district_id=row[1], district_code=row[2]) if row else None
