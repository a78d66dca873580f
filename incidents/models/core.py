"""Departments, categories, reports, incidents, photos and their history."""

import uuid

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import BrinIndex, GistIndex
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _

from gis.models import District, ServiceArea, TranslatedNameMixin


class Department(TranslatedNameMixin):
    code = models.SlugField(unique=True)
    email = models.EmailField(blank=True)
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="departments",
        help_text=_("Dispatchers and managers who work for this department."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.name_en


class Category(TranslatedNameMixin):
    """An Open311 service."""

    code = models.SlugField(unique=True, help_text=_("The Open311 service_code."))
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="categories")
    group = models.CharField(max_length=100, blank=True)
    description_en = models.TextField(blank=True)
    description_ar = models.TextField(blank=True)
    description_fa = models.TextField(blank=True)
    keywords = models.CharField(max_length=300, blank=True)
    icon = models.CharField(max_length=40, blank=True)
    sla_hours = models.PositiveIntegerField(default=72)
    severity = models.PositiveSmallIntegerField(default=3, help_text=_("1 (minor) to 5 (danger)"))
    cluster_radius_m = models.PositiveIntegerField(default=50)
    cluster_window_hours = models.PositiveIntegerField(default=24 * 14)
    service_minutes = models.PositiveIntegerField(default=30)
    required_skills = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    photo_required_to_resolve = models.BooleanField(default=False)
    is_winter = models.BooleanField(default=False)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["group", "code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(severity__gte=1, severity__lte=5),
                                   name="category_severity_1_to_5"),
            models.CheckConstraint(condition=models.Q(cluster_radius_m__gte=1),
                                   name="category_radius_positive"),
        ]

    def __str__(self) -> str:
        return self.code

    def description_in(self, language: str | None = None) -> str:
        from django.utils import translation

        language = (language or translation.get_language() or "en")[:2]
        return getattr(self, f"description_{language}", "") or self.description_en


class CategoryAttribute(models.Model):
    """An Open311 service attribute: an extra question asked with a report."""

    class Datatype(models.TextChoices):
        STRING = "string", _("text (one line)")
        TEXT = "text", _("text")
        NUMBER = "number", _("number")
        DATETIME = "datetime", _("date and time")
        SINGLE = "singlevaluelist", _("one of a list")
        MULTI = "multivaluelist", _("several of a list")

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="attributes")
    code = models.SlugField()
    datatype = models.CharField(max_length=20, choices=Datatype.choices)
    required = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)
    description_en = models.CharField(max_length=300)
    description_ar = models.CharField(max_length=300, blank=True)
    description_fa = models.CharField(max_length=300, blank=True)
    # [{"key": "small", "name_en": "Small", "name_ar": "…", "name_fa": "…"}]
    values = models.JSONField(default=list, blank=True)
    min_value = models.FloatField(null=True, blank=True)
    max_value = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["category", "code"], name="attribute_unique_code"),
        ]

    def __str__(self) -> str:
        return f"{self.category.code}.{self.code}"

    def description_in(self, language: str | None = None) -> str:
        from django.utils import translation

        language = (language or translation.get_language() or "en")[:2]
        return getattr(self, f"description_{language}", "") or self.description_en

    def value_keys(self) -> list[str]:
        return [str(v["key"]) for v in self.values]


class RoutingRule(models.Model):
    """Category + district → department, overriding the category's own department."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="routing_rules")
    district = models.ForeignKey(District, on_delete=models.CASCADE, related_name="routing_rules")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["category", "district"], name="routing_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.category.code} in {self.district.code} → {self.department.code}"


class Status(models.TextChoices):
    NEW = "new", _("new")
    VERIFIED = "verified", _("verified")
    ASSIGNED = "assigned", _("assigned")
    EN_ROUTE = "en_route", _("en route")
    ON_SITE = "on_site", _("on site")
    RESOLVED = "resolved", _("resolved")
    CLOSED = "closed", _("closed")
    REJECTED = "rejected", _("rejected")
    MERGED = "merged", _("merged")
    REOPENED = "reopened", _("reopened")
    # With an outside agency (Incident.referred_to) that owns the problem; still open.
    REFERRED = "referred", _("referred to another agency")


OPEN_STATUSES = (
    Status.NEW, Status.VERIFIED, Status.ASSIGNED, Status.EN_ROUTE, Status.ON_SITE, Status.REOPENED,
    Status.REFERRED,
)
# Incidents the periodic re-cluster may merge: not yet with a crew. (A new report joins any
# open incident, a crew's included: the reporter then follows that crew's work.)
CLUSTERABLE_STATUSES = (Status.NEW, Status.VERIFIED, Status.REOPENED)


class Channel(models.TextChoices):
    WEB = "web", _("web")
    APP = "app", _("app")
    OPEN311 = "open311", _("Open311")
    WHATSAPP = "whatsapp", _("WhatsApp")
    TELEGRAM = "telegram", _("Telegram")
    BALE = "bale", _("Bale")
    MESSENGER = "messenger", _("Facebook Messenger")
    SMS = "sms", _("SMS")
    PHONE = "phone", _("phone call")
    SERVICE_CENTRE = "service_centre", _("service centre")
    EMAIL = "email", _("email")
    SOCIAL = "social", _("social media")
    MEETING = "meeting", _("town-hall meeting")


class IncidentQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def in_area(self, area: ServiceArea):
        return self.filter(location__intersects=area.boundary)


class Incident(models.Model):
    # Category leads incident_cat_status_last, which serves its lookups.
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="incidents",
                                 db_index=False)
    area = models.ForeignKey(ServiceArea, on_delete=models.PROTECT, related_name="incidents")
    district = models.ForeignKey(District, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="incidents")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="incidents")
    # No index of its own: searches by place are of open incidents (incident_open_loc_time)
    # or map rectangles (incident_location_planar); a third GiST index would only be kept up
    # to date by every filed report.
    location = models.PointField(geography=True, srid=4326, spatial_index=False)
    line = models.LineStringField(srid=4326, null=True, blank=True,
                                  spatial_index=False)  # shown, never searched
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    priority = models.FloatField(default=0)
    severity = models.PositiveSmallIntegerField(default=3)
    report_count = models.PositiveIntegerField(default=0)
    merged_into = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="merged_children")
    # Staff choose to publish an incident's description in the open data (citizens' own
    # words may name people or places they would not want public).
    publish_description = models.BooleanField(default=False, db_default=False)
    # The outside agency it was last referred to, and when (kept after it comes back).
    # Unindexed: only deleting an agency looks incidents up by it (referrals have their own).
    referred_to = models.ForeignKey("Agency", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="incidents", db_index=False)
    referred_at = models.DateTimeField(null=True, blank=True)
    # Bumped on every change; phones send it back so a stale update is refused.
    version = models.PositiveIntegerField(default=1)
    first_reported_at = models.DateTimeField()
    last_reported_at = models.DateTimeField()
    sla_due_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        indexes = [
            models.Index(fields=["category", "status", "last_reported_at"],
                         name="incident_cat_status_last"),
            models.Index(fields=["status", "-priority"], name="incident_status_priority"),
            # Intake's nearest-open-incident search: only open incidents, so the index stays
            # small however many closed ones pile up. (Category in the same GiST index was
            # measured slower: categories don't cluster in space.)
            # With last_reported_at (btree_gist) the time window is checked in the index, not
            # by fetching every open incident in a dense box (measured: p95 43 → ~25 ms at 1M).
            GistIndex(fields=["location", "last_reported_at"], name="incident_open_loc_time",
                      condition=models.Q(status__in=OPEN_STATUSES)),
            # Map bboxes are planar lon/lat rectangles (see selectors.incident_list).
            GistIndex(Cast("location", output_field=models.PointField(srid=4326)),
                      name="incident_location_planar"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.category.code} ({self.status})"


class ReportQuerySet(models.QuerySet):
    def public(self):
        return self.defer("reporter_name", "reporter_email", "reporter_phone", "user",
                          "request_fingerprint", "idempotency_key", "client_ip", "contact")


class Report(models.Model):
    # Every index costs each filed report: no index is kept that no query uses. Reports are
    # read by incident, code, token, user, time and place; category is the lead column of
    # report_cat_created; codes and keys are only ever matched exactly (so their unique
    # constraints are in Meta, which spares the LIKE indexes unique=True adds).
    tracking_code = models.CharField(max_length=12)
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="reports",
                                 db_index=False)
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="reports")
    area = models.ForeignKey(ServiceArea, on_delete=models.PROTECT, related_name="reports",
                             db_index=False)
    district = models.ForeignKey(District, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="reports", db_index=False)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="reports",
                                   db_index=False)
    location = models.PointField(geography=True, srid=4326)
    address = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.WEB)
    language = models.CharField(max_length=5, default="en")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    # "Me too": this reporter joined an existing incident instead of describing a new one.
    joined_existing = models.BooleanField(default=False)
    # Private: never selected by public selectors or serializers.
    reporter_name = models.CharField(max_length=200, blank=True)
    reporter_email = models.EmailField(blank=True)
    reporter_phone = models.CharField(max_length=20, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, related_name="reports")
    # Unindexed: only deleting an agent or an Open311 client looks reports up by these, and
    # that rare admin act may scan the table.
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+", db_index=False,
                                     help_text=_("The intake agent who entered it."))
    api_client = models.ForeignKey("Open311Client", on_delete=models.SET_NULL, null=True,
                                   blank=True, related_name="reports", db_index=False)
    # Private: the citizen's account on the channel the report came from (WhatsApp,
    # Telegram, SMS…), where its status messages go. Indexed where set (report_contact).
    contact = models.ForeignKey("ChannelContact", on_delete=models.PROTECT, null=True,
                                blank=True, related_name="reports", db_index=False)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    rejected_reason = models.TextField(blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReportQuerySet.as_manager()

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        constraints = [
            models.UniqueConstraint(fields=["tracking_code"], name="report_tracking_code_unique"),
            models.UniqueConstraint(fields=["idempotency_key"], name="report_idempotency_unique"),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="report_created"),
            models.Index(fields=["category", "created_at"], name="report_cat_created"),
            # The desk looks callers up by number; most reports have none, so the partial
            # indexes cost a filed report nothing unless it carries a phone or a contact.
            models.Index(fields=["reporter_phone"], name="report_phone",
                         condition=~models.Q(reporter_phone="")),
            models.Index(fields=["contact", "created_at"], name="report_contact",
                         condition=models.Q(contact__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.tracking_code


def _photo_folder(instance: "Photo") -> str:
    if instance.report_id:
        return f"photos/{instance.report.tracking_code}"
    return f"photos/incident-{instance.update.incident_id}"


def photo_path(instance: "Photo", filename: str) -> str:
    return f"{_photo_folder(instance)}/{uuid.uuid4().hex}.jpg"


def thumb_path(instance: "Photo", filename: str) -> str:
    return f"{_photo_folder(instance)}/{uuid.uuid4().hex}.thumb.jpg"


class Photo(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("waiting to be fetched")
        READY = "ready", _("ready")
        FAILED = "failed", _("could not be fetched")

    class Kind(models.TextChoices):
        REPORT = "report", _("from the reporter")
        BEFORE = "before", _("before the work")
        AFTER = "after", _("after the work")

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="photos",
                               null=True, blank=True)
    update = models.ForeignKey("IncidentUpdate", on_delete=models.PROTECT, null=True,
                               blank=True, related_name="photos")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REPORT)
    image = models.ImageField(upload_to=photo_path, blank=True)
    thumbnail = models.ImageField(upload_to=thumb_path, blank=True)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    source_url = models.URLField(max_length=1000, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.READY)
    error = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(report__isnull=False)
                                   | models.Q(update__isnull=False),
                                   name="photo_belongs_somewhere"),
        ]

    def __str__(self) -> str:
        return f"photo {self.pk} of {self.report_id or self.update_id}"


class IncidentUpdate(models.Model):
    """One recorded change: a status transition or a note."""

    # update_incident_time (incident, created_at) serves lookups by incident.
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="updates",
                                 db_index=False)
    from_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=Status.choices, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           blank=True, related_name="+")
    note = models.TextField(blank=True)
    public = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["incident", "created_at"], name="update_incident_time"),
                   BrinIndex(fields=["created_at"], name="update_created_brin")]

    def __str__(self) -> str:
        return f"{self.incident_id}: {self.from_status}→{self.to_status}"


class Open311Client(models.Model):
    """A third-party Open311 client and its API key, issued in the admin."""

    name = models.CharField(max_length=200)
    api_key = models.CharField(max_length=64, unique=True)
    contact_email = models.EmailField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Open311 client")
        verbose_name_plural = _("Open311 clients")

    def __str__(self) -> str:
        return self.name


class Notification(models.Model):
    """Outbox: one message to one citizen, written in the same transaction as what caused it
    (a status change, a step of a channel conversation, an agent's answer) and sent by a
    worker. Never deleted; `sent_at` says it went out, `delivery_status` what the provider
    said of it afterwards."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("email")
        SMS = "sms", _("SMS")
        WHATSAPP = "whatsapp", _("WhatsApp")
        TELEGRAM = "telegram", _("Telegram")
        BALE = "bale", _("Bale")
        MESSENGER = "messenger", _("Facebook Messenger")

    class Kind(models.TextChoices):
        STATUS = "status", _("status change")
        DIALOGUE = "dialogue", _("conversation")
        AGENT = "agent", _("answer from an agent")
        RECEIPT = "receipt", _("tracking code of a report taken by an agent")
        SURVEY = "survey", _("satisfaction survey")
        # Area alerts and notices (incidents.models.alerts).
        ALERT = "alert", _("area alert")
        DIGEST = "digest", _("daily digest of area alerts")
        NOTICE = "notice", _("notice from the city")
        SUBSCRIBE = "subscribe", _("confirmation of an alert subscription")
        # The summary of a town-hall meeting (incidents.models.meetings).
        MEETING = "meeting", _("summary of a town-hall meeting")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting to be sent")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed for good")

    report = models.ForeignKey(Report, on_delete=models.PROTECT, related_name="notifications",
                               null=True, blank=True)
    update = models.ForeignKey(IncidentUpdate, on_delete=models.PROTECT,
                               related_name="notifications", null=True, blank=True)
    contact = models.ForeignKey("ChannelContact", on_delete=models.PROTECT, null=True,
                                blank=True, related_name="notifications")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STATUS)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    recipient = models.CharField(max_length=254)
    language = models.CharField(max_length=5, default="en")
    subject = models.CharField(max_length=300)
    body = models.TextField()
    # Choices offered with the text: [{"id": "cat:pothole", "title": "Pothole"}]; buttons or
    # a list where the channel has them, numbered lines where it has not.
    options = models.JSONField(default=list, blank=True)
    # What a WhatsApp template needs when the 24-hour window has closed (the tracking code
    # and the status, in the message's language).
    template_params = models.JSONField(default=list, blank=True)
    # The provider's id of the citizen's message this answers (threading, reply context).
    reply_to = models.CharField(max_length=300, blank=True)
    # A message written by a conversation step is written once however often the step runs.
    dedupe_key = models.CharField(max_length=120, null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    delivery_status = models.CharField(max_length=12, blank=True)
    delivery_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["update", "report", "channel"],
                                    name="notification_once_per_update_report_channel"),
            models.UniqueConstraint(fields=["dedupe_key"], name="notification_dedupe_key"),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["provider_message_id"], name="notification_provider_id",
                         condition=~models.Q(provider_message_id="")),
            models.Index(fields=["contact", "-created_at"], name="notification_contact",
                         condition=models.Q(contact__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.kind} #{self.pk} ({self.state})"
