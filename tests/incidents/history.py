"""History written at known times, for the tests of the figures, the reports and the open
data: reports filed and status changes made through the services, then stamped as if they
had happened at the given moment."""

from datetime import UTC, date, datetime, time

from incidents.models import Incident, IncidentUpdate, Report, Status
from incidents.services import incident_transition

# The incident's own stamp of a status change, moved with the change.
STAMPED = {Status.VERIFIED: "verified_at", Status.RESOLVED: "resolved_at",
           Status.CLOSED: "closed_at"}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


def report_stamp(report: Report, when: datetime) -> Report:
    """Filed at a known time, as if it had come then (with its incident's first entry)."""
    Report.objects.filter(pk=report.pk).update(created_at=when)
    Incident.objects.filter(pk=report.incident_id).update(first_reported_at=when,
                                                          last_reported_at=when)
    IncidentUpdate.objects.filter(incident_id=report.incident_id, to_status="new").update(
        created_at=when)
    return Report.objects.get(pk=report.pk)


def last_change_stamp(incident_id: int, when: datetime) -> None:
    latest = IncidentUpdate.objects.filter(incident_id=incident_id).order_by("-pk").first()
    IncidentUpdate.objects.filter(pk=latest.pk).update(created_at=when)
    if latest.to_status in STAMPED:
        Incident.objects.filter(pk=incident_id).update(**{STAMPED[latest.to_status]: when})


def move_at(incident_id: int, to: str, when: datetime, by, **kwargs) -> None:
    """The status change, made through the workflow, then stamped at `when`."""
    incident_transition(incident=Incident.objects.get(pk=incident_id), to=to, by=by, **kwargs)
    last_change_stamp(incident_id, when)
