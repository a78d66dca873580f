"""Leaflet maps built with folium, its assets pointed at the vendored local copies.

folium writes the map's container and the script that creates it; the pages add their own
layers to that map (its JS name is `MapParts.name`)."""

from dataclasses import dataclass

from django.conf import settings
from django.templatetags.static import static
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class MapParts:
    name: str
    html: SafeString
    script: SafeString
    css: tuple[str, ...]
    js: tuple[str, ...]


def local_assets() -> tuple[tuple[str, ...], tuple[str, ...]]:
    css = (static("vendor/leaflet/leaflet.css"),
           static("vendor/leaflet.markercluster/MarkerCluster.css"),
           static("vendor/leaflet.markercluster/MarkerCluster.Default.css"))
    js = (static("vendor/leaflet/leaflet.js"),
          static("vendor/leaflet.markercluster/leaflet.markercluster.js"),
          static("vendor/leaflet.heat/leaflet-heat.js"))
    return css, js


def leaflet_map(*, center: tuple[float, float], zoom: int = 15, rtl: bool = False) -> MapParts:
    """A map centred on (lon, lat) with the configured basemap. folium's own CDN asset list
    is replaced: the page loads Leaflet and its plugins from /static/vendor/."""
    import folium  # loaded by the first page with a map, not with the app (it is large)

    lon, lat = center
    m = folium.Map(location=[lat, lon], zoom_start=zoom, tiles=None, control_scale=True,
                   prefer_canvas=True)
    m.default_js = []
    m.default_css = []
    folium.TileLayer(tiles=settings.RASAD_TILE_URL, attr=settings.RASAD_TILE_ATTRIBUTION,
                     name="basemap", max_zoom=19).add_to(m)
    figure = m.get_root()
    figure.render()
    css, js = local_assets()
    return MapParts(name=m.get_name(), html=mark_safe(figure.html.render()),
                    script=mark_safe(figure.script.render()), css=css, js=js)
