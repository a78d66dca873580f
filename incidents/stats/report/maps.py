"""The district map: the districts' polygons as inline SVG, shaded by a figure, so that it
prints (in the PDF too) with no tile server and no network."""

import math

from django.utils.translation import gettext as _

from incidents.stats.report.locale import Numbers

ON_TIME_COLOURS = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")  # 0 → 100 %
BACKLOG_COLOURS = ("#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000")  # few → many
NO_DATA = "#f0f0f0"
MAP_WIDTH = 400  # SVG units
MAP_MAX_MM = (86, 90)  # the largest a map is printed, two side by side on A4


def _projector(boundaries: list):
    """Lon/lat → SVG x/y, MAP_WIDTH wide (equirectangular at the area's mid latitude: true
    shapes at city scale); also the map's height and a simplification tolerance (degrees)
    below what the printed map can show."""
    xmin = min(b.extent[0] for b in boundaries)
    ymin = min(b.extent[1] for b in boundaries)
    xmax = max(b.extent[2] for b in boundaries)
    ymax = max(b.extent[3] for b in boundaries)
    squeeze = math.cos(math.radians((ymin + ymax) / 2))
    scale = MAP_WIDTH / max((xmax - xmin) * squeeze, 1e-9)
    height = max((ymax - ymin) * scale, 1.0)

    def project(x: float, y: float) -> tuple[float, float]:
        return (x - xmin) * squeeze * scale, (ymax - y) * scale

    return project, height, max(xmax - xmin, ymax - ymin) / 500


def _path(geometry, project) -> str:
    parts = []
    # Simplifying a multipolygon of one part can give a polygon.
    polygons = [geometry] if geometry.geom_type == "Polygon" else list(geometry)
    for polygon in polygons:
        for ring in polygon:
            points = [project(x, y) for x, y in ring.coords]
            parts.append("M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in points) + " Z")
    return " ".join(parts)


def _class(value: float | None, top: float) -> int | None:
    if value is None:
        return None
    if top <= 0:
        return 0
    return min(4, int(value / top * 5))


def district_maps(districts: list[dict], numbers: Numbers) -> list[dict]:
    """Two choropleths of the districts: the share resolved within SLA and the backlog at
    the month's end. Each is the polygons as SVG paths, labels placed over them in HTML
    (so that Arabic and Persian names are laid out like the rest of the text), a legend,
    and its printed width."""
    if not districts:
        return []
    project, height, tolerance = _projector([d["boundary"] for d in districts])
    shapes = [(d, _path(d["boundary"].simplify(tolerance, preserve_topology=True), project),
               project(*d["boundary"].point_on_surface.coords)) for d in districts]
    width_mm = min(MAP_MAX_MM[0], MAP_MAX_MM[1] * MAP_WIDTH / height)
    top_backlog = max(d["open"] for d in districts)
    step = max(1, math.ceil(top_backlog / 5))
    maps = []
    for key, title, colours in (
            ("on_time", _("Resolved within SLA"), ON_TIME_COLOURS),
            ("backlog", _("Open at the month's end"), BACKLOG_COLOURS)):
        items = []
        for district, path, (x, y) in shapes:
            if key == "on_time":
                index = _class(district["on_time_share"], 1.0)
                value = numbers.percent(district["on_time_share"], 0)
            else:
                index = min(4, district["open"] // step)
                value = numbers.count(district["open"])
            # Numbers as strings: the template would write 73.1 as "73,1" in Arabic.
            items.append({"path": path, "fill": NO_DATA if index is None else colours[index],
                          "left": f"{x / MAP_WIDTH * 100:.2f}%", "top": f"{y / height * 100:.2f}%",
                          "name": district["name"], "value": value,
                          "dark": index is not None and index >= 3})
        if key == "on_time":
            legend = [(colours[i], numbers.digits(f"{i * 20}–{(i + 1) * 20}%"))
                      for i in range(5)] + [(NO_DATA, _("no resolutions"))]
        else:
            legend = [(colours[i], numbers.digits(
                f"{i * step}+" if i == 4 else str(i) if step == 1
                else f"{i * step}–{(i + 1) * step - 1}")) for i in range(5)]
        maps.append({"key": key, "title": title, "items": items, "legend": legend,
                     "width": str(MAP_WIDTH), "height": f"{height:.1f}",
                     "width_mm": f"{width_mm:.1f}mm"})
    return maps
