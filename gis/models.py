"""Service areas and their districts."""

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.utils import translation
from django.utils.translation import gettext_lazy as _


class TranslatedNameMixin(models.Model):
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200, blank=True)
    name_fa = models.CharField(_("name (Persian)"), max_length=200, blank=True)

    class Meta:
        abstract = True

    def name_in(self, language: str | None = None) -> str:
        language = (language or translation.get_language() or "en")[:2]
        return getattr(self, f"name_{language}", "") or self.name_en

    @property
    def name(self) -> str:
        return self.name_in()


class ServiceArea(TranslatedNameMixin):
    slug = models.SlugField(unique=True)
    boundary = models.MultiPolygonField(srid=4326)
    # A metric projection for planar work (DBSCAN eps, buffers) in this city; empty means the
    # UTM zone of the area's centre. (Web Mercator would double distances at 60° N.)
    metric_srid = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("service area")
        verbose_name_plural = _("service areas")

    def __str__(self) -> str:
        return self.name_en

    @property
    def projection_srid(self) -> int:
        from gis.geo import utm_srid_for

        if self.metric_srid:
            return self.metric_srid
        centre = self.boundary.centroid
        return utm_srid_for(centre.x, centre.y)


class District(TranslatedNameMixin):
    area = models.ForeignKey(ServiceArea, on_delete=models.CASCADE, related_name="districts")
    code = models.SlugField()
    boundary = models.MultiPolygonField(srid=4326)
    population = models.PositiveIntegerField(null=True, blank=True,
                                             help_text=_("Residents, for reports per 1,000."))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("district")
        verbose_name_plural = _("districts")
        constraints = [
            models.UniqueConstraint(fields=["area", "code"], name="district_unique_code_per_area"),
        ]

    def __str__(self) -> str:
        return f"{self.name_en} ({self.area.slug})"


class RoadNetwork(models.Model):
    """One import of the road network. The latest row describes what the road tables hold;
    its pk is the network's version (caches of the graph are keyed by it)."""

    source_file = models.CharField(max_length=500)
    bbox = models.CharField(max_length=100, blank=True)
    ways = models.PositiveIntegerField()
    edges = models.PositiveIntegerField()
    vertices = models.PositiveIntegerField()
    snappable_vertices = models.PositiveIntegerField()
    seconds = models.FloatField()
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("road network import")

    def __str__(self) -> str:
        return f"{self.source_file} ({self.edges} edges, {self.imported_at:%Y-%m-%d %H:%M})"


class RoadVertex(models.Model):
    """A road junction or way end of the imported network (pgRouting's vertex table).

    Ids are assigned by the import (1..n) and are what `RoadEdge.source`/`target` hold.
    `component` is the strongly connected component (pgRouting's id: its smallest vertex
    id); `snappable` is false for vertices in small islands (a gated car park, a one-way
    street cut by the import bbox) so that points snap where every other point is reachable.
    """

    id = models.BigIntegerField(primary_key=True)
    osm_node_id = models.BigIntegerField()
    geom = models.PointField(srid=4326)
    component = models.BigIntegerField(null=True)
    snappable = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("road vertex")

    def __str__(self) -> str:
        return f"vertex {self.pk} (node {self.osm_node_id})"


class RoadEdge(models.Model):
    """A stretch of road between two vertices, in pgRouting's edge-table conventions.

    `cost` is seconds from source to target, `reverse_cost` seconds back, -1 where the road
    is one-way (the geometry always runs source → target, in the drivable direction).
    """

    id = models.BigIntegerField(primary_key=True)
    source = models.BigIntegerField()
    target = models.BigIntegerField()
    cost = models.FloatField()
    reverse_cost = models.FloatField()
    length_m = models.FloatField()
    road_class = models.CharField(max_length=32)
    maxspeed_kmh = models.FloatField()
    name = models.CharField(max_length=255, blank=True)
    osm_way_id = models.BigIntegerField()
    geom = models.LineStringField(srid=4326)

    class Meta:
        verbose_name = _("road edge")

    def __str__(self) -> str:
        return f"edge {self.pk} ({self.road_class} {self.name})".strip()


class Street(models.Model):
    """A named street of the road network, for finding places by name: every spelling OSM
    gives it (name, name:ar, name:fa, name:en…, alt_name), its name per language, and a
    point on it near its middle.
    Rebuilt with every network import (gis.roads.streets_rebuild)."""

    name = models.CharField(max_length=255)
    names = ArrayField(models.CharField(max_length=255), default=list)
    # {"ar": "…", "fa": "…", "en": "…"}: the street named in a reader's language.
    names_by_language = models.JSONField(default=dict, blank=True)
    point = models.PointField(srid=4326)

    class Meta:
        verbose_name = _("street")

    def __str__(self) -> str:
        return self.name


class RoadPass(models.Model):
    """A vehicle drove a road edge doing a winter task, from its GPS trace (gis.matching).

    `edge_id` is a `RoadEdge` id of `network`'s import: no foreign key, since an import
    replaces the edge table (passes of older networks stay, and the plow map skips them).
    `crew_id` likewise names a crew without this app knowing crews; the public never sees
    it (see `vehicle_id` in crews.services.plowmap)."""

    class Task(models.TextChoices):
        PLOWING = "plowing", _("plowing")
        SALTING = "salting", _("salting and anti-slip")

    network = models.ForeignKey(RoadNetwork, on_delete=models.CASCADE, related_name="passes")
    edge_id = models.BigIntegerField()
    crew_id = models.BigIntegerField()
    task = models.CharField(max_length=12, choices=Task.choices)
    forward = models.BooleanField(help_text=_("Along the edge's geometry (source to target)"))
    passed_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("road pass")
        verbose_name_plural = _("road passes")
        constraints = [
            models.UniqueConstraint(fields=["crew_id", "edge_id", "task", "passed_at"],
                                    name="road_pass_once"),
        ]
        indexes = [
            models.Index(fields=["network", "edge_id", "task", "-passed_at"],
                         name="road_pass_latest"),
            models.Index(fields=["passed_at"], name="road_pass_time"),
        ]

    def __str__(self) -> str:
        return f"edge {self.edge_id} {self.task} by {self.crew_id} @ {self.passed_at:%H:%M}"


class TraceWatermark(models.Model):
    """How far one vehicle's GPS pings have been matched: the last ping id read, and the
    edge it was last on (so a drive split across two runs is one pass, not two)."""

    crew_id = models.BigIntegerField(unique=True)
    last_position_id = models.BigIntegerField(default=0)
    last_edge_id = models.BigIntegerField(null=True, blank=True)
    last_forward = models.BooleanField(null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("GPS trace watermark")

    def __str__(self) -> str:
        return f"crew {self.crew_id} to ping {self.last_position_id}"
