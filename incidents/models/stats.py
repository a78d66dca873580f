"""Accountability: the city's working time (SLA clocks count only it), the figures managers
are ranked on (rollups kept up to date by a beat task, so no page scans the reports), and
the satisfaction survey sent to reporters when their problem is resolved."""

import uuid
from datetime import time

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _

from gis.models import TranslatedNameMixin


def default_weekend() -> list[int]:
    return [5, 6]  # ISO weekdays: Friday and Saturday


class WorkCalendar(models.Model):
    """When a service area works: its weekend, its working hours (in its own time zone)
    and its public holidays. SLA clocks run only in working time."""

    area = models.OneToOneField("rasad_gis.ServiceArea", on_delete=models.CASCADE,
                                related_name="work_calendar")
    timezone = models.CharField(max_length=60, default="UTC",
                                help_text=_("An IANA time zone, like Asia/Tehran."))
    weekend = ArrayField(models.PositiveSmallIntegerField(), default=default_weekend,
                         help_text=_("ISO weekdays off: 1 is Monday, 5 Friday, 6 Saturday, "
                                     "7 Sunday."))
    day_starts = models.TimeField(default=time(8, 0))
    day_ends = models.TimeField(default=time(16, 0))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")
        constraints = [
            models.CheckConstraint(condition=models.Q(day_ends__gt=models.F("day_starts")),
                                   name="calendar_day_ends_after_it_starts"),
        ]

    def __str__(self) -> str:
        return f"working calendar of area {self.area_id}"


class Holiday(TranslatedNameMixin):
    calendar = models.ForeignKey(WorkCalendar, on_delete=models.CASCADE,
                                 related_name="holidays")
    date = models.DateField()

    class Meta:
        verbose_name = _("public holiday")
        verbose_name_plural = _("public holidays")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_once_a_day"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name_en}"


class BusinessDay(models.Model):
    """One calendar day of an area, derived from its calendar (incidents.stats.calendar):
    when it opens and closes (nothing on a day off), and the working seconds of all days
    before it. Working time between two moments is then two lookups, not a loop."""

    calendar = models.ForeignKey(WorkCalendar, on_delete=models.CASCADE,
                                 related_name="business_days")
    date = models.DateField()
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    seconds_before = models.BigIntegerField()
    # Working seconds up to this day's close: finds the moment a working-time budget runs
    # out (rasad_working_moment).
    seconds_after = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="business_day_once"),
        ]
        indexes = [models.Index(fields=["calendar", "seconds_after"],
                                name="business_day_after",
                                condition=models.Q(opens_at__isnull=False))]

    def __str__(self) -> str:
        return f"{self.date} ({'open' if self.opens_at else 'closed'})"


class StatsCell(models.Model):
    """One cell of department × category × district × channel over a stretch of time.
    Counts add up; durations are kept whole (seconds, one per event) so that medians and
    percentiles over any period are exact."""

    area = models.ForeignKey("rasad_gis.ServiceArea", on_delete=models.CASCADE,
                             related_name="+")
    department = models.ForeignKey("Department", on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey("Category", on_delete=models.CASCADE, related_name="+")
    district = models.ForeignKey("rasad_gis.District", on_delete=models.CASCADE, null=True,
                                 blank=True, related_name="+")
    channel = models.CharField(max_length=20)
    reports = models.PositiveIntegerField(default=0)
    incidents_opened = models.PositiveIntegerField(default=0)
    # Seconds from the first report to the first public status change, to verification, to
    # each resolution; working seconds to each resolution (the SLA clock).
    first_response_s = ArrayField(models.IntegerField(), default=list)
    verify_s = ArrayField(models.IntegerField(), default=list)
    resolve_s = ArrayField(models.IntegerField(), default=list)
    resolved_in_sla = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    confirmed_fixed = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    survey_answers = models.PositiveIntegerField(default=0)
    survey_rating_sum = models.PositiveIntegerField(default=0)
    survey_ratings = models.PositiveIntegerField(default=0)
    survey_fixed_yes = models.PositiveIntegerField(default=0)
    survey_fixed_no = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class StatsDaily(StatsCell):
    """What happened on one day (in the area's time zone) in one cell."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "area", "department", "category",
                                            "district", "channel"],
                                    name="stats_daily_cell", nulls_distinct=False),
        ]
        indexes = [models.Index(fields=["area", "day"], name="stats_daily_area_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.category_id}/{self.district_id}/{self.channel}"


class StatsMonthly(StatsCell):
    """The days of one month summed per cell (durations concatenated): what the figures of
    long periods read, a month holding some twenty times fewer rows than its days.
    Recomputed from the days whenever one of them is (incidents.stats.rollup)."""

    day = models.DateField(help_text="The month's first day.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "area", "department", "category",
                                            "district", "channel"],
                                    name="stats_monthly_cell", nulls_distinct=False),
        ]
        indexes = [models.Index(fields=["area", "day"], name="stats_monthly_area_day")]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m} {self.category_id}/{self.district_id}/{self.channel}"


class StatsBacklog(models.Model):
    """Open incidents at the end of a day, by age band, in one cell of department ×
    category × district."""

    class AgeBand(models.TextChoices):
        DAY = "0-1d", _("less than a day")
        DAYS = "1-3d", _("1 to 3 days")
        WEEK = "3-7d", _("3 to 7 days")
        MONTH = "7-30d", _("7 to 30 days")
        OLDER = "30d+", _("more than 30 days")

    day = models.DateField()
    area = models.ForeignKey("rasad_gis.ServiceArea", on_delete=models.CASCADE,
                             related_name="+")
    department = models.ForeignKey("Department", on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey("Category", on_delete=models.CASCADE, related_name="+")
    district = models.ForeignKey("rasad_gis.District", on_delete=models.CASCADE, null=True,
                                 blank=True, related_name="+")
    age_band = models.CharField(max_length=8, choices=AgeBand.choices)
    open_count = models.PositiveIntegerField(default=0)
    overdue_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "area", "department", "category",
                                            "district", "age_band"],
                                    name="stats_backlog_cell", nulls_distinct=False),
        ]
        indexes = [models.Index(fields=["area", "day"], name="stats_backlog_area_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.category_id}/{self.district_id} {self.age_band}"


class StatsWatermark(models.Model):
    """How far the rollups are up to date: changes to incidents after `refreshed_to` are
    what the next incremental refresh looks at."""

    area = models.OneToOneField("rasad_gis.ServiceArea", on_delete=models.CASCADE,
                                related_name="+")
    refreshed_to = models.DateTimeField()
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"stats of area {self.area_id} to {self.refreshed_to}"


class Survey(models.Model):
    """The satisfaction survey of one report: sent on the reporter's channel some time after
    its incident was resolved (round 1), or weeks later when the fix was never confirmed
    (round 2). Answered by reply or by a tokenised link that needs no account."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("to be sent")
        SENT = "sent", _("sent")
        REMINDED = "reminded", _("reminded")
        ANSWERED = "answered", _("answered")
        EXPIRED = "expired", _("expired")
        CANCELLED = "cancelled", _("cancelled")

    class Step(models.TextChoices):
        """What a reply on the reporter's channel answers."""

        FIXED = "fixed", _("is it fixed?")
        RATING = "rating", _("how satisfied?")
        COMMENT = "comment", _("a comment")
        DONE = "done", _("nothing more to ask")

    report = models.ForeignKey("Report", on_delete=models.PROTECT, related_name="surveys")
    # Where it goes: the report's contact, found as its status messages find it. Looked up
    # by contact only while it asks something (survey_contact_asking).
    contact = models.ForeignKey("ChannelContact", on_delete=models.PROTECT, null=True,
                                blank=True, related_name="surveys", db_index=False)
    round = models.PositiveSmallIntegerField(default=1)
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.SCHEDULED)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    fixed = models.BooleanField(null=True, blank=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    # The question asked last on the channel, and when: a rating or a comment is read from
    # a reply only for a while after it was asked.
    step = models.CharField(max_length=8, choices=Step.choices, default=Step.FIXED)
    asked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["report", "round"], name="survey_once_per_round"),
            models.CheckConstraint(condition=models.Q(rating__isnull=True)
                                   | models.Q(rating__gte=1, rating__lte=5),
                                   name="survey_rating_1_to_5"),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="survey_due"),
            models.Index(fields=["answered_at"], name="survey_answered",
                         condition=models.Q(answered_at__isnull=False)),
            # A contact's message is read as an answer to its survey still asking.
            models.Index(fields=["contact", "asked_at"], name="survey_contact_asking",
                         condition=models.Q(contact__isnull=False) & ~models.Q(step="done")),
        ]

    def __str__(self) -> str:
        return f"survey {self.round} of report {self.report_id} ({self.state})"
