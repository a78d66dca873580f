"""Town-hall meetings (Al Ain's resident meetings, Beheira's open days): who came, what the
residents raised, and what became of it.

A need that is a problem at a place is filed as a report with channel `meeting` (the same
intake, clustering and status flow as any other) and linked here; a need that is not (a new
school, a park) is a district need, with a status of its own."""

import uuid

from django.conf import settings
from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _


class Meeting(models.Model):
    """One meeting with the residents of a district (or a sector of the city)."""

    area = models.ForeignKey("rasad_gis.ServiceArea", on_delete=models.PROTECT,
                             related_name="meetings")
    district = models.ForeignKey("rasad_gis.District", on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="meetings")
    sector = models.CharField(max_length=120, blank=True,
                              help_text=_("The sector, when the meeting is not a district's."))
    held_at = models.DateTimeField()
    place = models.CharField(max_length=255)
    departments = models.ManyToManyField("Department", blank=True, related_name="meetings")
    agencies = models.ManyToManyField("Agency", blank=True, related_name="meetings",
                                      help_text=_("Outside bodies present."))
    attendance = models.PositiveIntegerField(default=0)
    minutes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    summary_sent_at = models.DateTimeField(null=True, blank=True)
    # The summary's address for the residents (no account; not listed anywhere).
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        indexes = [models.Index(fields=["district", "held_at"], name="meeting_district_held")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(district__isnull=False) | ~models.Q(sector=""),
                name="meeting_has_a_district_or_sector"),
        ]

    def __str__(self) -> str:
        return f"{self.held_at:%Y-%m-%d} {self.place}"


def meeting_photo_path(photo: "MeetingPhoto", filename: str) -> str:
    return f"meetings/{photo.meeting_id}/{photo.token}.jpg"


class MeetingPhoto(models.Model):
    """A photo of the meeting, cleaned like a report's (re-encoded JPEG, metadata dropped)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="photos")
    token = models.CharField(max_length=32, unique=True)
    image = models.FileField(upload_to=meeting_photo_path)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)


class MeetingNeed(models.Model):
    """One thing the residents raised: a report filed for it (a problem at a place), or a
    district need. `answered` means it was answered on the spot, by who was there."""

    class Status(models.TextChoices):
        """A district need's own status (a report's follows its incident)."""

        RAISED = "raised", _("raised")
        STUDIED = "studied", _("being studied")
        PLANNED = "planned", _("planned")
        DONE = "done", _("done")
        DECLINED = "declined", _("declined")

    meeting = models.ForeignKey(Meeting, on_delete=models.PROTECT, related_name="needs")
    report = models.OneToOneField("Report", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="meeting_need")
    category = models.ForeignKey("Category", on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+")
    district = models.ForeignKey("rasad_gis.District", on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="+")
    text = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RAISED,
                              help_text=_("A district need's status."))
    answered = models.BooleanField(default=False)
    answer = models.TextField(blank=True)
    # The resident's contact, for the meeting's summary (private, like a reporter's).
    resident_name = models.CharField(max_length=200, blank=True)
    resident_phone = models.CharField(max_length=32, blank=True)
    resident_email = models.EmailField(blank=True)
    language = models.CharField(max_length=8, default="en")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.text[:60]
