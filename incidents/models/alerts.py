"""Area alerts and notices: citizens subscribe to a district, a drawn area or the whole city
(and to categories) and hear of new and resolved incidents there; staff publish notices to
districts. Both are delivered through the outbox (Notification), on the subscriber's
channel (a ChannelContact, so STOP and blocking hold), in the subscriber's language."""

from django.conf import settings
from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _

from gis.models import District, ServiceArea


class AlertSubscription(models.Model):
    """One subscription of one contact. Private: the contact is never in public output.

    `token` is the key of the manage/unsubscribe link (no account needed); a subscription
    starts `pending` until its confirmation link is opened (double opt-in, on every channel,
    so nobody can subscribe someone else's number or address)."""

    class Scope(models.TextChoices):
        DISTRICT = "district", _("a district")
        AREA = "area", _("a drawn area")
        CITY = "city", _("the whole city")

    class Frequency(models.TextChoices):
        IMMEDIATE = "immediate", _("immediately")
        DAILY = "daily", _("daily digest")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting for confirmation")
        ACTIVE = "active", _("active")
        UNSUBSCRIBED = "unsubscribed", _("unsubscribed")

    contact = models.ForeignKey("incidents.ChannelContact", on_delete=models.PROTECT,
                                related_name="alert_subscriptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="alert_subscriptions")
    service_area = models.ForeignKey(ServiceArea, on_delete=models.PROTECT,
                                     related_name="alert_subscriptions")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    district = models.ForeignKey(District, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="alert_subscriptions")
    # The drawn area (a polygon, or a point's radius made a polygon), inside the service area.
    area = models.MultiPolygonField(srid=4326, null=True, blank=True)
    # Empty: every category.
    categories = models.ManyToManyField("incidents.Category", blank=True,
                                        related_name="alert_subscriptions")
    frequency = models.CharField(max_length=10, choices=Frequency.choices,
                                 default=Frequency.IMMEDIATE)
    language = models.CharField(max_length=5, default="en")
    state = models.CharField(max_length=14, choices=State.choices, default=State.PENDING)
    token = models.CharField(max_length=64, unique=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # The end of the period the last digest covered.
    digest_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("alert subscription")
        verbose_name_plural = _("alert subscriptions")
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(scope="district", district__isnull=False, area__isnull=True)
                           | models.Q(scope="area", district__isnull=True, area__isnull=False)
                           | models.Q(scope="city", district__isnull=True, area__isnull=True)),
                name="alert_subscription_scope_fields"),
        ]
        indexes = [
            models.Index(fields=["state", "frequency"], name="alert_sub_state",
                         condition=models.Q(state="active")),
            models.Index(fields=["district"], name="alert_sub_district",
                         condition=models.Q(state="active")),
        ]

    def __str__(self) -> str:
        return f"alert subscription #{self.pk} ({self.scope}, {self.state})"


class Notice(models.Model):
    """News from the city to the people of some districts (all of them when none is given):
    a road closure, a water cut, a collection day, a storm warning. Shown as a banner while
    valid, and sent once to each subscriber of those districts."""

    class Kind(models.TextChoices):
        ROAD_CLOSURE = "road_closure", _("road closure")
        WATER_CUT = "water_cut", _("water cut")
        COLLECTION = "collection", _("collection day")
        STORM = "storm", _("storm warning")
        OTHER = "other", _("notice")

    service_area = models.ForeignKey(ServiceArea, on_delete=models.PROTECT,
                                     related_name="notices")
    districts = models.ManyToManyField(District, blank=True, related_name="notices")
    department = models.ForeignKey("incidents.Department", on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="notices")
    kind = models.CharField(max_length=14, choices=Kind.choices, default=Kind.OTHER)
    title_en = models.CharField(max_length=200, blank=True)
    title_ar = models.CharField(max_length=200, blank=True)
    title_fa = models.CharField(max_length=200, blank=True)
    body_en = models.TextField(blank=True)
    body_ar = models.TextField(blank=True)
    body_fa = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    # Set by the fan-out once every subscriber's outbox row is written.
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    fanned_out_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")),
                                   name="notice_ends_after_start"),
        ]
        indexes = [models.Index(fields=["service_area", "ends_at"], name="notice_valid")]

    def __str__(self) -> str:
        return f"notice #{self.pk} ({self.kind})"

    def text_in(self, language: str) -> tuple[str, str]:
        """(title, body) in a language, else in the first language the notice was written
        in: a notice written only in Arabic still reaches a Persian subscriber."""
        for lang in (language, "en", "ar", "fa"):
            title, body = getattr(self, f"title_{lang}", ""), getattr(self, f"body_{lang}", "")
            if title or body:
                return title, body
        return "", ""
