"""Reading meetings: a meeting's needs with where each stands now, its summary's counts, and
the needs an earlier meeting of the same district left open."""

from django.db.models import QuerySet
from django.utils import formats
from django.utils.translation import gettext as _

from incidents.models import Meeting, MeetingNeed, Status

# Where a need that is a report stands, from its incident's status.
_REPORT_STAGE = {
    Status.RESOLVED: "resolved", Status.CLOSED: "resolved", Status.REJECTED: "declined",
    Status.MERGED: "open", Status.REFERRED: "referred",
}
_DONE = {"resolved", "done", "declined"}


def meetings_list(*, area_id: int, district_id: int | None = None) -> QuerySet[Meeting]:
    meetings = Meeting.objects.filter(area_id=area_id).select_related("district")
    if district_id is not None:
        meetings = meetings.filter(district_id=district_id)
    return meetings.order_by("-held_at", "-pk")


def _needs(meeting: Meeting) -> QuerySet[MeetingNeed]:
    return (meeting.needs.select_related("report__incident__referred_to", "category",
                                         "district")
            .order_by("pk"))


def need_row(need: MeetingNeed) -> dict:
    """A need as the meeting's page and its summary show it: no resident's contact."""
    incident = need.report.incident if need.report_id else None
    if incident is not None:
        stage = _REPORT_STAGE.get(incident.status, "open")
        label = Status(incident.status).label if incident.status in Status.values \
            else incident.status
    else:
        stage = {"done": "resolved", "declined": "declined"}.get(need.status, "open")
        label = MeetingNeed.Status(need.status).label
    referral = None
    if incident is not None and incident.status == Status.REFERRED and incident.referred_to:
        referral = incident.referred_to.name_in()
    return {
        "id": need.pk, "text": need.text, "kind": "report" if need.report_id else "district",
        "category": need.category.code if need.category_id else None,
        "category_name": need.category.name_in() if need.category_id else "",
        "district": need.district.code if need.district_id else None,
        "district_name": need.district.name_in() if need.district_id else "",
        "tracking_code": need.report.tracking_code if need.report_id else None,
        "incident": incident.pk if incident is not None else None,
        "status": incident.status if incident is not None else need.status,
        "status_label": str(label), "stage": stage, "referred_to": referral,
        "answered": need.answered, "answer": need.answer,
    }


def meeting_summary(*, meeting: Meeting) -> dict:
    """The meeting's needs and where each stands now, with the counts of the summary."""
    rows = [need_row(n) for n in _needs(meeting)]
    counts = {"raised": len(rows),
              "answered": sum(1 for r in rows if r["answered"]),
              "referred": sum(1 for r in rows if r["stage"] == "referred"),
              "resolved": sum(1 for r in rows if r["stage"] == "resolved")}
    return {"date": formats.date_format(meeting.held_at, "DATE_FORMAT"),
            "needs": rows, "counts": counts}


def meeting_previous_open_needs(*, meeting: Meeting) -> tuple[Meeting | None, list[dict]]:
    """The district's meeting before this one, and its needs still open: what this meeting
    opens with."""
    if meeting.district_id is None:
        return None, []
    previous = (Meeting.objects.filter(district_id=meeting.district_id,
                                       held_at__lt=meeting.held_at)
                .order_by("-held_at", "-pk").first())
    if previous is None:
        return None, []
    return previous, [r for r in (need_row(n) for n in _needs(previous))
                      if r["stage"] not in _DONE]


def stage_label(stage: str) -> str:
    return {"open": _("open"), "referred": _("referred"), "resolved": _("resolved"),
            "declined": _("declined")}.get(stage, stage)
