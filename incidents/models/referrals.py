"""Outside agencies (the electricity company, the water authority, the police…) and the
incidents referred to them: how each referral was sent, what the agency answered, and the
reminders sent when the answer is late."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gis.models import TranslatedNameMixin


class Agency(TranslatedNameMixin):
    """A body outside the city that owns some problems. Reached by email, or through its own
    Open311 GeoReport v2 endpoint (Rasad is then the client: it POSTs requests.json and polls
    the servicerequestupdates extension, as FixMyStreet does)."""

    code = models.SlugField(unique=True)
    departments = models.ManyToManyField(
        "Department", blank=True, related_name="agencies",
        help_text=_("Departments whose incidents this agency often takes."))
    categories = models.ManyToManyField(
        "Category", blank=True, related_name="agencies",
        help_text=_("Categories this agency usually handles."))
    email = models.EmailField(blank=True, help_text=_("Where referrals are sent by email."))
    open311_endpoint = models.URLField(
        blank=True, help_text=_("The agency's GeoReport v2 base URL (…/requests.json is "
                                "appended)."))
    open311_api_key = models.CharField(max_length=200, blank=True)
    open311_jurisdiction_id = models.CharField(max_length=200, blank=True)
    # {"our category code": "their service_code"}; a category not listed uses the default.
    service_code_map = models.JSONField(default=dict, blank=True)
    default_service_code = models.CharField(max_length=100, blank=True)
    answer_due_days = models.PositiveSmallIntegerField(
        default=5, help_text=_("Working days the agency has to answer before it is chased."))
    # The end_date of the last successful servicerequestupdates poll; the next one starts
    # a little before it (an answer seen twice is recorded once).
    updates_polled_until = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("outside agency")
        verbose_name_plural = _("outside agencies")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=models.Q(answer_due_days__gte=1),
                                   name="agency_answer_due_positive"),
        ]

    def __str__(self) -> str:
        return self.name_en

    @property
    def uses_open311(self) -> bool:
        return bool(self.open311_endpoint)

    @property
    def has_contact(self) -> bool:
        return bool(self.email or self.open311_endpoint)

    def service_code_for(self, category_code: str) -> str:
        return (self.service_code_map or {}).get(category_code) or self.default_service_code \
            or category_code


def _reference() -> str:
    return f"rasad-{uuid.uuid4().hex}"


class Referral(models.Model):
    """One incident sent to one agency. `reference` is ours, unguessable and sent with the
    request, so a retried POST is recognised by the agency and the reply link is private."""

    class Method(models.TextChoices):
        EMAIL = "email", _("email")
        OPEN311 = "open311", _("Open311")

    class State(models.TextChoices):
        PENDING = "pending", _("waiting to be sent")
        AWAITING_ID = "awaiting_id", _("sent, waiting for the agency's request number")
        SENT = "sent", _("sent")
        ANSWERED = "answered", _("answered")
        FAILED = "failed", _("could not be sent")

    incident = models.ForeignKey("Incident", on_delete=models.PROTECT, related_name="referrals")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="referrals")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           blank=True, related_name="+")
    note = models.TextField(blank=True)
    method = models.CharField(max_length=10, choices=Method.choices)
    reference = models.CharField(max_length=60, default=_reference, editable=False)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    external_id = models.CharField(max_length=200, blank=True,
                                   help_text=_("The agency's service_request_id."))
    token = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True)
    referred_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-referred_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["reference"], name="referral_reference_unique"),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="referral_due"),
            models.Index(fields=["agency", "external_id"], name="referral_agency_external",
                         condition=~models.Q(external_id="")),
        ]

    def __str__(self) -> str:
        return f"#{self.incident_id} → {self.agency.code} ({self.state})"


class ReferralAnswer(models.Model):
    """One answer of the agency (an Open311 request update, or a reply by its link),
    recorded once however often it is polled."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="answers")
    external_update_id = models.CharField(max_length=200)
    status = models.CharField(max_length=40, blank=True)
    description = models.TextField(blank=True)
    media_url = models.URLField(max_length=1000, blank=True)
    answered_at = models.DateTimeField()
    update = models.ForeignKey("IncidentUpdate", on_delete=models.PROTECT, null=True,
                               blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["answered_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["referral", "external_update_id"],
                                    name="referral_answer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.referral_id}: {self.status}"


class ReferralChase(models.Model):
    """A reminder to an agency whose answer is late; one per overdue period (period n starts
    n × answer_due_days working days after the referral)."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="chases")
    period = models.PositiveSmallIntegerField()
    emailed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["period"]
        constraints = [
            models.UniqueConstraint(fields=["referral", "period"], name="referral_chase_once"),
        ]

    def __str__(self) -> str:
        return f"{self.referral_id} chase {self.period}"
