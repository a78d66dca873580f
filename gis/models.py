"""Service areas and their districts."""

from django.contrib.gis.db import models
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
    # A metric projection for planar work (DBSCAN eps, buffers) in this city.
    metric_srid = models.PositiveIntegerField(default=3857)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("service area")

    def __str__(self) -> str:
        return self.name_en


class District(TranslatedNameMixin):
    area = models.ForeignKey(ServiceArea, on_delete=models.CASCADE, related_name="districts")
    code = models.SlugField()
    boundary = models.MultiPolygonField(srid=4326)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("district")
        constraints = [
            models.UniqueConstraint(fields=["area", "code"], name="district_unique_code_per_area"),
        ]

    def __str__(self) -> str:
        return f"{self.name_en} ({self.area.slug})"
