"""Crews, shifts, live positions, route plans and the crew phone's action log."""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.db.models import F, Func, Q
from django.utils.translation import gettext_lazy as _

from gis.models import ServiceArea
from incidents.models import Category, Department, Incident

SKILLS = [
    ("plow", _("snow plow")),
    ("salt-spreader", _("salt spreader")),
    ("asphalt", _("asphalt patching")),
    ("electrician", _("electrician")),
    ("plumbing", _("plumbing")),
    ("sewage-truck", _("sewage truck")),
    ("waste-truck", _("waste truck")),
    ("chainsaw", _("chainsaw")),
    ("animal-control", _("animal control")),
]


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = models.DateTimeField()


class Crew(models.Model):
    code = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="crews")
    vehicle = models.CharField(max_length=200, blank=True)
    skills = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    capacity = models.PositiveIntegerField(default=100, help_text=_("Work units per shift"))
    depot = models.PointField(srid=4326)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="crews")
    active = models.BooleanField(default=True)
    last_position = models.PointField(srid=4326, null=True, blank=True)
    last_position_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("crew")
        verbose_name_plural = _("crews")

    def __str__(self) -> str:
        return self.name


class Shift(models.Model):
    crew = models.ForeignKey(Crew, on_delete=models.CASCADE, related_name="shifts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")),
                                   name="shift_ends_after_start"),
            ExclusionConstraint(
                name="shift_no_overlap_per_crew",
                expressions=[(TsTzRange("starts_at", "ends_at"), RangeOperators.OVERLAPS),
                             ("crew", RangeOperators.EQUAL)],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.crew} {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}"


class CrewPosition(models.Model):
    """One GPS ping. The device's timestamp is the key: a resent batch adds nothing."""

    crew = models.ForeignKey(Crew, on_delete=models.CASCADE, related_name="positions")
    location = models.PointField(srid=4326)
    recorded_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    accuracy_m = models.FloatField(null=True, blank=True)
    speed_mps = models.FloatField(null=True, blank=True)
    heading_deg = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["crew", "recorded_at"], name="position_once"),
        ]
        indexes = [models.Index(fields=["recorded_at"], name="position_recorded")]

    def __str__(self) -> str:
        return f"{self.crew_id} @ {self.recorded_at:%H:%M:%S}"


class RoutePlan(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        PUBLISHED = "published", _("published")
        SUPERSEDED = "superseded", _("superseded")

    class Kind(models.TextChoices):
        WORK = "work", _("work orders")
        SNOW = "snow", _("snow plowing")

    crew = models.ForeignKey(Crew, on_delete=models.PROTECT, related_name="plans")
    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="plans")
    version = models.PositiveIntegerField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PUBLISHED)
    # A crew has at most one published plan of each kind: a snow plan supersedes only the
    # previous snow plan, never the crew's work orders.
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WORK)
    engine = models.CharField(max_length=20)
    matrix_source = models.CharField(max_length=20)
    distance_m = models.FloatField(default=0)
    duration_s = models.FloatField(default=0)
    starts_at = models.DateTimeField()
    geometry = models.LineStringField(srid=4326, null=True, blank=True)
    # Snow plans: the road edges the plow clears, in the order it clears them (an edge plowed
    # in both directions appears twice), and their total length; the rest is deadheading.
    covered_edges = ArrayField(models.BigIntegerField(), default=list, blank=True)
    covered_m = models.FloatField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["crew", "version"], name="plan_version_unique"),
        ]
        ordering = ["crew", "-version"]

    def __str__(self) -> str:
        return f"{self.crew} v{self.version}"


class RouteStop(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        STARTED = "started", _("started")
        DONE = "done", _("done")
        RETURNED = "returned", _("returned to dispatch")
        REMOVED = "removed", _("removed")

    plan = models.ForeignKey(RoutePlan, on_delete=models.CASCADE, related_name="stops")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="route_stops")
    sequence = models.PositiveIntegerField()
    eta = models.DateTimeField()
    departs_at = models.DateTimeField()
    service_s = models.PositiveIntegerField(default=0)
    travel_s = models.FloatField(default=0)
    distance_m = models.FloatField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    locked = models.BooleanField(default=False, help_text=_("Keep this stop at its position"))

    class Meta:
        ordering = ["plan", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "sequence"], name="stop_sequence_unique"),
            models.UniqueConstraint(fields=["plan", "incident"], name="stop_incident_once"),
        ]

    def __str__(self) -> str:
        return f"{self.plan} #{self.sequence}: {self.incident_id}"


class DispatchPin(models.Model):
    """A dispatcher's decision that an incident goes to one crew."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="pin")
    crew = models.ForeignKey(Crew, on_delete=models.CASCADE, related_name="pins")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.incident_id} → {self.crew}"


class CrewAction(models.Model):
    """Every phone call that changes something, keyed by the phone's own id, so a queue
    replayed after a dead zone does nothing twice; the stored response is returned again."""

    client_id = models.CharField(max_length=100, unique=True)
    crew = models.ForeignKey(Crew, on_delete=models.PROTECT, related_name="actions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                             related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20)
    response_status = models.PositiveSmallIntegerField()
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.client_id}: {self.action}"


class EmergencyMode(models.Model):
    """Storm mode: a manager's declaration that a hazard hits a service area from `starts_at`
    to `ends_at`. While it runs, the hazard's categories come first and weigh more, and intake
    of the paused categories is refused. It is active when started, not ended, not cancelled
    and not yet past `ends_at` (readers check the time themselves; the beat task only records
    the end). Two live modes of one area never overlap (an exclusion constraint)."""

    class Hazard(models.TextChoices):
        SNOW_STORM = "snow_storm", _("snow storm")
        FLOOD = "flood", _("flood")
        WIND_STORM = "wind_storm", _("wind storm")
        HEAT_WAVE = "heat_wave", _("heat wave")
        OTHER = "other", _("other hazard")

    area = models.ForeignKey(ServiceArea, on_delete=models.PROTECT,
                             related_name="emergency_modes")
    hazard = models.CharField(max_length=20, choices=Hazard.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    categories = models.ManyToManyField(
        Category, related_name="+", blank=True,
        help_text=_("The hazard's categories: shown first, their priority raised."))
    paused_categories = models.ManyToManyField(
        Category, related_name="+", blank=True,
        help_text=_("Categories whose new reports are refused while the mode runs."))
    priority_bonus = models.PositiveSmallIntegerField(
        default=20, help_text=_("Added to the priority of the hazard's open incidents."))
    message_en = models.TextField(_("message (English)"))
    message_ar = models.TextField(_("message (Arabic)"), blank=True)
    message_fa = models.TextField(_("message (Persian)"), blank=True)
    pause_message_en = models.TextField(_("pause message (English)"), blank=True)
    pause_message_ar = models.TextField(_("pause message (Arabic)"), blank=True)
    pause_message_fa = models.TextField(_("pause message (Persian)"), blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")
    # Set once the mode has run out by itself (the beat task): priorities were put back.
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("storm mode")
        verbose_name_plural = _("storm modes")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")),
                                   name="emergency_ends_after_start"),
            ExclusionConstraint(
                name="emergency_no_overlap_per_area",
                expressions=[(TsTzRange("starts_at", "ends_at"), RangeOperators.OVERLAPS),
                             ("area", RangeOperators.EQUAL)],
                condition=Q(cancelled_at__isnull=True),
                violation_error_message=_("Another storm mode of this area overlaps that "
                                          "time; end it first."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_hazard_display()} {self.area_id} {self.starts_at:%Y-%m-%d %H:%M}"

    def message_in(self, language: str) -> str:
        return getattr(self, f"message_{language[:2]}", "") or self.message_en

    def pause_message_in(self, language: str) -> str:
        return getattr(self, f"pause_message_{language[:2]}", "") or self.pause_message_en
